/*
 * Media types by extension. A table is built once at start-up (and again on
 * reload) from a mime.types file, topped up with a built-in list for the
 * web's common extensions the file lacks, then sorted so that a lookup is
 * a binary search with no allocation. The table is never modified after
 * mime_load returns, so any number of readers may share it. Reading the
 * file is bounded in bytes and entries, since it is outside our control.
 */

#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "mime.h"

#define MIME_FILE_MAX (1024 * 1024) /* bytes of mime.types read */
#define MIME_ENTRIES_MAX 8192	    /* extensions taken from the file */
#define MIME_EXT_MAX 15		    /* longer extensions are skipped */
#define MIME_TYPE_MAX 127	    /* longer types are skipped */
#define MIME_CHARSET "; charset=utf-8"
#define MIME_DEFAULT "application/octet-stream"

struct mime_entry {
	char ext[MIME_EXT_MAX + 1]; /* lower case */
	const char *type;	    /* with charset when it is text */
	unsigned seq; /* load order, to keep the first of equals */
};

struct mime_table {
	struct mime_entry *entries; /* sorted by ext, unique */
	size_t count;
	size_t cap;
	char **types; /* the strings entries point to */
	size_t types_count;
	size_t types_cap;
	const char *fallback; /* for unknown extensions; NULL: MIME_DEFAULT */
};

/* Sorted by extension: mime_lookup searches it directly without a table. */
static const struct mime_entry builtin_types[] = {
	{ "avif", "image/avif", 0 },
	{ "bmp", "image/bmp", 0 },
	{ "css", "text/css; charset=utf-8", 0 },
	{ "csv", "text/csv; charset=utf-8", 0 },
	{ "gif", "image/gif", 0 },
	{ "gz", "application/gzip", 0 },
	{ "htm", "text/html; charset=utf-8", 0 },
	{ "html", "text/html; charset=utf-8", 0 },
	{ "ico", "image/vnd.microsoft.icon", 0 },
	{ "jpeg", "image/jpeg", 0 },
	{ "jpg", "image/jpeg", 0 },
	{ "js", "text/javascript; charset=utf-8", 0 },
	{ "json", "application/json; charset=utf-8", 0 },
	{ "map", "application/json; charset=utf-8", 0 },
	{ "md", "text/markdown; charset=utf-8", 0 },
	{ "mjs", "text/javascript; charset=utf-8", 0 },
	{ "mp3", "audio/mpeg", 0 },
	{ "mp4", "video/mp4", 0 },
	{ "oga", "audio/ogg", 0 },
	{ "ogg", "audio/ogg", 0 },
	{ "ogv", "video/ogg", 0 },
	{ "otf", "font/otf", 0 },
	{ "pdf", "application/pdf", 0 },
	{ "png", "image/png", 0 },
	{ "svg", "image/svg+xml; charset=utf-8", 0 },
	{ "tar", "application/x-tar", 0 },
	{ "tgz", "application/gzip", 0 },
	{ "tif", "image/tiff", 0 },
	{ "tiff", "image/tiff", 0 },
	{ "ttf", "font/ttf", 0 },
	{ "txt", "text/plain; charset=utf-8", 0 },
	{ "wasm", "application/wasm", 0 },
	{ "wav", "audio/wav", 0 },
	{ "webm", "video/webm", 0 },
	{ "webmanifest", "application/manifest+json", 0 },
	{ "webp", "image/webp", 0 },
	{ "woff", "font/woff", 0 },
	{ "woff2", "font/woff2", 0 },
	{ "xhtml", "application/xhtml+xml", 0 },
	{ "xml", "application/xml; charset=utf-8", 0 },
	{ "zip", "application/zip", 0 },
};
#define BUILTIN_COUNT (sizeof builtin_types / sizeof builtin_types[0])

static int
entry_cmp_ext(const void *a, const void *b)
{
	const struct mime_entry *ea = a, *eb = b;

	return strcmp(ea->ext, eb->ext);
}

/* Equal extensions keep load order, so the file wins over the built-ins. */
static int
entry_cmp_sort(const void *a, const void *b)
{
	const struct mime_entry *ea = a, *eb = b;
	int c = strcmp(ea->ext, eb->ext);

	if (c != 0)
		return c;
	return ea->seq < eb->seq ? -1 : ea->seq > eb->seq;
}

static int
lower(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Text the browser must decode: the types RFC 6657 and friends leave unset. */
static int
needs_charset(const char *type, size_t len)
{
	static const char *const text_like[] = { "application/javascript",
		"application/json", "application/xml", "image/svg+xml" };
	size_t i;

	if (memchr(type, ';', len) != NULL)
		return 0; /* parameters given: taken as they are */
	if (len >= 5 && strncmp(type, "text/", 5) == 0)
		return 1;
	for (i = 0; i < sizeof text_like / sizeof text_like[0]; i++) {
		if (strlen(text_like[i]) == len &&
		    memcmp(type, text_like[i], len) == 0)
			return 1;
	}
	return 0;
}

/* type "/" subtype, both non-empty, no parameters: what mime.types holds. */
static int
type_valid(const char *p, size_t len)
{
	size_t i, slash = 0;
	unsigned char c;

	if (len == 0 || len > MIME_TYPE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c == '/') {
			if (slash != 0 || i == 0)
				return 0;
			slash = i;
		} else if (c <= 0x20 || c >= 0x7f ||
		    strchr("\"(),:;<=>?@[\\]{}", c) != NULL)
			return 0;
	}
	return slash != 0 && slash + 1 < len;
}

/* Extensions are compared after the last '.', so they cannot hold one. */
static int
ext_valid(const char *p, size_t len)
{
	size_t i;
	unsigned char c;

	if (len == 0 || len > MIME_EXT_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7f || c == '.' || c == '/')
			return 0;
	}
	return 1;
}

static int
entry_add(
    struct mime_table *mt, const char *ext, size_t ext_len, const char *type)
{
	struct mime_entry *e;
	size_t i, cap;

	if (mt->count == mt->cap) {
		cap = mt->cap == 0 ? 256 : mt->cap * 2;
		e = reallocarray(mt->entries, cap, sizeof *e);
		if (e == NULL)
			return -1;
		mt->entries = e;
		mt->cap = cap;
	}
	e = &mt->entries[mt->count];
	for (i = 0; i < ext_len; i++)
		e->ext[i] = (char)lower((unsigned char)ext[i]);
	e->ext[ext_len] = '\0';
	e->type = type;
	e->seq = (unsigned)mt->count;
	mt->count++;
	return 0;
}

/* Keeps a copy of the type, with the charset parameter when it is text. */
static char *
type_intern(struct mime_table *mt, const char *type, size_t len)
{
	char **types, *s;
	size_t cap, extra;

	if (mt->types_count == mt->types_cap) {
		cap = mt->types_cap == 0 ? 128 : mt->types_cap * 2;
		types = reallocarray(mt->types, cap, sizeof *types);
		if (types == NULL)
			return NULL;
		mt->types = types;
		mt->types_cap = cap;
	}
	extra = needs_charset(type, len) ? strlen(MIME_CHARSET) : 0;
	if ((s = malloc(len + extra + 1)) == NULL)
		return NULL;
	memcpy(s, type, len);
	memcpy(s + len, MIME_CHARSET, extra);
	s[len + extra] = '\0';
	mt->types[mt->types_count++] = s;
	return s;
}

/*
 * Parses one line: "type ext ext ...", '#' to the end of the line being a
 * comment. Lines that do not look like that are skipped, not fatal: the
 * system file is not ours to reject. Returns -1 only on ENOMEM.
 */
static int
line_parse(struct mime_table *mt, const char *line, size_t len)
{
	size_t i = 0, start, type_start, type_len;
	const char *type = NULL;
	char *hash;

	if ((hash = memchr(line, '#', len)) != NULL)
		len = (size_t)(hash - line);

	while (i < len && is_space(line[i]))
		i++;
	type_start = i;
	while (i < len && !is_space(line[i]))
		i++;
	type_len = i - type_start;
	if (!type_valid(line + type_start, type_len))
		return 0;

	for (;;) {
		while (i < len && is_space(line[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_space(line[i]))
			i++;
		if (!ext_valid(line + start, i - start))
			continue;
		if (mt->count >= MIME_ENTRIES_MAX)
			break;
		/* Interned lazily: a type with no usable extension costs
		 * nothing. */
		if (type == NULL &&
		    (type = type_intern(mt, line + type_start, type_len)) ==
			NULL)
			return -1;
		if (entry_add(mt, line + start, i - start, type) == -1)
			return -1;
	}
	return 0;
}

/*
 * Reads at most MIME_FILE_MAX bytes of path into a new buffer. Returns 0,
 * 1 when the file cannot be read (not an error for the caller) or -1 on
 * ENOMEM. *truncated says whether the file went on past the cap.
 */
static int
file_read(const char *path, char **out, size_t *len, int *truncated)
{
	struct stat st;
	char *buf;
	size_t used = 0;
	ssize_t n;
	int fd, rc = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	/* One byte more than the cap, to tell "exactly full" from "longer". */
	if ((buf = malloc(MIME_FILE_MAX + 1)) == NULL) {
		rc = -1;
		goto out;
	}
	while (used < MIME_FILE_MAX + 1) {
		n = read(fd, buf + used, MIME_FILE_MAX + 1 - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	*truncated = used > MIME_FILE_MAX;
	*len = *truncated ? MIME_FILE_MAX : used;
	*out = buf;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Returns -1 only on ENOMEM; an unreadable file is simply no entries. */
static int
file_load(struct mime_table *mt, const char *path)
{
	char *buf, *nl;
	size_t len, pos = 0, line_len;
	int truncated, rc;

	if ((rc = file_read(path, &buf, &len, &truncated)) != 0)
		return rc == -1 ? -1 : 0;
	while (pos < len && rc == 0) {
		nl = memchr(buf + pos, '\n', len - pos);
		if (nl == NULL) {
			/* A line cut by the cap could name a wrong extension.
			 */
			if (truncated)
				break;
			line_len = len - pos;
		} else
			line_len = (size_t)(nl - (buf + pos));
		rc = line_parse(mt, buf + pos, line_len);
		pos += line_len + 1;
	}
	free(buf);
	return rc;
}

int
mime_set_default(struct mime_table *mt, const char *type)
{
	if ((mt->fallback = type_intern(mt, type, strlen(type))) == NULL)
		return -1;
	return 0;
}

struct mime_table *
mime_load(const char *path)
{
	return mime_load_with(path, NULL, NULL, 0);
}

struct mime_table *
mime_load_with(const char *path, const char *const *exts,
    const char *const *types, size_t n)
{
	struct mime_table *mt;
	const char *type;
	size_t i, out, len;

	if ((mt = calloc(1, sizeof *mt)) == NULL)
		return NULL;
	/* Loaded first, so they win over the file and the built-ins. */
	for (i = 0; i < n; i++) {
		len = strlen(exts[i]);
		if (len == 0 || len > MIME_EXT_MAX)
			continue;
		if ((type = type_intern(mt, types[i], strlen(types[i]))) ==
			NULL ||
		    entry_add(mt, exts[i], len, type) == -1)
			goto fail;
	}
	if (path != NULL && file_load(mt, path) == -1)
		goto fail;
	for (i = 0; i < BUILTIN_COUNT; i++) {
		if (entry_add(mt, builtin_types[i].ext,
			strlen(builtin_types[i].ext),
			builtin_types[i].type) == -1)
			goto fail;
	}

	/* Sort, then keep the first (lowest seq) of each extension. */
	qsort(mt->entries, mt->count, sizeof *mt->entries, entry_cmp_sort);
	for (i = 0, out = 0; i < mt->count; i++) {
		if (out > 0 &&
		    strcmp(mt->entries[out - 1].ext, mt->entries[i].ext) == 0)
			continue;
		mt->entries[out++] = mt->entries[i];
	}
	mt->count = out;
	return mt;

fail:
	mime_free(mt);
	errno = ENOMEM;
	return NULL;
}

void
mime_free(struct mime_table *mt)
{
	size_t i;

	if (mt == NULL)
		return;
	for (i = 0; i < mt->types_count; i++)
		free(mt->types[i]);
	free(mt->types);
	free(mt->entries);
	free(mt);
}

const char *
mime_lookup(const struct mime_table *mt, const char *filename)
{
	const char *fallback =
	    mt != NULL && mt->fallback != NULL ? mt->fallback : MIME_DEFAULT;
	struct mime_entry key;
	const struct mime_entry *found, *entries = builtin_types;
	const char *base, *dot;
	size_t len, i, count = BUILTIN_COUNT;

	if (filename == NULL)
		return fallback;
	if ((base = strrchr(filename, '/')) == NULL)
		base = filename;
	if ((dot = strrchr(base, '.')) == NULL)
		return fallback;
	len = strlen(dot + 1);
	if (len == 0 || len > MIME_EXT_MAX)
		return fallback;
	for (i = 0; i < len; i++)
		key.ext[i] = (char)lower((unsigned char)dot[1 + i]);
	key.ext[len] = '\0';

	if (mt != NULL) {
		entries = mt->entries;
		count = mt->count;
	}
	if (count == 0)
		return fallback;
	found = bsearch(&key, entries, count, sizeof *entries, entry_cmp_ext);
	return found != NULL ? found->type : fallback;
}
