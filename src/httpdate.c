/*
 * HTTP dates (RFC 9110 5.6.7). Output is always IMF-fixdate; input may be
 * any of the three historical formats. Names come from fixed English
 * tables rather than strftime or strptime, whose names follow the locale,
 * and every field is range-checked, including the day of the week against
 * the date, because a date we cannot trust must make a conditional request
 * fall back to a full response rather than a wrong 304.
 */

#include "autoconf.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "httpdate.h"

/* 9999-12-31 23:59:59 UTC: the last instant a four-digit year can show. */
#define HTTPDATE_MAX_SECONDS INT64_C(253402300799)

static const char day_names[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
	"Sat" };
static const char *const day_names_long[7] = { "Sunday", "Monday", "Tuesday",
	"Wednesday", "Thursday", "Friday", "Saturday" };
static const char month_names[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
	"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* The broken-down date before it is checked and converted. */
struct date_fields {
	int wday;  /* 0 = Sunday */
	int day;   /* 1-31 */
	int month; /* 0-11 */
	int year;  /* full year */
	int hour;
	int minute;
	int second;
};

/* Writes v as exactly n decimal digits, zero-padded. */
static void
digits_put(char *p, int v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
httpdate_format(time_t t, char buf[HTTPDATE_LEN + 1])
{
	struct tm tm;
	int64_t v = (int64_t)t;

	/*
	 * Out-of-range times (a file stamped before 1970 or absurdly far in
	 * the future) are clamped so the output is always HTTPDATE_LEN long.
	 */
	if (v < 0)
		v = 0;
	if (v > HTTPDATE_MAX_SECONDS)
		v = HTTPDATE_MAX_SECONDS;
	t = (time_t)v;
	if (gmtime_r(&t, &tm) == NULL) {
		memcpy(buf, "Thu, 01 Jan 1970 00:00:00 GMT", HTTPDATE_LEN + 1);
		return;
	}
	/* Written by hand: every field is known to fit its width. */
	memcpy(buf, day_names[tm.tm_wday], 3);
	memcpy(buf + 3, ", ", 2);
	digits_put(buf + 5, tm.tm_mday, 2);
	buf[7] = ' ';
	memcpy(buf + 8, month_names[tm.tm_mon], 3);
	buf[11] = ' ';
	digits_put(buf + 12, tm.tm_year + 1900, 4);
	buf[16] = ' ';
	digits_put(buf + 17, tm.tm_hour, 2);
	buf[19] = ':';
	digits_put(buf + 20, tm.tm_min, 2);
	buf[22] = ':';
	digits_put(buf + 23, tm.tm_sec, 2);
	memcpy(buf + 25, " GMT", 5);
}

/* Exactly n ASCII digits. */
static int
digits(const char *p, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* Names are case-sensitive (RFC 9110 5.6.7: %s"Mon" and so on). */
static int
name3(const char *p, const char table[][4], int count)
{
	int i;

	for (i = 0; i < count; i++) {
		if (memcmp(p, table[i], 3) == 0)
			return i;
	}
	return -1;
}

/* time-of-day = hour ":" minute ":" second, 8 bytes. */
static int
time_parse(const char *p, struct date_fields *f)
{
	if (digits(p, 2, &f->hour) == -1 || p[2] != ':' ||
	    digits(p + 3, 2, &f->minute) == -1 || p[5] != ':' ||
	    digits(p + 6, 2, &f->second) == -1)
		return -1;
	return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int
imf_fixdate_parse(const char *s, size_t len, struct date_fields *f)
{
	if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[25] != ' ' ||
	    memcmp(s + 26, "GMT", 3) != 0)
		return -1;
	if ((f->wday = name3(s, day_names, 7)) == -1 ||
	    digits(s + 5, 2, &f->day) == -1 ||
	    (f->month = name3(s + 8, month_names, 12)) == -1 ||
	    digits(s + 12, 4, &f->year) == -1 || time_parse(s + 17, f) == -1)
		return -1;
	return 0;
}

/*
 * RFC 9110 5.6.7: a two-digit year that looks more than 50 years ahead
 * is the most recent year in the past with those digits. The year is
 * placed within 50 years of the current one.
 */
static int
rfc850_year(int yy)
{
	time_t now = time(NULL);
	struct tm tm;
	int current, year;

	if (gmtime_r(&now, &tm) == NULL)
		current = 2000;
	else
		current = tm.tm_year + 1900;
	year = current - current % 100 + yy;
	if (year > current + 50)
		year -= 100;
	else if (year <= current - 50)
		year += 100;
	return year;
}

/* "Sunday, 06-Nov-94 08:49:37 GMT" */
static int
rfc850_parse(const char *s, size_t len, struct date_fields *f)
{
	size_t n;
	const char *p;
	int yy;

	for (f->wday = 0; f->wday < 7; f->wday++) {
		n = strlen(day_names_long[f->wday]);
		if (len > n && memcmp(s, day_names_long[f->wday], n) == 0 &&
		    s[n] == ',')
			break;
	}
	if (f->wday == 7)
		return -1;
	/* ", 06-Nov-94 08:49:37 GMT" */
	p = s + n;
	if (len - n != 24 || p[1] != ' ' || p[4] != '-' || p[8] != '-' ||
	    p[11] != ' ' || p[20] != ' ' || memcmp(p + 21, "GMT", 3) != 0)
		return -1;
	if (digits(p + 2, 2, &f->day) == -1 ||
	    (f->month = name3(p + 5, month_names, 12)) == -1 ||
	    digits(p + 9, 2, &yy) == -1 || time_parse(p + 12, f) == -1)
		return -1;
	f->year = rfc850_year(yy);
	return 0;
}

/* "Sun Nov  6 08:49:37 1994": the day is "06" or " 6". */
static int
asctime_parse(const char *s, size_t len, struct date_fields *f)
{
	if (len != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' ||
	    s[19] != ' ')
		return -1;
	if ((f->wday = name3(s, day_names, 7)) == -1 ||
	    (f->month = name3(s + 4, month_names, 12)) == -1)
		return -1;
	if (s[8] == ' ') {
		if (digits(s + 9, 1, &f->day) == -1)
			return -1;
	} else if (digits(s + 8, 2, &f->day) == -1)
		return -1;
	if (time_parse(s + 11, f) == -1 || digits(s + 20, 4, &f->year) == -1)
		return -1;
	return 0;
}

static int
is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days since 1970-01-01 in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int year, int month, int day)
{
	int64_t y = year, era, yoe, doy, doe;
	int m = month + 1;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Second 60 is a leap second (RFC 9110 5.6.7 allows it). */
static int
fields_valid(const struct date_fields *f)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	int max;
	int64_t wday;

	if (f->month < 0 || f->month > 11 || f->day < 1)
		return 0;
	max = mdays[f->month] + (f->month == 1 && is_leap(f->year));
	if (f->day > max || f->hour > 23 || f->minute > 59 || f->second > 60)
		return 0;
	wday = (days_from_civil(f->year, f->month, f->day) % 7 + 11) % 7;
	return wday == f->wday;
}

int
httpdate_parse(const char *s, size_t len, time_t *out)
{
	struct date_fields f;
	struct tm tm;
	time_t t;
	int rc;

	if (s == NULL || len < 4)
		return -1;
	if (s[3] == ',')
		rc = imf_fixdate_parse(s, len, &f);
	else if (s[3] == ' ')
		rc = asctime_parse(s, len, &f);
	else
		rc = rfc850_parse(s, len, &f);
	if (rc == -1 || !fields_valid(&f))
		return -1;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = f.year - 1900;
	tm.tm_mon = f.month;
	tm.tm_mday = f.day;
	tm.tm_hour = f.hour;
	tm.tm_min = f.minute;
	tm.tm_sec = f.second;
	t = timegm(&tm);
	/* -1 is also 1969-12-31 23:59:59, the only date it may stand for. */
	if (t == (time_t)-1 &&
	    !(f.year == 1969 && f.month == 11 && f.day == 31 && f.hour == 23 &&
		f.minute == 59 && f.second == 59))
		return -1;
	*out = t;
	return 0;
}
