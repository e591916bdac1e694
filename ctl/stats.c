// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsctl stats: the daemon's counters, the kernel's kTLS statistics as
 * the daemon reads them (/proc/net/tls_stat of its network namespace) and
 * the eBPF port takeover's per-port counters, as text, JSON or the
 * Prometheus text format. The reply may span several messages (the
 * per-port counters follow the first), so it is gathered, then printed.
 */
#include <stdlib.h>
#include <string.h>

#include "ktlsctl.h"

/* Prometheus families: one # HELP/# TYPE each, one sample per counter. */
static const struct {
	int counter;
	const char *key;		/* text and JSON name */
	const char *family;
	const char *labels;		/* "" or `key="value"` */
	const char *type;
	const char *help;
} metrics[] = {
	{ CTL_C_ACCEPTED, "accepted", "ktlsd_connections_accepted_total", "", "counter",
	  "TCP connections accepted on secure ports." },
	{ CTL_C_HANDSHAKES_OK, "handshakes_ok", "ktlsd_handshakes_total", "result=\"ok\"",
	  "counter", "TLS handshakes by result." },
	{ CTL_C_HANDSHAKES_FAILED, "handshakes_failed", "ktlsd_handshakes_total",
	  "result=\"failed\"", "counter", NULL },
	{ CTL_C_HANDSHAKE_TIMEOUTS, "handshake_timeouts", "ktlsd_handshakes_total",
	  "result=\"timeout\"", "counter", NULL },
	{ CTL_C_HELLO_TIMEOUTS, "hello_timeouts", "ktlsd_handshakes_total",
	  "result=\"hello_timeout\"", "counter", NULL },
	{ CTL_C_REFUSED_HANDSHAKE_CAP, "refused_handshake_cap",
	  "ktlsd_connections_refused_total", "reason=\"max_handshakes\"", "counter",
	  "Connections refused because a limit was reached." },
	{ CTL_C_REFUSED_SESSION_CAP, "refused_session_cap",
	  "ktlsd_connections_refused_total", "reason=\"max_sessions\"", "counter", NULL },
	{ CTL_C_REFUSED_PER_SOURCE, "refused_per_source",
	  "ktlsd_connections_refused_total", "reason=\"max_handshakes_per_source\"",
	  "counter", NULL },
	{ CTL_C_EVICTED_NO_HELLO, "evicted_no_hello", "ktlsd_connections_evicted_total", "",
	  "counter", "Connections closed before completing a ClientHello to make room "
	  "for a new one (handshake or session slots full)." },
	{ CTL_C_BACKEND_FAILED, "backend_failed", "ktlsd_backend_failures_total", "",
	  "counter", "Sessions closed because the backend could not be reached." },
	{ CTL_C_SESSIONS_KTLS, "sessions_ktls", "ktlsd_sessions", "mode=\"ktls\"", "gauge",
	  "Established sessions by record layer." },
	{ CTL_C_SESSIONS_USERSPACE, "sessions_userspace", "ktlsd_sessions",
	  "mode=\"userspace\"", "gauge", NULL },
	{ CTL_C_BYTES_TO_BACKEND, "bytes_to_backend", "ktlsd_plaintext_bytes_total",
	  "direction=\"to_backend\"", "counter", "Plaintext bytes forwarded." },
	{ CTL_C_BYTES_TO_CLIENT, "bytes_to_client", "ktlsd_plaintext_bytes_total",
	  "direction=\"to_client\"", "counter", NULL },
	{ CTL_C_KEYUPDATE_CLOSED, "keyupdate_closed", "ktlsd_keyupdate_closed_total", "",
	  "counter", "kTLS sessions closed on a TLS 1.3 KeyUpdate the kernel cannot follow." },
	{ CTL_C_RESET_BEFORE_BACKEND, "reset_before_backend", "ktlsd_reset_before_backend_total",
	  "", "counter", "Clients that reset the connection as their handshake completed: "
	  "no backend connection was made for them." },
};
#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

/* As many kernel counters as the daemon sends (it caps them). */
#define MAX_KSTATS 64

struct kstat {
	char name[64];
	uint64_t value;
};

/* A steered port, or (redirect) a secure server connects are sent to
 * ktlsd for: then steered counts redirected connects, dropped refused ones. */
struct steer_port {
	bool redirect;
	char addr[64];			/* "127.0.0.1:7001" ("" from older daemons) */
	uint16_t port;
	uint64_t steered, dropped;
};

struct stats {
	uint64_t counter[CTL_C__COUNT];
	uint64_t started, now;
	bool ktls;
	/* The kernel's kTLS statistics: known once the daemon said either
	 * what they are or why there are none (an older daemon says neither). */
	bool kstats_known, kstats_present;
	char kstats_why[128];
	struct kstat kstat[MAX_KSTATS];
	size_t n_kstat;
	/* Port takeover: known when the daemon says whether it is active. */
	bool steer_known, steer_active;
	struct steer_port *ports;
	size_t n_ports, cap_ports;
	bool out_of_memory;
};

static void gather_kstats(struct stats *st, struct nlattr *list)
{
	struct nlattr *a;
	int rem;

	st->kstats_known = st->kstats_present = true;
	nla_for_each_nested(a, list, rem) {
		struct nlattr *tb[CTL_A_MAX + 1];
		struct kstat *k;

		if (st->n_kstat == MAX_KSTATS)
			break;
		if (nla_type(a) != CTL_A_KSTAT || ctl_parse_nested(tb, a) < 0 ||
		    !tb[CTL_A_KSTAT_NAME] || !tb[CTL_A_KSTAT_VALUE])
			continue;
		k = &st->kstat[st->n_kstat++];
		snprintf(k->name, sizeof(k->name), "%s", ctl_attr_str(tb, CTL_A_KSTAT_NAME));
		k->value = ctl_attr_u64(tb, CTL_A_KSTAT_VALUE);
	}
}

static void gather_ports(struct stats *st, struct nlattr *list)
{
	struct nlattr *a;
	int rem;

	nla_for_each_nested(a, list, rem) {
		struct nlattr *tb[CTL_A_MAX + 1];

		bool redirect = nla_type(a) == CTL_A_REDIRECT_DST;

		if ((nla_type(a) != CTL_A_STEER_PORT && !redirect) ||
		    ctl_parse_nested(tb, a) < 0 ||
		    (!redirect && !tb[CTL_A_SP_PORT]) || (redirect && !tb[CTL_A_SP_ADDR]))
			continue;
		if (st->n_ports == st->cap_ports) {
			size_t cap = st->cap_ports ? 2 * st->cap_ports : 16;
			struct steer_port *p = realloc(st->ports, cap * sizeof(*p));

			if (!p) {
				st->out_of_memory = true;
				return;
			}
			st->ports = p;
			st->cap_ports = cap;
		}
		st->ports[st->n_ports] = (struct steer_port) {
			.redirect = redirect,
			.port = (uint16_t)ctl_attr_u64(tb, CTL_A_SP_PORT),
			.steered = ctl_attr_u64(tb, CTL_A_SP_STEERED),
			.dropped = ctl_attr_u64(tb, CTL_A_SP_DROPPED),
		};
		if (tb[CTL_A_SP_ADDR])
			snprintf(st->ports[st->n_ports].addr, sizeof(st->ports[0].addr),
				 "%s", ctl_attr_str(tb, CTL_A_SP_ADDR));
		st->n_ports++;
	}
}

static void on_stats(struct nlattr **tb, void *arg)
{
	struct stats *st = arg;

	if (tb[CTL_A_NOW]) {		/* the first message */
		for (int i = 0; i < CTL_C__COUNT; i++)
			st->counter[i] = ctl_attr_u64(tb, CTL_A_C_FIRST + i);
		st->started = ctl_attr_u64(tb, CTL_A_STARTED);
		st->now = ctl_attr_u64(tb, CTL_A_NOW);
		st->ktls = ctl_attr_u64(tb, CTL_A_KTLS_AVAILABLE);
	}
	if (tb[CTL_A_KSTATS])
		gather_kstats(st, tb[CTL_A_KSTATS]);
	if (tb[CTL_A_KSTATS_WHY]) {
		st->kstats_known = true;
		snprintf(st->kstats_why, sizeof(st->kstats_why), "%s",
			 ctl_attr_str(tb, CTL_A_KSTATS_WHY));
	}
	if (tb[CTL_A_STEER_ACTIVE]) {
		st->steer_known = true;
		st->steer_active = ctl_attr_u64(tb, CTL_A_STEER_ACTIVE);
	}
	if (tb[CTL_A_STEER_PORTS])
		gather_ports(st, tb[CTL_A_STEER_PORTS]);
}

static int by_port(const void *a, const void *b)
{
	const struct steer_port *x = a, *y = b;

	if (x->redirect != y->redirect)
		return x->redirect - y->redirect;
	if (x->port != y->port)
		return (int)x->port - (int)y->port;
	return strcmp(x->addr, y->addr);
}

/* TlsCurr* count sockets open now; every other line only grows. */
static bool kstat_is_gauge(const char *name)
{
	return !strncmp(name, "TlsCurr", 7);
}

static uint64_t uptime_of(const struct stats *st)
{
	return st->now > st->started ? st->now - st->started : 0;
}

/* Steered ports, or (REDIRECT) the servers of redirected connects. */
static void print_prometheus_steering(const struct stats *st, bool redirect)
{
	const char *family = redirect ? "ktlsd_redirect_connects_total" :
					 "ktlsd_steer_connections_total";
	bool typed = false;

	for (size_t i = 0; i < st->n_ports; i++) {
		const struct steer_port *p = &st->ports[i];

		if (p->redirect != redirect)
			continue;
		if (!typed)
			printf("# HELP %s %s\n# TYPE %s counter\n", family, redirect ?
			       "Connects from applications' cgroups to secure servers: sent "
			       "through ktlsd, or refused while its listener was absent." :
			       "Connections to steered ports: handed to ktlsd, or dropped "
			       "while its listener was absent.", family);
		typed = true;
		if (redirect)
			printf("%s{server=\"%s\",result=\"redirected\"} %llu\n"
			       "%s{server=\"%s\",result=\"refused\"} %llu\n",
			       family, p->addr, (unsigned long long)p->steered,
			       family, p->addr, (unsigned long long)p->dropped);
		else
			printf("%s{port=\"%u\",address=\"%s\",result=\"steered\"} %llu\n"
			       "%s{port=\"%u\",address=\"%s\",result=\"dropped\"} %llu\n",
			       family, p->port, p->addr, (unsigned long long)p->steered,
			       family, p->port, p->addr, (unsigned long long)p->dropped);
	}
}

static void print_prometheus(const struct stats *st)
{
	for (size_t i = 0; i < N_METRICS; i++) {
		if (metrics[i].help)
			printf("# HELP %s %s\n# TYPE %s %s\n", metrics[i].family,
			       metrics[i].help, metrics[i].family, metrics[i].type);
		printf("%s%s%s%s %llu\n", metrics[i].family,
		       *metrics[i].labels ? "{" : "", metrics[i].labels,
		       *metrics[i].labels ? "}" : "",
		       (unsigned long long)st->counter[metrics[i].counter]);
	}
	printf("# HELP ktlsd_ktls_available Whether the kernel offers kTLS (1) or not (0).\n"
	       "# TYPE ktlsd_ktls_available gauge\nktlsd_ktls_available %d\n", st->ktls);
	printf("# HELP ktlsd_uptime_seconds Seconds since the daemon started.\n"
	       "# TYPE ktlsd_uptime_seconds gauge\nktlsd_uptime_seconds %llu\n",
	       (unsigned long long)uptime_of(st));
	if (st->kstats_known) {
		printf("# HELP ktlsd_kernel_tls_stat_available Whether the kernel's kTLS "
		       "statistics (/proc/net/tls_stat) are readable (1) or not (0).\n"
		       "# TYPE ktlsd_kernel_tls_stat_available gauge\n"
		       "ktlsd_kernel_tls_stat_available %d\n", st->kstats_present);
		/* One family has one type: the cumulative lines are counters,
		 * the TlsCurr* lines (sockets open now) a gauge family. */
		for (int gauge = 0; gauge <= 1; gauge++) {
			const char *family = gauge ? "ktlsd_kernel_tls_current" :
						     "ktlsd_kernel_tls_stat";
			bool typed = false;

			for (size_t i = 0; i < st->n_kstat; i++) {
				if (kstat_is_gauge(st->kstat[i].name) != gauge)
					continue;
				if (!typed)
					printf("# HELP %s %s\n# TYPE %s %s\n", family, gauge ?
					       "kTLS sockets open now, by /proc/net/tls_stat line." :
					       "The kernel's kTLS counters, by /proc/net/tls_stat line.",
					       family, gauge ? "gauge" : "counter");
				typed = true;
				printf("%s{counter=\"%s\"} %llu\n", family, st->kstat[i].name,
				       (unsigned long long)st->kstat[i].value);
			}
		}
	}
	if (st->steer_known) {
		printf("# HELP ktlsd_steer_active Whether the eBPF port takeover is loaded "
		       "(1) or not (0).\n# TYPE ktlsd_steer_active gauge\n"
		       "ktlsd_steer_active %d\n", st->steer_active);
		print_prometheus_steering(st, false);
		print_prometheus_steering(st, true);
	}
}

static void print_json(const struct stats *st)
{
	printf("{");
	for (size_t i = 0; i < N_METRICS; i++)
		printf("\"%s\":%llu,", metrics[i].key,
		       (unsigned long long)st->counter[metrics[i].counter]);
	printf("\"ktls_available\":%s,\"uptime_seconds\":%llu",
	       st->ktls ? "true" : "false", (unsigned long long)uptime_of(st));
	/* null: the daemon did not say (it predates these fields). */
	printf(",\"kernel_tls_stat\":");
	if (st->kstats_present) {
		printf("{");
		for (size_t i = 0; i < st->n_kstat; i++) {
			printf("%s", i ? "," : "");
			json_string(stdout, st->kstat[i].name);
			printf(":%llu", (unsigned long long)st->kstat[i].value);
		}
		printf("}");
	} else {
		printf("null");
	}
	printf(",\"kernel_tls_stat_why\":");
	json_string(stdout, st->kstats_known ? st->kstats_why : "not reported by ktlsd");
	printf(",\"steering\":");
	if (st->steer_known) {
		printf("{\"active\":%s", st->steer_active ? "true" : "false");
		for (int redirect = 0; redirect <= 1; redirect++) {
			bool first = true;

			printf(redirect ? ",\"redirects\":[" : ",\"ports\":[");
			for (size_t i = 0; i < st->n_ports; i++) {
				const struct steer_port *p = &st->ports[i];

				if (p->redirect != redirect)
					continue;
				printf("%s{", first ? "" : ",");
				first = false;
				if (redirect)
					printf("\"redirected\":%llu,\"refused\":%llu,\"server\":",
					       (unsigned long long)p->steered,
					       (unsigned long long)p->dropped);
				else
					printf("\"port\":%u,\"steered\":%llu,\"dropped\":%llu,"
					       "\"address\":", p->port,
					       (unsigned long long)p->steered,
					       (unsigned long long)p->dropped);
				json_string(stdout, p->addr);
				printf("}");
			}
			printf("]");
		}
		printf("}");
	} else {
		printf("null");
	}
	printf("}\n");
}

static void print_text(const struct stats *st)
{
	for (size_t i = 0; i < N_METRICS; i++)
		printf("%-24s %llu\n", metrics[i].key,
		       (unsigned long long)st->counter[metrics[i].counter]);
	printf("%-24s %s\n%-24s %llu\n", "ktls_available", st->ktls ? "yes" : "no",
	       "uptime_seconds", (unsigned long long)uptime_of(st));
	if (st->kstats_present) {
		printf("\nkernel TLS statistics (/proc/net/tls_stat):\n");
		for (size_t i = 0; i < st->n_kstat; i++)
			printf("  %-22s %llu\n", st->kstat[i].name,
			       (unsigned long long)st->kstat[i].value);
	} else if (st->kstats_known) {
		printf("\nkernel TLS statistics not available (%s)\n", st->kstats_why);
	}
	if (!st->steer_known)
		return;
	if (!st->steer_active) {
		printf("\nport takeover (steer): not active\n");
		return;
	}
	if (!st->n_ports)
		printf("\nport takeover (steer): active, no port or server listed\n");
	for (int redirect = 0; redirect <= 1; redirect++) {
		bool titled = false;

		for (size_t i = 0; i < st->n_ports; i++) {
			const struct steer_port *p = &st->ports[i];

			if (p->redirect != redirect)
				continue;
			if (!titled)
				printf(redirect ? "\nclient redirection:\n  %-46s %12s %12s\n" :
				       "\nport takeover (steer):\n  %-46s %12s %12s\n",
				       redirect ? "Server" : "Address", redirect ? "Redirected" :
				       "Steered", redirect ? "Refused" : "Dropped");
			titled = true;
			printf("  %-46s %12llu %12llu\n", p->addr[0] ? p->addr : "?",
			       (unsigned long long)p->steered, (unsigned long long)p->dropped);
		}
	}
}

int cmd_stats(const struct ctl_opts *o)
{
	struct stats *st = calloc(1, sizeof(*st));
	bool truncated = false;
	int rc;

	if (!st) {
		perror("ktlsctl");
		return EXIT_FAILED;
	}
	rc = ctl_call(o->socket, CTL_MSG_STATS, NULL, o, on_stats, st, &truncated);
	if (rc == EXIT_OK && (st->out_of_memory || truncated)) {
		fprintf(stderr, "ktlsctl: the per-port counters are incomplete (%s)\n",
			st->out_of_memory ? "out of memory" : "cut at the daemon's reply limit");
		rc = EXIT_FAILED;
	}
	if (rc == EXIT_OK) {
		if (st->n_ports)
			qsort(st->ports, st->n_ports, sizeof(*st->ports), by_port);
		if (o->prometheus)
			print_prometheus(st);
		else if (o->json)
			print_json(st);
		else
			print_text(st);
	}
	free(st->ports);
	free(st);
	return rc;
}
