/*
 * Unit tests for directory listings, the pure part: the order of entries,
 * HTML and JSON escaping of names (markup, percent-encoding, control
 * characters, ill-formed UTF-8), the parent link, the truncation note, and
 * the writer, whose counting pass must agree byte for byte with the
 * chunked one whatever the chunk size.
 */

#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "listing.h"

/* A flush that appends to a growing string. */
struct sink {
	char *buf;
	size_t len;
	size_t size;
	unsigned flushes;
	unsigned fail_at; /* fail the nth flush; 0: never */
};

static int
sink_flush(void *arg, const char *buf, size_t len)
{
	struct sink *s = arg;

	if (++s->flushes == s->fail_at)
		return -1;
	/*
	 * Doubling: a 1-byte chunk size flushes once per byte, and growing
	 * by each flush is quadratic (under ASan, whose realloc always moves,
	 * past the test's timeout on a loaded machine).
	 */
	if (s->len + len + 1 > s->size) {
		s->size = 2 * (s->len + len + 1);
		s->buf = realloc(s->buf, s->size);
		ck_assert_ptr_nonnull(s->buf);
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return 0;
}

/* Renders through a cap-byte buffer; checks it against the count. */
static char *
render(const struct listing *l, const char *dir, enum listing_format fmt,
    size_t cap)
{
	struct listing_writer counter, w;
	struct sink s = {NULL, 0, 0, 0, 0};
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	listing_writer_init(&counter, NULL, 0, NULL, NULL);
	ck_assert_int_eq(listing_render(l, dir, fmt, &counter), 0);
	listing_writer_init(&w, buf, cap, sink_flush, &s);
	ck_assert_int_eq(listing_render(l, dir, fmt, &w), 0);
	free(buf);
	ck_assert_uint_eq(w.total, counter.total);
	ck_assert_uint_eq(s.len, counter.total);
	return s.buf;
}

static void
add(struct listing *l, const char *name, enum listing_type type, uint64_t size,
    int64_t mtime)
{
	ck_assert_int_eq(
	    listing_add(l, name, strlen(name), type, size, mtime), 0);
}

/* Whether s is well-formed UTF-8 (independently of listing.c). */
static int
valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned cp, n, i;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			cp = *s & 0x1f;
			n = 1;
		} else if ((*s & 0xf0) == 0xe0) {
			cp = *s & 0x0f;
			n = 2;
		} else if ((*s & 0xf8) == 0xf0) {
			cp = *s & 0x07;
			n = 3;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

START_TEST(test_sort)
{
	static const char *want[] = {"B", "a", "\xc3\xa9", "A", "Z", "a",
	    "a.txt", "ab", "b", "\xc3\xa9t\xc3\xa9"};
	struct listing l;
	size_t i;

	listing_init(&l, 100);
	add(&l, "b", LISTING_FILE, 1, 0);
	add(&l, "\xc3\xa9t\xc3\xa9", LISTING_FILE, 1, 0);
	add(&l, "a", LISTING_DIR, 1, 0);
	add(&l, "ab", LISTING_FILE, 1, 0);
	add(&l, "Z", LISTING_OTHER, 1, 0);
	add(&l, "\xc3\xa9", LISTING_DIR, 1, 0);
	add(&l, "a.txt", LISTING_FILE, 1, 0);
	add(&l, "A", LISTING_FILE, 1, 0);
	add(&l, "B", LISTING_DIR, 1, 0);
	add(&l, "a", LISTING_FILE, 1, 0);
	listing_sort(&l);
	ck_assert_uint_eq(l.count, sizeof want / sizeof want[0]);
	for (i = 0; i < l.count; i++) {
		ck_assert_uint_eq(l.entries[i].name_len, strlen(want[i]));
		ck_assert_msg(memcmp(l.names + l.entries[i].name_off, want[i],
				  strlen(want[i])) == 0,
		    "entry %zu is not %s", i, want[i]);
		ck_assert_int_eq(l.entries[i].type == LISTING_DIR, i < 3);
	}
	listing_free(&l);
}
END_TEST

START_TEST(test_add_bounds)
{
	struct listing l;
	char name[NAME_MAX + 2];
	size_t i;

	listing_init(&l, 3);
	memset(name, 'x', sizeof name);
	ck_assert_int_eq(listing_add(&l, "a/b", 3, LISTING_FILE, 0, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(listing_add(&l, "", 0, LISTING_FILE, 0, 0), -1);
	ck_assert_int_eq(
	    listing_add(&l, name, NAME_MAX + 1, LISTING_FILE, 0, 0), -1);
	for (i = 0; i < 3; i++) {
		name[0] = 'a' + i;
		ck_assert_int_eq(
		    listing_add(&l, name, NAME_MAX, LISTING_FILE, 0, 0), 0);
	}
	ck_assert_int_eq(listing_add(&l, "d", 1, LISTING_FILE, 0, 0), 1);
	ck_assert_int_eq(listing_add(&l, "e", 1, LISTING_FILE, 0, 0), 1);
	ck_assert_uint_eq(l.count, 3);
	ck_assert_uint_eq(l.omitted, 2);
	/* The arena never goes past its cap. */
	ck_assert_uint_le(l.names_cap, 3 * (NAME_MAX + 1));
	ck_assert_uint_le(l.entries_cap, 3);
	listing_free(&l);
	ck_assert_ptr_null(l.names);

	/* A limit of 0 lists nothing; a huge one is clamped. */
	listing_init(&l, 0);
	ck_assert_int_eq(listing_add(&l, "a", 1, LISTING_FILE, 0, 0), 1);
	listing_free(&l);
	listing_init(&l, SIZE_MAX);
	ck_assert_uint_eq(l.max_entries, LISTING_ENTRIES_LIMIT);
	listing_free(&l);
}
END_TEST

START_TEST(test_html_escaping)
{
	struct listing l;
	char *out;

	listing_init(&l, 100);
	add(&l, "a&b<c>\"d'e", LISTING_FILE, 12, 0);
	add(&l, "my file.txt", LISTING_FILE, 3, 951782400);
	add(&l, "sub dir", LISTING_DIR, 4096, 0);
	add(&l, "caf\xc3\xa9:%?#", LISTING_FILE, 0, 0);
	add(&l, "-._~x", LISTING_FILE, 0, 0);
	listing_sort(&l);
	out = render(&l, "", LISTING_HTML, 4096);
	ck_assert_ptr_nonnull(strstr(out, "<a href=\"a%26b%3Cc%3E%22d%27e\">"
					  "a&amp;b&lt;c&gt;&quot;d&#39;e</a>"));
	ck_assert_ptr_nonnull(strstr(out, "<a href=\"my%20file.txt\">my "
					  "file.txt</a></td><td>3</td>"
					  "<td>2000-02-29T00:00:00Z</td>"));
	ck_assert_ptr_nonnull(
	    strstr(out, "<a href=\"sub%20dir/\">sub dir/</a></td><td>-</td>"));
	ck_assert_ptr_nonnull(strstr(out, "<a href=\"caf%C3%A9%3A%25%3F%23\">"
					  "caf\xc3\xa9:%?#</a>"));
	ck_assert_ptr_nonnull(strstr(out, "<a href=\"-._~x\">-._~x</a>"));
	ck_assert_ptr_nonnull(strstr(out, "1970-01-01T00:00:00Z"));
	/* The directory comes first. */
	ck_assert(strstr(out, "sub%20dir/") < strstr(out, "a%26b"));
	/* Root: no parent link, title "/". */
	ck_assert_ptr_null(strstr(out, "../"));
	ck_assert_ptr_nonnull(strstr(out, "<title>Index of /</title>"));
	ck_assert_ptr_nonnull(strstr(out, "<h1>Index of /</h1>"));
	ck_assert_ptr_null(strstr(out, "truncated"));
	ck_assert(valid_utf8(out));
	free(out);
	listing_free(&l);
}
END_TEST

START_TEST(test_html_title_and_parent)
{
	struct listing l;
	char *out;

	listing_init(&l, 100);
	out = render(&l, "a&b/<c>", LISTING_HTML, 4096);
	ck_assert_ptr_nonnull(
	    strstr(out, "<title>Index of /a&amp;b/&lt;c&gt;/</title>"));
	ck_assert_ptr_nonnull(
	    strstr(out, "<h1>Index of /a&amp;b/&lt;c&gt;/</h1>"));
	ck_assert_ptr_nonnull(strstr(out, "<a href=\"../\">../</a>"));
	ck_assert_ptr_null(strstr(out, "<script"));
	free(out);
	listing_free(&l);
}
END_TEST

/* Control characters and ill-formed UTF-8 never reach the page. */
START_TEST(test_html_bad_bytes)
{
	struct listing l;
	char *out;

	listing_init(&l, 100);
	add(&l, "x\xff\x01y\x7f\xc3", LISTING_FILE, 0, 0);
	add(&l, "\xed\xa0\x80", LISTING_FILE, 0, 0); /* a surrogate */
	out = render(&l, "d\xfe", LISTING_HTML, 64);
	ck_assert(valid_utf8(out));
	ck_assert_ptr_nonnull(
	    strstr(out, "href=\"x%FF%01y%7F%C3\">x\xef\xbf\xbd"
			"\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd<"));
	ck_assert_ptr_nonnull(strstr(out, "href=\"%ED%A0%80\">\xef\xbf\xbd"
					  "\xef\xbf\xbd\xef\xbf\xbd<"));
	ck_assert_ptr_nonnull(strstr(out, "Index of /d\xef\xbf\xbd/"));
	free(out);
	listing_free(&l);
}
END_TEST

START_TEST(test_json)
{
	struct listing l;
	char *out;

	listing_init(&l, 100);
	add(&l, "sub", LISTING_DIR, 4096, 0);
	add(&l, "a \"q\" \\ b", LISTING_FILE, 7, 951782400);
	add(&l, "nl\nt\tc\x01\x1f\x7f", LISTING_OTHER, 0, 0);
	listing_sort(&l);
	out = render(&l, "x", LISTING_JSON, 16);
	ck_assert_str_eq(out,
	    "[\n"
	    "{\"name\":\"sub\",\"type\":\"dir\",\"size\":4096,"
	    "\"mtime\":\"1970-01-01T00:00:00Z\",\"href\":\"sub/\"},\n"
	    "{\"name\":\"a \\\"q\\\" \\\\ b\",\"type\":\"file\",\"size\":7,"
	    "\"mtime\":\"2000-02-29T00:00:00Z\","
	    "\"href\":\"a%20%22q%22%20%5C%20b\"},\n"
	    "{\"name\":\"nl\\nt\\tc\\u0001\\u001f\\u007f\",\"type\":\"other\","
	    "\"size\":0,\"mtime\":\"1970-01-01T00:00:00Z\","
	    "\"href\":\"nl%0At%09c%01%1F%7F\"}\n"
	    "]\n");
	free(out);
	listing_free(&l);

	listing_init(&l, 100);
	out = render(&l, "", LISTING_JSON, 16);
	ck_assert_str_eq(out, "[\n]\n");
	free(out);
	listing_free(&l);
}
END_TEST

/* Names as bytes, and the JSON string each must become. */
static const struct {
	const char *name;
	const char *json;
} json_names[] = {
    {"plain", "plain"},
    {"caf\xc3\xa9", "caf\xc3\xa9"},
    {"\xe2\x82\xac", "\xe2\x82\xac"},
    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
    {"\xef\xbf\xbf", "\xef\xbf\xbf"},
    {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
    /* Latin-1, lone continuation, truncated sequences. */
    {"caf\xe9", "caf\\ufffd"},
    {"\x80", "\\ufffd"},
    {"\xc3", "\\ufffd"},
    {"\xe2\x82", "\\ufffd\\ufffd"},
    {"a\xe2\x82z", "a\\ufffd\\ufffdz"},
    /* Overlong, surrogate, past U+10FFFF, bytes never valid. */
    {"\xc0\xaf", "\\ufffd\\ufffd"},
    {"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},
    {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},
    {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
    {"\xf5\x80", "\\ufffd\\ufffd"},
    {"\xfe\xff", "\\ufffd\\ufffd"},
    /* JSON's own escapes. */
    {"\"", "\\\""},
    {"\\", "\\\\"},
    {"/", NULL}, /* refused by listing_add */
    {"\b\f\r", "\\b\\f\\r"},
    {"\x1b[31m", "\\u001b[31m"},
    {"<script>", "<script>"},
};

START_TEST(test_json_names)
{
	struct listing l;
	char *out, *want;
	size_t len;

	listing_init(&l, 10);
	if (json_names[_i].json == NULL) {
		ck_assert_int_eq(
		    listing_add(&l, json_names[_i].name,
			strlen(json_names[_i].name), LISTING_FILE, 0, 0),
		    -1);
		listing_free(&l);
		return;
	}
	add(&l, json_names[_i].name, LISTING_FILE, 0, 0);
	out = render(&l, "", LISTING_JSON, 4096);
	len = strlen(json_names[_i].json) + 16;
	want = malloc(len);
	snprintf(want, len, "{\"name\":\"%s\",", json_names[_i].json);
	ck_assert_msg(
	    strstr(out, want) != NULL, "case %d: %s not in %s", _i, want, out);
	ck_assert(valid_utf8(out));
	free(want);
	free(out);
	listing_free(&l);
}
END_TEST

START_TEST(test_truncation)
{
	struct listing l;
	char name[16], *out;
	int i;

	listing_init(&l, 4);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "f%02d", 9 - i);
		ck_assert_int_eq(
		    listing_add(&l, name, strlen(name), LISTING_FILE, 0, 0),
		    i < 4 ? 0 : 1);
	}
	listing_sort(&l);
	out = render(&l, "big", LISTING_HTML, 100);
	ck_assert_ptr_nonnull(strstr(out, "Listing truncated: 6 more entries "
					  "not shown (the limit is 4)."));
	ck_assert_ptr_nonnull(strstr(out, "href=\"f06\""));
	ck_assert_ptr_null(strstr(out, "href=\"f05\""));
	ck_assert_ptr_nonnull(strstr(out, "</html>\n"));
	free(out);
	listing_free(&l);
}
END_TEST

/* Every chunk size gives the same bytes, and as many as the count said. */
START_TEST(test_chunk_sizes)
{
	static const size_t caps[] = {1, 2, 3, 7, 64, 1000, 65536};
	struct listing l;
	char name[32], *ref, *out;
	size_t i;

	listing_init(&l, 1000);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "n%zu &<\xc3\xa9\xff", i);
		add(&l, name, i % 3 == 0 ? LISTING_DIR : LISTING_FILE, i * 1000,
		    (int64_t)i * 86400 * 30);
	}
	listing_sort(&l);
	ref = render(&l, "p q", LISTING_HTML, 1 << 20);
	for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		out = render(&l, "p q", LISTING_HTML, caps[i]);
		ck_assert_str_eq(out, ref);
		free(out);
	}
	free(ref);
	ref = render(&l, "", LISTING_JSON, 1 << 20);
	for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		out = render(&l, "", LISTING_JSON, caps[i]);
		ck_assert_str_eq(out, ref);
		free(out);
	}
	free(ref);
	listing_free(&l);
}
END_TEST

START_TEST(test_flush_failure)
{
	struct listing l;
	struct listing_writer w;
	struct sink s = {NULL, 0, 0, 0, 2};
	char buf[64];

	listing_init(&l, 10);
	add(&l, "a", LISTING_FILE, 0, 0);
	listing_writer_init(&w, buf, sizeof buf, sink_flush, &s);
	ck_assert_int_eq(listing_render(&l, "", LISTING_HTML, &w), -1);
	/* No more flushes once one failed. */
	ck_assert_uint_eq(s.flushes, 2);
	free(s.buf);
	listing_free(&l);
}
END_TEST

START_TEST(test_times)
{
	struct listing l;
	char *out;

	listing_init(&l, 10);
	add(&l, "a", LISTING_FILE, 0, 1700000000);
	add(&l, "b", LISTING_FILE, 0, -1);
	add(&l, "c", LISTING_FILE, 0, INT64_MAX);
	out = render(&l, "", LISTING_JSON, 4096);
	ck_assert_ptr_nonnull(
	    strstr(out, "\"mtime\":\"2023-11-14T22:13:20Z\""));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"mtime\":\"1969-12-31T23:59:59Z\""));
	ck_assert_ptr_nonnull(strstr(out, "\"mtime\":null"));
	free(out);
	out = render(&l, "", LISTING_HTML, 4096);
	ck_assert_ptr_nonnull(strstr(out, "<td>-</td></tr>"));
	free(out);
	listing_free(&l);
}
END_TEST

/* A stepped sort of shuffled names, whatever the budget, is the full one. */
START_TEST(test_sort_steps)
{
	static const size_t budgets[] = {1, 2, 3, 5, 64, 1000, SIZE_MAX};
	static const size_t sizes[] = {0, 1, 2, 3, 17, 1000, 4097};
	struct listing l;
	char name[32], prev[32];
	size_t i, k, n = sizes[_i];
	unsigned seed = 12345;
	int rc, steps;

	for (k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
		listing_init(&l, n);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			/* Unique names, in a scrambled order. */
			snprintf(name, sizeof name, "%08x-%zu", seed, i);
			add(&l, name,
			    seed % 5 == 0 ? LISTING_DIR : LISTING_FILE, i, 0);
		}
		steps = 0;
		while ((rc = listing_sort_step(&l, budgets[k])) == 0)
			steps++;
		ck_assert_int_eq(rc, 1);
		if (budgets[k] == 1 && n > 2)
			ck_assert_int_ge(steps, (int)n);
		/* Sorted: no more adding, and a second sort is a no-op. */
		ck_assert_int_eq(
		    listing_add(&l, "z", 1, LISTING_FILE, 0, 0), -1);
		ck_assert_int_eq(listing_sort_step(&l, 1), 1);
		ck_assert_ptr_null(l.sort_buf);
		ck_assert_uint_eq(l.count, n);
		for (i = 0; i < n; i++) {
			const struct listing_entry *e = &l.entries[i];

			ck_assert_uint_lt(e->name_len, sizeof name);
			memcpy(name, l.names + e->name_off, e->name_len);
			name[e->name_len] = '\0';
			if (i > 0 && e->type == l.entries[i - 1].type)
				ck_assert_str_gt(name, prev);
			if (i > 0)
				ck_assert_int_ge(
				    e->type, l.entries[i - 1].type);
			memcpy(prev, name, sizeof prev);
		}
		listing_free(&l);
	}
}
END_TEST

/* Counting in steps adds up to the whole document, whatever the budget. */
START_TEST(test_render_steps)
{
	static const size_t budgets[] = {1, 2, 7, 100, SIZE_MAX};
	struct listing l;
	struct listing_writer whole, w;
	char name[32];
	size_t i, k, next;
	int f, steps;

	listing_init(&l, 1000);
	for (i = 0; i < 250; i++) {
		snprintf(name, sizeof name, "e%zu<&>\xe9", i);
		add(&l, name, i % 4 == 0 ? LISTING_DIR : LISTING_FILE, i, 0);
	}
	ck_assert_int_eq(listing_sort(&l), 0);
	for (f = LISTING_HTML; f <= LISTING_JSON; f++) {
		listing_writer_init(&whole, NULL, 0, NULL, NULL);
		ck_assert_int_eq(listing_render(&l, "d", f, &whole), 0);
		for (k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
			listing_writer_init(&w, NULL, 0, NULL, NULL);
			next = 0;
			steps = 1;
			while (listing_render_step(
				   &l, "d", f, &w, &next, budgets[k]) == 0)
				steps++;
			ck_assert_uint_eq(w.total, whole.total);
			ck_assert_uint_eq(next, l.count);
			if (budgets[k] == 1)
				ck_assert_int_eq(steps, 250);
		}
	}
	listing_free(&l);
}
END_TEST

/* Times against the C library's gmtime, and the edges of 4-digit years. */
START_TEST(test_times_gmtime)
{
	struct listing l;
	char name[32], want[64], *out, *p;
	int64_t t;
	time_t tt;
	struct tm tm;
	unsigned seed = 7;
	int i;

	listing_init(&l, 4000);
	for (i = 0; i < 3000; i++) {
		seed = seed * 1103515245 + 12345;
		/* Years 0 to 9999, days and seconds everywhere. */
		t = -62167219200LL + (int64_t)(((uint64_t)seed << 20 ^
						   (uint64_t)i * 2654435761u) %
					       315569520000ULL);
		snprintf(name, sizeof name, "t%04d", i);
		add(&l, name, LISTING_FILE, 0, t);
	}
	add(&l, "u0", LISTING_FILE, 0, -62167219200LL);
	add(&l, "u1", LISTING_FILE, 0, 253402300799LL);
	add(&l, "u2", LISTING_FILE, 0, -62167219201LL);
	add(&l, "u3", LISTING_FILE, 0, 253402300800LL);
	add(&l, "u4", LISTING_FILE, 0, 951868799); /* 2000-02-29 23:59:59 */
	add(&l, "u5", LISTING_FILE, 0, -86400);
	ck_assert_int_eq(listing_sort(&l), 0);
	out = render(&l, "", LISTING_JSON, 1 << 20);
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof name, "\"t%04d\"", i);
		p = strstr(out, name);
		ck_assert_ptr_nonnull(p);
		p = strstr(p, "\"mtime\":\"");
		tt = (time_t)l.entries[i].mtime;
		ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
		snprintf(want, sizeof want,
		    "\"mtime\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\"",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		ck_assert_msg(strncmp(p, want, strlen(want)) == 0,
		    "t=%lld: want %s, got %.32s", (long long)tt, want, p);
	}
	ck_assert_ptr_nonnull(
	    strstr(out, "\"name\":\"u0\",\"type\":\"file\","
			"\"size\":0,\"mtime\":\"0000-01-01T00:00:00Z\""));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"name\":\"u1\",\"type\":\"file\","
			"\"size\":0,\"mtime\":\"9999-12-31T23:59:59Z\""));
	ck_assert_ptr_nonnull(strstr(out, "\"name\":\"u2\",\"type\":\"file\","
					  "\"size\":0,\"mtime\":null"));
	ck_assert_ptr_nonnull(strstr(out, "\"name\":\"u3\",\"type\":\"file\","
					  "\"size\":0,\"mtime\":null"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"mtime\":\"2000-02-29T23:59:59Z\""));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"mtime\":\"1969-12-31T00:00:00Z\""));
	free(out);
	listing_free(&l);
}
END_TEST

static const struct {
	const char *query;
	int want;
} queries[] = {
    {NULL, 0},
    {"", 0},
    {"?", 0},
    {"?format=json", 1},
    {"format=json", 1},
    {"?a=1&format=json", 1},
    {"?format=json&a=1", 1},
    {"?format=jsonx", 0},
    {"?xformat=json", 0},
    {"?format=JSON", 0},
    {"?format=html", 0},
    {"?format=html&&format=json", 1},
};

START_TEST(test_wants_json)
{
	const char *q = queries[_i].query;

	ck_assert_int_eq(
	    listing_wants_json(q, q != NULL ? strlen(q) : 0), queries[_i].want);
}
END_TEST

static Suite *
listing_suite(void)
{
	Suite *s = suite_create("listing");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sort);
	tcase_add_test(tc, test_add_bounds);
	tcase_add_test(tc, test_html_escaping);
	tcase_add_test(tc, test_html_title_and_parent);
	tcase_add_test(tc, test_html_bad_bytes);
	tcase_add_test(tc, test_json);
	tcase_add_loop_test(
	    tc, test_json_names, 0, sizeof json_names / sizeof json_names[0]);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_chunk_sizes);
	tcase_add_test(tc, test_flush_failure);
	tcase_add_test(tc, test_times);
	tcase_add_loop_test(
	    tc, test_wants_json, 0, sizeof queries / sizeof queries[0]);
	tcase_add_loop_test(tc, test_sort_steps, 0, 7);
	tcase_add_test(tc, test_render_steps);
	tcase_add_test(tc, test_times_gmtime);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(listing_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
