/* training.decoding.use_grammar / grammar_type / grammar_file: the expert's
 * structured output, as grammar.* configuration defaults (below the command
 * line). grammar_type json | json-object | sql-postgres name a shipped
 * grammar; json-schema and gbnf name a file in the package (grammar_file,
 * default schema.json / grammar.gbnf). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experts/manifest_impl.h"

static void push(hive_manifest *m, const char *key, const char *value, const char *field, hive_problems *p) {
    hive_manifest_setting *g = realloc(m->decoding, (m->n_decoding + 1) * sizeof *g);
    if (!g) {
        p->oom = 1;
        return;
    }
    m->decoding = g;
    g[m->n_decoding] = (hive_manifest_setting){key, strdup(value), field};
    if (!g[m->n_decoding].value) p->oom = 1;
    else m->n_decoding++;
}

int hive_manifest_is_grammar_field(const char *field) {
    return !strcmp(field, "use_grammar") || !strcmp(field, "grammar_type") || !strcmp(field, "grammar_file");
}

void hive_manifest_parse_grammar(hive_manifest *m, const cJSON *dec, hive_problems *p) {
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(dec, "use_grammar");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(dec, "grammar_type");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(dec, "grammar_file");
    if (use && !cJSON_IsBool(use)) {
        hive_problems_add(p, "%s: training.decoding.use_grammar: expected true or false", m->file);
        return;
    }
    if (!cJSON_IsTrue(use)) {
        if (type || file) hive_manifest_ignore(m, "training.decoding.grammar_type: use_grammar is not true");
        return;
    }
    if (!cJSON_IsString(type)) {
        hive_problems_add(p, "%s: training.decoding.use_grammar is true but grammar_type is missing (json, "
                             "json-object, json-schema, gbnf or sql-postgres)", m->file);
        return;
    }
    const char *t = type->valuestring;
    if (!strcmp(t, "json") || !strcmp(t, "json-object") || !strcmp(t, "sql-postgres")) {
        push(m, "grammar.builtin", t, "training.decoding.grammar_type", p);
        return;
    }
    int schema = !strcmp(t, "json-schema");
    if (!schema && strcmp(t, "gbnf")) {
        hive_problems_add(p, "%s: training.decoding.grammar_type '%s' is not one of json, json-object, json-schema, "
                             "gbnf, sql-postgres", m->file, t);
        return;
    }
    if (file && !cJSON_IsString(file)) {
        hive_problems_add(p, "%s: training.decoding.grammar_file: expected a path in the package", m->file);
        return;
    }
    const char *rel = file ? file->valuestring : schema ? "schema.json" : "grammar.gbnf";
    if (rel[0] == '/' || strstr(rel, "..")) {
        hive_problems_add(p, "%s: training.decoding.grammar_file '%s' must be a relative path inside the package",
                          m->file, rel);
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", m->dir, rel);
    if (access(path, R_OK)) {
        hive_problems_add(p, "%s: training.decoding.grammar_type %s: the package has no %s", m->file, t, rel);
        return;
    }
    push(m, schema ? "grammar.json_schema" : "grammar.file", path, "training.decoding.grammar_type", p);
}
