/* sim.h - status codes, error buffers and checked 64-bit arithmetic shared by
 * every module under sim/.
 *
 * Library code under sim/ never prints and never exits: each function returns
 * SIM_OK (0) or a negative SIM_E* code and writes a one-line human message into
 * a caller-provided `sim_err` (for spec errors it starts with file:line:col).
 *
 *   sim_err e = {0};
 *   if (spec_load(&s, "archs/llama-3-8b.yaml", NULL, 0, &e) != SIM_OK)
 *       fprintf(stderr, "kvsim: %s\n", e.msg);
 */
#ifndef SIM_H
#define SIM_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define SIM_OK        0
#define SIM_EINVAL   -1   /* bad input: spec, option or value a user can fix */
#define SIM_ENOMEM   -2   /* allocation failed */
#define SIM_EIO      -3   /* file could not be opened, read or written */
#define SIM_ERANGE   -4   /* an exact count exceeds 2^64-1 */
#define SIM_EMISMATCH -5  /* validate: measured != analytical */

typedef struct {
    char msg[512];        /* "file:line:col: what is wrong" */
} sim_err;

/* printf into e->msg; returns `code` so callers can write `return sim_fail(...)`. */
int sim_fail(sim_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef uint64_t u64;
/* Unsigned 128-bit (gcc and clang). FP8-equivalent FLOPs are kept doubled
 * (FP4 weighs 0.5) and in BF16 they are 4x the FLOPs, so they pass 2^64-1
 * while every reported count still fits: they are the one 128-bit count. */
__extension__ typedef unsigned __int128 u128;

/* Checked arithmetic. Every byte and FLOP count is a u64; a product or sum
 * that would wrap sets *ovf and saturates, so one flag check at the end of a
 * cost evaluation turns any overflow into SIM_ERANGE instead of a wrong number. */
static inline u64 cmul(bool *ovf, u64 a, u64 b)
{
    u64 r;
    if (__builtin_mul_overflow(a, b, &r)) { *ovf = true; return UINT64_MAX; }
    return r;
}
static inline u64 cadd(bool *ovf, u64 a, u64 b)
{
    u64 r;
    if (__builtin_add_overflow(a, b, &r)) { *ovf = true; return UINT64_MAX; }
    return r;
}
static inline u64 cmul3(bool *ovf, u64 a, u64 b, u64 c) { return cmul(ovf, cmul(ovf, a, b), c); }
static inline u64 cmul4(bool *ovf, u64 a, u64 b, u64 c, u64 d) { return cmul(ovf, cmul3(ovf, a, b, c), d); }
static inline u128 cadd128(bool *ovf, u128 a, u128 b)
{
    u128 r;
    if (__builtin_add_overflow(a, b, &r)) { *ovf = true; return ~(u128)0; }
    return r;
}
static inline u128 cmul128(bool *ovf, u128 a, u128 b)
{
    u128 r;
    if (__builtin_mul_overflow(a, b, &r)) { *ovf = true; return ~(u128)0; }
    return r;
}
/* v as exact decimal digits into buf (40 digits at most; len >= 40 always
 * suffices). This function can't fail (it truncates to len). */
static inline void u128_str(u128 v, char *buf, size_t len)
{
    char tmp[48];
    int n = 0;
    do { tmp[n++] = (char)('0' + (int)(v % 10)); v /= 10; } while (v);
    size_t k = 0;
    while (n && k + 1 < len) buf[k++] = tmp[--n];
    if (len) buf[k] = 0;
}
static inline u64 umin(u64 a, u64 b) { return a < b ? a : b; }
static inline u64 umax(u64 a, u64 b) { return a > b ? a : b; }

#endif
