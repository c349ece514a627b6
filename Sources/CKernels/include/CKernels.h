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
// One LSTM step of one sequence (gates i, f, g, o): activated gates, cell, tanh(cell), hidden (into hidden and output).
void ck_lstm_cell_forward(const float *pre, const float *previous_cell, float *gates, float *cell, float *tanh_cell,
                          float *hidden, float *output, size_t n);
// Its backward: gate pre-activation gradients into step and d_gates, dc updated in place to the previous step's.
void ck_lstm_cell_backward(const float *gates, const float *tanh_cell, const float *previous_cell, const float *dh,
                           const float *d_output, float *dc, float *step, float *d_gates, size_t n);
void ck_gelu_backward(const float *x, const float *dy, float *dx, size_t n);
// GELU with its derivative Φ(x) + x·φ(x) into d, and an element-wise product (the backward pass given d).
void ck_gelu_with_derivative(const float *x, float *y, float *d, size_t n);
void ck_multiply(const float *a, const float *b, float *out, size_t n);
// Softmax cross-entropy of one row of `classes` logits against `label`: weight · (softmax − onehot) into g, the loss
// log Σ exp(z − max) − (z[label] − max) returned (maximum and sum in eight fixed lanes).
float ck_cross_entropy_row(const float *z, float *g, size_t classes, size_t label, float weight);
// Layer normalisation of `rows` rows of `width` (ε = 1e-5; sums in eight fixed lanes), keeping the normalized rows
// and each row's inverse deviation; its backward adds the rows' scale and shift gradients to dgamma and dbeta.
void ck_layer_norm_rows(const float *x, const float *g, const float *b, float *normalized, float *inverse, float *out,
                        size_t rows, size_t width);
void ck_layer_norm_rows_backward(const float *dy, const float *g, const float *normalized, const float *inverse,
                                 float *dx, float *dgamma, float *dbeta, size_t rows, size_t width);
// Softmax of a row's first `visible` values in place (the rest zeroed), and its backward in place over dy.
void ck_softmax_row(float *row, size_t visible, size_t width);
void ck_softmax_row_backward(const float *p, float *dy, size_t visible, size_t width, float scale);

// Products over a batch of consecutive virtual shards with the bits of one product per shard (shards.c).
// C[r][c] = Σ_i A[r][i]·B[i][c] (+ bias[c]) for the rows and the columns c0..<c1, each summed over i in order with one
// accumulator, so that a row's values never depend on the other rows of the call. B[i][c] is b[i·ldb + c], or
// b[c·ldb + i] when b_transposed. Returns -1 when the thread's packing buffer cannot be allocated, else 0.
int ck_rowwise_product(const float *a, long lda, const float *b, long ldb, int b_transposed, const float *bias,
                       float *c, long ldc, long rows, long inner, long c0, long c1);
// dW[j][k] for j in j0..<j1 and every k < columns: each shard's Σ over its `shard_rows` rows of dy[r][j]·x[r][k],
// the `shards` (a power of two, at most 2^16) sums added in their fixed binary tree ((s0 + s1) + (s2 + s3) ...).
void ck_shard_tree_outer(const float *dy, long ldy, const float *x, long ldx, float *dw, long lddw, long shards,
                         long shard_rows, long j0, long j1, long columns);
// db[j] for j in j0..<j1: each shard's column sum of dy, added in the same tree.
void ck_shard_tree_column_sums(const float *dy, long ldy, float *db, long shards, long shard_rows, long j0, long j1);
// Products with a matrix packed once into panels, for a matrix used at every step of a recurrence. The panel width
// of this thread's instance (32 with AVX-512, 16 with AVX2, 1 for the baseline); the packing of B (inner x columns,
// read as in ck_rowwise_product) into `packed` of inner x round_up(columns, width) floats for that width; and
// c[r][col] = Σ_i a[r][i]·B[i][col] for col in c0..<c1 (c0 a multiple of the width) by the instance of that width,
// added to c when `accumulate` (after the sum), each row's values independent of the other rows.
long ck_packed_panel_width(void);
void ck_pack_panels(const float *b, long ldb, int b_transposed, long inner, long columns, long width, float *packed);
void ck_packed_product(const float *a, long lda, const float *packed, long width, long inner, float *c, long ldc,
                       long rows, int accumulate, long c0, long c1);
// For tests: the calling thread uses the given instance (0 baseline, 1 AVX2 with FMA, 2 AVX-512) or the CPU's best
// below it, other threads keep the best; a negative value: the best again. Returns the instance the thread uses.
int ck_shard_kernels_use(int wanted);

// Keeps large allocations in the heap (glibc maps and unmaps buffers over 128 KiB by default, so code that
// allocates its results at every step pays page faults each time); a no-op elsewhere.
void ck_keep_large_buffers_in_heap(void);

// The process's compute threads (parallel.c). `ck_parallel_for` runs task(context, index, worker) for every index
// in 0..<count on up to `ck_parallel_threads()` threads (the caller is worker 0) and returns when all are done;
// inside a task, or with one thread, it runs the indices in order on the calling thread.
typedef void (*ck_parallel_task)(void *context, long index, int worker);
// Stops OpenBLAS's own thread pool (a no-op with another BLAS): products run one OpenBLAS thread per compute thread.
void ck_stop_blas_pool(void);
void ck_parallel_for(long count, ck_parallel_task task, void *context);
void ck_parallel_set_threads(int threads);
int ck_parallel_threads(void);
int ck_parallel_inside_task(void);
// The worker number of the calling thread (0 on the caller's thread and outside the pool).
int ck_parallel_worker(void);
// The thread (pthread_self) that handed out the job a compute thread runs.
unsigned long ck_parallel_caller(void);

// Which implementation runs: 1 when the AVX2/FMA code was chosen.
int ck_uses_avx2(void);
#endif
