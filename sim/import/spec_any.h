/* spec_any.h - load a spec or a Hugging Face config.json alike.
 *
 * The model library (spec.h) reads YAML specs only; the commands accept a
 * config.json wherever a spec goes, and this is where: a path ending in
 * .json is imported (import_hf.h; warnings dropped: `kvsim import` shows
 * them) and the generated YAML loaded with spec_load_tree, anything else
 * goes to spec_load. Same returns as spec_load.
 */
#ifndef SPEC_ANY_H
#define SPEC_ANY_H

#include "spec.h"

int spec_load_any(model_spec *m, const char *path, const char *const *sets, int n_sets, sim_err *e);

#endif
