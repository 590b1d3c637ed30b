/*
 * null_backend.c — the smallest complete Hive backend plugin.
 *
 * It reports one device (score 1, "null backend: does nothing") and answers
 * every other call with HIVE_E_UNSUPPORTED and a message, so it can be listed
 * by `hive-host plugins` but never run a model. Copy it to start a real
 * backend: keep the two entry points and the struct_size handling, and fill in
 * the ops. docs/PLUGIN_ABI.md explains each rule used here.
 *
 * The only header a plugin includes is hive_abi.h; it links nothing from Hive.
 */
#include <hive_abi.h>

#include <string.h>

#define NULL_NAME "null"
#define NULL_VERSION "1.0.0"
#define NULL_REASON "null backend: does nothing"

/* The host's services, kept from hive_plugin_init for error messages. */
static const hive_host_api *host;

/* Every unsupported call ends here: a status code plus a host-made error. The
 * host owns the error; we never free it. */
static hive_status unsupported(hive_error **err, const char *what)
{
    if (err)
        *err = host->error_new(host->ctx, HIVE_E_UNSUPPORTED,
                               "null backend: %s is not implemented", what);
    return HIVE_E_UNSUPPORTED;
}

/* ------------------------------------------------------------ devices -- */

static hive_status null_device_count(uint32_t *count, hive_error **err)
{
    (void)err;
    *count = 1;
    return HIVE_OK;
}

static hive_status null_device_info(uint32_t index, hive_device_info *out, hive_error **err)
{
    if (index != 0)
        return unsupported(err, "a device index other than 0");
    /* Fill a full struct of our own, then copy only the bytes the host said
     * it has room for (out->struct_size). A newer host passes a bigger struct
     * and sees our fields; an older one a smaller struct, and we stay inside. */
    hive_device_info mine;
    memset(&mine, 0, sizeof mine);
    mine.struct_size = sizeof mine;
    mine.score = 1; /* usable, but any real backend should win */
    strncpy(mine.name, "null device", sizeof mine.name - 1);
    strncpy(mine.reason, NULL_REASON, sizeof mine.reason - 1);
    size_t n = out->struct_size < sizeof mine ? out->struct_size : sizeof mine;
    memcpy(out, &mine, n);
    return HIVE_OK;
}

static hive_status null_device_open(uint32_t index, const hive_device_options *opts,
                                    hive_device **out, hive_error **err)
{
    (void)index, (void)opts, (void)out;
    return unsupported(err, "device_open");
}

/* Destroy entries never fail and must accept what their create returned.
 * Nothing is ever created here, so they have nothing to do. */
static void null_device_close(hive_device *dev) { (void)dev; }
static void null_buffer_free(hive_device *dev, hive_buffer *buf) { (void)dev, (void)buf; }
static void null_weight_free(hive_device *dev, hive_weight *w) { (void)dev, (void)w; }
static void null_kv_free(hive_device *dev, hive_kv_cache *kv) { (void)dev, (void)kv; }

static hive_status null_synchronize(hive_device *dev, hive_error **err)
{
    (void)dev;
    return unsupported(err, "synchronize");
}

/* ------------------------------------------------------ memory, weights -- */

static hive_status null_buffer_alloc(hive_device *dev, uint64_t nbytes, hive_buffer **out,
                                     hive_error **err)
{
    (void)dev, (void)nbytes, (void)out;
    return unsupported(err, "buffer_alloc");
}

static hive_status null_buffer_upload(hive_device *dev, hive_buffer *buf, uint64_t offset,
                                      const void *src, uint64_t nbytes, hive_error **err)
{
    (void)dev, (void)buf, (void)offset, (void)src, (void)nbytes;
    return unsupported(err, "buffer_upload");
}

static hive_status null_buffer_download(hive_device *dev, const hive_buffer *buf,
                                        uint64_t offset, void *dst, uint64_t nbytes,
                                        hive_error **err)
{
    (void)dev, (void)buf, (void)offset, (void)dst, (void)nbytes;
    return unsupported(err, "buffer_download");
}

/* 0 = "host, convert this dtype for me"; the null backend runs nothing natively. */
static uint32_t null_weight_supported(hive_device *dev, uint32_t dtype)
{
    (void)dev, (void)dtype;
    return 0;
}

static hive_status null_weight_upload(hive_device *dev, const hive_weight_desc *desc,
                                      const void *data, hive_weight **out, hive_error **err)
{
    (void)dev, (void)desc, (void)data, (void)out;
    return unsupported(err, "weight_upload");
}

static hive_status null_kv_alloc(hive_device *dev, const hive_kv_desc *desc,
                                 hive_kv_cache **out, hive_error **err)
{
    (void)dev, (void)desc, (void)out;
    return unsupported(err, "kv_alloc");
}

/* ----------------------------------------------------------------- ops -- */

static hive_status null_op_embed(hive_device *dev, const hive_weight *table, const int32_t *ids,
                                 const hive_tensor *out, hive_error **err)
{
    (void)dev, (void)table, (void)ids, (void)out;
    return unsupported(err, "op_embed");
}

static hive_status null_op_rmsnorm(hive_device *dev, const hive_tensor *x,
                                   const hive_weight *gain, float eps, const hive_tensor *out,
                                   hive_error **err)
{
    (void)dev, (void)x, (void)gain, (void)eps, (void)out;
    return unsupported(err, "op_rmsnorm");
}

static hive_status null_op_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w,
                                  const hive_weight *bias, float alpha, float beta,
                                  const hive_tensor *out, hive_error **err)
{
    (void)dev, (void)x, (void)w, (void)bias, (void)alpha, (void)beta, (void)out;
    return unsupported(err, "op_matmul");
}

static hive_status null_op_binary(hive_device *dev, uint32_t op, const hive_tensor *a,
                                  const hive_tensor *b, const hive_tensor *out,
                                  hive_error **err)
{
    (void)dev, (void)op, (void)a, (void)b, (void)out;
    return unsupported(err, "op_binary");
}

static hive_status null_op_binary_weight(hive_device *dev, uint32_t op, const hive_tensor *a,
                                         const hive_weight *w, const hive_tensor *out,
                                         hive_error **err)
{
    (void)dev, (void)op, (void)a, (void)w, (void)out;
    return unsupported(err, "op_binary_weight");
}

static hive_status null_op_swiglu(hive_device *dev, const hive_tensor *gate,
                                  const hive_tensor *up, const hive_tensor *out,
                                  hive_error **err)
{
    (void)dev, (void)gate, (void)up, (void)out;
    return unsupported(err, "op_swiglu");
}

static hive_status null_op_rope(hive_device *dev, const hive_tensor *x,
                                const hive_rope_desc *rope, const hive_batch *batch,
                                hive_error **err)
{
    (void)dev, (void)x, (void)rope, (void)batch;
    return unsupported(err, "op_rope");
}

static hive_status null_op_kv_store(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                                    const hive_tensor *k, const hive_tensor *v,
                                    const hive_batch *batch, hive_error **err)
{
    (void)dev, (void)kv, (void)layer, (void)k, (void)v, (void)batch;
    return unsupported(err, "op_kv_store");
}

static hive_status null_op_attention(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                                     const hive_tensor *q, uint32_t n_heads, float scale,
                                     const hive_batch *batch, const hive_tensor *out,
                                     hive_error **err)
{
    (void)dev, (void)kv, (void)layer, (void)q, (void)n_heads, (void)scale, (void)batch,
        (void)out;
    return unsupported(err, "op_attention");
}

static hive_status null_op_get_rows(hive_device *dev, const hive_tensor *x, const int32_t *rows,
                                    uint32_t n, const hive_tensor *out, hive_error **err)
{
    (void)dev, (void)x, (void)rows, (void)n, (void)out;
    return unsupported(err, "op_get_rows");
}

/* The table the host calls through. Static and const: it lives as long as
 * the plugin is loaded, which is what hive_plugin_init promises. Optional
 * entries we do not offer stay NULL (the host checks); never a stub that
 * aborts. */
static const hive_backend_api null_backend = {
    .struct_size = sizeof(hive_backend_api),
    .caps = 0,
    .device_count = null_device_count,
    .device_info = null_device_info,
    .device_open = null_device_open,
    .device_close = null_device_close,
    .synchronize = null_synchronize,
    .buffer_alloc = null_buffer_alloc,
    .buffer_free = null_buffer_free,
    .buffer_upload = null_buffer_upload,
    .buffer_download = null_buffer_download,
    .buffer_host_ptr = NULL,
    .weight_supported = null_weight_supported,
    .weight_upload = null_weight_upload,
    .weight_free = null_weight_free,
    .kv_alloc = null_kv_alloc,
    .kv_free = null_kv_free,
    .op_embed = null_op_embed,
    .op_rmsnorm = null_op_rmsnorm,
    .op_matmul = null_op_matmul,
    .op_binary = null_op_binary,
    .op_binary_weight = null_op_binary_weight,
    .op_swiglu = null_op_swiglu,
    .op_rope = null_op_rope,
    .op_kv_store = null_op_kv_store,
    .op_attention = null_op_attention,
    .op_get_rows = null_op_get_rows,
    .op_argmax = NULL,     /* 1.1, optional */
    .get_extension = NULL, /* 1.1, optional */
};

/* ------------------------------------------------------- entry points -- */

/* Called before init, possibly without init ever following (e.g. by
 * `hive-host plugins`). Touches no driver: just says who we are. */
HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info)
{
    hive_plugin_info mine = {
        .struct_size = sizeof mine,
        .kind = HIVE_PLUGIN_BACKEND,
        .abi_major = HIVE_ABI_MAJOR,
        .abi_minor = HIVE_ABI_MINOR,
        /* We never call a 1.1 host service without checking for it (see
         * init), so a 1.0 host is fine. */
        .min_host_minor = 0,
        .name = NULL_NAME,
        .version = NULL_VERSION,
        .build = "examples/null-backend, built with pkg-config hive-plugin",
        .description = "Reports one device and implements nothing",
    };
    /* The host set info->struct_size to what it can hold; write no more. */
    size_t n = info->struct_size < sizeof mine ? info->struct_size : sizeof mine;
    memcpy(info, &mine, n);
    info->struct_size = sizeof mine;
    return HIVE_OK;
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host_api,
                                                const void **api, hive_error **err)
{
    (void)err;
    host = host_api;

    /* Reading an optional (1.1) host field: it exists only if it lies inside
     * the host's struct_size AND the pointer is non-NULL. */
    if (HIVE_HAS_FIELD(hive_host_api, host->struct_size, config_get) && host->config_get) {
        const char *greeting = host->config_get(host->ctx, "greeting");
        if (greeting)
            host->log(host->ctx, HIVE_LOG_INFO, greeting);
    }
    host->log(host->ctx, HIVE_LOG_DEBUG, "null backend ready (does nothing)");

    *api = &null_backend;
    return HIVE_OK;
}
