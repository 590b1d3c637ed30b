/* LoRA on kv_b_proj (blazr: w_uk, w_uv) under absorbed latent attention (mla.c). The engine
 * never expands keys and values: each head's query meets W_kb^T and its
 * attended latent W_vb. A delta dW = s B A on kv_b_proj changes both, so an
 * expert set with such hooks gets its own per-head W_kb^T + dW_k^T and
 * W_vb + dW_v in the layers it adapts, and mla.c runs that set's rows through
 * them: transformers' expanded K = (W_kb + dW_k) c and V = (W_vb + dW_v) c,
 * reassociated as for the base.
 * dW comes from the adapters' own hooks: linear_output on the rows of the
 * identity (x = e_i) adds row i of dW^T, so no plugin needs to expose its
 * weights. Derived once per set (keyed as soft-prompt templates are: id and
 * adapter addresses), dropped with the adapters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "model/dequant.h"
#include "util/error.h"

#define MLA_MAX_SETS 8 /* least recently used is dropped beyond this */

struct mla_set_weights {
    uint64_t set_id;
    uint32_t n_refs;
    const hive_adapter *adapters[HIVE_MAX_ADAPTERS_PER_SET];
    hive_weight **kb_t, **vb; /* [n_layers * heads]; NULL in layers without a kv_b_proj hook */
    uint64_t last_used;
};

static int same_set(const mla_set_weights *w, const hive_adapter_set *set) {
    if (w->set_id != set->id || w->n_refs != set->n) return 0;
    for (uint32_t i = 0; i < set->n; i++)
        if (w->adapters[i] != set->refs[i].adapter) return 0;
    return 1;
}

static void set_free(hive_engine *e, mla_set_weights *w) {
    for (uint32_t i = 0; i < e->hp.n_layers * e->hp.n_heads; i++) {
        if (w->kb_t && w->kb_t[i]) e->be->weight_free(e->dev, w->kb_t[i]);
        if (w->vb && w->vb[i]) e->be->weight_free(e->dev, w->vb[i]);
    }
    free(w->kb_t);
    free(w->vb);
    free(w);
}

void hive_engine_mla_sets_drop(hive_engine *e) {
    for (uint32_t i = 0; i < e->n_mla_sets; i++) set_free(e, e->mla_sets[i]);
    free(e->mla_sets);
    e->mla_sets = NULL;
    e->n_mla_sets = 0;
}

const mla_set_weights *hive_engine_mla_set_find(hive_engine *e, const hive_adapter_set *set) {
    for (uint32_t i = 0; set && i < e->n_mla_sets; i++)
        if (same_set(e->mla_sets[i], set)) {
            e->mla_sets[i]->last_used = ++e->mla_clock;
            return e->mla_sets[i];
        }
    return NULL;
}

hive_weight *hive_engine_mla_set_weight(const mla_set_weights *w, uint32_t layer, uint32_t head, int value,
                                        uint32_t n_heads) {
    if (!w) return NULL;
    hive_weight **a = value ? w->vb : w->kb_t;
    return a[layer * n_heads + head];
}

static int hooks_module(const hive_adapter_ref *r, uint32_t l, uint32_t module) {
    uint32_t stride = hive_engine_hooks_stride(r);
    return r->desc.hooks_at && stride > module && r->desc.hooks_at[l * stride + module];
}

/* Does the adapter hook an absorbed up-projection in layer l? */
static int hooks_kv_b(const hive_adapter_ref *r, uint32_t l) {
    return hooks_module(r, l, HIVE_XMOD_MLA_KV_B) || hooks_module(r, l, HIVE_XMOD_MLA_UK) ||
           hooks_module(r, l, HIVE_XMOD_MLA_UV);
}

static hive_status to_f32(const hive_tensor_view *v, uint64_t want, float **out, hive_error **err) {
    uint64_t n = 1;
    for (uint32_t i = 0; i < v->n_dims; i++) n *= (uint64_t)v->shape[i];
    if (!v->data || n != want) return hive_fail(err, HIVE_E_SHAPE, "%s: not the expected kv_b_proj shape", v->name);
    float *f = malloc(n * sizeof *f);
    if (!f) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (hive_dequantize(v->dtype, v->data, f, (int64_t)n) != HIVE_OK) {
        free(f);
        return hive_fail(err, HIVE_E_INVALID, "%s: cannot convert to f32", v->name);
    }
    *out = f;
    return HIVE_OK;
}

/* dT[i][j] = sum over the set's hooks of `module` of dW[j][i] (f32, [r, cols]). */
static hive_status delta_t(hive_engine *e, const hive_adapter_set *set, uint32_t l, uint32_t module, uint32_t cols,
                           float *dT, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    uint32_t r = hp->mla_kv_rank, R = e->opts.max_rows;
    float *eye = calloc((size_t)R * r, sizeof *eye), *zeros = calloc((size_t)R * cols, sizeof *zeros);
    hive_status st = eye && zeros ? HIVE_OK : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i0 = 0; st == HIVE_OK && i0 < r; i0 += R) {
        uint32_t m = r - i0 < R ? r - i0 : R;
        memset(eye, 0, (size_t)m * r * sizeof *eye);
        for (uint32_t i = 0; i < m; i++) eye[(size_t)i * r + i0 + i] = 1.0f;
        hive_tensor x = hive_t(e->act.hook_in, 0, m, r), base = hive_t(e->act.hook_base, 0, m, cols);
        hive_tensor y = hive_t(e->act.hook_out, 0, m, cols);
        uint64_t yb = (uint64_t)m * cols * sizeof(float);
        if ((st = e->be->buffer_upload(e->dev, e->act.hook_in, 0, eye, (uint64_t)m * r * sizeof(float), err)) ||
            (st = e->be->buffer_upload(e->dev, e->act.hook_base, 0, zeros, yb, err)) ||
            (st = e->be->buffer_upload(e->dev, e->act.hook_out, 0, zeros, yb, err)))
            break;
        for (uint32_t a = 0; st == HIVE_OK && a < set->n; a++)
            if (hooks_module(&set->refs[a], l, module))
                st = set->refs[a].api->linear_output(set->refs[a].adapter, l, module, &x, &base, &y, err);
        if (st == HIVE_OK) st = e->be->synchronize(e->dev, err);
        if (st == HIVE_OK) st = e->be->buffer_download(e->dev, e->act.hook_out, 0, dT + (size_t)i0 * cols, yb, err);
    }
    free(eye);
    free(zeros);
    return st;
}

/* blazr's w_uk [H nope, r] and w_uv [H v, r] and their deltas, interleaved per
 * head into kv_b_proj's layout ([H (nope + v), r], each head's key rows then
 * its value rows; dT [r, H (nope + v)]). */
static hive_status blazr_as_kv_b(hive_engine *e, const hive_adapter_set *set, uint32_t l, float *dT, float **kvb,
                                 hive_error **err) {
    const hive_hparams *hp = &e->hp;
    const hive_layer_tensors *t = &e->model->layers[l];
    uint32_t H = hp->n_heads, nope = hp->mla_nope, v = hp->mla_v, r = hp->mla_kv_rank, cols = H * (nope + v);
    float *dk = malloc((size_t)r * H * nope * sizeof *dk), *dv = malloc((size_t)r * H * v * sizeof *dv);
    float *uk = NULL, *uv = NULL, *kv = malloc((size_t)cols * r * sizeof *kv);
    hive_status st = dk && dv && kv ? HIVE_OK : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (st == HIVE_OK) st = delta_t(e, set, l, HIVE_XMOD_MLA_UK, H * nope, dk, err);
    if (st == HIVE_OK) st = delta_t(e, set, l, HIVE_XMOD_MLA_UV, H * v, dv, err);
    if (st == HIVE_OK) st = to_f32(&t->mla_uk, (uint64_t)H * nope * r, &uk, err);
    if (st == HIVE_OK) st = to_f32(&t->mla_uv, (uint64_t)H * v * r, &uv, err);
    for (uint32_t h = 0; st == HIVE_OK && h < H; h++) {
        size_t c0 = (size_t)h * (nope + v);
        for (uint32_t j = 0; j < nope; j++) memcpy(kv + (c0 + j) * r, uk + ((size_t)h * nope + j) * r, r * sizeof *kv);
        for (uint32_t a = 0; a < v; a++) memcpy(kv + (c0 + nope + a) * r, uv + ((size_t)h * v + a) * r, r * sizeof *kv);
        for (uint32_t i = 0; i < r; i++) {
            memcpy(dT + (size_t)i * cols + c0, dk + (size_t)i * H * nope + (size_t)h * nope, nope * sizeof *dT);
            memcpy(dT + (size_t)i * cols + c0 + nope, dv + (size_t)i * H * v + (size_t)h * v, v * sizeof *dT);
        }
    }
    free(dk), free(dv), free(uk), free(uv);
    if (st != HIVE_OK) free(kv), kv = NULL;
    *kvb = kv;
    return st;
}

/* The layer's W_kb^T + dW_k^T and W_vb + dW_v per head, uploaded. */
static hive_status derive_layer(hive_engine *e, const hive_adapter_set *set, uint32_t l, mla_set_weights *w,
                                hive_error **err) {
    const hive_hparams *hp = &e->hp;
    const hive_layer_tensors *t = &e->model->layers[l];
    uint32_t H = hp->n_heads, nope = hp->mla_nope, v = hp->mla_v, r = hp->mla_kv_rank, cols = H * (nope + v);
    const int blazr = t->mla_uk.data != NULL; /* w_uk and w_uv: put in kv_b_proj's layout */
    int split = !blazr && !t->mla_kv_b.data;  /* GGUF: k_b = W_kb^T [H, r, nope], v_b = W_vb [H, v, r] */
    float *dT = malloc((size_t)r * cols * sizeof *dT), *kvb = NULL, *vb_all = NULL;
    float *kb = malloc((size_t)r * nope * sizeof *kb), *vbh = malloc((size_t)v * r * sizeof *vbh);
    hive_status st = dT && kb && vbh ? HIVE_OK : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    uint64_t kvb_elems = split ? (uint64_t)H * r * nope : (uint64_t)cols * r;
    if (st == HIVE_OK && blazr) st = blazr_as_kv_b(e, set, l, dT, &kvb, err);
    if (st == HIVE_OK && !blazr) st = delta_t(e, set, l, HIVE_XMOD_MLA_KV_B, cols, dT, err);
    if (st == HIVE_OK && !blazr) st = to_f32(split ? &t->mla_k_b : &t->mla_kv_b, kvb_elems, &kvb, err);
    if (st == HIVE_OK && split) st = to_f32(&t->mla_v_b, (uint64_t)H * v * r, &vb_all, err);
    for (uint32_t h = 0; st == HIVE_OK && h < H; h++) {
        const float *d = dT + (size_t)h * (nope + v); /* column of head h's first key row */
        for (uint32_t i = 0; i < r; i++)
            for (uint32_t j = 0; j < nope; j++) {
                float base = split ? kvb[((size_t)h * r + i) * nope + j] : kvb[((size_t)h * (nope + v) + j) * r + i];
                kb[(size_t)i * nope + j] = base + d[(size_t)i * cols + j];
            }
        for (uint32_t a = 0; a < v; a++)
            for (uint32_t i = 0; i < r; i++) {
                float base = split ? vb_all[((size_t)h * v + a) * r + i] : kvb[((size_t)h * (nope + v) + nope + a) * r + i];
                vbh[(size_t)a * r + i] = base + d[(size_t)i * cols + nope + a];
            }
        char name[64];
        snprintf(name, sizeof name, "blk.%u.mla_kb_t.%u (adapted)", l, h);
        hive_weight_desc dk = {sizeof dk, HIVE_DTYPE_F32, r, nope, name};
        st = e->be->weight_upload(e->dev, &dk, kb, &w->kb_t[l * H + h], err);
        snprintf(name, sizeof name, "blk.%u.mla_vb.%u (adapted)", l, h);
        hive_weight_desc dv = {sizeof dv, HIVE_DTYPE_F32, v, r, name};
        if (st == HIVE_OK) st = e->be->weight_upload(e->dev, &dv, vbh, &w->vb[l * H + h], err);
    }
    free(dT), free(kvb), free(vb_all), free(kb), free(vbh);
    return st;
}

hive_status hive_engine_mla_set_prepare(hive_engine *e, const hive_adapter_set *set, hive_error **err) {
    uint32_t L = e->hp.n_layers, H = e->hp.n_heads, any = 0;
    for (uint32_t a = 0; set && a < set->n; a++)
        for (uint32_t l = 0; l < L; l++) any |= (uint32_t)hooks_kv_b(&set->refs[a], l);
    if (!any || hive_engine_mla_set_find(e, set)) return HIVE_OK;
    if (set->n > HIVE_MAX_ADAPTERS_PER_SET) return hive_fail(err, HIVE_E_INVALID, "too many adapters in a set");
    mla_set_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->kb_t = calloc((size_t)L * H, sizeof *w->kb_t)) || !(w->vb = calloc((size_t)L * H, sizeof *w->vb))) {
        if (w) free(w->kb_t), free(w);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    w->set_id = set->id, w->n_refs = set->n;
    for (uint32_t i = 0; i < set->n; i++) w->adapters[i] = set->refs[i].adapter;
    hive_status st = HIVE_OK;
    for (uint32_t l = 0; st == HIVE_OK && l < L; l++) {
        int hooked = 0;
        for (uint32_t a = 0; a < set->n; a++) hooked |= hooks_kv_b(&set->refs[a], l);
        if (hooked) st = derive_layer(e, set, l, w, err);
    }
    if (st == HIVE_OK && e->n_mla_sets == MLA_MAX_SETS) { /* drop the least recently used */
        uint32_t old = 0;
        for (uint32_t i = 1; i < e->n_mla_sets; i++)
            if (e->mla_sets[i]->last_used < e->mla_sets[old]->last_used) old = i;
        hive_engine_graphs_flush(e); /* captured steps may use its weights */
        set_free(e, e->mla_sets[old]);
        e->mla_sets[old] = e->mla_sets[--e->n_mla_sets];
    }
    mla_set_weights **grown = st == HIVE_OK ? realloc(e->mla_sets, (e->n_mla_sets + 1) * sizeof *grown) : NULL;
    if (st == HIVE_OK && !grown) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (st != HIVE_OK) {
        set_free(e, w);
        return st;
    }
    e->mla_sets = grown;
    w->last_used = ++e->mla_clock;
    e->mla_sets[e->n_mla_sets++] = w;
    return HIVE_OK;
}
