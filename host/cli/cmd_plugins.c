/* `hive-host plugins`: every file seen, its outcome, and each device. */
#include <stdio.h>

#include "cli/cli.h"
#include "plugin/registry.h"
#include "util/error.h"

int hive_cmd_plugins(hive_cli *cli) {
    hive_registry reg;
    hive_error *err = NULL;
    if (hive_registry_scan(&reg, cli->cfg, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    hive_backend_choice sel;
    int explicit = *hive_config_str(cli->cfg, "backend.name") || hive_config_bool(cli->cfg, "backend.cpu");
    hive_status st = hive_registry_select_backend(&reg, cli->cfg, &sel, &err);
    if (cli->json) hive_registry_print_json(&reg, st == HIVE_OK ? &sel : NULL, stdout);
    else hive_registry_print(&reg, st == HIVE_OK ? &sel : NULL, stdout);
    int rc = 0;
    /* Listing is informational, but an explicitly requested backend that
     * cannot be used is an error here too. */
    if (st != HIVE_OK && explicit) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        rc = 1;
    }
    hive_error_free(err);
    hive_registry_free(&reg);
    return rc;
}
