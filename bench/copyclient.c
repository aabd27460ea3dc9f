/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * copyclient: the yardstick of `pcipassctl -j METHOD` in bench/ratios.py. It connects to a
 * Varlink socket, sends one call of METHOD without parameters, and copies the reply's bytes
 * (up to its NUL) to standard output: what any client must do at the least. With a COUNT, it
 * makes that many calls one after the other on the connection instead, prints nothing of
 * them, and says how many it made per second.
 *
 *   copyclient SOCKET io.pcipass.List
 *   copyclient SOCKET io.pcipass.GetStatus 20000
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* count calls, each waited for: calls per second on stdout. */
static int repeat(int fd, const char *req, size_t n, long count)
{
	static char buf[1 << 16];
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < count; i++) {
		if (write(fd, req, n) != (ssize_t)n)
			return 1;
		for (;;) {
			ssize_t k = read(fd, buf, sizeof(buf));

			if (k <= 0)
				return 1;
			if (memchr(buf, 0, (size_t)k))
				break;	/* one call at a time: nothing follows its NUL */
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.0f\n", count / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9));
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[1 << 16];
	char req[256];
	int fd, n;

	if ((argc != 3 && argc != 4) || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: copyclient SOCKET METHOD [COUNT]\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(argv[1]);
		return 1;
	}
	n = snprintf(req, sizeof(req), "{\"method\":\"%s\"}", argv[2]);
	if (argc == 4)
		return repeat(fd, req, (size_t)n + 1, atol(argv[3]));
	if (write(fd, req, (size_t)n + 1) != n + 1) {
		perror("write");
		return 1;
	}
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		char *end;

		if (k <= 0)
			return k < 0;
		end = memchr(buf, 0, (size_t)k);
		if (fwrite(buf, 1, end ? (size_t)(end - buf) : (size_t)k, stdout) == 0)
			return 1;
		if (end)
			break;
	}
	putchar('\n');
	return 0;
}
