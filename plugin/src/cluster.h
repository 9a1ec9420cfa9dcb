/* cluster: k-medoids (PAM) on a distance matrix, k chosen by silhouette, cluster radii, and the
 * assignment of a new item to the nearest medoid or to the global model.
 *
 * Input is a symmetric n x n matrix (row-major) of finite, non-negative distances with a zero
 * diagonal, e.g. normalised GED between job DAGs. Nothing needs a vector space.
 *
 * PAM: BUILD picks the item with the smallest distance sum, then greedily the item that lowers
 * the total distance to the nearest medoid most; SWAP then repeatedly applies the best
 * (medoid, non-medoid) exchange while it lowers the total, up to a pass limit. k is chosen in
 * [k_min, k_max] by the mean silhouette (Rousseeuw; items alone in their cluster score 0; k = 1
 * scores 0 by convention, so it wins only when no split has positive structure); ties go to the
 * smaller k.
 *
 * Radius: the radius_quantile (default 0.9) nearest-rank quantile of the members' distances to
 * their medoid, at least min_radius. A high quantile rather than the maximum, so that one
 * outlying member does not widen the cluster for every future job; with the assignment margin
 * (default 1.5) the outliers of the history itself still fall inside.
 *
 * Everything is deterministic: ties are broken by the lowest index, and clusters are numbered
 * by increasing medoid index. */
#ifndef STN_CLUSTER_H
#define STN_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define STN_CLUSTER_MAX_ITEMS 5000u
#define STN_CLUSTER_MAX_K 64u
#define STN_CLUSTER_DEFAULT_K_MIN 2u
#define STN_CLUSTER_DEFAULT_K_MAX 8u
#define STN_CLUSTER_DEFAULT_QUANTILE 0.9
#define STN_CLUSTER_DEFAULT_MARGIN 1.5
#define STN_CLUSTER_DEFAULT_MAX_PASSES 100u

typedef struct stn_cluster_opts {
	size_t k_min;            /* >= 1; clamped to n */
	size_t k_max;            /* >= k_min; clamped to n */
	double radius_quantile;  /* in (0, 1] */
	double min_radius;       /* >= 0 */
	uint32_t max_passes;     /* SWAP passes per k; 0: the default */
} stn_cluster_opts;

/* k in [2, 8], quantile 0.9, min_radius 0, default passes. */
stn_cluster_opts stn__cluster_opts_default(void);

typedef struct stn_clustering {
	size_t n;          /* items */
	size_t k;          /* clusters */
	size_t *medoid;    /* k item indices, increasing */
	size_t *assign;    /* n: cluster of each item (nearest medoid, ties: lower cluster) */
	size_t *size;      /* k: members, the medoid included */
	double *radius;    /* k */
	double cost;       /* sum of every item's distance to its medoid */
	double silhouette; /* mean silhouette of this clustering */
	/* Mean silhouette of every k tried: silhouette_by_k[k - k_first], k_first..k_last. */
	size_t k_first, k_last;
	double *silhouette_by_k;
} stn_clustering;

/* Zero-filled storage is valid; fini releases the arrays (safe twice). */
void stn__cluster_fini(stn_clustering *c);

/* Checks that d is a usable distance matrix: finite, >= 0, zero diagonal, symmetric within a
 * relative 1e-9. STN_EINVAL with the offending cell otherwise. */
stn_status stn__cluster_check_matrix(const double *d, size_t n, stn_errbuf *eb);

/* PAM with a fixed k (1 <= k <= n) into out (overwritten; fini it first if it held one).
 * silhouette_by_k holds the one value. d borrowed for the call. STN_EINVAL (bad matrix or k),
 * STN_ETOOBIG (n > STN_CLUSTER_MAX_ITEMS), STN_ENOMEM. */
stn_status stn__cluster_pam(const double *d, size_t n, size_t k, const stn_cluster_opts *opts,
			    stn_clustering *out, stn_errbuf *eb);

/* PAM for every k in [k_min, k_max] (clamped to [1, n]), keeping the one with the best mean
 * silhouette. opts may be NULL (defaults). Errors as stn__cluster_pam; n = 0 is STN_EINVAL. */
stn_status stn__cluster_fit(const double *d, size_t n, const stn_cluster_opts *opts,
			    stn_clustering *out, stn_errbuf *eb);

/* Mean silhouette of an assignment of n items to k clusters (assign[i] < k). 0 if k < 2;
 * NaN if its scratch memory cannot be allocated. */
double stn__cluster_silhouette(const double *d, size_t n, const size_t *assign, size_t k);

/* Adjusted Rand index (Hubert and Arabie) of two labellings of n items (labels < n): 1 for
 * identical partitions (up to renaming), about 0 for independent ones, may be negative. 1 if
 * n < 2 or both partitions are trivial in the same way; NaN for labels >= n or no memory. */
double stn__cluster_ari(const size_t *a, const size_t *b, size_t n);

/* Assignment of a new item from its distances to the k medoids (dist[k], in medoid order):
 * *nearest receives the nearest cluster (ties: lower index). Returns that cluster, or -1
 * ("global model") when the distance exceeds radius * margin or k = 0. margin <= 0 takes the
 * default. */
long stn__cluster_assign(const stn_clustering *c, const double *dist, double margin,
			 size_t *nearest);

#endif
