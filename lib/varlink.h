/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Varlink (https://varlink.org) over AF_UNIX stream sockets: each message is one JSON object
 * followed by a NUL byte. libsystemd 252 has no public sd-varlink, hence this.
 *
 * Server: runs on sd-event. Calls on one connection are handled one at a time and answered in
 * order; while a call is pending (a method that answers later, or streams with "more") the
 * connection's further input waits in the socket. Output is buffered per connection, so a slow
 * or stalled peer never blocks the daemon; a peer whose unread output passes the limit, or
 * whose message passes the size limit, or who breaks the protocol, is disconnected.
 * org.varlink.service (GetInfo, GetInterfaceDescription) is built in.
 *
 * Client: blocking, for pcipassctl and tests.
 */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include <json-c/json.h>

#define VARLINK_MESSAGE_MAX		(1U << 20)	/* one received message, bytes */
#define VARLINK_OUTPUT_MAX		(64U << 20)	/* unsent output per connection, bytes */
#define VARLINK_CONNECTIONS_MAX		64U
#define VARLINK_CONNECTIONS_PER_UID_MAX	16U

#define VARLINK_ERROR_INTERFACE_NOT_FOUND	"org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND		"org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED	"org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER		"org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED		"org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE		"org.varlink.service.ExpectedMore"

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

struct varlink_limits {
	size_t message_max, output_max;
	unsigned connections_max, connections_per_uid_max;
};

int varlink_server_new(sd_event *event, const struct varlink_server_info *info, void *userdata,
		       struct varlink_server **ret);
struct varlink_server *varlink_server_free(struct varlink_server *s);
void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *l);
int varlink_server_add_interface(struct varlink_server *s, const struct varlink_interface *iface);
/* Takes fd, a listening AF_UNIX stream socket. */
int varlink_server_listen_fd(struct varlink_server *s, int fd);
/* Binds path (replacing a stale socket there) with the given mode. */
int varlink_server_listen_path(struct varlink_server *s, const char *path, unsigned mode);
/* Takes fd, a connected socket (tests, socket pairs). */
int varlink_server_add_connection(struct varlink_server *s, int fd, struct varlink_conn **ret);
unsigned varlink_server_connections(const struct varlink_server *s);

int varlink_reply(struct varlink_conn *c, json_object *params);		/* takes params */
int varlink_notify(struct varlink_conn *c, json_object *params);	/* takes params */
int varlink_error(struct varlink_conn *c, const char *error, json_object *params); /* takes params */
int varlink_error_invalid_parameter(struct varlink_conn *c, const char *parameter);
int varlink_error_errno(struct varlink_conn *c, int error);

struct varlink_conn *varlink_conn_ref(struct varlink_conn *c);
struct varlink_conn *varlink_conn_unref(struct varlink_conn *c);
bool varlink_conn_is_closed(const struct varlink_conn *c);
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
 * up, -EBADMSG on a malformed reply, -EMSGSIZE on one larger than VARLINK_OUTPUT_MAX. Replies
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
/* Accessors for one reply object. */
json_object *varlink_reply_params(json_object *reply);
const char *varlink_reply_error(json_object *reply);
bool varlink_reply_continues(json_object *reply);

static inline void varlink_client_freep(struct varlink_client **c)
{
	if (*c)
		(void)varlink_client_free(*c);
}
