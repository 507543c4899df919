/*
 * Dispatch: one parsed request to the answer it gets, for every protocol.
 * Metrics and health are answered from memory (a load balancer must get
 * its answer while every I/O thread waits on storage); a plain request to
 * a site with redirect_https goes to https; the rest to the file handler.
 * The protocol's own concerns (framing, keep-alive, request bodies) stay
 * with the protocol.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"
#include "await.h"
#include "config.h"
#include "dispatch.h"
#include "exchange.h"
#include "file.h"
#include "health.h"
#include "metrics.h"
#include "path.h"
#include "request.h"
#include "resolve.h"
#include "response.h"
#include "transport.h"

const struct docroot *
dispatch_root(const struct conn_env *env, struct slice host)
{
	const char *end;
	size_t j, len = host.len;

	if (host.ptr == NULL)
		return env->roots[0];
	/* Drop the port (not inside an IPv6 literal) and a trailing dot. */
	end = memchr(host.ptr, ']', host.len);
	for (j = end != NULL ? (size_t)(end - host.ptr) : 0; j < host.len; j++)
		if (host.ptr[j] == ':') {
			len = j;
			break;
		}
	if (len > 0 && host.ptr[len - 1] == '.')
		len--;
	/* The generation's roots are its config's sites, in order. */
	return env->roots[config_site_find(env->cfg, host.ptr, len)];
}

void
dispatch_log(
    const struct dispatch_origin *o, const struct exchange *x, long start_ms)
{
	struct accesslog_entry e;

	if (o->env->access_log == NULL || !x->head_sent)
		return;
	e.peer = o->peer;
	clock_gettime(CLOCK_REALTIME, &e.when);
	e.req = x->req;
	e.status = x->status;
	e.body_bytes = x->body_bytes;
	e.request_ms = await_now_ms() - start_ms;
	transport_tls_info(
	    o->transport, &e.tls_protocol, &e.tls_cipher, &e.tls_server_name);
	accesslog_write(o->env->access_log, &e);
}

/*
 * Not inlined, nor are send_health and send_options: a 4 KiB head of
 * theirs in dispatch_request's frame is one more stack page touched by
 * every file request on a new coroutine, which costs there.
 */
static __attribute__((noinline)) int
send_metrics(struct exchange *x, struct iopool *pool)
{
	struct response r;
	char *text;
	size_t len;
	int rc;

	if ((text = metrics_render(pool, &len)) == NULL)
		return exchange_send_error(x, 503);
	response_begin(&r, 200);
	response_add(&r, "Content-Type", "%s", METRICS_CONTENT_TYPE);
	response_add(&r, "Cache-Control", "no-store");
	response_add(&r, "Content-Length", "%zu", len);
	rc = exchange_send_head(
	    x, &r, x->req->method == HTTP_HEAD ? NULL : text, len);
	free(text);
	return rc;
}

/* The metrics path on the main listeners, or /metrics on their own. */
static int
is_metrics(const struct conn_env *env, const struct path *p)
{
	const char *want =
	    env->metrics_only ? "/metrics" : env->cfg->metrics_path;

	return want != NULL && strcmp(p->rel, want + 1) == 0 &&
	    !p->trailing_slash;
}

/*
 * Health for a load balancer, from memory only: this must answer at once
 * even while every I/O thread waits on storage.
 */
static __attribute__((noinline)) int
send_health(struct exchange *x, const struct dispatch_origin *o, int detail)
{
	struct response r;
	char body[HEALTH_REASON_MAX + 1];
	size_t len;
	int status;

	status = health_status(body, sizeof body - 1, detail);
	/*
	 * Asked now, not copied when the connection's reactor takes the
	 * reload in: once a reload is logged, its answer holds everywhere.
	 */
	if ((*o->retiring = health_retiring(o->listener))) {
		/* Its listener closes soon: a balancer must stop using it. */
		snprintf(body, sizeof body - 1, "draining");
		status = 503;
	}
	len = strlen(body);
	body[len++] = '\n';
	response_begin(&r, status);
	response_add(&r, "Content-Type", "text/plain; charset=utf-8");
	response_add(&r, "Cache-Control", "no-store");
	response_add(&r, "Content-Length", "%zu", len);
	return exchange_send_head(
	    x, &r, x->req->method == HTTP_HEAD ? NULL : body, len);
}

/* health_path on the main listeners, or /health on the metrics one. */
static int
is_health(const struct conn_env *env, const struct path *p)
{
	const char *want =
	    env->metrics_only ? "/health" : env->cfg->health_path;

	return want != NULL && strcmp(p->rel, want + 1) == 0 &&
	    !p->trailing_slash;
}

/*
 * The host part of the Host field, if it is a plain name or address that
 * can go into a Location as is; 0 when there is none to use.
 */
static size_t
redirect_host(struct slice host, char *out, size_t size)
{
	size_t i, len = host.len;

	if (host.ptr == NULL)
		return 0;
	if (len > 0 && host.ptr[0] == '[') {
		for (i = 1; i < len && host.ptr[i] != ']'; i++)
			if (!isxdigit((unsigned char)host.ptr[i]) &&
			    host.ptr[i] != ':' && host.ptr[i] != '.')
				return 0;
		if (i == len)
			return 0;
		len = i + 1;
	} else {
		for (i = 0; i < len && host.ptr[i] != ':'; i++)
			if (!isalnum((unsigned char)host.ptr[i]) &&
			    host.ptr[i] != '.' && host.ptr[i] != '-')
				return 0;
		len = i;
	}
	if (len == 0 || len >= size)
		return 0;
	memcpy(out, host.ptr, len);
	out[len] = '\0';
	return len;
}

/*
 * redirect_https on a plain connection: the same host and path over
 * https. The host comes from the Host field only when it is a bare name
 * or address, else from the site's first exact name; without either
 * there is nowhere to send the client.
 */
static __attribute__((noinline)) int
send_https_redirect(struct exchange *x, const struct path *p, unsigned port)
{
	const struct site_config *site = x->root->site;
	char host[256], portpart[16] = "";
	char location[sizeof p->rel * 3 + 2];
	char body[RESPONSE_ERROR_BODY_MAX];
	struct response r;
	size_t i, len;
	long loclen;
	int rc;

	if (redirect_host(x->req->host, host, sizeof host) == 0) {
		for (i = 0; i < site->name_count; i++)
			if (site->names[i][0] != '*' &&
			    strlen(site->names[i]) < sizeof host)
				break;
		if (i == site->name_count)
			return exchange_send_error(x, 400);
		strcpy(host, site->names[i]);
	}
	if (port != 443)
		snprintf(portpart, sizeof portpart, ":%u", port);
	if ((loclen = path_encode(p->rel, location, sizeof location)) == -1)
		return exchange_send_error(x, 414);
	if (response_begin_large(&r, 301,
		RESPONSE_HEAD_MAX + sizeof host + loclen + p->query_len) == -1)
		return exchange_send_error(x, 503);
	len = response_error_body(301, body);
	response_add(&r, "Location", "https://%s%s%s%s%.*s", host, portpart,
	    location, p->trailing_slash && p->rel[0] != '\0' ? "/" : "",
	    (int)p->query_len, p->query != NULL ? p->query : "");
	response_add(&r, "Content-Type", "text/html; charset=utf-8");
	response_add(&r, "Content-Length", "%zu", len);
	rc = exchange_send_head(
	    x, &r, x->req->method == HTTP_HEAD ? NULL : body, len);
	response_free(&r);
	return rc;
}

/* ACME http-01 answers must stay reachable over plain HTTP (RFC 8555). */
static int
is_acme_challenge(const struct path *p)
{
	static const char prefix[] = ".well-known/acme-challenge/";

	return strncmp(p->rel, prefix, sizeof prefix - 1) == 0;
}

static __attribute__((noinline)) int
send_options(struct exchange *x)
{
	struct response r;

	response_begin(&r, 204);
	response_add(&r, "Allow", EXCHANGE_ALLOW_METHODS);
	return exchange_send_head(x, &r, NULL, 0);
}

int
dispatch_request(const struct dispatch_origin *o, struct exchange *x)
{
	const struct conn_env *env = o->env;
	const struct request *req = x->req;
	struct path p;
	int rc;

	switch (req->method) {
	case HTTP_GET:
	case HTTP_HEAD:
		break;
	case HTTP_OPTIONS:
		return send_options(x);
	case HTTP_KNOWN_OTHER:
		return exchange_send_error(x, 405);
	case HTTP_UNKNOWN:
		return exchange_send_error(x, 501), -1;
	}
	if ((rc = path_parse(&p, req->target.ptr, req->target.len)) < 0)
		return exchange_send_error(x, -rc);
	if (is_metrics(env, &p))
		return send_metrics(x, env->pool);
	if (is_health(env, &p))
		return send_health(x, o, env->metrics_only);
	if (env->metrics_only)
		return exchange_send_error(x, 404);
	if (x->root->site->redirect_https != 0 && o->transport->ssl == NULL &&
	    !is_acme_challenge(&p))
		return send_https_redirect(
		    x, &p, x->root->site->redirect_https);
	return file_serve(x, &p);
}
