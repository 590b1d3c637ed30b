#include "golden_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

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

int golden_env_open(golden_env *g, const char *model_dir, uint32_t ctx, int32_t weights_dtype) {
    memset(g, 0, sizeof *g);
    hive_error *err = NULL;
    g->cfg = hive_config_new();
    if (!g->cfg || hive_config_set(g->cfg, "plugin_dirs", HIVE_PLUGIN_BUILD_DIR, HIVE_SRC_CLI, "test", &err) ||
        hive_config_set(g->cfg, "default_plugins", "false", HIVE_SRC_CLI, "test", &err) ||
        hive_config_set(g->cfg, "backend.cpu", "true", HIVE_SRC_CLI, "test", &err) ||
        hive_registry_scan(&g->reg, g->cfg, &err) || hive_registry_select_backend(&g->reg, g->cfg, &g->sel, &err) ||
        hive_model_open(model_dir, &g->model, &err))
        goto fail;
    hive_engine_opts o;
    hive_engine_opts_default(&o);
    o.ctx = ctx;
    o.kv_dtype = HIVE_DTYPE_F32; /* golden comparisons are in f32 */
    o.max_rows = 64;
    o.max_seqs = 4;
    o.weights_dtype = weights_dtype;
    if (hive_engine_new(g->model, &g->sel.plugin->backend, g->sel.device, &o, &g->eng, &err)) goto fail;
    return 0;
fail:
    fprintf(stderr, "golden: %s: %s\n", model_dir, hive_error_message(err));
    hive_error_free(err);
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
