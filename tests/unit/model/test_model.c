/* hive_model_open on tiny HF directories and GGUF files written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model.h"
#include "test_writers.h"
#include "tiny_model.h"
#include "util/error.h"

static char *g_root;
static int g_seq;

static int setup(void **state) {
    (void)state;
    g_root = make_temp_dir();
    return g_root ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    remove_tree(g_root);
    free(g_root);
    return 0;
}

/* A fresh directory for one HF model. */
static void new_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "%s/m%d", g_root, g_seq++);
    assert_int_equal(mkdir(dir, 0700), 0);
}

static hive_model_files *open_hf_ok(const tiny_cfg *c) {
    char dir[4096];
    new_dir(dir, sizeof dir);
    assert_int_equal(tiny_write_hf(dir, c), 0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    hive_status st = hive_model_open(dir, &m, &err);
    if (st != HIVE_OK) fail_msg("open %s: %s", dir, hive_error_message(err));
    return m;
}

static void expect_hf_error(const tiny_cfg *c, hive_status code, const char *text) {
    char dir[4096];
    new_dir(dir, sizeof dir);
    assert_int_equal(tiny_write_hf(dir, c), 0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    hive_status st = hive_model_open(dir, &m, &err);
    if (st != code || !strstr(hive_error_message(err), text))
        fail_msg("expected %d with \"%s\", got %d: %s", code, text, st, hive_error_message(err));
    assert_null(m);
    hive_error_free(err);
}

static void expect_gguf_error(const tiny_cfg *c, hive_status code, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/g%d.gguf", g_root, g_seq++);
    assert_int_equal(tiny_write_gguf(path, c, 0), 0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    hive_status st = hive_model_open(path, &m, &err);
    if (st != code || !strstr(hive_error_message(err), text))
        fail_msg("expected %d with \"%s\", got %d: %s", code, text, st, hive_error_message(err));
    assert_null(m);
    hive_error_free(err);
}

static void assert_shape(const hive_tensor_view *v, int64_t r, int64_t c) {
    assert_non_null(v->data);
    if (c) {
        assert_int_equal(v->n_dims, 2);
        assert_int_equal(v->shape[1], c);
    } else {
        assert_int_equal(v->n_dims, 1);
    }
    assert_int_equal(v->shape[0], r);
}

static void test_hf_llama_tied(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("llama");
    c.config_extra = "\"rms_norm_eps\": 1e-05, \"rope_theta\": 100000.0, \"max_position_embeddings\": 8192";
    hive_model_files *m = open_hf_ok(&c);
    const hive_hparams *hp = &m->hp;
    assert_int_equal(m->is_gguf, 0);
    assert_int_equal(hp->arch, HIVE_ARCH_LLAMA);
    assert_string_equal(hp->arch_name, "llama");
    assert_int_equal(hp->n_layers, 2);
    assert_int_equal(hp->hidden, 64);
    assert_int_equal(hp->n_heads, 4);
    assert_int_equal(hp->n_kv_heads, 2);
    assert_int_equal(hp->head_dim, 16);
    assert_int_equal(hp->rope_dims, 16);
    assert_int_equal(hp->ffn, 128);
    assert_int_equal(hp->vocab, 96);
    assert_int_equal(hp->max_ctx, 8192);
    assert_true(hp->rms_eps == 1e-5f);
    assert_true(hp->rope_theta == 100000.0f);
    assert_int_equal(hp->rope_mode, HIVE_ROPE_NEOX);
    assert_string_equal(hp->rope_scaling, "none");
    assert_true(hp->tied_embeddings);
    assert_false(hp->qkv_bias);
    assert_false(hp->qk_norm);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    assert_shape(&m->tok_embd, 96, 64);
    assert_int_equal(m->tok_embd.dtype, HIVE_DTYPE_F16);
    assert_shape(&m->output_norm, 64, 0);
    assert_int_equal(m->output_norm.dtype, HIVE_DTYPE_F32);
    assert_shape(&m->layers[1].wk, 32, 64);
    assert_int_equal(m->layers[1].wk.dtype, HIVE_DTYPE_BF16);
    assert_shape(&m->layers[1].wo, 64, 64);
    assert_shape(&m->layers[0].w_down, 64, 128);
    assert_null(m->layers[0].bq.data);
    assert_null(m->layers[0].q_norm.data);
    assert_string_equal(m->layers[0].wq.name, "model.layers.0.self_attn.q_proj.weight");
    uint64_t per_layer = 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 + 3 * 128 * 64;
    assert_int_equal(m->n_params, 96 * 64 + 64 + 2 * per_layer);
    assert_int_equal(m->weight_bytes, 96 * 64 * 2 + 64 * 4 + 2 * ((64 + 64) * 4 + (per_layer - 128) * 2));
    assert_int_equal(m->vocab.n_tokens, 0);
    assert_int_equal(m->vocab.bos_id, -1);
    assert_null(m->chat_template);
    assert_string_equal(hp->name, strrchr(m->path, '/') + 1);
    hive_model_close(m);
}

static void test_hf_qwen2_sharded(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("qwen2");
    c.untied = 1;
    c.shards = 2;
    c.config_extra = "\"rope_theta\": 1000000.0, \"rms_norm_eps\": 1e-06, \"rope_scaling\": null";
    hive_model_files *m = open_hf_ok(&c);
    assert_int_equal(m->hp.arch, HIVE_ARCH_QWEN2);
    assert_true(m->hp.qkv_bias);
    assert_false(m->hp.tied_embeddings);
    assert_true(m->hp.rope_theta == 1e6f);
    assert_true(m->hp.rms_eps == 1e-6f);
    assert_int_equal(m->hp.rope_mode, HIVE_ROPE_NEOX);
    assert_shape(&m->output, 96, 64);
    assert_ptr_not_equal(m->output.data, m->tok_embd.data);
    assert_shape(&m->layers[1].bq, 64, 0);
    assert_shape(&m->layers[1].bk, 32, 0);
    assert_shape(&m->layers[0].bv, 32, 0);
    hive_model_close(m);

    c.skip = "model.layers.1.self_attn.v_proj.bias";
    expect_hf_error(&c, HIVE_E_NOTFOUND, "missing tensor model.layers.1.self_attn.v_proj.bias (required by qwen2)");
}

static void test_hf_qwen3(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("qwen3");
    c.config_extra = "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}";
    hive_model_files *m = open_hf_ok(&c);
    assert_int_equal(m->hp.arch, HIVE_ARCH_QWEN3);
    assert_int_equal(m->hp.head_dim, 32);
    assert_true(m->hp.qk_norm);
    assert_false(m->hp.qkv_bias);
    assert_true(m->hp.rope_theta == 5e5f);
    assert_shape(&m->layers[0].wq, 128, 64);
    assert_shape(&m->layers[0].wk, 64, 64);
    assert_shape(&m->layers[0].wo, 64, 128);
    assert_shape(&m->layers[1].q_norm, 32, 0);
    assert_shape(&m->layers[1].k_norm, 32, 0);
    hive_model_close(m);

    /* yarn scaling is read from rope_scaling */
    c.config_extra = "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
                     "\"original_max_position_embeddings\": 32768}";
    m = open_hf_ok(&c);
    assert_string_equal(m->hp.rope_scaling, "yarn");
    assert_true(m->hp.rope_factor == 4.0f);
    assert_int_equal(m->hp.rope_orig_ctx, 32768);
    hive_model_close(m);

    c.config_extra = "\"rope_scaling\": {\"rope_type\": \"ntk-by-parts\"}";
    expect_hf_error(&c, HIVE_E_UNSUPPORTED, "rope_scaling type 'ntk-by-parts' is not supported");
    c.config_extra = "\"rope_scaling\": {\"rope_type\": \"longrope\"}";
    expect_hf_error(&c, HIVE_E_INVALID, "longrope needs short_factor and long_factor");
    c.config_extra = "\"rope_scaling\": {\"rope_type\": \"longrope\", \"short_factor\": [1, 2, 3, 4, 5, 6, 7, 8]}";
    expect_hf_error(&c, HIVE_E_INVALID, "must both be given");
}

static void test_hf_errors(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("llama");
    c.bad = "model.layers.1.self_attn.k_proj.weight";
    c.bad_shape[0] = 64;
    c.bad_shape[1] = 64;
    expect_hf_error(&c, HIVE_E_SHAPE, "model.layers.1.self_attn.k_proj.weight: expected [32, 64], found [64, 64]");

    c = tiny_default("llama");
    c.bad = "model.norm.weight";
    c.bad_shape[0] = 63;
    expect_hf_error(&c, HIVE_E_SHAPE, "model.norm.weight: expected [64], found [63]");

    c = tiny_default("llama");
    c.skip = "model.layers.0.mlp.up_proj.weight";
    expect_hf_error(&c, HIVE_E_NOTFOUND, "missing tensor model.layers.0.mlp.up_proj.weight");

    c = tiny_default("llama");
    c.skip = "model.embed_tokens.weight";
    expect_hf_error(&c, HIVE_E_NOTFOUND, "missing tensor model.embed_tokens.weight");

    c = tiny_default("llama");
    c.model_type = "gemma";
    expect_hf_error(&c, HIVE_E_UNSUPPORTED,
                    "unknown architecture 'gemma' (config.json model_type); supported: llama qwen2 qwen3");

    /* no weights at all */
    char dir[4096], path[4200];
    new_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(write_text(path, "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
                                      " \"num_attention_heads\": 4, \"intermediate_size\": 128}"),
                     0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_model_open(dir, &m, &err), HIVE_E_NOTFOUND);
    assert_non_null(strstr(hive_error_message(err), "has neither model.safetensors nor model.safetensors.index.json"));
    hive_error_free(err);
    err = NULL;

    /* config.json missing a required field */
    assert_int_equal(write_text(path, "{\"model_type\": \"llama\", \"hidden_size\": 64}"), 0);
    assert_int_equal(hive_model_open(dir, &m, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "config.json: num_hidden_layers is missing"));
    hive_error_free(err);
    err = NULL;

    /* found by tests/fuzz/fuzz_hf_config: a layer count far past the limit is
     * rejected before the MoE layer table (one byte a layer) is made; numbers
     * a float cannot hold, and longrope factors that are 0 as floats, are errors */
    static const struct {
        const char *json, *want;
    } k_bad[] = {
        {"{\"model_type\": \"qwen3_moe\", \"num_hidden_layers\": 4294967295, \"hidden_size\": 64,"
         " \"intermediate_size\": 128, \"num_attention_heads\": 4, \"num_experts\": 4, \"num_experts_per_tok\": 2,"
         " \"moe_intermediate_size\": 24}",
         "implausible layer count 4294967295"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"intermediate_size\": 128, \"rope_theta\": 1e39}",
         "config.json: rope_theta = 1e+39 does not fit a 32-bit float"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"intermediate_size\": 128, \"rope_scaling\": {\"rope_type\": \"longrope\", \"short_factor\": [1e-50],"
         " \"long_factor\": [1]}}",
         "config.json: short_factor[0] must be a positive number"},
    };
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        assert_int_equal(write_text(path, k_bad[i].json), 0);
        assert_int_equal(hive_model_open(dir, &m, &err), HIVE_E_INVALID);
        assert_non_null(strstr(hive_error_message(err), k_bad[i].want));
        hive_error_free(err);
        err = NULL;
    }

    /* architectures[] when model_type is absent */
    assert_int_equal(write_text(path, "{\"architectures\": [\"MistralForCausalLM\"]}"), 0);
    assert_int_equal(hive_model_open(dir, &m, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "unknown architecture 'MistralForCausalLM' (config.json architectures)"));
    hive_error_free(err);
    err = NULL;

    assert_int_equal(hive_model_open("/nonexistent/hive/model", &m, &err), HIVE_E_IO);
    hive_error_free(err);
}

static void test_hf_architectures_fallback(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("qwen2");
    c.omit_model_type = 1;
    c.config_extra = "\"architectures\": [\"Qwen2ForCausalLM\"]";
    hive_model_files *m = open_hf_ok(&c);
    assert_int_equal(m->hp.arch, HIVE_ARCH_QWEN2);
    assert_string_equal(m->hp.arch_name, "qwen2");
    hive_model_close(m);
}

static void test_gguf_llama(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("llama");
    char path[4096];
    snprintf(path, sizeof path, "%s/tiny.gguf", g_root);
    assert_int_equal(tiny_write_gguf(path, &c, 1), 0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    hive_status st = hive_model_open(path, &m, &err);
    if (st) fail_msg("%s", hive_error_message(err));
    const hive_hparams *hp = &m->hp;
    assert_true(m->is_gguf);
    assert_string_equal(hp->name, "Tiny Test Model");
    assert_int_equal(hp->arch, HIVE_ARCH_LLAMA);
    assert_int_equal(hp->rope_mode, HIVE_ROPE_NORMAL);
    assert_int_equal(hp->n_layers, 2);
    assert_int_equal(hp->head_dim, 16);
    assert_int_equal(hp->vocab, 96);
    assert_int_equal(hp->max_ctx, 4096);
    assert_true(hp->rope_theta == 100000.0f);
    assert_true(hp->rms_eps == 1e-5f);
    assert_true(hp->tied_embeddings);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    assert_int_equal(m->tok_embd.dtype, HIVE_DTYPE_Q8_0);
    assert_shape(&m->tok_embd, 96, 64);
    assert_int_equal(m->layers[1].wk.dtype, HIVE_DTYPE_Q4_1);
    assert_shape(&m->layers[1].wk, 32, 64);
    assert_shape(&m->layers[1].w_down, 64, 128);
    assert_string_equal(m->layers[1].w_down.name, "blk.1.ffn_down.weight");

    const hive_vocab_src *v = &m->vocab;
    assert_int_equal(v->n_tokens, 96);
    assert_int_equal(v->tokens[2].len, 10);
    assert_memory_equal(v->tokens[2].ptr, "<|im_end|>", 10);
    assert_memory_equal(v->tokens[95].ptr, "t95", 3);
    assert_non_null(v->types);
    assert_int_equal(v->types[0], 3);
    assert_int_equal(v->types[50], 1);
    assert_int_equal(v->n_merges, 2);
    assert_int_equal(v->merges[1].len, 4);
    assert_memory_equal(v->merges[1].ptr, "\xc4\xa0 t", 4);
    assert_string_equal(v->pre, "smollm");
    assert_int_equal(v->bos_id, 1);
    assert_int_equal(v->eos_id, 2);
    assert_int_equal(v->unk_id, 3);
    assert_int_equal(v->pad_id, -1); /* 9999 is out of range */
    assert_int_equal(v->eot_id, 2);
    assert_int_equal(v->add_bos, 1);
    assert_string_equal(m->chat_template, "{% for m in messages %}{{ m.content }}{% endfor %}");
    hive_model_close(m);
}

/* llama.cpp's rope.scaling.* keys; attn_factor is its multiplier of the scale */
static void test_gguf_rope_scaling(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("qwen2");
    c.gguf_yarn = 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/yarn.gguf", g_root);
    assert_int_equal(tiny_write_gguf(path, &c, 0), 0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    if (hive_model_open(path, &m, &err)) fail_msg("%s", hive_error_message(err));
    assert_string_equal(m->hp.rope_scaling, "yarn");
    assert_true(m->hp.rope_factor == 4.0f);
    assert_int_equal(m->hp.rope_orig_ctx, 1024);
    assert_true(m->hp.yarn_beta_fast == 16.0f && m->hp.yarn_beta_slow == 2.0f);
    assert_true(m->hp.rope_attn_mult == 1.5f);
    /* the command line wins */
    hive_rope_override o;
    memset(&o, 0, sizeof o);
    snprintf(o.scaling, sizeof o.scaling, "linear");
    o.factor = 2.0f;
    o.orig_ctx = 512;
    assert_int_equal(hive_hparams_rope_override(&m->hp, &o, &err), HIVE_OK);
    assert_string_equal(m->hp.rope_scaling, "linear");
    assert_true(m->hp.rope_factor == 2.0f);
    assert_int_equal(m->hp.rope_orig_ctx, 512);
    assert_true(m->hp.yarn_beta_fast == 16.0f); /* not given: the model's */
    o.factor = -1.0f;
    assert_int_not_equal(hive_hparams_rope_override(&m->hp, &o, &err), HIVE_OK);
    assert_non_null(strstr(hive_error_message(err), "--rope-scale"));
    hive_error_free(err);
    hive_model_close(m);
}

static void test_gguf_qwen3_and_errors(void **state) {
    (void)state;
    tiny_cfg c = tiny_default("qwen3");
    c.untied = 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/q3.gguf", g_root);
    assert_int_equal(tiny_write_gguf(path, &c, 0), 0);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    if (hive_model_open(path, &m, &err)) fail_msg("%s", hive_error_message(err));
    assert_int_equal(m->hp.arch, HIVE_ARCH_QWEN3);
    assert_int_equal(m->hp.rope_mode, HIVE_ROPE_NEOX);
    assert_int_equal(m->hp.head_dim, 32);
    assert_true(m->hp.qk_norm);
    assert_false(m->hp.tied_embeddings);
    assert_int_equal(m->hp.vocab, 96); /* no tokenizer, no vocab_size: from token_embd */
    assert_shape(&m->layers[0].q_norm, 32, 0);
    assert_shape(&m->output, 96, 64);
    assert_string_equal(m->hp.name, "Tiny Test Model");
    assert_int_equal(m->vocab.n_tokens, 0);
    assert_null(m->chat_template);
    hive_model_close(m);

    c = tiny_default("llama");
    c.bad = "blk.1.attn_k.weight";
    c.bad_shape[0] = 64;
    c.bad_shape[1] = 64;
    expect_gguf_error(&c, HIVE_E_SHAPE, "blk.1.attn_k.weight: expected [32, 64], found [64, 64]");

    c = tiny_default("gemma");
    expect_gguf_error(&c, HIVE_E_UNSUPPORTED,
                      "unknown architecture 'gemma' (general.architecture); supported: llama qwen2 qwen3");

    c = tiny_default("llama");
    c.skip = "block_count";
    expect_gguf_error(&c, HIVE_E_INVALID, "GGUF key llama.block_count is missing");

    c = tiny_default("qwen3");
    c.skip = "blk.0.attn_k_norm.weight";
    expect_gguf_error(&c, HIVE_E_NOTFOUND, "missing tensor blk.0.attn_k_norm.weight (required by qwen3)");

    /* a safetensors file where a GGUF file is expected */
    char dir[4096], st_path[4200];
    new_dir(dir, sizeof dir);
    c = tiny_default("llama");
    assert_int_equal(tiny_write_hf(dir, &c), 0);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    assert_int_equal(hive_model_open(st_path, &m, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "is not a GGUF file"));
    hive_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_llama_tied),     cmocka_unit_test(test_hf_qwen2_sharded),
        cmocka_unit_test(test_hf_qwen3),          cmocka_unit_test(test_hf_errors),
        cmocka_unit_test(test_hf_architectures_fallback), cmocka_unit_test(test_gguf_llama),
        cmocka_unit_test(test_gguf_qwen3_and_errors),
        cmocka_unit_test(test_gguf_rope_scaling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
