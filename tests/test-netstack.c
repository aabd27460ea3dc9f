/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether an interface is in use, through what is stacked on it (daemon/netstack): link
 * records built here, as rtnetlink would describe them, for stacks a test namespace cannot
 * create (Open vSwitch, team, a bond), and one read of this process's own namespace.
 */
#include "tests.h"

#include "lib/macro.h"
#include "netstack.h"

/* A link: index, name, kind, master, link. */
#define LINK(i, n, k, m, l) { .ifindex = (i), .name = n, .kind = k, .master = (m), .link = (l) }

static void addr(struct netstack_link *l, const char *a)
{
	if (l->n_addrs < NETSTACK_ADDRS_SHOWN)
		snprintf(l->addrs[l->n_addrs], sizeof(l->addrs[0]), "%s", a);
	l->n_addrs++;
}

static struct netstack_link *by_name(struct netstack_link *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].name, name))
			return &v[i];
	abort();
}

/* netstack_in_use() of ifname over the n links at v; NULL when not in use. */
static char *in_use(struct netstack_link *v, size_t n, const char *ifname)
{
	const struct netstack ns = { .links = v, .n_links = n };
	char *what = (char *)"unset";
	int r = netstack_in_use(&ns, ifname, &what);

	if (r < 0)
		abort();
	if ((r == 0) != (what == NULL))
		abort();
	return what;
}

#define ASSERT_IN_USE(v, ifname, want)						\
	do {									\
		_cleanup_free_ char *_w = in_use(v, ELEMENTSOF(v), ifname);	\
		ASSERT_STREQ(_w, want);						\
	} while (0)

TEST(own_address_and_link_local_only)
{
	struct netstack_link v[] = {
		LINK(1, "lo", "", 0, 0), LINK(2, "pcipass9", "", 0, 0), LINK(3, "eno2", "", 0, 0),
	};

	addr(&v[1], "192.0.2.9/24");
	ASSERT_IN_USE(v, "pcipass9", "pcipass9, which carries 192.0.2.9/24");
	/* eno2 is up with only fe80:: (not counted by the reader): not in use. */
	ASSERT_IN_USE(v, "eno2", NULL);
	ASSERT_IN_USE(v, "nosuch0", NULL);
}

TEST(what_is_carried)
{
	struct netstack_link v[] = {
		LINK(2, "eno1", "", 0, 0), LINK(3, "eno2", "", 0, 0), LINK(4, "eno3", "", 0, 0),
		LINK(5, "eno4", "", 0, 0),
	};

	v[0].default_route = true;
	ASSERT_IN_USE(v, "eno1", "eno1, which carries the default route");
	v[1].n_routes = 1;
	snprintf(v[1].route, sizeof(v[1].route), "198.51.100.0/24");
	ASSERT_IN_USE(v, "eno2", "eno2, which carries a route to 198.51.100.0/24");
	v[2].n_routes = 3;
	snprintf(v[2].route, sizeof(v[2].route), "0.0.0.0/0 (table 100)");
	ASSERT_IN_USE(v, "eno3", "eno3, which carries 3 routes, to 0.0.0.0/0 (table 100) and others");
	addr(&v[3], "192.0.2.1/24");
	addr(&v[3], "2001:db8::1/64");
	addr(&v[3], "192.0.2.2/24");
	addr(&v[3], "192.0.2.3/24");
	addr(&v[3], "192.0.2.4/24");
	v[3].default_route = true;
	v[3].n_routes = 2;
	ASSERT_IN_USE(v, "eno4", "eno4, which carries 192.0.2.1/24, 2001:db8::1/64, 192.0.2.2/24 "
		      "and 2 more addresses and the default route");
}

/* Proxmox's default: the address and the default route on vmbr0, none on its port. */
TEST(bridge_port)
{
	struct netstack_link v[] = {
		LINK(2, "eno1", "", 7, 0), LINK(3, "eno2", "", 0, 0), LINK(5, "tap100i0", "tun", 7, 0),
		LINK(7, "vmbr0", "bridge", 0, 0),
	};

	addr(by_name(v, ELEMENTSOF(v), "vmbr0"), "192.0.2.10/24");
	by_name(v, ELEMENTSOF(v), "vmbr0")->default_route = true;
	ASSERT_IN_USE(v, "eno1", "eno1, a port of vmbr0 which carries 192.0.2.10/24 and the default route");
	/* Not through the bridge's other ports. */
	ASSERT_IN_USE(v, "eno2", NULL);
	/* Its own address is named first, before the bridge's. */
	addr(by_name(v, ELEMENTSOF(v), "eno1"), "198.51.100.1/24");
	ASSERT_IN_USE(v, "eno1", "eno1, which carries 198.51.100.1/24");
}

/* A VLAN on a bond in a bridge. */
TEST(vlan_on_bond_in_bridge)
{
	struct netstack_link v[] = {
		LINK(2, "eno1", "", 4, 0), LINK(3, "eno2", "", 4, 0), LINK(4, "bond0", "bond", 0, 0),
		LINK(5, "bond0.10", "vlan", 6, 4), LINK(6, "vmbr0", "bridge", 0, 0),
	};

	addr(&v[4], "192.0.2.10/24");
	ASSERT_IN_USE(v, "eno2", "eno2, a port of bond0, the lower device of bond0.10, "
		      "a port of vmbr0 which carries 192.0.2.10/24");
	/* The nearest carrier is the one named. */
	addr(&v[3], "2001:db8::10/64");
	ASSERT_IN_USE(v, "eno1", "eno1, a port of bond0, the lower device of bond0.10 which carries "
		      "2001:db8::10/64");
}

TEST(team_macvtap_ipvlan)
{
	struct netstack_link v[] = {
		LINK(2, "eno1", "", 3, 0), LINK(3, "team0", "team", 0, 0), LINK(4, "eno2", "", 0, 0),
		LINK(5, "macvtap0", "macvtap", 0, 4), LINK(6, "eno3", "", 0, 0),
		LINK(7, "ipvl0", "ipvlan", 0, 6),
	};

	addr(&v[1], "2001:db8::1/64");
	ASSERT_IN_USE(v, "eno1", "eno1, a port of team0 which carries 2001:db8::1/64");
	ASSERT_IN_USE(v, "eno2", NULL);
	v[3].n_routes = 1;
	snprintf(v[3].route, sizeof(v[3].route), "203.0.113.0/24");
	ASSERT_IN_USE(v, "eno2", "eno2, the lower device of macvtap0 which carries a route to 203.0.113.0/24");
	addr(&v[5], "192.0.2.20/24");
	ASSERT_IN_USE(v, "eno3", "eno3, the lower device of ipvl0 which carries 192.0.2.20/24");
}

/*
 * Open vSwitch: every port's master is the datapath (ovs-system); the bridge's internal port
 * vmbr0, also of kind openvswitch and in that datapath, carries the address.
 */
TEST(openvswitch)
{
	struct netstack_link v[] = {
		LINK(2, "eno1", "", 4, 0), LINK(3, "eno2", "", 4, 0),
		LINK(4, "ovs-system", "openvswitch", 0, 0), LINK(5, "vmbr0", "openvswitch", 4, 0),
		LINK(6, "vxlan_sys_4789", "vxlan", 4, 0), LINK(7, "eno3", "", 0, 0),
	};

	ASSERT_IN_USE(v, "eno1", NULL);
	/* Another physical port's address is not eno1's concern. */
	addr(&v[1], "198.51.100.2/24");
	ASSERT_IN_USE(v, "eno1", NULL);
	addr(&v[3], "192.0.2.10/24");
	v[3].default_route = true;
	ASSERT_IN_USE(v, "eno1", "eno1, a port of ovs-system, the Open vSwitch datapath of vmbr0 "
		      "which carries 192.0.2.10/24 and the default route");
	ASSERT_IN_USE(v, "eno3", NULL);
}

/* A veth's IFLA_LINK is its peer; a link in another namespace is not this one's ifindex. */
TEST(peers_and_other_namespaces_are_not_uppers)
{
	struct netstack_link v[] = {
		LINK(2, "pcipass9", "veth", 0, 3), LINK(3, "pcipass9p", "veth", 0, 2),
		LINK(4, "eno1", "", 0, 0), LINK(5, "mv0", "macvlan", 0, 4),
		LINK(6, "eno2", "", 0, 0), LINK(7, "eno2.10", "vlan", 0, 6),
	};

	addr(&v[1], "192.0.2.99/24");
	ASSERT_IN_USE(v, "pcipass9", NULL);
	/* mv0's lower is ifindex 4 of another namespace, not this eno1. */
	v[3].link_netns = true;
	addr(&v[3], "192.0.2.5/24");
	ASSERT_IN_USE(v, "eno1", NULL);
	addr(&v[5], "192.0.2.6/24");
	ASSERT_IN_USE(v, "eno2", "eno2, the lower device of eno2.10 which carries 192.0.2.6/24");
}

/* Relations that loop (they should not, but the records come from outside) end. */
TEST(loops_end)
{
	struct netstack_link v[] = {
		LINK(2, "a", "bond", 3, 3), LINK(3, "b", "bridge", 2, 2), LINK(4, "c", "", 2, 0),
	};

	ASSERT_IN_USE(v, "c", NULL);
	v[1].default_route = true;
	ASSERT_IN_USE(v, "c", "c, a port of a, a port of b which carries the default route");
}

/* This process's namespace: lo is there, the array is sorted by index. */
TEST(read_this_namespace)
{
	_cleanup_(netstack_done) struct netstack ns = {};
	bool lo = false;
	int r = netstack_read(&ns);

	if (r == -EAFNOSUPPORT || r == -EPERM || r == -EACCES)
		SKIP_TEST("no rtnetlink here: %s", strerror(-r));
	ASSERT_OK(r);
	for (size_t i = 0; i < ns.n_links; i++) {
		lo = lo || streq(ns.links[i].name, "lo");
		if (i > 0)
			ASSERT_TRUE(ns.links[i - 1].ifindex < ns.links[i].ifindex);
	}
	ASSERT_TRUE(lo);
}

DEFINE_TEST_MAIN
