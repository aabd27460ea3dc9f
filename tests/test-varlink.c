/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Varlink server and client of lib/varlink.c, over socket pairs: framing (split and merged
 * writes), ordering and pipelining, oneway and more, the built-in service interface, the
 * protocol errors, and the limits that keep one bad peer from hurting the daemon. And base64
 * (lib/util.c), how binary data travels in JSON strings.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"
#include "lib/varlink.h"
#include "tests.h"

#define ERRNO_ERROR "org.example.test.SystemError"

static unsigned counted;		/* Count calls seen */
static struct varlink_conn *held;	/* the call Later left pending */
static unsigned closed_calls;		/* close callback invocations */
static unsigned big_calls;		/* Big calls seen */

static int method_echo(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	return varlink_reply(c, params ? json_object_get(params) : NULL);
}

static int method_later(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	held = varlink_conn_ref(c);
	return 0;
}

static int method_count(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	counted++;
	return varlink_reply(c, NULL);
}

static int method_stream(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	if (!(flags & VARLINK_CALL_MORE))
		return varlink_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL);
	for (int i = 0; i < 3; i++) {
		json_object *p = json_object_new_object();

		ASSERT_OK(json_add_int(p, "i", i));
		ASSERT_OK(varlink_notify(c, p));
	}
	return varlink_reply(c, NULL);
}

static int method_fail(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	return -ENOENT;
}

/* Answers with a string of "size" bytes. */
static int method_big(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	json_object *v = NULL, *p;
	_cleanup_free_ char *s = NULL;
	size_t n;

	big_calls++;
	ASSERT_TRUE(json_object_object_get_ex(params, "size", &v));
	n = (size_t)json_object_get_int64(v);
	s = malloc(n + 1);
	ASSERT_NOT_NULL(s);
	memset(s, 'x', n);
	s[n] = 0;
	p = json_object_new_object();
	ASSERT_OK(json_add_str(p, "data", s));
	return varlink_reply(c, p);
}

/* Answers with parameters given as text: {"size": N} of N bytes' worth, else Latin-1. */
static int method_text(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	json_object *v = NULL;
	_cleanup_free_ char *s = NULL;
	size_t n;

	if (!json_object_object_get_ex(params, "size", &v))
		return varlink_reply_text(c, "{\"s\":\"caf\xe9 ok\"}", STRLEN("{\"s\":\"caf\xe9 ok\"}"));
	n = (size_t)json_object_get_int64(v);
	s = malloc(n + 16);
	ASSERT_NOT_NULL(s);
	memcpy(s, "{\"data\":\"", 9);
	memset(s + 9, 'x', n);
	memcpy(s + 9 + n, "\"}", 2);
	return varlink_reply_text(c, s, n + 11);
}

/* {"a":[0,1,…,n-1]} in pieces through varlink_reply_gather(); "fail" or "grow" at item k of
 * the second pass: an error, or a piece longer than the first pass said. */
struct gather {
	size_t n, calls, bad_at;
	bool fail, grow;
	char num[32];
};

static int gather_parts(void *userdata, size_t i, struct iovec *parts, size_t *ret_n)
{
	struct gather *g = userdata;
	bool second = g->calls++ >= g->n + 2;
	size_t k = 0;

	if (second && i == g->bad_at && g->fail)
		return -ENOBUFS;
	if (i == 0)
		parts[k++] = (struct iovec){ .iov_base = (char *)"{\"a\":[", .iov_len = 6 };
	else if (i == g->n + 1)
		parts[k++] = (struct iovec){ .iov_base = (char *)"]}", .iov_len = 2 };
	else {
		if (i > 1)
			parts[k++] = (struct iovec){ .iov_base = (char *)",", .iov_len = 1 };
		snprintf(g->num, sizeof(g->num), "%zu%s", i - 1,
			 second && i == g->bad_at && g->grow ? "0" : "");
		parts[k++] = (struct iovec){ .iov_base = g->num, .iov_len = strlen(g->num) };
	}
	*ret_n = k;
	return 0;
}

static int method_gather(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	struct gather g = {
		.n = (size_t)json_object_get_int(json_object_object_get(params, "n")),
		.bad_at = (size_t)json_object_get_int(json_object_object_get(params, "at")),
		.fail = json_object_get_boolean(json_object_object_get(params, "fail")),
		.grow = json_object_get_boolean(json_object_object_get(params, "grow")),
	};

	return varlink_reply_gather(c, g.n + 2, gather_parts, &g);
}

static const struct varlink_method test_methods[] = {
	{ "Gather", method_gather },
	{ "Text", method_text },
	{ "Echo", method_echo },
	{ "Later", method_later },
	{ "Count", method_count },
	{ "Stream", method_stream },
	{ "Fail", method_fail },
	{ "Big", method_big },
	{}
};

static const struct varlink_interface test_iface = {
	.name = "org.example.test",
	.description = "interface org.example.test\n\nmethod Echo() -> ()\n",
	.methods = test_methods,
};

struct env {
	sd_event *event;
	struct varlink_server *server;
};

static void env_new(struct env *e)
{
	static const struct varlink_server_info info = {
		.vendor = "pcipass tests",
		.product = "test-varlink",
		.version = "1",
		.url = "https://example.org/",
		.errno_error = ERRNO_ERROR,
	};

	ASSERT_OK(sd_event_new(&e->event));
	ASSERT_OK(varlink_server_new(e->event, &info, NULL, &e->server));
	ASSERT_OK(varlink_server_add_interface(e->server, &test_iface));
}

static void env_free(struct env *e)
{
	held = varlink_conn_unref(held);
	e->server = varlink_server_free(e->server);
	e->event = sd_event_unref(e->event);
}

/* Runs the server's event loop until it has nothing left to do right now. */
static void pump(struct env *e)
{
	for (int idle = 0; idle < 3;) {
		int r = sd_event_run(e->event, 0);

		ASSERT_OK(r);
		idle = r == 0 ? idle + 1 : 0;
	}
}

/*
 * Runs the event loop until cond(e, userdata) holds, waiting for events (and timers) in
 * between. The deadline is generous: it is there to fail a broken test, not to measure.
 */
static void pump_until(struct env *e, bool (*cond)(struct env *e, void *userdata), void *userdata)
{
	uint64_t deadline = now_usec() + 30 * 1000000ULL;

	while (!cond(e, userdata)) {
		if (now_usec() > deadline)
			TEST_FAIL("condition not reached in 30 s");
		ASSERT_OK(sd_event_run(e->event, 10 * 1000));
	}
}

static bool connections_at_most(struct env *e, void *userdata)
{
	return varlink_server_connections(e->server) <= (unsigned)(uintptr_t)userdata;
}

/* A connected client; *ret_fd is its socket, for raw writes (the client owns it). */
static struct varlink_client *connect_client(struct env *e, int *ret_fd)
{
	struct varlink_client *cl = NULL;
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_server_add_connection(e->server, sv[0], NULL));
	ASSERT_OK(varlink_client_new_fd(sv[1], &cl));
	if (ret_fd)
		*ret_fd = sv[1];
	return cl;
}

/* One write(2) of all n bytes, as a peer sends them. */
static void send_bytes(int fd, const void *p, size_t n)
{
	ASSERT_EQ(write(fd, p, n), (ssize_t)n);
}

/* Sends the text of one message, its NUL included. */
static void send_raw(int fd, const char *text)
{
	send_bytes(fd, text, strlen(text) + 1);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static json_object *recv_reply(struct varlink_client *cl)
{
	json_object *reply = NULL;

	ASSERT_OK(varlink_client_recv(cl, 2000, &reply));
	return reply;
}

/* The next reply's parameters as compact JSON text, and its error name. */
static void expect_reply(struct varlink_client *cl, const char *error, const char *params)
{
	_cleanup_json_ json_object *reply = recv_reply(cl);
	json_object *p = varlink_reply_params(reply);

	ASSERT_STREQ(varlink_reply_error(reply), error);
	ASSERT_NOT_NULL(p);
	ASSERT_STREQ(json_object_to_json_string_ext(p, JSON_FLAGS_WIRE), params);
	ASSERT_FALSE(varlink_reply_continues(reply));
}

/* Nothing more came, neither in the socket nor in the client's buffer. */
static void expect_no_reply(struct varlink_client *cl)
{
	json_object *reply = NULL;

	ASSERT_ERROR(varlink_client_recv(cl, 50, &reply), ETIMEDOUT);
}

/* The server closed this client's connection (others may remain). */
static void expect_closed_client(struct varlink_client *cl)
{
	json_object *reply = NULL;

	ASSERT_ERROR(varlink_client_recv(cl, 2000, &reply), ECONNRESET);
}

/* The server closed the connection, after any replies already read. */
static void expect_closed(struct env *e, struct varlink_client *cl)
{
	json_object *reply = NULL;

	pump(e);
	ASSERT_ERROR(varlink_client_recv(cl, 2000, &reply), ECONNRESET);
	ASSERT_EQ(varlink_server_connections(e->server), 0);
}

TEST(get_info_lists_interfaces)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInfo\"}");
	pump(&e);
	expect_reply(cl, NULL,
		     "{\"vendor\":\"pcipass tests\",\"product\":\"test-varlink\",\"version\":\"1\","
		     "\"url\":\"https://example.org/\","
		     "\"interfaces\":[\"org.varlink.service\",\"org.example.test\"]}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(get_interface_description)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":{\"interface\":\"org.example.test\"}}");
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":{\"interface\":\"org.nope\"}}");
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":{\"interface\":5}}");
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}");
	pump(&e);
	expect_reply(cl, NULL,
		     "{\"description\":\"interface org.example.test\\n\\nmethod Echo() -> ()\\n\"}");
	expect_reply(cl, VARLINK_ERROR_INTERFACE_NOT_FOUND, "{\"interface\":\"org.nope\"}");
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"interface\"}");
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"interface\"}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(unknown_interface_and_method)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Nope\"}");
	send_raw(fd, "{\"method\":\"org.nope.Echo\"}");
	send_raw(fd, "{\"method\":\"Echo\"}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"still\":\"here\"}}");
	pump(&e);
	expect_reply(cl, VARLINK_ERROR_METHOD_NOT_FOUND, "{\"method\":\"org.example.test.Nope\"}");
	expect_reply(cl, VARLINK_ERROR_INTERFACE_NOT_FOUND, "{\"interface\":\"org.nope\"}");
	expect_reply(cl, VARLINK_ERROR_INTERFACE_NOT_FOUND, "{\"interface\":\"Echo\"}");
	expect_reply(cl, NULL, "{\"still\":\"here\"}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(message_split_into_single_bytes)
{
	static const char msg[] = "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"a\":1}}";
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	for (size_t i = 0; i < sizeof(msg) - 1; i++) {
		send_bytes(fd, msg + i, 1);
		pump(&e);
		ASSERT_FALSE(readable(fd));
	}
	send_bytes(fd, "", 1);	/* the terminating NUL completes it */
	pump(&e);
	expect_reply(cl, NULL, "{\"a\":1}");
	expect_no_reply(cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(several_messages_in_one_write_answered_in_order)
{
	static const char msgs[] =
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":1}}\0"
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":2}}\0"
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":3}}";
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_bytes(fd, msgs, sizeof(msgs));
	pump(&e);
	expect_reply(cl, NULL, "{\"n\":1}");
	expect_reply(cl, NULL, "{\"n\":2}");
	expect_reply(cl, NULL, "{\"n\":3}");
	expect_no_reply(cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(pipelined_call_waits_behind_pending_call)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	json_object *p;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Later\"}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":2}}");
	pump(&e);
	ASSERT_NOT_NULL(held);
	ASSERT_FALSE(readable(fd));	/* Echo must not overtake Later */

	p = json_object_new_object();
	ASSERT_OK(json_add_str(p, "late", "yes"));
	ASSERT_OK(varlink_reply(held, p));
	ASSERT_ERROR(varlink_reply(held, NULL), EINVAL);	/* answered already */
	pump(&e);
	expect_reply(cl, NULL, "{\"late\":\"yes\"}");
	expect_reply(cl, NULL, "{\"n\":2}");
	expect_no_reply(cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(absent_null_and_empty_parameters_are_the_same)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\"}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":null}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{}}");
	/* GetInfo takes no parameters: all three spellings of "none" are accepted. */
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":null}");
	pump(&e);
	expect_reply(cl, NULL, "{}");
	expect_reply(cl, NULL, "{}");
	expect_reply(cl, NULL, "{}");
	json_object_put(recv_reply(cl));
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(oneway_call_gets_no_reply)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Count\",\"oneway\":true}");
	send_raw(fd, "{\"method\":\"org.example.test.Nope\",\"oneway\":true}");
	send_raw(fd, "{\"method\":\"org.example.test.Count\",\"oneway\":false}");
	pump(&e);
	ASSERT_EQ(counted, 2);
	expect_reply(cl, NULL, "{}");	/* only the third call answers */
	expect_no_reply(cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(more_streams_replies_then_ends)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	ASSERT_OK(varlink_client_send(cl, "org.example.test.Stream", NULL, VARLINK_CALL_MORE));
	ASSERT_OK(varlink_client_send(cl, "org.example.test.Stream", NULL, 0));
	pump(&e);
	for (int i = 0; i < 3; i++) {
		_cleanup_json_ json_object *reply = recv_reply(cl);
		json_object *v = NULL;

		ASSERT_TRUE(varlink_reply_continues(reply));
		ASSERT_TRUE(json_object_object_get_ex(varlink_reply_params(reply), "i", &v));
		ASSERT_EQ(json_object_get_int(v), i);
	}
	expect_reply(cl, NULL, "{}");
	expect_reply(cl, VARLINK_ERROR_EXPECTED_MORE, "{}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(notify_without_more_is_refused)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Later\"}");
	pump(&e);
	ASSERT_NOT_NULL(held);
	ASSERT_ERROR(varlink_notify(held, NULL), EINVAL);
	ASSERT_OK(varlink_reply(held, NULL));
	pump(&e);
	expect_reply(cl, NULL, "{}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(failing_handler_answers_errno_error)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Fail\"}");
	pump(&e);
	expect_reply(cl, ERRNO_ERROR,
		     "{\"errno\":2,\"errno_name\":\"ENOENT\",\"message\":\"No such file or directory\"}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* A reply in pieces arrives whole; when the pieces fail or change on the second pass, the
 * call ends with an error and no part of the reply is sent. */
TEST(gathered_replies_are_whole_or_not_at_all)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Gather\",\"parameters\":{\"n\":12}}");
	send_raw(fd, "{\"method\":\"org.example.test.Gather\",\"parameters\":{\"n\":0}}");
	send_raw(fd, "{\"method\":\"org.example.test.Gather\",\"parameters\":{\"n\":5,\"at\":3,"
		     "\"fail\":true}}");
	send_raw(fd, "{\"method\":\"org.example.test.Gather\",\"parameters\":{\"n\":5,\"at\":4,"
		     "\"grow\":true}}");
	send_raw(fd, "{\"method\":\"org.example.test.Gather\",\"parameters\":{\"n\":3}}");
	pump(&e);
	expect_reply(cl, NULL, "{\"a\":[0,1,2,3,4,5,6,7,8,9,10,11]}");
	expect_reply(cl, NULL, "{\"a\":[]}");
	expect_reply(cl, ERRNO_ERROR,
		     "{\"errno\":105,\"errno_name\":\"ENOBUFS\",\"message\":\"No buffer space available\"}");
	expect_reply(cl, ERRNO_ERROR,
		     "{\"errno\":5,\"errno_name\":\"EIO\",\"message\":\"Input/output error\"}");
	expect_reply(cl, NULL, "{\"a\":[0,1,2]}");
	expect_no_reply(cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(reverse_domain_extension_keys_are_ignored)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"org.example.hint\":{\"x\":1},"
		     "\"parameters\":{\"ok\":true}}");
	pump(&e);
	expect_reply(cl, NULL, "{\"ok\":true}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(upgrade_is_not_implemented)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"upgrade\":true}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"after\":1}}");
	pump(&e);
	expect_reply(cl, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED,
		     "{\"method\":\"org.example.test.Echo\"}");
	expect_reply(cl, NULL, "{\"after\":1}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(protocol_violations_disconnect)
{
	static const char *const bad[] = {
		"{not json",
		"[]",
		"\"org.example.test.Echo\"",
		"{}",
		"{\"method\":5}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":[1]}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":\"x\"}",
		"{\"method\":\"org.example.test.Echo\",\"more\":1}",
		"{\"method\":\"org.example.test.Echo\",\"oneway\":true,\"more\":true}",
		"{\"method\":\"org.example.test.Echo\",\"bogus\":1}",
		"{\"method\":\"org.example.test.Echo\"} x",
		"{\"method\":\"org.example.test.Echo\"}{}",
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct env e = {};
		_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
		int fd;

		env_new(&e);
		cl = connect_client(&e, &fd);
		/* A good call before the bad one is still answered. */
		send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":0}}");
		send_raw(fd, bad[i]);
		send_raw(fd, "{\"method\":\"org.example.test.Count\"}");
		pump(&e);
		printf("# %s\n", bad[i]);
		expect_reply(cl, NULL, "{\"n\":0}");
		expect_closed(&e, cl);
		ASSERT_EQ(counted, 0);	/* nothing after the violation ran */
		cl = varlink_client_free(cl);
		env_free(&e);
	}
}

TEST(oversized_message_disconnects)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL, *cl2 = NULL;
	_cleanup_free_ char *big = NULL;
	struct varlink_limits l;
	int fd, fd2;

	env_new(&e);
	varlink_limits_default(&l);
	l.message_max = 1024;
	varlink_server_set_limits(e.server, &l);

	/* Exactly at the limit is fine. */
	cl = connect_client(&e, &fd);
	big = malloc(2048);
	ASSERT_NOT_NULL(big);
	{
		static const char head[] =
			"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"";
		static const char tail[] = "\"}}";
		size_t pad = 1024 - (sizeof(head) - 1) - (sizeof(tail) - 1);

		memcpy(big, head, sizeof(head) - 1);
		memset(big + sizeof(head) - 1, 'y', pad);
		memcpy(big + sizeof(head) - 1 + pad, tail, sizeof(tail));
	}
	ASSERT_EQ(strlen(big), 1024);
	send_raw(fd, big);
	pump(&e);
	json_object_put(recv_reply(cl));

	/* One byte more, even without its terminator yet, is not. */
	memset(big, ' ', 1025);
	send_bytes(fd, big, 1025);
	expect_closed(&e, cl);

	/* Other connections are not affected. */
	cl2 = connect_client(&e, &fd2);
	send_raw(fd2, "{\"method\":\"org.example.test.Echo\"}");
	pump(&e);
	expect_reply(cl2, NULL, "{}");
	cl = varlink_client_free(cl);
	cl2 = varlink_client_free(cl2);
	env_free(&e);
}

static bool privileged_if_set(const struct peer_creds *creds, void *userdata)
{
	return *(const bool *)userdata;
}

/* A connection the server refused: one TooManyConnections error, then the end. */
static void expect_refused(int fd, const char *limit, unsigned max)
{
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	_cleanup_json_ json_object *reply = NULL;
	json_object *v = NULL;

	ASSERT_OK(varlink_client_new_fd(fd, &cl));
	ASSERT_OK(varlink_client_recv(cl, 2000, &reply));
	ASSERT_STREQ(varlink_reply_error(reply), VARLINK_ERROR_TOO_MANY_CONNECTIONS);
	ASSERT_TRUE(json_object_object_get_ex(varlink_reply_params(reply), "limit", &v));
	ASSERT_STREQ(json_object_get_string(v), limit);
	ASSERT_TRUE(json_object_object_get_ex(varlink_reply_params(reply), "max", &v));
	ASSERT_EQ(json_object_get_int64(v), max);
	json_object_put(TAKE_PTR(reply));
	ASSERT_ERROR(varlink_client_recv(cl, 2000, &reply), ECONNRESET);
}

TEST(connection_limits)
{
	struct env e = {};
	struct varlink_limits l;
	bool privileged = false;
	int sv[2];

	env_new(&e);
	varlink_limits_default(&l);
	l.connections_max = 4;
	l.connections_reserved = 1;
	l.connections_per_uid_max = 2;
	varlink_server_set_limits(e.server, &l);
	/* Every socket pair is our own uid: the predicate decides who is privileged. */
	varlink_server_set_privileged(e.server, privileged_if_set, &privileged);
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		ASSERT_OK(varlink_server_add_connection(e.server, sv[0], NULL));
		close(sv[1]);	/* the server notices on its next turn */
	}
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERROR(varlink_server_add_connection(e.server, sv[0], NULL), EUSERS);
	expect_refused(sv[1], "connections_per_uid", 2);

	/* Unprivileged peers get all but the reserved connection. */
	l.connections_per_uid_max = 10;
	varlink_server_set_limits(e.server, &l);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_server_add_connection(e.server, sv[0], NULL));
	close(sv[1]);
	ASSERT_EQ(varlink_server_connections(e.server), 3);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERROR(varlink_server_add_connection(e.server, sv[0], NULL), EMFILE);
	expect_refused(sv[1], "connections", 3);

	/* A privileged one gets the reserved one, and no more. */
	privileged = true;
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_server_add_connection(e.server, sv[0], NULL));
	close(sv[1]);
	ASSERT_EQ(varlink_server_connections(e.server), 4);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERROR(varlink_server_add_connection(e.server, sv[0], NULL), EMFILE);
	expect_refused(sv[1], "connections", 4);

	/* Hung-up peers free their slots. */
	pump(&e);
	ASSERT_EQ(varlink_server_connections(e.server), 0);
	env_free(&e);
}

/*
 * A peer that pipelines calls and never reads holds about one reply in the server: its next
 * call waits (in the socket) until the last reply was taken. Nothing is dropped: when it reads
 * at last, every reply comes, in order.
 */
TEST(unread_replies_hold_back_further_calls)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *slow = NULL, *fast = NULL;
	const size_t size = 1 << 20;
	int fd_slow, fd_fast;

	env_new(&e);
	slow = connect_client(&e, &fd_slow);
	fast = connect_client(&e, &fd_fast);
	for (int i = 0; i < 20; i++)
		send_raw(fd_slow, "{\"method\":\"org.example.test.Big\",\"parameters\":{\"size\":1048576}}");
	pump(&e);
	ASSERT_EQ(big_calls, 1);
	ASSERT_TRUE(varlink_server_buffered(e.server) < size + 64 * 1024);

	/* Others are served meanwhile. */
	send_raw(fd_fast, "{\"method\":\"org.example.test.Echo\"}");
	pump(&e);
	expect_reply(fast, NULL, "{}");
	ASSERT_EQ(big_calls, 1);

	for (int i = 0; i < 20; i++) {
		_cleanup_json_ json_object *reply = NULL;
		json_object *v = NULL;
		int r;

		do {
			pump(&e);
			r = varlink_client_recv(slow, 10, &reply);
		} while (r == -ETIMEDOUT);
		ASSERT_OK(r);
		ASSERT_NULL(varlink_reply_error(reply));
		ASSERT_TRUE(json_object_object_get_ex(varlink_reply_params(reply), "data", &v));
		ASSERT_EQ(json_object_get_string_len(v), size);
		ASSERT_TRUE(big_calls <= (unsigned)i + 2);
	}
	ASSERT_EQ(big_calls, 20);
	slow = varlink_client_free(slow);
	fast = varlink_client_free(fast);
	env_free(&e);
}

/* Output the peer does not take at all is given up after output_timeout_usec. */
TEST(stalled_reader_is_dropped_others_served)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *slow = NULL, *fast = NULL;
	struct varlink_limits l;
	int fd_slow, fd_fast;

	env_new(&e);
	varlink_limits_default(&l);
	l.output_timeout_usec = 100 * 1000;
	varlink_server_set_limits(e.server, &l);
	slow = connect_client(&e, &fd_slow);
	fast = connect_client(&e, &fd_fast);

	/* Far more than the socket buffers: the slow client never reads. */
	send_raw(fd_slow, "{\"method\":\"org.example.test.Big\",\"parameters\":{\"size\":4194304}}");
	pump(&e);
	send_raw(fd_fast, "{\"method\":\"org.example.test.Echo\"}");
	pump(&e);
	expect_reply(fast, NULL, "{}");
	pump_until(&e, connections_at_most, (void *)1);

	/* The slow client reads what was sent before it was dropped (part of the reply), then
	 * end of stream. */
	for (;;) {
		char buf[65536];
		ssize_t n = read(fd_slow, buf, sizeof(buf));

		ASSERT_OK(n);
		if (n == 0)
			break;
	}
	slow = varlink_client_free(slow);
	fast = varlink_client_free(fast);
	env_free(&e);
}

static void on_close(struct varlink_conn *c, void *userdata)
{
	ASSERT_TRUE(varlink_conn_is_closed(c));
	ASSERT_TRUE(userdata == &closed_calls);
	closed_calls++;
}

TEST(peer_hangup_with_pending_call)
{
	struct env e = {};
	struct varlink_client *cl;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Later\"}");
	pump(&e);
	ASSERT_NOT_NULL(held);
	ASSERT_FALSE(varlink_conn_is_closed(held));
	ASSERT_EQ(varlink_conn_uid(held), getuid());
	ASSERT_EQ(varlink_conn_pid(held), getpid());
	varlink_conn_set_close_callback(held, on_close, &closed_calls);

	cl = varlink_client_free(cl);
	pump(&e);
	ASSERT_EQ(closed_calls, 1);
	ASSERT_TRUE(varlink_conn_is_closed(held));
	ASSERT_EQ(varlink_server_connections(e.server), 0);
	/* Answering a call whose peer left fails cleanly; the callback does not run again. */
	ASSERT_ERROR(varlink_reply(held, NULL), ECONNRESET);
	env_free(&e);
	ASSERT_EQ(closed_calls, 1);
}

TEST(half_closed_peer_still_gets_its_replies)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":1}}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":2}}");
	ASSERT_OK(shutdown(fd, SHUT_WR));
	pump(&e);
	expect_reply(cl, NULL, "{\"n\":1}");
	expect_reply(cl, NULL, "{\"n\":2}");
	expect_closed(&e, cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(server_free_closes_connections)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	json_object *reply = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Later\"}");
	pump(&e);
	varlink_conn_set_close_callback(held, on_close, &closed_calls);
	env_free(&e);
	ASSERT_EQ(closed_calls, 1);
	ASSERT_ERROR(varlink_client_recv(cl, 2000, &reply), ECONNRESET);
}

/* The client alone, against a raw peer. */
TEST(client_reassembles_and_reports_errors)
{
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	json_object *reply = NULL;
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_client_new_fd(sv[1], &cl));

	send_bytes(sv[0], "{\"parameters\":{\"a\"", 18);
	ASSERT_ERROR(varlink_client_recv(cl, 50, &reply), ETIMEDOUT);
	send_bytes(sv[0], ":1}}\0{\"error\":\"x.Y\"}", 21);
	ASSERT_OK(varlink_client_recv(cl, 1000, &reply));
	ASSERT_EQ(json_object_get_int(json_object_object_get(varlink_reply_params(reply), "a")), 1);
	json_object_put(reply);
	ASSERT_OK(varlink_client_recv(cl, 0, &reply));	/* already buffered */
	ASSERT_STREQ(varlink_reply_error(reply), "x.Y");
	ASSERT_NULL(varlink_reply_params(reply));
	json_object_put(reply);

	send_bytes(sv[0], "[1]", 4);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);
	send_bytes(sv[0], "{\"a\":", 6);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);
	close(sv[0]);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), ECONNRESET);
}

/* Text only: {"parameters":…} is checked, passed on as it came, and nothing is built of it. */
TEST(client_text_only_checks_and_builds_nothing)
{
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	static const char good[] = "{\"parameters\":{\"a\":[1,2.5e3,\"caf\xc3\xa9\"],\"b\":{}}}";
	json_object *reply = NULL, *p;
	const char *text;
	size_t n;
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_client_new_fd(sv[1], &cl));
	varlink_client_set_text_only(cl, true);

	send_bytes(sv[0], good, sizeof(good));
	ASSERT_OK(varlink_client_recv(cl, 1000, &reply));
	p = varlink_reply_params(reply);
	ASSERT_NOT_NULL(p);
	ASSERT_EQ(json_object_object_length(p), 0);
	ASSERT_NOT_NULL(text = varlink_client_params_text(cl, p, &n));
	ASSERT_EQ(n, strlen("{\"a\":[1,2.5e3,\"caf\xc3\xa9\"],\"b\":{}}"));
	ASSERT_TRUE(memcmp(text, "{\"a\":[1,2.5e3,\"caf\xc3\xa9\"],\"b\":{}}", n) == 0);
	json_object_put(reply);

	/* An error is parsed as ever, parameters first or not. */
	send_bytes(sv[0], "{\"parameters\":{\"x\":1},\"error\":\"x.Y\"}", 37);
	ASSERT_OK(varlink_client_recv(cl, 1000, &reply));
	ASSERT_STREQ(varlink_reply_error(reply), "x.Y");
	ASSERT_EQ(json_object_get_int(json_object_object_get(varlink_reply_params(reply), "x")), 1);
	ASSERT_NULL(varlink_client_params_text(cl, varlink_reply_params(reply), &n));
	json_object_put(reply);

	/* What is not JSON is refused without a parse: raw tab, "1.", bad UTF-8, a cut. */
	send_bytes(sv[0], "{\"parameters\":{\"s\":\"a\tb\"}}", 27);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);
	send_bytes(sv[0], "{\"parameters\":{\"x\":1.}}", 24);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);
	send_bytes(sv[0], "{\"parameters\":{\"s\":\"\xc0\x80\"}}", 26);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);
	send_bytes(sv[0], "{\"parameters\":{\"s\":[}}", 23);
	ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);

	/* Parameters that are no object break the protocol, in either mode; null is absent. */
	for (int text_only = 1; text_only >= 0; text_only--) {
		static const char *const bad[] = {
			"{\"parameters\":[1]}", "{\"parameters\":5}", "{\"parameters\":1e999}",
			"{\"parameters\":\"x\"}", "{\"parameters\": [1]}",
			"{\"error\":\"x.Y\",\"parameters\":[]}",
		};

		varlink_client_set_text_only(cl, text_only);
		for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
			printf("# %s (text only: %d)\n", bad[i], text_only);
			send_bytes(sv[0], bad[i], strlen(bad[i]) + 1);
			ASSERT_ERROR(varlink_client_recv(cl, 1000, &reply), EBADMSG);
		}
		send_bytes(sv[0], "{\"parameters\":null}", 20);
		ASSERT_OK(varlink_client_recv(cl, 1000, &reply));
		ASSERT_NULL(varlink_reply_params(reply));
		json_object_put(reply);
	}

	/* Off again: parameters parsed. */
	varlink_client_set_text_only(cl, false);
	send_bytes(sv[0], "{\"parameters\":{\"a\":7}}", 23);
	ASSERT_OK(varlink_client_recv(cl, 1000, &reply));
	ASSERT_EQ(json_object_get_int(json_object_object_get(varlink_reply_params(reply), "a")), 7);
	json_object_put(reply);
	close(sv[0]);
}

/*
 * Sends text (n bytes, its NUL not included) in pieces, the client taking what is there after
 * each (a timeout of 0), then the NUL.
 */
static int recv_in_pieces(struct varlink_client *cl, int fd, const char *text, size_t n,
			  size_t piece, json_object **reply)
{
	for (size_t off = 0; off < n; off += piece) {
		send_bytes(fd, text + off, MIN(piece, n - off));
		ASSERT_ERROR(varlink_client_recv(cl, 0, reply), ETIMEDOUT);
	}
	send_bytes(fd, "", 1);
	return varlink_client_recv(cl, 1000, reply);
}

/* A reply of 600 KB, its parameters a list of small objects; the first quote from bad_at on,
 * if not 0, made a raw control character. */
static char *big_reply(const char *head, const char *tail, size_t bad_at, size_t *ret_n,
		       unsigned *ret_count)
{
	size_t size = 700 * 1000, n = 0;
	char *t = malloc(size);

	ASSERT_NOT_NULL(t);
	n += (size_t)sprintf(t, "%s{\"devices\":[", head);
	unsigned i;

	for (i = 0; n < 600 * 1000; i++)
		n += (size_t)sprintf(t + n, "%s{\"n\":%u,\"s\":\"caf\xc3\xa9 \\u00e9 \\\" %*s\",\"x\":null}",
				     i ? "," : "", i, (int)(i % 67), "");
	n += (size_t)sprintf(t + n, "]}%s", tail);
	if (bad_at) {
		char *q = strchr(t + bad_at, '"');

		ASSERT_NOT_NULL(q);
		*q = '\x01';
	}
	*ret_n = n;
	if (ret_count)
		*ret_count = i;
	return t;
}

/*
 * Large replies received in pieces, which move into the client's mapped buffer on the way
 * (past RMEM_MAPPED_FROM): a valid one is passed on byte for byte, a fault anywhere refuses
 * it, what is not {"parameters":{…}} alone (a reply that goes on after them, braces that do
 * not match) is parsed whole, and the next reply is as ever.
 */
TEST(client_text_only_takes_large_replies_in_pieces)
{
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	_cleanup_free_ char *good = NULL, *more = NULL;
	json_object *reply = NULL;
	const char *text;
	size_t n, n_more, len;
	unsigned count;
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_client_new_fd(sv[1], &cl));
	varlink_client_set_text_only(cl, true);

	good = big_reply("{\"parameters\":", "}", 0, &n, &count);
	for (size_t piece = 997; piece <= 65536; piece *= 8) {
		printf("# %zu bytes in pieces of %zu\n", n, piece);
		ASSERT_OK(recv_in_pieces(cl, sv[0], good, n, piece, &reply));
		ASSERT_NOT_NULL(text = varlink_client_params_text(cl, varlink_reply_params(reply), &len));
		ASSERT_EQ(len, n - STRLEN("{\"parameters\":") - 1);
		ASSERT_TRUE(memcmp(text, good + STRLEN("{\"parameters\":"), len) == 0);
		json_object_put(reply);
	}

	/* A fault early, in the middle, and in the parameters' own closing brace. */
	for (size_t i = 0; i < 3; i++) {
		_cleanup_free_ char *bad = big_reply("{\"parameters\":", "}", i < 2 ? 1000 + i * n / 2 : 0,
						     &n_more, NULL);

		if (i == 2)
			bad[n_more - 2] = ',';
		ASSERT_ERROR(recv_in_pieces(cl, sv[0], bad, n_more, 4096, &reply), EBADMSG);
	}

	/* The reply goes on after its parameters: parsed whole, as before. */
	more = big_reply("{\"parameters\":", ",\"continues\":true}", 0, &n_more, NULL);
	ASSERT_OK(recv_in_pieces(cl, sv[0], more, n_more, 4096, &reply));
	ASSERT_TRUE(varlink_reply_continues(reply));
	ASSERT_EQ(json_object_array_length(json_object_object_get(varlink_reply_params(reply),
								  "devices")), count);
	json_object_put(reply);

	/* The reply's own brace closes the parameters: they are one short. */
	ASSERT_ERROR(recv_in_pieces(cl, sv[0], "{\"parameters\":{\"a\":{}}", 22, 1, &reply), EBADMSG);

	/* And the next reply, in the buffer that is left. */
	ASSERT_OK(recv_in_pieces(cl, sv[0], "{\"parameters\":{\"a\":[]}}", 23, 1, &reply));
	ASSERT_NOT_NULL(text = varlink_client_params_text(cl, varlink_reply_params(reply), &len));
	ASSERT_TRUE(len == 8 && memcmp(text, "{\"a\":[]}", 8) == 0);
	json_object_put(reply);
	close(sv[0]);
}

/*
 * A reply may be far larger than what the server accepts in one message (VARLINK_MESSAGE_MAX):
 * DumpRom answers with up to 16 MiB of ROM in base64. The client takes up to
 * VARLINK_REPLY_MAX, the largest reply a server sends.
 */
TEST(client_accepts_replies_beyond_the_message_limit)
{
	static const char head[] = "{\"parameters\":{\"data\":\"", tail[] = "\"}}";
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	_cleanup_json_ json_object *reply = NULL;
	size_t n = 3 * VARLINK_MESSAGE_MAX;
	json_object *data = NULL;
	int sv[2];
	pid_t pid;

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_client_new_fd(sv[1], &cl));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		char *s = malloc(n);

		if (!s)
			_exit(1);
		memset(s, 'A', n);
		if (write(sv[0], head, STRLEN(head)) != (ssize_t)STRLEN(head))
			_exit(1);
		for (size_t off = 0; off < n;) {
			ssize_t k = write(sv[0], s + off, n - off);

			if (k <= 0)
				_exit(1);
			off += (size_t)k;
		}
		_exit(write(sv[0], tail, sizeof(tail)) == (ssize_t)sizeof(tail) ? 0 : 1);
	}
	close(sv[0]);
	ASSERT_OK(varlink_client_recv(cl, 20000, &reply));
	ASSERT_TRUE(json_object_object_get_ex(varlink_reply_params(reply), "data", &data));
	ASSERT_EQ(json_object_get_string_len(data), n);
	{
		int status = 0;

		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/* --- fairness, timeouts, overflow ---------------------------------------------------------- */

static bool fd_readable(struct env *e, void *userdata)
{
	return readable(*(int *)userdata);
}

/* Reads what is there without waiting; returns the number of NULs (messages) in it. */
static unsigned drain(int fd)
{
	char buf[65536];
	unsigned n = 0;

	for (;;) {
		ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (k <= 0)
			return n;
		for (ssize_t i = 0; i < k; i++)
			n += buf[i] == 0;
	}
}

/*
 * One turn of the event loop handles one message per connection: B's one call, sent while A's
 * 10,000 pipelined calls are being handled, is answered within a few of A's, not after all.
 */
TEST(pipelined_calls_take_turns_with_other_connections)
{
	static const char call[] = "{\"method\":\"org.example.test.Count\"}";
	const unsigned N = 10000;
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *a = NULL, *b = NULL;
	unsigned a_replies = 0, at_send, at_reply;
	int fd_a, fd_b, status = 0;
	pid_t pid;

	env_new(&e);
	a = connect_client(&e, &fd_a);
	b = connect_client(&e, &fd_b);

	/* A's calls in one write(2), from a child: more than the socket buffer takes. */
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		char *buf = malloc(N * sizeof(call));

		if (!buf)
			_exit(1);
		for (unsigned i = 0; i < N; i++)
			memcpy(buf + i * sizeof(call), call, sizeof(call));
		_exit(write_all(fd_a, buf, N * sizeof(call)) < 0 ? 1 : 0);
	}

	/* A is under way, then B calls. */
	while (counted < 10) {
		ASSERT_OK(sd_event_run(e.event, 10 * 1000));
		a_replies += drain(fd_a);
	}
	at_send = counted;
	send_raw(fd_b, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"b\":1}}");
	while (!readable(fd_b)) {
		ASSERT_OK(sd_event_run(e.event, 10 * 1000));
		a_replies += drain(fd_a);
	}
	at_reply = counted;
	printf("# A's calls handled: %u when B called, %u when B was answered\n", at_send, at_reply);
	ASSERT_TRUE(at_reply < N);
	ASSERT_TRUE(at_reply - at_send <= 16);
	expect_reply(b, NULL, "{\"b\":1}");

	/* A gets all its answers too. */
	while (a_replies < N) {
		ASSERT_OK(sd_event_run(e.event, 10 * 1000));
		a_replies += drain(fd_a);
	}
	ASSERT_EQ(counted, N);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	a = varlink_client_free(a);
	b = varlink_client_free(b);
	env_free(&e);
}

static void set_timeouts(struct env *e, uint64_t idle, uint64_t message)
{
	struct varlink_limits l;

	varlink_server_get_limits(e->server, &l);
	l.idle_timeout_usec = l.idle_timeout_privileged_usec = idle;
	l.message_timeout_usec = message;
	varlink_server_set_limits(e->server, &l);
}

TEST(idle_connection_is_closed)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	set_timeouts(&e, 100 * 1000, 0);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\"}");
	pump(&e);
	expect_reply(cl, NULL, "{}");
	pump_until(&e, connections_at_most, (void *)0);
	expect_closed(&e, cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* Unprivileged and privileged peers have their own idle timeouts; 0 is none. */
TEST(privileged_idle_timeout_is_separate)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *user = NULL, *root = NULL;
	struct varlink_limits l;
	bool privileged = false;
	int fd;

	env_new(&e);
	varlink_limits_default(&l);
	l.idle_timeout_usec = 100 * 1000;
	l.idle_timeout_privileged_usec = 0;
	varlink_server_set_limits(e.server, &l);
	varlink_server_set_privileged(e.server, privileged_if_set, &privileged);
	privileged = true;
	root = connect_client(&e, &fd);
	privileged = false;
	user = connect_client(&e, NULL);
	pump_until(&e, connections_at_most, (void *)1);
	expect_closed_client(user);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\"}");
	pump(&e);
	expect_reply(root, NULL, "{}");
	user = varlink_client_free(user);
	root = varlink_client_free(root);
	env_free(&e);
}

/*
 * Each call moves a connection's idle deadline: one that keeps calling outlives one that
 * came after it and idled, and is closed once it idles in turn. (Its timer is left due at
 * the first deadline and looks again when it fires.)
 */
TEST(calls_keep_a_connection_from_idling)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *busy = NULL, *idle = NULL;
	unsigned calls = 0;
	int fd;

	env_new(&e);
	set_timeouts(&e, 1000 * 1000, 0);
	busy = connect_client(&e, &fd);
	idle = connect_client(&e, NULL);
	while (varlink_server_connections(e.server) > 1) {
		send_raw(fd, "{\"method\":\"org.example.test.Echo\"}");
		pump(&e);
		expect_reply(busy, NULL, "{}");
		calls++;
		ASSERT_OK(sd_event_run(e.event, 10 * 1000));
	}
	expect_closed_client(idle);
	ASSERT_TRUE(calls > 1);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\"}");
	pump(&e);
	expect_reply(busy, NULL, "{}");
	pump_until(&e, connections_at_most, (void *)0);
	expect_closed(&e, busy);
	busy = varlink_client_free(busy);
	idle = varlink_client_free(idle);
	env_free(&e);
}

TEST(half_sent_message_is_cut_off)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	set_timeouts(&e, 0, 100 * 1000);
	cl = connect_client(&e, &fd);
	send_bytes(fd, "{\"method\":\"org.example.test.Echo\"", 32);
	pump_until(&e, connections_at_most, (void *)0);
	expect_closed(&e, cl);
	cl = varlink_client_free(cl);
	env_free(&e);
}

/*
 * A Monitor-like call, pending with "more", is not idle: it outlives a second connection that
 * came later and was closed for idling, and still streams.
 */
TEST(pending_more_call_is_not_idle)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *mon = NULL, *idle = NULL;
	_cleanup_json_ json_object *reply = NULL;
	json_object *p;
	int fd;

	env_new(&e);
	set_timeouts(&e, 100 * 1000, 100 * 1000);
	mon = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Later\",\"more\":true}");
	pump(&e);
	ASSERT_NOT_NULL(held);
	idle = connect_client(&e, NULL);
	pump_until(&e, connections_at_most, (void *)1);
	expect_closed_client(idle);

	ASSERT_FALSE(varlink_conn_is_closed(held));
	p = json_object_new_object();
	ASSERT_OK(json_add_int(p, "event", 1));
	ASSERT_OK(varlink_notify(held, p));
	pump(&e);
	reply = recv_reply(mon);
	ASSERT_TRUE(varlink_reply_continues(reply));
	ASSERT_OK(varlink_reply(held, NULL));
	pump(&e);
	expect_reply(mon, NULL, "{}");
	mon = varlink_client_free(mon);
	idle = varlink_client_free(idle);
	env_free(&e);
}

/*
 * A stream to a reader who does not read: past output_max of queue the call ends with
 * MonitorOverflow and the connection closes; the server never holds more than the cap.
 */
TEST(streamed_replies_to_a_reader_who_does_not_read_overflow)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	struct varlink_limits l;
	char pad[1024];
	size_t max_buffered = 0;
	unsigned sent = 0, got = 0;
	bool overflow = false;
	int fd, r;

	env_new(&e);
	varlink_limits_default(&l);
	l.output_max = 64 * 1024;
	varlink_server_set_limits(e.server, &l);
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;

	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Later\",\"more\":true}");
	pump(&e);
	ASSERT_NOT_NULL(held);
	for (;; sent++) {
		json_object *p = json_object_new_object();

		ASSERT_OK(json_add_str(p, "pad", pad));
		r = varlink_notify(held, p);
		max_buffered = MAX(max_buffered, varlink_server_buffered(e.server));
		if (r == -ENOBUFS)
			break;
		ASSERT_OK(r);
		ASSERT_TRUE(sent < 100000);	/* the socket buffer is far smaller */
		pump(&e);
	}
	printf("# %u notifications before the overflow, at most %zu bytes held\n", sent,
	       max_buffered);
	/* The queue, the message being sent, the final error. */
	ASSERT_TRUE(max_buffered <= l.output_max + 2 * sizeof(pad) + 256);
	ASSERT_TRUE(varlink_conn_is_closed(held));
	ASSERT_ERROR(varlink_notify(held, NULL), ECONNRESET);

	/* The reader gets what was queued before, then the error, then the end. */
	for (;;) {
		_cleanup_json_ json_object *reply = NULL;

		pump(&e);
		r = varlink_client_recv(cl, 10, &reply);
		if (r == -ETIMEDOUT)
			continue;
		if (r == -ECONNRESET)
			break;
		ASSERT_OK(r);
		ASSERT_FALSE(overflow);
		if (varlink_reply_continues(reply))
			got++;
		else {
			json_object *v = NULL;

			ASSERT_STREQ(varlink_reply_error(reply), VARLINK_ERROR_OUTPUT_OVERFLOW);
			ASSERT_TRUE(json_object_object_get_ex(varlink_reply_params(reply), "output_max",
							      &v));
			ASSERT_EQ(json_object_get_int64(v), l.output_max);
			overflow = true;
		}
	}
	ASSERT_TRUE(overflow);
	ASSERT_TRUE(got <= sent);
	ASSERT_EQ(varlink_server_connections(e.server), 0);
	cl = varlink_client_free(cl);
	env_free(&e);
}

/*
 * The buffers of unprivileged peers have one budget. A 512 KiB reply nobody reads puts them
 * past 256 KiB: another unprivileged call waits (it is not even read) and a stream that has
 * to queue ends with MonitorOverflow, while a privileged peer is answered. Once the reply is
 * read, the waiting call is answered.
 */
TEST(unprivileged_peers_share_one_buffer_budget)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *big = NULL, *other = NULL,
							   *root = NULL, *mon = NULL;
	_cleanup_json_ json_object *reply = NULL;
	struct varlink_limits l;
	struct varlink_conn *stream;
	char pad[1024];
	bool privileged = false;
	int fd_big, fd_other, fd_root, fd_mon, r;
	unsigned sent = 0;

	env_new(&e);
	varlink_limits_default(&l);
	l.unprivileged_buffer_max = 256 * 1024;
	varlink_server_set_limits(e.server, &l);
	varlink_server_set_privileged(e.server, privileged_if_set, &privileged);
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;

	/* A stream whose reader does not read: some of it is queued, under the budget. */
	mon = connect_client(&e, &fd_mon);
	send_raw(fd_mon, "{\"method\":\"org.example.test.Later\",\"more\":true}");
	pump(&e);
	ASSERT_NOT_NULL(held);
	stream = TAKE_PTR(held);
	while (varlink_server_buffered(e.server) == 0) {
		json_object *p = json_object_new_object();

		ASSERT_OK(json_add_str(p, "pad", pad));
		ASSERT_OK(varlink_notify(stream, p));
		ASSERT_TRUE(++sent < 100000);
	}

	big = connect_client(&e, &fd_big);
	send_raw(fd_big, "{\"method\":\"org.example.test.Big\",\"parameters\":{\"size\":524288}}");
	pump(&e);
	ASSERT_TRUE(varlink_server_buffered(e.server) > l.unprivileged_buffer_max);

	other = connect_client(&e, &fd_other);
	send_raw(fd_other, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"o\":1}}");
	pump(&e);
	ASSERT_FALSE(readable(fd_other));

	privileged = true;
	root = connect_client(&e, &fd_root);
	privileged = false;
	send_raw(fd_root, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"r\":1}}");
	pump(&e);
	expect_reply(root, NULL, "{\"r\":1}");

	{
		json_object *p = json_object_new_object();

		ASSERT_OK(json_add_str(p, "pad", pad));
		ASSERT_ERROR(varlink_notify(stream, p), ENOBUFS);
	}
	ASSERT_TRUE(varlink_conn_is_closed(stream));
	stream = varlink_conn_unref(stream);
	/* The stream's reader gets what was queued, then the error. */
	for (;;) {
		_cleanup_json_ json_object *m = NULL;

		pump(&e);
		r = varlink_client_recv(mon, 10, &m);
		if (r == -ETIMEDOUT)
			continue;
		ASSERT_OK(r);
		if (!varlink_reply_continues(m)) {
			ASSERT_STREQ(varlink_reply_error(m), VARLINK_ERROR_OUTPUT_OVERFLOW);
			break;
		}
	}

	/* Still waiting; then the big reply is read. */
	pump(&e);
	ASSERT_FALSE(readable(fd_other));
	for (uint64_t deadline = now_usec() + 30 * 1000000ULL; !reply;) {
		pump(&e);
		r = varlink_client_recv(big, 10, &reply);
		if (r != -ETIMEDOUT)
			ASSERT_OK(r);
		ASSERT_TRUE(now_usec() < deadline);
	}
	pump_until(&e, fd_readable, &fd_other);
	expect_reply(other, NULL, "{\"o\":1}");
	ASSERT_EQ(varlink_server_buffered(e.server), 0);

	mon = varlink_client_free(mon);
	big = varlink_client_free(big);
	other = varlink_client_free(other);
	root = varlink_client_free(root);
	env_free(&e);
}

/* A server whose replies may be at most 4 KiB, and a client of it. */
static struct varlink_client *connect_reply_max_4k(struct env *e, int *ret_fd)
{
	struct varlink_limits l;

	env_new(e);
	varlink_limits_default(&l);
	l.reply_max = 4096;
	varlink_server_set_limits(e->server, &l);
	return connect_client(e, ret_fd);
}

TEST(reply_larger_than_reply_max_becomes_an_error)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	cl = connect_reply_max_4k(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Big\",\"parameters\":{\"size\":8192}}");
	send_raw(fd, "{\"method\":\"org.example.test.Big\",\"parameters\":{\"size\":100}}");
	pump(&e);
	expect_reply(cl, ERRNO_ERROR,
		     "{\"errno\":90,\"errno_name\":\"EMSGSIZE\",\"message\":\"Message too long\"}");
	json_object_put(recv_reply(cl));
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* A reply given as text is the same message: in order behind others, UTF-8 made valid,
 * nothing for a oneway call, one final reply to a call that would take more (the Varlink
 * spec lets a method that does not stream answer it once), and too large for reply_max an
 * error. */
TEST(reply_as_text)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	cl = connect_reply_max_4k(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Text\",\"parameters\":{\"size\":3}}");
	send_raw(fd, "{\"method\":\"org.example.test.Text\"}");
	send_raw(fd, "{\"method\":\"org.example.test.Text\",\"oneway\":true}");
	send_raw(fd, "{\"method\":\"org.example.test.Text\",\"parameters\":{\"size\":2},\"more\":true}");
	send_raw(fd, "{\"method\":\"org.example.test.Text\",\"parameters\":{\"size\":8192}}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"a\":1}}");
	pump(&e);
	expect_reply(cl, NULL, "{\"data\":\"xxx\"}");
	expect_reply(cl, NULL, "{\"s\":\"caf\xef\xbf\xbd ok\"}");
	expect_reply(cl, NULL, "{\"data\":\"xx\"}");	/* final: no "continues" */
	expect_reply(cl, ERRNO_ERROR,
		     "{\"errno\":90,\"errno_name\":\"EMSGSIZE\",\"message\":\"Message too long\"}");
	expect_reply(cl, NULL, "{\"a\":1}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* What a reply given in pieces trusts the caller with: text made valid beforehand. */
TEST(text_sanitize)
{
	_cleanup_free_ char *ok = strdup("caf\xc3\xa9"), *bad = strdup("caf\xe9 \xc0\x80!");
	const char *was = ok;
	size_t n_ok = strlen(ok), n_bad = strlen(bad);

	ASSERT_OK(varlink_text_sanitize(&ok, &n_ok));
	ASSERT_TRUE(ok == was);	/* valid: left as it is */
	ASSERT_EQ(n_ok, 5);
	ASSERT_OK(varlink_text_sanitize(&bad, &n_bad));
	ASSERT_EQ(n_bad, strlen("caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd!"));
	ASSERT_TRUE(memcmp(bad, "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd!", n_bad) == 0);
}

TEST(limits_fit_the_file_descriptors)
{
	struct varlink_limits l;

	varlink_limits_default(&l);
	varlink_limits_fit_nofile(&l, 524288);	/* systemd's default hard limit */
	ASSERT_EQ(l.connections_max, VARLINK_CONNECTIONS_MAX);
	ASSERT_EQ(l.connections_reserved, VARLINK_CONNECTIONS_RESERVED);
	/* At least 1,000 idle connections for unprivileged peers with the usual 20,000 too. */
	varlink_limits_fit_nofile(&l, 20000);
	ASSERT_TRUE(l.connections_max - l.connections_reserved >= 1000);
	varlink_limits_fit_nofile(&l, 1024);
	ASSERT_EQ(l.connections_max, 768);
	ASSERT_EQ(l.connections_reserved, VARLINK_CONNECTIONS_RESERVED);
	varlink_limits_fit_nofile(&l, 100);
	ASSERT_EQ(l.connections_max, 75);
	ASSERT_EQ(l.connections_reserved, 18);
}

/* --- peer credentials and lock-out, with real connections from other uids ------------------ */

struct listen_env {
	struct env e;
	char dir[64], path[128];
};

static void listen_env_new(struct listen_env *le)
{
	env_new(&le->e);
	snprintf(le->dir, sizeof(le->dir), "/tmp/pcipass-test-varlink-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(le->dir));
	ASSERT_OK(chmod(le->dir, 0755));	/* other uids connect too */
	snprintf(le->path, sizeof(le->path), "%s/socket", le->dir);
	ASSERT_OK(varlink_server_listen_path(le->e.server, le->path, 0666));
}

static void listen_env_free(struct listen_env *le)
{
	env_free(&le->e);
	(void)unlink(le->path);
	(void)rmdir(le->dir);
}

/* Connects to path; the fd is not close-on-exec. */
static int connect_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -errno;
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static bool held_set(struct env *e, void *userdata)
{
	return held != NULL;
}

static void expect_groups(const struct peer_creds *pc, const gid_t *groups, size_t n)
{
	ASSERT_EQ(pc->n_groups, n);
	for (size_t i = 0; i < n; i++)
		ASSERT_EQ(pc->groups[i], groups[i]);
}

/*
 * The credentials are the peer's as of connect(): a child connects as uid 4100 with groups
 * 4101 and 4102, then becomes root with group 0 and execs. What the server recorded does not
 * change (while /proc of that pid now shows root): privilege cannot appear later, not through
 * setuid, exec, nor a pid reused.
 */
TEST(peer_credentials_are_those_of_connect_time)
{
	static const gid_t groups[] = { 4101, 4102 };
	struct listen_env le = {};
	const struct peer_creds *pc;
	int connected[2], go[2], status = 0;
	char ch = 0;
	pid_t pid;

	if (geteuid() != 0)
		SKIP_TEST("needs root to change uid and groups");
	listen_env_new(&le);
	ASSERT_OK(pipe2(connected, O_CLOEXEC));
	ASSERT_OK(pipe2(go, O_CLOEXEC));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		static const gid_t root_groups[] = { 0 };
		int fd;

		close(connected[0]);
		close(go[1]);
		/* Saved uid 0: the way back to root stays open. */
		if (setgroups(ELEMENTSOF(groups), groups) < 0 || setresgid(4100, 4100, 0) < 0 ||
		    setresuid(4100, 4100, 0) < 0)
			_exit(10);
		fd = connect_path(le.path);
		if (fd < 0 || write(fd, "{\"method\":\"org.example.test.Later\"}", 36) != 36)
			_exit(11);
		if (write(connected[1], "c", 1) != 1 || read(go[0], &ch, 1) != 1)
			_exit(12);
		if (setresuid(0, 0, 0) < 0 || setgroups(1, root_groups) < 0 ||
		    setresgid(0, 0, 0) < 0)
			_exit(13);
		/* Set after the uid changes, which clear it: a failed test leaves no sleeper. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sleep", "sleep", "600", NULL);
		_exit(14);
	}
	close(connected[1]);
	close(go[0]);

	pump_until(&le.e, held_set, NULL);
	pc = varlink_conn_creds(held);
	ASSERT_EQ(pc->pid, pid);
	ASSERT_EQ(pc->uid, 4100);
	ASSERT_EQ(pc->gid, 4100);
	expect_groups(pc, groups, ELEMENTSOF(groups));
	ASSERT_TRUE(peer_creds_in_group(pc, 4100));
	ASSERT_TRUE(peer_creds_in_group(pc, 4102));
	ASSERT_FALSE(peer_creds_in_group(pc, 0));
	ASSERT_FALSE(varlink_conn_is_privileged(held));

	/* Let it change, and wait for its exec (which closes its end of the pipe). */
	ASSERT_EQ(write(go[1], "g", 1), 1);
	ASSERT_EQ(read(connected[0], &ch, 1), 1);
	ASSERT_EQ(ch, 'c');
	ASSERT_EQ(read(connected[0], &ch, 1), 0);
	{
		char path[64], line[256];
		bool root = false;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		f = fopen(path, "re");
		ASSERT_NOT_NULL(f);
		while (fgets(line, sizeof(line), f))
			root = root || strncmp(line, "Uid:\t0\t", 7) == 0;
		fclose(f);
		ASSERT_TRUE(root);	/* what a /proc reader would now believe */
	}
	pump(&le.e);
	pc = varlink_conn_creds(held);
	ASSERT_EQ(pc->uid, 4100);
	ASSERT_EQ(pc->gid, 4100);
	expect_groups(pc, groups, ELEMENTSOF(groups));
	ASSERT_FALSE(peer_creds_in_group(pc, 0));
	ASSERT_FALSE(varlink_conn_is_privileged(held));
	ASSERT_FALSE(varlink_conn_is_closed(held));

	ASSERT_OK(kill(pid, SIGKILL));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	close(connected[0]);
	close(go[1]);
	listen_env_free(&le);
}

/* The peer-side view of one connection: its TooManyConnections limit, or NULL if served. */
static int child_try_connect(const char *path, const char **ret_refused)
{
	static char limit[64];
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	json_object *reply = NULL, *params = NULL, *v = NULL;
	const char *error = NULL;
	int r;

	*ret_refused = NULL;
	r = varlink_client_connect(path, &cl);
	if (r < 0)
		return r;
	r = varlink_client_call(cl, "org.example.test.Echo", NULL, &reply, &params, &error);
	if (r < 0)
		return r;
	*ret_refused = NULL;
	if (error) {
		if (!streq(error, VARLINK_ERROR_TOO_MANY_CONNECTIONS) ||
		    !json_object_object_get_ex(params, "limit", &v))
			r = -EBADMSG;
		else {
			snprintf(limit, sizeof(limit), "%s", json_object_get_string(v));
			*ret_refused = limit;
		}
	}
	json_object_put(reply);
	if (r >= 0 && !*ret_refused) {
		/* Served: keep the connection open until the parent says. */
		(void)TAKE_PTR(cl);
	}
	return r;
}

/*
 * Child: becomes uid, opens n connections that must be served, then one that must be refused
 * for "refused" (NULL: none), reports 'k' (or 'f') on report, and holds its connections until
 * hold reaches EOF.
 */
static pid_t child_hold(const char *path, uid_t uid, unsigned n, const char *refused,
			const int report[2], const int hold[2])
{
	pid_t pid = fork();
	const char *why = NULL;
	char ch = 'k';

	if (pid != 0)
		return pid;
	/* Only the parent holds hold open: its close, or its death, lets us go. */
	close(report[0]);
	close(hold[1]);
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(10);
	for (unsigned i = 0; i < n; i++)
		if (child_try_connect(path, &why) < 0 || why) {
			printf("# uid %u: connection %u was refused (%s)\n", (unsigned)uid, i,
			       why ?: "error");
			ch = 'f';
		}
	if (refused && (child_try_connect(path, &why) < 0 || !streq(why, refused))) {
		printf("# uid %u: expected a refusal for %s, got %s\n", (unsigned)uid, refused,
		       why ?: "served");
		ch = 'f';
	}
	fflush(stdout);
	if (write(report[1], &ch, 1) != 1)
		_exit(11);
	while (read(hold[0], &ch, 1) > 0)
		;
	_exit(0);
}

static void expect_report(struct env *e, int fd)
{
	char ch = 0;

	pump_until(e, fd_readable, &fd);
	ASSERT_EQ(read(fd, &ch, 1), 1);
	ASSERT_EQ(ch, 'k');
}

/*
 * Unprivileged uids holding their maximum of idle connections use up all but the reserved
 * connections; a further uid is refused with TooManyConnections, and root still connects and
 * is served, up to the total.
 */
TEST(root_is_served_while_unprivileged_uids_hold_their_maximum)
{
	struct listen_env le = {};
	struct varlink_limits l;
	int report[2], hold[2], status = 0;
	pid_t pids[3];
	struct varlink_client *root[3] = {};

	if (geteuid() != 0)
		SKIP_TEST("needs root to become other uids");
	listen_env_new(&le);
	varlink_limits_default(&l);
	l.connections_max = 12;
	l.connections_reserved = 2;
	l.connections_per_uid_max = 5;
	varlink_server_set_limits(le.e.server, &l);
	ASSERT_OK(pipe2(report, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));

	/* Two uids take 5 each, and the sixth of each is refused. */
	for (unsigned i = 0; i < 2; i++) {
		pids[i] = child_hold(le.path, 4201 + i, 5, "connections_per_uid", report, hold);
		ASSERT_OK(pids[i]);
		expect_report(&le.e, report[0]);
	}
	ASSERT_EQ(varlink_server_connections(le.e.server), 10);
	/* A third finds no connection left for it. */
	pids[2] = child_hold(le.path, 4203, 0, "connections", report, hold);
	ASSERT_OK(pids[2]);
	expect_report(&le.e, report[0]);

	/* Root gets the reserved two, and is served on them. */
	for (unsigned i = 0; i < 2; i++) {
		int fd = connect_path(le.path);

		ASSERT_OK(fd);
		ASSERT_OK(varlink_client_new_fd(fd, &root[i]));
		send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"root\":true}}");
		pump_until(&le.e, fd_readable, &fd);
		expect_reply(root[i], NULL, "{\"root\":true}");
	}
	ASSERT_EQ(varlink_server_connections(le.e.server), 12);
	{
		int fd = connect_path(le.path);

		ASSERT_OK(fd);
		pump_until(&le.e, fd_readable, &fd);
		expect_refused(fd, "connections", 12);
	}

	close(hold[1]);
	for (unsigned i = 0; i < ELEMENTSOF(pids); i++) {
		ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (unsigned i = 0; i < ELEMENTSOF(root); i++)
		varlink_client_free(root[i]);
	close(report[0]);
	close(report[1]);
	close(hold[0]);
	listen_env_free(&le);
}

/* --- what comes in must be JSON text, and say what it seems to ----------------------------- */

/* Answers with what json_dispatch() made of its parameters. */
static int method_dispatch(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	struct {
		const char *name;
		struct json_opt_int small, big;
	} p;
	static const struct json_field fields[] = {
		{ "name", JSON_FIELD_STRING, 0, offsetof(typeof(p), name) },
		{ "small", JSON_FIELD_INT, 0, offsetof(typeof(p), small), 0, 255 },
		{ "big", JSON_FIELD_INT, 0, offsetof(typeof(p), big) },
		{}
	};
	json_object *reply;
	const char *bad = NULL;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	reply = json_object_new_object();
	ASSERT_OK(json_add_str(reply, "name", p.name));
	if (p.small.set)
		ASSERT_OK(json_add_int(reply, "small", p.small.value));
	if (p.big.set)
		ASSERT_OK(json_add_int(reply, "big", p.big.value));
	return varlink_reply(c, reply);
}

/* Answers with a string that is not UTF-8, as sysfs or a file might give. */
static int method_latin1(struct varlink_conn *c, json_object *params, unsigned flags, void *u)
{
	json_object *p = json_object_new_object();

	ASSERT_OK(json_add_str(p, "s", "caf\xe9 \xc0\x80 ok"));
	return varlink_reply(c, p);
}

static const struct varlink_method check_methods[] = {
	{ "Dispatch", method_dispatch },
	{ "Latin1", method_latin1 },
	{ "Count", method_count },
	{}
};

static const struct varlink_interface check_iface = {
	.name = "org.example.check",
	.description = "interface org.example.check\n",
	.methods = check_methods,
};

static void check_env_new(struct env *e)
{
	env_new(e);
	ASSERT_OK(varlink_server_add_interface(e->server, &check_iface));
}

/* Each message breaks the protocol: the good call before is answered, nothing after runs. */
static void expect_violations(const char *const *bad, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct env e = {};
		_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
		int fd;

		check_env_new(&e);
		cl = connect_client(&e, &fd);
		send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\":0}}");
		send_raw(fd, bad[i]);
		send_raw(fd, "{\"method\":\"org.example.test.Count\"}");
		pump(&e);
		printf("# %zu: %s\n", i, bad[i]);
		expect_reply(cl, NULL, "{\"n\":0}");
		expect_closed(&e, cl);
		ASSERT_EQ(counted, 0);
		cl = varlink_client_free(cl);
		env_free(&e);
	}
}

TEST(invalid_utf8_is_a_protocol_violation)
{
	static const char *const bad[] = {
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"\xff\"}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"caf\xe9\"}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"\xc3\"}}",
		/* what json-c's own check lets through: overlong, surrogate, above U+10FFFF */
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"\xc0\x80\"}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"\xed\xa0\x80\"}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"\xf4\x90\x80\x80\"}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"\xff\":1}}",
		"{\"method\":\"org.example.test.Echo\xe2\x82\"}",
	};

	expect_violations(bad, ELEMENTSOF(bad));
}

TEST(what_json_c_accepts_beyond_json_is_a_protocol_violation)
{
	static const char *const bad[] = {
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":NaN}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":Infinity}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":-Infinity}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":[1.]}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":01}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":1,}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{'x':1}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":\"a\tb\"}}",
		"{\"method\":\"org.example.test.Echo\",/* c */\"parameters\":{}}",
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"x\":True}}",
		/* a NUL in a key: json-c would cut "n\u0000x" to "n" */
		"{\"method\":\"org.example.test.Echo\",\"parameters\":{\"n\\u0000x\":1}}",
		"{\"method\\u0000\":\"org.example.test.Count\"}",
	};

	expect_violations(bad, ELEMENTSOF(bad));
}

TEST(valid_utf8_and_escapes_round_trip)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"s\":\"caf\xc3\xa9 "
		     "\xf0\x9f\x98\x80 \\ud83d\\ude00 \\\\u0000 \\t\",\"e\":1e3,\"f\":-0.5}}");
	pump(&e);
	expect_reply(cl, NULL, "{\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xf0\x9f\x98\x80 \\\\u0000 \\t\","
		     "\"e\":1e3,\"f\":-0.5}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(replies_are_valid_utf8)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	check_env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.check.Latin1\"}");
	pump(&e);
	expect_reply(cl, NULL, "{\"s\":\"caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd ok\"}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* "org.example.check.Count\u0000Dispatch" must not run Count, nor echo the NUL. */
TEST(nul_in_method_name_is_refused)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	check_env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.check.Count\\u0000Dispatch\"}");
	send_raw(fd, "{\"method\":\"org.example.check\\u0000.Count\"}");
	send_raw(fd, "{\"method\":\"\\u0000\"}");
	send_raw(fd, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"after\":1}}");
	pump(&e);
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"method\"}");
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"method\"}");
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"method\"}");
	expect_reply(cl, NULL, "{\"after\":1}");
	ASSERT_EQ(counted, 0);
	cl = varlink_client_free(cl);
	env_free(&e);
}

TEST(nul_in_string_parameter_is_refused)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	check_env_new(&e);
	cl = connect_client(&e, &fd);
	send_raw(fd, "{\"method\":\"org.example.check.Dispatch\",\"parameters\":{\"name\":\"a\\u0000b\"}}");
	send_raw(fd, "{\"method\":\"org.example.check.Dispatch\",\"parameters\":{\"name\":\"\\u0000\"}}");
	send_raw(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":{\"interface\":\"org.example.test\\u0000x\"}}");
	send_raw(fd, "{\"method\":\"org.example.check.Dispatch\",\"parameters\":{\"name\":\"a\\u0001b\"}}");
	pump(&e);
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"name\"}");
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"name\"}");
	expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, "{\"parameter\":\"interface\"}");
	expect_reply(cl, NULL, "{\"name\":\"a\\u0001b\"}");
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* json-c clamps what does not fit in an int64, silently: such numbers must not pass for it. */
TEST(integers_out_of_range_are_refused)
{
	static const struct {
		const char *params, *error, *reply;
	} cases[] = {
		{ "{\"big\":18446744073709551616}", "big", NULL },	/* 2^64 */
		{ "{\"big\":18446744073709551615}", "big", NULL },
		{ "{\"big\":9223372036854775808}", "big", NULL },	/* 2^63 */
		{ "{\"big\":-9223372036854775809}", "big", NULL },
		{ "{\"big\":-9223372036854775808}", "big", NULL },	/* indistinguishable */
		{ "{\"big\":99999999999999999999999999999}", "big", NULL },
		{ "{\"big\":1.0}", "big", NULL },
		{ "{\"big\":1e3}", "big", NULL },
		{ "{\"big\":\"5\"}", "big", NULL },
		{ "{\"big\":9223372036854775807}", NULL,
		  "{\"name\":null,\"big\":9223372036854775807}" },
		{ "{\"big\":-9223372036854775807}", NULL,
		  "{\"name\":null,\"big\":-9223372036854775807}" },
		{ "{\"small\":256}", "small", NULL },
		{ "{\"small\":-1}", "small", NULL },
		{ "{\"small\":18446744073709551616}", "small", NULL },
		{ "{\"small\":255,\"big\":0}", NULL, "{\"name\":null,\"small\":255,\"big\":0}" },
		{ "{\"small\":0}", NULL, "{\"name\":null,\"small\":0}" },
	};
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *cl = NULL;
	int fd;

	check_env_new(&e);
	cl = connect_client(&e, &fd);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *msg = NULL, *expected = NULL;

		ASSERT_OK(asprintf(&msg, "{\"method\":\"org.example.check.Dispatch\",\"parameters\":%s}",
				   cases[i].params));
		send_raw(fd, msg);
		pump(&e);
		printf("# %s\n", cases[i].params);
		if (cases[i].error) {
			ASSERT_OK(asprintf(&expected, "{\"parameter\":\"%s\"}", cases[i].error));
			expect_reply(cl, VARLINK_ERROR_INVALID_PARAMETER, expected);
		} else
			expect_reply(cl, NULL, cases[i].reply);
	}
	cl = varlink_client_free(cl);
	env_free(&e);
}

/* --- base64 (lib/util.c), binary data in JSON strings ---------------------------------------- */

/* read_full_fd: the whole of it, NUL after; one byte over max is -EFBIG; growth past 64 KiB. */
TEST(read_full_fd_limits)
{
	static const size_t sizes[] = { 0, 10, 65536, 65537, 200000 };

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		_cleanup_free_ uint8_t *data = malloc(sizes[i] + 1), *got = NULL;
		char path[] = "/tmp/pcipass-read-full-XXXXXX";
		int fd = mkstemp(path);
		size_t n = SIZE_MAX;

		ASSERT_TRUE(data && fd >= 0);
		(void)unlink(path);
		for (size_t j = 0; j < sizes[i]; j++)
			data[j] = (uint8_t)(j * 13);
		ASSERT_EQ(write(fd, data, sizes[i]), (ssize_t)sizes[i]);
		ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
		ASSERT_OK(read_full_fd(fd, sizes[i], &got, &n));
		ASSERT_EQ(n, sizes[i]);
		ASSERT_TRUE(memcmp(got, data, n) == 0 && got[n] == 0);
		if (sizes[i] > 0) {
			got = mfree(got);
			ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
			ASSERT_ERROR(read_full_fd(fd, sizes[i] - 1, &got, &n), EFBIG);
			ASSERT_TRUE(!got);
		}
		close(fd);
	}
}

TEST(base64_rfc4648_vectors)
{
	static const char *const vectors[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};

	for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
		_cleanup_free_ char *enc = NULL;
		_cleanup_free_ uint8_t *dec = NULL;
		size_t n = SIZE_MAX;

		ASSERT_OK(base64_encode(vectors[i][0], strlen(vectors[i][0]), &enc));
		ASSERT_STREQ(enc, vectors[i][1]);
		ASSERT_EQ(strlen(enc), BASE64_ENCODED_SIZE(strlen(vectors[i][0])));
		ASSERT_OK(base64_decode(enc, strlen(enc), &dec, &n));
		ASSERT_EQ(n, strlen(vectors[i][0]));
		ASSERT_EQ(memcmp(dec, vectors[i][0], n), 0);
		ASSERT_EQ(dec[n], 0);	/* NUL after the data */
	}
}

TEST(base64_round_trip_every_byte_and_length)
{
	uint8_t in[600];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + i / 256);	/* every value, in varying order */
	for (size_t len = 0; len <= sizeof(in); len++) {
		_cleanup_free_ char *enc = NULL;
		_cleanup_free_ uint8_t *dec = NULL;
		size_t n = 0;

		ASSERT_OK(base64_encode(in, len, &enc));
		ASSERT_EQ(strlen(enc), BASE64_ENCODED_SIZE(len));
		ASSERT_EQ(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "abcdefghijklmnopqrstuvwxyz0123456789+/="), strlen(enc));
		ASSERT_OK(base64_decode(enc, strlen(enc), &dec, &n));
		ASSERT_EQ(n, len);
		ASSERT_EQ(memcmp(dec, in, len), 0);
	}
}

TEST(base64_decode_refuses_anything_else)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm9vY", "Z===", "====", "=Zm9", "Zg==Zg==", "Zm=v",
		"Zh==",		/* unused bits set: a second spelling of "f" */
		"Zm9=",		/* likewise for "fo" */
		"Zm9v\n", "Zm 9v", " Zm9v", "Zm9v====",
		"Zm-v", "Zm_v",	/* the URL-safe alphabet */
		"Zm9\xc3", "Zm9.",
	};
	uint8_t *dec = NULL;
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (base64_decode(bad[i], strlen(bad[i]), &dec, &n) != -EINVAL)
			TEST_FAIL("'%s' was accepted", bad[i]);
	/* A NUL inside the given length is a bad character, not the end. */
	ASSERT_ERROR(base64_decode("Zm\0v", 4, &dec, &n), EINVAL);
	ASSERT_NULL(dec);
}

DEFINE_TEST_MAIN
