/* cli_calib.c - `kvsim calibrate MEASUREMENTS.csv -o PROFILE.yaml`: fit the
 * time model's curves (tmodel.h) from measured operation times (calib.h
 * documents the CSV), and the curves' printing shared with `kvsim probe`. */
#include "cli.h"
#include "cli_calib.h"
#include <errno.h>
#include <string.h>

void cli_print_curves(FILE *f, const tm_curves *c)
{
    for (int d = 0; d < DT_COUNT; d++) {
        if (c->gemm_has[d])
            fprintf(f, "  gemm %-8s rate(M) = %.1f GFLOP/s x M / (M + %.2f)   (rms residual %.1f%%)\n", dtype_table[d].name,
                    c->gemm_rate_max[d] / 1e9, c->gemm_m_half[d], 100 * c->gemm_rms[d]);
        if (c->gt_n[d]) {
            /* The table at its ends: a product's fixed time and its rate on
             * a square weight of each measured short side. */
            int n = c->gt_n[d];
            double M0 = c->gt_M[d][0], M1 = c->gt_M[d][n - 1];
            fprintf(f, "  gemm %-8s table of %d M x %d short sides (rms %.1f%%):\n", dtype_table[d].name, n, c->gt_ns[d],
                    100 * c->gt_rms[d]);
            for (int k = 0; k < c->gt_ns[d]; k++) {
                double S = c->gt_S[d][k], nk = S * S;
                fprintf(f, "    %4g x %-4g  M = %g: %.1f us + %.3f ns per element (%.1f GFLOP/s); M = %g: %.1f GFLOP/s\n", S, S, M0,
                        c->gt_fixed[d][k][0] * 1e6, c->gt_elem[d][k][0] * 1e9,
                        2 * M0 * nk / (c->gt_fixed[d][k][0] + c->gt_elem[d][k][0] * nk) / 1e9, M1,
                        2 * M1 * nk / (c->gt_fixed[d][k][n - 1] + c->gt_elem[d][k][n - 1] * nk) / 1e9);
            }
        }
    }
    fprintf(f, "  bandwidth  %d working sets, %.1f GB/s at %.0f KiB .. %.1f GB/s at %.0f MiB   (leave-one-out rms %.1f%%)\n",
            c->n_bw, c->bw_bs[0] / 1e9, c->bw_ws[0] / 1024, c->bw_bs[c->n_bw - 1] / 1e9, c->bw_ws[c->n_bw - 1] / 1048576,
            100 * c->bw_rms);
    static const char *const ename[2] = {"elementwise", "elementwise, mHC mixing"};
    const double ev[2][3] = {{c->elem_rate, c->elem_fixed_s, c->elem_rms}, {c->mix_rate, c->mix_fixed_s, c->mix_rms}};
    for (int k = 0; k < 2; k++)
        if (ev[k][0] > 0)
            fprintf(f, "  %s %.2f GFLOP/s + %.2f us   (rms %.1f%%)\n", ename[k], ev[k][0] / 1e9, ev[k][1] * 1e6, 100 * ev[k][2]);
    if (c->n_el) {
        fprintf(f, "  elementwise by tokens (the rate an operation over M tokens takes):");
        for (int i = 0; i < c->n_el; i++) fprintf(f, "%s %.0f: %.2f", i ? "," : "", c->el_M[i], c->el_rate[i] / 1e9);
        fprintf(f, " GFLOP/s\n");
    }
    if (c->exp_rate > 0) fprintf(f, "  exp        %.1f per us   (rms %.1f%%)\n", c->exp_rate / 1e6, 100 * c->exp_rms);
    if (c->gather_s_per_row > 0)
        fprintf(f, "  gather     %.2f ns per row   (rms %.1f%%)\n", c->gather_s_per_row * 1e9, 100 * c->gather_rms);
    if (c->fixed_s > 0) fprintf(f, "  parallel region %.2f us\n", c->fixed_s * 1e6);
    if (c->select_rate > 0)
        fprintf(f, "  top-k select %.2f us per query + %.2f ns per candidate   (rms %.1f%%)\n", c->select_fixed_s * 1e6,
                1e9 / c->select_rate, 100 * c->select_rms);
    static const char *const an[3] = {"causal", "sliding window", "top-k picked rows"};
    for (int g = 0; g < 3; g++)
        if (c->apre_rate[g] > 0)
            fprintf(f, "  attention prefill, %-17s FLOPs at %.1f GFLOP/s   (rms %.1f%%)\n", an[g], c->apre_rate[g] / 1e9,
                    100 * c->apre_rms[g]);
    for (int d = 0; d < DT_COUNT; d++)
        if (c->attn_has[d])
            fprintf(f, "  attention decode over %s rows: %.1f us + %.3f ns per element + FLOPs at %.1f GFLOP/s   (rms %.1f%%)\n",
                    dtype_table[d].name, c->attn_fixed[d] * 1e6, c->attn_elem[d] * 1e9,
                    c->attn_flop[d] > 0 ? 1e-9 / c->attn_flop[d] : 0, 100 * c->attn_rms[d]);
}

int cli_write_atomic(const char *path, const meas_set *s)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { fprintf(stderr, "kvsim: %s: cannot write: %s\n", tmp, strerror(errno)); return 2; }
    int rc = calib_write_csv(s, f);
    if (fclose(f) || rc || rename(tmp, path)) {
        remove(tmp);
        fprintf(stderr, "kvsim: %s: write failed\n", path);
        return 2;
    }
    return 0;
}

int cli_calibrate(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *name = NULL;
    cli_args a;
    cli_args_init(&a, "calibrate", argc, argv);
    int r;
    while ((r = cli_args_next(&a)) > 0) {
        if (!a.opt) {
            if (in) return cli_bad("calibrate", "one MEASUREMENTS.csv only (got '%s' after '%s')", a.val, in);
            in = a.val;
        } else if (cli_is(&a, "-o")) out = a.val;
        else if (cli_is(&a, "--name")) name = a.val;
    }
    if (r < 0) return 2;
    if (!in) return cli_bad("calibrate", "missing MEASUREMENTS.csv");
    meas_set s = {0};
    tm_curves c;
    sim_err e;
    if (calib_read(&s, in, &e) || calib_fit(&s, &c, &e)) {
        meas_free(&s);
        fprintf(stderr, "kvsim: %s\n", e.msg);
        return 2;
    }
    fprintf(stderr, "kvsim calibrate: %d measurements from %s\n", s.n, in);
    cli_print_curves(stderr, &c);
    char note[4300], nm[128];
    snprintf(note, sizeof note, "Fitted by `kvsim calibrate` from %s (%d measured operation times).", in, s.n);
    if (!name) {
        const char *b = strrchr(in, '/');
        b = b ? b + 1 : in;
        snprintf(nm, sizeof nm, "calibrated-%.*s", (int)strcspn(b, "."), b);
        name = nm;
    }
    int rc = calib_write_profile(&c, name, s.memory_bytes, note, out, &e);
    meas_free(&s);
    if (rc) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    if (out) fprintf(stderr, "wrote %s (use it with --hw %s)\n", out, out);
    return 0;
}
