/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * canned: the yardstick server of bench/ratios.py. It listens on SOCKET and answers every
 * message (up to its NUL) on every connection with the bytes of FILE and a NUL: what any
 * server must do at the least to send that reply.
 *
 *   canned SOCKET FILE      (prints "ready" when listening; SIGTERM ends it)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int serve(int fd, const char *reply, size_t n)
{
	char buf[65536];

	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k <= 0)
			return 0;
		for (char *p = buf; (p = memchr(p, 0, (size_t)(buf + k - p))); p++)
			for (size_t off = 0; off < n;) {
				ssize_t w = write(fd, reply + off, n - off);

				if (w < 0)
					return -1;
				off += (size_t)w;
			}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	char *reply;
	int fd, srv;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: canned SOCKET FILE\n");
		return 2;
	}
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !(reply = malloc((size_t)st.st_size + 1)) ||
	    read(fd, reply, (size_t)st.st_size) != st.st_size) {
		perror(argv[2]);
		return 1;
	}
	reply[st.st_size] = 0;	/* the message's NUL */
	close(fd);
	strcpy(sa.sun_path, argv[1]);
	srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv, 64) < 0) {
		perror(argv[1]);
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(srv, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		if (fork() == 0) {
			close(srv);
			_exit(serve(c, reply, (size_t)st.st_size + 1) < 0);
		}
		close(c);
	}
}
