/* Paged KV cache: per layer, K and V arrays of n_blocks pages, each page one
 * run of block_size rows per KV head, each row head_dim elements (f16 or f32):
 * cpu_kv_row_off. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "batch_check.h"

/* The pool is mapped, never touched here: the kernel supplies zero pages on
 * first write, so memory grows with the tokens stored, not with the pool
 * (a 128k-token context costs what it holds). */
static uint8_t *kv_map(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

hive_status cpu_kv_alloc(hive_device *dev, const hive_kv_desc *desc, hive_kv_cache **out,
                         hive_error **err) {
    (void)dev;
    if (!desc || !out || desc->struct_size < offsetof(hive_kv_desc, reserved0))
        return cpu_fail(err, HIVE_E_INVALID, "kv_alloc: descriptor or out missing");
    if (desc->dtype != HIVE_DTYPE_F16 && desc->dtype != HIVE_DTYPE_F32 && desc->dtype != HIVE_DTYPE_Q8_0)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "kv_alloc: dtype %s not supported (f16, f32, q8_0)",
                        cpu_dtype_name(desc->dtype));
    if (desc->dtype == HIVE_DTYPE_Q8_0 && desc->head_dim % 32)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "kv_alloc: a q8_0 cache needs head_dim a multiple of 32 (it is %u)",
                        desc->head_dim);
    if (!desc->n_layers || !desc->n_blocks || !desc->block_size || !desc->n_kv_heads ||
        !desc->head_dim || desc->head_dim > CPU_MAX_HEAD_DIM)
        return cpu_fail(err, HIVE_E_INVALID,
                        "kv_alloc: bad shape layers=%u blocks=%u block_size=%u kv_heads=%u "
                        "head_dim=%u (head_dim <= %d)",
                        desc->n_layers, desc->n_blocks, desc->block_size, desc->n_kv_heads,
                        desc->head_dim, CPU_MAX_HEAD_DIM);
    hive_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return cpu_fail(err, HIVE_E_NOMEM, "kv_alloc: out of memory");
    kv->desc = *desc;
    kv->slot_elems = (size_t)desc->n_kv_heads * desc->head_dim;
    kv->elem_size = desc->dtype == HIVE_DTYPE_F16 ? 2 : desc->dtype == HIVE_DTYPE_F32 ? 4 : 0;
    kv->row_bytes = desc->dtype == HIVE_DTYPE_Q8_0 ? desc->head_dim / 32 * sizeof(blk_q8_0)
                                                   : desc->head_dim * kv->elem_size;
    kv->layer_bytes = (size_t)desc->n_blocks * desc->block_size * desc->n_kv_heads * kv->row_bytes;
    size_t total = kv->layer_bytes * desc->n_layers;
    kv->k = kv_map(total);
    kv->v = kv_map(total);
    if (!kv->k || !kv->v) {
        cpu_kv_free(dev, kv);
        return cpu_fail(err, HIVE_E_NOMEM, "kv_alloc: cannot map 2 x %zu bytes", total);
    }
    *out = kv;
    return HIVE_OK;
}

void cpu_kv_free(hive_device *dev, hive_kv_cache *kv) {
    (void)dev;
    if (!kv) return;
    size_t total = kv->layer_bytes * kv->desc.n_layers;
    if (kv->k) munmap(kv->k, total);
    if (kv->v) munmap(kv->v, total);
    free(kv);
}

/* llama.cpp's quantize_row_q8_0 (reference): d = max|x| / 127, q = round(x / d). */
void cpu_quantize_q8_0(const float *x, blk_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = cpu_f32_to_f16(d);
        for (int i = 0; i < 32; i++) y[b].qs[i] = (int8_t)roundf(x[i] * id);
    }
}

hive_status cpu_op_kv_store(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                            const hive_tensor *k, const hive_tensor *v, const hive_batch *batch,
                            hive_error **err) {
    hive_status st;
    if (!dev || !kv) return cpu_fail(err, HIVE_E_INVALID, "kv_store: device or cache is NULL");
    if (layer >= kv->desc.n_layers)
        return cpu_fail(err, HIVE_E_INVALID, "kv_store: layer %u of %u", layer, kv->desc.n_layers);
    if ((st = cpu_check_tensor(k, "kv_store", "k", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(v, "kv_store", "v", err)) != HIVE_OK) return st;
    if (k->cols != (int64_t)kv->slot_elems || v->cols != (int64_t)kv->slot_elems ||
        v->rows != k->rows)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "kv_store: k [%lld x %lld] and v [%lld x %lld] must be [rows x %zu] "
                        "(n_kv_heads %u x head_dim %u)",
                        (long long)k->rows, (long long)k->cols, (long long)v->rows,
                        (long long)v->cols, kv->slot_elems, kv->desc.n_kv_heads,
                        kv->desc.head_dim);
    if ((st = cpu_check_batch(batch, k->rows, kv, "kv_store", err)) != HIVE_OK) return st;
    uint32_t bs = kv->desc.block_size, hd = kv->desc.head_dim;
    for (int64_t r = 0; r < k->rows; r++) {
        int32_t s = batch->row_seq[r], p = batch->row_pos[r];
        size_t block = (size_t)batch->block_table[(size_t)s * batch->max_blocks + (uint32_t)p / bs];
        for (uint32_t h = 0; h < kv->desc.n_kv_heads; h++) {
            size_t off = layer * kv->layer_bytes + cpu_kv_row_off(kv, block, h, (uint32_t)p % bs);
            const float *ks = cpu_row(k, r) + (size_t)h * hd, *vs = cpu_row(v, r) + (size_t)h * hd;
            if (kv->elem_size == 2) {
                dev->kern.f32_to_f16(ks, (uint16_t *)(kv->k + off), hd);
                dev->kern.f32_to_f16(vs, (uint16_t *)(kv->v + off), hd);
            } else if (!kv->elem_size) {
                cpu_quantize_q8_0(ks, (blk_q8_0 *)(kv->k + off), hd);
                cpu_quantize_q8_0(vs, (blk_q8_0 *)(kv->v + off), hd);
            } else {
                memcpy(kv->k + off, ks, hd * sizeof(float));
                memcpy(kv->v + off, vs, hd * sizeof(float));
            }
        }
    }
    return HIVE_OK;
}
