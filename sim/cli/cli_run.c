/* cli_run.c - `kvsim run ARCH --ctx T [--decode N] [--scale S|auto]
 * [--layers N] [--seed N] [--set P=V] [--dump DIR]`: a prefill of T tokens
 * and N decode steps through the reference kernels (ref.h). Prints the
 * logits checksum of every step, wall time per layer type and the measured
 * counters of the prefill and of the last decode step. Exit 0, or 2 on bad
 * input. */
#include "cli.h"
#include "spec_any.h"
#include "ref.h"
#include "spec_scale.h"
#include "units.h"
#include "npy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define MAX_SETS 64

static int bad_arg(const char *fmt_, const char *arg)
{
    fprintf(stderr, "kvsim run: ");
    fprintf(stderr, fmt_, arg);
    fprintf(stderr, "\n");
    return 2;
}

static int parse_u64(const char *v, u64 *out, bool zero_ok)
{
    char *end;
    if (!v || !*v || v[0] == '-') return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || (!zero_ok && x == 0)) return -1;
    *out = x;
    return 0;
}

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
        char f8[32];
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

int cli_run(int argc, char **argv)
{
    const char *file = NULL, *dump = NULL, *sets[MAX_SETS];
    int n_sets = 0;
    u64 T = 0, ndec = 0, S = 0, seed = 1, layers = 0;
    sim_err e;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "--ctx") || !strcmp(a, "--decode") || !strcmp(a, "--scale") || !strcmp(a, "--seed") ||
                     !strcmp(a, "--layers") || !strcmp(a, "--set") || !strcmp(a, "--dump");
        if (takes && !v) return bad_arg("%s needs a value", a);
        if (takes) i++;
        if (!strcmp(a, "--ctx")) {
            if (units_parse_ctx(v, &T, &e)) return bad_arg("%s", e.msg);
        } else if (!strcmp(a, "--decode")) {
            if (parse_u64(v, &ndec, true)) return bad_arg("--decode '%s': expected a whole number", v);
        } else if (!strcmp(a, "--scale")) {
            if (strcmp(v, "auto") && parse_u64(v, &S, false)) return bad_arg("--scale '%s': expected auto or a whole number >= 1", v);
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(v, &seed, true)) return bad_arg("--seed '%s': expected a whole number", v);
        } else if (!strcmp(a, "--layers")) {
            if (parse_u64(v, &layers, false)) return bad_arg("--layers '%s': expected a whole number >= 1", v);
        } else if (!strcmp(a, "--set")) {
            if (n_sets == MAX_SETS) return bad_arg("too many --set options%s", "");
            sets[n_sets++] = v;
        } else if (!strcmp(a, "--dump")) {
            dump = v;
        } else if (a[0] == '-' && a[1]) {
            return bad_arg("unknown option '%s'", a);
        } else {
            if (file) return bad_arg("run takes one spec (got '%s' too)", a);
            file = a;
        }
    }
    if (!file) return bad_arg("run needs a spec%s", "");
    if (!T) return bad_arg("run needs --ctx T (the prefill length)%s", "");
    if (T > (1u << 20) || ndec > (1u << 20)) return bad_arg("--ctx and --decode are limited to 1M tokens each%s", "");
    model_spec m;
    if (spec_load_any(&m, file, sets, n_sets, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    if (!S) S = spec_scale_auto(&m, 256);
    if (spec_scale(&m, S, &e) || (layers && spec_truncate(&m, layers, &e))) {
        fprintf(stderr, "kvsim: %s: %s\n", file, e.msg);
        spec_free(&m);
        return 2;
    }
    ref_model M;
    ref_opts ro = {.trace = dump != NULL};
    if (ref_init(&M, &m, seed, &ro, &e)) {
        fprintf(stderr, "kvsim: %s: %s\n", file, e.msg);
        spec_free(&m);
        return 2;
    }
    int rc = 0;
    int32_t *tok = malloc((T + ndec) * sizeof *tok);
    if (!tok) { fprintf(stderr, "kvsim: out of memory\n"); rc = 2; goto out; }
    for (u64 i = 0; i < T + ndec; i++) tok[i] = (int32_t)ref_rand_index(&M, 0x70c0 + T, i, m.vocab);
    printf("run %s: %s at scale %llu (d_model %llu, vocab %llu, %llu layers), seed %llu, prefill %llu + %llu decode steps\n",
           file, m.name, (unsigned long long)S, (unsigned long long)m.d_model, (unsigned long long)m.vocab,
           (unsigned long long)m.n_layers, (unsigned long long)seed, (unsigned long long)T, (unsigned long long)ndec);
    char cs[160];
    cost_result r;
    for (u64 step = 0; step <= ndec; step++) {
        if (ref_run(&M, step ? tok + T + step - 1 : tok, step ? 1 : T, &e)) {
            fprintf(stderr, "kvsim: %s: %s\n", file, e.msg);
            rc = 2;
            goto out;
        }
        checksum(M.logits, m.vocab, cs, sizeof cs);
        if (step == 0 || step == ndec) {
            printf("%s at ctx %llu: logits %s\n", step ? "decode" : "prefill", (unsigned long long)(step ? T + step - 1 : T), cs);
            if (dump && step == 0) {
                rc = npy_dump_model(&M, dump, tok, T, "prefill", &e);
                if (rc) { fprintf(stderr, "kvsim: --dump %s: %s\n", dump, e.msg); rc = 2; goto out; }
            }
            if (ref_result(&M, &r, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); rc = 2; goto out; }
            print_counters(&M, &r);
            cost_result_free(&r);
        }
    }
    if (dump && ndec) {
        rc = npy_dump_model(&M, dump, tok, T + ndec, "decode", &e);
        if (rc) { fprintf(stderr, "kvsim: --dump %s: %s\n", dump, e.msg); rc = 2; goto out; }
    }
    if (dump) printf("dump: %s (see README.md, 'Dumps')\n", dump);
out:
    free(tok);
    ref_free(&M);
    spec_free(&m);
    return rc ? rc : (fflush(stdout) ? 2 : 0);
}
