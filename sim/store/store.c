/* store.c - SQLite store; see store.h and README.md ("The database"). */
#include "store.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct store {
    sqlite3 *db;
    sqlite3_stmt *has, *put_point, *put_type, *put_spec, *get_point, *get_types, *put_measure;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, scenario TEXT NOT NULL, kvsim_version TEXT NOT NULL,"
    " git_rev TEXT, shard TEXT, started_at TEXT NOT NULL, finished_at TEXT, points_new INTEGER, points_reused INTEGER);"
    "CREATE TABLE IF NOT EXISTS specs(hash TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT, yaml TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS points(key TEXT PRIMARY KEY, scenario TEXT NOT NULL, run_id INTEGER,"
    " spec_hash TEXT NOT NULL, arch TEXT NOT NULL, params TEXT NOT NULL, ctx INTEGER NOT NULL, phase TEXT NOT NULL,"
    " batch INTEGER NOT NULL, kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved,"
    " weight_read_bytes, kv_read_bytes, kv_written_bytes, act_bytes,"
    " weight_bytes, params_total, params_active, params_effective,"
    " flops_proj, flops_attn, flops_indexer, flops_compress, flops_ffn,"
    " flops_mhc, flops_other);"
    "CREATE INDEX IF NOT EXISTS points_arch ON points(arch, params, phase, batch, ctx);"
    "CREATE TABLE IF NOT EXISTS point_types(point_key TEXT NOT NULL, type TEXT NOT NULL, layers INTEGER,"
    " kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved, params,"
    " PRIMARY KEY(point_key, type));"
    "CREATE TABLE IF NOT EXISTS measurements(key TEXT PRIMARY KEY, run_id INTEGER, arch TEXT NOT NULL,"
    " scale INTEGER NOT NULL, ctx INTEGER NOT NULL, type TEXT NOT NULL, counter TEXT NOT NULL,"
    " analytical REAL, measured REAL, seconds REAL);"
    "CREATE VIEW IF NOT EXISTS points_v AS SELECT *, flops_fp8_equiv_x2 / 2.0 AS flops_fp8_equiv FROM points;";

static int dberr(store *st, sim_err *e, const char *what)
{
    /* A failed write says only "disk I/O error": a file-size limit (EFBIG)
     * or a quota is SQLITE_IOERR_WRITE to SQLite (only ENOSPC is
     * SQLITE_FULL), and the errno is gone by the time we ask. Name the likely
     * causes and the way out: the last commit is intact, a rerun resumes. */
    int x = sqlite3_extended_errcode(st->db), sys = sqlite3_system_errno(st->db);
    if ((x & 0xff) == SQLITE_FULL || x == SQLITE_IOERR_WRITE ||
        x == SQLITE_IOERR_TRUNCATE || x == SQLITE_IOERR_FSYNC || x == SQLITE_IOERR_SHMSIZE)
        return sim_fail(e, SIM_EIO, "database: %s: cannot write (%s%s%s): the disk is full, a file size limit was reached "
                        "or the device failed; every point committed so far is kept: free space or raise the limit, "
                        "then rerun the same command to resume", what, sqlite3_errmsg(st->db), sys ? ": " : "",
                        sys ? strerror(sys) : "");
    return sim_fail(e, SIM_EIO, "database: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(store *st, const char *sql, sim_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sim_fail(e, SIM_EIO, "database: %s", msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return rc;
    }
    return SIM_OK;
}

static int prep(store *st, sqlite3_stmt **s, const char *sql, sim_err *e)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) return dberr(st, e, "prepare");
    return SIM_OK;
}

int store_open(store **out, const char *path, bool read_only, sim_err *e)
{
    *out = NULL;
    store *st = calloc(1, sizeof *st);
    if (!st) return sim_fail(e, SIM_ENOMEM, "out of memory");
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (!read_only && exists && (access(path, W_OK) != 0 || !(sb.st_mode & 0222))) {
        free(st);
        return sim_fail(e, SIM_EIO, "%s: the database is read-only (mode %03o); choose another --db or make it writable",
                        path, (unsigned)(sb.st_mode & 0777));
    }
    if (read_only && !exists) {
        free(st);
        return sim_fail(e, SIM_EIO, "%s: no such database: run kvsim sweep SCENARIO --db %s first", path, path);
    }
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        rc = sim_fail(e, SIM_EIO, "%s: cannot open database: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 60000);
    sqlite3_stmt *v;
    int ver = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &v, NULL) != SQLITE_OK) {
        rc = sim_fail(e, SIM_EIO, "%s: not a kvsim database (%s)", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    if (sqlite3_step(v) == SQLITE_ROW) ver = sqlite3_column_int(v, 0);
    else { sqlite3_finalize(v); rc = sim_fail(e, SIM_EIO, "%s: not a kvsim database (%s)", path, sqlite3_errmsg(st->db)); goto fail; }
    sqlite3_finalize(v);
    if (ver > STORE_SCHEMA_VERSION) {
        rc = sim_fail(e, SIM_EINVAL, "%s: database schema version %d is newer than this kvsim's (%d); use a newer kvsim "
                      "or another --db", path, ver, STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (!read_only) {
        /* Switching to WAL needs a moment alone with the file: another
         * sweep opening it at the same time makes this fail with BUSY
         * even under the busy timeout, so retry. */
        for (int tries = 0;; tries++) {
            int x = sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
            if (x == SQLITE_OK) break;
            if ((x != SQLITE_BUSY && x != SQLITE_LOCKED) || tries == 200) { rc = dberr(st, e, "set WAL mode"); goto fail; }
            nap_ms(25);
        }
        if (ver == 0) {
            if ((rc = store_begin(st, e))) goto fail;
            /* Create the schema unless another writer did it meanwhile (IF NOT EXISTS). */
            if ((rc = exec(st, schema, e)) || (rc = exec(st, "PRAGMA user_version = 1", e))) {
                store_rollback(st);
                goto fail;
            }
            if ((rc = store_commit(st, e))) goto fail;
        }
    } else if (ver == 0) {
        rc = sim_fail(e, SIM_EINVAL, "%s: empty or not a kvsim database (run kvsim sweep first)", path);
        goto fail;
    }
    if ((rc = prep(st, &st->has, "SELECT 1 FROM points WHERE key = ?", e)) ||
        (rc = prep(st, &st->get_point, "SELECT kv_bytes, flops_fp8_equiv_x2, weight_read_bytes, kv_read_bytes,"
                   " kv_written_bytes, act_bytes, weight_bytes, params_total, params_active, params_effective, flops_proj,"
                   " flops_attn, flops_indexer, flops_compress, flops_ffn, flops_mhc, flops_other FROM points WHERE key = ?", e)) ||
        (rc = prep(st, &st->get_types, "SELECT type, layers, kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved, params"
                   " FROM point_types WHERE point_key = ? ORDER BY rowid", e)))
        goto fail;
    if (!read_only &&
        ((rc = prep(st, &st->put_point, "INSERT OR IGNORE INTO points VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", e)) ||
         (rc = prep(st, &st->put_type, "INSERT OR IGNORE INTO point_types VALUES(?,?,?,?,?,?,?,?)", e)) ||
         (rc = prep(st, &st->put_spec, "INSERT OR IGNORE INTO specs VALUES(?,?,?,?)", e)) ||
         (rc = prep(st, &st->put_measure, "INSERT OR REPLACE INTO measurements VALUES(?,?,?,?,?,?,?,?,?,?)", e))))
        goto fail;
    *out = st;
    return SIM_OK;
fail:
    store_close(st);
    return rc;
}

void store_close(store *st)
{
    if (!st) return;
    sqlite3_finalize(st->has);
    sqlite3_finalize(st->put_point);
    sqlite3_finalize(st->put_type);
    sqlite3_finalize(st->put_spec);
    sqlite3_finalize(st->get_point);
    sqlite3_finalize(st->get_types);
    sqlite3_finalize(st->put_measure);
    sqlite3_close(st->db);
    free(st);
}

int store_begin(store *st, sim_err *e)
{
    /* The busy timeout waits for other writers; retry beyond it (up to
     * about a minute) for the cases SQLite reports BUSY without waiting. */
    for (int tries = 0; tries < 600; tries++) {
        int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return SIM_OK;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) return dberr(st, e, "begin");
        nap_ms(tries < 20 ? 10 : 100);
    }
    return dberr(st, e, "begin (database busy)");
}

int store_commit(store *st, sim_err *e)
{
    for (int tries = 0; tries < 20; tries++) {
        int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return SIM_OK;
        if (rc != SQLITE_BUSY) {
            int r = dberr(st, e, "commit");
            store_rollback(st);
            return r;
        }
        nap_ms(50);
    }
    int r = dberr(st, e, "commit (database busy)");
    store_rollback(st);
    return r;
}

void store_rollback(store *st)
{
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static void now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int store_run_start(store *st, const char *scenario, const char *version, const char *git_rev,
                    const char *shard, long long *run_id, sim_err *e)
{
    sqlite3_stmt *s;
    char ts[32];
    now_iso(ts, sizeof ts);
    if (prep(st, &s, "INSERT INTO runs(scenario, kvsim_version, git_rev, shard, started_at) VALUES(?,?,?,?,?)", e)) return SIM_EIO;
    sqlite3_bind_text(s, 1, scenario, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, git_rev, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, shard, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, ts, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s) == SQLITE_DONE ? SIM_OK : dberr(st, e, "insert run");
    sqlite3_finalize(s);
    *run_id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_run_finish(store *st, long long run_id, long long new_points, long long reused, sim_err *e)
{
    sqlite3_stmt *s;
    char ts[32];
    now_iso(ts, sizeof ts);
    if (prep(st, &s, "UPDATE runs SET finished_at = ?, points_new = ?, points_reused = ? WHERE id = ?", e)) return SIM_EIO;
    sqlite3_bind_text(s, 1, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, new_points);
    sqlite3_bind_int64(s, 3, reused);
    sqlite3_bind_int64(s, 4, run_id);
    int rc = sqlite3_step(s) == SQLITE_DONE ? SIM_OK : dberr(st, e, "finish run");
    sqlite3_finalize(s);
    return rc;
}

int store_put_spec(store *st, const char *hash, const char *name, const char *path, const char *yaml, sim_err *e)
{
    sqlite3_stmt *s = st->put_spec;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, yaml ? yaml : "", -1, SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_DONE ? SIM_OK : dberr(st, e, "insert spec");
}

int store_has_point(store *st, const char *key, bool *has, sim_err *e)
{
    sqlite3_stmt *s = st->has;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    /* Reset at once: a statement left on a row keeps its read transaction
     * (an old WAL snapshot) open, and the next BEGIN IMMEDIATE then fails
     * with SQLITE_BUSY_SNAPSHOT however long it waits for other writers. */
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return dberr(st, e, "lookup");
    *has = rc == SQLITE_ROW;
    return SIM_OK;
}

/* Bind a u64: an INTEGER when it fits SQLite's signed 64 bits, else its exact
 * decimal text (metric columns have no declared type, so SQLite keeps it). */
static int bind_u64(sqlite3_stmt *s, int i, u64 v, bool *big)
{
    (void)big;
    if (v <= (u64)INT64_MAX) return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return sqlite3_bind_text(s, i, buf, -1, SQLITE_TRANSIENT);
}

/* The same for the 128-bit count (FP8-equivalent FLOPs x2). */
static int bind_u128(sqlite3_stmt *s, int i, u128 v)
{
    if (v <= (u128)INT64_MAX) return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
    char buf[48];
    u128_str(v, buf, sizeof buf);
    return sqlite3_bind_text(s, i, buf, -1, SQLITE_TRANSIENT);
}

static u128 col_u128(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) != SQLITE_TEXT) return (u128)(u64)sqlite3_column_int64(s, i);
    u128 v = 0;
    for (const unsigned char *p = sqlite3_column_text(s, i); *p >= '0' && *p <= '9'; p++) v = v * 10 + (u128)(*p - '0');
    return v;
}

/* Read a metric column written by bind_u64. */
static u64 col_u64(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_TEXT) return strtoull((const char *)sqlite3_column_text(s, i), NULL, 10);
    return (u64)sqlite3_column_int64(s, i);
}

int store_put_point(store *st, const point_meta *pm, const cost_result *r, u64 params_effective, sim_err *e)
{
    sqlite3_stmt *s = st->put_point;
    const cost_t *t = &r->total;
    bool big = false;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, pm->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, pm->scenario, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, pm->run_id);
    sqlite3_bind_text(s, 4, pm->spec_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, pm->arch, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, pm->params, -1, SQLITE_STATIC);
    bind_u64(s, 7, pm->ctx, &big);
    sqlite3_bind_text(s, 8, pm->phase, -1, SQLITE_STATIC);
    bind_u64(s, 9, pm->batch, &big);
    u64 v[] = {t->kv_bytes, cost_flops(t), 0, cost_bytes_moved(t), t->weight_read_bytes, t->kv_read_bytes,
               t->kv_written_bytes, t->act_bytes, t->weight_bytes, t->params, t->params_active, params_effective,
               t->flops[FL_PROJ], t->flops[FL_ATTN], t->flops[FL_INDEX], t->flops[FL_COMPRESS], t->flops[FL_FFN],
               t->flops[FL_MHC], t->flops[FL_OTHER]};
    _Static_assert(FL_COUNT == 7, "one column per FLOP category");
    for (int i = 0; i < (int)(sizeof v / sizeof v[0]); i++) bind_u64(s, 10 + i, v[i], &big);
    bind_u128(s, 12, t->flops_fp8eq_x2);   /* v[2]: the 128-bit count */
    if (sqlite3_step(s) != SQLITE_DONE) return dberr(st, e, "insert point");
    if (sqlite3_changes(st->db) == 0) return SIM_OK;   /* another writer got there first */
    sqlite3_stmt *ty = st->put_type;
    for (int k = 0; k < r->n_types; k++) {
        const cost_t *c = &r->type[k].c;
        sqlite3_reset(ty);
        sqlite3_bind_text(ty, 1, pm->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ty, 2, r->type[k].name, -1, SQLITE_STATIC);
        sqlite3_bind_int(ty, 3, r->type[k].layers);
        bind_u64(ty, 4, c->kv_bytes, &big);
        bind_u64(ty, 5, cost_flops(c), &big);
        bind_u128(ty, 6, c->flops_fp8eq_x2);
        bind_u64(ty, 7, cost_bytes_moved(c), &big);
        bind_u64(ty, 8, c->params, &big);
        if (sqlite3_step(ty) != SQLITE_DONE) return dberr(st, e, "insert point type");
    }
    return SIM_OK;
}

int store_get_point(store *st, const char *key, cost_t *t, u64 *params_effective, bool *found, sim_err *e)
{
    sqlite3_stmt *s = st->get_point;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    memset(t, 0, sizeof *t);
    *found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SIM_OK : dberr(st, e, "read point");
    t->flops_fp8eq_x2 = col_u128(s, 1);
    u64 skip, *dst[] = {&t->kv_bytes, &skip, &t->weight_read_bytes, &t->kv_read_bytes, &t->kv_written_bytes,
                  &t->act_bytes, &t->weight_bytes, &t->params, &t->params_active, params_effective,
                  &t->flops[FL_PROJ], &t->flops[FL_ATTN], &t->flops[FL_INDEX], &t->flops[FL_COMPRESS],
                  &t->flops[FL_FFN], &t->flops[FL_MHC], &t->flops[FL_OTHER]};
    for (int i = 0; i < (int)(sizeof dst / sizeof dst[0]); i++) *dst[i] = col_u64(s, i);
    return SIM_OK;
}

int store_get_types(store *st, const char *key, type_row *rows, int max, int *n, sim_err *e)
{
    sqlite3_stmt *s = st->get_types;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    *n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < max) {
        type_row *w = &rows[(*n)++];
        memset(w, 0, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s", (const char *)sqlite3_column_text(s, 0));
        w->layers = sqlite3_column_int(s, 1);
        w->kv_bytes = col_u64(s, 2);
        w->flops = col_u64(s, 3);
        w->flops_fp8eq_x2 = col_u128(s, 4);
        w->bytes_moved = col_u64(s, 5);
        w->params = col_u64(s, 6);
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SIM_OK : dberr(st, e, "read point types");
}

int store_put_measure(store *st, const measure_row *m, long long run_id, sim_err *e)
{
    sqlite3_stmt *s = st->put_measure;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, m->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, run_id);
    sqlite3_bind_text(s, 3, m->arch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)m->scale);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)m->ctx);
    sqlite3_bind_text(s, 6, m->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, m->counter, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 8, m->analytical);
    sqlite3_bind_double(s, 9, m->measured);
    sqlite3_bind_double(s, 10, m->seconds);
    return sqlite3_step(s) == SQLITE_DONE ? SIM_OK : dberr(st, e, "insert measurement");
}

int store_has_measure(store *st, const char *key, bool *has, sim_err *e)
{
    sqlite3_stmt *s;
    if (prep(st, &s, "SELECT 1 FROM measurements WHERE key = ?", e)) return SIM_EIO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return dberr(st, e, "lookup measurement");
    *has = rc == SQLITE_ROW;
    return SIM_OK;
}

int store_each_measure(store *st, const char *arch, u64 scale, void (*fn)(void *, const measure_row *), void *ctx, sim_err *e)
{
    sqlite3_stmt *s;
    if (prep(st, &s, "SELECT key, ctx, type, counter, analytical, measured, seconds, scale FROM measurements"
             " WHERE arch = ? AND (? = 0 OR scale = ?) ORDER BY ctx, type, counter", e)) return SIM_EIO;
    sqlite3_bind_text(s, 1, arch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)scale);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)scale);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        measure_row m = {(const char *)sqlite3_column_text(s, 0), arch, (const char *)sqlite3_column_text(s, 2),
                         (const char *)sqlite3_column_text(s, 3), (u64)sqlite3_column_int64(s, 1),
                         (u64)sqlite3_column_int64(s, 7), sqlite3_column_double(s, 4), sqlite3_column_double(s, 5),
                         sqlite3_column_double(s, 6)};
        fn(ctx, &m);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SIM_OK : dberr(st, e, "read measurements");
}

int store_merge(const char *out_path, const char *const *in, int n, sim_err *e)
{
    store *st;
    int rc = store_open(&st, out_path, false, e);
    if (rc) return rc;
    for (int i = 0; i < n && !rc; i++) {
        store *src;
        if ((rc = store_open(&src, in[i], true, e))) break;   /* checks it is a kvsim database */
        store_close(src);
        sqlite3_stmt *a;
        if ((rc = prep(st, &a, "ATTACH DATABASE ? AS src", e))) break;
        sqlite3_bind_text(a, 1, in[i], -1, SQLITE_STATIC);
        int s = sqlite3_step(a);
        sqlite3_finalize(a);
        if (s != SQLITE_DONE) { rc = dberr(st, e, in[i]); break; }
        if (!(rc = store_begin(st, e))) {
            rc = exec(st,
                      "INSERT OR IGNORE INTO specs SELECT * FROM src.specs;"
                      "INSERT INTO runs(scenario, kvsim_version, git_rev, shard, started_at, finished_at, points_new, points_reused)"
                      " SELECT scenario, kvsim_version, git_rev, shard, started_at, finished_at, points_new, points_reused FROM src.runs;"
                      "INSERT OR IGNORE INTO points SELECT * FROM src.points;"
                      "INSERT OR IGNORE INTO point_types SELECT * FROM src.point_types;"
                      "INSERT OR IGNORE INTO measurements SELECT * FROM src.measurements;", e);
            if (rc) store_rollback(st);
            else rc = store_commit(st, e);
        }
        sim_err ignore;
        exec(st, "DETACH DATABASE src", &ignore);
    }
    store_close(st);
    return rc;
}

void store_hash(const char *s, char hex[17])
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}
