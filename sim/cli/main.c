/* main.c - the kvsim command line. The only place that prints to stderr and
 * chooses exit codes: 0 ok, 1 a check failed, 2 bad input. */
#include "sim.h"
#include "spec_any.h"
#include "spec.h"
#include "cost.h"
#include "layer.h"
#include "output.h"
#include "units.h"
#include "import_hf.h"
#include "cli.h"
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>

#define MAX_SETS 64
#define MAX_ARCHS 32

static const char usage[] =
    "kvsim " KVSIM_VERSION " - exact KV-cache, FLOP, traffic and parameter costs of LLM architectures\n"
    "\n"
    "usage:\n"
    "  kvsim cost ARCH.yaml [options]          costs of one architecture, by layer type\n"
    "  kvsim compare ARCH.yaml ARCH.yaml ...   side by side, ratios against the first\n"
    "  kvsim check SPEC.yaml ...               load and check specs; print a summary\n"
    "  kvsim import config.json [-o ARCH.yaml] a Hugging Face config.json as a spec (stdout\n"
    "                                          or ARCH.yaml); cost/compare/check also take\n"
    "                                          a .json directly\n"
    "  kvsim sweep SCENARIO [--db F] [--shard I/N]  run a scenario's points into SQLite\n"
    "                                          (default --db reports/kvsim.db)\n"
    "  kvsim merge A.db B.db ... -o OUT.db     merge sweep databases (e.g. shards)\n"
    "  kvsim report SCENARIO [--db F] [--out DIR]  plots (.csv, .gp, .png, .svg) and\n"
    "                                          index.md under DIR (default reports/NAME)\n"
    "  kvsim run ARCH.yaml --ctx T [--decode N] [--scale S|auto] [--layers N] [--seed N]\n"
    "            [--dump DIR]                  a real forward pass (reference kernels): logits\n"
    "                                          checksum, time per layer type, counters\n"
    "  kvsim validate ARCH.yaml ... [--ctx T,T,...] [--scale S|auto] [--brief]\n"
    "                                          reference counters == analytical model, at\n"
    "                                          edge-case contexts by default (exit 1 if not)\n"
    "  kvsim probe [-o PROFILE.yaml]           measure this CPU (sgemm, bandwidth) as a\n"
    "                                          hardware profile for --hw\n"
    "  kvsim help spec                         every spec field, with units and ranges\n"
    "  kvsim version\n"
    "\n"
    "options (cost, compare):\n"
    "  --ctx N           context tokens: 4096, 4k (=4096), 128k, 1M (=1,048,576); default 128k\n"
    "  --phase P         decode (one new token with N cached; default) or prefill (N tokens)\n"
    "  --noncausal       prefill: every query sees all N tokens (peer tools' convention)\n"
    "  --batch B         sequences (default 1)\n"
    "  --page N          round each cache buffer up to pages of N entries (engine\n"
    "                    block size, e.g. 16 or 256); default: logical bytes\n"
    "  --mtp N           decode: speculative decoding with N draft tokens per step\n"
    "                    from the spec's MTP modules (drafts, N+1 verified tokens)\n"
    "  --by type|layer   rows per layer type (default) or also per layer\n"
    "  --set PATH=VALUE  override a spec field before checking, e.g.\n"
    "                    --set kv_sharing.shared_layers=0  --set layers.csa.compress_ratio=8\n"
    "                    --set kv_dtype=fp8  (repeatable)\n"
    "  --hw NAME|PATH    add roofline time per layer type (compute vs memory bound)\n"
    "                    and the longest context that fits, for a hardware profile:\n"
    "                    h100-sxm, h200, a100-80gb, rtx-4090, apple-m3-max (scenarios/hw/)\n"
    "  --format F        table (default), csv or json\n"
    "\n"
    "exit status: 0 ok, 1 a check failed, 2 bad input (message on stderr)\n";

typedef struct {
    cost_query q;
    const char *sets[MAX_SETS];
    int n_sets;
    out_format of;
    bool by_layer;
    const char *hw_name;    /* --hw NAME|PATH */
    const char *files[MAX_ARCHS];
    int n_files;
} opts;

static int bad(const char *fmt_, const char *arg)
{
    fprintf(stderr, "kvsim: ");
    fprintf(stderr, fmt_, arg);
    fprintf(stderr, "\n(see kvsim --help)\n");
    return 2;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    sim_err e;
    memset(o, 0, sizeof *o);
    o->q.T = 128 * 1024;
    o->q.B = 1;
    o->q.phase = PH_DECODE;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) return bad("%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "--ctx")) {
            NEED();
            if (units_parse_ctx(v, &o->q.T, &e)) return bad("%s", e.msg);
        } else if (!strcmp(a, "--phase")) {
            NEED();
            if (!strcmp(v, "decode")) o->q.phase = PH_DECODE;
            else if (!strcmp(v, "prefill")) o->q.phase = PH_PREFILL;
            else return bad("--phase '%s': expected decode or prefill", v);
        } else if (!strcmp(a, "--batch")) {
            NEED();
            char *end;
            unsigned long long b = strtoull(v, &end, 10);
            if (*end || !*v || b == 0 || b > (1ull << 32) || v[0] == '-') return bad("--batch '%s': expected a whole number from 1 to 2^32", v);
            o->q.B = b;
        } else if (!strcmp(a, "--by")) {
            NEED();
            if (!strcmp(v, "layer")) o->by_layer = true;
            else if (strcmp(v, "type")) return bad("--by '%s': expected type or layer", v);
        } else if (!strcmp(a, "--set")) {
            NEED();
            if (o->n_sets == MAX_SETS) return bad("too many --set options (max %s)", "64");
            o->sets[o->n_sets++] = v;
        } else if (!strcmp(a, "--format")) {
            NEED();
            if (!strcmp(v, "table")) o->of = OUT_TABLE;
            else if (!strcmp(v, "csv")) o->of = OUT_CSV;
            else if (!strcmp(v, "json")) o->of = OUT_JSON;
            else return bad("--format '%s': expected table, csv or json", v);
        } else if (!strcmp(a, "--page")) {
            NEED();
            char *end;
            unsigned long long pg = strtoull(v, &end, 10);
            if (*end || !*v || pg == 0 || pg > (1ull << 24) || v[0] == '-') return bad("--page '%s': expected entries per page, 1 to 2^24", v);
            o->q.page = pg;
        } else if (!strcmp(a, "--hw")) {
            NEED();
            o->hw_name = v;
        } else if (!strcmp(a, "--noncausal")) {
            o->q.noncausal = true;
        } else if (!strcmp(a, "--mtp")) {
            NEED();
            char *end;
            unsigned long long n = strtoull(v, &end, 10);
            if (*end || !*v || n > 64 || v[0] == '-') return bad("--mtp '%s': expected draft tokens per step, 0 to 64", v);
            o->q.mtp = n;
        } else if (a[0] == '-' && a[1]) {
            return bad("unknown option '%s'", a);
        } else {
            if (o->n_files == MAX_ARCHS) return bad("too many specs (max %s)", "32");
            o->files[o->n_files++] = a;
        }
#undef NEED
    }
    if (o->q.noncausal && o->q.phase != PH_PREFILL) return bad("%s applies to --phase prefill only", "--noncausal");
    if (o->q.mtp && o->q.phase != PH_DECODE) return bad("%s applies to --phase decode only", "--mtp");
    return 0;
}

static int load_all(opts *o, model_spec *ms, cost_result *rs, out_item *it)
{
    sim_err e;
    for (int i = 0; i < o->n_files; i++) {
        int rc = spec_load_any(&ms[i], o->files[i], o->sets, o->n_sets, &e);
        if (!rc) {
            rc = cost_eval(&ms[i], &o->q, &rs[i], &e);
            if (rc) spec_free(&ms[i]);
        }
        if (rc) {
            fprintf(stderr, "kvsim: %s\n", e.msg);
            for (int j = 0; j < i; j++) { cost_result_free(&rs[j]); spec_free(&ms[j]); }
            return 2;
        }
        it[i] = (out_item){&ms[i], &rs[i], NULL, 0};
    }
    return 0;
}

static int cmd_cost(int argc, char **argv, bool compare)
{
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    if (!compare && o.n_files != 1) return bad("cost takes exactly one spec (got %s)", o.n_files ? "several" : "none");
    if (compare && o.n_files < 2) return bad("compare takes two or more specs%s", "");
    static model_spec ms[MAX_ARCHS];
    static cost_result rs[MAX_ARCHS];
    static out_item it[MAX_ARCHS];
    if ((rc = load_all(&o, ms, rs, it))) return rc;
    static hw_profile hw;
    if (o.hw_name) {
        sim_err e;
        if (hw_load(&hw, o.hw_name, &e)) {
            fprintf(stderr, "kvsim: %s\n", e.msg);
            for (int i = 0; i < o.n_files; i++) { cost_result_free(&rs[i]); spec_free(&ms[i]); }
            return 2;
        }
        for (int i = 0; i < o.n_files; i++) {
            it[i].hw = &hw;
            it[i].fit_ctx = cost_fit_ctx(&ms[i], o.q.B, hw.memory_bytes);
        }
    }
    if (compare) out_compare(stdout, it, o.n_files, &o.q, o.of, o.by_layer);
    else out_cost(stdout, it, &o.q, o.of, o.by_layer);
    for (int i = 0; i < o.n_files; i++) { cost_result_free(&rs[i]); spec_free(&ms[i]); }
    return fflush(stdout) ? 2 : 0;
}

static int cmd_check(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o), worst = 0;
    if (rc) return rc;
    if (!o.n_files) return bad("check takes one or more specs%s", "");
    for (int i = 0; i < o.n_files; i++) {
        model_spec m;
        sim_err e;
        if (spec_load_any(&m, o.files[i], o.sets, o.n_sets, &e)) {
            fprintf(stderr, "kvsim: %s\n", e.msg);
            worst = 2;
            continue;
        }
        int shared = 0;
        for (u64 l = 0; l < m.n_layers; l++) shared += m.layer[l].shared_kv;
        printf("ok  %s: %s, %llu layers (", o.files[i], m.name, (unsigned long long)m.n_layers);
        for (int k = 0; k < m.n_kinds; k++) {
            int c = 0;
            for (u64 l = 0; l < m.n_layers; l++) c += m.layer[l].kind == k;
            printf("%s%d %s", k ? ", " : "", c, m.kind_name[k]);
        }
        printf(")%s", shared ? "" : "\n");
        if (shared) printf(", %d reuse an earlier layer's KV cache\n", shared);
        spec_free(&m);
    }
    return worst;
}

/* Write text to path atomically: a temporary file in the same directory,
 * then rename, so the target is never half-written. */
static int write_atomic(const char *path, const char *text)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) { fprintf(stderr, "kvsim: out of memory\n"); return 2; }
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "kvsim: %s: cannot create a temporary file beside it\n", path);
        if (fd >= 0) { close(fd); unlink(tmp); }
        free(tmp);
        return 2;
    }
    bool ok = fputs(text, f) >= 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path)) {
        fprintf(stderr, "kvsim: %s: write failed\n", path);
        unlink(tmp);
        free(tmp);
        return 2;
    }
    free(tmp);
    return 0;
}

static int cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o")) {
            if (i + 1 == argc) return bad("%s needs a file name", "-o");
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return bad("unknown option '%s'", argv[i]);
        } else if (in) {
            return bad("import takes one config.json (got '%s' too)", argv[i]);
        } else {
            in = argv[i];
        }
    }
    if (!in) return bad("import needs a config.json%s", "");
    import_warnings w = {0};
    sim_err e;
    char *yaml;
    int rc = import_hf_yaml(in, &yaml, &w, &e);
    for (int i = 0; i < w.n; i++) fprintf(stderr, "kvsim: warning: %s\n", w.msg[i]);
    if (w.dropped) fprintf(stderr, "kvsim: warning: %d more warnings not shown\n", w.dropped);
    if (rc) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    /* The generated spec must load: check it before writing anything. */
    ynode *root;
    model_spec m;
    char *copy = strdup(yaml);
    rc = !copy ? sim_fail(&e, SIM_ENOMEM, "out of memory") : yt_load_string(yaml, strlen(yaml), in, &root, &e);
    if (rc) free(copy);
    else rc = spec_load_tree(&m, root, copy, in, NULL, 0, &e);   /* owns copy from here */
    if (rc) {
        fprintf(stderr, "kvsim: the generated spec does not load (an importer bug): %s\n", e.msg);
        free(yaml);
        return 2;
    }
    spec_free(&m);
    if (out) rc = write_atomic(out, yaml);
    else rc = fputs(yaml, stdout) < 0 || fflush(stdout) ? 2 : 0;
    free(yaml);
    return rc;
}

static int cmd_help_spec(void)
{
    static const char *const cat[] = {"attention", "ffn", "residual"};
    puts("Spec fields by component type (see README.md, 'The spec language', for the file layout).");
    for (int i = 0; i < comp_registry_count; i++) {
        const comp_type *t = comp_registry[i];
        printf("\n%s type: %s - %s\n", cat[t->cat], t->name, t->summary);
        for (const field_def *f = t->fields; f->key; f++) {
            char range[64] = "";
            if (f->kind == F_U64 || f->kind == F_REAL) snprintf(range, sizeof range, "[%llu, %llu] ", (unsigned long long)f->min, (unsigned long long)f->max);
            printf("  %-16s %-8s %s%s%s%s%s\n", f->key, f->kind == F_U64 ? "integer" : f->kind == F_BOOL ? "bool" : f->kind == F_REAL ? "number" : "format",
                   range, f->unit, *f->unit ? "; " : "", f->help, f->required ? " (required)" : "");
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    gsl_set_error_handler_off();   /* GSL reports through status codes, never aborts (STYLE.md 8) */
    /* Past a file-size limit (ulimit -f) the kernel sends SIGXFSZ, whose
     * default action kills us mid-write with no message; ignored, the write
     * fails with EFBIG and SQLite reports it like a full disk: a clear error,
     * exit 2, and the database as of its last commit. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (argc >= 3 && !strcmp(argv[1], "help") && !strcmp(argv[2], "spec")) return cmd_help_spec();
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
    if (!strcmp(cmd, "cost")) return cmd_cost(argc - 2, argv + 2, false);
    if (!strcmp(cmd, "compare")) return cmd_cost(argc - 2, argv + 2, true);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 2, argv + 2);
    if (!strcmp(cmd, "import")) return cmd_import(argc - 2, argv + 2);
    if (!strcmp(cmd, "sweep")) return cli_sweep(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge")) return cli_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "report")) return cli_report(argc - 2, argv + 2);
    if (!strcmp(cmd, "probe")) return cli_probe(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return cli_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "validate")) return cli_validate(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) { puts("kvsim " KVSIM_VERSION); return 0; }
    return bad("unknown command '%s'", cmd);
}
