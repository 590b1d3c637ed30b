/* k_rope.cu — rotary embedding in place. NORMAL rotates pairs (2i, 2i+1), NEOX
 * pairs (i, i + rot_dims/2); angle = pos * inv_freq[i]; rotated values are scaled
 * by attn_factor (YaRN mscale), dims past rot_dims are left untouched. */
#include "gpu_backend.h"
#include "gpu_kernels.h"

__global__ static void k_rope(float *x, int64_t sx, int64_t rows, uint32_t mode, uint32_t n_heads,
                              uint32_t head_dim, uint32_t rot_dims, float attn_factor,
                              const float *inv_freq, const int32_t *pos) {
    const uint32_t half = rot_dims / 2;
    const int64_t total = rows * n_heads * half;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        const uint32_t i = (uint32_t)(t % half);
        const int64_t rh = t / half;
        const uint32_t h = (uint32_t)(rh % n_heads);
        const int64_t r = rh / n_heads;
        float *hp = x + r * sx + (int64_t)h * head_dim;
        const float theta = (float)pos[r] * inv_freq[i];
        float sn, cs;
        sincosf(theta, &sn, &cs);
        cs *= attn_factor;
        sn *= attn_factor;
        const uint32_t i0 = mode == HIVE_ROPE_NEOX ? i : 2 * i;
        const uint32_t i1 = mode == HIVE_ROPE_NEOX ? i + half : 2 * i + 1;
        const float a = hp[i0], b = hp[i1];
        hp[i0] = a * cs - b * sn;
        hp[i1] = a * sn + b * cs;
    }
}

void gpu_rope(gpuStream_t s, float *x, int64_t sx, int64_t rows, uint32_t mode, uint32_t n_heads,
              uint32_t head_dim, uint32_t rot_dims, float attn_factor, const float *inv_freq,
              const int32_t *pos) {
    const int64_t total = rows * n_heads * (rot_dims / 2);
    if (total <= 0) return;
    int64_t blocks = (total + 255) / 256;
    if (blocks > 1 << 20) blocks = 1 << 20;
    k_rope<<<(unsigned)blocks, 256, 0, s>>>(x, sx, rows, mode, n_heads, head_dim, rot_dims, attn_factor,
                                            inv_freq, pos);
    GPU_CHECK_LAUNCH("rope");
}
