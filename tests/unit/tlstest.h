/*
 * What the TLS unit tests share: keys and certificates made in memory with
 * OpenSSL's API, server contexts, and a whole client/server handshake over
 * a BIO pair in one thread, so a test sees exactly what a client would.
 */
#ifndef TLSTEST_H
#define TLSTEST_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

/* A fresh ECDSA P-256 key. */
EVP_PKEY *tlstest_key(void);
/*
 * A certificate for cn and key, valid from not_before to not_after, signed
 * by issuer (certificate and key), or self-signed when issuer is NULL.
 */
X509 *tlstest_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, time_t not_before, time_t not_after);
/*
 * A server context serving cert with key, at one protocol version (e.g.
 * TLS1_2_VERSION), with no session cache of its own: a session resumes by
 * its ticket or not at all.
 */
SSL_CTX *tlstest_server(X509 *cert, EVP_PKEY *key, int version);
/*
 * One connection from client to server: handshake, resuming session if
 * given, then one record from the server that the client reads (it takes
 * TLS 1.3 tickets in on the way). Returns the client's session afterwards
 * (the caller frees it) and whether this one was resumed, as both ends
 * agree. With staple not NULL the client asks for an OCSP status and
 * *staple is a malloc'd copy of what the server stapled (NULL if nothing).
 */
SSL_SESSION *tlstest_connect(SSL_CTX *server, SSL_CTX *client,
    SSL_SESSION *session, int *resumed, unsigned char **staple,
    size_t *staple_len);
/* The key name that opens session's ticket (its first 16 bytes), as hex. */
void tlstest_ticket_name(SSL_SESSION *session, char hex[33]);

#endif
