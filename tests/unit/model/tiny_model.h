/* Tiny llama / qwen2 / qwen3 checkpoints (HF directory or GGUF) written by
 * the tests, with knobs to leave a tensor out or give one a wrong shape. */
#ifndef HIVE_TEST_TINY_MODEL_H
#define HIVE_TEST_TINY_MODEL_H

#include <stdint.h>

typedef struct tiny_cfg {
    const char *arch;     /* "llama", "qwen2", "qwen3" (any string for GGUF) */
    uint32_t layers, hidden, heads, kv_heads, head_dim, ffn, vocab;
    int untied;           /* write lm_head.weight / output.weight */
    int bias, qk_norm;    /* write q/k/v biases, q/k norms */
    const char *skip;     /* tensor name to leave out */
    const char *bad;      /* tensor name written with bad_shape */
    int64_t bad_shape[2];
    int shards;           /* HF: 2 writes an index + two shard files */
    const char *config_extra; /* HF: appended inside config.json's object */
    const char *model_type;   /* HF: overrides arch in model_type */
    int omit_model_type;      /* HF: no model_type (config_extra gives architectures) */
    int gguf_yarn;            /* GGUF: llama.cpp's rope.scaling.* keys of a YaRN model */
} tiny_cfg;

/* Sensible small defaults for `arch`. */
tiny_cfg tiny_default(const char *arch);
/* 0 on success */
int tiny_write_hf(const char *dir, const tiny_cfg *c);
int tiny_write_gguf(const char *path, const tiny_cfg *c, int with_tokenizer);

#endif
