/* Parses the command line. Configuration flags come from the config schema;
 * the few per-invocation flags are listed here. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/error.h"
#include "util/log.h"

typedef struct {
    const char *flag, *arg, *help, *commands; /* commands: where it applies ("" = all) */
} local_flag;

static const local_flag k_local[] = {
    {"config", "FILE", "configuration file (default: $HIVE_CONFIG, else <prefix>/etc/hive/hive.cfg)", ""},
    {"print-config", NULL, "print every effective setting with its source, then exit", ""},
    {"help", NULL, "show this help", ""},
    {"prompt", "TEXT", "prompt text (bench: with --draft, --draft-model or a grammar flag)", "generate bench"},
    {"chat", NULL, "render the prompt with the model's chat template (ChatML)", "generate bench"},
    {"json", NULL, "machine-readable output; generate: constrain the output to a JSON object",
     "plugins info bench experts grammar generate"},
    {"input", "FILE", "a text to check against the grammar (repeatable)", "grammar"},
    {"verbose", NULL, "print timing statistics (and --draft's acceptance) to stderr", "generate chat"},
    {"output", "FILE", "experts pack: the .expert to write (also -o FILE)", "experts"},
    {"name", "NAME", "experts pack: the expert's name (default: the directory's name)", "experts"},
    {"description", "TEXT", "experts pack: the expert's description", "experts"},
    {"decoding", "KEY=VALUE", "experts pack: a training.decoding default, e.g. temperature=0.2 (repeatable)", "experts"},
    {"requests", "N", "bench --expert-dir: expert requests drawn (default 1000)", "bench"},
    {"zipf", "S", "bench --expert-dir: Zipf exponent of the experts' popularity (default 1.0)", "bench"},
};

static const struct {
    const char *name, *summary;
} k_commands[] = {
    {"generate", "generate text from --prompt and stream it to stdout"},
    {"chat", "interactive multi-turn chat (reads lines from stdin)"},
    {"info", "describe a model: architecture, dimensions, tensors, memory"},
    {"bench", "measure prefill and decode speed (-p N -n N [-r N]); --draft D | --draft-model M, --prompt TEXT: speculation's speedup; a grammar flag, --prompt TEXT: decoding with the grammar against without"},
    {"plugins", "list every plugin file found, its status and devices"},
    {"experts", "list DIR [--json] | inspect PATH [--json] | validate PATH [--model M] | pack PEFT_DIR -o NAME.expert: "
                "expert packages"},
    {"grammar", "check (--grammar-file F | --json-schema F | --regex R) --model M [--input FILE]... | print ...: "
                "debug a grammar"},
    {"serve", "OpenAI-compatible HTTP server with continuous batching; experts per request"},
};

void hive_cli_usage(FILE *out, const char *command) {
    fprintf(out, "usage: hive-host [OPTIONS] COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(out, "\noptions:\n");
    for (size_t i = 0; i < sizeof k_local / sizeof k_local[0]; i++) {
        const local_flag *f = &k_local[i];
        if (command && *f->commands && !strstr(f->commands, command)) continue;
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s%s%s", f->flag, f->arg ? " " : "", f->arg ? f->arg : "");
        fprintf(out, "  %-28s %s%s%s%s\n", lhs, f->help, *f->commands ? " [" : "", f->commands, *f->commands ? "]" : "");
    }
    if (!command || !strcmp(command, "bench"))
        fprintf(out, "  %-28s prompt tokens (bench, default 512)\n  %-28s tokens to generate (bench, default 128)\n"
                     "  %-28s repetitions, best is reported, after one untimed warm-up as llama-bench (bench, default 1)\n"
                     "  %-28s parallel sequences decoded together (bench, default 1)\n"
                     "  %-28s context tokens already in the KV cache for the decode test (bench, default 0)\n"
                     "  %-28s give each sequence one of the --expert packages in turn (bench)\n"
                     "  %-28s submit -b requests to the continuous-batching scheduler (chunked prefill,\n"
                     "  %-28s --prefill-chunk) and report generated tok/s and TTFT (bench)\n",
                "-p N", "-n N", "-r N", "-b N", "-d N", "--mix", "--sched", "");
    for (size_t i = 0; i < hive_cfg_schema_len; i++) {
        const hive_cfg_key *k = &hive_cfg_schema[i];
        if (!k->flag) continue;
        char lhs[64];
        if (k->type == HIVE_CFG_BOOL)
            snprintf(lhs, sizeof lhs, "--%s%s", !strcmp(k->def, "true") ? "no-" : "", k->flag);
        else
            snprintf(lhs, sizeof lhs, "--%s %s", k->flag, k->arg ? k->arg : "X");
        fprintf(out, "  %-28s %s", lhs, k->help);
        if (k->type != HIVE_CFG_BOOL && *k->def) fprintf(out, " (default %s)", k->def);
        fprintf(out, "  [%s]\n", k->key);
    }
    fprintf(out, "\nenvironment: HIVE_LOG=error|warn|info|debug|trace, HIVE_PLUGIN_PATH=DIR[:DIR...], HIVE_CONFIG=FILE\n"
                 "precedence: command line > expert manifest > config file > built-in default (see --print-config)\n");
}

static const char *default_config_path(char *buf, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    snprintf(buf, cap, "%s/%s", exe, HIVE_CONFIG_REL_PATH);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* First pass: find --config so the file is loaded before flags apply. */
static int load_config_file(hive_cli *cli, int argc, char **argv) {
    const char *path = NULL;
    int explicit = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) path = argv[i] + 9;
    }
    if (!path && getenv("HIVE_CONFIG") && *getenv("HIVE_CONFIG")) path = getenv("HIVE_CONFIG");
    static char buf[PATH_MAX + 64];
    if (!path) {
        explicit = 0;
        path = default_config_path(buf, sizeof buf);
    }
    if (!path) return 0;
    cli->config_path = path;
    hive_error *err = NULL;
    if (hive_config_load_file(cli->cfg, path, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s%s\n", hive_error_message(err), explicit ? "" : " (default configuration)");
        hive_error_free(err);
        return 2;
    }
    return 0;
}

static int parse_int_arg(const char *flag, const char *v, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < 0 || x > INT_MAX) {
        fprintf(stderr, "hive-host: %s: '%s' is not a non-negative integer\n", flag, v);
        return 2;
    }
    *out = (int)x;
    return 0;
}

int hive_cli_parse(hive_cli *cli, int argc, char **argv) {
    memset(cli, 0, sizeof *cli);
    cli->n_prompt = 512;
    cli->n_gen = 128;
    cli->reps = 1;
    cli->batch = 1;
    cli->requests = 1000;
    cli->zipf = 1.0;
    if (!(cli->cfg = hive_config_new())) {
        fprintf(stderr, "hive-host: out of memory\n");
        return 2;
    }
    int rc = load_config_file(cli, argc, argv);
    if (rc) return rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            if (!cli->command) cli->command = a;
            else if (cli->n_positional < sizeof cli->positional / sizeof cli->positional[0]) cli->positional[cli->n_positional++] = a;
            else {
                fprintf(stderr, "hive-host: too many arguments at '%s'\n", a);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "-r") || !strcmp(a, "-b") || !strcmp(a, "-d")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hive-host: %s needs a value\n", a);
                return 2;
            }
            int *dst = a[1] == 'p' ? &cli->n_prompt : a[1] == 'n' ? &cli->n_gen : a[1] == 'b' ? &cli->batch
                       : a[1] == 'd' ? &cli->depth : &cli->reps;
            if ((rc = parse_int_arg(a, argv[++i], dst))) return rc;
            continue;
        }
        if (!strcmp(a, "-o")) { /* experts pack -o FILE */
            if (i + 1 >= argc) {
                fprintf(stderr, "hive-host: -o needs a value\n");
                return 2;
            }
            cli->output = argv[++i];
            continue;
        }
        if (!strcmp(a, "-h")) {
            cli->help = 1;
            continue;
        }
        if (a[1] != '-') {
            fprintf(stderr, "hive-host: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        /* --flag, --flag=value, --flag value */
        char name[128];
        const char *val = NULL;
        const char *eq = strchr(a + 2, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq ? (size_t)(eq - a - 2) : strlen(a + 2)), a + 2);
        if (eq) val = eq + 1;

        if (!strcmp(name, "help")) { cli->help = 1; continue; }
        if (!strcmp(name, "print-config")) { cli->print_config = 1; continue; }
        if (!strcmp(name, "chat")) { cli->chat = 1; continue; }
        if (!strcmp(name, "json")) { cli->json = 1; continue; }
        if (!strcmp(name, "verbose")) { cli->verbose = 1; continue; }
        if (!strcmp(name, "mix")) { cli->mix = 1; continue; }
        if (!strcmp(name, "sched")) { cli->sched = 1; continue; }
        int takes_local = !strcmp(name, "config") || !strcmp(name, "prompt") || !strcmp(name, "input") ||
                          !strcmp(name, "output") || !strcmp(name, "name") || !strcmp(name, "description") ||
                          !strcmp(name, "decoding") || !strcmp(name, "requests") || !strcmp(name, "zipf");
        const hive_cfg_key *k = hive_cfg_find_flag(name);
        int negated = 0;
        if (!k && !takes_local && !strncmp(name, "no-", 3)) {
            k = hive_cfg_find_flag(name + 3);
            if (k && k->type != HIVE_CFG_BOOL) k = NULL;
            negated = 1;
        }
        if (!k && !takes_local) {
            fprintf(stderr, "hive-host: unknown option '--%s' (see --help)\n", name);
            return 2;
        }
        int is_bool = k && k->type == HIVE_CFG_BOOL;
        if (!val && !is_bool) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hive-host: --%s needs a value\n", name);
                return 2;
            }
            val = argv[++i];
        }
        if (!strcmp(name, "config")) continue; /* handled in the first pass */
        if (!strcmp(name, "prompt")) {
            cli->prompt = val;
            continue;
        }
        if (!strcmp(name, "input")) {
            if (cli->n_inputs == sizeof cli->inputs / sizeof cli->inputs[0]) {
                fprintf(stderr, "hive-host: too many --input files (at most 64)\n");
                return 2;
            }
            cli->inputs[cli->n_inputs++] = val;
            continue;
        }
        if (!strcmp(name, "output") || !strcmp(name, "name") || !strcmp(name, "description")) {
            *(name[0] == 'o' ? &cli->output : name[0] == 'n' ? &cli->pack_name : &cli->pack_description) = val;
            continue;
        }
        if (!strcmp(name, "requests")) {
            if ((rc = parse_int_arg("--requests", val, &cli->requests))) return rc;
            continue;
        }
        if (!strcmp(name, "zipf")) {
            char *end;
            cli->zipf = strtod(val, &end);
            if (end == val || *end || !(cli->zipf >= 0 && cli->zipf <= 100)) {
                fprintf(stderr, "hive-host: --zipf: '%s' is not a number from 0 to 100\n", val);
                return 2;
            }
            continue;
        }
        if (!strcmp(name, "decoding")) {
            if (cli->n_decoding == sizeof cli->decoding / sizeof cli->decoding[0]) {
                fprintf(stderr, "hive-host: too many --decoding values (at most 32)\n");
                return 2;
            }
            cli->decoding[cli->n_decoding++] = val;
            continue;
        }
        if (is_bool && !val) val = negated ? "false" : "true";
        char origin[160];
        snprintf(origin, sizeof origin, "--%s", name);
        hive_error *err = NULL;
        if (hive_config_set(cli->cfg, k->key, val, HIVE_SRC_CLI, origin, &err) != HIVE_OK) {
            fprintf(stderr, "hive-host: --%s: %s\n", name, hive_error_message(err));
            hive_error_free(err);
            return 2;
        }
    }
    /* --greedy is --temperature 0 */
    if (hive_config_bool(cli->cfg, "sampling.greedy") && hive_config_source(cli->cfg, "sampling.temperature") != HIVE_SRC_CLI)
        hive_config_set(cli->cfg, "sampling.temperature", "0", HIVE_SRC_CLI, "--greedy", NULL);
    const char *lvl = hive_config_str(cli->cfg, "log_level");
    if (hive_config_source(cli->cfg, "log_level") != HIVE_SRC_DEFAULT) {
        int l = hive_log_parse_level(lvl);
        if (l < 0) {
            fprintf(stderr, "hive-host: log_level '%s' is not one of error|warn|info|debug|trace\n", lvl);
            return 2;
        }
        hive_log_set_level(l);
    }
    return 0;
}
