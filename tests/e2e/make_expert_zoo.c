/* make-expert-zoo: writes a directory of N small random experts for
 * SmolLM2-135M (hidden 576, 30 layers, 9 heads / 3 KV heads of 64,
 * intermediate 1536), the fixture for `experts list`, lazy discovery and
 * `bench --expert-dir --zipf` (docs/EXPERTS.md, "A thousand experts").
 *
 *   make-expert-zoo DIR [--count N] [--seed S] [--archive-every K]
 *
 * Expert i is zoo-NNNN: 80% LoRA (r 4..16 on one or two of q/k/v/o_proj),
 * 10% DoRA (r 4..16 on q_proj + v_proj), 10% IA3 (k_proj, v_proj, down_proj),
 * each on one layer (PEFT's layers_to_transform; for IA3, which has none, a
 * regex target_modules) so a thousand take ~28 MB.
 * Weights are random, non-zero, f16. Every K-th expert (default 10) is packed
 * as zoo-NNNN.expert (with a description); the others are plain PEFT
 * directories. Everything follows from the seed: the same arguments give the
 * same bytes. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experts/cachedir.h"
#include "experts/pack.h"
#include "util/dtype.h"
#include "util/error.h"

#define HIDDEN 576
#define KV_DIM 192 /* 3 KV heads x 64 */
#define INTER 1536
#define LAYERS 30
#define BASE_NAME "SmolLM2-135M-Instruct"

static uint64_t g_rng;

static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(double lo, double hi) { return lo + (hi - lo) * (double)(next_u64() >> 11) / 9007199254740992.0; }

/* A non-zero value in +-[lo, hi]. */
static float nonzero(double lo, double hi) { return (float)((next_u64() & 1 ? -1 : 1) * uniform(lo, hi)); }

typedef struct tensor {
    char name[160];
    int64_t shape[2];
    int rank;
    uint16_t *f16;
} tensor;

typedef struct adapter {
    tensor t[8];
    int n;
} adapter;

static int module_out(const char *m) {
    return !strcmp(m, "k_proj") || !strcmp(m, "v_proj") ? KV_DIM
           : !strcmp(m, "gate_proj") || !strcmp(m, "up_proj") ? INTER : HIDDEN;
}
static int module_in(const char *m) { return !strcmp(m, "down_proj") ? INTER : HIDDEN; }
static const char *module_block(const char *m) {
    return !strcmp(m, "gate_proj") || !strcmp(m, "up_proj") || !strcmp(m, "down_proj") ? "mlp" : "self_attn";
}

static int add_tensor(adapter *a, int layer, const char *module, const char *suffix, int64_t d0, int64_t d1, double lo,
                      double hi) {
    tensor *t = &a->t[a->n++];
    snprintf(t->name, sizeof t->name, "base_model.model.model.layers.%d.%s.%s.%s", layer, module_block(module), module,
             suffix);
    t->shape[0] = d0, t->shape[1] = d1;
    t->rank = d1 ? 2 : 1;
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    if (!(t->f16 = malloc(n * sizeof *t->f16))) return -1;
    for (size_t i = 0; i < n; i++) t->f16[i] = hive_f32_to_f16(nonzero(lo, hi));
    return 0;
}

static int by_name(const void *x, const void *y) { return strcmp(((const tensor *)x)->name, ((const tensor *)y)->name); }

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* safetensors: u64 header length, JSON header (sorted names, padded to 8), data. */
static int write_safetensors(const char *path, adapter *a) {
    qsort(a->t, (size_t)a->n, sizeof a->t[0], by_name);
    cJSON *h = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < a->n; i++) {
        const tensor *t = &a->t[i];
        uint64_t bytes = (uint64_t)t->shape[0] * (uint64_t)(t->rank == 2 ? t->shape[1] : 1) * 2;
        cJSON *o = cJSON_AddObjectToObject(h, t->name);
        cJSON_AddStringToObject(o, "dtype", "F16");
        cJSON *sh = cJSON_AddArrayToObject(o, "shape"), *off_j = cJSON_AddArrayToObject(o, "data_offsets");
        for (int d = 0; d < t->rank; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToArray(off_j, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(off_j, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!json) return -1;
    size_t hl = strlen(json), padded = (hl + 7) & ~(size_t)7;
    FILE *f = fopen(path, "wb");
    int rc = f ? 0 : -1;
    uint64_t len = padded;
    if (!rc && fwrite(&len, 8, 1, f) != 1) rc = -1;
    if (!rc && fwrite(json, 1, hl, f) != hl) rc = -1;
    for (size_t i = hl; !rc && i < padded; i++)
        if (fputc(' ', f) == EOF) rc = -1;
    for (int i = 0; !rc && i < a->n; i++) {
        const tensor *t = &a->t[i];
        size_t n = (size_t)t->shape[0] * (size_t)(t->rank == 2 ? t->shape[1] : 1);
        if (fwrite(t->f16, 2, n, f) != n) rc = -1;
    }
    if (f && fclose(f) != 0) rc = -1;
    free(json);
    return rc;
}

static cJSON *str_array(const char *const *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

/* One expert's PEFT directory; its description into desc. */
static int write_expert(const char *dir, int index, char *desc, size_t desc_cap) {
    static const char *const k_attn[] = {"q_proj", "k_proj", "v_proj", "o_proj"};
    if (mkdir(dir, 0755) && errno != EEXIST) return -1;
    int layer = (int)(next_u64() % LAYERS);
    double pick = uniform(0, 1);
    const char *kind = pick < 0.8 ? "LoRA" : pick < 0.9 ? "DoRA" : "IA3";
    adapter a = {0};
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "base_model_name_or_path", BASE_NAME);
    cJSON_AddStringToObject(cfg, "task_type", "CAUSAL_LM");
    cJSON_AddBoolToObject(cfg, "inference_mode", 1);
    cJSON_AddBoolToObject(cfg, "fan_in_fan_out", 0);
    cJSON *layers = cJSON_AddArrayToObject(cfg, "layers_to_transform");
    cJSON_AddItemToArray(layers, cJSON_CreateNumber(layer));
    int rc = 0;
    const char *mods[3];
    int n_mods = 0, r = 0;
    if (kind[0] == 'I') {
        static const char *const k_ia3[] = {"k_proj", "v_proj", "down_proj"};
        static const char *const k_ff[] = {"down_proj"};
        /* IA3 has no layers_to_transform in PEFT: a regex target_modules picks the layer */
        char re[160];
        snprintf(re, sizeof re, ".*\\.layers\\.%d\\.(self_attn\\.(k_proj|v_proj)|mlp\\.down_proj)", layer);
        cJSON_DeleteItemFromObject(cfg, "layers_to_transform");
        cJSON_AddStringToObject(cfg, "peft_type", "IA3");
        cJSON_AddStringToObject(cfg, "target_modules", re);
        cJSON_AddItemToObject(cfg, "feedforward_modules", str_array(k_ff, 1));
        for (int m = 0; m < 3 && !rc; m++) {
            int ff = !strcmp(k_ia3[m], "down_proj"); /* feed-forward: scales the input, [1, in] */
            rc = add_tensor(&a, layer, k_ia3[m], "ia3_l", ff ? 1 : module_out(k_ia3[m]), ff ? module_in(k_ia3[m]) : 1,
                            0.8, 1.2);
            mods[n_mods++] = k_ia3[m];
        }
    } else {
        int dora = kind[0] == 'D';
        r = 4 + (int)(next_u64() % 13);
        if (dora) {
            mods[n_mods++] = "q_proj";
            mods[n_mods++] = "v_proj";
        } else {
            int first = (int)(next_u64() % 4);
            mods[n_mods++] = k_attn[first];
            if (next_u64() & 1) mods[n_mods++] = k_attn[(first + 1 + (int)(next_u64() % 3)) % 4];
        }
        cJSON_AddStringToObject(cfg, "peft_type", "LORA");
        cJSON_AddNumberToObject(cfg, "r", r);
        cJSON_AddNumberToObject(cfg, "lora_alpha", 2 * r);
        cJSON_AddNumberToObject(cfg, "lora_dropout", 0);
        cJSON_AddStringToObject(cfg, "bias", "none");
        cJSON_AddBoolToObject(cfg, "use_dora", dora);
        cJSON_AddBoolToObject(cfg, "use_rslora", 0);
        cJSON_AddItemToObject(cfg, "target_modules", str_array(mods, n_mods));
        for (int m = 0; m < n_mods && !rc; m++) {
            int in = module_in(mods[m]), out = module_out(mods[m]);
            double a_scale = 1.0 / sqrt((double)in);
            rc = add_tensor(&a, layer, mods[m], "lora_A.weight", r, in, 0.1 * a_scale, a_scale);
            if (!rc) rc = add_tensor(&a, layer, mods[m], "lora_B.weight", out, r, 0.001, 0.02);
            if (!rc && dora) rc = add_tensor(&a, layer, mods[m], "lora_magnitude_vector", out, 0, 0.5, 1.5);
        }
    }
    int o = snprintf(desc, desc_cap, "zoo expert %d: %s", index, kind);
    if (r) o += snprintf(desc + o, desc_cap - (size_t)o, " r=%d", r);
    o += snprintf(desc + o, desc_cap - (size_t)o, " on");
    for (int m = 0; m < n_mods; m++) o += snprintf(desc + o, desc_cap - (size_t)o, "%s %s", m ? "," : "", mods[m]);
    snprintf(desc + o, desc_cap - (size_t)o, " of layer %d (random weights, make-expert-zoo)", layer);
    char path[4200];
    char *txt = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (!rc) rc = txt ? write_file(path, txt, strlen(txt)) : -1;
    free(txt);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!rc) rc = write_safetensors(path, &a);
    for (int i = 0; i < a.n; i++) free(a.t[i].f16);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: make-expert-zoo DIR [--count N] [--seed S] [--archive-every K]\n"
                    "  N experts (default 1000) for SmolLM2-135M; every K-th (default 10, 0 = none) packed as .expert\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    long count = 1000, every = 10;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (i + 1 < argc && !strcmp(argv[i], "--count")) count = strtol(argv[++i], &end, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--seed")) seed = strtoull(argv[++i], &end, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--archive-every")) every = strtol(argv[++i], &end, 10);
        else if (argv[i][0] != '-' && !out) out = argv[i];
        else return usage();
        if (end && *end) return usage();
    }
    if (!out || count < 1 || count > 100000 || every < 0) return usage();
    if (hive_mkdir_p(out, 0755)) {
        fprintf(stderr, "make-expert-zoo: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    g_rng = seed;
    for (long i = 0; i < count; i++) {
        char name[32], dir[4096], desc[256];
        int archive = every && i % every == every - 1;
        snprintf(name, sizeof name, "zoo-%04ld", i);
        snprintf(dir, sizeof dir, "%s/%s%s", out, archive ? ".tmp-" : "", name);
        if (write_expert(dir, (int)i, desc, sizeof desc)) {
            fprintf(stderr, "make-expert-zoo: cannot write %s: %s\n", dir, strerror(errno));
            return 1;
        }
        if (!archive) continue;
        char pkg[4200];
        snprintf(pkg, sizeof pkg, "%s/%s.expert", out, name);
        hive_expert_pack_opts po = {.src = dir, .out = pkg, .name = name, .description = desc};
        hive_problems probs = {0};
        hive_error *err = NULL;
        hive_status st = hive_expert_pack(&po, &probs, &err);
        if (st != HIVE_OK) {
            fprintf(stderr, "make-expert-zoo: %s: %s\n", pkg, err ? hive_error_message(err) : probs.n ? probs.msgs[0] : "?");
            hive_error_free(err);
            hive_problems_free(&probs);
            return 1;
        }
        hive_problems_free(&probs);
        hive_rm_rf(dir);
    }
    printf("make-expert-zoo: %ld experts in %s (seed %llu)\n", count, out, seed);
    return 0;
}
