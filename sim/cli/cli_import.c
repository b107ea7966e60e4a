/* cli_import.c - `kvsim import config.json [-o ARCH.yaml]`: a Hugging Face
 * config as a spec, checked by loading it before anything is written. */
#include "cli.h"
#include "spec.h"
#include "ytree.h"
#include "import_hf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write text to path atomically: a temporary file in the same directory,
 * then rename, so the target is never half-written. */
static int write_atomic(const char *path, const char *text)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) { fprintf(stderr, "kvsim: out of memory\n"); return 2; }
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "kvsim: %s: cannot create a temporary file beside it\n", path);
        if (fd >= 0) { close(fd); unlink(tmp); }
        free(tmp);
        return 2;
    }
    bool ok = fputs(text, f) >= 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path)) {
        fprintf(stderr, "kvsim: %s: write failed\n", path);
        unlink(tmp);
        free(tmp);
        return 2;
    }
    free(tmp);
    return 0;
}

int cli_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    cli_args p;
    cli_args_init(&p, "import", argc, argv);
    int r;
    while ((r = cli_args_next(&p)) > 0) {
        if (cli_is(&p, "-o")) out = p.val;
        else if (in) return cli_bad("import", "import takes one config.json (got '%s' too)", p.val);
        else in = p.val;
    }
    if (r < 0) return 2;
    if (!in) return cli_bad("import", "import needs a config.json");
    import_warnings w = {0};
    sim_err e;
    char *yaml;
    int rc = import_hf_yaml(in, &yaml, &w, &e);
    for (int i = 0; i < w.n; i++) fprintf(stderr, "kvsim: warning: %s\n", w.msg[i]);
    if (w.dropped) fprintf(stderr, "kvsim: warning: %d more warnings not shown\n", w.dropped);
    if (rc) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    /* The generated spec must load: check it before writing anything. */
    ynode *root;
    model_spec m;
    char *copy = strdup(yaml);
    rc = !copy ? sim_fail(&e, SIM_ENOMEM, "out of memory") : yt_load_string(yaml, strlen(yaml), in, &root, &e);
    if (rc) free(copy);
    else rc = spec_load_tree(&m, root, copy, in, NULL, 0, &e);   /* owns copy from here */
    if (rc) {
        fprintf(stderr, "kvsim: the generated spec does not load (an importer bug): %s\n", e.msg);
        free(yaml);
        return 2;
    }
    spec_free(&m);
    if (out) rc = write_atomic(out, yaml);
    else rc = fputs(yaml, stdout) < 0 || fflush(stdout) ? 2 : 0;
    free(yaml);
    return rc;
}

