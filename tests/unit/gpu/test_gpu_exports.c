/* test_gpu_exports.c — each built GPU plugin exports exactly hive_plugin_query
 * and hive_plugin_init (nm -D --defined-only). Skips when nm is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void check_exports(const char *file) {
    char path[1024], cmd[1200], line[512];
    snprintf(path, sizeof path, "%s/%s", HIVE_PLUGIN_BUILD_DIR, file);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s not built\n", path);
        skip();
    }
    if (system("nm --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "nm not available\n");
        skip();
    }
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int query = 0, init = 0, other = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[400];
        if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3) {
            fprintf(stderr, "unexpected nm line: %s", line);
            other++;
            continue;
        }
        if (strcmp(name, "hive_plugin_query") == 0) query++;
        else if (strcmp(name, "hive_plugin_init") == 0) init++;
        else {
            fprintf(stderr, "%s exports %s\n", file, name);
            other++;
        }
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(query, 1);
    assert_int_equal(init, 1);
    assert_int_equal(other, 0);
}

#ifdef HIVE_TEST_CUDA
static void test_cuda_exports(void **state) {
    (void)state;
    check_exports("cuda.so");
}
#endif
#ifdef HIVE_TEST_HIP
static void test_hip_exports(void **state) {
    (void)state;
    check_exports("hip.so");
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
#ifdef HIVE_TEST_CUDA
        cmocka_unit_test(test_cuda_exports),
#endif
#ifdef HIVE_TEST_HIP
        cmocka_unit_test(test_hip_exports),
#endif
    };
    return cmocka_run_group_tests_name("gpu_exports", tests, NULL, NULL);
}
