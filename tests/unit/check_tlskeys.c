/*
 * Unit tests for tlskeys.c, through real handshakes: a ticket issued by
 * one context resumes on another sharing the ring (as on another reactor),
 * and on a ring read from the same key file (as on another instance); a
 * ticket outlives two rotations, renewed, and not a third; key files in
 * the wrong shape are refused by name.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/rand.h>

#include "tlskeys.h"
#include "tlstest.h"

#define ROTATE_S 3600

static char dir[] = "/tmp/check_tlskeys.XXXXXX";
static EVP_PKEY *key;
static X509 *cert;
static SSL_CTX *client;

/* Loop tests run at each protocol version in turn. */
static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };

static void
setup(void)
{
	time_t now = time(NULL);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	key = tlstest_key();
	cert = tlstest_cert("localhost", key, NULL, NULL, now - 3600,
	    now + 86400);
	ck_assert_ptr_nonnull(client = SSL_CTX_new(TLS_client_method()));
}

static void
teardown(void)
{
	char cmd[64];

	SSL_CTX_free(client);
	X509_free(cert);
	EVP_PKEY_free(key);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_tlskeys.XXXXXX");
}

/* A server context at version whose tickets are ring's. */
static SSL_CTX *
server(struct tlskeys *ring, int version)
{
	SSL_CTX *ctx = tlstest_server(cert, key, version);

	ck_assert_int_eq(tlskeys_attach(ring, ctx), 0);
	return ctx;
}

static struct tlskeys *
ring_random(unsigned rotate_s)
{
	char err[256] = "";
	struct tlskeys *ring = tlskeys_create(NULL, rotate_s, err, sizeof err);

	ck_assert_msg(ring != NULL, "%s", err);
	return ring;
}

static struct tlskeys *
ring_file(const char *path)
{
	char err[256] = "";
	struct tlskeys *ring = tlskeys_create(path, ROTATE_S, err, sizeof err);

	ck_assert_msg(ring != NULL, "%s", err);
	return ring;
}

/* A full handshake's session: a ticket under the ring's encrypting key. */
static SSL_SESSION *
fresh(SSL_CTX *ctx)
{
	SSL_SESSION *s;
	int resumed;

	s = tlstest_connect(ctx, client, NULL, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 0);
	ck_assert_int_eq(SSL_SESSION_has_ticket(s), 1);
	return s;
}

/* Hex name of the key a full handshake on ctx gets its ticket under. */
static void
current_name(SSL_CTX *ctx, char hex[33])
{
	SSL_SESSION *s = fresh(ctx);

	tlstest_ticket_name(s, hex);
	SSL_SESSION_free(s);
}

/* Writes n keys of TLSKEYS_KEY_BYTES to name in dir; path gets its path. */
static void
keyfile_write(const char *name, const unsigned char *keys, size_t len,
    char *path, size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(keys, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void
hex16(const unsigned char *p, char hex[33])
{
	int i;

	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
}

/*
 * Two contexts on one ring resume each other's tickets; a context with
 * OpenSSL's own keys does not. The ring's creator lets go of it first:
 * the contexts' references keep it.
 */
START_TEST(test_shared_contexts)
{
	struct tlskeys *ring = ring_random(ROTATE_S);
	SSL_CTX *a = server(ring, versions[_i]);
	SSL_CTX *b = server(ring, versions[_i]);
	SSL_CTX *other = tlstest_server(cert, key, versions[_i]);
	SSL_SESSION *s, *s2;
	int resumed;

	tlskeys_free(ring);
	s = fresh(a);
	s2 = tlstest_connect(b, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 1);
	SSL_SESSION_free(s2);
	s2 = tlstest_connect(a, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 1);
	SSL_SESSION_free(s2);
	s2 = tlstest_connect(other, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 0);
	SSL_SESSION_free(s2);
	SSL_SESSION_free(s);
	SSL_CTX_free(other);
	SSL_CTX_free(b);
	SSL_CTX_free(a);
}
END_TEST

/*
 * A ticket after 0 to 3 rotations (_i % 4, at TLS 1.2 then 1.3): it
 * resumes until the third; once its key no longer encrypts, the client is
 * given a ticket under the current key, and only then (OpenSSL sends none
 * on a resumption unless the callback asks for it).
 */
START_TEST(test_rotation)
{
	int rotations = _i % 4, version = versions[_i / 4], resumed, j;
	struct tlskeys *ring = ring_random(ROTATE_S);
	SSL_CTX *ctx = server(ring, version);
	SSL_SESSION *s, *s2;
	char before[33], after[33], now_name[33];
	const unsigned char *t1, *t2;
	size_t l1, l2;
	time_t t0 = time(NULL);

	s = fresh(ctx);
	tlstest_ticket_name(s, before);
	for (j = 1; j <= rotations; j++)
		tlskeys_rotate(ring, t0 + (time_t)j * ROTATE_S);
	current_name(ctx, now_name);
	ck_assert_int_eq(strcmp(now_name, before) != 0, rotations > 0);

	s2 = tlstest_connect(ctx, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, rotations < 3);
	tlstest_ticket_name(s2, after);
	ck_assert_str_eq(after, now_name);
	SSL_SESSION_get0_ticket(s, &t1, &l1);
	SSL_SESSION_get0_ticket(s2, &t2, &l2);
	ck_assert_int_eq(
	    l1 == l2 && memcmp(t1, t2, l1) == 0, rotations == 0);
	SSL_SESSION_free(s2);
	SSL_SESSION_free(s);
	SSL_CTX_free(ctx);
	tlskeys_free(ring);
}
END_TEST

/* No rotation before rotate_s has passed, nor ever with rotate_s 0. */
START_TEST(test_rotation_not_due)
{
	time_t t0 = time(NULL);
	struct tlskeys *ring = ring_random(ROTATE_S);
	struct tlskeys *never = ring_random(0);
	SSL_CTX *ctx = server(ring, TLS1_3_VERSION);
	SSL_CTX *ctx_never = server(never, TLS1_3_VERSION);
	char a[33], b[33];

	current_name(ctx, a);
	tlskeys_rotate(ring, t0 + ROTATE_S - 1);
	current_name(ctx, b);
	ck_assert_str_eq(a, b);
	tlskeys_rotate(ring, t0 + 2 * ROTATE_S);
	current_name(ctx, b);
	ck_assert_str_ne(a, b);

	current_name(ctx_never, a);
	tlskeys_rotate(never, t0 + 1000 * ROTATE_S);
	current_name(ctx_never, b);
	ck_assert_str_eq(a, b);

	SSL_CTX_free(ctx_never);
	SSL_CTX_free(ctx);
	tlskeys_free(never);
	tlskeys_free(ring);
}
END_TEST

/*
 * Two rings read from one file (two instances) resume each other's
 * tickets; the ticket is under the file's first key, by its name.
 */
START_TEST(test_key_file_shared)
{
	unsigned char keys[2 * TLSKEYS_KEY_BYTES];
	char path[256], name[33], first[33];
	struct tlskeys *r1, *r2;
	SSL_CTX *a, *b;
	SSL_SESSION *s, *s2;
	int resumed;

	ck_assert_int_eq(RAND_bytes(keys, sizeof keys), 1);
	keyfile_write("keys.bin", keys, sizeof keys, path, sizeof path);
	r1 = ring_file(path);
	r2 = ring_file(path);
	a = server(r1, versions[_i]);
	b = server(r2, versions[_i]);

	s = fresh(a);
	tlstest_ticket_name(s, name);
	hex16(keys, first);
	ck_assert_str_eq(name, first);
	s2 = tlstest_connect(b, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 1);
	SSL_SESSION_free(s2);

	/* A key file does not rotate. */
	tlskeys_rotate(r1, time(NULL) + 10 * ROTATE_S);
	current_name(a, name);
	ck_assert_str_eq(name, first);

	SSL_SESSION_free(s);
	SSL_CTX_free(b);
	SSL_CTX_free(a);
	tlskeys_free(r2);
	tlskeys_free(r1);
}
END_TEST

/*
 * The operator's rotation: a new key put first, the old one second. A
 * ticket under the old key resumes and is renewed under the new one; a
 * file without the old key makes it a full handshake.
 */
START_TEST(test_key_file_rollover)
{
	unsigned char old[TLSKEYS_KEY_BYTES], both[2 * TLSKEYS_KEY_BYTES];
	char path_old[256], path_both[256], path_new[256];
	char name[33], want[33];
	struct tlskeys *r_old, *r_both, *r_new;
	SSL_CTX *a, *b, *c;
	SSL_SESSION *s, *s2;
	int resumed;

	ck_assert_int_eq(RAND_bytes(old, sizeof old), 1);
	ck_assert_int_eq(RAND_bytes(both, TLSKEYS_KEY_BYTES), 1);
	memcpy(both + TLSKEYS_KEY_BYTES, old, sizeof old);
	keyfile_write("old.bin", old, sizeof old, path_old, sizeof path_old);
	keyfile_write("both.bin", both, sizeof both, path_both,
	    sizeof path_both);
	keyfile_write("new.bin", both, TLSKEYS_KEY_BYTES, path_new,
	    sizeof path_new);
	r_old = ring_file(path_old);
	r_both = ring_file(path_both);
	r_new = ring_file(path_new);
	a = server(r_old, versions[_i]);
	b = server(r_both, versions[_i]);
	c = server(r_new, versions[_i]);

	s = fresh(a);
	s2 = tlstest_connect(b, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 1);
	tlstest_ticket_name(s2, name);
	hex16(both, want);
	ck_assert_str_eq(name, want);
	SSL_SESSION_free(s2);
	s2 = tlstest_connect(c, client, s, &resumed, NULL, NULL);
	ck_assert_int_eq(resumed, 0);
	SSL_SESSION_free(s2);

	SSL_SESSION_free(s);
	SSL_CTX_free(c);
	SSL_CTX_free(b);
	SSL_CTX_free(a);
	tlskeys_free(r_new);
	tlskeys_free(r_both);
	tlskeys_free(r_old);
}
END_TEST

static const struct {
	const char *name; /* NULL: no such file */
	size_t len;       /* bytes written */
	const char *says;
} bad_files[] = {
	{ NULL, 0, "No such file or directory" },
	{ "empty.bin", 0, "0 bytes, not a whole number of 80-byte keys" },
	{ "short.bin", 79, "79 bytes, not a whole number of 80-byte keys" },
	{ "long.bin", 81, "81 bytes, not a whole number of 80-byte keys" },
	{ "many.bin", (TLSKEYS_FILE_MAX + 1) * TLSKEYS_KEY_BYTES,
	    "more than 16 keys" },
};

/* A file that is not a whole number of keys is an error naming it. */
START_TEST(test_key_file_errors)
{
	static unsigned char zeros[(TLSKEYS_FILE_MAX + 1) * TLSKEYS_KEY_BYTES];
	char path[256], want[512], err[512] = "";

	if (bad_files[_i].name != NULL)
		keyfile_write(bad_files[_i].name, zeros, bad_files[_i].len,
		    path, sizeof path);
	else
		snprintf(path, sizeof path, "%s/missing.bin", dir);
	ck_assert_ptr_null(tlskeys_create(path, ROTATE_S, err, sizeof err));
	snprintf(want, sizeof want, "%s: %s", path, bad_files[_i].says);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_key_file_directory)
{
	char err[512] = "", want[512];

	ck_assert_ptr_null(tlskeys_create(dir, ROTATE_S, err, sizeof err));
	snprintf(want, sizeof want, "%s: %s", dir, strerror(EISDIR));
	ck_assert_str_eq(err, want);
}
END_TEST

/* Connections each thread resumes while the ring rotates under them. */
#define RACE_CONNECTIONS 40

static int race_progress; /* atomic: resumptions tried, both threads */
static int race_running;  /* atomic: threads not done */

struct race {
	SSL_CTX *ctx;
	int resumed; /* of RACE_CONNECTIONS */
};

static void *
race_run(void *arg)
{
	struct race *r = arg;
	SSL_SESSION *s, *s2;
	int i, resumed;

	for (i = 0; i < RACE_CONNECTIONS; i++) {
		s = tlstest_connect(r->ctx, client, NULL, &resumed, NULL, NULL);
		s2 = tlstest_connect(r->ctx, client, s, &resumed, NULL, NULL);
		r->resumed += resumed;
		SSL_SESSION_free(s2);
		SSL_SESSION_free(s);
		__atomic_add_fetch(&race_progress, 1, __ATOMIC_RELAXED);
	}
	__atomic_sub_fetch(&race_running, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Handshakes on two threads (two reactors, one per protocol version) while
 * this one rotates the ring after every fourth resumption: every handshake
 * completes, and tickets resume (all but any that three rotations overtook
 * on a starved thread). The sanitizer builds see the races, if any.
 */
START_TEST(test_threads)
{
	struct tlskeys *ring = ring_random(ROTATE_S);
	struct race races[2];
	pthread_t threads[2];
	time_t t0 = time(NULL);
	int i, rotations = 0, seen = 0, progress;

	race_running = 2;
	for (i = 0; i < 2; i++) {
		races[i].ctx = server(ring, versions[i]);
		races[i].resumed = 0;
		ck_assert_int_eq(
		    pthread_create(&threads[i], NULL, race_run, &races[i]), 0);
	}
	while (__atomic_load_n(&race_running, __ATOMIC_ACQUIRE) > 0) {
		progress = __atomic_load_n(&race_progress, __ATOMIC_RELAXED);
		if (progress >= seen + 4) {
			seen = progress;
			tlskeys_rotate(ring, t0 + (time_t)++rotations * ROTATE_S);
		} else
			usleep(1000); /* a poll, bounded by the threads' work */
	}
	ck_assert_int_ge(rotations, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
		ck_assert_int_ge(races[i].resumed, RACE_CONNECTIONS / 2);
		SSL_CTX_free(races[i].ctx);
	}
	tlskeys_free(ring);
}
END_TEST

static Suite *
tlskeys_suite(void)
{
	Suite *s = suite_create("tlskeys");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_shared_contexts, 0, 2);
	tcase_add_loop_test(tc, test_rotation, 0, 8);
	tcase_add_test(tc, test_rotation_not_due);
	tcase_add_loop_test(tc, test_key_file_shared, 0, 2);
	tcase_add_loop_test(tc, test_key_file_rollover, 0, 2);
	tcase_add_loop_test(tc, test_key_file_errors, 0,
	    sizeof bad_files / sizeof bad_files[0]);
	tcase_add_test(tc, test_key_file_directory);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tlskeys_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
