/* tmodel.c - the per-operation time model; see tmodel.h. */
#include "tmodel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const dtype tm_dtype_chain[DT_COUNT][5] = {
    [DT_FP32] = {DT_FP32},
    [DT_TF32] = {DT_TF32, DT_FP32},
    [DT_BF16] = {DT_BF16, DT_FP16, DT_FP32},
    [DT_FP16] = {DT_FP16, DT_BF16, DT_FP32},
    [DT_FP8_E4M3] = {DT_FP8_E4M3, DT_FP8_E5M2, DT_BF16, DT_FP16, DT_FP32},
    [DT_FP8_E5M2] = {DT_FP8_E5M2, DT_FP8_E4M3, DT_BF16, DT_FP16, DT_FP32},
    [DT_INT8] = {DT_INT8, DT_FP8_E4M3, DT_BF16, DT_FP16, DT_FP32},
    [DT_UE8M0] = {DT_FP32},
    [DT_FP4_E2M1] = {DT_FP4_E2M1, DT_FP8_E4M3, DT_BF16, DT_FP16, DT_FP32},
    [DT_INT4] = {DT_INT4, DT_INT8, DT_BF16, DT_FP16, DT_FP32},
};

double tm_bandwidth(const tm_curves *c, double ws)
{
    int n = c->n_bw;
    if (n == 0) return 0;
    if (ws <= c->bw_ws[0] || n == 1) return c->bw_bs[0];
    if (ws >= c->bw_ws[n - 1]) return c->bw_bs[n - 1];
    int k = 1;
    while (c->bw_ws[k] < ws) k++;
    double x0 = log(c->bw_ws[k - 1]), x1 = log(c->bw_ws[k]), f = (log(ws) - x0) / (x1 - x0);
    return c->bw_bs[k - 1] + f * (c->bw_bs[k] - c->bw_bs[k - 1]);
}

double tm_elem_rate(const tm_curves *c, double M)
{
    int n = c->n_el;
    if (n == 0 || !(M > 0) || M > c->el_M[n - 1]) return c->elem_rate;
    if (M <= c->el_M[0] || n == 1) return c->el_rate[0];
    if (M == c->el_M[n - 1]) return c->el_rate[n - 1];
    int k = 1;
    while (c->el_M[k] < M) k++;
    double x0 = log(c->el_M[k - 1]), x1 = log(c->el_M[k]), f = (log(M) - x0) / (x1 - x0);
    return c->el_rate[k - 1] + f * (c->el_rate[k] - c->el_rate[k - 1]);
}

double tm_gemm_rate(const tm_curves *c, dtype dt, double M)
{
    for (int i = 0; i < 5; i++) {
        dtype d = tm_dtype_chain[dt][i];
        if (c->gemm_has[d]) return c->gemm_rate_max[d] * M / (M + c->gemm_m_half[d]);
    }
    return 0;
}

/* Between two table points (a0, b0) and (a1, b1) at fraction f of the
 * (log) step: the fixed part linearly, the per-element part in log (linearly
 * when either is 0). */
static void gt_lerp(double f, double a0, double b0, double a1, double b1, double *fixed, double *elem)
{
    *fixed = a0 + f * (a1 - a0);
    *elem = b0 > 0 && b1 > 0 ? exp(log(b0) + f * (log(b1) - log(b0))) : b0 + f * (b1 - b0);
}

/* Slice k of dtype d's table at M rows: fixed seconds and seconds per
 * element, interpolated linearly in log M (per element: in log-log); past
 * the last point per element grows as M, before the first it stays. */
static void gt_at_m(const tm_curves *c, int d, int k, double M, double *fixed, double *elem)
{
    int n = c->gt_n[d];
    const double *x = c->gt_M[d], *a = c->gt_fixed[d][k], *b = c->gt_elem[d][k];
    if (M <= x[0] || n == 1) {
        *fixed = a[0];
        *elem = b[0] * (n == 1 && M > x[0] ? M / x[0] : 1);
        return;
    }
    if (M >= x[n - 1]) {
        *fixed = a[n - 1];
        *elem = b[n - 1] * M / x[n - 1];
        return;
    }
    int j = 1;
    while (x[j] < M) j++;
    double f = (log(M) - log(x[j - 1])) / (log(x[j]) - log(x[j - 1]));
    gt_lerp(f, a[j - 1], b[j - 1], a[j], b[j], fixed, elem);
}

/* The table at (S, M): between the slices around S, linearly in log S. */
static void gt_at(const tm_curves *c, int d, double S, double M, double *fixed, double *elem)
{
    int ns = c->gt_ns[d] ? c->gt_ns[d] : 1;
    const double *sv = c->gt_S[d];
    if (ns == 1 || !(S > 0) || S >= sv[ns - 1]) { gt_at_m(c, d, ns - 1, M, fixed, elem); return; }
    if (S <= sv[0]) { gt_at_m(c, d, 0, M, fixed, elem); return; }
    int k = 1;
    while (sv[k] < S) k++;
    double a0, b0, a1, b1, f = (log(S) - log(sv[k - 1])) / (log(sv[k]) - log(sv[k - 1]));
    gt_at_m(c, d, k - 1, M, &a0, &b0);
    gt_at_m(c, d, k, M, &a1, &b1);
    gt_lerp(f, a0, b0, a1, b1, fixed, elem);
}

/* The table at M for a product of short side S and dot length K: its
 * skinny points (M <= TM_SKINNY_M: one dot of K elements per output row)
 * at S = K, the others at S (see tm_gemm_time); between two points,
 * linearly in log M as gt_at_m. */
static void gt_at_k(const tm_curves *c, int d, double S, double K, double M, double *fixed, double *elem)
{
    int n = c->gt_n[d];
    const double *x = c->gt_M[d];
#define SK(m) ((m) <= TM_SKINNY_M && K > 0 ? K : S)
    if (n == 1 || M <= x[0]) { gt_at(c, d, SK(x[0]), M, fixed, elem); return; }
    if (M >= x[n - 1]) { gt_at(c, d, SK(x[n - 1]), M, fixed, elem); return; }
    int j = 1;
    while (x[j] < M) j++;
    double a0, b0, a1, b1, f = (log(M) - log(x[j - 1])) / (log(x[j]) - log(x[j - 1]));
    gt_at(c, d, SK(x[j - 1]), x[j - 1], &a0, &b0);
    gt_at(c, d, SK(x[j]), x[j], &a1, &b1);
#undef SK
    gt_lerp(f, a0, b0, a1, b1, fixed, elem);
}

double tm_gemm_time(const tm_curves *c, dtype dt, double M, double NK, double S, double K)
{
    if (M < 1) M = 1;
    for (int i = 0; i < 5; i++) {
        dtype d = tm_dtype_chain[dt][i];
        if (c->gt_n[d]) {
            double a, b;
            gt_at_k(c, d, S, K, M, &a, &b);
            return a + b * NK;
        }
    }
    double r = tm_gemm_rate(c, dt, M);
    return r > 0 ? 2 * M * NK / r : NAN;
}

static double mem_time(const tm_curves *c, u64 bytes)
{
    double bw = tm_bandwidth(c, (double)bytes);
    return bytes == 0 ? 0 : bw > 0 ? (double)bytes / bw : NAN;
}

const char *const tm_apre_key[3] = {[TM_ACAUSAL] = "attn_causal", [TM_AWINDOW] = "attn_window", [TM_AGATHER] = "attn_gather"};

double tm_op_time(const tm_curves *c, const cost_op *op)
{
    double t;
    switch (op->kind) {
    case OP_GEMM: {
        /* calls products of M rows, NK / calls weight elements each, the
         * weight held in its stored dtype. */
        double calls = (double)(op->calls ? op->calls : 1), M = (double)(op->M ? op->M : 1);
        double comp = calls * tm_gemm_time(c, op->wdt, M, (double)op->NK / calls, (double)op->S, (double)op->K),
               mem = mem_time(c, op->bytes);
        t = comp > mem ? comp : mem;   /* NAN compares false: a missing curve stays NAN below */
        if (isnan(comp) || isnan(mem)) t = NAN;
        break;
    }
    case OP_FLOPS: {
        /* Decode attention with a curve for its cache's dtype (along the
         * chain): elements decoded (the cache bytes it reads over the
         * dtype's bytes per element) and its FLOPs. */
        if (op->cat == FL_ATTN && op->decode) {
            int d = -1;
            for (int i = 0; i < 5 && d < 0; i++)
                if (c->attn_has[tm_dtype_chain[op->wdt][i]]) d = tm_dtype_chain[op->wdt][i];
            if (d >= 0) {
                double elems = (double)op->bytes * 8 / dtype_table[op->wdt].bits;
                t = c->attn_fixed[d] + c->attn_elem[d] * elems + c->attn_flop[d] * (double)op->flops;
                break;
            }
        }
        /* Prefill attention with its curve: the kernel's fixed part and its
         * FLOPs at the measured rate (top-k picked rows: the gather curve). */
        if (op->cat == FL_ATTN && !op->decode && c->apre_rate[op->akind] > 0) {
            t = (double)op->flops / c->apre_rate[op->akind];
            break;
        }
        /* A product without a stored weight (attention scores against the
         * cache, mHC's mixing, the indexer's scores): M rows against
         * flops / 2M operand elements, in the dtype the machine computes
         * them in (compute_dt: this CPU's kernels, fp32 through BLAS), else
         * the compute dtype; a model part's (the tied head's logits over
         * the stored embedding) in its compute dtype. */
        double M = (double)(op->M ? op->M : 1);
        bool cpu = op->layer >= 0 && c->compute_has && (c->gt_n[c->compute_dt] || c->gemm_has[c->compute_dt]);
        double comp = tm_gemm_time(c, cpu ? c->compute_dt : op->dt, M, (double)op->flops / (2 * M), 0, 0),
               mem = mem_time(c, op->bytes);
        t = comp > mem ? comp : mem;
        if (isnan(comp) || isnan(mem)) t = NAN;
        /* A sparse indexer's scores: then their weighting (ReLU, head
         * weight, sum: 3 per head and candidate, element-wise) and the top-k
         * selection of each query. */
        if (op->cand && c->select_rate > 0 && c->elem_rate > 0)
            t += (double)op->queries * c->select_fixed_s + (double)op->cand / c->select_rate +
                 3.0 * (double)op->heads * (double)op->cand / c->elem_rate;
        /* A decode's indexer decodes every candidate's stored key row first
         * (the kernels' ref_kv_read_rows): the attn_decode curve's
         * per-element part for the keys' dtype, the same row decoder. */
        if (op->cand && op->decode && op->width)
            for (int i = 0; i < 5; i++) {
                int d = tm_dtype_chain[op->wdt][i];
                if (c->attn_has[d]) { t += c->attn_elem[d] * (double)op->cand * (double)op->width; break; }
            }
        break;
    }
    case OP_ELEM:
        if (op->fused) {   /* in the attention kernel its curve timed */
            bool covered = op->decode ? false : c->apre_rate[op->akind] > 0;
            for (int d = 0; d < DT_COUNT && op->decode && !covered; d++) covered = c->attn_has[d];
            if (covered) return 0;
        }
        /* mHC's Sinkhorn and stream mixes (FL_MHC: a token's S x S and
         * S x d, from the caches) at their own rate when measured, the
         * rest (norms, RoPE, activations, adds) at the element-wise rate
         * over the operation's tokens (a decode's from L1, a long
         * prefill's from memory). */
        if (op->cat == FL_MHC && c->mix_rate > 0) t = (double)op->flops / c->mix_rate;
        else {
            double r = tm_elem_rate(c, (double)op->M);
            t = r > 0 ? (double)op->flops / r : NAN;
        }
        break;
    default:
        t = mem_time(c, op->bytes);
        break;
    }
    return t + c->fixed_s;
}

double tm_predict(const tm_curves *c, const cost_ops *ops, bool (*keep)(int layer, void *arg), void *arg)
{
    double s = 0;
    for (int i = 0; i < ops->n; i++) {
        const cost_op *op = &ops->op[i];
        if (keep && (op->layer < 0 || !keep(op->layer, arg))) continue;
        s += tm_op_time(c, op) * (op->layer >= 0 ? ops->uses[op->layer] : 1);
    }
    return s;
}

static void row_add(tm_row *w, const cost_op *op, double t, double fixed, double k)
{
    w->kind_s[op->kind] += (t - fixed) * k;
    w->fixed_s += fixed * k;
    w->time_s += t * k;
    w->ops += (u64)k;
}

int tm_rows(const tm_curves *c, const cost_ops *ops, const cost_result *r, tm_row *types, tm_row *layers, tm_row *total,
            sim_err *e)
{
    if (ops->nomem) return sim_fail(e, SIM_ENOMEM, "out of memory (the operation list is incomplete)");
    int nl = r->n_layers;
    tm_row *own = calloc(nl > 0 ? (size_t)nl : 1, sizeof *own);   /* each recorded layer, once */
    if (!own) return sim_fail(e, SIM_ENOMEM, "out of memory");
    memset(types, 0, (size_t)r->n_types * sizeof *types);
    memset(total, 0, sizeof *total);
    for (int i = 0; i < ops->n; i++) {
        const cost_op *op = &ops->op[i];
        double t = tm_op_time(c, op);
        if (isnan(t)) {
            free(own);
            return sim_fail(e, SIM_EINVAL, "the profile's curves cannot price a %s operation in %s (no gemm curve for it, "
                            "or no bandwidth points)", op_kind_name[op->kind], dtype_table[op->dt].name);
        }
        if (op->layer >= 0 && op->layer < nl) row_add(&own[op->layer], op, t, c->fixed_s, 1);
        else {
            if (op->row >= 0 && op->row < r->n_types) row_add(&types[op->row], op, t, c->fixed_s, 1);
            row_add(total, op, t, c->fixed_s, 1);
        }
    }
    for (int i = 0; i < nl; i++) {
        const tm_row *s = &own[ops->root[i]];
        tm_row *dst[3] = {layers ? &layers[i] : NULL, &types[ops->lrow[i]], total};
        if (layers) memset(&layers[i], 0, sizeof layers[i]);
        for (int k = 0; k < 3; k++) {
            if (!dst[k]) continue;
            for (int j = 0; j < OP_KIND_COUNT; j++) dst[k]->kind_s[j] += s->kind_s[j];
            dst[k]->fixed_s += s->fixed_s;
            dst[k]->time_s += s->time_s;
            dst[k]->ops += s->ops;
        }
    }
    free(own);
    return SIM_OK;
}

void tm_write_yaml(FILE *f, const tm_curves *c)
{
    fprintf(f, "curves:\n  gemm:\n");
    for (int d = 0; d < DT_COUNT; d++) {
        if (!c->gemm_has[d] && !c->gt_n[d]) continue;
        fprintf(f, "    %s: {", dtype_table[d].name);
        if (c->gemm_has[d])
            fprintf(f, "rate_max_gflops: %.6g, m_half: %.6g, rms_rel: %.4g%s", c->gemm_rate_max[d] / 1e9, c->gemm_m_half[d],
                    c->gemm_rms[d], c->gt_n[d] ? ",\n      " : "");
        if (c->gt_n[d]) {
            /* m, s (the short sides), then per short side a list over m. */
            fprintf(f, "m: [");
            for (int i = 0; i < c->gt_n[d]; i++) fprintf(f, "%s%.6g", i ? ", " : "", c->gt_M[d][i]);
            fprintf(f, "],\n      s: [");
            for (int k = 0; k < c->gt_ns[d]; k++) fprintf(f, "%s%.6g", k ? ", " : "", c->gt_S[d][k]);
            fprintf(f, "],\n");
            for (int q = 0; q < 2; q++) {
                fprintf(f, "      %s: [", q ? "ns_per_elem" : "fixed_us");
                for (int k = 0; k < c->gt_ns[d]; k++) {
                    fprintf(f, "%s[", k ? ",\n        " : "");
                    for (int i = 0; i < c->gt_n[d]; i++)
                        fprintf(f, "%s%.6g", i ? ", " : "", q ? c->gt_elem[d][k][i] * 1e9 : c->gt_fixed[d][k][i] * 1e6);
                    fprintf(f, "]");
                }
                fprintf(f, "],\n");
            }
            fprintf(f, "      ");
            fprintf(f, "table_rms_rel: %.4g", c->gt_rms[d]);
        }
        fprintf(f, "}\n");
    }
    fprintf(f, "  bandwidth:\n    ws_bytes: [");
    for (int i = 0; i < c->n_bw; i++) fprintf(f, "%s%.0f", i ? ", " : "", c->bw_ws[i]);
    fprintf(f, "]\n    gbs: [");
    for (int i = 0; i < c->n_bw; i++) fprintf(f, "%s%.6g", i ? ", " : "", c->bw_bs[i] / 1e9);
    fprintf(f, "]\n    loo_rms_rel: %.4g\n", c->bw_rms);
    for (int d = 0, first = 1; d < DT_COUNT; d++) {
        if (!c->attn_has[d]) continue;
        if (first) fprintf(f, "  attn_decode:\n");
        first = 0;
        fprintf(f, "    %s: {fixed_us: %.6g, ns_per_elem: %.6g, gflops: %.6g, rms_rel: %.4g}\n", dtype_table[d].name,
                c->attn_fixed[d] * 1e6, c->attn_elem[d] * 1e9, c->attn_flop[d] > 0 ? 1e-9 / c->attn_flop[d] : 0, c->attn_rms[d]);
    }
    /* The optional curves only when measured (a zero rate does not load). */
    static const char *const ename[2] = {"elementwise", "elementwise_mix"};
    const double ev[2][3] = {{c->elem_rate, c->elem_fixed_s, c->elem_rms}, {c->mix_rate, c->mix_fixed_s, c->mix_rms}};
    for (int k = 0; k < 2; k++)
        if (ev[k][0] > 0) {
            fprintf(f, "  %s: {gflops: %.6g, fixed_us: %.6g, rms_rel: %.4g", ename[k], ev[k][0] / 1e9, ev[k][1] * 1e6, ev[k][2]);
            if (k == 0 && c->n_el) {
                fprintf(f, ",\n    tokens: [");
                for (int i = 0; i < c->n_el; i++) fprintf(f, "%s%.0f", i ? ", " : "", c->el_M[i]);
                fprintf(f, "], tokens_gflops: [");
                for (int i = 0; i < c->n_el; i++) fprintf(f, "%s%.6g", i ? ", " : "", c->el_rate[i] / 1e9);
                fprintf(f, "]");
            }
            fprintf(f, "}\n");
        }
    if (c->exp_rate > 0) fprintf(f, "  exp: {per_us: %.6g, rms_rel: %.4g}\n", c->exp_rate / 1e6, c->exp_rms);
    if (c->gather_s_per_row > 0) fprintf(f, "  gather: {ns_per_row: %.6g, rms_rel: %.4g}\n", c->gather_s_per_row * 1e9, c->gather_rms);
    if (c->select_rate > 0)
        fprintf(f, "  select: {fixed_us: %.6g, per_us: %.6g, rms_rel: %.4g}\n", c->select_fixed_s * 1e6, c->select_rate / 1e6,
                c->select_rms);
    for (int g = 0; g < 3; g++)
        if (c->apre_rate[g] > 0)
            fprintf(f, "  %s: {gflops: %.6g, rms_rel: %.4g}\n", tm_apre_key[g], c->apre_rate[g] / 1e9, c->apre_rms[g]);
    if (c->compute_has) fprintf(f, "  compute_dtype: %s\n", dtype_table[c->compute_dt].name);
    fprintf(f, "  parallel_fixed_us: %.6g\n", c->fixed_s * 1e6);
}
