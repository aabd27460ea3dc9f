/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Varlink server and client of lib/varlink.c, over socket pairs: framing (split and merged
 * writes), ordering and pipelining, oneway and more, the built-in service interface, the
 * protocol errors, and the limits that keep one bad peer from hurting the daemon. And base64
 * (lib/util.c), how binary data travels in JSON strings.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
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

static const struct varlink_method test_methods[] = {
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
	const struct varlink_limits l = {
		.message_max = 1024, .output_max = 1 << 20,
		.connections_max = 8, .connections_per_uid_max = 8,
	};
	int fd, fd2;

	env_new(&e);
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

TEST(connection_limits)
{
	struct env e = {};
	const struct varlink_limits l = {
		.message_max = 1024, .output_max = 1 << 20,
		.connections_max = 3, .connections_per_uid_max = 2,
	};
	struct varlink_limits l2 = l;
	int sv[2];

	env_new(&e);
	varlink_server_set_limits(e.server, &l);
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		ASSERT_OK(varlink_server_add_connection(e.server, sv[0], NULL));
		close(sv[1]);	/* the server notices on its next turn */
	}
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERROR(varlink_server_add_connection(e.server, sv[0], NULL), EUSERS);
	close(sv[1]);

	l2.connections_per_uid_max = 10;
	varlink_server_set_limits(e.server, &l2);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(varlink_server_add_connection(e.server, sv[0], NULL));
	close(sv[1]);
	ASSERT_EQ(varlink_server_connections(e.server), 3);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERROR(varlink_server_add_connection(e.server, sv[0], NULL), EMFILE);
	close(sv[1]);

	/* Hung-up peers free their slots. */
	pump(&e);
	ASSERT_EQ(varlink_server_connections(e.server), 0);
	env_free(&e);
}

TEST(stalled_reader_is_dropped_others_served)
{
	struct env e = {};
	_cleanup_(varlink_client_freep) struct varlink_client *slow = NULL, *fast = NULL;
	const struct varlink_limits l = {
		.message_max = 4096, .output_max = 256 * 1024,
		.connections_max = 8, .connections_per_uid_max = 8,
	};
	int fd_slow, fd_fast;

	env_new(&e);
	varlink_server_set_limits(e.server, &l);
	slow = connect_client(&e, &fd_slow);
	fast = connect_client(&e, &fd_fast);

	/* 64 replies of 64 KiB: far more than the socket buffers plus the output limit. The
	 * slow client never reads. */
	for (int i = 0; i < 64; i++) {
		send_raw(fd_slow, "{\"method\":\"org.example.test.Big\",\"parameters\":{\"size\":65536}}");
		pump(&e);
		send_raw(fd_fast, "{\"method\":\"org.example.test.Echo\"}");
		pump(&e);
		expect_reply(fast, NULL, "{}");
		if (varlink_server_connections(e.server) == 1)
			break;
	}
	ASSERT_EQ(varlink_server_connections(e.server), 1);

	/* The slow client reads what was sent before it was dropped, then end of stream. */
	for (;;) {
		json_object *reply = NULL;
		int r = varlink_client_recv(slow, 2000, &reply);

		if (r == -ECONNRESET)
			break;
		ASSERT_OK(r);
		ASSERT_NULL(varlink_reply_error(reply));
		json_object_put(reply);
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

/*
 * A reply may be far larger than what the server accepts in one message (VARLINK_MESSAGE_MAX):
 * DumpRom answers with up to 16 MiB of ROM in base64. The client takes up to
 * VARLINK_OUTPUT_MAX, what a server may queue for one peer.
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
