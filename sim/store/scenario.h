/* scenario.h - scenario files (YAML under scenarios/): which architectures, which
 * contexts, phases and batches, which spec fields to sweep (by the same paths
 * as --set), and which plots to draw. Loading checks everything up front,
 * with file:line:col errors, so a sweep never stops half way on bad input.
 *
 *   scenario s; sim_err e;
 *   if (scenario_load(&s, "scenarios/kv-sharing-sweep.yaml", &e)) ...;
 *   scenario_free(&s);
 */
#ifndef SCENARIO_H
#define SCENARIO_H

#include "sim.h"
#include "cost.h"
#include "deploy.h"
#include "ytree.h"

#define SC_MAX_ARCHS   16
#define SC_MAX_CTX     128
#define SC_MAX_AXES    4
#define SC_MAX_VALUES  64
#define SC_MAX_PLOTS   16
#define SC_MAX_BATCH   8
#define SC_MAX_DEPLOY  8

typedef struct {
    char path[128];                    /* a --set path, e.g. "layers.csa.compress_ratio" */
    int n_values;
    char value[SC_MAX_VALUES][32];     /* values as written */
    int n_archs;                       /* 0 = every arch; else only these (spec names) */
    char arch[SC_MAX_ARCHS][128];
} sc_axis;

typedef enum {
    PLOT_KV_VS_CONTEXT,    /* KV bytes vs context, log-log, budget lines */
    PLOT_TYPES_AT_CTX,     /* stacked KV bytes and FLOPs by layer type at one context */
    PLOT_SHARING_SAVED,    /* KV saved vs a sharing axis */
    PLOT_COMPRESSION,      /* KV bytes and decode FLOPs vs a compression axis */
    PLOT_FIT_CONTEXT,      /* the longest context that fits each memory budget */
    PLOT_MEASURED,         /* reference-kernel counters and time vs the model */
    PLOT_CAPACITY,         /* concurrent sequences per node vs context, per arch and deployment */
    PLOT_PER_DEVICE_MEMORY,/* stacked weights / KV / reserve per GPU, per arch and deployment */
    PLOT_KIND_COUNT
} plot_kind;
extern const char *const plot_kind_name[PLOT_KIND_COUNT];

typedef struct {
    plot_kind kind;
    char title[160];
    char axis[128];        /* sharing / compression: the sweep path */
    u64 ctx;               /* types_at_ctx, sharing, compression: the context */
    phase ph;
    int n_budgets;
    double budget_gb[8];   /* memory budgets, GB (1e9 B) */
    int deploy_idx;        /* capacity, per_device_memory: one deployment, or -1 = each */
} sc_plot;

/* A deployment of the `deploy:` block (scenario_deploy.c). */
typedef struct {
    char label[96];        /* `name:`, or "HW ENGINE" */
    char hw[128];          /* node profile (scenarios/hw) or path; "" with a kv budget */
    deploy_cfg d;
} sc_deploy;

typedef struct {
    char name[128];
    char title[256];
    char path[512];
    char *yaml_text;                   /* owned */
    int n_archs;
    char arch[SC_MAX_ARCHS][512];      /* spec paths, resolved (see scenario_load) */
    int n_ctx;
    u64 ctx[SC_MAX_CTX];
    int n_phases;
    phase phases[2];
    int n_batch;
    u64 batch[SC_MAX_BATCH];
    int n_axes;
    sc_axis axis[SC_MAX_AXES];
    bool product;                      /* sweep every combination of the axes (default:
                                          one axis at a time, the others as written) */
    int n_plots;
    sc_plot plot[SC_MAX_PLOTS];
    int n_deploy;
    sc_deploy deploy[SC_MAX_DEPLOY];   /* the `deploy:` block */
    /* measured: reference kernels at small scale (n_measure_ctx = 0: none) */
    u64 measure_scale;                 /* 0 = auto (d_model scaled to <= 256) */
    u64 measure_layers;                /* first N layers (default 4) */
    u64 measure_seed;
    char measure_profile[512];         /* hardware profile for predicted times ("" = probe) */
    int n_measure_ctx;
    u64 measure_ctx[16];
} scenario;

/* Load and check a scenario; also loads every arch once to check it, with
 * every sweep value applied. Arch paths (and a measured profile given as a
 * path) are relative to the scenario file's directory and are stored
 * resolved in s->arch; every entry that names something must name
 * something that exists. SIM_OK, or SIM_EIO /
 * SIM_EINVAL with "file:line:col: ..." in e; on failure s holds nothing to
 * free. On success free with scenario_free. */
int scenario_load(scenario *s, const char *path, sim_err *e);
/* The same from text in memory (len bytes, no NUL needed); `name` stands for
 * the file in messages and in s->path. Used by the fuzzer. */
int scenario_load_text(scenario *s, const char *text, size_t len, const char *name, sim_err *e);
void scenario_free(scenario *s);

/* Deployment sweep paths start with "deploy." or "engine." (scenario_deploy.c):
 * they vary the deployments of capacity plots and never the specs. */
bool scenario_deploy_path(const char *path);
/* Set one deployment field by name ("tp", "deploy.tp", "engine.block", "hw", ...);
 * SIM_EINVAL with the reason. */
int scenario_deploy_set(sc_deploy *x, const char *key, const char *value, sim_err *e);
/* Parse the `deploy:` list into s->deploy. */
int scenario_parse_deploy(scenario *s, const ynode *n, sim_err *e);

#endif
