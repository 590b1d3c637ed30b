/* hive-host: the command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "session/session.h"
#include "util/log.h"

int main(int argc, char **argv) {
    hive_log_init_from_env();
    hive_cli cli;
    int rc = hive_cli_parse(&cli, argc, argv);
    if (rc) {
        hive_config_free(cli.cfg);
        return rc;
    }
    if (cli.help) {
        hive_cli_usage(stdout, cli.command);
        hive_config_free(cli.cfg);
        return 0;
    }
    if (cli.print_config) {
        /* show the experts' decoding defaults where they apply */
        if ((rc = hive_session_apply_manifests(cli.cfg)) != 0) {
            hive_config_free(cli.cfg);
            return rc;
        }
        hive_config_print(cli.cfg, stdout);
        hive_config_free(cli.cfg);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(hive_cli *);
    } cmds[] = {{"plugins", hive_cmd_plugins}, {"generate", hive_cmd_generate}, {"chat", hive_cmd_chat},
                {"info", hive_cmd_info},       {"bench", hive_cmd_bench},  {"experts", hive_cmd_experts}, {"grammar", hive_cmd_grammar},
                {"serve", hive_cmd_serve}};
    if (!cli.command) {
        hive_cli_usage(stderr, NULL);
        hive_config_free(cli.cfg);
        return 2;
    }
    rc = -1;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cli.command, cmds[i].name)) rc = cmds[i].fn(&cli);
    if (rc == -1) {
        fprintf(stderr, "hive-host: unknown command '%s' (see --help)\n", cli.command);
        rc = 2;
    }
    hive_config_free(cli.cfg);
    return rc;
}
