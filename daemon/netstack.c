/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/macro.h"
#include "netstack.h"

#define NETSTACK_MSG_MIN	(32U * 1024)	/* the receive buffer to begin with */
#define NETSTACK_MSG_MAX	(1U * 1024 * 1024)	/* one netlink datagram, at most */
#define NETSTACK_TRIES		3	/* dumps a change interrupted (NLM_F_DUMP_INTR) are redone */

void netstack_done(struct netstack *ns)
{
	free(ns->links);
	*ns = (struct netstack){};
}

/* --- the records: pure -------------------------------------------------------------------- */

static bool link_carries(const struct netstack_link *l)
{
	return l->n_addrs > 0 || l->default_route || l->n_routes > 0;
}

/* Whether u sits on the device with index ifindex: its IFLA_LINK, unless that is a peer. */
static bool link_is_upper_of(const struct netstack_link *u, int ifindex)
{
	/* A veth's (vxcan's, netkit's) IFLA_LINK is its peer: the other end of a pipe. */
	static const char *const peers[] = { "veth", "vxcan", "netkit" };

	if (u->link == 0 || u->link != ifindex || u->link == u->ifindex || u->link_netns)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(peers); i++)
		if (streq(u->kind, peers[i]))
			return false;
	return true;
}

enum relation {
	REL_NONE,
	REL_PORT,	/* the previous device is a port of this one (its IFLA_MASTER) */
	REL_LOWER,	/* the previous device is this one's lower device (this one's IFLA_LINK) */
	REL_DATAPATH,	/* the previous device is the Open vSwitch datapath this one is a port of */
};

static const char *const relation_text[] = {
	[REL_PORT] = "a port of",
	[REL_LOWER] = "the lower device of",
	[REL_DATAPATH] = "the Open vSwitch datapath of",
};

/* How u is stacked on l, REL_NONE when it is not. */
static enum relation link_relation(const struct netstack_link *l, const struct netstack_link *u)
{
	if (l->master != 0 && u->ifindex == l->master)
		return REL_PORT;
	if (link_is_upper_of(u, l->ifindex))
		return REL_LOWER;
	if (streq(l->kind, "openvswitch") && streq(u->kind, "openvswitch") && u->master == l->ifindex)
		return REL_DATAPATH;
	return REL_NONE;
}

/* "192.0.2.10/24 and the default route", "a route to 198.51.100.0/24", … */
static void link_write_carried(FILE *f, const struct netstack_link *l)
{
	for (unsigned k = 0; k < l->n_addrs && k < NETSTACK_ADDRS_SHOWN; k++)
		fprintf(f, "%s%s", k > 0 ? ", " : "", l->addrs[k]);
	if (l->n_addrs > NETSTACK_ADDRS_SHOWN)
		fprintf(f, " and %u more address%s", l->n_addrs - NETSTACK_ADDRS_SHOWN,
			l->n_addrs - NETSTACK_ADDRS_SHOWN == 1 ? "" : "es");
	if (l->default_route)
		fprintf(f, "%sthe default route", l->n_addrs > 0 ? " and " : "");
	else if (l->n_addrs == 0 && l->n_routes == 1)
		fprintf(f, "a route to %s", l->route);
	else if (l->n_addrs == 0)
		fprintf(f, "%u routes, to %s and others", l->n_routes, l->route);
}

/* The chain from start to end (parent[] leads back from end), and what end carries. */
static int chain_describe(const struct netstack *ns, const size_t *parent, const uint8_t *rel,
			  size_t start, size_t end, char **ret)
{
	_cleanup_free_ size_t *path = NULL;
	char *text = NULL;
	size_t n = 1, size = 0;
	FILE *f;

	for (size_t k = end; k != start; k = parent[k])
		n++;
	path = new0(size_t, n);
	if (!path)
		return -ENOMEM;
	for (size_t p = n, k = end; p-- > 0; k = parent[k])
		path[p] = k;

	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	fputs(ns->links[start].name, f);
	for (size_t p = 1; p < n; p++)
		fprintf(f, ", %s %s", relation_text[rel[path[p]]], ns->links[path[p]].name);
	fputs(n == 1 ? ", which carries " : " which carries ", f);
	link_write_carried(f, &ns->links[end]);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret = text;
	return 1;
}

int netstack_in_use(const struct netstack *ns, const char *ifname, char **ret)
{
	_cleanup_free_ size_t *queue = NULL, *parent = NULL;
	_cleanup_free_ uint8_t *rel = NULL;
	size_t start = SIZE_MAX, head = 0, tail = 0;

	for (size_t i = 0; i < ns->n_links && start == SIZE_MAX; i++)
		if (streq(ns->links[i].name, ifname))
			start = i;
	if (start == SIZE_MAX) {
		*ret = NULL;
		return 0;
	}

	/* Breadth first, so the nearest device that carries something is the one named. */
	queue = new0(size_t, ns->n_links);
	parent = new0(size_t, ns->n_links);
	rel = new0(uint8_t, ns->n_links);
	if (!queue || !parent || !rel)
		return -ENOMEM;
	for (size_t i = 0; i < ns->n_links; i++)
		parent[i] = SIZE_MAX;
	parent[start] = start;
	queue[tail++] = start;
	while (head < tail) {
		size_t i = queue[head++];

		if (link_carries(&ns->links[i]))
			return chain_describe(ns, parent, rel, start, i, ret);
		for (size_t j = 0; j < ns->n_links; j++) {
			enum relation how;

			if (parent[j] != SIZE_MAX)
				continue;
			how = link_relation(&ns->links[i], &ns->links[j]);
			if (how == REL_NONE)
				continue;
			parent[j] = i;
			rel[j] = (uint8_t)how;
			queue[tail++] = j;
		}
	}
	*ret = NULL;
	return 0;
}

/* --- the rtnetlink reader ------------------------------------------------------------------ */

static int link_compare(const void *a, const void *b)
{
	const struct netstack_link *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static struct netstack_link *link_find(const struct netstack *ns, int ifindex)
{
	const struct netstack_link key = { .ifindex = ifindex };

	if (ifindex <= 0 || ns->n_links == 0)
		return NULL;
	return bsearch(&key, ns->links, ns->n_links, sizeof(*ns->links), link_compare);
}

/* A string attribute into buf, cut to fit. */
static void rta_string(const struct rtattr *rta, char *buf, size_t size)
{
	size_t n = strnlen(RTA_DATA(rta), RTA_PAYLOAD(rta));

	n = MIN(n, size - 1);
	memcpy(buf, RTA_DATA(rta), n);
	buf[n] = '\0';
}

static bool rta_u32(const struct rtattr *rta, uint32_t *ret)
{
	if (RTA_PAYLOAD(rta) < sizeof(*ret))
		return false;
	memcpy(ret, RTA_DATA(rta), sizeof(*ret));
	return true;
}

static size_t family_addr_size(unsigned family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static int link_add(struct netstack *ns, unsigned family, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	struct netstack_link l = {};
	bool named = false;
	uint32_t v;
	int len;

	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EBADMSG;
	l.ifindex = ifi->ifi_index;
	len = (int)IFLA_PAYLOAD(h);
	for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		switch (rta->rta_type & NLA_TYPE_MASK) {
		case IFLA_IFNAME:
			rta_string(rta, l.name, sizeof(l.name));
			named = true;
			break;
		case IFLA_MASTER:
			if (rta_u32(rta, &v))
				l.master = (int)v;
			break;
		case IFLA_LINK:
			if (rta_u32(rta, &v))
				l.link = (int)v;
			break;
		case IFLA_LINK_NETNSID:
			l.link_netns = true;
			break;
		case IFLA_LINKINFO: {
			int n = (int)RTA_PAYLOAD(rta);

			for (const struct rtattr *i = RTA_DATA(rta); RTA_OK(i, n); i = RTA_NEXT(i, n))
				if ((i->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
					rta_string(i, l.kind, sizeof(l.kind));
			break;
		}
		default:
			break;
		}
	}
	if (!named || l.ifindex <= 0)
		return 0;

	/* The array's size is implicit: 16, then doubled whenever n_links reaches a power of 2. */
	if (ns->n_links == 0 || (ns->n_links >= 16 && (ns->n_links & (ns->n_links - 1)) == 0)) {
		struct netstack_link *a;

		if (ns->n_links >= NETSTACK_LINKS_MAX)
			return -E2BIG;
		a = reallocarray_safe(ns->links, MAX(ns->n_links * 2, (size_t)16), sizeof(*a));
		if (!a)
			return -ENOMEM;
		ns->links = a;
	}
	ns->links[ns->n_links++] = l;
	return 0;
}

static int addr_add(struct netstack *ns, unsigned family, const struct nlmsghdr *h)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const void *local = NULL, *address = NULL;
	struct netstack_link *l;
	size_t size;
	int len;

	if (h->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return -EBADMSG;
	size = family_addr_size(ifa->ifa_family);
	/* Link-local (fe80::, 169.254/16 as the kernel scopes it) and host (127/8, ::1) do not count. */
	if (ifa->ifa_family != family || size == 0 || ifa->ifa_scope >= RT_SCOPE_LINK)
		return 0;
	l = link_find(ns, (int)ifa->ifa_index);
	if (!l)
		return 0;
	len = (int)IFA_PAYLOAD(h);
	for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (RTA_PAYLOAD(rta) != size)
			continue;
		/* On a point-to-point link IFA_ADDRESS is the peer's, IFA_LOCAL ours. */
		if (rta->rta_type == IFA_LOCAL)
			local = RTA_DATA(rta);
		else if (rta->rta_type == IFA_ADDRESS)
			address = RTA_DATA(rta);
	}
	local = local ?: address;
	if (!local)
		return 0;
	if (l->n_addrs < NETSTACK_ADDRS_SHOWN) {
		char text[INET6_ADDRSTRLEN];

		if (!inet_ntop(ifa->ifa_family, local, text, sizeof(text)))
			return -EBADMSG;
		(void)snprintf(l->addrs[l->n_addrs], sizeof(l->addrs[0]), "%s/%u", text,
			       (unsigned)ifa->ifa_prefixlen);
	}
	if (l->n_addrs < UINT_MAX)
		l->n_addrs++;
	return 0;
}

/* Routes every interface that is up gets: IPv6 link-local and multicast, IPv4 link-local. */
static bool route_is_link_local(unsigned family, const uint8_t *dst, unsigned dst_len)
{
	if (family == AF_INET6)
		return (dst_len >= 10 && dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) ||
		       (dst_len >= 8 && dst[0] == 0xff);
	return dst_len >= 16 && dst[0] == 169 && dst[1] == 254;
}

static void route_credit(struct netstack *ns, int ifindex, bool is_default, const char *route)
{
	struct netstack_link *l = link_find(ns, ifindex);

	if (!l)
		return;
	if (is_default) {
		l->default_route = true;
		return;
	}
	if (l->n_routes == 0)
		(void)snprintf(l->route, sizeof(l->route), "%s", route);
	if (l->n_routes < UINT_MAX)
		l->n_routes++;
}

static int route_add(struct netstack *ns, unsigned family, const struct nlmsghdr *h)
{
	static const uint8_t any[16] = {};
	const struct rtmsg *rtm = NLMSG_DATA(h);
	const struct rtattr *multipath = NULL;
	const uint8_t *dst = any;
	char text[INET6_ADDRSTRLEN], route[NETSTACK_ROUTE_MAX];
	uint32_t table, oif = 0;
	bool is_default;
	size_t size;
	int len;

	if (h->nlmsg_type != RTM_NEWROUTE)
		return 0;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return -EBADMSG;
	size = family_addr_size(rtm->rtm_family);
	/* A kernel without this family's handler dumps every family: keep to the one asked for. */
	if (rtm->rtm_family != family || size == 0 || rtm->rtm_dst_len > size * 8)
		return 0;
	table = rtm->rtm_table;
	len = (int)RTM_PAYLOAD(h);
	for (const struct rtattr *rta = RTM_RTA(rtm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		switch (rta->rta_type & NLA_TYPE_MASK) {
		case RTA_TABLE:
			(void)rta_u32(rta, &table);
			break;
		case RTA_DST:
			if (RTA_PAYLOAD(rta) == size)
				dst = RTA_DATA(rta);
			break;
		case RTA_OIF:
			(void)rta_u32(rta, &oif);
			break;
		case RTA_MULTIPATH:
			multipath = rta;
			break;
		default:
			break;
		}
	}
	if (table == RT_TABLE_LOCAL || route_is_link_local(family, dst, rtm->rtm_dst_len))
		return 0;
	is_default = rtm->rtm_dst_len == 0 && table == RT_TABLE_MAIN;
	if (!inet_ntop((int)family, dst, text, sizeof(text)))
		return -EBADMSG;
	if (table == RT_TABLE_MAIN)
		(void)snprintf(route, sizeof(route), "%s/%u", text, (unsigned)rtm->rtm_dst_len);
	else
		(void)snprintf(route, sizeof(route), "%s/%u (table %u)", text,
			       (unsigned)rtm->rtm_dst_len, table);

	route_credit(ns, (int)oif, is_default, route);
	if (multipath) {
		int n = (int)RTA_PAYLOAD(multipath);

		for (const struct rtnexthop *nh = RTA_DATA(multipath);
		     n >= (int)sizeof(*nh) && RTNH_OK(nh, n);
		     n -= (int)RTNH_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh))
			route_credit(ns, nh->rtnh_ifindex, is_default, route);
	}
	return 0;
}

typedef int (*dump_fn)(struct netstack *ns, unsigned family, const struct nlmsghdr *h);

/*
 * One dump request and its answer, each message to fn. -EAGAIN when a change interrupted the
 * dump (its answer may be inconsistent). *buf (of *size bytes) is the receive buffer, grown.
 */
static int nl_dump(int fd, uint32_t seq, uint16_t type, unsigned family, dump_fn fn,
		   struct netstack *ns, uint8_t **buf, size_t *size)
{
	struct {
		struct nlmsghdr nh;
		union {
			struct ifinfomsg ifi;
			struct ifaddrmsg ifa;
			struct rtmsg rtm;
		};
	} req = {
		.nh.nlmsg_type = type,
		.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		.nh.nlmsg_seq = seq,
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	bool interrupted = false;

	switch (type) {
	case RTM_GETLINK:
		req.ifi.ifi_family = (unsigned char)family;
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
		break;
	case RTM_GETADDR:
		req.ifa.ifa_family = (unsigned char)family;
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
		break;
	default:
		req.rtm.rtm_family = (unsigned char)family;
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.rtm));
		break;
	}
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;

	for (;;) {
		struct sockaddr_nl from = {};
		struct iovec iov;
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t n;
		int len;

		/* The next datagram's size, so that the buffer can hold it whole. */
		n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if ((size_t)n > NETSTACK_MSG_MAX)
			return -EMSGSIZE;
		if ((size_t)n > *size || !*buf) {
			size_t want = MAX((size_t)n, (size_t)NETSTACK_MSG_MIN);
			uint8_t *b = realloc(*buf, want);

			if (!b)
				return -ENOMEM;
			*buf = b;
			*size = want;
		}
		iov = (struct iovec){ .iov_base = *buf, .iov_len = *size };
		n = recvmsg(fd, &mh, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (from.nl_pid != 0)
			continue;	/* not the kernel's */

		len = (int)n;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)(void *)*buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			int r;

			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				interrupted = true;
			if (h->nlmsg_type == NLMSG_DONE) {
				int err = 0;

				/* A dump that failed half-way says so here. */
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(err)))
					memcpy(&err, NLMSG_DATA(h), sizeof(err));
				if (err < 0)
					return err;
				return interrupted ? -EAGAIN : 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				if (e->error == 0)
					continue;	/* an acknowledgement */
				return e->error < 0 ? e->error : -EPROTO;
			}
			r = fn(ns, family, h);
			if (r < 0)
				return r;
		}
	}
}

/* The dumps, in order, into ns: links first, as addresses and routes are credited to them. */
static int netstack_dump_all(int fd, struct netstack *ns)
{
	static const struct {
		uint16_t type;
		unsigned family;
		dump_fn fn;
	} dumps[] = {
		{ RTM_GETLINK, AF_UNSPEC, link_add },
		{ RTM_GETADDR, AF_INET, addr_add },
		{ RTM_GETADDR, AF_INET6, addr_add },
		{ RTM_GETROUTE, AF_INET, route_add },
		{ RTM_GETROUTE, AF_INET6, route_add },
	};
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size = 0;

	for (size_t i = 0; i < ELEMENTSOF(dumps); i++) {
		int r = nl_dump(fd, (uint32_t)i + 1, dumps[i].type, dumps[i].family, dumps[i].fn, ns,
				&buf, &size);

		/* A kernel without IPv6 (ipv6.disable=1) has no IPv6 addresses or routes. */
		if (r < 0 && dumps[i].family == AF_INET6 && (r == -EAFNOSUPPORT || r == -EOPNOTSUPP))
			continue;
		if (r < 0)
			return r;
		if (dumps[i].type == RTM_GETLINK && ns->n_links > 0)
			qsort(ns->links, ns->n_links, sizeof(*ns->links), link_compare);
	}
	return 0;
}

static int netstack_read_once(struct netstack *ret)
{
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct netstack ns = {};
	int r;

	if (fd < 0)
		return -errno;
	r = netstack_dump_all(fd, &ns);
	if (r < 0) {
		netstack_done(&ns);
		return r;
	}
	*ret = ns;
	return 0;
}

int netstack_read(struct netstack *ret)
{
	int r = -EAGAIN;

	for (unsigned i = 0; i < NETSTACK_TRIES && r == -EAGAIN; i++)
		r = netstack_read_once(ret);
	return r;
}
