/* DoRA norm kernel, AVX-512F + FMA (8 f64 lanes; 32 registers: 8 x 2 tiles). */
#define DORA_VW 8
#define DORA_ROWS 8
#define DORA_COLS 2
#define DORA_KERNEL_NAME dora_sumsq_avx512
#include "dora_kernel_body.h"
