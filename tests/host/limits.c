// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's limits: a client that never finishes its handshake is cut
 * off after handshake-timeout, an established session with no traffic after
 * idle-timeout. What happens at max-handshakes (eviction of connections
 * without a ClientHello, refusal) is tests/host/admission.c's.
 */
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Seconds until the peer closes FD (EOF or reset), -1 past LIMIT_S. */
static double seconds_until_closed(int fd, int limit_s)
{
	struct timespec t0, t1;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (poll(&p, 1, limit_s * 1000) <= 0)
			return -1;
		if (recv(fd, &c, 1, 0) <= 0)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

FIXTURE(limits) {
	PKI_ECHO_PORT_IN_FIXTURE;
};

FIXTURE_SETUP(limits)
{
	ASSERT_EQ(0, pki_echo_port_start(&self->base, "workers = 1\n"
						       "handshake-timeout = 1\n"
						       "idle-timeout = 2\n"));
}

FIXTURE_TEARDOWN(limits)
{
	EXPECT_EQ(0, pki_echo_port_stop(&self->base));
}

/* A TCP client that sends nothing is closed after about one second. */
TEST_F(limits, handshake_timeout)
{
	int fd = tcp_connect(self->port);
	double t;

	ASSERT_LE(0, fd);
	t = seconds_until_closed(fd, 10);
	EXPECT_LE(0.5, t);
	EXPECT_GE(3.0, t);
	close(fd);
	EXPECT_EQ(1, tl_file_contains(self->log, "timed out"));
}

/* An established, silent session ends after idle-timeout (2 s). */
TEST_F(limits, idle_timeout)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int fd = tcp_connect(self->port);
	SSL *ssl;
	double t;

	ASSERT_LE(0, fd);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	ASSERT_EQ(1, SSL_connect(ssl));
	ASSERT_EQ(5, SSL_write(ssl, "ping\n", 5));
	t = seconds_until_closed(fd, 15);
	/* The echo comes back first; then silence until the cut. */
	EXPECT_LE(1.0, t);
	EXPECT_GE(5.0, t);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

TEST_HARNESS_MAIN
