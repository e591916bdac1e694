// SPDX-License-Identifier: GPL-2.0
/*
 * signing: what one signature costs through the key holder, against the
 * same signature made in process, and against the floor a round trip
 * between two processes costs on this machine.
 *
 *   signing KEYFILE [COUNT]
 *
 * Three measurements of COUNT (default 20000) operations each, all on the
 * CPU this program is started on (bench/run pins it to the terminators'
 * CPU, like the daemon it stands for):
 *   pipe_rt_us      a 100-byte request and answer between two processes
 *                   over two pipes, as a sign channel carries them, with
 *                   nothing done in between: the kernel's part alone
 *   inproc_us       EVP_DigestSignInit + EVP_DigestSign of 128 bytes with
 *                   the key in this process (what a handshake did before
 *                   the process split)
 *   keyholder_us    the same through a key holder (keyholder.c, with its
 *                   seccomp filter and dropped privileges) and the keyproxy
 *                   provider, a round trip each, both processes' CPU added
 *   batched_us      the same in OpenSSL async jobs, BATCH (16) at a time:
 *                   what a worker does with the handshakes of one event
 *                   batch (signchan.c)
 * CPU time is each process's own (getrusage, the key holder's read through
 * its CPU-time clock), in microseconds per operation. Prints one line:
 *   signing pipe_rt_us=.. inproc_us=.. keyholder_us=.. overhead_us=..
 *           batched_us=.. batched_overhead_us=..
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "keyholder.h"

#define MSG_BYTES	128	/* about what TLS 1.3 signs: 64 spaces, a
				 * context string, a transcript hash */
#define BATCH		16	/* handshakes per event batch */

static double cpu_self_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static double cpu_of_us(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return -1;
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "signing: %s: %s\n", what, errno ? strerror(errno) : "failed");
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* The echo side of the floor measurement: answer each request. */
static void echo_requests(int req, int ans)
{
	char buf[MSG_BYTES];
	ssize_t n;

	while ((n = read(req, buf, sizeof(buf))) > 0)
		if (write(ans, buf, (size_t)n) != n)
			break;
	_exit(0);
}

/* Round trips of 100 bytes between two processes: write, poll, read on
 * one side, read and write on the other (a sign channel's calls). */
static double pipe_round_trip_us(int count)
{
	int req[2], ans[2];
	char buf[100] = { 0 };
	struct rusage child;
	double t0, t1;
	pid_t pid;
	int status;

	if (pipe(req) < 0 || pipe(ans) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(req[1]);
		close(ans[0]);
		echo_requests(req[0], ans[1]);
	}
	close(req[0]);
	close(ans[1]);
	t0 = cpu_self_us();
	for (int i = 0; i < count; i++) {
		struct pollfd pfd = { ans[0], POLLIN, 0 };

		if (write(req[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
		    poll(&pfd, 1, 5000) != 1 ||
		    read(ans[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("round trip");
	}
	t1 = cpu_self_us();
	close(req[1]);
	close(ans[0]);
	if (wait4(pid, &status, 0, &child) != pid)
		die("wait4");
	return (t1 - t0 + (child.ru_utime.tv_sec + child.ru_stime.tv_sec) * 1e6 +
		child.ru_utime.tv_usec + child.ru_stime.tv_usec) / count;
}

/* COUNT signatures with KEY, each with its own init as a handshake has. */
static void sign_many(EVP_PKEY *key, int count)
{
	unsigned char msg[MSG_BYTES], sig[1024];

	memset(msg, ' ', sizeof(msg));
	for (int i = 0; i < count; i++) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		size_t len = sizeof(sig);

		msg[0] = (unsigned char)i;
		if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
		    EVP_DigestSign(md, sig, &len, msg, sizeof(msg)) != 1)
			die("sign");
		EVP_MD_CTX_free(md);
	}
}

static double in_process_us(const char *path, int count)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key;
	double t0;

	if (!f)
		die(path);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		die("the private key");
	sign_many(key, count / 10);	/* warm-up */
	t0 = cpu_self_us();
	sign_many(key, count);
	t0 = (cpu_self_us() - t0) / count;
	EVP_PKEY_free(key);
	return t0;
}

/* One signature in an async job, as a handshake makes it in a worker. */
struct job {
	EVP_PKEY *key;
	ASYNC_JOB *job;
	ASYNC_WAIT_CTX *wctx;
	int done;
};

static int sign_one(void *arg)
{
	struct job *j = *(struct job **)arg;

	sign_many(j->key, 1);
	return 1;
}

static void run_job(struct job *j)
{
	int ret;

	signchan_set_owner(j);
	if (ASYNC_start_job(&j->job, j->wctx, &ret, sign_one, &j, sizeof(j)) ==
	    ASYNC_FINISH)
		j->done = 1;
}

static void job_ready(void *owner)
{
	run_job(owner);
}

/* COUNT signatures with KEY, BATCH jobs at a time: each pauses, the batch
 * leaves in one write, the answers resume them. */
static void sign_batched(EVP_PKEY *key, int count)
{
	struct job jobs[BATCH];
	unsigned int epoch;

	for (int i = 0; i < BATCH; i++)
		jobs[i] = (struct job){ .key = key, .wctx = ASYNC_WAIT_CTX_new() };
	for (int done = 0; done < count; done += BATCH) {
		int left = BATCH;

		for (int i = 0; i < BATCH; i++) {
			jobs[i].done = 0;
			run_job(&jobs[i]);
		}
		signchan_batch_service();
		while (left) {
			struct pollfd pfd = { signchan_batch_fd(&epoch), POLLIN, 0 };

			if (poll(&pfd, 1, 5000) != 1 || signchan_batch_collect() < 0)
				die("batched signatures");
			left = 0;
			for (int i = 0; i < BATCH; i++)
				left += !jobs[i].done;
		}
	}
	for (int i = 0; i < BATCH; i++)
		ASYNC_WAIT_CTX_free(jobs[i].wctx);
}

/* A key holder as the daemon starts one: as nobody when started as root.
 * *BATCHED: the CPU per signature made in batches. */
static double through_key_holder_us(const char *path, int count, double *batched)
{
	struct passwd *nobody = getuid() == 0 ? getpwnam("nobody") : NULL;
	uid_t uid = nobody ? nobody->pw_uid : getuid();
	gid_t gid = nobody ? nobody->pw_gid : getgid();
	struct kh_signer ch;
	EVP_PKEY *pub, *proxy;
	char err[256];
	clockid_t holder_clock;
	double self0, holder0, per;
	bool no_key;
	int lp[2], fd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lp) < 0)
		die("socketpair");
	pid = keyholder_spawn(lp[1], uid, gid);
	if (pid < 0)
		die("the key holder");
	close(lp[1]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	pub = keyholder_load(lp[0], 1, fd, path, &no_key, err, sizeof(err));
	close(fd);
	if (!pub) {
		fprintf(stderr, "signing: %s\n", no_key ? "no private key" : err);
		exit(1);
	}
	if (keyproxy_init() < 0 || !(proxy = keyproxy_key(pub, 1)) ||
	    keyholder_add_signer(lp[0], &ch) < 0)
		die("the keyproxy provider");
	keyproxy_set_channel(0, ch);
	if (clock_getcpuclockid(pid, &holder_clock) != 0)
		die("the key holder's CPU clock");
	sign_many(proxy, count / 10);	/* warm-up */
	self0 = cpu_self_us();
	holder0 = cpu_of_us(holder_clock);
	sign_many(proxy, count);
	per = (cpu_self_us() - self0 + cpu_of_us(holder_clock) - holder0) / count;
	if (ASYNC_init_thread(BATCH, BATCH) != 1)
		die("async jobs");
	signchan_batch_begin(job_ready);
	sign_batched(proxy, count / 10);	/* warm-up */
	self0 = cpu_self_us();
	holder0 = cpu_of_us(holder_clock);
	sign_batched(proxy, count);
	*batched = (cpu_self_us() - self0 + cpu_of_us(holder_clock) - holder0) / count;
	keyproxy_close_signer(keyproxy_set_channel(0, (struct kh_signer){ -1, -1 }));
	close(lp[0]);		/* the key holder ends */
	waitpid(pid, NULL, 0);
	EVP_PKEY_free(proxy);
	EVP_PKEY_free(pub);
	return per;
}

int main(int argc, char **argv)
{
	int count = argc > 2 ? atoi(argv[2]) / BATCH * BATCH : 20000;
	double floor, inproc, holder, batched;

	if (argc < 2 || count < 10 * BATCH) {
		fprintf(stderr, "usage: signing KEYFILE [COUNT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	floor = pipe_round_trip_us(count);
	inproc = in_process_us(argv[1], count);
	holder = through_key_holder_us(argv[1], count, &batched);
	printf("signing pipe_rt_us=%.2f inproc_us=%.2f keyholder_us=%.2f "
	       "overhead_us=%.2f batched_us=%.2f batched_overhead_us=%.2f "
	       "signatures=%d\n", floor, inproc, holder, holder - inproc,
	       batched, batched - inproc, count);
	return 0;
}
