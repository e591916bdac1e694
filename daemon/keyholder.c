// SPDX-License-Identifier: GPL-2.0
/*
 * The key holder process and the parent's side of it; see keyholder.h.
 *
 * The key holder is a single-threaded poll loop over its load channel and
 * the request pipes of its sign channels. It never opens a path: key
 * files arrive as descriptors the parent opened. Every
 * request is checked (size, channel, key id, digest name and length, RSA
 * padding and salt length) before anything is done with it; a bad request
 * gets KH_ERROR and changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#include "fdmsg.h"
#include "keyholder.h"
#include "log.h"
#include "sandbox.h"

/* ---- message transport (both sides) ---------------------------------- */

struct kh_msg {
	struct kh_hdr h;
	unsigned char payload[KH_MAX_PAYLOAD];
};

static int send_msg(int fd, uint32_t type, uint32_t id, const void *payload,
		    size_t len, int pass_fd)
{
	struct kh_hdr h = { .type = type, .id = id, .len = (uint32_t)len };

	return fdmsg_send(fd, &h, sizeof(h), payload, len, pass_fd);
}

static void answer(int fd, uint32_t type, const struct kh_hdr *to,
		   const void *payload, size_t len);
/* Of N bytes received into M: the payload length, or -2 when malformed. */
static ssize_t payload_len(const struct kh_msg *m, ssize_t n)
{
	if (n < (ssize_t)sizeof(m->h) || m->h.len != (size_t)n - sizeof(m->h))
		return -2;
	return (ssize_t)m->h.len;
}

/* One message on the load channel; PASSED gets the descriptors passed
 * with it (-1 where none). Returns the payload length, -1 at EOF or on an
 * error, -2 for a malformed message. */
static ssize_t recv_msg(int fd, struct kh_msg *m, int passed[FDMSG_MAX_FDS])
{
	ssize_t n = fdmsg_recv_fds(fd, m, sizeof(*m), passed, FDMSG_MAX_FDS);

	return n == -1 ? -1 : payload_len(m, n);
}

static void close_passed(int passed[FDMSG_MAX_FDS])
{
	for (int i = 0; i < FDMSG_MAX_FDS; i++) {
		if (passed[i] >= 0)
			close(passed[i]);
		passed[i] = -1;
	}
}

/* ---- the key holder process ------------------------------------------ */

struct held_key {
	uint32_t id;
	bool rsa;
	EVP_PKEY *key;
	/* Reused: set up for the digest, padding and salt length below, and
	 * set up again only when a request asks for others (a server signs
	 * with one scheme per key, mostly). */
	EVP_PKEY_CTX *ctx;
	bool ready;
	const EVP_MD *md;
	int32_t rsa_padding, pss_saltlen;
};

static struct held_key *held;
static size_t n_held;
static bool kh_selftest;	/* KTLSD_SECCOMP_SELFTEST: at the first signature */

static struct held_key *find_key(uint32_t id)
{
	for (size_t i = 0; i < n_held; i++)
		if (held[i].id == id)
			return &held[i];
	return NULL;
}

static void forget_key(uint32_t id)
{
	struct held_key *k = find_key(id);

	if (!k)
		return;
	EVP_PKEY_CTX_free(k->ctx);
	EVP_PKEY_free(k->key);	/* providers wipe key material on free */
	*k = held[--n_held];
}

static void reply_error(int fd, const struct kh_hdr *to, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define KH_MAX_KEY_FILE	(1 << 20)	/* a PKCS#12 with a long chain fits */

/* The first private key in the file behind KEYFD (PEM, DER, PKCS#12
 * without a passphrase). The file is read into OpenSSL's secure heap (not
 * swapped, not in core dumps, wiped when freed) and decoded from there. */
static EVP_PKEY *read_key(int keyfd, char *why, size_t len)
{
	unsigned char *buf = OPENSSL_secure_malloc(KH_MAX_KEY_FILE);
	size_t have = 0;
	OSSL_STORE_CTX *st = NULL;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	ssize_t n;

	why[0] = '\0';
	if (!buf) {
		snprintf(why, len, "out of memory");
		close(keyfd);
		return NULL;
	}
	while (have < KH_MAX_KEY_FILE &&
	       (n = read(keyfd, buf + have, KH_MAX_KEY_FILE - have)) > 0)
		have += (size_t)n;
	close(keyfd);
	if (have == KH_MAX_KEY_FILE) {
		snprintf(why, len, "larger than %d bytes", KH_MAX_KEY_FILE);
		goto out;
	}
	bio = BIO_new_mem_buf(buf, (int)have);
	st = bio ? OSSL_STORE_attach(bio, "file", NULL, NULL, UI_null(), NULL,
				     NULL, NULL, NULL) : NULL;
	if (!st) {
		snprintf(why, len, "unreadable content");
		goto out;
	}
	OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY);
	while (!key && !OSSL_STORE_eof(st)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(st);

		if (!info) {
			if (OSSL_STORE_error(st))
				break;
			continue;
		}
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
out:
	OSSL_STORE_close(st);
	BIO_free(bio);
	OPENSSL_secure_clear_free(buf, KH_MAX_KEY_FILE);
	ERR_clear_error();
	return key;
}

static void serve_load(int fd, const struct kh_msg *m, size_t len, int keyfd)
{
	/* As much as one answer carries (answer()). */
	unsigned char der[PIPE_BUF - sizeof(struct kh_hdr)], *p = der;
	char name[256], why[128];
	EVP_PKEY *key;
	int dlen;

	snprintf(name, sizeof(name), "%.*s", (int)len, (const char *)m->payload);
	if (keyfd < 0) {
		reply_error(fd, &m->h, "%s: no descriptor passed", name);
		return;
	}
	key = read_key(keyfd, why, sizeof(why));
	if (!key) {
		if (why[0])
			reply_error(fd, &m->h, "%s: %s", name, why);
		else
			answer(fd, KH_NOKEY, &m->h, NULL, 0);
		return;
	}
	if (!EVP_PKEY_is_a(key, "EC") && !EVP_PKEY_is_a(key, "RSA")) {
		EVP_PKEY_free(key);
		reply_error(fd, &m->h, "%s: only EC and RSA keys are supported",
			    name);
		return;
	}
	dlen = i2d_PUBKEY(key, NULL);
	if (dlen <= 0 || dlen > (int)sizeof(der) || i2d_PUBKEY(key, &p) != dlen) {
		EVP_PKEY_free(key);
		reply_error(fd, &m->h, "%s: cannot encode the public key", name);
		return;
	}
	forget_key(m->h.id);
	held = realloc(held, (n_held + 1) * sizeof(*held));
	if (!held) {
		EVP_PKEY_free(key);
		_exit(1);
	}
	held[n_held++] = (struct held_key){
		.id = m->h.id, .rsa = EVP_PKEY_is_a(key, "RSA"), .key = key,
		.ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL),
	};
	answer(fd, KH_OK, &m->h, der, (size_t)dlen);
}

/* The digests a TLS signature may use, fetched once. A name once found
 * allowed is remembered as it was asked for ("SHA256"), so that the next
 * request with it needs no fetch. The key holder has one thread: no lock. */
static const EVP_MD *allowed_digest(const char *name)
{
	static const char *const names[] = {
		"SHA1", "SHA2-224", "SHA2-256", "SHA2-384", "SHA2-512",
	};
	static EVP_MD *fetched[sizeof(names) / sizeof(names[0])];
	static struct {
		char name[sizeof(((struct kh_sign_req *)0)->digest_name)];
		const EVP_MD *md;
	} seen[8];
	EVP_MD *md;
	const EVP_MD *found = NULL;

	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]) && seen[i].md; i++)
		if (!strcmp(seen[i].name, name))
			return seen[i].md;
	md = EVP_MD_fetch(NULL, name, NULL);
	for (size_t i = 0; md && i < sizeof(names) / sizeof(names[0]); i++) {
		if (!EVP_MD_is_a(md, names[i]))
			continue;
		if (!fetched[i]) {
			fetched[i] = md;	/* kept for the process's life */
			md = NULL;
		}
		found = fetched[i];
		break;
	}
	EVP_MD_free(md);
	for (size_t i = 0; found && i < sizeof(seen) / sizeof(seen[0]); i++) {
		if (seen[i].md)
			continue;
		/* NAME is NUL-terminated within as many bytes (serve_sign). */
		memcpy(seen[i].name, name, sizeof(seen[i].name));
		seen[i].md = found;
		break;
	}
	return found;
}

/* K's context set up for MD and the request's RSA padding and salt length;
 * kept as it is when the previous request asked for the same. */
static bool sign_setup(struct held_key *k, const EVP_MD *md,
		       const struct kh_sign_req *req)
{
	if (k->ready && k->md == md && k->rsa_padding == req->rsa_padding &&
	    k->pss_saltlen == req->pss_saltlen)
		return true;
	k->ready = EVP_PKEY_sign_init(k->ctx) == 1 &&
		   EVP_PKEY_CTX_set_signature_md(k->ctx, md) == 1 &&
		   (!k->rsa ||
		    EVP_PKEY_CTX_set_rsa_padding(k->ctx, req->rsa_padding) == 1) &&
		   (!k->rsa || req->rsa_padding != RSA_PKCS1_PSS_PADDING ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(k->ctx, req->pss_saltlen) == 1);
	k->md = md;
	k->rsa_padding = req->rsa_padding;
	k->pss_saltlen = req->pss_saltlen;
	return k->ready;
}

/*
 * The answers to what one read of a sign channel brought, sent together:
 * one write per PIPE_BUF bytes, which a pipe keeps whole. The pipe is
 * non-blocking: when its signer does not read, the answers are lost (the
 * signer gives up on them) and no other signer waits.
 */
struct kh_batch {
	int fd;
	size_t len;
	unsigned char buf[PIPE_BUF];
};

static void batch_flush(struct kh_batch *b)
{
	ssize_t n;

	if (!b->len)
		return;
	do
		n = write(b->fd, b->buf, b->len);
	while (n < 0 && errno == EINTR);
	b->len = 0;
}

/* Queue an answer to the request headed TO (NULL: to none that could be
 * read): it carries the request's key id and seq. At most PIPE_BUF bytes
 * with its header (a signature is at most 1 KiB: RSA-8192). */
static void batch_answer(struct kh_batch *b, uint32_t type,
			 const struct kh_hdr *to, const void *payload, size_t len)
{
	struct kh_hdr h = { .type = type, .id = to ? to->id : 0,
			    .seq = to ? to->seq : 0, .len = (uint32_t)len };

	if (sizeof(h) + len > sizeof(b->buf))
		return;		/* a signature is at most 1 KiB */
	if (b->len + sizeof(h) + len > sizeof(b->buf))
		batch_flush(b);
	memcpy(b->buf + b->len, &h, sizeof(h));
	memcpy(b->buf + b->len + sizeof(h), payload, len);
	b->len += sizeof(h) + len;
}

/* An error answer: a sentence made of FMT and AP. */
static void vbatch_error(struct kh_batch *b, const struct kh_hdr *to,
			 const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vbatch_error(struct kh_batch *b, const struct kh_hdr *to,
			 const char *fmt, va_list ap)
{
	char text[256];
	int len = vsnprintf(text, sizeof(text), fmt, ap);

	batch_answer(b, KH_ERROR, to, text,
		     len < 0 ? 0 : len >= (int)sizeof(text) ? sizeof(text) - 1 : (size_t)len);
}

static void batch_error(struct kh_batch *b, const struct kh_hdr *to,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void batch_error(struct kh_batch *b, const struct kh_hdr *to,
			const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbatch_error(b, to, fmt, ap);
	va_end(ap);
}

/* An answer on the load channel, at once (one message). */
static void answer(int fd, uint32_t type, const struct kh_hdr *to,
		   const void *payload, size_t len)
{
	struct kh_batch b = { .fd = fd };

	batch_answer(&b, type, to, payload, len);
	batch_flush(&b);
}

/* The same for an error. */
static void reply_error(int fd, const struct kh_hdr *to, const char *fmt, ...)
{
	struct kh_batch b = { .fd = fd };
	va_list ap;

	va_start(ap, fmt);
	vbatch_error(&b, to, fmt, ap);
	va_end(ap);
	batch_flush(&b);
}

/* Check the signing request headed H (payload REQ) completely, then sign;
 * the answer goes into B. */
static void serve_sign(struct kh_batch *b, const struct kh_hdr *h,
		       const struct kh_sign_req *rq)
{
	struct kh_sign_req req = *rq;
	struct held_key *k = find_key(h->id);
	unsigned char sig[KH_MAX_PAYLOAD];
	size_t siglen = sizeof(sig);
	const EVP_MD *md = NULL;

	if (kh_selftest)
		sandbox_selftest_violate();
	if (!k || !k->ctx) {
		batch_error(b, h, "no key %u", h->id);
		return;
	}
	if (!memchr(req.digest_name, '\0', sizeof(req.digest_name)) ||
	    !(md = allowed_digest(req.digest_name)) ||
	    req.tbs_len != (uint32_t)EVP_MD_get_size(md)) {
		batch_error(b, h, "digest refused");
		return;
	}
	if (k->rsa && req.rsa_padding != RSA_PKCS1_PADDING &&
	    req.rsa_padding != RSA_PKCS1_PSS_PADDING) {
		batch_error(b, h, "RSA padding %d refused", req.rsa_padding);
		return;
	}
	if (k->rsa && req.rsa_padding == RSA_PKCS1_PSS_PADDING &&
	    req.pss_saltlen != RSA_PSS_SALTLEN_DIGEST &&
	    req.pss_saltlen != (int32_t)req.tbs_len) {
		batch_error(b, h, "PSS salt length %d refused", req.pss_saltlen);
		return;
	}
	if (!sign_setup(k, md, &req) ||
	    EVP_PKEY_sign(k->ctx, sig, &siglen, req.tbs, req.tbs_len) != 1) {
		k->ready = false;
		ERR_clear_error();
		batch_error(b, h, "signing failed");
		return;
	}
	batch_answer(b, KH_OK, h, sig, siglen);
}

/* Sign channels at once: the parent's own and KP_MAX_CHANNELS for each
 * network process, of which there are a handful (one serving, the others
 * draining; netproc.c allows 16). */
#define KH_MAX_SIGNERS (17 * KP_MAX_CHANNELS)

/* The poll set: [0] the load channel, then the request pipes of the sign
 * channels; ans[i] is where the answers to pfd[i]'s requests go. */
struct kh_set {
	struct pollfd pfd[KH_MAX_SIGNERS + 1];
	int ans[KH_MAX_SIGNERS + 1];
	nfds_t n;
};

/* A sign channel handed over on the load channel (FDS: the read end of
 * its request pipe, the write end of its answer pipe) joins the set. */
static void add_signer(struct kh_set *set, int fds[FDMSG_MAX_FDS])
{
	if (fds[0] < 0 || fds[1] < 0 || set->n >= KH_MAX_SIGNERS + 1) {
		close_passed(fds);
		return;
	}
	set->pfd[set->n] = (struct pollfd){ fds[0], POLLIN, 0 };
	set->ans[set->n] = fds[1];
	set->n++;
}

/* Its network process ended: the last entry takes its place. */
static void drop_signer(struct kh_set *set, nfds_t i)
{
	close(set->pfd[i].fd);
	close(set->ans[i]);
	set->n--;
	set->pfd[i] = set->pfd[set->n];
	set->ans[i] = set->ans[set->n];
}

/* One message on the load channel; false when the parent is gone (or
 * closed the channel): so is our reason to exist. */
static bool serve_load_channel(struct kh_set *set, struct kh_msg *m)
{
	int fd = set->pfd[0].fd, passed[FDMSG_MAX_FDS];
	ssize_t len = recv_msg(fd, m, passed);

	if (len == -1)
		return false;
	if (len >= 0 && m->h.type == KH_LOAD) {
		int keyfd = passed[0];

		passed[0] = -1;
		close_passed(passed);
		serve_load(fd, m, (size_t)len, keyfd);
		return true;
	}
	if (len >= 0 && m->h.type == KH_ADD_SIGNER) {
		add_signer(set, passed);
		return true;
	}
	close_passed(passed);
	if (len < 0)
		reply_error(fd, NULL, "malformed message");
	else if (m->h.type == KH_UNLOAD)
		forget_key(m->h.id);
	else
		reply_error(fd, &m->h, "request %u refused on this channel",
			    m->h.type);
	OPENSSL_cleanse(m, len < 0 ? sizeof(*m) : sizeof(m->h) + (size_t)len);
	return true;
}

/* Sign requests have one size; a read takes as many as a signer's write
 * can hold (signchan.c sends a worker's event batch in one write). */
#define KH_REQ_BYTES	(sizeof(struct kh_hdr) + sizeof(struct kh_sign_req))
#define KH_READ_REQS	(PIPE_BUF / KH_REQ_BYTES)

/* The requests waiting on sign channel I, answered in as few writes as
 * they fit in. False when the signer is gone. */
static bool serve_sign_channel(struct kh_set *set, nfds_t i)
{
	static struct kh_batch b;	/* one thread: the only user */
	unsigned char in[KH_READ_REQS * KH_REQ_BYTES];
	size_t off = 0;
	ssize_t n;

	do
		n = read(set->pfd[i].fd, in, sizeof(in));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 && errno == EAGAIN;
	b.fd = set->ans[i];
	b.len = 0;
	for (; off + KH_REQ_BYTES <= (size_t)n; off += KH_REQ_BYTES) {
		struct kh_hdr h;
		struct kh_sign_req req;

		memcpy(&h, in + off, sizeof(h));
		memcpy(&req, in + off + sizeof(h), sizeof(req));
		if (h.type == KH_SIGN && h.len == sizeof(req))
			serve_sign(&b, &h, &req);
		else
			batch_error(&b, &h, "request %u refused on this channel",
				    h.type);
		OPENSSL_cleanse(&req, sizeof(req));
	}
	/* A signer that writes pieces of requests gets only this. */
	if (off < (size_t)n)
		batch_error(&b, NULL, "malformed message");
	batch_flush(&b);
	OPENSSL_cleanse(in, (size_t)n);
	return true;
}

static int serve(int load_fd)
{
	static struct kh_set set;	/* one thread: the only user */
	struct kh_msg m;

	set.pfd[0] = (struct pollfd){ load_fd, POLLIN, 0 };
	set.n = 1;
	for (;;) {
		if (poll(set.pfd, set.n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		/* From the last: a dropped channel's place is taken by one
		 * already served in this round. */
		for (nfds_t i = set.n - 1; i > 0; i--)
			if (set.pfd[i].revents && !serve_sign_channel(&set, i))
				drop_signer(&set, i);
		/* Last: channels it adds have no events of this round. */
		if (set.pfd[0].revents && !serve_load_channel(&set, &m))
			return 0;
	}
}

pid_t keyholder_spawn(int load_fd, uid_t uid, gid_t gid)
{
	bool selftest = sandbox_take_selftest("keyholder");
	pid_t parent = getpid();
	pid_t pid = fork();
	sigset_t all;

	if (pid != 0)
		return pid;
	/* The child. It dies with the parent: nothing else may hold keys. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	/* Nothing of the parent's: no listener, no BPF object, no socket. */
	if (load_fd > 3)
		close_range(3, (unsigned int)load_fd - 1, 0);
	close_range((unsigned int)load_fd + 1, ~0U, 0);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sandbox_set_title("key holder");
	/* Key material in locked, never-dumped pages: OpenSSL's secure heap
	 * holds private key numbers and the file buffer above. Without it
	 * (RLIMIT_MEMLOCK too low) keys still work, in ordinary memory. */
	if (CRYPTO_secure_malloc_init(4 << 20, 32) != 1)
		log_warn("key holder: no secure heap (RLIMIT_MEMLOCK?); keys stay in "
			 "ordinary memory, which core dumps exclude (not dumpable)");
	if (sandbox_drop_privileges(uid, gid) < 0) {
		log_err("key holder: cannot drop privileges: %s", strerror(errno));
		_exit(1);
	}
	sandbox_not_dumpable();
	if (sandbox_seccomp(SANDBOX_KEYHOLDER) < 0) {
		log_err("key holder: cannot install the seccomp filter: %s",
			strerror(errno));
		_exit(1);
	}
	kh_selftest = selftest;
	_exit(serve(load_fd));
}

/* ---- the parent's side --------------------------------------------- */

/* Guards the load channel: a generation may be freed by any thread. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

EVP_PKEY *keyholder_load(int load_fd, uint32_t id, int fd, const char *path,
			 bool *no_key, char *err, size_t errlen)
{
	struct kh_msg m;
	EVP_PKEY *pub = NULL;
	const unsigned char *p = m.payload;
	int passed[FDMSG_MAX_FDS];
	ssize_t len;

	*no_key = false;
	pthread_mutex_lock(&load_lock);
	if (send_msg(load_fd, KH_LOAD, id, path, strlen(path), fd) < 0)
		len = -1;
	else
		len = recv_msg(load_fd, &m, passed);
	pthread_mutex_unlock(&load_lock);
	if (len != -1)
		close_passed(passed);	/* the key holder passes none */
	if (len < 0 || m.h.id != id) {
		snprintf(err, errlen, "the key holder process did not answer (%s)",
			 len == -1 ? strerror(errno ? errno : EPIPE) : "malformed answer");
		return NULL;
	}
	switch (m.h.type) {
	case KH_OK:
		pub = d2i_PUBKEY(NULL, &p, (long)len);
		if (!pub)
			snprintf(err, errlen, "the key holder sent a bad public key");
		return pub;
	case KH_NOKEY:
		*no_key = true;
		return NULL;
	default:
		snprintf(err, errlen, "%.*s", (int)len, (const char *)m.payload);
		return NULL;
	}
}

int keyholder_add_signer(int load_fd, struct kh_signer *out)
{
	struct kh_hdr h = { .type = KH_ADD_SIGNER };
	int req[2], ans[2], theirs[2], rc;

	*out = (struct kh_signer){ -1, -1 };
	/* Non-blocking, every end: the key holder never waits for a signer
	 * that stops reading its answers (it would keep every other one
	 * waiting), a full pipe loses the answer instead; a signer never
	 * waits to write to a key holder that stopped reading, the request
	 * fails instead; a worker reads the answers there are and goes on. */
	if (pipe2(req, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	if (pipe2(ans, O_CLOEXEC | O_NONBLOCK) < 0) {
		close(req[0]);
		close(req[1]);
		return -1;
	}
	theirs[0] = req[0];
	theirs[1] = ans[1];
	pthread_mutex_lock(&load_lock);
	rc = fdmsg_send_fds(load_fd, &h, sizeof(h), NULL, 0, theirs, 2);
	pthread_mutex_unlock(&load_lock);
	close(req[0]);
	close(ans[1]);
	if (rc < 0) {
		close(req[1]);
		close(ans[0]);
		return -1;
	}
	*out = (struct kh_signer){ .req = req[1], .ans = ans[0] };
	return 0;
}

void keyholder_unload(int load_fd, uint32_t id)
{
	pthread_mutex_lock(&load_lock);
	send_msg(load_fd, KH_UNLOAD, id, NULL, 0, -1);
	pthread_mutex_unlock(&load_lock);
}
