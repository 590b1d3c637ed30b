/* Shared by the golden tests: load a JSON fixture, set up the CPU backend
 * through the real plugin registry, compare logits rows. */
#ifndef HIVE_TESTS_GOLDEN_UTIL_H
#define HIVE_TESTS_GOLDEN_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "experts/compose.h"
#include "model/model.h"
#include "plugin/registry.h"

typedef struct golden_env {
    hive_config *cfg;
    hive_registry reg;
    hive_backend_choice sel;
    hive_model_files *model;
    hive_engine *eng;
} golden_env;

cJSON *golden_load_json(const char *path); /* NULL + message on failure */
/* The SmolLM2 GGUF ($HIVE_TEST_GGUF, else scripts/fetch-models.sh's cache path), or NULL. */
const char *golden_model_path(void);
/* Load a PEFT adapter directory with whichever plugin claims it (adapter
 * plugins come from the build tree). 0 on success. */
/* The whole file as a NUL-terminated string (free it), or NULL. */
char *golden_read_text(const char *path);
int golden_load_adapter(golden_env *g, const char *dir, hive_adapter_ref *out);
void golden_free_adapter(hive_adapter_ref *r);
/* Run prompt (all positions) + the golden decode tokens on a fresh sequence
 * with `set` (NULL = base) and return the worst relative error against the
 * fixture; *tokens_ok = greedy tokens all equal. */
double golden_run(golden_env *g, const cJSON *fixture, const hive_adapter_set *set, int *tokens_ok, char *why,
                  size_t why_cap);
/* Opens model_dir on the onednn-cpu plugin from the build tree, f32 KV;
 * weights_dtype -1 = as stored, else converted at load (e.g. HIVE_DTYPE_F32);
 * qk_hf_order: see hive_engine_opts (1 for adapters, 0 = llama.cpp's layout). */
/* Engine knobs for the engines golden_env_open makes next. graphs: the CPU
 * backend offers its recording HIVE_EXT_GRAPH and the engine uses it. */
typedef struct golden_knobs {
    int batched_lora, graphs;
    int cpu; /* onednn-cpu even when HIVE_TEST_BACKEND names another */
    int fuse_linears;
    uint32_t kv_dtype; /* 0: f32 (golden comparisons in f32); HIVE_DTYPE_F16 as llama.cpp keeps it */
    uint32_t kv_v_dtype; /* V's type when it differs from K's; 0: as kv_dtype */
    uint32_t max_rows; /* rows per forward pass; 0: 64 */
    hive_rope_override rope; /* over the model's RoPE settings (zero: none) */
    uint32_t max_seqs; /* sequence slots; 0: 8 */
    uint32_t kv_block; /* tokens per KV page; 0: the engine's default (16) */
    uint32_t kv_tail; /* --kv-tail: f16 tokens kept per sequence, older ones in kv_dtype; 0: off */
} golden_knobs;
extern golden_knobs golden_next;
/* $HIVE_TEST_BACKEND (e.g. "cuda"): the goldens run on that backend instead of
 * onednn-cpu, and skip when it has no usable device; NULL: the CPU. */
const char *golden_backend(void);
int golden_env_open(golden_env *g, const char *model_dir, uint32_t ctx, int32_t weights_dtype, int qk_hf_order);
void golden_env_close(golden_env *g);
/* max |a - b| / max |b| over a row */
double golden_row_rel_err(const float *a, const cJSON *ref_row, uint32_t n);
int32_t golden_argmax(const float *v, uint32_t n);
int golden_json_ints(const cJSON *arr, int32_t *out, size_t cap);

/* One generation's output, as the speculative-decoding tests compare it:
 * the text it streamed (golden_collect, the hive_generate callback; cut at
 * the buffer's end), the sequence's tokens after it and its stats. */
typedef struct golden_gen_out {
    char text[8192];
    size_t len;
    int32_t kv[4096];
    uint32_t n_kv;
    hive_gen_stats st;
} golden_gen_out;
int golden_collect(void *ud, const char *t, size_t n);

/* The shipped expert examples/experts/<name>.expert from cache, as a set of
 * one (the test fails when it cannot be had); release it with
 * hive_expert_set_release. */
void golden_shipped_expert(hive_expert_cache *cache, const char *name, hive_expert_set *set);

/* The speculative-decoding tests' SmolLM2 prompts (i = 0..49 and on), of
 * several kinds: input-grounded (schemas, records, lists to repeat or
 * transform), code, and open-ended text. */
void golden_smol_prompt(int i, char *buf, size_t cap);
/* Plain greedy references for n (<= 16) prompts decoded side by side on
 * fresh sequences running `set` (NULL: the base), one row per sequence per
 * step, argmax on the device (a row's result does not depend on the rows
 * beside it: test_spec_kv), so many references cost a few passes. Each
 * prompt is prefilled alone, as hive_generate does. out: n x steps tokens.
 * 0, or -1 when the engine refuses. */
int golden_greedy_batched(hive_engine *eng, const hive_adapter_set *set, int32_t *const *prompts, const size_t *lens,
                          int n, uint32_t steps, int32_t *out);

#endif
