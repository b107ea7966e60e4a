/* quant.c - storage-format codec for the reference kernels' caches; see quant.h.
 *
 * Minifloats (bf16, fp16, tf32, fp8, fp4) go through one routine driven by
 * (exponent bits, mantissa bits, bias, largest finite value): values are
 * computed in double, where every step below is exact (a float times a power
 * of two), so the only rounding is the one rint() performs (ties to even). */
#include "quant.h"
#include <math.h>
#include <string.h>
#include <assert.h>
#include <float.h>

typedef struct {
    int ebits, mbits, bias;
    double max;          /* largest finite value */
    bool is_int;         /* two's complement integer codes */
    bool is_pow2;        /* ue8m0: 2^(code - 127) */
} dt_codec;

static dt_codec codec_of(dtype dt)
{
    /* Literals (hex floats), not ldexp() calls: this runs once per part of
     * every row a kernel decodes. */
    switch (dt) {
    case DT_TF32:     return (dt_codec){8, 10, 127, 0x1.ffcp127, false, false};    /* (2 - 2^-10) 2^127 */
    case DT_BF16:     return (dt_codec){8, 7, 127, 0x1.fep127, false, false};      /* (2 - 2^-7) 2^127 */
    case DT_FP16:     return (dt_codec){5, 10, 15, 65504.0, false, false};
    case DT_FP8_E4M3: return (dt_codec){4, 3, 7, 448.0, false, false};       /* e4m3fn: no inf */
    case DT_FP8_E5M2: return (dt_codec){5, 2, 15, 57344.0, false, false};
    case DT_FP4_E2M1: return (dt_codec){2, 1, 1, 6.0, false, false};         /* no inf, no NaN */
    case DT_INT8:     return (dt_codec){0, 0, 0, 127.0, true, false};
    case DT_INT4:     return (dt_codec){0, 0, 0, 7.0, true, false};
    case DT_UE8M0:    return (dt_codec){8, 0, 127, 0x1p127, false, true};
    case DT_FP32:
    default:          return (dt_codec){8, 23, 127, FLT_MAX, false, false};
    }
}

double quant_max(dtype dt)
{
    return codec_of(dt).max;
}

/* floor(log2(a)) for a finite a > 0, and 2^k: exact bit arithmetic on
 * doubles (frexp/ldexp are the slow part of the codec otherwise). */
static inline int ilog2d(double a)
{
    uint64_t b;
    memcpy(&b, &a, 8);
    int e = (int)(b >> 52 & 0x7ff);
    if (e == 0) { int E; frexp(a, &E); return E - 1; }   /* subnormal double */
    return e - 1023;
}

static inline double pow2(int k)
{
    if (k < -1022 || k > 1023) return ldexp(1.0, k);
    uint64_t b = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* Encode x (saturating, ties to even); *val = the value the code stands for. */
static inline uint32_t enc(const dt_codec *p, unsigned bits, double x, double *val)
{
    if (isnan(x)) x = 0;
    if (p->is_int) {
        double r = rint(x < -p->max ? -p->max : x > p->max ? p->max : x);   /* clamp; x is not NaN */
        *val = r == 0 ? 0.0 : r;   /* integer codes have no -0 */
        return (uint32_t)(int32_t)r & (bits == 32 ? 0xffffffffu : (1u << bits) - 1);
    }
    if (p->is_pow2) {
        /* Unsigned powers of two: the nearest exponent in the log domain. */
        double a = fabs(x);
        int e = a > 0 ? (int)rint(log2(a)) : -127;
        if (e < -127) e = -127;
        if (e > 127) e = 127;
        *val = ldexp(1.0, e);
        return (uint32_t)(e + 127);
    }
    uint32_t s = signbit(x) ? 1u : 0u;
    double a = fabs(x), v = 0;
    if (a > p->max) a = p->max;   /* fmin() without the call (x is not NaN here) */
    uint32_t code = 0;
    if (a > 0) {
        int e = ilog2d(a), emin = 1 - p->bias;
        if (e < emin) e = emin;                                  /* subnormal range */
        /* a 2^(mbits-e) < 2^(mbits+1) <= 2^24: adding and removing 2^52
         * rounds it to an integer, ties to even (the one rounding). */
        double mi = (a * pow2(p->mbits - e) + 0x1p52) - 0x1p52;
        if (mi >= pow2(p->mbits + 1)) { e++; mi /= 2; }          /* carry into the next binade */
        v = mi * pow2(e - p->mbits);
        uint32_t M = (uint32_t)mi;
        if (M >= (1u << p->mbits)) code = ((uint32_t)(e + p->bias) << p->mbits) | (M - (1u << p->mbits));
        else code = M;                                           /* subnormal: exponent field 0 */
    }
    *val = s ? -v : v;
    return code | s << (p->ebits + p->mbits);
}

static double dec(const dt_codec *p, unsigned bits, uint32_t code)
{
    if (p->is_int) {
        int32_t v = (int32_t)(code << (32 - bits)) >> (32 - bits);   /* sign-extend */
        return v;
    }
    if (p->is_pow2) {   /* 2^(code - 127), code <= 255: a normal double's exponent field, no ldexp */
        uint64_t b = (uint64_t)(code + 896u) << 52;
        double v;
        memcpy(&v, &b, 8);
        return v;
    }
    uint32_t s = code >> (p->ebits + p->mbits) & 1u;
    uint32_t ef = code >> p->mbits & ((1u << p->ebits) - 1), M = code & ((1u << p->mbits) - 1);
    double v = ef == 0 ? M * pow2(1 - p->bias - p->mbits) : (M + (1u << p->mbits)) * pow2((int)ef - p->bias - p->mbits);
    return s ? -v : v;
}

/* The smallest representable value >= s > 0 (a block scale must not shrink). */
static uint32_t enc_scale(const dt_codec *p, unsigned bits, double s, double *val)
{
    uint32_t code = enc(p, bits, s, val);
    if (*val < s && *val < p->max) {
        code += 1;                        /* positive codes are ordered like their values */
        *val = dec(p, bits, code);
    }
    if (*val <= 0) { code = enc(p, bits, 1.0, val); }   /* unreachable for sane dtypes; keeps scales > 0 */
    return code;
}

/* 2^k as a float, k in [-149, 127] (subnormal below -126). */
static inline float pow2f(int k)
{
    union { uint32_t u; float f; } b;
    b.u = k >= -126 ? (uint32_t)(k + 127) << 23 : 1u << (k + 149);
    return b.f;
}

/* enc() in float for the 8- and 4-bit minifloats (fp8 e4m3/e5m2, fp4),
 * given xs = x / scale exactly (the caller divides by a power of two). Each
 * step is exact in float as it is in double - |xs| times a power of two,
 * the rounding to an integer by adding and removing 2^23 (the one
 * rounding, ties to even) - so the codes and values are enc()'s, several
 * times faster (V4's 584-byte rows round every window row of a prefill). */
static inline uint32_t enc_f(const dt_codec *p, float xs, float *val)
{
    union { float f; uint32_t u; } v = {xs};
    uint32_t sg = v.u >> 31, code = 0;
    if ((v.u & 0x7fffffffu) > 0x7f800000u) { sg = 0; xs = 0; }   /* NaN -> +0 */
    float a = fabsf(xs), mx = (float)p->max, vv = 0;
    if (a > mx) a = mx;
    if (a > 0) {
        union { float f; uint32_t u; } ab = {a};
        int e = (int)(ab.u >> 23) - 127, emin = 1 - p->bias;
        if (e < emin) e = emin;                                        /* subnormal range */
        float mi = (a * pow2f(p->mbits - e) + 0x1p23f) - 0x1p23f;
        if (mi >= pow2f(p->mbits + 1)) { e++; mi *= 0.5f; }            /* carry into the next binade */
        vv = mi * pow2f(e - p->mbits);
        uint32_t M = (uint32_t)mi;
        if (M >= (1u << p->mbits)) code = ((uint32_t)(e + p->bias) << p->mbits) | (M - (1u << p->mbits));
        else code = M;
    }
    *val = sg ? -vv : vv;
    return code | sg << (p->ebits + p->mbits);
}

static inline void put(uint8_t *b, u64 bitpos, unsigned bits, uint32_t code)
{
    if (bits == 4) { b[bitpos / 8] |= (uint8_t)((code & 15u) << (bitpos % 8)); return; }
    for (unsigned k = 0; k < bits / 8; k++) b[bitpos / 8 + k] = (uint8_t)(code >> (8 * k));
}

static uint32_t get(const uint8_t *b, u64 bitpos, unsigned bits)
{
    if (bits == 4) return (uint32_t)(b[bitpos / 8] >> (bitpos % 8)) & 15u;
    if (bits == 32) {   /* the bytes in order, little-endian (the loop below) */
        const uint8_t *q = b + bitpos / 8;
        return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    }
    uint32_t c = 0;
    for (unsigned k = 0; k < bits / 8; k++) c |= (uint32_t)b[bitpos / 8 + k] << (8 * k);
    return c;
}

static u64 ceil_div(u64 a, u64 b) { return a / b + (a % b != 0); }

/* The layout of one part of an entry of n elements (quant.h): its element
 * count, codecs and scale blocks, where its element codes, its block scales
 * and the next part start, and the index of its first element. The encoder
 * and the decoder walk an entry through part_next() alone. */
typedef struct {
    int pi;              /* part index; -1 before the first */
    const fmt_part *p;
    u64 pn;              /* elements in this part */
    u64 off;             /* index of its first element in the entry */
    unsigned bits, sbits;
    dt_codec ec, sc;
    u64 block, nblk;     /* elements per scale block (pn when unscaled), blocks */
    u64 byte;            /* first byte of the element codes */
    u64 scale_byte;      /* first byte of the block scales */
    u64 next_byte;       /* first byte of the next part */
} part_lay;

/* Advance L (start from {.pi = -1}) to the next part; false past the last. */
static bool part_next(const fmt *f, u64 n, part_lay *L)
{
    if (L->pi >= 0) { L->off += L->pn; L->byte = L->next_byte; }
    if (++L->pi >= f->n_parts) return false;
    const fmt_part *p = L->p = &f->part[L->pi];
    L->pn = fmt_elements(f) ? p->elements : n;
    L->bits = dtype_table[p->dt].bits;
    L->sbits = p->scaled ? dtype_table[p->scale_dt].bits : 0;
    L->ec = codec_of(p->dt);
    L->sc = codec_of(p->scale_dt);
    L->block = p->scaled ? p->block : (L->pn ? L->pn : 1);
    L->nblk = p->scaled ? ceil_div(L->pn, p->block) : 0;
    L->scale_byte = L->byte + ceil_div(L->pn * L->bits, 8);
    L->next_byte = L->scale_byte + ceil_div(L->nblk * L->sbits, 8);
    return true;
}

/* ---- the fast encoder ---------------------------------------------------------
 * Elements b0 .. b1-1 of a part (x, y: the part's first element), scale
 * already chosen: the codes and values enc() gives, without its per-element
 * branches, calls and put(). Each element is divided by the scale in double,
 * as the generic path divides it (the same quotient q, correctly rounded),
 * then rounded to the code by bit arithmetic on q:
 *  - minifloats (fp8 e4m3 / e5m2, fp4 e2m1, fp16): |q| clamped to the largest
 *    finite value (which is representable, so rounding never passes it);
 *    at or above 2^emin, the double's mantissa rounded to mbits bits, ties
 *    to even, by adding 2^(d-1) - 1 + (the kept LSB) and clearing the d
 *    dropped bits (a carry moves into the exponent: the next binade, as
 *    enc()'s mi >= 2^(mbits+1) case does); the code is the rounded double's
 *    bits shifted right by d, minus the exponent bias difference. Below
 *    2^emin, q 2^(mbits - emin) rounded to an integer by adding and removing
 *    2^52 (ties to even), which is the code (2^mbits: the smallest normal,
 *    code 2^mbits too). The sign bit is q's: -0 and negative values that
 *    round to zero keep it, as enc() keeps signbit(x).
 *  - int8 / int4: q clamped to +-max and rounded by adding and removing
 *    1.5 2^52 (ties to even, rint()'s rounding), two's complement code.
 * NaN elements (enc(): code +0) and the dtypes not listed go the generic
 * way (returns false; nothing written). tests/test_kern.c (codes) checks
 * every path against quant_encode_generic on dense random values and on the
 * neighbours of every tie point. */
#define ENC_CHUNK 256
static inline double dbits(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static inline uint64_t bitsd(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

/* One chunk of a minifloat with (ebits, bias, mbits) known at compile time
 * (so that the loop vectorises: constant shifts, no calls): the code of
 * x[j] / scale (x[j] 2^-k when the scale is 2^k), and its value times the
 * scale into y when WY. The subnormal code is the low bits of
 * q 2^(mbits - emin) + 2^52 (an integer below 2^52 sits in the mantissa). */
static inline __attribute__((always_inline)) void enc_mini(const float *x, u64 m, double scale, double inv, const bool pow2s,
                                                           const int ebits, const int bias, const int mbits, double mx,
                                                           uint32_t *code, float *y, const bool WY)
{
    const int emin = 1 - bias, d = 52 - mbits;
    const double tiny = pow2(emin), sub_up = pow2(mbits - emin), sub_dn = pow2(emin - mbits);
    const uint64_t half = ((uint64_t)1 << (d - 1)) - 1, low = ((uint64_t)1 << d) - 1;
    const uint32_t off = (uint32_t)(1023 - bias) << mbits, sbit = 1u << (ebits + mbits);
    const uint64_t mxb = bitsd(mx), tinyb = bitsd(tiny);
    /* Both branches computed, then selected (no control flow: it vectorises). */
#pragma omp simd
    for (u64 j = 0; j < m; j++) {
        double xd = (double)x[j], q;
        if (pow2s) q = xd * inv;
        else q = xd / scale;
        uint64_t qb = bitsd(q);
        uint32_t sg = (uint32_t)(qb >> 63) * sbit;
        /* |q| >= 0 compares as its bits do: integer compares (an FP compare
         * could trap, which keeps GCC from vectorising the selects). */
        uint64_t ab = qb & 0x7fffffffffffffffull;
        ab = ab > mxb ? mxb : ab;
        uint64_t rb = (ab + half + (ab >> d & 1)) & ~low;
        double ms = dbits(ab) * sub_up + 0x1p52;
        bool sub = ab < tinyb;
        /* Selected by masks: a ?: lets GCC sink each side's arithmetic
         * into a branch, which it then cannot vectorise (an FP op may trap). */
        uint32_t cs = (uint32_t)bitsd(ms), cn = (uint32_t)(rb >> d) - off, m32 = 0u - (uint32_t)sub;
        code[j] = (cn ^ ((cs ^ cn) & m32)) | sg;
        if (WY) {
            uint64_t vs = bitsd((ms - 0x1p52) * sub_dn), m64 = 0u - (uint64_t)sub;
            uint64_t v = rb ^ ((vs ^ rb) & m64);
            y[j] = (float)(dbits(v | qb >> 63 << 63) * scale);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static void enc_mini_chunk(dtype dt, const float *x, u64 m, double scale, double inv, bool pow2s, double mx,
                           uint32_t *code, float *y)
{
#define ENC_MINI(E, B, M)                                                        \
    do {                                                                         \
        if (y && pow2s) enc_mini(x, m, scale, inv, true, E, B, M, mx, code, y, true);        \
        else if (y) enc_mini(x, m, scale, inv, false, E, B, M, mx, code, y, true);      \
        else if (pow2s) enc_mini(x, m, scale, inv, true, E, B, M, mx, code, NULL, false); \
        else enc_mini(x, m, scale, inv, false, E, B, M, mx, code, NULL, false);          \
    } while (0)
    switch (dt) {
    case DT_FP8_E4M3: ENC_MINI(4, 7, 3); break;
    case DT_FP8_E5M2: ENC_MINI(5, 15, 2); break;
    case DT_FP4_E2M1: ENC_MINI(2, 1, 1); break;
    default:          ENC_MINI(5, 15, 10); break;   /* fp16 */
    }
#undef ENC_MINI
}

static inline __attribute__((always_inline)) void enc_int(const float *x, u64 m, double scale, double mx, uint32_t mask,
                                                          uint32_t *code, float *y, const bool WY)
{
#pragma omp simd
    for (u64 j = 0; j < m; j++) {
        double q = (double)x[j] / scale;
        q = q < -mx ? -mx : q;
        q = q > mx ? mx : q;
        double r = (q + 0x1.8p52) - 0x1.8p52;
        code[j] = (uint32_t)(int32_t)r & mask;
        if (WY) {
            double v = r == 0 ? 0.0 : r;
            y[j] = (float)(v * scale);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static void enc_int_chunk(const float *x, u64 m, double scale, double mx, uint32_t mask, uint32_t *code, float *y)
{
    if (y) enc_int(x, m, scale, mx, mask, code, y, true);
    else enc_int(x, m, scale, mx, mask, code, NULL, false);
}

static bool enc_block_fast(const part_lay *L, const float *x, u64 b0, u64 b1, double scale, uint8_t *out, float *y)
{
    dtype dt = L->p->dt;
    bool mini = dt == DT_FP8_E4M3 || dt == DT_FP8_E5M2 || dt == DT_FP4_E2M1 || dt == DT_FP16;
    bool in = dt == DT_INT8 || dt == DT_INT4;
    if (!mini && !in) return false;
    int nan = 0;
#pragma omp simd reduction(| : nan)
    for (u64 j = b0; j < b1; j++) nan |= x[j] != x[j];
    if (nan) return false;
    int sk;
    bool pow2s = frexp(scale, &sk) == 0.5;   /* x / 2^k == x 2^-k exactly */
    double inv = pow2s ? 1.0 / scale : 0;
    uint32_t code[ENC_CHUNK];
    for (u64 c0 = b0; c0 < b1; c0 += ENC_CHUNK) {
        u64 m = b1 - c0 < ENC_CHUNK ? b1 - c0 : ENC_CHUNK;
        if (mini) enc_mini_chunk(dt, x + c0, m, scale, inv, pow2s, L->ec.max, code, y ? y + c0 : NULL);
        else enc_int_chunk(x + c0, m, scale, L->ec.max, (1u << L->bits) - 1, code, y ? y + c0 : NULL);
        if (!out) continue;
        uint8_t *o = out + L->byte;
        if (L->bits == 8) {
            for (u64 j = 0; j < m; j++) o[c0 + j] = (uint8_t)code[j];
        } else if (L->bits == 16) {
            for (u64 j = 0; j < m; j++) { o[2 * (c0 + j)] = (uint8_t)code[j]; o[2 * (c0 + j) + 1] = (uint8_t)(code[j] >> 8); }
        } else {   /* 4 bits: element i in the low nibble when i is even (out starts zeroed) */
            for (u64 j = 0; j < m; j++) o[(c0 + j) / 2] |= (uint8_t)((code[j] & 15u) << ((c0 + j) % 2 * 4));
        }
    }
    return true;
}

/* Plain bf16 (the usual cache): enc() on the float's bits. Round to nearest
 * even at bit 16 (a carry into the exponent is the next binade, subnormals
 * included), saturate above the largest finite value 0x7f7f (inf too), NaN
 * -> +0: the same codes and values. Selects, no branches: it vectorises. */
static inline __attribute__((always_inline)) void enc_bf16_loop(const float *x, u64 n, uint8_t *out, float *y,
                                                                const bool WO, const bool WY)
{
#pragma omp simd
    for (u64 j = 0; j < n; j++) {
        union { float f; uint32_t u; } v = {x[j]};
        uint32_t sg = v.u & 0x80000000u, a = v.u & 0x7fffffffu;
        uint32_t r = (a + 0x7fffu + (a >> 16 & 1u)) & 0xffff0000u;   /* ties to even */
        r = a > 0x7f7f0000u ? 0x7f7f0000u : r;                        /* saturate */
        uint32_t nan = a > 0x7f800000u ? 0u : 0xffffffffu;
        v.u = (sg | r) & nan;                                         /* NaN -> +0 */
        if (WO) {
            uint16_t c = (uint16_t)(v.u >> 16);
            memcpy(out + 2 * j, &c, 2);
        }
        if (WY) y[j] = v.f;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static void enc_bf16(const float *x, u64 n, uint8_t *out, float *y)
{
    if (out && y) enc_bf16_loop(x, n, out, y, true, true);
    else if (out) enc_bf16_loop(x, n, out, NULL, true, false);
    else if (y) enc_bf16_loop(x, n, NULL, y, false, true);
}

/* The largest |x[j]|, NaN skipped (the generic loop's ax > amax ? ax : amax
 * skips it too), on the bits: a non-negative float orders as its bits do,
 * and NaN's bits are above inf's. Integer compares: vectorised. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static double amax_bits(const float *x, u64 n)
{
    uint32_t m = 0;
#pragma omp simd reduction(max : m)
    for (u64 j = 0; j < n; j++) {
        uint32_t b;
        memcpy(&b, x + j, 4);
        b &= 0x7fffffffu;
        b = b > 0x7f800000u ? 0u : b;
        m = b > m ? b : m;
    }
    float f;
    memcpy(&f, &m, 4);
    return f;
}

/* enc_scale for ue8m0 (s >= FLT_MIN): the smallest power of two >= s,
 * 2^-127 .. 2^127, from the double's bits (enc_scale: 2^rint(log2 s), one
 * step up when below s, which is 2^ceil(log2 s) for every such s). */
static uint32_t ue8m0_up(double s, double *val)
{
    uint64_t b;
    memcpy(&b, &s, 8);
    int e = (int)(b >> 52 & 0x7ff) - 1023 + ((b & 0xfffffffffffffull) != 0);
    e = e < -127 ? -127 : e > 127 ? 127 : e;
    *val = pow2(e);
    return (uint32_t)(e + 127);
}

/* Encode (out != NULL) and/or compute the decoded values (y != NULL). fp32
 * elements are stored as their bits; tf32 as the bits of the rounded float. */
static void codec(const fmt *f, const float *x, u64 n, uint8_t *out, float *y, bool fast)
{
    for (part_lay L = {.pi = -1}; part_next(f, n, &L);) {
        const fmt_part *p = L.p;
        if (p->dt == DT_FP32 && !p->scaled) {
            /* Plain fp32: the bits themselves (the state buffers' default). */
            if (out) memcpy(out + L.byte, x + L.off, L.pn * 4);
            if (y && y != x) memmove(y + L.off, x + L.off, L.pn * 4);
            continue;
        }
        if (p->dt == DT_BF16 && !p->scaled && fast) {
            /* Plain bf16 (the usual cache): enc_bf16, on the float's bits. */
            enc_bf16(x + L.off, L.pn, out ? out + L.byte : NULL, y ? y + L.off : NULL);
            continue;
        }
        for (u64 b0 = 0, bi = 0; b0 < L.pn; b0 += L.block, bi++) {
            u64 b1 = b0 + L.block < L.pn ? b0 + L.block : L.pn;
            double scale = 1.0;
            if (p->scaled) {
                double amax = 0;
                if (fast) {
                    amax = amax_bits(x + L.off + b0, b1 - b0);
                } else {
                    for (u64 j = b0; j < b1; j++) {
                        double ax = fabs((double)x[L.off + j]);
                        amax = ax > amax ? ax : amax;   /* fmax() without the call (NaN: skipped, as fmax does) */
                    }
                }
                double s = amax / L.ec.max;
                if (!(s >= FLT_MIN)) s = 1.0;    /* all zero (or tiny): any scale will do */
                uint32_t sc_code = fast && p->scale_dt == DT_UE8M0 ? ue8m0_up(s, &scale) : enc_scale(&L.sc, L.sbits, s, &scale);
                if (out) put(out, L.scale_byte * 8 + bi * L.sbits, L.sbits, sc_code);
            }
            if (fast && enc_block_fast(&L, x + L.off, b0, b1, scale, out, y ? y + L.off : NULL)) continue;
            int sk;
            bool pow2 = frexp(scale, &sk) == 0.5 && sk - 1 >= -126 && sk - 1 <= 126;
            if (pow2 && (p->dt == DT_FP8_E4M3 || p->dt == DT_FP8_E5M2 || p->dt == DT_FP4_E2M1)) {
                /* scale = 2^(sk-1): dividing by it is exact (a multiply by
                 * 2^(1-sk)); so is the product v * scale for these formats. */
                float fs = pow2f(sk - 1), inv = pow2f(1 - sk);
                for (u64 j = b0; j < b1; j++) {
                    float v;
                    uint32_t code = enc_f(&L.ec, x[L.off + j] * inv, &v);
                    if (out) put(out, L.byte * 8 + j * L.bits, L.bits, code);
                    if (y) y[L.off + j] = v * fs;
                }
                continue;
            }
            for (u64 j = b0; j < b1; j++) {
                double v;
                uint32_t code;
                if (p->dt == DT_FP32) {
                    float fv = (float)((double)x[L.off + j] / scale);
                    memcpy(&code, &fv, 4);
                    v = fv;
                } else if (p->dt == DT_TF32) {
                    enc(&L.ec, L.bits, (double)x[L.off + j] / scale, &v);
                    float fv = (float)v;
                    memcpy(&code, &fv, 4);
                } else {
                    code = enc(&L.ec, L.bits, (double)x[L.off + j] / scale, &v);
                }
                if (out) put(out, L.byte * 8 + j * L.bits, L.bits, code);
                if (y) y[L.off + j] = (float)(v * scale);
            }
        }
    }
}

void quant_encode(const fmt *f, const float *x, u64 n, uint8_t *out)
{
    u64 eb = 0;
    sim_err e;
    if (fmt_entry_bytes(f, n, &eb, &e)) return;   /* the caller checked; keep the contract */
    memset(out, 0, eb);
    codec(f, x, n, out, NULL, true);
}

void quant_encode_generic(const fmt *f, const float *x, u64 n, uint8_t *out)
{
    u64 eb = 0;
    sim_err e;
    if (fmt_entry_bytes(f, n, &eb, &e)) return;
    memset(out, 0, eb);
    codec(f, x, n, out, NULL, false);
}

void quant_roundtrip(const fmt *f, float *x, u64 n)
{
    codec(f, x, n, NULL, x, true);
}

/* bf16 codes j0 .. j1-1 to floats times fs (the common cache format: the
 * code is the float's top half); false if a code has the all-ones exponent
 * (checked on the 16-bit codes first, 8 per vector). Built for AVX2 and for
 * the x86-64 baseline, picked at load time: a decode step streams its cache
 * through here. The same bits either way (no sums). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static bool dec_bf16(const uint8_t *in, u64 j0, u64 j1, float fs, float *y)
{
    uint16_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (u64 j = j0; j < j1; j++) {
        uint16_t c;
        memcpy(&c, in + 2 * j, 2);
        bad |= (uint16_t)((c & 0x7f80u) == 0x7f80u);
    }
    if (bad) return false;
    if (fs == 1.0f) {
#pragma omp simd
        for (u64 j = j0; j < j1; j++) {
            uint16_t c;
            memcpy(&c, in + 2 * j, 2);
            union { uint32_t u; float f; } b = {(uint32_t)c << 16};
            y[j] = b.f;
        }
    } else {
#pragma omp simd
        for (u64 j = j0; j < j1; j++) {
            uint16_t c;
            memcpy(&c, in + 2 * j, 2);
            union { uint32_t u; float f; } b = {(uint32_t)c << 16};
            y[j] = b.f * fs;
        }
    }
    return true;
}

/* Codes j0 .. j1-1 of a part (its codes start at `in`) to values times fs,
 * in float, vectorisable. Exact: a minifloat code's exponent and mantissa
 * fields, shifted into a float's, are the float with exponent bias 127
 * instead of the code's bias b (a subnormal code lands on a float
 * subnormal), so one multiply by 2^(127-b) gives the value exactly; it has
 * at most 11 significant bits and a scale 24, so v * scale is exact in
 * double and the float multiply rounds it as (float)(v * scale) does. The
 * same bits as dec(), then, for every code except bf16's all-ones exponent
 * (which the encoder never writes: it saturates) - the caller checks that.
 * Returns false for a dtype this does not handle. */
/* The value of minifloat code c (fields fld, mantissa shift sh, sign bit
 * sb) times fs: the fields moved into a float's, times 2^(127 - bias)
 * (rebias), which is exact for every code, subnormals included. */
static inline __attribute__((always_inline)) float mini_val(uint32_t c, uint32_t fld, uint32_t sh, uint32_t sb, float rebias,
                                                           float fs)
{
    union { uint32_t u; float f; } b = {(c & fld) << sh | (c >> sb & 1u) << 31};
    return b.f * rebias * fs;
}

static bool dec_fast(dtype dt, const dt_codec *p, unsigned bits, const uint8_t *in, u64 j0, u64 j1, float fs, float *y)
{
    if (dt == DT_FP32 || dt == DT_TF32 || p->is_pow2) return false;
    if (p->is_int) {
        if (bits == 8) {
#pragma omp simd
            for (u64 j = j0; j < j1; j++) y[j] = (float)(int8_t)in[j] * fs;
        } else {
            for (u64 j = j0; j < j1; j++) {
                int c = in[j / 2] >> (j % 2 * 4) & 15;
                y[j] = (float)(c >= 8 ? c - 16 : c) * fs;
            }
        }
        return true;
    }
    uint32_t fld = (1u << (p->ebits + p->mbits)) - 1, sh = 23 - (uint32_t)p->mbits, sb = (uint32_t)(p->ebits + p->mbits);
    union { uint32_t u; float f; } rb = {(uint32_t)(254 - p->bias) << 23};   /* 2^(127 - bias) */
    float rebias = rb.f;
    if (dt == DT_BF16) return dec_bf16(in, j0, j1, fs, y);
    if (bits == 16) {
        int bad = 0;
#pragma omp simd reduction(| : bad)
        for (u64 j = j0; j < j1; j++) {
            uint16_t c;
            memcpy(&c, in + 2 * j, 2);
            bad |= p->ebits == 8 && (c & 0x7f80u) == 0x7f80u;
        }
        if (bad) return false;
#pragma omp simd
        for (u64 j = j0; j < j1; j++) {
            uint16_t c;
            memcpy(&c, in + 2 * j, 2);
            y[j] = mini_val(c, fld, sh, sb, rebias, fs);
        }
    } else if (bits == 8) {
#pragma omp simd
        for (u64 j = j0; j < j1; j++) y[j] = mini_val(in[j], fld, sh, sb, rebias, fs);
    } else if (bits == 4) {
        u64 j = j0;
        if (j % 2 && j < j1) {   /* a leading high nibble */
            y[j] = mini_val((uint32_t)in[j / 2] >> 4, fld, sh, sb, rebias, fs);
            j++;
        }
        u64 q0 = j / 2, nq = (j1 - j) / 2;
        /* whole bytes, low nibble then high (the same values: the loop
         * below, two elements a step so that it vectorises) */
#pragma omp simd
        for (u64 q = 0; q < nq; q++) {
            y[j + 2 * q] = mini_val(in[q0 + q] & 15u, fld, sh, sb, rebias, fs);
            y[j + 2 * q + 1] = mini_val((uint32_t)in[q0 + q] >> 4, fld, sh, sb, rebias, fs);
        }
        for (j += 2 * nq; j < j1; j++)   /* a trailing low nibble */
            y[j] = mini_val((uint32_t)in[j / 2] & 15u, fld, sh, sb, rebias, fs);
    } else {
        return false;
    }
    return true;
}

void quant_decode(const fmt *f, const uint8_t *in, u64 n, float *y)
{
    part_lay L;
    L.pi = -1;   /* part_next sets the rest (a whole-struct zeroing was a tenth of a short row's decode) */
    L.off = L.byte = 0;
    while (part_next(f, n, &L)) {
        const fmt_part *p = L.p;
        if (p->dt == DT_FP32 && !p->scaled) {
            memcpy(y + L.off, in + L.byte, L.pn * 4);
            continue;
        }
        for (u64 b0 = 0, bi = 0; b0 < L.pn; b0 += L.block, bi++) {
            u64 b1 = b0 + L.block < L.pn ? b0 + L.block : L.pn;
            double scale = p->scaled ? dec(&L.sc, L.sbits, get(in, L.scale_byte * 8 + bi * L.sbits, L.sbits)) : 1.0;
            /* Fast path (dec_fast): the block in float when the scale is one. */
            float fs = (float)scale;
            u64 j0 = b0;
            if ((double)fs == scale && dec_fast(p->dt, &L.ec, L.bits, in + L.byte, b0, b1, fs, y + L.off)) j0 = b1;
            for (u64 j = j0; j < b1; j++) {
                uint32_t code = get(in, L.byte * 8 + j * L.bits, L.bits);
                double v;
                if (p->dt == DT_FP32 || p->dt == DT_TF32) {
                    float fv;
                    memcpy(&fv, &code, 4);
                    v = fv;
                } else {
                    v = dec(&L.ec, L.bits, code);
                }
                y[L.off + j] = (float)(v * scale);
            }
        }
    }
}

void quant_round_pow2(dtype dt, float *x, u64 n, float sc)
{
    assert(dt == DT_FP8_E4M3 || dt == DT_FP8_E5M2 || dt == DT_FP4_E2M1);
    uint32_t code[ENC_CHUNK];
    double mx = codec_of(dt).max, s = sc;
    for (u64 c0 = 0; c0 < n; c0 += ENC_CHUNK) {
        u64 m = n - c0 < ENC_CHUNK ? n - c0 : ENC_CHUNK;
        enc_mini_chunk(dt, x + c0, m, s, 1.0 / s, true, mx, code, x + c0);
    }
}

float quant_round(dtype dt, float x)
{
    if (dt == DT_FP32) return x;
    dt_codec c = codec_of(dt);
    double v;
    enc(&c, dtype_table[dt].bits, x, &v);
    return (float)v;
}
