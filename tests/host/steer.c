// SPDX-License-Identifier: GPL-2.0
/* sk_lookup port takeover on the host kernel (userspace data path). */
#include "steer_cases.h"

/* Write VALUE to the sysctl file PATH of the server host's namespace. */
static int server_sysctl(FIXTURE_DATA(steer) *self, const char *path, const char *value)
{
	int rc;

	if (tl_enter(self->hosts.server_ns) < 0)
		return -1;
	rc = tl_write_file(path, "%s\n", value);
	return tl_enter(self->hosts.client_ns) < 0 ? -1 : rc;
}

/*
 * A steered port must sustain any connection rate: ktlsd's connections to
 * the service may not each hold an ephemeral port for TIME_WAIT (ktlsd
 * closes first, so TIME_WAIT is on its side). The server host's range is
 * cut to RANGE_PORTS and more connections than that are made one after
 * the other: each must reach the service. Binding each backend socket
 * before connect() (as ktlsd once did, to know its source port) fails at
 * connection RANGE_PORTS + 1 for a minute.
 *
 * connect() reuses a TIME_WAIT port once its last segment is from an
 * earlier second (tcp_tw_reuse; 2, the default, is enough for loopback
 * sources, which ktlsd's IPv4 source address is; towards a non-loopback
 * IPv6 address the kernel needs 1, for ktlsd as for any client). So this
 * holds while fewer than RANGE_PORTS connections complete per second: each
 * is a full handshake with a certificate check and a round trip through
 * the service, far slower than that.
 */
#define RANGE_PORTS	2000
#define SEQ_SESSIONS	2600

TEST_F_TIMEOUT(steer, sequential_connections_beyond_the_port_range, 600)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char line[256], range[32];
	int sinks = 0;

	/* A session cut short must fail its assertion, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(ctx, pki_file("root.crt"), NULL));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	snprintf(range, sizeof(range), "40000 %d", 40000 + RANGE_PORTS - 1);
	ASSERT_EQ(0, server_sysctl(self, "/proc/sys/net/ipv4/ip_local_port_range", range));
	if (self->family == AF_INET6)
		ASSERT_EQ(0, server_sysctl(self, "/proc/sys/net/ipv4/tcp_tw_reuse", "1"));
	for (int i = 0; i < SEQ_SESSIONS; i++) {
		int fd = plain_connect(self->family, self->port, 5000);
		SSL *ssl;

		ASSERT_LE(0, fd) TH_LOG("session %d", i);
		ssl = SSL_new(ctx);
		ASSERT_NE(NULL, ssl);
		SSL_set_fd(ssl, fd);
		ASSERT_EQ(1, SSL_connect(ssl)) TH_LOG("session %d", i);
		ASSERT_EQ((int)strlen(TLS_PAYLOAD),
			  SSL_write(ssl, TLS_PAYLOAD, strlen(TLS_PAYLOAD))) TH_LOG("session %d", i);
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
		/* The service saw it (decrypted) before the next one starts. */
		ASSERT_EQ(0, tl_wait_line(&self->backend, "", line, sizeof(line), 20000))
			TH_LOG("session %d never reached the service", i);
		sinks += !strncmp(line, "sink 14 ", 8);
	}
	SSL_CTX_free(ctx);
	EXPECT_EQ(SEQ_SESSIONS, sinks);
	EXPECT_EQ(0, tl_file_contains(self->log, "backend"));
}

TEST_HARNESS_MAIN
