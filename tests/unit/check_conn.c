/*
 * Unit tests for conn.c and the plain-socket transport over a socketpair:
 * what a client sees of HTTP/1.1 framing (status line, Connection,
 * pipelining, refusals) and what a transport says about its input, with
 * the real reactor loop, coroutines and I/O pool but no listener.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "await.h"
#include "config.h"
#include "conn.h"
#include "coro.h"
#include "iopool.h"
#include "mime.h"
#include "reactor.h"
#include "resolve.h"
#include "transport.h"

static char		 dir[] = "/tmp/check_conn.XXXXXX";
static struct reactor	*reactor;
static struct event_base *base;
static struct iopool	*pool;
static struct config	*cfg;
static struct mime_table *mime;
static struct docroot	*root;
static struct conn_env	 env;
static int		 client = -1;	/* the test's end of the pair */

static void
setup(void)
{
	struct config_overrides	 o = { NULL, dir, { "127.0.0.1:0" }, 1, 0,
	    NULL, NULL };
	char			 err[256], path[256];
	FILE			*f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/hello.txt", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("hello\n", f);
	fclose(f);
	ck_assert_ptr_nonnull(pool = iopool_create(1, 0, 8));
	ck_assert_ptr_nonnull(reactor = reactor_create(pool, 0, 256 * 1024, 8));
	base = reactor->base;
	cfg = config_load(NULL, &o, err, sizeof err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_nonnull(mime = mime_load(NULL));
	root = docroot_open(cfg, &cfg->sites[0], mime, pool, err, sizeof err);
	ck_assert_msg(root != NULL, "%s", err);
	memset(&env, 0, sizeof env);
	env.cfg = cfg;
	env.roots = &root;
	env.root_count = 1;
	env.pool = pool;
}

static void
teardown(void)
{
	char	 cmd[64];

	conn_abort_all();
	while (conn_count() > 0)
		event_base_loop(base, EVLOOP_ONCE);
	if (client != -1)
		close(client);
	client = -1;
	docroot_close(root);
	mime_free(mime);
	config_free(cfg);
	iopool_destroy(pool);
	reactor_free(reactor);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_conn.XXXXXX");
}

/* A connection from 127.0.0.1 on one end of a fresh pair. */
static void
connect_pair(void)
{
	struct sockaddr_in	 peer = { .sin_family = AF_INET };
	int			 sv[2];

	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	client = sv[0];
	ck_assert_int_eq(conn_start(&env, 0, 0, sv[1],
	    (struct sockaddr *)&peer, sizeof peer), 0);
	ck_assert_uint_eq(conn_count(), 1);
}

static void
send_text(const char *text)
{
	ck_assert_int_eq(write(client, text, strlen(text)),
	    (ssize_t)strlen(text));
}

/*
 * Runs the reactor and collects what the client receives until it holds
 * want answers ("HTTP/1.1 " lines) whose bodies are complete, or the
 * server closes; 5 s at most. Returns 1 at the end of the stream.
 */
static int
receive(char *buf, size_t size, int want)
{
	struct pollfd	 pfd = { client, POLLIN, 0 };
	size_t		 len = 0;
	const char	*p;
	ssize_t		 n;
	int		 i, heads;

	for (i = 0; i < 500; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		while ((n = read(client, buf + len, size - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		if (n == 0)
			return 1;
		for (heads = 0, p = buf; (p = strstr(p, "HTTP/1.1 ")) != NULL;
		    p++)
			heads++;
		/* Each answer here ends with its body's last "\n". */
		if (heads >= want && len > 0 && buf[len - 1] == '\n' &&
		    strstr(strrchr(buf, 'H'), "\r\n\r\n") != NULL)
			return 0;
		poll(&pfd, 1, 10);
	}
	ck_abort_msg("no answer in 5 s: %s", buf);
	return -1;
}

/* Runs the reactor until no connection is left; 5 s at most. */
static void
pump_until_closed(void)
{
	int	 i;

	for (i = 0; i < 500 && conn_count() > 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (conn_count() > 0)
			poll(NULL, 0, 10);
	}
	ck_assert_uint_eq(conn_count(), 0);
}

START_TEST(keep_alive_and_pipelining)
{
	char	 buf[4096];
	char	*second;

	connect_pair();
	/* Two requests in one segment: both answered, in order. */
	send_text("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n"
	    "HEAD /missing HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(receive(buf, sizeof buf, 2), 0);
	ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
	ck_assert_ptr_nonnull(strstr(buf, "\r\nContent-Length: 6\r\n"));
	ck_assert_ptr_null(strstr(buf, "Connection:"));
	ck_assert_ptr_nonnull(second = strstr(buf, "\r\n\r\nhello\n") + 10);
	ck_assert_int_eq(strncmp(second, "HTTP/1.1 404 Not Found\r\n", 24), 0);
	/* HEAD: the head alone, ending the stream's last bytes. */
	ck_assert_str_eq(buf + strlen(buf) - 4, "\r\n\r\n");
	ck_assert_uint_eq(conn_count(), 1);
}
END_TEST

START_TEST(connection_close_is_honoured)
{
	char	 buf[4096];

	connect_pair();
	send_text("GET /hello.txt HTTP/1.1\r\nHost: a\r\n"
	    "Connection: close\r\n\r\n");
	ck_assert_int_eq(receive(buf, sizeof buf, 2), 1);
	ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
	ck_assert_ptr_nonnull(strstr(buf, "\r\nConnection: close\r\n\r\n"
	    "hello\n"));
	ck_assert_uint_eq(conn_count(), 0);
}
END_TEST

START_TEST(http10_keep_alive)
{
	char	 buf[4096];

	connect_pair();
	send_text("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(receive(buf, sizeof buf, 1), 0);
	ck_assert_ptr_nonnull(strstr(buf, "\r\nConnection: keep-alive\r\n"));
	ck_assert_uint_eq(conn_count(), 1);
}
END_TEST

START_TEST(bad_head_is_refused_and_closed)
{
	char	 buf[4096];

	connect_pair();
	send_text("GET /hello.txt HTTP/1.1\r\nno colon here\r\n\r\n");
	ck_assert_int_eq(receive(buf, sizeof buf, 2), 1);
	ck_assert_int_eq(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26), 0);
	ck_assert_ptr_nonnull(strstr(buf, "\r\nConnection: close\r\n"));
	/*
	 * A lingering close: the server's FIN came first, and it reads on
	 * until the client closes too, so no reset can destroy the answer.
	 */
	ck_assert_uint_eq(conn_count(), 1);
	close(client);
	client = -1;
	pump_until_closed();
}
END_TEST

/* An idle keep-alive connection holds no coroutine, and a drain ends it. */
START_TEST(parked_connection_drains)
{
	char	 buf[4096];

	connect_pair();
	send_text("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(receive(buf, sizeof buf, 1), 0);
	ck_assert_uint_eq(coro_live(), 0);
	ck_assert_uint_eq(conn_count(), 1);
	conn_drain();
	ck_assert_uint_eq(conn_count(), 0);
	ck_assert_int_eq(read(client, buf, sizeof buf), 0);
}
END_TEST

/* An I/O worker held busy until the test writes to fd. */
struct blocker {
	struct iojob	 job;
	int		 fd;
};

static void
blocker_work(struct iojob *job)
{
	char	 c;

	(void)!read(((struct blocker *)job)->fd, &c, 1);
}

static void
blocker_done(struct iojob *job)
{
	(void)job;
}

/*
 * After a read that took all there was, the connection parks without
 * reading again; the next request arriving while the coroutine still
 * waits for the pool (nobody waits for the socket then) must not be lost
 * to that: its readiness is kept, and the connection reads.
 */
START_TEST(request_arriving_while_busy_is_answered)
{
	struct blocker	 b = { { .work = blocker_work,
			     .done = blocker_done }, -1 };
	char		 buf[4096];
	int		 release[2], i;

	ck_assert_int_eq(pipe(release), 0);
	b.fd = release[0];
	/* The open must go to the pool, not be served from the kernel's caches. */
	root->use_cached = 0;
	connect_pair();
	ck_assert_int_eq(iopool_submit(pool, &b.job), 0);
	send_text("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
	/* Read and parsed; its open waits behind the blocker. */
	for (i = 0; i < 5000 && coro_live() == 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	ck_assert_uint_eq(coro_live(), 1);
	send_text("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
	for (i = 0; i < 10; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	ck_assert_int_eq(write(release[1], "x", 1), 1);
	ck_assert_int_eq(receive(buf, sizeof buf, 2), 0);
	ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
	ck_assert_ptr_nonnull(strstr(strstr(buf, "hello\n"),
	    "HTTP/1.1 200 OK\r\n"));
	close(release[0]);
	close(release[1]);
}
END_TEST

START_TEST(socket_transport)
{
	struct transport	 t;
	struct iovec		 iov[2] = { { "ab", 2 }, { "cd", 2 } };
	char			 buf[8];
	int			 sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	transport_socket_init(&t, sv[0]);
	ck_assert_int_eq(transport_input(&t), TRANSPORT_INPUT_NONE);
	ck_assert_int_eq(transport_read(&t, buf, sizeof buf), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(t.want, EV_READ);
	ck_assert_int_eq(t.drained, 1);
	ck_assert_int_eq(transport_writev(&t, iov, 2), 4);
	ck_assert_int_eq(read(sv[1], buf, sizeof buf), 4);
	ck_assert_int_eq(memcmp(buf, "abcd", 4), 0);
	ck_assert_int_eq(write(sv[1], "xy", 2), 2);
	/* Looking consumes nothing. */
	ck_assert_int_eq(transport_input(&t), TRANSPORT_INPUT_READY);
	ck_assert_int_eq(transport_input(&t), TRANSPORT_INPUT_READY);
	ck_assert_int_eq(transport_read(&t, buf, sizeof buf), 2);
	/* Fewer bytes than asked: the socket had no more. */
	ck_assert_int_eq(t.drained, 1);
	ck_assert_int_eq(write(sv[1], "xyz", 3), 3);
	ck_assert_int_eq(transport_read(&t, buf, 2), 2);
	ck_assert_int_eq(t.drained, 0);
	ck_assert_int_eq(transport_read(&t, buf, 2), 1);
	ck_assert_int_eq(t.drained, 1);
	ck_assert_int_eq(transport_shutdown(&t, SHUT_WR), 0);
	ck_assert_int_eq(read(sv[1], buf, sizeof buf), 0);
	close(sv[1]);
	ck_assert_int_eq(transport_input(&t), TRANSPORT_INPUT_CLOSED);
	ck_assert_int_eq(transport_read(&t, buf, sizeof buf), 0);
	transport_close(&t);
	ck_assert_int_eq(t.fd, -1);
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("conn");
	TCase	*tc = tcase_create("http1");
	TCase	*tt = tcase_create("transport");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, keep_alive_and_pipelining);
	tcase_add_test(tc, connection_close_is_honoured);
	tcase_add_test(tc, http10_keep_alive);
	tcase_add_test(tc, bad_head_is_refused_and_closed);
	tcase_add_test(tc, parked_connection_drains);
	tcase_add_test(tc, request_arriving_while_busy_is_answered);
	suite_add_tcase(s, tc);
	tcase_add_test(tt, socket_transport);
	suite_add_tcase(s, tt);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
