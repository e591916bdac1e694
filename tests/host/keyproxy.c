// SPDX-License-Identifier: GPL-2.0
/*
 * Signing through the key holder, one signature scheme at a time: a server
 * context built by creds_server_ctx() (whose key is a keyproxy key, the
 * private half in a key holder process) makes a full handshake in memory
 * with a client that allows only one scheme, and the client verifies the
 * signature. ECDSA P-256 and P-384, RSA PKCS#1 v1.5 (TLS 1.2) and RSA-PSS
 * (TLS 1.2 and 1.3). A key holder that signed with the wrong key, scheme or
 * digest makes the client's verification fail.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "kselftest_harness.h"
#include "sec_opt.h"
#include "testlib.h"

static char key_dir[64];
static pid_t key_maker;

static const char *key_file(const char *name)
{
	return tl_path(key_dir, name);
}

/* A self-signed certificate NAME.crt for server.test, its key NAME.key
 * made by the openssl req options NEWKEY (NULL-terminated). */
static int make_cert(const char *name, const char *const *newkey)
{
	char key[128], crt[128];
	const char *argv[24] = { "openssl", "req", "-x509" };
	int n = 3;

	snprintf(key, sizeof(key), "%s/%s.key", key_dir, name);
	snprintf(crt, sizeof(crt), "%s/%s.crt", key_dir, name);
	for (; *newkey && n < 12; newkey++)
		argv[n++] = *newkey;
	argv[n++] = "-nodes";
	argv[n++] = "-days";
	argv[n++] = "2";
	argv[n++] = "-subj";
	argv[n++] = "/CN=server.test";
	argv[n++] = "-keyout";
	argv[n++] = key;
	argv[n++] = "-out";
	argv[n++] = crt;
	argv[n] = NULL;
	if (tl_run(argv, NULL, NULL, NULL, 60000) != 0)
		return -1;
	return chmod(key, 0600);
}

/* Once, before the cases fork. */
static void __attribute__((constructor)) make_keys(void)
{
	static const char *const p256[] = { "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:P-256", NULL };
	static const char *const p384[] = { "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:P-384", NULL };
	static const char *const rsa[] = { "-newkey", "rsa:2048", NULL };
	char *dir = tl_tmpdir();

	if (!dir)
		return;
	snprintf(key_dir, sizeof(key_dir), "%s", dir);
	free(dir);
	key_maker = getpid();
	if (make_cert("p256", p256) || make_cert("p384", p384) ||
	    make_cert("rsa", rsa))
		key_dir[0] = '\0';
}

static void __attribute__((destructor)) remove_keys(void)
{
	if (key_dir[0] && getpid() == key_maker)
		tl_rmtree(key_dir);
}

FIXTURE(keyproxy) {
	SSL_CTX *server, *client;
};

FIXTURE_VARIANT(keyproxy) {
	const char *name;	/* key and certificate files */
	int version;
	const char *sigalgs;	/* the only scheme the client accepts */
	const char *want;	/* the scheme the server must have signed with */
	const char *want_md;	/* and its digest */
};

FIXTURE_VARIANT_ADD(keyproxy, ecdsa_p256_tls13) {
	"p256", TLS1_3_VERSION, "ecdsa_secp256r1_sha256", "id-ecPublicKey", "SHA256" };
FIXTURE_VARIANT_ADD(keyproxy, ecdsa_p384_tls13) {
	"p384", TLS1_3_VERSION, "ecdsa_secp384r1_sha384", "id-ecPublicKey", "SHA384" };
FIXTURE_VARIANT_ADD(keyproxy, ecdsa_p384_tls12) {
	"p384", TLS1_2_VERSION, "ECDSA+SHA384", "id-ecPublicKey", "SHA384" };
FIXTURE_VARIANT_ADD(keyproxy, rsa_pss_tls13) {
	"rsa", TLS1_3_VERSION, "rsa_pss_rsae_sha256", "RSASSA-PSS", "SHA256" };
FIXTURE_VARIANT_ADD(keyproxy, rsa_pss_sha512_tls12) {
	"rsa", TLS1_2_VERSION, "rsa_pss_rsae_sha512", "RSASSA-PSS", "SHA512" };
FIXTURE_VARIANT_ADD(keyproxy, rsa_pkcs1_tls12) {
	"rsa", TLS1_2_VERSION, "RSA+SHA256", "rsaEncryption", "SHA256" };

FIXTURE_SETUP(keyproxy)
{
	static const struct ktlsd_config cfg = { .path = "keyproxy.conf" };
	struct cfg_port port = { .name = "Sign:secure", .line = 1 };
	char key[32], crt[32];

	ASSERT_NE(0, key_dir[0]);
	snprintf(key, sizeof(key), "%s.key", variant->name);
	snprintf(crt, sizeof(crt), "%s.crt", variant->name);
	tl_set_sec_opt(&port.effective, OPT_CERTIFICATE, key_file(crt), "keyproxy.conf");
	tl_set_sec_opt(&port.effective, OPT_CERTIFICATE_KEY, key_file(key), "keyproxy.conf");
	self->server = creds_server_ctx(&cfg, &port, stderr);
	ASSERT_NE(NULL, self->server);
	self->client = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->client);
	ASSERT_EQ(1, SSL_CTX_set_min_proto_version(self->client, variant->version));
	ASSERT_EQ(1, SSL_CTX_set_max_proto_version(self->client, variant->version));
	ASSERT_EQ(1, SSL_CTX_set1_sigalgs_list(self->client, variant->sigalgs));
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(self->client, key_file(crt), NULL));
	SSL_CTX_set_verify(self->client, SSL_VERIFY_PEER, NULL);
}

FIXTURE_TEARDOWN(keyproxy)
{
	SSL_CTX_free(self->server);
	SSL_CTX_free(self->client);
}

TEST_F(keyproxy, handshake_verifies)
{
	SSL *s = SSL_new(self->server), *c = SSL_new(self->client);
	/* The client first: it speaks first. */
	struct { SSL *ssl; const char *name; int done; } side[] = {
		{ c, "client", 0 }, { s, "server", 0 },
	};
	BIO *sb, *cb;
	int nid = 0;

	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(1, BIO_new_bio_pair(&sb, 0, &cb, 0));
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "server.test");
	for (int i = 0; i < 100 && !(side[0].done && side[1].done); i++) {
		for (int k = 0; k < 2; k++) {
			int r;

			if (side[k].done)
				continue;
			r = SSL_do_handshake(side[k].ssl);
			side[k].done = r == 1;
			ASSERT_TRUE(side[k].done ||
				    SSL_get_error(side[k].ssl, r) == SSL_ERROR_WANT_READ) {
				TH_LOG("%s: %s", side[k].name,
				       ERR_reason_error_string(ERR_peek_last_error()));
			}
		}
	}
	ASSERT_TRUE(side[0].done && side[1].done);
	EXPECT_EQ(X509_V_OK, SSL_get_verify_result(c));
	EXPECT_EQ(variant->version, SSL_version(c));
	/* The scheme the server signed with, as the client saw it. */
	ASSERT_EQ(1, SSL_get_peer_signature_type_nid(c, &nid));
	EXPECT_STREQ(variant->want, OBJ_nid2sn(nid));
	ASSERT_EQ(1, SSL_get_peer_signature_nid(c, &nid));
	EXPECT_STREQ(variant->want_md, OBJ_nid2sn(nid));
	SSL_free(s);
	SSL_free(c);
}

TEST_HARNESS_MAIN
