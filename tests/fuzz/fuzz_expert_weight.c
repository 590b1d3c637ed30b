/* Fuzzes expert weights (host/experts/weight.c): the `--expert PATH:W` spec
 * (hive_expert_spec_parse), weight text alone (hive_expert_weight_parse) and
 * the adapter_config.json rewrite that folds a weight into lora_alpha and
 * alpha_pattern (hive_lora_config_weighted).
 * Input = spec, then optionally a NUL byte and adapter_config.json; without a
 * NUL byte the whole input is also the config. The spec is parsed with a
 * roomy and a tight path buffer, and as bare weight text; the config is
 * rewritten with the spec's weight when it parsed, 0.5 otherwise, and with
 * the largest weight allowed. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "experts/weight.h"
#include "fuzz_util.h"
#include "util/error.h"

/* The parser broke its contract (not a rejected input): crash so libFuzzer
 * keeps the input. */
#define FUZZ_REQUIRE(c) \
    do {                \
        if (!(c)) __builtin_trap(); \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static void drop(hive_error *e) {
    FUZZ_REQUIRE(e && hive_error_message(e));
    hive_error_free(e);
}

static int valid_weight(double w) { return isfinite(w) && w > 0 && w <= HIVE_EXPERT_WEIGHT_MAX; }

/* Returns 1 and the weight when the spec parsed. */
static int spec(const char *text, size_t cap, double *w) {
    char path[4096];
    hive_error *e = NULL;
    if (hive_expert_spec_parse(text, path, cap, w, &e) != HIVE_OK) {
        drop(e);
        return 0;
    }
    size_t n = strnlen(path, cap);
    FUZZ_REQUIRE(n < cap && strncmp(path, text, n) == 0 && valid_weight(*w));
    FUZZ_REQUIRE(text[n] == 0 || text[n] == ':');
    return 1;
}

static double alpha_of(const cJSON *c) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "lora_alpha");
    return cJSON_IsNumber(a) ? a->valuedouble : NAN;
}

static void rewrite(const char *config, double w) {
    hive_error *e = NULL;
    char *out = hive_lora_config_weighted(config, w, &e);
    if (!out) {
        drop(e);
        return;
    }
    /* the rewrite is a JSON object whose lora_alpha is the old one (8 when
     * absent) times w (to printing precision), and whose alpha_pattern
     * numbers are all finite (an infinite one would print as null, read by
     * the adapter as "absent") */
    cJSON *in = cJSON_Parse(config), *res = cJSON_Parse(out), *v;
    FUZZ_REQUIRE(cJSON_IsObject(in) && cJSON_IsObject(res));
    double before = cJSON_GetObjectItemCaseSensitive(in, "lora_alpha") ? alpha_of(in) : 8.0;
    /* cJSON prints 15 significant digits when they read back within an ulp or so */
    FUZZ_REQUIRE(isfinite(before * w) && fabs(alpha_of(res) - before * w) <= 4 * DBL_EPSILON * fabs(before * w));
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(in, "alpha_pattern");
    const cJSON *pout = cJSON_GetObjectItemCaseSensitive(res, "alpha_pattern");
    FUZZ_REQUIRE(cJSON_IsObject(pin) == cJSON_IsObject(pout) && cJSON_GetArraySize(pin) == cJSON_GetArraySize(pout));
    cJSON_ArrayForEach(v, pin) {
        if (cJSON_IsNumber(v)) FUZZ_REQUIRE(isfinite(v->valuedouble * w));
    }
    cJSON_Delete(in);
    cJSON_Delete(res);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t spec_len = strlen(text);
    const char *config = spec_len < size ? text + spec_len + 1 : text;

    double w = 1.0, tight_w = 1.0, bare_w = 0;
    int ok = spec(text, 4096, &w);
    int tight_ok = spec(text, 8, &tight_w);
    FUZZ_REQUIRE(!tight_ok || (ok && tight_w == w)); /* a smaller buffer only adds "too long" */
    hive_error *e = NULL;
    if (hive_expert_weight_parse(text, "fuzz", &bare_w, &e) == HIVE_OK) FUZZ_REQUIRE(valid_weight(bare_w));
    else drop(e);

    rewrite(config, ok ? w : 0.5);
    rewrite(config, HIVE_EXPERT_WEIGHT_MAX);
    free(text);
    return 0;
}
