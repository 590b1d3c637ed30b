/* `hive-host experts inspect PATH [--json]` and (list: cmd_experts_list.c)
 * `hive-host experts validate PATH [--model M] [--json]` (docs/EXPERTS.md). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "experts/adapter_files.h"
#include "experts/base_match.h"
#include "experts/describe.h"
#include "experts/expert.h"
#include "experts/manifest.h"
#include "experts/decoding.h"
#include "experts/package.h"
#include "experts/peft_dir.h"
#include "grammar/grammar_config.h"
#include "model/model.h"
#include "plugin/registry.h"
#include "util/error.h"

static int usage(void) {
    fprintf(stderr, "usage: hive-host experts list DIR [--json]\n"
                    "       hive-host experts inspect PATH [--json]\n"
                    "       hive-host experts validate PATH [--model M] [--strict-base] [--json]\n"
                    "       hive-host experts pack PEFT_DIR -o NAME.expert [--name N] [--description D] "
                    "[--decoding KEY=VALUE]... [--draft-corpus FILE]\n");
    return 2;
}

static void print_json(cJSON *o) {
    char *txt = cJSON_Print(o);
    if (txt) printf("%s\n", txt);
    free(txt);
    cJSON_Delete(o);
}

/* Every adapter must be claimed by a loaded adapter plugin. */
static void check_claims(const hive_cli *cli, const hive_manifest *m, hive_problems *p) {
    hive_registry reg;
    hive_error *err = NULL;
    if (hive_registry_scan(&reg, cli->cfg, &err) != HIVE_OK) {
        hive_problems_add(p, "cannot scan plugins: %s", hive_error_message(err));
        hive_error_free(err);
        return;
    }
    char list[1024];
    hive_expert_list_adapter_plugins(&reg, list, sizeof list);
    for (size_t b = 0; b < m->n_bases; b++)
        for (size_t i = 0; i < m->bases[b].n_adapters; i++) {
            const hive_manifest_adapter *a = &m->bases[b].adapters[i];
            if (a->config_json && !hive_registry_claim_adapter(&reg, a->config_json, NULL))
                hive_problems_add(p, "%s: base_models[%zu].adapters[%zu]: no adapter plugin claims %s/adapter_config.json "
                                  "(peft_type '%s'%s); loaded adapter plugins: %s",
                                  m->file, b, i, a->dir, a->peft_type, a->use_dora ? ", use_dora" : "", list);
        }
    hive_registry_free(&reg);
}

/* --model: the base check, then tensor shapes against the model's modules. */
/* The manifest's grammar (use_grammar / grammar_type) compiles. */
static void check_grammar(const hive_manifest *m, hive_problems *p) {
    hive_config *cfg = hive_config_new();
    hive_error *err = NULL;
    hive_grammar *g = NULL;
    if (cfg && hive_manifest_apply_decoding(m, cfg, &err) == HIVE_OK &&
        hive_grammar_from_config(cfg, &g, NULL, 0, &err) != HIVE_OK)
        hive_problems_add(p, "%s: training.decoding.grammar_type: %s", m->file, hive_error_message(err));
    hive_error_free(err);
    hive_grammar_free(g);
    hive_config_free(cfg);
}

static void check_model(const char *model_path, const hive_manifest *m, int strict_base, hive_problems *p) {
    hive_model_files *model = NULL;
    hive_error *err = NULL;
    if (hive_model_open(model_path, &model, &err) != HIVE_OK) {
        hive_problems_add(p, "%s: %s", model_path, hive_error_message(err));
        hive_error_free(err);
        return;
    }
    size_t idx = 0;
    if (hive_expert_check_base(m, model->hp.name, model->path, strict_base, &idx, &err) != HIVE_OK) {
        hive_problems_add(p, "%s", hive_error_message(err));
        hive_error_free(err);
    } else {
        for (size_t i = 0; i < m->bases[idx].n_adapters; i++) {
            char field[64];
            snprintf(field, sizeof field, "base_models[%zu].adapters[%zu]", idx, i);
            hive_adapter_check_shapes(m, field, &m->bases[idx].adapters[i], &model->hp, p);
        }
    }
    hive_model_close(model);
}

int hive_cmd_experts(hive_cli *cli) {
    if (cli->n_positional >= 1 && !strcmp(cli->positional[0], "pack")) return hive_cmd_experts_pack(cli);
    if (cli->n_positional >= 1 && !strcmp(cli->positional[0], "list")) return hive_cmd_experts_list(cli);
    if (cli->n_positional < 2) return usage();
    const char *sub = cli->positional[0], *path = cli->positional[1];
    int inspect = !strcmp(sub, "inspect"), validate = !strcmp(sub, "validate");
    if (!inspect && !validate) return usage();
    hive_expert_pkg pkg;
    hive_error *err = NULL;
    if (hive_expert_pkg_open(path, NULL, &pkg, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    hive_manifest m;
    hive_problems probs = {0};
    if (hive_manifest_load(pkg.dir, pkg.manifest, &m, &probs, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        hive_error_free(err);
        hive_expert_pkg_close(&pkg);
        return 1;
    }
    const char *model_path = hive_config_source(cli->cfg, "model.path") == HIVE_SRC_CLI
                                 ? hive_config_str(cli->cfg, "model.path") : "";
    if (validate) {
        check_claims(cli, &m, &probs);
        check_grammar(&m, &probs);
        if (*model_path) check_model(model_path, &m, hive_config_bool(cli->cfg, "experts.strict_base"), &probs);
    }
    int rc = 0;
    if (inspect) {
        if (cli->json) print_json(hive_expert_describe_json(&pkg, &m, &probs));
        else hive_expert_describe_text(&pkg, &m, &probs, stdout);
    } else {
        rc = (probs.n || probs.oom) ? 1 : 0;
        if (cli->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "package", pkg.canonical);
            cJSON_AddStringToObject(o, "name", m.name);
            cJSON_AddBoolToObject(o, "valid", rc == 0);
            if (*model_path) cJSON_AddStringToObject(o, "model", model_path);
            cJSON *a = cJSON_AddArrayToObject(o, "problems");
            for (size_t i = 0; i < probs.n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(probs.msgs[i]));
            print_json(o);
        } else if (rc == 0) {
            printf("ok: expert '%s' %s (%s)%s%s\n", m.name, m.version, pkg.canonical, *model_path ? " targets " : "",
                   model_path);
        } else {
            fprintf(stderr, "expert '%s' (%s): %zu problem%s\n", m.name, pkg.canonical, probs.n, probs.n == 1 ? "" : "s");
            for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "  %s\n", probs.msgs[i]);
        }
    }
    hive_problems_free(&probs);
    hive_manifest_free(&m);
    hive_expert_pkg_close(&pkg);
    return rc;
}
