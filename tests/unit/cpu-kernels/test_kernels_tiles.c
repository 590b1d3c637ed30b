/* The tiled attention kernels (plugins/onednn-cpu/src/kernels*.c) of every
 * ISA level this CPU can run give the per-row kernels' bits, on the level
 * itself and on scalar:
 *  - f16: pv_f16_acc over tiles of slots (starting at multiples of 8) +
 *    pv_f16_sum == pv_f16; dot_tile_f16 / pv_tile_f16_acc over f32 rows ==
 *    dot_slots_f16 / pv_f16_acc over the f16 slots;
 *  - q8_0: pv_q8_0_acc over tiles == pv_q8_0; dot_slots_q8_0_mq and
 *    pv_q8_0_acc_mq for 1..6 queries (past the four a pass holds) == each
 *    query alone;
 *  - f16, where the level has them: dot_slots_f16_mq and pv_f16_mq for 1..6
 *    queries (past the three a pass holds; head_dim 64 / 96 / 128) == each
 *    query alone through dot_slots_f16 / pv_f16.
 * Slot rows sit in shuffled order, n crosses the blocks of 8 slots, head_dim
 * 72 / 100 leave tails past the lanes (f16), 64 / 96 (q8_0). A level the CPU
 * lacks is skipped with its name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cpu_features.h"
#include "ggml_order.h"
#include "kernels.h"

enum { SLOTS = 301, MAXHD = 128, NQ = 6, TILE = 64 };

static uint32_t rng_state = 1;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
    return rng_state;
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

static void same_bits(const char *isa, const char *what, int hd, int n, const float *got, const float *want, int len) {
    for (int i = 0; i < len; i++)
        if (memcmp(&got[i], &want[i], sizeof *got))
            fail_msg("%s %s (head_dim %d, %d slots) [%d]: %.9g vs per-row %.9g", isa, what, hd, n, i, got[i], want[i]);
}

static uint8_t pool[SLOTS * MAXHD * 2];
static size_t off[SLOTS];
static float q[NQ * MAXHD], p[NQ * SLOTS], want[NQ * 8 * MAXHD], got[NQ * 8 * MAXHD], cls[NQ * 8 * MAXHD];
static float rows[SLOTS * MAXHD];

/* slot t's row at off[t]: rows of row_bytes in a shuffled order */
static void fill_pool(size_t row_bytes) {
    for (int t = 0; t < SLOTS; t++) off[t] = (size_t)((t * 113 + 7) % SLOTS) * row_bytes;
    for (int i = 0; i < NQ * MAXHD; i++) q[i] = rndf(-1.0f, 1.0f);
    for (int i = 0; i < NQ * SLOTS; i++) p[i] = rndf(0.0f, 0.01f);
}

static void check_f16(const cpu_kernels *row, const cpu_kernels *k, int hd, int n) {
    uint16_t *h = (uint16_t *)pool;
    fill_pool(2 * (size_t)hd);
    for (int i = 0; i < SLOTS * hd; i++) h[i] = cpu_f32_to_f16(rndf(-2.0f, 2.0f));
    for (int t = 0; t < n; t++)
        for (int i = 0; i < hd; i++) rows[t * hd + i] = cpu_f16_to_f32(((uint16_t *)(pool + off[t]))[i]);
    /* q.k over f32 rows, in tiles */
    row->dot_slots_f16(q, pool, off, n, hd, want);
    for (int t0 = 0; t0 < n; t0 += TILE) k->dot_tile_f16(q, rows + t0 * hd, hd, n - t0 < TILE ? n - t0 : TILE, hd, got + t0);
    same_bits(k->isa, "dot_tile_f16", hd, n, got, want, n);
    /* p.V in tiles of f16 slots, and of f32 rows */
    row->pv_f16(p, pool, off, n, hd, want, cls);
    memset(cls, 0, 8 * (size_t)hd * sizeof *cls);
    for (int t0 = 0; t0 < n; t0 += TILE) k->pv_f16_acc(p + t0, pool, off + t0, n - t0 < TILE ? n - t0 : TILE, hd, cls);
    k->pv_f16_sum(cls, hd, got);
    same_bits(k->isa, "pv_f16_acc + pv_f16_sum", hd, n, got, want, hd);
    memset(cls, 0, 8 * (size_t)hd * sizeof *cls);
    for (int t0 = 0; t0 < n; t0 += TILE)
        k->pv_tile_f16_acc(p + t0, rows + t0 * hd, hd, n - t0 < TILE ? n - t0 : TILE, hd, cls);
    k->pv_f16_sum(cls, hd, got);
    same_bits(k->isa, "pv_tile_f16_acc + pv_f16_sum", hd, n, got, want, hd);
}

static void check_f16_mq(const cpu_kernels *row, const cpu_kernels *k, int hd, int n) {
    if (!k->dot_slots_f16_mq) return;
    uint16_t *h = (uint16_t *)pool;
    fill_pool(2 * (size_t)hd);
    for (int i = 0; i < SLOTS * hd; i++) h[i] = cpu_f32_to_f16(rndf(-2.0f, 2.0f));
    for (int nq = 1; nq <= NQ; nq++) {
        for (int j = 0; j < nq; j++) row->dot_slots_f16(q + j * hd, pool, off, n, hd, want + j * SLOTS);
        k->dot_slots_f16_mq(q, (size_t)hd, nq, pool, off, n, hd, got, SLOTS);
        for (int j = 0; j < nq; j++) same_bits(k->isa, "dot_slots_f16_mq", hd, n, got + j * SLOTS, want + j * SLOTS, n);
        for (int j = 0; j < nq; j++) row->pv_f16(p + j * SLOTS, pool, off, n, hd, want + j * hd, cls);
        k->pv_f16_mq(p, SLOTS, nq, pool, off, n, hd, got, (size_t)hd, cls);
        same_bits(k->isa, "pv_f16_mq", hd, n, got, want, nq * hd);
    }
}

static void check_q8_0(const cpu_kernels *row, const cpu_kernels *k, int hd, int n) {
    size_t rb = (size_t)hd / 32 * sizeof(blk_q8_0);
    fill_pool(rb);
    for (int t = 0; t < SLOTS; t++)
        for (int b = 0; b < hd / 32; b++) {
            blk_q8_0 *blk = (blk_q8_0 *)(pool + (size_t)t * rb) + b;
            blk->d = cpu_f32_to_f16(rndf(1e-3f, 2e-2f));
            for (int i = 0; i < 32; i++) blk->qs[i] = (int8_t)((int)(rnd() % 255) - 127);
        }
    row->pv_q8_0(p, pool, off, n, hd, want);
    memset(got, 0, (size_t)hd * sizeof *got);
    for (int t0 = 0; t0 < n; t0 += TILE) k->pv_q8_0_acc(p + t0, pool, off + t0, n - t0 < TILE ? n - t0 : TILE, hd, got);
    same_bits(k->isa, "pv_q8_0_acc", hd, n, got, want, hd);
    for (int nq = 1; nq <= NQ; nq++) {
        for (int j = 0; j < nq; j++) row->dot_slots_q8_0(q + j * hd, pool, off, n, hd, want + j * SLOTS);
        k->dot_slots_q8_0_mq(q, (size_t)hd, nq, pool, off, n, hd, got, SLOTS);
        for (int j = 0; j < nq; j++) same_bits(k->isa, "dot_slots_q8_0_mq", hd, n, got + j * SLOTS, want + j * SLOTS, n);
        for (int j = 0; j < nq; j++) row->pv_q8_0(p + j * SLOTS, pool, off, n, hd, want + j * hd);
        memset(got, 0, (size_t)(nq * hd) * sizeof *got);
        for (int t0 = 0; t0 < n; t0 += TILE)
            k->pv_q8_0_acc_mq(p + t0, SLOTS, nq, pool, off + t0, n - t0 < TILE ? n - t0 : TILE, hd, got, (size_t)hd);
        same_bits(k->isa, "pv_q8_0_acc_mq", hd, n, got, want, nq * hd);
    }
}

static void test_level(void **state) {
    int level = (int)(intptr_t)*state;
    cpu_features f;
    cpu_detect(&f);
    if (!cpu_isa_usable(&f, level)) {
        printf("skipped: level %s: this CPU (%s) or build lacks it\n", cpu_isa_names[level], f.brand);
        skip();
    }
    cpu_kernels ref, k;
    cpu_kernels_init_level(&ref, CPU_ISA_SCALAR);
    cpu_kernels_init_level(&k, level);
    rng_state = 4242u + (uint32_t)level;
    static const int ns[] = {1, 7, 8, 64, 129, SLOTS};
    for (int i = 0; i < (int)(sizeof ns / sizeof ns[0]); i++) {
        const cpu_kernels *rowk[2] = {&k, &ref}; /* against the level's own per-row kernels, and scalar's */
        for (int r = 0; r < 2; r++) {
            check_f16(rowk[r], &k, 72, ns[i]);
            check_f16(rowk[r], &k, 100, ns[i]);
            check_q8_0(rowk[r], &k, 64, ns[i]);
            check_q8_0(rowk[r], &k, 96, ns[i]);
            check_f16_mq(rowk[r], &k, 64, ns[i]);
            check_f16_mq(rowk[r], &k, 96, ns[i]);
            check_f16_mq(rowk[r], &k, 128, ns[i]);
        }
    }
    printf("%s: tiled and multi-query attention kernels give the per-row bits\n", cpu_isa_names[level]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        {"level_scalar", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_SCALAR},
        {"level_avx2", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX2},
        {"level_avxvnni", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVXVNNI},
        {"level_avx512", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX512},
        {"level_avx512vnni", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX512VNNI},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
