/* store.h - the SQLite store of sweep results (schema in README.md).
 *
 * One database holds runs, specs (full YAML text + content hash), points (one
 * per spec x parameter set x context x phase x batch, every metric of `kvsim
 * cost`), per-layer-type costs and reference-kernel measurements. Points are
 * keyed by content (spec hash, parameters, context, phase, batch), so re-runs
 * reuse finished points and merges never duplicate. WAL, a busy timeout and a
 * retrying BEGIN IMMEDIATE let several sweeps write one file at once; writes
 * go in transactions of many points, so a killed sweep loses at most the
 * open transaction and resumes where it stopped.
 *
 *   store *st; sim_err e;
 *   if (store_open(&st, "reports/kvsim.db", false, &e)) ...;
 *   store_begin(st, &e); ... store_put_point(...); store_commit(st, &e);
 *   store_close(st);
 */
#ifndef STORE_H
#define STORE_H

#include "sim.h"
#include "cost.h"

/* Schema 3: a point's per-type rows are a JSON array in its `types`
 * column, unfolded by the view point_types (schema 2 had a table of them),
 * and no points_arch index. Schema 2: metrics above 2^63-1 are REAL with
 * their digits in `exact` (schema 1 stored TEXT, which numeric filters
 * skip); points record page, causal, hw and kvsim_version; runs have a uid;
 * point_errors. A schema-1 or -2 file is upgraded in place when opened for
 * writing and refused (with the way to upgrade) when opened read-only. */
#define STORE_SCHEMA_VERSION 3

typedef struct store store;

/* Open (creating the schema when new, upgrading an older one when writing).
 * Refuses a database written by a newer schema, an older one when reading, a
 * read-only file when writing, and files that are not SQLite. */
int store_open(store **out, const char *path, bool read_only, sim_err *e);
void store_close(store *st);

/* Transactions with retry on SQLITE_BUSY. */
int store_begin(store *st, sim_err *e);
int store_commit(store *st, sim_err *e);
void store_rollback(store *st);

/* Record a run; *run_id receives its id. Finishing it also drops the error
 * records of points that now exist. */
int store_run_start(store *st, const char *scenario, const char *version, const char *git_rev,
                    const char *shard, long long *run_id, sim_err *e);
int store_run_finish(store *st, long long run_id, long long new_points, long long reused, sim_err *e);

/* Insert a spec (ignored when the hash is known). */
int store_put_spec(store *st, const char *hash, const char *name, const char *path, const char *yaml, sim_err *e);

/* Does a point with this key exist? */
int store_has_point(store *st, const char *key, bool *has, sim_err *e);
/* Whether any point's key starts with prefix (*has); a sweep asks once per
 * variant and skips store_has_point for a variant with none. */
int store_has_prefix(store *st, const char *prefix, bool *has, sim_err *e);

/* What a point is and the settings that produced it (recorded on its row). */
typedef struct {
    const char *key, *scenario, *spec_hash, *arch, *params, *phase;
    long long run_id;
    u64 ctx, batch;
    u64 page;                /* cost_query.page: 0 = logical bytes */
    bool noncausal;          /* cost_query.noncausal */
    const char *hw;          /* hardware profile, NULL or "" for none */
    const char *version;     /* kvsim version */
} point_meta;

/* Insert a point and its per-type rows (INSERT OR IGNORE: an existing key is
 * left as it is). A value above 2^63-1 (SQLite's INTEGER range) is stored as
 * the nearest REAL, so numeric filters stay right, and its exact digits go
 * into the row's `exact` column. */
int store_put_point(store *st, const point_meta *pm, const cost_result *r, u64 params_effective, sim_err *e);

/* Record that a point could not be computed (error: the message). The
 * record goes when a later run computes it (store_run_finish). */
int store_put_error(store *st, const point_meta *pm, const char *error, sim_err *e);

/* Read a point's totals back (report); *found = false when absent. */
int store_get_point(store *st, const char *key, cost_t *total, u64 *params_effective, bool *found, sim_err *e);
/* Read its per-type rows: up to max rows into rows, *n set. */
typedef struct {
    char name[48];
    int layers;
    u64 kv_bytes, flops, bytes_moved, params;
    u128 flops_fp8eq_x2;
} type_row;
int store_get_types(store *st, const char *key, type_row *rows, int max, int *n, sim_err *e);

/* Reference-kernel measurement rows. */
typedef struct {
    const char *key, *arch, *type, *counter;
    u64 ctx, scale;
    double analytical, measured, seconds;
} measure_row;
/* hw: the profile of the predicted times; version: kvsim's. */
int store_put_measure(store *st, const measure_row *m, long long run_id, const char *hw, const char *version, sim_err *e);
/* Is there a measurement row with this key? */
int store_has_measure(store *st, const char *key, bool *has, sim_err *e);
/* Iterate measurements of one arch (any scale when scale = 0): calls fn for
 * each row (ordered by ctx, type, counter). */
int store_each_measure(store *st, const char *arch, u64 scale,
                       void (*fn)(void *ctx, const measure_row *m), void *ctx, sim_err *e);

/* Merge databases: every spec, point, per-type row, measurement, error and
 * run of the inputs into out (created if missing). Every input is checked
 * first; the result is built in a temporary file and renamed over out on
 * success only. Idempotent: merging the same inputs again changes nothing
 * (runs are matched by uid, everything else by key). */
int store_merge(const char *out_path, const char *const *in, int n, sim_err *e);

/* 64-bit FNV-1a of a string, as 16 hex digits into hex[17]. Can't fail. */
void store_hash(const char *s, char hex[17]);

#endif
