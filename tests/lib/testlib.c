// SPDX-License-Identifier: GPL-2.0
/* Helpers for tests that run the daemon and real TLS peers; see testlib.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/time.h>

#include "testlib.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * ktlsd's children run as the unprivileged user "ktlsd" (the package
 * creates it); a fresh test machine has none yet, so every test program
 * makes sure it exists before anything starts a daemon.
 */
__attribute__((constructor)) static void tl_ensure_daemon_user(void)
{
	const char *argv[] = { "useradd", "--system", "--no-create-home",
			       "--home-dir", "/nonexistent", "--shell",
			       "/usr/sbin/nologin", "ktlsd", NULL };

	if (getuid() != 0 || getpwnam("ktlsd"))
		return;
	if (tl_run(argv, NULL, NULL, NULL, 30000) != 0)
		fprintf(stderr, "# cannot create the user ktlsd; daemons will not start\n");
}

const char *tl_path(const char *dir, const char *name)
{
	static char ring[64][PATH_MAX];
	static unsigned int next;
	char *buf = ring[next++ % 64];

	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

const char *tl_build_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return "build";
	dir[n] = 0;
	/* BUILD/tests/SUITE/NAME -> BUILD */
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(dir, '/');

		if (!slash)
			return ".";
		*slash = 0;
	}
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");	/* the VM's root */
	return dir;
}

char *tl_tmpdir(void)
{
	char tmpl[] = "/tmp/ktlsd-test.XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

char *tl_daemon_dir(char conf[512], char log[512])
{
	char *dir = tl_tmpdir();

	if (dir) {
		snprintf(conf, 512, "%s/ktlsd.conf", dir);
		snprintf(log, 512, "%s/ktlsd.log", dir);
	}
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

void tl_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tl_sweep_stale_pins(void)
{
	DIR *d = opendir("/sys/fs/bpf");
	struct dirent *de;
	char path[PATH_MAX];
	int pid;

	while (d && (de = readdir(d))) {
		if (sscanf(de->d_name, "ktlsd-%*[a-z]-%d", &pid) != 1 || pid <= 1 ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
		tl_rmtree(path);
	}
	if (d)
		closedir(d);
}

static void redirect(int to, const char *path, int flags)
{
	int fd = open(path ? path : "/dev/null", flags, 0600);

	if (fd >= 0) {
		dup2(fd, to);
		close(fd);
	}
}

int tl_spawn(struct tl_proc *p, const char *const argv[], const char *log)
{
	int fds[2];

	memset(p, 0, sizeof(*p));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	snprintf(p->log, sizeof(p->log), "%s", log ? log : "/dev/null");
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		dup2(fds[1], 1);
		redirect(0, NULL, O_RDONLY);
		redirect(2, p->log, O_WRONLY | O_CREAT | O_APPEND);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	p->out = fds[0];
	return 0;
}

int tl_wait_line(struct tl_proc *p, const char *prefix, char *line, size_t len,
		 int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	for (;;) {
		char *nl;

		/* Consume whole lines already read. */
		while ((nl = memchr(p->pending, '\n', p->pending_len))) {
			size_t l = nl - p->pending;
			bool match = strncmp(p->pending, prefix, strlen(prefix)) == 0;

			if (match && line) {
				size_t c = l < len - 1 ? l : len - 1;

				memcpy(line, p->pending, c);
				line[c] = 0;
			}
			memmove(p->pending, nl + 1, p->pending_len - l - 1);
			p->pending_len -= l + 1;
			if (match)
				return 0;
		}
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = read(p->out, p->pending + p->pending_len,
			 sizeof(p->pending) - p->pending_len - 1);
		if (n <= 0)
			return -1;
		p->pending_len += n;
	}
}

static int wait_status(pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int st;

	/* A pidfd would avoid polling waitpid; it needs a 5.3+ kernel and a
	 * glibc wrapper bookworm lacks, so poll on a short signal wait. */
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		if (now_ms() > deadline)
			return -2;
		{
			sigset_t set;
			struct timespec ts = { 0, 20 * 1000000 };

			sigemptyset(&set);
			sigaddset(&set, SIGCHLD);
			sigtimedwait(&set, NULL, &ts);
		}
	}
}

int tl_stop(struct tl_proc *p)
{
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	st = wait_status(p->pid, 10000);
	if (st == -2) {
		kill(p->pid, SIGKILL);
		st = wait_status(p->pid, 10000);
	}
	close(p->out);
	p->pid = 0;
	return st;
}

static int children_of(pid_t pid, pid_t *out, int max);

/* State letter of PID in /proc/PID/stat ('T' stopped), or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *paren;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : 0;
}

int tl_freeze(struct tl_proc *p)
{
	pid_t kids[32];
	int n, st;

	/* The daemon and its children (the network process carries the
	 * sessions). kill() only queues the signal; a busy thread may run on
	 * for a while: waitpid(WUNTRACED) says when the parent has stopped,
	 * /proc says when each child has. */
	if (p->pid <= 0)
		return -1;
	n = children_of(p->pid, kids, 32);
	if (kill(p->pid, SIGSTOP) < 0 ||
	    waitpid(p->pid, &st, WUNTRACED) != p->pid || !WIFSTOPPED(st))
		return -1;
	for (int i = 0; i < n; i++) {
		int tries = 0;

		if (kill(kids[i], SIGSTOP) < 0)
			return -1;
		while (proc_state(kids[i]) != 'T' && tries++ < 1000)
			usleep(10000);	/* polling /proc: no event says "stopped" */
		if (proc_state(kids[i]) != 'T')
			return -1;
	}
	return 0;
}

int tl_thaw(struct tl_proc *p)
{
	pid_t kids[32];
	int n;

	if (p->pid <= 0)
		return -1;
	n = children_of(p->pid, kids, 32);
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGCONT);
	return kill(p->pid, SIGCONT);
}

int tl_daemon_start(struct tl_proc *p, const char *conf, const char *log)
{
	char bin[PATH_MAX];
	const char *argv[] = { bin, "-c", conf, "-v", "-v", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	if (tl_spawn(p, argv, log) < 0)
		return -1;
	if (tl_wait_line(p, "ktlsd ready", NULL, 0, 20000) < 0) {
		tl_stop(p);
		return -1;
	}
	return 0;
}

int tl_backend_start(struct tl_proc *p, const char *mode,
		     unsigned long long bytes, int *port)
{
	char bin[PATH_MAX], nbytes[32], line[128];
	const char *argv[] = { bin, mode, "--bytes", nbytes, NULL };

	snprintf(bin, sizeof(bin), "%s/tests/lib/backend", tl_build_dir());
	snprintf(nbytes, sizeof(nbytes), "%llu", bytes);
	if (tl_spawn(p, argv, NULL) < 0)
		return -1;
	if (tl_wait_line(p, "listening ", line, sizeof(line), 10000) < 0) {
		tl_stop(p);
		return -1;
	}
	*port = atoi(line + strlen("listening "));
	return 0;
}

int tl_run(const char *const argv[], const char *in, const char *out,
	   const char *err, int timeout_ms)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		redirect(0, in, O_RDONLY);
		redirect(1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC);
		redirect(2, err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	st = wait_status(pid, timeout_ms);
	if (st == -2) {
		kill(pid, SIGKILL);
		wait_status(pid, 5000);
		return -1;
	}
	return st;
}

int tl_random_file(const char *path, size_t bytes)
{
	unsigned char buf[65536];
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	while (bytes) {
		size_t n = bytes < sizeof(buf) ? bytes : sizeof(buf);

		RAND_bytes(buf, n);
		fwrite(buf, 1, n, f);
		bytes -= n;
	}
	return fclose(f);
}

int tl_sha256_file(const char *path, char hex[65])
{
	unsigned char buf[65536], d[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f || !md) {
		if (f)
			fclose(f);
		EVP_MD_CTX_free(md);
		return -1;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(md, buf, n);
	fclose(f);
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	return 0;
}

int tl_write_file(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	if (!f)
		return -1;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	return fclose(f);
}

char *tl_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = len < 0 ? NULL : calloc(1, len + 1);
	if (buf && fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int tl_file_contains(const char *path, const char *needle)
{
	char *buf = tl_read_file(path);
	int found;

	if (!buf)
		return -1;
	found = strstr(buf, needle) != NULL;
	free(buf);
	return found;
}

/*
 * 1 when the file holds NEEDLE (and, with LINE, the whole line around it,
 * newline included: a copy goes to *LINE), 0 if not yet, -1 if unreadable.
 */
static int find_in_file(const char *path, const char *needle, char **line)
{
	char *buf = tl_read_file(path), *at, *start, *end;
	int found = 0;

	if (!buf)
		return -1;
	at = strstr(buf, needle);
	if (at && !line) {
		found = 1;
	} else if (at && (end = strchr(at, '\n')) != NULL) {
		for (start = at; start > buf && start[-1] != '\n'; start--)
			;
		*line = strndup(start, end - start);
		found = *line != NULL;
	}
	free(buf);
	return found;
}

static int wait_in_file(const char *path, const char *needle, int timeout_ms,
			char **line)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	struct timespec start, now;
	char dir[PATH_MAX], *slash;
	int found = -1;

	/* Watch the directory: the file may not exist yet. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (in < 0 || inotify_add_watch(in, slash ? dir : ".",
					IN_MODIFY | IN_CREATE) < 0) {
		if (in >= 0)
			close(in);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		char events[4096];
		long left;

		/* Check after the watch exists: no write can slip between. */
		found = find_in_file(path, needle, line);
		if (found == 1)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) != 1) {
			found = -1;
			break;
		}
		while (read(in, events, sizeof(events)) > 0)
			;
	}
	close(in);
	return found == 1 ? 0 : -1;
}

int tl_wait_file_contains(const char *path, const char *needle, int timeout_ms)
{
	return wait_in_file(path, needle, timeout_ms, NULL);
}

char *tl_wait_log_line(const char *path, const char *needle, int timeout_ms)
{
	char *line = NULL;

	return wait_in_file(path, needle, timeout_ms, &line) == 0 ? line : NULL;
}

long tl_tls_stat(const char *name)
{
	char key[64];
	long val, found = -1;
	FILE *f = fopen("/proc/net/tls_stat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, name))
			found = val;
	fclose(f);
	return found;
}

int tl_occupy_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 4) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int tl_listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0 || listen(fd, 4) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int tl_connect_loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void tl_set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

long long tl_ctl_number(const char *control, const char *command, const char *key)
{
	char bin[600], out[64], needle[80], *text, *at;
	const char *argv[] = { bin, "-s", control, "--json", command, NULL };
	long long v = -1;
	int fd;

	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	snprintf(out, sizeof(out), "/tmp/ktlsd-ctl-out.XXXXXX");
	fd = mkstemp(out);
	if (fd < 0)
		return -1;
	close(fd);
	if (tl_run(argv, NULL, out, NULL, 20000) == 0 && (text = tl_read_file(out))) {
		snprintf(needle, sizeof(needle), "\"%s\":", key);
		at = strstr(text, needle);
		if (at)
			v = strtoll(at + strlen(needle), NULL, 10);
		free(text);
	}
	unlink(out);
	return v;
}

/* The children of PID (what /proc says their parent is). */
int tl_children(pid_t pid, pid_t *out, int max)
{
	return children_of(pid, out, max);
}

static int children_of(pid_t pid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) && n < max) {
		char path[300], buf[256];
		pid_t c = (pid_t)atoi(e->d_name);
		FILE *f;

		if (c <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/status", c);
		f = fopen(path, "r");
		while (f && fgets(buf, sizeof(buf), f))
			if (!strncmp(buf, "PPid:", 5) && atoi(buf + 5) == pid)
				out[n++] = c;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

int tl_kill_daemon(struct tl_proc *p)
{
	pid_t kids[32];
	int fds[32], n, status, rc = 0;

	n = children_of(p->pid, kids, 32);
	for (int i = 0; i < n; i++)
		fds[i] = (int)syscall(SYS_pidfd_open, kids[i], 0);
	if (kill(p->pid, SIGKILL) < 0 || waitpid(p->pid, &status, 0) != p->pid)
		rc = -1;
	/* The parent's death kills its children (PR_SET_PDEATHSIG); a pidfd
	 * becomes readable when its process has exited. */
	for (int i = 0; i < n; i++) {
		struct pollfd pfd = { fds[i], POLLIN, 0 };

		if (fds[i] >= 0 && poll(&pfd, 1, 10000) != 1)
			rc = -1;
		if (fds[i] >= 0)
			close(fds[i]);
	}
	close(p->out);
	p->out = -1;
	return rc;
}
