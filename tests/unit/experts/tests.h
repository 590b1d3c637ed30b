/* cmocka groups of the experts test. */
#ifndef EXPERTS_TESTS_H
#define EXPERTS_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

int run_package_tests(void);
int run_manifest_tests(void);
int run_decoding_tests(void);
int run_cache_tests(void);
int run_compose_tests(void);
int run_plugin_tests(void);
int run_adapter_store_tests(void); /* test_adapter_store.c: the host's adapter cache (ABI 1.7) */
int run_zoo_tests(void); /* test_zoo.c: many experts, lazy discovery, the bench's LRU */

/* assert that err's message contains needle, then free it */
#define assert_err_contains(err, needle)                                                  \
    do {                                                                                  \
        const char *m_ = hive_error_message(err);                                         \
        if (!strstr(m_, (needle))) fail_msg("error '%s' lacks '%s'", m_, (needle));       \
        hive_error_free(err);                                                             \
        (err) = NULL;                                                                     \
    } while (0)

#endif
