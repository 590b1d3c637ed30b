/* Manifest decoding defaults into the configuration (see decoding.h). */
#include "experts/decoding.h"

#include "util/error.h"

hive_status hive_manifest_apply_decoding(const hive_manifest *m, hive_config *cfg, hive_error **err) {
    for (size_t i = 0; i < m->n_decoding; i++) {
        const hive_manifest_setting *s = &m->decoding[i];
        hive_status st = hive_config_set_if_lower(cfg, s->key, s->value, HIVE_SRC_MANIFEST, m->file, err);
        if (st != HIVE_OK) {
            if (err) hive_error_prefix(*err, "%s: %s", m->file, s->field);
            return st;
        }
    }
    return HIVE_OK;
}
