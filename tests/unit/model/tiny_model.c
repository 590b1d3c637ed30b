#include "tiny_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_writers.h"

tiny_cfg tiny_default(const char *arch) {
    tiny_cfg c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.layers = 2;
    c.hidden = 64;
    c.heads = 4;
    c.kv_heads = 2;
    c.head_dim = 16;
    c.ffn = 128;
    c.vocab = 96;
    c.bias = strcmp(arch, "qwen2") == 0;
    c.qk_norm = strcmp(arch, "qwen3") == 0;
    if (c.qk_norm) c.head_dim = 32; /* differs from hidden / heads on purpose */
    c.shards = 1;
    return c;
}

typedef struct {
    char hf[128], gguf[128];
    uint32_t n_dims;
    int64_t shape[2];
    int matrix; /* quantized in GGUF, bf16 in HF */
} tiny_tensor;

static int add(tiny_tensor *t, int n, const char *hf, const char *gguf, int64_t rows, int64_t cols) {
    snprintf(t[n].hf, sizeof t[n].hf, "%s", hf);
    snprintf(t[n].gguf, sizeof t[n].gguf, "%s", gguf);
    t[n].n_dims = cols ? 2 : 1;
    t[n].shape[0] = rows;
    t[n].shape[1] = cols;
    t[n].matrix = cols != 0;
    return n + 1;
}

/* The tensor list, names in both conventions. */
static int tiny_tensors(const tiny_cfg *c, tiny_tensor *t) {
    int n = 0;
    int64_t h = c->hidden, q = (int64_t)c->heads * c->head_dim, kv = (int64_t)c->kv_heads * c->head_dim;
    n = add(t, n, "model.embed_tokens.weight", "token_embd.weight", c->vocab, h);
    n = add(t, n, "model.norm.weight", "output_norm.weight", h, 0);
    if (c->untied) n = add(t, n, "lm_head.weight", "output.weight", c->vocab, h);
    for (uint32_t l = 0; l < c->layers; l++) {
        char a[128], b[128];
#define L(hfs, ggs, r, cl)                                                   \
    do {                                                                     \
        snprintf(a, sizeof a, "model.layers.%u.%s", l, hfs);                 \
        snprintf(b, sizeof b, "blk.%u.%s", l, ggs);                          \
        n = add(t, n, a, b, r, cl);                                          \
    } while (0)
        L("input_layernorm.weight", "attn_norm.weight", h, 0);
        L("self_attn.q_proj.weight", "attn_q.weight", q, h);
        L("self_attn.k_proj.weight", "attn_k.weight", kv, h);
        L("self_attn.v_proj.weight", "attn_v.weight", kv, h);
        L("self_attn.o_proj.weight", "attn_output.weight", h, q);
        if (c->bias) {
            L("self_attn.q_proj.bias", "attn_q.bias", q, 0);
            L("self_attn.k_proj.bias", "attn_k.bias", kv, 0);
            L("self_attn.v_proj.bias", "attn_v.bias", kv, 0);
        }
        if (c->qk_norm) {
            L("self_attn.q_norm.weight", "attn_q_norm.weight", c->head_dim, 0);
            L("self_attn.k_norm.weight", "attn_k_norm.weight", c->head_dim, 0);
        }
        L("post_attention_layernorm.weight", "ffn_norm.weight", h, 0);
        L("mlp.gate_proj.weight", "ffn_gate.weight", c->ffn, h);
        L("mlp.up_proj.weight", "ffn_up.weight", c->ffn, h);
        L("mlp.down_proj.weight", "ffn_down.weight", h, c->ffn);
#undef L
    }
    return n;
}

/* Applies skip / bad_shape; 0 = leave the tensor out. */
static int adjust(const tiny_cfg *c, tiny_tensor *t, const char *name) {
    if (c->skip && strcmp(c->skip, name) == 0) return 0;
    if (c->bad && strcmp(c->bad, name) == 0) {
        t->shape[0] = c->bad_shape[0];
        t->shape[1] = c->bad_shape[1];
        t->n_dims = c->bad_shape[1] ? 2 : 1;
    }
    return 1;
}

static int64_t elems(const tiny_tensor *t) { return t->n_dims == 2 ? t->shape[0] * t->shape[1] : t->shape[0]; }

int tiny_write_hf(const char *dir, const tiny_cfg *c) {
    char path[4096], cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"%s\": \"%s\", \"hidden_size\": %u, \"num_hidden_layers\": %u, \"num_attention_heads\": %u,"
             " \"num_key_value_heads\": %u, \"head_dim\": %u, \"intermediate_size\": %u, \"vocab_size\": %u,"
             " \"tie_word_embeddings\": %s%s%s}",
             c->omit_model_type ? "not_model_type" : "model_type", c->model_type ? c->model_type : c->arch, c->hidden, c->layers, c->heads, c->kv_heads, c->head_dim, c->ffn,
             c->vocab, c->untied ? "false" : "true", c->config_extra ? ", " : "", c->config_extra ? c->config_extra : "");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (write_text(path, cfg)) return -1;
    tiny_tensor *t = calloc(64 + 20 * (size_t)c->layers, sizeof *t);
    int n = tiny_tensors(c, t);
    st_w w[2];
    sw_init(&w[0]);
    sw_init(&w[1]);
    tbuf index = {0};
    const char *head = "{\"metadata\": {}, \"weight_map\": {";
    tb_put(&index, head, strlen(head));
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!adjust(c, &t[i], t[i].hf)) continue;
        int s = c->shards > 1 ? i % 2 : 0;
        size_t nbytes = (size_t)elems(&t[i]) * (t[i].matrix ? 2 : 4);
        uint8_t *data = calloc(1, nbytes ? nbytes : 1);
        for (size_t k = 0; k < nbytes; k++) data[k] = (uint8_t)(k * 31 + (size_t)i);
        sw_tensor(&w[s], t[i].hf, t[i].matrix ? (i == 0 ? "F16" : "BF16") : "F32", t[i].n_dims, t[i].shape, data, nbytes);
        free(data);
        char e[256];
        int k = snprintf(e, sizeof e, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", first ? "" : ", ", t[i].hf, s + 1);
        tb_put(&index, e, (size_t)k);
        first = 0;
    }
    tb_put(&index, "}}", 3); /* includes the NUL */
    int rc = 0;
    for (int s = 0; s < 2; s++) {
        tbuf b;
        sw_finish(&w[s], &b);
        if (c->shards > 1)
            snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, s + 1);
        else
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (c->shards > 1 || s == 0) rc |= write_file(path, b.p, b.len);
        tb_free(&b);
    }
    if (c->shards > 1) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        rc |= write_text(path, (const char *)index.p);
    }
    tb_free(&index);
    free(t);
    return rc;
}

int tiny_write_gguf(const char *path, const tiny_cfg *c, int with_tokenizer) {
    gguf_w w;
    gw_init(&w, 32);
    char key[128];
    gw_str(&w, "general.architecture", c->arch);
    gw_str(&w, "general.name", "Tiny Test Model");
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", c->arch, suffix), key)
    if (!c->skip || strcmp(c->skip, "block_count")) gw_u32(&w, K("block_count"), c->layers);
    gw_u32(&w, K("embedding_length"), c->hidden);
    gw_u32(&w, K("feed_forward_length"), c->ffn);
    gw_u32(&w, K("attention.head_count"), c->heads);
    gw_u32(&w, K("attention.head_count_kv"), c->kv_heads);
    if (c->head_dim != c->hidden / c->heads) gw_u32(&w, K("attention.key_length"), c->head_dim);
    gw_u32(&w, K("context_length"), 4096);
    gw_f32(&w, K("rope.freq_base"), 100000.0f);
    gw_f32(&w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
    if (c->gguf_yarn) {
        gw_str(&w, K("rope.scaling.type"), "yarn");
        gw_f32(&w, K("rope.scaling.factor"), 4.0f);
        gw_u32(&w, K("rope.scaling.original_context_length"), 1024);
        gw_f32(&w, K("rope.scaling.yarn_beta_fast"), 16.0f);
        gw_f32(&w, K("rope.scaling.yarn_beta_slow"), 2.0f);
        gw_f32(&w, K("rope.scaling.attn_factor"), 1.5f);
    }
#undef K
    if (with_tokenizer) {
        /* vocab: 4 specials then "t<i>" */
        const char **toks = calloc(c->vocab, sizeof *toks);
        char(*store)[16] = calloc(c->vocab, 16);
        int32_t *types = calloc(c->vocab, sizeof *types);
        const char *specials[4] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"};
        for (uint32_t i = 0; i < c->vocab; i++) {
            if (i < 4) {
                toks[i] = specials[i];
                types[i] = 3;
            } else {
                snprintf(store[i], 16, "t%u", i);
                toks[i] = store[i];
                types[i] = 1;
            }
        }
        const char *merges[2] = {"t 1", "\xc4\xa0 t"};
        gw_str(&w, "tokenizer.ggml.model", "gpt2");
        gw_str(&w, "tokenizer.ggml.pre", "smollm");
        gw_arr_str(&w, "tokenizer.ggml.tokens", toks, c->vocab);
        gw_arr(&w, "tokenizer.ggml.token_type", GT_I32, types, 4, c->vocab);
        gw_arr_str(&w, "tokenizer.ggml.merges", merges, 2);
        gw_u32(&w, "tokenizer.ggml.bos_token_id", 1);
        gw_u32(&w, "tokenizer.ggml.eos_token_id", 2);
        gw_u32(&w, "tokenizer.ggml.unknown_token_id", 3);
        gw_u32(&w, "tokenizer.ggml.padding_token_id", 9999); /* out of range: dropped */
        gw_bool(&w, "tokenizer.ggml.add_bos_token", 1);
        gw_str(&w, "tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
        free(toks);
        free(store);
        free(types);
    }
    tiny_tensor *t = calloc(64 + 20 * (size_t)c->layers, sizeof *t);
    int n = tiny_tensors(c, t);
    for (int i = 0; i < n; i++) {
        if (!adjust(c, &t[i], t[i].gguf)) continue;
        uint32_t type = !t[i].matrix ? 0 : i == 0 ? 8 : 3; /* F32 / Q8_0 / Q4_1 */
        size_t nbytes = type == 0 ? (size_t)elems(&t[i]) * 4 : (size_t)(elems(&t[i]) / 32) * (type == 8 ? 34 : 20);
        uint8_t *data = calloc(1, nbytes ? nbytes : 1);
        gw_tensor(&w, t[i].gguf, type, t[i].n_dims, t[i].shape, data, nbytes);
        free(data);
    }
    free(t);
    tbuf b;
    gw_finish(&w, &b);
    int rc = write_file(path, b.p, b.len);
    tb_free(&b);
    return rc;
}
