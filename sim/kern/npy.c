/* npy.c - .npy writer and the --dump layout; see npy.h. */
#include "npy.h"
#include "ref.h"
#include "quant.h"
#include "paths.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

int npy_write(const char *path, const char *descr, const void *data, size_t elem_bytes,
              const u64 *shape, int ndim, sim_err *e)
{
    char hdr[256], dims[160] = "";
    u64 n = 1;
    for (int k = 0; k < ndim; k++) {
        size_t o = strlen(dims);
        snprintf(dims + o, sizeof dims - o, "%llu,%s", (unsigned long long)shape[k], k + 1 < ndim ? " " : "");
        n *= shape[k];
    }
    int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    /* Pad with spaces and a final newline so the data starts on a 64-byte boundary. */
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return sim_fail(e, SIM_EIO, "%s: cannot create (%s)", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    unsigned hl = (unsigned)(len + pad + 1);
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)len, f) == (size_t)len;
    for (int k = 0; k < pad && ok; k++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && (n == 0 || fwrite(data, elem_bytes, n, f) == n);
    ok = (fclose(f) == 0) && ok;
    if (!ok) return sim_fail(e, SIM_EIO, "%s: write failed", path);
    return SIM_OK;
}

static void unit_name(const ref_layer *L, char *buf, size_t len)
{
    if (L->i >= 0) snprintf(buf, len, "L%d", L->i);
    else snprintf(buf, len, "%s", L->i == -1 ? "embed" : L->i == -2 ? "ple" : L->i == -4 ? "mtp" : "head");
}

static int dump_weights(const ref_layer *L, const char *dir, sim_err *e)
{
    char un[16], path[2048];
    unit_name(L, un, sizeof un);
    for (int k = 0; k < L->nw; k++) {
        const ref_w *w = L->w[k];
        u64 shape[2] = {w->rows, w->cols};
        snprintf(path, sizeof path, "%s/weights/%s.%s.npy", dir, un, w->name);
        int rc = npy_write(path, "<f4", w->data, 4, shape, 2, e);
        if (rc) return rc;
    }
    return SIM_OK;
}

static void json_u(FILE *f, const char *k, u64 v, bool comma)
{
    fprintf(f, "\"%s\": %llu%s", k, (unsigned long long)v, comma ? ", " : "");
}

/* Every field of a component's table as "key": value (formats by name),
 * in an object named `obj`: the whole layer for an independent reader. */
static void json_fields(FILE *f, const char *obj, const comp_type *t, const void *cfg)
{
    fprintf(f, "\"%s\": {", obj);
    for (const field_def *d = t ? t->fields : NULL; d && d->key; d++) {
        const char *p = (const char *)cfg + d->off;
        fprintf(f, "%s\"%s\": ", d == t->fields ? "" : ", ", d->key);
        if (d->kind == F_U64) fprintf(f, "%llu", (unsigned long long)*(const u64 *)(const void *)p);
        else if (d->kind == F_BOOL) fprintf(f, "%s", *(const bool *)(const void *)p ? "true" : "false");
        else if (d->kind == F_REAL) fprintf(f, "%.17g", *(const double *)(const void *)p);
        else if (d->kind == F_CHOICE) {   /* the name: index k of the '|'-separated unit */
            const char *c = d->unit;
            for (u64 k = *(const u64 *)(const void *)p; k && strchr(c, '|'); k--) c = strchr(c, '|') + 1;
            fprintf(f, "\"%.*s\"", (int)(strchr(c, '|') ? (size_t)(strchr(c, '|') - c) : strlen(c)), c);
        }
        else fprintf(f, "\"%s\"", ((const fmt *)(const void *)p)->name);
    }
    fprintf(f, "}, ");
}

/* One layer's descriptor (the layers' list and the MTP module's). */
static void json_layer(FILE *f, const layer_spec *L, const rope_cfg *r)
{
    const attn_cfg *a = &L->attn;
    fprintf(f, "  {\"attn\": \"%s\", \"ffn\": \"%s\", \"res\": \"%s\", ", a->type->name, L->ffn.type->name, L->res.type->name);
    json_u(f, "q_heads", a->q_heads, true);
    json_u(f, "kv_heads", a->kv_heads, true);
    json_u(f, "head_dim", a->head_dim, true);
    json_u(f, "v_head_dim", attn_vdim(a), true);
    json_u(f, "rope_dim", a->rope_dim, true);
    json_u(f, "window", a->window, true);
    json_u(f, "q_lora_rank", a->q_lora_rank, true);
    json_u(f, "kv_lora_rank", a->kv_lora_rank, true);
    json_u(f, "nope_dim", a->nope_dim, true);
    fprintf(f, "\"kv_from\": %d, \"qk_norm\": %s, \"k_eq_v\": %s, \"kv_format\": \"%s\", ", a->kv_from,
            a->qk_norm ? "true" : "false", a->k_eq_v ? "true" : "false", a->kv_fmt.name);
    json_fields(f, "attn_fields", a->type, a);
    json_fields(f, "ffn_fields", L->ffn.type, &L->ffn);
    json_fields(f, "res_fields", L->res.type, &L->res);
    /* The layer's RoPE base (its kind's rope_theta, else the model's) and layout. */
    fprintf(f, "\"rope_theta\": %.17g, \"rope_proportional\": %s, \"v_norm\": %s, \"unit_scale\": %s, \"act\": \"%s\", ",
            a->rope_theta ? (double)a->rope_theta : r->theta, a->rope_proportional ? "true" : "false",
            a->v_norm ? "true" : "false", a->unit_scale ? "true" : "false", L->ffn.act == FFN_ACT_GELU_TANH ? "gelu_tanh" : "silu");
    json_u(f, "d_ff", L->ffn.d_ff, false);
}

static int dump_meta(const ref_model *M, const char *dir, sim_err *e)
{
    const model_spec *m = M->m;
    char path[1024];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return sim_fail(e, SIM_EIO, "%s: cannot create (%s)", path, strerror(errno));
    fprintf(f, "{\"name\": \"%s\", ", m->name);
    json_u(f, "d_model", m->d_model, true);
    json_u(f, "n_layers", m->n_layers, true);
    json_u(f, "vocab", m->vocab, true);
    json_u(f, "hc_streams", m->hc_streams, true);
    json_u(f, "ple_dim", m->ple.dim, true);
    json_u(f, "seed", M->seed, true);
    /* fp8 here: DSA's indexer quantises q and k (dsa_index_fp8) */
    fprintf(f, "\"compute_indexer\": \"%s\", ", dsa_index_fp8(m) ? "fp8" : dtype_table[m->compute[CC_INDEXER]].name);
    /* %.17g: the doubles round-trip exactly. */
    static const char *const scal[] = {"none", "linear", "llama3", "yarn"};
    const rope_cfg *r = &m->rope;
    fprintf(f, "\"tie_embeddings\": %s, \"rope_theta\": %.17g, \"norm_eps\": %.17g, \"embed_scale\": %s, \"logit_softcap\": %.17g,\n",
            m->tie_embeddings ? "true" : "false", r->theta, m->norm_eps, m->embed_scale ? "true" : "false", m->logit_softcap);
    fprintf(f, " \"rope_scaling\": {\"type\": \"%s\", \"factor\": %.17g, \"low_freq_factor\": %.17g, \"high_freq_factor\": %.17g, "
            "\"original_max_position\": %llu, \"beta_fast\": %.17g, \"beta_slow\": %.17g, \"mscale\": %.17g, "
            "\"mscale_all_dim\": %.17g},\n \"layers\": [\n",
            scal[r->scaling], r->factor, r->low_freq_factor, r->high_freq_factor, (unsigned long long)r->original_max_position,
            r->beta_fast, r->beta_slow, r->mscale, r->mscale_all_dim);
    for (u64 i = 0; i < m->n_layers; i++) {
        json_layer(f, &m->layer[i], r);
        fprintf(f, "}%s\n", i + 1 < m->n_layers ? "," : "");
    }
    fprintf(f, " ]");
    if (m->mtp_n) {   /* the MTP module's layer (`run --mtp`) */
        fprintf(f, ",\n \"mtp\": ");
        json_layer(f, &m->mtp, r);
        fprintf(f, "}");
    }
    fprintf(f, "}\n");
    if (fclose(f)) return sim_fail(e, SIM_EIO, "%s: write failed", path);
    return SIM_OK;
}

int npy_dump_model(const ref_model *M, const char *dir, const int32_t *tok, u64 ntok, const char *ph, sim_err *e)
{
    char path[2048], sub[1024];
    int rc;
    if ((rc = sim_mkdir_p(dir, e))) return rc;
    snprintf(sub, sizeof sub, "%s/weights", dir);
    struct stat st;
    bool have_weights = stat(sub, &st) == 0;
    if ((rc = sim_mkdir_p(sub, e))) return rc;
    if (!have_weights || strcmp(ph, "prefill") == 0) {
        for (u64 i = 0; i < M->m->n_layers; i++)
            if ((rc = dump_weights(&M->L[i], dir, e))) return rc;
        if ((rc = dump_weights(&M->embed, dir, e)) || (rc = dump_weights(&M->ple, dir, e)) ||
            (rc = dump_weights(&M->head, dir, e)) || (rc = dump_weights(&M->mtp, dir, e)) || (rc = dump_meta(M, dir, e)))
            return rc;
    }
    u64 shape[2] = {ntok, 0};
    snprintf(path, sizeof path, "%s/tokens.npy", dir);
    if ((rc = npy_write(path, "<i4", tok, 4, shape, 1, e))) return rc;
    snprintf(sub, sizeof sub, "%s/%s", dir, ph);
    if ((rc = sim_mkdir_p(sub, e))) return rc;
    for (int k = 0; k < M->ntr; k++) {
        const ref_trace_t *t = &M->tr[k];
        char un[16];
        if (t->layer >= 0) snprintf(un, sizeof un, "L%d.", t->layer);
        else un[0] = 0;
        snprintf(path, sizeof path, "%s/%s%s.npy", sub, un, t->name);
        u64 sh[2] = {t->rows, t->cols};
        if ((rc = npy_write(path, "<f4", t->data, 4, sh, 2, e))) return rc;
    }
    snprintf(sub, sizeof sub, "%s/%s/cache", dir, ph);
    if ((rc = sim_mkdir_p(sub, e))) return rc;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        const ref_layer *L = &M->L[i];
        for (int k = 0; k < L->ncache; k++) {
            const ref_cache *c = &L->kv[k];
            float *rows = malloc((c->entries * c->elems > 0 ? c->entries * c->elems : 1) * sizeof(float));
            if (!rows) return sim_fail(e, SIM_ENOMEM, "out of memory");
            for (u64 r = 0; r < c->entries; r++) quant_decode(&c->f, c->data + r * c->entry_bytes, c->elems, rows + r * c->elems);
            u64 sh[2] = {c->entries, c->elems};
            snprintf(path, sizeof path, "%s/L%llu.%s.npy", sub, (unsigned long long)i, c->name);
            rc = npy_write(path, "<f4", rows, 4, sh, 2, e);
            free(rows);
            if (rc) return rc;
            u64 sb[2] = {c->entries, c->entry_bytes};
            snprintf(path, sizeof path, "%s/L%llu.%s.bytes.npy", sub, (unsigned long long)i, c->name);
            if ((rc = npy_write(path, "|u1", c->data, 1, sb, 2, e))) return rc;
        }
    }
    return SIM_OK;
}
