/* `--expert auto` (see expert_auto.h). */
#include "cli/expert_auto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "experts/catalog.h"
#include "experts/router.h"
#include "experts/weight.h"
#include "util/error.h"

#define AUTO "auto"

int hive_cli_expert_auto(const hive_config *cfg) {
    for (size_t i = 0; i < hive_config_list_len(cfg, "experts.paths"); i++)
        if (!strcmp(hive_config_list_item(cfg, "experts.paths", i), AUTO)) return 1;
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(hive_error *err, const char *what) {
    fprintf(stderr, "hive-host: --expert auto: %s%s%s\n", what ? what : "", what ? ": " : "", hive_error_message(err));
    hive_error_free(err);
    return 1;
}

/* experts.paths := the picked packages (a new CLI layer, so no append). */
static int set_paths(hive_config *cfg, const hive_catalog *cat, const hive_route_pick *p, size_t n) {
    hive_error *err = NULL;
    if (hive_config_set(cfg, "experts.paths", "", HIVE_SRC_FILE, NULL, &err) != HIVE_OK ||
        hive_config_set(cfg, "experts.paths", "", HIVE_SRC_CLI, "--expert auto", &err) != HIVE_OK)
        return fail(err, NULL);
    for (size_t i = 0; i < n; i++) /* repeated CLI values append, one path each (no comma splitting) */
        if (hive_config_set(cfg, "experts.paths", cat->v[p[i].index].path, HIVE_SRC_CLI, "--expert auto", &err) != HIVE_OK)
            return fail(err, NULL);
    return 0;
}

int hive_cli_route_experts(hive_cli *cli, const char *prompt) {
    if (!hive_cli_expert_auto(cli->cfg)) return 0;
    hive_catalog cat = {0};
    hive_router *r = NULL;
    hive_error *err = NULL;
    int rc = 0;
    for (size_t i = 0; !rc && i < hive_config_list_len(cli->cfg, "experts.paths"); i++) {
        const char *p = hive_config_list_item(cli->cfg, "experts.paths", i);
        char path[4096];
        double w = 1.0;
        if (strcmp(p, AUTO) != 0 && hive_expert_spec_parse(p, path, sizeof path, &w, &err) != HIVE_OK) rc = fail(err, NULL);
        else if (w != 1.0) { /* the router picks experts, not how much of each */
            fprintf(stderr, "hive-host: --expert auto: the candidate %s has a weight; routed experts run at weight 1: "
                            "give the path without ':%g'\n", p, w);
            rc = 2;
        } else if (strcmp(p, AUTO) != 0 && hive_catalog_add_path(&cat, path, &err) != HIVE_OK) rc = fail(err, p);
    }
    for (size_t i = 0; !rc && i < hive_config_list_len(cli->cfg, "server.expert_dirs"); i++)
        if (hive_catalog_scan_dir(&cat, hive_config_list_item(cli->cfg, "server.expert_dirs", i), &err) != HIVE_OK)
            rc = fail(err, NULL);
    if (!rc && !cat.n) {
        fprintf(stderr, "hive-host: --expert auto: no experts to choose from: add --expert PATH or --expert-dir DIR\n");
        rc = 2;
    }
    if (!rc && hive_router_from_catalog(&cat, &r, &err) != HIVE_OK) rc = fail(err, NULL);
    if (rc) {
        hive_catalog_free(&cat);
        return rc;
    }
    double threshold = hive_config_float(cli->cfg, "experts.route_threshold");
    size_t max = (size_t)hive_config_int(cli->cfg, "experts.route_max");
    hive_route_pick *p = calloc(max, sizeof *p);
    if (!p) {
        hive_router_free(r);
        hive_catalog_free(&cat);
        fprintf(stderr, "hive-host: --expert auto: out of memory\n");
        return 1;
    }
    double t0 = now_ms();
    size_t n = hive_router_route(r, prompt, threshold, max, p);
    double ms = now_ms() - t0;
    if (cli->verbose) {
        fprintf(stderr, "[route: ");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%s%s (score %.2f)", i ? " + " : "", cat.v[p[i].index].name, p[i].score);
        if (!n) fprintf(stderr, "the base model (no expert scored >= %.2f)", threshold);
        fprintf(stderr, " of %zu candidate%s in %.3f ms]\n", cat.n, cat.n == 1 ? "" : "s", ms);
    }
    rc = set_paths(cli->cfg, &cat, p, n);
    free(p);
    hive_router_free(r);
    hive_catalog_free(&cat);
    return rc;
}
