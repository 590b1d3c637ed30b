/* RoPE scaling settings: which types Hive knows, and the command line's
 * overrides over the model file's values (precedence: CLI > model file). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/dequant.h"
#include "model/model_impl.h"
#include "util/error.h"

int hive_rope_type_known(const char *type) {
    static const char *k_types[] = {"none", "default", "linear", "dynamic", "yarn", "longrope", "llama3"};
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (!strcmp(type, k_types[i])) return 1;
    return 0;
}

static hive_status positive(float v, const char *flag, hive_error **err) {
    if (v == 0) return HIVE_OK; /* not given */
    if (!(v > 0) || !isfinite(v)) return hive_fail(err, HIVE_E_INVALID, "%s %g: must be a positive number", flag, v);
    return HIVE_OK;
}

hive_status hive_hparams_rope_override(hive_hparams *hp, const hive_rope_override *o, hive_error **err) {
    hive_status st = HIVE_OK;
    if (!o) return HIVE_OK;
    if ((st = positive(o->factor, "--rope-scale", err)) || (st = positive(o->freq_base, "--rope-freq-base", err)) ||
        (st = positive(o->beta_fast, "--yarn-beta-fast", err)) ||
        (st = positive(o->beta_slow, "--yarn-beta-slow", err)) ||
        (st = positive(o->attn_mult, "--yarn-attn-factor", err)))
        return st;
    if (o->scaling[0]) {
        if (!hive_rope_type_known(o->scaling))
            return hive_fail(err, HIVE_E_INVALID, "--rope-scaling %s: unknown RoPE scaling type; supported: %s",
                             o->scaling, HIVE_ROPE_TYPES);
        if (!strcmp(o->scaling, "longrope") && !hp->rope_n_ext)
            return hive_fail(err, HIVE_E_INVALID,
                             "--rope-scaling longrope needs the model's short_factor and long_factor lists");
        snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "%.15s", strcmp(o->scaling, "default") ? o->scaling : "none");
    }
    if (o->factor > 0) hp->rope_factor = o->factor;
    if (o->freq_base > 0) hp->rope_theta = o->freq_base;
    if (o->orig_ctx) hp->rope_orig_ctx = o->orig_ctx;
    if (o->beta_fast > 0) hp->yarn_beta_fast = o->beta_fast;
    if (o->beta_slow > 0) hp->yarn_beta_slow = o->beta_slow;
    if (o->attn_mult > 0) hp->rope_attn_mult = o->attn_mult;
    return HIVE_OK;
}

/* A per-dimension factor tensor (GGUF rope_freqs, rope_factors_long/short):
 * rope_dims / 2 numbers, dequantized into out. 0: absent. */
static hive_status factor_tensor(const hive_model_files *m, const char *name, float *out, uint32_t *n,
                                 hive_error **err) {
    hive_tensor_view v;
    if (!model_find_tensor(m, name, &v)) return HIVE_OK;
    uint32_t want = m->hp.rope_dims / 2;
    int64_t count = 1;
    for (uint32_t d = 0; d < v.n_dims; d++) count *= v.shape[d];
    if (count != (int64_t)want || want > HIVE_ROPE_MAX_PAIRS)
        return hive_fail(err, HIVE_E_SHAPE, "tensor %s has %lld values; expected rope dims / 2 = %u", name,
                         (long long)count, want);
    hive_status st = hive_dequantize(v.dtype, v.data, out, count);
    if (st) return hive_fail(err, st, "tensor %s: its type cannot be read as numbers", name);
    for (uint32_t i = 0; i < want; i++)
        if (!(out[i] > 0) || !isfinite(out[i]))
            return hive_fail(err, HIVE_E_INVALID, "tensor %s[%u] = %g: frequency factors must be positive", name, i,
                             out[i]);
    *n = want;
    return HIVE_OK;
}

hive_status model_rope_tensors(hive_model_files *m, hive_error **err) {
    hive_hparams *hp = &m->hp;
    uint32_t n_long = 0, n_short = 0;
    hive_status st = factor_tensor(m, "rope_freqs.weight", hp->rope_freq_factors, &hp->rope_n_freq_factors, err);
    if (!st) st = factor_tensor(m, "rope_factors_long.weight", hp->rope_long_factor, &n_long, err);
    if (!st) st = factor_tensor(m, "rope_factors_short.weight", hp->rope_short_factor, &n_short, err);
    if (st) return st;
    if (n_long != n_short)
        return hive_fail(err, HIVE_E_INVALID, "rope_factors_long and rope_factors_short must both be present");
    if (n_long) hp->rope_n_ext = n_long;
    if (!strcmp(hp->rope_scaling, "longrope") && !hp->rope_n_ext)
        return hive_fail(err, HIVE_E_INVALID, "RoPE scaling longrope needs short and long factors");
    return HIVE_OK;
}
