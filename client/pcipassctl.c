/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcipassctl: the command-line client of pcipassd. It speaks only the Varlink socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl.h"
#include "client/ctl-rom.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"
#include "lib/varlink.h"

#define DEFAULT_SOCKET PCIPASS_RUNDIR "/io.pcipass"

struct verb {
	const char *name;
	int min_args, max_args;	/* after the verb itself */
	int (*fn)(struct ctl *c, int argc, char *argv[]);
	const char *help;
};

static const struct verb verbs[] = {
	{ "list", 0, 0, verb_list, "list                 list PCI functions" },
	{ "show", 1, 1, verb_show, "show ADDRESS         show everything known about one function" },
	{ "tree", 0, 0, verb_tree, "tree                 the PCI hierarchy: bridges and their ACS, each\n"
				   "                       function's IOMMU group, driver and slot" },
	{ "groups", 0, 0, verb_groups, "groups               list IOMMU groups, whether each is viable now,\n"
				       "                       and their members" },
	{ "status", 0, 0, verb_status, "status               show host readiness and daemon state" },
	{ "monitor", 0, 0, verb_monitor, "monitor [--initial]  follow device events and claims/releases" },
	{ "plan", 0, 1, verb_plan, "plan [ADDRESS]       what the policy would do, group by group (dry run)" },
	{ "policy", 1, 1000, verb_policy, "policy check [FILE…] validate policy files offline (default: the\n"
					 "                       installed ones)" },
	{ "reload", 0, 0, verb_reload, "reload               re-read sysfs, settings and policy" },
	{ "claim", 1, 64, verb_claim, "claim ADDRESS…       move a function (--group: its IOMMU group) to\n"
				      "                       vfio-pci (--driver) as one transaction; several\n"
				      "                       in turn, on one connection, up to the first that\n"
				      "                       fails" },
	{ "release", 1, 1, verb_release, "release ADDRESS      return its IOMMU group to the host drivers" },
	{ "apply", 0, 0, verb_apply, "apply                carry out the plan for start-up rules now" },
	{ "lease", 1, 64, verb_lease, "lease POOL|ADDRESS…  lease whole IOMMU groups to --owner (a free group\n"
				       "                       of the pool, or the addresses' groups) and print\n"
				       "                       them with the QEMU arguments" },
	{ "unlease", 0, 1, verb_unlease, "unlease ID           end a lease (or every lease of --owner)" },
	{ "leases", 0, 0, verb_leases, "leases               list leases" },
	{ "qemu", 1, 64, verb_qemu, "qemu ADDRESS…        QEMU arguments (--format libvirt|proxmox) for\n"
				    "                       functions on vfio-pci" },
	{ "metrics", 0, 0, verb_metrics, "metrics [-o FILE]    the daemon's state in the Prometheus text format" },
	{ "rom", 1, 1000, verb_rom, "rom check FILE…      validate PCI option ROM images (signatures, PCIR,\n"
				   "                       ids, code type, checksums), offline; also\n"
				   "                       rom --check FILE…\n"
				   "  rom ADDRESS -o FILE  save a function's option ROM to FILE and validate\n"
				   "                       it (root; an invalid ROM is saved, and exits 1;\n"
				   "                       refused while in use unless --force)" },
};

static void help(void)
{
	printf("Usage: pcipassctl [OPTIONS] [VERB [ARGS]]\n"
	       "\n"
	       "Ask pcipassd about this host's PCI functions and IOMMU groups.\n"
	       "\n"
	       "Verbs (default: list):\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		printf("  %s\n", verbs[i].help);
	printf("\n"
	       "Options:\n"
	       "  -j, --json           print JSON (one object) instead of a table\n"
	       "  -p, --pretty         print indented JSON (implies --json)\n"
	       "  -n, --no-legend      print tables without the header line\n"
	       "      --driver=NAME    claim: vfio-pci (default), a vfio variant,\n"
	       "                       uio_pci_generic, igb_uio\n"
	       "      --group          claim: move the whole IOMMU group\n"
	       "      --force          claim: override the safety guards (boot VGA, disks,\n"
	       "                       NICs);\n"
	       "                       rom: read the ROM of a function in use\n"
	       "      --dry-run        claim, release: show the plan, change nothing\n"
	       "      --owner=NAME     lease: who it is for (the VM's name); unlease: end\n"
	       "                       every lease of NAME\n"
	       "      --user=USER[:GROUP]  lease: who gets the device nodes (default root)\n"
	       "      --pid=PID        lease: end the lease when process PID exits\n"
	       "      --numa=N         lease: prefer groups on NUMA node N\n"
	       "      --count=N        lease: N groups of the pool (default 1)\n"
	       "      --iommufd        lease, qemu: QEMU arguments in the iommufd form\n"
	       "      --format=FORMAT  lease, qemu: print only the VM arguments, as qemu\n"
	       "                       (default), libvirt (<hostdev> XML) or proxmox\n"
	       "  -o, --output=FILE    rom ADDRESS: the file the ROM is saved to (replaced\n"
	       "                       as a whole)\n"
	       "                       metrics: FILE gets them, replaced as a whole (mode 0644)\n"
	       "      --initial        monitor: print the current devices first\n"
	       "      --socket=PATH    pcipassd's socket (default $PCIPASS_SOCKET or\n"
	       "                       %s)\n"
	       "  -h, --help           show this help and exit\n"
	       "      --version        show the version and exit\n"
	       "\n"
	       "Exit status: 0 success, 1 failure (rom: also an invalid ROM), 2 usage error.\n"
	       "See pcipassctl(1).\n",
	       DEFAULT_SOCKET);
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("pcipassctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'pcipassctl --help' for more information.\n", stderr);
	return CTL_EXIT_USAGE;
}

int ctl_connect(struct ctl *c)
{
	int r;

	if (c->client)
		return 0;
	r = varlink_client_connect(c->socket, &c->client);
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot connect to pcipassd at %s: %s%s\n", c->socket,
			strerror(-r),
			r == -ENOENT || r == -ECONNREFUSED ? " (is pcipassd running?)" : "");
		return r;
	}
	return 0;
}

/* Says what a Varlink error of a call to method means, in one line. */
static void print_error(const char *method, const char *error, json_object *params)
{
	const char *s;

	if (streq(error, "io.pcipass.NoSuchDevice"))
		fprintf(stderr, "pcipassctl: no PCI function %s on this host\n",
			json_get_str(params, "address") ?: "(unknown)");
	else if (streq(error, VARLINK_ERROR_INVALID_PARAMETER))
		fprintf(stderr, "pcipassctl: invalid value for '%s'\n",
			json_get_str(params, "parameter") ?: "(unknown)");
	else if (streq(error, VARLINK_ERROR_PERMISSION_DENIED))
		fprintf(stderr, "pcipassctl: permission denied (run as root or a member of the "
				"configured group)\n");
	else if (streq(error, "io.pcipass.GroupBlocked")) {
		json_object *b = json_get(params, "blockers");

		fprintf(stderr, "pcipassctl: refused: IOMMU group %lld of %s is blocked\n",
			json_get_int(params, "iommu_group"), json_get_str(params, "address"));
		for (size_t i = 0; i < json_len(b); i++) {
			json_object *o = json_at(b, i);

			fprintf(stderr, "  %s: %s%s\n", json_get_str(o, "code"),
				json_get_str(o, "message"),
				json_get_bool(o, "forceable") == 1 ? " (--force overrides)" : "");
		}
	} else if (streq(error, "io.pcipass.TransactionFailed")) {
		json_object *a = json_get(params, "transactions");

		for (size_t i = 0; i < json_len(a); i++) {
			json_object *t = json_at(a, i);

			if (!streq(json_get_str(t, "state"), "failed"))
				continue;
			fprintf(stderr, "pcipassctl: %s of IOMMU group %lld failed at %s%s%s: %s (%s); %s\n",
				json_get_str(t, "kind"), json_get_int(t, "iommu_group"),
				json_get_str(t, "error_member") ?: "", json_get_str(t, "error_member") ? ", " : "",
				json_get_str(t, "error_step") ?: "?", json_get_str(t, "message") ?: "?",
				json_get_str(t, "errno_name") ?: "?",
				json_get_str(t, "rollback_error") ?: "the group was put back as it was");
		}
	} else if (streq(error, "io.pcipass.DeviceDenied"))
		fprintf(stderr, "pcipassctl: refused: %s is protected by %s\n",
			json_get_str(params, "address"), json_get_str(params, "rule") ?: "Unmatched=deny");
	else if (streq(error, "io.pcipass.ReadOnly"))
		fprintf(stderr, "pcipassctl: pcipassd runs --read-only: it changes nothing\n");
	else if (streq(error, "io.pcipass.Disabled"))
		fprintf(stderr, "pcipassctl: pcipass.disable=1 is on the kernel command line: pcipassd "
				"changes nothing\n");
	else if (streq(error, "io.pcipass.PolicyInvalid"))
		fprintf(stderr, "pcipassctl: policy refused, the policy in force stays: %s\n",
			json_get_str(params, "message") ?: "(no reason given)");
	else if (streq(error, "io.pcipass.PermissionDenied") && streq(method, "io.pcipass.DumpRom"))
		fprintf(stderr, "pcipassctl: permission denied: reading an option ROM is for root "
				"only\n");
	else if (streq(error, "io.pcipass.PermissionDenied"))
		fprintf(stderr, "pcipassctl: permission denied (run as root or a member of the "
				"SocketGroup= of pcipassd.conf)\n");
	else if (streq(error, "io.pcipass.DeviceBusy"))
		fprintf(stderr, "pcipassctl: %s is in use: %s (--force reads its ROM anyway)\n",
			json_get_str(params, "address") ?: "(unknown)",
			json_get_str(params, "reason") ?: "(no reason given)");
	else if (streq(error, "io.pcipass.NoRom"))
		fprintf(stderr, "pcipassctl: no option ROM to read on %s: %s\n",
			json_get_str(params, "address") ?: "(unknown)",
			json_get_str(params, "reason") ?: "(no reason given)");
	else if (streq(error, "io.pcipass.NoSuchPool"))
		fprintf(stderr, "pcipassctl: no policy rule names a pool '%s'\n",
			json_get_str(params, "pool") ?: "(unknown)");
	else if (streq(error, "io.pcipass.NoFreeGroup")) {
		json_object *a = json_get(params, "candidates");

		fprintf(stderr, "pcipassctl: no free group%s%s (%lld wanted); %s\n",
			json_get_str(params, "pool") ? " in pool " : "",
			json_get_str(params, "pool") ?: "", json_get_int(params, "wanted"),
			json_len(a) ? "the candidates:" : "the pool has no groups");
		for (size_t i = 0; i < json_len(a); i++) {
			json_object *o = json_at(a, i);

			fprintf(stderr, "  IOMMU group %lld: %s%s%s\n", json_get_int(o, "iommu_group"),
				json_get_bool(o, "available") == 1 ? "free" : json_get_str(o, "code"),
				json_get_str(o, "reason") ? ": " : "", json_get_str(o, "reason") ?: "");
		}
	} else if (streq(error, "io.pcipass.GroupLeased"))
		fprintf(stderr, "pcipassctl: refused: IOMMU group %lld of %s is leased to %s (lease %s); "
				"end the lease first\n", json_get_int(params, "iommu_group"),
			json_get_str(params, "address"), json_get_str(params, "owner"),
			json_get_str(params, "lease"));
	else if (streq(error, "io.pcipass.NoSuchLease"))
		fprintf(stderr, "pcipassctl: no lease %s%s\n",
			json_get_str(params, "id") ? json_get_str(params, "id") : "of ",
			json_get_str(params, "id") ? "" : json_get_str(params, "owner") ?: "(unknown)");
	else if (streq(error, "io.pcipass.NotPassedThrough"))
		fprintf(stderr, "pcipassctl: %s is %s%s, not on vfio-pci (claim it first)\n",
			json_get_str(params, "address"), json_get_str(params, "driver") ? "on " : "",
			json_get_str(params, "driver") ?: "unbound");
	else if (streq(error, "io.pcipass.NotViable"))
		fprintf(stderr, "pcipassctl: refused: %s%s%s\n",
			json_get_str(params, "address") ?: "", json_get_str(params, "address") ? " " : "",
			json_get_str(params, "reason") ?: "the group is not viable");
	else if ((s = json_get_str(params, "message")))
		fprintf(stderr, "pcipassctl: %s: %s\n", error, s);
	else
		fprintf(stderr, "pcipassctl: pcipassd answered %s %s\n", error,
			json_object_to_json_string_ext(params, JSON_FLAGS_WIRE));
}

int ctl_call(struct ctl *c, const char *method, json_object *params, json_object **ret_params)
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *p = NULL;
	const char *error = NULL;
	int r;

	r = ctl_connect(c);
	if (r < 0)
		return r;
	r = varlink_client_call(c->client, method, params, &reply, &p, &error);
	if (r < 0) {
		fprintf(stderr, "pcipassctl: %s on %s failed: %s\n", method, c->socket,
			r == -ECONNRESET ? "pcipassd closed the connection" : strerror(-r));
		return r;
	}
	if (error) {
		print_error(method, error, p);
		return -EREMOTEIO;
	}
	*ret_params = json_object_get(p);
	return 0;
}

int ctl_print_json(struct ctl *c, json_object *params)
{
	const char *text;
	size_t n;

	if (!c->pretty && c->client && (text = varlink_client_params_text(c->client, params, &n)))
		return json_print_text(text, n);
	return json_print(params, c->pretty);
}

int ctl_call_print(struct ctl *c, const char *method, json_object *params)
{
	_cleanup_json_ json_object *reply = NULL;
	int r;

	r = ctl_connect(c);
	if (r < 0)
		return CTL_EXIT_FAILURE;
	varlink_client_set_text_only(c->client, !c->pretty);
	r = ctl_call(c, method, params, &reply);
	varlink_client_set_text_only(c->client, false);
	if (r < 0)
		return CTL_EXIT_FAILURE;
	return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

void ctl_format_id(json_object *dev, char *buf, size_t size)
{
	snprintf(buf, size, "%04llx:%04llx", json_get_int(dev, "vendor_id") & 0xffff,
		 json_get_int(dev, "device_id") & 0xffff);
}

void ctl_format_name(json_object *dev, char *buf, size_t size)
{
	const char *v = json_get_str(dev, "vendor_name"), *d = json_get_str(dev, "device_name");
	long long vid = json_get_int(dev, "vendor_id") & 0xffff;
	long long did = json_get_int(dev, "device_id") & 0xffff;

	/* What lspci says of ids the database does not know. */
	if (!v)
		snprintf(buf, size, "Device %04llx:%04llx", vid, did);
	else if (!d)
		snprintf(buf, size, "%s Device %04llx", v, did);
	else
		snprintf(buf, size, "%s %s", v, d);
	text_terminal_safe(buf);
}

void ctl_format_name_cell(json_object *dev, char *buf, size_t size)
{
	const char *d = json_get_str(dev, "device_name");
	size_t n;

	ctl_format_name(dev, buf, size);
	n = strlen(buf);
	if (!json_get_str(dev, "vendor_name"))
		return;	/* "Device 1234:1111": nothing to leave out */
	if (d)
		snprintf(buf + n, size - n, TABLE_SHORT "%s", d);
	else
		snprintf(buf + n, size - n, TABLE_SHORT "Device %04llx",
			 json_get_int(dev, "device_id") & 0xffff);
}

bool ctl_format_slot(json_object *dev, char *buf, size_t size)
{
	const char *name = json_get_str(dev, "slot"), *label = json_get_str(dev, "slot_label");

	if (name && label)
		snprintf(buf, size, "%s \"%s\"", name, label);
	else if (name || label)
		snprintf(buf, size, label ? "\"%s\"" : "%s", name ?: label);
	text_terminal_safe(buf);
	return name || label;
}

enum {
	ARG_SOCKET = 0x100,
	ARG_INITIAL,
	ARG_VERSION,
	ARG_DRIVER,
	ARG_GROUP,
	ARG_FORCE,
	ARG_DRY_RUN,
	ARG_CHECK,
	ARG_OWNER,
	ARG_USER,
	ARG_PID,
	ARG_NUMA,
	ARG_COUNT,
	ARG_IOMMUFD,
	ARG_FORMAT,
};

/* Returns 1 to go on, 0 to exit successfully, CTL_EXIT_USAGE (negated) on a usage error. */
static int parse_argv(struct ctl *c, int argc, char *argv[])
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "no-legend", no_argument, NULL, 'n' },
		{ "initial", no_argument, NULL, ARG_INITIAL },
		{ "driver", required_argument, NULL, ARG_DRIVER },
		{ "group", no_argument, NULL, ARG_GROUP },
		{ "force", no_argument, NULL, ARG_FORCE },
		{ "dry-run", no_argument, NULL, ARG_DRY_RUN },
		{ "check", no_argument, NULL, ARG_CHECK },
		{ "owner", required_argument, NULL, ARG_OWNER },
		{ "user", required_argument, NULL, ARG_USER },
		{ "pid", required_argument, NULL, ARG_PID },
		{ "numa", required_argument, NULL, ARG_NUMA },
		{ "count", required_argument, NULL, ARG_COUNT },
		{ "iommufd", no_argument, NULL, ARG_IOMMUFD },
		{ "format", required_argument, NULL, ARG_FORMAT },
		{ "output", required_argument, NULL, 'o' },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	uint32_t u;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":jpnho:", options, NULL)) >= 0) {
		switch (opt) {
		case 'j':
			c->json = true;
			break;
		case 'p':
			c->json = c->pretty = true;
			break;
		case 'n':
			c->legend = false;
			break;
		case ARG_INITIAL:
			c->initial = true;
			break;
		case ARG_DRIVER:
			c->driver = optarg;
			break;
		case ARG_GROUP:
			c->group = true;
			break;
		case ARG_FORCE:
			c->force = true;
			break;
		case ARG_DRY_RUN:
			c->dry_run = true;
			break;
		case 'o':
			arg_rom_output = optarg;
			break;
		case ARG_CHECK:
			arg_rom_check = true;
			break;
		case ARG_SOCKET:
			c->socket = optarg;
			break;
		case ARG_OWNER:
			c->owner = optarg;
			break;
		case ARG_USER:
			c->user = optarg;
			break;
		case ARG_PID:
			if (safe_atou32(optarg, &u) < 0 || u == 0 || u > INT32_MAX)
				return -ctl_usage_error("--pid: '%s' is not a process id", optarg);
			c->pid = u;
			break;
		case ARG_NUMA:
			if (safe_atou32(optarg, &u) < 0 || u > 65535)
				return -ctl_usage_error("--numa: '%s' is not a NUMA node", optarg);
			c->numa = (int)u;
			break;
		case ARG_COUNT:
			if (safe_atou32(optarg, &u) < 0 || u == 0 || u > 64)
				return -ctl_usage_error("--count: expected 1 to 64, not '%s'", optarg);
			c->count = (int)u;
			break;
		case ARG_IOMMUFD:
			c->iommufd = true;
			break;
		case ARG_FORMAT:
			c->format = optarg;
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("pcipassctl %s\n", PACKAGE_VERSION);
			return 0;
		case ':':
			return -ctl_usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt && optopt < 0x100)
				return -ctl_usage_error("invalid option -- '%c'", optopt);
			return -ctl_usage_error("unrecognized option '%s'", argv[optind - 1]);
		}
	}
	return 1;
}

int main(int argc, char *argv[])
{
	struct ctl c = {
		.socket = getenv("PCIPASS_SOCKET") ?: DEFAULT_SOCKET,
		.legend = true,
		.numa = -1,
	};
	const char *name;
	int r, n_args;

	r = parse_argv(&c, argc, argv);
	if (r <= 0)
		return -r;

	name = optind < argc ? argv[optind] : "list";
	n_args = optind < argc ? argc - optind - 1 : 0;
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		const struct verb *v = &verbs[i];

		if (!streq(v->name, name))
			continue;
		if (n_args < v->min_args)
			return ctl_usage_error("'%s' needs %s", name,
					       v->min_args == 1 ? "an argument" : "more arguments");
		if (n_args > v->max_args)
			return ctl_usage_error("too many arguments for '%s'", name);
		if (arg_rom_output && v->fn != verb_rom && v->fn != verb_metrics)
			return ctl_usage_error("-o/--output is for 'rom ADDRESS' and 'metrics' only");
		if (arg_rom_check && v->fn != verb_rom)
			return ctl_usage_error("--check is for 'rom --check FILE…' only");
		r = v->fn(&c, n_args, argv + optind + (optind < argc));
		varlink_client_free(c.client);
		return r;
	}
	return ctl_usage_error("unknown verb '%s'", name);
}
