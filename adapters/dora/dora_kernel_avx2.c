/* DoRA norm kernel, AVX2 + FMA (4 f64 lanes; 16 registers: 4 x 2 tiles). */
#define DORA_VW 4
#define DORA_ROWS 4
#define DORA_COLS 2
#define DORA_KERNEL_NAME dora_sumsq_avx2
#include "dora_kernel_body.h"
