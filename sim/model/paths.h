/* paths.h - where kvsim finds its shipped data (archs/, scenarios/,
 * scenarios/hw/) from any working directory, and paths relative to a file.
 *
 * The data directory is $KVSIM_DATA when set; else the first directory that
 * holds scenarios/hw/ among: the executable's own directory and up to three
 * levels above it (build/kvsim in a checkout -> the checkout), and
 * ../share/kvsim beside it (make install); else ".".
 *
 *   char p[1024];
 *   snprintf(p, sizeof p, "%s/archs/llama-3-8b.yaml", sim_data_dir());
 */
#ifndef PATHS_H
#define PATHS_H

#include "sim.h"
#include <stddef.h>
#include <stdio.h>

/* The data directory (see above), computed once; never NULL. This function
 * can't fail. */
const char *sim_data_dir(void);

/* rel as seen from the directory of the file `base`: "scenarios/s.yaml" +
 * "../archs/x.yaml" -> "archs/x.yaml" (lexically normalised; an absolute rel
 * is kept as is). Returns 0, or -1 if out (len bytes) is too small. */
int sim_path_rel_to(const char *base, const char *rel, char *out, size_t len);

/* 1 if path names an existing regular file (or a symlink to one). */
int sim_file_exists(const char *path);

/* mkdir -p: create dir and each missing parent (mode 0777 before umask).
 * SIM_OK, or SIM_EIO naming the component that could not be created. */
int sim_mkdir_p(const char *dir, sim_err *e);

/* Write a file whole or not at all: sim_out_open sets *f to path's
 * temporary sibling (path + ".tmp", its name kept in tmp[len]), or to stdout
 * when path is NULL; sim_out_commit closes it and renames it over path
 * (nothing for stdout), removing the temporary on any failure. SIM_OK or
 * SIM_EINVAL / SIM_EIO. */
int sim_out_open(const char *path, char *tmp, size_t len, FILE **f, sim_err *e);
int sim_out_commit(FILE *f, const char *path, const char *tmp, sim_err *e);

#endif
