/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Many concurrent sessions through one ktlsd. The including file defines
 * CONCURRENT_SESSIONS and CONCURRENT_EXPECT_KTLS.
 *
 * One client process drives all connections from one epoll loop with
 * non-blocking OpenSSL clients: at most HANDSHAKE_WINDOW handshakes in flight
 * (ktlsd caps concurrent handshakes too), every session sends a distinct
 * random message through ktlsd to an echo service and must read exactly it
 * back. No session is closed before all of them have been verified, so
 * they really are established at the same time.
 */
#ifndef KTLSD_CONCURRENCY_CASES_H
#define KTLSD_CONCURRENCY_CASES_H

#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

#define HANDSHAKE_WINDOW 200
#define MSG_LEN 1024
#define FDS_PER_SESSION (CONCURRENT_EXPECT_KTLS ? 4 : 2)

struct client {
	int fd;
	SSL *ssl;
	unsigned char sent[MSG_LEN];
	unsigned char got[MSG_LEN];
	size_t nsent, ngot;
	bool connected, done;
};

static int client_start(struct client *c, SSL_CTX *ctx, int port, int ep)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	    errno != EINPROGRESS)
		return -1;
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	RAND_bytes(c->sent, sizeof(c->sent));
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Drive one client; 1 when its echo is verified, 0 to wait, -1 on error. */
static int client_step(struct client *c)
{
	int rc;

	if (!c->connected) {
		rc = SSL_do_handshake(c->ssl);
		if (rc != 1) {
			int e = SSL_get_error(c->ssl, rc);

			return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ?
				0 : -1;
		}
		c->connected = true;
	}
	while (c->nsent < MSG_LEN) {
		rc = SSL_write(c->ssl, c->sent + c->nsent, MSG_LEN - c->nsent);
		if (rc <= 0)
			return SSL_get_error(c->ssl, rc) == SSL_ERROR_WANT_WRITE ? 0 : -1;
		c->nsent += rc;
	}
	while (c->ngot < MSG_LEN) {
		rc = SSL_read(c->ssl, c->got + c->ngot, MSG_LEN - c->ngot);
		if (rc <= 0)
			return SSL_get_error(c->ssl, rc) == SSL_ERROR_WANT_READ ? 0 : -1;
		c->ngot += rc;
	}
	return memcmp(c->sent, c->got, MSG_LEN) == 0 ? 1 : -1;
}

/* One PKI per test program, made before the harness forks each case. */
static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

FIXTURE(concurrency) {
	PKI_ECHO_PORT_IN_FIXTURE;
	int sessions;
};

FIXTURE_SETUP(concurrency)
{
	struct rlimit rl;

	/* Two descriptors per session here, more in ktlsd and the echo. */
	signal(SIGPIPE, SIG_IGN);	/* a closed session must fail an assert */
	rl.rlim_cur = rl.rlim_max = (long)CONCURRENT_SESSIONS * FDS_PER_SESSION + 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		/* Not allowed to raise the hard limit: use what there is. */
		ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
		rl.rlim_cur = rl.rlim_max;
		ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	}
	/*
	 * ktlsd holds two descriptors per session in userspace mode (four with
	 * kTLS pipes) and cannot go past the hard limit either: where a
	 * container caps it below what the target needs, run as many sessions
	 * as fit and say so.
	 */
	self->sessions = CONCURRENT_SESSIONS;
	if ((long)rl.rlim_max < (long)CONCURRENT_SESSIONS * FDS_PER_SESSION + 256) {
		self->sessions = ((long)rl.rlim_max - 256) / FDS_PER_SESSION;
		TH_LOG("RLIMIT_NOFILE hard limit %ld: %d sessions instead of %d",
		       (long)rl.rlim_max, self->sessions, CONCURRENT_SESSIONS);
	}

	ASSERT_NE(NULL, pki_dir());
	/* Emulated CPUs in the VM: 200 handshakes at once take longer than
	 * the default limits allow for the first bytes, too. */
	ASSERT_EQ(0, pki_echo_port_start(&self->base, "workers = 2\n"
						       "handshake-timeout = 120\n"
						       "hello-timeout = 120\n"));
}

FIXTURE_TEARDOWN(concurrency)
{
	EXPECT_EQ(0, pki_echo_port_stop(&self->base));
}

TEST_F_TIMEOUT(concurrency, sessions_at_once, 900)
{
	struct client *cl = calloc(self->sessions, sizeof(*cl));
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ep = epoll_create1(0), started = 0, inflight = 0, verified = 0;
	long tx_before = tl_tls_stat("TlsCurrTxSw");

	ASSERT_NE(NULL, cl);
	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(ctx, pki_file("root.crt"), NULL));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	while (verified < self->sessions) {
		struct epoll_event evs[256];
		int n;

		while (started < self->sessions && inflight < HANDSHAKE_WINDOW) {
			ASSERT_EQ(0, client_start(&cl[started], ctx, self->port, ep));
			started++;
			inflight++;
		}
		n = epoll_wait(ep, evs, 256, 60000);
		ASSERT_LT(0, n) {
			TH_LOG("stalled: %d started, %d verified", started, verified);
		}
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			int rc;

			if (c->done)
				continue;
			rc = client_step(c);
			ASSERT_LE(0, rc) {
				TH_LOG("session %ld failed after %d verified: %s",
				       (long)(c - cl), verified,
				       c->connected ? "echo" : "handshake");
			}
			if (rc == 1) {
				struct epoll_event none = { 0 };

				c->done = true;
				verified++;
				inflight--;
				/* Keep the session open, stop watching it. */
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &none);
			}
		}
	}
	EXPECT_EQ(self->sessions, verified);
#if CONCURRENT_EXPECT_KTLS
	/* All sessions are open right now, each with a kernel TX context. */
	EXPECT_LE(tx_before + self->sessions, tl_tls_stat("TlsCurrTxSw"));
#else
	(void)tx_before;
#endif
	for (int i = 0; i < self->sessions; i++) {
		SSL_free(cl[i].ssl);
		close(cl[i].fd);
	}
	free(cl);
	SSL_CTX_free(ctx);
	close(ep);
}

#endif
