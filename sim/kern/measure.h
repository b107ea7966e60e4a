/* measure.h - reference-kernel measurements for sweeps: run a spec's scaled
 * layer stack at a context (prefill of T tokens, then one decode step),
 * and pair each layer type's measured counters and wall time with the
 * analytical model's counts and the roofline time predicted for a hardware
 * profile (by default this machine, probed). */
#ifndef MEASURE_H
#define MEASURE_H

#include "spec.h"
#include "hw.h"

typedef struct {
    char type[48];         /* layer type row, or "total" */
    char counter[32];      /* "prefill.flops", "decode.kv_bytes", "prefill.time_s", ... */
    double analytical;     /* the model's count (time_s: the roofline prediction) */
    double measured;       /* the kernels' count (time_s: wall time) */
} measure_pair;

typedef struct {
    measure_pair *p;       /* owned */
    int n, cap;
    u64 scale;             /* the scale used */
} measure_set;

/* Load path with sets, scale it by S (0 = auto), keep the first `layers`
 * layers (0 = all), and measure at context T with the given seed. */
int measure_run(const char *path, const char *const *sets, int n_sets, u64 S, u64 layers, u64 T, u64 seed,
                const hw_profile *hw, measure_set *out, sim_err *e);
void measure_free(measure_set *ms);

#endif
