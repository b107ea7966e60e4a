/* store.c - SQLite store; see store.h and README.md ("The database"). */
#include "store.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <errno.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct store {
    sqlite3 *db;
    sqlite3_stmt *has, *put_point, *put_spec, *get_point, *get_types, *put_measure, *put_error;
};

/* The metric columns of `points`, in table order, and of `point_types`. Each
 * holds an INTEGER when the count fits SQLite's signed 64 bits and the nearest
 * REAL above that, so numeric comparisons (`WHERE flops < 1e19`) are right on
 * every row; the exact decimal text of each value above 2^63-1 is kept in the
 * row's `exact` column as "column=digits;..." (NULL when every value fits). */
#define POINT_METRICS "kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved, weight_read_bytes, kv_read_bytes," \
    " kv_written_bytes, act_bytes, weight_bytes, params_total, params_active, params_effective, flops_proj, flops_attn," \
    " flops_indexer, flops_compress, flops_ffn, flops_mhc, flops_other"
static const char *const point_metric[] = {"kv_bytes", "flops", "flops_fp8_equiv_x2", "bytes_moved", "weight_read_bytes",
    "kv_read_bytes", "kv_written_bytes", "act_bytes", "weight_bytes", "params_total", "params_active", "params_effective",
    "flops_proj", "flops_attn", "flops_indexer", "flops_compress", "flops_ffn", "flops_mhc", "flops_other"};
#define N_POINT_METRICS ((int)(sizeof point_metric / sizeof point_metric[0]))
#define TYPE_METRICS "kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved, params"
static const char *const type_metric[] = {"kv_bytes", "flops", "flops_fp8_equiv_x2", "bytes_moved", "params"};
#define N_TYPE_METRICS ((int)(sizeof type_metric / sizeof type_metric[0]))
/* Columns added by schema 2 go last in every table, so that a database
 * upgraded from schema 1 (ALTER TABLE ... ADD COLUMN) has the same column
 * order as a new one. */
#define POINT_COLS "key, scenario, run_id, spec_hash, arch, params, ctx, phase, batch, " POINT_METRICS \
    ", exact, page, causal, hw, kvsim_version, types"
#define RUN_COLS "scenario, kvsim_version, git_rev, shard, started_at, finished_at, points_new, points_reused, uid"
#define MEASURE_COLS "key, run_id, arch, scale, ctx, type, counter, analytical, measured, seconds, hw, kvsim_version"
#define ERROR_COLS "key, run_id, scenario, arch, params, ctx, phase, batch, error, kvsim_version"

/* Schema 3: a point's per-type rows are one JSON array in its `types`
 * column, [[type, layers, kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved,
 * params(, exact)], ...] in the order of kvsim cost's by_type (numbers as
 * exact digits: SQLite reads one above 2^63-1 as the nearest REAL; `exact`,
 * only when one is, as in the columns), and `point_types` is a view that
 * unfolds them with the columns schema 2's table had. One row per point
 * instead of one per (point, type), and no copy of the point's key in each
 * type row and in their primary-key index: 5.6x fewer rows to insert and
 * about a third of the bytes (README.md, "The database"). */
#define POINT_TYPES_VIEW \
    "CREATE VIEW IF NOT EXISTS point_types AS SELECT p.key AS point_key, json_extract(t.value, '$[0]') AS type," \
    " json_extract(t.value, '$[1]') AS layers, json_extract(t.value, '$[2]') AS kv_bytes," \
    " json_extract(t.value, '$[3]') AS flops, json_extract(t.value, '$[4]') AS flops_fp8_equiv_x2," \
    " json_extract(t.value, '$[5]') AS bytes_moved, json_extract(t.value, '$[6]') AS params," \
    " json_extract(t.value, '$[7]') AS exact FROM points p, json_each(p.types) t;"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, scenario TEXT NOT NULL, kvsim_version TEXT NOT NULL,"
    " git_rev TEXT, shard TEXT, started_at TEXT NOT NULL, finished_at TEXT, points_new INTEGER, points_reused INTEGER,"
    " uid TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS runs_uid ON runs(uid);"
    "CREATE TABLE IF NOT EXISTS specs(hash TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT, yaml TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS points(key TEXT PRIMARY KEY, scenario TEXT NOT NULL, run_id INTEGER,"
    " spec_hash TEXT NOT NULL, arch TEXT NOT NULL, params TEXT NOT NULL, ctx INTEGER NOT NULL, phase TEXT NOT NULL,"
    " batch INTEGER NOT NULL, " POINT_METRICS ", exact TEXT, page INTEGER, causal INTEGER, hw TEXT, kvsim_version TEXT,"
    " types TEXT);"
    POINT_TYPES_VIEW
    "CREATE TABLE IF NOT EXISTS measurements(key TEXT PRIMARY KEY, run_id INTEGER, arch TEXT NOT NULL,"
    " scale INTEGER NOT NULL, ctx INTEGER NOT NULL, type TEXT NOT NULL, counter TEXT NOT NULL,"
    " analytical REAL, measured REAL, seconds REAL, hw TEXT, kvsim_version TEXT);"
    "CREATE TABLE IF NOT EXISTS point_errors(key TEXT PRIMARY KEY, run_id INTEGER, scenario TEXT NOT NULL,"
    " arch TEXT NOT NULL, params TEXT NOT NULL, ctx INTEGER NOT NULL, phase TEXT NOT NULL, batch INTEGER NOT NULL,"
    " error TEXT NOT NULL, kvsim_version TEXT);"
    "CREATE VIEW IF NOT EXISTS points_v AS SELECT *, flops_fp8_equiv_x2 / 2.0 AS flops_fp8_equiv FROM points;";

/* Schema 1 -> 2: the columns schema 2 added (at the end of each table), the
 * point_errors table, and every metric that schema 1 stored as TEXT (values
 * above 2^63-1) moved to a REAL with its digits in `exact`. Schema-1 sweeps
 * always ran logical (page 0) and causal with no hardware profile. */
static const char upgrade_1_2[] =
    "ALTER TABLE runs ADD COLUMN uid TEXT;"
    "UPDATE runs SET uid = lower(hex(randomblob(8)));"
    "CREATE UNIQUE INDEX runs_uid ON runs(uid);"
    "ALTER TABLE points ADD COLUMN exact TEXT;"
    "ALTER TABLE points ADD COLUMN page INTEGER;"
    "ALTER TABLE points ADD COLUMN causal INTEGER;"
    "ALTER TABLE points ADD COLUMN hw TEXT;"
    "ALTER TABLE points ADD COLUMN kvsim_version TEXT;"
    "UPDATE points SET page = 0, causal = 1, kvsim_version = (SELECT kvsim_version FROM runs WHERE runs.id = points.run_id);"
    "ALTER TABLE point_types ADD COLUMN exact TEXT;"
    "ALTER TABLE measurements ADD COLUMN hw TEXT;"
    "ALTER TABLE measurements ADD COLUMN kvsim_version TEXT;"
    "UPDATE measurements SET kvsim_version = (SELECT kvsim_version FROM runs WHERE runs.id = measurements.run_id);";

/* Schema 2 -> 3: each point's rows of the point_types table become the
 * JSON array of its `types` column (in their insertion order, REALs with
 * their `exact` digits as they were), the table is dropped and the view of
 * the same name and columns takes its place (created with the schema). */
static const char upgrade_2_3[] =
    "ALTER TABLE points ADD COLUMN types TEXT;"
    "UPDATE points SET types = (SELECT json_group_array(json(r)) FROM (SELECT CASE WHEN t.exact IS NULL"
    " THEN json_array(t.type, t.layers, t.kv_bytes, t.flops, t.flops_fp8_equiv_x2, t.bytes_moved, t.params)"
    " ELSE json_array(t.type, t.layers, t.kv_bytes, t.flops, t.flops_fp8_equiv_x2, t.bytes_moved, t.params, t.exact) END AS r"
    " FROM point_types t WHERE t.point_key = points.key ORDER BY t.rowid));"
    "DROP TABLE point_types;"
    "DROP INDEX IF EXISTS points_arch;";

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

/* Create the schema in a new database, or upgrade an older one, in one
 * transaction. The version is read again inside it: another writer may have
 * done the work meanwhile. */
static int user_version(store *st, int *ver)
{
    sqlite3_stmt *v;
    *ver = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &v, NULL) != SQLITE_OK) return SIM_EIO;
    if (sqlite3_step(v) == SQLITE_ROW) *ver = sqlite3_column_int(v, 0);
    sqlite3_finalize(v);
    return *ver < 0 ? SIM_EIO : SIM_OK;
}

static int upgrade_text_metrics(store *st, const char *table, const char *const *col, int n, sim_err *e)
{
    for (int i = 0; i < n; i++) {
        char sql[400];
        snprintf(sql, sizeof sql, "UPDATE %s SET exact = coalesce(exact || ';', '') || '%s=' || %s, %s = CAST(%s AS REAL)"
                 " WHERE typeof(%s) = 'text'", table, col[i], col[i], col[i], col[i], col[i]);
        int rc = exec(st, sql, e);
        if (rc) return rc;
    }
    return SIM_OK;
}

static int create_or_upgrade(store *st, const char *path, sim_err *e)
{
    int rc, ver;
    if ((rc = store_begin(st, e))) return rc;
    if (user_version(st, &ver)) { rc = dberr(st, e, path); goto fail; }
    if (ver == 1) {
        if ((rc = exec(st, upgrade_1_2, e)) ||
            (rc = upgrade_text_metrics(st, "points", point_metric, N_POINT_METRICS, e)) ||
            (rc = upgrade_text_metrics(st, "point_types", type_metric, N_TYPE_METRICS, e)))
            goto fail;
    }
    if (ver >= 1 && ver <= 2 && (rc = exec(st, upgrade_2_3, e))) goto fail;
    _Static_assert(STORE_SCHEMA_VERSION == 3, "add the upgrade step from the previous version");
    if (ver < STORE_SCHEMA_VERSION && ((rc = exec(st, schema, e)) || (rc = exec(st, "PRAGMA user_version = 3", e))))
        goto fail;
    return store_commit(st, e);
fail:
    store_rollback(st);
    {
        char m[200];
        snprintf(m, sizeof m, "%.199s", e->msg);
        return sim_fail(e, rc, "%.300s: creating or upgrading the schema: %s", path, m);
    }
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
    /* NOMUTEX: a store is used by one thread, so SQLite's per-call mutexes
     * (a sixth of a point's insert: every bind takes and releases one) go. */
    int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
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
    if (read_only && ver > 0 && ver < STORE_SCHEMA_VERSION) {
        rc = sim_fail(e, SIM_EINVAL, "%s: database schema version %d is older than this kvsim's (%d): upgrade it in place "
                      "by running a sweep into it (kvsim sweep SCENARIO --db %s keeps and reuses every finished point)",
                      path, ver, STORE_SCHEMA_VERSION, path);
        goto fail;
    }
    if (!read_only) {
        /* Switching to WAL needs a moment alone with the file: another
         * sweep opening it at the same time makes this fail with BUSY
         * even under the busy timeout, so retry. */
        for (int tries = 0;; tries++) {
            int x = sqlite3_exec(st->db, exists && sb.st_size ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                 : "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
            if (x == SQLITE_OK) break;
            if ((x != SQLITE_BUSY && x != SQLITE_LOCKED) || tries == 200) { rc = dberr(st, e, "set WAL mode"); goto fail; }
            nap_ms(25);
        }
        if (ver < STORE_SCHEMA_VERSION && (rc = create_or_upgrade(st, path, e))) goto fail;
    } else if (ver == 0) {
        rc = sim_fail(e, SIM_EINVAL, "%s: empty or not a kvsim database (run kvsim sweep first)", path);
        goto fail;
    }
    if ((rc = prep(st, &st->has, "SELECT 1 FROM points WHERE key = ?", e)) ||
        (rc = prep(st, &st->get_point, "SELECT flops_fp8_equiv_x2, kv_bytes, weight_read_bytes, kv_read_bytes,"
                   " kv_written_bytes, act_bytes, weight_bytes, params_total, params_active, params_effective, flops_proj,"
                   " flops_attn, flops_indexer, flops_compress, flops_ffn, flops_mhc, flops_other, exact"
                   " FROM points WHERE key = ?", e)) ||
        (rc = prep(st, &st->get_types, "SELECT json_extract(t.value, '$[0]'), json_extract(t.value, '$[1]'),"
                   " json_extract(t.value, '$[2]'), json_extract(t.value, '$[3]'), json_extract(t.value, '$[4]'),"
                   " json_extract(t.value, '$[5]'), json_extract(t.value, '$[6]'), json_extract(t.value, '$[7]')"
                   " FROM points p, json_each(p.types) t WHERE p.key = ? ORDER BY t.key", e)))
        goto fail;
    if (!read_only &&
        ((rc = prep(st, &st->put_point, "INSERT OR IGNORE INTO points(" POINT_COLS ") VALUES(?,?,?,?,?,?,?,?,?,"
                    "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", e)) ||
         (rc = prep(st, &st->put_spec, "INSERT OR IGNORE INTO specs VALUES(?,?,?,?)", e)) ||
         (rc = prep(st, &st->put_measure, "INSERT OR REPLACE INTO measurements(" MEASURE_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", e)) ||
         (rc = prep(st, &st->put_error, "INSERT OR REPLACE INTO point_errors(" ERROR_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?)", e))))
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
    sqlite3_finalize(st->put_spec);
    sqlite3_finalize(st->get_point);
    sqlite3_finalize(st->get_types);
    sqlite3_finalize(st->put_measure);
    sqlite3_finalize(st->put_error);
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
    /* uid: a random id that names this run in every database it is merged
     * into (ids are renumbered by merges; the uid makes re-merging idempotent). */
    if (prep(st, &s, "INSERT INTO runs(scenario, kvsim_version, git_rev, shard, started_at, uid)"
             " VALUES(?,?,?,?,?,lower(hex(randomblob(8))))", e)) return SIM_EIO;
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
    /* A point that failed before and is computed now is no longer an error. */
    if (!rc) rc = exec(st, "DELETE FROM point_errors WHERE key IN (SELECT key FROM points)", e);
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

int store_has_prefix(store *st, const char *prefix, bool *has, sim_err *e)
{
    /* Keys compare as bytes: those starting with prefix lie in
     * [prefix, prefix with its last byte + 1) (the key index's range). */
    size_t n = strlen(prefix);
    char *hi = malloc(n + 1);
    if (!hi) return sim_fail(e, SIM_ENOMEM, "out of memory");
    memcpy(hi, prefix, n + 1);
    while (n && (unsigned char)hi[n - 1] == 0xff) hi[--n] = 0;   /* (never for a key: UTF-8) */
    if (n) hi[n - 1]++;
    sqlite3_stmt *s;
    int rc;
    if ((rc = prep(st, &s, n ? "SELECT 1 FROM points WHERE key >= ?1 AND key < ?2 LIMIT 1"
                             : "SELECT 1 FROM points WHERE key >= ?1 LIMIT 1", e))) { free(hi); return rc; }
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    if (n) sqlite3_bind_text(s, 2, hi, -1, SQLITE_STATIC);
    int x = sqlite3_step(s);
    sqlite3_finalize(s);
    free(hi);
    if (x != SQLITE_ROW && x != SQLITE_DONE) return dberr(st, e, "lookup");
    *has = x == SQLITE_ROW;
    return SIM_OK;
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

/* Metrics are u64 but for the FP8-equivalent FLOPs x2, kept in 128 bits
 * (cost.h); both go through one path. */
typedef u128 metric_t;

/* v as decimal digits into buf (40 bytes suffice). Can't fail. */
static void metric_digits(metric_t v, char *buf, size_t len)
{
    char tmp[48];
    int n = 0;
    do { tmp[n++] = (char)('0' + (int)(v % 10)); v /= 10; } while (v);
    size_t k = 0;
    while (n && k + 1 < len) buf[k++] = tmp[--n];
    buf[k] = 0;
}

/* Bind a metric: an INTEGER when it fits SQLite's signed 64 bits, else the
 * nearest REAL, with "name=digits" appended to *exact (the exact value). */
static void bind_metric(sqlite3_stmt *s, int i, const char *name, metric_t v, char *exact, size_t len)
{
    if (v <= (metric_t)INT64_MAX) { sqlite3_bind_int64(s, i, (sqlite3_int64)v); return; }
    sqlite3_bind_double(s, i, (double)v);
    char d[48];
    metric_digits(v, d, sizeof d);
    size_t l = strlen(exact);
    snprintf(exact + l, len - l, "%s%s=%s", l ? ";" : "", name, d);
}

static void bind_exact(sqlite3_stmt *s, int i, const char *exact)
{
    if (exact[0]) sqlite3_bind_text(s, i, exact, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, i);
}

static metric_t parse_digits(const char *p)
{
    metric_t v = 0;
    for (; p && *p >= '0' && *p <= '9'; p++) v = v * 10 + (metric_t)(*p - '0');
    return v;
}

/* Read a metric column written by bind_metric: a REAL is looked up in the
 * row's exact text (column `exact_col`); a TEXT (schema 1) is its digits. */
static metric_t col_metric(sqlite3_stmt *s, int i, const char *name, int exact_col)
{
    int t = sqlite3_column_type(s, i);
    if (t == SQLITE_INTEGER) return (metric_t)(u64)sqlite3_column_int64(s, i);
    const char *x = (const char *)sqlite3_column_text(s, exact_col);
    size_t nl = strlen(name);
    for (const char *p = x; p && *p;) {
        if (!strncmp(p, name, nl) && p[nl] == '=') return parse_digits(p + nl + 1);
        p = strchr(p, ';');
        if (p) p++;
    }
    if (t == SQLITE_TEXT) return parse_digits((const char *)sqlite3_column_text(s, i));
    return (metric_t)sqlite3_column_double(s, i);   /* not reached: a REAL always has its digits */
}

/* A JSON text being written into a fixed buffer; n counts past cap on
 * overflow (the caller checks n < cap), nothing is written beyond it. */
typedef struct { char *p; size_t cap, n; } jbuf;

static void jput(jbuf *j, char c)
{
    if (j->n + 1 < j->cap) j->p[j->n] = c;
    j->n++;
}

/* A number as its exact digits (SQLite's JSON reads one above 2^63-1 as
 * the nearest REAL, as the columns store it). Two digits per 64-bit
 * division, written in place from the last (128-bit divisions are library
 * calls: only for the digits above 2^64). */
static void jnum(jbuf *j, metric_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[48], *end = tmp + sizeof tmp, *p = end;
    while (v > UINT64_MAX) { *--p = (char)('0' + (int)(v % 10)); v /= 10; }
    u64 w = (u64)v;
    while (w >= 100) {
        const char *d = &pairs[2 * (w % 100)];
        *--p = d[1];
        *--p = d[0];
        w /= 100;
    }
    if (w >= 10) { *--p = pairs[2 * w + 1]; *--p = pairs[2 * w]; }
    else *--p = (char)('0' + (int)w);
    size_t n = (size_t)(end - p);
    if (j->n + n < j->cap) {
        memcpy(j->p + j->n, p, n);
        j->n += n;
    } else {
        for (size_t i = 0; i < n; i++) jput(j, p[i]);
    }
}

/* A JSON string (RFC 8259: quote, backslash and control characters escaped). */
static void jstr(jbuf *j, const char *s)
{
    jput(j, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { jput(j, '\\'); jput(j, (char)c); }
        else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            jput(j, '\\'); jput(j, 'u'); jput(j, '0'); jput(j, '0'); jput(j, hex[c >> 4]); jput(j, hex[c & 15]);
        } else jput(j, (char)c);
    }
    jput(j, '"');
}

int store_put_point(store *st, const point_meta *pm, const cost_result *r, u64 params_effective, sim_err *e)
{
    sqlite3_stmt *s = st->put_point;
    const cost_t *t = &r->total;
    char exact[512] = "";
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, pm->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, pm->scenario, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, pm->run_id);
    sqlite3_bind_text(s, 4, pm->spec_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, pm->arch, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, pm->params, -1, SQLITE_STATIC);
    bind_metric(s, 7, "ctx", pm->ctx, exact, sizeof exact);
    sqlite3_bind_text(s, 8, pm->phase, -1, SQLITE_STATIC);
    bind_metric(s, 9, "batch", pm->batch, exact, sizeof exact);
    metric_t v[] = {t->kv_bytes, cost_flops(t), t->flops_fp8eq_x2, cost_bytes_moved(t), t->weight_read_bytes, t->kv_read_bytes,
               t->kv_written_bytes, t->act_bytes, t->weight_bytes, t->params, t->params_active, params_effective,
               t->flops[FL_PROJ], t->flops[FL_ATTN], t->flops[FL_INDEX], t->flops[FL_COMPRESS], t->flops[FL_FFN],
               t->flops[FL_MHC], t->flops[FL_OTHER]};
    _Static_assert(FL_COUNT == 7, "one column per FLOP category");
    _Static_assert(sizeof v / sizeof v[0] == N_POINT_METRICS, "one value per metric column");
    for (int i = 0; i < N_POINT_METRICS; i++) bind_metric(s, 10 + i, point_metric[i], v[i], exact, sizeof exact);
    int c = 10 + N_POINT_METRICS;
    bind_exact(s, c, exact);
    sqlite3_bind_int64(s, c + 1, (sqlite3_int64)pm->page);
    sqlite3_bind_int(s, c + 2, !pm->noncausal);
    if (pm->hw && pm->hw[0]) sqlite3_bind_text(s, c + 3, pm->hw, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, c + 3);
    sqlite3_bind_text(s, c + 4, pm->version, -1, SQLITE_STATIC);
    /* The per-type rows, as one JSON array (schema 3). */
    char types[8192];
    jbuf j = {types, sizeof types, 0};
    jput(&j, '[');
    for (int k = 0; k < r->n_types; k++) {
        const cost_t *ct = &r->type[k].c;
        metric_t tv[] = {ct->kv_bytes, cost_flops(ct), ct->flops_fp8eq_x2, cost_bytes_moved(ct), ct->params};
        _Static_assert(sizeof tv / sizeof tv[0] == N_TYPE_METRICS, "one value per metric column");
        char tex[256] = "";
        if (k) jput(&j, ',');
        jput(&j, '[');
        jstr(&j, r->type[k].name);
        jput(&j, ',');
        jnum(&j, (metric_t)(u64)r->type[k].layers);
        for (int i = 0; i < N_TYPE_METRICS; i++) {
            jput(&j, ',');
            jnum(&j, tv[i]);
            if (tv[i] > (metric_t)INT64_MAX) {
                char d[48];
                metric_digits(tv[i], d, sizeof d);
                size_t l = strlen(tex);
                snprintf(tex + l, sizeof tex - l, "%s%s=%s", l ? ";" : "", type_metric[i], d);
            }
        }
        if (tex[0]) { jput(&j, ','); jstr(&j, tex); }
        jput(&j, ']');
    }
    jput(&j, ']');
    if (j.n >= j.cap) return sim_fail(e, SIM_EINVAL, "insert point: %d layer types exceed the row's buffer", r->n_types);
    sqlite3_bind_text(s, c + 5, types, (int)j.n, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) return dberr(st, e, "insert point");
    return SIM_OK;
}

int store_put_error(store *st, const point_meta *pm, const char *error, sim_err *e)
{
    sqlite3_stmt *s = st->put_error;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, pm->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, pm->run_id);
    sqlite3_bind_text(s, 3, pm->scenario, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, pm->arch, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, pm->params, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)pm->ctx);
    sqlite3_bind_text(s, 7, pm->phase, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)pm->batch);
    sqlite3_bind_text(s, 9, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, pm->version, -1, SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_DONE ? SIM_OK : dberr(st, e, "insert point error");
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
    static const char *const name[] = {"kv_bytes", "weight_read_bytes", "kv_read_bytes",
        "kv_written_bytes", "act_bytes", "weight_bytes", "params_total", "params_active", "params_effective", "flops_proj",
        "flops_attn", "flops_indexer", "flops_compress", "flops_ffn", "flops_mhc", "flops_other"};
    u64 *dst[] = {&t->kv_bytes, &t->weight_read_bytes, &t->kv_read_bytes, &t->kv_written_bytes,
                  &t->act_bytes, &t->weight_bytes, &t->params, &t->params_active, params_effective,
                  &t->flops[FL_PROJ], &t->flops[FL_ATTN], &t->flops[FL_INDEX], &t->flops[FL_COMPRESS],
                  &t->flops[FL_FFN], &t->flops[FL_MHC], &t->flops[FL_OTHER]};
    _Static_assert(sizeof name / sizeof name[0] == sizeof dst / sizeof dst[0], "a name per column");
    int n = (int)(sizeof dst / sizeof dst[0]);
    for (int i = 0; i < n; i++) *dst[i] = (u64)col_metric(s, i + 1, name[i], n + 1);
    t->flops_fp8eq_x2 = col_metric(s, 0, "flops_fp8_equiv_x2", n + 1);
    sqlite3_reset(s);
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
        w->kv_bytes = (u64)col_metric(s, 2, "kv_bytes", 7);
        w->flops = (u64)col_metric(s, 3, "flops", 7);
        w->flops_fp8eq_x2 = col_metric(s, 4, "flops_fp8_equiv_x2", 7);
        w->bytes_moved = (u64)col_metric(s, 5, "bytes_moved", 7);
        w->params = (u64)col_metric(s, 6, "params", 7);
        _Static_assert(N_TYPE_METRICS == 5, "one line per metric column");
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SIM_OK : dberr(st, e, "read point types");
}

int store_put_measure(store *st, const measure_row *m, long long run_id, const char *hw, const char *version, sim_err *e)
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
    sqlite3_bind_text(s, 11, hw, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 12, version, -1, SQLITE_STATIC);
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

/* The schema version of an existing file (0 for an empty one), or an error
 * when it is not SQLite. */
static int db_version(const char *path, int *ver, sim_err *e)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *v = NULL;
    int rc = SIM_OK;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, NULL) != SQLITE_OK || sqlite3_step(v) != SQLITE_ROW)
        rc = sim_fail(e, SIM_EIO, "%s: not a kvsim database (%s)", path, db ? sqlite3_errmsg(db) : "out of memory");
    else *ver = sqlite3_column_int(v, 0);
    sqlite3_finalize(v);
    sqlite3_close(db);
    return rc;
}

/* Copy the database src_path (through its WAL) into the new file dst_path. */
static int copy_db(const char *src_path, const char *dst_path, sim_err *e)
{
    sqlite3 *src = NULL, *dst = NULL;
    int rc = SIM_OK;
    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = sim_fail(e, SIM_EIO, "%s: cannot open: %s", src_path, src ? sqlite3_errmsg(src) : "out of memory");
    else if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        rc = sim_fail(e, SIM_EIO, "%s: cannot create: %s", dst_path, dst ? sqlite3_errmsg(dst) : "out of memory");
    else {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        int x = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        if (b) sqlite3_backup_finish(b);
        if (x != SQLITE_DONE) rc = sim_fail(e, SIM_EIO, "%s: cannot copy: %s", src_path, sqlite3_errmsg(dst));
    }
    sqlite3_close(src);
    sqlite3_close(dst);
    return rc;
}

/* Remove a database file and its WAL, shared-memory and journal files. */
static void remove_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        char p[1100];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

/* One input into the open output: runs by uid (ids renumbered; a run merged
 * before is not copied again), then everything keyed by content, with each
 * row's run_id mapped to the output's id of the same run. */
static const char merge_sql[] =
    "INSERT OR IGNORE INTO specs SELECT * FROM src.specs;"
    "INSERT OR IGNORE INTO runs(" RUN_COLS ") SELECT " RUN_COLS " FROM src.runs;"
    "CREATE TEMP TABLE run_map AS SELECT r.id AS src_id, m.id AS out_id FROM src.runs r JOIN main.runs m ON m.uid = r.uid;"
    "INSERT OR IGNORE INTO points(" POINT_COLS ") SELECT key, scenario,"
    " (SELECT out_id FROM run_map WHERE src_id = run_id), spec_hash, arch, params, ctx, phase, batch, " POINT_METRICS ","
    " exact, page, causal, hw, kvsim_version, types FROM src.points;"
    "INSERT OR IGNORE INTO measurements(" MEASURE_COLS ") SELECT key, (SELECT out_id FROM run_map WHERE src_id = run_id),"
    " arch, scale, ctx, type, counter, analytical, measured, seconds, hw, kvsim_version FROM src.measurements;"
    "INSERT OR IGNORE INTO point_errors(" ERROR_COLS ") SELECT key, (SELECT out_id FROM run_map WHERE src_id = run_id),"
    " scenario, arch, params, ctx, phase, batch, error, kvsim_version FROM src.point_errors;"
    "DELETE FROM point_errors WHERE key IN (SELECT key FROM points);"
    "DROP TABLE run_map;";

static int merge_one(store *st, const char *in, sim_err *e)
{
    sqlite3_stmt *a;
    int rc;
    if ((rc = prep(st, &a, "ATTACH DATABASE ? AS src", e))) return rc;
    sqlite3_bind_text(a, 1, in, -1, SQLITE_STATIC);
    int s = sqlite3_step(a);
    sqlite3_finalize(a);
    if (s != SQLITE_DONE) return dberr(st, e, in);
    if (!(rc = store_begin(st, e))) {
        if ((rc = exec(st, merge_sql, e))) store_rollback(st);
        else rc = store_commit(st, e);
    }
    sim_err ignore;
    exec(st, "DETACH DATABASE src", &ignore);
    return rc;
}

int store_merge(const char *out_path, const char *const *in, int n, sim_err *e)
{
    /* Every input is checked before anything is written. */
    for (int i = 0; i < n; i++) {
        store *src;
        int rc = store_open(&src, in[i], true, e);
        if (rc) return rc;
        store_close(src);
    }
    /* The result is built in a temporary file beside the output (the
     * existing output copied in first) and renamed over it on success only:
     * a failed merge leaves the output as it was, or absent. */
    struct stat sb;
    bool exists = stat(out_path, &sb) == 0;
    int ver = 0, rc = SIM_OK;
    if (exists && (rc = db_version(out_path, &ver, e))) return rc;
    if (ver > STORE_SCHEMA_VERSION)
        return sim_fail(e, SIM_EINVAL, "%s: database schema version %d is newer than this kvsim's (%d); use a newer kvsim "
                        "or another -o", out_path, ver, STORE_SCHEMA_VERSION);
    char tmp[1024];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.merge-%ld.tmp", out_path, (long)getpid()) >= sizeof tmp)
        return sim_fail(e, SIM_EINVAL, "%s: path too long", out_path);
    remove_db(tmp);
    store *st = NULL;
    if (exists && (rc = copy_db(out_path, tmp, e))) goto fail;
    if ((rc = store_open(&st, tmp, false, e))) goto fail;
    for (int i = 0; i < n && !rc; i++) rc = merge_one(st, in[i], e);
    /* Fold the WAL into the file, so that the rename moves everything. */
    if (rc || (rc = exec(st, "PRAGMA journal_mode=DELETE", e))) goto fail;
    store_close(st);
    st = NULL;
    if (rename(tmp, out_path)) {
        rc = sim_fail(e, SIM_EIO, "%s: cannot rename the merged database into place: %s", out_path, strerror(errno));
        goto fail;
    }
    /* Stale WAL files of the file replaced would be replayed onto the new one. */
    char p[1100];
    snprintf(p, sizeof p, "%s-wal", out_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", out_path);
    unlink(p);
    return SIM_OK;
fail:
    store_close(st);
    remove_db(tmp);
    return rc;
}

void store_hash(const char *s, char hex[17])
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}
