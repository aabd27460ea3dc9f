/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/pci.h"
#include "lib/policy.h"

static char dir_usr[] = PCIPASS_LIBDIR "/policy.d", dir_run[] = PCIPASS_RUNDIR "/policy.d",
	    dir_etc[] = PCIPASS_CONFDIR "/policy.d";
char *const policy_dirs_default[] = { dir_usr, dir_run, dir_etc, NULL };

#define POLICY_RULES_MAX 4096U
#define VALUES_MAX 256U	/* values of one key */

/* --- errors ------------------------------------------------------------------------------- */

void policy_error_done(struct policy_error *e)
{
	e->file = mfree(e->file);
	e->reason = mfree(e->reason);
	e->line = 0;
}

char *policy_error_format(const struct policy_error *e)
{
	char *s = NULL;
	int r;

	if (e->line > 0)
		r = asprintf(&s, "%s:%u: %s", e->file ?: "?", e->line, e->reason ?: "invalid");
	else
		r = asprintf(&s, "%s: %s", e->file ?: "?", e->reason ?: "invalid");
	return r < 0 ? NULL : s;
}

_printf_(4, 5)
static int error_set(struct policy_error *e, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!e)
		return -EINVAL;
	policy_error_done(e);
	e->file = strdup(file);
	e->line = line;
	va_start(ap, fmt);
	r = vasprintf(&e->reason, fmt, ap);
	va_end(ap);
	if (r < 0)
		e->reason = NULL;
	return -EINVAL;
}

/* --- names -------------------------------------------------------------------------------- */

static const char *const target_names[] = {
	[POLICY_TARGET_VFIO] = "vfio",
	[POLICY_TARGET_UIO] = "uio",
	[POLICY_TARGET_HOST] = "host",
	[POLICY_TARGET_DENY] = "deny",
};

static const char *const apply_names[] = {
	[POLICY_APPLY_BOOT] = "boot",
	[POLICY_APPLY_REQUEST] = "request",
};

static const char *const after_lease_names[] = {
	[POLICY_AFTER_LEASE_KEEP] = "keep",
	[POLICY_AFTER_LEASE_RELEASE] = "release",
};

static const char *const group_names[] = {
	[POLICY_GROUP_CLAIM] = "claim",
	[POLICY_GROUP_VIABLE] = "viable",
	[POLICY_GROUP_ANY] = "any",
};

const char *policy_target_to_string(enum policy_target t)
{
	return (size_t)t < ELEMENTSOF(target_names) ? target_names[t] : NULL;
}

const char *policy_apply_to_string(enum policy_apply a)
{
	return (size_t)a < ELEMENTSOF(apply_names) ? apply_names[a] : NULL;
}

const char *policy_group_to_string(enum policy_group g)
{
	return (size_t)g < ELEMENTSOF(group_names) ? group_names[g] : NULL;
}

const char *policy_after_lease_to_string(enum policy_after_lease a)
{
	return (size_t)a < ELEMENTSOF(after_lease_names) ? after_lease_names[a] : NULL;
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], s))
			return (int)i;
	return -EINVAL;
}

/* --- rules -------------------------------------------------------------------------------- */

struct policy_rule *policy_rule_free(struct policy_rule *r)
{
	if (!r)
		return NULL;
	free(r->name);
	free(r->path);
	strv_free(r->addresses);
	free(r->ids);
	free(r->subsystem_ids);
	free(r->classes);
	strv_free(r->drivers);
	free(r->groups);
	free(r->numa_nodes);
	strv_free(r->vf_of);
	free(r->driver);
	free(r->pool);
	free(r->description);
	free(r);
	return NULL;
}

void policy_done(struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		policy_rule_free(p->rules[i]);
	free(p->rules);
	strv_free(p->dirs);
	*p = (struct policy){};
}

/* --- value parsers: each returns 0 or a reason (a static string) ---------------------------- */

static bool parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *ret = true, true;
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		if (strcasecmp(s, no[i]) == 0)
			return *ret = false, true;
	return false;
}

/* 1 to max_digits hex digits, an optional 0x first. */
static bool parse_hex(const char *s, size_t max_digits, uint32_t *ret)
{
	size_t n;
	char *end;
	unsigned long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	n = strspn(s, "0123456789abcdefABCDEF");
	if (n == 0 || n > max_digits || s[n])
		return false;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno || *end)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static const char *parse_id(const char *s, bool wildcard, struct policy_id *ret)
{
	_cleanup_free_ char *copy = strdup(s);
	char *colon;
	uint32_t v, d;

	if (!copy)
		return "out of memory";
	colon = strchr(copy, ':');
	if (!colon)
		return "expected VENDOR:DEVICE in hex, e.g. 10de:2204";
	*colon = 0;
	if (!parse_hex(copy, 4, &v))
		return "the vendor must be 1 to 4 hex digits";
	if (wildcard && streq(colon + 1, "*")) {
		*ret = (struct policy_id){ .vendor = (int32_t)v, .device = -1 };
		return NULL;
	}
	if (!parse_hex(colon + 1, 4, &d))
		return wildcard ? "the device must be 1 to 4 hex digits or *"
				: "the device must be 1 to 4 hex digits";
	*ret = (struct policy_id){ .vendor = (int32_t)v, .device = (int32_t)d };
	return NULL;
}

/* CLASS[/MASK]: 0x030000 (class, subclass, prog-if), 0x0300 (class and subclass). */
static const char *parse_class(const char *s, struct policy_class *ret)
{
	_cleanup_free_ char *copy = strdup(s);
	const char *digits;
	char *slash;
	uint32_t v, mask;
	size_t n;

	if (!copy)
		return "out of memory";
	slash = strchr(copy, '/');
	if (slash)
		*slash = 0;
	digits = copy + ((copy[0] == '0' && (copy[1] == 'x' || copy[1] == 'X')) ? 2 : 0);
	n = strlen(digits);
	if ((n != 4 && n != 6) || !parse_hex(copy, 6, &v))
		return "expected a class as 4 hex digits (0x0300: class and subclass) or 6 "
		       "(0x030000: with programming interface), optionally /MASK";
	if (n == 4) {
		v <<= 8;
		mask = 0xffff00;
	} else
		mask = 0xffffff;
	if (slash && !parse_hex(slash + 1, 6, &mask))
		return "the mask must be up to 6 hex digits, e.g. /0xff0000";
	if (mask == 0)
		return "a zero mask would match every function";
	*ret = (struct policy_class){ .value = v & mask, .mask = mask };
	return NULL;
}

static const char *check_address_glob(char *s)
{
	if (strlen(s) > PCI_ADDR_MAX + 16)
		return "too long for a PCI address";
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789abcdef:.*?[]!-", tolower((unsigned char)*p)))
			return "expected a PCI address DDDD:BB:DD.F, globs allowed (e.g. 0000:65:00.*)";
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return NULL;
}

static bool driver_name_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	return n > 0 && n <= 64 && !s[n];
}

int passthrough_driver_target(const char *name)
{
	if (!name || !driver_name_valid(name))
		return -EINVAL;
	if (streq(name, "uio_pci_generic") || streq(name, "igb_uio"))
		return POLICY_TARGET_UIO;
	if (streq(name, "vfio-pci") ||
	    (strlen(name) > STRLEN("_vfio_pci") &&
	     (endswith(name, "_vfio_pci") || endswith(name, "-vfio-pci"))))
		return POLICY_TARGET_VFIO;
	return -EINVAL;
}

static bool pool_name_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	return n > 0 && n <= 64 && !s[n];
}

/* Splits a value into words; NULL for an empty value. */
static char **split(const char *value, size_t *ret_n)
{
	_cleanup_strv_free_ char **l = NULL;
	_cleanup_free_ char *copy = strdup(value);
	char *save = NULL;
	size_t n = 0;

	if (!copy)
		return NULL;
	l = new0(char *, VALUES_MAX + 1);
	if (!l)
		return NULL;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == VALUES_MAX)
			return NULL;
		l[n] = strdup(w);
		if (!l[n++])
			return NULL;
	}
	*ret_n = n;
	return TAKE_PTR(l);
}

/* --- the INI handler ----------------------------------------------------------------------- */

enum {
	KEY_ADDRESS, KEY_ID, KEY_SUBSYSTEM_ID, KEY_CLASS, KEY_DRIVER_MATCH, KEY_IOMMU_GROUP,
	KEY_NUMA_NODE, KEY_SRIOV, KEY_VF_OF,
	KEY_DRIVER, KEY_APPLY, KEY_GROUP, KEY_POOL, KEY_AFTER_LEASE, KEY_PIN_ID, KEY_FORCE,
	KEY_NUM_VFS, KEY_DESCRIPTION,
	_KEY_MAX,
};

static const struct {
	const char *section, *name;
} keys[_KEY_MAX] = {
	[KEY_ADDRESS] = { "Match", "Address" },
	[KEY_ID] = { "Match", "Id" },
	[KEY_SUBSYSTEM_ID] = { "Match", "SubsystemId" },
	[KEY_CLASS] = { "Match", "Class" },
	[KEY_DRIVER_MATCH] = { "Match", "Driver" },
	[KEY_IOMMU_GROUP] = { "Match", "IommuGroup" },
	[KEY_NUMA_NODE] = { "Match", "NumaNode" },
	[KEY_SRIOV] = { "Match", "Sriov" },
	[KEY_VF_OF] = { "Match", "VirtualFunctionOf" },
	[KEY_DRIVER] = { "Assign", "Driver" },
	[KEY_APPLY] = { "Assign", "Apply" },
	[KEY_GROUP] = { "Assign", "Group" },
	[KEY_POOL] = { "Assign", "Pool" },
	[KEY_AFTER_LEASE] = { "Assign", "AfterLease" },
	[KEY_PIN_ID] = { "Assign", "PinId" },
	[KEY_FORCE] = { "Assign", "Force" },
	[KEY_NUM_VFS] = { "Assign", "NumVfs" },
	[KEY_DESCRIPTION] = { "Assign", "Description" },
};

struct parse_state {
	const char *file;
	const char *const *sections;	/* the known ones */
	const char *sections_text;
	/* the reader's position */
	const char *text;
	size_t size, pos;
	unsigned line;
	unsigned section_line;	/* line of the last [Section] header */
	unsigned match_line;
	bool seen_assign;
	/* the first error */
	unsigned err_line;
	char *err_reason;

	struct policy_rule *rule;
	unsigned key_line[_KEY_MAX];
};

_printf_(2, 3)
static int fail(struct parse_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->err_line == 0) {
		st->err_line = st->line;
		va_start(ap, fmt);
		if (vasprintf(&st->err_reason, fmt, ap) < 0)
			st->err_reason = NULL;
		va_end(ap);
	}
	return 0;	/* inih: an error on this line */
}

/*
 * Hands inih one line at a time from memory, so that we know the line number (libinih's
 * handler does not get it) and can refuse long lines instead of having inih split them.
 * Leading whitespace is dropped: an indented line is a line of its own, never the
 * continuation of the previous value.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	const char *start, *nl;
	size_t len, skip;

	if (st->pos >= st->size)
		return NULL;
	start = st->text + st->pos;
	nl = memchr(start, '\n', st->size - st->pos);
	len = nl ? (size_t)(nl - start) : st->size - st->pos;
	st->pos += len + (nl ? 1 : 0);
	st->line++;

	/*
	 * Leading blanks as inih's lskip() sees them and, on line 1, a UTF-8 byte order mark
	 * (which inih would drop as well): inih is handed the line as we look at it here.
	 */
	for (;;) {
		while (len > 0 && isspace((unsigned char)*start))
			start++, len--;
		if (st->line != 1 || len < 3 || memcmp(start, "\xef\xbb\xbf", 3) != 0)
			break;
		start += 3;
		len -= 3;
	}
	if (len > 0 && start[len - 1] == '\r')
		len--;
	if (len + 2 > (size_t)num) {
		fail(st, "line too long (at most %d characters)", num - 2);
		len = 0;
	}
	if (len > 0 && start[0] == '[') {
		const char *close = memchr(start, ']', len);
		bool known = false;

		st->section_line = st->line;
		/* inih only tells us of sections that hold keys: catch empty unknown ones too. */
		for (const char *const *sec = st->sections; close && *sec && !known; sec++)
			known = strlen(*sec) == (size_t)(close - start - 1) &&
				strncmp(*sec, start + 1, (size_t)(close - start - 1)) == 0;
		if (close && !known)
			fail(st, "unknown section %.*s (expected %s)", (int)(close - start + 1), start,
			     st->sections_text);
		for (skip = close ? (size_t)(close - start) + 1 : len;
		     skip < len && isspace((unsigned char)start[skip]); skip++)
			;
		if (skip < len && start[skip] != ';' && start[skip] != '#')
			fail(st, "text after %.*s: a section header stands on a line of its own",
			     (int)(close - start + 1), start);
	}
	memcpy(str, start, len);
	str[len] = '\n';
	str[len + 1] = 0;
	return str;
}

static int add_values(struct parse_state *st, unsigned key, const char *value)
{
	struct policy_rule *r = st->rule;
	_cleanup_strv_free_ char **words = NULL;
	const char *why = NULL;
	size_t n = 0;

	words = split(value, &n);
	if (!words)
		return fail(st, "%s= has too many values (at most %u)", keys[key].name, VALUES_MAX);
	if (n == 0)
		return fail(st, "%s= is empty", keys[key].name);

	switch (key) {
	case KEY_ADDRESS:
	case KEY_VF_OF:
		for (size_t i = 0; i < n; i++) {
			/* BB:DD.F means domain 0000, as lspci prints it. */
			if (strchr(words[i], ':') == strrchr(words[i], ':') && strchr(words[i], ':')) {
				char *full = NULL;

				if (asprintf(&full, "0000:%s", words[i]) < 0)
					return fail(st, "out of memory");
				free(words[i]);
				words[i] = full;
			}
			why = check_address_glob(words[i]);
			if (why)
				return fail(st, "%s=%s: %s", keys[key].name, words[i], why);
		}
		if (key == KEY_ADDRESS)
			r->addresses = TAKE_PTR(words);
		else
			r->vf_of = TAKE_PTR(words);
		return 1;

	case KEY_ID:
	case KEY_SUBSYSTEM_ID: {
		struct policy_id *ids = new0(struct policy_id, n);

		if (!ids)
			return fail(st, "out of memory");
		for (size_t i = 0; i < n; i++) {
			why = parse_id(words[i], true, &ids[i]);
			if (why) {
				free(ids);
				return fail(st, "%s=%s: %s", keys[key].name, words[i], why);
			}
		}
		if (key == KEY_ID)
			r->ids = ids, r->n_ids = n;
		else
			r->subsystem_ids = ids, r->n_subsystem_ids = n;
		return 1;
	}

	case KEY_CLASS:
		r->classes = new0(struct policy_class, n);
		if (!r->classes)
			return fail(st, "out of memory");
		r->n_classes = n;
		for (size_t i = 0; i < n; i++) {
			why = parse_class(words[i], &r->classes[i]);
			if (why)
				return fail(st, "Class=%s: %s", words[i], why);
		}
		return 1;

	case KEY_DRIVER_MATCH:
		for (size_t i = 0; i < n; i++)
			if (!driver_name_valid(words[i]))
				return fail(st, "Driver=%s: not a driver name (use \"none\" for no driver)",
					    words[i]);
		r->drivers = TAKE_PTR(words);
		return 1;

	case KEY_IOMMU_GROUP:
		r->groups = new0(uint32_t, n);
		if (!r->groups)
			return fail(st, "out of memory");
		r->n_groups = n;
		for (size_t i = 0; i < n; i++)
			if (safe_atou32(words[i], &r->groups[i]) < 0)
				return fail(st, "IommuGroup=%s: expected a group number", words[i]);
		return 1;

	case KEY_NUMA_NODE:
		r->numa_nodes = new0(int32_t, n);
		if (!r->numa_nodes)
			return fail(st, "out of memory");
		r->n_numa_nodes = n;
		for (size_t i = 0; i < n; i++)
			if (safe_atoi32(words[i], &r->numa_nodes[i]) < 0 || r->numa_nodes[i] < -1)
				return fail(st, "NumaNode=%s: expected a node number (-1: none)",
					    words[i]);
		return 1;

	case KEY_SRIOV:
		for (size_t i = 0; i < n; i++) {
			if (streq(words[i], "pf"))
				r->sriov |= POLICY_SRIOV_PF;
			else if (streq(words[i], "vf"))
				r->sriov |= POLICY_SRIOV_VF;
			else if (streq(words[i], "none"))
				r->sriov |= POLICY_SRIOV_NONE;
			else
				return fail(st, "Sriov=%s: expected pf, vf or none", words[i]);
		}
		return 1;
	}
	return fail(st, "internal error: key %u", key);
}

static int set_assign(struct parse_state *st, unsigned key, const char *value)
{
	struct policy_rule *r = st->rule;
	int i;

	if (isempty(value))
		return fail(st, "%s= is empty", keys[key].name);

	switch (key) {
	case KEY_DRIVER:
		if (streq(value, "host"))
			r->target = POLICY_TARGET_HOST;
		else if (streq(value, "deny"))
			r->target = POLICY_TARGET_DENY;
		else if (passthrough_driver_target(value) >= 0)
			r->target = (enum policy_target)passthrough_driver_target(value);
		else
			return fail(st, "Driver=%s: expected vfio-pci, a vfio variant driver "
				    "(e.g. mlx5_vfio_pci), uio_pci_generic, igb_uio, host or deny", value);
		if (r->target == POLICY_TARGET_VFIO || r->target == POLICY_TARGET_UIO) {
			r->driver = strdup(value);
			if (!r->driver)
				return fail(st, "out of memory");
		}
		return 1;
	case KEY_APPLY:
		i = lookup(apply_names, ELEMENTSOF(apply_names), value);
		if (i < 0)
			return fail(st, "Apply=%s: expected boot or request", value);
		r->apply = (enum policy_apply)i;
		return 1;
	case KEY_GROUP:
		i = lookup(group_names, ELEMENTSOF(group_names), value);
		if (i < 0)
			return fail(st, "Group=%s: expected claim, viable or any", value);
		r->group = (enum policy_group)i;
		return 1;
	case KEY_POOL:
		if (!pool_name_valid(value))
			return fail(st, "Pool=%s: a pool name is 1 to 64 of A-Z a-z 0-9 _ . -", value);
		r->pool = strdup(value);
		return r->pool ? 1 : fail(st, "out of memory");
	case KEY_AFTER_LEASE:
		i = lookup(after_lease_names, ELEMENTSOF(after_lease_names), value);
		if (i < 0)
			return fail(st, "AfterLease=%s: expected keep or release", value);
		r->after_lease = (enum policy_after_lease)i;
		return 1;
	case KEY_PIN_ID: {
		const char *why = parse_id(value, false, &r->pin);

		if (why)
			return fail(st, "PinId=%s: %s", value, why);
		r->pinned = true;
		return 1;
	}
	case KEY_FORCE:
		if (!parse_bool(value, &r->force))
			return fail(st, "Force=%s: expected yes or no", value);
		return 1;
	case KEY_NUM_VFS: {
		uint32_t n;

		if (safe_atou32(value, &n) < 0 || n > 65535)
			return fail(st, "NumVfs=%s: expected a number of VFs, 0 to 65535", value);
		r->sets_num_vfs = true;
		r->num_vfs = (uint16_t)n;
		return 1;
	}
	case KEY_DESCRIPTION:
		r->description = strdup(value);
		return r->description ? 1 : fail(st, "out of memory");
	}
	return fail(st, "internal error: key %u", key);
}

static int rule_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	bool known_section = false;

	if (isempty(section))
		return fail(st, "%s= outside a section (expected [Match] or [Assign] first)", name);
	for (unsigned k = 0; k < _KEY_MAX; k++) {
		if (!streq(keys[k].section, section))
			continue;
		known_section = true;
		if (!streq(keys[k].name, name))
			continue;

		if (streq(section, "Match")) {
			if (st->seen_assign)
				return fail(st, "[Match] after [Assign]: one rule per file");
			if (st->match_line == 0)
				st->match_line = st->section_line;
		} else
			st->seen_assign = true;
		if (st->key_line[k])
			return fail(st, "%s= given twice (first on line %u; put several values on "
				    "one line, separated by spaces)", name, st->key_line[k]);
		st->key_line[k] = st->line;
		return streq(section, "Match") ? add_values(st, k, value) : set_assign(st, k, value);
	}
	if (!known_section)
		return fail(st, "unknown section [%s] (expected [Match] or [Assign])", section);
	return fail(st, "unknown key %s= in [%s]", name, section);
}

/* The checks that need the whole file. */
static void check_rule(struct parse_state *st)
{
	struct policy_rule *r = st->rule;
	bool any_match = false;

	for (unsigned k = 0; k < _KEY_MAX; k++)
		any_match = any_match || (streq(keys[k].section, "Match") && st->key_line[k]);
	st->line = 0;
	if (!any_match) {
		fail(st, "no [Match] keys: a rule must say which functions it is for");
		return;
	}
	st->line = st->match_line;
	if (!st->key_line[KEY_DRIVER]) {
		fail(st, "[Assign] needs Driver= (vfio-pci, a vfio variant, uio_pci_generic, host "
		     "or deny)");
		return;
	}
	st->line = st->key_line[KEY_POOL];
	if (st->line && r->target != POLICY_TARGET_VFIO && r->target != POLICY_TARGET_UIO) {
		fail(st, "Pool= needs Driver= to name a passthrough driver");
		return;
	}
	st->line = st->key_line[KEY_AFTER_LEASE];
	if (st->line && !r->pool) {
		fail(st, "AfterLease= says what becomes of a pool's group after a lease: it needs Pool=");
		return;
	}
	if (r->target == POLICY_TARGET_DENY) {
		static const unsigned not_for_deny[] = { KEY_APPLY, KEY_GROUP, KEY_FORCE };

		for (size_t i = 0; i < ELEMENTSOF(not_for_deny); i++) {
			st->line = st->key_line[not_for_deny[i]];
			if (st->line) {
				fail(st, "%s= has no meaning with Driver=deny", keys[not_for_deny[i]].name);
				return;
			}
		}
	}
	st->line = st->key_line[KEY_PIN_ID];
	if (st->line && !st->key_line[KEY_ADDRESS]) {
		fail(st, "PinId= pins the ids expected at an address: [Match] needs Address=");
		return;
	}
	st->line = st->key_line[KEY_NUM_VFS];
	if (st->line && r->target != POLICY_TARGET_HOST) {
		fail(st, "NumVfs= needs Driver=host: the PF's own driver creates its VFs (a rule "
		     "with VirtualFunctionOf= says where the VFs go)");
		return;
	}
	st->line = st->key_line[KEY_VF_OF];
	if (st->line && r->sriov & ~POLICY_SRIOV_VF) {
		fail(st, "VirtualFunctionOf= matches virtual functions only; Sriov= must be vf or absent");
		return;
	}
}

int policy_rule_parse(const char *name, const char *path, const char *text, size_t size,
		      struct policy_rule **ret, struct policy_error *err)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	static const char *const sections[] = { "Match", "Assign", NULL };
	struct parse_state st = {
		.file = path, .text = text, .size = size,
		.sections = sections, .sections_text = "[Match] or [Assign]",
	};
	int line;

	if (size > POLICY_FILE_MAX)
		return error_set(err, path, 0, "larger than %u bytes", POLICY_FILE_MAX);
	if (memchr(text, 0, size))
		return error_set(err, path, 0, "contains a NUL byte: not a text file");

	r = new0(struct policy_rule, 1);
	if (!r)
		return -ENOMEM;
	r->name = strdup(name);
	r->path = strdup(path);
	if (!r->name || !r->path)
		return -ENOMEM;
	r->group = POLICY_GROUP_VIABLE;
	st.rule = r;

	line = ini_parse_stream(reader, &st, rule_handler, &st);
	if (line < 0)
		return -ENOMEM;
	if (line > 0 && (st.err_line == 0 || (unsigned)line < st.err_line)) {
		free(st.err_reason);
		return error_set(err, path, (unsigned)line,
				 "expected [Section], Key=Value or a comment");
	}
	if (st.err_line == 0)
		check_rule(&st);
	if (st.err_line || st.err_reason) {
		int k = error_set(err, path, st.err_line, "%s", st.err_reason ?: "out of memory");

		free(st.err_reason);
		return k;
	}
	r->line = st.match_line;
	*ret = TAKE_PTR(r);
	return 0;
}

/*
 * Whether what fd is may be trusted, as systemd and sudo trust configuration: owned by root (or
 * by whoever reads it: pcipassctl policy check run by a user), and writable by nobody else —
 * not by others, and not by its group unless that is root's. *ret_why says what is wrong.
 */
static bool trusted(const struct stat *st, const char **ret_why)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		*ret_why = "not owned by root";
	else if (st->st_mode & S_IWOTH)
		*ret_why = "writable by others";
	else if ((st->st_mode & S_IWGRP) && st->st_gid != 0)
		*ret_why = "writable by its group";
	else
		return true;
	return false;
}

/*
 * Reads a policy or settings file. O_NONBLOCK: opening a FIFO (or a device) named like a
 * policy file must not wait for a writer; anything but a regular file is refused, as is a file
 * that is not trusted().
 */
static int read_file(const char *path, char **ret, size_t *ret_size, struct policy_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	uint8_t *buf = NULL;
	const char *why = NULL;
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return error_set(err, path, 0, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return error_set(err, path, 0, "not a regular file");
	if (!trusted(&st, &why))
		return error_set(err, path, 0, "refused: %s (uid %u, mode %04o)", why,
				 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	r = read_full_fd(fd, POLICY_FILE_MAX, &buf, ret_size);
	if (r == -EFBIG)
		return error_set(err, path, 0, "larger than %u bytes", POLICY_FILE_MAX);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return error_set(err, path, 0, "%s", strerror(-r));
	*ret = (char *)buf;
	return 0;
}

int policy_rule_load(const char *path, struct policy_rule **ret, struct policy_error *err)
{
	_cleanup_free_ char *text = NULL;
	const char *name = strrchr(path, '/');
	size_t size = 0;
	int r;

	r = read_file(path, &text, &size, err);
	if (r < 0)
		return r;
	return policy_rule_parse(name ? name + 1 : path, path, text, size, ret, err);
}

/* --- directories --------------------------------------------------------------------------- */

struct dropin {
	char *name, *path;
};

static int dropin_compare(const void *a, const void *b)
{
	return strcmp(((const struct dropin *)a)->name, ((const struct dropin *)b)->name);
}

static bool is_masked(const char *path)
{
	struct stat st;

	/* A link to /dev/null (or /dev/null itself, bind-mounted): the file is masked. */
	return stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static bool policy_name_valid(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > STRLEN(".policy") && streq(name + n - STRLEN(".policy"), ".policy");
}

static int add_rule(struct policy *p, struct policy_rule *rule)
{
	struct policy_rule **a;

	if (p->n_rules >= POLICY_RULES_MAX)
		return -E2BIG;
	a = reallocarray_safe(p->rules, p->n_rules + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a[p->n_rules++] = rule;
	p->rules = a;
	return 0;
}

static void dropins_free(struct dropin *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].name);
		free(d[i].path);
	}
	free(d);
}

int policy_load(char *const *dirs, struct policy *ret, struct policy_error *err)
{
	_cleanup_(policy_done) struct policy p = {};
	struct dropin *d = NULL;
	size_t n = 0;
	int r = 0;

	for (char *const *dir = dirs; *dir && r >= 0; dir++) {
		_cleanup_closedir_ DIR *dh = opendir(*dir);
		const char *why = NULL;
		struct dirent *de;
		struct stat st;

		if (!dh) {
			if (errno == ENOENT)
				continue;
			r = error_set(err, *dir, 0, "cannot read directory: %s", strerror(errno));
			break;
		}
		/* Whoever may add a file here may pass devices through. */
		if (fstat(dirfd(dh), &st) < 0 || !trusted(&st, &why)) {
			r = why ? error_set(err, *dir, 0, "directory refused: %s (uid %u, mode %04o)",
					    why, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777))
				: error_set(err, *dir, 0, "%s", strerror(errno));
			break;
		}
		while ((de = readdir(dh))) {
			size_t i;

			if (!policy_name_valid(de->d_name))
				continue;
			for (i = 0; i < n; i++)
				if (streq(d[i].name, de->d_name))
					break;
			if (i == n) {
				struct dropin *nd;

				if (n >= POLICY_RULES_MAX) {
					r = error_set(err, *dir, 0, "more than %u policy files",
						      POLICY_RULES_MAX);
					break;
				}
				nd = reallocarray_safe(d, n + 1, sizeof(*d));
				if (!nd) {
					r = -ENOMEM;
					break;
				}
				d = nd;
				d[n++] = (struct dropin){ .name = strdup(de->d_name) };
				if (!d[i].name) {
					r = -ENOMEM;
					break;
				}
			}
			/* A later directory replaces the earlier file of that name. */
			free(d[i].path);
			if (asprintf(&d[i].path, "%s/%s", *dir, de->d_name) < 0) {
				d[i].path = NULL;
				r = -ENOMEM;
				break;
			}
		}
	}
	if (r >= 0 && n > 0)
		qsort(d, n, sizeof(*d), dropin_compare);

	for (size_t i = 0; i < n && r >= 0; i++) {
		struct policy_rule *rule = NULL;

		if (is_masked(d[i].path)) {
			log_debug("policy: %s is masked", d[i].path);
			continue;
		}
		r = policy_rule_load(d[i].path, &rule, err);
		if (r >= 0) {
			r = add_rule(&p, rule);
			if (r < 0)
				policy_rule_free(rule);
		}
	}
	dropins_free(d, n);
	if (r < 0)
		return r;

	for (n = 0; dirs[n]; n++)
		;
	p.dirs = new0(char *, n + 1);
	if (!p.dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(p.dirs[i] = strdup(dirs[i])))
			return -ENOMEM;
	p.loaded_usec = (uint64_t)time(NULL) * 1000000U;
	*ret = p;
	p = (struct policy){};
	return 0;
}

int policy_check_vanished(const struct policy *in_force, const struct policy *loaded,
			  struct policy_error *err)
{
	for (char *const *dir = loaded->dirs; dir && *dir; dir++) {
		size_t n = strlen(*dir), held = 0;

		if (access(*dir, F_OK) == 0 || errno != ENOENT)
			continue;
		for (size_t i = 0; i < in_force->n_rules; i++)
			if (strncmp(in_force->rules[i]->path, *dir, n) == 0 &&
			    in_force->rules[i]->path[n] == '/')
				held++;
		if (held > 0)
			return error_set(err, *dir, 0, "the directory is gone, and %zu rule%s in force "
					 "came from it: not dropped silently (restore it, or empty it to "
					 "drop them)", held, held == 1 ? "" : "s");
	}
	return 0;
}

int policy_load_files(char *const *paths, struct policy *ret, struct policy_error *err)
{
	_cleanup_(policy_done) struct policy p = {};
	int r;

	for (char *const *path = paths; *path; path++) {
		struct policy_rule *rule = NULL;

		r = policy_rule_load(*path, &rule, err);
		if (r < 0)
			return r;
		r = add_rule(&p, rule);
		if (r < 0) {
			policy_rule_free(rule);
			return r;
		}
	}
	p.loaded_usec = (uint64_t)time(NULL) * 1000000U;
	*ret = p;
	p = (struct policy){};
	return 0;
}

/* --- matching ------------------------------------------------------------------------------ */

static bool glob_any(char *const *globs, const char *s)
{
	if (!s)
		return false;
	for (char *const *g = globs; *g; g++)
		if (fnmatch(*g, s, 0) == 0)
			return true;
	return false;
}

static bool id_any(const struct policy_id *ids, size_t n, int64_t vendor, int64_t device)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i].vendor == vendor && (ids[i].device < 0 || ids[i].device == device))
			return true;
	return false;
}

bool policy_rule_matches(const struct policy_rule *r, const struct pcidev *d)
{
	if (r->addresses && !glob_any(r->addresses, d->address))
		return false;
	if (r->n_ids && !id_any(r->ids, r->n_ids, d->vendor, d->device))
		return false;
	if (r->n_subsystem_ids &&
	    (d->subsystem_vendor < 0 ||
	     !id_any(r->subsystem_ids, r->n_subsystem_ids, d->subsystem_vendor, d->subsystem_device)))
		return false;
	if (r->n_classes) {
		bool any = false;

		for (size_t i = 0; i < r->n_classes && !any; i++)
			any = (d->class & r->classes[i].mask) == r->classes[i].value;
		if (!any)
			return false;
	}
	if (r->drivers) {
		bool any = false;

		for (char **drv = r->drivers; *drv && !any; drv++)
			any = streq(*drv, "none") ? !d->driver : streq(*drv, d->driver);
		if (!any)
			return false;
	}
	if (r->n_groups) {
		bool any = false;

		for (size_t i = 0; i < r->n_groups && !any; i++)
			any = d->iommu_group >= 0 && (uint32_t)d->iommu_group == r->groups[i];
		if (!any)
			return false;
	}
	if (r->n_numa_nodes) {
		bool any = false;

		for (size_t i = 0; i < r->n_numa_nodes && !any; i++)
			any = d->numa_node == r->numa_nodes[i];
		if (!any)
			return false;
	}
	if (r->sriov) {
		unsigned role = d->physfn ? POLICY_SRIOV_VF :
				d->sriov_totalvfs > 0 ? POLICY_SRIOV_PF : POLICY_SRIOV_NONE;

		if (!(r->sriov & role))
			return false;
	}
	if (r->vf_of && !glob_any(r->vf_of, d->physfn))
		return false;
	return true;
}

const struct policy_rule *policy_match(const struct policy *p, const struct pcidev *d)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (policy_rule_matches(p->rules[i], d))
			return p->rules[i];
	return NULL;
}

/* --- pcipassd.conf --------------------------------------------------------------------------- */

struct config_state {
	struct parse_state st;
	struct daemon_config *c;
	unsigned seen[6];
};

/* A size: a number of bytes, or of KiB, MiB, GiB with K, M, G. */
static bool parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMG";
	char *end;
	unsigned long long n;
	const char *u;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (*end) {
		u = strchr(units, *end);
		if (!u || end[1] || n > UINT64_MAX >> (10 * (u - units + 1)))
			return false;
		n <<= 10 * (u - units + 1);
	}
	*ret = n;
	return true;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	static const char *const names[] = { "SocketGroup", "Unmatched", "AllowNoIommu",
					     "AllowUnsafeInterrupts", "ClientBuffers",
					     "StartupTimeout" };
	struct config_state *cs = user;
	struct parse_state *st = &cs->st;
	int k;

	if (!streq(section, "Daemon"))
		return fail(st, isempty(section) ? "%s= outside a section (expected [Daemon] first)"
						 : "unknown section [%s] (expected [Daemon])",
			    isempty(section) ? name : section);
	k = lookup(names, ELEMENTSOF(names), name);
	if (k < 0)
		return fail(st, "unknown key %s= in [Daemon]", name);
	if (cs->seen[k])
		return fail(st, "%s= given twice (first on line %u)", name, cs->seen[k]);
	cs->seen[k] = st->line;
	if (isempty(value))
		return fail(st, "%s= is empty", name);
	switch (k) {
	case 0:
		if (!driver_name_valid(value))
			return fail(st, "SocketGroup=%s: not a group name", value);
		cs->c->socket_group = strdup(value);
		return cs->c->socket_group ? 1 : fail(st, "out of memory");
	case 1:
		if (streq(value, "leave"))
			cs->c->unmatched = UNMATCHED_LEAVE;
		else if (streq(value, "deny"))
			cs->c->unmatched = UNMATCHED_DENY;
		else
			return fail(st, "Unmatched=%s: expected leave or deny", value);
		return 1;
	case 2:
		return parse_bool(value, &cs->c->allow_noiommu) ? 1 :
			fail(st, "AllowNoIommu=%s: expected yes or no", value);
	case 3:
		return parse_bool(value, &cs->c->allow_unsafe_interrupts) ? 1 :
			fail(st, "AllowUnsafeInterrupts=%s: expected yes or no", value);
	case 5: {
		char *end = NULL;
		unsigned long sec;

		errno = 0;
		sec = strtoul(value, &end, 10);
		if (!isdigit((unsigned char)value[0]) || errno || (*end && !streq(end, "s")) ||
		    sec > DAEMON_STARTUP_TIMEOUT_MAX)
			return fail(st, "StartupTimeout=%s: expected seconds, 0 to %u", value,
				    DAEMON_STARTUP_TIMEOUT_MAX);
		cs->c->startup_timeout_usec = (uint64_t)sec * 1000000U;
		return 1;
	}
	default:
		if (!parse_size(value, &cs->c->client_buffers))
			return fail(st, "ClientBuffers=%s: expected a size (bytes, or with K, M or G)",
				    value);
		return cs->c->client_buffers >= DAEMON_CLIENT_BUFFERS_MIN ? 1 :
			fail(st, "ClientBuffers=%s: at least 1M", value);
	}
}

void daemon_config_done(struct daemon_config *c)
{
	c->socket_group = mfree(c->socket_group);
}

int daemon_config_load(const char *path, struct daemon_config *ret, struct policy_error *err)
{
	static const char *const config_sections[] = { "Daemon", NULL };
	_cleanup_free_ char *text = NULL;
	struct daemon_config c = {
		.client_buffers = DAEMON_CLIENT_BUFFERS_DEFAULT,
		.startup_timeout_usec = DAEMON_STARTUP_TIMEOUT_DEFAULT_USEC,
	};
	struct config_state cs = { .c = &c };
	size_t size = 0;
	int r, line;

	if (access(path, F_OK) < 0 && errno == ENOENT) {
		*ret = c;
		return 0;
	}
	r = read_file(path, &text, &size, err);
	if (r < 0)
		return r;
	if (memchr(text, 0, size))
		return error_set(err, path, 0, "contains a NUL byte: not a text file");
	cs.st = (struct parse_state){
		.file = path, .text = text, .size = size,
		.sections = config_sections, .sections_text = "[Daemon]",
	};
	line = ini_parse_stream(reader, &cs.st, config_handler, &cs);
	if (line > 0 && (cs.st.err_line == 0 || (unsigned)line < cs.st.err_line)) {
		free(cs.st.err_reason);
		daemon_config_done(&c);
		return error_set(err, path, (unsigned)line, "expected [Section], Key=Value or a comment");
	}
	if (cs.st.err_line || line < 0) {
		r = error_set(err, path, cs.st.err_line, "%s", cs.st.err_reason ?: "out of memory");
		free(cs.st.err_reason);
		daemon_config_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}
