/* status: the X-macro table is consistent in both directions; error messages format,
 * truncate and may wrap their own text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "status.h"

static void test_names_round_trip(void **state)
{
	stn_status back;
	int n = 0;

	(void)state;
#define CHECK(name, value, msg)                                                   \
	assert_string_equal(stn__status_name(STN_##name), #name);              \
	assert_string_equal(stn__strerror(STN_##name), msg);                   \
	assert_int_equal(stn__status_from_name(#name, &back), STN_OK);         \
	assert_int_equal(back, STN_##name);                                    \
	n++;
	STN_STATUS_MAP(CHECK)
#undef CHECK
	assert_true(n > 20);
	assert_int_equal(stn__status_from_name("ENOPE", &back), STN_ENOTFOUND);
	assert_string_equal(stn__status_name((stn_status)12345), "EUNKNOWN");
}

static void test_fail_formats(void **state)
{
	stn_errbuf eb;
	char longer[2000];

	(void)state;
	assert_int_equal(stn__fail(&eb, STN_EPROTO, "at byte %d", 12), STN_EPROTO);
	assert_string_equal(eb.text, "at byte 12");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	stn__fail(&eb, STN_EIO, "%s", longer); /* truncated, terminated */
	assert_int_equal(strlen(eb.text), STN_ERRMSG_CAP - 1);
	assert_int_equal(stn__fail(NULL, STN_EIO, "no buffer"), STN_EIO);
}

/* A message that wraps the one before it, the buffer's own text among the arguments, reads
 * whole: once, untruncated (formatting in place garbled it). */
static void test_fail_wraps_own_text(void **state)
{
	stn_errbuf eb;

	(void)state;
	stn__fail(&eb, STN_EDB, "reading the schema: %s", "file is not a database");
	assert_int_equal(stn__fail(&eb, STN_ECORRUPT, "%s is not a StreamTune history (%s)",
				   "some.txt", eb.text),
			 STN_ECORRUPT);
	assert_string_equal(eb.text, "some.txt is not a StreamTune history (reading the schema: "
				     "file is not a database)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_fail_formats),
		cmocka_unit_test(test_fail_wraps_own_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
