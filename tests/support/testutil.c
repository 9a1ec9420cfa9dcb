#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *stn_test_source_dir(void)
{
	const char *d = getenv("STN_SOURCE_DIR");
	return d != NULL ? d : ".";
}

const char *stn_test_cli(void)
{
	return getenv("STN_CLI");
}

char *stn_test_tmpdir(void)
{
	char tmpl[] = "/tmp/stn-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	return d != NULL ? strdup(d) : NULL;
}

void stn_test_rmtree(const char *dir)
{
	char cmd[4096];

	if (dir == NULL || strncmp(dir, "/tmp/stn-test-", 14) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int stn_test_read_file(const char *path, unsigned char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	*data = malloc((size_t)n + 1);
	if (*data == NULL || fread(*data, 1, (size_t)n, f) != (size_t)n) {
		free(*data);
		fclose(f);
		return -1;
	}
	(*data)[n] = 0;
	*len = (size_t)n;
	fclose(f);
	return 0;
}

char *stn_test_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}
