// SPDX-License-Identifier: GPL-2.0
/*
 * flood: the idle and slow connections of a handshake-exhaustion attack,
 * for the admission test (tests/host/admission.c) and the bench row.
 *
 *   flood --connect IP:PORT [--silent N] [--half M] [--sources FIRST/COUNT]
 *
 * Opens N connections that send nothing and M that send the first half of
 * a real ClientHello and stall, spread over COUNT source addresses from
 * FIRST on (e.g. 127.0.0.10/50; default one source, the kernel's choice).
 * Whenever the server closes one, it is opened again at once, so the
 * population stays N + M for as long as the flood runs, as an attacker
 * would keep it. Prints "ready OPEN" once every first connect has been
 * answered, then runs until SIGTERM and prints
 * "result opened=... closed_by_server=... failed=...".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

struct fconn {
	int fd;
	bool half;		/* sends half a ClientHello */
	bool connected;
	unsigned int source;	/* index among the sources */
};

static struct sockaddr_in target;
static struct in_addr first_source;
static unsigned int n_sources;
static unsigned char hello[2048];
static size_t hello_len;
static volatile sig_atomic_t stop;
static unsigned long long opened, closed_by_server, failed;
static int ep;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void watch(struct fconn *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	epoll_ctl(ep, op, c->fd, &ev);
}

/* (Re)open C from its source. */
static void fconn_open(struct fconn *c)
{
	int one = 1;

	c->connected = false;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		failed++;
		return;
	}
	if (n_sources) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr = htonl(ntohl(first_source.s_addr) + c->source);
		/* The port is picked at connect(), per destination. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			close(c->fd);
			c->fd = -1;
			failed++;
			return;
		}
	}
	opened++;
	if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		failed++;
		return;
	}
	watch(c, EPOLL_CTL_ADD, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
}

static void fconn_event(struct fconn *c, uint32_t events)
{
	if (!c->connected && (events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP))) {
		c->connected = true;
		if (c->half && send(c->fd, hello, hello_len / 2, MSG_NOSIGNAL) < 0)
			events |= EPOLLERR;
		else
			watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP);
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
		if (c->connected)
			closed_by_server++;
		else
			failed++;
		close(c->fd);
		fconn_open(c);
	}
}

static int parse(int argc, char **argv, unsigned long *silent, unsigned long *half)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		char host[64], *slash;

		if (!strcmp(a, "--connect")) {
			snprintf(host, sizeof(host), "%s", v);
			slash = strrchr(host, ':');
			if (!slash)
				return -1;
			*slash = '\0';
			target.sin_family = AF_INET;
			target.sin_port = htons(atoi(slash + 1));
			if (inet_pton(AF_INET, host, &target.sin_addr) != 1)
				return -1;
		} else if (!strcmp(a, "--silent")) {
			*silent = strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--half")) {
			*half = strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--sources")) {
			snprintf(host, sizeof(host), "%s", v);
			slash = strchr(host, '/');
			if (!slash)
				return -1;
			*slash = '\0';
			n_sources = strtoul(slash + 1, NULL, 10);
			if (inet_pton(AF_INET, host, &first_source) != 1 || !n_sources)
				return -1;
		} else {
			return -1;
		}
	}
	return target.sin_port ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long silent = 0, half = 0, total, answered = 0;
	struct sigaction sa = { .sa_handler = on_term };
	struct epoll_event evs[256];
	struct rlimit rl;
	struct fconn *c;
	bool ready = false;
	int n;

	if (parse(argc, argv, &silent, &half) < 0) {
		fprintf(stderr, "usage: flood --connect IP:PORT [--silent N] [--half M] "
			"[--sources FIRST/COUNT]\n");
		return 2;
	}
	total = silent + half;
	/* One descriptor per connection, plus a few. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < total + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < total + 64) {
			fprintf(stderr, "flood: RLIMIT_NOFILE %llu is below %lu connections\n",
				(unsigned long long)rl.rlim_cur, total);
			return 1;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	c = calloc(total ? total : 1, sizeof(*c));
	ep = epoll_create1(EPOLL_CLOEXEC);
	n = tl_client_hello(hello, sizeof(hello));
	if (!c || ep < 0 || n < 0) {
		fprintf(stderr, "flood: out of memory, or no ClientHello\n");
		return 1;
	}
	hello_len = (size_t)n;
	for (unsigned long i = 0; i < total; i++) {
		c[i].half = i >= silent;
		c[i].source = n_sources ? i % n_sources : 0;
		fconn_open(&c[i]);
	}
	while (!stop) {
		n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			struct fconn *f = evs[i].data.ptr;
			bool was = f->connected;

			fconn_event(f, evs[i].events);
			if (!was && f->connected)
				answered++;
		}
		/* Every first connect answered (refused ones are reopened). */
		if (!ready && (answered >= total || opened >= 2 * total)) {
			printf("ready %lu\n", total);
			fflush(stdout);
			ready = true;
		}
	}
	printf("result opened=%llu closed_by_server=%llu failed=%llu\n",
	       opened, closed_by_server, failed);
	fflush(stdout);
	for (unsigned long i = 0; i < total; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free(c);
	close(ep);
	return 0;
}
