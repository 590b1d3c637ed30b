#include "session/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/speculate.h"
#include "experts/draft_corpus.h"
#include "experts/decoding.h"
#include "experts/manifest.h"
#include "experts/package.h"
#include "util/dtype.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

static int fail(hive_error *err, const char *what) {
    fprintf(stderr, "hive-host: %s%s%s\n", what ? what : "", what ? ": " : "", hive_error_message(err));
    hive_error_free(err);
    return 1;
}

int hive_session_apply_manifests(hive_config *cfg) {
    hive_expert_specs specs;
    int rc = hive_session_expert_specs(cfg, &specs);
    for (size_t i = 0; !rc && i < specs.n; i++) {
        const char *path = specs.paths[i];
        hive_expert_pkg pkg;
        hive_manifest m;
        hive_problems probs = {0};
        hive_error *err = NULL;
        memset(&m, 0, sizeof m);
        if (hive_expert_pkg_open(path, NULL, &pkg, &err) != HIVE_OK) {
            rc = fail(err, path);
            break;
        }
        hive_status st = hive_manifest_load(pkg.dir, pkg.manifest, &m, &probs, &err);
        if (st == HIVE_OK) st = hive_manifest_apply_decoding(&m, cfg, &err);
        hive_manifest_free(&m);
        hive_problems_free(&probs);
        hive_expert_pkg_close(&pkg);
        if (st != HIVE_OK) rc = fail(err, path);
    }
    hive_expert_specs_free(&specs);
    return rc;
}

/* Load --expert packages (at their weights) through the adapter plugins,
 * compose them in order, and with --merge fold a single expert into the base
 * weights. */
static int open_experts(const hive_config *cfg, const hive_session_opts *o, hive_session *s) {
    size_t n = hive_config_list_len(cfg, "experts.paths");
    if (!n && !o->per_request_experts) return 0;
    hive_error *err = NULL;
    hive_expert_specs specs;
    int rc = hive_session_expert_specs(cfg, &specs);
    if (rc) return rc;
    double t0 = hive_now_ms();
    hive_expert_target_init(&s->target, &s->reg, s->eng, s->model);
    s->target.strict_base = hive_config_bool(cfg, "experts.strict_base");
    uint64_t budget = (uint64_t)hive_config_int(cfg, "experts.cache_mb") << 20;
    if (hive_expert_cache_new(budget, &s->target, &s->experts, &err) != HIVE_OK) rc = fail(err, "experts");
    else hive_expert_cache_set_max_experts(s->experts, (uint32_t)hive_config_int(cfg, "experts.cache_max"));
    /* serve: each request acquires its own set */
    if (!rc && !o->per_request_experts &&
        hive_expert_set_acquire_weighted(s->experts, (const char *const *)specs.paths, specs.weights, n, &s->set, &err) !=
            HIVE_OK)
        rc = fail(err, NULL);
    char first[1024];
    snprintf(first, sizeof first, "%s", n ? specs.paths[0] : "");
    hive_expert_specs_free(&specs);
    if (rc || o->per_request_experts) return rc;
    s->have_set = 1;
    s->experts_ms = hive_now_ms() - t0;
    HLOG_INFO("%zu expert(s) loaded in %.1f ms", n, s->experts_ms);
    if (!hive_config_bool(cfg, "experts.merge")) return 0;
    if (n != 1) {
        fprintf(stderr, "hive-host: --merge folds exactly one expert into the base weights (%zu given)\n", n);
        return 2;
    }
    for (uint32_t i = 0; i < s->set.set.n; i++) {
        hive_adapter_ref *r = &s->set.set.refs[i];
        if (!r->api->merge) {
            fprintf(stderr, "hive-host: --merge: adapter %u of %s cannot be merged (a soft prompt is not a weight "
                            "change); run without --merge\n", i, first);
            return 1;
        }
        if (r->api->merge(r->adapter, &err) != HIVE_OK) return fail(err, "--merge");
    }
    s->merged = 1;
    HLOG_INFO("%s merged into the base weights", first);
    return 0;
}

hive_status hive_session_attach(hive_session *s, int32_t seq, hive_error **err) {
    return hive_engine_seq_set_adapters(s->eng, seq, s->have_set && !s->merged ? &s->set.set : NULL, err);
}

int hive_session_weights_dtype(const char *flag, const char *name, int32_t *dtype) {
    *dtype = -1;
    if (!strcmp(name, "native")) return 0;
    int d = hive_dtype_from_name(name);
    if (d != HIVE_DTYPE_F32 && d != HIVE_DTYPE_BF16 && d != HIVE_DTYPE_F16 && d != HIVE_DTYPE_Q8_0 &&
        d != HIVE_DTYPE_Q4_0 && d != HIVE_DTYPE_Q4_1) {
        fprintf(stderr, "hive-host: %s %s: must be native, f32, f16, bf16, q8_0, q4_0 or q4_1\n", flag, name);
        return 2;
    }
    *dtype = d;
    return 0;
}

int hive_session_engine_opts(const hive_config *cfg, const hive_session_opts *o, hive_engine_opts *eo_out) {
    hive_engine_opts eo;
    hive_engine_opts_default(&eo);
    eo.ctx = (uint32_t)hive_config_int(cfg, "model.ctx");
    eo.max_rows = (uint32_t)hive_config_int(cfg, "model.batch");
    eo.kv_block = (uint32_t)hive_config_int(cfg, "model.kv_block");
    eo.threads = (uint32_t)hive_config_int(cfg, "threads");
    eo.max_seqs = o->max_seqs;
    /* without experts, keep a GGUF's own q/k layout: llama.cpp's arithmetic */
    eo.qk_hf_order = hive_config_list_len(cfg, "experts.paths") > 0 || o->per_request_experts;
    eo.batched_lora = hive_config_bool(cfg, "experts.batched_lora");
    eo.graphs = hive_config_bool(cfg, "backend.graphs");
    snprintf(eo.rope.scaling, sizeof eo.rope.scaling, "%.15s", hive_config_str(cfg, "rope.scaling"));
    eo.rope.factor = (float)hive_config_float(cfg, "rope.scale");
    eo.rope.freq_base = (float)hive_config_float(cfg, "rope.freq_base");
    eo.rope.orig_ctx = (uint32_t)hive_config_int(cfg, "rope.yarn_orig_ctx");
    eo.rope.beta_fast = (float)hive_config_float(cfg, "rope.yarn_beta_fast");
    eo.rope.beta_slow = (float)hive_config_float(cfg, "rope.yarn_beta_slow");
    eo.rope.attn_mult = (float)hive_config_float(cfg, "rope.yarn_attn_factor");
    if (eo.rope.scaling[0] && !hive_rope_type_known(hive_config_str(cfg, "rope.scaling"))) {
        fprintf(stderr, "hive-host: --rope-scaling %s: unknown RoPE scaling type; supported: %s\n",
                hive_config_str(cfg, "rope.scaling"), HIVE_ROPE_TYPES);
        return 2;
    }
    uint32_t kv_v;
    char why[160];
    if (hive_engine_kv_dtypes_parse(hive_config_str(cfg, "model.kv_dtype"), &eo.kv_dtype, &kv_v, why, sizeof why)) {
        fprintf(stderr, "hive-host: --kv-dtype %s\n", why);
        return 2;
    }
    eo.kv_v_dtype = (int32_t)kv_v;
    eo.kv_tail = (uint32_t)hive_config_int(cfg, "model.kv_tail");
    if (eo.kv_tail && ((eo.kv_dtype != HIVE_DTYPE_Q8_0 && eo.kv_dtype != HIVE_DTYPE_Q4_0) ||
                       (kv_v != HIVE_DTYPE_Q8_0 && kv_v != HIVE_DTYPE_Q4_0))) {
        fprintf(stderr, "hive-host: --kv-tail %u keeps the last tokens f16 and stores older ones as --kv-dtype, which "
                        "must then be q8_0 or q4_0 (for K and V), not %s\n",
                eo.kv_tail, hive_config_str(cfg, "model.kv_dtype"));
        return 2;
    }
    int32_t wd;
    int rc = hive_session_weights_dtype("--weights", hive_config_str(cfg, "model.weights"), &wd);
    if (rc) return rc;
    if (wd >= 0) eo.weights_dtype = wd;
    *eo_out = eo;
    return 0;
}

int hive_session_open(hive_config *cfg, const hive_session_opts *o, hive_session *s) {
    memset(s, 0, sizeof *s);
    int rc_experts;
    /* experts' decoding defaults sit below the command line (serve: per request) */
    if (!o->per_request_experts && (rc_experts = hive_session_apply_manifests(cfg)) != 0) return rc_experts;
    hive_error *err = NULL;
    double t0 = hive_now_ms();
    const char *path = hive_config_str(cfg, "model.path");
    if (!*path) {
        fprintf(stderr, "hive-host: no model: pass --model PATH (a .gguf file or a Hugging Face directory)\n");
        return 2;
    }
    hive_engine_opts eo;
    int rc_opts = hive_session_engine_opts(cfg, o, &eo);
    if (rc_opts) return rc_opts;

    if (hive_registry_scan(&s->reg, cfg, &err) != HIVE_OK) return fail(err, NULL);
    hive_registry_warn_rejected(&s->reg);
    if (hive_registry_select_backend(&s->reg, cfg, &s->sel, &err) != HIVE_OK) return fail(err, NULL);
    HLOG_INFO("backend %s, device %u: %s", s->sel.plugin->name, s->sel.device, s->sel.plugin->devices[s->sel.device].name);
    if (hive_model_open(path, &s->model, &err) != HIVE_OK) return fail(err, path);
    /* bench feeds token ids: a random-weight benchmark model needs no tokenizer */
    if (s->model->vocab.n_tokens == 0 && o->need_tokenizer) {
        fprintf(stderr, "hive-host: %s: the model has no tokenizer (tokenizer.json or GGUF vocabulary)\n", path);
        return 1;
    }
    if (s->model->vocab.n_tokens && hive_tokenizer_new(&s->model->vocab, &s->tok, &err) != HIVE_OK)
        return fail(err, "tokenizer");
    if ((uint32_t)eo.kv_v_dtype != eo.kv_dtype && s->sel.plugin->agreed_minor < 6) { /* it would not see V's type */
        fprintf(stderr, "hive-host: --kv-dtype %s: backend %s speaks ABI 1.%u; K and V of different types need 1.6\n",
                hive_config_str(cfg, "model.kv_dtype"), s->sel.plugin->name, s->sel.plugin->agreed_minor);
        return 2;
    }
    if (eo.kv_tail && s->sel.plugin->agreed_minor < 9) { /* it would not see the store tier */
        fprintf(stderr, "hive-host: --kv-tail %u: backend %s speaks ABI 1.%u; a two-tier KV cache needs 1.9\n",
                eo.kv_tail, s->sel.plugin->name, s->sel.plugin->agreed_minor);
        return 2;
    }
    if (hive_engine_new(s->model, &s->sel.plugin->backend, s->sel.device, &eo, &s->eng, &err) != HIVE_OK)
        return fail(err, s->sel.plugin->name);
    s->load_ms = hive_now_ms() - t0;
    if ((rc_experts = open_experts(cfg, o, s)) != 0) return rc_experts;
    HLOG_DEBUG("model loaded in %.0f ms: %.1f MiB of weights, %.1f MiB of KV cache", s->load_ms,
               hive_engine_weight_bytes(s->eng) / 1048576.0, hive_engine_kv_bytes(s->eng) / 1048576.0);
    return 0;
}

void hive_session_close(hive_session *s) {
    /* adapters hold device memory: release them before the engine's device */
    if (s->have_set) hive_expert_set_release(&s->set);
    hive_expert_cache_free(s->experts);
    free(s->draft_corpus);
    hive_engine_free(s->draft_eng); /* before the plugin is unloaded */
    hive_model_close(s->draft_model);
    hive_engine_free(s->eng); /* before the plugin is unloaded */
    hive_tokenizer_free(s->tok);
    hive_model_close(s->model);
    hive_registry_free(&s->reg);
    memset(s, 0, sizeof *s);
}

void hive_session_sampling(const hive_config *cfg, hive_sampling *sp, uint32_t *max_tokens) {
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
    *max_tokens = (uint32_t)hive_config_int(cfg, "sampling.max_tokens");
}

void hive_session_gen_params(const hive_config *cfg, hive_gen_params *p) {
    memset(p, 0, sizeof *p);
    hive_session_sampling(cfg, &p->sampling, &p->max_tokens);
    static const char *stops[64];
    size_t n = hive_config_list_len(cfg, "sampling.stop");
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) stops[i] = hive_config_list_item(cfg, "sampling.stop", i);
    p->stop = stops;
    p->n_stop = n;
}

int hive_session_open_speculative(hive_config *cfg, hive_session *s, hive_spec_opts *spec) {
    int rc = hive_session_spec_opts(cfg, NULL, spec); /* a bad --draft before any loading */
    if (rc) return rc;
    hive_session_opts so = {hive_session_seqs_for(cfg, 1), 1, 0};
    rc = hive_session_open(cfg, &so, s);
    if (!rc) rc = hive_session_spec_opts(cfg, s, spec);
    if (!rc && spec->kind == HIVE_DRAFT_MODEL) rc = hive_session_open_draft(cfg, s);
    if (rc) hive_session_close(s);
    return rc;
}

hive_status hive_draft_corpus_read(const hive_tokenizer *tok, const char *path, int32_t **ids, size_t *n,
                                   hive_error **err) {
    *ids = NULL, *n = 0;
    char *text = NULL;
    size_t len = 0;
    hive_status st = hive_draft_corpus_text(path, &text, &len, err);
    if (st == HIVE_OK && tok) st = hive_tokenizer_encode(tok, text, len, 0, 0, ids, n, err);
    free(text);
    return st;
}

/* "--draft-corpus", or for a manifest's default, the field that named it */
static void corpus_origin(const hive_config *cfg, char *buf, size_t cap) {
    if (hive_config_source(cfg, "speculative.draft_corpus") == HIVE_SRC_MANIFEST)
        snprintf(buf, cap, "%s: training.decoding.draft_corpus", hive_config_origin(cfg, "speculative.draft_corpus"));
    else snprintf(buf, cap, "--draft-corpus");
}

/* the corpus file lookup reads, NULL for none */
static const char *corpus_path(const hive_config *cfg) {
    return hive_draft_corpus_path(hive_config_str(cfg, "speculative.draft_corpus"));
}

int hive_session_load_draft_corpus(const hive_config *cfg, hive_session *s) {
    const char *path = corpus_path(cfg);
    if (!path) return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    hive_error *err = NULL;
    /* without a session, checked; tokenized once the model is loaded */
    if (hive_draft_corpus_read(s ? s->tok : NULL, path, &ids, &n, &err) != HIVE_OK) {
        char what[1200];
        corpus_origin(cfg, what, sizeof what);
        fprintf(stderr, "hive-host: %s %s: %s\n", what, path, hive_error_message(err));
        hive_error_free(err);
        return 2;
    }
    if (s && s->tok) {
        free(s->draft_corpus);
        s->draft_corpus = ids, s->n_draft_corpus = n;
    }
    return 0;
}

/* --draft-corpus with the drafter that reads it; o points at the session's
 * tokens. An expert's manifest names its corpus as a default for lookup: it
 * applies only when the drafter is lookup. */
static int spec_draft_corpus(const hive_config *cfg, hive_session *s, hive_spec_opts *o) {
    const char *path = corpus_path(cfg);
    if (!path) return 0;
    if (o->kind != HIVE_DRAFT_LOOKUP) {
        if (hive_config_source(cfg, "speculative.draft_corpus") == HIVE_SRC_MANIFEST) return 0;
        fprintf(stderr, "hive-host: --draft-corpus %s goes with --draft lookup (the n-gram drafter)\n", path);
        return 2;
    }
    int rc = hive_session_load_draft_corpus(cfg, s);
    if (!rc && s) o->corpus = s->draft_corpus, o->n_corpus = s->n_draft_corpus;
    return rc;
}

int hive_session_spec_opts(const hive_config *cfg, hive_session *s, hive_spec_opts *o) {
    hive_error *err = NULL;
    const char *draft = hive_config_str(cfg, "speculative.draft");
    const char *model = hive_config_str(cfg, "speculative.draft_model");
    const char *weights = hive_config_str(cfg, "speculative.draft_weights");
    /* --draft-model M alone is enough to ask for its drafting */
    if (!*draft && *model) draft = "model";
    if (hive_spec_parse(draft, (uint32_t)hive_config_int(cfg, "speculative.draft_max"), o, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 2;
    }
    if (o->kind == HIVE_DRAFT_MODEL && !*model) {
        fprintf(stderr, "hive-host: --draft model drafts with a second model: give it with --draft-model PATH (a .gguf "
                        "file or a Hugging Face directory with the target's vocabulary)\n");
        return 2;
    }
    if (*model && o->kind != HIVE_DRAFT_MODEL && strcmp(draft, "none") != 0) {
        fprintf(stderr, "hive-host: --draft-model %s goes with --draft model (or no --draft), not --draft %s\n", model,
                draft);
        return 2;
    }
    /* a missing draft model before the target is loaded */
    if (!s && o->kind == HIVE_DRAFT_MODEL && access(model, R_OK) != 0) {
        fprintf(stderr, "hive-host: --draft-model %s: %s\n", model, strerror(errno));
        return 2;
    }
    int32_t wd;
    if (hive_session_weights_dtype("--draft-weights", weights, &wd)) return 2;
    if (strcmp(weights, "native") != 0 && !*model) {
        fprintf(stderr, "hive-host: --draft-weights %s sets the draft model's weights: it needs --draft-model PATH\n",
                weights);
        return 2;
    }
    if (spec_draft_corpus(cfg, s, o)) return 2;
    if (s && o->kind == HIVE_DRAFT_BASE && (!s->have_set || s->merged)) {
        fprintf(stderr, "hive-host: --draft base drafts with the base model for the experts' verification, but %s: "
                        "the drafter would be the target itself; use --draft lookup\n",
                s->merged ? "--merge folded the expert into the base weights" : "no --expert is given");
        return 2;
    }
    return 0;
}

uint32_t hive_session_seqs_for(const hive_config *cfg, uint32_t seqs) {
    return seqs + (strcmp(hive_config_str(cfg, "speculative.draft"), "base") == 0 ? 1 : 0);
}

int hive_session_spec_seq(hive_session *s, hive_spec_opts *o) {
    if (o->kind != HIVE_DRAFT_BASE && o->kind != HIVE_DRAFT_MODEL) return 0;
    hive_error *err = NULL;
    if (o->kind == HIVE_DRAFT_MODEL) o->draft_engine = s->draft_eng;
    hive_engine *de = hive_spec_drafter_engine(o, s->eng);
    if (!de) {
        fprintf(stderr, "hive-host: --draft model: the draft model is not open\n");
        return 1;
    }
    if (hive_engine_seq_new(de, &o->draft_seq, &err) != HIVE_OK)
        return fail(err, o->kind == HIVE_DRAFT_BASE ? "--draft base" : "--draft-model");
    return 0;
}
