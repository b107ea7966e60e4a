/* hw.c - see hw.h. */
#include "hw.h"
#include "paths.h"
#include "ytree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POS(n) yt_pos((n), pos, sizeof pos)

static int number(const ynode *n, double lo, double hi, double *out, sim_err *e)
{
    char pos[300];
    const char *s;
    char *end;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    double v = strtod(s, &end);
    if (n->quoted || end == s || *end || !(v >= lo && v <= hi))
        return sim_fail(e, SIM_EINVAL, "%s: expected a number in [%g, %g], got '%s'", POS(n), lo, hi, s);
    *out = v;
    return SIM_OK;
}

/* Check that map n has only the keys listed. */
static int only_keys(const ynode *n, const char *const *keys, const char *what, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_MAP) return sim_fail(e, SIM_EINVAL, "%s: %s is a mapping", POS(n), what);
    for (size_t i = 0; i < n->n; i += 2) {
        bool ok = false;
        for (const char *const *k = keys; *k; k++) ok |= !strcmp(*k, n->kid[i]->str);
        if (!ok) return sim_fail(e, SIM_EINVAL, "%s: unknown key '%s' in %s", POS(n->kid[i]), n->kid[i]->str, what);
    }
    return SIM_OK;
}

/* n[key] as a number in [lo, hi] times scale; missing: *out unchanged
 * unless required. */
static int num_key(const ynode *n, const char *key, double lo, double hi, double scale, bool required, double *out,
                   sim_err *e)
{
    char pos[300];
    const ynode *v = yt_get(n, key);
    if (!v) return required ? sim_fail(e, SIM_EINVAL, "%s: missing `%s:`", POS(n), key) : SIM_OK;
    double x;
    int rc = number(v, lo, hi, &x, e);
    if (!rc) *out = x * scale;
    return rc;
}

/* A sequence of up to TM_MAX_PTS numbers in [lo, hi] (times scale). */
static int num_seq(const ynode *n, double lo, double hi, double scale, double *out, int *count, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_SEQ || n->n < 1 || n->n > TM_MAX_PTS)
        return sim_fail(e, SIM_EINVAL, "%s: expected a list of 1 to %d numbers", POS(n), TM_MAX_PTS);
    for (size_t i = 0; i < n->n; i++) {
        int rc = number(n->kid[i], lo, hi, &out[i], e);
        if (rc) return rc;
        out[i] *= scale;
    }
    *count = (int)n->n;
    return SIM_OK;
}

/* elementwise's by-tokens table (tokens, tokens_gflops; tmodel.h el_M,
 * el_rate), if given: both, of equal length, tokens increasing; only the
 * elementwise curve (k = 0) has one. */
static int elem_tokens(tm_curves *c, const ynode *x, int k, sim_err *e)
{
    char pos[300];
    const ynode *tk = yt_get(x, "tokens"), *tg = yt_get(x, "tokens_gflops");
    if (!tk && !tg) return SIM_OK;
    if (k) return sim_fail(e, SIM_EINVAL, "%s: only elementwise has a by-tokens table", POS(tk ? tk : tg));
    if (!tk || !tg) return sim_fail(e, SIM_EINVAL, "%s: the by-tokens table needs tokens and tokens_gflops", POS(x));
    int nt, ng, rc;
    if ((rc = num_seq(tk, 1, 1e12, 1, c->el_M, &nt, e)) || (rc = num_seq(tg, 1e-9, 1e10, 1e9, c->el_rate, &ng, e))) return rc;
    if (nt != ng) return sim_fail(e, SIM_EINVAL, "%s: tokens and tokens_gflops differ in length (%d, %d)", POS(x), nt, ng);
    for (int i = 1; i < nt; i++)
        if (!(c->el_M[i] > c->el_M[i - 1])) return sim_fail(e, SIM_EINVAL, "%s: tokens must increase", POS(tk->kid[i]));
    c->n_el = nt;
    return SIM_OK;
}

/* `curves:` (tmodel.h; written by tm_write_yaml). */
static int parse_curves(tm_curves *c, const ynode *n, sim_err *e)
{
    char pos[300];
    static const char *const top[] = {"gemm", "bandwidth", "elementwise", "exp", "gather", "parallel_fixed_us", "attn_decode", "select",
                                     "attn_causal", "attn_window", "attn_gather", "compute_dtype", "elementwise_mix", NULL};
    static const char *const sk[] = {"fixed_us", "per_us", "rms_rel", NULL};
    static const char *const ak[] = {"fixed_us", "ns_per_elem", "gflops", "rms_rel", NULL};
    static const char *const gk[] = {"rate_max_gflops", "m_half", "rms_rel", "m", "s", "fixed_us", "ns_per_elem", "table_rms_rel", NULL};
    static const char *const bk[] = {"ws_bytes", "gbs", "loo_rms_rel", NULL};
    static const char *const ek[] = {"gflops", "fixed_us", "rms_rel", "tokens", "tokens_gflops", NULL};
    static const char *const xk[] = {"per_us", "rms_rel", NULL};
    static const char *const rk[] = {"ns_per_row", "rms_rel", NULL};
    int rc = only_keys(n, top, "curves", e);
    if (rc) return rc;
    const ynode *g = yt_get(n, "gemm"), *b = yt_get(n, "bandwidth");
    if (!g || !b) return sim_fail(e, SIM_EINVAL, "%s: curves need at least gemm and bandwidth", POS(n));
    if (g->kind != YT_MAP) return sim_fail(e, SIM_EINVAL, "%s: gemm maps dtypes to curves", POS(g));
    for (size_t i = 0; i < g->n; i += 2) {
        dtype dt;
        const ynode *k = g->kid[i], *v = g->kid[i + 1];
        if (dtype_find(k->str, &dt) || !dtype_table[dt].compute)
            return sim_fail(e, SIM_EINVAL, "%s: '%s' is not a compute dtype", POS(k), k->str);
        if ((rc = only_keys(v, gk, "a gemm curve", e))) return rc;
        /* The rate curve (rate_max_gflops with m_half), the table (m,
         * fixed_us, ns_per_elem: equal lengths, m increasing), or both. */
        const ynode *tm = yt_get(v, "m"), *tf = yt_get(v, "fixed_us"), *te = yt_get(v, "ns_per_elem");
        bool rate = yt_get(v, "rate_max_gflops") != NULL;
        if (!rate && !tm)
            return sim_fail(e, SIM_EINVAL, "%s: a gemm curve needs rate_max_gflops and m_half, or the table m, fixed_us, "
                            "ns_per_elem", POS(v));
        if (rate && ((rc = num_key(v, "rate_max_gflops", 1e-6, 1e10, 1e9, true, &c->gemm_rate_max[dt], e)) ||
                     (rc = num_key(v, "m_half", 0, 1e9, 1, true, &c->gemm_m_half[dt], e)) ||
                     (rc = num_key(v, "rms_rel", 0, 1e9, 1, false, &c->gemm_rms[dt], e))))
            return rc;
        c->gemm_has[dt] = rate;
        if (tm || tf || te) {
            /* m; s, the short sides (absent: one slice); fixed_us and
             * ns_per_elem a list over m per short side (one slice: a list
             * over m may stand alone). */
            int nm, nsd = 1;
            const ynode *ts = yt_get(v, "s");
            if (!tm || !tf || !te)
                return sim_fail(e, SIM_EINVAL, "%s: the gemm table needs m, fixed_us and ns_per_elem", POS(v));
            if ((rc = num_seq(tm, 1, 1e12, 1, c->gt_M[dt], &nm, e)) ||
                (ts && (rc = num_seq(ts, 1, 1e12, 1, c->gt_S[dt], &nsd, e))) ||
                (rc = num_key(v, "table_rms_rel", 0, 1e9, 1, false, &c->gt_rms[dt], e)))
                return rc;
            if (nsd > TM_MAX_S) return sim_fail(e, SIM_EINVAL, "%s: at most %d short sides", POS(ts), TM_MAX_S);
            if (!ts) c->gt_S[dt][0] = 0;
            for (int j = 1; j < nsd; j++)
                if (!(c->gt_S[dt][j] > c->gt_S[dt][j - 1])) return sim_fail(e, SIM_EINVAL, "%s: s must increase", POS(ts->kid[j]));
            const ynode *lists[2] = {tf, te};
            double *dst[2] = {&c->gt_fixed[dt][0][0], &c->gt_elem[dt][0][0]};
            const double scale[2] = {1e-6, 1e-9};
            for (int q = 0; q < 2; q++) {
                const ynode *l = lists[q];
                bool nested = l->kind == YT_SEQ && l->n && l->kid[0]->kind == YT_SEQ;
                if ((nested ? (int)l->n : 1) != nsd || (!nested && ts && nsd != 1))
                    return sim_fail(e, SIM_EINVAL, "%s: expected %d list%s over m (one per short side in s)", POS(l), nsd,
                                    nsd == 1 ? "" : "s");
                for (int j = 0; j < nsd; j++) {
                    int cnt;
                    if ((rc = num_seq(nested ? l->kid[j] : l, 0, 1e12, scale[q], dst[q] + (size_t)j * TM_MAX_PTS, &cnt, e))) return rc;
                    if (cnt != nm)
                        return sim_fail(e, SIM_EINVAL, "%s: %d values for %d m", POS(nested ? l->kid[j] : l), cnt, nm);
                }
            }
            for (int j = 1; j < nm; j++)
                if (!(c->gt_M[dt][j] > c->gt_M[dt][j - 1])) return sim_fail(e, SIM_EINVAL, "%s: m must increase", POS(tm->kid[j]));
            c->gt_n[dt] = nm;
            c->gt_ns[dt] = nsd;
        }
    }
    if ((rc = only_keys(b, bk, "bandwidth", e))) return rc;
    const ynode *ws = yt_get(b, "ws_bytes"), *gbs = yt_get(b, "gbs");
    if (!ws || !gbs) return sim_fail(e, SIM_EINVAL, "%s: bandwidth needs ws_bytes and gbs", POS(b));
    int nw, ng;
    if ((rc = num_seq(ws, 1, 1e18, 1, c->bw_ws, &nw, e)) || (rc = num_seq(gbs, 1e-6, 1e7, 1e9, c->bw_bs, &ng, e))) return rc;
    if (nw != ng) return sim_fail(e, SIM_EINVAL, "%s: ws_bytes and gbs differ in length (%d, %d)", POS(b), nw, ng);
    for (int i = 1; i < nw; i++)
        if (!(c->bw_ws[i] > c->bw_ws[i - 1]))
            return sim_fail(e, SIM_EINVAL, "%s: ws_bytes must increase", POS(ws->kid[i]));
    c->n_bw = nw;
    if ((rc = num_key(b, "loo_rms_rel", 0, 1e9, 1, false, &c->bw_rms, e))) return rc;
    const ynode *x;
    static const char *const ename[2] = {"elementwise", "elementwise_mix"};
    double *const ev[2][3] = {{&c->elem_rate, &c->elem_fixed_s, &c->elem_rms}, {&c->mix_rate, &c->mix_fixed_s, &c->mix_rms}};
    for (int k = 0; k < 2; k++)
        if ((x = yt_get(n, ename[k])) &&
            ((rc = only_keys(x, ek, ename[k], e)) || (rc = num_key(x, "gflops", 1e-9, 1e10, 1e9, true, ev[k][0], e)) ||
             (rc = num_key(x, "fixed_us", 0, 1e9, 1e-6, false, ev[k][1], e)) ||
             (rc = num_key(x, "rms_rel", 0, 1e9, 1, false, ev[k][2], e)) || (rc = elem_tokens(c, x, k, e))))
            return rc;
    if ((x = yt_get(n, "exp")) &&
        ((rc = only_keys(x, xk, "exp", e)) || (rc = num_key(x, "per_us", 1e-9, 1e12, 1e6, true, &c->exp_rate, e)) ||
         (rc = num_key(x, "rms_rel", 0, 1e9, 1, false, &c->exp_rms, e))))
        return rc;
    if ((x = yt_get(n, "gather")) &&
        ((rc = only_keys(x, rk, "gather", e)) || (rc = num_key(x, "ns_per_row", 0, 1e12, 1e-9, true, &c->gather_s_per_row, e)) ||
         (rc = num_key(x, "rms_rel", 0, 1e9, 1, false, &c->gather_rms, e))))
        return rc;
    if ((rc = num_key(n, "parallel_fixed_us", 0, 1e9, 1e-6, false, &c->fixed_s, e))) return rc;
    if ((x = yt_get(n, "select")) &&
        ((rc = only_keys(x, sk, "select", e)) || (rc = num_key(x, "per_us", 1e-9, 1e12, 1e6, true, &c->select_rate, e)) ||
         (rc = num_key(x, "fixed_us", 0, 1e9, 1e-6, false, &c->select_fixed_s, e)) ||
         (rc = num_key(x, "rms_rel", 0, 1e9, 1, false, &c->select_rms, e))))
        return rc;
    if ((x = yt_get(n, "compute_dtype"))) {
        if (x->kind != YT_SCALAR || dtype_find(x->str, &c->compute_dt) || !dtype_table[c->compute_dt].compute)
            return sim_fail(e, SIM_EINVAL, "%s: compute_dtype must be a compute dtype", POS(x));
        c->compute_has = true;
    }
    static const char *const pk[] = {"gflops", "rms_rel", NULL};
    for (int k = 0; k < 3; k++)
        if ((x = yt_get(n, tm_apre_key[k])) &&
            ((rc = only_keys(x, pk, tm_apre_key[k], e)) || (rc = num_key(x, "gflops", 1e-9, 1e10, 1e9, true, &c->apre_rate[k], e)) ||
             (rc = num_key(x, "rms_rel", 0, 1e9, 1, false, &c->apre_rms[k], e))))
            return rc;
    if ((x = yt_get(n, "attn_decode"))) {
        /* dtype -> {fixed_us, ns_per_elem, gflops (0: no FLOP term)} */
        if (x->kind != YT_MAP) return sim_fail(e, SIM_EINVAL, "%s: attn_decode maps cache dtypes to curves", POS(x));
        for (size_t i = 0; i < x->n; i += 2) {
            dtype dt;
            const ynode *k = x->kid[i], *v = x->kid[i + 1];
            double gf = 0;
            if (dtype_find(k->str, &dt) || !dtype_table[dt].compute)
                return sim_fail(e, SIM_EINVAL, "%s: '%s' is not a compute dtype", POS(k), k->str);
            if ((rc = only_keys(v, ak, "an attn_decode curve", e)) ||
                (rc = num_key(v, "fixed_us", 0, 1e9, 1e-6, true, &c->attn_fixed[dt], e)) ||
                (rc = num_key(v, "ns_per_elem", 0, 1e9, 1e-9, true, &c->attn_elem[dt], e)) ||
                (rc = num_key(v, "gflops", 0, 1e10, 1, true, &gf, e)) ||
                (rc = num_key(v, "rms_rel", 0, 1e9, 1, false, &c->attn_rms[dt], e)))
                return rc;
            c->attn_flop[dt] = gf > 0 ? 1e-9 / gf : 0;
            c->attn_has[dt] = true;
        }
    }
    c->present = true;
    return SIM_OK;
}

int hw_load(hw_profile *h, const char *name_or_path, sim_err *e)
{
    char path[4200], pos[300];
    memset(h, 0, sizeof *h);
    /* A name is a shipped profile in the data directory (paths.h), found
     * from any working directory; anything with a '/' or .yaml is a path. */
    if (strchr(name_or_path, '/') || strstr(name_or_path, ".yaml")) snprintf(path, sizeof path, "%s", name_or_path);
    else snprintf(path, sizeof path, "%s/scenarios/hw/%s.yaml", sim_data_dir(), name_or_path);
    if (strlen(path) >= sizeof h->path) return sim_fail(e, SIM_EINVAL, "%.64s...: profile path too long", path);
    memcpy(h->path, path, strlen(path) + 1);
    ynode *root;
    int rc = yt_load_file(path, &root, e);
    if (rc == SIM_EIO && !strchr(name_or_path, '/'))
        return sim_fail(e, SIM_EIO, "hardware profile '%s' not found (looked for %s; shipped: h100-sxm, h200, "
                        "a100-80gb, rtx-4090, apple-m3-max, 8xh100-sxm, 8xh200, 8xb200; or give a path)", name_or_path, path);
    if (rc) return rc;
    static const char *const keys[] = {"name", "source", "notes", "memory_gb", "bandwidth_gbs", "peak_tflops", "measured", "link_gbs", "gpus", "curves", NULL};
    if (root->kind != YT_MAP) { rc = sim_fail(e, SIM_EINVAL, "%s: a profile is a mapping", POS(root)); goto out; }
    for (size_t i = 0; i < root->n; i += 2) {
        bool ok = false;
        for (const char *const *k = keys; *k; k++) ok |= !strcmp(*k, root->kid[i]->str);
        if (!ok) { rc = sim_fail(e, SIM_EINVAL, "%s: unknown key '%s' in a hardware profile", POS(root->kid[i]), root->kid[i]->str); goto out; }
    }
    const ynode *n = yt_get(root, "name");
    const char *s;
    if (!n || (rc = yt_str(n, &s, e))) { if (!rc) rc = sim_fail(e, SIM_EINVAL, "%s: missing `name:`", POS(root)); goto out; }
    snprintf(h->name, sizeof h->name, "%s", s);
    double gb, gbs;
    if (!yt_get(root, "memory_gb") || !yt_get(root, "bandwidth_gbs") || !yt_get(root, "peak_tflops")) {
        rc = sim_fail(e, SIM_EINVAL, "%s: a profile needs memory_gb, bandwidth_gbs and peak_tflops", POS(root));
        goto out;
    }
    if ((rc = number(yt_get(root, "memory_gb"), 0.001, 1e6, &gb, e))) goto out;
    if ((rc = number(yt_get(root, "bandwidth_gbs"), 0.001, 1e7, &gbs, e))) goto out;
    h->memory_bytes = gb * 1e9;
    h->bandwidth = gbs * 1e9;
    if (yt_get(root, "link_gbs")) {
        double l;
        if ((rc = number(yt_get(root, "link_gbs"), 0.001, 1e7, &l, e))) goto out;
        h->link_bw = l * 1e9;
    }
    if (yt_get(root, "gpus")) {
        double g;
        if ((rc = number(yt_get(root, "gpus"), 1, 4096, &g, e))) goto out;
        if (g != (double)(u64)g) { rc = sim_fail(e, SIM_EINVAL, "%s: gpus is a whole number", POS(yt_get(root, "gpus"))); goto out; }
        h->gpus = (u64)g;
    }
    const ynode *pk = yt_get(root, "peak_tflops");
    if (pk->kind != YT_MAP) { rc = sim_fail(e, SIM_EINVAL, "%s: peak_tflops maps dtypes to TFLOP/s", POS(pk)); goto out; }
    for (size_t i = 0; i < pk->n; i += 2) {
        dtype dt;
        double t;
        if (dtype_find(pk->kid[i]->str, &dt) || !dtype_table[dt].compute) {
            rc = sim_fail(e, SIM_EINVAL, "%s: '%s' is not a compute dtype", POS(pk->kid[i]), pk->kid[i]->str);
            goto out;
        }
        if ((rc = number(pk->kid[i + 1], 1e-6, 1e7, &t, e))) goto out;
        h->peak[dt] = t * 1e12;
    }
    if (h->peak[DT_FP32] <= 0) { rc = sim_fail(e, SIM_EINVAL, "%s: peak_tflops needs at least fp32", POS(pk)); goto out; }
    if (yt_get(root, "curves")) rc = parse_curves(&h->curves, yt_get(root, "curves"), e);
out:
    yt_free(root);
    return rc;
}

double hw_peak(const hw_profile *h, dtype dt)
{
    /* Each dtype's chain of wider dtypes to fall back on (tmodel.c);
     * unused chain slots are 0 = DT_FP32, the last resort anyway. */
    for (int i = 0; i < 5; i++)
        if (h->peak[tm_dtype_chain[dt][i]] > 0) return h->peak[tm_dtype_chain[dt][i]];
    return h->peak[DT_FP32];
}

void hw_roofline(const hw_profile *h, const cost_t *c, roofline *r)
{
    double flops = 0, bytes = (double)cost_bytes_moved(c);
    r->compute_s = 0;
    for (int d = 0; d < DT_COUNT; d++) {
        if (!c->flops_dt[d]) continue;
        r->compute_s += (double)c->flops_dt[d] / hw_peak(h, (dtype)d);
        flops += (double)c->flops_dt[d];
    }
    r->memory_s = bytes / h->bandwidth;
    r->time_s = r->compute_s > r->memory_s ? r->compute_s : r->memory_s;
    r->intensity = bytes > 0 ? flops / bytes : 0;
    r->memory_bound = r->memory_s >= r->compute_s;
}
