/* cli_run.c - `kvsim run ARCH --ctx T [--decode N] [--scale S|auto]
 * [--layers N] [--seed N] [--set P=V] [--dump DIR]` (options: cli_cmds.c): a prefill of T tokens
 * and N decode steps through the reference kernels (ref.h). Prints the
 * logits checksum of every step, wall time per layer type and the measured
 * counters of the prefill and of the last decode step. Exit 0, or 2 on bad
 * input. */
#include "cli.h"
#include "ref.h"
#include "spec_scale.h"
#include "units.h"
#include "npy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <dirent.h>

/* sum, sum of |x|, and an FNV-1a hash of the bits: equal hashes mean equal
 * logits, bit for bit. */
static void checksum(const float *x, u64 n, char *buf, size_t len)
{
    double s = 0, sa = 0;
    u64 h = 0xcbf29ce484222325ull;
    for (u64 i = 0; i < n; i++) {
        s += x[i];
        sa += fabs(x[i]);
        unsigned char b[4];
        memcpy(b, &x[i], 4);
        for (int k = 0; k < 4; k++) h = (h ^ b[k]) * 0x100000001b3ull;
    }
    u64 am = 0;
    for (u64 i = 1; i < n; i++) am = x[i] > x[am] ? i : am;
    snprintf(buf, len, "sum %+.6e  sum|x| %.6e  argmax %llu  fnv1a %016llx", s, sa, (unsigned long long)am,
             (unsigned long long)h);
}

static void print_counters(const ref_model *M, const cost_result *r)
{
    printf("  %-16s %6s %10s %14s %14s %12s %12s %12s %12s\n", "type", "layers", "time", "FLOPs", "FP8-eq FLOPs",
           "KV bytes", "KV read", "KV written", "weights read");
    for (int k = 0; k <= r->n_types; k++) {
        const cost_t *c = k < r->n_types ? &r->type[k].c : &r->total;
        const char *name = k < r->n_types ? r->type[k].name : "total";
        u64 fl = 0;
        for (int j = 0; j < FL_COUNT; j++) fl += c->flops[j];
        char f8[48];
        cost_fp8eq_str(c, f8, sizeof f8);
        double t = k < r->n_types ? ref_type_time(M, name) : ref_time_total(M);
        printf("  %-16s %6d %8.3f s %14llu %14s %12llu %12llu %12llu %12llu\n", name, k < r->n_types ? r->type[k].layers : r->n_layers,
               t, (unsigned long long)fl, f8, (unsigned long long)c->kv_bytes, (unsigned long long)c->kv_read_bytes,
               (unsigned long long)c->kv_written_bytes, (unsigned long long)c->weight_read_bytes);
    }
    printf("  FLOPs by category (total):");
    for (int j = 0; j < FL_COUNT; j++) printf(" %s %llu", flop_cat_name[j], (unsigned long long)r->total.flops[j]);
    printf("\n  params %llu (embedding tables %llu)\n", (unsigned long long)r->total.params,
           (unsigned long long)r->total.params_embed);
}

/* --dump DIR must be new or empty: a dump never mixes with files of an
 * earlier run (README.md, "Dumps"). Returns 0 or 2 (message printed). */
static int dump_dir_ok(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : cli_bad("run", "--dump %s: %s", dir, strerror(errno));
    int n = 0;
    char first[256] = "";
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !n++) snprintf(first, sizeof first, "%s", de->d_name);
    closedir(d);
    if (n) return cli_bad("run", "--dump %s: the directory is not empty (%d %s, e.g. '%s'); give a new or empty "
                          "directory, so that no file of an earlier run is mistaken for this one's", dir, n,
                          n == 1 ? "entry" : "entries", first);
    return 0;
}

int cli_run(int argc, char **argv)
{
    const char *file = NULL, *dump = NULL, *sets[CLI_MAX_SETS];
    int n_sets = 0;
    u64 T = 0, ndec = 0, S = 0, seed = 1, layers = 0;
    bool mtp = false;
    sim_err e;
    cli_args p;
    cli_args_init(&p, "run", argc, argv);
    int ar;
    while ((ar = cli_args_next(&p)) > 0) {
        const char *v = p.val;
        if (!p.opt) {
            if (file) return cli_bad("run", "run takes one spec (got '%s' too)", v);
            file = v;
        } else if (cli_is(&p, "--ctx")) {
            if (cli_ctx(&p, &T)) return 2;
        } else if (cli_is(&p, "--decode")) {
            if (cli_u64(&p, 0, 1u << 20, &ndec)) return 2;
        } else if (cli_is(&p, "--scale")) {
            if (strcmp(v, "auto") && cli_u64(&p, 1, 1u << 20, &S)) return 2;
            if (!strcmp(v, "auto")) S = 0;
        } else if (cli_is(&p, "--seed")) {
            if (cli_u64(&p, 0, UINT64_MAX, &seed)) return 2;
        } else if (cli_is(&p, "--layers")) {
            if (cli_u64(&p, 1, SPEC_MAX_LAYERS, &layers)) return 2;
        } else if (cli_is(&p, "--set")) {
            if (cli_add_set(&p, sets, &n_sets)) return 2;
        } else if (cli_is(&p, "--dump")) {
            dump = v;
        } else if (cli_is(&p, "--mtp")) {
            mtp = true;
        }
    }
    if (ar < 0) return 2;
    if (!file) return cli_bad("run", "run needs a spec");
    if (!T) return cli_bad("run", "run needs --ctx T (the prefill length)");
    if (T > (1u << 20)) return cli_bad("run", "--ctx %llu: run is limited to 1M tokens", (unsigned long long)T);
    if (dump && dump_dir_ok(dump)) return 2;
    model_spec m;
    if (cli_load_spec(&m, file, sets, n_sets, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    if (!S) S = spec_scale_auto(&m, 256);
    if (spec_scale(&m, S, &e) || (layers && spec_truncate(&m, layers, &e))) {
        fprintf(stderr, "kvsim: %s: %s\n", file, e.msg);
        spec_free(&m);
        return 2;
    }
    ref_model M;
    if (mtp && !m.mtp_n) {
        spec_free(&m);
        return cli_bad("run", "--mtp: %s has no MTP module (`mtp:` in the spec)", file);
    }
    ref_opts ro = {.trace = dump != NULL, .mtp = mtp};
    if (ref_init(&M, &m, seed, &ro, &e)) {
        fprintf(stderr, "kvsim: %s: %s\n", file, e.msg);
        spec_free(&m);
        return 2;
    }
    int rc = 0;
    /* One token more than the steps take: the MTP module's next token after the last. */
    int32_t *tok = malloc((T + ndec + 1) * sizeof *tok);
    if (!tok) { fprintf(stderr, "kvsim: out of memory\n"); rc = 2; goto out; }
    for (u64 i = 0; i < T + ndec + 1; i++) tok[i] = (int32_t)ref_rand_index(&M, 0x70c0 + T, i, m.vocab);
    printf("run %s: %s at scale %llu (d_model %llu, vocab %llu, %llu layers), seed %llu, prefill %llu + %llu decode %s; "
           "kvsim " KVSIM_VERSION "\n", m.path, m.name, (unsigned long long)S, (unsigned long long)m.d_model,
           (unsigned long long)m.vocab, (unsigned long long)m.n_layers, (unsigned long long)seed, (unsigned long long)T,
           (unsigned long long)ndec, cli_plural((long long)ndec, "step", "steps"));
    cli_settings_line(stdout, sets, n_sets, NULL, NULL);
    char cs[160];
    cost_result r;
    for (u64 step = 0; step <= ndec; step++) {
        M.mtp_next = step ? tok + T + step : tok + 1;
        if (ref_run(&M, step ? tok + T + step - 1 : tok, step ? 1 : T, &e)) {
            fprintf(stderr, "kvsim: %s: %s\n", file, e.msg);
            rc = 2;
            goto out;
        }
        checksum(M.logits, m.vocab, cs, sizeof cs);
        if (step == 0 || step == ndec) {
            printf("%s at ctx %llu: logits %s\n", step ? "decode" : "prefill", (unsigned long long)(step ? T + step - 1 : T), cs);
            if (mtp) {
                checksum(M.mtp_logits, m.vocab, cs, sizeof cs);
                printf("%s at ctx %llu: MTP draft logits %s\n", step ? "decode" : "prefill",
                       (unsigned long long)(step ? T + step - 1 : T), cs);
            }
            if (dump && step == 0) {
                rc = npy_dump_model(&M, dump, tok, T + (mtp ? 1 : 0), "prefill", &e);   /* --mtp: the next token too */
                if (rc) { fprintf(stderr, "kvsim: --dump %s: %s\n", dump, e.msg); rc = 2; goto out; }
            }
            if (ref_result(&M, &r, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); rc = 2; goto out; }
            print_counters(&M, &r);
            cost_result_free(&r);
        }
    }
    if (dump && ndec) {
        rc = npy_dump_model(&M, dump, tok, T + ndec + (mtp ? 1 : 0), "decode", &e);
        if (rc) { fprintf(stderr, "kvsim: --dump %s: %s\n", dump, e.msg); rc = 2; goto out; }
    }
    if (dump) printf("dump: %s (see README.md, 'Dumps')\n", dump);
out:
    free(tok);
    ref_free(&M);
    spec_free(&m);
    return rc ? rc : (fflush(stdout) ? 2 : 0);
}
