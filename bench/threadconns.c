/*
 * threadconns: the classic thread-per-connection file server, as a yardstick
 * for bench/conncost and nothing else (it is not part of coserve). Every
 * accepted connection gets a detached thread with the default attributes
 * (stack size from RLIMIT_STACK, as glibc does), which serves GET requests on
 * it with plain blocking calls: read the head, open, fstat, read and write
 * the file, close. So a slow file blocks only its own thread, and an idle
 * connection costs a parked thread: its stack, its kernel task and kernel
 * stack, and a wake-up whenever its client sends something.
 *
 * "GET /-/stats" answers how many threads were created, how many are alive,
 * the default stack size, and the time the accept loop spent inside
 * pthread_create, so the driver can read them without a signal.
 *
 * Usage: threadconns PORT ROOT (PORT 0: any; "port N" is printed on stdout).
 */
#define _GNU_SOURCE

#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX	4096	/* a request head longer than this is refused */
#define CHUNK_BYTES	16384	/* one read and one write per chunk */
#define PATH_MAX_BYTES	1024

static int		 root_fd;
static atomic_long	 threads_created;
static atomic_long	 threads_alive;
static _Atomic uint64_t	 create_ns_total;	/* written by the accept loop */
static _Atomic uint64_t	 create_ns_max;

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sockets get recv and send, files read: slowfs looks up the descriptor of
 * every read(), which would tax the socket path too. */
static int
send_all(int fd, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
answer_text(int fd, int status, const char *reason, const char *body)
{
	char	 head[256];
	int	 len;

	len = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Length: %zu\r\nContent-Type: text/plain\r\n\r\n",
	    status, reason, strlen(body));
	if (send_all(fd, head, (size_t)len) == -1)
		return -1;
	return send_all(fd, body, strlen(body));
}

static int
answer_stats(int fd)
{
	pthread_attr_t	 attr;
	size_t		 stack = 0;
	char		 body[256];

	if (pthread_getattr_default_np(&attr) == 0) {
		pthread_attr_getstacksize(&attr, &stack);
		pthread_attr_destroy(&attr);
	}
	snprintf(body, sizeof(body), "created %ld\nalive %ld\nstack_bytes %zu\n"
	    "create_ns_total %llu\ncreate_ns_max %llu\n",
	    atomic_load(&threads_created), atomic_load(&threads_alive), stack,
	    (unsigned long long)atomic_load(&create_ns_total),
	    (unsigned long long)atomic_load(&create_ns_max));
	return answer_text(fd, 200, "OK", body);
}

/* Serves one file with blocking calls; -1 when the connection must close. */
static int
answer_file(int fd, const char *path)
{
	struct stat	 st;
	char		 head[256], buf[CHUNK_BYTES];
	ssize_t		 n;
	off_t		 left;
	int		 file, len, rc = -1;

	if (strstr(path, "..") != NULL || path[1] == '\0')
		return answer_text(fd, 404, "Not Found", "not found\n");
	file = openat(root_fd, path + 1, O_RDONLY | O_CLOEXEC);
	if (file == -1)
		return answer_text(fd, 404, "Not Found", "not found\n");
	if (fstat(file, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(file);
		return answer_text(fd, 404, "Not Found", "not found\n");
	}
	len = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
	    "Content-Length: %lld\r\nContent-Type: application/octet-stream"
	    "\r\n\r\n", (long long)st.st_size);
	if (send_all(fd, head, (size_t)len) == -1)
		goto out;
	for (left = st.st_size; left > 0; left -= n) {
		n = read(file, buf, sizeof(buf));
		if (n <= 0)
			goto out;	/* the file shrank: the length is a lie */
		if (n > left)
			n = left;
		if (send_all(fd, buf, (size_t)n) == -1)
			goto out;
	}
	rc = 0;
out:
	close(file);
	return rc;
}

/* One connection's whole life: requests until the client closes. */
static void *
serve(void *arg)
{
	char	 head[HEAD_MAX + 1], path[PATH_MAX_BYTES];
	char	*end, *sp;
	size_t	 have = 0, used;
	ssize_t	 n;
	int	 fd = (int)(intptr_t)arg, rc;

	for (;;) {
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (end == NULL) {
			if (have == HEAD_MAX)
				break;
			n = recv(fd, head + have, HEAD_MAX - have, 0);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		used = (size_t)(end + 4 - head);
		if (strncmp(head, "GET /", 5) != 0 ||
		    (sp = memchr(head + 4, ' ', used - 4)) == NULL ||
		    (size_t)(sp - (head + 4)) >= sizeof(path)) {
			answer_text(fd, 400, "Bad Request", "bad request\n");
			break;
		}
		memcpy(path, head + 4, (size_t)(sp - (head + 4)));
		path[sp - (head + 4)] = '\0';
		if (strcmp(path, "/-/stats") == 0)
			rc = answer_stats(fd);
		else
			rc = answer_file(fd, path);
		if (rc == -1)
			break;
		memmove(head, head + used, have - used);	/* pipelined */
		have -= used;
	}
	close(fd);
	atomic_fetch_sub(&threads_alive, 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	pthread_attr_t		 attr;
	pthread_t		 tid;
	uint64_t		 t0, dt;
	int			 lfd, fd, one = 1, err;

	if (argc != 3) {
		fprintf(stderr, "usage: threadconns PORT ROOT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((root_fd = open(argv[2], O_RDONLY | O_DIRECTORY)) == -1) {
		perror(argv[2]);
		return 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 511) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("listen");
		return 1;
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	/* The default attributes, detached: what a classic server gets. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				perror("accept");
				sleep(1);
			}
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_fetch_add(&threads_alive, 1);
		t0 = now_ns();
		err = pthread_create(&tid, &attr, serve, (void *)(intptr_t)fd);
		dt = now_ns() - t0;
		if (err != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(err));
			atomic_fetch_sub(&threads_alive, 1);
			close(fd);
			continue;
		}
		atomic_fetch_add(&threads_created, 1);
		atomic_fetch_add(&create_ns_total, dt);
		if (dt > atomic_load(&create_ns_max))
			atomic_store(&create_ns_max, dt);
	}
}
