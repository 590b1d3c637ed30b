/* Loading an expert through the adapter plugins (see expert.h). */
#include "experts/expert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experts/adapter_store.h"
#include "experts/base_match.h"
#include "experts/peft_dir.h"
#include "experts/weight.h"
#include "util/error.h"
#include "util/log.h"

void hive_expert_target_init(hive_expert_target *t, const hive_registry *r, hive_engine *e,
                             const hive_model_files *m) {
    memset(t, 0, sizeof *t);
    t->registry = r;
    t->engine = e;
    t->args.struct_size = sizeof t->args;
    t->args.backend = hive_engine_backend(e);
    t->args.device = hive_engine_device(e);
    t->args.model = hive_engine_model_shape(e);
    t->args.base = hive_engine_base_access(e);
    t->args.max_rows = hive_engine_max_rows(e);
    t->model_name = m ? m->hp.name : hive_engine_hparams(e)->name;
    t->model_path = m ? m->path : NULL;
}

void hive_expert_list_adapter_plugins(const hive_registry *r, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (const hive_plugin *p = r ? r->all : NULL; p && o < cap; p = p->next)
        if (p->status == HIVE_PLUGIN_LOADED && p->info.kind == HIVE_PLUGIN_ADAPTER)
            o += (size_t)snprintf(out + o, cap - o, "%s%s (%s)", o ? ", " : "", p->name, p->file);
    if (!o) snprintf(out, cap, "none");
}

static uint64_t fnv(uint64_t h, const char *s) {
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* field separator */
}

static uint64_t identity(const hive_expert *x) {
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, x->pkg.canonical);
    h = fnv(h, x->manifest.name);
    h = fnv(h, x->manifest.version);
    char stamp[96] = "";
    struct stat st;
    if (x->pkg.is_archive) snprintf(stamp, sizeof stamp, "%s", x->pkg.sha256);
    else if (stat(x->pkg.manifest, &st) == 0)
        snprintf(stamp, sizeof stamp, "%lld.%ld:%lld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                 (long long)st.st_size);
    h = fnv(h, stamp);
    if (x->weight == 1.0) return h; /* unweighted identities (and set ids) stay as they were */
    char w[40];
    snprintf(w, sizeof w, "weight=%.17g", x->weight);
    return fnv(h, w);
}

static hive_status load_one(hive_expert *x, const hive_expert_target *t, const hive_manifest_adapter *a,
                            hive_error **err) {
    uint32_t score = 0;
    const hive_plugin *p = hive_registry_claim_adapter(t->registry, a->config_json, &score);
    if (!p) {
        char list[1024];
        hive_expert_list_adapter_plugins(t->registry, list, sizeof list);
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "expert '%s': no adapter plugin claims %s/adapter_config.json (peft_type '%s'%s); loaded adapter plugins: %s",
                         x->manifest.name, a->dir, a->peft_type, a->use_dora ? ", use_dora" : "", list);
    }
    hive_adapter_load_args args = t->args;
    args.struct_size = sizeof args;
    args.dir = a->dir;
    args.config_json = a->config_json;
    char *weighted = NULL; /* the weight folded into lora_alpha (weight.h) */
    if (x->weight != 1.0) {
        if (!hive_adapter_type_weightable(a->type))
            return hive_fail(err, HIVE_E_UNSUPPORTED,
                             "expert '%s': weight %g given, but its type is %s%s%s: only LoRA adapters take a "
                             "weight other than 1 (a weight scales a LoRA's delta)",
                             x->manifest.name, x->weight, a->type, strcmp(a->path, ".") ? "; adapter " : "",
                             strcmp(a->path, ".") ? a->path : "");
        hive_error *we = NULL;
        if (!(weighted = hive_lora_config_weighted(a->config_json, x->weight, &we))) {
            hive_error_prefix(we, "expert '%s': adapter %s", x->manifest.name, a->path);
            hive_status wst = we ? we->code : HIVE_E_NOMEM;
            if (err) *err = we;
            else hive_error_free(we);
            return wst;
        }
        args.config_json = weighted;
    }
    /* what the plugin derives from this adapter and the base (DoRA's norms)
     * survives the process: keyed by base, adapter file and config */
    hive_adapter_store store;
    char layout[48] = "no engine";
    /* the engine's rope mode turns NEOX exactly when it unpermutes a GGUF's
     * q/k rows, the row order base.weight_f32 then gives */
    if (t->engine) snprintf(layout, sizeof layout, "rope mode %d", (int)hive_engine_hparams(t->engine)->rope_mode);
    hive_adapter_store_init(&store, t->model_path, a->weights, args.config_json, layout);
    args.cache = store.state < 0 ? NULL : &store.api;
    hive_adapter_ref *r = &x->refs[x->n_refs];
    memset(r, 0, sizeof *r);
    r->api = &p->adapter;
    hive_error *e = NULL;
    hive_status st = p->adapter.load(&args, &r->adapter, &e);
    free(weighted);
    if (st != HIVE_OK || !r->adapter) {
        if (!e) e = hive_error_new(st ? st : HIVE_E_INTERNAL, "load returned no adapter");
        hive_error_prefix(e, "expert '%s': adapter %s (plugin %s)", x->manifest.name, a->path, p->name);
        st = e ? e->code : HIVE_E_NOMEM;
        if (err) *err = e;
        else hive_error_free(e);
        return st;
    }
    r->desc.struct_size = sizeof r->desc;
    if ((st = p->adapter.describe(r->adapter, &r->desc)) != HIVE_OK) {
        p->adapter.destroy(r->adapter);
        return hive_fail(err, st, "expert '%s': adapter %s (plugin %s): describe failed (%s)", x->manifest.name, a->path,
                         p->name, hive_status_name(st));
    }
    x->plugins[x->n_refs++] = p;
    x->device_bytes += r->desc.device_bytes;
    if (r->desc.n_virtual_tokens) {
        if (x->n_virtual_tokens)
            return hive_fail(err, HIVE_E_INVALID, "expert '%s' carries more than one soft prompt (%s)", x->manifest.name,
                             a->path);
        x->n_virtual_tokens = r->desc.n_virtual_tokens;
    }
    HLOG_DEBUG("expert %s: %s adapter %s via plugin %s (claim %u, %llu device bytes)", x->manifest.name, a->type, a->path,
               p->name, score, (unsigned long long)r->desc.device_bytes);
    return HIVE_OK;
}

hive_status hive_expert_load(const char *path, const hive_expert_target *t, hive_expert **out, hive_error **err) {
    return hive_expert_load_weighted(path, 1.0, t, out, err);
}

hive_status hive_expert_load_weighted(const char *path, double weight, const hive_expert_target *t, hive_expert **out,
                                      hive_error **err) {
    *out = NULL;
    hive_status wst = hive_expert_weight_check(weight, path, err);
    if (wst != HIVE_OK) return wst;
    hive_expert *x = calloc(1, sizeof *x);
    if (!x) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    x->weight = weight;
    hive_problems probs = {0};
    hive_status st = hive_expert_pkg_open(path, t->limits, &x->pkg, err);
    if (st == HIVE_OK) st = hive_manifest_load(x->pkg.dir, x->pkg.manifest, &x->manifest, &probs, err);
    if (st == HIVE_OK) st = hive_problems_fail(&probs, HIVE_E_INVALID, err);
    hive_problems_free(&probs);
    if (st == HIVE_OK) st = hive_expert_check_base(&x->manifest, t->model_name, t->model_path, t->strict_base, &x->base_index, err);
    if (st == HIVE_OK) {
        const hive_manifest_base *b = &x->manifest.bases[x->base_index];
        if (b->n_adapters > HIVE_MAX_ADAPTERS_PER_SET) {
            st = hive_fail(err, HIVE_E_INVALID, "expert '%s' has %zu adapters; at most %d are supported", x->manifest.name,
                           b->n_adapters, HIVE_MAX_ADAPTERS_PER_SET);
        } else if (!(x->refs = calloc(b->n_adapters, sizeof *x->refs)) ||
                   !(x->plugins = calloc(b->n_adapters, sizeof *x->plugins))) {
            st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
        for (size_t i = 0; st == HIVE_OK && i < b->n_adapters; i++) st = load_one(x, t, &b->adapters[i], err);
    }
    if (st != HIVE_OK) {
        hive_expert_free(x); /* destroys loaded adapters in reverse order */
        return st;
    }
    x->identity = identity(x);
    x->engine = t->engine;
    *out = x;
    return HIVE_OK;
}

void hive_expert_free(hive_expert *x) {
    if (!x) return;
    /* graphs the engine captured may hold these adapters' weights */
    if (x->engine && x->n_refs) hive_engine_adapters_released(x->engine);
    for (uint32_t i = x->n_refs; i-- > 0;) x->refs[i].api->destroy(x->refs[i].adapter);
    free(x->refs);
    free(x->plugins);
    hive_manifest_free(&x->manifest);
    hive_expert_pkg_close(&x->pkg);
    free(x);
}
