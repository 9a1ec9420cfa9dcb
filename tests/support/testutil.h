/* Helpers shared by the C tests: paths, temporary directories, file reading. */
#ifndef STN_TESTUTIL_H
#define STN_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>

/* Project source directory (STN_SOURCE_DIR from CTest, else "."). Static storage. */
const char *stn_test_source_dir(void);

/* Path of the built CLI (STN_CLI from CTest). Static storage; NULL if unset. */
const char *stn_test_cli(void);

/* Creates a fresh temporary directory; caller frees the returned string with free(). */
char *stn_test_tmpdir(void);

/* A CLI test's temporary directory (free()); NULL, with a message on stderr, if STN_CLI is not
 * set or no directory could be made. */
char *stn_test_cli_dir(void);

/* Removes a directory tree made by stn_test_tmpdir. */
void stn_test_rmtree(const char *dir);

/* Reads a whole file; caller frees *data with free(). Returns 0 on success. */
int stn_test_read_file(const char *path, unsigned char **data, size_t *len);

/* Joins two path parts into a static-lifetime-free heap string (free()). */
char *stn_test_path(const char *dir, const char *name);

/* Runs the CLI (stn_test_cli()) with a formatted argument string (shell syntax), its standard
 * output and error into stdout.txt and stderr.txt in dir; *out and *err (NULL or the text of
 * an earlier run, which is freed) get their text, NUL-terminated (free()); either pointer may
 * be NULL. Returns the exit status;
 * -1 if it did not exit or the output could not be read, -2 if a sanitizer reported
 * (under ASan/UBSan a finding exits non-zero too: a refusal must not be one). */
int stn_test_run_cli(const char *dir, char **out, char **err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int stn_test_vrun_cli(const char *dir, char **out, char **err, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/* Occurrences of needle in text. */
size_t stn_test_count(const char *text, const char *needle);

#endif
