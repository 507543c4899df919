/*
 * Response fields by location. Rules are few (CONFIG_RULES_MAX) and
 * matching is a prefix or suffix compare, so every response simply walks
 * them all; no index is worth its code here.
 */
#include "autoconf.h"

#include <string.h>
#include <strings.h>

#include "config.h"
#include "headers.h"
#include "httpdate.h"
#include "response.h"

static int
rule_matches(const struct header_rule *rule, const char *rel, const char *name)
{
	size_t len, namelen;

	if (rule->match[0] == '/') {
		/* The rule is written with its leading '/', rel without. */
		len = strlen(rule->match + 1);
		return strncmp(rel, rule->match + 1, len) == 0;
	}
	len = strlen(rule->match + 1); /* ".ext" */
	namelen = strlen(name);
	return namelen > len &&
	    strcasecmp(name + namelen - len, rule->match + 1) == 0;
}

void
headers_apply(const struct site_config *site, const char *rel, const char *name,
    struct response *r, time_t now)
{
	const struct header_rule *cache = NULL, *expires = NULL;
	char date[HTTPDATE_LEN + 1];
	size_t i, j;

	for (i = 0; i < site->rule_count; i++) {
		if (!rule_matches(&site->rules[i], rel, name))
			continue;
		if (site->rules[i].cache_control != NULL)
			cache = &site->rules[i];
		if (site->rules[i].expires_s >= 0)
			expires = &site->rules[i];
	}
	if (cache != NULL)
		response_add_str(r, "Cache-Control", cache->cache_control);
	else if (expires != NULL)
		response_add(
		    r, "Cache-Control", "max-age=%ld", expires->expires_s);
	if (expires != NULL) {
		httpdate_format(now + expires->expires_s, date);
		response_add_str(r, "Expires", date);
	}
	for (i = 0; i < site->rule_count; i++) {
		if (!rule_matches(&site->rules[i], rel, name))
			continue;
		for (j = 0; j < site->rules[i].add_count; j++)
			response_add_line(r, site->rules[i].add[j]);
	}
}
