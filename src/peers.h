/*
 * Connections per client address, for max_connections_per_client. A
 * small hash table keyed by IP address (the port is not part of it): an
 * entry exists while its address has a connection open, so the table
 * never holds more entries than there are connections. Process-wide,
 * shared by every reactor under a lock, so the cap holds exactly.
 */
#ifndef PEERS_H
#define PEERS_H

#include <sys/socket.h>

struct peer;

/*
 * Counts one more connection from sa's address. Returns its entry, or
 * NULL when the address already has cap connections (cap 0: no cap) or
 * no memory is left for a new entry; errno says which (EAGAIN, ENOMEM).
 */
struct peer *peers_acquire(const struct sockaddr *sa, unsigned cap);
/* Counts one connection fewer; the entry goes at zero. */
void peers_release(struct peer *);
/* Addresses with a connection open now. */
unsigned peers_count(void);

#endif
