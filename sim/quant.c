/* quant.c - storage-format codec for the reference kernels' caches; see quant.h.
 *
 * Minifloats (bf16, fp16, tf32, fp8, fp4) go through one routine driven by
 * (exponent bits, mantissa bits, bias, largest finite value): values are
 * computed in double, where every step below is exact (a float times a power
 * of two), so the only rounding is the one rint() performs (ties to even). */
#include "quant.h"
#include <math.h>
#include <string.h>
#include <float.h>

typedef struct {
    int ebits, mbits, bias;
    double max;          /* largest finite value */
    bool is_int;         /* two's complement integer codes */
    bool is_pow2;        /* ue8m0: 2^(code - 127) */
} dt_codec;

static dt_codec codec_of(dtype dt)
{
    switch (dt) {
    case DT_TF32:     return (dt_codec){8, 10, 127, (2.0 - ldexp(1, -10)) * ldexp(1, 127), false, false};
    case DT_BF16:     return (dt_codec){8, 7, 127, (2.0 - ldexp(1, -7)) * ldexp(1, 127), false, false};
    case DT_FP16:     return (dt_codec){5, 10, 15, 65504.0, false, false};
    case DT_FP8_E4M3: return (dt_codec){4, 3, 7, 448.0, false, false};       /* e4m3fn: no inf */
    case DT_FP8_E5M2: return (dt_codec){5, 2, 15, 57344.0, false, false};
    case DT_FP4_E2M1: return (dt_codec){2, 1, 1, 6.0, false, false};         /* no inf, no NaN */
    case DT_INT8:     return (dt_codec){0, 0, 0, 127.0, true, false};
    case DT_INT4:     return (dt_codec){0, 0, 0, 7.0, true, false};
    case DT_UE8M0:    return (dt_codec){8, 0, 127, ldexp(1, 127), false, true};
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
static uint32_t enc(const dt_codec *p, unsigned bits, double x, double *val)
{
    if (isnan(x)) x = 0;
    if (p->is_int) {
        double r = rint(fmin(fmax(x, -p->max), p->max));
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
    double a = fmin(fabs(x), p->max), v = 0;
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
    if (p->is_pow2) return ldexp(1.0, (int)code - 127);
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

static void put(uint8_t *b, u64 bitpos, unsigned bits, uint32_t code)
{
    if (bits == 4) { b[bitpos / 8] |= (uint8_t)((code & 15u) << (bitpos % 8)); return; }
    for (unsigned k = 0; k < bits / 8; k++) b[bitpos / 8 + k] = (uint8_t)(code >> (8 * k));
}

static uint32_t get(const uint8_t *b, u64 bitpos, unsigned bits)
{
    if (bits == 4) return (uint32_t)(b[bitpos / 8] >> (bitpos % 8)) & 15u;
    uint32_t c = 0;
    for (unsigned k = 0; k < bits / 8; k++) c |= (uint32_t)b[bitpos / 8 + k] << (8 * k);
    return c;
}

static u64 ceil_div(u64 a, u64 b) { return a / b + (a % b != 0); }

/* Encode (out != NULL) and/or compute the decoded values (y != NULL). fp32
 * elements are stored as their bits; tf32 as the bits of the rounded float. */
static void codec(const fmt *f, const float *x, u64 n, uint8_t *out, float *y)
{
    u64 fixed = fmt_elements(f), off = 0, byte = 0;
    for (int pi = 0; pi < f->n_parts; pi++) {
        const fmt_part *p = &f->part[pi];
        u64 pn = fixed ? p->elements : n;
        unsigned bits = dtype_table[p->dt].bits, sbits = p->scaled ? dtype_table[p->scale_dt].bits : 0;
        dt_codec ec = codec_of(p->dt), sc = codec_of(p->scale_dt);
        u64 block = p->scaled ? p->block : (pn ? pn : 1);
        u64 nblk = p->scaled ? ceil_div(pn, p->block) : 0;
        u64 scale_byte = byte + ceil_div(pn * bits, 8);
        if (p->dt == DT_FP32 && !p->scaled) {
            /* Plain fp32: the bits themselves (the state buffers' default). */
            if (out) memcpy(out + byte, x + off, pn * 4);
            if (y && y != x) memmove(y + off, x + off, pn * 4);
            byte = scale_byte;
            off += pn;
            continue;
        }
        for (u64 b0 = 0, bi = 0; b0 < pn; b0 += block, bi++) {
            u64 b1 = b0 + block < pn ? b0 + block : pn;
            double scale = 1.0;
            if (p->scaled) {
                double amax = 0;
                for (u64 j = b0; j < b1; j++) amax = fmax(amax, fabs((double)x[off + j]));
                double s = amax / ec.max;
                if (!(s >= FLT_MIN)) s = 1.0;    /* all zero (or tiny): any scale will do */
                uint32_t sc_code = enc_scale(&sc, sbits, s, &scale);
                if (out) put(out, scale_byte * 8 + bi * sbits, sbits, sc_code);
            }
            for (u64 j = b0; j < b1; j++) {
                double v;
                uint32_t code;
                if (p->dt == DT_FP32) {
                    float fv = (float)((double)x[off + j] / scale);
                    memcpy(&code, &fv, 4);
                    v = fv;
                } else if (p->dt == DT_TF32) {
                    enc(&ec, bits, (double)x[off + j] / scale, &v);
                    float fv = (float)v;
                    memcpy(&code, &fv, 4);
                } else {
                    code = enc(&ec, bits, (double)x[off + j] / scale, &v);
                }
                if (out) put(out, byte * 8 + j * bits, bits, code);
                if (y) y[off + j] = (float)(v * scale);
            }
        }
        byte = scale_byte + ceil_div(nblk * sbits, 8);
        off += pn;
    }
}

void quant_encode(const fmt *f, const float *x, u64 n, uint8_t *out)
{
    u64 eb = 0;
    sim_err e;
    if (fmt_entry_bytes(f, n, &eb, &e)) return;   /* the caller checked; keep the contract */
    memset(out, 0, eb);
    codec(f, x, n, out, NULL);
}

void quant_roundtrip(const fmt *f, float *x, u64 n)
{
    codec(f, x, n, NULL, x);
}

void quant_decode(const fmt *f, const uint8_t *in, u64 n, float *y)
{
    u64 fixed = fmt_elements(f), off = 0, byte = 0;
    for (int pi = 0; pi < f->n_parts; pi++) {
        const fmt_part *p = &f->part[pi];
        u64 pn = fixed ? p->elements : n;
        unsigned bits = dtype_table[p->dt].bits, sbits = p->scaled ? dtype_table[p->scale_dt].bits : 0;
        dt_codec ec = codec_of(p->dt), sc = codec_of(p->scale_dt);
        u64 block = p->scaled ? p->block : (pn ? pn : 1);
        u64 nblk = p->scaled ? ceil_div(pn, p->block) : 0;
        u64 scale_byte = byte + ceil_div(pn * bits, 8);
        if (p->dt == DT_FP32 && !p->scaled) {
            memcpy(y + off, in + byte, pn * 4);
            byte = scale_byte;
            off += pn;
            continue;
        }
        for (u64 b0 = 0, bi = 0; b0 < pn; b0 += block, bi++) {
            u64 b1 = b0 + block < pn ? b0 + block : pn;
            double scale = p->scaled ? dec(&sc, sbits, get(in, scale_byte * 8 + bi * sbits, sbits)) : 1.0;
            for (u64 j = b0; j < b1; j++) {
                uint32_t code = get(in, byte * 8 + j * bits, bits);
                double v;
                if (p->dt == DT_FP32 || p->dt == DT_TF32) {
                    float fv;
                    memcpy(&fv, &code, 4);
                    v = fv;
                } else {
                    v = dec(&ec, bits, code);
                }
                y[off + j] = (float)(v * scale);
            }
        }
        byte = scale_byte + ceil_div(nblk * sbits, 8);
        off += pn;
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
