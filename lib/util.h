/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/macro.h"

/* Strict number parsing: the whole string (one trailing newline allowed) must be the number. */
int safe_atou32_base(const char *s, unsigned base, uint32_t *ret);
int safe_atoi32(const char *s, int32_t *ret);
static inline int safe_atou32(const char *s, uint32_t *ret)
{
	return safe_atou32_base(s, 10, ret);
}

/* What follows prefix in s, or NULL when s does not begin with it. */
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Drops trailing whitespace (sysfs values end in "\n") in place; returns s. */
char *strstrip_trailing(char *s);

/*
 * A PCI function address, "DDDD:BB:DD.F" (domain, bus, device, function), as the kernel names
 * devices on the PCI bus (domains above ffff have more digits). pci_addr_is_valid() accepts
 * exactly that lowercase form.
 */
#define PCI_ADDR_LEN STRLEN("0000:00:00.0")
#define PCI_ADDR_MAX STRLEN("00000000:00:00.0")
bool pci_addr_is_valid(const char *s);
/* True when a and b are different functions of the same device (DDDD:BB:DD). */
bool pci_addr_same_slot(const char *a, const char *b);
/* Whether two canonical addresses are on the same bus (domain and bus number). */
bool pci_addr_same_bus(const char *a, const char *b);

/* Whether path exists (following symlinks), by stat(): access() of a device node goes through
 * the device cgroup, which a unit's DevicePolicy=closed makes refuse it. */
bool path_exists(const char *path);
/* Monotonic time in microseconds. */
uint64_t now_usec(void);
/* Wall-clock time (CLOCK_REALTIME) in microseconds since the epoch. */
uint64_t now_realtime_usec(void);

/* Appends s (taken; freed on failure) to the NULL-terminated list *l of *n strings. */
int strv_push(char ***l, size_t *n, char *s);

/*
 * Base64 (RFC 4648 §4: the standard alphabet, "=" padding, no line breaks), for binary data in
 * JSON strings. base64_encode() makes a NUL-terminated string of the n bytes at p.
 * base64_decode() accepts exactly what base64_encode() makes: padded to a multiple of 4, no
 * whitespace or other characters, unused bits zero; anything else is -EINVAL. The result has a
 * NUL byte after its *ret_size bytes (not counted). Both fail with -ENOMEM, and with -E2BIG
 * when the size would not fit.
 */
/*
 * Reads fd to its end into a new buffer, growing it as needed: -EFBIG when there are more than
 * max bytes (reading one more tells). The buffer has a NUL byte after its *ret_size bytes.
 */
int read_full_fd(int fd, size_t max, uint8_t **ret, size_t *ret_size);

/* Writes all n bytes (retrying short writes and EINTR). */
int write_all(int fd, const void *p, size_t n);
/*
 * Replaces path with the n bytes at p as a whole, or leaves it as it was: a new temporary file
 * next to it (mode, less the umask when honour_umask), written, fsynced, renamed over path,
 * then the directory fsynced.
 */
int write_file_atomic(const char *path, const void *p, size_t n, unsigned mode, bool honour_umask);

#define BASE64_ENCODED_SIZE(n)	(((n) + 2) / 3 * 4)	/* without the NUL */
int base64_encode(const void *p, size_t n, char **ret);
int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size);
