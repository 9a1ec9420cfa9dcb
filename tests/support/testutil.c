#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

char *stn_test_cli_dir(void)
{
	if (stn_test_cli() == NULL) {
		fprintf(stderr, "STN_CLI is not set\n");
		return NULL;
	}
	char *dir = stn_test_tmpdir();
	if (dir == NULL)
		fprintf(stderr, "cannot make a temporary directory\n");
	return dir;
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

/* The text of a file, NUL-terminated (stn_test_read_file terminates it); NULL if unreadable. */
static char *read_text(const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;

	return stn_test_read_file(path, &data, &len) == 0 ? (char *)data : NULL;
}

int stn_test_vrun_cli(const char *dir, char **out, char **err, const char *fmt, va_list ap)
{
	char args[3000], cmd[6000];
	char *out_path = stn_test_path(dir, "stdout.txt");
	char *err_path = stn_test_path(dir, "stderr.txt");
	int rc = -1;

	if (out_path == NULL || err_path == NULL || stn_test_cli() == NULL)
		goto done;
	vsnprintf(args, sizeof(args), fmt, ap);
	snprintf(cmd, sizeof(cmd), "'%s' %s >'%s' 2>'%s'", stn_test_cli(), args, out_path,
		 err_path);
	int st = system(cmd);
	char *out_text = read_text(out_path), *err_text = read_text(err_path);
	if (WIFEXITED(st) && out_text != NULL && err_text != NULL)
		rc = WEXITSTATUS(st);
	if (err_text != NULL &&
	    (strstr(err_text, "Sanitizer") != NULL || strstr(err_text, "runtime error") != NULL)) {
		fprintf(stderr, "%s: a sanitizer reported:\n%s", args, err_text);
		rc = -2;
	}
	if (out != NULL) {
		free(*out);
		*out = out_text;
	} else {
		free(out_text);
	}
	if (err != NULL) {
		free(*err);
		*err = err_text;
	} else {
		free(err_text);
	}
done:
	free(out_path);
	free(err_path);
	return rc;
}

int stn_test_run_cli(const char *dir, char **out, char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = stn_test_vrun_cli(dir, out, err, fmt, ap);
	va_end(ap);
	return rc;
}

size_t stn_test_count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}
