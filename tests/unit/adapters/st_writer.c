/* A tiny safetensors writer: u64 header length, JSON header, raw data. */
#include "st_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t to_f16(float f) { /* exact for the values the tests use (f16 normals and subnormals), NaN / Inf */
    uint32_t b;
    memcpy(&b, &f, 4);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
    if ((b & 0x7fffffffu) == 0) return sign;
    if ((b & 0x7f800000u) == 0x7f800000u) return (uint16_t)(sign | 0x7c00u | ((b & 0x007fffffu) ? 0x200u : 0u));
    int32_t e = (int32_t)((b >> 23) & 0xff) - 127 + 15;
    if (e <= 0) return (uint16_t)(sign | (uint16_t)(fabsf(f) * 16777216.0f)); /* subnormal: units of 2^-24 */
    return (uint16_t)(sign | (uint16_t)(e << 10) | (uint16_t)((b >> 13) & 0x3ffu));
}

static uint16_t to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40u); /* NaN stays NaN */
    return (uint16_t)(b >> 16);
}

static size_t esize(const char *dt) { return !strcmp(dt, "F32") || !strcmp(dt, "I32") ? 4 : 2; }

int st_write(const char *path, const st_tensor *t, int n) {
    size_t hcap = 256 + (size_t)n * 320, hlen = 0, off = 0;
    char *h = malloc(hcap);
    if (!h) return -1;
    hlen += (size_t)snprintf(h + hlen, hcap - hlen, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        size_t elems = 1;
        for (uint32_t d = 0; d < t[i].n_dims; d++) elems *= (size_t)t[i].shape[d];
        size_t nb = elems * esize(t[i].dtype);
        hlen += (size_t)snprintf(h + hlen, hcap - hlen, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            hlen += (size_t)snprintf(h + hlen, hcap - hlen, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        hlen += (size_t)snprintf(h + hlen, hcap - hlen, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        off += nb;
    }
    hlen += (size_t)snprintf(h + hlen, hcap - hlen, "}");
    while (hlen % 8) h[hlen++] = ' ';
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(h);
        return -1;
    }
    uint64_t hl = hlen;
    int ok = fwrite(&hl, 8, 1, fp) == 1 && fwrite(h, 1, hlen, fp) == hlen;
    for (int i = 0; i < n && ok; i++) {
        size_t elems = 1;
        for (uint32_t d = 0; d < t[i].n_dims; d++) elems *= (size_t)t[i].shape[d];
        for (size_t e = 0; e < elems && ok; e++) {
            float v = t[i].data ? t[i].data[e] : 0.5f;
            if (!strcmp(t[i].dtype, "F32")) {
                ok = fwrite(&v, 4, 1, fp) == 1;
            } else if (!strcmp(t[i].dtype, "I32")) {
                int32_t x = (int32_t)v;
                ok = fwrite(&x, 4, 1, fp) == 1;
            } else {
                uint16_t x = !strcmp(t[i].dtype, "F16") ? to_f16(v) : to_bf16(v);
                ok = fwrite(&x, 2, 1, fp) == 1;
            }
        }
    }
    free(h);
    return (fclose(fp) == 0 && ok) ? 0 : -1;
}

int write_text_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, fp) == n;
    return (fclose(fp) == 0 && ok) ? 0 : -1;
}
