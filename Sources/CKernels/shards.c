// Products of a batch made of consecutive virtual shards, with the bits of one product per shard: a row's results
// are summed over the inner dimension in order with one accumulator (never depending on the other rows), and a
// weight gradient is each shard's sum over its rows, the shards' sums added in their fixed binary tree (the tree
// `ShardGradientSum` forms across shards and ranks). Every instance (AVX-512, AVX2 with FMA, chosen at run time)
// does the same single-rounding multiply-adds in the same order, so they give the same bits; the baseline, without
// FMA, rounds products and sums separately.
#include "CKernels.h"
#include <stdlib.h>

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#define SHARDS_FAST 1
#else
#define SHARDS_FAST 0
#endif

#define MAX_LEVELS 16

static int tree_height(long shards) {
    int top = 0;
    while ((1L << top) < shards) top++;
    return top;
}

// MARK: baseline (no FMA: one rounding per multiply and per add, never contracted)

#pragma clang fp contract(off)
static void rowwise_product_base(const float *a, long lda, const float *b, long ldb, int transposed,
                                 const float *bias, float *c, long ldc, long rows, long inner, long c0, long c1) {
    long row_step = transposed ? 1 : ldb, column_step = transposed ? ldb : 1;
    for (long r = 0; r < rows; r++) {
        for (long col = c0; col < c1; col++) {
            float acc = 0;
            for (long i = 0; i < inner; i++) acc = acc + a[r * lda + i] * b[i * row_step + col * column_step];
            c[r * ldc + col] = bias ? acc + bias[col] : acc;
        }
    }
}

static void shard_tree_outer_base(const float *dy, long ldy, const float *x, long ldx, float *dw, long lddw,
                                  long shards, long shard_rows, long j0, long j1, long columns) {
    float pending[MAX_LEVELS + 1];
    int top = tree_height(shards);
    for (long j = j0; j < j1; j++) {
        for (long k = 0; k < columns; k++) {
            for (long s = 0; s < shards; s++) {
                float acc = 0;
                for (long r = s * shard_rows; r < (s + 1) * shard_rows; r++) acc = acc + dy[r * ldy + j] * x[r * ldx + k];
                long t = s;
                int level = 0;
                while (t & 1) { acc = pending[level] + acc; t >>= 1; level++; }
                pending[level] = acc;
            }
            dw[j * lddw + k] = pending[top];
        }
    }
}

static void ck_shard_tree_column_sums_scalar(const float *dy, long ldy, float *db, long shards, long shard_rows, long j0,
                                             long j1) {
    float pending[MAX_LEVELS + 1];
    int top = tree_height(shards);
    for (long j = j0; j < j1; j++) {
        for (long s = 0; s < shards; s++) {
            float acc = 0;
            for (long r = s * shard_rows; r < (s + 1) * shard_rows; r++) acc = acc + dy[r * ldy + j];
            long t = s;
            int level = 0;
            while (t & 1) { acc = pending[level] + acc; t >>= 1; level++; }
            pending[level] = acc;
        }
        db[j] = pending[top];
    }
}
#pragma clang fp contract(on)

// The panel of B's columns col..<col + width (all `inner` rows) as a contiguous inner x stride block.
static void pack_panel(const float *b, long ldb, int transposed, long inner, long col, long width, long stride,
                       float *panel) {
    if (transposed) {
        // Row by row of the panel, reading `width` rows of b at once (a scattering vector loop would be slower).
        for (long i = 0; i < inner; i++) {
            const float *source = b + col * ldb + i;
#pragma clang loop vectorize(disable)
            for (long c = 0; c < width; c++) panel[i * stride + c] = source[c * ldb];
        }
    } else {
        for (long i = 0; i < inner; i++) {
            const float *source = b + i * ldb + col;
            for (long c = 0; c < width; c++) panel[i * stride + c] = source[c];
        }
    }
    for (long i = 0; i < inner; i++)
        for (long c = width; c < stride; c++) panel[i * stride + c] = 0;
}

// Each thread's packing buffer, grown to the largest panel it has packed (allocated once, not per call).
static __thread float *panel_buffer;
static __thread long panel_capacity;

static float *panel_of(long floats) {
    if (floats > panel_capacity) {
        free(panel_buffer);
        panel_buffer = aligned_alloc(64, (size_t)((floats * 4 + 63) / 64 * 64));
        panel_capacity = panel_buffer ? floats : 0;
    }
    return panel_buffer;
}

#if SHARDS_FAST
// MARK: packing and column sums with AVX (used by both vector instances)

// The transposed panel in 8 x 8 blocks transposed in registers (the rest element by element).
__attribute__((target("avx2,fma"))) static void pack_transposed_avx(const float *b, long ldb, long inner, long col,
                                                                    long width, long stride, float *panel) {
    long c0 = 0;
    for (; c0 + 8 <= width; c0 += 8) {
        const float *rows = b + (col + c0) * ldb;
        long i0 = 0;
        for (; i0 + 8 <= inner; i0 += 8) {
            __m256 r0 = _mm256_loadu_ps(rows + 0 * ldb + i0), r1 = _mm256_loadu_ps(rows + 1 * ldb + i0);
            __m256 r2 = _mm256_loadu_ps(rows + 2 * ldb + i0), r3 = _mm256_loadu_ps(rows + 3 * ldb + i0);
            __m256 r4 = _mm256_loadu_ps(rows + 4 * ldb + i0), r5 = _mm256_loadu_ps(rows + 5 * ldb + i0);
            __m256 r6 = _mm256_loadu_ps(rows + 6 * ldb + i0), r7 = _mm256_loadu_ps(rows + 7 * ldb + i0);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *out = panel + i0 * stride + c0;
            _mm256_storeu_ps(out + 0 * stride, _mm256_permute2f128_ps(s0, s4, 0x20));
            _mm256_storeu_ps(out + 1 * stride, _mm256_permute2f128_ps(s1, s5, 0x20));
            _mm256_storeu_ps(out + 2 * stride, _mm256_permute2f128_ps(s2, s6, 0x20));
            _mm256_storeu_ps(out + 3 * stride, _mm256_permute2f128_ps(s3, s7, 0x20));
            _mm256_storeu_ps(out + 4 * stride, _mm256_permute2f128_ps(s0, s4, 0x31));
            _mm256_storeu_ps(out + 5 * stride, _mm256_permute2f128_ps(s1, s5, 0x31));
            _mm256_storeu_ps(out + 6 * stride, _mm256_permute2f128_ps(s2, s6, 0x31));
            _mm256_storeu_ps(out + 7 * stride, _mm256_permute2f128_ps(s3, s7, 0x31));
        }
        for (; i0 < inner; i0++)
            for (long c = c0; c < c0 + 8; c++) panel[i0 * stride + c] = b[(col + c) * ldb + i0];
    }
    for (long i = 0; i < inner; i++) {
        for (long c = c0; c < width; c++) panel[i * stride + c] = b[(col + c) * ldb + i];
        for (long c = width; c < stride; c++) panel[i * stride + c] = 0;
    }
}

static void pack_panel_fast(const float *b, long ldb, int transposed, long inner, long col, long width, long stride,
                            float *panel) {
    if (transposed) pack_transposed_avx(b, ldb, inner, col, width, stride, panel);
    else pack_panel(b, ldb, 0, inner, col, width, stride, panel);
}

typedef float column_vector __attribute__((vector_size(32)));

// The bias gradient with 8 columns at a time (additions only: the same bits as the baseline's).
__attribute__((target("avx2,fma"))) static void shard_tree_column_sums_avx(const float *dy, long ldy, float *db,
                                                                           long shards, long shard_rows, long j0,
                                                                           long j1) {
    column_vector pending[MAX_LEVELS + 1];
    int top = tree_height(shards);
    long j = j0;
    for (; j + 8 <= j1; j += 8) {
        for (long s = 0; s < shards; s++) {
            column_vector acc = {0, 0, 0, 0, 0, 0, 0, 0};
            for (long r = s * shard_rows; r < (s + 1) * shard_rows; r++) {
                column_vector row;
                __builtin_memcpy(&row, dy + r * ldy + j, sizeof row);
                acc = acc + row;
            }
            long t = s;
            int level = 0;
            while (t & 1) { acc = pending[level] + acc; t >>= 1; level++; }
            pending[level] = acc;
        }
        __builtin_memcpy(db + j, &pending[top], sizeof pending[top]);
    }
    if (j < j1) ck_shard_tree_column_sums_scalar(dy, ldy, db, shards, shard_rows, j, j1);
}

// MARK: AVX-512 (tiles of 8 rows x 32 columns)

#define F512 __attribute__((target("avx512f"))) static inline __attribute__((always_inline))

F512 void product_tile_512(const float *a, long lda, const float *panel, const float *bias, float *c, long ldc,
                           long inner, const int R, const int V, __mmask16 last, int accumulate) {
    __m512 acc[8][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
    for (long i = 0; i < inner; i++) {
        __m512 bv[2];
        for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_ps(panel + i * 32 + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + i]);
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < V; v++) {
            __mmask16 m = v == V - 1 ? last : (__mmask16)0xFFFF;
            __m512 out = acc[r][v];
            if (bias) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, bias + 16 * v));
            if (accumulate) out = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c + r * ldc + 16 * v), out);
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, m, out);
        }
    }
}

#define PRODUCT_512(R)                                                                                               \
    if (V == 1) product_tile_512(a + r * lda, lda, panel, bias, c + r * ldc, ldc, inner, R, 1, last, accumulate);     \
    else product_tile_512(a + r * lda, lda, panel, bias, c + r * ldc, ldc, inner, R, 2, last, accumulate);

// Every row of one column block (`width` <= 32 columns of c, from `panel`), in tiles of 8 rows.
F512 void column_block_512(const float *a, long lda, const float *panel, const float *bias, float *c, long ldc,
                           long rows, long inner, long width, int accumulate) {
    int V = width > 16 ? 2 : 1;
    __mmask16 last = (__mmask16)((1u << (width - 16 * (V - 1))) - 1);
    long r = 0;
    for (; r + 8 <= rows; r += 8) { PRODUCT_512(8) }
    switch (rows - r) {
    case 7: PRODUCT_512(7) break;
    case 6: PRODUCT_512(6) break;
    case 5: PRODUCT_512(5) break;
    case 4: PRODUCT_512(4) break;
    case 3: PRODUCT_512(3) break;
    case 2: PRODUCT_512(2) break;
    case 1: PRODUCT_512(1) break;
    default: break;
    }
}

__attribute__((target("avx512f"))) static void rowwise_product_512(const float *a, long lda, const float *b, long ldb,
                                                                    int transposed, const float *bias, float *c,
                                                                    long ldc, long rows, long inner, long c0, long c1,
                                                                    float *panel) {
    for (long col = c0; col < c1; col += 32) {
        long width = c1 - col < 32 ? c1 - col : 32;
        pack_panel_fast(b, ldb, transposed, inner, col, width, 32, panel);
        column_block_512(a, lda, panel, bias ? bias + col : 0, c + col, ldc, rows, inner, width, 0);
    }
}

// J rows of dW x V vectors of its columns: each shard's sum over its rows, added into the tree.
F512 void outer_tile_512(const float *dy, long ldy, const float *x, long ldx, float *dw, long lddw, long shards,
                         long shard_rows, const int J, const int V, __mmask16 last) {
    __m512 pending[MAX_LEVELS + 1][8][2];
    int top = tree_height(shards);
    for (long s = 0; s < shards; s++) {
        __m512 acc[8][2];
        for (int j = 0; j < J; j++)
            for (int v = 0; v < V; v++) acc[j][v] = _mm512_setzero_ps();
        for (long r = s * shard_rows; r < (s + 1) * shard_rows; r++) {
            const float *row = x + r * ldx;
            __m512 xv[2];
            for (int v = 0; v < V; v++) xv[v] = _mm512_maskz_loadu_ps(v == V - 1 ? last : (__mmask16)0xFFFF, row + 16 * v);
            for (int j = 0; j < J; j++) {
                __m512 d = _mm512_set1_ps(dy[r * ldy + j]);
                for (int v = 0; v < V; v++) acc[j][v] = _mm512_fmadd_ps(d, xv[v], acc[j][v]);
            }
        }
        long t = s;
        int level = 0;
        while (t & 1) {
            for (int j = 0; j < J; j++)
                for (int v = 0; v < V; v++) acc[j][v] = _mm512_add_ps(pending[level][j][v], acc[j][v]);
            t >>= 1;
            level++;
        }
        for (int j = 0; j < J; j++)
            for (int v = 0; v < V; v++) pending[level][j][v] = acc[j][v];
    }
    for (int j = 0; j < J; j++)
        for (int v = 0; v < V; v++)
            _mm512_mask_storeu_ps(dw + j * lddw + 16 * v, v == V - 1 ? last : (__mmask16)0xFFFF, pending[top][j][v]);
}

#define OUTER_512(J)                                                                                                 \
    if (V == 1) outer_tile_512(dy + j, ldy, x + k, ldx, dw + j * lddw + k, lddw, shards, shard_rows, J, 1, last);    \
    else outer_tile_512(dy + j, ldy, x + k, ldx, dw + j * lddw + k, lddw, shards, shard_rows, J, 2, last);

__attribute__((target("avx512f"))) static void shard_tree_outer_512(const float *dy, long ldy, const float *x,
                                                                     long ldx, float *dw, long lddw, long shards,
                                                                     long shard_rows, long j0, long j1, long columns) {
    for (long k = 0; k < columns; k += 32) {
        long width = columns - k < 32 ? columns - k : 32;
        int V = width > 16 ? 2 : 1;
        __mmask16 last = (__mmask16)((1u << (width - 16 * (V - 1))) - 1);
        long j = j0;
        for (; j + 8 <= j1; j += 8) { OUTER_512(8) }
        switch (j1 - j) {
        case 7: OUTER_512(7) break;
        case 6: OUTER_512(6) break;
        case 5: OUTER_512(5) break;
        case 4: OUTER_512(4) break;
        case 3: OUTER_512(3) break;
        case 2: OUTER_512(2) break;
        case 1: OUTER_512(1) break;
        default: break;
        }
    }
}

// MARK: AVX2 with FMA (tiles of 6 rows x 16 columns)

#define F256 __attribute__((target("avx2,fma"))) static inline __attribute__((always_inline))

// The mask of the first `n` (1...8) lanes.
F256 __m256i lanes(long n) {
    const int32_t ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_loadu_si256((const __m256i *)ramp));
}

F256 __m256 load_256(const float *p, int masked, __m256i mask) {
    return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

F256 void store_256(float *p, int masked, __m256i mask, __m256 value) {
    if (masked) _mm256_maskstore_ps(p, mask, value);
    else _mm256_storeu_ps(p, value);
}

F256 void product_tile_256(const float *a, long lda, const float *panel, const float *bias, float *c, long ldc,
                           long inner, const int R, const int V, int masked, __m256i mask, int accumulate) {
    __m256 acc[6][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm256_setzero_ps();
    for (long i = 0; i < inner; i++) {
        __m256 bv[2];
        for (int v = 0; v < V; v++) bv[v] = _mm256_loadu_ps(panel + i * 16 + 8 * v);
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * lda + i);
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < V; v++) {
            int m = masked && v == V - 1;
            __m256 out = acc[r][v];
            if (bias) out = _mm256_add_ps(out, load_256(bias + 8 * v, m, mask));
            if (accumulate) out = _mm256_add_ps(load_256(c + r * ldc + 8 * v, m, mask), out);
            store_256(c + r * ldc + 8 * v, m, mask, out);
        }
    }
}

#define PRODUCT_256(R)                                                                                               \
    if (V == 1) product_tile_256(a + r * lda, lda, panel, bias, c + r * ldc, ldc, inner, R, 1, masked, mask, accumulate); \
    else product_tile_256(a + r * lda, lda, panel, bias, c + r * ldc, ldc, inner, R, 2, masked, mask, accumulate);

// Every row of one column block (`width` <= 16 columns of c, from `panel`), in tiles of 6 rows.
F256 void column_block_256(const float *a, long lda, const float *panel, const float *bias, float *c, long ldc,
                           long rows, long inner, long width, int accumulate) {
    int V = width > 8 ? 2 : 1;
    long tail = width - 8 * (V - 1);
    int masked = tail < 8;
    __m256i mask = lanes(tail);
    long r = 0;
    for (; r + 6 <= rows; r += 6) { PRODUCT_256(6) }
    switch (rows - r) {
    case 5: PRODUCT_256(5) break;
    case 4: PRODUCT_256(4) break;
    case 3: PRODUCT_256(3) break;
    case 2: PRODUCT_256(2) break;
    case 1: PRODUCT_256(1) break;
    default: break;
    }
}

__attribute__((target("avx2,fma"))) static void rowwise_product_256(const float *a, long lda, const float *b, long ldb,
                                                                     int transposed, const float *bias, float *c,
                                                                     long ldc, long rows, long inner, long c0, long c1,
                                                                     float *panel) {
    for (long col = c0; col < c1; col += 16) {
        long width = c1 - col < 16 ? c1 - col : 16;
        pack_panel_fast(b, ldb, transposed, inner, col, width, 16, panel);
        column_block_256(a, lda, panel, bias ? bias + col : 0, c + col, ldc, rows, inner, width, 0);
    }
}

F256 void outer_tile_256(const float *dy, long ldy, const float *x, long ldx, float *dw, long lddw, long shards,
                         long shard_rows, const int J, const int V, int masked, __m256i mask) {
    __m256 pending[MAX_LEVELS + 1][6][2];
    int top = tree_height(shards);
    for (long s = 0; s < shards; s++) {
        __m256 acc[6][2];
        for (int j = 0; j < J; j++)
            for (int v = 0; v < V; v++) acc[j][v] = _mm256_setzero_ps();
        for (long r = s * shard_rows; r < (s + 1) * shard_rows; r++) {
            const float *row = x + r * ldx;
            __m256 xv[2];
            for (int v = 0; v < V; v++) xv[v] = load_256(row + 8 * v, masked && v == V - 1, mask);
            for (int j = 0; j < J; j++) {
                __m256 d = _mm256_broadcast_ss(dy + r * ldy + j);
                for (int v = 0; v < V; v++) acc[j][v] = _mm256_fmadd_ps(d, xv[v], acc[j][v]);
            }
        }
        long t = s;
        int level = 0;
        while (t & 1) {
            for (int j = 0; j < J; j++)
                for (int v = 0; v < V; v++) acc[j][v] = _mm256_add_ps(pending[level][j][v], acc[j][v]);
            t >>= 1;
            level++;
        }
        for (int j = 0; j < J; j++)
            for (int v = 0; v < V; v++) pending[level][j][v] = acc[j][v];
    }
    for (int j = 0; j < J; j++)
        for (int v = 0; v < V; v++) store_256(dw + j * lddw + 8 * v, masked && v == V - 1, mask, pending[top][j][v]);
}

#define OUTER_256(J)                                                                                                 \
    if (V == 1) outer_tile_256(dy + j, ldy, x + k, ldx, dw + j * lddw + k, lddw, shards, shard_rows, J, 1, masked, mask); \
    else outer_tile_256(dy + j, ldy, x + k, ldx, dw + j * lddw + k, lddw, shards, shard_rows, J, 2, masked, mask);

__attribute__((target("avx2,fma"))) static void shard_tree_outer_256(const float *dy, long ldy, const float *x,
                                                                      long ldx, float *dw, long lddw, long shards,
                                                                      long shard_rows, long j0, long j1, long columns) {
    for (long k = 0; k < columns; k += 16) {
        long width = columns - k < 16 ? columns - k : 16;
        int V = width > 8 ? 2 : 1;
        long tail = width - 8 * (V - 1);
        int masked = tail < 8;
        __m256i mask = lanes(tail);
        long j = j0;
        for (; j + 6 <= j1; j += 6) { OUTER_256(6) }
        switch (j1 - j) {
        case 5: OUTER_256(5) break;
        case 4: OUTER_256(4) break;
        case 3: OUTER_256(3) break;
        case 2: OUTER_256(2) break;
        case 1: OUTER_256(1) break;
        default: break;
        }
    }
}
#endif

int ck_uses_avx2(void);

// 2 with AVX-512, 1 with AVX2 and FMA, 0 for the baseline: the CPU's best, found once; a test's choice for its own
// thread only (other threads, and other tests running at the same time, keep the best).
static int best_instance = -1;
static __thread int forced_instance = -1;

static int instance(void) {
    if (__builtin_expect(forced_instance >= 0, 0)) return forced_instance;
    if (__builtin_expect(best_instance < 0, 0)) {
#if SHARDS_FAST
        __builtin_cpu_init();
        best_instance = __builtin_cpu_supports("avx512f") ? 2 : ck_uses_avx2() ? 1 : 0;
#else
        best_instance = 0;
#endif
    }
    return best_instance;
}

int ck_rowwise_product(const float *a, long lda, const float *b, long ldb, int b_transposed, const float *bias,
                       float *c, long ldc, long rows, long inner, long c0, long c1) {
    if (rows <= 0 || c1 <= c0) return 0;
#if SHARDS_FAST
    int chosen = instance();
    if (chosen > 0) {
        long stride = chosen == 2 ? 32 : 16;
        float *panel = panel_of(inner * stride);
        if (!panel) return -1;
        if (chosen == 2) rowwise_product_512(a, lda, b, ldb, b_transposed, bias, c, ldc, rows, inner, c0, c1, panel);
        else rowwise_product_256(a, lda, b, ldb, b_transposed, bias, c, ldc, rows, inner, c0, c1, panel);
        return 0;
    }
#endif
    rowwise_product_base(a, lda, b, ldb, b_transposed, bias, c, ldc, rows, inner, c0, c1);
    return 0;
}

void ck_shard_tree_outer(const float *dy, long ldy, const float *x, long ldx, float *dw, long lddw, long shards,
                         long shard_rows, long j0, long j1, long columns) {
#if SHARDS_FAST
    int chosen = instance();
    if (chosen == 2) {
        shard_tree_outer_512(dy, ldy, x, ldx, dw, lddw, shards, shard_rows, j0, j1, columns);
        return;
    }
    if (chosen == 1) {
        shard_tree_outer_256(dy, ldy, x, ldx, dw, lddw, shards, shard_rows, j0, j1, columns);
        return;
    }
#endif
    shard_tree_outer_base(dy, ldy, x, ldx, dw, lddw, shards, shard_rows, j0, j1, columns);
}

void ck_shard_tree_column_sums(const float *dy, long ldy, float *db, long shards, long shard_rows, long j0, long j1) {
#if SHARDS_FAST
    if (instance() > 0) {
        shard_tree_column_sums_avx(dy, ldy, db, shards, shard_rows, j0, j1);
        return;
    }
#endif
    ck_shard_tree_column_sums_scalar(dy, ldy, db, shards, shard_rows, j0, j1);
}

// MARK: products on panels packed once (a matrix used at every step of a recurrence)

long ck_packed_panel_width(void) {
    int chosen = instance();
    return chosen == 2 ? 32 : chosen == 1 ? 16 : 1;
}

void ck_pack_panels(const float *b, long ldb, int b_transposed, long inner, long columns, long width, float *packed) {
    for (long col = 0; col < columns; col += width) {
        long span = columns - col < width ? columns - col : width;
        float *panel = packed + (col / width) * inner * width;
#if SHARDS_FAST
        if (width > 1) {
            pack_panel_fast(b, ldb, b_transposed, inner, col, span, width, panel);
            continue;
        }
#endif
        pack_panel(b, ldb, b_transposed, inner, col, span, width, panel);
    }
}

#if SHARDS_FAST
__attribute__((target("avx512f"))) static void packed_product_512(const float *a, long lda, const float *packed,
                                                                   long inner, float *c, long ldc, long rows,
                                                                   int accumulate, long c0, long c1) {
    for (long col = c0; col < c1; col += 32) {
        long width = c1 - col < 32 ? c1 - col : 32;
        column_block_512(a, lda, packed + (col / 32) * inner * 32, 0, c + col, ldc, rows, inner, width, accumulate);
    }
}

__attribute__((target("avx2,fma"))) static void packed_product_256(const float *a, long lda, const float *packed,
                                                                    long inner, float *c, long ldc, long rows,
                                                                    int accumulate, long c0, long c1) {
    for (long col = c0; col < c1; col += 16) {
        long width = c1 - col < 16 ? c1 - col : 16;
        column_block_256(a, lda, packed + (col / 16) * inner * 16, 0, c + col, ldc, rows, inner, width, accumulate);
    }
}
#endif

#pragma clang fp contract(off)
static void packed_product_base(const float *a, long lda, const float *packed, long inner, float *c, long ldc,
                                long rows, int accumulate, long c0, long c1) {
    for (long r = 0; r < rows; r++) {
        for (long col = c0; col < c1; col++) {
            float acc = 0;
            for (long i = 0; i < inner; i++) acc = acc + a[r * lda + i] * packed[col * inner + i];
            c[r * ldc + col] = accumulate ? c[r * ldc + col] + acc : acc;
        }
    }
}
#pragma clang fp contract(on)

void ck_packed_product(const float *a, long lda, const float *packed, long width, long inner, float *c, long ldc,
                       long rows, int accumulate, long c0, long c1) {
    if (rows <= 0 || c1 <= c0) return;
#if SHARDS_FAST
    int chosen = width == 32 ? 2 : width == 16 ? 1 : 0;
    if (chosen == 2) {
        packed_product_512(a, lda, packed, inner, c, ldc, rows, accumulate, c0, c1);
        return;
    }
    if (chosen == 1) {
        packed_product_256(a, lda, packed, inner, c, ldc, rows, accumulate, c0, c1);
        return;
    }
#endif
    packed_product_base(a, lda, packed, inner, c, ldc, rows, accumulate, c0, c1);
}

// For tests: the calling thread uses the given instance, or the CPU's best below it (a negative value: the best
// again); returns the one it uses.
int ck_shard_kernels_use(int wanted) {
    forced_instance = -1;
    int best = instance();
    forced_instance = wanted < 0 ? -1 : wanted < best ? wanted : best;
    return instance();
}
