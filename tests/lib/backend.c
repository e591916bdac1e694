// SPDX-License-Identifier: GPL-2.0
/*
 * backend: the plaintext service the tests put behind ktlsd.
 *
 *   backend MODE [--port P] [--unix PATH] [--bytes N]
 *
 * MODE is one of
 *   echo    send back what arrives; close after the peer's end of stream
 *   sink    read to end of stream, then print "sink N SHA256HEX" on stdout
 *           and send the same line back before closing
 *   source  send N random bytes, print "source N SHA256HEX", shut down the
 *           write side and drain until the peer closes
 *   check   like sink, but also print "tls-bytes" if the stream starts with
 *           a TLS record header (0x16 0x03): the service must never see TLS
 *   greet   like sink, but first send "hello\n" (a client reading it knows
 *           its session is past the handshake and the key handoff)
 *
 * It binds (port 0 by default: the kernel picks), prints "listening PORT"
 * (or "listening unix:PATH") on stdout and flushes, so a test waits for
 * that line instead of sleeping. One epoll loop serves any number of
 * connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

enum mode { ECHO, SINK, SOURCE, CHECK, GREET };

struct conn {
	int fd;
	EVP_MD_CTX *md;
	unsigned long long bytes;	/* seen (sink) or sent (source) */
	unsigned long long todo;	/* source: bytes still to send */
	unsigned char buf[16384];
	size_t len, off;		/* echo: pending bytes */
	bool first;
	bool src_done;
	bool peer_eof;
};

static enum mode mode;
static unsigned long long source_bytes;

static void digest_line(struct conn *c, const char *what, char *line, size_t n)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	EVP_DigestFinal_ex(c->md, d, &dl);
	for (unsigned int i = 0; i < dl; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	snprintf(line, n, "%s %llu %s\n", what, c->bytes, hex);
}

static void conn_free(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	EVP_MD_CTX_free(c->md);
	free(c);
}

/* Write everything, waiting in poll() when the socket is full. */
static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, -1);
			continue;
		}
		if (w <= 0)
			return -1;
		b += w;
		n -= w;
	}
	return 0;
}

/* Returns false when the connection is finished. */
static bool conn_readable(struct conn *c)
{
	ssize_t n;

	if (mode == ECHO) {
		if (c->len)
			return true;	/* wait until written */
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n > 0) {
			c->len = n;
			c->off = 0;
			if (write_all(c->fd, c->buf, c->len) < 0)
				return false;
			c->len = 0;
			return true;
		}
		return n < 0 && errno == EAGAIN;
	}
	n = read(c->fd, c->buf, sizeof(c->buf));
	if (n < 0)
		return errno == EAGAIN;
	if (n == 0) {
		char line[256];

		if (mode == SOURCE) {
			/* The peer's half-close: keep sending until done. */
			c->peer_eof = true;
			return !c->src_done;
		}
		digest_line(c, "sink", line, sizeof(line));
		fputs(line, stdout);
		fflush(stdout);
		write_all(c->fd, line, strlen(line));
		return false;
	}
	if (mode == CHECK && c->first && n >= 2 && c->buf[0] == 0x16 &&
	    c->buf[1] == 0x03) {
		printf("tls-bytes\n");
		fflush(stdout);
	}
	c->first = false;
	if (mode != SOURCE) {
		EVP_DigestUpdate(c->md, c->buf, n);
		c->bytes += n;
	}
	return true;
}

/* source mode: push random bytes while the socket takes them. */
static bool conn_writable(int ep, struct conn *c)
{
	while (c->todo) {
		size_t chunk = c->todo < sizeof(c->buf) ? c->todo : sizeof(c->buf);
		ssize_t w;

		if (c->off == c->len) {
			RAND_bytes(c->buf, chunk);
			EVP_DigestUpdate(c->md, c->buf, chunk);
			c->len = chunk;
			c->off = 0;
		}
		w = write(c->fd, c->buf + c->off, c->len - c->off);
		if (w < 0)
			return errno == EAGAIN;
		c->off += w;
		c->todo -= w;
		c->bytes += w;
	}
	if (!c->src_done) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		char line[256];

		c->src_done = true;
		digest_line(c, "source", line, sizeof(line));
		fputs(line, stdout);
		fflush(stdout);
		shutdown(c->fd, SHUT_WR);
		if (c->peer_eof)
			return false;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return true;
}

static int listen_on(const char *unix_path, int port)
{
	int one = 1, fd;

	if (unix_path) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", unix_path);
		unlink(unix_path);
		if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
			return -1;
		printf("listening unix:%s\n", unix_path);
	} else {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons(port),
					  .sin6_addr = IN6ADDR_ANY_INIT };
		socklen_t len = sizeof(a);
		int zero = 0;

		fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
		getsockname(fd, (struct sockaddr *)&a, &len);
		printf("listening %d\n", ntohs(a.sin6_port));
	}
	if (listen(fd, 4096) < 0)
		return -1;
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	const char *unix_path = NULL;
	int port = 0, lfd, ep;
	struct epoll_event ev = { .events = EPOLLIN };
	static int listener_tag;

	if (argc < 2) {
		fprintf(stderr, "usage: backend echo|sink|source|check|greet [--port P] "
			"[--unix PATH] [--bytes N]\n");
		return 2;
	}
	if (!strcmp(argv[1], "echo"))
		mode = ECHO;
	else if (!strcmp(argv[1], "sink"))
		mode = SINK;
	else if (!strcmp(argv[1], "source"))
		mode = SOURCE;
	else if (!strcmp(argv[1], "check"))
		mode = CHECK;
	else if (!strcmp(argv[1], "greet"))
		mode = GREET;
	else {
		fprintf(stderr, "backend: unknown mode '%s'\n", argv[1]);
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--unix"))
			unix_path = argv[i + 1];
		else if (!strcmp(argv[i], "--bytes"))
			source_bytes = strtoull(argv[i + 1], NULL, 0);
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(unix_path, port);
	if (lfd < 0) {
		perror("backend: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.data.ptr = &listener_tag;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (evs[i].data.ptr == &listener_tag) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event cev;

					c = calloc(1, sizeof(*c));
					c->fd = fd;
					c->first = true;
					c->md = EVP_MD_CTX_new();
					EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
					c->todo = mode == SOURCE ? source_bytes : 0;
					if (mode == GREET)
						write_all(fd, "hello\n", 6);
					cev.events = mode == SOURCE ? EPOLLOUT : EPOLLIN;
					cev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				}
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && mode == SOURCE &&
			    !c->src_done) {
				if (!conn_writable(ep, c))
					conn_free(ep, c);
				continue;
			}
			if (!conn_readable(c)) {
				conn_free(ep, c);
			} else if (c->peer_eof) {
				struct epoll_event oev = { .events = EPOLLOUT,
							   .data.ptr = c };

				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &oev);
			}
		}
	}
}
