/*
 * Unit tests for resolve.c: the resolve job run directly (it is plain
 * code for a worker) against a real tree, for every answer it gives:
 * a file, an index, a redirect, a listing, and the refusals (missing,
 * hidden, a directory without index, an escape by symlink, a non-file);
 * and the reactor's walk from the kernel's caches, which must give the
 * same answers or leave the resolution to the pool untouched.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "encoding.h"
#include "mime.h"
#include "path.h"
#include "resolve.h"

static char		 dir[] = "/tmp/check_resolve.XXXXXX";
static char		 outside[] = "/tmp/check_resolve_out.XXXXXX";
static struct config	*cfg;
static struct mime_table *mime;
static struct docroot	*root;

static void
put(const char *name, const char *content)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(content, f);
	fclose(f);
}

static void
sub(const char *name)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

/* Opens the root with the site's policies as the test set them. */
static void
open_root(void)
{
	char	 err[256];

	root = docroot_open(cfg, &cfg->sites[0], mime, NULL, err, sizeof err);
	ck_assert_msg(root != NULL, "%s", err);
}

static void
setup(void)
{
	struct config_overrides	 o = { NULL, dir, { "127.0.0.1:0" }, 1, 0,
	    NULL, NULL };
	char			 err[256], path[300];
	FILE			*f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(mkdtemp(outside));
	put("a.txt", "plain");
	sub("docs");
	put("docs/index.html", "<p>docs</p>");
	sub("empty");
	put(".secret", "hidden");
	sub(".well-known");
	put(".well-known/security.txt", "contact");
	snprintf(path, sizeof path, "%s/target.txt", outside);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	snprintf(err, sizeof err, "%s/escape.txt", dir);
	ck_assert_int_eq(symlink(path, err), 0);
	snprintf(err, sizeof err, "%s/inside.txt", dir);
	ck_assert_int_eq(symlink("a.txt", err), 0);
	snprintf(err, sizeof err, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(err, 0644), 0);
	cfg = config_load(NULL, &o, err, sizeof err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_nonnull(mime = mime_load(NULL));
	root = NULL;
}

static void
teardown(void)
{
	char	 cmd[128];

	if (root != NULL)
		docroot_close(root);
	mime_free(mime);
	config_free(cfg);
	snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, outside);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_resolve.XXXXXX");
	strcpy(outside, "/tmp/check_resolve_out.XXXXXX");
}

/* Resolves target as a worker would; res->fd is the caller's to close. */
static void
resolve(const char *target, const char *accept, struct resolution *res,
    struct path *p)
{
	ck_assert_int_eq(path_parse(p, target, strlen(target)), 0);
	resolve_init(res, root, p, accept, accept != NULL ? strlen(accept) : 0);
	res->job.work(&res->job);
}

static void
expect_failed(const char *target, int status)
{
	struct resolution	 res;
	struct path		 p;

	resolve(target, NULL, &res, &p);
	ck_assert_msg(res.result == RESOLVE_FAILED, "%s: result %d", target,
	    res.result);
	ck_assert_int_eq(res.status, status);
	ck_assert_int_eq(res.fd, -1);
}

START_TEST(file_and_index)
{
	struct resolution	 res;
	struct path		 p;

	open_root();
	resolve("/a.txt", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_FILE);
	ck_assert_int_eq(res.st.st_size, 5);
	ck_assert_str_eq(res.name, "a.txt");
	ck_assert_uint_eq(res.encoding, 0);
	close(res.fd);

	resolve("/docs/", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_FILE);
	ck_assert_str_eq(res.name, "index.html");
	ck_assert_int_eq(res.st.st_size, 11);
	close(res.fd);

	/* Inside the root, a symlink is followed by default. */
	resolve("/inside.txt", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_FILE);
	ck_assert_int_eq(res.st.st_size, 5);
	close(res.fd);
}
END_TEST

START_TEST(directories)
{
	struct resolution	 res;
	struct path		 p;

	open_root();
	resolve("/docs", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_REDIRECT);
	ck_assert_int_eq(res.fd, -1);
	/* No index and no autoindex. */
	expect_failed("/empty/", 403);
	/* A file named as a directory. */
	expect_failed("/a.txt/", 404);
}
END_TEST

START_TEST(autoindex_lists)
{
	struct resolution	 res;
	struct path		 p;
	struct stat		 st;

	cfg->sites[0].autoindex = 1;
	open_root();
	resolve("/empty/", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_LISTING);
	ck_assert_int_eq(fstat(res.fd, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	close(res.fd);
}
END_TEST

START_TEST(refusals)
{
	open_root();
	expect_failed("/missing.txt", 404);
	expect_failed("/.secret", 404);
	/* Beneath the root or not at all, whatever a symlink says. */
	expect_failed("/escape.txt", 404);
	expect_failed("/fifo", 403);
}
END_TEST

START_TEST(dotfiles_and_well_known)
{
	struct resolution	 res;
	struct path		 p;

	open_root();
	resolve("/.well-known/security.txt", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_FILE);
	close(res.fd);
	docroot_close(root);
	cfg->sites[0].dotfiles = 1;
	open_root();
	resolve("/.secret", NULL, &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_FILE);
	close(res.fd);
}
END_TEST

START_TEST(symlinks_off)
{
	cfg->sites[0].symlinks = SYMLINKS_OFF;
	open_root();
	expect_failed("/inside.txt", 404);
}
END_TEST

START_TEST(sidecar)
{
	struct resolution	 res;
	struct path		 p;
	char			 path[256];
	struct timeval		 old[2] = { { 1000000000, 0 },
				    { 1000000000, 0 } };

	put("a.txt.gz", "gzipped!");
	cfg->sites[0].precompressed = ENCODING_GZIP;
	open_root();
	resolve("/a.txt", "br, gzip", &res, &p);
	ck_assert_int_eq(res.result, RESOLVE_FILE);
	ck_assert_uint_eq(res.encoding, ENCODING_GZIP);
	ck_assert_int_eq(res.st.st_size, 8);
	/* The name, for the media type, stays the file's. */
	ck_assert_str_eq(res.name, "a.txt");
	close(res.fd);

	resolve("/a.txt", "identity", &res, &p);
	ck_assert_uint_eq(res.encoding, 0);
	ck_assert_int_eq(res.st.st_size, 5);
	close(res.fd);

	/* A sidecar older than its file is stale: not served. */
	snprintf(path, sizeof path, "%s/a.txt.gz", dir);
	ck_assert_int_eq(utimes(path, old), 0);
	resolve("/a.txt", "gzip", &res, &p);
	ck_assert_uint_eq(res.encoding, 0);
	close(res.fd);
}
END_TEST

/*
 * The reactor's walk of target, after the worker's (which put its names in
 * the dentry cache): the same answer, with no job. must: it may not leave
 * this one to the pool (a negative dentry, which some filesystems do not
 * keep, or an escape, which it does not judge, may).
 */
static void
expect_cached_agrees(const char *target, const char *accept, int must)
{
	struct resolution	 job, cached;
	struct path		 p, q;

	resolve(target, accept, &job, &p);
	ck_assert_int_eq(path_parse(&q, target, strlen(target)), 0);
	resolve_init(&cached, root, &q, accept,
	    accept != NULL ? strlen(accept) : 0);
	if (resolve_cached(&cached) == -1) {
		ck_assert_msg(!must, "%s: left to the pool", target);
		ck_assert_int_eq(cached.fd, -1);
		ck_assert_uint_eq(cached.encoding, 0);
	} else {
		ck_assert_msg(cached.result == job.result, "%s: result %d, "
		    "not %d", target, cached.result, job.result);
		ck_assert_int_eq(cached.status, job.status);
		ck_assert_uint_eq(cached.encoding, job.encoding);
		ck_assert_int_eq(cached.fd != -1, job.fd != -1);
		if (job.result == RESOLVE_FILE) {
			ck_assert_int_eq(cached.st.st_size, job.st.st_size);
			ck_assert_int_eq(cached.st.st_ino, job.st.st_ino);
			ck_assert_int_eq(cached.st.st_mtim.tv_nsec,
			    job.st.st_mtim.tv_nsec);
			ck_assert_str_eq(cached.name, job.name);
		}
	}
	if (job.fd != -1)
		close(job.fd);
	if (cached.fd != -1)
		close(cached.fd);
}

START_TEST(cached_walk_agrees)
{
	struct resolution	 res;
	struct path		 p;

	put("a.txt.gz", "gzipped!");
	cfg->sites[0].precompressed = ENCODING_GZIP;
	open_root();
	expect_cached_agrees("/a.txt", NULL, 1);
	expect_cached_agrees("/a.txt", "gzip", 1);
	expect_cached_agrees("/docs/", NULL, 1);
	expect_cached_agrees("/docs", NULL, 1);
	expect_cached_agrees("/empty/", NULL, 1);
	expect_cached_agrees("/a.txt/", NULL, 1);
	expect_cached_agrees("/inside.txt", NULL, 1);
	expect_cached_agrees("/.secret", NULL, 1);
	expect_cached_agrees("/fifo", NULL, 1);
	expect_cached_agrees("/missing.txt", NULL, 0);
	expect_cached_agrees("/escape.txt", NULL, 0);

	/* A name nobody looked up is not in the dentry cache: the pool's. */
	ck_assert_int_eq(path_parse(&p, "/never-seen.txt", 15), 0);
	resolve_init(&res, root, &p, NULL, 0);
	ck_assert_int_eq(resolve_cached(&res), -1);
	ck_assert_int_eq(res.fd, -1);
	res.job.work(&res.job);
	ck_assert_int_eq(res.result, RESOLVE_FAILED);
	ck_assert_int_eq(res.status, 404);
}
END_TEST

/*
 * The reactor's sendfile is for the root's own, local filesystem only:
 * a file on another (here /proc) or under a root found remote goes by
 * the pool.
 */
START_TEST(sendfile_local)
{
	struct stat st;
	char path[300];

	open_root();
	snprintf(path, sizeof path, "%s/a.txt", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(root->local, 1); /* /tmp: no network filesystem */
	ck_assert_int_eq(docroot_local(root, &st), 1);
	root->local = 0;
	ck_assert_int_eq(docroot_local(root, &st), 0);
	root->local = 1;
	ck_assert_int_eq(stat("/proc/self/stat", &st), 0);
	ck_assert_int_eq(docroot_local(root, &st), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("resolve");
	TCase	*tc = tcase_create("resolve");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, file_and_index);
	tcase_add_test(tc, directories);
	tcase_add_test(tc, autoindex_lists);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, dotfiles_and_well_known);
	tcase_add_test(tc, symlinks_off);
	tcase_add_test(tc, sidecar);
	tcase_add_test(tc, cached_walk_agrees);
	tcase_add_test(tc, sendfile_local);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
