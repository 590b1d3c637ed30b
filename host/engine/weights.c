/* Uploads the model's tensors through the backend, converting to a format the
 * backend runs (or the one --weights asked for) on the host. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "model/dequant.h"
#include "util/dtype.h"
#include "util/error.h"
#include "util/log.h"

static int64_t view_elems(const hive_tensor_view *v) {
    int64_t n = 1;
    for (uint32_t i = 0; i < v->n_dims; i++) n *= v->shape[i];
    return n;
}

/* Upload `v` as a [rows, cols] weight in `target` dtype (converting on the host
 * when it differs from the stored dtype). */
static hive_status upload_as(hive_engine *e, const hive_tensor_view *v, int64_t rows, int64_t cols, uint32_t target,
                             hive_weight **out, hive_error **err) {
    hive_weight_desc d = {sizeof d, target, rows, cols, v->name};
    if (target == v->dtype) {
        hive_status st = e->be->weight_upload(e->dev, &d, v->data, out, err);
        if (st == HIVE_OK) e->weight_bytes += v->nbytes;
        return st;
    }
    int64_t n = rows * cols;
    if (cols % hive_dtype_block_elems(target) != 0)
        return hive_fail(err, HIVE_E_SHAPE, "%s: %lld columns are not a multiple of the %s block (%u)", v->name,
                         (long long)cols, hive_dtype_name(target), hive_dtype_block_elems(target));
    float *f32 = malloc((size_t)n * sizeof *f32);
    if (!f32) return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory converting to %s", v->name, hive_dtype_name(target));
    hive_status st = hive_dequantize(v->dtype, v->data, f32, n);
    if (st != HIVE_OK) {
        free(f32);
        return hive_fail(err, st, "%s: cannot convert %s on the host", v->name, hive_dtype_name(v->dtype));
    }
    void *data = f32;
    uint64_t bytes = (uint64_t)n * 4;
    if (target != HIVE_DTYPE_F32) {
        bytes = hive_dtype_row_bytes(target, cols) * (uint64_t)rows;
        data = malloc(bytes);
        if (!data) {
            free(f32);
            return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", v->name);
        }
        st = hive_quantize(target, f32, data, n);
        free(f32);
        if (st != HIVE_OK) {
            free(data);
            return hive_fail(err, st, "%s: cannot quantize to %s", v->name, hive_dtype_name(target));
        }
    }
    st = e->be->weight_upload(e->dev, &d, data, out, err);
    if (st == HIVE_OK) e->weight_bytes += bytes;
    free(data);
    return st;
}

static int supported(hive_engine *e, uint32_t dtype) {
    return e->be->weight_supported ? e->be->weight_supported(e->dev, dtype) != 0 : dtype == HIVE_DTYPE_F32;
}

void hive_unpermute_qk_rows(const void *src, void *dst, uint32_t n_head, uint32_t head_dim, uint64_t row_bytes) {
    /* llama.cpp's converter maps HF row h*hd + a*hd/2 + j to h*hd + 2j + a */
    const char *s = src;
    char *d = dst;
    uint32_t half = head_dim / 2;
    for (uint32_t h = 0; h < n_head; h++)
        for (uint32_t a = 0; a < 2; a++)
            for (uint32_t j = 0; j < half; j++)
                memcpy(d + ((uint64_t)h * head_dim + a * half + j) * row_bytes,
                       s + ((uint64_t)h * head_dim + 2 * j + a) * row_bytes, row_bytes);
}

/* A matrix: native when the backend runs it, else the requested/fallback type.
 * n_head_unpermute > 0: a GGUF llama q/k weight to restore to HF row order. */
static hive_status upload_matrix_rows(hive_engine *e, const hive_tensor_view *v, int requant, uint32_t n_head_unpermute,
                                      hive_weight **out, hive_error **err) {
    int64_t rows = v->shape[0], cols = view_elems(v) / (v->shape[0] ? v->shape[0] : 1);
    hive_tensor_view hf = *v;
    void *copy = NULL;
    if (n_head_unpermute) {
        if ((int64_t)n_head_unpermute * e->hp.head_dim != rows)
            return hive_fail(err, HIVE_E_SHAPE, "%s: %lld rows are not %u heads of %u", v->name, (long long)rows,
                             n_head_unpermute, e->hp.head_dim);
        if (!(copy = malloc(v->nbytes))) return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", v->name);
        hive_unpermute_qk_rows(v->data, copy, n_head_unpermute, e->hp.head_dim, v->nbytes / (uint64_t)rows);
        hf.data = copy;
        v = &hf;
    }
    uint32_t target = v->dtype;
    if (requant && e->opts.weights_dtype >= 0) target = (uint32_t)e->opts.weights_dtype;
    if (!supported(e, target)) {
        HLOG_INFO("%s: backend does not run %s natively; converting to f32 at load", v->name, hive_dtype_name(target));
        target = HIVE_DTYPE_F32;
    }
    hive_status st = upload_as(e, v, rows, cols, target, out, err);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "uploading %s", v->name);
    free(copy);
    return st;
}

static hive_status upload_matrix(hive_engine *e, const hive_tensor_view *v, int requant, hive_weight **out,
                                 hive_error **err) {
    return upload_matrix_rows(e, v, requant, 0, out, err);
}

/* A vector (norm gain, bias): always f32 [1, n]. Absent (data == NULL) -> NULL. */
static hive_status upload_vector(hive_engine *e, const hive_tensor_view *v, hive_weight **out, hive_error **err) {
    *out = NULL;
    if (!v->data) return HIVE_OK;
    return upload_as(e, v, 1, view_elems(v), HIVE_DTYPE_F32, out, err);
}

hive_status hive_engine_upload_weights(hive_engine *e, const hive_model_files *m, hive_error **err) {
    hive_status st;
    e->unpermute_qk = e->opts.qk_hf_order && m->is_gguf && m->hp.arch == HIVE_ARCH_LLAMA &&
                      m->hp.rope_mode == HIVE_ROPE_NORMAL;
    if (e->unpermute_qk) {
        uint32_t rot = m->hp.rope_dims ? m->hp.rope_dims : m->hp.head_dim;
        if (rot != m->hp.head_dim || m->hp.qk_norm || m->hp.qkv_bias)
            return hive_fail(err, HIVE_E_UNSUPPORTED,
                             "GGUF llama with partial rotary dims (%u of %u) or q/k bias/norm is not supported", rot,
                             m->hp.head_dim);
        e->hp.rope_mode = HIVE_ROPE_NEOX; /* rows are back in HF order */
    }
    e->layers = calloc(m->hp.n_layers, sizeof *e->layers);
    if (!e->layers) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    /* The embedding (also the output head when tied) keeps its stored format
     * under a quantized --weights, but follows a float one (f32/f16/bf16), so
     * "dequantize everything" really is everything. */
    int float_target = e->opts.weights_dtype == HIVE_DTYPE_F32 || e->opts.weights_dtype == HIVE_DTYPE_F16 ||
                       e->opts.weights_dtype == HIVE_DTYPE_BF16;
    if ((st = upload_matrix(e, &m->tok_embd, float_target, &e->tok_embd, err))) return st;
    if ((st = upload_vector(e, &m->output_norm, &e->output_norm, err))) return st;
    if (m->hp.tied_embeddings || m->output.data == m->tok_embd.data) e->output = e->tok_embd;
    else if ((st = upload_matrix(e, &m->output, 1, &e->output, err))) return st;
    for (uint32_t l = 0; l < m->hp.n_layers; l++) {
        const hive_layer_tensors *t = &m->layers[l];
        layer_weights *w = &e->layers[l];
        uint32_t q_heads = e->unpermute_qk ? e->hp.n_heads : 0, k_heads = e->unpermute_qk ? e->hp.n_kv_heads : 0;
        if ((st = upload_vector(e, &t->attn_norm, &w->attn_norm, err)) ||
            (st = upload_matrix_rows(e, &t->wq, 1, q_heads, &w->wq, err)) ||
            (st = upload_matrix_rows(e, &t->wk, 1, k_heads, &w->wk, err)) || (st = upload_matrix(e, &t->wv, 1, &w->wv, err)) ||
            (st = upload_matrix(e, &t->wo, 1, &w->wo, err)) || (st = upload_vector(e, &t->bq, &w->bq, err)) ||
            (st = upload_vector(e, &t->bk, &w->bk, err)) || (st = upload_vector(e, &t->bv, &w->bv, err)) ||
            (st = upload_vector(e, &t->q_norm, &w->q_norm, err)) || (st = upload_vector(e, &t->k_norm, &w->k_norm, err)) ||
            (st = upload_vector(e, &t->ffn_norm, &w->ffn_norm, err)) ||
            (st = upload_matrix(e, &t->w_gate, 1, &w->w_gate, err)) || (st = upload_matrix(e, &t->w_up, 1, &w->w_up, err)) ||
            (st = upload_matrix(e, &t->w_down, 1, &w->w_down, err)))
            return st;
    }
    return HIVE_OK;
}

static void wfree(hive_engine *e, hive_weight **w) {
    if (*w) e->be->weight_free(e->dev, *w);
    *w = NULL;
}

void hive_engine_free_weights(hive_engine *e) {
    if (e->output == e->tok_embd) e->output = NULL;
    wfree(e, &e->output);
    wfree(e, &e->tok_embd);
    wfree(e, &e->output_norm);
    if (!e->layers) return;
    for (uint32_t l = 0; l < e->hp.n_layers; l++) {
        layer_weights *w = &e->layers[l];
        hive_weight **all[] = {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->wo, &w->bq, &w->bk, &w->bv,
                               &w->q_norm, &w->k_norm, &w->ffn_norm, &w->w_gate, &w->w_up, &w->w_down};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) wfree(e, all[i]);
    }
    free(e->layers);
    e->layers = NULL;
}
