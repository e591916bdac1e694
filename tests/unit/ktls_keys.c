// SPDX-License-Identifier: GPL-2.0
/*
 * Key derivation for kernel TLS, checked three ways:
 *  - against RFC 8448's published TLS 1.3 trace (exact key and IV bytes);
 *  - against OpenSSL's own record layer: after a real in-memory handshake
 *    a record is sealed with the derived keys exactly as the kernel would
 *    (nonce and AAD built here from the crypto_info fields) and the peer's
 *    SSL_read must open it, in both directions, for two records in a row;
 *  - the cipher table against OpenSSL's suite definitions, the "cannot be
 *    offloaded" reasons, and the keylog parser.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "ktls.h"

static const unsigned char rfc8448_client_secret[32] = {
	0x9e, 0x40, 0x64, 0x6c, 0xe7, 0x9a, 0x7f, 0x9d, 0xc0, 0x5a, 0xf8,
	0x88, 0x9b, 0xce, 0x65, 0x52, 0x87, 0x5a, 0xfa, 0x0b, 0x06, 0xdf,
	0x00, 0x87, 0xf7, 0x92, 0xeb, 0xb7, 0xc1, 0x75, 0x04, 0xa5 };
static const unsigned char rfc8448_client_key[16] = {
	0x17, 0x42, 0x2d, 0xda, 0x59, 0x6e, 0xd5, 0xd9, 0xac, 0xd8, 0x90,
	0xe3, 0xc6, 0x3f, 0x50, 0x51 };
static const unsigned char rfc8448_client_iv[12] = {
	0x5b, 0x78, 0x92, 0x3d, 0xee, 0x08, 0x57, 0x90, 0x33, 0xe5, 0x23, 0xd9 };
static const unsigned char rfc8448_server_secret[32] = {
	0xa1, 0x1a, 0xf9, 0xf0, 0x55, 0x31, 0xf8, 0x56, 0xad, 0x47, 0x11,
	0x6b, 0x45, 0xa9, 0x50, 0x32, 0x82, 0x04, 0xb4, 0xf4, 0x4b, 0xfb,
	0x6b, 0x3a, 0x4b, 0x4f, 0x1f, 0x3f, 0xcb, 0x63, 0x16, 0x43 };
static const unsigned char rfc8448_server_key[16] = {
	0x9f, 0x02, 0x28, 0x3b, 0x6c, 0x9c, 0x07, 0xef, 0xc2, 0x6b, 0xb9,
	0xf2, 0xac, 0x92, 0xe3, 0x56 };
static const unsigned char rfc8448_server_iv[12] = {
	0xcf, 0x78, 0x2b, 0x88, 0xdd, 0x83, 0x54, 0x9a, 0xad, 0xf1, 0xe9, 0x84 };

TEST(rfc8448_application_traffic_keys)
{
	unsigned char key[16], iv[12];

	ASSERT_EQ(0, ktls_tls13_traffic_keys(EVP_sha256(), rfc8448_client_secret,
					     32, 16, key, iv));
	EXPECT_EQ(0, memcmp(key, rfc8448_client_key, 16));
	EXPECT_EQ(0, memcmp(iv, rfc8448_client_iv, 12));
	ASSERT_EQ(0, ktls_tls13_traffic_keys(EVP_sha256(), rfc8448_server_secret,
					     32, 16, key, iv));
	EXPECT_EQ(0, memcmp(key, rfc8448_server_key, 16));
	EXPECT_EQ(0, memcmp(iv, rfc8448_server_iv, 12));
}

/* The kernel's layouts: who gets which bytes of the IV. */
TEST(crypto_info_layouts)
{
	const struct ktls_cipher *c13 = ktls_cipher_by_name("TLS_AES_128_GCM_SHA256");
	const struct ktls_cipher *cc13 = ktls_cipher_by_name("TLS_CHACHA20_POLY1305_SHA256");
	const struct ktls_cipher *c12 = ktls_cipher_by_name("ECDHE-RSA-AES256-GCM-SHA384");
	const struct ktls_cipher *cc12 = ktls_cipher_by_name("ECDHE-RSA-CHACHA20-POLY1305");
	static const unsigned char seq7[8] = { 0, 0, 0, 0, 0, 0, 0, 7 };
	unsigned char key32[32];
	struct ktls_keys k;

	ASSERT_NE(NULL, c13);
	ASSERT_NE(NULL, cc13);
	ASSERT_NE(NULL, c12);
	ASSERT_NE(NULL, cc12);
	memset(key32, 0x5a, sizeof(key32));

	ktls_keys_fill(&k, c13, rfc8448_server_key, rfc8448_server_iv, 0);
	EXPECT_EQ(sizeof(struct tls12_crypto_info_aes_gcm_128), k.len);
	EXPECT_EQ(TLS_1_3_VERSION, k.crypto.info.version);
	EXPECT_EQ(TLS_CIPHER_AES_GCM_128, k.crypto.info.cipher_type);
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_128.key, rfc8448_server_key, 16));
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_128.salt, rfc8448_server_iv, 4));
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_128.iv, rfc8448_server_iv + 4, 8));
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_128.rec_seq, seq7, 7));
	EXPECT_EQ(0, k.crypto.aes_gcm_128.rec_seq[7]);

	ktls_keys_fill(&k, cc13, key32, rfc8448_server_iv, 7);
	EXPECT_EQ(sizeof(struct tls12_crypto_info_chacha20_poly1305), k.len);
	EXPECT_EQ(0, memcmp(k.crypto.chacha20_poly1305.iv, rfc8448_server_iv, 12));
	EXPECT_EQ(0, memcmp(k.crypto.chacha20_poly1305.key, key32, 32));
	EXPECT_EQ(0, memcmp(k.crypto.chacha20_poly1305.rec_seq, seq7, 8));

	/* TLS 1.2 GCM: salt = implicit IV, iv = explicit nonce = seq */
	ktls_keys_fill(&k, c12, key32, rfc8448_client_iv, 7);
	EXPECT_EQ(TLS_1_2_VERSION, k.crypto.info.version);
	EXPECT_EQ(TLS_CIPHER_AES_GCM_256, k.crypto.info.cipher_type);
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_256.salt, rfc8448_client_iv, 4));
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_256.iv, seq7, 8));
	EXPECT_EQ(0, memcmp(k.crypto.aes_gcm_256.rec_seq, seq7, 8));

	/* TLS 1.2 ChaCha20 (RFC 7905): the whole 12-byte IV */
	ktls_keys_fill(&k, cc12, key32, rfc8448_client_iv, 1);
	EXPECT_EQ(TLS_1_2_VERSION, k.crypto.info.version);
	EXPECT_EQ(0, memcmp(k.crypto.chacha20_poly1305.iv, rfc8448_client_iv, 12));

	ktls_keys_wipe(&k);
	EXPECT_EQ(0, k.len);
	EXPECT_EQ(NULL, k.cipher);
	EXPECT_EQ(0, k.crypto.chacha20_poly1305.key[0]);
}

/* Every row agrees with OpenSSL's definition of the suite. */
TEST(cipher_table_matches_openssl)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	SSL *ssl = SSL_new(ctx);
	int rows = 0;

	ASSERT_NE(NULL, ssl);
	for (const struct ktls_cipher *c = ktls_ciphers; c->ssl_name; c++) {
		unsigned char id[2] = { (c->ssl_id >> 8) & 0xff, c->ssl_id & 0xff };
		const SSL_CIPHER *sc = SSL_CIPHER_find(ssl, id);
		const EVP_CIPHER *evp;

		rows++;
		ASSERT_NE(NULL, sc) TH_LOG("%s", c->ssl_name);
		EXPECT_STREQ(c->ssl_name, SSL_CIPHER_get_name(sc));
		EXPECT_EQ(c->ssl_id, SSL_CIPHER_get_id(sc));
		EXPECT_STREQ(c->kdf_digest,
			     EVP_MD_get0_name(SSL_CIPHER_get_handshake_digest(sc)));
		EXPECT_EQ(1, SSL_CIPHER_is_aead(sc));
		evp = EVP_get_cipherbynid(SSL_CIPHER_get_cipher_nid(sc));
		ASSERT_NE(NULL, evp) TH_LOG("%s", c->ssl_name);
		EXPECT_EQ(c->key_size, EVP_CIPHER_get_key_length(evp));
		EXPECT_EQ(16, c->tag_size);
		EXPECT_EQ(12, c->salt_size + c->iv_size);
		EXPECT_EQ(c->info_size, sizeof(struct tls_crypto_info) + c->iv_size +
			  c->key_size + c->salt_size + c->rec_seq_size);
		EXPECT_EQ(c, ktls_cipher_by_id(c->ssl_id));
	}
	EXPECT_EQ(18, rows);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

TEST(cipher_lookups_refuse_what_the_kernel_cannot_do)
{
	EXPECT_EQ(NULL, ktls_cipher_by_name("TLS_AES_128_CCM_8_SHA256"));
	EXPECT_EQ(NULL, ktls_cipher_by_name("ECDHE-ECDSA-AES128-CCM8"));
	EXPECT_EQ(NULL, ktls_cipher_by_name("ECDHE-RSA-AES128-SHA256"));
	EXPECT_EQ(NULL, ktls_cipher_by_id(0x0300C027));
	EXPECT_EQ(NULL, ktls_cipher_by_id(0x03001305));
	ASSERT_NE(NULL, ktls_cipher_by_id(0x03001302));
	EXPECT_STREQ("aes-gcm-256", ktls_cipher_by_id(0x03001302)->kernel_name);
	EXPECT_STREQ("SHA384", ktls_cipher_by_id(0x03001302)->kdf_digest);
}

/* ---- keylog parser ---------------------------------------------------- */

static const char zero_random[] =
	"0000000000000000000000000000000000000000000000000000000000000000";
static const char secret_hex[] =
	"9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";

TEST(keylog_keeps_traffic_secrets_only)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl = SSL_new(ctx);
	const unsigned char *p;
	char line[256];
	size_t len;

	ASSERT_NE(NULL, ssl);
	/* A fresh SSL has an all-zero client random. */
	snprintf(line, sizeof(line), "CLIENT_HANDSHAKE_TRAFFIC_SECRET %s %s",
		 zero_random, secret_hex);
	ktls_keylog_cb(ssl, line);
	snprintf(line, sizeof(line), "EXPORTER_SECRET %s %s", zero_random,
		 secret_hex);
	ktls_keylog_cb(ssl, line);
	snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_1 %s %s",
		 zero_random, secret_hex);
	ktls_keylog_cb(ssl, line);
	EXPECT_EQ(NULL, ktls_captured_secret(ssl, true, &len));
	EXPECT_EQ(0, len);

	/* Another connection's client random: not ours. */
	snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 1%s %s",
		 zero_random + 1, secret_hex);
	ktls_keylog_cb(ssl, line);
	EXPECT_EQ(NULL, ktls_captured_secret(ssl, true, &len));
	/* Malformed hex. */
	snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s 9x%s",
		 zero_random, secret_hex + 2);
	ktls_keylog_cb(ssl, line);
	EXPECT_EQ(NULL, ktls_captured_secret(ssl, true, &len));

	snprintf(line, sizeof(line), "CLIENT_TRAFFIC_SECRET_0 %s %s",
		 zero_random, secret_hex);
	ktls_keylog_cb(ssl, line);
	p = ktls_captured_secret(ssl, true, &len);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(32, len);
	EXPECT_EQ(0, memcmp(p, rfc8448_client_secret, 32));
	EXPECT_EQ(NULL, ktls_captured_secret(ssl, false, &len));

	snprintf(line, sizeof(line), "SERVER_TRAFFIC_SECRET_0 %s %s",
		 zero_random, secret_hex);
	ktls_keylog_cb(ssl, line);
	EXPECT_NE(NULL, ktls_captured_secret(ssl, false, &len));

	/* Forgetting wipes the stored bytes in place. */
	ktls_forget_secrets(ssl);
	EXPECT_EQ(NULL, ktls_captured_secret(ssl, true, &len));
	EXPECT_EQ(NULL, ktls_captured_secret(ssl, false, &len));
	for (int i = 0; i < 32; i++)
		EXPECT_EQ(0, p[i]);
	SSL_free(ssl);		/* ASan: the ex_data is freed with the SSL */
	SSL_CTX_free(ctx);
}

/* Drive both ends until both report the handshake done. */
static int drive_handshake(SSL *client, SSL *server)
{
	int c = 0, s = 0;

	for (int round = 0; round < 50 && (c != 1 || s != 1); round++) {
		if (c != 1)
			c = SSL_do_handshake(client);
		if (s != 1)
			s = SSL_do_handshake(server);
	}
	return c == 1 && s == 1 ? 0 : -1;
}

/* A server SSL of SCTX and a client SSL of CCTX joined by a BIO pair, the
 * handshake done. 0 or -1; *S and *C are the caller's to free either way. */
static int handshake_in_memory(SSL_CTX *sctx, SSL_CTX *cctx, SSL **s, SSL **c)
{
	BIO *sb, *cb;

	*s = SSL_new(sctx);
	*c = SSL_new(cctx);
	if (!*s || !*c || BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		return -1;
	SSL_set_bio(*s, sb, sb);
	SSL_set_bio(*c, cb, cb);
	SSL_set_accept_state(*s);
	SSL_set_connect_state(*c);
	return drive_handshake(*c, *s);
}

static const EVP_CIPHER *evp_of(uint16_t kernel_cipher)
{
	switch (kernel_cipher) {
	case TLS_CIPHER_AES_GCM_128:		return EVP_aes_128_gcm();
	case TLS_CIPHER_AES_GCM_256:		return EVP_aes_256_gcm();
	case TLS_CIPHER_CHACHA20_POLY1305:	return EVP_chacha20_poly1305();
	case TLS_CIPHER_AES_CCM_128:		return EVP_aes_128_ccm();
	}
	return NULL;
}

/*
 * Seal one application-data record from the crypto_info the way the
 * kernel does (net/tls/tls_sw.c): read the fields through the kernel's own
 * struct types, not through the table offsets under test.
 */
static size_t seal_record(const struct ktls_keys *k, uint64_t recno,
			  const unsigned char *pt, size_t pt_len,
			  unsigned char *out)
{
	const unsigned char *key, *salt, *iv, *rec_seq;
	size_t salt_len, iv_len, ct_len, hdr, off = 0;
	bool tls13 = k->crypto.info.version == TLS_1_3_VERSION;
	unsigned char nonce[12] = { 0 }, aad[13], seq[8], explicit[8];
	unsigned char inner[256];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint64_t s = 0;
	int n;

	switch (k->crypto.info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		key = k->crypto.aes_gcm_128.key; salt = k->crypto.aes_gcm_128.salt;
		iv = k->crypto.aes_gcm_128.iv; rec_seq = k->crypto.aes_gcm_128.rec_seq;
		break;
	case TLS_CIPHER_AES_GCM_256:
		key = k->crypto.aes_gcm_256.key; salt = k->crypto.aes_gcm_256.salt;
		iv = k->crypto.aes_gcm_256.iv; rec_seq = k->crypto.aes_gcm_256.rec_seq;
		break;
	case TLS_CIPHER_AES_CCM_128:
		key = k->crypto.aes_ccm_128.key; salt = k->crypto.aes_ccm_128.salt;
		iv = k->crypto.aes_ccm_128.iv; rec_seq = k->crypto.aes_ccm_128.rec_seq;
		break;
	default:
		key = k->crypto.chacha20_poly1305.key; salt = NULL;
		iv = k->crypto.chacha20_poly1305.iv;
		rec_seq = k->crypto.chacha20_poly1305.rec_seq;
		break;
	}
	salt_len = salt ? 4 : 0;
	iv_len = 12 - salt_len;
	for (int i = 0; i < 8; i++)
		s = s << 8 | rec_seq[i];
	s += recno;
	for (int i = 7; i >= 0; i--, s >>= 8)
		seq[i] = (unsigned char)s;

	if (salt)	/* memcpy from NULL would let the compiler drop !salt */
		memcpy(nonce, salt, salt_len);
	if (tls13 || !salt) {
		memcpy(nonce + salt_len, iv, iv_len);
		for (int i = 0; i < 8; i++)
			nonce[4 + i] ^= seq[i];
	} else {
		/* explicit nonce: the kernel sends iv, then iv + 1, ... */
		uint64_t e = 0;

		for (int i = 0; i < 8; i++)
			e = e << 8 | iv[i];
		e += recno;
		for (int i = 7; i >= 0; i--, e >>= 8)
			explicit[i] = (unsigned char)e;
		memcpy(nonce + 4, explicit, 8);
	}

	ct_len = pt_len + (tls13 ? 1 : 0);
	hdr = 5 + (!tls13 && salt ? 8 : 0);
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)((hdr - 5 + ct_len + 16) >> 8);
	out[4] = (unsigned char)(hdr - 5 + ct_len + 16);
	if (hdr > 5)
		memcpy(out + 5, explicit, 8);
	if (tls13) {
		memcpy(aad, out, 5);
	} else {
		memcpy(aad, seq, 8);
		aad[8] = 23; aad[9] = 3; aad[10] = 3;
		aad[11] = (unsigned char)(pt_len >> 8);
		aad[12] = (unsigned char)pt_len;
	}
	/* TLS 1.3 inner plaintext: data || content type (one update: CCM) */
	memcpy(inner, pt, pt_len);
	inner[pt_len] = 23;
	EVP_EncryptInit_ex(ctx, evp_of(k->crypto.info.cipher_type), NULL, NULL, NULL);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL);
	if (k->crypto.info.cipher_type == TLS_CIPHER_AES_CCM_128)
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, NULL);
	EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce);
	if (k->crypto.info.cipher_type == TLS_CIPHER_AES_CCM_128)
		EVP_EncryptUpdate(ctx, NULL, &n, NULL, (int)ct_len);
	EVP_EncryptUpdate(ctx, NULL, &n, aad, tls13 ? 5 : 13);
	off = hdr;
	EVP_EncryptUpdate(ctx, out + off, &n, inner, (int)ct_len);
	off += (size_t)n;
	EVP_EncryptFinal_ex(ctx, out + off, &n);
	off += (size_t)n;
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + off);
	off += 16;
	EVP_CIPHER_CTX_free(ctx);
	return off;
}

FIXTURE(handshake)
{
	SSL_CTX *sctx, *cctx;
	SSL *server, *client;
	BIO *server_bio, *client_bio;	/* each end's network side */
};

FIXTURE_VARIANT(handshake)
{
	int version;
	const char *suite;
};

#define SUITE(tag, v, s) \
	FIXTURE_VARIANT_ADD(handshake, tag) { .version = v, .suite = s }
SUITE(tls12_aes_gcm_128, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
SUITE(tls12_aes_gcm_256, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384");
SUITE(tls12_chacha20, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305");
SUITE(tls12_aes_ccm_128, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-CCM");
SUITE(tls13_aes_gcm_128, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
SUITE(tls13_aes_gcm_256, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
SUITE(tls13_chacha20, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256");
SUITE(tls13_aes_ccm_128, TLS1_3_VERSION, "TLS_AES_128_CCM_SHA256");

FIXTURE_SETUP(handshake)
{
	BIO *s_internal, *c_internal;

	self->sctx = tl_self_signed_server_ctx("ktlsd-test");
	ASSERT_NE(NULL, self->sctx);
	self->cctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->cctx);
	ASSERT_EQ(0, tl_pin_suite(self->sctx, variant->version, variant->suite));
	ASSERT_EQ(0, tl_pin_suite(self->cctx, variant->version, variant->suite));
	SSL_CTX_set_num_tickets(self->sctx, 0);
	SSL_CTX_set_keylog_callback(self->sctx, ktls_keylog_cb);
	SSL_CTX_set_keylog_callback(self->cctx, ktls_keylog_cb);
	self->server = SSL_new(self->sctx);
	self->client = SSL_new(self->cctx);
	ASSERT_NE(NULL, self->server);
	ASSERT_NE(NULL, self->client);
	ASSERT_EQ(1, BIO_new_bio_pair(&s_internal, 0, &self->server_bio, 0));
	ASSERT_EQ(1, BIO_new_bio_pair(&c_internal, 0, &self->client_bio, 0));
	SSL_set_bio(self->server, s_internal, s_internal);
	SSL_set_bio(self->client, c_internal, c_internal);
	SSL_set_accept_state(self->server);
	SSL_set_connect_state(self->client);
	/* The two network sides are wired by pump() below. */
}

FIXTURE_TEARDOWN(handshake)
{
	SSL_free(self->server);
	SSL_free(self->client);
	BIO_free(self->server_bio);
	BIO_free(self->client_bio);
	SSL_CTX_free(self->sctx);
	SSL_CTX_free(self->cctx);
}

/* Move whatever each end has written to the other end. */
static void pump(BIO *a, BIO *b)
{
	unsigned char buf[16384];
	int n;

	while ((n = BIO_read(a, buf, sizeof(buf))) > 0)
		BIO_write(b, buf, n);
	while ((n = BIO_read(b, buf, sizeof(buf))) > 0)
		BIO_write(a, buf, n);
}

static int do_handshake(FIXTURE_DATA(handshake) *self)
{
	for (int round = 0; round < 20; round++) {
		int c = SSL_do_handshake(self->client);
		int s = SSL_do_handshake(self->server);

		pump(self->server_bio, self->client_bio);
		if (c == 1 && s == 1 && SSL_do_handshake(self->client) == 1)
			return 0;
	}
	return -1;
}

TEST_F(handshake, derived_keys_open_in_openssl)
{
	struct ktls_keys stx, srx, ctx_, crx;
	static const char msg1[] = "first record after the handshake";
	static const char msg2[] = "second record: sequence numbers advance";
	unsigned char rec[256];
	char got[128], why[160];
	size_t n;

	ASSERT_EQ(0, do_handshake(self));
	ASSERT_STREQ(variant->suite,
		     SSL_CIPHER_get_name(SSL_get_current_cipher(self->server)));
	EXPECT_EQ(0, ktls_derive(self->server, true, &stx, &srx, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(0, ktls_derive(self->client, false, &ctx_, &crx, why, sizeof(why)))
		TH_LOG("%s", why);
	ASSERT_NE(0, stx.len);
	EXPECT_EQ(stx.len, crx.len);
	EXPECT_EQ(0, memcmp(srx.crypto.bytes, ctx_.crypto.bytes, srx.len));
	/* Each direction has its own key. */
	EXPECT_NE(0, memcmp(stx.crypto.bytes, srx.crypto.bytes, stx.len));

	/* client -> server, sealed with the client's TX keys */
	n = seal_record(&ctx_, 0, (const unsigned char *)msg1, strlen(msg1), rec);
	ASSERT_EQ((int)n, BIO_write(self->server_bio, rec, (int)n));
	n = seal_record(&ctx_, 1, (const unsigned char *)msg2, strlen(msg2), rec);
	ASSERT_EQ((int)n, BIO_write(self->server_bio, rec, (int)n));
	EXPECT_EQ((int)strlen(msg1), SSL_read(self->server, got, sizeof(got)));
	EXPECT_EQ(0, memcmp(got, msg1, strlen(msg1)));
	EXPECT_EQ((int)strlen(msg2), SSL_read(self->server, got, sizeof(got)));
	EXPECT_EQ(0, memcmp(got, msg2, strlen(msg2)));

	/* server -> client, sealed with the server's TX keys */
	n = seal_record(&stx, 0, (const unsigned char *)msg2, strlen(msg2), rec);
	ASSERT_EQ((int)n, BIO_write(self->client_bio, rec, (int)n));
	n = seal_record(&stx, 1, (const unsigned char *)msg1, strlen(msg1), rec);
	ASSERT_EQ((int)n, BIO_write(self->client_bio, rec, (int)n));
	EXPECT_EQ((int)strlen(msg2), SSL_read(self->client, got, sizeof(got)));
	EXPECT_EQ(0, memcmp(got, msg2, strlen(msg2)));
	EXPECT_EQ((int)strlen(msg1), SSL_read(self->client, got, sizeof(got)));
	EXPECT_EQ(0, memcmp(got, msg1, strlen(msg1)));

	/* TLS 1.3 secrets are wiped once used. */
	EXPECT_EQ(NULL, ktls_captured_secret(self->server, true, &n));
	ktls_keys_wipe(&stx);
	ktls_keys_wipe(&srx);
	ktls_keys_wipe(&ctx_);
	ktls_keys_wipe(&crx);
}

TEST_F(handshake, unread_records_block_the_handoff)
{
	struct ktls_keys tx, rx;
	char why[160];

	ASSERT_EQ(0, do_handshake(self));
	/* Data the server's OpenSSL has read but not returned yet. */
	ASSERT_EQ(10, SSL_write(self->client, "0123456789", 10));
	pump(self->server_bio, self->client_bio);
	ASSERT_EQ(1, SSL_peek(self->server, why, 1));
	EXPECT_EQ(-EAGAIN, ktls_derive(self->server, true, &tx, &rx, why,
				       sizeof(why)));
	EXPECT_EQ(0, tx.len);
	EXPECT_EQ(0, rx.len);
}

TEST(cbc_suite_cannot_be_offloaded)
{
	SSL_CTX *sctx = NULL, *cctx = SSL_CTX_new(TLS_client_method());
	SSL *s, *c;
	struct ktls_keys tx, rx;
	char why[160] = "";

	sctx = tl_self_signed_server_ctx("ktlsd-test");
	ASSERT_NE(NULL, sctx);
	ASSERT_EQ(0, tl_pin_suite(sctx, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256"));
	ASSERT_EQ(0, tl_pin_suite(cctx, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256"));
	ASSERT_EQ(0, handshake_in_memory(sctx, cctx, &s, &c));
	EXPECT_EQ(-EOPNOTSUPP, ktls_derive(s, true, &tx, &rx, why, sizeof(why)));
	EXPECT_STREQ("cipher ECDHE-ECDSA-AES128-SHA256 cannot be offloaded", why);
	EXPECT_EQ(0, tx.len);
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

TEST(tls13_without_keylog_says_why)
{
	SSL_CTX *sctx = NULL, *cctx = SSL_CTX_new(TLS_client_method());
	SSL *s, *c;
	struct ktls_keys tx, rx;
	char why[160] = "";

	sctx = tl_self_signed_server_ctx("ktlsd-test");
	ASSERT_NE(NULL, sctx);
	SSL_CTX_set_num_tickets(sctx, 0);
	ASSERT_EQ(0, handshake_in_memory(sctx, cctx, &s, &c));
	EXPECT_EQ(-ENOENT, ktls_derive(s, true, &tx, &rx, why, sizeof(why)));
	EXPECT_NE(NULL, strstr(why, "ktls_keylog_cb"));
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

/* ---- socket side, on whatever kernel runs the unit tests --------------- */

/* The probe's verdict matches what the kernel lists afterwards. */
TEST(probe_agrees_with_the_kernel)
{
	char why[160] = "", ulps[256] = "";
	FILE *f;
	int rc = ktls_probe(why, sizeof(why));

	f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(ulps, sizeof(ulps), f));
	fclose(f);
	EXPECT_NE(0, why[0]);
	if (!strstr(ulps, "tls")) {
		EXPECT_EQ(-ENOENT, rc);
		EXPECT_STREQ("kernel has no tls ULP (CONFIG_TLS not enabled or "
			     "module not loaded)", why);
	} else if (rc == 0) {
		EXPECT_STREQ("kernel TLS available", why);
	}
}

/* A failed install still wipes both key sets and says why. */
TEST(install_failure_wipes_keys)
{
	const struct ktls_cipher *c = ktls_cipher_by_name("TLS_AES_128_GCM_SHA256");
	struct ktls_keys tx, rx;
	char why[160] = "";
	int sv[2];

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ktls_keys_fill(&tx, c, rfc8448_server_key, rfc8448_server_iv, 0);
	ktls_keys_fill(&rx, c, rfc8448_client_key, rfc8448_client_iv, 0);
	EXPECT_GT(0, ktls_install(sv[0], &tx, &rx, why, sizeof(why)));
	EXPECT_EQ(0, strncmp(why, "TCP_ULP tls: ", 13)) TH_LOG("%s", why);
	EXPECT_EQ(0, tx.len);
	EXPECT_EQ(0, rx.len);
	for (size_t i = 0; i < sizeof(tx.crypto.aes_gcm_128.key); i++) {
		EXPECT_EQ(0, tx.crypto.aes_gcm_128.key[i]);
		EXPECT_EQ(0, rx.crypto.aes_gcm_128.key[i]);
	}
	close(sv[0]);
	close(sv[1]);
}

TEST_HARNESS_MAIN
