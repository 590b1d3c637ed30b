/* Helpers for the ia3 / soft-prompt tests on top of tests/unit/adapters'
 * harness: IA3 adapter data and files, a mini engine linear (hooks in the
 * documented order around a real onednn-cpu matmul), strided views. */
#ifndef IA3SP_TEST_UTIL_H
#define IA3SP_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "st_writer.h"

#define TOL 1e-5

/* One IA3 adapter: which (layer, module) it targets, which are feed-forward,
 * and l (n = in for feed-forward, out otherwise). */
typedef struct ia3_data {
    int targeted[T_LAYERS][T_MODS];
    int ff[T_LAYERS][T_MODS];
    float l[T_LAYERS][T_MODS][T_MAX_DIM];
    const char *dtype; /* "F32" (default), "F16", "BF16" */
} ia3_data;

uint32_t u_rnd(void);
void u_seed(uint32_t s);
float u_k64(int lo, int hi); /* k/64, k in [lo, hi] \ {0}: exact in f16 and bf16 */

/* targets: modules (bit m = module m) in every layer; ff: the feed-forward subset */
ia3_data *ia3_new(uint32_t targets, uint32_t ff, uint32_t seed);
/* Writes config + tensors into a fresh directory. bad_*: when bl >= 0, the
 * tensor of (bl, bm) is written with shape [bad0, bad1] instead. extra: more
 * [1, 1] tensor names, NULL-terminated (may be NULL). */
char *ia3_write(const ia3_data *d, const char *config, const char *const *extra, int bl, int bm, int64_t bad0,
                int64_t bad1);
/* A directory with config and the given tensors. */
char *dir_write(const char *config, const st_tensor *t, int n);

hive_adapter *load_ok(const hive_adapter_api *api, const char *dir);
void expect_in(const char *what, const char *msg);
/* load through plugin `name` must fail with `what` in the message and *out NULL */
void expect_fail_dir(const char *name, char *dir, const char *what);

/* Mini engine: y = linear (l, m) of n host rows x [n, in] with the hooks of
 * the given adapters (LINEAR_INPUT on x, matmul with base W and bias,
 * OUTPUT_SCALE on y), on strided device views with sentinels. merged != 0 uses
 * merged_w instead of base_w and calls no hooks. y: [n, out] host. Returns 0,
 * or -1 on a failure (message on stderr). */
int mini_linear(const hive_adapter_api *const *apis, hive_adapter *const *ads, int n_ad, uint32_t l, uint32_t m,
                const float *x, uint32_t n, int merged, float *y);
/* Reference of the same in double: x scaled by every feed-forward l, W x + b,
 * scaled by every output l. */
void ref_linear(const ia3_data *const *d, int n_ad, uint32_t l, uint32_t m, const float *x, uint32_t n, double *y);
/* max |a - b| / max |b| */
double rel_err(const float *a, const double *b, size_t n);

/* A strided device view [rows, cols] (stride cols + 3) with sentinels. */
typedef struct view {
    hive_buffer *buf;
    hive_tensor t;
    float *p; /* element (0, 0) */
    size_t total;
    float *all;
} view;
view view_new(uint32_t rows, uint32_t cols);
int view_sentinels_ok(const view *v);
void view_free(view *v);

#endif
