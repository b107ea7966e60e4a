/* ytree.c - libyaml events -> ynode tree, with budgets; see ytree.h. */
#include "ytree.h"
#include <yaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

/* File names live for the whole process: nodes copied out of one tree keep
 * pointing at them after the tree is freed. A handful per run. */
static const char *intern(const char *s)
{
    static char *names[256];
    static int n;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return names[i];
    if (n == 256) return "<file>";
    char *c = strdup(s);
    if (!c) return "<file>";
    names[n++] = c;
    return c;
}

static ynode *node_new(yt_kind k, const char *file, int line, int col)
{
    ynode *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = k; n->file = file; n->line = line; n->col = col;
    return n;
}

ynode *yt_new_scalar(const char *s, const char *file, int line, int col)
{
    ynode *n = node_new(YT_SCALAR, file, line, col);
    if (!n) return NULL;
    n->str = strdup(s);
    if (!n->str) { free(n); return NULL; }
    return n;
}

ynode *yt_new_map(const char *file, int line, int col)
{
    return node_new(YT_MAP, file, line, col);
}

static int kid_push(ynode *p, ynode *k)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        ynode **nk = realloc(p->kid, nc * sizeof *nk);
        if (!nk) return SIM_ENOMEM;
        p->kid = nk; p->cap = nc;
    }
    p->kid[p->n++] = k;
    return SIM_OK;
}

void yt_free(ynode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) yt_free(n->kid[i]);
    free(n->kid);
    free(n->str);
    free(n);
}

static size_t count_nodes(const ynode *n)
{
    size_t c = 1;
    for (size_t i = 0; i < n->n; i++) c += count_nodes(n->kid[i]);
    return c;
}

ynode *yt_copy(const ynode *n)
{
    ynode *c = node_new(n->kind, n->file, n->line, n->col);
    if (!c) return NULL;
    c->quoted = n->quoted;
    if (n->str && !(c->str = strdup(n->str))) goto fail;
    for (size_t i = 0; i < n->n; i++) {
        ynode *k = yt_copy(n->kid[i]);
        if (!k || kid_push(c, k)) { yt_free(k); goto fail; }
    }
    return c;
fail:
    yt_free(c);
    return NULL;
}

const char *yt_pos(const ynode *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d:%d", n ? n->file : "?", n ? n->line : 0, n ? n->col : 0);
    return buf;
}

/* ---- builder ------------------------------------------------------------ */

typedef struct {
    char *name;
    ynode *node;     /* borrowed: lives in the tree */
} anchor;

typedef struct {
    const char *file;
    ynode *stack[YT_MAX_DEPTH + 1];
    int depth;
    ynode *root;
    anchor *anchors;
    size_t n_anchors;
    size_t nodes;    /* nodes built so far, aliases counted at expanded size */
    sim_err *e;
} builder;

static int attach(builder *b, ynode *n, const yaml_event_t *ev)
{
    if (b->depth == 0) {
        if (b->root) {
            yt_free(n);
            return sim_fail(b->e, SIM_EINVAL, "%s:%zu:%zu: only one YAML document is allowed",
                            b->file, ev->start_mark.line + 1, ev->start_mark.column + 1);
        }
        b->root = n;
        return SIM_OK;
    }
    ynode *p = b->stack[b->depth - 1];
    if (p->kind == YT_MAP && p->n % 2 == 0 && n->kind != YT_SCALAR) {
        /* Keys are plain text everywhere in kvsim; refusing complex keys here
         * means no reader ever meets one. */
        int line = n->line, col = n->col;
        yt_free(n);
        return sim_fail(b->e, SIM_EINVAL, "%s:%d:%d: mapping keys must be plain text, not a %s",
                        b->file, line, col, ev->type == YAML_MAPPING_START_EVENT ? "mapping" : "list or alias");
    }
    if (p->kind == YT_MAP && p->n % 2 == 0) {
        if (p->n / 2 >= YT_MAX_MAP_KEYS) {
            int line = n->line, col = n->col;
            yt_free(n);
            return sim_fail(b->e, SIM_EINVAL, "%s:%d:%d: a mapping with more than %d keys", b->file, line, col, YT_MAX_MAP_KEYS);
        }
        for (size_t i = 0; i < p->n; i += 2)
            if (!strcmp(p->kid[i]->str, n->str)) {
                int rc = sim_fail(b->e, SIM_EINVAL, "%s:%d:%d: duplicate key '%s' (first at line %d)", b->file,
                                  n->line, n->col, n->str, p->kid[i]->line);
                yt_free(n);
                return rc;
            }
    }
    if (kid_push(p, n)) { yt_free(n); return SIM_ENOMEM; }
    return SIM_OK;
}

static int add_anchor(builder *b, const yaml_char_t *name, ynode *n)
{
    if (!name) return SIM_OK;
    anchor *na = realloc(b->anchors, (b->n_anchors + 1) * sizeof *na);
    if (!na) return SIM_ENOMEM;
    b->anchors = na;
    na[b->n_anchors].name = strdup((const char *)name);
    if (!na[b->n_anchors].name) return SIM_ENOMEM;
    na[b->n_anchors].node = n;
    b->n_anchors++;
    return SIM_OK;
}

static int budget(builder *b, size_t add, const yaml_event_t *ev)
{
    b->nodes += add;
    if (b->nodes > YT_MAX_NODES)
        return sim_fail(b->e, SIM_EINVAL,
                        "%s:%zu:%zu: document too large: more than %d nodes (after expanding aliases)",
                        b->file, ev->start_mark.line + 1, ev->start_mark.column + 1, YT_MAX_NODES);
    return SIM_OK;
}

static int on_event(builder *b, yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    ynode *n;
    int rc;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if ((rc = budget(b, 1, ev))) return rc;
        n = node_new(YT_SCALAR, b->file, line, col);
        if (!n) return SIM_ENOMEM;
        n->str = malloc(ev->data.scalar.length + 1);
        if (!n->str) { free(n); return SIM_ENOMEM; }
        memcpy(n->str, ev->data.scalar.value, ev->data.scalar.length);
        n->str[ev->data.scalar.length] = 0;
        if (strlen(n->str) != ev->data.scalar.length) {
            yt_free(n);
            return sim_fail(b->e, SIM_EINVAL, "%s:%d:%d: NUL byte inside a scalar", b->file, line, col);
        }
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        if ((rc = add_anchor(b, ev->data.scalar.anchor, n))) { yt_free(n); return rc; }
        return attach(b, n, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if ((rc = budget(b, 1, ev))) return rc;
        if (b->depth >= YT_MAX_DEPTH)
            return sim_fail(b->e, SIM_EINVAL, "%s:%d:%d: nesting deeper than %d levels",
                            b->file, line, col, YT_MAX_DEPTH);
        n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? YT_SEQ : YT_MAP, b->file, line, col);
        if (!n) return SIM_ENOMEM;
        {
            const yaml_char_t *a = ev->type == YAML_SEQUENCE_START_EVENT
                ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
            if ((rc = attach(b, n, ev))) return rc;
            if ((rc = add_anchor(b, a, n))) return rc;
        }
        b->stack[b->depth++] = n;
        return SIM_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        b->depth--;
        return SIM_OK;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = b->n_anchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, name) == 0) {
                if ((rc = budget(b, count_nodes(b->anchors[i].node), ev))) return rc;
                ynode *c = yt_copy(b->anchors[i].node);
                if (!c) return SIM_ENOMEM;
                return attach(b, c, ev);
            }
        }
        return sim_fail(b->e, SIM_EINVAL, "%s:%d:%d: unknown alias *%s", b->file, line, col, name);
    }
    default:
        return SIM_OK;
    }
}

int yt_load_string(const char *text, size_t len, const char *name, ynode **out, sim_err *e)
{
    yaml_parser_t p;
    builder b;
    int rc = SIM_OK;
    memset(&b, 0, sizeof b);
    b.file = intern(name);
    b.e = e;
    *out = NULL;
    if (!yaml_parser_initialize(&p)) return sim_fail(e, SIM_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            size_t line = p.problem_mark.line + 1, col = p.problem_mark.column + 1;
            if (p.error == YAML_READER_ERROR) {
                /* libyaml leaves the mark unset for bad bytes; count from the offset. */
                line = 1, col = 1;
                for (size_t i = 0; i < p.problem_offset && i < len; i++) {
                    if (text[i] == '\n') line++, col = 1;
                    else if (((unsigned char)text[i] & 0xC0) != 0x80) col++;
                }
            }
            rc = sim_fail(e, SIM_EINVAL, "%s:%zu:%zu: YAML syntax error: %s%s%s", b.file,
                          line, col,
                          p.problem ? p.problem : "unknown",
                          p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc == SIM_ENOMEM) sim_fail(e, rc, "%s: out of memory while parsing", b.file);
        if (rc || done) break;
    }
    yaml_parser_delete(&p);
    for (size_t i = 0; i < b.n_anchors; i++) free(b.anchors[i].name);
    free(b.anchors);
    if (rc) { yt_free(b.root); return rc; }
    if (!b.root) return sim_fail(e, SIM_EINVAL, "%s:1:1: empty document", b.file);
    *out = b.root;
    return SIM_OK;
}

int yt_load_file(const char *path, ynode **out, sim_err *e)
{
    struct stat st;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sim_fail(e, SIM_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return sim_fail(e, SIM_EIO, "%s: is a directory", path);
    }
    if (fstat(fileno(f), &st) == 0 && st.st_size > (off_t)YT_MAX_BYTES) {
        fclose(f);
        return sim_fail(e, SIM_EINVAL, "%s:1:1: file is %lld bytes; specs larger than %u bytes are refused",
                        path, (long long)st.st_size, YT_MAX_BYTES);
    }
    char *buf = malloc(YT_MAX_BYTES + 1);
    if (!buf) { fclose(f); return sim_fail(e, SIM_ENOMEM, "out of memory"); }
    size_t len = fread(buf, 1, YT_MAX_BYTES + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) { free(buf); return sim_fail(e, SIM_EIO, "%s: read error", path); }
    if (len > YT_MAX_BYTES) {
        free(buf);
        return sim_fail(e, SIM_EINVAL, "%s:1:1: file larger than %u bytes is refused", path, YT_MAX_BYTES);
    }
    int rc = yt_load_string(buf, len, path, out, e);
    free(buf);
    return rc;
}

/* ---- access --------------------------------------------------------------- */

ynode *yt_get(const ynode *map, const char *key)
{
    if (!map || map->kind != YT_MAP) return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kid[i]->kind == YT_SCALAR && strcmp(map->kid[i]->str, key) == 0)
            return map->kid[i + 1];
    return NULL;
}

int yt_put(ynode *map, const char *key, ynode *val)
{
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kid[i]->kind == YT_SCALAR && strcmp(map->kid[i]->str, key) == 0) {
            yt_free(map->kid[i + 1]);
            map->kid[i + 1] = val;
            return SIM_OK;
        }
    ynode *k = yt_new_scalar(key, val->file, val->line, val->col);
    if (!k) return SIM_ENOMEM;
    if (kid_push(map, k)) { yt_free(k); return SIM_ENOMEM; }
    if (kid_push(map, val)) { map->n--; yt_free(k); return SIM_ENOMEM; }
    return SIM_OK;
}

int yt_set_node(ynode *root, const char *dotted, ynode *val, const ynode *keypos, const char *what, sim_err *e)
{
    char path[256];
    if (strlen(dotted) >= sizeof path || !*dotted) {
        yt_free(val);
        return sim_fail(e, SIM_EINVAL, "%s: path '%.40s' is empty or too long", what, dotted);
    }
    strcpy(path, dotted);
    const char *file = intern("<--set>");
    ynode *cur = root;
    char *save = NULL;
    char *tok = strtok_r(path, ".", &save);
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        if (cur->kind == YT_SEQ) {
            char *end;
            errno = 0;
            unsigned long idx = strtoul(tok, &end, 10);
            if (*end || errno || idx >= cur->n) {
                int rc = sim_fail(e, SIM_EINVAL, "%s: '%s' is not an index of the list at %s:%d:%d (length %zu)",
                                  what, tok, cur->file, cur->line, cur->col, cur->n);
                yt_free(val);
                return rc;
            }
            if (!next) { yt_free(cur->kid[idx]); cur->kid[idx] = val; return SIM_OK; }
            cur = cur->kid[idx];
            tok = next;
            continue;
        }
        if (cur->kind != YT_MAP) {
            int rc = sim_fail(e, SIM_EINVAL, "%s: '%s' descends into the scalar at %s:%d:%d",
                              what, tok, cur->file, cur->line, cur->col);
            yt_free(val);
            return rc;
        }
        if (!next) {
            bool fresh = !yt_get(cur, tok);
            if (yt_put(cur, tok, val)) return sim_fail(e, SIM_ENOMEM, "out of memory");
            if (fresh && keypos) {   /* a new key reports errors where it was written */
                cur->kid[cur->n - 2]->line = keypos->line;
                cur->kid[cur->n - 2]->col = keypos->col;
                cur->kid[cur->n - 2]->file = keypos->file;
            }
            return SIM_OK;
        }
        ynode *child = yt_get(cur, tok);
        if (!child) {
            child = yt_new_map(file, 1, 1);
            if (!child || yt_put(cur, tok, child)) { yt_free(val); return sim_fail(e, SIM_ENOMEM, "out of memory"); }
        }
        cur = child;
        tok = next;
    }
    yt_free(val);
    return sim_fail(e, SIM_EINVAL, "%s: empty path", what);
}

int yt_set_path(ynode *root, const char *assignment, sim_err *e)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return sim_fail(e, SIM_EINVAL, "--set '%s': expected PATH=VALUE", assignment);
    size_t plen = (size_t)(eq - assignment);
    char path[256], what[300];
    if (plen >= sizeof path) return sim_fail(e, SIM_EINVAL, "--set: path too long");
    memcpy(path, assignment, plen);
    path[plen] = 0;
    snprintf(what, sizeof what, "--set %s", path);
    /* The value is parsed as YAML so lists ("[1,2]") and maps work too. */
    ynode *val = NULL;
    int rc;
    if (eq[1] == 0) {
        val = yt_new_scalar("", intern("<--set>"), 1, (int)plen + 2);
        rc = val ? SIM_OK : sim_fail(e, SIM_ENOMEM, "out of memory");
    } else {
        rc = yt_load_string(eq + 1, strlen(eq + 1), "<--set>", &val, e);
    }
    if (rc) return rc;
    return yt_set_node(root, path, val, NULL, what, e);
}

int yt_u64(const ynode *n, u64 *out, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_SCALAR)
        return sim_fail(e, SIM_EINVAL, "%s: expected a whole number, got a %s", yt_pos(n, pos, sizeof pos),
                        n->kind == YT_MAP ? "mapping" : "list");
    const char *s = n->str;
    u64 v = 0;
    int digits = 0;
    if (n->quoted || !*s) goto bad;
    for (; *s; s++) {
        if (*s == '_' && digits && s[1] >= '0' && s[1] <= '9') continue;
        if (*s < '0' || *s > '9') goto bad;
        if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && (u64)(*s - '0') > UINT64_MAX % 10))
            return sim_fail(e, SIM_EINVAL, "%s: '%s' does not fit in 64 bits", yt_pos(n, pos, sizeof pos), n->str);
        v = v * 10 + (u64)(*s - '0');
        digits++;
    }
    *out = v;
    return SIM_OK;
bad:
    return sim_fail(e, SIM_EINVAL, "%s: expected a whole number >= 0, got '%s'", yt_pos(n, pos, sizeof pos), n->str);
}

int yt_bool(const ynode *n, bool *out, sim_err *e)
{
    char pos[300];
    if (n->kind == YT_SCALAR && !n->quoted) {
        if (!strcmp(n->str, "true")) { *out = true; return SIM_OK; }
        if (!strcmp(n->str, "false")) { *out = false; return SIM_OK; }
    }
    return sim_fail(e, SIM_EINVAL, "%s: expected true or false, got %s%s%s", yt_pos(n, pos, sizeof pos),
                    n->kind == YT_SCALAR ? "'" : "a ", n->kind == YT_SCALAR ? n->str : (n->kind == YT_MAP ? "mapping" : "list"),
                    n->kind == YT_SCALAR ? "'" : "");
}

int yt_str(const ynode *n, const char **out, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_SCALAR)
        return sim_fail(e, SIM_EINVAL, "%s: expected a text value, got a %s", yt_pos(n, pos, sizeof pos),
                        n->kind == YT_MAP ? "mapping" : "list");
    *out = n->str;
    return SIM_OK;
}
