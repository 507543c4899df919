/*
 * HTTP/2 connections. The connection's coroutine (conn.c's, handed over
 * in h2_serve) owns the nghttp2 session and the socket: it reads and feeds
 * the session, starts a coroutine for every stream whose request head is
 * complete, resumes the streams whose body bytes nghttp2 has taken, and
 * writes what the session has to send. It is the only one that reads or
 * writes the socket and the only one that runs nghttp2's receive and send
 * paths, so every nghttp2 callback runs on it.
 *
 * A stream's coroutine (stream_main) parses its request, dispatches it and
 * answers through an exchange whose ops submit the response to nghttp2
 * (nghttp2_submit_response with a data provider) and lend it the caller's
 * body buffer: the data provider copies from that buffer into frames as
 * the flow-control windows allow, and the stream waits (stream_wait) until
 * all of it is taken, so a stream holds at most one handler buffer
 * (chunk_bytes), however large the file, and no copy of its own; the
 * connection's streams share h2_max_buffer_bytes of them. Waiting
 * on storage, a stream yields to the reactor and the connection goes on
 * serving its other streams.
 *
 * Who resumes whom: the connection's coroutine resumes stream coroutines
 * (to start them, or after nghttp2 took their bytes), never from inside an
 * nghttp2 call; a stream never resumes the connection's coroutine, it sets
 * h->work and, when the connection waits on its socket, activates the
 * connection's kick event, whose callback (on the reactor's stack) wakes
 * it. Streams call nghttp2_submit_* and nghttp2_session_resume_data, which
 * only queue: a stream runs either resumed by the connection's coroutine
 * (outside any nghttp2 call) or from the reactor while the connection
 * waits on its socket.
 *
 * Ownership: a stream's struct lives from its first HEADERS frame until
 * both nghttp2 has closed the stream and its coroutine has ended; the
 * connection's coroutine returns from h2_serve only once every stream
 * coroutine has ended (one may be waiting on an I/O job, which cannot be
 * cancelled), so nothing a stream touches is freed under it.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "await.h"
#include "config.h"
#include "coro.h"
#include "dispatch.h"
#include "exchange.h"
#include "h2.h"
#include "h2req.h"
#include "log.h"
#include "metrics.h"
#include "reactor.h"
#include "request.h"
#include "response.h"
#include "transport.h"

/* Bytes read from the socket at a time (a TLS record's worth). */
#define H2_READ_BYTES 16384
/*
 * Rounds (a read, or a flush with more work behind it) in a row before the
 * connection lets the reactor run: a client that never stops sending, or
 * a download from the page cache to a client that never stops reading,
 * must hold neither the reactor's other connections nor this one's own
 * next frames, which the reactor alone sees arrive.
 */
#define H2_ROUNDS_PER_TURN 16
/*
 * The flood budget (CVE-2019-9512, 9514, 9515, 9518 and their kin):
 * frames that ask for nothing (PING, SETTINGS, WINDOW_UPDATE, PRIORITY,
 * empty DATA, resets) cost us work and are all a flood is made of. A
 * connection whose bytes received exceed H2_FLOOD_ALLOWANCE plus
 * H2_FLOOD_PER_FIELD times its requests' bytes plus a 1/64 share of
 * what it downloaded is cut off with ENHANCE_YOUR_CALM. A request counts
 * once nghttp2 has taken it whole, as the lesser of its fields' bytes
 * and its header block's on the wire: a head nghttp2 resets (9514: a
 * field HTTP/2 forbids, answered RST_STREAM) earns nothing, nor do
 * HPACK references to a large table entry earn more than they cost to
 * send. A browser's control frames stay far below that: its headers
 * count, and a long download's WINDOW_UPDATEs are a few bytes per 16 KiB
 * frame.
 */
#define H2_FLOOD_ALLOWANCE (1024 * 1024)
#define H2_FLOOD_PER_FIELD 2
#define H2_FLOOD_OUT_SHARE 64
/*
 * Streams reset for a window left shut send_timeout_ms (CVE-2019-9517):
 * past this many on one connection within two send timeouts, its client
 * is cut off with ENHANCE_YOUR_CALM instead of opening the next. A
 * browser holding back a paused video now and then stays well under.
 */
#define H2_SEND_CANCELS_MAX 16
/*
 * A drain or reload first tells the client that no new stream will be
 * taken (a GOAWAY naming the highest stream id, RFC 9113 6.8) and sends a
 * PING with it; the GOAWAY naming the last stream taken follows when the
 * PING comes back, or after H2_NOTICE_MS if it does not: requests already
 * on their way when the notice went out are answered, not refused.
 */
#define H2_NOTICE_MS 1000
static const uint8_t h2_notice_ping[8] = "coserve";
/*
 * What goes out is gathered before a write, so many small responses go
 * out in one call: the frames nghttp2 serializes are copied into h->out,
 * H2_OUT_BYTES (a frame larger than that, never with 16 KiB frames, is
 * written from nghttp2's own buffer); DATA frames' payloads are not
 * copied at all but written from the handlers' buffers (NO_COPY), up to
 * H2_OUT_IOVS pieces a write. 64 KiB, a client's usual connection window,
 * four TLS records: CPU per request of a page's assets over TLS 15.6 us
 * with 32 KiB, 13.4 with this (h2load -c16 -m32, one CPU).
 */
#define H2_OUT_BYTES 65536
#define H2_OUT_IOVS 128
/*
 * Three blocks nghttp2 keeps for a session's life get pages of their own,
 * handed back to the kernel (MADV_DONTNEED) once the connection has been
 * parked a whole second (h2_trim; not at every park, which a client
 * asking for one thing at a time would pay on every request):
 * its frame buffer (the first block of 16 KiB or more it asks for: 16,394
 * bytes, a frame's header, padding length and payload), rewritten for
 * every frame and holding nothing between them; its stream map (the
 * zeroed blocks of 4 KiB or more), all zeros when no stream is left,
 * which is checked; and the ring of its response header table, which it
 * sizes for the default 4,096-byte table (128 pointers) and fills only
 * when a field is indexed: never on a connection that asked for one
 * thing (h2_send_head). That ring is the session's first block of 1 KiB
 * (nghttp2 1.52 builds the deflater before anything else of that size);
 * were it another, it would only cost its page, given back only while
 * all zeros.
 * All are found zeroed when the connection wakes: an idle connection
 * costs its session's state, not the last frames it sent. The first
 * block of each kind is carved from one allocation (the slab: the ring's
 * page, the map's, then the frame buffer's), since each page-aligned
 * allocation leaves malloc a hole before it, and three holes a session
 * cost more than the ring's kilobyte.
 */
#define H2_FRAMES_BYTES 16384
#define H2_ZEROED_BYTES 4096
#define H2_RING_BYTES 1024
#define H2_FRAMES_ASKED (H2_FRAMES_BYTES + 10)

struct h2_conn;

struct h2_stream {
	struct h2_conn *h;
	struct h2_stream *prev, *next; /* the connection's, oldest first */
	int32_t id;
	struct coro *co; /* while its coroutine lives */
	/*
	 * The request head as it came, "name\0value\0" per field (bounded
	 * by h2_max_header_list_size, counted HTTP/2's way in list_bytes);
	 * then, while the coroutine lives, its HTTP/1.1 text for the parser.
	 */
	char *fields;
	size_t fields_len, fields_size, list_bytes;
	uint64_t field_bytes; /* its fields' bytes, for the flood budget */
	char *text;
	int too_large; /* over the list size: 431 */
	int ready;     /* the head is complete: start a coroutine */
	int started;
	int closed; /* nghttp2 closed it: free once the coroutine ends */
	int lost;   /* the response can no longer go out */
	int empty;  /* the coroutine must end before it begins */
	int head;   /* a HEAD request: no body, whatever the answer */
	/* The response. */
	int submitted;
	int no_body;	      /* HEAD, 204, 304: the HEADERS end the stream */
	int64_t content_left; /* Content-Length not yet given; -1: unknown */
	int body_done;	      /* no more bytes will come: EOF after pending */
	int deferred;	      /* the data provider waits for bytes */
	const char *pending;  /* the handler's bytes nghttp2 has not taken */
	size_t pending_len;
	int unsent;    /* some of them gathered for the write under way */
	int waiting;   /* its coroutine waits in stream_wait */
	int timed_out; /* ... and the send timeout woke it */
	/* Waiting in h2_reserve for starved bytes, in h->starving's queue. */
	size_t starved;
	struct h2_stream *starving_next;
};

/* What the connection's coroutine is waiting for, if anything. */
enum h2_wait {
	H2_WAIT_NONE,
	H2_WAIT_SOCKET, /* readable: a kick wakes it too */
	H2_WAIT_STREAMS /* stream coroutines to end, at teardown */
};

/* Whom the connection waits for while no stream coroutine lives. */
enum h2_idle {
	H2_BUSY, /* a stream coroutine lives: no idle deadline */
	H2_OWED, /* the client owes a request or the rest of one */
	H2_IDLE	 /* the client owes nothing */
};

/* What h2_flush gathers for one write, on its stack. */
struct h2_gather {
	struct iovec iov[H2_OUT_IOVS];
	int iovcnt;
	size_t copied; /* bytes of h->out in use */
	int full;      /* a DATA frame waits for the write to make room */
};

/* A block of nghttp2's in whole pages of its own. */
struct h2_paged {
	void *p;
	size_t size;
	int taken; /* its slab part was offered (once), taken or not */
};

struct h2_conn {
	const struct h2_host *host;
	const struct config *cfg;
	nghttp2_session *session;
	struct coro *co; /* the connection's coroutine */
	struct h2_stream *streams, *last;
	unsigned live;	   /* stream coroutines alive */
	unsigned requests; /* request heads received */
	enum h2_wait wait;
	int work;	/* something for the connection's coroutine to do */
	int draining;	/* GOAWAY to send */
	int noticed;	/* the notice went out (or needs none), */
	long goaway_ms; /* ... and the GOAWAY is due then */
	int goaway_sent;
	int closing; /* tearing down: streams are lost */
	/*
	 * While no stream coroutine lives, the connection waits for its
	 * client until idle_deadline_ms: header_timeout_ms while the client
	 * owes a request's rest (or its first), keepalive_timeout_ms when it
	 * owes nothing. Frames that ask for nothing do not move it.
	 */
	enum h2_idle idle;
	long idle_deadline_ms;
	uint64_t in_bytes, field_bytes, out_bytes; /* the flood budget */
	uint64_t head_wire;    /* the header block coming in, on the wire */
	unsigned send_cancels; /* streams reset for a shut window, since */
	long send_cancels_ms;  /* ... the first of them in its window */
	/* Body buffers lent to streams, within h2_max_buffer_bytes. */
	size_t buffered;
	/* Streams waiting for some, in the order they began to. */
	struct h2_stream *starving, *starving_last;
	int kick_pending;
	_Alignas(max_align_t) unsigned char kick[REACTOR_EVENT_BYTES];
	char *in;
	char *out;
	struct h2_gather *gather; /* while h2_flush runs */
	unsigned char *slab;	  /* where the first of these three lie */
	uintptr_t slab_end;
	struct h2_paged frames; /* nghttp2's frame buffer */
	struct h2_paged map;	/* its stream map's table */
	struct h2_paged ring;	/* its response header table's ring */
	unsigned parked_ticks;	/* h2_trim calls since it parked */
};

static const struct exchange_ops h2_ops;

static void
h2_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *h = arg;

	h->kick_pending = 0;
	if (h->wait == H2_WAIT_SOCKET)
		await_watch_wake(h->host->watch);
	else if (h->wait == H2_WAIT_STREAMS)
		coro_resume(h->co);
}

/*
 * Tells the connection's coroutine there is work (bytes to send, a stream
 * ended): noted at once, and if it waits, it is woken from the reactor's
 * stack on this loop turn.
 */
static void
h2_kick(struct h2_conn *h)
{
	h->work = 1;
	if (h->wait != H2_WAIT_NONE && !h->kick_pending) {
		h->kick_pending = 1;
		event_active((struct event *)h->kick, EV_TIMEOUT, 0);
	}
}

static void
stream_unlink(struct h2_stream *st)
{
	struct h2_conn *h = st->h;

	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	else
		h->last = st->prev;
}

static void
stream_free(struct h2_stream *st)
{
	stream_unlink(st);
	free(st->fields);
	free(st->text);
	free(st);
}

/* Resets a stream whose answer cannot be completed, unless it is gone. */
static void
stream_reset(struct h2_stream *st, uint32_t code)
{
	st->lost = 1;
	st->pending = NULL;
	st->pending_len = 0;
	if (!st->closed && !st->h->closing)
		nghttp2_submit_rst_stream(
		    st->h->session, NGHTTP2_FLAG_NONE, st->id, code);
	h2_kick(st->h);
}

static void
stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_stream *st = arg;

	if (!st->waiting)
		return;
	st->waiting = 0;
	st->timed_out = 1;
	coro_resume(st->co);
}

/* Counts a stream reset for its shut window, within its window. */
static void
stream_cancelled(struct h2_conn *h)
{
	long now = await_now_ms();

	if (h->send_cancels == 0 ||
	    now - h->send_cancels_ms > 2 * h->cfg->send_timeout_ms) {
		h->send_cancels = 0;
		h->send_cancels_ms = now;
	}
	h->send_cancels++;
}

/*
 * Waits until nghttp2 has taken every pending byte of the stream and the
 * write that carries them is over, or the stream is lost: 0, or -1. A
 * client that opens no window for send_timeout_ms loses the stream (a
 * reset), not the connection. Bytes gathered are the connection's to
 * write (h2_write has its own deadline), and the buffer they are in
 * stays the stream's until then, even a lost one's.
 */
static int
stream_wait(struct h2_stream *st)
{
	_Alignas(max_align_t) unsigned char storage[REACTOR_EVENT_BYTES];
	struct event *timer = (struct event *)storage;
	struct timeval tv;
	long timeout_ms = st->h->cfg->send_timeout_ms;
	size_t before;

	evtimer_assign(timer, reactor_current()->base, stream_timer_cb, st);
	while ((st->pending_len > 0 && !st->lost) || st->unsent) {
		before = st->pending_len;
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		if (evtimer_add(timer, &tv) == -1) {
			stream_reset(st, NGHTTP2_INTERNAL_ERROR);
			break;
		}
		st->waiting = 1;
		st->timed_out = 0;
		coro_yield();
		st->waiting = 0;
		evtimer_del(timer);
		if (st->timed_out && st->pending_len == before && before > 0 &&
		    !st->lost) {
			log_at(st->h->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: HTTP/2 stream %" PRId32 ": send timeout",
			    st->h->host->peer, st->id);
			metrics_timeout(METRICS_TIMEOUT_SEND);
			stream_cancelled(st->h);
			stream_reset(st, NGHTTP2_CANCEL);
		}
	}
	return st->lost ? -1 : 0;
}

/* Lends nghttp2 len bytes of buf for the stream's body and waits. */
static int
stream_give(struct h2_stream *st, const void *buf, size_t len)
{
	if (st->closed) {
		st->lost = 1;
		return -1;
	}
	if (st->content_left >= 0) {
		/* Never past Content-Length: the client would see an error. */
		if ((uint64_t)len > (uint64_t)st->content_left)
			len = (size_t)st->content_left;
		st->content_left -= (int64_t)len;
		if (st->content_left == 0)
			st->body_done = 1;
	}
	if (len == 0)
		return 0;
	st->pending = buf;
	st->pending_len = len;
	if (st->deferred) {
		st->deferred = 0;
		nghttp2_session_resume_data(st->h->session, st->id);
	}
	h2_kick(st->h);
	return stream_wait(st);
}

/*
 * The data provider: the size of the next DATA frame, as much of what the
 * stream has lent as nghttp2 allows (the windows and the frame size bound
 * it), ending the stream once the body is done. The bytes themselves go
 * out by h2_send_data, uncopied.
 */
static ssize_t
h2_read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct h2_stream *st = source->ptr;
	size_t n;

	if (st->lost)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (st->pending_len == 0 && !st->body_done) {
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	n = st->pending_len < length ? st->pending_len : length;
	if (n > 0)
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (n == st->pending_len && st->body_done)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Room in the gather for len bytes to copy, in iovecs pieces. */
static int
gather_room(const struct h2_conn *h, size_t len, int iovecs)
{
	return h->gather->copied + len <= H2_OUT_BYTES &&
	    h->gather->iovcnt + iovecs <= H2_OUT_IOVS;
}

/* Copies len bytes into h->out, on the end of the last piece if it is. */
static void
gather_copy(struct h2_conn *h, const void *data, size_t len)
{
	struct h2_gather *g = h->gather;
	struct iovec *last = g->iovcnt > 0 ? &g->iov[g->iovcnt - 1] : NULL;
	char *to = h->out + g->copied;

	memcpy(to, data, len);
	g->copied += len;
	if (last != NULL && (char *)last->iov_base + last->iov_len == to)
		last->iov_len += len;
	else
		g->iov[g->iovcnt++] = (struct iovec){ to, len };
}

/*
 * A DATA frame: its 9-byte head copied, its payload gathered where the
 * stream's handler lent it, which stays put until the write is over
 * (stream_wait). Padding is never asked for.
 */
static int
h2_send_data(nghttp2_session *session, nghttp2_frame *frame,
    const uint8_t *framehd, size_t length, nghttp2_data_source *source,
    void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st = source->ptr;

	/* Reset while the frame waited for room: its bytes are gone. */
	if (st->lost || length > st->pending_len)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (!gather_room(h, 9, 2)) {
		h->gather->full = 1;
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	gather_copy(h, framehd, 9);
	h->gather->iov[h->gather->iovcnt++] =
	    (struct iovec){ (void *)st->pending, length };
	st->pending += length;
	st->pending_len -= length;
	st->unsent = 1;
	if (st->pending_len == 0 && st->waiting)
		h->work = 1; /* it goes on once the write is over */
	return 0;
}

/* Fields HTTP/2 forbids (RFC 9113 8.2.2): a header rule could add them. */
static int
connection_specific(const struct response_field *f)
{
	static const char *const names[] = { "connection", "keep-alive",
		"proxy-connection", "transfer-encoding", "upgrade" };
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (f->name_len == strlen(names[i]) &&
		    strncasecmp(f->name, names[i], f->name_len) == 0)
			return 1;
	return 0;
}

/* The Content-Length field's value, or -1 when there is none. */
static int64_t
content_length(const struct response_field *f)
{
	int64_t v = 0;
	size_t i;

	if (f->name_len != 14 || strncasecmp(f->name, "content-length", 14))
		return -1;
	if (f->value_len == 0 || f->value_len > 18)
		return -1;
	for (i = 0; i < f->value_len; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return -1;
		v = v * 10 + (f->value[i] - '0');
	}
	return v;
}

/*
 * r as an HTTP/2 response: :status and the fields with their names in
 * lower case, submitted with a data provider unless there is no body.
 */
static int
h2_send_head(
    struct exchange *x, struct response *r, const void *body, size_t len)
{
	struct h2_stream *st = x->owner;
	struct h2_conn *h = st->h;
	struct response_field f;
	nghttp2_data_provider provider;
	nghttp2_nv *nv;
	char status[3], *names;
	size_t pos = 0, count = 1, i, off = 0;
	unsigned code;
	int64_t length = -1;
	uint8_t flags;
	int rv;

	if (st->lost)
		return -1;
	response_add_server(r, h->cfg->server_tokens);
	while (response_field_next(r, &pos, &f))
		count++;
	/*
	 * Response fields go into HPACK's table (4,096 bytes, the default)
	 * once a connection has asked for a second thing: a page's assets
	 * then cost the client 34 bytes of head to decode instead of 125,
	 * and a connection asking for one thing and going idle keeps no
	 * table (nginx keeps none on any). Never indexed is the only way
	 * nghttp2 lets a field stay out.
	 */
	flags =
	    h->requests > 1 ? NGHTTP2_NV_FLAG_NONE : NGHTTP2_NV_FLAG_NO_INDEX;
	nv = malloc(count * sizeof *nv + r->len);
	if (nv == NULL) {
		stream_reset(st, NGHTTP2_INTERNAL_ERROR);
		return -1;
	}
	names = (char *)(nv + count);
	code = (unsigned)r->status;
	status[0] = (char)('0' + code / 100 % 10);
	status[1] = (char)('0' + code / 10 % 10);
	status[2] = (char)('0' + code % 10);
	nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3,
		flags };
	count = 1;
	pos = 0;
	while (response_field_next(r, &pos, &f)) {
		if (connection_specific(&f))
			continue;
		if (content_length(&f) >= 0)
			length = content_length(&f);
		for (i = 0; i < f.name_len; i++)
			names[off + i] = f.name[i] >= 'A' && f.name[i] <= 'Z'
			    ? (char)(f.name[i] - 'A' + 'a')
			    : f.name[i];
		nv[count++] = (nghttp2_nv){ (uint8_t *)names + off,
			(uint8_t *)f.value, f.name_len, f.value_len, flags };
		off += f.name_len;
	}
	st->no_body = st->head || r->status == 204 || r->status == 304 ||
	    r->status < 200 || (length == 0 && len == 0);
	st->content_left = st->no_body ? -1 : length;
	provider.source.ptr = st;
	provider.read_callback = h2_read_body;
	rv = nghttp2_submit_response(
	    h->session, st->id, nv, count, st->no_body ? NULL : &provider);
	free(nv);
	if (rv != 0) {
		stream_reset(st, NGHTTP2_INTERNAL_ERROR);
		return -1;
	}
	st->submitted = 1;
	h2_kick(h);
	if (st->no_body)
		return 0;
	return stream_give(st, body, body != NULL ? len : 0);
}

static int
h2_send_body(struct exchange *x, const void *buf, size_t len)
{
	struct h2_stream *st = x->owner;

	if (st->lost)
		return -1;
	if (st->no_body)
		return 0;
	return stream_give(st, buf, len);
}

static size_t
h2_buffer_left(const struct h2_conn *h)
{
	size_t max = h->cfg->h2_max_buffer_bytes;

	return h->buffered < max ? max - h->buffered : 0;
}

/*
 * A stream's body buffer comes out of its connection's budget, so the
 * memory a connection holds does not grow with its streams: a stream
 * finding less than least left, or others waiting already, waits its
 * turn (h2_run_streams serves the queue in order). Holders stream one
 * chunk at a time and, with others waiting, give their buffer back
 * between chunks and queue again (h2_contended), so a long download does
 * not hold the budget from a later stream's small answer; a client that
 * stops taking a holder's bytes is cut off by send_timeout_ms.
 */
static size_t
h2_reserve(struct exchange *x, size_t want, size_t least)
{
	struct h2_stream *st = x->owner;
	struct h2_conn *h = st->h;
	size_t left;
	int turn = h->starving == NULL;

	if (least > h->cfg->h2_max_buffer_bytes)
		least = h->cfg->h2_max_buffer_bytes;
	while (!st->lost && !h->closing) {
		if (turn && (left = h2_buffer_left(h)) >= least) {
			if (want > left)
				want = left;
			h->buffered += want;
			return want;
		}
		st->starved = least;
		st->starving_next = NULL;
		if (h->starving_last != NULL)
			h->starving_last->starving_next = st;
		else
			h->starving = st;
		h->starving_last = st;
		coro_yield(); /* h2_run_streams took it off the queue */
		turn = 1;
	}
	errno = ECANCELED;
	return 0;
}

static void
h2_release(struct exchange *x, size_t size)
{
	struct h2_stream *st = x->owner;
	struct h2_conn *h = st->h;

	h->buffered -= size;
	if (h->starving != NULL)
		h2_kick(h);
}

static int
h2_contended(struct exchange *x)
{
	struct h2_stream *st = x->owner;

	return st->h->starving != NULL;
}

/*
 * Resumes the streams waiting for a buffer, in the order they began to,
 * while the budget has what the first of them needs (all of them when
 * the connection ends). Each takes its share as it is resumed.
 */
static void
h2_feed_starving(struct h2_conn *h)
{
	struct h2_stream *st;

	while ((st = h->starving) != NULL &&
	    (h->closing || st->lost || h2_buffer_left(h) >= st->starved)) {
		if ((h->starving = st->starving_next) == NULL)
			h->starving_last = NULL;
		st->starved = 0;
		coro_resume(st->co);
	}
}

/* No send_file: the bytes go through frames, so handlers copy. */
static const struct exchange_ops h2_ops = {
	.send_head = h2_send_head,
	.send_body = h2_send_body,
	.reserve = h2_reserve,
	.release = h2_release,
	.contended = h2_contended,
};

/*
 * The stream's request, parsed by the HTTP/1.1 parser from its head as
 * text (h2req.c): 0, or a negated status to answer.
 */
static long
stream_request(struct h2_stream *st, struct request *req)
{
	struct request_limits limits = st->h->cfg->request_limits;
	size_t len;
	long rc;

	if (st->too_large)
		return -431;
	rc = h2req_text(st->fields, st->fields_len, &st->text, &len, &st->head);
	if (rc < 0)
		return rc;
	free(st->fields);
	st->fields = NULL;
	/* The list size bounded the whole; line and field limits still hold. */
	limits.head_max = (unsigned)len;
	rc = request_parse_limited(req, st->text, len, &limits);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -400;
	req->http2 = 1;
	req->keep_alive = 1;
	return 0;
}

/* A stream's coroutine: one request, parsed, dispatched and logged. */
static void
stream_main(void *arg)
{
	struct h2_stream *st = arg;
	struct h2_conn *h = st->h;
	const struct conn_env *env = h->host->env;
	const struct dispatch_origin origin = { env, h->host->peer,
		h->host->transport, h->host->listener, h->host->retiring };
	struct request req;
	struct exchange x;
	long start_ms = await_now_ms(), rc;

	if (st->empty)
		return;
	if ((rc = stream_request(st, &req)) < 0) {
		exchange_init(&x, &h2_ops, st, NULL, env->roots[0]);
		exchange_send_error(&x, (int)-rc);
		log_at(h->cfg->log_level, LOG_LEVEL_DEBUG,
		    "%s: HTTP/2 stream %" PRId32 ": bad request: %ld",
		    h->host->peer, st->id, -rc);
	} else {
		exchange_init(
		    &x, &h2_ops, st, &req, dispatch_root(env, req.host));
		dispatch_request(&origin, &x);
		dispatch_log(&origin, &x, start_ms);
	}
	if (x.head_sent)
		metrics_request(x.status, x.body_bytes);
	if (st->lost)
		return;
	/* An answer cut short must not look whole: reset the stream. */
	if (!st->submitted || st->content_left > 0) {
		stream_reset(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	st->body_done = 1;
	if (st->deferred) {
		st->deferred = 0;
		nghttp2_session_resume_data(h->session, st->id);
	}
	h2_kick(h);
}

/* The end of a stream's coroutine, however it ends. */
static void
stream_finish(void *arg)
{
	struct h2_stream *st = arg;
	struct h2_conn *h = st->h;

	st->co = NULL;
	st->pending = NULL;
	st->pending_len = 0;
	free(st->text);
	st->text = NULL;
	h->live--;
	/* Answered: the idle deadline runs from now (h2_idle_left). */
	h->idle = H2_BUSY;
	if (st->closed || h->closing)
		stream_free(st);
	h2_kick(h);
}

/* Starts the stream's coroutine: 0, or -1 when none can be had. */
static int
stream_start(struct h2_stream *st)
{
	struct coro *co;

	st->started = 1;
	if ((co = coro_create(stream_main, st)) == NULL)
		return -1;
	st->co = co;
	st->h->live++;
	if (coro_defer(co, stream_finish, st) == -1) {
		/* Only a finished coroutine gives its stack back. */
		st->empty = 1;
		st->co = NULL;
		st->h->live--;
		coro_resume(co);
		return -1;
	}
	coro_resume(co);
	return 0;
}

/*
 * Starts the streams whose heads are complete (oldest first, while fewer
 * than h2_max_concurrent_streams coroutines live: a client resetting
 * streams whose coroutines wait on storage cannot pile up more) and
 * resumes those whose bytes nghttp2 took and those lost; then those the
 * budget can now lend a buffer.
 */
static void
h2_run_streams(struct h2_conn *h)
{
	struct h2_stream *st, *next;

	h->work = 0;
	for (st = h->streams; st != NULL; st = next) {
		next = st->next;
		if (st->ready && !st->started && !h->closing) {
			if (h->live >= h->cfg->h2_max_concurrent_streams)
				continue;
			if (stream_start(st) == -1) {
				log_warnx("%s: no memory for an HTTP/2 stream",
				    h->host->peer);
				stream_reset(st, NGHTTP2_REFUSED_STREAM);
			}
		} else if (st->waiting &&
		    (st->pending_len == 0 || st->lost || h->closing)) {
			st->waiting = 0;
			coro_resume(st->co);
		}
	}
	h2_feed_starving(h);
}

static int
h2_on_begin_headers(
    nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((st = calloc(1, sizeof *st)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->h = h;
	st->id = frame->hd.stream_id;
	st->content_left = -1;
	st->prev = h->last;
	if (h->last != NULL)
		h->last->next = st;
	else
		h->streams = st;
	h->last = st;
	nghttp2_session_set_stream_user_data(session, st->id, st);
	return 0;
}

/* Keeps one request field, within h2_max_header_list_size. */
static int
h2_on_header(nghttp2_session *session, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
    uint8_t flags, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st;
	size_t need = namelen + valuelen + 2, size;
	char *fields;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	st->field_bytes += namelen + valuelen;
	if (st->too_large)
		return 0;
	st->list_bytes += namelen + valuelen + 32;
	if (st->list_bytes > h->cfg->h2_max_header_list_size) {
		st->too_large = 1;
		free(st->fields);
		st->fields = NULL;
		st->fields_len = st->fields_size = 0;
		return 0;
	}
	if (st->fields_len + need > st->fields_size) {
		size = st->fields_size == 0 ? 512 : st->fields_size;
		while (size < st->fields_len + need)
			size *= 2;
		if ((fields = realloc(st->fields, size)) == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		st->fields = fields;
		st->fields_size = size;
	}
	memcpy(st->fields + st->fields_len, name, namelen);
	st->fields[st->fields_len + namelen] = '\0';
	memcpy(st->fields + st->fields_len + namelen + 1, value, valuelen);
	st->fields[st->fields_len + need - 1] = '\0';
	st->fields_len += need;
	return 0;
}

static int
h2_on_frame_recv(
    nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st;

	if (frame->hd.type == NGHTTP2_PING &&
	    (frame->hd.flags & NGHTTP2_FLAG_ACK) && h->noticed &&
	    memcmp(frame->ping.opaque_data, h2_notice_ping, 8) == 0) {
		h->goaway_ms = 0;
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (st != NULL) {
		st->ready = 1;
		h->requests++;
		h->work = 1;
		h->field_bytes += st->field_bytes < h->head_wire
		    ? st->field_bytes
		    : h->head_wire;
	}
	return 0;
}

/* A header block's size on the wire: its HEADERS and CONTINUATIONs. */
static int
h2_on_begin_frame(
    nghttp2_session *session, const nghttp2_frame_hd *hd, void *arg)
{
	struct h2_conn *h = arg;

	if (hd->type == NGHTTP2_HEADERS)
		h->head_wire = hd->length;
	else if (hd->type == NGHTTP2_CONTINUATION)
		h->head_wire += hd->length;
	return 0;
}

static int
h2_on_stream_close(
    nghttp2_session *session, int32_t id, uint32_t code, void *arg)
{
	struct h2_conn *h = arg;
	struct h2_stream *st;

	st = nghttp2_session_get_stream_user_data(session, id);
	if (st == NULL)
		return 0;
	st->closed = 1;
	if (st->co == NULL) {
		stream_free(st);
		return 0;
	}
	/* Its coroutine finds out at its next send, or now if it waits. */
	if (!st->body_done || st->pending_len > 0) {
		st->lost = 1;
		st->pending = NULL;
		st->pending_len = 0;
	}
	h->work = 1;
	return 0;
}

/*
 * transport_read, or EAGAIN without a call when the last read took all
 * there was and no readiness came since (conn.c's conn_recv).
 */
static ssize_t
h2_recv(struct h2_conn *h)
{
	struct transport *t = h->host->transport;
	struct await_watch *w = h->host->watch;

	int reported = w->seen & EV_READ;
	ssize_t n;

	if (t->drained && !reported) {
		t->want = EV_READ;
		errno = EAGAIN;
		return -1;
	}
	w->seen &= ~EV_READ;
	if ((n = transport_read(t, h->in, H2_READ_BYTES)) > 0 && !reported)
		reactor_read_unreported(reactor_current());
	return n;
}

/*
 * Writes all of iov (which it uses up), and whatever the transport still
 * holds of it (TLS records), waiting for the socket as conn.c's
 * conn_writev does.
 */
static int
h2_writev(struct h2_conn *h, struct iovec *iov, int iovcnt)
{
	struct transport *t = h->host->transport;
	long deadline = await_now_ms() + h->cfg->send_timeout_ms, timeout;
	ssize_t n;

	while (iovcnt > 0 || transport_unsent(t)) {
		if ((n = transport_writev(t, iov, iovcnt)) >= 0) {
			h->out_bytes += (uint64_t)n;
			for (; iovcnt > 0 && (size_t)n >= iov->iov_len;
			     iovcnt--)
				n -= (ssize_t)(iov++)->iov_len;
			if (iovcnt > 0) {
				iov->iov_base = (char *)iov->iov_base + n;
				iov->iov_len -= (size_t)n;
			}
			deadline = await_now_ms() + h->cfg->send_timeout_ms;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if ((timeout = deadline - await_now_ms()) <= 0 ||
		    await_watch(h->host->watch, t->want, timeout) == -1) {
			log_at(h->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: send timeout", h->host->peer);
			metrics_timeout(METRICS_TIMEOUT_SEND);
			return -1;
		}
	}
	return 0;
}

/*
 * Empties the gather: the streams whose bytes it held may go on
 * (h2_run_streams resumes them), whether they went out or not.
 */
static void
gather_reset(struct h2_conn *h)
{
	struct h2_stream *st;

	h->gather->iovcnt = 0;
	h->gather->copied = 0;
	h->gather->full = 0;
	for (st = h->streams; st != NULL; st = st->next)
		st->unsent = 0;
}

static int
h2_write_gathered(struct h2_conn *h)
{
	struct h2_gather *g = h->gather;
	int rc = 0;

	if (g->iovcnt > 0)
		rc = h2_writev(h, g->iov, g->iovcnt);
	gather_reset(h);
	return rc;
}

/*
 * Everything the session has to send, gathered and written out: 0, or
 * -1 when the connection is lost. Writes wait between calls into the
 * session, never inside one (stream coroutines may use it meanwhile).
 */
static int
h2_flush(struct h2_conn *h)
{
	struct h2_gather g = { .iovcnt = 0 };
	const uint8_t *data;
	ssize_t n;
	int rc = -1;

	h->gather = &g;
	for (;;) {
		if ((n = nghttp2_session_mem_send(h->session, &data)) < 0) {
			log_at(h->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: HTTP/2: %s", h->host->peer,
			    nghttp2_strerror((int)n));
			break;
		}
		if (n == 0 && !g.full) {
			rc = h2_write_gathered(h);
			break;
		}
		if ((g.full || !gather_room(h, (size_t)n, 1)) &&
		    h2_write_gathered(h) == -1)
			break;
		if (n == 0)
			continue;
		if ((size_t)n <= H2_OUT_BYTES) {
			gather_copy(h, data, (size_t)n);
			continue;
		}
		/* nghttp2's buffer is good until the next call: now. */
		g.iov[g.iovcnt++] = (struct iovec){ (void *)data, (size_t)n };
		if (h2_write_gathered(h) == -1)
			break;
	}
	if (rc == -1)
		gather_reset(h);
	h->gather = NULL;
	return rc;
}

static size_t
page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* The slab's parts, from its start: the ring's page, the map's, the rest. */
static size_t
slab_bytes(size_t page)
{
	return 2 * page + (H2_FRAMES_ASKED + page - 1) / page * page;
}

static int
in_slab(const struct h2_conn *h, const void *p)
{
	uintptr_t u = (uintptr_t)p;

	return u >= (uintptr_t)h->slab && u < h->slab_end;
}

/*
 * Whole pages for pg: the slab's from page first on (to its end when
 * last) when not offered yet and enough, else page-aligned ones of its
 * own, so that giving them back touches nothing of malloc's (its headers
 * lie outside them); from the heap, so that 10,000 sessions are not
 * 10,000 mappings.
 */
static void *
paged_alloc(
    struct h2_conn *h, struct h2_paged *pg, size_t first, int last, size_t size)
{
	size_t page = page_size();
	uintptr_t part = (uintptr_t)h->slab + first * page;

	size = (size + page - 1) / page * page;
	if (!pg->taken && size <= (last ? h->slab_end - part : page))
		pg->p = (void *)part;
	else
		pg->p = aligned_alloc(page, size);
	pg->taken = 1;
	if (pg->p != NULL)
		pg->size = size;
	return pg->p;
}

/* Forgets p if it is one of the paged blocks. */
static void
paged_forget(struct h2_conn *h, const void *p)
{
	struct h2_paged *pg[] = { &h->frames, &h->map, &h->ring };
	size_t i;

	for (i = 0; i < sizeof pg / sizeof pg[0]; i++)
		if (p != NULL && p == pg[i]->p)
			pg[i]->p = NULL;
}

static int
all_zero(const void *p, size_t size)
{
	const unsigned long *w = p;
	size_t i;

	for (i = 0; i < size / sizeof *w; i++)
		if (w[i] != 0)
			return 0;
	return 1;
}

void
h2_give_back(struct h2_conn *h)
{
	if (h->frames.p != NULL)
		(void)madvise(h->frames.p, h->frames.size, MADV_DONTNEED);
	if (h->map.p != NULL && all_zero(h->map.p, h->map.size))
		(void)madvise(h->map.p, h->map.size, MADV_DONTNEED);
	if (h->ring.p != NULL && all_zero(h->ring.p, h->ring.size))
		(void)madvise(h->ring.p, h->ring.size, MADV_DONTNEED);
}

static void *
h2_mem_realloc(void *p, size_t size, void *arg)
{
	struct h2_conn *h = arg;
	size_t old;
	void *q;

	if (p == NULL && size >= H2_FRAMES_BYTES && !h->frames.taken)
		return paged_alloc(h, &h->frames, 2, 1, size);
	if (p == NULL && size == H2_RING_BYTES && !h->ring.taken) {
		if ((p = paged_alloc(h, &h->ring, 0, 0, size)) != NULL)
			memset(p, 0, h->ring.size);
		return p;
	}
	/* Not nghttp2's way with these, but then they are no longer paged. */
	paged_forget(h, p);
	if (p == NULL || !in_slab(h, p))
		return realloc(p, size);
	/* A slab part: a page, or the rest of the slab from the third. */
	old = (uintptr_t)p - (uintptr_t)h->slab < 2 * page_size()
	    ? page_size()
	    : h->slab_end - (uintptr_t)p;
	if ((q = malloc(size)) != NULL)
		memcpy(q, p, old < size ? old : size);
	return q;
}

static void *
h2_mem_malloc(size_t size, void *arg)
{
	return h2_mem_realloc(NULL, size, arg);
}

/* The stream map's table, whenever it grows: the old one is then freed. */
static void *
h2_mem_calloc(size_t n, size_t size, void *arg)
{
	struct h2_conn *h = arg;
	void *p;

	if (size == 0 || n > SIZE_MAX / size || n * size < H2_ZEROED_BYTES)
		return calloc(n, size);
	if ((p = paged_alloc(h, &h->map, 1, 0, n * size)) != NULL)
		memset(p, 0, h->map.size);
	return p;
}

static void
h2_mem_free(void *p, void *arg)
{
	struct h2_conn *h = arg;

	paged_forget(h, p);
	if (!in_slab(h, p))
		free(p);
}

static int
h2_session_new(struct h2_conn *h)
{
	nghttp2_mem mem = { h, h2_mem_malloc, h2_mem_free, h2_mem_calloc,
		h2_mem_realloc };
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
		    h->cfg->h2_max_concurrent_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		    h->cfg->h2_max_header_list_size },
		/* RFC 9218: nghttp2 schedules by the priority field. */
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	size_t slab = slab_bytes(page_size());
	int rv = -1;

	if ((h->slab = aligned_alloc(page_size(), slab)) == NULL)
		return -1;
	h->slab_end = (uintptr_t)h->slab + slab;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		goto fail_slab;
	if (nghttp2_option_new(&opt) != 0)
		goto fail_cbs;
	/*
	 * The defences nghttp2 keeps itself, set here so an upgrade of the
	 * library cannot loosen them: at most 8 CONTINUATION frames per head
	 * (CVE-2024-27316's class; Debian's 1.52.0-1+deb12u2 has the fix),
	 * resets at 33 a second after a burst of 1000 (rapid reset,
	 * CVE-2023-44487), 1000 unsent PING or SETTINGS ACKs, 32 entries per
	 * SETTINGS frame. A client without RFC 9218 still gets the minimal
	 * RFC 7540 priorities; PRIORITY_UPDATE, an extension frame, is
	 * dropped unread unless asked for.
	 */
	nghttp2_option_set_max_continuations(opt, 8);
	nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_server_fallback_rfc7540_priorities(opt, 1);
	nghttp2_option_set_builtin_recv_extension_type(
	    opt, NGHTTP2_PRIORITY_UPDATE);
	nghttp2_session_callbacks_set_on_begin_headers_callback(
	    cbs, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
	nghttp2_session_callbacks_set_on_begin_frame_callback(
	    cbs, h2_on_begin_frame);
	nghttp2_session_callbacks_set_on_frame_recv_callback(
	    cbs, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(
	    cbs, h2_on_stream_close);
	nghttp2_session_callbacks_set_send_data_callback(cbs, h2_send_data);
	if (nghttp2_session_server_new3(&h->session, cbs, h, opt, &mem) != 0)
		goto fail_opt;
	if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv,
		sizeof iv / sizeof iv[0]) != 0) {
		nghttp2_session_del(h->session);
		h->session = NULL;
		goto fail_opt;
	}
	rv = 0;
fail_opt:
	nghttp2_option_del(opt);
fail_cbs:
	nghttp2_session_callbacks_del(cbs);
fail_slab:
	/* The ladder runs on success too: only a failure frees the slab. */
	if (rv == -1) {
		free(h->slab);
		h->slab = NULL;
		h->slab_end = 0;
	}
	return rv;
}

/*
 * How long the connection may still wait for its client: -1 while a
 * stream coroutine lives (its send timeout, or storage, bounds the wait),
 * else what is left of the idle deadline, set when the connection began
 * to wait for a request (header_timeout_ms) or for nothing
 * (keepalive_timeout_ms), and moved only by a change between the two or
 * by a stream's end (a request answered within one loop turn never
 * showed as a live coroutine here).
 */
static long
h2_idle_left(struct h2_conn *h)
{
	enum h2_idle idle;
	long now = await_now_ms();

	if (h->live > 0) {
		h->idle = H2_BUSY;
		return -1;
	}
	idle = h->streams != NULL || h->requests == 0 ? H2_OWED : H2_IDLE;
	if (idle != h->idle) {
		h->idle = idle;
		h->idle_deadline_ms = now +
		    (long)(idle == H2_OWED ? h->cfg->header_timeout_ms
					   : h->cfg->keepalive_timeout_ms);
	}
	return h->idle_deadline_ms > now ? h->idle_deadline_ms - now : 0;
}

/* Whether the client has sent far more than its requests explain. */
static int
h2_flooded(const struct h2_conn *h)
{
	return h->in_bytes > H2_FLOOD_ALLOWANCE +
	    H2_FLOOD_PER_FIELD * h->field_bytes +
	    h->out_bytes / H2_FLOOD_OUT_SHARE;
}

/*
 * The GOAWAYs of a drain: the notice, then, once it is due, the one that
 * names the last stream taken; a connection at keepalive_requests gets
 * that one at once, its client having sent what it was allowed.
 */
static void
h2_goaway(struct h2_conn *h)
{
	long now;

	if (!h->draining && h->cfg->keepalive_requests > 0 &&
	    h->requests >= h->cfg->keepalive_requests)
		h->draining = h->noticed = 1;
	if (!h->draining || h->goaway_sent)
		return;
	now = await_now_ms();
	if (!h->noticed) {
		h->noticed = 1;
		h->goaway_ms = now + H2_NOTICE_MS;
		if (nghttp2_submit_shutdown_notice(h->session) != 0 ||
		    nghttp2_submit_ping(
			h->session, NGHTTP2_FLAG_NONE, h2_notice_ping) != 0)
			h->goaway_ms = 0;
	}
	if (now < h->goaway_ms)
		return;
	nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->session),
	    NGHTTP2_NO_ERROR, NULL, 0);
	h->goaway_sent = 1;
}

/* The ms until the notice's GOAWAY is due, or -1 when none is awaited. */
static long
h2_notice_left(const struct h2_conn *h)
{
	long now;

	if (!h->noticed || h->goaway_sent)
		return -1;
	now = await_now_ms();
	return h->goaway_ms > now ? h->goaway_ms - now : 0;
}

/* Ends the session with a GOAWAY carrying code, sent if it can be. */
static void
h2_terminate(struct h2_conn *h, uint32_t code, const char *why)
{
	if (why != NULL)
		log_at(h->cfg->log_level, LOG_LEVEL_DEBUG, "%s: HTTP/2: %s",
		    h->host->peer, why);
	nghttp2_session_terminate_session(h->session, code);
	h2_flush(h);
}

/*
 * The session's loop: -1 when the connection is to close, or the ms it
 * may wait parked (nothing in flight, nothing to send).
 */
static long
h2_run(struct h2_conn *h)
{
	struct transport *t = h->host->transport;
	unsigned rounds = 0;
	long timeout, notice;
	ssize_t n;
	int r;

	for (;;) {
		if (h->send_cancels > H2_SEND_CANCELS_MAX) {
			h2_terminate(h, NGHTTP2_ENHANCE_YOUR_CALM,
			    "streams left with shut windows");
			return -1;
		}
		h2_run_streams(h);
		h2_goaway(h);
		if (h2_flush(h) == -1)
			return -1;
		if (!nghttp2_session_want_read(h->session) &&
		    !nghttp2_session_want_write(h->session))
			return -1;
		if (rounds >= H2_ROUNDS_PER_TURN) {
			rounds = 0;
			if (await_sleep(0) == -1)
				return -1;
			continue;
		}
		/*
		 * Read before going round again, even with work to do: a
		 * download running on open windows must not keep the
		 * connection from reading its client's next requests (the
		 * read costs no call while nothing came since the last).
		 */
		if ((n = h2_recv(h)) > 0) {
			rounds++;
			h->in_bytes += (uint64_t)n;
			if ((n = nghttp2_session_mem_recv(h->session,
				 (const uint8_t *)h->in, (size_t)n)) < 0) {
				/*
				 * nghttp2 queues a GOAWAY for a protocol
				 * error, none for the floods it detects.
				 */
				h2_terminate(h,
				    n == NGHTTP2_ERR_FLOODED ||
					    n ==
						NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
					? NGHTTP2_ENHANCE_YOUR_CALM
					: NGHTTP2_PROTOCOL_ERROR,
				    nghttp2_strerror((int)n));
				return -1;
			}
			if (h2_flooded(h)) {
				h2_terminate(h, NGHTTP2_ENHANCE_YOUR_CALM,
				    "flood: frames that ask for nothing");
				return -1;
			}
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		if (h->work) {
			rounds++;
			continue;
		}
		rounds = 0;
		if ((timeout = h2_idle_left(h)) == 0) {
			h2_terminate(h, NGHTTP2_NO_ERROR, NULL);
			return -1;
		}
		if ((notice = h2_notice_left(h)) == 0)
			continue;
		if (notice > 0 && (timeout < 0 || notice < timeout))
			timeout = notice;
		/*
		 * Nothing in flight and nothing to send: the connection parks,
		 * holding no stack and no buffer, as an HTTP/1.1 one does (a
		 * drain's too, while its client has the notice).
		 */
		if (h->streams == NULL && h->live == 0)
			return timeout;
		h->wait = H2_WAIT_SOCKET;
		r = await_watch(h->host->watch, t->want, timeout);
		h->wait = H2_WAIT_NONE;
		if (r == -1 && errno == ETIMEDOUT)
			continue; /* h2_idle_left or h2_goaway takes it */
		if (r == -1)
			return -1;
	}
}

/*
 * The end: every stream is lost, those waiting to send are woken to
 * unwind, and the connection's coroutine waits for every stream
 * coroutine to end (some may wait on I/O jobs) before anything is freed.
 */
static void
h2_teardown(struct h2_conn *h)
{
	struct h2_stream *st;

	h->closing = 1;
	for (st = h->streams; st != NULL; st = st->next) {
		st->lost = 1;
		st->pending = NULL;
		st->pending_len = 0;
	}
	h2_run_streams(h);
	while (h->live > 0) {
		h->wait = H2_WAIT_STREAMS;
		coro_yield();
		h->wait = H2_WAIT_NONE;
		h2_run_streams(h);
	}
	nghttp2_session_del(h->session);
	h->session = NULL;
	while (h->streams != NULL)
		stream_free(h->streams);
}

void
h2_free(struct h2_conn *h)
{
	nghttp2_session_del(h->session); /* none after h2_teardown */
	event_del((struct event *)h->kick);
	free(h->slab);
	free(h->out);
	free(h->in);
	free(h);
}

long
h2_serve(const struct h2_host *host, const void *preread, size_t len,
    struct h2_conn **self)
{
	struct h2_conn *h;
	ssize_t rv;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return -1;
	h->cfg = host->env->cfg;
	if (h2_session_new(h) == -1) {
		free(h);
		return -1;
	}
	event_assign((struct event *)h->kick, reactor_current()->base, -1, 0,
	    h2_kick_cb, h);
	*self = h;
	if (len > 0 &&
	    (rv = nghttp2_session_mem_recv(
		 h->session, (const uint8_t *)preread, len)) < 0) {
		log_at(h->cfg->log_level, LOG_LEVEL_DEBUG, "%s: HTTP/2: %s",
		    host->peer, nghttp2_strerror((int)rv));
		h2_free(h);
		return -1;
	}
	return h2_resume(h, host);
}

long
h2_resume(struct h2_conn *h, const struct h2_host *host)
{
	long park = -1;

	h->host = host;
	h->co = coro_current();
	if (host->draining)
		h->draining = 1;
	if ((h->in != NULL || (h->in = malloc(H2_READ_BYTES)) != NULL) &&
	    (h->out != NULL || (h->out = malloc(H2_OUT_BYTES)) != NULL))
		park = h2_run(h);
	if (park >= 0) {
		free(h->in);
		free(h->out);
		h->in = h->out = NULL;
		h->parked_ticks = 0;
		return park;
	}
	h2_teardown(h);
	h2_free(h);
	return -1;
}

int
h2_trim(struct h2_conn *h)
{
	return h->parked_ticks++ == 1;
}

void
h2_drain(struct h2_conn *h)
{
	if (h->draining)
		return;
	h->draining = 1;
	h2_kick(h);
}
