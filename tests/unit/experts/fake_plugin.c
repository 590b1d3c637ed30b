/* A fake adapter plugin, registered in a hive_registry by hand (util.h). Its
 * adapter_config.json may carry test keys: fake_bytes (device bytes, default
 * 1000), fake_fail (load fails), fake_tag (name logged on destroy). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "util/error.h"

hive_registry g_reg;
int g_live_adapters;
char g_destroy_log[512];

typedef struct fake_adapter {
    char tag[64];
    uint64_t bytes;
    uint32_t hooks, vt;
    uint32_t hooks_at[4 * HIVE_MODULE_COUNT];
} fake_adapter;

static uint32_t fake_claim(const char *json) {
    cJSON *j = cJSON_Parse(json);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    uint32_t s = cJSON_IsString(t) && (!strcmp(t->valuestring, "LORA") || !strcmp(t->valuestring, "IA3") ||
                                       !strcmp(t->valuestring, "PROMPT_TUNING"));
    cJSON_Delete(j);
    return s;
}

static hive_status fake_load(const hive_adapter_load_args *args, hive_adapter **out, hive_error **err) {
    cJSON *j = cJSON_Parse(args->config_json);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "fake_fail"))) {
        cJSON_Delete(j);
        if (err) *err = hive_error_new(HIVE_E_INVALID, "fake load failure in %s", args->dir);
        return HIVE_E_INVALID;
    }
    fake_adapter *a = calloc(1, sizeof *a);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "fake_bytes");
    a->bytes = cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 1000;
    v = cJSON_GetObjectItemCaseSensitive(j, "fake_tag");
    snprintf(a->tag, sizeof a->tag, "%s", cJSON_IsString(v) ? v->valuestring : "?");
    const char *pt = cJSON_GetObjectItemCaseSensitive(j, "peft_type")->valuestring;
    if (!strcmp(pt, "PROMPT_TUNING")) {
        a->hooks = HIVE_HOOK_EMBED;
        v = cJSON_GetObjectItemCaseSensitive(j, "num_virtual_tokens");
        a->vt = cJSON_IsNumber(v) ? (uint32_t)v->valuedouble : 4;
    } else {
        a->hooks = !strcmp(pt, "IA3") ? HIVE_HOOK_OUTPUT_SCALE : HIVE_HOOK_LINEAR_OUTPUT;
        a->hooks_at[HIVE_MODULE_Q] = a->hooks;
    }
    cJSON_Delete(j);
    g_live_adapters++;
    *out = (hive_adapter *)a;
    return HIVE_OK;
}

static void fake_destroy(hive_adapter *h) {
    fake_adapter *a = (fake_adapter *)h;
    size_t l = strlen(g_destroy_log);
    snprintf(g_destroy_log + l, sizeof g_destroy_log - l, "%s,", a->tag);
    g_live_adapters--;
    free(a);
}

static hive_status fake_describe(const hive_adapter *h, hive_adapter_desc *out) {
    const fake_adapter *a = (const fake_adapter *)h;
    out->hooks = a->hooks;
    out->n_virtual_tokens = a->vt;
    out->device_bytes = a->bytes;
    out->hooks_at = a->hooks_at;
    return HIVE_OK;
}

static void fake_registry(void) {
    memset(&g_reg, 0, sizeof g_reg);
    hive_plugin *p = calloc(1, sizeof *p);
    p->file = strdup("fake-lora.so");
    p->name = strdup("fake-lora");
    p->reason = strdup("");
    p->status = HIVE_PLUGIN_LOADED;
    p->queried = 1;
    p->info.struct_size = sizeof p->info;
    p->info.kind = HIVE_PLUGIN_ADAPTER;
    p->info.name = p->name;
    p->adapter.struct_size = sizeof p->adapter;
    p->adapter.claim = fake_claim;
    p->adapter.load = fake_load;
    p->adapter.destroy = fake_destroy;
    p->adapter.describe = fake_describe;
    g_reg.all = p;
    g_live_adapters = 0;
    g_destroy_log[0] = 0;
}

static void fake_registry_free(void) {
    hive_plugin *p = g_reg.all;
    if (p) {
        free(p->file);
        free(p->name);
        free(p->reason);
        free(p);
    }
    memset(&g_reg, 0, sizeof g_reg);
}

static hive_model_shape g_shape;

void tu_target(hive_expert_target *t) {
    memset(t, 0, sizeof *t);
    g_shape.struct_size = sizeof g_shape;
    g_shape.n_layers = 4;
    g_shape.hidden = 16;
    t->registry = &g_reg;
    t->args.struct_size = sizeof t->args;
    t->args.model = &g_shape;
    t->args.max_rows = 8;
    t->model_name = "SmolLM2 135M";
    t->model_path = "/nonexistent/SmolLM2-135M-Q8_0.gguf";
}

int tu_fake_registry_setup(void **state) {
    (void)state;
    fake_registry();
    return 0;
}

int tu_fake_registry_teardown(void **state) {
    (void)state;
    fake_registry_free();
    return 0;
}
