/* The host's adapter cache (experts/adapter_store.c): blobs round-trip under
 * a key of base model, adapter file and config; another base, adapter or
 * config misses; a damaged file is detected, deleted and reads as absent; an
 * unusable cache directory or a bad blob name only turns caching off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/adapter_store.h"
#include "tests.h"
#include "util.h"

static const char k_payload[] = "the norms of 3 modules, pretend";

static void put_get(hive_adapter_store *s, const char *name, const void *data, uint64_t n) {
    s->api.put(s->api.ctx, name, data, n);
    void *got = NULL;
    uint64_t size = 0;
    assert_int_equal(s->api.get(s->api.ctx, name, &got, &size), HIVE_OK);
    assert_int_equal(size, n);
    assert_memory_equal(got, data, n);
    free(got);
}

static int get_status(hive_adapter_store *s, const char *name) {
    void *got = NULL;
    uint64_t size = 0;
    hive_status st = s->api.get(s->api.ctx, name, &got, &size);
    if (st == HIVE_OK) free(got);
    else assert_null(got);
    return st;
}

static const char *blob_path(hive_adapter_store *s, const char *name) {
    static char p[PATH_MAX + 80];
    const char *dir = hive_adapter_store_dir(s);
    assert_non_null(dir);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void test_store_roundtrip_and_keys(void **state) {
    (void)state;
    const char *base = tu_write("store/base.gguf", "base model bytes");
    const char *base2 = tu_write("store/base2.gguf", "other model bytes");
    const char *ad = tu_write("store/a/adapter_model.safetensors", "adapter one");
    const char *ad2 = tu_write("store/b/adapter_model.safetensors", "adapter two");
    hive_adapter_store s, t;
    hive_adapter_store_stats s0, s1;
    hive_adapter_store_get_stats(&s0);
    hive_adapter_store_init(&s, base, ad, "{\"r\":8}", "rows");
    assert_int_equal(s.state, 0); /* nothing hashed before the first use */
    assert_int_equal(get_status(&s, "dora-norms"), HIVE_E_NOTFOUND);
    put_get(&s, "dora-norms", k_payload, sizeof k_payload);
    put_get(&s, "empty", "", 0);
    hive_adapter_store_get_stats(&s1);
    assert_int_equal(s1.writes - s0.writes, 2);
    assert_int_equal(s1.hits - s0.hits, 2);
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_non_null(strstr(hive_adapter_store_dir(&s), "/adapter-data/"));

    /* the same three again: a new store finds it (a later process) */
    hive_adapter_store_init(&t, base, ad, "{\"r\":8}", "rows");
    assert_int_equal(get_status(&t, "dora-norms"), HIVE_OK);
    /* another base, adapter or config: a miss */
    hive_adapter_store_init(&t, base2, ad, "{\"r\":8}", "rows");
    assert_int_equal(get_status(&t, "dora-norms"), HIVE_E_NOTFOUND);
    hive_adapter_store_init(&t, base, ad2, "{\"r\":8}", "rows");
    assert_int_equal(get_status(&t, "dora-norms"), HIVE_E_NOTFOUND);
    hive_adapter_store_init(&t, base, ad, "{\"r\":8,\"lora_alpha\":4}", "rows");
    assert_int_equal(get_status(&t, "dora-norms"), HIVE_E_NOTFOUND);
    hive_adapter_store_init(&t, base, ad, "{\"r\":8}", "other rows"); /* the base weights laid out otherwise */
    assert_int_equal(get_status(&t, "dora-norms"), HIVE_E_NOTFOUND);

    /* names that could leave the directory are refused */
    s.api.put(s.api.ctx, "../escape", k_payload, sizeof k_payload);
    assert_false(tu_exists(tu_path("store/escape")));
    assert_int_equal(get_status(&s, "../dora-norms"), HIVE_E_NOTFOUND);
    assert_int_equal(get_status(&s, ".hidden"), HIVE_E_NOTFOUND);
}

/* Rewrites the blob file with f applied to its bytes. */
static void damage_file(const char *path, void (*f)(unsigned char *b, long *n)) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char b[4096];
    long n = (long)fread(b, 1, sizeof b, fp);
    fclose(fp);
    f(b, &n);
    assert_non_null(fp = fopen(path, "wb"));
    assert_int_equal(fwrite(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
}
static void flip_payload(unsigned char *b, long *n) { b[*n - 3] ^= 0x10; }
static void flip_checksum(unsigned char *b, long *n) { (void)n, b[20] ^= 1; }
static void cut_tail(unsigned char *b, long *n) { (void)b, *n -= 5; }
static void cut_header(unsigned char *b, long *n) { (void)b, *n = 20; }
static void bad_magic(unsigned char *b, long *n) { (void)n, b[0] = 'X'; }
static void longer(unsigned char *b, long *n) { b[(*n)++] = 0; }

static void test_store_damaged(void **state) {
    (void)state;
    const char *base = tu_write("damage/base.gguf", "base model bytes");
    const char *ad = tu_write("damage/adapter_model.safetensors", "adapter bytes");
    hive_adapter_store s;
    hive_adapter_store_init(&s, base, ad, "{}", "rows");
    void (*kinds[])(unsigned char *, long *) = {flip_payload, flip_checksum, cut_tail, cut_header, bad_magic, longer};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        put_get(&s, "blob", k_payload, sizeof k_payload);
        const char *path = blob_path(&s, "blob");
        damage_file(path, kinds[i]);
        hive_adapter_store_stats a, b;
        hive_adapter_store_get_stats(&a);
        assert_int_equal(get_status(&s, "blob"), HIVE_E_NOTFOUND);
        hive_adapter_store_get_stats(&b);
        assert_int_equal(b.damaged - a.damaged, 1);
        assert_false(tu_exists(path)); /* deleted, so the next load rewrites it */
    }
    put_get(&s, "blob", k_payload, sizeof k_payload); /* and it works again */
}

static void test_store_off(void **state) {
    (void)state;
    const char *base = tu_write("off/base.gguf", "base model bytes");
    const char *ad = tu_write("off/adapter_model.safetensors", "adapter bytes");
    hive_adapter_store s;
    /* no model path (tests, engines without files), or a missing file */
    hive_adapter_store_init(&s, NULL, ad, "{}", "rows");
    assert_int_equal(s.state, -1);
    s.api.put(s.api.ctx, "blob", k_payload, sizeof k_payload);
    assert_int_equal(get_status(&s, "blob"), HIVE_E_NOTFOUND);
    hive_adapter_store_init(&s, tu_path("off/missing.gguf"), ad, "{}", "rows");
    assert_int_equal(s.state, -1);
    /* a cache root that cannot be made (under a regular file): off, no error */
    char *old = strdup(getenv("HIVE_CACHE"));
    setenv("HIVE_CACHE", tu_path("off/base.gguf/cache"), 1);
    hive_adapter_store_stats a, b;
    hive_adapter_store_get_stats(&a);
    hive_adapter_store_init(&s, base, ad, "{}", "rows");
    s.api.put(s.api.ctx, "blob", k_payload, sizeof k_payload);
    assert_int_equal(get_status(&s, "blob"), HIVE_E_NOTFOUND);
    assert_null(hive_adapter_store_dir(&s));
    hive_adapter_store_get_stats(&b);
    assert_int_equal(b.writes, a.writes);
    setenv("HIVE_CACHE", old, 1);
    free(old);
}

int run_adapter_store_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_roundtrip_and_keys),
        cmocka_unit_test(test_store_damaged),
        cmocka_unit_test(test_store_off),
    };
    return cmocka_run_group_tests_name("adapter_store", tests, NULL, NULL);
}
