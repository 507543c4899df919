/*
 * Checks of the files a TLS site is configured with, made before any of
 * them is used (start-up, reload, `-t`): a certificate chain and its key,
 * and an OCSP response; and the stapling of a checked response. Messages
 * are short and name the file; the caller puts the config's file:line in
 * front. Reads files: call it off the reactor.
 */
#ifndef TLSCHECK_H
#define TLSCHECK_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

/* Certificates a chain file may hold, leaf included. */
#define TLSCHECK_CHAIN_MAX 10
/* Warn this long before a certificate expires. */
#define TLSCHECK_WARN_DAYS 14
/* The largest OCSP response file read (a response is a few KiB). */
#define TLSCHECK_OCSP_MAX (64 * 1024)

/*
 * cert_path (PEM, leaf first, then the intermediates, each issued by the
 * next) against key_path (PEM, unencrypted), at now: both readable and
 * parsed, the key the leaf's, the chain in order and signed, no certificate
 * expired. 0, with warn set to "" or a warning (a certificate expires
 * within TLSCHECK_WARN_DAYS, or is not valid yet); -1 with err set.
 * *not_after (may be NULL): the earliest notAfter of the chain (the leaf's
 * unless an intermediate lapses first), for the expiry metric.
 */
int tlscheck_pair(const char *cert_path, const char *key_path, time_t now,
    char *err, size_t errlen, char *warn, size_t warnlen, time_t *not_after);
/*
 * Reads path, a DER OCSP response with status successful, into *der
 * (malloc'd, the caller frees it) and *len. 0, or -1 with err set.
 */
int tlscheck_ocsp_load(const char *path, unsigned char **der, size_t *len,
    char *err, size_t errlen);
/*
 * Staples der (a response tlscheck_ocsp_load accepted) to each handshake
 * on ctx whose client asks for a status and is served the certificate the
 * response is about, until the response's nextUpdate (a stale staple
 * fails some clients; none does not); ctx keeps its own copy until it is
 * freed or this is
 * called again. Call it once ctx has its certificates and before it serves
 * (the callback reads the copy unlocked). 0, or -1 with err
 * set: the response is about none of ctx's certificates, or no memory.
 */
int tlscheck_staple(SSL_CTX *ctx, const unsigned char *der, size_t len,
    char *err, size_t errlen);

#endif
