/* types.h - THE list of component types, one entry per type.
 *
 * X(cat, name) names the type `name` of category `cat` (attn, ffn, res, ple).
 * The model's registry (sim/model/layer.c) makes it `comp_<cat>_<name>`,
 * defined in sim/layers/<name>.c (ffn and res types: <cat>_<name>.c); the
 * kernels' table (sim/kern/ref_table.c) makes it `ref_<cat>_<name>`, defined
 * in the type's *_ref.c. Adding a type is its two files and one entry here
 * (README.md, "Adding a layer type").
 */
#ifndef TYPES_H
#define TYPES_H

#define KVSIM_TYPES(X)                                                                   \
    X(attn, gqa) X(attn, mla) X(attn, dsa) X(attn, csa) X(attn, hca) X(attn, swa4)       \
    X(attn, cca)                                                                         \
    X(ffn, none) X(ffn, dense) X(ffn, moe)                                               \
    X(res, plain) X(res, mhc)                                                            \
    X(ple, ple)

#endif
