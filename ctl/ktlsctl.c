// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsctl: look into and steer a running ktlsd through its control socket.
 * This file: the command line (a table of commands, matched by any unique
 * prefix) and the help text. The protocol is in client.c, output in show.c
 * and stats.c.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ktlsctl.h"

/* Which options a command accepts. */
enum { ALLOW_FILTERS = 1, ALLOW_PROMETHEUS = 2, ALLOW_NAME = 4 };

static const struct command {
	const char *name;
	int (*run)(const struct ctl_opts *o);
	int allow;
	const char *summary;
} commands[] = {
	{ "status", cmd_status, 0, "daemon version, uptime, kTLS, configuration, counts" },
	{ "sessions", cmd_sessions, ALLOW_FILTERS, "one line per session [--port P] [--peer ADDR]" },
	{ "stats", cmd_stats, ALLOW_PROMETHEUS, "counters [--prometheus]" },
	{ "reload", cmd_reload, 0, "re-read the configuration; errors are printed" },
	{ "explain", cmd_explain, ALLOW_NAME, "effective settings of the running configuration [NAME]" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ktlsctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Ask a running ktlsd about its state, or make it reload its configuration,\n"
"through its control socket. Any unique prefix of a command works\n"
"(\"ktlsctl st\" is ambiguous, \"ktlsctl sess\" is not).\n"
"\n"
"Commands:\n"
"  status                   daemon version and uptime, whether the kernel\n"
"                           offers kTLS (and why not), configuration file and\n"
"                           when it was loaded, sessions and handshakes\n"
"  sessions [--port P] [--peer ADDR]\n"
"                           one line per session: peer, port, application,\n"
"                           TLS version, cipher, mode (ktls or userspace, with\n"
"                           the reason), bytes each way and age; the peer's\n"
"                           certificate subject on the next line. --port takes\n"
"                           a port or application name, --peer an address\n"
"                           with or without its :port\n"
"  stats [--prometheus]     the daemon's counters, the kernel's kTLS counters\n"
"                           (/proc/net/tls_stat, as ktlsd sees it) and, per\n"
"                           steered port, connections steered and dropped;\n"
"                           --prometheus prints the Prometheus text\n"
"                           exposition format (ktlsd_* metrics)\n"
"  reload                   re-read the configuration file; a configuration\n"
"                           with errors is refused, its errors printed, and the\n"
"                           running one stays in force (exit status 1)\n"
"  explain [NAME]           each port and connection of the running\n"
"                           configuration with every effective setting and\n"
"                           where it came from; NAME limits it to one\n"
"\n"
"Options:\n"
"  -s, --socket PATH        control socket (default " CTL_DEFAULT_SOCKET ",\n"
"                           or [ktlsd] control-socket of ktlsd.conf)\n"
"  -j, --json               print JSON instead of text (every command)\n"
"      --prometheus         stats: Prometheus text format\n"
"  -p, --port P             sessions: only this port or application\n"
"  -a, --peer ADDR          sessions: only this peer address\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"Access: root, or a member of [ktlsd] control-group.\n"
"\n"
"Exit status: 0 success; 1 the command failed (for example a reload was\n"
"refused); 2 usage error; 3 the daemon cannot be reached or refused the\n"
"connection.\n"
"\n"
"See ktlsctl(8), ktlsd(8) and ktlsd.conf(5).\n");
}

static void list_commands(FILE *out)
{
	fprintf(out, "valid commands are:");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, " %s", commands[i].name);
	fprintf(out, "\n");
}

/* The command WORD names: exact, else the only one it is a prefix of. */
static const struct command *find_command(const char *word)
{
	const struct command *found = NULL;
	size_t len = strlen(word);
	int matches = 0;

	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (!strcmp(word, commands[i].name))
			return &commands[i];
		if (len && !strncmp(word, commands[i].name, len)) {
			found = &commands[i];
			matches++;
		}
	}
	if (matches == 1)
		return found;
	fprintf(stderr, "ktlsctl: %s command '%s'; ", matches ? "ambiguous" : "unknown",
		word);
	list_commands(stderr);
	return NULL;
}

int main(int argc, char **argv)
{
	enum { OPT_PROMETHEUS = 256 };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
		{ "port", required_argument, NULL, 'p' },
		{ "peer", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { .socket = CTL_DEFAULT_SOCKET };
	const struct command *cmd;
	int c;

	/* Options may come before or after the command (GNU permutation). */
	while ((c = getopt_long(argc, argv, "s:jp:a:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case OPT_PROMETHEUS:
			o.prometheus = true;
			break;
		case 'p':
			o.port = optarg;
			break;
		case 'a':
			o.peer = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("ktlsctl %s (control protocol %d)\n", KTLSD_VERSION,
			       CTL_PROTO_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'ktlsctl --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ktlsctl: no command given; ");
		list_commands(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind++]);
	if (!cmd)
		return EXIT_USAGE;
	if (optind < argc && (cmd->allow & ALLOW_NAME))
		o.name = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "ktlsctl %s: unexpected argument '%s'\n", cmd->name,
			argv[optind]);
		return EXIT_USAGE;
	}
	if ((o.port || o.peer) && !(cmd->allow & ALLOW_FILTERS)) {
		fprintf(stderr, "ktlsctl %s: --port and --peer are for 'sessions'\n", cmd->name);
		return EXIT_USAGE;
	}
	if (o.prometheus && !(cmd->allow & ALLOW_PROMETHEUS)) {
		fprintf(stderr, "ktlsctl %s: --prometheus is for 'stats'\n", cmd->name);
		return EXIT_USAGE;
	}
	if (o.prometheus && o.json) {
		fprintf(stderr, "ktlsctl stats: --prometheus and --json exclude each other\n");
		return EXIT_USAGE;
	}
	return cmd->run(&o);
}
