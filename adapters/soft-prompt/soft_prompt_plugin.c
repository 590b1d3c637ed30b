/* soft-prompt.so: serves PEFT prompt tuning (peft_type "PROMPT_TUNING").
 * The adapter is one tensor, prompt_embeddings [num_virtual_tokens, token_dim]
 * (no key prefix), which PEFT concatenates in front of the embedded prompt.
 * It is uploaded once as an f32 weight [n, hidden]; the EMBED hook writes its
 * rows with op_embed over ids 0..n-1. No linear hooks; no merge. */
#include <stdlib.h>
#include <string.h>

#include "adapter_entry.h"
#include "hive_abi.h"
#include "peft_config.h"
#include "peft_tensors.h"
#include "peft_util.h"

#define CFG "adapter_config.json"
#define KEY "prompt_embeddings"

typedef struct soft_prompt {
    const hive_host_api *host;
    const hive_backend_api *be;
    hive_device *dev;
    uint32_t n, hidden, n_layers;
    hive_weight *table;  /* [n, hidden] f32 */
    int32_t *ids;        /* 0..n-1 */
    uint32_t *hooks_at;  /* all zero: no linear hooks */
    uint64_t device_bytes;
} soft_prompt;

static hive_host_api g_host;

static uint32_t sp_claim(const char *config_json) {
    char type[32];
    int dora = 0;
    if (peft_config_peek(config_json, type, sizeof type, &dora) != 0) return 0;
    if (!strcmp(type, "PROMPT_TUNING")) return 100u;
    /* P-tuning is claimed weakly, only so that its load fails with a clear
     * message instead of "no plugin" (a dedicated plugin would win). */
    if (!strcmp(type, "P_TUNING")) return 1u;
    return 0u;
}

static void sp_destroy(hive_adapter *ad) {
    soft_prompt *a = (soft_prompt *)ad;
    if (!a) return;
    if (a->table) a->be->weight_free(a->dev, a->table);
    free(a->ids);
    free(a->hooks_at);
    free(a);
}

static hive_status check_config(const hive_host_api *h, const peft_config *cfg, uint32_t hidden, hive_error **err) {
    if (!strcmp(cfg->peft_type, "P_TUNING"))
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": peft_type \"P_TUNING\" (p-tuning with a prompt encoder) is not supported; the "
                         "soft-prompt plugin serves only plain prompt tuning (\"PROMPT_TUNING\")");
    if (strcmp(cfg->peft_type, "PROMPT_TUNING") != 0)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": peft_type is \"%s\", expected \"PROMPT_TUNING\"",
                         cfg->peft_type);
    if (cfg->has_modules_to_save)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": modules_to_save (%s%s) is not supported: Hive cannot replace whole base modules",
                         cfg->modules_to_save.v[0], cfg->modules_to_save.n > 1 ? ", ..." : "");
    if (cfg->num_virtual_tokens < 1 || cfg->num_virtual_tokens > 65536)
        return peft_fail(h, err, HIVE_E_INVALID, CFG ": \"num_virtual_tokens\" must be between 1 and 65536 (found %lld)",
                         (long long)cfg->num_virtual_tokens);
    if (peft_config_is_set(cfg, "token_dim") && cfg->token_dim != (int64_t)hidden)
        return peft_fail(h, err, HIVE_E_SHAPE,
                         CFG ": \"token_dim\" is %lld but the model's hidden size is %u: the prompt was trained for "
                         "another model",
                         (long long)cfg->token_dim, hidden);
    if (cfg->num_transformer_submodules != 1)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": \"num_transformer_submodules\" is %lld; only 1 (decoder-only models) is supported",
                         (long long)cfg->num_transformer_submodules);
    return HIVE_OK;
}

static hive_status load(soft_prompt *a, const hive_adapter_load_args *args, hive_error **err) {
    const hive_host_api *h = a->host;
    peft_config cfg;
    peft_tensors t;
    memset(&t, 0, sizeof t);
    const float *emb = NULL; /* in the mapped file when it holds f32, else converted */
    hive_status st = peft_config_parse(h, args->config_json, &cfg, err);
    if (st != HIVE_OK) return st;
    if ((st = check_config(h, &cfg, a->hidden, err))) goto done;
    a->n = (uint32_t)cfg.num_virtual_tokens;
    size_t slots = (size_t)a->n_layers * HIVE_MODULE_COUNT;
    a->hooks_at = calloc(slots, sizeof *a->hooks_at);
    a->ids = malloc((size_t)a->n * sizeof *a->ids);
    if (!a->hooks_at || !a->ids) {
        st = peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < a->n; i++) a->ids[i] = (int32_t)i;
    int64_t shape[2] = {a->n, a->hidden};
    if ((st = peft_tensors_open(h, args->dir, &t, err)) || (st = peft_tensors_view_f32(&t, KEY, 2, shape, 0, &emb, err)) ||
        (st = peft_tensors_check_all_used(&t, "prompt tuning holds only " KEY, err)))
        goto done;
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, a->n, a->hidden, KEY};
    if ((st = a->be->weight_upload(a->dev, &d, emb, &a->table, err))) goto done;
    a->device_bytes = (uint64_t)a->n * a->hidden * sizeof(float);
done:
    peft_tensors_close(&t);
    peft_config_free(&cfg);
    return st;
}

static hive_status sp_load(const hive_adapter_load_args *args, hive_adapter **out, hive_error **err) {
    const hive_host_api *h = &g_host;
    if (!out) return peft_fail(h, err, HIVE_E_INVALID, "adapter load: out is NULL");
    *out = NULL;
    if (!args || args->struct_size < offsetof(hive_adapter_load_args, base))
        return peft_fail(h, err, HIVE_E_INVALID, "adapter load: arguments missing or too old");
    const hive_model_shape *m = args->model;
    if (!args->backend || !args->device || !m || !args->config_json || !args->dir)
        return peft_fail(h, err, HIVE_E_INVALID, "adapter load: backend, device, model, config and dir are required");
    if (m->struct_size < offsetof(hive_model_shape, module_in) || !m->n_layers || !m->hidden)
        return peft_fail(h, err, HIVE_E_INVALID, "adapter load: model shape missing or too old");
    if (!args->backend->weight_upload || !args->backend->weight_free || !args->backend->op_embed)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, "adapter load: the backend lacks weight_upload or op_embed");
    soft_prompt *a = calloc(1, sizeof *a);
    if (!a) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
    a->host = h;
    a->be = args->backend;
    a->dev = args->device;
    a->hidden = m->hidden;
    a->n_layers = m->n_layers;
    hive_status st = load(a, args, err);
    if (st != HIVE_OK) {
        sp_destroy((hive_adapter *)a);
        return st;
    }
    *out = (hive_adapter *)a;
    return HIVE_OK;
}

static hive_status sp_describe(const hive_adapter *ad, hive_adapter_desc *out) {
    const soft_prompt *a = (const soft_prompt *)ad;
    if (!a) return HIVE_E_INVALID;
    return adapter_entry_describe(out, HIVE_HOOK_EMBED, a->n, a->device_bytes, a->hooks_at, 0);
}

static hive_status sp_embed(hive_adapter *ad, const hive_tensor *out, hive_error **err) {
    soft_prompt *a = (soft_prompt *)ad;
    if (!a) return HIVE_E_INVALID;
    if (!out || out->rows != (int64_t)a->n || out->cols != (int64_t)a->hidden || out->dtype != HIVE_DTYPE_F32)
        return peft_fail(a->host, err, HIVE_E_SHAPE, "soft prompt: embed called with out [%lld x %lld]; expected f32 [%u x %u]",
                         out ? (long long)out->rows : -1LL, out ? (long long)out->cols : -1LL, a->n, a->hidden);
    return a->be->op_embed(a->dev, a->table, a->ids, out, err);
}

static const hive_adapter_api k_api = {
    .struct_size = sizeof(hive_adapter_api),
    .claim = sp_claim,
    .load = sp_load,
    .destroy = sp_destroy,
    .describe = sp_describe,
    .embed = sp_embed,
};

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    return adapter_entry_query(info, "soft-prompt", "PEFT prompt tuning (virtual-token embeddings before the prompt)");
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api, hive_error **err) {
    return adapter_entry_init(host, &g_host, &k_api, api, err);
}
