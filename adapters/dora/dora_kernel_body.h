/* The body of one DoRA norm kernel (dora_kernel.h), included by one file per
 * ISA level with DORA_VW (f64 lanes per vector), DORA_ROWS (rows per tile),
 * DORA_COLS (vectors of columns per tile) and DORA_KERNEL_NAME defined.
 *
 * A tile is DORA_ROWS rows (or 1, for the last rows) by DORA_COLS vectors of
 * columns: acc = 0; acc += B[o,k] * Ad[k, i..] for k in order (the
 * reference's row[i]); v = W + s * acc; sq += v * v, one vector of partial
 * sums per row. Columns left over go one vector, then one element, at a time;
 * the partial sums are added lane by lane at the end. Built with
 * -ffp-contract=off (generic: each a * b + c a multiply and an add, as in the
 * reference) or with FMA (-ffp-contract=fast: one rounding instead of two). */
#include <string.h>

#include "dora_kernel.h"

#define DORA_VB (DORA_VW * 8)
typedef double dvec __attribute__((vector_size(DORA_VB)));
typedef float fvec __attribute__((vector_size(DORA_VB / 2)));

/* vectors are moved with memcpy (unaligned loads) and never passed by value */
#define LD_D(v, p) memcpy(&(v), (p), sizeof(dvec))
#define LD_F(v, p)                      \
    do {                                \
        fvec f_;                        \
        memcpy(&f_, (p), sizeof f_);    \
        (v) = __builtin_convertvector(f_, dvec); \
    } while (0)

static inline __attribute__((always_inline)) void tile(const int R, const float *W, const double *Ad,
                                                       const double *Bd, uint32_t o, uint32_t in, uint32_t r,
                                                       double s, double *sumsq) {
    dvec sq[DORA_ROWS], acc[DORA_ROWS][DORA_COLS], a[DORA_COLS], a0, w, v;
    for (int j = 0; j < R; j++) sq[j] = (dvec){0};
    uint32_t i = 0;
    for (; i + DORA_COLS * DORA_VW <= in; i += DORA_COLS * DORA_VW) {
        for (int j = 0; j < R; j++)
            for (int c = 0; c < DORA_COLS; c++) acc[j][c] = (dvec){0};
        for (uint32_t k = 0; k < r; k++) {
            const double *ak = Ad + (size_t)k * in + i;
            for (int c = 0; c < DORA_COLS; c++) LD_D(a[c], ak + c * DORA_VW);
            for (int j = 0; j < R; j++) {
                double b = Bd[(size_t)(o + j) * r + k];
                for (int c = 0; c < DORA_COLS; c++) acc[j][c] += b * a[c];
            }
        }
        for (int j = 0; j < R; j++) {
            const float *wr = W + (size_t)(o + j) * in + i;
            for (int c = 0; c < DORA_COLS; c++) {
                LD_F(w, wr + c * DORA_VW);
                v = w + s * acc[j][c];
                sq[j] += v * v;
            }
        }
    }
    for (; i + DORA_VW <= in; i += DORA_VW) {
        for (int j = 0; j < R; j++) acc[j][0] = (dvec){0};
        for (uint32_t k = 0; k < r; k++) {
            LD_D(a0, Ad + (size_t)k * in + i);
            for (int j = 0; j < R; j++) acc[j][0] += Bd[(size_t)(o + j) * r + k] * a0;
        }
        for (int j = 0; j < R; j++) {
            LD_F(w, W + (size_t)(o + j) * in + i);
            v = w + s * acc[j][0];
            sq[j] += v * v;
        }
    }
    for (int j = 0; j < R; j++) {
        double sum = 0.0;
        for (int l = 0; l < DORA_VW; l++) sum += sq[j][l];
        const float *wr = W + (size_t)(o + j) * in;
        const double *bo = Bd + (size_t)(o + j) * r;
        for (uint32_t t = i; t < in; t++) {
            double row = 0.0;
            for (uint32_t k = 0; k < r; k++) row += bo[k] * Ad[(size_t)k * in + t];
            double e = (double)wr[t] + s * row;
            sum += e * e;
        }
        sumsq[o + j] = sum;
    }
}

void DORA_KERNEL_NAME(const float *W, const double *Ad, const double *Bd, uint32_t o0, uint32_t o1, uint32_t in,
                      uint32_t r, double s, double *sumsq) {
    uint32_t o = o0;
    for (; o + DORA_ROWS <= o1; o += DORA_ROWS) tile(DORA_ROWS, W, Ad, Bd, o, in, r, s, sumsq);
    for (; o < o1; o++) tile(1, W, Ad, Bd, o, in, r, s, sumsq);
}
