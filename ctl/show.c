// SPDX-License-Identifier: GPL-2.0
/*
 * The commands: each sends its request and prints the reply as text
 * (default) or JSON (--json). stats, which also speaks the Prometheus text
 * format, is in stats.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ktlsctl.h"

static void print_age(FILE *out, uint64_t secs)
{
	if (secs < 120)
		fprintf(out, "%llus", (unsigned long long)secs);
	else if (secs < 7200)
		fprintf(out, "%llum%02llus", (unsigned long long)secs / 60,
			(unsigned long long)secs % 60);
	else if (secs < 172800)
		fprintf(out, "%lluh%02llum", (unsigned long long)secs / 3600,
			(unsigned long long)secs % 3600 / 60);
	else
		fprintf(out, "%llud%02lluh", (unsigned long long)secs / 86400,
			(unsigned long long)secs % 86400 / 3600);
}

static uint64_t since(uint64_t then, uint64_t now)
{
	return now > then ? now - then : 0;
}

static void local_time(char *buf, size_t len, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !localtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(buf, len, "-");
}

/* ---- status ------------------------------------------------------------ */

static void on_status(struct nlattr **tb, void *arg)
{
	const struct ctl_opts *o = arg;
	uint64_t now = ctl_attr_u64(tb, CTL_A_NOW);
	uint64_t started = ctl_attr_u64(tb, CTL_A_STARTED);
	uint64_t loaded = ctl_attr_u64(tb, CTL_A_CONFIG_LOADED);
	bool ktls = ctl_attr_u64(tb, CTL_A_KTLS_AVAILABLE);
	char t1[64], t2[64];

	if (o->json) {
		printf("{\"version\":");
		json_string(stdout, ctl_attr_str(tb, CTL_A_DAEMON_VERSION));
		printf(",\"protocol\":%llu,\"started\":%llu,\"uptime_seconds\":%llu",
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_PROTO_VERSION),
		       (unsigned long long)started,
		       (unsigned long long)since(started, now));
		printf(",\"ktls_available\":%s,\"ktls_why\":", ktls ? "true" : "false");
		json_string(stdout, ctl_attr_str(tb, CTL_A_KTLS_WHY));
		printf(",\"config\":");
		json_string(stdout, ctl_attr_str(tb, CTL_A_CONFIG_PATH));
		printf(",\"config_loaded\":%llu,\"ports\":%llu,\"workers\":%llu"
		       ",\"sessions\":%llu,\"handshakes\":%llu}\n",
		       (unsigned long long)loaded,
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_N_PORTS),
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_WORKERS),
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_N_SESSIONS),
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_N_HANDSHAKES));
		return;
	}
	local_time(t1, sizeof(t1), started);
	local_time(t2, sizeof(t2), loaded);
	printf("ktlsd %s, control protocol %llu\n", ctl_attr_str(tb, CTL_A_DAEMON_VERSION),
	       (unsigned long long)ctl_attr_u64(tb, CTL_A_PROTO_VERSION));
	printf("  uptime:      ");
	print_age(stdout, since(started, now));
	printf(" (since %s)\n", t1);
	if (ktls)
		printf("  kernel TLS:  available\n");
	else
		printf("  kernel TLS:  not available: %s\n", ctl_attr_str(tb, CTL_A_KTLS_WHY));
	printf("  config:      %s (loaded %s)\n", ctl_attr_str(tb, CTL_A_CONFIG_PATH), t2);
	printf("  ports:       %llu\n", (unsigned long long)ctl_attr_u64(tb, CTL_A_N_PORTS));
	printf("  workers:     %llu\n", (unsigned long long)ctl_attr_u64(tb, CTL_A_WORKERS));
	printf("  sessions:    %llu\n", (unsigned long long)ctl_attr_u64(tb, CTL_A_N_SESSIONS));
	printf("  handshakes:  %llu\n", (unsigned long long)ctl_attr_u64(tb, CTL_A_N_HANDSHAKES));
}

int cmd_status(const struct ctl_opts *o)
{
	return ctl_call(o->socket, CTL_MSG_STATUS, NULL, o, on_status, (void *)o, NULL);
}

/* ---- sessions ---------------------------------------------------------- */

struct sessions_out {
	const struct ctl_opts *o;
	FILE *out;			/* the listing, printed once complete */
	unsigned int n;
	uint64_t now;
	struct kernel_ulp *ulp;		/* the kernel's kTLS sockets */
	size_t n_ulp;
};

static const char *mode_name(uint64_t mode)
{
	return mode == CTL_MODE_KTLS ? "ktls" : mode == CTL_MODE_USERSPACE ?
	       "userspace" : "handshake";
}

static void on_session(struct nlattr **tb, void *arg)
{
	struct sessions_out *so = arg;
	FILE *out = so->out;
	uint64_t age = since(ctl_attr_u64(tb, CTL_A_S_STARTED), so->now);
	uint64_t mode = ctl_attr_u64(tb, CTL_A_S_MODE);
	static const struct { int attr; const char *key; } strs[] = {
		{ CTL_A_S_PEER, "peer" }, { CTL_A_S_PORT, "port" },
		{ CTL_A_S_APPLICATION, "application" },
		{ CTL_A_S_TLS_VERSION, "tls_version" }, { CTL_A_S_CIPHER, "cipher" },
		{ CTL_A_S_MODE_WHY, "mode_why" },
		{ CTL_A_S_PEER_SUBJECT, "peer_subject" },
	};

	const char *kernel = kernel_ulp_find(so->ulp, so->n_ulp,
					     ctl_attr_str(tb, CTL_A_S_PEER));

	if (so->o->json) {
		fprintf(out, "%s\n  {", so->n ? "," : "");
		for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
			fprintf(out, "\"%s\":", strs[i].key);
			json_string(out, ctl_attr_str(tb, strs[i].attr));
			fprintf(out, ",");
		}
		fprintf(out, "\"kernel_ulp\":");
		if (kernel)
			json_string(out, kernel);
		else
			fprintf(out, "null");
		fprintf(out, ",\"mode\":\"%s\",\"bytes_in\":%llu,\"bytes_out\":%llu,"
		       "\"age_seconds\":%llu}", mode_name(mode),
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_S_BYTES_IN),
		       (unsigned long long)ctl_attr_u64(tb, CTL_A_S_BYTES_OUT),
		       (unsigned long long)age);
		so->n++;
		return;
	}
	if (!so->n)
		fprintf(out, "%-24s %-20s %-12s %-8s %-28s %-10s %12s %12s %8s\n", "Peer", "Port",
		       "Application", "Version", "Cipher", "Mode", "Bytes-in",
		       "Bytes-out", "Age");
	fprintf(out, "%-24s %-20s %-12s %-8s %-28s %-10s %12llu %12llu ",
	       ctl_attr_str(tb, CTL_A_S_PEER), ctl_attr_str(tb, CTL_A_S_PORT),
	       ctl_attr_str(tb, CTL_A_S_APPLICATION),
	       *ctl_attr_str(tb, CTL_A_S_TLS_VERSION) ? ctl_attr_str(tb, CTL_A_S_TLS_VERSION) : "-",
	       *ctl_attr_str(tb, CTL_A_S_CIPHER) ? ctl_attr_str(tb, CTL_A_S_CIPHER) : "-",
	       mode_name(mode),
	       (unsigned long long)ctl_attr_u64(tb, CTL_A_S_BYTES_IN),
	       (unsigned long long)ctl_attr_u64(tb, CTL_A_S_BYTES_OUT));
	print_age(out, age);
	fprintf(out, "\n");
	/* Details on an indented line, the way ss(8) shows socket internals. */
	if (mode == CTL_MODE_USERSPACE)
		fprintf(out, "\t userspace: %s\n", *ctl_attr_str(tb, CTL_A_S_MODE_WHY) ?
		       ctl_attr_str(tb, CTL_A_S_MODE_WHY) : "reason not recorded");
	else if (mode == CTL_MODE_KTLS)
		fprintf(out, "\t %s\n", kernel ? kernel : "ktls: record layer in the kernel");
	if (*ctl_attr_str(tb, CTL_A_S_PEER_SUBJECT))
		fprintf(out, "\t peer: %s\n", ctl_attr_str(tb, CTL_A_S_PEER_SUBJECT));
	so->n++;
}

static int sessions_filters(struct nl_msg *msg, const struct ctl_opts *o)
{
	if (o->port && nla_put_string(msg, CTL_A_FILTER_PORT, o->port) < 0)
		return -1;
	if (o->peer && nla_put_string(msg, CTL_A_FILTER_PEER, o->peer) < 0)
		return -1;
	return 0;
}

int cmd_sessions(const struct ctl_opts *o)
{
	struct sessions_out so = { .o = o, .now = (uint64_t)time(NULL) };
	bool truncated = false;
	char *text = NULL;
	size_t len = 0;
	int rc;

	/* Only a kernel with the tls module loaded can have kTLS sockets. */
	if (access("/proc/net/tls_stat", F_OK) == 0 &&
	    kernel_ulp_dump(&so.ulp, &so.n_ulp) < 0)
		fprintf(stderr, "ktlsctl: cannot read the kernel's socket table "
			"(NETLINK_SOCK_DIAG); showing the daemon's view only\n");
	/* Buffered: a daemon that cannot be reached, or fails half way, must
	 * not leave "[]" or half a table that reads as a (short) answer. */
	so.out = open_memstream(&text, &len);
	if (!so.out) {
		perror("ktlsctl");
		free(so.ulp);
		return EXIT_FAILED;
	}
	rc = ctl_call(o->socket, CTL_MSG_SESSIONS, sessions_filters, o, on_session,
		      &so, &truncated);
	fclose(so.out);
	if (rc == EXIT_OK && o->json)
		printf("[%s%s]\n", text, so.n ? "\n" : "");
	else if (rc == EXIT_OK)
		fputs(so.n ? text : "no sessions\n", stdout);
	if (truncated)
		fprintf(stderr, "ktlsctl: the list was cut at the daemon's reply limit; "
			"narrow it with --port or --peer\n");
	free(text);
	free(so.ulp);
	return rc;
}

/* ---- reload, explain: text replies ------------------------------------- */

struct text_out {
	char *text;
	size_t len;
	FILE *buf;
	bool have_result;
	uint64_t result;
};

static void on_text(struct nlattr **tb, void *arg)
{
	struct text_out *t = arg;

	if (tb[CTL_A_TEXT])
		fputs(nla_get_string(tb[CTL_A_TEXT]), t->buf);
	if (tb[CTL_A_RESULT]) {
		t->have_result = true;
		t->result = ctl_attr_u64(tb, CTL_A_RESULT);
	}
}

static int name_attr(struct nl_msg *msg, const struct ctl_opts *o)
{
	return o->name ? nla_put_string(msg, CTL_A_NAME, o->name) : 0;
}

static int text_command(const struct ctl_opts *o, int type, const char *what)
{
	struct text_out t = { 0 };
	int rc;

	t.buf = open_memstream(&t.text, &t.len);
	if (!t.buf) {
		perror("ktlsctl");
		return EXIT_FAILED;
	}
	rc = ctl_call(o->socket, type, type == CTL_MSG_EXPLAIN ? name_attr : NULL, o,
		      on_text, &t, NULL);
	fclose(t.buf);
	if (rc == EXIT_OK && !t.have_result) {
		fprintf(stderr, "ktlsctl: incomplete reply from ktlsd\n");
		rc = EXIT_FAILED;
	} else if (rc == EXIT_OK && t.result) {
		rc = EXIT_FAILED;
	}
	if (o->json) {
		printf("{\"ok\":%s,\"output\":", rc == EXIT_OK ? "true" : "false");
		json_string(stdout, t.text ? t.text : "");
		printf("}\n");
	} else {
		fputs(t.text ? t.text : "", rc == EXIT_OK ? stdout : stderr);
		if (rc == EXIT_OK && what)
			printf("%s\n", what);
	}
	free(t.text);
	return rc;
}

int cmd_reload(const struct ctl_opts *o)
{
	return text_command(o, CTL_MSG_RELOAD, "configuration reloaded");
}

int cmd_explain(const struct ctl_opts *o)
{
	return text_command(o, CTL_MSG_EXPLAIN, NULL);
}
