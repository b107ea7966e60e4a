/* output.c - see output.h. */
#include "output.h"
#include "units.h"
#include "layer.h"
#include <string.h>

static const char *phase_name(phase p) { return p == PH_PREFILL ? "prefill" : "decode"; }

u64 out_params_effective(const model_spec *m, const cost_result *r)
{
    /* The model-level row of a per-layer-embedding component (its table). */
    for (int k = 0; m->ple.type && k < r->n_types; k++)
        if (!strcmp(r->type[k].name, m->ple.type->name)) return r->total.params - r->type[k].c.params_embed;
    return r->total.params;
}

void out_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void ratio_str(u64 a, u64 b, char *buf, size_t len)
{
    if (b == 0) snprintf(buf, len, "%s", a == 0 ? "1" : "inf");
    else snprintf(buf, len, "%.4f", (double)a / (double)b);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_cost_fields(FILE *f, const cost_t *c)
{
    char fp8[32];
    cost_fp8eq_str(c, fp8, sizeof fp8);
    fprintf(f, "\"kv_bytes\": %llu, \"flops\": %llu, \"flops_fp8_equiv\": %s, \"bytes_moved\": %llu, "
            "\"weight_read_bytes\": %llu, \"kv_read_bytes\": %llu, \"kv_written_bytes\": %llu, \"act_bytes\": %llu, "
            "\"params\": %llu, \"params_active\": %llu, \"weight_bytes\": %llu, \"flops_by_category\": {",
            (unsigned long long)c->kv_bytes, (unsigned long long)cost_flops(c), fp8,
            (unsigned long long)cost_bytes_moved(c), (unsigned long long)c->weight_read_bytes,
            (unsigned long long)c->kv_read_bytes, (unsigned long long)c->kv_written_bytes,
            (unsigned long long)c->act_bytes, (unsigned long long)c->params, (unsigned long long)c->params_active,
            (unsigned long long)c->weight_bytes);
    for (int k = 0; k < FL_COUNT; k++)
        fprintf(f, "%s\"%s\": %llu", k ? ", " : "", flop_cat_name[k], (unsigned long long)c->flops[k]);
    fputs("}", f);
}

static void json_one(FILE *f, const out_item *it, const cost_query *q, bool by_layer, const out_item *base)
{
    const model_spec *m = it->m;
    const cost_result *r = it->r;
    fputs("{\"arch\": ", f);
    out_json_str(f, m->name);
    fputs(", \"spec\": ", f);
    out_json_str(f, m->path);
    fprintf(f, ", \"ctx\": %llu, \"phase\": \"%s\", \"batch\": %llu, \"noncausal\": %s, \"mtp\": %llu, \"total\": {",
            (unsigned long long)q->T, phase_name(q->phase), (unsigned long long)q->B, q->noncausal ? "true" : "false",
            (unsigned long long)q->mtp);
    json_cost_fields(f, &r->total);
    fprintf(f, "}, \"params\": {\"total\": %llu, \"active\": %llu, \"effective\": %llu, \"non_embedding\": %llu}",
            (unsigned long long)r->total.params, (unsigned long long)r->total.params_active,
            (unsigned long long)out_params_effective(m, r),
            (unsigned long long)(r->total.params - r->total.params_embed));
    fputs(", \"by_type\": [", f);
    for (int k = 0; k < r->n_types; k++) {
        fputs(k ? ", {\"type\": " : "{\"type\": ", f);
        out_json_str(f, r->type[k].name);
        fprintf(f, ", \"layers\": %d, ", r->type[k].layers);
        json_cost_fields(f, &r->type[k].c);
        fputs("}", f);
    }
    fputs("]", f);
    if (by_layer) {
        fputs(", \"by_layer\": [", f);
        for (int i = 0; i < r->n_layers; i++) {
            char tn[48];
            spec_layer_type_name(m, i, tn, sizeof tn);
            fprintf(f, "%s{\"layer\": %d, \"type\": ", i ? ", " : "", i);
            out_json_str(f, tn);
            fputs(", ", f);
            json_cost_fields(f, &r->layer[i]);
            fputs("}", f);
        }
        fputs("]", f);
    }
    if (it->hw) {
        roofline rl;
        hw_roofline(it->hw, &r->total, &rl);
        fputs(", \"hw\": {\"name\": ", f);
        out_json_str(f, it->hw->name);
        fprintf(f, ", \"memory_bytes\": %.0f, \"bandwidth_bytes_per_s\": %.0f, \"fit_ctx\": %llu}, \"roofline\": {\"total\": ",
                it->hw->memory_bytes, it->hw->bandwidth, (unsigned long long)it->fit_ctx);
        fprintf(f, "{\"compute_s\": %.9g, \"memory_s\": %.9g, \"time_s\": %.9g, \"intensity_flop_per_byte\": %.6g, \"bound\": \"%s\"}",
                rl.compute_s, rl.memory_s, rl.time_s, rl.intensity, rl.memory_bound ? "memory" : "compute");
        fputs(", \"by_type\": [", f);
        for (int k = 0; k < r->n_types; k++) {
            hw_roofline(it->hw, &r->type[k].c, &rl);
            fputs(k ? ", {\"type\": " : "{\"type\": ", f);
            out_json_str(f, r->type[k].name);
            fprintf(f, ", \"compute_s\": %.9g, \"memory_s\": %.9g, \"time_s\": %.9g, \"intensity_flop_per_byte\": %.6g, \"bound\": \"%s\"}",
                    rl.compute_s, rl.memory_s, rl.time_s, rl.intensity, rl.memory_bound ? "memory" : "compute");
        }
        fputs("]}", f);
    }
    if (base) {
        char a[32], b[32], c[32];
        const cost_t *x = &r->total, *y = &base->r->total;
        ratio_str(x->kv_bytes, y->kv_bytes, a, sizeof a);
        ratio_str(cost_flops(x), cost_flops(y), b, sizeof b);
        ratio_str(x->flops_fp8eq_x2, y->flops_fp8eq_x2, c, sizeof c);
        fprintf(f, ", \"ratio\": {\"kv_bytes\": %s, \"flops\": %s, \"flops_fp8_equiv\": %s}", a, b, c);
    }
    fputs("}", f);
}

/* ---- CSV ------------------------------------------------------------------ */

static void csv_header(FILE *f)
{
    fputs("arch,ctx,phase,batch,row,layers,kv_bytes,flops,flops_fp8_equiv,bytes_moved,weight_read_bytes,"
          "kv_read_bytes,kv_written_bytes,act_bytes,params,params_active", f);
    for (int k = 0; k < FL_COUNT; k++) fprintf(f, ",flops_%s", flop_cat_name[k]);
    fputc('\n', f);
}

static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const model_spec *m, const cost_query *q, const char *row, int layers, const cost_t *c)
{
    char fp8[32];
    cost_fp8eq_str(c, fp8, sizeof fp8);
    csv_field(f, m->name);
    fprintf(f, ",%llu,%s,%llu,", (unsigned long long)q->T, phase_name(q->phase), (unsigned long long)q->B);
    csv_field(f, row);
    fprintf(f, ",%d,%llu,%llu,%s,%llu,%llu,%llu,%llu,%llu,%llu,%llu", layers, (unsigned long long)c->kv_bytes,
            (unsigned long long)cost_flops(c), fp8, (unsigned long long)cost_bytes_moved(c),
            (unsigned long long)c->weight_read_bytes, (unsigned long long)c->kv_read_bytes,
            (unsigned long long)c->kv_written_bytes, (unsigned long long)c->act_bytes,
            (unsigned long long)c->params, (unsigned long long)c->params_active);
    for (int k = 0; k < FL_COUNT; k++) fprintf(f, ",%llu", (unsigned long long)c->flops[k]);
    fputc('\n', f);
}

static void csv_one(FILE *f, const out_item *it, const cost_query *q, bool by_layer)
{
    const cost_result *r = it->r;
    if (by_layer)
        for (int i = 0; i < r->n_layers; i++) {
            char tn[64], nm[96];
            spec_layer_type_name(it->m, i, tn, sizeof tn);
            snprintf(nm, sizeof nm, "layer %d (%s)", i, tn);
            csv_row(f, it->m, q, nm, 1, &r->layer[i]);
        }
    for (int k = 0; k < r->n_types; k++) csv_row(f, it->m, q, r->type[k].name, r->type[k].layers, &r->type[k].c);
    csv_row(f, it->m, q, "total", r->n_layers, &r->total);
}

/* ---- tables ---------------------------------------------------------------- */

static void table_row(FILE *f, const char *name, int layers, const cost_t *c)
{
    char kv[48], fl[32], fp[32], bm[48], pa[32];
    units_bytes(c->kv_bytes, kv, sizeof kv);
    units_flops(cost_flops(c), fl, sizeof fl);
    units_flops(c->flops_fp8eq_x2 / 2, fp, sizeof fp);
    units_bytes(cost_bytes_moved(c), bm, sizeof bm);
    units_count(c->params, pa, sizeof pa);
    char ly[16] = "";
    if (layers > 0) snprintf(ly, sizeof ly, "%d", layers);
    else if (layers == 0) snprintf(ly, sizeof ly, "-");
    fprintf(f, "  %-16s %6s  %-28s %-15s %-15s %-28s %s\n", name, ly, kv, fl, fp, bm, pa);
}

static void table_head(FILE *f, const out_item *it, const cost_query *q)
{
    char ctx[32];
    units_commas(q->T, ctx, sizeof ctx);
    fprintf(f, "%s  (%s)\n", it->m->name, it->m->path);
    fprintf(f, "  ctx %s tokens, %s%s, batch %llu\n", ctx, phase_name(q->phase),
            q->noncausal ? " (non-causal)" : "", (unsigned long long)q->B);
}

static void secs(double s, char *buf, size_t len)
{
    if (s >= 1) snprintf(buf, len, "%.3f s", s);
    else if (s >= 1e-3) snprintf(buf, len, "%.3f ms", s * 1e3);
    else snprintf(buf, len, "%.3f us", s * 1e6);
}

static void roof_row(FILE *f, const char *name, const hw_profile *hw, const cost_t *c)
{
    roofline rl;
    char a[32], b[32], t[32];
    hw_roofline(hw, c, &rl);
    secs(rl.compute_s, a, sizeof a);
    secs(rl.memory_s, b, sizeof b);
    secs(rl.time_s, t, sizeof t);
    fprintf(f, "  %-16s %12s %12s %12s %12.2f  %s\n", name, a, b, t, rl.intensity, rl.memory_bound ? "memory" : "compute");
}

/* --hw: roofline time per layer type, the bound, and what fits in memory. */
static void table_roofline(FILE *f, const out_item *it)
{
    const hw_profile *hw = it->hw;
    char mem[48];
    units_bytes((u64)hw->memory_bytes, mem, sizeof mem);
    fprintf(f, "\n  roofline on %s (%s, %.0f GB/s; FP8 %.0f, BF16 %.0f, FP32 %.1f TFLOP/s after fallbacks):\n", hw->name,
            mem, hw->bandwidth / 1e9, hw_peak(hw, DT_FP8_E4M3) / 1e12, hw_peak(hw, DT_BF16) / 1e12, hw_peak(hw, DT_FP32) / 1e12);
    fprintf(f, "  %-16s %12s %12s %12s %12s  %s\n", "type", "compute", "memory", "time", "FLOP/byte", "bound");
    for (int k = 0; k < it->r->n_types; k++) roof_row(f, it->r->type[k].name, hw, &it->r->type[k].c);
    roof_row(f, "total", hw, &it->r->total);
    char fc[32], w[48];
    units_commas(it->fit_ctx, fc, sizeof fc);
    units_bytes(it->r->total.weight_bytes, w, sizeof w);
    if (it->fit_ctx) fprintf(f, "  longest context that fits %s after the weights (%s), this batch: %s tokens\n", mem, w, fc);
    else fprintf(f, "  the weights alone (%s) do not fit in %s\n", w, mem);
}

static void table_one(FILE *f, const out_item *it, const cost_query *q, bool by_layer)
{
    const cost_result *r = it->r;
    table_head(f, it, q);
    fprintf(f, "  %-16s %6s  %-28s %-15s %-15s %-28s %s\n", "type", "layers", "KV cache", "FLOPs",
            "FP8-eq FLOPs", "bytes moved", "params");
    if (by_layer)
        for (int i = 0; i < r->n_layers; i++) {
            char tn[48], nm[64];
            spec_layer_type_name(it->m, i, tn, sizeof tn);
            snprintf(nm, sizeof nm, "%d %s", i, tn);
            table_row(f, nm, -1, &r->layer[i]);
        }
    for (int k = 0; k < r->n_types; k++) table_row(f, r->type[k].name, r->type[k].layers, &r->type[k].c);
    table_row(f, "total", r->n_layers, &r->total);
    char a[32], b[32], c[32], d[32];
    units_count(r->total.params, a, sizeof a);
    units_count(r->total.params_active, b, sizeof b);
    units_count(out_params_effective(it->m, r), c, sizeof c);
    units_count(r->total.params - r->total.params_embed, d, sizeof d);
    fprintf(f, "  params: %s total, %s active per token, %s effective (no PLE tables), %s without embedding tables\n",
            a, b, c, d);
    fputs("  FLOPs by category:", f);
    for (int k = 0; k < FL_COUNT; k++) {
        char x[32];
        units_flops(r->total.flops[k], x, sizeof x);
        fprintf(f, " %s %s%s", flop_cat_name[k], x, k + 1 < FL_COUNT ? "," : "\n");
    }
    char w[48], kr[48], kw[48], ac[48];
    units_bytes(r->total.weight_read_bytes, w, sizeof w);
    units_bytes(r->total.kv_read_bytes, kr, sizeof kr);
    units_bytes(r->total.kv_written_bytes, kw, sizeof kw);
    units_bytes(r->total.act_bytes, ac, sizeof ac);
    fprintf(f, "  bytes moved: weights %s, KV read %s, KV written %s, activations %s\n", w, kr, kw, ac);
    char ws[48];
    units_bytes(r->total.weight_bytes, ws, sizeof ws);
    fprintf(f, "  weights stored: %s\n", ws);
    if (it->hw) table_roofline(f, it);
}

void out_cost(FILE *f, const out_item *it, const cost_query *q, out_format of, bool by_layer)
{
    if (of == OUT_JSON) { json_one(f, it, q, by_layer, NULL); fputc('\n', f); }
    else if (of == OUT_CSV) { csv_header(f); csv_one(f, it, q, by_layer); }
    else table_one(f, it, q, by_layer);
}

void out_compare(FILE *f, const out_item *it, int n, const cost_query *q, out_format of, bool by_layer)
{
    if (of == OUT_JSON) {
        fputs("{\"archs\": [", f);
        for (int i = 0; i < n; i++) {
            if (i) fputs(", ", f);
            json_one(f, &it[i], q, by_layer, &it[0]);
        }
        fputs("]}\n", f);
        return;
    }
    if (of == OUT_CSV) {
        csv_header(f);
        for (int i = 0; i < n; i++) csv_one(f, &it[i], q, by_layer);
        return;
    }
    char ctx[32];
    units_commas(q->T, ctx, sizeof ctx);
    fprintf(f, "compare at ctx %s tokens, %s%s, batch %llu (ratios against %s)\n", ctx, phase_name(q->phase),
            q->noncausal ? " (non-causal)" : "", (unsigned long long)q->B, it[0].m->name);
    fprintf(f, "  %-22s %-28s %8s  %-15s %8s  %-15s %8s  %-10s %s\n", "arch", "KV cache", "x first", "FLOPs", "x first",
            "FP8-eq FLOPs", "x first", "params", "active");
    for (int i = 0; i < n; i++) {
        const cost_t *x = &it[i].r->total, *y = &it[0].r->total;
        char kv[48], fl[32], fp[32], rk[32], rf[32], rp[32], pa[32], ac[32];
        units_bytes(x->kv_bytes, kv, sizeof kv);
        units_flops(cost_flops(x), fl, sizeof fl);
        units_flops(x->flops_fp8eq_x2 / 2, fp, sizeof fp);
        ratio_str(x->kv_bytes, y->kv_bytes, rk, sizeof rk);
        ratio_str(cost_flops(x), cost_flops(y), rf, sizeof rf);
        ratio_str(x->flops_fp8eq_x2, y->flops_fp8eq_x2, rp, sizeof rp);
        units_count(x->params, pa, sizeof pa);
        units_count(x->params_active, ac, sizeof ac);
        fprintf(f, "  %-22s %-28s %8s  %-15s %8s  %-15s %8s  %-10s %s\n", it[i].m->name, kv, rk, fl, rf, fp, rp, pa, ac);
    }
    fputs("\n  KV cache by layer type:\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "  %s:", it[i].m->name);
        for (int k = 0; k < it[i].r->n_types; k++) {
            if (!it[i].r->type[k].layers) continue;
            char kv[48];
            units_bytes(it[i].r->type[k].c.kv_bytes, kv, sizeof kv);
            fprintf(f, " %s x%d %s;", it[i].r->type[k].name, it[i].r->type[k].layers, kv);
        }
        fputc('\n', f);
    }
    if (by_layer)
        for (int i = 0; i < n; i++) { fputc('\n', f); table_one(f, &it[i], q, true); }
}
