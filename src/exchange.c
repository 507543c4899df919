/*
 * Exchanges: the accounting every protocol shares (status, whether the
 * head went out, body bytes) and the built-in error answer; the sending
 * itself is the owner's, through its ops.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>

#include "exchange.h"
#include "log.h"
#include "request.h"
#include "response.h"

void
exchange_init(struct exchange *x, const struct exchange_ops *ops, void *owner,
    const struct request *req, const struct docroot *root)
{
	x->ops = ops;
	x->owner = owner;
	x->req = req;
	x->root = root;
	x->status = 0;
	x->head_sent = 0;
	x->body_bytes = 0;
}

int
exchange_send_head(
    struct exchange *x, struct response *r, const void *body, size_t len)
{
	if (r->overflow) {
		log_warnx("response head for %d too large", r->status);
		if (r->status != 500)
			exchange_send_error(x, 500);
		return -1;
	}
	if (body == NULL)
		len = 0;
	x->status = r->status;
	x->head_sent = 1;
	if (x->ops->send_head(x, r, body, len) == -1)
		return -1;
	x->body_bytes += len;
	return 0;
}

int
exchange_send_body(struct exchange *x, const void *buf, size_t len)
{
	if (x->ops->send_body(x, buf, len) == -1)
		return -1;
	x->body_bytes += len;
	return 0;
}

int
exchange_send_file(struct exchange *x, struct response *r, const void *buf,
    size_t len, int fd, uint64_t off, uint64_t count, int local)
{
	int rc;

	if (r != NULL && r->overflow)
		return exchange_send_head(x, r, NULL, 0);
	if (r != NULL) {
		x->status = r->status;
		x->head_sent = 1;
	}
	rc = x->ops->send_file(x, r, buf, len, fd, off, count, local);
	if (rc == 1 && r != NULL) {
		x->status = 0;
		x->head_sent = 0;
	}
	return rc;
}

void *
exchange_buffer(struct exchange *x, size_t want, size_t least, size_t *size)
{
	void *buf;

	if (x->ops->reserve != NULL &&
	    (want = x->ops->reserve(x, want, least)) == 0)
		return NULL;
	if ((buf = malloc(want)) == NULL) {
		log_warnx("no memory for a %zu byte body buffer", want);
		if (x->ops->release != NULL)
			x->ops->release(x, want);
		return NULL;
	}
	*size = want;
	return buf;
}

void
exchange_buffer_free(struct exchange *x, void *buf, size_t size)
{
	if (buf == NULL)
		return;
	free(buf);
	if (x->ops->release != NULL)
		x->ops->release(x, size);
}

void *
exchange_buffer_share(
    struct exchange *x, void *buf, size_t want, size_t least, size_t *size)
{
	if (x->ops->contended == NULL || !x->ops->contended(x))
		return buf;
	exchange_buffer_free(x, buf, *size);
	return exchange_buffer(x, want, least, size);
}

int
exchange_send_error(struct exchange *x, int status)
{
	struct response r;
	char body[RESPONSE_ERROR_BODY_MAX];
	size_t len;

	len = response_error_body(status, body);
	response_begin(&r, status);
	if (status == 405)
		response_add(&r, "Allow", EXCHANGE_ALLOW_METHODS);
	response_add(&r, "Content-Type", "text/html; charset=utf-8");
	response_add(&r, "Content-Length", "%zu", len);
	return exchange_send_head(x, &r,
	    x->req != NULL && x->req->method == HTTP_HEAD ? NULL : body, len);
}
