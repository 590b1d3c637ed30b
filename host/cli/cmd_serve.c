/* `hive-host serve`: listen first (so /health says 503 while loading), open
 * the session, the expert catalog and the scheduler, then serve until SIGTERM
 * or SIGINT; in-flight requests get server.shutdown_timeout_s to finish. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "experts/catalog.h"
#include "sched/scheduler.h"
#include "server/server.h"
#include "session/session.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* The key from --api-key or the first line of --api-key-file (not both). */
static int read_api_key(const hive_config *cfg, char *key, size_t cap) {
    const char *k = hive_config_str(cfg, "server.api_key"), *f = hive_config_str(cfg, "server.api_key_file");
    key[0] = 0;
    if (*k && *f) {
        fprintf(stderr, "hive-host serve: give --api-key or --api-key-file, not both\n");
        return 2;
    }
    if (*k) {
        snprintf(key, cap, "%s", k);
        return 0;
    }
    if (!*f) return 0;
    FILE *fp = fopen(f, "r");
    if (!fp || !fgets(key, (int)cap, fp)) {
        fprintf(stderr, "hive-host serve: --api-key-file %s: cannot read a key from it\n", f);
        if (fp) fclose(fp);
        return 1;
    }
    fclose(fp);
    key[strcspn(key, "\r\n")] = 0;
    if (!*key) {
        fprintf(stderr, "hive-host serve: --api-key-file %s: the first line is empty\n", f);
        return 1;
    }
    return 0;
}

static int open_catalog(const hive_config *cfg, hive_catalog *cat) {
    hive_error *err = NULL;
    hive_expert_specs specs;
    int rc = hive_session_expert_specs(cfg, &specs);
    if (rc) return rc;
    for (size_t i = 0; i < specs.n; i++) {
        if (specs.weights[i] != 1.0) {
            /* --expert only adds to the catalog here; a set's weights come with each request */
            fprintf(stderr,
                    "hive-host serve: --expert %s: serve takes weights per request ({\"name\": ..., \"weight\": %g} "
                    "in \"experts\"); give the path without ':%g'\n",
                    hive_config_list_item(cfg, "experts.paths", i), specs.weights[i], specs.weights[i]);
            hive_expert_specs_free(&specs);
            return 2;
        }
        if (hive_catalog_add_path(cat, specs.paths[i], &err) != HIVE_OK) {
            hive_expert_specs_free(&specs);
            goto fail;
        }
    }
    hive_expert_specs_free(&specs);
    double t0 = hive_now_ms();
    for (size_t i = 0; i < hive_config_list_len(cfg, "server.expert_dirs"); i++)
        if (hive_catalog_scan_dir(cat, hive_config_list_item(cfg, "server.expert_dirs", i), &err) != HIVE_OK) goto fail;
    HLOG_DEBUG("%zu expert(s) in the catalog after %.2f ms (directories: names only; manifests are read on first use)",
               cat->n, hive_now_ms() - t0);
    return 0;
fail:
    fprintf(stderr, "hive-host serve: %s\n", hive_error_message(err));
    hive_error_free(err);
    return 1;
}

/* "~/m/SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct.Q4_1" */
static void default_model_name(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *b = path + n;
    while (b > path && b[-1] != '/') b--;
    size_t l = (size_t)(path + n - b);
    if (l > 5 && !strncmp(b + l - 5, ".gguf", 5)) l -= 5;
    snprintf(out, cap, "%.*s", (int)l, b);
}

int hive_cmd_serve(hive_cli *cli) {
    hive_config *cfg = cli->cfg;
    char key[512];
    int rc = read_api_key(cfg, key, sizeof key);
    if (rc) return rc;
    if (!*hive_config_str(cfg, "model.path")) {
        fprintf(stderr, "hive-host serve: --model PATH is required\n");
        return 2;
    }
    if (hive_config_bool(cfg, "experts.merge")) {
        fprintf(stderr, "hive-host serve: --merge folds one expert into the base weights; a server runs each "
                        "request's own experts, so it cannot merge\n");
        return 2;
    }
    /* structured output is per request (response_format, grammar, regex) or
     * per expert (its manifest): a server-wide grammar would silently bind
     * every request, so it is refused rather than ignored */
    static const char *const grammar_keys[] = {"grammar.file", "grammar.gbnf", "grammar.json_schema", "grammar.regex",
                                               "grammar.builtin"};
    for (size_t i = 0; i < sizeof grammar_keys / sizeof grammar_keys[0]; i++)
        if (*hive_config_str(cfg, grammar_keys[i])) {
            fprintf(stderr, "hive-host serve: %s (%s) does not apply to a server: each request asks for structured "
                            "output with response_format, grammar or regex, or gets its experts' manifest grammar "
                            "(docs/SERVER.md)\n", grammar_keys[i], hive_config_origin(cfg, grammar_keys[i]));
            return 2;
        }
    char spec_msg[512];
    if (hive_server_spec_check_config(cfg, NULL, spec_msg, sizeof spec_msg)) {
        fprintf(stderr, "hive-host serve: %s\n", spec_msg);
        return 2;
    }
    if (hive_session_load_draft_corpus(cfg, NULL)) return 2; /* the file, before listening */
    uint32_t parallel = (uint32_t)hive_config_int(cfg, "server.parallel");
    uint32_t cache_slots = (uint32_t)hive_config_int(cfg, "server.prefix_cache_slots");
    if ((uint32_t)hive_config_int(cfg, "model.batch") < parallel) {
        char b[32];
        snprintf(b, sizeof b, "%u", parallel); /* a decode row per running sequence fits one pass */
        hive_config_set(cfg, "model.batch", b, HIVE_SRC_CLI, "serve --parallel", NULL);
    }
    /* signals are taken by sigwait below; every thread started from here on inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    hive_server_opts so = {hive_config_str(cfg, "server.host"), (uint16_t)hive_config_int(cfg, "server.port"), key,
                           (size_t)hive_config_int(cfg, "server.max_body_kb") * 1024, parallel * 4 + 64};
    hive_server *srv = NULL;
    hive_error *err = NULL;
    if (hive_server_start(&so, &srv, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host serve: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    fprintf(stderr, "hive-host: listening on http://%s%s%s:%u (loading the model)\n", strchr(so.host, ':') ? "[" : "",
            so.host, strchr(so.host, ':') ? "]" : "", hive_server_port(srv));

    hive_session ss;
    hive_session_opts o = {parallel + cache_slots, 1, 1};
    hive_catalog cat = {0};
    hive_sched *sched = NULL;
    if ((rc = hive_session_open(cfg, &o, &ss)) != 0 || (rc = open_catalog(cfg, &cat)) != 0) goto done;
    if (hive_server_spec_check_config(cfg, ss.eng, spec_msg, sizeof spec_msg)) {
        fprintf(stderr, "hive-host serve: %s\n", spec_msg);
        rc = 2;
        goto done;
    }
    if ((rc = hive_session_load_draft_corpus(cfg, &ss)) != 0) goto done; /* tokenized for every lookup request */
    hive_sched_opts sop = {parallel, cache_slots, (uint32_t)hive_config_int(cfg, "server.prefill_chunk"),
                           (uint32_t)hive_config_int(cfg, "server.max_queue")};
    if (hive_sched_new(&ss, &sop, &sched, &err) != HIVE_OK || hive_sched_start(sched, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host serve: %s\n", hive_error_message(err));
        hive_error_free(err);
        rc = 1;
        goto done;
    }
    char name[256];
    const char *given = hive_config_str(cfg, "server.model_name");
    if (*given) snprintf(name, sizeof name, "%s", given);
    else default_model_name(hive_config_str(cfg, "model.path"), name, sizeof name);
    hive_server_set_ready(srv, &ss, sched, &cat, cfg, name);
    HLOG_INFO("ready: model '%s', %zu expert(s) available, %u parallel, context %u%s", name, cat.n, parallel,
              hive_engine_ctx(ss.eng), *key ? ", API key required" : "");

    int sig = 0;
    sigwait(&sigs, &sig);
    HLOG_INFO("%s: shutting down (in-flight requests get %lld s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
              (long long)hive_config_int(cfg, "server.shutdown_timeout_s"));
    hive_server_close(srv);
    /* requests already received (even those not queued yet) may finish */
    double t_end = hive_now_ms() + (double)hive_config_int(cfg, "server.shutdown_timeout_s") * 1e3;
    while (hive_now_ms() < t_end && (hive_server_inflight(srv) > 0 || !hive_sched_idle(sched))) usleep(10000);
    hive_sched_shutdown(sched, 0); /* cancels what is left; its streams end */
done:
    hive_server_stop(srv); /* waits for connection threads: every job has finished */
    hive_sched_free(sched);
    hive_catalog_free(&cat);
    hive_session_close(&ss);
    return rc;
}
