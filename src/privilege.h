/*
 * Running as root only as long as needed: coserve binds its sockets and
 * opens its roots and logs as root, then becomes `user` for good.
 */
#ifndef PRIVILEGE_H
#define PRIVILEGE_H

#include <stddef.h>

/*
 * What start-up as this user must do: 0 to drop privileges to user (and
 * group, else user's primary group), 1 to stay as we are, -1 to refuse
 * with err set (root without a user, or an unknown user or group).
 */
int privilege_check(
    const char *user, const char *group, char *err, size_t errlen);
/*
 * setgroups, setgid, setuid, then proves there is no way back: regaining
 * root must fail. 0, or -1 with err set (the caller must then exit).
 */
int privilege_drop(
    const char *user, const char *group, char *err, size_t errlen);

#endif
