/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/json-check.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/varlink-wire.h"
#include "lib/varlink.h"

#define LARGE_BUFFER (1024U * 1024U)	/* freed, it is trimmed from the heap */

static const char org_varlink_service_idl[] =
	"# The Varlink Service Interface is provided by every varlink service. It\n"
	"# describes the service and the interfaces it implements.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Get a list of all the interfaces a service provides and information\n"
	"# about the implementation.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# Get the description of an interface that is implemented by this service.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The requested interface was not found.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The requested method was not found\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the requested method, but the service does not\n"
	"# implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# One of the passed parameters is invalid.\n"
	"error InvalidParameter (parameter: string)\n"
	"\n"
	"# The caller is not allowed to call this method.\n"
	"error PermissionDenied ()\n"
	"\n"
	"# The method requires the 'more' flag and was called without it.\n"
	"error ExpectedMore ()\n";

struct varlink_conn {
	unsigned n_ref;
	struct varlink_server *server;	/* NULL once closed */
	int fd;
	sd_event_source *io, *timer;
	uint64_t timer_at;	/* when the timer fires, UINT64_MAX when off */
	struct peer_creds creds;
	bool privileged;

	char *rbuf;
	size_t roff, rlen, rsize;	/* input not handled yet is rbuf[roff, rlen) */
	size_t rscan;		/* rbuf[roff, rscan) has no NUL: where to look for the next one */
	uint64_t rstart;	/* when the message now in rbuf began (or reading resumed) */
	char *wbuf;
	size_t woff, wlen, wsize;	/* unsent output is wbuf[woff, wlen) */
	size_t whead;		/* end of the message being sent, 0 when not known */
	uint64_t wprogress;	/* when the peer last took output */
	uint64_t active;	/* when the last call ended, or the connection began */
	size_t charged;		/* rsize + wsize as counted in the server's budget */

	bool pending;	/* a call is being answered */
	bool oneway, more;
	bool read_eof;
	bool closing;	/* said its last: sends what is queued, then closes */

	void (*close_cb)(struct varlink_conn *c, void *userdata);
	void *close_userdata;

	struct varlink_conn *prev, *next;
	struct varlink_conn *ready_next;	/* in the server's queue of turns */
	bool ready;
};

struct varlink_server {
	sd_event *event;
	struct varlink_server_info info;
	void *userdata;
	struct varlink_limits limits;
	bool (*privileged)(const struct peer_creds *creds, void *userdata);
	void *privileged_userdata;

	const struct varlink_interface **ifaces;
	size_t n_ifaces;

	int listen_fd;
	sd_event_source *listen_src, *accept_retry;

	struct varlink_conn *conns;
	unsigned n_conns;

	/* Buffers of unprivileged connections, and whether one of them waits for room. */
	size_t unprivileged_buffered;
	bool budget_waiting;

	/*
	 * Connections with a complete call buffered, each waiting for its turn. The turns are
	 * served by an IO source on an eventfd that is always readable, enabled while the queue
	 * is not empty: a defer source re-enabled from its own callback would keep sd-event
	 * (252) from ever polling the sockets again, and every other peer would wait.
	 */
	struct varlink_conn *ready_head, *ready_tail;
	int turn_fd;
	sd_event_source *turn_src;
};

static int service_get_info(struct varlink_conn *c, json_object *params, unsigned flags,
			    void *userdata);
static int service_get_interface_description(struct varlink_conn *c, json_object *params,
					     unsigned flags, void *userdata);

static const struct varlink_method org_varlink_service_methods[] = {
	{ "GetInfo", service_get_info },
	{ "GetInterfaceDescription", service_get_interface_description },
	{}
};

static const struct varlink_interface org_varlink_service = {
	.name = "org.varlink.service",
	.description = org_varlink_service_idl,
	.methods = org_varlink_service_methods,
};

static void conn_update(struct varlink_conn *c);
static void server_resume(struct varlink_server *s);
static void conn_disconnect(struct varlink_conn *c);
static void conn_close_after_flush(struct varlink_conn *c);
static int conn_flush(struct varlink_conn *c);

/* --- buffers ----------------------------------------------------------------------------- */

/* --- connections -------------------------------------------------------------------------- */

struct varlink_conn *varlink_conn_ref(struct varlink_conn *c)
{
	if (c)
		c->n_ref++;
	return c;
}

struct varlink_conn *varlink_conn_unref(struct varlink_conn *c)
{
	if (!c)
		return NULL;
	assert(c->n_ref > 0);
	if (--c->n_ref > 0)
		return NULL;
	conn_disconnect(c);
	peer_creds_done(&c->creds);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
	return NULL;
}

bool varlink_conn_is_closed(const struct varlink_conn *c)
{
	return !c->server || c->closing;
}

const struct peer_creds *varlink_conn_creds(const struct varlink_conn *c)
{
	return &c->creds;
}

bool varlink_conn_is_privileged(const struct varlink_conn *c)
{
	return c->privileged;
}

uid_t varlink_conn_uid(const struct varlink_conn *c)
{
	return c->creds.uid;
}

pid_t varlink_conn_pid(const struct varlink_conn *c)
{
	return c->creds.pid;
}

void varlink_conn_set_close_callback(struct varlink_conn *c,
				     void (*cb)(struct varlink_conn *c, void *userdata),
				     void *userdata)
{
	c->close_cb = cb;
	c->close_userdata = userdata;
}

static uint64_t conn_now(struct varlink_conn *c)
{
	uint64_t t = 0;

	if (!c->server || sd_event_now(c->server->event, CLOCK_MONOTONIC, &t) < 0)
		return now_usec();
	return t;
}

/* Tells whoever keeps the connection that it is over for them. Once. */
static void conn_run_close_cb(struct varlink_conn *c)
{
	void (*cb)(struct varlink_conn *, void *) = c->close_cb;

	if (!cb)
		return;
	c->close_cb = NULL;
	cb(c, c->close_userdata);
}

/* Takes c out of the queue of turns. */
static void conn_unqueue(struct varlink_conn *c)
{
	struct varlink_server *s = c->server;

	if (!c->ready)
		return;
	if (s->ready_head == c)
		s->ready_head = c->ready_next;
	else
		for (struct varlink_conn *p = s->ready_head; p; p = p->ready_next)
			if (p->ready_next == c) {
				p->ready_next = c->ready_next;
				if (s->ready_tail == c)
					s->ready_tail = p;
				break;
			}
	if (!s->ready_head)
		s->ready_tail = NULL;
	c->ready_next = NULL;
	c->ready = false;
	if (!s->ready_head && s->turn_src)
		(void)sd_event_source_set_enabled(s->turn_src, SD_EVENT_OFF);
	(void)varlink_conn_unref(c);
}

/* Puts c at the end of the queue of turns (holding a reference). */
static void conn_enqueue(struct varlink_conn *c)
{
	struct varlink_server *s = c->server;

	if (c->ready)
		return;
	c->ready = true;
	varlink_conn_ref(c);
	if (s->ready_tail)
		s->ready_tail->ready_next = c;
	else
		s->ready_head = c;
	s->ready_tail = c;
	if (s->turn_src)
		(void)sd_event_source_set_enabled(s->turn_src, SD_EVENT_ON);
}

/* Counts the connection's buffers against what unprivileged peers may hold together. */
static void conn_charge(struct varlink_conn *c, struct varlink_server *s)
{
	size_t now = c->rsize + c->wsize;

	if (!s || c->privileged)
		return;
	s->unprivileged_buffered = s->unprivileged_buffered - c->charged + now;
	c->charged = now;
}

static bool server_over_budget(const struct varlink_server *s)
{
	return s->limits.unprivileged_buffer_max > 0 &&
	       s->unprivileged_buffered >= s->limits.unprivileged_buffer_max;
}

/* Unprivileged peers wait while their buffers together are at the budget. */
static bool conn_over_budget(const struct varlink_conn *c)
{
	return !c->privileged && server_over_budget(c->server);
}

/* Closes the socket and leaves the server; the object lives on while references remain. */
static void conn_disconnect(struct varlink_conn *c)
{
	struct varlink_server *s = c->server;

	if (!s)
		return;
	log_debug("varlink: closing connection fd %d (uid %u)", c->fd, (unsigned)c->creds.uid);
	conn_unqueue(c);
	c->server = NULL;
	c->io = sd_event_source_disable_unref(c->io);
	c->timer = sd_event_source_disable_unref(c->timer);
	c->fd = safe_close(c->fd);
	c->pending = false;
	c->rbuf = mfree(c->rbuf);
	c->roff = c->rlen = c->rsize = c->rscan = 0;
	c->wbuf = mfree(c->wbuf);
	c->woff = c->wlen = c->wsize = c->whead = 0;
	conn_charge(c, s);

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->n_conns--;
	/* A slot is free: accepting may have been paused for want of file descriptors. */
	if (s->accept_retry && s->listen_src) {
		s->accept_retry = sd_event_source_disable_unref(s->accept_retry);
		(void)sd_event_source_set_enabled(s->listen_src, SD_EVENT_ON);
	}

	if (s->budget_waiting && !server_over_budget(s))
		server_resume(s);
	conn_run_close_cb(c);
	/* The server's own reference. */
	(void)varlink_conn_unref(c);
}

static size_t conn_unsent(const struct varlink_conn *c)
{
	return c->wlen - c->woff;
}

/* The end of the message being sent: wbuf[woff, whead). Each message ends in its NUL. */
static size_t conn_head_end(struct varlink_conn *c)
{
	char *nul;

	if (c->woff == c->wlen)
		return c->wlen;
	if (c->whead > c->woff)
		return c->whead;
	nul = memchr(c->wbuf + c->woff, 0, c->wlen - c->woff);
	c->whead = nul ? (size_t)(nul - c->wbuf) + 1 : c->wlen;
	return c->whead;
}

/* Makes room for a message of n bytes at the end of the output. */
static int conn_reserve(struct varlink_conn *c, size_t n)
{
	int r;

	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = c->whead = 0;
	r = buf_reserve(&c->wbuf, &c->wsize, c->wlen + n);
	conn_charge(c, c->server);
	return r;
}

/* Appends pieces to the output, which has room for them (conn_reserve()). */
static void conn_put(struct varlink_conn *c, const struct iovec *parts, size_t n_parts)
{
	for (size_t i = 0; i < n_parts; i++) {
		memcpy(c->wbuf + c->wlen, parts[i].iov_base, parts[i].iov_len);
		c->wlen += parts[i].iov_len;
	}
}

/* Appends the pieces of one message, n bytes in all (the last piece ends in its NUL). */
static int conn_append_parts(struct varlink_conn *c, const struct iovec *parts, size_t n_parts,
			     size_t n)
{
	int r = conn_reserve(c, n);

	if (r < 0)
		return r;
	conn_put(c, parts, n_parts);
	return 0;
}

static int conn_append(struct varlink_conn *c, const char *text, size_t n)
{
	/* n includes the NUL, the message terminator */
	return conn_append_parts(c, &(struct iovec){ .iov_base = (char *)text, .iov_len = n }, 1, n);
}

/* A message as the wire wants it: compact, valid UTF-8, with its NUL. */
static int message_text(json_object *msg, char **ret_copy, const char **ret, size_t *ret_n)
{
	const char *text = json_object_to_json_string_ext(msg, JSON_FLAGS_WIRE);
	size_t n;

	if (!text)
		return -ENOMEM;
	n = strlen(text);
	*ret_copy = NULL;
	if (utf8_valid_prefix(text, n) != n) {
		*ret_copy = utf8_sanitize(text, n, &n);
		if (!*ret_copy)
			return -ENOMEM;
		text = *ret_copy;
	}
	*ret = text;
	*ret_n = n + 1;
	return 0;
}

/*
 * The peer takes its streamed replies more slowly than they come: drop those not begun yet,
 * end the call with VARLINK_ERROR_OUTPUT_OVERFLOW and close once that is out. Memory stays
 * at what was queued before.
 */
static int conn_overflow(struct varlink_conn *c)
{
	_cleanup_json_ json_object *msg = json_object_new_object(), *p = json_object_new_object();
	_cleanup_free_ char *copy = NULL;
	const char *text;
	size_t n;
	int r;

	log_debug("varlink: peer uid %u reads too slowly (%zu bytes queued), dropping it",
		  (unsigned)c->creds.uid, conn_unsent(c));
	c->wlen = conn_head_end(c);
	if (!msg || !p)
		r = -ENOMEM;
	else
		r = json_add_int(p, "output_max", (int64_t)c->server->limits.output_max);
	if (r >= 0)
		r = json_add(msg, "parameters", TAKE_PTR(p));
	if (r >= 0)
		r = json_add_str(msg, "error", VARLINK_ERROR_OUTPUT_OVERFLOW);
	if (r >= 0)
		r = message_text(msg, &copy, &text, &n);
	if (r >= 0)
		r = conn_append(c, text, n);
	if (r < 0) {
		conn_disconnect(c);
		return -ENOBUFS;
	}
	conn_close_after_flush(c);
	return -ENOBUFS;
}

/* Only what queues behind the message being sent counts: one reply may be large. An
 * unprivileged stream that has to queue while all their buffers are at the budget ends. */
static bool conn_would_overflow(struct varlink_conn *c, size_t n)
{
	return conn_unsent(c) > 0 &&
	       (c->wlen - conn_head_end(c) + n > c->server->limits.output_max || conn_over_budget(c));
}

/* Sends what was queued as far as the peer takes it now. */
static int conn_kick(struct varlink_conn *c)
{
	int r = conn_flush(c);

	if (r < 0)
		return r;
	conn_update(c);
	return 0;
}

/* Queues one message, the pieces' n bytes with its NUL at the end, and tries to send it right
 * away. */
static int conn_send_parts(struct varlink_conn *c, const struct iovec *parts, size_t n_parts,
			   size_t n)
{
	int r;

	if (conn_would_overflow(c, n))
		return conn_overflow(c);
	r = conn_append_parts(c, parts, n_parts, n);
	if (r < 0)
		return r;
	return conn_kick(c);
}

static int conn_send_text(struct varlink_conn *c, const char *text, size_t n)
{
	return conn_send_parts(c, &(struct iovec){ .iov_base = (char *)text, .iov_len = n }, 1, n);
}

/* Queues one message and tries to send it right away. */
static int conn_send_message(struct varlink_conn *c, json_object *msg)
{
	_cleanup_free_ char *copy = NULL;
	const char *text;
	size_t n;
	int r;

	if (!c->server || c->closing)
		return -ECONNRESET;
	r = message_text(msg, &copy, &text, &n);
	if (r < 0)
		return r;
	return conn_send_text(c, text, n);
}

static int conn_flush(struct varlink_conn *c)
{
	size_t before = c->woff;

	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_debug("varlink: write to uid %u failed: %m", (unsigned)c->creds.uid);
			conn_disconnect(c);
			return -ECONNRESET;
		}
		c->woff += (size_t)n;
	}
	if (c->woff > before)
		c->wprogress = conn_now(c);
	if (c->woff < c->wlen)
		return 0;
	/* All sent: hold no buffer in between (the budget counts what is allocated), and give a
	 * large one back to the system. */
	c->wbuf = mfree(c->wbuf);
	if (c->wsize >= LARGE_BUFFER)
		(void)malloc_trim(0);
	c->woff = c->wlen = c->wsize = c->whead = 0;
	conn_charge(c, c->server);
	if (c->closing) {
		conn_disconnect(c);
		return -ECONNRESET;
	}
	if (!c->pending)
		c->active = conn_now(c);
	return 0;
}

/*
 * The connection has said its last (a protocol violation, an overflow): no more calls, what
 * is queued is still sent (the replies before, the final error), then it closes; after
 * output_timeout_usec at the latest. For its user, it is closed now.
 */
static void conn_close_after_flush(struct varlink_conn *c)
{
	if (!c->server || c->closing)
		return;
	c->closing = true;
	c->pending = false;
	c->rbuf = mfree(c->rbuf);
	c->roff = c->rlen = c->rsize = c->rscan = 0;
	conn_charge(c, c->server);
	c->wprogress = conn_now(c);
	if (conn_unsent(c) == 0) {
		conn_disconnect(c);
		return;
	}
	conn_run_close_cb(c);
	conn_update(c);
}

static void conn_finish_call(struct varlink_conn *c)
{
	c->pending = false;
	c->oneway = c->more = false;
	c->active = conn_now(c);
	/* Input after this call waited meanwhile: its time starts now. */
	c->rstart = c->active;
}

static int conn_build_reply(const char *error, json_object *params, bool continues,
			    json_object **ret)
{
	_cleanup_json_ json_object *p = params, *msg = json_object_new_object();
	int r;

	if (!msg)
		return -ENOMEM;
	if (!p) {
		p = json_object_new_object();
		if (!p)
			return -ENOMEM;
	}
	r = json_add(msg, "parameters", TAKE_PTR(p));
	if (r >= 0 && error)
		r = json_add_str(msg, "error", error);
	if (r >= 0 && continues)
		r = json_add_bool(msg, "continues", true);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(msg);
	return 0;
}

static int errno_params(int error, json_object **ret)
{
	_cleanup_json_ json_object *p = json_object_new_object();
	int e = error < 0 ? -error : error;

	if (!p || json_add_int(p, "errno", e) < 0 ||
	    json_add_str(p, "errno_name", strerrorname_np(e)) < 0 ||
	    json_add_str(p, "message", strerror(e)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(p);
	return 0;
}

static int conn_send_reply(struct varlink_conn *c, const char *error, json_object *params,
			   bool continues)
{
	_cleanup_json_ json_object *p = params, *msg = NULL;
	bool oneway = c->oneway;
	const char *text;
	int r;

	if (!c->server || c->closing)
		return -ECONNRESET;
	if (!c->pending)
		return -EINVAL;	/* no call to answer: a bug in the caller */
	if (continues && !c->more)
		return -EINVAL;
	if (oneway) {
		conn_finish_call(c);
		conn_update(c);
		return 0;
	}

	r = conn_build_reply(error, TAKE_PTR(p), continues, &msg);
	if (r < 0)
		return r;
	text = json_object_to_json_string_ext(msg, JSON_FLAGS_WIRE);
	if (!text)
		return -ENOMEM;
	if (strlen(text) >= c->server->limits.reply_max) {
		/* Nobody could take it: say so instead, and end the call. */
		log_debug("varlink: reply of %zu bytes to uid %u is too large", strlen(text),
			  (unsigned)c->creds.uid);
		(void)json_object_put(TAKE_PTR(msg));
		r = errno_params(EMSGSIZE, &p);
		if (r >= 0)
			r = conn_build_reply(c->server->info.errno_error, TAKE_PTR(p), false, &msg);
		if (r < 0)
			return r;
		continues = false;
	}
	if (!continues)
		conn_finish_call(c);
	return conn_send_message(c, msg);
}

int varlink_reply(struct varlink_conn *c, json_object *params)
{
	return conn_send_reply(c, NULL, params, false);
}


int varlink_reply_gather(struct varlink_conn *c, size_t n_items, varlink_parts_fn fn,
			 void *userdata)
{
	static const char head[] = "{\"parameters\":", tail[] = "}";
	struct iovec parts[VARLINK_GATHER_PARTS_MAX];
	size_t n = 0, k, start, total;
	int r;

	if (!c->server || c->closing)
		return -ECONNRESET;
	/* A call that would take more gets this one final reply: the Varlink spec leaves
	 * streaming to the method. */
	if (!c->pending)
		return -EINVAL;	/* no call to answer: a bug in the caller */
	if (c->oneway) {
		conn_finish_call(c);
		conn_update(c);
		return 0;
	}
	/* Twice over the pieces: first their length, then the copy, into room made once. */
	for (size_t i = 0; i < n_items; i++) {
		r = fn(userdata, i, parts, &k);
		if (r < 0)
			return r;
		assert(k <= ELEMENTSOF(parts));
		for (size_t j = 0; j < k; j++)
			n += parts[j].iov_len;
	}
	if (n + STRLEN(head) + STRLEN(tail) >= c->server->limits.reply_max) {
		log_debug("varlink: reply of %zu bytes to uid %u is too large", n,
			  (unsigned)c->creds.uid);
		return varlink_error_errno(c, EMSGSIZE);
	}
	total = STRLEN(head) + n + sizeof(tail);
	if (conn_would_overflow(c, total)) {
		conn_finish_call(c);
		return conn_overflow(c);
	}
	r = conn_reserve(c, total);
	if (r < 0)
		return r;
	start = c->wlen;
	conn_put(c, &(struct iovec){ .iov_base = (char *)head, .iov_len = STRLEN(head) }, 1);
	for (size_t i = 0; i < n_items; i++) {
		size_t m = 0;

		r = fn(userdata, i, parts, &k);
		for (size_t j = 0; r >= 0 && j < k; j++)
			m += parts[j].iov_len;
		if (r >= 0 && c->wlen + m > start + total - sizeof(tail))
			r = -EIO;
		if (r < 0) {
			/* The pieces changed between the two passes: nothing of the reply goes. */
			c->wlen = start;
			return r;
		}
		conn_put(c, parts, k);
	}
	conn_put(c, &(struct iovec){ .iov_base = (char *)tail, .iov_len = sizeof(tail) }, 1);
	if (c->wlen != start + total) {
		c->wlen = start;
		return -EIO;
	}
	/* Only now is the call answered: a failure above is still the call's to report. */
	conn_finish_call(c);
	return conn_kick(c);
}

struct parts_array {
	const struct iovec *parts;
	size_t n;
};

static int parts_array_next(void *userdata, size_t i, struct iovec *parts, size_t *ret_n)
{
	const struct parts_array *a = userdata;

	parts[0] = a->parts[i];
	*ret_n = 1;
	return 0;
}

int varlink_reply_parts(struct varlink_conn *c, const struct iovec *parts, size_t n_parts,
			bool valid_utf8)
{
	_cleanup_free_ char *copy = NULL;
	struct iovec whole;
	size_t n = 0;
	bool valid = true;

	for (size_t i = 0; i < n_parts; i++) {
		n += parts[i].iov_len;
		valid = valid && (valid_utf8 ||
				  utf8_valid_prefix(parts[i].iov_base, parts[i].iov_len) == parts[i].iov_len);
	}
	if (!valid) {
		/* As every message: valid UTF-8 on the wire (a piece may end inside a character,
		 * so the whole is made valid). */
		size_t k = 0;

		copy = malloc(n + 1);
		if (!copy)
			return -ENOMEM;
		for (size_t i = 0; i < n_parts; i++) {
			memcpy(copy + k, parts[i].iov_base, parts[i].iov_len);
			k += parts[i].iov_len;
		}
		if (utf8_valid_prefix(copy, n) != n) {
			char *fixed = utf8_sanitize(copy, n, &n);

			if (!fixed)
				return -ENOMEM;
			free(copy);
			copy = fixed;
		}
		whole = (struct iovec){ .iov_base = copy, .iov_len = n };
		parts = &whole;
		n_parts = 1;
	}
	return varlink_reply_gather(c, n_parts, parts_array_next,
				    &(struct parts_array){ .parts = parts, .n = n_parts });
}

int varlink_reply_text(struct varlink_conn *c, const char *params, size_t n)
{
	return varlink_reply_parts(c, &(struct iovec){ .iov_base = (char *)params, .iov_len = n }, 1,
				   false);
}

int varlink_notify(struct varlink_conn *c, json_object *params)
{
	return conn_send_reply(c, NULL, params, true);
}

int varlink_error(struct varlink_conn *c, const char *error, json_object *params)
{
	return conn_send_reply(c, error, params, false);
}

int varlink_error_invalid_parameter(struct varlink_conn *c, const char *parameter)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, "parameter", parameter) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_error(c, VARLINK_ERROR_INVALID_PARAMETER, p);
}

int varlink_error_errno(struct varlink_conn *c, int error)
{
	json_object *p = NULL;
	int r = errno_params(error, &p);

	if (r < 0)
		return r;
	return varlink_error(c, c->server ? c->server->info.errno_error : "", p);
}

static const struct varlink_interface *server_find_interface(struct varlink_server *s,
							     const char *name, size_t n)
{
	for (size_t i = 0; i < s->n_ifaces; i++)
		if (strlen(s->ifaces[i]->name) == n && strncmp(s->ifaces[i]->name, name, n) == 0)
			return s->ifaces[i];
	return NULL;
}

static int conn_error_name(struct varlink_conn *c, const char *error, const char *key,
			   const char *value)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, key, value) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_error(c, error, p);
}

/*
 * Checks one call's envelope. Returns -EPROTO for what the protocol forbids (the peer is then
 * disconnected: Varlink has no error reply for a broken envelope), -EOPNOTSUPP for an upgrade,
 * -EINVAL for a method name with a NUL inside.
 */
static int call_parse(json_object *msg, const char **ret_method, json_object **ret_params,
		      unsigned *ret_flags)
{
	const char *method = NULL;
	json_object *params = NULL;
	unsigned flags = 0;
	bool upgrade = false, nul = false;

	if (!json_object_is_type(msg, json_type_object))
		return -EPROTO;
	json_object_object_foreach(msg, key, v) {
		if (streq(key, "method")) {
			if (!json_object_is_type(v, json_type_string))
				return -EPROTO;
			method = json_object_get_string(v);
			/* "io.pcipass.List\u0000Reload" must not be taken for List. */
			nul = strlen(method) != (size_t)json_object_get_string_len(v);
		} else if (streq(key, "parameters")) {
			if (v && !json_object_is_type(v, json_type_object))
				return -EPROTO;
			params = v;
		} else if (streq(key, "oneway") || streq(key, "more") || streq(key, "upgrade")) {
			if (v && !json_object_is_type(v, json_type_boolean))
				return -EPROTO;
			if (!v || !json_object_get_boolean(v))
				continue;
			if (streq(key, "oneway"))
				flags |= VARLINK_CALL_ONEWAY;
			else if (streq(key, "more"))
				flags |= VARLINK_CALL_MORE;
			else
				upgrade = true;
		} else if (!strchr(key, '.')) {
			/* Extensions must live under a reverse-domain key; anything else is a
			 * mistake we should not guess about. */
			return -EPROTO;
		}
	}
	if (!method || (flags & VARLINK_CALL_ONEWAY && flags & VARLINK_CALL_MORE))
		return -EPROTO;

	*ret_method = method;
	*ret_params = params;
	*ret_flags = flags;
	if (nul)
		return -EINVAL;
	/* Leaving Varlink for a raw protocol: nothing here offers that. */
	return upgrade ? -EOPNOTSUPP : 0;
}

static int conn_dispatch(struct varlink_conn *c, json_object *msg)
{
	struct varlink_server *s = c->server;
	const struct varlink_interface *iface;
	const char *method = NULL, *dot;
	json_object *params = NULL;
	unsigned flags = 0;
	int r;

	r = call_parse(msg, &method, &params, &flags);
	if (r == -EPROTO)
		return r;

	c->pending = true;
	c->oneway = flags & VARLINK_CALL_ONEWAY;
	c->more = flags & VARLINK_CALL_MORE;
	if (r == -EINVAL)
		return varlink_error_invalid_parameter(c, "method");
	if (r == -EOPNOTSUPP)
		return conn_error_name(c, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "method", method);

	log_debug("varlink: uid %u calls %s%s%s", (unsigned)c->creds.uid, method,
		  c->more ? " (more)" : "", c->oneway ? " (oneway)" : "");

	dot = strrchr(method, '.');
	iface = dot ? server_find_interface(s, method, (size_t)(dot - method)) : NULL;
	if (!iface) {
		_cleanup_free_ char *name = dot ? strndup(method, (size_t)(dot - method)) : NULL;

		return conn_error_name(c, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface",
				       name ?: method);
	}

	for (const struct varlink_method *m = iface->methods; m->name; m++) {
		if (!streq(m->name, dot + 1))
			continue;
		r = m->fn(c, params, flags, s->userdata);
		if (r < 0 && c->pending && !varlink_conn_is_closed(c))
			return varlink_error_errno(c, r);
		return 0;
	}
	return conn_error_name(c, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
}

static size_t conn_unread(const struct varlink_conn *c)
{
	return c->rlen - c->roff;
}

/* The length of the next complete message, at rbuf + roff; -1 when there is none yet. */
static ssize_t conn_next_message(struct varlink_conn *c)
{
	char *nul;

	if (c->rscan < c->roff)
		c->rscan = c->roff;
	if (c->rscan >= c->rlen)
		return -1;
	nul = memchr(c->rbuf + c->rscan, 0, c->rlen - c->rscan);
	if (!nul) {
		c->rscan = c->rlen;
		return -1;
	}
	c->rscan = (size_t)(nul - c->rbuf);
	return (ssize_t)(c->rscan - c->roff);
}

/*
 * Calls are handled only between calls, only when the peer took our replies so far and, for
 * the unprivileged, while their buffers together are below the budget.
 */
static bool conn_may_dispatch(const struct varlink_conn *c)
{
	return c->server && !c->closing && !c->pending && conn_unsent(c) == 0 &&
	       !conn_over_budget(c);
}

/*
 * Handles one complete message of the input buffer, if the connection may take one now. One:
 * every connection gets its turn before this one's next message (conn_update() schedules it).
 */
static void conn_process(struct varlink_conn *c)
{
	_cleanup_(varlink_conn_unrefp) struct varlink_conn *ref = varlink_conn_ref(c);
	_cleanup_json_ json_object *msg = NULL;
	ssize_t n;
	int r;

	if (!conn_may_dispatch(c))
		goto finish;
	n = conn_next_message(c);
	if (n < 0) {
		if (conn_unread(c) > c->server->limits.message_max) {
			log_debug("varlink: message from uid %u exceeds %zu bytes, disconnecting",
				  (unsigned)c->creds.uid, c->server->limits.message_max);
			conn_disconnect(c);
		} else if (c->read_eof)
			/* Nothing more will come, and all was answered. */
			conn_disconnect(c);
		goto finish;
	}
	if ((size_t)n > c->server->limits.message_max) {
		log_debug("varlink: message from uid %u exceeds %zu bytes, disconnecting",
			  (unsigned)c->creds.uid, c->server->limits.message_max);
		conn_disconnect(c);
		goto finish;
	}

	r = message_parse(c->rbuf + c->roff, (size_t)n, &msg);
	c->roff += (size_t)n + 1;
	c->rstart = conn_now(c);
	if (c->roff == c->rlen) {
		/* Idle connections hold no buffers. */
		c->rbuf = mfree(c->rbuf);
		c->roff = c->rlen = c->rsize = c->rscan = 0;
		conn_charge(c, c->server);
	}
	if (r >= 0)
		r = conn_dispatch(c, msg);
	if (r == -EPROTO || r == -EBADMSG) {
		log_debug("varlink: protocol violation from uid %u, disconnecting",
			  (unsigned)c->creds.uid);
		conn_close_after_flush(c);
	}
finish:
	if (c->server)
		conn_update(c);
}

static int conn_read(struct varlink_conn *c)
{
	ssize_t n;
	int r;

	/* Only the partial message is kept: move it to the front. */
	if (c->roff > 0) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->rscan -= MIN(c->rscan, c->roff);
		c->roff = 0;
	}
	r = buf_reserve(&c->rbuf, &c->rsize, c->rlen + READ_CHUNK);
	conn_charge(c, c->server);
	if (r < 0)
		return r;
	n = recv(c->fd, c->rbuf + c->rlen, READ_CHUNK, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	if (n == 0) {
		c->read_eof = true;
		return 0;
	}
	if (c->rlen == c->roff)
		c->rstart = conn_now(c);	/* the first byte of a message */
	c->rlen += (size_t)n;
	return 1;
}

static uint64_t deadline_after(uint64_t since, uint64_t timeout)
{
	if (timeout == 0)
		return UINT64_MAX;
	return since > UINT64_MAX - timeout ? UINT64_MAX : since + timeout;
}

/* When the connection is to be given up, if nothing happens before: UINT64_MAX for never. */
static uint64_t conn_deadline(struct varlink_conn *c)
{
	const struct varlink_limits *l = &c->server->limits;

	/* Output the peer does not take (also a closing connection's last words). */
	if (conn_unsent(c) > 0)
		return deadline_after(c->wprogress, l->output_timeout_usec);
	if (c->pending || c->read_eof)
		return UINT64_MAX;	/* a call in progress, e.g. Monitor, is not idle */
	/* Not read while the budget is used up: the peer may have sent a call meanwhile. */
	if (conn_over_budget(c))
		return UINT64_MAX;
	/* A message begun and not ended (complete ones are handled right away). */
	if (conn_unread(c) > 0)
		return deadline_after(c->rstart, l->message_timeout_usec);
	return deadline_after(c->active, c->privileged ? l->idle_timeout_privileged_usec :
							 l->idle_timeout_usec);
}

static int conn_on_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
	_cleanup_(varlink_conn_unrefp) struct varlink_conn *c = varlink_conn_ref(userdata);

	if (!c->server)
		return 0;
	c->timer_at = UINT64_MAX;	/* a oneshot: off now */
	if (conn_deadline(c) <= usec) {
		log_debug("varlink: connection of uid %u timed out (%s), closing",
			  (unsigned)c->creds.uid,
			  conn_unsent(c) > 0 ? "output not read" :
			  conn_unread(c) > 0 ? "message not completed" : "idle");
		conn_disconnect(c);
		return 0;
	}
	conn_update(c);
	return 0;
}

/*
 * Arms the timer for the connection's deadline, lazily: a timer due earlier than the deadline
 * is left as it is, because conn_on_timer() looks at the deadline again when it fires. A call
 * moves the idle deadline later, so a busy connection does not re-arm the loop's timer on
 * every call.
 */
static void conn_update_timer(struct varlink_conn *c)
{
	uint64_t deadline = conn_deadline(c);
	int r;

	if (deadline >= c->timer_at)
		return;
	if (!c->timer) {
		/* Timeouts are coarse limits: let the loop batch their wake-ups a little. */
		r = sd_event_add_time(c->server->event, &c->timer, CLOCK_MONOTONIC, deadline,
				      10 * 1000, conn_on_timer, c);
		if (r < 0) {
			log_debug("varlink: no timer for the connection of uid %u: %s",
				  (unsigned)c->creds.uid, strerror(-r));
			return;
		}
	} else if (sd_event_source_set_time(c->timer, deadline) < 0 ||
		   sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0) {
		return;
	}
	c->timer_at = deadline;
}

/*
 * Room in the budget again: the unprivileged connections that waited read and take turns,
 * and their time (idle, or a message begun) starts now.
 */
static void server_resume(struct varlink_server *s)
{
	s->budget_waiting = false;
	for (struct varlink_conn *c = s->conns; c; c = c->next) {
		if (c->privileged)
			continue;
		if (conn_may_dispatch(c))
			c->rstart = c->active = conn_now(c);
		conn_update(c);
	}
}

/* Sets what the connection waits for now: input, output space, its next turn, a timeout. */
static void conn_update(struct varlink_conn *c)
{
	struct varlink_server *s = c->server;
	uint32_t events = 0;
	bool has_message;

	if (!s)
		return;
	if (conn_over_budget(c))
		s->budget_waiting = true;
	else if (s->budget_waiting && !server_over_budget(s))
		server_resume(s);
	has_message = conn_next_message(c) >= 0;
	/* Read only when the next call may be handled and none is buffered: a pending call or
	 * unread replies hold back the peer's next call (the kernel's socket buffer then pushes
	 * back), and input never exceeds one message plus one read. */
	if (conn_may_dispatch(c) && !has_message && !c->read_eof)
		events |= EPOLLIN;
	if (conn_unsent(c) > 0)
		events |= EPOLLOUT;
	if (c->io)
		(void)sd_event_source_set_io_events(c->io, events);
	/* A buffered call, or an end to notice: handle it on the next turn, after the others. */
	if (conn_may_dispatch(c) &&
	    (has_message || c->read_eof || conn_unread(c) > c->server->limits.message_max))
		conn_enqueue(c);
	else if (c->ready)
		conn_unqueue(c);
	if (c->server)
		conn_update_timer(c);
}

static int conn_on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	_cleanup_(varlink_conn_unrefp) struct varlink_conn *c = varlink_conn_ref(userdata);
	int r;

	/* Failed: nothing can be written any more. */
	if (revents & EPOLLERR) {
		conn_disconnect(c);
		return 0;
	}
	if (revents & EPOLLOUT && conn_flush(c) < 0)
		return 0;
	if (revents & EPOLLIN && conn_may_dispatch(c)) {
		r = conn_read(c);
		if (r < 0) {
			log_debug("varlink: read from uid %u failed: %s", (unsigned)c->creds.uid,
				  strerror(-r));
			conn_disconnect(c);
			return 0;
		}
	} else if (revents & EPOLLHUP) {
		/* Hung up entirely, and we are not reading: nobody is left to answer. */
		conn_disconnect(c);
		return 0;
	}
	conn_process(c);
	return 0;
}

/* One turn: every connection queued now handles one message; those queued again wait. */
static int server_on_turn(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct varlink_server *s = userdata;
	_cleanup_(varlink_conn_unrefp) struct varlink_conn *last = varlink_conn_ref(s->ready_tail);

	while (s->ready_head) {
		struct varlink_conn *c = varlink_conn_ref(s->ready_head);
		bool done = c == last;

		conn_unqueue(c);
		conn_process(c);
		(void)varlink_conn_unref(c);
		/* A handler may have taken the last one out of the queue (closed it, say). */
		if (done || !last->ready)
			break;
	}
	return 0;
}

static unsigned server_count_uid(const struct varlink_server *s, uid_t uid)
{
	unsigned n = 0;

	for (const struct varlink_conn *c = s->conns; c; c = c->next)
		n += !c->privileged && c->creds.uid == uid;
	return n;
}

static bool privileged_default(const struct peer_creds *creds, void *userdata)
{
	return creds->uid == 0;
}

/*
 * Tells a refused peer why, in one error reply, before the close: its client can then say
 * "too many connections" instead of "connection reset". One try: the socket is new and empty,
 * and a refused peer gets nothing kept for it.
 */
static void refuse_connection(int fd, const char *limit, unsigned max)
{
	_cleanup_json_ json_object *msg = NULL;
	json_object *p = json_object_new_object();
	const char *text;

	if (!p || json_add_str(p, "limit", limit) < 0 || json_add_int(p, "max", max) < 0) {
		(void)json_object_put(p);
		return;
	}
	if (conn_build_reply(VARLINK_ERROR_TOO_MANY_CONNECTIONS, p, false, &msg) < 0)
		return;
	text = json_object_to_json_string_ext(msg, JSON_FLAGS_WIRE);
	if (text)
		(void)send(fd, text, strlen(text) + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int varlink_server_add_connection(struct varlink_server *s, int fd, struct varlink_conn **ret)
{
	_cleanup_close_ int cfd = fd;
	struct peer_creds creds = {};
	const struct varlink_limits *l = &s->limits;
	struct varlink_conn *c;
	bool privileged;
	int flags, r;

	r = peer_creds_from_socket(cfd, &creds);
	if (r < 0)
		return r;
	privileged = s->privileged(&creds, s->privileged_userdata);
	/* Privileged peers are not counted per uid, and may use the reserved connections. */
	if (!privileged && server_count_uid(s, creds.uid) >= l->connections_per_uid_max) {
		log_debug("varlink: uid %u has too many connections, refusing", (unsigned)creds.uid);
		refuse_connection(cfd, "connections_per_uid", l->connections_per_uid_max);
		peer_creds_done(&creds);
		return -EUSERS;
	}
	if (s->n_conns >= l->connections_max ||
	    (!privileged && s->n_conns + l->connections_reserved >= l->connections_max)) {
		log_debug("varlink: %u connections, refusing uid %u", s->n_conns,
			  (unsigned)creds.uid);
		refuse_connection(cfd, "connections", privileged ? l->connections_max :
				  l->connections_max - MIN(l->connections_reserved, l->connections_max));
		peer_creds_done(&creds);
		return -EMFILE;
	}
	flags = fcntl(cfd, F_GETFL);
	if (flags < 0 || fcntl(cfd, F_SETFL, flags | O_NONBLOCK) < 0) {
		peer_creds_done(&creds);
		return -errno;
	}

	c = new0(struct varlink_conn, 1);
	if (!c) {
		peer_creds_done(&creds);
		return -ENOMEM;
	}
	*c = (struct varlink_conn){
		.n_ref = 1,
		.server = s,
		.fd = TAKE_FD(cfd),
		.creds = creds,
		.privileged = privileged,
		.timer_at = UINT64_MAX,
	};
	c->active = c->wprogress = c->rstart = conn_now(c);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;

	r = sd_event_add_io(s->event, &c->io, c->fd, EPOLLIN, conn_on_io, c);
	if (r < 0) {
		conn_disconnect(c);
		return r;
	}
	conn_update(c);
	if (ret)
		*ret = c;
	return 0;
}

static int server_on_accept_retry(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct varlink_server *s = userdata;

	s->accept_retry = sd_event_source_disable_unref(s->accept_retry);
	if (s->listen_src)
		(void)sd_event_source_set_enabled(s->listen_src, SD_EVENT_ON);
	return 0;
}

static int server_on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct varlink_server *s = userdata;
	int cfd, r;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The pending connection stays, and would wake us at once again: pause
			 * until a connection closes, or a little while. */
			log_debug("varlink: accept failed: %m; pausing");
			(void)sd_event_source_set_enabled(s->listen_src, SD_EVENT_OFF);
			if (!s->accept_retry &&
			    sd_event_add_time_relative(s->event, &s->accept_retry, CLOCK_MONOTONIC,
						       100 * 1000, 0, server_on_accept_retry, s) < 0)
				(void)sd_event_source_set_enabled(s->listen_src, SD_EVENT_ON);
		} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_debug("varlink: accept failed: %m");
		return 0;
	}
	r = varlink_server_add_connection(s, cfd, NULL);
	if (r < 0)
		log_debug("varlink: connection refused: %s", strerror(-r));
	return 0;
}

/* --- server ------------------------------------------------------------------------------- */

void varlink_limits_default(struct varlink_limits *ret)
{
	*ret = (struct varlink_limits){
		.message_max = VARLINK_MESSAGE_MAX,
		.output_max = VARLINK_OUTPUT_MAX,
		.reply_max = VARLINK_REPLY_MAX,
		.unprivileged_buffer_max = VARLINK_UNPRIVILEGED_BUFFER_MAX,
		.connections_max = VARLINK_CONNECTIONS_MAX,
		.connections_reserved = VARLINK_CONNECTIONS_RESERVED,
		.connections_per_uid_max = VARLINK_CONNECTIONS_PER_UID_MAX,
		.idle_timeout_usec = VARLINK_IDLE_TIMEOUT_USEC,
		.idle_timeout_privileged_usec = VARLINK_IDLE_TIMEOUT_PRIVILEGED_USEC,
		.message_timeout_usec = VARLINK_MESSAGE_TIMEOUT_USEC,
		.output_timeout_usec = VARLINK_OUTPUT_TIMEOUT_USEC,
	};
}

void varlink_limits_fit_nofile(struct varlink_limits *l, uint64_t nofile)
{
	uint64_t spare = MIN(nofile / 4, (uint64_t)256), fit = nofile - spare;

	if (fit < l->connections_max)
		l->connections_max = (unsigned)fit;
	/* Keep at least three quarters for everyone. */
	if (l->connections_reserved > l->connections_max / 4)
		l->connections_reserved = l->connections_max / 4;
}

int varlink_server_new(sd_event *event, const struct varlink_server_info *info, void *userdata,
		       struct varlink_server **ret)
{
	struct varlink_server *s;
	int r;

	s = new0(struct varlink_server, 1);
	if (!s)
		return -ENOMEM;
	*s = (struct varlink_server){
		.event = sd_event_ref(event),
		.info = *info,
		.userdata = userdata,
		.listen_fd = -EBADF,
		.turn_fd = -EBADF,
		.privileged = privileged_default,
	};
	varlink_limits_default(&s->limits);
	/* Readable for good: the source's being enabled says whether there is a turn to serve. */
	s->turn_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	r = s->turn_fd < 0 ? -errno : 0;
	if (r >= 0)
		r = sd_event_add_io(event, &s->turn_src, s->turn_fd, EPOLLIN, server_on_turn, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->turn_src, SD_EVENT_OFF);
	if (r >= 0)
		r = varlink_server_add_interface(s, &org_varlink_service);
	if (r < 0) {
		varlink_server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct varlink_server *varlink_server_free(struct varlink_server *s)
{
	if (!s)
		return NULL;
	while (s->conns)
		conn_disconnect(s->conns);
	s->accept_retry = sd_event_source_disable_unref(s->accept_retry);
	s->listen_src = sd_event_source_disable_unref(s->listen_src);
	s->listen_fd = safe_close(s->listen_fd);
	s->turn_src = sd_event_source_disable_unref(s->turn_src);
	s->turn_fd = safe_close(s->turn_fd);
	free(s->ifaces);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *l)
{
	s->limits = *l;
	for (struct varlink_conn *c = s->conns; c; c = c->next)
		conn_update_timer(c);
}

void varlink_server_get_limits(const struct varlink_server *s, struct varlink_limits *ret)
{
	*ret = s->limits;
}

void varlink_server_set_privileged(struct varlink_server *s,
				   bool (*fn)(const struct peer_creds *creds, void *userdata),
				   void *userdata)
{
	s->privileged = fn ?: privileged_default;
	s->privileged_userdata = fn ? userdata : NULL;
}

unsigned varlink_server_connections(const struct varlink_server *s)
{
	return s->n_conns;
}

size_t varlink_server_buffered(const struct varlink_server *s)
{
	size_t n = 0;

	for (const struct varlink_conn *c = s->conns; c; c = c->next)
		n += conn_unread(c) + conn_unsent(c);
	return n;
}

size_t varlink_server_buffer_memory(const struct varlink_server *s, size_t *ret_unprivileged)
{
	size_t n = 0;

	for (const struct varlink_conn *c = s->conns; c; c = c->next)
		n += c->rsize + c->wsize;
	if (ret_unprivileged)
		*ret_unprivileged = s->unprivileged_buffered;
	return n;
}

int varlink_server_add_interface(struct varlink_server *s, const struct varlink_interface *iface)
{
	const struct varlink_interface **a;

	a = reallocarray_safe(s->ifaces, s->n_ifaces + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a[s->n_ifaces++] = iface;
	s->ifaces = a;
	return 0;
}

int varlink_server_listen_fd(struct varlink_server *s, int fd)
{
	_cleanup_close_ int lfd = fd;
	int flags, r;

	flags = fcntl(lfd, F_GETFL);
	if (flags < 0 || fcntl(lfd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	r = sd_event_add_io(s->event, &s->listen_src, lfd, EPOLLIN, server_on_accept, s);
	if (r < 0)
		return r;
	s->listen_fd = TAKE_FD(lfd);
	return 0;
}

int varlink_server_listen_path(struct varlink_server *s, const char *path, unsigned mode)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (chmod(path, mode) < 0 || listen(fd, SOMAXCONN) < 0)
		return -errno;
	return varlink_server_listen_fd(s, TAKE_FD(fd));
}

/* --- org.varlink.service ------------------------------------------------------------------ */

static struct varlink_server *conn_server(struct varlink_conn *c)
{
	return c->server;
}

static int service_get_info(struct varlink_conn *c, json_object *params, unsigned flags,
			    void *userdata)
{
	struct varlink_server *s = conn_server(c);
	_cleanup_json_ json_object *reply = NULL, *ifaces = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);

	reply = json_object_new_object();
	ifaces = json_object_new_array();
	if (!reply || !ifaces)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_ifaces; i++)
		if (json_object_array_add(ifaces, json_object_new_string(s->ifaces[i]->name)) < 0)
			return -ENOMEM;
	r = json_add_str(reply, "vendor", s->info.vendor);
	if (r >= 0)
		r = json_add_str(reply, "product", s->info.product);
	if (r >= 0)
		r = json_add_str(reply, "version", s->info.version);
	if (r >= 0)
		r = json_add_str(reply, "url", s->info.url);
	if (r >= 0)
		r = json_add(reply, "interfaces", TAKE_PTR(ifaces));
	if (r < 0)
		return r;
	return varlink_reply(c, TAKE_PTR(reply));
}

static int service_get_interface_description(struct varlink_conn *c, json_object *params,
					     unsigned flags, void *userdata)
{
	struct varlink_server *s = conn_server(c);
	struct {
		const char *interface;
	} p;
	static const struct json_field fields[] = {
		{ "interface", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, 0 },
		{}
	};
	const struct varlink_interface *iface;
	json_object *reply;
	const char *bad = NULL;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	iface = server_find_interface(s, p.interface, strlen(p.interface));
	if (!iface)
		return conn_error_name(c, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface",
				       p.interface);
	reply = json_object_new_object();
	if (!reply || json_add_str(reply, "description", iface->description) < 0) {
		(void)json_object_put(reply);
		return -ENOMEM;
	}
	return varlink_reply(c, reply);
}

