/* engine.c - the KV-cache allocation rules of vLLM (v1 engine) and SGLang:
 * pages, blocks, layer groups and the numbers each engine logs at start-up,
 * from the KV budget of one device ("Available KV cache memory"). The rules
 * are summarised in research/serving.md; each one below cites the engine
 * file and function it was read from.
 *
 * vLLM pipeline (vllm/v1/core/kv_cache_utils.py):
 *   1. one KVCacheSpec per attention layer of this rank
 *      (GPUModelRunner.get_kv_cache_spec; layers with
 *      kv_sharing_target_layer_name, Gemma 4's shared layers, get none);
 *   2. get_kv_cache_groups: uniform spec -> one group; UniformTypeKVCacheSpecs
 *      -> one group whose page is the sum of its layers' pages; DeepSeek V4
 *      (SlidingWindowMLASpec present) -> group_and_unify_kv_cache_specs +
 *      _get_kv_cache_groups_uniform_groups; otherwise
 *      unify_kv_cache_spec_page_size + _get_kv_cache_groups_uniform_page_size;
 *   3. get_kv_cache_config_from_groups: num_blocks = avail // divisor;
 *   4. get_max_concurrency_for_kv_cache_config and get_kv_cache_capacity
 *      (or _report_kv_cache_config in older releases): the two log lines.
 */
#include "deploy.h"
#include "layer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* vLLM spec kinds (vllm/v1/kv_cache_interface.py). MLA counts as full
 * attention; SlidingWindowMLASpec is DeepSeek V4's window and state caches. */
enum { SK_FULL, SK_SLIDING, SK_MLA, SK_SWA_MLA };
static const char *const sk_name[] = {"full", "sliding", "mla", "swa_mla"};

typedef struct {
    int kind;
    u64 block;     /* tokens per block (block_size) */
    u64 page;      /* page_size_bytes, padding included */
    u64 window;    /* sliding_window (SK_SLIDING, SK_SWA_MLA) */
    u64 shape;     /* what else makes two specs unequal (heads x dims, entry bytes) */
    int layer;     /* model layer */
} espec;

#define SPECS_PER_LAYER 5   /* at most: V4 CSA main, indexer, window, two states */

typedef struct {
    int n, cap;
    espec *s;         /* cap specs */
    int *scr1, *scr2; /* cap ints each: scratch for bucketing */
} spec_list;

static u64 cdivu(u64 a, u64 b) { return a / b + (a % b != 0); }
static u64 round_up(u64 a, u64 b) { return cdivu(a, b) * b; }

static bool is_v4(const layer_spec *L)
{
    attn_kind k = deploy_attn_kind(L);
    return k == AK_CSA || k == AK_HCA || k == AK_SWA4;
}

u64 engine_default_block(const model_spec *m, engine_kind k)
{
    bool mla = false, dsa = false, v4 = false;
    for (u64 i = 0; i < m->n_layers; i++) {
        attn_kind t = deploy_attn_kind(&m->layer[i]);
        mla |= t == AK_MLA;
        dsa |= t == AK_DSA;
        v4 |= is_v4(&m->layer[i]);
    }
    /* vLLM: CacheConfig.block_size 16 on CUDA, replaced by the smallest size
     * the attention backend supports (AttentionBackend.get_preferred_block_size):
     * FlashMLA [64] (vllm/v1/attention/backends/mla/flashmla.py), FlashMLA
     * sparse for V3.2 64, DeepSeek V4's SWA backend 256
     * (vllm/v1/attention/backends/mla/sparse_swa.py; the recipes pass
     * --block-size 256). SGLang: page_size 1 unless the backend needs pages:
     * NSA (V3.2) 64, DeepSeek V4 256 (model runner asserts 256). */
    if (k == ENG_VLLM) return v4 ? 256 : (mla || dsa) ? 64 : 16;
    if (k == ENG_SGLANG) return v4 ? 256 : dsa ? 64 : 1;
    return 0;
}

/* ---- vLLM specs ---------------------------------------------------------- */

static int add_spec(spec_list *L, espec s, sim_err *e)
{
    if (L->n == L->cap) return sim_fail(e, SIM_EINVAL, "too many KV cache specs");
    L->s[L->n++] = s;
    return SIM_OK;
}

/* The page of a V4 cache: `entries` rows of `bytes`, rounded up to 576 B
 * (_apply_alignment_padding with alignment 576 for the fp8_ds_mla layout,
 * kv_cache_interface.py; vllm/models/deepseek_v4/attention.py). */
static u64 v4_page(u64 entries, u64 bytes) { return round_up(entries * bytes, 576); }

static int vllm_specs(const model_spec *m, const deploy_cfg *d, u64 B, spec_list *out, sim_err *e)
{
    out->n = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *L = &m->layer[i];
        const attn_cfg *a = &L->attn;
        const char *t = a->type->name;
        /* Gemma 4: layers with kv_sharing_target_layer_name get no spec, no
         * memory (GPUModelRunner.get_kv_cache_spec skips them). */
        if (L->shared_kv) continue;
        /* a layer configured like an earlier one gets the same specs */
        int j = L->same_cost_as, rc;
        out->scr1[i] = out->n;
        if (j >= 0 && !m->layer[j].shared_kv) {
            int from = out->scr1[j], cnt = out->scr2[j];
            for (int k = 0; k < cnt; k++) {
                espec c = out->s[from + k];
                c.layer = (int)i;
                if ((rc = add_spec(out, c, e))) return rc;
            }
            out->scr2[i] = cnt;
            continue;
        }
        kv_buf b[KV_MAX_BUFS];
        int n = cost_kv_table(m, (int)i, 1, b, e);
        if (n < 0) return n;
        attn_kind ak = deploy_attn_kind(L);
        if (ak == AK_GQA || ak == AK_CCA) {
            /* Attention.get_kv_cache_spec: FullAttentionSpec or, with a
             * window, SlidingWindowSpec; page = B x Hkv x (d_k + d_v) x s
             * (real_page_size_bytes) with Hkv = max(1, G / tp)
             * (ModelConfig.get_num_kv_heads). K = V layers still allocate
             * both (Gemma 4 loads V with K's weights: no saving). */
            u64 G = a->kv_heads, hr = deploy_kv_heads_rank(G, d->tp), tok;
            u64 elems = ak == AK_CCA ? 2 * a->head_dim : a->head_dim + attn_vdim(a);
            if ((rc = fmt_entry_bytes(&a->kv_fmt, elems * hr, &tok, e))) return rc;
            espec s = {a->window ? SK_SLIDING : SK_FULL, B, B * tok, a->window, hr * 1000003 + elems, (int)i};
            if ((rc = add_spec(out, s, e))) return rc;
        } else if (ak == AK_MLA || ak == AK_DSA) {
            /* MLAAttentionSpec: one latent per token, num_kv_heads 1, page =
             * B x entry (576 x 2 B for V3 in BF16; 656 B for V3.2's
             * fp8_ds_mla). V3.2's indexer keys: a second MLAAttentionSpec
             * (head 132 B). MLA with a sliding window is rejected by vLLM:
             * counted as full. */
            for (int k = 0; k < n; k++) {
                espec s = {SK_MLA, B, B * b[k].entry_bytes, 0, b[k].entry_bytes, (int)i};
                if ((rc = add_spec(out, s, e))) return rc;
            }
        } else if (is_v4(L)) {
            /* DeepSeek V4 (vllm/models/deepseek_v4/attention.py and
             * compressor.py, vllm/v1/attention/backends/mla/sparse_swa.py;
             * research/serving.md 3.2), cache dtype fp8 -> fp8_ds_mla:
             *   main compressed KV  MLAAttentionSpec(compress_ratio r): B / r
             *                       entries of 584 B per block
             *   indexer keys (CSA)  MLAAttentionSpec(r), allocated at the FP8
             *                       size (index_head_dim + 4 B) even for an
             *                       FP4 indexer cache
             *   SWA window          SlidingWindowMLASpec(window W), block 64
             *   compressor states   SlidingWindowMLASpec: CSA block 4,
             *                       window 2r; HCA block 8, window r; fp32
             *                       kv + score halves (the spec's state rows)
             *                       (compressor.py CompressorStateCache.__init__:
             *                       sliding_window = coff x r, block 4 / 8,
             *                       state_dim 2 x coff x head_dim; its
             *                       get_kv_cache_spec: alignment 576 for fp8_ds_mla)
             * every page rounded up to 576 B. */
            u64 r = a->compress_ratio, kvb = b[0].entry_bytes;
            int k = 0;
            if (ak == AK_CSA || ak == AK_HCA) {
                if (B % r) return sim_fail(e, SIM_EINVAL, "vLLM DeepSeek V4: block %llu is not a multiple of the "
                                           "compression ratio %llu of layer %llu", (unsigned long long)B,
                                           (unsigned long long)r, (unsigned long long)i);
                espec s = {SK_MLA, B, v4_page(B / r, kvb), 0, r * 100000 + kvb, (int)i};
                if ((rc = add_spec(out, s, e))) return rc;
                k = 1;
                if (ak == AK_CSA) {
                    u64 ib = a->index_head_dim + 4;   /* FP8 keys + one fp32 scale */
                    espec si = {SK_MLA, B, v4_page(B / r, ib), 0, r * 100000 + ib, (int)i};
                    if ((rc = add_spec(out, si, e))) return rc;
                    k = 2;
                }
            }
            u64 wb = b[k].entry_bytes;   /* the window buffer follows the compressed ones */
            espec sw = {SK_SWA_MLA, 64, v4_page(64, wb), a->window, wb, (int)i};
            if ((rc = add_spec(out, sw, e))) return rc;
            for (int q = k + 1; q < n; q++) {
                bool csa = ak == AK_CSA;
                u64 sb = csa ? 4 : 8, sw_ = csa ? 2 * r : r;
                espec ss = {SK_SWA_MLA, sb, v4_page(sb, b[q].entry_bytes), sw_, b[q].entry_bytes, (int)i};
                if ((rc = add_spec(out, ss, e))) return rc;
            }
        } else {
            return sim_fail(e, SIM_EINVAL, "vLLM rules: attention type '%s' has no KV cache spec mapping", t);
        }
        out->scr2[i] = out->n - out->scr1[i];
    }
    if (d->spec_tokens && m->n_layers) {
        /* Speculative decoding with one MTP/EAGLE draft layer: its cache
         * specs join the model's (GPUModelRunner.get_kv_cache_spec covers the
         * drafter's attention too; _annotate_eagle_groups_deepseek_v4 flags
         * the group holding DeepSeek V4's MTP layer, which has compress
         * ratio 1: a window cache only). Placed on the last stage. */
        int last = -1;
        for (int i = (int)m->n_layers - 1; i >= 0 && last < 0; i--)
            if (!m->layer[i].shared_kv) last = i;
        int from = out->scr1[last], cnt = out->scr2[last];
        for (int k = 0; k < cnt; k++) {
            espec c = out->s[from + k];
            if (is_v4(&m->layer[last]) && c.kind != SK_SWA_MLA) continue;   /* MTP: r = 1 */
            if (is_v4(&m->layer[last]) && c.window != m->layer[last].attn.window) continue;   /* no states */
            int rc = add_spec(out, c, e);
            if (rc) return rc;
        }
    }
    return SIM_OK;
}

static bool spec_eq(const espec *a, const espec *b)
{
    return a->kind == b->kind && a->block == b->block && a->page == b->page && a->window == b->window &&
           a->shape == b->shape;
}

static bool full_like(int k) { return k == SK_FULL || k == SK_MLA; }

/* Blocks one request of L tokens holds in a spec (max_memory_usage_bytes /
 * page): FullAttentionSpec cdiv(cdiv(L, dcp), B); SlidingWindowSpec
 * cdiv(min(W - 1 + X, L), B) + 1 (max_admission_blocks_per_request; X the
 * in-flight tokens). */
static u64 spec_blocks(const espec *s, u64 L, u64 dcp, u64 X)
{
    if (full_like(s->kind)) return cdivu(dcp > 1 ? cdivu(L, dcp) : L, s->block);
    return cdivu(umin(s->window - 1 + X, L), s->block) + 1;
}

/* A group: its members (spec indices) and whether its page is the sum of
 * its members' pages (UniformTypeKVCacheSpecs) or one shared per-layer page. */
typedef struct {
    int first, n;        /* members: idx[first .. first + n) */
    bool uniform_type;
    int kind;
    u64 block;
    int slots;           /* layer slots, padding included (general path) */
} vgroup;

typedef struct {
    int *idx;            /* cap spec indices, group by group */
    int n_idx;
    vgroup g[DEPLOY_MAX_GROUPS];
    int n;
    int layout;          /* 0 general (group_size tensors), 1 one uniform-type group, 2 packed */
    u64 page;            /* the common page (general) */
} vplan;

static int new_group(vplan *p, bool ut, int kind, u64 block, sim_err *e)
{
    if (p->n == DEPLOY_MAX_GROUPS) return sim_fail(e, SIM_EINVAL, "more than %d KV cache groups", DEPLOY_MAX_GROUPS);
    p->g[p->n] = (vgroup){p->n_idx, 0, ut, kind, block, 0};
    p->n++;
    return SIM_OK;
}

static void push(vplan *p, int i) { p->idx[p->n_idx++] = i; p->g[p->n - 1].n++; }

/* _approximate_gcd (kv_cache_utils.py): d in [lower, max] minimising
 * sum((d - x % d) % d), ties to the larger d. */
static u64 approx_gcd(const u64 *x, int n, u64 lower)
{
    u64 mx = 0;
    for (int i = 0; i < n; i++) mx = umax(mx, x[i]);
    if (lower > mx) return lower;
    u64 best = lower, best_pad = UINT64_MAX;
    for (u64 d = lower; d <= mx; d++) {
        u64 pad = 0;
        for (int i = 0; i < n; i++) {
            /* (d - x % d) % d, in 32 bits (tuple counts are layer counts) */
            uint32_t r = (uint32_t)x[i] % (uint32_t)d;
            pad += r ? d - r : 0;
        }
        if (pad < best_pad || (pad == best_pad && d > best)) { best_pad = pad; best = d; }
    }
    return best;
}

/* The most common page count in a set of specs (get_num_layer_tuples). */
static u64 layer_tuples(const spec_list *S, const int *idx, int n)
{
    u64 page[16], cnt[16], best = 0;
    int np = 0;
    for (int a = 0; a < n; a++) {
        u64 pg = S->s[idx[a]].page;
        int k;
        for (k = 0; k < np && page[k] != pg; k++) {}
        if (k == np) {
            if (np == 16) continue;   /* more page sizes than any engine groups; ignored */
            page[np] = pg;
            cnt[np++] = 0;
        }
        best = umax(best, ++cnt[k]);
    }
    return best;
}

/* DeepSeek V4: group_and_unify_kv_cache_specs + _get_kv_cache_groups_uniform_groups.
 * Group 0 = every MLAAttentionSpec; the SlidingWindowMLASpec layers bucketed
 * by (block_size, sliding_window); num_layer_tuples = _approximate_gcd of the
 * buckets' tuple counts (lower bound: group 0's); each bucket split into
 * cdiv(n, d) groups taking every k-th layer tuple. */
static int plan_v4(spec_list *S, vplan *p, bool pad_to_mla, sim_err *e)
{
    int rc;
    p->layout = 2;
    if ((rc = new_group(p, true, SK_MLA, S->s[0].block, e))) return rc;
    for (int i = 0; i < S->n; i++)
        if (S->s[i].kind == SK_MLA) { push(p, i); p->g[0].block = S->s[i].block; }
    if (pad_to_mla) {
        /* Before v0.28 each sliding page was first padded up to the smallest
         * MLA page at least as large (so states shared the MLA buffers). */
        for (int i = 0; i < S->n; i++) {
            if (S->s[i].kind != SK_SWA_MLA) continue;
            u64 best = 0;
            for (int j = 0; j < S->n; j++)
                if (S->s[j].kind == SK_MLA && S->s[j].page >= S->s[i].page && (!best || S->s[j].page < best))
                    best = S->s[j].page;
            if (best) S->s[i].page = best;
        }
    }
    /* buckets in first-appearance order: bk[i] = bucket of spec i (-1: an
     * MLA spec); bidx = the specs bucket by bucket, bucket k from bst[k] */
    u64 bkey[16][2];
    int nb = 0, bn[16] = {0}, bst[16], *bk = S->scr1, *bflat = S->scr2;
    for (int i = 0; i < S->n; i++) {
        bk[i] = -1;
        if (S->s[i].kind != SK_SWA_MLA) continue;
        int k;
        for (k = 0; k < nb; k++)
            if (bkey[k][0] == S->s[i].block && bkey[k][1] == S->s[i].window) break;
        if (k == nb) {
            if (nb == 16) return sim_fail(e, SIM_EINVAL, "too many sliding cache kinds");
            bkey[nb][0] = S->s[i].block;
            bkey[nb][1] = S->s[i].window;
            nb++;
        }
        bk[i] = k;
        bn[k]++;
    }
    int fill[16];
    for (int k = 0, pos = 0; k < nb; k++) { bst[k] = fill[k] = pos; pos += bn[k]; }
    for (int i = 0; i < S->n; i++)
        if (bk[i] >= 0) bflat[fill[bk[i]]++] = i;
#define BIDX(k, j) bflat[bst[k] + (j)]
    u64 tuples[17];
    tuples[0] = layer_tuples(S, p->idx, p->g[0].n);
    for (int k = 0; k < nb; k++) tuples[k + 1] = layer_tuples(S, &bflat[bst[k]], bn[k]);
    u64 d = approx_gcd(tuples, nb + 1, tuples[0]);
    for (int k = 0; k < nb; k++) {
        /* the bucket's layers by page size, in order; every size has the
         * same count (asserted by vLLM) */
        u64 sizes[8];
        int ns = 0;
        for (int j = 0; j < bn[k]; j++) {
            u64 pg = S->s[BIDX(k, j)].page;
            int q;
            for (q = 0; q < ns && sizes[q] != pg; q++) {}
            if (q == ns) { if (ns == 8) return sim_fail(e, SIM_EINVAL, "too many page sizes"); sizes[ns++] = pg; }
        }
        u64 per = 0;
        for (int j = 0; j < bn[k]; j++) per += S->s[BIDX(k, j)].page == sizes[0];
        for (int q = 1; q < ns; q++) {
            u64 c = 0;
            for (int j = 0; j < bn[k]; j++) c += S->s[BIDX(k, j)].page == sizes[q];
            if (c != per)
                return sim_fail(e, SIM_EINVAL, "vLLM DeepSeek V4 grouping: page sizes of one sliding bucket have "
                                "different layer counts (vLLM asserts they match)");
        }
        u64 ng = cdivu(per, d);
        for (u64 gi = 0; gi < ng; gi++) {
            if ((rc = new_group(p, true, SK_SWA_MLA, bkey[k][0], e))) return rc;
            /* tuple t = the t-th layer of each page size; group gi takes t = gi, gi + ng, ... */
            for (int q = 0; q < ns; q++) {
                u64 t = 0;   /* t mod ng, counted */
                for (int j = 0; j < bn[k]; j++) {
                    if (S->s[BIDX(k, j)].page != sizes[q]) continue;
                    if (t == gi) push(p, BIDX(k, j));
                    if (++t == ng) t = 0;
                }
            }
        }
    }
#undef BIDX
    return SIM_OK;
}

/* The general hybrid path: unify_kv_cache_spec_page_size, then
 * _get_kv_cache_groups_uniform_page_size. */
static int plan_hybrid(spec_list *S, vplan *p, sim_err *e)
{
    u64 P = 0;
    int rc;
    for (int i = 0; i < S->n; i++) P = umax(P, S->s[i].page);
    for (int i = 0; i < S->n; i++) {
        espec *s = &S->s[i];
        if (s->page == P) continue;
        /* a smaller page that divides the largest: the block size grows by
         * the ratio (Gemma 4 E2B: sliding head 256 vs full 512 -> sliding B x 2) */
        if (P % s->page)
            return sim_fail(e, SIM_EINVAL, "vLLM cannot unify the page sizes %llu and %llu B (neither a divisor, "
                            "unify_kv_cache_spec_page_size raises NotImplementedError)",
                            (unsigned long long)s->page, (unsigned long long)P);
        s->block *= P / s->page;
        s->page = P;
    }
    /* buckets of identical specs, in first-appearance order (a dict keyed
     * by the spec) */
    int *bucket_of = S->scr1, *order = S->scr2;
    int rep[64], bstart[64], bn[64], nb = 0;
    for (int i = 0; i < S->n; i++) {
        int k;
        for (k = 0; k < nb; k++)
            if (spec_eq(&S->s[rep[k]], &S->s[i])) break;
        if (k == nb) {
            if (nb == 64) return sim_fail(e, SIM_EINVAL, "too many distinct KV cache specs");
            rep[nb] = i;
            bn[nb++] = 0;
        }
        bucket_of[i] = k;
        bn[k]++;
    }
    for (int k = 0, pos = 0; k < nb; k++) {
        bstart[k] = pos;
        for (int i = 0; i < S->n; i++)
            if (bucket_of[i] == k) order[pos++] = i;
    }
    int gmin = bn[0], gmax = bn[0];
    for (int k = 1; k < nb; k++) { gmin = bn[k] < gmin ? bn[k] : gmin; gmax = bn[k] > gmax ? bn[k] : gmax; }
    /* group_size = the smallest bucket, or the largest when it is less than
     * 1.5 x the smallest (fewer padding layers) */
    int gs = (double)gmax < gmin * 1.5 ? gmax : gmin;
    p->layout = 0;
    p->page = P;
    for (int k = 0; k < nb; k++) {
        int ng = (bn[k] + gs - 1) / gs;
        for (int gi = 0; gi < ng; gi++) {
            const espec *s = &S->s[order[bstart[k]]];
            if ((rc = new_group(p, false, s->kind, s->block, e))) return rc;
            for (int j = gi; j < bn[k]; j += ng) push(p, order[bstart[k] + j]);
            p->g[p->n - 1].slots = gs;   /* layers[i::num_groups], short groups padded */
        }
    }
    return SIM_OK;
}

static int plan_vllm(spec_list *S, const deploy_cfg *d, vplan *p, sim_err *e)
{
    int *idx = p->idx;
    memset(p, 0, sizeof *p);
    p->idx = idx;
    bool all_eq = true, ut_full = true, ut_slide = true, has_swa_mla = false, one_page = true;
    for (int i = 0; i < S->n; i++) {
        const espec *s = &S->s[i], *s0 = &S->s[0];
        all_eq &= spec_eq(s, s0);
        /* the registry's uniform-type base of MLAAttentionSpec is FullAttentionSpec
         * (KVCacheSpec.is_uniform_with_collection): MLA and full layers mix */
        ut_full &= full_like(s->kind) && s->block == s0->block;
        ut_slide &= s->kind == SK_SLIDING && s->window == s0->window && s->block == s0->block;
        has_swa_mla |= s->kind == SK_SWA_MLA;
        one_page &= s->page == s0->page;
    }
    int rc;
    if (all_eq) {
        /* _get_kv_cache_groups_uniform_spec: one group, general layout */
        p->layout = 0;
        p->page = S->s[0].page;
        if ((rc = new_group(p, false, S->s[0].kind, S->s[0].block, e))) return rc;
        for (int i = 0; i < S->n; i++) push(p, i);
        p->g[0].slots = S->n;
        return SIM_OK;
    }
    if (ut_full || ut_slide) {
        /* UniformTypeKVCacheSpecs.from_specs: same block size, all full-like
         * (or all sliding with one window): one group, page = sum */
        p->layout = 1;
        if ((rc = new_group(p, true, S->s[0].kind, S->s[0].block, e))) return rc;
        for (int i = 0; i < S->n; i++) push(p, i);
        return SIM_OK;
    }
    if (has_swa_mla && !one_page) return plan_v4(S, p, d->rules != ERULES_NEWEST, e);
    return plan_hybrid(S, p, e);
}

/* The divisor of the budget for the layers [lo, hi) of one pipeline stage
 * (the groups projected onto the stage, _project_kv_cache_groups_to_worker). */
static u64 plan_divisor(const spec_list *S, const vplan *p, u64 lo, u64 hi)
{
    u64 best = 0;
    for (int g = 0; g < p->n; g++) {
        u64 sum = 0, cnt = 0;
        for (int j = 0; j < p->g[g].n; j++) {
            const espec *s = &S->s[p->idx[p->g[g].first + j]];
            if ((u64)s->layer < lo || (u64)s->layer >= hi) continue;
            sum += s->page;
            cnt++;
        }
        if (p->layout == 1) return sum;                 /* avail // sum of the pages */
        if (p->layout == 2) best = umax(best, sum);     /* packed: block stride = the fullest group */
        else best = umax(best, cnt);                    /* general: group_size tensors */
    }
    return p->layout == 0 ? best * p->page : best;
}

static int vllm_plan_eval(const model_spec *m, const deploy_cfg *d, u64 avail, u64 L, u64 B, spec_list *Sp,
                          vplan *pp_, engine_result *r, sim_err *e);

static int vllm_eval(const model_spec *m, const deploy_cfg *d, u64 avail, u64 L, engine_result *r, sim_err *e)
{
    u64 B = d->block ? d->block : engine_default_block(m, ENG_VLLM);
    /* one workspace: the specs, the groups' index list and two scratch lists */
    int cap = ((int)m->n_layers + 1) * SPECS_PER_LAYER;
    spec_list S = {0, cap, NULL, NULL, NULL};
    vplan *pp_ = malloc(sizeof *pp_);
    char *ws = malloc((size_t)cap * (sizeof(espec) + 3 * sizeof(int)));
    int rc = !ws || !pp_ ? sim_fail(e, SIM_ENOMEM, "out of memory") : SIM_OK;
    if (!rc) {
        S.s = (espec *)ws;
        S.scr1 = (int *)(ws + (size_t)cap * sizeof(espec));
        S.scr2 = S.scr1 + cap;
        rc = vllm_specs(m, d, B, &S, e);
    }
    if (!rc) {
        memset(pp_, 0, sizeof *pp_);
        pp_->idx = S.scr2 + cap;
        rc = vllm_plan_eval(m, d, avail, L, B, &S, pp_, r, e);
    }
    free(ws);
    free(pp_);
    return rc;
}

static int vllm_plan_eval(const model_spec *m, const deploy_cfg *d, u64 avail, u64 L, u64 B, spec_list *Sp,
                          vplan *pp_, engine_result *r, sim_err *e)
{
    int rc;
    r->block_size = B;
    r->version = d->rules == ERULES_VLLM_019 ? "vllm <= 0.19 rules (tokens = blocks // groups x block)"
               : d->rules == ERULES_VLLM_020 ? "vllm 0.20-0.25 rules (tokens = int(concurrency x len))"
                                             : "vllm 0.26-0.28 rules (per-group concurrency, 2 x mnbt in flight)";
    if (Sp->n == 0) return sim_fail(e, SIM_EINVAL, "vLLM: the model has no KV cache layers");
    if ((rc = plan_vllm(Sp, d, pp_, e))) return rc;
    /* num_blocks = min over pipeline stages of avail // divisor */
    u64 nb = UINT64_MAX, div0 = 0;
    for (u64 s = 0; s < d->pp; s++) {
        u64 lo, hi;
        deploy_stage_range(m->n_layers, d->pp, s, &lo, &hi);
        u64 dv = plan_divisor(Sp, pp_, lo, hi);
        if (!dv) continue;
        if (s == 0) div0 = dv;
        nb = umin(nb, avail / dv);
    }
    if (nb == UINT64_MAX) nb = 0;
    r->bytes_per_block = div0;
    r->blocks = nb;
    /* in-flight tokens of sliding specs: VllmConfig.max_in_flight_tokens =
     * max_concurrent_batches x max_num_batched_tokens, 2 batches with async
     * scheduling on the V1 runner at PP 1, else pp (vllm/config/vllm.py);
     * older releases used max_num_batched_tokens alone */
    u64 mnbt = d->mnbt ? d->mnbt : 8192;
    u64 X = d->rules == ERULES_NEWEST ? mnbt * (d->pp == 1 ? 2 : d->pp) : mnbt;
    u64 req = 0, req_bytes = 0, page0 = 0, minb = UINT64_MAX;
    r->n_groups = pp_->n;
    for (int g = 0; g < pp_->n; g++) {
        engine_group *eg = &r->group[g];
        u64 blocks = 0, page = 0;
        const espec *prev = NULL;
        for (int j = 0; j < pp_->g[g].n; j++) {
            const espec *s = &Sp->s[pp_->idx[pp_->g[g].first + j]];
            /* members mostly repeat one (kind, block, window): count once */
            if (!prev || s->kind != prev->kind || s->block != prev->block || s->window != prev->window)
                blocks = umax(blocks, spec_blocks(s, L, d->dcp, X));
            prev = s;
            page += s->page;
        }
        if (!pp_->g[g].uniform_type) page = pp_->page;   /* one layer's page */
        snprintf(eg->kind, sizeof eg->kind, "%s", sk_name[pp_->g[g].kind]);
        eg->layers = pp_->g[g].uniform_type ? pp_->g[g].n : pp_->g[g].slots;
        eg->page_bytes = page;
        eg->block_size = pp_->g[g].block;
        eg->blocks_per_seq = blocks;
        req += blocks;                           /* sum_g cdiv(max_memory_usage_bytes_g, page_g) */
        req_bytes += blocks * page;
        if (g == 0) page0 = page;
        minb = umin(minb, pp_->g[g].block);
    }
    /* get_max_concurrency_for_kv_cache_config: after PR #48317 (2026-07) the
     * sum over groups of cdiv(bytes, page); before, one cdiv of all groups'
     * bytes by group 0's page (equal unless the pages differ: DeepSeek V4) */
    if (d->rules != ERULES_NEWEST) req = cdivu(req_bytes, page0);
    r->blocks_per_seq = req;
    r->max_concurrency = (double)nb / (double)req;
    r->max_seqs = nb / req;
    if (d->rules == ERULES_VLLM_019) {
        /* _report_kv_cache_config: num_blocks // groups x min block size, x dcp */
        r->tokens = nb / (u64)pp_->n * minb * (d->dcp > 1 ? d->dcp : 1);
    } else {
        /* get_kv_cache_capacity: int(max_concurrency x max_model_len) */
        r->tokens = (u64)(r->max_concurrency * (double)L);
    }
    return SIM_OK;
}

/* ---- SGLang -------------------------------------------------------------- */

/* Per-token bytes on this rank of layer i's caches (SGLang cell_size terms:
 * pool_configurator.py). */
static int sg_layer_bytes(const model_spec *m, const deploy_cfg *d, int i, u64 *tok, sim_err *e)
{
    const layer_spec *L = &m->layer[i];
    const attn_cfg *a = &L->attn;
    kv_buf b[KV_MAX_BUFS];
    int n = cost_kv_table(m, i, 1, b, e);
    if (n < 0) return n;
    *tok = 0;
    if (deploy_latent_cache(L)) {
        for (int k = 0; k < n; k++) *tok += b[k].entry_bytes;   /* MLA 576 x s; DSA 656 + 132 */
        return SIM_OK;
    }
    /* MHA/GQA: Hkv_rank x (head_dim + v_head_dim) x s, Hkv_rank = max(1, G / attn_tp) */
    u64 hr = deploy_kv_heads_rank(a->kv_heads, d->tp);
    u64 elems = deploy_attn_kind(L) == AK_CCA ? 2 * a->head_dim : a->head_dim + attn_vdim(a);
    return fmt_entry_bytes(&a->kv_fmt, elems * hr, tok, e);
}

/* DeepSeek V4 (DSV4PoolConfigurator._get_bytes_per_full_token and
 * calculate_pool_sizes, pool_configurator.py): bytes per full token
 *   bpft = r kv n + kv n_c4 / 4 + kv n_c128 / 128 + idx n_c4 / 4
 *        + r (c4_ring / window) (c4 state + c4 indexer state) n_c4
 * with kv = nope + 2 rope + 8 = 584, idx = d_i + d_i / 128 x 4 = 132 (the
 * FP8 size, whatever the indexer's format), states 2 x 2 x 512 x 4 and
 * 2 x 2 x 128 x 4 B (fp32), c4_ring 8 (get_compress_state_ring_size without
 * speculation), r = swa_full_tokens_ratio; first a fixed c128-state
 * reservation (_get_c128_state_fixed_bytes): ceil_128(slots x 128 + 129)
 * rows of 2 x 512 x 4 B per HCA layer, slots = max_running_requests + 1
 * estimated from int(avail / bpft) tokens (_get_c128_state_fixed_bytes_for_
 * token_capacity). Then full = int((avail - fixed) / bpft) aligned down to
 * the page, swa = int(full x r) aligned (_compute_dsv4_sizes). r = 0.1:
 * SGLang sets swa_full_tokens_ratio to 0.1 for DeepseekV4ForCausalLM when the
 * user leaves it unset (_deepseek_v4_overrides in
 * python/sglang/srt/arg_groups/model_overrides/deepseek_v4.py; earlier
 * releases in apply_deepseek_v4_defaults, arg_groups/deepseek_v4_hook.py).
 * The same hook sets max_running_requests to 256 when unset, and the
 * configurator divides it by the attention-DP size
 * (DSV4PoolConfigurator.__init__: requested_max_running_requests_per_worker
 * = max_running_requests // attn_dp_size): so the c128 reservation uses 256
 * // dp requests per worker, not the token estimate, unless
 * --max-running-requests is given. */
static int sg_v4(const model_spec *m, const deploy_cfg *d, u64 avail, u64 L, u64 page, engine_result *r, sim_err *e)
{
    double ratio = d->swa_ratio > 0 ? d->swa_ratio : 0.1;
    u64 kvb = 0, ib = 0, sb = 0, isb = 0, n = 0, n4 = 0, n128 = 0, hsb = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *Ls = &m->layer[i];
        kv_buf b[KV_MAX_BUFS];
        int k = cost_kv_table(m, (int)i, 1, b, e);
        if (k < 0) return k;
        n++;
        if (deploy_attn_kind(Ls) == AK_CSA) {
            n4++;
            kvb = b[0].entry_bytes;
            ib = Ls->attn.index_head_dim + Ls->attn.index_head_dim / 128 * 4;
            sb = b[3].entry_bytes;
            isb = b[4].entry_bytes;
        }
        else if (deploy_attn_kind(Ls) == AK_HCA) { n128++; kvb = b[0].entry_bytes; hsb = b[2].entry_bytes; }
        else kvb = b[0].entry_bytes;
    }
    if (page % 128) return sim_fail(e, SIM_EINVAL, "SGLang DeepSeek V4: page %llu is not a multiple of 128",
                                    (unsigned long long)page);
    u64 win = 0;
    for (u64 i = 0; i < m->n_layers; i++) win = umax(win, m->layer[i].attn.window);
    /* compressor-state rings (get_compress_state_ring_size): 8 (c4) and 128
     * (c128), doubled to 16 and 256 with speculative decoding */
    bool spec = d->spec_tokens > 0;
    double c4_ring = spec ? 16 : 8;
    u64 c128_ring = spec ? 256 : 128;
    /* A verify batch writes all its draft tokens into the rings before
     * acceptance is known: speculative_num_draft_tokens (= steps + 1 at top-k
     * 1) may not exceed the ring's write padding, ring - window + 2 with
     * window 8 (c4) / 128 (c128) (get_compress_state_write_pad;
     * DSV4PoolConfigurator._assert_ring_serves_draft_tokens): 10 for c4, 130
     * for c128 */
    if (spec) {
        u64 draft = d->spec_tokens + 1;
        if (n4 && draft > 16 - 8 + 2)
            return sim_fail(e, SIM_EINVAL, "SGLang DeepSeek V4: %llu speculative tokens make %llu draft tokens per "
                            "verify, more than the c4 compressor-state ring (16) keeps resident (10: "
                            "get_compress_state_write_pad)", (unsigned long long)d->spec_tokens,
                            (unsigned long long)draft);
        if (n128 && draft > 256 - 128 + 2)
            return sim_fail(e, SIM_EINVAL, "SGLang DeepSeek V4: %llu draft tokens per verify exceed the c128 "
                            "compressor-state ring's 130 (get_compress_state_write_pad)", (unsigned long long)draft);
    }
    /* the terms in SGLang's order (float sums are order-sensitive) */
    double bpft = ratio * (double)kvb * (double)n + 1.0 / 4 * (double)kvb * (double)n4 +
                  1.0 / 128 * (double)kvb * (double)n128 + 1.0 / 4 * (double)ib * (double)n4 +
                  ratio * (c4_ring / (double)win) * (double)sb * (double)n4 +
                  ratio * (c4_ring / (double)win) * (double)isb * (double)n4;
    /* a draft worker: bytes per full token x (target + 1 draft layer) / target */
    if (spec) bpft *= ((double)n + 1) / (double)n;
    /* requests per worker: --max-running-requests, else SGLang's V4 default
     * 256 // dp (see above) */
    u64 mrr = d->max_running ? d->max_running : 256 / d->dp;
    u64 slots = mrr + 1;
    u64 rows = round_up(slots * c128_ring + c128_ring + 1, 128);
    u64 fixed = rows * hsb * n128;
    u64 full = avail > fixed ? (u64)((double)(avail - fixed) / bpft) : 0;
    full = full / page * page;
    r->tokens = full;
    r->swa_tokens = (u64)((double)full * ratio) / page * page;
    r->bytes_per_block = (u64)ceil(bpft * (double)page);
    r->blocks = full / page;
    r->n_groups = 1;
    snprintf(r->group[0].kind, sizeof r->group[0].kind, "dsv4");
    r->group[0].layers = (int)n;
    r->group[0].page_bytes = r->bytes_per_block;
    r->group[0].block_size = page;
    r->group[0].blocks_per_seq = cdivu(L, page);
    r->blocks_per_seq = cdivu(L, page);
    u64 seqs = full / round_up(L, page);
    /* each sequence also holds its window ring in the SWA pool: window +
     * draft tokens - 1 rows (get_swa_ring_size: a verify batch writes its
     * drafts ahead of the committed position), in whole pages plus the one
     * the next token opens */
    u64 ring = win + d->spec_tokens;
    u64 sw = round_up(umin(L, ring), page) + page;
    r->max_seqs = umin(umin(seqs, r->swa_tokens / sw), mrr);
    r->max_concurrency = (double)full / (double)L;
    return SIM_OK;
}

static int sglang_eval(const model_spec *m, const deploy_cfg *d, u64 avail, u64 L, engine_result *r, sim_err *e)
{
    u64 page = d->block ? d->block : engine_default_block(m, ENG_SGLANG);
    r->block_size = page;
    r->version = "sglang 2026 rules (pool_configurator.py)";
    bool v4 = false;
    for (u64 i = 0; i < m->n_layers; i++) v4 |= is_v4(&m->layer[i]);
    if (v4) return sg_v4(m, d, avail, L, page, r, e);
    u64 F = 0, S = 0, win = 0, nf = 0, ns = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *Ls = &m->layer[i];
        /* Gemma 4's KV-shared layers still get buffers in SGLang: the
         * hybrid layer lists enumerate every entry of layer_types
         * (get_hybrid_layer_ids, python/sglang/srt/configs/model_config.py),
         * SWAKVPool allocates len(ids) layers per pool
         * (mem_cache/swa_memory_pool.py, SWAKVPool.__init__) and
         * HybridSWAPoolConfigurator counts them in the cell; a shared layer
         * only reads its target's buffer (Gemma4Attention: RadixAttention
         * layer_id = kv_shared_layer_index, save_kv_cache False,
         * models/gemma4_causal.py), so its own stays unused. Unlike vLLM. */
        u64 t;
        int rc = sg_layer_bytes(m, d, (int)i, &t, e);
        if (rc) return rc;
        if (Ls->attn.window && !deploy_latent_cache(Ls)) { S += t; ns++; win = umax(win, Ls->attn.window); }
        else { F += t; nf++; }
    }
    u64 full, swa = 0;
    if (ns && nf) {
        /* HybridSWAPoolConfigurator: cell = F + ratio x S; full tokens =
         * align(avail // cell); swa = align(int(full x ratio)) */
        double ratio = d->swa_ratio > 0 ? d->swa_ratio : 0.8;
        /* an EAGLE/MTP draft layer counts as one more full layer */
        double cell = (double)(F + (d->spec_tokens ? F / nf : 0)) + ratio * (double)S;
        full = (u64)floor((double)avail / cell) / page * page;
        swa = (u64)((double)full * ratio) / page * page;
        if (win + page >= swa)
            return sim_fail(e, SIM_EINVAL, "SGLang: the SWA pool (%llu tokens) cannot hold even one request: the "
                            "admission floor is sliding_window_size (%llu) + page_size (%llu) "
                            "(HybridSWAPoolConfigurator._solve_pool_sizes)", (unsigned long long)swa,
                            (unsigned long long)win, (unsigned long long)page);
    } else {
        /* max_total_num_tokens = (avail // cell_size) // page x page */
        u64 cell = F + S;
        /* EAGLE/MTP draft: int(cell x (1 + draft layers / layers))
         * (DefaultPoolConfigurator.__init__), one draft layer */
        if (d->spec_tokens) cell = (u64)((double)cell * (1 + 1.0 / (double)(nf + ns)));
        full = avail / cell / page * page;
        if (ns) { swa = full; }
    }
    r->tokens = full;
    r->swa_tokens = swa;
    r->n_groups = 0;
    if (nf) r->group[r->n_groups++] = (engine_group){"full", (int)nf, F * page, page, cdivu(L, page)};
    /* a request's SWA footprint as SGLang bounds it
     * (SWAChunkCapPoolConfigurator.__init__, pool_configurator.py):
     * window + SGLANG_SWA_EVICTION_INTERVAL (128) x draft tokens + page,
     * plus one decode step's allocation: a page without speculation,
     * 2 x get_alloc_len_per_decode = 2 max(steps, steps + 1) with it
     * (spec v2 keeps two outstanding); the window capped at the context */
    u64 draft = d->spec_tokens ? d->spec_tokens + 1 : 1;
    u64 dec = d->spec_tokens ? 2 * (d->spec_tokens + 1) : page;
    u64 swa_per = umin(L, win) + 128 * draft + page + dec;
    if (ns) r->group[r->n_groups++] = (engine_group){"sliding", (int)ns, S * page, page, cdivu(swa_per, page)};
    r->bytes_per_block = (F + S) * page;
    r->blocks = full / page;
    r->blocks_per_seq = cdivu(L, page);
    u64 seqs = nf ? full / round_up(L, page) : UINT64_MAX;
    if (ns) seqs = umin(seqs, swa / swa_per);
    /* max_running_requests default: max(min(tokens / ctx x 512, 4096), 2048), at most tokens / 2 */
    u64 mrr = (u64)((double)full / (double)L * 512);
    mrr = d->max_running ? d->max_running : umin(umax(umin(mrr, 4096), 2048), full / 2);
    r->max_seqs = umin(seqs, mrr);
    r->max_concurrency = nf ? (double)full / (double)L : (double)r->max_seqs;
    return SIM_OK;
}

int engine_eval(const model_spec *m, const deploy_cfg *d, u64 avail, u64 ctx, engine_result *r, sim_err *e)
{
    memset(r, 0, sizeof *r);
    r->engine = d->engine;
    if (d->engine == ENG_LOGICAL) {
        r->version = "logical (no engine: exact bytes, no blocks)";
        return SIM_OK;
    }
    if (d->engine == ENG_VLLM) return vllm_eval(m, d, avail, ctx, r, e);
    return sglang_eval(m, d, avail, ctx, r, e);
}
