/*
 * Unit tests for tlscheck.c on certificates, keys and OCSP responses made
 * here with OpenSSL's API and written to a temporary directory: a good
 * pair, and each mistake an operator makes with its message; OCSP files
 * accepted or refused; a staple seen by a client in a real handshake.
 * "now" is fixed (2026-12-02), so the dates in messages are too.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "tlscheck.h"
#include "tlstest.h"

static char dir[] = "/tmp/check_tlscheck.XXXXXX";
static time_t now;
static EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key;
static X509 *root, *inter, *leaf;

/* 2026-12-02 00:00:00 UTC plus days and hours. */
static time_t
at(int days, int hours)
{
	return (time_t)1796169600 + (time_t)days * 86400 + (time_t)hours * 3600;
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	now = at(0, 0);
	root_key = tlstest_key();
	inter_key = tlstest_key();
	leaf_key = tlstest_key();
	other_key = tlstest_key();
	root = tlstest_cert("Test Root", root_key, NULL, NULL, at(-300, 0),
	    at(1000, 0));
	inter = tlstest_cert("Test Intermediate", inter_key, root, root_key,
	    at(-300, 0), at(1000, 0));
	leaf = tlstest_cert("localhost", leaf_key, inter, inter_key,
	    at(-100, 0), at(200, 0));
}

static void
teardown(void)
{
	char cmd[64];

	X509_free(leaf);
	X509_free(inter);
	X509_free(root);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(root_key);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_tlscheck.XXXXXX");
}

static const char *
path_of(const char *name)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

/* certs (NULL-terminated) as one PEM file in dir; returns its path. */
static const char *
chain_write(const char *name, X509 *const *certs)
{
	const char *path = path_of(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	for (; *certs != NULL; certs++)
		ck_assert_int_eq(PEM_write_X509(f, *certs), 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static const char *
key_write(const char *name, EVP_PKEY *key)
{
	const char *path = path_of(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static const char *
bytes_write(const char *name, const void *bytes, size_t len)
{
	const char *path = path_of(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/*
 * A DER OCSP response: subject good at produced and for 7 days, signed by
 * its issuer; or, with status other than successful, an error response
 * without a body.
 */
static unsigned char *
ocsp_make(X509 *subject, X509 *issuer, EVP_PKEY *issuer_key, int status,
    time_t produced, size_t *len)
{
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *basic = NULL;
	OCSP_CERTID *id;
	ASN1_TIME *this_update, *next_update;
	unsigned char *der = NULL, *copy;
	int n;

	if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		ck_assert_ptr_nonnull(basic = OCSP_BASICRESP_new());
		ck_assert_ptr_nonnull(
		    id = OCSP_cert_to_id(NULL, subject, issuer));
		this_update = X509_time_adj_ex(NULL, 0, 0, &produced);
		next_update = X509_time_adj_ex(NULL, 7, 0, &produced);
		ck_assert_ptr_nonnull(OCSP_basic_add1_status(basic, id,
		    V_OCSP_CERTSTATUS_GOOD, 0, NULL, this_update, next_update));
		ck_assert_int_eq(OCSP_basic_sign(basic, issuer, issuer_key,
				     EVP_sha256(), NULL, 0),
		    1);
		ASN1_TIME_free(next_update);
		ASN1_TIME_free(this_update);
		OCSP_CERTID_free(id);
	}
	ck_assert_ptr_nonnull(resp = OCSP_response_create(status, basic));
	ck_assert_int_gt(n = i2d_OCSP_RESPONSE(resp, &der), 0);
	ck_assert_ptr_nonnull(copy = malloc((size_t)n));
	memcpy(copy, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(basic);
	return copy;
}

/* The check, which must fail with exactly message. */
static void
pair_fails(const char *cert, const char *key, const char *message)
{
	char err[512] = "", warn[512] = "x";
	time_t t = 42;

	ck_assert_int_eq(tlscheck_pair(cert, key, now, err, sizeof err, warn,
			     sizeof warn, &t),
	    -1);
	ck_assert_str_eq(err, message);
	ck_assert_int_eq(t, 42);
}

static const char *message(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The expected message, in a buffer the next call reuses. */
static const char *
message(const char *fmt, ...)
{
	static char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return buf;
}

START_TEST(test_pair_ok)
{
	X509 *with_root[] = { leaf, inter, root, NULL };
	X509 *chain[] = { leaf, inter, NULL };
	X509 *alone[] = { leaf, NULL };
	X509 *const *cases[] = { with_root, chain, alone };
	const char *key = key_write("leaf.key", leaf_key);
	char err[512], warn[512];
	time_t not_after;
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		not_after = 0;
		ck_assert_msg(tlscheck_pair(chain_write("chain.pem", cases[i]),
				  key, now, err, sizeof err, warn, sizeof warn,
				  &not_after) == 0,
		    "case %zu: %s", i, err);
		ck_assert_str_eq(warn, "");
		ck_assert_int_eq(not_after, at(200, 0));
	}
	/* One file, the key before the certificates: each found. */
	key = key_write("combined.pem", leaf_key);
	ck_assert_ptr_nonnull(f = fopen(key, "a"));
	ck_assert_int_eq(PEM_write_X509(f, leaf), 1);
	ck_assert_int_eq(PEM_write_X509(f, inter), 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(tlscheck_pair(key, key, now, err, sizeof err, warn,
			  sizeof warn, NULL) == 0,
	    "%s", err);
}
END_TEST

START_TEST(test_pair_mismatch)
{
	X509 *chain[] = { leaf, inter, NULL };
	const char *cert = chain_write("chain.pem", chain);
	const char *key = key_write("other.key", other_key);

	pair_fails(cert, key,
	    message("%s: certificate does not match key %s", cert, key));
	/* The intermediate's key matches a certificate, not the leaf. */
	key = key_write("inter.key", inter_key);
	pair_fails(cert, key,
	    message("%s: certificate does not match key %s", cert, key));
}
END_TEST

START_TEST(test_chain_order)
{
	EVP_PKEY *impostor_key = tlstest_key();
	/* Named as the intermediate, but another key: the names match. */
	X509 *impostor = tlstest_cert("Test Intermediate", impostor_key, root,
	    root_key, at(-300, 0), at(1000, 0));
	X509 *swapped[] = { leaf, root, inter, NULL };
	X509 *late[] = { leaf, inter, leaf, NULL };
	X509 *forged[] = { leaf, impostor, root, NULL };
	const char *key = key_write("leaf.key", leaf_key);
	const char *cert;

	cert = chain_write("swapped.pem", swapped);
	pair_fails(cert, key,
	    message("%s: chain out of order: certificate 1 is not issued by "
		    "certificate 2", cert));
	cert = chain_write("late.pem", late);
	pair_fails(cert, key,
	    message("%s: chain out of order: certificate 2 is not issued by "
		    "certificate 3", cert));
	cert = chain_write("forged.pem", forged);
	pair_fails(cert, key,
	    message("%s: chain out of order: certificate 1 is not issued by "
		    "certificate 2", cert));
	X509_free(impostor);
	EVP_PKEY_free(impostor_key);
}
END_TEST

START_TEST(test_expired)
{
	X509 *old_leaf = tlstest_cert("localhost", leaf_key, inter, inter_key,
	    at(-100, 0), at(-2, 12));
	X509 *old_inter = tlstest_cert("Test Intermediate", inter_key, root,
	    root_key, at(-300, 0), at(-1, 0));
	X509 *chain1[] = { old_leaf, inter, NULL };
	X509 *chain2[] = { leaf, old_inter, NULL };
	const char *key = key_write("leaf.key", leaf_key);
	const char *cert;

	cert = chain_write("old-leaf.pem", chain1);
	pair_fails(cert, key,
	    message("%s: certificate expired on 2026-11-30", cert));
	cert = chain_write("old-inter.pem", chain2);
	pair_fails(cert, key,
	    message("%s: certificate 2 expired on 2026-12-01", cert));
	X509_free(old_inter);
	X509_free(old_leaf);
}
END_TEST

static const struct {
	int days, hours;     /* the leaf's notAfter from now */
	const char *warning; /* after "<file>: ", or "" */
} expiring[] = {
	{ 8, 12, "certificate expires on 2026-12-10, in 8 days" },
	{ 5, 0, "certificate expires on 2026-12-07, in 5 days" },
	{ 1, 1, "certificate expires on 2026-12-03, in 1 day" },
	{ 0, 3, "certificate expires on 2026-12-02, in less than a day" },
	{ 13, 23, "certificate expires on 2026-12-15, in 13 days" },
	{ 14, 0, "" },
	{ 30, 0, "" },
};

START_TEST(test_expiring)
{
	X509 *soon = tlstest_cert("localhost", leaf_key, inter, inter_key,
	    at(-100, 0), at(expiring[_i].days, expiring[_i].hours));
	X509 *chain[] = { soon, inter, NULL };
	const char *cert = chain_write("chain.pem", chain);
	const char *key = key_write("leaf.key", leaf_key);
	char err[512] = "", warn[512] = "x", want[512] = "";
	time_t not_after = 0;

	ck_assert_msg(tlscheck_pair(cert, key, now, err, sizeof err, warn,
			  sizeof warn, &not_after) == 0,
	    "%s", err);
	if (expiring[_i].warning[0] != '\0')
		snprintf(want, sizeof want, "%s: %s", cert,
		    expiring[_i].warning);
	ck_assert_str_eq(warn, want);
	ck_assert_int_eq(not_after, at(expiring[_i].days, expiring[_i].hours));
	X509_free(soon);
}
END_TEST

/* The first to lapse speaks, whichever it is; not yet valid is a warning. */
START_TEST(test_intermediate_first)
{
	X509 *short_inter = tlstest_cert("Test Intermediate", inter_key, root,
	    root_key, at(-300, 0), at(5, 0));
	X509 *future = tlstest_cert("localhost", leaf_key, inter, inter_key,
	    at(3, 0), at(300, 0));
	X509 *chain[] = { leaf, short_inter, NULL };
	X509 *chain_future[] = { future, inter, NULL };
	const char *key = key_write("leaf.key", leaf_key);
	const char *cert = chain_write("chain.pem", chain);
	char err[512] = "", warn[512] = "", want[512];
	time_t not_after = 0;

	ck_assert_int_eq(tlscheck_pair(cert, key, now, err, sizeof err, warn,
			     sizeof warn, &not_after),
	    0);
	snprintf(want, sizeof want,
	    "%s: certificate 2 expires on 2026-12-07, in 5 days", cert);
	ck_assert_str_eq(warn, want);
	ck_assert_int_eq(not_after, at(5, 0));

	cert = chain_write("future.pem", chain_future);
	ck_assert_int_eq(tlscheck_pair(cert, key, now, err, sizeof err, warn,
			     sizeof warn, &not_after),
	    0);
	snprintf(want, sizeof want,
	    "%s: certificate is not valid before 2026-12-05", cert);
	ck_assert_str_eq(warn, want);
	X509_free(future);
	X509_free(short_inter);
}
END_TEST

START_TEST(test_not_pem)
{
	static const char bad_block[] = "-----BEGIN CERTIFICATE-----\n"
					"AAAA\n"
					"-----END CERTIFICATE-----\n";
	X509 *chain[] = { leaf, NULL };
	const char *good_cert = chain_write("chain.pem", chain);
	const char *good_key = key_write("leaf.key", leaf_key);
	const char *cert, *key;
	FILE *f;

	cert = bytes_write("text.pem", "hello\n", 6);
	pair_fails(cert, good_key, message("%s: no PEM certificate", cert));
	/* A key is no certificate. */
	pair_fails(good_key, good_key,
	    message("%s: no PEM certificate", good_key));
	key = bytes_write("text.key", "hello\n", 6);
	pair_fails(good_cert, key,
	    message("%s: no unencrypted PEM private key", key));
	/* A certificate is no key. */
	pair_fails(good_cert, good_cert,
	    message("%s: no unencrypted PEM private key", good_cert));

	/* A broken second certificate. */
	ck_assert_ptr_nonnull(f = fopen(good_cert, "a"));
	ck_assert_int_gt(fputs(bad_block, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	pair_fails(good_cert, good_key,
	    message("%s: certificate 2 is not valid PEM", good_cert));

	/* Encrypted: refused, never prompted for. */
	key = path_of("encrypted.key");
	ck_assert_ptr_nonnull(f = fopen(key, "w"));
	ck_assert_int_eq(PEM_write_PrivateKey(f, leaf_key, EVP_aes_256_cbc(),
			     (const unsigned char *)"secret", 6, NULL, NULL),
	    1);
	ck_assert_int_eq(fclose(f), 0);
	cert = chain_write("chain2.pem", chain);
	pair_fails(cert, key,
	    message("%s: no unencrypted PEM private key", key));
}
END_TEST

START_TEST(test_missing)
{
	X509 *chain[] = { leaf, NULL };
	const char *cert = chain_write("chain.pem", chain);
	const char *key = key_write("leaf.key", leaf_key);
	const char *none = path_of("none.pem");

	pair_fails(none, key,
	    message("%s: No such file or directory", none));
	pair_fails(cert, none,
	    message("%s: No such file or directory", none));
}
END_TEST

/* Files that are no usable OCSP response, each refused with its reason. */
START_TEST(test_ocsp_refused)
{
	unsigned char *good, *cert_der = NULL, *der = NULL, *padded;
	unsigned char *later;
	char err[512] = "";
	const char *path;
	size_t len = 0, good_len, later_len;
	int n;

	good = ocsp_make(leaf, inter, inter_key,
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, now, &good_len);
	later = ocsp_make(leaf, inter, inter_key,
	    OCSP_RESPONSE_STATUS_TRYLATER, now, &later_len);
	ck_assert_int_gt(n = i2d_X509(leaf, &cert_der), 0);
	ck_assert_ptr_nonnull(padded = malloc(good_len + 1));
	memcpy(padded, good, good_len);
	padded[good_len] = 0;

	const struct {
		const char *name;
		const void *bytes;
		size_t len;
		const char *says;
	} cases[] = {
		{ "empty.der", "", 0, "not a DER OCSP response" },
		{ "text.der", "hello\n", 6, "not a DER OCSP response" },
		{ "cert.der", cert_der, (size_t)n, "not a DER OCSP response" },
		{ "padded.der", padded, good_len + 1,
		    "not a DER OCSP response" },
		{ "later.der", later, later_len,
		    "OCSP response status trylater" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		path = bytes_write(cases[i].name, cases[i].bytes, cases[i].len);
		ck_assert_int_eq(
		    tlscheck_ocsp_load(path, &der, &len, err, sizeof err), -1);
		ck_assert_str_eq(err, message("%s: %s", path, cases[i].says));
		ck_assert_ptr_null(der);
	}
	path = path_of("none.der");
	ck_assert_int_eq(tlscheck_ocsp_load(path, &der, &len, err, sizeof err),
	    -1);
	ck_assert_str_eq(
	    err, message("%s: %s", path, "No such file or directory"));
	ck_assert_int_eq(tlscheck_ocsp_load(dir, &der, &len, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, message("%s: %s", dir, "not a regular file"));

	free(padded);
	OPENSSL_free(cert_der);
	free(later);
	free(good);
}
END_TEST

/*
 * A good response loads byte for byte, staples, and a client that asks
 * for a status gets those bytes in the handshake (TLS 1.2, then 1.3).
 */
START_TEST(test_ocsp_staple)
{
	static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	unsigned char *made, *der = NULL, *got = NULL;
	char err[512] = "";
	size_t made_len, len = 0, got_len = 0;
	const char *path;
	SSL_CTX *server, *client, *bare;
	SSL_SESSION *s;
	int resumed;

	made = ocsp_make(leaf, inter, inter_key,
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, time(NULL), &made_len);
	path = bytes_write("leaf.der", made, made_len);
	ck_assert_msg(tlscheck_ocsp_load(path, &der, &len, err, sizeof err) ==
		0,
	    "%s", err);
	ck_assert_uint_eq(len, made_len);
	ck_assert_int_eq(memcmp(der, made, len), 0);

	server = tlstest_server(leaf, leaf_key, versions[_i]);
	bare = tlstest_server(leaf, leaf_key, versions[_i]);
	ck_assert_ptr_nonnull(client = SSL_CTX_new(TLS_client_method()));
	ck_assert_msg(tlscheck_staple(server, der, len, err, sizeof err) == 0,
	    "%s", err);
	/* The context has its own copy. */
	memset(der, 0, len);
	free(der);

	s = tlstest_connect(server, client, NULL, &resumed, &got, &got_len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got_len, made_len);
	ck_assert_int_eq(memcmp(got, made, made_len), 0);
	free(got);
	SSL_SESSION_free(s);

	s = tlstest_connect(bare, client, NULL, &resumed, &got, &got_len);
	ck_assert_ptr_null(got);
	SSL_SESSION_free(s);

	SSL_CTX_free(client);
	SSL_CTX_free(bare);
	SSL_CTX_free(server);
	free(made);
}
END_TEST

/* A response about another certificate is refused, not stapled. */
START_TEST(test_ocsp_wrong_certificate)
{
	X509 *other = tlstest_cert("other", other_key, inter, inter_key,
	    at(-100, 0), at(200, 0));
	unsigned char *der;
	char err[512] = "";
	size_t len;
	SSL_CTX *server = tlstest_server(leaf, leaf_key, TLS1_3_VERSION);

	der = ocsp_make(other, inter, inter_key,
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, time(NULL), &len);
	ck_assert_int_eq(tlscheck_staple(server, der, len, err, sizeof err), -1);
	ck_assert_str_eq(
	    err, "OCSP response about none of the site's certificates");
	ck_assert_int_eq(tlscheck_staple(server, (const unsigned char *)"x", 1,
			     err, sizeof err),
	    -1);
	ck_assert_str_eq(err, "not a DER OCSP response");
	SSL_CTX_free(server);
	free(der);
	X509_free(other);
}
END_TEST

/*
 * A site with an ECDSA and an RSA certificate, the response about the
 * ECDSA one (loaded first, so not the context's current certificate): a
 * client served the ECDSA certificate gets the staple, one served the RSA
 * certificate does not.
 */
START_TEST(test_ocsp_two_certificates)
{
	EVP_PKEY *rsa_key = EVP_RSA_gen(2048);
	X509 *rsa, *current;
	unsigned char *der, *got;
	char err[512] = "";
	size_t len, got_len;
	SSL_CTX *server, *client;
	SSL_SESSION *s;
	int resumed;

	ck_assert_ptr_nonnull(rsa_key);
	rsa = tlstest_cert("localhost", rsa_key, inter, inter_key,
	    at(-100, 0), at(200, 0));
	server = tlstest_server(leaf, leaf_key, TLS1_3_VERSION);
	ck_assert_int_eq(SSL_CTX_use_certificate(server, rsa), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(server, rsa_key), 1);
	ck_assert_ptr_nonnull(client = SSL_CTX_new(TLS_client_method()));
	der = ocsp_make(leaf, inter, inter_key,
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, time(NULL), &len);

	current = SSL_CTX_get0_certificate(server);
	ck_assert_msg(tlscheck_staple(server, der, len, err, sizeof err) == 0,
	    "%s", err);
	ck_assert_ptr_eq(SSL_CTX_get0_certificate(server), current);

	ck_assert_int_eq(
	    SSL_CTX_set1_sigalgs_list(client, "ecdsa_secp256r1_sha256"), 1);
	s = tlstest_connect(server, client, NULL, &resumed, &got, &got_len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got_len, len);
	ck_assert_int_eq(memcmp(got, der, len), 0);
	free(got);
	SSL_SESSION_free(s);

	ck_assert_int_eq(
	    SSL_CTX_set1_sigalgs_list(client, "rsa_pss_rsae_sha256"), 1);
	s = tlstest_connect(server, client, NULL, &resumed, &got, &got_len);
	ck_assert_ptr_null(got);
	SSL_SESSION_free(s);

	free(der);
	SSL_CTX_free(client);
	SSL_CTX_free(server);
	X509_free(rsa);
	EVP_PKEY_free(rsa_key);
}
END_TEST

/* A response past its nextUpdate is not stapled: no staple beats a stale one. */
START_TEST(test_ocsp_stale)
{
	unsigned char *der, *got = NULL;
	char err[512] = "";
	size_t len, got_len;
	SSL_CTX *server = tlstest_server(leaf, leaf_key, TLS1_3_VERSION);
	SSL_CTX *client = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *s;
	int resumed;

	ck_assert_ptr_nonnull(client);
	der = ocsp_make(leaf, inter, inter_key,
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, time(NULL) - 8 * 86400, &len);
	ck_assert_msg(tlscheck_staple(server, der, len, err, sizeof err) == 0,
	    "%s", err);
	s = tlstest_connect(server, client, NULL, &resumed, &got, &got_len);
	ck_assert_ptr_null(got);
	SSL_SESSION_free(s);
	SSL_CTX_free(client);
	SSL_CTX_free(server);
	free(der);
}
END_TEST

static Suite *
tlscheck_suite(void)
{
	Suite *s = suite_create("tlscheck");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pair_ok);
	tcase_add_test(tc, test_pair_mismatch);
	tcase_add_test(tc, test_chain_order);
	tcase_add_test(tc, test_expired);
	tcase_add_loop_test(
	    tc, test_expiring, 0, sizeof expiring / sizeof expiring[0]);
	tcase_add_test(tc, test_intermediate_first);
	tcase_add_test(tc, test_not_pem);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_ocsp_refused);
	tcase_add_loop_test(tc, test_ocsp_staple, 0, 2);
	tcase_add_test(tc, test_ocsp_wrong_certificate);
	tcase_add_test(tc, test_ocsp_two_certificates);
	tcase_add_test(tc, test_ocsp_stale);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tlscheck_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
