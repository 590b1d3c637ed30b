/* GGUF and safetensors readers: metadata, shapes, alignment, malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/tensor_file.h"
#include "test_writers.h"
#include "util/error.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = make_temp_dir();
    return g_dir ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    remove_tree(g_dir);
    free(g_dir);
    return 0;
}

/* Writes bytes to a temp file and opens it; *err set on failure. */
static hive_status open_bytes(const tbuf *b, size_t len, hive_tensor_file **f, hive_error **err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/t.bin", g_dir);
    unlink(path); /* a fresh file: rewriting one in place can stall on ext4 writeback */
    assert_int_equal(write_file(path, b->p, len), 0);
    *err = NULL;
    return hive_tf_open(path, f, err);
}

static void expect_error(const tbuf *b, size_t len, hive_status code, const char *text) {
    hive_tensor_file *f = NULL;
    hive_error *err = NULL;
    hive_status st = open_bytes(b, len, &f, &err);
    if (st != code || !strstr(hive_error_message(err), text))
        fail_msg("expected status %d with \"%s\", got %d: %s", code, text, st, hive_error_message(err));
    assert_null(f);
    hive_error_free(err);
    /* the same bytes parsed in place (hive_tf_open_mem, what the fuzz harnesses use) */
    err = NULL;
    st = hive_tf_open_mem("mem.bin", b->p, len, &f, &err);
    if (st != code || !strstr(hive_error_message(err), text) || strncmp(hive_error_message(err), "mem.bin: ", 9))
        fail_msg("in memory: expected status %d with \"%s\", got %d: %s", code, text, st, hive_error_message(err));
    assert_null(f);
    hive_error_free(err);
}

static void test_metadata(void **state) {
    (void)state;
    gguf_w w;
    gw_init(&w, 32);
    uint8_t u8 = 200;
    int8_t i8 = -3;
    uint16_t u16 = 60000;
    int16_t i16 = -300;
    int32_t i32 = -5;
    uint64_t u64 = 1ull << 40, huge = UINT64_MAX;
    int64_t i64 = -9;
    double f64 = 2.25;
    gw_scalar(&w, "t.u8", GT_U8, &u8, 1);
    gw_scalar(&w, "t.i8", GT_I8, &i8, 1);
    gw_scalar(&w, "t.u16", GT_U16, &u16, 2);
    gw_scalar(&w, "t.i16", GT_I16, &i16, 2);
    gw_u32(&w, "t.u32", 4000000000u);
    gw_scalar(&w, "t.i32", GT_I32, &i32, 4);
    gw_f32(&w, "t.f32", 1.5f);
    gw_bool(&w, "t.bool", 1);
    gw_str(&w, "t.str", "hello");
    gw_scalar(&w, "t.u64", GT_U64, &u64, 8);
    gw_scalar(&w, "t.huge", GT_U64, &huge, 8);
    gw_scalar(&w, "t.i64", GT_I64, &i64, 8);
    gw_scalar(&w, "t.f64", GT_F64, &f64, 8);
    uint32_t au[3] = {1, 2, 3};
    float af[2] = {0.5f, -4.0f};
    const char *as[3] = {"a", "bc", ""};
    gw_arr(&w, "t.arr_u32", GT_U32, au, 4, 3);
    gw_arr(&w, "t.arr_f32", GT_F32, af, 4, 2);
    gw_arr_str(&w, "t.arr_str", as, 3);
    /* an array of arrays: two arrays of one u8 each */
    uint8_t nested[2 * 13] = {0};
    for (int i = 0; i < 2; i++) {
        nested[i * 13] = GT_U8;
        nested[i * 13 + 4] = 1; /* count (u64 LE) */
        nested[i * 13 + 12] = (uint8_t)(7 + i);
    }
    gw_arr(&w, "t.nested", GT_ARR, nested, 13, 2);
    tbuf b;
    gw_finish(&w, &b);

    hive_tensor_file *f;
    hive_error *err;
    assert_int_equal(open_bytes(&b, b.len, &f, &err), HIVE_OK);
    tb_free(&b);
    assert_true(hive_tf_is_gguf(f));
    assert_int_equal(hive_tf_count(f), 0);
    assert_int_equal(hive_gguf_kv_count(f), 17);

    int64_t v;
    assert_int_equal(hive_gguf_get_i64(f, "t.u8", &v, &err), HIVE_OK);
    assert_int_equal(v, 200);
    assert_int_equal(hive_gguf_get_i64(f, "t.i8", &v, &err), HIVE_OK);
    assert_int_equal(v, -3);
    assert_int_equal(hive_gguf_get_i64(f, "t.u16", &v, &err), HIVE_OK);
    assert_int_equal(v, 60000);
    assert_int_equal(hive_gguf_get_i64(f, "t.i16", &v, &err), HIVE_OK);
    assert_int_equal(v, -300);
    assert_int_equal(hive_gguf_get_i64(f, "t.i32", &v, &err), HIVE_OK);
    assert_int_equal(v, -5);
    assert_int_equal(hive_gguf_get_i64(f, "t.u64", &v, &err), HIVE_OK);
    assert_int_equal(v, 1ll << 40);
    assert_int_equal(hive_gguf_get_i64(f, "t.i64", &v, &err), HIVE_OK);
    assert_int_equal(v, -9);
    assert_int_equal(hive_gguf_get_i64(f, "t.huge", &v, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;

    uint32_t u;
    assert_int_equal(hive_gguf_get_u32(f, "t.u32", &u, &err), HIVE_OK);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(hive_gguf_get_u32(f, "t.i32", &u, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "t.i32: value -5 does not fit in u32"));
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_gguf_get_u32(f, "t.u64", &u, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_gguf_get_u32(f, "t.str", &u, &err), HIVE_E_INVALID);
    assert_string_equal(hive_error_message(err), "GGUF key t.str has type string, expected an integer");
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_gguf_get_u32(f, "t.absent", &u, &err), HIVE_E_NOTFOUND);
    assert_null(err);

    float x;
    assert_int_equal(hive_gguf_get_f32(f, "t.f32", &x, &err), HIVE_OK);
    assert_true(x == 1.5f);
    assert_int_equal(hive_gguf_get_f32(f, "t.f64", &x, &err), HIVE_OK);
    assert_true(x == 2.25f);
    assert_int_equal(hive_gguf_get_f32(f, "t.u8", &x, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;
    int bv = 0;
    assert_int_equal(hive_gguf_get_bool(f, "t.bool", &bv, &err), HIVE_OK);
    assert_int_equal(bv, 1);
    hive_str s;
    assert_int_equal(hive_gguf_get_str(f, "t.str", &s, &err), HIVE_OK);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.ptr, "hello", 5);

    uint32_t et;
    uint64_t n;
    assert_int_equal(hive_gguf_get_arr(f, "t.arr_str", &et, &n, &err), HIVE_OK);
    assert_int_equal(et, HIVE_GGUF_STRING);
    assert_int_equal(n, 3);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(hive_gguf_arr_str(f, "t.arr_str", i, &s, &err), HIVE_OK);
        assert_int_equal(s.len, strlen(as[i]));
        assert_memory_equal(s.ptr, as[i], s.len);
    }
    assert_int_equal(hive_gguf_arr_str(f, "t.arr_str", 3, &s, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;
    /* index + 1 used to wrap to 0 and pass the bound (found writing fuzz_gguf) */
    assert_int_equal(hive_gguf_arr_str(f, "t.arr_str", UINT64_MAX, &s, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_gguf_arr_str(f, "t.arr_u32", 0, &s, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;
    int32_t ai[3];
    assert_int_equal(hive_gguf_arr_i32(f, "t.arr_u32", ai, 3, &err), HIVE_OK);
    assert_int_equal(ai[2], 3);
    float fv[3];
    assert_int_equal(hive_gguf_arr_f32(f, "t.arr_f32", fv, 2, &err), HIVE_OK);
    assert_true(fv[0] == 0.5f && fv[1] == -4.0f);
    assert_int_equal(hive_gguf_arr_f32(f, "t.arr_u32", fv, 3, &err), HIVE_OK);
    assert_true(fv[1] == 2.0f);
    assert_int_equal(hive_gguf_get_arr(f, "t.nested", &et, &n, &err), HIVE_OK);
    assert_int_equal(et, HIVE_GGUF_ARRAY);
    assert_int_equal(n, 2);

    /* keys come back in file order, with their types */
    hive_str key;
    uint32_t type;
    assert_int_equal(hive_gguf_kv_key(f, 8, &key, &type), HIVE_OK);
    assert_string_equal(key.ptr, "t.str");
    assert_int_equal(type, HIVE_GGUF_STRING);
    assert_int_equal(hive_gguf_kv_key(f, 17, &key, &type), HIVE_E_INVALID);
    hive_tf_close(f);
}

static void test_tensors_and_alignment(void **state) {
    (void)state;
    uint32_t aligns[2] = {32, 64};
    for (int a = 0; a < 2; a++) {
        gguf_w w;
        gw_init(&w, aligns[a]);
        gw_str(&w, "general.architecture", "llama");
        float f32[12];
        for (int i = 0; i < 12; i++) f32[i] = (float)i;
        uint16_t f16[8] = {0x3c00, 0x4000, 0, 0, 0, 0, 0, 0xbc00};
        uint8_t q8[2 * 2 * 34], q4[6 * 18];
        for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)i;
        for (size_t i = 0; i < sizeof q4; i++) q4[i] = (uint8_t)(3 * i);
        int64_t s2[2] = {3, 4}, s1[1] = {8}, sq8[2] = {2, 64}, s3[3] = {2, 3, 32};
        gw_tensor(&w, "a.f32", GG_F32, 2, s2, f32, sizeof f32);
        gw_tensor(&w, "b.f16", GG_F16, 1, s1, f16, sizeof f16);
        gw_tensor(&w, "c.q8", GG_Q8_0, 2, sq8, q8, sizeof q8);
        gw_tensor(&w, "d.q4", GG_Q4_0, 3, s3, q4, sizeof q4);
        tbuf b;
        gw_finish(&w, &b);
        hive_tensor_file *f;
        hive_error *err;
        assert_int_equal(open_bytes(&b, b.len, &f, &err), HIVE_OK);
        assert_int_equal(hive_tf_count(f), 4);
        assert_non_null(strstr(hive_tf_path(f), "t.bin"));
        hive_tensor_view v;
        assert_int_equal(hive_tf_find(f, "a.f32", &v), HIVE_OK);
        assert_int_equal(v.dtype, HIVE_DTYPE_F32);
        assert_int_equal(v.n_dims, 2);
        assert_int_equal(v.shape[0], 3);
        assert_int_equal(v.shape[1], 4);
        assert_int_equal(v.nbytes, 48);
        assert_memory_equal(v.data, f32, 48);
        assert_string_equal(v.name, "a.f32");
        assert_int_equal((uintptr_t)v.data % aligns[a], 0);
        assert_int_equal(hive_tf_find(f, "b.f16", &v), HIVE_OK);
        assert_int_equal(v.dtype, HIVE_DTYPE_F16);
        assert_int_equal(v.shape[0], 8);
        assert_memory_equal(v.data, f16, 16);
        assert_int_equal((uintptr_t)v.data % aligns[a], 0);
        assert_int_equal(hive_tf_find(f, "c.q8", &v), HIVE_OK);
        assert_int_equal(v.dtype, HIVE_DTYPE_Q8_0);
        assert_int_equal(v.shape[0], 2);
        assert_int_equal(v.shape[1], 64);
        assert_int_equal(v.nbytes, sizeof q8);
        assert_memory_equal(v.data, q8, sizeof q8);
        assert_int_equal(hive_tf_get(f, 3, &v), HIVE_OK);
        assert_string_equal(v.name, "d.q4");
        assert_int_equal(v.dtype, HIVE_DTYPE_Q4_0);
        assert_int_equal(v.n_dims, 3);
        assert_true(v.shape[0] == 2 && v.shape[1] == 3 && v.shape[2] == 32);
        assert_int_equal(v.nbytes, sizeof q4);
        assert_memory_equal(v.data, q4, sizeof q4);
        assert_int_equal(hive_tf_get(f, 4, &v), HIVE_E_INVALID);
        assert_int_equal(hive_tf_find(f, "nope", &v), HIVE_E_NOTFOUND);
        int64_t al = 0;
        hive_status st = hive_gguf_get_i64(f, "general.alignment", &al, &err);
        assert_int_equal(st, aligns[a] == 32 ? HIVE_E_NOTFOUND : HIVE_OK);
        hive_tf_close(f);
        tb_free(&b);
    }
}

/* A one-tensor file (n x 32 f32 elements) for the malformed cases. */
static void one_tensor(tbuf *b, uint32_t ggml_type, const char *name, int64_t cols) {
    gguf_w w;
    gw_init(&w, 32);
    gw_str(&w, "general.architecture", "llama");
    static uint8_t data[4096];
    int64_t shape[2] = {4, cols};
    gw_tensor(&w, name, ggml_type, 2, shape, data, ggml_type == GG_F32 ? (size_t)(16 * cols) : 4 * 176);
    gw_finish(&w, b);
}

static void test_malformed_gguf(void **state) {
    (void)state;
    tbuf b = {0};
    tb_put(&b, "GGUF\x03\x00", 6);
    expect_error(&b, b.len, HIVE_E_INVALID, "truncated GGUF file");
    tb_free(&b);

    tb_put(&b, "GGUF", 4);
    tb_u32(&b, 1);
    tb_u64(&b, 0);
    tb_u64(&b, 0);
    expect_error(&b, b.len, HIVE_E_VERSION, "GGUF version 1 is not supported");
    tb_free(&b);

    /* absurd counts are refused before anything is allocated */
    tb_put(&b, "GGUF", 4);
    tb_u32(&b, 3);
    tb_u64(&b, 1ull << 60);
    tb_u64(&b, 0);
    expect_error(&b, b.len, HIVE_E_INVALID, "header claims");
    tb_free(&b);

    /* a key whose length runs far past the file */
    tb_put(&b, "GGUF", 4);
    tb_u32(&b, 3);
    tb_u64(&b, 0);
    tb_u64(&b, 1);
    tb_u64(&b, 0xffffffffffffull);
    tb_put(&b, "general.name", 12);
    tb_u32(&b, GT_U32);
    tb_u32(&b, 0);
    expect_error(&b, b.len, HIVE_E_INVALID, "has length 281474976710655 at offset 24, past the end of the file");
    tb_free(&b);

    /* a string array that claims billions of elements */
    gguf_w w;
    gw_init(&w, 32);
    tb_gstr(&w.kv, "tokenizer.ggml.tokens");
    tb_u32(&w.kv, GT_ARR);
    tb_u32(&w.kv, GT_STR);
    tb_u64(&w.kv, 1ull << 40);
    w.n_kv++;
    gw_finish(&w, &b);
    expect_error(&b, b.len, HIVE_E_INVALID, "array tokenizer.ggml.tokens of 1099511627776 elements runs past");
    tb_free(&b);

    one_tensor(&b, GG_Q5_K, "blk.0.attn_q.weight", 256);
    expect_error(&b, b.len, HIVE_E_UNSUPPORTED,
                 "tensor blk.0.attn_q.weight has GGUF type Q5_K (13), which Hive does not support; "
                 "supported: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K");
    tb_free(&b);

    one_tensor(&b, GG_Q8_0, "w", 48);
    expect_error(&b, b.len, HIVE_E_INVALID, "tensor w: innermost dimension 48 is not a multiple of the Q8_0 block size 32");
    tb_free(&b);

    /* tensor data cut short: the offset + size runs past EOF */
    one_tensor(&b, GG_F32, "w", 32);
    expect_error(&b, b.len - 1, HIVE_E_INVALID, "tensor w (data offset 0, 512 bytes) extends past the end of the file");
    /* every shorter prefix fails cleanly too */
    for (size_t len = 1; len < b.len; len++) {
        hive_tensor_file *f = NULL;
        hive_error *err = NULL;
        hive_status st = open_bytes(&b, len, &f, &err);
        if (st == HIVE_OK) fail_msg("prefix of %zu bytes opened", len);
        assert_non_null(err);
        hive_error_free(err);
    }
    tb_free(&b);

    /* tensor offset pointing past EOF */
    gw_init(&w, 32);
    int64_t shape[1] = {8};
    float data[8] = {0};
    gw_tensor(&w, "w", GG_F32, 1, shape, data, sizeof data);
    size_t off_pos = w.info.len - 8;
    gw_finish(&w, &b);
    /* no metadata: the tensor info follows the 24-byte header; its offset field ends it */
    uint64_t far = 1u << 20;
    memcpy(b.p + 24 + off_pos, &far, 8);
    expect_error(&b, b.len, HIVE_E_INVALID, "tensor w (data offset 1048576, 32 bytes) extends past the end");
    tb_free(&b);

    /* duplicate names */
    gw_init(&w, 32);
    gw_tensor(&w, "w", GG_F32, 1, shape, data, sizeof data);
    gw_tensor(&w, "w", GG_F32, 1, shape, data, sizeof data);
    gw_finish(&w, &b);
    expect_error(&b, b.len, HIVE_E_INVALID, "tensor w appears twice");
    tb_free(&b);
}

/* Random byte flips of a valid file never crash: each open succeeds or fails with a message. */
static void test_corrupted_gguf(void **state) {
    (void)state;
    gguf_w w;
    gw_init(&w, 32);
    gw_str(&w, "general.architecture", "llama");
    const char *toks[4] = {"a", "b", "cd", "<|im_end|>"};
    gw_arr_str(&w, "tokenizer.ggml.tokens", toks, 4);
    float data[64] = {0};
    int64_t shape[2] = {2, 32};
    gw_tensor(&w, "x", GG_F32, 2, shape, data, sizeof data);
    gw_tensor(&w, "y", GG_Q8_0, 2, shape, data, 68);
    tbuf b;
    gw_finish(&w, &b);
    uint32_t seed = 12345;
    int failures = 0;
    for (int iter = 0; iter < 400; iter++) {
        tbuf c = {0};
        tb_put(&c, b.p, b.len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % 200; /* header and metadata region */
            seed = seed * 1103515245u + 12345u;
            c.p[pos] = (uint8_t)(seed >> 16);
        }
        hive_tensor_file *f = NULL;
        hive_error *err = NULL;
        hive_status st = open_bytes(&c, c.len, &f, &err);
        if (st == HIVE_OK) {
            for (uint64_t i = 0; i < hive_tf_count(f); i++) {
                hive_tensor_view v;
                assert_int_equal(hive_tf_get(f, i, &v), HIVE_OK);
                assert_true(v.nbytes <= c.len);
            }
            hive_tf_close(f);
        } else {
            assert_non_null(err);
            assert_true(strlen(hive_error_message(err)) > 0);
            failures++;
        }
        hive_error_free(err);
        tb_free(&c);
    }
    assert_true(failures > 0);
    tb_free(&b);
}

static void test_safetensors(void **state) {
    (void)state;
    st_w w;
    sw_init(&w);
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[4] = {0x3c00, 0x3f80, 0, 1};
    int32_t ids[3] = {7, 8, 9};
    int64_t sa[2] = {2, 3}, sh[1] = {4}, si[1] = {3};
    sw_tensor(&w, "model.a", "F32", 2, sa, a, sizeof a);
    sw_tensor(&w, "model.h", "BF16", 1, sh, h, sizeof h);
    sw_tensor(&w, "model.f", "F16", 1, sh, h, sizeof h);
    sw_tensor(&w, "model.i", "I32", 1, si, ids, sizeof ids);
    tbuf b;
    sw_finish(&w, &b);
    hive_tensor_file *f;
    hive_error *err;
    assert_int_equal(open_bytes(&b, b.len, &f, &err), HIVE_OK);
    assert_false(hive_tf_is_gguf(f));
    assert_int_equal(hive_tf_count(f), 4);
    hive_tensor_view v;
    assert_int_equal(hive_tf_find(f, "model.a", &v), HIVE_OK);
    assert_true(v.dtype == HIVE_DTYPE_F32 && v.n_dims == 2 && v.shape[0] == 2 && v.shape[1] == 3);
    assert_memory_equal(v.data, a, sizeof a);
    assert_int_equal(hive_tf_find(f, "model.h", &v), HIVE_OK);
    assert_int_equal(v.dtype, HIVE_DTYPE_BF16);
    assert_int_equal(hive_tf_find(f, "model.f", &v), HIVE_OK);
    assert_int_equal(v.dtype, HIVE_DTYPE_F16);
    assert_int_equal(hive_tf_find(f, "model.i", &v), HIVE_OK);
    assert_int_equal(v.dtype, HIVE_DTYPE_I32);
    assert_memory_equal(v.data, ids, sizeof ids);
    assert_int_equal(hive_tf_find(f, "__metadata__", &v), HIVE_E_NOTFOUND);
    uint32_t u;
    assert_int_equal(hive_gguf_get_u32(f, "x", &u, &err), HIVE_E_NOTFOUND);
    hive_tf_close(f);
    /* in place: views point into the caller's bytes, which close leaves alone */
    assert_int_equal(hive_tf_open_mem("mem.safetensors", b.p, b.len, &f, &err), HIVE_OK);
    assert_string_equal(hive_tf_path(f), "mem.safetensors");
    assert_int_equal(hive_tf_count(f), 4);
    assert_int_equal(hive_tf_find(f, "model.i", &v), HIVE_OK);
    assert_true((const uint8_t *)v.data > b.p && (const uint8_t *)v.data + v.nbytes == b.p + b.len);
    hive_tf_close(f);
    assert_int_equal(hive_tf_open_mem("empty", b.p, 0, &f, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "empty: file is empty"));
    hive_error_free(err);
    expect_error(&b, b.len - 1, HIVE_E_INVALID, "truncated safetensors file: tensor model.i ends at data offset");
    tb_free(&b);

    sw_init(&w);
    double d[2] = {1, 2};
    int64_t sd[1] = {2};
    sw_tensor(&w, "model.d", "F64", 1, sd, d, sizeof d);
    sw_finish(&w, &b);
    expect_error(&b, b.len, HIVE_E_UNSUPPORTED,
                 "tensor model.d has safetensors dtype F64, which Hive does not support; supported: F32 F16 BF16 I32");
    tb_free(&b);

    sw_init(&w);
    sw_tensor(&w, "model.a", "F32", 2, sa, a, sizeof a - 4); /* offsets disagree with the shape */
    sw_finish(&w, &b);
    expect_error(&b, b.len, HIVE_E_INVALID, "tensor model.a spans 20 bytes but its shape and dtype need 24");
    tb_free(&b);

    tb_u64(&b, 1ull << 40);
    tb_put(&b, "{}", 2);
    expect_error(&b, b.len, HIVE_E_INVALID, "not a GGUF or safetensors file");
    tb_free(&b);

    tb_put(&b, "\x0a\0\0\0\0\0\0\0{\"a\": 1,  ", 18);
    expect_error(&b, b.len, HIVE_E_INVALID, "not a JSON object");
    tb_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_tensors_and_alignment),
        cmocka_unit_test(test_malformed_gguf),
        cmocka_unit_test(test_corrupted_gguf),
        cmocka_unit_test(test_safetensors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
