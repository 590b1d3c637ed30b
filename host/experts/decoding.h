/* A manifest's training.decoding as configuration defaults: each value is set
 * with source HIVE_SRC_MANIFEST (origin = the manifest's path) only where the
 * key's current source is lower (default or config file), so command-line
 * values win. With several experts, call this in expert order: the first
 * expert that sets a key wins (its value now has the manifest source). */
#ifndef HIVE_EXPERTS_DECODING_H
#define HIVE_EXPERTS_DECODING_H

#include "config/config.h"
#include "experts/manifest.h"

/* temperature -> sampling.temperature, top_p, top_k, min_p,
 * repetition_penalty, presence_penalty, frequency_penalty, max_tokens (or
 * max_new_tokens) -> sampling.max_tokens, stop_sequences -> sampling.stop. */
hive_status hive_manifest_apply_decoding(const hive_manifest *m, hive_config *cfg, hive_error **err);

#endif
