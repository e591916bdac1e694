// SPDX-License-Identifier: GPL-2.0
/*
 * The access log on stderr: one key=value line per session at its end,
 * with every field, for a mutual-TLS session closed cleanly, a failed
 * handshake and a client reset; values a peer chooses (SNI, certificate
 * subject) cannot break or forge a line; access-log = no writes none; and
 * journald is recognised by $JOURNAL_STREAM naming stderr, not by the
 * variable alone.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

/* The keys of an entry, in the order the format promises. */
static const char *const keys[] = {
	"peer", "local", "port", "app", "sni", "version", "cipher", "mode",
	"mode_why", "subject", "bytes_in", "bytes_out", "duration_ms", "end",
	"reason",
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* An access-log line split back into its values (unescaped). */
struct entry {
	char val[N_KEYS][512];
};

/*
 * Parse "ktlsd: access: k=v k="v" ..." as documented: bare values, or
 * quoted ones with \" \\ \n \r \t \xHH escapes. 0 when LINE holds exactly
 * the documented keys in order, -1 otherwise.
 */
static int entry_parse(const char *line, struct entry *e)
{
	const char *p = strstr(line, "ktlsd: access: ");

	if (!p)
		return -1;
	p += strlen("ktlsd: access: ");
	for (size_t k = 0; k < N_KEYS; k++) {
		size_t klen = strlen(keys[k]), n = 0;
		char *out = e->val[k];

		if (strncmp(p, keys[k], klen) || p[klen] != '=')
			return -1;
		p += klen + 1;
		if (*p != '"') {
			while (*p && *p != ' ' && n < sizeof(e->val[k]) - 1)
				out[n++] = *p++;
		} else {
			for (p++; *p && *p != '"' && n < sizeof(e->val[k]) - 1; p++) {
				unsigned int x;

				if (*p != '\\') {
					out[n++] = *p;
					continue;
				}
				p++;
				if (*p == 'n')
					out[n++] = '\n';
				else if (*p == 'r')
					out[n++] = '\r';
				else if (*p == 't')
					out[n++] = '\t';
				else if (*p == 'x' && sscanf(p + 1, "%2x", &x) == 1) {
					out[n++] = (char)x;
					p += 2;
				} else if (*p)
					out[n++] = *p;
			}
			if (*p++ != '"')
				return -1;
		}
		out[n] = '\0';
		if (k + 1 < N_KEYS && *p++ != ' ')
			return -1;
	}
	return *p ? -1 : 0;
}

static const char *field(const struct entry *e, const char *key)
{
	for (size_t k = 0; k < N_KEYS; k++)
		if (!strcmp(keys[k], key))
			return e->val[k];
	return NULL;
}

FIXTURE(access) {
	PKI_ECHO_PORT_IN_FIXTURE;
	SSL_CTX *ctx;		/* presents client.test's certificate */
};

FIXTURE_SETUP(access)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_NE(NULL, pki_dir());
	ASSERT_EQ(0, pki_echo_port_prepare(&self->base));
	self->ctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NE(NULL, self->ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(self->ctx, pki_file("root.crt"),
						   NULL));
	SSL_CTX_set_verify(self->ctx, SSL_VERIFY_PEER, NULL);
	ASSERT_EQ(1, SSL_CTX_use_certificate_chain_file(self->ctx,
					pki_file("client-chain.pem")));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey_file(self->ctx, pki_file("client.key"),
						 SSL_FILETYPE_PEM));
}

FIXTURE_TEARDOWN(access)
{
	SSL_CTX_free(self->ctx);
	if (self->daemon.pid > 0)
		EXPECT_EQ(0, tl_stop(&self->daemon));
	tl_stop(&self->echo);
	tl_rmtree(self->dir);
	free(self->dir);
}

/* ktlsd with a mutual-TLS port in front of the echo service; DAEMON_LINES
 * go into [ktlsd]. */
static int start_daemon(FIXTURE_DATA(access) *self, const char *daemon_lines)
{
	if (pki_write_port_conf(self->conf, &(struct pki_port_conf) {
		.daemon_lines = daemon_lines, .control = self->control,
		.port_name = "Echo:secure", .port = self->port,
		.backend = self->echo_port, .transport = "tls=1;tls-mutual=1" }) < 0)
		return -1;
	return tl_daemon_start(&self->daemon, self->conf, self->log);
}

/* A TLS 1.3 client of the port with SNI (NULL: none); *LPORT gets its
 * source port. Returns after SSL_connect, successful or not. */
static SSL *client(SSL_CTX *ctx, int port, const char *sni, int *lport, int *ok)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me;
	socklen_t mlen = sizeof(me);
	struct timeval tv = { 30, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	SSL *ssl;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &mlen) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*lport = ntohs(me.sin_port);
	ssl = SSL_new(ctx);
	if (!ssl) {
		close(fd);
		return NULL;
	}
	SSL_set_min_proto_version(ssl, TLS1_3_VERSION);
	SSL_set_fd(ssl, fd);
	if (sni)
		SSL_set_tlsext_host_name(ssl, sni);
	*ok = SSL_connect(ssl) == 1;
	return ssl;
}

/* "hello" through the echo service. */
static int echo_hello(SSL *ssl)
{
	char buf[5];
	int got = 0;

	if (SSL_write(ssl, "hello", 5) != 5)
		return -1;
	while (got < 5) {
		int n = SSL_read(ssl, buf + got, 5 - got);

		if (n <= 0)
			return -1;
		got += n;
	}
	return memcmp(buf, "hello", 5) ? -1 : 0;
}

static void client_free(SSL *ssl)
{
	close(SSL_get_fd(ssl));
	SSL_free(ssl);
}

/* A client that completed its handshake and echoed "hello"; NULL if not. */
static SSL *served_client(SSL_CTX *ctx, int port, const char *sni, int *lport)
{
	int ok = 0;
	SSL *ssl = client(ctx, port, sni, lport, &ok);

	if (ssl && (!ok || echo_hello(ssl) < 0)) {
		client_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Wait for the entry of the client at 127.0.0.1:LPORT and parse it. */
static int wait_entry(FIXTURE_DATA(access) *self, int lport, struct entry *e,
		      char **linep)
{
	char needle[64];
	char *line;
	int rc;

	snprintf(needle, sizeof(needle), "access: peer=127.0.0.1:%d ", lport);
	line = tl_wait_log_line(self->log, needle, 30000);
	if (!line)
		return -1;
	rc = entry_parse(line, e);
	if (linep)
		*linep = line;
	else
		free(line);
	return rc;
}

/* Fields of an entry and the exact values they must have. */
struct field_want {
	const char *key, *value;
};

/* WANT ends with a NULL key. */
static void expect_fields(struct __test_metadata *_metadata, const struct entry *e,
			  const struct field_want *want)
{
	for (; want->key; want++) {
		EXPECT_STREQ(want->value, field(e, want->key)) {
			TH_LOG("field %s", want->key);
		}
	}
}

/* Every field of a mutual-TLS session that ends with close_notify both ways. */
TEST_F_TIMEOUT(access, mutual_tls_clean_close, 120)
{
	char local[64], cipher[64], buf[16];
	struct entry e;
	int lport;
	SSL *ssl;

	ASSERT_EQ(0, start_daemon(self, ""));
	ssl = served_client(self->ctx, self->port, "echo.test", &lport);
	ASSERT_NE(NULL, ssl);
	snprintf(cipher, sizeof(cipher), "%s", SSL_get_cipher_name(ssl));
	EXPECT_EQ(0, SSL_shutdown(ssl));
	shutdown(SSL_get_fd(ssl), SHUT_WR);
	/* ktlsd's close_notify after the service's end of stream. */
	EXPECT_EQ(0, SSL_read(ssl, buf, sizeof(buf)));
	EXPECT_EQ(SSL_ERROR_ZERO_RETURN, SSL_get_error(ssl, 0));
	client_free(ssl);

	ASSERT_EQ(0, wait_entry(self, lport, &e, NULL));
	snprintf(local, sizeof(local), "127.0.0.1:%d", self->port);
	expect_fields(_metadata, &e, (const struct field_want[]) {
		{ "local", local }, { "port", "Echo:secure" }, { "app", "Echo" },
		{ "sni", "echo.test" }, { "version", "TLSv1.3" }, { "cipher", cipher },
		/* The host kernel has no kTLS: userspace, and why (below). */
		{ "mode", "userspace" }, { "subject", "/CN=client.test" },
		{ "bytes_in", "5" }, { "bytes_out", "5" },
		{ "end", "close" }, { "reason", "" }, { NULL } });
	EXPECT_NE(NULL, strstr(field(&e, "mode_why"), "tls ULP"));
	EXPECT_EQ(strspn(field(&e, "duration_ms"), "0123456789"),
		  strlen(field(&e, "duration_ms")));
}

/* A client without a certificate on a mutual-TLS port. */
TEST_F_TIMEOUT(access, handshake_failure, 120)
{
	SSL_CTX *anon = SSL_CTX_new(TLS_client_method());
	struct entry e;
	int lport, ok;
	SSL *ssl;

	ASSERT_NE(NULL, anon);
	ASSERT_EQ(0, start_daemon(self, ""));
	ssl = client(anon, self->port, NULL, &lport, &ok);
	ASSERT_NE(NULL, ssl);
	/* TLS 1.3: the server refuses after the client's Finished. */
	EXPECT_NE(0, echo_hello(ssl));
	client_free(ssl);
	SSL_CTX_free(anon);

	ASSERT_EQ(0, wait_entry(self, lport, &e, NULL));
	expect_fields(_metadata, &e, (const struct field_want[]) {
		{ "end", "handshake-failed" }, { "mode", "none" },
		{ "subject", "" }, { "bytes_in", "0" }, { NULL } });
	EXPECT_NE(NULL, strstr(field(&e, "reason"), "certificate"))
		TH_LOG("reason: %s", field(&e, "reason"));
	/* The diagnostic log says it too, at info (right after the entry). */
	EXPECT_EQ(0, tl_wait_file_contains(self->log,
					   "info: port Echo:secure: handshake with", 30000));
}

/* A client that resets its connection after a first exchange. */
TEST_F_TIMEOUT(access, reset, 120)
{
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	struct entry e;
	int lport;
	SSL *ssl;

	ASSERT_EQ(0, start_daemon(self, ""));
	ssl = served_client(self->ctx, self->port, "echo.test", &lport);
	ASSERT_NE(NULL, ssl);
	setsockopt(SSL_get_fd(ssl), SOL_SOCKET, SO_LINGER, &abort_close,
		   sizeof(abort_close));
	client_free(ssl);

	ASSERT_EQ(0, wait_entry(self, lport, &e, NULL));
	expect_fields(_metadata, &e, (const struct field_want[]) {
		{ "end", "reset" }, { "reason", "peer reset the connection" },
		{ "bytes_in", "5" }, { "bytes_out", "5" }, { NULL } });
	EXPECT_EQ(0, tl_wait_file_contains(self->log,
					   "session ended (reset): peer reset", 30000));
}

/*
 * Values the peer chooses: an SNI with a quote and a newline, and a client
 * certificate (signed by the trusted intermediate) whose subject holds a
 * quote, spaces and '='. The entry stays one line, parses back to exactly
 * what the peer sent, and no forged entry appears.
 */
TEST_F_TIMEOUT(access, peer_values_cannot_forge_lines, 120)
{
	static const char evil_sni[] = "a\"b\nktlsd: access: peer=forged";
	static const char evil_cn[] = "x\" end=close reason=\"forged";
	char subj[128], csr[600], crt[600], ext[600], chain[600], *line, *log;
	const char *req[] = { "openssl", "req", "-new", "-key", pki_file("client.key"),
			      "-subj", subj, "-out", csr, NULL };
	const char *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA",
			       pki_file("int.crt"), "-CAkey", pki_file("int.key"),
			       "-set_serial", "4242", "-days", "2", "-extfile", ext,
			       "-out", crt, NULL };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct entry e;
	int lport;
	SSL *ssl;

	snprintf(subj, sizeof(subj), "/CN=%s", evil_cn);
	snprintf(csr, sizeof(csr), "%s/evil.csr", self->dir);
	snprintf(crt, sizeof(crt), "%s/evil.crt", self->dir);
	snprintf(ext, sizeof(ext), "%s/evil.ext", self->dir);
	snprintf(chain, sizeof(chain), "%s/evil-chain.pem", self->dir);
	ASSERT_EQ(0, tl_write_file(ext, "extendedKeyUsage = clientAuth\n"));
	ASSERT_EQ(0, tl_run(req, NULL, NULL, NULL, 30000));
	ASSERT_EQ(0, tl_run(sign, NULL, NULL, NULL, 30000));
	line = tl_read_file(crt);
	log = tl_read_file(pki_file("int.crt"));
	ASSERT_NE(NULL, line);
	ASSERT_NE(NULL, log);
	ASSERT_EQ(0, tl_write_file(chain, "%s%s", line, log));
	free(line);
	free(log);
	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(1, SSL_CTX_load_verify_locations(ctx, pki_file("root.crt"), NULL));
	ASSERT_EQ(1, SSL_CTX_use_certificate_chain_file(ctx, chain));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey_file(ctx, pki_file("client.key"),
						 SSL_FILETYPE_PEM));

	ASSERT_EQ(0, start_daemon(self, ""));
	ssl = served_client(ctx, self->port, evil_sni, &lport);
	ASSERT_NE(NULL, ssl);
	SSL_shutdown(ssl);
	client_free(ssl);
	SSL_CTX_free(ctx);

	ASSERT_EQ(0, wait_entry(self, lport, &e, &line));
	TH_LOG("%s", line);
	expect_fields(_metadata, &e, (const struct field_want[]) {
		{ "sni", evil_sni }, { "subject", subj }, { NULL } });
	EXPECT_NE(NULL, strstr(line, "sni=\"a\\\"b\\nktlsd: access: peer=forged\""));
	free(line);
	/* One entry, and nothing that starts a line as a forged one would. */
	log = tl_read_file(self->log);
	ASSERT_NE(NULL, log);
	EXPECT_EQ(NULL, strstr(log, "\nktlsd: access: peer=forged"));
	EXPECT_EQ(NULL, strstr(log, "\n end=close"));
	free(log);
}

/* access-log = no: the session's end is logged (debug) but no entry. */
TEST_F_TIMEOUT(access, off, 120)
{
	char needle[64];
	int lport;
	SSL *ssl;

	ASSERT_EQ(0, start_daemon(self, "access-log = no\n"));
	ssl = served_client(self->ctx, self->port, "echo.test", &lport);
	ASSERT_NE(NULL, ssl);
	SSL_shutdown(ssl);
	client_free(ssl);
	/* The entry would be written before this line. */
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed", lport);
	ASSERT_EQ(0, tl_wait_file_contains(self->log, needle, 30000));
	EXPECT_EQ(0, tl_file_contains(self->log, "access:"));
}

/*
 * journald is recognised as systemd documents it: $JOURNAL_STREAM names
 * the device and inode of stderr. Set to the log file's, ktlsd writes
 * journal-style "<N>" lines; set to something else (a variable inherited
 * by a process whose stderr was redirected), plain lines.
 */
TEST_F_TIMEOUT(access, journal_stream_detected_by_stderr, 120)
{
	struct stat st;
	char v[64];

	ASSERT_EQ(0, tl_write_file(self->log, "%s", ""));
	ASSERT_EQ(0, stat(self->log, &st));
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	ASSERT_EQ(0, start_daemon(self, ""));
	EXPECT_EQ(0, tl_stop(&self->daemon));
	EXPECT_EQ(1, tl_file_contains(self->log, "\n<6>"));
	EXPECT_EQ(0, tl_file_contains(self->log, "ktlsd: info:"));

	setenv("JOURNAL_STREAM", "1:1", 1);
	ASSERT_EQ(0, start_daemon(self, ""));
	EXPECT_EQ(0, tl_stop(&self->daemon));
	unsetenv("JOURNAL_STREAM");
	EXPECT_EQ(1, tl_file_contains(self->log, "ktlsd: info:"));
}

TEST_HARNESS_MAIN
