// SPDX-License-Identifier: GPL-2.0
/*
 * Network processes: the processes that parse the network. They accept,
 * make handshakes (signing through the key holder), hand keys to the
 * kernel and forward, as the unprivileged user, with no capability, under
 * a seccomp allowlist, not dumpable, and with only the public half of each
 * key. This file holds both sides: the parent's (start, drain, restart,
 * ask) and the child's (confine itself, run the workers, answer).
 *
 * Process model
 * -------------
 * The parent builds a generation (configuration, TLS contexts whose keys
 * are keyproxy keys), binds the listeners, sets up the eBPF side, and then
 * forks a network process that inherits all of it: nothing has to be sent
 * or parsed again, and the child never opens a file. A reload forks a new
 * network process for the new generation; once it is ready, the previous
 * one is told to drain: it closes its listeners and ends when its last
 * session does. The listening sockets stay the parent's, so a connection
 * in a backlog is accepted by whichever process comes next.
 *
 * A network process that dies (a crash, a seccomp kill, kill -9) is
 * replaced at once from the current generation. Each network process dies
 * with the parent (PR_SET_PDEATHSIG), so no orphan keeps a port.
 *
 * Sign channels: the key holder's (two pipes each), one per worker thread
 * (up to KP_MAX_CHANNELS), made by the parent and inherited at the fork;
 * when the key holder is replaced, the parent sends a new one for each
 * (NET_SIGNER names the worker's slot).
 *
 * Channel: a SOCK_SEQPACKET socketpair per network process. The parent
 * asks (sessions, counts, drain, new sign channels); the child answers on
 * the same channel and sends nothing unasked except READY once. Messages
 * are fixed-layout (both ends are the same binary, forked, never exec'd);
 * every length is checked. The parent's main thread is the only one that
 * touches the table below.
 */
#include <errno.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "control.h"
#include "fdmsg.h"
#include "keyholder.h"
#include "keystore.h"
#include "ktlsd.h"
#include "log.h"
#include "netproc.h"
#include "redirect.h"
#include "sandbox.h"
#include "steer.h"

enum net_msg_type {
	NET_READY = 1,		/* child: workers run */
	NET_DRAIN,		/* parent: stop accepting, end with the last session */
	NET_SESSIONS,		/* parent: struct ctl_request */
	NET_PACKET,		/* child: one control reply packet */
	NET_END,		/* child: end of the packets; u8 truncated */
	NET_COUNT,		/* parent: how many sessions? */
	NET_COUNT_REPLY,	/* child: struct net_count */
	NET_SIGNER,		/* parent: the new sign channel's two fds
				 * attached; u32 its slot (keyproxy_set_channel) */
};

struct net_hdr {
	uint32_t type;
	uint32_t len;
};

struct net_count {
	uint32_t sessions;
	uint32_t handshakes;
};

struct net_msg {
	struct net_hdr h;
	unsigned char payload[CTL_REPLY_MAX];
};

#define MAX_NETPROCS	16	/* the current one and those draining */
#define READY_TIMEOUT_S	20	/* a loaded machine under ASan is slow */

static struct netproc {
	pid_t pid;
	int chan;		/* the parent's end */
	bool draining;
} procs[MAX_NETPROCS];
static int n_workers;
static uid_t net_uid;
static gid_t net_gid;
static bool confine;	/* started as root: switch user */

/* ---- messages (both sides) ---------------------------------------------- */

static int net_send(int fd, uint32_t type, const void *payload, size_t len,
		    int pass_fd)
{
	struct net_hdr h = { .type = type, .len = (uint32_t)len };

	return fdmsg_send(fd, &h, sizeof(h), payload, len, pass_fd);
}

/* NET_SIGNER: SLOT, and the sign channel's two descriptors. */
static int net_send_signer(int fd, uint32_t slot, struct kh_signer ch)
{
	struct net_hdr h = { .type = NET_SIGNER, .len = sizeof(slot) };
	int fds[2] = { ch.req, ch.ans };

	return fdmsg_send_fds(fd, &h, sizeof(h), &slot, sizeof(slot), fds, 2);
}

static void close_passed(int passed[FDMSG_MAX_FDS])
{
	for (int i = 0; i < FDMSG_MAX_FDS; i++) {
		if (passed[i] >= 0)
			close(passed[i]);
		passed[i] = -1;
	}
}

/* -1 at EOF, on an error or a timeout; -2 malformed; else payload length.
 * PASSED gets the descriptors that came with it (-1 where none). */
static ssize_t net_recv(int fd, struct net_msg *m, int passed[FDMSG_MAX_FDS])
{
	ssize_t n = fdmsg_recv_fds(fd, m, sizeof(*m), passed, FDMSG_MAX_FDS);

	if (n == -1)
		return -1;
	if (n < (ssize_t)sizeof(m->h) || m->h.len != (size_t)n - sizeof(m->h)) {
		close_passed(passed);
		return -2;
	}
	return (ssize_t)m->h.len;
}

/* ---- the child ---------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every descriptor but stdin/out/err and KEEP[0..N): the control
 * socket, the key holder's load channel, the eBPF programs and maps the
 * parent updates, the other children's channels all stay behind. */
static void close_all_but(int *keep, int n)
{
	unsigned int next = 3;

	qsort(keep, (size_t)n, sizeof(*keep), cmp_int);
	for (int i = 0; i < n; i++) {
		if (keep[i] < (int)next)
			continue;
		if ((unsigned int)keep[i] > next)
			close_range(next, (unsigned int)keep[i] - 1, 0);
		next = (unsigned int)keep[i] + 1;
	}
	close_range(next, ~0U, 0);
}

static void child_answer_sessions(int chan, const struct net_msg *m, size_t len)
{
	struct ctl_request req;
	struct ctl_outq q = { 0 };
	uint8_t truncated;

	if (len != sizeof(req)) {
		net_send(chan, NET_END, "\1", 1, -1);
		return;
	}
	memcpy(&req, m->payload, sizeof(req));
	req.filter_port[sizeof(req.filter_port) - 1] = '\0';
	req.filter_peer[sizeof(req.filter_peer) - 1] = '\0';
	req.name[sizeof(req.name) - 1] = '\0';
	ctl_reply_sessions_local(&req, &q);
	for (struct ctl_packet *p = q.head; p; p = p->next)
		if (net_send(chan, NET_PACKET, p->data, p->len, -1) < 0)
			break;
	truncated = q.truncated;
	net_send(chan, NET_END, &truncated, 1, -1);
	ctl_outq_free(&q);
}

static void child_take_signer(uint32_t slot, struct kh_signer ch)
{
	if (ch.req < 0 || ch.ans < 0) {
		keyproxy_close_signer(ch);
		return;
	}
	/* Waits for a signature in flight on the old one. */
	keyproxy_close_signer(keyproxy_set_channel(slot, ch));
	workers_sign_channel_changed(slot);
}

/* How many sign channels a network process gets: one per worker. */
static int signers_per_process(void)
{
	return n_workers < KP_MAX_CHANNELS ? n_workers : KP_MAX_CHANNELS;
}

/* Answer the parent until it says drain and the last session has ended,
 * or until the parent is gone. */
static int child_loop(int chan)
{
	bool draining = false;

	for (;;) {
		struct pollfd pfd = { chan, POLLIN, 0 };
		struct net_msg m;
		unsigned int hs = 0;
		int passed[FDMSG_MAX_FDS], r;
		ssize_t len;

		if (draining && workers_count_sessions(&hs) == 0 && hs == 0)
			return 0;
		r = poll(&pfd, 1, draining ? 1000 : -1);
		if (r < 0 && errno != EINTR)
			return 1;
		if (r <= 0)
			continue;
		len = net_recv(chan, &m, passed);
		if (len == -1)
			return 0;	/* the parent is gone */
		if (len < 0)
			continue;
		switch (m.h.type) {
		case NET_DRAIN:
			draining = true;
			workers_drain();
			sandbox_set_title("network (draining)");
			break;
		case NET_SESSIONS:
			child_answer_sessions(chan, &m, (size_t)len);
			break;
		case NET_COUNT: {
			struct net_count c;

			c.sessions = workers_count_sessions(&hs);
			c.handshakes = hs;
			net_send(chan, NET_COUNT_REPLY, &c, sizeof(c), -1);
			break;
		}
		case NET_SIGNER: {
			uint32_t slot;

			if (len != sizeof(slot))
				break;
			memcpy(&slot, m.payload, sizeof(slot));
			child_take_signer(slot, (struct kh_signer){ passed[0],
								    passed[1] });
			passed[0] = passed[1] = -1;
			break;
		}
		}
		close_passed(passed);
	}
}

static void __attribute__((noreturn)) child_main(int chan,
						 const struct kh_signer *signers,
						 int n_signers, pid_t parent,
						 bool selftest)
{
	int keep[64 + 2 * KP_MAX_CHANNELS], n = 0;
	sigset_t all;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	keep[n++] = chan;
	for (int i = 0; i < n_signers; i++) {
		keep[n++] = signers[i].req;
		keep[n++] = signers[i].ans;
	}
	n += listeners_fds(keep + n, 64 + 2 * KP_MAX_CHANNELS - n - 16);
	n += steer_network_fds(keep + n, 8);
	n += redirect_network_fds(keep + n, 8);
	close_all_but(keep, n);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	sandbox_set_title("network");
	/* The keys are the parent's to release; ours are only references. */
	keyproxy_set_release_hook(NULL);
	/* The parent's own sign channel stayed behind (close_all_but). */
	keyproxy_forget_channels();
	for (int i = 0; i < n_signers; i++)
		child_take_signer((uint32_t)i, signers[i]);
	if (sandbox_drop_privileges(net_uid, net_gid) < 0) {
		log_err("network process: cannot drop privileges: %s",
			strerror(errno));
		_exit(3);
	}
	sandbox_not_dumpable();
	if (sandbox_seccomp(SANDBOX_NETWORK) < 0) {
		log_err("network process: cannot install the seccomp filter: %s",
			strerror(errno));
		_exit(3);
	}
	if (workers_start(n_workers) < 0) {
		log_err("network process: cannot start the workers");
		_exit(3);
	}
	net_send(chan, NET_READY, NULL, 0, -1);
	if (selftest)
		sandbox_selftest_violate();
	_exit(child_loop(chan));
}

/* ---- the parent --------------------------------------------------------- */

int netproc_setup(const char *user, int workers, char *err, size_t errlen)
{
	n_workers = workers;
	confine = getuid() == 0;
	if (confine && sandbox_lookup_user(user && *user ? user : "ktlsd",
					   &net_uid, &net_gid, err, errlen) < 0)
		return -1;
	/* Started as an unprivileged user (the packaged unit's User=): the
	 * children stay that user, whatever [ktlsd] user names. */
	if (!confine && user && *user) {
		struct passwd *pw = getpwnam(user);

		if (!pw || pw->pw_uid != getuid())
			log_warn("[ktlsd] user = %s: not used: ktlsd was started as "
				 "uid %u, not as root, and its children keep that uid",
				 user, (unsigned int)getuid());
	}
	/* Only the network processes may bind the steering's backend source
	 * addresses. */
	steer_set_worker_uid(confine ? net_uid : getuid());
	/* Their connects to the real servers are never redirected. */
	redirect_set_worker_uid(confine ? net_uid : getuid());
	return 0;
}

static struct netproc *slot_of(pid_t pid)
{
	for (int i = 0; i < MAX_NETPROCS; i++)
		if (procs[i].pid > 0 && procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

static void forget(struct netproc *p)
{
	if (p->chan >= 0)
		close(p->chan);
	memset(p, 0, sizeof(*p));
	p->chan = -1;
}

static void close_signers(const struct kh_signer *ch, int n)
{
	for (int i = 0; i < n; i++)
		keyproxy_close_signer(ch[i]);
}

/* Fork a network process for the current generation; wait for READY. */
static int spawn(char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = READY_TIMEOUT_S };
	struct netproc *p = NULL;
	struct net_msg m;
	struct kh_signer signers[KP_MAX_CHANNELS];
	int sp[2], n_signers = 0, passed[FDMSG_MAX_FDS];
	pid_t parent = getpid(), pid;
	bool selftest;
	ssize_t len;

	for (int i = 0; i < MAX_NETPROCS && !p; i++)
		if (procs[i].pid == 0)
			p = &procs[i];
	if (!p) {
		snprintf(err, errlen, "too many network processes still draining");
		return -1;
	}
	for (; n_signers < signers_per_process(); n_signers++) {
		if (keystore_new_signer(&signers[n_signers]) < 0) {
			snprintf(err, errlen, "the key holder gave no sign channel");
			close_signers(signers, n_signers);
			return -1;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		close_signers(signers, n_signers);
		return -1;
	}
	selftest = sandbox_take_selftest("network");
	/* Without it a redirected connection may fail on Linux < 6.5 only. */
	redirect_broker_prepare();
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		child_main(sp[1], signers, n_signers, parent, selftest);
	}
	close(sp[1]);
	close_signers(signers, n_signers);
	redirect_broker_adopt(pid);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sp[0]);
		return -1;
	}
	setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	len = net_recv(sp[0], &m, passed);
	close_passed(passed);
	if (len < 0 || m.h.type != NET_READY) {
		snprintf(err, errlen, "the network process (pid %d) did not start; "
			 "its error is logged above", (int)pid);
		kill(pid, SIGKILL);
		close(sp[0]);
		return -1;
	}
	/* Answers to our questions come quickly or not at all. */
	tv.tv_sec = 5;
	setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	p->pid = pid;
	p->chan = sp[0];
	p->draining = false;
	return 0;
}

int netproc_start(char *err, size_t errlen)
{
	pid_t fresh;

	if (spawn(err, errlen) < 0)
		return -1;
	fresh = 0;
	for (int i = 0; i < MAX_NETPROCS; i++)
		if (procs[i].pid > fresh && !procs[i].draining)
			fresh = procs[i].pid;
	/* The newest serves; every other one drains. */
	for (int i = 0; i < MAX_NETPROCS; i++) {
		struct netproc *p = &procs[i];

		if (p->pid <= 0 || p->pid == fresh || p->draining)
			continue;
		p->draining = true;
		if (net_send(p->chan, NET_DRAIN, NULL, 0, -1) < 0)
			kill(p->pid, SIGTERM);
		log_info("network process %d drains: it ends with its last session",
			 (int)p->pid);
	}
	return 0;
}

/* More replacements than this within RESTART_WINDOW_S seconds is a crash
 * loop: better exit and let the service manager say so. */
#define RESTART_BURST		5
#define RESTART_WINDOW_S	10

int netproc_child_exited(pid_t pid, const char *how)
{
	static time_t recent[RESTART_BURST];
	static int next;
	struct netproc *p = slot_of(pid);
	char err[256];
	bool was_serving;
	time_t now = time(NULL);

	if (!p)
		return 0;
	was_serving = !p->draining;
	forget(p);
	if (!was_serving) {
		log_info("network process %d (draining) %s", (int)pid, how);
		return 1;
	}
	log_err("network process %d %s: starting a new one; its sessions and "
		"handshakes in flight are lost", (int)pid, how);
	/* A replacement that fails to start counts as one more death. */
	for (;;) {
		if (recent[next] && now - recent[next] < RESTART_WINDOW_S) {
			log_err("network processes died %d times within %d s: "
				"giving up", RESTART_BURST, RESTART_WINDOW_S);
			return -1;
		}
		recent[next] = now;
		next = (next + 1) % RESTART_BURST;
		if (spawn(err, sizeof(err)) == 0)
			return 1;
		log_err("cannot start a new network process: %s", err);
		now = time(NULL);
	}
}

void netproc_new_signers(void)
{
	for (int i = 0; i < MAX_NETPROCS; i++) {
		if (procs[i].pid <= 0)
			continue;
		for (uint32_t slot = 0; slot < (uint32_t)signers_per_process(); slot++) {
			struct kh_signer ch;

			if (keystore_new_signer(&ch) < 0 ||
			    net_send_signer(procs[i].chan, slot, ch) < 0)
				log_err("network process %d: no new sign channel %u",
					(int)procs[i].pid, slot);
			keyproxy_close_signer(ch);	/* the child has its own */
		}
	}
}

bool netproc_active(void)
{
	for (int i = 0; i < MAX_NETPROCS; i++)
		if (procs[i].pid > 0)
			return true;
	return false;
}

void netproc_sessions(const struct ctl_request *req, struct ctl_outq *q)
{
	for (int i = 0; i < MAX_NETPROCS && !q->truncated; i++) {
		struct net_msg m;
		int passed[FDMSG_MAX_FDS];
		ssize_t len;

		if (procs[i].pid <= 0 ||
		    net_send(procs[i].chan, NET_SESSIONS, req, sizeof(*req), -1) < 0)
			continue;
		while ((len = net_recv(procs[i].chan, &m, passed)) >= 0) {
			close_passed(passed);
			if (m.h.type == NET_END) {
				if (len == 1 && m.payload[0])
					q->truncated = true;
				break;
			}
			if (m.h.type == NET_PACKET)
				ctl_outq_push_raw(q, m.payload, (size_t)len);
		}
	}
}

unsigned int netproc_count(unsigned int *handshakes)
{
	unsigned int n = 0, hs = 0;

	for (int i = 0; i < MAX_NETPROCS; i++) {
		struct net_msg m;
		struct net_count c;
		int passed[FDMSG_MAX_FDS];
		ssize_t len;

		if (procs[i].pid <= 0 ||
		    net_send(procs[i].chan, NET_COUNT, NULL, 0, -1) < 0)
			continue;
		len = net_recv(procs[i].chan, &m, passed);
		close_passed(passed);
		if (len != sizeof(c) || m.h.type != NET_COUNT_REPLY)
			continue;
		memcpy(&c, m.payload, sizeof(c));
		n += c.sessions;
		hs += c.handshakes;
	}
	if (handshakes)
		*handshakes = hs;
	return n;
}

pid_t netproc_serving_pid(void)
{
	for (int i = 0; i < MAX_NETPROCS; i++)
		if (procs[i].pid > 0 && !procs[i].draining)
			return procs[i].pid;
	return 0;
}

void netproc_stop_all(void)
{
	for (int i = 0; i < MAX_NETPROCS; i++)
		if (procs[i].pid > 0)
			kill(procs[i].pid, SIGTERM);
	for (int i = 0; i < MAX_NETPROCS; i++) {
		if (procs[i].pid <= 0)
			continue;
		waitpid(procs[i].pid, NULL, 0);
		forget(&procs[i]);
	}
}
