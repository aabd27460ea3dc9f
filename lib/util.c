/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

uint64_t now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}
