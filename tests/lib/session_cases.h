/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Session behaviour at the edges of the data path, shared by the host suite
 * (userspace mode) and the vm suite (kTLS mode; the including file defines
 * SESSION_EXPECT_KTLS): application data right behind the client's
 * Finished, close_notify as a half-close in both directions, a client that
 * resets right after its handshake, a TLS 1.3 KeyUpdate from the peer, and
 * corrupt records after the handshake (logged at info with their reason).
 *
 * The client is an in-process OpenSSL client on a blocking socket, so each
 * step is explicit and exact.
 */
#ifndef KTLSD_SESSION_CASES_H
#define KTLSD_SESSION_CASES_H

#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

/* One PKI per test program, made before the harness forks each case. */
static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

FIXTURE(session) {
	PKI_ECHO_PORT_IN_FIXTURE;	/* port: the TLS port of the echo */
	struct tl_proc sink;
	int sink_port, sink_tls;
	long tx_before;
	SSL_CTX *ctx;
};

FIXTURE_VARIANT(session) {
	int version;
};
FIXTURE_VARIANT_ADD(session, tls12) { .version = TLS1_2_VERSION };
FIXTURE_VARIANT_ADD(session, tls13) { .version = TLS1_3_VERSION };

FIXTURE_SETUP(session)
{
	/* A session ktlsd closed must fail an assertion, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	ASSERT_NE(NULL, pki_dir());
	/* Both backends listen before ktlsd's ports are picked: neither can
	 * be given a port picked for ktlsd. */
	ASSERT_EQ(0, tl_backend_start(&self->sink, "greet", 0, &self->sink_port));
	ASSERT_EQ(0, pki_echo_port_prepare(&self->base));
	self->sink_tls = pki_free_port();
	ASSERT_EQ(0, tl_write_file(self->conf,
		"[ktlsd]\n"
		"control-socket = %s\n"
		"[security]\n"
		"certificate = %s\n"
		"certificate-key = %s\n"
		"trusted-ca = %s\n"
		"[port Echo:secure]\n"
		"listen = 127.0.0.1:%d\n"
		"backend = 127.0.0.1:%d\n"
		"transport = tls=1\n"
		"[port Sink:secure]\n"
		"listen = *:%d\n"		/* IPv6 too: the reset case */
		"backend = 127.0.0.1:%d\n"
		"transport = tls=1\n",
		self->control, pki_file("server-chain.pem"), pki_file("server.key"),
		pki_file("root.crt"), self->port, self->echo_port,
		self->sink_tls, self->sink_port));
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
	self->tx_before = tl_tls_stat("TlsTxSw");
	self->ctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(self->ctx, pki_file("root.crt"),
						   NULL));
	SSL_CTX_set_verify(self->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(self->ctx, variant->version);
	SSL_CTX_set_max_proto_version(self->ctx, variant->version);
}

FIXTURE_TEARDOWN(session)
{
#if SESSION_EXPECT_KTLS
	/* Every case above must have run on kTLS, by the kernel's count. */
	if (_metadata->exit_code != KSFT_SKIP) {
		EXPECT_LT(self->tx_before, tl_tls_stat("TlsTxSw"));
		EXPECT_EQ(0, tl_file_contains(self->log, "userspace mode")) {
			char l[512];
			FILE *f = fopen(self->log, "r");

			while (f && fgets(l, sizeof(l), f))
				if (strstr(l, "userspace mode"))
					TH_LOG("%s", l);
			if (f)
				fclose(f);
		}
	}
#endif
	SSL_CTX_free(self->ctx);
	EXPECT_EQ(0, pki_echo_port_stop(&self->base));
	tl_stop(&self->sink);
}

static int read_exact(SSL *ssl, unsigned char *buf, int len)
{
	int got = 0;

	while (got < len) {
		int n = SSL_read(ssl, buf + got, len - got);

		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

/*
 * A new session to the echo service: 4 KiB of random bytes written right
 * after SSL_connect (which has just sent Finished, so no round trip comes
 * before them) must come back unchanged. 0, or -1 with the step that failed.
 */
static int echo_right_away(SSL_CTX *ctx, int port, const char **step)
{
	unsigned char out[4096], in[4096];
	SSL *ssl = tl_tls_connect(ctx, port);
	int rc = -1;

	*step = "handshake";
	if (!ssl)
		return -1;
	RAND_bytes(out, sizeof(out));
	*step = "write";
	if (SSL_write(ssl, out, sizeof(out)) == (int)sizeof(out)) {
		*step = "echo";
		if (read_exact(ssl, in, sizeof(in)) == 0 &&
		    memcmp(out, in, sizeof(out)) == 0)
			rc = 0;
	}
	tl_tls_close(ssl);
	return rc;
}

/* Data written in the same breath as the client's Finished arrives. */
TEST_F_TIMEOUT(session, data_right_behind_finished, 120)
{
	const char *step;

	EXPECT_EQ(0, echo_right_away(self->ctx, self->port, &step))
		TH_LOG("failed at: %s", step);
}

/*
 * close_notify from the client ends only the client's direction: the
 * service sees end of stream, answers, closes, and the client receives the
 * answer followed by ktlsd's close_notify.
 */
TEST_F_TIMEOUT(session, close_notify_half_close, 120)
{
	unsigned char out[100000];
	char line[256], expect[256], hex[65];
	int n, fd;
	SSL *ssl = tl_tls_connect(self->ctx, self->sink_tls);
	FILE *f;
	char path[600];

	ASSERT_NE(NULL, ssl);
	/* The service's greeting: the session is past the handoff. */
	ASSERT_EQ(0, read_exact(ssl, (unsigned char *)line, 6));
	ASSERT_EQ(0, memcmp(line, "hello\n", 6));
	RAND_bytes(out, sizeof(out));
	ASSERT_EQ((int)sizeof(out), SSL_write(ssl, out, sizeof(out)));
	/* Our close_notify; the read side stays open. */
	EXPECT_EQ(0, SSL_shutdown(ssl));
	fd = SSL_get_fd(ssl);
	shutdown(fd, SHUT_WR);

	snprintf(path, sizeof(path), "%s/sent", self->dir);
	f = fopen(path, "w");
	ASSERT_NE(NULL, f);
	fwrite(out, 1, sizeof(out), f);
	fclose(f);
	ASSERT_EQ(0, tl_sha256_file(path, hex));
	snprintf(expect, sizeof(expect), "sink %zu %s\n", sizeof(out), hex);

	n = 0;
	memset(line, 0, sizeof(line));
	while (n < (int)strlen(expect)) {
		int r = SSL_read(ssl, line + n, sizeof(line) - 1 - n);

		if (r <= 0)
			break;
		n += r;
	}
	EXPECT_STREQ(expect, line);
	/* Then ktlsd's close_notify: a clean end, not a truncation. */
	EXPECT_EQ(0, SSL_read(ssl, line, sizeof(line)));
	EXPECT_EQ(SSL_ERROR_ZERO_RETURN, SSL_get_error(ssl, 0));
	tl_tls_close(ssl);
}

/* Write what OpenSSL queued in the memory BIO to FD in one write(2). */
static int flush_queued(BIO *wb, int fd)
{
	char *data;
	long n = BIO_get_mem_data(wb, &data);
	int rc = n > 0 && write(fd, data, n) != n ? -1 : 0;

	BIO_reset(wb);
	return rc;
}

/*
 * A client handshake over memory BIOs on the connected socket FD, so that
 * the test decides when (and which) bytes go out. Returns with the
 * client's last flight (its Finished) still queued in *WB; NULL on error.
 */
static SSL *mem_bio_handshake(SSL_CTX *ctx, int fd, BIO **wb)
{
	unsigned char buf[4096];
	SSL *ssl = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem());
	int rc, n;

	*wb = BIO_new(BIO_s_mem());
	if (!ssl || !rb || !*wb) {
		SSL_free(ssl);
		BIO_free(rb);
		BIO_free(*wb);
		return NULL;
	}
	SSL_set_bio(ssl, rb, *wb);
	while ((rc = SSL_connect(ssl)) != 1) {
		if (SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ ||
		    flush_queued(*wb, fd) < 0 ||
		    (n = read(fd, buf, sizeof(buf))) <= 0) {
			SSL_free(ssl);
			return NULL;
		}
		BIO_write(rb, buf, n);
	}
	return ssl;
}

/*
 * Wait until no TCP socket of this namespace has local port LPORT and
 * remote port RPORT: ktlsd's end of a connection has processed the peer's
 * RST (tcp_done unhashes it). On a busy machine the loopback delivers a
 * packet from softirq context, which may run after close() returned.
 */
static int wait_tcp_gone(int lport, int rport, int timeout_ms)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };

	for (int waited = 0; waited < timeout_ms; waited += 10) {
		bool found = false;

		for (int t = 0; t < 2 && !found; t++) {
			FILE *f = fopen(tables[t], "re");
			char line[512];
			unsigned int l, r;

			while (f && !found && fgets(line, sizeof(line), f))
				found = sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x",
					       &l, &r) == 2 && (int)l == lport &&
					(int)r == rport;
			if (f)
				fclose(f);
		}
		if (!found)
			return 0;
		/* Polling an outcome; there is no event for another
		 * socket's state change. */
		usleep(10000);
	}
	return -1;
}

/* ktlsd's log line for such a client, after its address. */
#define RESET_CLOSE_REASON "client reset the connection; backend not contacted"

/*
 * One client of FAMILY (loopback) that completes its handshake with the
 * sink port and resets the connection at once. ktlsd is stopped (every
 * thread, confirmed) while the client's Finished and its RST go out, and
 * stays stopped until its socket has processed both, so that both are
 * there when it looks whatever the scheduler does. Returns when ktlsd has
 * logged this client's close without a backend.
 */
static void reset_right_after_handshake(struct __test_metadata *_metadata,
					FIXTURE_DATA(session) *self, int family)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(self->sink_tls),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(self->sink_tls),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	struct timeval tv = { 30, 0 };
	struct sockaddr_storage me;
	socklen_t mlen = sizeof(me);
	char needle[160];
	BIO *wb;
	int fd, client_port;
	SSL *ssl;

	fd = socket(family, SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, family == AF_INET6 ?
		  connect(fd, (struct sockaddr *)&a6, sizeof(a6)) :
		  connect(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, getsockname(fd, (struct sockaddr *)&me, &mlen));
	client_port = ntohs(family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&me)->sin6_port :
			    ((struct sockaddr_in *)&me)->sin_port);
	snprintf(needle, sizeof(needle),
		 family == AF_INET6 ?
			"[::1]:%d: session ended (reset): " RESET_CLOSE_REASON :
			"127.0.0.1:%d: session ended (reset): " RESET_CLOSE_REASON,
		 client_port);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssl = mem_bio_handshake(self->ctx, fd, &wb);
	ASSERT_NE(NULL, ssl);
	/* Our Finished is queued, not sent. */
	ASSERT_EQ(0, tl_freeze(&self->daemon));
	EXPECT_EQ(0, flush_queued(wb, fd));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
	close(fd);
	SSL_free(ssl);
	/* The Finished is ahead of the RST on the same path. */
	EXPECT_EQ(0, wait_tcp_gone(self->sink_tls, client_port, 10000));
	ASSERT_EQ(0, tl_thaw(&self->daemon));
	ASSERT_EQ(0, tl_wait_file_contains(self->log, needle, 30000))
		TH_LOG("no \"%s\" in the log", needle);
}

/*
 * A client that resets the connection as its handshake completes (a port
 * scanner, a prober that aborts) is dropped, over IPv4 and over IPv6: no
 * key handoff, no backend connection, one count each in ktlsctl stats; the
 * next client is served as usual. A FIN instead would be a half-close and
 * get its backend (close_notify_half_close above).
 */
TEST_F_TIMEOUT(session, reset_after_handshake_reaches_no_backend, 120)
{
	char bin[600], out[600], needle[64];
	const char *argv[5], *step;

	if (variant->version != TLS1_3_VERSION)
		SKIP(return, "in TLS 1.2 the server's Finished comes last: a reset "
			     "before it fails the handshake instead");
	reset_right_after_handshake(_metadata, self, AF_INET);
	reset_right_after_handshake(_metadata, self, AF_INET6);

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(out, sizeof(out), "%s/stats.out", self->dir);
	argv[0] = bin;
	argv[1] = "-s";
	argv[2] = self->control;
	argv[3] = "stats";
	argv[4] = NULL;
	ASSERT_EQ(0, tl_run(argv, NULL, out, NULL, 30000));
	snprintf(needle, sizeof(needle), "%-24s %d\n", "reset_before_backend", 2);
	EXPECT_EQ(1, tl_file_contains(out, needle));

	/* The next client is served. */
	EXPECT_EQ(0, echo_right_away(self->ctx, self->port, &step))
		TH_LOG("next client failed at: %s", step);
}

/*
 * A KeyUpdate from the peer. In userspace mode OpenSSL follows it and the
 * session goes on. In kTLS mode on kernels before 6.14 the kernel cannot
 * take the new key: ktlsd must end the session cleanly and say so, and no
 * byte may come back corrupted.
 */
TEST_F_TIMEOUT(session, key_update_from_peer, 120)
{
	unsigned char out[4096], in[4096];
	SSL *ssl;

	if (variant->version != TLS1_3_VERSION)
		SKIP(return, "KeyUpdate exists in TLS 1.3 only");
	ssl = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, ssl);
	RAND_bytes(out, sizeof(out));
	/* Something through first, so the session is fully established. */
	ASSERT_EQ((int)sizeof(out), SSL_write(ssl, out, sizeof(out)));
	ASSERT_EQ(0, read_exact(ssl, in, sizeof(in)));
	ASSERT_EQ(1, SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED));
	RAND_bytes(out, sizeof(out));
#if SESSION_EXPECT_KTLS
	/* ktlsd may have closed already: this write may fail (EPIPE). */
	SSL_write(ssl, out, sizeof(out));
	/* Closed: nothing (and above all nothing wrong) comes back. */
	EXPECT_EQ(-1, read_exact(ssl, in, sizeof(in)));
	tl_tls_close(ssl);
	/* Logged before the close the client just saw. */
	EXPECT_EQ(1, tl_file_contains(self->log, "sent a TLS 1.3 KeyUpdate"));
#else
	ASSERT_EQ((int)sizeof(out), SSL_write(ssl, out, sizeof(out)));
	EXPECT_EQ(0, read_exact(ssl, in, sizeof(in)));
	EXPECT_EQ(0, memcmp(out, in, sizeof(out)));
	tl_tls_close(ssl);
#endif
}

/* How a corrupt_record case spoils the record it sends. */
enum spoil { FLIP_TAG_BIT, OVERLONG_LENGTH };

/*
 * After a real handshake and a first echo (so the session is past the key
 * handoff), send one application-data record spoiled as SPOIL: ktlsd must
 * end the session and log it at info with the reason, which is the errno
 * in kTLS mode and OpenSSL's error in userspace mode. Returns the log line
 * (to be freed), or NULL if none came.
 */
static char *corrupt_record(struct __test_metadata *_metadata,
			    FIXTURE_DATA(session) *self, enum spoil spoil)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(self->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 30, 0 };
	struct sockaddr_in me;
	socklen_t mlen = sizeof(me);
	unsigned char ping[64], buf[4096], *rec;
	char needle[96];
	long len;
	int fd, n, got = 0;
	BIO *wb;
	SSL *ssl;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &mlen) < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssl = mem_bio_handshake(self->ctx, fd, &wb);
	if (!ssl) {
		close(fd);
		return NULL;
	}
	/* A first echo, through the memory BIOs. */
	memset(ping, 'p', sizeof(ping));
	SSL_write(ssl, ping, sizeof(ping));
	flush_queued(wb, fd);
	while (got < (int)sizeof(ping)) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		BIO_write(SSL_get_rbio(ssl), buf, n);
		while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
			got += n;
	}
	EXPECT_EQ((int)sizeof(ping), got);
	/* The next record, spoiled on its way out. */
	SSL_write(ssl, ping, sizeof(ping));
	len = BIO_get_mem_data(wb, (char **)&rec);
	if (len > 5 && spoil == FLIP_TAG_BIT) {
		rec[len - 1] ^= 0x01;
	} else if (len > 5) {
		/* Past the 2^14 + 256 bytes a TLS record may carry. */
		rec[3] = 0x7f;
		rec[4] = 0xff;
	}
	EXPECT_EQ(len, write(fd, rec, len));
	BIO_reset(wb);
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: session ended (error): ",
		 ntohs(me.sin_port));
	SSL_free(ssl);
	close(fd);
	return tl_wait_log_line(self->log, needle, 30000);
}

/*
 * A record spoiled as SPOIL ends the session with one info line whose
 * reason holds USERSPACE_WHY (OpenSSL's words) or, in kTLS mode, KTLS_WHY
 * (the kernel's errno, by name).
 */
static void corrupt_record_logged(struct __test_metadata *_metadata,
				  FIXTURE_DATA(session) *self, enum spoil spoil,
				  const char *userspace_why, const char *ktls_why)
{
	char *line = corrupt_record(_metadata, self, spoil);

	ASSERT_NE(NULL, line);
	TH_LOG("%s", line);
	EXPECT_NE(NULL, strstr(line, "info: "));
	EXPECT_NE(NULL, strstr(line, SESSION_EXPECT_KTLS ? ktls_why : userspace_why));
	free(line);
}

/* A bit flipped in a record's authentication tag. */
TEST_F_TIMEOUT(session, corrupt_record_logged_with_reason, 120)
{
	corrupt_record_logged(_metadata, self, FLIP_TAG_BIT, "bad record mac",
			      "(EBADMSG)");
}

/* A record header announcing more than a record may hold. */
TEST_F_TIMEOUT(session, overlong_record_logged_with_reason, 120)
{
	corrupt_record_logged(_metadata, self, OVERLONG_LENGTH, "length too long",
			      "(EMSGSIZE)");
}

#endif
