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
static inline u64 umin(u64 a, u64 b) { return a < b ? a : b; }
static inline u64 umax(u64 a, u64 b) { return a > b ? a : b; }

#endif
