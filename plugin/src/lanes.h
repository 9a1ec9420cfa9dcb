/* lanes: blocks of LANE_BLOCK doubles held in vector registers (four of eight: one AVX-512
 * register each, two AVX2 ones) for the hot loops of the encoder and the head. Every operation
 * is element-wise and nothing is contracted (C11 mode), so a block computes exactly the bits the
 * same expression computes on one double, whatever instruction set the caller's
 * target_clones picked. */
#ifndef STN_LANES_H
#define STN_LANES_H

#include <stdint.h>
#include <string.h>

typedef double lane8 __attribute__((vector_size(64)));
typedef int64_t lane8_mask __attribute__((vector_size(64)));
typedef uint64_t lane8_bits __attribute__((vector_size(64)));

#define LANE_BLOCK 32u

typedef struct lane_block {
	lane8 r[4];
} lane_block;

static inline void lane_load(lane_block *a, const double *x)
{
	for (int i = 0; i < 4; i++)
		memcpy(&a->r[i], x + 8 * i, sizeof(lane8));
}

static inline void lane_store(const lane_block *a, double *x)
{
	for (int i = 0; i < 4; i++)
		memcpy(x + 8 * i, &a->r[i], sizeof(lane8));
}

static inline void lane_zero(lane_block *a)
{
	for (int i = 0; i < 4; i++)
		a->r[i] = (lane8){0};
}

/* a += s * x for x[0..LANE_BLOCK). */
static inline void lane_axpy(lane_block *a, double s, const double *x)
{
	for (int i = 0; i < 4; i++) {
		lane8 xi;
		memcpy(&xi, x + 8 * i, sizeof(xi));
		a->r[i] += s * xi;
	}
}

/* max(a, 0) with NaN and -0 to +0: the comparison's all-ones or zero mask keeps or clears the
 * bits. */
static inline void lane_relu(lane_block *a)
{
	for (int i = 0; i < 4; i++) {
		lane8_mask keep = a->r[i] > 0.0;
		a->r[i] = (lane8)((lane8_mask)a->r[i] & keep);
	}
}

/* e^x in place, to about 1 ulp, for every x in [-708, 708] (the caller's guarantee): x = n ln 2
 * + r with |r| <= ln 2 / 2 (ln 2 split in two so the reduction is exact), e^r by its Taylor
 * polynomial of degree 12 (truncation < 2e-16 relative), 2^n written into the exponent bits.
 * The four registers' chains are interleaved step by step: each alone is a long chain of
 * dependent operations, which is what limited a plain loop over them. */
static inline void lane_exp(lane_block *x)
{
	const double round_magic = 0x1.8p52, log2e = 0x1.71547652b82fep0;
	const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
	static const double inv_fact[12] = {1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
					    1.0 / 40320.0,    1.0 / 5040.0,    1.0 / 720.0,
					    1.0 / 120.0,      1.0 / 24.0,      1.0 / 6.0,
					    0.5,              1.0,             1.0};
	lane8 r[4], poly[4];
	lane8_bits n_bits[4];
	for (int q = 0; q < 4; q++) {
		lane8 shifted = x->r[q] * log2e + round_magic, n_d = shifted - round_magic;
		n_bits[q] = (lane8_bits)shifted;
		r[q] = (x->r[q] - n_d * ln2_hi) - n_d * ln2_lo;
		poly[q] = (lane8){0} + 1.0 / 479001600.0;
	}
	for (int i = 0; i < 12; i++)
		for (int q = 0; q < 4; q++)
			poly[q] = poly[q] * r[q] + inv_fact[i];
	/* The low bits of shifted hold n + 2^51 (two's complement): the exponent field is
	 * n + 1023, in 2..2045 for x in range. */
	for (int q = 0; q < 4; q++) {
		lane8_bits scale_bits = (n_bits[q] - UINT64_C(0x4338000000000000) + 1023u) << 52;
		x->r[q] = poly[q] * (lane8)scale_bits;
	}
}

#endif
