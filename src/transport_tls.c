/*
 * The TLS transport: the transport ops over an OpenSSL session on the
 * connection's non-blocking socket. OpenSSL reads and writes the socket
 * itself; where it would wait (WANT_READ, WANT_WRITE) the op fails with
 * EAGAIN and names the readiness to wait for, so the handshake and every
 * record go through the same await calls as the plain socket's bytes, on
 * the connection's coroutine. No OpenSSL call yields, so sessions on one
 * reactor never interleave inside one; OpenSSL's error queue is per
 * thread, and is emptied after every failure so that a connection never
 * reads another's error.
 *
 * There is no sendfile: the bytes must be encrypted here (kTLS, which
 * would let the kernel do it, is not available on the kernels we test
 * on), so handlers copy them through their chunk buffer.
 *
 * OpenSSL reads the socket itself, but writes its records through a BIO
 * of ours: a writev of several records (a 64 KiB chunk is five) gathers
 * them in t->out and sends them at its end with one send, which costs
 * less than five sends (a third less CPU per 64 KiB response); any other
 * record (one small response, a handshake flight, an alert) goes straight
 * out. The buffer is taken for a batch and freed once it is all sent, so
 * an idle connection holds none; a stalled one holds up to TLS_OUT_BYTES
 * besides the handler's chunk.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "metrics.h"
#include "tls.h"
#include "transport.h"

/* handshaking: what is left of the handshake. */
#define TLS_FIRST_BYTE 1 /* nothing read: is it TLS at all? */
#define TLS_UNDER_WAY 2

/*
 * A head and a small body go out as one record (and one segment), not
 * one record per iovec: 16 KiB is the largest record's plaintext.
 */
#define TLS_GATHER_BYTES 16384

/* The first byte of a TLS record carrying a handshake. */
#define TLS_RECORD_HANDSHAKE 0x16

/* Five full records (a 64 KiB chunk and a head), with their overhead. */
#define TLS_OUT_BYTES (5 * (16384 + 256))

static BIO_METHOD *out_method;
static pthread_once_t out_method_once = PTHREAD_ONCE_INIT;

/*
 * Sends what t->out holds: 0 once it is all out (and the buffer freed),
 * -1 with errno (EAGAIN: the socket is full).
 */
static int
out_send(struct transport *t)
{
	ssize_t n;

	while (t->out_sent < t->out_len) {
		n = send(t->fd, t->out + t->out_sent, t->out_len - t->out_sent,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		t->out_sent += (size_t)n;
	}
	free(t->out);
	t->out = NULL;
	t->out_sent = t->out_len = 0;
	return 0;
}

/*
 * A record from OpenSSL, kept for the end of the writev; when the buffer
 * has no room, what it holds is sent first, and if the socket is full
 * the record is refused for now (OpenSSL offers it again).
 */
static int
out_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct transport *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (t->out_len + len > TLS_OUT_BYTES && out_send(t) == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return 0;
		memmove(t->out, t->out + t->out_sent, t->out_len - t->out_sent);
		t->out_len -= t->out_sent;
		t->out_sent = 0;
		if (t->out_len + len > TLS_OUT_BYTES) {
			BIO_set_retry_write(b);
			return 0;
		}
	}
	if (t->out_len == t->out_sent &&
	    (!t->out_batch || len > TLS_OUT_BYTES)) {
		/*
		 * Straight out, as the socket BIO would (a part is enough):
		 * a record alone, or several at once from a multi-block
		 * cipher.
		 */
		while ((n = send(t->fd, data, len, MSG_NOSIGNAL)) == -1 &&
		    errno == EINTR)
			;
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				BIO_set_retry_write(b);
			return 0;
		}
		*written = (size_t)n;
		return 1;
	}
	if (t->out == NULL && (t->out = malloc(TLS_OUT_BYTES)) == NULL)
		return 0;
	memcpy(t->out + t->out_len, data, len);
	t->out_len += len;
	*written = len;
	return 1;
}

static long
out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct transport *t = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		/* The end of a handshake flight, or an alert. */
		BIO_clear_retry_flags(b);
		if (out_send(t) == 0)
			return 1;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	case BIO_CTRL_WPENDING:
		return (long)(t->out_len - t->out_sent);
	}
	return 0;
}

static int
out_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
out_method_make(void)
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
		 "coserve records")) == NULL)
		return;
	if (!BIO_meth_set_write_ex(m, out_write) ||
	    !BIO_meth_set_ctrl(m, out_ctrl) ||
	    !BIO_meth_set_create(m, out_create)) {
		BIO_meth_free(m);
		return;
	}
	out_method = m;
}

/*
 * Why a handshake failed, from OpenSSL's error queue: what an operator
 * can act on (tls_protocols, tls_ciphers, the certificate) apart from
 * what a scanner or a broken client sends.
 */
static int
handshake_failure(int ssl_error)
{
	unsigned long e = ERR_peek_last_error();

	if (ssl_error == SSL_ERROR_SYSCALL ||
	    ssl_error == SSL_ERROR_ZERO_RETURN)
		return METRICS_TLS_CUT_SHORT;
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return METRICS_TLS_PROTOCOL;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
		return METRICS_TLS_VERSION;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_SUITABLE_KEY_SHARE:
		return METRICS_TLS_CIPHER;
	}
	/* The reasons of alerts received are offset by SSL_AD_REASON_OFFSET. */
	if (ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET)
		return METRICS_TLS_ALERT;
	return METRICS_TLS_PROTOCOL;
}

/*
 * After rc from an SSL call: -1 with errno EAGAIN and want set when the
 * socket must be waited for, 0 at a clean end of the stream (reads), -1
 * with errno otherwise. A session that failed sends nothing more, not
 * even close_notify.
 */
static ssize_t
tls_result(struct transport *t, int rc, int reading)
{
	int saved = errno, error = SSL_get_error(t->ssl, rc);

	if (t->handshaking && error != SSL_ERROR_WANT_READ &&
	    error != SSL_ERROR_WANT_WRITE)
		t->failure = handshake_failure(error);
	switch (error) {
	case SSL_ERROR_WANT_READ:
		t->want = EV_READ;
		/* OpenSSL read the socket dry. */
		if (reading)
			t->drained = 1;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		t->want = EV_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify, or an EOF (SSL_OP_IGNORE_UNEXPECTED_EOF). */
		if (reading)
			return 0;
		errno = EPIPE;
		break;
	case SSL_ERROR_SYSCALL:
		errno = saved != 0 ? saved : ECONNRESET;
		break;
	default:
		errno = EPROTO;
		break;
	}
	saved = errno;
	SSL_set_quiet_shutdown(t->ssl, 1);
	ERR_clear_error();
	errno = saved;
	return -1;
}

static ssize_t
tls_read(struct transport *t, void *buf, size_t len)
{
	size_t n;
	int rc;

	errno = 0;
	if ((rc = SSL_read_ex(t->ssl, buf, len, &n)) == 1) {
		/*
		 * A short read says nothing of the socket: OpenSSL returns one
		 * record at a time, and more may be waiting behind it.
		 */
		t->drained = 0;
		return (ssize_t)n;
	}
	return tls_result(t, rc, 1);
}

/* Copies what iov holds, from the start, into buf; how much. */
static size_t
gather(char *buf, size_t size, const struct iovec *iov, int iovcnt)
{
	size_t len = 0, take;
	int i;

	for (i = 0; i < iovcnt && len < size; i++) {
		take =
		    iov[i].iov_len < size - len ? iov[i].iov_len : size - len;
		memcpy(buf + len, iov[i].iov_base, take);
		len += take;
	}
	return len;
}

/*
 * Writes records until iov is out or the socket is full, then sends them;
 * with nothing in iov, sends what an earlier call left. OpenSSL wants a
 * write that could not finish repeated with the same bytes: the caller
 * calls again from where the count returned says, which is where that
 * write began, so the same bytes come (gathered alike).
 */
static ssize_t
tls_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	char buf[TLS_GATHER_BYTES];
	const char *p;
	size_t total = 0, off = 0, len, n;
	struct iovec rest[2];
	int rc, i;

	if (out_send(t) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			t->want = EV_WRITE;
		return -1;
	}
	/* One record's worth goes straight out; more are gathered. */
	for (i = 0, len = 0; i < iovcnt && len <= TLS_GATHER_BYTES; i++)
		len += iov[i].iov_len;
	t->out_batch = len > TLS_GATHER_BYTES;
	while (iovcnt > 0) {
		if (iov[0].iov_len - off == 0) {
			iov++;
			iovcnt--;
			off = 0;
			continue;
		}
		p = (const char *)iov[0].iov_base + off;
		len = iov[0].iov_len - off;
		if (iovcnt > 1 && len < sizeof buf) {
			rest[0].iov_base = (void *)p;
			rest[0].iov_len = len;
			rest[1] = iov[1];
			len = gather(buf, sizeof buf, rest, 2);
			if (len < sizeof buf && iovcnt > 2)
				len += gather(buf + len, sizeof buf - len,
				    iov + 2, iovcnt - 2);
			p = buf;
		}
		errno = 0;
		if ((rc = SSL_write_ex(t->ssl, p, len, &n)) != 1) {
			if (total > 0) {
				/* Its error comes again on the next call. */
				ERR_clear_error();
				break;
			}
			t->out_batch = 0;
			return tls_result(t, rc, 0);
		}
		total += n;
		/* Past what went out, across as many iovecs as it spans. */
		for (n += off, off = 0; iovcnt > 0 && n >= iov[0].iov_len;
		     iovcnt--, iov++)
			n -= iov[0].iov_len;
		off = n;
	}
	/* What is left goes on the next call, which the caller makes. */
	t->out_batch = 0;
	(void)out_send(t);
	return (ssize_t)total;
}

/*
 * SHUT_WR, from the connection's own coroutine once all is answered (a
 * lingering close), says close_notify first; a drain's SHUT_RD and an
 * abort's SHUT_RDWR come from outside it, maybe in the middle of a
 * record, and only shut the socket down.
 */
static int
tls_shutdown(struct transport *t, int how)
{
	if (how == SHUT_WR && !t->handshaking) {
		SSL_shutdown(t->ssl);
		ERR_clear_error();
		(void)out_send(t);
	}
	return shutdown(t->fd, how);
}

static enum transport_input
tls_input(struct transport *t)
{
	if (SSL_has_pending(t->ssl))
		return TRANSPORT_INPUT_READY;
	return transport__socket_peek(t->fd);
}

/*
 * A session that ended well says close_notify (one small write that
 * never waits: it is dropped if the socket is full), so the client can
 * tell the end from a truncation.
 */
static void
tls_close(struct transport *t)
{
	if (!t->handshaking && !(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(t->ssl);
	ERR_clear_error();
	(void)out_send(t);
	free(t->out);
	t->out = NULL;
	t->out_sent = t->out_len = 0;
	SSL_free(t->ssl);
	t->ssl = NULL;
	close(t->fd);
	t->fd = -1;
}

/*
 * The first byte tells a TLS client (a handshake record) from one that
 * speaks plain HTTP to this port (a method's capital letter): that one
 * gets the plain transport, so the caller can answer it readably, as
 * nginx does; anything else is refused. Then OpenSSL's handshake, step by
 * step.
 */
static enum transport_handshake
tls_handshake(struct transport *t)
{
	char byte;
	ssize_t n;
	int rc, fd;

	if (t->handshaking == TLS_FIRST_BYTE) {
		while ((n = recv(t->fd, &byte, 1, MSG_PEEK)) == -1 &&
		    errno == EINTR)
			;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			t->want = EV_READ;
			return TRANSPORT_HANDSHAKE_AGAIN;
		}
		if (n <= 0)
			return TRANSPORT_HANDSHAKE_CLOSED;
		if (byte != TLS_RECORD_HANDSHAKE) {
			if (byte < 'A' || byte > 'Z')
				return TRANSPORT_HANDSHAKE_FAILED;
			fd = t->fd;
			SSL_free(t->ssl);
			free(t->out);
			transport_socket_init(t, fd);
			return TRANSPORT_HANDSHAKE_PLAIN_HTTP;
		}
		t->handshaking = TLS_UNDER_WAY;
	}
	errno = 0;
	if ((rc = SSL_do_handshake(t->ssl)) == 1) {
		/* The first request may be in OpenSSL's buffer already. */
		t->handshaking = 0;
		t->drained = 0;
		return TRANSPORT_HANDSHAKE_DONE;
	}
	if (tls_result(t, rc, 1) == -1 && errno == EAGAIN)
		return TRANSPORT_HANDSHAKE_AGAIN;
	return TRANSPORT_HANDSHAKE_FAILED;
}

static const struct transport_ops tls_ops = {
	.read = tls_read,
	.writev = tls_writev,
	.sendfile = NULL,
	.shutdown = tls_shutdown,
	.input = tls_input,
	.close = tls_close,
	.handshake = tls_handshake,
};

int
transport_tls_init(struct transport *t, int fd, struct tls *tls)
{
	BIO *out;

	pthread_once(&out_method_once, out_method_make);
	if (out_method == NULL || (out = BIO_new(out_method)) == NULL)
		return -1;
	if ((t->ssl = tls_session_new(tls, fd)) == NULL) {
		BIO_free(out);
		return -1;
	}
	BIO_set_data(out, t);
	SSL_set0_wbio(t->ssl, out);
	t->out = NULL;
	t->out_sent = t->out_len = 0;
	t->out_batch = 0;
	t->ops = &tls_ops;
	t->fd = fd;
	t->want = 0;
	t->drained = 0;
	t->handshaking = TLS_FIRST_BYTE;
	t->failure = METRICS_TLS_PROTOCOL;
	return 0;
}

void
transport_tls_info(const struct transport *t, const char **protocol,
    const char **cipher, const char **server_name)
{
	*protocol = *cipher = *server_name = NULL;
	if (t->ssl == NULL || t->handshaking)
		return;
	*protocol = SSL_get_version(t->ssl);
	*cipher = SSL_get_cipher_name(t->ssl);
	*server_name = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
}

int
transport_tls_resumed(const struct transport *t)
{
	return t->ssl != NULL && SSL_session_reused(t->ssl);
}

int
transport_tls_h2(const struct transport *t)
{
	const unsigned char *proto;
	unsigned len;

	if (t->ssl == NULL)
		return 0;
	SSL_get0_alpn_selected(t->ssl, &proto, &len);
	return len == 2 && memcmp(proto, "h2", 2) == 0;
}
