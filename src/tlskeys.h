/*
 * The session-ticket key ring: the keys that encrypt and decrypt TLS 1.2
 * and 1.3 session tickets, shared by every reactor and every SSL_CTX of
 * every generation, so a client resumes whichever reactor or site context
 * it reaches. Keys come from a file in nginx's format (so instances behind
 * one balancer resume each other's sessions) or are random and rotated.
 *
 * Lifetime: reference-counted. tlskeys_create hands the caller one
 * reference, each tlskeys_attach gives the SSL_CTX one (dropped when the
 * context is freed), tlskeys_free drops the caller's. A ring replaced on
 * reload thus lives as long as the last connection that was accepted with
 * a context using it.
 */
#ifndef TLSKEYS_H
#define TLSKEYS_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

/* One key in a file: 16 bytes name, 32 HMAC-SHA256, 32 AES-256 (nginx). */
#define TLSKEYS_KEY_BYTES 80
/* Keys a file may hold, the first encrypting (bounds what each lookup scans).
 */
#define TLSKEYS_FILE_MAX 16

struct tlskeys;

/*
 * A ring from file, or random keys when file is NULL that rotate_s later
 * make way for a fresh one (0: never). NULL with err set: the file
 * unreadable, empty, not a whole number of keys or more than
 * TLSKEYS_FILE_MAX of them (the message names the file), or no memory or
 * randomness. Reads the file: call it off the reactor.
 */
struct tlskeys *tlskeys_create(
    const char *file, unsigned rotate_s, char *err, size_t errlen);
/*
 * Makes ctx encrypt its tickets with the ring's first key and decrypt those
 * of any key still in the ring (AES-256-CBC and HMAC-SHA256, as nginx): a
 * ticket under an older key resumes and is replaced by one under the
 * current key. Attach the same ring to every context an SSL may be
 * switched to (SNI): the callback reads the ring of the SSL's current
 * context. 0, or -1 (OpenSSL refused).
 */
int tlskeys_attach(struct tlskeys *, SSL_CTX *ctx);
/*
 * Random keys: once the encrypting key is rotate_s old at now (wall clock,
 * as time(NULL): the first key is stamped so at creation), a fresh one
 * encrypts and the previous two are kept to decrypt (a ticket lives up to
 * three periods). Once per call at most, so call it at least once a period
 * (a timer at a fraction of rotate_s). A key file never rotates: the
 * operator replaces the file and reloads. Safe while handshakes run.
 */
void tlskeys_rotate(struct tlskeys *, time_t now);
/* Drops the caller's reference; NULL is fine. */
void tlskeys_free(struct tlskeys *);

#endif
