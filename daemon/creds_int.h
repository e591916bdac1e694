/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interface between creds.c (building an SSL_CTX), creds_load.c
 * (reading certificates, keys and CRLs from files) and verify.c (the peer
 * certificate checks added on top of OpenSSL's own).
 */
#ifndef KTLSD_CREDS_INT_H
#define KTLSD_CREDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* What one or several files held, in file order. */
struct creds_bundle {
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;
};

/* creds_load.c */
void creds_bundle_free(struct creds_bundle *b);
/*
 * Call FN for each file name of LIST (comma separated, blanks around names
 * ignored) until it returns non-zero, which is then returned.
 */
int creds_each_file(const char *list,
		    int (*fn)(const char *path, void *arg, char *err, size_t errlen),
		    void *arg, char *err, size_t errlen);
/*
 * Load the certificates and CRLs of each file of LIST through OSSL_STORE:
 * PEM, DER and PKCS#12 without a passphrase. Private keys are skipped: they
 * are only ever read by the key holder (keystore.h). On failure returns -1
 * and writes a sentence naming the file to ERR.
 */
int creds_load_list(const char *list, struct creds_bundle *b,
		    char *err, size_t errlen);
/*
 * Take the leaf (the certificate matching KEY, else the first) out of CERTS
 * and return the rest arranged in issuer order (leaf's issuer first).
 * Certificates not part of that chain are left in CERTS. NULL on allocation
 * failure.
 */
STACK_OF(X509) *creds_order_chain(STACK_OF(X509) *certs, EVP_PKEY *key,
				  X509 **leaf);

/* verify.c */
/* Install the verify callback and the purpose the peer's certificate must
 * have: SSL server certificates when WE_ARE_SERVER is false, SSL client
 * certificates when it is true. MODE is SSL_VERIFY_*. */
int verify_setup_ctx(SSL_CTX *ctx, bool we_are_server, int mode);
/* Require the peer's certificate to name HOST (seed rules: SAN DNS names if
 * any, else subject CN; case-insensitive; no wildcards). */
int verify_expect_host(SSL *ssl, const char *host);
/* True when NAME is an IPv4 or IPv6 address literal. */
bool verify_is_ip_literal(const char *name);

#endif
