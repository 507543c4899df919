/*
 * TLS contexts: everything OpenSSL outside the byte path. A generation
 * has one SSL_CTX for the default site and one for each server block with
 * a certificate of its own; a connection's session starts in the default
 * site's, and the servername callback moves it to the site its client
 * names (SNI), matched by the same names as Host. Building them reads the
 * certificate and key files, so it runs where the generation is built: on
 * an I/O thread, or at start-up before privileges are dropped. A session
 * holds a reference to its SSL_CTX, so a connection keeps the certificate
 * it was accepted with across reloads.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>
#include <time.h>

struct config;
struct ssl_st;

struct tls;

/*
 * The contexts for cfg's sites, which must outlive them; NULL with err set
 * ("file:line: message" for what the file says) when a certificate or
 * key cannot be loaded, a key does not match its certificate, a chain is
 * out of order or a certificate expired (tlscheck), a cipher,
 * suite or group list is refused, or the ticket key file is bad. Every
 * context gets the same ticket key ring: prev's (may be NULL; it must
 * live until this returns) when both make their keys themselves with the
 * same tls_ticket_key_rotate_s, so tickets issued before a reload resume
 * after it; else a new one (a key file is read again: the operator
 * replaces it and reloads).
 */
struct tls *tls_create(
    const struct config *cfg, const struct tls *prev, char *err, size_t errlen);
void tls_free(struct tls *);
/*
 * When the first of site's certificates lapses (the earliest notAfter of
 * its chains); 0 when it has none of its own.
 */
time_t tls_not_after(const struct tls *, size_t site);
/* Rotates the ticket keys when they are due; NULL or no ring is fine. */
void tls_rotate(struct tls *, time_t now);
/* A server session on the socket fd; NULL when memory is short. */
struct ssl_st *tls_session_new(struct tls *, int fd);

#endif
