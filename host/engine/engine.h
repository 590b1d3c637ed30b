/* The engine runs a model through a backend's kernel table: weights on the
 * device, a paged KV cache shared by sequences, and a forward pass over a
 * batch of token rows that may belong to different sequences. */
#ifndef HIVE_ENGINE_ENGINE_H
#define HIVE_ENGINE_ENGINE_H

#include <stdint.h>
#include "hive_abi.h"
#include "model/model.h"

typedef struct hive_engine hive_engine;

typedef struct hive_engine_opts {
    uint32_t ctx;            /* max tokens per sequence */
    uint32_t max_rows;       /* rows per forward pass (longer inputs are chunked) */
    uint32_t max_seqs;       /* sequences alive at once */
    uint32_t kv_block;       /* tokens per KV page */
    uint32_t kv_dtype;       /* K's element type (and V's unless kv_v_dtype): HIVE_DTYPE_F16, ... */
    int32_t kv_v_dtype;      /* V's element type; -1: as kv_dtype */
    /* two-tier KV (--kv-tail): 0 = off; else each sequence's last kv_tail
     * tokens stay f16 and older pages move to kv_dtype / kv_v_dtype (q8_0,
     * q4_0), a page at a time after each pass */
    uint32_t kv_tail;
    int32_t weights_dtype;   /* -1 = as stored; else requantize linear weights to this dtype */
    uint32_t threads;        /* 0 = backend default */
    /* GGUF llama stores q/k rows permuted for interleaved RoPE. 1: restore
     * Hugging Face row order (and use NEOX RoPE), which adapters that hook
     * q/k need (they were trained on HF weights); 0: keep the file's layout,
     * which reproduces llama.cpp's arithmetic exactly. Other models: no effect. */
    int qk_hf_order;
    /* 1: when the backend offers HIVE_EXT_LORA_SEGMENTS, every plain-LoRA
     * delta of a linear (all segments) runs as one call; 0: one adapter hook
     * per segment. Same arithmetic either way. */
    int batched_lora;
    /* 1: when the backend offers HIVE_EXT_GRAPH, decode steps are captured
     * once per (batch bucket, adapter layout) and replayed (CUDA graphs). */
    int graphs;
    /* 1: q/k/v (unless a per-head q/k norm needs them apart) and gate/up are
     * stacked into one weight each, so each group is one matmul. */
    int fuse_linears;
    /* RoPE settings over the model file's (--rope-scaling etc.; zero: the model's) */
    hive_rope_override rope;
} hive_engine_opts;

void hive_engine_opts_default(hive_engine_opts *o);

/* `backend` is the host-size copy of the plugin's table (hive_plugin.backend). */
hive_status hive_engine_new(const hive_model_files *m, const hive_backend_api *backend, uint32_t device,
                            const hive_engine_opts *opts, hive_engine **out, hive_error **err);
void hive_engine_free(hive_engine *e);

const hive_hparams *hive_engine_hparams(const hive_engine *e);
uint64_t hive_engine_weight_bytes(const hive_engine *e); /* as uploaded */
uint64_t hive_engine_kv_bytes(const hive_engine *e);
/* --kv-dtype / model.kv_dtype: one type for K and V ("q8_0") or "K,V"
 * ("q8_0,f16"), each f16, f32, bf16, q8_0 or q4_0. Returns 0, or -1 with a
 * message in why. *v is the type V gets (K's when one is given). */
int hive_engine_kv_dtypes_parse(const char *s, uint32_t *k, uint32_t *v, char *why, size_t why_cap);
/* Bytes one token's K and V take in one attention layer with n_kv_heads x head_dim. */
uint64_t hive_engine_kv_token_bytes(uint32_t k, uint32_t v, uint32_t n_kv_heads, uint32_t head_dim);
/* --kv-tail's page pools: f16 tail pages (each sequence's tail, one pass of
 * max_rows and a partial page) and store pages (the whole context). */
void hive_engine_kv_tier_pages(uint32_t ctx, uint32_t block, uint32_t max_rows, uint32_t max_seqs, uint32_t tail,
                               uint32_t *tail_pages, uint32_t *store_pages);
/* Two-tier KV now: pool sizes, free pages, pages migrated so far. */
typedef struct hive_kv_tier_stats {
    uint32_t tail_pages, store_pages, tail_free, store_free;
    uint64_t migrations;
} hive_kv_tier_stats;
void hive_engine_kv_tier_stats(const hive_engine *e, hive_kv_tier_stats *out);
/* Store-tier pages among seq's pages. */
uint32_t hive_engine_seq_store_pages(const hive_engine *e, int32_t seq);
/* Mamba2 state bytes each sequence slot holds (conv windows + SSM states, all layers), as allocated; 0 without. */
uint64_t hive_engine_state_bytes(const hive_engine *e);
uint32_t hive_engine_ctx(const hive_engine *e);

/* Sequences: ids are small integers; a new sequence is empty. */
hive_status hive_engine_seq_new(hive_engine *e, int32_t *seq, hive_error **err);
void hive_engine_seq_free(hive_engine *e, int32_t seq);
uint32_t hive_engine_seq_len(const hive_engine *e, int32_t seq);
/* The real tokens seq can hold: the context less its soft prompt's virtual
 * rows (which take context too). */
uint32_t hive_engine_seq_ctx(const hive_engine *e, int32_t seq);
/* Lengths, tokens and truncation count real tokens only: a soft prompt's
 * virtual tokens stay in front. */
/* The tokens stored for seq (valid until the next forward/truncate). */
const int32_t *hive_engine_seq_tokens(const hive_engine *e, int32_t seq);
/* KV pages: the whole pool (less a graph padding page) and those free now;
 * the pages one sequence holds. */
void hive_engine_kv_pages(const hive_engine *e, uint32_t *total, uint32_t *free_pages);
uint32_t hive_engine_seq_pages(const hive_engine *e, int32_t seq);
/* Distinct pages the n sequences hold together (shared pages count once). */
uint32_t hive_engine_kv_pages_held(const hive_engine *e, const int32_t *seqs, uint32_t n);
/* dst takes src's KV for its first `len` real tokens without computing them:
 * the whole pages among them are shared (reference-counted, never written
 * again: appends go to pages after them). dst's own KV is dropped first. Both
 * sequences must run the same adapter set (the caller's promise: KV depends
 * on it). Returns the real tokens dst now holds (a multiple of the page size
 * less any soft-prompt rows; unchanged when sharing would gain nothing). */
uint32_t hive_engine_seq_share_prefix(hive_engine *e, int32_t dst, int32_t src, uint32_t len);
/* The longest prefix of at most `len` real tokens that seq can be truncated to
 * and then appended to: a cut inside a page another sequence shares would
 * overwrite that sequence's KV, so such a cut moves back to the page start. */
uint32_t hive_engine_seq_reusable_len(const hive_engine *e, int32_t seq, uint32_t len);
/* Forget tokens from position `len` on (e.g. to reuse a shared prefix). */
hive_status hive_engine_seq_truncate(hive_engine *e, int32_t seq, uint32_t len, hive_error **err);

/* ---- adapters ----
 * A sequence runs with an ordered set of loaded adapters (its experts). The
 * set is owned by the caller and must outlive its use by the sequence. */
#define HIVE_MAX_ADAPTERS_PER_SET 32
typedef struct hive_adapter_ref {
    const hive_adapter_api *api;  /* host-size copy of the plugin's table */
    hive_adapter *adapter;
    hive_adapter_desc desc;
} hive_adapter_ref;
typedef struct hive_adapter_set {
    uint64_t id;                  /* identifies the combination (KV reuse keys on it) */
    uint32_t n;
    hive_adapter_ref refs[HIVE_MAX_ADAPTERS_PER_SET];
} hive_adapter_set;

/* Attach a set (NULL = base model) to a sequence. The sequence's KV cache is
 * dropped (KV is never reused across a change of expert set); a soft-prompt
 * adapter's virtual tokens are prefilled at once, or shared (below). */
hive_status hive_engine_seq_set_adapters(hive_engine *e, int32_t seq, const hive_adapter_set *set, hive_error **err);
/* A soft prompt's virtual-token KV is computed once per expert set (the
 * whole set: other adapters change it) and kept as a template: later
 * attaches of that set share its whole pages (reference-counted, never
 * written again) and copy the rows of its last, partial page, running no
 * forward pass; the result is bit-identical to a prefill. Templates (at most
 * 8, least recently used dropped) hold KV pages: they are dropped when the
 * pool runs out, by hive_engine_adapters_released and when base weights are
 * replaced (merge). The key is the set's id and its adapters' addresses. */
typedef struct hive_soft_prompt_stats {
    uint64_t prefills;        /* attaches that ran the virtual tokens through the model */
    uint64_t shared_attaches; /* attaches that took a template's KV */
    uint32_t templates;       /* held now */
    uint32_t template_pages;  /* KV pages they hold (shared with sequences) */
} hive_soft_prompt_stats;
void hive_engine_soft_prompt_stats(const hive_engine *e, hive_soft_prompt_stats *out);
/* Forget every template (pages go back as their last holder lets go). */
void hive_engine_soft_prompts_drop(hive_engine *e);
/* The set attached to seq (NULL: the base model, or no such sequence). */
const hive_adapter_set *hive_engine_seq_adapters(const hive_engine *e, int32_t seq);

/* What adapter plugins are given at load. */
const hive_model_shape *hive_engine_model_shape(const hive_engine *e);
const hive_base_access *hive_engine_base_access(const hive_engine *e);
hive_device *hive_engine_device(const hive_engine *e);
const hive_backend_api *hive_engine_backend(const hive_engine *e);
uint32_t hive_engine_max_rows(const hive_engine *e);
/* Backend calls that ran LoRA deltas batched over segments (for tests and
 * `bench`: proves the SGMV path is taken). */
uint64_t hive_engine_lora_batched_calls(const hive_engine *e);
/* Adapters the engine may have run are about to be destroyed: drop whatever
 * holds their weights or results (captured decode graphs, soft-prompt KV
 * templates). Their keys name adapter sets by address and id, which a
 * reloaded expert can reuse. */
void hive_engine_adapters_released(hive_engine *e);
/* Decode-step graphs captured and replayed so far (0, 0 without the extension). */
void hive_engine_graph_stats(const hive_engine *e, uint64_t *captured, uint64_t *replayed);

/* One forward pass. Row i is token tokens[i] appended to sequence seqs[i]
 * (rows of one sequence in order). For each row with want_logits[i] != 0,
 * a row of n_vocab floats is written to logits, in row order.
 * A sequence that would exceed ctx fails with HIVE_E_INVALID ("context full"). */
typedef struct hive_fwd_batch {
    uint32_t n;
    const int32_t *tokens;
    const int32_t *seqs;
    const uint8_t *want_logits; /* NULL: only the last row of the batch */
    /* non-NULL: write the argmax token id of each wanted row here instead of
     * logits (greedy decoding: on-device argmax, one id per row crosses) */
    int32_t *argmax;
} hive_fwd_batch;
hive_status hive_engine_forward(hive_engine *e, const hive_fwd_batch *b, float *logits, hive_error **err);

#endif
