/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU, libvirt and Proxmox forms of a set of host functions (lib/vmargs). */
#include "tests.h"

#include "lib/macro.h"
#include "lib/vmargs.h"

static char *joined(char **v)
{
	size_t n = 0;
	char *s;

	for (char **p = v; *p; p++)
		n += strlen(*p) + 1;
	s = calloc(n + 1, 1);
	if (!s)
		abort();
	for (char **p = v; *p; p++) {
		strcat(s, *p);
		if (p[1])
			strcat(s, " ");
	}
	return s;
}

/* A GPU and its audio: one root port, one guest slot, functions 0 and 1, multifunction on 0. */
TEST(gpu_with_audio_is_one_guest_slot)
{
	const struct vm_function f[] = {
		{ "0000:01:00.0", NULL, true }, { "0000:01:00.1", NULL, true },
	};
	_cleanup_strv_free_ char **v = NULL;
	_cleanup_free_ char *s = NULL, *x = NULL, *p = NULL;

	ASSERT_OK(vm_args_qemu(f, 2, false, &v));
	ASSERT_EQ(strv_length(v), 6);
	ASSERT_STREQ(v[0], "-device");
	s = joined(v);
	ASSERT_STREQ(s, "-device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 "
		     "-device vfio-pci,host=0000:01:00.0,id=pcipass-0-0,bus=pcipass-rp0,"
		     "addr=0x0.0x0,multifunction=on "
		     "-device vfio-pci,host=0000:01:00.1,id=pcipass-0-1,bus=pcipass-rp0,addr=0x0.0x1");
	ASSERT_OK(vm_args_libvirt(f, 2, &x));
	ASSERT_STREQ(x,
		     "<hostdev mode='subsystem' type='pci' managed='no'>\n"
		     "  <source>\n"
		     "    <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
		     "  </source>\n"
		     "  <address type='pci' domain='0x0000' bus='0x10' slot='0x00' function='0x0'"
		     " multifunction='on'/>\n"
		     "</hostdev>\n"
		     "<hostdev mode='subsystem' type='pci' managed='no'>\n"
		     "  <source>\n"
		     "    <address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/>\n"
		     "  </source>\n"
		     "  <address type='pci' domain='0x0000' bus='0x10' slot='0x00' function='0x1'/>\n"
		     "</hostdev>\n");
	ASSERT_OK(vm_args_proxmox(f, 2, &p));
	ASSERT_STREQ(p, "hostpci0: 0000:01:00,pcie=1");
}

/* Two host devices: two root ports; a lone function has no multifunction bit; functions that
 * are not the whole host device are named one by one for Proxmox. */
TEST(two_devices_two_slots)
{
	const struct vm_function f[] = {
		{ "0000:00:05.1", NULL, false }, { "0000:00:05.2", NULL, false },
		{ "0001:82:00.0", NULL, true },
	};
	_cleanup_strv_free_ char **v = NULL;
	_cleanup_free_ char *s = NULL, *p = NULL;

	ASSERT_OK(vm_args_qemu(f, 3, false, &v));
	s = joined(v);
	ASSERT_STREQ(s, "-device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 "
		     "-device vfio-pci,host=0000:00:05.1,id=pcipass-0-0,bus=pcipass-rp0,"
		     "addr=0x0.0x0,multifunction=on "
		     "-device vfio-pci,host=0000:00:05.2,id=pcipass-0-1,bus=pcipass-rp0,addr=0x0.0x1 "
		     "-device pcie-root-port,id=pcipass-rp1,chassis=101,slot=0 "
		     "-device vfio-pci,host=0001:82:00.0,id=pcipass-1-0,bus=pcipass-rp1,addr=0x0.0x0");
	ASSERT_OK(vm_args_proxmox(f, 3, &p));
	ASSERT_STREQ(p, "hostpci0: 0000:00:05.1,pcie=1\nhostpci1: 0000:00:05.2,pcie=1\n"
		     "hostpci2: 0001:82:00.0,pcie=1");
}

TEST(iommufd_needs_every_cdev)
{
	const struct vm_function f[] = {
		{ "0000:01:00.0", "vfio0", true }, { "0000:01:00.1", NULL, true },
	};
	_cleanup_strv_free_ char **v = NULL;
	_cleanup_free_ char *s = NULL;

	ASSERT_ERROR(vm_args_qemu(f, 2, true, &v), EOPNOTSUPP);
	ASSERT_OK(vm_args_qemu(f, 1, true, &v));
	s = joined(v);
	ASSERT_STREQ(s, "-object iommufd,id=pcipass-iommufd "
		     "-device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 "
		     "-device vfio-pci,host=0000:01:00.0,id=pcipass-0-0,bus=pcipass-rp0,"
		     "addr=0x0.0x0,iommufd=pcipass-iommufd");
}

TEST(bad_input)
{
	const struct vm_function bad[] = { { "0000:01:00.0\n", NULL, true } };
	const struct vm_function twice[] = { { "0000:01:00.0", NULL, true },
					     { "0000:01:00.0", NULL, true } };
	const struct vm_function unsorted[] = { { "0000:02:00.0", NULL, true },
						{ "0000:01:00.0", NULL, true } };
	_cleanup_strv_free_ char **v = NULL;
	char *s = NULL;

	ASSERT_ERROR(vm_args_qemu(bad, 1, false, &v), EINVAL);
	ASSERT_ERROR(vm_args_libvirt(bad, 1, &s), EINVAL);
	ASSERT_ERROR(vm_args_proxmox(twice, 2, &s), EINVAL);
	ASSERT_ERROR(vm_args_qemu(unsorted, 2, false, &v), EINVAL);
	ASSERT_OK(vm_args_qemu(bad, 0, false, &v));
	ASSERT_EQ(strv_length(v), 0);
}

DEFINE_TEST_MAIN
