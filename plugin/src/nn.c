/* nn: matrix products, activations, PRNG, initialisers and Adam. */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "alloc.h"

static bool use_blas_flag = true;

void stn__nn_set_blas(bool use_blas)
{
	use_blas_flag = use_blas;
}

bool stn__nn_blas(void)
{
	return use_blas_flag;
}

void stn__nn_blas_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

static void gemm_ref(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, double alpha,
		     const double *a, size_t lda, const double *b, size_t ldb, double beta,
		     double *c, size_t ldc)
{
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < n; j++) {
			double acc = 0.0;
			for (size_t p = 0; p < k; p++) {
				double av = trans_a ? a[p * lda + i] : a[i * lda + p];
				double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
				acc += av * bv;
			}
			double prev = beta == 0.0 ? 0.0 : beta * c[i * ldc + j];
			c[i * ldc + j] = prev + alpha * acc;
		}
	}
}

void stn__nn_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, double alpha,
		  const double *a, size_t lda, const double *b, size_t ldb, double beta, double *c,
		  size_t ldc)
{
	if (m == 0 || n == 0)
		return;
	if (!use_blas_flag || k == 0) {
		gemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
		    b, (int)ldb, beta, c, (int)ldc);
}

double stn__nn_sigmoid(double x)
{
	/* Exactly the values the formulas below round to, without the exp. */
	if (x >= 37.0)
		return 1.0;
	if (x <= -746.0)
		return 0.0;
	if (x >= 0.0)
		return 1.0 / (1.0 + exp(-x));
	double e = exp(x);
	return e / (1.0 + e);
}

double stn__nn_softplus(double x)
{
	if (x > 30.0)
		return x + log1p(exp(-x));
	return log1p(exp(x));
}

double stn__nn_logit(double p)
{
	return log(p) - log1p(-p);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void stn__rng_seed(stn_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t stn__rng_next(stn_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double stn__rng_uniform(stn_rng *r)
{
	return (double)(stn__rng_next(r) >> 11) * 0x1.0p-53;
}

double stn__rng_normal(stn_rng *r)
{
	double u1 = 1.0 - stn__rng_uniform(r); /* (0, 1] */
	double u2 = stn__rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t stn__rng_below(stn_rng *r, uint64_t n)
{
	return n == 0 ? 0 : stn__rng_next(r) % n;
}

void stn__nn_init_glorot(double *w, size_t out, size_t in, stn_rng *r)
{
	double lim = sqrt(6.0 / (double)(in + out));
	for (size_t i = 0; i < out * in; i++)
		w[i] = (2.0 * stn__rng_uniform(r) - 1.0) * lim;
}

stn_status stn__adam_init(stn_adam *a, size_t n, double lr)
{
	memset(a, 0, sizeof(*a));
	a->lr = lr;
	a->beta1 = 0.9;
	a->beta2 = 0.999;
	a->eps = 1e-8;
	a->n = n;
	a->m = stn__calloc(n ? n : 1, sizeof(double));
	a->v = stn__calloc(n ? n : 1, sizeof(double));
	if (a->m == NULL || a->v == NULL) {
		stn__adam_fini(a);
		return STN_ENOMEM;
	}
	return STN_OK;
}

void stn__adam_fini(stn_adam *a)
{
	stn__free(a->m);
	stn__free(a->v);
	a->m = NULL;
	a->v = NULL;
}

void stn__adam_step(stn_adam *a, double *w, const double *g, const uint8_t *mask)
{
	a->t++;
	double c1 = 1.0 - pow(a->beta1, (double)a->t);
	double c2 = 1.0 - pow(a->beta2, (double)a->t);
	for (size_t i = 0; i < a->n; i++) {
		if (mask != NULL && mask[i] == 0)
			continue;
		a->m[i] = a->beta1 * a->m[i] + (1.0 - a->beta1) * g[i];
		a->v[i] = a->beta2 * a->v[i] + (1.0 - a->beta2) * g[i] * g[i];
		double mh = a->m[i] / c1, vh = a->v[i] / c2;
		w[i] -= a->lr * mh / (sqrt(vh) + a->eps);
	}
}
