/* fileio: reading a whole input file (or standard input) into memory, bounded. */
#include "fileio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

stn_status stn__file_read_all(const char *path, size_t max, char **buf, size_t *len,
			      stn_errbuf *eb)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0;
	stn_status st = STN_OK;

	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return stn__fail(eb, errno == ENOENT ? STN_ENOTFOUND : STN_EIO, "%s: %s", path,
				 strerror(errno));
	for (;;) {
		if (n == cap) {
			if (n > max) {
				st = stn__fail(eb, STN_ETOOBIG, "%s: larger than %zu bytes", path,
					       max);
				goto out;
			}
			/* Grow by doubling, but never past max + 1: one byte more than allowed
			 * is enough to tell the file is too big. */
			cap = cap ? 2 * cap : 65536;
			if (cap > max + 1)
				cap = max + 1;
			char *q = stn__realloc(p, cap + 1);
			if (q == NULL) {
				st = stn__fail(eb, STN_ENOMEM, "reading %s: out of memory", path);
				goto out;
			}
			p = q;
		}
		size_t k = fread(p + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		st = stn__fail(eb, STN_EIO, "%s: read error", path);
		goto out;
	}
	if (p == NULL) {
		p = stn__malloc(1);
		if (p == NULL) {
			st = stn__fail(eb, STN_ENOMEM, "reading %s: out of memory", path);
			goto out;
		}
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	p = NULL;
out:
	if (!is_stdin)
		fclose(f);
	stn__free(p);
	return st;
}
