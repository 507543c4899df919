/*
 * connclient: the one client bench/conncost uses against every server model,
 * so their figures differ only by the server. It opens N keep-alive
 * connections to 127.0.0.1:PORT (at most BATCH connecting at once: listen
 * backlogs are 511), makes one GET PATH on each and reads the whole
 * response, then leaves them idle and prints
 *	idle OK FAILED NS
 * (NS: from the first connect to the last response). Then, for each line
 * "round" on stdin, it writes one request on every idle connection, all of
 * them first, and waits for every response:
 *	round OK FAILED NS
 * (NS: from the first write to the last byte of the last response). EOF or
 * "quit" closes everything. One thread and one epoll set, so the client's
 * own cost is the same whichever server answers.
 *
 * Usage: connclient PORT N PATH
 */
#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH		256	/* connections in progress at once */
#define HEAD_MAX	1024	/* a response head longer than this fails */
#define TIMEOUT_MS	120000	/* per phase */

enum state { CONNECTING, WAITING, IDLE, FAILED };

struct conn {
	int		 fd;
	enum state	 state;
	size_t		 head_len;
	long long	 body_left;	/* -1 until the head is in */
	char		 head[HEAD_MAX + 1];
};

static struct conn	*conns;
static int		 nconns, epfd, port;
static char		 request[512];
static size_t		 request_len;

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
fail(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->state = FAILED;
}

static int
begin(struct conn *c)
{
	struct sockaddr_in	 sin;
	struct epoll_event	 ev;
	int			 one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		perror("socket");
		c->state = FAILED;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		fail(c);
		return -1;
	}
	c->state = CONNECTING;
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		fail(c);
		return -1;
	}
	return 0;
}

static int
send_request(struct conn *c)
{
	c->head_len = 0;
	c->body_left = -1;
	c->state = WAITING;
	/* A few hundred bytes into an empty socket buffer: all or nothing. */
	if (send(c->fd, request, request_len, MSG_NOSIGNAL) !=
	    (ssize_t)request_len)
		return -1;
	return 0;
}

/* Takes in what arrived; 1 when the response is complete, -1 on error. */
static int
receive(struct conn *c)
{
	char		 buf[65536], *end, *cl;
	ssize_t		 n;
	size_t		 take;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		if (c->body_left >= 0) {
			c->body_left -= n;
		} else {
			take = (size_t)n;
			if (take > HEAD_MAX - c->head_len)
				take = HEAD_MAX - c->head_len;
			memcpy(c->head + c->head_len, buf, take);
			c->head_len += take;
			c->head[c->head_len] = '\0';
			if ((end = strstr(c->head, "\r\n\r\n")) == NULL) {
				if (c->head_len == HEAD_MAX)
					return -1;
				continue;
			}
			if (strncmp(c->head, "HTTP/1.1 200", 12) != 0 ||
			    (cl = strcasestr(c->head, "\r\nContent-Length:")) ==
			    NULL)
				return -1;
			c->body_left = strtoll(cl + 17, NULL, 10) -
			    ((long long)c->head_len - (end + 4 - c->head)) -
			    ((long long)n - (long long)take);
		}
		if (c->body_left <= 0)
			return c->body_left == 0 ? 1 : -1;
	}
}

/* Runs the event loop until no connection is in progress; returns how many
 * responses completed. */
static int
run(int *next_to_start)
{
	struct epoll_event	 evs[256], ev;
	struct conn		*c;
	uint64_t		 deadline = now_ns() + TIMEOUT_MS * 1000000ull;
	int			 busy = 0, done = 0, i, n, err;
	socklen_t		 elen;

	for (i = 0; i < nconns; i++)
		if (conns[i].state == CONNECTING || conns[i].state == WAITING)
			busy++;
	for (;;) {
		while (next_to_start != NULL && *next_to_start < nconns &&
		    busy < BATCH) {
			if (begin(&conns[(*next_to_start)++]) == 0)
				busy++;
		}
		if (busy == 0 || now_ns() > deadline)
			break;
		n = epoll_wait(epfd, evs, 256, 1000);
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (c->state == CONNECTING) {
				elen = sizeof(err);
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &elen) == -1 || err != 0 ||
				    send_request(c) == -1)
					goto failed;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
					goto failed;
				continue;
			}
			if (c->state != WAITING)
				continue;
			switch (receive(c)) {
			case 0:
				continue;
			case 1:
				c->state = IDLE;
				busy--;
				done++;
				continue;
			}
failed:
			fail(c);
			busy--;
		}
	}
	for (i = 0; i < nconns; i++)	/* still in progress at the deadline */
		if (conns[i].state == CONNECTING || conns[i].state == WAITING)
			fail(&conns[i]);
	return done;
}

int
main(int argc, char **argv)
{
	char		 line[64];
	uint64_t	 t0, t1;
	int		 i, next = 0, ok;

	if (argc != 4) {
		fprintf(stderr, "usage: connclient PORT N PATH\n");
		return 2;
	}
	port = atoi(argv[1]);
	nconns = atoi(argv[2]);
	request_len = (size_t)snprintf(request, sizeof(request),
	    "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", argv[3]);
	if (nconns <= 0 || request_len >= sizeof(request)) {
		fprintf(stderr, "connclient: bad N or PATH\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((conns = calloc((size_t)nconns, sizeof(*conns))) == NULL ||
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("connclient");
		return 1;
	}
	for (i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].state = FAILED;
	}
	t0 = now_ns();
	ok = run(&next);
	t1 = now_ns();
	printf("idle %d %d %llu\n", ok, nconns - ok,
	    (unsigned long long)(t1 - t0));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL &&
	    strncmp(line, "round", 5) == 0) {
		t0 = now_ns();
		for (i = 0; i < nconns; i++)
			if (conns[i].state == IDLE && send_request(&conns[i]) == -1)
				fail(&conns[i]);
		ok = run(NULL);
		t1 = now_ns();
		printf("round %d %d %llu\n", ok, nconns - ok,
		    (unsigned long long)(t1 - t0));
		fflush(stdout);
	}
	for (i = 0; i < nconns; i++)
		if (conns[i].fd != -1)
			close(conns[i].fd);
	free(conns);
	close(epfd);
	return 0;
}
