/* RoPE frequency tables, computed on the host so every scaling type lives in
 * one place; backends only rotate by pos * inv_freq[i] and scale by
 * attn_factor. The formulas are transformers' (modeling_rope_utils.py),
 * evaluated in float32 in the same order, so the tables match its to an ulp.
 *
 * Dynamic NTK and longrope depend on the length a sequence has reached:
 * transformers recomputes inv_freq at every forward call from
 * max(position_ids) + 1. The engine does the same per sequence and per pass
 * (hive_engine_rope_plan): the rows of each sequence are rotated with the
 * table of the largest position they reach in that pass, and keys already in
 * the KV cache keep the rotation they were stored with, as transformers'
 * cache does. A prompt prefilled in several chunks (--batch smaller than the
 * prompt) therefore sees the tables transformers sees when fed those chunks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/error.h"

static int is(const hive_hparams *hp, const char *type) { return !strcmp(hp->rope_scaling, type); }

int hive_rope_by_length(const hive_hparams *hp) { return is(hp, "dynamic") || is(hp, "longrope"); }

static uint32_t rot_dims(const hive_hparams *hp) { return hp->rope_dims ? hp->rope_dims : hp->head_dim; }

/* transformers: base ** (arange(0, dim, 2).float() / dim), in float32 */
static float pos_freq(float base, uint32_t i, uint32_t dim) { return powf(base, (float)(2 * i) / (float)dim); }

static double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0; }

/* the dimension whose wavelength turns n_rot times over the original length */
static double yarn_corr_dim(double n_rot, double dim, double base, double orig) {
    return dim * log(orig / (n_rot * 2 * M_PI)) / (2 * log(base));
}

static float yarn(const hive_hparams *hp, float *inv_freq, uint32_t dim) {
    double factor = hp->rope_factor, base = hp->rope_theta, orig = hp->rope_orig_ctx;
    double lo = yarn_corr_dim(hp->yarn_beta_fast, dim, base, orig);
    double hi = yarn_corr_dim(hp->yarn_beta_slow, dim, base, orig);
    if (!hp->yarn_no_truncate) lo = floor(lo), hi = ceil(hi);
    if (lo < 0) lo = 0;
    if (hi > dim - 1) hi = dim - 1;
    if (lo == hi) hi += 0.001; /* transformers: avoid a zero-width ramp */
    float flo = (float)lo, span = (float)(hi - lo);
    for (uint32_t i = 0; i < dim / 2; i++) {
        float p = pos_freq(hp->rope_theta, i, dim);
        float extrap = 1.0f / p, interp = 1.0f / ((float)factor * p);
        float ramp = ((float)i - flo) / span;
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float keep = 1.0f - ramp; /* 1: extrapolate (high frequency, unchanged) */
        inv_freq[i] = interp * (1.0f - keep) + extrap * keep;
    }
    if (hp->rope_attn_factor > 0) return hp->rope_attn_factor;
    if (hp->yarn_mscale > 0 && hp->yarn_mscale_all_dim > 0)
        return (float)(yarn_mscale(factor, hp->yarn_mscale) / yarn_mscale(factor, hp->yarn_mscale_all_dim));
    return (float)yarn_mscale(factor, 1.0);
}

static void llama3(const hive_hparams *hp, float *inv_freq, uint32_t dim) {
    double orig = hp->rope_orig_ctx, lo = hp->rope_low_freq_factor, hi = hp->rope_high_freq_factor;
    float factor = hp->rope_factor, lo_wl = (float)(orig / lo), hi_wl = (float)(orig / hi);
    for (uint32_t i = 0; i < dim / 2; i++) {
        /* torch evaluates scalar / tensor as reciprocal(tensor) * scalar */
        float f = inv_freq[i], wavelen = (1.0f / f) * (float)(2 * M_PI);
        if (wavelen > lo_wl) {
            inv_freq[i] = f / factor; /* long wavelengths: interpolate */
        } else if (!(wavelen < hi_wl)) { /* between: blend smoothly */
            float smooth = ((1.0f / wavelen) * (float)orig - (float)lo) / (float)(hi - lo);
            inv_freq[i] = (1 - smooth) * f / factor + smooth * f;
        }
    }
}

float hive_rope_compute(const hive_hparams *hp, uint32_t seq_len, float *inv_freq) {
    uint32_t dim = rot_dims(hp), half = dim / 2;
    float base = hp->rope_theta, attn = 1.0f;
    if (is(hp, "dynamic") && seq_len > hp->rope_orig_ctx) {
        /* NTK-aware: a larger base as the sequence grows past the original length */
        float factor = hp->rope_factor;
        float t = factor * (float)seq_len / (float)hp->rope_orig_ctx - (factor - 1.0f);
        base = base * powf(t, (float)((double)dim / (dim - 2)));
    }
    if (is(hp, "yarn")) {
        attn = yarn(hp, inv_freq, dim);
    } else if (is(hp, "longrope")) {
        const float *ext = seq_len > hp->rope_orig_ctx ? hp->rope_long_factor : hp->rope_short_factor;
        for (uint32_t i = 0; i < half; i++) inv_freq[i] = 1.0f / (ext[i] * pos_freq(base, i, dim));
        double factor = hp->rope_factor;
        attn = hp->rope_attn_factor > 0 ? hp->rope_attn_factor
               : factor <= 1.0        ? 1.0f
                                      : (float)sqrt(1 + log(factor) / log((double)hp->rope_orig_ctx));
    } else {
        for (uint32_t i = 0; i < half; i++) inv_freq[i] = 1.0f / pos_freq(base, i, dim);
        if (is(hp, "linear"))
            for (uint32_t i = 0; i < half; i++) inv_freq[i] /= hp->rope_factor;
        if (is(hp, "llama3")) llama3(hp, inv_freq, dim);
    }
    /* GGUF rope_freqs (llama.cpp): theta = pos * inv_freq / factor[i] */
    for (uint32_t i = 0; i < hp->rope_n_freq_factors && i < half; i++) inv_freq[i] /= hp->rope_freq_factors[i];
    return hp->rope_attn_mult > 0 ? attn * hp->rope_attn_mult : attn;
}

hive_status hive_engine_rope_init(hive_engine *e, hive_error **err) {
    uint32_t half = rot_dims(&e->hp) / 2;
    e->inv_freq = malloc((half ? half : 1) * sizeof(float));
    if (hive_rope_by_length(&e->hp)) {
        e->rope_seq_freq = malloc((size_t)e->opts.max_seqs * (half ? half : 1) * sizeof(float));
        e->rope_seq_attn = malloc(e->opts.max_seqs * sizeof(float));
    }
    if (!e->inv_freq || (hive_rope_by_length(&e->hp) && (!e->rope_seq_freq || !e->rope_seq_attn)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    e->rope_attn_factor = hive_rope_compute(&e->hp, 0, e->inv_freq);
    return HIVE_OK;
}

void hive_engine_rope_free(hive_engine *e) {
    free(e->inv_freq);
    free(e->rope_seq_freq);
    free(e->rope_seq_attn);
    e->inv_freq = e->rope_seq_freq = e->rope_seq_attn = NULL;
}

void hive_engine_rope_plan(hive_engine *e, const hive_batch *b) {
    if (!e->rope_seq_freq) return;
    uint32_t half = rot_dims(&e->hp) / 2;
    uint32_t reach[b->n_seqs ? b->n_seqs : 1];
    memset(reach, 0, sizeof reach);
    for (uint32_t r = 0; r < b->n_rows; r++) {
        uint32_t s = (uint32_t)b->row_seq[r], len = (uint32_t)b->row_pos[r] + 1;
        if (len > reach[s]) reach[s] = len;
    }
    for (uint32_t s = 0; s < b->n_seqs; s++)
        e->rope_seq_attn[s] = hive_rope_compute(&e->hp, reach[s], e->rope_seq_freq + (size_t)s * half);
}

hive_status hive_engine_rope(hive_engine *e, const hive_tensor *x, uint32_t n_heads, const hive_batch *b,
                             hive_error **err) {
    const hive_hparams *hp = &e->hp;
    uint32_t rot = rot_dims(hp);
    /* a latent-attention model rotates only its rope parts, heads of rot dims */
    uint32_t head_dim = hp->mla_kv_rank ? rot : hp->head_dim;
    hive_rope_desc d = {sizeof d, hp->rope_mode, n_heads, head_dim, rot, e->rope_attn_factor, e->inv_freq, 0, 0};
    /* unscaled RoPE of a GGUF model: llama.cpp's running product of angles
     * (scaled types keep transformers' tables, one formula per type) */
    if (hp->rope_ggml_arith && (!hp->rope_scaling[0] || is(hp, "none")) && !hp->rope_n_freq_factors)
        d.angles = HIVE_ROPE_ANGLES_GGML, d.theta_scale = powf(hp->rope_theta, -2.0f / (float)rot);
    if (!e->rope_seq_freq) return e->be->op_rope(e->dev, x, &d, b, err);
    /* one call per run of rows of the same sequence, with that sequence's table */
    for (uint32_t r0 = 0, r1; r0 < b->n_rows; r0 = r1) {
        int32_t s = b->row_seq[r0];
        for (r1 = r0 + 1; r1 < b->n_rows && b->row_seq[r1] == s; r1++) {}
        hive_tensor part = *x;
        part.offset += (uint64_t)r0 * (uint64_t)x->row_stride * sizeof(float);
        part.rows = r1 - r0;
        hive_batch pb = *b;
        pb.n_rows = r1 - r0;
        pb.row_seq = b->row_seq + r0;
        pb.row_pos = b->row_pos + r0;
        d.inv_freq = e->rope_seq_freq + (size_t)s * (rot / 2);
        d.attn_factor = e->rope_seq_attn[s];
        hive_status st = e->be->op_rope(e->dev, &part, &d, &pb, err);
        if (st) return st;
    }
    return HIVE_OK;
}
