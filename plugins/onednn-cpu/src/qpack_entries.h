/* The entries of a packed-layout template (qpack256.h, qpack512.h), which
 * includes this at its end with QP(name) naming its functions and
 * QP(gemm_dt)(DT, prefetch, n, w, nr, x, x_row_bytes, nx, out, out_stride)
 * defined: gemm / vec_dot / vec_dot with T0 prefetch per dtype, and
 * QP(install)(k), which puts them and the layout flag in a table. */
#define QP_ENTRIES(DTNAME, DT)                                                                       \
    static void QP(gemm_##DTNAME)(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, \
                                  size_t x_row_bytes, int nx, float *out, size_t out_stride) {       \
        (void)row_bytes;                                                                             \
        QP(gemm_dt)(DT, 0, n, w, nr, x, x_row_bytes, nx, out, out_stride);                           \
    }                                                                                                \
    static void QP(vd_##DTNAME)(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) { \
        (void)row_bytes;                                                                             \
        QP(gemm_dt)(DT, 0, n, w, nr, x, 0, 1, out, 0);                                               \
    }                                                                                                \
    static void QP(vd_##DTNAME##_t0)(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) { \
        (void)row_bytes;                                                                             \
        QP(gemm_dt)(DT, 1, n, w, nr, x, 0, 1, out, 0);                                               \
    }
QP_ENTRIES(q8_0, 0)
QP_ENTRIES(q4_0, 1)
QP_ENTRIES(q4_1, 2)
#undef QP_ENTRIES

static void QP(install)(cpu_kernels *k) {
    const int t0 = k->decode_prefetch == CPU_PF_T0;
    k->packed[HIVE_DTYPE_Q8_0] = k->packed[HIVE_DTYPE_Q4_0] = k->packed[HIVE_DTYPE_Q4_1] = 1;
    k->vec_dot[HIVE_DTYPE_Q8_0] = t0 ? QP(vd_q8_0_t0) : QP(vd_q8_0);
    k->vec_dot[HIVE_DTYPE_Q4_0] = t0 ? QP(vd_q4_0_t0) : QP(vd_q4_0);
    k->vec_dot[HIVE_DTYPE_Q4_1] = t0 ? QP(vd_q4_1_t0) : QP(vd_q4_1);
    k->gemm[HIVE_DTYPE_Q8_0] = QP(gemm_q8_0);
    k->gemm[HIVE_DTYPE_Q4_0] = QP(gemm_q4_0);
    k->gemm[HIVE_DTYPE_Q4_1] = QP(gemm_q4_1);
}
