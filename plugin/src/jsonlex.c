/* jsonlex: JSON tokens under a cursor with line and column. */
#include "jsonlex.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void stn__jlex_init(stn_jlex *x, const char *text, size_t len)
{
	x->s = text;
	x->len = text != NULL ? len : 0;
	x->pos = 0;
	x->line = 1;
	x->line_start = 0;
}

char stn__jlex_peek(stn_jlex *x)
{
	while (x->pos < x->len) {
		char c = x->s[x->pos];
		if (c == '\n') {
			x->line++;
			x->line_start = x->pos + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			return c;
		}
		x->pos++;
	}
	return '\0';
}

bool stn__jlex_at_end(const stn_jlex *x)
{
	return x->pos >= x->len;
}

size_t stn__jlex_col(const stn_jlex *x)
{
	return x->pos - x->line_start + 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_hex4(stn_jlex *x, uint32_t *out)
{
	uint32_t v = 0;
	if (x->len - x->pos < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int h = hexval(x->s[x->pos + (size_t)i]);
		if (h < 0)
			return false;
		v = v << 4 | (uint32_t)h;
	}
	x->pos += 4;
	*out = v;
	return true;
}

static const char *put_utf8(stn_jlex_sink sink, void *ctx, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return sink(ctx, b, n);
}

/* The code point of a \u escape (the cursor after the 'u'), a surrogate pair joined. */
static const char *unicode_escape(stn_jlex *x, uint32_t *cp)
{
	uint32_t lo;
	if (!read_hex4(x, cp))
		return "bad \\u escape";
	if (*cp >= 0xD800 && *cp < 0xDC00) {
		if (x->len - x->pos < 2 || x->s[x->pos] != '\\' || x->s[x->pos + 1] != 'u')
			return "unpaired surrogate in a string";
		x->pos += 2;
		if (!read_hex4(x, &lo) || lo < 0xDC00 || lo > 0xDFFF)
			return "unpaired surrogate in a string";
		*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
	} else if (*cp >= 0xDC00 && *cp < 0xE000) {
		return "unpaired surrogate in a string";
	}
	if (*cp == 0)
		return "NUL character in a string";
	return NULL;
}

const char *stn__jlex_string(stn_jlex *x, stn_jlex_sink sink, void *ctx)
{
	const char *why;
	if (x->pos >= x->len || x->s[x->pos] != '"')
		return "expected a string";
	x->pos++;
	while (x->pos < x->len) {
		unsigned char c = (unsigned char)x->s[x->pos];
		if (c == '"') {
			x->pos++;
			return NULL;
		}
		if (c < 0x20)
			return "control character in a string";
		if (c != '\\') {
			/* A run of plain bytes (UTF-8 text passes through as it is). */
			size_t run = x->pos;
			while (run < x->len && x->s[run] != '"' && x->s[run] != '\\' &&
			       (unsigned char)x->s[run] >= 0x20)
				run++;
			why = sink(ctx, x->s + x->pos, run - x->pos);
			if (why != NULL)
				return why;
			x->pos = run;
			continue;
		}
		x->pos++;
		if (x->pos >= x->len)
			break;
		char e = x->s[x->pos++];
		const char *simple = e != '\0' ? strchr("\"\\/bfnrt", e) : NULL;
		if (simple != NULL) {
			static const char decoded[] = "\"\\/\b\f\n\r\t";
			why = sink(ctx, &decoded[simple - "\"\\/bfnrt"], 1);
		} else if (e == 'u') {
			uint32_t cp;
			why = unicode_escape(x, &cp);
			if (why == NULL)
				why = put_utf8(sink, ctx, cp);
		} else {
			x->pos--;
			return "bad escape in a string";
		}
		if (why != NULL)
			return why;
	}
	return "unexpected end of input in a string";
}

static bool is_digit(const stn_jlex *x, size_t i)
{
	return i < x->len && x->s[i] >= '0' && x->s[i] <= '9';
}

const char *stn__jlex_number(stn_jlex *x, double *out)
{
	size_t i = x->pos;
	char buf[64];
	if (i < x->len && x->s[i] == '-')
		i++;
	if (!is_digit(x, i))
		return "expected a number";
	if (x->s[i] == '0' && is_digit(x, i + 1))
		return "leading zero in a number";
	while (is_digit(x, i))
		i++;
	if (i < x->len && x->s[i] == '.') {
		i++;
		if (!is_digit(x, i))
			return "digits expected after '.'";
		while (is_digit(x, i))
			i++;
	}
	if (i < x->len && (x->s[i] == 'e' || x->s[i] == 'E')) {
		i++;
		if (i < x->len && (x->s[i] == '+' || x->s[i] == '-'))
			i++;
		if (!is_digit(x, i))
			return "digits expected in an exponent";
		while (is_digit(x, i))
			i++;
	}
	if (i - x->pos >= sizeof(buf))
		return "number longer than 63 characters";
	memcpy(buf, x->s + x->pos, i - x->pos);
	buf[i - x->pos] = '\0';
	double v = strtod(buf, NULL);
	if (!isfinite(v))
		return "number out of range";
	*out = v;
	x->pos = i;
	return NULL;
}

bool stn__jlex_literal(stn_jlex *x, const char *word)
{
	size_t n = strlen(word);
	if (x->len - x->pos < n || memcmp(x->s + x->pos, word, n) != 0)
		return false;
	x->pos += n;
	return true;
}
