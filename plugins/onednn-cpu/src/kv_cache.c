/* Paged KV cache: per layer and KV head, K and V arrays of n_blocks pages of
 * block_size rows, each row head_dim elements (f16, f32, bf16, or q8_0 /
 * q4_0 blocks of 32 of the row rotated, cpu_kv_rotate; K and V may differ):
 * cpu_kv_row_index. */
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

/* Bytes of one KV head's row of hd elements of dtype; 0 when the cache cannot
 * hold that type (blocks of 32 need hd a multiple of 32). */
static size_t kv_row_bytes(uint32_t dtype, uint32_t hd) {
    switch (dtype) {
    case HIVE_DTYPE_F32: return (size_t)hd * 4;
    case HIVE_DTYPE_F16:
    case HIVE_DTYPE_BF16: return (size_t)hd * 2;
    case HIVE_DTYPE_Q8_0: return hd % 32 ? 0 : hd / 32 * sizeof(blk_q8_0);
    case HIVE_DTYPE_Q4_0: return hd % 32 ? 0 : hd / 32 * sizeof(blk_q4_0);
    default: return 0;
    }
}

static int kv_type_known(uint32_t d) {
    return d == HIVE_DTYPE_F16 || d == HIVE_DTYPE_F32 || d == HIVE_DTYPE_BF16 || d == HIVE_DTYPE_Q8_0 ||
           d == HIVE_DTYPE_Q4_0;
}

hive_status cpu_kv_alloc(hive_device *dev, const hive_kv_desc *desc, hive_kv_cache **out,
                         hive_error **err) {
    (void)dev;
    if (!desc || !out || desc->struct_size < offsetof(hive_kv_desc, reserved0))
        return cpu_fail(err, HIVE_E_INVALID, "kv_alloc: descriptor or out missing");
    uint32_t kt = desc->dtype, vt = kt;
    if (HIVE_HAS_FIELD(hive_kv_desc, desc->struct_size, v_dtype) && desc->has_v_dtype) vt = desc->v_dtype;
    for (int i = 0; i < 2; i++)
        if (!kv_type_known(i ? vt : kt))
            return cpu_fail(err, HIVE_E_UNSUPPORTED, "kv_alloc: %s dtype %s not supported (f16, f32, bf16, q8_0, q4_0)",
                            i ? "V" : "K", cpu_dtype_name(i ? vt : kt));
    if ((kt == HIVE_DTYPE_F32) != (vt == HIVE_DTYPE_F32))
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "kv_alloc: K %s with V %s: an f32 cache is f32 for both K and V",
                        cpu_dtype_name(kt), cpu_dtype_name(vt));
    if (!desc->n_layers || !desc->n_blocks || !desc->block_size || !desc->n_kv_heads ||
        !desc->head_dim || desc->head_dim > CPU_MAX_HEAD_DIM)
        return cpu_fail(err, HIVE_E_INVALID,
                        "kv_alloc: bad shape layers=%u blocks=%u block_size=%u kv_heads=%u "
                        "head_dim=%u (head_dim <= %d)",
                        desc->n_layers, desc->n_blocks, desc->block_size, desc->n_kv_heads,
                        desc->head_dim, CPU_MAX_HEAD_DIM);
    for (int i = 0; i < 2; i++)
        if (!kv_row_bytes(i ? vt : kt, desc->head_dim))
            return cpu_fail(err, HIVE_E_UNSUPPORTED, "kv_alloc: a %s cache needs head_dim a multiple of 32 (it is %u)",
                            cpu_dtype_name(i ? vt : kt), desc->head_dim);
    hive_kv_desc d = {0}; /* fields past the caller's struct_size read as 0 (no store tier before 1.9) */
    memcpy(&d, desc, desc->struct_size < sizeof d ? desc->struct_size : sizeof d);
    uint32_t skt = d.store_dtype, svt = d.store_v_dtype;
    if (d.n_store_blocks && (!(skt == HIVE_DTYPE_Q8_0 || skt == HIVE_DTYPE_Q4_0) ||
                             !(svt == HIVE_DTYPE_Q8_0 || svt == HIVE_DTYPE_Q4_0) || !kv_row_bytes(skt, d.head_dim)))
        return cpu_fail(err, HIVE_E_UNSUPPORTED,
                        "kv_alloc: store pages of K %s, V %s: the store tier holds q8_0 or q4_0 (head_dim a multiple "
                        "of 32; it is %u)",
                        cpu_dtype_name(skt), cpu_dtype_name(svt), d.head_dim);
    if (d.n_store_blocks && (uint64_t)d.n_blocks + d.n_store_blocks > INT32_MAX)
        return cpu_fail(err, HIVE_E_INVALID, "kv_alloc: %u + %u pages overflow a block id", d.n_blocks,
                        d.n_store_blocks);
    hive_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return cpu_fail(err, HIVE_E_NOMEM, "kv_alloc: out of memory");
    kv->desc = d;
    kv->k_dtype = kt, kv->v_dtype = vt;
    kv->slot_elems = (size_t)desc->n_kv_heads * desc->head_dim;
    kv->elem_size = kt != vt ? 0 : kt == HIVE_DTYPE_F16 ? 2 : kt == HIVE_DTYPE_F32 ? 4 : 0;
    kv->row_bytes = kv_row_bytes(kt, desc->head_dim);
    kv->v_row_bytes = kv_row_bytes(vt, desc->head_dim);
    kv->layer_bytes = (size_t)desc->n_blocks * desc->block_size * desc->n_kv_heads * kv->row_bytes;
    kv->v_layer_bytes = (size_t)desc->n_blocks * desc->block_size * desc->n_kv_heads * kv->v_row_bytes;
    kv->k = kv_map(kv->layer_bytes * desc->n_layers);
    kv->v = kv_map(kv->v_layer_bytes * desc->n_layers);
    if (d.n_store_blocks) {
        size_t slots = (size_t)d.n_store_blocks * d.block_size * d.n_kv_heads;
        kv->s_k_dtype = skt, kv->s_v_dtype = svt;
        kv->s_row_bytes = kv_row_bytes(skt, d.head_dim), kv->s_v_row_bytes = kv_row_bytes(svt, d.head_dim);
        kv->s_layer_bytes = slots * kv->s_row_bytes, kv->s_v_layer_bytes = slots * kv->s_v_row_bytes;
        kv->sk = kv_map(kv->s_layer_bytes * d.n_layers);
        kv->sv = kv_map(kv->s_v_layer_bytes * d.n_layers);
    }
    if (!kv->k || !kv->v || (d.n_store_blocks && (!kv->sk || !kv->sv))) {
        size_t total = (kv->layer_bytes + kv->v_layer_bytes + kv->s_layer_bytes + kv->s_v_layer_bytes) * desc->n_layers;
        cpu_kv_free(dev, kv);
        return cpu_fail(err, HIVE_E_NOMEM, "kv_alloc: cannot map %zu bytes", total);
    }
    *out = kv;
    return HIVE_OK;
}

void cpu_kv_free(hive_device *dev, hive_kv_cache *kv) {
    (void)dev;
    if (!kv) return;
    if (kv->k) munmap(kv->k, kv->layer_bytes * kv->desc.n_layers);
    if (kv->v) munmap(kv->v, kv->v_layer_bytes * kv->desc.n_layers);
    if (kv->sk) munmap(kv->sk, kv->s_layer_bytes * kv->desc.n_layers);
    if (kv->sv) munmap(kv->sv, kv->s_v_layer_bytes * kv->desc.n_layers);
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

/* llama.cpp's quantize_row_q4_0 (reference): d = (the value of largest
 * magnitude) / -8, q = min(15, trunc(x / d + 8.5)); element i of the block in
 * the low nibble of byte i, element 16 + i in the high one. */
void cpu_quantize_q4_0(const float *x, blk_q4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = 0.0f, vmax = 0.0f;
        for (int i = 0; i < 32; i++)
            if (fabsf(x[i]) > amax) amax = fabsf(x[i]), vmax = x[i];
        float d = vmax / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = cpu_f32_to_f16(d);
        for (int i = 0; i < 16; i++) {
            int lo = (int)(int8_t)(x[i] * id + 8.5f), hi = (int)(int8_t)(x[16 + i] * id + 8.5f);
            y[b].qs[i] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

/* The signs D of cpu_kv_rotate: bit i % 64 of a fixed pattern with as many
 * ones as zeros, so no channel lines up with H's all-ones row. */
#define KV_ROTATE_SIGNS 0x9E3779B97F4A7C15ull

static inline float kv_sign(int64_t i, float x) { return KV_ROTATE_SIGNS >> (i % 64) & 1 ? -x : x; }

/* v = H v / sqrt(block): the fast Walsh-Hadamard transform, scaled */
static void kv_hadamard(float *v, int64_t block) {
    for (int64_t len = 1; len < block; len *= 2)
        for (int64_t i = 0; i < block; i += 2 * len)
            for (int64_t j = i; j < i + len; j++) {
                float a = v[j], c = v[j + len];
                v[j] = a + c, v[j + len] = a - c;
            }
    const float norm = 1.0f / sqrtf((float)block);
    for (int64_t i = 0; i < block; i++) v[i] *= norm;
}

void cpu_kv_rotate(const float *x, float *y, int64_t n, int64_t block) {
    for (int64_t b = 0; b < n; b += block) {
        for (int64_t i = 0; i < block; i++) y[b + i] = kv_sign(i, x[b + i]);
        kv_hadamard(y + b, block);
    }
}

void cpu_kv_unrotate(const float *x, float *y, int64_t n, int64_t block) {
    for (int64_t b = 0; b < n; b += block) {
        if (y != x) memcpy(y + b, x + b, (size_t)block * sizeof *y);
        kv_hadamard(y + b, block);
        for (int64_t i = 0; i < block; i++) y[b + i] = kv_sign(i, y[b + i]);
    }
}

/* One KV head's row of hd values into the cache's element type. x is in
 * the model's basis when `plain` (rotated first if the type is stored
 * rotated), else already rotated (read back from a rotated page). */
static void kv_store_row(const hive_device *dev, uint32_t dtype, const float *x, uint8_t *dst, uint32_t hd,
                         int plain) {
    float rot[CPU_MAX_HEAD_DIM];
    if (plain && cpu_kv_rotated(dtype)) {
        cpu_kv_rotate(x, rot, hd, cpu_kv_rotate_block(hd));
        x = rot;
    }
    switch (dtype) {
    case HIVE_DTYPE_F16: dev->kern.f32_to_f16(x, (uint16_t *)dst, hd); break;
    case HIVE_DTYPE_BF16:
        for (uint32_t i = 0; i < hd; i++) ((uint16_t *)dst)[i] = cpu_f32_to_bf16(x[i]);
        break;
    case HIVE_DTYPE_Q8_0: cpu_quantize_q8_0(x, (blk_q8_0 *)dst, hd); break;
    case HIVE_DTYPE_Q4_0: cpu_quantize_q4_0(x, (blk_q4_0 *)dst, hd); break;
    default: memcpy(dst, x, hd * sizeof(float)); break;
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
        /* a store page (1.9) takes rows too: a sequence cut back into one, or no first-tier page left */
        int store = block >= kv->desc.n_blocks;
        if (store) block -= kv->desc.n_blocks;
        size_t n_pages = store ? kv->desc.n_store_blocks : kv->desc.n_blocks;
        for (uint32_t h = 0; h < kv->desc.n_kv_heads; h++) {
            size_t row = cpu_kv_row_index(kv, n_pages, block, h, (uint32_t)p % bs);
            const float *ks = cpu_row(k, r) + (size_t)h * hd, *vs = cpu_row(v, r) + (size_t)h * hd;
            if (store) {
                kv_store_row(dev, kv->s_k_dtype, ks, kv->sk + layer * kv->s_layer_bytes + row * kv->s_row_bytes, hd, 1);
                kv_store_row(dev, kv->s_v_dtype, vs, kv->sv + layer * kv->s_v_layer_bytes + row * kv->s_v_row_bytes, hd, 1);
                continue;
            }
            kv_store_row(dev, kv->k_dtype, ks, kv->k + layer * kv->layer_bytes + row * kv->row_bytes, hd, 1);
            kv_store_row(dev, kv->v_dtype, vs, kv->v + layer * kv->v_layer_bytes + row * kv->v_row_bytes, hd, 1);
        }
    }
    return HIVE_OK;
}

/* Two-tier KV (ABI 1.9): one first-tier page, every layer's K and V rows,
 * dequantized to f32 and stored in the store tier's types, as kv_store would
 * have stored those values (a row read from a rotated page is not rotated
 * again). */
hive_status cpu_op_kv_migrate(hive_device *dev, hive_kv_cache *kv, uint32_t src_page, uint32_t dst_page,
                              hive_error **err) {
    if (!dev || !kv) return cpu_fail(err, HIVE_E_INVALID, "kv_migrate: device or cache is NULL");
    uint32_t nb = kv->desc.n_blocks;
    if (!kv->desc.n_store_blocks || src_page >= nb || dst_page < nb || dst_page - nb >= kv->desc.n_store_blocks)
        return cpu_fail(err, HIVE_E_INVALID,
                        "kv_migrate: page %u -> %u: the source must be below %u and the store page in %u..%u", src_page,
                        dst_page, nb, nb, nb + kv->desc.n_store_blocks - (kv->desc.n_store_blocks ? 1 : 0));
    if (!dev->kern.dequant[kv->k_dtype] || !dev->kern.dequant[kv->v_dtype])
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "kv_migrate: cannot read a %s / %s page", cpu_dtype_name(kv->k_dtype),
                        cpu_dtype_name(kv->v_dtype));
    uint32_t hd = kv->desc.head_dim, bs = kv->desc.block_size;
    float x[CPU_MAX_HEAD_DIM];
    /* a first-tier page of a rotated type reads back rotated */
    int plain_k = !cpu_kv_rotated(kv->k_dtype), plain_v = !cpu_kv_rotated(kv->v_dtype);
    for (uint32_t l = 0; l < kv->desc.n_layers; l++)
        for (uint32_t h = 0; h < kv->desc.n_kv_heads; h++) {
            /* a KV head's rows of a page are contiguous in either tier */
            size_t src = cpu_kv_row_index(kv, nb, src_page, h, 0);
            size_t dst = cpu_kv_row_index(kv, kv->desc.n_store_blocks, dst_page - nb, h, 0);
            for (uint32_t i = 0; i < bs; i++) {
                dev->kern.dequant[kv->k_dtype](kv->k + l * kv->layer_bytes + (src + i) * kv->row_bytes, x, hd);
                kv_store_row(dev, kv->s_k_dtype, x, kv->sk + l * kv->s_layer_bytes + (dst + i) * kv->s_row_bytes, hd,
                             plain_k);
                dev->kern.dequant[kv->v_dtype](kv->v + l * kv->v_layer_bytes + (src + i) * kv->v_row_bytes, x, hd);
                kv_store_row(dev, kv->s_v_dtype, x, kv->sv + l * kv->s_v_layer_bytes + (dst + i) * kv->s_v_row_bytes,
                             hd, plain_v);
            }
        }
    return HIVE_OK;
}
