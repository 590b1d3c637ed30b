/* The downloaded SmolLM2-135M-Instruct Q4_1 GGUF: hyper-parameters, tensor
 * types, tokenizer metadata and a few dequantized values (reference values
 * from gguf-py's dequantize). Skips when the file is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/dequant.h"
#include "model/model.h"
#include "util/dtype.h"
#include "util/error.h"

static const char *model_path(void) {
    static char path[4096];
    const char *env = getenv("HIVE_TEST_GGUF");
    if (env && *env) return env;
    const char *home = getenv("HOME");
    snprintf(path, sizeof path, "%s/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
    return path;
}

static void assert_close(float got, float want) {
    if (fabsf(got - want) > 1e-5f + 1e-5f * fabsf(want)) fail_msg("got %.8g, want %.8g", got, want);
}

static void test_smollm2(void **state) {
    (void)state;
    const char *path = model_path();
    if (access(path, R_OK) != 0) {
        print_message("skipped: %s not found (set HIVE_TEST_GGUF or download SmolLM2-135M-Instruct.Q4_1.gguf)\n", path);
        skip();
    }
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    if (hive_model_open(path, &m, &err)) fail_msg("%s", hive_error_message(err));
    const hive_hparams *hp = &m->hp;
    assert_string_equal(hp->arch_name, "llama");
    assert_int_equal(hp->arch, HIVE_ARCH_LLAMA);
    assert_int_equal(hp->n_layers, 30);
    assert_int_equal(hp->hidden, 576);
    assert_int_equal(hp->n_heads, 9);
    assert_int_equal(hp->n_kv_heads, 3);
    assert_int_equal(hp->head_dim, 64);
    assert_int_equal(hp->rope_dims, 64);
    assert_int_equal(hp->ffn, 1536);
    assert_int_equal(hp->vocab, 49152);
    assert_int_equal(hp->max_ctx, 8192);
    assert_true(hp->tied_embeddings);
    assert_true(hp->rope_theta == 100000.0f);
    assert_true(hp->rms_eps == 1e-5f);
    assert_int_equal(hp->rope_mode, HIVE_ROPE_NORMAL);
    assert_int_equal(m->tok_embd.dtype, HIVE_DTYPE_Q8_0);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    assert_int_equal(m->layers[0].wq.dtype, HIVE_DTYPE_Q4_1);
    assert_int_equal(m->layers[29].w_down.dtype, HIVE_DTYPE_Q4_1);
    assert_int_equal(m->layers[0].attn_norm.dtype, HIVE_DTYPE_F32);
    assert_int_equal(m->layers[3].wk.shape[0], 192);
    assert_int_equal(m->layers[3].wk.shape[1], 576);
    assert_int_equal(m->n_params, 134515008);
    assert_int_equal(m->weight_bytes, 96576768);

    const hive_vocab_src *v = &m->vocab;
    assert_int_equal(v->n_tokens, 49152);
    assert_int_equal(v->n_merges, 48900);
    assert_string_equal(v->pre, "smollm");
    assert_int_equal(v->bos_id, 1);
    assert_int_equal(v->eos_id, 2);
    assert_int_equal(v->eot_id, 2);
    assert_int_equal(v->add_bos, 0);
    assert_int_equal(v->merges[0].len, 4);
    assert_memory_equal(v->merges[0].ptr, "\xc4\xa0 t", 4);
    assert_memory_equal(v->tokens[1].ptr, "<|im_start|>", 12);
    assert_non_null(m->chat_template);
    assert_non_null(strstr(m->chat_template, "<|im_start|>"));

    /* dequantized values vs gguf-py */
    float *row = malloc(576 * sizeof *row);
    const uint8_t *embd = m->tok_embd.data;
    uint64_t rb = hive_dtype_row_bytes(HIVE_DTYPE_Q8_0, 576);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q8_0, embd, row, 576), HIVE_OK);
    assert_close(row[0], -0.10654449f);
    assert_close(row[3], -0.02283096f);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q8_0, embd + 100 * rb, row, 576), HIVE_OK);
    double sum = 0;
    for (int i = 0; i < 576; i++) sum += row[i];
    assert_true(fabs(sum - 2.175539) < 1e-4);
    const uint8_t *wq = m->layers[0].wq.data;
    rb = hive_dtype_row_bytes(HIVE_DTYPE_Q4_1, 576);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_1, wq, row, 576), HIVE_OK);
    assert_close(row[0], -0.09631348f);
    assert_close(row[1], 0.15734863f);
    assert_close(row[3], -0.73046875f);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_1, wq + 575 * rb, row, 576), HIVE_OK);
    sum = 0;
    for (int i = 0; i < 576; i++) sum += row[i];
    assert_true(fabs(sum - -4.734955) < 1e-3);
    free(row);
    hive_model_close(m);
}

/* Row r of an f32 matrix vs row r2 of a bf16 one: equal after bf16 rounding. */
static void assert_rows_match(const float *a, const uint16_t *b, int n, const char *what, int r) {
    for (int i = 0; i < n; i++)
        if (hive_f32_to_bf16(a[i]) != b[i])
            fail_msg("%s row %d col %d: %g vs %g", what, r, i, a[i], hive_bf16_to_f32(b[i]));
}

/* An HF directory made from the same GGUF (transformers' GGUF loader,
 * bf16; see the report of the model layer): its q/k rows are the GGUF rows
 * un-permuted, which is why GGUF llama is HIVE_ROPE_NORMAL and HF is NEOX. */
static void test_hf_dir_matches_gguf(void **state) {
    (void)state;
    const char *dir = getenv("HIVE_TEST_HF_DIR");
    const char *path = model_path();
    if (!dir || !*dir || access(path, R_OK) != 0) {
        print_message("skipped: set HIVE_TEST_HF_DIR to an HF copy of %s\n", path);
        skip();
    }
    hive_model_files *g = NULL, *h = NULL;
    hive_error *err = NULL;
    if (hive_model_open(path, &g, &err)) fail_msg("%s", hive_error_message(err));
    if (hive_model_open(dir, &h, &err)) fail_msg("%s", hive_error_message(err));
    assert_int_equal(h->hp.rope_mode, HIVE_ROPE_NEOX);
    assert_int_equal(g->hp.rope_mode, HIVE_ROPE_NORMAL);
    assert_int_equal(h->hp.n_layers, g->hp.n_layers);
    assert_int_equal(h->hp.n_kv_heads, g->hp.n_kv_heads);
    assert_int_equal(h->hp.vocab, g->hp.vocab);
    assert_true(h->hp.tied_embeddings);
    assert_int_equal(h->n_params, g->n_params);
    if (h->vocab.n_tokens) assert_int_equal(h->vocab.n_tokens, g->vocab.n_tokens);
    int hd = (int)g->hp.head_dim, in = (int)g->hp.hidden;
    float *row = malloc((size_t)g->hp.ffn * sizeof *row);
    uint64_t rb = hive_dtype_row_bytes(HIVE_DTYPE_Q4_1, in);
    const hive_tensor_view *gw[2] = {&g->layers[5].wq, &g->layers[5].wk};
    const hive_tensor_view *hw[2] = {&h->layers[5].wq, &h->layers[5].wk};
    for (int t = 0; t < 2; t++) {
        assert_int_equal(hw[t]->dtype, HIVE_DTYPE_BF16);
        for (int r = 0; r < (int)gw[t]->shape[0]; r++) {
            /* GGUF row head*hd + 2i + j holds HF row head*hd + j*hd/2 + i */
            int head = r / hd, i = (r % hd) / 2, j = r % 2;
            int r_hf = head * hd + j * (hd / 2) + i;
            assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_1, (const uint8_t *)gw[t]->data + (uint64_t)r * rb, row, in),
                             HIVE_OK);
            assert_rows_match(row, (const uint16_t *)hw[t]->data + (size_t)r_hf * (size_t)in, in, t ? "wk" : "wq", r);
        }
    }
    /* v and ffn rows are not permuted */
    int ffn = (int)g->hp.ffn;
    rb = hive_dtype_row_bytes(HIVE_DTYPE_Q4_1, ffn);
    for (int r = 0; r < in; r += 7) {
        assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_1, (const uint8_t *)g->layers[5].w_down.data + (uint64_t)r * rb,
                                         row, ffn), HIVE_OK);
        assert_rows_match(row, (const uint16_t *)h->layers[5].w_down.data + (size_t)r * (size_t)ffn, ffn, "w_down", r);
    }
    free(row);
    hive_model_close(g);
    hive_model_close(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smollm2), cmocka_unit_test(test_hf_dir_matches_gguf)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
