// SPDX-License-Identifier: GPL-2.0
/*
 * Handshake admission (daemon/admission.c): connections that have not
 * completed a ClientHello make room for new ones, oldest first; silent
 * ones take no handshake slot; a ClientHello is refused only when every
 * slot is past its ClientHello, a connection when its source holds
 * max-handshakes-per-source; hello-timeout ends a silent connection before
 * handshake-timeout would; and during a flood of
 * 10,000 silent plus 1,000 half-ClientHello connections (from one source,
 * then from 50) good clients are served, every refusal and eviction is
 * counted by reason, and ktlsd's memory and descriptors come back to
 * their baseline afterwards.
 *
 * Every test runs in a private network namespace (its loopback answers for
 * all of 127.0.0.0/8, so clients can come from several sources). Timeouts
 * are long wherever a test needs a close to mean "refused" or "evicted":
 * no assertion depends on how fast the machine is.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

/* Long enough that no close during a test is a timeout. */
#define LONG_TIMEOUTS "handshake-timeout = 600\nhello-timeout = 600\n"
#define FLOOD_SILENT 10000
#define FLOOD_HALF 1000
#define GOOD_CLIENTS 30
/* As in the attack that found the problem, with fewer session slots than
 * the flood has connections. */
#define FLOOD_DAEMON "workers = 2\nhandshake-timeout = 5\nmax-handshakes = 1024\n" \
	"max-sessions = 2048\n"
/* ASan's allocator keeps freed memory in quarantine, TSan's keeps it for
 * its shadow, and ktlsd does not trim its heap under either: only the
 * normal build can show RSS coming back. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_RETURNS 0
#else
#define RSS_RETURNS 1
#endif

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

static int loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

	if (fd < 0)
		return -1;
	rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	rc = rc ? rc : ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return rc;
}

/* A TCP connection from SRC ("127.0.0.2"; NULL: the kernel's choice) to
 * 127.0.0.1:PORT, or -1. */
static int tcp_connect_from(const char *src, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in s = { .sin_family = AF_INET };
	int fd;

	if (!src)
		return tl_connect_loopback(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (inet_pton(AF_INET, src, &s.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send the first LEN bytes of a ClientHello on FD (all of it: LEN 0). */
static int send_hello(int fd, size_t len)
{
	unsigned char hello[2048];
	int n = tl_client_hello(hello, sizeof(hello));

	if (n < 0)
		return -1;
	if (!len || len > (size_t)n)
		len = (size_t)n;
	return send(fd, hello, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* 1 when the peer has closed FD (EOF or reset) within TIMEOUT_MS. */
static int closed_within(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char buf[4096];

	while (poll(&p, 1, timeout_ms) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			return 1;
		/* Server bytes (a ServerHello): keep waiting for the end. */
	}
	return 0;
}

/* 1 when the server has answered FD with some bytes within TIMEOUT_MS. */
static int answered_within(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, timeout_ms) == 1 &&
	       recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* Handshake, "ping" echoed back, close: 0 on success. */
static int good_client(SSL_CTX *ctx, int port)
{
	SSL *ssl = tl_tls_connect(ctx, port);
	char buf[8];
	int ok;

	if (!ssl)
		return -1;
	ok = SSL_write(ssl, "ping", 4) == 4 && SSL_read(ssl, buf, sizeof(buf)) == 4 &&
	     !memcmp(buf, "ping", 4);
	tl_tls_close(ssl);
	return ok ? 0 : -1;
}

/* A "Key:  N" line of /proc/PID/status (files of size 0: read by line). */
static long proc_value(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* VmRSS (KiB) and descriptors of the daemon and its children: the
 * network process, which holds the connections, and the key holder. */
static void daemon_usage(pid_t pid, long *rss, int *fds)
{
	pid_t p[33];
	int n = tl_children(pid, p + 1, 32) + 1;

	p[0] = pid;
	*rss = 0;
	*fds = 0;
	for (int i = 0; i < n; i++) {
		*rss += proc_value(p[i], "VmRSS:");
		*fds += fd_count(p[i]);
	}
}

static long long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

FIXTURE(admission) {
	PKI_ECHO_PORT_IN_FIXTURE;
	bool started;
	SSL_CTX *ctx;
};

FIXTURE_SETUP(admission)
{
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, loopback_up());
	ASSERT_EQ(0, pki_echo_port_prepare(&self->base));
	self->ctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->ctx);
}

FIXTURE_TEARDOWN(admission)
{
	if (self->started)
		EXPECT_EQ(0, tl_stop(&self->daemon));
	tl_stop(&self->echo);
	SSL_CTX_free(self->ctx);
	tl_rmtree(self->dir);
	free(self->dir);
}

static int daemon_up(FIXTURE_DATA(admission) *self, const char *lines)
{
	if (pki_echo_port_write_conf(&self->base, lines) < 0 ||
	    tl_daemon_start(&self->daemon, self->conf, self->log) < 0)
		return -1;
	self->started = true;
	return 0;
}

/* Wait (at most TIMEOUT_MS) until ktlsd has exactly N handshakes. */
static int wait_handshakes(FIXTURE_DATA(admission) *self, long long n, int timeout_ms)
{
	long long end = ms_now() + timeout_ms;

	do {
		if (tl_ctl_number(self->control, "status", "handshakes") == n)
			return 0;
		pause_ms(20);
	} while (ms_now() < end);
	return -1;
}

/* Wait (at most TIMEOUT_MS) until no established session is left. */
static int wait_no_sessions(FIXTURE_DATA(admission) *self, int timeout_ms)
{
	long long end = ms_now() + timeout_ms;

	do {
		if (tl_ctl_number(self->control, "status", "sessions") == 0)
			return 0;
		pause_ms(20);
	} while (ms_now() < end);
	return -1;
}

/* Send a first record holding only the first 40 bytes of a ClientHello
 * (a TLS handshake message may span records), then wait (at most
 * TIMEOUT_MS) until ktlsd says it gave FD a handshake slot for it. */
static int send_first_fragment(FIXTURE_DATA(admission) *self, int fd, int timeout_ms)
{
	unsigned char hello[2048], rec[5 + 40];
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	char needle[128], addr[INET_ADDRSTRLEN];

	if (tl_client_hello(hello, sizeof(hello)) < 45 ||
	    getsockname(fd, (struct sockaddr *)&me, &len) < 0)
		return -1;
	memcpy(rec, hello, 3);		/* type, version */
	rec[3] = 0;
	rec[4] = 40;
	memcpy(rec + 5, hello + 5, 40);
	if (send(fd, rec, sizeof(rec), MSG_NOSIGNAL) != (ssize_t)sizeof(rec))
		return -1;
	inet_ntop(AF_INET, &me.sin_addr, addr, sizeof(addr));
	snprintf(needle, sizeof(needle), "%s:%d: first record here, "
		 "handshake slot taken", addr, ntohs(me.sin_port));
	return tl_wait_file_contains(self->log, needle, timeout_ms);
}

static long long counter(FIXTURE_DATA(admission) *self, const char *key)
{
	return tl_ctl_number(self->control, "stats", key);
}

/*
 * With every session slot taken by connections that sent nothing or half a
 * ClientHello, a good client is served, and the oldest of them is the one
 * closed to make room for it; the next newcomer closes the next oldest,
 * whether it sent nothing or half a ClientHello.
 */
TEST_F(admission, evicts_oldest_connection_without_hello)
{
	int c[5];

	ASSERT_EQ(0, daemon_up(self, "workers = 1\nmax-sessions = 4\n"
			       "max-handshakes-per-source = 0\n" LONG_TIMEOUTS));
	for (int i = 0; i < 4; i++) {
		c[i] = tcp_connect_from(NULL, self->port);
		ASSERT_LE(0, c[i]);
		if (i % 2)
			ASSERT_EQ(0, send_hello(c[i], 40));
	}
	ASSERT_EQ(0, wait_handshakes(self, 4, 20000));

	EXPECT_EQ(0, good_client(self->ctx, self->port));
	EXPECT_EQ(1, closed_within(c[0], 20000));
	for (int i = 1; i < 4; i++)
		EXPECT_EQ(0, closed_within(c[i], 0));

	/* Fill the slot the good client left, then one more newcomer. */
	ASSERT_EQ(0, wait_no_sessions(self, 20000));
	c[4] = tcp_connect_from(NULL, self->port);
	ASSERT_LE(0, c[4]);
	ASSERT_EQ(0, wait_handshakes(self, 4, 20000));
	EXPECT_EQ(0, good_client(self->ctx, self->port));
	EXPECT_EQ(1, closed_within(c[1], 20000));	/* half a ClientHello */
	for (int i = 2; i < 5; i++)
		EXPECT_EQ(0, closed_within(c[i], 0));

	EXPECT_EQ(2, counter(self, "evicted_no_hello"));
	EXPECT_EQ(0, counter(self, "refused_session_cap"));
	EXPECT_EQ(0, counter(self, "hello_timeouts"));
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "127.0.0.1", 10000));
	EXPECT_EQ(1, tl_file_contains(self->log, "closed before completing a "
				      "ClientHello, to make room for a new connection"));
	for (int i = 0; i < 5; i++)
		close(c[i]);
}

/*
 * Silent connections hold no handshake slot (no TLS state): many more of
 * them than max-handshakes wait side by side. A connection whose first
 * record holds only part of its ClientHello does hold one; when a good
 * client's ClientHello finds every slot taken, the oldest such connection
 * makes room.
 */
TEST_F(admission, handshake_slots_go_to_clients_that_speak)
{
	int quiet[4], a, b;

	ASSERT_EQ(0, daemon_up(self, "workers = 1\nmax-handshakes = 2\n"
			       "max-handshakes-per-source = 0\n" LONG_TIMEOUTS));
	for (int i = 0; i < 4; i++) {
		quiet[i] = tcp_connect_from(NULL, self->port);
		ASSERT_LE(0, quiet[i]);
	}
	ASSERT_EQ(0, wait_handshakes(self, 4, 20000));
	a = tcp_connect_from(NULL, self->port);
	b = tcp_connect_from(NULL, self->port);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, send_first_fragment(self, a, 20000));
	ASSERT_EQ(0, send_first_fragment(self, b, 20000));

	EXPECT_EQ(0, good_client(self->ctx, self->port));
	EXPECT_EQ(1, closed_within(a, 20000));
	EXPECT_EQ(0, closed_within(b, 0));
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(0, closed_within(quiet[i], 0));
	EXPECT_EQ(1, counter(self, "evicted_no_hello"));
	EXPECT_EQ(0, counter(self, "refused_handshake_cap"));
	close(a);
	close(b);
	for (int i = 0; i < 4; i++)
		close(quiet[i]);
}

/* Connections past their ClientHello are never evicted: with every
 * handshake slot held by them, a newcomer's ClientHello is refused, and
 * counted as such. */
TEST_F(admission, refuses_when_every_slot_is_past_its_hello)
{
	int a, b, c;

	ASSERT_EQ(0, daemon_up(self, "workers = 1\nmax-handshakes = 2\n"
			       "max-handshakes-per-source = 0\n" LONG_TIMEOUTS));
	a = tcp_connect_from(NULL, self->port);
	b = tcp_connect_from(NULL, self->port);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, send_hello(a, 0));
	ASSERT_EQ(0, send_hello(b, 0));
	/* The ServerHello proves ktlsd has read each ClientHello. */
	ASSERT_EQ(1, answered_within(a, 20000));
	ASSERT_EQ(1, answered_within(b, 20000));

	c = tcp_connect_from(NULL, self->port);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, send_hello(c, 0));
	EXPECT_EQ(1, closed_within(c, 20000));
	EXPECT_EQ(0, closed_within(a, 0));
	EXPECT_EQ(0, closed_within(b, 0));
	EXPECT_EQ(1, counter(self, "refused_handshake_cap"));
	EXPECT_EQ(0, counter(self, "evicted_no_hello"));
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "(max-handshakes)", 10000));
	close(a);
	close(b);
	close(c);
}

/* One IPv4 address may hold max-handshakes-per-source handshakes with TLS
 * state across all workers; its silent connections are not refused (they
 * hold none), other sources are not affected, and a slot comes back when
 * one of its handshakes ends. */
TEST_F(admission, per_source_limit)
{
	int a, b, c, d, q;

	ASSERT_EQ(0, daemon_up(self, "workers = 2\nmax-handshakes = 100\n"
			       "max-handshakes-per-source = 2\n" LONG_TIMEOUTS));
	a = tcp_connect_from("127.0.0.2", self->port);
	b = tcp_connect_from("127.0.0.2", self->port);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, send_first_fragment(self, a, 20000));
	ASSERT_EQ(0, send_first_fragment(self, b, 20000));

	c = tcp_connect_from("127.0.0.2", self->port);
	q = tcp_connect_from("127.0.0.2", self->port);	/* silent */
	ASSERT_LE(0, c);
	ASSERT_LE(0, q);
	ASSERT_EQ(0, send_hello(c, 0));
	EXPECT_EQ(1, closed_within(c, 20000));
	EXPECT_EQ(1, counter(self, "refused_per_source"));
	EXPECT_EQ(0, good_client(self->ctx, self->port));	/* 127.0.0.1 */
	EXPECT_EQ(0, closed_within(a, 0));
	EXPECT_EQ(0, closed_within(b, 0));
	EXPECT_EQ(0, closed_within(q, 0));

	close(a);	/* its handshake fails: the slot comes back */
	ASSERT_EQ(0, wait_handshakes(self, 2, 20000));	/* b and q */
	d = tcp_connect_from("127.0.0.2", self->port);
	ASSERT_LE(0, d);
	EXPECT_EQ(0, send_first_fragment(self, d, 20000));
	EXPECT_EQ(1, counter(self, "refused_per_source"));
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "127.0.0.2 already has 2 "
					   "handshakes under way", 10000));
	EXPECT_EQ(1, tl_file_contains(self->log, "(max-handshakes-per-source)"));
	close(b);
	close(c);
	close(d);
	close(q);
}

/* hello-timeout ends a connection that sent nothing long before
 * handshake-timeout; one that completed its ClientHello is left alone. */
TEST_F(admission, hello_timeout_before_handshake_timeout)
{
	int s, x;

	ASSERT_EQ(0, daemon_up(self, "workers = 1\nhello-timeout = 1\n"
			       "handshake-timeout = 600\n"));
	s = tcp_connect_from(NULL, self->port);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, send_hello(s, 0));
	ASSERT_EQ(1, answered_within(s, 20000));
	x = tcp_connect_from(NULL, self->port);
	ASSERT_LE(0, x);

	EXPECT_EQ(1, closed_within(x, 60000));
	/* s started first: had hello-timeout applied to it, it would be
	 * closed by now too. */
	EXPECT_EQ(0, closed_within(s, 0));
	EXPECT_EQ(1, counter(self, "hello_timeouts"));
	EXPECT_EQ(0, counter(self, "handshake_timeouts"));
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "(hello-timeout)", 10000));
	close(s);
	close(x);
}

/*
 * The flood: 10,000 silent and 1,000 half-ClientHello connections from
 * SOURCES, each reopened as soon as ktlsd closes it, with ktlsd configured
 * as in the attack that found the problem. Good clients, one every 100 ms,
 * are served; the refusals and evictions are counted by reason; after the
 * flood, ktlsd's descriptors and RSS return to where they were.
 */
static void flood(struct __test_metadata *_metadata, FIXTURE_DATA(admission) *self,
		  const char *daemon_lines, const char *sources, const char *counter_key)
{
	char bin[600], target[64], line[128];
	const char *argv[] = { bin, "--connect", target, "--silent", "10000",
			       "--half", "1000", "--sources", sources, NULL };
	struct tl_proc fl;
	struct rlimit rl;
	long base_rss, rss = 0;
	int base_fds, fds = 0, served = 0;
	long long end;

	/* The flood process holds 11,000 descriptors of its own. */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_max < FLOOD_SILENT + FLOOD_HALF + 256)
		SKIP(return, "RLIMIT_NOFILE hard limit %llu is below the flood's needs",
		     (unsigned long long)rl.rlim_max);
	ASSERT_EQ(0, daemon_up(self, daemon_lines));
	/* Baseline once every lazy allocation of a served client exists. */
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, good_client(self->ctx, self->port));
	ASSERT_EQ(0, wait_handshakes(self, 0, 20000));
	daemon_usage(self->daemon.pid, &base_rss, &base_fds);
	ASSERT_LT(0, base_rss);

	snprintf(bin, sizeof(bin), "%s/tests/lib/flood", tl_build_dir());
	snprintf(target, sizeof(target), "127.0.0.1:%d", self->port);
	ASSERT_EQ(0, tl_spawn(&fl, argv, NULL));
	ASSERT_EQ(0, tl_wait_line(&fl, "ready", line, sizeof(line), 120000));

	for (int i = 0; i < GOOD_CLIENTS; i++) {
		long long next = ms_now() + 100;

		served += good_client(self->ctx, self->port) == 0;
		if (ms_now() < next)
			pause_ms((int)(next - ms_now()));	/* pacing only */
	}
	EXPECT_EQ(0, tl_stop(&fl));
	TH_LOG("%d of %d good clients served during the flood", served, GOOD_CLIENTS);
	/* Each one is served unless 512 newer connections reach its worker
	 * before its ClientHello does: allow for a very busy machine. */
	EXPECT_LE(GOOD_CLIENTS * 9 / 10, served);
	EXPECT_LT(0, counter(self, counter_key));
	EXPECT_EQ(0, counter(self, "refused_handshake_cap"));
	EXPECT_EQ(0, counter(self, "refused_session_cap"));

	/* After the flood: back to the baseline (memory within 2 MiB). */
	EXPECT_EQ(0, wait_handshakes(self, 0, 60000));
	end = ms_now() + 30000;
	do {
		daemon_usage(self->daemon.pid, &rss, &fds);
		if (fds == base_fds && (!RSS_RETURNS || rss <= base_rss + 2048))
			break;
		pause_ms(100);
	} while (ms_now() < end);
	TH_LOG("RSS %ld KiB before, %ld after; descriptors %d before, %d after",
	       base_rss, rss, base_fds, fds);
	EXPECT_EQ(base_fds, fds);
	if (RSS_RETURNS)
		EXPECT_GE(base_rss + 2048, rss);
	EXPECT_EQ(0, good_client(self->ctx, self->port));
}

/* With room for 1,024 sessions a worker (max-sessions = 2048), 11,000
 * flood connections do not fit: the newcomers evict the oldest silent
 * ones, whatever their source. */
TEST_F_TIMEOUT(admission, flood_from_one_source, 600)
{
	flood(_metadata, self, FLOOD_DAEMON, "127.0.0.2/1", "evicted_no_hello");
	EXPECT_EQ(0, tl_wait_file_contains(self->log, ": 127.0.0.2:", 10000));
	EXPECT_EQ(1, tl_file_contains(self->log, "to make room"));
}

TEST_F_TIMEOUT(admission, flood_from_fifty_sources, 600)
{
	flood(_metadata, self, FLOOD_DAEMON, "127.0.0.10/50", "evicted_no_hello");
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "to make room", 10000));
}

TEST_HARNESS_MAIN
