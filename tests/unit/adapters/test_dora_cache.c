/* dora plugin with the host's adapter cache (a fake in-memory store here):
 * the first load computes the norms and stores the table, the second takes it
 * (no dequantized base weight asked for) with bit-identical results; a table
 * that is damaged or made for another load is refused with a warning and
 * recomputed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

#define TOL 1e-5
#define N_MODULES (T_LAYERS * T_MODS)

static const char *const k_cfg16 =
    "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":16,\"use_dora\":true,"
    "\"target_modules\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]}";
static const char *const k_cfg8 =
    "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"use_dora\":true,"
    "\"target_modules\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]}";

static float g_merged[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];

static adapter_data *data_with_scale(uint32_t seed, float s) {
    adapter_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) d->r[l][m] = 4, d->s[l][m] = s;
    d->dora = 1;
    adapter_fill(d, seed);
    return d;
}

/* Loads dir; checks how many base weights the load dequantized and every
 * hook against the reference. */
static hive_adapter *load_checked(const hive_adapter_api *api, const char *dir, const adapter_data *d,
                                  int want_weight_calls) {
    hive_adapter *a = NULL;
    weight_f32_calls = 0;
    hive_status st = adapter_load(api, dir, &a);
    if (st != HIVE_OK) fprintf(stderr, "load failed: %s\n", last_error);
    assert_int_equal(st, HIVE_OK);
    assert_int_equal(weight_f32_calls, want_weight_calls);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            double e = check_hook(&api, &a, &d, 1, l, m, 3);
            assert_true(e >= 0 && e <= TOL);
        }
    return a;
}

static void merge_into(const hive_adapter_api *api, hive_adapter *a, float out[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM]) {
    hive_error *err = NULL;
    memset(merged_set, 0, sizeof merged_set);
    assert_int_equal(api->merge(a, &err), HIVE_OK);
    memcpy(out, merged_w, sizeof merged_w);
}

void test_dora_cache_reuse(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("dora");
    adapter_data *d = data_with_scale(51, 4.0f);
    char *dir = adapter_write(d, k_cfg16, NULL);
    blob_store_clear();
    harness_cache = &test_cache;
    int warn0 = harness_warnings;

    hive_adapter *a = load_checked(api, dir, d, N_MODULES); /* computes, stores */
    assert_int_equal(blob_store.puts, 1);
    assert_int_equal(blob_store.n, 1);
    assert_string_equal(blob_store.blobs[0].name, "dora-norms");
    merge_into(api, a, g_merged);
    api->destroy(a);

    hive_adapter *b = load_checked(api, dir, d, 0); /* from the table: no base weight read */
    assert_int_equal(blob_store.hits, 1);
    assert_int_equal(blob_store.puts, 1); /* not rewritten */
    merge_into(api, b, merged_w);
    assert_memory_equal(merged_w, g_merged, sizeof g_merged); /* bit-identical to the computed load */
    api->destroy(b);
    assert_int_equal(harness_warnings, warn0);

    harness_cache = NULL; /* without a cache: computed, nothing stored */
    hive_adapter *c = load_checked(api, dir, d, N_MODULES);
    assert_int_equal(blob_store.puts, 1);
    api->destroy(c);

    blob_store_clear();
    adapter_remove(dir);
    free(d);
}

/* Breaks the stored table with `damage`, then a load must recompute (and
 * warn), store a good table again, and the load after it must use that. */
static void expect_refused(const hive_adapter_api *api, const char *dir, const adapter_data *d,
                           void (*damage)(test_blob *b)) {
    assert_int_equal(blob_store.n, 1);
    damage(&blob_store.blobs[0]);
    int warn0 = harness_warnings, puts0 = blob_store.puts;
    hive_adapter *a = load_checked(api, dir, d, N_MODULES);
    assert_int_equal(harness_warnings, warn0 + 1);
    assert_int_equal(blob_store.puts, puts0 + 1);
    api->destroy(a);
    a = load_checked(api, dir, d, 0);
    api->destroy(a);
}

static void bad_magic(test_blob *b) { b->data[0] ^= 1; }
static void other_level(test_blob *b) { b->data[8] ^= 0x40; }
static void truncated(test_blob *b) { b->size -= 4; }
static void nan_factor(test_blob *b) {
    float v = NAN;
    memcpy(b->data + b->size - 4, &v, 4);
}
static void other_rank(test_blob *b) { b->data[16 + 16] ^= 1; } /* first module's r */

void test_dora_cache_refuses(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("dora");
    adapter_data *d16 = data_with_scale(52, 4.0f), *d8 = data_with_scale(52, 2.0f);
    char *dir16 = adapter_write(d16, k_cfg16, NULL), *dir8 = adapter_write(d8, k_cfg8, NULL);
    blob_store_clear();
    harness_cache = &test_cache;
    api->destroy(load_checked(api, dir16, d16, N_MODULES));
    expect_refused(api, dir16, d16, bad_magic);
    expect_refused(api, dir16, d16, other_level);
    expect_refused(api, dir16, d16, truncated);
    expect_refused(api, dir16, d16, nan_factor);
    expect_refused(api, dir16, d16, other_rank);

    /* the same tensors under another scale: the table of alpha 16 does not fit alpha 8 */
    int warn0 = harness_warnings;
    hive_adapter *a = load_checked(api, dir8, d8, N_MODULES);
    assert_int_equal(harness_warnings, warn0 + 1);
    api->destroy(a);

    harness_cache = NULL;
    blob_store_clear();
    adapter_remove(dir16);
    adapter_remove(dir8);
    free(d16);
    free(d8);
}
