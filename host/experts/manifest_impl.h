/* Internal to the manifest files: JSON helpers and the per-part parsers. */
#ifndef HIVE_EXPERTS_MANIFEST_IMPL_H
#define HIVE_EXPERTS_MANIFEST_IMPL_H

#include <cjson/cJSON.h>
#include "experts/manifest.h"

/* Reads a whole text file (at most max bytes) into a NUL-terminated buffer. */
hive_status hive_read_text_file(const char *path, size_t max, char **out, hive_error **err);
int hive_strv_push(hive_strv *v, const char *s);
void hive_strv_free(hive_strv *v);
/* A JSON array of strings into v; problems name `field` (-1 on a problem). */
int hive_json_strv(const hive_manifest *m, const cJSON *arr, const char *field, hive_strv *v, hive_problems *p);
void hive_manifest_ignore(hive_manifest *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON number that is a whole number of at most 2^53 in magnitude (so the
 * conversion is exact and defined) into *out; 0 for anything else. */
int hive_json_whole(const cJSON *j, int64_t *out);

/* Parses an already-read manifest (m zeroed by the caller); `file` names it in
 * messages. hive_manifest_load's second half, shared with PEFT directories. */
void hive_manifest_from_json(const char *dir, const char *file, const cJSON *root, hive_manifest *m, hive_problems *p);
/* A plain PEFT directory's manifest, synthesized from its adapter_config.json
 * (peft_dir.c); hive_manifest_load calls it when `file` is that file. */
hive_status hive_peft_manifest_load(const char *dir, const char *config, hive_manifest *m, hive_problems *p,
                                    hive_error **err);

/* training.decoding's fields naming files in the package: grammar, draft corpus (manifest_files.c). */
int hive_manifest_is_file_field(const char *field);
void hive_manifest_parse_files(hive_manifest *m, const cJSON *dec, hive_problems *p);

/* Parses one adapter entry (`field` = "base_models[0].adapters[1]"). */
void hive_manifest_parse_adapter(hive_manifest *m, const cJSON *j, const char *field, hive_manifest_adapter *a,
                                 hive_problems *p);
void hive_manifest_adapter_free(hive_manifest_adapter *a);
/* training.decoding, routing, constraints, runtime and the ignored top-level fields. */
void hive_manifest_parse_extras(hive_manifest *m, const cJSON *root, hive_problems *p);

#endif
