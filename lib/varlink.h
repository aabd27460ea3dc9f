/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Varlink (https://varlink.org) over AF_UNIX stream sockets: each message is one JSON object
 * followed by a NUL byte. libsystemd 252 has no public sd-varlink, hence this.
 *
 * Server: runs on sd-event. Calls on one connection are handled one at a time and answered in
 * order; while a call is pending (a method that answers later, or streams with "more") the
 * connection's further input waits in the socket. Connections take turns: each turn of the
 * event loop handles at most one message per connection, and a connection whose replies the
 * peer has not taken yet gets no further call handled (its input waits in the socket), so a
 * peer that pipelines and never reads holds about one reply in memory. Output is buffered per
 * connection, so a slow or stalled peer never blocks the daemon. org.varlink.service (GetInfo,
 * GetInterfaceDescription) is built in.
 *
 * What is received must be valid JSON text (RFC 8259: UTF-8, no NaN, no "1."), and no object
 * key may hold a NUL ("\u0000"); otherwise the peer broke the protocol: it is disconnected, as
 * for any envelope Varlink cannot answer. A NUL in the method name is answered with
 * InvalidParameter "method", one in a string parameter by json_dispatch() with
 * InvalidParameter naming it. Every message sent is valid UTF-8: bytes that are not (from
 * sysfs or files, never from a peer) are replaced by U+FFFD.
 *
 * Peer credentials are read once, when a connection is accepted (lib/peercred.h), and decide
 * whether the peer is privileged (varlink_server_set_privileged(); by default uid 0).
 *
 * Limits (struct varlink_limits; the defaults below):
 *  - connections_max connections in all, of which connections_reserved only for privileged
 *    peers; an unprivileged uid has at most connections_per_uid_max. Privileged peers are not
 *    counted per uid. So unprivileged peers, however many uids they use, cannot lock out root.
 *    A refused peer gets one VARLINK_ERROR_TOO_MANY_CONNECTIONS reply before the close.
 *  - A message larger than message_max is a protocol violation. One that does not end (its
 *    NUL) within message_timeout_usec of its first byte is cut off (closed, no reply).
 *  - A connection idle (no call in progress, no output unsent) for idle_timeout_usec (for
 *    privileged peers idle_timeout_privileged_usec) is closed. A pending call, as a Monitor's
 *    "more" call, is never idle.
 *  - Unsent output that the peer does not read at all for output_timeout_usec is given up:
 *    the connection is closed.
 *  - One reply may be up to reply_max (a DumpRom carries 16 MiB of ROM in base64, 22.4 MiB);
 *    a larger one is replaced by the errno error for EMSGSIZE. Behind the message being
 *    sent, at most output_max bytes may queue: only streamed replies (varlink_notify()) can
 *    queue, since no further call is handled meanwhile. When a message would pass that, the
 *    queued ones not yet begun are dropped, the call gets a final
 *    VARLINK_ERROR_OUTPUT_OVERFLOW, and the connection is closed once that is sent (or after
 *    output_timeout_usec).
 *  - The buffers of all unprivileged connections together (what is allocated for input and
 *    for unsent output) have a budget, unprivileged_buffer_max. While they are at it, no
 *    unprivileged connection reads or has a call handled (nor times out idle or for a message
 *    begun: its time starts again after), and an unprivileged stream that would have to queue ends with
 *    VARLINK_ERROR_OUTPUT_OVERFLOW; privileged peers are not held back. Room comes back as
 *    peers read their replies or time out (output_timeout_usec).
 *  Timeouts and budgets of 0 mean none. Memory held for connections is therefore at most
 *      unprivileged_buffer_max + reply_max + 2 * message_max      (unprivileged peers)
 *    + connections_reserved * (message_max + 64 KiB read chunk + output_max + reply_max)
 *  with the defaults 64 + 32 + 2 MiB and 128 * 37 MiB: about 100 MiB for any number of
 *  unprivileged peers (one call handled past the budget may add its reply, one read its
 *  input, each stream one event being sent), 4.7 GiB more only if root itself asks for it.
 *  Idle connections hold no buffers.
 *
 * Client: blocking, for pcipassctl and tests.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include <json-c/json.h>

#include "lib/peercred.h"

#define VARLINK_MESSAGE_MAX		(1U << 20)	/* one received message, bytes */
#define VARLINK_OUTPUT_MAX		(4U << 20)	/* queued behind the message being sent */
#define VARLINK_REPLY_MAX		(32U << 20)	/* one reply, sent or received */
#define VARLINK_UNPRIVILEGED_BUFFER_MAX	(64U << 20)	/* all unprivileged peers together */
#define VARLINK_CONNECTIONS_MAX		2048U
#define VARLINK_CONNECTIONS_RESERVED	128U		/* of those, for privileged peers only */
#define VARLINK_CONNECTIONS_PER_UID_MAX	128U		/* unprivileged peers */
#define VARLINK_IDLE_TIMEOUT_USEC		(60ULL * 1000000ULL)
#define VARLINK_IDLE_TIMEOUT_PRIVILEGED_USEC	(600ULL * 1000000ULL)
#define VARLINK_MESSAGE_TIMEOUT_USEC		(10ULL * 1000000ULL)
#define VARLINK_OUTPUT_TIMEOUT_USEC		(60ULL * 1000000ULL)

#define VARLINK_ERROR_INTERFACE_NOT_FOUND	"org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND		"org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED	"org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER		"org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED		"org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE		"org.varlink.service.ExpectedMore"
/*
 * Sent, unasked, to a peer refused at connect time, then the connection is closed.
 * Parameters: limit ("connections" or "connections_per_uid") and max (that limit).
 */
#define VARLINK_ERROR_TOO_MANY_CONNECTIONS	"io.pcipass.TooManyConnections"
/*
 * The final reply of a call whose streamed replies the peer did not read fast enough: more than
 * output_max bytes queued (parameter output_max). The connection is closed after it.
 */
#define VARLINK_ERROR_OUTPUT_OVERFLOW		"io.pcipass.MonitorOverflow"

enum {
	VARLINK_CALL_ONEWAY = 1 << 0,	/* no reply wanted */
	VARLINK_CALL_MORE = 1 << 1,	/* replies may stream with "continues" */
};

struct varlink_server;
struct varlink_conn;

/*
 * A method handler. It answers with exactly one of varlink_reply() or varlink_error() (before
 * or after returning: a call not answered on return stays pending), and may call
 * varlink_notify() before that when the call has VARLINK_CALL_MORE. Returning a negative errno
 * without having answered makes the server answer with its errno error.
 */
typedef int (*varlink_method_fn)(struct varlink_conn *c, json_object *params, unsigned flags,
				 void *userdata);

struct varlink_method {
	const char *name;	/* "List" */
	varlink_method_fn fn;
};

struct varlink_interface {
	const char *name;		/* "io.pcipass" */
	const char *description;	/* the interface's IDL text */
	const struct varlink_method *methods;	/* terminated by a NULL name */
};

struct varlink_server_info {
	const char *vendor, *product, *version, *url;
	const char *errno_error;	/* error name for handlers failing with -errno */
};

/* See the top of this file. A field left 0 is "none" for timeouts and reserved, 0 else. */
struct varlink_limits {
	size_t message_max, output_max, reply_max, unprivileged_buffer_max;
	unsigned connections_max, connections_reserved, connections_per_uid_max;
	uint64_t idle_timeout_usec, idle_timeout_privileged_usec;
	uint64_t message_timeout_usec, output_timeout_usec;
};

int varlink_server_new(sd_event *event, const struct varlink_server_info *info, void *userdata,
		       struct varlink_server **ret);
struct varlink_server *varlink_server_free(struct varlink_server *s);
/* The defaults above. */
void varlink_limits_default(struct varlink_limits *ret);
/*
 * Lowers l->connections_max (and keeps connections_reserved below it) so that the connections
 * fit in nofile file descriptors (RLIMIT_NOFILE), with a quarter, at most 256, left for the
 * rest of the process. With the soft limit raised to a typical hard limit nothing changes.
 */
void varlink_limits_fit_nofile(struct varlink_limits *l, uint64_t nofile);
/* Applies to connections accepted from now on, and to the timeouts of existing ones. */
void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *l);
void varlink_server_get_limits(const struct varlink_server *s, struct varlink_limits *ret);
/*
 * Which peers are privileged (not limited per uid, may use the reserved connections, the
 * privileged idle timeout): fn is asked once per connection, when it is accepted. NULL restores
 * the default, uid 0.
 */
void varlink_server_set_privileged(struct varlink_server *s,
				   bool (*fn)(const struct peer_creds *creds, void *userdata),
				   void *userdata);
int varlink_server_add_interface(struct varlink_server *s, const struct varlink_interface *iface);
/* Takes fd, a listening AF_UNIX stream socket. */
int varlink_server_listen_fd(struct varlink_server *s, int fd);
/* Binds path (replacing a stale socket there) with the given mode. */
int varlink_server_listen_path(struct varlink_server *s, const char *path, unsigned mode);
/* Takes fd, a connected socket (tests, socket pairs). */
int varlink_server_add_connection(struct varlink_server *s, int fd, struct varlink_conn **ret);
unsigned varlink_server_connections(const struct varlink_server *s);
/* Bytes the server holds for its connections: input read but not handled, output unsent. */
size_t varlink_server_buffered(const struct varlink_server *s);
/* Bytes allocated for the connections' buffers: all, and the unprivileged peers' (the budget's). */
size_t varlink_server_buffer_memory(const struct varlink_server *s, size_t *ret_unprivileged);

int varlink_reply(struct varlink_conn *c, json_object *params);		/* takes params */
/* The same with the parameters already as text, params[0, n): a JSON object (not streamed). */
int varlink_reply_text(struct varlink_conn *c, const char *params, size_t n);
/* The same, the text in pieces, copied once into the connection's output; valid_utf8: the
 * caller made each piece valid UTF-8 (varlink_text_sanitize()), so it is not checked again. */
struct iovec;
int varlink_reply_parts(struct varlink_conn *c, const struct iovec *parts, size_t n_parts,
			bool valid_utf8);
/*
 * The same, the pieces given by fn, item by item: up to VARLINK_GATHER_PARTS_MAX for each of
 * n_items, valid UTF-8 (varlink_text_sanitize()). fn is called twice for every item, first for
 * the length, then for the copy straight into the connection's output, and must give the same
 * pieces both times; nothing else is allocated for them. A negative return from fn ends the
 * call with it and sends nothing.
 */
#define VARLINK_GATHER_PARTS_MAX 16
typedef int (*varlink_parts_fn)(void *userdata, size_t item, struct iovec *parts, size_t *ret_n);
int varlink_reply_gather(struct varlink_conn *c, size_t n_items, varlink_parts_fn fn,
			 void *userdata);
/* Makes the text *text[0, *n) valid UTF-8, what a message may carry: each byte that is not is
 * replaced by U+FFFD (*text is then a new string, the old one freed). 0 or -ENOMEM. */
int varlink_text_sanitize(char **text, size_t *n);
/* Whether text[0, n) is valid UTF-8 already. */
bool varlink_text_valid(const char *text, size_t n);
int varlink_notify(struct varlink_conn *c, json_object *params);	/* takes params */
int varlink_error(struct varlink_conn *c, const char *error, json_object *params); /* takes params */
int varlink_error_invalid_parameter(struct varlink_conn *c, const char *parameter);
int varlink_error_errno(struct varlink_conn *c, int error);

struct varlink_conn *varlink_conn_ref(struct varlink_conn *c);
struct varlink_conn *varlink_conn_unref(struct varlink_conn *c);
bool varlink_conn_is_closed(const struct varlink_conn *c);
/* The peer's credentials as of connect time (lib/peercred.h); valid while c is referenced. */
const struct peer_creds *varlink_conn_creds(const struct varlink_conn *c);
bool varlink_conn_is_privileged(const struct varlink_conn *c);
/* Shorthands for varlink_conn_creds(c)->uid and ->pid. The pid is only what the peer was at
 * connect time: never look it up in /proc to decide anything (it may be reused). */
uid_t varlink_conn_uid(const struct varlink_conn *c);
pid_t varlink_conn_pid(const struct varlink_conn *c);
/* Called once when the connection closes; for whoever keeps a pending call around. */
void varlink_conn_set_close_callback(struct varlink_conn *c,
				     void (*cb)(struct varlink_conn *c, void *userdata),
				     void *userdata);

static inline void varlink_conn_unrefp(struct varlink_conn **c)
{
	if (*c)
		(void)varlink_conn_unref(*c);
}

/* --- client ------------------------------------------------------------------------------ */

struct varlink_client;

int varlink_client_connect(const char *path, struct varlink_client **ret);
/* Takes fd, a connected socket. */
int varlink_client_new_fd(int fd, struct varlink_client **ret);
struct varlink_client *varlink_client_free(struct varlink_client *c);
int varlink_client_send(struct varlink_client *c, const char *method, json_object *params,
			unsigned flags);
/*
 * Waits up to timeout_ms (-1: forever) for the next reply. On success *ret_reply is the whole
 * reply object (owned by the caller). Returns -ETIMEDOUT, -ECONNRESET when the server hung
 * up, -EBADMSG on a malformed reply, -EMSGSIZE on one larger than VARLINK_REPLY_MAX. Replies
 * may be far larger than VARLINK_MESSAGE_MAX, which limits only what a server accepts (a
 * DumpRom reply carries up to 16 MiB of ROM in base64).
 */
int varlink_client_recv(struct varlink_client *c, int timeout_ms, json_object **ret_reply);
/*
 * One call, one reply. *ret_params is the reply's parameters (an empty object when absent);
 * *ret_error the error name or NULL. Both point into *ret_reply, which the caller owns.
 */
int varlink_client_call(struct varlink_client *c, const char *method, json_object *params,
			json_object **ret_reply, json_object **ret_params, const char **ret_error);
/*
 * The text of params as the server sent it, when params are those of the last reply received
 * on c and the message was {"parameters":VALUE} and nothing else; NULL else. VALUE passed the
 * strict check (json_text_check()) and was parsed into params, so it is JSON. Valid until the
 * next reply.
 */
const char *varlink_client_params_text(struct varlink_client *c, json_object *params, size_t *ret_len);
/*
 * With b, a reply {"parameters":VALUE} is checked but not parsed: its parameters are an empty
 * object, and VALUE is only the text varlink_client_params_text() gives. For a client that
 * passes a large reply on as it came; other replies (errors) are parsed as ever.
 */
void varlink_client_set_text_only(struct varlink_client *c, bool b);
/* Accessors for one reply object. */
json_object *varlink_reply_params(json_object *reply);
const char *varlink_reply_error(json_object *reply);
bool varlink_reply_continues(json_object *reply);

static inline void varlink_client_freep(struct varlink_client **c)
{
	if (*c)
		(void)varlink_client_free(*c);
}
