#include "golden_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include <unistd.h>

cJSON *golden_load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) fprintf(stderr, "golden: %s is not valid JSON\n", path);
    return j;
}

golden_knobs golden_next = {.batched_lora = 1, .fuse_linears = 1};

const char *golden_backend(void) {
    const char *b = getenv("HIVE_TEST_BACKEND");
    return b && *b && strcmp(b, "onednn-cpu") != 0 && !golden_next.cpu ? b : NULL;
}

int golden_env_open(golden_env *g, const char *model_dir, uint32_t ctx, int32_t weights_dtype, int qk_hf_order) {
    memset(g, 0, sizeof *g);
    hive_error *err = NULL;
    g->cfg = hive_config_new();
    if (!g->cfg || hive_config_set(g->cfg, "plugin_dirs", HIVE_PLUGIN_BUILD_DIR, HIVE_SRC_CLI, "test", &err) ||
        hive_config_set(g->cfg, "default_plugins", "false", HIVE_SRC_CLI, "test", &err) ||
        (golden_backend() ? hive_config_set(g->cfg, "backend.name", golden_backend(), HIVE_SRC_CLI, "test", &err)
                          : hive_config_set(g->cfg, "backend.cpu", "true", HIVE_SRC_CLI, "test", &err)) ||
        (golden_next.graphs &&
         hive_config_set(g->cfg, "plugins.onednn-cpu.graphs", "true", HIVE_SRC_CLI, "test", &err)) ||
        hive_registry_scan(&g->reg, g->cfg, &err))
        goto fail;
    if (hive_registry_select_backend(&g->reg, g->cfg, &g->sel, &err)) {
        if (golden_backend()) { /* asked for a GPU this machine lacks: skip, saying why */
            printf("[ SKIPPED ] HIVE_TEST_BACKEND=%s: %s\n", golden_backend(), hive_error_message(err));
            hive_error_free(err);
            golden_env_close(g);
            skip();
        }
        goto fail;
    }
    if (hive_model_open(model_dir, &g->model, &err)) goto fail;
    hive_engine_opts o;
    hive_engine_opts_default(&o);
    o.ctx = ctx;
    o.kv_dtype = golden_next.kv_dtype ? golden_next.kv_dtype : HIVE_DTYPE_F32; /* golden comparisons: f32 */
    if (golden_next.kv_v_dtype) o.kv_v_dtype = (int32_t)golden_next.kv_v_dtype;
    o.max_rows = golden_next.max_rows ? golden_next.max_rows : 64;
    o.rope = golden_next.rope;
    o.max_seqs = golden_next.max_seqs ? golden_next.max_seqs : 8;
    if (golden_next.kv_block) o.kv_block = golden_next.kv_block;
    o.kv_tail = golden_next.kv_tail;
    o.weights_dtype = weights_dtype;
    o.qk_hf_order = qk_hf_order;
    o.batched_lora = golden_next.batched_lora;
    o.graphs = golden_next.graphs;
    o.fuse_linears = golden_next.fuse_linears;
    if (hive_engine_new(g->model, &g->sel.plugin->backend, g->sel.device, &o, &g->eng, &err)) goto fail;
    return 0;
fail: /* nothing stays open: a test that expects the refusal leaks nothing */
    fprintf(stderr, "golden: %s: %s\n", model_dir, hive_error_message(err));
    hive_error_free(err);
    golden_env_close(g);
    return -1;
}

void golden_env_close(golden_env *g) {
    hive_engine_free(g->eng);
    hive_model_close(g->model);
    hive_registry_free(&g->reg);
    hive_config_free(g->cfg);
    memset(g, 0, sizeof *g);
}

double golden_row_rel_err(const float *a, const cJSON *ref_row, uint32_t n) {
    double max_ref = 0, max_diff = 0;
    uint32_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, ref_row) {
        if (i >= n) break;
        double r = v->valuedouble;
        if (fabs(r) > max_ref) max_ref = fabs(r);
        if (fabs(a[i] - r) > max_diff) max_diff = fabs(a[i] - r);
        i++;
    }
    if (i != n) return INFINITY;
    return max_diff / (max_ref > 1e-12 ? max_ref : 1e-12);
}

int32_t golden_argmax(const float *v, uint32_t n) {
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = (int32_t)i;
    return best;
}

int golden_json_ints(const cJSON *arr, int32_t *out, size_t cap) {
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if ((size_t)n >= cap) return -1;
        out[n++] = (int32_t)v->valueint;
    }
    return n;
}

char *golden_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) buf[n] = 0;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int golden_load_adapter(golden_env *g, const char *dir, hive_adapter_ref *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char *json = golden_read_text(path);
    if (!json) {
        fprintf(stderr, "golden: cannot read %s\n", path);
        return -1;
    }
    hive_plugin *p = hive_registry_claim_adapter(&g->reg, json, NULL);
    if (!p) {
        fprintf(stderr, "golden: no adapter plugin claims %s\n", path);
        free(json);
        return -1;
    }
    hive_adapter_load_args a = {sizeof a, hive_engine_max_rows(g->eng), dir, json, hive_engine_backend(g->eng),
                                hive_engine_device(g->eng), hive_engine_model_shape(g->eng),
                                hive_engine_base_access(g->eng), NULL /* no adapter cache */};
    hive_error *err = NULL;
    memset(out, 0, sizeof *out);
    out->api = &p->adapter;
    int rc = 0;
    if (p->adapter.load(&a, &out->adapter, &err) != HIVE_OK) {
        fprintf(stderr, "golden: %s: %s\n", dir, hive_error_message(err));
        hive_error_free(err);
        rc = -1;
    } else {
        out->desc.struct_size = sizeof out->desc;
        p->adapter.describe(out->adapter, &out->desc);
    }
    free(json);
    return rc;
}

void golden_free_adapter(hive_adapter_ref *r) {
    if (r->adapter) r->api->destroy(r->adapter);
    r->adapter = NULL;
}

double golden_run(golden_env *g, const cJSON *fx, const hive_adapter_set *set, int *tokens_ok, char *why,
                  size_t why_cap) {
    uint32_t V = (uint32_t)cJSON_GetObjectItem(fx, "n_vocab")->valueint;
    int32_t prompt[256], decode[256], seqs[256];
    uint8_t want[256];
    int np = golden_json_ints(cJSON_GetObjectItem(fx, "prompt_ids"), prompt, 256);
    int nd = golden_json_ints(cJSON_GetObjectItem(fx, "decode_tokens"), decode, 256);
    int32_t seq;
    hive_error *err = NULL;
    *tokens_ok = 0;
    why[0] = 0;
    if (np <= 0 || nd <= 0 || hive_engine_seq_new(g->eng, &seq, &err) != HIVE_OK ||
        hive_engine_seq_set_adapters(g->eng, seq, set, &err) != HIVE_OK) {
        snprintf(why, why_cap, "setup: %s", hive_error_message(err));
        hive_error_free(err);
        return INFINITY;
    }
    for (int i = 0; i < np; i++) seqs[i] = seq, want[i] = 1;
    float *logits = malloc((size_t)np * V * sizeof *logits);
    double worst = INFINITY;
    hive_fwd_batch b = {(uint32_t)np, prompt, seqs, want, NULL};
    if (!logits || hive_engine_forward(g->eng, &b, logits, &err) != HIVE_OK) {
        snprintf(why, why_cap, "prefill: %s", hive_error_message(err));
        goto done;
    }
    worst = 0;
    int ok = golden_argmax(logits + (size_t)(np - 1) * V, V) == decode[0];
    const cJSON *pre = cJSON_GetObjectItem(fx, "prefill_logits"), *dec = cJSON_GetObjectItem(fx, "decode_logits");
    for (int i = 0; i < np; i++) {
        double e = golden_row_rel_err(logits + (size_t)i * V, cJSON_GetArrayItem(pre, i), V);
        if (e > worst) worst = e, snprintf(why, why_cap, "prefill position %d", i);
    }
    for (int k = 0; k < nd; k++) {
        hive_fwd_batch one = {1, &decode[k], &seq, NULL, NULL};
        if (hive_engine_forward(g->eng, &one, logits, &err) != HIVE_OK) {
            snprintf(why, why_cap, "decode %d: %s", k, hive_error_message(err));
            worst = INFINITY;
            goto done;
        }
        double e = golden_row_rel_err(logits, cJSON_GetArrayItem(dec, k), V);
        if (e > worst) worst = e, snprintf(why, why_cap, "decode step %d", k);
        int32_t next = k + 1 < nd ? decode[k + 1] : cJSON_GetObjectItem(fx, "next_token")->valueint;
        ok &= golden_argmax(logits, V) == next;
    }
    *tokens_ok = ok;
done:
    hive_error_free(err);
    free(logits);
    hive_engine_seq_free(g->eng, seq);
    return worst;
}

const char *golden_model_path(void) {
    static char path[1024];
    const char *env = getenv("HIVE_TEST_GGUF");
    if (env && access(env, R_OK) == 0) return env;
    snprintf(path, sizeof path, "%s/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "");
    return access(path, R_OK) == 0 ? path : NULL;
}


static const char *const smol_subjects[] = {"users", "orders", "products", "invoices", "employees"};
static const char *const smol_cities[] = {"Toronto", "Oslo", "Lima", "Kyoto", "Accra"};

void golden_smol_prompt(int i, char *buf, size_t cap) {
    const char *s = smol_subjects[i % 5], *c = smol_cities[(i / 5) % 5];
    switch (i % 5) {
    case 0:
        snprintf(buf, cap, "Schema: %s(id, name, age, city); orders(id, %s_id, amount)\nQuestion: Which %s live in %s?\n"
                 "SQL:", s, s, s, c);
        break;
    case 1:
        snprintf(buf, cap, "Extract the person as JSON: Person %d is %d years old and lives in %s.\nJSON:", i, 20 + i, c);
        break;
    case 2:
        snprintf(buf, cap, "Repeat this list three times: %s, %s, apples, pears, %d.\n1.", c, s, i);
        break;
    case 3:
        snprintf(buf, cap, "def total_%s(rows):\n    \"\"\"Sum the amount of every row in %s.\"\"\"\n", s, c);
        break;
    default:
        snprintf(buf, cap, "Write a short story about a trip to %s with %d friends.", c, i % 7 + 2);
        break;
    }
}

int golden_greedy_batched(hive_engine *eng, const hive_adapter_set *set, int32_t *const *prompts, const size_t *lens,
                          int n, uint32_t steps, int32_t *out) {
    int32_t seqs[16], rows[16], next[16], pseq[1024];
    if (n > 16) return -1;
    int rc = 0, made = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (lens[i] > sizeof pseq / sizeof pseq[0] || hive_engine_seq_new(eng, &seqs[i], NULL) != HIVE_OK) {
            rc = -1;
            break;
        }
        made++;
        for (size_t j = 0; j < lens[i]; j++) pseq[j] = seqs[i];
        hive_fwd_batch b = {(uint32_t)lens[i], prompts[i], pseq, NULL, &next[i]};
        if (hive_engine_seq_set_adapters(eng, seqs[i], set, NULL) != HIVE_OK ||
            hive_engine_forward(eng, &b, NULL, NULL) != HIVE_OK)
            rc = -1;
    }
    for (uint32_t t = 0; t < steps && !rc; t++) {
        for (int i = 0; i < n; i++) out[(size_t)i * steps + t] = rows[i] = next[i];
        if (t + 1 == steps) break;
        uint8_t want[16];
        memset(want, 1, sizeof want);
        hive_fwd_batch b = {(uint32_t)n, rows, seqs, want, next};
        if (hive_engine_forward(eng, &b, NULL, NULL) != HIVE_OK) rc = -1;
    }
    for (int i = 0; i < made; i++) hive_engine_seq_free(eng, seqs[i]);
    return rc;
}

int golden_collect(void *ud, const char *t, size_t n) {
    golden_gen_out *o = ud;
    if (o->len + n < sizeof o->text) memcpy(o->text + o->len, t, n), o->len += n;
    return 0;
}

void golden_shipped_expert(hive_expert_cache *cache, const char *name, hive_expert_set *set) {
    char path[600];
    snprintf(path, sizeof path, "%s/examples/experts/%s.expert", HIVE_SOURCE_DIR, name);
    const char *paths[1] = {path};
    hive_error *err = NULL;
    if (hive_expert_set_acquire(cache, paths, 1, set, &err) != HIVE_OK) fail_msg("%s: %s", path, hive_error_message(err));
}
