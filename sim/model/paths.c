/* paths.c - see paths.h. */
#define _XOPEN_SOURCE 700   /* realpath */
#include "paths.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <errno.h>

int sim_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir holds the shipped hardware profiles, so it is a kvsim data directory. */
static int has_data(const char *dir)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/scenarios/hw", dir);
    return is_dir(p);
}

const char *sim_data_dir(void)
{
    static char dir[4096];
    if (dir[0]) return dir;
    const char *env = getenv("KVSIM_DATA");
    if (env && *env && strlen(env) < sizeof dir) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;   /* exe is now the executable's directory */
            char cand[4200];
            snprintf(cand, sizeof cand, "%s/../share/kvsim", exe);
            if (has_data(cand) && realpath(cand, dir)) return dir;
            snprintf(cand, sizeof cand, "%s", exe);
            for (int up = 0; up <= 3; up++) {
                if (has_data(cand) && realpath(cand, dir)) return dir;
                size_t l = strlen(cand);
                if (l + 4 >= sizeof cand) break;
                memcpy(cand + l, "/..", 4);
            }
        }
    }
    snprintf(dir, sizeof dir, ".");   /* also undoes a failed realpath's partial result */
    return dir;
}

int sim_path_rel_to(const char *base, const char *rel, char *out, size_t len)
{
    char buf[4096];
    const char *slash = strrchr(base, '/');
    if (rel[0] == '/' || !slash) {
        if (strlen(rel) >= len) return -1;
        memcpy(out, rel, strlen(rel) + 1);
        return 0;
    }
    int n = snprintf(buf, sizeof buf, "%.*s/%s", (int)(slash - base), base, rel);   /* "" + "/rel" when base is "/f" */
    if (n < 0 || (size_t)n >= sizeof buf) return -1;
    /* Lexical normalisation: drop "." components and fold "dir/.." pairs. */
    const char *comp[512];
    size_t clen[512];
    int nc = 0;
    int absolute = buf[0] == '/';
    for (char *p = buf; *p;) {
        while (*p == '/') p++;
        if (!*p) break;
        char *q = p;
        while (*q && *q != '/') q++;
        size_t l = (size_t)(q - p);
        if (l == 1 && p[0] == '.') {
        } else if (l == 2 && p[0] == '.' && p[1] == '.' && nc > 0 && !(clen[nc - 1] == 2 && !strncmp(comp[nc - 1], "..", 2))) {
            nc--;
        } else if (nc < 512) {
            comp[nc] = p, clen[nc] = l, nc++;
        } else {
            return -1;
        }
        p = q;
    }
    size_t o = 0;
    if (absolute) { if (len < 2) return -1; out[o++] = '/'; }
    for (int i = 0; i < nc; i++) {
        if (o + clen[i] + 2 > len) return -1;
        if (i) out[o++] = '/';
        memcpy(out + o, comp[i], clen[i]);
        o += clen[i];
    }
    if (o == 0) { if (len < 2) return -1; out[o++] = '.'; }
    out[o] = 0;
    return 0;
}

int sim_mkdir_p(const char *dir, sim_err *e)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n >= sizeof buf) return sim_fail(e, SIM_EIO, "%.64s...: path too long", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return sim_fail(e, SIM_EIO, "%s: cannot create directory (%s)", buf, strerror(errno));
        buf[i] = c;
    }
    if (!is_dir(dir)) return sim_fail(e, SIM_EIO, "%s: not a directory", dir);
    return SIM_OK;
}

int sim_out_open(const char *path, char *tmp, size_t len, FILE **f, sim_err *e)
{
    *f = stdout;
    if (!path) return SIM_OK;
    if ((size_t)snprintf(tmp, len, "%s.tmp", path) >= len) return sim_fail(e, SIM_EINVAL, "%s: path too long", path);
    if (!(*f = fopen(tmp, "w"))) return sim_fail(e, SIM_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    return SIM_OK;
}

int sim_out_commit(FILE *f, const char *path, const char *tmp, sim_err *e)
{
    if (!path) return SIM_OK;
    if (ferror(f) | fclose(f)) { remove(tmp); return sim_fail(e, SIM_EIO, "%s: write failed", tmp); }
    if (rename(tmp, path)) { remove(tmp); return sim_fail(e, SIM_EIO, "%s: cannot rename: %s", path, strerror(errno)); }
    return SIM_OK;
}
