/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/pci.h"
#include "lib/util.h"
#include "lib/vmargs.h"

/* Guest root ports get chassis numbers from here up, clear of the few a hand-written command
 * line uses; QEMU's chassis is 8 bits, so at most 255 - VM_CHASSIS_BASE host devices. */
#define VM_CHASSIS_BASE 100
/* libvirt: the guest bus (a pcie-root-port controller index) of the first host device. */
#define VM_LIBVIRT_BUS_BASE 0x10

/* The host device (DDDD:BB:DD) of function i; the function's guest function number. */
struct placement {
	size_t slot;		/* 0, 1, …: the host devices in order */
	unsigned function;	/* 0, 1, … within it */
	bool multifunction;	/* function 0 of a slot with more than one */
};

static int place(const struct vm_function *f, size_t n, struct placement **ret, size_t *ret_slots)
{
	struct placement *p = new0(struct placement, n ?: 1);
	size_t slot = 0, first = 0;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		/* Valid, sorted, each once: so at most 8 functions share a slot. */
		if (!pci_addr_is_valid(f[i].address) ||
		    (i > 0 && pci_addr_compare(f[i - 1].address, f[i].address) >= 0)) {
			free(p);
			return -EINVAL;
		}
		if (i > 0 && !pci_addr_same_slot(f[i].address, f[first].address)) {
			slot++;
			first = i;
		}
		p[i] = (struct placement){ .slot = slot, .function = (unsigned)(i - first) };
		if (i - first == 1)
			p[first].multifunction = true;
	}
	if (n > 0 && slot + 1 > 255 - VM_CHASSIS_BASE) {
		free(p);
		return -E2BIG;
	}
	*ret = p;
	*ret_slots = n ? slot + 1 : 0;
	return 0;
}

static int strv_push_fmt(char ***v, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int strv_push_fmt(char ***v, size_t *n, const char *fmt, ...)
{
	char **a = reallocarray_safe(*v, *n + 2, sizeof(char *));
	va_list ap;
	int k;

	if (!a)
		return -ENOMEM;
	*v = a;
	va_start(ap, fmt);
	k = vasprintf(&a[*n], fmt, ap);
	va_end(ap);
	if (k < 0) {
		a[*n] = NULL;
		return -ENOMEM;
	}
	a[++*n] = NULL;
	return 0;
}

int vm_args_qemu(const struct vm_function *f, size_t n, bool iommufd, char ***ret)
{
	_cleanup_free_ struct placement *p = NULL;
	_cleanup_strv_free_ char **v = NULL;
	size_t slots, nv = 0;
	int r;

	r = place(f, n, &p, &slots);
	if (r < 0)
		return r;
	for (size_t i = 0; iommufd && i < n; i++)
		if (!f[i].cdev)
			return -EOPNOTSUPP;
	v = new0(char *, 1);
	if (!v)
		return -ENOMEM;
	if (iommufd && n > 0 &&
	    ((r = strv_push_fmt(&v, &nv, "-object")) < 0 ||
	     (r = strv_push_fmt(&v, &nv, "iommufd,id=pcipass-iommufd")) < 0))
		return r;
	for (size_t s = 0; s < slots; s++) {
		r = strv_push_fmt(&v, &nv, "-device");
		if (r >= 0)
			r = strv_push_fmt(&v, &nv, "pcie-root-port,id=pcipass-rp%zu,chassis=%zu,slot=0",
					  s, s + VM_CHASSIS_BASE);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			if (p[i].slot != s)
				continue;
			r = strv_push_fmt(&v, &nv, "-device");
			if (r >= 0)
				r = strv_push_fmt(&v, &nv,
						  "vfio-pci,host=%s,id=pcipass-%zu-%u,bus=pcipass-rp%zu,"
						  "addr=0x0.0x%x%s%s",
						  f[i].address, s, p[i].function, s, p[i].function,
						  p[i].multifunction ? ",multifunction=on" : "",
						  iommufd ? ",iommufd=pcipass-iommufd" : "");
		}
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

/* DDDD, BB, DD, F of a valid address. */
static void addr_split(const char *a, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn)
{
	if (sscanf(a, "%x:%x:%x.%x", dom, bus, dev, fn) != 4)
		*dom = *bus = *dev = *fn = 0;
}

int vm_args_libvirt(const struct vm_function *f, size_t n, char **ret)
{
	_cleanup_free_ struct placement *p = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t slots, size = 0;
	FILE *out;
	int r;

	r = place(f, n, &p, &slots);
	if (r < 0)
		return r;
	out = open_memstream(&buf, &size);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned dom, bus, dev, fn;

		addr_split(f[i].address, &dom, &bus, &dev, &fn);
		fprintf(out,
			"<hostdev mode='subsystem' type='pci' managed='no'>\n"
			"  <source>\n"
			"    <address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>\n"
			"  </source>\n"
			"  <address type='pci' domain='0x0000' bus='0x%02zx' slot='0x00' "
			"function='0x%x'%s/>\n"
			"</hostdev>\n",
			dom, bus, dev, fn, VM_LIBVIRT_BUS_BASE + p[i].slot, p[i].function,
			p[i].multifunction ? " multifunction='on'" : "");
	}
	if (fclose(out) != 0 || !buf)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

int vm_args_proxmox(const struct vm_function *f, size_t n, char **ret)
{
	_cleanup_free_ struct placement *p = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t slots, size = 0;
	FILE *out;
	int r;

	r = place(f, n, &p, &slots);
	if (r < 0)
		return r;
	out = open_memstream(&buf, &size);
	if (!out)
		return -ENOMEM;
	for (size_t s = 0, i = 0, line = 0; s < slots; s++) {
		size_t first = i, k = 0;

		while (i < n && p[i].slot == s)
			i++, k++;
		/* "DDDD:BB:DD" passes every function of the device, in one guest slot, as
		 * multifunction; otherwise each function is named by itself. */
		if (k > 1 && f[first].whole_device) {
			fprintf(out, "%shostpci%zu: %.*s,pcie=1", line ? "\n" : "", line,
				(int)(strlen(f[first].address) - 2), f[first].address);
			line++;
		} else
			for (size_t j = first; j < i; j++, line++)
				fprintf(out, "%shostpci%zu: %s,pcie=1", line ? "\n" : "", line,
					f[j].address);
	}
	if (fclose(out) != 0 || !buf)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}
