/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

static int parse_ull(const char *s, unsigned base, bool allow_sign, unsigned long long *ret_u,
		     long long *ret_s)
{
	char *end = NULL;

	if (isempty(s) || isspace((unsigned char)s[0]))
		return -EINVAL;
	if (!allow_sign && (s[0] == '-' || s[0] == '+'))
		return -EINVAL;
	if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !isxdigit((unsigned char)s[2]))
		return -EINVAL;

	errno = 0;
	if (allow_sign)
		*ret_s = strtoll(s, &end, base);
	else
		*ret_u = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || end == s)
		return -EINVAL;
	if (*end == '\n')
		end++;
	if (*end != '\0')
		return -EINVAL;
	return 0;
}

int safe_atou32_base(const char *s, unsigned base, uint32_t *ret)
{
	unsigned long long u = 0;
	int r;

	r = parse_ull(s, base, false, &u, NULL);
	if (r < 0)
		return r;
	if (u > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)u;
	return 0;
}

int safe_atoi32(const char *s, int32_t *ret)
{
	long long l = 0;
	int r;

	r = parse_ull(s, 10, true, NULL, &l);
	if (r < 0)
		return r;
	if (l < INT32_MIN || l > INT32_MAX)
		return -ERANGE;
	*ret = (int32_t)l;
	return 0;
}

char *strstrip_trailing(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static bool is_lower_xdigit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool pci_addr_is_valid(const char *s)
{
	/* "DDDD:BB:DD.F": domain of 4 to 8 digits (VMD domains start at 10000), device 0..1f,
	 * function 0..7. */
	size_t n, dom;

	if (!s)
		return false;
	n = strlen(s);
	if (n < PCI_ADDR_LEN || n > PCI_ADDR_MAX)
		return false;
	dom = n - STRLEN(":00:00.0");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		/* the character expected here, as in a 4-digit-domain address */
		char want = "xxxx:xx:xx.f"[i < dom ? 0 : i - dom + 4];

		if (want == 'x' && !is_lower_xdigit(c))
			return false;
		if (want == 'f' && (c < '0' || c > '7'))
			return false;
		if ((want == ':' || want == '.') && c != want)
			return false;
	}
	return s[dom + 4] <= '1';
}

bool pci_addr_same_slot(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && la >= 2 && strncmp(a, b, la - 2) == 0 && a[la - 1] != b[lb - 1];
}

bool pci_addr_same_bus(const char *a, const char *b)
{
	const char *ca = strrchr(a, ':'), *cb = strrchr(b, ':');

	return ca && cb && ca - a == cb - b && strncmp(a, b, (size_t)(ca - a)) == 0;
}

uint64_t now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

uint64_t now_realtime_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

int strv_push(char ***l, size_t *n, char *s)
{
	char **a = reallocarray_safe(*l, *n + 2, sizeof(char *));

	if (!a) {
		free(s);
		return -ENOMEM;
	}
	*l = a;
	a[(*n)++] = s;
	a[*n] = NULL;
	return 0;
}

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const void *p, size_t n, char **ret)
{
	const uint8_t *in = p;
	char *s, *o;
	size_t i;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
		return -E2BIG;
	s = malloc(BASE64_ENCODED_SIZE(n) + 1);
	if (!s)
		return -ENOMEM;
	o = s;
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = base64_alphabet[v >> 18];
		*o++ = base64_alphabet[(v >> 12) & 0x3f];
		*o++ = base64_alphabet[(v >> 6) & 0x3f];
		*o++ = base64_alphabet[v & 0x3f];
	}
	if (i < n) {
		/* One or two bytes left: two or three characters, then padding. */
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = base64_alphabet[v >> 18];
		*o++ = base64_alphabet[(v >> 12) & 0x3f];
		*o++ = i + 1 < n ? base64_alphabet[(v >> 6) & 0x3f] : '=';
		*o++ = '=';
	}
	*o = '\0';
	*ret = s;
	return 0;
}

/* The 6-bit value of a base64 character, or -1. */
static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t pad = 0, n = 0;

	if (len % 4 != 0)
		return -EINVAL;
	if (len > 0 && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		uint32_t v = 0;

		for (size_t j = 0; j < 4; j++) {
			int d = base64_value(s[i + j]);

			/* "=" only as the padding of the last group, nothing else anywhere. */
			if (d < 0 && !(last && s[i + j] == '=' && j >= 4 - pad))
				return -EINVAL;
			v = v << 6 | (uint32_t)(d < 0 ? 0 : d);
		}
		/* The bits the padding leaves unused must be zero (one encoding per input). */
		if ((last && pad == 2 && (v & 0xffff)) || (last && pad == 1 && (v & 0xff)))
			return -EINVAL;
		buf[n++] = (uint8_t)(v >> 16);
		if (!last || pad < 2)
			buf[n++] = (uint8_t)(v >> 8);
		if (!last || pad < 1)
			buf[n++] = (uint8_t)v;
	}
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_size = n;
	return 0;
}

int read_full_fd(int fd, size_t max, uint8_t **ret, size_t *ret_size)
{
	uint8_t *buf = NULL;
	size_t n = 0, size = 0;

	for (;;) {
		ssize_t k;

		if (n > max) {
			free(buf);
			return -EFBIG;
		}
		if (n == size) {
			size_t want = size < 65536 ? 65536 : size > max / 2 ? max + 1 : size * 2;
			uint8_t *p = realloc(buf, want + 1);	/* + the NUL */

			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			size = want;
		}
		k = read(fd, buf + n, size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = 0;
	*ret = buf;
	*ret_size = n;
	return 0;
}

int write_all(int fd, const void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t k = write(fd, (const char *)p + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		off += (size_t)k;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *p, size_t n, unsigned mode, bool honour_umask)
{
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	_cleanup_close_ int fd = -EBADF, dfd = -EBADF;
	char *slash;
	int r = 0;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0 || !(dir = strdup(path)))
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (honour_umask) {
		mode_t mask = umask(0);

		(void)umask(mask);
		mode &= ~mask;
	}
	if (fchmod(fd, (mode_t)mode) < 0)
		r = -errno;
	if (r >= 0)
		r = write_all(fd, p, n);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

bool path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}
