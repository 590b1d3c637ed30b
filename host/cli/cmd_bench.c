/* `hive-host bench`: prefill and decode speed on random tokens. Speed is a
 * benchmark, not a test: scripts/bench/ runs peers beside it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/session.h"
#include "util/error.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

int hive_cmd_bench(hive_cli *cli) {
    if (cli->n_prompt < 1 || cli->n_gen < 1 || cli->reps < 1) {
        fprintf(stderr, "hive-host bench: -p, -n and -r must be at least 1\n");
        return 2;
    }
    if (hive_config_source(cli->cfg, "model.ctx") == HIVE_SRC_DEFAULT) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", cli->n_prompt + cli->n_gen + 16);
        hive_config_set(cli->cfg, "model.ctx", buf, HIVE_SRC_CLI, "bench -p/-n", NULL);
    }
    hive_session s;
    int rc = hive_session_open(cli, &s, 1);
    if (rc) {
        hive_session_close(&s);
        return rc;
    }
    const hive_hparams *hp = hive_engine_hparams(s.eng);
    int32_t *prompt = malloc((size_t)cli->n_prompt * sizeof *prompt);
    int32_t *seqs = calloc((size_t)cli->n_prompt, sizeof *seqs);
    float *logits = malloc((size_t)hp->vocab * sizeof *logits);
    uint64_t rng = 42;
    for (int i = 0; prompt && i < cli->n_prompt; i++) prompt[i] = (int32_t)(lcg(&rng) % hp->vocab);
    double best_pp = 1e30, best_tg = 1e30, best_ttft = 1e30;
    hive_error *err = NULL;
    int32_t seq = 0;
    double attach_ms = 0;
    if (!prompt || !seqs || !logits || hive_engine_seq_new(s.eng, &seq, &err) != HIVE_OK) rc = 1;
    if (!rc && s.have_set) {
        /* a cached expert set attaches without loading anything */
        double ta = now_ms();
        hive_expert_set again;
        size_t n = hive_config_list_len(cli->cfg, "experts.paths");
        const char *paths[HIVE_MAX_ADAPTERS_PER_SET];
        for (size_t i = 0; i < n; i++) paths[i] = hive_config_list_item(cli->cfg, "experts.paths", i);
        if (hive_expert_set_acquire(s.experts, paths, n, &again, &err) != HIVE_OK) rc = 1;
        else {
            if (hive_session_attach(&s, seq, &err) != HIVE_OK) rc = 1;
            attach_ms = now_ms() - ta;
            hive_expert_set_release(&again);
        }
    }
    for (int r = 0; !rc && r < cli->reps; r++) {
        hive_engine_seq_truncate(s.eng, seq, 0, NULL);
        double t0 = now_ms();
        hive_fwd_batch b = {(uint32_t)cli->n_prompt, prompt, seqs, NULL};
        if (hive_engine_forward(s.eng, &b, logits, &err) != HIVE_OK) {
            rc = 1;
            break;
        }
        double t1 = now_ms();
        int32_t tok = 0;
        for (uint32_t v = 1; v < hp->vocab; v++)
            if (logits[v] > logits[tok]) tok = (int32_t)v;
        double ttft = now_ms() - t0;
        double t2 = now_ms();
        for (int i = 0; i < cli->n_gen; i++) {
            hive_fwd_batch one = {1, &tok, &seq, NULL};
            if (hive_engine_forward(s.eng, &one, logits, &err) != HIVE_OK) {
                rc = 1;
                break;
            }
            tok = 0;
            for (uint32_t v = 1; v < hp->vocab; v++)
                if (logits[v] > logits[tok]) tok = (int32_t)v;
        }
        double t3 = now_ms();
        if (t1 - t0 < best_pp) best_pp = t1 - t0;
        if (t3 - t2 < best_tg) best_tg = t3 - t2;
        if (ttft < best_ttft) best_ttft = ttft;
    }
    if (rc) {
        fprintf(stderr, "hive-host bench: %s\n", hive_error_message(err));
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double pp = cli->n_prompt * 1e3 / best_pp, tg = cli->n_gen * 1e3 / best_tg, rss = ru.ru_maxrss / 1024.0;
        if (cli->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", hive_config_str(cli->cfg, "model.path"));
            cJSON_AddStringToObject(o, "backend", s.sel.plugin->name);
            cJSON_AddNumberToObject(o, "threads", (double)hive_config_int(cli->cfg, "threads"));
            cJSON_AddNumberToObject(o, "n_prompt", cli->n_prompt);
            cJSON_AddNumberToObject(o, "n_gen", cli->n_gen);
            cJSON_AddNumberToObject(o, "prefill_tok_s", pp);
            cJSON_AddNumberToObject(o, "decode_tok_s", tg);
            cJSON_AddNumberToObject(o, "ttft_ms", best_ttft);
            cJSON_AddNumberToObject(o, "load_ms", s.load_ms);
            cJSON_AddNumberToObject(o, "peak_rss_mb", rss);
            if (s.have_set) {
                cJSON_AddNumberToObject(o, "experts", (double)hive_config_list_len(cli->cfg, "experts.paths"));
                cJSON_AddNumberToObject(o, "expert_cold_load_ms", s.experts_ms);
                cJSON_AddNumberToObject(o, "expert_cached_attach_ms", attach_ms);
            }
            char *txt = cJSON_PrintUnformatted(o);
            printf("%s\n", txt);
            free(txt);
            cJSON_Delete(o);
        } else {
            printf("backend %s, %s\n", s.sel.plugin->name, s.sel.plugin->devices[s.sel.device].name);
            printf("prefill  pp%-5d %10.1f tok/s\ndecode   tg%-5d %10.1f tok/s\nTTFT            %10.1f ms\n"
                   "load            %10.1f ms\npeak RSS        %10.1f MiB\n",
                   cli->n_prompt, pp, cli->n_gen, tg, best_ttft, s.load_ms, rss);
            if (s.have_set)
                printf("experts         %10zu (cold load %.2f ms, cached attach %.3f ms)\n",
                       hive_config_list_len(cli->cfg, "experts.paths"), s.experts_ms, attach_ms);
        }
    }
    hive_error_free(err);
    free(prompt);
    free(seqs);
    free(logits);
    hive_session_close(&s);
    return rc;
}
