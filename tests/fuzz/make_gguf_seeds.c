/* Writes the GGUF seeds of the fuzz_gguf corpus with the model tests' writers
 * (tests/unit/model): tiny llama and qwen2/qwen3 models, with and without
 * tokenizer metadata, and one file holding every metadata value type (nested
 * arrays included) and every tensor type Hive reads. Run by hand:
 *   cmake --build build/fuzz --target fuzz_make_gguf_seeds
 *   build/fuzz/fuzz/fuzz_make_gguf_seeds tests/fuzz/corpus/gguf */
#include <stdio.h>
#include <string.h>

#include "test_writers.h"
#include "tiny_model.h"

static tiny_cfg small(const char *arch) {
    tiny_cfg c = tiny_default(arch);
    c.layers = 1;
    c.hidden = 32;
    c.heads = 2;
    c.kv_heads = 1;
    c.head_dim = 16;
    c.ffn = 32;
    c.vocab = 24;
    return c;
}

/* Every GGUF value type as metadata, and one tensor of each supported type. */
static int write_all_types(const char *path) {
    gguf_w w;
    gw_init(&w, 64); /* also writes general.alignment */
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 60000;
    int16_t i16 = -300;
    int32_t i32 = -70000;
    uint64_t u64 = 1ull << 40;
    int64_t i64 = -(1ll << 40);
    double f64 = 0.25;
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
    gw_scalar(&w, "t.i64", GT_I64, &i64, 8);
    gw_scalar(&w, "t.f64", GT_F64, &f64, 8);
    const float fa[3] = {1, 2, 3};
    const int32_t ia[3] = {-1, 0, 1};
    const char *sa[2] = {"a", "bc"};
    gw_arr(&w, "t.arr_f32", GT_F32, fa, 4, 3);
    gw_arr(&w, "t.arr_i32", GT_I32, ia, 4, 3);
    gw_arr_str(&w, "t.arr_str", sa, 2);
    /* an array of two arrays of u8: [[1, 2], [3]] */
    tb_gstr(&w.kv, "t.arr_arr");
    tb_u32(&w.kv, GT_ARR);
    tb_u32(&w.kv, GT_ARR);
    tb_u64(&w.kv, 2);
    tb_u32(&w.kv, GT_U8);
    tb_u64(&w.kv, 2);
    tb_u8(&w.kv, 1);
    tb_u8(&w.kv, 2);
    tb_u32(&w.kv, GT_U8);
    tb_u64(&w.kv, 1);
    tb_u8(&w.kv, 3);
    w.n_kv++;
    static const struct {
        const char *name;
        uint32_t type;
        int64_t inner;
        size_t bytes;
    } t[] = {{"f32", GG_F32, 4, 16},     {"f16", GG_F16, 4, 8},       {"bf16", GG_BF16, 4, 8},
             {"q8_0", GG_Q8_0, 32, 34},  {"q4_0", GG_Q4_0, 32, 18},   {"q4_1", GG_Q4_1, 32, 20},
             {"q4_k", GG_Q4_K, 256, 144}, {"q6_k", GG_Q6_K, 256, 210}};
    static uint8_t zeros[256];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t shape[2] = {1, t[i].inner};
        gw_tensor(&w, t[i].name, t[i].type, 2, shape, zeros, t[i].bytes);
    }
    tbuf b;
    gw_finish(&w, &b);
    int rc = write_file(path, b.p, b.len);
    tb_free(&b);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    char p[4096];
    int rc = 0;
    tiny_cfg llama = small("llama"), qwen2 = small("qwen2"), qwen3 = small("qwen3");
    snprintf(p, sizeof p, "%s/llama-tokenizer.gguf", argv[1]);
    rc |= tiny_write_gguf(p, &llama, 1);
    snprintf(p, sizeof p, "%s/qwen2.gguf", argv[1]);
    rc |= tiny_write_gguf(p, &qwen2, 0);
    snprintf(p, sizeof p, "%s/qwen3.gguf", argv[1]);
    rc |= tiny_write_gguf(p, &qwen3, 0);
    snprintf(p, sizeof p, "%s/all-types.gguf", argv[1]);
    rc |= write_all_types(p);
    if (rc) fprintf(stderr, "cannot write the seeds into %s\n", argv[1]);
    return rc ? 1 : 0;
}
