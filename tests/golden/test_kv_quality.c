/* Quantized KV caches against f16 on SmolLM2 over a long text (the project's
 * own docs as they were at commit 4cc4b93, frozen in tests/data/kv_quality so
 * that editing the docs cannot move the measurement; teacher-forced): mean KL
 * divergence KL(f16 || other) of the next-token distributions and top-1
 * agreement at scored positions. Issue 14's bars are mean KL <= 0.002 and
 * top-1 >= 99%.
 *
 * Two CI cases, q8_0 against f16:
 * - the GGUF's Q4_1 weights, 1024 tokens, every 16th position: their dots
 *   round every activation to 8 bits, so any change upstream (an f32 cache
 *   as much as a q8_0 one) moves the logits by about KL 0.004 and top-1 95%
 *   (docs/LONG_CONTEXT.md); asserted KL <= 0.006 and top-1 >= 95%, a
 *   regression guard;
 * - the weights dequantized to f32 (activations stay f32), 8192 tokens,
 *   every position: what the cache itself costs; asserted KL <= 0.002 (the
 *   bar) and <= 0.0003, which only the rotated q8_0 rows (cpu_kv_rotate in
 *   onednn-cpu) reach, and top-1 >= 98.5% (the 99% bar is met by 2 to 14
 *   positions of 8192, too near for a CI guard).
 *
 * Knobs (measurements for docs/LONG_CONTEXT.md; they assert nothing):
 *   HIVE_KV_QUALITY_TOKENS=N   the length (default 1024)
 *   HIVE_KV_QUALITY_TYPES=L    --kv-dtype values against f16, separated by
 *                              spaces, e.g. "q8_0 q4_0 q8_0,f16 f16,q8_0"
 *   HIVE_KV_QUALITY_REF=T      the reference instead of f16 (e.g. f32)
 *   HIVE_KV_QUALITY_WEIGHTS=W  f32 or bf16: the weights dequantized to W
 *   HIVE_KV_QUALITY_CHUNK=C    llama.cpp's perplexity layout: independent
 *                              chunks of C tokens, only each chunk's second
 *                              half scored (its KL-divergence figures).
 *   HIVE_KV_QUALITY_TAIL=N     q8_0 / q4_0 types run with --kv-tail N, in
 *                              passes of 16 rows (pages migrate after each
 *                              pass, so a pass of 256 would keep up to 256
 *                              more rows f16 than decoding does).
 *   HIVE_KV_QUALITY_EVERY=E    score one position in E (default 16; 1 scores
 *                              every position: 1.6 GB of logits a run at 8k)
 * With any knob set the first case measures what the knobs ask and the
 * second, the CI's f32 case, skips (it would repeat the same runs). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "golden_util.h"
#include "tokenizer/tokenizer.h"

/* positions compared: one in EVERY (kv_quality sets it) */
static size_t EVERY = 16;

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

/* Position i is scored: every EVERY-th, and with chunks only in a chunk's
 * second half. Its depth: tokens before it in its sequence. */
static int scored(size_t i, size_t chunk) { return i % EVERY == 0 && (!chunk || i % chunk >= chunk / 2); }
static size_t depth_of(size_t i, size_t chunk) { return chunk ? i % chunk : i; }

/* Logits of the scored positions of ids, run with K and V types k, v; *rows
 * gets their count. One sequence, or one per chunk. */
static float *run(const char *model, uint32_t k, uint32_t v, const int32_t *ids, size_t n, uint32_t V, size_t chunk,
                  int32_t weights, size_t *rows) {
    golden_env env;
    golden_next = (golden_knobs){0};
    golden_next.cpu = 1;
    golden_next.kv_dtype = k;
    golden_next.kv_v_dtype = v != k ? v : 0;
    golden_next.max_rows = 256;
    const char *tail = getenv("HIVE_KV_QUALITY_TAIL");
    int store = (k == HIVE_DTYPE_Q8_0 || k == HIVE_DTYPE_Q4_0) && (v == HIVE_DTYPE_Q8_0 || v == HIVE_DTYPE_Q4_0);
    if (tail && atoi(tail) > 0 && store) {
        golden_next.kv_tail = (uint32_t)atoi(tail), golden_next.max_rows = 16;
        printf("(next: f16 tail %u, passes of 16 rows)\n", golden_next.kv_tail);
    }
    if (golden_env_open(&env, model, (uint32_t)(chunk ? chunk : n) + 16, weights, 0)) return NULL;
    size_t n_out = 0;
    for (size_t i = 0; i < n; i++) n_out += (size_t)scored(i, chunk);
    float *out = malloc((n_out ? n_out : 1) * V * sizeof *out);
    int32_t *seqs = malloc(256 * sizeof *seqs), seq = -1;
    uint8_t *want = malloc(256);
    size_t done = 0, span = chunk ? chunk : n;
    for (size_t c0 = 0; c0 < n; c0 += span) {
        if (seq >= 0) hive_engine_seq_free(env.eng, seq);
        assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
        size_t end = c0 + span < n ? c0 + span : n;
        for (size_t i0 = c0; i0 < end; i0 += 256) {
            size_t m = end - i0 < 256 ? end - i0 : 256, kk = 0;
            for (size_t i = 0; i < m; i++) seqs[i] = seq, want[i] = (uint8_t)scored(i0 + i, chunk), kk += want[i];
            hive_fwd_batch b = {(uint32_t)m, ids + i0, seqs, want, NULL};
            assert_int_equal(hive_engine_forward(env.eng, &b, out + done * V, NULL), HIVE_OK);
            done += kk;
        }
    }
    free(seqs);
    free(want);
    golden_env_close(&env);
    *rows = n_out;
    return out;
}

typedef struct {
    double kl_mean, kl_max, top1;
    double bucket_kl[5]; /* by depth: < 1k, 1-2k, 2-4k, 4-8k, >= 8k */
    size_t bucket_n[5];
} kv_stats;

static kv_stats compare(const float *ref, const float *other, size_t n, size_t chunk, uint32_t V) {
    kv_stats st = {0};
    double *p = malloc(V * sizeof *p);
    size_t r = 0, agree = 0;
    for (size_t i = 0; i < n; i++) {
        if (!scored(i, chunk)) continue;
        const float *a = ref + r * V, *b = other + r * V;
        double ma = -INFINITY, mb = -INFINITY, za = 0, zb = 0;
        for (uint32_t t = 0; t < V; t++) ma = fmax(ma, a[t]), mb = fmax(mb, b[t]);
        for (uint32_t t = 0; t < V; t++) za += (p[t] = exp(a[t] - ma)), zb += exp(b[t] - mb);
        double kl = 0; /* KL(reference || other) */
        for (uint32_t t = 0; t < V; t++)
            if (p[t] > 0) kl += p[t] / za * ((a[t] - ma - log(za)) - (b[t] - mb - log(zb)));
        st.kl_mean += kl;
        st.kl_max = fmax(st.kl_max, kl);
        agree += golden_argmax(a, V) == golden_argmax(b, V);
        size_t d = depth_of(i, chunk), bk = d < 1024 ? 0 : d < 2048 ? 1 : d < 4096 ? 2 : d < 8192 ? 3 : 4;
        st.bucket_kl[bk] += kl, st.bucket_n[bk]++;
        r++;
    }
    st.kl_mean /= (double)(r ? r : 1);
    st.top1 = (double)agree / (double)(r ? r : 1);
    for (int bk = 0; bk < 5; bk++) st.bucket_kl[bk] /= (double)(st.bucket_n[bk] ? st.bucket_n[bk] : 1);
    free(p);
    return st;
}

static void print_stats(const char *name, const char *ref, const kv_stats *st, size_t n, size_t rows, size_t chunk) {
    printf("%-10s vs %s KV, SmolLM2, %zu tokens of the docs%s, %zu positions: mean KL %.5f (max %.4f), top-1 %.2f%%",
           name, ref, n, chunk ? " in chunks" : "", rows, st->kl_mean, st->kl_max, 100 * st->top1);
    static const char *const depth[5] = {"<1k", "1-2k", "2-4k", "4-8k", ">=8k"};
    for (int bk = 0; bk < 5; bk++)
        if (st->bucket_n[bk] && !chunk) printf("; %s %.5f", depth[bk], st->bucket_kl[bk]);
    printf("\n");
}

/* ci_*: the case run when no knob is set */
static void kv_quality(int32_t ci_weights, size_t ci_tokens, size_t ci_every) {
    const char *m = golden_model_path();
    if (!m) {
        printf("[ SKIPPED ] no SmolLM2 GGUF: run scripts/fetch-models.sh\n");
        skip();
    }
    const char *e = getenv("HIVE_KV_QUALITY_TOKENS"), *types = getenv("HIVE_KV_QUALITY_TYPES");
    const char *ce = getenv("HIVE_KV_QUALITY_CHUNK"), *re = getenv("HIVE_KV_QUALITY_REF");
    const char *we = getenv("HIVE_KV_QUALITY_WEIGHTS"), *ev = getenv("HIVE_KV_QUALITY_EVERY");
    EVERY = ev && atol(ev) > 0 ? (size_t)atol(ev) : ci_every;
    int32_t weights = ci_weights; /* -1: the GGUF's own */
    if (we && !strcmp(we, "f32")) weights = HIVE_DTYPE_F32;
    else if (we && !strcmp(we, "bf16")) weights = HIVE_DTYPE_BF16;
    else if (we) fail_msg("HIVE_KV_QUALITY_WEIGHTS=%s: f32 or bf16", we);
    size_t want_tokens = e ? (size_t)atol(e) : ci_tokens, chunk = ce ? (size_t)atol(ce) : 0;
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
    size_t rows = 0, rows2 = 0;
    uint32_t ref_k = HIVE_DTYPE_F16, ref_v = HIVE_DTYPE_F16;
    char why[160];
    if (re && hive_engine_kv_dtypes_parse(re, &ref_k, &ref_v, why, sizeof why)) fail_msg("HIVE_KV_QUALITY_REF: %s", why);
    float *ref = run(m, ref_k, ref_v, ids, n, V, chunk, weights, &rows);
    assert_non_null(ref);
    char list[256];
    snprintf(list, sizeof list, "%s", types ? types : "q8_0");
    for (char *save = NULL, *name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
        uint32_t k, v;
        if (hive_engine_kv_dtypes_parse(name, &k, &v, why, sizeof why)) fail_msg("HIVE_KV_QUALITY_TYPES: %s", why);
        float *other = run(m, k, v, ids, n, V, chunk, weights, &rows2);
        assert_non_null(other);
        assert_int_equal(rows2, rows);
        kv_stats st = compare(ref, other, n, chunk, V);
        print_stats(name, re ? re : "f16", &st, n, rows, chunk);
        if (weights >= 0) printf("(weights %s)\n", weights == HIVE_DTYPE_F32 ? "f32" : "bf16");
        if (!types && !chunk && !re && weights < 0) { /* CI, Q4_1: q8_0 over one sequence */
            /* measured 0.0045 and 96.9%; an f32 cache is 0.0044 and 95.2% over all 1024 positions: the 8-bit
             * activations' floor, not the cache */
            assert_true(st.kl_mean <= 0.006);
            assert_true(st.top1 >= 0.95);
        }
        if (!types && !chunk && !re && ci_weights == HIVE_DTYPE_F32) { /* CI, f32 weights: the cache alone */
            assert_true(st.kl_mean <= 0.002); /* the bar; measured 0.00020 */
            /* the bar is 99%, measured 99.17% (99.02% with oneDNN capped at AVX2): 14 and 2 positions over it,
             * too near for a guard that other CPUs' matmul rounding must not trip */
            assert_true(st.top1 >= 0.985);
            /* the rotation (cpu_kv_rotate) is in effect: without it KL was 0.00054 */
            assert_true(st.kl_mean <= 0.0003);
        }
        free(other);
    }
    free(ref);
    free(ids);
    free(text);
    hive_tokenizer_free(tok);
}

static void kv_against_f16(void **state) {
    (void)state;
    kv_quality(-1, 1024, 16);
}

/* f32 weights are oneDNN matmuls over 540 MB: too slow under the sanitizers,
 * whose build runs the Q4_1 case */
static void kv_against_f16_f32_weights(void **state) {
    (void)state;
#ifdef HIVE_TEST_SANITIZED
    printf("[ SKIPPED ] f32 weights under sanitizers (too slow): the optimized build runs it\n");
    skip();
#endif
    static const char *const knobs[] = {"HIVE_KV_QUALITY_TOKENS", "HIVE_KV_QUALITY_TYPES", "HIVE_KV_QUALITY_REF",
                                        "HIVE_KV_QUALITY_WEIGHTS", "HIVE_KV_QUALITY_CHUNK", "HIVE_KV_QUALITY_TAIL",
                                        "HIVE_KV_QUALITY_EVERY"};
    for (size_t i = 0; i < sizeof knobs / sizeof *knobs; i++)
        if (getenv(knobs[i])) {
            printf("[ SKIPPED ] %s is set: the first case measured it\n", knobs[i]);
            skip();
        }
    kv_quality(HIVE_DTYPE_F32, 8192, 1); /* the bar's depth, every position scored */
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(kv_against_f16), cmocka_unit_test(kv_against_f16_f32_weights)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
