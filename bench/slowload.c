/*
 * slowload: the slow-storage load of bench/run and bench/conncost. N_SLOW
 * connections each fetch one slow file (made slow by slowfs in the
 * server) over and over, while FAST_CONNS connections fetch ordinary
 * files in a closed loop, for DURATION_S seconds; then one JSON line with
 * the fast requests' latencies. A fast request still waiting when time is
 * up counts with the time it has waited so far (a lower bound), so a
 * server that stalls for the whole run shows a max of the whole run, not
 * an empty histogram. First one connection fetches every fast file once,
 * unmeasured: the page cache and the server's own caches hold them, as
 * they would on a busy site (and as bench/lib/h2slow.py has them), so the
 * row measures what slow storage does to them whatever the rows before
 * left in memory (the truly cold row drops the page cache, and a machine
 * may evict pages left unused for seconds).
 *
 * In C, on one thread and one epoll set, because the client must not be
 * what the fast requests wait for: a server that keeps the slow files'
 * bytes serves those connections as fast as the others, and 108
 * connections in a closed loop kept a Python client busy at about 11,500
 * responses per second, so that each fast request queued behind a hundred
 * others in the client (about 9 ms) whatever the server did.
 *
 * Usage: slowload PORT FAST_LIST SLOW_LIST N_SLOW FAST_CONNS DURATION_S
 */
#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define BUF_BYTES 262144 /* one recv's worth */

struct conn {
	int fd;
	int fast;
	int once; /* each path once, then no more requests */
	char **paths; /* this connection's, fetched in turn */
	size_t npaths, next;
	uint64_t start_ns;
	char head[HEAD_MAX];
	size_t head_len;
	long long body_left; /* -1: the head is not complete yet */
};

static int port, ep;
static unsigned long errors;
static double *lat;
static size_t nlat, lat_cap;

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char **
read_list(const char *file, size_t *n)
{
	char **v = NULL, line[4096];
	size_t cap = 0;
	FILE *f;

	if ((f = fopen(file, "r")) == NULL)
		die(file);
	*n = 0;
	while (fscanf(f, "%4095s", line) == 1) {
		if (*n == cap &&
		    (v = realloc(v, (cap = cap * 2 + 64) * sizeof *v)) == NULL)
			die("realloc");
		if ((v[(*n)++] = strdup(line)) == NULL)
			die("strdup");
	}
	fclose(f);
	return v;
}

static void
conn_connect(struct conn *c)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_port = htons(port) };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		die("epoll_ctl");
}

static void
conn_send(struct conn *c)
{
	char req[4200];
	int len;

	len =
	    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n",
		c->paths[c->next++ % c->npaths]);
	c->head_len = 0;
	c->body_left = -1;
	c->start_ns = now_ns();
	/* A request is far smaller than an empty socket buffer. */
	if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		errors++;
		close(c->fd);
		conn_connect(c);
		conn_send(c);
	}
}

/* The head is complete: what it says of the body still to come. */
static void
parse_head(struct conn *c, size_t head_end)
{
	char *p = c->head, *end = c->head + head_end, *eol;
	long long length = 0;

	if (strncmp(p, "HTTP/1.1 200", 12) != 0)
		errors++;
	for (;
	     p < end && (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) != NULL;
	     p = eol + 2)
		if (strncasecmp(p, "content-length:", 15) == 0)
			length = atoll(p + 15);
	c->body_left = length;
}

static void
done(struct conn *c, unsigned long *slow_done)
{
	if (c->fast) {
		if (nlat == lat_cap &&
		    (lat = realloc(lat,
			 (lat_cap = lat_cap * 2 + 4096) * sizeof *lat)) == NULL)
			die("realloc");
		lat[nlat++] = (double)(now_ns() - c->start_ns) / 1000;
	} else
		(*slow_done)++;
	if (!c->once || c->next < c->npaths)
		conn_send(c);
}

static void
conn_read(struct conn *c, char *buf, size_t size, unsigned long *slow_done)
{
	ssize_t n = recv(c->fd, buf, size, 0);
	size_t take, i;
	char *sep;

	if (n <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		errors++;
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		conn_connect(c);
		conn_send(c);
		return;
	}
	if (c->body_left < 0) {
		take = (size_t)n < HEAD_MAX - c->head_len
		    ? (size_t)n
		    : HEAD_MAX - c->head_len;
		memcpy(c->head + c->head_len, buf, take);
		c->head_len += take;
		if ((sep = memmem(c->head, c->head_len, "\r\n\r\n", 4)) == NULL)
			return; /* a head longer than HEAD_MAX never ends here
				 */
		i = (size_t)(sep - c->head) + 4;
		parse_head(c, i - 2);
		/* What followed the head in this read is body. */
		n = (ssize_t)(c->head_len - i) + (n - (ssize_t)take);
	}
	c->body_left -= n;
	if (c->body_left <= 0)
		done(c, slow_done);
}

/* Fetches each of the n paths once over one connection, within 30 s. */
static void
warm(char **paths, size_t n, char *buf, size_t size)
{
	struct conn c = { .paths = paths, .npaths = n, .once = 1 };
	struct epoll_event evs[1];
	unsigned long fetched = 0;
	uint64_t end = now_ns() + 30000000000u;

	conn_connect(&c);
	conn_send(&c);
	while (fetched < n) {
		if (now_ns() > end) {
			fprintf(stderr, "slowload: warm-up fetched %lu of %zu\n",
			    fetched, n);
			exit(1);
		}
		if (epoll_wait(ep, evs, 1, 1000) == 1)
			conn_read(&c, buf, size, &fetched);
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, NULL);
	close(c.fd);
}

/* The p-th percentile of the sorted latencies, as slowload.py took it. */
static double
pct(double p)
{
	size_t k = (size_t)(p / 100.0 * (double)nlat);

	if (nlat == 0)
		return 0;
	return lat[k < nlat ? k : nlat - 1];
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	char **fast, **slow, *buf;
	size_t nfast, nslow_paths, nslow, fast_conns, nconns, i, j, completed;
	size_t censored = 0;
	unsigned long slow_done = 0;
	double duration_s, longest = 0, waited;
	uint64_t end, t;
	struct conn *conns;
	int n, k;

	if (argc != 7) {
		fprintf(stderr,
		    "usage: slowload PORT FAST_LIST SLOW_LIST N_SLOW "
		    "FAST_CONNS DURATION_S\n");
		return 2;
	}
	port = atoi(argv[1]);
	fast = read_list(argv[2], &nfast);
	slow = read_list(argv[3], &nslow_paths);
	nslow = (size_t)atol(argv[4]);
	fast_conns = (size_t)atol(argv[5]);
	duration_s = atof(argv[6]);
	if (nslow > nslow_paths || fast_conns == 0 || fast_conns > nfast) {
		fprintf(stderr, "slowload: more connections than paths\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	nconns = nslow + fast_conns;
	if ((conns = calloc(nconns, sizeof *conns)) == NULL ||
	    (buf = malloc(BUF_BYTES)) == NULL)
		die("calloc");
	for (i = 0; i < nslow; i++) {
		conns[i].paths = &slow[i];
		conns[i].npaths = 1;
	}
	/* Fast connection k fetches paths k, k + FAST_CONNS, ... */
	for (k = 0; (size_t)k < fast_conns; k++) {
		struct conn *c = &conns[nslow + (size_t)k];

		c->fast = 1;
		if ((c->paths = calloc(nfast, sizeof *c->paths)) == NULL)
			die("calloc");
		for (j = (size_t)k; j < nfast; j += fast_conns)
			c->paths[c->npaths++] = fast[j];
	}
	warm(fast, nfast, buf, BUF_BYTES);
	for (i = 0; i < nconns; i++)
		conn_connect(&conns[i]);
	for (i = 0; i < nconns; i++)
		conn_send(&conns[i]);
	end = now_ns() + (uint64_t)(duration_s * 1e9);
	while ((t = now_ns()) < end) {
		n = epoll_wait(ep, evs, 256, (int)((end - t) / 1000000) + 1);
		if (n == -1 && errno != EINTR)
			die("epoll_wait");
		for (k = 0; k < n; k++)
			conn_read(evs[k].data.ptr, buf, BUF_BYTES, &slow_done);
	}
	/*
	 * Every fast connection has one request outstanding at the end; those
	 * that waited longer than any completed request did are a stall cut
	 * short.
	 */
	t = now_ns();
	completed = nlat;
	for (i = 0; i < nlat; i++)
		if (lat[i] > longest)
			longest = lat[i];
	for (i = nslow; i < nconns; i++) {
		waited = (double)(t - conns[i].start_ns) / 1000;
		if (waited > longest) {
			if (nlat == lat_cap &&
			    (lat = realloc(
				 lat, (lat_cap += 64) * sizeof *lat)) == NULL)
				die("realloc");
			lat[nlat++] = waited;
			censored++;
		}
	}
	qsort(lat, nlat, sizeof *lat, cmp);
	printf(
	    "{\"fast_requests\": %zu, \"fast_p50_us\": %.1f, "
	    "\"fast_p99_us\": %.1f, \"fast_max_us\": %.1f, "
	    "\"fast_cut_short\": %zu, \"fast_max_is_lower_bound\": %s, "
	    "\"slow_completed\": %lu, \"errors\": %lu, \"duration_s\": %g}\n",
	    completed, pct(50), pct(99), nlat > 0 ? lat[nlat - 1] : 0.0,
	    censored, censored > 0 ? "true" : "false", slow_done, errors,
	    duration_s);
	return 0;
}
