// SPDX-License-Identifier: GPL-2.0
/*
 * The parent claims original destinations (ktlsd_origdst, see redirect.c)
 * for network processes the kernel refuses the map: upstream Linux before
 * 6.5, while kernel.unprivileged_bpf_disabled is set (Debian's default),
 * makes every bpf() call need CAP_BPF, which only the parent holds.
 * (Debian's 6.1.0-47 and later 6.1 builds no longer refuse it.)
 *
 * Each network process gets a SOCK_SEQPACKET socketpair of its own for
 * this, apart from its control channel (netproc.c), where only the parent
 * asks; here only the network process asks. A request names the
 * application socket's source endpoint (the accepted socket's peer) and a
 * sequence number; the answer repeats the number and carries the record,
 * which the parent has consumed. That is all the parent does for it: the
 * same lookup-and-delete the network process may make itself on a newer
 * kernel, so a compromised network process gains nothing it would not
 * have with the map. The parent never blocks on a network process: it
 * reads when the main loop says so and drops an answer the other side
 * does not read.
 *
 * The network process's side, which asks, is redirect_ask.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "ktlsd.h"
#include "log.h"
#include "redirect.h"

/* Network processes whose EOF the parent has not seen yet: the serving
 * one, those draining (netproc.c keeps up to 16) and some just dead. */
#define MAX_CHANNELS	32

/* Parent: the open channels, one main loop source each. */
static struct channel {
	struct main_source src;	/* first: the main loop hands back its address */
	bool used;
} chans[MAX_CHANNELS];

/* Between prepare() and adopt(). */
static int parent_end = -1;

static void forget(struct channel *c)
{
	mainloop_del(&c->src);
	close(c->src.fd);
	c->src.fd = -1;
	c->used = false;
}

static void on_request(struct main_source *src, uint32_t events)
{
	struct channel *c = (struct channel *)src;
	struct redirect_ask_req req;
	struct redirect_ask_ans ans = { 0 };
	ssize_t n;

	(void)events;
	n = recv(src->fd, &req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		forget(c);		/* the network process has ended */
		return;
	}
	if (n != (ssize_t)sizeof(req))
		return;			/* malformed or nothing yet: no answer */
	ans.seq = req.seq;
	ans.found = redirect_take_origdst(&req.src, &ans.dst) == 0;
	if (!ans.found)
		memset(&ans.dst, 0, sizeof(ans.dst));
	send(src->fd, &ans, sizeof(ans), MSG_DONTWAIT | MSG_NOSIGNAL);
}

int redirect_broker_prepare(void)
{
	struct timeval tv = { .tv_sec = REDIRECT_ASK_TIMEOUT_S };
	const char *how = getenv("KTLSD_REDIRECT_CLAIM");
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		log_err("redirect: no channel for the parent's lookups: %s",
			strerror(errno));
		return -1;
	}
	/* A parent that does not answer must not hold a worker forever. */
	if (setsockopt(sp[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(sp[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		log_err("redirect: channel timeouts: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	parent_end = sp[0];
	redirect_ask_set_channel(sp[1], how && !strcmp(how, "parent"));
	return 0;
}

void redirect_broker_adopt(pid_t pid)
{
	struct channel *c = NULL;

	/* The child has its end; ours goes. */
	redirect_ask_set_channel(-1, false);
	if (parent_end < 0)
		return;
	for (int i = 0; i < MAX_CHANNELS && !c; i++)
		if (!chans[i].used)
			c = &chans[i];
	if (pid > 0 && c) {
		c->src.cb = on_request;
		c->src.fd = parent_end;
		if (mainloop_add(&c->src, EPOLLIN) == 0) {
			c->used = true;
			parent_end = -1;
			return;
		}
	}
	if (pid > 0)
		log_err("redirect: network process %d: no channel for the parent's "
			"lookups (%s)", (int)pid, c ? strerror(errno) :
			"too many network processes");
	close(parent_end);
	parent_end = -1;
}
