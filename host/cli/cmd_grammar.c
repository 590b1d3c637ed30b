/* `hive-host grammar check`: compile a grammar, then feed each --input file
 * through the matcher token by token, as the model's tokenizer splits it.
 * Exit 0: every input accepted; 1: one was rejected; 2: the grammar does not
 * compile (or a usage error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "grammar/grammar_config.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util/clock.h"
#include "util/error.h"

typedef struct input_result {
    const char *path;
    int accepted;
    size_t n_tokens;
    long reject_token;  /* -1 when accepted */
    size_t reject_byte; /* byte offset in the input where the rejected token starts */
    const char *why;
    double mask_p50_us, mask_p99_us, mask_max_us, mask_mean_us;
    double *times_us; /* every step's mask time, in order (--json prints them) */
    double *cpu_us;   /* the same masks' thread CPU time: what the mask cost on a shared machine */
    size_t n_times;
} input_result;

static double thread_cpu_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int check_input(const hive_grammar *g, const hive_grammar_vocab *v, const hive_tokenizer *tok,
                       const char *path, input_result *r) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->reject_token = -1;
    char *text = NULL;
    size_t len = 0;
    hive_error *err = NULL;
    if (hive_grammar_read_file(path, 64u << 20, &text, &len, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        hive_error_free(err);
        return -1;
    }
    if (len && text[len - 1] == '\n') text[--len] = 0; /* an editor's final newline is not part of the output */
    int32_t *ids = NULL;
    size_t n = 0;
    if (hive_tokenizer_encode(tok, text, len, 0, 0, &ids, &n, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s: tokenizer: %s\n", path, hive_error_message(err));
        hive_error_free(err);
        free(text);
        return -1;
    }
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, &err);
    uint32_t *mask = malloc(((size_t)hive_grammar_vocab_size(v) + 31) / 32 * sizeof *mask);
    double *times = malloc((n + 2) * sizeof *times), *cpu = malloc((n + 2) * sizeof *cpu);
    int rc = 0;
    if (!m || !mask || !times || !cpu) {
        fprintf(stderr, "hive-host: %s\n", m ? "out of memory" : hive_error_message(err));
        rc = -1;
        goto out;
    }
    r->n_tokens = n;
    size_t n_times = 0, byte = 0;
    double sum = 0;
    for (size_t i = 0; i <= n; i++) {
        double c0 = thread_cpu_us(), t0 = hive_now_ms();
        size_t allowed = hive_grammar_matcher_fill_mask(m, mask, &err);
        double us = (hive_now_ms() - t0) * 1e3;
        cpu[n_times] = thread_cpu_us() - c0;
        times[n_times++] = us;
        sum += us;
        if (!allowed && err) {
            r->why = "matcher limit";
            fprintf(stderr, "hive-host: %s: %s\n", path, hive_error_message(err));
            r->reject_token = (long)i, r->reject_byte = byte;
            break;
        }
        if (i == n) break;
        int32_t id = ids[i];
        int in_mask = (mask[id >> 5] >> (id & 31)) & 1;
        if (hive_grammar_matcher_accept(m, id, NULL) != HIVE_OK || !in_mask) {
            r->reject_token = (long)i, r->reject_byte = byte;
            r->why = "token not allowed here";
            break;
        }
        char buf[512];
        size_t tl = 0;
        if (hive_tokenizer_token_bytes(tok, id, buf, sizeof buf, &tl) == HIVE_OK) byte += tl;
    }
    if (r->reject_token < 0 && !hive_grammar_matcher_is_accepting(m)) {
        r->reject_token = (long)n, r->reject_byte = len;
        r->why = "input ends before the grammar is complete";
    }
    r->accepted = r->reject_token < 0;
    r->times_us = malloc((n_times + 1) * sizeof *r->times_us);
    r->cpu_us = malloc((n_times + 1) * sizeof *r->cpu_us);
    if (r->times_us && r->cpu_us) {
        memcpy(r->times_us, times, n_times * sizeof *times), r->n_times = n_times;
        memcpy(r->cpu_us, cpu, n_times * sizeof *cpu);
    }
    qsort(times, n_times, sizeof *times, cmp_double);
    r->mask_p50_us = pct(times, n_times, 0.5);
    r->mask_p99_us = pct(times, n_times, 0.99);
    r->mask_max_us = n_times ? times[n_times - 1] : 0;
    r->mask_mean_us = n_times ? sum / (double)n_times : 0;
    if (!r->accepted && r->reject_byte <= len) {
        size_t from = r->reject_byte > 30 ? r->reject_byte - 30 : 0;
        fprintf(stderr, "%s: rejected at token %ld (byte %zu): %s\n  ...%.*s<HERE>%.*s...\n", path, r->reject_token,
                r->reject_byte, r->why, (int)(r->reject_byte - from), text + from,
                (int)(len - r->reject_byte < 30 ? len - r->reject_byte : 30), text + r->reject_byte);
    }
out:
    hive_error_free(err);
    hive_grammar_matcher_free(m);
    free(mask);
    free(times);
    free(cpu);
    free(ids);
    free(text);
    return rc;
}

/* `grammar print`: the GBNF a JSON Schema, a regex or a shipped grammar compiles to. */
static int print_gbnf(hive_cli *cli) {
    static const struct {
        const char *key, *kind;
    } k[] = {{"grammar.json_schema", "json-schema"}, {"grammar.regex", "regex"}, {"grammar.builtin", "builtin"},
             {"grammar.gbnf", "gbnf"}, {"grammar.file", "gbnf-file"}};
    hive_grammar_opts o;
    hive_grammar_opts_default(&o);
    o.json_ws_max = (uint32_t)hive_config_int(cli->cfg, "grammar.json_ws_max");
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const char *v = hive_config_str(cli->cfg, k[i].key);
        if (!*v) continue;
        char *text = NULL;
        hive_error *err = NULL;
        hive_status st = HIVE_OK;
        if (!strcmp(k[i].kind, "builtin")) {
            if (!(text = hive_grammar_builtin_gbnf(v, &o))) st = hive_fail(&err, HIVE_E_NOTFOUND, "no shipped grammar '%s'", v);
        } else if (!strcmp(k[i].kind, "regex")) {
            st = hive_regex_to_gbnf(v, strlen(v), &text, &err);
        } else if (!strcmp(k[i].kind, "gbnf")) {
            text = strdup(v);
        } else {
            size_t len = 0;
            char *src = NULL;
            int is_text = !strcmp(k[i].kind, "json-schema") && strchr(v, '{');
            if (is_text) src = strdup(v), len = strlen(v);
            else st = hive_grammar_read_file(v, 16u << 20, &src, &len, &err);
            if (st == HIVE_OK && !strcmp(k[i].kind, "json-schema")) st = hive_json_schema_to_gbnf(src, len, &o, &text, &err);
            else if (st == HIVE_OK) text = src, src = NULL;
            free(src);
        }
        if (st != HIVE_OK) {
            fprintf(stderr, "hive-host: grammar: %s\n", hive_error_message(err));
            hive_error_free(err);
            return 2;
        }
        fputs(text ? text : "", stdout);
        free(text);
        return 0;
    }
    fprintf(stderr, "hive-host: grammar print: give --json-schema, --regex, --grammar-builtin, --grammar or --grammar-file\n");
    return 2;
}

int hive_cmd_grammar(hive_cli *cli) {
    if (cli->n_positional >= 1 && !strcmp(cli->positional[0], "print")) return print_gbnf(cli);
    if (cli->n_positional < 1 || strcmp(cli->positional[0], "check")) {
        fprintf(stderr, "usage: hive-host grammar check (--grammar-file F | --grammar TEXT | --json-schema F | --regex R | "
                        "--grammar-builtin NAME) --model M [--input FILE]... [--json]\n"
                        "       hive-host grammar print (--json-schema F | --regex R | --grammar-builtin NAME)\n");
        return 2;
    }
    hive_error *err = NULL;
    hive_grammar *g = NULL;
    char what[256];
    double t0 = hive_now_ms();
    hive_status st = hive_grammar_from_config(cli->cfg, &g, what, sizeof what, &err);
    double compile_ms = hive_now_ms() - t0;
    if (st != HIVE_OK || !g) {
        if (cli->json) {
            printf("{\"compiled\":false,\"error\":");
            json_str(stdout, st != HIVE_OK ? hive_error_message(err) : "no grammar given");
            printf("}\n");
        }
        fprintf(stderr, "hive-host: grammar: %s\n", st != HIVE_OK ? hive_error_message(err)
                                                                 : "no grammar: give --grammar-file, --grammar, "
                                                                   "--json-schema, --regex or --grammar-builtin");
        hive_error_free(err);
        return 2;
    }
    hive_grammar_stats gs;
    hive_grammar_get_stats(g, &gs);
    const char *model = hive_config_str(cli->cfg, "model.path");
    hive_model_files *mf = NULL;
    hive_tokenizer *tok = NULL;
    hive_grammar_vocab *v = NULL;
    int rc = 0;
    double vocab_ms = 0;
    if (!*model) {
        fprintf(stderr, "hive-host: grammar check needs --model M (its tokenizer splits the inputs)\n");
        rc = 2;
    } else if (hive_model_open(model, &mf, &err) != HIVE_OK || hive_tokenizer_new(&mf->vocab, &tok, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s: %s\n", model, hive_error_message(err));
        rc = 2;
    } else {
        double v0 = hive_now_ms();
        if (hive_grammar_vocab_from_tokenizer(tok, &v, &err) != HIVE_OK) {
            fprintf(stderr, "hive-host: vocabulary: %s\n", hive_error_message(err));
            rc = 2;
        }
        vocab_ms = hive_now_ms() - v0;
    }
    input_result *res = calloc(cli->n_inputs + 1, sizeof *res);
    if (!rc && !res) rc = 2;
    for (size_t i = 0; rc != 2 && i < cli->n_inputs; i++) {
        if (check_input(g, v, tok, cli->inputs[i], &res[i])) rc = 2; /* unreadable: message printed */
        else if (!res[i].accepted) rc = 1;
    }
    if (rc != 2 && cli->json) {
        printf("{\"compiled\":true,\"grammar\":");
        json_str(stdout, what);
        printf(",\"compile_ms\":%.3f,\"vocab_ms\":%.3f,\"rules\":%u,\"elements\":%u,\"inputs\":[", compile_ms,
               vocab_ms, gs.n_rules, gs.n_elems);
        for (size_t i = 0; i < cli->n_inputs; i++) {
            const input_result *r = &res[i];
            printf("%s{\"path\":", i ? "," : "");
            json_str(stdout, r->path);
            printf(",\"accepted\":%s,\"tokens\":%zu", r->accepted ? "true" : "false", r->n_tokens);
            if (!r->accepted) {
                printf(",\"reject_token\":%ld,\"reject_byte\":%zu,\"why\":", r->reject_token, r->reject_byte);
                json_str(stdout, r->why);
            }
            printf(",\"mask_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f},\"mask_us_each\":[",
                   r->mask_p50_us, r->mask_p99_us, r->mask_max_us, r->mask_mean_us);
            for (size_t k = 0; k < r->n_times; k++) printf("%s%.1f", k ? "," : "", r->times_us[k]);
            printf("],\"mask_cpu_us_each\":[");
            for (size_t k = 0; k < r->n_times; k++) printf("%s%.1f", k ? "," : "", r->cpu_us[k]);
            printf("]}");
        }
        printf("]}\n");
    } else if (rc != 2) {
        printf("grammar: %s\ncompiled in %.3f ms (%u rules, %u elements); vocabulary trie in %.1f ms\n", what,
               compile_ms, gs.n_rules, gs.n_elems, vocab_ms);
        for (size_t i = 0; i < cli->n_inputs; i++) {
            const input_result *r = &res[i];
            if (r->accepted) printf("%s: accepted (%zu tokens)", r->path, r->n_tokens);
            else printf("%s: rejected at token %ld, byte %zu: %s", r->path, r->reject_token, r->reject_byte, r->why);
            printf("; mask time per token p50 %.1f us, p99 %.1f us, max %.1f us\n", r->mask_p50_us, r->mask_p99_us,
                   r->mask_max_us);
        }
    }
    for (size_t i = 0; res && i < cli->n_inputs; i++) free(res[i].times_us), free(res[i].cpu_us);
    free(res);
    hive_error_free(err);
    hive_grammar_vocab_free(v);
    hive_tokenizer_free(tok);
    hive_model_close(mf);
    hive_grammar_free(g);
    return rc;
}
