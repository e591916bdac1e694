// SPDX-License-Identifier: GPL-2.0
/*
 * Forwarding plaintext between the TLS client and the backend service.
 *
 * kTLS mode: the kernel encrypts and decrypts; ktlsd only moves pages with
 * splice(2) through one pipe per direction, so no payload byte is copied
 * through userspace. A non-data record (alert, KeyUpdate, ticket) makes
 * splice fail with EINVAL; it is then read with recvmsg() and its type from
 * the TLS_GET_RECORD_TYPE control message.
 *
 * Userspace mode (no kTLS, or a cipher the kernel cannot take): SSL_read
 * and SSL_write through one record-sized buffer per direction, held while
 * bytes flow and freed when a read finds nothing, so idle sessions cost
 * little memory.
 *
 * Both modes share one pump per direction: read while there is room, write
 * while there is data, stop each side at EAGAIN and ask epoll for exactly
 * the readiness that would let it go on. Half-close is passed through: end
 * of stream from the client (close_notify or FIN) becomes shutdown(SHUT_WR)
 * towards the backend; end of stream from the backend becomes close_notify
 * followed by SHUT_WR towards the client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#include "ktlsd.h"
#include "ktls.h"
#include "log.h"

#define PIPE_CAP	(64 * 1024)	/* default pipe capacity */
#define BUF_CAP		(16 * 1024)	/* one TLS record of plaintext */

enum { REC_ALERT = KTLS_RECORD_ALERT, REC_HANDSHAKE = KTLS_RECORD_HANDSHAKE,
       REC_DATA = KTLS_RECORD_APPLICATION_DATA };
enum { HS_NEW_SESSION_TICKET = 4, HS_KEY_UPDATE = 24 };

enum move { MOVED, BLOCKED, END, FAILED };

/*
 * Why a system call on FD failed, for the session's end: the TLS peer going
 * away is a reset; anything else is an error named with its errno (kTLS
 * reports a record that fails authentication as EBADMSG, an oversized one
 * as EMSGSIZE).
 */
static void note_errno(struct session *s, int fd, int err)
{
	const char *name = strerrorname_np(err);

	if (fd == s->cfd && (err == ECONNRESET || err == EPIPE))
		session_note_end(s, END_RESET, "peer reset the connection");
	else if (fd == s->cfd && err == EBADMSG)
		session_note_end(s, END_ERROR, "record failed authentication (EBADMSG)");
	else
		session_note_end(s, END_ERROR, "%s: %s (%s)",
				 fd == s->cfd ? "TLS peer" :
				 fd == s->bfd ? (s->conn_index >= 0 ? "application" : "backend") :
				 "pipe", strerror(err), name ? name : "?");
}

static bool ktls_mode(const struct session *s)
{
	return s->rec.mode == MODE_KTLS;
}

static size_t flow_cap(const struct session *s)
{
	return ktls_mode(s) ? PIPE_CAP : BUF_CAP;
}

int forward_start(struct session *s)
{
	s->up.src_ready = s->up.dst_ready = true;
	s->down.src_ready = s->down.dst_ready = true;
	if (!ktls_mode(s))
		return 0;
	if (pipe2(s->up.pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	if (pipe2(s->down.pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	return 0;
}

static void flow_free(struct flow *f)
{
	for (int i = 0; i < 2; i++) {
		if (f->pipe[i] >= 0)
			close(f->pipe[i]);
		f->pipe[i] = -1;
	}
	free(f->buf);
	f->buf = NULL;
}

void forward_free(struct session *s)
{
	flow_free(&s->up);
	flow_free(&s->down);
}

/*
 * kTLS: the next record from the client is not application data. Read it
 * whole with its type and decide: close_notify ends the client's stream,
 * a ticket is dropped, a KeyUpdate ends the session (kernels before 6.14
 * cannot take the next key, and guessing would corrupt the stream).
 */
static enum move ktls_control_record(struct session *s)
{
	unsigned char *buf = s->w->scratch;
	uint8_t type = REC_DATA;
	ssize_t n = ktls_recv_record(s->cfd, buf, sizeof(s->w->scratch),
				     MSG_DONTWAIT, &type);

	if (n < 0) {
		if (errno == EAGAIN)
			return BLOCKED;
		note_errno(s, s->cfd, errno);
		return FAILED;
	}
	if (type == REC_DATA) {
		/* Not expected after EINVAL, but never drop data: copy it. */
		if (n > 0 && write(s->up.pipe[1], buf, n) != n) {
			session_note_end(s, END_ERROR, "pipe full after a data record");
			return FAILED;
		}
		s->up.buffered += n;
		return n ? MOVED : END;
	}
	if (type == REC_ALERT && n >= 2 && buf[1] == 0)
		return END;	/* close_notify */
	if (type == REC_ALERT) {
		session_note_end(s, END_ERROR, "peer sent TLS alert %u",
				 n >= 2 ? buf[1] : 0);
		return FAILED;
	}
	if (type == REC_HANDSHAKE && n >= 1 && buf[0] == HS_NEW_SESSION_TICKET)
		return MOVED;
	if (type == REC_HANDSHAKE && n >= 1 && buf[0] == HS_KEY_UPDATE) {
		atomic_fetch_add(&g_counters.keyupdate_closed, 1);
		session_note_end(s, END_KEYUPDATE, "peer sent a TLS 1.3 KeyUpdate; "
				 "this kernel cannot install a new kTLS key (Linux "
				 "6.14+ can), so the session is closed cleanly "
				 "instead of corrupting data");
		return FAILED;
	}
	session_note_end(s, END_ERROR, "peer sent an unexpected TLS record (type %u)",
			 type);
	return FAILED;
}

/* splice N bytes at most; *moved gets how many went through. */
static enum move splice_move(struct session *s, int from, int to, size_t want,
			     size_t *moved)
{
	ssize_t n = splice(from, NULL, to, NULL, want,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

	*moved = n > 0 ? (size_t)n : 0;
	if (n > 0)
		return MOVED;
	if (n == 0)
		return END;
	if (errno == EAGAIN)
		return BLOCKED;
	/* Only the client side of a kTLS socket says EINVAL: control record. */
	if (errno == EINVAL && from == s->cfd)
		return ktls_control_record(s);
	/* One end of a splice is a pipe, the other the socket that failed. */
	note_errno(s, from == s->cfd || from == s->bfd ? from : to, errno);
	return FAILED;
}

/*
 * Userspace mode: what an SSL_read/SSL_write that returned RC means. A
 * failure notes its reason for the session's end: OpenSSL's error string
 * (a record that fails authentication, an alert from the peer), or the
 * system error.
 */
static enum move ssl_result(struct session *s, struct flow *f, int rc)
{
	int err = errno;
	unsigned long e;
	char text[160];

	switch (SSL_get_error(s->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		if (f == &s->down)
			f->ssl_wants_read = true;
		return BLOCKED;
	case SSL_ERROR_WANT_WRITE:
		if (f == &s->up)
			f->ssl_wants_write = true;
		return BLOCKED;
	case SSL_ERROR_ZERO_RETURN:
		return END;	/* close_notify */
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && err == ECONNRESET)
			note_errno(s, s->cfd, err);
		if (ERR_peek_error() == 0 && (err == 0 || err == ECONNRESET))
			return END;	/* TCP end without close_notify */
		if (ERR_peek_error() == 0) {
			note_errno(s, s->cfd, err);
			return FAILED;
		}
		/* fall through */
	default:
		e = ERR_peek_last_error();
		if (e) {
			ERR_error_string_n(e, text, sizeof(text));
			session_note_end(s, END_ERROR, "TLS: %s", text);
		}
		ERR_clear_error();
		return FAILED;
	}
}

/* Read into the flow's buffer or pipe. */
static enum move flow_in(struct session *s, struct flow *f)
{
	bool up = f == &s->up;
	int src = up ? s->cfd : s->bfd;
	size_t moved;
	enum move m;
	ssize_t n;

	if (ktls_mode(s)) {
		m = splice_move(s, src, f->pipe[1], PIPE_CAP - f->buffered,
				&moved);

		f->buffered += moved;
		return m;
	}
	if (!f->buf && !(f->buf = malloc(BUF_CAP)))
		return FAILED;
	f->ssl_wants_write = false;
	if (up) {
		int rc = SSL_read(s->ssl, f->buf, BUF_CAP);

		n = rc > 0 ? rc : 0;
		m = rc > 0 ? MOVED : ssl_result(s, f, rc);
	} else {
		n = read(src, f->buf, BUF_CAP);
		m = n > 0 ? MOVED : n == 0 ? END : errno == EAGAIN ? BLOCKED : FAILED;
		if (m == FAILED)
			note_errno(s, src, errno);
		n = n > 0 ? n : 0;
	}
	if (m != MOVED) {
		/* Nothing arrived (an idle session waits here): keep no
		 * buffer, or every idle session would hold two records. */
		free(f->buf);
		f->buf = NULL;
		return m;
	}
	f->buffered = n;
	f->off = 0;
	return MOVED;
}

/* Write from the flow's buffer or pipe. */
static enum move flow_out(struct session *s, struct flow *f)
{
	bool up = f == &s->up;
	int dst = up ? s->bfd : s->cfd;
	size_t moved = 0;
	enum move m;

	if (ktls_mode(s)) {
		m = splice_move(s, f->pipe[0], dst, f->buffered, &moved);
		if (m == END)
			m = FAILED;	/* a pipe with bytes never says EOF */
	} else if (up) {
		ssize_t n = write(dst, f->buf + f->off, f->buffered);

		if (n > 0)
			moved = n;
		m = n > 0 ? MOVED : (n < 0 && errno == EAGAIN) ? BLOCKED : FAILED;
		if (m == FAILED)
			note_errno(s, dst, errno);
	} else {
		int rc;

		f->ssl_wants_read = false;
		rc = SSL_write(s->ssl, f->buf + f->off, f->buffered);
		if (rc > 0)
			moved = rc;
		m = rc > 0 ? MOVED : ssl_result(s, f, rc);
		if (m == END)
			m = FAILED;
	}
	f->buffered -= moved;
	f->off += moved;
	if (moved) {
		atomic_fetch_add(up ? &s->rec.bytes_in : &s->rec.bytes_out, moved);
		atomic_fetch_add(up ? &g_counters.bytes_to_backend :
				      &g_counters.bytes_to_client, moved);
	}
	/* An emptied buffer is kept for the next read, which frees it if
	 * nothing comes: a transfer reuses one buffer, an idle session keeps
	 * none. */
	if (f->buffered == 0)
		f->off = 0;
	return m;
}

/* End of the client's stream -> SHUT_WR to the backend; end of the
 * backend's stream -> close_notify, then SHUT_WR to the client. */
static int flow_shutdown(struct session *s, struct flow *f)
{
	if (f == &s->up)
		return shutdown(s->bfd, SHUT_WR);
	if (ktls_mode(s)) {
		int rc = ktls_send_close_notify(s->cfd);

		if (rc < 0 && rc != -EPIPE)
			log_debug("port %s: %s: close_notify: %s", s->rec.port,
				  s->rec.peer, strerror(-rc));
	} else {
		SSL_shutdown(s->ssl);	/* sends close_notify */
		ERR_clear_error();
	}
	return shutdown(s->cfd, SHUT_WR);
}

/* Pump one direction until neither side can move. */
static int flow_pump(struct session *s, struct flow *f)
{
	size_t cap = flow_cap(s);
	bool progress = true;

	while (progress) {
		progress = false;
		if (!f->src_eof && f->src_ready && f->buffered < cap &&
		    (ktls_mode(s) || f->buffered == 0)) {
			size_t before = f->buffered;

			switch (flow_in(s, f)) {
			case MOVED:
				progress = true;
				break;
			case BLOCKED:
				/* With bytes still queued, EAGAIN may mean a
				 * full pipe rather than an empty source: retry
				 * after the queue drains instead of polling. */
				if (before == 0 || !ktls_mode(s))
					f->src_ready = false;
				break;
			case END:
				f->src_eof = true;
				progress = true;
				break;
			case FAILED:
				return -1;
			}
		}
		if (f->buffered > 0 && f->dst_ready) {
			switch (flow_out(s, f)) {
			case MOVED:
				progress = true;
				break;
			case BLOCKED:
				f->dst_ready = false;
				break;
			case END:
			case FAILED:
				return -1;
			}
		}
	}
	if (f->src_eof && f->buffered == 0 && !f->dst_shut) {
		f->dst_shut = true;
		flow_shutdown(s, f);
	}
	return 0;
}

int forward_pump(struct session *s)
{
	size_t cap = flow_cap(s);
	uint32_t cmask = 0, bmask = 0;
	struct flow *up = &s->up, *down = &s->down;

	if (flow_pump(s, up) < 0 || flow_pump(s, down) < 0)
		return -1;
	if (up->dst_shut && down->dst_shut)
		return 1;

	if ((!up->src_ready && !up->src_eof && up->buffered < cap) ||
	    (down->ssl_wants_read && !down->dst_ready))
		cmask |= EPOLLIN;
	if ((!down->dst_ready && down->buffered > 0) ||
	    (up->ssl_wants_write && !up->src_ready))
		cmask |= EPOLLOUT;
	if (!down->src_ready && !down->src_eof && down->buffered < cap)
		bmask |= EPOLLIN;
	if (!up->dst_ready && up->buffered > 0)
		bmask |= EPOLLOUT;
	session_set_interest(s, cmask, bmask);
	return 0;
}
