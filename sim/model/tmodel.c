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

double tm_gemm_rate(const tm_curves *c, dtype dt, double M)
{
    for (int i = 0; i < 5; i++) {
        dtype d = tm_dtype_chain[dt][i];
        if (c->gemm_has[d]) return c->gemm_rate_max[d] * M / (M + c->gemm_m_half[d]);
    }
    return 0;
}

static double mem_time(const tm_curves *c, u64 bytes)
{
    double bw = tm_bandwidth(c, (double)bytes);
    return bytes == 0 ? 0 : bw > 0 ? (double)bytes / bw : NAN;
}

double tm_op_time(const tm_curves *c, const cost_op *op)
{
    double t;
    switch (op->kind) {
    case OP_GEMM: {
        double r = tm_gemm_rate(c, op->dt, (double)(op->M ? op->M : 1));
        double comp = r > 0 ? (double)op->flops / r : NAN, mem = mem_time(c, op->bytes);
        t = comp > mem ? comp : mem;   /* NAN compares false: a missing curve stays NAN below */
        if (isnan(comp) || isnan(mem)) t = NAN;
        break;
    }
    case OP_FLOPS: {
        double r = tm_gemm_rate(c, op->dt, (double)(op->M ? op->M : 1));
        double comp = r > 0 ? (double)op->flops / r : NAN, mem = mem_time(c, op->bytes);
        t = comp > mem ? comp : mem;
        if (isnan(comp) || isnan(mem)) t = NAN;
        break;
    }
    case OP_ELEM:
        t = c->elem_rate > 0 ? (double)op->flops / c->elem_rate : NAN;
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
    for (int d = 0; d < DT_COUNT; d++)
        if (c->gemm_has[d])
            fprintf(f, "    %s: {rate_max_gflops: %.6g, m_half: %.6g, rms_rel: %.4g}\n", dtype_table[d].name,
                    c->gemm_rate_max[d] / 1e9, c->gemm_m_half[d], c->gemm_rms[d]);
    fprintf(f, "  bandwidth:\n    ws_bytes: [");
    for (int i = 0; i < c->n_bw; i++) fprintf(f, "%s%.0f", i ? ", " : "", c->bw_ws[i]);
    fprintf(f, "]\n    gbs: [");
    for (int i = 0; i < c->n_bw; i++) fprintf(f, "%s%.6g", i ? ", " : "", c->bw_bs[i] / 1e9);
    fprintf(f, "]\n    loo_rms_rel: %.4g\n", c->bw_rms);
    fprintf(f, "  elementwise: {gflops: %.6g, fixed_us: %.6g, rms_rel: %.4g}\n", c->elem_rate / 1e9, c->elem_fixed_s * 1e6,
            c->elem_rms);
    fprintf(f, "  exp: {per_us: %.6g, rms_rel: %.4g}\n", c->exp_rate / 1e6, c->exp_rms);
    fprintf(f, "  gather: {ns_per_row: %.6g, rms_rel: %.4g}\n", c->gather_s_per_row * 1e9, c->gather_rms);
    fprintf(f, "  parallel_fixed_us: %.6g\n", c->fixed_s * 1e6);
}
