// SPDX-License-Identifier: GPL-2.0
/*
 * Workers: the event loops that carry every TLS session.
 *
 * Architecture
 * ------------
 * Workers run in a network process (netproc.c), which the parent forks
 * once it has built a generation (config + one SSL_CTX per secure port,
 * generation.c) and bound the listening sockets. The process's main thread
 * starts the workers and then only answers the parent. It never touches a
 * session.
 *
 * Each worker is one thread with one epoll instance, level-triggered. It
 * owns:
 *   - its own descriptor of each listening socket the parent bound (all
 *     workers accept from the same sockets; whoever wakes first takes the
 *     connection);
 *   - every connection it accepted: the client socket, the backend socket
 *     and, in kTLS mode, the two pipes that splice plaintext between them;
 *   - a timerfd ticking once a second for handshake and idle timeouts;
 *   - an eventfd through which the main thread says "drain" or "stop".
 * A session lives and dies in the worker that accepted it, so sessions need
 * no locks; the only shared things are the session list (read by the
 * control side under ->lock) and atomic counters.
 *
 * A listener may also receive connections for many ports (the steering
 * programs hand connections for any secure port to one socket): a slot
 * with port_index -1 recovers the port from getsockname() on the accepted
 * socket, which returns the address the client actually dialled.
 *
 * Reload: the parent forks a new network process for the new generation;
 * this one is told to drain: its workers close their listener descriptors
 * (the sockets stay open in the parent and the new process, so no
 * connection is refused) and the process ends with its last session.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <openssl/async.h>

#include "bpf_util.h"
#include "keyholder.h"
#include "ktlsd.h"
#include "log.h"
#include "redirect.h"
#include "steer.h"

/* Make the worker's listeners match GEN: keep, close and open as needed.
 * -1 when an address could not be opened: the first such error goes to
 * ERR (the others to the log only). */
static int worker_sync_listeners(struct worker *w, struct generation *gen,
				 char *err, size_t err_len)
{
	const struct ktlsd_config *cfg = gen->cfg;
	struct listener_slot *slots;
	int n = 0, want = 0, failed = 0;

	for (int i = 0; i < cfg->n_ports; i++)
		want += cfg->ports[i].n_listen;
	slots = calloc(want + 2 * BPF_UTIL_MAX_LISTENERS, sizeof(*slots));
	if (!slots)
		return -1;

	for (int i = 0; i < cfg->n_ports; i++) {
		if (cfg->ports[i].steer)
			continue;	/* the service keeps it: steer.c's listeners */
		for (int j = 0; j < cfg->ports[i].n_listen; j++) {
			const struct cfg_addr *a = &cfg->ports[i].listen[j];
			struct listener_slot *s = &slots[n];

			s->fd = -1;
			for (int k = 0; k < w->n_lsn; k++) {
				if (w->lsn[k].fd >= 0 && listener_same_addr(&w->lsn[k].addr, a)) {
					s->fd = w->lsn[k].fd;
					w->lsn[k].fd = -1;	/* moved */
					break;
				}
			}
			if (s->fd < 0 && listeners_fd(a) >= 0)
				s->fd = fcntl(listeners_fd(a), F_DUPFD_CLOEXEC, 0);
			if (s->fd < 0) {
				char txt[80];

				/* The parent bound every address before it
				 * started this process. */
				sockaddr_text((const struct sockaddr *)&a->ss,
					      txt, sizeof(txt));
				log_err("port %s: no listening socket for %s",
					cfg->ports[i].name, txt);
				failed++;
				continue;
			}
			s->addr = *a;
			s->port_index = i;
			s->h.kind = EV_LISTENER;
			s->h.obj = s;
			n++;
		}
	}
	n += steer_listener_slots(w, slots + n);
	n += redirect_listener_slots(w, slots + n);
	/* Close what the new configuration no longer lists. */
	for (int k = 0; k < w->n_lsn; k++) {
		if (w->lsn[k].fd >= 0) {
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->lsn[k].fd, NULL);
			close(w->lsn[k].fd);
		}
	}
	/* Re-register everything: the slots moved in memory. */
	for (int k = 0; k < n; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &slots[k].h };

		if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, slots[k].fd, &ev) < 0)
			epoll_ctl(w->epfd, EPOLL_CTL_ADD, slots[k].fd, &ev);
	}
	free(w->lsn);
	w->lsn = slots;
	w->n_lsn = n;
	return failed ? -1 : 0;
}

static bool is_v4_mapped(const __u32 a[4])
{
	return !a[0] && !a[1] && a[2] == htonl(0xffff);
}

/*
 * For sockets steered from many ports: which port did the client dial?
 * The listen address that names the dialled address wins over a wildcard,
 * as the sk_lookup program decides.
 */
static int port_for_local_address(const struct ktlsd_config *cfg, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	__u32 local[4], want[4];
	__u16 port, lport;
	int wildcard = -1;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    bpf_util_map_addr(&ss, local, &port) < 0)
		return -1;
	for (int i = 0; i < cfg->n_ports; i++) {
		for (int j = 0; j < cfg->ports[i].n_listen; j++) {
			if (bpf_util_map_addr(&cfg->ports[i].listen[j].ss, want, &lport) < 0 ||
			    lport != port)
				continue;
			if (!memcmp(want, local, sizeof(want)))
				return i;
			/* ::ffff:0.0.0.0 or ::, of the dialled family. */
			if (!want[0] && !want[1] && !want[3] &&
			    (want[2] == htonl(0xffff)) == is_v4_mapped(local) &&
			    (want[2] == htonl(0xffff) || !want[2]) && wildcard < 0)
				wildcard = i;
		}
	}
	return wildcard;
}

/* An application's connect() sent here by bpf/redirect.bpf.c: open TLS to
 * where it was going. Takes over FD and the reference on GEN. */
static void accept_redirected(struct worker *w, int fd, struct generation *gen)
{
	struct cfg_addr orig;
	int conn = -1;

	if (redirect_claim(fd, &orig) < 0) {
		log_warn("redirect: no destination recorded for a redirected "
			 "connection: closed");
		generation_put(gen);
		close(fd);
		return;
	}
	conn = redirect_find(gen, &orig);
	if (conn < 0) {
		/* A reload may have added the destination a moment ago. */
		generation_put(gen);
		gen = generation_get();
		conn = gen ? redirect_find(gen, &orig) : -1;
	}
	if (conn < 0) {
		char txt[80];

		sockaddr_text((struct sockaddr *)&orig.ss, txt, sizeof(txt));
		log_warn("redirect: %s is no longer a configured server: "
			 "connection closed", txt);
		generation_put(gen);
		close(fd);
		return;
	}
	if (!session_new_client(w, fd, gen, conn, &orig)) {
		generation_put(gen);
		close(fd);
	}
}

/*
 * accept() failed for lack of descriptors; the connection still waits in
 * the kernel's queue. Make room by closing the oldest connection that has
 * not sent a ClientHello; with none to close, stop watching the listeners
 * until the next tick, as nginx does, since level-triggered epoll would
 * report them again at once.
 */
static void worker_out_of_descriptors(struct worker *w)
{
	admission_log(ADM_NOFILE, "accept: %s: no descriptor left for a new "
		      "connection", strerror(errno));
	if (admission_evict(w, "no descriptor left"))
		return;
	for (int k = 0; k < w->n_lsn; k++)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->lsn[k].fd, NULL);
	w->accept_paused = true;
}

/* The tick after worker_out_of_descriptors: watch the listeners again. */
static void worker_resume_accept(struct worker *w)
{
	if (!w->accept_paused)
		return;
	w->accept_paused = false;
	for (int k = 0; k < w->n_lsn; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->lsn[k].h };

		epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lsn[k].fd, &ev);
	}
}

static void worker_accept(struct worker *w, struct listener_slot *slot)
{
	/* Bounded batch: one busy port must not starve the other sockets. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct generation *gen;
		struct adm_source src;
		int port, fd;

		fd = accept4(slot->fd, (struct sockaddr *)&peer, &plen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				worker_out_of_descriptors(w);
				return;
			}
			log_warn("accept: %s", strerror(errno));
			return;
		}
		atomic_fetch_add(&g_counters.accepted, 1);
		gen = w->gen;
		atomic_fetch_add(&gen->refs, 1);
		if (slot->port_index == PORT_INDEX_REDIRECT) {
			if (!admission_admit(w, NULL, "(redirect)", &src)) {
				generation_put(gen);
				close(fd);
				continue;
			}
			accept_redirected(w, fd, gen);
			continue;
		}
		port = slot->port_index >= 0 ? slot->port_index :
			port_for_local_address(gen->cfg, fd);
		if (port < 0 && slot->port_index < 0) {
			/* A reload may have added this steered port a moment
			 * before this worker saw the new generation: use it. */
			generation_put(gen);
			gen = generation_get();
			port = gen ? port_for_local_address(gen->cfg, fd) : -1;
		}
		if (port < 0 || !admission_admit(w, (struct sockaddr *)&peer,
						 gen->cfg->ports[port].name, &src)) {
			generation_put(gen);
			close(fd);
			continue;
		}
		if (!session_new(w, fd, gen, port, (struct sockaddr *)&peer, &src)) {
			generation_put(gen);
			close(fd);
		}
	}
}

/*
 * A handshake allocates far more (key exchange, certificate chains, record
 * buffers) than an established session keeps. After a burst, glibc keeps
 * the freed memory in the thread's arena, so idle sessions would look
 * several KiB bigger than they are. Once a tick, when handshakes have
 * ended and none is running, give the free memory back.
 */
static void worker_trim_memory(struct worker *w)
{
	unsigned long done = atomic_load(&g_counters.handshakes_ok) +
			     atomic_load(&g_counters.handshakes_failed);

	if (w->n_handshakes == 0 && done != w->trimmed_at) {
		w->trimmed_at = done;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		/* ASan and TSan bring their own allocators; glibc's trim
		 * would walk arenas that do not exist there. */
		malloc_trim(0);
#endif
	}
}

/* Draining: a newer network process accepts from now on; the sessions
 * this worker holds run to their end. */
static void worker_close_listeners(struct worker *w)
{
	/* Out of the epoll set first: the descriptor is a dup, and while
	 * another descriptor of the same socket stays open (the process's
	 * inherited one) close() alone would leave it registered, its events
	 * pointing at the freed slots. */
	for (int k = 0; k < w->n_lsn; k++) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->lsn[k].fd, NULL);
		close(w->lsn[k].fd);
	}
	free(w->lsn);
	w->lsn = NULL;
	w->n_lsn = 0;
}

/* Watch the answer pipe of the worker's sign channel, again after the key
 * holder was replaced (a new pipe). The old one left the epoll set when it
 * was closed; its number is not used here, for it may be another's now. */
static void watch_sign_channel(struct worker *w)
{
	unsigned int epoch;
	int fd = signchan_batch_fd(&epoch);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->sign_h };

	w->sign_epoch = epoch;
	w->sign_fd = fd;
	if (fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 &&
	    (errno != EEXIST || epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0))
		log_err("worker %d: cannot watch the key holder's answers: %s",
			w->id, strerror(errno));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	bool woken;

	/* Its own sign channel to the key holder (netproc.c made one per
	 * worker): no worker waits for another's signature. */
	keyproxy_use_channel((unsigned int)w->id);
	/* A paused handshake holds an async job and its stack (32 KiB):
	 * at most SC_MAX_JOBS at once, the pool never larger. */
	if (w->batching && ASYNC_init_thread(SC_MAX_JOBS, 0) != 1)
		w->batching = false;
	if (w->batching)
		signchan_batch_begin(session_signature_ready);
	while (!atomic_load(&w->stop)) {
		int n;

		if (w->batching) {
			/* The signatures this batch asked for, in one write:
			 * the key holder wakes once for all of them. */
			if (signchan_batch_service() != w->sign_epoch)
				watch_sign_channel(w);
		}
		n = epoll_wait(w->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		woken = false;
		for (int i = 0; i < n; i++) {
			struct ev_handle *h = evs[i].data.ptr;
			uint64_t v;

			switch (h->kind) {
			case EV_CLOSED:
				break;
			case EV_LISTENER:
				worker_accept(w, h->obj);
				break;
			case EV_CLIENT:
			case EV_BACKEND:
				session_event(h->obj, h->kind, evs[i].events);
				break;
			case EV_TIMER: {
				struct timespec now;

				if (read(w->timerfd, &v, sizeof(v)) < 0)
					break;
				clock_gettime(CLOCK_MONOTONIC, &now);
				session_check_timeouts(w, &now);
				worker_trim_memory(w);
				worker_resume_accept(w);
				break;
			}
			case EV_SIGN:
				if (signchan_batch_collect() < 0) {
					/* The key holder has gone: its end of
					 * file would wake us for ever. */
					epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->sign_fd, NULL);
					w->sign_fd = -1;
				}
				break;
			case EV_WAKE:
				if (read(w->wakefd, &v, sizeof(v)) >= 0)
					woken = true;
				break;
			}
		}
		/* Both free memory that later events of the batch may name. */
		session_reap(w);
		if (woken && atomic_load(&w->draining))
			worker_close_listeners(w);
	}
	/* Shutting down: end every session of this worker, those waiting
	 * for a signature once their handshake has given up on it. */
	if (w->batching)
		signchan_batch_abandon();
	while (w->sessions && !w->sessions->signing)
		session_close(w->sessions, END_DRAIN, "daemon stopping");
	session_reap(w);
	if (w->batching)
		ASYNC_cleanup_thread();
	return NULL;
}

static int worker_init(struct worker *w, int id)
{
	char why[384];
	struct itimerspec tick = { { 1, 0 }, { 1, 0 } };
	struct epoll_event ev = { .events = EPOLLIN };

	w->id = id;
	pthread_mutex_init(&w->lock, NULL);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->timerfd < 0 || w->wakefd < 0)
		return -1;
	timerfd_settime(w->timerfd, 0, &tick, NULL);
	w->timer_h.kind = EV_TIMER;
	w->wake_h.kind = EV_WAKE;
	w->sign_h.kind = EV_SIGN;
	/* Batched signing needs a channel of its own (signchan.c). */
	w->batching = id < KP_MAX_CHANNELS;
	w->sign_fd = -1;
	w->sign_epoch = UINT_MAX;
	ev.data.ptr = &w->timer_h;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev);
	ev.data.ptr = &w->wake_h;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
	w->gen = generation_get();
	return worker_sync_listeners(w, w->gen, why, sizeof(why));
}

/* On failure the workers made so far stay listed: workers_stop() ends
 * them (it copes with any point of failure). */
int workers_start(int n)
{
	g_daemon.workers = calloc(n, sizeof(*g_daemon.workers));
	if (!g_daemon.workers)
		return -1;
	g_daemon.n_workers = n;
	for (int i = 0; i < n; i++) {
		struct worker *w = calloc(1, sizeof(*w));

		if (!w)
			return -1;
		g_daemon.workers[i] = w;
		if (worker_init(w, i) < 0)
			return -1;
	}
	for (int i = 0; i < n; i++) {
		int err = pthread_create(&g_daemon.workers[i]->thread, NULL,
					 worker_main, g_daemon.workers[i]);

		if (err) {
			log_err("worker %d: cannot start its thread: %s", i, strerror(err));
			return -1;
		}
		g_daemon.workers[i]->started = true;
	}
	return 0;
}

static void worker_poke(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wakefd, &one, sizeof(one)) < 0)
		log_warn("worker %d: cannot wake: %s", w->id, strerror(errno));
}

void workers_sign_channel_changed(unsigned int slot)
{
	for (int i = 0; i < g_daemon.n_workers; i++) {
		struct worker *w = g_daemon.workers[i];

		if (w && w->started && w->batching &&
		    (unsigned int)w->id % KP_MAX_CHANNELS == slot)
			worker_poke(w);
	}
}

static void close_if_open(int fd)
{
	if (fd >= 0)
		close(fd);
}

void workers_drain(void)
{
	for (int i = 0; i < g_daemon.n_workers; i++) {
		atomic_store(&g_daemon.workers[i]->draining, true);
		worker_poke(g_daemon.workers[i]);
	}
}

unsigned int workers_count_sessions(unsigned int *handshakes)
{
	unsigned int n = 0, hs = 0;

	for (int i = 0; i < g_daemon.n_workers; i++) {
		struct worker *w = g_daemon.workers[i];

		pthread_mutex_lock(&w->lock);
		for (struct session *s = w->sessions; s; s = s->next) {
			if (s->rec.mode == MODE_HANDSHAKE)
				hs++;
			else
				n++;
		}
		pthread_mutex_unlock(&w->lock);
	}
	if (handshakes)
		*handshakes = hs;
	return n;
}

void workers_stop(void)
{
	for (int i = 0; i < g_daemon.n_workers; i++) {
		struct worker *w = g_daemon.workers[i];

		if (w && w->started) {
			atomic_store(&w->stop, true);
			worker_poke(w);
		}
	}
	for (int i = 0; i < g_daemon.n_workers; i++) {
		struct worker *w = g_daemon.workers[i];

		if (!w)
			break;		/* workers_start() stopped before it */
		if (w->started)
			pthread_join(w->thread, NULL);
		for (int k = 0; k < w->n_lsn; k++)
			close_if_open(w->lsn[k].fd);
		free(w->lsn);
		close_if_open(w->epfd);
		close_if_open(w->timerfd);
		close_if_open(w->wakefd);
		generation_put(w->gen);
		pthread_mutex_destroy(&w->lock);
		free(w);
	}
	free(g_daemon.workers);
	g_daemon.workers = NULL;
	g_daemon.n_workers = 0;
}
