/* bench/kern.c - `make bench`, part 3: the reference kernels against this
 * machine's limits and against the roofline time model, per layer type.
 *
 * 1. probe_run (sim/probe.c), in this run: sgemm FLOP/s through the CBLAS
 *    the kernels use and STREAM-triad bandwidth, on the threads the kernels
 *    use (kern_threads: OMP_NUM_THREADS, else every core).
 * 2. Per layer type, one shipped spec scaled as `kvsim validate` scales it
 *    and cut to the first layers that hold the type; for T = 1K .. 16K
 *    (doubling): a prefill of T tokens, then decode steps at T, each after
 *    evicting the model's weights and cache from every cache level
 *    (ref_evict: the roofline and the time model assume they come from
 *    memory; the code, page tables and threads stay warm, as in a step of a
 *    model far larger than the caches, which is what the probe's decode
 *    products and attention are timed in). Best of 3 prefills at T <= 2K, of 2 above (the first
 *    also pays the page faults of fresh scratch memory), each between two
 *    quiet checks (quiet(); up to 3 more when not), and of 8 decode steps
 *    (between two quiet_mem() checks, else 8 more), in each of 3 passes:
 *    the machine is shared, the minimum is the run least disturbed.
 * Figures, each printed with its goal:
 *  - prefill attention: FL_ATTN FLOPs / time in the attention kernels, at
 *    the largest T, as a fraction of the sgemm rate (goal >= 0.5);
 *  - decode attention: stored cache bytes the kernel streamed / its time,
 *    at the largest T, as a fraction of the triad bandwidth (goal >= 0.5);
 *  - predicted vs measured wall time of the type's layers at every T and
 *    phase: predicted = hw_roofline (sim/hw.c) with the probe's profile on
 *    cost_eval's row of the same scaled spec (goal: within +-20%);
 *  - the growth exponent of time with T: the slope of log time on log T
 *    (gsl_fit_linear), measured next to the same fit on the predictions.
 * Writes reports/bench.json (every number of the table, and more). Exit 0
 * whatever the goals (MISSED is a finding, not a failure), 2 on an error.
 * KVSIM_BENCH_TMAX lowers the largest T (a quick look); KVSIM_BENCH_QUICK=1
 * runs T = 256 and 512 and the whole-model steps at 256 (seconds: for
 * tests/bench_json.sh, which checks the file's structure, never a time);
 * KVSIM_BENCH_JSON names the output (default reports/bench.json). */
#include "probe.h"
#include "ref.h"
#include "hw.h"
#include "spec_scale.h"
#include "kern.h"
#include "ops.h"
#include "calib.h"
#include "quant.h"
#include "cli_calib.h"
#include "benchutil.h"
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <cblas.h>
#include <jansson.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NT_MAX 8
#define NCASE (int)(sizeof cases / sizeof cases[0])

typedef struct {
    const char *type;     /* attention type, for the table */
    const char *spec;
    u64 layers;           /* first layers kept */
    const char *row;      /* the by-type row holding it */
} bench_case;

/* One spec per attention type; V4-flash's first 4 layers are swa, swa,
 * csa, hca (its pattern). */
static const bench_case cases[] = {
    {"gqa", "archs/llama-3-8b.yaml", 1, "attn"},
    {"mla", "archs/deepseek-v3.yaml", 1, "mla"},
    {"dsa", "archs/deepseek-v3.2.yaml", 1, "dsa"},
    {"swa4", "archs/deepseek-v4-flash.yaml", 4, "swa"},
    {"csa", "archs/deepseek-v4-flash.yaml", 4, "csa"},
    {"hca", "archs/deepseek-v4-flash.yaml", 4, "hca"},
    {"cca", "archs/zaya1-8b.yaml", 1, "cca"},
};

typedef struct {
    double pred[2][NT_MAX], meas[2][NT_MAX];   /* [phase][T], seconds; pred = roofline */
    double tm[2][NT_MAX];                      /* the time model's prediction (tmodel.h) */
    double dec_bytes[NT_MAX];                  /* decode: the row's bytes moved (cost_bytes_moved) */
    double attn_gflops[NT_MAX], attn_gbs[NT_MAX];
    u64 attn_flops[NT_MAX], attn_bytes[NT_MAX];
    double attn_pre_s[NT_MAX], attn_dec_s[NT_MAX];
    double gemm_s[2][NT_MAX];                  /* measured: the weight products' time (ref_type_gemm) of the best run */
    double tm_part[2][NT_MAX][3];              /* the time model's attention, weight products and rest */
    double meas_attn[2][NT_MAX];               /* measured attention time of the best run, per phase */
    u64 gsel[NT_MAX], guni[NT_MAX];   /* prefill: the blocked kernel's pairs, and a masked union tile's (kern.h) */
    double pred_attn[NT_MAX];      /* prefill: the attention FLOPs' share of the prediction */
    double pred_w32[NT_MAX];       /* decode: the prediction with weights priced as the kernels hold them (fp32) */
    double wbytes_model[NT_MAX], wbytes_fp32[NT_MAX];
    u64 scale, layers;
} bench_res;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void loadavg(double *l)
{
    FILE *f = fopen("/proc/loadavg", "r");
    l[0] = l[1] = l[2] = -1;
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l[0] = l[1] = l[2] = -1;
        fclose(f);
    }
}

/* Evict the CPU caches: write twice the last-level cache (at least 64 MiB). */
static unsigned char *flush_buf;
static size_t flush_len;
static void flush_caches(void)
{
    for (size_t i = 0; i < flush_len; i += 64) flush_buf[i] = (unsigned char)(flush_buf[i] + 1);
}

/* Before a timed decode step: the model's weights and caches evicted
 * (ref_evict) and the threads woken by an empty parallel region, as the
 * probe's cold_call times its decode products and attention. */
static void cold_start(const ref_model *M)
{
    ref_evict(M);
#pragma omp parallel
    {
        (void)0;
    }
}

static const cost_t *row_of(const cost_result *r, const char *name)
{
    for (int k = 0; k < r->n_types; k++)
        if (!strcmp(r->type[k].name, name)) return &r->type[k].c;
    return NULL;
}

/* Roofline time of the row `name` of cost_eval at (T, phase); also the
 * attention FLOPs' compute time (*attn_s) and, if w32 > 0, the time with
 * the weight bytes replaced by w32 (*t_w32) and the model's weight bytes. */
typedef struct { const model_spec *m; const char *name; } row_pick;

/* Layer i's by-type row is pick->name (NULL name: every layer). */
static bool in_row(int i, void *arg)
{
    const row_pick *k = arg;
    char nm[48];
    if (!k->name) return true;
    spec_layer_type_name(k->m, i, nm, sizeof nm);
    return !strcmp(nm, k->name);
}

/* The time model's prediction (tmodel.h: the sum of the operations' times
 * from the probe's curves) of row `name` (NULL: the whole step, model parts
 * included) at (T, phase); also the row's bytes moved. */
static int predict_ops(const model_spec *m, const hw_profile *hw, u64 T, phase ph, const char *name, double *t, double *bytes,
                       double *part, sim_err *e)
{
    cost_query q = {.T = T, .B = 1, .phase = ph};
    cost_result r;
    cost_ops ops = {0};
    int rc = cost_eval_ops(m, &q, &r, &ops, e);
    if (rc) { cost_ops_free(&ops); return rc; }
    if (ops.nomem) rc = sim_fail(e, SIM_ENOMEM, "out of memory");
    row_pick k = {m, name};
    *t = tm_predict(&hw->curves, &ops, name ? in_row : NULL, &k);
    if (part) {
        /* attention products, weight products, the rest (as the kernels
         * time them: kern_attn_*, ref_mm_at, everything else) */
        part[0] = part[1] = part[2] = 0;
        for (int i = 0; i < ops.n; i++) {
            const cost_op *op = &ops.op[i];
            if (op->layer < 0 || (name && !in_row(op->layer, &k))) continue;
            int w = op->kind == OP_FLOPS && op->cat == FL_ATTN ? 0 : op->kind == OP_GEMM ? 1 : 2;
            part[w] += tm_op_time(&hw->curves, op) * ops.uses[op->layer];
        }
    }
    const cost_t *c = name ? row_of(&r, name) : &r.total;
    if (bytes) *bytes = c ? (double)cost_bytes_moved(c) : 0;
    cost_ops_free(&ops);
    cost_result_free(&r);
    return rc;
}

static int predict(const model_spec *m, const hw_profile *hw, u64 T, phase ph, const char *name, double *t, double *attn_s,
                   double w32, double *t_w32, double *wmodel, sim_err *e)
{
    cost_query q = {.T = T, .B = 1, .phase = ph};
    cost_result r;
    int rc = cost_eval(m, &q, &r, e);
    if (rc) return rc;
    const cost_t *c = row_of(&r, name);
    if (!c) rc = sim_fail(e, SIM_EINVAL, "no row '%s'", name);
    else {
        roofline rl;
        hw_roofline(hw, c, &rl);
        *t = rl.time_s;
        if (attn_s) *attn_s = (double)c->flops[FL_ATTN] / hw_peak(hw, DT_FP32);
        if (wmodel) *wmodel = (double)c->weight_read_bytes;
        if (w32 > 0) {
            cost_t c2 = *c;
            c2.weight_read_bytes = (u64)w32;
            hw_roofline(hw, &c2, &rl);
            *t_w32 = rl.time_s;
        }
    }
    cost_result_free(&r);
    return rc;
}

/* Weight elements the kernels read in the last step for the layers of row
 * `name` (they hold every weight in fp32: 4 bytes each). */
static double weight_elems(const ref_model *M, const char *name)
{
    double n = 0;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        char nm[48];
        spec_layer_type_name(M->m, (int)i, nm, sizeof nm);
        if (strcmp(nm, name)) continue;
        for (int k = 0; k < WC_COUNT; k++) n += (double)M->L[i].welems[k];
    }
    return n;
}

/* The spec at path as the kernels run it: scaled as validate scales it
 * (d_model at most 256), its first `layers` layers (0: all). */
static int bench_spec(const char *path, u64 layers, model_spec *m, u64 *scale, sim_err *e)
{
    int rc = spec_load(m, path, NULL, 0, e);
    if (rc) return rc;
    *scale = spec_scale_auto(m, 256);
    if ((rc = spec_scale(m, *scale, e)) || (layers && (rc = spec_truncate(m, layers, e)))) spec_free(m);
    return rc;
}

/* The spec of case i as the kernels run it. */
static int case_spec(int i, model_spec *m, u64 *scale, sim_err *e)
{
    return bench_spec(cases[i].spec, cases[i].layers, m, scale, e);
}

/* ---- a quiet machine ----------------------------------------------------------- */

/* On this shared VM the host at times takes the second vCPU away for a
 * second or more: two threads then run a product no faster than one (one
 * 256^3 sgemm on one thread and split over two, every second for 4
 * minutes: 21 of 180 samples at a speedup of 0.5-1.4, the rest 1.6-2.2, in
 * episodes of 1 to 12 s). A whole-model prefill takes seconds, and a pass's
 * two fell into such episodes in all three passes of a bench (V4-Flash's
 * step +32% against a probe that had met quiet moments). quiet() times that
 * sgemm both ways (best of 3 each, after a warm-up call): the machine is
 * quiet when neither time is over 1.25 times the fastest this run has seen
 * (a ratio against the best ratio would take a slow one-thread time, the
 * first call's page faults, for a fast machine). */
static double quiet_t1 = INFINITY, quiet_tn = INFINITY;   /* the fastest seen */
static int quiet_checks, quiet_noisy;

static void quiet_times(double *t1_, double *tn_)
{
    enum { QN = 256 };
    static float A[QN * QN], B[QN * QN], C[QN * QN];
    if (A[1] == 0) {
        for (int i = 0; i < QN * QN; i++) { A[i] = 1e-3f * (float)(i % 97); B[i] = 1e-3f * (float)(i % 89); }
        kern_blas_serial();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, QN, QN, QN, 1, A, QN, B, QN, 0, C, QN);   /* warm-up */
    }
    double t1 = INFINITY, tn = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, QN, QN, QN, 1, A, QN, B, QN, 0, C, QN);
        double t = now_s() - t0;
        t1 = t < t1 ? t : t1;
        t0 = now_s();
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num(), r0 = QN * id / nt, r1 = QN * (id + 1) / nt;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, QN, QN, 1, A + r0 * QN, QN, B, QN, 0, C + r0 * QN, QN);
        }
        t = now_s() - t0;
        tn = t < tn ? t : tn;
    }
    *t1_ = t1;
    *tn_ = tn;
}

static bool quiet(void)
{
    double t1, tn;
    quiet_times(&t1, &tn);
    quiet_t1 = t1 < quiet_t1 ? t1 : quiet_t1;
    quiet_tn = tn < quiet_tn ? tn : quiet_tn;
    bool q = t1 <= 1.25 * quiet_t1 && tn <= 1.25 * quiet_tn;
    quiet_checks++;
    quiet_noisy += !q;
    return q;
}

/* The same for memory: a decode step streams its weights and cache from
 * memory (ref_evict), and a neighbour's traffic slows it where no sgemm
 * notices (gqa's decode at 16K measured 0.89 ms in every step of three
 * passes of one bench, 0.73-0.76 in the others). quiet_mem() evicts 16 MiB
 * (kern_evict) and times its read on every thread: quiet when within 1.25
 * times the fastest read seen and quiet(). */
static double quiet_rd = INFINITY;

static bool quiet_mem(void)
{
    enum { QB = 4 << 20 };   /* floats: 16 MiB */
    static float *buf;
    if (!buf && !(buf = calloc(QB, sizeof *buf))) return true;
    kern_evict(buf, (u64)QB * sizeof *buf);
    kern_evict_fence();
    double t0 = now_s(), sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (long i = 0; i < QB; i += 16) sum += buf[i];   /* one float a line; the sum keeps the reads */
    double t = now_s() - t0;
    quiet_rd = t < quiet_rd ? t : quiet_rd;
    bool cpu = quiet(), mem = t <= 1.25 * quiet_rd && sum == 0;
    quiet_noisy += cpu && !mem;   /* one check: quiet() counted it, and a CPU miss */
    return cpu && mem;
}

/* Measure the cases [i0, i1) (one spec, one row each) on one model: each
 * time the best of this pass's runs and what res already holds (a pass
 * before). */
static int measure_spec(int i0, int i1, const u64 *Ts, int nT, bench_res *res, sim_err *e)
{
    const bench_case *bc = &cases[i0];
    model_spec m;
    ref_model M;
    u64 S;
    int rc;
    if ((rc = case_spec(i0, &m, &S, e))) return rc;
    if ((rc = ref_init(&M, &m, 1, NULL, e))) { spec_free(&m); return rc; }
    u64 Tmax = Ts[nT - 1];
    int32_t *tok = malloc((Tmax + 16) * sizeof *tok);
    if (!tok) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto out; }
    for (u64 i = 0; i < Tmax + 16; i++) tok[i] = (int32_t)ref_rand_index(&M, 0xbe, i, m.vocab);
    for (int c = i0; c < i1; c++) {
        res[c].scale = S;
        res[c].layers = bc->layers;
    }
    /* One prefill at the smallest T first, discarded: it pays the first
     * touch of the scratch arena's pages and of the weights (at 1K, MLA's
     * and DSA's timed runs had moved by 20-30% between benches). */
    ref_reset(&M);
    if (!rc) rc = ref_run(&M, tok, Ts[0], e);
    for (int k = 0; k < nT && !rc; k++) {
        u64 T = Ts[k];
        /* At least 2 (the first run also pays the page faults of fresh
         * scratch), between quiet checks (up to 3 more runs when not). */
        int reps = T <= 2048 ? 3 : 2;
        for (int r = 0, nq = 0; r < reps + 3 && nq < reps && !rc; r++) {
            ref_reset(&M);
            bool q = quiet();
            if ((rc = ref_run(&M, tok, T, e))) break;
            nq += quiet() && q;
            cost_result me;
            if ((rc = ref_result(&M, &me, e))) break;
            for (int c = i0; c < i1; c++) {
                bench_res *br = &res[c];
                double t = ref_type_time(&M, cases[c].row), as;
                u64 ab;
                ref_type_attn(&M, cases[c].row, &as, &ab);
                const cost_t *ct = row_of(&me, cases[c].row);
                if (t < br->meas[PH_PREFILL][k]) {
                    br->meas[PH_PREFILL][k] = t;
                    br->attn_pre_s[k] = as;
                    br->meas_attn[0][k] = as;
                    br->gemm_s[0][k] = ref_type_gemm(&M, cases[c].row);
                    ref_type_gather(&M, cases[c].row, &br->gsel[k], &br->guni[k]);
                    br->attn_flops[k] = ct ? ct->flops[FL_ATTN] : 0;
                    br->attn_gflops[k] = as > 0 ? (double)br->attn_flops[k] / as / 1e9 : 0;
                }
            }
            cost_result_free(&me);
        }
        /* Decode steps at T, T+1, ...: each with the model's weights and
         * cache evicted (ref_evict) and the threads awake, as the probe
         * times its decode products and attention. 8 a pass (a step is a
         * millisecond), between memory quiet checks: up to 8 more when not. */
        bool dq = quiet_mem();
        for (int r = 0; r < 16 && !rc; r++) {
            if (r == 8 && dq && quiet_mem()) break;
            cold_start(&M);
            if ((rc = ref_run(&M, tok + T + r, 1, e))) break;
            for (int c = i0; c < i1; c++) {
                bench_res *br = &res[c];
                double t = ref_type_time(&M, cases[c].row), as;
                u64 ab;
                ref_type_attn(&M, cases[c].row, &as, &ab);
                if (t < br->meas[PH_DECODE][k]) {
                    br->meas[PH_DECODE][k] = t;
                    br->meas_attn[1][k] = as;
                    br->gemm_s[1][k] = ref_type_gemm(&M, cases[c].row);
                }
                br->wbytes_fp32[k] = 4 * weight_elems(&M, cases[c].row);
                if (br->attn_dec_s[k] == 0 || as < br->attn_dec_s[k]) {
                    br->attn_dec_s[k] = as;
                    br->attn_bytes[k] = ab;
                    br->attn_gbs[k] = as > 0 ? (double)ab / as / 1e9 : 0;
                }
            }
        }
    }
out:
    free(tok);
    ref_free(&M);
    spec_free(&m);
    return rc;
}

/* The roofline's and the time model's predictions for case i at every T. */
static int predict_case(int i, const hw_profile *hw, const u64 *Ts, int nT, bench_res *res, sim_err *e)
{
    model_spec m;
    u64 S;
    int rc = case_spec(i, &m, &S, e);
    if (rc) return rc;
    bench_res *br = &res[i];
    for (int k = 0; k < nT && !rc; k++) {
        u64 T = Ts[k];
        rc = predict(&m, hw, T, PH_PREFILL, cases[i].row, &br->pred[0][k], &br->pred_attn[k], 0, NULL, NULL, e);
        if (!rc)
            rc = predict(&m, hw, T, PH_DECODE, cases[i].row, &br->pred[1][k], NULL, br->wbytes_fp32[k], &br->pred_w32[k],
                         &br->wbytes_model[k], e);
        if (!rc) rc = predict_ops(&m, hw, T, PH_PREFILL, cases[i].row, &br->tm[0][k], NULL, br->tm_part[0][k], e);
        if (!rc) rc = predict_ops(&m, hw, T, PH_DECODE, cases[i].row, &br->tm[1][k], &br->dec_bytes[k], br->tm_part[1][k], e);
    }
    spec_free(&m);
    return rc;
}

/* Slope of log y on log T (gsl_fit_linear); NAN if the fit fails. */
static double exponent(const u64 *Ts, const double *y, int n)
{
    double lx[NT_MAX], ly[NT_MAX], c0, c1, v00, v01, v11, ss;
    for (int k = 0; k < n; k++) {
        lx[k] = log((double)Ts[k]);
        ly[k] = log(y[k] > 0 ? y[k] : 1e-12);
    }
    if (n < 2 || gsl_fit_linear(lx, 1, ly, 1, (size_t)n, &c0, &c1, &v00, &v01, &v11, &ss) != GSL_SUCCESS) return NAN;
    return c1;
}

static const char *mark(bool ok) { return ok ? "met" : "MISSED"; }

/* ---- item 2: decode at a working set of at least 1 GiB ------------------------ */

#define BW_MIN_BYTES (1ull << 30)   /* the working set: beyond the last-level cache */
#define BW_MIN_QUICK (8ull << 20)   /* KVSIM_BENCH_QUICK: the same code on 8 MiB (tests/bench_json.sh) */
#define BW_T 32                      /* context of the decode steps (a short prefill fills it) */

/* Spec overrides of a case in this section (bw_sets). */
typedef struct { char buf[3][96]; const char *sets[3]; int n; } bw_spec;

typedef struct {
    u64 scale, layers, T;
    double ws_bytes;       /* the row's bytes moved by a decode step (cost_bytes_moved) */
    double weight_bytes;   /* of which weights read */
    double held_bytes;     /* weights the model holds (all layers, every expert) */
    double t_s;            /* best decode step of the row's layers */
    double frac;           /* ws_bytes / t_s / triad */
    double init_s, prefill_s;
    bw_spec spec;          /* the overrides the case runs with (bw_sets) */
} bw_res;

/* The spec of the case as this section runs it (spec_load's "PATH=VALUE"
 * overrides, into sets[0 .. *n), text in buf): a MoE FFN cut to the fewest
 * routed experts its routing can pick top_k from (n_group groups of which
 * topk_group are chosen: n_group ceil(top_k / topk_group)), so that the
 * model holds about the bytes a decode step reads instead of every expert
 * (V4-Flash at 16 layers: 60 GB, more than this machine's memory; a token
 * reads top_k of them whatever their number); the vocabulary cut to
 * BW_VOCAB (the embedding table and the head are no type's row, and held
 * 1 to 3.7 GB of bf16 at scale 1); swa4, whose spec has two such layers
 * (V4-Flash's first), with every layer of that kind. */
#define BW_VOCAB 8192

static int bw_sets(const bench_case *bc, bw_spec *o, sim_err *e)
{
    model_spec m;
    int rc = spec_load(&m, bc->spec, NULL, 0, e);
    if (rc) return rc;
    o->n = 0;
    for (u64 l = 0; l < m.n_layers; l++) {
        const ffn_cfg *f = &m.layer[l].ffn;
        if (!f->type || strcmp(f->type->name, "moe") || !f->top_k) continue;
        u64 E = f->top_k;
        if (f->n_group > 1) E = f->n_group * ((f->top_k + f->topk_group - 1) / f->topk_group);
        if (E < f->experts) {
            snprintf(o->buf[o->n], sizeof o->buf[0], "ffn.experts=%llu", (unsigned long long)E);
            o->n++;
        }
        break;
    }
    if (m.vocab > BW_VOCAB) {
        snprintf(o->buf[o->n], sizeof o->buf[0], "vocab=%llu", (unsigned long long)BW_VOCAB);
        o->n++;
    }
    if (!strcmp(bc->type, "swa4")) {
        snprintf(o->buf[o->n], sizeof o->buf[0], "pattern=[{repeat: [%s], times: %llu}]", bc->row,
                 (unsigned long long)m.n_layers);
        o->n++;
    }
    for (int i = 0; i < o->n; i++) o->sets[i] = o->buf[i];
    spec_free(&m);
    return SIM_OK;
}

/* The row's decode bytes and the whole model's stored weight bytes for the
 * spec at scale S, cut to nl layers. */
static int bw_size(const bench_case *bc, const bw_spec *bs, u64 S, u64 nl, double *ws, double *held, sim_err *e)
{
    model_spec m;
    int rc = spec_load(&m, bc->spec, bs->sets, bs->n, e);
    if (rc) return rc;
    if (!(rc = spec_scale(&m, S, e)) && !(rc = spec_truncate(&m, nl, e))) {
        cost_query q = {.T = BW_T, .B = 1, .phase = PH_DECODE};
        cost_result r;
        if (!(rc = cost_eval(&m, &q, &r, e))) {
            const cost_t *c = row_of(&r, bc->row);
            *ws = c ? (double)cost_bytes_moved(c) : 0;
            *held = (double)r.total.weight_bytes;
            cost_result_free(&r);
        }
    }
    spec_free(&m);
    return rc;
}

/* Pick the configuration (scale, first layers) holding the fewest weight
 * bytes whose decode step moves at least 1 GiB for the case's row, build
 * it, prefill BW_T tokens and time 3 decode steps from cold caches. */
static int decode_bw(const bench_case *bc, double bw, u64 min_bytes, bw_res *o, sim_err *e)
{
    memset(o, 0, sizeof *o);
    double best_held = INFINITY, big_ws = 0;
    u64 big_scale = 0, big_layers = 0;   /* the largest working set, when none reaches min_bytes */
    static const u64 scales[] = {1, 2, 4, 8, 16, 32};
    model_spec m;
    int rc = bw_sets(bc, &o->spec, e);
    if (rc || (rc = spec_load(&m, bc->spec, o->spec.sets, o->spec.n, e))) return rc;
    u64 nmax = m.n_layers;
    spec_free(&m);
    for (int i = 0; i < 6; i++)
        for (u64 nl = bc->layers; nl <= nmax && nl <= 64; nl *= 2) {
            double ws, held;
            if (bw_size(bc, &o->spec, scales[i], nl, &ws, &held, e)) continue;   /* a scale the spec cannot take */
            if (ws > big_ws && held < 2.0 * (double)min_bytes) { big_ws = ws; big_scale = scales[i]; big_layers = nl; }
            if (ws >= (double)min_bytes && held < best_held) {
                best_held = held;
                o->scale = scales[i];
                o->layers = nl;
            }
            if (ws >= (double)min_bytes) break;   /* more layers: only more bytes */
        }
    /* No configuration reaches it: the largest one, printed as it is (the
     * table shows the working set beside the goal). */
    if (!o->scale) { o->scale = big_scale; o->layers = big_layers; }
    if (!o->scale) return sim_fail(e, SIM_EINVAL, "%s: no configuration fits", bc->spec);
    ref_model M;
    if ((rc = spec_load(&m, bc->spec, o->spec.sets, o->spec.n, e))) return rc;
    if ((rc = spec_scale(&m, o->scale, e)) || (rc = spec_truncate(&m, o->layers, e))) { spec_free(&m); return rc; }
    double t0 = now_s();
    if ((rc = ref_init(&M, &m, 1, NULL, e))) { spec_free(&m); return rc; }
    o->init_s = now_s() - t0;
    o->T = BW_T;
    o->held_bytes = (double)ref_weights_held(&M);
    int32_t tok[BW_T + 8];
    for (u64 i = 0; i < BW_T + 8; i++) tok[i] = (int32_t)ref_rand_index(&M, 0xbe, i, m.vocab);
    t0 = now_s();
    rc = ref_run(&M, tok, BW_T, e);
    o->prefill_s = now_s() - t0;
    o->t_s = INFINITY;
    /* The best of 3 steps between memory quiet checks (quiet_mem), of at
     * most 8: a neighbour's memory traffic once took swa4's step from the
     * usual 0.56-0.58 of the triad to 0.42 (and gqa's from 1.0-1.2 to 0.78). */
    for (int r = 0, nq = 0; r < 8 && nq < 3 && !rc; r++) {
        flush_caches();
        bool q = quiet_mem();
        if ((rc = ref_run(&M, tok + BW_T + r, 1, e))) break;
        nq += quiet_mem() && q;
        double t = ref_type_time(&M, bc->row);
        if (t < o->t_s) {
            o->t_s = t;
            cost_result me;
            if ((rc = ref_result(&M, &me, e))) break;
            const cost_t *c = row_of(&me, bc->row);
            o->ws_bytes = c ? (double)cost_bytes_moved(c) : 0;
            o->weight_bytes = c ? (double)c->weight_read_bytes : 0;
            cost_result_free(&me);
        }
    }
    o->frac = o->t_s > 0 ? o->ws_bytes / o->t_s / bw : 0;
    ref_free(&M);
    spec_free(&m);
    return rc;
}

/* Fixed costs of a decode step, each measured alone (best of 5 runs of a
 * loop): the start of an OpenMP parallel region (the kernels open one per
 * product or attention call), one scratch allocation and its release
 * (ref_scratch_raw: the arena, no malloc once warm), and the decode of one
 * cache row from L1 (per-row overhead of quant_decode: 584-byte V4 entry,
 * a 512-value bf16 row, a 656-byte V3.2 entry). */
typedef struct { double region_s, scratch_s, row_v4_s, row_bf16_s, row_v32_s; } fixed_costs;

static double best_loop(void (*fn)(void *), void *arg, int n)
{
    double best = INFINITY;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        for (int i = 0; i < n; i++) fn(arg);
        double t = (now_s() - t0) / n;
        best = t < best ? t : best;
    }
    return best;
}

static volatile int fc_sink;
static void fc_region(void *arg)
{
    (void)arg;
#pragma omp parallel
    { fc_sink = 1; }
}
static void fc_scratch(void *arg)
{
    ref_model *M = arg;
    ref_mark mk = ref_scratch_mark(M);
    float *p = REF_WORK(M, 4096);
    if (p) p[0] = 1;
    ref_scratch_release(M, mk);
}
typedef struct { fmt f; u64 n; uint8_t buf[1024]; float out[640]; } fc_row;
static void fc_decode(void *arg)
{
    fc_row *r = arg;
    quant_decode(&r->f, r->buf, r->n, r->out);
    fc_sink = (int)r->out[0];
}

static int fixed_costs_measure(fixed_costs *fc, sim_err *e)
{
    model_spec m;
    ref_model M;
    int rc = spec_load(&m, "archs/tiny/gqa.yaml", NULL, 0, e);
    if (rc) return rc;
    if ((rc = ref_init(&M, &m, 1, NULL, e))) { spec_free(&m); return rc; }
    fc->region_s = best_loop(fc_region, NULL, 2000);
    fc->scratch_s = best_loop(fc_scratch, &M, 20000);
    ref_free(&M);
    spec_free(&m);
    /* Rows: V4's v4_kv (448 fp8 + 7 ue8m0 per 64, 64 bf16, 1 pad), a bf16
     * row of 512, V3.2's (512 fp8 + 4 fp32 per 128, 64 bf16). */
    static fc_row r;
    float x[512];
    for (int i = 0; i < 512; i++) x[i] = (float)sin(i * 0.37) * 3;
    fmt v4 = {.name = "v4_kv", .n_parts = 2, .pad_bytes = 1,
              .part = {{448, DT_FP8_E4M3, true, DT_UE8M0, 64}, {64, DT_BF16, false, DT_FP32, 0}}};
    fmt v32 = {.name = "v32", .n_parts = 2,
               .part = {{512, DT_FP8_E4M3, true, DT_FP32, 128}, {64, DT_BF16, false, DT_FP32, 0}}};
    r.f = v4; r.n = 512;
    quant_encode(&r.f, x, r.n, r.buf);
    fc->row_v4_s = best_loop(fc_decode, &r, 20000);
    fmt_from_dtype(&r.f, DT_BF16); r.n = 512;
    quant_encode(&r.f, x, r.n, r.buf);
    fc->row_bf16_s = best_loop(fc_decode, &r, 20000);
    r.f = v32; r.n = 576;
    float x2[576];
    for (int i = 0; i < 576; i++) x2[i] = (float)cos(i * 0.29);
    quant_encode(&r.f, x2, r.n, r.buf);
    fc->row_v32_s = best_loop(fc_decode, &r, 20000);
    return SIM_OK;
}

/* One whole model, scaled as validate scales it, every layer: the best of
 * this pass's prefills of T tokens (until 2 ran between quiet checks, at
 * most 6) and of 10 decode steps at T (cold caches), and of what meas holds
 * (a pass before). runs[0] += the prefills run, runs[1] += those between
 * quiet checks. */
static int model_step(const char *spec, u64 T, double *meas, u64 *layers, u64 *scale, int *runs, sim_err *e)
{
    model_spec m;
    ref_model M;
    u64 S;
    int rc;
    if ((rc = bench_spec(spec, 0, &m, &S, e))) return rc;
    if ((rc = ref_init(&M, &m, 1, NULL, e))) { spec_free(&m); return rc; }
    *layers = m.n_layers;
    *scale = S;
    int32_t *tok = malloc((T + 16) * sizeof *tok);
    if (!tok) rc = sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 i = 0; tok && i < T + 16; i++) tok[i] = (int32_t)ref_rand_index(&M, 0xbe, i, m.vocab);
    for (int r = 0, nq = 0; r < 6 && nq < 2 && !rc; r++) {
        ref_reset(&M);
        bool q = quiet();
        if (!(rc = ref_run(&M, tok, T, e)) && ref_time_total(&M) < meas[0]) meas[0] = ref_time_total(&M);
        q = quiet() && q;
        nq += q;
        runs[0]++;
        runs[1] += q;
    }
    for (int r = 0; r < 10 && !rc; r++) {   /* a step is milliseconds: the best of 10 (of 3, one neighbour's burst moved it 40%) */
        cold_start(&M);   /* as the per-type decode points */
        if (!(rc = ref_run(&M, tok + T + r, 1, e)) && ref_time_total(&M) < meas[1]) meas[1] = ref_time_total(&M);
    }
    free(tok);
    ref_free(&M);
    spec_free(&m);
    return rc;
}

/* The time model's and the roofline's whole-step times of spec (scaled as
 * model_step runs it) at T, prefill and decode. */
static int model_step_predict(const char *spec, const hw_profile *hw, u64 T, double *tm, double *roof, sim_err *e)
{
    model_spec m;
    u64 S;
    int rc;
    if ((rc = bench_spec(spec, 0, &m, &S, e))) return rc;
    for (int ph = 0; ph < 2 && !rc; ph++) {
        cost_query q = {.T = T, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result r;
        if ((rc = predict_ops(&m, hw, T, q.phase, NULL, &tm[ph], NULL, NULL, e)) || (rc = cost_eval(&m, &q, &r, e))) break;
        roofline rl;
        hw_roofline(hw, &r.total, &rl);
        roof[ph] = rl.time_s;
        cost_result_free(&r);
    }
    spec_free(&m);
    return rc;
}

int main(void)
{
    gsl_set_error_handler_off();
    sim_err e;
    double t_start = now_s(), load0[3], load1[3];
    loadavg(load0);
    u64 Ts[NT_MAX];
    int nT = 0;
    u64 tmax = getenv("KVSIM_BENCH_TMAX") ? strtoull(getenv("KVSIM_BENCH_TMAX"), NULL, 10) : 16384;
    bool quick = getenv("KVSIM_BENCH_QUICK") && !strcmp(getenv("KVSIM_BENCH_QUICK"), "1");
    const char *out_json = getenv("KVSIM_BENCH_JSON") ? getenv("KVSIM_BENCH_JSON") : "reports/bench.json";
    for (u64 T = quick ? 256 : 1024; T <= (quick ? 512 : tmax) && nT < NT_MAX; T *= 2) Ts[nT++] = T;
    if (nT < 2) { fprintf(stderr, "bench: KVSIM_BENCH_TMAX must be at least 2048\n"); return 2; }
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    flush_len = l3 > 0 && (size_t)l3 * 2 > ((size_t)64 << 20) ? (size_t)l3 * 2 : (size_t)64 << 20;
    flush_buf = calloc(flush_len, 1);
    probe_result pr;
    if (!flush_buf || probe_run(&pr, &e)) { fprintf(stderr, "bench: %s\n", flush_buf ? e.msg : "out of memory"); return 2; }
    int threads = kern_threads();
    /* The kernels' thread count against the probe's: all cores, or one. */
    double sgemm = threads == 1 ? pr.sgemm_1core : pr.sgemm_all, bw = threads == 1 ? pr.bw_1core : pr.bw_all;
    hw_profile hw;
    memset(&hw, 0, sizeof hw);
    snprintf(hw.name, sizeof hw.name, "probe");
    hw.memory_bytes = pr.memory_bytes;
    hw.bandwidth = bw;
    hw.peak[DT_FP32] = sgemm;   /* the kernels compute in fp32: every dtype falls back to it */
    /* The time model's curves, from microbenchmarks only (probe_curves.c),
     * never from the kernels' own timings. Three passes, each the probe's
     * microbenchmarks and then every case's kernels, a minute or two apart:
     * each figure is the best of the passes (a neighbour's burst on a
     * shared host slows a whole pass, of the probe or of the kernels, by up
     * to half, and can cover two: V4's three types at 1K ran 25% slow in
     * both of two passes; the same best-of rule on both sides).
     * KVSIM_BENCH_QUICK: one. */
    static bench_res res[NCASE];
    double load_case[NCASE];   /* the 1-minute load average when the case's runs ended */
    /* The whole-model steps (item 7), in each pass after the cases. */
    static const char *const steps[] = {"archs/llama-3-8b.yaml", "archs/deepseek-v4-flash.yaml"};
    enum { NSTEP = 2 };
    const u64 Tstep = Ts[0];   /* 1K: whole models stay within the bench's 10 minutes */
    double step_meas[NSTEP][2], step_tm[NSTEP][2], step_roof[NSTEP][2], step_load[NSTEP][3];
    int step_runs[NSTEP][2] = {{0}};   /* prefills run, of which between quiet checks (model_step) */
    u64 step_layers[NSTEP], step_scale[NSTEP];
    for (int i = 0; i < NSTEP; i++) step_meas[i][0] = step_meas[i][1] = INFINITY;
    for (int i = 0; i < NCASE; i++)
        for (int k = 0; k < nT; k++) res[i].meas[0][k] = res[i].meas[1][k] = INFINITY;
    /* KVSIM_BENCH_DECODE_ONLY: the decode-at-1-GiB section alone (a quick
     * look; writes no bench.json). */
    bool decode_only = getenv("KVSIM_BENCH_DECODE_ONLY") != NULL;
    meas_set ms = {0};
    int passes = quick ? 1 : 3;
    for (int pass = 0; pass < passes; pass++) {
        meas_set mp = {0};
        if (probe_curves(pass ? &mp : &ms, threads, &e)) { fprintf(stderr, "bench: probe: %s\n", e.msg); return 2; }
        if (pass) {
            if (mp.n != ms.n) { fprintf(stderr, "bench: probe: the passes measured %d and %d rows\n", ms.n, mp.n); return 2; }
            for (int r = 0; r < ms.n; r++)
                if (mp.row[r].seconds < ms.row[r].seconds) ms.row[r].seconds = mp.row[r].seconds;
            meas_free(&mp);
        }
        for (int i = 0, j; i < NCASE && !decode_only; i = j) {
            double t0 = now_s(), l[3];
            for (j = i + 1; j < NCASE && !strcmp(cases[j].spec, cases[i].spec); j++) {}
            if (measure_spec(i, j, Ts, nT, res, &e)) { fprintf(stderr, "bench: %s: %s\n", cases[i].spec, e.msg); return 2; }
            loadavg(l);
            for (int c = i; c < j; c++) load_case[c] = l[0];
            fprintf(stderr, "bench: pass %d: %s: %.1f s, load average %.2f\n", pass + 1, cases[i].spec, now_s() - t0, l[0]);
        }
        for (int i = 0; i < NSTEP && !decode_only; i++) {
            if (model_step(steps[i], Tstep, step_meas[i], &step_layers[i], &step_scale[i], step_runs[i], &e)) {
                fprintf(stderr, "bench: %s: %s\n", steps[i], e.msg);
                return 2;
            }
            loadavg(step_load[i]);
        }
    }
    if (calib_fit(&ms, &hw.curves, &e)) { fprintf(stderr, "bench: probe: %s\n", e.msg); return 2; }
    for (int i = 0; i < NCASE && !decode_only; i++)
        if (predict_case(i, &hw, Ts, nT, res, &e)) { fprintf(stderr, "bench: %s: %s\n", cases[i].spec, e.msg); return 2; }
    /* The measurements in build/bench/out/probe.csv, for a look at the
     * curves behind the predictions (kvsim calibrate refits the CSV). */
    FILE *mf = bench_out("probe.csv");
    if (mf) { calib_write_csv(&ms, mf); fclose(mf); }
    meas_free(&ms);
    printf("reference kernels vs this machine: %d threads (probe: %d cores); sgemm %.1f GFLOP/s, triad %.2f GB/s; "
           "load average %.2f at start\n", threads, pr.cores, sgemm / 1e9, bw / 1e9, load0[0]);
    printf("the time model's curves (probe_curves.c, the best of %d passes; the measurements: build/bench/out/probe.csv):\n",
           passes);
    cli_print_curves(stdout, &hw.curves);

    /* Item 2: every type's decode step at a working set of at least 1 GiB. */
    static bw_res bwr[NCASE];
    fixed_costs fc;
    double load_bw[3];
    loadavg(load_bw);
    if (fixed_costs_measure(&fc, &e)) { fprintf(stderr, "bench: fixed costs: %s\n", e.msg); return 2; }
    /* KVSIM_BENCH_NO_LARGE: skip this section (its weight initialisation
     * takes minutes for mla, dsa and csa); its table then says so. */
    bool no_large = getenv("KVSIM_BENCH_NO_LARGE") != NULL;
    for (int i = 0; i < NCASE && !no_large; i++) {
        double t0 = now_s();
        if (decode_bw(&cases[i], bw, quick ? BW_MIN_QUICK : BW_MIN_BYTES, &bwr[i], &e)) { fprintf(stderr, "bench: decode at 1 GiB: %s: %s\n", cases[i].type, e.msg); return 2; }
        fprintf(stderr, "bench: decode at 1 GiB: %s: %.1f s (init %.1f s, prefill %.1f s)\n", cases[i].type, now_s() - t0,
                bwr[i].init_s, bwr[i].prefill_s);
    }
    loadavg(load1);

    int k = nT - 1, met = 0, total = 0;
    if (no_large) printf("\ndecode steps at a working set >= 1 GiB: SKIPPED (KVSIM_BENCH_NO_LARGE); every row below reads 0\n");
    printf("\ndecode steps at a working set >= %s (bytes the step moves, cost_bytes_moved of the type's row; the L3 is\n"
           "%ld MiB) against the triad bandwidth %.2f GB/s measured above (goal: >= 0.50); load average %.2f before, %.2f after\n",
           quick ? "8 MiB (KVSIM_BENCH_QUICK)" : "1 GiB", l3 > 0 ? l3 >> 20 : -1L, bw / 1e9, load_bw[0], load1[0]);
    printf("  %-5s %-28s %5s %10s %10s %10s %9s %8s %-7s %7s  %s\n", "type", "spec (scale, layers)", "T", "working", "weights",
           "held", "step", "/triad", "goal", "init", "spec overrides");
    for (int i = 0; i < NCASE; i++) {
        const bw_res *b = &bwr[i];
        char sp[64];
        const char *base = strrchr(cases[i].spec, '/');
        snprintf(sp, sizeof sp, "%.*s (%llu, %llu)", (int)(strlen(base + 1) - 5), base + 1, (unsigned long long)b->scale,
                 (unsigned long long)b->layers);
        char ov[200] = "";
        for (int j = 0; j < b->spec.n; j++)
            snprintf(ov + strlen(ov), sizeof ov - strlen(ov), "%s--set '%s'", j ? " " : "", b->spec.sets[j]);
        printf("  %-5s %-28s %5llu %7.0f MiB %6.0f MiB %6.0f MiB %6.1f ms %8.2f %-7s %5.1f s  %s\n", cases[i].type, sp,
               (unsigned long long)b->T, b->ws_bytes / 1048576, b->weight_bytes / 1048576, b->held_bytes / 1048576,
               1e3 * b->t_s, b->frac, mark(b->frac >= 0.5), b->init_s, ov);
        met += b->frac >= 0.5 && b->ws_bytes >= (double)(quick ? BW_MIN_QUICK : BW_MIN_BYTES);
        total++;
    }
    printf("  (a working set under the minimum: the largest configuration the spec has for the type; its goal counts as missed;\n"
           "  overrides: MoE cut to the experts its routing needs and vocab to 8192, so the model holds about what a step reads;\n"
           "  swa4: every layer swa)\n");
    printf("  fixed costs: a parallel region %.2f us, a scratch allocation %.3f us, decoding one cache row from L1:\n"
           "  V4 584 B %.3f us, bf16 x 512 %.3f us, V3.2 656 B %.3f us (the same rows from memory: %.3f, %.3f, %.3f us at the triad rate)\n",
           1e6 * fc.region_s, 1e6 * fc.scratch_s, 1e6 * fc.row_v4_s, 1e6 * fc.row_bf16_s, 1e6 * fc.row_v32_s, 1e6 * 584 / bw,
           1e6 * 1024 / bw, 1e6 * 656 / bw);
    if (decode_only) return 0;
    printf("\nattention kernels at T = %llu (goal: >= 0.50 of the machine's rate, measured above)\n",
           (unsigned long long)Ts[k]);
    printf("  %-5s %-22s %11s %8s %-7s %9s %8s %-7s %s\n", "type", "spec (scale, layers)", "prefill", "/sgemm", "goal",
           "decode", "/triad", "goal", "prefill picked rows: union/selected");
    for (int i = 0; i < NCASE; i++) {
        const bench_res *b = &res[i];
        double fp = b->attn_gflops[k] * 1e9 / sgemm, fd = b->attn_gbs[k] * 1e9 / bw;
        char sp[64];
        const char *base = strrchr(cases[i].spec, '/');
        snprintf(sp, sizeof sp, "%.*s (%llu, %llu)", (int)(strlen(base + 1) - 5), base + 1, (unsigned long long)b->scale,
                 (unsigned long long)b->layers);
        char us[48] = "-";   /* the types whose prefill picks rows (kern_attn_gather.c) */
        if (b->gsel[k])
            snprintf(us, sizeof us, "%.2f (%.3g pairs)", (double)b->guni[k] / (double)b->gsel[k], (double)b->gsel[k]);
        printf("  %-5s %-22s %6.1f GF/s %8.2f %-7s %4.2f GB/s %8.2f %-7s %-22s load %.2f\n", cases[i].type, sp,
               b->attn_gflops[k], fp, mark(fp >= 0.5), b->attn_gbs[k], fd, mark(fd >= 0.5), us, load_case[i]);
        met += (fp >= 0.5) + (fd >= 0.5);
        total += 2;
    }
    printf("  union/selected: the (query, row) pairs a masked tile over the rows a block of queries picks would\n"
           "  compute, over the pairs picked; the blocked kernel computes the picked pairs only (no masked work)\n");
    printf("\nwall time of the type's layers, measured vs predicted (roofline of cost_eval with the probe's profile);\n"
           "error = measured / predicted - 1 (goal: within +-20%%); exponent = slope of log time on log T\n");
    printf("  %-5s %-7s", "type", "phase");
    for (int j = 0; j < nT; j++) printf(" %9llu%s       ", (unsigned long long)(Ts[j] % 1024 ? Ts[j] : Ts[j] / 1024), Ts[j] % 1024 ? " " : "K");
    printf("  %s\n", "exponent meas / model");
    double expo[NCASE][2][2];
    for (int i = 0; i < NCASE; i++)
        for (int ph = 0; ph < 2; ph++) {
            const bench_res *b = &res[i];
            printf("  %-5s %-7s", cases[i].type, ph ? "decode" : "prefill");
            for (int j = 0; j < nT; j++) {
                double err = b->meas[ph][j] / b->pred[ph][j] - 1;
                bool ok = fabs(err) <= 0.2;
                met += ok;
                total++;
                printf(" %+7.0f%% %-7s", 100 * err, mark(ok));
            }
            expo[i][ph][0] = exponent(Ts, b->meas[ph], nT);
            expo[i][ph][1] = exponent(Ts, b->pred[ph], nT);
            printf("  %5.2f / %5.2f  load %.2f\n", expo[i][ph][0], expo[i][ph][1], load_case[i]);
        }
    printf("  times (ms, predicted -> measured):\n");
    for (int i = 0; i < NCASE; i++)
        for (int ph = 0; ph < 2; ph++) {
            printf("  %-5s %-7s", cases[i].type, ph ? "decode" : "prefill");
            for (int j = 0; j < nT; j++) printf(" %7.2f->%-7.2f", 1e3 * res[i].pred[ph][j], 1e3 * res[i].meas[ph][j]);
            printf("\n");
        }
    printf("\nthe same, predicted by the time model (tmodel.h: each operation's time from the probe's curves, summed);\n"
           "error = measured / predicted - 1 (goal: within +-20%%)\n");
    int tm_met = 0, tm_total = 0;
    for (int i = 0; i < NCASE; i++)
        for (int ph = 0; ph < 2; ph++) {
            const bench_res *b = &res[i];
            printf("  %-5s %-7s", cases[i].type, ph ? "decode" : "prefill");
            for (int j = 0; j < nT; j++) {
                double err = b->meas[ph][j] / b->tm[ph][j] - 1;
                bool ok = fabs(err) <= 0.2;
                tm_met += ok;
                tm_total++;
                printf(" %+7.0f%% %-7s", 100 * err, mark(ok));
            }
            printf("  load %.2f\n", load_case[i]);
        }
    printf("  time model: %d of %d within +-20%%\n", tm_met, tm_total);
    met += tm_met;
    total += tm_total;
    /* Whole-model steps (item 7): every layer and the model parts,
     * measured in the passes above. */
    for (int i = 0; i < NSTEP; i++)
        if (model_step_predict(steps[i], &hw, Tstep, step_tm[i], step_roof[i], &e)) {
            fprintf(stderr, "bench: %s: %s\n", steps[i], e.msg);
            return 2;
        }
    printf("\nwhole-model steps at T = %llu (all layers, scaled; measured vs time model / roofline; goal +-20%%):\n",
           (unsigned long long)Tstep);
    for (int i = 0; i < NSTEP; i++)
        for (int ph = 0; ph < 2; ph++) {
            double err = step_meas[i][ph] / step_tm[i][ph] - 1;
            bool ok = fabs(err) <= 0.2;
            met += ok;
            total++;
            printf("  %-30s %-7s measured %9.3f ms, time model %9.3f ms (%+5.0f%% %s), roofline %9.3f ms; load %.2f\n",
                   steps[i], ph ? "decode" : "prefill", 1e3 * step_meas[i][ph], 1e3 * step_tm[i][ph], 100 * err, mark(ok),
                   1e3 * step_roof[i][ph], step_load[i][0]);
        }
    for (int i = 0; i < NSTEP; i++)
        printf("  %s: %d prefills over the passes, %d of them between quiet checks\n", steps[i], step_runs[i][0], step_runs[i][1]);
    printf("  quiet checks (a 256^3 sgemm on 1 and on %d threads, each within 1.25 x the fastest, %.0f and %.0f us): %d, %d of "
           "them not quiet\n", threads, 1e6 * quiet_t1, 1e6 * quiet_tn, quiet_checks, quiet_noisy);
    /* Where the time goes, measured (the kernels' own timers: kern_attn_*,
     * the weight products of ref_mm_at, the rest) against the time model's
     * split of the same three (attention products, GEMM operations, the
     * rest), at the middle T. */
    int km = nT / 2;
    printf("\nwhere the time goes at T = %llu, ms measured / predicted by the time model (attention kernels, weight\n"
           "products, the rest of the layer; a part's error is where a miss above comes from):\n", (unsigned long long)Ts[km]);
    printf("  %-5s %-8s %19s %19s %19s\n", "type", "phase", "attention", "weight products", "the rest");
    for (int i = 0; i < NCASE; i++)
        for (int ph = 0; ph < 2; ph++) {
            const bench_res *b = &res[i];
            double m3[3] = {b->meas_attn[ph][km], b->gemm_s[ph][km], b->meas[ph][km] - b->meas_attn[ph][km] - b->gemm_s[ph][km]};
            printf("  %-5s %-8s", cases[i].type, ph ? "decode" : "prefill");
            for (int q = 0; q < 3; q++) printf(" %8.3f / %8.3f", 1e3 * m3[q], 1e3 * b->tm_part[ph][km][q]);
            printf("\n");
        }
    double wall = now_s() - t_start;
    printf("\nkernel goals: %d of %d met; load average %.2f at start, %.2f at end (%d cores); %.0f s\n", met, total,
           load0[0], load1[0], pr.cores, wall);

    /* reports/bench.json */
    json_t *root = json_object(), *types = json_array();
    json_object_set_new(root, "threads", json_integer(threads));
    json_object_set_new(root, "probe", json_pack("{s:i, s:f, s:f, s:f, s:f}", "cores", pr.cores, "sgemm_1core_flops",
                                                 pr.sgemm_1core, "sgemm_all_flops", pr.sgemm_all, "bandwidth_1core_bs",
                                                 pr.bw_1core, "bandwidth_all_bs", pr.bw_all));
    json_t *pc = json_object(), *bwc = json_array();
    /* The gemm tables (tmodel.h): per stored dtype, per short side and M,
     * a product's fixed seconds and seconds per weight element. */
    json_t *gt = json_object();
    for (int d = 0; d < DT_COUNT; d++) {
        if (!hw.curves.gt_n[d]) continue;
        json_t *rows = json_array();
        for (int q = 0; q < hw.curves.gt_ns[d]; q++)
            for (int i = 0; i < hw.curves.gt_n[d]; i++)
                json_array_append_new(rows, json_pack("{s:f, s:f, s:f, s:f}", "short_side", hw.curves.gt_S[d][q], "M",
                                                      hw.curves.gt_M[d][i], "fixed_s", hw.curves.gt_fixed[d][q][i], "s_per_elem",
                                                      hw.curves.gt_elem[d][q][i]));
        json_object_set_new(gt, dtype_table[d].name, json_pack("{s:o, s:f}", "points", rows, "rms_rel", hw.curves.gt_rms[d]));
    }
    json_object_set_new(pc, "gemm_table", gt);
    for (int i = 0; i < hw.curves.n_bw; i++)
        json_array_append_new(bwc, json_pack("{s:f, s:f}", "ws_bytes", hw.curves.bw_ws[i], "bs", hw.curves.bw_bs[i]));
    json_object_set_new(pc, "bandwidth_by_working_set", bwc);
    json_object_set_new(pc, "bandwidth_loo_rms_rel", json_real(hw.curves.bw_rms));
    json_object_set_new(pc, "elementwise_flops", json_real(hw.curves.elem_rate));
    json_t *elt = json_array();   /* the element-wise rate by tokens (tmodel.h el_M, el_rate) */
    for (int i = 0; i < hw.curves.n_el; i++)
        json_array_append_new(elt, json_pack("{s:f, s:f}", "tokens", hw.curves.el_M[i], "flops", hw.curves.el_rate[i]));
    json_object_set_new(pc, "elementwise_by_tokens", elt);
    json_object_set_new(pc, "exp_per_s", json_real(hw.curves.exp_rate));
    json_object_set_new(pc, "gather_s_per_row", json_real(hw.curves.gather_s_per_row));
    json_object_set_new(pc, "parallel_fixed_s", json_real(hw.curves.fixed_s));
    json_object_set_new(pc, "attn_prefill_flops", json_pack("{s:f, s:f, s:f}", "causal", hw.curves.apre_rate[TM_ACAUSAL], "window",
                                                            hw.curves.apre_rate[TM_AWINDOW], "gather", hw.curves.apre_rate[TM_AGATHER]));
    json_object_set_new(json_object_get(root, "probe"), "curves", pc);
    json_object_set_new(root, "decode_fixed_costs", json_pack("{s:f, s:f, s:f, s:f, s:f}", "parallel_region_s", fc.region_s,
                                                              "scratch_alloc_s", fc.scratch_s, "row_decode_v4_584B_s",
                                                              fc.row_v4_s, "row_decode_bf16x512_s", fc.row_bf16_s,
                                                              "row_decode_v32_656B_s", fc.row_v32_s));
    json_object_set_new(root, "sgemm_flops", json_real(sgemm));
    json_object_set_new(root, "bandwidth_bs", json_real(bw));
    json_object_set_new(root, "loadavg_start", json_pack("[f,f,f]", load0[0], load0[1], load0[2]));
    json_object_set_new(root, "loadavg_end", json_pack("[f,f,f]", load1[0], load1[1], load1[2]));
    json_object_set_new(root, "seconds", json_real(wall));
    for (int i = 0; i < NCASE; i++) {
        const bench_res *b = &res[i];
        json_t *t = json_object(), *pts = json_array();
        json_object_set_new(t, "type", json_string(cases[i].type));
        json_object_set_new(t, "spec", json_string(cases[i].spec));
        json_object_set_new(t, "row", json_string(cases[i].row));
        json_object_set_new(t, "scale", json_integer((json_int_t)b->scale));
        json_object_set_new(t, "layers", json_integer((json_int_t)b->layers));
        json_object_set_new(t, "loadavg_after", json_real(load_case[i]));
        json_object_set_new(t, "prefill_attn_fraction_of_sgemm", json_real(b->attn_gflops[k] * 1e9 / sgemm));
        if (b->gsel[k]) {   /* kern_attn_gather.c: pairs computed, and a masked union tile's over them */
            json_object_set_new(t, "prefill_picked_pairs", json_integer((json_int_t)b->gsel[k]));
            json_object_set_new(t, "prefill_union_over_selected", json_real((double)b->guni[k] / (double)b->gsel[k]));
        }
        json_object_set_new(t, "decode_attn_fraction_of_bandwidth", json_real(b->attn_gbs[k] * 1e9 / bw));
        /* Item 2: the whole decode step of the type's layers (weights, cache
         * and activations as the model prices them) against the triad. */
        json_object_set_new(t, "decode_fraction_of_bandwidth", json_real(bwr[i].frac));
        json_object_set_new(t, "decode_working_set_bytes", json_real(bwr[i].ws_bytes));
        json_object_set_new(t, "decode_large", json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "scale",
                                                         (json_int_t)bwr[i].scale, "layers", (json_int_t)bwr[i].layers, "T",
                                                         (json_int_t)bwr[i].T, "step_s", bwr[i].t_s, "weight_read_bytes",
                                                         bwr[i].weight_bytes, "weights_held_bytes", bwr[i].held_bytes,
                                                         "init_s", bwr[i].init_s, "prefill_s", bwr[i].prefill_s,
                                                         "fraction_of_bandwidth", bwr[i].frac));
        json_t *ov = json_array();
        for (int j = 0; j < bwr[i].spec.n; j++) json_array_append_new(ov, json_string(bwr[i].spec.sets[j]));
        json_object_set_new(json_object_get(t, "decode_large"), "spec_overrides", ov);
        /* The same figure at the small working set of the per-T runs above
         * (about 10 MB: mostly cache-resident, fixed costs dominate). */
        json_object_set_new(t, "decode_fraction_of_bandwidth_small_ws", json_real(b->dec_bytes[k] / b->meas[1][k] / bw));
        json_object_set_new(t, "decode_working_set_bytes_small_ws", json_real(b->dec_bytes[k]));
        json_object_set_new(t, "exponent", json_pack("{s:{s:f,s:f},s:{s:f,s:f}}", "prefill", "measured", expo[i][0][0],
                                                     "model", expo[i][0][1], "decode", "measured", expo[i][1][0], "model",
                                                     expo[i][1][1]));
        for (int j = 0; j < nT; j++)
            json_array_append_new(pts, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:f, s:I, s:f}",
                                                 "T", (json_int_t)Ts[j], "prefill_predicted_s", b->pred[0][j],
                                                 "prefill_measured_s", b->meas[0][j], "decode_predicted_s", b->pred[1][j],
                                                 "decode_measured_s", b->meas[1][j], "prefill_attn_s", b->attn_pre_s[j],
                                                 "prefill_attn_flops", (json_int_t)b->attn_flops[j], "prefill_attn_gflops",
                                                 b->attn_gflops[j], "decode_attn_s", b->attn_dec_s[j], "decode_attn_bytes",
                                                 (json_int_t)b->attn_bytes[j], "decode_attn_gbs", b->attn_gbs[j]));
        for (int j = 0; j < nT; j++) {
            json_t *pt = json_array_get(pts, (size_t)j);
            json_object_set_new(pt, "prefill_attn_predicted_s", json_real(b->pred_attn[j]));
            json_object_set_new(pt, "prefill_roofline_s", json_real(b->pred[0][j]));
            json_object_set_new(pt, "decode_roofline_s", json_real(b->pred[1][j]));
            json_object_set_new(pt, "prefill_predicted_s", json_real(b->tm[0][j]));
            json_object_set_new(pt, "decode_predicted_s", json_real(b->tm[1][j]));
            json_object_set_new(pt, "decode_weight_bytes_model", json_real(b->wbytes_model[j]));
            json_object_set_new(pt, "decode_weight_bytes_fp32", json_real(b->wbytes_fp32[j]));
            json_object_set_new(pt, "decode_predicted_fp32_weights_s", json_real(b->pred_w32[j]));
        }
        json_object_set_new(t, "points", pts);
        json_array_append_new(types, t);
    }
    json_object_set_new(root, "types", types);
    json_t *msteps = json_array();
    for (int i = 0; i < NSTEP; i++)
        json_array_append_new(msteps, json_pack("{s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "spec", steps[i],
                                                "scale", (json_int_t)step_scale[i], "layers", (json_int_t)step_layers[i],
                                                "T", (json_int_t)Tstep, "prefill_measured_s", step_meas[i][0],
                                                "prefill_predicted_s", step_tm[i][0], "prefill_roofline_s", step_roof[i][0],
                                                "decode_measured_s", step_meas[i][1], "decode_predicted_s", step_tm[i][1],
                                                "decode_roofline_s", step_roof[i][1]));
    for (int i = 0; i < NSTEP; i++) {
        json_t *st = json_array_get(msteps, (size_t)i);
        json_object_set_new(st, "loadavg_after", json_real(step_load[i][0]));
        json_object_set_new(st, "prefill_runs", json_integer(step_runs[i][0]));
        json_object_set_new(st, "prefill_runs_quiet", json_integer(step_runs[i][1]));
    }
    json_object_set_new(root, "quiet_checks", json_pack("{s:i, s:i, s:f, s:f}", "checks", quiet_checks, "not_quiet", quiet_noisy,
                                                        "fastest_1thread_s", quiet_t1, "fastest_all_threads_s", quiet_tn));
    json_object_set_new(root, "model_steps", msteps);
    json_object_set_new(root, "time_model_within_20pct", json_pack("{s:i, s:i}", "met", tm_met, "of", tm_total));
    /* The other bench programs' figures (bench/cost.c, bench/sweep.c). */
    static const char *const frags[] = {"cost.json", "sweep.json"};
    for (int i = 0; i < 2; i++) {
        char fp[512];
        const char *dir = getenv("BENCH_OUT") ? getenv("BENCH_OUT") : "build/bench/out";
        snprintf(fp, sizeof fp, "%s/%s", dir, frags[i]);
        json_error_t je;
        json_t *fr = json_load_file(fp, 0, &je);
        if (fr) { json_object_update(root, fr); json_decref(fr); }
        else fprintf(stderr, "bench: %s: %s (run the whole `make bench`)\n", fp, je.text);
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_json);
    int rc = json_dump_file(root, tmp, JSON_INDENT(1)) || rename(tmp, out_json);
    json_decref(root);
    if (rc) { fprintf(stderr, "bench: cannot write %s\n", out_json); return 2; }
    printf("written: %s\n", out_json);
    free(flush_buf);
    return 0;
}
