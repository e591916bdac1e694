// SPDX-License-Identifier: GPL-2.0
/* Test PKI generation and openssl(1) peers; see pki.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pki.h"
#include "testlib.h"

static char pki_path[PATH_MAX];
static pid_t pki_owner;

static int run_wait(const char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void pki_remove(void)
{
	/* Test cases run in forked children: only the creator cleans up. */
	if (pki_path[0] && getpid() == pki_owner) {
		const char *const rm[] = { "rm", "-rf", pki_path, NULL };

		run_wait(rm);
	}
}

const char *pki_dir(void)
{
	char tmpl[] = "/tmp/ktlsd-pki.XXXXXX";
	const char *const gen[] = { "/bin/sh", "tests/lib/pki.sh", tmpl, NULL };

	if (pki_path[0])
		return pki_path;
	if (!mkdtemp(tmpl))
		return NULL;
	if (run_wait(gen) < 0) {
		fprintf(stderr, "# tests/lib/pki.sh %s failed (run from the repository root)\n",
			tmpl);
		return NULL;
	}
	snprintf(pki_path, sizeof(pki_path), "%s", tmpl);
	pki_owner = getpid();
	atexit(pki_remove);
	return pki_path;
}

const char *pki_file(const char *name)
{
	return tl_path(pki_dir() ? pki_dir() : "/nonexistent", name);
}

int pki_peer_spawn(struct pki_peer *p, const char *const argv[])
{
	int out[2], in[2];
	const char *args[64];
	int n = 0;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	args[n++] = "openssl";
	for (int i = 0; argv[i] && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(in, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	p->pid = fork();
	if (p->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execvp("openssl", (char *const *)args);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	p->out_fd = out[0];
	p->in_fd = in[1];
	if (p->pid < 0) {
		close(out[0]);
		close(in[1]);
		return -1;
	}
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int pki_peer_wait_for(struct pki_peer *p, const char *needle, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t r;

		p->seen[p->seen_len] = '\0';
		if (strstr(p->seen, needle))
			return 0;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		if (p->seen_len + 1 >= sizeof(p->seen)) {
			/* keep the tail: the needle may straddle the cut */
			memmove(p->seen, p->seen + sizeof(p->seen) / 2,
				p->seen_len - sizeof(p->seen) / 2);
			p->seen_len -= sizeof(p->seen) / 2;
		}
		r = read(p->out_fd, p->seen + p->seen_len,
			 sizeof(p->seen) - 1 - p->seen_len);
		if (r <= 0)
			return -1;
		p->seen_len += r;
	}
}

void pki_peer_stop(struct pki_peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
	if (p->in_fd > 0)
		close(p->in_fd);
	if (p->out_fd > 0)
		close(p->out_fd);
	p->in_fd = p->out_fd = -1;
}

/* "openssl PREFIX... ARGS..." */
static int peer_spawn_with(struct pki_peer *p, const char *const prefix[],
			   const char *const args[])
{
	const char *argv[64];
	int n = 0;

	for (int i = 0; prefix[i] && n < 63; i++)
		argv[n++] = prefix[i];
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return pki_peer_spawn(p, argv);
}

int pki_peer_client_of_us(struct pki_peer *p, const char *const args[],
			  int timeout_ms)
{
	char connect_to[32];
	const char *const prefix[] = { "s_client", "-connect", connect_to, NULL };
	int port, lfd = tl_listen_loopback(&port), fd = -1;

	if (lfd < 0)
		return -1;
	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%d", port);
	if (peer_spawn_with(p, prefix, args) == 0)
		fd = accept(lfd, NULL, NULL);
	close(lfd);
	if (fd >= 0)
		tl_set_timeouts(fd, timeout_ms / 1000);
	return fd;
}

int pki_peer_server_for_us(struct pki_peer *p, const char *const args[],
			   int timeout_ms)
{
	char port[16];
	const char *const prefix[] = { "s_server", "-accept", port, "-naccept", "1",
				       NULL };
	int port_no = pki_free_port(), fd;

	if (port_no <= 0)
		return -1;
	snprintf(port, sizeof(port), "%d", port_no);
	if (peer_spawn_with(p, prefix, args) < 0 ||
	    pki_peer_wait_for(p, "ACCEPT", timeout_ms) < 0)
		return -1;
	fd = tl_connect_loopback(port_no);
	if (fd >= 0)
		tl_set_timeouts(fd, timeout_ms / 1000);
	return fd;
}

/* One port the kernel gives for bind(0), or -1. */
static int kernel_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int pki_free_port(void)
{
	/* The kernel may give the port it gave a moment ago once that socket
	 * is closed: a test asking for two ports would get one twice. Ports
	 * already handed out by this process are skipped. */
	static int given[64];
	static unsigned int n_given;

	for (int tries = 0; tries < 100; tries++) {
		int port = kernel_free_port();
		bool seen = false;

		if (port < 0)
			return -1;
		for (unsigned int i = 0; i < n_given && i < 64; i++)
			seen |= given[i] == port;
		if (seen)
			continue;
		given[n_given++ % 64] = port;
		return port;
	}
	return -1;
}

int pki_write_port_conf(const char *path, const struct pki_port_conf *c)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -1;
	rc = fprintf(f,
		"[ktlsd]\n"
		"%s"
		"control-socket = %s\n"
		"[security]\n"
		"certificate = %s\n"
		"certificate-key = %s\n"
		"trusted-ca = %s\n"
		"%s"
		"[port %s]\n"
		"listen = 127.0.0.1:%d\n"
		"backend = 127.0.0.1:%d\n"
		"transport = %s\n",
		c->daemon_lines ? c->daemon_lines : "", c->control,
		c->cert ? c->cert : pki_file("server-chain.pem"),
		pki_file("server.key"), pki_file("root.crt"),
		c->security_lines ? c->security_lines : "", c->port_name,
		c->port, c->backend, c->transport ? c->transport : "tls=1") < 0;
	rc |= fclose(f) != 0;
	return rc ? -1 : 0;
}

int pki_echo_port_prepare(struct pki_echo_port *e)
{
	e->dir = tl_daemon_dir(e->conf, e->log);
	if (!e->dir)
		return -1;
	snprintf(e->control, sizeof(e->control), "%s/control", e->dir);
	if (tl_backend_start(&e->echo, "echo", 0, &e->echo_port) < 0)
		return -1;
	e->port = pki_free_port();
	return e->port < 0 ? -1 : 0;
}

int pki_echo_port_write_conf(const struct pki_echo_port *e, const char *daemon_lines)
{
	return pki_write_port_conf(e->conf, &(struct pki_port_conf) {
		.daemon_lines = daemon_lines, .control = e->control,
		.port_name = "Echo:secure", .port = e->port,
		.backend = e->echo_port });
}

int pki_echo_port_start(struct pki_echo_port *e, const char *daemon_lines)
{
	if (pki_echo_port_prepare(e) < 0 ||
	    pki_echo_port_write_conf(e, daemon_lines) < 0)
		return -1;
	return tl_daemon_start(&e->daemon, e->conf, e->log);
}

int pki_echo_port_stop(struct pki_echo_port *e)
{
	int status = tl_stop(&e->daemon);

	tl_stop(&e->echo);
	tl_rmtree(e->dir);
	free(e->dir);
	e->dir = NULL;
	return status;
}
