/* Weight upload: quantized blocks are kept in GGML's layout, or rearranged
 * into the 4-row layout (pack4.c) when the device's kernels read that;
 * vectors also get an f32 copy for elementwise ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_internal.h"

uint32_t cpu_weight_supported(hive_device *dev, uint32_t dtype) {
    (void)dev;
    switch (dtype) {
    case HIVE_DTYPE_F32: case HIVE_DTYPE_F16: case HIVE_DTYPE_BF16:
    case HIVE_DTYPE_Q8_0: case HIVE_DTYPE_Q4_0: case HIVE_DTYPE_Q4_1:
    case HIVE_DTYPE_Q4_K: case HIVE_DTYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

hive_status cpu_weight_upload(hive_device *dev, const hive_weight_desc *desc, const void *data,
                              hive_weight **out, hive_error **err) {
    if (!desc || !data || !out || desc->struct_size < offsetof(hive_weight_desc, name))
        return cpu_fail(err, HIVE_E_INVALID, "weight_upload: missing descriptor, data or out");
    const char *name =
        HIVE_HAS_FIELD(hive_weight_desc, desc->struct_size, name) && desc->name ? desc->name
                                                                                : "(unnamed)";
    if (!cpu_weight_supported(dev, desc->dtype))
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "weight_upload: %s: dtype %s (%u) not supported",
                        name, cpu_dtype_name(desc->dtype), desc->dtype);
    uint32_t be = cpu_dtype_block_elems(desc->dtype);
    if (desc->rows <= 0 || desc->cols <= 0 || desc->cols % be)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "weight_upload: %s: shape [%lld x %lld] invalid for %s (cols must be a "
                        "multiple of %u)",
                        name, (long long)desc->rows, (long long)desc->cols,
                        cpu_dtype_name(desc->dtype), be);
    hive_weight *w = calloc(1, sizeof *w);
    if (!w) return cpu_fail(err, HIVE_E_NOMEM, "weight_upload: out of memory");
    w->dtype = desc->dtype;
    w->rows = desc->rows;
    w->cols = desc->cols;
    w->row_bytes = (size_t)(desc->cols / be) * cpu_dtype_block_bytes(desc->dtype);
    snprintf(w->name, sizeof w->name, "%s", name);
    size_t total = w->row_bytes * (size_t)w->rows;
    w->packed = w->rows >= 4 && dev->kern.packed[w->dtype];
    w->data = cpu_aligned_alloc(w->packed ? cpu_pack4_bytes(w->rows, w->row_bytes) : total);
    if (w->rows == 1) w->vec_f32 = cpu_aligned_alloc((size_t)w->cols * sizeof(float));
    if (!w->data || (w->rows == 1 && !w->vec_f32)) {
        cpu_weight_free(dev, w);
        return cpu_fail(err, HIVE_E_NOMEM, "weight_upload: %s: cannot allocate %zu bytes", name,
                        total);
    }
    if (w->packed) cpu_pack4(w->dtype, data, w->rows, w->cols, w->data);
    else memcpy(w->data, data, total);
    if (w->vec_f32) dev->kern.dequant[w->dtype](w->data, w->vec_f32, w->cols);
    *out = w;
    return HIVE_OK;
}

void cpu_weight_free(hive_device *dev, hive_weight *w) {
    (void)dev;
    if (!w) return;
    cpu_onednn_matmul_free(w->dnnl_mm);
    cpu_aligned_free(w->data);
    cpu_aligned_free(w->vec_f32);
    free(w);
}
