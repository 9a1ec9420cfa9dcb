/* Helpers shared by the C tests: paths, temporary directories, file reading. */
#ifndef STN_TESTUTIL_H
#define STN_TESTUTIL_H

#include <stddef.h>

/* Project source directory (STN_SOURCE_DIR from CTest, else "."). Static storage. */
const char *stn_test_source_dir(void);

/* Path of the built CLI (STN_CLI from CTest). Static storage; NULL if unset. */
const char *stn_test_cli(void);

/* Creates a fresh temporary directory; caller frees the returned string with free(). */
char *stn_test_tmpdir(void);

/* Removes a directory tree made by stn_test_tmpdir. */
void stn_test_rmtree(const char *dir);

/* Reads a whole file; caller frees *data with free(). Returns 0 on success. */
int stn_test_read_file(const char *path, unsigned char **data, size_t *len);

/* Joins two path parts into a static-lifetime-free heap string (free()). */
char *stn_test_path(const char *dir, const char *name);

#endif
