// SPDX-License-Identifier: GPL-2.0
/*
 * Loading credentials: formats (PEM, DER, PKCS#12), chains, several CAs in
 * one file, and the errors and warnings about the daemon's own files, with
 * the "FILE:LINE: error: [LEVEL] OPTION: message" shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/x509.h>

#include "config.h"
#include "sec_opt.h"
#include "pki.h"
#include "kselftest_harness.h"

static void __attribute__((constructor)) make_pki(void)
{
	pki_dir();
}

/* Diagnostics are captured in memory. */
struct capture {
	FILE *f;
	char *text;
	size_t len;
};

static void capture_start(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->text, &c->len);
}

static const char *capture_end(struct capture *c)
{
	fclose(c->f);
	return c->text;
}

static void set_opt(struct cfg_security *sec, enum sec_option opt,
		    const char *value)
{
	tl_set_sec_opt(sec, opt, value, "certs_load.conf");
}

static const struct ktlsd_config cfg = { .path = "certs_load.conf" };

static SSL_CTX *server_ctx(const char *cert, const char *key, const char *ca,
			   bool mutual, struct capture *diag)
{
	struct cfg_port port = { .name = "S:secure", .mutual = mutual, .line = 7 };

	set_opt(&port.effective, OPT_CERTIFICATE, cert);
	if (key)
		set_opt(&port.effective, OPT_CERTIFICATE_KEY, key);
	if (ca)
		set_opt(&port.effective, OPT_TRUSTED_CA, ca);
	capture_start(diag);
	return creds_server_ctx(&cfg, &port, diag->f);
}

enum outcome { REFUSED, LOADED };

/* A plain server port with CERT and KEY: whether its context is made and
 * a diagnostic holding WANT. */
static void expect_server_ctx(struct __test_metadata *_metadata, const char *cert,
			      const char *key, enum outcome outcome, const char *want)
{
	struct capture d;
	SSL_CTX *ctx = server_ctx(cert, key, NULL, false, &d);
	const char *out = capture_end(&d);

	EXPECT_EQ(outcome == LOADED, ctx != NULL);
	EXPECT_NE(NULL, strstr(out, want)) {
		TH_LOG("diag: %s", out);
	}
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(key_mismatch_names_both_files)
{
	char want[2048];

	snprintf(want, sizeof(want),
		 "certs_load.conf:11: error: [port] certificate-key: the private key in %s does not match the certificate in %s\n",
		 pki_file("client.key"), pki_file("server.crt"));
	expect_server_ctx(_metadata, pki_file("server.crt"), pki_file("client.key"),
			  REFUSED, want);
}

/* A key file open to group or others is refused, naming the mode and the
 * fix, unless the operator allows it explicitly. */
TEST(group_readable_key_is_refused)
{
	char key[] = "/tmp/ktlsd-key.XXXXXX";
	char cmd[512], want[256];
	struct ktlsd_config lax = { .path = "certs_load.conf" };
	struct cfg_port port = { .name = "S:secure", .line = 7 };
	struct capture d;
	SSL_CTX *ctx;
	const char *out;
	int fd = mkstemp(key);

	ASSERT_LE(0, fd);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cp %s %s", pki_file("server.key"), key);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, chmod(key, 0640));
	ctx = server_ctx(pki_file("server-chain.pem"), key, NULL, false, &d);
	out = capture_end(&d);
	EXPECT_EQ(NULL, ctx);
	snprintf(want, sizeof(want),
		 "certs_load.conf:11: error: [port] certificate-key: %s has mode 0640: "
		 "a private key must be readable by its owner only; run chmod 600 %s",
		 key, key);
	EXPECT_NE(NULL, strstr(out, want)) {
		TH_LOG("diag: %s", out);
	}
	free(d.text);
	SSL_CTX_free(ctx);
	/* allow-insecure-key-permissions = yes: taken */
	lax.daemon.allow_insecure_key_permissions = true;
	set_opt(&port.effective, OPT_CERTIFICATE, pki_file("server-chain.pem"));
	set_opt(&port.effective, OPT_CERTIFICATE_KEY, key);
	capture_start(&d);
	ctx = creds_server_ctx(&lax, &port, d.f);
	out = capture_end(&d);
	EXPECT_NE(NULL, ctx) {
		TH_LOG("diag: %s", out);
	}
	free(d.text);
	SSL_CTX_free(ctx);
	/* the same key, mode 0600: silent */
	ASSERT_EQ(0, chmod(key, 0600));
	ctx = server_ctx(pki_file("server-chain.pem"), key, NULL, false, &d);
	out = capture_end(&d);
	EXPECT_NE(NULL, ctx);
	EXPECT_STREQ("", out);
	free(d.text);
	SSL_CTX_free(ctx);
	unlink(key);
}

TEST(expiring_soon_warns)
{
	struct capture d;
	SSL_CTX *ctx = server_ctx(pki_file("server-soon-chain.pem"),
				  pki_file("server.key"), NULL, false, &d);
	const char *out = capture_end(&d);

	EXPECT_NE(NULL, ctx);
	EXPECT_NE(NULL, strstr(out, "certs_load.conf:10: warning: [port] certificate: certificate expires in ")) {
		TH_LOG("diag: %s", out);
	}
	EXPECT_TRUE(strstr(out, " 9 days") || strstr(out, " 10 days"));
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(own_certificate_without_serverauth_warns)
{
	expect_server_ctx(_metadata, pki_file("server-noeku-chain.pem"),
			  pki_file("server.key"), LOADED,
			  "certs_load.conf:10: warning: [port] certificate: certificate is not for TLS server use (extendedKeyUsage lacks serverAuth)");
}

TEST(own_expired_is_error)
{
	expect_server_ctx(_metadata, pki_file("server-expired-chain.pem"),
			  pki_file("server.key"), REFUSED,
			  "certs_load.conf:10: error: [port] certificate: certificate has expired\n");
}

TEST(own_not_yet_valid_is_error)
{
	expect_server_ctx(_metadata, pki_file("server-notyet-chain.pem"),
			  pki_file("server.key"), REFUSED,
			  "error: [port] certificate: certificate is not yet valid");
}

static void expect_leaf_cn(struct __test_metadata *_metadata, SSL_CTX *ctx,
			   const char *cn)
{
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	char buf[128] = "";

	ASSERT_NE(NULL, leaf);
	X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName,
				  buf, sizeof(buf));
	EXPECT_STREQ(cn, buf);
}

TEST(der_certificate_and_key)
{
	struct capture d;
	SSL_CTX *ctx = server_ctx(pki_file("server.der"), pki_file("server-key.der"),
				  NULL, false, &d);
	const char *out = capture_end(&d);

	ASSERT_NE(NULL, ctx) {
		TH_LOG("diag: %s", out);
	}
	expect_leaf_cn(_metadata, ctx, "server.test");
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(pkcs12_without_passphrase)
{
	struct capture d;
	STACK_OF(X509) *chain = NULL;
	SSL_CTX *ctx = server_ctx(pki_file("server.p12"), NULL, NULL, false, &d);
	const char *out = capture_end(&d);

	ASSERT_NE(NULL, ctx) {
		TH_LOG("diag: %s", out);
	}
	expect_leaf_cn(_metadata, ctx, "server.test");
	/* the intermediate bundled in the PKCS#12 is sent as the chain */
	ASSERT_EQ(1, SSL_CTX_get0_chain_certs(ctx, &chain));
	EXPECT_EQ(1, sk_X509_num(chain));
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(leaf_is_the_cert_matching_the_key)
{
	struct capture d;
	STACK_OF(X509) *chain = NULL;
	char list[2048];
	SSL_CTX *ctx;

	snprintf(list, sizeof(list), "%s , %s", pki_file("int.crt"),
		 pki_file("server.crt"));
	ctx = server_ctx(list, pki_file("server.key"), NULL, false, &d);
	capture_end(&d);
	ASSERT_NE(NULL, ctx);
	expect_leaf_cn(_metadata, ctx, "server.test");
	ASSERT_EQ(1, SSL_CTX_get0_chain_certs(ctx, &chain));
	EXPECT_EQ(1, sk_X509_num(chain));
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(several_cas_in_one_file)
{
	struct capture d;
	SSL_CTX *ctx = server_ctx(pki_file("server-chain.pem"), pki_file("server.key"),
				  pki_file("cas.pem"), true, &d);
	const char *out = capture_end(&d);

	ASSERT_NE(NULL, ctx) {
		TH_LOG("diag: %s", out);
	}
	/* both roots are trusted and announced to clients */
	EXPECT_EQ(2, sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx))));
	EXPECT_EQ(2, sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx)));
	EXPECT_EQ(SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		  SSL_CTX_get_verify_mode(ctx));
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(mutual_server_needs_trusted_ca)
{
	struct capture d;
	SSL_CTX *ctx = server_ctx(pki_file("server-chain.pem"), pki_file("server.key"),
				  NULL, true, &d);
	const char *out = capture_end(&d);

	EXPECT_EQ(NULL, ctx);
	/* unset option: the port's own line is named */
	EXPECT_NE(NULL, strstr(out, "certs_load.conf:7: error: [default] trusted-ca: not set")) {
		TH_LOG("diag: %s", out);
	}
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(defaults_tls12_floor_no_renegotiation)
{
	struct capture d;
	SSL_CTX *ctx = server_ctx(pki_file("server-chain.pem"), pki_file("server.key"),
				  NULL, false, &d);

	capture_end(&d);
	ASSERT_NE(NULL, ctx);
	EXPECT_EQ(TLS1_2_VERSION, SSL_CTX_get_min_proto_version(ctx));
	EXPECT_TRUE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	EXPECT_TRUE(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	EXPECT_EQ(SSL_VERIFY_NONE, SSL_CTX_get_verify_mode(ctx));
	free(d.text);
	SSL_CTX_free(ctx);
}

static SSL_CTX *client_ctx(struct cfg_connection *conn, struct capture *d)
{
	capture_start(d);
	return creds_client_ctx(&cfg, conn, d->f);
}

TEST(ip_target_with_name_check_is_error)
{
	struct cfg_connection conn = { .name = "C->S", .server_host = "10.0.0.1",
				       .target_name_check = true, .line = 30 };
	struct capture d;
	SSL_CTX *ctx;
	const char *out;

	set_opt(&conn.effective, OPT_TRUSTED_CA, pki_file("root.crt"));
	set_opt(&conn.effective, OPT_TLS_TARGET_NAME_CHECK, "host");
	ctx = client_ctx(&conn, &d);
	out = capture_end(&d);
	EXPECT_EQ(NULL, ctx);
	EXPECT_NE(NULL, strstr(out, "certs_load.conf:18: error: [port] tls-target-name-check: ")) {
		TH_LOG("diag: %s", out);
	}
	EXPECT_NE(NULL, strstr(out, "FQDN"));
	free(d.text);
	SSL_CTX_free(ctx);

	/* without the check an address is fine */
	conn.target_name_check = false;
	ctx = client_ctx(&conn, &d);
	capture_end(&d);
	EXPECT_NE(NULL, ctx);
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(client_needs_trusted_ca_and_verifies_peer)
{
	struct cfg_connection conn = { .name = "C->S", .server_host = "server.test",
				       .line = 30 };
	struct capture d;
	SSL_CTX *ctx = client_ctx(&conn, &d);
	const char *out = capture_end(&d);

	EXPECT_EQ(NULL, ctx);
	EXPECT_NE(NULL, strstr(out, "certs_load.conf:30: error: [default] trusted-ca: not set"));
	free(d.text);
	SSL_CTX_free(ctx);

	set_opt(&conn.effective, OPT_TRUSTED_CA, pki_file("cas.pem"));
	ctx = client_ctx(&conn, &d);
	capture_end(&d);
	ASSERT_NE(NULL, ctx);
	EXPECT_EQ(SSL_VERIFY_PEER, SSL_CTX_get_verify_mode(ctx));
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(cipher_list_mixed_and_bad)
{
	struct cfg_connection conn = { .name = "C->S", .server_host = "server.test" };
	struct capture d;
	SSL_CTX *ctx;
	const char *out;

	set_opt(&conn.effective, OPT_TRUSTED_CA, pki_file("root.crt"));
	set_opt(&conn.effective, OPT_CIPHER_LIST,
		"TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES256-GCM-SHA384");
	ctx = client_ctx(&conn, &d);
	out = capture_end(&d);
	ASSERT_NE(NULL, ctx) {
		TH_LOG("diag: %s", out);
	}
	free(d.text);
	SSL_CTX_free(ctx);

	set_opt(&conn.effective, OPT_CIPHER_LIST, "NO-SUCH-CIPHER");
	ctx = client_ctx(&conn, &d);
	out = capture_end(&d);
	EXPECT_EQ(NULL, ctx);
	EXPECT_NE(NULL, strstr(out, "error: [port] cipher-list: no usable TLS 1.2 cipher"));
	free(d.text);
	SSL_CTX_free(ctx);
}

TEST(unreadable_file_is_named)
{
	expect_server_ctx(_metadata, "/nonexistent/cert.pem", pki_file("server.key"),
			  REFUSED,
			  "certs_load.conf:10: error: [port] certificate: cannot read /nonexistent/cert.pem: No such file or directory");
}

TEST_HARNESS_MAIN
