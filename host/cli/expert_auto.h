/* `--expert auto` for generate and chat: route the prompt to experts before
 * the session opens (docs/EXPERTS.md, Routing). */
#ifndef HIVE_CLI_EXPERT_AUTO_H
#define HIVE_CLI_EXPERT_AUTO_H

#include "cli/cli.h"

/* 1 when experts.paths holds "auto". */
int hive_cli_expert_auto(const hive_config *cfg);
/* Replaces experts.paths ("auto" and the candidates: the other --expert
 * packages and every package in --expert-dir) by the experts routed from
 * prompt, possibly none (the base model). --verbose prints the choice.
 * Returns 0, or an exit code with the message printed. */
int hive_cli_route_experts(hive_cli *cli, const char *prompt);

#endif
