/* head: monotone bottleneck probability, its gradient and the closed-form minimal parallelism. */
#include "head.h"

#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "lanes.h"
#include "nn.h"

static double clampd(double x, double lo, double hi)
{
	if (!(x >= lo)) /* also catches NaN */
		return lo;
	return x > hi ? hi : x;
}

/* The head's parameters from its raw outputs. */
static void head_finish(const double *raw, double delta, stn_head_out *o)
{
	for (unsigned k = 0; k < STN_HEAD_OUTPUTS; k++)
		o->raw[k] = raw[k];
	o->log_c = clampd(o->raw[0] + delta, -STN_HEAD_LOGC_CLAMP, STN_HEAD_LOGC_CLAMP);
	o->alpha = 0.2 + 0.8 * stn__nn_sigmoid(clampd(o->raw[1], -700.0, 700.0));
	if (o->alpha <= 0.2)
		o->alpha = 0.2 + 1e-12;
	o->s = clampd(stn__nn_softplus(clampd(o->raw[2], -700.0, 1e300)) + STN_HEAD_S_EPS,
		      STN_HEAD_S_EPS, STN_HEAD_S_MAX);
}

enum { HEAD_LANES = 4 };

/* The head of nodes z[0..lanes) (lanes <= HEAD_LANES) into out: each node's dot products
 * summed in index order, the nodes' chains side by side. */
static inline void head_nodes(const stn_net *n, const double *z, unsigned lanes, double delta,
			      stn_head_out *out)
{
	size_t H = n->cfg.width;
	const double *w = n->w + n->head_offset, *b = w + STN_HEAD_OUTPUTS * H;
	double acc[HEAD_LANES][STN_HEAD_OUTPUTS];
	for (unsigned i = 0; i < lanes; i++)
		for (unsigned k = 0; k < STN_HEAD_OUTPUTS; k++)
			acc[i][k] = b[k];
	for (size_t j = 0; j < H; j++)
		for (unsigned k = 0; k < STN_HEAD_OUTPUTS; k++)
			for (unsigned i = 0; i < lanes; i++)
				acc[i][k] += w[k * H + j] * z[i * H + j];
	for (unsigned i = 0; i < lanes; i++)
		head_finish(acc[i], delta, &out[i]);
}

void stn__head_eval(const stn_net *n, const double *z, double delta, stn_head_out *o)
{
	head_nodes(n, z, 1, delta, o);
}

void stn__head_eval_rows(const stn_net *n, const double *z, size_t rows, double delta,
			 stn_head_out *out)
{
	size_t H = n->cfg.width, v = 0;
	for (; v + HEAD_LANES <= rows; v += HEAD_LANES)
		head_nodes(n, z + v * H, HEAD_LANES, delta, out + v);
	for (; v < rows; v++)
		head_nodes(n, z + v * H, 1, delta, out + v);
}

double stn__head_logit(const stn_head_out *o, double log_lambda, double p)
{
	return o->s * (log_lambda - o->log_c - o->alpha * log(p));
}

double stn__head_prob(const stn_head_out *o, double log_lambda, double p)
{
	return stn__nn_sigmoid(stn__head_logit(o, log_lambda, p));
}

/* log(p) for p = 1..STN_DAG_MAX_PARALLELISM, identical to what log() returns. */
static double log_table[STN_DAG_MAX_PARALLELISM + 1];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_tables(void)
{
	for (uint32_t p = 1; p <= STN_DAG_MAX_PARALLELISM; p++)
		log_table[p] = log((double)p);
}

static double curve_log(uint32_t p)
{
	return p <= STN_DAG_MAX_PARALLELISM ? log_table[p] : log((double)p);
}

/* stn__head_prob at an integer p, with log p from the table (the same value log() gives). */
static double prob_at(const stn_head_out *o, double log_lambda, uint32_t p)
{
	return stn__nn_sigmoid(o->s * (log_lambda - o->log_c - o->alpha * curve_log(p)));
}

/* P(p) = 1 / (1 + e^(k log p - a)) with a = s (log lambda - log c) and k = s alpha, for a
 * block of LANE_BLOCK consecutive p from their logs (lane_exp's error is about an ulp). */
static inline void curve_block(lane_block *x, double k, double a)
{
	for (int q = 0; q < 4; q++)
		x->r[q] = k * x->r[q] - a;
	lane_exp(x);
	for (int q = 0; q < 4; q++)
		x->r[q] = 1.0 / (1.0 + x->r[q]);
}

/* The curve by blocks of vectorised exps. Used only where the logit is small enough that its
 * rounding stays far below 1e-12; the curve is then made non-increasing, which the exact values
 * are and these are to an ulp. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static bool
curve_fast(const stn_head_out *o, double log_lambda, uint32_t p_max, double *curve)
{
	double a = o->s * (log_lambda - o->log_c), k = o->s * o->alpha;
	if (p_max > STN_DAG_MAX_PARALLELISM || !(fabs(a) < 600.0) ||
	    !(k * curve_log(p_max) < 600.0) || !(k * curve_log(p_max) - a < 708.0))
		return false;
	/* k >= 0, so the exponent runs from -a (p = 1) up to k log p_max - a: inside +-708. */
	const double *log_p = log_table + 1;
	uint32_t i0 = 0;
	lane_block x;
	for (; i0 + LANE_BLOCK <= p_max; i0 += LANE_BLOCK) {
		lane_load(&x, log_p + i0);
		curve_block(&x, k, a);
		lane_store(&x, curve + i0);
	}
	if (i0 < p_max) {
		/* The last part block, padded with log 1. */
		double part[LANE_BLOCK];
		for (uint32_t j = 0; j < LANE_BLOCK; j++)
			part[j] = i0 + j < p_max ? log_p[i0 + j] : 0.0;
		lane_load(&x, part);
		curve_block(&x, k, a);
		lane_store(&x, part);
		memcpy(curve + i0, part, (p_max - i0) * sizeof(double));
	}
	/* Rising steps are rare (an ulp where the exponent's reduction changes n): a vectorised
	 * test first, the serial repair only when it finds one. */
	int rises = 0;
	for (uint32_t i = 1; i < p_max; i++)
		rises |= curve[i] > curve[i - 1];
	if (rises)
		for (uint32_t i = 1; i < p_max; i++)
			if (curve[i] > curve[i - 1])
				curve[i] = curve[i - 1];
	return true;
}

void stn__head_curve(const stn_head_out *o, double log_lambda, uint32_t p_max, double *curve)
{
	(void)pthread_once(&tables_once, fill_tables);
	if (curve_fast(o, log_lambda, p_max, curve))
		return;
	for (uint32_t p = 1; p <= p_max; p++)
		curve[p - 1] = prob_at(o, log_lambda, p);
}

uint32_t stn__head_min_parallelism(const stn_head_out *o, double log_lambda, double tau,
				   uint32_t p_max)
{
	(void)pthread_once(&tables_once, fill_tables);
	if (p_max < 1)
		p_max = 1;
	double lt = stn__nn_logit(clampd(tau, 1e-12, 1.0 - 1e-12));
	/* P(p) <= tau  <=>  log p >= (log lambda - log c - lt / s) / alpha. */
	double t = (log_lambda - o->log_c - lt / o->s) / o->alpha;
	uint32_t p;
	if (!(t > 0.0))
		p = 1;
	else if (t >= curve_log(p_max))
		p = p_max;
	else
		p = (uint32_t)ceil(exp(t));
	if (p < 1)
		p = 1;
	if (p > p_max)
		p = p_max;
	/* Rounding at the boundary: agree with the probability as evaluated. */
	while (p > 1 && prob_at(o, log_lambda, p - 1) <= tau)
		p--;
	while (p < p_max && prob_at(o, log_lambda, p) > tau)
		p++;
	return p;
}

double stn__head_loss_backward(const stn_net *n, const double *z, double delta,
			       double log_lambda, double p, int label, double wt, double *g_head,
			       double *dz, double *ddelta)
{
	return stn__head_loss_backward_adj(n, z, delta, log_lambda, p, label, wt, 0.0, g_head,
					   dz, ddelta);
}

double stn__head_loss_backward_adj(const stn_net *n, const double *z, double delta,
				   double log_lambda, double p, int label, double wt,
				   double logit_offset, double *g_head, double *dz, double *ddelta)
{
	stn_head_out o;
	stn__head_eval(n, z, delta, &o);
	double lp = log(p);
	double diff = log_lambda - o.log_c - o.alpha * lp;
	/* The offset is a constant: it moves where the loss is evaluated, not the derivatives of
	 * the logit with respect to the parameters. */
	double u = o.s * diff + logit_offset;
	double y = label ? 1.0 : 0.0;
	double loss = wt * (stn__nn_softplus(u) - y * u);
	double du = wt * (stn__nn_sigmoid(u) - y);
	/* Through the clamps the gradient is zero outside their range. */
	double d_logc = (fabs(o.raw[0] + delta) < STN_HEAD_LOGC_CLAMP) ? -o.s * du : 0.0;
	double sa = stn__nn_sigmoid(o.raw[1]);
	double d_raw1 = -o.s * lp * du * 0.8 * sa * (1.0 - sa);
	double d_raw2 = o.s < STN_HEAD_S_MAX ? diff * du * stn__nn_sigmoid(o.raw[2]) : 0.0;
	double dr[STN_HEAD_OUTPUTS] = {d_logc, d_raw1, d_raw2};
	size_t H = n->cfg.width;
	const double *w = n->w + n->head_offset;
	for (unsigned k = 0; k < STN_HEAD_OUTPUTS; k++) {
		if (g_head != NULL) {
			for (size_t j = 0; j < H; j++)
				g_head[k * H + j] += dr[k] * z[j];
			g_head[STN_HEAD_OUTPUTS * H + k] += dr[k];
		}
		if (dz != NULL)
			for (size_t j = 0; j < H; j++)
				dz[j] += dr[k] * w[k * H + j];
	}
	if (ddelta != NULL)
		*ddelta += d_logc;
	return loss;
}
