/* test_store.c - the SQLite store: what goes in comes back out exactly, and
 * numeric filters see every row (values above 2^63-1 included). */
#include "check.h"
#include "store.h"
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

/* One value of a query, as text ("" on no row). */
static void query(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    out[0] = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
            snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    } else {
        snprintf(out, len, "error: %s", sqlite3_errmsg(db));
    }
    sqlite3_close(db);
}

int main(void)
{
    char dir[] = "/tmp/kvsim-test-store-XXXXXX", path[64], got[256];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/t.db", dir);
    sim_err e;
    store *st;
    CHECK("store-open-new", store_open(&st, path, false, &e) == SIM_OK);

    /* Values around SQLite's INTEGER limit 2^63-1 = 9223372036854775807:
     * 2^63 + 12345 and 2^64 - 3 are not doubles (53-bit mantissa), so only
     * the exact digits bring them back. */
    const u64 big = 9223372036854775808ull + 12345, top = 18446744073709551613ull, edge = 9223372036854775807ull;
    /* Beyond u64: the FP8-equivalent count x2 is 128-bit (cost.h). 2^64 * 3 + 7 = 55340232221128654855. */
    const u128 huge = ((u128)3 << 64) + 7;
    cost_result r;
    memset(&r, 0, sizeof r);
    r.total.kv_bytes = big;
    r.total.flops_fp8eq_x2 = huge;
    r.total.flops[FL_ATTN] = edge;
    r.total.flops[FL_PROJ] = 5;          /* flops = 2^63 + 4: above the limit by the sum */
    r.total.weight_read_bytes = 37;
    r.total.kv_read_bytes = 96;
    r.total.params = 1234567;
    r.n_types = 2;
    snprintf(r.type[0].name, sizeof r.type[0].name, "csa");
    r.type[0].layers = 31;
    r.type[0].c.kv_bytes = top;
    r.type[0].c.params = 77;
    r.type[0].c.flops_fp8eq_x2 = huge;
    snprintf(r.type[1].name, sizeof r.type[1].name, "hca");
    r.type[1].layers = 30;
    r.type[1].c.kv_bytes = 4242;
    long long run;
    CHECK("store-begin", store_begin(st, &e) == SIM_OK);
    CHECK("store-run", store_run_start(st, "t", "9.9.9", "abc", "", &run, &e) == SIM_OK);
    point_meta pm = {"k1", "t", "h", "arch-x", "layers.csa.compress_ratio=8", "prefill", run, 1048576, 3,
                     256, true, "scenarios/hw/h100-sxm.yaml", "9.9.9"};
    CHECK("store-put-point", store_put_point(st, &pm, &r, 999, &e) == SIM_OK);
    point_meta bad = {"k2", "t", "h", "arch-x", "", "decode", run, 1048576, 4096, 0, false, NULL, "9.9.9"};
    CHECK("store-put-error", store_put_error(st, &bad, "an exact count exceeds 2^64-1", &e) == SIM_OK);
    CHECK("store-commit", store_commit(st, &e) == SIM_OK);

    /* Read back through the API the report uses. */
    cost_t t;
    u64 eff = 0;
    bool found = false;
    CHECK("store-get-point", store_get_point(st, "k1", &t, &eff, &found, &e) == SIM_OK && found);
    CHECK_EQ("store-back-kv-bytes-2^63+12345", t.kv_bytes, big);
    CHECK("store-back-fp8eq-3*2^64+7", t.flops_fp8eq_x2 == huge);
    CHECK_EQ("store-back-attn-2^63-1", t.flops[FL_ATTN], edge);
    CHECK_EQ("store-back-proj", t.flops[FL_PROJ], 5);
    CHECK_EQ("store-back-weight-read", t.weight_read_bytes, 37);
    CHECK_EQ("store-back-kv-read", t.kv_read_bytes, 96);
    CHECK_EQ("store-back-params", t.params, 1234567);
    CHECK_EQ("store-back-params-effective", eff, 999);
    type_row rows[4];
    int n = 0;
    CHECK("store-get-types", store_get_types(st, "k1", rows, 4, &n, &e) == SIM_OK && n == 2);
    CHECK("store-back-type-order", !strcmp(rows[0].name, "csa") && !strcmp(rows[1].name, "hca"));
    CHECK_EQ("store-back-type-kv-2^64-3", rows[0].kv_bytes, top);
    CHECK_EQ("store-back-type-layers", rows[0].layers, 31);
    CHECK_EQ("store-back-type-params", rows[0].params, 77);
    CHECK("store-back-type-fp8eq-3*2^64+7", rows[0].flops_fp8eq_x2 == huge);
    CHECK_EQ("store-back-type-hca-kv", rows[1].kv_bytes, 4242);
    CHECK("store-missing-point", store_get_point(st, "nope", &t, &eff, &found, &e) == SIM_OK && !found);
    store_close(st);

    /* What a user's query sees: numbers that compare as numbers. */
    query(path, "SELECT typeof(kv_bytes) || ' ' || typeof(flops) || ' ' || typeof(flops_attn) FROM points", got, sizeof got);
    CHECK("store-sql-types", !strcmp(got, "real real integer"));
    query(path, "SELECT COUNT(*) FROM points WHERE flops_fp8_equiv_x2 < 5.6e19 AND flops_fp8_equiv_x2 > 5.5e19", got, sizeof got);
    CHECK("store-sql-filter-above-2^64", !strcmp(got, "1"));
    query(path, "SELECT COUNT(*) FROM points WHERE kv_bytes > 9.2e18 AND kv_bytes < 9.3e18", got, sizeof got);
    CHECK("store-sql-filter-above-2^63", !strcmp(got, "1"));
    query(path, "SELECT COUNT(*) FROM points WHERE kv_bytes < 1e19", got, sizeof got);
    CHECK("store-sql-filter-below-1e19", !strcmp(got, "1"));
    query(path, "SELECT exact FROM points", got, sizeof got);
    CHECK("store-sql-exact-digits", !strcmp(got, "kv_bytes=9223372036854788153;flops=9223372036854775812;"
                                                 "flops_fp8_equiv_x2=55340232221128654855"));
    query(path, "SELECT COUNT(*) FROM point_types WHERE kv_bytes > 1e19 AND exact = 'kv_bytes=18446744073709551613;"
                "flops_fp8_equiv_x2=55340232221128654855'", got, sizeof got);
    CHECK("store-sql-type-exact", !strcmp(got, "1"));
    query(path, "SELECT page || ' ' || causal || ' ' || hw || ' ' || kvsim_version || ' ' || ctx || ' ' || batch FROM points",
          got, sizeof got);
    CHECK("store-sql-settings", !strcmp(got, "256 0 scenarios/hw/h100-sxm.yaml 9.9.9 1048576 3"));
    query(path, "SELECT error FROM point_errors WHERE key = 'k2' AND batch = 4096", got, sizeof got);
    CHECK("store-sql-point-error", !strcmp(got, "an exact count exceeds 2^64-1"));
    query(path, "PRAGMA user_version", got, sizeof got);
    CHECK("store-schema-version", atoi(got) == STORE_SCHEMA_VERSION);
    query(path, "SELECT length(uid) FROM runs", got, sizeof got);
    CHECK("store-run-uid", !strcmp(got, "16"));

    /* A point computed later drops its error record when the run finishes. */
    CHECK("store-reopen", store_open(&st, path, false, &e) == SIM_OK);
    store_begin(st, &e);
    bad.batch = 1;
    r.n_types = 0;
    CHECK("store-put-fixed", store_put_point(st, &bad, &r, 1, &e) == SIM_OK);
    CHECK("store-run-finish", store_run_finish(st, run, 1, 0, &e) == SIM_OK);
    store_commit(st, &e);
    store_close(st);
    query(path, "SELECT COUNT(*) FROM point_errors", got, sizeof got);
    CHECK("store-error-cleared", !strcmp(got, "0"));

    /* Read-only opening of a missing file and of a newer schema. */
    char miss[80];
    snprintf(miss, sizeof miss, "%s/missing.db", dir);
    CHECK("store-missing-db", store_open(&st, miss, true, &e) != SIM_OK && strstr(e.msg, "no such database"));
    CHECK("store-missing-not-created", access(miss, F_OK) != 0);

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    return check_done("store");
}
