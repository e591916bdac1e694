/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Port takeover with sk_lookup between two hosts: network namespaces joined
 * by a veth pair (netns.h), so the machine's own ports are never touched.
 * On the server host a plaintext "check" backend listens on port P and
 * ktlsd steers P (steer = yes) without binding it; the clients run on the
 * client host. TLS clients to P must reach the service through ktlsd, plaintext
 * clients must never reach it, not even while ktlsd is dead (fail closed),
 * a restarted ktlsd takes over again by itself, and `ktlsd --unload` gives
 * P back to the service.
 *
 * Shared by the host suite (userspace data path) and the vm suite (kTLS
 * data path): the including file provides main().
 */
#ifndef KTLSD_STEER_CASES_H
#define KTLSD_STEER_CASES_H
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "ktlsd/steer.h"
#include "netns.h"
#include "pki.h"
#include "testlib.h"

#define TLS_PAYLOAD "through-ktlsd\n"	/* 14 bytes */
#define PLAIN_PAYLOAD "plain\n"		/* 6 bytes */

/* Connect to the server host's address of FAMILY, port PORT, within
 * TIMEOUT_MS; the socket, or -1. */
static int plain_connect(int family, int port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0, rc;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, TL_SERVER_V4, &a.sin_addr);
	inet_pton(AF_INET6, TL_SERVER_V6, &a6.sin6_addr);
	rc = family == AF_INET6 ?
		connect(fd, (struct sockaddr *)&a6, sizeof(a6)) :
		connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (rc < 0 && errno != EINPROGRESS)
		goto fail;
	if (poll(&p, 1, timeout_ms) != 1)
		goto fail;		/* no answer at all: the SYN was dropped */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		goto fail;
	fcntl(fd, F_SETFL, 0);
	return fd;
fail:
	close(fd);
	return -1;
}

/* Send PLAIN_PAYLOAD and end the stream; wait until the peer closes. */
static int plain_exchange(int fd, char *reply, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	if (write(fd, PLAIN_PAYLOAD, strlen(PLAIN_PAYLOAD)) < 0)
		return -1;
	shutdown(fd, SHUT_WR);
	while (poll(&p, 1, 10000) == 1) {
		n = read(fd, reply + got, len - 1 - got);
		if (n <= 0)
			break;
		got += n;
	}
	reply[got] = '\0';
	return 0;
}

FIXTURE(steer) {
	char *dir;
	char conf[512], log[512], payload[512], out[512], err[512];
	char pin_base[128];
	struct tl_proc backend, daemon;
	struct tl_hosts hosts;
	int port;
	int family;
	char addr[16];
	bool daemon_running;
};

/*
 * The configuration: port P steered unless P_PLAIN is non-zero (ktlsd then
 * listens on P_PLAIN in front of P's service instead), and port SECOND
 * steered too when non-zero.
 */
static int write_conf_ports(FIXTURE_DATA(steer) *self, int p_plain, int second)
{
	char extra[256] = "", listen[64];

	if (second)
		snprintf(extra, sizeof(extra),
			 "[port Legacy:second]\n"
			 "listen = %s:%d\n"
			 "backend = %s:%d\n"
			 "transport = tls=1\n"
			 "steer = yes\n", self->addr, second, self->addr, second);
	snprintf(listen, sizeof(listen), "%s:%d", self->addr,
		 p_plain ? p_plain : self->port);
	return tl_write_file(self->conf,
		"[ktlsd]\n"
		"workers = 2\n"
		"bpf-pin-dir = %s\n"
		"control-socket = %s/control\n"
		"\n"
		"[security]\n"
		"certificate = %s\n"
		"certificate-key = %s\n"
		"trusted-ca = %s\n"
		"\n"
		"[application Legacy]\n"
		"[port Legacy:secure]\n"
		"listen = %s\n"
		"backend = %s:%d\n"
		"transport = tls=1\n"
		"steer = %s\n"
		"%s",
		self->pin_base, self->dir, pki_file("server-chain.pem"),
		pki_file("server.key"), pki_file("root.crt"),
		listen, self->addr, self->port, p_plain ? "no" : "yes", extra);
}

/* The configuration: port P steered, and port SECOND too when non-zero. */
static int write_conf(FIXTURE_DATA(steer) *self, int second)
{
	return write_conf_ports(self, 0, second);
}

FIXTURE_VARIANT(steer) {
	int family;
	const char *addr;	/* as written in the config and for s_client */
};
FIXTURE_VARIANT_ADD(steer, ipv4) { .family = AF_INET, .addr = TL_SERVER_V4 };
FIXTURE_VARIANT_ADD(steer, ipv6) { .family = AF_INET6, .addr = "[" TL_SERVER_V6 "]" };

/* The service and ktlsd run on the server host. */
static int start_backend(FIXTURE_DATA(steer) *self, struct tl_proc *p, int *port)
{
	int rc;

	if (tl_enter(self->hosts.server_ns) < 0)
		return -1;
	rc = tl_backend_start(p, "check", 0, port);
	return tl_enter(self->hosts.client_ns) < 0 ? -1 : rc;
}

static int start_daemon(FIXTURE_DATA(steer) *self)
{
	int rc;

	if (tl_enter(self->hosts.server_ns) < 0)
		return -1;
	rc = tl_daemon_start(&self->daemon, self->conf, self->log);
	self->daemon_running = rc == 0;
	return tl_enter(self->hosts.client_ns) < 0 ? -1 : rc;
}

FIXTURE_SETUP(steer)
{
	ASSERT_NE(NULL, pki_dir());
	tl_sweep_stale_pins();
	ASSERT_EQ(0, tl_two_hosts(&self->hosts, NULL));
	self->dir = tl_daemon_dir(self->conf, self->log);
	ASSERT_NE(NULL, self->dir);
	snprintf(self->payload, sizeof(self->payload), "%s/payload", self->dir);
	snprintf(self->out, sizeof(self->out), "%s/out", self->dir);
	snprintf(self->err, sizeof(self->err), "%s/err", self->dir);
	snprintf(self->pin_base, sizeof(self->pin_base),
		 "/sys/fs/bpf/ktlsd-test-%d", (int)getpid());
	ASSERT_EQ(0, tl_write_file(self->payload, "%s", TLS_PAYLOAD));
	ASSERT_EQ(0, start_backend(self, &self->backend, &self->port));
	self->family = variant->family;
	snprintf(self->addr, sizeof(self->addr), "%s", variant->addr);
	ASSERT_EQ(0, write_conf(self, 0));
	ASSERT_EQ(0, start_daemon(self));
}

static int run_unload(const char *conf, const char *out)
{
	char bin[512];
	const char *argv[] = { bin, "--unload", "-c", conf, NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	return tl_run(argv, NULL, out, NULL, 20000);
}

FIXTURE_TEARDOWN(steer)
{
	char out[600];

	if (!self->dir)
		return;
	if (self->daemon_running)
		tl_stop(&self->daemon);
	snprintf(out, sizeof(out), "%s/teardown-unload", self->dir);
	run_unload(self->conf, out);
	rmdir(self->pin_base);
	tl_stop(&self->backend);
	if (!getenv("KTLSD_TEST_KEEP"))
		tl_rmtree(self->dir);
}

/* openssl s_client to P with TLS_PAYLOAD; 0 when it verified and sent. */
static int tls_client(struct __test_metadata *_metadata, FIXTURE_DATA(steer) *self)
{
	char connect[64];
	const char *argv[] = { "openssl", "s_client", "-connect", connect,
			       "-CAfile", pki_file("root.crt"),
			       "-verify_return_error", "-quiet", "-no_ign_eof",
			       NULL };

	snprintf(connect, sizeof(connect), "%s:%d", self->addr, self->port);
	return tl_run(argv, self->payload, self->out, self->err, 20000);
}

/* The service's next line must be the sink line of the TLS payload: not
 * "tls-bytes", not the plaintext client's payload. */
static void expect_service_got_tls_payload(struct __test_metadata *_metadata,
					   FIXTURE_DATA(steer) *self)
{
	char line[256], want[32];

	snprintf(want, sizeof(want), "sink %zu ", strlen(TLS_PAYLOAD));
	ASSERT_EQ(0, tl_wait_line(&self->backend, "", line, sizeof(line), 20000));
	EXPECT_EQ(0, strncmp(line, want, strlen(want))) {
		TH_LOG("service saw \"%s\", expected \"%s...\"", line, want);
	}
}

TEST_F(steer, tls_end_to_end_plaintext_never_reaches_service)
{
	char reply[256];
	int fd;

	/* A plaintext client lands on ktlsd, which refuses the handshake. */
	fd = plain_connect(self->family, self->port, 5000);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, plain_exchange(fd, reply, sizeof(reply)));
	close(fd);
	EXPECT_EQ(NULL, strstr(reply, "sink")) {
		TH_LOG("the service answered a plaintext client: %s", reply);
	}
	/* TLS to the service's own port reaches it, decrypted. */
	EXPECT_EQ(0, tls_client(_metadata, self));
	expect_service_got_tls_payload(_metadata, self);
}

TEST_F(steer, fail_closed_while_down_then_restart_and_unload)
{
	char line[256], out[600];
	int fd;

	/* ktlsd dies without any cleanup: the port must stay closed. */
	ASSERT_EQ(0, tl_kill_daemon(&self->daemon));
	self->daemon_running = false;
	fd = plain_connect(self->family, self->port, 1500);
	EXPECT_EQ(-1, fd) {
		TH_LOG("a plaintext client reached port %d while ktlsd was down",
		       self->port);
	}
	if (fd >= 0)
		close(fd);

	/* A new ktlsd takes over again, with no operator action. */
	ASSERT_EQ(0, start_daemon(self));
	EXPECT_EQ(0, tls_client(_metadata, self));
	expect_service_got_tls_payload(_metadata, self);

	/* --unload gives the port back: plaintext reaches the service. */
	tl_stop(&self->daemon);
	self->daemon_running = false;
	snprintf(out, sizeof(out), "%s/unload", self->dir);
	ASSERT_EQ(0, run_unload(self->conf, out));
	snprintf(line, sizeof(line), "%s:%d: no longer steered", self->addr, self->port);
	EXPECT_EQ(1, tl_file_contains(out, line));
	fd = plain_connect(self->family, self->port, 5000);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, plain_exchange(fd, line, sizeof(line)));
	close(fd);
	EXPECT_EQ(0, strncmp(line, "sink 6 ", 7)) {
		TH_LOG("after --unload the service answered \"%s\"", line);
	}
}

/* A TLS session to PORT of the server host that has sent the first 8
 * bytes of TLS_PAYLOAD; NULL on failure. */
static SSL *half_sent_session(FIXTURE_DATA(steer) *self, int port)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int fd;

	if (!ctx || SSL_CTX_load_verify_locations(ctx, pki_file("root.crt"), NULL) != 1)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = plain_connect(self->family, port, 5000);
	if (fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1 ||
	    SSL_write(ssl, TLS_PAYLOAD, 8) != 8) {
		SSL_free(ssl);
		close(fd);
		ssl = NULL;
	}
out:
	SSL_CTX_free(ctx);	/* the SSL keeps its own reference */
	return ssl;
}

/* Send the rest of TLS_PAYLOAD and end the session: 0 when all went. */
static int finish_session(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	int n = SSL_write(ssl, TLS_PAYLOAD + 8, strlen(TLS_PAYLOAD) - 8);

	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return n == (int)strlen(TLS_PAYLOAD) - 8 ? 0 : -1;
}

/* Reload adds a steered port (plaintext to it stops reaching its service,
 * TLS starts working) and removes it again, without touching port P. */
TEST_F(steer, reload_adds_and_removes_a_steered_port)
{
	struct tl_proc second;
	char bin[512], reply[256], connect[64];
	const char *reload[] = { bin, "-s", NULL, "reload", NULL };
	const char *tls[] = { "openssl", "s_client", "-connect", connect,
			      "-CAfile", pki_file("root.crt"),
			      "-verify_return_error", "-quiet", "-no_ign_eof", NULL };
	char sock[600], line[256];
	SSL *est;
	int q, fd;

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(sock, sizeof(sock), "%s/control", self->dir);
	reload[2] = sock;
	ASSERT_EQ(0, start_backend(self, &second, &q));
	snprintf(connect, sizeof(connect), "%s:%d", self->addr, q);

	/* Not steered yet: plaintext reaches the second service. */
	fd = plain_connect(self->family, q, 5000);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, plain_exchange(fd, reply, sizeof(reply)));
	close(fd);
	EXPECT_EQ(0, strncmp(reply, "sink 6 ", 7));
	ASSERT_EQ(0, tl_wait_line(&second, "sink 6 ", line, sizeof(line), 5000));

	/* A session on P, established before the reloads: half its payload
	 * now, the rest once the second port has come and gone. */
	est = half_sent_session(self, self->port);
	ASSERT_NE(NULL, est);

	/* Steered after reload: plaintext refused, TLS reaches it. */
	ASSERT_EQ(0, write_conf(self, q));
	ASSERT_EQ(0, tl_run(reload, NULL, self->out, self->err, 20000));
	fd = plain_connect(self->family, q, 5000);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, plain_exchange(fd, reply, sizeof(reply)));
	close(fd);
	EXPECT_EQ(NULL, strstr(reply, "sink"));
	EXPECT_EQ(0, tl_run(tls, self->payload, self->out, self->err, 20000));
	ASSERT_EQ(0, tl_wait_line(&second, "", line, sizeof(line), 20000));
	EXPECT_EQ(0, strncmp(line, "sink 14 ", 8)) {
		TH_LOG("second service saw \"%s\"", line);
	}
	/* Port P kept working throughout. */
	EXPECT_EQ(0, tls_client(_metadata, self));
	expect_service_got_tls_payload(_metadata, self);

	/* Removed again: the second port is plaintext again. */
	ASSERT_EQ(0, write_conf(self, 0));
	ASSERT_EQ(0, tl_run(reload, NULL, self->out, self->err, 20000));
	fd = plain_connect(self->family, q, 5000);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, plain_exchange(fd, reply, sizeof(reply)));
	close(fd);
	EXPECT_EQ(0, strncmp(reply, "sink 6 ", 7));
	tl_stop(&second);

	/* The established session went on through both reloads. */
	EXPECT_EQ(0, finish_session(est));
	expect_service_got_tls_payload(_metadata, self);
}

/* P's counters in `ktlsctl stats --json` (ktlsctl's own fixed layout, so
 * no JSON parser is needed in the VM). 0, or -1 when P is not listed. */
static int steer_stats_of_port(FIXTURE_DATA(steer) *self, unsigned long long *steered,
			       unsigned long long *dropped)
{
	char bin[512], sock[600], key[48], *text;
	const char *argv[] = { bin, "-s", sock, "stats", "--json", NULL };
	const char *entry;
	int rc = -1;

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(sock, sizeof(sock), "%s/control", self->dir);
	if (tl_run(argv, NULL, self->out, self->err, 20000) != 0)
		return -1;
	text = tl_read_file(self->out);
	if (!text)
		return -1;
	snprintf(key, sizeof(key), "{\"port\":%d,", self->port);
	entry = strstr(text, key);
	if (entry && sscanf(entry + strlen(key), "\"steered\":%llu,\"dropped\":%llu",
			    steered, dropped) == 2)
		rc = 0;
	free(text);
	return rc;
}

/* The per-port counters of the takeover reach `ktlsctl stats`: a TLS
 * connection counts as steered, and connections refused while ktlsd was
 * dead count as dropped, readable once it is back (the map is pinned). */
TEST_F(steer, stats_count_steered_and_dropped)
{
	unsigned long long steered = 0, dropped = 0, steered_before;
	int fd;

	ASSERT_EQ(0, steer_stats_of_port(self, &steered, &dropped));
	EXPECT_EQ(0, steered);
	EXPECT_EQ(0, dropped);
	ASSERT_EQ(0, tls_client(_metadata, self));
	expect_service_got_tls_payload(_metadata, self);
	ASSERT_EQ(0, steer_stats_of_port(self, &steered, &dropped));
	EXPECT_LE(1, steered);
	EXPECT_EQ(0, dropped);
	steered_before = steered;

	ASSERT_EQ(0, tl_kill_daemon(&self->daemon));
	self->daemon_running = false;
	fd = plain_connect(self->family, self->port, 1500);
	EXPECT_EQ(-1, fd);
	if (fd >= 0)
		close(fd);

	ASSERT_EQ(0, start_daemon(self));
	ASSERT_EQ(0, steer_stats_of_port(self, &steered, &dropped));
	EXPECT_LE(1, dropped);
	EXPECT_EQ(steered_before, steered);
}

/* listen = ADDRESS:P takes over ADDRESS:P only: another local address of
 * the server host with the same port (its loopback) keeps its normal
 * lookup and reaches the service (which listens on every address) in
 * plaintext, as before ktlsd. */
TEST_F(steer, only_the_configured_local_address_is_taken_over)
{
	struct sockaddr_in lo4 = { .sin_family = AF_INET, .sin_port = htons(self->port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_port = htons(self->port),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	char reply[256], line[256];
	int fd, rc;

	ASSERT_EQ(0, tl_enter(self->hosts.server_ns));
	fd = socket(self->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = self->family == AF_INET ?
		connect(fd, (struct sockaddr *)&lo4, sizeof(lo4)) :
		connect(fd, (struct sockaddr *)&lo6, sizeof(lo6));
	ASSERT_EQ(0, tl_enter(self->hosts.client_ns));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, rc);
	ASSERT_EQ(0, plain_exchange(fd, reply, sizeof(reply)));
	close(fd);
	EXPECT_EQ(0, strncmp(reply, "sink 6 ", 7)) {
		TH_LOG("the loopback address got \"%s\" instead of the service", reply);
	}
	ASSERT_EQ(0, tl_wait_line(&self->backend, "sink 6 ", line, sizeof(line), 20000));
	/* The configured address still is taken over. */
	EXPECT_EQ(0, tls_client(_metadata, self));
	expect_service_got_tls_payload(_metadata, self);
}

/*
 * Steering that a reload starts while the workers serve: the first
 * configuration steers nothing (ktlsd listens on port Q in front of P's
 * service) and a session through Q is open; a reload then steers P. The
 * main thread sets steering up while workers consult it for every backend
 * connection, so under ThreadSanitizer (make test-tsan) an unguarded
 * access between them stops the daemon and fails this test. P is served
 * through ktlsd after the reload, and the session through Q goes on.
 */
TEST_F(steer, reload_starts_steering_under_a_session)
{
	char bin[512], sock[600], out[600];
	const char *reload[] = { bin, "-s", sock, "reload", NULL };
	SSL *est;
	int q = pki_free_port();

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(sock, sizeof(sock), "%s/control", self->dir);
	snprintf(out, sizeof(out), "%s/unload", self->dir);
	/* Start over with nothing steered. */
	ASSERT_EQ(0, tl_stop(&self->daemon));
	self->daemon_running = false;
	ASSERT_EQ(0, run_unload(self->conf, out));
	ASSERT_EQ(0, write_conf_ports(self, q, 0));
	ASSERT_EQ(0, tl_write_file(self->log, "%s", ""));
	ASSERT_EQ(0, start_daemon(self));
	ASSERT_EQ(0, tl_file_contains(self->log, "sk_lookup program pinned"));

	est = half_sent_session(self, q);
	ASSERT_NE(NULL, est);

	ASSERT_EQ(0, write_conf(self, 0));
	ASSERT_EQ(0, tl_run(reload, NULL, self->out, self->err, 20000));
	EXPECT_EQ(1, tl_file_contains(self->log, "sk_lookup program pinned"));
	EXPECT_EQ(0, tls_client(_metadata, self));
	expect_service_got_tls_payload(_metadata, self);

	EXPECT_EQ(0, finish_session(est));
	expect_service_got_tls_payload(_metadata, self);
	/* A clean exit: under a sanitizer, a report is a failure too. */
	EXPECT_EQ(0, tl_stop(&self->daemon));
	self->daemon_running = false;
}

/*
 * ktlsd's connections to the service are told apart from clients only by
 * their source address. With many sessions open at once (many connects in
 * flight), every session must still reach the service decrypted and none
 * may loop back to ktlsd.
 */
#define LOAD_SESSIONS 200

TEST_F_TIMEOUT(steer, exemption_holds_under_load, 300)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl[LOAD_SESSIONS] = { NULL };
	int fds[LOAD_SESSIONS], sinks = 0;
	char line[256];

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(ctx, pki_file("root.crt"), NULL));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	for (int i = 0; i < LOAD_SESSIONS; i++) {
		fds[i] = plain_connect(self->family, self->port, 5000);
		ASSERT_LE(0, fds[i]);
		ssl[i] = SSL_new(ctx);
		ASSERT_NE(NULL, ssl[i]);
		SSL_set_fd(ssl[i], fds[i]);
		ASSERT_EQ(1, SSL_connect(ssl[i])) TH_LOG("session %d", i);
		ASSERT_EQ((int)strlen(TLS_PAYLOAD),
			  SSL_write(ssl[i], TLS_PAYLOAD, strlen(TLS_PAYLOAD)));
	}
	for (int i = 0; i < LOAD_SESSIONS; i++) {
		SSL_shutdown(ssl[i]);
		SSL_free(ssl[i]);
		close(fds[i]);
	}
	SSL_CTX_free(ctx);
	/* One decrypted payload per session; "tls-bytes" would mean a
	 * session reached the service without ktlsd. */
	for (int i = 0; i < LOAD_SESSIONS; i++) {
		ASSERT_EQ(0, tl_wait_line(&self->backend, "", line, sizeof(line), 20000));
		sinks += !strncmp(line, "sink 14 ", 8);
	}
	EXPECT_EQ(LOAD_SESSIONS, sinks);
	EXPECT_EQ(0, tl_file_contains(self->log, "backend"));
}

/* In a child running as nobody: bind a TCP socket of FAMILY to ADDR; 0, or
 * the errno of the bind. */
static int bind_as_nobody(int family, const char *addr)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	void *ip = family == AF_INET ?
		(void *)&((struct sockaddr_in *)&ss)->sin_addr :
		(void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = socket(family, SOCK_STREAM, 0);

		if (fd < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0 || inet_pton(family, addr, ip) != 1)
			_exit(255);
		_exit(bind(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0 ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * Connections from ktlsd's own source address pass the takeover, so no
 * other user may take that address: on the server host a process of
 * another uid cannot bind it (IPv4, v4-mapped, IPv6), while binding any
 * other loopback address still works, and neither changes while ktlsd is
 * down (the guards are pinned with the program).
 */
TEST_F(steer, only_ktlsd_may_bind_its_source_address)
{
	int status;

	for (int round = 0; round < 2; round++) {
		ASSERT_EQ(0, tl_enter(self->hosts.server_ns));
		EXPECT_EQ(EPERM, bind_as_nobody(AF_INET, KTLSD_BACKEND_SRC4));
		EXPECT_EQ(EPERM, bind_as_nobody(AF_INET6, "::ffff:" KTLSD_BACKEND_SRC4));
		EXPECT_EQ(EPERM, bind_as_nobody(AF_INET6, KTLSD_BACKEND_SRC6));
		EXPECT_EQ(0, bind_as_nobody(AF_INET, "127.0.0.2"));
		EXPECT_EQ(0, bind_as_nobody(AF_INET6, "::1"));
		ASSERT_EQ(0, tl_enter(self->hosts.client_ns));
		if (round == 1)
			break;
		ASSERT_EQ(0, kill(self->daemon.pid, SIGKILL));
		ASSERT_EQ(self->daemon.pid, waitpid(self->daemon.pid, &status, 0));
		close(self->daemon.out);
		self->daemon_running = false;
	}
	/* Elsewhere the address is nobody's business: the client host. */
	EXPECT_EQ(0, bind_as_nobody(AF_INET, KTLSD_BACKEND_SRC4));
}

#endif
