/* import_hf_quant.c - `quantization_config` -> the weight storage formats of
 * the generated spec (see import_hf_impl.h, iquant).
 *
 * Every method is priced at the bytes its checkpoint stores, per weight, as
 * a kvsim format (dtype.h: element codes, one block scale per `block`
 * elements, `pad` bytes per entry). The layouts, from the released code:
 *
 * - gptq (AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py,
 *   QuantLinear.__init__): qweight int32 [in*bits/32, out] (bits per weight),
 *   qzeros int32 [ceil(in/g), out*bits/32] (bits per group and output), scales
 *   fp16 [ceil(in/g), out], g_idx int32 [in]. Per group of g weights: g*bits/8
 *   + 2 + bits/8 bytes; int4, g 128: 64 + 2 + 0.5 = 66.5 B, written as a
 *   format of 2 groups: {256 x int4, fp16 scale per 128} + pad 1 (the two
 *   4-bit zeros) = 133 B.
 * - awq (AutoAWQ awq/modules/linear/gemm.py, WQLinear_GEMM): qweight int32
 *   [in, out/8], qzeros int32 [in/g, out/8], scales fp16 [in/g, out]: the same
 *   66.5 B per 128 weights (gemv.py stores the same per group, padded to 8
 *   groups a row); gemv_fast.py: scales and scaled_zeros both fp16 per group:
 *   64 + 2 + 2 = 68 B per 128.
 * - bitsandbytes 4-bit (bitsandbytes/functional.py quantize_4bit and
 *   QuantState.as_dict; Params4bit blocksize 64): two 4-bit codes (nf4 or fp4)
 *   a byte, one fp32 absmax per 64; with bnb_4bit_use_double_quant the absmax
 *   are quantized again (quantize_blockwise, blocksize 256): one uint8 code
 *   per 64 weights and one fp32 absmax per 256 blocks: per 16384 weights
 *   8192 + 256 + 4 = 8452 B (0.5159 B a weight); without: 32 + 4 = 36 B per
 *   64. 8-bit (Int8Params): int8 weights and one fp32 scale (SCB) per output
 *   row.
 * - fp8 (transformers FineGrainedFP8, DeepSeek V3's checkpoints): fp8 e4m3
 *   weights, one fp32 weight_scale_inv per weight_block_size block
 *   (128 x 128: 16384 + 4 B); fbgemm_fp8: fp8 weights, one fp32 scale per
 *   output row.
 * - compressed-tensors (vllm-project/compressed-tensors: quant_args.py,
 *   lifecycle/initialize.py, compressors/quantized_compressors/base.py and
 *   pack_quantized.py): one config group's weights {num_bits, type, strategy,
 *   group_size, block_structure, symmetric}; pack-quantized packs int4/int8
 *   codes into int32, scales in scale_dtype (default: the model's dtype),
 *   zero points (asymmetric group/channel only) packed num_bits each;
 *   int-/naive-quantized store int8 codes and int8 zero points; float-quantized
 *   fp8; nvfp4-pack-quantized fp4 codes with an fp8 e4m3 scale per 16;
 *   kv_cache_scheme quantizes the KV cache (fp8 or int8).
 *
 * What a per-element format cannot hold (shape-dependent): per-row or
 * per-tensor scales (warned, with the bound of the undercount), GPTQ's
 * g_idx (4 B per input channel of a matrix) and the per-tensor constants of
 * bitsandbytes and compressed-tensors (tens of bytes to 1 KiB a matrix):
 * said in the generated spec's notes. Which modules stay unquantized follows
 * the config (modules_to_not_convert, llm_int8_skip_modules, ignore, lm_head,
 * modules_in_block_to_quantize); a list that splits a class kvsim prices as
 * one (all linear layers, all routed experts, the LM head) is an error. */
#include "import_hf_impl.h"
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading the object ---------------------------------------------------- */

typedef struct {
    ictx *c;
    json_t *q;            /* the quantization_config object */
    char pre[128];        /* "quantization_config." */
    const char *method;   /* quant_method */
} qread;

static json_t *qget(qread *r, const char *key) { return json_object_get(r->q, key); }

static const char *qpath(qread *r, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", r->pre, key);
    return buf;
}

static int qbad(qread *r, const char *key, const char *want)
{
    char p[256];
    return ij_bad(r->c, qpath(r, key, p, sizeof p), qget(r, key), "%s", want);
}

/* An integer field in [lo, hi] (dflt when absent or null). */
static int qint(qread *r, const char *key, u64 lo, u64 hi, u64 dflt, u64 *out)
{
    char p[256];
    json_t *v = qget(r, key);
    *out = dflt;
    if (!v || json_is_null(v)) return SIM_OK;
    return ij_int_value(r->c, qpath(r, key, p, sizeof p), v, lo, hi, out);
}

static int qbool(qread *r, const char *key, bool dflt, bool *out)
{
    json_t *v = qget(r, key);
    *out = dflt;
    if (!v || json_is_null(v)) return SIM_OK;
    if (!json_is_boolean(v)) return qbad(r, key, "true or false");
    *out = json_is_true(v);
    return SIM_OK;
}

/* A string field that must be one of `allowed` (NULL-terminated); dflt when
 * absent or null. */
static int qenum(qread *r, const char *key, const char *const *allowed, const char *dflt, const char **out)
{
    json_t *v = qget(r, key);
    *out = dflt;
    if (!v || json_is_null(v)) return SIM_OK;
    for (const char *const *a = allowed; json_is_string(v) && *a; a++)
        if (!strcmp(json_string_value(v), *a)) { *out = *a; return SIM_OK; }
    char want[200] = "one of";
    for (const char *const *a = allowed; *a; a++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s \"%s\"", a == allowed ? "" : ",", *a);
    return qbad(r, key, want);
}

/* Warn about keys of the object that are neither read nor known to be
 * cost-neutral for this method. */
static void qwarn_unknown(qread *r, const char *const *known)
{
    const char *key;
    json_t *v;
    json_object_foreach(r->q, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(*k, key);
        if (!ok)
            ij_warn(r->c, "'%s%s' is not a field the importer knows for quant_method %s; ignored", r->pre, key, r->method);
    }
}

/* A torch dtype name as a kvsim dtype ("torch.bfloat16", "bfloat16", ...). */
static const char *torch_dtype(const char *s)
{
    static const char *const map[][2] = {
        {"bfloat16", "bf16"}, {"float16", "fp16"}, {"half", "fp16"}, {"float32", "fp32"}, {"float", "fp32"},
        {"float8_e4m3fn", "fp8_e4m3"}, {"uint8", "int8"}, {"int8", "int8"}};
    if (!strncmp(s, "torch.", 6)) s += 6;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(s, map[i][0])) return map[i][1];
    return NULL;
}

static int qtorch_dtype(qread *r, const char *key, const char *dflt, const char **out)
{
    json_t *v = qget(r, key);
    *out = dflt;
    if (!v || json_is_null(v)) return SIM_OK;
    const char *t = json_is_string(v) ? torch_dtype(json_string_value(v)) : NULL;
    if (!t) return qbad(r, key, "a torch dtype (\"bfloat16\", \"float16\", \"float32\", ...)");
    *out = t;
    return SIM_OK;
}

/* A group size: a positive integer, or -1 (one group per column: *out = 0). */
static int qgroup(qread *r, const char *key, u64 dflt, u64 *out)
{
    json_t *v = qget(r, key);
    if (json_is_integer(v) && json_integer_value(v) == -1) { *out = 0; return SIM_OK; }
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= (1 << 23)))
        return qbad(r, key, "a positive integer up to 2^23, or -1");
    return qint(r, key, 1, 1u << 23, dflt, out);
}

/* ---- formats ------------------------------------------------------------- */

/* A grouped format: g elements of `dt` (bits each) share one scale of
 * `sdt` and a zero point of zbits (0: none). The entry holds the fewest
 * groups k whose codes and zero points fill whole bytes; the zero points
 * are its `pad` bytes. */
static int grouped(qread *r, iquant *q, const char *name, const char *dt, unsigned bits, u64 g, const char *gkey,
                   const char *sdt, unsigned zbits)
{
    u64 k = 1;
    while ((k * g * bits) % 8 || (k * zbits) % 8) k *= 2;
    if (g > (1u << 24) / k) return qbad(r, gkey, "a group size up to 2^23");
    snprintf(q->linear, sizeof q->linear, "%s", name);
    snprintf(q->fmt_yaml, sizeof q->fmt_yaml, "  %s:\n    parts: [{elements: %llu, dtype: %s, scale: %s, block: %llu}]\n",
             name, (unsigned long long)(k * g), dt, sdt, (unsigned long long)g);
    if (zbits)
        snprintf(q->fmt_yaml + strlen(q->fmt_yaml), sizeof q->fmt_yaml - strlen(q->fmt_yaml), "    pad: %llu\n",
                 (unsigned long long)(k * zbits / 8));
    return SIM_OK;
}

/* A bare dtype: the elements only (per-row or per-tensor scales are not
 * per-element; the caller warns or notes). */
static void bare(iquant *q, const char *dt)
{
    snprintf(q->linear, sizeof q->linear, "%s", dt);
    q->fmt_yaml[0] = 0;
}

/* ---- module classes and ignore lists ------------------------------------- */

enum { CL_LINEAR, CL_EXPERT, CL_ROUTER, CL_HEAD, CL_N };
static const char *const class_words[CL_N] = {"linear layers", "routed experts", "router gates", "lm_head"};

typedef enum { M_SUBSTR, M_EXACT_RE, M_IN_BLOCK } match_rule;

typedef struct {
    match_rule rule;
    const char *entry;         /* M_SUBSTR, M_EXACT_RE */
    const char *const *set;    /* M_IN_BLOCK: the names listed, n_set of them */
    size_t n_set;
    regex_t re;
    bool is_re;
} matcher;

static bool match1(const matcher *m, const char *name, const char *in_block)
{
    switch (m->rule) {
    case M_SUBSTR: return strstr(name, m->entry) != NULL;
    case M_IN_BLOCK:
        for (size_t i = 0; in_block && i < m->n_set; i++)
            if (!strcmp(in_block, m->set[i])) return true;
        return false;
    default: return m->is_re ? regexec(&m->re, name, 0, NULL, 0) == 0 : !strcmp(name, m->entry);
    }
}

/* Count, per class, the module names an entry matches and the names there
 * are (every layer; every expert up to 16, else experts 0, 1, 2, E/2 and
 * E-1: a list naming some experts only is caught when it names few). */
static void match_classes(const imodules *mods, const matcher *m, u64 hit[CL_N], u64 tot[CL_N])
{
    char name[256];
    memset(hit, 0, CL_N * sizeof hit[0]);
    memset(tot, 0, CL_N * sizeof tot[0]);
    tot[CL_HEAD] = 1;
    hit[CL_HEAD] = match1(m, "lm_head", NULL);
    for (u64 i = 0; i < mods->layers; i++) {
        int pl = snprintf(name, sizeof name, "model.layers.%llu.", (unsigned long long)i);
        for (const char *const *s = mods->linear; s && *s; s++) {
            snprintf(name + pl, sizeof name - (size_t)pl, "%s", *s);
            tot[CL_LINEAR]++;
            hit[CL_LINEAR] += match1(m, name, name + pl);
        }
        if (mods->router) {
            snprintf(name + pl, sizeof name - (size_t)pl, "%s", mods->router);
            tot[CL_ROUTER]++;
            hit[CL_ROUTER] += match1(m, name, name + pl);
        }
        u64 E = mods->expert ? mods->experts : 0;
        static const u64 sample[] = {0, 1, 2};   /* beyond 16 experts: 0, 1, 2, E/2 and E-1 */
        for (u64 xi = 0; xi < (E <= 16 ? E : 5); xi++) {
            u64 x = E <= 16 ? xi : xi < 3 ? sample[xi] : xi == 3 ? E / 2 : E - 1;
            int pe = pl + snprintf(name + pl, sizeof name - (size_t)pl, mods->expert, (unsigned long long)x);
            for (const char *const *s = mods->expert_mats; *s; s++) {
                snprintf(name + pe, sizeof name - (size_t)pe, "%s", *s);
                tot[CL_EXPERT]++;
                hit[CL_EXPERT] += match1(m, name, name + pl);
            }
        }
    }
}

/* Apply a list (the array at `key`) of modules that are not quantized:
 * modules_to_not_convert, ignore, skip lists. Sets skip[class] for the
 * classes an entry names whole; an entry naming part of a class is an error. */
static int apply_skip_list(qread *r, const imodules *mods, const char *key, match_rule rule, bool skip[CL_N])
{
    char p[256], ep[320];
    json_t *v = qget(r, key);
    if (!v || json_is_null(v)) return SIM_OK;
    if (!json_is_array(v)) return qbad(r, key, "a list of module names");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *en = json_array_get(v, i);
        snprintf(ep, sizeof ep, "%s[%zu]", qpath(r, key, p, sizeof p), i);
        if (!json_is_string(en)) return ij_bad(r->c, ep, en, "a module name (a string)");
        matcher m = {.rule = rule, .entry = json_string_value(en)};
        if (rule == M_EXACT_RE && !strncmp(m.entry, "re:", 3)) {
            char pat[300];
            snprintf(pat, sizeof pat, "^(%s)", m.entry + 3);   /* Python's re.match: anchored at the start */
            if (regcomp(&m.re, pat, REG_EXTENDED | REG_NOSUB))
                return ij_bad(r->c, ep, en, "a module name or \"re:\" and a regular expression kvsim can read "
                              "(POSIX extended)");
            m.is_re = true;
        }
        u64 hit[CL_N], tot[CL_N];
        match_classes(mods, &m, hit, tot);
        if (m.is_re) regfree(&m.re);
        for (int k = 0; k < CL_N; k++) {
            if (k != CL_ROUTER && hit[k] && hit[k] < tot[k])
                return ij_bad(r->c, ep, en, "a name for all the %s or none (kvsim prices each weight class in "
                              "one format: linear layers, routed experts, lm_head)", class_words[k]);
            if (hit[k] == tot[k] && tot[k]) skip[k] = true;
        }
    }
    return SIM_OK;
}

/* GPTQ's modules_in_block_to_quantize: a list of lists of the names inside a
 * block that are quantized; a class listed in part is an error, a class not
 * listed stays unquantized. */
static int apply_keep_list(qread *r, const imodules *mods, const char *key, bool skip[CL_N])
{
    char p[256], ep[320];
    json_t *v = qget(r, key);
    if (!v || json_is_null(v)) return SIM_OK;
    if (!json_is_array(v)) return qbad(r, key, "a list of lists of module names");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(v); i++) n += json_is_array(json_array_get(v, i)) ? json_array_size(json_array_get(v, i)) : 1;
    const char **set = malloc((n ? n : 1) * sizeof *set);
    if (!set) return sim_fail(r->c->e, SIM_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *it = json_array_get(v, i);
        for (size_t j = 0; j < (json_is_array(it) ? json_array_size(it) : 1); j++) {
            json_t *en = json_is_array(it) ? json_array_get(it, j) : it;
            if (!json_is_string(en)) {
                if (json_is_array(it)) snprintf(ep, sizeof ep, "%s[%zu][%zu]", qpath(r, key, p, sizeof p), i, j);
                else snprintf(ep, sizeof ep, "%s[%zu]", qpath(r, key, p, sizeof p), i);
                free(set);
                return ij_bad(r->c, ep, en, "a module name (a string)");
            }
            set[k++] = json_string_value(en);
        }
    }
    matcher m = {.rule = M_IN_BLOCK, .set = set, .n_set = k};
    u64 hit[CL_N], tot[CL_N];
    match_classes(mods, &m, hit, tot);
    free(set);
    for (int c = CL_LINEAR; c <= CL_EXPERT; c++)
        if (hit[c] && hit[c] < tot[c])
            return qbad(r, key, c == CL_LINEAR ? "a list naming every linear matrix of a block or none (kvsim "
                        "prices all linear layers in one format)" : "a list naming every matrix of every routed "
                        "expert or none (kvsim prices all experts in one format)");
    skip[CL_LINEAR] = !hit[CL_LINEAR];
    skip[CL_EXPERT] = mods->expert && !hit[CL_EXPERT];
    return SIM_OK;
}

/* ---- the methods ---------------------------------------------------------- */

static int q_gptq(qread *r, const imodules *mods, iquant *q, bool skip[CL_N])
{
    static const char *const known[] = {
        "quant_method", "bits", "group_size", "desc_act", "sym", "true_sequential", "damp_percent", "static_groups",
        "model_name_or_path", "model_file_base_name", "checkpoint_format", "meta", "lm_head", "dataset", "tokenizer",
        "use_exllama", "exllama_config", "max_input_length", "cache_block_outputs", "batch_size", "pad_token_id",
        "use_cuda_fp16", "module_name_preceding_first_block", "block_name_to_quantize", "backend",
        "modules_in_block_to_quantize", "is_marlin_format", "quantizer", "disable_exllama", "damp_auto_increment",
        "mse", "v2", "v2_alpha", "act_group_aware", "hyb_act", "pack_dtype", "adapter", "format", NULL};
    static const char *const formats[] = {"gptq", "gptq_v2", NULL};
    u64 bits, g;
    bool lm_head;
    const char *cf;
    int rc;
    if ((rc = qint(r, "bits", 2, 8, 4, &bits)) || (rc = qgroup(r, "group_size", 128, &g)) ||
        (rc = qbool(r, "lm_head", false, &lm_head)) || (rc = qenum(r, "checkpoint_format", formats, "gptq", &cf)))
        return rc;
    if (bits != 4 && bits != 8) return qbad(r, "bits", "4 or 8 (kvsim has no 2- or 3-bit dtype)");
    if (lm_head) return qbad(r, "lm_head", "false (a quantized lm_head with an unquantized embedding table is not "
                             "expressible: kvsim prices both as `embed`)");
    if ((rc = apply_keep_list(r, mods, "modules_in_block_to_quantize", skip))) return rc;
    const char *dt = bits == 4 ? "int4" : "int8";
    char name[40];
    if (g) {
        snprintf(name, sizeof name, "gptq_%s_g%llu", dt, (unsigned long long)g);
        if ((rc = grouped(r, q, name, dt, (unsigned)bits, g, "group_size", "fp16", (unsigned)bits))) return rc;
        ij_note(r->c, "quantization_config: GPTQ %s, group_size %llu: per group %llu codes + 1 fp16 scale + 1 "
                "%llu-bit zero point (AutoGPTQ qweight/scales/qzeros) -> format %s; g_idx (4 B per input channel of "
                "each matrix) is not priced.", dt, (unsigned long long)g, (unsigned long long)g,
                (unsigned long long)bits, name);
    } else {
        bare(q, dt);
        ij_warn(r->c, "'%sgroup_size' = -1: the per-column scales and zeros are not priced (formats are per weight)", r->pre);
    }
    qwarn_unknown(r, known);
    return SIM_OK;
}

static int q_awq(qread *r, const imodules *mods, iquant *q, bool skip[CL_N])
{
    static const char *const known[] = {
        "quant_method", "bits", "w_bit", "group_size", "q_group_size", "zero_point", "version", "modules_to_not_convert",
        "backend", "do_fuse", "fuse_max_seq_len", "modules_to_fuse", "exllama_config", NULL};
    static const char *const versions[] = {"gemm", "gemv", "gemv_fast", "exllama", "ipex", "marlin", "GEMM", "GEMV", NULL};
    u64 bits, g;
    bool zp;
    const char *ver;
    int rc;
    const char *bkey = qget(r, "w_bit") && !qget(r, "bits") ? "w_bit" : "bits";
    const char *gkey = qget(r, "q_group_size") && !qget(r, "group_size") ? "q_group_size" : "group_size";
    if ((rc = qint(r, bkey, 1, 64, 4, &bits)) || (rc = qbool(r, "zero_point", true, &zp)) ||
        (rc = qenum(r, "version", versions, "gemm", &ver)) || (rc = qgroup(r, gkey, 128, &g)))
        return rc;
    if (bits != 4) return qbad(r, bkey, "4 (AWQ's kernels are 4-bit only)");
    if ((rc = apply_skip_list(r, mods, "modules_to_not_convert", M_SUBSTR, skip))) return rc;
    bool fast = !strcmp(ver, "gemv_fast"), marlin = !strcmp(ver, "marlin");
    unsigned zbits = marlin ? 0 : fast ? 16 : 4;   /* marlin: symmetric, no zeros; gemv_fast: fp16 scaled zeros */
    char name[40];
    if (!g) {
        bare(q, "int4");
        ij_warn(r->c, "'%s%s' = -1: the per-column scales and zeros are not priced (formats are per weight)", r->pre, gkey);
    } else {
        snprintf(name, sizeof name, "awq_int4_g%llu%s", (unsigned long long)g, fast ? "_fz" : "");
        if ((rc = grouped(r, q, name, "int4", 4, g, gkey, "fp16", zbits))) return rc;
        ij_note(r->c, "quantization_config: AWQ int4 (%s), group_size %llu: per group %llu codes + 1 fp16 scale%s "
                "(AutoAWQ qweight/scales/qzeros) -> format %s.", ver, (unsigned long long)g, (unsigned long long)g,
                marlin ? "" : fast ? " + 1 fp16 scaled zero" : " + 1 4-bit zero point", name);
    }
    qwarn_unknown(r, known);
    return SIM_OK;
}

static int q_bnb(qread *r, const imodules *mods, iquant *q, bool skip[CL_N])
{
    static const char *const known[] = {
        "quant_method", "load_in_4bit", "load_in_8bit", "_load_in_4bit", "_load_in_8bit", "bnb_4bit_quant_type",
        "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype", "bnb_4bit_quant_storage", "llm_int8_threshold",
        "llm_int8_skip_modules", "llm_int8_enable_fp32_cpu_offload", "llm_int8_has_fp16_weight", NULL};
    static const char *const qtypes[] = {"nf4", "fp4", NULL};
    bool b4, b8, b4u, b8u, dq;
    const char *qt, *cdt, *storage;
    int rc;
    if ((rc = qbool(r, "load_in_4bit", false, &b4)) || (rc = qbool(r, "load_in_8bit", false, &b8)) ||
        (rc = qbool(r, "_load_in_4bit", false, &b4u)) || (rc = qbool(r, "_load_in_8bit", false, &b8u)) ||
        (rc = qenum(r, "bnb_4bit_quant_type", qtypes, "fp4", &qt)) ||
        (rc = qbool(r, "bnb_4bit_use_double_quant", false, &dq)) ||
        (rc = qtorch_dtype(r, "bnb_4bit_compute_dtype", "fp32", &cdt)) ||
        (rc = qtorch_dtype(r, "bnb_4bit_quant_storage", "int8", &storage)))
        return rc;
    b4 |= b4u;
    b8 |= b8u;
    if (b4 == b8) return qbad(r, "load_in_4bit", "true with load_in_8bit false, or false with load_in_8bit true");
    if ((rc = apply_skip_list(r, mods, "llm_int8_skip_modules", M_SUBSTR, skip))) return rc;
    skip[CL_HEAD] = true;   /* transformers keeps the output embedding unquantized (get_keys_to_not_convert) */
    if (b8) {
        bare(q, "int8");
        q->compute = "int8";
        ij_warn(r->c, "'%sload_in_8bit': the fp32 row scales (SCB, 4 B per output row) are not priced (formats are per weight)", r->pre);
        ij_note(r->c, "quantization_config: bitsandbytes LLM.int8(): int8 weights; linear FLOPs counted in int8 "
                "(outlier columns above llm_int8_threshold run in fp16 and are not separated).");
    } else {
        const char *dt = !strcmp(qt, "nf4") ? "int4" : "fp4_e2m1";
        if (dq) {
            snprintf(q->linear, sizeof q->linear, "bnb_%s_dq", qt);
            snprintf(q->fmt_yaml, sizeof q->fmt_yaml, "  %s:\n    parts: [{elements: 16384, dtype: %s, scale: int8, "
                     "block: 64}]\n    pad: 4\n", q->linear, dt);
        } else {
            snprintf(q->linear, sizeof q->linear, "bnb_%s", qt);
            snprintf(q->fmt_yaml, sizeof q->fmt_yaml, "  %s:\n    parts: [{elements: 64, dtype: %s, scale: fp32, "
                     "block: 64}]\n", q->linear, dt);
        }
        q->compute = cdt;
        ij_note(r->c, "quantization_config: bitsandbytes 4-bit %s (4-bit codes, priced as %s), blocksize 64, %s "
                "-> format %s; compute %s (bnb_4bit_compute_dtype). Per matrix the quant_map, nested_quant_map and "
                "packed quant_state (about 1.1 KiB) are not priced.", qt, dt,
                dq ? "double quant (a uint8 absmax per 64, an fp32 absmax per 256 blocks)" : "an fp32 absmax per 64",
                q->linear, cdt);
    }
    if (mods->router && mods->router_linear && !skip[CL_ROUTER])
        ij_warn(r->c, "'%sllm_int8_skip_modules' leaves the routers quantized; kvsim prices them unquantized", r->pre);
    qwarn_unknown(r, known);
    return SIM_OK;
}

/* fp8 with weight_block_size (transformers FineGrainedFP8, DeepSeek). */
static int q_fp8(qread *r, const imodules *mods, iquant *q, bool skip[CL_N], bool v4)
{
    static const char *const known[] = {"quant_method", "fmt", "weight_block_size", "activation_scheme", "scale_fmt",
                                        "modules_to_not_convert", NULL};
    char p[256];
    int rc;
    json_t *fm = qget(r, "fmt");
    if (fm && !json_is_string(fm)) return qbad(r, "fmt", "a string (\"e4m3\")");
    if (fm && strcmp(json_string_value(fm), "e4m3"))
        ij_warn(r->c, "'%sfmt' = \"%s\": counted as fp8_e4m3 (same size)", r->pre, json_string_value(fm));
    json_t *bs = qget(r, "weight_block_size");
    if (!json_is_array(bs) || json_array_size(bs) != 2)
        return qbad(r, "weight_block_size", "a list of 2 positive integers");
    u64 a, b;
    char ep[300];
    snprintf(ep, sizeof ep, "%s[0]", qpath(r, "weight_block_size", p, sizeof p));
    if ((rc = ij_int_value(r->c, ep, json_array_get(bs, 0), 1, 4096, &a))) return rc;
    snprintf(ep, sizeof ep, "%s[1]", qpath(r, "weight_block_size", p, sizeof p));
    if ((rc = ij_int_value(r->c, ep, json_array_get(bs, 1), 1, 4096, &b))) return rc;
    json_t *sf = qget(r, "scale_fmt");
    if (sf && !json_is_string(sf)) return qbad(r, "scale_fmt", "a string (\"ue8m0\")");
    if ((rc = apply_skip_list(r, mods, "modules_to_not_convert", M_SUBSTR, skip))) return rc;
    skip[CL_HEAD] = true;   /* transformers keeps lm_head (get_keys_to_not_convert); DeepSeek ships it bf16 */
    q->fp8_block = a * b;
    /* V3 / V3.1 / V3.2 checkpoints store weight_scale_inv as fp32 tensors
     * (scale_fmt ue8m0 only constrains their values to powers of two);
     * V4 stores them as float8_e8m0fnu (research/deepseek.md 3.4). */
    q->fp8_scale = v4 && sf && !strcmp(json_string_value(sf), "ue8m0") ? "ue8m0" : "fp32";
    snprintf(q->linear, sizeof q->linear, "fp8_b%llu", (unsigned long long)(q->fp8_block == 16384 ? 128 : q->fp8_block));
    snprintf(q->fmt_yaml, sizeof q->fmt_yaml, "  %s:\n    parts: [{elements: %llu, dtype: fp8_e4m3, scale: %s, block: %llu}]\n",
             q->linear, (unsigned long long)q->fp8_block, q->fp8_scale, (unsigned long long)q->fp8_block);
    q->compute = "fp8";
    ij_note(r->c, "quantization_config: fp8 e4m3 weights, one %s scale per %llux%llu block (format %s).", q->fp8_scale,
            (unsigned long long)a, (unsigned long long)b, q->linear);
    qwarn_unknown(r, known);
    return SIM_OK;
}

static int q_fbgemm(qread *r, const imodules *mods, iquant *q, bool skip[CL_N])
{
    static const char *const known[] = {"quant_method", "activation_scale_ub", "modules_to_not_convert", NULL};
    int rc;
    if ((rc = apply_skip_list(r, mods, "modules_to_not_convert", M_SUBSTR, skip))) return rc;
    skip[CL_HEAD] = true;
    bare(q, "fp8_e4m3");
    q->compute = "fp8";
    ij_warn(r->c, "'%squant_method' = \"fbgemm_fp8\": the fp32 row scales are not priced (formats are per weight)", r->pre);
    qwarn_unknown(r, known);
    return SIM_OK;
}

/* compressed-tensors: one config group targeting Linear. */
static int q_ct_weights(qread *r, json_t *w, const char *fmt_name, const char *wdt, iquant *q)
{
    static const char *const types[] = {"int", "float", NULL};
    static const char *const strategies[] = {"tensor", "channel", "group", "block", "tensor_group", NULL};
    qread wr = *r;
    wr.q = w;
    snprintf(wr.pre, sizeof wr.pre, "%.100sweights.", r->pre);
    u64 bits, g;
    bool sym;
    const char *type, *strategy, *sdt;
    int rc;
    if ((rc = qint(&wr, "num_bits", 1, 64, 8, &bits)) || (rc = qenum(&wr, "type", types, "int", &type)) ||
        (rc = qbool(&wr, "symmetric", true, &sym)) || (rc = qint(&wr, "group_size", 0, IMP_ANY, 0, &g)) ||
        (rc = qenum(&wr, "strategy", strategies, g ? "group" : "tensor", &strategy)) ||
        (rc = qtorch_dtype(&wr, "scale_dtype", wdt, &sdt)))
        return rc;
    bool flt = !strcmp(type, "float");
    const char *dt = flt ? (bits == 8 ? "fp8_e4m3" : bits == 4 ? "fp4_e2m1" : NULL)
                         : (bits == 8 ? "int8" : bits == 4 ? "int4" : NULL);
    if (!dt) return qbad(&wr, "num_bits", flt ? "8 or 4 for type float" : "8 or 4 for type int");
    bool packed = !strcmp(fmt_name, "pack-quantized") || !strcmp(fmt_name, "nvfp4-pack-quantized") ||
                  !strcmp(fmt_name, "mxfp4-pack-quantized");
    if (!packed && !flt && bits == 4) dt = "int8";   /* naive/int-quantized keep each code in an int8 */
    unsigned zbits = sym ? 0 : packed ? (unsigned)bits : 8;
    char name[40];
    if (!strcmp(strategy, "group") || !strcmp(strategy, "tensor_group")) {
        if ((rc = qint(&wr, "group_size", 1, 1u << 23, 0, &g)) || !g) return qbad(&wr, "group_size", "a positive integer");
        if (!strcmp(strategy, "tensor_group") && !qget(&wr, "scale_dtype")) sdt = "fp8_e4m3";   /* nvfp4 */
        snprintf(name, sizeof name, "ct_%s_g%llu%s", flt && bits == 4 ? "fp4" : dt, (unsigned long long)g, zbits ? "_z" : "");
        if ((rc = grouped(&wr, q, name, dt, flt || packed ? (unsigned)bits : 8, g, "group_size", sdt, zbits))) return rc;
        ij_note(r->c, "quantization_config: compressed-tensors %s, %s %s weights, one %s scale%s per %llu -> format %s%s.",
                fmt_name, strategy, dt, sdt, zbits ? " and zero point" : "", (unsigned long long)g, name,
                !strcmp(strategy, "tensor_group") ? "; the per-tensor fp32 global scale is not priced" : "");
    } else if (!strcmp(strategy, "block")) {
        json_t *bs = qget(&wr, "block_structure");
        u64 a, b;
        char p[256], ep[320];
        if (!json_is_array(bs) || json_array_size(bs) != 2) return qbad(&wr, "block_structure", "a list of 2 positive integers");
        snprintf(ep, sizeof ep, "%s[0]", qpath(&wr, "block_structure", p, sizeof p));
        if ((rc = ij_int_value(r->c, ep, json_array_get(bs, 0), 1, 4096, &a))) return rc;
        snprintf(ep, sizeof ep, "%s[1]", qpath(&wr, "block_structure", p, sizeof p));
        if ((rc = ij_int_value(r->c, ep, json_array_get(bs, 1), 1, 4096, &b))) return rc;
        snprintf(name, sizeof name, "ct_%s_b%llux%llu", dt, (unsigned long long)a, (unsigned long long)b);
        if ((rc = grouped(&wr, q, name, dt, (unsigned)bits, a * b, "block_structure", sdt, zbits))) return rc;
        ij_note(r->c, "quantization_config: compressed-tensors %s, %s weights, one %s scale per %llux%llu block -> format %s.",
                fmt_name, dt, sdt, (unsigned long long)a, (unsigned long long)b, name);
    } else {
        bare(q, dt);
        if (!strcmp(strategy, "channel"))
            ij_warn(r->c, "'%sstrategy' = \"channel\": the per-row scales are not priced (formats are per weight)", wr.pre);
        else
            ij_note(r->c, "quantization_config: compressed-tensors %s, %s weights, one scale per matrix (not priced).",
                    fmt_name, dt);
    }
    json_t *ao = qget(&wr, "actorder");
    if (ao && (json_is_true(ao) || (json_is_string(ao) && (!strcmp(json_string_value(ao), "group") ||
                                                           !strcmp(json_string_value(ao), "dynamic")))))
        ij_note(r->c, "quantization_config: actorder group: weight_g_idx (4 B per input channel of each matrix) is not priced.");
    return SIM_OK;
}

/* The compute dtype that input_activations imply (NULL: weights only). */
static int q_ct_acts(qread *r, json_t *a, iquant *q)
{
    if (!a || json_is_null(a)) return SIM_OK;
    qread ar = *r;
    ar.q = a;
    snprintf(ar.pre, sizeof ar.pre, "%.100sinput_activations.", r->pre);
    if (!json_is_object(a)) return ij_bad(r->c, ar.pre, a, "an object or null");
    static const char *const types[] = {"int", "float", NULL};
    u64 bits;
    const char *type;
    int rc;
    if ((rc = qint(&ar, "num_bits", 1, 64, 8, &bits)) || (rc = qenum(&ar, "type", types, "int", &type))) return rc;
    bool flt = !strcmp(type, "float");
    q->compute = bits == 8 ? (flt ? "fp8" : "int8") : bits == 4 ? (flt ? "fp4" : "int4") : NULL;
    if (!q->compute) return qbad(&ar, "num_bits", "8 or 4");
    return SIM_OK;
}

static int q_ct(qread *r, const imodules *mods, const char *wdt, iquant *q, bool skip[CL_N])
{
    static const char *const known[] = {
        "quant_method", "config_groups", "format", "ignore", "kv_cache_scheme", "quantization_status",
        "global_compression_ratio", "sparsity_config", "transform_config", "version", "quantization_config",
        "provider", NULL};
    static const char *const formats[] = {"pack-quantized", "int-quantized", "naive-quantized", "float-quantized",
                                          "nvfp4-pack-quantized", "mixed-precision", NULL};
    char p[256];
    const char *fmt_name;
    int rc;
    if ((rc = qenum(r, "format", formats, "pack-quantized", &fmt_name))) return rc;
    json_t *sp = qget(r, "sparsity_config");
    if (sp && !json_is_null(sp) && !(json_is_object(sp) && json_object_size(sp) == 0))
        return qbad(r, "sparsity_config", "null (sparse compressed weights are not priced)");
    json_t *cg = qget(r, "config_groups");
    if (!json_is_object(cg) || json_object_size(cg) != 1)
        return qbad(r, "config_groups", "an object with exactly one group (kvsim prices all linear weights in one format)");
    const char *gname;
    json_t *grp;
    json_object_foreach(cg, gname, grp) break;
    qread gr = *r;
    gr.q = grp;
    snprintf(gr.pre, sizeof gr.pre, "%.60sconfig_groups.%.30s.", r->pre, gname);
    if (!json_is_object(grp)) return ij_bad(r->c, qpath(r, "config_groups", p, sizeof p), cg, "an object of objects");
    json_t *tg = qget(&gr, "targets");
    bool linear = false;
    for (size_t i = 0; json_is_array(tg) && i < json_array_size(tg); i++)
        linear |= json_is_string(json_array_get(tg, i)) && !strcmp(json_string_value(json_array_get(tg, i)), "Linear");
    if (!linear || json_array_size(tg) != 1) return qbad(&gr, "targets", "[\"Linear\"] (one format for every linear weight)");
    json_t *gf = qget(&gr, "format");
    if (gf && !json_is_null(gf)) {
        if ((rc = qenum(&gr, "format", formats, fmt_name, &fmt_name))) return rc;
    }
    if (!strcmp(fmt_name, "mixed-precision")) return qbad(r, "format", "one format for the group (not mixed-precision)");
    json_t *w = qget(&gr, "weights");
    if (!json_is_object(w)) return qbad(&gr, "weights", "an object (the weights' quantization)");
    if ((rc = q_ct_weights(&gr, w, fmt_name, wdt, q)) || (rc = q_ct_acts(&gr, qget(&gr, "input_activations"), q))) return rc;
    json_t *kv = qget(r, "kv_cache_scheme");
    if (kv && !json_is_null(kv)) {
        qread kr = *r;
        kr.q = kv;
        snprintf(kr.pre, sizeof kr.pre, "%.100skv_cache_scheme.", r->pre);
        if (!json_is_object(kv)) return qbad(r, "kv_cache_scheme", "an object or null");
        static const char *const types[] = {"int", "float", NULL};
        u64 bits;
        const char *type;
        if ((rc = qint(&kr, "num_bits", 8, 8, 8, &bits)) || (rc = qenum(&kr, "type", types, "float", &type))) return rc;
        q->kv = !strcmp(type, "float") ? "fp8_e4m3" : "int8";
        ij_note(r->c, "quantization_config.kv_cache_scheme: the KV cache is stored in %s (per-tensor k/v scales not priced).",
                q->kv);
    }
    if ((rc = apply_skip_list(r, mods, "ignore", M_EXACT_RE, skip))) return rc;
    static const char *const statuses[] = {"compressed", "frozen", "calibration", "initialized", NULL};
    const char *status;
    if ((rc = qenum(r, "quantization_status", statuses, "compressed", &status))) return rc;
    if (strcmp(status, "compressed")) {
        /* Saved before compression: dense weights (with their scales beside). */
        ij_warn(r->c, "'%squantization_status' = \"%s\": the weights are stored dense; priced unquantized", r->pre, status);
        skip[CL_LINEAR] = skip[CL_EXPERT] = skip[CL_HEAD] = true;
    }
    if (!skip[CL_HEAD])
        return qbad(r, "ignore", "a list that names lm_head (a quantized lm_head with an unquantized embedding table "
                    "is not expressible: kvsim prices both as `embed`)");
    if (mods->router && mods->router_linear && !skip[CL_ROUTER])
        ij_warn(r->c, "'%signore' leaves the routers quantized; kvsim prices them unquantized", r->pre);
    qwarn_unknown(r, known);
    return SIM_OK;
}

int ij_quant(ictx *c, const imodules *mods, const char *wdt, bool v4, iquant *q)
{
    memset(q, 0, sizeof *q);
    json_t *v = ij_get(c, "quantization_config");
    if (!v) return SIM_OK;
    qread r = {.c = c, .q = v};
    ij_path(c, "quantization_config", r.pre, sizeof r.pre - 1);
    strcat(r.pre, ".");
    if (!json_is_object(v)) return ij_badkey(c, "quantization_config", v, "an object");
    static const char *const methods[] = {"fp8", "gptq", "awq", "bitsandbytes", "compressed-tensors", "fbgemm_fp8", NULL};
    int rc;
    if ((rc = qenum(&r, "quant_method", methods, NULL, &r.method))) return rc;
    if (!r.method) return qbad(&r, "quant_method", "one of \"fp8\", \"gptq\", \"awq\", \"bitsandbytes\", "
                               "\"compressed-tensors\", \"fbgemm_fp8\"");
    if (v4 && strcmp(r.method, "fp8")) return qbad(&r, "quant_method", "\"fp8\" (DeepSeek V4 ships FP8 weights)");
    bool skip[CL_N] = {false};
    if (!strcmp(r.method, "fp8")) rc = q_fp8(&r, mods, q, skip, v4);
    else if (!strcmp(r.method, "gptq")) rc = q_gptq(&r, mods, q, skip);
    else if (!strcmp(r.method, "awq")) rc = q_awq(&r, mods, q, skip);
    else if (!strcmp(r.method, "bitsandbytes")) rc = q_bnb(&r, mods, q, skip);
    else if (!strcmp(r.method, "fbgemm_fp8")) rc = q_fbgemm(&r, mods, q, skip);
    else rc = q_ct(&r, mods, wdt, q, skip);
    if (rc) return rc;
    q->method = r.method;
    q->linear_q = !skip[CL_LINEAR];
    q->experts_q = mods->expert && !skip[CL_EXPERT];
    if (!q->linear_q && !q->experts_q)
        ij_warn(c, "'%s': no weight class kvsim prices is quantized; weights in %s", r.pre, wdt);
    return SIM_OK;
}

void emit_weights(ictx *c, const iquant *q, const char *wdt, bool experts)
{
    if (!q->method) {
        ib_printf(&c->body, "kv_dtype: %s\nweights: {linear: %s}\n", wdt, wdt);
        return;
    }
    if (q->fmt_yaml[0]) ib_printf(&c->body, "formats:\n%s", q->fmt_yaml);
    ib_printf(&c->body, "kv_dtype: %s\nweights: {linear: %s", q->kv ? q->kv : wdt, q->linear_q ? q->linear : wdt);
    if (experts) ib_printf(&c->body, ", experts: %s", q->experts_q ? q->linear : wdt);
    ib_printf(&c->body, ", embed: %s, small: %s}\n", wdt, wdt);
    if (q->compute && q->linear_q) ib_printf(&c->body, "compute: {linear: %s}\n", q->compute);
}
