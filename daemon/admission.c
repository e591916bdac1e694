// SPDX-License-Identifier: GPL-2.0
/*
 * Admission: who may start a handshake, and who goes first when the
 * handshake slots run out.
 *
 * A connection costs an attacker one TCP handshake; it must not cost ktlsd
 * more than it can afford to hold for everyone at once. The design follows
 * the servers that meet this on the open Internet:
 *
 *  - nginx, out of connections, drains its "reusable" ones (keep-alive
 *    connections with no request under way) instead of refusing the new
 *    one. Here the expendable connections are those whose peer has not
 *    completed a ClientHello: they have asked for nothing yet. Each worker
 *    keeps them in a FIFO (oldest first); at the handshake or session cap
 *    the oldest is closed to make room, and only when none is left is the
 *    newcomer refused. A flood of silent connections thus rotates through
 *    the slots while every client that speaks at once gets in.
 *  - HAProxy keeps "timeout client-hs"/"timeout handshake" apart from
 *    "timeout client": here hello-timeout bounds the wait for the first
 *    ClientHello, shorter than handshake-timeout for the whole handshake.
 *  - TCP_DEFER_ACCEPT and nginx's lazy buffers: a connection that has sent
 *    nothing holds no TLS state. The SSL object (tens of KiB once it reads)
 *    is created only when the first TLS record is complete in the socket;
 *    until then SO_RCVLOWAT makes epoll wait for exactly that many bytes,
 *    so a stalled half ClientHello costs no more than a silent connection.
 *    The kernel's TCP_DEFER_ACCEPT is not used: a connection it holds back
 *    is invisible to the limits below and is accepted anyway when its timer
 *    ends.
 *  - A per-source limit (max-handshakes-per-source, like nginx's
 *    limit_conn on $binary_remote_addr) caps the unfinished handshakes of
 *    one IPv4 address or IPv6 /64, so one host cannot fill the slots with
 *    connections that did send a ClientHello and then stall. The table is
 *    shared by the workers (SO_REUSEPORT spreads one source over all of
 *    them), under a mutex taken twice per connection.
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

/* ---- the hello FIFO and eviction ---------------------------------------- */

void admission_hello_start(struct session *s, time_t now)
{
	struct worker *w = s->w;

	s->awaiting_hello = true;
	s->hello_deadline = now + (s->gen->cfg->daemon.hello_timeout_ms + 999) / 1000;
	s->hello_prev = w->hello_tail;
	s->hello_next = NULL;
	if (w->hello_tail)
		w->hello_tail->hello_next = s;
	else
		w->hello_head = s;
	w->hello_tail = s;
}

void admission_hello_done(struct session *s)
{
	struct worker *w = s->w;

	if (!s->awaiting_hello)
		return;
	if (s->hello_prev)
		s->hello_prev->hello_next = s->hello_next;
	else
		w->hello_head = s->hello_next;
	if (s->hello_next)
		s->hello_next->hello_prev = s->hello_prev;
	else
		w->hello_tail = s->hello_prev;
	s->hello_prev = s->hello_next = NULL;
	s->awaiting_hello = false;
}

bool admission_evict(struct worker *w, const char *why)
{
	struct session *s = w->hello_head;

	if (!s)
		return false;
	atomic_fetch_add(&g_counters.evicted_no_hello, 1);
	admission_log(ADM_EVICTED, "port %s: %s closed before completing a "
		      "ClientHello, to make room for a new connection (%s)",
		      s->rec.port, s->rec.peer, why);
	session_close(s, END_EVICTED, "%s", why);
	return true;
}

bool admission_admit(struct worker *w, const struct sockaddr *peer,
		     const char *port, struct adm_source *src)
{
	const struct cfg_daemon *d = &w->gen->cfg->daemon;
	/* Caps are per worker: the configured totals divided evenly. */
	int max_hs = (d->max_handshakes + g_daemon.n_workers - 1) / g_daemon.n_workers;
	int max_sess = (d->max_sessions + g_daemon.n_workers - 1) / g_daemon.n_workers;
	char who[INET6_ADDRSTRLEN + 4] = "a local application";

	memset(src, 0, sizeof(*src));
	if (peer) {
		admission_source_of(peer, src);
		source_text(src, who, sizeof(who));
		if (d->max_handshakes_per_source > 0 &&
		    admission_source_take(src, d->max_handshakes_per_source) < 0) {
			atomic_fetch_add(&g_counters.refused_per_source, 1);
			admission_log(ADM_SOURCE, "port %s: connection from %s "
				      "refused: it already has %d unfinished "
				      "handshakes (max-handshakes-per-source)",
				      port, who, d->max_handshakes_per_source);
			return false;
		}
	}
	while (w->n_handshakes >= max_hs) {
		if (admission_evict(w, "max-handshakes reached"))
			continue;
		atomic_fetch_add(&g_counters.refused_handshake_cap, 1);
		admission_log(ADM_CAP, "port %s: connection from %s refused: "
			      "%d handshakes under way on this worker, all past "
			      "their ClientHello (max-handshakes)", port, who, max_hs);
		admission_release(src);
		return false;
	}
	while (w->n_sessions >= max_sess) {
		if (admission_evict(w, "max-sessions reached"))
			continue;
		atomic_fetch_add(&g_counters.refused_session_cap, 1);
		admission_log(ADM_SESSION_CAP, "port %s: connection from %s "
			      "refused: %d sessions on this worker (max-sessions)",
			      port, who, max_sess);
		admission_release(src);
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

void admission_check_timeouts(struct worker *w, time_t now)
{
	/* Oldest first; a reload that shortened hello-timeout only delays
	 * the newer ones until an older one is due. */
	while (w->hello_head && w->hello_head->hello_deadline <= now) {
		struct session *s = w->hello_head;

		atomic_fetch_add(&g_counters.hello_timeouts, 1);
		admission_log(ADM_HELLO_TIMEOUT, "port %s: %s timed out before "
			      "completing a ClientHello (hello-timeout)",
			      s->rec.port, s->rec.peer);
		session_close(s, END_HELLO_TIMEOUT, "no ClientHello within %d s",
			      (s->gen->cfg->daemon.hello_timeout_ms + 999) / 1000);
	}
}
