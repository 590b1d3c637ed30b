/* k_gemv.cu — decode matmul (m <= GPU_GEMV_MAX_ROWS rows of x) straight from the
 * stored weight format. gpu_gemv (any format, used for the quantized ones): one
 * warp per output feature, each lane decodes 32-element chunks of the weight row
 * and dots them with every x row (f32 accumulation). gpu_gemv_plain (f32, f16,
 * bf16): 16-byte weight loads, see below. */
#include "gpu_backend.h"
#include "gpu_kernels.h"
#include "k_quant.cuh"

#define GEMV_WARPS 4

__global__ static void k_gemv(uint32_t dtype, const uint8_t *w, uint64_t row_bytes, int64_t n, int64_t k,
                              const float *x, int64_t sx, int m, const float *bias, float alpha,
                              float beta, float *out, int64_t so) {
    const int lane = threadIdx.x % GPU_WARP;
    const int64_t col = (int64_t)blockIdx.x * GEMV_WARPS + threadIdx.x / GPU_WARP;
    if (col >= n) return; /* whole warp leaves together */
    const uint8_t *row = w + (uint64_t)col * row_bytes;
    const int64_t chunks = (k + 31) / 32;
    float acc[GPU_GEMV_MAX_ROWS];
#pragma unroll
    for (int r = 0; r < GPU_GEMV_MAX_ROWS; r++) acc[r] = 0.0f;
    for (int64_t c = lane; c < chunks; c += GPU_WARP) {
        float v[32];
        gpu_load_chunk(dtype, row, c, k, v);
        const int64_t e0 = c * 32;
        const int left = k - e0 < 32 ? (int)(k - e0) : 32;
#pragma unroll
        for (int r = 0; r < GPU_GEMV_MAX_ROWS; r++) {
            if (r < m) {
                const float *xr = x + r * sx + e0;
                float t = 0.0f;
                if (left == 32) {
#pragma unroll
                    for (int i = 0; i < 32; i++) t += v[i] * xr[i];
                } else {
                    for (int i = 0; i < left; i++) t += v[i] * xr[i];
                }
                acc[r] += t;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < GPU_GEMV_MAX_ROWS; r++) {
        if (r < m) {
            const float s = gpu_warp_sum(acc[r]);
            if (lane == 0) {
                float *o = out + r * so + col;
                const float y = alpha * (s + (bias ? bias[col] : 0.0f));
                *o = beta != 0.0f ? y + beta * *o : y;
            }
        }
    }
}

void gpu_gemv(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t n, int64_t k,
              const float *x, int64_t sx, int64_t m, const float *bias, float alpha, float beta,
              float *out, int64_t so) {
    if (n <= 0 || m <= 0) return;
    for (int64_t r0 = 0; r0 < m; r0 += GPU_GEMV_MAX_ROWS) {
        const int mm = (int)(m - r0 < GPU_GEMV_MAX_ROWS ? m - r0 : GPU_GEMV_MAX_ROWS);
        const unsigned blocks = (unsigned)((n + GEMV_WARPS - 1) / GEMV_WARPS);
        k_gemv<<<blocks, GEMV_WARPS * GPU_WARP, 0, s>>>(dtype, (const uint8_t *)w, row_bytes, n, k,
                                                         x + r0 * sx, sx, mm, bias, alpha, beta,
                                                         out + r0 * so, so);
        GPU_CHECK_LAUNCH("gemv");
    }
}

/* --------------------------------------------------- f32 / f16 / bf16 weights -- */
/* Decode GEMV for plain weights (gpu_gemv_plain): reads the f32 activations
 * directly (no conversion pass), each weight row in 16-byte loads (8 f16/bf16
 * or 4 f32 per thread and step, streamed past L1 on CUDA), f32 accumulation,
 * and all m <= 8 rows of x in one pass over the weights. A group of S warps
 * owns R output rows: its S*GPU_WARP threads split the row's 16-byte steps
 * round robin (U steps in flight per thread), reduce with warp shuffles and,
 * when S > 1, through shared memory. Rows that start off 16-byte boundaries
 * (row_bytes % 16 != 0) take the scalar variant (VEC = false: one element per
 * thread and step); x rows off 16-byte boundaries are read with scalar loads
 * (XV = false). Launch shapes depend on n, k, m and alignment only. */

#define PG_WARPS 4 /* warps per block */
#define PG_F32 0
#define PG_F16 1
#define PG_BF16 2

__device__ __forceinline__ float pg_h(uint16_t b) {
    gpu_half h;
    __builtin_memcpy(&h, &b, 2);
    return gpu_h2f(h);
}

/* 16 bytes of weights -> 4 (f32) or 8 (f16, bf16) floats, element 0 first. */
template <int DT>
__device__ __forceinline__ void pg_unpack(const uint4 &q, float *v) {
    const uint32_t u[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if constexpr (DT == PG_F32) {
            v[i] = __uint_as_float(u[i]);
        } else if constexpr (DT == PG_F16) {
            v[2 * i] = pg_h((uint16_t)(u[i] & 0xffffu));
            v[2 * i + 1] = pg_h((uint16_t)(u[i] >> 16));
        } else {
            v[2 * i] = __uint_as_float(u[i] << 16);
            v[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
        }
    }
}

/* Element e of a row (scalar loads: tails and unaligned rows). */
template <int DT>
__device__ __forceinline__ float pg_load1(const uint8_t *row, int64_t e) {
    if constexpr (DT == PG_F32) return ((const float *)row)[e];
    else if constexpr (DT == PG_F16) return gpu_h2f(((const gpu_half *)row)[e]);
    else return gpu_bf2f(((const uint16_t *)row)[e]);
}

/* Weights are read once per call: evict-first, keep L1 for x. */
__device__ __forceinline__ uint4 pg_ld_stream(const uint8_t *p) {
#if GPU_IS_HIP
    return *(const uint4 *)p;
#else
    return __ldcs((const uint4 *)p);
#endif
}

template <bool VEC> struct pg_raw { typedef uint4 type; };
template <> struct pg_raw<false> { typedef float type; };

/* DT: PG_F32/F16/BF16. R: output rows per warp group. S: warps per group
 * (PG_WARPS % S == 0). VEC: 16-byte weight loads (rows 16-byte aligned).
 * XV: 16-byte x loads (x rows 16-byte aligned; only with VEC). */
template <int DT, int R, int S, bool VEC, bool XV>
__global__ static void __launch_bounds__(PG_WARPS *GPU_WARP)
    k_gemv_plain(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t n, int64_t k,
                 const float *__restrict__ x, int64_t sx, int m, const float *__restrict__ bias, float alpha,
                 float beta, float *__restrict__ out, int64_t so) {
    constexpr int EB = DT == PG_F32 ? 4 : 2;  /* bytes per element */
    constexpr int VE = VEC ? 16 / EB : 1;     /* elements per thread and step */
    constexpr int U = VEC ? 4 / R : 8 / R;    /* steps in flight per thread */
    constexpr int T = S * GPU_WARP;           /* threads per group */
    constexpr int M = GPU_GEMV_MAX_ROWS;
    static_assert(PG_WARPS % S == 0 && R * M <= GPU_WARP && (!XV || VEC), "k_gemv_plain shape");
    const int lane = threadIdx.x % GPU_WARP, warp = threadIdx.x / GPU_WARP;
    const int t = (warp % S) * GPU_WARP + lane;
    const int64_t row0 = ((int64_t)blockIdx.x * (PG_WARPS / S) + warp / S) * R;
    if constexpr (S == 1) {
        if (row0 >= n) return; /* the whole warp; no block barrier follows */
    }
    /* Rows past n (last group) read row n-1 and are not written. */
    const uint8_t *wr[R];
#pragma unroll
    for (int rr = 0; rr < R; rr++) {
        const int64_t row = row0 + rr < n ? row0 + rr : n - 1;
        wr[rr] = w + (uint64_t)row * row_bytes;
    }
    float acc[R][M];
#pragma unroll
    for (int rr = 0; rr < R; rr++)
#pragma unroll
        for (int r = 0; r < M; r++) acc[rr][r] = 0.0f;

    const int64_t nv = k / VE; /* whole steps per row */
    for (int64_t c0 = t; c0 < nv; c0 += (int64_t)U * T) {
        typename pg_raw<VEC>::type q[U][R];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t c = c0 + (int64_t)u * T;
#pragma unroll
            for (int rr = 0; rr < R; rr++) {
                if constexpr (VEC) q[u][rr] = c < nv ? pg_ld_stream(wr[rr] + c * 16) : make_uint4(0u, 0u, 0u, 0u);
                else q[u][rr] = c < nv ? pg_load1<DT>(wr[rr], c) : 0.0f;
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t c = c0 + (int64_t)u * T;
            if (c < nv) {
                float wf[R][VE];
#pragma unroll
                for (int rr = 0; rr < R; rr++) {
                    if constexpr (VEC) pg_unpack<DT>(q[u][rr], wf[rr]);
                    else wf[rr][0] = q[u][rr];
                }
                const int64_t e0 = c * VE;
#pragma unroll
                for (int r = 0; r < M; r++) {
                    if (r < m) {
                        const float *xr = x + r * sx + e0;
                        float xv[VE];
                        if constexpr (XV) {
#pragma unroll
                            for (int j = 0; j < VE / 4; j++) {
                                const float4 f = ((const float4 *)xr)[j];
                                xv[4 * j] = f.x;
                                xv[4 * j + 1] = f.y;
                                xv[4 * j + 2] = f.z;
                                xv[4 * j + 3] = f.w;
                            }
                        } else {
#pragma unroll
                            for (int i = 0; i < VE; i++) xv[i] = xr[i];
                        }
#pragma unroll
                        for (int rr = 0; rr < R; rr++)
#pragma unroll
                            for (int i = 0; i < VE; i++) acc[rr][r] = fmaf(wf[rr][i], xv[i], acc[rr][r]);
                    }
                }
            }
        }
    }
    if constexpr (VEC) {
        /* k % VE trailing elements (rows padded past k): one per thread */
        const int64_t e = nv * VE + t;
        if (e < k) {
            float wf[R];
#pragma unroll
            for (int rr = 0; rr < R; rr++) wf[rr] = pg_load1<DT>(wr[rr], e);
#pragma unroll
            for (int r = 0; r < M; r++) {
                if (r < m) {
                    const float xe = x[r * sx + e];
#pragma unroll
                    for (int rr = 0; rr < R; rr++) acc[rr][r] = fmaf(wf[rr], xe, acc[rr][r]);
                }
            }
        }
    }

    /* Every lane gets every sum; lane r*R + rr keeps output (rr, r). */
    float mine = 0.0f;
#pragma unroll
    for (int r = 0; r < M; r++) {
        if (r < m) {
#pragma unroll
            for (int rr = 0; rr < R; rr++) {
                const float v = gpu_warp_sum(acc[rr][r]);
                if (lane == r * R + rr) mine = v;
            }
        }
    }
    if constexpr (S > 1) {
        __shared__ float red[PG_WARPS][R * M];
        if (lane < R * m) red[warp][lane] = mine;
        __syncthreads();
        if (warp % S != 0) return;
#pragma unroll
        for (int q = 1; q < S; q++)
            if (lane < R * m) mine += red[warp + q][lane];
    }
    if (lane < R * m) {
        const int r = lane / R, rr = lane % R;
        const int64_t col = row0 + rr;
        if (col < n) {
            float *o = out + r * so + col;
            const float y = alpha * (mine + (bias ? bias[col] : 0.0f));
            *o = beta != 0.0f ? y + beta * *o : y;
        }
    }
}

struct pg_args {
    const uint8_t *w;
    uint64_t row_bytes;
    int64_t n, k;
    const float *x;
    int64_t sx;
    int m;
    const float *bias;
    float alpha, beta;
    float *out;
    int64_t so;
};

template <int DT, int R, int S, bool VEC, bool XV>
static void pg_launch(gpuStream_t s, const pg_args &a) {
    const int64_t per_block = (int64_t)R * (PG_WARPS / S);
    const int64_t blocks = (a.n + per_block - 1) / per_block;
    if (blocks > 0x7fffffffLL) gpu_throw(HIVE_E_UNSUPPORTED, "gemv: %lld output rows", (long long)a.n);
    k_gemv_plain<DT, R, S, VEC, XV><<<(unsigned)blocks, PG_WARPS * GPU_WARP, 0, s>>>(
        a.w, a.row_bytes, a.n, a.k, a.x, a.sx, a.m, a.bias, a.alpha, a.beta, a.out, a.so);
    GPU_CHECK_LAUNCH("gemv plain");
}

template <int DT, bool XV>
static void pg_dispatch_vec(gpuStream_t s, int R, int S, const pg_args &a) {
    if (R == 2) pg_launch<DT, 2, 1, true, XV>(s, a);
    else if (S == 4) pg_launch<DT, 1, 4, true, XV>(s, a);
    else if (S == 2) pg_launch<DT, 1, 2, true, XV>(s, a);
    else pg_launch<DT, 1, 1, true, XV>(s, a);
}

template <int DT>
static void pg_dispatch(gpuStream_t s, bool vec, bool xv, int R, int S, const pg_args &a) {
    if (!vec) pg_launch<DT, 1, 1, false, false>(s, a);
    else if (xv) pg_dispatch_vec<DT, true>(s, R, S, a);
    else pg_dispatch_vec<DT, false>(s, R, S, a);
}

void gpu_gemv_plain(gpuStream_t s, int sm_count, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t n,
                    int64_t k, const float *x, int64_t sx, int64_t m, const float *bias, float alpha, float beta,
                    float *out, int64_t so) {
    if (n <= 0 || m <= 0) return;
    if (dtype != HIVE_DTYPE_F32 && dtype != HIVE_DTYPE_F16 && dtype != HIVE_DTYPE_BF16)
        gpu_throw(HIVE_E_INTERNAL, "gemv plain: dtype %u", dtype);
    const bool vec = (uintptr_t)w % 16 == 0 && row_bytes % 16 == 0;
    /* Shape: 16 warps per SM keep about 32 KiB of weight loads in flight per SM.
     * Enough rows: 2 rows per warp (x loads shared by both). Few rows: 2 or 4
     * warps share a row's k steps, as long as each thread still has one. */
    const int64_t want = (int64_t)(sm_count > 0 ? sm_count : 1) * 16;
    const int64_t steps = k / (dtype == HIVE_DTYPE_F32 ? 4 : 8);
    int R = 1, S = 1;
    if (vec) {
        if (n >= 2 * want) R = 2;
        else if (n < want) S = steps >= 4 * GPU_WARP ? 4 : steps >= 2 * GPU_WARP ? 2 : 1;
    }
    for (int64_t r0 = 0; r0 < m; r0 += GPU_GEMV_MAX_ROWS) {
        pg_args a;
        a.w = (const uint8_t *)w;
        a.row_bytes = row_bytes;
        a.n = n;
        a.k = k;
        a.x = x + r0 * sx;
        a.sx = sx;
        a.m = (int)(m - r0 < GPU_GEMV_MAX_ROWS ? m - r0 : GPU_GEMV_MAX_ROWS);
        a.bias = bias;
        a.alpha = alpha;
        a.beta = beta;
        a.out = out + r0 * so;
        a.so = so;
        const bool xv = vec && (uintptr_t)a.x % 16 == 0 && (a.m == 1 || sx % 4 == 0);
        switch (dtype) {
        case HIVE_DTYPE_F32: pg_dispatch<PG_F32>(s, vec, xv, R, S, a); break;
        case HIVE_DTYPE_F16: pg_dispatch<PG_F16>(s, vec, xv, R, S, a); break;
        default: pg_dispatch<PG_BF16>(s, vec, xv, R, S, a); break;
        }
    }
}
