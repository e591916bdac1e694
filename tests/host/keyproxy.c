// SPDX-License-Identifier: GPL-2.0
/*
 * Signing through the key holder, one signature scheme at a time: a server
 * context built by creds_server_ctx() (whose key is a keyproxy key, the
 * private half in a key holder process) makes a full handshake in memory
 * with a client that allows only one scheme, and the client verifies the
 * signature. ECDSA P-256 and P-384, RSA PKCS#1 v1.5 (TLS 1.2) and RSA-PSS
 * (TLS 1.2 and 1.3). A key holder that signed with the wrong key, scheme or
 * digest makes the client's verification fail. And an answer that comes
 * after its signer gave up is taken by no later request.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "keyholder.h"
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

/*
 * A key holder that answers late: the signer gave up on its request, and
 * the answer to it comes just before the answer to the signer's next
 * request. The next signature must be the one over its own data: taking the
 * late answer would hand the next peer a signature over another handshake's
 * transcript. The stand-in key holder signs with the real key, reads both
 * requests before answering either, so the order of events is fixed.
 */
struct late_holder {
	int req, ans;		/* its ends of the sign channel */
	EVP_PKEY *key;
	int answered;		/* requests answered, 2 when all went well */
};

static int late_sign(struct late_holder *h, const unsigned char *msg)
{
	const struct kh_hdr *rh = (const void *)msg;
	struct kh_sign_req body;
	struct {
		struct kh_hdr h;
		unsigned char sig[KH_MAX_PAYLOAD];
	} a = { .h = { .type = KH_OK, .id = rh->id, .seq = rh->seq } };
	size_t siglen = sizeof(a.sig);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(h->key, NULL);
	int ok;

	memcpy(&body, msg + sizeof(*rh), sizeof(body));
	ok = ctx && EVP_PKEY_sign_init(ctx) == 1 &&
	     EVP_PKEY_sign(ctx, a.sig, &siglen, body.tbs, body.tbs_len) == 1;
	EVP_PKEY_CTX_free(ctx);
	a.h.len = (uint32_t)siglen;
	return ok && write(h->ans, &a, sizeof(a.h) + siglen) ==
		(ssize_t)(sizeof(a.h) + siglen) ? 0 : -1;
}

/* LEN bytes from FD; 0, or -1 at an error or end of file. */
static int read_whole(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void *late_holder_run(void *arg)
{
	struct late_holder *h = arg;
	unsigned char msg[2][sizeof(struct kh_hdr) + sizeof(struct kh_sign_req)];

	for (int i = 0; i < 2; i++)
		if (read_whole(h->req, msg[i], sizeof(msg[i])) != 0)
			return NULL;
	for (int i = 0; i < 2; i++)
		if (late_sign(h, msg[i]) == 0)
			h->answered++;
	return NULL;
}

static int proxy_sign(EVP_PKEY *key, const char *data, unsigned char *sig,
		      size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestSign(md, sig, siglen, (const unsigned char *)data,
				strlen(data)) == 1;

	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

TEST(late_answer_goes_to_no_one)
{
	struct late_holder h = { 0 };
	int req[2], ans[2];
	unsigned char der[512], *p = der, sig[256];
	const unsigned char *q = der;
	size_t siglen;
	EVP_PKEY *pub, *proxy;
	EVP_MD_CTX *md;
	pthread_t t;
	FILE *f;
	int len;

	ASSERT_NE(0, key_dir[0]);
	f = fopen(key_file("p256.key"), "r");
	ASSERT_NE(NULL, f);
	h.key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ASSERT_NE(NULL, h.key);
	len = i2d_PUBKEY(h.key, &p);
	ASSERT_GT(len, 0);
	pub = d2i_PUBKEY(NULL, &q, len);
	ASSERT_NE(NULL, pub);
	ASSERT_EQ(0, keyproxy_init());
	proxy = keyproxy_key(pub, 7);
	ASSERT_NE(NULL, proxy);
	ASSERT_EQ(0, pipe(req));
	ASSERT_EQ(0, pipe(ans));
	h.req = req[0];
	h.ans = ans[1];
	keyproxy_set_channel(0, (struct kh_signer){ req[1], ans[0] });
	keyproxy_set_answer_timeout(300);
	ASSERT_EQ(0, pthread_create(&t, NULL, late_holder_run, &h));

	siglen = sizeof(sig);
	/* Unanswered until the next request is in: the signer gives up. */
	EXPECT_FALSE(proxy_sign(proxy, "first handshake", sig, &siglen));
	/* The next one waits as long as a busy machine may need. */
	keyproxy_set_answer_timeout(KP_ANSWER_TIMEOUT_MS * 6);
	siglen = sizeof(sig);
	ASSERT_TRUE(proxy_sign(proxy, "second handshake", sig, &siglen));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(2, h.answered);	/* the late answer was sent */
	/* The signature is over the second handshake's data. */
	md = EVP_MD_CTX_new();
	ASSERT_NE(NULL, md);
	ASSERT_EQ(1, EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, h.key));
	EXPECT_EQ(1, EVP_DigestVerify(md, sig, siglen,
				      (const unsigned char *)"second handshake", 16));
	EVP_MD_CTX_free(md);
	keyproxy_close_signer(keyproxy_set_channel(0, (struct kh_signer){ -1, -1 }));
	close(req[0]);
	close(ans[1]);
	EVP_PKEY_free(proxy);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(h.key);
}

TEST_HARNESS_MAIN
