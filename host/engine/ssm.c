/* Mamba2 layers: each sequence's recurrent state (conv window and SSM state,
 * one row per sequence slot and layer, zeroed when the sequence starts) and
 * the block, top to bottom:
 *   x += out_proj(gated_norm(scan(conv(xBC)), z)),  [z | xBC | dt] = in_proj(rmsnorm(x))
 * (blazr: a LayerNorm with a bias in place of the RMSNorm, in_proj/out_proj
 * biases, one gated-norm group and its own eps)
 * The state holds the whole past, not one entry per position: a sequence
 * can continue or start over, not be cut back (kv.c refuses that). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/error.h"

#define TRY(call)                              \
    do {                                       \
        hive_status st_ = (call);              \
        if (st_ != HIVE_OK) return st_;        \
    } while (0)

static uint64_t conv_cols(const hive_hparams *hp) {
    return ((uint64_t)hp->ssm_inner + 2ull * hp->ssm_groups * hp->ssm_state) * (hp->ssm_conv - 1);
}
static uint64_t scan_cols(const hive_hparams *hp) { return (uint64_t)hp->ssm_inner * hp->ssm_state; }

/* The gated norm's groups (blazr: one, over the whole inner width). */
static uint32_t norm_groups(const hive_hparams *hp) { return hp->ssm_norm_groups ? hp->ssm_norm_groups : hp->ssm_groups; }

hive_status hive_engine_ssm_init(hive_engine *e, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    if (!e->n_ssm_layers) return HIVE_OK;
    uint64_t S = e->opts.max_seqs;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        layer_weights *w = &e->layers[l];
        if (!w->ssm_in) continue;
        uint64_t cb = S * (conv_cols(hp) ? conv_cols(hp) : 1) * sizeof(float), sb = S * scan_cols(hp) * sizeof(float);
        TRY(e->be->buffer_alloc(e->dev, cb, &w->ssm_conv_state, err));
        TRY(e->be->buffer_alloc(e->dev, sb, &w->ssm_scan_state, err));
        e->ssm_state_bytes += (conv_cols(hp) + scan_cols(hp)) * sizeof(float);
    }
    uint32_t group = hp->ssm_inner / norm_groups(hp);
    float *ones = malloc(group * sizeof *ones);
    if (!ones) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < group; i++) ones[i] = 1.0f;
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, 1, group, "ssm group norm (ones)"};
    hive_status st = e->be->weight_upload(e->dev, &d, ones, &e->ssm_ones, err);
    free(ones);
    return st;
}

uint64_t hive_engine_state_bytes(const hive_engine *e) { return e->ssm_state_bytes; }

void hive_engine_ssm_free(hive_engine *e) {
    for (uint32_t l = 0; e->layers && l < e->hp.n_layers; l++) {
        layer_weights *w = &e->layers[l];
        if (w->ssm_conv_state) e->be->buffer_free(e->dev, w->ssm_conv_state);
        if (w->ssm_scan_state) e->be->buffer_free(e->dev, w->ssm_scan_state);
        w->ssm_conv_state = w->ssm_scan_state = NULL;
    }
    if (e->ssm_ones) e->be->weight_free(e->dev, e->ssm_ones);
    e->ssm_ones = NULL;
}

hive_status hive_engine_ssm_reset(hive_engine *e, int32_t seq, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    if (!e->n_ssm_layers) return HIVE_OK;
    uint64_t cc = conv_cols(hp), sc = scan_cols(hp), most = cc > sc ? cc : sc;
    float *zeros = calloc(most ? most : 1, sizeof *zeros);
    if (!zeros) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = HIVE_OK;
    for (uint32_t l = 0; st == HIVE_OK && l < hp->n_layers; l++) {
        layer_weights *w = &e->layers[l];
        if (!w->ssm_in) continue;
        if (cc) st = e->be->buffer_upload(e->dev, w->ssm_conv_state, (uint64_t)seq * cc * 4, zeros, cc * 4, err);
        if (st == HIVE_OK) st = e->be->buffer_upload(e->dev, w->ssm_scan_state, (uint64_t)seq * sc * 4, zeros, sc * 4, err);
    }
    free(zeros);
    return st;
}

hive_status hive_engine_ssm_block(hive_engine *e, uint32_t l, uint32_t n, const hive_batch *batch, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    layer_weights *w = &e->layers[l];
    activations *a = &e->act;
    uint32_t I = hp->ssm_inner, G = hp->ssm_groups, N = hp->ssm_state, H = hp->ssm_heads;
    int64_t C = (int64_t)I + 2 * (int64_t)G * N, proj_cols = (int64_t)I + C + H;
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden), h = hive_t(a->h, 0, n, hp->hidden);
    hive_tensor proj = hive_t(a->ssm_proj, 0, n, proj_cols), conv = hive_t(a->ssm_conv, 0, n, C);
    hive_tensor z = hive_cols(&proj, 0, I), xbc = hive_cols(&proj, I, C), dt = hive_cols(&proj, I + C, H);
    hive_tensor xs = hive_cols(&conv, 0, I), B = hive_cols(&conv, I, (int64_t)G * N), Cm = hive_cols(&conv, I + (int64_t)G * N, (int64_t)G * N);
    uint32_t NG = norm_groups(hp);
    hive_tensor y = hive_t(a->ssm_y, 0, n, I), groups = hive_t(a->ssm_y, 0, (int64_t)n * NG, I / NG);
    hive_tensor conv_state = hive_t(w->ssm_conv_state, 0, e->opts.max_seqs, (int64_t)conv_cols(hp));
    hive_tensor scan_state = hive_t(w->ssm_scan_state, 0, e->opts.max_seqs, (int64_t)scan_cols(hp));
    hive_ssm_desc d = {sizeof d, H, hp->ssm_head_dim, G, N, hp->ssm_chunk, hp->ssm_dt_min, hp->ssm_dt_max};
    const int32_t *slots = e->local_seq_ids; /* local sequence j's state row: its engine slot */

    if (w->attn_norm_b) /* blazr: a LayerNorm with a bias */
        TRY(e->be->op_layernorm(e->dev, &x, w->attn_norm, w->attn_norm_b, hp->ssm_ln_eps, &h, err));
    else
        TRY(e->be->op_rmsnorm(e->dev, &x, w->attn_norm, hp->rms_eps, &h, err));
    TRY(hive_engine_linear(e, l, HIVE_XMOD_SSM_IN, &h, w->ssm_in, w->ssm_in_b, &proj, 0, err));
    TRY(e->be->op_ssm_conv(e->dev, &xbc, w->ssm_conv_w, w->ssm_conv_b, hp->ssm_conv, batch, slots, &conv_state, &conv,
                           err));
    TRY(e->be->op_ssm_scan(e->dev, &xs, &dt, &B, &Cm, w->ssm_A, w->ssm_D, w->ssm_dt_bias, &d, batch, slots, &scan_state,
                           &y, err));
    /* gated RMSNorm: y * silu(z), normalised per group of I / G, times the gain */
    TRY(e->be->op_swiglu(e->dev, &z, &y, &z, err));
    TRY(e->be->op_get_rows(e->dev, &z, e->identity, n, &y, err)); /* contiguous, to view it as groups */
    TRY(e->be->op_rmsnorm(e->dev, &groups, e->ssm_ones, hp->ssm_norm_eps > 0 ? hp->ssm_norm_eps : hp->rms_eps, &groups,
                          err));
    TRY(e->be->op_binary_weight(e->dev, HIVE_BINARY_MUL, &y, w->ssm_norm, &y, err));
    /* x += out_proj(y), times Granite's residual multiplier */
    return hive_engine_linear(e, l, HIVE_XMOD_SSM_OUT, &y, w->ssm_out, w->ssm_out_b, &x, 1, err);
}
