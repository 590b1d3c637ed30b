/* The q4_0 and bf16 KV attention kernels (plugins/onednn-cpu/src/kernels_kv*.c)
 * of every ISA level this CPU can run against the scalar ones, bit for bit,
 * as cpu_kernels_isa_test checks the f16 and q8_0 ones; and the scalar q4_0
 * kernels against the block's definition. A level the CPU lacks is skipped
 * with its name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cpu_features.h"
#include "kernels.h"

static uint32_t rng_state = 1;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
    return rng_state;
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

static void same_bits(const char *isa, const char *what, int hd, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a)) fail_msg("%s %s (head_dim %d) [%d]: %.9g vs scalar %.9g", isa, what, hd, i, a[i], b[i]);
}

/* q.k and p.V over rows in any order and n crossing the kernels' blocks of 8
 * slots: q4_0 at head_dim 64 and 96, bf16 at 100 (a tail past the lanes and
 * the 32-dim tiles), 64, 40 and 8 */
static void check_level(const cpu_kernels *ref, const cpu_kernels *k) {
    enum { NSLOT = 150, HDMAX = 100 };
    static blk_q4_0 q4[NSLOT * 3];
    static uint16_t bf[NSLOT * HDMAX];
    static size_t off4[NSLOT], offb[NSLOT];
    static float q[HDMAX], p[NSLOT], d0[NSLOT], d1[NSLOT], v0[HDMAX], v1[HDMAX];
    for (int i = 0; i < HDMAX; i++) q[i] = rndf(-2, 2);
    for (int i = 0; i < NSLOT; i++) p[i] = rndf(0, 1);
    for (int i = 0; i < NSLOT * 3; i++) {
        q4[i].d = cpu_f32_to_f16(rndf(-0.05f, 0.05f));
        for (int j = 0; j < 16; j++) q4[i].qs[j] = (uint8_t)rnd();
    }
    for (int i = 0; i < NSLOT * HDMAX; i++) bf[i] = cpu_f32_to_bf16(rndf(-3, 3));
    for (int t = 0; t < NSLOT; t++) {
        off4[t] = (size_t)((t * 7) % NSLOT) * 3 * sizeof(blk_q4_0);
        offb[t] = (size_t)((t * 7) % NSLOT) * HDMAX * sizeof(uint16_t);
    }
    static const int hds[] = {HDMAX, 64, 40, 8};
    for (int n = 1; n <= NSLOT; n += n < 20 ? 1 : 13) {
        for (int hd = 64; hd <= 96; hd += 32) {
            ref->dot_slots_q4_0(q, (const uint8_t *)q4, off4, n, hd, d0);
            k->dot_slots_q4_0(q, (const uint8_t *)q4, off4, n, hd, d1);
            same_bits(k->isa, "dot_slots_q4_0", hd, d1, d0, n);
            ref->pv_q4_0(p, (const uint8_t *)q4, off4, n, hd, v0);
            k->pv_q4_0(p, (const uint8_t *)q4, off4, n, hd, v1);
            same_bits(k->isa, "pv_q4_0", hd, v1, v0, hd);
        }
        for (int i = 0; i < 4; i++) {
            ref->dot_slots_bf16(q, (const uint8_t *)bf, offb, n, hds[i], d0);
            k->dot_slots_bf16(q, (const uint8_t *)bf, offb, n, hds[i], d1);
            same_bits(k->isa, "dot_slots_bf16", hds[i], d1, d0, n);
            ref->pv_bf16(p, (const uint8_t *)bf, offb, n, hds[i], v0);
            k->pv_bf16(p, (const uint8_t *)bf, offb, n, hds[i], v1);
            same_bits(k->isa, "pv_bf16", hds[i], v1, v0, hds[i]);
        }
    }
}

/* The scalar q4_0 kernels read the block's definition: value (nibble - 8) d,
 * element i in the low nibble of byte i, element 16 + i in the high one. */
static void test_q4_0_layout(void **state) {
    (void)state;
    cpu_kernels ref;
    cpu_kernels_init_level(&ref, CPU_ISA_SCALAR);
    blk_q4_0 one = {cpu_f32_to_f16(0.5f), {0}};
    for (int j = 0; j < 16; j++) one.qs[j] = (uint8_t)(j | (15 - j) << 4);
    size_t zero = 0;
    float e[32], got[32], pe = 1.0f;
    for (int i = 0; i < 32; i++) {
        float want = 0.5f * (float)((i < 16 ? i : 15 - (i - 16)) - 8);
        for (int j = 0; j < 32; j++) e[j] = j == i;
        ref.dot_slots_q4_0(e, (const uint8_t *)&one, &zero, 1, 32, got);
        if (got[0] != want) fail_msg("dot_slots_q4_0 element %d reads %g, want %g", i, got[0], want);
    }
    ref.pv_q4_0(&pe, (const uint8_t *)&one, &zero, 1, 32, got);
    for (int i = 0; i < 32; i++)
        if (got[i] != 0.5f * (float)((i < 16 ? i : 15 - (i - 16)) - 8)) fail_msg("pv_q4_0 element %d reads %g", i, got[i]);
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
    rng_state = 777u + (uint32_t)level;
    check_level(&ref, &k);
    printf("%s: q4_0 and bf16 KV attention kernels agree with scalar\n", cpu_isa_names[level]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0_layout),
        {"level_scalar", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_SCALAR},
        {"level_avx2", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX2},
        {"level_avxvnni", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVXVNNI},
        {"level_avx512", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX512},
        {"level_avx512vnni", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX512VNNI},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
