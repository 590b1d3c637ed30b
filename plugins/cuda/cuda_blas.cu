/* cuda_blas.cu — the CUDA vendor hooks: GEMM for f32/f16/bf16 weights through
 * cuBLASLt (cublasLtMatmul), f32 output, f32 compute (CUBLAS_COMPUTE_32F) and
 * f32 scale, with cublasGemmEx as the fallback for shapes cuBLASLt declines.
 *
 * Per device (dev->vendor -> cuda_vendor): one cuBLAS handle and one cuBLASLt
 * handle, both on the device stream, one 32 MiB workspace allocated at open
 * and shared by both (same stream, so never used concurrently), and a table of
 * 64 plans: matmul descriptor + layouts + the heuristic's algorithm per shape
 * key (dtype, m, n, k, ldx, ldc, pointer alignments), evicted least recently
 * used. Steady-state decode therefore runs no heuristic query and nothing in
 * the GEMM path allocates device memory (safe inside stream capture).
 *
 * Row-major out[m,n] = x[m,k] w[n,k]^T is column-major
 * out^T[n,m] = op_T(W)[n,k] * X^T[k,m], where W is w read as a column-major
 * k x n matrix (ld k), X^T is x read as column-major k x m (ld ldx) and out^T
 * is column-major n x m (ld ldc): A = w (transa T), B = x (transb N), C = D = c.
 *
 * Errors throw gpu_exc (gpu_throw) with the cuBLAS status text; never abort. */
#include <climits>
#include <stdint.h>
#include <string.h>

#include <cublasLt.h>
#include <cublas_v2.h>

#include "gpu_backend.h"
#include "gpu_entry.h"

#define LT_WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLAS' recommendation for Hopper */
#define LT_PLANS 64

static hive_status blas_code(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_ALLOC_FAILED: return HIVE_E_NOMEM;
    case CUBLAS_STATUS_NOT_SUPPORTED: return HIVE_E_UNSUPPORTED;
    default: return HIVE_E_DEVICE;
    }
}

#define BLAS_CHECK(call)                                                                          \
    do {                                                                                          \
        cublasStatus_t s_ = (call);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                          \
            gpu_throw(blas_code(s_), "cuBLAS %s (%s)", cublasGetStatusString(s_), #call);         \
    } while (0)

/* ------------------------------------------------------------- plans -- */
/* Everything the descriptors and the heuristic's choice depend on. The
 * alignments (largest power of two <= 256 dividing each address) matter
 * because the heuristic may pick kernels that need 16..256-byte alignment. */
struct lt_key {
    uint32_t dtype;
    int64_t m, n, k, ldx, ldc;
    uint32_t align_w, align_x, align_c;
};

static bool key_eq(const lt_key &p, const lt_key &q) {
    return p.dtype == q.dtype && p.m == q.m && p.n == q.n && p.k == q.k && p.ldx == q.ldx && p.ldc == q.ldc &&
           p.align_w == q.align_w && p.align_x == q.align_x && p.align_c == q.align_c;
}

struct lt_plan {
    lt_key key;
    uint64_t last_use;         /* 0: empty slot (or one whose build threw) */
    int use_lt;                /* 1: cublasLtMatmul with `algo`; 0: cublasGemmEx */
    cublasLtMatmulDesc_t op;   /* NULL when not created */
    cublasLtMatrixLayout_t lw, lx, lc;
    cublasLtMatmulAlgo_t algo;
};

struct cuda_vendor {
    cublasHandle_t blas;       /* fallback path (cublasGemmEx) */
    cublasLtHandle_t lt;
    void *workspace;           /* device, workspace_bytes */
    size_t workspace_bytes;
    uint64_t clock;            /* LRU stamp source */
    lt_plan plans[LT_PLANS];
};

static void plan_release(lt_plan *p) {
    if (p->lc) (void)cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lx) (void)cublasLtMatrixLayoutDestroy(p->lx);
    if (p->lw) (void)cublasLtMatrixLayoutDestroy(p->lw);
    if (p->op) (void)cublasLtMatmulDescDestroy(p->op);
    memset(p, 0, sizeof *p);
}

/* Destroys the preference on every exit, including a throw. */
struct lt_pref {
    cublasLtMatmulPreference_t p = nullptr;
    ~lt_pref() {
        if (p) (void)cublasLtMatmulPreferenceDestroy(p);
    }
};

static uint32_t ptr_align(const void *ptr) {
    const uintptr_t u = (uintptr_t)ptr;
    uint32_t al = 256;
    while (al > 1 && (u % al) != 0) al >>= 1;
    return al;
}

/* Builds the descriptors of `key` into an empty slot and asks the heuristic
 * once. No usable algorithm (or NOT_SUPPORTED) marks the plan for cublasGemmEx. */
static void plan_build(cuda_vendor *v, lt_plan *p, const lt_key &key, cudaDataType_t t) {
    p->key = key;
    BLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
    BLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof op_t));
    BLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof op_n));
    /* Layouts describe the stored (column-major) matrices, before op(). */
    BLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lw, t, (uint64_t)key.k, (uint64_t)key.n, key.k));
    BLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lx, t, (uint64_t)key.k, (uint64_t)key.m, key.ldx));
    BLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, (uint64_t)key.n, (uint64_t)key.m, key.ldc));

    lt_pref pref;
    BLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.p));
    const uint64_t ws = v->workspace_bytes;
    BLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    BLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key.align_w,
                                                    sizeof key.align_w));
    BLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key.align_x,
                                                    sizeof key.align_x));
    BLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key.align_c,
                                                    sizeof key.align_c));
    BLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key.align_c,
                                                    sizeof key.align_c));

    cublasLtMatmulHeuristicResult_t res;
    memset(&res, 0, sizeof res);
    int count = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(v->lt, p->op, p->lw, p->lx, p->lc, p->lc, pref.p, 1, &res, &count);
    if (st == CUBLAS_STATUS_SUCCESS && count > 0 && res.state == CUBLAS_STATUS_SUCCESS &&
        res.workspaceSize <= v->workspace_bytes) {
        p->algo = res.algo;
        p->use_lt = 1;
    } else if (st == CUBLAS_STATUS_SUCCESS || st == CUBLAS_STATUS_NOT_SUPPORTED) {
        p->use_lt = 0;
        gpu_log(HIVE_LOG_DEBUG, "cuBLASLt: no algorithm for dtype %u m %lld n %lld k %lld; using cublasGemmEx",
                key.dtype, (long long)key.m, (long long)key.n, (long long)key.k);
    } else {
        gpu_throw(blas_code(st), "cuBLAS %s (cublasLtMatmulAlgoGetHeuristic)", cublasGetStatusString(st));
    }
}

/* The plan of `key`: a hit refreshes its stamp; a miss rebuilds the least
 * recently used slot (empty slots have stamp 0, so they go first). */
static lt_plan *plan_get(cuda_vendor *v, const lt_key &key, cudaDataType_t t) {
    lt_plan *victim = &v->plans[0];
    for (int i = 0; i < LT_PLANS; i++) {
        lt_plan *p = &v->plans[i];
        if (p->last_use && key_eq(p->key, key)) {
            p->last_use = ++v->clock;
            return p;
        }
        if (p->last_use < victim->last_use) victim = p;
    }
    plan_release(victim);
    plan_build(v, victim, key, t); /* on a throw the slot stays empty (last_use 0) */
    victim->last_use = ++v->clock;
    return victim;
}

/* ------------------------------------------------------------- hooks -- */
static void cuda_close(hive_device *dev) {
    cuda_vendor *v = (cuda_vendor *)dev->vendor;
    if (!v) return;
    for (int i = 0; i < LT_PLANS; i++) plan_release(&v->plans[i]);
    if (v->lt) (void)cublasLtDestroy(v->lt);
    if (v->blas) (void)cublasDestroy(v->blas);
    if (v->workspace) (void)gpuFree(v->workspace); /* the caller synchronized the stream */
    delete v;
    dev->vendor = nullptr;
}

static void cuda_open(hive_device *dev) {
    cuda_vendor *v = new cuda_vendor(); /* value-initialized: all handles NULL, all slots empty */
    dev->vendor = v;                    /* from here a throw is cleaned up by close */
    BLAS_CHECK(cublasCreate(&v->blas));
    BLAS_CHECK(cublasSetStream(v->blas, dev->stream));
    BLAS_CHECK(cublasSetMathMode(v->blas, CUBLAS_DEFAULT_MATH));
    GPU_CHECK(gpuMalloc(&v->workspace, LT_WORKSPACE_BYTES));
    v->workspace_bytes = LT_WORKSPACE_BYTES;
    /* After cublasSetStream, which resets the handle to its default workspace
     * pool: with our own workspace cublasGemmEx allocates nothing (capture-safe). */
    BLAS_CHECK(cublasSetWorkspace(v->blas, v->workspace, v->workspace_bytes));
    BLAS_CHECK(cublasLtCreate(&v->lt));
}

static cudaDataType_t cuda_type(uint32_t dtype) {
    switch (dtype) {
    case HIVE_DTYPE_F32: return CUDA_R_32F;
    case HIVE_DTYPE_F16: return CUDA_R_16F;
    case HIVE_DTYPE_BF16: return CUDA_R_16BF;
    default: gpu_throw(HIVE_E_INTERNAL, "cuBLAS: dtype %u", dtype);
    }
}

static void cuda_gemm(hive_device *dev, const gpu_gemm_args *a) {
    cuda_vendor *v = (cuda_vendor *)dev->vendor;
    if (!v) gpu_throw(HIVE_E_INTERNAL, "cuBLAS: device has no handles");
    if (a->m <= 0 || a->n <= 0 || a->k <= 0) return;
    if (a->m > INT_MAX || a->n > INT_MAX || a->k > INT_MAX || a->ldx > INT_MAX || a->ldc > INT_MAX)
        gpu_throw(HIVE_E_UNSUPPORTED, "cuBLAS: matrix too large for 32-bit sizes");
    const cudaDataType_t t = cuda_type(a->dtype);
    /* A single row has no stride to speak of (a 1-row view may carry any
     * row_stride); the libraries still want ld >= rows of the column-major view. */
    const int64_t ldx = a->m == 1 && a->ldx < a->k ? a->k : a->ldx;
    const int64_t ldc = a->m == 1 && a->ldc < a->n ? a->n : a->ldc;
    if (ldx < a->k || ldc < a->n)
        gpu_throw(HIVE_E_SHAPE, "cuBLAS: strides ldx %lld < k %lld or ldc %lld < n %lld", (long long)ldx,
                  (long long)a->k, (long long)ldc, (long long)a->n);

    lt_key key;
    memset(&key, 0, sizeof key);
    key.dtype = a->dtype;
    key.m = a->m;
    key.n = a->n;
    key.k = a->k;
    key.ldx = ldx;
    key.ldc = ldc;
    key.align_w = ptr_align(a->w);
    key.align_x = ptr_align(a->x);
    key.align_c = ptr_align(a->c);
    lt_plan *p = plan_get(v, key, t);
    if (p->use_lt) {
        /* alpha/beta are host scalars (default pointer mode): read at enqueue. */
        const cublasStatus_t st = cublasLtMatmul(v->lt, p->op, &a->alpha, a->w, p->lw, a->x, p->lx, &a->beta, a->c,
                                                 p->lc, a->c, p->lc, &p->algo, v->workspace, v->workspace_bytes,
                                                 dev->stream);
        if (st == CUBLAS_STATUS_SUCCESS) return;
        if (st != CUBLAS_STATUS_NOT_SUPPORTED)
            gpu_throw(blas_code(st), "cuBLAS %s (cublasLtMatmul m %lld n %lld k %lld)", cublasGetStatusString(st),
                      (long long)a->m, (long long)a->n, (long long)a->k);
        p->use_lt = 0; /* remember: this shape goes to cublasGemmEx from now on */
        gpu_log(HIVE_LOG_DEBUG, "cuBLASLt: matmul not supported for m %lld n %lld k %lld; using cublasGemmEx",
                (long long)a->m, (long long)a->n, (long long)a->k);
    }
    BLAS_CHECK(cublasGemmEx(v->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)a->n, (int)a->m, (int)a->k, &a->alpha, a->w, t,
                            (int)a->k, a->x, t, (int)ldx, &a->beta, a->c, CUDA_R_32F, (int)ldc, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

static const gpu_vendor_ops k_cuda_ops = {"cuda", cuda_open, cuda_close, cuda_gemm};

extern "C" const gpu_vendor_ops *gpu_vendor_get(void) { return &k_cuda_ops; }
