/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcipassd: keeps a live model of the host's PCI functions and IOMMU groups and serves it over
 * Varlink.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/varlink.h"
#include "manager.h"
#include "udev-rules.h"

#define DEFAULT_SOCKET		PCIPASS_RUNDIR "/io.pcipass"
#define DEFAULT_STATE_DIR	PCIPASS_RUNDIR

static const char *arg_sysfs_root = "/sys";
static const char *arg_dev_root = "/dev";
static const char *arg_proc_root = "/proc";
static const char *arg_socket = DEFAULT_SOCKET;
static const char *arg_state_dir = DEFAULT_STATE_DIR;
static bool arg_read_only;
static uint64_t arg_step_timeout_usec = UINT64_C(30000000);
static const char *arg_udev_rules;	/* NULL: the default, on the real /sys only */
static const char *arg_write_log;
static const char *arg_config = DAEMON_CONFIG_DEFAULT;
static char **arg_policy_dirs;	/* --policy-dir, in order; NULL: the standard three */
static size_t n_arg_policy_dirs;

static void help(void)
{
	printf("Usage: pcipassd [OPTIONS]\n"
	       "\n"
	       "Keep a live model of this host's PCI functions and IOMMU groups and serve it\n"
	       "over Varlink.\n"
	       "\n"
	       "Options:\n"
	       "      --sysfs-root=DIR   read (and write) sysfs below DIR (default /sys)\n"
	       "      --dev-root=DIR     find device nodes below DIR (default /dev)\n"
	       "      --proc-root=DIR    read driver facts (/proc/driver/nvidia) below DIR\n"
	       "                         (default /proc)\n"
	       "      --socket=PATH      listen on PATH (default %s)\n"
	       "      --state-dir=DIR    keep state in DIR (default %s)\n"
	       "      --read-only        never write below the sysfs or dev root\n"
	       "      --config=FILE      daemon settings (default %s)\n"
	       "      --policy-dir=DIR   read *.policy rules from DIR; repeat it for several,\n"
	       "                         later ones taking precedence\n"
	       "                         (default %s)\n"
	       "      --step-timeout=SEC a sysfs write taking longer is reported stuck\n"
	       "                         (default 30)\n"
	       "      --udev-rules=PATH  write the udev rule derived from the policy there\n"
	       "                         (default with /sys: " UDEV_RULES_DEFAULT ";\n"
	       "                         with another --sysfs-root: none; \"\": none)\n"
	       "      --write-log=FILE   append every sysfs write to FILE\n"
	       "                         (\"PATH VALUE -> RESULT\")\n"
	       "      --log-level=LEVEL  err, warning, notice, info (default), debug, or 0-7\n"
	       "  -h, --help             show this help and exit\n"
	       "      --version          show the version and exit\n"
	       "\n"
	       "Started by systemd with socket activation, pcipassd serves the socket it is\n"
	       "given.\n"
	       "SIGHUP re-reads sysfs, the settings and the policy (a bad policy file is refused\n"
	       "and the policy in force stays).\n"
	       "See pcipassd(8).\n",
	       DEFAULT_SOCKET, DEFAULT_STATE_DIR, DAEMON_CONFIG_DEFAULT,
	       PCIPASS_LIBDIR "/policy.d,\n"
	       "                         " PCIPASS_RUNDIR "/policy.d, " PCIPASS_CONFDIR "/policy.d");
}

enum {
	ARG_SYSFS_ROOT = 0x100,
	ARG_DEV_ROOT,
	ARG_PROC_ROOT,
	ARG_SOCKET,
	ARG_STATE_DIR,
	ARG_READ_ONLY,
	ARG_CONFIG,
	ARG_POLICY_DIR,
	ARG_STEP_TIMEOUT,
	ARG_UDEV_RULES,
	ARG_WRITE_LOG,
	ARG_LOG_LEVEL,
	ARG_VERSION,
};

/* Returns 1 to run, 0 to exit successfully, -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
		{ "dev-root", required_argument, NULL, ARG_DEV_ROOT },
		{ "proc-root", required_argument, NULL, ARG_PROC_ROOT },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "read-only", no_argument, NULL, ARG_READ_ONLY },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "policy-dir", required_argument, NULL, ARG_POLICY_DIR },
		{ "step-timeout", required_argument, NULL, ARG_STEP_TIMEOUT },
		{ "udev-rules", required_argument, NULL, ARG_UDEV_RULES },
		{ "write-log", required_argument, NULL, ARG_WRITE_LOG },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	int c, level;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case ARG_SYSFS_ROOT:
			arg_sysfs_root = optarg;
			break;
		case ARG_DEV_ROOT:
			arg_dev_root = optarg;
			break;
		case ARG_PROC_ROOT:
			arg_proc_root = optarg;
			break;
		case ARG_SOCKET:
			arg_socket = optarg;
			break;
		case ARG_STATE_DIR:
			arg_state_dir = optarg;
			break;
		case ARG_READ_ONLY:
			arg_read_only = true;
			break;
		case ARG_CONFIG:
			arg_config = optarg;
			break;
		case ARG_UDEV_RULES:
			arg_udev_rules = optarg;
			break;
		case ARG_WRITE_LOG:
			arg_write_log = optarg;
			break;
		case ARG_STEP_TIMEOUT: {
			char *end = NULL;
			double sec = strtod(optarg, &end);

			if (!end || *end || !(sec > 0) || sec > 86400) {
				fprintf(stderr, "pcipassd: invalid --step-timeout '%s'\n", optarg);
				return -EINVAL;
			}
			arg_step_timeout_usec = (uint64_t)(sec * 1e6);
			break;
		}
		case ARG_POLICY_DIR: {
			char **a = reallocarray_safe(arg_policy_dirs, n_arg_policy_dirs + 2,
						     sizeof(char *));

			if (!a)
				return -ENOMEM;
			arg_policy_dirs = a;
			a[n_arg_policy_dirs++] = optarg;
			a[n_arg_policy_dirs] = NULL;
			break;
		}
		case ARG_LOG_LEVEL:
			level = log_level_from_string(optarg);
			if (level < 0) {
				fprintf(stderr, "pcipassd: invalid log level '%s'\n", optarg);
				return -EINVAL;
			}
			log_set_max_level(level);
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("pcipassd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pcipassd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

/* The listening socket systemd passed, or -EBADF when not socket-activated. */
static int listen_fd_from_systemd(void)
{
	int n = sd_listen_fds(true);

	if (n <= 0)
		return -EBADF;
	if (n > 1)
		log_warning("systemd passed %d sockets, using the first", n);
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
		log_warning("The socket systemd passed is not a listening AF_UNIX stream socket, ignoring");
		return -EBADF;
	}
	return SD_LISTEN_FDS_START;
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	struct policy_error err = {};

	log_info("Reloading: re-reading sysfs, settings and policy");
	if (m->ready)
		(void)sd_notify(false, "RELOADING=1");
	if (manager_rescan(m) >= 0)
		manager_monitor_send(m, "rescan", NULL, NULL, NULL, NULL, 0);
	if (manager_load_policy(m, &err) >= 0)	/* logs; on failure the policy in force stays */
		manager_check_blocked(m);
	policy_error_done(&err);
	/* Before READY=1 at start, a reload must not announce it. */
	if (m->ready)
		(void)sd_notify(false, "READY=1");
	return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	return manager_stop(userdata);
}

static int run(void)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	struct manager_config config;
	struct varlink_limits limits;
	struct rlimit nofile = {};
	sigset_t mask;
	int r;

	config = (struct manager_config){
		.sysfs_root = arg_sysfs_root,
		.dev_root = arg_dev_root,
		.proc_root = arg_proc_root,
		.socket_path = arg_socket,
		.state_dir = arg_state_dir,
		.read_only = arg_read_only,
		.policy_dirs = arg_policy_dirs ?: policy_dirs_default,
		.config_path = arg_config,
		.step_timeout_usec = arg_step_timeout_usec,
		/* A synthetic tree's policy must never reach the real udev. */
		.write_log = arg_write_log,
		.udev_rules = arg_udev_rules ? (isempty(arg_udev_rules) ? NULL : arg_udev_rules) :
			      streq(arg_sysfs_root, "/sys") ? UDEV_RULES_DEFAULT : NULL,
	};

	/* Every Varlink connection is a file descriptor: take all the hard limit allows (we run
	 * nothing that could mind a soft limit above 1024). */
	if (getrlimit(RLIMIT_NOFILE, &nofile) >= 0 && nofile.rlim_cur < nofile.rlim_max) {
		struct rlimit raised = { .rlim_cur = nofile.rlim_max, .rlim_max = nofile.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &raised) >= 0)
			nofile = raised;
	}

	/* Signals become sd-event sources; block them before the loop exists. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_error_errno(errno, "Failed to block signals: %m");

	r = manager_new(&config, &m);
	if (r < 0)
		return r;
	r = sd_event_add_signal(m->event, NULL, SIGTERM, on_stop, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, on_stop, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m);
	if (r < 0)
		return log_error_errno(r, "Failed to set up signal handling: %m");
	(void)sd_event_set_watchdog(m->event, true);

	r = manager_start(m, listen_fd_from_systemd());
	if (r < 0)
		return r;
	/* Before the loop accepts anyone: as many connections as the descriptors allow. */
	varlink_limits_default(&limits);
	limits.unprivileged_buffer_max = (size_t)MIN(m->config.client_buffers, (uint64_t)SIZE_MAX);
	if (nofile.rlim_cur > 0 && nofile.rlim_cur != RLIM_INFINITY)
		varlink_limits_fit_nofile(&limits, nofile.rlim_cur);
	varlink_server_set_limits(m->varlink, &limits);
	log_debug("Varlink: at most %u connections (%u kept for root), %u per other user",
		  limits.connections_max, limits.connections_reserved,
		  limits.connections_per_uid_max);

	log_info("pcipassd %s: %zu PCI functions, %zu IOMMU groups%s", PACKAGE_VERSION,
		 m->model.n_devs, m->model.n_groups, m->read_only ? ", read-only" : "");

	r = sd_event_loop(m->event);
	(void)sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m");
	return 0;
}

int main(int argc, char *argv[])
{
	const char *env = getenv("PCIPASSD_LOG_LEVEL");
	int r;

	if (env && log_level_from_string(env) >= 0)
		log_set_max_level(log_level_from_string(env));
	r = parse_argv(argc, argv);
	if (r < 0) {
		fprintf(stderr, "Try 'pcipassd --help' for more information.\n");
		return 2;
	}
	if (r == 0)
		return 0;
	r = run();
	free(arg_policy_dirs);
	return r < 0 ? 1 : 0;
}
