import NeuralNet
import _Differentiation

/// `x · Wᵀ + b` for `x` of shape [..., inputs], `weight` [outputs, inputs] and `bias` [outputs] (PyTorch's `Linear`):
/// every leading dimension is a row of one OpenBLAS product.
@differentiable(reverse)
public func dense(_ x: DTensor, weight: DTensor, bias: DTensor) -> DTensor {
    denseForward(x, weight, bias)
}

func denseForward(_ x: DTensor, _ weight: DTensor, _ bias: DTensor) -> DTensor {
    ensure(
        x.rank >= 1 && weight.rank == 2 && x.shape.last == weight.shape[1] && bias.count == weight.shape[0],
        "dense: input \(x.shape), weight \(weight.shape), bias \(bias.shape)")
    let outputs = weight.shape[0]
    let inputs = weight.shape[1]
    let rows = x.count / Swift.max(inputs, 1)
    var result = [Float](unsafeUninitializedCapacity: rows * outputs) { _, initialized in initialized = rows * outputs }
    x.withValues { a in
        weight.withValues { w in
            bias.withValues { b in
                result.withUnsafeMutableBufferPointer { c in
                    Kernels.broadcastRows(b.baseAddress!, c.baseAddress!, rows: rows, width: outputs)
                    BLAS.gemm(
                        transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs, a.baseAddress!, lda: inputs,
                        w.baseAddress!, ldb: inputs, beta: 1, c.baseAddress!, ldc: outputs)
                }
            }
        }
    }
    return DTensor(shape: x.shape.dropLast() + [outputs], values: result)
}

/// The derivative of `dense`: its value and pullback, registered for `_Differentiation`.
@derivative(of: dense)
public func vjpDense(_ x: DTensor, weight: DTensor, bias: DTensor)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor))
{
    let value = denseForward(x, weight, bias)
    var weightTangent = DTensor.zero
    var biasTangent = DTensor.zero
    return (
        value,
        { gradient in
            let outputs = weight.shape[0]
            let inputs = weight.shape[1]
            let rows = x.count / Swift.max(inputs, 1)
            let gradient = gradient.orZeros(value.shape)
            var inputGradient = DTensor.zero
            gradient.withValues { g in
                if !x.isConstant {
                    let values = weight.withValues { w in
                        [Float](unsafeUninitializedCapacity: rows * inputs) { dx, initialized in
                            BLAS.gemm(
                                transposeA: false, transposeB: false, m: rows, n: inputs, k: outputs, g.baseAddress!, lda: outputs,
                                w.baseAddress!, ldb: inputs, beta: 0, dx.baseAddress!, ldc: inputs)
                            initialized = rows * inputs
                        }
                    }
                    inputGradient = x.deliver(DTensor(shape: x.shape, values: values))
                }
                // dW = gᵀ·x and db = Σ rows of g, straight into the arena when the model runs backward.
                func weightProduct(into destination: UnsafeMutablePointer<Float>, beta: Float) {
                    x.withValues { a in
                        BLAS.gemm(
                            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, g.baseAddress!, lda: outputs,
                            a.baseAddress!, ldb: inputs, beta: beta, destination, ldc: inputs)
                    }
                }
                func biasSum(into destination: UnsafeMutablePointer<Float>, accumulate: Bool) {
                    Kernels.sumRows(g.baseAddress!, destination, rows: rows, width: outputs, accumulate: accumulate)
                }
                if let (destination, overwrite) = weight.gradientDestination {
                    weightProduct(into: destination, beta: overwrite ? 0 : 1)
                    weightTangent = .zero
                } else {
                    weightTangent = DTensor(
                        shape: weight.shape,
                        values: [Float](unsafeUninitializedCapacity: outputs * inputs) { dw, n in
                            weightProduct(into: dw.baseAddress!, beta: 0)
                            n = outputs * inputs
                        })
                }
                if let (destination, overwrite) = bias.gradientDestination {
                    biasSum(into: destination, accumulate: !overwrite)
                    biasTangent = .zero
                } else {
                    biasTangent = DTensor(
                        shape: bias.shape,
                        values: [Float](unsafeUninitializedCapacity: outputs) { db, n in
                            biasSum(into: db.baseAddress!, accumulate: false)
                            n = outputs
                        })
                }
            }
            return (inputGradient, weightTangent, biasTangent)
        }
    )
}

/// A fully connected layer `x · Wᵀ + b` with PyTorch's initialisation, for differentiable models; any rank of
/// input with `inputs` last (PyTorch's `Linear`).
public struct Dense: Differentiable {
    /// [outputs, inputs].
    public var weight: DTensor
    /// [outputs].
    public var bias: DTensor

    /// A layer from `inputs` to `outputs` features, initialised from `random` (Kaiming-uniform bound 1/√inputs).
    public init(inputs: Int, outputs: Int, random: inout CounterRandom) {
        ensure(inputs > 0 && outputs > 0, "Dense needs positive sizes, got \(inputs) → \(outputs)")
        let bound = 1 / Float(inputs).squareRoot()
        weight = .uniformParameter([outputs, inputs], bound: bound, random: &random)
        bias = .uniformParameter([outputs], bound: bound, random: &random)
    }

    /// The layer's output.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor { dense(x, weight: weight, bias: bias) }
}
