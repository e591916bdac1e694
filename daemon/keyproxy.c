// SPDX-License-Identifier: GPL-2.0
/*
 * keyproxy: an OpenSSL 3 provider for keys whose private half lives in the
 * key holder process (keyholder.c).
 *
 * A keyproxy key is the public half of a server or client key plus the key
 * holder's id for it. The provider offers two key types (EC and RSA) and
 * their signature operations:
 *   - key management answers every question about the key (bits, group,
 *     size) from the public half and never exports a private part, so
 *     OpenSSL cannot move the key to another provider and sign there;
 *   - the signature hashes the data here and sends the digest, with the RSA
 *     padding and PSS salt length OpenSSL asked for, to the key holder.
 * The default provider stays the preferred one for everything (keyproxy_init
 * sets "?provider=default"), so keyproxy is only chosen for its own keys:
 * OpenSSL first tries the default provider's signature, cannot export the
 * key to it, and then uses the key's own provider.
 *
 * A plain public key may be imported too: that is how X509_check_private_key
 * compares a certificate with a keyproxy key (EVP_PKEY_eq imports the
 * certificate's key here and calls match).
 *
 * The signature goes to the key holder on a sign channel (signchan.c):
 * queued with others and the handshake paused when it runs in an OpenSSL
 * async job, a blocking round trip otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keyholder.h"
#include "log.h"

#define KP_NAME		"ktlsd.keyproxy"
#define KP_PROPS	"provider=ktlsd.keyproxy"
#define KP_PARAM_ID	"ktlsd-key-id"
#define KP_PARAM_SPKI	"ktlsd-public-key"

/* Set once at start-up, before any key exists; read-only afterwards. */
static void (*release_hook)(uint32_t id);

void keyproxy_set_release_hook(void (*hook)(uint32_t id))
{
	release_hook = hook;
}

struct kp_key {
	const char *type;	/* "EC" or "RSA": the keymgmt it belongs to */
	EVP_PKEY *pub;		/* public half (default provider) */
	uint32_t id;		/* key holder id; 0: a public key only */
};

/* ---- key management ------------------------------------------------ */

static void *kp_new_type(const char *type)
{
	struct kp_key *k = OPENSSL_zalloc(sizeof(*k));

	if (k)
		k->type = type;
	return k;
}

static void *kp_ec_new(void *provctx) { return kp_new_type("EC"); }
static void *kp_rsa_new(void *provctx) { return kp_new_type("RSA"); }

static void kp_free(void *keydata)
{
	struct kp_key *k = keydata;

	if (!k)
		return;
	if (k->id && release_hook)
		release_hook(k->id);
	EVP_PKEY_free(k->pub);
	OPENSSL_free(k);
}

static int kp_has(const void *keydata, int selection)
{
	const struct kp_key *k = keydata;

	if (!k || !k->pub)
		return 0;
	/* The private half exists, in the key holder. */
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !k->id)
		return 0;
	return 1;
}

/* Our own form: the key holder's id and the DER public key. */
static int import_proxy(struct kp_key *k, const OSSL_PARAM *spki,
			const OSSL_PARAM *id)
{
	const unsigned char *der;
	const void *p;
	size_t len;
	unsigned int v;

	if (!OSSL_PARAM_get_octet_string_ptr(spki, &p, &len) ||
	    !OSSL_PARAM_get_uint(id, &v) || v == 0)
		return 0;
	der = p;
	k->pub = d2i_PUBKEY_ex(NULL, &der, (long)len, NULL, "provider=default");
	k->id = v;
	return k->pub && EVP_PKEY_is_a(k->pub, k->type);
}

static int kp_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct kp_key *k = keydata;
	const OSSL_PARAM *spki = OSSL_PARAM_locate_const(params, KP_PARAM_SPKI);
	const OSSL_PARAM *id = OSSL_PARAM_locate_const(params, KP_PARAM_ID);
	EVP_PKEY_CTX *ctx;
	int ok;

	if (!k || k->pub)
		return 0;
	if (spki && id)
		return import_proxy(k, spki, id);
	/* A plain public key, to be compared with ours (EVP_PKEY_eq). */
	if (!(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY))
		return 0;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, k->type, "provider=default");
	ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	     EVP_PKEY_fromdata(ctx, &k->pub, EVP_PKEY_PUBLIC_KEY,
			       (OSSL_PARAM *)params) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static const OSSL_PARAM *kp_import_types(int selection)
{
	static const OSSL_PARAM types[] = {
		OSSL_PARAM_octet_string(KP_PARAM_SPKI, NULL, 0),
		OSSL_PARAM_uint(KP_PARAM_ID, NULL),
		OSSL_PARAM_END
	};

	return types;
}

/* Public parts only: a request that includes the private half fails, which
 * keeps OpenSSL from moving the key to a provider that would sign with
 * nothing. */
static int kp_export(void *keydata, int selection, OSSL_CALLBACK *cb,
		     void *cbarg)
{
	struct kp_key *k = keydata;

	if (!k || !k->pub || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
		return 0;
	return EVP_PKEY_export(k->pub, selection, cb, cbarg);
}

static const OSSL_PARAM *kp_export_types(int selection)
{
	static const OSSL_PARAM none[] = { OSSL_PARAM_END };

	/* The public half's own provider describes it; OpenSSL asks for
	 * these only to pre-check, never to decide. */
	return none;
}

static int kp_match(const void *a, const void *b, int selection)
{
	const struct kp_key *ka = a, *kb = b;

	return ka && kb && ka->pub && kb->pub &&
	       EVP_PKEY_eq(ka->pub, kb->pub) == 1;
}

/* Sizes, group name, bits...: whatever the public half can tell. */
static int kp_get_params(void *keydata, OSSL_PARAM params[])
{
	struct kp_key *k = keydata;

	if (!k || !k->pub)
		return 0;
	return EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM *kp_gettable_params(void *provctx)
{
	static const OSSL_PARAM gettable[] = {
		OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
		OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
		OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
		OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
		OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
		OSSL_PARAM_END
	};

	return gettable;
}

static const char *kp_ec_operation(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *kp_rsa_operation(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

#define KP_KEYMGMT(prefix)							\
static const OSSL_DISPATCH kp_##prefix##_keymgmt[] = {				\
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))kp_##prefix##_new },		\
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))kp_free },			\
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))kp_has },			\
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))kp_match },			\
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))kp_import },		\
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))kp_import_types },	\
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))kp_export },		\
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))kp_export_types },	\
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))kp_get_params },	\
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))kp_gettable_params }, \
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,				\
	  (void (*)(void))kp_##prefix##_operation },				\
	{ 0, NULL }								\
}
KP_KEYMGMT(ec);
KP_KEYMGMT(rsa);

/* ---- signature -------------------------------------------------------- */

struct kp_sig {
	struct kp_key *key;
	EVP_MD_CTX *md;		/* digest of the data, computed here */
	char digest_name[16];
	int rsa_padding;
	int pss_saltlen;
};

static void *kp_sig_new(void *provctx, const char *propq)
{
	struct kp_sig *s = OPENSSL_zalloc(sizeof(*s));

	if (s) {
		s->rsa_padding = RSA_PKCS1_PADDING;
		s->pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
	}
	return s;
}

static void kp_sig_free(void *ctx)
{
	struct kp_sig *s = ctx;

	if (!s)
		return;
	EVP_MD_CTX_free(s->md);
	OPENSSL_free(s);
}

static void *kp_sig_dup(void *ctx)
{
	struct kp_sig *s = ctx, *d = OPENSSL_memdup(s, sizeof(*s));

	if (!d)
		return NULL;
	d->md = NULL;
	if (s->md && (!(d->md = EVP_MD_CTX_new()) ||
		      !EVP_MD_CTX_copy_ex(d->md, s->md))) {
		kp_sig_free(d);
		return NULL;
	}
	return d;
}

static int set_padding(struct kp_sig *s, const OSSL_PARAM *p)
{
	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		const char *v = p->data;

		if (!strcmp(v, OSSL_PKEY_RSA_PAD_MODE_PKCSV15))
			s->rsa_padding = RSA_PKCS1_PADDING;
		else if (!strcmp(v, OSSL_PKEY_RSA_PAD_MODE_PSS))
			s->rsa_padding = RSA_PKCS1_PSS_PADDING;
		else
			return 0;
		return 1;
	}
	if (!OSSL_PARAM_get_int(p, &s->rsa_padding))
		return 0;
	return s->rsa_padding == RSA_PKCS1_PADDING ||
	       s->rsa_padding == RSA_PKCS1_PSS_PADDING;
}

static int set_saltlen(struct kp_sig *s, const OSSL_PARAM *p)
{
	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		const char *v = p->data;

		if (!strcmp(v, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST))
			s->pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
		else if (!strcmp(v, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX))
			s->pss_saltlen = RSA_PSS_SALTLEN_MAX;
		else
			s->pss_saltlen = atoi(v);
		return 1;
	}
	return OSSL_PARAM_get_int(p, &s->pss_saltlen);
}

static int kp_sig_set_params(void *ctx, const OSSL_PARAM params[])
{
	struct kp_sig *s = ctx;
	const OSSL_PARAM *p;

	if (!params)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) &&
	    !set_padding(s, p))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) &&
	    !set_saltlen(s, p))
		return 0;
	/* The MGF1 digest is always the signature's digest in TLS. */
	return 1;
}

static const OSSL_PARAM *kp_sig_settable(void *ctx, void *provctx)
{
	static const OSSL_PARAM settable[] = {
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
		OSSL_PARAM_END
	};

	return settable;
}

static int kp_sig_get_params(void *ctx, OSSL_PARAM params[])
{
	return 1;
}

static const OSSL_PARAM *kp_sig_gettable(void *ctx, void *provctx)
{
	static const OSSL_PARAM none[] = { OSSL_PARAM_END };

	return none;
}

static int kp_digest_sign_init(void *ctx, const char *mdname, void *keydata,
			       const OSSL_PARAM params[])
{
	struct kp_sig *s = ctx;
	EVP_MD *md;
	int ok;

	s->key = keydata;
	if (!s->key || !s->key->id)
		return 0;
	if (!mdname || !*mdname)
		mdname = "SHA256";
	/* The default provider's: it is the preferred one (keyproxy_init). */
	md = EVP_MD_fetch(NULL, mdname, NULL);
	if (!md || EVP_MD_get_size(md) > KH_MAX_DIGEST) {
		EVP_MD_free(md);
		return 0;
	}
	snprintf(s->digest_name, sizeof(s->digest_name), "%s", EVP_MD_get0_name(md));
	if (!s->md)
		s->md = EVP_MD_CTX_new();
	ok = s->md && EVP_DigestInit_ex2(s->md, md, NULL) == 1;
	EVP_MD_free(md);
	return ok && kp_sig_set_params(s, params);
}

static int kp_digest_sign_update(void *ctx, const unsigned char *data,
				 size_t len)
{
	struct kp_sig *s = ctx;

	return s->md && EVP_DigestUpdate(s->md, data, len) == 1;
}

static int kp_digest_sign_final(void *ctx, unsigned char *sig, size_t *siglen,
				size_t sigsize)
{
	struct kp_sig *s = ctx;
	struct kh_hdr req = { .type = KH_SIGN, .len = sizeof(struct kh_sign_req) };
	struct kh_sign_req body = { .rsa_padding = s->rsa_padding,
				    .pss_saltlen = s->pss_saltlen };
	unsigned int dlen = 0;

	if (!s->key || !s->md)
		return 0;
	if (!sig) {	/* the caller asks how much room to make */
		*siglen = (size_t)EVP_PKEY_get_size(s->key->pub);
		return 1;
	}
	if (EVP_DigestFinal_ex(s->md, body.tbs, &dlen) != 1)
		return 0;
	req.id = s->key->id;
	body.tbs_len = dlen;
	memcpy(body.digest_name, s->digest_name, sizeof(body.digest_name));
	return signchan_sign(&req, &body, sig, siglen, sigsize);
}

static const OSSL_DISPATCH kp_signature[] = {
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))kp_sig_new },
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))kp_sig_free },
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))kp_sig_dup },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))kp_digest_sign_init },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))kp_digest_sign_update },
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))kp_digest_sign_final },
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))kp_sig_set_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))kp_sig_settable },
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))kp_sig_get_params },
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))kp_sig_gettable },
	{ 0, NULL }
};

/* ---- the provider ----------------------------------------------------- */

static const OSSL_ALGORITHM kp_keymgmts[] = {
	{ "EC:id-ecPublicKey", KP_PROPS, kp_ec_keymgmt, "keyproxy EC key" },
	{ "RSA:rsaEncryption", KP_PROPS, kp_rsa_keymgmt, "keyproxy RSA key" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM kp_signatures[] = {
	{ "ECDSA", KP_PROPS, kp_signature, "ECDSA through the key holder" },
	{ "RSA:rsaEncryption", KP_PROPS, kp_signature, "RSA through the key holder" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *kp_query(void *provctx, int operation_id,
				      int *no_cache)
{
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return kp_keymgmts;
	case OSSL_OP_SIGNATURE:
		return kp_signatures;
	}
	return NULL;
}

static const OSSL_DISPATCH kp_provider[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))kp_query },
	{ 0, NULL }
};

static int kp_provider_init(const OSSL_CORE_HANDLE *handle,
			    const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
			    void **provctx)
{
	*out = kp_provider;
	*provctx = (void *)handle;
	return 1;
}

/* Set by main before any thread exists, or under keystore.c's lock. */
static int kp_registered;
static OSSL_PROVIDER *kp_default, *kp_self;

static void keyproxy_unload(void)
{
	OSSL_PROVIDER_unload(kp_self);
	OSSL_PROVIDER_unload(kp_default);
}

int keyproxy_init(void)
{
	if (kp_registered)
		return 0;
	kp_registered = 1;
	/* Loading a provider explicitly stops the default one from being
	 * loaded implicitly: load it first. */
	kp_default = OSSL_PROVIDER_load(NULL, "default");
	if (!kp_default ||
	    OSSL_PROVIDER_add_builtin(NULL, KP_NAME, kp_provider_init) != 1 ||
	    !(kp_self = OSSL_PROVIDER_load(NULL, KP_NAME)) ||
	    EVP_set_default_properties(NULL, "?provider=default") != 1) {
		log_ssl(LOG_LVL_ERR, "cannot register the key holder's OpenSSL provider");
		return -1;
	}
	atexit(keyproxy_unload);
	return 0;
}

EVP_PKEY *keyproxy_key(EVP_PKEY *pub, uint32_t id)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pub, &der);
	unsigned int uid = id;
	const char *type = EVP_PKEY_is_a(pub, "EC") ? "EC" :
			   EVP_PKEY_is_a(pub, "RSA") ? "RSA" : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_octet_string(KP_PARAM_SPKI, der, len > 0 ? (size_t)len : 0),
		OSSL_PARAM_uint(KP_PARAM_ID, &uid),
		OSSL_PARAM_END
	};
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;

	if (len > 0 && type) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, type, KP_PROPS);
		if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
			key = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return key;
}
