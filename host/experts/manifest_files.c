/* The training.decoding fields that name files in the package, as
 * configuration defaults (below the command line):
 * - use_grammar / grammar_type / grammar_file: the expert's structured
 *   output (grammar.*). grammar_type json | json-object | sql-postgres name a
 *   shipped grammar; json-schema and gbnf name a file in the package
 *   (grammar_file, default schema.json / grammar.gbnf).
 * - draft_corpus: example outputs lookup drafts from
 *   (speculative.draft_corpus; docs/SPECULATIVE.md), a Hive extension. */
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

int hive_manifest_is_file_field(const char *field) {
    return !strcmp(field, "use_grammar") || !strcmp(field, "grammar_type") || !strcmp(field, "grammar_file") ||
           !strcmp(field, "draft_corpus");
}

/* rel inside the package as a path (in path); 0, or -1 with the problem added */
static int package_file(hive_manifest *m, const char *field, const char *rel, const char *what, char *path,
                        size_t cap, hive_problems *p) {
    if (rel[0] == '/' || strstr(rel, "..")) {
        hive_problems_add(p, "%s: training.decoding.%s '%s' must be a relative path inside the package", m->file,
                          field, rel);
        return -1;
    }
    snprintf(path, cap, "%s/%s", m->dir, rel);
    if (access(path, R_OK)) {
        hive_problems_add(p, "%s: training.decoding.%s: the package has no %s", m->file, what, rel);
        return -1;
    }
    return 0;
}

static void draft_corpus(hive_manifest *m, const cJSON *dec, hive_problems *p) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(dec, "draft_corpus");
    if (!f || cJSON_IsNull(f)) return;
    char path[4096];
    if (!cJSON_IsString(f) || !*f->valuestring)
        hive_problems_add(p, "%s: training.decoding.draft_corpus: expected a file in the package (example outputs, "
                             "docs/SPECULATIVE.md)", m->file);
    else if (!package_file(m, "draft_corpus", f->valuestring, "draft_corpus", path, sizeof path, p))
        push(m, "speculative.draft_corpus", path, "training.decoding.draft_corpus", p);
}

void hive_manifest_parse_files(hive_manifest *m, const cJSON *dec, hive_problems *p) {
    draft_corpus(m, dec, p);
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
    char path[4096], what[64];
    snprintf(what, sizeof what, "grammar_type %s", t);
    if (package_file(m, "grammar_file", rel, what, path, sizeof path, p)) return;
    push(m, schema ? "grammar.json_schema" : "grammar.file", path, "training.decoding.grammar_type", p);
}
