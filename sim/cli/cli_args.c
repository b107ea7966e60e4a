/* cli_args.c - the argument helpers every command shares; see cli.h. */
#include "cli.h"
#include "units.h"
#include "paths.h"
#include "spec_any.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_bad(const char *cmd, const char *format, ...)
{
    va_list ap;
    fprintf(stderr, "kvsim%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fprintf(stderr, "\n(see kvsim %s%s--help)\n", cmd ? cmd : "", cmd ? " " : "");
    return 2;
}

void cli_args_init(cli_args *p, const char *cmd, int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    p->cmd = cli_find(cmd);
    p->argc = argc;
    p->argv = argv;
}

static const cli_opt *find_opt(const cli_cmd *c, const char *name, size_t len)
{
    for (const cli_opt *o = c && c->opts ? c->opts : NULL; o && o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

int cli_args_next(cli_args *p)
{
    const char *cmd = p->cmd ? p->cmd->name : NULL;
    p->opt = p->val = NULL;
    if (p->i >= p->argc) return 0;
    const char *a = p->argv[p->i++];
    if (a[0] != '-' || !a[1]) { p->val = a; return 1; }
    /* "--opt=value": the value follows the first '=' (long options only). */
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const cli_opt *o = find_opt(p->cmd, a, len);
    if (!o) return cli_bad(cmd, "unknown option '%.*s'", (int)len, a), -1;
    p->opt = o->name;
    if (!o->value) {
        if (eq) return cli_bad(cmd, "%s takes no value (got '%s')", o->name, eq + 1), -1;
        return 1;
    }
    if (eq) p->val = eq + 1;
    else if (p->i < p->argc) p->val = p->argv[p->i++];
    else return cli_bad(cmd, "%s needs a value (%s)", o->name, o->value), -1;
    return 1;
}

bool cli_is(const cli_args *p, const char *name) { return p->opt && !strcmp(p->opt, name); }

int cli_u64(const cli_args *p, u64 lo, u64 hi, u64 *out)
{
    const char *v = p->val;
    char *end;
    if (v && *v && v[0] != '-' && v[0] != '+' && v[0] != ' ') {
        unsigned long long x = strtoull(v, &end, 10);
        if (!*end && x >= lo && x <= hi) { *out = x; return 0; }
    }
    return cli_bad(p->cmd ? p->cmd->name : NULL, "%s '%s': expected a whole number from %llu to %llu", p->opt, v ? v : "",
                   (unsigned long long)lo, (unsigned long long)hi);
}

int cli_ctx(const cli_args *p, u64 *out)
{
    sim_err e;
    if (units_parse_ctx(p->val, out, &e)) return cli_bad(p->cmd ? p->cmd->name : NULL, "%s: %s", p->opt, e.msg);
    return 0;
}

int cli_add_set(const cli_args *p, const char **sets, int *n)
{
    if (*n == CLI_MAX_SETS) return cli_bad(p->cmd ? p->cmd->name : NULL, "too many --set options (at most %d)", CLI_MAX_SETS);
    sets[(*n)++] = p->val;
    return 0;
}

const char *cli_spec_path(const char *arg, char *buf, size_t len)
{
    if (sim_file_exists(arg) || arg[0] == '/') return arg;
    static const char *const tries[] = {"%s/%s", "%s/archs/%s", "%s/archs/%s.yaml"};
    for (int i = 0; i < 3; i++) {
        int n = snprintf(buf, len, tries[i], sim_data_dir(), arg);
        if (n > 0 && (size_t)n < len && sim_file_exists(buf)) return buf;
    }
    return arg;
}

void cli_settings_line(FILE *f, const char *const *sets, int n_sets, const char *hw, const char *mla_form)
{
    if (!n_sets && !hw && !mla_form) return;
    fputs("  settings:", f);
    for (int i = 0; i < n_sets; i++) fprintf(f, " --set %s", sets[i]);
    if (hw) fprintf(f, " --hw %s", hw);
    if (mla_form) fprintf(f, " --mla-form %s", mla_form);
    fputc('\n', f);
}

int cli_load_spec(model_spec *m, const char *arg, const char *const *sets, int n_sets, sim_err *e)
{
    char buf[4200];
    const char *path = cli_spec_path(arg, buf, sizeof buf);
    int rc = spec_load_any(m, path, sets, n_sets, e);
    if (rc == SIM_EIO && path == arg && !sim_file_exists(arg) && arg[0] != '/') {
        size_t n = strlen(e->msg);
        snprintf(e->msg + n, sizeof e->msg - n, " (nor a shipped spec in %s/archs)", sim_data_dir());
    }
    return rc;
}
