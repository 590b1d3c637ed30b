/* Uploads without extra copies (issue 15, item 3): a spy backend (the
 * onednn-cpu table with weight_upload wrapped) records the pointer and bytes
 * of every upload. F32 tensors that need no change reach weight_upload as
 * pointers into the mapped adapter file; scaled B and F16/BF16 tensors come
 * converted, bit-exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "peft_util.h"
#include "tests.h"
#include "util/dtype.h"

#define MAX_UPLOADS 64

typedef struct upload {
    char name[160];
    const void *ptr;
    int in_file;
    float data[T_MAX_DIM * T_MAX_DIM];
    uint64_t n;
} upload;

static const hive_backend_api *g_real;
static upload g_up[MAX_UPLOADS];
static int g_n_up;

static hive_status spy_upload(hive_device *d, const hive_weight_desc *desc, const void *data, hive_weight **out,
                              hive_error **err) {
    if (g_n_up < MAX_UPLOADS && desc->dtype == HIVE_DTYPE_F32) {
        upload *u = &g_up[g_n_up++];
        snprintf(u->name, sizeof u->name, "%s", desc->name ? desc->name : "");
        u->ptr = data;
        u->in_file = harness_in_tensor_file(data);
        u->n = (uint64_t)(desc->rows * desc->cols);
        if (u->n <= T_MAX_DIM * T_MAX_DIM) memcpy(u->data, data, u->n * sizeof(float));
    }
    return g_real->weight_upload(d, desc, data, out, err);
}

/* Loads dir through `name` with the spy in place of the backend. */
static hive_adapter *spy_load(const char *name, const char *dir) {
    static hive_backend_api spy;
    g_real = be;
    spy = *be;
    spy.weight_upload = spy_upload;
    g_n_up = 0;
    harness_views_clear();
    be = &spy;
    hive_adapter *a = NULL;
    hive_status st = adapter_load(plugin(name), dir, &a);
    be = g_real;
    if (st != HIVE_OK) fprintf(stderr, "load failed: %s\n", last_error);
    assert_int_equal(st, HIVE_OK);
    return a;
}

/* The upload "model.layers.L.<module path>.lora_X" of (l, m). */
static const upload *find_upload(uint32_t l, uint32_t m, const char *suffix) {
    static const char *const mods[T_MODS] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                             "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                             "mlp.down_proj"};
    char want[160];
    snprintf(want, sizeof want, "model.layers.%u.%s%s", l, mods[m], suffix);
    for (int i = 0; i < g_n_up; i++)
        if (!strcmp(g_up[i].name, want)) return &g_up[i];
    fail_msg("no upload named %s", want);
    return NULL;
}

static adapter_data *all_modules(uint32_t r, float s, int dora, const char *dtA, const char *dtB, uint32_t seed) {
    adapter_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) d->r[l][m] = r, d->s[l][m] = s;
    d->dora = dora;
    d->dtype_A = dtA;
    d->dtype_B = dtB;
    adapter_fill(d, seed);
    return d;
}

static const char *cfg(char *buf, size_t cap, uint32_t r, uint32_t alpha, int dora) {
    snprintf(buf, cap,
             "{\"peft_type\":\"LORA\",\"r\":%u,\"lora_alpha\":%u,\"use_dora\":%s,"
             "\"target_modules\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]}",
             r, alpha, dora ? "true" : "false");
    return buf;
}

static void check_hooks(const char *name, hive_adapter *a, const adapter_data *d) {
    const hive_adapter_api *api = plugin(name);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            double e = check_hook(&api, &a, &d, 1, l, m, 3);
            assert_true(e >= 0 && e <= 1e-5);
        }
}

/* F32 file: A always from the file; B from the file only when nothing scales
 * it (LoRA with alpha == r); scaled B (LoRA s != 1, DoRA f s) is a copy. */
void test_uploads_f32_in_place(void **state) {
    (void)state;
    char c[512];
    const struct {
        const char *plugin;
        uint32_t alpha;
        int dora, b_in_file;
    } cases[] = {{"lora", 4, 0, 1}, {"lora", 8, 0, 0}, {"dora", 4, 1, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        adapter_data *d = all_modules(4, (float)cases[k].alpha / 4.0f, cases[k].dora, NULL, NULL, 91 + (uint32_t)k);
        char *dir = adapter_write(d, cfg(c, sizeof c, 4, cases[k].alpha, cases[k].dora), NULL);
        hive_adapter *a = spy_load(cases[k].plugin, dir);
        for (uint32_t l = 0; l < T_LAYERS; l++)
            for (uint32_t m = 0; m < T_MODS; m++) {
                const upload *A = find_upload(l, m, ".lora_A"), *B = find_upload(l, m, ".lora_B");
                if (!A->in_file || B->in_file != cases[k].b_in_file)
                    fprintf(stderr, "%s alpha %u: layer %u module %u: A in file %d, B in file %d\n",
                            cases[k].plugin, cases[k].alpha, l, m, A->in_file, B->in_file);
                assert_true(A->in_file);
                assert_int_equal(B->in_file, cases[k].b_in_file);
            }
        check_hooks(cases[k].plugin, a, d);
        plugin(cases[k].plugin)->destroy(a);
        adapter_remove(dir);
        free(d);
    }
}

/* F16 / BF16 files: converted exactly (values k/256, f16 subnormals and 65280
 * are exact in both), the
 * scale applied in f32 as before. */
void test_uploads_half_convert_exactly(void **state) {
    (void)state;
    char c[512];
    const char *dts[2][2] = {{"BF16", "F16"}, {"F16", "BF16"}};
    for (int k = 0; k < 2; k++) {
        adapter_data *d = all_modules(4, 2.0f, 0, dts[k][0], dts[k][1], 95 + (uint32_t)k);
        /* f16 subnormals and a large value, exact in both types */
        for (int l = 0; l < T_LAYERS; l++)
            for (int m = 0; m < T_MODS; m++) {
                d->A[l][m][0] = ldexpf(1.0f, -20);
                d->A[l][m][1] = -ldexpf(3.0f, -24);
                d->A[l][m][2] = 65280.0f;
            }
        char *dir = adapter_write(d, cfg(c, sizeof c, 4, 8, 0), NULL);
        hive_adapter *a = spy_load("lora", dir);
        for (uint32_t l = 0; l < T_LAYERS; l++)
            for (uint32_t m = 0; m < T_MODS; m++) {
                const upload *A = find_upload(l, m, ".lora_A"), *B = find_upload(l, m, ".lora_B");
                assert_false(A->in_file);
                assert_false(B->in_file);
                assert_memory_equal(A->data, d->A[l][m], A->n * sizeof(float));
                for (uint64_t i = 0; i < B->n; i++) {
                    float want = d->B[l][m][i] * 2.0f;
                    assert_memory_equal(&B->data[i], &want, sizeof want);
                }
            }
        check_hooks("lora", a, d);
        plugin("lora")->destroy(a);
        adapter_remove(dir);
        free(d);
    }
}

/* The common code's F16 / BF16 conversion (vectorizable, adapters/common/
 * peft_util.c) against the host's own (host/util/dtype.c) for all 65,536
 * inputs of each, NaN payloads and subnormals included. */
void test_uploads_convert_every_half(void **state) {
    (void)state;
    static uint16_t in[65536];
    static float got[65536];
    for (uint32_t i = 0; i < 65536; i++) in[i] = (uint16_t)i;
    const uint32_t dts[2] = {HIVE_DTYPE_F16, HIVE_DTYPE_BF16};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(peft_to_f32(dts[k], in, got, 65536), 0);
        for (uint32_t i = 0; i < 65536; i++) {
            float want = k == 0 ? hive_f16_to_f32((uint16_t)i) : hive_bf16_to_f32((uint16_t)i);
            if (memcmp(&want, &got[i], 4)) fail_msg("%s 0x%04x: got %a, want %a", k ? "bf16" : "f16", i, got[i], want);
        }
    }
}

/* Rewrites dir's safetensors with two more header bytes, so that every
 * tensor's data starts at an address 2 mod 4 (the format allows it). */
static void misalign(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t hlen;
    memcpy(&hlen, b, 8);
    uint64_t longer = hlen + 2;
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(&longer, 8, 1, f), 1);
    assert_int_equal(fwrite(b + 8, 1, (size_t)hlen, f), (size_t)hlen);
    assert_int_equal(fwrite("  ", 1, 2, f), 2);
    assert_int_equal(fwrite(b + 8 + hlen, 1, (size_t)size - 8 - hlen, f), (size_t)size - 8 - hlen);
    fclose(f);
    free(b);
}

/* F32 data at an unaligned address is converted (copied), not read in place
 * as floats, and gives the same weights. */
void test_uploads_unaligned_f32_copied(void **state) {
    (void)state;
    char c[512];
    adapter_data *d = all_modules(4, 1.0f, 0, NULL, NULL, 97);
    char *dir = adapter_write(d, cfg(c, sizeof c, 4, 4, 0), NULL);
    misalign(dir);
    hive_adapter *a = spy_load("lora", dir);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            const upload *A = find_upload(l, m, ".lora_A"), *B = find_upload(l, m, ".lora_B");
            assert_false(A->in_file);
            assert_false(B->in_file);
            assert_memory_equal(A->data, d->A[l][m], A->n * sizeof(float));
            assert_memory_equal(B->data, d->B[l][m], B->n * sizeof(float));
        }
    check_hooks("lora", a, d);
    plugin("lora")->destroy(a);
    adapter_remove(dir);
    free(d);
}
