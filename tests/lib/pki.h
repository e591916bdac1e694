/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test PKI and openssl(1) peers for the certificate tests. The PKI is made
 * by tests/lib/pki.sh (run from the repository root) once per test binary,
 * in a temporary directory removed when the binary exits.
 */
#ifndef KTLSD_TEST_PKI_H
#define KTLSD_TEST_PKI_H

#include <sys/types.h>

#include "testlib.h"

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
/*
 * The two ways a test's own SSL meets a peer over loopback TCP; ARGS
 * (NULL-terminated) are the peer's further options. Both return our end
 * of the connection, with send and receive limits of TIMEOUT_MS, or -1
 * (what the peer said is in p->seen).
 */
/* "s_client -connect 127.0.0.1:PORT ARGS...", PORT a listener of ours. */
int pki_peer_client_of_us(struct pki_peer *p, const char *const args[],
			  int timeout_ms);
/* "s_server -accept PORT -naccept 1 ARGS...", connected to once it accepts. */
int pki_peer_server_for_us(struct pki_peer *p, const char *const args[],
			   int timeout_ms);
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
	const char *transport;		/* NULL: tls=1 */
};
/* Write C to PATH: the test PKI's server certificate and key and its root
 * CA at the Host level, one port. 0 or -1. */
int pki_write_port_conf(const char *path, const struct pki_port_conf *c);

/*
 * What most daemon fixtures start from: a private directory holding ktlsd's
 * configuration, log and control socket, the echo backend, and a port for
 * ktlsd to listen on in front of it.
 */
#define PKI_ECHO_PORT_MEMBERS \
	char *dir; \
	char conf[512], log[512], control[512]; \
	struct tl_proc echo, daemon; \
	int echo_port, port
struct pki_echo_port {
	PKI_ECHO_PORT_MEMBERS;
};
/*
 * The members of a fixture that holds them: its tests name them directly
 * (self->port, self->daemon), the helpers below take the whole as
 * &self->base. Two structures with the same members in a union: C lets
 * either be read through the other.
 */
#define PKI_ECHO_PORT_IN_FIXTURE \
	union { \
		struct pki_echo_port base; \
		struct { PKI_ECHO_PORT_MEMBERS; }; \
	}

/* The directory and file names, the echo backend and the port. 0 or -1. */
int pki_echo_port_prepare(struct pki_echo_port *e);
/* E's configuration: one secure port, "Echo:secure", in front of the echo,
 * and DAEMON_LINES (or NULL) in [ktlsd]. 0 or -1. */
int pki_echo_port_write_conf(const struct pki_echo_port *e, const char *daemon_lines);
/* Prepare, write the configuration and start ktlsd on it. 0 or -1. */
int pki_echo_port_start(struct pki_echo_port *e, const char *daemon_lines);
/* Stop ktlsd and the echo and remove the directory. ktlsd's exit status
 * as tl_stop() gives it: -1 if it was not running. */
int pki_echo_port_stop(struct pki_echo_port *e);

#endif
