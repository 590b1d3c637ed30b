/* Uploads the model's tensors through the backend, converting to a format the
 * backend runs (or the one --weights asked for) on the host. */
#include <math.h>
#include <stdio.h>
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

/* A matrix in host memory in the dtype it will run in, ready to upload. */
typedef struct host_matrix {
    const void *data;
    void *owned;        /* freed by host_matrix_free: a conversion or a reordered copy */
    uint64_t bytes;
    int64_t rows, cols;
    uint32_t dtype;
    const char *name;
} host_matrix;

static void host_matrix_free(host_matrix *m) {
    free(m->owned);
    m->owned = NULL;
}

/* `v` (rows x cols, data possibly a reordered copy the caller owns) converted
 * to `target` on the host when it differs from the stored dtype. */
static hive_status convert_to(const hive_tensor_view *v, int64_t rows, int64_t cols, uint32_t target, host_matrix *out,
                              hive_error **err) {
    out->rows = rows, out->cols = cols, out->dtype = target, out->name = v->name;
    if (target == v->dtype) {
        out->data = v->data;
        out->bytes = v->nbytes;
        return HIVE_OK;
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
    if (target == HIVE_DTYPE_F32) {
        out->data = out->owned = f32;
        out->bytes = (uint64_t)n * 4;
        return HIVE_OK;
    }
    out->bytes = hive_dtype_row_bytes(target, cols) * (uint64_t)rows;
    void *q = malloc(out->bytes);
    if (!q) {
        free(f32);
        return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", v->name);
    }
    st = hive_quantize(target, f32, q, n);
    free(f32);
    if (st != HIVE_OK) {
        free(q);
        return hive_fail(err, st, "%s: cannot quantize to %s", v->name, hive_dtype_name(target));
    }
    out->data = out->owned = q;
    return HIVE_OK;
}

/* Upload parts (same dtype and cols) stacked by rows as one weight. */
static hive_status upload_stacked(hive_engine *e, const char *name, const host_matrix *parts, int n, hive_weight **out,
                                  hive_error **err) {
    int64_t rows = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) rows += parts[i].rows, bytes += parts[i].bytes;
    hive_weight_desc d = {sizeof d, parts[0].dtype, rows, parts[0].cols, name};
    if (n == 1) {
        hive_status st = e->be->weight_upload(e->dev, &d, parts[0].data, out, err);
        if (st == HIVE_OK) e->weight_bytes += bytes;
        return st;
    }
    char *all = malloc(bytes);
    if (!all) return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", name);
    uint64_t off = 0;
    for (int i = 0; i < n; off += parts[i].bytes, i++) memcpy(all + off, parts[i].data, parts[i].bytes);
    hive_status st = e->be->weight_upload(e->dev, &d, all, out, err);
    if (st == HIVE_OK) e->weight_bytes += bytes;
    free(all);
    return st;
}

static hive_status upload_as(hive_engine *e, const hive_tensor_view *v, int64_t rows, int64_t cols, uint32_t target,
                             hive_weight **out, hive_error **err) {
    host_matrix m = {0};
    hive_status st = convert_to(v, rows, cols, target, &m, err);
    if (st == HIVE_OK) st = upload_stacked(e, v->name, &m, 1, out, err);
    host_matrix_free(&m);
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

/* A matrix in host memory: native when the backend runs it, else the
 * requested/fallback type. n_head_unpermute > 0: a GGUF llama q/k weight to
 * restore to HF row order. */
static hive_status prepare_matrix(hive_engine *e, const hive_tensor_view *v, int requant, uint32_t n_head_unpermute,
                                  host_matrix *out, hive_error **err) {
    memset(out, 0, sizeof *out);
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
    hive_status st = convert_to(v, rows, cols, target, out, err);
    if (st == HIVE_OK && out->data == copy) out->owned = copy; /* not converted: the reordered copy is the data */
    else free(copy);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "uploading %s", v->name);
    return st;
}

static hive_status upload_matrix_rows(hive_engine *e, const hive_tensor_view *v, int requant, uint32_t n_head_unpermute,
                                      hive_weight **out, hive_error **err) {
    host_matrix m;
    hive_status st = prepare_matrix(e, v, requant, n_head_unpermute, &m, err);
    if (st == HIVE_OK) st = upload_stacked(e, v->name, &m, 1, out, err);
    if (st != HIVE_OK && err && *err && m.data) hive_error_prefix(*err, "uploading %s", v->name);
    host_matrix_free(&m);
    return st;
}

static hive_status upload_matrix(hive_engine *e, const hive_tensor_view *v, int requant, hive_weight **out,
                                 hive_error **err) {
    return upload_matrix_rows(e, v, requant, 0, out, err);
}

/* Matrices that read the same input (q/k/v, gate/up) as one weight stacked by
 * rows when they run in the same dtype: one matmul instead of several (the
 * forward pass splits the output by columns). Else each into its own slot. */
static hive_status upload_group(hive_engine *e, const char *name, const hive_tensor_view *const *v,
                                const uint32_t *unpermute, int n, hive_weight **fused, hive_weight **each[],
                                hive_error **err) {
    host_matrix m[3] = {{0}};
    int same = e->opts.fuse_linears;
    hive_status st = HIVE_OK;
    for (int i = 0; i < n && st == HIVE_OK; i++) st = prepare_matrix(e, v[i], 1, unpermute[i], &m[i], err);
    for (int i = 1; st == HIVE_OK && i < n; i++) same &= m[i].dtype == m[0].dtype && m[i].cols == m[0].cols;
    if (st == HIVE_OK && same) st = upload_stacked(e, name, m, n, fused, err);
    for (int i = 0; st == HIVE_OK && !same && i < n; i++) st = upload_stacked(e, v[i]->name, &m[i], 1, each[i], err);
    for (int i = 0; i < n; i++) host_matrix_free(&m[i]);
    return st;
}

/* f32 vectors concatenated as one [1, n] weight (the biases of a q/k/v group). */
static hive_status upload_vectors(hive_engine *e, const char *name, const hive_tensor_view *const *v, int n,
                                  hive_weight **out, hive_error **err) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += view_elems(v[i]);
    float *all = malloc((size_t)total * sizeof *all);
    if (!all) return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", name);
    hive_status st = HIVE_OK;
    int64_t off = 0;
    for (int i = 0; st == HIVE_OK && i < n; off += view_elems(v[i]), i++)
        if (hive_dequantize(v[i]->dtype, v[i]->data, all + off, view_elems(v[i])) != HIVE_OK)
            st = hive_fail(err, HIVE_E_INVALID, "%s: cannot convert to f32", v[i]->name);
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, 1, total, name};
    if (st == HIVE_OK) st = e->be->weight_upload(e->dev, &d, all, out, err);
    if (st == HIVE_OK) e->weight_bytes += (uint64_t)total * 4;
    free(all);
    return st;
}

/* A vector (norm gain, bias): always f32 [1, n]. Absent (data == NULL) -> NULL. */
static hive_status upload_vector(hive_engine *e, const hive_tensor_view *v, hive_weight **out, hive_error **err) {
    *out = NULL;
    if (!v->data) return HIVE_OK;
    return upload_as(e, v, 1, view_elems(v), HIVE_DTYPE_F32, out, err);
}

/* An expert's gate and up stacked by rows, always (whatever
 * opts.fuse_linears says): forward.c reads one [gate | up] per expert. */
static hive_status upload_gate_up(hive_engine *e, const char *name, const hive_tensor_view *gate,
                                  const hive_tensor_view *up, hive_weight **out, hive_error **err) {
    host_matrix gu[2] = {{0}};
    hive_status st;
    if ((st = prepare_matrix(e, gate, 1, 0, &gu[0], err)) == HIVE_OK &&
        (st = prepare_matrix(e, up, 1, 0, &gu[1], err)) == HIVE_OK) {
        if (gu[0].dtype != gu[1].dtype)
            st = hive_fail(err, HIVE_E_UNSUPPORTED, "%s (%s) and %s (%s) must run in one format", gu[0].name,
                           hive_dtype_name(gu[0].dtype), gu[1].name, hive_dtype_name(gu[1].dtype));
        else
            st = upload_stacked(e, name, gu, 2, out, err);
    }
    host_matrix_free(&gu[0]);
    host_matrix_free(&gu[1]);
    return st;
}

/* A mixture-of-experts layer: the router and a shared expert's gate (as
 * stored), a shared expert, and each expert's gate/up (stacked) and down. */
static hive_status upload_experts(hive_engine *e, uint32_t l, const hive_layer_tensors *t, layer_weights *w,
                                  hive_error **err) {
    uint32_t E = e->hp.n_experts;
    w->moe_gate_up = calloc(E, sizeof *w->moe_gate_up);
    w->moe_down = calloc(E, sizeof *w->moe_down);
    if (!w->moe_gate_up || !w->moe_down) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = upload_matrix(e, &t->moe_router, 0, &w->moe_router, err); /* routing keeps its precision */
    if (st == HIVE_OK && t->moe_shared_gate.data) {
        char name[64];
        snprintf(name, sizeof name, "blk.%u.shared_expert.gate_up (gate, up stacked)", l);
        if ((st = upload_gate_up(e, name, &t->moe_shared_gate, &t->moe_shared_up, &w->moe_shared_gate_up, err)) ||
            (st = upload_matrix(e, &t->moe_shared_down, 1, &w->moe_shared_down, err)) ||
            (t->moe_shared_gate_inp.data &&
             (st = upload_matrix(e, &t->moe_shared_gate_inp, 0, &w->moe_shared_gate_inp, err))))
            return st;
    }
    for (uint32_t x = 0; st == HIVE_OK && x < E; x++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%u.expert.%u.gate_up (gate, up stacked)", l, x);
        st = upload_gate_up(e, name, &t->moe_gate[x], &t->moe_up[x], &w->moe_gate_up[x], err);
        if (st == HIVE_OK) st = upload_matrix(e, &t->moe_down[x], 1, &w->moe_down[x], err);
    }
    return st;
}

/* f32 values as a [1, n] weight. */
static hive_status upload_f32_row(hive_engine *e, const char *name, const float *v, int64_t n, hive_weight **out,
                                  hive_error **err) {
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, 1, n, name};
    hive_status st = e->be->weight_upload(e->dev, &d, v, out, err);
    if (st == HIVE_OK) e->weight_bytes += (uint64_t)n * 4;
    return st;
}

/* A Mamba2 layer. The conv kernel goes up as one f32 row (channel-major) and
 * A as -exp(A_log), computed once here (unless the file stores A). */
static hive_status upload_ssm_layer(hive_engine *e, const hive_layer_tensors *t, layer_weights *w, hive_error **err) {
    if (t->attn_norm_b.data && !e->be->op_layernorm)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "%s: blazr's Mamba2 blocks need a backend with op_layernorm (plugin ABI 1.8)", t->attn_norm_b.name);
    hive_status st;
    if ((st = upload_vector(e, &t->attn_norm, &w->attn_norm, err)) || (st = upload_matrix(e, &t->ssm_in, 1, &w->ssm_in, err)) ||
        (st = upload_matrix(e, &t->ssm_out, 1, &w->ssm_out, err)) ||
        (st = upload_vector(e, &t->ssm_conv_b, &w->ssm_conv_b, err)) ||
        (st = upload_vector(e, &t->ssm_dt_bias, &w->ssm_dt_bias, err)) || (st = upload_vector(e, &t->ssm_D, &w->ssm_D, err)) ||
        (st = upload_vector(e, &t->ssm_norm, &w->ssm_norm, err)) ||
        (st = upload_vector(e, &t->attn_norm_b, &w->attn_norm_b, err)) || /* blazr: LayerNorm bias, proj biases */
        (st = upload_vector(e, &t->ssm_in_b, &w->ssm_in_b, err)) || (st = upload_vector(e, &t->ssm_out_b, &w->ssm_out_b, err)))
        return st;
    int64_t nk = view_elems(&t->ssm_conv_w), nh = view_elems(&t->ssm_A_log);
    float *buf = malloc((size_t)(nk > nh ? nk : nh) * sizeof *buf);
    if (!buf) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (hive_dequantize(t->ssm_conv_w.dtype, t->ssm_conv_w.data, buf, nk) != HIVE_OK)
        st = hive_fail(err, HIVE_E_INVALID, "%s: cannot convert to f32", t->ssm_conv_w.name);
    if (!st) st = upload_f32_row(e, t->ssm_conv_w.name, buf, nk, &w->ssm_conv_w, err);
    if (!st && hive_dequantize(t->ssm_A_log.dtype, t->ssm_A_log.data, buf, nh) != HIVE_OK)
        st = hive_fail(err, HIVE_E_INVALID, "%s: cannot convert to f32", t->ssm_A_log.name);
    for (int64_t i = 0; !st && !e->hp.ssm_a_stored && i < nh; i++) buf[i] = -expf(buf[i]);
    if (!st) st = upload_f32_row(e, t->ssm_A_log.name, buf, nh, &w->ssm_A, err);
    free(buf);
    return st;
}

/* *out = an f32 copy of a stored matrix (caller frees). */
static hive_status f32_copy(const hive_tensor_view *v, float **out, hive_error **err) {
    int64_t n = view_elems(v);
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return hive_fail(err, HIVE_E_NOMEM, "%s: out of memory", v->name);
    if (hive_dequantize(v->dtype, v->data, f, n) != HIVE_OK) {
        free(f);
        return hive_fail(err, HIVE_E_INVALID, "%s: cannot convert to f32", v->name);
    }
    *out = f;
    return HIVE_OK;
}

/* Multi-head latent attention: q's rows regrouped as [every head's nope |
 * every head's rope] so RoPE sees one contiguous block; kv_b split per head
 * into W_kb^T [kv rank, nope] (absorbed into the query) and W_vb [v, kv
 * rank], as f32. */
/* blazr's latent attention: w_dkv, w_kr, w_dq, w_uq, w_qr, o_proj as
 * stored; w_uk and w_uv split per head into W_kb^T [kv rank, nope] and
 * W_vb [nope, kv rank], as f32 (mla.c absorbs them as for DeepSeek-V2). */
static hive_status upload_blazr_mla(hive_engine *e, uint32_t l, const hive_layer_tensors *t, layer_weights *w,
                                    hive_error **err) {
    uint32_t H = e->hp.n_heads, hd = e->hp.mla_nope, r = e->hp.mla_kv_rank;
    hive_status st;
    if ((st = upload_matrix(e, &t->mla_kv_a, 1, &w->mla_kv_a, err)) || (st = upload_matrix(e, &t->mla_kr, 1, &w->mla_kr, err)) ||
        (st = upload_matrix(e, &t->mla_q_a, 1, &w->mla_q_a, err)) || (st = upload_matrix(e, &t->mla_q_b, 1, &w->mla_q, err)) ||
        (st = upload_matrix(e, &t->mla_qr, 1, &w->mla_qr, err)) || (st = upload_matrix(e, &t->wo, 1, &w->wo, err)))
        return st;
    float *uk = NULL, *uv = NULL, *tmp = malloc((size_t)r * hd * sizeof *tmp);
    w->mla_kb_t = calloc(H, sizeof *w->mla_kb_t);
    w->mla_vb = calloc(H, sizeof *w->mla_vb);
    if (!tmp || !w->mla_kb_t || !w->mla_vb) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (!st && !(st = f32_copy(&t->mla_uk, &uk, err))) st = f32_copy(&t->mla_uv, &uv, err);
    char name[64];
    for (uint32_t h = 0; st == HIVE_OK && h < H; h++) {
        const float *kb = uk + (uint64_t)h * hd * r; /* the head's rows of w_uk: [hd, r] */
        for (uint32_t i = 0; i < r; i++)
            for (uint32_t j = 0; j < hd; j++) tmp[(uint64_t)i * hd + j] = kb[(uint64_t)j * r + i];
        snprintf(name, sizeof name, "blk.%u.mla_kb_t.%u", l, h);
        hive_weight_desc dk = {sizeof dk, HIVE_DTYPE_F32, r, hd, name};
        st = e->be->weight_upload(e->dev, &dk, tmp, &w->mla_kb_t[h], err);
        snprintf(name, sizeof name, "blk.%u.mla_vb.%u", l, h);
        hive_weight_desc dv = {sizeof dv, HIVE_DTYPE_F32, hd, r, name};
        if (st == HIVE_OK) st = e->be->weight_upload(e->dev, &dv, uv + (uint64_t)h * hd * r, &w->mla_vb[h], err);
        if (st == HIVE_OK) e->weight_bytes += 2ull * r * hd * 4;
    }
    free(uk), free(uv), free(tmp);
    return st;
}

static hive_status upload_mla_layer(hive_engine *e, uint32_t l, const hive_layer_tensors *t, layer_weights *w,
                                    hive_error **err) {
    if (t->mla_uk.data) return upload_blazr_mla(e, l, t, w, err);
    const hive_hparams *hp = &e->hp;
    uint32_t H = hp->n_heads, nope = hp->mla_nope, rope = hp->mla_rope, v = hp->mla_v, r = hp->mla_kv_rank;
    hive_status st;
    if ((st = upload_matrix(e, &t->mla_kv_a, 1, &w->mla_kv_a, err)) ||
        (st = upload_vector(e, &t->mla_kv_a_norm, &w->mla_kv_a_norm, err)) || (st = upload_matrix(e, &t->wo, 1, &w->wo, err)))
        return st;
    if (t->mla_q_a.data && ((st = upload_matrix(e, &t->mla_q_a, 1, &w->mla_q_a, err)) ||
                            (st = upload_vector(e, &t->mla_q_a_norm, &w->mla_q_a_norm, err))))
        return st;
    const hive_tensor_view *qv = t->mla_q_a.data ? &t->mla_q_b : &t->wq;
    int64_t qcols = qv->shape[1];
    /* HF: kv_b [heads x (nope + v), r], transposed per head below; GGUF: k_b
     * already holds W_kb^T per head, v_b W_vb */
    int split = !t->mla_kv_b.data;
    float *q = NULL, *kvb = NULL, *vb_all = NULL, *tmp = NULL;
    /* tmp holds the reordered q, then one head's W_kb^T: as large as the larger */
    uint64_t q_elems = (uint64_t)H * (nope + rope) * qcols, kb_elems = (uint64_t)r * nope;
    if ((st = f32_copy(qv, &q, err)) || (st = f32_copy(split ? &t->mla_k_b : &t->mla_kv_b, &kvb, err)) ||
        (split && (st = f32_copy(&t->mla_v_b, &vb_all, err))))
        goto done;
    if (!(tmp = malloc((size_t)(q_elems > kb_elems ? q_elems : kb_elems) * sizeof *tmp))) {
        st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
        goto done;
    }
    for (uint32_t h = 0; h < H; h++) { /* head h's row j: nope rows first, then rope rows */
        for (uint32_t j = 0; j < nope + rope; j++) {
            uint64_t to = j < nope ? (uint64_t)h * nope + j : (uint64_t)H * nope + (uint64_t)h * rope + (j - nope);
            memcpy(tmp + to * qcols, q + ((uint64_t)h * (nope + rope) + j) * qcols, (size_t)qcols * sizeof *tmp);
        }
    }
    char name[64];
    snprintf(name, sizeof name, "blk.%u.mla_q (nope | rope)", l);
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, (int64_t)H * (nope + rope), qcols, name};
    st = e->be->weight_upload(e->dev, &d, tmp, &w->mla_q, err);
    if (st == HIVE_OK) e->weight_bytes += (uint64_t)d.rows * qcols * 4;
    w->mla_kb_t = calloc(H, sizeof *w->mla_kb_t);
    w->mla_vb = calloc(H, sizeof *w->mla_vb);
    if (st == HIVE_OK && (!w->mla_kb_t || !w->mla_vb)) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t h = 0; st == HIVE_OK && h < H; h++) {
        const float *kb = kvb + (uint64_t)h * (nope + v) * r, *vb = kb + (uint64_t)nope * r;
        if (split) { /* GGUF: the head's W_kb^T [r, nope] and W_vb [v, r] as stored */
            memcpy(tmp, kvb + (uint64_t)h * r * nope, (size_t)r * nope * sizeof *tmp);
            vb = vb_all + (uint64_t)h * v * r;
        } else {
            for (uint32_t i = 0; i < r; i++) /* W_kb^T: [r, nope] */
                for (uint32_t j = 0; j < nope; j++) tmp[(uint64_t)i * nope + j] = kb[(uint64_t)j * r + i];
        }
        snprintf(name, sizeof name, "blk.%u.mla_kb_t.%u", l, h);
        hive_weight_desc dk = {sizeof dk, HIVE_DTYPE_F32, r, nope, name};
        st = e->be->weight_upload(e->dev, &dk, tmp, &w->mla_kb_t[h], err);
        snprintf(name, sizeof name, "blk.%u.mla_vb.%u", l, h);
        hive_weight_desc dv = {sizeof dv, HIVE_DTYPE_F32, v, r, name};
        if (st == HIVE_OK) st = e->be->weight_upload(e->dev, &dv, vb, &w->mla_vb[h], err);
        if (st == HIVE_OK) e->weight_bytes += ((uint64_t)r * nope + (uint64_t)v * r) * 4;
    }
done:
    free(q), free(kvb), free(vb_all), free(tmp);
    return st;
}

/* A layer's feed-forward, when it has one: routed experts, or a dense gate
 * and up (stacked when opts.fuse_linears says so, and always for Granite,
 * whose shared_mlp.input_linear is the two as one linear that adapters hook
 * whole: forward.c ffn_block) and down. */
static hive_status upload_feed_forward(hive_engine *e, uint32_t l, const hive_layer_tensors *t, layer_weights *w,
                                       hive_error **err) {
    if (t->moe_router.data) return upload_experts(e, l, t, w, err);
    if (!t->w_down.data) return HIVE_OK; /* a Mamba2 model's layers have none */
    const hive_tensor_view *gu[2] = {&t->w_gate, &t->w_up};
    static const uint32_t no_unpermute[2] = {0, 0};
    hive_weight **gu_each[2] = {&w->w_gate, &w->w_up};
    char name[48];
    snprintf(name, sizeof name, "blk.%u.ffn_gate_up (gate, up stacked)", l);
    hive_status st = e->hp.arch == HIVE_ARCH_GRANITE_HYBRID
                         ? upload_gate_up(e, name, gu[0], gu[1], &w->w_gate_up, err)
                         : upload_group(e, name, gu, no_unpermute, 2, &w->w_gate_up, gu_each, err);
    return st ? st : upload_matrix(e, &t->w_down, 1, &w->w_down, err);
}

hive_status hive_engine_upload_weights(hive_engine *e, const hive_model_files *m, hive_error **err) {
    hive_status st;
    if (m->hp.n_experts && !e->be->op_add_rows_scaled)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "%s routes tokens to experts, which needs a backend with op_add_rows_scaled (plugin ABI 1.4)",
                         m->hp.name);
    if (m->hp.ssm_heads && (!e->be->op_ssm_conv || !e->be->op_ssm_scan))
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "%s has Mamba2 layers, which need a backend with op_ssm_conv and op_ssm_scan (plugin ABI 1.5)",
                         m->hp.name);
    e->unpermute_qk = e->opts.qk_hf_order && m->is_gguf &&
                      (m->hp.arch == HIVE_ARCH_LLAMA || m->hp.arch == HIVE_ARCH_GRANITE_HYBRID) &&
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
    if (m->hp.embed_mult > 0 && m->hp.embed_mult != 1.0f) { /* Granite: embeddings times a constant */
        float *mult = malloc(m->hp.hidden * sizeof *mult);
        if (!mult) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        for (uint32_t i = 0; i < m->hp.hidden; i++) mult[i] = m->hp.embed_mult;
        st = upload_f32_row(e, "embedding_multiplier", mult, m->hp.hidden, &e->embed_mult, err);
        free(mult);
        if (st) return st;
    }
    if ((st = upload_vector(e, &m->output_norm, &e->output_norm, err))) return st;
    if (m->hp.tied_embeddings || m->output.data == m->tok_embd.data) e->output = e->tok_embd;
    else if ((st = upload_matrix(e, &m->output, 1, &e->output, err))) return st;
    for (uint32_t l = 0; l < m->hp.n_layers; l++) {
        const hive_layer_tensors *t = &m->layers[l];
        layer_weights *w = &e->layers[l];
        if (t->ssm_in.data) { /* a Mamba2 layer; a hybrid's has a feed-forward too */
            if ((st = upload_ssm_layer(e, t, w, err))) return st;
            e->n_ssm_layers++;
            if (((t->w_down.data || t->moe_router.data) && (st = upload_vector(e, &t->ffn_norm, &w->ffn_norm, err))) ||
                (st = upload_feed_forward(e, l, t, w, err)))
                return st;
            continue;
        }
        uint32_t q_heads = e->unpermute_qk ? e->hp.n_heads : 0, k_heads = e->unpermute_qk ? e->hp.n_kv_heads : 0;
        const hive_tensor_view *qkv[3] = {&t->wq, &t->wk, &t->wv};
        const hive_tensor_view *bqkv[3] = {&t->bq, &t->bk, &t->bv};
        const uint32_t qkv_unpermute[3] = {q_heads, k_heads, 0};
        hive_weight **qkv_each[3] = {&w->wq, &w->wk, &w->wv};
        char qkv_name[48];
        snprintf(qkv_name, sizeof qkv_name, "blk.%u.attn_qkv (q, k, v stacked)", l);
        /* q/k/v stay apart when a per-head norm (qwen3) needs q and k contiguous */
        if (t->mla_kv_a.data) {
            if ((st = upload_mla_layer(e, l, t, w, err))) return st;
        } else if (e->hp.qk_norm) {
            if ((st = upload_matrix_rows(e, &t->wq, 1, q_heads, &w->wq, err)) ||
                (st = upload_matrix_rows(e, &t->wk, 1, k_heads, &w->wk, err)) || (st = upload_matrix(e, &t->wv, 1, &w->wv, err)))
                return st;
        } else if ((st = upload_group(e, qkv_name, qkv, qkv_unpermute, 3, &w->wqkv, qkv_each, err))) {
            return st;
        }
        if ((st = upload_vector(e, &t->attn_norm, &w->attn_norm, err)) ||
            (!t->mla_kv_a.data && (st = upload_matrix(e, &t->wo, 1, &w->wo, err))) ||
            (st = upload_vector(e, &t->q_norm, &w->q_norm, err)) || (st = upload_vector(e, &t->k_norm, &w->k_norm, err)) ||
            (st = upload_vector(e, &t->ffn_norm, &w->ffn_norm, err)))
            return st;
        if ((st = upload_feed_forward(e, l, t, w, err))) return st;
        if (w->wqkv && t->bq.data) st = upload_vectors(e, qkv_name, bqkv, 3, &w->bqkv, err);
        else if ((st = upload_vector(e, &t->bq, &w->bq, err)) == HIVE_OK && (st = upload_vector(e, &t->bk, &w->bk, err)) == HIVE_OK)
            st = upload_vector(e, &t->bv, &w->bv, err);
        if (st != HIVE_OK) return st;
    }
    return HIVE_OK;
}

static void wfree(hive_engine *e, hive_weight **w) {
    if (*w) e->be->weight_free(e->dev, *w);
    *w = NULL;
}

hive_status hive_engine_unstack(hive_engine *e, uint32_t layer, uint32_t module, hive_error **err) {
    const hive_layer_tensors *t = &e->model->layers[layer];
    layer_weights *w = &e->layers[layer];
    hive_status st = HIVE_OK;
    if (w->wqkv && (module == HIVE_MODULE_Q || module == HIVE_MODULE_K || module == HIVE_MODULE_V)) {
        uint32_t q_heads = e->unpermute_qk ? e->hp.n_heads : 0, k_heads = e->unpermute_qk ? e->hp.n_kv_heads : 0;
        if ((st = upload_matrix_rows(e, &t->wq, 1, q_heads, &w->wq, err)) ||
            (st = upload_matrix_rows(e, &t->wk, 1, k_heads, &w->wk, err)) || (st = upload_matrix(e, &t->wv, 1, &w->wv, err)) ||
            (st = upload_vector(e, &t->bq, &w->bq, err)) || (st = upload_vector(e, &t->bk, &w->bk, err)) ||
            (st = upload_vector(e, &t->bv, &w->bv, err)))
            return st;
        wfree(e, &w->wqkv);
        wfree(e, &w->bqkv);
    }
    if (w->w_gate_up && (module == HIVE_MODULE_GATE || module == HIVE_MODULE_UP)) {
        if ((st = upload_matrix(e, &t->w_gate, 1, &w->w_gate, err)) || (st = upload_matrix(e, &t->w_up, 1, &w->w_up, err)))
            return st;
        wfree(e, &w->w_gate_up);
    }
    return st;
}

void hive_engine_free_weights(hive_engine *e) {
    if (e->output == e->tok_embd) e->output = NULL;
    wfree(e, &e->output);
    wfree(e, &e->tok_embd);
    wfree(e, &e->output_norm);
    wfree(e, &e->embed_mult);
    if (!e->layers) return;
    for (uint32_t l = 0; l < e->hp.n_layers; l++) {
        layer_weights *w = &e->layers[l];
        hive_weight **all[] = {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->wo, &w->bq, &w->bk, &w->bv,
                               &w->q_norm, &w->k_norm, &w->ffn_norm, &w->w_gate, &w->w_up, &w->w_down,
                               &w->wqkv, &w->bqkv, &w->w_gate_up};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) wfree(e, all[i]);
        wfree(e, &w->moe_router);
        hive_weight **mla[] = {&w->mla_q, &w->mla_q_a, &w->mla_q_a_norm, &w->mla_kv_a, &w->mla_kv_a_norm,
                               &w->mla_qr, &w->mla_kr, &w->attn_norm_b, &w->ssm_in_b, &w->ssm_out_b};
        for (size_t i = 0; i < sizeof mla / sizeof mla[0]; i++) wfree(e, mla[i]);
        for (uint32_t h = 0; h < e->hp.n_heads && (w->mla_kb_t || w->mla_vb); h++) {
            if (w->mla_kb_t) wfree(e, &w->mla_kb_t[h]);
            if (w->mla_vb) wfree(e, &w->mla_vb[h]);
        }
        free(w->mla_kb_t);
        free(w->mla_vb);
        hive_weight **ssm[] = {&w->ssm_in, &w->ssm_out, &w->ssm_conv_w, &w->ssm_conv_b, &w->ssm_dt_bias, &w->ssm_A, &w->ssm_D,
                               &w->ssm_norm};
        for (size_t i = 0; i < sizeof ssm / sizeof ssm[0]; i++) wfree(e, ssm[i]);
        wfree(e, &w->moe_shared_gate_up);
        wfree(e, &w->moe_shared_down);
        wfree(e, &w->moe_shared_gate_inp);
        for (uint32_t x = 0; x < e->hp.n_experts && (w->moe_gate_up || w->moe_down); x++) {
            if (w->moe_gate_up) wfree(e, &w->moe_gate_up[x]);
            if (w->moe_down) wfree(e, &w->moe_down[x]);
        }
        free(w->moe_gate_up);
        free(w->moe_down);
    }
    free(e->layers);
    e->layers = NULL;
}
