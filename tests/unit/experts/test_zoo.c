/* Many experts (docs/EXPERTS.md, "A thousand experts"): the cache's count
 * limit, the bench's Zipf draw and ideal LRU (host/cli/bench_lru.c) on
 * hand-checked traces, the real cache against that LRU on a Zipf trace, and
 * lazy discovery in the catalog (a scan reads names only; a broken package
 * fails its own use, naming itself). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/bench_lru.h"
#include "experts/cache.h"
#include "experts/catalog.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

/* Runs `trace` through the ideal LRU; returns the hit count, and each
 * access's result as 'h'/'m' in out. */
static uint64_t run_trace(hive_lru_sim *l, const size_t *trace, const uint64_t *bytes, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) out[i] = hive_lru_sim_access(l, trace[i], bytes ? bytes[trace[i]] : 1) ? 'h' : 'm';
    out[n] = 0;
    return l->hits;
}

static void test_lru_sim_by_hand(void **state) {
    (void)state;
    hive_lru_sim l;
    char got[32];
    /* two slots: 0 1 0 2 0 1 2. After "0 1 0", 2 evicts 1 (older than 0);
     * 0 hits; 1 evicts 2 (used at 4, 0 at 5); 2 evicts 0 (used at 5, 1 at 6). */
    static const size_t t1[] = {0, 1, 0, 2, 0, 1, 2};
    assert_int_equal(hive_lru_sim_init(&l, 3, 2, 0), 0);
    assert_int_equal(run_trace(&l, t1, NULL, 7, got), 2);
    assert_string_equal(got, "mmhmhmm");
    assert_int_equal(l.misses, 5);
    assert_int_equal(l.resident, 2);
    hive_lru_sim_free(&l);
    /* 100 bytes; sizes 60, 50, 30: 1 evicts 0 (110 > 100), 2 fits (80), 0
     * evicts 1 (140 -> 90), 2 hits, 1 evicts 0, the least recent (140 -> 80). */
    static const size_t t2[] = {0, 1, 2, 0, 2, 1};
    static const uint64_t sz[] = {60, 50, 30};
    assert_int_equal(hive_lru_sim_init(&l, 3, 0, 100), 0);
    assert_int_equal(run_trace(&l, t2, sz, 6, got), 1);
    assert_string_equal(got, "mmmmhm");
    assert_int_equal(l.held_bytes, 80);
    assert_int_equal(l.last_use[0], 0); /* 0 went, 2 stayed */
    assert_int_not_equal(l.last_use[2], 0);
    hive_lru_sim_free(&l);
    /* an item larger than the budget is admitted alone, then evicted by the next */
    static const size_t t3[] = {0, 1, 1, 0};
    static const uint64_t big[] = {500, 5};
    assert_int_equal(hive_lru_sim_init(&l, 2, 0, 100), 0);
    assert_int_equal(run_trace(&l, t3, big, 4, got), 1);
    assert_string_equal(got, "mmhm");
    assert_int_equal(l.resident, 1);
    assert_int_equal(hive_lru_sim_access(&l, 2, 1), -1); /* out of range */
    hive_lru_sim_free(&l);
    /* no limits: everything stays */
    static const size_t t4[] = {0, 1, 2, 0, 1, 2};
    assert_int_equal(hive_lru_sim_init(&l, 3, 0, 0), 0);
    assert_int_equal(run_trace(&l, t4, NULL, 6, got), 3);
    hive_lru_sim_free(&l);
}

static void test_zipf(void **state) {
    (void)state;
    hive_zipf z;
    assert_int_equal(hive_zipf_init(&z, 0, 1.0), -1);
    assert_int_equal(hive_zipf_init(&z, 10, -1.0), -1);
    /* s = 1 over 1000: P(rank 0) = 1 / H(1000) = 0.1336, P(rank 1) = half that */
    assert_int_equal(hive_zipf_init(&z, 1000, 1.0), 0);
    uint64_t rng = 7, rng2 = 7;
    size_t count[3] = {0}, n = 200000, max = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = hive_zipf_draw(&z, &rng);
        assert_true(k < 1000);
        if (k < 3) count[k]++;
        if (k > max) max = k;
        assert_int_equal(k, hive_zipf_draw(&z, &rng2)); /* the same seed, the same trace */
    }
    double h = 0;
    for (int k = 1; k <= 1000; k++) h += 1.0 / k;
    assert_true(fabs((double)count[0] / n - 1 / h) < 0.005);
    assert_true(fabs((double)count[1] / n - 0.5 / h) < 0.005);
    assert_true(max > 900); /* the tail is drawn too */
    hive_zipf_free(&z);
    /* s = 0 is uniform */
    assert_int_equal(hive_zipf_init(&z, 4, 0.0), 0);
    size_t u[4] = {0};
    for (size_t i = 0; i < 40000; i++) u[hive_zipf_draw(&z, &rng)]++;
    for (int k = 0; k < 4; k++) assert_true(u[k] > 9500 && u[k] < 10500);
    hive_zipf_free(&z);
}

static void test_cache_max(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_expert_cache *c = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(1 << 30, &t, &c, &err), HIVE_OK);
    hive_expert_cache_set_max_experts(c, 2);
    const char *p[3] = {tu_simple_expert("max/a", 10, NULL), tu_simple_expert("max/b", 10, NULL),
                        tu_simple_expert("max/c", 10, NULL)};
    hive_expert *x[3];
    for (int i = 0; i < 3; i++) assert_int_equal(hive_expert_cache_get(c, p[i], &x[i], &err), HIVE_OK);
    hive_expert_cache_stats st;
    hive_expert_cache_get_stats(c, &st);
    assert_int_equal(st.n_experts, 3); /* all pinned: over the count, nothing evictable */
    hive_expert_cache_release(c, x[1]);
    hive_expert_cache_get_stats(c, &st);
    assert_int_equal(st.n_experts, 2); /* b went as soon as it was unpinned */
    assert_null(hive_expert_cache_peek(c, p[1]));
    hive_expert_cache_release(c, x[0]);
    hive_expert_cache_release(c, x[2]);
    assert_int_equal(hive_expert_cache_get(c, p[1], &x[1], &err), HIVE_OK); /* evicts a, the least recent */
    hive_expert_cache_release(c, x[1]);
    assert_null(hive_expert_cache_peek(c, p[0]));
    assert_non_null(hive_expert_cache_peek(c, p[2]));
    hive_expert_cache_set_max_experts(c, 1);
    hive_expert_cache_get_stats(c, &st);
    assert_int_equal(st.n_experts, 1);
    assert_non_null(hive_expert_cache_peek(c, p[1]));
    hive_expert_cache_free(c);
}

/* The real cache on a Zipf trace over N fake experts of different sizes gets
 * the ideal LRU's hits exactly: one request at a time nothing else is pinned,
 * so the cache must be an LRU. Under a count limit and under a byte budget. */
static void cache_vs_ideal(uint32_t max_experts, uint64_t budget) {
    enum { N = 300, REQUESTS = 3000 };
    static char paths[N][600];
    static uint64_t bytes[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        bytes[i] = 1000 + (uint64_t)(i * 7919 % 9000); /* 1 000 .. 9 999 device bytes */
        snprintf(name, sizeof name, "zipf/e%03d", i);
        snprintf(paths[i], sizeof paths[i], "%s", tu_simple_expert(name, bytes[i], NULL));
    }
    hive_expert_target t;
    tu_target(&t);
    hive_expert_cache *c = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(budget, &t, &c, &err), HIVE_OK);
    hive_expert_cache_set_max_experts(c, max_experts);
    hive_zipf z;
    hive_lru_sim ideal;
    assert_int_equal(hive_zipf_init(&z, N, 1.0), 0);
    assert_int_equal(hive_lru_sim_init(&ideal, N, max_experts, budget), 0);
    uint64_t rng = 42;
    for (int q = 0; q < REQUESTS; q++) {
        size_t i = hive_zipf_draw(&z, &rng);
        hive_expert *x = NULL;
        assert_int_equal(hive_expert_cache_get(c, paths[i], &x, &err), HIVE_OK);
        assert_int_equal(x->device_bytes, bytes[i]);
        hive_expert_cache_release(c, x);
        hive_lru_sim_access(&ideal, i, bytes[i]);
    }
    hive_expert_cache_stats st;
    hive_expert_cache_get_stats(c, &st);
    double hit = (double)st.hits / REQUESTS, want = (double)ideal.hits / REQUESTS;
    if (fabs(hit - want) > 0.02 || st.hits != ideal.hits)
        fail_msg("cache hits %llu (%.4f), ideal LRU %llu (%.4f)", (unsigned long long)st.hits, hit,
                 (unsigned long long)ideal.hits, want);
    assert_true(want > 0.3 && want < 0.95); /* the limit binds, and the trace repeats */
    hive_lru_sim_free(&ideal);
    hive_zipf_free(&z);
    hive_expert_cache_free(c);
}

static void test_cache_matches_ideal_lru(void **state) {
    (void)state;
    cache_vs_ideal(30, 1 << 30); /* a count limit */
    cache_vs_ideal(0, 150000);   /* a byte budget: about 27 experts */
}

static void alarm_fail(int sig) {
    (void)sig;
    static const char msg[] = "test_catalog_lazy: the scan opened a package's manifest (it blocked on a fifo)\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(3);
}

static void test_catalog_lazy(void **state) {
    (void)state;
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "lazy/good%02d", i);
        tu_simple_expert(name, 100, NULL);
    }
    tu_write("lazy/broken/manifest.json", "{\"name\": ");
    tu_write("lazy/garbage.expert", "not an archive");
    tu_write("lazy/notes.txt", "not a package");
    tu_write("lazy/other/readme", "a directory that is no package");
    tu_simple_expert("lazy/renamed", 100, NULL);
    /* a fifo for a manifest: reading it would block, so a scan that opened
     * manifests would hang here (the alarm turns that into a failure) */
    assert_int_equal(mkdir(tu_path("lazy/fifo"), 0755), 0);
    assert_int_equal(mkfifo(tu_path("lazy/fifo/manifest.json"), 0644), 0);
    signal(SIGALRM, alarm_fail);
    alarm(20);
    hive_catalog c = {0};
    hive_error *err = NULL;
    assert_int_equal(hive_catalog_scan_dir(&c, tu_path("lazy"), &err), HIVE_OK);
    alarm(0);
    assert_int_equal(c.n, 50 + 4); /* good*, broken, fifo, garbage, renamed */
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.v[i].resolved, 0);
        assert_string_equal(c.v[i].description, "");
    }
    const hive_catalog_entry *g = hive_catalog_find(&c, "good07");
    assert_non_null(g);
    assert_int_equal(hive_catalog_resolve(&c, (size_t)(g - c.v), &err), HIVE_OK);
    assert_string_equal(g->description, "test expert"); /* tu_package's */
    assert_int_equal(hive_catalog_resolve(&c, (size_t)(g - c.v), &err), HIVE_OK); /* once read, kept */
    const hive_catalog_entry *b = hive_catalog_find(&c, "broken");
    assert_non_null(b);
    assert_int_not_equal(hive_catalog_resolve(&c, (size_t)(b - c.v), &err), HIVE_OK);
    assert_err_contains(err, "expert 'broken' (");
    assert_int_not_equal(hive_catalog_resolve(&c, (size_t)(b - c.v), &err), HIVE_OK); /* tried again: still broken */
    assert_err_contains(err, "manifest.json: not valid JSON");
    b = hive_catalog_find(&c, "garbage");
    assert_non_null(b);
    assert_int_not_equal(hive_catalog_resolve(&c, (size_t)(b - c.v), &err), HIVE_OK);
    assert_err_contains(err, "garbage.expert is not a readable .expert archive");
    /* a directory's name, not its manifest's ("lazy/renamed"), names the expert */
    assert_non_null(hive_catalog_find(&c, "renamed"));
    assert_null(hive_catalog_find(&c, "lazy/renamed"));
    assert_null(hive_catalog_find(&c, "notes.txt"));
    assert_null(hive_catalog_find(&c, "other"));
    hive_catalog_free(&c);
    /* the same without the fifo: every good package resolves, the broken two do not */
    assert_int_equal(unlink(tu_path("lazy/fifo/manifest.json")), 0);
    assert_int_equal(hive_catalog_scan_dir(&c, tu_path("lazy"), &err), HIVE_OK);
    assert_int_equal(hive_catalog_resolve_all(&c), 51);
    hive_catalog_free(&c);
    assert_int_not_equal(hive_catalog_scan_dir(&c, tu_path("lazy/none"), &err), HIVE_OK);
    assert_err_contains(err, "lazy/none cannot be read: No such file or directory");
}

int run_zoo_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_sim_by_hand),
        cmocka_unit_test(test_zipf),
        cmocka_unit_test(test_cache_max),
        cmocka_unit_test(test_cache_matches_ideal_lru),
        cmocka_unit_test(test_catalog_lazy),
    };
    return cmocka_run_group_tests_name("zoo", tests, tu_fake_registry_setup, tu_fake_registry_teardown);
}
