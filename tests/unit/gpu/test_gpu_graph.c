/* test_gpu_graph.c — HIVE_EXT_GRAPH (record / replay of a step) on each built
 * GPU backend plugin. A mini decode step is captured once on one set of
 * buffers and KV cache, its host arrays are rewritten in place (token ids,
 * positions, block table, selected rows) and it is replayed; every replay is
 * compared with the same ops run eagerly on a second, identical set. Also the
 * capture rules: refused calls, poisoned captures, deferred frees, arena
 * growth. Without a device every test skips with the probe's reason. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu_harness.h"
#include "gpu_ref.h"

#define CHECK_ERR(e, tol, what)                                                                 \
    do {                                                                                        \
        const double e_ = (e);                                                                  \
        if (!(e_ <= (tol))) fprintf(stderr, "%s: rel err %g > %g\n", what, e_, (double)(tol)); \
        assert_true(e_ <= (tol));                                                               \
    } while (0)

/* The call must fail with `code` (0: any code) and, when `needle` is set, a
 * message containing it. Frees err. */
static void expect_fail(hive_status st, hive_error *err, hive_status code, const char *needle, const char *what) {
    if (st == HIVE_OK) fail_msg("%s: succeeded, expected a failure", what);
    fprintf(stderr, "%s: refused as expected (%d): %s\n", what, st, err ? err->msg : "(no message)");
    if (code) assert_int_equal(st, code);
    if (needle) {
        const char *msg = err ? err->msg : "";
        if (!strstr(msg, needle)) fail_msg("%s: message lacks \"%s\"", what, needle);
    }
    free(err);
}

static const hive_ext_graph *graph_ext(gpu_fx *fx) {
    assert_non_null(fx->api->get_extension);
    const hive_ext_graph *g = fx->api->get_extension(fx->dev, HIVE_EXT_GRAPH, 1);
    assert_non_null(g);
    return g;
}

static hive_graph *capture_end_ok(gpu_fx *fx, const hive_ext_graph *ge) {
    hive_graph *g = NULL;
    hive_error *err = NULL;
    gpu_check(ge->capture_end(fx->dev, &g, &err), err, "capture_end");
    assert_non_null(g);
    return g;
}

/* ------------------------------------------------------------ extension -- */
static void test_graph_extension(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    const hive_ext_graph *ge = graph_ext(fx);
    assert_true(ge->struct_size >= sizeof(hive_ext_graph));
    assert_true(ge->version >= 1);
    assert_non_null(ge->capture_begin);
    assert_non_null(ge->capture_end);
    assert_non_null(ge->replay);
    assert_non_null(ge->graph_free);
    assert_null(fx->api->get_extension(fx->dev, HIVE_EXT_GRAPH, 99));
}

/* ---------------------------------------------------------- decode step -- */
enum {
    R = 2,                /* decode rows: one per sequence */
    NH = 4, NKV = 2, HD = 64, QW = NH * HD, KW = NKV * HD,
    V = 96,               /* vocabulary (embedding rows, logits) */
    LAYERS = 2,           /* kv_store + attention per layer: the same arrays staged twice */
    BS = 16, MAXB = 16, NB = 40,
    L0 = 70, L1 = 15,     /* prefilled lengths; seq 1 enters its second block at replay 1 */
    SPARE = 30,           /* prefilled physical block that replay 2 maps into seq 0 */
    REPLAYS = 3
};

typedef struct model {
    hive_weight *table, *wq, *wk, *bk, *wv, *wo;
    float inv_freq[HD / 2];
    hive_rope_desc rq, rk;
} model;

/* The host arrays a graph re-reads at replay; rewritten in place. */
typedef struct step_arrays {
    int32_t ids[R], sel[R], seq[R], pos[R], bt[R * MAXB];
    hive_batch batch;
} step_arrays;

typedef struct step_set {
    hive_kv_cache *kv;
    gpu_mat x, q, k, v, o[LAYERS], logits, sel;
} step_set;

static void model_new(gpu_fx *fx, model *m, uint32_t *seed) {
    void *raw;
    float *f;
    ref_make_weight(HIVE_DTYPE_F16, V, QW, seed, &raw, &f); /* embedding table */
    m->table = gpu_weight_new(fx, HIVE_DTYPE_F16, V, QW, raw);
    free(raw);
    free(f);
    ref_make_weight(HIVE_DTYPE_F32, QW, QW, seed, &raw, &f); /* vendor GEMM / GEMV, f32 */
    m->wq = gpu_weight_new(fx, HIVE_DTYPE_F32, QW, QW, raw);
    free(raw);
    free(f);
    ref_make_weight(HIVE_DTYPE_Q8_0, KW, QW, seed, &raw, &f); /* quantized GEMV */
    m->wk = gpu_weight_new(fx, HIVE_DTYPE_Q8_0, KW, QW, raw);
    free(raw);
    free(f);
    float bias[KW];
    ref_fill(bias, KW, seed, 0.5f);
    m->bk = gpu_weight_new(fx, HIVE_DTYPE_F32, 1, KW, bias);
    ref_make_weight(HIVE_DTYPE_F16, KW, QW, seed, &raw, &f); /* f16: converted x on CUDA */
    m->wv = gpu_weight_new(fx, HIVE_DTYPE_F16, KW, QW, raw);
    free(raw);
    free(f);
    ref_make_weight(HIVE_DTYPE_F32, V, QW, seed, &raw, &f);
    m->wo = gpu_weight_new(fx, HIVE_DTYPE_F32, V, QW, raw);
    free(raw);
    free(f);
    for (int i = 0; i < HD / 2; i++) m->inv_freq[i] = powf(10000.0f, -2.0f * (float)i / (float)HD);
    m->rq = (hive_rope_desc){.struct_size = sizeof(hive_rope_desc), .mode = HIVE_ROPE_NEOX, .n_heads = NH,
                             .head_dim = HD, .rot_dims = HD, .attn_factor = 1.0f, .inv_freq = m->inv_freq};
    m->rk = m->rq;
    m->rk.n_heads = NKV;
}

static void model_free(gpu_fx *fx, model *m) {
    fx->api->weight_free(fx->dev, m->table);
    fx->api->weight_free(fx->dev, m->wq);
    fx->api->weight_free(fx->dev, m->wk);
    fx->api->weight_free(fx->dev, m->bk);
    fx->api->weight_free(fx->dev, m->wv);
    fx->api->weight_free(fx->dev, m->wo);
}

/* Prefill data, identical for both sets: k/v rows of both sequences (layer
 * specific) and of the spare block. */
typedef struct prefill {
    float k[LAYERS][(L0 + L1) * KW], v[LAYERS][(L0 + L1) * KW];
    float ks[LAYERS][BS * KW], vs[LAYERS][BS * KW];
} prefill;

static void set_new(gpu_fx *fx, step_set *s, const prefill *p, const int32_t *bt) {
    hive_kv_desc kd = {.struct_size = sizeof kd, .dtype = HIVE_DTYPE_F16, .n_layers = LAYERS, .n_blocks = NB,
                       .block_size = BS, .n_kv_heads = NKV, .head_dim = HD};
    hive_error *err = NULL;
    gpu_check(fx->api->kv_alloc(fx->dev, &kd, &s->kv, &err), err, "kv_alloc");
    s->x = gpu_mat_new(fx, R, QW, 0, NULL);
    s->q = gpu_mat_new(fx, R, QW, 4, NULL);
    s->k = gpu_mat_new(fx, R, KW, 0, NULL);
    s->v = gpu_mat_new(fx, R, KW, 2, NULL);
    for (int l = 0; l < LAYERS; l++) s->o[l] = gpu_mat_new(fx, R, QW, l, NULL);
    s->logits = gpu_mat_new(fx, R, V, 0, NULL);
    s->sel = gpu_mat_new(fx, R, V, 3, NULL);

    /* both sequences: seq 1 rows first, then seq 0 */
    int32_t rs[L0 + L1], rp[L0 + L1];
    int n = 0;
    for (int32_t t = 0; t < L1; t++, n++) {
        rs[n] = 1;
        rp[n] = t;
    }
    for (int32_t t = 0; t < L0; t++, n++) {
        rs[n] = 0;
        rp[n] = t;
    }
    hive_batch b = {.struct_size = sizeof b, .n_rows = L0 + L1, .row_seq = rs, .row_pos = rp, .n_seqs = R,
                    .max_blocks = MAXB, .block_table = bt};
    /* the spare block, through a one-block table */
    int32_t ss[BS], sp[BS], sbt[1] = {SPARE};
    for (int t = 0; t < BS; t++) {
        ss[t] = 0;
        sp[t] = t;
    }
    hive_batch sb = {.struct_size = sizeof sb, .n_rows = BS, .row_seq = ss, .row_pos = sp, .n_seqs = 1,
                     .max_blocks = 1, .block_table = sbt};
    for (uint32_t l = 0; l < LAYERS; l++) {
        gpu_mat k = gpu_mat_new(fx, L0 + L1, KW, 0, p->k[l]), v = gpu_mat_new(fx, L0 + L1, KW, 0, p->v[l]);
        err = NULL;
        gpu_check(fx->api->op_kv_store(fx->dev, s->kv, l, &k.t, &v.t, &b, &err), err, "prefill kv_store");
        gpu_mat_free(fx, &k);
        gpu_mat_free(fx, &v);
        k = gpu_mat_new(fx, BS, KW, 0, p->ks[l]);
        v = gpu_mat_new(fx, BS, KW, 0, p->vs[l]);
        err = NULL;
        gpu_check(fx->api->op_kv_store(fx->dev, s->kv, l, &k.t, &v.t, &sb, &err), err, "spare kv_store");
        gpu_mat_free(fx, &k);
        gpu_mat_free(fx, &v);
    }
    err = NULL;
    gpu_check(fx->api->synchronize(fx->dev, &err), err, "synchronize");
}

static void set_free(gpu_fx *fx, step_set *s) {
    gpu_mat_free(fx, &s->x);
    gpu_mat_free(fx, &s->q);
    gpu_mat_free(fx, &s->k);
    gpu_mat_free(fx, &s->v);
    for (int l = 0; l < LAYERS; l++) gpu_mat_free(fx, &s->o[l]);
    gpu_mat_free(fx, &s->logits);
    gpu_mat_free(fx, &s->sel);
    fx->api->kv_free(fx->dev, s->kv);
}

/* One decode step: embed, q/k/v projections, rope, per layer kv_store +
 * attention, output projection, row selection. */
static void run_step(gpu_fx *fx, const model *m, step_set *s, const step_arrays *a) {
    const hive_backend_api *api = fx->api;
    hive_device *d = fx->dev;
    const float scale = 1.0f / sqrtf((float)HD);
    hive_error *err = NULL;
    gpu_check(api->op_embed(d, m->table, a->ids, &s->x.t, &err), err, "op_embed");
    err = NULL;
    gpu_check(api->op_matmul(d, &s->x.t, m->wq, NULL, 1.0f, 0.0f, &s->q.t, &err), err, "op_matmul q");
    err = NULL;
    gpu_check(api->op_matmul(d, &s->x.t, m->wk, m->bk, 1.0f, 0.0f, &s->k.t, &err), err, "op_matmul k");
    err = NULL;
    gpu_check(api->op_matmul(d, &s->x.t, m->wv, NULL, 1.0f, 0.0f, &s->v.t, &err), err, "op_matmul v");
    err = NULL;
    gpu_check(api->op_rope(d, &s->q.t, &m->rq, &a->batch, &err), err, "op_rope q");
    err = NULL;
    gpu_check(api->op_rope(d, &s->k.t, &m->rk, &a->batch, &err), err, "op_rope k");
    for (uint32_t l = 0; l < LAYERS; l++) {
        err = NULL;
        gpu_check(api->op_kv_store(d, s->kv, l, &s->k.t, &s->v.t, &a->batch, &err), err, "op_kv_store");
        err = NULL;
        gpu_check(api->op_attention(d, s->kv, l, &s->q.t, NH, scale, &a->batch, &s->o[l].t, &err), err,
                  "op_attention");
    }
    err = NULL;
    gpu_check(api->op_matmul(d, &s->o[LAYERS - 1].t, m->wo, NULL, 1.0f, 0.0f, &s->logits.t, &err), err,
              "op_matmul out");
    err = NULL;
    gpu_check(api->op_get_rows(d, &s->logits.t, a->sel, R, &s->sel.t, &err), err, "op_get_rows");
}

static void test_graph_decode_replay(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    const hive_ext_graph *ge = graph_ext(fx);
    uint32_t seed = 4242;
    model m;
    model_new(fx, &m, &seed);
    prefill *p = malloc(sizeof *p);
    assert_non_null(p);
    for (int l = 0; l < LAYERS; l++) {
        ref_fill(p->k[l], (L0 + L1) * KW, &seed, 1.0f);
        ref_fill(p->v[l], (L0 + L1) * KW, &seed, 1.0f);
        ref_fill(p->ks[l], BS * KW, &seed, 1.0f);
        ref_fill(p->vs[l], BS * KW, &seed, 1.0f);
    }

    step_arrays a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < R * MAXB; i++) a.bt[i] = -1;
    const int32_t bt0[] = {5, 9, 2, 17, 21, 23}; /* seq 0: positions 0..95 */
    for (int i = 0; i < 6; i++) a.bt[i] = bt0[i];
    a.bt[MAXB + 0] = 7; /* seq 1: positions 0..15 */
    a.seq[0] = 0;
    a.seq[1] = 1;
    a.batch = (hive_batch){.struct_size = sizeof(hive_batch), .n_rows = R, .row_seq = a.seq, .row_pos = a.pos,
                           .n_seqs = R, .max_blocks = MAXB, .block_table = a.bt};

    step_set sa, sb; /* sa: captured and replayed; sb: the same ops run eagerly */
    set_new(fx, &sa, p, a.bt);
    set_new(fx, &sb, p, a.bt);

    /* capture with contents that no replay uses: replays must read the arrays anew */
    a.ids[0] = 1;
    a.ids[1] = 2;
    a.sel[0] = 0;
    a.sel[1] = 1;
    a.pos[0] = L0 - 3;
    a.pos[1] = L1 - 2;
    hive_error *err = NULL;
    gpu_check(ge->capture_begin(fx->dev, &err), err, "capture_begin");
    run_step(fx, &m, &sa, &a);
    hive_graph *g = capture_end_ok(fx, ge);

    /* recorded, not run: the output is still zero */
    float got[LAYERS][R * QW], ref[LAYERS][R * QW], gsel[R * V], rsel[R * V], prev[R * V];
    gpu_mat_read(fx, &sa.sel, gsel);
    for (int i = 0; i < R * V; i++) assert_true(gsel[i] == 0.0f);

    for (int r = 0; r < REPLAYS; r++) {
        /* rewrite the host arrays in place */
        a.ids[0] = (7 + 13 * r) % V;
        a.ids[1] = (50 + 5 * r) % V;
        a.pos[0] = L0 + r;
        a.pos[1] = L1 + r;
        a.sel[0] = r % 2;
        a.sel[1] = 1 - r % 2;
        if (r == 1) a.bt[MAXB + 1] = 11;    /* seq 1 reaches position 16: a new block */
        if (r == 2) a.bt[0] = SPARE;        /* seq 0 block 0 remapped to other contents */
        err = NULL;
        gpu_check(ge->replay(fx->dev, g, &err), err, "replay");
        run_step(fx, &m, &sb, &a);

        char what[64];
        for (int l = 0; l < LAYERS; l++) {
            gpu_mat_read(fx, &sa.o[l], got[l]);
            gpu_mat_read(fx, &sb.o[l], ref[l]);
            snprintf(what, sizeof what, "replay %d attention layer %d", r, l);
            CHECK_ERR(gpu_rel_err(got[l], ref[l], R * QW, 1e-6), 1e-5, what);
        }
        gpu_mat_read(fx, &sa.sel, gsel);
        gpu_mat_read(fx, &sb.sel, rsel);
        snprintf(what, sizeof what, "replay %d selected logits", r);
        CHECK_ERR(gpu_rel_err(gsel, rsel, R * V, 1e-6), 1e-5, what);
        /* the step really changed: not a stale or empty result */
        double mx = 0.0, diff = 0.0;
        for (int i = 0; i < R * V; i++) {
            if (fabs((double)rsel[i]) > mx) mx = fabs((double)rsel[i]);
            if (r > 0 && fabs((double)rsel[i] - prev[i]) > diff) diff = fabs((double)rsel[i] - prev[i]);
        }
        assert_true(mx > 1e-3);
        if (r > 0) assert_true(diff > 1e-3);
        memcpy(prev, rsel, sizeof prev);
    }

    ge->graph_free(fx->dev, g);
    /* the device still runs eagerly */
    run_step(fx, &m, &sb, &a);
    gpu_mat_read(fx, &sb.sel, rsel);
    set_free(fx, &sa);
    set_free(fx, &sb);
    model_free(fx, &m);
    free(p);
}

/* ------------------------------------------------------------ the rules -- */
static void test_graph_rules(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    const hive_ext_graph *ge = graph_ext(fx);
    const hive_backend_api *api = fx->api;
    hive_device *d = fx->dev;
    enum { RR = 3, C = 40 };
    float a[RR * C], b[RR * C], got[RR * C], want[RR * C];
    uint32_t seed = 17;
    ref_fill(a, RR * C, &seed, 1.0f);
    ref_fill(b, RR * C, &seed, 1.0f);
    gpu_mat ga = gpu_mat_new(fx, RR, C, 0, a), gb = gpu_mat_new(fx, RR, C, 1, b), go = gpu_mat_new(fx, RR, C, 2, NULL);
    gpu_mat spare = gpu_mat_new(fx, 2, 2, 0, NULL);

    /* capture_end without capture_begin */
    hive_graph *g = (hive_graph *)(uintptr_t)1;
    hive_error *err = NULL;
    expect_fail(ge->capture_end(d, &g, &err), err, HIVE_E_INVALID, NULL, "capture_end without begin");
    assert_null(g);
    /* replay of no graph */
    err = NULL;
    expect_fail(ge->replay(d, NULL, &err), err, HIVE_E_INVALID, NULL, "replay(NULL)");

    err = NULL;
    gpu_check(ge->capture_begin(d, &err), err, "capture_begin");
    err = NULL;
    expect_fail(ge->capture_begin(d, &err), err, HIVE_E_INVALID, NULL, "capture_begin twice");
    /* refused while capturing: nothing is recorded, the capture goes on */
    float tmp[4];
    err = NULL;
    expect_fail(api->buffer_download(d, ga.buf, 0, tmp, sizeof tmp, &err), err, HIVE_E_INVALID,
                "not allowed during graph capture", "buffer_download during capture");
    err = NULL;
    expect_fail(api->buffer_upload(d, ga.buf, 0, tmp, sizeof tmp, &err), err, HIVE_E_INVALID,
                "not allowed during graph capture", "buffer_upload during capture");
    err = NULL;
    expect_fail(api->synchronize(d, &err), err, HIVE_E_INVALID, "not allowed during graph capture",
                "synchronize during capture");
    int32_t ids[RR];
    err = NULL;
    expect_fail(api->op_argmax(d, &ga.t, ids, &err), err, HIVE_E_INVALID, "not allowed during graph capture",
                "op_argmax during capture");
    hive_buffer *nb = NULL;
    err = NULL;
    expect_fail(api->buffer_alloc(d, 64, &nb, &err), err, HIVE_E_INVALID, "not allowed during graph capture",
                "buffer_alloc during capture");
    assert_null(nb);
    hive_kv_desc kd = {.struct_size = sizeof kd, .dtype = HIVE_DTYPE_F32, .n_layers = 1, .n_blocks = 1,
                       .block_size = 16, .n_kv_heads = 1, .head_dim = 32};
    hive_kv_cache *kv = NULL;
    err = NULL;
    expect_fail(api->kv_alloc(d, &kd, &kv, &err), err, HIVE_E_INVALID, "not allowed during graph capture",
                "kv_alloc during capture");
    hive_weight_desc wd = {.struct_size = sizeof wd, .dtype = HIVE_DTYPE_F32, .rows = 1, .cols = 4, .name = "w"};
    hive_weight *w = NULL;
    err = NULL;
    expect_fail(api->weight_upload(d, &wd, tmp, &w, &err), err, HIVE_E_INVALID, "not allowed during graph capture",
                "weight_upload during capture");
    /* a free during capture is deferred to its end */
    api->buffer_free(d, spare.buf);
    spare.buf = NULL;
    err = NULL;
    gpu_check(api->op_binary(d, HIVE_BINARY_ADD, &ga.t, &gb.t, &go.t, &err), err, "op_binary (captured)");
    g = capture_end_ok(fx, ge);

    /* recorded, not run */
    gpu_mat_read(fx, &go, got);
    for (int i = 0; i < RR * C; i++) assert_true(got[i] == 0.0f);
    /* buffers are fixed, their contents are not: new a, then replay */
    for (int i = 0; i < RR * C; i++) a[i] = 2.0f * a[i] + 1.0f;
    err = NULL; /* ga has no row padding: rows are contiguous from its offset */
    gpu_check(api->buffer_upload(d, ga.buf, ga.t.offset, a, sizeof a, &err), err, "buffer_upload");
    err = NULL;
    gpu_check(ge->replay(d, g, &err), err, "replay");
    gpu_mat_read(fx, &go, got);
    for (int i = 0; i < RR * C; i++) want[i] = a[i] + b[i];
    CHECK_ERR(gpu_rel_err(got, want, RR * C, 1e-6), 1e-6, "replayed binary");

    /* graph_free during another capture is deferred too */
    err = NULL;
    gpu_check(ge->capture_begin(d, &err), err, "capture_begin 2");
    ge->graph_free(d, g);
    err = NULL;
    gpu_check(api->op_binary(d, HIVE_BINARY_MUL, &ga.t, &gb.t, &go.t, &err), err, "op_binary (captured 2)");
    hive_graph *g2 = capture_end_ok(fx, ge);
    err = NULL;
    gpu_check(ge->replay(d, g2, &err), err, "replay 2");
    err = NULL;
    gpu_check(ge->replay(d, g2, &err), err, "replay 2 again");
    gpu_mat_read(fx, &go, got);
    for (int i = 0; i < RR * C; i++) want[i] = a[i] * b[i];
    CHECK_ERR(gpu_rel_err(got, want, RR * C, 1e-6), 1e-6, "replayed mul");
    ge->graph_free(d, g2);

    /* an op that fails during capture poisons it: capture_end fails, no graph */
    err = NULL;
    gpu_check(ge->capture_begin(d, &err), err, "capture_begin 3");
    hive_tensor bad = gb.t;
    bad.cols = C - 1; /* shape mismatch */
    err = NULL;
    expect_fail(api->op_binary(d, HIVE_BINARY_ADD, &ga.t, &bad, &go.t, &err), err, HIVE_E_SHAPE, NULL,
                "bad op during capture");
    g = (hive_graph *)(uintptr_t)1;
    err = NULL;
    expect_fail(ge->capture_end(d, &g, &err), err, HIVE_E_SHAPE, "during capture", "capture_end after a failed op");
    assert_null(g);

    /* the device is back to eager work */
    err = NULL;
    gpu_check(api->op_binary(d, HIVE_BINARY_ADD, &ga.t, &gb.t, &go.t, &err), err, "op_binary (eager)");
    gpu_mat_read(fx, &go, got);
    for (int i = 0; i < RR * C; i++) want[i] = a[i] + b[i];
    CHECK_ERR(gpu_rel_err(got, want, RR * C, 1e-6), 1e-6, "eager binary after captures");
    int32_t am[RR];
    err = NULL;
    gpu_check(api->op_argmax(d, &go.t, am, &err), err, "op_argmax (eager)");

    gpu_mat_free(fx, &ga);
    gpu_mat_free(fx, &gb);
    gpu_mat_free(fx, &go);
}

/* Scratch and graphs. (1) A small f16 matmul is captured (CUDA: it converts x
 * into the conversion scratch). (2) A matmul with more rows than max_rows needs
 * more scratch: during capture that is refused with a clear error (CUDA), and
 * after one eager run it captures. That eager run grew the scratch while graph
 * (1) existed, so the old scratch must have been kept alive: (1) still replays
 * correctly. On HIP (no conversion scratch) every step simply captures. */
static void matmul_data(int64_t m, int64_t n, int64_t k, uint32_t *seed, float **x, float **out, float **ref) {
    *x = malloc((size_t)(m * k) * 4);
    *out = malloc((size_t)(m * n) * 4);
    *ref = calloc((size_t)(m * n), 4);
    assert_true(*x && *out && *ref);
    ref_fill(*x, m * k, seed, 1.0f);
}

static void test_graph_scratch_growth(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    const hive_ext_graph *ge = graph_ext(fx);
    enum { MS = 4, M = 600, K = 64, N = 32 }; /* M > max_rows (512) */
    uint32_t seed = 3;
    void *raw;
    float *wf, *xs, *outs, *refs, *x, *out, *ref;
    ref_make_weight(HIVE_DTYPE_F16, N, K, &seed, &raw, &wf);
    hive_weight *w = gpu_weight_new(fx, HIVE_DTYPE_F16, N, K, raw);
    matmul_data(MS, N, K, &seed, &xs, &outs, &refs);
    matmul_data(M, N, K, &seed, &x, &out, &ref);
    ref_matmul(xs, wf, NULL, 1.0f, 0.0f, refs, MS, N, K);
    ref_matmul(x, wf, NULL, 1.0f, 0.0f, ref, M, N, K);
    gpu_mat gxs = gpu_mat_new(fx, MS, K, 0, xs), gos = gpu_mat_new(fx, MS, N, 0, NULL);
    gpu_mat gx = gpu_mat_new(fx, M, K, 0, x), go = gpu_mat_new(fx, M, N, 0, NULL);

    /* (1) */
    hive_error *err = NULL;
    gpu_check(ge->capture_begin(fx->dev, &err), err, "capture_begin small");
    err = NULL;
    gpu_check(fx->api->op_matmul(fx->dev, &gxs.t, w, NULL, 1.0f, 0.0f, &gos.t, &err), err, "captured small matmul");
    hive_graph *g1 = capture_end_ok(fx, ge);

    /* (2) */
    err = NULL;
    gpu_check(ge->capture_begin(fx->dev, &err), err, "capture_begin large");
    err = NULL;
    hive_status st = fx->api->op_matmul(fx->dev, &gx.t, w, NULL, 1.0f, 0.0f, &go.t, &err);
    if (st != HIVE_OK) {
        expect_fail(st, err, HIVE_E_UNSUPPORTED, "eagerly first", "matmul needing scratch during capture");
        hive_graph *g = (hive_graph *)(uintptr_t)1;
        err = NULL;
        expect_fail(ge->capture_end(fx->dev, &g, &err), err, HIVE_E_UNSUPPORTED, "eagerly first",
                    "capture_end after the scratch refusal");
        assert_null(g);
        /* as the message says: run it once eagerly (scratch grows), then capture */
        err = NULL;
        gpu_check(fx->api->op_matmul(fx->dev, &gx.t, w, NULL, 1.0f, 0.0f, &go.t, &err), err, "eager large matmul");
        err = NULL;
        gpu_check(ge->capture_begin(fx->dev, &err), err, "capture_begin large again");
        err = NULL;
        gpu_check(fx->api->op_matmul(fx->dev, &gx.t, w, NULL, 1.0f, 0.0f, &go.t, &err), err,
                  "captured large matmul");
    } else {
        fprintf(stderr, "%s: this matmul needs no extra scratch\n", fx->file);
        free(err);
    }
    hive_graph *g2 = capture_end_ok(fx, ge);

    /* zero the outputs, replay both graphs, compare */
    float *zero = calloc((size_t)M * N + 16, 4);
    assert_non_null(zero);
    err = NULL;
    gpu_check(fx->api->buffer_upload(fx->dev, go.buf, go.t.offset, zero, (uint64_t)M * N * 4, &err), err, "zero");
    err = NULL;
    gpu_check(fx->api->buffer_upload(fx->dev, gos.buf, gos.t.offset, zero, (uint64_t)MS * N * 4, &err), err, "zero");
    free(zero);
    err = NULL;
    gpu_check(ge->replay(fx->dev, g2, &err), err, "replay large");
    err = NULL;
    gpu_check(ge->replay(fx->dev, g1, &err), err, "replay small (scratch grown since its capture)");
    gpu_mat_read(fx, &go, out);
    CHECK_ERR(gpu_rel_err(out, ref, M * N, 1e-3), 1e-2, "replayed large matmul");
    gpu_mat_read(fx, &gos, outs);
    CHECK_ERR(gpu_rel_err(outs, refs, MS * N, 1e-3), 1e-2, "replayed small matmul");
    ge->graph_free(fx->dev, g1);
    ge->graph_free(fx->dev, g2);

    gpu_mat_free(fx, &gxs);
    gpu_mat_free(fx, &gos);
    gpu_mat_free(fx, &gx);
    gpu_mat_free(fx, &go);
    fx->api->weight_free(fx->dev, w);
    free(raw);
    free(wf);
    free(xs);
    free(outs);
    free(refs);
    free(x);
    free(out);
    free(ref);
}

/* A re-read array larger than the graph's first arena chunk: the arena grows
 * during capture, and the big array is re-read at every replay. */
static void test_graph_arena_growth(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    const hive_ext_graph *ge = graph_ext(fx);
    enum { N = 1 << 20, XR = 8 };
    float xv[XR];
    for (int i = 0; i < XR; i++) xv[i] = (float)(i + 1);
    gpu_mat gx = gpu_mat_new(fx, XR, 1, 0, xv), go = gpu_mat_new(fx, N, 1, 0, NULL);
    int32_t *rows = malloc((size_t)N * 4);
    float *out = malloc((size_t)N * 4);
    assert_true(rows && out);
    for (int i = 0; i < N; i++) rows[i] = i % XR;
    hive_error *err = NULL;
    gpu_check(ge->capture_begin(fx->dev, &err), err, "capture_begin");
    err = NULL;
    gpu_check(fx->api->op_get_rows(fx->dev, &gx.t, rows, N, &go.t, &err), err, "op_get_rows (captured)");
    hive_graph *g = capture_end_ok(fx, ge);
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < N; i++) rows[i] = (i * (3 + rep) + rep) % XR;
        err = NULL;
        gpu_check(ge->replay(fx->dev, g, &err), err, "replay");
        gpu_mat_read(fx, &go, out);
        for (int i = 0; i < N; i++)
            if (out[i] != (float)(rows[i] + 1))
                fail_msg("replay %d: out[%d] = %g, want %d", rep, i, (double)out[i], rows[i] + 1);
    }
    /* a rewrite that breaks the ABI's rules is refused at replay, not run */
    rows[N / 2] = XR;
    err = NULL;
    expect_fail(ge->replay(fx->dev, g, &err), err, HIVE_E_INVALID, NULL, "replay with a row out of range");
    ge->graph_free(fx->dev, g);
    gpu_mat_free(fx, &gx);
    gpu_mat_free(fx, &go);
    free(rows);
    free(out);
}

/* ---------------------------------------------------------------- main -- */
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_extension), cmocka_unit_test(test_graph_decode_replay),
        cmocka_unit_test(test_graph_rules), cmocka_unit_test(test_graph_scratch_growth),
        cmocka_unit_test(test_graph_arena_growth)
    };
    return gpu_run_per_plugin(tests, sizeof tests / sizeof tests[0]);
}
