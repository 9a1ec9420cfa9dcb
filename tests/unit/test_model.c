/* model: file round trip (bit-exact parameters, DAGs, radius, description) and rejection of
 * zero-length, truncated, bit-flipped, wrong magic, version and endianness, oversize counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "model.h"
#include "model_testlib.h"
#include "testutil.h"

static const stn_net_config cfg = {2, 8, STN_GNN_FEAT_DIM};

static void make_model(stn_model *m, stn_dag *d)
{
	stn_errbuf eb;
	stn_net n;
	stn_rng r;
	stn__rng_seed(&r, 4);
	tl_random_dag(d, 11, &r);
	assert_int_equal(stn__model_init(m, &cfg, 1234, "sim: nexmark+layered, 500 windows", &eb),
			 STN_OK);
	m->data_hash = 0xfeedfacecafebeefull;
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, 5);
	assert_int_equal(stn__model_add_member(m, "global", &n, NULL, 0.0, &eb), STN_OK);
	stn__net_init_random(&n, 6);
	assert_int_equal(stn__model_add_member(m, "cluster0", &n, d, 0.35, &eb), STN_OK);
	stn__net_fini(&n);
}

static void encode(const stn_model *m, uint8_t **buf, size_t *len)
{
	stn_errbuf eb;
	assert_int_equal(stn__model_encode(m, buf, len, &eb), STN_OK);
}

static void test_round_trip_file(void **state)
{
	(void)state;
	stn_model m, back;
	stn_dag d;
	stn_errbuf eb;
	make_model(&m, &d);
	char *dir = stn_test_tmpdir();
	char *path = stn_test_path(dir, "m.stnm");
	assert_int_equal(stn__model_write(&m, path, &eb), STN_OK);
	assert_int_equal(stn__model_read(&back, path, &eb), STN_OK);
	assert_int_equal(back.n_members, 2);
	assert_true(back.seed == 1234 && back.data_hash == 0xfeedfacecafebeefull);
	assert_string_equal(back.description, m.description);
	assert_int_equal(back.cfg.layers, 2);
	assert_int_equal(back.cfg.width, 8);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(back.members[i].name, m.members[i].name);
		assert_true(back.members[i].radius == m.members[i].radius);
		assert_int_equal(back.members[i].has_dag, m.members[i].has_dag);
		assert_memory_equal(back.members[i].net.w, m.members[i].net.w,
				    m.members[i].net.n_params * sizeof(double));
	}
	assert_true(stn__dag_hash(&back.members[1].dag) == stn__dag_hash(&d));
	/* Re-encoding gives the same bytes. */
	uint8_t *a, *b;
	size_t la, lb;
	encode(&m, &a, &la);
	encode(&back, &b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	/* Fixed little-endian header regardless of host. */
	assert_memory_equal(a, "STNMODEL\x01\x00\x00\x00\x04\x03\x02\x01", 16);
	stn__free(a);
	stn__free(b);
	stn__model_fini(&back);
	stn__model_fini(&m);
	stn__dag_fini(&d);
	stn_test_rmtree(dir);
	free(path);
	free(dir);
}

static stn_status decode_copy(const uint8_t *buf, size_t len, stn_errbuf *eb)
{
	stn_model m;
	uint8_t *copy = stn__malloc(len ? len : 1);
	memcpy(copy, buf, len);
	stn_status st = stn__model_decode(&m, copy, len, eb);
	if (st == STN_OK)
		stn__model_fini(&m);
	stn__free(copy);
	return st;
}

/* Rewrites the header CRC after a payload edit, so the edit reaches the bounds checks. */
static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t c = stn__crc32(0, buf + STN_MODEL_HEADER_SIZE, len - STN_MODEL_HEADER_SIZE);
	for (int i = 0; i < 4; i++)
		buf[24 + i] = (uint8_t)(c >> (8 * i));
}

static void test_corruption_rejected(void **state)
{
	(void)state;
	stn_model m;
	stn_dag d;
	stn_errbuf eb;
	uint8_t *buf;
	size_t len;
	make_model(&m, &d);
	encode(&m, &buf, &len);

	assert_int_equal(decode_copy(buf, 0, &eb), STN_ECORRUPT);
	printf("  zero-length: %s\n", eb.text);
	for (size_t cut = 1; cut < len; cut += (cut < 64 ? 1 : 97)) {
		assert_int_equal(decode_copy(buf, cut, &eb), STN_ECORRUPT);
	}
	printf("  truncated: %s\n", eb.text);
	/* Every single bit flip in the payload, sampled, is caught by the checksum. */
	for (size_t pos = STN_MODEL_HEADER_SIZE; pos < len; pos += 13) {
		buf[pos] ^= (uint8_t)(1u << (pos % 8));
		assert_int_equal(decode_copy(buf, len, &eb), STN_ECORRUPT);
		buf[pos] ^= (uint8_t)(1u << (pos % 8));
	}
	printf("  bit flip: %s\n", eb.text);
	buf[0] = 'X';
	assert_int_equal(decode_copy(buf, len, &eb), STN_ECORRUPT);
	printf("  magic: %s\n", eb.text);
	buf[0] = 'S';
	buf[8] = 2;
	assert_int_equal(decode_copy(buf, len, &eb), STN_EVERSION);
	printf("  version: %s\n", eb.text);
	buf[8] = 1;
	/* A big-endian writer would have stored the marker as 01 02 03 04. */
	uint8_t be[4] = {1, 2, 3, 4}, le[4];
	memcpy(le, buf + 12, 4);
	memcpy(buf + 12, be, 4);
	assert_int_equal(decode_copy(buf, len, &eb), STN_ECORRUPT);
	assert_non_null(strstr(eb.text, "endianness"));
	printf("  endianness: %s\n", eb.text);
	memcpy(buf + 12, le, 4);
	/* Oversize member count (valid CRC). Offset: header + 3*4 + 2*8 + 4 + description. */
	size_t desc_len = strlen(m.description);
	size_t off = STN_MODEL_HEADER_SIZE + 12 + 16 + 4 + desc_len;
	uint8_t keep[4];
	memcpy(keep, buf + off, 4);
	memset(buf + off, 0xff, 4);
	fix_crc(buf, len);
	assert_int_equal(decode_copy(buf, len, &eb), STN_ECORRUPT);
	printf("  member count: %s\n", eb.text);
	memcpy(buf + off, keep, 4);
	/* Oversize description length. */
	off = STN_MODEL_HEADER_SIZE + 28;
	memcpy(keep, buf + off, 4);
	memset(buf + off, 0x7f, 4);
	fix_crc(buf, len);
	assert_int_equal(decode_copy(buf, len, &eb), STN_ECORRUPT);
	printf("  description length: %s\n", eb.text);
	memcpy(buf + off, keep, 4);
	/* Absurd width. */
	off = STN_MODEL_HEADER_SIZE + 4;
	memcpy(keep, buf + off, 4);
	memset(buf + off, 0xff, 4);
	fix_crc(buf, len);
	assert_int_equal(decode_copy(buf, len, &eb), STN_ECORRUPT);
	printf("  width: %s\n", eb.text);
	memcpy(buf + off, keep, 4);
	fix_crc(buf, len);
	assert_int_equal(decode_copy(buf, len, &eb), STN_OK);
	/* Random garbage with a valid header never crashes and is rejected. */
	stn_rng r;
	stn__rng_seed(&r, 8);
	for (int t = 0; t < 300; t++) {
		size_t pos = STN_MODEL_HEADER_SIZE + stn__rng_below(&r, len - STN_MODEL_HEADER_SIZE);
		uint8_t old = buf[pos];
		buf[pos] = (uint8_t)stn__rng_next(&r);
		fix_crc(buf, len);
		(void)decode_copy(buf, len, &eb);
		buf[pos] = old;
	}
	stn__free(buf);
	stn__model_fini(&m);
	stn__dag_fini(&d);
}

static void test_missing_file_and_bad_member(void **state)
{
	(void)state;
	stn_model m;
	stn_errbuf eb;
	stn_net n;
	stn_net_config other = {3, 8, STN_GNN_FEAT_DIM};
	assert_int_equal(stn__model_read(&m, "/nonexistent/dir/x.stnm", &eb), STN_ENOTFOUND);
	/* Its errors name the file, once, whether reading or decoding failed. */
	assert_int_equal(strncmp(eb.text, "/nonexistent/dir/x.stnm: ", 25), 0);
	assert_null(strstr(eb.text + 1, "/nonexistent/dir/x.stnm"));
	char *dir = stn_test_tmpdir();
	char *junk = stn_test_path(dir, "junk.stnm");
	FILE *f = fopen(junk, "wb");
	assert_non_null(f);
	fputs("not a model", f);
	fclose(f);
	assert_int_equal(stn__model_read(&m, junk, &eb), STN_ECORRUPT);
	assert_int_equal(strncmp(eb.text, junk, strlen(junk)), 0);
	assert_null(strstr(eb.text + 1, junk));
	assert_non_null(strstr(eb.text, "truncated header"));
	stn_test_rmtree(dir);
	free(junk);
	free(dir);
	assert_int_equal(stn__model_init(&m, &cfg, 1, "", &eb), STN_OK);
	assert_int_equal(stn__net_init(&n, &other, &eb), STN_OK);
	assert_int_equal(stn__model_add_member(&m, "x", &n, NULL, 0.0, &eb), STN_EMODEL);
	stn__net_fini(&n);
	stn__model_fini(&m);
	/* CRC-32 check value. */
	assert_true(stn__crc32(0, "123456789", 9) == 0xCBF43926u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_file),
		cmocka_unit_test(test_corruption_rejected),
		cmocka_unit_test(test_missing_file_and_bad_member),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
