/* `hive-host info`: what a model is, without loading it onto a device. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "model/model.h"
#include "util/dtype.h"
#include "util/error.h"


/* Does the command line or the config set any RoPE parameter? */
static int rope_overridden(const hive_config *cfg) {
    return hive_config_str(cfg, "rope.scaling")[0] || hive_config_float(cfg, "rope.scale") > 0 ||
           hive_config_float(cfg, "rope.freq_base") > 0 || hive_config_int(cfg, "rope.yarn_orig_ctx") > 0;
}
static void count_dtype(uint64_t *counts, const hive_tensor_view *v) {
    if (v->data && v->dtype < HIVE_DTYPE_COUNT) counts[v->dtype]++;
}

static uint64_t view_elems(const hive_tensor_view *v) {
    uint64_t n = v->data ? 1 : 0;
    for (uint32_t i = 0; v->data && i < v->n_dims; i++) n *= (uint64_t)v->shape[i];
    return n;
}

/* Routed experts: how many layers route, and the experts' share of the
 * weights (stored bytes and parameters; per token only top-k of them run). */
typedef struct expert_totals {
    uint32_t moe_layers;
    uint64_t bytes, params, active_params;
} expert_totals;

static expert_totals count_experts(const hive_model_files *m, uint64_t *counts) {
    expert_totals t = {0};
    const hive_hparams *hp = &m->hp;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        const hive_layer_tensors *lt = &m->layers[l];
        if (!lt->moe_router.data) continue;
        t.moe_layers++;
        const hive_tensor_view *shared[4] = {&lt->moe_shared_gate, &lt->moe_shared_up, &lt->moe_shared_down,
                                             &lt->moe_shared_gate_inp};
        for (int k = 0; k < 4; k++) count_dtype(counts, shared[k]);
        for (uint32_t x = 0; x < hp->n_experts; x++) {
            const hive_tensor_view *v[3] = {&lt->moe_gate[x], &lt->moe_up[x], &lt->moe_down[x]};
            for (int k = 0; k < 3; k++) {
                count_dtype(counts, v[k]);
                t.bytes += v[k]->nbytes;
                t.params += view_elems(v[k]);
            }
        }
    }
    t.active_params = hp->n_experts ? t.params / hp->n_experts * hp->n_experts_used : 0;
    return t;
}

/* "moe" or "mlp" per layer, in order */
static void layer_kinds(const hive_model_files *m, char *out, size_t cap) {
    size_t k = 0;
    out[0] = '\0';
    for (uint32_t l = 0; l < m->hp.n_layers && k + 8 < cap; l++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", l ? " " : "", m->layers[l].moe_router.data ? "moe" : "mlp");
}

int hive_cmd_info(hive_cli *cli) {
    const char *path = hive_config_str(cli->cfg, "model.path");
    if (!*path && cli->n_positional) path = cli->positional[0];
    if (!*path) {
        fprintf(stderr, "hive-host info: --model PATH is required\n");
        return 2;
    }
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    if (hive_model_open(path, &m, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s: %s\n", path, hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    const hive_hparams *hp = &m->hp;
    uint64_t counts[HIVE_DTYPE_COUNT] = {0};
    count_dtype(counts, &m->tok_embd);
    count_dtype(counts, &m->output_norm);
    if (!hp->tied_embeddings) count_dtype(counts, &m->output);
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        const hive_tensor_view *all = &m->layers[l].attn_norm;
        /* the views up to the router; the experts' arrays follow */
        size_t nv = offsetof(hive_layer_tensors, moe_gate) / sizeof(hive_tensor_view);
        for (size_t i = 0; i < nv; i++) count_dtype(counts, &all[i]);
        /* the Mamba2 and latent-attention views, declared last (the shared
         * expert's are counted with the experts) */
        const hive_tensor_view *tail = &m->layers[l].ssm_in;
        size_t nt = (sizeof(hive_layer_tensors) - offsetof(hive_layer_tensors, ssm_in)) / sizeof(hive_tensor_view);
        for (size_t i = 0; i < nt; i++) count_dtype(counts, &tail[i]);
    }
    expert_totals ex = count_experts(m, counts);
    char kinds[4096];
    layer_kinds(m, kinds, sizeof kinds);
    uint64_t ctx = (uint64_t)hive_config_int(cli->cfg, "model.ctx");
    const char *kv_name = hive_config_str(cli->cfg, "model.kv_dtype");
    uint32_t kv_k, kv_v;
    char kv_why[160];
    if (hive_engine_kv_dtypes_parse(kv_name, &kv_k, &kv_v, kv_why, sizeof kv_why))
        kv_k = kv_v = HIVE_DTYPE_F16, kv_name = "f16"; /* generate/serve refuse it; info shows the default */
    char kv_types[32]; /* "K,V" as the cache holds them */
    snprintf(kv_types, sizeof kv_types, "%s,%s", hive_dtype_name(kv_k), hive_dtype_name(kv_v));
    if (kv_k == kv_v) snprintf(kv_types, sizeof kv_types, "%s", hive_dtype_name(kv_k));
    kv_name = kv_types;
    uint64_t kv_bytes = hp->n_attn_layers * ctx * hive_engine_kv_token_bytes(kv_k, kv_v, hp->n_kv_heads, hp->head_dim);
    uint32_t n_blazr_mla = 0; /* blazr's latent-attention layers cache one [c_kv | rope key] row per token */
    for (uint32_t l = 0; hp->arch == HIVE_ARCH_BLAZR && l < hp->n_layers; l++) n_blazr_mla += m->layers[l].mla_kr.data != NULL;
    if (n_blazr_mla)
        kv_bytes = (hp->n_attn_layers - n_blazr_mla) * ctx * hive_engine_kv_token_bytes(kv_k, kv_v, hp->n_kv_heads, hp->head_dim) +
                   n_blazr_mla * ctx * hive_engine_kv_token_bytes(kv_k, kv_v, 1, hp->mla_kv_rank + hp->mla_rope);
    /* --kv-tail: f16 tail pages + store pages, as the engine sizes them for one sequence (kv_types.c) */
    uint32_t kv_tail = (uint32_t)hive_config_int(cli->cfg, "model.kv_tail"), tail_pages = 0, store_pages = 0;
    uint64_t kv_tail_bytes = 0, kv_store_bytes = 0;
    char kv_tiers[96];
    int store_ok = (kv_k == HIVE_DTYPE_Q8_0 || kv_k == HIVE_DTYPE_Q4_0) && (kv_v == HIVE_DTYPE_Q8_0 || kv_v == HIVE_DTYPE_Q4_0);
    if (kv_tail && store_ok && !n_blazr_mla) { /* (generate refuses other store types: info shows one tier) */
        uint32_t block = (uint32_t)hive_config_int(cli->cfg, "model.kv_block");
        hive_engine_kv_tier_pages((uint32_t)ctx, block, (uint32_t)hive_config_int(cli->cfg, "model.batch"), 1, kv_tail,
                                  &tail_pages, &store_pages);
        kv_tail_bytes = hp->n_attn_layers * (uint64_t)tail_pages * block *
                        hive_engine_kv_token_bytes(HIVE_DTYPE_F16, HIVE_DTYPE_F16, hp->n_kv_heads, hp->head_dim);
        kv_store_bytes = hp->n_attn_layers * (uint64_t)store_pages * block *
                         hive_engine_kv_token_bytes(kv_k, kv_v, hp->n_kv_heads, hp->head_dim);
        kv_bytes = kv_tail_bytes + kv_store_bytes;
        snprintf(kv_tiers, sizeof kv_tiers, "f16 tail %u: %.1f MiB + %s store: %.1f MiB", kv_tail,
                 kv_tail_bytes / 1048576.0, kv_types, kv_store_bytes / 1048576.0);
        kv_name = kv_tiers;
    }
    /* Mamba2: a fixed state per sequence and layer (conv window + SSM state, f32), whatever the context */
    uint32_t n_ssm = hp->n_layers - hp->n_attn_layers; /* Mamba2 layers */
    int pure_ssm = hp->ssm_heads && !hp->n_attn_layers;
    uint64_t ssm_state_bytes = hp->ssm_heads ? 4ull * n_ssm *
                                                   (((uint64_t)hp->ssm_inner + 2ull * hp->ssm_groups * hp->ssm_state) *
                                                        (hp->ssm_conv - 1) +
                                                    (uint64_t)hp->ssm_inner * hp->ssm_state)
                                             : 0;
    char mla[128];
    snprintf(mla, sizeof mla, "latent attention(MLA: %u heads, cache of latent %u + rope key %u%s)", hp->n_heads,
             hp->mla_kv_rank, hp->mla_rope, hp->mla_q_rank ? ", query latent" : "");
    const char *attention = hp->mla_kv_rank ? mla
                            : hp->qk_norm ? "attention(GQA, q/k RMSNorm)"
                            : hp->qkv_bias ? "attention(GQA, q/k/v bias)"
                                           : "attention(GQA)";
    char layer_type[256], mamba[128];
    snprintf(mamba, sizeof mamba, "Mamba2 mixer (%u heads x %u, %u groups, state %u, conv kernel %u, inner %u)",
             hp->ssm_heads, hp->ssm_head_dim, hp->ssm_groups, hp->ssm_state, hp->ssm_conv, hp->ssm_inner);
    if (hp->arch == HIVE_ARCH_BLAZR) /* its types are listed per layer */
        snprintf(layer_type, sizeof layer_type, "blazr layers (Mamba2, MLA + MoE, MLA + MLP, GQA + MLP)");
    else if (pure_ssm)
        snprintf(layer_type, sizeof layer_type, "%s", mamba);
    else if (hp->ssm_heads) /* a hybrid: the per-layer list follows */
        snprintf(layer_type, sizeof layer_type, "(%s or %s) + SwiGLU MLP", attention, "Mamba2 mixer");
    else
        snprintf(layer_type, sizeof layer_type, "%s + %s", attention,
             !hp->n_experts ? "SwiGLU MLP"
             : hp->moe_shared_ffn ? "SwiGLU MLP or routed SwiGLU experts with a shared expert"
                                  : "SwiGLU MLP or routed SwiGLU experts");
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "format", m->is_gguf ? "gguf" : "safetensors");
        cJSON_AddStringToObject(o, "name", hp->name);
        cJSON_AddStringToObject(o, "architecture", hp->arch_name);
        cJSON_AddNumberToObject(o, "layers", hp->n_layers);
        cJSON_AddStringToObject(o, "layer_type", layer_type);
        if (hp->arch == HIVE_ARCH_BLAZR) {
            cJSON *types = cJSON_AddArrayToObject(o, "layer_types");
            for (uint32_t l = 0; l < hp->n_layers; l++)
                cJSON_AddItemToArray(types, cJSON_CreateString(hive_model_blazr_layer_type(m, l)));
        }
        cJSON_AddNumberToObject(o, "hidden", hp->hidden);
        cJSON_AddNumberToObject(o, "heads", hp->n_heads);
        cJSON_AddNumberToObject(o, "kv_heads", hp->n_kv_heads);
        cJSON_AddNumberToObject(o, "head_dim", hp->head_dim);
        cJSON_AddNumberToObject(o, "ffn", hp->ffn);
        cJSON_AddNumberToObject(o, "vocab", hp->vocab);
        cJSON_AddNumberToObject(o, "context_length", hp->max_ctx);
        cJSON_AddNumberToObject(o, "rope_theta", hp->rope_theta);
        cJSON_AddStringToObject(o, "rope_scaling", hp->rope_scaling);
        if (rope_overridden(cli->cfg)) {
            cJSON *r = cJSON_AddObjectToObject(o, "rope_override");
            cJSON_AddStringToObject(r, "scaling", hive_config_str(cli->cfg, "rope.scaling"));
            cJSON_AddNumberToObject(r, "factor", hive_config_float(cli->cfg, "rope.scale"));
            cJSON_AddNumberToObject(r, "freq_base", hive_config_float(cli->cfg, "rope.freq_base"));
            cJSON_AddNumberToObject(r, "original_context", (double)hive_config_int(cli->cfg, "rope.yarn_orig_ctx"));
        }
        cJSON_AddNumberToObject(o, "rms_eps", hp->rms_eps);
        cJSON_AddBoolToObject(o, "tied_embeddings", hp->tied_embeddings);
        cJSON_AddNumberToObject(o, "parameters", (double)m->n_params);
        if (hp->n_experts) {
            cJSON *kind = cJSON_AddArrayToObject(o, "feed_forward_per_layer");
            for (uint32_t l = 0; l < hp->n_layers; l++)
                cJSON_AddItemToArray(kind, cJSON_CreateString(m->layers[l].moe_router.data ? "moe" : "mlp"));
            cJSON *e = cJSON_AddObjectToObject(o, "experts");
            cJSON_AddNumberToObject(e, "per_layer", hp->n_experts);
            cJSON_AddNumberToObject(e, "used_per_token", hp->n_experts_used);
            cJSON_AddNumberToObject(e, "ffn", hp->moe_ffn);
            cJSON_AddBoolToObject(e, "renormalise_top_k", hp->moe_norm_topk);
            cJSON_AddNumberToObject(e, "shared_expert_ffn", hp->moe_shared_ffn);
            cJSON_AddNumberToObject(e, "moe_layers", ex.moe_layers);
            cJSON_AddNumberToObject(e, "parameters", (double)ex.params);
            cJSON_AddNumberToObject(e, "active_parameters_per_token", (double)ex.active_params);
            cJSON_AddNumberToObject(e, "bytes", (double)ex.bytes);
        }
        cJSON *dt = cJSON_AddObjectToObject(o, "tensor_dtypes");
        for (uint32_t d = 0; d < HIVE_DTYPE_COUNT; d++)
            if (counts[d]) cJSON_AddNumberToObject(dt, hive_dtype_name(d), (double)counts[d]);
        cJSON *mem = cJSON_AddObjectToObject(o, "memory");
        cJSON_AddNumberToObject(mem, "weights_bytes", (double)m->weight_bytes);
        cJSON_AddNumberToObject(mem, "kv_bytes", (double)kv_bytes);
        cJSON_AddNumberToObject(mem, "ctx", (double)ctx);
        cJSON_AddStringToObject(mem, "kv_dtype", kv_types);
        cJSON_AddStringToObject(mem, "kv_k_dtype", hive_dtype_name(kv_k));
        cJSON_AddStringToObject(mem, "kv_v_dtype", hive_dtype_name(kv_v));
        if (kv_tail_bytes) { /* two tiers: the f16 tail's pages and the store's */
            cJSON_AddNumberToObject(mem, "kv_tail", kv_tail);
            cJSON_AddNumberToObject(mem, "kv_tail_bytes", (double)kv_tail_bytes);
            cJSON_AddNumberToObject(mem, "kv_store_bytes", (double)kv_store_bytes);
        }
        cJSON_AddNumberToObject(mem, "ssm_state_bytes_per_sequence", (double)ssm_state_bytes);
        cJSON_AddNumberToObject(mem, "total_bytes", (double)(m->weight_bytes + kv_bytes + ssm_state_bytes));
        char *txt = cJSON_Print(o);
        printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("model:          %s (%s)\n", path, m->is_gguf ? "gguf" : "safetensors");
        printf("name:           %s\narchitecture:   %s\n", hp->name, hp->arch_name);
        printf("layers:         %u x %s\n", hp->n_layers, layer_type);
        if (hp->arch == HIVE_ARCH_BLAZR) {
            printf("layer types:   ");
            for (uint32_t l = 0; l < hp->n_layers; l++) printf(" %s", hive_model_blazr_layer_type(m, l));
            printf("\n");
            if (hp->mla_kv_rank) printf("latent attn:    %s\n", mla);
        }
        if (hp->ssm_heads && !pure_ssm) {
            printf("mixers:        ");
            for (uint32_t l = 0; l < hp->n_layers; l++) printf(" %s", m->layers[l].ssm_in.data ? "mamba2" : "attention");
            printf("\nmamba2:         %s\n", mamba);
        }
        if (pure_ssm)
            printf("hidden:         %u\n", hp->hidden);
        else
            printf("hidden:         %u, heads %u, kv heads %u, head dim %u, ffn %u\n", hp->hidden, hp->n_heads,
                   hp->n_kv_heads, hp->head_dim, hp->ffn);
        printf("vocab:          %u%s\n", hp->vocab, hp->tied_embeddings ? " (tied input/output embeddings)" : "");
        if (pure_ssm)
            printf("context:        no positions (a recurrent state); rms eps %g\n", hp->rms_eps);
        else
            printf("context:        %u trained; rope theta %g, scaling %s; rms eps %g\n", hp->max_ctx, hp->rope_theta,
                   hp->rope_scaling, hp->rms_eps);
        if (!pure_ssm && rope_overridden(cli->cfg)) { /* what --rope-* / rope.* will run instead (0: the model's) */
            const char *rs = hive_config_str(cli->cfg, "rope.scaling");
            printf("rope override:  scaling %s, factor %g, theta %g, original context %lld (0: the model's)\n",
                   rs[0] ? rs : hp->rope_scaling, hive_config_float(cli->cfg, "rope.scale"),
                   hive_config_float(cli->cfg, "rope.freq_base"), (long long)hive_config_int(cli->cfg, "rope.yarn_orig_ctx"));
        }
        if (hp->n_experts) {
            printf("feed-forward:   %s\n", kinds);
            printf("experts:        %u per MoE layer (%u layers), top %u%s, expert ffn %u; %.1f M parameters, "
                   "%.1f MiB (%.1f M run per token)\n",
                   hp->n_experts, ex.moe_layers, hp->n_experts_used, hp->moe_norm_topk ? " renormalised" : "",
                   hp->moe_ffn, ex.params / 1e6, ex.bytes / 1048576.0, ex.active_params / 1e6);
            if (hp->moe_groups)
                printf("routing:        top %u within the best %u of %u expert groups, weights x %g\n", hp->n_experts_used,
                       hp->moe_topk_groups, hp->moe_groups, hp->moe_scale);
            else if (hp->moe_scale > 0 && hp->moe_scale != 1.0f)
                printf("routing:        weights x %g\n", hp->moe_scale);
            if (hp->moe_shared_ffn)
                printf("shared expert:  ffn %u, %s, in every MoE layer\n", hp->moe_shared_ffn,
                       hp->arch == HIVE_ARCH_QWEN2_MOE ? "sigmoid-gated" : "always added");
        }
        printf("parameters:     %.1f M\ntensor dtypes: ", m->n_params / 1e6);
        for (uint32_t d = 0; d < HIVE_DTYPE_COUNT; d++)
            if (counts[d]) printf(" %s x %llu", hive_dtype_name(d), (unsigned long long)counts[d]);
        if (pure_ssm)
            printf("\nmemory:         %.1f MiB weights + %.1f KiB Mamba2 state per sequence (any context; no KV cache)\n",
                   m->weight_bytes / 1048576.0, ssm_state_bytes / 1024.0);
        else if (hp->ssm_heads)
            printf("\nmemory:         %.1f MiB weights + %.1f MiB KV cache (%s, ctx %llu, %u attention layers) + %.1f KiB "
                   "Mamba2 state per sequence\n",
                   m->weight_bytes / 1048576.0, kv_bytes / 1048576.0, kv_name, (unsigned long long)ctx, hp->n_attn_layers,
                   ssm_state_bytes / 1024.0);
        else
            printf("\nmemory:         %.1f MiB weights + %.1f MiB KV cache (%s, ctx %llu) = %.1f MiB\n",
                   m->weight_bytes / 1048576.0, kv_bytes / 1048576.0, kv_name, (unsigned long long)ctx,
                   (m->weight_bytes + kv_bytes) / 1048576.0);
    }
    hive_model_close(m);
    return 0;
}
