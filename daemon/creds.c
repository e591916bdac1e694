// SPDX-License-Identifier: GPL-2.0
/*
 * From a resolved port or connection to an SSL_CTX: own certificate chain
 * and key, trusted CAs, CRLs, protocol versions, ciphers and peer
 * verification (verify.c). Files are read through creds_load.c.
 *
 * Every problem is written to DIAG as
 *   FILE:LINE: error: [LEVEL] OPTION: message
 * with the place where the option was set, so the user knows which line of
 * which section to fix. Warnings have the same shape and do not fail.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "creds_int.h"
#include "keystore.h"

#define EXPIRY_WARN_DAYS 30

/* Where messages about one port or connection go. */
struct creds_job {
	FILE *diag;
	const struct cfg_security *sec;
	const char *file;	/* the object's own place, for unset options */
	unsigned int line;
	bool allow_insecure_keys;	/* [ktlsd] allow-insecure-key-permissions */
	const char *user;		/* [ktlsd] user: the key holder's */
	int errors;
};

static void report(struct creds_job *job, bool is_error, enum sec_option opt,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void report(struct creds_job *job, bool is_error, enum sec_option opt,
		   const char *fmt, ...)
{
	const struct cfg_value *v = &job->sec->opt[opt];
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (is_error)
		job->errors++;
	if (!job->diag)
		return;
	fprintf(job->diag, "%s:%u: %s: [%s] %s: %s\n",
		v->file ? v->file : (job->file ? job->file : "-"),
		v->file ? v->line : job->line, is_error ? "error" : "warning",
		v->level ? config_level_name(v->level) : "default",
		config_option_name(opt), msg);
}

static const char *opt_value(const struct creds_job *job, enum sec_option opt)
{
	const char *s = job->sec->opt[opt].value;

	return s && *s ? s : NULL;
}

static const char *ssl_error_text(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

/* Own certificate dates: expired or not yet valid fail, soon expired warns. */
static void check_own_dates(struct creds_job *job, X509 *leaf)
{
	time_t soon = time(NULL) + EXPIRY_WARN_DAYS * 86400L;
	int days = 0, secs = 0;

	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
		report(job, true, OPT_CERTIFICATE, "certificate is not yet valid");
		return;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
		report(job, true, OPT_CERTIFICATE, "certificate has expired");
		return;
	}
	if (X509_cmp_time(X509_get0_notAfter(leaf), &soon) < 0 &&
	    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)))
		report(job, false, OPT_CERTIFICATE,
		       "certificate expires in %d days; renew it", days);
}

/* Own certificate purpose: a peer applying the seeds' checks refuses it. */
static void check_own_purpose(struct creds_job *job, X509 *leaf, bool server)
{
	int purpose = server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;

	if (X509_check_purpose(leaf, purpose, 0) != 1)
		report(job, false, OPT_CERTIFICATE,
		       "certificate is not for TLS %s use (extendedKeyUsage lacks %s); peers will refuse it",
		       server ? "server" : "client",
		       server ? "serverAuth" : "clientAuth");
	ERR_clear_error();
}

/* Where the key search of use_own_credentials stands. */
struct key_search {
	struct creds_job *job;
	EVP_PKEY *proxy;	/* signs through the key holder */
	EVP_PKEY *pub;		/* its public half */
};

static int try_key_file(const char *path, void *arg, char *err, size_t errlen)
{
	struct key_search *ks = arg;
	bool no_key;

	ks->proxy = keystore_load(ks->job->user, path, ks->job->allow_insecure_keys,
				  &ks->pub, &no_key, err, errlen);
	if (ks->proxy)
		return 1;	/* found: stop here */
	return no_key ? 0 : -1;
}

/* certificate + certificate-key: leaf, chain in issuer order, key. */
static int use_own_credentials(struct creds_job *job, SSL_CTX *ctx,
			       bool server)
{
	const char *cert = opt_value(job, OPT_CERTIFICATE);
	const char *keyfile = opt_value(job, OPT_CERTIFICATE_KEY);
	struct creds_bundle b = { 0 };
	struct key_search ks = { .job = job };
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	char err[512];
	int ret = -1;

	if (!cert) {
		report(job, true, OPT_CERTIFICATE, "not set; a certificate is required here");
		return -1;
	}
	if (creds_load_list(cert, &b, err, sizeof(err)) < 0) {
		report(job, true, OPT_CERTIFICATE, "%s", err);
		goto out;
	}
	/* The key file's key, else one bundled with the certificate. */
	if (creds_each_file(keyfile ? keyfile : cert, try_key_file, &ks, err,
			    sizeof(err)) < 0) {
		report(job, true, keyfile ? OPT_CERTIFICATE_KEY : OPT_CERTIFICATE,
		       "%s", err);
		goto out;
	}
	if (!ks.proxy) {
		report(job, true, OPT_CERTIFICATE_KEY, "%s%s",
		       keyfile ? "no private key in " : "not set and no private key in ",
		       keyfile ? keyfile : cert);
		goto out;
	}
	if (!sk_X509_num(b.certs)) {
		report(job, true, OPT_CERTIFICATE, "no certificate in %s", cert);
		goto out;
	}
	chain = creds_order_chain(b.certs, ks.pub, &leaf);
	if (!chain || !leaf) {
		report(job, true, OPT_CERTIFICATE, "out of memory");
		goto out;
	}
	if (sk_X509_num(b.certs))
		report(job, false, OPT_CERTIFICATE,
		       "%d certificate(s) in %s are not part of the chain and are not sent",
		       sk_X509_num(b.certs), cert);
	check_own_dates(job, leaf);
	check_own_purpose(job, leaf, server);
	if (SSL_CTX_use_certificate(ctx, leaf) != 1 ||
	    SSL_CTX_set1_chain(ctx, chain) != 1) {
		report(job, true, OPT_CERTIFICATE, "%s cannot be used (%s)", cert,
		       ssl_error_text());
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, ks.proxy) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		report(job, true, OPT_CERTIFICATE_KEY,
		       "the private key in %s does not match the certificate in %s",
		       keyfile ? keyfile : cert, cert);
		goto out;
	}
	ret = 0;
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	creds_bundle_free(&b);
	EVP_PKEY_free(ks.proxy);	/* the context keeps its own reference */
	EVP_PKEY_free(ks.pub);
	return ret;
}

/* trusted-ca (several CAs per file, several files) and the CRLs. */
static int use_trust(struct creds_job *job, SSL_CTX *ctx, bool required,
		     enum sec_option crl_opt, bool send_ca_names)
{
	const char *cafile = opt_value(job, OPT_TRUSTED_CA);
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	struct creds_bundle b = { 0 };
	enum sec_option crl_used = crl_opt;
	const char *crl;
	char err[512];
	int ret = -1;

	if (!cafile) {
		if (required)
			report(job, true, OPT_TRUSTED_CA,
			       "not set; the CA that signs the peer's certificate is required here");
		return required ? -1 : 0;
	}
	if (creds_load_list(cafile, &b, err, sizeof(err)) < 0) {
		report(job, true, OPT_TRUSTED_CA, "%s", err);
		goto out;
	}
	if (!sk_X509_num(b.certs)) {
		report(job, true, OPT_TRUSTED_CA, "no certificate in %s", cafile);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(b.certs); i++) {
		X509 *ca = sk_X509_value(b.certs, i);

		if (X509_STORE_add_cert(store, ca) != 1 ||
		    (send_ca_names && SSL_CTX_add_client_CA(ctx, ca) != 1)) {
			report(job, true, OPT_TRUSTED_CA, "%s: %s", cafile,
			       ssl_error_text());
			goto out;
		}
	}
	/* Each side has its own option; accept the other spelling too. */
	crl = opt_value(job, crl_opt);
	if (!crl) {
		crl_used = crl_opt == OPT_CRL ? OPT_TLS_CRL : OPT_CRL;
		crl = opt_value(job, crl_used);
	}
	if (crl) {
		struct creds_bundle c = { 0 };

		if (creds_load_list(crl, &c, err, sizeof(err)) < 0 ||
		    !sk_X509_CRL_num(c.crls)) {
			report(job, true, crl_used, "%s",
			       sk_X509_CRL_num(c.crls) ? err : "no CRL in the file");
			creds_bundle_free(&c);
			goto out;
		}
		for (int i = 0; i < sk_X509_CRL_num(c.crls); i++)
			X509_STORE_add_crl(store, sk_X509_CRL_value(c.crls, i));
		creds_bundle_free(&c);
		ERR_clear_error();	/* duplicates are not an error */
		/* Revocation is checked over the whole chain, root excepted. */
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
				     X509_V_FLAG_CRL_CHECK_ALL);
	}
	ret = 0;
out:
	creds_bundle_free(&b);
	return ret;
}

/*
 * TLS 1.2 ciphers when cipher-list names none: ECDHE key exchange with the
 * AEADs the kernel takes over (kTLS: AES-GCM, ChaCha20-Poly1305). OpenSSL's
 * own default adds CBC (LUCKY13-prone, never offloaded), plain-RSA key
 * exchange (no forward secrecy) and DHE; an operator who needs them lists
 * them. OpenSSL's TLS 1.3 default (AES-GCM, ChaCha20) is already all AEAD.
 */
#define DEFAULT_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/* cipher-list: TLS 1.3 suite names (TLS_*) and TLS 1.2 cipher strings may
 * be mixed, separated by ':'; each part goes to its own OpenSSL call. */
/* A server's suites with RSA key exchange, which needs the private key
 * to decrypt (the key holder only signs): taken out, with a warning. */
static int drop_rsa_key_exchange(struct creds_job *job, SSL_CTX *ctx,
				 const char *v12)
{
	STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
	char list[1100];

	for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);

		if (SSL_CIPHER_get_kx_nid(c) != NID_kx_rsa)
			continue;
		report(job, false, OPT_CIPHER_LIST,
		       "RSA key exchange suites such as %s are not offered: they "
		       "would need the private key where the network is parsed; "
		       "the ECDHE suites give forward secrecy too",
		       SSL_CIPHER_get_name(c));
		snprintf(list, sizeof(list), "%s:!kRSA", v12);
		if (SSL_CTX_set_cipher_list(ctx, list) != 1) {
			report(job, true, OPT_CIPHER_LIST,
			       "no usable TLS 1.2 cipher in \"%s\" without RSA key "
			       "exchange; add ECDHE suites (ECDHE+AESGCM)", v12);
			return -1;
		}
		return 0;
	}
	return 0;
}

static int use_ciphers(struct creds_job *job, SSL_CTX *ctx, bool server)
{
	const char *list = opt_value(job, OPT_CIPHER_LIST);
	char *copy, *tok, *save = NULL;
	char v12[1024] = "", v13[1024] = "";
	int ret = 0;

	copy = strdup(list ? list : "");
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ": ,", &save); tok;
	     tok = strtok_r(NULL, ": ,", &save)) {
		char *dst = strncmp(tok, "TLS_", 4) ? v12 : v13;
		size_t len = strlen(dst);

		snprintf(dst + len, sizeof(v12) - len, "%s%s", len ? ":" : "", tok);
	}
	free(copy);
	if (!v12[0])
		snprintf(v12, sizeof(v12), "%s", DEFAULT_TLS12_CIPHERS);
	if (SSL_CTX_set_cipher_list(ctx, v12) != 1) {
		report(job, true, OPT_CIPHER_LIST, "no usable TLS 1.2 cipher in \"%s\" (%s)",
		       v12, ssl_error_text());
		ret = -1;
	} else if (server && drop_rsa_key_exchange(job, ctx, v12) < 0) {
		ret = -1;
	}
	if (v13[0] && SSL_CTX_set_ciphersuites(ctx, v13) != 1) {
		report(job, true, OPT_CIPHER_LIST, "unknown TLS 1.3 cipher suite in \"%s\" (%s)",
		       v13, ssl_error_text());
		ret = -1;
	}
	return ret;
}

static SSL_CTX *new_ctx(struct creds_job *job, const SSL_METHOD *method,
			const struct cfg_versions *v)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	int min = v->min_version ? v->min_version : TLS1_2_VERSION;

	if (!ctx) {
		report(job, true, OPT_SEC_PROTOCOL, "cannot create a TLS context (%s)",
		       ssl_error_text());
		return NULL;
	}
	if (min < TLS1_2_VERSION)
		min = TLS1_2_VERSION;	/* older versions are never offered */
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, v->max_version) != 1) {
		report(job, true, OPT_SEC_PROTOCOL, "unsupported protocol version (%s)",
		       ssl_error_text());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	return ctx;
}

static SSL_CTX *finish(struct creds_job *job, SSL_CTX *ctx)
{
	if (job->errors) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *creds_server_ctx(const struct ktlsd_config *cfg,
			  const struct cfg_port *port, FILE *diag)
{
	struct creds_job job = {
		.diag = diag, .sec = &port->effective,
		.file = cfg ? cfg->path : NULL, .line = port->line,
		.allow_insecure_keys = cfg && cfg->daemon.allow_insecure_key_permissions,
		.user = cfg ? cfg->daemon.user : NULL,
	};
	int mode = port->mutual ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				: SSL_VERIFY_NONE;
	SSL_CTX *ctx = new_ctx(&job, TLS_server_method(), &port->versions);

	if (!ctx)
		return NULL;
	use_own_credentials(&job, ctx, true);
	/* The seeds' server sends its trusted CAs to the client (mutual TLS). */
	use_trust(&job, ctx, port->mutual, OPT_CRL, true);
	use_ciphers(&job, ctx, true);
	/* A DHE suite an operator lists gets OpenSSL's built-in group sized
	 * to the certificate (RFC 7919); the default list has none. */
	SSL_CTX_set_dh_auto(ctx, 1);
	/* The server's order decides (strongest first), except that a client
	 * that puts ChaCha20 first (no AES hardware) gets it. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_PRIORITIZE_CHACHA);
	if (verify_setup_ctx(ctx, true, mode) < 0)
		report(&job, true, OPT_TLS_MUTUAL, "cannot set up verification");
	/* Resuming a session whose client was verified needs a context id
	 * naming what it was verified for: the port. */
	if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)port->name,
			port->name ? MIN(strlen(port->name), SSL_MAX_SID_CTX_LENGTH) : 0) != 1)
		report(&job, true, OPT_TLS_MUTUAL, "cannot set the session id context");
	return finish(&job, ctx);
}

SSL_CTX *creds_client_ctx(const struct ktlsd_config *cfg,
			  const struct cfg_connection *conn, FILE *diag)
{
	struct creds_job job = {
		.diag = diag, .sec = &conn->effective,
		.file = cfg ? cfg->path : NULL, .line = conn->line,
		.allow_insecure_keys = cfg && cfg->daemon.allow_insecure_key_permissions,
		.user = cfg ? cfg->daemon.user : NULL,
	};
	SSL_CTX *ctx;

	if (conn->target_name_check && conn->server_host &&
	    verify_is_ip_literal(conn->server_host)) {
		report(&job, true, OPT_TLS_TARGET_NAME_CHECK,
		       "the server is given as the address %s; the host check needs its FQDN",
		       conn->server_host);
		return NULL;
	}
	ctx = new_ctx(&job, TLS_client_method(), &conn->versions);
	if (!ctx)
		return NULL;
	if (conn->mutual)
		use_own_credentials(&job, ctx, false);
	use_trust(&job, ctx, true, OPT_TLS_CRL, false);
	use_ciphers(&job, ctx, false);
	if (verify_setup_ctx(ctx, false, SSL_VERIFY_PEER) < 0)
		report(&job, true, OPT_TRUSTED_CA, "cannot set up verification");
	return finish(&job, ctx);
}

void creds_explain_ciphers(const struct cfg_security *sec,
			   const struct cfg_versions *v, bool server, FILE *out)
{
	struct creds_job job = { .sec = sec };	/* no diag: -t reports errors */
	SSL_CTX *ctx = new_ctx(&job, server ? TLS_server_method() :
			       TLS_client_method(), v);
	STACK_OF(SSL_CIPHER) *all;

	if (ctx)
		use_ciphers(&job, ctx, false);
	if (!ctx || job.errors) {
		fprintf(out, "  ciphers: (cipher-list or sec-protocol has errors; "
			"see --check-config)\n");
		SSL_CTX_free(ctx);
		return;
	}
	all = SSL_CTX_get_ciphers(ctx);
	for (int tls13 = 1; tls13 >= 0; tls13--) {
		int shown = 0;

		if ((tls13 && v->max_version == TLS1_2_VERSION) ||
		    (!tls13 && v->min_version == TLS1_3_VERSION))
			continue;
		fprintf(out, "  ciphers (TLS 1.%d):", tls13 ? 3 : 2);
		for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
			const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);

			if (!strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == !tls13)
				continue;
			fprintf(out, " %s", SSL_CIPHER_get_name(c));
			shown++;
		}
		fprintf(out, "%s\n", shown ? "" : " (none)");
	}
	SSL_CTX_free(ctx);
}

int creds_client_prepare(SSL *ssl, const struct cfg_connection *conn)
{
	const char *host = conn->server_host;

	if (!host || !*host)
		return conn->target_name_check ? -1 : 0;
	/* SNI carries names only (RFC 6066), never address literals. */
	if (!verify_is_ip_literal(host) &&
	    SSL_set_tlsext_host_name(ssl, host) != 1)
		return -1;
	if (conn->target_name_check)
		return verify_expect_host(ssl, host);
	return 0;
}
