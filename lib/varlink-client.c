/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Varlink client: one call at a time on a blocking socket, as pcipassctl makes them. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/json-check.h"
#include "lib/json-util.h"
#include "lib/util.h"
#include "lib/varlink-wire.h"
#include "lib/varlink.h"

/*
 * Memory for what is received. A reply of megabytes (a List of thousands of functions) would
 * take a page fault for every 4 KiB it fills, which costs more than receiving it. Past
 * RMEM_MAPPED_FROM the buffer moves into a mapping reserved at once for the largest reply, so
 * it never moves again, and that the kernel may fill with huge pages (MADV_HUGEPAGE; where it
 * does not, the pages are what they were).
 */
struct rmem {
	char *p;
	size_t size;
	void *map;	/* NULL: p is from malloc() */
	size_t map_len;
};

#define RMEM_MAPPED_FROM	(256U << 10)
#define HUGE_PAGE_SIZE		(2U << 20)

static void rmem_free(struct rmem *m)
{
	if (m->map)
		(void)munmap(m->map, m->map_len);
	else
		free(m->p);
	*m = (struct rmem){};
}

/* Room for need bytes, of which the first used are kept. */
static int rmem_reserve(struct rmem *m, size_t used, size_t need)
{
	size_t len = VARLINK_REPLY_MAX + READ_CHUNK + HUGE_PAGE_SIZE;
	uintptr_t start;
	void *map;

	if (need <= m->size)
		return 0;
	if (m->map || need < RMEM_MAPPED_FROM)
		return buf_reserve(&m->p, &m->size, need);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (map == MAP_FAILED)
		return buf_reserve(&m->p, &m->size, need);
	start = ((uintptr_t)map + HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(HUGE_PAGE_SIZE - 1);
	(void)madvise((void *)start, len - (start - (uintptr_t)map), MADV_HUGEPAGE);
	if (used > 0)
		memcpy((void *)start, m->p, used);
	free(m->p);
	*m = (struct rmem){
		.p = (char *)start,
		.size = len - (start - (uintptr_t)map),
		.map = map,
		.map_len = len,
	};
	return 0;
}

struct varlink_client {
	int fd;
	struct rmem rbuf;
	size_t rlen, rscan;	/* rbuf.p[0, rscan) has no NUL */
	struct rmem text;	/* the last reply as received, without its NUL */
	size_t params_off, params_len;	/* its parameters' text, when it was {"parameters":…} */
	uintptr_t n_replies;		/* its number, in its parameters' json-c userdata */
	bool text_only;			/* parameters checked, not parsed */
};

#define REPLY_HEAD "{\"parameters\":"

/* A reply whose "parameters" are there, not null and no object breaks the protocol. */
static int reply_check(json_object *reply)
{
	json_object *p = NULL;

	if (!json_object_is_type(reply, json_type_object) ||
	    (json_object_object_get_ex(reply, "parameters", &p) && p &&
	     !json_object_is_type(p, json_type_object)))
		return -EBADMSG;
	return 0;
}

/* The whole reply, parsed as strictly as a message. */
static int reply_parse_whole(const char *text, size_t len, json_object **ret)
{
	json_object *reply = NULL;
	int r;

	r = message_parse(text, len, &reply);
	if (r >= 0 && (r = reply_check(reply)) < 0)
		(void)json_object_put(reply);
	else if (r >= 0)
		*ret = reply;
	return r;
}

/*
 * A reply's object. For {"parameters":{…}}, which is most, the parameters alone are checked
 * and their place kept (*ret_off, *ret_len), so that their text can be passed on as it came;
 * they are parsed only unless text_only, which gives empty parameters instead. Any other reply
 * is parsed whole, as strictly as a message.
 */
static int reply_parse(const char *text, size_t len, bool text_only, json_object **ret,
		       size_t *ret_off, size_t *ret_len)
{
	json_object *p = NULL, *reply;
	const char *v;
	size_t n;

	*ret_off = *ret_len = 0;
	if (!(len > STRLEN(REPLY_HEAD) + 1 && memcmp(text, REPLY_HEAD, STRLEN(REPLY_HEAD)) == 0 &&
	      text[len - 1] == '}'))
		return reply_parse_whole(text, len, ret);
	v = text + STRLEN(REPLY_HEAD);
	n = len - STRLEN(REPLY_HEAD) - 1;
	/* Varlink's parameters are an object: its text begins with "{" (the check allows no
	 * space before it here, and the server writes none). */
	if (v[0] != '{')
		return reply_parse_whole(text, len, ret);
	if (text_only) {
		if (json_text_check(v, n) < 0)
			return reply_parse_whole(text, len, ret);
		p = json_object_new_object();
		if (!p)
			return -ENOMEM;
	} else if (message_parse(v, n, &p) < 0)
		return reply_parse_whole(text, len, ret);

	reply = json_object_new_object();
	if (json_add(reply, "parameters", p) < 0) {
		(void)json_object_put(reply);
		return -ENOMEM;
	}
	*ret = reply;
	*ret_off = STRLEN(REPLY_HEAD);
	*ret_len = n;
	return 0;
}

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
	rmem_free(&c->rbuf);
	rmem_free(&c->text);
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
		/* Only what came since the last look: a large reply arrives in many reads. */
		char *nul = c->rbuf.p ? memchr(c->rbuf.p + c->rscan, 0, c->rlen - c->rscan) : NULL;
		ssize_t n;
		int r;

		c->rscan = c->rlen;
		if (nul) {
			json_object *reply = NULL;
			size_t len = (size_t)(nul - c->rbuf.p);

			r = reply_parse(c->rbuf.p, len, c->text_only, &reply, &c->params_off,
					&c->params_len);
			rmem_free(&c->text);
			c->rscan = 0;
			if (r >= 0 && c->params_len > 0 && len + 1 == c->rlen) {
				/* Nothing after it (no pipelining): its buffer becomes the text. */
				c->text = c->rbuf;
				c->rbuf = (struct rmem){};
				c->rlen = 0;
			} else {
				if (r >= 0 && c->params_len > 0 &&
				    !(c->text.p = strndup(c->rbuf.p, len)))
					r = -ENOMEM;
				c->rlen -= len + 1;
				memmove(c->rbuf.p, nul + 1, c->rlen);
			}
			if (r < 0) {
				(void)json_object_put(reply);
				return r;
			}
			c->n_replies++;
			if (c->params_len > 0)
				json_object_set_userdata(varlink_reply_params(reply), (void *)c->n_replies, NULL);
			*ret_reply = reply;
			return 0;
		}
		if (c->rlen > VARLINK_REPLY_MAX)
			return -EMSGSIZE;

		if (timeout_ms >= 0) {
			uint64_t now = now_usec();
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			int wait = now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);

			/* A timeout of 0 still takes what is there already. */
			r = poll(&pfd, 1, wait);
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r == 0 && wait == 0)
				return -ETIMEDOUT;
			if (r <= 0)
				continue;
		}
		r = rmem_reserve(&c->rbuf, c->rlen, c->rlen + READ_CHUNK);
		if (r < 0)
			return r;
		n = recv(c->fd, c->rbuf.p + c->rlen, c->rbuf.size - c->rlen, 0);
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

void varlink_client_set_text_only(struct varlink_client *c, bool b)
{
	c->text_only = b;
}

const char *varlink_client_params_text(struct varlink_client *c, json_object *params, size_t *ret_len)
{
	if (!c->text.p || c->params_len == 0 || !params ||
	    json_object_get_userdata(params) != (void *)c->n_replies)
		return NULL;
	*ret_len = c->params_len;
	return c->text.p + c->params_off;
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
	if (r == -EPIPE || r == -ECONNRESET) {
		/* The server may have said why before it closed (TooManyConnections). */
		if (varlink_client_recv(c, 0, &reply) < 0)
			return r;
		r = 0;
	} else if (r < 0)
		return r;
	else
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
