/* backend_sgmv.cu — segmented multi-LoRA extension (HIVE_EXT_LORA_SEGMENTS v1).
 * For each segment s: y[row0[s] .. row0[s] + rows[s]) += B[s] (A[s] x[same rows]).
 * Validates everything on the host, copies one descriptor per non-empty
 * segment to the device through gpu_stage(), keeps the intermediate t = x A^T
 * in dev->lora_t, and runs exactly two kernels for all segments together
 * (k_sgmv.cu: shrink, expand). The op entry runs inside gpu_guard_op()
 * (gpu_backend.h): nothing throws past the ABI. */
#include <algorithm>
#include <new>
#include <stdio.h>
#include <string.h>
#include <vector>

#include "gpu_backend.h"
#include "gpu_impl.h"
#include "k_sgmv.h"

/* A LoRA factor: f32, `rows` x `cols` as given, contiguous rows. */
static void check_factor(const hive_weight *w, const char *name, uint32_t s, int64_t rows, int64_t cols) {
    if (!w) gpu_throw(HIVE_E_INVALID, "lora_segments: segment %u: missing %s", s, name);
    if (w->dtype != HIVE_DTYPE_F32)
        gpu_throw(HIVE_E_UNSUPPORTED, "lora_segments: segment %u: %s must be f32 (dtype %u)", s, name, w->dtype);
    if (w->rows != rows || w->cols != cols)
        gpu_throw(HIVE_E_SHAPE, "lora_segments: segment %u: %s is %lldx%lld, expected %lldx%lld", s, name,
                  (long long)w->rows, (long long)w->cols, (long long)rows, (long long)cols);
    if (!w->data || w->row_bytes != (uint64_t)cols * sizeof(float))
        gpu_throw(HIVE_E_INTERNAL, "lora_segments: segment %u: %s has no contiguous f32 data", s, name);
}

static void lora_segments(hive_device *dev, const hive_tensor *x, const hive_tensor *y, uint32_t n,
                          const int32_t *row0, const int32_t *rows, const hive_weight *const *A,
                          const hive_weight *const *B) {
    if (!dev) gpu_throw(HIVE_E_INVALID, "lora_segments: null device");
    const float *xp = gpu_tensor_ptr(x, "lora_segments x");
    float *yp = gpu_tensor_ptr(y, "lora_segments y");
    if (x->rows != y->rows)
        gpu_throw(HIVE_E_SHAPE, "lora_segments: x has %lld rows, y %lld", (long long)x->rows, (long long)y->rows);
    if (n == 0) return;
    if (!row0 || !rows || !A || !B) gpu_throw(HIVE_E_INVALID, "lora_segments: missing segment arrays");
    if (n > GPU_SGMV_MAX_SEGMENTS)
        gpu_throw(HIVE_E_UNSUPPORTED, "lora_segments: %u segments (at most %d)", n, GPU_SGMV_MAX_SEGMENTS);
    const int64_t total_rows = x->rows, k = x->cols, ncols = y->cols;

    /* Per segment: bounds and factor shapes; collect the non-empty ones. */
    std::vector<gpu_sgmv_seg> segs;
    segs.reserve(n);
    int64_t t_plane = 0;
    int32_t max_rows = 0;
    for (uint32_t s = 0; s < n; s++) {
        if (row0[s] < 0 || rows[s] < 0 || (int64_t)row0[s] + rows[s] > total_rows)
            gpu_throw(HIVE_E_INVALID, "lora_segments: segment %u rows [%d, %lld) outside [0, %lld)", s, row0[s],
                      (long long)row0[s] + rows[s], (long long)total_rows);
        const int64_t rank = A[s] ? A[s]->rows : 0;
        if (A[s] && (rank < 1 || rank > GPU_SGMV_MAX_RANK))
            gpu_throw(HIVE_E_SHAPE, "lora_segments: segment %u: rank %lld outside [1, %d]", s, (long long)rank,
                      GPU_SGMV_MAX_RANK);
        check_factor(A[s], "A", s, rank, k);
        check_factor(B[s], "B", s, ncols, rank);
        if (rows[s] == 0) continue;
        gpu_sgmv_seg g;
        memset(&g, 0, sizeof g);
        g.row0 = row0[s];
        g.rows = rows[s];
        g.rank = (int32_t)rank;
        g.A = (const float *)A[s]->data;
        g.B = (const float *)B[s]->data;
        g.t_off = t_plane;
        t_plane += (int64_t)rows[s] * rank;
        if (rows[s] > max_rows) max_rows = rows[s];
        segs.push_back(g);
    }

    /* Non-overlap: sorted by first row, each segment ends before the next starts. */
    std::vector<gpu_sgmv_seg> sorted(segs);
    std::sort(sorted.begin(), sorted.end(),
              [](const gpu_sgmv_seg &p, const gpu_sgmv_seg &q) { return p.row0 < q.row0; });
    for (size_t i = 1; i < sorted.size(); i++)
        if ((int64_t)sorted[i - 1].row0 + sorted[i - 1].rows > sorted[i].row0)
            gpu_throw(HIVE_E_INVALID, "lora_segments: segments at rows [%d, %d) and [%d, %d) overlap",
                      sorted[i - 1].row0, sorted[i - 1].row0 + sorted[i - 1].rows, sorted[i].row0,
                      sorted[i].row0 + sorted[i].rows);
    if (segs.empty() || ncols == 0) return; /* nothing to add */

    gpu_sgmv_args a;
    memset(&a, 0, sizeof a);
    a.n = (int32_t)segs.size();
    a.max_rows = max_rows;
    a.x = xp;
    a.sx = x->row_stride;
    a.k = k;
    a.y = yp;
    a.sy = y->row_stride;
    a.ncols = ncols;
    a.t_plane = t_plane;
    gpu_sgmv_plan_split(k, a.n, max_rows, dev->sm_count, &a.ksplit, &a.kchunk);

    GPU_CHECK(gpuSetDevice(dev->index));
    /* Grow-only; sized by the largest call seen (prefill), then no allocation. */
    gpu_scratch_ensure(dev, &dev->lora_t, (size_t)a.ksplit * (size_t)t_plane * sizeof(float));
    a.t = (float *)dev->lora_t.ptr;
    const gpu_stage_part part = {segs.data(), segs.size() * sizeof(gpu_sgmv_seg)};
    void *dsegs = nullptr;
    gpu_stage(dev, &part, 1, &dsegs);
    a.segs = (const gpu_sgmv_seg *)dsegs;
    gpu_sgmv_shrink(dev->stream, &a);
    gpu_sgmv_expand(dev->stream, &a);
}

extern "C" {
static hive_status api_lora_segments(hive_device *dev, const hive_tensor *x, const hive_tensor *y, uint32_t n,
                                     const int32_t *row0, const int32_t *rows, const hive_weight *const *A,
                                     const hive_weight *const *B, hive_error **err) {
    /* gpu_guard_op: every exception becomes hive_status + hive_error, and a
     * failure while the device captures a graph poisons that capture. */
    return gpu_guard_op(dev, err, [&] { lora_segments(dev, x, y, n, row0, rows, A, B); });
}
}

static const hive_ext_lora_segments k_lora_segments = {
    sizeof(hive_ext_lora_segments), 1, GPU_SGMV_MAX_RANK, 0, api_lora_segments,
};

const hive_ext_lora_segments *gpu_ext_lora_segments(void) { return &k_lora_segments; }
