/* kern_wq.c - weights in their storage format and the products that
 * dequantise them as they stream; see kern_wq.h.
 *
 * Decoding is bit arithmetic, vectorisable without intrinsics (the hot
 * loops are built for AVX2 and for the x86-64 baseline and picked at load
 * time, as quant.c's are; the same bits either way: no sums are reordered):
 *  - bf16: the code is the float's top half;
 *  - fp16, fp8 e4m3 / e5m2: the code's exponent and mantissa fields shifted
 *    into a float's are the float with exponent bias 127 instead of the
 *    code's, so one multiply by 2^(127 - bias) gives the value exactly (a
 *    subnormal code lands on a float subnormal);
 *  - fp4 e2m1: ((c & 7) << 22) + 0x3f000000 is the float of every normal
 *    code (exponent field e >= 1: 2^(e-1) (1 + m/2)), 0.5 and 0 the two
 *    subnormal ones (chosen by compares: no float subnormal in the loop);
 *  - int8 / int4: the sign-extended integer.
 * A value times its block scale is then rounded once to float, as
 * quant_decode rounds it. */
#include "kern_wq.h"
#include "kern.h"
#include "quant.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define WQ_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WQ_CLONES
#endif

static u64 ceil_div(u64 a, u64 b) { return a / b + (a % b != 0); }

static int wq_check(const fmt *f, sim_err *e)
{
    if (f->n_parts != 1 || f->pad_bytes || f->align_bytes > 1)
        return sim_fail(e, SIM_EINVAL, "weight format '%s': the kernels hold weights in one-part formats without padding",
                        f->name);
    dtype dt = f->part[0].dt;
    if (dt == DT_UE8M0) return sim_fail(e, SIM_EINVAL, "weight format '%s': ue8m0 elements are a scale dtype", f->name);
    return SIM_OK;
}

/* The adapting one-part format of f (its dtype and block scales). */
static void wq_fmt(const fmt *f, fmt *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", f->name);
    out->n_parts = 1;
    out->part[0] = f->part[0];
    out->part[0].elements = 0;
}

u64 kern_wq_bytes(const fmt *f, u64 n, sim_err *e)
{
    if (wq_check(f, e)) return 0;
    fmt a;
    wq_fmt(f, &a);
    u64 b = 0;
    if (fmt_entry_bytes(&a, n, &b, e)) return 0;
    return b;
}

int kern_wq_init(kern_wq *w, const fmt *f, u64 n, sim_err *e)
{
    memset(w, 0, sizeof *w);
    int rc = wq_check(f, e);
    if (rc) return rc;
    wq_fmt(f, &w->f);
    if ((rc = fmt_entry_bytes(&w->f, n, &w->bytes, e))) return rc;
    const fmt_part *p = &w->f.part[0];
    w->dt = p->dt;
    w->bits = dtype_table[p->dt].bits;
    w->scaled = p->scaled;
    w->sdt = p->scale_dt;
    w->sbits = p->scaled ? dtype_table[p->scale_dt].bits : 0;
    w->block = p->scaled ? p->block : 0;
    w->n = n;
    w->codes = calloc(w->bytes ? w->bytes : 1, 1);
    if (!w->codes) return sim_fail(e, SIM_ENOMEM, "out of memory");
    w->scales = p->scaled ? w->codes + ceil_div(n * w->bits, 8) : NULL;
    return SIM_OK;
}

void kern_wq_free(kern_wq *w)
{
    free(w->codes);
    memset(w, 0, sizeof *w);
}

void kern_wq_encode(kern_wq *w, const float *x)
{
    quant_encode(&w->f, x, w->n, w->codes);
}

u64 kern_wq_piece(const kern_wq *w)
{
    if (w->scaled && w->sbits % 8) return 0;
    u64 b = w->scaled ? w->block : 1;
    if (b % 2) b *= 2;   /* 4-bit codes: whole bytes */
    return ceil_div(65536, b) * b;
}

void kern_wq_encode_at(kern_wq *w, u64 i0, u64 m, const float *x, uint8_t *tmp)
{
    u64 eb = 0;
    sim_err e;
    if (fmt_entry_bytes(&w->f, m, &eb, &e)) return;
    quant_encode(&w->f, x, m, tmp);
    u64 cb = ceil_div(m * w->bits, 8);
    memcpy(w->codes + i0 * w->bits / 8, tmp, cb);
    if (w->scaled) memcpy(w->scales + i0 / w->block * (w->sbits / 8), tmp + cb, eb - cb);
}

/* ---- decoding ------------------------------------------------------------- */

/* Block scale bi as a float (every scale dtype's values are floats). */
static inline __attribute__((always_inline)) float scale_at(const kern_wq *w, u64 bi)
{
    const uint8_t *s = w->scales;
    union { uint32_t u; float f; } b;
    switch (w->sdt) {
    case DT_UE8M0:
        b.u = s[bi] ? (uint32_t)s[bi] << 23 : 0x00400000u;   /* 2^(c-127); c = 0: 2^-127, a float subnormal */
        return b.f;
    case DT_FP32: memcpy(&b.u, s + 4 * bi, 4); return b.f;
    case DT_BF16: b.u = (uint32_t)(s[2 * bi] | s[2 * bi + 1] << 8) << 16; return b.f;
    default: {
        /* Any other scale dtype: quant_decode of the one code. */
        uint8_t tmp[4] = {0};
        unsigned sb = w->sbits;
        if (sb == 4) tmp[0] = (uint8_t)(s[bi / 2] >> (bi % 2 * 4) & 15u);
        else memcpy(tmp, s + bi * sb / 8, sb / 8);
        fmt sf;
        fmt_from_dtype(&sf, w->sdt);
        float v;
        quant_decode(&sf, tmp, 1, &v);
        return v;
    }
    }
}

/* Element codes a .. b-1 to values times fs into y[0 .. b-a), rounded once. */
static inline __attribute__((always_inline)) void dec_codes(const kern_wq *w, u64 a, u64 b, float fs, float *y)
{
    const uint8_t *in = w->codes;
    u64 n = b - a;
    switch (w->dt) {
    case DT_BF16:
        if (fs == 1.0f) {
#pragma omp simd
            for (u64 j = 0; j < n; j++) {
                union { uint32_t u; float f; } v = {(uint32_t)(in[2 * (a + j)] | in[2 * (a + j) + 1] << 8) << 16};
                y[j] = v.f;
            }
        } else {
#pragma omp simd
            for (u64 j = 0; j < n; j++) {
                union { uint32_t u; float f; } v = {(uint32_t)(in[2 * (a + j)] | in[2 * (a + j) + 1] << 8) << 16};
                y[j] = v.f * fs;
            }
        }
        return;
    case DT_FP16: {
        const float rb = 0x1p112f;   /* 2^(127 - 15) */
#pragma omp simd
        for (u64 j = 0; j < n; j++) {
            uint32_t c = (uint32_t)(in[2 * (a + j)] | in[2 * (a + j) + 1] << 8);
            union { uint32_t u; float f; } v = {(c & 0x7fffu) << 13 | (c >> 15) << 31};
            y[j] = v.f * rb * fs;
        }
        return;
    }
    case DT_FP8_E4M3:
    case DT_FP8_E5M2: {
        uint32_t sh = w->dt == DT_FP8_E4M3 ? 20 : 21;
        const float rb = w->dt == DT_FP8_E4M3 ? 0x1p120f : 0x1p112f;   /* 2^(127 - 7), 2^(127 - 15) */
#pragma omp simd
        for (u64 j = 0; j < n; j++) {
            uint32_t c = in[a + j];
            union { uint32_t u; float f; } v = {(c & 0x7fu) << sh | (c >> 7) << 31};
            y[j] = v.f * rb * fs;
        }
        return;
    }
    case DT_INT8:
#pragma omp simd
        for (u64 j = 0; j < n; j++) y[j] = (float)(int8_t)in[a + j] * fs;
        return;
    case DT_FP4_E2M1:
    case DT_INT4: {
        bool fp4 = w->dt == DT_FP4_E2M1;
        u64 j = 0;
        if (a % 2 && n) {   /* a leading high nibble */
            uint32_t c = in[a / 2] >> 4;
            union { uint32_t u; float f; } v = {((c & 7u) << 22) + 0x3f000000u};
            if (fp4) { if ((c & 6u) == 0) v.u = (c & 1u) ? 0x3f000000u : 0; v.u |= (c & 8u) << 28; y[0] = v.f * fs; }
            else y[0] = (float)(c >= 8 ? (int)c - 16 : (int)c) * fs;
            j = 1;
        }
        const uint8_t *p = in + (a + j) / 2;
        u64 pairs = (n - j) / 2;
        float *o = y + j;
        if (fp4) {
#pragma omp simd
            for (u64 q = 0; q < pairs; q++) {
                uint32_t lo = p[q] & 15u, hi = (uint32_t)p[q] >> 4;
                uint32_t bl = (lo & 6u) ? ((lo & 7u) << 22) + 0x3f000000u : ((lo & 1u) ? 0x3f000000u : 0u);
                uint32_t bh = (hi & 6u) ? ((hi & 7u) << 22) + 0x3f000000u : ((hi & 1u) ? 0x3f000000u : 0u);
                union { uint32_t u; float f; } vl = {bl | (lo & 8u) << 28}, vh = {bh | (hi & 8u) << 28};
                o[2 * q] = vl.f * fs;
                o[2 * q + 1] = vh.f * fs;
            }
        } else {
#pragma omp simd
            for (u64 q = 0; q < pairs; q++) {
                int lo = p[q] & 15, hi = p[q] >> 4;
                o[2 * q] = (float)(lo - ((lo & 8) << 1)) * fs;
                o[2 * q + 1] = (float)(hi - ((hi & 8) << 1)) * fs;
            }
        }
        j += 2 * pairs;
        if (j < n) {   /* a trailing low nibble */
            uint32_t c = in[(a + j) / 2] & 15u;
            union { uint32_t u; float f; } v = {((c & 7u) << 22) + 0x3f000000u};
            if (fp4) { if ((c & 6u) == 0) v.u = (c & 1u) ? 0x3f000000u : 0; v.u |= (c & 8u) << 28; y[j] = v.f * fs; }
            else y[j] = (float)(c >= 8 ? (int)c - 16 : (int)c) * fs;
        }
        return;
    }
    case DT_FP32:
    case DT_TF32:
    default:   /* fp32 / tf32: the float's bits */
        for (u64 j = 0; j < n; j++) {
            float v;
            memcpy(&v, in + 4 * (a + j), 4);
            y[j] = fs == 1.0f ? v : v * fs;
        }
        return;
    }
}

/* Elements i0 .. i0+n-1 into y, block by block (built per target: the
 * element loops are inlined here). */
WQ_CLONES
static void dec_run(const kern_wq *w, u64 i0, u64 n, float *y)
{
    u64 i = i0, end = i0 + n;
    if (!w->scaled) {
        dec_codes(w, i0, end, 1.0f, y);
        return;
    }
    while (i < end) {
        u64 bi = i / w->block, stop = (bi + 1) * w->block;
        if (stop > end) stop = end;
        dec_codes(w, i, stop, scale_at(w, bi), y + (i - i0));
        i = stop;
    }
}

void kern_wq_decode(const kern_wq *w, u64 i0, u64 n, float *y)
{
    assert(i0 + n <= w->n);
    dec_run(w, i0, n, y);
}

/* ---- products --------------------------------------------------------------- */

/* B[k, j] = element b0 + k sk + j sj of w, with sk = 1 (B's columns are
 * contiguous runs of the storage: a weight held [out, in], as Linear layers
 * hold them) or sj = 1 (its rows are: [in, out], an embedding table used
 * transposed). */

#define WQ_CW 512          /* axpy form: columns of a chunk (its sums stay in L1) */
#define WQ_KC 1024         /* dot form: elements decoded at a time */
#define WQ_PANEL (1u << 18)   /* floats of a decoded panel (1 MiB) */
#define WQ_GEMV_ROWS 4     /* as kern_matmul: fewer rows run as matrix-vector products */
#define WQ_ROWS 256        /* rows of an sgemm call on few panels (kern_matmul's MM_ROWS: packing a panel per call stays a few percent) */
#define WQ_FEW 8           /* fewer panels than this: rows split over the threads too */

/* The dot form's partial sums: lane k mod WQ_LANES, four 8-float vectors
 * (four independent chains of adds: one chain was a latency bound of 8
 * elements per add, 1 byte per cycle for fp4), combined lane by lane as
 * (v0 + v1) + (v2 + v3), then the 8 lanes pairwise. */
#define WQ_LANES 32
#define WQ_PF 1024   /* software prefetch distance of the AVX2 dots, bytes */
static inline float lanes_sum(const float *s)
{
    float t[8];
    for (int l = 0; l < 8; l++) t[l] = (s[l] + s[l + 8]) + (s[l + 16] + s[l + 24]);
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

/* Dot form without the decode buffer: sum_k x[k] E[i0 + k] with the lanes
 * and order of dot_run (lane k mod WQ_LANES), the same values (each element is
 * decoded to its value times its block scale, rounded once, then
 * multiplied), so the same bits. Possible when every block starts at a
 * multiple of 8 from i0 (or the format has no blocks); false otherwise. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
static bool have_avx512(void)
{
    static int have = -1;
    if (have < 0) have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi") && !getenv("KVSIM_NO_AVX512") ? 1 : 0;
    return have;
}
/* scale_at for a ue8m0 scale (the fp4 paths' only scale dtype), without
 * its switch: the same float. */
static inline __attribute__((always_inline)) float ue8m0_at(const kern_wq *w, u64 bi)
{
    union { uint32_t u; float f; } b;
    uint8_t c = w->scales[bi];
    b.u = c ? (uint32_t)c << 23 : 0x00400000u;
    return b.f;
}
/* mxfp4 and fp4 on AVX2: 32 codes at a time through a byte shuffle (the
 * doubled values 0, 1, 2, 3, 4, 6, 8, 12 and their negatives are small
 * integers), times half the scale: (2v)(s/2) is v s exactly, rounded once.
 * Code 8 (-0) gives +0: x (+0) and x (-0) add the same to a sum that
 * starts at +0. Needs K and every block a multiple of 32 from i0. */
__attribute__((target("avx2")))
static void fp4_dot_avx2(const kern_wq *w, u64 i0, u64 K, const float *x, float *s32)
{
    const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i lo4 = _mm_set1_epi8(15);
    __m256 s0 = _mm256_loadu_ps(s32), s1 = _mm256_loadu_ps(s32 + 8), s2 = _mm256_loadu_ps(s32 + 16),
           s3 = _mm256_loadu_ps(s32 + 24);
    u64 bl = w->scaled ? w->block : K ? K : 1, bi = i0 / bl, stop = (bi + 1) * bl - i0;
    for (u64 k = 0; k < K; bi++, stop += bl) {
        if (stop > K) stop = K;
        __m256 vm = _mm256_set1_ps(0.5f * (w->scaled ? ue8m0_at(w, bi) : 1.0f));
        for (; k < stop; k += 32) {
            /* the codes WQ_PF bytes ahead (this row's or the next's: a
             * thread's dots are consecutive rows): one core's misses in
             * flight, not the bandwidth, bounded a lone stream */
            _mm_prefetch((const char *)(w->codes + (i0 + k) / 2 + WQ_PF), _MM_HINT_T0);
            __m128i b = _mm_loadu_si128((const __m128i *)(w->codes + (i0 + k) / 2));
            __m128i lo = _mm_and_si128(b, lo4), hi = _mm_and_si128(_mm_srli_epi16(b, 4), lo4);
            __m128i vl = _mm_shuffle_epi8(lut, lo), vh = _mm_shuffle_epi8(lut, hi);
            __m128i e0 = _mm_unpacklo_epi8(vl, vh), e1 = _mm_unpackhi_epi8(vl, vh);   /* elements 0-15, 16-31 */
            __m256 w0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e0)), vm);
            __m256 w1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(e0, 8))), vm);
            __m256 w2 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e1)), vm);
            __m256 w3 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(e1, 8))), vm);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(x + k), w0));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(_mm256_loadu_ps(x + k + 8), w1));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(_mm256_loadu_ps(x + k + 16), w2));
            s3 = _mm256_add_ps(s3, _mm256_mul_ps(_mm256_loadu_ps(x + k + 24), w3));
        }
    }
    _mm256_storeu_ps(s32, s0);
    _mm256_storeu_ps(s32 + 8, s1);
    _mm256_storeu_ps(s32 + 16, s2);
    _mm256_storeu_ps(s32 + 24, s3);
}
/* 32 codes at c against x[0 .. 32) into s0 (elements 0-15) and s1 (16-31),
 * tab the block's 16 values: byte 0 of dword lane l takes the 8 bits from
 * bit 4 l of its qword (the 8 code bytes broadcast), so nibble l sits in
 * its low 4 bits, which is all vpermps reads. */
__attribute__((target("avx512f,avx512vbmi"))) static inline __attribute__((always_inline)) void
fp4_step512(const uint8_t *c, const float *x, __m512 tab, __m512 *s0, __m512 *s1)
{
    const __m512i ctl = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60);
    _mm_prefetch((const char *)(c + WQ_PF), _MM_HINT_T0);
    uint64_t q0, q1;
    memcpy(&q0, c, 8);
    memcpy(&q1, c + 8, 8);
    __m512i i0v = _mm512_multishift_epi64_epi8(ctl, _mm512_set1_epi64((long long)q0));
    __m512i i1v = _mm512_multishift_epi64_epi8(ctl, _mm512_set1_epi64((long long)q1));
    *s0 = _mm512_add_ps(*s0, _mm512_mul_ps(_mm512_loadu_ps(x), _mm512_permutexvar_ps(i0v, tab)));
    *s1 = _mm512_add_ps(*s1, _mm512_mul_ps(_mm512_loadu_ps(x + 16), _mm512_permutexvar_ps(i1v, tab)));
}

/* mxfp4 and fp4 on AVX-512 (with VBMI): 32 codes at a time (fp4_step512),
 * the 16 values times half the block scale as a 16-float table ((2v)(s/2):
 * the AVX2 path's values, computed the same way), each element's value the
 * entry its nibble picks; elements k .. k+15 in one vector, k+16 .. k+31 in
 * the other, so lane k mod 32 and the multiply-then-add of fp4_dot_avx2:
 * the same bits in half the instructions (the AVX2 path's byte shuffles and
 * int-to-float conversions bounded it at about 8 GB/s a core). Needs what
 * fp4_dot_avx2 needs. */
__attribute__((target("avx512f,avx512vbmi")))
static void fp4_dot_avx512(const kern_wq *w, u64 i0, u64 K, const float *x, float *s32)
{
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    __m512 s0 = _mm512_loadu_ps(s32), s1 = _mm512_loadu_ps(s32 + 16);
    if (w->scaled && w->block == 32) {
        /* mxfp4: one block per 32 codes, no stop to track */
        for (u64 b = 0; b < K / 32; b++) {
            __m512 tab = _mm512_mul_ps(lut, _mm512_set1_ps(0.5f * ue8m0_at(w, i0 / 32 + b)));
            fp4_step512(w->codes + i0 / 2 + 16 * b, x + 32 * b, tab, &s0, &s1);
        }
    } else {
        u64 bl = w->scaled ? w->block : K ? K : 1, bi = i0 / bl, stop = (bi + 1) * bl - i0;
        for (u64 k = 0; k < K; bi++, stop += bl) {
            if (stop > K) stop = K;
            __m512 tab = _mm512_mul_ps(lut, _mm512_set1_ps(0.5f * (w->scaled ? ue8m0_at(w, bi) : 1.0f)));
            for (; k < stop; k += 32) fp4_step512(w->codes + (i0 + k) / 2, x + k, tab, &s0, &s1);
        }
    }
    _mm512_storeu_ps(s32, s0);
    _mm512_storeu_ps(s32 + 16, s1);
}
/* fp8 (e4m3 / e5m2), bf16 and int8 on AVX2: 8 codes at a time widened to
 * 32-bit lanes, turned into their values as dec_codes does (fp8: the fields
 * shifted into a float's, times 2^(127 - bias) and the block scale fs in one
 * multiply by their product, which is exact: a power of two times a float
 * that neither overflows nor underflows, checked per block - the product
 * v (2^(127-b) fs) is then the same real number as (v 2^(127-b)) fs, rounded
 * once), multiplied by x and added into lane k mod WQ_LANES, the
 * order dot_fused's loops use: the same bits. Needs every block a multiple
 * of 8 from i0 (dot_fused checks); does K rounded down to 8, returns it. */
/* The weights of elements e .. e+7 of the codes c (dtype dt), times x[0 .. 8). */
__attribute__((target("avx2"), always_inline))
static inline __m256 byte_term(dtype dt, const uint8_t *c, u64 e, const float *x, bool one, bool fold, __m256 vf,
                               __m256 vr, __m256 vs, __m128i sh)
{
    __m256 wv;
    if (dt == DT_BF16) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(c + 2 * e)));
        wv = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        if (!one) wv = _mm256_mul_ps(wv, vs);
    } else if (dt == DT_INT8) {
        __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + e)));
        wv = _mm256_mul_ps(_mm256_cvtepi32_ps(v), vs);
    } else {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + e)));
        __m256i mag = _mm256_sll_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)), sh);
        __m256i sgn = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x80)), 24);
        wv = _mm256_castsi256_ps(_mm256_or_si256(mag, sgn));
        wv = fold ? _mm256_mul_ps(wv, vf) : _mm256_mul_ps(_mm256_mul_ps(wv, vr), vs);
    }
    return _mm256_mul_ps(_mm256_loadu_ps(x), wv);
}

__attribute__((target("avx2")))
static u64 byte_dot_avx2(const kern_wq *w, u64 i0, u64 K, const float *x, float *s32)
{
    __m256 a0 = _mm256_loadu_ps(s32), a1 = _mm256_loadu_ps(s32 + 8), a2 = _mm256_loadu_ps(s32 + 16),
           a3 = _mm256_loadu_ps(s32 + 24);
    u64 K8 = K / 8 * 8, bl = w->scaled ? w->block : K8 ? K8 : 1, bi = i0 / bl, stop = (bi + 1) * bl - i0;
    const __m128i sh = _mm_cvtsi32_si128(w->dt == DT_FP8_E5M2 ? 21 : 20);
    const float rb = w->dt == DT_FP8_E5M2 ? 0x1p112f : 0x1p120f;
    const uint8_t *c = w->codes;
    for (u64 k = 0; k < K8; bi++, stop += bl) {
        if (stop > K8) stop = K8;
        float fs = w->scaled ? scale_at(w, bi) : 1.0f;
        float f = rb * fs;
        /* one multiply by rb fs when that product is exact, else dec_codes'
         * two: rb is a power of two at least 1, so rb fs is exact unless it
         * overflows; a normal float (the range test) is exact */
        bool fold = f >= 0x1p-126f && f <= 0x1p127f, one = fs == 1.0f;
        const __m256 vf = _mm256_set1_ps(f), vr = _mm256_set1_ps(rb), vs = _mm256_set1_ps(fs);
        /* the weights of elements k .. k+7, times x */
        /* 8 at a time into the vector of lanes k mod 32 up to a multiple
         * of 32, then 32 at a time into all four, then the rest */
        for (; k < stop && (k & 31); k += 8) {
            __m256 t = byte_term(w->dt, c, i0 + k, x + k, one, fold, vf, vr, vs, sh);
            switch (k >> 3 & 3) {
            case 1: a1 = _mm256_add_ps(a1, t); break;
            case 2: a2 = _mm256_add_ps(a2, t); break;
            default: a3 = _mm256_add_ps(a3, t); break;
            }
        }
        for (; k + 32 <= stop; k += 32) {
            _mm_prefetch((const char *)(c + (i0 + k) * (w->dt == DT_BF16 ? 2 : 1) + WQ_PF), _MM_HINT_T0);
            a0 = _mm256_add_ps(a0, byte_term(w->dt, c, i0 + k, x + k, one, fold, vf, vr, vs, sh));
            a1 = _mm256_add_ps(a1, byte_term(w->dt, c, i0 + k + 8, x + k + 8, one, fold, vf, vr, vs, sh));
            a2 = _mm256_add_ps(a2, byte_term(w->dt, c, i0 + k + 16, x + k + 16, one, fold, vf, vr, vs, sh));
            a3 = _mm256_add_ps(a3, byte_term(w->dt, c, i0 + k + 24, x + k + 24, one, fold, vf, vr, vs, sh));
        }
        for (; k < stop; k += 8) {
            __m256 t = byte_term(w->dt, c, i0 + k, x + k, one, fold, vf, vr, vs, sh);
            switch (k >> 3 & 3) {
            case 0: a0 = _mm256_add_ps(a0, t); break;
            case 1: a1 = _mm256_add_ps(a1, t); break;
            default: a2 = _mm256_add_ps(a2, t); break;
            }
        }
    }
    _mm256_storeu_ps(s32, a0);
    _mm256_storeu_ps(s32 + 8, a1);
    _mm256_storeu_ps(s32 + 16, a2);
    _mm256_storeu_ps(s32 + 24, a3);
    return K8;
}
/* fp8 (e4m3 / e5m2) and bf16 on AVX-512 (with VBMI), 16 codes at a time:
 * one byte permute puts each code in the top byte(s) of its 32-bit lane
 * (bf16: that is the float; fp8: an arithmetic shift right by 4 (e4m3) or
 * 3 (e5m2) and a mask then give byte_term's sign and fields), then
 * byte_term's multiplies and the add into lane k mod 32 (elements with k mod
 * 32 < 16 in the first vector, the rest in the second): the same bits as
 * byte_dot_avx2 with half the instructions. Needs K and every block a
 * multiple of 16 from i0 (byte_avx512_ok). */
__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static void byte_dot_avx512(const kern_wq *w, u64 i0, u64 K, const float *x, float *s32)
{
    __m512 a0 = _mm512_loadu_ps(s32), a1 = _mm512_loadu_ps(s32 + 16);
    bool bf = w->dt == DT_BF16;
    u64 bl = w->scaled ? w->block : K ? K : 1, bi = i0 / bl, stop = (bi + 1) * bl - i0;
    const float rb = w->dt == DT_FP8_E5M2 ? 0x1p112f : 0x1p120f;
    const __m512i fields = _mm512_set1_epi32(w->dt == DT_FP8_E5M2 ? (int)0x8fe00000u : (int)0x87f00000u);
    const unsigned sra = w->dt == DT_FP8_E5M2 ? 3 : 4;
    /* byte 4j+3 of the result is code byte j (fp8); bytes 4j+2, 4j+3 are
     * bytes 2j, 2j+1 (bf16); the other bytes zero */
    __m512i idx;
    __mmask64 keep;
    {
        uint8_t ib[64] = {0};
        for (int j = 0; j < 16; j++) {
            ib[4 * j + 3] = (uint8_t)(bf ? 2 * j + 1 : j);
            ib[4 * j + 2] = (uint8_t)(2 * j);
        }
        idx = _mm512_loadu_si512(ib);
        keep = bf ? 0xccccccccccccccccull : 0x8888888888888888ull;
    }
    const uint8_t *c = w->codes;
    for (u64 k = 0; k < K; bi++, stop += bl) {
        if (stop > K) stop = K;
        float fs = w->scaled ? scale_at(w, bi) : 1.0f, f = rb * fs;
        bool fold = f >= 0x1p-126f && f <= 0x1p127f, one = fs == 1.0f;   /* as byte_dot_avx2 */
        const __m512 vf = _mm512_set1_ps(f), vr = _mm512_set1_ps(rb), vs = _mm512_set1_ps(fs);
        for (; k < stop; k += 16) {
            const uint8_t *p = c + (i0 + k) * (bf ? 2 : 1);
            _mm_prefetch((const char *)(p + WQ_PF), _MM_HINT_T0);
            __m512i raw = bf ? _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p))
                             : _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
            __m512i v = _mm512_maskz_permutexvar_epi8(keep, idx, raw);
            __m512 wv;
            if (bf) wv = one ? _mm512_castsi512_ps(v) : _mm512_mul_ps(_mm512_castsi512_ps(v), vs);
            else {
                wv = _mm512_castsi512_ps(_mm512_and_si512(_mm512_srai_epi32(v, sra), fields));
                wv = fold ? _mm512_mul_ps(wv, vf) : _mm512_mul_ps(_mm512_mul_ps(wv, vr), vs);
            }
            __m512 t = _mm512_mul_ps(_mm512_loadu_ps(x + k), wv);
            if (k & 16) a1 = _mm512_add_ps(a1, t);
            else a0 = _mm512_add_ps(a0, t);
        }
    }
    _mm512_storeu_ps(s32, a0);
    _mm512_storeu_ps(s32 + 16, a1);
}
static bool byte_avx512_ok(const kern_wq *w, u64 i0, u64 K)
{
    if (!have_avx512() || !(w->dt == DT_FP8_E4M3 || w->dt == DT_FP8_E5M2) || K % 16) return false;   /* bf16: AVX2 measured faster */
    return !w->scaled || (w->block % 16 == 0 && (i0 % w->block) % 16 == 0);
}
static bool byte_avx2_ok(const kern_wq *w)
{
    static int have = -1;
    if (have < 0) have = __builtin_cpu_supports("avx2") ? 1 : 0;
    return have && (w->dt == DT_FP8_E4M3 || w->dt == DT_FP8_E5M2 || w->dt == DT_BF16 || w->dt == DT_INT8);
}
static bool fp4_avx2_ok(const kern_wq *w, u64 i0, u64 K)
{
    static int have = -1;
    if (have < 0) have = __builtin_cpu_supports("avx2") ? 1 : 0;
    if (!have || w->dt != DT_FP4_E2M1 || K % 32 || i0 % 2) return false;
    if (!w->scaled) return true;
    /* ue8m0 scales: half of each is exact (2^-128 is a float subnormal). */
    return w->sdt == DT_UE8M0 && w->block % 32 == 0 && (i0 % w->block) % 32 == 0;
}
#endif

WQ_CLONES
static bool dot_fused(const kern_wq *w, u64 i0, u64 K, const float *x, float *out)
{
    if (w->scaled && (w->block % 8 || (i0 % w->block) % 8)) return false;
    if ((w->dt == DT_FP4_E2M1 || w->dt == DT_INT4) && i0 % 2) return false;
    float s[WQ_LANES] = {0};
    const uint8_t *in = w->codes;
#if defined(__x86_64__) && defined(__GNUC__)
    if (fp4_avx2_ok(w, i0, K)) {
        if (have_avx512()) fp4_dot_avx512(w, i0, K, x, s);
        else fp4_dot_avx2(w, i0, K, x, s);
        *out = lanes_sum(s);
        return true;
    }
    u64 k0 = 0;
    if (byte_avx512_ok(w, i0, K)) {
        byte_dot_avx512(w, i0, K, x, s);
        k0 = K;
    } else if (byte_avx2_ok(w))
        k0 = byte_dot_avx2(w, i0, K, x, s);
#else
    u64 k0 = 0;
#endif
    for (u64 k = k0; k < K;) {
        u64 stop = K;
        float fs = 1.0f;
        if (w->scaled) {
            u64 bi = (i0 + k) / w->block;
            stop = (bi + 1) * w->block - i0;
            if (stop > K) stop = K;
            fs = scale_at(w, bi);
        }
        u64 n8 = k + (stop - k) / 8 * 8;
        const float *xs = x;
        switch (w->dt) {
        case DT_BF16:
            if (fs == 1.0f) {
                for (; k < n8; k += 8)
#pragma omp simd
                    for (int l = 0; l < 8; l++) {
                        uint16_t c;
                        memcpy(&c, in + 2 * (i0 + k + l), 2);
                        union { uint32_t u; float f; } v = {(uint32_t)c << 16};
                        s[k % WQ_LANES + l] = s[k % WQ_LANES + l] + xs[k + l] * v.f;
                    }
            } else {
                for (; k < n8; k += 8)
#pragma omp simd
                    for (int l = 0; l < 8; l++) {
                        uint16_t c;
                        memcpy(&c, in + 2 * (i0 + k + l), 2);
                        union { uint32_t u; float f; } v = {(uint32_t)c << 16};
                        s[k % WQ_LANES + l] = s[k % WQ_LANES + l] + xs[k + l] * (v.f * fs);
                    }
            }
            break;
        case DT_FP8_E4M3:
        case DT_FP8_E5M2: {
            uint32_t sh = w->dt == DT_FP8_E4M3 ? 20 : 21;
            const float rb = w->dt == DT_FP8_E4M3 ? 0x1p120f : 0x1p112f;
            for (; k < n8; k += 8)
#pragma omp simd
                for (int l = 0; l < 8; l++) {
                    uint32_t c = in[i0 + k + l];
                    union { uint32_t u; float f; } v = {(c & 0x7fu) << sh | (c >> 7) << 31};
                    s[k % WQ_LANES + l] = s[k % WQ_LANES + l] + xs[k + l] * (v.f * rb * fs);
                }
            break;
        }
        case DT_INT8:
            for (; k < n8; k += 8)
#pragma omp simd
                for (int l = 0; l < 8; l++)
                    s[k % WQ_LANES + l] = s[k % WQ_LANES + l] + xs[k + l] * ((float)(int8_t)in[i0 + k + l] * fs);
            break;
        default:
            break;   /* the rest: element by element below */
        }
        /* What is left of the segment (its tail, or all of it for the other
         * dtypes): decoded a piece at a time, same lanes. */
        while (k < stop) {
            float t[64];
            u64 m = stop - k < 64 ? stop - k : 64;
            dec_codes(w, i0 + k, i0 + k + m, fs, t);
            for (u64 j = 0; j < m; j++) s[(k + j) % WQ_LANES] = s[(k + j) % WQ_LANES] + xs[k + j] * t[j];
            k += m;
        }
    }
    *out = lanes_sum(s);
    return true;
}

/* Dot form: out = sum_k x[k] E[i0 + k], with WQ_LANES partial sums (lane
 * k mod WQ_LANES) combined by lanes_sum. */
WQ_CLONES
static float dot_run(const kern_wq *w, u64 i0, u64 K, const float *x)
{
    float t[WQ_KC], s[WQ_LANES] = {0}, v;
    if (dot_fused(w, i0, K, x, &v)) return v;
    for (u64 k0 = 0; k0 < K; k0 += WQ_KC) {
        u64 kc = K - k0 < WQ_KC ? K - k0 : WQ_KC;
        dec_run(w, i0 + k0, kc, t);
        u64 k8 = kc / 8 * 8;
        const float *xs = x + k0;
        for (u64 k = 0; k < k8; k += 8)
#pragma omp simd
            for (int l = 0; l < 8; l++) s[k % WQ_LANES + l] = s[k % WQ_LANES + l] + xs[k + l] * t[k + l];
        for (u64 k = k8; k < kc; k++) s[k % WQ_LANES] = s[k % WQ_LANES] + xs[k] * t[k];
    }
    return lanes_sum(s);
}

/* acc[j] += x[r] t[r][j] for the kb rows r in order, j < n. */
WQ_CLONES
static void axpy4(u64 n, u64 kb, const float *xs, float (*t)[WQ_CW], float *acc)
{
    if (kb == 4) {
        float x0 = xs[0], x1 = xs[1], x2 = xs[2], x3 = xs[3];
#pragma omp simd
        for (u64 j = 0; j < n; j++) {
            float s = acc[j];
            s = s + x0 * t[0][j];
            s = s + x1 * t[1][j];
            s = s + x2 * t[2][j];
            s = s + x3 * t[3][j];
            acc[j] = s;
        }
        return;
    }
    for (u64 r = 0; r < kb; r++) {
        float x0 = xs[r];
#pragma omp simd
        for (u64 j = 0; j < n; j++) acc[j] = acc[j] + x0 * t[r][j];
    }
}

/* Axpy form: out[0 .. nc) = sum_k x[k] E[i0 + k sk + j], in k order. */
static void axpy_chunk(const kern_wq *w, u64 i0, u64 sk, u64 K, const float *x, u64 nc, float *out)
{
    float t[4][WQ_CW], xs[4];
    memset(out, 0, nc * sizeof *out);
    for (u64 k = 0; k < K; k += 4) {
        u64 kb = K - k < 4 ? K - k : 4;
        for (u64 r = 0; r < kb; r++) {
            dec_run(w, i0 + (k + r) * sk, nc, t[r]);
            xs[r] = x[k + r];
        }
        axpy4(nc, kb, xs, t, out);
    }
}

static bool par_ok(double work)
{
#ifdef _OPENMP
    return work >= 65536.0 && !omp_in_parallel();
#else
    (void)work;
    return false;
#endif
}

/* y[N] (+)= x[K] . B: one row of a product. */
static void gemv(const kern_wq *w, u64 N, u64 K, const float *x, u64 b0, u64 sk, u64 sj, float *y, bool acc)
{
    bool par = par_ok((double)N * (double)K);
    (void)par;
    if (sk == 1) {
#pragma omp parallel for schedule(static) if (par)
        for (u64 j = 0; j < N; j++) {
            float v = dot_run(w, b0 + j * sj, K, x);
            y[j] = acc ? y[j] + v : v;
        }
        return;
    }
    u64 nch = ceil_div(N, WQ_CW);
#pragma omp parallel for schedule(static) if (par)
    for (u64 c = 0; c < nch; c++) {
        u64 j0 = c * WQ_CW, nc = N - j0 < WQ_CW ? N - j0 : WQ_CW;
        float out[WQ_CW];
        axpy_chunk(w, b0 + j0, sk, K, x, nc, out);
        for (u64 j = 0; j < nc; j++) y[j0 + j] = acc ? y[j0 + j] + out[j] : out[j];
    }
}

/* Columns of B a decoded panel holds: WQ_PANEL floats' worth, at least
 * 16, at most N. */
static u64 wq_panel_cols(u64 N, u64 K)
{
    u64 nc = WQ_PANEL / K;
    if (nc < 16) nc = 16;
    return nc > N ? N : nc;
}

/* Panel p (of nc columns; the last one shorter) of B's N columns, decoded
 * to fp32 into P: [m, K] when B's columns are contiguous runs (sk = 1),
 * else [K, m]. */
static void wq_panel(const kern_wq *w, u64 b0, u64 sk, u64 sj, u64 K, u64 N, u64 nc, u64 p, float *P)
{
    u64 j0 = p * nc, m = N - j0 < nc ? N - j0 : nc;
    if (sk == 1)
        for (u64 j = 0; j < m; j++) dec_run(w, b0 + (j0 + j) * sj, K, P + j * K);
    else
        for (u64 k = 0; k < K; k++) dec_run(w, b0 + k * sk + j0, m, P + k * m);
}

/* C[:, panel p's columns] (+)= A P for M rows, P panel p of wq_panel. */
static void wq_panel_mm(u64 M, u64 K, u64 N, u64 nc, u64 p, const float *A, u64 lda, u64 sk, const float *P, float *C, u64 ldc,
                        bool accumulate)
{
    u64 j0 = p * nc, m = N - j0 < nc ? N - j0 : nc;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, sk == 1 ? CblasTrans : CblasNoTrans, (int)M, (int)m, (int)K, 1.0f, A, (int)lda, P,
                sk == 1 ? (int)K : (int)m, accumulate ? 1.0f : 0.0f, C + j0, (int)ldc);
}

u64 kern_wq_work(u64 M, u64 N, u64 K)
{
    if (M < WQ_GEMV_ROWS || kern_rowwise_on() || N == 0 || K == 0) return 0;
    u64 nc = wq_panel_cols(N, K), np = ceil_div(N, nc), t = (u64)kern_threads();
    return nc * K * (np < WQ_FEW && np > t ? np : t);   /* a panel per thread, or every panel when they are few */
}

void kern_wq_matmul(cost_t *c, flop_cat cat, dtype dt, u64 M, u64 N, u64 K, const float *A, u64 lda, const kern_wq *w,
                    u64 b0, u64 sk, u64 sj, float *C, u64 ldc, bool accumulate, float *work)
{
    kern_count(c, cat, dt, 2 * M * N * K);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!accumulate)
            for (u64 i = 0; i < M; i++) memset(C + i * ldc, 0, N * sizeof *C);
        return;
    }
    assert(sk == 1 || sj == 1);
    u64 need = kern_wq_work(M, N, K);
    if (!need || !work) {
        for (u64 i = 0; i < M; i++) gemv(w, N, K, A + i * lda, b0, sk, sj, C + i * ldc, accumulate);
        return;
    }
    /* Panels of nc columns of B, decoded to fp32 into work, each then
     * multiplied by sgemm (BLAS single-threaded inside, kern.h). Many
     * panels: one per thread at a time, in the thread's slot of work, the
     * sgemm over all M rows. Fewer than WQ_FEW (every small weight: N <=
     * nc is one panel): all of them decoded first, then a call per panel
     * and block of WQ_ROWS rows, so the threads all have work. Which form
     * and which calls follow from the shape alone, and BLAS sums a row of
     * a call the same way wherever it runs: the same bits on any number
     * of threads. */
    u64 nc = wq_panel_cols(N, K), np = ceil_div(N, nc);
    kern_blas_serial();
    /* Rows per call: WQ_ROWS, or fewer (a multiple of 16, at least 32)
     * when that leaves under 4 calls: DSA's absorbed projections run per
     * head on 256-query blocks (256 x 512 x 128, one panel), which would
     * otherwise be one call on one thread. */
    u64 rb = WQ_ROWS;
    if (np * ceil_div(M, rb) < 4) {
        rb = (ceil_div(M, ceil_div(4, np)) + 15) / 16 * 16;
        rb = rb < 32 ? 32 : rb;
    }
    u64 nrb = ceil_div(M, rb);
    bool few = np < WQ_FEW, par = (few ? np * nrb : np) > 1 && par_ok((double)M * (double)N * (double)K);
    (void)par;
    assert(M < (1u << 31) && nc < (1u << 31) && K < (1u << 31));
    if (!few) {
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (u64 p = 0; p < np; p++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            float *P = work + (u64)t * nc * K;
            wq_panel(w, b0, sk, sj, K, N, nc, p, P);
            wq_panel_mm(M, K, N, nc, p, A, lda, sk, P, C, ldc, accumulate);
        }
        return;
    }
#pragma omp parallel if (par)
    {
#pragma omp for schedule(static)
        for (u64 p = 0; p < np; p++) wq_panel(w, b0, sk, sj, K, N, nc, p, work + p * nc * K);
#pragma omp for schedule(static)
        for (u64 it = 0; it < np * nrb; it++) {
            u64 p = it / nrb, i0 = it % nrb * rb, mr = M - i0 < rb ? M - i0 : rb;
            wq_panel_mm(mr, K, N, nc, p, A + i0 * lda, lda, sk, work + p * nc * K, C + i0 * ldc, ldc, accumulate);
        }
    }
}
