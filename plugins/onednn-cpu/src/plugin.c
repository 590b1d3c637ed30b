/* Entry points of onednn-cpu.so: the plugin info and the backend table. */
#include <string.h>
#include "cpu_internal.h"

#ifdef HIVE_CPU_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl_version.h>
#define CPU_STR2(x) #x
#define CPU_STR(x) CPU_STR2(x)
#define CPU_ONEDNN_BUILD "oneDNN " CPU_STR(DNNL_VERSION_MAJOR) "." CPU_STR(DNNL_VERSION_MINOR) "." CPU_STR(DNNL_VERSION_PATCH)
#else
#define CPU_ONEDNN_BUILD "oneDNN: none"
#endif

hive_host_api cpu_host;

static const hive_backend_api cpu_api = {
    .struct_size = sizeof(hive_backend_api),
    .caps = HIVE_BACKEND_CAP_F16_KV | HIVE_BACKEND_CAP_BF16_MATMUL |
            HIVE_BACKEND_CAP_HOST_MEMORY | HIVE_BACKEND_CAP_ARGMAX,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .synchronize = cpu_rec_synchronize,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_upload = cpu_rec_buffer_upload,
    .buffer_download = cpu_rec_buffer_download,
    .buffer_host_ptr = cpu_buffer_host_ptr,
    .weight_supported = cpu_weight_supported,
    .weight_upload = cpu_weight_upload,
    .weight_free = cpu_weight_free,
    .kv_alloc = cpu_kv_alloc,
    .kv_free = cpu_kv_free,
    .op_embed = cpu_rec_op_embed,
    .op_rmsnorm = cpu_rec_op_rmsnorm,
    .op_matmul = cpu_rec_op_matmul,
    .op_binary = cpu_rec_op_binary,
    .op_binary_weight = cpu_rec_op_binary_weight,
    .op_swiglu = cpu_rec_op_swiglu,
    .op_rope = cpu_rec_op_rope,
    .op_kv_store = cpu_rec_op_kv_store,
    .op_attention = cpu_rec_op_attention,
    .op_get_rows = cpu_rec_op_get_rows,
    .op_argmax = cpu_rec_op_argmax,
    .get_extension = cpu_get_extension,
    .op_add_rows_scaled = cpu_rec_op_add_rows_scaled,
    .op_ssm_conv = cpu_rec_op_ssm_conv,
    .op_ssm_scan = cpu_rec_op_ssm_scan,
    .op_layernorm = cpu_rec_op_layernorm,
    .op_kv_migrate = cpu_op_kv_migrate, /* called between steps, never captured */
};

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    if (!info || info->struct_size < offsetof(hive_plugin_info, name)) return HIVE_E_INVALID;
    hive_plugin_info mine = {
        .struct_size = sizeof(hive_plugin_info),
        .kind = HIVE_PLUGIN_BACKEND,
        .abi_major = HIVE_ABI_MAJOR,
        .abi_minor = HIVE_ABI_MINOR,
        .min_host_minor = 0,
        .name = "onednn-cpu",
        .version = "0.1.0",
        .build = "gcc " __VERSION__ "; " CPU_ONEDNN_BUILD "; kernels: scalar avx2 avxvnni"
#ifdef HIVE_CPU_HAVE_AVX512
                 " avx512 avx512vnni"
#endif
                 "; threads: OpenMP",
        .description = "CPU backend: AVX2/AVX-512 quantized kernels, oneDNN matmul for prefill",
    };
    uint32_t n = info->struct_size < sizeof mine ? info->struct_size : (uint32_t)sizeof mine;
    memcpy(info, &mine, n);
    info->struct_size = n;
    return HIVE_OK;
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api,
                                                hive_error **err) {
    (void)err;
    if (!host || !api || host->struct_size < offsetof(hive_host_api, plugin_path))
        return HIVE_E_INVALID;
    memset(&cpu_host, 0, sizeof cpu_host);
    size_t n = host->struct_size < sizeof cpu_host ? host->struct_size : sizeof cpu_host;
    memcpy(&cpu_host, host, n);
    cpu_host.struct_size = (uint32_t)n;
    *api = &cpu_api;
    return HIVE_OK;
}
