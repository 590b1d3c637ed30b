/* A tiny safetensors writer for the adapter tests. */
#ifndef ADAPTER_TEST_ST_WRITER_H
#define ADAPTER_TEST_ST_WRITER_H

#include <stdint.h>

typedef struct st_tensor {
    char name[200];
    const char *dtype; /* "F32", "F16", "BF16", "I32" */
    uint32_t n_dims;
    int64_t shape[4];
    const float *data; /* converted to dtype on write */
} st_tensor;

/* 0 on success */
int st_write(const char *path, const st_tensor *t, int n);
int write_text_file(const char *path, const char *text);

#endif
