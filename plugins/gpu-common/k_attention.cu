/* k_attention.cu — paged KV store and causal attention over the paged cache.
 *
 * Layout of one layer of the cache: [block][kv_head][slot][dim] (f16 or f32).
 * Attention works on "items": up to GPU_ATT_PAIRS (row, q-head) pairs of one
 * sequence that share one kv head (GQA heads of a decode row, or several prompt
 * rows of a prefill). A block runs one item over one split of the positions:
 * it streams K/V tiles of ATT_TILE slots through shared memory once for all its
 * pairs (one warp per pair, online softmax, causal mask per row). With more than
 * one split (flash-decoding), partials (acc, max, sum) are merged by k_combine.
 * Under graph capture the items are built from indices only (one row each) and
 * the kernel reads seq / position per row (gpu_att_args.row_seq). */
#include "gpu_backend.h"
#include "gpu_kernels.h"

#define ATT_TILE 16
#define ATT_SUB (GPU_WARP / ATT_TILE)              /* lanes per score */
#define ATT_MAXI (GPU_MAX_HEAD_DIM / GPU_WARP)     /* dims per lane */

__device__ __forceinline__ float kv_ld(const gpu_half *p) { return gpu_h2f(*p); }
__device__ __forceinline__ float kv_ld(const float *p) { return *p; }
__device__ __forceinline__ void kv_st(gpu_half *p, float v) { *p = gpu_f2h(v); }
__device__ __forceinline__ void kv_st(float *p, float v) { *p = v; }

template <typename KT>
__global__ static void k_kv_store(KT *kc, KT *vc, uint32_t bs, uint32_t n_kv, uint32_t hd,
                                  const float *k, int64_t sk, const float *v, int64_t sv,
                                  const int32_t *row_seq, const int32_t *row_pos,
                                  const int32_t *bt, uint32_t max_blocks) {
    const int64_t r = blockIdx.x;
    const int32_t pos = row_pos[r];
    const int64_t blk = bt[(int64_t)row_seq[r] * max_blocks + pos / (int32_t)bs];
    const int64_t slot = pos % (int32_t)bs;
    const int64_t width = (int64_t)n_kv * hd;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        const int64_t h = i / hd, d = i % hd;
        const int64_t off = ((blk * n_kv + h) * bs + slot) * hd + d;
        kv_st(kc + off, k[r * sk + i]);
        kv_st(vc + off, v[r * sv + i]);
    }
}

void gpu_kv_store(gpuStream_t s, const gpu_kv_view *kv, const float *k, int64_t sk, const float *v,
                  int64_t sv, int64_t rows, const int32_t *row_seq, const int32_t *row_pos,
                  const int32_t *block_table, uint32_t max_blocks) {
    if (rows <= 0) return;
    if (kv->f16)
        k_kv_store<gpu_half><<<(unsigned)rows, 256, 0, s>>>((gpu_half *)kv->k, (gpu_half *)kv->v, kv->block_size,
                                                            kv->n_kv_heads, kv->head_dim, k, sk, v, sv,
                                                            row_seq, row_pos, block_table, max_blocks);
    else
        k_kv_store<float><<<(unsigned)rows, 256, 0, s>>>((float *)kv->k, (float *)kv->v, kv->block_size,
                                                         kv->n_kv_heads, kv->head_dim, k, sk, v, sv, row_seq,
                                                         row_pos, block_table, max_blocks);
    GPU_CHECK_LAUNCH("kv_store");
}

template <typename KT>
__global__ static void k_attn(const KT *kc, const KT *vc, uint32_t bs, uint32_t n_kv, int D,
                              gpu_att_args a) {
    extern __shared__ float sm[];
    const int DP = D + 1;
    float *ks = sm;                    /* [ATT_TILE][DP] */
    float *vs = ks + ATT_TILE * DP;    /* [ATT_TILE][DP] */
    float *qs = vs + ATT_TILE * DP;    /* [GPU_ATT_PAIRS][D] */
    const gpu_att_item it = a.items[blockIdx.x];
    const int sp = blockIdx.y;
    const int w = threadIdx.x / GPU_WARP, lane = threadIdx.x % GPU_WARP;
    const bool active = w < it.n_pairs;
    const int64_t row = active ? it.row[w] : 0;
    const int64_t head = active ? it.head[w] : 0;
    const int32_t my_pos = active ? a.row_pos[row] : -1;
    if (active)
        for (int d = lane; d < D; d += GPU_WARP) qs[w * D + d] = a.q[row * a.sq + head * D + d] * a.scale;

    /* Eager items carry their sequence and longest position; graph items hold
     * one row, whose sequence and position are read here (the host rewrites
     * them between replays). A split starting past max_pos loads nothing and
     * leaves l = 0, which k_combine skips. */
    int32_t seq = it.seq, max_pos = it.max_pos;
    if (a.row_seq) {
        seq = a.row_seq[it.row[0]];
        max_pos = a.row_pos[it.row[0]];
    }
    const int32_t start = sp * a.split_len;
    const int32_t end = min(start + a.split_len, max_pos + 1);
    const int32_t *bt = a.block_table + (int64_t)seq * a.max_blocks;
    const int64_t kh = it.kv_head;
    const int j = lane / ATT_SUB, part = lane % ATT_SUB;
    float m = -INFINITY, l = 0.0f, acc[ATT_MAXI];
#pragma unroll
    for (int i = 0; i < ATT_MAXI; i++) acc[i] = 0.0f;
    __syncthreads();

    for (int32_t t0 = start; t0 < end; t0 += ATT_TILE) {
        for (int idx = threadIdx.x; idx < ATT_TILE * D; idx += blockDim.x) {
            const int jj = idx / D, d = idx % D;
            const int32_t t = t0 + jj;
            float kk = 0.0f, vv = 0.0f;
            if (t < end) {
                const int64_t blk = bt[t / (int32_t)bs];
                const int64_t off = ((blk * n_kv + kh) * bs + t % (int32_t)bs) * D + d;
                kk = kv_ld(kc + off);
                vv = kv_ld(vc + off);
            }
            ks[jj * DP + d] = kk;
            vs[jj * DP + d] = vv;
        }
        __syncthreads();
        if (active && t0 <= my_pos) { /* warp-uniform */
            float sc = 0.0f;
            for (int d = part; d < D; d += ATT_SUB) sc += qs[w * D + d] * ks[j * DP + d];
#pragma unroll
            for (int mm = ATT_SUB / 2; mm > 0; mm >>= 1) sc += gpu_shfl_xor(sc, mm);
            const int32_t t = t0 + j;
            if (t > my_pos || t >= end) sc = -INFINITY;
            const float new_m = fmaxf(m, gpu_warp_max(sc));
            const float corr = __expf(m - new_m);
            const float p = sc == -INFINITY ? 0.0f : __expf(sc - new_m);
            l = l * corr + gpu_warp_sum(part == 0 ? p : 0.0f);
#pragma unroll
            for (int i = 0; i < ATT_MAXI; i++) acc[i] *= corr;
            for (int jj = 0; jj < ATT_TILE; jj++) {
                const float pj = gpu_shfl(p, jj * ATT_SUB);
#pragma unroll
                for (int i = 0; i < ATT_MAXI; i++) {
                    const int d = lane + GPU_WARP * i;
                    if (d < D) acc[i] += pj * vs[jj * DP + d];
                }
            }
            m = new_m;
        }
        __syncthreads();
    }
    if (!active) return;
    if (a.n_splits == 1) {
        float *o = a.out + row * a.so + head * D;
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
        for (int i = 0; i < ATT_MAXI; i++) {
            const int d = lane + GPU_WARP * i;
            if (d < D) o[d] = acc[i] * inv;
        }
    } else {
        float *pp = a.part + ((row * a.n_heads + head) * a.n_splits + sp) * (int64_t)(D + 2);
#pragma unroll
        for (int i = 0; i < ATT_MAXI; i++) {
            const int d = lane + GPU_WARP * i;
            if (d < D) pp[d] = acc[i];
        }
        if (lane == 0) {
            pp[D] = m;
            pp[D + 1] = l;
        }
    }
}

__global__ static void k_combine(int D, gpu_att_args a) {
    const int64_t r = blockIdx.x / a.n_heads, h = blockIdx.x % a.n_heads;
    const float *pp = a.part + (int64_t)blockIdx.x * a.n_splits * (D + 2);
    float M = -INFINITY;
    for (int s = 0; s < a.n_splits; s++)
        if (pp[s * (D + 2) + D + 1] > 0.0f) M = fmaxf(M, pp[s * (D + 2) + D]);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float L = 0.0f, o = 0.0f;
        for (int s = 0; s < a.n_splits; s++) {
            const float *q = pp + s * (D + 2);
            if (q[D + 1] > 0.0f) {
                const float e = __expf(q[D] - M);
                L += q[D + 1] * e;
                o += q[d] * e;
            }
        }
        a.out[r * a.so + h * D + d] = L > 0.0f ? o / L : 0.0f;
    }
}

void gpu_attention(gpuStream_t s, const gpu_kv_view *kv, const gpu_att_args *a) {
    if (a->n_items <= 0) return;
    const int D = (int)kv->head_dim;
    const size_t smem = (size_t)(2 * ATT_TILE * (D + 1) + GPU_ATT_PAIRS * D) * sizeof(float);
    const dim3 grid((unsigned)a->n_items, (unsigned)a->n_splits);
    const unsigned threads = GPU_ATT_PAIRS * GPU_WARP;
    if (kv->f16)
        k_attn<gpu_half><<<grid, threads, smem, s>>>((const gpu_half *)kv->k, (const gpu_half *)kv->v,
                                                     kv->block_size, kv->n_kv_heads, D, *a);
    else
        k_attn<float><<<grid, threads, smem, s>>>((const float *)kv->k, (const float *)kv->v, kv->block_size,
                                                  kv->n_kv_heads, D, *a);
    GPU_CHECK_LAUNCH("attention");
    if (a->n_splits > 1) {
        k_combine<<<(unsigned)(a->rows * a->n_heads), D < 256 ? D : 256, 0, s>>>(D, *a);
        GPU_CHECK_LAUNCH("attention_combine");
    }
}
