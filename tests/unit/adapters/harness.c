/* Harness for the lora / dora plugin tests (see harness.h). */
#include "harness.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/tensor_file.h"
#include "st_writer.h"
#include "util/error.h"

const hive_backend_api *be;
hive_device *dev;
char last_error[2048];
hive_model_shape shape;
hive_base_access base;
float base_w[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];
float base_b[T_LAYERS][T_MODS][T_MAX_DIM];
int base_has_bias[T_MODS] = {1, 1, 1, 0, 0, 0, 0};
float merged_w[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];
int merged_set[T_LAYERS][T_MODS];

static const char *const k_paths[T_MODS] = {
    "model.layers.%u.self_attn.q_proj", "model.layers.%u.self_attn.k_proj", "model.layers.%u.self_attn.v_proj",
    "model.layers.%u.self_attn.o_proj", "model.layers.%u.mlp.gate_proj",    "model.layers.%u.mlp.up_proj",
    "model.layers.%u.mlp.down_proj"};
static const uint32_t k_in[T_MODS] = {16, 16, 16, 16, 16, 16, 24};
static const uint32_t k_out[T_MODS] = {16, 8, 8, 16, 24, 24, 16};

/* ---------------------------------------------------------- fake host -- */
static char fake_error;

int harness_warnings;

static void h_log(void *ctx, int32_t level, const char *msg) {
    (void)ctx;
    if (level <= HIVE_LOG_WARN) fprintf(stderr, "plugin log %d: %s\n", level, msg);
    if (level == HIVE_LOG_WARN) harness_warnings++;
}
static hive_error *h_error_new(void *ctx, hive_status code, const char *fmt, ...) {
    (void)ctx, (void)code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return (hive_error *)&fake_error;
}
static void *h_alloc(void *ctx, uint64_t n, uint64_t align) {
    (void)ctx;
    void *p = NULL;
    return posix_memalign(&p, align ? align : 64, n ? n : 1) ? NULL : p;
}
static void h_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}
static hive_status h_tf_open(void *ctx, const char *path, hive_tensor_file **out, hive_error **err) {
    (void)ctx;
    hive_error *e = NULL;
    hive_status st = hive_tf_open(path, out, &e);
    if (st != HIVE_OK) {
        snprintf(last_error, sizeof last_error, "%s", hive_error_message(e));
        hive_error_free(e);
        if (err) *err = (hive_error *)&fake_error;
    }
    return st;
}
static uint64_t h_tf_count(void *ctx, const hive_tensor_file *f) {
    (void)ctx;
    return hive_tf_count(f);
}
/* The tensor bytes handed to plugins (in the files' mappings), newest last. */
static struct {
    const unsigned char *data;
    uint64_t nbytes;
} g_views[1024];
static int g_n_views;

static void note_view(hive_status st, const hive_tensor_view *v) {
    if (st != HIVE_OK || !v->data) return;
    g_views[g_n_views % 1024].data = v->data;
    g_views[g_n_views % 1024].nbytes = v->nbytes;
    g_n_views++;
}
void harness_views_clear(void) { g_n_views = 0; }
int harness_in_tensor_file(const void *p) {
    const unsigned char *q = p;
    for (int i = 0; i < g_n_views && i < 1024; i++)
        if (q >= g_views[i].data && q < g_views[i].data + g_views[i].nbytes) return 1;
    return 0;
}

static hive_status h_tf_get(void *ctx, const hive_tensor_file *f, uint64_t i, hive_tensor_view *out) {
    (void)ctx;
    hive_status st = hive_tf_get(f, i, out);
    note_view(st, out);
    return st;
}
static hive_status h_tf_find(void *ctx, const hive_tensor_file *f, const char *name, hive_tensor_view *out) {
    (void)ctx;
    hive_status st = hive_tf_find(f, name, out);
    note_view(st, out);
    return st;
}
static void h_tf_close(void *ctx, hive_tensor_file *f) {
    (void)ctx;
    hive_tf_close(f);
}

const hive_host_api test_host = {
    .struct_size = sizeof(hive_host_api),
    .abi_major = HIVE_ABI_MAJOR,
    .agreed_minor = HIVE_ABI_MINOR,
    .log = h_log,
    .error_new = h_error_new,
    .alloc = h_alloc,
    .free = h_free,
    .tensor_file_open = h_tf_open,
    .tensor_file_count = h_tf_count,
    .tensor_file_get = h_tf_get,
    .tensor_file_find = h_tf_find,
    .tensor_file_close = h_tf_close,
    .plugin_path = "test",
};

/* ---------------------------------------------------------- fake base -- */
int weight_f32_calls;

static hive_status b_weight_f32(void *ctx, uint32_t l, uint32_t m, float **out, hive_error **err) {
    (void)ctx, (void)err;
    weight_f32_calls++;
    size_t n = (size_t)k_out[m] * k_in[m];
    if (!(*out = malloc(n * sizeof(float)))) return HIVE_E_NOMEM;
    memcpy(*out, base_w[l][m], n * sizeof(float));
    return HIVE_OK;
}
static hive_status b_bias_f32(void *ctx, uint32_t l, uint32_t m, float **out, hive_error **err) {
    (void)ctx, (void)err;
    *out = NULL;
    if (!base_has_bias[m]) return HIVE_OK;
    if (!(*out = malloc(k_out[m] * sizeof(float)))) return HIVE_E_NOMEM;
    memcpy(*out, base_b[l][m], k_out[m] * sizeof(float));
    return HIVE_OK;
}
static hive_weight *b_weight(void *ctx, uint32_t l, uint32_t m) {
    (void)ctx, (void)l, (void)m;
    return NULL;
}
static hive_status b_replace(void *ctx, uint32_t l, uint32_t m, const float *w, hive_error **err) {
    (void)ctx, (void)err;
    memcpy(merged_w[l][m], w, (size_t)k_out[m] * k_in[m] * sizeof(float));
    merged_set[l][m] = 1;
    return HIVE_OK;
}

/* ---------------------------------------------------------------- rng -- */
static uint32_t rng = 12345u;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static float rnd_k256(int lo, int hi) { /* k/256, k in [lo, hi], k != 0 */
    int k;
    do k = lo + (int)(rnd() % (uint32_t)(hi - lo + 1));
    while (k == 0);
    return (float)k / 256.0f;
}

int harness_init(void) {
    void *so = dlopen(HIVE_PLUGIN_BUILD_DIR "/onednn-cpu.so", RTLD_NOW | RTLD_LOCAL);
    if (!so) return fprintf(stderr, "%s\n", dlerror()), -1;
    hive_plugin_init_fn init = (hive_plugin_init_fn)dlsym(so, HIVE_PLUGIN_INIT_SYMBOL);
    hive_error *err = NULL;
    if (!init || init(&test_host, (const void **)&be, &err) != HIVE_OK) return -1;
    hive_device_options o = {sizeof o, 2, 64, 0};
    if (be->device_open(0, &o, &dev, &err) != HIVE_OK) return -1;
    shape.struct_size = sizeof shape;
    shape.n_layers = T_LAYERS;
    shape.hidden = 16;
    shape.vocab = 32;
    memcpy(shape.module_in, k_in, sizeof k_in);
    memcpy(shape.module_out, k_out, sizeof k_out);
    shape.arch = "qwen2";
    memcpy(shape.module_path_fmt, k_paths, sizeof k_paths);
    base = (hive_base_access){sizeof base, 0, NULL, b_weight_f32, b_weight, b_bias_f32, b_replace};
    rng = 777u;
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) {
            for (uint32_t i = 0; i < k_in[m] * k_out[m]; i++) base_w[l][m][i] = rnd_k256(-128, 128);
            for (uint32_t i = 0; i < k_out[m]; i++) base_b[l][m][i] = base_has_bias[m] ? rnd_k256(-256, 256) : 0.0f;
        }
    return 0;
}

void harness_fini(void) {
    if (dev) be->device_close(dev);
    dev = NULL;
}

const hive_adapter_api *plugin(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.so", HIVE_PLUGIN_BUILD_DIR, name);
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) return NULL;
    hive_plugin_init_fn init = (hive_plugin_init_fn)dlsym(so, HIVE_PLUGIN_INIT_SYMBOL);
    const void *api = NULL;
    hive_error *err = NULL;
    if (!init || init(&test_host, &api, &err) != HIVE_OK) return NULL;
    return api;
}

/* ------------------------------------------------------------ adapters -- */
void adapter_fill(adapter_data *d, uint32_t seed) {
    rng = seed ? seed : 1;
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) {
            uint32_t r = d->r[l][m];
            for (uint32_t i = 0; i < r * k_in[m]; i++) d->A[l][m][i] = rnd_k256(-255, 255);
            for (uint32_t i = 0; i < r * k_out[m]; i++) d->B[l][m][i] = rnd_k256(-64, 64);
            for (uint32_t i = 0; i < k_out[m]; i++) d->mag[l][m][i] = rnd_k256(128, 384) * 4.0f;
        }
}

static void path_of(char *dst, size_t cap, uint32_t l, uint32_t m, const char *suffix) {
    const char *fmt = k_paths[m], *at = strstr(fmt, "%u");
    snprintf(dst, cap, "base_model.model.%.*s%u%s%s", (int)(at - fmt), fmt, l, at + 2, suffix);
}

char *adapter_write_ex(const adapter_data *d, const char *config, const char *const *extra, int bl, int bm,
                       uint32_t bad_out, int drop_A) {
    char *dir = malloc(64), path[600];
    snprintf(dir, 64, "/tmp/hive-adapter-test-XXXXXX");
    if (!mkdtemp(dir)) return free(dir), NULL;
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (write_text_file(path, config) != 0) return free(dir), NULL;
    st_tensor *t = calloc(T_LAYERS * T_MODS * 3 + 16, sizeof *t);
    int n = 0;
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            uint32_t r = d->r[l][m];
            if (!r) continue;
            int here = (int)l == bl && (int)m == bm;
            if (!(here && drop_A)) {
                t[n] = (st_tensor){.dtype = d->dtype_A ? d->dtype_A : "F32", .n_dims = 2, .shape = {r, k_in[m]},
                                   .data = d->A[l][m]};
                path_of(t[n].name, sizeof t[n].name, l, m, ".lora_A.weight");
                n++;
            }
            t[n] = (st_tensor){.dtype = d->dtype_B ? d->dtype_B : "F32", .n_dims = 2,
                               .shape = {here && bad_out ? bad_out : k_out[m], r}, .data = d->B[l][m]};
            path_of(t[n].name, sizeof t[n].name, l, m, ".lora_B.weight");
            n++;
            if (d->dora) {
                t[n] = (st_tensor){.dtype = "F32", .n_dims = 1, .shape = {k_out[m]}, .data = d->mag[l][m]};
                path_of(t[n].name, sizeof t[n].name, l, m, ".lora_magnitude_vector");
                n++;
            }
        }
    for (int i = 0; extra && extra[i]; i++) {
        t[n] = (st_tensor){.dtype = "F32", .n_dims = 2, .shape = {1, 1}, .data = NULL};
        snprintf(t[n].name, sizeof t[n].name, "%s", extra[i]);
        n++;
    }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    int rc = st_write(path, t, n);
    free(t);
    if (rc != 0) return free(dir), NULL;
    return dir;
}

char *adapter_write(const adapter_data *d, const char *config, const char *const *extra) {
    return adapter_write_ex(d, config, extra, -1, -1, 0, 0);
}

void adapter_remove(char *dir) {
    if (!dir) return;
    const char *files[] = {"adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"};
    char path[600];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    free(dir);
}

hive_status adapter_load(const hive_adapter_api *api, const char *dir, hive_adapter **out) {
    char path[600], text[8192];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp) return HIVE_E_IO;
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    hive_adapter_load_args args = {sizeof args, T_MAX_ROWS, dir, text, be, dev, &shape, &base, harness_cache};
    hive_error *err = NULL;
    last_error[0] = 0;
    *out = NULL;
    return api->load(&args, out, &err);
}

int adapter_refused(const char *name, char *dir, const char *what) {
    if (!dir) {
        fprintf(stderr, "%s: the adapter could not be written\n", name);
        return 0;
    }
    hive_adapter *a = (hive_adapter *)&a;
    hive_status st = adapter_load(plugin(name), dir, &a);
    char file[600];
    snprintf(file, sizeof file, "%s/adapter_model.safetensors: tensor ", dir);
    int ok = st == HIVE_E_INVALID && !a && strstr(last_error, what) && strstr(last_error, file);
    if (!ok)
        fprintf(stderr, "%s: status %d, adapter %s, expected \"%s\" and \"%s\" in \"%s\"\n", name, (int)st,
                a ? "returned" : "NULL", file, what, last_error);
    adapter_remove(dir);
    return ok;
}

/* ------------------------------------------------------ adapter cache -- */
/* One blob per name in memory: what the host's adapter store keeps on disk. */
test_blob_store blob_store;
const hive_adapter_cache *harness_cache;

static test_blob *blob_find(const char *name) {
    for (int i = 0; i < blob_store.n; i++)
        if (!strcmp(blob_store.blobs[i].name, name)) return &blob_store.blobs[i];
    return NULL;
}
static hive_status c_get(void *ctx, const char *name, void **data, uint64_t *size) {
    (void)ctx;
    blob_store.gets++;
    test_blob *b = blob_find(name);
    if (!b) return HIVE_E_NOTFOUND;
    if (!(*data = malloc(b->size ? b->size : 1))) return HIVE_E_NOMEM;
    memcpy(*data, b->data, b->size);
    *size = b->size;
    blob_store.hits++;
    return HIVE_OK;
}
static void c_put(void *ctx, const char *name, const void *data, uint64_t size) {
    (void)ctx;
    test_blob *b = blob_find(name);
    if (!b && blob_store.n < (int)(sizeof blob_store.blobs / sizeof blob_store.blobs[0])) {
        b = &blob_store.blobs[blob_store.n++];
        snprintf(b->name, sizeof b->name, "%s", name);
    }
    if (!b) return;
    free(b->data);
    b->data = malloc(size ? size : 1);
    memcpy(b->data, data, size);
    b->size = size;
    blob_store.puts++;
}
const hive_adapter_cache test_cache = {sizeof test_cache, 0, NULL, c_get, c_put};

void blob_store_clear(void) {
    for (int i = 0; i < blob_store.n; i++) free(blob_store.blobs[i].data);
    memset(&blob_store, 0, sizeof blob_store);
}

/* ----------------------------------------------------------- reference -- */
void ref_dora_f(const adapter_data *d, uint32_t l, uint32_t m, double *f) {
    uint32_t r = d->r[l][m], in = k_in[m];
    for (uint32_t o = 0; o < k_out[m]; o++) {
        double sum = 0;
        for (uint32_t i = 0; i < in; i++) {
            double ba = 0;
            for (uint32_t k = 0; k < r; k++) ba += (double)d->B[l][m][o * r + k] * d->A[l][m][k * in + i];
            double v = base_w[l][m][o * in + i] + d->s[l][m] * ba;
            sum += v * v;
        }
        f[o] = d->mag[l][m][o] / sqrt(sum);
    }
}

/* delta of one adapter for one row */
static void ref_delta(const adapter_data *d, uint32_t l, uint32_t m, const float *x, const float *by, double *out) {
    uint32_t r = d->r[l][m], in = k_in[m], n_out = k_out[m];
    double ax[T_MAX_DIM] = {0}, f[T_MAX_DIM];
    for (uint32_t o = 0; o < n_out; o++) out[o] = 0;
    if (!r) return;
    for (uint32_t k = 0; k < r; k++)
        for (uint32_t i = 0; i < in; i++) ax[k] += (double)d->A[l][m][k * in + i] * x[i];
    if (d->dora) ref_dora_f(d, l, m, f);
    for (uint32_t o = 0; o < n_out; o++) {
        double bax = 0;
        for (uint32_t k = 0; k < r; k++) bax += (double)d->B[l][m][o * r + k] * ax[k];
        if (!d->dora) out[o] = d->s[l][m] * bax;
        else out[o] = (f[o] - 1) * ((double)by[o] - base_b[l][m][o]) + f[o] * d->s[l][m] * bax;
    }
}

typedef struct view {
    hive_buffer *buf;
    hive_tensor t;
    float *p; /* element (0, 0) */
    size_t total;
    float *all;
} view;

static view view_new(uint32_t rows, uint32_t cols) {
    view v;
    memset(&v, 0, sizeof v);
    int64_t stride = cols + 3;
    v.total = (size_t)(rows + 2) * (size_t)stride;
    hive_error *err = NULL;
    if (be->buffer_alloc(dev, v.total * 4, &v.buf, &err) != HIVE_OK) return v;
    v.all = be->buffer_host_ptr(dev, v.buf);
    for (size_t i = 0; i < v.total; i++) v.all[i] = 1234.0f; /* sentinels around the view */
    v.t = (hive_tensor){sizeof(hive_tensor), HIVE_DTYPE_F32, v.buf, (uint64_t)stride * 4, rows, cols, stride};
    v.p = v.all + stride;
    return v;
}

static int view_sentinels_ok(const view *v) {
    for (size_t i = 0; i < v->total; i++) {
        size_t rel = i - (size_t)v->t.row_stride;
        int inside = i >= (size_t)v->t.row_stride && rel / (size_t)v->t.row_stride < (size_t)v->t.rows &&
                     rel % (size_t)v->t.row_stride < (size_t)v->t.cols;
        if (!inside && v->all[i] != 1234.0f) return 0;
    }
    return 1;
}

double check_hook(const hive_adapter_api *const *apis, hive_adapter *const *ads, const adapter_data *const *data,
                  int n_ad, uint32_t l, uint32_t m, uint32_t n) {
    uint32_t in = k_in[m], out = k_out[m];
    view x = view_new(n, in), by = view_new(n, out), y = view_new(n, out);
    double *ref = calloc((size_t)n * out, sizeof *ref), delta[T_MAX_DIM];
    double worst = -1;
    if (!x.buf || !by.buf || !y.buf || !ref) goto done;
    for (uint32_t r = 0; r < n; r++) {
        float *xr = x.p + r * x.t.row_stride, *br = by.p + r * by.t.row_stride, *yr = y.p + r * y.t.row_stride;
        for (uint32_t i = 0; i < in; i++) xr[i] = rnd_k256(-256, 256);
        for (uint32_t o = 0; o < out; o++) {
            double s = base_b[l][m][o];
            for (uint32_t i = 0; i < in; i++) s += (double)base_w[l][m][o * in + i] * xr[i];
            br[o] = (float)s;
            yr[o] = br[o] + 0.25f * (float)(o % 3); /* as if another adapter already added its delta */
            ref[r * out + o] = yr[o];
        }
        for (int a = 0; a < n_ad; a++) {
            ref_delta(data[a], l, m, xr, br, delta);
            for (uint32_t o = 0; o < out; o++) ref[r * out + o] += delta[o];
        }
    }
    for (int a = 0; a < n_ad; a++) {
        hive_error *err = NULL;
        if (apis[a]->linear_output(ads[a], l, m, &x.t, &by.t, &y.t, &err) != HIVE_OK) {
            fprintf(stderr, "hook failed: %s\n", last_error);
            goto done;
        }
    }
    if (!view_sentinels_ok(&x) || !view_sentinels_ok(&by) || !view_sentinels_ok(&y)) {
        fprintf(stderr, "hook wrote outside its view\n");
        goto done;
    }
    double maxref = 0, maxerr = 0;
    for (uint32_t r = 0; r < n; r++)
        for (uint32_t o = 0; o < out; o++) {
            double e = fabs((double)y.p[r * y.t.row_stride + o] - ref[r * out + o]);
            if (fabs(ref[r * out + o]) > maxref) maxref = fabs(ref[r * out + o]);
            if (e > maxerr) maxerr = e;
        }
    worst = maxerr / (maxref > 0 ? maxref : 1);
done:
    if (x.buf) be->buffer_free(dev, x.buf);
    if (by.buf) be->buffer_free(dev, by.buf);
    if (y.buf) be->buffer_free(dev, y.buf);
    free(ref);
    return worst;
}
