#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t alloc_count;
static _Atomic uint64_t fail_at; /* absolute allocation number that fails first; 0 = never */

static bool should_fail(void)
{
	uint64_t n = atomic_fetch_add(&alloc_count, 1) + 1;
	uint64_t at = atomic_load(&fail_at);

	return at != 0 && n >= at;
}

void stn__alloc_fail_after(uint64_t n)
{
	atomic_store(&fail_at, n == 0 ? 0 : atomic_load(&alloc_count) + n);
}

uint64_t stn__alloc_count(void)
{
	return atomic_load(&alloc_count);
}

void *stn__malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n == 0 ? 1 : n);
}

void *stn__calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	if (count == 0 || size == 0)
		return calloc(1, 1);
	return calloc(count, size);
}

void *stn__realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n == 0 ? 1 : n);
}

void stn__free(void *p)
{
	free(p);
}

char *stn__strdup(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = stn__malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void *stn__malloc_array(size_t count, size_t size)
{
	size_t n;

	if (stn__mul_overflow(count, size, &n))
		return NULL;
	return stn__malloc(n);
}

void *stn__realloc_array(void *p, size_t count, size_t size)
{
	size_t n;

	if (stn__mul_overflow(count, size, &n))
		return NULL;
	return stn__realloc(p, n);
}
