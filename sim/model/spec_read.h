/* spec_read.h - readers of YAML values for the spec loader (spec.c): each
 * returns SIM_OK or SIM_EINVAL with "file:line:col: ..." in e. Internal to
 * sim/model. */
#ifndef SPEC_READ_H
#define SPEC_READ_H

#include "spec.h"
#include "layer.h"

#define POS(n) yt_pos((n), pos, sizeof pos)

int spec_check_keys(const ynode *map, const char *const *allowed, const char *where, sim_err *e);
int spec_want_map(const ynode *n, const char *what, sim_err *e);
int spec_get_u64(const ynode *map, const char *key, u64 lo, u64 hi, bool required, u64 *out, const char *unit, sim_err *e);
int spec_get_dtype(const ynode *n, dtype *out, bool need_compute, sim_err *e);
int spec_get_real(const ynode *map, const char *key, double lo, double hi, bool required, double *out, sim_err *e);
int spec_parse_rope(model_spec *m, const ynode *r, sim_err *e);
int spec_get_fmt(const model_spec *m, const ynode *n, fmt *out, sim_err *e);
bool spec_choice_index(const char *choices, const char *s, u64 *out);
int spec_get_choice(const ynode *n, const char *key, const char *choices, u64 *out, sim_err *e);
int spec_parse_formats(model_spec *m, const ynode *fm, sim_err *e);
int spec_parse_comp(const model_spec *m, const ynode *n, comp_cat cat, void *cfg, const comp_type **type_out, const char *const *extra_keys, sim_err *e);

#endif
