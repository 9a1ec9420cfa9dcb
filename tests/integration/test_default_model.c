/* The shipped default model (plugin/models/default.stnm) is what scripts/gen-default-model.sh
 * makes: the script, run with the built CLI into a temporary directory, writes a file
 * byte-identical to the committed one. Also: the file is small, a version 2 model with a
 * global member and clusters, and the streamtune policy finds it through $STREAMTUNE_MODEL
 * and uses it (its decisions name the serving member instead of a DS2 fallback).
 * After a change to the simulator, the encoder or the training, this test fails until the
 * model is regenerated with the script and committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "testutil.h"

static void committed_path(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/plugin/models/default.stnm", stn_test_source_dir());
}

static void test_regenerate_matches(void **state)
{
	(void)state;
	char committed[1024], cmd[4096];
	char *dir = stn_test_tmpdir();
	unsigned char *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;

	assert_non_null(dir);
	assert_non_null(stn_test_cli());
	committed_path(committed, sizeof(committed));
	char *fresh = stn_test_path(dir, "default.stnm");
	snprintf(cmd, sizeof(cmd), "'%s/scripts/gen-default-model.sh' --quiet --cli '%s' --out '%s'",
		 stn_test_source_dir(), stn_test_cli(), fresh);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(stn_test_read_file(committed, &a, &na), 0);
	assert_int_equal(stn_test_read_file(fresh, &b, &nb), 0);
	if (na != nb || memcmp(a, b, na) != 0)
		fail_msg("%s differs from a fresh scripts/gen-default-model.sh run (%zu vs %zu "
			 "bytes); regenerate it with the script and commit it",
			 committed, na, nb);
	free(a);
	free(b);
	free(fresh);
	stn_test_rmtree(dir);
	free(dir);
}

static void test_shape(void **state)
{
	(void)state;
	char committed[1024];
	unsigned char *a = NULL;
	size_t na = 0;
	stn_model m;
	stn_errbuf eb = {{0}};

	committed_path(committed, sizeof(committed));
	assert_int_equal(stn_test_read_file(committed, &a, &na), 0);
	assert_true(na < 300u * 1024u);
	free(a);
	assert_int_equal(stn__model_read(&m, committed, &eb), STN_OK);
	assert_true(m.has_info);
	assert_true(m.n_members >= 3);
	assert_false(m.members[0].has_dag);
	for (size_t i = 1; i < m.n_members; i++)
		assert_true(m.members[i].has_dag);
	assert_int_equal(m.data.n_histories, 2);
	stn__model_fini(&m);
}

/* The default-model rule: $STREAMTUNE_MODEL names the file; "none" disables it. */
static void test_default_path(void **state)
{
	(void)state;
	char committed[1024], buf[4096];
	stn_errbuf eb = {{0}};

	committed_path(committed, sizeof(committed));
	setenv("STREAMTUNE_MODEL", committed, 1);
	assert_int_equal(stn__model_default_path(buf, sizeof(buf), &eb), STN_OK);
	assert_string_equal(buf, committed);
	setenv("STREAMTUNE_MODEL", "none", 1);
	assert_int_equal(stn__model_default_path(buf, sizeof(buf), &eb), STN_ENOTFOUND);
	/* Loaded once per process: from the committed file. */
	setenv("STREAMTUNE_MODEL", committed, 1);
	const char *path = NULL, *why = NULL;
	const stn_model *m = stn__model_default(&path, &why);
	assert_non_null(m);
	assert_string_equal(path, committed);
	assert_true(m->n_members >= 3);
	unsetenv("STREAMTUNE_MODEL");
}

/* The CLI's simulate runs the streamtune policy without --model: it takes the default model,
 * so its decisions name a model member, not "DS2 fallback (no model)". */
static void test_policy_uses_default(void **state)
{
	(void)state;
	char cmd[4096], committed[1024];
	char *dir = stn_test_tmpdir();
	char *csv = stn_test_path(dir, "reasons.txt");
	unsigned char *data = NULL;
	size_t n = 0;

	committed_path(committed, sizeof(committed));
	snprintf(cmd, sizeof(cmd),
		 "STREAMTUNE_MODEL='%s' '%s' simulate --family q5 --policy streamtune "
		 "--schedule steps:1,1.6,0.8 >/dev/null 2>'%s'",
		 committed, stn_test_cli(), csv);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(stn_test_read_file(csv, &data, &n), 0);
	char *text = calloc(n + 1, 1);
	assert_non_null(text);
	memcpy(text, data, n);
	/* Decision reasons go to stderr, one line per decision. */
	assert_non_null(strstr(text, "streamtune (cluster-"));
	assert_null(strstr(text, "no model"));
	free(text);
	free(data);
	free(csv);
	stn_test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_policy_uses_default),
		cmocka_unit_test(test_regenerate_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
