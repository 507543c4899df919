/*
 * TLS contexts. Each SSL_CTX gets the same settings (protocols, ciphers,
 * groups, ALPN, the SNI callback) and one site's certificates: up to
 * CONFIG_TLS_PAIRS_MAX pairs, one per key type, so an ECDSA and an RSA
 * certificate can be offered together and OpenSSL picks by what the
 * client supports.
 *
 * Threads: a context is built on one thread and then only read, by every
 * reactor at once (SSL_new, SSL_set_SSL_CTX), which OpenSSL allows. The
 * server-side session cache is off, so no handshake takes its lock:
 * resumption is by tickets, which need no server state.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "tlscheck.h"
#include "tlskeys.h"

/* Mozilla's "intermediate" profile (TLS 1.2 part), as the design says. */
#define TLS_CIPHERS_DEFAULT                                                    \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"           \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"                 \
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS_DEFAULT "X25519:prime256v1:secp384r1"

struct tls {
	const struct config *cfg; /* outlives this: the generation's */
	SSL_CTX *contexts[CONFIG_SITES_MAX]; /* NULL: the default site's */
	time_t not_after[CONFIG_SITES_MAX];  /* the first to lapse; 0: none */
	/*
	 * The ticket key ring; NULL: tls_session_tickets = false. The
	 * contexts hold its references, so it lives as long as they do.
	 */
	struct tlskeys *keys;
	int keys_random; /* made here, not read from a file */
	unsigned keys_rotate_s;
};

static int tls_fail(const struct config *cfg, int line, char *err,
    size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void tls_warn(const struct config *cfg, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* buf gets "file:line: " where the file says it, then the message. */
static void
where_format(const struct config *cfg, int line, char *buf, size_t len,
    const char *fmt, va_list ap)
{
	int n = 0;

	if (cfg->path != NULL && line > 0)
		n = snprintf(buf, len, "%s:%d: ", cfg->path, line);
	if (n < 0 || (size_t)n >= len)
		return;
	vsnprintf(buf + n, len - n, fmt, ap);
}

static int
tls_fail(const struct config *cfg, int line, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	where_format(cfg, line, err, errlen, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return -1;
}

/* Logged where the configuration is loaded: start-up, reload, -t. */
static void
tls_warn(const struct config *cfg, int line, const char *fmt, ...)
{
	char msg[CONFIG_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	where_format(cfg, line, msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("%s", msg);
}

/* What OpenSSL's error queue says last, for a message. */
static const char *
ssl_reason(void)
{
	const char *reason = ERR_reason_error_string(ERR_peek_last_error());

	return reason != NULL ? reason : "unknown error";
}

/*
 * Whether HTTP/2 may run on the session's cipher: RFC 9113 9.2.2 forbids
 * TLS 1.2 suites without an AEAD or an ephemeral key exchange, and a
 * client that sees one closes with INADEQUATE_SECURITY. OpenSSL calls the
 * ALPN callback once TLS 1.2's cipher is chosen, for that reason.
 */
static int
h2_cipher_allowed(const SSL *ssl)
{
	const SSL_CIPHER *c;
	int kx;

	if (SSL_version(ssl) >= TLS1_3_VERSION)
		return 1;
	if ((c = SSL_get_pending_cipher(ssl)) == NULL || !SSL_CIPHER_is_aead(c))
		return 0;
	kx = SSL_CIPHER_get_kx_nid(c);
	return kx == NID_kx_ecdhe || kx == NID_kx_dhe;
}

/*
 * h2 when the client offers it, the generation has h2 on and the cipher
 * allows it, else http/1.1 (our order wins: a client listing http/1.1
 * first still gets HTTP/2); no ALPN answer otherwise.
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x02h2\x08http/1.1";
	const struct tls *tls = arg;
	unsigned char *selected;
	size_t skip = tls->cfg->h2 && h2_cipher_allowed(ssl) ? 0 : 3;

	if (SSL_select_next_proto(&selected, outlen, ours + skip,
		sizeof ours - 1 - skip, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = selected;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * SNI: the session moves to the context of the site the client names,
 * when that site has certificates of its own. A name no site has, or
 * none, keeps the default site's.
 */
static int
servername_select(SSL *ssl, int *alert, void *arg)
{
	struct tls *tls = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t site, len;

	if (name == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	site = config_site_find(tls->cfg, name, len);
	if (site > 0 && tls->contexts[site] != NULL &&
	    SSL_set_SSL_CTX(ssl, tls->contexts[site]) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* Protocols, ciphers, groups, ALPN, SNI: what every context shares. */
static SSL_CTX *
context_new(struct tls *tls, char *err, size_t errlen)
{
	const struct tls_config *tc = &tls->cfg->tls;
	const char *ciphers =
	    tc->ciphers != NULL ? tc->ciphers : TLS_CIPHERS_DEFAULT;
	const char *groups =
	    tc->groups != NULL ? tc->groups : TLS_GROUPS_DEFAULT;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_fail(tls->cfg, 0, err, errlen, "TLS: out of memory");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx,
	    tc->protocols & CONFIG_TLS_1_2 ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx,
	    tc->protocols & CONFIG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/*
	 * A client closing without close_notify is an end of stream like
	 * any other (HTTP/1.1 frames its own messages); renegotiation is a
	 * way to make the server work that no browser needs.
	 */
	SSL_CTX_set_options(ctx,
	    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
		SSL_OP_NO_COMPRESSION);
	/*
	 * Our order, strongest first, except that a client putting ChaCha20
	 * first (a phone without AES instructions) gets it: what testssl.sh
	 * asks for, at no cost to such clients.
	 */
	if (tc->prefer_server_ciphers)
		SSL_CTX_set_options(ctx,
		    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
	/*
	 * Buffers only while a record is in flight: an idle connection holds
	 * none. Partial writes let transport_tls.c count each record out.
	 */
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * A record in one read, not its 5-byte header first and its body
	 * in a second: what is read past it waits in OpenSSL's buffer, which
	 * transport_tls.c asks about (SSL_has_pending) before it parks.
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		tls_fail(tls->cfg, tc->ciphers_line, err, errlen,
		    "tls_ciphers: nothing usable in \"%s\"", ciphers);
		goto fail;
	}
	if (tc->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, tc->ciphersuites) != 1) {
		tls_fail(tls->cfg, tc->ciphersuites_line, err, errlen,
		    "tls_ciphersuites: nothing usable in \"%s\"",
		    tc->ciphersuites);
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(ctx, groups) != 1) {
		tls_fail(tls->cfg, tc->groups_line, err, errlen,
		    "tls_groups: nothing usable in \"%s\"", groups);
		goto fail;
	}
	/* The DHE suites of the default list need parameters. */
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, tls);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_select);
	SSL_CTX_set_tlsext_servername_arg(ctx, tls);
	SSL_CTX_set_session_id_context(
	    ctx, (const unsigned char *)PACKAGE_NAME, sizeof PACKAGE_NAME - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!tc->session_tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * One certificate chain and its key into ctx, once OpenSSL takes them
 * checked for what it does not refuse: the chain's order and expiry
 * (tlscheck). A key readable by others, or a certificate that lapses
 * within TLSCHECK_WARN_DAYS, is loaded with a warning: refusing it would
 * stop a running site at reload.
 */
static int
pair_load(
    struct tls *tls, SSL_CTX *ctx, size_t s, size_t i, char *err, size_t errlen)
{
	const struct site_config *site = &tls->cfg->sites[s];
	char why[CONFIG_ERROR_MAX], warn[CONFIG_ERROR_MAX];
	time_t not_after;
	const char *cert = site->tls_certificate.paths[i];
	const char *key = site->tls_certificate_key.paths[i];
	const char *cert_name = site->tls_line > 0 ? "tls_certificate" : "-C";
	const char *key_name =
	    site->tls_line > 0 ? "tls_certificate_key" : "-K";
	unsigned long e;
	struct stat st;

	if (access(cert, R_OK) == -1)
		return tls_fail(tls->cfg, site->tls_line, err, errlen,
		    "%s %s: %s", cert_name, cert, strerror(errno));
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return tls_fail(tls->cfg, site->tls_line, err, errlen,
		    "%s %s: %s", cert_name, cert, ssl_reason());
	if (access(key, R_OK) == -1)
		return tls_fail(tls->cfg, site->tls_line, err, errlen,
		    "%s %s: %s", key_name, key, strerror(errno));
	if (stat(key, &st) == 0 && (st.st_mode & S_IROTH))
		tls_warn(tls->cfg, site->tls_line,
		    "%s %s is readable by every user: chmod o-r it, "
		    "or pass it with LoadCredential=",
		    key_name, key);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
			ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH))
			goto mismatch;
		return tls_fail(tls->cfg, site->tls_line, err, errlen,
		    "%s %s: %s", key_name, key, ssl_reason());
	}
	/* A key of another type than the certificate's lands beside it. */
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto mismatch;
	if (tlscheck_pair(cert, key, time(NULL), why, sizeof why, warn,
		sizeof warn, &not_after) == -1)
		return tls_fail(tls->cfg, site->tls_line, err, errlen, "%s %s",
		    cert_name, why);
	if (warn[0] != '\0')
		tls_warn(tls->cfg, site->tls_line, "%s %s", cert_name, warn);
	if (tls->not_after[s] == 0 || not_after < tls->not_after[s])
		tls->not_after[s] = not_after;
	return 0;
mismatch:
	return tls_fail(tls->cfg, site->tls_line, err, errlen,
	    "%s %s does not match %s %s", key_name, key, cert_name, cert);
}

/*
 * The site's OCSP response, checked, stapled to the handshakes its
 * certificate is served in. Read with the contexts, so a reload re-reads
 * the file the operator refreshes.
 */
static int
staple_load(struct tls *tls, SSL_CTX *ctx, const struct site_config *site,
    char *err, size_t errlen)
{
	const char *path = site->tls_ocsp_response;
	char why[CONFIG_ERROR_MAX];
	unsigned char *der;
	size_t len;
	int rc;

	if (tlscheck_ocsp_load(path, &der, &len, why, sizeof why) == -1)
		return tls_fail(tls->cfg, site->tls_ocsp_line, err, errlen,
		    "tls_ocsp_response %s", why);
	rc = tlscheck_staple(ctx, der, len, why, sizeof why);
	free(der);
	if (rc == -1)
		return tls_fail(tls->cfg, site->tls_ocsp_line, err, errlen,
		    "tls_ocsp_response %s: %s", path, why);
	return 0;
}

/*
 * The ring every context gets: prev's random one, or a new one, whose
 * creator's reference the caller drops once the contexts hold theirs.
 */
static struct tlskeys *
keys_get(struct tls *tls, const struct tls *prev, int *created, char *err,
    size_t errlen)
{
	const struct tls_config *tc = &tls->cfg->tls;
	char why[CONFIG_ERROR_MAX];
	struct tlskeys *keys;

	tls->keys_random = tc->ticket_key_file == NULL;
	tls->keys_rotate_s = tc->ticket_key_rotate_s;
	*created = 0;
	if (prev != NULL && prev->keys != NULL && prev->keys_random &&
	    tls->keys_random && prev->keys_rotate_s == tls->keys_rotate_s)
		return prev->keys;
	if ((keys = tlskeys_create(tc->ticket_key_file,
		 tls->keys_random ? tc->ticket_key_rotate_s : 0, why,
		 sizeof why)) == NULL) {
		tls_fail(tls->cfg, tc->ticket_key_file_line, err, errlen,
		    "%s%s", tls->keys_random ? "TLS: " : "tls_ticket_key_file ",
		    why);
		return NULL;
	}
	*created = 1;
	return keys;
}

struct tls *
tls_create(
    const struct config *cfg, const struct tls *prev, char *err, size_t errlen)
{
	const struct site_config *site;
	struct tlskeys *keys = NULL;
	struct tls *tls;
	int created = 0;
	size_t i, j;

	if ((tls = calloc(1, sizeof *tls)) == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return NULL;
	}
	tls->cfg = cfg;
	if (cfg->tls.session_tickets &&
	    (keys = keys_get(tls, prev, &created, err, errlen)) == NULL)
		goto fail;
	for (i = 0; i < cfg->site_count; i++) {
		site = &cfg->sites[i];
		if (site->tls_certificate.count == 0 &&
		    site->tls_ocsp_response != NULL) {
			tls_fail(cfg, site->tls_ocsp_line, err, errlen,
			    "tls_ocsp_response: the block has no "
			    "tls_certificate of its own to staple it to");
			goto fail;
		}
		if (site->tls_certificate.count == 0)
			continue;
		if ((tls->contexts[i] = context_new(tls, err, errlen)) == NULL)
			goto fail;
		for (j = 0; j < site->tls_certificate.count; j++)
			if (pair_load(
				tls, tls->contexts[i], i, j, err, errlen) == -1)
				goto fail;
		/* Every context: SNI may move a session to any of them. */
		if (keys != NULL &&
		    tlskeys_attach(keys, tls->contexts[i]) == -1) {
			tls_fail(cfg, 0, err, errlen,
			    "TLS: the ticket keys were refused");
			goto fail;
		}
		if (site->tls_ocsp_response != NULL &&
		    staple_load(tls, tls->contexts[i], site, err, errlen) == -1)
			goto fail;
	}
	if (tls->contexts[0] == NULL) {
		snprintf(err, errlen,
		    "TLS: no tls_certificate for the default site");
		goto fail;
	}
	tls->keys = keys;
	if (created)
		tlskeys_free(keys);
	return tls;
fail:
	if (created)
		tlskeys_free(keys);
	tls_free(tls);
	return NULL;
}

void
tls_free(struct tls *tls)
{
	size_t i;

	if (tls == NULL)
		return;
	for (i = 0; i < CONFIG_SITES_MAX; i++)
		SSL_CTX_free(tls->contexts[i]);
	free(tls);
}

time_t
tls_not_after(const struct tls *tls, size_t site)
{
	return tls->not_after[site];
}

void
tls_rotate(struct tls *tls, time_t now)
{
	if (tls != NULL && tls->keys != NULL)
		tlskeys_rotate(tls->keys, now);
}

struct ssl_st *
tls_session_new(struct tls *tls, int fd)
{
	SSL *ssl;

	if ((ssl = SSL_new(tls->contexts[0])) == NULL)
		goto fail;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		goto fail;
	}
	SSL_set_accept_state(ssl);
	return ssl;
fail:
	ERR_clear_error();
	return NULL;
}
