/* jsonlex: strings (escapes, surrogate pairs, refusals), numbers (strict grammar, range),
 * literals, and the cursor's line and column. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "jsonlex.h"

typedef struct capped {
	char buf[32];
	size_t len;
} capped;

static const char *capped_put(void *ctx, const char *b, size_t n)
{
	capped *c = ctx;
	if (n >= sizeof(c->buf) - c->len)
		return "too long";
	memcpy(c->buf + c->len, b, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return NULL;
}

/* Decodes text as one string: NULL and the bytes, or the lexer's reason. */
static const char *decode(const char *text, capped *out)
{
	stn_jlex x;
	memset(out, 0, sizeof(*out));
	stn__jlex_init(&x, text, strlen(text));
	const char *why = stn__jlex_string(&x, capped_put, out);
	if (why == NULL)
		assert_int_equal(x.pos, strlen(text)); /* the cursor after the closing quote */
	return why;
}

static void test_strings(void **state)
{
	(void)state;
	capped c;
	assert_null(decode("\"plain\"", &c));
	assert_string_equal(c.buf, "plain");
	assert_null(decode("\"a\\\"b\\\\c\\/d\\n\\t\"", &c));
	assert_string_equal(c.buf, "a\"b\\c/d\n\t");
	assert_null(decode("\"\\u00e9\\u20ac\"", &c)); /* two- and three-byte UTF-8 */
	assert_string_equal(c.buf, "\xc3\xa9\xe2\x82\xac");
	assert_null(decode("\"\\ud83d\\ude00\"", &c)); /* a surrogate pair: four bytes */
	assert_string_equal(c.buf, "\xf0\x9f\x98\x80");
	assert_null(decode("\"\xc3\xa9t\xc3\xa9\"", &c)); /* raw UTF-8 passes through */
	assert_string_equal(c.buf, "\xc3\xa9t\xc3\xa9");

	assert_string_equal(decode("\"\\ud83d\"", &c), "unpaired surrogate in a string");
	assert_string_equal(decode("\"\\ude00\"", &c), "unpaired surrogate in a string");
	assert_string_equal(decode("\"\\u0000\"", &c), "NUL character in a string");
	assert_string_equal(decode("\"\\u12\"", &c), "bad \\u escape");
	assert_string_equal(decode("\"\\x\"", &c), "bad escape in a string");
	assert_string_equal(decode("\"a\nb\"", &c), "control character in a string");
	assert_string_equal(decode("\"open", &c), "unexpected end of input in a string");
	assert_string_equal(decode("\"ends in \\", &c), "unexpected end of input in a string");
	assert_string_equal(decode("bare", &c), "expected a string");
	/* The sink's refusal ends the string with its reason. */
	assert_string_equal(decode("\"0123456789012345678901234567890123456789\"", &c),
			    "too long");
}

/* Lexes text as one number: NULL and the value, or the lexer's reason. */
static const char *number(const char *text, double *v)
{
	stn_jlex x;
	stn__jlex_init(&x, text, strlen(text));
	*v = -12345.0;
	return stn__jlex_number(&x, v);
}

static void test_numbers(void **state)
{
	(void)state;
	double v;
	assert_null(number("0", &v));
	assert_true(v == 0.0);
	assert_null(number("-12.5e2", &v));
	assert_true(v == -1250.0);
	assert_null(number("1E-3", &v));
	assert_true(v == 0.001);
	assert_null(number("1e-400", &v)); /* underflow is a (zero) number */
	assert_true(v == 0.0);

	assert_string_equal(number("01", &v), "leading zero in a number");
	assert_string_equal(number("1.", &v), "digits expected after '.'");
	assert_string_equal(number("1e+", &v), "digits expected in an exponent");
	assert_string_equal(number("-", &v), "expected a number");
	assert_string_equal(number("NaN", &v), "expected a number");
	assert_string_equal(number("1e400", &v), "number out of range");
	char long_number[80];
	memset(long_number, '1', sizeof(long_number) - 1);
	long_number[sizeof(long_number) - 1] = '\0';
	assert_string_equal(number(long_number, &v), "number longer than 63 characters");
	assert_true(v == -12345.0); /* nothing written on a refusal */
}

static void test_cursor(void **state)
{
	(void)state;
	const char *text = "  \n\t [true,\r\n   nul";
	stn_jlex x;
	stn__jlex_init(&x, text, strlen(text));
	assert_int_equal(stn__jlex_peek(&x), '[');
	assert_int_equal(x.line, 2);
	assert_int_equal(stn__jlex_col(&x), 3);
	x.pos++;
	assert_true(stn__jlex_literal(&x, "true"));
	assert_false(stn__jlex_literal(&x, "false"));
	assert_int_equal(stn__jlex_peek(&x), ',');
	x.pos++;
	assert_int_equal(stn__jlex_peek(&x), 'n');
	assert_int_equal(x.line, 3);
	assert_int_equal(stn__jlex_col(&x), 4);
	assert_false(stn__jlex_literal(&x, "null")); /* cut short: not consumed */
	assert_int_equal(stn__jlex_col(&x), 4);
	x.pos = x.len;
	assert_int_equal(stn__jlex_peek(&x), '\0');
	assert_true(stn__jlex_at_end(&x));
	/* No text at all is an empty cursor. */
	stn__jlex_init(&x, NULL, 5);
	assert_int_equal(stn__jlex_peek(&x), '\0');
	assert_true(stn__jlex_at_end(&x));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
