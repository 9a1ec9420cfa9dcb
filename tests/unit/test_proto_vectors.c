/* proto vectors: the shared test vectors of proto/vectors/ against the reference codec.
 * Valid vectors decode, show the documented JSON and encode back byte-identical; invalid ones
 * fail with exactly the documented status; the committed files equal a fresh generation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gen_vectors.h"
#include "proto.h"
#include "status.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------------------- */

typedef struct names {
	char **v;
	size_t n;
} names;

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names in dir ending in suffix (NULL: every regular entry). */
static names list_dir(const char *dir, const char *suffix)
{
	names out = {NULL, 0};
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name), sl = suffix != NULL ? strlen(suffix) : 0;

		if (e->d_name[0] == '.')
			continue;
		if (suffix != NULL && (len <= sl || strcmp(e->d_name + len - sl, suffix) != 0))
			continue;
		out.v = realloc(out.v, (out.n + 1) * sizeof(char *));
		assert_non_null(out.v);
		out.v[out.n] = strdup(e->d_name);
		assert_non_null(out.v[out.n]);
		out.n++;
	}
	closedir(d);
	if (out.n > 0)
		qsort(out.v, out.n, sizeof(char *), cmp_names);
	return out;
}

static void names_free(names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

static char *vectors_dir(const char *sub)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "proto/vectors/%s", sub);
	return stn_test_path(stn_test_source_dir(), rel);
}

static void read_file_in(const char *dir, const char *name, unsigned char **data, size_t *len)
{
	char *path = stn_test_path(dir, name);

	assert_non_null(path);
	if (stn_test_read_file(path, data, len) != 0)
		fail_msg("cannot read %s", path);
	free(path);
}

/* The sibling file of a vector: "07-x.msgpack" -> "07-x.json". */
static char *sibling(const char *name, const char *ext)
{
	size_t base = strlen(name) - strlen(".msgpack");
	char *s = malloc(base + strlen(ext) + 1);

	assert_non_null(s);
	memcpy(s, name, base);
	strcpy(s + base, ext);
	return s;
}

static char *pretty_json_of(const stn_msg *m)
{
	char *json = NULL, *pretty;

	assert_int_equal(stn__proto_to_json(m, &json), STN_OK);
	pretty = stn_gen_pretty_json(json);
	assert_non_null(pretty);
	stn__free(json);
	return pretty;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- the committed vectors ------------------------------------------------------------- */

static void test_valid_vectors(void **state)
{
	char *dir = vectors_dir("valid");
	names files = list_dir(dir, ".msgpack");
	bool seen[STN_MSG_ERROR + 1] = {false};

	(void)state;
	assert_true(files.n >= 9);
	for (size_t i = 0; i < files.n; i++) {
		unsigned char *bytes = NULL, *json_file = NULL;
		size_t len = 0, json_len = 0, out_len = 0;
		char *json_name = sibling(files.v[i], ".json"), *pretty;
		void *again = NULL;
		stn_errbuf eb = {{0}};
		stn_msg m;
		stn_status rv;

		read_file_in(dir, files.v[i], &bytes, &len);
		read_file_in(dir, json_name, &json_file, &json_len);
		rv = stn__proto_decode(bytes, len, NULL, &m, &eb);
		if (rv != STN_OK)
			fail_msg("%s: %s %s", files.v[i], stn__status_name(rv), eb.text);
		seen[m.type] = true;
		pretty = pretty_json_of(&m);
		if (strcmp(pretty, (const char *)json_file) != 0)
			fail_msg("%s: JSON view differs from %s", files.v[i], json_name);
		assert_int_equal(stn__proto_encode(&m, &again, &out_len, &eb), STN_OK);
		assert_int_equal(out_len, len);
		if (memcmp(again, bytes, len) != 0)
			fail_msg("%s: re-encoding is not byte-identical", files.v[i]);
		stn__msg_free(&m);
		stn__free(again);
		free(pretty);
		free(bytes);
		free(json_file);
		free(json_name);
	}
	for (int t = STN_MSG_HELLO; t <= STN_MSG_ERROR; t++)
		if (!seen[t])
			fail_msg("no valid vector of type %s", stn__msg_type_name((stn_msg_type)t));
	names_free(&files);
	free(dir);
}

static void test_invalid_vectors(void **state)
{
	char *dir = vectors_dir("invalid");
	names files = list_dir(dir, ".msgpack");

	(void)state;
	assert_true(files.n >= 20);
	for (size_t i = 0; i < files.n; i++) {
		unsigned char *bytes = NULL, *txt = NULL;
		size_t len = 0, txt_len = 0;
		char *txt_name = sibling(files.v[i], ".txt"), *nl;
		stn_status want, got;
		stn_errbuf eb = {{0}};
		stn_msg m;

		read_file_in(dir, files.v[i], &bytes, &len);
		read_file_in(dir, txt_name, &txt, &txt_len);
		nl = strchr((char *)txt, '\n');
		assert_non_null(nl);
		*nl = '\0';
		if (stn__status_from_name((const char *)txt, &want) != STN_OK || want == STN_OK)
			fail_msg("%s: first line '%s' is not an error status name", txt_name, txt);
		assert_true(strlen(nl + 1) > 10); /* the reason follows */
		got = stn__proto_decode(bytes, len, NULL, &m, &eb);
		if (got != want)
			fail_msg("%s: expected %s, decoder gives %s (%s)", files.v[i],
				 stn__status_name(want), stn__status_name(got), eb.text);
		assert_int_equal(m.type, 0); /* a failed decode leaves nothing to free */
		assert_true(strlen(eb.text) > 0);
		free(bytes);
		free(txt);
		free(txt_name);
	}
	names_free(&files);
	free(dir);
}

static void compare_dirs(const char *committed, const char *fresh)
{
	names a = list_dir(committed, NULL), b = list_dir(fresh, NULL);

	if (a.n != b.n)
		fail_msg("%s has %zu files, the generator writes %zu: run scripts/gen-vectors.sh",
			 committed, a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		unsigned char *x = NULL, *y = NULL;
		size_t xl = 0, yl = 0;

		if (strcmp(a.v[i], b.v[i]) != 0)
			fail_msg("%s/%s is not what the generator writes (%s): run scripts/gen-vectors.sh",
				 committed, a.v[i], b.v[i]);
		read_file_in(committed, a.v[i], &x, &xl);
		read_file_in(fresh, b.v[i], &y, &yl);
		if (xl != yl || memcmp(x, y, xl) != 0)
			fail_msg("%s/%s differs from a fresh generation: run scripts/gen-vectors.sh",
				 committed, a.v[i]);
		free(x);
		free(y);
	}
	names_free(&a);
	names_free(&b);
}

static void test_vectors_match_generator(void **state)
{
	char *tmp = stn_test_tmpdir();
	char *fresh_valid, *fresh_invalid, *valid = vectors_dir("valid"),
			   *invalid = vectors_dir("invalid");

	(void)state;
	assert_non_null(tmp);
	assert_int_equal(stn_gen_vectors_write(tmp, stderr), 0);
	fresh_valid = stn_test_path(tmp, "valid");
	fresh_invalid = stn_test_path(tmp, "invalid");
	compare_dirs(valid, fresh_valid);
	compare_dirs(invalid, fresh_invalid);
	stn_test_rmtree(tmp);
	free(tmp);
	free(fresh_valid);
	free(fresh_invalid);
	free(valid);
	free(invalid);
}

/* ---- properties around the vectors ------------------------------------------------------ */

/* Every strict prefix of a valid message is truncated MessagePack. */
static void test_prefixes_are_eproto(void **state)
{
	char *dir = vectors_dir("valid");
	names files = list_dir(dir, ".msgpack");
	size_t checked = 0;

	(void)state;
	for (size_t i = 0; i < files.n; i++) {
		unsigned char *bytes = NULL;
		size_t len = 0;

		read_file_in(dir, files.v[i], &bytes, &len);
		for (size_t cut = 0; len <= 4096 && cut < len; cut++) {
			stn_errbuf eb = {{0}};
			stn_msg m;
			stn_status rv = stn__proto_decode(bytes, cut, NULL, &m, &eb);

			if (rv != STN_EPROTO)
				fail_msg("%s cut to %zu bytes: %s, expected EPROTO", files.v[i], cut,
					 stn__status_name(rv));
			checked++;
		}
		free(bytes);
	}
	assert_true(checked > 1000);
	names_free(&files);
	free(dir);
}

/* Non-canonical spellings of a vector's message decode to it: keys in any order, unknown keys
 * (also inside operators) ignored, integers in wider or signed forms, float32, absent
 * defaults, an empty optional job. */
static void test_lenient_forms_decode_to_canonical(void **state)
{
	static const struct {
		const char *vector;
		const char *spec;
	} cases[] = {
		{"01-hello.msgpack",
		 "{'versions':[u64(1)],'x':{'a':[1,2,{'b':nil}],raw(c4 02 00 01):f32(1)},"
		 "'client':'timely-shim/0.1.0','t':'hello','y':raw(d6 01 00 00 00 00),'v':i16(1)}"},
		{"08-samples-one-row.msgpack",
		 "{'v':1,'t':'samples','job':'wc','window':i8(0),'duration_ms':u32(1000),'op':[0],"
		 "'inst':[0],'busy_ms':[f32(250)],'in':[1000],'out':[i16(1000)],'backlog':[0],"
		 "'future':[true,false]}"},
		{"04-register-minimal.msgpack",
		 "{'v':1,'t':'register','job':'wc','edges':[[0,u8(1),'forward']],"
		 "'ops':[{'id':0,'kind':'source','p':1,'p_max':1,'gpu':{'n':2}},"
		 "{'p_max':1,'p':1,'kind':'sink','id':1}]}"},
		{"17-query-endpoint.msgpack", "{'t':'query','v':1,'job':'','id':9}"},
		{"15-ack-samples.msgpack",
		 "{'v':1,'t':'ack','of':'samples','job':'wordcount','window':7,'seq':99}"},
	};
	char *dir = vectors_dir("valid");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *want = NULL, *in = NULL;
		size_t want_len = 0, in_len = 0, out_len = 0;
		void *out = NULL;
		stn_errbuf eb = {{0}};
		stn_msg m;
		stn_status rv;

		read_file_in(dir, cases[i].vector, &want, &want_len);
		assert_int_equal(stn_gen_pack(cases[i].spec, &in, &in_len), 0);
		assert_false(in_len == want_len && memcmp(in, want, in_len) == 0);
		rv = stn__proto_decode(in, in_len, NULL, &m, &eb);
		if (rv != STN_OK)
			fail_msg("case %zu: %s %s", i, stn__status_name(rv), eb.text);
		assert_int_equal(stn__proto_encode(&m, &out, &out_len, &eb), STN_OK);
		if (out_len != want_len || memcmp(out, want, want_len) != 0)
			fail_msg("case %zu does not re-encode to %s", i, cases[i].vector);
		stn__msg_free(&m);
		stn__free(out);
		free(in);
		free(want);
	}
	free(dir);
}

static stn_status decode_file(const char *name, const stn_proto_limits *lim)
{
	char *dir = vectors_dir("valid");
	unsigned char *bytes = NULL;
	size_t len = 0;
	stn_errbuf eb = {{0}};
	stn_msg m;
	stn_status rv;

	read_file_in(dir, name, &bytes, &len);
	rv = stn__proto_decode(bytes, len, lim, &m, &eb);
	if (rv == STN_OK)
		stn__msg_free(&m);
	free(bytes);
	free(dir);
	return rv;
}

/* The limits a decoder is given (the endpoint's announced ones) are enforced. */
static void test_limits(void **state)
{
	stn_proto_limits lim = stn__proto_limits_default();

	(void)state;
	assert_int_equal(decode_file("11-samples-window-64x32.msgpack", &lim), STN_OK);
	lim.max_rows = 2047;
	assert_int_equal(decode_file("11-samples-window-64x32.msgpack", &lim), STN_ETOOBIG);
	lim.max_rows = 2048;
	assert_int_equal(decode_file("11-samples-window-64x32.msgpack", &lim), STN_OK);
	lim.max_msg_bytes = 77963; /* the vector is 77964 bytes */
	assert_int_equal(decode_file("11-samples-window-64x32.msgpack", &lim), STN_ETOOBIG);

	lim = stn__proto_limits_default();
	lim.max_ops = 5;
	assert_int_equal(decode_file("06-register-nexmark-q5-ds2.msgpack", &lim), STN_ETOOBIG);
	lim.max_ops = 6;
	lim.max_edges = 5;
	assert_int_equal(decode_file("06-register-nexmark-q5-ds2.msgpack", &lim), STN_ETOOBIG);
	lim.max_edges = 6;
	assert_int_equal(decode_file("06-register-nexmark-q5-ds2.msgpack", &lim), STN_OK);
	lim.max_ops = 5;
	assert_int_equal(decode_file("12-decision.msgpack", &lim), STN_ETOOBIG);
}

/* Rows over the default limit (65 536): too large for a committed file, built here. */
static void test_rows_over_default_limit(void **state)
{
	stn_msg m, back;
	stn_errbuf eb = {{0}};
	void *bytes = NULL;
	size_t len = 0;

	(void)state;
	for (size_t n = STN_PROTO_MAX_ROWS; n <= STN_PROTO_MAX_ROWS + 1; n++) {
		memset(&m, 0, sizeof(m));
		m.type = STN_MSG_SAMPLES;
		snprintf(m.u.samples.job, sizeof(m.u.samples.job), "big");
		m.u.samples.duration_ms = 1000;
		m.u.samples.lag_ms = -1.0;
		assert_int_equal(stn__samples_alloc(&m.u.samples, n, false), STN_OK);
		assert_int_equal(stn__proto_encode(&m, &bytes, &len, &eb), STN_OK);
		assert_int_equal(stn__proto_decode(bytes, len, NULL, &back, &eb),
				 n > STN_PROTO_MAX_ROWS ? STN_ETOOBIG : STN_OK);
		stn__msg_free(&back);
		stn__msg_free(&m);
		stn__free(bytes);
	}
}

/* Random damage to valid vectors never crashes the decoder, and whatever it accepts is
 * canonicalised by one encode: decoding that gives the same message again. */
static void test_mutations(void **state)
{
	char *dir = vectors_dir("valid");
	names files = list_dir(dir, ".msgpack");
	uint64_t rng = 20261125;
	size_t accepted = 0, refused = 0;

	(void)state;
	for (size_t f = 0; f < files.n; f++) {
		unsigned char *orig = NULL;
		size_t len = 0;

		read_file_in(dir, files.v[f], &orig, &len);
		if (len > 4096) {
			free(orig);
			continue;
		}
		for (int k = 0; k < 300; k++) {
			unsigned char *mut = malloc(len);
			int flips = 1 + (int)(splitmix64(&rng) % 3);
			stn_errbuf eb = {{0}};
			stn_msg m, again;
			void *enc = NULL;
			size_t enc_len = 0;

			assert_non_null(mut);
			memcpy(mut, orig, len);
			for (int i = 0; i < flips; i++) {
				uint64_t r = splitmix64(&rng);

				mut[r % len] = (r >> 32) & 1 ? (unsigned char)(r >> 40)
							     : (unsigned char)(mut[r % len] ^ (1u << ((r >> 40) % 8)));
			}
			if (stn__proto_decode(mut, len, NULL, &m, &eb) != STN_OK) {
				refused++;
				free(mut);
				continue;
			}
			accepted++;
			/* What the decoder accepts, the encoder must write. */
			assert_int_equal(stn__proto_encode(&m, &enc, &enc_len, &eb), STN_OK);
			{
				char *a = pretty_json_of(&m), *b;

				assert_int_equal(stn__proto_decode(enc, enc_len, NULL, &again, &eb), STN_OK);
				b = pretty_json_of(&again);
				assert_string_equal(a, b);
				free(a);
				free(b);
			}
			stn__msg_free(&again);
			stn__free(enc);
			stn__msg_free(&m);
			free(mut);
		}
		free(orig);
	}
	assert_true(accepted > 100);
	assert_true(refused > 1000);
	names_free(&files);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_vectors),
		cmocka_unit_test(test_invalid_vectors),
		cmocka_unit_test(test_vectors_match_generator),
		cmocka_unit_test(test_prefixes_are_eproto),
		cmocka_unit_test(test_lenient_forms_decode_to_canonical),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_rows_over_default_limit),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
