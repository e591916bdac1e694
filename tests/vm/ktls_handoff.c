// SPDX-License-Identifier: GPL-2.0
/*
 * The key handoff on a kernel with kTLS (run inside the VM). An OpenSSL
 * server in this process does the handshake on a real loopback TCP socket
 * against a client in a forked child (OpenSSL, or gnutls-cli for records
 * from another implementation), derives the keys, installs them with
 * ktls_install() and from then on uses plain read()/write(): the kernel
 * decrypts and encrypts. The client stays in userspace TLS, so every byte
 * crosses the wire as a real TLS record checked by the client's library.
 *
 * The kernel's word counts, not ours: /proc/net/tls_stat must show one
 * more software TX and RX context, and getsockopt(SOL_TLS) must return the
 * version and cipher we installed. Without kTLS every test here fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kselftest_harness.h"
#include "testlib.h"
#include "ktls.h"

#define PAYLOAD		(4u << 20)
/* gnutls-cli moves 4 KiB per record and is slow under emulation */
#define GNUTLS_PAYLOAD	(1u << 20)
#define IO_TIMEOUT_S	240

/* Exit codes of the client child, so a failure names its step. */
enum child_status {
	CHILD_OK = 0,
	CHILD_CONNECT = 10,
	CHILD_HANDSHAKE,
	CHILD_WRITE,
	CHILD_READ,
	CHILD_MISMATCH,
	CHILD_FINAL_RECORD,
	CHILD_NO_CLOSE_NOTIFY,
};

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * The peer: TLS client over a fresh connection. Sends UP, expects DOWN,
 * then sends a final record (TLS 1.3: KeyUpdate; TLS 1.2: close_notify)
 * and expects the server's close_notify.
 */
static int run_client(int version, const char *suite, uint16_t port,
		      const unsigned char *up, const unsigned char *down)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned char *got = malloc(PAYLOAD);
	size_t done = 0;
	char byte;
	SSL *ssl;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!ctx || !got || fd < 0 || tl_pin_suite(ctx, version, suite) ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		return CHILD_CONNECT;
	set_timeouts(fd);
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1)
		return CHILD_HANDSHAKE;
	while (done < PAYLOAD) {
		int n = SSL_write(ssl, up + done, (int)(PAYLOAD - done));

		if (n <= 0)
			return CHILD_WRITE;
		done += (size_t)n;
	}
	for (done = 0; done < PAYLOAD;) {
		int n = SSL_read(ssl, got + done, (int)(PAYLOAD - done));

		if (n <= 0)
			return CHILD_READ;
		done += (size_t)n;
	}
	if (memcmp(got, down, PAYLOAD) != 0)
		return CHILD_MISMATCH;
	if (version == TLS1_3_VERSION) {
		if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 ||
		    SSL_do_handshake(ssl) != 1)
			return CHILD_FINAL_RECORD;
	} else if (SSL_shutdown(ssl) < 0) {
		return CHILD_FINAL_RECORD;
	}
	if (SSL_read(ssl, &byte, 1) != 0 ||
	    SSL_get_error(ssl, 0) != SSL_ERROR_ZERO_RETURN)
		return CHILD_NO_CLOSE_NOTIFY;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	free(got);
	close(fd);
	return CHILD_OK;
}

/* Writes LEN bytes to a descriptor from a thread. */
struct copier {
	pthread_t thread;
	int fd;
	const unsigned char *buf;
	size_t len;
	int err;
};

static void *copier_run(void *arg)
{
	struct copier *c = arg;
	size_t done = 0;

	while (done < c->len) {
		ssize_t n = write(c->fd, c->buf + done, c->len - done);

		if (n <= 0) {
			c->err = n < 0 ? errno : EPIPE;
			break;
		}
		done += (size_t)n;
	}
	return NULL;
}

static int copier_start(struct copier *c, int fd, const unsigned char *buf,
			size_t len)
{
	c->fd = fd;
	c->buf = buf;
	c->len = len;
	c->err = 0;
	return pthread_create(&c->thread, NULL, copier_run, c);
}

static int copier_join(struct copier *c)
{
	pthread_join(c->thread, NULL);
	return c->err;
}

/* Read LEN bytes; returns how many came before EOF or an error. */
static size_t read_full(int fd, unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

FIXTURE(handoff)
{
	SSL_CTX *ctx;
	SSL *ssl;
	int lfd, fd;
	pid_t child;
	int to_peer, from_peer;		/* gnutls-cli's stdin and stdout */
	unsigned char *up, *down;	/* client -> server, server -> client */
};

FIXTURE_VARIANT(handoff)
{
	int version;
	const char *suite;
	uint16_t kernel_cipher;
	const char *gnutls;	/* gnutls-cli --priority; NULL: OpenSSL child */
};

#define SUITE(tag, v, s, kc)						\
	FIXTURE_VARIANT_ADD(handoff, tag) {				\
		.version = v, .suite = s, .kernel_cipher = TLS_CIPHER_##kc }
SUITE(tls12_aes_gcm_128, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", AES_GCM_128);
SUITE(tls12_aes_gcm_256, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", AES_GCM_256);
SUITE(tls12_chacha20, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", CHACHA20_POLY1305);
SUITE(tls13_aes_gcm_128, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", AES_GCM_128);
SUITE(tls13_aes_gcm_256, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", AES_GCM_256);
SUITE(tls13_chacha20, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", CHACHA20_POLY1305);
SUITE(tls13_aes_ccm_128, TLS1_3_VERSION, "TLS_AES_128_CCM_SHA256", AES_CCM_128);

/* The same with GnuTLS as the peer: another implementation's records. */
#define GNUTLS(tag, v, s, kc, vers, cipher)				\
	FIXTURE_VARIANT_ADD(handoff, tag) {				\
		.version = v, .suite = s, .kernel_cipher = TLS_CIPHER_##kc, \
		.gnutls = "NORMAL:-VERS-ALL:+VERS-" vers ":-CIPHER-ALL:+" cipher }
GNUTLS(gnutls_tls12_aes_gcm_128, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256",
       AES_GCM_128, "TLS1.2", "AES-128-GCM");
GNUTLS(gnutls_tls12_aes_gcm_256, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384",
       AES_GCM_256, "TLS1.2", "AES-256-GCM");
GNUTLS(gnutls_tls12_chacha20, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305",
       CHACHA20_POLY1305, "TLS1.2", "CHACHA20-POLY1305");
GNUTLS(gnutls_tls13_aes_gcm_128, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256",
       AES_GCM_128, "TLS1.3", "AES-128-GCM");
GNUTLS(gnutls_tls13_aes_gcm_256, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384",
       AES_GCM_256, "TLS1.3", "AES-256-GCM");
GNUTLS(gnutls_tls13_chacha20, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256",
       CHACHA20_POLY1305, "TLS1.3", "CHACHA20-POLY1305");

/*
 * gnutls-cli as the client: its stdin goes to the server, what it gets
 * goes to its stdout, status lines go to a log file. When its stdin ends
 * it sends close_notify and exits.
 */
static pid_t spawn_gnutls(const char *priority, uint16_t port, int *to,
			  int *from)
{
	char portstr[8], prio[160];
	int in[2], out[2];
	pid_t pid;

	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(prio, sizeof(prio), "%s", priority);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execlp("gnutls-cli", "gnutls-cli", "--insecure",
		       "--logfile=/tmp/ktls_handoff.gnutls.log", "--priority",
		       prio, "-p", portstr, "127.0.0.1", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = out[0];
	return pid;
}

FIXTURE_SETUP(handoff)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);

	self->fd = -1;
	self->to_peer = -1;
	self->from_peer = -1;
	self->up = malloc(PAYLOAD);
	self->down = malloc(PAYLOAD);
	ASSERT_NE(NULL, self->up);
	ASSERT_NE(NULL, self->down);
	ASSERT_EQ(1, RAND_bytes(self->up, PAYLOAD));
	ASSERT_EQ(1, RAND_bytes(self->down, PAYLOAD));

	self->ctx = tl_self_signed_server_ctx("ktlsd-vm");
	ASSERT_NE(NULL, self->ctx);
	ASSERT_EQ(0, tl_pin_suite(self->ctx, variant->version, variant->suite));
	/* What ktls_derive needs: secrets, no tickets, nothing read ahead. */
	SSL_CTX_set_keylog_callback(self->ctx, ktls_keylog_cb);
	SSL_CTX_set_num_tickets(self->ctx, 0);
	SSL_CTX_set_read_ahead(self->ctx, 0);
	SSL_CTX_set_options(self->ctx, SSL_OP_NO_RENEGOTIATION);

	self->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, self->lfd);
	ASSERT_EQ(0, bind(self->lfd, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, listen(self->lfd, 1));
	ASSERT_EQ(0, getsockname(self->lfd, (struct sockaddr *)&sin, &slen));

	if (variant->gnutls) {
		self->child = spawn_gnutls(variant->gnutls, ntohs(sin.sin_port),
					   &self->to_peer, &self->from_peer);
		ASSERT_LT(0, self->child);
	} else {
		/* up and down are already filled: the child inherits them. */
		self->child = fork();
		ASSERT_LE(0, self->child);
	}
	if (self->child == 0) {
		close(self->lfd);
		_exit(run_client(variant->version, variant->suite,
				 ntohs(sin.sin_port), self->up, self->down));
	}
	self->fd = accept(self->lfd, NULL, NULL);
	ASSERT_LE(0, self->fd);
	set_timeouts(self->fd);
	self->ssl = SSL_new(self->ctx);
	ASSERT_NE(NULL, self->ssl);
	ASSERT_EQ(1, SSL_set_fd(self->ssl, self->fd));
	ASSERT_EQ(1, SSL_accept(self->ssl));
	ASSERT_STREQ(variant->suite,
		     SSL_CIPHER_get_name(SSL_get_current_cipher(self->ssl)));
}

FIXTURE_TEARDOWN(handoff)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	SSL_free(self->ssl);
	SSL_CTX_free(self->ctx);
	if (self->to_peer >= 0)
		close(self->to_peer);
	if (self->from_peer >= 0)
		close(self->from_peer);
	if (self->fd >= 0)
		close(self->fd);
	close(self->lfd);
	free(self->up);
	free(self->down);
}

TEST(probe_finds_kernel_tls)
{
	char why[160] = "";

	EXPECT_EQ(0, ktls_probe(why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_STREQ("kernel TLS available", why);
}

TEST_F_TIMEOUT(handoff, kernel_carries_data_each_way, 600)
{
	long tx_before = tl_tls_stat("TlsTxSw"), rx_before = tl_tls_stat("TlsRxSw");
	unsigned char *got = malloc(PAYLOAD);
	const struct ktls_cipher *cipher = ktls_cipher_by_name(variant->suite);
	unsigned char info[64], rec[64];
	socklen_t info_len;
	struct ktls_keys tx, rx;
	char why[160] = "";
	size_t len = variant->gnutls ? GNUTLS_PAYLOAD : PAYLOAD;
	struct copier feed;
	uint8_t type = 0;
	ssize_t n;
	int status;

	ASSERT_NE(NULL, got);
	ASSERT_NE(NULL, cipher);
	info_len = cipher->info_size;	/* the kernel wants the exact size */
	ASSERT_LE(0, tx_before) TH_LOG("no /proc/net/tls_stat: no kTLS");
	/* Nothing may be left inside OpenSSL at handoff. */
	EXPECT_EQ(0, SSL_pending(self->ssl));
	EXPECT_EQ(0, SSL_has_pending(self->ssl));
	ASSERT_EQ(0, ktls_derive(self->ssl, true, &tx, &rx, why, sizeof(why)))
		TH_LOG("%s", why);
	ASSERT_EQ(0, ktls_install(self->fd, &tx, &rx, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(0, tx.len);	/* wiped */
	EXPECT_EQ(0, rx.len);

	/* The kernel says what it runs. */
	EXPECT_EQ(tx_before + 1, tl_tls_stat("TlsTxSw"));
	EXPECT_EQ(rx_before + 1, tl_tls_stat("TlsRxSw"));
	EXPECT_LE(1, tl_tls_stat("TlsCurrTxSw"));
	EXPECT_LE(1, tl_tls_stat("TlsCurrRxSw"));
	ASSERT_EQ(0, getsockopt(self->fd, SOL_TLS, TLS_TX, info, &info_len));
	EXPECT_EQ(variant->version, ((struct tls_crypto_info *)info)->version);
	EXPECT_EQ(variant->kernel_cipher,
		  ((struct tls_crypto_info *)info)->cipher_type);
	explicit_bzero(info, sizeof(info));

	/* client -> server: the kernel decrypts */
	if (variant->gnutls)
		ASSERT_EQ(0, copier_start(&feed, self->to_peer, self->up, len));
	EXPECT_EQ(len, read_full(self->fd, got, len))
		TH_LOG("read: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(got, self->up, len));
	if (variant->gnutls)
		EXPECT_EQ(0, copier_join(&feed));

	/* server -> client: the kernel encrypts, the peer's library checks */
	ASSERT_EQ(0, copier_start(&feed, self->fd, self->down, len));
	if (variant->gnutls) {
		memset(got, 0, len);
		EXPECT_EQ(len, read_full(self->from_peer, got, len));
		EXPECT_EQ(0, memcmp(got, self->down, len));
	}
	EXPECT_EQ(0, copier_join(&feed)) TH_LOG("write: %s", strerror(feed.err));

	/*
	 * The client's last record is not data and its type must say so:
	 * gnutls-cli sends close_notify when its input ends; the OpenSSL
	 * client sends a KeyUpdate (TLS 1.3) or close_notify (TLS 1.2).
	 */
	if (variant->gnutls) {
		close(self->to_peer);
		self->to_peer = -1;
	}
	n = ktls_recv_record(self->fd, rec, sizeof(rec), 0, &type);
	if (variant->version == TLS1_3_VERSION && !variant->gnutls) {
		EXPECT_EQ(KTLS_RECORD_HANDSHAKE, type);
		EXPECT_LE(1, n);
		EXPECT_EQ(SSL3_MT_KEY_UPDATE, rec[0]);
	} else {
		EXPECT_EQ(KTLS_RECORD_ALERT, type);
		ASSERT_EQ(2, n) TH_LOG("recvmsg: %s", strerror(errno));
		EXPECT_EQ(1, rec[0]);	/* warning */
		EXPECT_EQ(0, rec[1]);	/* close_notify */
	}
	EXPECT_EQ(0, ktls_send_close_notify(self->fd));

	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(CHILD_OK, WEXITSTATUS(status));
	free(got);
}

TEST_HARNESS_MAIN
