/* spec.c - YAML spec -> model_spec: top-level fields, formats, layer kinds,
 * the layer pattern, overrides, per-layer lists and KV sharing; see spec.h. */
#include "spec_read.h"
#include "cost.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* ---- layer ranges like "0-2", 5, [1, 4, 7] ------------------------------ */

/* Mark the layers a range names in mask[nl]: O(size of the range text). */
static int range_mark(const ynode *n, u64 nl, bool *mask, int depth, sim_err *e)
{
    char pos[300];
    if (n->kind == YT_SEQ && depth == 0) {
        for (size_t j = 0; j < n->n; j++) {
            int rc = range_mark(n->kid[j], nl, mask, 1, e);
            if (rc) return rc;
        }
        return SIM_OK;
    }
    if (n->kind != YT_SCALAR) return sim_fail(e, SIM_EINVAL, "%s: `layers:` takes N, \"A-B\" or a list of those", POS(n));
    unsigned long long a, b;
    char extra;
    if (sscanf(n->str, "%llu-%llu%c", &a, &b, &extra) == 2) {
    } else if (sscanf(n->str, "%llu%c", &a, &extra) == 1) {
        b = a;
    } else {
        return sim_fail(e, SIM_EINVAL, "%s: layer range '%s' is not N or A-B", POS(n), n->str);
    }
    if (a > b || b >= nl)
        return sim_fail(e, SIM_EINVAL, "%s: layer range '%s' is outside 0-%llu", POS(n), n->str,
                        (unsigned long long)(nl - 1));
    for (u64 i = a; i <= b; i++) mask[i] = true;
    return SIM_OK;
}

/* ---- the pattern ---------------------------------------------------------- */

static int kind_index(const model_spec *m, const ynode *n, int *out, sim_err *e)
{
    char pos[300];
    const char *s;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    for (int k = 0; k < m->n_kinds; k++)
        if (!strcmp(m->kind_name[k], s)) { *out = k; return SIM_OK; }
    return sim_fail(e, SIM_EINVAL, "%s: unknown layer kind '%s' (define it under `layers:`)", POS(n), s);
}

static int pattern_push(model_spec *m, int *kinds, u64 *n, int k, const ynode *at, sim_err *e)
{
    char pos[300];
    if (*n >= m->n_layers)
        return sim_fail(e, SIM_EINVAL, "%s: pattern gives more than n_layers = %llu layers", POS(at),
                        (unsigned long long)m->n_layers);
    kinds[(*n)++] = k;
    return SIM_OK;
}

static int expand_items(model_spec *m, const ynode *seq, int *kinds, u64 *n, int depth, sim_err *e)
{
    char pos[300];
    int rc;
    if (depth > 8) return sim_fail(e, SIM_EINVAL, "%s: `repeat:` nested too deeply", POS(seq));
    for (size_t i = 0; i < seq->n; i++) {
        const ynode *it = seq->kid[i];
        if (it->kind == YT_SCALAR) {
            int k;
            if ((rc = kind_index(m, it, &k, e)) || (rc = pattern_push(m, kinds, n, k, it, e))) return rc;
            continue;
        }
        static const char *const keys[] = {"repeat", "times", NULL};
        if ((rc = spec_want_map(it, "a pattern item", e)) || (rc = spec_check_keys(it, keys, "a pattern item", e))) return rc;
        const ynode *rep = yt_get(it, "repeat");
        u64 times = 0;
        if (!rep || rep->kind != YT_SEQ || rep->n == 0)
            return sim_fail(e, SIM_EINVAL, "%s: a pattern item is a kind name or {repeat: [kinds...], times: N}", POS(it));
        if ((rc = spec_get_u64(it, "times", 1, SPEC_MAX_LAYERS, true, &times, "repetitions", e))) return rc;
        for (u64 t = 0; t < times; t++)
            if ((rc = expand_items(m, rep, kinds, n, depth + 1, e))) return rc;
    }
    return SIM_OK;
}

static int expand_pattern(model_spec *m, const ynode *pat, int *kinds, sim_err *e)
{
    char pos[300];
    int rc;
    u64 n = 0;
    if (pat->kind == YT_SEQ) {
        if ((rc = expand_items(m, pat, kinds, &n, 0, e))) return rc;
    } else if (pat->kind == YT_MAP) {
        /* every: N, offset: O, kind: K, else: E  -> layer i is K when i % N == O */
        static const char *const keys[] = {"every", "offset", "kind", "else", "last", NULL};
        if ((rc = spec_check_keys(pat, keys, "pattern", e))) return rc;
        u64 every = 0, off = 0;
        int kk, ke, kl = -1;
        if ((rc = spec_get_u64(pat, "every", 1, SPEC_MAX_LAYERS, true, &every, "layers", e))) return rc;
        if ((rc = spec_get_u64(pat, "offset", 0, every - 1, false, &off, "layers", e))) return rc;
        if (!yt_get(pat, "kind") || !yt_get(pat, "else"))
            return sim_fail(e, SIM_EINVAL, "%s: `every:` pattern needs `kind:` and `else:`", POS(pat));
        if ((rc = kind_index(m, yt_get(pat, "kind"), &kk, e)) || (rc = kind_index(m, yt_get(pat, "else"), &ke, e))) return rc;
        if (yt_get(pat, "last") && (rc = kind_index(m, yt_get(pat, "last"), &kl, e))) return rc;
        for (u64 i = 0; i < m->n_layers; i++) kinds[n++] = i % every == off ? kk : ke;
        if (kl >= 0) kinds[m->n_layers - 1] = kl;
    } else {
        return sim_fail(e, SIM_EINVAL, "%s: `pattern:` is a list of kinds or {every: N, offset: O, kind: K, else: E}", POS(pat));
    }
    if (n != m->n_layers)
        return sim_fail(e, SIM_EINVAL, "%s: pattern gives %llu layers but n_layers = %llu", POS(pat),
                        (unsigned long long)n, (unsigned long long)m->n_layers);
    return SIM_OK;
}

/* ---- one layer ------------------------------------------------------------ */

/* Step 1 of a layer: its tree = its kind, plus the model-wide ffn and
 * residual where the kind has none, plus the overrides and per_layer
 * entries that name it. *touched = the last override / entry applied. */
static int merge_layer(const model_spec *m, const ynode *root, const ynode *kn, u64 i, const bool *ov_mask,
                       ynode **out, const ynode **touched, sim_err *e)
{
    char pos[300];
    int rc = SIM_OK;
    ynode *t = yt_copy(kn);
    *touched = NULL;
    if (!t) return sim_fail(e, SIM_ENOMEM, "out of memory");
    static const char *const inherited[] = {"ffn", "residual"};
    for (int k = 0; k < 2; k++) {
        const ynode *g = yt_get(root, inherited[k]);
        if (yt_get(t, inherited[k]) || !g) continue;
        ynode *c = yt_copy(g);
        if (!c || yt_put(t, inherited[k], c)) { yt_free(c); rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
    }
    const ynode *ov = yt_get(root, "overrides");
    for (size_t k = 0; ov && k < ov->n; k++) {
        const ynode *o = ov->kid[k];
        if (!ov_mask[k * m->n_layers + i]) continue;
        *touched = o;
        for (size_t j = 0; j + 1 < o->n; j += 2) {
            const char *key = o->kid[j]->str;
            const ynode *val = o->kid[j + 1];
            if (!strcmp(key, "ffn") || !strcmp(key, "residual")) {
                ynode *c = yt_copy(val);
                if (!c || yt_put(t, key, c)) { yt_free(c); rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
            } else if (!strcmp(key, "set")) {
                for (size_t s = 0; s + 1 < val->n; s += 2) {
                    ynode *c = yt_copy(val->kid[s + 1]);
                    char what[300];
                    snprintf(what, sizeof what, "%s: override", POS(val->kid[s]));
                    if (!c) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
                    if ((rc = yt_set_node(t, val->kid[s]->str, c, val->kid[s], what, e))) goto fail;
                }
            }
        }
    }
    const ynode *pl = yt_get(root, "per_layer");
    for (size_t k = 0; pl && k + 1 < pl->n; k += 2) {
        const ynode *list = pl->kid[k + 1];
        ynode *c = yt_copy(list->kid[i]);
        char what[300];
        snprintf(what, sizeof what, "%s: per_layer", POS(pl->kid[k]));
        *touched = list->kid[i];
        if (!c) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
        if ((rc = yt_set_node(t, pl->kid[k]->str, c, pl->kid[k], what, e))) goto fail;
    }
    *out = t;
    return SIM_OK;
fail:
    yt_free(t);
    return rc;
}

/* Step 2: the merged tree t into L (attention, kv_from, ffn, residual). */
static int parse_layer(const model_spec *m, const ynode *t, const ynode *kn, u64 i, layer_spec *L, sim_err *e)
{
    char pos[300];
    int rc;
    /* Defaults that depend on the model. */
    L->attn.kv_fmt = m->kv_default;
    L->attn.index_fmt = m->kv_default;
    fmt_from_dtype(&L->attn.state_fmt, DT_FP32);
    L->attn.kv_from = -1;
    static const char *const attn_extra[] = {"ffn", "residual", "kv_from", NULL};
    if ((rc = spec_parse_comp(m, t, COMP_ATTN, &L->attn, &L->attn.type, attn_extra, e))) return rc;
    const ynode *kf = yt_get(t, "kv_from");
    if (kf) {
        u64 src;
        if ((rc = yt_u64(kf, &src, e))) return rc;
        if (src >= i)
            return sim_fail(e, SIM_EINVAL, "%s: layer %llu takes kv_from %llu, which is not an earlier layer", POS(kf),
                            (unsigned long long)i, (unsigned long long)src);
        L->attn.kv_from = (int)src;
    }
    L->ffn.gated = true;   /* gated MLPs unless the spec says `gated: false` */
    const ynode *fn = yt_get(t, "ffn");
    if (!fn)
        return sim_fail(e, SIM_EINVAL, "%s: layer %llu has no ffn (give a model-wide `ffn:` or one in its kind; `type: none` for none)",
                        POS(kn), (unsigned long long)i);
    if ((rc = spec_parse_comp(m, fn, COMP_FFN, &L->ffn, &L->ffn.type, NULL, e))) return rc;
    const ynode *rn = yt_get(t, "residual");
    if (rn) return spec_parse_comp(m, rn, COMP_RES, &L->res, &L->res.type, NULL, e);
    L->res.type = comp_default(COMP_RES);
    return SIM_OK;
}

/* Step 3: the cross-field checks (comp_check_layer), reported where the
 * failing component was written. */
static int check_layer(const model_spec *m, const ynode *t, const ynode *kn, const ynode *touched, u64 i,
                       const layer_spec *L, sim_err *e)
{
    char pos[300];
    sim_err sub;
    comp_cat bad;
    int rc = comp_check_layer(m, L, &bad, &sub);
    if (!rc) return SIM_OK;
    if (bad == COMP_FFN || bad == COMP_RES) {
        const ynode *at = yt_get(t, bad == COMP_FFN ? "ffn" : "residual");
        return sim_fail(e, rc, "%s: layer %llu %s: %s", POS(at ? at : kn), (unsigned long long)i, comp_cat_name[bad], sub.msg);
    }
    char from[340] = "";
    if (touched) snprintf(from, sizeof from, ", as changed at %s", POS(touched));
    return sim_fail(e, rc, "%s: layer %llu (kind '%s'%s): %s", POS(kn), (unsigned long long)i, m->kind_name[L->kind], from, sub.msg);
}

static int build_layer(model_spec *m, const ynode *root, const ynode *kinds_map, int kind, u64 i,
                       const bool *ov_mask, layer_spec *L, sim_err *e)
{
    const ynode *kn = yt_get(kinds_map, m->kind_name[kind]), *touched = NULL;
    ynode *t = NULL;
    int rc = merge_layer(m, root, kn, i, ov_mask, &t, &touched, e);
    if (rc) return rc;
    L->kind = kind;
    if (!(rc = parse_layer(m, t, kn, i, L, e))) rc = check_layer(m, t, kn, touched, i, L, e);
    yt_free(t);
    return rc;
}

/* `mtp: {layers: N, kind: K, ffn: {...}?}`: the MTP module's layer is kind K
 * with the model-wide ffn/residual (or the block's own ffn), no overrides;
 * checked like any layer (issue 12 item 8). */
static int parse_mtp(model_spec *m, const ynode *root, const ynode *kinds_map, const ynode *mt, sim_err *e)
{
    char pos[300];
    static const char *const keys[] = {"layers", "kind", "ffn", NULL};
    int rc, kind = -1;
    if ((rc = spec_want_map(mt, "mtp", e)) || (rc = spec_check_keys(mt, keys, "mtp", e))) return rc;
    m->mtp_n = 1;
    if ((rc = spec_get_u64(mt, "layers", 1, 64, false, &m->mtp_n, "modules", e))) return rc;
    const ynode *kn = yt_get(mt, "kind");
    if (!kn) return sim_fail(e, SIM_EINVAL, "%s: mtp needs `kind:` (the layer kind of its block)", POS(mt));
    if ((rc = kind_index(m, kn, &kind, e))) return rc;
    const ynode *kt = yt_get(kinds_map, m->kind_name[kind]);
    ynode *t = yt_copy(kt);
    if (!t) return sim_fail(e, SIM_ENOMEM, "out of memory");
    /* ffn: the block's own, else the kind's, else the model's; residual: the kind's, else the model's. */
    static const char *const inherited[] = {"ffn", "residual"};
    for (int k = 0; k < 2; k++) {
        const ynode *own = k == 0 ? yt_get(mt, "ffn") : NULL, *g = own ? own : yt_get(root, inherited[k]);
        if (!g || (!own && yt_get(t, inherited[k]))) continue;
        ynode *c = yt_copy(g);
        if (!c || yt_put(t, inherited[k], c)) { yt_free(c); yt_free(t); return sim_fail(e, SIM_ENOMEM, "out of memory"); }
    }
    m->mtp.kind = kind;
    m->mtp.same_cost_as = -1;
    if (!(rc = parse_layer(m, t, kn, m->n_layers, &m->mtp, e))) rc = check_layer(m, t, kn, NULL, m->n_layers, &m->mtp, e);
    if (!rc && m->mtp.attn.kv_from >= 0) rc = sim_fail(e, SIM_EINVAL, "%s: the mtp layer cannot take kv_from", POS(kn));
    yt_free(t);
    return rc;
}

/* Gemma 4's rule: the last N layers reuse the cache of the most recent
 * non-shared layer of the same kind (research/gemma4.md). */
static int apply_sharing(model_spec *m, const ynode *ks, sim_err *e)
{
    char pos[300];
    static const char *const keys[] = {"shared_layers", "fraction", NULL};
    int rc;
    if ((rc = spec_want_map(ks, "kv_sharing", e)) || (rc = spec_check_keys(ks, keys, "kv_sharing", e))) return rc;
    u64 n = 0;
    const ynode *fr = yt_get(ks, "fraction"), *sl = yt_get(ks, "shared_layers");
    if (fr && sl) {
        /* Both: a --set of one overrides the other written in the file. */
        bool fset = !strcmp(fr->file, "<--set>"), sset = !strcmp(sl->file, "<--set>");
        if (fset == sset)
            return sim_fail(e, SIM_EINVAL, "%s: give kv_sharing.shared_layers or kv_sharing.fraction, not both", POS(fr));
        if (sset) fr = NULL;
    }
    if (fr) {
        /* A decimal fraction of the layers, rounded to the nearest count:
         * Gemma 4 E2B's 20 of 35 layers is fraction 0.5714. */
        const char *t;
        char *end;
        if ((rc = yt_str(fr, &t, e))) return rc;
        double f = strtod(t, &end);
        if (fr->quoted || *end || end == t || !(f >= 0.0 && f < 1.0))
            return sim_fail(e, SIM_EINVAL, "%s: kv_sharing.fraction must be a number in [0, 1), got '%s'", POS(fr), t);
        n = (u64)(f * (double)m->n_layers + 0.5);
        if (n > m->n_layers - 1) n = m->n_layers - 1;
    } else if ((rc = spec_get_u64(ks, "shared_layers", 0, m->n_layers - 1, true, &n, "layers", e))) {
        return rc;
    }
    u64 first = m->n_layers - n;
    for (u64 i = first; i < m->n_layers; i++) {
        layer_spec *L = &m->layer[i];
        if (L->attn.kv_from >= 0) continue;   /* explicit kv_from wins */
        int src = -1;
        for (u64 j = first; j-- > 0;)
            if (m->layer[j].kind == L->kind) { src = (int)j; break; }
        if (src < 0)
            return sim_fail(e, SIM_EINVAL, "%s: layer %llu (kind '%s') is shared but no earlier non-shared layer has kind '%s'",
                            POS(ks), (unsigned long long)i, m->kind_name[L->kind], m->kind_name[L->kind]);
        L->attn.kv_from = src;
    }
    return SIM_OK;
}

/* cost_eval's plan (spec.h): rows, roots, units and (row, unit) pairs from
 * each layer's kind, shared_kv, same_cost_as and component configs. Left
 * unset (plan_n = 0: cost_eval walks the layers) when the model has more
 * roots, units or pairs than it holds. */
/* Seal every format field (F_FMT) of a layer's components (fmt_seal). */
static void seal_layer(layer_spec *L)
{
    const comp_type *ts[] = {L->attn.type, L->ffn.type, L->res.type};
    void *cfg[] = {&L->attn, &L->ffn, &L->res};
    for (int k = 0; k < 3; k++)
        for (const field_def *f = ts[k] ? ts[k]->fields : NULL; f && f->key; f++)
            if (f->kind == F_FMT) fmt_seal((fmt *)(void *)((char *)cfg[k] + f->off));
}

_Static_assert(COMP_CAT_COUNT == 4, "model_spec.plan_root_unit holds one unit per component category");

/* Whether layers S and L have the same component of category cat, so the
 * same cost: the same config byte for byte (the type is in it); attention
 * also the same shared_kv, its kv_from ignored (it changes no count); the
 * PLE is the model's, the same in every layer. */
static bool plan_same_comp(const layer_spec *S, const layer_spec *L, int cat)
{
    switch (cat) {
    case COMP_ATTN: {
        attn_cfg a;
        memcpy(&a, &S->attn, sizeof a);   /* padding too: memcmp compares it */
        a.kv_from = L->attn.kv_from;
        return S->shared_kv == L->shared_kv && !memcmp(&a, &L->attn, sizeof a);
    }
    case COMP_FFN: return !memcmp(&S->ffn, &L->ffn, sizeof S->ffn);
    case COMP_RES: return !memcmp(&S->res, &L->res, sizeof S->res);
    default: return true;
    }
}

/* The unit of layer li's component of category cat, added when no unit has
 * it yet: its index, -1 when the layer has no such component, or -2 when
 * the table is full. */
static int plan_unit_of(model_spec *m, int li, int cat)
{
    const layer_spec *L = &m->layer[li];
    const comp_type *t[] = {L->attn.type, L->ffn.type, L->res.type, m->ple.type};
    if (!t[cat]) return -1;
    for (int u = 0; u < m->plan_units; u++)
        if (m->plan_unit[u].cat == cat && plan_same_comp(&m->layer[m->plan_unit[u].layer], L, cat)) return u;
    if (m->plan_units == SPEC_PLAN_UNITS) return -2;
    m->plan_unit[m->plan_units].cat = (short)cat;
    m->plan_unit[m->plan_units].layer = li;
    return m->plan_units++;
}

void spec_plan(model_spec *m)
{
    for (u64 i = 0; i < m->n_layers; i++) seal_layer(&m->layer[i]);
    if (m->mtp_n) seal_layer(&m->mtp);
    int row_of[SPEC_MAX_KINDS][2], ord[SPEC_MAX_LAYERS];
    memset(row_of, -1, sizeof row_of);
    m->plan_n = 0;
    m->plan_rows = m->plan_roots = m->plan_units = m->plan_pairs = 0;
    m->plan_mtp = cost_mtp_stored(m, &m->plan_mtp_params, &m->plan_mtp_weight_bytes) == SIM_OK;
    m->plan_wrate_ok = true;
    for (int k = 0; k < WC_COUNT; k++)
        if (cost_wrate_prep(&m->plan_wrate[k], &m->weight[k])) m->plan_wrate_ok = false;
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *L = &m->layer[i];
        int *row = &row_of[L->kind][L->shared_kv];
        if (*row < 0) {
            *row = m->plan_rows++;
            m->plan_row[*row].kind = (short)L->kind;
            m->plan_row[*row].shared_kv = L->shared_kv;
            m->plan_row[*row].layers = 0;
            /* the row's name as cost_eval shows it (kind_name < 32 bytes: it fits) */
            char *name = m->plan_row[*row].name;
            size_t len = strlen(m->kind_name[L->kind]);
            memset(name, 0, sizeof m->plan_row[*row].name);
            memcpy(name, m->kind_name[L->kind], len);
            if (L->shared_kv) memcpy(name + len, "/shared", 7);
            _Static_assert(sizeof m->kind_name[0] + 7 <= sizeof m->plan_row[0].name, "a row's name fits");
        }
        m->plan_row[*row].layers++;
        int root;
        if (L->same_cost_as < 0) {
            if (m->plan_roots == SPEC_PLAN_MAX) return;
            root = ord[i] = m->plan_roots;
            m->plan_root[m->plan_roots++] = (int)i;
            for (int cat = 0; cat < COMP_CAT_COUNT; cat++)
                if ((m->plan_root_unit[root][cat] = (short)plan_unit_of(m, (int)i, cat)) == -2) return;
        } else {
            root = ord[L->same_cost_as];
        }
        for (int cat = 0; cat < COMP_CAT_COUNT; cat++) {
            int u = m->plan_root_unit[root][cat], p = 0;
            if (u < 0) continue;
            while (p < m->plan_pairs && (m->plan_pair[p].row != *row || m->plan_pair[p].unit != u)) p++;
            if (p == m->plan_pairs) {
                if (p == SPEC_PLAN_UNITS) return;
                m->plan_pair[p].row = (short)*row;
                m->plan_pair[p].unit = (short)u;
                m->plan_pair[p].count = 0;
                m->plan_pairs++;
            }
            m->plan_pair[p].count++;
        }
    }
    m->plan_n = m->n_layers;
}

static int check_layers(model_spec *m, const ynode *root, sim_err *e)
{
    char pos[300];
    for (u64 i = 0; i < m->n_layers; i++) {
        layer_spec *L = &m->layer[i];
        const ynode *kn = yt_get(yt_get(root, "layers"), m->kind_name[L->kind]);
        if (L->attn.kv_from >= 0) {
            /* Follow chains to the owner; kv_from < i so there are no cycles. */
            int src = L->attn.kv_from;
            while (m->layer[src].attn.kv_from >= 0) src = m->layer[src].attn.kv_from;
            L->attn.kv_from = src;
            const layer_spec *S = &m->layer[src];
            /* Sharing is modelled only by the types that say so (kv_share):
             * the others' cost functions and kernels price their own caches. */
            if (!L->attn.type->kv_share) {
                char ok[200] = "";
                for (int k = 0; k < comp_registry_count; k++)
                    if (comp_registry[k]->kv_share)
                        snprintf(ok + strlen(ok), sizeof ok - strlen(ok), "%s%s", *ok ? ", " : "", comp_registry[k]->name);
                return sim_fail(e, SIM_EINVAL, "%s: layer %llu shares layer %d's cache, but cross-layer KV sharing is "
                                "supported for %s layers only (this layer is %s)", POS(kn), (unsigned long long)i, src,
                                ok, L->attn.type->name);
            }
            /* Same attention type and the same cache at every length: compare
             * the size tables at a few lengths (entries and entry bytes). */
            bool same = S->attn.type == L->attn.type;
            static const u64 probe[] = {1, 127, 4099, 1000003};
            for (int p = 0; same && p < 4; p++) {
                kv_buf a[KV_MAX_BUFS], b[KV_MAX_BUFS];
                sim_err sub;
                int na = S->attn.type->kv_table(m, S, probe[p], a, &sub), nb = L->attn.type->kv_table(m, L, probe[p], b, &sub);
                same = na == nb && na > 0;
                for (int k = 0; same && k < na; k++)
                    same = a[k].entries == b[k].entries && a[k].entry_bytes == b[k].entry_bytes;
            }
            if (!same)
                return sim_fail(e, SIM_EINVAL, "%s: layer %llu shares the cache of layer %d, whose attention type or "
                                "cache (entries or entry sizes) differs", POS(kn),
                                (unsigned long long)i, src);
            L->shared_kv = true;
        }
        if (L->res.streams) {   /* a multi-stream residual (mHC) */
            if (m->hc_streams && m->hc_streams != L->res.streams)
                return sim_fail(e, SIM_EINVAL, "%s: layer %llu uses %llu mHC streams but earlier layers use %llu; "
                                "every mHC layer must use the same number", POS(kn), (unsigned long long)i,
                                (unsigned long long)L->res.streams, (unsigned long long)m->hc_streams);
            m->hc_streams = L->res.streams;
        }
    }
    /* Layers whose whole config matches an earlier layer's cost the same:
     * cost_eval copies instead of recomputing (61 layers -> 4 evaluations for
     * V4-Pro). kv_from is ignored for the match: it changes no count. */
    for (u64 i = 0; i < m->n_layers; i++) {
        layer_spec *L = &m->layer[i];
        L->same_cost_as = -1;
        for (u64 j = 0; j < i && L->same_cost_as < 0; j++) {
            const layer_spec *S = &m->layer[j];
            if (S->same_cost_as >= 0 || S->shared_kv != L->shared_kv) continue;
            attn_cfg a = S->attn;
            a.kv_from = L->attn.kv_from;
            if (!memcmp(&a, &L->attn, sizeof a) && !memcmp(&S->ffn, &L->ffn, sizeof S->ffn) &&
                !memcmp(&S->res, &L->res, sizeof S->res))
                L->same_cost_as = (int)j;
        }
        m->brief[i].kind = (short)L->kind;
        m->brief[i].shared_kv = L->shared_kv;
        m->brief[i].same_cost_as = L->same_cost_as;
    }
    m->brief_n = m->n_layers;
    spec_plan(m);
    return SIM_OK;
}

static int parse_top(model_spec *m, const ynode *root, sim_err *e)
{
    char pos[300];
    int rc;
    static const char *const keys[] = {
        "name", "sources", "notes", "d_model", "n_layers", "vocab", "tie_embeddings", "ple", "kv_dtype", "rope", "norm_eps", "embed_scale", "logit_softcap",
        "act_dtype", "weights", "compute", "formats", "ffn", "residual", "layers", "pattern",
        "kv_sharing", "overrides", "per_layer", "mtp", NULL};
    if ((rc = spec_want_map(root, "a spec", e)) || (rc = spec_check_keys(root, keys, "a spec", e))) return rc;
    const ynode *nm = yt_get(root, "name");
    const char *s;
    if (!nm) return sim_fail(e, SIM_EINVAL, "%s: missing required key 'name'", POS(root));
    if ((rc = yt_str(nm, &s, e))) return rc;
    if (!*s || strlen(s) >= sizeof m->name)
        return sim_fail(e, SIM_EINVAL, "%s: name must be 1-%zu characters", POS(nm), sizeof m->name - 1);
    strcpy(m->name, s);
    if ((rc = spec_get_u64(root, "d_model", 1, 1u << 20, true, &m->d_model, "elements", e))) return rc;
    if ((rc = spec_get_u64(root, "n_layers", 1, SPEC_MAX_LAYERS, true, &m->n_layers, "layers", e))) return rc;
    if ((rc = spec_get_u64(root, "vocab", 1, 1u << 24, true, &m->vocab, "tokens", e))) return rc;
    if (yt_get(root, "tie_embeddings") && (rc = yt_bool(yt_get(root, "tie_embeddings"), &m->tie_embeddings, e))) return rc;
    m->rope.theta = 10000;   /* defaults: the original RoPE base, RMSNorm eps 1e-6 */
    m->norm_eps = 1e-6;
    if (yt_get(root, "rope") && (rc = spec_parse_rope(m, yt_get(root, "rope"), e))) return rc;
    if ((rc = spec_get_real(root, "norm_eps", 1e-12, 1e-1, false, &m->norm_eps, e))) return rc;
    if ((rc = spec_get_real(root, "logit_softcap", 0, 1e6, false, &m->logit_softcap, e))) return rc;
    if (yt_get(root, "embed_scale") && (rc = yt_bool(yt_get(root, "embed_scale"), &m->embed_scale, e))) return rc;
    const ynode *ple = yt_get(root, "ple");
    if (ple) {
        m->ple.vocab = m->vocab;   /* default: the model's vocabulary */
        if ((rc = spec_parse_comp(m, ple, COMP_PLE, &m->ple, &m->ple.type, NULL, e))) return rc;
    }
    const ynode *fm = yt_get(root, "formats");
    if (fm && (rc = spec_parse_formats(m, fm, e))) return rc;
    fmt_from_dtype(&m->kv_default, DT_BF16);
    if (yt_get(root, "kv_dtype") && (rc = spec_get_fmt(m, yt_get(root, "kv_dtype"), &m->kv_default, e))) return rc;
    m->act_dt = DT_BF16;
    if (yt_get(root, "act_dtype") && (rc = spec_get_dtype(yt_get(root, "act_dtype"), &m->act_dt, true, e))) return rc;
    for (int c = 0; c < CC_COUNT; c++) m->compute[c] = DT_BF16;
    const ynode *cm = yt_get(root, "compute");
    if (cm) {
        static const char *const ck[] = {"linear", "attention", "indexer", NULL};
        if ((rc = spec_want_map(cm, "compute", e)) || (rc = spec_check_keys(cm, ck, "compute", e))) return rc;
        for (int c = 0; c < CC_COUNT; c++)
            if (yt_get(cm, ck[c]) && (rc = spec_get_dtype(yt_get(cm, ck[c]), &m->compute[c], true, e))) return rc;
    }
    fmt_from_dtype(&m->weight[WC_LINEAR], DT_BF16);
    const ynode *wm = yt_get(root, "weights");
    static const char *const wk[] = {"linear", "experts", "embed", "small", "compressor", "router", NULL};
    if (wm) {
        if ((rc = spec_want_map(wm, "weights", e)) || (rc = spec_check_keys(wm, wk, "weights", e))) return rc;
        if (yt_get(wm, "linear") && (rc = spec_get_fmt(m, yt_get(wm, "linear"), &m->weight[WC_LINEAR], e))) return rc;
    }
    for (int c = 1; c < WC_COUNT; c++) {
        /* Small vectors (norms, biases, mHC) default to the linear dtype when
         * that is a bare dtype, else bf16. */
        if (c == WC_SMALL && fmt_elements(&m->weight[WC_LINEAR])) fmt_from_dtype(&m->weight[c], DT_BF16);
        else if (c == WC_SMALL && m->weight[WC_LINEAR].part[0].scaled) fmt_from_dtype(&m->weight[c], DT_BF16);
        else if (c == WC_ROUTER) m->weight[c] = m->weight[WC_SMALL];
        else m->weight[c] = m->weight[WC_LINEAR];
        if (wm && yt_get(wm, wk[c]) && (rc = spec_get_fmt(m, yt_get(wm, wk[c]), &m->weight[c], e))) return rc;
    }
    return SIM_OK;
}

/* A --set into a layer kind must name a kind the spec has: a misspelt kind
 * would otherwise add a new, unused kind and change nothing. (Assigning a
 * whole kind, `layers.K={type: ...}`, defines one.) */
static int check_set_target(const ynode *root, const char *set, sim_err *e)
{
    const char *eq = strchr(set, '=');
    if (strncmp(set, "layers.", 7) || !eq) return SIM_OK;
    const char *k = set + 7, *dot = memchr(k, '.', (size_t)(eq - k));
    if (!dot) return SIM_OK;
    const ynode *km = yt_get(root, "layers"), *nm = yt_get(root, "name");
    char kind[64];
    snprintf(kind, sizeof kind, "%.*s", (int)(dot - k), k);
    if (!km || km->kind != YT_MAP || yt_get(km, kind)) return SIM_OK;
    char names[400] = "";
    for (size_t i = 0; i + 1 < km->n; i += 2)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? ", " : "", km->kid[i]->str);
    return sim_fail(e, SIM_EINVAL, "--set %.*s: no layer kind '%s' in %s (kinds: %s)", (int)(eq - set), set, kind,
                    nm && nm->kind == YT_SCALAR ? nm->str : "this spec", names);
}

/* Every layer kind must be used by some layer, or at least be a complete
 * kind (with `type:`): an unused kind without a type is a typo's leftover. */
static int check_unused_kinds(const model_spec *m, const ynode *km, const int *kinds, sim_err *e)
{
    char pos[300];
    for (int k = 0; k < m->n_kinds; k++) {
        bool used = false;
        for (u64 i = 0; i < m->n_layers && !used; i++) used = kinds[i] == k;
        const ynode *kn = yt_get(km, m->kind_name[k]);
        if (used || yt_get(kn, "type")) continue;
        char names[400] = "";
        for (int j = 0; j < m->n_kinds; j++) {
            bool u = false;
            for (u64 i = 0; i < m->n_layers && !u; i++) u = kinds[i] == j;
            if (u) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? ", " : "", m->kind_name[j]);
        }
        return sim_fail(e, SIM_EINVAL, "%s: layer kind '%s' has no `type:` and no layer uses it (the layers use: %s)",
                        POS(kn), m->kind_name[k], names);
    }
    return SIM_OK;
}

int spec_load_tree(model_spec *m, ynode *root, char *yaml_text, const char *path,
                   const char *const *sets, int n_sets, sim_err *e)
{
    char pos[300];
    int rc;
    int *kinds = NULL;
    bool *ov_mask = NULL;   /* [override][layer]: which layers each override names */
    memset(m, 0, sizeof *m);
    m->yaml_text = yaml_text;
    snprintf(m->path, sizeof m->path, "%s", path);
    for (int i = 0; i < n_sets; i++)
        if ((rc = check_set_target(root, sets[i], e)) || (rc = yt_set_path(root, sets[i], e))) goto fail;
    if ((rc = parse_top(m, root, e))) goto fail;

    const ynode *km = yt_get(root, "layers");
    if (!km) { rc = sim_fail(e, SIM_EINVAL, "%s: missing `layers:` (the layer kinds)", POS(root)); goto fail; }
    if ((rc = spec_want_map(km, "layers", e))) goto fail;
    if (km->n == 0) { rc = sim_fail(e, SIM_EINVAL, "%s: `layers:` defines no layer kind", POS(km)); goto fail; }
    for (size_t i = 0; i + 1 < km->n; i += 2) {
        if (m->n_kinds == SPEC_MAX_KINDS) { rc = sim_fail(e, SIM_EINVAL, "%s: more than %d layer kinds", POS(km->kid[i]), SPEC_MAX_KINDS); goto fail; }
        const char *kname = km->kid[i]->str;
        if (!*kname || strlen(kname) >= sizeof m->kind_name[0]) {
            rc = sim_fail(e, SIM_EINVAL, "%s: kind names are 1-31 characters", POS(km->kid[i])); goto fail;
        }
        for (int k = 0; k < m->n_kinds; k++)
            if (!strcmp(m->kind_name[k], kname)) { rc = sim_fail(e, SIM_EINVAL, "%s: duplicate kind '%s'", POS(km->kid[i]), kname); goto fail; }
        if ((rc = spec_want_map(km->kid[i + 1], "a layer kind", e))) goto fail;
        strcpy(m->kind_name[m->n_kinds++], kname);
    }
    kinds = calloc(m->n_layers, sizeof *kinds);
    m->layer = calloc(m->n_layers, sizeof *m->layer);
    if (!kinds || !m->layer) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
    const ynode *pat = yt_get(root, "pattern");
    if (!pat) {
        if (m->n_kinds != 1) { rc = sim_fail(e, SIM_EINVAL, "%s: `pattern:` is required when there is more than one layer kind", POS(root)); goto fail; }
    } else if ((rc = expand_pattern(m, pat, kinds, e))) {
        goto fail;
    }
    if ((rc = check_unused_kinds(m, km, kinds, e))) goto fail;
    /* Validate the shape of overrides and per_layer once, before the layers use them. */
    const ynode *ov = yt_get(root, "overrides");
    if (ov) {
        if (ov->kind != YT_SEQ) { rc = sim_fail(e, SIM_EINVAL, "%s: `overrides:` is a list of {layers, set|ffn|residual}", POS(ov)); goto fail; }
        if (ov->n > 256) { rc = sim_fail(e, SIM_EINVAL, "%s: more than 256 overrides", POS(ov)); goto fail; }
        ov_mask = calloc(ov->n * m->n_layers, sizeof *ov_mask);
        if (!ov_mask) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
        for (size_t k = 0; k < ov->n; k++) {
            const ynode *o = ov->kid[k];
            static const char *const okeys[] = {"layers", "set", "ffn", "residual", NULL};
            if ((rc = spec_want_map(o, "an override", e)) || (rc = spec_check_keys(o, okeys, "an override", e))) goto fail;
            if (!yt_get(o, "layers")) { rc = sim_fail(e, SIM_EINVAL, "%s: an override needs `layers:`", POS(o)); goto fail; }
            if ((rc = range_mark(yt_get(o, "layers"), m->n_layers, ov_mask + k * m->n_layers, 0, e))) goto fail;
            const ynode *st = yt_get(o, "set");
            if (st && (rc = spec_want_map(st, "`set:`", e))) goto fail;
        }
    }
    const ynode *pl = yt_get(root, "per_layer");
    if (pl) {
        if ((rc = spec_want_map(pl, "per_layer", e))) goto fail;
        for (size_t k = 0; k + 1 < pl->n; k += 2)
            if (pl->kid[k + 1]->kind != YT_SEQ || pl->kid[k + 1]->n != m->n_layers) {
                rc = sim_fail(e, SIM_EINVAL, "%s: per_layer '%s' must be a list of n_layers = %llu values", POS(pl->kid[k + 1]),
                              pl->kid[k]->str, (unsigned long long)m->n_layers);
                goto fail;
            }
    }
    for (u64 i = 0; i < m->n_layers; i++)
        if ((rc = build_layer(m, root, km, kinds[i], i, ov_mask, &m->layer[i], e))) goto fail;
    const ynode *ks = yt_get(root, "kv_sharing");
    if (ks && (rc = apply_sharing(m, ks, e))) goto fail;
    const ynode *mt = yt_get(root, "mtp");
    if (mt && (rc = parse_mtp(m, root, km, mt, e))) goto fail;
    if ((rc = check_layers(m, root, e))) goto fail;
    free(kinds);
    free(ov_mask);
    yt_free(root);
    return SIM_OK;
fail:
    free(kinds);
    free(ov_mask);
    yt_free(root);
    spec_free(m);
    return rc;
}

int spec_load(model_spec *m, const char *path, const char *const *sets, int n_sets, sim_err *e)
{
    ynode *root;
    memset(m, 0, sizeof *m);
    size_t plen = strlen(path);
    if (plen > 5 && !strcmp(path + plen - 5, ".json"))
        return sim_fail(e, SIM_EINVAL, "%s: a .json config is not a spec: the model library reads YAML specs "
                        "(kvsim's commands import a config.json themselves; `kvsim import` writes its spec)", path);
    int rc = yt_load_file(path, &root, e);
    if (rc) return rc;
    /* Keep the exact text for content hashes (sweeps key points by it). */
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    if (f) {
        text = malloc(YT_MAX_BYTES + 1);
        if (text) {
            size_t n = fread(text, 1, YT_MAX_BYTES, f);
            text[n] = 0;
            char *shrunk = realloc(text, n + 1);
            if (shrunk) text = shrunk;
        }
        fclose(f);
    }
    return spec_load_tree(m, root, text, path, sets, n_sets, e);
}

void spec_free(model_spec *m)
{
    free(m->layer);
    free(m->yaml_text);
    m->layer = NULL;
    m->yaml_text = NULL;
}

int spec_set_choice(model_spec *m, const char *key, const char *value, int *n, sim_err *e)
{
    *n = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        const comp_type *ts[] = {m->layer[i].attn.type, m->layer[i].ffn.type, m->layer[i].res.type};
        void *cfg[] = {&m->layer[i].attn, &m->layer[i].ffn, &m->layer[i].res};
        for (int k = 0; k < 3; k++)
            for (const field_def *f = ts[k] ? ts[k]->fields : NULL; f && f->key; f++) {
                if (f->kind != F_CHOICE || strcmp(f->key, key)) continue;
                u64 idx;
                if (!spec_choice_index(f->unit, value, &idx))
                    return sim_fail(e, SIM_EINVAL, "%s '%s' is not one of %s", key, value, f->unit);
                *(u64 *)(void *)((char *)cfg[k] + f->off) = idx;
                ++*n;
            }
    }
    spec_plan(m);   /* its units compare the configs just changed */
    return SIM_OK;
}

void spec_layer_type_name(const model_spec *m, int i, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", m->kind_name[m->layer[i].kind], m->layer[i].shared_kv ? "/shared" : "");
}
