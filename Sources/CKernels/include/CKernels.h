// Element-wise kernels of NeuralNet's hot loops, in C so that they can be compiled for AVX2 and FMA per
// function (chosen at run time by the CPU's features) without any flag on the target: a package that depends
// on swift-train by version builds them as they are. Only NeuralNet's Kernels.swift calls these.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>
#include <stdint.h>

// Optimizers. Each runs over the whole arena: p parameters, g gradients, state buffers of the same length.
void ck_sgd(float *p, const float *g, size_t n, float rate, float decay);
void ck_sgd_momentum_first(float *p, const float *g, float *v, size_t n, float rate, float mu, float decay, int nesterov);
void ck_sgd_momentum(float *p, const float *g, float *v, size_t n, float rate, float mu, float decay, int nesterov);
void ck_adam(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float step_size,
             float root_correction2, float eps, float l2, float shrink, int decoupled);

// Layers. Row-major batches: rows x width.
void ck_relu_forward(const float *x, float *y, size_t n);
void ck_relu_backward(const float *y, const float *dy, float *dx, size_t n);
void ck_broadcast_rows(const float *bias, float *out, size_t rows, size_t width);
void ck_sum_rows(const float *x, float *out, size_t rows, size_t width, int accumulate);
void ck_scale(float *x, size_t n, float factor);
void ck_add(const float *a, float *b, size_t n);

// Transcendental functions (vectorised polynomials, about 1 ulp; NaN kept, -inf to 0 for exp).
void ck_exp(const float *x, float *y, size_t n);
void ck_sigmoid(const float *x, float *y, size_t n);
void ck_tanh(const float *x, float *y, size_t n);
void ck_gelu(const float *x, float *y, size_t n);
void ck_gelu_backward(const float *x, const float *dy, float *dx, size_t n);
// Softmax of a row's first `visible` values in place (the rest zeroed), and its backward in place over dy.
void ck_softmax_row(float *row, size_t visible, size_t width);
void ck_softmax_row_backward(const float *p, float *dy, size_t visible, size_t width, float scale);

// Keeps large allocations in the heap (glibc maps and unmaps buffers over 128 KiB by default, so code that
// allocates its results at every step pays page faults each time); a no-op elsewhere.
void ck_keep_large_buffers_in_heap(void);

// Which implementation runs: 1 when the AVX2/FMA code was chosen.
int ck_uses_avx2(void);
#endif
