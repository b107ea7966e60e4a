/* hw.h - hardware profiles (YAML under scenarios/hw/) and the roofline time model.
 *
 * A profile gives peak FLOP/s per dtype, memory bandwidth and capacity, each
 * citing its spec sheet. Time of a piece of work = max(compute, memory):
 * compute = sum over dtypes of FLOPs / peak(dtype), memory = bytes moved /
 * bandwidth. A dtype the hardware lacks runs at the next wider one it has
 * (fp4 -> fp8 -> bf16 -> fp32; int4 -> int8 -> bf16; tf32 -> fp32).
 *
 *   hw_profile h; sim_err e;
 *   if (hw_load(&h, "h100-sxm", &e)) ...;        // or a path to a .yaml
 *   roofline rl; hw_roofline(&h, &cost, &rl);
 */
#ifndef HW_H
#define HW_H

#include "cost.h"
#include "tmodel.h"

typedef struct {
    char name[64];
    char path[512];
    double memory_bytes;          /* capacity, B */
    double bandwidth;             /* B/s */
    double peak[DT_COUNT];        /* FLOP/s as given; 0 = not given */
    double link_bw;               /* B/s one GPU sends to its peers (NVLink); 0 = not given */
    u64 gpus;                     /* GPUs of a node profile; 0 = a single part */
    tm_curves curves;             /* `curves:` (probe / calibrate); present = false: none */
} hw_profile;

/* Load by name (scenarios/hw/NAME.yaml) or by path. */
int hw_load(hw_profile *h, const char *name_or_path, sim_err *e);

/* The peak a dtype runs at on h, after fallbacks (0 if none). Can't fail. */
double hw_peak(const hw_profile *h, dtype dt);

typedef struct {
    double compute_s, memory_s, time_s;
    double intensity;             /* FLOPs per byte moved */
    bool memory_bound;
} roofline;

void hw_roofline(const hw_profile *h, const cost_t *c, roofline *r);

#endif
