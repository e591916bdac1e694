/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client-side redirection with cgroup connect hooks, between two hosts:
 * network namespaces joined by a veth pair (netns.h). On the server host
 * run real TLS servers (openssl s_server -rev, requiring a client
 * certificate, on IPv4 and IPv6); on the client host run ktlsd and an
 * "application" process in a cgroup that connects in plaintext to
 * server.test. ktlsd itself runs in the same cgroup, so every test also
 * proves its own connections are never redirected back to it.
 *
 * Shared by the host suite (userspace data path) and the vm suite (kTLS
 * data path): the including file defines REDIRECT_EXPECT_KTLS and main().
 */
#ifndef KTLSD_REDIRECT_CASES_H
#define KTLSD_REDIRECT_CASES_H
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <grp.h>
#include <pwd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kselftest_harness.h"
#include "netns.h"
#include "pki.h"
#include "testlib.h"

#ifndef REDIRECT_EXPECT_KTLS
#error "define REDIRECT_EXPECT_KTLS before including redirect_cases.h"
#endif

#define PORT_MUTUAL	7401	/* s_server -Verify 1 -rev, names server.test */
#define PORT_WRONG	7402	/* s_server, dialled as other.test */

/* What the application process reports through its exit status. */
enum app_result {
	APP_OK = 0,
	APP_CONNECT_EPERM = 10,		/* connect() refused: fail closed */
	APP_CONNECT_OTHER = 11,
	APP_WRONG_PEER = 12,		/* getpeername() is not the server */
	APP_DATA_MISMATCH = 13,
	APP_NO_DATA = 14,		/* the connection ended, nothing came */
	APP_SETUP = 15,
};

/* Bytes for the bulk test: 8 MiB unless KTLSD_TEST_BYTES says otherwise. */
static size_t bulk_bytes(void)
{
	const char *e = getenv("KTLSD_TEST_BYTES");

	return e ? strtoull(e, NULL, 0) : 8u << 20;
}

FIXTURE(redirect) {
	char *dir;
	char conf[512], log[512], hosts[512], cgroup[512];
	struct tl_hosts hosts_ns;
	struct tl_proc daemon, mutual4, mutual6, wrong;
	bool daemon_running;
};

static int start_daemon(FIXTURE_DATA(redirect) *self)
{
	int rc;

	/* ktlsd runs in the application's cgroup: its own connects to the
	 * servers pass through the same hooks and must not come back. */
	if (tl_cgroup_join(self->cgroup, getpid()) < 0)
		return -1;
	rc = tl_daemon_start(&self->daemon, self->conf, self->log);
	if (tl_cgroup_join(tl_cgroup2_root(), getpid()) < 0)
		rc = -1;
	self->daemon_running = rc == 0;
	return rc;
}

/* Start ARGV on the server host and wait until it says READY. */
static int start_server(FIXTURE_DATA(redirect) *self, struct tl_proc *p,
			const char *const argv[], const char *log)
{
	char line[256], path[600];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", self->dir, log);
	if (tl_enter(self->hosts_ns.server_ns) < 0)
		return -1;
	rc = tl_spawn(p, argv, path);
	if (tl_enter(self->hosts_ns.client_ns) < 0 || rc < 0)
		return -1;
	return tl_wait_line(p, "ACCEPT", line, sizeof(line), 20000);
}

static int start_servers(FIXTURE_DATA(redirect) *self)
{
	char p_mutual4[32], p_mutual6[32], p_wrong[32];
	const char *mutual4[] = { "openssl", "s_server", "-accept", p_mutual4,
		"-cert", pki_file("server.crt"), "-key", pki_file("server.key"),
		"-cert_chain", pki_file("int.crt"), "-Verify", "1",
		"-CAfile", pki_file("root.crt"), "-verify_return_error", "-rev", NULL };
	const char *mutual6[] = { "openssl", "s_server", "-accept", p_mutual6,
		"-cert", pki_file("server.crt"), "-key", pki_file("server.key"),
		"-cert_chain", pki_file("int.crt"), "-Verify", "1",
		"-CAfile", pki_file("root.crt"), "-verify_return_error", "-rev", NULL };
	const char *wrong[] = { "openssl", "s_server", "-accept", p_wrong,
		"-cert", pki_file("server.crt"), "-key", pki_file("server.key"),
		"-cert_chain", pki_file("int.crt"), "-rev", NULL };

	snprintf(p_mutual4, sizeof(p_mutual4), TL_SERVER_V4 ":%d", PORT_MUTUAL);
	snprintf(p_mutual6, sizeof(p_mutual6), "[" TL_SERVER_V6 "]:%d", PORT_MUTUAL);
	snprintf(p_wrong, sizeof(p_wrong), TL_SERVER_V4 ":%d", PORT_WRONG);
	if (start_server(self, &self->mutual4, mutual4, "mutual4.log") ||
	    start_server(self, &self->mutual6, mutual6, "mutual6.log"))
		return -1;
	return start_server(self, &self->wrong, wrong, "wrong.log");
}

/* The configuration; WITH_MUTUAL false leaves App->Mutual out; EXTRA is
 * appended (more applications). */
static int write_conf_extra(FIXTURE_DATA(redirect) *self, bool with_mutual,
			    const char *extra)
{
	char mutual[1024] = "";

	if (with_mutual)
		snprintf(mutual, sizeof(mutual),
			 "[connection App->Mutual]\n"
			 "server = server.test:%d\n"
			 "tls-mutual = 1\n"
			 "certificate = %s\n"
			 "certificate-key = %s\n"
			 "trusted-ca = %s\n"
			 "tls-target-name-check = host\n"
			 "\n", PORT_MUTUAL, pki_file("client-chain.pem"),
			 pki_file("client.key"), pki_file("root.crt"));
	return tl_write_file(self->conf,
		"[ktlsd]\n"
		"workers = 2\n"
		"bpf-pin-dir = /sys/fs/bpf/ktlsd-test-%d\n"
		"control-socket = %s/control\n"
		"\n"
		"[application App]\n"
		"cgroup = %s\n"
		"\n"
		"%s"
		"[connection App->Wrong]\n"
		"server = other.test:%d\n"
		"trusted-ca = %s\n"
		"tls-target-name-check = host\n"
		"%s",
		(int)getpid(), self->dir, self->cgroup, mutual, PORT_WRONG,
		pki_file("root.crt"), extra);
}

static int write_conf(FIXTURE_DATA(redirect) *self, bool with_mutual)
{
	return write_conf_extra(self, with_mutual, "");
}

FIXTURE_SETUP(redirect)
{
	const char *cg2;

	ASSERT_NE(NULL, pki_dir());
	self->dir = tl_daemon_dir(self->conf, self->log);
	ASSERT_NE(NULL, self->dir);
	snprintf(self->hosts, sizeof(self->hosts), "%s/hosts", self->dir);
	ASSERT_EQ(0, tl_write_file(self->hosts,
		"127.0.0.1 localhost\n::1 localhost\n"
		TL_SERVER_V4 " server.test other.test\n"
		TL_SERVER_V6 " server.test other.test\n"));
	ASSERT_EQ(0, tl_two_hosts(&self->hosts_ns, self->hosts));
	cg2 = tl_cgroup2_root();
	ASSERT_NE(NULL, cg2) TH_LOG("no cgroup v2 hierarchy");
	snprintf(self->cgroup, sizeof(self->cgroup), "%s/ktlsd-test-%d", cg2,
		 (int)getpid());
	ASSERT_EQ(0, mkdir(self->cgroup, 0755));
	ASSERT_EQ(0, start_servers(self));
	ASSERT_EQ(0, write_conf(self, true));
	ASSERT_EQ(0, start_daemon(self));
}

FIXTURE_TEARDOWN(redirect)
{
	char bin[512], pins[128], out[600];
	const char *unload[] = { bin, "--unload", "-c", self->conf, NULL };

	if (!self->dir)
		return;
	if (self->daemon_running)
		EXPECT_EQ(0, tl_stop(&self->daemon));
	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	snprintf(out, sizeof(out), "%s/unload.out", self->dir);
	tl_run(unload, NULL, out, NULL, 20000);
	snprintf(pins, sizeof(pins), "/sys/fs/bpf/ktlsd-test-%d", (int)getpid());
	rmdir(pins);
	tl_stop(&self->mutual4);
	tl_stop(&self->mutual6);
	tl_stop(&self->wrong);
	rmdir(self->cgroup);
	if (!getenv("KTLSD_TEST_KEEP"))
		tl_rmtree(self->dir);
	free(self->dir);
}

/* ---- the application --------------------------------------------------- */

static int app_connect(const char *addr, int port, int *fd)
{
	struct sockaddr_storage ss = { 0 }, peer;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t len, plen = sizeof(peer);

	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		len = sizeof(*a6);
	} else {
		return APP_SETUP;
	}
	*fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return APP_SETUP;
	if (connect(*fd, (struct sockaddr *)&ss, len) < 0)
		return errno == EPERM ? APP_CONNECT_EPERM : APP_CONNECT_OTHER;
	/* The application sees the server it dialled, not ktlsd. */
	if (getpeername(*fd, (struct sockaddr *)&peer, &plen) < 0 || plen != len ||
	    memcmp(&peer, &ss, len) != 0)
		return APP_WRONG_PEER;
	return APP_OK;
}

/* One line to s_server -rev; it must come back reversed. */
static int app_line(const char *addr, int port)
{
	char buf[64];
	size_t got = 0;
	int fd, rc = app_connect(addr, port, &fd);

	if (rc != APP_OK)
		return rc;
	if (write(fd, "hello ktlsd\n", 12) != 12)
		return APP_NO_DATA;
	while (got < sizeof(buf) && (!got || buf[got - 1] != '\n')) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n <= 0)
			return got ? APP_DATA_MISMATCH : APP_NO_DATA;
		got += (size_t)n;
	}
	return got == 12 && !memcmp(buf, "dsltk olleh\n", 12) ? APP_OK :
		APP_DATA_MISMATCH;
}

/*
 * The bulk test talks to s_server -rev, which answers every line reversed:
 * BULK_LINE-byte lines of letters, each starting with its number so that
 * no line is one of s_server's commands ("CLOSE", ...).
 */
#define BULK_LINE 1024

static char line_char(size_t line, size_t j)
{
	size_t x = (line * BULK_LINE + j) * 2654435761u;

	if (j < 8)
		return (char)('0' + (line >> (4 * (7 - j)) & 7));
	if (j == 8)
		return ':';
	return (char)('a' + (x >> 13 ^ x >> 5) % 26);
}

/* Byte OFF of what the client sends (REPLY false) or gets back. */
static char bulk_byte(size_t off, bool reply)
{
	size_t line = off / BULK_LINE, j = off % BULK_LINE;

	if (j == BULK_LINE - 1)
		return '\n';
	return line_char(line, reply ? BULK_LINE - 2 - j : j);
}

/* BYTES of lines out, their reversals back, sent and received at once. */
static int app_bulk(const char *addr, int port, size_t bytes)
{
	char buf[65536];
	size_t sent = 0, got = 0;
	int fd, rc = app_connect(addr, port, &fd);

	bytes -= bytes % BULK_LINE;
	if (rc != APP_OK)
		return rc;
	while (got < bytes) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (sent < bytes)
			p.events |= POLLOUT;
		if (poll(&p, 1, 30000) != 1)
			return APP_NO_DATA;
		if ((p.revents & POLLOUT) && sent < bytes) {
			size_t chunk = bytes - sent < sizeof(buf) ? bytes - sent : sizeof(buf);

			for (size_t i = 0; i < chunk; i++)
				buf[i] = bulk_byte(sent + i, false);
			n = send(fd, buf, chunk, MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				return APP_NO_DATA;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				return got ? APP_DATA_MISMATCH : APP_NO_DATA;
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != bulk_byte(got + (size_t)i, true))
					return APP_DATA_MISMATCH;
			if (n > 0)
				got += (size_t)n;
		}
	}
	close(fd);
	return APP_OK;
}

enum app_kind { APP_LINE, APP_BULK };

/* Run the application in its own process inside the cgroup; its result. */
static int run_app_as(FIXTURE_DATA(redirect) *self, enum app_kind kind,
		      const char *addr, int port, const struct passwd *user)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (tl_cgroup_join(self->cgroup, getpid()) < 0)
			_exit(APP_SETUP);
		if (user && (setgroups(0, NULL) < 0 || setgid(user->pw_gid) < 0 ||
			     setuid(user->pw_uid) < 0))
			_exit(APP_SETUP);
		_exit(kind == APP_LINE ? app_line(addr, port) :
		      app_bulk(addr, port, bulk_bytes()));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int run_app(FIXTURE_DATA(redirect) *self, enum app_kind kind,
		   const char *addr, int port)
{
	return run_app_as(self, kind, addr, port, NULL);
}

/* ktlsctl stats --prometheus into a file; its path goes to OUT. */
static int ktlsctl_stats(FIXTURE_DATA(redirect) *self, char *out, size_t len)
{
	char bin[512], sock[600];
	const char *argv[] = { bin, "-s", sock, "stats", "--prometheus", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(sock, sizeof(sock), "%s/control", self->dir);
	snprintf(out, len, "%s/stats.out", self->dir);
	return tl_run(argv, NULL, out, NULL, 20000);
}

/* ---- the tests --------------------------------------------------------- */

TEST_F(redirect, mutual_tls_with_name_check_ipv4)
{
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	EXPECT_EQ(1, tl_file_contains(self->log, "redirect: connects from cgroup"));
}

TEST_F(redirect, mutual_tls_with_name_check_ipv6)
{
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V6, PORT_MUTUAL));
}

TEST_F(redirect, wrong_server_name_is_refused)
{
	char path[600];

	/* other.test is the same host, but its certificate says server.test. */
	EXPECT_EQ(APP_NO_DATA, run_app(self, APP_LINE, TL_SERVER_V4, PORT_WRONG));
	EXPECT_EQ(1, tl_file_contains(self->log, "host name mismatch"));
	/* Nothing reached the server in plaintext: it saw a TLS client that
	 * gave up, never a plaintext line. */
	snprintf(path, sizeof(path), "%s/wrong.log", self->dir);
	EXPECT_EQ(0, tl_file_contains(path, "wrong version number"));
}

TEST_F_TIMEOUT(redirect, byte_exact_both_ways_ipv4_and_ipv6, 600)
{
	long tx = tl_tls_stat("TlsTxSw"), rx = tl_tls_stat("TlsRxSw");

	/* Through the mutual-TLS servers, which answer each line reversed. */
	EXPECT_EQ(APP_OK, run_app(self, APP_BULK, TL_SERVER_V4, PORT_MUTUAL));
	EXPECT_EQ(APP_OK, run_app(self, APP_BULK, TL_SERVER_V6, PORT_MUTUAL));
#if REDIRECT_EXPECT_KTLS
	/* The kernel's counters: ktlsd's client sockets ran kTLS. */
	EXPECT_LT(tx, tl_tls_stat("TlsTxSw"));
	EXPECT_LT(rx, tl_tls_stat("TlsRxSw"));
	EXPECT_EQ(0, tl_file_contains(self->log, "userspace mode"));
#else
	(void)tx;
	(void)rx;
	EXPECT_EQ(1, tl_file_contains(self->log, "userspace mode"));
#endif
}

TEST_F(redirect, fail_closed_while_down_then_restart)
{
	char path[600];

	ASSERT_EQ(0, tl_kill_daemon(&self->daemon));
	self->daemon.pid = -1;
	self->daemon_running = false;
	/* No ktlsd: the connect fails rather than leave in plaintext. */
	EXPECT_EQ(APP_CONNECT_EPERM, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	EXPECT_EQ(APP_CONNECT_EPERM, run_app(self, APP_LINE, TL_SERVER_V6, PORT_MUTUAL));
	snprintf(path, sizeof(path), "%s/mutual4.log", self->dir);
	EXPECT_EQ(0, tl_file_contains(path, "wrong version number"));
	/* A restarted ktlsd takes over again without operator action. */
	ASSERT_EQ(0, start_daemon(self));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	/* The program's counters, through ktlsctl: one refused connect per
	 * family while ktlsd was down, the redirected ones since. */
	ASSERT_EQ(0, ktlsctl_stats(self, path, sizeof(path)));
	EXPECT_EQ(1, tl_file_contains(path, "ktlsd_redirect_connects_total{server=\""
				       TL_SERVER_V4 ":7401\",result=\"refused\"} 1\n"));
	EXPECT_EQ(1, tl_file_contains(path, "ktlsd_redirect_connects_total{server=\"["
				       TL_SERVER_V6 "]:7401\",result=\"refused\"} 1\n"));
	EXPECT_EQ(1, tl_file_contains(path, "ktlsd_redirect_connects_total{server=\""
				       TL_SERVER_V4 ":7401\",result=\"redirected\"} 1\n"));
}

/* ktlsctl reload; 0 when the daemon took the new configuration. */
static int reload(FIXTURE_DATA(redirect) *self)
{
	char bin[512], sock[600], out[600];
	const char *argv[] = { bin, "-s", sock, "reload", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(sock, sizeof(sock), "%s/control", self->dir);
	snprintf(out, sizeof(out), "%s/reload.out", self->dir);
	return tl_run(argv, NULL, out, out, 20000);
}

/* Servers come and go by reload, without a restart; a graceful stop
 * closes the door like a crash does. Two reloads and five applications:
 * more than the harness's default 30 s under emulation (TCG, 6.1). */
TEST_F_TIMEOUT(redirect, reload_removes_and_adds_a_server_then_stop, 120)
{
	char path[600];

	ASSERT_EQ(0, write_conf(self, false));
	ASSERT_EQ(0, reload(self));
	/* No longer listed: the operator let this application's connects go
	 * out as they are, so the TLS server gets plaintext and answers
	 * nothing. */
	EXPECT_EQ(APP_NO_DATA, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	ASSERT_EQ(0, ktlsctl_stats(self, path, sizeof(path)));
	EXPECT_EQ(0, tl_file_contains(path, TL_SERVER_V4 ":7401"));

	ASSERT_EQ(0, write_conf(self, true));
	ASSERT_EQ(0, reload(self));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V6, PORT_MUTUAL));

	EXPECT_EQ(0, tl_stop(&self->daemon));
	self->daemon_running = false;
	EXPECT_EQ(APP_CONNECT_EPERM, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
}

/*
 * A connection to ktlsd's redirect listener that no connect hook sent there
 * (a local process dialling that loopback port itself) has no recorded
 * destination: ktlsd closes it without contacting any server, and goes on
 * serving the application.
 */
/* Dial the redirect listener the log names, as a local process that no
 * hook sent there would. 0 when ktlsd ended the connection (an end of
 * stream or a reset, not a timeout), -1 otherwise. */
static int dial_the_listener(FIXTURE_DATA(redirect) *self)
{
	const char *key = "redirected connects arrive on 127.0.0.1:";
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 20, 0 };
	char *text, buf[16];
	const char *at = NULL;
	ssize_t got = 1;
	int fd;

	/* The last start's: a restarted daemon appends to the same log. */
	text = tl_read_file(self->log);
	for (const char *p = text; p && (p = strstr(p, key)); p++)
		at = p;
	if (at)
		a.sin_port = htons(atoi(at + strlen(key)));
	free(text);
	if (!a.sin_port)
		return -1;	/* the log does not name the listener */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	    write(fd, "hello\n", 6) == 6)
		got = read(fd, buf, sizeof(buf));
	close(fd);
	return got == 0 || (got < 0 && errno == ECONNRESET) ? 0 : -1;
}

TEST_F(redirect, direct_connect_to_the_redirect_listener_is_closed)
{
	EXPECT_EQ(0, dial_the_listener(self));
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "no destination recorded",
					   20000));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
}

/*
 * A program attached to CGROUP's connect4 hook the old way, without
 * BPF_F_ALLOW_MULTI: the hook is then held exclusively, as another tool
 * may hold it, and ktlsd's attachment there fails although the cgroup
 * exists and passes every check. Returns the program's fd, or -1.
 */
static int hold_connect4_hook(const char *cgroup)
{
	const struct bpf_insn allow[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "hold", "GPL",
				 allow, 2, &opts);

	if (cg < 0 || prog < 0 ||
	    bpf_prog_attach(prog, cg, BPF_CGROUP_INET4_CONNECT, 0) < 0) {
		if (prog >= 0)
			close(prog);
		prog = -1;
	}
	if (cg >= 0)
		close(cg);
	return prog;
}

/*
 * A reload whose new application cgroup cannot take ktlsd's programs (its
 * connect4 hook is held exclusively) is refused after every check passed:
 * ktlsctl reload says so and exits 1, the running configuration stays, and
 * nothing of the new one is left attached.
 */
TEST_F(redirect, reload_refused_when_the_kernel_refuses_an_attach)
{
	char second[600], extra[1024], out[600];
	__u32 ids[8], n;
	int prog, cg;

	snprintf(second, sizeof(second), "%s-held", self->cgroup);
	ASSERT_EQ(0, mkdir(second, 0755));
	prog = hold_connect4_hook(second);
	ASSERT_LE(0, prog) TH_LOG("cannot hold the connect4 hook: %s", strerror(errno));
	snprintf(extra, sizeof(extra),
		 "\n[application Held]\n"
		 "cgroup = %s\n"
		 "\n"
		 "[connection Held->Other]\n"
		 "server = other.test:7499\n"
		 "trusted-ca = %s\n", second, pki_file("root.crt"));
	ASSERT_EQ(0, write_conf_extra(self, true, extra));
	EXPECT_EQ(1, reload(self));
	snprintf(out, sizeof(out), "%s/reload.out", self->dir);
	EXPECT_EQ(1, tl_file_contains(out, "reload refused"));
	EXPECT_EQ(1, tl_file_contains(self->log, "cannot attach ktlsd_connect4"));

	/* The running configuration is still the one in force. */
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	/* And none of ktlsd's links was left on the refused cgroup. */
	cg = open(second, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, cg);
	n = 8;
	ASSERT_EQ(0, bpf_prog_query(cg, BPF_CGROUP_INET6_CONNECT, 0, NULL, ids, &n));
	EXPECT_EQ(0, n);
	n = 8;
	ASSERT_EQ(0, bpf_prog_query(cg, BPF_CGROUP_INET4_CONNECT, 0, NULL, ids, &n));
	EXPECT_EQ(1, n);	/* the holder only */
	EXPECT_EQ(0, bpf_prog_detach2(prog, cg, BPF_CGROUP_INET4_CONNECT));
	close(cg);
	close(prog);
	EXPECT_EQ(0, rmdir(second));
}

/*
 * Does this kernel refuse bpf() on a map to a process without CAP_BPF, as
 * ktlsd's network process is? Before 6.5 it does whenever
 * kernel.unprivileged_bpf_disabled is set (Debian's default: 2); since 6.5
 * only map and program creation check the setting. Asked of the kernel
 * itself, since a distribution kernel may carry the change back: a child
 * that has dropped to nobody tries ktlsd's one command on no map (EPERM:
 * refused before the descriptor is looked at; EBADF: allowed). 1 refused,
 * 0 allowed, -1 could not tell.
 */
static int kernel_refuses_unprivileged_maps(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		union bpf_attr attr = { .map_fd = (__u32)-1 };

		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		if (syscall(__NR_bpf, BPF_MAP_LOOKUP_AND_DELETE_ELEM, &attr,
			    sizeof(attr)) == 0)
			_exit(2);
		_exit(errno == EPERM ? 1 : errno == EBADF ? 0 : 2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) > 1)
		return -1;
	return WEXITSTATUS(status);
}

/*
 * The network process claims the original destination itself where the
 * kernel lets it, and through the parent where the kernel refuses it the
 * map (Linux 6.1 with unprivileged bpf() disabled): either way the
 * application gets through, and the log says which way it went.
 */
TEST_F_TIMEOUT(redirect, original_destination_claimed_as_the_kernel_allows, 120)
{
	int refused = kernel_refuses_unprivileged_maps();
	struct utsname u;

	ASSERT_LE(0, refused) TH_LOG("cannot ask the kernel about bpf()");
	ASSERT_EQ(0, uname(&u));
	TH_LOG("kernel %s %s unprivileged bpf() on a map", u.release,
	       refused ? "refuses" : "allows");
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V6, PORT_MUTUAL));
	/* Logged by the network process before it served the application. */
	EXPECT_EQ(refused, tl_file_contains(self->log, "the kernel refuses the "
					    "network process the original "
					    "destinations"));
}

/*
 * The parent's lookups on any kernel (KTLSD_REDIRECT_CLAIM=parent): both
 * families get through, and a local process dialling the listener itself
 * is still closed, since the parent finds no record for it either.
 */
TEST_F_TIMEOUT(redirect, parent_claims_for_the_network_process, 120)
{
	ASSERT_EQ(0, tl_stop(&self->daemon));
	self->daemon_running = false;
	ASSERT_EQ(0, setenv("KTLSD_REDIRECT_CLAIM", "parent", 1));
	ASSERT_EQ(0, start_daemon(self));
	unsetenv("KTLSD_REDIRECT_CLAIM");
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V6, PORT_MUTUAL));
	EXPECT_EQ(1, tl_file_contains(self->log, "KTLSD_REDIRECT_CLAIM=parent: the "
				      "parent looks up"));
	EXPECT_EQ(0, dial_the_listener(self));
	EXPECT_EQ(0, tl_wait_file_contains(self->log, "no destination recorded",
					   20000));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
}

/*
 * ktlsd's own connects pass the hooks because the network processes' uid
 * makes them (ktlsd_worker_uid), which the test's configuration leaves at
 * the default user ktlsd. The documented consequence, and the proof that
 * the uid is what lets them through: an application in the cgroup running
 * as that user is not redirected either, so its plaintext reaches the TLS
 * server, which answers nothing, while root's connect is redirected.
 */
TEST_F_TIMEOUT(redirect, connects_of_the_network_processes_uid_pass, 120)
{
	const struct passwd *net = getpwnam("ktlsd");

	ASSERT_NE(NULL, net) TH_LOG("no user ktlsd, the network processes' user");
	EXPECT_EQ(APP_NO_DATA, run_app_as(self, APP_LINE, TL_SERVER_V4,
					  PORT_MUTUAL, net));
	EXPECT_EQ(APP_OK, run_app(self, APP_LINE, TL_SERVER_V4, PORT_MUTUAL));
}

#endif
