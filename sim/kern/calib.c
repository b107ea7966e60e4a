/* calib.c - measured operation times to the time model's curves; see calib.h. */
#include "paths.h"
#include "calib.h"
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const ms_kind_name[MS_COUNT] = {"gemm", "stream", "elementwise", "exp", "gather", "parallel", "memory", "attn", "select",
                                           "attn_causal", "attn_window", "attn_gather", "compute", "elementwise_mix"};

int meas_add(meas_set *s, const meas_row *r, sim_err *e)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        meas_row *p = realloc(s->row, (size_t)cap * sizeof *p);
        if (!p) return sim_fail(e, SIM_ENOMEM, "out of memory");
        s->row = p;
        s->cap = cap;
    }
    s->row[s->n++] = *r;
    return SIM_OK;
}

void meas_free(meas_set *s)
{
    free(s->row);
    memset(s, 0, sizeof *s);
}

/* Field i of a CSV line split at commas (no quoting: no field needs it). */
static int split(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n < max) f[n] = p;
        n++;
        p = strchr(p, ',');
        if (!p) break;
        *p = 0;
    }
    return n;
}

/* Field text to a number: empty -> 0 (unused); else a finite number >= 0. */
static int field(const char *s, const char *name, int line, int col, const char *what, double *out, sim_err *e)
{
    while (*s == ' ') s++;
    if (!*s) { *out = 0; return SIM_OK; }
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || *end || !isfinite(v) || v < 0)
        return sim_fail(e, SIM_EINVAL, "%s:%d:%d: %s: expected a number >= 0, got '%s'", name, line, col, what, s);
    *out = v;
    return SIM_OK;
}

int calib_parse(meas_set *s, const char *text, const char *name, sim_err *e)
{
    static const char *const cols[] = {"op", "dtype", "M", "N", "K", "bytes", "count", "seconds"};
    enum { NC = 8 };
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    if (!buf) return sim_fail(e, SIM_ENOMEM, "out of memory");
    memcpy(buf, text, len + 1);
    int rc = SIM_OK, line = 0;
    bool header = false;
    for (char *p = buf, *nl; p && *p && !rc; p = nl) {
        nl = strchr(p, '\n');
        if (nl) *nl++ = 0;
        line++;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[--l] = 0;
        if (!l || p[0] == '#') continue;
        char *f[NC + 1];
        int nf = split(p, f, NC + 1);
        if (nf != NC) { rc = sim_fail(e, SIM_EINVAL, "%s:%d:1: expected %d fields (op,dtype,M,N,K,bytes,count,seconds), got %d", name, line, NC, nf); break; }
        if (!header) {
            for (int i = 0; i < NC && !rc; i++)
                if (strcmp(f[i], cols[i]))
                    rc = sim_fail(e, SIM_EINVAL, "%s:%d:1: the header must be op,dtype,M,N,K,bytes,count,seconds", name, line);
            header = true;
            continue;
        }
        meas_row r = {0};
        int k;
        for (k = 0; k < MS_COUNT && strcmp(f[0], ms_kind_name[k]); k++) {}
        if (k == MS_COUNT) {
            rc = sim_fail(e, SIM_EINVAL, "%s:%d:1: unknown op '%s' (gemm, stream, elementwise, exp, gather, parallel, memory, attn, select, "
                          "attn_causal, attn_window, attn_gather, compute)",
                          name, line, f[0]);
            break;
        }
        r.kind = (ms_kind)k;
        int col = (int)(f[1] - p) + 1;
        if (r.kind == MS_COMPUTE && !*f[1]) {
            rc = sim_fail(e, SIM_EINVAL, "%s:%d:%d: compute needs the dtype the machine computes in", name, line, col);
            break;
        }
        if (r.kind == MS_GEMM || r.kind == MS_ATTN) {
            if (dtype_find(f[1], &r.dt) || !dtype_table[r.dt].compute) {
                rc = sim_fail(e, SIM_EINVAL, "%s:%d:%d: %s needs a compute dtype, got '%s'", name, line, col, ms_kind_name[r.kind],
                              f[1]);
                break;
            }
        } else if (*f[1]) {
            dtype d;
            if (dtype_find(f[1], &d)) { rc = sim_fail(e, SIM_EINVAL, "%s:%d:%d: unknown dtype '%s'", name, line, col, f[1]); break; }
            r.dt = d;
        }
        double *dst[] = {&r.M, &r.N, &r.K, &r.bytes, &r.count, &r.seconds};
        for (int i = 0; i < 6 && !rc; i++) rc = field(f[i + 2], name, line, (int)(f[i + 2] - p) + 1, cols[i + 2], dst[i], e);
        if (rc) break;
        /* The fields each op needs. */
        static const char need[MS_COUNT][7] = {
            [MS_GEMM] = "MNKs", [MS_STREAM] = "bs", [MS_ELEM] = "cs", [MS_EXP] = "cs", [MS_GATHER] = "cs",
            [MS_PARALLEL] = "s", [MS_MEMORY] = "b", [MS_ATTN] = "MKcs", [MS_SELECT] = "cs",
            [MS_ACAUSAL] = "cs", [MS_AWINDOW] = "cs", [MS_AGATHER] = "cs", [MS_COMPUTE] = "", [MS_MIX] = "cs"};
        for (const char *q = need[r.kind]; *q && !rc; q++) {
            int i = *q == 'M' ? 0 : *q == 'N' ? 1 : *q == 'K' ? 2 : *q == 'b' ? 3 : *q == 'c' ? 4 : 5;
            if (*dst[i] <= 0)
                rc = sim_fail(e, SIM_EINVAL, "%s:%d:%d: %s needs %s > 0", name, line, (int)(f[i + 2] - p) + 1,
                              ms_kind_name[r.kind], cols[i + 2]);
        }
        if (rc) break;
        if (r.kind == MS_MEMORY) { s->memory_bytes = r.bytes; continue; }
        rc = meas_add(s, &r, e);
    }
    if (!rc && !header) rc = sim_fail(e, SIM_EINVAL, "%s:1:1: empty: expected the header op,dtype,M,N,K,bytes,count,seconds", name);
    free(buf);
    return rc;
}

int calib_read(meas_set *s, const char *path, sim_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sim_fail(e, SIM_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = SIM_OK;
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        if (cap >= ((size_t)64 << 20)) { rc = sim_fail(e, SIM_EINVAL, "%s: over 64 MiB", path); break; }
        char *b2 = realloc(buf, cap *= 2);
        if (!b2) { free(buf); buf = NULL; }
        else buf = b2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if (!rc && err) rc = sim_fail(e, SIM_EIO, "%s: read error", path);
    if (!rc && memchr(buf, 0, n)) rc = sim_fail(e, SIM_EINVAL, "%s: not a text file (NUL byte)", path);
    buf[n] = 0;
    if (!rc) rc = calib_parse(s, buf, path, e);
    free(buf);
    return rc;
}

int calib_write_csv(const meas_set *s, FILE *f)
{
    fprintf(f, "op,dtype,M,N,K,bytes,count,seconds\n");
    for (int i = 0; i < s->n; i++) {
        const meas_row *r = &s->row[i];
        fprintf(f, "%s,%s,", ms_kind_name[r->kind],
                r->kind == MS_GEMM || r->kind == MS_ATTN || r->kind == MS_COMPUTE ? dtype_table[r->dt].name : "");
        const double v[] = {r->M, r->N, r->K, r->bytes, r->count};
        for (int k = 0; k < 5; k++) v[k] > 0 ? fprintf(f, "%.17g,", v[k]) : fprintf(f, ",");
        fprintf(f, "%.17g\n", r->seconds);   /* exact: calibrate refits the same numbers */
    }
    if (s->memory_bytes > 0) fprintf(f, "memory,,,,,%.17g,,\n", s->memory_bytes);
    return ferror(f) ? SIM_EIO : SIM_OK;
}

static double rel_rms(const double *pred, const double *meas, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (pred[i] / meas[i] - 1) * (pred[i] / meas[i] - 1);
    return n ? sqrt(s / n) : 0;
}

static int distinct(const double *x, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < i && x[j] != x[i]) j++;
        d += j == i;
    }
    return d;
}

/* rate(M) = rate_max M / (M + m_half) is time per unit of N K linear in M:
 * t / (2 N K) = M / rate = (m_half + M) / rate_max = a + b M (a: reading
 * the weight once, b: each row's work). Weighted least squares of y = M /
 * rate on M with weights 1/y^2 (relative errors: a slow outlier at small M
 * does not swamp the large-M points). */
int fit_gemm(const double *M, const double *rate, int n, double *rate_max, double *m_half, double *rms, sim_err *e)
{
    if (distinct(M, n) < 2) return sim_fail(e, SIM_EINVAL, "gemm: the fit needs at least 2 distinct M");
    double *x = malloc(4 * (size_t)n * sizeof *x);
    if (!x) return sim_fail(e, SIM_ENOMEM, "out of memory");
    double *y = x + n, *w = y + n, *p = w + n, c0, c1, v00, v01, v11, ss;
    for (int i = 0; i < n; i++) { x[i] = M[i]; y[i] = M[i] / rate[i]; w[i] = 1 / (y[i] * y[i]); }
    int rc = SIM_OK;
    if (gsl_fit_wlinear(x, 1, w, 1, y, 1, (size_t)n, &c0, &c1, &v00, &v01, &v11, &ss) != GSL_SUCCESS || !(c1 > 0))
        rc = sim_fail(e, SIM_EINVAL, "gemm: the time per row does not grow with M (M / rate on M: slope %g); "
                      "measure larger M", c1);
    else {
        *rate_max = 1 / c1;
        *m_half = c0 > 0 ? c0 / c1 : 0;
        for (int i = 0; i < n; i++) p[i] = *rate_max * M[i] / (M[i] + *m_half);
        *rms = rel_rms(p, rate, n);
    }
    free(x);
    return rc;
}

int fit_affine(const double *n, const double *t, int k, double *rate, double *fixed, double *rms, sim_err *e)
{
    double c0, c1, v00, v01, v11, ss, p[TM_MAX_PTS * 4];
    if (k > (int)(sizeof p / sizeof p[0])) return sim_fail(e, SIM_EINVAL, "too many points (%d) for one fit", k);
    if (distinct(n, k) < 2) return sim_fail(e, SIM_EINVAL, "the fit needs at least 2 distinct counts");
    if (gsl_fit_linear(n, 1, t, 1, (size_t)k, &c0, &c1, &v00, &v01, &v11, &ss) != GSL_SUCCESS || !(c1 > 0))
        return sim_fail(e, SIM_EINVAL, "time does not grow with the count (slope %g)", c1);
    *rate = 1 / c1;
    *fixed = c0 > 0 ? c0 : 0;
    for (int i = 0; i < k; i++) p[i] = *fixed + n[i] / *rate;
    *rms = rel_rms(p, t, k);
    return SIM_OK;
}

int fit_prop(const double *n, const double *t, int k, double *rate, double *rms, sim_err *e)
{
    double c1, v11, ss, p[TM_MAX_PTS * 4];
    if (k < 1 || k > (int)(sizeof p / sizeof p[0])) return sim_fail(e, SIM_EINVAL, "%d points for one fit", k);
    if (gsl_fit_mul(n, 1, t, 1, (size_t)k, &c1, &v11, &ss) != GSL_SUCCESS || !(c1 > 0))
        return sim_fail(e, SIM_EINVAL, "time does not grow with the count");
    *rate = 1 / c1;
    for (int i = 0; i < k; i++) p[i] = n[i] / *rate;
    *rms = rel_rms(p, t, k);
    return SIM_OK;
}

/* fit_affine, or through the origin (the fixed part 0) when the affine
 * slope is not positive (a noisy small count). */
static int fit_affine_or_prop(const double *n, const double *t, int k, double *rate, double *fixed, double *rms, sim_err *e)
{
    int rc = fit_affine(n, t, k, rate, fixed, rms, e);
    if (rc != SIM_EINVAL) return rc;
    *fixed = 0;
    return fit_prop(n, t, k, rate, rms, e);
}

static int cmp_ws(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x > y) - (x < y);
}

/* Stream rows to the interpolation knots: per working set the best rate
 * (the run least disturbed), sorted; residual = leave-one-out RMS. */
static int fit_stream(const meas_set *s, tm_curves *c, sim_err *e)
{
    double pts[TM_MAX_PTS][2];
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        const meas_row *r = &s->row[i];
        if (r->kind != MS_STREAM) continue;
        double bw = r->bytes / r->seconds;
        int j = 0;
        while (j < n && pts[j][0] != r->bytes) j++;
        if (j == n) {
            if (n == TM_MAX_PTS) return sim_fail(e, SIM_EINVAL, "stream: more than %d distinct working sets", TM_MAX_PTS);
            pts[n][0] = r->bytes;
            pts[n++][1] = bw;
        } else if (bw > pts[j][1]) pts[j][1] = bw;
    }
    if (n == 0) return sim_fail(e, SIM_EINVAL, "no stream rows: the bandwidth curve needs at least one");
    qsort(pts, (size_t)n, sizeof pts[0], cmp_ws);
    for (int i = 0; i < n; i++) { c->bw_ws[i] = pts[i][0]; c->bw_bs[i] = pts[i][1]; }
    c->n_bw = n;
    /* Leave one out: each inner knot predicted from its neighbours. */
    double ss = 0;
    int k = 0;
    for (int i = 1; i + 1 < n; i++) {
        tm_curves d = {.n_bw = 2};
        d.bw_ws[0] = pts[i - 1][0]; d.bw_bs[0] = pts[i - 1][1];
        d.bw_ws[1] = pts[i + 1][0]; d.bw_bs[1] = pts[i + 1][1];
        double q = tm_bandwidth(&d, pts[i][0]) / pts[i][1] - 1;
        ss += q * q;
        k++;
    }
    c->bw_rms = k ? sqrt(ss / k) : 0;
    return SIM_OK;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The gemm table of dtype d (tmodel.h): per distinct short side S =
 * min(N, K) and M, t = fixed + per_elem x N K by least squares over the
 * measured sizes (through the origin with one size, or when the intercept
 * would be negative). Every S needs every M. */
static int fit_gemm_table(const meas_set *s, int d, tm_curves *c, sim_err *e)
{
    double Ms[TM_MAX_PTS], Ss[TM_MAX_S], nk[TM_MAX_PTS * 4], t[TM_MAX_PTS * 4], sq = 0;
    int nm = 0, ns = 0, np = 0;
    for (int i = 0; i < s->n; i++) {
        const meas_row *r = &s->row[i];
        if (r->kind != MS_GEMM || r->dt != (dtype)d) continue;
        double S = r->N < r->K ? r->N : r->K;
        int j = 0;
        while (j < nm && Ms[j] != r->M) j++;
        if (j == nm) {
            if (nm == TM_MAX_PTS) return sim_fail(e, SIM_EINVAL, "gemm: more than %d distinct M", TM_MAX_PTS);
            Ms[nm++] = r->M;
        }
        for (j = 0; j < ns && Ss[j] != S; j++) {}
        if (j == ns) {
            if (ns == TM_MAX_S) return sim_fail(e, SIM_EINVAL, "gemm: more than %d distinct short sides min(N, K)", TM_MAX_S);
            Ss[ns++] = S;
        }
    }
    qsort(Ms, (size_t)nm, sizeof Ms[0], cmp_dbl);
    qsort(Ss, (size_t)ns, sizeof Ss[0], cmp_dbl);
    /* The fixed part per M from the smallest short side (its products are
     * small, so their intercept is well determined); every slice then fits
     * its per-element time through that fixed part (two large products'
     * noise would otherwise make an intercept of milliseconds that swamps
     * every small product). */
    for (int q = 0; q < ns; q++)
        for (int j = 0; j < nm; j++) {
            int k = 0;
            for (int i = 0; i < s->n && k < TM_MAX_PTS * 4; i++) {
                const meas_row *r = &s->row[i];
                if (r->kind != MS_GEMM || r->dt != (dtype)d || r->M != Ms[j] || (r->N < r->K ? r->N : r->K) != Ss[q]) continue;
                nk[k] = r->N * r->K;
                t[k++] = r->seconds;
            }
            if (!k) return sim_fail(e, SIM_EINVAL, "gemm: no row at M = %g with short side min(N, K) = %g (the table needs "
                                    "every M at every short side)", Ms[j], Ss[q]);
            double rate, fixed = 0, rms, tmin = t[0];
            for (int i = 1; i < k; i++) tmin = t[i] < tmin ? t[i] : tmin;
            int rc = SIM_OK;
            if (q == 0) {
                rc = distinct(nk, k) >= 2 ? fit_affine(nk, t, k, &rate, &fixed, &rms, e) : SIM_EINVAL;
                /* A negative intercept (fit_affine's fixed clamped to 0) or
                 * no affine fit: through the origin. */
                if (rc == SIM_EINVAL || (!rc && fixed == 0)) {
                    fixed = 0;
                    rc = fit_prop(nk, t, k, &rate, &rms, e);
                }
            } else {
                fixed = c->gt_fixed[d][0][j] < tmin ? c->gt_fixed[d][0][j] : 0;
                double u[TM_MAX_PTS * 4], pr[TM_MAX_PTS * 4];
                for (int i = 0; i < k; i++) u[i] = t[i] - fixed;
                rc = fit_prop(nk, u, k, &rate, &rms, e);
                if (!rc) {
                    for (int i = 0; i < k; i++) pr[i] = fixed + nk[i] / rate;
                    rms = rel_rms(pr, t, k);
                }
            }
            if (rc) return sim_fail(e, rc, "gemm at M = %g, short side %g: %s", Ms[j], Ss[q], e->msg);
            c->gt_fixed[d][q][j] = fixed;
            c->gt_elem[d][q][j] = 1 / rate;
            sq += rms * rms * k;
            np += k;
        }
    for (int j = 0; j < nm; j++) c->gt_M[d][j] = Ms[j];
    for (int q = 0; q < ns; q++) c->gt_S[d][q] = Ss[q];
    c->gt_n[d] = nm;
    c->gt_ns[d] = ns;
    c->gt_rms[d] = np ? sqrt(sq / np) : 0;
    return SIM_OK;
}

/* The decode-attention curve of dtype d: t = fixed + per_elem x elements +
 * per_flop x FLOPs by least squares (gsl_multifit_linear) over its rows; a
 * coefficient that comes out negative is dropped (0) and the rest refitted. */
static int fit_attn(const meas_set *s, int d, tm_curves *c, sim_err *e)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) k += s->row[i].kind == MS_ATTN && s->row[i].dt == (dtype)d;
    if (!k) return SIM_OK;
    bool use[3] = {true, true, true};
    double coef[3] = {0};
    int rc = SIM_OK;
    for (int pass = 0; pass < 3; pass++) {
        int p = use[0] + use[1] + use[2];
        if (k < p) { rc = sim_fail(e, SIM_EINVAL, "attn %s: %d rows for %d coefficients", dtype_table[d].name, k, p); break; }
        gsl_matrix *X = gsl_matrix_alloc((size_t)k, (size_t)p), *cov = gsl_matrix_alloc((size_t)p, (size_t)p);
        gsl_vector *y = gsl_vector_alloc((size_t)k), *w = gsl_vector_alloc((size_t)k), *cf = gsl_vector_alloc((size_t)p);
        gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc((size_t)k, (size_t)p);
        if (!X || !cov || !y || !w || !cf || !ws) rc = sim_fail(e, SIM_ENOMEM, "out of memory");
        for (int i = 0, r = 0; !rc && i < s->n; i++) {
            const meas_row *m = &s->row[i];
            if (m->kind != MS_ATTN || m->dt != (dtype)d) continue;
            double col[3] = {1, m->count * m->K, 2 * m->M * m->count * m->K};
            for (int j = 0, q = 0; j < 3; j++)
                if (use[j]) gsl_matrix_set(X, (size_t)r, (size_t)q++, col[j]);
            gsl_vector_set(y, (size_t)r, m->seconds);
            gsl_vector_set(w, (size_t)r, 1 / (m->seconds * m->seconds));   /* relative errors */
            r++;
        }
        double chisq;
        if (!rc && gsl_multifit_wlinear(X, w, y, cf, cov, &chisq, ws) != GSL_SUCCESS)
            rc = sim_fail(e, SIM_EINVAL, "attn %s: the fit failed", dtype_table[d].name);
        bool again = false;
        for (int j = 0, q = 0; !rc && j < 3; j++) {
            coef[j] = use[j] ? gsl_vector_get(cf, (size_t)q++) : 0;
            if (use[j] && coef[j] < 0) { use[j] = false; again = true; }
        }
        gsl_matrix_free(X); gsl_matrix_free(cov); gsl_vector_free(y); gsl_vector_free(w); gsl_vector_free(cf);
        if (ws) gsl_multifit_linear_free(ws);
        if (rc || !again) break;
        if (!use[1] && !use[2]) { rc = sim_fail(e, SIM_EINVAL, "attn %s: time does not grow with the rows", dtype_table[d].name); break; }
    }
    if (rc) return rc;
    for (int j = 0; j < 3; j++) coef[j] = coef[j] > 0 ? coef[j] : 0;
    double pred[TM_MAX_PTS * 4], meas[TM_MAX_PTS * 4];
    int n = 0;
    for (int i = 0; i < s->n && n < TM_MAX_PTS * 4; i++) {
        const meas_row *m = &s->row[i];
        if (m->kind != MS_ATTN || m->dt != (dtype)d) continue;
        pred[n] = coef[0] + coef[1] * m->count * m->K + coef[2] * 2 * m->M * m->count * m->K;
        meas[n++] = m->seconds;
    }
    c->attn_has[d] = true;
    c->attn_fixed[d] = coef[0];
    c->attn_elem[d] = coef[1];
    c->attn_flop[d] = coef[2];
    c->attn_rms[d] = rel_rms(pred, meas, n);
    return SIM_OK;
}

/* The element-wise rate by tokens (tmodel.h el_M, el_rate) from the
 * elementwise rows that give M (the rows, or tokens, the routines ran
 * over: a few, their data in L1 and L2): per distinct M its FLOPs over its
 * seconds (summed over repeats), M increasing; fewer than two distinct M:
 * no table (elem_rate alone). The rows without M are the streaming
 * regime's (a prefill's rest): the affine fit's, when there are any. */
static int fit_elem_tokens(const meas_set *s, tm_curves *c, sim_err *e)
{
    double M[TM_MAX_PTS], cnt[TM_MAX_PTS], sec[TM_MAX_PTS];
    int n = 0;
    c->n_el = 0;
    for (int i = 0; i < s->n; i++) {
        const meas_row *r = &s->row[i];
        if (r->kind != MS_ELEM || !(r->M > 0)) continue;
        int j = 0;
        while (j < n && M[j] < r->M) j++;
        if (j == n || M[j] != r->M) {
            if (n == TM_MAX_PTS) return sim_fail(e, SIM_EINVAL, "elementwise: more than %d distinct M", TM_MAX_PTS);
            memmove(M + j + 1, M + j, (size_t)(n - j) * sizeof *M);
            memmove(cnt + j + 1, cnt + j, (size_t)(n - j) * sizeof *cnt);
            memmove(sec + j + 1, sec + j, (size_t)(n - j) * sizeof *sec);
            M[j] = r->M;
            cnt[j] = sec[j] = 0;
            n++;
        }
        cnt[j] += r->count;
        sec[j] += r->seconds;
    }
    if (n < 2) return SIM_OK;
    for (int j = 0; j < n; j++) {
        c->el_M[j] = M[j];
        c->el_rate[j] = cnt[j] / sec[j];
    }
    c->n_el = n;
    return SIM_OK;
}

int calib_fit(const meas_set *s, tm_curves *c, sim_err *e)
{
    memset(c, 0, sizeof *c);
    int n = s->n, rc = SIM_OK;
    double *a = malloc(2 * (size_t)(n ? n : 1) * sizeof *a);
    if (!a) return sim_fail(e, SIM_ENOMEM, "out of memory");
    double *b = a + n;
    bool any_gemm = false;
    for (int d = 0; d < DT_COUNT && !rc; d++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            const meas_row *r = &s->row[i];
            if (r->kind != MS_GEMM || r->dt != (dtype)d) continue;
            a[k] = r->M;
            b[k++] = 2 * r->M * r->N * r->K / r->seconds;
        }
        if (!k) continue;
        /* The table (what the time model uses); the rate curve beside it
         * when the rows allow one: one weight size (a rate against M only
         * means something at one N x K), at least 2 distinct M, time per row
         * growing with M. */
        rc = fit_gemm_table(s, d, c, e);
        if (rc) { sim_err e2 = *e; rc = sim_fail(e, rc, "%s: %s", dtype_table[d].name, e2.msg); }
        bool one_size = true;
        double nk0 = -1;
        for (int i = 0; i < n; i++) {
            const meas_row *r = &s->row[i];
            if (r->kind != MS_GEMM || r->dt != (dtype)d) continue;
            if (nk0 < 0) nk0 = r->N * r->K;
            one_size &= r->N * r->K == nk0;
        }
        sim_err eo;
        c->gemm_has[d] = !rc && one_size && !fit_gemm(a, b, k, &c->gemm_rate_max[d], &c->gemm_m_half[d], &c->gemm_rms[d], &eo);
        any_gemm = true;
    }
    if (!rc && !any_gemm) rc = sim_fail(e, SIM_EINVAL, "no gemm rows: the gemm curve needs at least one measured product");
    for (int d = 0; d < DT_COUNT && !rc; d++) rc = fit_attn(s, d, c, e);
    if (!rc) rc = fit_stream(s, c, e);
    for (int i = 0; i < n; i++)
        if (s->row[i].kind == MS_COMPUTE) { c->compute_has = true; c->compute_dt = s->row[i].dt; }
    static const ms_kind opt[] = {MS_ELEM, MS_MIX, MS_EXP, MS_GATHER, MS_PARALLEL, MS_SELECT, MS_ACAUSAL, MS_AWINDOW, MS_AGATHER};
    int elem_nom = 0;   /* elementwise rows without M: the streaming regime's, the affine fit's when there are any */
    for (int i = 0; i < n; i++) elem_nom += s->row[i].kind == MS_ELEM && !(s->row[i].M > 0);
    for (int o = 0; o < 9 && !rc; o++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (s->row[i].kind == opt[o] && !(opt[o] == MS_ELEM && elem_nom && s->row[i].M > 0)) {
                a[k] = s->row[i].count;
                b[k++] = s->row[i].seconds;
            }
        if (!k) continue;
        if (k > TM_MAX_PTS * 4) { rc = sim_fail(e, SIM_EINVAL, "%s: more than %d rows", ms_kind_name[opt[o]], TM_MAX_PTS * 4); break; }
        switch (opt[o]) {
        case MS_ELEM:
            rc = fit_affine_or_prop(a, b, k, &c->elem_rate, &c->elem_fixed_s, &c->elem_rms, e);
            if (!rc) rc = fit_elem_tokens(s, c, e);
            break;
        case MS_MIX: rc = fit_affine_or_prop(a, b, k, &c->mix_rate, &c->mix_fixed_s, &c->mix_rms, e); break;   /* FL_MHC */
        case MS_EXP: rc = fit_prop(a, b, k, &c->exp_rate, &c->exp_rms, e); break;
        case MS_SELECT:
            /* Affine: a query's fixed part (its index list, its flags). */
            rc = fit_affine_or_prop(a, b, k, &c->select_rate, &c->select_fixed_s, &c->select_rms, e);
            break;
        case MS_ACAUSAL:
        case MS_AWINDOW:
        case MS_AGATHER:
            /* Prefill attention, count = its FLOPs: a rate (through the
             * origin). What varies between the probe's shapes is the
             * rate, not a per-call part: an affine fit over them gave a
             * 6 ms intercept that a 1K-token layer would have paid. */
        {
            int g = opt[o] == MS_ACAUSAL ? TM_ACAUSAL : opt[o] == MS_AWINDOW ? TM_AWINDOW : TM_AGATHER;
            rc = fit_prop(a, b, k, &c->apre_rate[g], &c->apre_rms[g], e);
            break;
        }
        case MS_GATHER: {
            double rate;
            rc = fit_prop(a, b, k, &rate, &c->gather_rms, e);
            if (!rc) c->gather_s_per_row = 1 / rate;
            break;
        }
        default: {
            double sum = 0;
            for (int i = 0; i < k; i++) sum += b[i];
            c->fixed_s = sum / k;
        }
        }
        if (rc) { sim_err e2 = *e; rc = sim_fail(e, rc, "%s: %s", ms_kind_name[opt[o]], e2.msg); }
    }
    free(a);
    if (!rc) c->present = true;
    return rc;
}

int calib_write_profile(const tm_curves *c, const char *name, double memory_bytes, const char *note, const char *path,
                        sim_err *e)
{
    char tmp[600];
    FILE *f;
    int rc = sim_out_open(path, tmp, sizeof tmp, &f, e);
    if (rc) return rc;
    fprintf(f, "# %s\n# The time model's curves (kvsim's tmodel.h): each operation's time from them,\n"
               "# summed over a step's operations; peak_tflops and bandwidth_gbs (the plain\n"
               "# roofline, --time roofline) are the curves' limits.\n", note);
    fprintf(f, "name: %s\nmemory_gb: %.3f\nbandwidth_gbs: %.6g\npeak_tflops: {", name,
            memory_bytes > 0 ? memory_bytes / 1e9 : 0.001, c->bw_bs[c->n_bw - 1] / 1e9);
    bool first = true;
    double peak[DT_COUNT] = {0};
    for (int d = 0; d < DT_COUNT; d++) {
        /* The table's rate at its largest M (per weight element: 2 M FLOPs),
         * else the rate curve's limit. */
        if (c->gt_n[d]) peak[d] = 2 * c->gt_M[d][c->gt_n[d] - 1] / c->gt_elem[d][c->gt_ns[d] - 1][c->gt_n[d] - 1];
        else if (c->gemm_has[d]) peak[d] = c->gemm_rate_max[d];
        if (peak[d] > 0) { fprintf(f, "%s%s: %.6g", first ? "" : ", ", dtype_table[d].name, peak[d] / 1e12); first = false; }
    }
    /* hw_load needs fp32: without an fp32 curve, the narrowest rate stands in. */
    if (!(peak[DT_FP32] > 0))
        for (int d = 0; d < DT_COUNT; d++)
            if (peak[d] > 0) { fprintf(f, "%sfp32: %.6g", first ? "" : ", ", peak[d] / 1e12); break; }
    fprintf(f, "}\n");
    tm_write_yaml(f, c);
    return sim_out_commit(f, path, tmp, e);
}
