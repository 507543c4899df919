/*
 * Unit tests for filecache.c: hits, the bound, and every way an entry
 * must stop being trusted (TTL, rewrite in place, truncation, a new mtime,
 * unlink, rename over), checked once a reactor turn.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filecache.h"
#include "iopool.h"

static char		 dir[] = "/tmp/check_filecache.XXXXXX";
static struct iopool	*pool;
static unsigned long	 turn; /* a reactor's: each lookup its own unless said */

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* No threads: descriptors the cache lets go are closed at once. */
	ck_assert_ptr_nonnull(pool = iopool_create(0, 0, 8));
}

static void
teardown(void)
{
	char	 cmd[64];

	iopool_destroy(pool);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_filecache.XXXXXX");
}

static char *
file(const char *name, const char *content)
{
	static char	 path[256];
	FILE		*f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(content, f);
	fclose(f);
	return path;
}

/* name opened and fstat'd, as a resolve job leaves it. */
static void
resolved(struct filecache_file *res, const char *name)
{
	char	 path[256];

	memset(res, 0, sizeof *res);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_int_ne(res->fd = open(path, O_RDONLY), -1);
	ck_assert_int_eq(fstat(res->fd, &res->st), 0);
	snprintf(res->name, sizeof res->name, "%s", name);
}

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

START_TEST(hit_after_insert)
{
	struct filecache	*fc = filecache_create(8, 60000, 0, pool);
	struct filecache_entry	*e, *hit;
	struct filecache_file	 res, again;

	file("a.txt", "alpha");
	resolved(&res, "a.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "a.txt|000", &res));
	filecache_release(fc, e);
	memset(&again, 0, sizeof again);
	ck_assert_ptr_nonnull(hit = filecache_lookup(fc, "a.txt|000", ++turn, &again));
	ck_assert_int_eq(again.fd, res.fd);
	ck_assert_int_eq(again.st.st_size, 5);
	ck_assert_str_eq(again.name, "a.txt");
	ck_assert_ptr_null(filecache_lookup(fc, "a.txt|100", ++turn, &again));
	filecache_release(fc, hit);
	ck_assert(fd_open(res.fd));
	filecache_free(fc);
	ck_assert(!fd_open(res.fd));
}
END_TEST

/* Each way the file changes under the cache makes the next lookup miss. */
static void
changed_misses(void (*change)(void))
{
	struct filecache	*fc = filecache_create(8, 60000, 0, pool);
	struct filecache_entry	*e;
	struct filecache_file	 res, again;

	file("b.txt", "before");
	resolved(&res, "b.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "b|000", &res));
	filecache_release(fc, e);
	change();
	ck_assert_ptr_null(filecache_lookup(fc, "b|000", ++turn, &again));
	/* Evicted and unused: its descriptor is closed. */
	ck_assert(!fd_open(res.fd));
	filecache_free(fc);
}

static void
rewrite_in_place(void)
{
	file("b.txt", "after, longer");
}

static void
unlink_it(void)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s/b.txt", dir);
	ck_assert_int_eq(unlink(path), 0);
}

static void
rename_over(void)
{
	char	 from[256], to[256];

	snprintf(from, sizeof from, "%s", file("new.txt", "before"));
	snprintf(to, sizeof to, "%s/b.txt", dir);
	ck_assert_int_eq(rename(from, to), 0);
}

/*
 * Truncated, with the old mtime put back: the size alone must give it
 * away, or a head would promise bytes the file no longer has.
 */
static void
truncate_keep_mtime(void)
{
	char		 path[256];
	struct stat	 st;
	struct timespec	 times[2];

	snprintf(path, sizeof path, "%s/b.txt", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(truncate(path, 2), 0);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* Same size, new mtime: the ETag would be stale. */
static void
touch_same_size(void)
{
	char		 path[256];
	struct stat	 st;
	struct timespec	 times[2];

	snprintf(path, sizeof path, "%s/b.txt", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	times[1].tv_sec -= 60;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

START_TEST(truncated)
{
	changed_misses(truncate_keep_mtime);
}
END_TEST

START_TEST(touched)
{
	changed_misses(touch_same_size);
}
END_TEST

/*
 * A file truncated while a request streams from its entry: the next
 * lookup misses, and the descriptor stays open for the request (whose
 * reads now come up short, and which closes its connection) until it
 * lets go.
 */
START_TEST(truncated_in_use)
{
	struct filecache	*fc = filecache_create(8, 60000, 0, pool);
	struct filecache_entry	*held;
	struct filecache_file	 res, again;
	char			 buf[16];

	file("b.txt", "before");
	resolved(&res, "b.txt");
	ck_assert_ptr_nonnull(held = filecache_insert(fc, "b|000", &res));
	truncate_keep_mtime();
	ck_assert_ptr_null(filecache_lookup(fc, "b|000", ++turn, &again));
	ck_assert(fd_open(res.fd));
	ck_assert_int_eq(pread(res.fd, buf, sizeof buf, 0), 2);
	ck_assert_int_eq(pread(res.fd, buf, sizeof buf, 2), 0);
	filecache_release(fc, held);
	ck_assert(!fd_open(res.fd));
	filecache_free(fc);
}
END_TEST

START_TEST(rewritten)
{
	changed_misses(rewrite_in_place);
}
END_TEST

START_TEST(unlinked)
{
	changed_misses(unlink_it);
}
END_TEST

START_TEST(renamed_over)
{
	changed_misses(rename_over);
}
END_TEST

START_TEST(checked_once_a_turn)
{
	struct filecache	*fc = filecache_create(8, 60000, 0, pool);
	struct filecache_entry	*e;
	struct filecache_file	 res, again;
	unsigned long		 now = ++turn;

	file("b.txt", "before");
	resolved(&res, "b.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "b|000", &res));
	filecache_release(fc, e);
	/* Inserted is not checked: the resolution may predate the turn. */
	ck_assert_ptr_nonnull(e = filecache_lookup(fc, "b|000", now, &again));
	filecache_release(fc, e);
	rewrite_in_place();
	/* Checked at this turn already: the same file for its requests. */
	ck_assert_ptr_nonnull(e = filecache_lookup(fc, "b|000", now, &again));
	ck_assert_int_eq(again.fd, res.fd);
	filecache_release(fc, e);
	/* The next turn sees the change. */
	ck_assert_ptr_null(filecache_lookup(fc, "b|000", ++turn, &again));
	ck_assert(!fd_open(res.fd));
	/* Turn 0 (no reactor) checks at every lookup. */
	resolved(&res, "b.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "b|000", &res));
	filecache_release(fc, e);
	ck_assert_ptr_nonnull(e = filecache_lookup(fc, "b|000", 0, &again));
	filecache_release(fc, e);
	file("b.txt", "after, longer still");
	ck_assert_ptr_null(filecache_lookup(fc, "b|000", 0, &again));
	filecache_free(fc);
}
END_TEST

START_TEST(ttl_expires)
{
	struct filecache	*fc = filecache_create(8, 0, 0, pool);
	struct filecache_entry	*e;
	struct filecache_file	 res, again;

	file("c.txt", "c");
	resolved(&res, "c.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "c|000", &res));
	filecache_release(fc, e);
	usleep(5000);
	ck_assert_ptr_null(filecache_lookup(fc, "c|000", ++turn, &again));
	filecache_free(fc);
}
END_TEST

/*
 * Past the TTL one lookup misses, to resolve again; the ones after it use
 * the entry meanwhile, until an insert replaces it or a forget drops it.
 */
START_TEST(ttl_revalidates_once)
{
	struct filecache	*fc = filecache_create(8, 0, 0, pool);
	struct filecache_entry	*e;
	struct filecache_file	 res, again, fresh;

	file("c.txt", "c");
	resolved(&res, "c.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "c|000", &res));
	filecache_release(fc, e);
	usleep(5000);
	ck_assert_ptr_null(filecache_lookup(fc, "c|000", ++turn, &again));
	ck_assert_ptr_nonnull(e = filecache_lookup(fc, "c|000", ++turn, &again));
	ck_assert_int_eq(again.fd, res.fd);
	filecache_release(fc, e);
	/* The revalidation's insert replaces it. */
	resolved(&fresh, "c.txt");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "c|000", &fresh));
	filecache_release(fc, e);
	ck_assert(!fd_open(res.fd));
	/* A forget after a revalidation drops the entry; otherwise not. */
	filecache_forget(fc, "c|000");
	usleep(5000);
	ck_assert_ptr_null(filecache_lookup(fc, "c|000", ++turn, &again));
	filecache_forget(fc, "c|000");
	ck_assert_ptr_null(filecache_lookup(fc, "c|000", ++turn, &again));
	ck_assert(!fd_open(fresh.fd));
	filecache_free(fc);
}
END_TEST

START_TEST(bounded_and_in_use_survives)
{
	struct filecache	*fc = filecache_create(2, 60000, 0, pool);
	struct filecache_entry	*held = NULL, *e;
	struct filecache_file	 res[4], again;
	char			 name[16], key[16];
	int			 i;

	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "f%d", i);
		snprintf(key, sizeof key, "f%d|000", i);
		file(name, name);
		resolved(&res[i], name);
		ck_assert_ptr_nonnull(e = filecache_insert(fc, key, &res[i]));
		if (i == 0)
			held = e;	/* a request still streaming it */
		else
			filecache_release(fc, e);
	}
	/* Two entries at most; the oldest went, but f0 is still open. */
	ck_assert_ptr_null(filecache_lookup(fc, "f0|000", ++turn, &again));
	ck_assert_ptr_null(filecache_lookup(fc, "f1|000", ++turn, &again));
	ck_assert(fd_open(res[0].fd));
	ck_assert(!fd_open(res[1].fd));
	filecache_release(fc, held);
	ck_assert(!fd_open(res[0].fd));
	ck_assert_ptr_nonnull(e = filecache_lookup(fc, "f3|000", ++turn, &again));
	filecache_release(fc, e);
	filecache_free(fc);
}
END_TEST

/*
 * A descriptor shortage anywhere halves every cache at its next use, the
 * least recently used going first, and keeps it there until a calm
 * second has passed; then each miss grows it by one entry again.
 */
START_TEST(short_sheds_half)
{
	struct filecache	*fc = filecache_create(8, 60000, 0, pool);
	struct filecache	*later;
	struct filecache_entry	*e;
	struct filecache_file	 res[10], again;
	struct timespec		 nap = { 0, 50 * 1000 * 1000 }, t0, now;
	char			 name[16], key[16];
	int			 i;

	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "f%d", i);
		file(name, name);
	}
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "f%d", i);
		snprintf(key, sizeof key, "f%d|000", i);
		resolved(&res[i], name);
		ck_assert_ptr_nonnull(e = filecache_insert(fc, key, &res[i]));
		filecache_release(fc, e);
	}
	filecache_short();
	/* Made after the shortage: nothing to answer. */
	ck_assert_ptr_nonnull(later = filecache_create(8, 60000, 0, pool));
	ck_assert_ptr_nonnull(e = filecache_lookup(fc, "f7|000", ++turn, &again));
	filecache_release(fc, e);
	for (i = 0; i < 8; i++)
		ck_assert_msg(fd_open(res[i].fd) == (i >= 4), "f%d", i);
	/* Not calm yet: a miss takes the place of the oldest. */
	resolved(&res[8], "f8");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "f8|000", &res[8]));
	filecache_release(fc, e);
	ck_assert(!fd_open(res[4].fd));
	ck_assert(fd_open(res[5].fd));
	/* Calm once FILECACHE_CALM_MS have passed: the next miss adds one. */
	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	do {
		nanosleep(&nap, NULL);
		ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &now), 0);
	} while ((now.tv_sec - t0.tv_sec) * 1000 +
		(now.tv_nsec - t0.tv_nsec) / 1000000 <=
	    FILECACHE_CALM_MS);
	resolved(&res[9], "f9");
	ck_assert_ptr_nonnull(e = filecache_insert(fc, "f9|000", &res[9]));
	filecache_release(fc, e);
	for (i = 5; i < 10; i++)
		ck_assert_msg(fd_open(res[i].fd), "f%d", i);
	/* Another shortage halves it again: 5 become 2. */
	filecache_short();
	filecache_shed(fc);
	for (i = 5; i < 10; i++)
		ck_assert_msg(fd_open(res[i].fd) == (i >= 8), "f%d", i);
	filecache_free(later);
	filecache_free(fc);
}
END_TEST

/*
 * Requests that miss together each resolve and insert: one entry per key
 * remains, the newest, and the older descriptors close once unused.
 */
START_TEST(one_entry_per_key)
{
	struct filecache	*fc = filecache_create(8, 60000, 0, pool);
	struct filecache_entry	*e[3], *hit;
	struct filecache_file	 res[3], again;
	int			 i;

	file("d.txt", "delta");
	for (i = 0; i < 3; i++) {
		resolved(&res[i], "d.txt");
		ck_assert_ptr_nonnull(e[i] = filecache_insert(fc, "d|000",
		    &res[i]));
	}
	/* Still streaming: replaced entries keep their descriptors. */
	for (i = 0; i < 3; i++)
		ck_assert(fd_open(res[i].fd));
	for (i = 0; i < 3; i++)
		filecache_release(fc, e[i]);
	ck_assert(!fd_open(res[0].fd));
	ck_assert(!fd_open(res[1].fd));
	ck_assert(fd_open(res[2].fd));
	ck_assert_ptr_nonnull(hit = filecache_lookup(fc, "d|000", ++turn, &again));
	ck_assert_int_eq(again.fd, res[2].fd);
	filecache_release(fc, hit);
	filecache_free(fc);
	ck_assert(!fd_open(res[2].fd));
}
END_TEST

/*
 * Waits (bounded) until name's ctime is two seconds old, so its bytes may
 * be kept: until then a write in the same tick could go unseen.
 */
static void
settle(const char *name)
{
	char		 path[256];
	struct stat	 st;
	struct timespec	 now, nap = { 0, 50 * 1000 * 1000 };
	int		 i;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_int_eq(stat(path, &st), 0);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(clock_gettime(CLOCK_REALTIME_COARSE, &now), 0);
		if (now.tv_sec - st.st_ctim.tv_sec >= 2)
			return;
		nanosleep(&nap, NULL);
	}
	ck_abort_msg("%s: ctime never two seconds old", name);
}

static struct filecache_entry *
inserted(struct filecache *fc, const char *key, const char *name,
    struct filecache_file *res)
{
	struct filecache_entry *e;

	resolved(res, name);
	ck_assert_ptr_nonnull(e = filecache_insert(fc, key, res));
	return e;
}

/*
 * A small file's bytes are read once and kept while the entry is valid;
 * a rewrite drops them with the entry, even with its old mtime put back
 * (the ctime gives it away), and the new entry keeps the new bytes; the
 * total follows what is kept.
 */
START_TEST(body_kept)
{
	struct filecache	*fc = filecache_create(8, 60000, 1 << 20, pool);
	struct filecache_entry	*e, *hit;
	struct filecache_file	 res, again;
	const void		*body;
	size_t			 before = filecache_body_total();
	int			 read = 0;
	char			 path[256];
	struct stat		 st;
	struct timespec		 times[2];

	file("k.txt", "kept bytes");
	settle("k.txt");
	e = inserted(fc, "k|000", "k.txt", &res);
	ck_assert_ptr_nonnull(body = filecache_body(fc, e, &read));
	ck_assert_int_eq(read, 1);
	ck_assert_mem_eq(body, "kept bytes", 10);
	ck_assert_uint_eq(filecache_body_total(), before + 10);
	filecache_release(fc, e);
	/* The next request: the same bytes, no read. */
	read = 0;
	ck_assert_ptr_nonnull(hit = filecache_lookup(fc, "k|000", ++turn, &again));
	ck_assert_ptr_eq(filecache_body(fc, hit, &read), body);
	ck_assert_int_eq(read, 0);
	filecache_release(fc, hit);
	/* Rewritten in place: same size, and the old mtime put back. */
	snprintf(path, sizeof path, "%s/k.txt", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	file("k.txt", "new bytes!");
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
	ck_assert_ptr_null(filecache_lookup(fc, "k|000", ++turn, &again));
	ck_assert_uint_eq(filecache_body_total(), before);
	settle("k.txt");
	e = inserted(fc, "k|000", "k.txt", &res);
	ck_assert_ptr_nonnull(body = filecache_body(fc, e, &read));
	ck_assert_mem_eq(body, "new bytes!", 10);
	filecache_release(fc, e);
	filecache_free(fc);
	ck_assert_uint_eq(filecache_body_total(), before);
}
END_TEST

/*
 * Not kept: a file changed within the last two seconds (another write in
 * the same timestamp tick would go unseen), an empty one, one larger than
 * FILECACHE_BODY_MAX, one over the budget; each still has its entry.
 */
START_TEST(body_not_kept)
{
	struct filecache	*fc = filecache_create(8, 60000, 100, pool);
	struct filecache_entry	*e[5];
	struct filecache_file	 res;
	char			*large;
	int			 read = 0;
	size_t			 before = filecache_body_total(), i;

	ck_assert_ptr_nonnull(large = malloc(FILECACHE_BODY_MAX + 2));
	memset(large, 'x', FILECACHE_BODY_MAX + 1);
	large[FILECACHE_BODY_MAX + 1] = '\0';
	file("c.txt", large);
	memset(large, 'y', 90);
	large[90] = '\0';
	file("b.txt", "");
	file("d.txt", large);
	file("e.txt", large);
	settle("e.txt");
	file("a.txt", "just written");
	e[0] = inserted(fc, "a|000", "a.txt", &res);
	e[1] = inserted(fc, "b|000", "b.txt", &res);
	e[2] = inserted(fc, "c|000", "c.txt", &res);
	e[3] = inserted(fc, "d|000", "d.txt", &res);
	e[4] = inserted(fc, "e|000", "e.txt", &res);
	ck_assert_ptr_null(filecache_body(fc, e[0], &read));
	ck_assert_ptr_null(filecache_body(fc, e[1], &read));
	ck_assert_ptr_null(filecache_body(fc, e[2], &read));
	ck_assert_int_eq(read, 0);
	/* 90 bytes fit a budget of 100; 90 more do not. */
	ck_assert_ptr_nonnull(filecache_body(fc, e[3], &read));
	ck_assert_ptr_null(filecache_body(fc, e[4], &read));
	ck_assert_uint_eq(filecache_body_total(), before + 90);
	for (i = 0; i < 5; i++)
		filecache_release(fc, e[i]);
	filecache_free(fc);
	ck_assert_uint_eq(filecache_body_total(), before);
	free(large);
}
END_TEST

/*
 * A revalidation that resolves the file as it was keeps its bytes: the
 * new entry has a copy (the old one's may still be going out), no read;
 * one that finds it changed keeps none of the old bytes.
 */
START_TEST(body_outlives_revalidation)
{
	struct filecache	*fc = filecache_create(8, 60000, 1 << 20, pool);
	struct filecache_entry	*old, *e;
	struct filecache_file	 res;
	const void		*body, *again;
	size_t			 before = filecache_body_total();
	int			 read = 0;

	file("r.txt", "same bytes");
	settle("r.txt");
	old = inserted(fc, "r|000", "r.txt", &res);
	ck_assert_ptr_nonnull(body = filecache_body(fc, old, &read));
	/* Resolved again while a request still sends the old bytes. */
	read = 0;
	e = inserted(fc, "r|000", "r.txt", &res);
	ck_assert_ptr_nonnull(again = filecache_body(fc, e, &read));
	ck_assert_int_eq(read, 0);
	ck_assert_ptr_ne(again, body);
	ck_assert_mem_eq(again, "same bytes", 10);
	ck_assert_mem_eq(body, "same bytes", 10);
	ck_assert_uint_eq(filecache_body_total(), before + 20);
	filecache_release(fc, old);
	ck_assert_uint_eq(filecache_body_total(), before + 10);
	filecache_release(fc, e);
	/* Changed since: the next entry reads the new bytes. */
	file("r.txt", "new  bytes");
	settle("r.txt");
	e = inserted(fc, "r|000", "r.txt", &res);
	ck_assert_uint_eq(filecache_body_total(), before);
	ck_assert_ptr_nonnull(body = filecache_body(fc, e, &read));
	ck_assert_int_eq(read, 1);
	ck_assert_mem_eq(body, "new  bytes", 10);
	filecache_release(fc, e);
	filecache_free(fc);
	ck_assert_uint_eq(filecache_body_total(), before);
}
END_TEST

START_TEST(keys)
{
	static const unsigned	 accept[] = { 4, 1 };
	char			 key[64];

	filecache_key(key, sizeof key, "a/b.css", 0, accept, 2);
	ck_assert_str_eq(key, "a/b.css|410");
	filecache_key(key, sizeof key, "docs", 1, NULL, 0);
	ck_assert_str_eq(key, "docs/|000");
	ck_assert_ptr_null(filecache_create(0, 1000, 0, pool));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("filecache");
	TCase	*tc = tcase_create("filecache");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hit_after_insert);
	tcase_add_test(tc, rewritten);
	tcase_add_test(tc, unlinked);
	tcase_add_test(tc, renamed_over);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, touched);
	tcase_add_test(tc, truncated_in_use);
	tcase_add_test(tc, checked_once_a_turn);
	tcase_add_test(tc, ttl_expires);
	tcase_add_test(tc, short_sheds_half);
	tcase_add_test(tc, ttl_revalidates_once);
	tcase_add_test(tc, bounded_and_in_use_survives);
	tcase_add_test(tc, one_entry_per_key);
	tcase_add_test(tc, body_kept);
	tcase_add_test(tc, body_not_kept);
	tcase_add_test(tc, body_outlives_revalidation);
	tcase_add_test(tc, keys);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
