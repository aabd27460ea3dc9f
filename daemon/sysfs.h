/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The only code that touches sysfs. Every access is openat()-relative to one root directory
 * (the real /sys, or a synthetic tree in tests), errno is preserved as a negative return, and
 * in read-only mode no write reaches the tree.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"
#include "lib/util.h"

/* A sysfs text attribute is at most one page. */
#define SYSFS_ATTR_MAX 4096

struct sysfs {
	int root_fd;
	char *root;
	bool read_only;
	int write_log_fd;	/* every write, as "PATH VALUE -> RESULT" lines; -EBADF: none */
};

int sysfs_open(const char *root, bool read_only, struct sysfs **ret);
struct sysfs *sysfs_free(struct sysfs *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sysfs *, sysfs_free)

/* Opens a directory below the root, or below dirfd (O_PATH: only for *_at() lookups). */
int sysfs_open_dir(const struct sysfs *s, const char *path);
int sysfs_open_dir_at(int dirfd, const char *path);

/*
 * Reads a text attribute, trailing whitespace stripped. -ENOENT when it does not exist; any
 * other error is the kernel's (EIO, EINVAL … from an attribute that refuses to be read).
 */
int sysfs_read_at(int dirfd, const char *name, char **ret);
int sysfs_read(const struct sysfs *s, const char *path, char **ret);
/* Reads an integer attribute: "0x…" as hex when base is 16, decimal otherwise. */
int sysfs_read_u32_at(int dirfd, const char *name, unsigned base, uint32_t *ret);
int sysfs_read_i32_at(int dirfd, const char *name, int32_t *ret);
/* Reads up to n bytes of a binary attribute from offset 0; returns the count read. */
ssize_t sysfs_read_bin_at(int dirfd, const char *name, void *buf, size_t n);
/* The last path component of a symlink's target ("driver" → "vfio-pci"); -ENOENT if absent. */
int sysfs_readlink_name_at(int dirfd, const char *name, char **ret);
/* The entries of a directory below the root (or dirfd), sorted (strcmp), "." and ".." left out;
 * *ret_n (may be NULL) their count. */
int sysfs_list(const struct sysfs *s, const char *path, char ***ret, size_t *ret_n);
int sysfs_list_at(int dirfd, const char *path, char ***ret, size_t *ret_n);

/*
 * Writes value to an attribute in one write(); -EROFS in read-only mode. The only function
 * that writes below the root: each write is logged (debug level, and to the write log when
 * one is set) as the step it is, so the daemon's writes can be compared with its dry run.
 */
int sysfs_write(const struct sysfs *s, const char *path, const char *value);
/* Appends every later write to path ("PATH VALUE -> RESULT", VALUE escaped as C does). */
int sysfs_set_write_log(struct sysfs *s, const char *path);

/* --- PCI: the paths and typed accessors ------------------------------------------------------ */

#define SYSFS_PCI_DEVICES	"bus/pci/devices"
#define SYSFS_PCI_DRIVERS	"bus/pci/drivers"
#define SYSFS_DRIVERS_PROBE	"bus/pci/drivers_probe"
#define SYSFS_IOMMU_GROUPS	"kernel/iommu_groups"
#define SYSFS_LOCKDOWN		"kernel/security/lockdown"
#define SYSFS_VFIO_NOIOMMU	"module/vfio/parameters/enable_unsafe_noiommu_mode"
#define SYSFS_VFIO_UNSAFE_INTERRUPTS "module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
#define SYSFS_KERNEL_IRQ	"kernel/irq"

/* "bus/pci/devices/ADDRESS/ATTR" and "bus/pci/drivers/DRIVER/ATTR" (attr may be NULL). */
int sysfs_pci_attr_path(const char *address, const char *attr, char **ret);
int sysfs_driver_attr_path(const char *driver, const char *attr, char **ret);

/* Opens (O_PATH) a function's directory, or its subdirectory sub ("uio", "vfio-dev") when not
 * NULL; -ENODEV when there is no such function, -EINVAL for what is not a PCI address. */
int sysfs_pci_open(const struct sysfs *s, const char *address, const char *sub);
/* The same for the function's own directory, and in parent the bridge (port) above it, ""
 * on a root bus, from one look at its link; in *ret_dir (when not NULL) the directory's path
 * below the root, NULL when the link does not say. */
int sysfs_pci_open_parent(const struct sysfs *s, const char *address,
			  char parent[static PCI_ADDR_MAX + 1], char **ret_dir);
/* The addresses of all PCI functions, sorted by name. */
int sysfs_pci_list(const struct sysfs *s, char ***ret, size_t *ret_n);
/* The driver a function is bound to (NULL: none); -ENODEV when there is no such function. */
int sysfs_pci_driver(const struct sysfs *s, const char *address, char **ret);
/* Its driver_override (NULL: unset). */
int sysfs_pci_override(const struct sysfs *s, const char *address, char **ret);
/* Its header type (config byte 0x0e & 0x7f); -ENODEV when it has no config space. */
int sysfs_pci_header(const struct sysfs *s, const char *address, int *ret);
/* Whether a PCI driver is registered (bus/pci/drivers/NAME exists). */
bool sysfs_pci_driver_registered(const struct sysfs *s, const char *driver);
/* The IOMMU groups (names: their numbers); -ENOENT when the kernel has none. */
int sysfs_iommu_groups(const struct sysfs *s, char ***ret, size_t *ret_n);
/* The members of an IOMMU group, sorted; its type ("DMA", "identity" …). */
int sysfs_iommu_group_members(const struct sysfs *s, int64_t group, char ***ret, size_t *ret_n);
int sysfs_iommu_group_type(const struct sysfs *s, int64_t group, char **ret);

/* --- device classes (class/block, class/net …) -------------------------------------------- */

int sysfs_class_list(const struct sysfs *s, const char *class, char ***ret, size_t *ret_n);
/* Opens (O_PATH) class/CLASS/NAME. */
int sysfs_class_open(const struct sysfs *s, const char *class, const char *name);
/* The PCI function class/CLASS/NAME sits below, however deep; -ENOENT when none. */
int sysfs_class_owner(const struct sysfs *s, const char *class, const char *name,
		      char ret[static PCI_ADDR_MAX + 1]);
