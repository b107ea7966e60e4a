/* deploy.h - a deployment: how one architecture is laid out on a node's GPUs
 * (tensor, pipeline, data, expert and decode-context parallel), what each GPU
 * holds and moves per decode step, and how many sequences of T tokens fit
 * under an engine's allocation rules (engine.h). DESIGN.md 5b.
 *
 * The per-sequence cost model (cost.h) is the logical truth; this module maps
 * it onto devices. Everything is exact integer arithmetic except the roofline
 * times and the engines' own float concurrency (they print a float too).
 *
 *   deploy_cfg d; deploy_cfg_default(&d);
 *   d.gpus = 8; d.tp = 8; d.engine = ENG_VLLM;
 *   if (deploy_check(&d, &m, &e)) ...;           // refuses bad layouts, says why
 *   deploy_result r;
 *   if (deploy_eval(&m, &d, &hw, 1 << 20, &r, &e)) ...;
 *   printf("%llu seqs per node\n", r.node_max_seqs);
 */
#ifndef DEPLOY_H
#define DEPLOY_H

#include "cost.h"
#include "hw.h"

typedef enum { ENG_LOGICAL, ENG_VLLM, ENG_SGLANG, ENG_COUNT } engine_kind;
extern const char *const engine_name[ENG_COUNT];

/* Engine rule sets (engine.c says what each changes and where it lives). */
typedef enum {
    ERULES_NEWEST = 0,   /* vllm: the newest read (v0.28 era); sglang: 2026 */
    ERULES_VLLM_020,     /* vllm v0.20-era: tokens = int(conc x L), one-cdiv concurrency, X = mnbt */
    ERULES_VLLM_019,     /* vllm <= v0.19: tokens = num_blocks // groups x min block x dcp */
} engine_rules;

/* How the memory held for activations is found (deploy_activation): */
typedef enum {
    ACT_DEFAULT = 0,     /* the engine's: vllm ACT_ESTIMATE; sglang inside mem_fraction_static; logical none */
    ACT_NONE,            /* nothing held besides (1 - mem_util) x memory */
    ACT_ESTIMATE,        /* deploy_activation's estimate of one prefill chunk */
    ACT_BYTES,           /* a figure given (--act-reserve BYTES) */
} act_mode;

typedef struct {
    u64 gpus;            /* GPUs of the node used, e.g. 8 (= tp x pp x dp) */
    u64 tp;              /* tensor parallel ranks of one replica */
    u64 pp;              /* pipeline stages */
    u64 dp;              /* data-parallel replicas (attention DP) */
    u64 ep;              /* expert-parallel ranks (1 = experts split by TP) */
    u64 dcp;             /* decode context parallel: a sequence's KV split over dcp of the tp ranks */
    engine_kind engine;
    engine_rules rules;
    u64 block;           /* tokens per block (vLLM block_size, SGLang page_size); 0 = engine default */
    double mem_util;     /* vLLM gpu_memory_utilization / SGLang mem_fraction_static (0, 1] */
    u64 kv_budget;       /* bytes per device for the KV cache (an engine log's "Available KV
                            cache memory"); 0 = derive from the profile and mem_util */
    u64 mnbt;            /* vLLM max_num_batched_tokens (sliding groups); 0 = vLLM's default:
                            8192, or 2048 on a GPU under 70 GiB or an A100 */
    double swa_ratio;    /* SGLang swa_full_tokens_ratio; 0 = engine default */
    u64 max_running;     /* SGLang max_running_requests per DP worker; 0 = its estimate */
    u64 spec_tokens;     /* speculative decoding (MTP / EAGLE, one draft layer, top-k 1) proposing
                            this many tokens per step: vLLM num_speculative_tokens, SGLang
                            speculative_num_steps (its speculative_num_draft_tokens is this + 1);
                            0 = none */
    act_mode act;        /* the activation reserve (ACT_DEFAULT: the engine's) */
    u64 act_bytes;       /* ACT_BYTES: the reserve per device */
    u64 max_num_seqs;    /* vLLM max_num_seqs (rows of the profile run's sampler); 0 = vLLM's default:
                            1024, or 256 on a GPU under 70 GiB or an A100 */
    bool set[8];         /* which of gpus..dcp, block, mem_util were given (for defaults) */
} deploy_cfg;

/* Defaults: 1 GPU, every size 1, logical engine, mem_util 0.9, mnbt 0 (engine default).
 * Can't fail. */
void deploy_cfg_default(deploy_cfg *d);

/* Fill unset sizes (gpus = tp x pp x dp, or dp = gpus / (tp x pp)) and check
 * the layout against the model: SIM_EINVAL with the reason (tp not dividing
 * the query heads, ep above the expert count, gpus != tp x pp x dp, ...). */
int deploy_check(deploy_cfg *d, const model_spec *m, sim_err *e);

/* One engine KV-cache group (engine.c). */
#define DEPLOY_MAX_GROUPS 64
typedef struct {
    char kind[24];       /* "full", "sliding", "mla", "swa_mla", "state", ... */
    int layers;          /* layer caches (specs) in the group, padding slots included */
    u64 page_bytes;      /* bytes one block of the group takes (all its layers) */
    u64 block_size;      /* tokens per block */
    u64 blocks_per_seq;  /* blocks one request of ctx tokens holds */
} engine_group;

typedef struct {
    engine_kind engine;
    const char *version;     /* "vllm 0.28 rules (2026-08)", ... */
    u64 block_size;          /* the main block size used */
    int n_groups;
    engine_group group[DEPLOY_MAX_GROUPS];
    u64 bytes_per_block;     /* the divisor of the budget: avail // this = blocks */
    u64 blocks;              /* num_blocks (vLLM) or pages (SGLang) */
    u64 blocks_per_seq;      /* per request of ctx tokens, summed over groups */
    double max_concurrency;  /* vLLM "Maximum concurrency for L tokens per request" */
    u64 tokens;              /* vLLM "GPU KV cache size: N tokens"; SGLang max_total_num_tokens */
    u64 max_seqs;            /* whole sequences of ctx tokens that fit one replica */
    u64 swa_tokens;          /* SGLang hybrid: the sliding pool's tokens (0 if none) */
} engine_result;

typedef struct {
    /* per device (the busiest: the first pipeline stage holding the most) */
    u64 weight_bytes;        /* stored weights on one device */
    u64 weight_replicated_bytes; /* of which replicated on every TP rank */
    u64 kv_bytes_per_seq;    /* logical cache of one sequence of ctx tokens on one device */
    u64 kv_budget_bytes;     /* KV memory of one device */
    u64 reserve_bytes;       /* memory neither weights nor KV: (1 - mem_util) x memory, plus
                                activation_bytes when they come out of the budget (vLLM) */
    u64 memory_bytes;        /* the device's memory (profile) */
    double mem_util;         /* the share used: --mem-util, or SGLang's default mem_fraction_static */
    u64 activation_bytes;    /* activations held (subtracted from the budget when act_in_budget) */
    bool act_in_budget;      /* activation_bytes were taken out of the KV budget (vLLM, --act-reserve) */
    u64 act_tokens;          /* tokens of the prefill chunk estimated (vLLM mnbt, SGLang chunked_prefill_size) */
    u64 act_logit_rows;      /* vLLM: the sampler rows of the profile run, min(max_num_seqs, tokens) */
    const char *reserve_note;/* what the reserve is, in words */
    /* one decode step at the capacity batch, per device */
    u64 step_weight_read_bytes;
    u64 step_kv_read_bytes;
    u64 step_bytes;          /* weights + KV read + written + activations */
    u64 allreduce_bytes;     /* TP all-reduce payload per step (2 per layer; message bytes) */
    u64 allreduce_wire_bytes;/* what one device sends: 2 (tp-1)/tp of the payload (ring) */
    u64 alltoall_bytes;      /* EP dispatch + combine bytes one device sends */
    double step_flops;       /* FLOPs per device per step (node FLOPs / gpus) */
    u64 step_flops_dt[DT_COUNT]; /* the replica's step FLOPs by compute dtype */
    double compute_s, memory_s, comm_s, step_s;
    engine_result eng;
    u64 replicas;            /* dp */
    u64 replica_max_seqs;    /* sequences of ctx tokens per replica */
    u64 node_max_seqs;       /* replica_max_seqs x dp */
    u64 batch_per_replica;   /* the batch timed (max seqs, at least 1) */
    double tokens_per_s_device, tokens_per_s_node;
} deploy_result;

/* Everything above for context ctx (the engine's max_model_len). hw may be
 * NULL when d->kv_budget is set (no roofline then). */
int deploy_eval(const model_spec *m, const deploy_cfg *d, const hw_profile *hw, u64 ctx,
                deploy_result *r, sim_err *e);

/* The step_* and collective fields of r for one decode step of b sequences
 * per replica at context ctx (the busiest stage's device). */
int deploy_step(const model_spec *m, const deploy_cfg *d, u64 ctx, u64 b, deploy_result *r, sim_err *e);

/* Per-device weights (busiest stage) and the replicated part. */
int deploy_weights(const model_spec *m, const deploy_cfg *d, u64 *bytes, u64 *replicated, sim_err *e);

/* Logical KV bytes of one sequence of T tokens on one device of this layout
 * (GQA heads split by TP, replicated when fewer than ranks; latent caches
 * replicated on every TP rank; token-split by DCP). */
int deploy_kv_per_seq(const model_spec *m, const deploy_cfg *d, u64 T, u64 *bytes, sim_err *e);

/* Per-device activation peak of one prefill chunk of T tokens, the quantity
 * vLLM's profile run measures (Worker.determine_available_memory ->
 * GPUModelRunner.profile_run: a dummy forward of max_num_batched_tokens, then
 * a sampler run of max_num_seqs rows). An estimate, not a measurement:
 *   2 T D a                          hidden states and residual across layers
 * + max over the busiest stage's layers of max(attention, FFN), where
 *   attention = T (H / tp)(d_q + d_v) a   this rank's queries and attention output
 *   dense FFN = 3 T (d_ff / tp) a         gate, up and their product
 *   MoE       = c (2 D + 3 d_e / s) a + 3 T (n_sh d_sh / tp) a
 *               c = T k g / ep routed copies on this rank (g = ep / tp when
 *               ep >= tp, else 1): dispatch + combine buffers of D and the
 *               expert's gate/up/product (s = tp / ep when ep < tp, else 1)
 * + 4 S V                            fp32 logits of S rows (S <= T) over the full vocabulary
 * (a = activation bytes, D = d_model, H = query heads, V = vocab). Fails only
 * on overflow. */
int deploy_activation(const model_spec *m, const deploy_cfg *d, u64 T, u64 S, u64 *bytes, sim_err *e);

/* SGLang's default mem_fraction_static (ServerArgs._handle_gpu_memory_settings):
 * reserved MiB = 512 + 1.5 max(chunked_prefill_size, 2048) + 2 cuda_graph_max_bs
 * + 1024 tp_size pp / 8 (+ 3 bs dp, and + 1.5 bs dp when bs > 300, under DP
 * attention), at least 10,240 on a GPU over 60 GiB, + 2,048 with an EAGLE/MTP
 * draft; fraction = round((mem - reserved) / mem, 3), mem in MiB. *chunk gets
 * chunked_prefill_size, *act_mib the activation term 1.5 max(chunk, 2048).
 * Can't fail. */
double deploy_sglang_mem_fraction(const deploy_cfg *d, double memory_bytes, u64 *chunk, double *act_mib);

/* KV heads one TP rank stores for a layer with G kv heads: max(1, G / tp). */
static inline u64 deploy_kv_heads_rank(u64 G, u64 tp) { return G >= tp ? G / tp : 1; }

/* Pipeline stage s of pp holds layers [*lo, *hi): n / pp each, the remainder
 * one by one on the stages just before the last. Can't fail. */
void deploy_stage_range(u64 n, u64 pp, u64 s, u64 *lo, u64 *hi);

/* The attention type of a layer, by registry entry (no string compares). */
typedef enum { AK_GQA, AK_MLA, AK_DSA, AK_CSA, AK_HCA, AK_SWA4, AK_CCA, AK_OTHER } attn_kind;
attn_kind deploy_attn_kind(const layer_spec *l);
/* The FFN is a mixture of experts. */
bool deploy_moe(const layer_spec *l);

/* True for attention types whose cache is one latent shared by all heads
 * (mla, dsa, csa, hca, swa4): replicated on every TP rank. */
bool deploy_latent_cache(const layer_spec *l);

/* Engine allocation (engine.c): groups, pages, blocks, tokens, concurrency
 * for one replica given avail bytes per device and max_model_len ctx. */
int engine_eval(const model_spec *m, const deploy_cfg *d, u64 avail, u64 ctx, engine_result *r, sim_err *e);

/* The default block size of the engine for this model (16, 64, 256, 1...). */
u64 engine_default_block(const model_spec *m, engine_kind k);

#endif
