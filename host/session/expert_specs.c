/* experts.paths entries as (path, weight) pairs: "PATH" or "PATH:W"
 * (experts/weight.h has the rule for paths that contain ':'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experts/weight.h"
#include "session/session.h"
#include "util/error.h"

int hive_session_expert_specs(const hive_config *cfg, hive_expert_specs *out) {
    memset(out, 0, sizeof *out);
    size_t n = hive_config_list_len(cfg, "experts.paths");
    if (n > HIVE_MAX_ADAPTERS_PER_SET) {
        fprintf(stderr, "hive-host: %zu experts given; at most %d can be active together\n", n, HIVE_MAX_ADAPTERS_PER_SET);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        const char *spec = hive_config_list_item(cfg, "experts.paths", i);
        size_t cap = strlen(spec) + 1;
        hive_error *err = NULL;
        if (!(out->paths[i] = malloc(cap))) {
            fprintf(stderr, "hive-host: out of memory\n");
            hive_expert_specs_free(out);
            return 1;
        }
        out->n++;
        if (hive_expert_spec_parse(spec, out->paths[i], cap, &out->weights[i], &err) != HIVE_OK) {
            fprintf(stderr, "hive-host: --expert: %s\n", hive_error_message(err));
            hive_error_free(err);
            hive_expert_specs_free(out);
            return 2;
        }
    }
    return 0;
}

int hive_expert_specs_weighted(const hive_expert_specs *s) {
    for (size_t i = 0; i < s->n; i++)
        if (s->weights[i] != 1.0) return 1;
    return 0;
}

void hive_expert_specs_free(hive_expert_specs *s) {
    for (size_t i = 0; i < s->n; i++) free(s->paths[i]);
    memset(s, 0, sizeof *s);
}
