// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration syntax and per-option checks: each rule has one variant
 * with a file that breaks it, the error count and the exact diagnostic
 * (file:line, section, option, message). Plus the parsed values of good
 * files, and every file in examples/ loading cleanly.
 */
#include <glob.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "kselftest_harness.h"
#include "config_test.h"

/* A host level that satisfies every port, then a valid port. */
#define HOST "[security]\n"				/* 1 */ \
	"certificate = /etc/sec/certs/hostcert.pem\n"	/* 2 */ \
	"certificate-key = /etc/sec/certs/privkey.pem\n" /* 3 */ \
	"trusted-ca = /etc/sec/ca/certauth.pem\n"	/* 4 */
#define PORT "[port StatServer:secure]\n"		/* 5 */ \
	"transport = tls=1\n"				/* 6 */ \
	"listen = *:7001\n"				/* 7 */ \
	"backend = 127.0.0.1:7000\n"			/* 8 */

FIXTURE(bad) {
	struct loaded l;
};

FIXTURE_VARIANT(bad) {
	const char *conf;
	int errors;
	unsigned int line;
	const char *expect;	/* after "FILE:LINE: error: " */
};

FIXTURE_SETUP(bad) {
	ASSERT_NE(-1000, load_text(&self->l, variant->conf));
}

FIXTURE_TEARDOWN(bad) {
	loaded_free(&self->l);
}

TEST_F(bad, reported_with_file_line_section_option)
{
	EXPECT_EQ(variant->errors, self->l.errors);
	EXPECT_EQ(NULL, self->l.cfg);
	EXPECT_TRUE(has_diag(&self->l, variant->line, "error", variant->expect)) {
		TH_LOG("want line %u: %s\ngot:\n%s", variant->line, variant->expect,
		       self->l.diag);
	}
}

FIXTURE_VARIANT_ADD(bad, unknown_option_did_you_mean) {
	.conf = HOST "Certificate = /x\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] Certificate: unknown option; did you mean certificate?",
};
FIXTURE_VARIANT_ADD(bad, unknown_section_did_you_mean) {
	.conf = HOST PORT "[conection Router->StatServer]\nserver = a.example:1\n",
	.errors = 1, .line = 9,
	.expect = "unknown section [conection Router->StatServer]; did you mean [connection Router->StatServer]?",
};
FIXTURE_VARIANT_ADD(bad, option_in_wrong_section) {
	.conf = HOST "listen = *:7001\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] listen: not valid in this section; it belongs in [port APP:NAME]",
};
FIXTURE_VARIANT_ADD(bad, duplicate_option) {
	.conf = HOST "trusted-ca = /etc/other.pem\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] trusted-ca: already set at line 4",
};
FIXTURE_VARIANT_ADD(bad, duplicate_section) {
	.conf = HOST PORT "[port StatServer:secure]\nlisten = *:7002\n", .errors = 1,
	.line = 9, .expect = "[port StatServer:secure] section already defined at line 5",
};
FIXTURE_VARIANT_ADD(bad, duplicate_host_section) {
	.conf = HOST PORT "[security]\ncrl = /etc/crl.pem\n", .errors = 1, .line = 9,
	.expect = "[security] section already defined at line 1",
};
FIXTURE_VARIANT_ADD(bad, empty_value) {
	.conf = HOST "crl =\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] crl: empty value",
};
FIXTURE_VARIANT_ADD(bad, option_outside_section) {
	.conf = "workers = 2\n" HOST PORT, .errors = 1, .line = 1,
	.expect = "workers: option outside any section",
};
FIXTURE_VARIANT_ADD(bad, syntax_error) {
	.conf = HOST "just words\n" PORT, .errors = 1, .line = 5,
	.expect = "expected NAME = VALUE, [section] or a comment",
};
FIXTURE_VARIANT_ADD(bad, relative_path) {
	.conf = HOST "crl = crl.pem\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] crl: \"crl.pem\": file names must be absolute paths",
};
FIXTURE_VARIANT_ADD(bad, refused_old_protocol) {
	.conf = HOST "sec-protocol = TLSv11\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] sec-protocol: \"TLSv11\": unsupported protocol version; accepted values are default",
};
FIXTURE_VARIANT_ADD(bad, refused_sslv3) {
	.conf = HOST "sec-protocol = SSLv3\n" PORT, .errors = 1, .line = 5,
	.expect = "TLSv12 (or TLSv1.2) and TLSv13 (or TLSv1.3)",
};
FIXTURE_VARIANT_ADD(bad, cipher_typo) {
	.conf = HOST "cipher-list = ECDHE+AESGCM:ECDHE-RSA-AES128-GCM-SHA257\n" PORT,
	.errors = 1, .line = 5,
	.expect = "[security] cipher-list: \"ECDHE+AESGCM:ECDHE-RSA-AES128-GCM-SHA257\": \"ECDHE-RSA-AES128-GCM-SHA257\" is not a known cipher",
};
FIXTURE_VARIANT_ADD(bad, tls13_suite_typo) {
	.conf = HOST "cipher-list = TLS_AES_256_GCM_SHA385\n" PORT, .errors = 1, .line = 5,
	.expect = "is not a known TLS 1.3 cipher suite",
};
FIXTURE_VARIANT_ADD(bad, anonymous_cipher) {
	.conf = HOST "cipher-list = ADH-AES256-GCM-SHA384\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] cipher-list: \"ADH-AES256-GCM-SHA384\": selects the anonymous cipher ADH-AES256-GCM-SHA384",
};
FIXTURE_VARIANT_ADD(bad, cipher_all_includes_anonymous) {
	.conf = HOST "cipher-list = ALL\n" PORT, .errors = 1, .line = 5,
	.expect = "add :!aNULL, or set allow-anonymous = yes in [ktlsd]",
};
FIXTURE_VARIANT_ADD(bad, null_cipher) {
	.conf = "[ktlsd]\nallow-anonymous = yes\n" HOST "cipher-list = NULL-SHA256\n" PORT,
	.errors = 1, .line = 7, .expect = "which does not encrypt",
};
FIXTURE_VARIANT_ADD(bad, tls_outside_transport) {
	.conf = HOST "tls = 1\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] tls: tls=1 is set only at the port level, in its transport",
};
FIXTURE_VARIANT_ADD(bad, duplicate_transport) {
	.conf = HOST PORT "transport = tls=1;tls-mutual=1\n", .errors = 1, .line = 9,
	.expect = "[port StatServer:secure] transport: already set at line 6",
};
FIXTURE_VARIANT_ADD(bad, transport_tls_zero_is_not_secure) {
	.conf = HOST "[port A:p]\ntransport = tls-mutual=1;tls=1;tls=0\nlisten = 7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 6, .expect = "tls=0: ktlsd only serves secure ports",
};
FIXTURE_VARIANT_ADD(bad, transport_without_tls) {
	.conf = HOST "[port A:p]\ntransport = tls-mutual=1\nlisten = 7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 6, .expect = "[port A:p] transport: tls=1 is missing",
};
FIXTURE_VARIANT_ADD(bad, transport_tls_zero) {
	.conf = HOST "[port A:p]\ntransport = tls=0\nlisten = 7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 6, .expect = "[port A:p] transport: tls=0: ktlsd only serves secure ports",
};
FIXTURE_VARIANT_ADD(bad, transport_unknown_parameter) {
	.conf = HOST "[port A:p]\ntransport = tls=1;tls-mutal=1\nlisten = 7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 6, .expect = "unknown parameter \"tls-mutal\"; did you mean tls-mutual?",
};
FIXTURE_VARIANT_ADD(bad, missing_transport) {
	.conf = HOST "[port A:p]\nlisten = 7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 5, .expect = "[port A:p] transport: not set",
};
FIXTURE_VARIANT_ADD(bad, missing_listen) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 5, .expect = "[port A:p] listen: not set",
};
FIXTURE_VARIANT_ADD(bad, missing_backend) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nlisten = 7001\n",
	.errors = 1, .line = 5, .expect = "[port A:p] backend: not set",
};
FIXTURE_VARIANT_ADD(bad, listen_host_name) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nlisten = example.com:7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 7, .expect = "[port A:p] listen: \"example.com:7001\": not an IP address",
};
FIXTURE_VARIANT_ADD(bad, listen_bad_port) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nlisten = 0.0.0.0:70000\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 7, .expect = "the port must be a number from 1 to 65535",
};
FIXTURE_VARIANT_ADD(bad, listen_v6_without_brackets) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nlisten = ::1:7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 7, .expect = "an IPv6 address must be written in brackets",
};
FIXTURE_VARIANT_ADD(bad, steered_backend_wildcard) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nlisten = 7001\nsteer = yes\nbackend = 0.0.0.0:7001\n",
	.errors = 1, .line = 9, .expect = "[port A:p] backend: 0.0.0.0:7001 is a wildcard address; a steered port needs the service's own address",
};
FIXTURE_VARIANT_ADD(bad, backend_relative_unix) {
	.conf = HOST "[port A:p]\ntransport = tls=1\nlisten = 7001\nbackend = unix:app.sock\n",
	.errors = 1, .line = 8, .expect = "[port A:p] backend: \"unix:app.sock\": a UNIX socket path must be absolute",
};
FIXTURE_VARIANT_ADD(bad, same_listen_twice) {
	.conf = HOST PORT "[port Other:p]\ntransport = tls=1\nlisten = 0.0.0.0:7001\nbackend = 127.0.0.1:1\n",
	.errors = 1, .line = 11,
	.expect = "[port Other:p] listen: 0.0.0.0:7001 overlaps listen = *:7001 of [port StatServer:secure] (line 7)",
};
FIXTURE_VARIANT_ADD(bad, port_name_without_application) {
	.conf = HOST "[port secure]\ntransport = tls=1\n", .errors = 1, .line = 5,
	.expect = "[port secure] a port section is named APPLICATION:PORT-NAME",
};
FIXTURE_VARIANT_ADD(bad, connection_name_without_arrow) {
	.conf = HOST "[connection Router]\nserver = a.example:1\n", .errors = 1, .line = 5,
	.expect = "a connection section is named CLIENT-APPLICATION->SERVER",
};
FIXTURE_VARIANT_ADD(bad, connection_without_server) {
	.conf = HOST "[connection Router->StatServer]\ntrusted-ca = /ca.pem\n", .errors = 1,
	.line = 5, .expect = "[connection Router->StatServer] server: not set",
};
FIXTURE_VARIANT_ADD(bad, connection_bad_server) {
	.conf = HOST "[connection Router->StatServer]\nserver = stat server:7001\n", .errors = 1,
	.line = 6, .expect = "server: \"stat server:7001\": not a host name or IP address",
};
FIXTURE_VARIANT_ADD(bad, workers_not_a_number) {
	.conf = "[ktlsd]\nworkers = many\n" HOST PORT, .errors = 1, .line = 2,
	.expect = "[ktlsd] workers: \"many\": expected a whole number from 0 to 1024",
};
FIXTURE_VARIANT_ADD(bad, hello_timeout_zero) {
	.conf = "[ktlsd]\nhello-timeout = 0\n" HOST PORT, .errors = 1, .line = 2,
	.expect = "[ktlsd] hello-timeout: \"0\": expected a whole number from 1 to 3600 (seconds)",
};
FIXTURE_VARIANT_ADD(bad, per_source_negative) {
	.conf = "[ktlsd]\nmax-handshakes-per-source = -1\n" HOST PORT, .errors = 1, .line = 2,
	.expect = "[ktlsd] max-handshakes-per-source: \"-1\": expected a whole number from 0",
};
FIXTURE_VARIANT_ADD(bad, offload_value) {
	.conf = "[ktlsd]\noffload = on\n" HOST PORT, .errors = 1, .line = 2,
	.expect = "[ktlsd] offload: \"on\": must be auto",
};
FIXTURE_VARIANT_ADD(bad, tls_mutual_value) {
	.conf = HOST "tls-mutual = yes\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] tls-mutual: \"yes\": must be 1",
};
FIXTURE_VARIANT_ADD(bad, target_name_check_value) {
	.conf = HOST "tls-target-name-check = Host\n" PORT, .errors = 1, .line = 5,
	.expect = "[security] tls-target-name-check: \"Host\": must be host",
};
FIXTURE_VARIANT_ADD(bad, certificate_source_value) {
	.conf = HOST "[application StatServer]\ncertificate-source = Host\n" PORT, .errors = 1,
	.line = 6, .expect = "[application StatServer] certificate-source: \"Host\": must be host",
};
FIXTURE_VARIANT_ADD(bad, section_without_bracket) {
	.conf = HOST PORT "[port A:b\nlisten = 1\n", .errors = 1, .line = 9,
	.expect = "section header without ']'",
};

/* All problems of one file are reported, in file order. */
TEST(every_error_reported_in_line_order)
{
	struct loaded l;
	const char *first, *second, *third;

	ASSERT_NE(-1000, load_text(&l, HOST PORT "crl = rel.pem\n[ktlsd]\nworkers = x\n"
				   "[security]\nsec-protocol = TLSv1\n"));
	EXPECT_EQ(3, l.errors);
	first = strstr(l.diag, ":9: error:");
	second = strstr(l.diag, ":11: error:");
	third = strstr(l.diag, ":12: error:");
	ASSERT_NE(NULL, first);
	ASSERT_NE(NULL, second);
	ASSERT_NE(NULL, third);
	EXPECT_TRUE(first < second && second < third);
	loaded_free(&l);
}

TEST(missing_file)
{
	struct ktlsd_config *cfg = (void *)1;
	char *text = NULL;
	size_t len;
	FILE *diag = open_memstream(&text, &len);

	ASSERT_NE(NULL, diag);
	EXPECT_EQ(1, config_load("/nonexistent/ktlsd.conf", &cfg, diag));
	fclose(diag);
	EXPECT_EQ(NULL, cfg);
	EXPECT_TRUE(strstr(text, "/nonexistent/ktlsd.conf: error: cannot open") != NULL);
	free(text);
}

TEST(daemon_defaults)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, HOST PORT));
	EXPECT_EQ(0, l.cfg->daemon.workers);
	EXPECT_EQ(10000, l.cfg->daemon.handshake_timeout_ms);
	EXPECT_EQ(1024, l.cfg->daemon.max_handshakes);
	EXPECT_EQ(5000, l.cfg->daemon.hello_timeout_ms);
	EXPECT_EQ(256, l.cfg->daemon.max_handshakes_per_source);
	EXPECT_EQ(65536, l.cfg->daemon.max_sessions);
	EXPECT_EQ(0, l.cfg->daemon.idle_timeout_ms);
	EXPECT_EQ(OFFLOAD_AUTO, l.cfg->daemon.offload);
	EXPECT_STREQ("/run/ktlsd/control", l.cfg->daemon.control_socket);
	EXPECT_EQ(NULL, l.cfg->daemon.control_group);
	EXPECT_FALSE(l.cfg->daemon.allow_anonymous);
	loaded_free(&l);
}

TEST(daemon_values_and_comments)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, "# comment\n; another\n[ktlsd]\n"
			       "workers = 4   # inline comment\n"
			       "handshake-timeout = 5\nmax-handshakes = 10\nmax-sessions = 20\n"
			       "idle-timeout = 300\noffload = off\ncontrol-socket = /run/k.sock\n"
			       "control-group = ktlsd\n  allow-anonymous = yes\n"
			       "hello-timeout = 2\nmax-handshakes-per-source = 0\n" HOST PORT));
	EXPECT_EQ(4, l.cfg->daemon.workers);
	EXPECT_EQ(2000, l.cfg->daemon.hello_timeout_ms);
	EXPECT_EQ(0, l.cfg->daemon.max_handshakes_per_source);
	EXPECT_EQ(5000, l.cfg->daemon.handshake_timeout_ms);
	EXPECT_EQ(10, l.cfg->daemon.max_handshakes);
	EXPECT_EQ(20, l.cfg->daemon.max_sessions);
	EXPECT_EQ(300000, l.cfg->daemon.idle_timeout_ms);
	EXPECT_EQ(OFFLOAD_OFF, l.cfg->daemon.offload);
	EXPECT_STREQ("/run/k.sock", l.cfg->daemon.control_socket);
	EXPECT_STREQ("ktlsd", l.cfg->daemon.control_group);
	EXPECT_TRUE(l.cfg->daemon.allow_anonymous);
	loaded_free(&l);
}

TEST(anonymous_allowed_in_debug_mode)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, "[ktlsd]\nallow-anonymous = yes\n" HOST
			       "cipher-list = ADH-AES256-GCM-SHA384\n" PORT));
	loaded_free(&l);
}

TEST(listen_and_backend_forms)
{
	struct loaded l;
	const struct cfg_port *p;
	const struct sockaddr_un *un;

	ASSERT_EQ(0, load_text(&l, HOST
			       "[port A:a]\ntransport = tls=1\nlisten = 7001\nbackend = unix:/run/a.sock\n"
			       "[port A:b]\ntransport = tls=1\nlisten = [::1]:7002\nbackend = [::1]:8002\n"
			       "[port A:c]\ntransport=tls=1 ; tls-mutual=1\nlisten = 127.0.0.1:7003\nbackend = 127.0.0.1:8003\n")) {
		TH_LOG("%s", l.diag);
	}
	ASSERT_EQ(3, l.cfg->n_ports);
	p = &l.cfg->ports[0];
	EXPECT_STREQ("A", p->application);
	EXPECT_EQ(2, p->n_listen);
	EXPECT_EQ(AF_INET, p->listen[0].ss.ss_family);
	EXPECT_EQ(AF_INET6, p->listen[1].ss.ss_family);
	EXPECT_EQ(7001, ntohs(((struct sockaddr_in6 *)&p->listen[1].ss)->sin6_port));
	un = (const struct sockaddr_un *)&p->backend.ss;
	EXPECT_EQ(AF_UNIX, un->sun_family);
	EXPECT_STREQ("/run/a.sock", un->sun_path);
	EXPECT_FALSE(p->mutual);
	p = &l.cfg->ports[1];
	EXPECT_EQ(1, p->n_listen);
	EXPECT_EQ(AF_INET6, p->listen[0].ss.ss_family);
	EXPECT_EQ(8002, ntohs(((struct sockaddr_in6 *)&p->backend.ss)->sin6_port));
	p = &l.cfg->ports[2];
	EXPECT_EQ(AF_INET, p->listen[0].ss.ss_family);
	EXPECT_EQ(sizeof(struct sockaddr_in), p->listen[0].len);
	EXPECT_TRUE(p->mutual);
	loaded_free(&l);
}

TEST(sec_protocol_spellings)
{
	static const struct { const char *text; int min, max; } cases[] = {
		{ "TLSv12", TLS1_2_VERSION, TLS1_2_VERSION },
		{ "TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION },
		{ "TLSv13", TLS1_3_VERSION, TLS1_3_VERSION },
		{ "TLSv1.3", TLS1_3_VERSION, TLS1_3_VERSION },
		{ "default", 0, 0 },
	};
	char conf[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loaded l;

		snprintf(conf, sizeof(conf), HOST "sec-protocol = %s\n" PORT, cases[i].text);
		ASSERT_EQ(0, load_text(&l, conf));
		EXPECT_EQ(cases[i].min, l.cfg->ports[0].versions.min_version);
		EXPECT_EQ(cases[i].max, l.cfg->ports[0].versions.max_version);
		loaded_free(&l);
	}
}

TEST(cipher_list_mixing_tls12_and_tls13)
{
	struct loaded l;

	ASSERT_EQ(0, load_text(&l, HOST "cipher-list = ECDHE+AESGCM:!aNULL:@STRENGTH:TLS_AES_128_GCM_SHA256\n" PORT)) {
		TH_LOG("%s", l.diag);
	}
	loaded_free(&l);
}

TEST(long_line_is_an_error_not_a_crash)
{
	size_t n = 6000;
	char *conf = malloc(n + 1024);
	struct loaded l;

	ASSERT_NE(NULL, conf);
	strcpy(conf, HOST "crl = /");
	memset(conf + strlen(conf), 'a', n);
	strcpy(conf + strlen(HOST "crl = /") + n, "\n" PORT);
	EXPECT_EQ(1, load_text(&l, conf));
	EXPECT_TRUE(has_diag(&l, 5, "error", "line longer than"));
	free(conf);
	loaded_free(&l);
}

TEST(every_example_loads_without_errors)
{
	glob_t g;

	ASSERT_EQ(0, glob("examples/*.conf", 0, NULL, &g)) {
		TH_LOG("run from the source tree (examples/ not found)");
	}
	EXPECT_LE(5, (int)g.gl_pathc);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct ktlsd_config *cfg = NULL;
		char *text = NULL;
		size_t len;
		FILE *diag = open_memstream(&text, &len);

		ASSERT_NE(NULL, diag);
		EXPECT_EQ(0, config_load(g.gl_pathv[i], &cfg, diag));
		fclose(diag);
		EXPECT_NE(NULL, cfg);
		/* Examples are what people copy: no warnings either. */
		EXPECT_EQ(0, count_lines(text, ": warning: ")) {
			TH_LOG("%s:\n%s", g.gl_pathv[i], text);
		}
		config_free(cfg);
		free(text);
	}
	globfree(&g);
}

TEST_HARNESS_MAIN
