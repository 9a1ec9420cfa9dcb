/* jsonlex: the tokens of JSON text (RFC 8259) under a cursor that knows its line and column,
 * for the readers built on it: dagjson's value tree and the command line's streaming metrics
 * reader. Strings are decoded to UTF-8 (\u escapes and surrogate pairs; NUL refused), numbers
 * follow the strict grammar and must be finite. A token that is not valid leaves the cursor
 * where it went wrong and returns a short reason; the reader adds its own context (path, line,
 * column) to it. */
#ifndef STN_JSONLEX_H
#define STN_JSONLEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct stn_jlex {
	const char *s;
	size_t len, pos;
	size_t line, line_start; /* 1-based line of pos, and where that line starts */
} stn_jlex;

void stn__jlex_init(stn_jlex *x, const char *text, size_t len);

/* Skips whitespace and returns the next character, '\0' at the end of the text. */
char stn__jlex_peek(stn_jlex *x);

/* Whether the cursor is at the end of the text (after stn__jlex_peek: nothing but space). */
bool stn__jlex_at_end(const stn_jlex *x);

/* 1-based column of the cursor. */
size_t stn__jlex_col(const stn_jlex *x);

/* Receives a string's decoded bytes, in pieces; returns NULL, or why it refuses them (a length
 * limit, memory), which ends the string with that reason. */
typedef const char *(*stn_jlex_sink)(void *ctx, const char *bytes, size_t n);

/* The string at the cursor (which must be at its opening quote), decoded into sink; the cursor
 * ends after the closing quote. NULL, or the reason it is not a valid string. */
const char *stn__jlex_string(stn_jlex *x, stn_jlex_sink sink, void *ctx);

/* The number at the cursor. NULL, or the reason it is not a valid finite number. */
const char *stn__jlex_number(stn_jlex *x, double *out);

/* Consumes word (true, false, null) if the text has it at the cursor. */
bool stn__jlex_literal(stn_jlex *x, const char *word);

#endif
