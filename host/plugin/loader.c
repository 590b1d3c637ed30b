/* dlopen, query, negotiate, init and probe one candidate. Every outcome is
 * recorded in the hive_plugin; nothing here is fatal to the host. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/registry.h"
#include "util/error.h"
#include "util/log.h"

void hive_plugin_reject(hive_plugin *p, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(p->reason);
    p->reason = strdup(buf);
    p->status = HIVE_PLUGIN_REJECTED;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Copy the plugin's info up to the size it declared; strings are copied so
 * nothing points into the plugin after it is unloaded. */
static int query(hive_plugin *p, hive_plugin_query_fn fn) {
    hive_plugin_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    hive_status st = fn(&info);
    if (st != HIVE_OK) {
        hive_plugin_reject(p, "hive_plugin_query failed: status %d (%s)", st, hive_status_name(st));
        return -1;
    }
    uint32_t size = info.struct_size;
    if (size > sizeof info) size = sizeof info;
    if (!HIVE_HAS_FIELD(hive_plugin_info, size, name) || !info.name || !*info.name) {
        hive_plugin_reject(p, "hive_plugin_query failed: it returned no plugin name (struct_size %u)",
                           info.struct_size);
        return -1;
    }
    /* zero what the plugin did not declare, then keep a host-size copy */
    memset((char *)&info + size, 0, sizeof info - size);
    p->info = info;
    p->name = dup_or_null(info.name);
    p->version = dup_or_null(HIVE_HAS_FIELD(hive_plugin_info, size, version) ? info.version : NULL);
    p->build = dup_or_null(HIVE_HAS_FIELD(hive_plugin_info, size, build) ? info.build : NULL);
    p->description = dup_or_null(HIVE_HAS_FIELD(hive_plugin_info, size, description) ? info.description : NULL);
    p->info.name = p->name;
    p->info.version = p->version;
    p->info.build = p->build;
    p->info.description = p->description;
    p->queried = 1;
    if (info.kind != HIVE_PLUGIN_BACKEND && info.kind != HIVE_PLUGIN_ADAPTER) {
        hive_plugin_reject(p, "unknown plugin kind %u (expected 1 = backend or 2 = adapter)", info.kind);
        return -1;
    }
    return 0;
}

static int negotiate(hive_plugin *p) {
    const hive_plugin_info *i = &p->info;
    if (i->abi_major != HIVE_ABI_MAJOR) {
        hive_plugin_reject(p,
                           "ABI major mismatch: plugin '%s' was built for ABI %u.%u, this host speaks ABI %u.%u; "
                           "rebuild the plugin against hive_abi.h %u.x",
                           p->name, i->abi_major, i->abi_minor, HIVE_ABI_MAJOR, HIVE_ABI_MINOR, HIVE_ABI_MAJOR);
        return -1;
    }
    if (i->min_host_minor > HIVE_ABI_MINOR) {
        hive_plugin_reject(p,
                           "plugin '%s' needs host ABI minor >= %u (plugin ABI %u.%u), this host speaks ABI %u.%u; "
                           "upgrade hive-host or use an older build of the plugin",
                           p->name, i->min_host_minor, i->abi_major, i->abi_minor, HIVE_ABI_MAJOR, HIVE_ABI_MINOR);
        return -1;
    }
    p->agreed_minor = i->abi_minor < HIVE_ABI_MINOR ? i->abi_minor : HIVE_ABI_MINOR;
    return 0;
}

/* Required entries of each table (all in ABI 1.0): a table lacking one is rejected. */
#define REQUIRE(tbl, type, size, field)                                                                  \
    do {                                                                                                 \
        if (!HIVE_HAS_FIELD(type, size, field) || !(tbl)->field) {                                      \
            hive_plugin_reject(p, "its " #type " lacks the required entry '" #field "' (struct_size %u)", \
                               (unsigned)(size));                                                        \
            return -1;                                                                                   \
        }                                                                                                \
    } while (0)

static int take_backend_table(hive_plugin *p, const void *api) {
    uint32_t size = *(const uint32_t *)api;
    if (size > sizeof p->backend) size = sizeof p->backend;
    memset(&p->backend, 0, sizeof p->backend);
    memcpy(&p->backend, api, size); /* never read past the plugin's struct_size */
    const hive_backend_api *b = &p->backend;
    REQUIRE(b, hive_backend_api, size, device_count);
    REQUIRE(b, hive_backend_api, size, device_info);
    REQUIRE(b, hive_backend_api, size, device_open);
    REQUIRE(b, hive_backend_api, size, device_close);
    REQUIRE(b, hive_backend_api, size, buffer_alloc);
    REQUIRE(b, hive_backend_api, size, buffer_free);
    REQUIRE(b, hive_backend_api, size, buffer_upload);
    REQUIRE(b, hive_backend_api, size, buffer_download);
    REQUIRE(b, hive_backend_api, size, weight_upload);
    REQUIRE(b, hive_backend_api, size, weight_free);
    REQUIRE(b, hive_backend_api, size, op_matmul);
    return 0;
}

static int take_adapter_table(hive_plugin *p, const void *api) {
    uint32_t size = *(const uint32_t *)api;
    if (size > sizeof p->adapter) size = sizeof p->adapter;
    memset(&p->adapter, 0, sizeof p->adapter);
    memcpy(&p->adapter, api, size);
    const hive_adapter_api *a = &p->adapter;
    REQUIRE(a, hive_adapter_api, size, claim);
    REQUIRE(a, hive_adapter_api, size, load);
    REQUIRE(a, hive_adapter_api, size, destroy);
    REQUIRE(a, hive_adapter_api, size, describe);
    return 0;
}

static void probe(hive_plugin *p) {
    hive_error *err = NULL;
    uint32_t n = 0;
    hive_status st = p->backend.device_count(&n, &err);
    if (st != HIVE_OK) {
        hive_plugin_reject(p, "device probe failed: %s", err ? hive_error_message(err) : hive_status_name(st));
        hive_error_free(err);
        return;
    }
    /* With no device, index 0 still describes why (score 0). */
    uint32_t want = n ? n : 1;
    p->devices = calloc(want, sizeof *p->devices);
    if (!p->devices) return;
    for (uint32_t i = 0; i < want; i++) {
        hive_device_info *d = &p->devices[i];
        d->struct_size = sizeof *d;
        err = NULL;
        st = p->backend.device_info(i, d, &err);
        if (st != HIVE_OK) {
            d->score = 0;
            snprintf(d->reason, sizeof d->reason, "%s",
                     err ? hive_error_message(err) : "no device information");
            hive_error_free(err);
        }
        d->name[sizeof d->name - 1] = 0;
        d->reason[sizeof d->reason - 1] = 0;
        if (n == 0) d->score = 0;
    }
    p->n_devices = want;
}

void hive_plugin_load(hive_plugin *p) {
    if (hive_candidate_check(p) != 0) return;
    dlerror();
    p->dl = dlopen(p->realpath, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        const char *e = dlerror();
        hive_plugin_reject(p, "dlopen failed: %s", e ? e : "unknown error");
        return;
    }
    void *q = dlsym(p->dl, HIVE_PLUGIN_QUERY_SYMBOL);
    void *in = dlsym(p->dl, HIVE_PLUGIN_INIT_SYMBOL);
    if (!q || !in) {
        hive_plugin_reject(p, "missing entry symbol %s: not a Hive plugin",
                           !q ? HIVE_PLUGIN_QUERY_SYMBOL : HIVE_PLUGIN_INIT_SYMBOL);
        return;
    }
    hive_plugin_query_fn qfn;
    hive_plugin_init_fn ifn;
    memcpy(&qfn, &q, sizeof q); /* object-to-function pointer without a cast warning */
    memcpy(&ifn, &in, sizeof in);
    if (query(p, qfn) || negotiate(p)) return;

    hive_plugin_init_host_api(p);
    const void *api = NULL;
    hive_error *err = NULL;
    hive_status st = ifn(&p->host_api, &api, &err);
    if (st != HIVE_OK) {
        hive_plugin_reject(p, "hive_plugin_init failed: %s",
                           err ? hive_error_message(err) : hive_status_name(st));
        hive_error_free(err);
        return;
    }
    hive_error_free(err);
    if (!api || *(const uint32_t *)api < sizeof(uint32_t) * 2) {
        hive_plugin_reject(p, "hive_plugin_init returned no table");
        return;
    }
    if (p->info.kind == HIVE_PLUGIN_BACKEND ? take_backend_table(p, api) : take_adapter_table(p, api)) return;
    if (p->info.kind == HIVE_PLUGIN_BACKEND) probe(p);
    if (p->status != HIVE_PLUGIN_REJECTED) p->status = HIVE_PLUGIN_LOADED;
}
