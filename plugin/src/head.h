/* head: the monotone bottleneck head. From an embedding z_v (width H):
 *   log c_v = w_c.z + b_c + delta_v           (per-instance capacity; delta learned online)
 *   alpha_v = 0.2 + 0.8 sigmoid(w_a.z + b_a)  (scaling exponent, in (0.2, 1])
 *   s_v     = softplus(w_s.z + b_s) + 1e-3    (sharpness)
 *   P(bottleneck | p) = sigmoid(s_v (log lambda_v - log c_v - alpha_v log p))
 * strictly decreasing in p for any weights. Closed-form minimal parallelism with risk <= tau. */
#ifndef STN_HEAD_H
#define STN_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "gnn.h"

#define STN_HEAD_LOGC_CLAMP 60.0   /* |log c| bound (log space) */
#define STN_HEAD_S_MAX 1e6
#define STN_HEAD_S_EPS 1e-3

typedef struct stn_head_out {
	double log_c, alpha, s;
	double raw[STN_HEAD_OUTPUTS];
} stn_head_out;

/* Head parameters of node z (width H); delta may be 0. */
void stn__head_eval(const stn_net *n, const double *z, double delta, stn_head_out *o);

/* The same for rows consecutive nodes z (rows x H) into out[0..rows), bit for bit: four
 * nodes' dot products run side by side (independent chains the core overlaps), each summed in
 * the order stn__head_eval sums it. */
void stn__head_eval_rows(const stn_net *n, const double *z, size_t rows, double delta,
			 stn_head_out *out);

/* Bottleneck logit u and probability at parallelism p >= 1 for input rate log_lambda. */
double stn__head_logit(const stn_head_out *o, double log_lambda, double p);
double stn__head_prob(const stn_head_out *o, double log_lambda, double p);

/* Minimal p in [1, p_max] with P(p) <= tau (p_max if none), by the closed form, with a
 * boundary correction so it agrees exactly with the evaluated curve. */
uint32_t stn__head_min_parallelism(const stn_head_out *o, double log_lambda, double tau,
				   uint32_t p_max);

/* curve[p-1] = P(p) for p = 1..p_max. */
void stn__head_curve(const stn_head_out *o, double log_lambda, uint32_t p_max, double *curve);

/* Class-weighted binary cross-entropy of one labelled observation (label 0/1) with weight wt;
 * returns the loss and accumulates gradients: into g_head (3 x H then 3 biases, the head block
 * of n->g), dz (H, may be NULL) and *ddelta (may be NULL). */
double stn__head_loss_backward(const stn_net *n, const double *z, double delta,
			       double log_lambda, double p, int label, double wt, double *g_head,
			       double *dz, double *ddelta);

/* Same with the loss evaluated at the logit u + logit_offset (logit adjustment). Training
 * with class weights w1 (bottleneck) and w0 and the offset log(w1 / w0) keeps the weights'
 * balanced gradients while the head's own probability stays an estimate of the unweighted
 * P(bottleneck): the weighted loss is minimised where u + log(w1 / w0) is the weighted
 * log-odds, i.e. where u is the true log-odds. Without it, P = 1/2 would sit where capacity
 * is short by log(w1 / w0) / s in log space, and p* would be biased upwards. */
double stn__head_loss_backward_adj(const stn_net *n, const double *z, double delta,
				   double log_lambda, double p, int label, double wt,
				   double logit_offset, double *g_head, double *dz, double *ddelta);

#endif
