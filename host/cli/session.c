#include "cli/session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/dtype.h"
#include "util/error.h"
#include "util/log.h"

static int fail(hive_error *err, const char *what) {
    fprintf(stderr, "hive-host: %s%s%s\n", what ? what : "", what ? ": " : "", hive_error_message(err));
    hive_error_free(err);
    return 1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int hive_session_open(hive_cli *cli, hive_session *s, uint32_t max_seqs) {
    memset(s, 0, sizeof *s);
    const hive_config *cfg = cli->cfg;
    hive_error *err = NULL;
    double t0 = now_ms();
    const char *path = hive_config_str(cfg, "model.path");
    if (!*path) {
        fprintf(stderr, "hive-host: no model: pass --model PATH (a .gguf file or a Hugging Face directory)\n");
        return 2;
    }
    hive_engine_opts eo;
    hive_engine_opts_default(&eo);
    eo.ctx = (uint32_t)hive_config_int(cfg, "model.ctx");
    eo.max_rows = (uint32_t)hive_config_int(cfg, "model.batch");
    eo.kv_block = (uint32_t)hive_config_int(cfg, "model.kv_block");
    eo.threads = (uint32_t)hive_config_int(cfg, "threads");
    eo.max_seqs = max_seqs;
    const char *kv = hive_config_str(cfg, "model.kv_dtype");
    if (!strcmp(kv, "f16")) eo.kv_dtype = HIVE_DTYPE_F16;
    else if (!strcmp(kv, "f32")) eo.kv_dtype = HIVE_DTYPE_F32;
    else {
        fprintf(stderr, "hive-host: --kv-dtype %s: must be f16 or f32\n", kv);
        return 2;
    }
    const char *wt = hive_config_str(cfg, "model.weights");
    if (strcmp(wt, "native") != 0) {
        int d = hive_dtype_from_name(wt);
        if (d != HIVE_DTYPE_F32 && d != HIVE_DTYPE_BF16 && d != HIVE_DTYPE_F16 && d != HIVE_DTYPE_Q8_0 &&
            d != HIVE_DTYPE_Q4_0 && d != HIVE_DTYPE_Q4_1) {
            fprintf(stderr, "hive-host: --weights %s: must be native, f32, f16, bf16, q8_0, q4_0 or q4_1\n", wt);
            return 2;
        }
        eo.weights_dtype = d;
    }

    if (hive_registry_scan(&s->reg, cfg, &err) != HIVE_OK) return fail(err, NULL);
    if (hive_registry_select_backend(&s->reg, cfg, &s->sel, &err) != HIVE_OK) return fail(err, NULL);
    HLOG_INFO("backend %s, device %u: %s", s->sel.plugin->name, s->sel.device, s->sel.plugin->devices[s->sel.device].name);
    if (hive_model_open(path, &s->model, &err) != HIVE_OK) return fail(err, path);
    if (s->model->vocab.n_tokens == 0) {
        fprintf(stderr, "hive-host: %s: the model has no tokenizer (tokenizer.json or GGUF vocabulary)\n", path);
        return 1;
    }
    if (hive_tokenizer_new(&s->model->vocab, &s->tok, &err) != HIVE_OK) return fail(err, "tokenizer");
    if (hive_engine_new(s->model, &s->sel.plugin->backend, s->sel.device, &eo, &s->eng, &err) != HIVE_OK)
        return fail(err, s->sel.plugin->name);
    s->load_ms = now_ms() - t0;
    HLOG_DEBUG("model loaded in %.0f ms: %.1f MiB of weights, %.1f MiB of KV cache", s->load_ms,
               hive_engine_weight_bytes(s->eng) / 1048576.0, hive_engine_kv_bytes(s->eng) / 1048576.0);
    return 0;
}

void hive_session_close(hive_session *s) {
    hive_engine_free(s->eng); /* before the plugin is unloaded */
    hive_tokenizer_free(s->tok);
    hive_model_close(s->model);
    hive_registry_free(&s->reg);
    memset(s, 0, sizeof *s);
}

void hive_session_gen_params(const hive_config *cfg, hive_gen_params *p) {
    memset(p, 0, sizeof *p);
    hive_sampling *sp = &p->sampling;
    hive_sampling_defaults(sp);
    sp->temperature = (float)hive_config_float(cfg, "sampling.temperature");
    sp->top_k = (int32_t)hive_config_int(cfg, "sampling.top_k");
    sp->top_p = (float)hive_config_float(cfg, "sampling.top_p");
    sp->min_p = (float)hive_config_float(cfg, "sampling.min_p");
    sp->repetition_penalty = (float)hive_config_float(cfg, "sampling.repetition_penalty");
    sp->presence_penalty = (float)hive_config_float(cfg, "sampling.presence_penalty");
    sp->frequency_penalty = (float)hive_config_float(cfg, "sampling.frequency_penalty");
    sp->penalty_last_n = (int32_t)hive_config_int(cfg, "sampling.penalty_last_n");
    int64_t seed = hive_config_int(cfg, "sampling.seed");
    sp->seed = seed < 0 ? HIVE_SEED_RANDOM : (uint64_t)seed;
    p->max_tokens = (uint32_t)hive_config_int(cfg, "sampling.max_tokens");
    static const char *stops[64];
    size_t n = hive_config_list_len(cfg, "sampling.stop");
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) stops[i] = hive_config_list_item(cfg, "sampling.stop", i);
    p->stop = stops;
    p->n_stop = n;
}
