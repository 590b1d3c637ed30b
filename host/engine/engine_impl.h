/* Engine internals shared by engine.c (setup), kv.c (pages) and forward.c. */
#ifndef HIVE_ENGINE_IMPL_H
#define HIVE_ENGINE_IMPL_H

#include "engine/engine.h"

/* Hookable linears after the seven (hive_model_shape 1.10: module ids past
 * HIVE_MODULE_COUNT, each present only in the layers that have it): Mamba2
 * in_proj / out_proj, latent attention's q_a_proj, q_b_proj,
 * kv_a_proj_with_mqa, kv_b_proj (its q_proj and o_proj are Q and O), a
 * routed layer's shared expert's gate_proj, up_proj, down_proj, and
 * Granite's shared_mlp.input_linear ([gate | up] in one linear) and
 * output_linear. Append only: plugins know the ids by their paths, but ids
 * stay put. */
enum {
    HIVE_XMOD_SSM_IN = HIVE_MODULE_COUNT,
    HIVE_XMOD_SSM_OUT,
    HIVE_XMOD_MLA_Q_A,
    HIVE_XMOD_MLA_Q_B,
    HIVE_XMOD_MLA_KV_A,
    HIVE_XMOD_MLA_KV_B,
    HIVE_XMOD_SHEXP_GATE,
    HIVE_XMOD_SHEXP_UP,
    HIVE_XMOD_SHEXP_DOWN,
    HIVE_XMOD_SHMLP_IN,
    HIVE_XMOD_SHMLP_OUT,
    /* blazr's latent attention (w_dkv, w_dq, w_uq are KV_A, Q_A, Q_B): the
     * rope query and key, and the key / value up-projections (absorbed) */
    HIVE_XMOD_MLA_QR,
    HIVE_XMOD_MLA_KR,
    HIVE_XMOD_MLA_UK,
    HIVE_XMOD_MLA_UV,
    HIVE_XMOD_COUNT
};
/* Past those, per routed expert ex, e->exp_per modules from
 * hive_xmod_expert(e, ex, 0): Hugging Face families (hive_model_shape 1.11)
 * two slices of the layer's stacked parameters, gate_up_proj [2 * moe_ffn,
 * hidden] then down_proj (PEFT's target_parameters, modules_expert = ex +
 * 1); blazr three linears of its own, gate_proj, up_proj, down_proj. */
#define HIVE_EXPERT_GATE_UP 0u
#define HIVE_EXPERT_DOWN_FUSED 1u
#define HIVE_EXPERT_GATE 0u
#define HIVE_EXPERT_UP 1u
#define HIVE_EXPERT_DOWN 2u

typedef struct layer_weights {
    hive_weight *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    hive_weight *ffn_norm, *w_gate, *w_up, *w_down;
    /* stacked by rows when the parts share a dtype (opts.fuse_linears); the
     * parts' own slots are then NULL */
    hive_weight *wqkv, *bqkv, *w_gate_up;
    /* mixture-of-experts layers (moe_router NULL on dense ones): per expert,
     * gate and up stacked by rows, and down */
    hive_weight *moe_router, **moe_gate_up, **moe_down;
    hive_weight *moe_shared_gate_up, *moe_shared_down, *moe_shared_gate_inp; /* qwen2_moe's shared expert */
    /* Mamba2 layers (ssm_in NULL on others; attn_norm is the block's norm):
     * conv_w [1, conv dim * kernel] f32, A = -exp(A_log) */
    hive_weight *ssm_in, *ssm_out, *ssm_conv_w, *ssm_conv_b, *ssm_dt_bias, *ssm_A, *ssm_D, *ssm_norm;
    hive_buffer *ssm_conv_state, *ssm_scan_state; /* [max_seqs rows] each sequence's recurrent state */
    /* multi-head latent attention (mla_kv_a NULL on others): mla_q's rows are
     * [every head's nope | every head's rope] (wq or q_b reordered at load);
     * per head, mla_kb_t = W_kb^T [kv rank, nope] absorbs the key up-projection
     * into the query and mla_vb = W_vb [v, kv rank] expands the attended latent */
    hive_weight *mla_q, *mla_q_a, *mla_q_a_norm, *mla_kv_a, *mla_kv_a_norm, **mla_kb_t, **mla_vb;
    /* blazr (mla.c, ssm.c): latent attention's rope query and shared rope key
     * projections (mla_kr set: the layer caches in kv_mla); the Mamba2
     * block's LayerNorm bias and in/out_proj biases */
    hive_weight *mla_qr, *mla_kr, *attn_norm_b, *ssm_in_b, *ssm_out_b;
} layer_weights;

/* Host scratch of a mixture-of-experts layer for one chunk (forward.c):
 * router probabilities, then each expert's rows and their weights. */
typedef struct moe_scratch {
    float *probs;      /* [max_rows * n_experts] */
    int32_t *rows;     /* [n_experts * max_rows] rows routed to expert e at e * max_rows */
    float *weights;    /* same layout: the router weight of each of those rows */
    uint32_t *count;   /* [n_experts] */
} moe_scratch;

typedef struct seq_state {
    int active;
    uint32_t len;        /* tokens stored in the KV cache */
    int32_t *blocks;     /* [max_blocks] physical page ids, first n_blocks valid */
    int32_t *tokens;     /* [ctx] the tokens whose K/V are stored, for prefix reuse */
    uint32_t n_virtual;  /* soft-prompt rows at the front (token -1) */
    const hive_adapter_set *set;
    uint32_t n_blocks;
} seq_state;

/* Activations for up to max_rows rows. */
typedef struct activations {
    /* q holds [q | k | v] rows unless k, v are their own (per-head q/k norm);
     * gate holds [gate | up] rows */
    hive_buffer *x, *h, *q, *k, *v, *att, *gate, *tmp, *last, *logits;
    hive_buffer *hook_in, *hook_base, *hook_out; /* hooked linears: scaled input, W x + b, output */
    hive_buffer *moe_logits, *moe_x, *moe_y;     /* router logits, an expert's input rows and output rows */
    hive_buffer *ssm_proj, *ssm_conv, *ssm_y;    /* Mamba2: in_proj output, conv output, scan output */
    /* MLA: query latent, queries [nope | rope], the KV row [c_kv | rope key],
     * the value row [c_kv | 0] (tail zeroed once), per-head outputs */
    hive_buffer *mla_qa, *mla_q, *mla_k, *mla_v, *mla_o;
    uint32_t logit_rows; /* rows the logits buffer holds */
} activations;

typedef struct sp_template sp_template; /* soft_prompt.c */
typedef struct mla_set_weights mla_set_weights; /* mla_adapt.c */

/* Consecutive rows that share an adapter set. */
typedef struct segment {
    uint32_t row0, n;
    const hive_adapter_set *set;
} segment;

struct hive_engine {
    const hive_backend_api *be;
    hive_device *dev;
    hive_hparams hp;
    hive_engine_opts opts;

    hive_weight *tok_embd, *output_norm, *output; /* output == tok_embd when tied */
    hive_weight *embed_mult;                      /* [1, hidden] of Granite's embedding_multiplier, or NULL */
    layer_weights *layers;
    uint64_t weight_bytes;

    hive_kv_cache *kv;
    uint32_t *kv_layer;                 /* [n_layers] layer -> its layer in the KV cache (attention layers only) */
    uint32_t n_blocks_total, max_blocks;
    int32_t *free_blocks;
    uint32_t n_free;
    uint32_t *page_refs;                /* [n_blocks_total] sequences holding each page (shared prefixes) */
    seq_state *seqs;
    /* two-tier KV (--kv-tail, kv.c): ids n_tail_blocks.. are store pages, with
     * their own free list; n_tail_blocks == n_blocks_total without tiers */
    uint32_t n_tail_blocks;
    int32_t *free_store;
    uint32_t n_free_store;
    uint64_t kv_migrations;

    float *inv_freq;      /* [rot_dims / 2] */
    float rope_attn_factor;
    /* dynamic NTK / longrope: this pass's table and scale per local sequence
     * (rope.c); NULL for the other types */
    float *rope_seq_freq, *rope_seq_attn;
    activations act;
    moe_scratch moe;                  /* NULL arrays when the model has no experts */
    hive_weight *ssm_ones;            /* [1, inner / groups] of 1: the gated norm's per-group RMSNorm */
    uint32_t n_ssm_layers;
    uint64_t ssm_state_bytes;         /* per sequence slot, summed as ssm.c allocates the state buffers */
    /* blazr's latent attention (mla.c): its own paged cache of [c_kv | rope
     * key] rows beside the attention layers' (same pages, another row width),
     * its layer index per model layer, and the d_rope-wide RoPE table */
    hive_kv_cache *kv_mla;
    uint32_t *mla_kv_layer;
    float *mla_inv_freq;
    /* expert sets with kv_b_proj LoRA: their own absorbed weights (mla_adapt.c) */
    mla_set_weights **mla_sets;
    uint32_t n_mla_sets;
    uint64_t mla_clock;

    const hive_model_files *model;    /* for adapters' base access */
    /* GGUF llama stores q/k rows permuted for interleaved RoPE; the engine
     * restores Hugging Face order (and uses NEOX RoPE) so adapters trained
     * on HF weights line up with the rows they were trained on. */
    int unpermute_qk;
    hive_model_shape shape;
    /* shape's 1.10 / 1.11 arrays: every module's features, PEFT path and
     * expert (1-based, 0: none), and which layers have it ([n_layers *
     * n_mod]); n_mod is HIVE_XMOD_COUNT plus two per routed expert */
    uint32_t n_mod, exp_per;
    uint32_t *mod_in, *mod_out, *mod_expert;
    const char **mod_path;
    char *mod_path_pool;              /* blazr's per-expert paths */
    uint8_t *mod_present;
    hive_base_access base;
    segment *segs;
    uint32_t n_segs;
    segment *expert_segs;             /* [max_rows] an expert's gathered rows as segments (forward.c) */
    uint32_t *hooks_any;              /* [n_layers * n_mod] union over the chunk's sets */
    int32_t *identity;                /* [max_rows] 0..max_rows-1, for row copies */
    /* segmented multi-LoRA (NULL: backend has none, or opts.batched_lora = 0) */
    const hive_ext_lora_segments *lora_ext;
    int32_t *lora_row0, *lora_rows;   /* [max_rows] one call's segments */
    const hive_weight **lora_A, **lora_B;
    uint32_t *lora_done;              /* [max_rows] per segment: adapters already applied (bit a) */
    float *residual_scales;           /* [max_rows] the residual multiplier (1 without): hooked residual branches */
    uint64_t lora_batched_calls;
    /* soft prompts' virtual-token KV per expert set (soft_prompt.c); while a
     * template is prefilled, attention copies rows sp_capture_row0.. of each
     * layer's K/V (sp_capture_rows of them) into sp_capture */
    sp_template **sp;
    uint32_t n_sp;
    uint64_t sp_clock, sp_prefills, sp_shared;
    hive_buffer *sp_capture;
    uint32_t sp_capture_row0, sp_capture_rows;

    /* per-chunk scratch in host memory */
    int32_t *row_seq, *row_pos, *block_table, *local_seq_ids, *logit_rows_idx;
    float *argmax_host;               /* [LOGIT_ROWS * vocab] when the backend has no op_argmax */

    /* decode-step graphs (graph.c); graph_ext NULL: every op is launched */
    const hive_ext_graph *graph_ext;
    uint32_t graph_max_rows;
    int32_t pad_block;                /* KV page that padding rows write and read */
    /* the captured steps' host arrays: fixed addresses, rewritten each step */
    int32_t *g_tokens, *g_row_seq, *g_row_pos, *g_block_table;
    const hive_adapter_set **g_sets;  /* graph key: adapter set of each row */
    uint64_t *g_set_ids;
    hive_buffer *g_logits;            /* [graph_max_rows, vocab], made at the first capture */
    struct graph_entry *graphs;
    uint32_t n_graphs;
    uint64_t graph_clock, graph_captures, graph_replays;
};

hive_status hive_engine_upload_weights(hive_engine *e, const hive_model_files *m, hive_error **err);
/* Give `module` of `layer` its own weight again when it is part of a stacked
 * one (q/k/v, gate/up), from the model file: merging replaces one module. */
hive_status hive_engine_unstack(hive_engine *e, uint32_t layer, uint32_t module, hive_error **err);
void hive_engine_free_weights(hive_engine *e);
hive_status hive_engine_kv_init(hive_engine *e, hive_error **err);
void hive_engine_kv_free(hive_engine *e);
/* Make sure seq has pages for positions < len. */
hive_status hive_engine_kv_reserve(hive_engine *e, int32_t seq, uint32_t len, hive_error **err);
/* Drop one hold on page p; the last returns it to its tier's free list. */
void hive_engine_page_unref(hive_engine *e, int32_t p);
/* --kv-tail: after a pass, seq's pages wholly older than its last kv_tail
 * tokens that it alone holds move to the store tier (op_kv_migrate). */
hive_status hive_engine_kv_migrate(hive_engine *e, int32_t seq, hive_error **err);
/* rope.c: the tables; hive_engine_rope_plan once per pass (before the
 * layers), hive_engine_rope to rotate q or k rows. */
hive_status hive_engine_rope_init(hive_engine *e, hive_error **err);
void hive_engine_rope_free(hive_engine *e);
int hive_rope_by_length(const hive_hparams *hp);
/* inv_freq[rot_dims / 2] for a sequence that reaches seq_len (0: at load);
 * returns the cos/sin scale. */
float hive_rope_compute(const hive_hparams *hp, uint32_t seq_len, float *inv_freq);
void hive_engine_rope_plan(hive_engine *e, const hive_batch *b);
hive_status hive_engine_rope(hive_engine *e, const hive_tensor *x, uint32_t n_heads, const hive_batch *b,
                             hive_error **err);
/* rows of a GGUF llama q (n_head = n_heads) or k (n_head = n_kv_heads) weight
 * back in Hugging Face order; row_bytes per row. */
void hive_unpermute_qk_rows(const void *src, void *dst, uint32_t n_head, uint32_t head_dim, uint64_t row_bytes);
hive_status hive_engine_adapters_init(hive_engine *e, const hive_model_files *m, hive_error **err);
void hive_engine_adapters_free(hive_engine *e);
/* y = W x + b at (layer, module), with the hooks of the chunk's adapter sets;
 * residual: y += that instead. */
hive_status hive_engine_linear(hive_engine *e, uint32_t layer, uint32_t module, const hive_tensor *x, hive_weight *w,
                               hive_weight *bias, const hive_tensor *y, int residual, hive_error **err);
/* hive_engine_linear for a weight whose output columns the engine keeps in
 * another order than the model file (latent attention's q): the hooks see
 * the file's order. runs[3 i .. 3 i + 2] = {file column, engine column,
 * width}, covering y. */
hive_status hive_engine_linear_reordered(hive_engine *e, uint32_t layer, uint32_t module, const hive_tensor *x,
                                         hive_weight *w, const hive_tensor *y, const int64_t *runs, uint32_t n_runs,
                                         hive_error **err);
/* An adapter's hooks_at row stride (hive_adapter_desc.hooks_stride, 1.10). */
uint32_t hive_engine_hooks_stride(const hive_adapter_ref *r);
/* Rows of the chunk with tokens == NULL take embeddings from an adapter. */
hive_status hive_engine_forward_rows(hive_engine *e, const int32_t *tokens, const hive_adapter_ref *embed_from,
                                     const int32_t *seqs, const uint8_t *want, uint32_t n, float *logits,
                                     int32_t *argmax, uint32_t *n_logits, hive_error **err);
/* Embeddings and every layer for n rows, leaving the last hidden state in act.x. */
hive_status hive_engine_run_layers(hive_engine *e, const int32_t *tokens, const hive_adapter_ref *embed_from,
                                   uint32_t n, const hive_batch *batch, hive_error **err);
/* ids[r] = argmax of row r of lg (op_argmax, or on the host via host_rows). */
hive_status hive_engine_argmax_rows(hive_engine *e, const hive_tensor *lg, float *host_rows, int32_t *ids,
                                    hive_error **err);

/* graph.c. probe: before the KV cache is sized (padding needs a page). */
void hive_engine_graphs_probe(hive_engine *e);
hive_status hive_engine_graphs_init(hive_engine *e, hive_error **err);
void hive_engine_graphs_free(hive_engine *e);
/* Drop every captured graph (weights were replaced). */
void hive_engine_graphs_flush(hive_engine *e);
/* A decode step of n rows, one per sequence (row i = local sequence i), all
 * wanted, with positions and block tables prepared: replays (or captures)
 * its graph and writes logits or argmax ids. *ran = 0: run it eagerly. */
hive_status hive_engine_graph_step(hive_engine *e, const int32_t *tokens, uint32_t n, float *logits, int32_t *argmax,
                                   int *ran, hive_error **err);

/* ssm.c: Mamba2 layers. init after the weights (sizes the state buffers);
 * reset zeroes a sequence's state (a new or emptied sequence). */
hive_status hive_engine_ssm_init(hive_engine *e, hive_error **err);
void hive_engine_ssm_free(hive_engine *e);
hive_status hive_engine_ssm_reset(hive_engine *e, int32_t seq, hive_error **err);
hive_status hive_engine_ssm_block(hive_engine *e, uint32_t l, uint32_t n, const hive_batch *batch, hive_error **err);

/* mla.c: a multi-head latent attention block (attention_block's place). */
hive_status hive_engine_mla_block(hive_engine *e, uint32_t l, uint32_t n, const hive_batch *batch, hive_error **err);
hive_status hive_engine_mla_init(hive_engine *e, hive_error **err);
void hive_engine_mla_free(hive_engine *e);
/* mla_adapt.c: a set's per-head W_kb^T and W_vb with its kv_b_proj deltas
 * (derived once, kept for MLA_MAX_SETS sets); find returns NULL for a set
 * without such hooks; set_weight: NULL where the layer has none. */
hive_status hive_engine_mla_set_prepare(hive_engine *e, const hive_adapter_set *set, hive_error **err);
const mla_set_weights *hive_engine_mla_set_find(hive_engine *e, const hive_adapter_set *set);
hive_weight *hive_engine_mla_set_weight(const mla_set_weights *w, uint32_t layer, uint32_t head, int value,
                                        uint32_t n_heads);
void hive_engine_mla_sets_drop(hive_engine *e);

/* soft_prompt.c. attach: seq (empty, set attached) gets the virtual rows of
 * embed, shared from the set's template or prefilled (making one).
 * free_pages: drop the least recently used template whose pages only it
 * holds; 0 when none. capture: see sp_capture. */
hive_status hive_engine_soft_prompt_attach(hive_engine *e, int32_t seq, const hive_adapter_set *set,
                                           const hive_adapter_ref *embed, hive_error **err);
int hive_engine_soft_prompts_free_pages(hive_engine *e);
hive_status hive_engine_soft_prompt_capture(hive_engine *e, uint32_t kv_layer, const hive_tensor *k,
                                            const hive_tensor *v, hive_error **err);

/* tensor view helper */
static inline hive_tensor hive_t(hive_buffer *buf, uint64_t offset, int64_t rows, int64_t cols) {
    hive_tensor t = {sizeof(hive_tensor), HIVE_DTYPE_F32, buf, offset, rows, cols, cols};
    return t;
}
/* columns [col0, col0 + cols) of t, same rows */
static inline hive_tensor hive_cols(const hive_tensor *t, int64_t col0, int64_t cols) {
    hive_tensor c = *t;
    c.offset += (uint64_t)col0 * sizeof(float);
    c.cols = cols;
    return c;
}

/* Module id k of routed expert ex (see HIVE_EXPERT_*). */
static inline uint32_t hive_xmod_expert(const hive_engine *e, uint32_t ex, uint32_t k) {
    return HIVE_XMOD_COUNT + e->exp_per * ex + k;
}

/* One matmul for modules that read the same x, stacked by rows in w (q/k/v or
 * gate/up): out is [n, sum of their widths] and module i's output is its
 * columns, in order; hooks run per module on those column views. */

hive_status hive_engine_linear_group(hive_engine *e, uint32_t layer, const uint32_t *modules, int n_mod,
                                     const hive_tensor *x, hive_weight *w, hive_weight *bias, const hive_tensor *out,
                                     hive_error **err);

#endif
