/* Unit tests of host/experts: packages, manifests, base checks, decoding
 * defaults, the LRU cache and composition. */
#include <string.h>

#include "tests.h"
#include "util.h"

int main(void) {
    tu_setup_tmp();
    int failed = 0;
    failed += run_package_tests();
    failed += run_manifest_tests();
    failed += run_decoding_tests();
    failed += run_cache_tests();
    failed += run_compose_tests();
    failed += run_plugin_tests();
    failed += run_zoo_tests();
    failed += run_adapter_store_tests();
    tu_cleanup_tmp();
    return failed ? 1 : 0;
}
