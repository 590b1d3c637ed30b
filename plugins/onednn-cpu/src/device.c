/* Device lifetime, host-memory buffers and the (empty) extension lookup. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_internal.h"

hive_status cpu_device_open(uint32_t index, const hive_device_options *opts, hive_device **out,
                            hive_error **err) {
    if (!out) return cpu_fail(err, HIVE_E_INVALID, "device_open: out is NULL");
    if (index != 0) return cpu_fail(err, HIVE_E_NODEVICE, "device_open: no CPU device %u", index);
    hive_device *dev = calloc(1, sizeof *dev);
    if (!dev) return cpu_fail(err, HIVE_E_NOMEM, "device_open: out of memory");
    uint32_t threads = 0;
    if (opts && HIVE_HAS_FIELD(hive_device_options, opts->struct_size, threads))
        threads = opts->threads;
    if (opts && HIVE_HAS_FIELD(hive_device_options, opts->struct_size, max_rows))
        dev->max_rows = opts->max_rows;
    if (threads == 0 && cpu_host.agreed_minor >= 1 &&
        HIVE_HAS_FIELD(hive_host_api, cpu_host.struct_size, config_get) && cpu_host.config_get) {
        /* plugins.onednn-cpu.threads in the host config */
        const char *v = cpu_host.config_get(cpu_host.ctx, "threads");
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > 0 && n <= 1024) threads = (uint32_t)n;
    }
    if (cpu_host.agreed_minor >= 1 && HIVE_HAS_FIELD(hive_host_api, cpu_host.struct_size, config_get) &&
        cpu_host.config_get) {
        /* plugins.onednn-cpu.graphs: offer HIVE_EXT_GRAPH (see graph_record.c) */
        const char *v = cpu_host.config_get(cpu_host.ctx, "graphs");
        dev->graphs_enabled = v && (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"));
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (uint32_t)n : 1;
    }
    dev->threads = (int)threads;
    cpu_features f;
    cpu_detect(&f);
    cpu_kernels_init_level(&dev->kern, cpu_isa_level(&f));
    dev->dnnl = cpu_onednn_create();
    cpu_log(HIVE_LOG_DEBUG, "device open: %s, %d threads, kernels %s, oneDNN %s", f.brand,
            dev->threads, dev->kern.isa, dev->dnnl ? cpu_onednn_version() : "off");
    *out = dev;
    return HIVE_OK;
}

void cpu_device_close(hive_device *dev) {
    if (!dev) return;
    cpu_graph_device_close(dev);
    cpu_onednn_destroy(dev->dnnl);
    cpu_aligned_free(dev->scratch);
    free(dev);
}

hive_status cpu_synchronize(hive_device *dev, hive_error **err) {
    (void)dev;
    (void)err;
    return HIVE_OK; /* every op has finished when it returns */
}

hive_status cpu_buffer_alloc(hive_device *dev, uint64_t nbytes, hive_buffer **out,
                             hive_error **err) {
    (void)dev;
    if (!out) return cpu_fail(err, HIVE_E_INVALID, "buffer_alloc: out is NULL");
    if (nbytes > (uint64_t)SIZE_MAX / 2)
        return cpu_fail(err, HIVE_E_NOMEM, "buffer_alloc: %llu bytes is too large",
                        (unsigned long long)nbytes);
    hive_buffer *b = malloc(sizeof *b);
    void *p = cpu_aligned_alloc((size_t)nbytes);
    if (!b || !p) {
        free(b);
        cpu_aligned_free(p);
        return cpu_fail(err, HIVE_E_NOMEM, "buffer_alloc: cannot allocate %llu bytes",
                        (unsigned long long)nbytes);
    }
    b->ptr = p;
    b->size = nbytes;
    *out = b;
    return HIVE_OK;
}

void cpu_buffer_free(hive_device *dev, hive_buffer *buf) {
    (void)dev;
    if (!buf) return;
    cpu_aligned_free(buf->ptr);
    free(buf);
}

static hive_status cpu_buffer_range(const hive_buffer *buf, uint64_t offset, uint64_t nbytes,
                                    const void *host, const char *op, hive_error **err) {
    if (!buf || (!host && nbytes))
        return cpu_fail(err, HIVE_E_INVALID, "%s: buffer or host pointer is NULL", op);
    if (offset > buf->size || nbytes > buf->size - offset)
        return cpu_fail(err, HIVE_E_INVALID,
                        "%s: range [%llu, +%llu) is outside the buffer of %llu bytes", op,
                        (unsigned long long)offset, (unsigned long long)nbytes,
                        (unsigned long long)buf->size);
    return HIVE_OK;
}

hive_status cpu_buffer_upload(hive_device *dev, hive_buffer *buf, uint64_t offset,
                              const void *src, uint64_t nbytes, hive_error **err) {
    (void)dev;
    hive_status st = cpu_buffer_range(buf, offset, nbytes, src, "buffer_upload", err);
    if (st == HIVE_OK && nbytes) memcpy((char *)buf->ptr + offset, src, (size_t)nbytes);
    return st;
}

hive_status cpu_buffer_download(hive_device *dev, const hive_buffer *buf, uint64_t offset,
                                void *dst, uint64_t nbytes, hive_error **err) {
    (void)dev;
    hive_status st = cpu_buffer_range(buf, offset, nbytes, dst, "buffer_download", err);
    if (st == HIVE_OK && nbytes) memcpy(dst, (const char *)buf->ptr + offset, (size_t)nbytes);
    return st;
}

void *cpu_buffer_host_ptr(hive_device *dev, hive_buffer *buf) {
    (void)dev;
    return buf ? buf->ptr : NULL;
}


