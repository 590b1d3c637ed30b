/* What `hive-host experts inspect` shows: a package's manifest as text or
 * JSON, with each adapter's tensor count and bytes from its safetensors header. */
#ifndef HIVE_EXPERTS_DESCRIBE_H
#define HIVE_EXPERTS_DESCRIBE_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include "experts/manifest.h"
#include "experts/package.h"

cJSON *hive_expert_describe_json(const hive_expert_pkg *pkg, const hive_manifest *m, const hive_problems *probs);
void hive_expert_describe_text(const hive_expert_pkg *pkg, const hive_manifest *m, const hive_problems *probs,
                               FILE *out);

#endif
