/* sweep.c - see sweep.h. */
#include "sweep.h"
#include "spec_any.h"
#include "output.h"
#include "measure.h"
#include "probe.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_POINTS 512   /* points per transaction */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

void sweep_variants_free(variant *v, int n)
{
    for (int i = 0; i < n; i++) spec_free(&v[i].m);
    free(v);
}

int sweep_variants(const scenario *s, variant **out, int *n_out, sim_err *e)
{
    int cap = 16, n = 0, rc = SIM_OK;
    variant *v = malloc((size_t)cap * sizeof *v);
    if (!v) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (int a = 0; a < s->n_archs && !rc; a++) {
        model_spec base;
        sim_err sub;
        if ((rc = spec_load_any(&base, s->arch[a], NULL, 0, &sub))) { rc = sim_fail(e, rc, "%s", sub.msg); break; }
        /* Which axes apply to this arch, and an odometer over their values. */
        int idx[SC_MAX_AXES] = {0};
        bool applies[SC_MAX_AXES];
        for (int x = 0; x < s->n_axes; x++) {
            applies[x] = s->axis[x].n_archs == 0;
            for (int k = 0; k < s->axis[x].n_archs; k++) applies[x] |= !strcmp(s->axis[x].arch[k], base.name);
            applies[x] &= !scenario_deploy_path(s->axis[x].path);   /* deployments only (capacity plots) */
        }
        spec_free(&base);
        /* The spec as written comes first (params ""); then either each
         * axis on its own with the others as written, or (product: true)
         * every combination of the axes that apply. */
        int lone_axis = 0, lone_val = 0;   /* one-at-a-time position */
        bool any = false;
        for (int x = 0; x < s->n_axes; x++) any |= applies[x];
        for (bool first = true;; first = false) {
            if (!first && !s->product) {
                while (lone_axis < s->n_axes && (!applies[lone_axis] || lone_val >= s->axis[lone_axis].n_values))
                    lone_axis++, lone_val = 0;
                if (lone_axis == s->n_axes) break;
            }
            if (n == cap) {
                variant *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
                if (!nv) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); break; }
                v = nv;
            }
            variant *w = &v[n];
            memset(w, 0, sizeof *w);
            w->arch = a;
            const char *sets[SC_MAX_AXES];
            for (int x = 0; x < s->n_axes; x++) {
                if (first) w->value_idx[x] = -1;
                else if (s->product) w->value_idx[x] = applies[x] ? idx[x] : -1;
                else w->value_idx[x] = x == lone_axis ? lone_val : -1;
                if (w->value_idx[x] < 0) continue;
                snprintf(w->sets[w->n_sets], sizeof w->sets[0], "%s=%s", s->axis[x].path, s->axis[x].value[w->value_idx[x]]);
                size_t l = strlen(w->params);
                snprintf(w->params + l, sizeof w->params - l, "%s%s", l ? ";" : "", w->sets[w->n_sets]);
                sets[w->n_sets] = w->sets[w->n_sets];
                w->n_sets++;
            }
            if ((rc = spec_load_any(&w->m, s->arch[a], sets, w->n_sets, &sub))) {
                rc = sim_fail(e, rc, "%s [%s]: %s", s->arch[a], w->params, sub.msg);
                break;
            }
            store_hash(w->m.yaml_text ? w->m.yaml_text : w->m.name, w->hash);
            n++;
            if (!any) break;
            if (first) continue;
            if (!s->product) { lone_val++; continue; }
            int x = s->n_axes - 1;   /* advance the odometer */
            for (; x >= 0; x--) {
                if (!applies[x]) continue;
                if (++idx[x] < s->axis[x].n_values) break;
                idx[x] = 0;
            }
            if (x < 0) break;
        }
    }
    if (rc) { sweep_variants_free(v, n); return rc; }
    *out = v;
    *n_out = n;
    return SIM_OK;
}

void sweep_point_key(const variant *v, u64 ctx, phase ph, u64 batch, char *key, size_t len)
{
    /* "%s|%s|%llu|%s|%llu" without snprintf (a sixth of a point's time). */
    char num[2][24];
    u64 x[2] = {ctx, batch};
    for (int k = 0; k < 2; k++) {
        char t[24];
        int n = 0;
        do { t[n++] = (char)('0' + (int)(x[k] % 10)); x[k] /= 10; } while (x[k]);
        for (int i = 0; i < n; i++) num[k][i] = t[n - 1 - i];
        num[k][n] = 0;
    }
    const char *part[] = {v->hash, "|", v->params, "|", num[0], "|", ph == PH_PREFILL ? "prefill" : "decode", "|", num[1]};
    size_t o = 0;
    for (size_t k = 0; k < sizeof part / sizeof part[0]; k++)
        for (const char *p = part[k]; *p && o + 1 < len; p++) key[o++] = *p;
    if (len) key[o] = 0;
}

/* The scenario's `measured:` block: run the reference kernels of every arch
 * (as written) at each measured context, and store each layer type's
 * counters and wall time next to the model's counts and predicted time. */
static int sweep_measure(const scenario *s, const variant *v, int nv, store *db, long long run_id, const char *version,
                         sweep_stats *st, sim_err *e)
{
    hw_profile hw;
    int rc;
    if (s->measure_profile[0]) {
        if ((rc = hw_load(&hw, s->measure_profile, e))) return rc;
    } else {
        /* No profile named: predict for this machine, measured now. */
        probe_result p;
        if ((rc = probe_run(&p, e))) return rc;
        memset(&hw, 0, sizeof hw);
        snprintf(hw.name, sizeof hw.name, "this machine (probed)");
        hw.memory_bytes = p.memory_bytes;
        hw.bandwidth = p.bw_all;
        hw.peak[DT_FP32] = p.sgemm_all;
    }
    for (int i = 0; i < nv; i++) {
        if (v[i].params[0]) continue;   /* as written only */
        for (int c = 0; c < s->n_measure_ctx; c++) {
            char base[320], key[400];
            snprintf(base, sizeof base, "%s|S%llu|L%llu|seed%llu|%llu", v[i].hash, (unsigned long long)s->measure_scale,
                     (unsigned long long)s->measure_layers, (unsigned long long)s->measure_seed,
                     (unsigned long long)s->measure_ctx[c]);
            snprintf(key, sizeof key, "%s|total|decode.flops", base);
            bool has;
            if ((rc = store_has_measure(db, key, &has, e))) return rc;
            if (has) { st->measure_reused++; continue; }
            measure_set ms;
            sim_err me;
            if ((rc = measure_run(s->arch[v[i].arch], NULL, 0, s->measure_scale, s->measure_layers, s->measure_ctx[c],
                                  s->measure_seed, &hw, &ms, &me)))
                return sim_fail(e, rc, "measuring %s at ctx %llu: %s", v[i].m.name, (unsigned long long)s->measure_ctx[c], me.msg);
            if ((rc = store_begin(db, e))) { measure_free(&ms); return rc; }
            for (int k = 0; k < ms.n && !rc; k++) {
                snprintf(key, sizeof key, "%s|%s|%s", base, ms.p[k].type, ms.p[k].counter);
                bool time = strstr(ms.p[k].counter, "time_s") != NULL;
                measure_row row = {key, v[i].m.name, ms.p[k].type, ms.p[k].counter, s->measure_ctx[c], ms.scale,
                                   ms.p[k].analytical, ms.p[k].measured, time ? ms.p[k].measured : 0};
                rc = store_put_measure(db, &row, run_id, hw.name, version, e);
            }
            if (rc) store_rollback(db);
            else rc = store_commit(db, e);
            measure_free(&ms);
            if (rc) return rc;
            st->measured++;
        }
    }
    return SIM_OK;
}

int sweep_run(const scenario *s, const char *db_path, const sweep_opts *o, sweep_stats *st, sim_err *e)
{
    variant *v = NULL;
    int nv = 0, rc;
    store *db = NULL;
    long long run_id = 0;
    bool in_tx = false;
    memset(st, 0, sizeof *st);
    double t0 = now_s();
    /* Everything that can fail on bad input fails here, before the database is touched. */
    if ((rc = sweep_variants(s, &v, &nv, e))) return rc;
    st->total = (long)nv * s->n_ctx * s->n_phases * s->n_batch;
    for (long i = 0; i < st->total; i++)
        if (!o->shard_n || i % o->shard_n == o->shard_i - 1) st->mine++;
    char shard[32] = "";
    if (o->shard_n) snprintf(shard, sizeof shard, "%d/%d", o->shard_i, o->shard_n);
    if ((rc = store_open(&db, db_path, false, e))) goto out;
    if ((rc = store_begin(db, e))) goto out;
    in_tx = true;
    if ((rc = store_run_start(db, s->name, o->version, o->git_rev, shard, &run_id, e))) goto out;
    for (int i = 0; i < nv; i++)
        if ((rc = store_put_spec(db, v[i].hash, v[i].m.name, v[i].m.path, v[i].m.yaml_text, e))) goto out;
    if ((rc = store_commit(db, e))) { in_tx = false; goto out; }
    in_tx = false;
    long idx = 0, done = 0, in_batch = 0;
    double t_loop = now_s(), c_loop = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < nv; i++) {
        /* A variant with no stored point yet (a new sweep: every one) needs
         * no lookup per point; a point another sweep writes meanwhile is
         * kept once all the same (INSERT OR IGNORE, keyed by content). */
        char prefix[600];
        bool any_stored = true;
        snprintf(prefix, sizeof prefix, "%s|%s|", v[i].hash, v[i].params);
        if ((rc = store_has_prefix(db, prefix, &any_stored, e))) goto out;
        for (int c = 0; c < s->n_ctx; c++)
            for (int p = 0; p < s->n_phases; p++)
                for (int b = 0; b < s->n_batch; b++, idx++) {
                    if (o->shard_n && idx % o->shard_n != o->shard_i - 1) continue;
                    if (!in_tx) {
                        if ((rc = store_begin(db, e))) goto out;
                        in_tx = true;
                    }
                    char key[320];
                    sweep_point_key(&v[i], s->ctx[c], s->phases[p], s->batch[b], key, sizeof key);
                    bool has = false;
                    if (any_stored && (rc = store_has_point(db, key, &has, e))) goto out;
                    if (has) {
                        st->reused++;
                    } else {
                        cost_query q = {.T = s->ctx[c], .B = s->batch[b], .phase = s->phases[p], .rows_only = true};   /* rows only: no per-layer costs are stored */
                        cost_result r;
                        sim_err ce;
                        point_meta pm = {key, s->name, v[i].hash, v[i].m.name, v[i].params,
                                         s->phases[p] == PH_PREFILL ? "prefill" : "decode", run_id, s->ctx[c], s->batch[b],
                                         q.page, q.noncausal, NULL, o->version};
                        if (cost_eval(&v[i].m, &q, &r, &ce)) {
                            /* One point out of range (e.g. a batch too large
                             * for exact counts) does not stop the others: it
                             * is recorded with its error and listed at the end. */
                            if ((rc = store_put_error(db, &pm, ce.msg, e))) goto out;
                            if (st->n_errors < SWEEP_MAX_ERRORS)
                                snprintf(st->error[st->n_errors++], sizeof st->error[0], "%.60s%s%.120s%s ctx %llu %s batch %llu: %.380s",
                                         v[i].m.name, v[i].params[0] ? " [" : "", v[i].params, v[i].params[0] ? "]" : "", (unsigned long long)s->ctx[c], pm.phase,
                                         (unsigned long long)s->batch[b], ce.msg);
                            st->failed++;
                        } else {
                            rc = store_put_point(db, &pm, &r, out_params_effective(&v[i].m, &r), e);
                            cost_result_free(&r);
                            if (rc) goto out;
                            st->computed++;
                        }
                    }
                    done++;
                    if (++in_batch == BATCH_POINTS) {
                        if ((rc = store_commit(db, e))) { in_tx = false; goto out; }
                        in_tx = false;
                        in_batch = 0;
                        if (o->progress) o->progress(o->progress_ctx, done, st->mine, st->computed);
                    }
                }
    }
    if (in_tx) {
        in_tx = false;
        if ((rc = store_commit(db, e))) goto out;
    }
    st->loop_seconds = now_s() - t_loop;
    st->loop_cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c_loop;
    if (o->progress) o->progress(o->progress_ctx, done, st->mine, st->computed);
    /* Kernel measurements are not sharded: shard 1 (or an unsharded run) does them. */
    if (s->n_measure_ctx && (!o->shard_n || o->shard_i == 1) && (rc = sweep_measure(s, v, nv, db, run_id, o->version, st, e))) goto out;
    if ((rc = store_begin(db, e))) goto out;
    in_tx = true;
    if ((rc = store_run_finish(db, run_id, st->computed, st->reused, e))) goto out;
    in_tx = false;
    rc = store_commit(db, e);
out:
    if (in_tx) store_rollback(db);
    store_close(db);
    sweep_variants_free(v, nv);
    st->seconds = now_s() - t0;
    return rc;
}
