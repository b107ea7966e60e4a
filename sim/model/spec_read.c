/* spec_read.c - the spec loader's readers of YAML values: key checks,
 * numbers, reals, dtypes, formats, choices, the `rope:` block and a
 * component's fields (spec_read.h). */
#include "spec_read.h"
#include "layer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* Refuse keys not in `allowed` (NULL-terminated). */
int spec_check_keys(const ynode *map, const char *const *allowed, const char *where, sim_err *e)
{
    char pos[300];
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const ynode *k = map->kid[i];
        if (k->kind != YT_SCALAR) return sim_fail(e, SIM_EINVAL, "%s: keys must be plain text", POS(k));
        bool ok = false;
        for (const char *const *a = allowed; *a; a++) ok |= !strcmp(*a, k->str);
        if (!ok) {
            char list[400] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 3);
                if (a[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            return sim_fail(e, SIM_EINVAL, "%s: unknown key '%s' in %s (allowed: %s)", POS(k), k->str, where, list);
        }
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(map->kid[j]->str, k->str))
                return sim_fail(e, SIM_EINVAL, "%s: duplicate key '%s'", POS(k), k->str);
    }
    return SIM_OK;
}

int spec_want_map(const ynode *n, const char *what, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_MAP)
        return sim_fail(e, SIM_EINVAL, "%s: %s must be a mapping (key: value lines)", POS(n), what);
    return SIM_OK;
}

int spec_get_u64(const ynode *map, const char *key, u64 lo, u64 hi, bool required, u64 *out,
                   const char *unit, sim_err *e)
{
    char pos[300];
    const ynode *n = yt_get(map, key);
    if (!n) {
        if (required) return sim_fail(e, SIM_EINVAL, "%s: missing required key '%s' (%s)", POS(map), key, unit);
        return SIM_OK;
    }
    int rc = yt_u64(n, out, e);
    if (rc) return rc;
    if (*out < lo || *out > hi)
        return sim_fail(e, SIM_EINVAL, "%s: %s = %llu is out of range [%llu, %llu] %s", POS(n), key,
                        (unsigned long long)*out, (unsigned long long)lo, (unsigned long long)hi, unit);
    return SIM_OK;
}

int spec_get_dtype(const ynode *n, dtype *out, bool need_compute, sim_err *e)
{
    char pos[300];
    const char *s;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    if (dtype_find(s, out))
        return sim_fail(e, SIM_EINVAL, "%s: unknown dtype '%s' (known: fp32, tf32, bf16, fp16, fp8_e4m3 (fp8), "
                        "fp8_e5m2, int8, ue8m0, fp4_e2m1 (fp4), int4)", POS(n), s);
    if (need_compute && !dtype_table[*out].compute)
        return sim_fail(e, SIM_EINVAL, "%s: '%s' is a scale dtype, not a compute dtype", POS(n), s);
    return SIM_OK;
}

/* A real number in [lo, hi] at key of map (absent: *out unchanged, unless required). */
int spec_get_real(const ynode *map, const char *key, double lo, double hi, bool required, double *out, sim_err *e)
{
    char pos[300];
    const ynode *n = yt_get(map, key);
    if (!n) return required ? sim_fail(e, SIM_EINVAL, "%s: missing required key '%s'", POS(map), key) : SIM_OK;
    const char *t;
    char *end;
    int rc = yt_str(n, &t, e);
    if (rc) return rc;
    double v = strtod(t, &end);
    if (n->quoted || end == t || *end || !(v >= lo && v <= hi))
        return sim_fail(e, SIM_EINVAL, "%s: %s must be a number in [%g, %g], got '%s'", POS(n), key, lo, hi, t);
    *out = v;
    return SIM_OK;
}

/* `rope: {theta, scaling: {type, ...}}` (see rope_cfg in spec.h). */
int spec_parse_rope(model_spec *m, const ynode *r, sim_err *e)
{
    char pos[300];
    static const char *const keys[] = {"theta", "scaling", NULL};
    int rc;
    if ((rc = spec_want_map(r, "rope", e)) || (rc = spec_check_keys(r, keys, "rope", e))) return rc;
    if ((rc = spec_get_real(r, "theta", 1, 1e12, false, &m->rope.theta, e))) return rc;
    const ynode *sc = yt_get(r, "scaling");
    if (!sc) return SIM_OK;
    static const char *const types[] = {"none", "linear", "llama3", "yarn"};
    static const char *const allowed[][8] = {
        {"type", NULL},
        {"type", "factor", NULL},
        {"type", "factor", "low_freq_factor", "high_freq_factor", "original_max_position", NULL},
        {"type", "factor", "original_max_position", "beta_fast", "beta_slow", "mscale", "mscale_all_dim", NULL},
    };
    const char *t;
    if ((rc = spec_want_map(sc, "rope.scaling", e))) return rc;
    const ynode *tn = yt_get(sc, "type");
    if (!tn) return sim_fail(e, SIM_EINVAL, "%s: rope.scaling needs `type:` (none, linear, llama3, yarn)", POS(sc));
    if ((rc = yt_str(tn, &t, e))) return rc;
    int k = 0;
    while (k < 4 && strcmp(types[k], t)) k++;
    if (k == 4) return sim_fail(e, SIM_EINVAL, "%s: unknown rope.scaling type '%s' (none, linear, llama3, yarn)", POS(tn), t);
    if ((rc = spec_check_keys(sc, allowed[k], "rope.scaling", e))) return rc;
    m->rope.scaling = (rope_scale_kind)k;
    bool need = k != ROPE_SCALE_NONE;
    m->rope.factor = 1;
    if ((rc = spec_get_real(sc, "factor", 1, 1e6, need, &m->rope.factor, e))) return rc;
    if (k == ROPE_SCALE_LLAMA3) {
        if ((rc = spec_get_real(sc, "low_freq_factor", 1e-6, 1e6, true, &m->rope.low_freq_factor, e)) ||
            (rc = spec_get_real(sc, "high_freq_factor", 1e-6, 1e6, true, &m->rope.high_freq_factor, e)))
            return rc;
        if (m->rope.high_freq_factor <= m->rope.low_freq_factor)
            return sim_fail(e, SIM_EINVAL, "%s: rope.scaling: high_freq_factor must exceed low_freq_factor", POS(sc));
    }
    if (k == ROPE_SCALE_YARN) {
        m->rope.beta_fast = 32;   /* DeepSeek V3's defaults (inference/model.py ModelArgs) */
        m->rope.beta_slow = 1;
        m->rope.mscale = 1;
        m->rope.mscale_all_dim = 0;
        if ((rc = spec_get_real(sc, "beta_fast", 0, 1e6, false, &m->rope.beta_fast, e)) ||
            (rc = spec_get_real(sc, "beta_slow", 0, 1e6, false, &m->rope.beta_slow, e)) ||
            (rc = spec_get_real(sc, "mscale", 0, 1e6, false, &m->rope.mscale, e)) ||
            (rc = spec_get_real(sc, "mscale_all_dim", 0, 1e6, false, &m->rope.mscale_all_dim, e)))
            return rc;
    }
    if (k == ROPE_SCALE_LLAMA3 || k == ROPE_SCALE_YARN)
        if ((rc = spec_get_u64(sc, "original_max_position", 1, 1ull << 40, true, &m->rope.original_max_position, "tokens", e)))
            return rc;
    return SIM_OK;
}

/* A format reference: the name of a spec format, or a bare dtype. */
int spec_get_fmt(const model_spec *m, const ynode *n, fmt *out, sim_err *e)
{
    char pos[300];
    const char *s;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    for (int i = 0; i < m->n_formats; i++)
        if (!strcmp(m->formats[i].name, s)) { *out = m->formats[i]; return SIM_OK; }
    dtype dt;
    if (dtype_find(s, &dt) == SIM_OK) { fmt_from_dtype(out, dt); return SIM_OK; }
    return sim_fail(e, SIM_EINVAL, "%s: '%s' is neither a format defined under `formats:` nor a dtype", POS(n), s);
}

/* The index of s among the '|'-separated names in `choices`
 * ("auto|absorbed|expanded"); false if it is none of them. */
bool spec_choice_index(const char *choices, const char *s, u64 *out)
{
    size_t len = strlen(s);
    u64 i = 0;
    for (const char *c = choices;; i++) {
        const char *end = strchr(c, '|');
        size_t cl = end ? (size_t)(end - c) : strlen(c);
        if (cl == len && !strncmp(c, s, len)) { *out = i; return true; }
        if (!end) return false;
        c = end + 1;
    }
}

int spec_get_choice(const ynode *n, const char *key, const char *choices, u64 *out, sim_err *e)
{
    char pos[300];
    const char *s;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    if (!spec_choice_index(choices, s, out)) return sim_fail(e, SIM_EINVAL, "%s: %s '%s' is not one of %s", POS(n), key, s, choices);
    return SIM_OK;
}

int spec_parse_formats(model_spec *m, const ynode *fm, sim_err *e)
{
    char pos[300];
    int rc;
    if ((rc = spec_want_map(fm, "formats", e))) return rc;
    for (size_t i = 0; i + 1 < fm->n; i += 2) {
        const ynode *k = fm->kid[i], *v = fm->kid[i + 1];
        if (m->n_formats == SPEC_MAX_FORMATS)
            return sim_fail(e, SIM_EINVAL, "%s: more than %d formats", POS(k), SPEC_MAX_FORMATS);
        fmt *f = &m->formats[m->n_formats];
        memset(f, 0, sizeof *f);
        if (strlen(k->str) >= sizeof f->name || !*k->str)
            return sim_fail(e, SIM_EINVAL, "%s: format name must be 1-%zu characters", POS(k), sizeof f->name - 1);
        dtype dummy;
        if (dtype_find(k->str, &dummy) == SIM_OK)
            return sim_fail(e, SIM_EINVAL, "%s: format name '%s' is already a dtype name", POS(k), k->str);
        strcpy(f->name, k->str);
        static const char *const keys[] = {"parts", "pad", "align", NULL};
        if ((rc = spec_want_map(v, "a format", e)) || (rc = spec_check_keys(v, keys, "a format", e))) return rc;
        const ynode *parts = yt_get(v, "parts");
        if (!parts || parts->kind != YT_SEQ || parts->n == 0)
            return sim_fail(e, SIM_EINVAL, "%s: format '%s' needs `parts:`, a non-empty list", POS(v), f->name);
        if (parts->n > FMT_MAX_PARTS)
            return sim_fail(e, SIM_EINVAL, "%s: at most %d parts", POS(parts), FMT_MAX_PARTS);
        for (size_t p = 0; p < parts->n; p++) {
            const ynode *pn = parts->kid[p];
            static const char *const pkeys[] = {"name", "elements", "dtype", "scale", "block", NULL};
            if ((rc = spec_want_map(pn, "a format part", e)) || (rc = spec_check_keys(pn, pkeys, "a format part", e))) return rc;
            fmt_part *fp = &f->part[p];
            const ynode *dn = yt_get(pn, "dtype");
            if (!dn) return sim_fail(e, SIM_EINVAL, "%s: format part needs `dtype:`", POS(pn));
            if ((rc = spec_get_dtype(dn, &fp->dt, false, e))) return rc;
            bool adapt = parts->n == 1 && !yt_get(pn, "elements");
            if (!adapt && (rc = spec_get_u64(pn, "elements", 1, 1u << 24, true, &fp->elements, "elements", e))) return rc;
            const ynode *sn = yt_get(pn, "scale");
            if (sn) {
                fp->scaled = true;
                if ((rc = spec_get_dtype(sn, &fp->scale_dt, false, e))) return rc;
                if ((rc = spec_get_u64(pn, "block", 1, 1u << 24, true, &fp->block, "elements per scale", e))) return rc;
            } else if (yt_get(pn, "block")) {
                return sim_fail(e, SIM_EINVAL, "%s: `block:` needs `scale:` (the scale dtype)", POS(yt_get(pn, "block")));
            }
            if ((u64)dtype_table[fp->dt].bits * (fp->elements ? fp->elements : 8) % 8)
                return sim_fail(e, SIM_EINVAL, "%s: %llu x %s does not fill whole bytes", POS(pn),
                                (unsigned long long)fp->elements, dtype_table[fp->dt].name);
        }
        f->n_parts = (int)parts->n;
        if ((rc = spec_get_u64(v, "pad", 0, 1u << 20, false, &f->pad_bytes, "bytes", e))) return rc;
        if ((rc = spec_get_u64(v, "align", 1, 1u << 20, false, &f->align_bytes, "bytes", e))) return rc;
        m->n_formats++;
    }
    return SIM_OK;
}

/* Parse a component map (`type:` + the type's fields) into cfg. */
int spec_parse_comp(const model_spec *m, const ynode *n, comp_cat cat, void *cfg,
                      const comp_type **type_out, const char *const *extra_keys, sim_err *e)
{
    char pos[300], names[300];
    const char *const *what = comp_cat_name;
    int rc;
    if ((rc = spec_want_map(n, what[cat], e))) return rc;
    const ynode *tn = yt_get(n, "type");
    comp_names(cat, names, sizeof names);
    const comp_type *t = NULL;
    if (!tn) {
        /* A category of one type (ple) needs no `type:`. */
        t = comp_default(cat);
        if (!t || strchr(names, ','))
            return sim_fail(e, SIM_EINVAL, "%s: missing `type:` for %s (one of: %s)", POS(n), what[cat], names);
    } else {
        const char *tname;
        if ((rc = yt_str(tn, &tname, e))) return rc;
        t = comp_find(cat, tname);
        if (!t) return sim_fail(e, SIM_EINVAL, "%s: unknown %s type '%s' (one of: %s)", POS(tn), what[cat], tname, names);
    }
    *type_out = t;
    const char *allowed[64];
    int na = 0;
    allowed[na++] = "type";
    for (const char *const *x = extra_keys; x && *x; x++) allowed[na++] = *x;
    for (const field_def *f = t->fields; f->key; f++) allowed[na++] = f->key;
    allowed[na] = NULL;
    char where[80];
    snprintf(where, sizeof where, "%s type '%s'", what[cat], t->name);
    if ((rc = spec_check_keys(n, allowed, where, e))) return rc;
    for (const field_def *f = t->fields; f->key; f++) {
        const ynode *v = yt_get(n, f->key);
        char *p = (char *)cfg + f->off;
        if (!v) {
            if (f->required)
                return sim_fail(e, SIM_EINVAL, "%s: %s '%s' needs `%s:` (%s: %s)", POS(n), what[cat], t->name,
                                f->key, f->unit, f->help);
            continue;
        }
        if (f->kind == F_U64) {
            if ((rc = spec_get_u64(n, f->key, f->min, f->max, true, (u64 *)(void *)p, f->unit, e))) return rc;
        } else if (f->kind == F_BOOL) {
            if ((rc = yt_bool(v, (bool *)(void *)p, e))) return rc;
        } else if (f->kind == F_REAL) {
            if ((rc = spec_get_real(n, f->key, (double)f->min, (double)f->max, true, (double *)(void *)p, e))) return rc;
        } else if (f->kind == F_CHOICE) {
            if ((rc = spec_get_choice(v, f->key, f->unit, (u64 *)(void *)p, e))) return rc;
        } else {
            if ((rc = spec_get_fmt(m, v, (fmt *)(void *)p, e))) return rc;
        }
    }
    return SIM_OK;
}
