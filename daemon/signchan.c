// SPDX-License-Identifier: GPL-2.0
/*
 * The signer's side of the sign channels to the key holder (keyholder.h
 * describes the channels and their messages).
 *
 * A process has up to KP_MAX_CHANNELS channels and each worker thread
 * signs on its own (keyproxy_use_channel). A signature goes one of two
 * ways:
 *   - batched: a worker that called signchan_batch_begin() makes its
 *     handshakes in OpenSSL async jobs (SSL_MODE_ASYNC). A signature asked
 *     for there is queued and the job paused; before the worker waits for
 *     events, signchan_batch_service() sends every queued request in one
 *     write, so the key holder wakes once for all the handshakes of an
 *     event batch and answers them in one write too. The answers arrive as
 *     an event on the channel's answer pipe (signchan_batch_collect), and
 *     each paused handshake is handed back to the worker (its ready
 *     callback) to be resumed.
 *   - a blocking round trip: any other thread, or a signature made outside
 *     an async job.
 * On one CPU a round trip between two processes costs two context switches
 * and a wake-up, about 9% of a handshake; batching pays that once per
 * event batch instead of once per handshake.
 *
 * Every request carries a number (kh_hdr.seq) that its answer echoes:
 * answers are matched to their requests, and one that comes after its
 * signer gave up (KP_ANSWER_TIMEOUT_MS) is dropped.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>
#include <openssl/async.h>
#include <openssl/crypto.h>

#include "keyholder.h"
#include "log.h"

#define SC_MAX_SIG	1024	/* RSA-8192 */
#define SC_REQ_BYTES	(sizeof(struct kh_hdr) + sizeof(struct kh_sign_req))

/* A signature a paused handshake waits for; it lives on the job's stack. */
struct sc_wait {
	struct sc_wait *next;
	uint32_t seq;
	enum { SC_WAITING, SC_SIGNED, SC_FAILED } state;
	void *owner;			/* what the ready callback gets */
	void (*ready)(void *owner);
	struct timespec deadline;	/* CLOCK_MONOTONIC */
	size_t siglen;
	unsigned char sig[SC_MAX_SIG];
};

/* Bytes read from an answer pipe: whole messages, then maybe a part. */
struct sc_answers {
	unsigned char buf[sizeof(struct kh_hdr) + KH_MAX_PAYLOAD];
	size_t have;
};

struct kp_channel {
	/* Guards everything below: the worker(s) signing on the channel
	 * and the thread that replaces it after the key holder was
	 * restarted. Never held while a handshake is resumed. */
	pthread_mutex_t lock;
	struct kh_signer ch;
	uint32_t seq;			/* the last request's number */
	unsigned int epoch;		/* bumped when ch is replaced */
	struct sc_wait *waits, **waits_tail;	/* sent or queued, in order */
	struct sc_wait *done;		/* answered, failed: to resume */
	unsigned char out[PIPE_BUF / SC_REQ_BYTES * SC_REQ_BYTES];
	size_t out_len;			/* queued requests, not yet sent */
	struct sc_answers in;		/* batched answers read so far */
};

static struct kp_channel channels[KP_MAX_CHANNELS];

static void channels_init(void)
{
	for (int i = 0; i < KP_MAX_CHANNELS; i++) {
		pthread_mutex_init(&channels[i].lock, NULL);
		channels[i].ch = (struct kh_signer){ -1, -1 };
		channels[i].waits = NULL;
		channels[i].waits_tail = &channels[i].waits;
		channels[i].done = NULL;
		channels[i].out_len = 0;
		channels[i].in.have = 0;
	}
}

static void __attribute__((constructor)) channels_start(void)
{
	channels_init();
}

/* Set before any signature (tests); read-only afterwards. */
static int answer_timeout_ms = KP_ANSWER_TIMEOUT_MS;

void keyproxy_set_answer_timeout(int ms)
{
	answer_timeout_ms = ms;
}

/* The calling thread's channel; 0 for a thread that never chose one. */
static __thread unsigned int my_channel;
/* Set by signchan_batch_begin() in a worker: its paused handshakes go to
 * this callback; NULL in every other thread (blocking round trips). */
static __thread void (*my_ready)(void *owner);
/* The handshake the worker is running (signchan_set_owner). */
static __thread void *my_owner;

/* W failed: it goes on C's done list. Called locked. */
static void fail_wait(struct kp_channel *c, struct sc_wait *w)
{
	w->state = SC_FAILED;
	w->next = c->done;
	c->done = w;
}

/* Every wait of C fails and goes to its done list. Called locked. */
static void fail_all_locked(struct kp_channel *c)
{
	struct sc_wait *w;

	while ((w = c->waits)) {
		c->waits = w->next;
		fail_wait(c, w);
	}
	c->waits_tail = &c->waits;
	c->out_len = 0;
}

struct kh_signer keyproxy_set_channel(unsigned int slot, struct kh_signer ch)
{
	struct kp_channel *c = &channels[slot % KP_MAX_CHANNELS];
	struct kh_signer old;

	pthread_mutex_lock(&c->lock);	/* waits for a signature in flight */
	old = c->ch;
	c->ch = ch;
	c->epoch++;
	/* Nothing sent on the old channel will be answered on the new, nor
	 * does a part of an answer read from the old one belong there. */
	fail_all_locked(c);
	c->in.have = 0;
	pthread_mutex_unlock(&c->lock);
	return old;
}

void keyproxy_close_signer(struct kh_signer ch)
{
	if (ch.req >= 0)
		close(ch.req);
	if (ch.ans >= 0)
		close(ch.ans);
}

void keyproxy_forget_channels(void)
{
	/* A child just forked, with one thread: a lock that another thread
	 * of the parent held at the fork would never be released here, and
	 * the parent's waits belong to its jobs. */
	channels_init();
}

void keyproxy_use_channel(unsigned int slot)
{
	my_channel = slot % KP_MAX_CHANNELS;
}

/* The calling thread's channel, locked; channel 0 when its own has none
 * (a process that made only one: the parent, tests). */
static struct kp_channel *lock_channel(void)
{
	struct kp_channel *c = &channels[my_channel];

	pthread_mutex_lock(&c->lock);
	if (c->ch.req < 0 && c != &channels[0]) {
		pthread_mutex_unlock(&c->lock);
		c = &channels[0];
		pthread_mutex_lock(&c->lock);
	}
	return c;
}

/* ---- answers ---------------------------------------------------------- */

/* The first whole message in A: its length, 0 when none is whole yet, -1
 * when it cannot be one (the channel is then unusable). */
static ssize_t whole_answer(const struct sc_answers *a, struct kh_hdr *h)
{
	if (a->have < sizeof(*h))
		return 0;
	memcpy(h, a->buf, sizeof(*h));
	if (h->len > KH_MAX_PAYLOAD)
		return -1;
	return a->have >= sizeof(*h) + h->len ? (ssize_t)(sizeof(*h) + h->len) : 0;
}

/* Drop the first LEN bytes of A (a message dealt with). */
static void consume(struct sc_answers *a, size_t len)
{
	memmove(a->buf, a->buf + len, a->have - len);
	a->have -= len;
	OPENSSL_cleanse(a->buf + a->have, len);
}

/* C's wait for request SEQ, taken off the list; NULL if there is none
 * (its signer gave up). Called locked. */
static struct sc_wait *unlink_wait(struct kp_channel *c, uint32_t seq)
{
	struct sc_wait **pp, *w;

	for (pp = &c->waits; (w = *pp); pp = &w->next)
		if (w->seq == seq)
			break;
	if (!w)
		return NULL;
	*pp = w->next;
	if (!*pp)
		c->waits_tail = pp;
	return w;
}

/* W is on no list of C any more, wherever it was. Called locked. */
static void forget_wait(struct kp_channel *c, struct sc_wait *w)
{
	struct sc_wait **pp;

	if (unlink_wait(c, w->seq))
		return;
	for (pp = &c->done; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

/* W as the answer headed H (payload P) leaves it: signed, or failed (a
 * refusal is logged with the key holder's sentence). */
static void settle(struct sc_wait *w, const struct kh_hdr *h,
		   const unsigned char *p)
{
	if (h->type == KH_OK && h->len <= sizeof(w->sig)) {
		memcpy(w->sig, p, h->len);
		w->siglen = h->len;
		w->state = SC_SIGNED;
		return;
	}
	if (h->type == KH_ERROR)
		log_err("key holder refused to sign: %.*s", (int)h->len,
			(const char *)p);
	w->state = SC_FAILED;
}

/* The answer headed H (payload P) to one of C's waits, if it is one: that
 * wait is filled in and put on the done list. An answer to no wait (its
 * signer gave up) is dropped. Called locked. */
static void answer_wait(struct kp_channel *c, const struct kh_hdr *h,
			const unsigned char *p)
{
	struct sc_wait *w = unlink_wait(c, h->seq);

	if (!w)
		return;
	settle(w, h, p);
	w->next = c->done;
	c->done = w;
}

/* W's signature into SIG (SIGSIZE bytes), wiped from W: 1, or 0 when W
 * failed or it does not fit. */
static int take_signature(struct sc_wait *w, unsigned char *sig,
			  size_t *siglen, size_t sigsize)
{
	int ok = w->state == SC_SIGNED && w->siglen <= sigsize;

	if (ok) {
		memcpy(sig, w->sig, w->siglen);
		*siglen = w->siglen;
	}
	OPENSSL_cleanse(w->sig, w->siglen);
	return ok;
}

/* ---- blocking round trip ----------------------------------------------- */

/* Milliseconds left until DEADLINE (CLOCK_MONOTONIC), 0 when past. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static void deadline_after(struct timespec *t, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Read what the answer pipe FD has into A; with WAIT, first wait up to
 * DEADLINE for it. 1, 0 when the key holder has gone, -1 on an error
 * (errno: EAGAIN when there was nothing, ETIMEDOUT at the deadline). */
static int read_answers(int fd, struct sc_answers *a, bool wait,
			const struct timespec *deadline)
{
	ssize_t n;

	if (wait) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int r;

		do
			r = poll(&pfd, 1, ms_left(deadline));
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
	}
	do
		n = read(fd, a->buf + a->have, sizeof(a->buf) - a->have);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	a->have += (size_t)n;
	return 1;
}

/*
 * Send REQ and BODY on C as its next request (one write, smaller than
 * PIPE_BUF: never split nor mixed) and wait up to the answer timeout for
 * the answer to it, which is left at the start of C->in. Answers to others
 * before it (given up on, or batched waits of this channel) are dealt
 * with on the way. Returns the answer's length, 0 when the key holder has
 * gone, -1 on an error (errno) or a timeout (ETIMEDOUT). Called locked.
 */
static ssize_t exchange(struct kp_channel *c, struct kh_hdr *req,
			const struct kh_sign_req *body)
{
	struct iovec iov[2] = {
		{ req, sizeof(*req) }, { (void *)body, sizeof(*body) },
	};
	struct timespec deadline;
	struct kh_hdr h;
	ssize_t n;

	if (c->ch.req < 0 || c->ch.ans < 0) {
		errno = ENOTCONN;
		return -1;
	}
	req->seq = ++c->seq;
	do
		n = writev(c->ch.req, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)SC_REQ_BYTES)
		return n < 0 ? -1 : 0;
	deadline_after(&deadline, answer_timeout_ms);
	for (;;) {
		ssize_t whole = whole_answer(&c->in, &h);
		int r;

		if (whole < 0) {
			errno = EPROTO;
			return -1;
		}
		if (whole > 0 && h.seq == req->seq)
			return whole;
		if (whole > 0) {	/* someone else's, or late: not ours */
			answer_wait(c, &h, c->in.buf + sizeof(h));
			consume(&c->in, (size_t)whole);
			continue;
		}
		r = read_answers(c->ch.ans, &c->in, true, &deadline);
		if (r <= 0)
			return r;
	}
}

/* One request, one answer, on the calling thread's sign channel. */
static int round_trip(struct kh_hdr *req, const struct kh_sign_req *body,
		      unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct kp_channel *c = lock_channel();
	struct sc_wait w = { .state = SC_FAILED };
	struct kh_hdr h;
	ssize_t n;
	int err;

	n = exchange(c, req, body);
	err = errno;
	if (n > 0)
		memcpy(&h, c->in.buf, sizeof(h));
	if (n <= 0 || h.id != req->id) {
		errno = err;
		log_err("key holder: no answer to a signing request (%s)",
			n < 0 ? strerror(errno) : n == 0 ? "it has gone" :
			"malformed answer");
	} else {
		settle(&w, &h, c->in.buf + sizeof(h));
	}
	if (n > 0)
		consume(&c->in, (size_t)n);
	else if (n < 0 && err == EPROTO)
		c->in.have = 0;	/* not answers: start again from nothing */
	/* Otherwise what was read stays: whole answers to others, or the
	 * start of one whose rest is on its way. */
	pthread_mutex_unlock(&c->lock);
	return take_signature(&w, sig, siglen, sigsize);
}

/* ---- batched, in async jobs ---------------------------------------------- */

/* Send C's queued requests, in one write. Called locked. */
static void send_queued_locked(struct kp_channel *c)
{
	ssize_t n;

	if (!c->out_len)
		return;
	do
		n = write(c->ch.req, c->out, c->out_len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)c->out_len) {
		/* A full pipe (the key holder is stuck) or none. */
		log_err("key holder: cannot send signing requests (%s)",
			n < 0 ? strerror(errno) : "short write");
		fail_all_locked(c);
	}
	c->out_len = 0;
}

/* Queue REQ and BODY on the calling worker's own channel and pause the
 * job until the answer is in (or the wait failed). */
static int sign_batched(struct kp_channel *c, struct kh_hdr *req,
			const struct kh_sign_req *body, unsigned char *sig,
			size_t *siglen, size_t sigsize)
{
	struct sc_wait w = { .state = SC_WAITING, .owner = my_owner,
			     .ready = my_ready };

	pthread_mutex_lock(&c->lock);
	if (c->ch.req < 0) {
		/* No channel: the key holder is being replaced. */
		pthread_mutex_unlock(&c->lock);
		return round_trip(req, body, sig, siglen, sigsize);
	}
	/* An event batch with more handshakes than one write holds: what
	 * is queued goes now, the rest with the next write. */
	if (c->out_len + SC_REQ_BYTES > sizeof(c->out))
		send_queued_locked(c);
	req->seq = w.seq = ++c->seq;
	memcpy(c->out + c->out_len, req, sizeof(*req));
	memcpy(c->out + c->out_len + sizeof(*req), body, sizeof(*body));
	c->out_len += SC_REQ_BYTES;
	deadline_after(&w.deadline, answer_timeout_ms);
	*c->waits_tail = &w;
	c->waits_tail = &w.next;
	pthread_mutex_unlock(&c->lock);
	/* Resumed by the worker once W is off every list (signchan_batch_*):
	 * nothing refers to it when this frame goes. */
	while (w.state == SC_WAITING)
		if (!ASYNC_pause_job()) {
			log_err("key holder: cannot pause the handshake");
			pthread_mutex_lock(&c->lock);
			forget_wait(c, &w);	/* its answer will be dropped */
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	return take_signature(&w, sig, siglen, sigsize);
}

int signchan_sign(struct kh_hdr *req, const struct kh_sign_req *body,
		  unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct kp_channel *c = &channels[my_channel];

	if (my_ready && ASYNC_get_current_job())
		return sign_batched(c, req, body, sig, siglen, sigsize);
	return round_trip(req, body, sig, siglen, sigsize);
}

void signchan_batch_begin(void (*ready)(void *owner))
{
	my_ready = ready;
}

void signchan_set_owner(void *owner)
{
	my_owner = owner;
}

int signchan_batch_fd(unsigned int *epoch)
{
	struct kp_channel *c = &channels[my_channel];
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = c->ch.ans;
	*epoch = c->epoch;
	pthread_mutex_unlock(&c->lock);
	return fd;
}

/* Take C's done waits. Called locked. */
static struct sc_wait *take_done_locked(struct kp_channel *c)
{
	struct sc_wait *w = c->done;

	c->done = NULL;
	return w;
}

/* Hand the waits W (a done list) back to their worker. Not called locked:
 * a handshake resumed may sign again. */
static void resume(struct sc_wait *w)
{
	while (w) {
		/* After ready() the job may have ended and W with it. */
		struct sc_wait *next = w->next;

		w->ready(w->owner);
		w = next;
	}
}

unsigned int signchan_batch_service(void)
{
	struct kp_channel *c = &channels[my_channel];
	struct sc_wait *done;
	struct timespec now;
	unsigned int epoch;

	pthread_mutex_lock(&c->lock);
	if (c->waits) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* In the order sent: the first not overdue ends the search. */
		while (c->waits && (c->waits->deadline.tv_sec < now.tv_sec ||
		       (c->waits->deadline.tv_sec == now.tv_sec &&
			c->waits->deadline.tv_nsec <= now.tv_nsec))) {
			log_err("key holder: no answer to a signing request (%s)",
				strerror(ETIMEDOUT));
			fail_wait(c, unlink_wait(c, c->waits->seq));
		}
	}
	send_queued_locked(c);
	done = take_done_locked(c);
	epoch = c->epoch;
	pthread_mutex_unlock(&c->lock);
	resume(done);
	return epoch;
}

int signchan_batch_collect(void)
{
	struct kp_channel *c = &channels[my_channel];
	struct sc_wait *done;
	int r, gone = 0;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct kh_hdr h;
		ssize_t whole = whole_answer(&c->in, &h);

		if (whole > 0) {
			answer_wait(c, &h, c->in.buf + sizeof(h));
			consume(&c->in, (size_t)whole);
			continue;
		}
		if (whole < 0) {
			/* Not an answer: what waits cannot be told apart
			 * any more. Start again from what comes next. */
			log_err("key holder: malformed answer");
			fail_all_locked(c);
			c->in.have = 0;
			continue;
		}
		r = c->ch.ans < 0 ? 0 :
		    read_answers(c->ch.ans, &c->in, false, NULL);
		if (r == 0) {		/* the key holder has gone */
			fail_all_locked(c);
			gone = -1;
			break;
		}
		if (r < 0)		/* EAGAIN: all read */
			break;
	}
	done = take_done_locked(c);
	pthread_mutex_unlock(&c->lock);
	resume(done);
	return gone;
}

void signchan_batch_abandon(void)
{
	struct kp_channel *c = &channels[my_channel];
	struct sc_wait *done;

	pthread_mutex_lock(&c->lock);
	fail_all_locked(c);
	done = take_done_locked(c);
	pthread_mutex_unlock(&c->lock);
	resume(done);
}
