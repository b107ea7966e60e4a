/* ytree.h - a YAML document as a small tree of nodes that remember where they
 * came from (file:line:col), built with libyaml's event parser.
 *
 * It is not a general YAML library: one document, scalars are kept as text,
 * anchors/aliases are expanded by copy under a node budget (so "billion laughs"
 * documents fail fast), nesting deeper than YT_MAX_DEPTH is refused, files over
 * YT_MAX_BYTES are refused before reading. `yt_set_path` applies a `--set
 * PATH=VALUE` override to the tree before anything interprets it.
 *
 *   ynode *root; sim_err e;
 *   if (yt_load_file("archs/x.yaml", &root, &e)) ...;
 *   yt_free(root);
 */
#ifndef YTREE_H
#define YTREE_H

#include "sim.h"

#define YT_MAX_DEPTH  64
#define YT_MAX_NODES  200000          /* after alias expansion */
#define YT_MAX_BYTES  (4u << 20)      /* 4 MiB: specs are a few KiB */
#define YT_MAX_MAP_KEYS 4096          /* keys in one mapping (duplicates are refused) */

typedef enum { YT_SCALAR, YT_SEQ, YT_MAP } yt_kind;

typedef struct ynode {
    yt_kind kind;
    const char *file;      /* borrowed: interned name owned by the root's doc */
    int line, col;         /* 1-based position of the node's start */
    char *str;             /* YT_SCALAR: the text (owned) */
    bool quoted;           /* YT_SCALAR: written in quotes (a string, never a number) */
    struct ynode **kid;    /* YT_SEQ: items; YT_MAP: key0, val0, key1, val1, ... */
    size_t n, cap;         /* entries in kid */
} ynode;

/* Parse a file. On success *out owns the tree (free with yt_free). On failure
 * returns SIM_EINVAL/SIM_EIO with "file:line:col: ..." in e. */
int yt_load_file(const char *path, ynode **out, sim_err *e);

/* Parse a string; `name` is used in positions ("<string>"). */
int yt_load_string(const char *text, size_t len, const char *name, ynode **out, sim_err *e);

void yt_free(ynode *n);

/* Deep copy (positions kept). NULL on allocation failure. */
ynode *yt_copy(const ynode *n);

/* A new scalar / map node with the given position; NULL on allocation failure. */
ynode *yt_new_scalar(const char *s, const char *file, int line, int col);
ynode *yt_new_map(const char *file, int line, int col);

/* Map lookup by key text; NULL when absent or n is not a map. */
ynode *yt_get(const ynode *map, const char *key);

/* Set map[key] = val (replacing and freeing an old value). Takes ownership of
 * val. Returns SIM_ENOMEM or SIM_OK. */
int yt_put(ynode *map, const char *key, ynode *val);

/* Apply "a.b.c=VALUE" (dots separate map keys; a number indexes a list). Missing
 * map keys are created. Errors (e.g. descending into a scalar) name the path. */
int yt_set_path(ynode *root, const char *assignment, sim_err *e);

/* Set the node at a dotted path below root to val (taking ownership), as
 * yt_set_path does; `what` names the path's origin in messages; a key the
 * path creates takes keypos's position (NULL: val's). */
int yt_set_node(ynode *root, const char *path, ynode *val, const ynode *keypos, const char *what, sim_err *e);

/* "file:line:col" of a node into buf. */
const char *yt_pos(const ynode *n, char *buf, size_t len);

/* Readers with typed errors at the node's position. */
int yt_u64(const ynode *n, u64 *out, sim_err *e);        /* whole number >= 0 */
int yt_bool(const ynode *n, bool *out, sim_err *e);      /* true/false */
int yt_str(const ynode *n, const char **out, sim_err *e);/* any scalar */

#endif
