/* ia3.so: serves PEFT (IA)^3 adapters (peft_type "IA3").
 * Feed-forward targets scale the module input (LINEAR_INPUT: x *= l), other
 * targets scale the output, bias included (OUTPUT_SCALE: y *= l). */
#include <string.h>

#include "adapter_entry.h"
#include "hive_abi.h"
#include "ia3.h"
#include "peft_config.h"
#include "peft_util.h"

static hive_host_api g_host;

static uint32_t ia3_claim(const char *config_json) {
    char type[32];
    int dora = 0;
    if (peft_config_peek(config_json, type, sizeof type, &dora) != 0) return 0;
    return !strcmp(type, "IA3") ? 100u : 0u;
}

static hive_status p_load(const hive_adapter_load_args *args, hive_adapter **out, hive_error **err) {
    return ia3_load(&g_host, args, (ia3 **)out, err);
}

static void p_destroy(hive_adapter *a) { ia3_destroy((ia3 *)a); }

static hive_status p_describe(const hive_adapter *ad, hive_adapter_desc *out) {
    const ia3 *a = (const ia3 *)ad;
    if (!a) return HIVE_E_INVALID;
    return adapter_entry_describe(out, a->merged ? 0 : a->hooks, 0, a->device_bytes, a->hooks_at, 0);
}

/* The module at (layer, module) after checking it has the hook `kind` and
 * that t (x for LINEAR_INPUT, y for OUTPUT_SCALE) is [n <= max_rows, features]. */
static hive_status for_call(ia3 *a, uint32_t layer, uint32_t module, int ff, const hive_tensor *t, ia3_module **out,
                            hive_error **err) {
    *out = NULL;
    if (!a) return HIVE_E_INVALID;
    if (a->merged) return peft_fail(a->host, err, HIVE_E_INVALID, "adapter hook called after merge");
    const char *what = ff ? "linear_input" : "linear_output";
    if (layer >= a->n_layers || module >= HIVE_MODULE_COUNT || a->slot[layer * HIVE_MODULE_COUNT + module] < 0)
        return peft_fail(a->host, err, HIVE_E_INVALID, "ia3: no %s hook at layer %u module %u", what, layer, module);
    ia3_module *m = &a->mods[a->slot[layer * HIVE_MODULE_COUNT + module]];
    if (m->ff != ff)
        return peft_fail(a->host, err, HIVE_E_INVALID, "ia3: %s is a %s target; %s called", m->path,
                         m->ff ? "feed-forward (input-scaling)" : "output-scaling", what);
    if (!t || t->rows < 0 || (uint64_t)t->rows > a->max_rows || t->cols != m->n || t->dtype != HIVE_DTYPE_F32)
        return peft_fail(a->host, err, HIVE_E_SHAPE, "%s: %s called with %s [%lld x %lld]; expected f32 [n x %u], n <= %u",
                         m->path, what, ff ? "x" : "y", t ? (long long)t->rows : -1LL, t ? (long long)t->cols : -1LL,
                         m->n, a->max_rows);
    if (!m->w) return peft_fail(a->host, err, HIVE_E_INTERNAL, "%s: no device vector", m->path);
    *out = m;
    return HIVE_OK;
}

static hive_status p_linear_input(hive_adapter *ad, uint32_t layer, uint32_t module, const hive_tensor *x,
                                  hive_error **err) {
    ia3 *a = (ia3 *)ad;
    ia3_module *m;
    hive_status st = for_call(a, layer, module, 1, x, &m, err);
    if (st != HIVE_OK || x->rows == 0) return st;
    return a->be->op_binary_weight(a->dev, HIVE_BINARY_MUL, x, m->w, x, err);
}

static hive_status p_linear_output(hive_adapter *ad, uint32_t layer, uint32_t module, const hive_tensor *x,
                                   const hive_tensor *base_y, const hive_tensor *y, hive_error **err) {
    (void)x, (void)base_y;
    ia3 *a = (ia3 *)ad;
    ia3_module *m;
    hive_status st = for_call(a, layer, module, 0, y, &m, err);
    if (st != HIVE_OK || y->rows == 0) return st;
    return a->be->op_binary_weight(a->dev, HIVE_BINARY_MUL, y, m->w, y, err);
}

static hive_status p_merge(hive_adapter *a, hive_error **err) { return ia3_merge((ia3 *)a, err); }

static const hive_adapter_api k_api = {
    .struct_size = sizeof(hive_adapter_api),
    .claim = ia3_claim,
    .load = p_load,
    .destroy = p_destroy,
    .describe = p_describe,
    .linear_input = p_linear_input,
    .linear_output = p_linear_output,
    .merge = p_merge,
};

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    return adapter_entry_query(info, "ia3", "PEFT (IA)^3 adapters (input / output scaling, regex targets, merge)");
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api, hive_error **err) {
    return adapter_entry_init(host, &g_host, &k_api, api, err);
}
