// SPDX-License-Identifier: GPL-2.0
/*
 * Peer certificate checks. OpenSSL verifies the chain, the dates, the CRLs
 * and the purpose; this file adds what the seeds ask for and OpenSSL does
 * not do on its own, and keeps, per SSL, one sentence saying why a peer was
 * refused:
 *  - weak signature hashes (MD4, MD5, SHA-1) on any certificate of the chain
 *    but a self-signed root, whose signature nobody relies on;
 *  - the host name rule of tls-target-name-check=host: the SAN DNS names if
 *    the certificate has any, else the subject CN, compared without regard
 *    to case, and no wildcard accepted anywhere in those names.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "creds_int.h"

#define REASON_MAX 512

struct verify_state {
	char *expected_host;		/* NULL: no host check */
	char reason[REASON_MAX];	/* first refusal, "" if none */
};

static int state_index = -1;
static CRYPTO_ONCE state_once = CRYPTO_ONCE_STATIC_INIT;

static void state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		       long argl, void *argp)
{
	struct verify_state *st = ptr;

	if (st) {
		free(st->expected_host);
		free(st);
	}
}

static void state_index_init(void)
{
	state_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, state_free);
}

static struct verify_state *state_get(const SSL *ssl, bool create)
{
	struct verify_state *st;

	if (!CRYPTO_THREAD_run_once(&state_once, state_index_init) ||
	    state_index < 0)
		return NULL;
	st = SSL_get_ex_data(ssl, state_index);
	if (!st && create) {
		st = calloc(1, sizeof(*st));
		if (st && !SSL_set_ex_data((SSL *)ssl, state_index, st)) {
			free(st);
			st = NULL;
		}
	}
	return st;
}

static void set_reason(struct verify_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_reason(struct verify_state *st, const char *fmt, ...)
{
	va_list ap;

	if (!st || st->reason[0])
		return;		/* keep the first, most specific reason */
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
}

bool verify_is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(name);

	if (inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1)
		return true;
	/* "[::1]" as written in URLs */
	if (len > 2 && len < sizeof(tmp) && name[0] == '[' &&
	    name[len - 1] == ']') {
		memcpy(tmp, name + 1, len - 2);
		tmp[len - 2] = '\0';
		return inet_pton(AF_INET6, tmp, buf) == 1;
	}
	return false;
}

/* The signature digest of X when it is one the seeds call weak, or NULL. */
static const char *weak_hash_name(X509 *x)
{
	int mdnid = NID_undef;

	if (!X509_get_signature_info(x, &mdnid, NULL, NULL, NULL))
		return NULL;
	switch (mdnid) {
	case NID_md4:		return "MD4";
	case NID_md5:		return "MD5";
	case NID_md5_sha1:	return "MD5-SHA1";
	case NID_sha1:		return "SHA-1";
	}
	return NULL;
}

/*
 * Append the names the host rule looks at to OUT ("SAN DNS:a, DNS:b" or
 * "CN c"); returns true if one of them holds a '*'.
 */
static bool describe_names(X509 *x, char *out, size_t outlen)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	bool wildcard = false, any_dns = false;
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const unsigned char *s;
		int n;

		if (gn->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(gn->d.dNSName);
		n = ASN1_STRING_length(gn->d.dNSName);
		if (memchr(s, '*', n))
			wildcard = true;
		if (used < outlen)
			used += snprintf(out + used, outlen - used, "%sDNS:%.*s",
					 any_dns ? ", " : "SAN ", n, s);
		any_dns = true;
	}
	GENERAL_NAMES_free(sans);
	if (!any_dns) {
		X509_NAME *subj = X509_get_subject_name(x);
		int i = -1;

		snprintf(out, outlen, "no SAN DNS name and no CN");
		used = 0;
		while ((i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0) {
			ASN1_STRING *d = X509_NAME_ENTRY_get_data(
				X509_NAME_get_entry(subj, i));
			const unsigned char *s = ASN1_STRING_get0_data(d);
			int n = ASN1_STRING_length(d);

			if (memchr(s, '*', n))
				wildcard = true;
			if (used < outlen)
				used += snprintf(out + used, outlen - used,
						 "%sCN %.*s", used ? ", " : "",
						 n, s);
		}
	}
	return wildcard;
}

static int check_host(struct verify_state *st, X509 *x)
{
	/* SAN DNS names replace the CN when present (OpenSSL's default);
	 * wildcards were refused above, so NO_WILDCARDS only guards. */
	const unsigned int flags = X509_CHECK_FLAG_NO_WILDCARDS;
	char names[REASON_MAX - 64];

	if (describe_names(x, names, sizeof(names))) {
		set_reason(st, "wildcard names are not accepted (certificate has %s)",
			   names);
		return 0;
	}
	if (X509_check_host(x, st->expected_host, 0, flags, NULL) != 1) {
		set_reason(st, "host name mismatch: wanted %s, certificate has %s",
			   st->expected_host, names);
		return 0;
	}
	return 1;
}

/* Turn OpenSSL's verification error into the sentence for the logs. */
static void reason_from_error(struct verify_state *st, SSL *ssl, int err,
			      X509 *x)
{
	const char *hash;

	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		set_reason(st, "certificate has expired");
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		set_reason(st, "certificate is not yet valid");
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		set_reason(st, "unknown CA or broken chain (%s)",
			   X509_verify_cert_error_string(err));
		break;
	case X509_V_ERR_CERT_REVOKED:
		set_reason(st, "certificate revoked");
		break;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		set_reason(st, "no CRL for a certificate of the chain (check crl/tls-crl)");
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		if (SSL_is_server(ssl))
			set_reason(st, "certificate not for TLS client use (extendedKeyUsage lacks clientAuth)");
		else
			set_reason(st, "certificate not for TLS server use (extendedKeyUsage lacks serverAuth)");
		break;
	case X509_V_ERR_CA_MD_TOO_WEAK:
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
		hash = x ? weak_hash_name(x) : NULL;
		if (hash) {
			set_reason(st, "certificate signed with %s (weak hash)", hash);
			break;
		}
		/* fall through */
	default:
		set_reason(st, "certificate verification failed: %s",
			   X509_verify_cert_error_string(err));
	}
}

static int verify_cb(int ok, X509_STORE_CTX *xctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xctx,
				SSL_get_ex_data_X509_STORE_CTX_idx());
	struct verify_state *st = ssl ? state_get(ssl, true) : NULL;
	X509 *x = X509_STORE_CTX_get_current_cert(xctx);
	int depth = X509_STORE_CTX_get_error_depth(xctx);
	const char *hash;

	if (!ok) {
		reason_from_error(st, ssl, X509_STORE_CTX_get_error(xctx), x);
		return 0;
	}
	if (!x)
		return ok;
	hash = weak_hash_name(x);
	if (hash && !(X509_get_extension_flags(x) & EXFLAG_SS)) {
		set_reason(st, "certificate signed with %s (weak hash)", hash);
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_CA_MD_TOO_WEAK);
		return 0;
	}
	if (depth == 0 && st && st->expected_host && !check_host(st, x)) {
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return ok;
}

int verify_setup_ctx(SSL_CTX *ctx, bool we_are_server, int mode)
{
	/* The peer of a server is a client and vice versa. */
	int purpose = we_are_server ? X509_PURPOSE_SSL_CLIENT
				    : X509_PURPOSE_SSL_SERVER;

	if (!SSL_CTX_set_purpose(ctx, purpose))
		return -1;
	SSL_CTX_set_verify(ctx, mode, verify_cb);
	return 0;
}

int verify_expect_host(SSL *ssl, const char *host)
{
	struct verify_state *st = state_get(ssl, true);

	if (!st || !host || !*host || strchr(host, '*') ||
	    verify_is_ip_literal(host))
		return -1;
	free(st->expected_host);
	st->expected_host = strdup(host);
	return st->expected_host ? 0 : -1;
}

const char *verify_failure_reason(const SSL *ssl)
{
	struct verify_state *st = state_get(ssl, false);
	long res;

	if (st && st->reason[0])
		return st->reason;
	res = SSL_get_verify_result(ssl);
	if (res == X509_V_OK) {
		/* Mutual TLS and no certificate came: no callback ran, only
		 * the error queue (not yet cleared by the caller) says so. */
		unsigned long e = ERR_peek_last_error();

		if (SSL_is_server(ssl) && !SSL_get0_peer_certificate(ssl) &&
		    ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
			return "peer sent no certificate (mutual TLS requires one)";
		return NULL;
	}
	/* No callback ran (e.g. no certificate at all): use OpenSSL's code. */
	st = state_get(ssl, true);
	if (!st)
		return X509_verify_cert_error_string(res);
	reason_from_error(st, (SSL *)ssl, (int)res, NULL);
	return st->reason;
}
