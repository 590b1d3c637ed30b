/* RoPE frequency table, computed once on the host so every scaling type lives
 * in one place (backends only rotate by pos * inv_freq[i]). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"

void hive_engine_rope_init(hive_engine *e) {
    const hive_hparams *hp = &e->hp;
    uint32_t rot = hp->rope_dims ? hp->rope_dims : hp->head_dim, half = rot / 2;
    e->inv_freq = malloc(half * sizeof(float));
    e->rope_attn_factor = 1.0f;
    if (!e->inv_freq) return;
    float factor = hp->rope_factor > 0 ? hp->rope_factor : 1.0f;
    for (uint32_t i = 0; i < half; i++) {
        double f = pow((double)hp->rope_theta, -2.0 * i / (double)rot);
        if (!strcmp(hp->rope_scaling, "linear")) {
            f /= factor;
        } else if (!strcmp(hp->rope_scaling, "llama3")) {
            /* Llama 3: long wavelengths scaled by factor, short kept, smooth between */
            double lo = hp->rope_low_freq_factor > 0 ? hp->rope_low_freq_factor : 1.0;
            double hi = hp->rope_high_freq_factor > 0 ? hp->rope_high_freq_factor : 4.0;
            double orig = hp->rope_orig_ctx ? hp->rope_orig_ctx : 8192;
            double wavelen = 2 * M_PI / f, lo_wl = orig / lo, hi_wl = orig / hi;
            if (wavelen > lo_wl) f /= factor;
            else if (wavelen >= hi_wl) {
                double smooth = (orig / wavelen - lo) / (hi - lo);
                f = (1 - smooth) * f / factor + smooth * f;
            }
        } else if (!strcmp(hp->rope_scaling, "yarn")) {
            /* YaRN (NTK-by-parts): interpolate low frequencies, keep high ones */
            double orig = hp->rope_orig_ctx ? hp->rope_orig_ctx : hp->max_ctx;
            double beta_fast = hp->yarn_beta_fast > 0 ? hp->yarn_beta_fast : 32, beta_slow = hp->yarn_beta_slow > 0 ? hp->yarn_beta_slow : 1;
            double d = rot, base = hp->rope_theta;
            double lo = floor(d * log(orig / (beta_fast * 2 * M_PI)) / (2 * log(base)));
            double hi = ceil(d * log(orig / (beta_slow * 2 * M_PI)) / (2 * log(base)));
            if (lo < 0) lo = 0;
            if (hi > d - 1) hi = d - 1;
            double ramp = (i - lo) / ((hi - lo) > 0.001 ? (hi - lo) : 0.001);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double extrap = 1 - ramp; /* 1 = keep (high frequency) */
            f = f / factor * (1 - extrap) + f * extrap;
            e->rope_attn_factor = (float)(0.1 * log(factor) + 1.0);
        }
        e->inv_freq[i] = (float)f;
    }
}
