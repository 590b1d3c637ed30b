/* DoRA norm kernel in plain C vectors (2 f64 lanes): any CPU; no FMA, so
 * every element is computed exactly as the reference loop computes it. */
#define DORA_VW 2
#define DORA_ROWS 4
#define DORA_COLS 2
#define DORA_KERNEL_NAME dora_sumsq_generic
#include "dora_kernel_body.h"
