// SPDX-License-Identifier: GPL-2.0
/*
 * Certificate checks in real handshakes. Each row is one handshake between
 * an SSL made from creds_client_ctx()/creds_server_ctx() and a stock
 * `openssl s_server` / `openssl s_client` presenting a certificate from the
 * test PKI (tests/lib/pki.sh). Good rows must finish the handshake and move
 * a line both ways; bad rows must fail with the specific reason from
 * verify_failure_reason().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>

#include "config.h"
#include "sec_opt.h"
#include "pki.h"
#include "kselftest_harness.h"
#include "testlib.h"

#define PEER_TIMEOUT_MS 5000

static void __attribute__((constructor)) make_pki(void)
{
	pki_dir();	/* once, in the parent, before the cases fork */
}

FIXTURE(matrix) {
	struct ktlsd_config cfg;
	struct cfg_port port;
	struct cfg_connection conn;
	struct pki_peer peer;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

FIXTURE_VARIANT(matrix) {
	bool ktlsd_is_server;	/* else ktlsd is the client */
	const char *peer_cert;	/* what openssl presents (pki file names) */
	const char *peer_key;
	const char *peer_chain;	/* -cert_chain, NULL for none */
	const char *peer_extra;	/* one more openssl option, e.g. -tls1_2 */
	const char *own_cert;	/* ktlsd's certificate option (server side) */
	const char *cipher_list;	/* ktlsd's cipher-list option */
	int min_version, max_version;
	bool crl;
	bool name_check;
	const char *host;	/* ktlsd client's server_host */
	bool expect_ok;
	const char *reason;	/* expected prefix; NULL: not a cert problem */
};

/* ---- ktlsd as the client, s_server presents the certificate ---------- */
FIXTURE_VARIANT_ADD(matrix, good_server) {
	.peer_cert = "server.crt", .peer_chain = "int.crt",
	.name_check = true, .host = "server.test", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, host_case_insensitive) {
	.peer_cert = "server.crt", .peer_chain = "int.crt",
	.name_check = true, .host = "SERVER.Test", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, expired) {
	.peer_cert = "server-expired.crt", .peer_chain = "int.crt",
	.reason = "certificate has expired",
};
FIXTURE_VARIANT_ADD(matrix, not_yet_valid) {
	.peer_cert = "server-notyet.crt", .peer_chain = "int.crt",
	.reason = "certificate is not yet valid",
};
FIXTURE_VARIANT_ADD(matrix, unknown_ca) {
	.peer_cert = "server-unknownca.crt",
	.reason = "unknown CA or broken chain",
};
FIXTURE_VARIANT_ADD(matrix, intermediate_missing) {
	.peer_cert = "server.crt",
	.reason = "unknown CA or broken chain (unable to get local issuer certificate)",
};
FIXTURE_VARIANT_ADD(matrix, revoked) {
	.peer_cert = "server-revoked.crt", .peer_chain = "int.crt", .crl = true,
	.reason = "certificate revoked",
};
FIXTURE_VARIANT_ADD(matrix, not_revoked_with_crl) {
	.peer_cert = "server.crt", .peer_chain = "int.crt", .crl = true,
	.expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, server_without_serverauth) {
	.peer_cert = "server-noeku.crt", .peer_chain = "int.crt",
	.reason = "certificate not for TLS server use (extendedKeyUsage lacks serverAuth)",
};
FIXTURE_VARIANT_ADD(matrix, sha1_signed) {
	.peer_cert = "server-sha1.crt", .peer_chain = "int.crt",
	.peer_extra = "-cipher", /* value follows in setup: SECLEVEL=0 */
	.reason = "certificate signed with SHA-1 (weak hash)",
};
FIXTURE_VARIANT_ADD(matrix, sha1_signed_at_security_level_0) {
	/* OpenSSL itself lets SHA-1 through at level 0: verify.c must not */
	.peer_cert = "server-sha1.crt", .peer_chain = "int.crt",
	.peer_extra = "-cipher", .cipher_list = "DEFAULT:@SECLEVEL=0",
	.reason = "certificate signed with SHA-1 (weak hash)",
};
FIXTURE_VARIANT_ADD(matrix, wrong_host) {
	.peer_cert = "server-wronghost.crt", .peer_chain = "int.crt",
	.name_check = true, .host = "server.test",
	.reason = "host name mismatch: wanted server.test, certificate has SAN DNS:other.test",
};
FIXTURE_VARIANT_ADD(matrix, wrong_host_not_checked) {
	.peer_cert = "server-wronghost.crt", .peer_chain = "int.crt",
	.name_check = false, .host = "server.test", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, cn_only_matches) {
	.peer_cert = "server-cnonly.crt", .peer_chain = "int.crt",
	.name_check = true, .host = "server.test", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, wildcard_refused) {
	.peer_cert = "server-wildcard.crt", .peer_chain = "int.crt",
	.name_check = true, .host = "server.test",
	.reason = "wildcard names are not accepted",
};
FIXTURE_VARIANT_ADD(matrix, client_pinned_13_server_12) {
	.peer_cert = "server.crt", .peer_chain = "int.crt", .peer_extra = "-tls1_2",
	.min_version = TLS1_3_VERSION, .max_version = TLS1_3_VERSION,
};
FIXTURE_VARIANT_ADD(matrix, client_pinned_12_server_12) {
	.peer_cert = "server.crt", .peer_chain = "int.crt", .peer_extra = "-tls1_2",
	.min_version = TLS1_2_VERSION, .max_version = TLS1_2_VERSION,
	.expect_ok = true,
};

/* ---- ktlsd as a mutual-TLS server, s_client presents the certificate -- */
FIXTURE_VARIANT_ADD(matrix, good_client) {
	.ktlsd_is_server = true, .peer_cert = "client.crt", .peer_chain = "int.crt",
	.own_cert = "server.crt, int.crt", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, own_chain_out_of_order) {
	.ktlsd_is_server = true, .peer_cert = "client.crt", .peer_chain = "int.crt",
	.own_cert = "server-chain-rev.pem", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, own_chain_in_two_files_reversed) {
	.ktlsd_is_server = true, .peer_cert = "client.crt", .peer_chain = "int.crt",
	.own_cert = "int.crt,server.crt", .expect_ok = true,
};
FIXTURE_VARIANT_ADD(matrix, own_chain_without_intermediate) {
	/* proves s_client checks ktlsd's chain: the good rows above mean it */
	.ktlsd_is_server = true, .peer_cert = "client.crt", .peer_chain = "int.crt",
	.own_cert = "server.crt",
};
FIXTURE_VARIANT_ADD(matrix, client_without_clientauth) {
	.ktlsd_is_server = true, .peer_cert = "client-noeku.crt", .peer_chain = "int.crt",
	.own_cert = "server-chain.pem",
	.reason = "certificate not for TLS client use (extendedKeyUsage lacks clientAuth)",
};
FIXTURE_VARIANT_ADD(matrix, client_without_certificate) {
	.ktlsd_is_server = true, .own_cert = "server-chain.pem",
	.reason = "peer sent no certificate",
};
FIXTURE_VARIANT_ADD(matrix, client_expired) {
	.ktlsd_is_server = true, .peer_cert = "client-expired.crt", .peer_chain = "int.crt",
	.own_cert = "server-chain.pem", .reason = "certificate has expired",
};
FIXTURE_VARIANT_ADD(matrix, server_pinned_13_client_12) {
	.ktlsd_is_server = true, .peer_cert = "client.crt", .peer_chain = "int.crt",
	.own_cert = "server-chain.pem", .peer_extra = "-tls1_2",
	.min_version = TLS1_3_VERSION, .max_version = TLS1_3_VERSION,
};
FIXTURE_VARIANT_ADD(matrix, server_pinned_13_client_13) {
	.ktlsd_is_server = true, .peer_cert = "client.crt", .peer_chain = "int.crt",
	.own_cert = "server-chain.pem", .peer_extra = "-tls1_3",
	.min_version = TLS1_3_VERSION, .max_version = TLS1_3_VERSION,
	.expect_ok = true,
};

static void set_opt(struct cfg_security *sec, enum sec_option opt,
		    const char *value)
{
	tl_set_sec_opt(sec, opt, value, "certs_matrix.conf");
}

/* Fill argv with the peer's certificate options; returns the next index. */
static int peer_cert_args(const FIXTURE_VARIANT(matrix) *v, const char **argv,
			  int n)
{
	if (v->peer_cert) {
		argv[n++] = "-cert";
		argv[n++] = pki_file(v->peer_cert);
		argv[n++] = "-key";
		argv[n++] = pki_file(v->peer_key ? v->peer_key :
				     v->ktlsd_is_server ? "client.key" : "server.key");
	}
	if (v->peer_chain) {
		argv[n++] = "-cert_chain";
		argv[n++] = pki_file(v->peer_chain);
	}
	if (v->peer_extra) {
		argv[n++] = v->peer_extra;
		if (!strcmp(v->peer_extra, "-cipher"))
			argv[n++] = "DEFAULT:@SECLEVEL=0";
	}
	return n;
}

static void setup_client(struct __test_metadata *_metadata,
			 FIXTURE_DATA(matrix) *self,
			 const FIXTURE_VARIANT(matrix) *variant)
{
	const char *args[32];

	self->conn.name = "Client->Server";
	self->conn.server_host = (char *)(variant->host ? variant->host : "server.test");
	self->conn.target_name_check = variant->name_check;
	self->conn.versions.min_version = variant->min_version;
	self->conn.versions.max_version = variant->max_version;
	set_opt(&self->conn.effective, OPT_TRUSTED_CA, pki_file("root.crt"));
	if (variant->crl)
		set_opt(&self->conn.effective, OPT_TLS_CRL, pki_file("crl.pem"));
	if (variant->cipher_list)
		set_opt(&self->conn.effective, OPT_CIPHER_LIST, variant->cipher_list);
	self->ctx = creds_client_ctx(&self->cfg, &self->conn, stderr);
	ASSERT_NE(NULL, self->ctx);

	args[peer_cert_args(variant, args, 0)] = NULL;
	self->fd = pki_peer_server_for_us(&self->peer, args, PEER_TIMEOUT_MS);
	ASSERT_LE(0, self->fd) {
		TH_LOG("s_server: %s", self->peer.seen);
	}

	self->ssl = SSL_new(self->ctx);
	ASSERT_NE(NULL, self->ssl);
	ASSERT_EQ(0, creds_client_prepare(self->ssl, &self->conn));
	SSL_set_fd(self->ssl, self->fd);
}

static void setup_server(struct __test_metadata *_metadata,
			 FIXTURE_DATA(matrix) *self,
			 const FIXTURE_VARIANT(matrix) *variant)
{
	static char own[4][512];
	const char *args[32];
	int n = 0;

	/* own_cert may list several files: prefix each with the PKI dir */
	snprintf(own[0], sizeof(own[0]), "%s", variant->own_cert);
	own[1][0] = '\0';
	for (char *save = NULL, *tok = strtok_r(own[0], ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		size_t used = strlen(own[1]);

		snprintf(own[1] + used, sizeof(own[1]) - used, "%s%s",
			 used ? ", " : "", pki_file(tok));
	}
	self->port.name = "Server:secure";
	self->port.mutual = true;
	self->port.versions.min_version = variant->min_version;
	self->port.versions.max_version = variant->max_version;
	set_opt(&self->port.effective, OPT_CERTIFICATE, own[1]);
	set_opt(&self->port.effective, OPT_CERTIFICATE_KEY, pki_file("server.key"));
	set_opt(&self->port.effective, OPT_TRUSTED_CA, pki_file("root.crt"));
	self->ctx = creds_server_ctx(&self->cfg, &self->port, stderr);
	ASSERT_NE(NULL, self->ctx);

	/* s_client checks ktlsd's chain and name strictly: a bad chain fails */
	args[n++] = "-CAfile";
	args[n++] = pki_file("root.crt");
	args[n++] = "-verify_return_error";
	args[n++] = "-verify_hostname";
	args[n++] = "server.test";
	args[peer_cert_args(variant, args, n)] = NULL;
	self->fd = pki_peer_client_of_us(&self->peer, args, PEER_TIMEOUT_MS);
	ASSERT_LE(0, self->fd) {
		TH_LOG("s_client: %s", self->peer.seen);
	}
	self->ssl = SSL_new(self->ctx);
	ASSERT_NE(NULL, self->ssl);
	SSL_set_fd(self->ssl, self->fd);
}

FIXTURE_SETUP(matrix)
{
	signal(SIGPIPE, SIG_IGN);
	self->fd = -1;
	self->peer.pid = -1;
	self->cfg.path = "certs_matrix.conf";
	ASSERT_NE(NULL, pki_dir());
	if (variant->ktlsd_is_server)
		setup_server(_metadata, self, variant);
	else
		setup_client(_metadata, self, variant);
}

FIXTURE_TEARDOWN(matrix)
{
	SSL_free(self->ssl);
	SSL_CTX_free(self->ctx);
	if (self->fd >= 0)
		close(self->fd);
	pki_peer_stop(&self->peer);
}

/* A line from ktlsd to the peer, one from the peer to ktlsd. */
static void exchange_lines(struct __test_metadata *_metadata,
			   FIXTURE_DATA(matrix) *self)
{
	char buf[64] = "";
	int got = 0;

	ASSERT_EQ(11, SSL_write(self->ssl, "from-ktlsd\n", 11));
	ASSERT_EQ(0, pki_peer_wait_for(&self->peer, "from-ktlsd", PEER_TIMEOUT_MS)) {
		TH_LOG("peer: %s", self->peer.seen);
	}
	ASSERT_EQ(10, write(self->peer.in_fd, "from-peer\n", 10));
	while (got < 10) {
		int r = SSL_read(self->ssl, buf + got, sizeof(buf) - 1 - got);

		ASSERT_LT(0, r);
		got += r;
	}
	EXPECT_STREQ("from-peer\n", buf);
}

TEST_F(matrix, handshake)
{
	int rc = variant->ktlsd_is_server ? SSL_accept(self->ssl)
					  : SSL_connect(self->ssl);
	const char *reason = verify_failure_reason(self->ssl);

	if (variant->expect_ok) {
		ASSERT_EQ(1, rc) {
			TH_LOG("reason: %s; peer: %s", reason ? reason : "-",
			       self->peer.seen);
		}
		EXPECT_EQ(NULL, reason);
		if (variant->max_version)
			EXPECT_EQ(variant->max_version, SSL_version(self->ssl));
		exchange_lines(_metadata, self);
		return;
	}
	EXPECT_NE(1, rc);
	if (variant->reason) {
		ASSERT_NE(NULL, reason);
		EXPECT_EQ(0, strncmp(reason, variant->reason, strlen(variant->reason))) {
			TH_LOG("reason: \"%s\", wanted \"%s\"", reason, variant->reason);
		}
	} else {
		/* a version refusal, not a certificate problem */
		EXPECT_EQ(NULL, reason) {
			TH_LOG("reason: %s", reason);
		}
		EXPECT_NE(0, ERR_peek_error());
	}
	ERR_clear_error();
}

TEST_HARNESS_MAIN
