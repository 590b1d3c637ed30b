/* `hive-host experts pack`: a .expert package (docs/EXPERTS.md) built from a
 * plain PEFT adapter directory: manifest.json (schema 2.0, with the weights'
 * size and sha256), adapter/{adapter_config.json,adapter_model.safetensors}
 * and, when given, a draft corpus, as a deterministic tar.gz (fixed order,
 * mtime 0, owner 0). */
#ifndef HIVE_EXPERTS_PACK_H
#define HIVE_EXPERTS_PACK_H

#include <stddef.h>
#include "experts/problems.h"
#include "hive_abi.h"

typedef struct hive_expert_pack_opts {
    const char *src;                 /* the PEFT directory */
    const char *out;                 /* the .expert to write (replaced atomically) */
    const char *name;                /* NULL: the directory's basename */
    const char *description;         /* NULL: "" */
    const char *const *decoding;     /* "KEY=VALUE" for training.decoding (stop_sequences repeats) */
    size_t n_decoding;
    const char *draft_corpus;        /* NULL: none; else a text file the package carries as draft-corpus.txt
                                      * (training.decoding.draft_corpus) */
} hive_expert_pack_opts;

/* The manifest is checked with the same parser that loads it before anything
 * is written; every problem is listed in probs (then HIVE_E_INVALID). */
hive_status hive_expert_pack(const hive_expert_pack_opts *o, hive_problems *probs, hive_error **err);

#endif
