/* Helpers for the ia3 / soft-prompt tests (see util.h). */
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_writer.h"

static const char *const k_paths[T_MODS] = {
    "model.layers.%u.self_attn.q_proj", "model.layers.%u.self_attn.k_proj", "model.layers.%u.self_attn.v_proj",
    "model.layers.%u.self_attn.o_proj", "model.layers.%u.mlp.gate_proj",    "model.layers.%u.mlp.up_proj",
    "model.layers.%u.mlp.down_proj"};

static uint32_t g_rng = 1;
void u_seed(uint32_t s) { g_rng = s ? s : 1; }
uint32_t u_rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}
float u_k64(int lo, int hi) {
    int k;
    do k = lo + (int)(u_rnd() % (uint32_t)(hi - lo + 1));
    while (k == 0);
    return (float)k / 64.0f;
}

ia3_data *ia3_new(uint32_t targets, uint32_t ff, uint32_t seed) {
    ia3_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    u_seed(seed);
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) {
            d->targeted[l][m] = (targets >> m) & 1u;
            d->ff[l][m] = (ff >> m) & 1u;
            for (int i = 0; i < T_MAX_DIM; i++) d->l[l][m][i] = u_k64(32, 96); /* 0.5 .. 1.5 */
        }
    return d;
}

char *dir_write(const char *config, const st_tensor *t, int n) {
    char *dir = malloc(64), path[600];
    snprintf(dir, 64, "/tmp/hive-ia3sp-test-XXXXXX");
    if (!mkdtemp(dir)) return free(dir), NULL;
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (write_text_file(path, config) != 0) return free(dir), NULL;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (st_write(path, t, n) != 0) return free(dir), NULL;
    return dir;
}

char *ia3_write(const ia3_data *d, const char *config, const char *const *extra, int bl, int bm, int64_t bad0,
                int64_t bad1) {
    st_tensor *t = calloc(T_LAYERS * T_MODS + 16, sizeof *t);
    assert_non_null(t);
    int n = 0;
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            if (!d->targeted[l][m]) continue;
            uint32_t len = d->ff[l][m] ? shape.module_in[m] : shape.module_out[m];
            t[n] = (st_tensor){.dtype = d->dtype ? d->dtype : "F32", .n_dims = 2, .data = d->l[l][m]};
            t[n].shape[0] = d->ff[l][m] ? 1 : len;
            t[n].shape[1] = d->ff[l][m] ? len : 1;
            if ((int)l == bl && (int)m == bm) t[n].shape[0] = bad0, t[n].shape[1] = bad1;
            const char *fmt = k_paths[m], *at = strstr(fmt, "%u");
            snprintf(t[n].name, sizeof t[n].name, "base_model.model.%.*s%u%s.ia3_l", (int)(at - fmt), fmt, l, at + 2);
            n++;
        }
    for (int i = 0; extra && extra[i]; i++) {
        t[n] = (st_tensor){.dtype = "F32", .n_dims = 2, .shape = {1, 1}};
        snprintf(t[n].name, sizeof t[n].name, "%s", extra[i]);
        n++;
    }
    char *dir = dir_write(config, t, n);
    free(t);
    assert_non_null(dir);
    return dir;
}

hive_adapter *load_ok(const hive_adapter_api *api, const char *dir) {
    hive_adapter *a = NULL;
    hive_status st = adapter_load(api, dir, &a);
    if (st != HIVE_OK) fprintf(stderr, "load failed: %s\n", last_error);
    assert_int_equal(st, HIVE_OK);
    assert_non_null(a);
    return a;
}

void expect_in(const char *what, const char *msg) {
    if (!strstr(msg, what)) fprintf(stderr, "expected \"%s\" in \"%s\"\n", what, msg);
    assert_non_null(strstr(msg, what));
}

void expect_fail_dir(const char *name, char *dir, const char *what) {
    assert_non_null(dir);
    hive_adapter *a = (hive_adapter *)&a;
    assert_int_not_equal(adapter_load(plugin(name), dir, &a), HIVE_OK);
    assert_null(a);
    expect_in(what, last_error);
    adapter_remove(dir);
}

view view_new(uint32_t rows, uint32_t cols) {
    view v;
    memset(&v, 0, sizeof v);
    int64_t stride = cols + 3;
    v.total = (size_t)(rows + 2) * (size_t)stride;
    hive_error *err = NULL;
    if (be->buffer_alloc(dev, v.total * 4, &v.buf, &err) != HIVE_OK) return v;
    v.all = be->buffer_host_ptr(dev, v.buf);
    for (size_t i = 0; i < v.total; i++) v.all[i] = 1234.0f;
    v.t = (hive_tensor){sizeof(hive_tensor), HIVE_DTYPE_F32, v.buf, (uint64_t)stride * 4, rows, cols, stride};
    v.p = v.all + stride;
    return v;
}

int view_sentinels_ok(const view *v) {
    for (size_t i = 0; i < v->total; i++) {
        size_t rel = i - (size_t)v->t.row_stride;
        int inside = i >= (size_t)v->t.row_stride && rel / (size_t)v->t.row_stride < (size_t)v->t.rows &&
                     rel % (size_t)v->t.row_stride < (size_t)v->t.cols;
        if (!inside && v->all[i] != 1234.0f) return 0;
    }
    return 1;
}

void view_free(view *v) {
    if (v->buf) be->buffer_free(dev, v->buf);
    v->buf = NULL;
}

static uint32_t hook_of(const hive_adapter_api *api, hive_adapter *a, uint32_t l, uint32_t m) {
    hive_adapter_desc d = {.struct_size = sizeof d};
    if (api->describe(a, &d) != HIVE_OK || !d.hooks_at) return 0;
    return d.hooks_at[l * T_MODS + m];
}

int mini_linear(const hive_adapter_api *const *apis, hive_adapter *const *ads, int n_ad, uint32_t l, uint32_t m,
                const float *x, uint32_t n, int merged, float *y) {
    uint32_t in = shape.module_in[m], out = shape.module_out[m];
    hive_error *err = NULL;
    hive_weight *W = NULL, *B = NULL;
    view xv = view_new(n, in), yv = view_new(n, out);
    int rc = -1;
    hive_weight_desc wd = {sizeof wd, HIVE_DTYPE_F32, out, in, "W"}, bd = {sizeof bd, HIVE_DTYPE_F32, 1, out, "b"};
    if (!xv.buf || !yv.buf || be->weight_upload(dev, &wd, merged ? merged_w[l][m] : base_w[l][m], &W, &err) ||
        (base_has_bias[m] && be->weight_upload(dev, &bd, base_b[l][m], &B, &err)))
        goto done;
    for (uint32_t r = 0; r < n; r++) memcpy(xv.p + r * xv.t.row_stride, x + (size_t)r * in, in * sizeof(float));
    for (int a = 0; !merged && a < n_ad; a++)
        if ((hook_of(apis[a], ads[a], l, m) & HIVE_HOOK_LINEAR_INPUT) &&
            apis[a]->linear_input(ads[a], l, m, &xv.t, &err) != HIVE_OK) {
            fprintf(stderr, "linear_input failed: %s\n", last_error);
            goto done;
        }
    if (be->op_matmul(dev, &xv.t, W, B, 1.0f, 0.0f, &yv.t, &err) != HIVE_OK) goto done;
    for (int a = 0; !merged && a < n_ad; a++)
        if ((hook_of(apis[a], ads[a], l, m) & HIVE_HOOK_OUTPUT_SCALE) &&
            apis[a]->linear_output(ads[a], l, m, &xv.t, &yv.t, &yv.t, &err) != HIVE_OK) {
            fprintf(stderr, "linear_output failed: %s\n", last_error);
            goto done;
        }
    if (!view_sentinels_ok(&xv) || !view_sentinels_ok(&yv)) {
        fprintf(stderr, "a hook wrote outside its view\n");
        goto done;
    }
    for (uint32_t r = 0; r < n; r++) memcpy(y + (size_t)r * out, yv.p + r * yv.t.row_stride, out * sizeof(float));
    rc = 0;
done:
    if (W) be->weight_free(dev, W);
    if (B) be->weight_free(dev, B);
    view_free(&xv);
    view_free(&yv);
    return rc;
}

void ref_linear(const ia3_data *const *d, int n_ad, uint32_t l, uint32_t m, const float *x, uint32_t n, double *y) {
    uint32_t in = shape.module_in[m], out = shape.module_out[m];
    for (uint32_t r = 0; r < n; r++) {
        double xs[T_MAX_DIM];
        for (uint32_t i = 0; i < in; i++) {
            xs[i] = x[(size_t)r * in + i];
            for (int a = 0; a < n_ad; a++)
                if (d[a]->targeted[l][m] && d[a]->ff[l][m]) xs[i] *= d[a]->l[l][m][i];
        }
        for (uint32_t o = 0; o < out; o++) {
            double s = base_has_bias[m] ? base_b[l][m][o] : 0.0;
            for (uint32_t i = 0; i < in; i++) s += (double)base_w[l][m][o * in + i] * xs[i];
            for (int a = 0; a < n_ad; a++)
                if (d[a]->targeted[l][m] && !d[a]->ff[l][m]) s *= d[a]->l[l][m][o];
            y[(size_t)r * out + o] = s;
        }
    }
}

double rel_err(const float *a, const double *b, size_t n) {
    double maxref = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (fabs(b[i]) > maxref) maxref = fabs(b[i]);
        if (e > maxerr || isnan(e)) maxerr = isnan(e) ? INFINITY : e;
    }
    return maxerr / (maxref > 0 ? maxref : 1);
}
