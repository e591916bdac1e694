/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test PKI and openssl(1) peers for the certificate tests. The PKI is made
 * by tests/lib/pki.sh (run from the repository root) once per test binary,
 * in a temporary directory removed when the binary exits.
 */
#ifndef KTLSD_TEST_PKI_H
#define KTLSD_TEST_PKI_H

#include <sys/types.h>

/* The directory holding the PKI, generated on first call; NULL on error. */
const char *pki_dir(void);
/* "DIR/NAME" in one of a ring of static buffers (valid for 64 calls). */
const char *pki_file(const char *name);

/* A running openssl s_server / s_client. */
struct pki_peer {
	pid_t pid;
	int out_fd;		/* its stdout and stderr */
	int in_fd;		/* its stdin */
	char seen[16384];	/* everything read from out_fd so far */
	size_t seen_len;
};

/* Start "openssl ARGV..." (ARGV NULL-terminated, without "openssl"). */
int pki_peer_spawn(struct pki_peer *p, const char *const argv[]);
/* Read its output until NEEDLE shows up: 0, or -1 on EOF or timeout. */
int pki_peer_wait_for(struct pki_peer *p, const char *needle, int timeout_ms);
/* Stop it (SIGTERM) and reap it; safe to call twice. */
void pki_peer_stop(struct pki_peer *p);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int pki_free_port(void);

/* The ktlsd configuration most tests need: one secure port. */
struct pki_port_conf {
	const char *daemon_lines;	/* more [ktlsd] lines, or NULL */
	const char *control;		/* control-socket path */
	const char *cert;		/* certificate; NULL: server-chain.pem */
	const char *security_lines;	/* more [security] lines, or NULL */
	const char *port_name;		/* "Echo:secure" */
	int port;			/* listen = 127.0.0.1:PORT */
	int backend;			/* backend = 127.0.0.1:BACKEND */
};
/* Write C to PATH: the test PKI's server certificate and key and its root
 * CA at the Host level, one port with transport tls=1. 0 or -1. */
int pki_write_port_conf(const char *path, const struct pki_port_conf *c);

#endif
