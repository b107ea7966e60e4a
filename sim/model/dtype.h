/* dtype.h - element dtypes and storage formats as data.
 *
 * A format is a list of parts, each `elements` values of one dtype with an
 * optional block scale (one scale of `scale_dtype` per `block` elements), plus
 * padding. DeepSeek V3.2's 656-byte FP8 MLA entry is
 *   {512 x fp8_e4m3, scale fp32 per 128} + {64 x bf16}           = 512+16+128
 * and V4's 584-byte entry {448 x fp8_e4m3, scale ue8m0 per 64} + {64 x bf16}
 * + 1 pad byte = 448+7+128+1. A bare dtype ("bf16") is a format whose element
 * count adapts to what it stores.
 */
#ifndef DTYPE_H
#define DTYPE_H

#include "sim.h"

typedef enum {
    DT_FP32, DT_TF32, DT_BF16, DT_FP16, DT_FP8_E4M3, DT_FP8_E5M2, DT_INT8,
    DT_UE8M0, DT_FP4_E2M1, DT_INT4, DT_COUNT
} dtype;

typedef struct {
    const char *name;      /* "bf16" */
    const char *alias;     /* "fp8" for fp8_e4m3, or NULL */
    unsigned bits;         /* storage bits per element */
    unsigned fp8eq_half;   /* FP8-equivalent FLOP weight, in halves: fp8 = 2 (x1.0) */
    bool compute;          /* may be named as a compute dtype */
} dtype_info;

extern const dtype_info dtype_table[DT_COUNT];

/* Look up by name or alias; returns SIM_OK or SIM_EINVAL. */
int dtype_find(const char *name, dtype *out);

#define FMT_MAX_PARTS 6
typedef struct {
    u64 elements;          /* values in this part; 0 = "all the entry's elements" */
    dtype dt;
    bool scaled;
    dtype scale_dt;        /* dtype of one block scale */
    u64 block;             /* elements per scale */
} fmt_part;

typedef struct {
    char name[40];         /* "v4_kv", or the dtype name for a bare dtype */
    int n_parts;
    fmt_part part[FMT_MAX_PARTS];
    u64 pad_bytes;         /* added after the parts */
    u64 align_bytes;       /* round the entry up to a multiple (0/1 = none) */
    u64 sealed_elems;      /* fmt_seal: a fixed format's elements and entry */
    u64 sealed_bytes;      /*   bytes, precomputed; 0 = not sealed */
} fmt;

/* Precompute a fixed format's entry size (fmt_entry_bytes then answers for
 * its element count without walking the parts); spec_plan seals the formats
 * of a loaded spec's layers. A sealed format must not be changed (reseal it).
 * Can't fail (a format it cannot size stays unsealed). */
void fmt_seal(fmt *f);

/* A bare-dtype format. This function can't fail. */
void fmt_from_dtype(fmt *f, dtype dt);

/* Elements a fixed format holds (0 when it adapts, i.e. a bare dtype). */
u64 fmt_elements(const fmt *f);

/* Bytes of one entry of n elements. A fixed format must hold exactly n
 * elements (SIM_EINVAL with a message otherwise). */
int fmt_entry_bytes(const fmt *f, u64 n, u64 *bytes, sim_err *e);

/* Bytes to store n values at this format's rate, rounded up:
 * ceil(n * entry_bytes / entry_elements). Sets *ovf on overflow. */
u64 fmt_rate_bytes(const fmt *f, u64 n, bool *ovf);

#endif
