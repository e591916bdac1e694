// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd --check-config and --explain as an operator runs them: every shipped
 * example (its /etc/sec/... paths pointed at a generated PKI) is accepted
 * with "configuration OK" and exit 0; broken variants are refused with exit
 * 1 and file:line, level and option in the message.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "netns.h"
#include "pki.h"
#include "testlib.h"

static void __attribute__((constructor)) make_pki_once(void)
{
	pki_dir();
}

/* The examples' file names and the generated PKI files standing in. */
static const char *const stand_ins[][2] = {
	{ "/etc/sec/ca/certauth.pem", "root.crt" },
	{ "/etc/sec/certs/hostcert.pem", "server-chain.pem" },
	{ "/etc/sec/certs/servhostcert.pem", "server-chain.pem" },
	{ "/etc/sec/certs/msgserver.pem", "server-chain.pem" },
	{ "/etc/sec/certs/reports.pem", "server.crt" },
	{ "/etc/sec/certs/intermediate.pem", "int.crt" },
	{ "/etc/sec/certs/privkey.pem", "server.key" },
	{ "/etc/sec/certs/servprivkey.pem", "server.key" },
	{ "/etc/sec/certs/msgserver.key", "server.key" },
	{ "/etc/sec/certs/reports.key", "server.key" },
	{ "/etc/sec/certs/clthostcert.pem", "client-chain.pem" },
	{ "/etc/sec/certs/cltprivkey.pem", "client.key" },
	{ "/etc/sec/crl/crllist.pem", "crl.pem" },
};

/* TEXT with every occurrence of FROM replaced by TO (new string). */
static char *replace_all(const char *text, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	const char *p;
	char *out, *o;

	for (p = text; (p = strstr(p, from)); p += fl)
		n++;
	out = malloc(strlen(text) + n * (tl + 1) + 1);
	if (!out)
		return NULL;
	for (o = out, p = text; *p;) {
		if (!strncmp(p, from, fl)) {
			memcpy(o, to, tl);
			o += tl;
			p += fl;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
	return out;
}

/* Runtime names of the examples; NULL: the cgroup v2 root. */
static const char *const host_stand_ins[][2] = {
	{ "statserver.example.com", "localhost" },
	{ "/sys/fs/cgroup/router.slice", NULL },
};

/* Copy EXAMPLE into DIR with the PKI standing in for /etc/sec. */
static int localise(const char *example, const char *dir, char *out, size_t len)
{
	char *text = tl_read_file(example);
	const char *base = strrchr(example, '/');

	if (!text)
		return -1;
	for (size_t i = 0; i < sizeof(stand_ins) / sizeof(stand_ins[0]); i++) {
		char *next = replace_all(text, stand_ins[i][0],
					 pki_file(stand_ins[i][1]));

		free(text);
		if (!next)
			return -1;
		text = next;
	}
	/* This host stands in for the example's server host and cgroup: a
	 * name that resolves and a cgroup v2 directory that exists. */
	for (size_t i = 0; i < sizeof(host_stand_ins) / sizeof(host_stand_ins[0]); i++) {
		const char *to = host_stand_ins[i][1] ? host_stand_ins[i][1] :
				 tl_cgroup2_root();
		char *next = to ? replace_all(text, host_stand_ins[i][0], to) : NULL;

		free(text);
		if (!next)
			return -1;
		text = next;
	}
	snprintf(out, len, "%s/%s", dir, base ? base + 1 : example);
	if (tl_write_file(out, "%s", text) < 0) {
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

static int ktlsd(const char *opt, const char *conf, const char *out,
		 const char *err)
{
	char bin[PATH_MAX];
	const char *argv[] = { bin, opt, conf, NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	return tl_run(argv, NULL, out, err, 30000);
}

FIXTURE(check) {
	char *dir;
	char out[512], err[512];
};

FIXTURE_VARIANT(check) {
	const char *example;
};
FIXTURE_VARIANT_ADD(check, default_config) { .example = "examples/ktlsd.conf" };
FIXTURE_VARIANT_ADD(check, simple_server) { .example = "examples/simple-tls-server.conf" };
FIXTURE_VARIANT_ADD(check, simple_client) { .example = "examples/simple-tls-client.conf" };
FIXTURE_VARIANT_ADD(check, mutual_server) { .example = "examples/mutual-tls-server.conf" };
FIXTURE_VARIANT_ADD(check, mutual_client) { .example = "examples/mutual-tls-client.conf" };

FIXTURE_SETUP(check)
{
	ASSERT_NE(NULL, pki_dir());
	self->dir = tl_tmpdir();
	ASSERT_NE(NULL, self->dir);
	snprintf(self->out, sizeof(self->out), "%s/out", self->dir);
	snprintf(self->err, sizeof(self->err), "%s/err", self->dir);
}

FIXTURE_TEARDOWN(check)
{
	tl_rmtree(self->dir);
	free(self->dir);
}

TEST_F(check, example_is_accepted)
{
	char conf[600];

	ASSERT_EQ(0, localise(variant->example, self->dir, conf, sizeof(conf)));
	EXPECT_EQ(0, ktlsd("--check-config", conf, self->out, self->err));
	EXPECT_EQ(1, tl_file_contains(self->out, "configuration OK"));
	/* --explain names where every setting came from. */
	EXPECT_EQ(0, ktlsd("--explain", conf, self->out, self->err));
	EXPECT_EQ(1, tl_file_contains(self->out, "level"));
}

/* The TLS 1.2 suites of a port's "ciphers (TLS 1.2):" line in --explain. */
static char *explained_tls12(const char *path)
{
	char *text = tl_read_file(path), *line, *end, *list = NULL;

	line = text ? strstr(text, "ciphers (TLS 1.2):") : NULL;
	if (line) {
		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		list = strdup(line + strlen("ciphers (TLS 1.2):"));
	}
	free(text);
	return list;
}

/* Without cipher-list, --explain shows what TLS 1.2 really offers: ECDHE
 * with AES-GCM or ChaCha20-Poly1305 only; a listed CBC suite shows up. */
TEST(explain_shows_the_effective_cipher_list)
{
	char *dir = tl_tmpdir(), *list, *save = NULL;
	char conf[600], out[600], err[600];
	int n = 0;

	ASSERT_NE(NULL, dir);
	ASSERT_NE(NULL, pki_dir());
	snprintf(conf, sizeof(conf), "%s/ktlsd.conf", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	ASSERT_EQ(0, pki_write_port_conf(conf, &(struct pki_port_conf) {
		.control = "/nonexistent/control", .port_name = "Echo:secure",
		.port = 7001, .backend = 7000 }));
	ASSERT_EQ(0, ktlsd("--explain", conf, out, err));
	list = explained_tls12(out);
	ASSERT_NE(NULL, list);
	for (char *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		n++;
		EXPECT_TRUE(!strncmp(tok, "ECDHE-", 6) &&
			    (strstr(tok, "-GCM-") || strstr(tok, "-CHACHA20-"))) {
			TH_LOG("offered by default: %s", tok);
		}
	}
	EXPECT_LT(0, n);
	free(list);

	ASSERT_EQ(0, pki_write_port_conf(conf, &(struct pki_port_conf) {
		.control = "/nonexistent/control", .port_name = "Echo:secure",
		.security_lines = "cipher-list = ECDHE-ECDSA-AES128-SHA:TLS_AES_128_GCM_SHA256\n",
		.port = 7001, .backend = 7000 }));
	ASSERT_EQ(0, ktlsd("--explain", conf, out, err));
	list = explained_tls12(out);
	ASSERT_NE(NULL, list);
	EXPECT_STREQ(" ECDHE-ECDSA-AES128-SHA", list);
	free(list);
	EXPECT_EQ(1, tl_file_contains(out, "ciphers (TLS 1.3): TLS_AES_128_GCM_SHA256\n"));
	tl_rmtree(dir);
	free(dir);
}

/* As shipped, the files under /etc/sec are missing here: refused, naming
 * the file:line, the level, the option and the reason. */
TEST_F(check, missing_files_are_named)
{
	char base[600];

	EXPECT_EQ(1, ktlsd("--check-config", variant->example, self->out,
			   self->err));
	snprintf(base, sizeof(base), "%s:", variant->example);
	EXPECT_EQ(1, tl_file_contains(self->err, base));
	EXPECT_EQ(1, tl_file_contains(self->err, "trusted-ca: cannot read /etc/sec/"));
	EXPECT_EQ(1, tl_file_contains(self->err, "No such file or directory"));
	EXPECT_EQ(0, tl_file_contains(self->out, "configuration OK"));
}

/* A private key that does not belong to the certificate. */
TEST_F(check, key_mismatch_is_refused)
{
	char conf[600];
	char *text;

	ASSERT_EQ(0, localise(variant->example, self->dir, conf, sizeof(conf)));
	text = tl_read_file(conf);
	ASSERT_NE(NULL, text);
	if (!strstr(text, pki_file("server.key")) && !strstr(text, pki_file("client.key"))) {
		free(text);
		SKIP(return, "this example configures no private key");
	}
	{
		char *a = replace_all(text, pki_file("server.key"), pki_file("client.key"));
		char *b = replace_all(a, pki_file("client-chain.pem"), pki_file("server-chain.pem"));

		ASSERT_EQ(0, tl_write_file(conf, "%s", b));
		free(a);
		free(b);
	}
	free(text);
	EXPECT_EQ(1, ktlsd("--check-config", conf, self->out, self->err));
	EXPECT_EQ(1, tl_file_contains(self->err, "error:"));
	EXPECT_EQ(0, tl_file_contains(self->out, "configuration OK"));
}

/* Redirection needs the server's addresses and a real cgroup v2 directory;
 * both are refused at check time, naming file, line, section and option. */
TEST(redirect_needs_resolvable_server_and_cgroup)
{
	char *dir = tl_tmpdir(), conf[600], out[600], err[600], want[700];
	const char *argv[] = { NULL, "--check-config", conf, NULL };
	char bin[PATH_MAX];

	ASSERT_NE(NULL, dir);
	ASSERT_NE(NULL, pki_dir());
	snprintf(conf, sizeof(conf), "%s/k.conf", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	ASSERT_EQ(0, tl_write_file(conf,
		"[application Router]\n"
		"cgroup = %s/no-such-cgroup\n"
		"\n"
		"[connection Router->StatServer]\n"
		"server = no-such-host.invalid:7001\n"
		"trusted-ca = %s\n", dir, pki_file("root.crt")));
	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	argv[0] = bin;
	EXPECT_EQ(1, tl_run(argv, NULL, out, err, 30000));
	snprintf(want, sizeof(want), "%s:2: error: [application Router] cgroup: %s/no-such-cgroup: No such file",
		 conf, dir);
	EXPECT_EQ(1, tl_file_contains(err, want));
	snprintf(want, sizeof(want), "%s:5: error: [connection Router->StatServer] server: cannot resolve no-such-host.invalid",
		 conf);
	EXPECT_EQ(1, tl_file_contains(err, want));
	tl_rmtree(dir);
	free(dir);
}

TEST_HARNESS_MAIN
