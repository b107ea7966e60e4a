/* output.c - see output.h. */
#include "output.h"
#include "units.h"
#include "layer.h"
#include "cli.h"
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

static void ratio_str(double a, double b, char *buf, size_t len)
{
    if (b == 0) snprintf(buf, len, "%s", a == 0 ? "1" : "inf");
    else snprintf(buf, len, "%.4f", (double)a / (double)b);
}

/* The rows of one item: per layer (with --by layer), per type, the total.
 * Every form walks the same rows, so each carries the same information. */
typedef struct {
    const char *name;
    int layers;            /* -1: a single layer's row */
    const cost_t *c;
    const tm_row *tm;      /* the time model's row (item->tm), else NULL */
} row;

static int rows_of(const out_item *it, bool by_layer, row *out, char (*names)[80])
{
    const cost_result *r = it->r;
    int n = 0;
    if (by_layer)
        for (int i = 0; i < r->n_layers; i++) {
            char tn[48];
            spec_layer_type_name(it->m, i, tn, sizeof tn);
            snprintf(names[i], 80, "layer %d (%s)", i, tn);
            out[n++] = (row){names[i], -1, &r->layer[i], it->tm && it->tm->layers ? &it->tm->layers[i] : NULL};
        }
    for (int k = 0; k < r->n_types; k++)
        out[n++] = (row){r->type[k].name, r->type[k].layers, &r->type[k].c, it->tm ? &it->tm->types[k] : NULL};
    out[n++] = (row){"total", r->n_layers, &r->total, it->tm ? &it->tm->total : NULL};
    return n;
}

/* Row storage: every layer, every type, the total. */
#define MAX_ROWS (SPEC_MAX_LAYERS + SPEC_MAX_KINDS * 2 + 5)
static row g_rows[MAX_ROWS];
static char g_names[SPEC_MAX_LAYERS][80];

/* ---- JSON ---------------------------------------------------------------- */

static void json_settings(FILE *f, const out_settings *st)
{
    fprintf(f, "\"settings\": {\"kvsim_version\": \"%s\", \"ctx\": %llu, \"phase\": \"%s\", \"batch\": %llu, "
            "\"noncausal\": %s, \"page\": %llu, \"by\": \"%s\", \"set\": [", KVSIM_VERSION,
            (unsigned long long)st->q.T, phase_name(st->q.phase), (unsigned long long)st->q.B,
            st->q.noncausal ? "true" : "false", (unsigned long long)(st->q.page > 1 ? st->q.page : 0),
            st->by_layer ? "layer" : "type");
    for (int i = 0; i < st->n_sets; i++) {
        if (i) fputs(", ", f);
        out_json_str(f, st->sets[i]);
    }
    fputs("], \"hw\": ", f);
    if (st->hw) out_json_str(f, st->hw);
    else fputs("null", f);
    fputs(", \"hw_profile\": ", f);
    if (st->hw && st->hw_path) out_json_str(f, st->hw_path);
    else fputs("null", f);
    if (st->mla_form) {   /* only when given: each kind's own mla_form otherwise (in the spec) */
        fputs(", \"mla_form\": ", f);
        out_json_str(f, st->mla_form);
    }
    fputs(", \"time\": ", f);
    if (st->time) out_json_str(f, st->time);
    else fputs("null", f);
    fputs(", \"time_chosen_by\": ", f);
    if (st->time) out_json_str(f, st->time_why);
    else fputs("null", f);
    fputs("}", f);
}

/* ---- predicted time (--hw): the time model's or the roofline's ---------------- */

/* The predicted seconds of a row: the time model's when it is used, else the roofline's. */
static double row_time(const out_item *it, const tm_row *tr, const cost_t *c)
{
    if (it->tm) return tr->time_s;
    roofline rl;
    hw_roofline(it->hw, c, &rl);
    return rl.time_s;
}

static const char *const tm_kind_key[OP_KIND_COUNT] = {"gemm_s", "flops_s", "elementwise_s", "weights_s", "traffic_s"};
_Static_assert(OP_KIND_COUNT == 5, "tm_kind_key names every operation kind");

/* `"time_s": t` and, with the time model, its split by operation kind. */
static void json_time_fields(FILE *f, const out_item *it, const tm_row *tr, const cost_t *c)
{
    fprintf(f, "\"time_s\": %.9g", row_time(it, tr, c));
    if (!it->tm) return;
    for (int k = 0; k < OP_KIND_COUNT; k++) fprintf(f, ", \"%s\": %.9g", tm_kind_key[k], tr->kind_s[k]);
    fprintf(f, ", \"fixed_s\": %.9g, \"ops\": %llu", tr->fixed_s, (unsigned long long)tr->ops);
}

/* `, "time": {"model", "chosen_by", "profile", "profile_file", "unit",
 * "total": {...}, "by_type": [...], "by_layer": [...]}` */
static void json_time(FILE *f, const out_item *it, const out_settings *st)
{
    static const tm_row none;
    const cost_result *r = it->r;
    fputs(", \"time\": {\"model\": ", f);
    out_json_str(f, it->tm ? "model" : "roofline");
    fputs(", \"chosen_by\": ", f);
    out_json_str(f, st->time_why ? st->time_why : "");
    fputs(", \"profile\": ", f);
    out_json_str(f, it->hw->name);
    fputs(", \"profile_file\": ", f);
    out_json_str(f, it->hw->path);
    fputs(", \"unit\": \"s\", \"total\": {", f);
    json_time_fields(f, it, it->tm ? &it->tm->total : &none, &r->total);
    fputs("}, \"by_type\": [", f);
    for (int k = 0; k < r->n_types; k++) {
        fputs(k ? ", {\"type\": " : "{\"type\": ", f);
        out_json_str(f, r->type[k].name);
        fputs(", ", f);
        json_time_fields(f, it, it->tm ? &it->tm->types[k] : &none, &r->type[k].c);
        fputs("}", f);
    }
    fputs("]", f);
    if (st->by_layer) {
        char tn[48];
        fputs(", \"by_layer\": [", f);
        for (int i = 0; i < r->n_layers; i++) {
            spec_layer_type_name(it->m, i, tn, sizeof tn);
            fprintf(f, "%s{\"layer\": %d, \"type\": ", i ? ", " : "", i);
            out_json_str(f, tn);
            fputs(", ", f);
            json_time_fields(f, it, it->tm && it->tm->layers ? &it->tm->layers[i] : &none, &r->layer[i]);
            fputs("}", f);
        }
        fputs("]", f);
    }
    fputs("}", f);
}

static void json_cost_fields(FILE *f, const cost_t *c)
{
    char fp8[48];
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

static void json_roof(FILE *f, const hw_profile *hw, const cost_t *c)
{
    roofline rl;
    hw_roofline(hw, c, &rl);
    fprintf(f, "\"compute_s\": %.9g, \"memory_s\": %.9g, \"time_s\": %.9g, \"intensity_flop_per_byte\": %.6g, \"bound\": \"%s\"}",
            rl.compute_s, rl.memory_s, rl.time_s, rl.intensity, rl.memory_bound ? "memory" : "compute");
}

/* The rest of a row object after its name: cost fields, or (with hw) the
 * roofline; ends the object. */
typedef void (*json_row_fn)(FILE *f, const hw_profile *hw, const cost_t *c);

static void json_cost_row(FILE *f, const hw_profile *hw, const cost_t *c)
{
    (void)hw;
    json_cost_fields(f, c);
    fputs("}", f);
}

/* `, "by_layer": [{"layer": i, "type": T, ...row...}, ...]` */
static void json_by_layer(FILE *f, const model_spec *m, const cost_result *r, const hw_profile *hw, json_row_fn row_fn)
{
    char tn[48];
    fputs(", \"by_layer\": [", f);
    for (int i = 0; i < r->n_layers; i++) {
        spec_layer_type_name(m, i, tn, sizeof tn);
        fprintf(f, "%s{\"layer\": %d, \"type\": ", i ? ", " : "", i);
        out_json_str(f, tn);
        fputs(", ", f);
        row_fn(f, hw, &r->layer[i]);
    }
    fputs("]", f);
}

/* One arch as a JSON object; with_settings puts "settings" first (cost). */
static void json_one(FILE *f, const out_item *it, const out_settings *st, const out_item *base, bool with_settings)
{
    const model_spec *m = it->m;
    const cost_result *r = it->r;
    const cost_query *q = &st->q;
    fputs("{", f);
    if (with_settings) {
        json_settings(f, st);
        fputs(", ", f);
    }
    fputs("\"arch\": ", f);
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
    if (st->by_layer) json_by_layer(f, m, r, NULL, json_cost_row);
    if (it->hw) {
        fputs(", \"hw\": {\"name\": ", f);
        out_json_str(f, it->hw->name);
        fprintf(f, ", \"memory_bytes\": %.0f, \"bandwidth_bytes_per_s\": %.0f, \"fit_ctx\": %llu}, \"roofline\": {\"total\": {",
                it->hw->memory_bytes, it->hw->bandwidth, (unsigned long long)it->fit_ctx);
        json_roof(f, it->hw, &r->total);
        fputs(", \"by_type\": [", f);
        for (int k = 0; k < r->n_types; k++) {
            fputs(k ? ", {\"type\": " : "{\"type\": ", f);
            out_json_str(f, r->type[k].name);
            fputs(", ", f);
            json_roof(f, it->hw, &r->type[k].c);
        }
        fputs("]", f);
        if (st->by_layer) json_by_layer(f, m, r, it->hw, json_roof);
        fputs("}", f);
        json_time(f, it, st);
    }
    if (base) {
        char a[32], b[32], c[32];
        const cost_t *x = &r->total, *y = &base->r->total;
        ratio_str(x->kv_bytes, y->kv_bytes, a, sizeof a);
        ratio_str(cost_flops(x), cost_flops(y), b, sizeof b);
        ratio_str(x->flops_fp8eq_x2, y->flops_fp8eq_x2, c, sizeof c);
        fprintf(f, ", \"ratio\": {\"kv_bytes\": %s, \"flops\": %s, \"flops_fp8_equiv\": %s}", a, b, c);
    }
    if (it->json_extra) it->json_extra(f, it->json_extra_ctx);
    fputs("}", f);
}

/* ---- CSV ------------------------------------------------------------------
 * One header line, then one row per (arch, row). The settings are columns on
 * every row (noncausal, page, set, hw, kvsim_version, mla_form), so each row stands
 * alone; with --hw the roofline columns follow. */

static void csv_header(FILE *f, bool hw)
{
    fputs("arch,ctx,phase,batch,row,layers,kv_bytes,flops,flops_fp8_equiv,bytes_moved,weight_read_bytes,"
          "kv_read_bytes,kv_written_bytes,act_bytes,params,params_active", f);
    for (int k = 0; k < FL_COUNT; k++) fprintf(f, ",flops_%s", flop_cat_name[k]);
    fputs(",noncausal,page,set,hw,kvsim_version,mla_form", f);
    if (hw) {
        fputs(",compute_s,memory_s,time_s,intensity_flop_per_byte,bound,fit_ctx,time_model,predicted_s", f);
        for (int k = 0; k < OP_KIND_COUNT; k++) fprintf(f, ",%s", tm_kind_key[k]);
        fputs(",fixed_s,ops", f);
    }
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

static void csv_row(FILE *f, const out_item *it, const out_settings *st, const row *rw)
{
    const cost_t *c = rw->c;
    const cost_query *q = &st->q;
    char fp8[48];
    cost_fp8eq_str(c, fp8, sizeof fp8);
    csv_field(f, it->m->name);
    fprintf(f, ",%llu,%s,%llu,", (unsigned long long)q->T, phase_name(q->phase), (unsigned long long)q->B);
    csv_field(f, rw->name);
    fprintf(f, ",%d,%llu,%llu,%s,%llu,%llu,%llu,%llu,%llu,%llu,%llu", rw->layers < 0 ? 1 : rw->layers,
            (unsigned long long)c->kv_bytes, (unsigned long long)cost_flops(c), fp8,
            (unsigned long long)cost_bytes_moved(c), (unsigned long long)c->weight_read_bytes,
            (unsigned long long)c->kv_read_bytes, (unsigned long long)c->kv_written_bytes,
            (unsigned long long)c->act_bytes, (unsigned long long)c->params, (unsigned long long)c->params_active);
    for (int k = 0; k < FL_COUNT; k++) fprintf(f, ",%llu", (unsigned long long)c->flops[k]);
    fprintf(f, ",%s,%llu,\"", q->noncausal ? "true" : "false", (unsigned long long)(q->page > 1 ? q->page : 0));
    for (int i = 0; i < st->n_sets; i++) {   /* the --set list, "; "-separated, in one quoted field */
        if (i) fputs("; ", f);
        for (const char *s = st->sets[i]; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
    }
    fputs("\",", f);
    csv_field(f, st->hw ? st->hw : "");
    fprintf(f, ",%s,", KVSIM_VERSION);
    csv_field(f, st->mla_form ? st->mla_form : "");
    if (it->hw) {
        roofline rl;
        hw_roofline(it->hw, c, &rl);
        fprintf(f, ",%.9g,%.9g,%.9g,%.6g,%s,%llu", rl.compute_s, rl.memory_s, rl.time_s, rl.intensity,
                rl.memory_bound ? "memory" : "compute", (unsigned long long)it->fit_ctx);
        const tm_row *tr = it->tm ? rw->tm : NULL;
        fprintf(f, ",%s,%.9g", it->tm ? "model" : "roofline", tr ? tr->time_s : rl.time_s);
        for (int k = 0; k < OP_KIND_COUNT; k++) {
            if (tr) fprintf(f, ",%.9g", tr->kind_s[k]);
            else fputc(',', f);
        }
        if (tr) fprintf(f, ",%.9g,%llu", tr->fixed_s, (unsigned long long)tr->ops);
        else fputs(",,", f);
    }
    fputc('\n', f);
}

static void csv_one(FILE *f, const out_item *it, const out_settings *st)
{
    int n = rows_of(it, st->by_layer, g_rows, g_names);
    for (int i = 0; i < n; i++) csv_row(f, it, st, &g_rows[i]);
}

/* ---- tables ----------------------------------------------------------------
 * Numbers right-aligned, one unit per column (named in the second header
 * line, chosen so the column's largest value reads 1-999), counts with the
 * right singular or plural. */

typedef enum { U_BYTES, U_FLOP, U_PARAMS, U_SECONDS } unit_kind;

typedef struct { double div; char name[16]; } unit;

static unit unit_for(double max, unit_kind k)
{
    static const char *const si[] = {"", "k", "M", "G", "T", "P", "E", "Z"};
    static const char *const pn[] = {"", "k", "M", "B", "T", "Q", "Qi", "Sx"};   /* parameter counts */
    unit u = {1, ""};
    if (k == U_SECONDS) {
        static const char *const sn[] = {"ns", "us", "ms", "s"};
        double d = 1e-9;
        int i = 0;
        while (i < 3 && max >= d * 1000) d *= 1000, i++;
        u.div = d;
        snprintf(u.name, sizeof u.name, "%s", sn[i]);
        return u;
    }
    int i = 0;
    while (i < 7 && max >= u.div * 1000) u.div *= 1000, i++;
    if (k == U_PARAMS && i < 2 && max >= 1000) i = 2, u.div = 1e6;   /* never "1.536 k": M from 1,000 up */
    snprintf(u.name, sizeof u.name, "%s%s", k == U_PARAMS ? pn[i] : si[i], k == U_BYTES ? "B" : k == U_FLOP ? "FLOP" : "");
    if (k == U_PARAMS && !i) snprintf(u.name, sizeof u.name, "count");
    return u;
}

/* v in unit u: exact integers when u is the base unit; three significant
 * digits below 0.001 of the unit, "<0.0001" below that (never a zero for a
 * value that is not zero). */
static void num(double v, unit u, char *buf, size_t len)
{
    if (v == 0) snprintf(buf, len, "0");
    else if (u.div == 1) snprintf(buf, len, "%.0f", v);
    else if (v / u.div < 0.0001) snprintf(buf, len, "<0.0001");
    else if (v / u.div < 0.001) snprintf(buf, len, "%#.3g", v / u.div);   /* 0.000150: still visible */
    else snprintf(buf, len, "%.3f", v / u.div);
}

static const char *plural(u64 n, const char *one, const char *many) { return n == 1 ? one : many; }

/* The settings line(s) under a table's title. */
static void table_settings(FILE *f, const out_settings *st)
{
    char ctx[32];
    units_commas(st->q.T, ctx, sizeof ctx);
    fprintf(f, "  ctx %s %s, %s%s, batch %llu, ", ctx, plural(st->q.T, "token", "tokens"), phase_name(st->q.phase),
            st->q.phase == PH_PREFILL ? (st->q.noncausal ? " (non-causal)" : " (causal)") : "", (unsigned long long)st->q.B);
    if (st->q.mtp) fprintf(f, "speculative: %llu draft tokens per step (MTP), ", (unsigned long long)st->q.mtp);
    if (st->q.page > 1) fprintf(f, "cache in pages of %llu entries", (unsigned long long)st->q.page);
    else fputs("cache in logical bytes (no paging)", f);
    fputs("; kvsim " KVSIM_VERSION "\n", f);
    cli_settings_line(f, st->sets, st->n_sets, st->hw, st->mla_form);
}

/* The width of a name column: its longest entry, at least 16. */
static int name_width(const char *first, const row *rows, int n)
{
    size_t w = strlen(first) > 16 ? strlen(first) : 16;
    for (int i = 0; i < n; i++) w = strlen(rows[i].name) > w ? strlen(rows[i].name) : w;
    return (int)w;
}

/* Rows of numbers: a table with a name column, a layers column and the
 * given metric columns. */
#define TCOLS 5

static void table_rows(FILE *f, const row *rows, int n, const char *first)
{
    static const char *const head[TCOLS] = {"KV cache", "FLOPs", "FP8-eq FLOPs", "bytes moved", "params"};
    static const unit_kind kind[TCOLS] = {U_BYTES, U_FLOP, U_FLOP, U_BYTES, U_PARAMS};
    double v[TCOLS], max[TCOLS] = {0};
    unit u[TCOLS];
    for (int i = 0; i < n; i++) {
        const cost_t *c = rows[i].c;
        v[0] = (double)c->kv_bytes, v[1] = (double)cost_flops(c), v[2] = (double)c->flops_fp8eq_x2 / 2;
        v[3] = (double)cost_bytes_moved(c), v[4] = (double)c->params;
        for (int k = 0; k < TCOLS; k++) max[k] = v[k] > max[k] ? v[k] : max[k];
    }
    for (int k = 0; k < TCOLS; k++) u[k] = unit_for(max[k], kind[k]);
    int w = name_width(first, rows, n);
    fprintf(f, "  %-*s %6s", w, first, "layers");
    for (int k = 0; k < TCOLS; k++) fprintf(f, " %13s", head[k]);
    fprintf(f, "\n  %-*s %6s", w, "", "");
    for (int k = 0; k < TCOLS; k++) fprintf(f, " %13s", u[k].name);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        const cost_t *c = rows[i].c;
        v[0] = (double)c->kv_bytes, v[1] = (double)cost_flops(c), v[2] = (double)c->flops_fp8eq_x2 / 2;
        v[3] = (double)cost_bytes_moved(c), v[4] = (double)c->params;
        char ly[16] = "";
        if (rows[i].layers > 0) snprintf(ly, sizeof ly, "%d", rows[i].layers);
        else if (rows[i].layers == 0) snprintf(ly, sizeof ly, "-");   /* model parts: embed, head, ... */
        fprintf(f, "  %-*s %6s", w, rows[i].name, ly);
        for (int k = 0; k < TCOLS; k++) {
            char b[32];
            num(v[k], u[k], b, sizeof b);
            fprintf(f, " %13s", b);
        }
        fputc('\n', f);
    }
}

/* A rate with at least three significant digits and no exponent, so a
 * measured CPU's 0.0512 TFLOP/s is not printed as 0 or 0.1. */
static void rate(double v, char *buf, size_t len)
{
    if (v >= 100 || v == 0) snprintf(buf, len, "%.0f", v);
    else if (v >= 10) snprintf(buf, len, "%.1f", v);
    else if (v >= 1) snprintf(buf, len, "%.2f", v);
    else snprintf(buf, len, "%.3g", v);
}

static void table_hw_head(FILE *f, const hw_profile *hw)
{
    char mem[48], bw[32], r8[32], r16[32], r32[32];
    units_bytes((u64)hw->memory_bytes, mem, sizeof mem);
    rate(hw->bandwidth / 1e9, bw, sizeof bw);
    rate(hw_peak(hw, DT_FP8_E4M3) / 1e12, r8, sizeof r8);
    rate(hw_peak(hw, DT_BF16) / 1e12, r16, sizeof r16);
    rate(hw_peak(hw, DT_FP32) / 1e12, r32, sizeof r32);
    fprintf(f, "\n  roofline on %s (%s): %s, %s GB/s; FP8 %s, BF16 %s, FP32 %s TFLOP/s after fallbacks\n",
            hw->name, hw->path, mem, bw, r8, r16, r32);
}

/* Roofline columns for rows (name, compute, memory, time, FLOP/byte,
 * bound), one time unit per column. */
static void table_roof_rows(FILE *f, const hw_profile *hw, const char *first, const char *const *names,
                            const cost_t *const *cs, int n)
{
    roofline rl;
    double max[3] = {0};
    for (int i = 0; i < n; i++) {
        hw_roofline(hw, cs[i], &rl);
        double t[3] = {rl.compute_s, rl.memory_s, rl.time_s};
        for (int k = 0; k < 3; k++) max[k] = t[k] > max[k] ? t[k] : max[k];
    }
    unit u[3];
    for (int k = 0; k < 3; k++) u[k] = unit_for(max[k], U_SECONDS);
    size_t wz = 16;
    for (int i = 0; i < n; i++) wz = strlen(names[i]) > wz ? strlen(names[i]) : wz;
    int w = (int)wz;
    fprintf(f, "  %-*s %11s %11s %11s %11s  %s\n", w, first, "compute", "memory", "time", "FLOP/byte", "bound");
    fprintf(f, "  %-*s %11s %11s %11s %11s\n", w, "", u[0].name, u[1].name, u[2].name, "");
    for (int i = 0; i < n; i++) {
        hw_roofline(hw, cs[i], &rl);
        double t[3] = {rl.compute_s, rl.memory_s, rl.time_s};
        char b[3][32];
        for (int k = 0; k < 3; k++) num(t[k], u[k], b[k], sizeof b[k]);
        fprintf(f, "  %-*s %11s %11s %11s %11.2f  %s\n", w, names[i], b[0], b[1], b[2], rl.intensity,
                rl.memory_bound ? "memory" : "compute");
    }
}

static void fit_line(FILE *f, const out_item *it, const char *prefix)
{
    char mem[48], fc[32], w[48];
    units_bytes((u64)it->hw->memory_bytes, mem, sizeof mem);
    units_commas(it->fit_ctx, fc, sizeof fc);
    units_bytes(it->r->total.weight_bytes, w, sizeof w);
    if (it->fit_ctx)
        fprintf(f, "  %slongest context that fits %s after the weights (%s), this batch: %s %s\n", prefix, mem, w, fc,
                plural(it->fit_ctx, "token", "tokens"));
    else fprintf(f, "  %sthe weights alone (%s) do not fit in %s\n", prefix, w, mem);
}

/* Which time is shown, and why (--time, or the default's reason). */
static void time_line(FILE *f, const out_settings *st)
{
    if (!st->time) return;
    if (!strcmp(st->time, "model"))
        fprintf(f, "  time: the per-operation time model (%s): each operation's time from the profile's measured curves, summed\n",
                st->time_why);
    else fprintf(f, "  time: roofline (%s): max(compute, memory) per row\n", st->time_why);
}

/* The time model's rows: the time, its split by operation kind (README.md,
 * "The time model"), the fixed costs and the operation count; one time unit
 * per column. */
static void table_tm_rows(FILE *f, const hw_profile *hw, const char *first, const char *const *names, const tm_row *const *tr,
                          int n)
{
    enum { NC = OP_KIND_COUNT + 2 };
    static const char *const head[NC] = {"time", "GEMM", "other prod.", "elementwise", "weights", "cache+act", "fixed"};
    double max[NC] = {0};
    for (int i = 0; i < n; i++) {
        double t[NC] = {tr[i]->time_s, tr[i]->kind_s[OP_GEMM], tr[i]->kind_s[OP_FLOPS], tr[i]->kind_s[OP_ELEM],
                        tr[i]->kind_s[OP_WEIGHTS], tr[i]->kind_s[OP_TRAFFIC], tr[i]->fixed_s};
        for (int k = 0; k < NC; k++) max[k] = t[k] > max[k] ? t[k] : max[k];
    }
    unit u[NC];
    for (int k = 0; k < NC; k++) u[k] = unit_for(max[k], U_SECONDS);
    size_t wz = 16;
    for (int i = 0; i < n; i++) wz = strlen(names[i]) > wz ? strlen(names[i]) : wz;
    int w = (int)wz;
    fprintf(f, "\n  time model on %s (%s): per-operation curves (GEMM rate against M, bandwidth against the working set, ...)\n",
            hw->name, hw->path);
    fprintf(f, "  %-*s", w, first);
    for (int k = 0; k < NC; k++) fprintf(f, " %11s", head[k]);
    fprintf(f, " %7s\n  %-*s", "ops", w, "");
    for (int k = 0; k < NC; k++) fprintf(f, " %11s", u[k].name);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        double t[NC] = {tr[i]->time_s, tr[i]->kind_s[OP_GEMM], tr[i]->kind_s[OP_FLOPS], tr[i]->kind_s[OP_ELEM],
                        tr[i]->kind_s[OP_WEIGHTS], tr[i]->kind_s[OP_TRAFFIC], tr[i]->fixed_s};
        fprintf(f, "  %-*s", w, names[i]);
        for (int k = 0; k < NC; k++) {
            char b[32];
            num(t[k], u[k], b, sizeof b);
            fprintf(f, " %11s", b);
        }
        fprintf(f, " %7llu\n", (unsigned long long)tr[i]->ops);
    }
}

/* --hw: predicted time per row (the time model's, or the roofline's with
 * the bound), and what fits in memory. */
static void table_roofline(FILE *f, const out_item *it, const out_settings *st, const row *rows, int n)
{
    const char *names[MAX_ROWS];
    const cost_t *cs[MAX_ROWS];
    const tm_row *tr[MAX_ROWS];
    for (int i = 0; i < n; i++) names[i] = rows[i].name, cs[i] = rows[i].c, tr[i] = rows[i].tm;
    if (it->tm) table_tm_rows(f, it->hw, "type", names, tr, n);
    else {
        table_hw_head(f, it->hw);
        table_roof_rows(f, it->hw, "type", names, cs, n);
    }
    time_line(f, st);
    fit_line(f, it, "");
}

static void pcount(u64 v, char *buf, size_t len)
{
    num((double)v, unit_for((double)v, U_PARAMS), buf, len);
    size_t l = strlen(buf);
    unit u = unit_for((double)v, U_PARAMS);
    if (strcmp(u.name, "count")) snprintf(buf + l, len - l, " %s", u.name);
}

static void table_one(FILE *f, const out_item *it, const out_settings *st)
{
    const cost_result *r = it->r;
    fprintf(f, "%s  (%s)\n", it->m->name, it->m->path);
    table_settings(f, st);
    int n = rows_of(it, st->by_layer, g_rows, g_names);
    table_rows(f, g_rows, n, "type");
    char a[32], b[32], c[32], d[32];
    pcount(r->total.params, a, sizeof a);
    pcount(r->total.params_active, b, sizeof b);
    pcount(out_params_effective(it->m, r), c, sizeof c);
    pcount(r->total.params - r->total.params_embed, d, sizeof d);
    fprintf(f, "  params: %s total, %s active per token, %s effective (no PLE tables), %s without embedding tables\n",
            a, b, c, d);
    char kv[48];
    units_bytes(r->total.kv_bytes, kv, sizeof kv);
    fprintf(f, "  KV cache: %s\n", kv);
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
    if (it->hw) table_roofline(f, it, st, g_rows, n);
}

void out_cost(FILE *f, const out_item *it, const out_settings *st, out_format of)
{
    if (of == OUT_JSON) {
        json_one(f, it, st, NULL, true);
        fputc('\n', f);
    } else if (of == OUT_CSV) {
        csv_header(f, it->hw != NULL);
        csv_one(f, it, st);
    } else {
        table_one(f, it, st);
    }
}

static void table_compare(FILE *f, const out_item *it, int n, const out_settings *st)
{
    fprintf(f, "compare %d architectures (ratios against %s)\n", n, it[0].m->name);
    table_settings(f, st);
    static const char *const head[5] = {"KV cache", "FLOPs", "FP8-eq FLOPs", "params", "active"};
    static const unit_kind kind[5] = {U_BYTES, U_FLOP, U_FLOP, U_PARAMS, U_PARAMS};
    double max[5] = {0};
    for (int i = 0; i < n; i++) {
        const cost_t *x = &it[i].r->total;
        double v[5] = {(double)x->kv_bytes, (double)cost_flops(x), (double)x->flops_fp8eq_x2 / 2, (double)x->params,
                       (double)x->params_active};
        for (int k = 0; k < 5; k++) max[k] = v[k] > max[k] ? v[k] : max[k];
    }
    unit u[5];
    for (int k = 0; k < 5; k++) u[k] = unit_for(max[k], kind[k]);
    fprintf(f, "  %-22s %12s %8s %12s %8s %13s %8s %10s %10s\n", "arch", head[0], "x first", head[1], "x first", head[2],
            "x first", head[3], head[4]);
    fprintf(f, "  %-22s %12s %8s %12s %8s %13s %8s %10s %10s\n", "", u[0].name, "", u[1].name, "", u[2].name, "", u[3].name,
            u[4].name);
    for (int i = 0; i < n; i++) {
        const cost_t *x = &it[i].r->total, *y = &it[0].r->total;
        double v[5] = {(double)x->kv_bytes, (double)cost_flops(x), (double)x->flops_fp8eq_x2 / 2, (double)x->params,
                       (double)x->params_active};
        char b[5][32], rk[32], rf[32], rp[32];
        for (int k = 0; k < 5; k++) num(v[k], u[k], b[k], sizeof b[k]);
        ratio_str(x->kv_bytes, y->kv_bytes, rk, sizeof rk);
        ratio_str(cost_flops(x), cost_flops(y), rf, sizeof rf);
        ratio_str(x->flops_fp8eq_x2, y->flops_fp8eq_x2, rp, sizeof rp);
        fprintf(f, "  %-22s %12s %8s %12s %8s %13s %8s %10s %10s\n", it[i].m->name, b[0], rk, b[1], rf, b[2], rp, b[3], b[4]);
    }
    fputs("\n  KV cache by layer type:\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "  %s:", it[i].m->name);
        for (int k = 0; k < it[i].r->n_types; k++) {
            if (!it[i].r->type[k].layers) continue;
            char kv[48];
            units_bytes(it[i].r->type[k].c.kv_bytes, kv, sizeof kv);
            int nl = it[i].r->type[k].layers;
            fprintf(f, " %s (%d %s) %s;", it[i].r->type[k].name, nl, plural((u64)nl, "layer", "layers"), kv);
        }
        fputc('\n', f);
    }
    if (it[0].hw) {
        /* --hw: the whole step's roofline per arch, and what fits. */
        const char *names[64] = {0};
        const cost_t *cs[64] = {0};
        int m = n < 64 ? n : 64;
        const tm_row *tr[64] = {0};
        for (int i = 0; i < m; i++) names[i] = it[i].m->name, cs[i] = &it[i].r->total, tr[i] = it[i].tm ? &it[i].tm->total : NULL;
        if (it[0].tm) table_tm_rows(f, it[0].hw, "arch", names, tr, m);
        else {
            table_hw_head(f, it[0].hw);
            table_roof_rows(f, it[0].hw, "arch", names, cs, m);
        }
        time_line(f, st);
        for (int i = 0; i < m; i++) {
            char pre[160];
            snprintf(pre, sizeof pre, "%s: ", it[i].m->name);
            fit_line(f, &it[i], pre);
        }
    }
    if (st->by_layer)
        for (int i = 0; i < n; i++) { fputc('\n', f); table_one(f, &it[i], st); }
}

void out_compare(FILE *f, const out_item *it, int n, const out_settings *st, out_format of)
{
    if (of == OUT_JSON) {
        fputs("{", f);
        json_settings(f, st);
        fputs(", \"archs\": [", f);
        for (int i = 0; i < n; i++) {
            if (i) fputs(", ", f);
            json_one(f, &it[i], st, &it[0], false);
        }
        fputs("]}\n", f);
    } else if (of == OUT_CSV) {
        csv_header(f, it[0].hw != NULL);
        for (int i = 0; i < n; i++) csv_one(f, &it[i], st);
    } else {
        table_compare(f, it, n, st);
    }
}
