/*
 * Unit tests for the media-type table. Each test that needs a mime.types
 * file writes its own into a private temporary directory, so the tests
 * neither depend on the host's /etc/mime.types nor on each other.
 */

#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "mime.h"

#define OCTET "application/octet-stream"

static char tmpdir[256];

/* Every built-in extension: a lookup of each also proves the table sorted. */
static const struct {
	const char *name;
	const char *type;
} builtin_cases[] = {
    {"a.avif", "image/avif"},
    {"a.bmp", "image/bmp"},
    {"a.css", "text/css; charset=utf-8"},
    {"a.csv", "text/csv; charset=utf-8"},
    {"a.gif", "image/gif"},
    {"a.gz", "application/gzip"},
    {"a.htm", "text/html; charset=utf-8"},
    {"a.html", "text/html; charset=utf-8"},
    {"a.ico", "image/vnd.microsoft.icon"},
    {"a.jpeg", "image/jpeg"},
    {"a.jpg", "image/jpeg"},
    {"a.js", "text/javascript; charset=utf-8"},
    {"a.json", "application/json; charset=utf-8"},
    {"a.map", "application/json; charset=utf-8"},
    {"a.md", "text/markdown; charset=utf-8"},
    {"a.mjs", "text/javascript; charset=utf-8"},
    {"a.mp3", "audio/mpeg"},
    {"a.mp4", "video/mp4"},
    {"a.oga", "audio/ogg"},
    {"a.ogg", "audio/ogg"},
    {"a.ogv", "video/ogg"},
    {"a.otf", "font/otf"},
    {"a.pdf", "application/pdf"},
    {"a.png", "image/png"},
    {"a.svg", "image/svg+xml; charset=utf-8"},
    {"a.tar", "application/x-tar"},
    {"a.tgz", "application/gzip"},
    {"a.tif", "image/tiff"},
    {"a.tiff", "image/tiff"},
    {"a.ttf", "font/ttf"},
    {"a.txt", "text/plain; charset=utf-8"},
    {"a.wasm", "application/wasm"},
    {"a.wav", "audio/wav"},
    {"a.webm", "video/webm"},
    {"a.webmanifest", "application/manifest+json"},
    {"a.webp", "image/webp"},
    {"a.woff", "font/woff"},
    {"a.woff2", "font/woff2"},
    {"a.xhtml", "application/xhtml+xml"},
    {"a.xml", "application/xml; charset=utf-8"},
    {"a.zip", "application/zip"},
    /* How the extension is found. */
    {"index.HTML", "text/html; charset=utf-8"},
    {"/srv/www/Photo.JpG", "image/jpeg"},
    {"dir/sub/archive.tar.gz", "application/gzip"},
    {".html", "text/html; charset=utf-8"},
    {"noext", OCTET},
    {"dir.d/noext", OCTET},
    {"dir.html/README", OCTET},
    {"file.", OCTET},
    {"dir/", OCTET},
    {"", OCTET},
    {".", OCTET},
    {"a.unknownext", OCTET},
    {"a.thisextensionistoolong", OCTET},
    {"a.ht ml", OCTET},
};

static const char test_types[] =
    "# A comment line, then a blank one\n"
    "\n"
    "   # an indented comment\n"
    "text/html\t\t\t\thtml htm shtml\n"
    "application/x-foo\tfoo FOO2 Bar   # trailing comment ext9\n"
    "text/x-custom   cst\r\n"
    "application/json json\n"
    "image/png PNG\n"
    "application/vnd.override css\n"
    "text/plain txt dup\n"
    "application/x-dup dup first\n"
    "invalidtype ext1\n"
    "/bad ext2\n"
    "bad/ ext3\n"
    "type/with/slash ext4\n"
    "type/with;param ext5\n"
    "application/x-noext\n"
    "application/x-longext abcdefghijklmnopqrstuvwxyz short\n"
    "application/x-dotted tar.gz .dot\n"
    "application/javascript js\n"
    "image/svg+xml svg\n"
    "application/xml xml\n"
    "text/xml xsl\n"
    "application/x-last last"; /* no final newline */

static const struct {
	const char *name;
	const char *type;
} file_cases[] = {
    {"a.html", "text/html; charset=utf-8"},
    {"a.shtml", "text/html; charset=utf-8"},
    {"a.foo", "application/x-foo"},
    {"A.FOO", "application/x-foo"},
    {"a.foo2", "application/x-foo"},
    {"a.bar", "application/x-foo"},
    {"a.ext9", OCTET},
    {"a.cst", "text/x-custom; charset=utf-8"},
    {"a.json", "application/json; charset=utf-8"},
    {"a.png", "image/png"},
    {"a.css", "application/vnd.override"},
    {"a.txt", "text/plain; charset=utf-8"},
    {"a.dup", "text/plain; charset=utf-8"},
    {"a.first", "application/x-dup"},
    {"a.ext1", OCTET},
    {"a.ext2", OCTET},
    {"a.ext3", OCTET},
    {"a.ext4", OCTET},
    {"a.ext5", OCTET},
    {"a.abcdefghijklmnopqrstuvwxyz", OCTET},
    {"a.short", "application/x-longext"},
    {"a.tar.gz", "application/gzip"},
    {"a.dot", OCTET},
    {"a.js", "application/javascript; charset=utf-8"},
    {"a.svg", "image/svg+xml; charset=utf-8"},
    {"a.xml", "application/xml; charset=utf-8"},
    {"a.xsl", "text/xml; charset=utf-8"},
    {"a.last", "application/x-last"},
    /* Built-ins fill in what the file lacks. */
    {"a.webp", "image/webp"},
    {"a.woff2", "font/woff2"},
    {"a.mjs", "text/javascript; charset=utf-8"},
    {"a.unknown", OCTET},
    {"noext", OCTET},
};

static char *
tmp_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	return path;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void
setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/check_mime.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	static const char *const names[] = {
	    "mime.types", "big.types", "many.types"};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		unlink(tmp_path(names[i]));
	rmdir(tmpdir);
}

START_TEST(test_builtin)
{
	struct mime_table *t;

	t = mime_load(NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(
	    mime_lookup(t, builtin_cases[_i].name), builtin_cases[_i].type);
	mime_free(t);

	/* A missing file or a directory falls back to the same table. */
	t = mime_load(tmp_path("does-not-exist"));
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(
	    mime_lookup(t, builtin_cases[_i].name), builtin_cases[_i].type);
	mime_free(t);

	t = mime_load(tmpdir);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(
	    mime_lookup(t, builtin_cases[_i].name), builtin_cases[_i].type);
	mime_free(t);

	/* No table at all still answers. */
	ck_assert_str_eq(
	    mime_lookup(NULL, builtin_cases[_i].name), builtin_cases[_i].type);
}
END_TEST

START_TEST(test_file)
{
	struct mime_table *t;
	const char *path = tmp_path("mime.types");

	write_file(path, test_types, sizeof test_types - 1);
	t = mime_load(path);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(
	    mime_lookup(t, file_cases[_i].name), file_cases[_i].type);
	mime_free(t);
}
END_TEST

START_TEST(test_null_name)
{
	struct mime_table *t = mime_load(NULL);

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(mime_lookup(t, NULL), OCTET);
	ck_assert_str_eq(mime_lookup(NULL, NULL), OCTET);
	mime_free(t);
	mime_free(NULL);
}
END_TEST

START_TEST(test_empty_file)
{
	struct mime_table *t;
	const char *path = tmp_path("mime.types");

	write_file(path, "", 0);
	t = mime_load(path);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(mime_lookup(t, "a.html"), "text/html; charset=utf-8");
	ck_assert_str_eq(mime_lookup(t, "a.zzz"), OCTET);
	mime_free(t);
}
END_TEST

/* Only the first MiB is read; a line cut by the cap is dropped. */
START_TEST(test_size_cap)
{
	const size_t cap = 1024 * 1024;
	const char *early = "application/x-early early\n";
	const char *cut = "application/x-cut cutext\n";
	const char *late = "application/x-late late\n";
	struct mime_table *t;
	char *buf;
	size_t len = 0, fill;

	buf = malloc(cap + 256);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, early, strlen(early));
	len = strlen(early);
	/* Comment filler so that "cut" straddles the cap. */
	fill = cap - len - strlen("application/x-cut cu");
	buf[len] = '#';
	memset(buf + len + 1, 'x', fill - 2);
	buf[len + fill - 1] = '\n';
	len += fill;
	memcpy(buf + len, cut, strlen(cut));
	len += strlen(cut);
	memcpy(buf + len, late, strlen(late));
	len += strlen(late);
	write_file(tmp_path("big.types"), buf, len);
	free(buf);

	t = mime_load(tmp_path("big.types"));
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(mime_lookup(t, "a.early"), "application/x-early");
	ck_assert_str_eq(mime_lookup(t, "a.cutext"), OCTET);
	ck_assert_str_eq(mime_lookup(t, "a.cu"), OCTET);
	ck_assert_str_eq(mime_lookup(t, "a.late"), OCTET);
	ck_assert_str_eq(mime_lookup(t, "a.png"), "image/png");
	mime_free(t);
}
END_TEST

/* At most 8192 extensions come from the file; built-ins still follow. */
START_TEST(test_entry_cap)
{
	struct mime_table *t;
	FILE *f;
	char name[32], type[48];
	int i;

	f = fopen(tmp_path("many.types"), "w");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 10000; i++)
		fprintf(f, "application/x-e%d e%d\n", i, i);
	ck_assert_int_eq(fclose(f), 0);

	t = mime_load(tmp_path("many.types"));
	ck_assert_ptr_nonnull(t);
	for (i = 0; i < 10000; i += 97) {
		snprintf(name, sizeof name, "f.e%d", i);
		snprintf(type, sizeof type, "application/x-e%d", i);
		ck_assert_str_eq(mime_lookup(t, name), i < 8192 ? type : OCTET);
	}
	ck_assert_str_eq(mime_lookup(t, "f.e8191"), "application/x-e8191");
	ck_assert_str_eq(mime_lookup(t, "f.e8192"), OCTET);
	ck_assert_str_eq(mime_lookup(t, "a.css"), "text/css; charset=utf-8");
	mime_free(t);
}
END_TEST

/* The host's own file, when there is one, must load and serve HTML. */
START_TEST(test_system_file)
{
	struct mime_table *t;

	if (access("/etc/mime.types", R_OK) != 0)
		return;
	t = mime_load("/etc/mime.types");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(
	    mime_lookup(t, "index.html"), "text/html; charset=utf-8");
	ck_assert_str_eq(mime_lookup(t, "x.png"), "image/png");
	ck_assert_str_eq(mime_lookup(t, "x.nope-nope"), OCTET);
	mime_free(t);
}
END_TEST

static Suite *
mime_suite(void)
{
	Suite *s = suite_create("mime");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_builtin, 0,
	    sizeof builtin_cases / sizeof builtin_cases[0]);
	tcase_add_loop_test(
	    tc, test_file, 0, sizeof file_cases / sizeof file_cases[0]);
	tcase_add_test(tc, test_null_name);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_size_cap);
	tcase_add_test(tc, test_entry_cap);
	tcase_add_test(tc, test_system_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mime_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
