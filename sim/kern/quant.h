/* quant.h - encode fp32 values into a storage format's bytes and back.
 *
 * The reference kernels keep their caches in the spec's real entry formats
 * (dtype.h): an entry of n elements occupies exactly fmt_entry_bytes(f, n)
 * bytes, laid out part by part. Each part is its element codes packed
 * LSB-first (two fp4 codes per byte, element 2i in the low nibble), rounded up
 * to a whole byte, then its block scales packed the same way; then `pad`
 * zero bytes and zero bytes up to `align`. Element codes are round-to-nearest-
 * even and saturate at the dtype's largest finite value (never inf or NaN);
 * a block scale is amax / (largest element value), rounded *up* to the scale
 * dtype so that no scaled element overflows (ue8m0: the next power of two).
 *
 *   u64 eb; fmt_entry_bytes(&f, n, &eb, &e);
 *   uint8_t *slot = cache + row * eb;
 *   quant_encode(&f, x, n, slot);      // x: n floats
 *   quant_decode(&f, slot, n, y);      // y == the quantised x
 *
 * Nothing here allocates; nothing can fail once fmt_entry_bytes(f, n) has
 * succeeded for the same f and n (the caller checks that once per cache).
 */
#ifndef QUANT_H
#define QUANT_H

#include "dtype.h"
#include <stdint.h>

/* Encode n values into one entry (fmt_entry_bytes(f, n) bytes at out). */
void quant_encode(const fmt *f, const float *x, u64 n, uint8_t *out);

/* quant_encode without its fast paths: every element through the one
 * generic routine (double arithmetic, one rint). The same bytes as
 * quant_encode; tests/test_kern.c proves it on dense random values and on
 * every tie point's neighbours. Slow (tests only). */
void quant_encode_generic(const fmt *f, const float *x, u64 n, uint8_t *out);

/* Decode one entry of n values. */
void quant_decode(const fmt *f, const uint8_t *in, u64 n, float *x);

/* x := decode(encode(x)) without a buffer of bytes: what a fused kernel that
 * quantises on the fly sees. Equal, bit for bit, to a real round trip. */
void quant_roundtrip(const fmt *f, float *x, u64 n);

/* One value rounded to a dtype (round-to-nearest-even, saturating). */
float quant_round(dtype dt, float x);
/* x[j] := quant_round(dt, clamp(x[j] / sc, +-max)) * sc for n elements,
 * sc a power of two (an act_quant block's scale), dt fp8 e4m3 / e5m2 or
 * fp4 e2m1: the same values through the vectorised encoder (x[j] / sc is
 * exact, so rounding it in double is rounding it in float). */
void quant_round_pow2(dtype dt, float *x, u64 n, float sc);

/* Largest finite value of a dtype (6 for fp4_e2m1, 448 for fp8_e4m3, ...). */
double quant_max(dtype dt);

#endif
