/*
 * Unit tests for peers.c: counts per address (not per port), the cap,
 * IPv4 and IPv6 kept apart, and entries freed when their count is zero.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "peers.h"

static struct sockaddr_storage
v4(const char *addr, int port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *addr, int port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return ss;
}

#define SA(ss)	((const struct sockaddr *)&(ss))

START_TEST(cap_by_address)
{
	struct sockaddr_storage	 a1 = v4("192.0.2.1", 1000);
	struct sockaddr_storage	 a2 = v4("192.0.2.1", 2000);
	struct sockaddr_storage	 b = v4("192.0.2.2", 1000);
	struct peer		*p[3], *q;

	ck_assert_uint_eq(peers_count(), 0);
	ck_assert_ptr_nonnull(p[0] = peers_acquire(SA(a1), 2));
	/* Another port, the same address: the same entry. */
	ck_assert_ptr_nonnull(p[1] = peers_acquire(SA(a2), 2));
	ck_assert_ptr_eq(p[0], p[1]);
	ck_assert_uint_eq(peers_count(), 1);
	errno = 0;
	ck_assert_ptr_null(peers_acquire(SA(a1), 2));
	ck_assert_int_eq(errno, EAGAIN);
	/* Another address is not affected. */
	ck_assert_ptr_nonnull(q = peers_acquire(SA(b), 2));
	ck_assert_uint_eq(peers_count(), 2);
	/* A higher cap (a reload) counts what is already open. */
	ck_assert_ptr_nonnull(p[2] = peers_acquire(SA(a1), 3));
	ck_assert_ptr_null(peers_acquire(SA(a1), 3));
	/* No cap. */
	ck_assert_ptr_nonnull(peers_acquire(SA(a1), 0));
	peers_release(p[0]);
	peers_release(p[0]);
	peers_release(p[0]);
	ck_assert_uint_eq(peers_count(), 2);
	ck_assert_ptr_nonnull(p[0] = peers_acquire(SA(a1), 2));
	peers_release(p[0]);
	peers_release(p[0]);
	ck_assert_uint_eq(peers_count(), 1);
	peers_release(q);
	ck_assert_uint_eq(peers_count(), 0);
	peers_release(NULL);
}
END_TEST

START_TEST(families_apart)
{
	struct sockaddr_storage	 a = v4("0.0.0.1", 1);
	struct sockaddr_storage	 b = v6("::1", 1);
	struct sockaddr_storage	 c = v6("::1", 2);
	struct sockaddr_un	 un;
	struct peer		*pa, *pb, *pc, *pu;

	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	ck_assert_ptr_nonnull(pa = peers_acquire(SA(a), 1));
	ck_assert_ptr_nonnull(pb = peers_acquire(SA(b), 1));
	ck_assert_ptr_ne(pa, pb);
	ck_assert_ptr_null(pc = peers_acquire(SA(c), 1));
	ck_assert_uint_eq(peers_count(), 2);
	/* Unix-domain clients share one entry that is never freed. */
	ck_assert_ptr_nonnull(pu = peers_acquire((struct sockaddr *)&un, 1));
	ck_assert_ptr_null(peers_acquire((struct sockaddr *)&un, 1));
	peers_release(pu);
	peers_release(pa);
	peers_release(pb);
	ck_assert_uint_eq(peers_count(), 0);
}
END_TEST

/* Many addresses: chains work and every entry goes at zero. */
START_TEST(many)
{
	struct sockaddr_storage	 ss;
	struct peer		*p[5000];
	char			 addr[32];
	int			 i;

	for (i = 0; i < 5000; i++) {
		snprintf(addr, sizeof addr, "10.0.%d.%d", i / 256, i % 256);
		ss = v4(addr, 80);
		ck_assert_ptr_nonnull(p[i] = peers_acquire(SA(ss), 1));
		ck_assert_ptr_null(peers_acquire(SA(ss), 1));
	}
	ck_assert_uint_eq(peers_count(), 5000);
	for (i = 0; i < 5000; i += 2)
		peers_release(p[i]);
	ck_assert_uint_eq(peers_count(), 2500);
	for (i = 1; i < 5000; i += 2) {
		snprintf(addr, sizeof addr, "10.0.%d.%d", i / 256, i % 256);
		ss = v4(addr, 81);
		ck_assert_ptr_null(peers_acquire(SA(ss), 1));
		peers_release(p[i]);
	}
	ck_assert_uint_eq(peers_count(), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("peers");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, cap_by_address);
	tcase_add_test(tc, families_apart);
	tcase_add_test(tc, many);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
