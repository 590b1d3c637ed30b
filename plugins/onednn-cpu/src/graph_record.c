/* HIVE_EXT_GRAPH on the CPU: ops called during a capture are recorded (their
 * arguments by value) and run at each replay. A CPU gains no speed from this;
 * it exists so the host's graph protocol (fixed buffers and shapes, host
 * arrays re-read at replay, capture keyed by what is fixed) is exercised and
 * tested on machines without a GPU. Off unless the host config sets
 * plugins.onednn-cpu.graphs = true.
 *
 * The backend table points at the cpu_rec_* entries below: outside a capture
 * they call the op directly. */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

enum rec_kind { R_EMBED, R_RMSNORM, R_MATMUL, R_BINARY, R_BINARY_W, R_SWIGLU, R_ROPE, R_KV_STORE, R_ATTENTION,
                R_GET_ROWS, R_LORA };

typedef struct rec_op {
    int kind;
    hive_tensor t[3];
    const hive_weight *w[2];
    float f[2];
    uint32_t u[2];
    const int32_t *ids;     /* embed ids / get_rows rows: re-read at replay */
    hive_batch batch;       /* row_seq, row_pos, block_table pointers: re-read */
    hive_rope_desc rope;    /* inv_freq copied: fixed at capture */
    hive_kv_cache *kv;
    /* lora: copies, fixed at capture */
    int32_t *row0, *rows;
    const hive_weight **A, **B;
} rec_op;

struct hive_graph {
    hive_device *dev;
    rec_op *ops;
    size_t n, cap;
};

static void graph_destroy(hive_graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) {
        free((void *)g->ops[i].rope.inv_freq);
        free(g->ops[i].row0);
        free(g->ops[i].rows);
        free(g->ops[i].A);
        free(g->ops[i].B);
    }
    free(g->ops);
    free(g);
}

/* The op slot to fill, or NULL (the capture is then broken: capture_end fails). */
static rec_op *rec_push(hive_device *dev, int kind) {
    hive_graph *g = dev->capturing;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        rec_op *ops = realloc(g->ops, cap * sizeof *ops);
        if (!ops) {
            dev->capture_broken = 1;
            return NULL;
        }
        g->ops = ops;
        g->cap = cap;
    }
    rec_op *r = &g->ops[g->n++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    return r;
}

#define RECORD(kind_)                                                                                   \
    rec_op *r = rec_push(dev, kind_);                                                                   \
    if (!r) return cpu_fail(err, HIVE_E_NOMEM, "graph capture: out of memory");

static hive_status refuse(const char *what, hive_error **err) {
    return cpu_fail(err, HIVE_E_INVALID, "%s is not allowed during graph capture", what);
}

static int capturing(const hive_device *dev) { return dev && dev->capturing; }

/* ---- table entries ---- */

hive_status cpu_rec_op_embed(hive_device *dev, const hive_weight *table, const int32_t *ids, const hive_tensor *out,
                             hive_error **err) {
    if (!capturing(dev)) return cpu_op_embed(dev, table, ids, out, err);
    if (!out) return cpu_fail(err, HIVE_E_INVALID, "embed: out is NULL");
    RECORD(R_EMBED);
    r->w[0] = table, r->ids = ids, r->t[0] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_rmsnorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain, float eps,
                               const hive_tensor *out, hive_error **err) {
    if (!capturing(dev)) return cpu_op_rmsnorm(dev, x, gain, eps, out, err);
    if (!x || !out) return cpu_fail(err, HIVE_E_INVALID, "rmsnorm: NULL tensor");
    RECORD(R_RMSNORM);
    r->t[0] = *x, r->w[0] = gain, r->f[0] = eps, r->t[1] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                              float alpha, float beta, const hive_tensor *out, hive_error **err) {
    if (!capturing(dev)) return cpu_op_matmul(dev, x, w, bias, alpha, beta, out, err);
    if (!x || !out) return cpu_fail(err, HIVE_E_INVALID, "matmul: NULL tensor");
    RECORD(R_MATMUL);
    r->t[0] = *x, r->w[0] = w, r->w[1] = bias, r->f[0] = alpha, r->f[1] = beta, r->t[1] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_binary(hive_device *dev, uint32_t op, const hive_tensor *a, const hive_tensor *b,
                              const hive_tensor *out, hive_error **err) {
    if (!capturing(dev)) return cpu_op_binary(dev, op, a, b, out, err);
    if (!a || !b || !out) return cpu_fail(err, HIVE_E_INVALID, "binary: NULL tensor");
    RECORD(R_BINARY);
    r->u[0] = op, r->t[0] = *a, r->t[1] = *b, r->t[2] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_binary_weight(hive_device *dev, uint32_t op, const hive_tensor *a, const hive_weight *w,
                                     const hive_tensor *out, hive_error **err) {
    if (!capturing(dev)) return cpu_op_binary_weight(dev, op, a, w, out, err);
    if (!a || !out) return cpu_fail(err, HIVE_E_INVALID, "binary_weight: NULL tensor");
    RECORD(R_BINARY_W);
    r->u[0] = op, r->t[0] = *a, r->w[0] = w, r->t[1] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_swiglu(hive_device *dev, const hive_tensor *gate, const hive_tensor *up, const hive_tensor *out,
                              hive_error **err) {
    if (!capturing(dev)) return cpu_op_swiglu(dev, gate, up, out, err);
    if (!gate || !up || !out) return cpu_fail(err, HIVE_E_INVALID, "swiglu: NULL tensor");
    RECORD(R_SWIGLU);
    r->t[0] = *gate, r->t[1] = *up, r->t[2] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_rope(hive_device *dev, const hive_tensor *x, const hive_rope_desc *rope,
                            const hive_batch *batch, hive_error **err) {
    if (!capturing(dev)) return cpu_op_rope(dev, x, rope, batch, err);
    if (!x || !rope || !batch || !rope->inv_freq) return cpu_fail(err, HIVE_E_INVALID, "rope: NULL argument");
    RECORD(R_ROPE);
    r->t[0] = *x, r->batch = *batch;
    memset(&r->rope, 0, sizeof r->rope); /* a shorter desc (older host) leaves the 1.3 fields 0 */
    memcpy(&r->rope, rope, rope->struct_size < sizeof r->rope ? rope->struct_size : sizeof r->rope);
    size_t nf = rope->rot_dims / 2 ? rope->rot_dims / 2 : 1;
    float *f = malloc(nf * sizeof *f);
    if (!f) {
        dev->capture_broken = 1;
        return cpu_fail(err, HIVE_E_NOMEM, "graph capture: out of memory");
    }
    memcpy(f, rope->inv_freq, (rope->rot_dims / 2) * sizeof *f);
    r->rope.inv_freq = f;
    return HIVE_OK;
}

hive_status cpu_rec_op_kv_store(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *k,
                                const hive_tensor *v, const hive_batch *batch, hive_error **err) {
    if (!capturing(dev)) return cpu_op_kv_store(dev, kv, layer, k, v, batch, err);
    if (!k || !v || !batch) return cpu_fail(err, HIVE_E_INVALID, "kv_store: NULL argument");
    RECORD(R_KV_STORE);
    r->kv = kv, r->u[0] = layer, r->t[0] = *k, r->t[1] = *v, r->batch = *batch;
    return HIVE_OK;
}

hive_status cpu_rec_op_attention(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                                 uint32_t n_heads, float scale, const hive_batch *batch, const hive_tensor *out,
                                 hive_error **err) {
    if (!capturing(dev)) return cpu_op_attention(dev, kv, layer, q, n_heads, scale, batch, out, err);
    if (!q || !batch || !out) return cpu_fail(err, HIVE_E_INVALID, "attention: NULL argument");
    RECORD(R_ATTENTION);
    r->kv = kv, r->u[0] = layer, r->t[0] = *q, r->u[1] = n_heads, r->f[0] = scale, r->batch = *batch, r->t[1] = *out;
    return HIVE_OK;
}

hive_status cpu_rec_op_get_rows(hive_device *dev, const hive_tensor *x, const int32_t *rows, uint32_t n,
                                const hive_tensor *out, hive_error **err) {
    if (!capturing(dev)) return cpu_op_get_rows(dev, x, rows, n, out, err);
    if (!x || !out) return cpu_fail(err, HIVE_E_INVALID, "get_rows: NULL tensor");
    RECORD(R_GET_ROWS);
    r->t[0] = *x, r->ids = rows, r->u[0] = n, r->t[1] = *out;
    return HIVE_OK;
}

static hive_status rec_lora_segments(hive_device *dev, const hive_tensor *x, const hive_tensor *y, uint32_t n,
                                     const int32_t *row0, const int32_t *rows, const hive_weight *const *A,
                                     const hive_weight *const *B, hive_error **err) {
    if (!capturing(dev)) return cpu_ext_lora_segments.op_lora_segments(dev, x, y, n, row0, rows, A, B, err);
    if (!x || !y || (n && (!row0 || !rows || !A || !B)))
        return cpu_fail(err, HIVE_E_INVALID, "lora_segments: NULL argument");
    RECORD(R_LORA);
    r->t[0] = *x, r->t[1] = *y, r->u[0] = n;
    if (n) {
        r->row0 = malloc(n * sizeof *r->row0), r->rows = malloc(n * sizeof *r->rows);
        r->A = malloc(n * sizeof *r->A), r->B = malloc(n * sizeof *r->B);
        if (!r->row0 || !r->rows || !r->A || !r->B) {
            dev->capture_broken = 1;
            return cpu_fail(err, HIVE_E_NOMEM, "graph capture: out of memory");
        }
        memcpy(r->row0, row0, n * sizeof *r->row0);
        memcpy(r->rows, rows, n * sizeof *r->rows);
        memcpy(r->A, A, n * sizeof *r->A);
        memcpy(r->B, B, n * sizeof *r->B);
    }
    return HIVE_OK;
}

hive_status cpu_rec_op_add_rows_scaled(hive_device *dev, const hive_tensor *x, const int32_t *rows, const float *scale,
                                       const hive_tensor *out, hive_error **err) {
    return capturing(dev) ? refuse("add_rows_scaled", err) : cpu_op_add_rows_scaled(dev, x, rows, scale, out, err);
}
hive_status cpu_rec_op_ssm_conv(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                                uint32_t kernel, const hive_batch *batch, const int32_t *slots, const hive_tensor *state,
                                const hive_tensor *out, hive_error **err) {
    return capturing(dev) ? refuse("ssm_conv", err)
                          : cpu_op_ssm_conv(dev, x, w, bias, kernel, batch, slots, state, out, err);
}
hive_status cpu_rec_op_ssm_scan(hive_device *dev, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                                const hive_tensor *C, const hive_weight *A, const hive_weight *D, const hive_weight *dt_bias,
                                const hive_ssm_desc *d, const hive_batch *batch, const int32_t *slots,
                                const hive_tensor *state, const hive_tensor *y, hive_error **err) {
    return capturing(dev) ? refuse("ssm_scan", err)
                          : cpu_op_ssm_scan(dev, x, dt, B, C, A, D, dt_bias, d, batch, slots, state, y, err);
}
hive_status cpu_rec_op_layernorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain, const hive_weight *bias,
                                 float eps, const hive_tensor *out, hive_error **err) {
    return capturing(dev) ? refuse("layernorm", err) : cpu_op_layernorm(dev, x, gain, bias, eps, out, err);
}
hive_status cpu_rec_op_argmax(hive_device *dev, const hive_tensor *x, int32_t *ids, hive_error **err) {
    return capturing(dev) ? refuse("argmax", err) : cpu_op_argmax(dev, x, ids, err);
}
hive_status cpu_rec_synchronize(hive_device *dev, hive_error **err) {
    return capturing(dev) ? refuse("synchronize", err) : cpu_synchronize(dev, err);
}
hive_status cpu_rec_buffer_upload(hive_device *dev, hive_buffer *buf, uint64_t offset, const void *src, uint64_t nbytes,
                                  hive_error **err) {
    return capturing(dev) ? refuse("buffer_upload", err) : cpu_buffer_upload(dev, buf, offset, src, nbytes, err);
}
hive_status cpu_rec_buffer_download(hive_device *dev, const hive_buffer *buf, uint64_t offset, void *dst,
                                    uint64_t nbytes, hive_error **err) {
    return capturing(dev) ? refuse("buffer_download", err)
                          : cpu_buffer_download(dev, buf, offset, dst, nbytes, err);
}

/* ---- the extension ---- */

static hive_status replay_one(hive_device *dev, const rec_op *r, hive_error **err) {
    switch (r->kind) {
    case R_EMBED: return cpu_op_embed(dev, r->w[0], r->ids, &r->t[0], err);
    case R_RMSNORM: return cpu_op_rmsnorm(dev, &r->t[0], r->w[0], r->f[0], &r->t[1], err);
    case R_MATMUL: return cpu_op_matmul(dev, &r->t[0], r->w[0], r->w[1], r->f[0], r->f[1], &r->t[1], err);
    case R_BINARY: return cpu_op_binary(dev, r->u[0], &r->t[0], &r->t[1], &r->t[2], err);
    case R_BINARY_W: return cpu_op_binary_weight(dev, r->u[0], &r->t[0], r->w[0], &r->t[1], err);
    case R_SWIGLU: return cpu_op_swiglu(dev, &r->t[0], &r->t[1], &r->t[2], err);
    case R_ROPE: return cpu_op_rope(dev, &r->t[0], &r->rope, &r->batch, err);
    case R_KV_STORE: return cpu_op_kv_store(dev, r->kv, r->u[0], &r->t[0], &r->t[1], &r->batch, err);
    case R_ATTENTION:
        return cpu_op_attention(dev, r->kv, r->u[0], &r->t[0], r->u[1], r->f[0], &r->batch, &r->t[1], err);
    case R_GET_ROWS: return cpu_op_get_rows(dev, &r->t[0], r->ids, r->u[0], &r->t[1], err);
    case R_LORA:
        return cpu_ext_lora_segments.op_lora_segments(dev, &r->t[0], &r->t[1], r->u[0], r->row0, r->rows, r->A, r->B,
                                                      err);
    default: return cpu_fail(err, HIVE_E_INTERNAL, "graph replay: unknown op %d", r->kind);
    }
}

static hive_status graph_capture_begin(hive_device *dev, hive_error **err) {
    if (!dev) return cpu_fail(err, HIVE_E_INVALID, "capture_begin: device is NULL");
    if (dev->capturing) return cpu_fail(err, HIVE_E_INVALID, "capture_begin: a capture is already running");
    hive_graph *g = calloc(1, sizeof *g);
    if (!g) return cpu_fail(err, HIVE_E_NOMEM, "capture_begin: out of memory");
    g->dev = dev;
    dev->capturing = g;
    dev->capture_broken = 0;
    return HIVE_OK;
}

static hive_status graph_capture_end(hive_device *dev, hive_graph **out, hive_error **err) {
    if (out) *out = NULL;
    if (!dev || !dev->capturing) return cpu_fail(err, HIVE_E_INVALID, "capture_end: no capture is running");
    hive_graph *g = dev->capturing;
    dev->capturing = NULL;
    if (dev->capture_broken || !out) {
        graph_destroy(g);
        return cpu_fail(err, out ? HIVE_E_NOMEM : HIVE_E_INVALID,
                        out ? "capture_end: an op could not be recorded (out of memory)" : "capture_end: out is NULL");
    }
    *out = g;
    return HIVE_OK;
}

static hive_status graph_replay(hive_device *dev, hive_graph *g, hive_error **err) {
    if (!dev || !g || g->dev != dev) return cpu_fail(err, HIVE_E_INVALID, "replay: graph of another device");
    if (dev->capturing) return refuse("replay", err);
    for (size_t i = 0; i < g->n; i++) {
        hive_status st = replay_one(dev, &g->ops[i], err);
        if (st != HIVE_OK) return st;
    }
    return HIVE_OK;
}

static void graph_free(hive_device *dev, hive_graph *g) {
    (void)dev;
    graph_destroy(g);
}

static const hive_ext_graph k_graph = {sizeof(hive_ext_graph), 1, graph_capture_begin, graph_capture_end,
                                       graph_replay, graph_free};
/* lora_segments as offered to the host: recorded when capturing */
static const hive_ext_lora_segments k_lora_rec = {sizeof(hive_ext_lora_segments), 1, CPU_LORA_MAX_RANK, 0,
                                                  rec_lora_segments};

const void *cpu_get_extension(hive_device *dev, uint32_t id, uint32_t min_version) {
    if (!dev) return NULL;
    if (id == HIVE_EXT_LORA_SEGMENTS && min_version <= k_lora_rec.version) return &k_lora_rec;
    if (id == HIVE_EXT_GRAPH && dev->graphs_enabled && min_version <= k_graph.version) return &k_graph;
    return NULL;
}

void cpu_graph_device_close(hive_device *dev) {
    if (dev && dev->capturing) graph_destroy(dev->capturing);
}
