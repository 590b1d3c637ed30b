/* The manifest's non-adapter sections: training.decoding (-> sampling.*),
 * routing, constraints, runtime hints, and every field Hive ignores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "experts/manifest_impl.h"
#include "util/error.h"

typedef struct decoding_map {
    const char *field, *key;
    int integer;
    const char *full;
} decoding_map;

static const decoding_map k_decoding[] = {
    {"temperature", "sampling.temperature", 0, "training.decoding.temperature"},
    {"top_p", "sampling.top_p", 0, "training.decoding.top_p"},
    {"top_k", "sampling.top_k", 1, "training.decoding.top_k"},
    {"min_p", "sampling.min_p", 0, "training.decoding.min_p"},
    {"repetition_penalty", "sampling.repetition_penalty", 0, "training.decoding.repetition_penalty"},
    {"presence_penalty", "sampling.presence_penalty", 0, "training.decoding.presence_penalty"},
    {"frequency_penalty", "sampling.frequency_penalty", 0, "training.decoding.frequency_penalty"},
    {"max_tokens", "sampling.max_tokens", 1, "training.decoding.max_tokens"},
    {"max_new_tokens", "sampling.max_tokens", 1, "training.decoding.max_new_tokens"},
    {"stop_sequences", "sampling.stop", 0, "training.decoding.stop_sequences"},
};

static const struct {
    const char *field, *why;
} k_decoding_ignored[] = {
    {"grammar", "an inline grammar is not read: use grammar_type with grammar_file (docs/GRAMMAR.md)"},
    {"validation", "output validation is left to the caller"},
};

static void add_setting(hive_manifest *m, const decoding_map *d, const char *value, hive_config *scratch,
                        hive_problems *p) {
    for (size_t i = 0; i < m->n_decoding; i++)
        if (!strcmp(m->decoding[i].key, d->key)) {
            hive_problems_add(p, "%s: %s: sets %s a second time", m->file, d->full, d->key);
            return;
        }
    hive_error *e = NULL;
    if (scratch && hive_config_set(scratch, d->key, value, HIVE_SRC_MANIFEST, m->file, &e) != HIVE_OK) {
        hive_problems_add(p, "%s: %s: %s", m->file, d->full, hive_error_message(e));
        hive_error_free(e);
        return;
    }
    hive_manifest_setting *g = realloc(m->decoding, (m->n_decoding + 1) * sizeof *g);
    if (!g) {
        p->oom = 1;
        return;
    }
    m->decoding = g;
    g[m->n_decoding] = (hive_manifest_setting){d->key, strdup(value), d->full};
    if (!g[m->n_decoding].value) p->oom = 1;
    else m->n_decoding++;
}

static void stop_sequences(hive_manifest *m, const decoding_map *d, const cJSON *v, hive_config *scratch,
                           hive_problems *p) {
    hive_strv seqs = {0};
    if (hive_json_strv(m, v, "training.decoding.stop_sequences", &seqs, p)) {
        hive_strv_free(&seqs);
        return;
    }
    size_t len = 1;
    for (size_t i = 0; i < seqs.n; i++) len += strlen(seqs.v[i]) + 1;
    char *joined = calloc(len, 1);
    if (!joined) p->oom = 1;
    for (size_t i = 0; joined && i < seqs.n; i++) {
        if (!*seqs.v[i]) continue;
        if (strchr(seqs.v[i], ',')) {
            hive_manifest_ignore(m, "training.decoding.stop_sequences[%zu]: contains ',', which the sampling.stop list "
                                 "cannot hold (comma-separated); pass it with --stop instead", i);
            continue;
        }
        if (*joined) strcat(joined, ",");
        strcat(joined, seqs.v[i]);
    }
    if (joined && *joined) add_setting(m, d, joined, scratch, p);
    free(joined);
    hive_strv_free(&seqs);
}

static void decoding(hive_manifest *m, const cJSON *dec, hive_problems *p) {
    if (!dec || cJSON_IsNull(dec)) return;
    if (!cJSON_IsObject(dec)) {
        hive_problems_add(p, "%s: training.decoding: expected an object", m->file);
        return;
    }
    hive_config *scratch = hive_config_new(); /* validates values against the schema's ranges */
    const cJSON *it;
    cJSON_ArrayForEach(it, dec) {
        if (!it->string || it->string[0] == '_' || hive_manifest_is_file_field(it->string)) continue;
        const decoding_map *d = NULL;
        for (size_t i = 0; i < sizeof k_decoding / sizeof k_decoding[0]; i++)
            if (!strcmp(k_decoding[i].field, it->string)) d = &k_decoding[i];
        if (!d) {
            const char *why = "not a decoding setting Hive knows";
            for (size_t i = 0; i < sizeof k_decoding_ignored / sizeof k_decoding_ignored[0]; i++)
                if (!strcmp(k_decoding_ignored[i].field, it->string)) why = k_decoding_ignored[i].why;
            hive_manifest_ignore(m, "training.decoding.%s: %s", it->string, why);
            continue;
        }
        if (cJSON_IsNull(it)) continue;
        if (!strcmp(d->key, "sampling.stop")) {
            stop_sequences(m, d, it, scratch, p);
            continue;
        }
        int64_t whole = 0;
        if (!cJSON_IsNumber(it) || (d->integer && !hive_json_whole(it, &whole))) {
            hive_problems_add(p, "%s: training.decoding.%s: expected %s", m->file, it->string,
                              d->integer ? "an integer" : "a number");
            continue;
        }
        char txt[64];
        if (d->integer) snprintf(txt, sizeof txt, "%lld", (long long)whole);
        else snprintf(txt, sizeof txt, "%.9g", it->valuedouble);
        add_setting(m, d, txt, scratch, p);
    }
    hive_manifest_parse_files(m, dec, p);
    hive_config_free(scratch);
}

static void training(hive_manifest *m, const cJSON *tr, hive_problems *p) {
    if (!tr || cJSON_IsNull(tr)) return;
    if (!cJSON_IsObject(tr)) {
        hive_problems_add(p, "%s: training: expected an object", m->file);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, tr) {
        if (!it->string || it->string[0] == '_') continue;
        if (!strcmp(it->string, "decoding")) decoding(m, it, p);
        else hive_manifest_ignore(m, "training.%s: training-time information", it->string);
    }
}

static void routing(hive_manifest *m, const cJSON *r, hive_problems *p) {
    if (!r || cJSON_IsNull(r)) return;
    if (!cJSON_IsObject(r)) {
        hive_problems_add(p, "%s: routing: expected an object", m->file);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, r) {
        if (!it->string || it->string[0] == '_') continue;
        if (!strcmp(it->string, "keywords")) {
            hive_json_strv(m, it, "routing.keywords", &m->keywords, p); /* read by experts/router.c */
        } else {
            hive_manifest_ignore(m, "routing.%s: Hive's router reads only routing.keywords and the description", it->string);
        }
    }
}

static void constraints(hive_manifest *m, const cJSON *c, hive_problems *p) {
    if (!c || cJSON_IsNull(c)) return;
    if (!cJSON_IsObject(c)) {
        hive_problems_add(p, "%s: constraints: expected an object", m->file);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, c) {
        if (!it->string || it->string[0] == '_') continue;
        if (!strcmp(it->string, "incompatible_with")) {
            hive_json_strv(m, it, "constraints.incompatible_with", &m->incompatible_with, p);
        } else if (!strcmp(it->string, "requires")) {
            hive_json_strv(m, it, "constraints.requires", &m->requires, p);
        } else if (!strcmp(it->string, "max_chain")) {
            int64_t n;
            if (!hive_json_whole(it, &n) || n < 1)
                hive_problems_add(p, "%s: constraints.max_chain: expected a positive integer", m->file);
            else
                m->max_chain = n;
        } else if (!strcmp(it->string, "load_order")) {
            hive_manifest_ignore(m, "constraints.load_order: adapters apply in the order the experts are given; "
                                    "their effects compose commutatively (docs/EXPERTS.md)");
        } else {
            hive_manifest_ignore(m, "constraints.%s: not a constraint Hive knows", it->string);
        }
    }
}

static void runtime(hive_manifest *m, const cJSON *r) {
    static const struct {
        const char *key, *why;
    } k[] = {{"candle_compatible", "a flag for the Candle runtime"},
             {"requires_kv_cache_persistence", "Hive keeps a sequence's KV cache while its expert set is unchanged and "
                                               "drops it on any change"},
             {"attention_kernel", "the backend plugin picks its attention kernel"}};
    const cJSON *it;
    cJSON_ArrayForEach(it, r) {
        if (!it->string || it->string[0] == '_') continue;
        const char *why = "runtime hint not used by Hive";
        for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
            if (!strcmp(k[i].key, it->string)) why = k[i].why;
        hive_manifest_ignore(m, "runtime.%s: %s", it->string, why);
    }
}

static const struct {
    const char *key, *why;
} k_top_ignored[] = {
    {"author", "descriptive"},
    {"homepage", "descriptive"},
    {"repository", "descriptive"},
    {"license", "descriptive"},
    {"tags", "descriptive"},
    {"limitations", "descriptive"},
    {"capabilities", "used by routers; Hive has none"},
    {"perf", "estimates; Hive measures device_bytes itself"},
    {"evaluation", "training-time information"},
    {"quality_metrics", "training-time information"},
    {"integrity", "signatures are not verified; sha256 fields are"},
    {"soft_prompts", "HiveLLM .pt/.bin soft prompts are not read: ship a PEFT prompt-tuning adapter (type soft-prompt)"},
};

void hive_manifest_parse_extras(hive_manifest *m, const cJSON *root, hive_problems *p) {
    int v1 = m->schema_version && !strcmp(m->schema_version, "1.0");
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        if (!k || k[0] == '_' || !strcmp(k, "name") || !strcmp(k, "version") || !strcmp(k, "description") ||
            !strcmp(k, "schema_version"))
            continue;
        if (!strcmp(k, "base_models") && !v1) continue;
        if ((!strcmp(k, "base_model") || !strcmp(k, "adapters")) && v1) continue;
        if (!strcmp(k, "training")) training(m, it, p);
        else if (!strcmp(k, "routing")) routing(m, it, p);
        else if (!strcmp(k, "constraints")) constraints(m, it, p);
        else if (!strcmp(k, "runtime") && cJSON_IsObject(it)) runtime(m, it);
        else {
            const char *why = "not a field Hive knows";
            if (!strcmp(k, "base_model") || !strcmp(k, "adapters")) why = "a schema 1.0 field; schema 2.0 uses base_models";
            if (!strcmp(k, "base_models")) why = "a schema 2.0 field; this manifest says schema_version 1.0";
            for (size_t i = 0; i < sizeof k_top_ignored / sizeof k_top_ignored[0]; i++)
                if (!strcmp(k_top_ignored[i].key, k)) why = k_top_ignored[i].why;
            hive_manifest_ignore(m, "%s: %s", k, why);
        }
    }
}
