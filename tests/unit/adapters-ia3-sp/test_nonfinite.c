/* IA3 vectors and soft-prompt embeddings holding NaN or Inf are refused at
 * load, with a message naming the file, the tensor and the element, whatever
 * the stored dtype (F32, F16, BF16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util.h"

#define M(x) (1u << HIVE_MODULE_##x)
#define IA3_CFG \
    "{\"peft_type\":\"IA3\",\"target_modules\":[\"k_proj\",\"v_proj\",\"down_proj\"],\"feedforward_modules\":[\"down_proj\"]}"
#define SP_CFG "{\"peft_type\":\"PROMPT_TUNING\",\"num_virtual_tokens\":5,\"token_dim\":16}"

/* Loading dir through `name`: refused, naming `what` (removes dir). */
static void expect_refused(const char *name, char *dir, const char *what) { assert_true(adapter_refused(name, dir, what)); }

void test_nonfinite_ia3(void **state) {
    (void)state;
    const char *dtypes[3] = {"F32", "F16", "BF16"};
    for (int k = 0; k < 3; k++) {
        ia3_data *d = ia3_new(M(K) | M(V) | M(DOWN), M(DOWN), 7);
        d->dtype = dtypes[k];
        d->l[1][HIVE_MODULE_V][4] = NAN; /* output scale [8, 1] */
        expect_refused("ia3", ia3_write(d, IA3_CFG, NULL, -1, -1, 0, 0),
                       "tensor 'base_model.model.model.layers.1.self_attn.v_proj.ia3_l' holds NaN at element 4 (of 8)");
        free(d);
        d = ia3_new(M(K) | M(V) | M(DOWN), M(DOWN), 7);
        d->dtype = dtypes[k];
        d->l[0][HIVE_MODULE_DOWN][23] = INFINITY; /* feed-forward input scale [1, 24] */
        expect_refused("ia3", ia3_write(d, IA3_CFG, NULL, -1, -1, 0, 0),
                       "tensor 'base_model.model.model.layers.0.mlp.down_proj.ia3_l' holds +Inf at element 23 (of 24)");
        free(d);
    }
}

void test_nonfinite_soft_prompt(void **state) {
    (void)state;
    const char *dtypes[3] = {"F32", "F16", "BF16"};
    float emb[5 * 16];
    for (int k = 0; k < 3; k++) {
        for (int bad = 0; bad < 2; bad++) {
            for (int i = 0; i < 5 * 16; i++) emb[i] = (float)(i % 7 - 3) / 8.0f;
            uint32_t at = bad ? 79 : 33;
            emb[at] = bad ? INFINITY : NAN;
            st_tensor t = {.dtype = dtypes[k], .n_dims = 2, .shape = {5, 16}, .data = emb};
            snprintf(t.name, sizeof t.name, "prompt_embeddings");
            char what[128];
            snprintf(what, sizeof what, "tensor 'prompt_embeddings' holds %s at element %u (of 80)", bad ? "+Inf" : "NaN",
                     at);
            expect_refused("soft-prompt", dir_write(SP_CFG, &t, 1), what);
        }
    }
}
