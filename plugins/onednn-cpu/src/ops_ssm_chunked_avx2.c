/* The chunked Mamba2 scan compiled for AVX2 (CMakeLists.txt sets the flags). */
#define SSM_CHUNKED_FN cpu_ssm_scan_chunked_avx2
#include "ops_ssm_chunked.c"
