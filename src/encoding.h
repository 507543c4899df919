/*
 * Content codings for precompressed sidecars: which of the encodings a
 * site offers the client accepts, best first, by RFC 9110 12.5.3
 * Accept-Encoding with q-values. Pure.
 */
#ifndef ENCODING_H
#define ENCODING_H

#include <stddef.h>

/* Sidecar encodings; ties in q-value go to the lower bit. */
enum { ENCODING_BR = 1 << 0, ENCODING_ZSTD = 1 << 1, ENCODING_GZIP = 1 << 2 };
#define ENCODING_COUNT 3

/*
 * Ranks the encodings in offered that the Accept-Encoding value allows
 * (q > 0, named or through "*"), best first, into out. Returns how many.
 * An absent field (value NULL) accepts nothing: identity is then best.
 */
size_t encoding_rank(const char *value, size_t len, unsigned offered,
    unsigned out[ENCODING_COUNT]);
/* "br", "zstd", "gzip" as in Content-Encoding. */
const char *encoding_name(unsigned encoding);
/* ".br", ".zst", ".gz": the sidecar's file name suffix. */
const char *encoding_suffix(unsigned encoding);

#endif
