/* A q8_0 KV cache against f16 on SmolLM2 over a long text (the project's own
 * docs as they were at commit 4cc4b93, frozen in tests/data/kv_quality so
 * that editing the docs cannot move the measurement; teacher-forced): mean KL divergence of the next-token distributions
 * and top-1 agreement, every 16th position. Issue 14's bars are mean KL <=
 * 0.002 and top-1 >= 99%: top-1 is met and asserted; the KL measured here is
 * 0.004 (docs/LONG_CONTEXT.md), so the test asserts <= 0.006 to catch a
 * regression, not the bar. HIVE_KV_QUALITY_TOKENS sets the length (default
 * 1024). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "golden_util.h"
#include "tokenizer/tokenizer.h"

#define EVERY 16 /* positions compared: one in EVERY, so logits fit in memory */

/* The first `need` bytes (at most 64 KiB: 8,192 tokens' worth) of README.md
 * and the docs concatenated as they were at commit 4cc4b93 */
static char *long_text(size_t need) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/kv_quality/docs-4cc4b93.txt", HIVE_SOURCE_DIR);
    char *text = malloc(need + 1);
    FILE *fp = fopen(path, "rb");
    size_t len = text && fp ? fread(text, 1, need, fp) : 0;
    if (fp) fclose(fp);
    if (text) text[len] = 0;
    return text;
}

/* Logits of every EVERY-th position of ids, run with the given KV type. */
static float *run(const char *model, uint32_t kv_dtype, const int32_t *ids, size_t n, uint32_t V) {
    golden_env env;
    golden_next = (golden_knobs){0};
    golden_next.cpu = 1;
    golden_next.kv_dtype = kv_dtype;
    golden_next.max_rows = 256;
    if (golden_env_open(&env, model, (uint32_t)n + 16, -1, 0)) return NULL;
    size_t n_out = (n + EVERY - 1) / EVERY;
    float *out = malloc(n_out * V * sizeof *out);
    int32_t *seqs = malloc(256 * sizeof *seqs), seq;
    uint8_t *want = malloc(256);
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    size_t done = 0;
    for (size_t i0 = 0; i0 < n; i0 += 256) {
        size_t m = n - i0 < 256 ? n - i0 : 256, k = 0;
        for (size_t i = 0; i < m; i++) seqs[i] = seq, want[i] = (i0 + i) % EVERY == 0, k += want[i];
        hive_fwd_batch b = {(uint32_t)m, ids + i0, seqs, want, NULL};
        assert_int_equal(hive_engine_forward(env.eng, &b, out + done * V, NULL), HIVE_OK);
        done += k;
    }
    free(seqs);
    free(want);
    golden_env_close(&env);
    return out;
}

static void q8_0_against_f16(void **state) {
    (void)state;
    const char *m = golden_model_path();
    if (!m) {
        printf("[ SKIPPED ] no SmolLM2 GGUF: run scripts/fetch-models.sh\n");
        skip();
    }
    const char *e = getenv("HIVE_KV_QUALITY_TOKENS");
    size_t want_tokens = e ? (size_t)atol(e) : 1024;
    golden_env probe;
    golden_next = (golden_knobs){0};
    golden_next.cpu = 1;
    assert_int_equal(golden_env_open(&probe, m, 64, -1, 0), 0);
    hive_tokenizer *tok = NULL;
    assert_int_equal(hive_tokenizer_new(&probe.model->vocab, &tok, NULL), HIVE_OK);
    uint32_t V = probe.model->vocab.n_tokens;
    golden_env_close(&probe);
    char *text = long_text(want_tokens * 8);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(hive_tokenizer_encode(tok, text, strlen(text), 0, 0, &ids, &n, NULL), HIVE_OK);
    if (n > want_tokens) n = want_tokens;
    assert_true(n >= want_tokens / 2);
    float *ref = run(m, HIVE_DTYPE_F16, ids, n, V), *q8 = run(m, HIVE_DTYPE_Q8_0, ids, n, V);
    assert_non_null(ref);
    assert_non_null(q8);
    size_t rows = (n + EVERY - 1) / EVERY, agree = 0;
    double kl_sum = 0, kl_max = 0;
    double *p = malloc(V * sizeof *p);
    for (size_t r = 0; r < rows; r++) {
        const float *a = ref + r * V, *b = q8 + r * V;
        double ma = -INFINITY, mb = -INFINITY, za = 0, zb = 0;
        for (uint32_t v = 0; v < V; v++) ma = fmax(ma, a[v]), mb = fmax(mb, b[v]);
        for (uint32_t v = 0; v < V; v++) za += (p[v] = exp(a[v] - ma)), zb += exp(b[v] - mb);
        double kl = 0; /* KL(f16 || q8_0) */
        for (uint32_t v = 0; v < V; v++)
            if (p[v] > 0) kl += p[v] / za * ((a[v] - ma - log(za)) - (b[v] - mb - log(zb)));
        kl_sum += kl;
        kl_max = fmax(kl_max, kl);
        agree += golden_argmax(a, V) == golden_argmax(b, V);
    }
    double kl_mean = kl_sum / (double)rows, top1 = (double)agree / (double)rows;
    printf("q8_0 vs f16 KV, SmolLM2, %zu tokens of the docs, %zu positions: mean KL %.5f (max %.4f), "
           "top-1 %.2f%%\n", n, rows, kl_mean, kl_max, 100 * top1);
    assert_true(kl_mean <= 0.006); /* measured 0.0043 at 1024 tokens; the bar is 0.002 */
    assert_true(top1 >= 0.99);
    free(p);
    free(ref);
    free(q8);
    free(ids);
    free(text);
    hive_tokenizer_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(q8_0_against_f16)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
