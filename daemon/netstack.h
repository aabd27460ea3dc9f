/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Whether the host uses a network interface, from rtnetlink. netstack_read() dumps the links,
 * addresses and routes (IPv4 and IPv6) of the caller's network namespace once, into one record
 * per link: its place in the stack and what it carries. netstack_in_use() is pure, over those
 * records, so tests can build stacks no test namespace can (Open vSwitch, team).
 *
 * An interface is in use when it, or a device stacked on it, carries a global address (scope
 * below link) or a route (in a table other than local; IPv6 fe80::/10 and ff00::/8 and IPv4
 * 169.254.0.0/16 routes, which any interface that is up gets, do not count), or is the path of
 * the default route. Stacked on X, through the kernel's relations and never by name:
 *   - X's master (IFLA_MASTER): a bridge, bond, team, VRF, or the Open vSwitch datapath;
 *   - a device whose lower device is X (IFLA_LINK): VLAN, macvlan, macvtap, ipvlan, …, but not
 *     a veth's (or vxcan's, netkit's) peer, nor a device whose lower is in another namespace;
 *   - when X is an Open vSwitch datapath (kind "openvswitch", usually ovs-system): the other
 *     Open vSwitch devices it holds, the bridges' internal ports, where the addresses live;
 * and so upwards (a VLAN on a bond in a bridge).
 */

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"

#define NETSTACK_KIND_MAX	32	/* IFLA_INFO_KIND: "bridge", "openvswitch", … */
#define NETSTACK_ADDR_MAX	(INET6_ADDRSTRLEN + STRLEN("/128"))
#define NETSTACK_ROUTE_MAX	(NETSTACK_ADDR_MAX + STRLEN(" (table )") + DECIMAL_STR_MAX(uint32_t))
#define NETSTACK_ADDRS_SHOWN	3	/* addresses a link keeps the text of (it counts them all) */
#define NETSTACK_LINKS_MAX	65536

struct netstack_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[NETSTACK_KIND_MAX];	/* "" when the link has none (a physical NIC) */
	int master;			/* IFLA_MASTER's ifindex; 0: none */
	int link;			/* IFLA_LINK's ifindex (a lower device, a peer); 0: none */
	bool link_netns;		/* IFLA_LINK_NETNSID: link is in another namespace */
	unsigned n_addrs;		/* global addresses */
	char addrs[NETSTACK_ADDRS_SHOWN][NETSTACK_ADDR_MAX];	/* the first ones, "192.0.2.10/24" */
	bool default_route;		/* the main table's default route goes through it */
	unsigned n_routes;		/* other routes through it */
	char route[NETSTACK_ROUTE_MAX];	/* the first of them, "198.51.100.0/24 (table 100)" */
};

struct netstack {
	struct netstack_link *links;	/* sorted by ifindex */
	size_t n_links;
};

/*
 * Dumps links, addresses and routes of this network namespace. -ENOMEM; -E2BIG with more than
 * NETSTACK_LINKS_MAX links; the socket's or the kernel's errno otherwise.
 */
int netstack_read(struct netstack *ret);
void netstack_done(struct netstack *ns);

/*
 * Whether the interface ifname is in use, as above. 0 when it is not (or there is no such
 * link; *ret is NULL); 1 when it is, with *ret the chain from ifname to the device that carries
 * what, "eno1, a port of vmbr0 which carries 192.0.2.10/24 and the default route" or
 * "pcipass9, which carries 192.0.2.9/24"; -ENOMEM.
 */
int netstack_in_use(const struct netstack *ns, const char *ifname, char **ret);
