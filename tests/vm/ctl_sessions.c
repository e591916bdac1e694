// SPDX-License-Identifier: GPL-2.0
/*
 * In the VM (real kTLS): a live session shows in `ktlsctl sessions` with
 * mode ktls and the kernel's own view of the socket, read from
 * NETLINK_SOCK_DIAG (INET_DIAG_ULP_INFO): version and cipher as the kernel
 * reports them, not as the daemon remembers them.
 */
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "pki.h"
#include "testlib.h"

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

FIXTURE(ctl) {
	PKI_ECHO_PORT_IN_FIXTURE;
	char out[512];
};

FIXTURE_VARIANT(ctl) {
	int version;
	const char *suite;	/* OpenSSL name */
	const char *kernel;	/* ss(8)'s words for what the kernel holds */
};
FIXTURE_VARIANT_ADD(ctl, tls13_aes_256_gcm) {
	.version = TLS1_3_VERSION, .suite = "TLS_AES_256_GCM_SHA384",
	.kernel = "version: 1.3 cipher: aes-gcm-256",
};
FIXTURE_VARIANT_ADD(ctl, tls12_chacha20_poly1305) {
	.version = TLS1_2_VERSION, .suite = "ECDHE-ECDSA-CHACHA20-POLY1305",
	.kernel = "version: 1.2 cipher: chacha20-poly1305",
};

FIXTURE_SETUP(ctl)
{
	ASSERT_EQ(0, pki_echo_port_start(&self->base, NULL));
	snprintf(self->out, sizeof(self->out), "%s/out", self->dir);
}

FIXTURE_TEARDOWN(ctl)
{
	EXPECT_EQ(0, pki_echo_port_stop(&self->base));
}

TEST_F_TIMEOUT(ctl, sessions_show_the_kernel_view, 300)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(self->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char bin[PATH_MAX], buf[8];
	const char *argv[] = { bin, "-s", self->control, "sessions", NULL };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	SSL *ssl;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, connect(fd, (struct sockaddr *)&a, sizeof(a)));
	SSL_CTX_set_min_proto_version(ctx, variant->version);
	SSL_CTX_set_max_proto_version(ctx, variant->version);
	if (variant->version == TLS1_3_VERSION)
		SSL_CTX_set_ciphersuites(ctx, variant->suite);
	else
		SSL_CTX_set_cipher_list(ctx, variant->suite);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	ASSERT_EQ(1, SSL_connect(ssl));
	/* One echo round trip: the session is past the handoff. */
	ASSERT_EQ(4, SSL_write(ssl, "abc\n", 4));
	ASSERT_EQ(4, SSL_read(ssl, buf, 4));

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	EXPECT_EQ(0, tl_run(argv, NULL, self->out, NULL, 60000));
	EXPECT_EQ(1, tl_file_contains(self->out, "ktls"));
	EXPECT_EQ(1, tl_file_contains(self->out, "tcp-ulp-tls")) {
		const char *const cat[] = { "cat", self->out, NULL };

		tl_run(cat, NULL, "/dev/console", NULL, 5000);
	}
	EXPECT_EQ(1, tl_file_contains(self->out, variant->kernel));
	EXPECT_EQ(0, tl_file_contains(self->out, "userspace"));

	/* stats carries the kernel's own kTLS counters from the VM's kernel. */
	argv[3] = "stats";
	EXPECT_EQ(0, tl_run(argv, NULL, self->out, NULL, 60000));
	EXPECT_EQ(1, tl_file_contains(self->out, "TlsCurrTxSw"));
	EXPECT_EQ(1, tl_file_contains(self->out, "TlsTxSw"));
	EXPECT_EQ(0, tl_file_contains(self->out, "not available"));

	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
}

TEST_HARNESS_MAIN
