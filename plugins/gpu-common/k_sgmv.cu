/* k_sgmv.cu — segmented multi-LoRA (SGMV): shrink and expand, one launch each
 * for all segments (see k_sgmv.h for the math and the argument layout).
 *
 * Both launches are the same small tiled product
 *     out[i][j] = sum_k in[i][k] * w[j][k]      (in and w row-major)
 * on a 32 x 32 output tile per block of 256 threads, k in steps of 32 staged
 * through shared memory, 2 x 2 outputs per thread, f32 accumulation:
 *   shrink: in = x rows of the segment, w = A_s [rank, k], out = t plane z
 *           (only k in chunk z: the long reduction over k is split across
 *           blocks so that small batches still fill the GPU; the planes are
 *           summed, in a fixed order, by the expand: deterministic, no atomics)
 *   expand: in = sum_z t plane z, w = B_s [ncols, rank], out = y (+=)
 * Grids: grid.z = segment, grid.y = row tile, grid.x = (rank tile, k chunk)
 * for the shrink and output column tile for the expand. Blocks whose tile lies
 * outside their segment (fewer rows, smaller rank) return at once, before any
 * barrier, so the launch shape depends only on n, max rows, k, ncols and the
 * split. No warp-level operations: identical for warp 32 and wave 64. */
#include "gpu_backend.h"
#include "k_sgmv.h"

#define SG_BM GPU_SGMV_TILE_ROWS /* rows per tile (in rows) */
#define SG_BN 32                 /* output columns per tile (w rows) */
#define SG_BK 32                 /* reduction step */
#define SG_THREADS 256           /* 16 x 16 threads, 2 x 2 outputs each */
#define SG_RANK_TILES (GPU_SGMV_MAX_RANK / SG_BN)

/* The loader below maps one thread index to (tile row, k) for both tiles. */
static_assert(SG_BM == 32 && SG_BN == 32 && SG_BK == 32, "loader assumes 32 x 32 tiles");
static_assert(SG_THREADS == 256, "16 x 16 threads with 2 x 2 outputs cover 32 x 32");
static_assert(GPU_SGMV_MAX_RANK % SG_BN == 0, "rank tiles");

/* acc[a][b] += sum over k in [kb, ke) of in[ty + 16a][k] * w[tx + 16b][k],
 * where tx = tid % 16, ty = tid / 16.
 *   in:  tile row r at in + r * in_stride; `nplanes` partial planes, plane z
 *        at + z * plane, are summed (1 = a plain matrix); rows >= in_rows read 0
 *   w:   tile row c at w + c * w_stride; rows >= w_rows read 0
 * Shared tiles are stored k-major with one pad column: the stores of a warp
 * (fixed r, kk = 0..31) and the reads (fixed kk) hit distinct banks or
 * broadcast. Every thread of the block must call this (it has barriers). */
__device__ static void sg_tile(const float *in, int64_t in_stride, int64_t plane, int nplanes, int in_rows,
                               const float *w, int64_t w_stride, int w_rows, int64_t kb, int64_t ke,
                               float (*in_s)[SG_BM + 1], float (*w_s)[SG_BN + 1], float acc[2][2]) {
    const int tid = (int)threadIdx.x, tx = tid % 16, ty = tid / 16;
    for (int64_t k0 = kb; k0 < ke; k0 += SG_BK) {
        /* 32 x 32 elements per tile, 4 per thread; consecutive threads read
         * consecutive k of one row (coalesced 128-byte rows). */
#pragma unroll
        for (int l = 0; l < (SG_BM * SG_BK) / SG_THREADS; l++) {
            const int idx = tid + SG_THREADS * l, r = idx / SG_BK, kk = idx % SG_BK;
            const int64_t gk = k0 + kk;
            float v = 0.0f, u = 0.0f;
            if (gk < ke) {
                if (r < in_rows) {
                    const float *p = in + (int64_t)r * in_stride + gk;
                    for (int z = 0; z < nplanes; z++) v += p[(int64_t)z * plane];
                }
                if (r < w_rows) u = w[(int64_t)r * w_stride + gk];
            }
            in_s[kk][r] = v;
            w_s[kk][r] = u;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < SG_BK; kk++) {
            const float a0 = in_s[kk][ty], a1 = in_s[kk][ty + 16];
            const float b0 = w_s[kk][tx], b1 = w_s[kk][tx + 16];
            acc[0][0] += a0 * b0;
            acc[0][1] += a0 * b1;
            acc[1][0] += a1 * b0;
            acc[1][1] += a1 * b1;
        }
        __syncthreads(); /* the next step overwrites the tiles */
    }
}

/* grid (SG_RANK_TILES * ksplit, row tiles of max_rows, n). */
__global__ static void k_sgmv_shrink(gpu_sgmv_args a) {
    __shared__ float in_s[SG_BK][SG_BM + 1];
    __shared__ float w_s[SG_BK][SG_BN + 1];
    const gpu_sgmv_seg sg = a.segs[blockIdx.z];
    const int rt = (int)(blockIdx.x % SG_RANK_TILES), z = (int)(blockIdx.x / SG_RANK_TILES);
    const int m0 = (int)blockIdx.y * SG_BM, j0 = rt * SG_BN;
    if (m0 >= sg.rows || j0 >= sg.rank) return; /* whole block: outside this segment */
    const int in_rows = sg.rows - m0 < SG_BM ? sg.rows - m0 : SG_BM;
    const int w_rows = sg.rank - j0 < SG_BN ? sg.rank - j0 : SG_BN;
    const int64_t kb = (int64_t)z * a.kchunk;
    const int64_t ke = kb + a.kchunk < a.k ? kb + a.kchunk : a.k; /* kb >= ke: empty, writes zeros */
    float acc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
    sg_tile(a.x + ((int64_t)sg.row0 + m0) * a.sx, a.sx, 0, 1, in_rows, sg.A + (int64_t)j0 * a.k, a.k, w_rows,
            kb, ke, in_s, w_s, acc);
    /* t plane z, segment block [rows][rank] */
    float *t = a.t + (int64_t)z * a.t_plane + sg.t_off;
    const int tx = (int)threadIdx.x % 16, ty = (int)threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = ty + 16 * i;
        if (r >= in_rows) continue;
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int c = tx + 16 * j;
            if (c < w_rows) t[(int64_t)(m0 + r) * sg.rank + j0 + c] = acc[i][j];
        }
    }
}

/* grid (column tiles of ncols, row tiles of max_rows, n). */
__global__ static void k_sgmv_expand(gpu_sgmv_args a) {
    __shared__ float in_s[SG_BK][SG_BM + 1];
    __shared__ float w_s[SG_BK][SG_BN + 1];
    const gpu_sgmv_seg sg = a.segs[blockIdx.z];
    const int64_t n0 = (int64_t)blockIdx.x * SG_BN; /* < ncols by the grid */
    const int m0 = (int)blockIdx.y * SG_BM;
    if (m0 >= sg.rows) return; /* whole block: outside this segment */
    const int in_rows = sg.rows - m0 < SG_BM ? sg.rows - m0 : SG_BM;
    const int w_rows = a.ncols - n0 < SG_BN ? (int)(a.ncols - n0) : SG_BN;
    float acc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
    sg_tile(a.t + sg.t_off + (int64_t)m0 * sg.rank, sg.rank, a.t_plane, a.ksplit, in_rows,
            sg.B + n0 * sg.rank, sg.rank, w_rows, 0, sg.rank, in_s, w_s, acc);
    const int tx = (int)threadIdx.x % 16, ty = (int)threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = ty + 16 * i;
        if (r >= in_rows) continue;
        float *yr = a.y + ((int64_t)sg.row0 + m0 + r) * a.sy + n0;
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int c = tx + 16 * j;
            if (c < w_rows) yr[c] += acc[i][j]; /* segments never overlap: one writer per element */
        }
    }
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void gpu_sgmv_plan_split(int64_t k, int32_t n, int32_t max_rows, int sm_count, int32_t *ksplit,
                         int64_t *kchunk) {
    if (k <= 0 || n <= 0 || max_rows <= 0) {
        *ksplit = 1;
        *kchunk = SG_BK;
        return;
    }
    /* Blocks of the shrink without a split (every rank tile counted). */
    const int64_t base = (int64_t)n * ceil_div(max_rows, SG_BM) * SG_RANK_TILES;
    int64_t want = sm_count > 0 ? ceil_div(sm_count, base) : 1; /* about one block per SM */
    if (want > GPU_SGMV_MAX_KSPLIT) want = GPU_SGMV_MAX_KSPLIT;
    if (want > ceil_div(k, 256)) want = ceil_div(k, 256); /* at least 256 of k per chunk */
    /* The expand reads every plane of its t tile: keep ksplit * rows small. */
    const int64_t by_rows = 512 / max_rows;
    if (want > by_rows) want = by_rows;
    if (want < 1) want = 1;
    const int64_t chunk = ceil_div(ceil_div(k, want), SG_BK) * SG_BK;
    *kchunk = chunk;
    *ksplit = (int32_t)ceil_div(k, chunk); /* <= want, >= 1, ksplit * chunk >= k */
}

static void check_grid(const gpu_sgmv_args *a) {
    if (a->n < 1 || a->n > GPU_SGMV_MAX_SEGMENTS || a->max_rows < 1 ||
        ceil_div(a->max_rows, SG_BM) > 65535 || a->ksplit < 1 || a->ksplit > GPU_SGMV_MAX_KSPLIT ||
        a->kchunk < 1 || (int64_t)a->ksplit * a->kchunk < a->k || ceil_div(a->ncols, SG_BN) > 0x7fffffff)
        gpu_throw(HIVE_E_INTERNAL, "sgmv: bad launch (n %d, max_rows %d, ksplit %d, kchunk %lld)", a->n,
                  a->max_rows, a->ksplit, (long long)a->kchunk);
}

void gpu_sgmv_shrink(gpuStream_t s, const gpu_sgmv_args *a) {
    check_grid(a);
    const dim3 grid((unsigned)(SG_RANK_TILES * a->ksplit), (unsigned)ceil_div(a->max_rows, SG_BM), (unsigned)a->n);
    k_sgmv_shrink<<<grid, SG_THREADS, 0, s>>>(*a);
    GPU_CHECK_LAUNCH("sgmv shrink");
}

void gpu_sgmv_expand(gpuStream_t s, const gpu_sgmv_args *a) {
    check_grid(a);
    if (a->ncols <= 0) return;
    const dim3 grid((unsigned)ceil_div(a->ncols, SG_BN), (unsigned)ceil_div(a->max_rows, SG_BM), (unsigned)a->n);
    k_sgmv_expand<<<grid, SG_THREADS, 0, s>>>(*a);
    GPU_CHECK_LAUNCH("sgmv expand");
}
