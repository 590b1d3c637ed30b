/* The entries of a row-major template (qdot256.h, qdot512.h), which
 * includes this at its end with QD(name) naming its functions and
 * QD(gemm_dt)(DT, prefetch, n, w, row_bytes, nr, x, x_row_bytes, nx, out,
 * out_stride) defined: gemm / vec_dot (NTA prefetch) / vec_dot with T0
 * prefetch per dtype. Each level's kernel file takes the entries it
 * measured fastest; the others stay unused (the micro-benchmark's variants
 * may use them). */
#define QD_ENTRIES(DTNAME, DT)                                                                       \
    __attribute__((unused)) static void QD(gemm_##DTNAME)(int64_t n, const void *w, size_t row_bytes, int nr,  \
                                                          const void *x, size_t x_row_bytes, int nx,  \
                                                          float *out, size_t out_stride) {            \
        QD(gemm_dt)(DT, 0, n, w, row_bytes, nr, x, x_row_bytes, nx, out, out_stride);                \
    }                                                                                                \
    __attribute__((unused)) static void QD(vd_##DTNAME)(int64_t n, const void *w, size_t row_bytes, int nr,    \
                                                        const void *x, float *out) {                 \
        QD(gemm_dt)(DT, CPU_PF_NTA, n, w, row_bytes, nr, x, 0, 1, out, 0);                           \
    }                                                                                                \
    __attribute__((unused)) static void QD(vd_##DTNAME##_t0)(int64_t n, const void *w, size_t row_bytes,       \
                                                             int nr, const void *x, float *out) {    \
        QD(gemm_dt)(DT, CPU_PF_T0, n, w, row_bytes, nr, x, 0, 1, out, 0);                            \
    }
QD_ENTRIES(q8_0, 0)
QD_ENTRIES(q4_0, 1)
QD_ENTRIES(q4_1, 2)
#undef QD_ENTRIES
