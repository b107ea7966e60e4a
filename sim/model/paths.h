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

#endif
