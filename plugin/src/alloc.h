/* alloc: every heap call of the plugin, with a fault-injection hook for tests. */
#ifndef STN_ALLOC_H
#define STN_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *stn__malloc(size_t n);
void *stn__calloc(size_t count, size_t size);
void *stn__realloc(void *p, size_t n);
void stn__free(void *p);
char *stn__strdup(const char *s);

/* Array allocation with the multiplication checked; NULL on overflow or failure. */
void *stn__malloc_array(size_t count, size_t size);
void *stn__realloc_array(void *p, size_t count, size_t size);

/* Tests: make the n-th allocation from now (1-based) and all after it fail; 0 disables. */
void stn__alloc_fail_after(uint64_t n);
/* Number of allocations made since the process started (for fault-injection loops). */
uint64_t stn__alloc_count(void);

/* Checked size arithmetic: true on overflow. */
static inline bool stn__mul_overflow(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}
static inline bool stn__add_overflow(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

#endif
