/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The data-path matrix, shared by the host suite (userspace TLS: the host
 * kernel has no kTLS) and the vm suite (real kTLS). The including file
 * defines DATAPATH_EXPECT_KTLS to 0 or 1 before including this header.
 *
 * ktlsd runs for real with a generated configuration: one secure port in
 * front of a "sink" backend (hashes what arrives) and one in front of a
 * "source" backend (sends random bytes and prints their hash). Stock
 * openssl s_client and GnuTLS gnutls-cli are the peers, one variant per
 * TLS version x cipher. Every transfer is checked byte-exact by SHA-256.
 */
#ifndef KTLSD_DATAPATH_CASES_H
#define KTLSD_DATAPATH_CASES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

#ifndef DATAPATH_EXPECT_KTLS
#error "define DATAPATH_EXPECT_KTLS before including datapath_cases.h"
#endif

/* Payload per direction: 64 MiB unless KTLSD_TEST_BYTES says otherwise. */
static size_t payload_bytes(void)
{
	const char *e = getenv("KTLSD_TEST_BYTES");

	return e ? strtoull(e, NULL, 0) : 64u << 20;
}

/* One PKI per test program, made before the harness forks each case. */
static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

FIXTURE(datapath) {
	char *dir;
	char conf[512], log[512], payload[512], received[512], errlog[512];
	char payload_hex[65];
	struct tl_proc sink, source, daemon;
	int sink_port, source_port;	/* backends */
	int up_port, down_port;		/* ktlsd's secure ports */
	long tx_before, rx_before;
};

FIXTURE_VARIANT(datapath) {
	const char *version;		/* "-tls1_2" / "-tls1_3" */
	const char *cipher_opt;		/* "-cipher" / "-ciphersuites" */
	const char *cipher;		/* OpenSSL name */
	const char *gnutls_priority;
};

/* gnutls-cli's priority string for the same single suite. */
#define GNUTLS_ONLY(version_and_kx, cipher) \
	"NONE:+VERS-TLS" version_and_kx ":+" cipher ":+AEAD:+SIGN-ALL:+GROUP-ALL:+COMP-NULL"
#define TLS12_SUITE(name, openssl_name, gnutls_cipher)			\
	FIXTURE_VARIANT_ADD(datapath, tls12_##name) {			\
		.version = "-tls1_2", .cipher_opt = "-cipher",		\
		.cipher = openssl_name,					\
		.gnutls_priority = GNUTLS_ONLY("1.2:+ECDHE-ECDSA", gnutls_cipher), \
	}
#define TLS13_SUITE(name, openssl_name, gnutls_cipher)			\
	FIXTURE_VARIANT_ADD(datapath, tls13_##name) {			\
		.version = "-tls1_3", .cipher_opt = "-ciphersuites",	\
		.cipher = openssl_name,					\
		.gnutls_priority = GNUTLS_ONLY("1.3", gnutls_cipher),	\
	}

TLS12_SUITE(aes_128_gcm, "ECDHE-ECDSA-AES128-GCM-SHA256", "AES-128-GCM");
TLS12_SUITE(aes_256_gcm, "ECDHE-ECDSA-AES256-GCM-SHA384", "AES-256-GCM");
TLS12_SUITE(chacha20_poly1305, "ECDHE-ECDSA-CHACHA20-POLY1305", "CHACHA20-POLY1305");
TLS13_SUITE(aes_128_gcm, "TLS_AES_128_GCM_SHA256", "AES-128-GCM");
TLS13_SUITE(aes_256_gcm, "TLS_AES_256_GCM_SHA384", "AES-256-GCM");
TLS13_SUITE(chacha20_poly1305, "TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305");

/*
 * gnutls-cli reads what the server sends a few KiB per loop turn and spins
 * on its closed stdin meanwhile: tens of MiB take minutes whatever the
 * server does. Its download cases use at most 8 MiB.
 */
static size_t gnutls_download_bytes(void)
{
	return payload_bytes() < (8u << 20) ? payload_bytes() : 8u << 20;
}

FIXTURE_SETUP(datapath)
{
	ASSERT_NE(NULL, pki_dir());
	self->dir = tl_daemon_dir(self->conf, self->log);
	ASSERT_NE(NULL, self->dir);
	snprintf(self->errlog, sizeof(self->errlog), "%s/peer.err", self->dir);
	snprintf(self->payload, sizeof(self->payload), "%s/payload", self->dir);
	snprintf(self->received, sizeof(self->received), "%s/received", self->dir);
	ASSERT_EQ(0, tl_backend_start(&self->sink, "sink", 0, &self->sink_port));
	ASSERT_EQ(0, tl_backend_start(&self->source, "source",
				      strstr(_metadata->name, "gnutls_download") ?
				      gnutls_download_bytes() : payload_bytes(),
				      &self->source_port));
	self->up_port = pki_free_port();
	self->down_port = pki_free_port();
	ASSERT_NE(self->up_port, self->down_port);
	ASSERT_EQ(0, tl_write_file(self->conf,
		"[ktlsd]\n"
		"workers = 2\n"
		"control-socket = %s/control\n"
		"\n"
		"[security]\n"
		"certificate = %s\n"
		"certificate-key = %s\n"
		"trusted-ca = %s\n"
		"\n"
		"[application Sink]\n"
		"[port Sink:secure]\n"
		"listen = 127.0.0.1:%d\n"
		"backend = 127.0.0.1:%d\n"
		"transport = tls=1\n"
		"\n"
		"[application Source]\n"
		"[port Source:secure]\n"
		"listen = 127.0.0.1:%d\n"
		"backend = 127.0.0.1:%d\n"
		"transport = tls=1\n",
		self->dir,
		pki_file("server-chain.pem"), pki_file("server.key"),
		pki_file("root.crt"), self->up_port, self->sink_port,
		self->down_port, self->source_port));
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
	self->tx_before = tl_tls_stat("TlsTxSw");
	self->rx_before = tl_tls_stat("TlsRxSw");
}

FIXTURE_TEARDOWN(datapath)
{
	/* A clean exit also means no sanitizer report from the daemon. */
	EXPECT_EQ(0, tl_stop(&self->daemon));
	tl_stop(&self->sink);
	tl_stop(&self->source);
	if (!getenv("KTLSD_TEST_KEEP"))		/* keep logs for a post-mortem */
		tl_rmtree(self->dir);
	free(self->dir);
}

/* The session ran where it should, proven by the kernel where it can be. */
static void check_mode(struct __test_metadata *_metadata,
		       FIXTURE_DATA(datapath) *self)
{
#if DATAPATH_EXPECT_KTLS
	/* The kernel's own counters, not the daemon's word. */
	EXPECT_LT(self->tx_before, tl_tls_stat("TlsTxSw"));
	EXPECT_LT(self->rx_before, tl_tls_stat("TlsRxSw"));
	EXPECT_EQ(0, tl_file_contains(self->log, "userspace mode"));
#else
	EXPECT_EQ(1, tl_file_contains(self->log, "kernel TLS not available"));
	EXPECT_EQ(1, tl_file_contains(self->log, "userspace mode"));
#endif
}

static void openssl_args(const FIXTURE_VARIANT(datapath) *variant,
			 const char **argv, char *connect, int port,
			 bool send_eof)
{
	int i = 0;

	sprintf(connect, "127.0.0.1:%d", port);
	argv[i++] = "openssl";
	argv[i++] = "s_client";
	argv[i++] = "-connect";
	argv[i++] = connect;
	argv[i++] = "-CAfile";
	argv[i++] = pki_file("root.crt");
	argv[i++] = "-verify_return_error";
	argv[i++] = variant->version;
	argv[i++] = variant->cipher_opt;
	argv[i++] = variant->cipher;
	argv[i++] = "-quiet";
	/* Random payload lines starting with Q, R or k are commands to
	 * s_client (quit, renegotiate, key update) unless this is given. */
	argv[i++] = "-nocommands";
	if (send_eof)
		argv[i++] = "-no_ign_eof";	/* end of stdin -> close */
	argv[i] = NULL;
}

/* Client (ARGV) -> ktlsd -> sink: the sink's hash must equal the payload's. */
static void expect_upload(struct __test_metadata *_metadata,
			  FIXTURE_DATA(datapath) *self, const char *const argv[])
{
	char line[256], expect[256];

	ASSERT_EQ(0, tl_random_file(self->payload, payload_bytes()));
	ASSERT_EQ(0, tl_sha256_file(self->payload, self->payload_hex));
	EXPECT_EQ(0, tl_run(argv, self->payload, NULL, self->errlog, 600000));
	ASSERT_EQ(0, tl_wait_line(&self->sink, "sink ", line, sizeof(line), 60000));
	snprintf(expect, sizeof(expect), "sink %zu %s", payload_bytes(),
		 self->payload_hex);
	EXPECT_STREQ(expect, line);
	check_mode(_metadata, self);
}

/* Source -> ktlsd -> client (ARGV): the client's BYTES hash like the
 * source's. */
static void expect_download(struct __test_metadata *_metadata,
			    FIXTURE_DATA(datapath) *self, const char *const argv[],
			    size_t bytes)
{
	char line[256], expect[256], got[65];

	EXPECT_EQ(0, tl_run(argv, NULL, self->received, self->errlog, 600000));
	ASSERT_EQ(0, tl_wait_line(&self->source, "source ", line, sizeof(line),
				  60000));
	ASSERT_EQ(0, tl_sha256_file(self->received, got));
	snprintf(expect, sizeof(expect), "source %zu %s", bytes, got);
	EXPECT_STREQ(expect, line);
	check_mode(_metadata, self);
}

TEST_F_TIMEOUT(datapath, openssl_upload, 900)
{
	const char *argv[16];
	char connect[32];

	openssl_args(variant, argv, connect, self->up_port, true);
	expect_upload(_metadata, self, argv);
}

TEST_F_TIMEOUT(datapath, openssl_download, 900)
{
	const char *argv[16];
	char connect[32];

	openssl_args(variant, argv, connect, self->down_port, false);
	expect_download(_metadata, self, argv, payload_bytes());
}

static void gnutls_args(const FIXTURE_VARIANT(datapath) *variant,
			const char **argv, char *port_s, char *prio, int port)
{
	int i = 0;

	sprintf(port_s, "%d", port);
	sprintf(prio, "--priority=%s", variant->gnutls_priority);
	argv[i++] = "gnutls-cli";
	argv[i++] = "--x509cafile";
	argv[i++] = pki_file("root.crt");
	argv[i++] = "--verify-hostname=server.test";
	argv[i++] = prio;
	argv[i++] = "-p";
	argv[i++] = port_s;
	argv[i++] = "--logfile=/dev/null";
	argv[i++] = "127.0.0.1";
	argv[i] = NULL;
}

TEST_F_TIMEOUT(datapath, gnutls_upload, 900)
{
	const char *argv[16];
	char port_s[16], prio[256];

	gnutls_args(variant, argv, port_s, prio, self->up_port);
	expect_upload(_metadata, self, argv);
}

TEST_F_TIMEOUT(datapath, gnutls_download, 900)
{
	const char *argv[16];
	char port_s[16], prio[256];

	gnutls_args(variant, argv, port_s, prio, self->down_port);
	expect_download(_metadata, self, argv, gnutls_download_bytes());
}

#endif
