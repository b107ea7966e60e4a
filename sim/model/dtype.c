/* dtype.c - the dtype table and format byte arithmetic; see dtype.h. */
#include "dtype.h"
#include <string.h>
#include <stdio.h>

/* FP8-equivalent weights (DESIGN.md section 5). A FLOP executed in dtype X
 * counts as w(X) FP8 FLOPs, w = peak(FP8) / peak(X) on current accelerators:
 * FP32 4 (through TF32 tensor cores: 4 as well), BF16/FP16 2, FP8/INT8 1,
 * FP4/INT4 0.5. DeepSeek-V4's "equivalent FP8 FLOPs" are reproduced by this
 * weighting (research/deepseek.md section 4.3: FP4 indexer x0.5, BF16 core
 * attention x2). Stored in halves so every weighted total stays an integer. */
const dtype_info dtype_table[DT_COUNT] = {
    [DT_FP32]     = {"fp32", "f32", 32, 8, true},
    [DT_TF32]     = {"tf32", NULL, 32, 8, true},
    [DT_BF16]     = {"bf16", NULL, 16, 4, true},
    [DT_FP16]     = {"fp16", "f16", 16, 4, true},
    [DT_FP8_E4M3] = {"fp8_e4m3", "fp8", 8, 2, true},
    [DT_FP8_E5M2] = {"fp8_e5m2", NULL, 8, 2, true},
    [DT_INT8]     = {"int8", NULL, 8, 2, true},
    [DT_UE8M0]    = {"ue8m0", "e8m0", 8, 2, false},
    [DT_FP4_E2M1] = {"fp4_e2m1", "fp4", 4, 1, true},
    [DT_INT4]     = {"int4", NULL, 4, 1, true},
};
_Static_assert(DT_COUNT == 10, "dtype_table must list every dtype");

int dtype_find(const char *name, dtype *out)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (!strcmp(name, dtype_table[i].name) ||
            (dtype_table[i].alias && !strcmp(name, dtype_table[i].alias))) {
            *out = (dtype)i;
            return SIM_OK;
        }
    return SIM_EINVAL;
}

void fmt_from_dtype(fmt *f, dtype dt)
{
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", dtype_table[dt].name);
    f->n_parts = 1;
    f->part[0].dt = dt;
}

u64 fmt_elements(const fmt *f)
{
    u64 n = 0;
    for (int i = 0; i < f->n_parts; i++) {
        if (f->part[i].elements == 0) return 0;
        n += f->part[i].elements;
    }
    return n;
}

static u64 ceil_div(u64 a, u64 b) { return a / b + (a % b != 0); }

/* Bytes of one part holding n values: ceil(n*bits/8) + ceil(n/block)*scale bytes. */
static u64 part_bytes(const fmt_part *p, u64 n, bool *ovf)
{
    u64 b = ceil_div(cmul(ovf, n, dtype_table[p->dt].bits), 8);
    if (p->scaled)
        b = cadd(ovf, b, ceil_div(cmul(ovf, ceil_div(n, p->block), dtype_table[p->scale_dt].bits), 8));
    return b;
}

static u64 finish(const fmt *f, u64 b, bool *ovf)
{
    b = cadd(ovf, b, f->pad_bytes);
    if (f->align_bytes > 1) b = cmul(ovf, ceil_div(b, f->align_bytes), f->align_bytes);
    return b;
}

void fmt_seal(fmt *f)
{
    sim_err e;
    u64 n, b;
    f->sealed_elems = f->sealed_bytes = 0;
    n = fmt_elements(f);
    if (n && fmt_entry_bytes(f, n, &b, &e) == SIM_OK) {
        f->sealed_elems = n;
        f->sealed_bytes = b;
    }
}

int fmt_entry_bytes(const fmt *f, u64 n, u64 *bytes, sim_err *e)
{
    bool ovf = false;
    if (f->sealed_elems && f->sealed_elems == n) {
        *bytes = f->sealed_bytes;
        return SIM_OK;
    }
    if (f->n_parts == 1 && f->part[0].elements == 0 && !f->part[0].scaled && !f->pad_bytes && f->align_bytes <= 1) {
        /* A bare unscaled dtype (fp32 state, bf16 caches): n elements' bits. */
        *bytes = ceil_div(cmul(&ovf, n, dtype_table[f->part[0].dt].bits), 8);
        if (!ovf) return SIM_OK;
    }
    u64 fixed = fmt_elements(f), b = 0;
    if (fixed) {
        if (fixed != n)
            return sim_fail(e, SIM_EINVAL, "format '%s' holds %llu elements but this cache entry has %llu",
                            f->name, (unsigned long long)fixed, (unsigned long long)n);
        for (int i = 0; i < f->n_parts; i++) b = cadd(&ovf, b, part_bytes(&f->part[i], f->part[i].elements, &ovf));
    } else {
        /* An adapting format is one part whose dtype fills the entry. */
        b = part_bytes(&f->part[0], n, &ovf);
    }
    b = finish(f, b, &ovf);
    if (ovf) return sim_fail(e, SIM_ERANGE, "format '%s': entry size exceeds 2^64-1 bytes", f->name);
    *bytes = b;
    return SIM_OK;
}

u64 fmt_rate_bytes(const fmt *f, u64 n, bool *ovf)
{
    u64 fixed = fmt_elements(f);
    if (!fixed) return part_bytes(&f->part[0], n, ovf);   /* a bare dtype: no entry padding */
    u64 eb = 0;
    for (int i = 0; i < f->n_parts; i++) eb = cadd(ovf, eb, part_bytes(&f->part[i], f->part[i].elements, ovf));
    eb = finish(f, eb, ovf);
    /* ceil(n * eb / fixed): in 64 bits when the product fits (the common,
     * fast case), else through a 128-bit intermediate. */
    u64 p64;
    if (!__builtin_mul_overflow(n, eb, &p64)) return p64 / fixed + (p64 % fixed != 0);
    __extension__ unsigned __int128 p = (unsigned __int128)n * eb;
    __extension__ unsigned __int128 q = p / fixed + (p % fixed != 0);
    if (q > UINT64_MAX) { *ovf = true; return UINT64_MAX; }
    return (u64)q;
}
