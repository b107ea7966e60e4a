/* kern_attn_gather.h - the blocked prefill of queries over picked rows
 * (kern_attn_gather.c), what kern_attn_queries runs for n > 1 queries
 * whose sources are float rows (not in row-wise mode, kern_attn_blocked on).
 * Internal to the kernels: callers use kern_attn_queries (kern.h).
 */
#ifndef KERN_ATTN_GATHER_H
#define KERN_ATTN_GATHER_H

#include "kern.h"

/* Whether the blocked kernel takes these n queries: blocked mode on, n >= 2,
 * heads per kv group a multiple of 4, at most 4 sources per query, every source float rows (x) with the same x
 * and ld in every query, index lists strictly ascending. This function
 * can't fail. */
bool kern_attn_gather_fits(const kern_attn *a, u64 n, const kern_src *src, int nsrc);

/* Floats of `work` kern_attn_gather needs for n queries (every thread's). */
u64 kern_attn_gather_work(const kern_attn *a, u64 n);

/* The n queries (layout as kern_attn_queries), in parallel over blocks of
 * queries if par. Adds the (query, row) pairs computed to *n_sel and, per
 * block of queries and key block, the distinct rows they picked to
 * *n_union. Counts no FLOPs (the caller does). This function can't fail. */
void kern_attn_gather(const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc, float *o, u64 ldo,
                      float *work, bool par, u64 *n_sel, u64 *n_union);

#endif
