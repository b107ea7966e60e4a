/* sweep.h - run a scenario's points through the cost model into the store.
 *
 * Points are enumerated in a fixed order (arch, sweep-value combination,
 * context, phase, batch); `--shard I/N` takes every point whose index is
 * I-1 modulo N. Finished points (same content key) are reused, so a killed
 * or repeated sweep only computes what is missing.
 */
#ifndef SWEEP_H
#define SWEEP_H

#include "scenario.h"
#include "spec.h"
#include "store.h"

/* One spec variant: an arch as written (params ""), or with one combination
 * of the sweep values that apply to it. */
typedef struct {
    int arch;                    /* index into scenario.arch */
    int n_sets;
    char sets[SC_MAX_AXES][192]; /* "path=value" */
    char params[512];            /* "path=value;path=value" ("" for none) */
    int value_idx[SC_MAX_AXES];  /* per scenario axis: value index, -1 if not set */
    char hash[17];               /* content hash of the spec text */
    model_spec m;
} variant;

/* Load every variant of the scenario (all axes' combinations per arch). */
int sweep_variants(const scenario *s, variant **out, int *n, sim_err *e);
void sweep_variants_free(variant *v, int n);

/* The content key of a point into key[256]. Can't fail. */
void sweep_point_key(const variant *v, u64 ctx, phase ph, u64 batch, char *key, size_t len);

typedef struct {
    int shard_i, shard_n;        /* 1-based shard I of N; 0/0 = everything */
    const char *version, *git_rev;
    void (*progress)(void *ctx, long done, long total, long computed);
    void *progress_ctx;
} sweep_opts;

#define SWEEP_MAX_ERRORS 10

typedef struct {
    long total;                  /* points in the scenario */
    long mine;                   /* in this shard */
    long computed, reused;
    double seconds;              /* the whole sweep, loading the specs included */
    double loop_seconds;         /* evaluating and writing the points only */
    double loop_cpu_seconds;     /* the same loop in this process's CPU time
                                    (user + system: what it costs, however
                                    loaded the machine) */
    long measured, measure_reused;  /* reference-kernel runs (arch x context) */
    long failed;                 /* points the model refused (recorded in point_errors) */
    int n_errors;                /* the first SWEEP_MAX_ERRORS of them, as messages */
    char error[SWEEP_MAX_ERRORS][600];
} sweep_stats;

/* Evaluate and store every point of s in db_path. A point the model refuses
 * (a count out of range) is recorded with its error in the table
 * point_errors and the sweep goes on: SIM_OK with st->failed > 0 (the caller
 * reports them). Returns an error code for bad input or a database failure. */
int sweep_run(const scenario *s, const char *db_path, const sweep_opts *o, sweep_stats *st, sim_err *e);

#endif
