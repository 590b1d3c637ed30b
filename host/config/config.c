#include "config/config.h"

#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "util/error.h"

typedef struct cfg_entry {
    const hive_cfg_key *key;      /* NULL for plugin-scoped values */
    char *name;                   /* hash key */
    hive_cfg_source src;
    char origin[600];
    int64_t i;
    double f;
    char *s;                      /* string value, or the text of a plugin value */
    char **list;
    size_t n_list;
    UT_hash_handle hh;
} cfg_entry;

struct hive_config {
    cfg_entry *entries;
};

static const char *const k_src_names[] = {"default", "file", "manifest", "cli"};
const char *hive_cfg_source_name(hive_cfg_source s) { return k_src_names[s]; }

static void entry_clear_list(cfg_entry *e) {
    for (size_t i = 0; i < e->n_list; i++) free(e->list[i]);
    free(e->list);
    e->list = NULL;
    e->n_list = 0;
}

static void entry_free(cfg_entry *e) {
    entry_clear_list(e);
    free(e->s);
    free(e->name);
    free(e);
}

static int list_append(cfg_entry *e, const char *item) {
    char **l = realloc(e->list, (e->n_list + 1) * sizeof *l);
    if (!l) return -1;
    e->list = l;
    if (!(l[e->n_list] = strdup(item))) return -1;
    e->n_list++;
    return 0;
}

/* Parse `text` into e according to its schema type. append: lists grow instead of being replaced. */
static hive_status parse_value(cfg_entry *e, const char *text, int append, hive_error **err) {
    const hive_cfg_key *k = e->key;
    char *end;
    switch (k->type) {
    case HIVE_CFG_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return hive_fail(err, HIVE_E_INVALID, "%s: '%s' is not an integer", k->key, text);
        if (k->min <= k->max && (v < k->min || v > k->max))
            return hive_fail(err, HIVE_E_INVALID, "%s: %lld is outside [%.0f, %.0f]", k->key, v, k->min, k->max);
        e->i = v;
        e->f = (double)v;
        return HIVE_OK;
    }
    case HIVE_CFG_FLOAT: {
        errno = 0;
        double v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v))
            return hive_fail(err, HIVE_E_INVALID, "%s: '%s' is not a number", k->key, text);
        if (k->min <= k->max && (v < k->min || v > k->max))
            return hive_fail(err, HIVE_E_INVALID, "%s: %g is outside [%g, %g]", k->key, v, k->min, k->max);
        e->f = v;
        return HIVE_OK;
    }
    case HIVE_CFG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes") || !strcmp(text, "on")) e->i = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no") || !strcmp(text, "off")) e->i = 0;
        else return hive_fail(err, HIVE_E_INVALID, "%s: '%s' is not a boolean (true/false)", k->key, text);
        return HIVE_OK;
    case HIVE_CFG_STRING: {
        char *s = strdup(text);
        if (!s) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        free(e->s);
        e->s = s;
        return HIVE_OK;
    }
    case HIVE_CFG_STRLIST:
        if (!append) entry_clear_list(e);
        if (!*text) return HIVE_OK;
        if (append) return list_append(e, text) ? hive_fail(err, HIVE_E_NOMEM, "out of memory") : HIVE_OK;
        /* comma-separated */
        char *dup = strdup(text), *save = NULL;
        if (!dup) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (list_append(e, tok)) {
                free(dup);
                return hive_fail(err, HIVE_E_NOMEM, "out of memory");
            }
        free(dup);
        return HIVE_OK;
    }
    return hive_fail(err, HIVE_E_INTERNAL, "%s: bad schema type", k->key);
}

hive_config *hive_config_new(void) {
    hive_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < hive_cfg_schema_len; i++) {
        cfg_entry *e = calloc(1, sizeof *e);
        if (!e || !(e->name = strdup(hive_cfg_schema[i].key))) {
            free(e);
            hive_config_free(c);
            return NULL;
        }
        e->key = &hive_cfg_schema[i];
        e->src = HIVE_SRC_DEFAULT;
        snprintf(e->origin, sizeof e->origin, "built-in");
        hive_error *err = NULL;
        if (parse_value(e, e->key->def, 0, &err) != HIVE_OK) { /* a schema bug */
            hive_error_free(err);
            entry_free(e);
            hive_config_free(c);
            return NULL;
        }
        HASH_ADD_KEYPTR(hh, c->entries, e->name, strlen(e->name), e);
    }
    return c;
}

void hive_config_free(hive_config *c) {
    if (!c) return;
    cfg_entry *e, *tmp;
    HASH_ITER(hh, c->entries, e, tmp) {
        HASH_DEL(c->entries, e);
        entry_free(e);
    }
    free(c);
}

static cfg_entry *find(const hive_config *c, const char *key) {
    cfg_entry *e = NULL;
    HASH_FIND_STR(c->entries, key, e);
    return e;
}

static hive_status add_plugin_value(hive_config *c, const char *key, const char *text, const char *origin,
                                    hive_error **err);

static hive_status set_entry(hive_config *c, const char *key, const char *text, hive_cfg_source src,
                             const char *origin, int only_if_lower, hive_error **err) {
    cfg_entry *e = find(c, key);
    /* plugins.<name>.<key>: free-form, as in a config file */
    if ((!e || !e->key) && !strncmp(key, "plugins.", 8) && strchr(key + 8, '.') && !only_if_lower)
        return add_plugin_value(c, key, text, origin ? origin : hive_cfg_source_name(src), err);
    if (!e || !e->key) return hive_fail(err, HIVE_E_NOTFOUND, "unknown configuration key '%s'", key);
    if (only_if_lower && e->src >= src) return HIVE_OK;
    /* repeated CLI flags append to lists; a new layer replaces the lower one */
    int append = e->key->type == HIVE_CFG_STRLIST && e->src == src && src == HIVE_SRC_CLI;
    hive_status st = parse_value(e, text, append, err);
    if (st != HIVE_OK) return st;
    e->src = src;
    snprintf(e->origin, sizeof e->origin, "%s", origin ? origin : hive_cfg_source_name(src));
    return HIVE_OK;
}

hive_status hive_config_set(hive_config *c, const char *key, const char *text, hive_cfg_source src,
                            const char *origin, hive_error **err) {
    return set_entry(c, key, text, src, origin, 0, err);
}

hive_status hive_config_set_if_lower(hive_config *c, const char *key, const char *text, hive_cfg_source src,
                                     const char *origin, hive_error **err) {
    return set_entry(c, key, text, src, origin, 1, err);
}

int64_t hive_config_int(const hive_config *c, const char *key) {
    cfg_entry *e = find(c, key);
    return e ? e->i : 0;
}
double hive_config_float(const hive_config *c, const char *key) {
    cfg_entry *e = find(c, key);
    return e ? e->f : 0.0;
}
const char *hive_config_str(const hive_config *c, const char *key) {
    cfg_entry *e = find(c, key);
    return (e && e->s) ? e->s : "";
}
int hive_config_bool(const hive_config *c, const char *key) { return hive_config_int(c, key) != 0; }
size_t hive_config_list_len(const hive_config *c, const char *key) {
    cfg_entry *e = find(c, key);
    return e ? e->n_list : 0;
}
const char *hive_config_list_item(const hive_config *c, const char *key, size_t i) {
    cfg_entry *e = find(c, key);
    return (e && i < e->n_list) ? e->list[i] : NULL;
}
hive_cfg_source hive_config_source(const hive_config *c, const char *key) {
    cfg_entry *e = find(c, key);
    return e ? e->src : HIVE_SRC_DEFAULT;
}
const char *hive_config_origin(const hive_config *c, const char *key) {
    cfg_entry *e = find(c, key);
    return e ? e->origin : "";
}

const char *hive_config_plugin_value(const hive_config *c, const char *plugin, const char *key) {
    char name[512];
    snprintf(name, sizeof name, "plugins.%s.%s", plugin, key);
    cfg_entry *e = find(c, name);
    return e ? e->s : NULL;
}

/* ---- libconfig file ---- */

static const char *type_name(int t) {
    switch (t) {
    case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: return "integer";
    case CONFIG_TYPE_FLOAT: return "float";
    case CONFIG_TYPE_STRING: return "string";
    case CONFIG_TYPE_BOOL: return "boolean";
    case CONFIG_TYPE_ARRAY: return "array";
    case CONFIG_TYPE_LIST: return "list";
    case CONFIG_TYPE_GROUP: return "group";
    default: return "?";
    }
}

/* Text form of a scalar setting, or NULL when it is not a scalar. */
static int scalar_text(const config_setting_t *s, char *buf, size_t cap) {
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64:
        snprintf(buf, cap, "%lld", (long long)config_setting_get_int64(s));
        return 0;
    case CONFIG_TYPE_FLOAT: snprintf(buf, cap, "%.17g", config_setting_get_float(s)); return 0;
    case CONFIG_TYPE_BOOL: snprintf(buf, cap, "%s", config_setting_get_bool(s) ? "true" : "false"); return 0;
    case CONFIG_TYPE_STRING: snprintf(buf, cap, "%s", config_setting_get_string(s)); return 0;
    default: return -1;
    }
}

static hive_status add_plugin_value(hive_config *c, const char *name, const char *text, const char *origin,
                                    hive_error **err) {
    cfg_entry *e = find(c, name);
    if (!e) {
        if (!(e = calloc(1, sizeof *e)) || !(e->name = strdup(name))) {
            free(e);
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
        HASH_ADD_KEYPTR(hh, c->entries, e->name, strlen(e->name), e);
    }
    free(e->s);
    e->s = strdup(text);
    e->src = HIVE_SRC_FILE;
    snprintf(e->origin, sizeof e->origin, "%s", origin);
    return e->s ? HIVE_OK : hive_fail(err, HIVE_E_NOMEM, "out of memory");
}

static hive_status load_setting(hive_config *c, const config_setting_t *s, const char *prefix, const char *file,
                                hive_error **err) {
    char key[512], origin[560], text[4096];
    const char *nm = config_setting_name(s);
    if (nm) snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", nm);
    else snprintf(key, sizeof key, "%s", prefix); /* the root group */
    snprintf(origin, sizeof origin, "%s:%d", file, config_setting_source_line(s));
    int type = config_setting_type(s);

    if (strncmp(key, "plugins.", 8) == 0 && type != CONFIG_TYPE_GROUP) {
        /* plugins.<name>.<key>: free-form scalars, read by the plugin */
        if (strchr(key + 8, '.') == NULL)
            return hive_fail(err, HIVE_E_INVALID, "%s: '%s' must be a group: plugins = { <plugin> = { key = value; }; }",
                             origin, key);
        if (scalar_text(s, text, sizeof text))
            return hive_fail(err, HIVE_E_INVALID, "%s: '%s' must be a scalar (found %s)", origin, key, type_name(type));
        return add_plugin_value(c, key, text, origin, err);
    }
    if (type == CONFIG_TYPE_GROUP) {
        for (int i = 0; i < config_setting_length(s); i++) {
            hive_status st = load_setting(c, config_setting_get_elem(s, (unsigned)i), key, file, err);
            if (st != HIVE_OK) return st;
        }
        return HIVE_OK;
    }
    const hive_cfg_key *k = hive_cfg_find_key(key);
    if (!k) return hive_fail(err, HIVE_E_INVALID, "%s: unknown key '%s' (see hive-host --print-config)", origin, key);

    int want_ok;
    switch (k->type) {
    case HIVE_CFG_INT: want_ok = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64; break;
    case HIVE_CFG_FLOAT: want_ok = type == CONFIG_TYPE_FLOAT || type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64; break;
    case HIVE_CFG_BOOL: want_ok = type == CONFIG_TYPE_BOOL; break;
    case HIVE_CFG_STRING: want_ok = type == CONFIG_TYPE_STRING; break;
    case HIVE_CFG_STRLIST: want_ok = type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST; break;
    default: want_ok = 0;
    }
    if (!want_ok) {
        static const char *const want[] = {"integer", "float", "string", "boolean", "array of strings"};
        return hive_fail(err, HIVE_E_INVALID, "%s: '%s' must be %s %s (found %s)", origin, key,
                         k->type == HIVE_CFG_INT ? "an" : "a", want[k->type], type_name(type));
    }
    hive_error *perr = NULL;
    hive_status st;
    if (k->type == HIVE_CFG_STRLIST) {
        cfg_entry *e = find(c, key);
        entry_clear_list(e);
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(el) != CONFIG_TYPE_STRING)
                return hive_fail(err, HIVE_E_INVALID, "%s: '%s' must be an array of strings (element %d is %s)",
                                 origin, key, i, type_name(config_setting_type(el)));
            if (list_append(e, config_setting_get_string(el))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
        e->src = HIVE_SRC_FILE;
        snprintf(e->origin, sizeof e->origin, "%s", origin);
        return HIVE_OK;
    }
    scalar_text(s, text, sizeof text);
    st = hive_config_set(c, key, text, HIVE_SRC_FILE, origin, &perr);
    if (st != HIVE_OK) {
        hive_fail(err, st, "%s: %s", origin, hive_error_message(perr));
        hive_error_free(perr);
    }
    return st;
}

hive_status hive_config_load_file(hive_config *c, const char *path, hive_error **err) {
    config_t cf;
    config_init(&cf);
    if (!config_read_file(&cf, path)) {
        hive_status st;
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
            st = hive_fail(err, HIVE_E_IO, "%s: cannot read configuration file", path);
        else
            st = hive_fail(err, HIVE_E_INVALID, "%s:%d: %s", config_error_file(&cf) ? config_error_file(&cf) : path,
                           config_error_line(&cf), config_error_text(&cf));
        config_destroy(&cf);
        return st;
    }
    hive_status st = load_setting(c, config_root_setting(&cf), "", path, err);
    config_destroy(&cf);
    return st;
}

void hive_config_print(const hive_config *c, FILE *out) {
    for (size_t i = 0; i < hive_cfg_schema_len; i++) {
        const hive_cfg_key *k = &hive_cfg_schema[i];
        cfg_entry *e = find(c, k->key);
        fprintf(out, "%-30s = ", k->key);
        switch (k->type) {
        case HIVE_CFG_INT: fprintf(out, "%lld", (long long)e->i); break;
        case HIVE_CFG_FLOAT: fprintf(out, "%g", e->f); break;
        case HIVE_CFG_BOOL: fprintf(out, "%s", e->i ? "true" : "false"); break;
        case HIVE_CFG_STRING: fprintf(out, "\"%s\"", e->s ? e->s : ""); break;
        case HIVE_CFG_STRLIST:
            fputc('[', out);
            for (size_t j = 0; j < e->n_list; j++) fprintf(out, "%s\"%s\"", j ? ", " : "", e->list[j]);
            fputc(']', out);
            break;
        }
        fprintf(out, "  # %s (%s)\n", hive_cfg_source_name(e->src), e->origin);
    }
    cfg_entry *e, *tmp;
    HASH_ITER(hh, c->entries, e, tmp) {
        if (!e->key) fprintf(out, "%-30s = \"%s\"  # file (%s)\n", e->name, e->s, e->origin);
    }
}
