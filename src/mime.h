/*
 * Media types by file extension: /etc/mime.types when it can be read at
 * start-up, a built-in table otherwise. Text types carry "; charset=utf-8".
 */
#ifndef MIME_H
#define MIME_H

struct mime_table;

/* path may be NULL or unreadable: the built-in table is used. NULL on ENOMEM.
 */
struct mime_table *mime_load(const char *path);
/* The same, with n extension/type pairs that win over both. */
struct mime_table *mime_load_with(const char *path, const char *const *exts,
    const char *const *types, size_t n);
void mime_free(struct mime_table *);
/* Sets the type for unknown extensions (charset rules apply); -1 on ENOMEM. */
int mime_set_default(struct mime_table *, const char *type);
/* Never NULL: unknown extensions get the default, else
 * "application/octet-stream". */
const char *mime_lookup(const struct mime_table *, const char *filename);

#endif
