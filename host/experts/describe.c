/* Manifest display for `experts inspect` (see describe.h). */
#include "experts/describe.h"

#include "experts/adapter_files.h"
#include "util/error.h"

static cJSON *strv_json(const hive_strv *v) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < v->n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v->v[i]));
    return a;
}

static const hive_strv *targets_of(const hive_manifest_adapter *a) { return a->targets.n ? &a->targets : &a->cfg_targets; }
static int64_t r_of(const hive_manifest_adapter *a) { return a->r >= 0 ? a->r : a->cfg_r; }
static double alpha_of(const hive_manifest_adapter *a) { return a->alpha >= 0 ? a->alpha : a->cfg_alpha; }

static void weights(const hive_manifest_adapter *a, long long *n, long long *bytes) {
    uint64_t nt = 0, b = 0;
    hive_error *e = NULL;
    *n = *bytes = -1;
    if (a->weights && hive_adapter_weights_summary(a->weights, &nt, &b, &e) == HIVE_OK) {
        *n = (long long)nt;
        *bytes = (long long)b;
    }
    hive_error_free(e);
}

cJSON *hive_expert_describe_json(const hive_expert_pkg *pkg, const hive_manifest *m, const hive_problems *probs) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "package", pkg->canonical ? pkg->canonical : "");
    cJSON_AddStringToObject(o, "format", pkg->is_archive ? "archive" : pkg->is_peft ? "peft-directory" : "directory");
    if (pkg->is_archive) {
        cJSON_AddStringToObject(o, "sha256", pkg->sha256);
        cJSON_AddStringToObject(o, "unpacked", pkg->dir ? pkg->dir : "");
    }
    cJSON_AddStringToObject(o, "manifest", m->file ? m->file : "");
    cJSON_AddStringToObject(o, "name", m->name ? m->name : "");
    cJSON_AddStringToObject(o, "version", m->version ? m->version : "");
    cJSON_AddStringToObject(o, "description", m->description ? m->description : "");
    cJSON_AddStringToObject(o, "schema_version", m->schema_version ? m->schema_version : "");
    cJSON *bases = cJSON_AddArrayToObject(o, "base_models");
    for (size_t b = 0; b < m->n_bases; b++) {
        const hive_manifest_base *bm = &m->bases[b];
        cJSON *jb = cJSON_CreateObject();
        cJSON_AddItemToArray(bases, jb);
        cJSON_AddStringToObject(jb, "name", bm->name ? bm->name : "");
        if (bm->sha256[0]) cJSON_AddStringToObject(jb, "sha256", bm->sha256);
        cJSON *ads = cJSON_AddArrayToObject(jb, "adapters");
        for (size_t i = 0; i < bm->n_adapters; i++) {
            const hive_manifest_adapter *a = &bm->adapters[i];
            cJSON *ja = cJSON_CreateObject();
            cJSON_AddItemToArray(ads, ja);
            cJSON_AddStringToObject(ja, "type", a->type);
            cJSON_AddStringToObject(ja, "path", a->path ? a->path : "");
            if (a->dir) cJSON_AddStringToObject(ja, "dir", a->dir);
            if (a->peft_type[0]) cJSON_AddStringToObject(ja, "peft_type", a->peft_type);
            if (r_of(a) >= 0) cJSON_AddNumberToObject(ja, "r", (double)r_of(a));
            if (alpha_of(a) >= 0) cJSON_AddNumberToObject(ja, "alpha", alpha_of(a));
            if (a->cfg_targets_regex && !a->targets.n) cJSON_AddStringToObject(ja, "target_modules", a->cfg_targets_regex);
            else cJSON_AddItemToObject(ja, "target_modules", strv_json(targets_of(a)));
            if (a->cfg_target_params.n) cJSON_AddItemToObject(ja, "target_parameters", strv_json(&a->cfg_target_params));
            if (a->num_virtual_tokens >= 0) cJSON_AddNumberToObject(ja, "num_virtual_tokens", (double)a->num_virtual_tokens);
            long long n, bytes;
            weights(a, &n, &bytes);
            if (n >= 0) {
                cJSON_AddNumberToObject(ja, "tensors", (double)n);
                cJSON_AddNumberToObject(ja, "tensor_bytes", (double)bytes);
            }
        }
    }
    cJSON *dec = cJSON_AddObjectToObject(o, "decoding");
    for (size_t i = 0; i < m->n_decoding; i++) cJSON_AddStringToObject(dec, m->decoding[i].key, m->decoding[i].value);
    cJSON_AddItemToObject(o, "routing_keywords", strv_json(&m->keywords));
    cJSON *c = cJSON_AddObjectToObject(o, "constraints");
    cJSON_AddItemToObject(c, "incompatible_with", strv_json(&m->incompatible_with));
    cJSON_AddItemToObject(c, "requires", strv_json(&m->requires));
    if (m->max_chain) cJSON_AddNumberToObject(c, "max_chain", (double)m->max_chain);
    cJSON_AddItemToObject(o, "ignored", strv_json(&m->ignored));
    hive_strv pv = {probs->msgs, probs->n};
    cJSON_AddItemToObject(o, "problems", strv_json(&pv));
    return o;
}

static void list(FILE *out, int width, const char *label, const hive_strv *v) {
    fprintf(out, "%-*s", width, label);
    for (size_t i = 0; i < v->n; i++) fprintf(out, "%s%s", i ? ", " : "", v->v[i]);
    fprintf(out, "%s\n", v->n ? "" : "-");
}

void hive_expert_describe_text(const hive_expert_pkg *pkg, const hive_manifest *m, const hive_problems *probs,
                               FILE *out) {
    fprintf(out, "expert:        %s %s\n", m->name, m->version);
    fprintf(out, "description:   %s\n", *m->description ? m->description : "-");
    fprintf(out, "package:       %s (%s)\n", pkg->canonical,
            pkg->is_archive ? "archive" : pkg->is_peft ? "PEFT adapter directory, no manifest.json" : "directory");
    if (pkg->is_archive) fprintf(out, "sha256:        %s\nunpacked:      %s\n", pkg->sha256, pkg->dir);
    fprintf(out, "schema:        %s\n", m->schema_version);
    for (size_t b = 0; b < m->n_bases; b++) {
        const hive_manifest_base *bm = &m->bases[b];
        fprintf(out, "base model:    %s%s%s\n", bm->name, bm->sha256[0] ? "  sha256 " : "", bm->sha256);
        for (size_t i = 0; i < bm->n_adapters; i++) {
            const hive_manifest_adapter *a = &bm->adapters[i];
            fprintf(out, "  adapter %zu:   %s  %s\n", i, *a->type ? a->type : "?", a->path ? a->path : "?");
            if (r_of(a) >= 0) fprintf(out, "    r %lld, alpha %g\n", (long long)r_of(a), alpha_of(a));
            if (a->num_virtual_tokens >= 0) fprintf(out, "    virtual tokens %lld\n", (long long)a->num_virtual_tokens);
            if (a->cfg_targets_regex && !a->targets.n) fprintf(out, "    targets        %s\n", a->cfg_targets_regex);
            else list(out, 19, "    targets", targets_of(a));
            if (a->cfg_target_params.n) list(out, 19, "    parameters", &a->cfg_target_params);
            long long n, bytes;
            weights(a, &n, &bytes);
            if (n >= 0) fprintf(out, "    tensors        %lld (%lld bytes)\n", n, bytes);
        }
    }
    fprintf(out, "decoding:      %s\n", m->n_decoding ? "" : "-");
    for (size_t i = 0; i < m->n_decoding; i++) fprintf(out, "  %-28s %s\n", m->decoding[i].key, m->decoding[i].value);
    list(out, 15, "keywords:", &m->keywords);
    list(out, 15, "incompatible:", &m->incompatible_with);
    list(out, 15, "requires:", &m->requires);
    if (m->max_chain) fprintf(out, "max chain:     %lld\n", (long long)m->max_chain);
    fprintf(out, "ignored:       %s\n", m->ignored.n ? "" : "-");
    for (size_t i = 0; i < m->ignored.n; i++) fprintf(out, "  %s\n", m->ignored.v[i]);
    if (probs->n) fprintf(out, "problems:\n");
    for (size_t i = 0; i < probs->n; i++) fprintf(out, "  %s\n", probs->msgs[i]);
}
