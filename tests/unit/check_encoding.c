/* Unit tests for encoding.c: Accept-Encoding ranking with q-values. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

#define ALL	(ENCODING_BR | ENCODING_ZSTD | ENCODING_GZIP)

static const struct {
	const char	*value;		/* NULL: field absent */
	unsigned	 offered;
	unsigned	 want[ENCODING_COUNT];	/* best first, 0-terminated */
} cases[] = {
	{ NULL, ALL, { 0 } },
	{ "", ALL, { 0 } },
	{ "gzip", ALL, { ENCODING_GZIP } },
	{ "gzip, deflate, br", ALL, { ENCODING_BR, ENCODING_GZIP } },
	{ "gzip, deflate, br, zstd", ALL,
	    { ENCODING_BR, ENCODING_ZSTD, ENCODING_GZIP } },
	{ "br;q=0.5, gzip", ALL, { ENCODING_GZIP, ENCODING_BR } },
	{ "br;q=0, gzip;q=0.1", ALL, { ENCODING_GZIP } },
	{ "*", ALL, { ENCODING_BR, ENCODING_ZSTD, ENCODING_GZIP } },
	{ "*;q=0", ALL, { 0 } },
	{ "*;q=0.2, gzip;q=0.9", ALL,
	    { ENCODING_GZIP, ENCODING_BR, ENCODING_ZSTD } },
	{ "*, br;q=0", ALL, { ENCODING_ZSTD, ENCODING_GZIP } },
	{ "GZIP ; Q=1.0", ALL, { ENCODING_GZIP } },
	{ "gzip;q=1.5, br", ALL, { ENCODING_BR } },	/* bad weight skipped */
	{ "gzip;q=0.001", ALL, { ENCODING_GZIP } },
	{ "gzip;q=0.0001", ALL, { 0 } },
	{ "identity, deflate", ALL, { 0 } },
	{ "br, gzip", ENCODING_GZIP, { ENCODING_GZIP } },
	{ "br, gzip", 0, { 0 } },
	{ " , ,gzip,, ", ALL, { ENCODING_GZIP } },
	{ "gzipx, xgzip, gzi", ALL, { 0 } },
};

START_TEST(rank)
{
	unsigned	 out[ENCODING_COUNT];
	size_t		 n, i;
	const char	*v = cases[_i].value;

	n = encoding_rank(v, v != NULL ? strlen(v) : 0, cases[_i].offered,
	    out);
	for (i = 0; i < ENCODING_COUNT && cases[_i].want[i] != 0; i++) {
		ck_assert_msg(i < n, "%s: only %zu ranked", v, n);
		ck_assert_uint_eq(out[i], cases[_i].want[i]);
	}
	ck_assert_uint_eq(n, i);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(encoding_name(ENCODING_BR), "br");
	ck_assert_str_eq(encoding_name(ENCODING_ZSTD), "zstd");
	ck_assert_str_eq(encoding_name(ENCODING_GZIP), "gzip");
	ck_assert_str_eq(encoding_suffix(ENCODING_ZSTD), ".zst");
	ck_assert_str_eq(encoding_suffix(ENCODING_GZIP), ".gz");
	ck_assert_str_eq(encoding_suffix(0), "");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("encoding");
	TCase	*tc = tcase_create("encoding");
	SRunner	*sr;
	int	 failed;

	tcase_add_loop_test(tc, rank, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
