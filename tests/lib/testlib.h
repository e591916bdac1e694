/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for tests that run the real daemon: start ktlsd and the plaintext
 * backend as child processes and wait for their "ready" lines (never a
 * sleep), run peers such as openssl s_client to completion with a time
 * limit, and make and hash payload files.
 */
#ifndef KTLSD_TESTLIB_H
#define KTLSD_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tl_proc {
	pid_t pid;
	int out;		/* read end of the child's stdout */
	char pending[4096];	/* stdout bytes read but not yet consumed */
	size_t pending_len;
	char log[256];		/* the child's stderr goes to this file */
};

/* The build directory this test binary belongs to (BUILD/tests/x/y). */
const char *tl_build_dir(void);
/* DIR/NAME in one of 64 buffers used in turn: valid for the next 63 calls,
 * enough for one command line. */
const char *tl_path(const char *dir, const char *name);
/* A new private directory under /tmp; removed by tl_rmtree(). */
char *tl_tmpdir(void);
/* tl_tmpdir(), and in CONF and LOG the paths of ktlsd's configuration and
 * log in it; NULL on error. */
char *tl_daemon_dir(char conf[512], char log[512]);
void tl_rmtree(const char *dir);
/*
 * Remove the pin directories /sys/fs/bpf/ktlsd-TAG-PID... that test (and
 * bench) runs left behind when their process PID died without a teardown
 * (a harness timeout kills it). Their links stay attached until then, the
 * steering guards to the root cgroup, which takes at most 64 programs per
 * hook. Directories of live processes are left alone.
 */
void tl_sweep_stale_pins(void);

/* Start ARGV (NULL-terminated) with stdout on a pipe and stderr to LOG. */
int tl_spawn(struct tl_proc *p, const char *const argv[], const char *log);
/* Wait up to TIMEOUT_MS for a stdout line starting with PREFIX; copy it. */
int tl_wait_line(struct tl_proc *p, const char *prefix, char *line, size_t len,
		 int timeout_ms);
/* kill -9 the daemon, as a crash would end it, and wait until it and the
 * processes it started (which die with it) are gone. 0 or -1. */
int tl_kill_daemon(struct tl_proc *p);
/* SIGTERM, then wait (SIGKILL after 10 s). Returns the exit status. */
int tl_stop(struct tl_proc *p);

/* SIGSTOP P and its children (ktlsd's network process and key holder) and
 * wait until every thread of each has stopped: then they read nothing more
 * until tl_thaw(). 0 or -1. */
int tl_freeze(struct tl_proc *p);
int tl_thaw(struct tl_proc *p);

/* ktlsd -c CONF -v; waits for "ktlsd ready". 0 or -1. */
int tl_daemon_start(struct tl_proc *p, const char *conf, const char *log);
/* backend MODE [--bytes N]; *port gets its TCP port. 0 or -1. */
int tl_backend_start(struct tl_proc *p, const char *mode,
		     unsigned long long bytes, int *port);

/* A listener on 127.0.0.1:PORT without SO_REUSEPORT, which ktlsd cannot
 * bind beside: "address in use" on demand. The fd, or -1. */
int tl_occupy_port(int port);
/* A TCP listener on 127.0.0.1, port chosen by the kernel (in *PORT). */
int tl_listen_loopback(int *port);
/* A blocking TCP connection to 127.0.0.1:PORT. The fd, or -1. */
int tl_connect_loopback(int port);
/* SO_RCVTIMEO and SO_SNDTIMEO of SECONDS on FD. */
void tl_set_timeouts(int fd, int seconds);

/* Run ARGV to completion with stdin/stdout from/to files (NULL: /dev/null)
 * and stderr to ERR (NULL: /dev/null). Returns the exit status, or -1 on
 * timeout (the child is killed). */
int tl_run(const char *const argv[], const char *in, const char *out,
	   const char *err, int timeout_ms);

int tl_random_file(const char *path, size_t bytes);
/* SHA-256 of a file as 64 hex digits. */
int tl_sha256_file(const char *path, char hex[65]);
int tl_write_file(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The whole file, NUL-terminated, to be freed; NULL if unreadable. */
char *tl_read_file(const char *path);
/* 1 if the file contains NEEDLE, 0 if not, -1 if unreadable. */
int tl_file_contains(const char *path, const char *needle);
/* Wait (inotify, at most TIMEOUT_MS) until the file contains NEEDLE: for
 * peers that only say "ready" on stderr. 0, or -1 on timeout. */
int tl_wait_file_contains(const char *path, const char *needle, int timeout_ms);
/* Wait the same way for a whole line (newline written) holding NEEDLE;
 * the line without its newline, to be freed, or NULL on timeout. */
char *tl_wait_log_line(const char *path, const char *needle, int timeout_ms);
struct ssl_ctx_st;
struct ssl_st;
/* A blocking TLS connection to 127.0.0.1:PORT (30 s receive limit), the
 * handshake done; NULL on failure. tl_tls_close frees it and its socket. */
struct ssl_st *tl_tls_connect(struct ssl_ctx_st *ctx, int port);
void tl_tls_close(struct ssl_st *ssl);
/* A server SSL_CTX with a fresh self-signed P-256 certificate for CN, made
 * in memory (no files); NULL on failure. */
struct ssl_ctx_st *tl_self_signed_server_ctx(const char *cn);
/* Only VERSION (TLS1_2_VERSION or TLS1_3_VERSION) and, of its suites,
 * only SUITE (an OpenSSL name) on CTX. 0 or -1. */
int tl_pin_suite(struct ssl_ctx_st *ctx, int version, const char *suite);

/* The processes whose parent is PID (at most MAX) into OUT; how many. */
int tl_children(pid_t pid, pid_t *out, int max);
/* The bytes of a ClientHello as OpenSSL's default client sends it (one
 * record) into BUF; its length, or -1. */
int tl_client_hello(unsigned char *buf, size_t cap);
/* The number KEY in `ktlsctl -s CONTROL --json COMMAND` (status, stats),
 * or -1 when ktlsctl fails or does not print it. */
long long tl_ctl_number(const char *control, const char *command, const char *key);

/* A counter of /proc/net/tls_stat (the kernel's kTLS statistics), or -1
 * when the file or the counter is missing (no tls module). */
long tl_tls_stat(const char *name);

#endif
