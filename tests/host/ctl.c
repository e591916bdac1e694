// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsctl against a real ktlsd: status, sessions, stats, reload and
 * explain through the control socket, and the socket's defences (peer
 * credentials, malformed requests). Runs as root.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include <ktlsd/ctl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

#define NOBODY 65534

FIXTURE(ctl) {
	PKI_ECHO_PORT_IN_FIXTURE;
	char out[512], err[512], client_out[512];
};

static int write_conf(FIXTURE_DATA(ctl) *self, const char *cert)
{
	return pki_write_port_conf(self->conf, &(struct pki_port_conf) {
		.daemon_lines = "workers = 2\n", .control = self->control,
		.cert = cert, .port_name = "Echo:secure", .port = self->port,
		.backend = self->echo_port });
}

FIXTURE_SETUP(ctl)
{
	ASSERT_EQ(0, geteuid());
	ASSERT_NE(NULL, pki_dir());
	ASSERT_EQ(0, pki_echo_port_prepare(&self->base));
	/* A directory that does not exist yet: the daemon creates it. */
	snprintf(self->control, sizeof(self->control), "%s/run/control", self->dir);
	snprintf(self->out, sizeof(self->out), "%s/ctl.out", self->dir);
	snprintf(self->err, sizeof(self->err), "%s/ctl.err", self->dir);
	snprintf(self->client_out, sizeof(self->client_out), "%s/client.out", self->dir);
	ASSERT_EQ(0, write_conf(self, pki_file("server-chain.pem")));
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
}

FIXTURE_TEARDOWN(ctl)
{
	/* A clean exit: under ASan, a leak or bad access is a failure too. */
	EXPECT_EQ(0, pki_echo_port_stop(&self->base)) TH_LOG("see %s", self->log);
}

/* ktlsctl -s SOCK ARGS... with stdout/stderr to self->out/err. */
static int ctl_run(FIXTURE_DATA(ctl) *self, const char *a1, const char *a2,
		   const char *a3)
{
	char bin[512];
	const char *argv[] = { bin, "-s", self->control, a1, a2, a3, NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	return tl_run(argv, NULL, self->out, self->err, 30000);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int json_valid(const char *path, const char *check)
{
	char prog[2048];
	const char *argv[] = { "python3", "-c", prog, NULL };

	snprintf(prog, sizeof(prog), "import json,sys; d=json.load(sys.stdin); "
		 "sys.exit(0 if (%s) else 1)", check);
	return tl_run(argv, path, NULL, NULL, 10000);
}

/* A complete TLS connection with openssl s_client; its output to OUT. */
static int tls_connect(FIXTURE_DATA(ctl) *self, const char *out)
{
	char connect[64];
	const char *argv[] = { "openssl", "s_client", "-connect", connect,
			       "-CAfile", pki_file("root.crt"), "-verify_return_error",
			       NULL };

	snprintf(connect, sizeof(connect), "127.0.0.1:%d", self->port);
	return tl_run(argv, NULL, out, NULL, 20000);
}

/* The PEM block s_client printed: identifies the certificate served. */
static void served_cert(const char *out, char *pem, size_t len)
{
	char *text = slurp(out);
	char *b = strstr(text, "-----BEGIN CERTIFICATE-----");
	char *e = b ? strstr(b, "-----END CERTIFICATE-----") : NULL;

	snprintf(pem, len, "%.*s", b && e ? (int)(e - b) : 0, b ? b : "");
}

TEST_F(ctl, status_text)
{
	char *out;

	EXPECT_EQ(0, ctl_run(self, "status", NULL, NULL));
	out = slurp(self->out);
	EXPECT_NE(NULL, strstr(out, "ktlsd " KTLSD_VERSION));
	EXPECT_NE(NULL, strstr(out, self->conf));
	/* This host's kernel has no kTLS, and the reason is given. */
	EXPECT_NE(NULL, strstr(out, "kernel TLS:  not available: "));
	EXPECT_NE(NULL, strstr(out, "sessions:    0"));
	/* A unique prefix is the command; an ambiguous one is a usage error. */
	EXPECT_EQ(2, ctl_run(self, "stat", NULL, NULL));
	EXPECT_EQ(0, ctl_run(self, "statu", NULL, NULL));
	EXPECT_EQ(2, ctl_run(self, "st", NULL, NULL));
	EXPECT_NE(NULL, strstr(slurp(self->err), "valid commands are: status sessions"));
	EXPECT_EQ(2, ctl_run(self, "bogus", NULL, NULL));
}

TEST_F(ctl, status_json)
{
	ASSERT_EQ(0, ctl_run(self, "--json", "status", NULL));
	EXPECT_EQ(0, json_valid(self->out, "d['ktls_available'] is False and "
				"d['ktls_why'] != '' and d['ports'] == 1 and "
				"d['config'].endswith('ktlsd.conf')"));
	ASSERT_EQ(0, ctl_run(self, "stats", "--json", NULL));
	EXPECT_EQ(0, json_valid(self->out, "'accepted' in d"));
	ASSERT_EQ(0, ctl_run(self, "sessions", "--json", NULL));
	EXPECT_EQ(0, json_valid(self->out, "d == []"));
	ASSERT_EQ(0, ctl_run(self, "explain", "--json", NULL));
	EXPECT_EQ(0, json_valid(self->out, "d['ok'] and 'Echo:secure' in d['output']"));
}

TEST_F(ctl, unreachable)
{
	char bin[512];
	const char *argv[] = { bin, "-s", "/nonexistent/ktlsd/control", "status", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	EXPECT_EQ(3, tl_run(argv, NULL, NULL, NULL, 10000));
}

/* Nothing on stdout when the daemon cannot be reached: "[]" would read as
 * "no sessions" to a `| jq` pipeline. */
TEST_F(ctl, unreachable_json_prints_nothing)
{
	char bin[512];
	const char *argv[] = { bin, "-s", "/nonexistent/ktlsd/control", "--json",
			       "sessions", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	EXPECT_EQ(3, tl_run(argv, NULL, self->out, self->err, 10000));
	EXPECT_STREQ("", slurp(self->out));
	EXPECT_NE(NULL, strstr(slurp(self->err), "cannot reach ktlsd"));
}

TEST_F(ctl, sessions_live)
{
	struct pki_peer client;
	char connect[64];
	const char *argv[] = { "s_client", "-connect", connect, "-CAfile",
			       pki_file("root.crt"), "-quiet", NULL };
	char why[256];
	char *out;

	snprintf(connect, sizeof(connect), "127.0.0.1:%d", self->port);
	ASSERT_EQ(0, pki_peer_spawn(&client, argv));
	/* The echo coming back proves the session is forwarding. */
	ASSERT_EQ(9, write(client.in_fd, "ping-ctl\n", 9));
	ASSERT_EQ(0, pki_peer_wait_for(&client, "ping-ctl", 20000));

	/* The session's reason is the kernel's: what status says is missing. */
	ASSERT_EQ(0, ctl_run(self, "status", NULL, NULL));
	out = strstr(slurp(self->out), "not available: ");
	ASSERT_NE(NULL, out);
	snprintf(why, sizeof(why), "%s", out + strlen("not available: "));
	why[strcspn(why, "\n")] = '\0';
	ASSERT_NE(0, strlen(why));

	EXPECT_EQ(0, ctl_run(self, "sessions", NULL, NULL));
	out = slurp(self->out);
	EXPECT_NE(NULL, strstr(out, "127.0.0.1:"));
	EXPECT_NE(NULL, strstr(out, "Echo:secure"));
	EXPECT_NE(NULL, strstr(out, "TLSv1.3"));
	EXPECT_NE(NULL, strstr(out, " userspace "));
	EXPECT_NE(NULL, strstr(out, "\t userspace: "));
	EXPECT_NE(NULL, strstr(out, why)) TH_LOG("%s", out);

	EXPECT_EQ(0, ctl_run(self, "sessions", "--port", "Echo:secure"));
	EXPECT_NE(NULL, strstr(slurp(self->out), "Echo:secure"));
	EXPECT_EQ(0, ctl_run(self, "sessions", "--port", "Other"));
	EXPECT_NE(NULL, strstr(slurp(self->out), "no sessions"));
	EXPECT_EQ(0, ctl_run(self, "sessions", "--peer", "127.0.0.1"));
	EXPECT_NE(NULL, strstr(slurp(self->out), "Echo:secure"));

	EXPECT_EQ(0, ctl_run(self, "sessions", "--json", NULL));
	EXPECT_EQ(0, json_valid(self->out, "len(d) == 1 and d[0]['mode'] == 'userspace' "
				"and d[0]['mode_why'] != '' and d[0]['bytes_in'] == 9 "
				"and d[0]['port'] == 'Echo:secure'"));
	EXPECT_EQ(0, ctl_run(self, "status", "--json", NULL));
	EXPECT_EQ(0, json_valid(self->out, "d['sessions'] == 1"));
	pki_peer_stop(&client);
}

/* Every line: a comment (# HELP/# TYPE) or `name{labels} value`, and every
 * sample's metric family has a # TYPE line before it. */
TEST_F(ctl, stats_prometheus)
{
	char line[512], typed[4096] = " ";
	FILE *f;
	int samples = 0;

	ASSERT_EQ(0, tls_connect(self, self->client_out));
	ASSERT_EQ(0, ctl_run(self, "stats", "--prometheus", NULL));
	f = fopen(self->out, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		char name[128], rest[256], fam[140], kind[32];
		double value;
		char *brace;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "# TYPE %127s %31s", name, kind) == 2) {
			EXPECT_TRUE(!strcmp(kind, "counter") || !strcmp(kind, "gauge"));
			snprintf(fam, sizeof(fam), " %s ", name);
			strncat(typed, fam + 1, sizeof(typed) - strlen(typed) - 1);
			continue;
		}
		if (!strncmp(line, "# HELP ktlsd_", 13))
			continue;
		/* A sample. */
		ASSERT_EQ(2, sscanf(line, "%127s %255s", name, rest)) TH_LOG("%s", line);
		EXPECT_EQ(0, strncmp(name, "ktlsd_", 6)) TH_LOG("%s", line);
		value = strtod(rest, &brace);
		EXPECT_EQ('\0', *brace) TH_LOG("value of: %s", line);
		EXPECT_LE(0, value);
		brace = strchr(name, '{');
		if (brace) {
			EXPECT_EQ('}', name[strlen(name) - 1]) TH_LOG("%s", line);
			EXPECT_NE(NULL, strchr(brace, '=')) TH_LOG("%s", line);
			EXPECT_NE(NULL, strchr(brace, '"')) TH_LOG("%s", line);
			*brace = '\0';
		}
		snprintf(fam, sizeof(fam), " %s ", name);
		EXPECT_NE(NULL, strstr(typed, fam)) TH_LOG("no # TYPE for %s", name);
		samples++;
	}
	fclose(f);
	EXPECT_LE(10, samples);
	/* The completed handshake is counted. */
	EXPECT_NE(NULL, strstr(slurp(self->out), "ktlsd_handshakes_total{result=\"ok\"} 1\n"));
}

/* The names of /proc/net/tls_stat, as "|Name1|Name2|", or "" without it. */
static void kernel_tls_stat_names(char *names, size_t len)
{
	FILE *f = fopen("/proc/net/tls_stat", "r");
	char line[256], name[64];
	unsigned long long value;

	snprintf(names, len, "|");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %llu", name, &value) == 2)
			snprintf(names + strlen(names), len - strlen(names), "%s|", name);
	if (f)
		fclose(f);
	else
		names[0] = '\0';
}

/* The kernel's kTLS statistics as the daemon reads them, in all three
 * formats; no steered port here, so the takeover is reported inactive. */
TEST_F(ctl, stats_kernel_and_steering)
{
	char names[1024], check[1400], *out, *name, *save = NULL;

	kernel_tls_stat_names(names, sizeof(names));
	ASSERT_EQ(0, ctl_run(self, "stats", NULL, NULL));
	out = slurp(self->out);
	EXPECT_NE(NULL, strstr(out, "port takeover (steer): not active\n")) TH_LOG("%s", out);
	if (!names[0]) {
		/* This host: no tls module, and the text says so. */
		EXPECT_NE(NULL, strstr(out, "kernel TLS statistics not available "
				       "(no tls module)\n")) TH_LOG("%s", out);
	} else {
		EXPECT_NE(NULL, strstr(out, "kernel TLS statistics (/proc/net/tls_stat):\n"));
		EXPECT_NE(NULL, strstr(names, "|TlsTxSw|")) TH_LOG("%s", names);
		for (name = strtok_r(names + 1, "|", &save); name;
		     name = strtok_r(NULL, "|", &save)) {
			char want[80];

			snprintf(want, sizeof(want), "\n  %s ", name);
			EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no %s in: %s", name, out);
		}
		kernel_tls_stat_names(names, sizeof(names));	/* strtok cut it */
	}

	ASSERT_EQ(0, ctl_run(self, "stats", "--json", NULL));
	if (!names[0])
		snprintf(check, sizeof(check), "d['kernel_tls_stat'] is None and "
			 "d['kernel_tls_stat_why'] == 'no tls module'");
	else
		snprintf(check, sizeof(check), "set(d['kernel_tls_stat']) == "
			 "set('%s'.strip('|').split('|')) and d['kernel_tls_stat_why'] == ''",
			 names);
	EXPECT_EQ(0, json_valid(self->out, check)) TH_LOG("%s", slurp(self->out));
	EXPECT_EQ(0, json_valid(self->out, "d['steering'] == {'active': False, 'ports': [], 'redirects': []} "
				"and d['accepted'] == 0"));

	ASSERT_EQ(0, ctl_run(self, "stats", "--prometheus", NULL));
	out = slurp(self->out);
	EXPECT_NE(NULL, strstr(out, "\nktlsd_steer_active 0\n"));
	EXPECT_EQ(NULL, strstr(out, "ktlsd_steer_connections_total"));
	if (!names[0]) {
		EXPECT_NE(NULL, strstr(out, "\nktlsd_kernel_tls_stat_available 0\n"));
		EXPECT_EQ(NULL, strstr(out, "{counter="));
	} else {
		EXPECT_NE(NULL, strstr(out, "\nktlsd_kernel_tls_stat_available 1\n"));
		EXPECT_NE(NULL, strstr(out, "\nktlsd_kernel_tls_stat{counter=\"TlsTxSw\"} "));
		EXPECT_NE(NULL, strstr(out, "\nktlsd_kernel_tls_current{counter=\"TlsCurrTxSw\"} "));
	}
}

TEST_F(ctl, reload_refused_keeps_config)
{
	char *err;

	ASSERT_EQ(0, write_conf(self, "/nonexistent/server-chain.pem"));
	EXPECT_EQ(1, ctl_run(self, "reload", NULL, NULL));
	err = slurp(self->err);
	EXPECT_NE(NULL, strstr(err, "/nonexistent/server-chain.pem")) TH_LOG("%s", err);
	EXPECT_NE(NULL, strstr(err, "reload refused"));
	/* The running configuration still serves new connections. */
	EXPECT_EQ(0, tls_connect(self, self->client_out));
	EXPECT_NE(NULL, strstr(slurp(self->client_out), "Verify return code: 0 (ok)"));
	EXPECT_EQ(0, ctl_run(self, "status", NULL, NULL));
}

TEST_F(ctl, reload_new_certificate)
{
	char before[4096], after[4096];

	ASSERT_EQ(0, tls_connect(self, self->client_out));
	served_cert(self->client_out, before, sizeof(before));
	ASSERT_NE(0, strlen(before));
	ASSERT_NE(NULL, strstr(slurp(self->client_out), "subject=CN = server.test"));

	ASSERT_EQ(0, write_conf(self, pki_file("server-wildcard-chain.pem")));
	EXPECT_EQ(0, ctl_run(self, "reload", NULL, NULL));
	EXPECT_NE(NULL, strstr(slurp(self->out), "configuration reloaded"));

	ASSERT_EQ(0, tls_connect(self, self->client_out));
	served_cert(self->client_out, after, sizeof(after));
	EXPECT_NE(NULL, strstr(slurp(self->client_out), "subject=CN = *.test"));
	EXPECT_NE(0, strcmp(before, after));
}

TEST_F(ctl, explain_running_config)
{
	EXPECT_EQ(0, ctl_run(self, "explain", NULL, NULL));
	EXPECT_NE(NULL, strstr(slurp(self->out), "[port Echo:secure]"));
	EXPECT_EQ(0, ctl_run(self, "explain", "Echo:secure", NULL));
	EXPECT_EQ(1, ctl_run(self, "explain", "NoSuchPort", NULL));
}

/* An unknown name is reported once, not by two layers each. */
TEST_F(ctl, explain_unknown_name_reported_once)
{
	char *err, *first;

	EXPECT_EQ(1, ctl_run(self, "explain", "Nope:none", NULL));
	err = slurp(self->err);
	first = strstr(err, "no port or connection named \"Nope:none\"");
	ASSERT_NE(NULL, first) TH_LOG("stderr: %s", err);
	EXPECT_EQ(NULL, strstr(first + 1, "no port or connection named"))
		TH_LOG("stderr: %s", err);
}

/* A port is also known by its number: the one clients connect to. */
TEST_F(ctl, explain_port_number)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", self->port);
	EXPECT_EQ(0, ctl_run(self, "explain", num, NULL)) TH_LOG("%s", slurp(self->err));
	EXPECT_NE(NULL, strstr(slurp(self->out), "[port Echo:secure]"));
	snprintf(num, sizeof(num), "%d", self->port == 1 ? 2 : self->port - 1);
	EXPECT_EQ(1, ctl_run(self, "explain", num, NULL));
}

/* ---- raw protocol ------------------------------------------------------- */

static int raw_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	return fd;
}

/* Read one reply packet (5 s): its type, and the errno of an error. */
static int raw_reply(int fd, int *err)
{
	union { struct nlmsghdr h; unsigned char b[CTL_REPLY_MAX]; } buf;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct nlattr *tb[CTL_A_MAX + 1];
	ssize_t n;

	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	n = recv(fd, buf.b, sizeof(buf.b), 0);
	/* A peer closed before its request was read sees the reset first
	 * and the daemon's reply after it. */
	if (n < 0 && errno == ECONNRESET)
		n = recv(fd, buf.b, sizeof(buf.b), MSG_DONTWAIT);
	if (n <= 0)
		return 0;	/* closed */
	if ((size_t)n < NLMSG_HDRLEN || buf.h.nlmsg_len != (size_t)n)
		return -1;
	if (buf.h.nlmsg_type == CTL_MSG_ERROR && err) {
		if (nlmsg_parse(&buf.h, 0, tb, CTL_A_MAX, NULL) < 0 || !tb[CTL_A_ERRNO])
			return -1;
		*err = (int)nla_get_u32(tb[CTL_A_ERRNO]);
	}
	return buf.h.nlmsg_type;
}

static int send_status_request(int fd)
{
	struct nl_msg *msg = nlmsg_alloc_simple(CTL_MSG_STATUS, NLM_F_REQUEST);
	int rc;

	nla_put_u32(msg, CTL_A_PROTO_VERSION, CTL_PROTO_VERSION);
	rc = send(fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, MSG_NOSIGNAL);
	nlmsg_free(msg);
	return rc;
}

TEST_F(ctl, unauthorised_peer_refused)
{
	int status, fd;
	pid_t pid;

	/* Let the file system through so the daemon's own check decides. */
	ASSERT_EQ(0, chmod(self->dir, 0755));
	ASSERT_EQ(0, chmod(self->control, 0666));
	fd = raw_connect(self->control);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, send_status_request(fd));
	EXPECT_EQ(CTL_MSG_STATUS, raw_reply(fd, NULL));	/* root: answered */
	close(fd);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int err = 0;

		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		fd = raw_connect(self->control);
		if (fd < 0)
			_exit(11);
		send_status_request(fd);	/* may fail: already closed */
		if (raw_reply(fd, &err) != CTL_MSG_ERROR || err != EACCES)
			_exit(12);
		_exit(raw_reply(fd, NULL) == 0 ? 0 : 13);	/* then closed */
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(1, tl_file_contains(self->log, "control: refused pid"));
	EXPECT_EQ(0, ctl_run(self, "status", NULL, NULL));
}

/* ktlsctl itself, run as nobody: the daemon's reason reaches the user. */
TEST_F(ctl, unauthorised_user_told_permission_denied)
{
	char bin[512];
	const char *argv[] = { "setpriv", "--reuid=65534", "--regid=65534",
			       "--clear-groups", bin, "-s", self->control, "status", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	ASSERT_EQ(0, chmod(self->dir, 0755));
	ASSERT_EQ(0, chmod(self->control, 0666));
	EXPECT_EQ(3, tl_run(argv, NULL, self->out, self->err, 10000));
	EXPECT_NE(NULL, strstr(slurp(self->err), "permission denied"))
		TH_LOG("stderr: %s", slurp(self->err));
	EXPECT_STREQ("", slurp(self->out));
}

TEST_F(ctl, malformed_requests)
{
	static const unsigned char garbage[] = { 0x01, 0x02, 0x03 };
	struct nlmsghdr h = { .nlmsg_len = 200, .nlmsg_type = CTL_MSG_STATUS,
			      .nlmsg_flags = NLM_F_REQUEST };
	static unsigned char big[CTL_REQUEST_MAX + 100];
	struct nlmsghdr *bh = (struct nlmsghdr *)big;
	struct { struct nlmsghdr h; struct nlattr a; uint32_t v; } badver = {
		.h = { .nlmsg_len = sizeof(badver), .nlmsg_type = CTL_MSG_STATUS,
		       .nlmsg_flags = NLM_F_REQUEST },
		.a = { .nla_len = 8, .nla_type = CTL_A_PROTO_VERSION },
		.v = 99,
	};
	struct { const void *p; size_t len; int err; } cases[] = {
		{ garbage, sizeof(garbage), EBADMSG },		/* shorter than a header */
		{ &h, sizeof(h), EBADMSG },			/* truncated */
		{ big, sizeof(big), EMSGSIZE },			/* oversized */
		{ &badver, sizeof(badver), EPROTO },		/* wrong version */
	};

	bh->nlmsg_len = sizeof(big);
	bh->nlmsg_type = CTL_MSG_STATUS;
	bh->nlmsg_flags = NLM_F_REQUEST;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = raw_connect(self->control), err = 0;

		ASSERT_LE(0, fd);
		ASSERT_EQ((ssize_t)cases[i].len, send(fd, cases[i].p, cases[i].len, 0));
		EXPECT_EQ(CTL_MSG_ERROR, raw_reply(fd, &err)) TH_LOG("case %zu", i);
		EXPECT_EQ(cases[i].err, err) TH_LOG("case %zu", i);
		EXPECT_EQ(0, raw_reply(fd, NULL)) TH_LOG("case %zu: not closed", i);
		close(fd);
	}
	/* A client that connects and says nothing does not hold anyone up. */
	{
		int idle = raw_connect(self->control);

		ASSERT_LE(0, idle);
		EXPECT_EQ(0, ctl_run(self, "status", NULL, NULL));
		close(idle);
	}
	EXPECT_EQ(0, ctl_run(self, "stats", NULL, NULL));
	EXPECT_EQ(0, tls_connect(self, self->client_out));
}

TEST_HARNESS_MAIN
