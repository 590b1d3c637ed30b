/* `hive-host bench`: prefill and decode speed on random tokens. Speed is a
 * benchmark, not a test: scripts/bench/ runs peers beside it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "experts/manifest.h"
#include "experts/package.h"
#include "session/session.h"
#include "util/clock.h"
#include "util/error.h"

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* The soft-prompt rows the --expert packages put in front of a sequence (the
 * most any base in a manifest lists: a set holds one soft prompt at most),
 * read before the engine is sized; what cannot be read is reported when the
 * session loads the experts. */
static uint32_t expert_virtual_tokens(const hive_config *cfg) {
    hive_expert_specs specs;
    if (!hive_config_list_len(cfg, "experts.paths") || hive_session_expert_specs(cfg, &specs)) return 0;
    int64_t most = 0;
    for (size_t i = 0; i < specs.n; i++) {
        hive_expert_pkg pkg;
        hive_manifest m;
        hive_problems probs = {0};
        hive_error *err = NULL;
        memset(&m, 0, sizeof m);
        if (hive_expert_pkg_open(specs.paths[i], NULL, &pkg, &err) != HIVE_OK) {
            hive_error_free(err);
            continue;
        }
        if (hive_manifest_load(pkg.dir, pkg.manifest, &m, &probs, &err) == HIVE_OK)
            for (size_t b = 0; b < m.n_bases; b++)
                for (size_t a = 0; a < m.bases[b].n_adapters; a++)
                    if (m.bases[b].adapters[a].num_virtual_tokens > most) most = m.bases[b].adapters[a].num_virtual_tokens;
        hive_error_free(err);
        hive_manifest_free(&m);
        hive_problems_free(&probs);
        hive_expert_pkg_close(&pkg);
    }
    hive_expert_specs_free(&specs);
    return most > 0 && most < (1 << 20) ? (uint32_t)most : 0;
}

/* Attach experts: all to every sequence, or with --mix expert i % n to
 * sequence i (a batch whose rows carry different experts). The first attach
 * of a set with a soft prompt computes its virtual tokens' KV, later ones
 * share it: *first_ms is the first, *attach_ms the mean of the others (with
 * one sequence, it is attached a second time to measure one). */
static int attach_all(hive_cli *cli, hive_session *s, const int32_t *seq, int B, hive_adapter_set *mixed,
                      double *first_ms, double *attach_ms, hive_error **err) {
    if (!s->have_set) return 0;
    if (cli->mix && s->merged) {
        fprintf(stderr, "hive-host bench: --mix and --merge exclude each other\n");
        return 2;
    }
    int n = B > 1 ? B : 2;
    double t0 = hive_now_ms(), t1 = t0;
    for (int i = 0; i < n; i++) {
        int b = i % B;
        hive_status st;
        if (cli->mix) {
            hive_expert *x = s->set.members[(size_t)b % s->set.n];
            hive_adapter_set *set = &mixed[(size_t)b % s->set.n];
            if (i == b && b < (int)s->set.n && (st = hive_expert_compose(&x, 1, set, err)) != HIVE_OK) return 1;
            st = hive_engine_seq_set_adapters(s->eng, seq[b], set, err);
        } else {
            st = hive_session_attach(s, seq[b], err);
        }
        if (st != HIVE_OK) return 1;
        if (i == 0) t1 = hive_now_ms(), *first_ms = t1 - t0;
    }
    *attach_ms = (hive_now_ms() - t1) / (n - 1);
    return 0;
}

int hive_cmd_bench(hive_cli *cli) {
    const char *draft = hive_config_str(cli->cfg, "speculative.draft");
    /* --draft D, or --draft-model M alone (it implies --draft model); a lone
     * --draft-weights goes there too, to be refused */
    int draft_flags = *hive_config_str(cli->cfg, "speculative.draft_model") ||
                      strcmp(hive_config_str(cli->cfg, "speculative.draft_weights"), "native") != 0;
    if (*draft ? strcmp(draft, "none") != 0 : draft_flags) return hive_cmd_bench_spec(cli);
    if (hive_cli_grammar_flags(cli->cfg)) return hive_cmd_bench_spec(cli); /* decoding with and without it */
    if (hive_config_list_len(cli->cfg, "server.expert_dirs")) return hive_cmd_bench_experts(cli);
    const int P = cli->n_prompt, N = cli->n_gen, B = cli->batch;
    if (P < 1 || N < 1 || cli->reps < 1 || B < 1) {
        fprintf(stderr, "hive-host bench: -p, -n, -r and -b must be at least 1\n");
        return 2;
    }
    char buf[32];
    if (cli->depth < 0) {
        fprintf(stderr, "hive-host bench: -d must be >= 0\n");
        return 2;
    }
    if (hive_config_source(cli->cfg, "model.ctx") == HIVE_SRC_DEFAULT) {
        /* a soft prompt's virtual tokens take context too */
        uint32_t nv = expert_virtual_tokens(cli->cfg);
        snprintf(buf, sizeof buf, "%d", (P > cli->depth + N ? P : cli->depth + N) + 16 + (int)nv);
        hive_config_set(cli->cfg, "model.ctx", buf, HIVE_SRC_CLI, "bench -p/-n", NULL);
    }
    if (B > 1 && hive_config_source(cli->cfg, "model.batch") == HIVE_SRC_DEFAULT && B > 512) {
        snprintf(buf, sizeof buf, "%d", B);
        hive_config_set(cli->cfg, "model.batch", buf, HIVE_SRC_CLI, "bench -b", NULL);
    }
    if (cli->sched) return hive_cmd_bench_sched(cli);
    hive_session s;
    /* bench feeds token ids: a random-weight benchmark model needs no tokenizer */
    hive_session_opts so = {(uint32_t)B, 0, 0};
    int rc = hive_session_open(cli->cfg, &so, &s);
    if (rc) {
        hive_session_close(&s);
        return rc;
    }
    const hive_hparams *hp = hive_engine_hparams(s.eng);
    const uint32_t V = hp->vocab;
    int32_t *prompt = malloc((size_t)B * P * sizeof *prompt), *rows_seq = malloc((size_t)B * P * sizeof *rows_seq);
    int32_t *tok = malloc((size_t)B * sizeof *tok), *seq = malloc((size_t)B * sizeof *seq);
    int32_t *next = malloc((size_t)B * sizeof *next);
    uint8_t *want = calloc((size_t)B * P, 1), *every_row = malloc((size_t)B);
    float *logits = malloc((size_t)V * sizeof *logits); /* the context fill's last row; steps take argmax ids */
    hive_adapter_set *mixed = calloc(HIVE_MAX_ADAPTERS_PER_SET, sizeof *mixed);
    uint64_t rng = 42;
    hive_error *err = NULL;
    double best_pp = 1e30, best_tg = 1e30, best_ttft = 1e30, attach_ms = 0, first_attach_ms = 0;
    if (!prompt || !rows_seq || !tok || !next || !seq || !want || !every_row || !logits || !mixed) rc = 1;
    else memset(every_row, 1, (size_t)B);
    for (int b = 0; !rc && b < B; b++)
        if (hive_engine_seq_new(s.eng, &seq[b], &err) != HIVE_OK) rc = 1;
    if (!rc) rc = attach_all(cli, &s, seq, B, mixed, &first_attach_ms, &attach_ms, &err);
    /* B prompts of P random tokens, sequence after sequence; logits at each one's last row */
    for (int b = 0; !rc && b < B; b++)
        for (int i = 0; i < P; i++) {
            prompt[b * P + i] = (int32_t)(lcg(&rng) % V);
            rows_seq[b * P + i] = seq[b];
            want[b * P + i] = i == P - 1;
        }
    /* As llama-bench: prefill (ppP) and decode (tgN) are separate tests;
     * decode starts from a context of -d tokens (default 0, empty). */
    const int D = cli->depth;
    int32_t *ctx_tok = malloc((size_t)B * (D > 0 ? D : 1) * sizeof *ctx_tok);
    int32_t *ctx_seq = malloc((size_t)B * (D > 0 ? D : 1) * sizeof *ctx_seq);
    if (!ctx_tok || !ctx_seq) rc = 1;
    for (int b = 0; !rc && b < B; b++)
        for (int i = 0; i < D; i++) ctx_tok[b * D + i] = (int32_t)(lcg(&rng) % V), ctx_seq[b * D + i] = seq[b];
    /* As llama-bench: one untimed prefill and decode step first, so one-time
     * costs (oneDNN compiling a kernel for a new shape, first-touch pages)
     * are not counted as speed */
    if (!rc) {
        hive_fwd_batch pre = {(uint32_t)(B * P), prompt, rows_seq, want, next};
        hive_fwd_batch step = {(uint32_t)B, next, seq, every_row, tok};
        if (hive_engine_forward(s.eng, &pre, logits, &err) != HIVE_OK ||
            hive_engine_forward(s.eng, &step, logits, &err) != HIVE_OK)
            rc = 1;
    }
    for (int r = 0; !rc && r < cli->reps; r++) {
        for (int b = 0; b < B; b++) hive_engine_seq_truncate(s.eng, seq[b], 0, NULL);
        double t0 = hive_now_ms();
        /* greedy, as the peers: the argmax runs on the device, only ids come back */
        hive_fwd_batch pre = {(uint32_t)(B * P), prompt, rows_seq, want, next};
        if (hive_engine_forward(s.eng, &pre, logits, &err) != HIVE_OK) {
            rc = 1;
            break;
        }
        double t1 = hive_now_ms();
        memcpy(tok, next, (size_t)B * sizeof *tok);
        double ttft = hive_now_ms() - t0;
        /* decode test: fresh sequences holding D context tokens (not timed) */
        for (int b = 0; b < B; b++) hive_engine_seq_truncate(s.eng, seq[b], 0, NULL);
        if (D > 0) {
            hive_fwd_batch ctx = {(uint32_t)(B * D), ctx_tok, ctx_seq, NULL, NULL};
            if (hive_engine_forward(s.eng, &ctx, logits, &err) != HIVE_OK) {
                rc = 1;
                break;
            }
        }
        double t2 = hive_now_ms();
        for (int i = 0; i < N; i++) {
            hive_fwd_batch step = {(uint32_t)B, tok, seq, every_row, next};
            if (hive_engine_forward(s.eng, &step, logits, &err) != HIVE_OK) {
                rc = 1;
                break;
            }
            memcpy(tok, next, (size_t)B * sizeof *tok);
        }
        double t3 = hive_now_ms();
        if (t1 - t0 < best_pp) best_pp = t1 - t0;
        if (t3 - t2 < best_tg) best_tg = t3 - t2;
        if (ttft < best_ttft) best_ttft = ttft;
    }
    free(ctx_tok);
    free(ctx_seq);
    if (rc) {
        if (err) fprintf(stderr, "hive-host bench: %s\n", hive_error_message(err));
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double pp = (double)B * P * 1e3 / best_pp, tg = (double)B * N * 1e3 / best_tg, rss = ru.ru_maxrss / 1024.0;
        size_t n_exp = hive_config_list_len(cli->cfg, "experts.paths");
        /* which way LoRA deltas ran: one segmented backend call per linear, or a hook per segment */
        const char *lora_path = hive_engine_lora_batched_calls(s.eng) ? "segmented" : "per-segment hooks";
        uint64_t g_cap = 0, g_rep = 0;
        hive_engine_graph_stats(s.eng, &g_cap, &g_rep);
        hive_soft_prompt_stats sp;
        hive_engine_soft_prompt_stats(s.eng, &sp);
        hive_kv_tier_stats kv_tiers;
        hive_engine_kv_tier_stats(s.eng, &kv_tiers);
        if (cli->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", hive_config_str(cli->cfg, "model.path"));
            cJSON_AddStringToObject(o, "backend", s.sel.plugin->name);
            cJSON_AddStringToObject(o, "device", s.sel.plugin->devices[s.sel.device].name);
            cJSON_AddStringToObject(o, "weights", hive_config_str(cli->cfg, "model.weights"));
            cJSON_AddNumberToObject(o, "threads", (double)hive_config_int(cli->cfg, "threads"));
            cJSON_AddNumberToObject(o, "batch", B);
            cJSON_AddNumberToObject(o, "n_prompt", P);
            cJSON_AddNumberToObject(o, "n_gen", N);
            cJSON_AddNumberToObject(o, "depth", D);
            cJSON_AddNumberToObject(o, "prefill_tok_s", pp);
            cJSON_AddNumberToObject(o, "decode_tok_s", tg);
            cJSON_AddNumberToObject(o, "ttft_ms", best_ttft);
            cJSON_AddNumberToObject(o, "load_ms", s.load_ms);
            cJSON_AddNumberToObject(o, "peak_rss_mb", rss);
            /* what the engine allocated: `info --json` predicts these (memory.kv_bytes at -b 1, ctx) */
            cJSON_AddNumberToObject(o, "kv_bytes", (double)hive_engine_kv_bytes(s.eng));
            cJSON_AddStringToObject(o, "kv_dtype", hive_config_str(cli->cfg, "model.kv_dtype")); /* "K,V" or one type */
            if (kv_tiers.store_pages) { /* --kv-tail: the f16 tail's pages, the store's, pages migrated */
                cJSON_AddNumberToObject(o, "kv_tail", (double)hive_config_int(cli->cfg, "model.kv_tail"));
                cJSON_AddNumberToObject(o, "kv_tail_pages", kv_tiers.tail_pages);
                cJSON_AddNumberToObject(o, "kv_store_pages", kv_tiers.store_pages);
                cJSON_AddNumberToObject(o, "kv_migrations", (double)kv_tiers.migrations);
            }
            cJSON_AddNumberToObject(o, "state_bytes_per_sequence", (double)hive_engine_state_bytes(s.eng));
            if (s.have_set) {
                cJSON_AddNumberToObject(o, "experts", (double)n_exp);
                cJSON_AddBoolToObject(o, "mixed_experts", cli->mix);
                cJSON_AddNumberToObject(o, "expert_cold_load_ms", s.experts_ms);
                cJSON_AddNumberToObject(o, "expert_first_attach_ms", first_attach_ms);
                cJSON_AddNumberToObject(o, "expert_cached_attach_ms", attach_ms);
                cJSON_AddStringToObject(o, "lora_path", lora_path);
                /* attaches that ran the virtual tokens / took the shared KV */
                cJSON_AddNumberToObject(o, "soft_prompt_prefills", (double)sp.prefills);
                cJSON_AddNumberToObject(o, "soft_prompt_shared_attaches", (double)sp.shared_attaches);
            }
            cJSON_AddNumberToObject(o, "graphs_captured", (double)g_cap);
            cJSON_AddNumberToObject(o, "graph_replays", (double)g_rep);
            char *txt = cJSON_PrintUnformatted(o);
            printf("%s\n", txt);
            free(txt);
            cJSON_Delete(o);
        } else {
            printf("backend %s, %s, batch %d\n", s.sel.plugin->name, s.sel.plugin->devices[s.sel.device].name, B);
            printf("prefill  pp%-5d %10.1f tok/s\ndecode   tg%-5d %10.1f tok/s (from depth %d)\n"
                   "TTFT            %10.1f ms\nload            %10.1f ms\npeak RSS        %10.1f MiB\n",
                   P, pp, N, tg, D, best_ttft, s.load_ms, rss);
            printf("KV cache        %10.1f MiB (%s)\n", hive_engine_kv_bytes(s.eng) / 1048576.0,
                   hive_config_str(cli->cfg, "model.kv_dtype"));
            if (kv_tiers.store_pages)
                printf("KV tiers        %10u f16 tail pages (--kv-tail %lld) + %u store pages, %llu migrated\n",
                       kv_tiers.tail_pages, (long long)hive_config_int(cli->cfg, "model.kv_tail"), kv_tiers.store_pages,
                       (unsigned long long)kv_tiers.migrations);
            if (g_cap || g_rep)
                printf("decode graphs   %10llu captured, %llu replays\n", (unsigned long long)g_cap,
                       (unsigned long long)g_rep);
            if (s.have_set)
                printf("experts         %10zu%s (cold load %.2f ms, first attach %.3f ms, then cached attach %.3f ms "
                       "per sequence; LoRA: %s)\n",
                       n_exp, cli->mix ? " mixed, one per sequence" : "", s.experts_ms, first_attach_ms, attach_ms,
                       lora_path);
            if (sp.prefills || sp.shared_attaches)
                printf("soft prompt     %10llu prefill(s) of its virtual tokens, %llu attach(es) sharing their KV\n",
                       (unsigned long long)sp.prefills, (unsigned long long)sp.shared_attaches);
        }
    }
    hive_error_free(err);
    free(prompt);
    free(rows_seq);
    free(tok);
    free(next);
    free(seq);
    free(want);
    free(every_row);
    free(logits);
    free(mixed);
    hive_session_close(&s);
    return rc;
}
