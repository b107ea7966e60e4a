/* npy.h - NumPy .npy files (format 1.0) and `kvsim run --dump DIR`.
 *
 * A dump holds everything needed to re-check a reference run with NumPy or
 * PyTorch (tests/numpy_check.py does it for GQA with a window and MLA):
 *   DIR/meta.json                   the (scaled) spec: model dims and, per layer,
 *                                   the attention / FFN / residual fields
 *   DIR/tokens.npy                  int32 [N]: every token id of the run
 *   DIR/weights/<unit>.<name>.npy   float32 [rows, cols]; unit = L<i>, embed,
 *                                   ple or head (names: see sim/ref_<type>.c)
 *   DIR/<phase>/<unit>.<name>.npy   float32 traces of the step: L<i>.attn_in /
 *                                   attn_out / ffn_in / ffn_out / out (n x d),
 *                                   L<i>.q, ... and logits [1, vocab]
 *   DIR/<phase>/cache/L<i>.<buf>.npy        float32 [entries, values]: the
 *                                   decoded cache rows (slot order)
 *   DIR/<phase>/cache/L<i>.<buf>.bytes.npy  uint8 [entries, entry_bytes]: raw
 * with <phase> = prefill (after the prefill) or decode (after the last step).
 */
#ifndef NPY_H
#define NPY_H

#include "sim.h"
#include <stdint.h>

struct ref_model;

/* Write an array: descr "<f4", "<i4" or "|u1"; shape of `ndim` dims. */
int npy_write(const char *path, const char *descr, const void *data, size_t elem_bytes,
              const u64 *shape, int ndim, sim_err *e);

/* Dump the model's weights (once), the tokens and the last step's traces and
 * caches under dir/<phase>. The model must run with opt.trace set. */
int npy_dump_model(const struct ref_model *M, const char *dir, const int32_t *tok, u64 ntok,
                   const char *phase, sim_err *e);

#endif
