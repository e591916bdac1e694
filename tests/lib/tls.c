// SPDX-License-Identifier: GPL-2.0
/* The OpenSSL helpers of testlib.h. */
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testlib.h"

int tl_pin_suite(SSL_CTX *ctx, int version, const char *suite)
{
	if (!SSL_CTX_set_min_proto_version(ctx, version) ||
	    !SSL_CTX_set_max_proto_version(ctx, version))
		return -1;
	if (version == TLS1_3_VERSION)
		return SSL_CTX_set_ciphersuites(ctx, suite) == 1 ? 0 : -1;
	return SSL_CTX_set_cipher_list(ctx, suite) == 1 ? 0 : -1;
}

SSL *tl_tls_connect(SSL_CTX *ctx, int port)
{
	struct timeval tv = { 30, 0 };
	int fd = tl_connect_loopback(port);
	SSL *ssl;

	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

void tl_tls_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

SSL_CTX *tl_self_signed_server_ctx(const char *cn)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509_NAME *name;
	int ok = pkey && x && ctx;

	if (ok) {
		name = X509_get_subject_name(x);
		ok = X509_set_version(x, 2) &&
		     ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
		     X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
		     X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
		     X509_set_pubkey(x, pkey) &&
		     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						(const unsigned char *)cn, -1, -1, 0) &&
		     X509_set_issuer_name(x, name) &&
		     X509_sign(x, pkey, EVP_sha256()) &&
		     SSL_CTX_use_certificate(ctx, x) == 1 &&
		     SSL_CTX_use_PrivateKey(ctx, pkey) == 1;
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int tl_client_hello(unsigned char *buf, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	int n = -1;

	if (ssl && rb && wb) {
		SSL_set_bio(ssl, rb, wb);	/* the SSL owns them now */
		rb = wb = NULL;
		SSL_set_tlsext_host_name(ssl, "localhost");
		SSL_connect(ssl);	/* writes the ClientHello, wants to read */
		n = BIO_read(SSL_get_wbio(ssl), buf, (int)cap);
	}
	BIO_free(rb);
	BIO_free(wb);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return n > 0 ? n : -1;
}
