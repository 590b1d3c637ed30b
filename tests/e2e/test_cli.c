/* hive-host as a user runs it: exit codes, messages, bad input, and the real
 * model (skipped when scripts/fetch-models.sh has not been run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"

static void test_help_and_usage_errors(void **s) {
    (void)s;
    EXPECT(0, "--help", "commands:");
    EXPECT(0, "--help", "--temperature T");
    EXPECT(2, "", "usage: hive-host");
    EXPECT(2, "frobnicate", "unknown command 'frobnicate'");
    EXPECT(2, "generate --bogus", "unknown option '--bogus'");
    EXPECT(2, "generate --ctx", "--ctx needs a value");
    EXPECT(2, "generate --ctx 12x --prompt hi --model x", "'12x' is not an integer");
    EXPECT(2, "generate --top-p 3 --prompt hi --model x", "outside");
    EXPECT(2, "generate --model x.gguf", "--prompt TEXT is required");
    EXPECT(2, "generate --prompt hi", "no model");
}

static void test_config_file_and_print_config(void **s) {
    (void)s;
    char path[] = "/tmp/hive-e2e-cfg-XXXXXX";
    int fd = mkstemp(path);
    const char *txt = "sampling = { temperature = 0.25; };\nthreads = 1;\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    char args[512];
    snprintf(args, sizeof args, "--config %s --threads 2 --print-config", path);
    EXPECT(0, args, "sampling.temperature           = 0.25  # file");
    assert_non_null(strstr(g_out, "= 2  # cli (--threads)"));
    assert_non_null(strstr(g_out, "model.ctx                      = 4096  # default"));
    /* an unknown key in the file names file:line and key, and stops */
    txt = "threads = 1;\nmodle = { ctx = 1; };\n";
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    snprintf(args, sizeof args, "--config %s plugins", path);
    EXPECT(2, args, ":2: unknown key 'modle.ctx'");
    snprintf(args, sizeof args, "--config /nonexistent/hive.cfg plugins");
    EXPECT(2, args, "cannot read configuration file");
    unlink(path);
}

/* Docs stay true: every configuration key is documented, every shipped config parses. */
static void test_docs_and_shipped_configs(void **s) {
    (void)s;
    EXPECT(0, "--print-config", "model.ctx");
    FILE *f = fopen(HIVE_SOURCE_DIR "/docs/CONFIG.md", "r");
    assert_non_null(f);
    static char doc[1 << 17];
    doc[fread(doc, 1, sizeof doc - 1, f)] = 0;
    fclose(f);
    char *save = NULL, *out = strdup(g_out);
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[128];
        if (sscanf(line, "%127s", key) == 1 && strncmp(key, "plugins.", 8) && !strstr(doc, key))
            fail_msg("configuration key '%s' is missing from docs/CONFIG.md", key);
    }
    free(out);
    static const char *const cfgs[] = {"hive.cfg", "cpu.cfg", "cuda.cfg", "hip.cfg"};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, "--config %s/configs/%s --print-config", HIVE_SOURCE_DIR, cfgs[i]);
        EXPECT(0, args, "sampling.temperature");
    }
}

static void test_backend_selection_errors(void **s) {
    (void)s;
    EXPECT(0, "--no-default-plugins --plugin-dir " HIVE_PLUGIN_BUILD_DIR " plugins", "onednn-cpu");
    assert_non_null(strstr(g_out, "status: loaded"));
    EXPECT(1, "--no-default-plugins --plugin-dir " HIVE_PLUGIN_BUILD_DIR " --backend nope plugins",
           "backend 'nope' was requested but no plugin of that name was found");
    EXPECT(1, "--no-default-plugins --plugin-dir " HIVE_PLUGIN_BUILD_DIR " --backend onednn-cpu:7 plugins",
           "no usable device");
    /* asked-for backend missing: generate fails, never falls back */
    EXPECT(1, "--no-default-plugins --plugin-dir /nonexistent --cpu generate --model x --prompt hi",
           "backend 'onednn-cpu' was requested");
}

static void test_bad_model_files(void **s) {
    (void)s;
    char path[] = "/tmp/hive-e2e-bad-XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    assert_int_equal(write(fd, "GGUF\3\0\0\0garbage", 15), 15);
    close(fd);
    char args[512];
    snprintf(args, sizeof args, "--cpu generate --model %s --prompt hi", path);
    int rc = run(args);
    if (rc != 1 || !strstr(g_out, path)) fail_msg("truncated GGUF: exit %d, output:\n%s", rc, g_out);
    snprintf(args, sizeof args, "info --model %s", path);
    rc = run(args);
    if (rc != 1) fail_msg("info on a truncated GGUF: exit %d, output:\n%s", rc, g_out);
    unlink(path);
    EXPECT(1, "info --model /nonexistent/model.gguf", "/nonexistent/model.gguf");
}

/* An expert package made at test time around the golden PEFT LoRA of the
 * tiny llama: it changes the output, --merge gives the same output as the
 * hooks, its manifest's decoding sits between defaults and the CLI, and a
 * package for another base model is refused with a clear message. */
static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void make_expert(const char *dir, const char *base_name) {
    char cmd[1024], path[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && cp -r %s/tests/golden/data/llama/adapters/lora %s/adapter", dir,
             dir, HIVE_SOURCE_DIR, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char m[1024];
    snprintf(m, sizeof m,
             "{\"schema_version\":\"2.0\",\"name\":\"tiny-lora\",\"version\":\"0.1.0\",\"description\":\"t\","
             "\"base_models\":[{\"name\":\"%s\",\"adapters\":[{\"type\":\"lora\",\"path\":\"adapter\"}]}],"
             "\"training\":{\"decoding\":{\"temperature\":0.0,\"top_k\":7}}}",
             base_name);
    write_file(path, m);
}

static void test_experts_cli(void **s) {
    (void)s;
    const char *model = HIVE_SOURCE_DIR "/tests/golden/data/llama";
    static char args[2048], base_out[sizeof g_out], expert_out[sizeof g_out];
    make_expert("/tmp/hive-e2e-expert", "llama");
    snprintf(args, sizeof args, "--cpu generate --model %s --greedy --max-tokens 12 --prompt 'Hello, Hive!'", model);
    assert_int_equal(run(args), 0);
    snprintf(base_out, sizeof base_out, "%s", g_out);
    snprintf(args, sizeof args, "--cpu generate --model %s --expert /tmp/hive-e2e-expert --max-tokens 12 --prompt 'Hello, Hive!'", model);
    assert_int_equal(run(args), 0);
    snprintf(expert_out, sizeof expert_out, "%s", g_out);
    if (!strcmp(base_out, expert_out)) fail_msg("the expert did not change the output:\n%s", g_out);
    snprintf(args, sizeof args, "--cpu generate --model %s --expert /tmp/hive-e2e-expert --merge --max-tokens 12 --prompt 'Hello, Hive!'", model);
    assert_int_equal(run(args), 0);
    if (strcmp(strstr(g_out, "\n") ? g_out : g_out, expert_out) && !strstr(g_out, expert_out))
        fail_msg("--merge output differs from the hooked expert:\n%s\nvs\n%s", g_out, expert_out);
    snprintf(args, sizeof args, "--expert /tmp/hive-e2e-expert --top-k 3 --print-config");
    EXPECT(0, args, "sampling.temperature           = 0  # manifest");
    assert_non_null(strstr(g_out, "sampling.top_k                 = 3  # cli"));
    EXPECT(0, "experts inspect /tmp/hive-e2e-expert", "tiny-lora");
    make_expert("/tmp/hive-e2e-expert-other", "Qwen3-0.6B");
    snprintf(args, sizeof args, "--cpu generate --model %s --expert /tmp/hive-e2e-expert-other --prompt hi", model);
    EXPECT(1, args, "targets base model(s) Qwen3-0.6B");
    snprintf(args, sizeof args, "--cpu bench --model %s --expert /tmp/hive-e2e-expert -p 8 -n 4", model);
    EXPECT(0, args, "cached attach");
    /* a soft prompt's virtual tokens run once; the second sequence shares their KV */
    snprintf(args, sizeof args, "--cpu bench --model %s --expert %s/adapters/prompt -p 8 -n 4 -b 2", model, model);
    EXPECT(0, args, "1 prefill(s) of its virtual tokens, 1 attach(es) sharing their KV");
    assert_int_equal(system("rm -rf /tmp/hive-e2e-expert /tmp/hive-e2e-expert-other"), 0);
}

/* Writes an f32 NaN over element `elem` of the F32 tensor `name` in a
 * safetensors file (header: u64 length, then JSON with data_offsets). */
static void poke_nan(const char *path, const char *name, long elem) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    uint64_t hl = 0;
    assert_int_equal(fread(&hl, 8, 1, f), 1);
    assert_true(hl > 0 && hl < (1u << 20));
    char *h = calloc(1, hl + 1);
    assert_non_null(h);
    assert_int_equal(fread(h, 1, hl, f), hl);
    char key[300];
    snprintf(key, sizeof key, "\"%s\"", name);
    const char *at = strstr(h, key), *off = at ? strstr(at, "\"data_offsets\":[") : NULL;
    const char *dt = at ? strstr(at, "\"dtype\":\"") : NULL;
    assert_non_null(off);
    assert_non_null(dt);
    assert_int_equal(strncmp(dt + strlen("\"dtype\":\""), "F32\"", 4), 0);
    long start = strtol(off + strlen("\"data_offsets\":["), NULL, 10);
    uint32_t nan_bits = 0x7fc00000u;
    assert_int_equal(fseek(f, (long)(8 + hl) + start + 4 * elem, SEEK_SET), 0);
    assert_int_equal(fwrite(&nan_bits, 4, 1, f), 1);
    free(h);
    assert_int_equal(fclose(f), 0);
}

/* An expert whose adapter holds a NaN is refused at load, naming the tensor,
 * with and without --merge: never an empty or garbage answer. */
static void test_expert_nonfinite(void **s) {
    (void)s;
    const char *model = HIVE_SOURCE_DIR "/tests/golden/data/llama";
    const char *dir = "/tmp/hive-e2e-expert-nan";
    const char *tensor = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
    static char args[2048], want[512];
    make_expert(dir, "llama");
    snprintf(args, sizeof args, "%s/adapter/adapter_model.safetensors", dir);
    poke_nan(args, tensor, 3);
    snprintf(want, sizeof want, "tensor '%s' holds NaN at element 3", tensor);
    snprintf(args, sizeof args, "--cpu generate --model %s --expert %s --max-tokens 4 --prompt hi", model, dir);
    EXPECT(1, args, want);
    assert_non_null(strstr(g_out, "adapter_model.safetensors"));
    snprintf(args, sizeof args, "--cpu generate --model %s --expert %s --merge --max-tokens 4 --prompt hi", model, dir);
    EXPECT(1, args, want);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    assert_int_equal(system(args), 0);
}

/* chat: two turns on stdin; the second turn reuses the KV cache of the first
 * (the whole conversation is re-rendered, only the new turn is computed). */
/* --graphs / --no-graphs and --batched-lora reach the engine: with the CPU
 * backend's recording graphs (a plugin-scoped config value), a 3-sequence
 * warm-up's decode step runs op by op, the first of the 6 timed steps
 * captures and the other 5 replay (the capture is replayed too: 6); LoRA
 * experts run as segmented calls. */
static void test_bench_graphs_and_lora_paths(void **s) {
    (void)s;
    char cfg[] = "/tmp/hive-e2e-graphs-XXXXXX", dir[] = "/tmp/hive-e2e-graphs-x-XXXXXX", args[2048];
    int fd = mkstemp(cfg);
    const char *txt = "plugins = { onednn-cpu = { graphs = true; }; };\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    assert_non_null(mkdtemp(dir));
    make_expert(dir, "llama");
    const char *bench = "--cpu bench --model " HIVE_SOURCE_DIR "/tests/golden/data/llama -p 4 -n 6 -b 3 -r 1 --json";
    snprintf(args, sizeof args, "--config %s %s --expert %s", cfg, bench, dir);
    EXPECT(0, args, "\"graphs_captured\":1,\"graph_replays\":6");
    assert_non_null(strstr(g_out, "\"lora_path\":\"segmented\""));
    snprintf(args, sizeof args, "--config %s %s --expert %s --no-graphs --no-batched-lora", cfg, bench, dir);
    EXPECT(0, args, "\"graphs_captured\":0,\"graph_replays\":0");
    assert_non_null(strstr(g_out, "\"lora_path\":\"per-segment hooks\""));
    /* without the plugin value the CPU offers no graphs */
    snprintf(args, sizeof args, "%s", bench);
    EXPECT(0, args, "\"graphs_captured\":0,\"graph_replays\":0");
    unlink(cfg);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    assert_int_equal(system(args), 0);
}

/* bench with a grammar flag: the prompt decoded without and with the grammar
 * (text and JSON); without --prompt it is a usage error, a bad grammar exit 2 */
static void test_bench_grammar(void **s) {
    (void)s;
    char args[1024];
    const char *m = HIVE_SOURCE_DIR "/tests/golden/data/llama";
    snprintf(args, sizeof args, "--cpu bench --model %s --prompt 'Hello' -n 6 -r 2 --grammar 'root ::= [a-z]+'", m);
    EXPECT(0, args, "ratio ");
    assert_non_null(strstr(g_out, "plain  "));
    assert_non_null(strstr(g_out, "grammar work"));
    snprintf(args, sizeof args, "--cpu bench --model %s --prompt 'Hello' -n 6 -r 1 --grammar 'root ::= [a-z]+' --json", m);
    EXPECT(0, args, "\"decode_tok_s_grammar\":");
    assert_non_null(strstr(g_out, "\"grammar_ms\":"));
    snprintf(args, sizeof args, "--cpu bench --model %s -p 4 -n 4 --grammar 'root ::= [a-z]+'", m);
    EXPECT(2, args, "--prompt TEXT is required (a grammar is measured on a real prompt");
    snprintf(args, sizeof args, "--cpu bench --model %s --prompt 'Hello' -n 4 --grammar 'root ::= ['", m);
    EXPECT(2, args, "grammar");
}

/* Two chat turns on a golden fixture with --verbose stats into g_out; the
 * two turns' "[prompt ..." lines in *t1, *t2. */
static void chat_two_turns(const char *model, const char **t1, const char **t2) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'Hello\\nAgain\\n' | HIVE_LOG=warn %s --cpu chat --model %s/tests/golden/data/%s --greedy "
             "--max-tokens 6 --verbose 2>&1",
             HOST, HIVE_SOURCE_DIR, model);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    assert_int_equal(pclose(p), 0);
    *t1 = strstr(g_out, "[prompt "), *t2 = *t1 ? strstr(*t1 + 1, "[prompt ") : NULL;
    if (!*t1 || !*t2) fail_msg("%s: expected two turns with --verbose stats:\n%s", model, g_out);
}

/* the second chat turn reuses the first's KV (model: a golden fixture) */
static void chat_reuses_kv(const char *model) {
    const char *t1, *t2;
    chat_two_turns(model, &t1, &t2);
    unsigned fed1, reused1, fed2, reused2;
    assert_int_equal(sscanf(t1, "[prompt %u tokens (%u reused)", &fed1, &reused1), 2);
    assert_int_equal(sscanf(t2, "[prompt %u tokens (%u reused)", &fed2, &reused2), 2);
    assert_int_equal(reused1, 0);
    if (reused2 < fed1) fail_msg("turn 2 reused %u tokens, turn 1 fed %u:\n%s", reused2, fed1, g_out);
}

static void test_chat_reuses_kv(void **s) {
    (void)s;
    chat_reuses_kv("llama");
}

/* Mixture-of-experts and latent-attention models through the CLI: info
 * shows which layers route and the experts (text and JSON, safetensors and
 * llama.cpp's GGUF) or the latent cache, generate runs them, and chat
 * reuses the attention layers' KV. */
static void test_moe_models(void **s) {
    (void)s;
    char args[2048];
    snprintf(args, sizeof args, "info --model %s/tests/golden/data/qwen3_moe_sparse", HIVE_SOURCE_DIR);
    EXPECT(0, args, "feed-forward:   mlp moe mlp mlp");
    assert_non_null(strstr(g_out, "experts:        6 per MoE layer (1 layers), top 3, expert ffn 24"));
    /* Granite with routed experts: the shared MLP runs beside them */
    snprintf(args, sizeof args, "info --model %s/tests/golden/data/granitemoehybrid_moe.gguf", HIVE_SOURCE_DIR);
    EXPECT(0, args, "experts:        4 per MoE layer (3 layers), top 2 renormalised, expert ffn 16");
    assert_non_null(strstr(g_out, "shared expert:  ffn 24"));
    /* info shows what the RoPE flags will run, beside the model's own */
    snprintf(args, sizeof args, "--rope-scaling yarn --rope-scale 4 --yarn-orig-ctx 128 info --model %s/tests/golden/data/qwen2_moe.gguf",
             HIVE_SOURCE_DIR);
    EXPECT(0, args, "rope override:  scaling yarn, factor 4, theta 0, original context 128");
    snprintf(args, sizeof args, "info --json --model %s/tests/golden/data/qwen2_moe.gguf", HIVE_SOURCE_DIR);
    EXPECT(0, args, "\"architecture\":\t\"qwen2moe\"");
    assert_non_null(strstr(g_out, "\"shared_expert_ffn\":\t48"));
    assert_non_null(strstr(g_out, "\"used_per_token\":\t2"));
    snprintf(args, sizeof args, "--cpu generate --model %s/tests/golden/data/qwen3_moe --greedy --max-tokens 5 --prompt 'Hello, Hive!'",
             HIVE_SOURCE_DIR);
    EXPECT(0, args, "");
    assert_non_null(strstr(g_out, "context 4096 is longer than the model was trained for (512)"));
    /* a context the RoPE scaling covers draws no warning; one past its reach says so */
    snprintf(args, sizeof args, "--ctx 1024 --rope-scaling yarn --rope-scale 2 --cpu generate --model %s/tests/golden/data/qwen3_moe "
             "--greedy --max-tokens 1 --prompt hi", HIVE_SOURCE_DIR);
    EXPECT(0, args, "");
    assert_null(strstr(g_out, "longer than"));
    snprintf(args, sizeof args, "--ctx 2048 --rope-scaling yarn --rope-scale 2 --cpu generate --model %s/tests/golden/data/qwen3_moe "
             "--greedy --max-tokens 1 --prompt hi", HIVE_SOURCE_DIR);
    EXPECT(0, args, "context 2048 is longer than the 1024 tokens its RoPE scaling covers (yarn x2 from 512; trained 512)");
    chat_reuses_kv("qwen3_moe");
    chat_reuses_kv("qwen2_moe");
    /* DeepSeek-V2's latent cache is reused across turns like any KV */
    snprintf(args, sizeof args, "info --model %s/tests/golden/data/deepseek_v2_qlora", HIVE_SOURCE_DIR);
    EXPECT(0, args, "3 x latent attention(MLA: 4 heads, cache of latent 32 + rope key 8, query latent) + SwiGLU MLP");
    chat_reuses_kv("deepseek_v2");
    /* speculative decoding rolls the routed and the latent caches back like any KV: same bytes */
    static const char *const spec[] = {"qwen3_moe", "deepseek_v2_qlora"};
    for (size_t i = 0; i < 2; i++) {
        char plain[sizeof g_out];
        snprintf(args, sizeof args, "--cpu generate --model %s/tests/golden/data/%s --greedy --max-tokens 24 "
                 "--prompt 'Hello, Hive! Hello, Hive! Hello'", HIVE_SOURCE_DIR, spec[i]);
        EXPECT(0, args, "");
        memcpy(plain, g_out, sizeof plain);
        strncat(args, " --draft lookup --verbose", sizeof args - strlen(args) - 1);
        EXPECT(0, args, "verify passes");
        if (!strstr(g_out, plain) || strstr(g_out, " 0 verify passes"))
            fail_msg("%s: --draft lookup changed the output or never verified:\nplain: %s\nspec: %s", spec[i], plain, g_out);
    }
}

/* The number after "key": in g_out (pretty or compact JSON); -1 if absent. */
static double json_number(const char *key) {
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(g_out, pat);
    return at ? strtod(at + strlen(pat), NULL) : -1;
}

/* info's memory figures are what the engine allocates: its KV cache (only
 * attention layers; a latent row for MLA) and its Mamba2 state per sequence,
 * for each layer type, against bench's report of the allocation. */
static void test_info_memory_is_allocated(void **s) {
    (void)s;
    static const char *const models[] = {"qwen3_moe", "deepseek_v2_qlora", "mamba2", "granitemoehybrid"};
    char args[2048];
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(args, sizeof args, "--ctx 256 info --json --model %s/tests/golden/data/%s", HIVE_SOURCE_DIR, models[i]);
        EXPECT(0, args, "\"memory\"");
        double kv = json_number("kv_bytes"), state = json_number("ssm_state_bytes_per_sequence");
        snprintf(args, sizeof args, "--cpu --ctx 256 bench --model %s/tests/golden/data/%s -p 4 -n 2 -b 1 --json",
                 HIVE_SOURCE_DIR, models[i]);
        EXPECT(0, args, "\"kv_bytes\"");
        double kv_alloc = json_number("kv_bytes"), state_alloc = json_number("state_bytes_per_sequence");
        if (kv != kv_alloc || state != state_alloc || kv < 0 || state < 0)
            fail_msg("%s: info says KV %.0f B + state %.0f B per sequence, the engine allocated %.0f + %.0f", models[i],
                     kv, state, kv_alloc, state_alloc);
        if (!strcmp(models[i], "mamba2") ? kv != 0 || state <= 0 : kv <= 0)
            fail_msg("%s: KV %.0f B, state %.0f B: not the shape of this model", models[i], kv, state);
    }
}

/* --kv-dtype K,V: info's KV figure is what the engine allocates for each
 * pair (SmolLM2: 30 layers x 3 KV heads x 64 dims), and bad types are refused
 * with a message. */
static void test_kv_dtypes(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    static const struct { const char *types; double row_k, row_v; } cases[] = {
        {"q8_0,q4_0", 68, 36}, {"f16,q8_0", 128, 68}, {"bf16", 128, 128}, {"q4_0,f16", 36, 128}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        EXPECTF(0, "\"memory\"", "--ctx 256 --kv-dtype %s info --json --model %s", cases[i].types, m);
        double kv = json_number("kv_bytes");
        EXPECTF(0, "\"kv_bytes\"", "--cpu --ctx 256 --kv-dtype %s bench --model %s -p 4 -n 2 -b 1 --json", cases[i].types, m);
        double kv_alloc = json_number("kv_bytes"), want = 30.0 * 256 * 3 * (cases[i].row_k + cases[i].row_v);
        if (kv != kv_alloc || kv != want)
            fail_msg("--kv-dtype %s: info says %.0f B, the engine allocated %.0f, want %.0f", cases[i].types, kv, kv_alloc, want);
    }
    EXPECTF(2, "each f16, f32, bf16, q8_0 or q4_0", "--cpu --kv-dtype q4_1 bench --model %s -p 4 -n 2", m);
    EXPECTF(2, "each f16, f32, bf16, q8_0 or q4_0", "--cpu --kv-dtype f16,q8_0,q4_0 bench --model %s -p 4 -n 2", m);
    EXPECTF(1, "an f32 cache is f32 for both K and V", "--cpu --kv-dtype f16,f32 bench --model %s -p 4 -n 2", m);
}

/* --kv-tail N: info's two tiers are what the engine allocates (f16 tail
 * pages: ceil(N / 16) + 1 + ceil(batch / 16) per sequence; q8_0 store pages:
 * the context), bench reports pages migrated, and the flag is refused with a
 * store type other than q8_0 / q4_0. */
static void test_kv_tail(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    EXPECTF(0, "\"kv_tail_bytes\"", "--ctx 4096 --batch 64 --kv-dtype q8_0 --kv-tail 32 info --json --model %s", m);
    double kv = json_number("kv_bytes"), tail = json_number("kv_tail_bytes"), store = json_number("kv_store_bytes");
    double want_tail = 30.0 * 7 * 16 * 3 * (128 + 128), want_store = 30.0 * 4096 * 3 * (68 + 68);
    if (tail != want_tail || store != want_store || kv != tail + store)
        fail_msg("info: tail %.0f B (want %.0f), store %.0f B (want %.0f), KV %.0f", tail, want_tail, store, want_store, kv);
    EXPECTF(0, "\"kv_migrations\"", "--cpu --ctx 4096 --batch 64 --kv-dtype q8_0 --kv-tail 32 bench --model %s -p 80 -n 4 -b 1 --json",
            m);
    if (json_number("kv_bytes") != kv || json_number("kv_migrations") < 3)
        fail_msg("bench: KV %.0f B (info: %.0f), %.0f pages migrated (want >= 3)", json_number("kv_bytes"), kv,
                 json_number("kv_migrations"));
    EXPECTF(0, "f16 tail 32: 2.5 MiB + q4_0 store: 25.3 MiB", "--ctx 4096 --batch 64 --kv-dtype q4_0 --kv-tail 32 info --model %s", m);
    EXPECTF(2, "must then be q8_0 or q4_0", "--cpu --kv-tail 32 bench --model %s -p 4 -n 2", m);
    EXPECTF(2, "must then be q8_0 or q4_0", "--cpu --kv-dtype q8_0,bf16 --kv-tail 32 bench --model %s -p 4 -n 2", m);
}

/* Mamba2 through the CLI: info describes the mixers and the per-sequence
 * state instead of a KV cache; generate and a two-turn chat run; speculative
 * decoding is refused with the reason (it rolls back, a state cannot). */
static void test_mamba2_model(void **s) {
    (void)s;
    char args[2048];
    snprintf(args, sizeof args, "info --model %s/tests/golden/data/mamba2", HIVE_SOURCE_DIR);
    EXPECT(0, args, "2 x Mamba2 mixer (8 heads x 16, 2 groups, state 16, conv kernel 4, inner 128)");
    assert_non_null(strstr(g_out, "20.5 KiB Mamba2 state per sequence"));
    snprintf(args, sizeof args, "--cpu generate --model %s/tests/golden/data/mamba2 --greedy --max-tokens 5 --prompt 'Hello'",
             HIVE_SOURCE_DIR);
    EXPECT(0, args, "");
    snprintf(args, sizeof args,
             "--cpu generate --model %s/tests/golden/data/mamba2 --greedy --max-tokens 5 --prompt 'Hello' --draft lookup",
             HIVE_SOURCE_DIR);
    EXPECT(1, args, "a Mamba2 state cannot do");
    /* a hybrid: which layers are which, KV for the attention layer only, the state for the others */
    snprintf(args, sizeof args, "info --model %s/tests/golden/data/granitemoehybrid", HIVE_SOURCE_DIR);
    EXPECT(0, args, "mixers:         mamba2 attention mamba2");
    assert_non_null(strstr(g_out, "0.5 MiB KV cache (f16, ctx 4096, 1 attention layers) + 20.5 KiB Mamba2 state"));
    const char *t1, *t2; /* two turns run (the second recomputes unless it extends the whole first) */
    chat_two_turns("mamba2", &t1, &t2);
}

/* chat: a turn that cannot fit the context is refused with a message and
 * the conversation goes on, its KV cache intact. */
static void test_chat_survives_bad_turn(void **s) {
    (void)s;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'Hello\\n%%0300d\\nAgain\\n' 0 | HIVE_LOG=warn %s --cpu chat --model %s/tests/golden/data/llama "
             "--greedy --ctx 64 --max-tokens 4 --verbose 2>&1",
             HOST, HIVE_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    assert_int_equal(pclose(p), 0);
    if (!strstr(g_out, "does not fit the context of 64 tokens") || !strstr(g_out, "message dropped"))
        fail_msg("the long turn was not refused with a message:\n%s", g_out);
    const char *t1 = strstr(g_out, "[prompt "), *t2 = t1 ? strstr(t1 + 1, "[prompt ") : NULL;
    if (!t2) fail_msg("the chat did not go on after the refused turn:\n%s", g_out);
    unsigned fed2, reused2;
    assert_int_equal(sscanf(t2, "[prompt %u tokens (%u reused)", &fed2, &reused2), 2);
    if (reused2 == 0) fail_msg("the KV cache was lost with the refused turn:\n%s", g_out);
}

static void test_real_model(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    char args[2048];
    snprintf(args, sizeof args, "info --json --model %s", m);
    EXPECT(0, args, "\"architecture\":\t\"llama\"");
    assert_non_null(strstr(g_out, "\"layers\":\t30"));
    /* Weights dequantized to f32, as transformers runs this GGUF: the greedy
     * answer names Paris. (With native Q4_1 and int8 activations the first
     * token is a near-tie; llama.cpp then answers "L'Etoile, ..." exactly as
     * Hive does -- test_golden_smollm2 checks that path against llama.cpp.) */
    snprintf(args, sizeof args,
             "--cpu --threads 2 generate --model %s --weights f32 --chat --greedy --max-tokens 24 "
             "--prompt 'What is the capital of France?'", m);
    EXPECT(0, args, "Paris");
    /* a full context ends generation with a message, not a crash */
    snprintf(args, sizeof args, "--cpu generate --model %s --ctx 24 --greedy --max-tokens 100 --prompt 'Once upon a time'", m);
    EXPECT(0, args, "context of 24 tokens is full");
    /* a prompt longer than the context is refused up front */
    snprintf(args, sizeof args, "--cpu generate --model %s --ctx 16 --prompt 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen'", m);
    EXPECT(1, args, "does not fit the context of 16 tokens");
    /* the context holds a soft prompt's 20 virtual tokens too: bench sizes it
     * for them, generate refuses a prompt that fits only without them */
    snprintf(args, sizeof args, "--cpu bench --model %s --expert %s/examples/experts/soft-prompt.expert -p 128 -n 2 -r 1", m,
             HIVE_SOURCE_DIR);
    EXPECT(0, args, "1 prefill(s) of its virtual tokens");
    snprintf(args, sizeof args, "--cpu generate --model %s --ctx 24 --expert %s/examples/experts/soft-prompt.expert "
             "--prompt 'one two three four five six seven eight nine ten'", m, HIVE_SOURCE_DIR);
    EXPECT(1, args, "beside the soft prompt's 20 virtual tokens");
    /* stop strings are not emitted */
    snprintf(args, sizeof args, "--cpu generate --model %s --weights f32 --greedy --max-tokens 30 --stop Paris --chat --prompt 'What is the capital of France?'", m);
    if (run(args) != 0 || strstr(g_out, "Paris")) fail_msg("stop string leaked or failed:\n%s", g_out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage_errors),
        cmocka_unit_test(test_config_file_and_print_config),
        cmocka_unit_test(test_docs_and_shipped_configs),
        cmocka_unit_test(test_backend_selection_errors),
        cmocka_unit_test(test_bad_model_files),
        cmocka_unit_test(test_experts_cli),
        cmocka_unit_test(test_expert_nonfinite),
        cmocka_unit_test(test_bench_graphs_and_lora_paths),
        cmocka_unit_test(test_bench_grammar),
        cmocka_unit_test(test_chat_reuses_kv),
        cmocka_unit_test(test_moe_models),
        cmocka_unit_test(test_mamba2_model),
        cmocka_unit_test(test_info_memory_is_allocated),
        cmocka_unit_test(test_kv_dtypes),
        cmocka_unit_test(test_kv_tail),
        cmocka_unit_test(test_chat_survives_bad_turn),
        cmocka_unit_test(test_real_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
