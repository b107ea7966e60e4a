/* test_ytree.c - the YAML tree: positions, --set paths, and the budgets that
 * keep hostile documents cheap to reject. */
#include "check.h"
#include "util.h"
#include <stdlib.h>

static int load(const char *s, ynode **r, sim_err *e) { return yt_load_string(s, strlen(s), "<t>", r, e); }

int main(void)
{
    ynode *r;
    sim_err e;
    CHECK("yt-parse-ok", load("a: 1\nb:\n  c: [x, y]\n", &r, &e) == SIM_OK);
    ynode *c = yt_get(yt_get(r, "b"), "c");
    CHECK("yt-seq", c && c->kind == YT_SEQ && c->n == 2);
    /* "c" starts at line 3 column 3; its flow sequence at column 6. */
    CHECK("yt-pos-line", c && c->line == 3 && c->col == 6);
    u64 v = 0;
    CHECK("yt-u64", yt_u64(yt_get(r, "a"), &v, &e) == SIM_OK && v == 1);
    CHECK("yt-set-new", yt_set_path(r, "b.d.e=7", &e) == SIM_OK && yt_u64(yt_get(yt_get(yt_get(r, "b"), "d"), "e"), &v, &e) == 0 && v == 7);
    CHECK("yt-set-index", yt_set_path(r, "b.c.1=z", &e) == SIM_OK && !strcmp(c->kid[1]->str, "z"));
    CHECK("yt-set-bad-index", yt_set_path(r, "b.c.5=z", &e) == SIM_EINVAL && strstr(e.msg, "not an index"));
    CHECK("yt-set-into-scalar", yt_set_path(r, "a.x=1", &e) == SIM_EINVAL && strstr(e.msg, "descends into the scalar at <t>:1:4"));
    CHECK("yt-set-no-eq", yt_set_path(r, "a", &e) == SIM_EINVAL && strstr(e.msg, "PATH=VALUE"));
    CHECK("yt-set-list-value", yt_set_path(r, "f=[1, 2]", &e) == SIM_OK && yt_get(r, "f")->kind == YT_SEQ);
    yt_free(r);

    /* Numbers: underscores allowed; sign, float, quotes and 2^64 refused. */
    CHECK("yt-u64-underscore", load("a: 129_280\n", &r, &e) == 0 && yt_u64(yt_get(r, "a"), &v, &e) == 0 && v == 129280);
    yt_free(r);
    const char *badnum[] = {"a: -3\n", "a: 1.5\n", "a: '12'\n", "a: 18446744073709551616\n", "a: 0x10\n"};
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "yt-u64-reject-%d", i);
        CHECK(name, load(badnum[i], &r, &e) == 0 && yt_u64(yt_get(r, "a"), &v, &e) == SIM_EINVAL && strstr(e.msg, "<t>:1:4"));
        yt_free(r);
    }
    CHECK("yt-u64-max", load("a: 18446744073709551615\n", &r, &e) == 0 && yt_u64(yt_get(r, "a"), &v, &e) == 0 && v == UINT64_MAX);
    yt_free(r);

    /* Syntax errors carry a position. */
    CHECK("yt-syntax", load("a: [1, 2\n", &r, &e) == SIM_EINVAL && strstr(e.msg, "<t>:2:1: YAML syntax error"));
    CHECK("yt-empty", load("", &r, &e) == SIM_EINVAL && strstr(e.msg, "empty document"));
    CHECK("yt-two-docs", load("a: 1\n---\nb: 2\n", &r, &e) == SIM_EINVAL && strstr(e.msg, "only one YAML document"));

    /* Aliases expand by copy; an exponential alias bomb stops at the node budget. */
    CHECK("yt-alias-ok", load("a: &x {p: 1}\nb: *x\n", &r, &e) == 0 && yt_get(yt_get(r, "b"), "p"));
    yt_free(r);
    char bomb[4096] = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 12; i++) {
        char line[200];
        snprintf(line, sizeof line, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                 i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        strcat(bomb, line);
    }
    CHECK("yt-alias-bomb", load(bomb, &r, &e) == SIM_EINVAL && strstr(e.msg, "document too large"));

    /* Nesting deeper than YT_MAX_DEPTH. */
    char deep[400] = "";
    for (int i = 0; i < 100; i++) strcat(deep, "[");
    for (int i = 0; i < 100; i++) strcat(deep, "]");
    CHECK("yt-too-deep", load(deep, &r, &e) == SIM_EINVAL && strstr(e.msg, "nesting deeper than 64"));

    /* Missing file: SIM_EIO with the path. */
    CHECK("yt-missing-file", yt_load_file("/nonexistent/x.yaml", &r, &e) == SIM_EIO && strstr(e.msg, "/nonexistent/x.yaml: cannot open"));
    return check_done("test_ytree");
}
