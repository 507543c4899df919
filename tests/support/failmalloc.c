/*
 * failmalloc: an LD_PRELOAD library that makes chosen allocations fail, so
 * the integration tests can prove that a daemon out of memory answers 503
 * and keeps serving. malloc() of a size N listed in FAILMALLOC_SIZES (comma
 * separated, at most SIZES_MAX) returns NULL with ENOMEM while the file
 * "$FAILMALLOC_FLAG.N" exists; every other call goes to glibc's own
 * allocator. A test picks sizes no other allocation has (a connection's
 * first input buffer, a file length below chunk_bytes), creates a flag,
 * sends requests, and removes the flag to let memory "come back".
 *
 * Only malloc is replaced: calloc, realloc and free stay glibc's, which is
 * consistent because __libc_malloc is the allocator glibc's free expects.
 * Not for sanitizer builds: their runtime replaces malloc itself, and a
 * block from __libc_malloc freed through it is an error.
 *
 * Threads: the settings are parsed once; two threads racing to parse them
 * write the same values, and the parsed flag is published last.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define SIZES_MAX	8
#define FLAG_MAX	4096	/* the prefix; ".N" comes on top */

extern void	*__libc_malloc(size_t);

static size_t	 sizes[SIZES_MAX];
static int	 nsizes;
static char	 flag[FLAG_MAX + 24];
static size_t	 flag_len;
static int	 parsed;

/* Parses without allocating: getenv and plain loops only. */
static void
settings_parse(void)
{
	const char	*s = getenv("FAILMALLOC_SIZES"), *f;
	size_t		 v, i;
	int		 n = 0;

	while (s != NULL && *s != '\0' && n < SIZES_MAX) {
		for (v = 0; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (size_t)(*s - '0');
		if (v > 0)
			sizes[n++] = v;
		if (*s != '\0')
			s++;
	}
	if ((f = getenv("FAILMALLOC_FLAG")) != NULL) {
		for (i = 0; f[i] != '\0' && i < FLAG_MAX - 1; i++)
			flag[i] = f[i];
		flag[i] = '\0';
		flag_len = i;
	}
	nsizes = n;
	__atomic_store_n(&parsed, 1, __ATOMIC_RELEASE);
}

/* Whether "$FAILMALLOC_FLAG.size" exists, built without allocating. */
static int
armed(size_t size)
{
	char	 path[sizeof flag], digits[24];
	size_t	 n = 0, i;

	if (flag_len == 0)
		return 0;
	do
		digits[n++] = (char)('0' + size % 10);
	while ((size /= 10) != 0);
	for (i = 0; i < flag_len; i++)
		path[i] = flag[i];
	path[i++] = '.';
	while (n > 0)
		path[i++] = digits[--n];
	path[i] = '\0';
	return access(path, F_OK) == 0;
}

void *
malloc(size_t size)
{
	int	 i;

	if (!__atomic_load_n(&parsed, __ATOMIC_ACQUIRE))
		settings_parse();
	for (i = 0; i < nsizes; i++) {
		if (sizes[i] != size)
			continue;
		if (armed(size)) {
			errno = ENOMEM;
			return NULL;
		}
		break;
	}
	return __libc_malloc(size);
}
