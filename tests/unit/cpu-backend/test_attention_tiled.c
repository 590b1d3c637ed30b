/* The tiled prefill attention (ops_attention.c: rows of one sequence share
 * K/V tiles) gives, bit for bit, what each row computes alone (a one-row
 * batch takes the (row, head) path): f16 (head_dim 72: a tail of 8 dims past
 * the 16-wide registers) and q8_0 (96: three blocks) caches, two sequences in
 * one batch with their pages out of order and interleaved, page sizes that do
 * not divide the 128-slot tiles, a chunk that starts deep in its sequence
 * (ragged tiles: 203 rows), a short second sequence from position 0, and a
 * lone row of the first sequence after it. Alone, an f16 row takes att_head
 * (head_dim 72), or past 511 slots with head_dim 64 on the AVX-512 levels the
 * GQA split (att_split_f16 with the shared-row kernels), a q8_0 row att_head
 * under 512 slots and att_split_q8_0 past it: the batch gives each one's
 * bits. Run per ISA level by main.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tests.h"

enum { TL_NKV = 2, TL_NH = 6, TL_LEN0 = 1300, TL_LEN1 = 45, TL_MAXB = 120 };

static void tiled_case(uint32_t dtype, uint32_t hd, uint32_t bs, int len0) {
    const uint32_t nb = 2 * TL_MAXB;
    hive_kv_desc kd = {.struct_size = sizeof kd, .dtype = dtype, .n_layers = 1, .n_blocks = nb,
                       .block_size = bs, .n_kv_heads = TL_NKV, .head_dim = hd};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    int32_t table[2 * TL_MAXB];
    for (uint32_t i = 0; i < nb; i++) table[i] = (int32_t)((i * 37 + 11) % nb); /* both tables' pages interleaved */
    /* store both sequences whole */
    const int ns = len0 + TL_LEN1;
    static int32_t seq[TL_LEN0 + TL_LEN1], pos[TL_LEN0 + TL_LEN1];
    for (int i = 0; i < ns; i++) seq[i] = i < len0 ? 0 : 1, pos[i] = i < len0 ? i : i - len0;
    hive_batch sb = {sizeof sb, (uint32_t)ns, seq, pos, 2, TL_MAXB, table};
    test_tensor k = tt_new(ns, TL_NKV * hd, TL_NKV * hd, 0), v = tt_new(ns, TL_NKV * hd, TL_NKV * hd, 0);
    assert_int_equal(api->op_kv_store(dev, kv, 0, &k.t, &v.t, &sb, NULL), HIVE_OK);
    /* the batch: seq 0 at len0 - 203 .. len0 - 1, seq 1 at 0..44, seq 0 at 10 */
    enum { R0 = 203, NQ = R0 + TL_LEN1 + 1 };
    int32_t qseq[NQ], qpos[NQ];
    for (int r = 0; r < NQ; r++) {
        qseq[r] = r < R0 ? 0 : r < R0 + TL_LEN1 ? 1 : 0;
        qpos[r] = r < R0 ? len0 - R0 + r : r < R0 + TL_LEN1 ? r - R0 : 10;
    }
    const int64_t qc = (int64_t)TL_NH * hd;
    hive_batch qb = {sizeof qb, NQ, qseq, qpos, 2, TL_MAXB, table};
    test_tensor q = tt_new(NQ, qc, qc, 0), tiled = tt_new(NQ, qc, qc, 0), alone = tt_new(1, qc, qc, 0);
    assert_int_equal(api->op_attention(dev, kv, 0, &q.t, TL_NH, 0.125f, &qb, &tiled.t, NULL), HIVE_OK);
    for (int r = 0; r < NQ; r++) {
        hive_tensor q1 = q.t;
        q1.offset += (uint64_t)r * (uint64_t)q.t.row_stride * sizeof(float);
        q1.rows = 1;
        hive_batch b1 = {sizeof b1, 1, &qseq[r], &qpos[r], 2, TL_MAXB, table};
        assert_int_equal(api->op_attention(dev, kv, 0, &q1, TL_NH, 0.125f, &b1, &alone.t, NULL), HIVE_OK);
        if (memcmp(tt_row(&tiled, r), tt_row(&alone, 0), (size_t)qc * sizeof(float)))
            fail_msg("%s cache, row %d (seq %d, pos %d): tiled attention differs from the row alone",
                     dtype == HIVE_DTYPE_F16 ? "f16" : "q8_0", r, qseq[r], qpos[r]);
    }
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&tiled); tt_free(&alone);
    api->kv_free(dev, kv);
}

void test_attention_tiled_exact(void **state) {
    (void)state;
    tiled_case(HIVE_DTYPE_F16, 72, 12, TL_LEN0);
    tiled_case(HIVE_DTYPE_F16, 64, 16, 900); /* alone, rows past 511 take the GQA decode split */
    tiled_case(HIVE_DTYPE_Q8_0, 96, 20, 500); /* alone, every row takes att_head (a context under 512) */
    tiled_case(HIVE_DTYPE_Q8_0, 64, 16, 700); /* alone, rows past 511 take the q8_0 decode split */
}
