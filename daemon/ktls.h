/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key handoff to kernel TLS.
 *
 * Debian's OpenSSL 3.0 is built without kTLS, so ktlsd derives the record
 * keys itself once the handshake is over and hands them to the kernel with
 * setsockopt(SOL_TLS, TLS_TX / TLS_RX). Two files:
 *
 *   ktls_keys.c  the cipher table, the TLS 1.3 keylog capture, the key
 *                derivation (EVP_KDF "TLS13-KDF" and "TLS1-PRF") and the
 *                filling of the kernel's crypto_info structs;
 *   ktls.c       the socket side: probing for the tls ULP, installing the
 *                keys, reading records with their content type.
 *
 * Usage on a server socket:
 *   at start      ktls_probe(why, len)
 *   per SSL_CTX   SSL_CTX_set_keylog_callback(ctx, ktls_keylog_cb);
 *                 SSL_CTX_set_num_tickets(ctx, 0); no read-ahead;
 *                 SSL_OP_NO_RENEGOTIATION
 *   handshake ok  ktls_derive(ssl, true, &tx, &rx, why, len)
 *                 ktls_install(fd, &tx, &rx, why, len)   (wipes tx and rx)
 *   then          read()/write() on fd, ktls_recv_record() to see alerts;
 *                 never call SSL_read/SSL_write on that SSL again.
 * Key material never leaves these structs and is never logged.
 */
#ifndef KTLSD_KTLS_H
#define KTLSD_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/tls.h>
#include <openssl/ssl.h>

/* TLS record content types, as the kernel reports them. */
#define KTLS_RECORD_ALERT		21
#define KTLS_RECORD_HANDSHAKE		22
#define KTLS_RECORD_APPLICATION_DATA	23

/* Largest TLS 1.3 traffic secret (SHA-384). */
#define KTLS_MAX_SECRET	48
/* Largest key (AES-256 and ChaCha20) and IV (12) of the table's ciphers. */
#define KTLS_MAX_KEY	32
#define KTLS_MAX_IV	12

/*
 * One row per cipher suite ktlsd can offload. The sizes are those of the
 * kernel's tls12_crypto_info_* struct for kernel_cipher; the offsets say
 * where each field lives in it, so one function fills any of them.
 */
struct ktls_cipher {
	uint32_t ssl_id;		/* SSL_CIPHER_get_id(): 0x0300XXXX */
	const char *ssl_name;		/* OpenSSL's name */
	uint16_t tls_version;		/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	uint16_t kernel_cipher;		/* TLS_CIPHER_* */
	const char *kernel_name;	/* ss(8)'s word: "aes-gcm-128" ... */
	const char *kdf_digest;		/* "SHA256" or "SHA384" */
	uint8_t key_size, salt_size, iv_size, rec_seq_size, tag_size;
	/* TLS 1.2: length of client/server_write_IV in the key block */
	uint8_t tls12_fixed_iv_size;
	uint8_t info_size;		/* sizeof(struct tls12_crypto_info_*) */
	uint8_t iv_off, key_off, salt_off, rec_seq_off;
};

/* Keys for one direction, ready for setsockopt(SOL_TLS, TLS_TX or TLS_RX). */
struct ktls_keys {
	union {
		struct tls_crypto_info info;
		struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
		struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
		struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
		struct tls12_crypto_info_aes_ccm_128 aes_ccm_128;
		unsigned char bytes[1];
	} crypto;
	size_t len;			/* bytes of crypto to pass; 0 = empty */
	const struct ktls_cipher *cipher;
};

/* ktls_keys.c */

/* The table; ends with a row whose ssl_name is NULL. */
extern const struct ktls_cipher ktls_ciphers[];

/* Row for an SSL_CIPHER_get_id() value, NULL when it cannot be offloaded. */
const struct ktls_cipher *ktls_cipher_by_id(uint32_t ssl_id);
/* Row for an OpenSSL suite name, NULL when it cannot be offloaded. */
const struct ktls_cipher *ktls_cipher_by_name(const char *ssl_name);

/*
 * SSL_CTX keylog callback: keeps CLIENT_TRAFFIC_SECRET_0 and
 * SERVER_TRAFFIC_SECRET_0 of the SSL in ex_data (wiped and freed with the
 * SSL), ignores every other line. Needed for TLS 1.3 offload.
 */
void ktls_keylog_cb(const SSL *ssl, const char *line);
/* The captured secret (client or server side), or NULL; *len set. */
const unsigned char *ktls_captured_secret(const SSL *ssl, bool client,
					  size_t *len);
/* Wipe the captured secrets now (ktls_derive does it on success). */
void ktls_forget_secrets(const SSL *ssl);

/*
 * TLS 1.3 HKDF-Expand-Label(secret, "key", "", keylen) and
 * (secret, "iv", "", 12) through EVP_KDF "TLS13-KDF". 0 or -EIO.
 */
int ktls_tls13_traffic_keys(const EVP_MD *md, const unsigned char *secret,
			    size_t secret_len, size_t keylen,
			    unsigned char *key, unsigned char *iv);

/*
 * TLS 1.2 key block: PRF(master, "key expansion", server_random +
 * client_random) through EVP_KDF "TLS1-PRF", out_len bytes. 0 or -EIO.
 */
int ktls_tls12_key_block(const EVP_MD *md, const unsigned char *master,
			 size_t master_len, const unsigned char *client_random,
			 const unsigned char *server_random,
			 size_t random_len, unsigned char *out, size_t out_len);

/*
 * Fill KEYS for CIPHER from a write key and write IV (TLS 1.2: the
 * key block's fixed IV; TLS 1.3: the 12-byte derived IV) and the sequence
 * number of the next record.
 */
void ktls_keys_fill(struct ktls_keys *keys, const struct ktls_cipher *cipher,
		    const unsigned char *key, const unsigned char *iv,
		    uint64_t rec_seq);

/*
 * Sequence number of the first record after the handshake: 0 for TLS 1.3
 * (the server must send no session tickets: SSL_set_num_tickets(ssl, 0)),
 * 1 for TLS 1.2 (Finished used 0).
 */
uint64_t ktls_default_seq(const SSL *ssl);

/*
 * Derive the kernel's keys for a finished handshake: TX is what this end
 * writes, RX what it reads. Returns 0, or a negative errno with WHY set:
 * -EOPNOTSUPP the suite or version cannot be offloaded, -EAGAIN OpenSSL
 * still holds unread records, -ENOENT no TLS 1.3 secrets were captured,
 * -EIO the KDF failed. tx/rx are wiped on failure.
 */
int ktls_derive(SSL *ssl, bool is_server, struct ktls_keys *tx,
		struct ktls_keys *rx, char *why, size_t len);
/* Same with explicit sequence numbers for the next record each way. */
int ktls_derive_seq(SSL *ssl, bool is_server, uint64_t tx_seq,
		    uint64_t rx_seq, struct ktls_keys *tx,
		    struct ktls_keys *rx, char *why, size_t len);

void ktls_keys_wipe(struct ktls_keys *keys);

/* ktls.c */

/*
 * Does this kernel do TLS on TCP sockets? Tries the tls ULP and an
 * AES-GCM TX key on a throwaway loopback connection. 0, or -errno with
 * WHY set to a sentence for the log.
 */
int ktls_probe(char *why, size_t len);

/*
 * Attach the tls ULP to the connected socket FD and install TX then RX.
 * TX and RX are wiped on every path. Returns 0, or -errno with WHY set.
 * -ENOTRECOVERABLE means one direction was installed and the other was
 * not: the connection must be closed. On any other error the socket is
 * still a plain TCP socket and userspace TLS may carry on.
 */
int ktls_install(int fd, struct ktls_keys *tx, struct ktls_keys *rx,
		 char *why, size_t len);

/* A sentence for a setsockopt(SOL_TLS) errno (also used by tests). */
const char *ktls_strerror(int err);

/*
 * recvmsg() on a kTLS RX socket that also reports the record's content
 * type (TLS_GET_RECORD_TYPE): application data (23), alert (21: a
 * close_notify is level 1, description 0) or handshake (22: KeyUpdate,
 * NewSessionTicket). Records of different types are never merged.
 * Returns the bytes read (0 at EOF) or -1 with errno; *type is set when
 * bytes were read.
 */
ssize_t ktls_recv_record(int fd, void *buf, size_t len, int flags,
			 uint8_t *type);

/* Send a close_notify alert through the kernel's TX path. 0 or -errno. */
int ktls_send_close_notify(int fd);

#endif
