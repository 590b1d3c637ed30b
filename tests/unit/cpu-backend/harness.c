#include "harness.h"
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const hive_backend_api *api;
hive_device *dev;
hive_plugin_query_fn plugin_query;
char last_error[1024];
hive_status last_error_code;

static char fake_error; /* errors are opaque to the plugin; any non-NULL pointer */

static void fake_log(void *ctx, int32_t level, const char *msg) {
    (void)ctx;
    if (level <= HIVE_LOG_WARN) fprintf(stderr, "plugin log %d: %s\n", level, msg);
}
static hive_error *fake_error_new(void *ctx, hive_status code, const char *fmt, ...) {
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_error_code = code;
    return (hive_error *)&fake_error;
}
static void *fake_alloc(void *ctx, uint64_t n, uint64_t align) {
    (void)ctx;
    void *p = NULL;
    return posix_memalign(&p, align ? align : 64, n) ? NULL : p;
}
static void fake_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}

int harness_load(void) {
    if (api) return 0;
    const char *path = HIVE_PLUGIN_BUILD_DIR "/onednn-cpu.so";
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    hive_plugin_query_fn query = (hive_plugin_query_fn)dlsym(so, HIVE_PLUGIN_QUERY_SYMBOL);
    hive_plugin_init_fn init = (hive_plugin_init_fn)dlsym(so, HIVE_PLUGIN_INIT_SYMBOL);
    if (!query || !init) return -1;
    plugin_query = query;
    static hive_host_api host;
    memset(&host, 0, sizeof host);
    host.struct_size = sizeof host;
    host.abi_major = HIVE_ABI_MAJOR;
    host.agreed_minor = HIVE_ABI_MINOR;
    host.log = fake_log;
    host.error_new = fake_error_new;
    host.alloc = fake_alloc;
    host.free = fake_free;
    host.plugin_path = path;
    hive_error *err = NULL;
    if (init(&host, (const void **)&api, &err) != HIVE_OK) return -1;
    return 0;
}

const char *harness_open(const char *isa, uint32_t threads) {
    static char name[128];
    setenv("HIVE_CPU_ISA", isa, 1);
    hive_device_options opts = {sizeof opts, threads, 64, 0};
    hive_error *err = NULL;
    if (api->device_open(0, &opts, &dev, &err) != HIVE_OK) return NULL;
    hive_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (api->device_info(0, &info, &err) != HIVE_OK) return NULL;
    const char *p = strrchr(info.name, '(');
    snprintf(name, sizeof name, "%s", p ? p + 1 : "?");
    char *close = strchr(name, ')');
    if (close) *close = 0;
    return name;
}

void harness_close(void) {
    if (dev) api->device_close(dev);
    dev = NULL;
}

test_tensor tt_new(int64_t rows, int64_t cols, int64_t row_stride, int64_t lead_pad) {
    test_tensor t;
    memset(&t, 0, sizeof t);
    uint64_t elems = (uint64_t)lead_pad + (uint64_t)(rows ? rows - 1 : 0) * (uint64_t)row_stride +
                     (uint64_t)cols;
    hive_error *err = NULL;
    if (api->buffer_alloc(dev, elems * 4, &t.buf, &err) != HIVE_OK) return t;
    float *base = api->buffer_host_ptr(dev, t.buf);
    for (uint64_t i = 0; i < elems; i++) base[i] = rnd_uniform(-1.0f, 1.0f);
    t.t = (hive_tensor){sizeof(hive_tensor), HIVE_DTYPE_F32, t.buf, (uint64_t)lead_pad * 4, rows,
                        cols, row_stride};
    t.host = base + lead_pad;
    return t;
}

void tt_free(test_tensor *t) {
    if (t->buf) api->buffer_free(dev, t->buf);
    t->buf = NULL;
}

hive_weight *tw_upload(uint32_t dtype, int64_t rows, int64_t cols, const void *data) {
    hive_weight_desc d = {sizeof d, dtype, rows, cols, "test.weight"};
    hive_weight *w = NULL;
    hive_error *err = NULL;
    if (api->weight_upload(dev, &d, data, &w, &err) != HIVE_OK) return NULL;
    return w;
}

static uint32_t rng_state = 0x9e3779b9u;
void rnd_seed(uint32_t s) { rng_state = s ? s : 1; }
uint32_t rnd_state(void) { return rng_state; }
uint32_t rnd_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
float rnd_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(rnd_u32() >> 8) / 16777216.0f;
}
