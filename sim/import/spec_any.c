/* spec_any.c - see spec_any.h. */
#include "spec_any.h"
#include "import_hf.h"
#include <stdlib.h>
#include <string.h>

int spec_load_any(model_spec *m, const char *path, const char *const *sets, int n_sets, sim_err *e)
{
    size_t plen = strlen(path);
    if (plen <= 5 || strcmp(path + plen - 5, ".json")) return spec_load(m, path, sets, n_sets, e);
    char *yaml;
    ynode *root;
    memset(m, 0, sizeof *m);
    int rc = import_hf_yaml(path, &yaml, NULL, e);
    if (rc) return rc;
    if ((rc = yt_load_string(yaml, strlen(yaml), path, &root, e))) {
        free(yaml);
        return rc;
    }
    return spec_load_tree(m, root, yaml, path, sets, n_sets, e);
}
