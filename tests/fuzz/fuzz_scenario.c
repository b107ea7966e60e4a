/* fuzz_scenario.c - libFuzzer target: the scenario reader
 * (scenario_load_text), then the sweep's variant list (sweep_variants:
 * every arch with its axis values applied), without a database.
 *
 * Run from the repository root: scenarios name arch files by path
 * (archs/NAME.yaml), and those are read from disk.
 *
 *   build-fuzz/tests/bin/fuzz_scenario build-fuzz/corpus/scenario tests/fuzz/corpus_scenario
 */
#include "scenario.h"
#include "sweep.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scenario s;
    sim_err e;
    if (scenario_load_text(&s, (const char *)data, size, "<fuzz>", &e)) return 0;
    /* The variants too, unless there are so many (every combination of four
     * 64-value axes) that one input would take minutes: a big sweep is
     * allowed, just not something to fuzz. */
    double nv = s.n_archs;
    for (int x = 0; x < s.n_axes; x++) nv *= s.product ? s.axis[x].n_values + 1 : 1;
    for (int x = 0; x < s.n_axes && !s.product; x++) nv += (double)s.n_archs * s.axis[x].n_values;
    variant *v;
    int n;
    if (nv <= 256 && sweep_variants(&s, &v, &n, &e) == SIM_OK) sweep_variants_free(v, n);
    scenario_free(&s);
    return 0;
}
