/* `hive-host bench --sched`: the scheduler's view of speed. -b requests of -p
 * random prompt tokens and -n generated tokens each (greedy, EOS ignored) are
 * submitted at once; continuous batching runs them with chunked prefill. With
 * --mix, request i names expert i % n of the --expert packages (rows with
 * different experts share every step). Reports generated tok/s over the whole
 * run, mean and worst TTFT, and steps. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "sched/scheduler.h"
#include "session/session.h"
#include "util/clock.h"
#include "util/error.h"

typedef struct {
    double t_submit, t_first;
    int failed;
} bench_req;

static void on_event(void *ud, const hive_sched_event *ev) {
    bench_req *r = ud;
    if (ev->kind == HIVE_SCHED_TOKEN && !r->t_first) r->t_first = hive_now_ms();
    if (ev->kind == HIVE_SCHED_FINISHED && ev->status != HIVE_OK) {
        fprintf(stderr, "hive-host bench: request failed: %s\n", ev->error ? ev->error : "?");
        r->failed = 1;
    }
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

int hive_cmd_bench_sched(hive_cli *cli) {
    const int P = cli->n_prompt, N = cli->n_gen, B = cli->batch;
    size_t n_exp = hive_config_list_len(cli->cfg, "experts.paths");
    if (n_exp && !cli->mix) {
        fprintf(stderr, "hive-host bench --sched: with --expert, give --mix (request i runs expert i %% n)\n");
        return 2;
    }
    hive_session s;
    hive_session_opts so = {(uint32_t)B, 0, 1};
    int rc = hive_session_open(cli->cfg, &so, &s);
    if (rc) {
        hive_session_close(&s);
        return rc;
    }
    hive_sched_opts o = {(uint32_t)B, 0, (uint32_t)hive_config_int(cli->cfg, "server.prefill_chunk"), 0};
    hive_sched *sc = NULL;
    hive_error *err = NULL;
    uint32_t V = hive_engine_hparams(s.eng)->vocab;
    int32_t *prompt = malloc((size_t)P * sizeof *prompt);
    bench_req *reqs = calloc((size_t)B, sizeof *reqs);
    uint64_t rng = 42;
    if (!prompt || !reqs || hive_sched_new(&s, &o, &sc, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host bench: %s\n", err ? hive_error_message(err) : "out of memory");
        rc = 1;
    }
    hive_expert_specs specs = {0}; /* --expert PATH:W */
    if (!rc) rc = hive_session_expert_specs(cli->cfg, &specs);
    double t0 = hive_now_ms();
    for (int b = 0; !rc && b < B; b++) {
        for (int i = 0; i < P; i++) prompt[i] = (int32_t)(lcg(&rng) % V);
        const char *path = n_exp ? specs.paths[(size_t)b % n_exp] : NULL;
        hive_sched_request q;
        memset(&q, 0, sizeof q);
        q.prompt = prompt;
        q.n_prompt = (size_t)P;
        q.experts = path ? &path : NULL;
        q.expert_weights = path ? &specs.weights[(size_t)b % n_exp] : NULL;
        q.n_experts = path ? 1 : 0;
        hive_sampling_defaults(&q.params.sampling);
        q.params.sampling.temperature = 0;
        q.params.max_tokens = (uint32_t)N;
        q.params.n = 1;
        q.params.ignore_eos = 1;
        q.cb = on_event;
        q.ud = &reqs[b];
        reqs[b].t_submit = hive_now_ms();
        if (hive_sched_submit(sc, &q, NULL, &err) != HIVE_SCHED_ACCEPTED) {
            fprintf(stderr, "hive-host bench: %s\n", hive_error_message(err));
            rc = 1;
        }
    }
    while (!rc && !hive_sched_idle(sc)) hive_sched_step(sc);
    double total = hive_now_ms() - t0, ttft_sum = 0, ttft_max = 0;
    for (int b = 0; !rc && b < B; b++) {
        if (reqs[b].failed) rc = 1;
        double t = reqs[b].t_first - reqs[b].t_submit;
        ttft_sum += t;
        if (t > ttft_max) ttft_max = t;
    }
    if (!rc) {
        hive_sched_stats st;
        hive_sched_get_stats(sc, &st);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double tok_s = (double)B * N * 1e3 / total;
        if (cli->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "mode", "sched");
            cJSON_AddStringToObject(j, "backend", s.sel.plugin->name);
            cJSON_AddNumberToObject(j, "requests", B);
            cJSON_AddNumberToObject(j, "n_prompt", P);
            cJSON_AddNumberToObject(j, "n_gen", N);
            cJSON_AddNumberToObject(j, "experts", (double)n_exp);
            cJSON_AddNumberToObject(j, "generated_tok_s", tok_s);
            cJSON_AddNumberToObject(j, "total_ms", total);
            cJSON_AddNumberToObject(j, "ttft_mean_ms", ttft_sum / B);
            cJSON_AddNumberToObject(j, "ttft_max_ms", ttft_max);
            cJSON_AddNumberToObject(j, "steps", (double)st.steps);
            cJSON_AddNumberToObject(j, "peak_rss_mb", ru.ru_maxrss / 1024.0);
            char *txt = cJSON_PrintUnformatted(j);
            printf("%s\n", txt);
            free(txt);
            cJSON_Delete(j);
        } else {
            printf("backend %s, scheduler: %d requests of %d prompt + %d generated tokens%s\n", s.sel.plugin->name, B, P,
                   N, n_exp ? ", mixed experts" : "");
            printf("generated       %10.1f tok/s (all requests, %.0f ms)\nTTFT            %10.1f ms mean, %.1f ms worst\n"
                   "steps           %10llu\npeak RSS        %10.1f MiB\n",
                   tok_s, total, ttft_sum / B, ttft_max, (unsigned long long)st.steps, ru.ru_maxrss / 1024.0);
        }
        hive_sched_stats_free(&st);
    }
    hive_error_free(err);
    hive_sched_free(sc);
    hive_expert_specs_free(&specs);
    free(prompt);
    free(reqs);
    hive_session_close(&s);
    return rc;
}
