// SPDX-License-Identifier: GPL-2.0
/*
 * Admission: who may start a handshake, and who goes first when the
 * session or handshake slots run out.
 *
 * A connection costs an attacker one TCP handshake; it must not cost ktlsd
 * more than it can afford to hold for everyone at once. The design follows
 * the servers that meet this on the open Internet:
 *
 *  - TCP_DEFER_ACCEPT and nginx's lazy buffers: a connection that has sent
 *    nothing holds no TLS state. The SSL object (tens of KiB once it reads)
 *    is created only when the first TLS record is complete in the socket;
 *    until then SO_RCVLOWAT makes epoll wait for exactly that many bytes,
 *    so a stalled half ClientHello costs no more than a silent connection
 *    (about 1.4 KiB). Such "quiet" connections take no handshake slot:
 *    max-handshakes bounds the connections holding TLS state, and a slot
 *    is taken when the first record arrives. The kernel's TCP_DEFER_ACCEPT
 *    is not used: a connection it holds back is invisible to the limits
 *    below and is accepted anyway when its timer ends.
 *  - nginx, out of connections, drains its "reusable" ones (keep-alive
 *    connections with no request under way) instead of refusing the new
 *    one. Here the expendable connections are those whose peer has not
 *    completed a ClientHello: they have asked for nothing yet. Each worker
 *    keeps them in two FIFOs, quiet (oldest first) and "speaking" (TLS
 *    state, ClientHello not complete: a hello split over records). At
 *    max-sessions the oldest quiet one is closed to make room, else the
 *    oldest speaking one; when a ClientHello finds every handshake slot
 *    taken, the oldest speaking one. Only when none is left is the
 *    newcomer refused. A flood of silent connections thus waits beside
 *    the clients that speak, or rotates through the slots, and never
 *    locks them out.
 *  - HAProxy keeps "timeout client-hs"/"timeout handshake" apart from
 *    "timeout client": here hello-timeout bounds the wait for the first
 *    ClientHello, shorter than handshake-timeout for the whole handshake.
 *  - A per-source limit (max-handshakes-per-source, like nginx's
 *    limit_conn on $binary_remote_addr) caps the handshakes holding TLS
 *    state of one IPv4 address or IPv6 /64, so one host cannot fill the
 *    handshake slots with connections that sent a ClientHello and then
 *    stall. Quiet connections are not refused per source: closing them
 *    only makes the flood reconnect at once, keeping the kernel's accept
 *    queue full (new clients' SYNs dropped), while holding one costs 1.4
 *    KiB until hello-timeout or eviction. The table is shared by the
 *    workers (SO_REUSEPORT spreads one source over all of them), under a
 *    mutex taken twice per handshake.
 *
 * Every refusal, eviction and timeout is counted by reason and logged at
 * info with the source, at most one line a second per reason: a flood
 * must not turn into a flood of log lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktlsd.h"
#include "log.h"

/* TLS record header: type (22 = handshake), version, 16-bit length. */
#define TLS_RECORD_HEADER 5
#define TLS_CONTENT_HANDSHAKE 22
#define TLS_MAX_PLAINTEXT 16384

/* ---- per-source table --------------------------------------------------- */

/* Sources with an unfinished handshake: at most the handshake cap of all
 * workers, so a fixed table of chains stays short. */
#define SOURCE_BUCKETS 1024

struct source_entry {
	struct source_entry *next;
	uint64_t addr;
	bool v6;
	int count;			/* unfinished handshakes */
};

static struct {
	pthread_mutex_t lock;		/* guards every field below */
	struct source_entry *bucket[SOURCE_BUCKETS];
} sources = { .lock = PTHREAD_MUTEX_INITIALIZER };

void admission_source_of(const struct sockaddr *peer, struct adm_source *src)
{
	memset(src, 0, sizeof(*src));
	src->known = peer->sa_family == AF_INET || peer->sa_family == AF_INET6;
	if (peer->sa_family == AF_INET) {
		src->addr = ntohl(((const struct sockaddr_in *)peer)->sin_addr.s_addr);
	} else if (peer->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		uint32_t hi, lo;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(&lo, &a->s6_addr[12], 4);
			src->addr = ntohl(lo);
		} else {
			memcpy(&hi, &a->s6_addr[0], 4);
			memcpy(&lo, &a->s6_addr[4], 4);
			src->addr = (uint64_t)ntohl(hi) << 32 | ntohl(lo);
			src->v6 = true;
		}
	}
}

/* "192.0.2.1" or "2001:db8:1:2::/64", for log lines. */
static void source_text(const struct adm_source *src, char *buf, size_t len)
{
	if (src->v6) {
		struct in6_addr a;
		uint32_t hi = htonl((uint32_t)(src->addr >> 32));
		uint32_t lo = htonl((uint32_t)src->addr);
		char txt[INET6_ADDRSTRLEN];

		memset(&a, 0, sizeof(a));
		memcpy(&a.s6_addr[0], &hi, 4);
		memcpy(&a.s6_addr[4], &lo, 4);
		inet_ntop(AF_INET6, &a, txt, sizeof(txt));
		snprintf(buf, len, "%s/64", txt);
	} else {
		struct in_addr a = { htonl((uint32_t)src->addr) };

		inet_ntop(AF_INET, &a, buf, len);
	}
}

static struct source_entry **source_slot(const struct adm_source *src)
{
	uint64_t h = (src->addr ^ src->v6) * 0x9e3779b97f4a7c15ULL;
	struct source_entry **e = &sources.bucket[h >> 54];	/* 10 bits */

	while (*e && ((*e)->addr != src->addr || (*e)->v6 != src->v6))
		e = &(*e)->next;
	return e;
}

int admission_source_take(struct adm_source *src, int limit)
{
	struct source_entry **e, *n;
	int rc = 0;

	pthread_mutex_lock(&sources.lock);
	e = source_slot(src);
	if (*e) {
		if ((*e)->count >= limit)
			rc = -1;
		else
			(*e)->count++;
	} else if ((n = calloc(1, sizeof(*n)))) {
		n->addr = src->addr;
		n->v6 = src->v6;
		n->count = 1;
		*e = n;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&sources.lock);
	src->counted = rc == 0;
	return rc;
}

void admission_release(struct adm_source *src)
{
	struct source_entry **e, *gone = NULL;

	if (!src->counted)
		return;
	src->counted = false;
	pthread_mutex_lock(&sources.lock);
	e = source_slot(src);
	if (*e && --(*e)->count == 0) {
		gone = *e;
		*e = gone->next;
	}
	pthread_mutex_unlock(&sources.lock);
	free(gone);
}

/* ---- rate-limited log ---------------------------------------------------- */

static struct {
	atomic_llong last;		/* monotonic second of the last line */
	atomic_ulong held;		/* lines not written since */
} log_state[ADM__COUNT];

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void admission_log(enum adm_reason reason, const char *fmt, ...)
{
	long long now = mono_now(), last = atomic_load(&log_state[reason].last);
	unsigned long held;
	char line[400];
	va_list ap;

	if (log_max_level < LOG_LVL_INFO)
		return;
	/* One worker wins the second; the others count their line. */
	if (last == now ||
	    !atomic_compare_exchange_strong(&log_state[reason].last, &last, now)) {
		atomic_fetch_add(&log_state[reason].held, 1);
		return;
	}
	held = atomic_exchange(&log_state[reason].held, 0);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (held)
		log_info("%s (and %lu more like it since the last such line)", line, held);
	else
		log_info("%s", line);
}

/* ---- the hello FIFOs and eviction ---------------------------------------- */

static int per_worker(int total)
{
	return (total + g_daemon.n_workers - 1) / g_daemon.n_workers;
}

static void fifo_append(struct adm_fifo *f, struct session *s)
{
	s->fifo = f;
	s->hello_prev = f->tail;
	s->hello_next = NULL;
	if (f->tail)
		f->tail->hello_next = s;
	else
		f->head = s;
	f->tail = s;
}

static void fifo_remove(struct session *s)
{
	struct adm_fifo *f = s->fifo;

	if (!f)
		return;
	if (s->hello_prev)
		s->hello_prev->hello_next = s->hello_next;
	else
		f->head = s->hello_next;
	if (s->hello_next)
		s->hello_next->hello_prev = s->hello_prev;
	else
		f->tail = s->hello_prev;
	s->hello_prev = s->hello_next = NULL;
	s->fifo = NULL;
}

void admission_hello_start(struct session *s, time_t now)
{
	s->hello_deadline = now + (s->gen->cfg->daemon.hello_timeout_ms + 999) / 1000;
	fifo_append(&s->w->quiet, s);
}

void admission_hello_done(struct session *s)
{
	fifo_remove(s);
}

void admission_handshake_end(struct session *s)
{
	fifo_remove(s);
	if (s->tls_slot) {
		s->tls_slot = false;
		s->w->n_tls_handshakes--;
	}
	admission_release(&s->src);
}

/* Close F's oldest connection to make room for a newcomer. */
static bool evict_from(struct adm_fifo *f, const char *why)
{
	struct session *s = f->head;

	if (!s)
		return false;
	atomic_fetch_add(&g_counters.evicted_no_hello, 1);
	admission_log(ADM_EVICTED, "port %s: %s closed before completing a "
		      "ClientHello, to make room for a new connection (%s)",
		      s->rec.port, s->rec.peer, why);
	session_close(s, END_EVICTED, "%s", why);
	return true;
}

bool admission_evict(struct worker *w, const char *why)
{
	/* Those that said nothing yet first: they asked for nothing. */
	return evict_from(&w->quiet, why) || evict_from(&w->speaking, why);
}

/* A handshake slot (TLS state) on W for a connection from WHO on PORT:
 * true, or false when every slot is past its ClientHello (refused). */
static bool tls_room(struct worker *w, const char *port, const char *who)
{
	int max_hs = per_worker(w->gen->cfg->daemon.max_handshakes);

	while (w->n_tls_handshakes >= max_hs) {
		/* Only the connections holding TLS state free a slot. */
		if (evict_from(&w->speaking, "max-handshakes reached"))
			continue;
		atomic_fetch_add(&g_counters.refused_handshake_cap, 1);
		admission_log(ADM_CAP, "port %s: connection from %s refused: "
			      "%d handshakes under way on this worker, all past "
			      "their ClientHello (max-handshakes)", port, who, max_hs);
		return false;
	}
	return true;
}

void admission_tls_take(struct session *s)
{
	struct worker *w = s->w;

	s->tls_slot = true;
	w->n_tls_handshakes++;
	if (s->fifo == &w->quiet) {
		fifo_remove(s);
		fifo_append(&w->speaking, s);
	}
}

bool admission_tls_admit(struct session *s)
{
	int limit = s->gen->cfg->daemon.max_handshakes_per_source;

	if (s->src.known && limit > 0 && admission_source_take(&s->src, limit) < 0) {
		char who[INET6_ADDRSTRLEN + 4];

		source_text(&s->src, who, sizeof(who));
		atomic_fetch_add(&g_counters.refused_per_source, 1);
		admission_log(ADM_SOURCE, "port %s: ClientHello from %s refused: "
			      "%s already has %d handshakes under way "
			      "(max-handshakes-per-source)", s->rec.port,
			      s->rec.peer, who, limit);
		return false;
	}
	if (!tls_room(s->w, s->rec.port, s->rec.peer)) {
		admission_release(&s->src);
		return false;
	}
	admission_tls_take(s);
	log_debug("port %s: %s: first record here, handshake slot taken",
		  s->rec.port, s->rec.peer);
	return true;
}

bool admission_admit(struct worker *w, const struct sockaddr *peer,
		     const char *port, struct adm_source *src)
{
	const struct cfg_daemon *d = &w->gen->cfg->daemon;
	int max_sess = per_worker(d->max_sessions);
	char who[INET6_ADDRSTRLEN + 4] = "a local application";

	memset(src, 0, sizeof(*src));
	if (peer) {
		/* Counted once it holds TLS state (admission_tls_admit). */
		admission_source_of(peer, src);
		source_text(src, who, sizeof(who));
	} else if (!tls_room(w, port, who)) {
		/* A redirected connect starts its handshake at once. */
		return false;
	}
	while (w->n_sessions >= max_sess) {
		if (admission_evict(w, "max-sessions reached"))
			continue;
		atomic_fetch_add(&g_counters.refused_session_cap, 1);
		admission_log(ADM_SESSION_CAP, "port %s: connection from %s "
			      "refused: %d sessions on this worker (max-sessions)",
			      port, who, max_sess);
		return false;
	}
	return true;
}

/* ---- the first record ----------------------------------------------------- */

/* Make epoll report S's socket readable only once BYTES are there. */
static int want_bytes(struct session *s, int bytes)
{
	if (setsockopt(s->cfd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes)) < 0)
		return -1;
	s->rcvlowat = bytes;
	return 0;
}

int admission_hello_ready(struct session *s)
{
	unsigned char h[TLS_RECORD_HEADER];
	int need = TLS_RECORD_HEADER, avail = 0;
	ssize_t n = recv(s->cfd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		goto ready;		/* end of stream or error: OpenSSL says so */
	if (n == TLS_RECORD_HEADER) {
		if (h[0] != TLS_CONTENT_HANDSHAKE)
			goto ready;	/* not a ClientHello: OpenSSL refuses it */
		need += h[3] << 8 | h[4];
		if (need > TLS_RECORD_HEADER + TLS_MAX_PLAINTEXT)
			goto ready;
	}
	if (ioctl(s->cfd, FIONREAD, &avail) < 0 || avail >= need)
		goto ready;
	/* Woken below the mark asked for: the stream ended or failed. */
	if (s->rcvlowat == need || want_bytes(s, need) < 0)
		goto ready;
	return 0;
ready:
	/* OpenSSL reads record by record from now on. */
	if (s->rcvlowat > 1)
		want_bytes(s, 1);
	s->rcvlowat = 0;
	return 1;
}

static void hello_timed_out(struct session *s)
{
	atomic_fetch_add(&g_counters.hello_timeouts, 1);
	admission_log(ADM_HELLO_TIMEOUT, "port %s: %s timed out before "
		      "completing a ClientHello (hello-timeout)",
		      s->rec.port, s->rec.peer);
	session_close(s, END_HELLO_TIMEOUT, "no ClientHello within %d s",
		      (s->gen->cfg->daemon.hello_timeout_ms + 999) / 1000);
}

void admission_check_timeouts(struct worker *w, time_t now)
{
	struct session *s, *next;

	/* Quiet ones are in accept order: oldest first, stop at the first
	 * not due (a reload that shortened hello-timeout only delays the
	 * newer ones until an older one is due). */
	while (w->quiet.head && w->quiet.head->hello_deadline <= now)
		hello_timed_out(w->quiet.head);
	/* Speaking ones are in the order their first record came; at most
	 * a worker's max-handshakes of them: look at each. */
	for (s = w->speaking.head; s; s = next) {
		next = s->hello_next;
		if (s->hello_deadline <= now)
			hello_timed_out(s);
	}
}
