/* LoRA on the hybrid families' own linears against the same model with the
 * delta merged into its weights (W + s B A, written by this test from the
 * fixture's safetensors): Mamba2 in_proj / out_proj, DeepSeek-V2 q_proj,
 * q_a/q_b_proj, kv_a/kv_b_proj (absorbed by the engine) and o_proj, also on
 * llama.cpp's GGUF of DeepSeek-V2 (kv_b_proj split per head), and the shared
 * experts of Qwen2-MoE and DeepSeek-V2 (safetensors and GGUF), on both
 * LoRA paths (segmented calls and per-segment hooks). Independent of PEFT:
 * test_golden_hybrid_lora checks PEFT's numbers; this one the engine's
 * algebra on every layer kind, prefill and decode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "golden_util.h"
#include "model/tensor_file.h"
#include "st_writer.h"
#include "util/error.h"

#define TOL 1e-4
#define RANK 4
#define ALPHA 8.0f
#define N_PROMPT 12
#define N_DECODE 4

static char g_tmp[] = "/tmp/hive-hybrid-lora-XXXXXX";

static float rnd(uint64_t *s) { /* deterministic N(0, ~0.08)-ish: sum of uniforms */
    float acc = 0;
    for (int i = 0; i < 4; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        acc += (float)((*s >> 40) & 0xffffff) / 16777216.0f - 0.5f;
    }
    return acc * 0.14f;
}

static int copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    if (!f) return 0; /* optional files (chat template) */
    char buf[8192];
    FILE *o = fopen(to, "wb");
    size_t n;
    while (o && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, o);
    fclose(f);
    return o ? fclose(o) : -1;
}

/* Is this tensor the weight of a targeted linear (by its last path part)? */
static int targeted(const char *name, const char *const *targets) {
    size_t n = strlen(name);
    if (n < 8 || strcmp(name + n - 7, ".weight") || strstr(name, ".experts.")) return 0;
    for (int i = 0; targets[i]; i++) {
        size_t t = strlen(targets[i]);
        if (n > t + 8 && name[n - 7 - t - 1] == '.' && !strncmp(name + n - 7 - t, targets[i], t)) return 1;
    }
    return 0;
}

/* <g_tmp>/<tag>/merged (the model with W + s B A) and <tag>/adapter (PEFT layout). */
#define DIR_CAP 700
static void make_dirs(const char *arch, const char *tag, const char *const *targets, char merged[DIR_CAP],
                      char adapter[DIR_CAP]) {
    char src[400], dir[600], p[1024], q[1024];
    snprintf(src, sizeof src, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, tag);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(merged, DIR_CAP, "%s/merged", dir);
    snprintf(adapter, DIR_CAP, "%s/adapter", dir);
    assert_int_equal(mkdir(merged, 0700), 0);
    assert_int_equal(mkdir(adapter, 0700), 0);
    static const char *const k_files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                          "generation_config.json", "chat_template.jinja"};
    for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", src, k_files[i]);
        snprintf(q, sizeof q, "%.*s/%s", DIR_CAP, merged, k_files[i]);
        assert_int_equal(copy_file(p, q), 0);
    }
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    hive_tensor_file *f = NULL;
    assert_int_equal(hive_tf_open(p, &f, NULL), HIVE_OK);
    uint64_t n = hive_tf_count(f);
    st_tensor *all = calloc(n, sizeof *all), *ad = calloc(2 * n, sizeof *ad);
    float **owned = calloc(3 * n, sizeof *owned);
    int n_ad = 0, n_owned = 0;
    uint64_t seed = 0x5eed;
    for (uint64_t i = 0; i < n; i++) {
        hive_tensor_view v = {.struct_size = sizeof v};
        assert_int_equal(hive_tf_get(f, i, &v), HIVE_OK);
        assert_int_equal(v.dtype, HIVE_DTYPE_F32); /* the fixtures are f32 */
        st_tensor *t = &all[i];
        snprintf(t->name, sizeof t->name, "%s", v.name);
        t->dtype = "F32", t->n_dims = v.n_dims, t->data = v.data;
        for (uint32_t d = 0; d < v.n_dims; d++) t->shape[d] = v.shape[d];
        if (!targeted(v.name, targets)) continue;
        int64_t o = v.shape[0], in = v.shape[1];
        float *W = malloc((size_t)(o * in) * sizeof *W), *A = malloc((size_t)(RANK * in) * sizeof *A);
        float *B = malloc((size_t)(o * RANK) * sizeof *B);
        memcpy(W, v.data, (size_t)(o * in) * sizeof *W);
        for (int64_t k = 0; k < RANK * in; k++) A[k] = rnd(&seed);
        for (int64_t k = 0; k < o * RANK; k++) B[k] = rnd(&seed);
        for (int64_t a = 0; a < o; a++)
            for (int64_t c = 0; c < in; c++) {
                double acc = 0;
                for (int r = 0; r < RANK; r++) acc += (double)B[a * RANK + r] * A[r * in + c];
                W[a * in + c] += (float)(ALPHA / RANK * acc);
            }
        t->data = W;
        owned[n_owned++] = W, owned[n_owned++] = A, owned[n_owned++] = B;
        size_t mod = strlen(v.name) - 7;
        st_tensor *ta = &ad[n_ad++], *tb = &ad[n_ad++];
        *ta = (st_tensor){.dtype = "F32", .n_dims = 2, .shape = {RANK, in}, .data = A};
        *tb = (st_tensor){.dtype = "F32", .n_dims = 2, .shape = {o, RANK}, .data = B};
        snprintf(ta->name, sizeof ta->name, "base_model.model.%.*s.lora_A.weight", (int)mod, v.name);
        snprintf(tb->name, sizeof tb->name, "base_model.model.%.*s.lora_B.weight", (int)mod, v.name);
    }
    assert_true(n_ad > 0);
    snprintf(p, sizeof p, "%.*s/model.safetensors", DIR_CAP, merged);
    assert_int_equal(st_write(p, all, (int)n), 0);
    snprintf(p, sizeof p, "%.*s/adapter_model.safetensors", DIR_CAP, adapter);
    assert_int_equal(st_write(p, ad, n_ad), 0);
    char cfg[1024];
    int len = snprintf(cfg, sizeof cfg, "{\"peft_type\": \"LORA\", \"r\": %d, \"lora_alpha\": %g, \"bias\": \"none\", "
                       "\"target_modules\": [", RANK, (double)ALPHA);
    for (int i = 0; targets[i]; i++) len += snprintf(cfg + len, sizeof cfg - (size_t)len, "%s\"%s\"", i ? ", " : "", targets[i]);
    snprintf(cfg + len, sizeof cfg - (size_t)len, "]}");
    snprintf(p, sizeof p, "%.*s/adapter_config.json", DIR_CAP, adapter);
    assert_int_equal(write_text_file(p, cfg), 0);
    hive_tf_close(f);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned), free(all), free(ad);
}

/* Logits of a 12-token prefill and 4 greedy decode steps on a fresh sequence. */
static float *run(golden_env *env, const hive_adapter_set *set, int32_t *toks) {
    uint32_t V = hive_engine_hparams(env->eng)->vocab;
    float *lg = malloc((size_t)(N_PROMPT + N_DECODE) * V * sizeof *lg);
    int32_t seq, seqs[N_PROMPT];
    uint8_t want[N_PROMPT];
    assert_int_equal(hive_engine_seq_new(env->eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(env->eng, seq, set, NULL), HIVE_OK);
    for (int i = 0; i < N_PROMPT; i++) seqs[i] = seq, want[i] = 1;
    hive_fwd_batch b = {N_PROMPT, toks, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env->eng, &b, lg, NULL), HIVE_OK);
    for (int k = 0; k < N_DECODE; k++) {
        hive_fwd_batch d = {1, &toks[N_PROMPT + k], seqs, want, NULL};
        assert_int_equal(hive_engine_forward(env->eng, &d, lg + (size_t)(N_PROMPT + k) * V, NULL), HIVE_OK);
    }
    hive_engine_seq_free(env->eng, seq);
    return lg;
}

/* The prompt of two sequences, one with set and one without, rows
 * interleaved in one batch (single-row segments): prefill logits of each. */
static void run_mixed(golden_env *env, const hive_adapter_set *set, const int32_t *toks, float *with, float *without) {
    uint32_t V = hive_engine_hparams(env->eng)->vocab;
    int32_t seq[2], t2[2 * N_PROMPT], s2[2 * N_PROMPT];
    uint8_t want[2 * N_PROMPT];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(hive_engine_seq_new(env->eng, &seq[k], NULL), HIVE_OK);
        assert_int_equal(hive_engine_seq_set_adapters(env->eng, seq[k], k ? NULL : set, NULL), HIVE_OK);
    }
    for (int i = 0; i < 2 * N_PROMPT; i++) t2[i] = toks[i / 2], s2[i] = seq[i % 2], want[i] = 1;
    float *lg = malloc((size_t)2 * N_PROMPT * V * sizeof *lg);
    hive_fwd_batch b = {2 * N_PROMPT, t2, s2, want, NULL};
    assert_int_equal(hive_engine_forward(env->eng, &b, lg, NULL), HIVE_OK);
    for (int i = 0; i < N_PROMPT; i++) {
        memcpy(with + (size_t)i * V, lg + (size_t)(2 * i) * V, V * sizeof *lg);
        memcpy(without + (size_t)i * V, lg + (size_t)(2 * i + 1) * V, V * sizeof *lg);
    }
    free(lg);
    for (int k = 0; k < 2; k++) hive_engine_seq_free(env->eng, seq[k]);
}

static double worst_rel(const float *a, const float *b, uint32_t rows, uint32_t V) {
    double w = 0;
    for (uint32_t r = 0; r < rows; r++) {
        double d = 0, m = 0;
        for (uint32_t j = 0; j < V; j++) {
            double e = fabs((double)a[(size_t)r * V + j] - b[(size_t)r * V + j]);
            d = e > d ? e : d;
            m = fabs(b[(size_t)r * V + j]) > m ? fabs(b[(size_t)r * V + j]) : m;
        }
        w = d / m > w ? d / m : w;
    }
    return w;
}

/* base: the model the adapter runs on (arch's directory, or a GGUF of it) */
static void check(const char *arch, const char *base, const char *tag, const char *const *targets) {
    char merged[DIR_CAP], adapter[DIR_CAP], path[1024];
    make_dirs(arch, tag, targets, merged, adapter);
    int32_t toks[N_PROMPT + N_DECODE] = {5, 17, 33, 2, 99, 120, 7, 64, 200, 11, 3, 150, 42, 8, 77, 19};
    golden_env m;
    assert_int_equal(golden_env_open(&m, merged, 256, -1, 1), 0);
    uint32_t V = hive_engine_hparams(m.eng)->vocab;
    float *want = run(&m, NULL, toks);
    golden_env_close(&m);
    snprintf(path, sizeof path, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, base);
    for (int batched = 1; batched >= 0; batched--) {
        golden_env env;
        golden_next.batched_lora = batched;
        int opened = golden_env_open(&env, path, 256, -1, 1);
        golden_next.batched_lora = 1;
        assert_int_equal(opened, 0);
        hive_adapter_ref ref;
        assert_int_equal(golden_load_adapter(&env, adapter, &ref), 0);
        hive_adapter_set set = {1, 1, {ref}};
        float *got = run(&env, &set, toks), *plain = run(&env, NULL, toks);
        double e = worst_rel(got, want, N_PROMPT + N_DECODE, V), base_e = worst_rel(plain, want, N_PROMPT + N_DECODE, V);
        if (e > TOL) fail_msg("%s on %s (%s): relative error %.3g against the merged model", tag, base,
                              batched ? "segmented" : "hooks", e);
        if (base_e < 1e-2) fail_msg("%s: the base model matches the merged one (%.3g): the test cannot fail", tag, base_e);
        float *mw = malloc((size_t)N_PROMPT * V * sizeof *mw), *mo = malloc((size_t)N_PROMPT * V * sizeof *mo);
        run_mixed(&env, &set, toks, mw, mo);
        double em = worst_rel(mw, want, N_PROMPT, V), eo = worst_rel(mo, plain, N_PROMPT, V);
        if (em > TOL || eo > TOL) fail_msg("%s on %s: interleaved with a base sequence: %.3g, base rows %.3g", tag, base, em, eo);
        printf("  %-10s on %-22s (%s): worst rel err %.2e (interleaved %.2e); without the adapter %.2e\n", tag,
               base, batched ? "segmented" : "hooks    ", e, em, base_e);
        free(got), free(plain), free(mw), free(mo);
        golden_free_adapter(&ref);
        golden_env_close(&env);
    }
    free(want);
}

static void test_mamba2(void **s) {
    (void)s;
    static const char *const t[] = {"in_proj", "out_proj", NULL};
    check("mamba2", "mamba2", "mamba2", t);
    check("mamba2", "mamba2.gguf", "mamba2-gguf", t);
}

static void test_deepseek_v2(void **s) {
    (void)s;
    static const char *const t[] = {"q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", NULL};
    check("deepseek_v2", "deepseek_v2", "dsv2", t);
    static const char *const tq[] = {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", NULL};
    check("deepseek_v2_qlora", "deepseek_v2_qlora", "dsv2-q", tq);
    /* llama.cpp's GGUF keeps kv_b_proj split per head (attn_k_b, attn_v_b) */
    check("deepseek_v2_moe", "deepseek_v2_moe.gguf", "dsv2-moe", tq);
}

/* A routed layer's shared expert: Qwen2-MoE's mlp.shared_expert (gated),
 * DeepSeek-V2's mlp.shared_experts (PEFT 0.21 cannot write that adapter: it
 * turns these names into target_parameters on the routed experts) */
static void test_shared_experts(void **s) {
    (void)s;
    static const char *const tq[] = {"shared_expert.gate_proj", "shared_expert.up_proj", "shared_expert.down_proj",
                                     NULL};
    check("qwen2_moe", "qwen2_moe", "q2moe-shexp", tq);
    check("qwen2_moe", "qwen2_moe.gguf", "q2moe-shexp-gguf", tq);
    static const char *const td[] = {"shared_experts.gate_proj", "shared_experts.up_proj", "shared_experts.down_proj",
                                     "q_a_proj", NULL};
    check("deepseek_v2_moe", "deepseek_v2_moe", "dsv2-shexp", td);
    check("deepseek_v2_moe", "deepseek_v2_moe.gguf", "dsv2-shexp-gguf", td);
}

/* GraniteMoeHybrid: residual branches scaled by its multiplier, delta included,
 * and the shared MLP's input_linear hooked whole ([gate | up]); its GGUF keeps
 * llama.cpp's permuted q/k rows, so no q/k hooks there */
static void test_granite(void **s) {
    (void)s;
    static const char *const t[] = {"q_proj", "v_proj", "o_proj", "in_proj", "out_proj", "shared_mlp.input_linear",
                                    "shared_mlp.output_linear", NULL};
    check("granitemoehybrid", "granitemoehybrid", "granite", t);
    static const char *const tg[] = {"v_proj", "o_proj", "in_proj", "out_proj", "shared_mlp.input_linear",
                                     "shared_mlp.output_linear", NULL};
    check("granitemoehybrid", "granitemoehybrid.gguf", "granite-gguf", tg);
    check("granitemoehybrid_moe", "granitemoehybrid_moe", "granite-moe", t); /* the shared MLP runs beside experts */
}

static int setup(void **s) {
    (void)s;
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mamba2),
        cmocka_unit_test(test_deepseek_v2),
        cmocka_unit_test(test_shared_experts),
        cmocka_unit_test(test_granite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
