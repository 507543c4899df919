/*
 * The per-address connection counts. Chained buckets with a fixed bucket
 * array: the number of entries is bounded by max_connections, and with
 * as many client addresses as buckets a chain is about one entry long.
 * The hash is seeded once per process so a client cannot pick addresses
 * that all land in one chain (it would need many addresses anyway, which
 * is what the cap is not about).
 *
 * The table is process-wide, not a reactor's: max_connections_per_client
 * must hold exactly however a client's connections are spread over
 * reactors. One lock guards every field here; it is taken once as a
 * connection starts and once as it ends, never per request.
 */
#include "autoconf.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "peers.h"

#define PEERS_BUCKETS 4096 /* a power of two */

struct peer {
	struct peer *next;
	unsigned count;
	unsigned bucket;
	size_t len; /* 4 or 16 */
	unsigned char addr[16];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct peer *buckets[PEERS_BUCKETS];
static unsigned npeers;
static uint32_t seed;

unsigned
peers_count(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = npeers;
	pthread_mutex_unlock(&lock);
	return n;
}

/* The address bytes of sa; 0 for a family without one (AF_UNIX). */
static size_t
addr_bytes(const struct sockaddr *sa, const unsigned char **out)
{
	if (sa->sa_family == AF_INET) {
		*out = (const unsigned char *)&((const struct sockaddr_in *)sa)
			   ->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		*out = (const unsigned char *)&((const struct sockaddr_in6 *)sa)
			   ->sin6_addr;
		return 16;
	}
	return 0;
}

/* FNV-1a over the address, from a per-process seed. */
static unsigned
hash(const unsigned char *p, size_t len)
{
	uint32_t h = 2166136261u ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h & (PEERS_BUCKETS - 1);
}

struct peer *
peers_acquire(const struct sockaddr *sa, unsigned cap)
{
	static struct peer unix_peer; /* every AF_UNIX client */
	const unsigned char *addr;
	struct peer *p;
	size_t len;
	unsigned b;

	pthread_mutex_lock(&lock);
	if (seed == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16) | 1;
	}
	if ((len = addr_bytes(sa, &addr)) == 0) {
		p = &unix_peer;
		goto count;
	}
	b = hash(addr, len);
	for (p = buckets[b]; p != NULL; p = p->next)
		if (p->len == len && memcmp(p->addr, addr, len) == 0)
			goto count;
	if ((p = calloc(1, sizeof *p)) == NULL) {
		pthread_mutex_unlock(&lock);
		errno = ENOMEM;
		return NULL;
	}
	p->len = len;
	p->bucket = b;
	memcpy(p->addr, addr, len);
	p->next = buckets[b];
	buckets[b] = p;
	npeers++;
count:
	if (cap > 0 && p->count >= cap) {
		pthread_mutex_unlock(&lock);
		errno = EAGAIN;
		return NULL;
	}
	p->count++;
	pthread_mutex_unlock(&lock);
	return p;
}

void
peers_release(struct peer *p)
{
	struct peer **pp;

	if (p == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (--p->count > 0 || p->len == 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	for (pp = &buckets[p->bucket]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	npeers--;
	pthread_mutex_unlock(&lock);
	free(p);
}
