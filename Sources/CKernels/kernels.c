// Each kernel body is written once as an always-inline function, then instantiated twice: for the baseline
// of the target and, on x86-64, with __attribute__((target("avx2,fma"))). The first call of a kernel picks
// the instance once from the CPU's features (the C baseline builds with -march=native; we choose at run time).
#include "CKernels.h"
#include <math.h>

#define INLINE static inline __attribute__((always_inline))

INLINE void sgd_body(float *restrict p, const float *restrict g, size_t n, float rate, float decay) {
    for (size_t i = 0; i < n; i++) p[i] -= rate * (g[i] + decay * p[i]);
}

INLINE void sgd_momentum_first_body(float *restrict p, const float *restrict g, float *restrict v, size_t n,
                                    float rate, float mu, float decay, int nesterov) {
    if (nesterov) {
        for (size_t i = 0; i < n; i++) { float d = g[i] + decay * p[i]; v[i] = d; p[i] -= rate * (d + mu * d); }
    } else {
        for (size_t i = 0; i < n; i++) { float d = g[i] + decay * p[i]; v[i] = d; p[i] -= rate * d; }
    }
}

INLINE void sgd_momentum_body(float *restrict p, const float *restrict g, float *restrict v, size_t n, float rate,
                              float mu, float decay, int nesterov) {
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float d = g[i] + decay * p[i];
            v[i] = mu * v[i] + d;
            p[i] -= rate * (d + mu * v[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            v[i] = mu * v[i] + g[i] + decay * p[i];
            p[i] -= rate * v[i];
        }
    }
}

INLINE void adam_body(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                      float b1, float b2, float step_size, float root_correction2, float eps, float l2, float shrink,
                      int decoupled) {
    if (decoupled) {
        for (size_t i = 0; i < n; i++) p[i] *= shrink;
    }
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + l2 * p[i];
        m[i] = b1 * m[i] + (1 - b1) * d;
        v[i] = b2 * v[i] + (1 - b2) * d * d;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / root_correction2 + eps);
    }
}

INLINE void relu_forward_body(const float *restrict x, float *restrict y, size_t n) {
    // `x < 0 ? 0 : x` (not `x > 0 ? x : 0`): NaN stays NaN, as in PyTorch, instead of passing for 0.
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];
}

INLINE void relu_backward_body(const float *restrict y, const float *restrict dy, float *restrict dx, size_t n) {
    // Both loads unconditional, so the loop becomes a blend: a data-dependent branch mispredicts on a trained net.
    for (size_t i = 0; i < n; i++) dx[i] = y[i] <= 0 ? 0 : dy[i];
}

INLINE void broadcast_rows_body(const float *restrict bias, float *restrict out, size_t rows, size_t width) {
    for (size_t r = 0; r < rows; r++) {
        float *row = out + r * width;
        for (size_t c = 0; c < width; c++) row[c] = bias[c];
    }
}

INLINE void sum_rows_body(const float *restrict x, float *restrict out, size_t rows, size_t width, int accumulate) {
    if (!accumulate) for (size_t c = 0; c < width; c++) out[c] = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * width;
        for (size_t c = 0; c < width; c++) out[c] += row[c];
    }
}

INLINE void scale_body(float *restrict x, size_t n, float factor) {
    for (size_t i = 0; i < n; i++) x[i] *= factor;
}

INLINE void add_body(const float *restrict a, float *restrict b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] += a[i];
}

// e^x for one value, written so that loops over it vectorise: Cephes' single-precision polynomial after range
// reduction by ln 2 (about 1 ulp), the power of two built in the exponent bits in two halves (no overflow before
// FLT_MAX), -inf and underflow to 0, overflow to +inf, NaN kept.
INLINE float exp_value(float x) {
    const float hi = 88.72283935546875f, lo = -87.33654785156250f;
    float clamped = x > hi ? hi : (x < lo ? lo : x);
    float n = floorf(clamped * 1.44269504088896341f + 0.5f);
    float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    int32_t k = (int32_t)n, half = k >> 1;
    int32_t first = (half + 127) << 23, second = (k - half + 127) << 23;
    float a, b;
    __builtin_memcpy(&a, &first, sizeof a);
    __builtin_memcpy(&b, &second, sizeof b);
    float result = p * a * b;
    result = x < lo ? 0.0f : result;
    result = x > hi ? __builtin_inff() : result;
    return x != x ? x : result;
}

// tanh for one value: Cephes' odd polynomial below 0.625, 1 - 2/(e^2x + 1) above (both computed, one chosen).
INLINE float tanh_value(float x) {
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z
                   - 3.33332819422e-1f) * z * x + x;
    float magnitude = x < 0 ? -x : x;
    float e = exp_value(2 * magnitude);
    float large = 1.0f - 2.0f / (e + 1.0f);
    large = x < 0 ? -large : large;
    float result = magnitude < 0.625f ? small : large;
    return x != x ? x : result;
}

// erf for one value: Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), odd.
INLINE float erf_value(float x) {
    float magnitude = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * magnitude);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float result = 1.0f - poly * exp_value(-magnitude * magnitude);
    result = x < 0 ? -result : result;
    return x != x ? x : result;
}

// One LSTM step of one sequence from its gate pre-activations `pre` (i, f, g, o; 4n values) and its previous cell:
// the activated gates, the new cell, tanh of it, and the hidden state (written to `hidden` and to `output`).
INLINE void lstm_cell_forward_body(const float *restrict pre, const float *restrict previous_cell, float *restrict gates,
                                   float *restrict cell, float *restrict tanh_cell, float *restrict hidden,
                                   float *restrict output, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float i = 1.0f / (1.0f + exp_value(-pre[j]));
        float f = 1.0f / (1.0f + exp_value(-pre[n + j]));
        float g = tanh_value(pre[2 * n + j]);
        float o = 1.0f / (1.0f + exp_value(-pre[3 * n + j]));
        gates[j] = i;
        gates[n + j] = f;
        gates[2 * n + j] = g;
        gates[3 * n + j] = o;
        float c = f * previous_cell[j] + i * g;
        float t = tanh_value(c);
        cell[j] = c;
        tanh_cell[j] = t;
        hidden[j] = o * t;
        output[j] = o * t;
    }
}

// The LSTM step's backward for one sequence: from its saved gates, tanh of its cell and its previous cell, the
// hidden-state gradient arriving (`dh` from the next step plus `d_output` from this step's output) and the cell
// gradient `dc` (updated in place to the previous step's), the gate pre-activation gradients into `step` and `d_gates`.
INLINE void lstm_cell_backward_body(const float *restrict gates, const float *restrict tanh_cell,
                                    const float *restrict previous_cell, const float *restrict dh,
                                    const float *restrict d_output, float *restrict dc, float *restrict step,
                                    float *restrict d_gates, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float i = gates[j], f = gates[n + j], g = gates[2 * n + j], o = gates[3 * n + j], t = tanh_cell[j];
        float dh_total = dh[j] + d_output[j];
        float dc_total = dc[j] + dh_total * o * (1 - t * t);
        float di = dc_total * g * i * (1 - i);
        float df = dc_total * previous_cell[j] * f * (1 - f);
        float dg = dc_total * i * (1 - g * g);
        float d_o = dh_total * t * o * (1 - o);
        step[j] = di;
        step[n + j] = df;
        step[2 * n + j] = dg;
        step[3 * n + j] = d_o;
        d_gates[j] = di;
        d_gates[n + j] = df;
        d_gates[2 * n + j] = dg;
        d_gates[3 * n + j] = d_o;
        dc[j] = dc_total * f;
    }
}

INLINE void exp_body(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = exp_value(x[i]);
}

INLINE void sigmoid_body(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_value(-x[i]));
}

INLINE void tanh_body(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanh_value(x[i]);
}

// GELU (exact form, x·Φ(x)) and, when dx is given, its derivative times dy.
INLINE void gelu_body(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erf_value(x[i] * 0.70710678118654752f));
}

// GELU and its derivative Φ(x) + x·φ(x) in one pass, for a backward pass that is then one product.
INLINE void gelu_with_derivative_body(const float *restrict x, float *restrict y, float *restrict d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float e = erf_value(v * 0.70710678118654752f);
        y[i] = 0.5f * v * (1.0f + e);  // as gelu_body computes it: the same bits in training and inference
        d[i] = 0.5f * (1.0f + e) + v * (0.39894228040143268f * exp_value(-0.5f * v * v));
    }
}

INLINE void multiply_body(const float *restrict a, const float *restrict b, float *restrict out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

INLINE void gelu_backward_body(const float *restrict x, const float *restrict dy, float *restrict dx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erf_value(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * exp_value(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

// Softmax of the first `visible` values of a row in place, the rest of its `width` set to 0. Maximum and sum in
// eight fixed lanes, so that the result does not depend on how the loop is vectorised.
INLINE void softmax_row_body(float *restrict row, size_t visible, size_t width) {
    float lanes[8] = {-__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                      -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff()};
    size_t i = 0;
    for (; i + 8 <= visible; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] = row[i + l] > lanes[l] ? row[i + l] : lanes[l];
    float top = -__builtin_inff();
    for (int l = 0; l < 8; l++) top = lanes[l] > top ? lanes[l] : top;
    for (; i < visible; i++) top = row[i] > top ? row[i] : top;
    if (top == -__builtin_inff()) top = 0;
    float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    i = 0;
    for (; i + 8 <= visible; i += 8)
        for (int l = 0; l < 8; l++) {
            float e = exp_value(row[i + l] - top);
            row[i + l] = e;
            sums[l] += e;
        }
    float total = 0;
    for (int l = 0; l < 8; l++) total += sums[l];
    for (; i < visible; i++) {
        row[i] = exp_value(row[i] - top);
        total += row[i];
    }
    float inverse = 1.0f / total;
    for (i = 0; i < visible; i++) row[i] *= inverse;
    for (i = visible; i < width; i++) row[i] = 0;
}

// The softmax backward of a row: dx = p ⊙ (dy − Σ dy⊙p) · scale, in place over dy (zero past `visible`).
INLINE void softmax_row_backward_body(const float *restrict p, float *restrict dy, size_t visible, size_t width, float scale) {
    float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= visible; i += 8)
        for (int l = 0; l < 8; l++) sums[l] += dy[i + l] * p[i + l];
    float dot = 0;
    for (int l = 0; l < 8; l++) dot += sums[l];
    for (; i < visible; i++) dot += dy[i] * p[i];
    for (i = 0; i < visible; i++) dy[i] = p[i] * (dy[i] - dot) * scale;
    for (i = visible; i < width; i++) dy[i] = 0;
}

// Eight lanes added in one fixed tree, then the tail: how every lane sum below ends.
INLINE float lanes_total(const float lanes[8], float tail) {
    return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])) + tail;
}

// A sum in eight fixed lanes then a fixed tree (vectorisable; the same order whatever the instruction set).
INLINE float lane_sum(const float *restrict v, size_t n) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] += v[i + l];
    float tail = 0;
    for (; i < n; i++) tail += v[i];
    return lanes_total(lanes, tail);
}

// Layer normalisation of `rows` rows of `width`: normalized = (x − mean) · inverse, out = normalized · g + b, with
// inverse = 1/√(variance + 1e-5) kept per row for the backward pass.
INLINE void layer_norm_rows_body(const float *restrict x, const float *restrict g, const float *restrict b,
                                 float *restrict normalized, float *restrict inverse, float *restrict out, size_t rows,
                                 size_t width) {
    for (size_t r = 0; r < rows; r++) {
        const float *v = x + r * width;
        float *n = normalized + r * width, *o = out + r * width;
        float mean = lane_sum(v, width) / (float)width;
        for (size_t c = 0; c < width; c++) n[c] = v[c] - mean;
        float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t i = 0;
        for (; i + 8 <= width; i += 8)
            for (int l = 0; l < 8; l++) lanes[l] += n[i + l] * n[i + l];
        float tail = 0;
        for (; i < width; i++) tail += n[i] * n[i];
        float variance = lanes_total(lanes, tail) / (float)width;
        float inv = 1.0f / sqrtf(variance + 1e-5f);
        inverse[r] = inv;
        for (size_t c = 0; c < width; c++) {
            n[c] *= inv;
            o[c] = n[c] * g[c] + b[c];
        }
    }
}

// The layer normalisation backward of `rows` rows: dx per row, and the rows' scale and shift gradients added to
// dgamma and dbeta (in row order).
INLINE void layer_norm_rows_backward_body(const float *restrict dy, const float *restrict g,
                                          const float *restrict normalized, const float *restrict inverse,
                                          float *restrict dx, float *restrict dgamma, float *restrict dbeta, size_t rows,
                                          size_t width) {
    for (size_t r = 0; r < rows; r++) {
        const float *d = dy + r * width, *n = normalized + r * width;
        float *out = dx + r * width;
        float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0}, products[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t i = 0;
        for (; i + 8 <= width; i += 8)
            for (int l = 0; l < 8; l++) {
                float dn = d[i + l] * g[i + l];
                sums[l] += dn;
                products[l] += dn * n[i + l];
            }
        float sumTail = 0, productTail = 0;
        for (; i < width; i++) {
            float dn = d[i] * g[i];
            sumTail += dn;
            productTail += dn * n[i];
        }
        float sum = lanes_total(sums, sumTail);
        float product = lanes_total(products, productTail);
        float w = (float)width, scale = inverse[r] / w;
        for (size_t c = 0; c < width; c++) {
            out[c] = scale * (w * (d[c] * g[c]) - sum - n[c] * product);
            dgamma[c] += d[c] * n[c];
            dbeta[c] += d[c];
        }
    }
}

// Softmax cross-entropy of one row of logits against `label`: the gradient weight · (softmax − onehot) into g and the
// loss log Σ exp(z − max) − (z[label] − max) returned. Maximum and sum in eight fixed lanes.
INLINE float cross_entropy_row_body(const float *restrict z, float *restrict g, size_t classes, size_t label, float weight) {
    float lanes[8] = {-__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                      -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff()};
    size_t i = 0;
    for (; i + 8 <= classes; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] = z[i + l] > lanes[l] ? z[i + l] : lanes[l];
    float top = -__builtin_inff();
    for (int l = 0; l < 8; l++) top = lanes[l] > top ? lanes[l] : top;
    for (; i < classes; i++) top = z[i] > top ? z[i] : top;
    float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    i = 0;
    for (; i + 8 <= classes; i += 8)
        for (int l = 0; l < 8; l++) {
            float e = exp_value(z[i + l] - top);
            g[i + l] = e;
            sums[l] += e;
        }
    float tail = 0;
    for (; i < classes; i++) {
        g[i] = exp_value(z[i] - top);
        tail += g[i];
    }
    float sum = lanes_total(sums, tail);
    float factor = weight / sum;
    for (i = 0; i < classes; i++) g[i] *= factor;
    g[label] -= weight;
    return logf(sum) - (z[label] - top);
}

#if defined(__x86_64__) && defined(__clang__)
#define FAST __attribute__((target("avx2,fma")))
#define HAS_FAST 1
#else
#define FAST
#define HAS_FAST 0
#endif

// Instantiates a kernel as NAME_base and NAME_fast, and the public NAME that dispatches.
#define KERNEL(NAME, BODY, PARAMS, ARGS)                                                   \
    static void NAME##_base PARAMS { BODY ARGS; }                                          \
    FAST static void NAME##_fast PARAMS { BODY ARGS; }                                     \
    void NAME PARAMS {                                                                     \
        if (ck_uses_avx2()) NAME##_fast ARGS; else NAME##_base ARGS;                       \
    }

static int cpu_choice = -1;

int ck_uses_avx2(void) {
    if (__builtin_expect(cpu_choice < 0, 0)) {
#if HAS_FAST
        __builtin_cpu_init();
        cpu_choice = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        cpu_choice = 0;
#endif
    }
    return cpu_choice;
}

KERNEL(ck_sgd, sgd_body, (float *p, const float *g, size_t n, float rate, float decay), (p, g, n, rate, decay))
KERNEL(ck_sgd_momentum_first, sgd_momentum_first_body,
       (float *p, const float *g, float *v, size_t n, float rate, float mu, float decay, int nesterov),
       (p, g, v, n, rate, mu, decay, nesterov))
KERNEL(ck_sgd_momentum, sgd_momentum_body,
       (float *p, const float *g, float *v, size_t n, float rate, float mu, float decay, int nesterov),
       (p, g, v, n, rate, mu, decay, nesterov))
KERNEL(ck_adam, adam_body,
       (float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float step_size,
        float root_correction2, float eps, float l2, float shrink, int decoupled),
       (p, g, m, v, n, b1, b2, step_size, root_correction2, eps, l2, shrink, decoupled))
KERNEL(ck_relu_forward, relu_forward_body, (const float *x, float *y, size_t n), (x, y, n))
KERNEL(ck_relu_backward, relu_backward_body, (const float *y, const float *dy, float *dx, size_t n), (y, dy, dx, n))
KERNEL(ck_broadcast_rows, broadcast_rows_body, (const float *bias, float *out, size_t rows, size_t width),
       (bias, out, rows, width))
KERNEL(ck_sum_rows, sum_rows_body, (const float *x, float *out, size_t rows, size_t width, int accumulate),
       (x, out, rows, width, accumulate))
KERNEL(ck_scale, scale_body, (float *x, size_t n, float factor), (x, n, factor))
KERNEL(ck_add, add_body, (const float *a, float *b, size_t n), (a, b, n))
KERNEL(ck_exp, exp_body, (const float *x, float *y, size_t n), (x, y, n))
KERNEL(ck_sigmoid, sigmoid_body, (const float *x, float *y, size_t n), (x, y, n))
KERNEL(ck_tanh, tanh_body, (const float *x, float *y, size_t n), (x, y, n))
KERNEL(ck_lstm_cell_forward, lstm_cell_forward_body,
       (const float *pre, const float *previous_cell, float *gates, float *cell, float *tanh_cell, float *hidden,
        float *output, size_t n),
       (pre, previous_cell, gates, cell, tanh_cell, hidden, output, n))
KERNEL(ck_lstm_cell_backward, lstm_cell_backward_body,
       (const float *gates, const float *tanh_cell, const float *previous_cell, const float *dh, const float *d_output,
        float *dc, float *step, float *d_gates, size_t n),
       (gates, tanh_cell, previous_cell, dh, d_output, dc, step, d_gates, n))
KERNEL(ck_gelu, gelu_body, (const float *x, float *y, size_t n), (x, y, n))
KERNEL(ck_gelu_with_derivative, gelu_with_derivative_body, (const float *x, float *y, float *d, size_t n), (x, y, d, n))
KERNEL(ck_multiply, multiply_body, (const float *a, const float *b, float *out, size_t n), (a, b, out, n))
KERNEL(ck_gelu_backward, gelu_backward_body, (const float *x, const float *dy, float *dx, size_t n), (x, dy, dx, n))
KERNEL(ck_layer_norm_rows, layer_norm_rows_body,
       (const float *x, const float *g, const float *b, float *normalized, float *inverse, float *out, size_t rows,
        size_t width),
       (x, g, b, normalized, inverse, out, rows, width))
KERNEL(ck_layer_norm_rows_backward, layer_norm_rows_backward_body,
       (const float *dy, const float *g, const float *normalized, const float *inverse, float *dx, float *dgamma,
        float *dbeta, size_t rows, size_t width),
       (dy, g, normalized, inverse, dx, dgamma, dbeta, rows, width))
static float ck_cross_entropy_row_base(const float *z, float *g, size_t classes, size_t label, float weight) {
    return cross_entropy_row_body(z, g, classes, label, weight);
}
FAST static float ck_cross_entropy_row_fast(const float *z, float *g, size_t classes, size_t label, float weight) {
    return cross_entropy_row_body(z, g, classes, label, weight);
}
float ck_cross_entropy_row(const float *z, float *g, size_t classes, size_t label, float weight) {
    return ck_uses_avx2() ? ck_cross_entropy_row_fast(z, g, classes, label, weight)
                          : ck_cross_entropy_row_base(z, g, classes, label, weight);
}
KERNEL(ck_softmax_row, softmax_row_body, (float *row, size_t visible, size_t width), (row, visible, width))
KERNEL(ck_softmax_row_backward, softmax_row_backward_body, (const float *p, float *dy, size_t visible, size_t width, float scale),
       (p, dy, visible, width, scale))

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void ck_keep_large_buffers_in_heap(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}
