/* Hive's Q8_0 / Q4_0 / Q4_1 dot products against ggml's own, bit for bit: the
 * same activations quantized by both (compared block by block), random
 * weights with sane scales, every Hive kernel level this CPU has. Built and
 * run by check-ggml-dots.sh against the llama.cpp that
 * scripts/bench/build-llamacpp.sh builds. Exit 0 when every dot is identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_features.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "kernels.h"

typedef struct { uint16_t d, s; int8_t qs[32]; } ggml_q8_1; /* ggml's block_q8_1 */
typedef struct { uint16_t d; int8_t qs[32]; } ggml_q8_0;    /* ggml's block_q8_0 */

int main(void) {
    enum { N = 1536, NB = N / 32, REPS = 200 };
    ggml_cpu_init();
    cpu_features f;
    cpu_detect(&f);
    const struct { enum ggml_type g; uint32_t hive; size_t blk; const char *name; } types[] = {
        {GGML_TYPE_Q4_1, HIVE_DTYPE_Q4_1, 20, "q4_1"},
        {GGML_TYPE_Q4_0, HIVE_DTYPE_Q4_0, 18, "q4_0"},
        {GGML_TYPE_Q8_0, HIVE_DTYPE_Q8_0, 34, "q8_0"}};
    srand(3);
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * (i % 5 ? 1.0f : 6.0f);
    int bad = 0, total = 0;
    for (int level = CPU_ISA_AVX2; level < CPU_ISA_COUNT; level++) {
        if (!cpu_isa_usable(&f, level)) {
            printf("level %s: not on this CPU, skipped\n", cpu_isa_names[level]);
            continue;
        }
        cpu_kernels k;
        cpu_kernels_init_level(&k, level);
        act_q8 a[NB];
        k.quantize_act(x, a, N);
        int level_bad = 0;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            const struct ggml_type_traits_cpu *tr = ggml_get_type_traits_cpu(types[t].g);
            void *y = malloc(NB * sizeof(ggml_q8_1));
            ggml_get_type_traits_cpu(tr->vec_dot_type)->from_float(x, y, N);
            for (int b = 0; b < NB; b++) { /* the activations, block by block */
                const int8_t *q;
                float d, s = a[b].s;
                if (tr->vec_dot_type == GGML_TYPE_Q8_1) {
                    const ggml_q8_1 *yb = (const ggml_q8_1 *)y + b;
                    d = ggml_fp16_to_fp32(yb->d), s = ggml_fp16_to_fp32(yb->s), q = yb->qs;
                } else {
                    const ggml_q8_0 *yb = (const ggml_q8_0 *)y + b;
                    d = ggml_fp16_to_fp32(yb->d), q = yb->qs;
                }
                if (d != a[b].d || s != a[b].s || memcmp(q, a[b].q, 32)) {
                    printf("%s %s: activation block %d differs from ggml's\n", cpu_isa_names[level], types[t].name, b);
                    level_bad++;
                }
            }
            size_t rb = NB * types[t].blk;
            unsigned char *w = malloc(4 * rb);
            for (int rep = 0; rep < REPS; rep++) {
                for (size_t i = 0; i < 4 * rb; i++) w[i] = (unsigned char)rand();
                for (int b = 0; b < 4 * NB; b++) {
                    uint16_t h[2] = {ggml_fp32_to_fp16((float)rand() / (float)RAND_MAX * 0.02f),
                                     ggml_fp32_to_fp16(-(float)rand() / (float)RAND_MAX * 0.1f)};
                    memcpy(w + b * types[t].blk, h, types[t].g == GGML_TYPE_Q4_1 ? 4 : 2);
                }
                float ours[4], theirs;
                unsigned char *wl = w; /* the four rows in the level's layout (pack4.c when it packs) */
                if (k.packed[types[t].hive] && (wl = malloc(4 * rb))) cpu_pack4(types[t].hive, w, 4, N, wl);
                if (!wl) return 2;
                k.vec_dot[types[t].hive](N, wl, rb, 4, a, ours);
                if (wl != w) free(wl);
                for (int r = 0; r < 4; r++) {
                    tr->vec_dot(N, &theirs, 0, w + r * rb, 0, y, 0, 1);
                    total++;
                    if (memcmp(&theirs, &ours[r], sizeof theirs)) {
                        if (level_bad++ < 5)
                            printf("%s %s: ggml %.9g, hive %.9g\n", cpu_isa_names[level], types[t].name, theirs,
                                   ours[r]);
                    }
                }
            }
            free(w);
            free(y);
        }
        printf("level %s: %s\n", cpu_isa_names[level], level_bad ? "DIFFERS from ggml" : "every dot identical to ggml's");
        bad += level_bad;
    }
    printf("%d dots compared, %d differ\n", total, bad);
    free(x);
    return bad ? 1 : 0;
}
