// SPDX-License-Identifier: GPL-2.0
/*
 * The network process's side of the parent's lookups (redirect_broker.c):
 * where the kernel refuses it the ktlsd_origdst map, a worker asks the
 * parent to consume a redirected connection's record.
 *
 * The workers share the process's one channel under a mutex and wait for
 * the answer: a round trip to the parent's main loop, longer only while
 * the parent is busy (a reload); after REDIRECT_ASK_TIMEOUT_S the claim
 * fails and the connection is closed. An answer that comes after its
 * request gave up is recognised by its number and dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "redirect.h"

/* Set by the parent before the fork (redirect_broker_prepare) and kept by
 * the network process; the parent closes its copy after the fork. */
static int chan = -1;
static bool forced;

/* One request in flight at a time. */
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t ask_seq;

void redirect_ask_set_channel(int fd, bool force)
{
	if (chan >= 0)
		close(chan);
	chan = fd;
	forced = force;
}

int redirect_broker_child_fd(void)
{
	return chan;
}

bool redirect_broker_forced(void)
{
	return forced;
}

int redirect_broker_claim(const struct ktlsd_endpoint *src,
			  struct ktlsd_endpoint *dst)
{
	struct redirect_ask_req req = { .src = *src };
	struct redirect_ask_ans ans;
	int rc = -1;

	if (chan < 0)
		return -1;
	pthread_mutex_lock(&ask_lock);
	req.seq = ++ask_seq;
	if (send(chan, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		log_warn("redirect: cannot ask the parent: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = recv(chan, &ans, sizeof(ans), MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			log_warn("redirect: the parent did not answer within %d s",
				 REDIRECT_ASK_TIMEOUT_S);
			break;
		}
		if (n != (ssize_t)sizeof(ans))
			break;		/* the parent is gone */
		if (ans.seq != req.seq)
			continue;	/* late: its request has given up */
		if (ans.found) {
			*dst = ans.dst;
			rc = 0;
		}
		break;
	}
out:
	pthread_mutex_unlock(&ask_lock);
	return rc;
}
