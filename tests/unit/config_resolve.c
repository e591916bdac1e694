// SPDX-License-Identifier: GPL-2.0
/*
 * Level resolution (policy.c): which of Host, Application and Port or
 * Connection gives each port and connection its settings, the seeds' "one
 * level" rule, the options each mode requires, and the --explain output for
 * the seeds' sample configurations.
 */
#include "kselftest_harness.h"
#include "config_test.h"

#define HOST "[security]\n"				/* 1 */ \
	"certificate = /etc/sec/certs/hostcert.pem\n"	/* 2 */ \
	"certificate-key = /etc/sec/certs/privkey.pem\n" /* 3 */ \
	"trusted-ca = /etc/sec/ca/certauth.pem\n"	/* 4 */
#define PORT_HEAD "[port StatServer:secure]\n"	/* 5 */ \
	"transport = tls=1\n"				/* 6 */ \
	"listen = *:7001\n"				/* 7 */ \
	"backend = 127.0.0.1:7000\n"			/* 8 */

/* ---- errors of the level rules, one variant per rule ---------------------- */

FIXTURE(rule) {
	struct loaded l;
};

FIXTURE_VARIANT(rule) {
	const char *conf;
	int errors;
	unsigned int line;
	const char *expect;
};

FIXTURE_SETUP(rule) {
	ASSERT_NE(-1000, load_text(&self->l, variant->conf));
}

FIXTURE_TEARDOWN(rule) {
	loaded_free(&self->l);
}

TEST_F(rule, reported)
{
	EXPECT_EQ(variant->errors, self->l.errors);
	EXPECT_TRUE(has_diag(&self->l, variant->line, "error", variant->expect)) {
		TH_LOG("want line %u: %s\ngot:\n%s", variant->line, variant->expect,
		       self->l.diag);
	}
}

/* The brief's example: certificate at the port, its key only at the host. */
FIXTURE_VARIANT_ADD(rule, one_level_certificate_key) {
	.conf = "[security]\ncertificate-key = /etc/sec/certs/privkey.pem\n"
		"trusted-ca = /etc/sec/ca/certauth.pem\n"
		"[port StatServer:secure]\ntransport = tls=1\nlisten = *:7001\n"
		"backend = 127.0.0.1:7000\ncertificate = /etc/sec/certs/port.pem\n",
	.errors = 1, .line = 4,
	.expect = "[port StatServer:secure] certificate-key: not set at the port level, where certificate is set (line 8); settings are taken from one level only, so certificate-key in [security] (line 2) is not used: add certificate-key to this section, or remove the port-level settings to use [security]",
};
/* sec-protocol at the port and the certificate at the host: the port level
 * is used, and it has no certificate. */
FIXTURE_VARIANT_ADD(rule, one_level_protocol_and_certificate) {
	.conf = HOST PORT_HEAD "sec-protocol = TLSv13\n", .errors = 2, .line = 5,
	.expect = "[port StatServer:secure] certificate: not set at the port level, where sec-protocol is set (line 9); settings are taken from one level only, so certificate in [security] (line 2) is not used",
};
FIXTURE_VARIANT_ADD(rule, one_level_application) {
	.conf = "[security]\ncertificate-key = /k.pem\n"
		"[application StatServer]\ncertificate-source = application\ncertificate = /c.pem\n"
		"trusted-ca = /ca.pem\n"
		"[port StatServer:secure]\ntransport = tls=1\nlisten = *:7001\nbackend = 127.0.0.1:7000\n",
	.errors = 1, .line = 3,
	.expect = "[port StatServer:secure] certificate-key: not set at the application level, where certificate is set (line 5); settings are taken from one level only, so certificate-key in [security] (line 2) is not used: add certificate-key to [application StatServer], or remove the application-level settings to use [security]",
};
FIXTURE_VARIANT_ADD(rule, server_without_certificate) {
	.conf = "[security]\ntrusted-ca = /ca.pem\n"
		"[port StatServer:secure]\ntransport = tls=1\nlisten = *:7001\nbackend = 127.0.0.1:7000\n",
	.errors = 2, .line = 3,
	.expect = "[port StatServer:secure] certificate: not set at the host level ([security]), which gives this port its settings; a secure server port presents certificate and certificate-key",
};
FIXTURE_VARIANT_ADD(rule, server_nothing_anywhere) {
	.conf = "[port StatServer:secure]\ntransport = tls=1\nlisten = *:7001\nbackend = 127.0.0.1:7000\n",
	.errors = 2, .line = 1,
	.expect = "[port StatServer:secure] certificate-key: not set at any level; a secure server port presents certificate and certificate-key: add it to this section, to [application StatServer]",
};
FIXTURE_VARIANT_ADD(rule, mutual_port_without_trusted_ca) {
	.conf = "[security]\ncertificate = /c.pem\ncertificate-key = /k.pem\n"
		"[port StatServer:secure]\ntransport = tls=1;tls-mutual=1\nlisten = *:7001\nbackend = 127.0.0.1:7000\n",
	.errors = 1, .line = 4,
	.expect = "[port StatServer:secure] trusted-ca: not set at the host level ([security]), which gives this port its settings; a mutual TLS port verifies client certificates",
};
FIXTURE_VARIANT_ADD(rule, client_without_trusted_ca) {
	.conf = "[connection Router->StatServer]\nserver = stat.example.com:7001\n",
	.errors = 1, .line = 1,
	.expect = "[connection Router->StatServer] trusted-ca: not set at any level; a client connection verifies the server's certificate against trusted-ca",
};
FIXTURE_VARIANT_ADD(rule, mutual_client_without_key) {
	.conf = "[security]\ntrusted-ca = /ca.pem\n"
		"[connection Router->StatServer]\nserver = stat.example.com:7001\n"
		"trusted-ca = /ca.pem\ntls-mutual = 1\ncertificate = /c.pem\n",
	.errors = 1, .line = 3,
	.expect = "[connection Router->StatServer] certificate-key: not set at the connection level (this section), which gives this connection its settings; a mutual TLS client presents certificate and certificate-key",
};
/* The server port of this file is mutual, so its client must be too. */
FIXTURE_VARIANT_ADD(rule, client_of_mutual_port_without_certificate) {
	.conf = HOST "[port StatServer:secure]\ntransport = tls=1;tls-mutual=1\nlisten = *:7001\n"
		"backend = 127.0.0.1:7000\n"
		"[connection Router->StatServer]\nserver = stat.example.com:7001\ntrusted-ca = /ca.pem\n",
	.errors = 2, .line = 9,
	.expect = "[connection Router->StatServer] certificate: not set at the connection level, where trusted-ca is set (line 11); settings are taken from one level only, so certificate in [security] (line 2) is not used",
};
FIXTURE_VARIANT_ADD(rule, name_check_with_ip_address) {
	.conf = "[security]\ntrusted-ca = /ca.pem\ntls-target-name-check = host\n"
		"[connection Router->StatServer]\nserver = 192.0.2.1:7001\n",
	.errors = 1, .line = 3,
	.expect = "[connection Router->StatServer] tls-target-name-check: host needs a host name, but server = 192.0.2.1:7001 (line 5) is an IP address",
};
FIXTURE_VARIANT_ADD(rule, source_host_with_own_options) {
	.conf = HOST "[application StatServer]\ncertificate-source = host\ncrl = /crl.pem\n" PORT_HEAD,
	.errors = 1, .line = 7,
	.expect = "[application StatServer] crl: set here, but certificate-source = host (line 6)",
};
FIXTURE_VARIANT_ADD(rule, source_application_without_options) {
	.conf = HOST "[application StatServer]\ncertificate-source = application\n" PORT_HEAD,
	.errors = 3, .line = 6,
	.expect = "[application StatServer] certificate-source: application, but this section sets no security option",
};

/* ---- successful resolutions ---------------------------------------------- */

TEST(host_level_by_default)
{
	struct loaded l;
	const struct cfg_port *p;

	ASSERT_EQ(0, load_text(&l, HOST PORT_HEAD));
	p = &l.cfg->ports[0];
	EXPECT_EQ(LEVEL_HOST, p->source);
	EXPECT_EQ(LEVEL_HOST, p->effective.opt[OPT_CERTIFICATE].level);
	EXPECT_EQ(2, p->effective.opt[OPT_CERTIFICATE].line);
	EXPECT_STREQ("/etc/sec/certs/privkey.pem", p->effective.opt[OPT_CERTIFICATE_KEY].value);
	EXPECT_FALSE(p->mutual);
	loaded_free(&l);
}

TEST(port_level_takes_everything_from_the_port)
{
	struct loaded l;
	const struct cfg_port *p;

	ASSERT_EQ(0, load_text(&l, HOST "crl = /etc/sec/crl.pem\n" PORT_HEAD
			       "certificate = /p.pem\ncertificate-key = /p.key\n"));
	p = &l.cfg->ports[0];
	EXPECT_EQ(LEVEL_PORT, p->source);
	EXPECT_STREQ("/p.pem", p->effective.opt[OPT_CERTIFICATE].value);
	EXPECT_EQ(LEVEL_PORT, p->effective.opt[OPT_CERTIFICATE_KEY].level);
	/* Nothing is merged from [security], not even the CRL... */
	EXPECT_EQ(NULL, p->effective.opt[OPT_CRL].value);
	EXPECT_EQ(NULL, p->effective.opt[OPT_TRUSTED_CA].value);
	/* ...and the ignored host-level CRL is pointed out. */
	EXPECT_TRUE(has_diag(&l, 5, "warning", "[port StatServer:secure] crl: set in [security] but not used here"));
	EXPECT_TRUE(has_diag(&l, 6, "warning", "[port StatServer:secure] trusted-ca: not set at the port level; only mutual TLS ports use it"));
	loaded_free(&l);
}

TEST(application_level_explicit_and_implied)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, HOST
			       "[application A]\ncertificate-source = application\n"
			       "certificate = /a.pem\ncertificate-key = /a.key\ntrusted-ca = /ca.pem\n"
			       "[application B]\ncertificate = /b.pem\ncertificate-key = /b.key\ntrusted-ca = /ca.pem\n"
			       "[application C]\ncertificate-source = host\n"
			       "[port A:p]\ntransport = tls=1\nlisten = 7001\nbackend = 127.0.0.1:1\n"
			       "[port B:p]\ntransport = tls=1\nlisten = 7002\nbackend = 127.0.0.1:1\n"
			       "[port C:p]\ntransport = tls=1\nlisten = 7003\nbackend = 127.0.0.1:1\n"
			       "[port D:p]\ntransport = tls=1\nlisten = 7004\nbackend = 127.0.0.1:1\n")) {
		TH_LOG("%s", l.diag);
	}
	ASSERT_EQ(4, l.cfg->n_ports);
	EXPECT_EQ(LEVEL_APPLICATION, l.cfg->ports[0].source);
	EXPECT_STREQ("/a.pem", l.cfg->ports[0].effective.opt[OPT_CERTIFICATE].value);
	EXPECT_EQ(LEVEL_APPLICATION, l.cfg->ports[1].source);
	EXPECT_STREQ("/b.key", l.cfg->ports[1].effective.opt[OPT_CERTIFICATE_KEY].value);
	EXPECT_EQ(LEVEL_HOST, l.cfg->ports[2].source);
	/* No [application D] section: the host level, implicitly. */
	EXPECT_EQ(LEVEL_HOST, l.cfg->ports[3].source);
	loaded_free(&l);
}

TEST(mutual_from_transport_or_level)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, HOST "tls-mutual = 1\n" PORT_HEAD));
	EXPECT_TRUE(l.cfg->ports[0].mutual);
	loaded_free(&l);
	ASSERT_EQ(0, load_text(&l, HOST
			       "[port StatServer:secure]\ntransport = tls=1;tls-mutual=1\nlisten = *:7001\n"
			       "backend = 127.0.0.1:7000\n"
			       "[connection Router->StatServer]\nserver = stat.example.com:7001\n"
			       "trusted-ca = /ca.pem\ncertificate = /c.pem\ncertificate-key = /c.key\n"
			       "[connection Router->Other]\nserver = other.example.com:7001\n"
			       "trusted-ca = /ca.pem\n"));
	EXPECT_TRUE(l.cfg->ports[0].mutual);
	EXPECT_TRUE(l.cfg->conns[0].mutual);
	EXPECT_FALSE(l.cfg->conns[1].mutual);
	EXPECT_EQ(LEVEL_CONNECTION, l.cfg->conns[0].source);
	loaded_free(&l);
}

TEST(target_name_check_with_host_name)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, "[connection Router->StatServer]\nserver = stat.example.com:7001\n"
			       "trusted-ca = /ca.pem\ntls-target-name-check = host\n"));
	EXPECT_TRUE(l.cfg->conns[0].target_name_check);
	EXPECT_STREQ("stat.example.com", l.cfg->conns[0].server_host);
	EXPECT_STREQ("7001", l.cfg->conns[0].server_port);
	EXPECT_STREQ("Router", l.cfg->conns[0].application);
	loaded_free(&l);
}

/* ---- --explain on the seeds' samples --------------------------------------- */

static char *explain(struct loaded *l, const char *only, int *rc)
{
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	*rc = policy_explain(l->cfg, only, out);
	fclose(out);
	return text;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return true;
	return false;
}

FIXTURE(sample) {
	struct loaded l;
	char *text;
	int rc;
};

FIXTURE_VARIANT(sample) {
	const char *file;
	const char *lines[8];	/* each must be a whole line of the output */
};

FIXTURE_SETUP(sample) {
	char path[sizeof(self->l.path)];
	FILE *diag = open_memstream(&self->l.diag, &self->l.diag_len);

	ASSERT_NE(NULL, diag);
	snprintf(path, sizeof(path), "examples/%s", variant->file);
	snprintf(self->l.path, sizeof(self->l.path), "%s", path);
	self->l.errors = config_load(path, &self->l.cfg, diag);
	fclose(diag);
	ASSERT_EQ(0, self->l.errors) {
		TH_LOG("%s", self->l.diag);
	}
	self->text = explain(&self->l, NULL, &self->rc);
}

FIXTURE_TEARDOWN(sample) {
	free(self->text);
	loaded_free(&self->l);
}

TEST_F(sample, explain_shows_source_level)
{
	EXPECT_EQ(0, self->rc);
	for (int i = 0; i < 8 && variant->lines[i]; i++) {
		EXPECT_TRUE(has_line(self->text, variant->lines[i])) {
			TH_LOG("missing line \"%s\" in:\n%s", variant->lines[i], self->text);
		}
	}
}

FIXTURE_VARIANT_ADD(sample, simple_tls_server) {
	.file = "simple-tls-server.conf",
	.lines = {
		"[port StatServer:secure] (examples/simple-tls-server.conf:15)",
		"  listen = *:7001",
		"  backend = 127.0.0.1:7000",
		"  mode: simple TLS (only the server presents a certificate)",
		"  settings from: host level ([security], certificate-source = host)",
		"  certificate = /etc/sec/certs/hostcert.pem (host level, examples/simple-tls-server.conf:9)",
		"  certificate-key = /etc/sec/certs/privkey.pem (host level, examples/simple-tls-server.conf:10)",
		"  crl = (not set)",
	},
};
FIXTURE_VARIANT_ADD(sample, simple_tls_client) {
	.file = "simple-tls-client.conf",
	.lines = {
		"[connection Router->StatServer] (examples/simple-tls-client.conf:12)",
		"  server = statserver.example.com:7001",
		"  mode: simple TLS (only the server presents a certificate)",
		"  settings from: host level ([security], certificate-source = host)",
		"  trusted-ca = /etc/sec/ca/certauth.pem (host level, examples/simple-tls-client.conf:6)",
		"  certificate = (not set)",
	},
};
FIXTURE_VARIANT_ADD(sample, mutual_tls_server) {
	.file = "mutual-tls-server.conf",
	.lines = {
		"  mode: mutual TLS (clients present a certificate)",
		"  settings from: host level ([security], certificate-source = host)",
		"  certificate = /etc/sec/certs/servhostcert.pem (host level, examples/mutual-tls-server.conf:6)",
		"  trusted-ca = /etc/sec/ca/certauth.pem (host level, examples/mutual-tls-server.conf:8)",
		"  tls-mutual = 1 (host level, examples/mutual-tls-server.conf:9)",
	},
};
FIXTURE_VARIANT_ADD(sample, mutual_tls_client) {
	.file = "mutual-tls-client.conf",
	.lines = {
		"  mode: mutual TLS (this client presents a certificate)",
		"  certificate = /etc/sec/certs/clthostcert.pem (host level, examples/mutual-tls-client.conf:6)",
		"  certificate-key = /etc/sec/certs/cltprivkey.pem (host level, examples/mutual-tls-client.conf:7)",
		"  tls-crl = /etc/sec/crl/crllist.pem (host level, examples/mutual-tls-client.conf:9)",
		"  server name check: no",
	},
};
FIXTURE_VARIANT_ADD(sample, demo_config_levels) {
	.file = "ktlsd.conf",
	.lines = {
		"  settings from: application level ([application MessageServer], certificate-source = application)",
		"  settings from: port level (its own section)",
		"  settings from: connection level (its own section)",
		"  protocol: TLS 1.3 only",
		"  server name check: host (the certificate must name the server host)",
	},
};

TEST(explain_only_one_and_unknown_name)
{
	struct loaded l;
	char *text;
	int rc;

	ASSERT_EQ(0, load_text(&l, HOST PORT_HEAD
			       "[connection Router->StatServer]\nserver = stat.example.com:7001\n"));
	text = explain(&l, "Router->StatServer", &rc);
	EXPECT_EQ(0, rc);
	EXPECT_TRUE(strstr(text, "[port StatServer:secure]") == NULL);
	EXPECT_TRUE(strstr(text, "[connection Router->StatServer]") != NULL);
	free(text);
	text = explain(&l, "nope", &rc);
	EXPECT_EQ(-1, rc);
	EXPECT_TRUE(strstr(text, "no port or connection named \"nope\"") != NULL);
	free(text);
	loaded_free(&l);
}

TEST_HARNESS_MAIN
