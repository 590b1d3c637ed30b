/* Small helpers shared by the PEFT adapter plugins. */
#include "peft_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const peft_module_names[HIVE_MODULE_COUNT] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                          "gate_proj", "up_proj", "down_proj"};

hive_status peft_fail(const hive_host_api *host, hive_error **err, hive_status code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err && host && host->error_new) *err = host->error_new(host->ctx, code, "%s", msg);
    return code;
}

float peft_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400u)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ffu;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float peft_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int peft_to_f32(uint32_t dtype, const void *src, float *dst, uint64_t n) {
    const unsigned char *p = src;
    uint16_t h;
    switch (dtype) {
    case HIVE_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return 0;
    case HIVE_DTYPE_F16:
        /* peft_f16_to_f32 without branches (masks), so that it vectorizes;
         * the same bits for all 65,536 inputs */
        for (uint64_t i = 0; i < n; i++) {
            memcpy(&h, p + 2 * i, 2);
            uint32_t em = h & 0x7fffu, bits;
            float sub = (float)em * 0x1p-24f; /* exact: em < 2^10; used for zero and subnormals */
            memcpy(&bits, &sub, 4);
            uint32_t normal = 0u - (uint32_t)(em >= 0x0400u), inf_nan = 0u - (uint32_t)(em >= 0x7c00u);
            /* rebias the exponent; Inf/NaN (exponent 31) then get all ones */
            uint32_t nbits = ((em << 13) + ((127u - 15u) << 23)) | (inf_nan & 0x7f800000u);
            bits = (nbits & normal) | (bits & ~normal) | (uint32_t)(h & 0x8000u) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return 0;
    case HIVE_DTYPE_BF16:
        for (uint64_t i = 0; i < n; i++) memcpy(&h, p + 2 * i, 2), dst[i] = peft_bf16_to_f32(h);
        return 0;
    default: return -1;
    }
}

uint64_t peft_first_nonfinite(const float *x, uint64_t n, const char **what) {
    /* blocks without an early exit (so they vectorize); a block that holds a
     * non-finite value is searched again element by element */
    for (uint64_t i0 = 0; i0 < n; i0 += 256) {
        uint64_t i1 = n - i0 < 256 ? n : i0 + 256;
        uint32_t any = 0;
        for (uint64_t i = i0; i < i1; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            any |= (b & 0x7f800000u) == 0x7f800000u;
        }
        for (uint64_t i = i0; any && i < i1; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            if ((b & 0x7f800000u) != 0x7f800000u) continue;
            if (what) *what = (b & 0x007fffffu) ? "NaN" : (b >> 31) ? "-Inf" : "+Inf";
            return i;
        }
    }
    return n;
}

const char *peft_dtype_name(uint32_t dtype) {
    static const char *const names[] = {"F32", "F16", "BF16", "I32", "I8"};
    if (dtype < sizeof names / sizeof names[0]) return names[dtype];
    switch (dtype) {
    case HIVE_DTYPE_Q8_0: return "Q8_0";
    case HIVE_DTYPE_Q4_0: return "Q4_0";
    case HIVE_DTYPE_Q4_1: return "Q4_1";
    case HIVE_DTYPE_Q4_K: return "Q4_K";
    case HIVE_DTYPE_Q6_K: return "Q6_K";
    default: return "unknown";
    }
}

int peft_module_path(char *dst, size_t cap, const char *fmt, uint32_t layer) {
    if (!fmt) return -1;
    const char *at = strstr(fmt, "%u");
    int n = at ? snprintf(dst, cap, "%.*s%u%s", (int)(at - fmt), fmt, layer, at + 2) : snprintf(dst, cap, "%s", fmt);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

char *peft_join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int peft_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void peft_shape_str(char *dst, size_t cap, const int64_t *shape, uint32_t n_dims) {
    size_t len = 0;
    if (cap == 0) return;
    dst[0] = 0;
    len += (size_t)snprintf(dst, cap, "[");
    for (uint32_t i = 0; i < n_dims && len < cap; i++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (len < cap) snprintf(dst + len, cap - len, "]");
}

hive_status peft_check_load_args(const hive_host_api *h, const hive_adapter_load_args *args, hive_error **err) {
    if (!args || args->struct_size < offsetof(hive_adapter_load_args, base))
        return peft_fail(h, err, HIVE_E_INVALID, "adapter load: arguments missing or too old");
    const hive_model_shape *m = args->model;
    if (!args->backend || !args->device || !m || !args->config_json || !args->dir || !args->max_rows)
        return peft_fail(h, err, HIVE_E_INVALID,
                         "adapter load: backend, device, model, config, dir and max_rows are required");
    if (m->struct_size < sizeof(hive_model_shape) || !m->n_layers)
        return peft_fail(h, err, HIVE_E_INVALID, "adapter load: model shape missing or too old");
    return HIVE_OK;
}
