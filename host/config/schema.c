/* The list of configuration keys. CLI flags are generated from it. */
#include <string.h>

#include "config/config.h"

#define NORANGE 1, 0

const hive_cfg_key hive_cfg_schema[] = {
    /* plugins and devices */
    {"plugin_dirs", HIVE_CFG_STRLIST, "", "plugin-dir", "DIR",
     "directory to scan for plugins (repeatable); searched before HIVE_PLUGIN_PATH and the default", NORANGE},
    {"default_plugins", HIVE_CFG_BOOL, "true", "default-plugins", NULL,
     "scan HIVE_PLUGIN_PATH and <exe>/../lib/hive/plugins too (--no-default-plugins: only --plugin-dir)", NORANGE},
    {"backend.name", HIVE_CFG_STRING, "", "backend", "NAME[:DEV]",
     "use this backend (and device index); failure to use it is an error, never a fallback", NORANGE},
    {"backend.prefer", HIVE_CFG_STRLIST, "", NULL, NULL,
     "backend names in order of preference when --backend is not given; else the highest probe score wins", NORANGE},
    {"backend.cpu", HIVE_CFG_BOOL, "false", "cpu", NULL, "force the CPU backend (onednn-cpu)", NORANGE},
    {"backend.graphs", HIVE_CFG_BOOL, "true", "graphs", NULL,
     "replay decode steps as captured device graphs when the backend offers them (CUDA graphs); "
     "--no-graphs: launch every op",
     NORANGE},
    {"threads", HIVE_CFG_INT, "0", "threads", "N", "CPU threads (0 = all cores)", 0, 4096},
    /* model */
    {"model.path", HIVE_CFG_STRING, "", "model", "PATH", "a .gguf file or a Hugging Face model directory", NORANGE},
    {"model.ctx", HIVE_CFG_INT, "4096", "ctx", "N", "context length (tokens) of the KV cache per sequence", 16, 1 << 24},
    {"model.weights", HIVE_CFG_STRING, "native", "weights", "TYPE",
     "weight format: native (as stored) | f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 (requantize at load)", NORANGE},
    {"model.kv_dtype", HIVE_CFG_STRING, "f16", "kv-dtype", "TYPE", "KV cache element types: one for K and V or K,V (e.g. q8_0,f16); f16 | f32 | bf16 | q8_0 | q4_0 (all but f16/f32 CPU only; q8_0/q4_0 blocks of 32 as llama.cpp)", NORANGE},
    {"model.kv_tail", HIVE_CFG_INT, "0", "kv-tail", "N",
     "two-tier KV: each sequence's last N tokens stay f16, older pages move to the --kv-dtype store type (q8_0 | q4_0) "
     "during decode; 0 = off (CPU only)",
     0, 1 << 24},
    {"model.kv_block", HIVE_CFG_INT, "16", "kv-block", "N", "KV cache block size (tokens per page)", 1, 4096},
    {"model.batch", HIVE_CFG_INT, "512", "batch", "N", "largest number of token rows in one forward pass", 1, 65536},
    /* RoPE scaling over the model file's (docs/LONG_CONTEXT.md); 0 / "" = the model's value */
    {"rope.scaling", HIVE_CFG_STRING, "", "rope-scaling", "TYPE",
     "RoPE scaling: none | linear | dynamic | yarn | longrope | llama3 (default: the model's)", NORANGE},
    {"rope.scale", HIVE_CFG_FLOAT, "0", "rope-scale", "F", "RoPE context scaling factor (0 = the model's)", 0, 1e6},
    {"rope.freq_base", HIVE_CFG_FLOAT, "0", "rope-freq-base", "F", "RoPE base frequency, theta (0 = the model's)", 0, 1e12},
    {"rope.yarn_orig_ctx", HIVE_CFG_INT, "0", "yarn-orig-ctx", "N",
     "original context length the scaling extends (0 = the model's)", 0, 1 << 30},
    {"rope.yarn_beta_fast", HIVE_CFG_FLOAT, "0", "yarn-beta-fast", "F", "YaRN low correction dim, beta_fast (0 = the model's, else 32)",
     0, 1e6},
    {"rope.yarn_beta_slow", HIVE_CFG_FLOAT, "0", "yarn-beta-slow", "F", "YaRN high correction dim, beta_slow (0 = the model's, else 1)",
     0, 1e6},
    {"rope.yarn_attn_factor", HIVE_CFG_FLOAT, "0", "yarn-attn-factor", "F",
     "multiplies the RoPE attention scale, as llama.cpp's flag (0 = the model's, else 1)", 0, 1e6},
    /* sampling (CLI > expert manifest > config file > default) */
    {"sampling.temperature", HIVE_CFG_FLOAT, "0.7", "temperature", "T", "sampling temperature (0 = greedy)", 0, 100},
    {"sampling.top_k", HIVE_CFG_INT, "40", "top-k", "K", "keep the K most likely tokens (0 = off)", 0, 1e9},
    {"sampling.top_p", HIVE_CFG_FLOAT, "0.95", "top-p", "P", "nucleus sampling threshold (1 = off)", 1e-9, 1},
    {"sampling.min_p", HIVE_CFG_FLOAT, "0.05", "min-p", "P", "drop tokens below P x the top probability (0 = off)", 0, 1},
    {"sampling.repetition_penalty", HIVE_CFG_FLOAT, "1.0", "repeat-penalty", "X", "repetition penalty (1 = off)", 0.01, 100},
    {"sampling.presence_penalty", HIVE_CFG_FLOAT, "0.0", "presence-penalty", "X", "presence penalty", -2, 2},
    {"sampling.frequency_penalty", HIVE_CFG_FLOAT, "0.0", "frequency-penalty", "X", "frequency penalty", -2, 2},
    {"sampling.penalty_last_n", HIVE_CFG_INT, "64", "penalty-last-n", "N", "tokens the penalties look back over", 0, 1 << 24},
    {"sampling.seed", HIVE_CFG_INT, "-1", "seed", "N", "random seed (-1 = from the clock)", -1, 9.2e18},
    {"sampling.max_tokens", HIVE_CFG_INT, "256", "max-tokens", "N", "tokens to generate at most", 1, 1 << 24},
    {"sampling.stop", HIVE_CFG_STRLIST, "", "stop", "TEXT", "stop string (repeatable); not included in the output", NORANGE},
    {"sampling.greedy", HIVE_CFG_BOOL, "false", "greedy", NULL, "greedy decoding (same as --temperature 0)", NORANGE},
    /* speculative decoding (docs/SPECULATIVE.md) */
    {"speculative.draft", HIVE_CFG_STRING, "", "draft", "DRAFTER",
     "generate, chat, bench: speculative decoding with the output unchanged: lookup[:N] drafts the text a "
     "grammar forces, n-grams of the prompt and the text so far (N: longest n-gram, default 3; down to 2, 1 "
     "only for lookup:1) and the rest of a word being copied; base with the base model without the "
     "experts (needs --expert), model with a second model (needs --draft-model); none = off; empty = off, or "
     "model when --draft-model is given; serve: the default of requests without a speculative field (lookup "
     "only)",
     NORANGE},
    {"speculative.draft_corpus", HIVE_CFG_STRING, "", "draft-corpus", "FILE",
     "generate, chat, bench: with --draft lookup, a text file of example outputs (the answers an expert "
     "was trained on) drafted from beside the prompt and the text so far: the continuation seen most "
     "often after the last N..1 tokens, at most 4 MiB; default: the expert's own (its manifest's "
     "training.decoding.draft_corpus); none: no corpus; serve: for every request that drafts by lookup "
     "(on the command line, in place of the request's experts' own); experts pack: the corpus the package "
     "carries",
     NORANGE},
    {"speculative.draft_max", HIVE_CFG_INT, "8", "draft-max", "K",
     "generate, chat, bench, serve: most draft tokens verified in one forward pass (--draft), at most 14", 1, 14},
    {"speculative.draft_model", HIVE_CFG_STRING, "", "draft-model", "PATH",
     "generate, chat, bench: a second model (.gguf or Hugging Face directory) with the target's vocabulary drafts "
     "(--draft model, implied when --draft is not given); it may be the same file at other --draft-weights",
     NORANGE},
    {"speculative.draft_weights", HIVE_CFG_STRING, "native", "draft-weights", "TYPE",
     "the draft model's weight format, as --weights: native | f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 "
     "(needs --draft-model)",
     NORANGE},
    /* structured output (docs/GRAMMAR.md); CLI > expert manifest > config file */
    {"grammar.file", HIVE_CFG_STRING, "", "grammar-file", "FILE", "constrain the output to a GBNF grammar file", NORANGE},
    {"grammar.gbnf", HIVE_CFG_STRING, "", "grammar", "TEXT", "constrain the output to this GBNF grammar", NORANGE},
    {"grammar.json_schema", HIVE_CFG_STRING, "", "json-schema", "FILE|TEXT",
     "constrain the output to JSON valid under this JSON Schema (a file, or the schema itself)", NORANGE},
    {"grammar.regex", HIVE_CFG_STRING, "", "regex", "R", "constrain the whole output to match this regular expression",
     NORANGE},
    {"grammar.builtin", HIVE_CFG_STRING, "", "grammar-builtin", "NAME",
     "constrain the output to a shipped grammar: json | json-object | sql-postgres (--json: json-object)", NORANGE},
    {"grammar.json_ws_max", HIVE_CFG_INT, "2", "json-ws-max", "N",
     "spaces/tabs allowed between JSON tokens under a JSON grammar (plus at most one newline)", 0, 64},
    /* chat */
    {"chat.system", HIVE_CFG_STRING, "", "system", "TEXT", "system message for --chat and chat", NORANGE},
    {"chat.thinking", HIVE_CFG_STRING, "default", "thinking", "on|off|default", "Qwen3 thinking mode", NORANGE},
    /* experts */
    {"experts.paths", HIVE_CFG_STRLIST, "", "expert", "PATH[:W]",
     "expert package (.expert, directory, PEFT directory); PATH:W runs a LoRA expert at weight W "
     "(0 < W <= 100): its delta times W; repeatable", NORANGE},
    {"experts.merge", HIVE_CFG_BOOL, "false", "merge", NULL,
     "fold a single expert into the base weights (fast path; LoRA, DoRA, IA3 without biases)", NORANGE},
    {"experts.batched_lora", HIVE_CFG_BOOL, "true", "batched-lora", NULL,
     "run the LoRA experts of a batch as one segmented (SGMV) backend call per linear when the backend offers it; "
     "--no-batched-lora: one adapter call per expert segment (same results)",
     NORANGE},
    {"experts.strict_base", HIVE_CFG_BOOL, "false", "strict-base", NULL,
     "refuse a plain PEFT directory whose adapter_config.json base_model_name_or_path does not name the loaded model "
     "(default: a warning)", NORANGE},
    {"experts.route_threshold", HIVE_CFG_FLOAT, "0.45", "route-threshold", "F",
     "--expert auto, model \"auto\": the score (0..1) an expert needs to be routed to (docs/EXPERTS.md, Routing)", 0, 1},
    {"experts.route_max", HIVE_CFG_INT, "1", "route-max", "N",
     "--expert auto, model \"auto\": most experts routed to one prompt (best first)", 1, 32},
    {"experts.cache_mb", HIVE_CFG_INT, "512", "expert-cache-mb", "MB", "memory budget of the loaded-expert LRU cache", 0, 1 << 24},
    {"experts.cache_max", HIVE_CFG_INT, "0", "expert-cache-max", "N",
     "most experts the loaded-expert LRU cache keeps, besides its memory budget (0 = no count limit)", 0, 1 << 24},
    /* serve (docs/SERVER.md) */
    {"server.host", HIVE_CFG_STRING, "127.0.0.1", "host", "ADDR", "serve: numeric IPv4/IPv6 address to listen on", NORANGE},
    {"server.port", HIVE_CFG_INT, "8080", "port", "N", "serve: TCP port (0 = any free port, printed at start)", 0, 65535},
    {"server.parallel", HIVE_CFG_INT, "8", "parallel", "N", "serve: sequences generated at once (continuous batching)", 1, 1024},
    {"server.expert_dirs", HIVE_CFG_STRLIST, "", "expert-dir", "DIR",
     "serve: directory of expert packages a request may name (repeatable; found by name, each manifest read on "
     "first use); --expert adds single packages. Also --expert auto's candidates and bench's experts", NORANGE},
    {"server.api_key", HIVE_CFG_STRING, "", "api-key", "KEY",
     "serve: require 'Authorization: Bearer KEY' (empty = no key; prefer --api-key-file)", NORANGE},
    {"server.api_key_file", HIVE_CFG_STRING, "", "api-key-file", "FILE", "serve: read the API key from the first line of FILE",
     NORANGE},
    {"server.max_queue", HIVE_CFG_INT, "256", "max-queue", "N", "serve: requests waiting for a slot before 429", 1, 1 << 20},
    {"server.prefill_chunk", HIVE_CFG_INT, "256", "prefill-chunk", "N",
     "serve, bench --sched: prompt tokens computed per step, so running streams wait at most one chunk", 1, 65536},
    {"server.prefix_cache_slots", HIVE_CFG_INT, "8", "prefix-cache-slots", "N",
     "serve: finished sequences whose KV stays for reuse (each reserves --ctx tokens of KV)", 0, 1024},
    {"server.max_body_kb", HIVE_CFG_INT, "1024", "max-body-kb", "KB", "serve: largest request body (larger: 413)", 1, 1 << 20},
    {"server.shutdown_timeout_s", HIVE_CFG_INT, "10", "shutdown-timeout", "S",
     "serve: on SIGTERM/SIGINT, seconds in-flight requests may finish before they are cancelled", 0, 3600},
    {"server.model_name", HIVE_CFG_STRING, "", "served-model-name", "NAME",
     "serve: the base model's id in requests and /v1/models (default: the model file's name)", NORANGE},
    /* logging */
    {"log_level", HIVE_CFG_STRING, "info", "log", "LEVEL", "error | warn | info | debug | trace (HIVE_LOG sets it too)", NORANGE},
};
const size_t hive_cfg_schema_len = sizeof hive_cfg_schema / sizeof hive_cfg_schema[0];

const hive_cfg_key *hive_cfg_find_key(const char *key) {
    for (size_t i = 0; i < hive_cfg_schema_len; i++)
        if (strcmp(hive_cfg_schema[i].key, key) == 0) return &hive_cfg_schema[i];
    return NULL;
}

const hive_cfg_key *hive_cfg_find_flag(const char *flag) {
    for (size_t i = 0; i < hive_cfg_schema_len; i++)
        if (hive_cfg_schema[i].flag && strcmp(hive_cfg_schema[i].flag, flag) == 0) return &hive_cfg_schema[i];
    return NULL;
}
