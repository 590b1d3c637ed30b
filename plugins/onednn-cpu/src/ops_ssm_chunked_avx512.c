/* The chunked Mamba2 scan compiled for AVX512 (CMakeLists.txt sets the flags). */
#define SSM_CHUNKED_FN cpu_ssm_scan_chunked_avx512
#include "ops_ssm_chunked.c"
