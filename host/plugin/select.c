/* Backend selection and the `hive-host plugins` listing. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/registry.h"
#include "util/error.h"
#include "util/log.h"

static const char *status_name(hive_plugin_status s) {
    return s == HIVE_PLUGIN_LOADED ? "loaded" : s == HIVE_PLUGIN_REJECTED ? "rejected" : "duplicate";
}

/* Why a named backend cannot be used, as the user should read it. */
static hive_status explain_missing(const hive_registry *r, const char *name, hive_error **err) {
    for (hive_plugin *p = r->all; p; p = p->next)
        if (p->name && strcmp(p->name, name) == 0 && p->status == HIVE_PLUGIN_REJECTED)
            return hive_fail(err, HIVE_E_NODEVICE, "backend '%s' was requested but its plugin %s was rejected: %s", name,
                             p->file, p->reason);
    char dirs[2048] = "";
    size_t off = 0;
    for (size_t i = 0; i < r->n_dirs && off < sizeof dirs; i++)
        off += (size_t)snprintf(dirs + off, sizeof dirs - off, "%s%s", i ? ", " : "", r->dirs[i]);
    return hive_fail(err, HIVE_E_NOTFOUND,
                     "backend '%s' was requested but no plugin of that name was found (searched: %s); "
                     "see `hive-host plugins`",
                     name, r->n_dirs ? dirs : "no directories");
}

static int best_device(const hive_plugin *p, uint32_t *dev) {
    uint32_t best = 0;
    int found = 0;
    for (uint32_t i = 0; i < p->n_devices; i++)
        if (p->devices[i].score > 0 && (!found || p->devices[i].score > p->devices[best].score)) {
            best = i;
            found = 1;
        }
    *dev = best;
    return found;
}

hive_status hive_registry_select_backend(const hive_registry *r, const hive_config *cfg, hive_backend_choice *out,
                                         hive_error **err) {
    memset(out, 0, sizeof *out);
    char name[256] = "";
    long dev = -1;
    if (hive_config_bool(cfg, "backend.cpu")) {
        snprintf(name, sizeof name, "onednn-cpu");
    } else if (*hive_config_str(cfg, "backend.name")) {
        snprintf(name, sizeof name, "%s", hive_config_str(cfg, "backend.name"));
        char *colon = strchr(name, ':');
        if (colon) {
            char *end;
            *colon = 0;
            dev = strtol(colon + 1, &end, 10);
            if (end == colon + 1 || *end || dev < 0)
                return hive_fail(err, HIVE_E_INVALID, "--backend %s: device must be a number (NAME:INDEX)",
                                 hive_config_str(cfg, "backend.name"));
        }
    }
    if (*name) {
        hive_plugin *p = hive_registry_find(r, name);
        if (!p) return explain_missing(r, name, err);
        if (p->info.kind != HIVE_PLUGIN_BACKEND)
            return hive_fail(err, HIVE_E_INVALID, "'%s' is an adapter plugin, not a backend", name);
        if (dev >= 0) {
            if ((uint32_t)dev >= p->n_devices || p->devices[dev].score == 0)
                return hive_fail(err, HIVE_E_NODEVICE, "backend '%s' device %ld: no usable device: %s", name, dev,
                                 (uint32_t)dev < p->n_devices ? p->devices[dev].reason : "no such device index");
            out->device = (uint32_t)dev;
        } else if (!best_device(p, &out->device)) {
            return hive_fail(err, HIVE_E_NODEVICE, "backend '%s': no usable device: %s", name,
                             p->n_devices ? p->devices[0].reason : "it reported no devices");
        }
        out->plugin = p;
        return HIVE_OK;
    }
    /* policy order, then score */
    for (size_t i = 0; i < hive_config_list_len(cfg, "backend.prefer"); i++) {
        hive_plugin *p = hive_registry_find(r, hive_config_list_item(cfg, "backend.prefer", i));
        if (p && p->info.kind == HIVE_PLUGIN_BACKEND && best_device(p, &out->device)) {
            out->plugin = p;
            return HIVE_OK;
        }
    }
    uint32_t best_score = 0;
    for (hive_plugin *p = r->all; p; p = p->next) {
        uint32_t d;
        if (p->status != HIVE_PLUGIN_LOADED || p->info.kind != HIVE_PLUGIN_BACKEND || !best_device(p, &d)) continue;
        if (p->devices[d].score > best_score) {
            best_score = p->devices[d].score;
            out->plugin = p;
            out->device = d;
        }
    }
    if (!out->plugin)
        return hive_fail(err, HIVE_E_NODEVICE,
                         "no usable backend: no loaded backend plugin reports a device with a non-zero score; "
                         "run `hive-host plugins` to see why");
    return HIVE_OK;
}

hive_plugin *hive_registry_claim_adapter(const hive_registry *r, const char *config_json, uint32_t *score) {
    hive_plugin *best = NULL;
    uint32_t best_score = 0;
    for (hive_plugin *p = r->all; p; p = p->next) {
        if (p->status != HIVE_PLUGIN_LOADED || p->info.kind != HIVE_PLUGIN_ADAPTER) continue;
        uint32_t s = p->adapter.claim(config_json);
        if (s > best_score) {
            best_score = s;
            best = p;
        }
    }
    if (score) *score = best_score;
    return best;
}

static const char *kind_name(const hive_plugin *p) {
    if (!p->queried) return NULL;
    return p->info.kind == HIVE_PLUGIN_BACKEND ? "backend" : p->info.kind == HIVE_PLUGIN_ADAPTER ? "adapter" : NULL;
}

void hive_registry_print(const hive_registry *r, const hive_backend_choice *sel, FILE *out) {
    fprintf(out, "host ABI %d.%d\n", HIVE_ABI_MAJOR, HIVE_ABI_MINOR);
    for (size_t i = 0; i < r->n_dirs; i++) fprintf(out, "dir %s\n", r->dirs[i]);
    if (!r->all) fprintf(out, "no plugin files found\n");
    for (hive_plugin *p = r->all; p; p = p->next) {
        fprintf(out, "\n%s\n  status: %s%s%s\n", p->file, status_name(p->status), *p->reason ? ": " : "", p->reason);
        if (p->queried)
            fprintf(out, "  %s %s %s, ABI %u.%u (min host minor %u, agreed %u)\n  build: %s\n", kind_name(p) ? kind_name(p) : "?",
                    p->name, p->version ? p->version : "?", p->info.abi_major, p->info.abi_minor,
                    p->info.min_host_minor, p->agreed_minor, p->build ? p->build : "?");
        for (uint32_t d = 0; d < p->n_devices; d++) {
            const hive_device_info *di = &p->devices[d];
            fprintf(out, "  device %u: %s, score %u%s\n    %s\n", d, di->name, di->score,
                    sel && sel->plugin == p && sel->device == d ? " [selected]" : "", di->reason);
            if (di->memory_total)
                fprintf(out, "    memory: %.1f GiB total, %.1f GiB free\n", di->memory_total / 1073741824.0,
                        di->memory_free / 1073741824.0);
        }
    }
}

static void add_str_or_null(cJSON *o, const char *k, const char *v) {
    if (v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

void hive_registry_print_json(const hive_registry *r, const hive_backend_choice *sel, FILE *out) {
    cJSON *root = cJSON_CreateObject();
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%d", HIVE_ABI_MAJOR, HIVE_ABI_MINOR);
    cJSON_AddStringToObject(root, "host_abi", buf);
    cJSON *dirs = cJSON_AddArrayToObject(root, "dirs");
    for (size_t i = 0; i < r->n_dirs; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "path", r->dirs[i]);
        cJSON_AddStringToObject(d, "source", hive_dir_source_name(r->dir_sources[i]));
        cJSON_AddItemToArray(dirs, d);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "plugins");
    for (hive_plugin *p = r->all; p; p = p->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", p->file);
        add_str_or_null(o, "realpath", p->realpath);
        cJSON_AddStringToObject(o, "status", status_name(p->status));
        cJSON_AddStringToObject(o, "reason", p->reason ? p->reason : "");
        add_str_or_null(o, "kind", kind_name(p));
        add_str_or_null(o, "name", p->name);
        add_str_or_null(o, "version", p->version);
        if (p->queried) {
            snprintf(buf, sizeof buf, "%u.%u", p->info.abi_major, p->info.abi_minor);
            cJSON_AddStringToObject(o, "abi", buf);
            cJSON_AddNumberToObject(o, "min_host_minor", p->info.min_host_minor);
        } else {
            cJSON_AddNullToObject(o, "abi");
            cJSON_AddNullToObject(o, "min_host_minor");
        }
        if (p->status == HIVE_PLUGIN_LOADED || (p->queried && p->agreed_minor)) cJSON_AddNumberToObject(o, "agreed_minor", p->agreed_minor);
        else cJSON_AddNullToObject(o, "agreed_minor");
        add_str_or_null(o, "build", p->build);
        cJSON *devs = cJSON_AddArrayToObject(o, "devices");
        for (uint32_t d = 0; d < p->n_devices; d++) {
            const hive_device_info *di = &p->devices[d];
            cJSON *dj = cJSON_CreateObject();
            cJSON_AddNumberToObject(dj, "index", d);
            cJSON_AddStringToObject(dj, "name", di->name);
            cJSON_AddNumberToObject(dj, "score", di->score);
            cJSON_AddStringToObject(dj, "reason", di->reason);
            cJSON_AddNumberToObject(dj, "memory_total", (double)di->memory_total);
            cJSON_AddNumberToObject(dj, "memory_free", (double)di->memory_free);
            cJSON_AddItemToArray(devs, dj);
        }
        cJSON_AddItemToArray(arr, o);
    }
    if (sel && sel->plugin) {
        cJSON *s = cJSON_AddObjectToObject(root, "selected");
        cJSON_AddStringToObject(s, "backend", sel->plugin->name);
        cJSON_AddNumberToObject(s, "device", sel->device);
    } else {
        cJSON_AddNullToObject(root, "selected");
    }
    char *txt = cJSON_Print(root);
    if (txt) fprintf(out, "%s\n", txt);
    free(txt);
    cJSON_Delete(root);
}
