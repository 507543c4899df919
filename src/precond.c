/*
 * Preconditions (RFC 9110 13.1, evaluated as 13.2.2 orders them). Each
 * condition is read from the request's field slices only when an earlier
 * one has not already decided, so a field that does not count (an
 * If-Unmodified-Since beside an If-Match, an If-Modified-Since beside an
 * If-None-Match, an If-Range without a Range) is never even parsed.
 * Entity-tag lists are parsed in full before they can match: a list with
 * a syntax error anywhere matches nothing, wherever our tag sits in it, so
 * a malformed If-Match fails (412) and a malformed If-None-Match lets the
 * request through. Invalid dates are ignored, as 13.1.3 and 13.1.4 say.
 */
#include "autoconf.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

#include "httpdate.h"
#include "precond.h"
#include "request.h"

enum compare {
	COMPARE_STRONG, /* both strong, same opaque-tag (RFC 9110 8.8.3.2) */
	COMPARE_WEAK	/* same opaque-tag, weak or not */
};

/* An entity-tag split into its parts; opaque includes the quotes. */
struct etag {
	int weak;
	const char *opaque;
	size_t len;
};

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* etagc = %x21 / %x23-7E / obs-text */
static int
is_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/*
 * entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, at p[*i]. Returns 0 and
 * advances *i past it, or -1 when there is none there.
 */
static int
etag_parse(const char *p, size_t len, size_t *i, struct etag *out)
{
	size_t j = *i;

	out->weak = 0;
	/* "W/" is case-sensitive (RFC 9110 8.8.3). */
	if (len - j >= 2 && p[j] == 'W' && p[j + 1] == '/') {
		out->weak = 1;
		j += 2;
	}
	if (j == len || p[j] != '"')
		return -1;
	out->opaque = p + j;
	for (j++; j < len && p[j] != '"'; j++) {
		if (!is_etagc((unsigned char)p[j]))
			return -1;
	}
	if (j == len)
		return -1;
	j++;
	out->len = (size_t)(p + j - out->opaque);
	*i = j;
	return 0;
}

static int
etag_equal(const struct etag *a, const struct etag *b, enum compare how)
{
	if (how == COMPARE_STRONG && (a->weak || b->weak))
		return 0;
	return a->len == b->len && memcmp(a->opaque, b->opaque, a->len) == 0;
}

/* Our own validator, split; -1 when there is none (or it is not a tag). */
static int
validator_etag(const struct precond_validators *v, struct etag *out)
{
	size_t i = 0, len;

	if (v->etag == NULL)
		return -1;
	len = strlen(v->etag);
	if (etag_parse(v->etag, len, &i, out) == -1 || i != len)
		return -1;
	return 0;
}

/*
 * Whether a "*" / #entity-tag field value (If-Match, If-None-Match)
 * matches the representation. "*" matches any current one, and there is
 * one whenever we are asked. Empty list elements are skipped (RFC 9110
 * 5.6.1.2); a value that is not a valid list matches nothing.
 */
static int
etag_list_matches(
    struct slice list, const struct precond_validators *v, enum compare how)
{
	const char *p = list.ptr;
	size_t len = list.len, i = 0;
	struct etag ours, tag;
	int have_ours, matched = 0;

	if (len == 1 && p[0] == '*')
		return 1;
	have_ours = validator_etag(v, &ours) == 0;
	for (;;) {
		while (i < len && (is_ows(p[i]) || p[i] == ','))
			i++;
		if (i == len)
			break;
		if (etag_parse(p, len, &i, &tag) == -1)
			return 0;
		if (have_ours && etag_equal(&tag, &ours, how))
			matched = 1;
		while (i < len && is_ows(p[i]))
			i++;
		if (i < len && p[i] != ',')
			return 0;
	}
	return matched;
}

/*
 * RFC 9110 8.8.2.2: a Last-Modified date is a strong validator only if
 * the representation cannot have changed twice within its second. Once
 * that second is over it cannot change within it again; one more second
 * of margin covers file timestamps taken from a coarser clock than ours.
 */
static int
date_is_strong(const struct precond_validators *v)
{
	return v->now - 1 > v->last_modified;
}

/* RFC 9110 13.1.5: the Range applies only to the representation named. */
static int
if_range_holds(struct slice value, const struct precond_validators *v)
{
	struct etag ours, tag;
	size_t i = 0;
	time_t date;

	/* A date can start with a 'W' ("Wed, ..."), never with "W/". */
	if ((value.len > 0 && value.ptr[0] == '"') ||
	    (value.len > 1 && value.ptr[0] == 'W' && value.ptr[1] == '/')) {
		if (etag_parse(value.ptr, value.len, &i, &tag) == -1 ||
		    i != value.len || validator_etag(v, &ours) == -1)
			return 0;
		return etag_equal(&tag, &ours, COMPARE_STRONG);
	}
	if (httpdate_parse(value.ptr, value.len, &date) == -1)
		return 0;
	return date == v->last_modified && date_is_strong(v);
}

/* A valid HTTP-date in a field, or -1: invalid dates are ignored. */
static int
field_date(struct slice value, time_t *out)
{
	if (value.ptr == NULL)
		return -1;
	return httpdate_parse(value.ptr, value.len, out);
}

enum precond_result
precond_evaluate(const struct request *req, const struct precond_validators *v,
    int *range_applies)
{
	int get_or_head = req->method == HTTP_GET || req->method == HTTP_HEAD;
	time_t date;

	*range_applies = 0;
	/* Steps 1 and 2: the representation must be the one the client has. */
	if (req->if_match.ptr != NULL) {
		if (!etag_list_matches(req->if_match, v, COMPARE_STRONG))
			return PRECOND_FAILED;
	} else if (field_date(req->if_unmodified_since, &date) == 0 &&
	    v->last_modified > date)
		return PRECOND_FAILED;

	/* Steps 3 and 4: the client's copy may already be current. */
	if (req->if_none_match.ptr != NULL) {
		if (etag_list_matches(req->if_none_match, v, COMPARE_WEAK))
			return get_or_head ? PRECOND_NOT_MODIFIED
					   : PRECOND_FAILED;
	} else if (get_or_head &&
	    field_date(req->if_modified_since, &date) == 0 &&
	    v->last_modified <= date)
		return PRECOND_NOT_MODIFIED;

	/* Step 5: Range is only defined for GET (RFC 9110 14.2). */
	if (req->method == HTTP_GET && req->range.ptr != NULL)
		*range_applies = req->if_range.ptr == NULL ||
		    if_range_holds(req->if_range, v);
	return PRECOND_PROCEED;
}
