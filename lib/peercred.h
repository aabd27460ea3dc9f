/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The credentials of the process at the other end of an AF_UNIX socket, as the kernel recorded
 * them when that process called connect() (or socketpair()): SO_PEERCRED for pid, effective uid
 * and gid, SO_PEERGROUPS (Linux >= 4.13) for the supplementary groups. They are read once, when
 * a connection is accepted, and never again: what the peer does afterwards (setuid, setgroups,
 * exec, exit and its pid reused) cannot change them, so privilege cannot appear later. Nothing
 * here looks at /proc, whose view of a pid is the current process's, not the connecting one's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct peer_creds {
	pid_t pid;	/* at connect time; the process may be gone, the number reused */
	uid_t uid;	/* effective */
	gid_t gid;	/* effective */
	gid_t *groups;	/* supplementary, in the kernel's order */
	size_t n_groups;
};

/*
 * Reads fd's peer credentials into *ret (which peer_creds_done() frees). A kernel without
 * SO_PEERGROUPS leaves n_groups 0: the peer then counts as in its primary group only, which
 * can only deny, never grant.
 */
int peer_creds_from_socket(int fd, struct peer_creds *ret);
void peer_creds_done(struct peer_creds *c);
/* Whether gid is the peer's primary or one of its supplementary groups. */
bool peer_creds_in_group(const struct peer_creds *c, gid_t gid);
