/*
 * TLS file checks. A chain is checked the way a client will see it: each
 * certificate issued and signed by the next one in the file, none expired,
 * the key the leaf's, so a mistake is an error at start-up or reload
 * naming the file rather than handshakes failing later. OpenSSL's error
 * queue is cleared on the way out: these run on pool threads, whose queue
 * the next TLS call on that thread would otherwise misread.
 *
 * Stapling: the response lives in the SSL_CTX's ex_data with the leaf it
 * is about, written only before the context serves (a reload builds new
 * contexts), so the status callback reads it without a lock and gives
 * OpenSSL a copy per handshake (OpenSSL frees what it is given).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tlscheck.h"

#define DAY_S 86400

struct staple {
	X509 *leaf; /* the certificate the response is about; a reference */
	unsigned char *der;
	size_t len;
	time_t next_update; /* 0: the response gives none */
};

static pthread_once_t staple_index_once = PTHREAD_ONCE_INIT;
static int staple_index = -1;

/* An encrypted key is refused, never prompted for. */
static int
nopass(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* "2026-11-30", UTC. */
static void
day_format(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "(a date out of range)");
	else
		snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday);
}

static int
asn1_time_get(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* A PEM file through a BIO, with the reason it cannot be read. */
static BIO *
pem_open(const char *path, char *err, size_t errlen)
{
	FILE *f;
	BIO *bio;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((bio = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
	}
	return bio;
}

/* Every certificate of path into chain; *n of them, which the caller frees. */
static int
chain_load(const char *path, X509 **chain, int *n, char *err, size_t errlen)
{
	BIO *bio;
	X509 *x;
	unsigned long e;
	int rc = -1;

	*n = 0;
	if ((bio = pem_open(path, err, errlen)) == NULL)
		return -1;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, nopass, NULL)) != NULL) {
		if (*n == TLSCHECK_CHAIN_MAX) {
			X509_free(x);
			snprintf(err, errlen, "%s: more than %d certificates",
			    path, TLSCHECK_CHAIN_MAX);
			goto out;
		}
		chain[(*n)++] = x;
	}
	/* A clean end of the file reads as "no start line". */
	e = ERR_peek_last_error();
	if (*n == 0)
		snprintf(err, errlen, "%s: no PEM certificate", path);
	else if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		snprintf(err, errlen, "%s: certificate %d is not valid PEM",
		    path, *n + 1);
	else
		rc = 0;
out:
	BIO_free(bio);
	return rc;
}

static EVP_PKEY *
key_load(const char *path, char *err, size_t errlen)
{
	BIO *bio;
	EVP_PKEY *key;

	if ((bio = pem_open(path, err, errlen)) == NULL)
		return NULL;
	if ((key = PEM_read_bio_PrivateKey(bio, NULL, nopass, NULL)) == NULL)
		snprintf(
		    err, errlen, "%s: no unencrypted PEM private key", path);
	BIO_free(bio);
	return key;
}

/* "certificate" for the leaf, "certificate 2" for the next. */
static void
cert_label(int i, char *buf, size_t len)
{
	if (i == 0)
		snprintf(buf, len, "certificate");
	else
		snprintf(buf, len, "certificate %d", i + 1);
}

/*
 * Validity of each certificate at now: an error when one has expired, a
 * warning when one is not valid yet or the first to lapse does so within
 * TLSCHECK_WARN_DAYS; *first_lapse is when that is.
 */
static int
chain_dates(const char *path, X509 **chain, int n, time_t now,
    time_t *first_lapse, char *err, size_t errlen, char *warn, size_t warnlen)
{
	char label[32], day[32];
	time_t from, until;
	int i, first = 0;
	long days;

	for (i = 0; i < n; i++) {
		cert_label(i, label, sizeof label);
		if (asn1_time_get(X509_get0_notBefore(chain[i]), &from) == -1 ||
		    asn1_time_get(X509_get0_notAfter(chain[i]), &until) == -1) {
			snprintf(err, errlen, "%s: %s has unreadable dates",
			    path, label);
			return -1;
		}
		if (until < now) {
			day_format(until, day, sizeof day);
			snprintf(err, errlen, "%s: %s expired on %s", path,
			    label, day);
			return -1;
		}
		if (from > now && warn[0] == '\0') {
			day_format(from, day, sizeof day);
			snprintf(warn, warnlen, "%s: %s is not valid before %s",
			    path, label, day);
		}
		if (i == 0 || until < *first_lapse) {
			*first_lapse = until;
			first = i;
		}
	}
	days = (long)((*first_lapse - now) / DAY_S);
	if (days < TLSCHECK_WARN_DAYS && warn[0] == '\0') {
		cert_label(first, label, sizeof label);
		day_format(*first_lapse, day, sizeof day);
		if (days == 0)
			snprintf(warn, warnlen,
			    "%s: %s expires on %s, in less than a day", path,
			    label, day);
		else
			snprintf(warn, warnlen,
			    "%s: %s expires on %s, in %ld %s", path, label, day,
			    days, days == 1 ? "day" : "days");
	}
	return 0;
}

int
tlscheck_pair(const char *cert_path, const char *key_path, time_t now,
    char *err, size_t errlen, char *warn, size_t warnlen, time_t *not_after)
{
	X509 *chain[TLSCHECK_CHAIN_MAX];
	EVP_PKEY *key = NULL;
	time_t lapse = 0;
	int n = 0, i, rc = -1;

	if (warnlen > 0)
		warn[0] = '\0';
	if (chain_load(cert_path, chain, &n, err, errlen) == -1 ||
	    (key = key_load(key_path, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(chain[0]), key) != 1) {
		snprintf(err, errlen, "%s: certificate does not match key %s",
		    cert_path, key_path);
		goto out;
	}
	for (i = 0; i + 1 < n; i++) {
		if (X509_check_issued(chain[i + 1], chain[i]) != X509_V_OK ||
		    X509_verify(chain[i], X509_get0_pubkey(chain[i + 1])) !=
			1) {
			snprintf(err, errlen,
			    "%s: chain out of order: certificate %d is not "
			    "issued by certificate %d",
			    cert_path, i + 1, i + 2);
			goto out;
		}
	}
	if (chain_dates(cert_path, chain, n, now, &lapse, err, errlen, warn,
		warnlen) == -1)
		goto out;
	if (not_after != NULL)
		*not_after = lapse;
	rc = 0;
out:
	EVP_PKEY_free(key);
	while (n > 0)
		X509_free(chain[--n]);
	ERR_clear_error();
	return rc;
}

/* The whole of path, up to TLSCHECK_OCSP_MAX bytes, into *buf (malloc'd). */
static int
file_slurp(const char *path, unsigned char **buf, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size > TLSCHECK_OCSP_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    TLSCHECK_OCSP_MAX);
		goto fail;
	}
	/* One byte more than needed: malloc(0) may be NULL. */
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break; /* shrunk meanwhile: the parse judges */
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
fail:
	free(*buf);
	*buf = NULL;
	if (fd != -1)
		close(fd);
	return -1;
}

int
tlscheck_ocsp_load(const char *path, unsigned char **der, size_t *len,
    char *err, size_t errlen)
{
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *basic = NULL;
	const unsigned char *p;
	unsigned char *buf;
	size_t got;
	int status, rc = -1;

	if (file_slurp(path, &buf, &got, err, errlen) == -1)
		return -1;
	p = buf;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)got)) == NULL ||
	    p != buf + got) {
		snprintf(err, errlen, "%s: not a DER OCSP response", path);
		goto out;
	}
	status = OCSP_response_status(resp);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(err, errlen, "%s: OCSP response status %s", path,
		    OCSP_response_status_str(status));
		goto out;
	}
	if ((basic = OCSP_response_get1_basic(resp)) == NULL ||
	    OCSP_resp_count(basic) < 1) {
		snprintf(err, errlen, "%s: OCSP response about no certificate",
		    path);
		goto out;
	}
	*der = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	free(buf);
	ERR_clear_error();
	return rc;
}

static void
staple_free(struct staple *s)
{
	if (s == NULL)
		return;
	X509_free(s->leaf);
	free(s->der);
	free(s);
}

static void
staple_index_free(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	staple_free(ptr);
}

static void
staple_index_make(void)
{
	staple_index =
	    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, staple_index_free);
}

/*
 * Whether a response's CertID is x's: its serial number and the hash of
 * its issuer's name (issuer and serial name a certificate, RFC 5280 4.1.2.2;
 * the issuer key hash would need the issuer's certificate).
 */
static int
certid_is(const OCSP_CERTID *id, X509 *x)
{
	ASN1_OCTET_STRING *name_hash;
	ASN1_OBJECT *md_name;
	ASN1_INTEGER *serial;
	const EVP_MD *md;
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int n;

	if (OCSP_id_get0_info(
		&name_hash, &md_name, NULL, &serial, (OCSP_CERTID *)id) != 1 ||
	    ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(x)) != 0)
		return 0;
	if ((md = EVP_get_digestbyobj(md_name)) == NULL ||
	    X509_NAME_digest(X509_get_issuer_name(x), md, hash, &n) != 1)
		return 0;
	return (int)n == ASN1_STRING_length(name_hash) &&
	    memcmp(hash, ASN1_STRING_get0_data(name_hash), n) == 0;
}

/* The certificate of ctx that basic is about, or NULL; *single its answer. */
static X509 *
staple_leaf(SSL_CTX *ctx, OCSP_BASICRESP *basic, OCSP_SINGLERESP **single)
{
	X509 *current, *x, *leaf = NULL;
	int more, i;

	/* Walking the certificates moves ctx's current one: put it back. */
	current = SSL_CTX_get0_certificate(ctx);
	for (more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
	     more && leaf == NULL;
	     more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
		x = SSL_CTX_get0_certificate(ctx);
		for (i = 0; i < OCSP_resp_count(basic) && leaf == NULL; i++) {
			*single = OCSP_resp_get0(basic, i);
			if (certid_is(OCSP_SINGLERESP_get0_id(*single), x))
				leaf = x;
		}
	}
	for (more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
	     more && SSL_CTX_get0_certificate(ctx) != current;
	     more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
		;
	return leaf;
}

/*
 * OpenSSL's status callback: the staple, if it is about the certificate
 * sent and still current. A response past its nextUpdate is left out, as
 * if there were none, because some clients (Firefox) refuse a connection
 * with a stale one while they accept one without.
 */
static int
staple_cb(SSL *ssl, void *arg)
{
	struct staple *s;
	unsigned char *copy;

	s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), staple_index);
	if (s == NULL || SSL_get_certificate(ssl) != s->leaf ||
	    (s->next_update != 0 && time(NULL) > s->next_update))
		return SSL_TLSEXT_ERR_NOACK;
	if ((copy = OPENSSL_malloc(s->len)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	memcpy(copy, s->der, s->len);
	if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)s->len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

int
tlscheck_staple(SSL_CTX *ctx, const unsigned char *der, size_t len, char *err,
    size_t errlen)
{
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *basic = NULL;
	OCSP_SINGLERESP *single = NULL;
	ASN1_GENERALIZEDTIME *next_update = NULL;
	struct staple *s = NULL, *old;
	const unsigned char *p = der;
	X509 *leaf;
	int rc = -1;

	pthread_once(&staple_index_once, staple_index_make);
	if (staple_index < 0) {
		snprintf(err, errlen, "OpenSSL: no room for an OCSP staple");
		return -1;
	}
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    (basic = OCSP_response_get1_basic(resp)) == NULL) {
		snprintf(err, errlen, "not a DER OCSP response");
		goto out;
	}
	if ((leaf = staple_leaf(ctx, basic, &single)) == NULL) {
		snprintf(err, errlen,
		    "OCSP response about none of the site's certificates");
		goto out;
	}
	if ((s = calloc(1, sizeof *s)) == NULL ||
	    (s->der = malloc(len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(s->der, der, len);
	s->len = len;
	OCSP_single_get0_status(single, NULL, NULL, NULL, &next_update);
	if (next_update != NULL &&
	    asn1_time_get(next_update, &s->next_update) == -1) {
		snprintf(err, errlen, "OCSP response with a bad nextUpdate");
		goto out;
	}
	X509_up_ref(leaf);
	s->leaf = leaf;
	old = SSL_CTX_get_ex_data(ctx, staple_index);
	if (SSL_CTX_set_ex_data(ctx, staple_index, s) != 1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	s = NULL;
	staple_free(old);
	SSL_CTX_set_tlsext_status_cb(ctx, staple_cb);
	rc = 0;
out:
	staple_free(s);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return rc;
}
