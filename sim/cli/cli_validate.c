/* cli_validate.c - `kvsim validate ARCH ... [--ctx T,T,...] [--scale S|auto]
 * [--seed N] [--layers N] [--set P=V] [--max-ctx N] [--brief] [--noncausal]
 * [--mla-form F]`: for each context T, a prefill of T tokens (bidirectional
 * with --noncausal, as cost --noncausal counts it) and then one decode step at T through the
 * reference kernels (ref.h), each compared with cost_eval, by layer type and
 * counter. Exit 0 when everything agrees, 1 on any mismatch, 2 on bad input.
 *
 * Rules (README.md, "What run and validate prove"): FLOPs by category, the
 * FP8-equivalent total, KV bytes held, read and written, parameters and
 * embedding parameters must be equal. Weight bytes read and stored must be
 * <= the model's: the kernels read each routed expert and each embedding row
 * once however many tokens use it (the model assumes min(E, n k) experts and
 * min(n, V) rows), and they price a weight class's elements in one sum where
 * the model rounds block scales per tensor group. */
#include "cli.h"
#include "layer.h"
#include "ref.h"
#include "spec_scale.h"
#include "units.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CTX 64
#define MAX_FILES 64

enum { R_EQ, R_LE };
#define N_CTR (FL_COUNT + 8)

static const char *ctr_name(int k)
{
    static const char *const extra[] = {"fp8eq_flops", "kv_bytes", "kv_read_bytes", "kv_written_bytes", "params",
                                        "params_embed", "weight_read_bytes", "weight_bytes"};
    static char buf[N_CTR][32];
    if (k >= FL_COUNT) return extra[k - FL_COUNT];
    snprintf(buf[k], sizeof buf[k], "flops.%s", flop_cat_name[k]);
    return buf[k];
}

static int ctr_rule(int k) { return k >= FL_COUNT + 6 ? R_LE : R_EQ; }

/* Counter k of c; the FP8-equivalent total is kept doubled (exact halves)
 * and is the one 128-bit count. */
static u128 ctr_get(const cost_t *c, int k)
{
    if (k < FL_COUNT) return c->flops[k];
    switch (k - FL_COUNT) {
    case 0: return c->flops_fp8eq_x2;
    case 1: return c->kv_bytes;
    case 2: return c->kv_read_bytes;
    case 3: return c->kv_written_bytes;
    case 4: return c->params;
    case 5: return c->params_embed;
    case 6: return c->weight_read_bytes;
    default: return c->weight_bytes;
    }
}

static void fmt_val(int k, u128 v, char *buf, size_t len)
{
    char d[42];
    u128_str(k == FL_COUNT ? v / 2 : v, d, sizeof d);
    snprintf(buf, len, "%s%s", d, k == FL_COUNT && v % 2 ? ".5" : "");
}

static int ctr_ok(int k, u128 a, u128 m)
{
    return ctr_rule(k) == R_EQ ? a == m : m <= a;
}

/* Compare two results row by row; print the table (all rows, or only the
 * failing ones). Returns the number of failing (row, counter) cells. */
static int compare(const cost_result *an, const cost_result *me, bool table, const char *what)
{
    int bad = 0;
    bool header = false;
    for (int r = 0; r <= an->n_types; r++) {
        const char *name = r < an->n_types ? an->type[r].name : "total";
        const cost_t *a = r < an->n_types ? &an->type[r].c : &an->total, *m = NULL;
        if (r == an->n_types) m = &me->total;
        for (int k = 0; !m && k < me->n_types; k++)
            if (!strcmp(me->type[k].name, name)) m = &me->type[k].c;
        cost_t zero = {0};
        bool missing = !m;
        if (missing) m = &zero;
        for (int k = 0; k < N_CTR; k++) {
            u128 av = ctr_get(a, k), mv = ctr_get(m, k);
            bool ok = !missing && ctr_ok(k, av, mv);
            bad += !ok;
            if ((table && (av || mv)) || !ok) {
                if (!header) {
                    printf("  %-8s %-16s %-18s %20s %20s %14s  %s\n", "", "type", "counter", "analytical", "measured", "difference", "");
                    header = true;
                }
                char as[64], ms[64], ds[48];
                fmt_val(k, av, as, sizeof as);
                fmt_val(k, mv, ms, sizeof ms);
                /* The difference of two exact counts (validate runs small contexts). */
                double diff = mv >= av ? (double)(mv - av) : -(double)(av - mv);
                if (k == FL_COUNT) snprintf(ds, sizeof ds, "%+.1f", diff / 2);
                else snprintf(ds, sizeof ds, "%+.0f", diff);
                printf("  %-8s %-16s %-18s %20s %20s %14s  %s\n", what, name, ctr_name(k), as, ms, ds,
                       ok ? (ctr_rule(k) == R_LE && av != mv ? "ok (<=)" : "ok") : "MISMATCH");
            }
        }
    }
    return bad;
}

typedef struct {
    const char *files[MAX_FILES];
    int n_files;
    const char *sets[CLI_MAX_SETS];
    int n_sets;
    u64 ctx[MAX_CTX];
    int n_ctx;
    u64 scale;          /* 0 = auto */
    u64 seed, layers, max_ctx;
    bool brief;
    bool noncausal;         /* prefills bidirectional (cost --noncausal) */
    const char *mla_form;   /* --mla-form: every MLA / DSA layer's form */
} vopts;

static int parse(int argc, char **argv, vopts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->max_ctx = 600;
    cli_args p;
    cli_args_init(&p, "validate", argc, argv);
    int r;
    while ((r = cli_args_next(&p)) > 0) {
        const char *v = p.val;
        if (!p.opt) {
            if (o->n_files == MAX_FILES) return cli_bad("validate", "too many specs (at most %d)", MAX_FILES);
            o->files[o->n_files++] = v;
        } else if (cli_is(&p, "--ctx")) {
            char buf[512];
            snprintf(buf, sizeof buf, "%s", v);
            cli_args one = p;
            for (char *tk = strtok(buf, ","); tk; tk = strtok(NULL, ",")) {
                if (o->n_ctx == MAX_CTX) return cli_bad("validate", "at most %d contexts", MAX_CTX);
                one.val = tk;
                if (cli_ctx(&one, &o->ctx[o->n_ctx])) return 2;
                o->n_ctx++;
            }
        } else if (cli_is(&p, "--scale")) {
            if (strcmp(v, "auto") && cli_u64(&p, 1, 1u << 20, &o->scale)) return 2;
            if (!strcmp(v, "auto")) o->scale = 0;
        } else if (cli_is(&p, "--seed")) {
            if (cli_u64(&p, 0, UINT64_MAX, &o->seed)) return 2;
        } else if (cli_is(&p, "--layers")) {
            if (cli_u64(&p, 1, SPEC_MAX_LAYERS, &o->layers)) return 2;
        } else if (cli_is(&p, "--max-ctx")) {
            if (cli_u64(&p, 1, 1u << 20, &o->max_ctx)) return 2;
        } else if (cli_is(&p, "--set")) {
            if (cli_add_set(&p, o->sets, &o->n_sets)) return 2;
        } else if (cli_is(&p, "--brief")) {
            o->brief = true;
        } else if (cli_is(&p, "--noncausal")) {
            o->noncausal = true;
        } else if (cli_is(&p, "--mla-form")) {
            o->mla_form = v;
        }
    }
    if (r < 0) return 2;
    if (!o->n_files) return cli_bad("validate", "validate takes one or more specs");
    return 0;
}

/* Load, scale and truncate a spec as the options say. */
static int load_scaled(const vopts *o, const char *path, model_spec *m, u64 *S, sim_err *e)
{
    int rc = cli_load_spec(m, path, o->sets, o->n_sets, e), n;
    if (rc) return rc;
    if (o->mla_form && !(rc = spec_set_choice(m, "mla_form", o->mla_form, &n, e)) && !n)
        rc = sim_fail(e, SIM_EINVAL, "--mla-form: no layer of %s has an mla_form (mla and dsa layers do)", m->name);
    if (rc) {
        spec_free(m);
        return rc;
    }
    *S = o->scale ? o->scale : spec_scale_auto(m, 256);
    if ((rc = spec_scale(m, *S, e)) || (o->layers && (rc = spec_truncate(m, o->layers, e)))) {
        spec_free(m);
        return rc;
    }
    return SIM_OK;
}

static int validate_one(const vopts *o, const char *path)
{
    model_spec m;
    sim_err e;
    u64 S;
    if (load_scaled(o, path, &m, &S, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    u64 ctx[MAX_CTX], skipped[MAX_CTX];
    int nctx = o->n_ctx, nskip = 0;
    if (nctx) memcpy(ctx, o->ctx, sizeof ctx);
    else nctx = comp_edge_contexts(&m, o->max_ctx, ctx, MAX_CTX, skipped, &nskip);
    ref_model M;
    ref_opts ro = {.noncausal = o->noncausal};
    if (ref_init(&M, &m, o->seed, &ro, &e)) {
        fprintf(stderr, "kvsim: %s: %s\n", path, e.msg);
        spec_free(&m);
        return 2;
    }
    printf("== %s: %s at scale %llu (d_model %llu, vocab %llu, %llu layers), seed %llu; kvsim " KVSIM_VERSION "\n", path,
           m.name, (unsigned long long)S, (unsigned long long)m.d_model, (unsigned long long)m.vocab,
           (unsigned long long)m.n_layers, (unsigned long long)o->seed);
    cli_settings_line(stdout, o->sets, o->n_sets, NULL, o->mla_form);
    int status = 0, fails = 0, checks = 0;
    u64 Tmax = 0;
    for (int c = 0; c < nctx; c++) Tmax = ctx[c] > Tmax ? ctx[c] : Tmax;
    int32_t *tok = malloc((Tmax + 1) * sizeof *tok);
    if (!tok) { fprintf(stderr, "kvsim: out of memory\n"); status = 2; goto out; }
    for (int c = 0; c < nctx && status != 2; c++) {
        u64 T = ctx[c];
        for (u64 i = 0; i <= T; i++) tok[i] = (int32_t)ref_rand_index(&M, 0x70c0 + T, i, m.vocab);
        ref_reset(&M);
        for (int ph = 0; ph < 2; ph++) {
            cost_query q = {.T = T, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL, .noncausal = !ph && o->noncausal};
            cost_result an, me;
            if (ref_run(&M, ph ? tok + T : tok, ph ? 1 : T, &e) || ref_result(&M, &me, &e)) {
                fprintf(stderr, "kvsim: %s: ctx %llu: %s\n", path, (unsigned long long)T, e.msg);
                status = 2;
                break;
            }
            if (cost_eval(&m, &q, &an, &e)) {
                fprintf(stderr, "kvsim: %s: %s\n", path, e.msg);
                cost_result_free(&me);
                status = 2;
                break;
            }
            /* Test hook: prove that a one-FLOP difference is caught (tests/ref.sh). */
            if (getenv("KVSIM_VALIDATE_PERTURB") && me.n_types) me.type[0].c.flops[FL_ATTN] += 1;
            char what[40];
            snprintf(what, sizeof what, "%llu%s", (unsigned long long)T, ph ? "d" : "p");
            int bad = compare(&an, &me, !o->brief, what);
            checks += (an.n_types + 1) * N_CTR;
            fails += bad;
            printf("ctx %-6llu %-7s %s  (%d types x %d counters; %.3f s)\n", (unsigned long long)T, ph ? "decode" : "prefill",
                   bad ? "MISMATCH" : "ok", an.n_types, N_CTR, ref_time_total(&M));
            if (bad) status = status ? status : 1;
            cost_result_free(&an);
            cost_result_free(&me);
        }
    }
    if (status != 2) {
        if (nskip) {
            /* Edges above --max-ctx were not run: say which, so a PASS is not
             * read as covering them. */
            printf("skipped %d edge context%s above --max-ctx %llu:", nskip, nskip == 1 ? "" : "s",
                   (unsigned long long)o->max_ctx);
            for (int k = 0; k < nskip; k++) printf(" %llu", (unsigned long long)skipped[k]);
            printf(" (run them with --max-ctx %llu or --ctx)\n", (unsigned long long)skipped[nskip - 1]);
        }
        printf("%s: %d %s x 2 phases, %d checks, %d %s: %s%s\n", path, nctx, cli_plural(nctx, "context", "contexts"), checks,
               fails, cli_plural(fails, "mismatch", "mismatches"),
               fails ? "FAIL" : "PASS", nskip ? " (with skipped edges, above)" : "");
    }
out:
    free(tok);
    ref_free(&M);
    spec_free(&m);
    return status;
}

int cli_validate(int argc, char **argv)
{
    vopts o;
    int rc = parse(argc, argv, &o), worst = 0;
    if (rc) return rc;
    for (int i = 0; i < o.n_files; i++) {
        rc = validate_one(&o, o.files[i]);
        if (rc > worst || (rc == 2)) worst = rc == 2 ? 2 : (worst == 2 ? 2 : rc);
    }
    return fflush(stdout) ? 2 : worst;
}
