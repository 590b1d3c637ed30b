/* gpu_harness.c — fake host services, plugin loading and buffer helpers. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu_harness.h"

static void fake_log(void *ctx, int32_t level, const char *msg) {
    (void)ctx;
    if (level <= HIVE_LOG_WARN) fprintf(stderr, "[plugin] %s\n", msg);
}

static hive_error *fake_error_new(void *ctx, hive_status code, const char *fmt, ...) {
    (void)ctx;
    hive_error *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return e;
}

static void *fake_alloc(void *ctx, uint64_t n, uint64_t align) {
    (void)ctx;
    if (align < 64) align = 64;
    return aligned_alloc(align, (n + align - 1) / align * align);
}
static void fake_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}
static const char *fake_config_get(void *ctx, const char *key) {
    (void)ctx;
    (void)key;
    return NULL;
}

static hive_host_api g_host = {
    .struct_size = sizeof(hive_host_api),
    .abi_major = HIVE_ABI_MAJOR,
    .agreed_minor = HIVE_ABI_MINOR,
    .log = fake_log,
    .error_new = fake_error_new,
    .alloc = fake_alloc,
    .free = fake_free,
    .config_get = fake_config_get,
};

void gpu_check(hive_status st, hive_error *err, const char *what) {
    if (st != HIVE_OK) fprintf(stderr, "%s failed (%d): %s\n", what, st, err ? err->msg : "(no message)");
    free(err);
    assert_int_equal(st, HIVE_OK);
}

void gpu_fx_load(gpu_fx *fx, const char *file) {
    memset(fx, 0, sizeof *fx);
    fx->file = file;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", HIVE_PLUGIN_BUILD_DIR, file);
    fx->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!fx->handle) {
        const char *e = dlerror();
        snprintf(fx->load_error, sizeof fx->load_error, "%s", e ? e : "dlopen failed");
        return;
    }
    hive_plugin_init_fn init = (hive_plugin_init_fn)dlsym(fx->handle, HIVE_PLUGIN_INIT_SYMBOL);
    const void *api = NULL;
    hive_error *err = NULL;
    if (!init || init(&g_host, &api, &err) != HIVE_OK || !api) {
        snprintf(fx->load_error, sizeof fx->load_error, "init failed: %.400s", err ? err->msg : "?");
        free(err);
        return;
    }
    fx->api = api;
    err = NULL;
    if (fx->api->device_count(&fx->n_devices, &err) != HIVE_OK) {
        free(err);
        fx->n_devices = 0;
    }
    fx->info0.struct_size = sizeof fx->info0;
    err = NULL;
    if (fx->api->device_info(0, &fx->info0, &err) != HIVE_OK) free(err);
    if (fx->n_devices == 0) return;
    hive_device_options opts = {.struct_size = sizeof opts, .threads = 0, .max_rows = 512};
    err = NULL;
    if (fx->api->device_open(0, &opts, &fx->dev, &err) != HIVE_OK) {
        fprintf(stderr, "%s: device_open failed: %s\n", file, err ? err->msg : "?");
        free(err);
        fx->dev = NULL;
    }
}

void gpu_fx_unload(gpu_fx *fx) {
    if (fx->dev) fx->api->device_close(fx->dev);
    fx->dev = NULL;
    /* never dlclose a GPU runtime mid-process: its atexit hooks would dangle */
}

void gpu_fx_need_device(gpu_fx *fx) {
    if (!fx->api) {
        fprintf(stderr, "%s: not loadable: %s\n", fx->file, fx->load_error);
        skip();
    }
    if (!fx->dev) {
        fprintf(stderr, "%s: no device: %s\n", fx->file, fx->info0.reason);
        skip();
    }
}

gpu_mat gpu_mat_new(gpu_fx *fx, int64_t rows, int64_t cols, int64_t pad, const float *data) {
    gpu_mat m;
    memset(&m, 0, sizeof m);
    const int64_t stride = cols + pad;
    const uint64_t bytes = (uint64_t)(rows * stride) * 4 + 64;
    hive_error *err = NULL;
    gpu_check(fx->api->buffer_alloc(fx->dev, bytes, &m.buf, &err), err, "buffer_alloc");
    float *host = calloc((size_t)(rows * stride) + 16, sizeof(float));
    assert_non_null(host);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) host[16 + r * stride + c] = data ? data[r * cols + c] : 0.0f;
    err = NULL;
    gpu_check(fx->api->buffer_upload(fx->dev, m.buf, 0, host, bytes, &err), err, "buffer_upload");
    free(host);
    m.t = (hive_tensor){.struct_size = sizeof(hive_tensor), .dtype = HIVE_DTYPE_F32, .buf = m.buf,
                        .offset = 64, .rows = rows, .cols = cols, .row_stride = stride};
    return m;
}

void gpu_mat_read(gpu_fx *fx, const gpu_mat *m, float *out) {
    const int64_t n = m->t.rows * m->t.row_stride;
    float *host = malloc((size_t)(n ? n : 1) * sizeof(float));
    assert_non_null(host);
    hive_error *err = NULL;
    gpu_check(fx->api->synchronize(fx->dev, &err), err, "synchronize");
    err = NULL;
    gpu_check(fx->api->buffer_download(fx->dev, m->buf, m->t.offset, host, (uint64_t)n * 4, &err), err,
              "buffer_download");
    for (int64_t r = 0; r < m->t.rows; r++)
        memcpy(out + r * m->t.cols, host + r * m->t.row_stride, (size_t)m->t.cols * 4);
    free(host);
}

void gpu_mat_free(gpu_fx *fx, gpu_mat *m) {
    if (m->buf) fx->api->buffer_free(fx->dev, m->buf);
    m->buf = NULL;
}

hive_weight *gpu_weight_new(gpu_fx *fx, uint32_t dtype, int64_t rows, int64_t cols, const void *data) {
    hive_weight_desc d = {.struct_size = sizeof d, .dtype = dtype, .rows = rows, .cols = cols, .name = "test"};
    hive_weight *w = NULL;
    hive_error *err = NULL;
    gpu_check(fx->api->weight_upload(fx->dev, &d, data, &w, &err), err, "weight_upload");
    return w;
}

double gpu_rel_err(const float *a, const float *b, int64_t n, double floor) {
    double emax = 0.0, bmax = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= emax)) emax = e; /* NaN propagates as failure */
        if (fabs((double)b[i]) > bmax) bmax = fabs((double)b[i]);
    }
    return emax / (bmax + floor);
}

static gpu_fx g_group_fx;
static const char *g_group_file;

static int group_setup(void **state) {
    gpu_fx_load(&g_group_fx, g_group_file);
    *state = &g_group_fx;
    return 0;
}

static int group_teardown(void **state) {
    gpu_fx_unload(*state);
    return 0;
}

int gpu_run_per_plugin(const struct CMUnitTest *tests, size_t n) {
    int failed = 0;
    (void)tests;
    (void)n;
#ifdef HIVE_TEST_CUDA
    g_group_file = "cuda.so";
    failed += _cmocka_run_group_tests("cuda", tests, n, group_setup, group_teardown);
#endif
#ifdef HIVE_TEST_HIP
    g_group_file = "hip.so";
    failed += _cmocka_run_group_tests("hip", tests, n, group_setup, group_teardown);
#endif
    return failed;
}
