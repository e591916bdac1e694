// SPDX-License-Identifier: GPL-2.0
/*
 * A session's life: accept -> TLS handshake -> connect to the backend ->
 * key handoff (kTLS) or userspace mode -> forwarding -> close.
 *
 * Every step is driven by epoll events on the worker that accepted the
 * connection. Only one teardown path exists (session_close), so every
 * resource is released in one place whatever failed.
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "access_log.h"
#include "keyholder.h"
#include "ktlsd.h"
#include "ktls.h"
#include "log.h"
#include "redirect.h"
#include "steer.h"

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* For log lines: "port NAME" or, client side, "connection NAME". */
static const char *kind(const struct session *s)
{
	return s->conn_index >= 0 ? "connection" : "port";
}

static const struct cfg_port *session_port(const struct session *s)
{
	return &s->gen->cfg->ports[s->port_index];
}

static void epoll_set(int epfd, int fd, struct ev_handle *h, uint32_t *cur,
		      uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = h };

	if (fd < 0 || *cur == want)
		return;
	if (*cur == 0 && want)
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	else if (want == 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
	*cur = want;
}

void session_set_interest(struct session *s, uint32_t cmask, uint32_t bmask)
{
	epoll_set(s->w->epfd, s->cfd, &s->hc, &s->cmask, cmask);
	epoll_set(s->w->epfd, s->bfd, &s->hb, &s->bmask, bmask);
}

static void hs_list_remove(struct session *s)
{
	struct worker *w = s->w;

	if (!s->deadline)
		return;
	admission_handshake_end(s);
	if (s->hs_prev)
		s->hs_prev->hs_next = s->hs_next;
	else
		w->hs_head = s->hs_next;
	if (s->hs_next)
		s->hs_next->hs_prev = s->hs_prev;
	else
		w->hs_tail = s->hs_prev;
	s->hs_prev = s->hs_next = NULL;
	s->deadline = 0;
	w->n_handshakes--;
}

/* S's OpenSSL object, on FD; 0 or -1 (logged). */
static int session_attach_ssl(struct session *s, SSL_CTX *ctx, int fd)
{
	s->ssl = SSL_new(ctx);
	if (!s->ssl) {
		log_ssl(LOG_LVL_ERR, "cannot create TLS state");
		return -1;
	}
	if (!SSL_set_fd(s->ssl, fd)) {
		log_ssl(LOG_LVL_ERR, "cannot attach TLS state to a socket");
		return -1;
	}
	/* The handshake runs in an async job that pauses while the key
	 * holder signs (signchan.c); cleared once it is done. */
	if (s->w->batching)
		SSL_set_mode(s->ssl, SSL_MODE_ASYNC);
	return 0;
}

/* The parts every session starts with, no TLS state yet; NULL when out
 * of memory. */
static struct session *session_alloc(struct worker *w, struct generation *gen)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->w = w;
	s->gen = gen;
	s->port_index = -1;
	s->conn_index = -1;
	s->cfd = s->bfd = -1;
	s->up.pipe[0] = s->up.pipe[1] = -1;
	s->down.pipe[0] = s->down.pipe[1] = -1;
	s->hc.kind = EV_CLIENT;
	s->hc.obj = s;
	s->hb.kind = EV_BACKEND;
	s->hb.obj = s;
	clock_gettime(CLOCK_MONOTONIC, &s->begun);
	s->last_active = s->begun.tv_sec;
	s->rec.started = time(NULL);
	return s;
}

/* What the control side shows: application, port or connection, peer. */
static void record_names(struct session *s, const char *application,
			 const char *name, const struct sockaddr *peer)
{
	snprintf(s->rec.application, sizeof(s->rec.application), "%s",
		 application ? application : "");
	snprintf(s->rec.port, sizeof(s->rec.port), "%s", name);
	sockaddr_text(peer, s->rec.peer, sizeof(s->rec.peer));
}

/* Put S on its worker's lists; its handshake deadline starts now. */
static void session_enlist(struct session *s)
{
	struct worker *w = s->w;

	/* Handshakes time out oldest first: append to the worker's FIFO. */
	s->deadline = s->last_active +
		(s->gen->cfg->daemon.handshake_timeout_ms + 999) / 1000;
	s->hs_prev = w->hs_tail;
	if (w->hs_tail)
		w->hs_tail->hs_next = s;
	else
		w->hs_head = s;
	w->hs_tail = s;
	w->n_handshakes++;
	w->n_sessions++;

	pthread_mutex_lock(&w->lock);
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	pthread_mutex_unlock(&w->lock);
}

/*
 * A client on a secure port. No TLS state yet: session_event creates it
 * once the first record of the ClientHello is here (admission.c), so a
 * connection that sends nothing costs this struct and its socket.
 */
struct session *session_new(struct worker *w, int fd, struct generation *gen,
			    int port_index, const struct sockaddr *peer,
			    const struct adm_source *src)
{
	const struct cfg_port *port = &gen->cfg->ports[port_index];
	struct session *s = session_alloc(w, gen);

	if (!s)
		return NULL;
	s->port_index = port_index;
	s->cfd = fd;
	s->state = ST_HANDSHAKE;
	s->src = *src;
	record_names(s, port->application, port->name, peer);
	session_enlist(s);
	admission_hello_start(s, s->last_active);
	session_set_interest(s, EPOLLIN, 0);
	/* The ClientHello often came with the connection: try at once. */
	session_event(s, EV_CLIENT, EPOLLIN);
	return s;
}

struct session *session_new_client(struct worker *w, int app_fd,
				   struct generation *gen, int conn_index,
				   const struct cfg_addr *server)
{
	const struct cfg_connection *conn = &gen->cfg->conns[conn_index];
	struct session *s = session_alloc(w, gen);
	int fd;

	if (!s)
		return NULL;
	fd = socket(server->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* The connect hooks let it reach the server rather than come back
	 * here: they pass every connect of the network processes' uid. */
	if (fd < 0 || session_attach_ssl(s, gen->conn_ctx[conn_index], fd) < 0 ||
	    creds_client_prepare(s->ssl, conn) < 0 ||
	    (connect(fd, (const struct sockaddr *)&server->ss, server->len) < 0 &&
	     errno != EINPROGRESS)) {
		log_warn("connection %s: cannot connect: %s", conn->name,
			 strerror(errno));
		atomic_fetch_add(&g_counters.backend_failed, 1);
		if (fd >= 0)
			close(fd);
		SSL_free(s->ssl);	/* NULL-safe */
		free(s);
		return NULL;
	}
	SSL_set_connect_state(s->ssl);
	s->conn_index = conn_index;
	s->cfd = fd;
	s->bfd = app_fd;
	s->state = ST_CONNECTING;
	record_names(s, conn->application, conn->name,
		     (const struct sockaddr *)&server->ss);
	session_enlist(s);
	admission_tls_take(s);		/* room made by admission_admit */
	session_set_interest(s, EPOLLOUT, 0);
	return s;
}

static void note_end(struct session *s, enum session_end end, const char *fmt,
		     va_list ap)
{
	if (s->end != END_NONE || end == END_NONE)
		return;
	s->end = end;
	if (fmt)
		vsnprintf(s->end_reason, sizeof(s->end_reason), fmt, ap);
}

void session_note_end(struct session *s, enum session_end end, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_end(s, end, fmt, ap);
	va_end(ap);
}

void session_close(struct session *s, enum session_end end, const char *fmt, ...)
{
	struct worker *w = s->w;
	va_list ap;

	va_start(ap, fmt);
	note_end(s, end, fmt, ap);
	va_end(ap);
	if (s->signing) {
		/* Its SSL has a paused job: closed when that is resumed
		 * (session_signature_ready), within the answer timeout. */
		s->closing = true;
		hs_list_remove(s);
		return;
	}
	/* The entry first: a test (or an operator) that sees the close line
	 * knows the entry, if any, is already written. */
	if (s->end != END_EVICTED && s->end != END_HELLO_TIMEOUT &&
	    s->end != END_REFUSED)
		access_log_session(s);
	access_log_end_line(s);
	hs_list_remove(s);
	/* No EPOLL_CTL_DEL: closing a descriptor that no one else holds
	 * takes it out of the epoll set, and saves a syscall per socket. */
	s->cmask = s->bmask = 0;
	forward_free(s);
	if (s->ssl)
		SSL_free(s->ssl);
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->bfd >= 0)
		close(s->bfd);
	if (s->rec.mode == MODE_KTLS)
		atomic_fetch_sub(&g_counters.sessions_ktls, 1);
	else if (s->rec.mode == MODE_USERSPACE)
		atomic_fetch_sub(&g_counters.sessions_userspace, 1);

	pthread_mutex_lock(&w->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&w->lock);
	w->n_sessions--;
	generation_put(s->gen);
	/*
	 * The same epoll batch may still hold an event for this session's
	 * other socket: keep the memory (marked closed) until the batch is
	 * done, then session_reap() frees it.
	 */
	s->hc.kind = s->hb.kind = EV_CLOSED;
	s->next = w->graveyard;
	w->graveyard = s;
}

void session_reap(struct worker *w)
{
	while (w->graveyard) {
		struct session *s = w->graveyard;

		w->graveyard = s->next;
		free(s);
	}
}

/* Record what was negotiated, while the SSL object still exists; after a
 * failed handshake, as much as was agreed before it failed. */
static void record_negotiated(struct session *s)
{
	X509 *peer = SSL_get0_peer_certificate(s->ssl);
	const char *sni = SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);

	/* The control side reads these strings under the same lock. */
	pthread_mutex_lock(&s->w->lock);
	snprintf(s->rec.sni, sizeof(s->rec.sni), "%s", sni ? sni : "");
	if (SSL_get_current_cipher(s->ssl)) {
		snprintf(s->rec.version, sizeof(s->rec.version), "%s",
			 SSL_get_version(s->ssl));
		snprintf(s->rec.cipher, sizeof(s->rec.cipher), "%s",
			 SSL_get_cipher_name(s->ssl));
	}
	if (peer)
		X509_NAME_oneline(X509_get_subject_name(peer),
				  s->rec.peer_subject, sizeof(s->rec.peer_subject));
	pthread_mutex_unlock(&s->w->lock);
}

static void handshake_failed(struct session *s, int err)
{
	const char *reason = verify_failure_reason(s->ssl);
	char detail[256] = "";
	unsigned long e = ERR_peek_last_error();

	if (!reason) {
		if (e)
			ERR_error_string_n(e, detail, sizeof(detail));
		else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN)
			snprintf(detail, sizeof(detail), "peer closed the connection");
		else
			snprintf(detail, sizeof(detail), "TLS error %d", err);
		reason = detail;
	}
	ERR_clear_error();
	atomic_fetch_add(&g_counters.handshakes_failed, 1);
	record_negotiated(s);
	session_close(s, END_HANDSHAKE, "%s", reason);
}

static int backend_connect(struct session *s)
{
	const struct cfg_addr *b = &session_port(s)->backend;

	s->bfd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->bfd < 0 || steer_backend_bind(s->bfd, session_port(s)) < 0)
		return -1;
	if (connect(s->bfd, (const struct sockaddr *)&b->ss, b->len) < 0 &&
	    errno != EINPROGRESS)
		return -1;
	s->state = ST_CONNECTING;
	session_set_interest(s, 0, EPOLLOUT);
	return 0;
}

/* The record's mode (and why userspace), under the lock the control side
 * reads it with; counted in the mode's gauge. */
static void record_mode(struct session *s, enum session_mode mode, const char *why)
{
	pthread_mutex_lock(&s->w->lock);
	s->rec.mode = mode;
	snprintf(s->rec.mode_why, sizeof(s->rec.mode_why), "%s", why);
	pthread_mutex_unlock(&s->w->lock);
	atomic_fetch_add(mode == MODE_KTLS ? &g_counters.sessions_ktls :
			 &g_counters.sessions_userspace, 1);
}

/*
 * Move the record layer to the kernel, or say why it stays here. Nothing is
 * buffered inside OpenSSL at this point: read-ahead is off, so the
 * handshake read exactly up to the peer's Finished, and no tickets were
 * sent; any application data the client already sent is still in the
 * socket and will be decrypted by the kernel with the right sequence number.
 */
static int handoff(struct session *s)
{
	const struct cfg_daemon *d = &s->gen->cfg->daemon;
	char why[sizeof(s->rec.mode_why)] = "";
	struct ktls_keys tx, rx;
	int rc;

	memset(&tx, 0, sizeof(tx));
	memset(&rx, 0, sizeof(rx));
	if (d->offload == OFFLOAD_OFF) {
		snprintf(why, sizeof(why), "offload = off in [ktlsd]");
	} else if (!g_daemon.ktls_available) {
		snprintf(why, sizeof(why), "%s", g_daemon.ktls_why);
	} else if (SSL_has_pending(s->ssl)) {
		snprintf(why, sizeof(why), "data already buffered in OpenSSL");
	} else if (ktls_derive(s->ssl, s->conn_index < 0, &tx, &rx, why,
			       sizeof(why)) < 0) {
		/* why says which cipher cannot be offloaded */
	} else {
		rc = ktls_install(s->cfd, &tx, &rx, why, sizeof(why));
		ktls_keys_wipe(&tx);
		ktls_keys_wipe(&rx);
		if (rc == 0) {
			record_mode(s, MODE_KTLS, "");
			/* The kernel owns the record layer now: drop OpenSSL's
			 * state (and its buffers) for this connection. */
			SSL_free(s->ssl);
			s->ssl = NULL;
			return 0;
		}
		if (rc == -ENOTRECOVERABLE) {
			/* TX is installed but RX is not: no way back. */
			record_mode(s, MODE_USERSPACE, why);
			session_close(s, END_ERROR, "%s", why);
			return -1;
		}
	}
	ktls_keys_wipe(&tx);
	ktls_keys_wipe(&rx);
	record_mode(s, MODE_USERSPACE, why);
	log_debug("%s %s: %s: userspace mode: %s", kind(s), s->rec.port,
		  s->rec.peer, why);
	return 0;
}

/*
 * The client reset the connection as its handshake completed (its RST is
 * already here: the socket has left ESTABLISHED for CLOSE): nothing can
 * reach it any more, so there is no key to hand off and no backend to
 * dial, which would only wake the service for a connection that carries
 * nothing. A FIN is different: the client may still read (a half-close
 * before a server-first service's greeting), so it gets its backend.
 */
static bool client_reset(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	       ti.tcpi_state == TCP_CLOSE;
}

static void start_forwarding(struct session *s);

/* The peer's ClientHello has been read in full: OpenSSL's state machine
 * has moved past reading it. */
static bool hello_complete(const SSL *ssl)
{
	OSSL_HANDSHAKE_STATE st = SSL_get_state(ssl);

	return st != TLS_ST_BEFORE && st != TLS_ST_SR_CLNT_HELLO;
}

static void step_handshake(struct session *s)
{
	int rc;

	if (!s->ssl) {
		/* Server side, nothing read yet: wait for a whole record. */
		if (!admission_hello_ready(s))
			return;
		if (!admission_tls_admit(s)) {
			session_close(s, END_REFUSED, "no handshake slot");
			return;
		}
		if (session_attach_ssl(s, s->gen->port_ctx[s->port_index], s->cfd) < 0) {
			session_close(s, END_ERROR, "out of memory");
			return;
		}
		SSL_set_accept_state(s->ssl);
	}
	signchan_set_owner(s);
	rc = SSL_do_handshake(s->ssl);
	if (s->fifo && hello_complete(s->ssl))
		admission_hello_done(s);
	if (rc == 1) {
		SSL_clear_mode(s->ssl, SSL_MODE_ASYNC);	/* no job per record */
		hs_list_remove(s);
		atomic_fetch_add(&g_counters.handshakes_ok, 1);
		record_negotiated(s);
		if (s->conn_index < 0 && client_reset(s->cfd)) {
			atomic_fetch_add(&g_counters.reset_before_backend, 1);
			session_close(s, END_RESET, "client reset the connection; "
				      "backend not contacted");
			return;
		}
		/* Hand off at once: the kernel attaches the tls ULP only to an
		 * ESTABLISHED socket, and a client that half-closes right
		 * after its first data would otherwise beat the backend's
		 * connect and stay in userspace. */
		if (handoff(s) < 0)
			return;	/* closed */
		if (s->conn_index >= 0) {
			/* Client side: the application is already connected. */
			start_forwarding(s);
			return;
		}
		if (backend_connect(s) < 0) {
			atomic_fetch_add(&g_counters.backend_failed, 1);
			session_close(s, END_CONNECT, "backend %s: %s",
				      session_port(s)->backend_text, strerror(errno));
		}
		return;
	}
	switch (SSL_get_error(s->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		session_set_interest(s, EPOLLIN, 0);
		return;
	case SSL_ERROR_WANT_WRITE:
		session_set_interest(s, EPOLLOUT, 0);
		return;
	case SSL_ERROR_WANT_ASYNC:
		/* Paused until the key holder's answer: signchan.c calls
		 * session_signature_ready(). */
		s->signing = true;
		return;
	case SSL_ERROR_WANT_ASYNC_JOB:
		/* The worker's jobs are all paused (SC_MAX_JOBS): this one
		 * signs the slow way, a round trip of its own. */
		SSL_clear_mode(s->ssl, SSL_MODE_ASYNC);
		step_handshake(s);
		return;
	default:
		handshake_failed(s, SSL_get_error(s->ssl, rc));
	}
}

void session_signature_ready(void *owner)
{
	struct session *s = owner;
	int rc;

	s->signing = false;
	if (!s->closing) {
		step_handshake(s);
		return;
	}
	/* Closed while it waited: let the job end, then close for good. */
	signchan_set_owner(s);
	rc = SSL_do_handshake(s->ssl);
	if (rc <= 0 && SSL_get_error(s->ssl, rc) == SSL_ERROR_WANT_ASYNC) {
		s->signing = true;
		return;
	}
	s->closing = false;
	session_close(s, s->end, NULL);
}

static void start_forwarding(struct session *s)
{
	s->state = ST_FORWARD;
	if (forward_start(s) < 0) {
		session_close(s, END_ERROR, "out of memory or file descriptors");
		return;
	}
	session_event(s, EV_BACKEND, 0);
}

/* The connect() started by backend_connect() or, client side, by
 * session_new_client() has finished. */
static void step_connected(struct session *s)
{
	int fd = s->conn_index >= 0 ? s->cfd : s->bfd;
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		atomic_fetch_add(&g_counters.backend_failed, 1);
		if (s->conn_index >= 0)
			session_close(s, END_CONNECT, "server: %s", strerror(err));
		else
			session_close(s, END_CONNECT, "backend %s: %s",
				      session_port(s)->backend_text, strerror(err));
		return;
	}
	if (s->conn_index >= 0) {
		s->state = ST_HANDSHAKE;	/* now TLS with the server */
		step_handshake(s);
		return;
	}
	start_forwarding(s);
}

void session_event(struct session *s, int which, uint32_t events)
{
	int rc;

	if (s->signing)
		return;	/* its handshake goes on when the signature is in */
	s->last_active = mono_now();
	switch (s->state) {
	case ST_HANDSHAKE:
		step_handshake(s);
		return;
	case ST_CONNECTING:
		step_connected(s);
		return;
	case ST_FORWARD:
		break;
	}
	/* Readiness from epoll: the side that fired can make progress. */
	if (which == EV_CLIENT) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			s->up.src_ready = true;
			if (s->down.ssl_wants_read)
				s->down.dst_ready = true;
		}
		if (events & (EPOLLOUT | EPOLLERR)) {
			s->down.dst_ready = true;
			if (s->up.ssl_wants_write)
				s->up.src_ready = true;
		}
	} else if (events) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			s->down.src_ready = true;
		if (events & (EPOLLOUT | EPOLLERR))
			s->up.dst_ready = true;
	}
	rc = forward_pump(s);
	if (rc > 0)
		session_close(s, END_CLOSE, NULL);
	else if (rc < 0)
		session_close(s, END_ERROR, "forwarding failed");
}

void session_check_timeouts(struct worker *w, struct timespec *now)
{
	/* First those without a complete ClientHello: when both timeouts
	 * fall together, the end says the more precise thing. */
	admission_check_timeouts(w, now->tv_sec);
	/* The FIFO is ordered by deadline: stop at the first one not due. */
	while (w->hs_head && w->hs_head->deadline <= now->tv_sec) {
		struct session *s = w->hs_head;

		atomic_fetch_add(&g_counters.handshake_timeouts, 1);
		session_close(s, END_TIMEOUT, "no handshake within %d s",
			      (s->gen->cfg->daemon.handshake_timeout_ms + 999) / 1000);
	}
	if (w->gen && w->gen->cfg->daemon.idle_timeout_ms > 0) {
		time_t idle = (w->gen->cfg->daemon.idle_timeout_ms + 999) / 1000;
		struct session *s = w->sessions, *next;

		for (; s; s = next) {
			next = s->next;
			if (s->state == ST_FORWARD &&
			    now->tv_sec - s->last_active >= idle)
				session_close(s, END_IDLE, "no traffic for %ld s",
					      (long)idle);
		}
	}
}
