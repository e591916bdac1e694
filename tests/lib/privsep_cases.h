/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Privilege separation, checked from the outside as an attacker's target
 * would be: each process's user, capabilities, seccomp mode and
 * no_new_privs from /proc/PID/status; the network process's memory read
 * through /proc/PID/mem holds no byte of the private key (the scalar in
 * both byte orders, the DER and the PEM), while the key holder's does,
 * which proves the scan can find it; kill -9 of each child and a seccomp
 * violation are each followed by a new child and working handshakes; a
 * new key holder gets a sign channel for each worker again, and handshakes
 * made at once (so that every worker signs) all succeed.
 * Included by tests/host/privsep.c (userspace TLS) and tests/vm/privsep.c
 * (kTLS: the keys installed in the kernel, the private key still only in
 * the key holder).
 */
#ifndef KTLSD_PRIVSEP_CASES_H
#define KTLSD_PRIVSEP_CASES_H
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

/* The child of PARENT whose command line starts with TITLE, or 0. */
static pid_t child_titled(pid_t parent, const char *title)
{
	pid_t kids[32];
	int n = tl_children(parent, kids, 32);

	for (int i = 0; i < n; i++) {
		char path[64], buf[256] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", kids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		if (!strncmp(buf, title, strlen(title)))
			return kids[i];
	}
	return 0;
}

/* Wait (bounded) for a child titled TITLE other than NOT. */
static pid_t wait_child(pid_t parent, const char *title, pid_t not)
{
	for (int i = 0; i < 400; i++) {
		pid_t pid = child_titled(parent, title);
		struct timespec ts = { 0, 25 * 1000 * 1000 };

		if (pid > 0 && pid != not)
			return pid;
		/* Polling /proc: no event announces a new process. */
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The value of FIELD ("CapEff:") in /proc/PID/status, as text. */
static int status_field(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], buf[512];
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(buf, sizeof(buf), f)) {
		if (strncmp(buf, field, strlen(field)))
			continue;
		char *v = buf + strlen(field);

		while (isspace((unsigned char)*v))
			v++;
		v[strcspn(v, "\n")] = '\0';
		snprintf(out, len, "%s", v);
		rc = 0;
	}
	if (f)
		fclose(f);
	return rc;
}

static unsigned long long status_hex(pid_t pid, const char *field)
{
	char v[64];

	return status_field(pid, field, v, sizeof(v)) ? ~0ULL : strtoull(v, NULL, 16);
}

/* How many of NEEDLES (LENS bytes each) occur in PID's readable memory. */
static int memory_hits(pid_t pid, const unsigned char *const *needles,
		       const size_t *lens, int n, int *which)
{
	char path[64], line[512];
	FILE *maps;
	int mem, hits = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	while (maps && mem >= 0 && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];
		unsigned char *buf;
		ssize_t got;

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || hi - lo > (256UL << 20))
			continue;
		buf = malloc(hi - lo);
		if (!buf)
			continue;
		got = pread(mem, buf, hi - lo, (off_t)lo);
		for (int k = 0; got > 0 && k < n; k++) {
			if (memmem(buf, (size_t)got, needles[k], lens[k])) {
				hits++;
				*which |= 1 << k;
			}
		}
		free(buf);
	}
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	return hits;
}

/* The EC key's scalar (big and little endian), its DER and a PEM line. */
struct key_bytes {
	unsigned char scalar_be[32], scalar_le[32];
	unsigned char *der;
	size_t der_len;
	char pem_line[128];
};

static int key_bytes_of(const char *path, struct key_bytes *kb)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	BIGNUM *priv = NULL;
	char line[128];
	int len;

	if (f)
		rewind(f);
	/* The second line of the PEM file: 64 characters of base64. */
	if (!f || !fgets(line, sizeof(line), f) || !fgets(line, sizeof(line), f))
		goto fail;
	line[strcspn(line, "\n")] = '\0';
	snprintf(kb->pem_line, sizeof(kb->pem_line), "%s", line);
	if (!k || !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &priv) ||
	    BN_bn2binpad(priv, kb->scalar_be, 32) != 32)
		goto fail;
	for (int i = 0; i < 32; i++)
		kb->scalar_le[i] = kb->scalar_be[31 - i];
	kb->der = NULL;
	len = i2d_PrivateKey(k, &kb->der);
	if (len <= 0)
		goto fail;
	kb->der_len = (size_t)len;
	BN_clear_free(priv);
	EVP_PKEY_free(k);
	fclose(f);
	return 0;
fail:
	BN_clear_free(priv);
	EVP_PKEY_free(k);
	if (f)
		fclose(f);
	return -1;
}

FIXTURE(privsep) {
	PKI_ECHO_PORT_IN_FIXTURE;
	SSL_CTX *client;
	uid_t uid;
};

static void start(struct __test_metadata *_metadata, FIXTURE_DATA(privsep) *self,
		  const char *selftest)
{
	struct passwd *pw = getpwnam("ktlsd");

	ASSERT_NE(NULL, pw);
	self->uid = pw->pw_uid;
	ASSERT_EQ(0, pki_echo_port_prepare(&self->base));
	ASSERT_EQ(0, pki_echo_port_write_conf(&self->base, "workers = 2\n"));
	if (selftest)
		setenv("KTLSD_SECCOMP_SELFTEST", selftest, 1);
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
	unsetenv("KTLSD_SECCOMP_SELFTEST");
	self->client = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->client);
	SSL_CTX_load_verify_locations(self->client, pki_file("root.crt"), NULL);
	SSL_CTX_set_verify(self->client, SSL_VERIFY_PEER, NULL);
}

FIXTURE_SETUP(privsep)
{
	/* Tests that need a self-test start the daemon themselves. */
	memset(self, 0, sizeof(*self));
}

FIXTURE_TEARDOWN(privsep)
{
	if (self->daemon.pid)
		EXPECT_EQ(0, tl_stop(&self->daemon));
	if (self->echo.pid)
		tl_stop(&self->echo);
	SSL_CTX_free(self->client);
	if (self->dir) {
		tl_rmtree(self->dir);
		free(self->dir);
	}
}

/* A verified handshake and an echoed line, retried for up to 5 s while a
 * child is being replaced. */
static bool echo_works(FIXTURE_DATA(privsep) *self, int tries)
{
	for (int i = 0; i < tries; i++) {
		SSL *ssl = tl_tls_connect(self->client, self->port);
		char buf[8] = "";
		bool ok = ssl && SSL_write(ssl, "ping\n", 5) == 5 &&
			  SSL_read(ssl, buf, sizeof(buf)) == 5 &&
			  !memcmp(buf, "ping\n", 5);
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (ssl)
			tl_tls_close(ssl);
		if (ok)
			return true;
		nanosleep(&ts, NULL);	/* between retries, not to wait for one */
	}
	return false;
}

/* How many descriptors of KIND ("socket:", "pipe:") PID holds, besides
 * stdin, stdout and stderr (a test's may be pipes). */
static int fds_of(pid_t pid, const char *kind)
{
	char path[64], target[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir))) {
		char link[320];
		ssize_t len;

		if (atoi(d->d_name) <= 2)
			continue;	/* "." and ".." too */
		snprintf(link, sizeof(link), "%s/%s", path, d->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0 && (target[len] = '\0', !strncmp(target, kind, strlen(kind))))
			n++;
	}
	if (dir)
		closedir(dir);
	return n;
}

/* Wait (bounded) until PID holds WANT descriptors of KIND; returns the
 * last count. */
static int wait_fds(pid_t pid, const char *kind, int want)
{
	int n = -1;

	for (int i = 0; i < 200 && n != want; i++) {
		struct timespec ts = { 0, 25 * 1000 * 1000 };

		n = fds_of(pid, kind);
		if (n != want)
			nanosleep(&ts, NULL);	/* the parent hands them over */
	}
	return n;
}

struct echo_thread {
	pthread_t tid;
	FIXTURE_DATA(privsep) *self;
	bool ok;
};

static void *echo_once(void *arg)
{
	struct echo_thread *t = arg;

	t->ok = echo_works(t->self, 1);
	return NULL;
}

/* N handshakes at once, each of which must succeed: with the workers all
 * busy, every one of them makes some, each on its own sign channel. */
static bool echo_works_at_once(FIXTURE_DATA(privsep) *self, int n)
{
	struct echo_thread t[16];
	bool ok = true;

	for (int i = 0; i < n; i++) {
		t[i] = (struct echo_thread){ .self = self };
		if (pthread_create(&t[i].tid, NULL, echo_once, &t[i]))
			return false;
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i].tid, NULL);
		ok = ok && t[i].ok;
	}
	return ok;
}

static void expect_confined(struct __test_metadata *_metadata, pid_t pid,
			    uid_t uid)
{
	char v[64], want[64];

	ASSERT_LT(0, pid);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", uid, uid, uid, uid);
	ASSERT_EQ(0, status_field(pid, "Uid:", v, sizeof(v)));
	EXPECT_STREQ(want, v);
	EXPECT_EQ(0, status_hex(pid, "CapEff:"));
	EXPECT_EQ(0, status_hex(pid, "CapPrm:"));
	EXPECT_EQ(0, status_hex(pid, "CapInh:"));
	EXPECT_EQ(0, status_hex(pid, "CapAmb:"));
	EXPECT_EQ(0, status_hex(pid, "CapBnd:"));
	ASSERT_EQ(0, status_field(pid, "NoNewPrivs:", v, sizeof(v)));
	EXPECT_STREQ("1", v);
	ASSERT_EQ(0, status_field(pid, "Seccomp:", v, sizeof(v)));
	EXPECT_STREQ("2", v);	/* filter mode */
}

TEST_F(privsep, each_process_has_only_what_it_needs)
{
	pid_t kh, net;
	unsigned long long eff;

	start(_metadata, self, NULL);
	ASSERT_TRUE(echo_works(self, 1));
	kh = child_titled(self->daemon.pid, "ktlsd: key holder");
	net = child_titled(self->daemon.pid, "ktlsd: network");
	expect_confined(_metadata, kh, self->uid);
	expect_confined(_metadata, net, self->uid);
	/* The load channel (a socket), and a request and an answer pipe
	 * for each sign channel: the parent's and one per worker. */
	EXPECT_EQ(1, fds_of(kh, "socket:"));
	EXPECT_EQ(6, fds_of(kh, "pipe:"));
	EXPECT_TRUE(echo_works_at_once(self, 16));
	/* The parent keeps root, and of the capabilities only its own list:
	 * none of module loading, ptrace, raw I/O or rebooting. */
	eff = status_hex(self->daemon.pid, "CapEff:");
	EXPECT_NE(0, eff & (1ULL << 10));	/* CAP_NET_BIND_SERVICE */
	EXPECT_EQ(0, eff & (1ULL << 16));	/* CAP_SYS_MODULE */
	EXPECT_EQ(0, eff & (1ULL << 17));	/* CAP_SYS_RAWIO */
	EXPECT_EQ(0, eff & (1ULL << 19));	/* CAP_SYS_PTRACE */
	EXPECT_EQ(0, eff & (1ULL << 22));	/* CAP_SYS_BOOT */
	EXPECT_EQ(0, status_hex(self->daemon.pid, "CapBnd:") & (1ULL << 16));
}

TEST_F(privsep, network_memory_holds_no_private_key)
{
	struct key_bytes kb;
	const unsigned char *needles[4];
	size_t lens[4];
	int which = 0;
	pid_t kh, net;

	start(_metadata, self, NULL);
	ASSERT_EQ(0, key_bytes_of(pki_file("server.key"), &kb));
	needles[0] = kb.scalar_be;
	lens[0] = 32;
	needles[1] = kb.scalar_le;
	lens[1] = 32;
	needles[2] = kb.der;
	lens[2] = kb.der_len;
	needles[3] = (const unsigned char *)kb.pem_line;
	lens[3] = strlen(kb.pem_line);
	/* The key has been used: signatures were made for these. */
	for (int i = 0; i < 5; i++)
		ASSERT_TRUE(echo_works(self, 1));
	kh = child_titled(self->daemon.pid, "ktlsd: key holder");
	net = child_titled(self->daemon.pid, "ktlsd: network");
	ASSERT_LT(0, kh);
	ASSERT_LT(0, net);
	/* The scan finds the key where it is... */
	EXPECT_LT(0, memory_hits(kh, needles, lens, 4, &which));
	/* ...and nowhere else: not the network process, not the parent. */
	which = 0;
	EXPECT_EQ(0, memory_hits(net, needles, lens, 4, &which)) {
		TH_LOG("network process memory holds key bytes (mask %x)", which);
	}
	which = 0;
	EXPECT_EQ(0, memory_hits(self->daemon.pid, needles, lens, 4, &which)) {
		TH_LOG("parent memory holds key bytes (mask %x)", which);
	}
	OPENSSL_free(kb.der);
}

TEST_F(privsep, killed_network_process_is_replaced)
{
	pid_t net, fresh;

	start(_metadata, self, NULL);
	ASSERT_TRUE(echo_works(self, 1));
	net = child_titled(self->daemon.pid, "ktlsd: network");
	ASSERT_LT(0, net);
	ASSERT_EQ(0, kill(net, SIGKILL));
	ASSERT_EQ(0, tl_wait_file_contains(self->log, "was killed by signal 9: starting a new one", 10000));
	fresh = wait_child(self->daemon.pid, "ktlsd: network", net);
	ASSERT_LT(0, fresh);
	EXPECT_TRUE(echo_works(self, 100));
	expect_confined(_metadata, fresh, self->uid);
}

TEST_F(privsep, killed_key_holder_is_replaced)
{
	pid_t kh, fresh;

	start(_metadata, self, NULL);
	ASSERT_TRUE(echo_works(self, 1));
	kh = child_titled(self->daemon.pid, "ktlsd: key holder");
	ASSERT_LT(0, kh);
	ASSERT_EQ(0, kill(kh, SIGKILL));
	ASSERT_EQ(0, tl_wait_file_contains(self->log, "ready with 1 key(s)", 10000));
	fresh = wait_child(self->daemon.pid, "ktlsd: key holder", kh);
	ASSERT_LT(0, fresh);
	/* The load channel, and the pipes of the parent's sign channel and
	 * of one per worker. */
	EXPECT_EQ(1, fds_of(fresh, "socket:"));
	EXPECT_EQ(6, wait_fds(fresh, "pipe:", 6));
	EXPECT_TRUE(echo_works(self, 100));
	EXPECT_TRUE(echo_works_at_once(self, 16));
	expect_confined(_metadata, fresh, self->uid);
}

TEST_F(privsep, seccomp_kills_a_network_process_that_breaks_its_filter)
{
	start(_metadata, self, "network");
	ASSERT_EQ(0, tl_wait_file_contains(self->log,
		"was killed by signal 31 (seccomp: a forbidden system call)", 10000));
	ASSERT_LT(0, wait_child(self->daemon.pid, "ktlsd: network", 0));
	EXPECT_TRUE(echo_works(self, 100));
}

/* The key holder breaks its filter at its first signature: that
 * handshake fails, the next ones succeed. */
TEST_F(privsep, seccomp_kills_a_key_holder_that_breaks_its_filter)
{
	start(_metadata, self, "keyholder");
	EXPECT_FALSE(echo_works(self, 1));
	ASSERT_EQ(0, tl_wait_file_contains(self->log,
		"was killed by signal 31 (seccomp: a forbidden system call)", 10000));
	EXPECT_TRUE(echo_works(self, 100));
}

#endif
