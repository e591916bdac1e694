// SPDX-License-Identifier: GPL-2.0
/*
 * loadgen: a TLS load generator for comparing TLS terminators.
 *
 *   loadgen --connect 127.0.0.1:PORT MODE [options]
 *
 * MODE is one of
 *   handshakes  full TLS handshakes, each aborted with a TCP reset as
 *               soon as it completes: the figure is the handshake's, with
 *               no backend connection in it for any terminator (one that
 *               sends session tickets would get a reset anyway, its
 *               unread tickets turning a close into one).
 *               --concurrency C keeps C in flight (saturation), or
 *               --rate R offers R new connections per second (latency);
 *               --drain S then gives the last ones up to S seconds past
 *               --duration to finish instead of cutting them off.
 *   reqresp     handshake, --request-size bytes written, the same number
 *               read back (an echo backend), close. With --rate, the
 *               latency is that of the whole exchange.
 *   bulk        --streams N connections, each downloading (backend in
 *               source mode) or uploading (--upload; sink backend)
 *               --bytes B bytes; reports MB/s over all streams.
 *   idle        open --sessions N sessions, print "established N", hold
 *               them until stdin reaches end of file, then close them.
 *
 * Every run is bounded by --duration seconds (bulk/idle: a time limit, a
 * run that hits it fails). The client forces TLS 1.3,
 * TLS_AES_128_GCM_SHA256 and X25519, disables resumption, and does not
 * verify the server (the same certificate is used for every terminator).
 * One epoll loop on one thread; the result is one line of key=value pairs
 * on stdout starting with "result", cpu_s being the load generator's own
 * user + system time (the client side's cost, for comparing two servers).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

enum mode { HANDSHAKES, REQRESP, BULK, IDLE };
enum phase { CONNECTING, HANDSHAKING, WRITING, READING, HOLDING };

struct conn {
	struct conn *prev, *next;	/* every open connection, to close at exit */
	int fd;
	SSL *ssl;
	enum phase phase;
	uint64_t started_ns;
	uint64_t done;		/* bytes moved in WRITING / READING */
};

struct opts {
	struct sockaddr_in addr;
	enum mode mode;
	unsigned int concurrency;
	double rate;
	double duration;
	double drain;			/* rate mode: seconds to let the last finish */
	unsigned int streams;
	unsigned long long bytes;
	bool upload;
	unsigned int sessions;
	unsigned int request_size;
};

struct stats {
	uint64_t completed;
	uint64_t errors;
	uint64_t bytes;
	uint64_t *lat_ns;	/* handshake latencies, rate mode */
	size_t nlat, cap;
};

static struct opts opt = { .concurrency = 64, .duration = 10, .streams = 1,
			   .bytes = 64 << 20, .sessions = 1000,
			   .request_size = 64 };
static struct stats st;
static SSL_CTX *ctx;
static int ep;
static unsigned int in_flight;
static struct conn *conns;
static unsigned char payload[16384];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --connect IP:PORT handshakes|reqresp|bulk|idle\n"
		"  [--concurrency C] [--rate R] [--duration S] [--drain S] [--streams N]\n"
		"  [--bytes B] [--upload] [--sessions N] [--request-size N]\n");
	exit(2);
}

static void parse_addr(const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		usage();
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	opt.addr.sin_family = AF_INET;
	opt.addr.sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &opt.addr.sin_addr) != 1)
		usage();
}

static void parse_args(int argc, char **argv)
{
	bool have_mode = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--upload")) {
			opt.upload = true;
			continue;
		}
		if (a[0] != '-') {
			static const char *const names[] = { "handshakes",
				"reqresp", "bulk", "idle" };

			for (unsigned int m = 0; m < 4; m++)
				if (!strcmp(a, names[m])) {
					opt.mode = m;
					have_mode = true;
				}
			if (!have_mode)
				usage();
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--connect"))
			parse_addr(v);
		else if (!strcmp(a, "--concurrency"))
			opt.concurrency = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--rate"))
			opt.rate = strtod(v, NULL);
		else if (!strcmp(a, "--duration"))
			opt.duration = strtod(v, NULL);
		else if (!strcmp(a, "--drain"))
			opt.drain = strtod(v, NULL);
		else if (!strcmp(a, "--streams"))
			opt.streams = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--bytes"))
			opt.bytes = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--sessions"))
			opt.sessions = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--request-size"))
			opt.request_size = strtoul(v, NULL, 0);
		else
			usage();
	}
	if (!have_mode || !opt.addr.sin_port || !opt.concurrency ||
	    opt.request_size > sizeof(payload))
		usage();
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set1_groups_list(c, "X25519")) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	/* Every handshake is a full one: no session cache, no tickets. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

static void conn_watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	epoll_ctl(ep, op, c->fd, &ev);
}

static void conn_close(struct conn *c, bool ok)
{
	if (ok && opt.mode == HANDSHAKES) {
		struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort_close,
			   sizeof(abort_close));
	} else if (ok && c->ssl && c->phase != CONNECTING) {
		SSL_shutdown(c->ssl);	/* one close_notify, no wait */
	}
	if (!ok)
		st.errors++;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
	in_flight--;
}

static struct conn *conn_open(void)
{
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->started_ns = now_ns();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		free(c);
		st.errors++;
		return NULL;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	in_flight++;
	if (connect(c->fd, (struct sockaddr *)&opt.addr, sizeof(opt.addr)) < 0 &&
	    errno != EINPROGRESS) {
		conn_close(c, false);
		return NULL;
	}
	c->phase = CONNECTING;
	conn_watch(c, EPOLLOUT, EPOLL_CTL_ADD);
	return c;
}

static void record_latency(uint64_t ns)
{
	if (st.nlat == st.cap) {
		size_t cap = st.cap ? 2 * st.cap : 4096;
		uint64_t *p = realloc(st.lat_ns, cap * sizeof(*p));

		if (!p)
			return;
		st.lat_ns = p;
		st.cap = cap;
	}
	st.lat_ns[st.nlat++] = ns;
}

/* Wait for what OpenSSL asked for; false on a real error. */
static bool want(struct conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
		return true;
	case SSL_ERROR_WANT_WRITE:
		conn_watch(c, EPOLLOUT, EPOLL_CTL_MOD);
		return true;
	default:
		return false;
	}
}

static void after_handshake(struct conn *c)
{
	/* reqresp: the latency of the whole exchange, recorded at its end. */
	if (opt.rate > 0 && opt.mode != REQRESP)
		record_latency(now_ns() - c->started_ns);
	switch (opt.mode) {
	case HANDSHAKES:
		st.completed++;
		conn_close(c, true);
		return;
	case IDLE:
		c->phase = HOLDING;
		st.completed++;
		conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
		return;
	case BULK:
		c->phase = opt.upload ? WRITING : READING;
		return;
	case REQRESP:
		c->phase = WRITING;
		return;
	}
}

/* Drive one connection as far as it goes; returns when it must wait. */
static void conn_step(struct conn *c)
{
	unsigned long long goal = opt.mode == BULK ? opt.bytes : opt.request_size;
	unsigned char buf[16384];
	int r;

	for (;;) {
		switch (c->phase) {
		case CONNECTING: {
			int err = 0;
			socklen_t len = sizeof(err);

			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				conn_close(c, false);
				return;
			}
			c->phase = HANDSHAKING;
			break;
		}
		case HANDSHAKING:
			r = SSL_do_handshake(c->ssl);
			if (r != 1) {
				if (!want(c, r))
					conn_close(c, false);
				return;
			}
			after_handshake(c);
			if (opt.mode == HANDSHAKES || opt.mode == IDLE)
				return;
			break;
		case WRITING: {
			size_t n = goal - c->done < sizeof(payload) ?
				   goal - c->done : sizeof(payload);

			r = SSL_write(c->ssl, payload, n);
			if (r <= 0) {
				if (!want(c, r))
					conn_close(c, false);
				return;
			}
			c->done += r;
			if (opt.mode == BULK)
				st.bytes += r;
			if (c->done < goal)
				break;
			if (opt.mode == BULK) {	/* upload finished */
				st.completed++;
				conn_close(c, true);
				return;
			}
			c->done = 0;
			c->phase = READING;
			break;
		}
		case READING:
			r = SSL_read(c->ssl, buf, sizeof(buf));
			if (r <= 0) {
				if (opt.mode == BULK && c->done == goal) {
					st.completed++;	/* the source closed */
					conn_close(c, true);
				} else if (!want(c, r)) {
					conn_close(c, false);
				}
				return;
			}
			c->done += r;
			if (opt.mode == BULK) {
				st.bytes += r;
				break;
			}
			if (c->done >= goal) {
				if (opt.rate > 0)
					record_latency(now_ns() - c->started_ns);
				st.completed++;
				conn_close(c, true);
				return;
			}
			break;
		case HOLDING:
			/* A held session that becomes readable was closed. */
			r = SSL_read(c->ssl, buf, sizeof(buf));
			if (r <= 0 && !want(c, r)) {
				st.completed--;
				conn_close(c, false);
			}
			return;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_us(double p)
{
	size_t i;

	if (!st.nlat)
		return 0;
	i = (size_t)(p * (st.nlat - 1) + 0.5);
	return st.lat_ns[i] / 1000.0;
}

/* How many new connections to start now. */
static unsigned int to_start(uint64_t t0, uint64_t now, uint64_t *started)
{
	if (opt.mode == BULK)
		return *started < opt.streams ? opt.streams - *started : 0;
	if (opt.mode == IDLE) {
		unsigned int room = opt.concurrency > in_flight - st.completed ?
				    opt.concurrency - (in_flight - st.completed) : 0;
		uint64_t left = opt.sessions - *started;

		return left < room ? left : room;
	}
	if (opt.rate > 0) {
		uint64_t due = (uint64_t)((now - t0) / 1e9 * opt.rate) + 1;

		return due > *started ? due - *started : 0;
	}
	return opt.concurrency > in_flight ? opt.concurrency - in_flight : 0;
}

static bool finished(void)
{
	if (opt.mode == BULK)
		return st.completed + st.errors >= opt.streams;
	if (opt.mode == IDLE)
		return st.completed + st.errors >= opt.sessions;
	return false;
}

static int run(void)
{
	uint64_t t0 = now_ns(), deadline = t0 + opt.duration * 1e9;
	uint64_t started = 0, t;
	bool timed_out = false;

	for (;;) {
		struct epoll_event evs[256];
		int n, timeout_ms;

		t = now_ns();
		if (t >= deadline + (opt.rate > 0 ? opt.drain * 1e9 : 0)) {
			timed_out = true;
			break;
		}
		if (finished() || (t >= deadline && !in_flight))
			break;
		for (unsigned int k = t < deadline ? to_start(t0, t, &started) : 0; k; k--) {
			started++;
			conn_open();
		}
		/* Rate mode wakes up for the next scheduled start. */
		timeout_ms = opt.rate > 0 ? 1 : 100;
		n = epoll_wait(ep, evs, 256, timeout_ms);
		for (int i = 0; i < n; i++)
			conn_step(evs[i].data.ptr);
	}
	t = now_ns();
	{
		double secs = (t - t0) / 1e9;
		bool fail = (opt.mode == BULK || opt.mode == IDLE) &&
			    (timed_out || st.errors);
		struct rusage ru;
		double cpu = 0;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
			      ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

		if (st.nlat)
			qsort(st.lat_ns, st.nlat, sizeof(*st.lat_ns), cmp_u64);
		printf("result mode=%s completed=%llu errors=%llu seconds=%.3f "
		       "rate=%.1f bytes=%llu mbps=%.1f p50_us=%.0f p99_us=%.0f "
		       "timed_out=%d cpu_s=%.3f started=%llu\n",
		       (const char *[]){ "handshakes", "reqresp", "bulk", "idle" }[opt.mode],
		       (unsigned long long)st.completed,
		       (unsigned long long)st.errors, secs,
		       st.completed / secs, (unsigned long long)st.bytes,
		       st.bytes / secs / 1e6, percentile_us(0.50),
		       percentile_us(0.99), fail && timed_out, cpu,
		       (unsigned long long)started);
		fflush(stdout);
		return fail ? 1 : 0;
	}
}

/* idle: hold the sessions until stdin closes, then drop them. */
static void hold(void)
{
	char line[64];

	printf("established %llu\n", (unsigned long long)st.completed);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
}

int main(int argc, char **argv)
{
	int rc;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	memset(payload, 'x', sizeof(payload));
	ctx = client_ctx();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("loadgen: epoll_create1");
		return 1;
	}
	rc = run();
	if (opt.mode == IDLE && rc == 0)
		hold();
	while (conns) {	/* held sessions, or handshakes cut by the deadline */
		struct conn *c = conns;
		bool held = c->phase == HOLDING;

		conn_close(c, held);
		if (!held)
			st.errors--;	/* already reported; not an error */
	}
	free(st.lat_ns);
	SSL_CTX_free(ctx);
	return rc;
}
