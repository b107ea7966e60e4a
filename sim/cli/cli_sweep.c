/* cli_sweep.c - the `sweep`, `merge`, `report` and `probe` commands. Command-line
 * layer: prints and returns exit codes (0 ok, 2 bad input or I/O), never
 * exits. */
#include "cli.h"
#include "scenario.h"
#include "sweep.h"
#include "store.h"
#include "report.h"
#include "probe.h"
#include "kern.h"
#include "cli_calib.h"
#include "paths.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#define DEFAULT_DB "reports/kvsim.db"

/* The git revision of the working directory, or "unknown". */
static void git_rev(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (!p) return;
    if (fgets(buf, (int)len, p)) buf[strcspn(buf, "\n")] = 0;
    if (!buf[0]) snprintf(buf, len, "unknown");
    pclose(p);
}

typedef struct { double t0; bool tty; } progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(void *c, long done, long total, long computed)
{
    progress_state *ps = c;
    if (!ps->tty || total <= 0) return;
    double el = now_s() - ps->t0, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int w = 30, fill = (int)(w * done / total);
    fprintf(stderr, "\r[%.*s%*s] %ld/%ld points (%ld new) %.0f/s ETA %02d:%02d ", fill,
            "##############################", w - fill, "", done, total, computed, rate, (int)eta / 60, (int)eta % 60);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

int cli_sweep(int argc, char **argv)
{
    const char *scen = NULL, *db = DEFAULT_DB;
    int si = 0, sn = 0;
    cli_args p;
    cli_args_init(&p, "sweep", argc, argv);
    int r;
    while ((r = cli_args_next(&p)) > 0) {
        if (cli_is(&p, "--db")) {
            db = p.val;
        } else if (cli_is(&p, "--shard")) {
            char extra;
            if (sscanf(p.val, "%d/%d%c", &si, &sn, &extra) != 2 || sn < 1 || si < 1 || si > sn || sn > 1000000)
                return cli_bad("sweep", "--shard '%s': expected I/N with 1 <= I <= N", p.val);
        } else if (!scen) {
            scen = p.val;
        } else {
            return cli_bad("sweep", "sweep takes one scenario (got also '%s')", p.val);
        }
    }
    if (r < 0) return 2;
    if (!scen) return cli_bad("sweep", "sweep needs a scenario file");
    scenario s;
    sim_err e;
    if (scenario_load(&s, scen, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    /* Create the database's directory (reports/ in a fresh clone has only a README). */
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", db);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (sim_mkdir_p(parent, &e)) {
            fprintf(stderr, "kvsim: the database's directory: %s\n", e.msg);
            scenario_free(&s);
            return 2;
        }
    }
    char rev[64];
    git_rev(rev, sizeof rev);
    progress_state ps = {now_s(), isatty(2) != 0};
    sweep_opts o = {si, sn, KVSIM_VERSION, rev, progress, &ps};
    sweep_stats st;
    int rc = sweep_run(&s, db, &o, &st, &e);
    scenario_free(&s);
    if (rc) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    printf("sweep %s: %ld %s%s, %ld computed, %ld reused, %ld failed, %.3f s (%.0f points/s) -> %s\n", scen, st.mine,
           cli_plural(st.mine, "point", "points"), sn ? " in this shard" : "", st.computed, st.reused, st.failed, st.seconds,
           st.seconds > 0 ? st.mine / st.seconds : 0.0, db);
    if (st.measured || st.measure_reused)
        printf("  reference kernels: %ld arch x context %s measured, %ld reused\n", st.measured,
               cli_plural(st.measured, "run", "runs"), st.measure_reused);
    if (st.failed) {
        fprintf(stderr, "kvsim: %ld %s could not be computed (recorded in the table point_errors of %s; every other "
                        "point is stored):\n", st.failed, cli_plural(st.failed, "point", "points"), db);
        for (int i = 0; i < st.n_errors; i++) fprintf(stderr, "  %s\n", st.error[i]);
        if (st.failed > st.n_errors) fprintf(stderr, "  ... and %ld more\n", st.failed - st.n_errors);
        return 2;
    }
    return 0;
}

int cli_merge(int argc, char **argv)
{
    const char *out = NULL, *in[256];
    int n = 0;
    cli_args p;
    cli_args_init(&p, "merge", argc, argv);
    int r;
    while ((r = cli_args_next(&p)) > 0) {
        if (cli_is(&p, "-o")) out = p.val;
        else if (n == 256) return cli_bad("merge", "at most 256 databases");
        else in[n++] = p.val;
    }
    if (r < 0) return 2;
    if (!out || !n) return cli_bad("merge", "usage: kvsim merge A.db B.db ... -o OUT.db");
    for (int i = 0; i < n; i++)
        if (!strcmp(in[i], out)) return cli_bad("merge", "'%s' is both an input and the output", out);
    sim_err e;
    if (store_merge(out, in, n, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    printf("merged %d database%s into %s\n", n, n == 1 ? "" : "s", out);
    return 0;
}

int cli_report(int argc, char **argv)
{
    const char *scen = NULL, *db = DEFAULT_DB, *out = NULL, *archs = NULL;
    cli_args a;
    cli_args_init(&a, "report", argc, argv);
    int r;
    while ((r = cli_args_next(&a)) > 0) {
        if (cli_is(&a, "--db")) db = a.val;
        else if (cli_is(&a, "--out")) out = a.val;
        else if (cli_is(&a, "--archs")) archs = a.val;
        else if (!scen) scen = a.val;
        else return cli_bad("report", "report takes one scenario (got also '%s')", a.val);
    }
    if (r < 0) return 2;
    if (!scen) return cli_bad("report", "report needs a scenario file");
    char adir[4200];
    if (!archs) {   /* the shipped specs, wherever kvsim runs from */
        snprintf(adir, sizeof adir, "%s/archs", sim_data_dir());
        archs = adir;
    }
    scenario s;
    sim_err e;
    if (scenario_load(&s, scen, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    char dir[600];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else {
        /* reports/<scenario name as a slug> */
        char slug[200];
        size_t o = 0;
        for (const char *p = s.name; *p && o + 1 < sizeof slug; p++)
            slug[o++] = ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') && !(p == s.name && *p == '.') ? *p
                        : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : '-';
        slug[o] = 0;
        snprintf(dir, sizeof dir, "reports/%s", o ? slug : "report");
    }
    report_info info;
    int rc = report_write(&s, db, dir, archs, KVSIM_VERSION, &info, &e);
    scenario_free(&s);
    if (rc) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    if (info.gnuplot_missing)
        fprintf(stderr, "kvsim: gnuplot is not installed: wrote the .csv, .gp and index.md but no images; "
                        "install it with: sudo apt-get install gnuplot-nox  (then rerun kvsim report)\n");
    if (info.warning[0]) fprintf(stderr, "kvsim: warning: %s\n", info.warning);
    printf("report: %s (%d %s, %d %s)\n", info.index_path, info.plots, cli_plural(info.plots, "plot", "plots"), info.images,
           cli_plural(info.images, "image", "images"));
    return 0;
}

int cli_probe(int argc, char **argv)
{
    const char *out = NULL, *csv = NULL;
    cli_args a;
    cli_args_init(&a, "probe", argc, argv);
    int r;
    while ((r = cli_args_next(&a)) > 0) {
        if (cli_is(&a, "-o")) out = a.val;
        else if (cli_is(&a, "--csv")) csv = a.val;
        else return cli_bad("probe", "probe takes no arguments (got '%s')", a.val);
    }
    if (r < 0) return 2;
    probe_result p;
    sim_err e;
    fprintf(stderr, "kvsim probe: measuring sgemm, memory bandwidth and the time model's curves (about half a minute)...\n");
    if (probe_run(&p, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    fprintf(stderr, "  sgemm (OpenBLAS CBLAS)  1 core %.1f GFLOP/s, %d cores %.1f GFLOP/s\n", p.sgemm_1core / 1e9, p.cores, p.sgemm_all / 1e9);
    fprintf(stderr, "  triad bandwidth         1 core %.2f GB/s,  %d cores %.2f GB/s\n", p.bw_1core / 1e9, p.cores, p.bw_all / 1e9);
    meas_set ms = {0};
    tm_curves c;
    if (probe_curves(&ms, kern_threads(), &e) || calib_fit(&ms, &c, &e)) {
        meas_free(&ms);
        fprintf(stderr, "kvsim: probe: %s\n", e.msg);
        return 2;
    }
    cli_print_curves(stderr, &c);
    if (csv) {
        ms.memory_bytes = p.memory_bytes;
        int rc = cli_write_atomic(csv, &ms);
        meas_free(&ms);
        if (rc) return 2;
    } else meas_free(&ms);
    char host[64] = "this-cpu";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "this-cpu");
    host[sizeof host - 1] = 0;
    char name[96];
    snprintf(name, sizeof name, "probe-%s", host);
    for (char *ch = name; *ch; ch++) if (!((*ch >= 'a' && *ch <= 'z') || (*ch >= '0' && *ch <= '9') || *ch == '-')) *ch = '-';
    if (probe_write_profile(&p, &c, name, out, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    if (out) fprintf(stderr, "wrote %s (use it with --hw %s)\n", out, out);
    return 0;
}
