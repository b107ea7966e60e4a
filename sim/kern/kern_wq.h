/* kern_wq.h - weights held in their storage format (bf16, fp8 with block
 * scales, mxfp4 / fp4 with ue8m0 scales, int8 / int4, ...), and the products
 * that dequantise them on the fly. Not a cache codec (that is quant.h, which
 * this reuses to encode): a weight tensor is one adapting entry of n
 * elements in a one-part format: its codes packed LSB-first (fp4: element
 * 2i in the low nibble) in the order the caller stores them (ref.c: linear
 * weights [out, in], the input dimension contiguous, so that blocks run
 * along it as MX and DeepSeek's fp8 blocks do), then one scale per `block`
 * consecutive elements (the last block may be short). Its bytes are
 * fmt_entry_bytes of that entry: the model's price (fmt_rate_bytes of the
 * class format) whenever the tensor holds whole blocks, and a fraction of a
 * scale more per tensor otherwise.
 *
 *   kern_wq w;
 *   if (kern_wq_init(&w, &spec.weight[WC_LINEAR], K * N, &e)) die(e.msg);
 *   kern_wq_encode(&w, values);                 // K*N floats, rounded into w
 *   kern_wq_matmul(&c, FL_PROJ, DT_BF16, 1, N, K, x, K, &w, 0, 1, K, y, N, false, NULL);   // w held [N, K]
 *   kern_wq_free(&w);
 *
 * The values a product uses are exactly what kern_wq_decode gives (and what
 * quant_decode gives for the same bytes): the code's value times its block
 * scale, rounded once to float.
 */
#ifndef KERN_WQ_H
#define KERN_WQ_H

#include "cost.h"
#include "dtype.h"
#include <stdint.h>

typedef struct {
    fmt f;                /* the one-part adapting format the bytes follow */
    dtype dt;             /* element dtype */
    unsigned bits;        /* bits per element code */
    bool scaled;
    dtype sdt;            /* block scale dtype (when scaled) */
    unsigned sbits;
    u64 block;            /* elements per scale (when scaled) */
    u64 n;                /* elements */
    uint8_t *codes;       /* ceil(n bits / 8) bytes (owned, one block with scales) */
    uint8_t *scales;      /* ceil(n / block) scales of sbits each, or NULL */
    u64 bytes;            /* bytes held: codes and scales */
} kern_wq;

/* Bytes a tensor of n elements takes in format f (one part, no padding):
 * 0 with a message if the kernels cannot hold weights in f. */
u64 kern_wq_bytes(const fmt *f, u64 n, sim_err *e);

/* Allocate a tensor of n elements in format f (zero bytes). SIM_EINVAL for a
 * format with several parts, padding or ue8m0 elements; SIM_ENOMEM. */
int kern_wq_init(kern_wq *w, const fmt *f, u64 n, sim_err *e);
void kern_wq_free(kern_wq *w);

/* Encode x[0 .. n) into w (round to nearest even, block scales as quant.h
 * picks them). This function can't fail. */
void kern_wq_encode(kern_wq *w, const float *x);

/* Elements per piece for kern_wq_encode_at: at least 65,536, whole blocks
 * and whole bytes of codes and scales; 0 when the format's scales are not
 * whole bytes (encode the tensor at once). This function can't fail. */
u64 kern_wq_piece(const kern_wq *w);
/* Encode x[0 .. m) as elements i0 .. i0+m-1 of w, i0 a multiple of
 * kern_wq_piece(w), m at most that (less only for the last piece): the
 * same bytes as kern_wq_encode of the whole tensor (blocks are encoded
 * independently). tmp: kern_wq_bytes of a piece. This function can't fail. */
void kern_wq_encode_at(kern_wq *w, u64 i0, u64 m, const float *x, uint8_t *tmp);

/* Elements i0 .. i0+n-1 of w into y[0 .. n). This function can't fail. */
void kern_wq_decode(const kern_wq *w, u64 i0, u64 n, float *y);

/* Floats of workspace kern_wq_matmul needs for an M x N x K product: a
 * panel per thread (kern_threads), or every panel when there are fewer
 * than 8; 0 for a matrix-vector product (M < 4 or row-wise mode). */
u64 kern_wq_work(u64 M, u64 N, u64 K);

/* C[M,N] (+)= A[M,K] . B where B's element (k, j) is w's element b0 +
 * k sk + j sj, with sk = 1 (B's columns contiguous: a weight held [out, in])
 * or sj = 1 (its rows contiguous). Counts 2 M N K FLOPs of (cat, dt) as
 * kern_matmul does. M < 4 (or row-wise mode): each row a matrix-vector
 * product that decodes the codes as it streams them, split over threads by
 * outputs; an output is, for sk = 1, sum_k A[k] B[k, j] in 32 partial sums
 * (lane k mod 32; lanes l, l+8, l+16, l+24 added as (a + b) + (c + d), those
 * 8 pairwise), for sj = 1 the sum in k order - in float,
 * whatever the thread count. Otherwise 1 MiB panels of B are decoded into
 * work (kern_wq_work floats; NULL: row by row), each multiplied by one
 * sgemm over all M rows, the panels split over the threads; under 8
 * panels, one sgemm per panel and block of 256 rows, split over them. */
void kern_wq_matmul(cost_t *c, flop_cat cat, dtype dt, u64 M, u64 N, u64 K, const float *A, u64 lda, const kern_wq *w,
                    u64 b0, u64 sk, u64 sj, float *C, u64 ldc, bool accumulate, float *work);

#endif
