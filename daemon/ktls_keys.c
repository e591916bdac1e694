// SPDX-License-Identifier: GPL-2.0
/*
 * Record keys for kernel TLS, derived from a finished OpenSSL handshake.
 *
 * OpenSSL 3.0 has no public way to read its record keys, so they are
 * derived again from what it does expose: the TLS 1.3 application traffic
 * secrets (through the keylog callback) and the TLS 1.2 master secret and
 * randoms. All derivation goes through EVP_KDF; this file only arranges
 * the results the way the kernel's crypto_info structs want them
 * (include/uapi/linux/tls.h, net/tls/tls_sw.c):
 *
 *   TLS 1.3, any cipher  nonce = (salt || iv) XOR seq, so the 12-byte IV
 *                        splits into salt (4) and iv (8); ChaCha20 has no
 *                        salt and takes all 12 bytes as iv.
 *   TLS 1.2 AES-GCM/CCM  salt = the 4-byte implicit IV from the key block,
 *                        iv = the first 8-byte explicit nonce the kernel
 *                        sends (it increments it per record); the record
 *                        sequence number is unique and conventional.
 *   TLS 1.2 ChaCha20     RFC 7905: the 12-byte IV XOR seq, like TLS 1.3.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ktls.h"

#define LAYOUT(st, NAME, word)						\
	.kernel_cipher = TLS_CIPHER_##NAME,				\
	.kernel_name = word,						\
	.key_size = TLS_CIPHER_##NAME##_KEY_SIZE,			\
	.salt_size = TLS_CIPHER_##NAME##_SALT_SIZE,			\
	.iv_size = TLS_CIPHER_##NAME##_IV_SIZE,				\
	.rec_seq_size = TLS_CIPHER_##NAME##_REC_SEQ_SIZE,		\
	.tag_size = TLS_CIPHER_##NAME##_TAG_SIZE,			\
	.info_size = sizeof(struct tls12_crypto_info_##st),		\
	.iv_off = offsetof(struct tls12_crypto_info_##st, iv),		\
	.key_off = offsetof(struct tls12_crypto_info_##st, key),	\
	.salt_off = offsetof(struct tls12_crypto_info_##st, salt),	\
	.rec_seq_off = offsetof(struct tls12_crypto_info_##st, rec_seq)

#define AES_GCM_128	LAYOUT(aes_gcm_128, AES_GCM_128, "aes-gcm-128")
#define AES_GCM_256	LAYOUT(aes_gcm_256, AES_GCM_256, "aes-gcm-256")
#define AES_CCM_128	LAYOUT(aes_ccm_128, AES_CCM_128, "aes-ccm-128")
#define CHACHA20	LAYOUT(chacha20_poly1305, CHACHA20_POLY1305,	\
			       "chacha20-poly1305")

#define TLS13(id, name, md, layout)					\
	{ .ssl_id = 0x03000000u | (id), .ssl_name = name,		\
	  .tls_version = TLS_1_3_VERSION, .kdf_digest = md, layout }
#define TLS12(id, name, md, fixed_iv, layout)				\
	{ .ssl_id = 0x03000000u | (id), .ssl_name = name,		\
	  .tls_version = TLS_1_2_VERSION, .kdf_digest = md,		\
	  .tls12_fixed_iv_size = fixed_iv, layout }

/*
 * Every suite with an AEAD the kernel implements and a 16-byte tag
 * (CCM_8 suites have an 8-byte tag, which the kernel does not take).
 * TLS 1.2 AEAD suites have no MAC key, a 4-byte fixed IV for AES and a
 * 12-byte one for ChaCha20 (RFC 5288, RFC 6655, RFC 7905).
 */
const struct ktls_cipher ktls_ciphers[] = {
	TLS13(0x1301, "TLS_AES_128_GCM_SHA256", "SHA256", AES_GCM_128),
	TLS13(0x1302, "TLS_AES_256_GCM_SHA384", "SHA384", AES_GCM_256),
	TLS13(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "SHA256", CHACHA20),
	TLS13(0x1304, "TLS_AES_128_CCM_SHA256", "SHA256", AES_CCM_128),
	TLS12(0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256", "SHA256", 4, AES_GCM_128),
	TLS12(0xC02F, "ECDHE-RSA-AES128-GCM-SHA256", "SHA256", 4, AES_GCM_128),
	TLS12(0x009E, "DHE-RSA-AES128-GCM-SHA256", "SHA256", 4, AES_GCM_128),
	TLS12(0x009C, "AES128-GCM-SHA256", "SHA256", 4, AES_GCM_128),
	TLS12(0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384", "SHA384", 4, AES_GCM_256),
	TLS12(0xC030, "ECDHE-RSA-AES256-GCM-SHA384", "SHA384", 4, AES_GCM_256),
	TLS12(0x009F, "DHE-RSA-AES256-GCM-SHA384", "SHA384", 4, AES_GCM_256),
	TLS12(0x009D, "AES256-GCM-SHA384", "SHA384", 4, AES_GCM_256),
	TLS12(0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305", "SHA256", 12, CHACHA20),
	TLS12(0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305", "SHA256", 12, CHACHA20),
	TLS12(0xCCAA, "DHE-RSA-CHACHA20-POLY1305", "SHA256", 12, CHACHA20),
	TLS12(0xC0AC, "ECDHE-ECDSA-AES128-CCM", "SHA256", 4, AES_CCM_128),
	TLS12(0xC09E, "DHE-RSA-AES128-CCM", "SHA256", 4, AES_CCM_128),
	TLS12(0xC09C, "AES128-CCM", "SHA256", 4, AES_CCM_128),
	{ .ssl_name = NULL },
};

const struct ktls_cipher *ktls_cipher_by_id(uint32_t ssl_id)
{
	for (const struct ktls_cipher *c = ktls_ciphers; c->ssl_name; c++) {
		if (c->ssl_id == ssl_id)
			return c;
	}
	return NULL;
}

const struct ktls_cipher *ktls_cipher_by_name(const char *ssl_name)
{
	for (const struct ktls_cipher *c = ktls_ciphers; c->ssl_name; c++) {
		if (strcmp(c->ssl_name, ssl_name) == 0)
			return c;
	}
	return NULL;
}

/* ---- TLS 1.3 secrets from the keylog callback ------------------------ */

struct captured_secrets {
	unsigned char client[KTLS_MAX_SECRET];
	unsigned char server[KTLS_MAX_SECRET];
	size_t client_len, server_len;
};

static int secrets_index = -1;
static pthread_once_t secrets_once = PTHREAD_ONCE_INIT;

static void secrets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			 int idx, long argl, void *argp)
{
	OPENSSL_clear_free(ptr, sizeof(struct captured_secrets));
}

static void secrets_index_init(void)
{
	secrets_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, secrets_free);
}

static struct captured_secrets *secrets_of(const SSL *ssl)
{
	pthread_once(&secrets_once, secrets_index_init);
	if (secrets_index < 0)
		return NULL;
	return SSL_get_ex_data(ssl, secrets_index);
}

/* Decode exactly OUT_LEN bytes of hex from the token [HEX, HEX+HEX_LEN). */
static bool decode_hex(const char *hex, size_t hex_len, unsigned char *out,
		       size_t out_len)
{
	char tmp[2 * KTLS_MAX_SECRET + 1];
	size_t got = 0;
	bool ok;

	if (hex_len != 2 * out_len || hex_len >= sizeof(tmp))
		return false;
	memcpy(tmp, hex, hex_len);
	tmp[hex_len] = '\0';
	ok = OPENSSL_hexstr2buf_ex(out, out_len, &got, tmp, '\0') == 1 &&
	     got == out_len;
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return ok;
}

void ktls_keylog_cb(const SSL *ssl, const char *line)
{
	static const char client_label[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char server_label[] = "SERVER_TRAFFIC_SECRET_0 ";
	unsigned char random[SSL3_RANDOM_SIZE], expect[SSL3_RANDOM_SIZE];
	unsigned char secret[KTLS_MAX_SECRET];
	struct captured_secrets *s;
	const char *rnd, *sec, *end;
	bool client;
	size_t n;

	if (strncmp(line, client_label, sizeof(client_label) - 1) == 0)
		client = true;
	else if (strncmp(line, server_label, sizeof(server_label) - 1) == 0)
		client = false;
	else
		return;
	rnd = line + sizeof(client_label) - 1;
	sec = strchr(rnd, ' ');
	if (!sec)
		return;
	sec++;
	end = sec + strcspn(sec, " \r\n");
	if (!decode_hex(rnd, (size_t)(sec - 1 - rnd), random, sizeof(random)) ||
	    SSL_get_client_random(ssl, expect, sizeof(expect)) != sizeof(expect) ||
	    CRYPTO_memcmp(random, expect, sizeof(random)) != 0)
		return;

	s = secrets_of(ssl);
	if (!s) {
		if (secrets_index < 0)
			return;
		s = OPENSSL_zalloc(sizeof(*s));
		/*
		 * The callback gets a const SSL, but attaching ex_data does not
		 * touch the handshake state; OpenSSL calls us on the thread
		 * that drives this SSL, so nothing else is using it.
		 */
		if (!s || !SSL_set_ex_data((SSL *)ssl, secrets_index, s)) {
			OPENSSL_free(s);
			return;
		}
	}
	n = (size_t)(end - sec) / 2;
	if (n == 0 || n > KTLS_MAX_SECRET ||
	    !decode_hex(sec, (size_t)(end - sec), secret, n)) {
		OPENSSL_cleanse(secret, sizeof(secret));
		return;
	}
	memcpy(client ? s->client : s->server, secret, n);
	*(client ? &s->client_len : &s->server_len) = n;
	OPENSSL_cleanse(secret, sizeof(secret));
}

const unsigned char *ktls_captured_secret(const SSL *ssl, bool client,
					  size_t *len)
{
	struct captured_secrets *s = secrets_of(ssl);

	*len = 0;
	if (!s)
		return NULL;
	*len = client ? s->client_len : s->server_len;
	if (*len == 0)
		return NULL;
	return client ? s->client : s->server;
}

void ktls_forget_secrets(const SSL *ssl)
{
	struct captured_secrets *s = secrets_of(ssl);

	if (s)
		OPENSSL_cleanse(s, sizeof(*s));
}

/* ---- derivation ------------------------------------------------------ */

static int kdf_derive(const char *kdf_name, OSSL_PARAM *params,
		      unsigned char *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, kdf_name, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int ret = -EIO;

	if (kctx && EVP_KDF_derive(kctx, out, out_len, params) > 0)
		ret = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

/* RFC 8446 7.1 HKDF-Expand-Label with an empty context. */
static int expand_label(const EVP_MD *md, const unsigned char *secret,
			size_t secret_len, const char *label,
			unsigned char *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST,
				       (char *)EVP_MD_get0_name(md), 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY,
					(void *)secret, secret_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PREFIX,
					(void *)prefix, sizeof(prefix) - 1),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_LABEL,
					(void *)label, strlen(label)),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_DATA, (void *)"", 0),
		OSSL_PARAM_END,
	};

	return kdf_derive(OSSL_KDF_NAME_TLS1_3_KDF, params, out, out_len);
}

int ktls_tls13_traffic_keys(const EVP_MD *md, const unsigned char *secret,
			    size_t secret_len, size_t keylen,
			    unsigned char *key, unsigned char *iv)
{
	if (expand_label(md, secret, secret_len, "key", key, keylen) ||
	    expand_label(md, secret, secret_len, "iv", iv, KTLS_MAX_IV)) {
		OPENSSL_cleanse(key, keylen);
		OPENSSL_cleanse(iv, KTLS_MAX_IV);
		return -EIO;
	}
	return 0;
}

int ktls_tls12_key_block(const EVP_MD *md, const unsigned char *master,
			 size_t master_len, const unsigned char *client_random,
			 const unsigned char *server_random,
			 size_t random_len, unsigned char *out, size_t out_len)
{
	static const char label[] = "key expansion";
	/* TLS1-PRF concatenates repeated seeds: label || server || client. */
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST,
				       (char *)EVP_MD_get0_name(md), 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SECRET,
					(void *)master, master_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SEED,
					(void *)label, sizeof(label) - 1),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SEED,
					(void *)server_random, random_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SEED,
					(void *)client_random, random_len),
		OSSL_PARAM_END,
	};

	if (kdf_derive(OSSL_KDF_NAME_TLS1_PRF, params, out, out_len)) {
		OPENSSL_cleanse(out, out_len);
		return -EIO;
	}
	return 0;
}

static void put_be64(unsigned char *p, size_t n, uint64_t v)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (unsigned char)v;
}

void ktls_keys_fill(struct ktls_keys *keys, const struct ktls_cipher *c,
		    const unsigned char *key, const unsigned char *iv,
		    uint64_t rec_seq)
{
	unsigned char *base = keys->crypto.bytes;

	OPENSSL_cleanse(keys, sizeof(*keys));
	keys->crypto.info.version = c->tls_version;
	keys->crypto.info.cipher_type = c->kernel_cipher;
	memcpy(base + c->key_off, key, c->key_size);
	put_be64(base + c->rec_seq_off, c->rec_seq_size, rec_seq);
	if (c->tls_version == TLS_1_2_VERSION && c->salt_size) {
		/* implicit IV + explicit nonce (see the top of this file) */
		memcpy(base + c->salt_off, iv, c->salt_size);
		put_be64(base + c->iv_off, c->iv_size, rec_seq);
	} else {
		memcpy(base + c->salt_off, iv, c->salt_size);
		memcpy(base + c->iv_off, iv + c->salt_size, c->iv_size);
	}
	keys->len = c->info_size;
	keys->cipher = c;
}

void ktls_keys_wipe(struct ktls_keys *keys)
{
	if (keys)
		explicit_bzero(keys, sizeof(*keys));
}

uint64_t ktls_default_seq(const SSL *ssl)
{
	return SSL_version(ssl) == TLS1_3_VERSION ? 0 : 1;
}

static int derive_tls13(SSL *ssl, const struct ktls_cipher *c,
			const EVP_MD *md, bool is_server, uint64_t tx_seq,
			uint64_t rx_seq, struct ktls_keys *tx,
			struct ktls_keys *rx, char *why, size_t len)
{
	unsigned char key[KTLS_MAX_KEY], iv[KTLS_MAX_IV];
	const unsigned char *client, *server;
	size_t client_len, server_len;
	int ret = -ENOENT;

	client = ktls_captured_secret(ssl, true, &client_len);
	server = ktls_captured_secret(ssl, false, &server_len);
	if (!client || !server || client_len != (size_t)EVP_MD_get_size(md) ||
	    server_len != client_len) {
		snprintf(why, len, "no TLS 1.3 traffic secrets captured "
			 "(ktls_keylog_cb not set on the SSL_CTX)");
		return ret;
	}
	ret = ktls_tls13_traffic_keys(md, is_server ? server : client,
				      client_len, c->key_size, key, iv);
	if (!ret) {
		ktls_keys_fill(tx, c, key, iv, tx_seq);
		ret = ktls_tls13_traffic_keys(md, is_server ? client : server,
					      client_len, c->key_size, key, iv);
	}
	if (!ret)
		ktls_keys_fill(rx, c, key, iv, rx_seq);
	else
		snprintf(why, len, "TLS 1.3 key derivation failed");
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

static int derive_tls12(SSL *ssl, const struct ktls_cipher *c,
			const EVP_MD *md, bool is_server, uint64_t tx_seq,
			uint64_t rx_seq, struct ktls_keys *tx,
			struct ktls_keys *rx, char *why, size_t len)
{
	unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
	unsigned char crandom[SSL3_RANDOM_SIZE], srandom[SSL3_RANDOM_SIZE];
	unsigned char block[2 * KTLS_MAX_KEY + 2 * KTLS_MAX_IV];
	size_t k = c->key_size, f = c->tls12_fixed_iv_size;
	const unsigned char *ckey = block, *skey = block + k;
	const unsigned char *civ = block + 2 * k, *siv = block + 2 * k + f;
	SSL_SESSION *sess = SSL_get_session(ssl);
	size_t master_len;
	int ret = -EIO;

	master_len = sess ? SSL_SESSION_get_master_key(sess, master,
						       sizeof(master)) : 0;
	if (master_len == 0 ||
	    SSL_get_client_random(ssl, crandom, sizeof(crandom)) !=
		    sizeof(crandom) ||
	    SSL_get_server_random(ssl, srandom, sizeof(srandom)) !=
		    sizeof(srandom)) {
		snprintf(why, len, "TLS 1.2 session has no master secret");
		goto out;
	}
	/* key block: client key, server key, client IV, server IV */
	ret = ktls_tls12_key_block(md, master, master_len, crandom, srandom,
				   sizeof(crandom), block, 2 * k + 2 * f);
	if (ret) {
		snprintf(why, len, "TLS 1.2 key derivation failed");
		goto out;
	}
	ktls_keys_fill(tx, c, is_server ? skey : ckey, is_server ? siv : civ,
		       tx_seq);
	ktls_keys_fill(rx, c, is_server ? ckey : skey, is_server ? civ : siv,
		       rx_seq);
out:
	OPENSSL_cleanse(master, sizeof(master));
	OPENSSL_cleanse(block, sizeof(block));
	return ret;
}

int ktls_derive_seq(SSL *ssl, bool is_server, uint64_t tx_seq,
		    uint64_t rx_seq, struct ktls_keys *tx,
		    struct ktls_keys *rx, char *why, size_t len)
{
	const SSL_CIPHER *sc = SSL_get_current_cipher(ssl);
	const struct ktls_cipher *c = NULL;
	EVP_MD *md = NULL;
	int ret;

	if (sc)
		c = ktls_cipher_by_id(SSL_CIPHER_get_id(sc));

	ktls_keys_wipe(tx);
	ktls_keys_wipe(rx);
	if (!c) {
		snprintf(why, len, "cipher %s cannot be offloaded",
			 sc ? SSL_CIPHER_get_name(sc) : "(none)");
		return -EOPNOTSUPP;
	}
	if (SSL_version(ssl) != c->tls_version) {
		snprintf(why, len, "%s cannot be offloaded with %s",
			 SSL_get_version(ssl), c->ssl_name);
		return -EOPNOTSUPP;
	}
	/* Records OpenSSL has read but not returned would be lost. */
	if (SSL_has_pending(ssl)) {
		snprintf(why, len, "OpenSSL holds unread records at handoff");
		return -EAGAIN;
	}
	md = EVP_MD_fetch(NULL, c->kdf_digest, NULL);
	if (!md) {
		snprintf(why, len, "digest %s unavailable", c->kdf_digest);
		return -EIO;
	}
	if (c->tls_version == TLS_1_3_VERSION)
		ret = derive_tls13(ssl, c, md, is_server, tx_seq, rx_seq,
				   tx, rx, why, len);
	else
		ret = derive_tls12(ssl, c, md, is_server, tx_seq, rx_seq,
				   tx, rx, why, len);
	EVP_MD_free(md);
	if (ret) {
		ktls_keys_wipe(tx);
		ktls_keys_wipe(rx);
	} else {
		ktls_forget_secrets(ssl);
	}
	return ret;
}

int ktls_derive(SSL *ssl, bool is_server, struct ktls_keys *tx,
		struct ktls_keys *rx, char *why, size_t len)
{
	uint64_t seq = ktls_default_seq(ssl);

	return ktls_derive_seq(ssl, is_server, seq, seq, tx, rx, why, len);
}
