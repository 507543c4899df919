/*
 * Accept-Encoding negotiation. The field is a list of codings with
 * optional weights ("gzip;q=0.8, br, *;q=0"); a coding named explicitly
 * takes its own weight, others take the weight of "*" if present, and a
 * weight of 0 means "not acceptable". Malformed members are skipped, as a
 * recipient may do with a list it cannot parse.
 */
#include "autoconf.h"

#include <string.h>
#include <strings.h>

#include "encoding.h"

static const struct {
	unsigned bit;
	const char *name;
	const char *suffix;
} codings[ENCODING_COUNT] = {
	{ ENCODING_BR, "br", ".br" },
	{ ENCODING_ZSTD, "zstd", ".zst" },
	{ ENCODING_GZIP, "gzip", ".gz" },
};

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses "q=0.xyz" (RFC 9110 12.4.2) into thousandths; -1 if malformed. */
static int
parse_qvalue(const char *p, size_t len)
{
	int q, i, digit;

	if (len < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return -1;
	p += 2;
	len -= 2;
	if (p[0] != '0' && p[0] != '1')
		return -1;
	q = (p[0] - '0') * 1000;
	if (len == 1)
		return q;
	if (p[1] != '.' || len > 5)
		return -1;
	for (i = 2, digit = 100; (size_t)i < len; i++, digit /= 10) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		q += (p[i] - '0') * digit;
	}
	return q > 1000 ? -1 : q;
}

size_t
encoding_rank(const char *value, size_t len, unsigned offered,
    unsigned out[ENCODING_COUNT])
{
	int weight[ENCODING_COUNT], star = -1, q;
	const char *p = value, *end = value + len, *name, *semi, *next;
	size_t namelen, i, j, n = 0;
	unsigned tmp;

	if (value == NULL)
		return 0;
	for (i = 0; i < ENCODING_COUNT; i++)
		weight[i] = -1;
	while (p < end) {
		if ((next = memchr(p, ',', end - p)) == NULL)
			next = end;
		while (p < next && is_ows(*p))
			p++;
		name = p;
		semi = memchr(p, ';', next - p);
		namelen = (semi != NULL ? semi : next) - name;
		while (namelen > 0 && is_ows(name[namelen - 1]))
			namelen--;
		q = 1000;
		if (semi != NULL) {
			p = semi + 1;
			while (p < next && is_ows(*p))
				p++;
			len = next - p;
			while (len > 0 && is_ows(p[len - 1]))
				len--;
			q = parse_qvalue(p, len);
		}
		if (q >= 0 && namelen > 0) {
			if (namelen == 1 && name[0] == '*')
				star = q;
			for (i = 0; i < ENCODING_COUNT; i++)
				if (strlen(codings[i].name) == namelen &&
				    strncasecmp(
					name, codings[i].name, namelen) == 0)
					weight[i] = q;
		}
		p = next + 1;
	}
	for (i = 0; i < ENCODING_COUNT; i++) {
		q = weight[i] >= 0 ? weight[i] : star;
		if (q <= 0 || !(offered & codings[i].bit))
			continue;
		weight[n] = q;
		out[n++] = codings[i].bit;
	}
	/* Stable insertion sort by weight: ties keep our order. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && weight[j] > weight[j - 1]; j--) {
			q = weight[j];
			weight[j] = weight[j - 1];
			weight[j - 1] = q;
			tmp = out[j];
			out[j] = out[j - 1];
			out[j - 1] = tmp;
		}
	return n;
}

const char *
encoding_name(unsigned encoding)
{
	size_t i;

	for (i = 0; i < ENCODING_COUNT; i++)
		if (codings[i].bit == encoding)
			return codings[i].name;
	return "identity";
}

const char *
encoding_suffix(unsigned encoding)
{
	size_t i;

	for (i = 0; i < ENCODING_COUNT; i++)
		if (codings[i].bit == encoding)
			return codings[i].suffix;
	return "";
}
