/* `hive-host experts pack PEFT_DIR -o NAME.expert [--name N] [--description D]
 * [--decoding KEY=VALUE]... [--draft-corpus FILE]` (docs/EXPERTS.md): a package from a PEFT directory. */
#include <stdio.h>

#include "cli/cli.h"
#include "experts/draft_corpus.h"
#include "experts/pack.h"
#include "util/error.h"

int hive_cmd_experts_pack(hive_cli *cli) {
    if (cli->n_positional != 2 || !cli->output || !*cli->output) {
        fprintf(stderr, "usage: hive-host experts pack PEFT_DIR -o NAME.expert [--name N] [--description D] "
                        "[--decoding KEY=VALUE]... [--draft-corpus FILE]\n");
        return 2;
    }
    /* --draft-corpus FILE: here the corpus the package carries */
    const char *corpus = hive_config_source(cli->cfg, "speculative.draft_corpus") == HIVE_SRC_CLI
                             ? hive_draft_corpus_path(hive_config_str(cli->cfg, "speculative.draft_corpus"))
                             : NULL;
    hive_expert_pack_opts o = {cli->positional[1], cli->output, cli->pack_name, cli->pack_description,
                               cli->decoding, cli->n_decoding, corpus};
    hive_problems probs = {0};
    hive_error *err = NULL;
    hive_status st = hive_expert_pack(&o, &probs, &err);
    if (st != HIVE_OK) {
        if (probs.n > 1) {
            fprintf(stderr, "hive-host: %s cannot be packed: %zu problems\n", o.src, probs.n);
            for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "  %s\n", probs.msgs[i]);
        } else {
            fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        }
        hive_error_free(err);
        hive_problems_free(&probs);
        return 1;
    }
    hive_problems_free(&probs);
    printf("packed %s into %s\n", o.src, o.out);
    return 0;
}
