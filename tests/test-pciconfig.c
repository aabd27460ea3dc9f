/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The config-space decoder on crafted images (each capability decoder, and malformed chains:
 * a loop, a pointer out of range, a short read) and on the captured config space of QEMU's
 * e1000e in tests/fixtures.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "daemon/pciconfig.h"
#include "lib/json-util.h"
#include "tests.h"

static void put16(uint8_t *c, size_t off, uint16_t v)
{
	c[off] = v & 0xff;
	c[off + 1] = v >> 8;
}

static void put32(uint8_t *c, size_t off, uint32_t v)
{
	put16(c, off, v & 0xffff);
	put16(c, off + 2, v >> 16);
}

/* A type-0 header of vendor 8086 device 10d3 with the capability list bit set. */
static void header(uint8_t *c)
{
	memset(c, 0, 4096);
	put16(c, 0, 0x8086);
	put16(c, 2, 0x10d3);
	put16(c, 4, 0x0406);		/* Mem, BusMaster, DisINTx */
	put16(c, 6, 0x0010);		/* capabilities list */
	put32(c, 8, 0x02000003);	/* class 020000, revision 3 */
	put32(c, 0x10, 0xfe000000);	/* BAR0: 32-bit memory */
	put32(c, 0x14, 0x0000e001);	/* BAR1: I/O */
	put32(c, 0x18, 0xc000000c);	/* BAR2: 64-bit prefetchable … */
	put32(c, 0x1c, 0x00000040);	/* … high half */
	c[0x3d] = 1;			/* INTA */
	c[0x3c] = 11;
}

static json_object *decode(const uint8_t *c, size_t n, const char *resource)
{
	json_object *o = NULL;

	ASSERT_OK(pci_config_to_json(c, n, resource, &o));
	return o;
}

static const char *text(json_object *o, const char *unused)
{
	return json_object_to_json_string_ext(o, JSON_FLAGS_WIRE);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	ASSERT_TRUE(json_object_object_get_ex(o, key, &v));
	return v;
}

static json_object *cap(json_object *o, size_t i)
{
	json_object *caps = get(o, "capabilities");

	ASSERT_TRUE(i < json_object_array_length(caps));
	return json_object_array_get_idx(caps, i);
}

TEST(header_and_bars)
{
	static const char resource[] =
		"0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200\n"
		"0x000000000000e000 0x000000000000e01f 0x0000000000040101\n"
		"0x00000040c0000000 0x00000040c00fffff 0x000000000014220c\n"
		"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		"0x00000000fe800000 0x00000000fe83ffff 0x0000000000046200\n";
	uint8_t c[4096];
	_cleanup_json_ json_object *o = NULL;

	header(c);
	c[0x34] = 0;	/* an empty chain */
	o = decode(c, 256, resource);
	ASSERT_STREQ(text(get(o, "command"), NULL),
		     "{\"value\":1030,\"io\":false,\"memory\":true,\"bus_master\":true,"
		     "\"special_cycles\":false,\"memory_write_invalidate\":false,"
		     "\"vga_palette_snoop\":false,\"parity_error_response\":false,\"serr\":false,"
		     "\"fast_back_to_back\":false,\"intx_disable\":true}");
	ASSERT_EQ(json_object_get_int(get(o, "class")), 0x020000);
	ASSERT_EQ(json_object_get_int(get(o, "revision")), 3);
	ASSERT_STREQ(json_object_get_string(get(o, "interrupt_pin")), "A");
	ASSERT_STREQ(text(get(o, "bars"), NULL),
		     "[{\"index\":0,\"type\":\"memory\",\"bits\":32,\"prefetchable\":false,"
		     "\"address\":4261412864,\"size\":131072},"
		     "{\"index\":1,\"type\":\"io\",\"bits\":null,\"prefetchable\":false,"
		     "\"address\":57344,\"size\":32},"
		     "{\"index\":2,\"type\":\"memory\",\"bits\":64,\"prefetchable\":true,"
		     "\"address\":278099132416,\"size\":1048576}]");
	ASSERT_STREQ(text(get(o, "rom_bar"), NULL),
		     "{\"enabled\":false,\"address\":4269801472,\"size\":262144}");
	ASSERT_EQ(json_object_array_length(get(o, "capabilities")), 0);
	ASSERT_EQ(json_object_array_length(get(o, "problems")), 0);
}

TEST(capabilities_decoded)
{
	uint8_t c[4096];
	_cleanup_json_ json_object *o = NULL;

	header(c);
	c[0x34] = 0x40;
	/* PM at 0x40: version 3, D1; PMCSR D3hot */
	c[0x40] = 0x01, c[0x41] = 0x50;
	put16(c, 0x42, 0x0203);
	put16(c, 0x44, 0x0003);
	/* MSI at 0x50: 64-bit, per-vector masking, 8 capable, 4 enabled, enabled */
	c[0x50] = 0x05, c[0x51] = 0x60;
	put16(c, 0x52, 0x01a7);
	/* PCIe at 0x60: v2 endpoint, MPS 256 supported, FLR; ctl MPS 128 MRRS 512; link 8 GT/s
	 * x16 capable (its link status at 0x72 is shared with MSI-X's control below: the
	 * PCIe structure here is shorter than a real one) */
	c[0x60] = 0x10, c[0x61] = 0x70;
	put16(c, 0x62, 0x0002);
	put32(c, 0x64, 0x10000001);
	put16(c, 0x68, 0x2000);
	put32(c, 0x6c, 0x00000103);
	/* MSI-X at 0x70: enabled, 16 entries, table BAR 3 at 0x2000, PBA BAR 3 at 0x3000 */
	c[0x70] = 0x11, c[0x71] = 0x00;
	put16(c, 0x72, 0x800f);
	put32(c, 0x74, 0x00002003);
	put32(c, 0x78, 0x00003003);
	/* AER at 0x100 (next 0x140): UnsupReq and CmpltTO set; RxErr correctable */
	put32(c, 0x100, 0x14020001);
	put32(c, 0x104, (1U << 20) | (1U << 14));
	put32(c, 0x110, 1U << 0);
	/* ACS at 0x140 (next 0x180): SV RR CR UF capable, SV enabled */
	put32(c, 0x140, 0x1801000d);
	put16(c, 0x144, 0x001d);
	put16(c, 0x146, 0x0001);
	/* SR-IOV at 0x180, last: 7 of 64 VFs, VF device 10ed */
	put32(c, 0x180, 0x00010010);
	put16(c, 0x188, 0x0001);
	put16(c, 0x18c, 64);
	put16(c, 0x18e, 64);
	put16(c, 0x190, 7);
	put16(c, 0x19a, 0x10ed);

	o = decode(c, 4096, NULL);
	ASSERT_EQ(json_object_array_length(get(o, "capabilities")), 7);
	ASSERT_STREQ(text(cap(o, 0), NULL),
		     "{\"id\":1,\"offset\":64,\"extended\":false,\"name\":\"Power Management\","
		     "\"version\":3,\"d1\":true,\"d2\":false,\"pme_support\":0,"
		     "\"power_state\":\"D3hot\",\"no_soft_reset\":false}");
	ASSERT_STREQ(text(cap(o, 1), NULL),
		     "{\"id\":5,\"offset\":80,\"extended\":false,\"name\":\"MSI\",\"enabled\":true,"
		     "\"vectors_capable\":8,\"vectors_enabled\":4,\"address_64bit\":true,"
		     "\"per_vector_masking\":true}");
	ASSERT_STREQ(json_object_get_string(get(cap(o, 2), "port_type")), "endpoint");
	ASSERT_EQ(json_object_get_int(get(cap(o, 2), "max_payload_supported")), 256);
	ASSERT_EQ(json_object_get_int(get(cap(o, 2), "max_read_request")), 512);
	ASSERT_TRUE(json_object_get_boolean(get(cap(o, 2), "flr")));
	ASSERT_STREQ(text(get(cap(o, 2), "link_capable"), NULL),
		     "{\"speed_gts\":8.0,\"width\":16,\"generation\":3,\"bandwidth_mbps\":15760}");
	ASSERT_STREQ(json_object_get_string(get(cap(o, 3), "name")), "MSI-X");
	ASSERT_EQ(json_object_get_int(get(cap(o, 3), "table_size")), 16);
	ASSERT_EQ(json_object_get_int(get(cap(o, 3), "pba_offset")), 0x3000);
	ASSERT_STREQ(text(get(cap(o, 4), "uncorrectable_status"), NULL), "[\"CmpltTO\",\"UnsupReq\"]");
	ASSERT_STREQ(text(get(cap(o, 4), "correctable_status"), NULL), "[\"RxErr\"]");
	ASSERT_TRUE(json_object_get_boolean(get(get(cap(o, 5), "capable"), "request_redirect")));
	ASSERT_FALSE(json_object_get_boolean(get(get(cap(o, 5), "enabled"), "request_redirect")));
	ASSERT_EQ(json_object_get_int(get(cap(o, 6), "num_vfs")), 7);
	ASSERT_EQ(json_object_get_int(get(cap(o, 6), "vf_device_id")), 0x10ed);
	ASSERT_EQ(json_object_array_length(get(o, "problems")), 0);
}

TEST(downtrained_link)
{
	uint8_t c[4096];
	_cleanup_json_ json_object *o = NULL;

	header(c);
	c[0x34] = 0x60;
	c[0x60] = 0x10, c[0x61] = 0;
	put16(c, 0x62, 0x0002);
	put32(c, 0x6c, 0x00000104);	/* 16 GT/s x16 capable */
	put16(c, 0x72, 0x0044);		/* trained 16 GT/s x4: a GPU in a x4 slot */
	o = decode(c, 256, NULL);
	ASSERT_TRUE(json_object_get_boolean(get(cap(o, 0), "downtrained")));
	ASSERT_STREQ(text(get(cap(o, 0), "link"), NULL),
		     "{\"speed_gts\":16.0,\"width\":4,\"generation\":4,\"bandwidth_mbps\":7876}");
}

TEST(malformed_chains_are_reported_not_followed)
{
	static const struct {
		uint8_t first, next;
		size_t n;
		const char *problem;
	} cases[] = {
		{ 0x40, 0x40, 256, "capability chain loops back to 0x40" },
		{ 0x40, 0x10, 256, "capability pointer 0x10 is out of range" },
		{ 0x40, 0x50, 64, "capability at 0x40 lies beyond the 64 bytes read" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint8_t c[4096];
		_cleanup_json_ json_object *o = NULL;

		header(c);
		c[0x34] = cases[i].first;
		c[0x40] = 0x05;
		c[0x41] = cases[i].next;
		o = decode(c, cases[i].n, NULL);
		ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(get(o, "problems"), 0)),
			     cases[i].problem);
	}
	/* An extended chain that loops. */
	{
		uint8_t c[4096];
		_cleanup_json_ json_object *o = NULL;

		header(c);
		c[0x34] = 0;
		put32(c, 0x100, 0x10010001);	/* AER, next 0x100 */
		o = decode(c, 4096, NULL);
		ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(get(o, "problems"), 0)),
			     "extended capability chain loops back to 0x100");
	}
	/* Only the unprivileged 40 bytes: said, nothing invented. */
	{
		uint8_t c[4096];
		_cleanup_json_ json_object *o = NULL;

		header(c);
		o = decode(c, 40, NULL);
		ASSERT_STREQ(text(o, NULL), "{\"capabilities\":[],\"problems\":[\"only 40 bytes of config "
			     "space could be read\"],\"size\":40}");
	}
}

/* The captured config space of QEMU's e1000e (q35 fixture, kernel 6.1). */
TEST(captured_e1000e)
{
	const char *srcdir = getenv("top_srcdir") ?: ".";
	char cmd[1024];
	uint8_t c[4096];
	_cleanup_json_ json_object *o = NULL;
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), "tar -xzOf '%s/tests/fixtures/q35-iommu-host.tar.gz' "
		 "--wildcards '*devices/pci0000:00/0000:00:03.0/config'", srcdir);
	f = popen(cmd, "r");
	ASSERT_NOT_NULL(f);
	n = fread(c, 1, sizeof(c), f);
	ASSERT_EQ(pclose(f), 0);
	if (n == 0)
		SKIP_TEST("the fixture holds no config for 0000:00:03.0");
	o = decode(c, n, NULL);
	ASSERT_EQ(json_object_get_int(get(o, "vendor_id")), 0x8086);
	ASSERT_EQ(json_object_get_int(get(o, "device_id")), 0x10d3);
	/* lspci -vvv in that VM: [c8] PM, [d0] MSI, [e0] Express RC integrated endpoint,
	 * [a0] MSI-X Count=5, [100] AER, [140] Device Serial Number. */
	ASSERT_STREQ(json_object_get_string(get(cap(o, 2), "port_type")),
		     "root-complex-integrated-endpoint");
	ASSERT_EQ(json_object_get_int(get(cap(o, 3), "table_size")), 5);
	ASSERT_STREQ(json_object_get_string(get(cap(o, 4), "name")), "Advanced Error Reporting");
	ASSERT_STREQ(json_object_get_string(get(cap(o, 5), "name")), "Device Serial Number");
	ASSERT_EQ(json_object_array_length(get(o, "problems")), 0);
}

DEFINE_TEST_MAIN
