/* Grammar selection from the configuration (see grammar_config.h). */
#include "grammar/grammar_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_impl.h"
#include "util/error.h"

hive_status hive_grammar_read_file(const char *path, size_t limit, char **text, size_t *len, hive_error **err) {
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return hive_fail(err, HIVE_E_IO, "%s: cannot open", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    hive_status st = HIVE_OK;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = realloc(buf, cap);
            if (!b) {
                st = hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (n > limit) {
            st = hive_fail(err, HIVE_E_INVALID, "%s: larger than the limit of %zu bytes", path, limit);
            break;
        }
        if (got < 4096) {
            if (ferror(f)) st = hive_fail(err, HIVE_E_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st != HIVE_OK) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *text = buf;
    if (len) *len = n;
    return HIVE_OK;
}

static int looks_like_json(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == '{' || !strcmp(s, "true") || !strcmp(s, "false");
}

hive_status hive_grammar_compile(const char *kind, const char *value, const hive_grammar_opts *o, hive_grammar **out,
                                 hive_error **err) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    hive_status st = HIVE_OK;
    if (!strcmp(kind, "builtin")) return hive_grammar_builtin(value, o, out, err);
    if (!strcmp(kind, "regex")) return hive_grammar_from_regex(value, strlen(value), out, err);
    if (!strcmp(kind, "gbnf")) return hive_grammar_from_gbnf(value, strlen(value), out, err);
    if (!strcmp(kind, "json-schema") && looks_like_json(value))
        return hive_grammar_from_json_schema(value, strlen(value), o, out, err);
    if (strcmp(kind, "gbnf-file") && strcmp(kind, "json-schema"))
        return hive_fail(err, HIVE_E_INVALID, "unknown grammar kind '%s'", kind);
    if ((st = hive_grammar_read_file(value, HG_MAX_SOURCE, &text, &len, err)) != HIVE_OK) return st;
    st = !strcmp(kind, "gbnf-file") ? hive_grammar_from_gbnf(text, len, out, err)
                                    : hive_grammar_from_json_schema(text, len, o, out, err);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "%s", value);
    free(text);
    return st;
}

static const struct {
    const char *key, *kind, *flag;
} k_sources[] = {
    {"grammar.file", "gbnf-file", "--grammar-file"},
    {"grammar.gbnf", "gbnf", "--grammar"},
    {"grammar.json_schema", "json-schema", "--json-schema"},
    {"grammar.regex", "regex", "--regex"},
    {"grammar.builtin", "builtin", "--grammar-builtin"},
};

hive_status hive_grammar_from_config(const hive_config *cfg, hive_grammar **out, char *what, size_t what_cap,
                                     hive_error **err) {
    *out = NULL;
    if (what && what_cap) what[0] = 0;
    int best = -1, clash = -1;
    hive_cfg_source best_src = HIVE_SRC_DEFAULT;
    for (int i = 0; i < (int)(sizeof k_sources / sizeof k_sources[0]); i++) {
        if (!*hive_config_str(cfg, k_sources[i].key)) continue;
        hive_cfg_source src = hive_config_source(cfg, k_sources[i].key);
        if (best < 0 || src > best_src) best = i, best_src = src, clash = -1;
        else if (src == best_src) clash = i;
    }
    if (best < 0) return HIVE_OK;
    if (clash >= 0)
        return hive_fail(err, HIVE_E_INVALID, "both %s and %s ask for a grammar (%s): give one", k_sources[best].flag,
                         k_sources[clash].flag, hive_cfg_source_name(best_src));
    hive_grammar_opts o;
    hive_grammar_opts_default(&o);
    o.json_ws_max = (uint32_t)hive_config_int(cfg, "grammar.json_ws_max");
    const char *value = hive_config_str(cfg, k_sources[best].key);
    if (what && what_cap)
        snprintf(what, what_cap, "%s %.120s%s (%s)", k_sources[best].flag, value, strlen(value) > 120 ? "..." : "",
                 hive_config_origin(cfg, k_sources[best].key));
    hive_status st = hive_grammar_compile(k_sources[best].kind, value, &o, out, err);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "%s", k_sources[best].flag);
    return st;
}
