/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/varlink.h"

#define READ_CHUNK (64U * 1024U)

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
	sd_event_source *io, *defer;
	uid_t uid;
	pid_t pid;

	char *rbuf;
	size_t rlen, rsize;
	char *wbuf;
	size_t woff, wlen, wsize;	/* unsent output is wbuf[woff, wlen) */

	bool pending;	/* a call is being answered */
	bool oneway, more;
	bool read_eof;

	void (*close_cb)(struct varlink_conn *c, void *userdata);
	void *close_userdata;

	struct varlink_conn *prev, *next;
};

struct varlink_server {
	sd_event *event;
	struct varlink_server_info info;
	void *userdata;
	struct varlink_limits limits;

	const struct varlink_interface **ifaces;
	size_t n_ifaces;

	int listen_fd;
	sd_event_source *listen_src;

	struct varlink_conn *conns;
	unsigned n_conns;
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

static void conn_update_events(struct varlink_conn *c);
static void conn_disconnect(struct varlink_conn *c);
static int conn_flush(struct varlink_conn *c);

/* --- buffers ----------------------------------------------------------------------------- */

static int buf_reserve(char **buf, size_t *size, size_t need)
{
	size_t n;
	char *p;

	if (need <= *size)
		return 0;
	n = MAX(need, *size * 2);
	n = MAX(n, (size_t)4096);
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*size = n;
	return 0;
}

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
	free(c->rbuf);
	free(c->wbuf);
	free(c);
	return NULL;
}

bool varlink_conn_is_closed(const struct varlink_conn *c)
{
	return !c->server;
}

uid_t varlink_conn_uid(const struct varlink_conn *c)
{
	return c->uid;
}

pid_t varlink_conn_pid(const struct varlink_conn *c)
{
	return c->pid;
}

void varlink_conn_set_close_callback(struct varlink_conn *c,
				     void (*cb)(struct varlink_conn *c, void *userdata),
				     void *userdata)
{
	c->close_cb = cb;
	c->close_userdata = userdata;
}

/* Closes the socket and leaves the server; the object lives on while references remain. */
static void conn_disconnect(struct varlink_conn *c)
{
	struct varlink_server *s = c->server;

	if (!s)
		return;
	log_debug("varlink: closing connection fd %d (uid %u)", c->fd, (unsigned)c->uid);
	c->server = NULL;
	c->io = sd_event_source_disable_unref(c->io);
	c->defer = sd_event_source_disable_unref(c->defer);
	c->fd = safe_close(c->fd);
	c->pending = false;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->n_conns--;

	if (c->close_cb) {
		void (*cb)(struct varlink_conn *, void *) = c->close_cb;

		c->close_cb = NULL;
		cb(c, c->close_userdata);
	}
	/* The server's own reference. */
	(void)varlink_conn_unref(c);
}

/* Queues one message and tries to send it right away. */
static int conn_send_message(struct varlink_conn *c, json_object *msg)
{
	const char *text;
	size_t n;
	int r;

	if (!c->server)
		return -ECONNRESET;
	text = json_object_to_json_string_ext(msg, JSON_FLAGS_WIRE);
	if (!text)
		return -ENOMEM;
	n = strlen(text) + 1;

	if (c->wlen - c->woff + n > c->server->limits.output_max) {
		log_debug("varlink: peer uid %u reads too slowly (%zu bytes queued), disconnecting",
			  (unsigned)c->uid, c->wlen - c->woff);
		conn_disconnect(c);
		return -ENOBUFS;
	}
	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	r = buf_reserve(&c->wbuf, &c->wsize, c->wlen + n);
	if (r < 0)
		return r;
	memcpy(c->wbuf + c->wlen, text, n);	/* the NUL is the message terminator */
	c->wlen += n;

	r = conn_flush(c);
	if (r < 0)
		return r;
	conn_update_events(c);
	return 0;
}

static int conn_flush(struct varlink_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			log_debug("varlink: write to uid %u failed: %m", (unsigned)c->uid);
			conn_disconnect(c);
			return -ECONNRESET;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	return 0;
}

static void conn_schedule(struct varlink_conn *c)
{
	if (c->defer)
		(void)sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static void conn_finish_call(struct varlink_conn *c)
{
	c->pending = false;
	c->oneway = c->more = false;
	/* Further calls may be waiting in the buffer: handle them from the event loop. */
	conn_schedule(c);
}

static int conn_send_reply(struct varlink_conn *c, const char *error, json_object *params,
			   bool continues)
{
	_cleanup_json_ json_object *p = params, *msg = NULL;
	bool oneway = c->oneway;
	int r;

	if (!c->server)
		return -ECONNRESET;
	if (!c->pending)
		return -EINVAL;	/* no call to answer: a bug in the caller */
	if (continues && !c->more)
		return -EINVAL;
	if (!continues)
		conn_finish_call(c);
	if (oneway)
		return 0;

	msg = json_object_new_object();
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
	return conn_send_message(c, msg);
}

int varlink_reply(struct varlink_conn *c, json_object *params)
{
	return conn_send_reply(c, NULL, params, false);
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
	json_object *p = json_object_new_object();
	int e = error < 0 ? -error : error;

	if (!p || json_add_int(p, "errno", e) < 0 ||
	    json_add_str(p, "errno_name", strerrorname_np(e)) < 0 ||
	    json_add_str(p, "message", strerror(e)) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
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
 * disconnected: Varlink has no error reply for a broken envelope).
 */
static int call_parse(json_object *msg, const char **ret_method, json_object **ret_params,
		      unsigned *ret_flags)
{
	const char *method = NULL;
	json_object *params = NULL;
	unsigned flags = 0;
	bool upgrade = false;

	if (!json_object_is_type(msg, json_type_object))
		return -EPROTO;
	json_object_object_foreach(msg, key, v) {
		if (streq(key, "method")) {
			if (!json_object_is_type(v, json_type_string))
				return -EPROTO;
			method = json_object_get_string(v);
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
	if (r == -EOPNOTSUPP)
		return conn_error_name(c, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "method", method);

	log_debug("varlink: uid %u calls %s%s%s", (unsigned)c->uid, method,
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
		if (r < 0 && c->pending && c->server)
			return varlink_error_errno(c, r);
		return 0;
	}
	return conn_error_name(c, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
}

/* Handles the calls that are complete in the input buffer, one at a time. */
static void conn_process(struct varlink_conn *c)
{
	_cleanup_(varlink_conn_unrefp) struct varlink_conn *ref = varlink_conn_ref(c);

	while (c->server && !c->pending) {
		_cleanup_json_ json_object *msg = NULL;
		char *nul = memchr(c->rbuf ?: "", 0, c->rlen);
		size_t n;
		int r;

		if (!nul) {
			if (c->rlen > c->server->limits.message_max) {
				log_debug("varlink: message from uid %u exceeds %zu bytes, disconnecting",
					  (unsigned)c->uid, c->server->limits.message_max);
				conn_disconnect(c);
			}
			break;
		}
		n = (size_t)(nul - c->rbuf);
		if (n > c->server->limits.message_max) {
			log_debug("varlink: message from uid %u exceeds %zu bytes, disconnecting",
				  (unsigned)c->uid, c->server->limits.message_max);
			conn_disconnect(c);
			break;
		}
		r = json_parse_exact(c->rbuf, n, &msg);
		c->rlen -= n + 1;
		memmove(c->rbuf, nul + 1, c->rlen);
		if (r >= 0)
			r = conn_dispatch(c, msg);
		if (r == -EPROTO || r == -EBADMSG) {
			log_debug("varlink: protocol violation from uid %u, disconnecting",
				  (unsigned)c->uid);
			conn_disconnect(c);
		}
	}

	if (c->server && c->read_eof && !c->pending && c->rlen == 0 && c->woff == c->wlen)
		conn_disconnect(c);
	if (c->server)
		conn_update_events(c);
}

static int conn_read(struct varlink_conn *c)
{
	ssize_t n;
	int r;

	r = buf_reserve(&c->rbuf, &c->rsize, c->rlen + READ_CHUNK);
	if (r < 0)
		return r;
	n = recv(c->fd, c->rbuf + c->rlen, c->rsize - c->rlen, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	if (n == 0) {
		c->read_eof = true;
		return 0;
	}
	c->rlen += (size_t)n;
	return 1;
}

static void conn_update_events(struct varlink_conn *c)
{
	uint32_t events = 0;

	if (!c->io)
		return;
	/* Read only between calls: a pending call holds back the peer's next one (the peer may
	 * pipeline; the kernel's socket buffer then pushes back). */
	if (!c->read_eof) {
		events |= EPOLLRDHUP;
		if (!c->pending)
			events |= EPOLLIN;
	}
	if (c->woff < c->wlen)
		events |= EPOLLOUT;
	(void)sd_event_source_set_io_events(c->io, events);
}

static int conn_on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	_cleanup_(varlink_conn_unrefp) struct varlink_conn *c = varlink_conn_ref(userdata);
	int r;

	/* Hung up entirely (or failed): nothing can be read or written any more. */
	if (revents & (EPOLLHUP | EPOLLERR)) {
		conn_disconnect(c);
		return 0;
	}
	if (revents & EPOLLOUT && conn_flush(c) < 0)
		return 0;
	if (revents & EPOLLIN) {
		r = conn_read(c);
		if (r < 0) {
			log_debug("varlink: read from uid %u failed: %s", (unsigned)c->uid,
				  strerror(-r));
			conn_disconnect(c);
			return 0;
		}
	} else if (revents & EPOLLRDHUP) {
		/* The peer will send no more, but may still read what it asked for. */
		c->read_eof = true;
	}
	conn_process(c);
	return 0;
}

static int conn_on_defer(sd_event_source *source, void *userdata)
{
	conn_process(userdata);
	return 0;
}

static unsigned server_count_uid(const struct varlink_server *s, uid_t uid)
{
	unsigned n = 0;

	for (const struct varlink_conn *c = s->conns; c; c = c->next)
		n += c->uid == uid;
	return n;
}

int varlink_server_add_connection(struct varlink_server *s, int fd, struct varlink_conn **ret)
{
	_cleanup_close_ int cfd = fd;
	struct ucred cred = { .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred);
	struct varlink_conn *c;
	int flags, r;

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (s->n_conns >= s->limits.connections_max) {
		log_debug("varlink: %u connections, refusing uid %u", s->n_conns, (unsigned)cred.uid);
		return -EMFILE;
	}
	if (server_count_uid(s, cred.uid) >= s->limits.connections_per_uid_max) {
		log_debug("varlink: uid %u has too many connections, refusing", (unsigned)cred.uid);
		return -EUSERS;
	}
	flags = fcntl(cfd, F_GETFL);
	if (flags < 0 || fcntl(cfd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;

	c = new0(struct varlink_conn, 1);
	if (!c)
		return -ENOMEM;
	*c = (struct varlink_conn){
		.n_ref = 1,
		.server = s,
		.fd = TAKE_FD(cfd),
		.uid = cred.uid,
		.pid = cred.pid,
	};
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;

	r = sd_event_add_io(s->event, &c->io, c->fd, EPOLLIN | EPOLLRDHUP, conn_on_io, c);
	if (r >= 0)
		r = sd_event_add_defer(s->event, &c->defer, conn_on_defer, c);
	if (r >= 0)
		r = sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
	if (r < 0) {
		conn_disconnect(c);
		return r;
	}
	if (ret)
		*ret = c;
	return 0;
}

static int server_on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct varlink_server *s = userdata;
	int cfd, r;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_debug("varlink: accept failed: %m");
		return 0;
	}
	/* Refused peers are just closed: Varlink has no message for "go away". */
	r = varlink_server_add_connection(s, cfd, NULL);
	if (r < 0)
		log_debug("varlink: connection refused: %s", strerror(-r));
	return 0;
}

/* --- server ------------------------------------------------------------------------------- */

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
		.limits = {
			.message_max = VARLINK_MESSAGE_MAX,
			.output_max = VARLINK_OUTPUT_MAX,
			.connections_max = VARLINK_CONNECTIONS_MAX,
			.connections_per_uid_max = VARLINK_CONNECTIONS_PER_UID_MAX,
		},
	};
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
	s->listen_src = sd_event_source_disable_unref(s->listen_src);
	s->listen_fd = safe_close(s->listen_fd);
	free(s->ifaces);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *l)
{
	s->limits = *l;
}

unsigned varlink_server_connections(const struct varlink_server *s)
{
	return s->n_conns;
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

/* --- client ------------------------------------------------------------------------------- */

struct varlink_client {
	int fd;
	char *rbuf;
	size_t rlen, rsize;
};

int varlink_client_new_fd(int fd, struct varlink_client **ret)
{
	struct varlink_client *c = new0(struct varlink_client, 1);

	if (!c) {
		safe_close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

int varlink_client_connect(const char *path, struct varlink_client **ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return varlink_client_new_fd(TAKE_FD(fd), ret);
}

struct varlink_client *varlink_client_free(struct varlink_client *c)
{
	if (!c)
		return NULL;
	safe_close(c->fd);
	free(c->rbuf);
	free(c);
	return NULL;
}

int varlink_client_send(struct varlink_client *c, const char *method, json_object *params,
			unsigned flags)
{
	_cleanup_json_ json_object *msg = json_object_new_object();
	const char *text;
	size_t n, off = 0;
	int r;

	if (!msg)
		return -ENOMEM;
	r = json_add_str(msg, "method", method);
	if (r >= 0 && params)
		r = json_add(msg, "parameters", json_object_get(params));
	if (r >= 0 && flags & VARLINK_CALL_ONEWAY)
		r = json_add_bool(msg, "oneway", true);
	if (r >= 0 && flags & VARLINK_CALL_MORE)
		r = json_add_bool(msg, "more", true);
	if (r < 0)
		return r;
	text = json_object_to_json_string_ext(msg, JSON_FLAGS_WIRE);
	if (!text)
		return -ENOMEM;
	n = strlen(text) + 1;
	while (off < n) {
		ssize_t k = send(c->fd, text + off, n - off, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)k;
	}
	return 0;
}

int varlink_client_recv(struct varlink_client *c, int timeout_ms, json_object **ret_reply)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : now_usec() + (uint64_t)timeout_ms * 1000;

	for (;;) {
		char *nul = memchr(c->rbuf ?: "", 0, c->rlen);
		ssize_t n;
		int r;

		if (nul) {
			json_object *reply = NULL;
			size_t len = (size_t)(nul - c->rbuf);

			r = json_parse_exact(c->rbuf, len, &reply);
			c->rlen -= len + 1;
			memmove(c->rbuf, nul + 1, c->rlen);
			if (r < 0)
				return r;
			if (!json_object_is_type(reply, json_type_object)) {
				(void)json_object_put(reply);
				return -EBADMSG;
			}
			*ret_reply = reply;
			return 0;
		}
		if (c->rlen > VARLINK_OUTPUT_MAX)
			return -EMSGSIZE;

		if (timeout_ms >= 0) {
			uint64_t now = now_usec();
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

			if (now >= deadline)
				return -ETIMEDOUT;
			r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r <= 0)
				continue;
		}
		r = buf_reserve(&c->rbuf, &c->rsize, c->rlen + READ_CHUNK);
		if (r < 0)
			return r;
		n = recv(c->fd, c->rbuf + c->rlen, c->rsize - c->rlen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		c->rlen += (size_t)n;
	}
}

json_object *varlink_reply_params(json_object *reply)
{
	json_object *p = NULL;

	if (!json_object_object_get_ex(reply, "parameters", &p) ||
	    !json_object_is_type(p, json_type_object))
		return NULL;
	return p;
}

const char *varlink_reply_error(json_object *reply)
{
	json_object *e = NULL;

	if (!json_object_object_get_ex(reply, "error", &e) ||
	    !json_object_is_type(e, json_type_string))
		return NULL;
	return json_object_get_string(e);
}

bool varlink_reply_continues(json_object *reply)
{
	json_object *v = NULL;

	return json_object_object_get_ex(reply, "continues", &v) && json_object_get_boolean(v);
}

int varlink_client_call(struct varlink_client *c, const char *method, json_object *params,
			json_object **ret_reply, json_object **ret_params, const char **ret_error)
{
	json_object *reply = NULL, *p;
	int r;

	r = varlink_client_send(c, method, params, 0);
	if (r < 0)
		return r;
	r = varlink_client_recv(c, 45 * 1000, &reply);
	if (r < 0)
		return r;
	p = varlink_reply_params(reply);
	if (!p) {
		/* Absent parameters are an empty object. */
		p = json_object_new_object();
		if (!p || json_add(reply, "parameters", p) < 0) {
			(void)json_object_put(reply);
			return -ENOMEM;
		}
	}
	*ret_reply = reply;
	*ret_params = p;
	*ret_error = varlink_reply_error(reply);
	return 0;
}
