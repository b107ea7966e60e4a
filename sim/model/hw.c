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
    static const char *const keys[] = {"name", "source", "notes", "memory_gb", "bandwidth_gbs", "peak_tflops", "measured", "link_gbs", "gpus", NULL};
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
    if (h->peak[DT_FP32] <= 0) rc = sim_fail(e, SIM_EINVAL, "%s: peak_tflops needs at least fp32", POS(pk));
out:
    yt_free(root);
    return rc;
}

double hw_peak(const hw_profile *h, dtype dt)
{
    /* Each dtype's chain of wider dtypes to fall back on. */
    static const dtype chain[DT_COUNT][5] = {
        [DT_FP32] = {DT_FP32},
        [DT_TF32] = {DT_TF32, DT_FP32},
        [DT_BF16] = {DT_BF16, DT_FP16, DT_FP32},
        [DT_FP16] = {DT_FP16, DT_BF16, DT_FP32},
        [DT_FP8_E4M3] = {DT_FP8_E4M3, DT_FP8_E5M2, DT_BF16, DT_FP16, DT_FP32},
        [DT_FP8_E5M2] = {DT_FP8_E5M2, DT_FP8_E4M3, DT_BF16, DT_FP16, DT_FP32},
        [DT_INT8] = {DT_INT8, DT_FP8_E4M3, DT_BF16, DT_FP16, DT_FP32},
        [DT_UE8M0] = {DT_FP32},
        [DT_FP4_E2M1] = {DT_FP4_E2M1, DT_FP8_E4M3, DT_BF16, DT_FP16, DT_FP32},
        [DT_INT4] = {DT_INT4, DT_INT8, DT_BF16, DT_FP16, DT_FP32},
    };
    /* Unused chain slots are 0 = DT_FP32, the last resort anyway. */
    for (int i = 0; i < 5; i++)
        if (h->peak[chain[dt][i]] > 0) return h->peak[chain[dt][i]];
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
