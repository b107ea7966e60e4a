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

#define STORE_SCHEMA_VERSION 1

typedef struct store store;

/* Open (creating the schema when new). Refuses a database written by a newer
 * schema, a read-only file when writing, and files that are not SQLite. */
int store_open(store **out, const char *path, bool read_only, sim_err *e);
void store_close(store *st);

/* Transactions with retry on SQLITE_BUSY. */
int store_begin(store *st, sim_err *e);
int store_commit(store *st, sim_err *e);
void store_rollback(store *st);

/* Record a run; *run_id receives its id. */
int store_run_start(store *st, const char *scenario, const char *version, const char *git_rev,
                    const char *shard, long long *run_id, sim_err *e);
int store_run_finish(store *st, long long run_id, long long new_points, long long reused, sim_err *e);

/* Insert a spec (ignored when the hash is known). */
int store_put_spec(store *st, const char *hash, const char *name, const char *path, const char *yaml, sim_err *e);

/* Does a point with this key exist? */
int store_has_point(store *st, const char *key, bool *has, sim_err *e);

typedef struct {
    const char *key, *scenario, *spec_hash, *arch, *params, *phase;
    long long run_id;
    u64 ctx, batch;
} point_meta;

/* Insert a point and its per-type rows (INSERT OR IGNORE: an existing key is
 * left as it is). Values above 2^63-1 (SQLite's INTEGER range) are stored as
 * their exact decimal text. */
int store_put_point(store *st, const point_meta *pm, const cost_result *r, u64 params_effective, sim_err *e);

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
int store_put_measure(store *st, const measure_row *m, long long run_id, sim_err *e);
/* Is there a measurement row with this key? */
int store_has_measure(store *st, const char *key, bool *has, sim_err *e);
/* Iterate measurements of one arch (any scale when scale = 0): calls fn for
 * each row (ordered by ctx, type, counter). */
int store_each_measure(store *st, const char *arch, u64 scale,
                       void (*fn)(void *ctx, const measure_row *m), void *ctx, sim_err *e);

/* Merge databases: every spec, point, per-type row and measurement of the
 * inputs into out (created if missing); runs are copied too. */
int store_merge(const char *out_path, const char *const *in, int n, sim_err *e);

/* 64-bit FNV-1a of a string, as 16 hex digits into hex[17]. Can't fail. */
void store_hash(const char *s, char hex[17]);

#endif
