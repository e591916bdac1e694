// SPDX-License-Identifier: GPL-2.0
/*
 * Batched signing (signchan.c), with this test as the key holder: handshakes
 * stand in as OpenSSL async jobs that sign with a keyproxy key, and the test
 * reads their requests from the channel's request pipe and answers on its
 * answer pipe itself, so every step happens in an order it chooses.
 *   - the signatures of several paused jobs leave in one write, and their
 *     answers, sent in one write, resume each job with its own signature;
 *     more than one write holds leave in as many as needed;
 *   - a wait the key holder never answers fails at the answer timeout;
 *   - a channel replaced (a new key holder) fails the waits on the old one,
 *     and the next signature goes on the new one;
 *   - a key holder that goes away fails the waits and says so.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keyholder.h"
#include "kselftest_harness.h"
#include "testlib.h"

#define REQ_BYTES	(sizeof(struct kh_hdr) + sizeof(struct kh_sign_req))
#define JOBS		3

/* A handshake stand-in: signs MSG with KEY in an async job. */
struct signer {
	EVP_PKEY *key;
	char msg[32];
	unsigned char sig[256];
	size_t siglen;
	int ok;			/* the job's result, once it ended */
	ASYNC_JOB *job;
	ASYNC_WAIT_CTX *wctx;	/* libssl has one per SSL; a job needs it */
	int ready;		/* times signchan handed it back */
};

static int sign_job(void *arg)
{
	struct signer *s = *(struct signer **)arg;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	s->siglen = sizeof(s->sig);
	s->ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->key) == 1 &&
		EVP_DigestSign(md, s->sig, &s->siglen, (const unsigned char *)s->msg,
			       strlen(s->msg)) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return s->ok;
}

/* Start or resume S's job: ASYNC_PAUSE or ASYNC_FINISH. */
static int run(struct signer *s)
{
	int ret;

	signchan_set_owner(s);
	if (!s->wctx)
		s->wctx = ASYNC_WAIT_CTX_new();
	return ASYNC_start_job(&s->job, s->wctx, &ret, sign_job, &s, sizeof(s));
}

static void ready(void *owner)
{
	struct signer *s = owner;

	s->ready++;
	run(s);		/* what a worker does: resume the handshake */
}

FIXTURE(signchan) {
	EVP_PKEY *priv, *pub, *proxy;
	int req[2], ans[2];	/* the channel: [0] read ends, [1] write ends */
	struct signer s[JOBS];
};

static int make_channel(int req[2], int ans[2])
{
	if (pipe2(req, O_NONBLOCK) < 0 || pipe2(ans, O_NONBLOCK) < 0)
		return -1;
	keyproxy_set_channel(0, (struct kh_signer){ req[1], ans[0] });
	return 0;
}

FIXTURE_SETUP(signchan)
{
	char dir_key[160];
	unsigned char der[512], *p = der;
	const unsigned char *q = der;
	char *dir = tl_tmpdir();
	const char *argv[] = { "openssl", "genpkey", "-algorithm", "EC",
		"-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir_key, NULL };
	FILE *f;
	int len;

	ASSERT_NE(NULL, dir);
	snprintf(dir_key, sizeof(dir_key), "%s/key.pem", dir);
	ASSERT_EQ(0, tl_run(argv, NULL, NULL, NULL, 60000));
	f = fopen(dir_key, "r");
	ASSERT_NE(NULL, f);
	self->priv = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	tl_rmtree(dir);
	free(dir);
	ASSERT_NE(NULL, self->priv);
	len = i2d_PUBKEY(self->priv, &p);
	ASSERT_GT(len, 0);
	self->pub = d2i_PUBKEY(NULL, &q, len);
	ASSERT_NE(NULL, self->pub);
	ASSERT_EQ(0, keyproxy_init());
	self->proxy = keyproxy_key(self->pub, 9);
	ASSERT_NE(NULL, self->proxy);
	ASSERT_EQ(0, make_channel(self->req, self->ans));
	signchan_batch_begin(ready);
	for (int i = 0; i < JOBS; i++) {
		self->s[i].key = self->proxy;
		snprintf(self->s[i].msg, sizeof(self->s[i].msg), "handshake %d", i);
	}
}

FIXTURE_TEARDOWN(signchan)
{
	keyproxy_close_signer(keyproxy_set_channel(0, (struct kh_signer){ -1, -1 }));
	signchan_batch_service();	/* resumes what still waits */
	close(self->req[0]);
	close(self->ans[1]);
	for (int i = 0; i < JOBS; i++)
		ASYNC_WAIT_CTX_free(self->s[i].wctx);
	EVP_PKEY_free(self->proxy);
	EVP_PKEY_free(self->pub);
	EVP_PKEY_free(self->priv);
}

/* The key holder's answer to the request at MSG, signed with KEY, written
 * into OUT; its length. */
static size_t holder_answer(EVP_PKEY *key, const unsigned char *msg,
			    unsigned char *out)
{
	struct kh_hdr rh, ah;
	struct kh_sign_req body;
	size_t siglen = 256;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);

	memcpy(&rh, msg, sizeof(rh));
	memcpy(&body, msg + sizeof(rh), sizeof(body));
	if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, out + sizeof(ah), &siglen, body.tbs, body.tbs_len) != 1)
		siglen = 0;
	EVP_PKEY_CTX_free(ctx);
	ah = (struct kh_hdr){ .type = siglen ? KH_OK : KH_ERROR, .id = rh.id,
			      .seq = rh.seq, .len = (uint32_t)siglen };
	memcpy(out, &ah, sizeof(ah));
	return sizeof(ah) + siglen;
}

static int verifies(EVP_PKEY *key, const struct signer *s)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestVerify(md, s->sig, s->siglen, (const unsigned char *)s->msg,
				  strlen(s->msg)) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

TEST_F(signchan, one_write_each_way_for_a_batch)
{
	unsigned char in[JOBS * REQ_BYTES + 1], out[JOBS * 300];
	size_t out_len = 0;

	for (int i = 0; i < JOBS; i++)
		ASSERT_EQ(ASYNC_PAUSE, run(&self->s[i]));
	/* Nothing leaves before the worker is done with its events. */
	EXPECT_EQ(-1, read(self->req[0], in, sizeof(in)));
	signchan_batch_service();
	/* All three requests in the one write (a pipe keeps it whole). */
	ASSERT_EQ((ssize_t)(JOBS * REQ_BYTES), read(self->req[0], in, sizeof(in)));
	for (int i = 0; i < JOBS; i++)
		out_len += holder_answer(self->priv, in + i * REQ_BYTES, out + out_len);
	ASSERT_EQ((ssize_t)out_len, write(self->ans[1], out, out_len));
	for (int i = 0; i < JOBS; i++)
		EXPECT_EQ(0, self->s[i].ready);
	EXPECT_EQ(0, signchan_batch_collect());
	for (int i = 0; i < JOBS; i++) {
		EXPECT_EQ(1, self->s[i].ready);
		EXPECT_EQ(1, self->s[i].ok);
		/* Each over its own data: the answers went to the right jobs. */
		EXPECT_TRUE(verifies(self->priv, &self->s[i]));
	}
}

/* More handshakes in one event batch than one write holds (PIPE_BUF):
 * the full write leaves at once, the rest with the worker's next one. */
TEST_F(signchan, a_full_write_leaves_at_once)
{
	static struct signer many[40];
	static unsigned char in[sizeof(many) / sizeof(many[0]) * REQ_BYTES];
	const size_t per_write = PIPE_BUF / REQ_BYTES, n = sizeof(many) / sizeof(many[0]);
	unsigned char out[300];
	size_t got = 0;
	ssize_t r;

	ASSERT_LT(per_write, n);
	for (size_t i = 0; i < n; i++) {
		many[i].key = self->proxy;
		snprintf(many[i].msg, sizeof(many[i].msg), "handshake %zu", i);
		ASSERT_EQ(ASYNC_PAUSE, run(&many[i]));
	}
	ASSERT_EQ((ssize_t)(per_write * REQ_BYTES), read(self->req[0], in, sizeof(in)));
	got = per_write * REQ_BYTES;
	signchan_batch_service();
	r = read(self->req[0], in + got, sizeof(in) - got);
	ASSERT_EQ((ssize_t)((n - per_write) * REQ_BYTES), r);
	for (size_t i = 0; i < n; i++) {
		size_t len = holder_answer(self->priv, in + i * REQ_BYTES, out);

		ASSERT_EQ((ssize_t)len, write(self->ans[1], out, len));
		EXPECT_EQ(0, signchan_batch_collect());
		EXPECT_EQ(1, many[i].ready);
		EXPECT_TRUE(many[i].ok && verifies(self->priv, &many[i]));
		ASYNC_WAIT_CTX_free(many[i].wctx);
	}
}

TEST_F(signchan, unanswered_wait_fails_at_the_timeout)
{
	struct pollfd pfd;

	keyproxy_set_answer_timeout(200);
	ASSERT_EQ(ASYNC_PAUSE, run(&self->s[0]));
	signchan_batch_service();
	/* No answer comes: let the timeout pass (the outcome waited for). */
	pfd = (struct pollfd){ self->ans[0], POLLIN, 0 };
	EXPECT_EQ(0, poll(&pfd, 1, 300));
	EXPECT_EQ(0, self->s[0].ready);
	signchan_batch_service();
	EXPECT_EQ(1, self->s[0].ready);
	EXPECT_EQ(0, self->s[0].ok);
	keyproxy_set_answer_timeout(KP_ANSWER_TIMEOUT_MS);
}

TEST_F(signchan, replaced_channel_fails_its_waits)
{
	unsigned char in[REQ_BYTES], out[300];
	size_t len;

	ASSERT_EQ(ASYNC_PAUSE, run(&self->s[0]));
	signchan_batch_service();
	/* A new key holder: the old channel's request is not answered. */
	keyproxy_close_signer(keyproxy_set_channel(0, (struct kh_signer){ -1, -1 }));
	close(self->req[0]);
	close(self->ans[1]);
	ASSERT_EQ(0, make_channel(self->req, self->ans));
	EXPECT_EQ(0, self->s[0].ready);
	signchan_batch_service();
	EXPECT_EQ(1, self->s[0].ready);
	EXPECT_EQ(0, self->s[0].ok);
	/* The next handshake signs on the new channel. */
	ASSERT_EQ(ASYNC_PAUSE, run(&self->s[1]));
	signchan_batch_service();
	ASSERT_EQ((ssize_t)REQ_BYTES, read(self->req[0], in, sizeof(in)));
	len = holder_answer(self->priv, in, out);
	ASSERT_EQ((ssize_t)len, write(self->ans[1], out, len));
	EXPECT_EQ(0, signchan_batch_collect());
	EXPECT_EQ(1, self->s[1].ok);
	EXPECT_TRUE(verifies(self->priv, &self->s[1]));
}

TEST_F(signchan, key_holder_gone_fails_its_waits)
{
	ASSERT_EQ(ASYNC_PAUSE, run(&self->s[0]));
	signchan_batch_service();
	close(self->ans[1]);	/* the key holder's end: it died */
	self->ans[1] = open("/dev/null", O_WRONLY);
	EXPECT_EQ(-1, signchan_batch_collect());
	EXPECT_EQ(1, self->s[0].ready);
	EXPECT_EQ(0, self->s[0].ok);
}

TEST_HARNESS_MAIN
