/*
 * The TLS unit tests' certificates and in-memory handshakes. Everything
 * runs in the test's one thread: the two ends take turns over a BIO pair
 * until both are done, a bounded number of times.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tlstest.h"

/* Turns each end gets; a handshake takes a handful. */
#define HANDSHAKE_TURNS 32

EVP_PKEY *
tlstest_key(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");

	ck_assert_ptr_nonnull(key);
	return key;
}

X509 *
tlstest_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, time_t not_before, time_t not_after)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509_NAME *name;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	ck_assert_ptr_nonnull(
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &not_before));
	ck_assert_ptr_nonnull(
	    X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &not_after));
	ck_assert_int_eq(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
			     (const unsigned char *)cn, -1, -1, 0),
	    1);
	ck_assert_int_eq(X509_set_issuer_name(x,
			     issuer != NULL ? X509_get_subject_name(issuer)
					    : name),
	    1);
	ck_assert_int_gt(
	    X509_sign(x, issuer != NULL ? issuer_key : key, EVP_sha256()), 0);
	return x;
}

SSL_CTX *
tlstest_server(X509 *cert, EVP_PKEY *key, int version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, version), 1);
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, version), 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

/* One step of an end's handshake: 1 done, 0 to go on; fails the test else. */
static int
step(SSL *ssl, const char *who)
{
	int rc = SSL_do_handshake(ssl), e;

	if (rc == 1)
		return 1;
	e = SSL_get_error(ssl, rc);
	ck_assert_msg(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
	    "%s handshake: SSL error %d", who, e);
	return 0;
}

SSL_SESSION *
tlstest_connect(SSL_CTX *server_ctx, SSL_CTX *client_ctx, SSL_SESSION *session,
    int *resumed, unsigned char **staple, size_t *staple_len)
{
	SSL *client, *server;
	BIO *client_bio, *server_bio;
	SSL_SESSION *after;
	const unsigned char *p;
	char buf[16];
	long n;
	int i, client_done = 0, server_done = 0;

	client = SSL_new(client_ctx);
	server = SSL_new(server_ctx);
	ck_assert_ptr_nonnull(client);
	ck_assert_ptr_nonnull(server);
	ck_assert_int_eq(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
	SSL_set_bio(client, client_bio, client_bio);
	SSL_set_bio(server, server_bio, server_bio);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	if (session != NULL)
		ck_assert_int_eq(SSL_set_session(client, session), 1);
	if (staple != NULL)
		ck_assert_int_eq(SSL_set_tlsext_status_type(
				     client, TLSEXT_STATUSTYPE_ocsp),
		    1);

	for (i = 0; i < HANDSHAKE_TURNS && !(client_done && server_done);
	     i++) {
		if (!client_done)
			client_done = step(client, "client");
		if (!server_done)
			server_done = step(server, "server");
	}
	ck_assert_msg(client_done && server_done, "handshake unfinished");
	ck_assert_int_eq(SSL_write(server, "ping", 4), 4);
	ck_assert_int_eq(SSL_read(client, buf, sizeof buf), 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);

	*resumed = SSL_session_reused(client);
	ck_assert_int_eq(SSL_session_reused(server), *resumed);
	if (staple != NULL) {
		*staple = NULL;
		*staple_len = 0;
		n = SSL_get_tlsext_status_ocsp_resp(client, &p);
		if (n > 0 && p != NULL) {
			*staple = malloc((size_t)n);
			ck_assert_ptr_nonnull(*staple);
			memcpy(*staple, p, (size_t)n);
			*staple_len = (size_t)n;
		}
	}
	after = SSL_get1_session(client);
	ck_assert_ptr_nonnull(after);
	/* A session shut down cleanly stays resumable. */
	SSL_shutdown(client);
	SSL_shutdown(server);
	SSL_free(client);
	SSL_free(server);
	return after;
}

void
tlstest_ticket_name(SSL_SESSION *session, char hex[33])
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *ticket;
	size_t len, i;

	SSL_SESSION_get0_ticket(session, &ticket, &len);
	ck_assert_uint_ge(len, 16);
	for (i = 0; i < 16; i++) {
		hex[2 * i] = digits[ticket[i] >> 4];
		hex[2 * i + 1] = digits[ticket[i] & 15];
	}
	hex[32] = '\0';
}
