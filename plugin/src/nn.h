/* nn: dense float64 matrices, matrix products (OpenBLAS or a reference loop), activations,
 * Adam state, a deterministic PRNG and initialisers. Everything is row-major double: it keeps
 * finite-difference gradient checks tight, and the networks are small. */
#ifndef STN_NN_H
#define STN_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Selects the matrix product implementation for the whole process: OpenBLAS (default) or the
 * reference loops. Not thread-safe to switch while products run. */
void stn__nn_set_blas(bool use_blas);
bool stn__nn_blas(void);
/* Threads OpenBLAS may use (process-wide). The model's products are small: one thread avoids
 * the hand-off cost that dominates them. */
void stn__nn_blas_threads(int n);

/* C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is m x k, op(B) is k x n, C is m x n.
 * trans_a/trans_b select transposition; lda/ldb/ldc are row strides of the stored arrays. */
void stn__nn_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, double alpha,
		  const double *a, size_t lda, const double *b, size_t ldb, double beta, double *c,
		  size_t ldc);

/* Numerically stable scalar functions. */
double stn__nn_sigmoid(double x);
double stn__nn_softplus(double x);  /* log(1 + e^x) */
double stn__nn_logit(double p);     /* p in (0, 1) */

/* Deterministic PRNG: xoshiro256** seeded through splitmix64. */
typedef struct stn_rng {
	uint64_t s[4];
} stn_rng;

void stn__rng_seed(stn_rng *r, uint64_t seed);
uint64_t stn__rng_next(stn_rng *r);
double stn__rng_uniform(stn_rng *r);            /* [0, 1) */
double stn__rng_normal(stn_rng *r);             /* standard normal (Box-Muller) */
uint64_t stn__rng_below(stn_rng *r, uint64_t n); /* [0, n), n > 0 */

/* Glorot-uniform fill of an out x in weight matrix. */
void stn__nn_init_glorot(double *w, size_t out, size_t in, stn_rng *r);

/* Adam over a flat parameter vector; m and v owned. */
typedef struct stn_adam {
	double lr, beta1, beta2, eps;
	uint64_t t;
	size_t n;
	double *m, *v;
} stn_adam;

stn_status stn__adam_init(stn_adam *a, size_t n, double lr);
void stn__adam_fini(stn_adam *a);
/* One step: w -= lr * mhat / (sqrt(vhat) + eps). mask (may be NULL) selects the entries
 * updated (nonzero = update); masked-out entries keep their moments. */
void stn__adam_step(stn_adam *a, double *w, const double *g, const uint8_t *mask);

#endif
