// SPDX-License-Identifier: GPL-2.0
/*
 * The TLS 1.2 cipher suites ktlsd offers, as a server and as a client, in
 * real handshakes with `openssl s_client` / `openssl s_server` restricted
 * to one suite. Without cipher-list only ECDHE with AES-GCM or
 * ChaCha20-Poly1305 (what the kernel can take over) may be agreed; a CBC,
 * plain-RSA or DHE suite must be refused, and accepted once cipher-list
 * names it. The certificate is RSA so that plain-RSA and DHE-RSA suites
 * are possible at all: only the cipher list can refuse them.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>

#include "config.h"
#include "sec_opt.h"
#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

#define PEER_TIMEOUT_MS 10000

static char rsa_dir[64];
static pid_t rsa_maker;

static const char *rsa_file(const char *name)
{
	return tl_path(rsa_dir, name);
}

/* Once, in the parent before the cases fork: a self-signed RSA server
 * certificate for server.test. */
static void __attribute__((constructor)) make_rsa_cert(void)
{
	char *dir = tl_tmpdir();
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048",
			       "-nodes", "-days", "2", "-subj", "/CN=server.test",
			       "-addext", "subjectAltName=DNS:server.test",
			       "-keyout", NULL, "-out", NULL, NULL };

	if (!dir)
		return;
	snprintf(rsa_dir, sizeof(rsa_dir), "%s", dir);
	free(dir);
	rsa_maker = getpid();
	argv[13] = rsa_file("rsa.key");
	argv[15] = rsa_file("rsa.crt");
	if (tl_run(argv, NULL, NULL, NULL, 60000) != 0) {
		tl_rmtree(rsa_dir);
		rsa_dir[0] = '\0';
	}
}

static void __attribute__((destructor)) remove_rsa_cert(void)
{
	/* Only in the process that made it, not in each forked case. */
	if (rsa_dir[0] && getpid() == rsa_maker)
		tl_rmtree(rsa_dir);
}

FIXTURE(ciphers) {
	struct ktlsd_config cfg;
	struct cfg_port port;
	struct cfg_connection conn;
	struct pki_peer peer;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

FIXTURE_VARIANT(ciphers) {
	bool ktlsd_is_server;	/* else ktlsd is the client */
	const char *suite;	/* the only TLS 1.2 suite the peer allows */
	const char *cipher_list;	/* ktlsd's cipher-list; NULL: default */
	bool expect_ok;
};

#define ROWS(side, is_server)						\
FIXTURE_VARIANT_ADD(ciphers, side##_default_ecdhe_aes_gcm) {		\
	.ktlsd_is_server = is_server, .suite = "ECDHE-RSA-AES128-GCM-SHA256", \
	.expect_ok = true };						\
FIXTURE_VARIANT_ADD(ciphers, side##_default_ecdhe_chacha20) {		\
	.ktlsd_is_server = is_server, .suite = "ECDHE-RSA-CHACHA20-POLY1305", \
	.expect_ok = true };						\
FIXTURE_VARIANT_ADD(ciphers, side##_default_refuses_cbc) {		\
	.ktlsd_is_server = is_server, .suite = "ECDHE-RSA-AES128-SHA" };	\
FIXTURE_VARIANT_ADD(ciphers, side##_default_refuses_plain_rsa) {	\
	.ktlsd_is_server = is_server, .suite = "AES128-GCM-SHA256" };	\
FIXTURE_VARIANT_ADD(ciphers, side##_default_refuses_dhe) {		\
	.ktlsd_is_server = is_server, .suite = "DHE-RSA-AES128-GCM-SHA256" }; \
FIXTURE_VARIANT_ADD(ciphers, side##_configured_cbc) {			\
	.ktlsd_is_server = is_server, .suite = "ECDHE-RSA-AES128-SHA",	\
	.cipher_list = "ECDHE-RSA-AES128-SHA", .expect_ok = true };	\
/* A server never offers RSA key exchange: decrypting the premaster	\
 * secret would need the private key, which only the key holder has. */ \
FIXTURE_VARIANT_ADD(ciphers, side##_configured_plain_rsa) {		\
	.ktlsd_is_server = is_server, .suite = "AES128-GCM-SHA256",	\
	.cipher_list = "ECDHE+AESGCM:AES128-GCM-SHA256",		\
	.expect_ok = !is_server };					\
FIXTURE_VARIANT_ADD(ciphers, side##_configured_dhe) {			\
	.ktlsd_is_server = is_server, .suite = "DHE-RSA-AES128-GCM-SHA256", \
	.cipher_list = "DHE-RSA-AES128-GCM-SHA256", .expect_ok = true };

ROWS(server, true)
ROWS(client, false)

static void set_opt(struct cfg_security *sec, enum sec_option opt,
		    const char *value)
{
	tl_set_sec_opt(sec, opt, value, "ciphers.conf");
}

/* ktlsd's side as a server port; s_client offers only the variant's suite. */
static void setup_server(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ciphers) *self,
			 const FIXTURE_VARIANT(ciphers) *variant)
{
	const char *args[] = { "-tls1_2", "-cipher", variant->suite,
			       "-CAfile", rsa_file("rsa.crt"), "-verify_return_error",
			       NULL };

	self->port.name = "Server:secure";
	set_opt(&self->port.effective, OPT_CERTIFICATE, rsa_file("rsa.crt"));
	set_opt(&self->port.effective, OPT_CERTIFICATE_KEY, rsa_file("rsa.key"));
	if (variant->cipher_list)
		set_opt(&self->port.effective, OPT_CIPHER_LIST, variant->cipher_list);
	self->ctx = creds_server_ctx(&self->cfg, &self->port, stderr);
	ASSERT_NE(NULL, self->ctx);

	self->fd = pki_peer_client_of_us(&self->peer, args, PEER_TIMEOUT_MS);
	ASSERT_LE(0, self->fd) {
		TH_LOG("s_client: %s", self->peer.seen);
	}
	self->ssl = SSL_new(self->ctx);
	ASSERT_NE(NULL, self->ssl);
	SSL_set_fd(self->ssl, self->fd);
}

/* ktlsd's side as a client connection; s_server accepts only the suite. */
static void setup_client(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ciphers) *self,
			 const FIXTURE_VARIANT(ciphers) *variant)
{
	const char *args[] = { "-tls1_2", "-cipher", variant->suite,
			       "-cert", rsa_file("rsa.crt"), "-key", rsa_file("rsa.key"),
			       NULL };

	self->conn.name = "Client->Server";
	set_opt(&self->conn.effective, OPT_TRUSTED_CA, rsa_file("rsa.crt"));
	if (variant->cipher_list)
		set_opt(&self->conn.effective, OPT_CIPHER_LIST, variant->cipher_list);
	self->ctx = creds_client_ctx(&self->cfg, &self->conn, stderr);
	ASSERT_NE(NULL, self->ctx);

	self->fd = pki_peer_server_for_us(&self->peer, args, PEER_TIMEOUT_MS);
	ASSERT_LE(0, self->fd) {
		TH_LOG("s_server: %s", self->peer.seen);
	}
	self->ssl = SSL_new(self->ctx);
	ASSERT_NE(NULL, self->ssl);
	SSL_set_fd(self->ssl, self->fd);
}

FIXTURE_SETUP(ciphers)
{
	signal(SIGPIPE, SIG_IGN);
	self->fd = -1;
	self->peer.pid = -1;
	self->cfg.path = "ciphers.conf";
	ASSERT_NE(0, rsa_dir[0]);
	if (variant->ktlsd_is_server)
		setup_server(_metadata, self, variant);
	else
		setup_client(_metadata, self, variant);
}

FIXTURE_TEARDOWN(ciphers)
{
	SSL_free(self->ssl);
	SSL_CTX_free(self->ctx);
	if (self->fd >= 0)
		close(self->fd);
	pki_peer_stop(&self->peer);
}

TEST_F(ciphers, tls12_handshake)
{
	int rc = variant->ktlsd_is_server ? SSL_accept(self->ssl)
					  : SSL_connect(self->ssl);

	if (!variant->expect_ok) {
		EXPECT_NE(1, rc) {
			TH_LOG("%s was agreed without cipher-list",
			       SSL_get_cipher_name(self->ssl));
		}
		ERR_clear_error();
		return;
	}
	ASSERT_EQ(1, rc) {
		TH_LOG("handshake failed; peer: %s", self->peer.seen);
	}
	EXPECT_EQ(TLS1_2_VERSION, SSL_version(self->ssl));
	EXPECT_STREQ(variant->suite, SSL_get_cipher_name(self->ssl));
}

TEST_HARNESS_MAIN
