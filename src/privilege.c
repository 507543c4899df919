/*
 * Privilege drop. The order matters: supplementary groups and the group
 * go first, while we may still change them; setuid last. Looking users up
 * reads /etc/passwd and friends, which is start-up work, never the
 * reactor's.
 */
#include "autoconf.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privilege.h"

static int
lookup(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user \"%s\": %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (group == NULL)
		return 0;
	errno = 0;
	if ((gr = getgrnam(group)) == NULL) {
		snprintf(err, errlen, "group \"%s\": %s", group,
		    errno != 0 ? strerror(errno) : "no such group");
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

int
privilege_check(const char *user, const char *group, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 1; /* nothing to drop; `user` is moot */
	if (user == NULL) {
		snprintf(err, errlen,
		    "refusing to run as root: set user "
		    "(user = \"root\" to insist)");
		return -1;
	}
	if (lookup(user, group, &uid, &gid, err, errlen) == -1)
		return -1;
	return uid == 0 ? 1 : 0;
}

int
privilege_drop(const char *user, const char *group, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;

	if (lookup(user, group, &uid, &gid, err, errlen) == -1)
		return -1;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1) {
		snprintf(err, errlen, "becoming %s: %s", user, strerror(errno));
		return -1;
	}
	/* Verified, not assumed: a saved set-user-ID of 0 would allow this. */
	if (setuid(0) != -1 || seteuid(0) != -1 || getuid() != uid ||
	    geteuid() != uid || getgid() != gid || getegid() != gid) {
		snprintf(
		    err, errlen, "privileges of %s could be regained", user);
		return -1;
	}
	return 0;
}
