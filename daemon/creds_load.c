// SPDX-License-Identifier: GPL-2.0
/*
 * Reading certificates, private keys and CRLs from files through OSSL_STORE,
 * so that PEM, DER and PKCS#12 all work without ktlsd knowing the format,
 * and arranging a set of certificates into a chain (the seeds let the user
 * list chain files in any order).
 */
#include <unistd.h>
#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509v3.h>

#include "creds_int.h"

void creds_bundle_free(struct creds_bundle *b)
{
	sk_X509_pop_free(b->certs, X509_free);
	sk_X509_CRL_pop_free(b->crls, X509_CRL_free);
	memset(b, 0, sizeof(*b));
}

/* The last OpenSSL error as text, for messages; clears the queue. */
static const char *last_ssl_error(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unrecognised content";
}

static int take_info(OSSL_STORE_INFO *info, const char *path,
		     struct creds_bundle *b)
{
	switch (OSSL_STORE_INFO_get_type(info)) {
	case OSSL_STORE_INFO_CERT: {
		X509 *x = OSSL_STORE_INFO_get1_CERT(info);

		if (!x || !sk_X509_push(b->certs, x)) {
			X509_free(x);
			return -1;
		}
		return 1;
	}
	case OSSL_STORE_INFO_CRL: {
		X509_CRL *c = OSSL_STORE_INFO_get1_CRL(info);

		if (!c || !sk_X509_CRL_push(b->crls, c)) {
			X509_CRL_free(c);
			return -1;
		}
		return 1;
	}
	case OSSL_STORE_INFO_PKEY:
		/* Private keys are the key holder's (keystore.c); one bundled
		 * with certificates is counted as content and left alone. */
		return 1;
	default:
		return 0;	/* parameters, public keys: not ours */
	}
}

static int load_one(const char *path, struct creds_bundle *b, char *err,
		    size_t errlen)
{
	OSSL_STORE_CTX *store;
	int objects = 0;

	/* OSSL_STORE says "unrecognised content" for a missing file too:
	 * name the real cause first. */
	if (access(path, R_OK) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	/* No UI: a protected file fails instead of prompting on a tty. */
	store = OSSL_STORE_open(path, UI_null(), NULL, NULL, NULL);
	if (!store) {
		snprintf(err, errlen, "cannot open %s (%s)", path,
			 last_ssl_error());
		return -1;
	}
	while (!OSSL_STORE_eof(store)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(store);
		int r;

		if (!info) {
			if (OSSL_STORE_error(store) || !OSSL_STORE_eof(store))
				break;
			continue;
		}
		r = take_info(info, path, b);
		OSSL_STORE_INFO_free(info);
		if (r < 0) {
			OSSL_STORE_close(store);
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
		objects += r;
	}
	OSSL_STORE_close(store);
	if (!objects) {
		snprintf(err, errlen,
			 "%s holds no certificate, key or CRL ktlsd can read (%s)",
			 path, last_ssl_error());
		return -1;
	}
	ERR_clear_error();
	return 0;
}

int creds_each_file(const char *list,
		    int (*fn)(const char *path, void *arg, char *err, size_t errlen),
		    void *arg, char *err, size_t errlen)
{
	const char *p = list;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char path[4096];

		while (len && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len >= sizeof(path)) {
			snprintf(err, errlen, "file name too long");
			return -1;
		}
		if (len) {
			int r;

			memcpy(path, p, len);
			path[len] = '\0';
			r = fn(path, arg, err, errlen);
			if (r != 0)
				return r;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

static int load_into_bundle(const char *path, void *arg, char *err,
			    size_t errlen)
{
	return load_one(path, arg, err, errlen);
}

int creds_load_list(const char *list, struct creds_bundle *b, char *err,
		    size_t errlen)
{
	if (!b->certs)
		b->certs = sk_X509_new_null();
	if (!b->crls)
		b->crls = sk_X509_CRL_new_null();
	if (!b->certs || !b->crls) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return creds_each_file(list, load_into_bundle, b, err, errlen);
}

/* Index in CERTS of the certificate that issued X, or -1. */
static int find_issuer(STACK_OF(X509) *certs, X509 *x)
{
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (X509_check_issued(sk_X509_value(certs, i), x) == X509_V_OK)
			return i;
	return -1;
}

STACK_OF(X509) *creds_order_chain(STACK_OF(X509) *certs, EVP_PKEY *key,
				  X509 **leaf)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	int leaf_idx = 0;
	X509 *cur;

	*leaf = NULL;
	if (!chain || !sk_X509_num(certs))
		return chain;
	if (key) {
		for (int i = 0; i < sk_X509_num(certs); i++) {
			if (X509_check_private_key(sk_X509_value(certs, i), key)) {
				leaf_idx = i;
				break;
			}
		}
		ERR_clear_error();	/* mismatches leave errors queued */
	}
	cur = *leaf = sk_X509_delete(certs, leaf_idx);
	/* Follow issuers until a self-signed certificate or a gap. */
	while (!(X509_get_extension_flags(cur) & EXFLAG_SS)) {
		int i = find_issuer(certs, cur);

		if (i < 0)
			break;
		cur = sk_X509_delete(certs, i);
		if (!sk_X509_push(chain, cur)) {
			X509_free(cur);
			sk_X509_pop_free(chain, X509_free);
			X509_free(*leaf);
			*leaf = NULL;
			return NULL;
		}
	}
	return chain;
}
