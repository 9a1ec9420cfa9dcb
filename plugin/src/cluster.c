/* cluster: PAM k-medoids, silhouette, radii, assignment. Works on a caller's distance matrix;
 * every array it returns lives in one stn_clustering. Invariant of a finished clustering: the
 * medoids are increasing item indices, every medoid belongs to its own cluster, and no
 * cluster is empty. */
#include "cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

stn_cluster_opts stn__cluster_opts_default(void)
{
	stn_cluster_opts o;

	memset(&o, 0, sizeof(o));
	o.k_min = STN_CLUSTER_DEFAULT_K_MIN;
	o.k_max = STN_CLUSTER_DEFAULT_K_MAX;
	o.radius_quantile = STN_CLUSTER_DEFAULT_QUANTILE;
	o.min_radius = 0.0;
	o.max_passes = STN_CLUSTER_DEFAULT_MAX_PASSES;
	return o;
}

void stn__cluster_fini(stn_clustering *c)
{
	if (c == NULL)
		return;
	stn__free(c->medoid);
	stn__free(c->assign);
	stn__free(c->size);
	stn__free(c->radius);
	stn__free(c->silhouette_by_k);
	memset(c, 0, sizeof(*c));
}

stn_status stn__cluster_check_matrix(const double *d, size_t n, stn_errbuf *eb)
{
	if (n > 0 && d == NULL)
		return stn__fail(eb, STN_EINVAL, "cluster: no distance matrix");
	for (size_t i = 0; i < n; i++) {
		if (d[i * n + i] != 0.0)
			return stn__fail(eb, STN_EINVAL, "cluster: distance (%zu, %zu) is not 0", i,
					 i);
		for (size_t j = i + 1; j < n; j++) {
			double a = d[i * n + j], b = d[j * n + i];

			if (!isfinite(a) || !isfinite(b) || a < 0.0 || b < 0.0)
				return stn__fail(eb, STN_EINVAL,
						 "cluster: distance (%zu, %zu) is negative or not "
						 "finite",
						 i, j);
			if (fabs(a - b) > 1e-9 * fmax(1.0, fmax(a, b)))
				return stn__fail(eb, STN_EINVAL,
						 "cluster: distances (%zu, %zu) and (%zu, %zu) differ",
						 i, j, j, i);
		}
	}
	return STN_OK;
}

static stn_status check_opts(const stn_cluster_opts *o, stn_errbuf *eb)
{
	if (!(o->radius_quantile > 0.0 && o->radius_quantile <= 1.0))
		return stn__fail(eb, STN_EINVAL, "cluster: radius quantile must be in (0, 1]");
	if (!(o->min_radius >= 0.0) || !isfinite(o->min_radius))
		return stn__fail(eb, STN_EINVAL, "cluster: minimum radius must be >= 0");
	return STN_OK;
}

/* Nearest and second-nearest medoid distance of every item, and the nearest medoid's slot. */
static void nearest_two(const double *d, size_t n, const size_t *med, size_t k, double *d1,
			double *d2, size_t *slot)
{
	for (size_t j = 0; j < n; j++) {
		double best = INFINITY, second = INFINITY;
		size_t bs = 0;

		for (size_t m = 0; m < k; m++) {
			double x = d[med[m] * n + j];

			if (x < best) {
				second = best;
				best = x;
				bs = m;
			} else if (x < second) {
				second = x;
			}
		}
		d1[j] = best;
		d2[j] = second;
		slot[j] = bs;
	}
}

/* BUILD then SWAP; med[k] receives the medoids (unsorted). work: 3 n doubles/size_ts. */
static void pam_core(const double *d, size_t n, size_t k, uint32_t max_passes, size_t *med,
		     double *d1, double *d2, size_t *slot, uint8_t *is_med)
{
	memset(is_med, 0, n);
	/* BUILD: the most central item, then greedy gains. */
	for (size_t m = 0; m < k; m++) {
		size_t pick = n;
		double pick_score = 0.0;

		for (size_t c = 0; c < n; c++) {
			double score = 0.0;

			if (is_med[c])
				continue;
			for (size_t j = 0; j < n; j++) {
				double x = d[c * n + j];

				if (m == 0)
					score -= x;                 /* maximise -sum */
				else if (x < d1[j])
					score += d1[j] - x;         /* gain */
			}
			if (pick == n || score > pick_score) {
				pick = c;
				pick_score = score;
			}
		}
		med[m] = pick;
		is_med[pick] = 1;
		for (size_t j = 0; j < n; j++) {
			double x = d[pick * n + j];

			if (m == 0 || x < d1[j])
				d1[j] = x;
		}
	}
	/* SWAP: best exchange per pass while it lowers the total. */
	for (uint32_t pass = 0; pass < max_passes && k < n; pass++) {
		double best_delta = 0.0, total = 0.0;
		size_t best_m = k, best_h = n;

		nearest_two(d, n, med, k, d1, d2, slot);
		for (size_t j = 0; j < n; j++)
			total += d1[j];
		for (size_t m = 0; m < k; m++) {
			for (size_t h = 0; h < n; h++) {
				double delta = 0.0;
				const double *dh = d + h * n;

				if (is_med[h])
					continue;
				for (size_t j = 0; j < n; j++) {
					if (slot[j] == m)
						delta += fmin(dh[j], d2[j]) - d1[j];
					else if (dh[j] < d1[j])
						delta += dh[j] - d1[j];
				}
				if (delta < best_delta) {
					best_delta = delta;
					best_m = m;
					best_h = h;
				}
			}
		}
		/* Ignore changes at rounding level, which could otherwise cycle. */
		if (best_m == k || best_delta >= -1e-12 * fmax(1.0, total))
			break;
		is_med[med[best_m]] = 0;
		is_med[best_h] = 1;
		med[best_m] = best_h;
	}
}

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static int double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Mean silhouette into *out; STN_ENOMEM if the per-cluster sums cannot be allocated. */
static stn_status silhouette_of(const double *d, size_t n, const size_t *assign, size_t k,
				double *out)
{
	size_t *count;
	double *sums, total = 0.0;

	*out = 0.0;
	if (k < 2 || n == 0)
		return STN_OK;
	count = stn__calloc(k, sizeof(size_t));
	sums = stn__malloc_array(k, sizeof(double));
	if (count == NULL || sums == NULL) {
		stn__free(count);
		stn__free(sums);
		return STN_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		count[assign[i]]++;
	for (size_t i = 0; i < n; i++) {
		size_t own = assign[i];
		double a, b = INFINITY, s = 0.0;

		if (count[own] < 2)
			continue; /* alone in its cluster: 0 */
		for (size_t c = 0; c < k; c++)
			sums[c] = 0.0;
		for (size_t j = 0; j < n; j++)
			sums[assign[j]] += d[i * n + j];
		a = sums[own] / (double)(count[own] - 1);
		for (size_t c = 0; c < k; c++)
			if (c != own && count[c] > 0 && sums[c] / (double)count[c] < b)
				b = sums[c] / (double)count[c];
		if (isfinite(b) && fmax(a, b) > 0.0)
			s = (b - a) / fmax(a, b);
		total += s;
	}
	stn__free(count);
	stn__free(sums);
	*out = total / (double)n;
	return STN_OK;
}

double stn__cluster_silhouette(const double *d, size_t n, const size_t *assign, size_t k)
{
	double s;

	if (silhouette_of(d, n, assign, k, &s) != STN_OK)
		return NAN;
	return s;
}

double stn__cluster_ari(const size_t *a, const size_t *b, size_t n)
{
	size_t ka = 0, kb = 0, cells;
	double *cont, *ra, *cb, sum_ij = 0.0, sum_a = 0.0, sum_b = 0.0, pairs, expect, top;

	if (n < 2)
		return 1.0;
	for (size_t i = 0; i < n; i++) {
		if (a[i] + 1 > ka)
			ka = a[i] + 1;
		if (b[i] + 1 > kb)
			kb = b[i] + 1;
	}
	if (ka > n || kb > n || stn__mul_overflow(ka, kb, &cells))
		return NAN;
	cont = stn__calloc(cells, sizeof(double));
	ra = stn__calloc(ka, sizeof(double));
	cb = stn__calloc(kb, sizeof(double));
	if (cont == NULL || ra == NULL || cb == NULL) {
		stn__free(cont);
		stn__free(ra);
		stn__free(cb);
		return NAN;
	}
	for (size_t i = 0; i < n; i++) {
		cont[a[i] * kb + b[i]] += 1.0;
		ra[a[i]] += 1.0;
		cb[b[i]] += 1.0;
	}
	for (size_t c = 0; c < cells; c++)
		sum_ij += cont[c] * (cont[c] - 1.0) / 2.0;
	for (size_t c = 0; c < ka; c++)
		sum_a += ra[c] * (ra[c] - 1.0) / 2.0;
	for (size_t c = 0; c < kb; c++)
		sum_b += cb[c] * (cb[c] - 1.0) / 2.0;
	stn__free(cont);
	stn__free(ra);
	stn__free(cb);
	pairs = (double)n * (double)(n - 1) / 2.0;
	expect = sum_a * sum_b / pairs;
	top = 0.5 * (sum_a + sum_b);
	/* Both labellings trivial in the same way (all one cluster, or all singletons). */
	if (top - expect == 0.0)
		return 1.0;
	return (sum_ij - expect) / (top - expect);
}

/* Fills a clustering from medoids (sorted here): assignment, sizes, radii, cost. */
static stn_status finish(const double *d, size_t n, size_t k, size_t *med,
			 const stn_cluster_opts *o, stn_clustering *out, stn_errbuf *eb)
{
	double *member_d = NULL;
	stn_status rv = STN_OK;

	qsort(med, k, sizeof(size_t), size_cmp);
	out->n = n;
	out->k = k;
	out->medoid = stn__malloc_array(k, sizeof(size_t));
	out->assign = stn__malloc_array(n, sizeof(size_t));
	out->size = stn__calloc(k, sizeof(size_t));
	out->radius = stn__malloc_array(k, sizeof(double));
	member_d = stn__malloc_array(n, sizeof(double));
	if (out->medoid == NULL || out->assign == NULL || out->size == NULL ||
	    out->radius == NULL || member_d == NULL) {
		rv = stn__fail(eb, STN_ENOMEM, "cluster: out of memory");
		goto out_free;
	}
	memcpy(out->medoid, med, k * sizeof(size_t));
	out->cost = 0.0;
	for (size_t j = 0; j < n; j++) {
		size_t best = 0;

		for (size_t m = 1; m < k; m++)
			if (d[med[m] * n + j] < d[med[best] * n + j])
				best = m;
		/* A medoid is in its own cluster even when another medoid is as close. */
		for (size_t m = 0; m < k; m++)
			if (med[m] == j)
				best = m;
		out->assign[j] = best;
		out->size[best]++;
		out->cost += d[med[best] * n + j];
	}
	for (size_t m = 0; m < k; m++) {
		size_t cnt = 0;
		double r = 0.0;

		for (size_t j = 0; j < n; j++)
			if (out->assign[j] == m && j != med[m])
				member_d[cnt++] = d[med[m] * n + j];
		if (cnt > 0) {
			size_t idx;

			qsort(member_d, cnt, sizeof(double), double_cmp);
			idx = (size_t)ceil(o->radius_quantile * (double)cnt);
			idx = idx == 0 ? 0 : idx - 1;
			if (idx >= cnt)
				idx = cnt - 1;
			r = member_d[idx];
		}
		out->radius[m] = fmax(r, o->min_radius);
	}
	if (silhouette_of(d, n, out->assign, k, &out->silhouette) != STN_OK)
		rv = stn__fail(eb, STN_ENOMEM, "cluster: out of memory");
out_free:
	stn__free(member_d);
	return rv;
}

/* One PAM run for k, into out (zero-filled on entry). */
static stn_status pam_one(const double *d, size_t n, size_t k, const stn_cluster_opts *o,
			  stn_clustering *out, stn_errbuf *eb)
{
	size_t *med = stn__malloc_array(k, sizeof(size_t));
	size_t *slot = stn__malloc_array(n, sizeof(size_t));
	double *d1 = stn__malloc_array(n, sizeof(double));
	double *d2 = stn__malloc_array(n, sizeof(double));
	uint8_t *is_med = stn__malloc(n);
	stn_status rv;

	if (med == NULL || slot == NULL || d1 == NULL || d2 == NULL || is_med == NULL) {
		rv = stn__fail(eb, STN_ENOMEM, "cluster: out of memory");
		goto out_free;
	}
	pam_core(d, n, k, o->max_passes == 0 ? STN_CLUSTER_DEFAULT_MAX_PASSES : o->max_passes,
		 med, d1, d2, slot, is_med);
	rv = finish(d, n, k, med, o, out, eb);
out_free:
	stn__free(med);
	stn__free(slot);
	stn__free(d1);
	stn__free(d2);
	stn__free(is_med);
	if (rv != STN_OK)
		stn__cluster_fini(out);
	return rv;
}

static stn_status check_input(const double *d, size_t n, const stn_cluster_opts *o,
			      stn_errbuf *eb)
{
	stn_status rv;

	if (n == 0)
		return stn__fail(eb, STN_EINVAL, "cluster: no items");
	if (n > STN_CLUSTER_MAX_ITEMS)
		return stn__fail(eb, STN_ETOOBIG, "cluster: %zu items, limit %u", n,
				 STN_CLUSTER_MAX_ITEMS);
	rv = check_opts(o, eb);
	if (rv != STN_OK)
		return rv;
	return stn__cluster_check_matrix(d, n, eb);
}

stn_status stn__cluster_pam(const double *d, size_t n, size_t k, const stn_cluster_opts *opts,
			    stn_clustering *out, stn_errbuf *eb)
{
	stn_cluster_opts o = opts != NULL ? *opts : stn__cluster_opts_default();
	stn_status rv;

	memset(out, 0, sizeof(*out));
	rv = check_input(d, n, &o, eb);
	if (rv != STN_OK)
		return rv;
	if (k < 1 || k > n || k > STN_CLUSTER_MAX_K)
		return stn__fail(eb, STN_EINVAL, "cluster: k = %zu outside 1..%zu", k,
				 n < STN_CLUSTER_MAX_K ? n : (size_t)STN_CLUSTER_MAX_K);
	rv = pam_one(d, n, k, &o, out, eb);
	if (rv != STN_OK)
		return rv;
	out->silhouette_by_k = stn__malloc(sizeof(double));
	if (out->silhouette_by_k == NULL) {
		stn__cluster_fini(out);
		return stn__fail(eb, STN_ENOMEM, "cluster: out of memory");
	}
	out->k_first = out->k_last = k;
	out->silhouette_by_k[0] = out->silhouette;
	return STN_OK;
}

stn_status stn__cluster_fit(const double *d, size_t n, const stn_cluster_opts *opts,
			    stn_clustering *out, stn_errbuf *eb)
{
	stn_cluster_opts o = opts != NULL ? *opts : stn__cluster_opts_default();
	size_t k_lo, k_hi;
	double *by_k;
	stn_status rv;

	memset(out, 0, sizeof(*out));
	rv = check_input(d, n, &o, eb);
	if (rv != STN_OK)
		return rv;
	if (o.k_min < 1 || o.k_max < o.k_min)
		return stn__fail(eb, STN_EINVAL, "cluster: k range [%zu, %zu] is empty", o.k_min,
				 o.k_max);
	k_hi = o.k_max;
	if (k_hi > n)
		k_hi = n;
	if (k_hi > STN_CLUSTER_MAX_K)
		k_hi = STN_CLUSTER_MAX_K;
	k_lo = o.k_min > k_hi ? k_hi : o.k_min;
	by_k = stn__malloc_array(k_hi - k_lo + 1, sizeof(double));
	if (by_k == NULL)
		return stn__fail(eb, STN_ENOMEM, "cluster: out of memory");
	for (size_t k = k_lo; k <= k_hi; k++) {
		stn_clustering c;

		memset(&c, 0, sizeof(c));
		rv = pam_one(d, n, k, &o, &c, eb);
		if (rv != STN_OK) {
			stn__cluster_fini(out);
			stn__free(by_k);
			return rv;
		}
		by_k[k - k_lo] = c.silhouette;
		if (out->k == 0 || c.silhouette > out->silhouette) {
			stn__cluster_fini(out);
			*out = c;
		} else {
			stn__cluster_fini(&c);
		}
	}
	out->silhouette_by_k = by_k;
	out->k_first = k_lo;
	out->k_last = k_hi;
	return STN_OK;
}

long stn__cluster_assign(const stn_clustering *c, const double *dist, double margin,
			 size_t *nearest)
{
	size_t best = 0;
	bool found = false;

	if (margin <= 0.0 || !isfinite(margin))
		margin = STN_CLUSTER_DEFAULT_MARGIN;
	if (nearest != NULL)
		*nearest = 0;
	if (c == NULL || c->k == 0 || dist == NULL)
		return -1;
	for (size_t m = 0; m < c->k; m++) {
		if (!isfinite(dist[m]) || dist[m] < 0.0)
			continue;
		if (!found || dist[m] < dist[best]) {
			best = m;
			found = true;
		}
	}
	if (!found)
		return -1;
	if (nearest != NULL)
		*nearest = best;
	if (dist[best] > c->radius[best] * margin)
		return -1;
	return (long)best;
}
