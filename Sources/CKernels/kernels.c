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

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void ck_keep_large_buffers_in_heap(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}
