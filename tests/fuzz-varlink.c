/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the Varlink server (lib/varlink): any bytes are what one peer sends on a
 * connection (a socket pair), to a server with a few test methods: one that echoes, one whose
 * parameters go through json_dispatch(), one that streams with "more", one that fails. The
 * event loop runs until the server is quiet, the peer reading all the while; then the peer
 * shuts down its sending side and the server must close the connection. It must never crash,
 * leak, loop, hold more than its limits say, or write anything but a sequence of replies, each
 * valid JSON text (RFC 8259, checked by tests/json-oracle.h, UTF-8 included) ending in a NUL.
 *
 * The server's socket buffer is made as small as the kernel allows, and its limits small, so
 * that short inputs reach backpressure, the output cap (MonitorOverflow) and the size limits.
 *
 * Built with a fuzzing engine (clang -fsanitize=fuzzer -DFUZZING_ENGINE), libFuzzer drives it.
 * Built plainly, as "make check" does, main() below replays a corpus instead: every file of
 * the directory given (default: $top_srcdir/tests/fuzz-varlink-corpus), whole and, for small
 * files, cut at every length, one TAP line per file. The libFuzzer build, outside autotools
 * (from a configured build directory, for config.h):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DFUZZING_ENGINE -include config.h \
 *     -I$SRC -I$SRC/tests $SRC/tests/fuzz-varlink.c $SRC/lib/varlink.c $SRC/lib/json-check.c \
 *     $SRC/lib/json-util.c $SRC/lib/peercred.c $SRC/lib/util.c $SRC/lib/log.c -lsystemd -ljson-c -o fuzz-varlink
 *   ./fuzz-varlink -runs=10000000 -max_len=4096 corpus/ $SRC/tests/fuzz-varlink-corpus
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/varlink.h"
#include "tests/json-oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MESSAGE_MAX	2048U
#define OUTPUT_MAX	4096U
#define REPLY_MAX	(64U * 1024U)
#define OUT_MAX		(8U << 20)	/* what the peer takes in one run, at most */
#define TURNS_MAX	1000000U	/* event loop turns in one run: more is a loop */

/* Replies: json-c writes UTF-8, never a lone surrogate; its depth is the server's business. */
static bool json_text_valid(const char *p, size_t n)
{
	static const struct json_oracle_rules rules = { .depth_max = 64, .key_nul = true };

	return json_oracle_valid(p, n, &rules);
}

/* --- the server ----------------------------------------------------------------------------- */

static int method_echo(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	return varlink_reply(c, params ? json_object_get(params) : NULL);
}

static int method_dispatch(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	struct {
		const char *name;
		struct json_opt_int small, big;
		int flag;
		json_object *any;
	} p;
	static const struct json_field fields[] = {
		{ "name", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, offsetof(typeof(p), name) },
		{ "small", JSON_FIELD_INT, 0, offsetof(typeof(p), small), -5, 300 },
		{ "big", JSON_FIELD_INT, 0, offsetof(typeof(p), big) },
		{ "flag", JSON_FIELD_BOOL, 0, offsetof(typeof(p), flag) },
		{ "any", JSON_FIELD_ANY, 0, offsetof(typeof(p), any) },
		{}
	};
	json_object *reply;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	if (!p.name || strlen(p.name) != (size_t)json_object_get_string_len(
					      json_object_object_get(params, "name")))
		abort();	/* json_dispatch() let a NUL through */
	if (p.small.set && (p.small.value < -5 || p.small.value > 300))
		abort();
	reply = json_object_new_object();
	if (!reply)
		return -ENOMEM;
	r = json_add_str(reply, "name", p.name);
	if (r >= 0 && p.small.set)
		r = json_add_int(reply, "small", p.small.value);
	if (r >= 0 && p.big.set)
		r = json_add_int(reply, "big", p.big.value);
	if (r >= 0 && p.flag >= 0)
		r = json_add_bool(reply, "flag", p.flag);
	if (r >= 0 && p.any)
		r = json_add(reply, "any", json_object_get(p.any));
	if (r < 0) {
		json_object_put(reply);
		return r;
	}
	return varlink_reply(c, reply);
}

/* Streams "n" (0 to 64) replies of "pad" bytes each (at most 1024), then ends. */
static int method_stream(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	struct {
		struct json_opt_int n, pad;
	} p;
	static const struct json_field fields[] = {
		{ "n", JSON_FIELD_INT, 0, offsetof(typeof(p), n), 0, 64 },
		{ "pad", JSON_FIELD_INT, 0, offsetof(typeof(p), pad), 0, 1024 },
		{}
	};
	char pad[1025];
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	if (!(flags & VARLINK_CALL_MORE))
		return varlink_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL);
	memset(pad, 'p', sizeof(pad));
	pad[p.pad.set ? p.pad.value : 0] = 0;
	for (int64_t i = 0; i < (p.n.set ? p.n.value : 3); i++) {
		json_object *o = json_object_new_object();

		if (!o || json_add_int(o, "i", i) < 0 || json_add_str(o, "pad", pad) < 0) {
			json_object_put(o);
			return -ENOMEM;
		}
		r = varlink_notify(c, o);
		if (r == -ENOBUFS)
			return 0;	/* overflowed: the server ended the call */
		if (r < 0)
			return r;
	}
	return varlink_reply(c, NULL);
}

static int method_fail(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	return -EIO;
}

/* A string that is not UTF-8, as sysfs might give: the wire must still be UTF-8. */
static int method_latin1(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, "s", "caf\xe9 \xf4\x90\x80\x80 \xed\xa0\x80") < 0) {
		json_object_put(p);
		return -ENOMEM;
	}
	return varlink_reply(c, p);
}

static const struct varlink_method methods[] = {
	{ "Echo", method_echo },
	{ "Dispatch", method_dispatch },
	{ "Stream", method_stream },
	{ "Fail", method_fail },
	{ "Latin1", method_latin1 },
	{}
};

static const struct varlink_interface iface = {
	.name = "org.example.fuzz",
	.description = "interface org.example.fuzz\n\nmethod Echo() -> ()\n",
	.methods = methods,
};

static sd_event *event;
static struct varlink_server *server;

static void setup(void)
{
	static const struct varlink_server_info info = {
		.vendor = "pcipass", .product = "fuzz-varlink", .version = "1",
		.url = "https://example.org/", .errno_error = "org.example.fuzz.SystemError",
	};
	struct varlink_limits l;

	if (server)
		return;
	if (sd_event_new(&event) < 0 ||
	    varlink_server_new(event, &info, NULL, &server) < 0 ||
	    varlink_server_add_interface(server, &iface) < 0)
		abort();
	varlink_limits_default(&l);
	l.message_max = MESSAGE_MAX;
	l.output_max = OUTPUT_MAX;
	l.reply_max = REPLY_MAX;
	/* Time plays no part here: a run is one burst. */
	l.idle_timeout_usec = l.idle_timeout_privileged_usec = 0;
	l.message_timeout_usec = l.output_timeout_usec = 0;
	varlink_server_set_limits(server, &l);
}

/* Every reply: valid JSON text, an object, with parameters or an error as Varlink says. */
static void check_output(const char *out, size_t n)
{
	size_t off = 0;

	if (n > 0 && out[n - 1] != 0)
		abort();	/* a reply cut short */
	while (off < n) {
		size_t len = strlen(out + off);
		json_object *o = NULL, *v = NULL;

		if (!json_text_valid(out + off, len))
			abort();
		if (json_parse_exact(out + off, len, &o) < 0 || !json_object_is_type(o, json_type_object))
			abort();
		if (json_object_object_get_ex(o, "parameters", &v) &&
		    !json_object_is_type(v, json_type_object))
			abort();
		if (json_object_object_get_ex(o, "error", &v) &&
		    (!json_object_is_type(v, json_type_string) || varlink_reply_continues(o)))
			abort();
		json_object_put(o);
		off += len + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *out;	/* allocated once: 8 MiB each run would be most of its time */
	size_t written = 0, n_out = 0;
	int sv[2], quiet = 0, sndbuf = 1;
	bool shut = false, eof = false;

	setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	/* The smallest buffer the kernel allows: replies queue in the server early. */
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (varlink_server_add_connection(server, sv[0], NULL) < 0)
		abort();
	if (!out)
		out = malloc(OUT_MAX);
	if (!out)
		abort();

	for (unsigned turn = 0;; turn++) {
		bool progress = false;
		ssize_t k;
		int r;

		if (turn > TURNS_MAX)
			abort();	/* it should have ended long ago */
		if (written < size) {
			k = send(sv[1], data + written, size - written, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k > 0) {
				written += (size_t)k;
				progress = true;
			} else if (k < 0 && errno != EAGAIN)
				written = size;	/* the server hung up */
		} else if (!shut && quiet >= 2) {
			/* All sent and answered: the end of the input must end the connection. */
			(void)shutdown(sv[1], SHUT_WR);
			shut = true;
			quiet = 0;
		}
		r = sd_event_run(event, 0);
		if (r < 0)
			abort();
		progress = progress || r > 0;
		while ((k = recv(sv[1], out + n_out, OUT_MAX - n_out, MSG_DONTWAIT)) > 0) {
			n_out += (size_t)k;
			progress = true;
			if (n_out == OUT_MAX)
				abort();	/* far more than any input here asks for */
		}
		/* The end, or ECONNRESET: the server closed with input of ours unread (after a
		 * protocol violation, say); what it sent before has been read. */
		if (k == 0 || (k < 0 && errno != EAGAIN))
			eof = true;
		/*
		 * The server has closed its end: all it sent is in our socket, and was read just
		 * now. (Linux 6.18 here says EAGAIN instead of the end of the stream about once in
		 * 100,000 runs right after the close; the server's count is what matters.)
		 */
		if (varlink_server_connections(server) == 0 && k <= 0)
			eof = true;
		/* Held input is one message and one read; held output one reply and the cap. */
		if (varlink_server_buffered(server) > MESSAGE_MAX + 64 * 1024 + REPLY_MAX + OUTPUT_MAX)
			abort();
		if (shut && varlink_server_connections(server) == 0 && eof)
			break;
		quiet = progress ? 0 : quiet + 1;
		if (shut && quiet > 3)
			abort();	/* nothing moves, and the connection stays open */
	}
	close(sv[1]);
	check_output(out, n_out);
	return 0;
}

#ifndef FUZZING_ENGINE
#define FUZZ_CORPUS "tests/fuzz-varlink-corpus"
#include "fuzz-replay.h"
#endif
