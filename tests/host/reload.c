// SPDX-License-Identifier: GPL-2.0
/*
 * Certificate rotation without a restart: while one session is in the
 * middle of a transfer, the configuration is changed to a new certificate
 * and reloaded with ktlsctl. The next handshake must present the new
 * certificate, a broken configuration must be refused with the old one
 * staying in force, and the running session must finish byte-exact. A
 * configuration the kernel side cannot take is refused the same way.
 */
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

#define DOWNLOAD (32u << 20)

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

FIXTURE(reload) {
	char *dir;
	char conf[512], log[512], sock[512], out[512];
	struct tl_proc source, daemon;
	int source_port, port;
	SSL_CTX *ctx;
};

static int write_conf(FIXTURE_DATA(reload) *self, const char *cert,
		      const char *extra)
{
	return pki_write_port_conf(self->conf, &(struct pki_port_conf) {
		.control = self->sock, .cert = cert, .security_lines = extra,
		.port_name = "Source:secure", .port = self->port,
		.backend = self->source_port });
}

FIXTURE_SETUP(reload)
{
	self->dir = tl_daemon_dir(self->conf, self->log);
	ASSERT_NE(NULL, self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/control", self->dir);
	snprintf(self->out, sizeof(self->out), "%s/ctl.out", self->dir);
	ASSERT_EQ(0, tl_backend_start(&self->source, "source", DOWNLOAD,
				      &self->source_port));
	self->port = pki_free_port();
	ASSERT_EQ(0, write_conf(self, pki_file("server-chain.pem"), ""));
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
	self->ctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(self->ctx, pki_file("root.crt"),
						   NULL));
	SSL_CTX_set_verify(self->ctx, SSL_VERIFY_PEER, NULL);
}

FIXTURE_TEARDOWN(reload)
{
	SSL_CTX_free(self->ctx);
	EXPECT_EQ(0, tl_stop(&self->daemon));
	tl_stop(&self->source);
	tl_rmtree(self->dir);
	free(self->dir);
}

/* The serial number of the certificate the server presented, as hex. */
static void peer_serial(SSL *ssl, char *hex, size_t len)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	BIGNUM *bn = peer ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL) : NULL;
	char *s = bn ? BN_bn2hex(bn) : NULL;

	snprintf(hex, len, "%s", s ? s : "none");
	OPENSSL_free(s);
	BN_free(bn);
}

static int ctl_reload(FIXTURE_DATA(reload) *self)
{
	char bin[PATH_MAX];
	const char *argv[] = { bin, "-s", self->sock, "reload", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	return tl_run(argv, NULL, self->out, self->out, 30000);
}

TEST_F_TIMEOUT(reload, rotation_during_transfer, 120)
{
	static unsigned char buf[65536];
	char first[80], second[80], third[80], line[256], expect[256], hex[65];
	unsigned char digest[32];
	unsigned int dlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t got = 0;
	SSL *running, *next;

	/* A session in the middle of a 32 MiB download. */
	running = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, running);
	peer_serial(running, first, sizeof(first));
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (got < (1u << 20)) {
		int n = SSL_read(running, buf, sizeof(buf));

		ASSERT_LT(0, n);
		EVP_DigestUpdate(md, buf, n);
		got += n;
	}

	/* Rotate the host certificate and reload. */
	ASSERT_EQ(0, write_conf(self, pki_file("server-cnonly-chain.pem"), ""));
	EXPECT_EQ(0, ctl_reload(self));
	next = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, next);
	peer_serial(next, second, sizeof(second));
	tl_tls_close(next);
	EXPECT_STRNE(first, second);

	/* A broken configuration is refused; the rotated one stays. */
	ASSERT_EQ(0, write_conf(self, pki_file("server-chain.pem"),
				"certificate-key-typo = x\n"));
	EXPECT_EQ(1, ctl_reload(self));
	EXPECT_EQ(1, tl_file_contains(self->out, "certificate-key-typo"));
	next = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, next);
	peer_serial(next, third, sizeof(third));
	tl_tls_close(next);
	EXPECT_STREQ(second, third);

	/* The first session finishes untouched and byte-exact. */
	for (;;) {
		int n = SSL_read(running, buf, sizeof(buf));

		if (n <= 0)
			break;
		EVP_DigestUpdate(md, buf, n);
		got += n;
	}
	EVP_DigestFinal_ex(md, digest, &dlen);
	EVP_MD_CTX_free(md);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	EXPECT_EQ(DOWNLOAD, got);
	ASSERT_EQ(0, tl_wait_line(&self->source, "source ", line, sizeof(line), 30000));
	snprintf(expect, sizeof(expect), "source %u %s", DOWNLOAD, hex);
	EXPECT_STREQ(expect, line);
	tl_tls_close(running);
}

/*
 * A reload whose new steered port the kernel side cannot take (its
 * bpf-pin-dir is not on a bpf file system) is refused as a whole: the
 * previous configuration keeps serving, and reloading it again works.
 */
TEST_F(reload, refused_when_steering_cannot_start)
{
	char daemon_lines[700], extra[300], serial[80], again[80];
	int steered_port = pki_free_port();
	SSL *ssl;
	FILE *f;

	ssl = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, ssl);
	peer_serial(ssl, serial, sizeof(serial));
	tl_tls_close(ssl);

	snprintf(daemon_lines, sizeof(daemon_lines), "bpf-pin-dir = %s/pins\n",
		 self->dir);
	ASSERT_EQ(0, pki_write_port_conf(self->conf, &(struct pki_port_conf) {
		.daemon_lines = daemon_lines, .control = self->sock,
		.cert = pki_file("server-cnonly-chain.pem"),
		.port_name = "Source:secure", .port = self->port,
		.backend = self->source_port }));
	snprintf(extra, sizeof(extra),
		 "[port Legacy:steered]\nlisten = 127.0.0.1:%d\n"
		 "backend = 127.0.0.1:%d\ntransport = tls=1\nsteer = yes\n",
		 steered_port, steered_port);
	f = fopen(self->conf, "a");
	ASSERT_NE(NULL, f);
	fputs(extra, f);
	ASSERT_EQ(0, fclose(f));

	EXPECT_EQ(1, ctl_reload(self));
	EXPECT_EQ(1, tl_file_contains(self->out, "reload refused"));
	EXPECT_EQ(1, tl_file_contains(self->log, "is not on a bpf file system"));
	/* Still the certificate of before: the new one came with the
	 * refused configuration. */
	ssl = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, ssl);
	peer_serial(ssl, again, sizeof(again));
	tl_tls_close(ssl);
	EXPECT_STREQ(serial, again);

	ASSERT_EQ(0, write_conf(self, pki_file("server-chain.pem"), ""));
	EXPECT_EQ(0, ctl_reload(self));
}

/*
 * A reload that adds a port whose address another program holds is
 * refused with the address and the error, and rolled back: the running
 * port keeps its certificate. Once the address is free the same reload
 * succeeds, and it answers only when the workers listen: a handshake on
 * the new port right after it works.
 */
TEST_F(reload, refused_when_a_new_port_cannot_listen)
{
	char extra[300], want[160], serial[80], again[80];
	int added = pki_free_port();
	int held = tl_occupy_port(added);
	SSL *ssl;
	FILE *f;

	ASSERT_LE(0, held);
	ssl = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, ssl);
	peer_serial(ssl, serial, sizeof(serial));
	tl_tls_close(ssl);

	ASSERT_EQ(0, write_conf(self, pki_file("server-cnonly-chain.pem"), ""));
	snprintf(extra, sizeof(extra),
		 "[port Source:added]\nlisten = 127.0.0.1:%d\n"
		 "backend = 127.0.0.1:%d\ntransport = tls=1\n",
		 added, self->source_port);
	f = fopen(self->conf, "a");
	ASSERT_NE(NULL, f);
	fputs(extra, f);
	ASSERT_EQ(0, fclose(f));

	EXPECT_EQ(1, ctl_reload(self));
	snprintf(want, sizeof(want), "reload refused: port Source:added: cannot "
		 "listen on 127.0.0.1:%d: bind: Address already in use", added);
	EXPECT_EQ(1, tl_file_contains(self->out, want)) {
		char *text = tl_read_file(self->out);

		TH_LOG("ktlsctl said: %s", text ? text : "(nothing)");
		free(text);
	}
	ssl = tl_tls_connect(self->ctx, self->port);
	ASSERT_NE(NULL, ssl);
	peer_serial(ssl, again, sizeof(again));
	tl_tls_close(ssl);
	EXPECT_STREQ(serial, again);

	close(held);
	EXPECT_EQ(0, ctl_reload(self));
	ssl = tl_tls_connect(self->ctx, added);
	EXPECT_NE(NULL, ssl) {
		TH_LOG("the reload answered before port %d listened", added);
	}
	if (ssl)
		tl_tls_close(ssl);
}

TEST_HARNESS_MAIN
