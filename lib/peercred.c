/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "lib/macro.h"
#include "lib/peercred.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* NGROUPS_MAX is 65536: the kernel refuses larger lists, so a bigger answer is a bug. */
#define GROUPS_MAX 65536U

static int peer_groups(int fd, gid_t **ret, size_t *ret_n)
{
	_cleanup_free_ gid_t *groups = NULL;
	socklen_t len = 64 * sizeof(gid_t);

	for (;;) {
		gid_t *g = realloc(groups, len ?: 1);

		if (!g)
			return -ENOMEM;
		groups = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0)
			break;
		/* Too small: len now says how much the kernel needs. */
		if (errno != ERANGE)
			return -errno;
		if (len > GROUPS_MAX * sizeof(gid_t))
			return -E2BIG;
	}
	if (len % sizeof(gid_t) != 0)
		return -EIO;
	*ret_n = len / sizeof(gid_t);
	*ret = *ret_n > 0 ? TAKE_PTR(groups) : NULL;
	return 0;
}

int peer_creds_from_socket(int fd, struct peer_creds *ret)
{
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred);
	gid_t *groups = NULL;
	size_t n = 0;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EIO;
	r = peer_groups(fd, &groups, &n);
	/* Not a socket family that records groups, or a kernel before 4.13. */
	if (r == -ENOPROTOOPT || r == -EOPNOTSUPP)
		r = 0;
	if (r < 0)
		return r;
	*ret = (struct peer_creds){
		.pid = cred.pid,
		.uid = cred.uid,
		.gid = cred.gid,
		.groups = groups,
		.n_groups = n,
	};
	return 0;
}

void peer_creds_done(struct peer_creds *c)
{
	if (!c)
		return;
	c->groups = mfree(c->groups);
	c->n_groups = 0;
}

bool peer_creds_in_group(const struct peer_creds *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	for (size_t i = 0; i < c->n_groups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}
