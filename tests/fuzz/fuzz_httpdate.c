/*
 * libFuzzer target for httpdate.c. Each input is tried as a date field
 * value, and its first eight bytes as a time to format. Beyond the
 * sanitizers the target checks what conditional requests rely on:
 *  - httpdate_format always writes exactly HTTPDATE_LEN characters, and
 *    what it writes parses back to the same second (clamped to 1970-9999);
 *  - an IMF-fixdate that parses is the canonical form of its second: it
 *    is byte for byte what httpdate_format writes for it (a leap second
 *    aside), so there are no two spellings of one date;
 *  - an asctime date that parses names the same second as the IMF-fixdate
 *    with the same fields, and so does an RFC 850 date whose two-digit
 *    year is read within 50 years of now;
 *  - a date that does not parse leaves the output alone.
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "httpdate.h"

#define MAX_SECONDS INT64_C(253402300799) /* 9999-12-31 23:59:59 */

static const char *const day_long[7] = {"Sunday", "Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday"};
static const char day_short[7][4] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* Format t, check the shape, and read it back. */
static void
check_format(int64_t v)
{
	char buf[HTTPDATE_LEN + 8];
	time_t back, t = (time_t)v;
	int64_t want = v < 0 ? 0 : v > MAX_SECONDS ? MAX_SECONDS : v;

	memset(buf, 'x', sizeof buf);
	httpdate_format(t, buf);
	CHECK(strlen(buf) == HTTPDATE_LEN);
	CHECK(buf[HTTPDATE_LEN + 1] == 'x'); /* nothing past the NUL */
	CHECK(httpdate_parse(buf, HTTPDATE_LEN, &back) == 0);
	CHECK((int64_t)back == want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char imf[HTTPDATE_LEN + 1], canon[HTTPDATE_LEN + 1];
	time_t t, t2, keep = (time_t)-12345;
	uint64_t u = 0;
	int64_t v;
	size_t i, n;
	int wday, yy;

	if (size >= 8) {
		for (i = 0; i < 8; i++)
			u = u << 8 | data[i];
		v = (int64_t)u;
		check_format(v);
		/* Also the range dates really fall in. */
		check_format((int64_t)(u % (MAX_SECONDS + 1)));
	}

	t = keep;
	if (httpdate_parse(s, size, &t) != 0) {
		CHECK(t == keep);
		return 0;
	}
	if (size == HTTPDATE_LEN && s[3] == ',') {
		/* IMF-fixdate: canonical unless it is a leap second. */
		if (t >= 0 && (int64_t)t <= MAX_SECONDS &&
		    memcmp(s + 23, "60", 2) != 0) {
			httpdate_format(t, canon);
			CHECK(memcmp(canon, s, HTTPDATE_LEN) == 0);
		}
	} else if (size == 24 && s[3] == ' ') {
		/* asctime "Sun Nov  6 08:49:37 1994" to IMF-fixdate. */
		memcpy(imf, s, 3);
		memcpy(imf + 3, ", ", 2);
		imf[5] = s[8] == ' ' ? '0' : s[8];
		imf[6] = s[9];
		imf[7] = ' ';
		memcpy(imf + 8, s + 4, 3);
		imf[11] = ' ';
		memcpy(imf + 12, s + 20, 4);
		imf[16] = ' ';
		memcpy(imf + 17, s + 11, 8);
		memcpy(imf + 25, " GMT", 4);
		CHECK(httpdate_parse(imf, HTTPDATE_LEN, &t2) == 0 && t2 == t);
	} else {
		/* RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT". */
		for (wday = 0; wday < 7; wday++) {
			n = strlen(day_long[wday]);
			if (size == n + 24 && memcmp(s, day_long[wday], n) == 0)
				break;
		}
		CHECK(wday < 7);
		s += n;
		/* The century it was read in: t is within 50 years of now. */
		CHECK((int64_t)t - (int64_t)time(NULL) <
			  INT64_C(51) * 366 * 86400 &&
		      (int64_t)time(NULL) - (int64_t)t <
			  INT64_C(51) * 366 * 86400);
		yy = (s[9] - '0') * 10 + (s[10] - '0');
		CHECK(yy >= 0 && yy <= 99);
		if (t >= 0 && (int64_t)t <= MAX_SECONDS) {
			httpdate_format(t, canon);
			/* Same weekday, day, month, year's last digits, time.
			 */
			if (memcmp(s + 18, "60", 2) != 0) {
				CHECK(memcmp(canon, day_short[wday], 3) == 0);
				CHECK(memcmp(canon + 5, s + 2, 2) == 0);
				CHECK(memcmp(canon + 8, s + 5, 3) == 0);
				CHECK(memcmp(canon + 14, s + 9, 2) == 0);
				CHECK(memcmp(canon + 17, s + 12, 8) == 0);
			}
		}
	}
	return 0;
}
