// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd: TLS for plaintext TCP services, with the record layer in the
 * kernel (kTLS) where the kernel offers it.
 *
 * This file: command line, configuration check and explain modes, start-up,
 * and the main thread's signal loop (reload on SIGHUP, stop on SIGTERM).
 * The data path lives in worker.c, session.c and forward.c.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <openssl/ssl.h>

#include "ktlsd.h"
#include "keyholder.h"
#include "keystore.h"
#include "netproc.h"
#include "ktls.h"
#include "log.h"
#include "redirect.h"
#include "sandbox.h"
#include "steer.h"

#define DEFAULT_CONFIG "/etc/ktlsd/ktlsd.conf"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ktlsd [OPTIONS]\n"
"       ktlsd --check-config [FILE]\n"
"       ktlsd --explain [FILE] [PORT|CONNECTION]\n"
"\n"
"ktlsd terminates TLS and mutual TLS in front of plaintext TCP services.\n"
"Each secure port of the configuration is accepted here, the handshake is\n"
"made with OpenSSL using the port's resolved Host/Application/Port\n"
"settings, the negotiated keys are handed to the kernel (kTLS) and the\n"
"plaintext is spliced to the service. Without kTLS in the kernel, or for a\n"
"cipher the kernel cannot take, the session stays in userspace and the\n"
"log says why. With eBPF, a port with steer = yes is taken over from a\n"
"service that keeps listening on it, and an application with a cgroup has\n"
"its plaintext connects to secure servers (its connections) sent through\n"
"ktlsd, which opens TLS to them.\n"
"\n"
"Options:\n"
"  -c, --config FILE        configuration file (default " DEFAULT_CONFIG ")\n"
"  -t, --check-config       check the configuration, load every certificate\n"
"                           and key, print \"configuration OK\" or every\n"
"                           error as file:line, and exit 0 or 1\n"
"  -x, --explain            print each port and connection with every\n"
"                           effective setting and the level and file:line it\n"
"                           came from, then exit\n"
"  -U, --unload             remove the pinned eBPF programs and maps\n"
"                           ([ktlsd] bpf-pin-dir of the configuration): the\n"
"                           ports with steer = yes are the services' again,\n"
"                           and applications' connects to secure servers go\n"
"                           out as they are, in plaintext; print them and exit\n"
"  -w, --workers N          worker threads (default: [ktlsd] workers, or one\n"
"                           per CPU)\n"
"  -v, --verbose            log more (repeat for debug)\n"
"  -q, --quiet              log warnings and errors only\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"Signals: SIGHUP reloads the configuration (a configuration that fails to\n"
"load is refused and the running one stays in force); SIGTERM and SIGINT\n"
"stop the daemon.\n"
"\n"
"Exit status: 0 on success, 1 on a configuration error, 2 on a usage error,\n"
"3 when the daemon cannot start (for example a port already in use, or\n"
"another ktlsd holds its control socket or pin directory).\n"
"\n"
"See ktlsd.conf(5) for the configuration file and ktlsctl(8) for the\n"
"control tool.\n");
}

static int check_config(const char *path)
{
	/* The same build as a start: every credential, every redirect. */
	struct generation *gen = generation_build(path, stderr);

	if (!gen) {
		keystore_stop();
		fprintf(stderr, "%s: configuration has errors\n", path);
		return 1;
	}
	generation_put(gen);
	keystore_stop();
	printf("%s: configuration OK\n", path);
	return 0;
}

static int explain(const char *path, const char *only)
{
	struct ktlsd_config *cfg = NULL;
	int errors = config_load(path, &cfg, stderr);
	int rc;

	if (errors || !cfg)
		return 1;
	rc = policy_explain(cfg, only, stdout);
	config_free(cfg);
	return rc ? 1 : 0;
}

/* The pin directory comes from the configuration; a configuration that
 * no longer loads must not keep the ports closed, so fall back to the
 * default directory then. */
static int unload_steering(const char *path)
{
	struct ktlsd_config *cfg = NULL;
	int rc;

	if (config_load(path, &cfg, stderr) || !cfg)
		fprintf(stderr, "%s: using the default pin directory\n", path);
	rc = steer_unload(cfg, stdout);
	if (cfg)
		config_free(cfg);
	return rc ? 1 : 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	/* Each session holds two sockets and, with kTLS, two pipes. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* Root may raise the hard limit too (up to fs.nr_open). */
	if (rl.rlim_max < 1048576) {
		struct rlimit want = { 1048576, 1048576 };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Make GEN current: listening sockets for its new addresses, the eBPF maps
 * and cgroup attachments, then a network process serving it (the previous
 * one drains). Anything can still say no after every check passed (an
 * address in use, a cgroup hook held exclusively by another tool, a full
 * map, a network process that does not start): then the generation that
 * ran before is put back, the kernel side follows it, the sockets opened
 * for GEN are closed, and -1 says why in WHY.
 */
static int apply_generation(struct generation *gen, char *why, size_t len)
{
	struct generation *old = generation_get();
	struct generation *cur;

	if (listeners_open_for(gen->cfg, why, len) < 0) {
		generation_put(gen);
		generation_put(old);
		return -1;
	}
	generation_install(gen);
	if (steer_update(gen->cfg) < 0 || redirect_update(gen) < 0) {
		snprintf(why, len, "the kernel did not take the new port takeover "
			 "or redirection (see the log)");
	} else if (netproc_start(why, len) == 0) {
		listeners_close_unwanted();
		generation_put(old);
		return 0;
	}
	generation_install(old);	/* hands our reference over */
	cur = generation_get();
	if (cur) {
		steer_update(cur->cfg);
		redirect_update(cur);
		listeners_open_for(cur->cfg, why + strlen(why), 0);
		listeners_close_unwanted();
	}
	generation_put(cur);
	return -1;
}

int daemon_reload(FILE *diag)
{
	struct generation *gen;
	char why[512] = "";
	int rc = -1;

	sd_notify(0, "RELOADING=1");
	log_notice("reloading %s", g_daemon.config_path);
	gen = generation_build(g_daemon.config_path, diag ? diag : stderr);
	if (!gen) {
		log_err("reload refused: %s has errors; the running configuration "
			"stays in force", g_daemon.config_path);
	} else if (apply_generation(gen, why, sizeof(why)) < 0) {
		log_err("reload refused: %s; the running configuration stays in "
			"force", why);
		if (diag)
			fprintf(diag, "reload refused: %s; the running configuration "
				"stays in force\n", why);
	} else {
		log_notice("configuration reloaded");
		rc = 0;
	}
	sd_notify(0, "READY=1");
	return rc;
}

static int main_epfd = -1;

int mainloop_add(struct main_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(main_epfd, EPOLL_CTL_ADD, src->fd, &ev);
}

void mainloop_del(struct main_source *src)
{
	epoll_ctl(main_epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

static bool stopping;
static bool failed;	/* stopping because no network process can run */

/* Children that ended: the key holder and the serving network process
 * are started again at once. */
static void reap_children(void)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		char how[64];

		if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "was killed by signal %d%s",
				 WTERMSIG(st), WTERMSIG(st) == SIGSYS ?
				 " (seccomp: a forbidden system call)" : "");
		else
			snprintf(how, sizeof(how), "exited with status %d",
				 WEXITSTATUS(st));
		if (keystore_child_exited(pid, how)) {
			netproc_new_signers();
			continue;
		}
		switch (netproc_child_exited(pid, how)) {
		case 0:
			log_notice("child %d %s", (int)pid, how);
			break;
		case -1:
			/* Serving nothing while looking alive helps nobody:
			 * stop, so that the service manager restarts us. */
			log_err("no network process: stopping (exit 3)");
			stopping = failed = true;
			break;
		}
	}
}

static void on_signal(struct main_source *src, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(src->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGCHLD) {
		reap_children();
		return;
	}
	if (si.ssi_signo == SIGHUP) {
		daemon_reload(NULL);
		return;
	}
	log_notice("signal %d: stopping", si.ssi_signo);
	stopping = true;
}

/*
 * Start, serve until SIGTERM, stop. Whatever fails once the configuration
 * has loaded ends at the one unwind below, which releases what was taken
 * (each *_stop() copes with a start that failed or never ran) and exits 3;
 * pins and directories this start made in the pin directory go too.
 */
static int run(const char *path, int workers)
{
	struct generation *gen;
	struct main_source sig_src = { .cb = on_signal, .fd = -1 };
	char why[512];
	sigset_t mask;
	bool ready = false;
	int rc = 3;

	g_daemon.config_path = path;
	g_daemon.started_at = time(NULL);
	/* Before anything is forked: the children count into the same page. */
	if (counters_share() < 0) {
		log_err("cannot share the counters: %s", strerror(errno));
		return 3;
	}
	/* Before the first generation: whether it needs TLS 1.3 secrets
	 * depends on it (generation.c). */
	if (ktls_probe(g_daemon.ktls_why, sizeof(g_daemon.ktls_why)) == 0) {
		g_daemon.ktls_available = true;
		log_notice("kernel TLS available: record crypto runs in the kernel");
	} else {
		log_warn("kernel TLS not available (%s): sessions stay in userspace",
			 g_daemon.ktls_why);
	}
	gen = generation_build(path, stderr);
	if (!gen) {
		log_err("%s: configuration has errors, not starting", path);
		keystore_stop();
		return 1;
	}
	generation_install(gen);
	if (workers <= 0)
		workers = gen->cfg->daemon.workers;
	if (workers <= 0)
		workers = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (workers <= 0)
		workers = 1;
	g_daemon.workers_per_process = workers;
	if (netproc_setup(gen->cfg->daemon.user, workers, why, sizeof(why)) < 0) {
		log_err("%s", why);
		generation_install(NULL);
		keystore_stop();
		return 3;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	/* Blocked before any child exists, so only the signalfd sees them
	 * (children unblock what they need). */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_src.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	main_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sig_src.fd < 0 || main_epfd < 0 || mainloop_add(&sig_src, EPOLLIN) < 0) {
		log_err("signalfd or epoll: %s", strerror(errno));
		goto out;
	}
	raise_fd_limit();
	if (control_start(gen->cfg) < 0) {
		log_err("cannot start the control socket: see the error above");
		goto out;
	}
	if (steer_start(gen->cfg) < 0) {
		log_err("cannot take over the steered ports: see the errors above");
		goto out;
	}
	if (redirect_start(gen) < 0) {
		log_err("cannot redirect the client connections: see the errors above");
		goto out;
	}
	if (listeners_open_for(gen->cfg, why, sizeof(why)) < 0 ||
	    netproc_start(why, sizeof(why)) < 0) {
		log_err("cannot start: %s", why);
		goto out;
	}
	/* Start-up is over: the parent keeps only what reloads and children
	 * need, and nothing of it can be dumped. */
	sandbox_not_dumpable();
	if (sandbox_limit_parent() < 0)
		log_warn("cannot limit the capabilities: %s", strerror(errno));
	log_notice("ready: %d secure port(s), %d worker(s)", gen->cfg->n_ports,
		   workers);
	/* Tests and scripts wait for this line instead of sleeping. */
	printf("ktlsd ready\n");
	fflush(stdout);
	sd_notifyf(0, "READY=1\nSTATUS=%d secure port(s), %s",
		   gen->cfg->n_ports, g_daemon.ktls_available ?
		   "kernel TLS" : "userspace TLS (no kTLS in this kernel)");

	/* The main thread's loop: signals, children and the control socket. */
	while (!stopping) {
		struct epoll_event evs[16];
		int n = epoll_wait(main_epfd, evs, 16, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct main_source *src = evs[i].data.ptr;

			src->cb(src, evs[i].events);
		}
	}
	sd_notify(0, "STOPPING=1");
	rc = failed ? 3 : 0;
	ready = true;
out:
	if (rc && !ready)
		log_err("not started: everything it had taken is released (exit 3)");
	control_stop();
	netproc_stop_all();
	redirect_stop();
	steer_stop();
	steer_finish(!ready);	/* only a start that failed gives its pins back */
	listeners_close_all();
	generation_install(NULL);
	keystore_stop();
	if (main_epfd >= 0)
		close(main_epfd);
	main_epfd = -1;
	if (sig_src.fd >= 0)
		close(sig_src.fd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "explain", no_argument, NULL, 'x' },
		{ "workers", required_argument, NULL, 'w' },
		{ "unload", no_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool check = false, expl = false, unload = false;
	int workers = 0, c;

	log_init();
	sandbox_save_argv(argc, argv);
	if (keyproxy_init() < 0)
		return 3;
	while ((c = getopt_long(argc, argv, "c:txUw:vqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'x':
			expl = true;
			break;
		case 'U':
			unload = true;
			break;
		case 'w':
			workers = atoi(optarg);
			if (workers <= 0 || workers > 1024) {
				fprintf(stderr, "ktlsd: --workers: expected 1..1024, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			log_max_level = log_max_level < LOG_LVL_DEBUG ?
					log_max_level + 1 : LOG_LVL_DEBUG;
			break;
		case 'q':
			log_max_level = LOG_LVL_WARN;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ktlsd %s (%s)\n", KTLSD_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* --check-config FILE and --explain FILE [NAME] take the file as an
	 * operand too, the way nginx -t and similar tools are used. */
	if ((check || expl) && optind < argc)
		path = argv[optind++];
	if (check && expl) {
		fprintf(stderr, "ktlsd: --check-config and --explain exclude each other\n");
		return 2;
	}
	if (unload)
		return unload_steering(path);
	if (check)
		return check_config(path);
	if (expl)
		return explain(path, optind < argc ? argv[optind] : NULL);
	if (optind < argc) {
		fprintf(stderr, "ktlsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return run(path, workers);
}
