/*
 * Session-ticket keys. OpenSSL calls ticket_key_cb on whichever reactor
 * runs a handshake, so the ring is read by every reactor at once and
 * written by the rotation timer: a mutex guards keys, count and born. It
 * is held only to find a key by name (at most TLSKEYS_FILE_MAX compares)
 * and copy its 80 bytes out; the cipher and MAC set-up runs on the copy
 * outside it, so a rotation never changes a key under a handshake and
 * readers wait for one another no longer than a memcpy (a rwlock's own
 * bookkeeping would cost as much). A ticket's layout is OpenSSL's: the key
 * name we give it, the IV, the AES-256-CBC ciphertext, an HMAC-SHA256.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "tlskeys.h"

/* Random keys kept: the one encrypting and the two before it. */
#define TLSKEYS_RANDOM_KEPT 3
/* AES's block; OpenSSL's iv buffer holds EVP_MAX_IV_LENGTH. */
#define AES_CBC_IV_BYTES 16

/* nginx's 80-byte layout, field for field; only bytes, so no padding. */
struct ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};

/* keys[0] encrypts; lock guards keys, count and born. */
struct tlskeys {
	pthread_mutex_t lock;
	struct ticket_key keys[TLSKEYS_FILE_MAX];
	size_t count;
	time_t born;	   /* when keys[0] began to encrypt */
	unsigned rotate_s; /* 0: never (always with a file) */
	int refs;	   /* atomic: the creator's and one per SSL_CTX */
};

static pthread_once_t ring_index_once = PTHREAD_ONCE_INIT;
static int ring_index = -1;

/* A context's reference goes with the context. */
static void
ring_index_free(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	tlskeys_free(ptr);
}

static void
ring_index_make(void)
{
	ring_index =
	    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ring_index_free);
}

/* Up to max bytes of path into buf; more than max is reported as max + 1. */
static int
file_read(const char *path, unsigned char *buf, size_t max, size_t *len,
    char *err, size_t errlen)
{
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (got <= max) {
		n = read(fd, buf + got, max + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

static int
keys_load(struct tlskeys *k, const char *path, char *err, size_t errlen)
{
	unsigned char buf[TLSKEYS_FILE_MAX * TLSKEYS_KEY_BYTES + 1];
	const unsigned char *p;
	size_t len, i;
	int rc = -1;

	if (file_read(path, buf, sizeof buf - 1, &len, err, errlen) == -1)
		return -1;
	if (len > TLSKEYS_FILE_MAX * TLSKEYS_KEY_BYTES) {
		snprintf(err, errlen, "%s: more than %d keys", path,
		    TLSKEYS_FILE_MAX);
		goto out;
	}
	if (len == 0 || len % TLSKEYS_KEY_BYTES != 0) {
		snprintf(err, errlen,
		    "%s: %zu bytes, not a whole number of %d-byte keys", path,
		    len, TLSKEYS_KEY_BYTES);
		goto out;
	}
	for (i = 0; i < len / TLSKEYS_KEY_BYTES; i++) {
		p = buf + i * TLSKEYS_KEY_BYTES;
		memcpy(k->keys[i].name, p, 16);
		memcpy(k->keys[i].hmac, p + 16, 32);
		memcpy(k->keys[i].aes, p + 48, 32);
	}
	k->count = i;
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	return rc;
}

struct tlskeys *
tlskeys_create(const char *file, unsigned rotate_s, char *err, size_t errlen)
{
	struct tlskeys *k;

	if ((k = calloc(1, sizeof *k)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (file != NULL) {
		if (keys_load(k, file, err, errlen) == -1)
			goto fail;
	} else {
		if (RAND_bytes(
			(unsigned char *)&k->keys[0], sizeof k->keys[0]) != 1) {
			snprintf(err, errlen, "no randomness for ticket keys");
			goto fail;
		}
		k->count = 1;
		k->rotate_s = rotate_s;
		k->born = time(NULL);
	}
	if (pthread_mutex_init(&k->lock, NULL) != 0) {
		snprintf(err, errlen, "ticket keys: cannot make a lock");
		goto fail;
	}
	k->refs = 1;
	return k;
fail:
	OPENSSL_cleanse(k->keys, sizeof k->keys);
	free(k);
	return NULL;
}

/*
 * OpenSSL's ticket callback: enc set, a name, an IV and the keys of the
 * encrypting key; else the keys of the key named, 2 (renew) when it is no
 * longer the encrypting one, 0 when the ring no longer has it (a full
 * handshake follows), -1 when OpenSSL fails.
 */
static int
ticket_key_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int enc)
{
	static char digest[] = "SHA256";
	struct tlskeys *k;
	struct ticket_key key;
	OSSL_PARAM params[3];
	size_t i, count;
	int rc = -1;

	k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index);
	if (k == NULL)
		return 0;
	pthread_mutex_lock(&k->lock);
	count = k->count;
	for (i = 0; !enc && i < count; i++)
		if (memcmp(name, k->keys[i].name, sizeof key.name) == 0)
			break;
	if (i < count)
		key = k->keys[i];
	pthread_mutex_unlock(&k->lock);
	if (i == count)
		return 0;

	if (enc) {
		memcpy(name, key.name, sizeof key.name);
		if (RAND_bytes(iv, AES_CBC_IV_BYTES) != 1)
			goto out;
	}
	params[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_MAC_PARAM_KEY, key.hmac, sizeof key.hmac);
	params[1] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_CipherInit_ex(
		cipher, EVP_aes_256_cbc(), NULL, key.aes, iv, enc) != 1 ||
	    EVP_MAC_CTX_set_params(mac, params) != 1)
		goto out;
	rc = (enc || i == 0) ? 1 : 2;
out:
	OPENSSL_cleanse(&key, sizeof key);
	return rc;
}

int
tlskeys_attach(struct tlskeys *k, SSL_CTX *ctx)
{
	struct tlskeys *old;

	pthread_once(&ring_index_once, ring_index_make);
	if (ring_index < 0)
		return -1;
	old = SSL_CTX_get_ex_data(ctx, ring_index);
	if (old != k) {
		__atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
		if (SSL_CTX_set_ex_data(ctx, ring_index, k) != 1) {
			tlskeys_free(k);
			return -1;
		}
		tlskeys_free(old);
	}
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb) == 1
	    ? 0
	    : -1;
}

void
tlskeys_rotate(struct tlskeys *k, time_t now)
{
	struct ticket_key fresh;
	int due;

	if (k->rotate_s == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (now < k->born) /* the clock went back: count from now */
		k->born = now;
	due = now - k->born >= (time_t)k->rotate_s;
	pthread_mutex_unlock(&k->lock);
	/* Without randomness the old key goes on; the next call tries again. */
	if (!due || RAND_bytes((unsigned char *)&fresh, sizeof fresh) != 1)
		return;
	pthread_mutex_lock(&k->lock);
	if (now - k->born >= (time_t)k->rotate_s) {
		memmove(&k->keys[1], &k->keys[0],
		    (TLSKEYS_RANDOM_KEPT - 1) * sizeof k->keys[0]);
		k->keys[0] = fresh;
		if (k->count < TLSKEYS_RANDOM_KEPT)
			k->count++;
		k->born = now;
	}
	pthread_mutex_unlock(&k->lock);
	OPENSSL_cleanse(&fresh, sizeof fresh);
}

void
tlskeys_free(struct tlskeys *k)
{
	if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_destroy(&k->lock);
	OPENSSL_cleanse(k->keys, sizeof k->keys);
	free(k);
}
