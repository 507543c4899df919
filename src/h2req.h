/*
 * An HTTP/2 request head as HTTP/1.1 text, so one strict parser
 * (request_parse_limited) serves both protocols. Pure: no nghttp2, no
 * I/O, so the fuzz target runs it on any field list.
 */
#ifndef H2REQ_H
#define H2REQ_H

#include <stddef.h>

/*
 * fields: the head as nghttp2 delivered it, "name\0value\0" per field
 * (names lower case; no NUL, CR or LF in a value, which nghttp2 checks).
 * On success, 0 with *text (malloc'd, the caller's) and *len: the request
 * line "METHOD :path HTTP/1.1", Host from :authority (or the host field
 * when there is none), then the other fields, then the empty line.
 * Otherwise a negated status: -400 for a missing :method or :path, a
 * :path that is neither absolute nor "*", or an :authority and a host
 * naming different hosts; -405 for CONNECT; -503 without memory. *head
 * says whether the method is HEAD, whatever the result.
 */
long h2req_text(
    const char *fields, size_t fields_len, char **text, size_t *len, int *head);

#endif
