/* claims.h - published claims about the shipped architectures, recomputed
 * with the cost model, for the report's opening table. (tests/test_claims.c
 * asserts the same numbers with their tolerances and explanations.) */
#ifndef CLAIMS_H
#define CLAIMS_H

#include "sim.h"

typedef struct {
    const char *claim;      /* "V4-Pro KV cache at 1M, % of V3.2" */
    const char *source;     /* "DeepSeek-V4 paper, abstract" */
    double published;
    double kvsim;
    const char *unit;       /* "%", "GB", "B", "B params" */
    const char *note;       /* why they differ, when they do */
    const char *archs;      /* the spec names it concerns, comma-separated */
} claim_result;

/* Evaluate every claim with the specs under archs_dir. Returns the number
 * filled (up to max), or a negative SIM_E* with e set. */
int claims_eval(const char *archs_dir, claim_result *out, int max, sim_err *e);

#endif
