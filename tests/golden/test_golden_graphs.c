/* Decode-step graphs (HIVE_EXT_GRAPH) through the engine, on the CPU
 * backend's recording implementation: a batch of sequences with different
 * expert sets decodes with graphs and without, fed the same tokens, and the
 * logits agree at every step while the batch grows and shrinks (other
 * buckets, padding rows), positions advance and sequences cross KV pages
 * (host arrays the backend must re-read at replay). Argmax steps return the
 * ids the logits give. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"

#define NSEQ 5
#define STEPS 14
#define TOL 1e-5

static int32_t argmax_of(const float *row, uint32_t V) {
    uint32_t best = 0;
    for (uint32_t j = 1; j < V; j++)
        if (row[j] > row[best]) best = j;
    return (int32_t)best;
}

static void test_graphs_match_eager(void **state) {
    (void)state;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/qwen2", HIVE_SOURCE_DIR);
    golden_env env[2]; /* 0: graphs, 1: op by op */
    for (int k = 0; k < 2; k++) {
        golden_next.graphs = k == 0;
        int rc = golden_env_open(&env[k], dir, 128, -1, 1);
        golden_next.graphs = 0;
        assert_int_equal(rc, 0);
    }
    hive_adapter_ref lora[2], dora[2];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/adapters/lora", dir);
        assert_int_equal(golden_load_adapter(&env[k], path, &lora[k]), 0);
        snprintf(path, sizeof path, "%s/adapters/dora", dir);
        assert_int_equal(golden_load_adapter(&env[k], path, &dora[k]), 0);
    }
    hive_adapter_set s_lora[2], s_mix[2];
    for (int k = 0; k < 2; k++) {
        s_lora[k] = (hive_adapter_set){1, 1, {lora[k]}};
        s_mix[k] = (hive_adapter_set){2, 2, {dora[k], lora[k]}};
    }
    const uint32_t V = hive_engine_hparams(env[0].eng)->vocab;
    int32_t seq[2][NSEQ], next[NSEQ];
    float *lg[2];
    for (int k = 0; k < 2; k++) lg[k] = malloc((size_t)NSEQ * V * sizeof(float));
    /* prompts of different lengths (3..11 tokens): sequences cross the
     * 16-token KV pages at different steps */
    for (int s = 0; s < NSEQ; s++) {
        int32_t prompt[16], seqs[16];
        int np = 3 + 2 * s;
        for (int i = 0; i < np; i++) prompt[i] = (int32_t)((s * 37 + i * 11) % V);
        const hive_adapter_set *set[2] = {NULL, NULL};
        if (s % 3 == 1) set[0] = &s_lora[0], set[1] = &s_lora[1];
        if (s % 3 == 2) set[0] = &s_mix[0], set[1] = &s_mix[1];
        for (int k = 0; k < 2; k++) {
            assert_int_equal(hive_engine_seq_new(env[k].eng, &seq[k][s], NULL), HIVE_OK);
            assert_int_equal(hive_engine_seq_set_adapters(env[k].eng, seq[k][s], set[k], NULL), HIVE_OK);
            for (int i = 0; i < np; i++) seqs[i] = seq[k][s];
            hive_fwd_batch b = {(uint32_t)np, prompt, seqs, NULL, NULL};
            assert_int_equal(hive_engine_forward(env[k].eng, &b, lg[k], NULL), HIVE_OK);
        }
        next[s] = argmax_of(lg[1], V);
    }
    double worst = 0;
    for (int step = 0; step < STEPS; step++) {
        /* the batch: 3 sequences, then 5 (another bucket, padded 5 -> 8), then 4 */
        int live[NSEQ], n = 0;
        for (int s = 0; s < NSEQ; s++)
            if (step < 4 ? s < 3 : step < 10 ? 1 : s != 2) live[n++] = s;
        int32_t toks[NSEQ], rows[2][NSEQ], ids[NSEQ];
        for (int i = 0; i < n; i++) {
            toks[i] = next[live[i]];
            for (int k = 0; k < 2; k++) rows[k][i] = seq[k][live[i]];
        }
        int use_argmax = step % 4 == 3;
        hive_fwd_batch g = {(uint32_t)n, toks, rows[0], NULL, use_argmax ? ids : NULL};
        uint8_t every[NSEQ] = {1, 1, 1, 1, 1};
        g.want_logits = every;
        hive_fwd_batch e = {(uint32_t)n, toks, rows[1], every, NULL};
        assert_int_equal(hive_engine_forward(env[0].eng, &g, lg[0], NULL), HIVE_OK);
        assert_int_equal(hive_engine_forward(env[1].eng, &e, lg[1], NULL), HIVE_OK);
        for (int i = 0; i < n; i++) {
            const float *want = lg[1] + (size_t)i * V;
            int32_t id = argmax_of(want, V);
            if (use_argmax) {
                if (ids[i] != id) fail_msg("step %d row %d: argmax %d, logits say %d", step, i, ids[i], id);
            } else {
                const float *got = lg[0] + (size_t)i * V;
                double mx = 0, diff = 0;
                for (uint32_t j = 0; j < V; j++) {
                    if (fabs(want[j]) > mx) mx = fabs(want[j]);
                    if (fabs(got[j] - want[j]) > diff) diff = fabs(got[j] - want[j]);
                }
                double rel = diff / (mx > 1e-6 ? mx : 1e-6);
                if (rel > worst) worst = rel;
                if (rel > TOL) fail_msg("step %d row %d (seq %d): graphs vs op by op: relative error %.3g", step, i,
                                        live[i], rel);
            }
            next[live[i]] = id;
        }
    }
    uint64_t cap = 0, rep = 0, cap1 = 0, rep1 = 0;
    hive_engine_graph_stats(env[0].eng, &cap, &rep);
    hive_engine_graph_stats(env[1].eng, &cap1, &rep1);
    /* 3 keys (3 rows, 5->8 rows, 4 rows): each seen once eagerly, then captured */
    assert_int_equal(cap, 3);
    assert_int_equal(rep, STEPS - 3);
    assert_int_equal(cap1 + rep1, 0);
    /* destroying adapters drops the graphs that hold their weights: the next
     * steps of the same batch are seen again (eager), then captured anew */
    hive_engine_adapters_released(env[0].eng);
    for (int step = 0; step < 3; step++) {
        int32_t toks[NSEQ], rows[NSEQ];
        for (int i = 0; i < 4; i++) toks[i] = next[i], rows[i] = seq[0][i];
        hive_fwd_batch g = {4, toks, rows, NULL, NULL};
        uint8_t every[NSEQ] = {1, 1, 1, 1, 1};
        g.want_logits = every;
        assert_int_equal(hive_engine_forward(env[0].eng, &g, lg[0], NULL), HIVE_OK);
    }
    uint64_t cap2 = 0, rep2 = 0;
    hive_engine_graph_stats(env[0].eng, &cap2, &rep2);
    assert_int_equal(cap2, cap + 1);
    assert_int_equal(rep2, rep + 2);
    printf("  %d decode steps, batches of 3/5/4 with 3 expert sets: %llu graphs, %llu replays, worst rel err %.2e\n",
           STEPS, (unsigned long long)cap, (unsigned long long)rep, worst);
    for (int k = 0; k < 2; k++) {
        golden_free_adapter(&lora[k]);
        golden_free_adapter(&dora[k]);
        free(lg[k]);
        golden_env_close(&env[k]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graphs_match_eager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
