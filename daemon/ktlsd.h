/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsd's private interfaces between the runtime files (workers, sessions,
 * handshake, forwarding). Each file's exports are listed under its name.
 * Configuration, credentials and key handoff have their own headers
 * (config.h, ktls.h).
 */
#ifndef KTLSD_KTLSD_H
#define KTLSD_KTLSD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/ssl.h>
#include <ktlsd/addr_text.h>

#include "config.h"

struct session;
struct redirect_plan;

/*
 * Where a connection comes from, as the per-source limit counts it: an
 * IPv4 address, or the /64 prefix of an IPv6 address (one host or one
 * customer: a single IPv6 client has a whole /64 to pick addresses from).
 */
/* A worker's list of sessions without a complete ClientHello. */
struct adm_fifo {
	struct session *head, *tail;
};

struct adm_source {
	uint64_t addr;		/* IPv4 address, or the top 64 bits of IPv6 */
	bool v6;
	bool known;		/* an IP peer (not a local application) */
	bool counted;		/* holds a slot in admission.c's table */
};

/* What an epoll event points at. */
enum ev_kind { EV_LISTENER = 1, EV_CLIENT, EV_BACKEND, EV_TIMER, EV_WAKE,
	       EV_SIGN /* answers from the key holder (signchan.c) */,
	       EV_CLOSED /* a session closed earlier in the same epoll batch */ };

struct ev_handle {
	enum ev_kind kind;
	void *obj;	/* struct listener_slot or struct session */
};

/* One listening socket of one worker (SO_REUSEPORT: each worker has its own). */
struct listener_slot {
	struct ev_handle h;
	int fd;
	int port_index;		/* into gen->cfg->ports; -1: find by getsockname;
				 * -2: redirect listener (redirect.h) */
	struct cfg_addr addr;
};

/*
 * A worker thread: one epoll loop owning its listeners and every session it
 * accepted. Nothing of a session is touched by another thread except the
 * session list and the records (under ->lock) and the atomic counters.
 */
struct worker {
	int id;
	pthread_t thread;
	bool started;			/* thread runs: join it at stop */
	int epfd;
	int timerfd;			/* 1 s tick for handshake/idle timeouts */
	int wakefd;			/* eventfd: reload or stop */
	struct ev_handle timer_h, wake_h, sign_h;
	bool batching;			/* signs in batches (signchan.c) */
	int sign_fd;			/* answer pipe watched; -1: none */
	unsigned int sign_epoch;	/* of the channel sign_fd came from */
	struct generation *gen;		/* the generation its listeners follow */
	struct listener_slot *lsn;
	int n_lsn;
	int n_handshakes;
	int n_sessions;
	unsigned long trimmed_at;	/* handshakes done at the last trim */
	struct session *hs_head, *hs_tail;	/* handshakes, oldest first */
	/* The subset of them whose peer has not completed a ClientHello,
	 * the first to go when a slot is needed (admission.c): "quiet" ones
	 * have not sent a whole first record and hold no TLS state (oldest
	 * first), "speaking" ones do (in the order their record came). */
	struct adm_fifo quiet, speaking;
	int n_tls_handshakes;		/* unfinished, holding TLS state */
	bool accept_paused;		/* listeners out of epoll: no fds left */
	struct session *sessions;		/* every session, for the ctl */
	struct session *graveyard;		/* closed, freed after the batch */
	/* Guards ->sessions and ->prev/->next of each session on it, and
	 * every session's ->rec (see struct session_record): the worker
	 * writes them under it, the control side reads them under it. The
	 * rest of struct worker is the worker thread's own, except ->stop. */
	pthread_mutex_t lock;
	atomic_bool stop;
	atomic_bool draining;		/* close the listeners, keep sessions */
	unsigned char scratch[16640];		/* control records, one at a time */
};

/*
 * A generation: one loaded configuration with an SSL_CTX per secure port.
 * Reload builds a new generation and swaps the pointer; sessions keep a
 * reference to the generation they started under, so established sessions
 * are untouched and the old one is freed when its last session ends.
 */
struct generation {
	atomic_int refs;
	struct ktlsd_config *cfg;
	SSL_CTX **port_ctx;		/* one per cfg->ports[i] */
	SSL_CTX **conn_ctx;		/* one per cfg->conns[i] (client side) */
	struct redirect_plan *redirect;	/* what connects are redirected */
	time_t loaded_at;
};

/*
 * Process-wide state shared by the main thread and the workers. Only ->gen
 * changes while workers run (under ->gen_lock); the rest is written by the
 * main thread before workers_start() and only read after it (thread
 * creation orders the writes before every worker's reads).
 */
struct daemon_state {
	_Atomic(struct generation *) gen;	/* current generation */
	pthread_mutex_t gen_lock;		/* serialises swaps and gets */
	bool ktls_available;			/* the kernel offers the tls ULP */
	char ktls_why[160];			/* why not, when it does not */
	time_t started_at;
	struct worker **workers;	/* this process's (network process) */
	int n_workers;
	int workers_per_process;	/* what each network process runs */
	const char *config_path;
};

extern struct daemon_state g_daemon;

/*
 * Session counters, updated by the workers of every network process, read
 * by the parent's control side. One page of its own, which the parent maps
 * shared before it forks anything (counters_share): atomics in a MAP_SHARED
 * page are atomic across processes too.
 */
struct __attribute__((aligned(4096))) daemon_counters {
	atomic_ulong accepted;
	atomic_ulong handshakes_ok;
	atomic_ulong handshakes_failed;
	atomic_ulong handshake_timeouts;
	atomic_ulong refused_handshake_cap;
	atomic_ulong refused_session_cap;
	atomic_ulong backend_failed;
	atomic_ulong sessions_ktls;
	atomic_ulong sessions_userspace;
	atomic_ulong bytes_to_backend;
	atomic_ulong bytes_to_client;
	atomic_ulong keyupdate_closed;
	atomic_ulong reset_before_backend;
	atomic_ulong refused_per_source;	/* max-handshakes-per-source */
	atomic_ulong evicted_no_hello;		/* made room for a newcomer */
	atomic_ulong hello_timeouts;		/* hello-timeout passed */
};

extern struct daemon_counters g_counters;

enum session_mode { MODE_HANDSHAKE = 0, MODE_KTLS, MODE_USERSPACE };

/*
 * How a session ended: the access log's end= (access_log.c has the words),
 * and whether the end is logged at info. END_NONE: not known yet.
 */
enum session_end {
	END_NONE = 0,
	END_CLOSE,		/* both directions finished: a clean close */
	END_RESET,		/* the TLS peer reset the connection */
	END_TIMEOUT,		/* handshake-timeout */
	END_IDLE,		/* idle-timeout */
	END_HANDSHAKE,		/* the handshake failed (reason) */
	END_CONNECT,		/* the backend or server could not be reached */
	END_KEYUPDATE,		/* kTLS: TLS 1.3 KeyUpdate the kernel cannot follow */
	END_DRAIN,		/* the daemon stopped (or drained) the session */
	END_ERROR,		/* a record or I/O error after the handshake (reason) */
	/* Admission (admission.c) closed it before a complete ClientHello:
	 * counted and logged there, at most a line a second, and not written
	 * to the access log (a flood must not become a flood of entries). */
	END_EVICTED,		/* made room for a newcomer */
	END_HELLO_TIMEOUT,	/* hello-timeout */
	END_REFUSED,		/* no handshake slot for its ClientHello */
};

/*
 * What the control side shows for a session (ktlsctl sessions). Written
 * only by the worker that owns the session; the control side (main thread)
 * reads it under that worker's ->lock. So once the session is on the
 * worker's list, the worker writes every field under ->lock too (except
 * the atomic byte counts), and reads them without it.
 */
struct session_record {
	char application[64];
	char port[96];
	char peer[64];			/* "[addr]:port" */
	char peer_subject[256];		/* peer certificate subject or "" */
	char sni[256];			/* server name asked for (sent, client side) */
	char version[16];		/* "TLSv1.3" */
	char cipher[64];		/* OpenSSL's name */
	char mode_why[160];		/* why userspace, when it is */
	enum session_mode mode;
	atomic_ullong bytes_in;		/* client -> backend, plaintext */
	atomic_ullong bytes_out;	/* backend -> client, plaintext */
	time_t started;
};

/* One direction of plaintext: client -> backend ("up") or back ("down"). */
struct flow {
	int pipe[2];			/* kTLS mode: spliced bytes in flight */
	unsigned char *buf;		/* userspace mode: bytes in flight */
	size_t off;			/* userspace mode: next byte to write */
	size_t buffered;		/* bytes in the pipe or buf */
	bool src_ready;			/* not known to be empty (no EAGAIN yet) */
	bool dst_ready;			/* not known to be full */
	bool src_eof;			/* end of stream seen at the source */
	bool dst_shut;			/* end of stream passed on */
	bool ssl_wants_write;		/* userspace SSL_read needs EPOLLOUT */
	bool ssl_wants_read;		/* userspace SSL_write needs EPOLLIN */
};

enum session_state { ST_HANDSHAKE, ST_CONNECTING, ST_FORWARD };

struct session {
	struct worker *w;
	struct generation *gen;
	int port_index;			/* server side: into cfg->ports, else -1 */
	int conn_index;			/* client side: into cfg->conns, else -1 */
	enum session_state state;
	int cfd;			/* TLS side */
	int bfd;			/* plaintext backend side */
	struct ev_handle hc, hb;
	uint32_t cmask, bmask;		/* epoll interest currently registered */
	SSL *ssl;			/* freed after a kTLS handoff */
	time_t deadline;		/* monotonic seconds; 0 = none */
	time_t last_active;		/* monotonic seconds, for idle-timeout */
	struct session *hs_prev, *hs_next;	/* worker's handshake FIFO */
	/* Its handshake is paused in an async job until the key holder's
	 * answer is in (signchan.c): its SSL must not be freed until then,
	 * so a close meanwhile only marks it closing. */
	bool signing, closing;
	/* Until the peer's ClientHello is complete (admission.c). */
	struct adm_fifo *fifo;		/* w->quiet, w->speaking or NULL */
	struct session *hello_prev, *hello_next;
	time_t hello_deadline;		/* monotonic seconds */
	int rcvlowat;			/* SO_RCVLOWAT asked for; 0 = default */
	bool tls_slot;			/* counts in w->n_tls_handshakes */
	struct adm_source src;
	struct session *prev, *next;		/* worker's session list */
	struct flow up, down;
	struct session_record rec;
	struct timespec begun;		/* CLOCK_MONOTONIC, for the duration */
	enum session_end end;		/* the first end noted wins */
	char end_reason[192];
};

/* main.c */
/* Something the main thread's epoll loop watches (signals, control). */
struct main_source {
	void (*cb)(struct main_source *src, uint32_t events);
	int fd;
};
int mainloop_add(struct main_source *src, uint32_t events);
void mainloop_del(struct main_source *src);
/* Re-read the configuration; errors go to DIAG. 0, or -1 if refused (the
 * running configuration then stays in force). */
int daemon_reload(FILE *diag);

/* admission.c */
/*
 * Decide on a connection just accepted from PEER (NULL: a local
 * application's redirected connect, which needs a handshake slot at once
 * and is exempt from the per-source limit): true if it may start, its
 * source in *SRC; false if it is refused (counted and logged). May close
 * W's oldest connection that has not completed a ClientHello to make room.
 */
bool admission_admit(struct worker *w, const struct sockaddr *peer,
		     const char *port, struct adm_source *src);
/* Close W's oldest connection without a complete ClientHello (quiet ones
 * first) to make room for a newcomer (counted; WHY goes in the log
 * line); false if there is none. */
bool admission_evict(struct worker *w, const char *why);
/* The source of PEER: its IPv4 address (also when v4-mapped) or IPv6 /64. */
void admission_source_of(const struct sockaddr *peer, struct adm_source *src);
/* Take one of SRC's LIMIT slots (all workers together): 0, or -1 when it
 * holds them all (or out of memory: refusing one connection is then the
 * kind answer). */
int admission_source_take(struct adm_source *src, int limit);
/* Give back SRC's per-source slot (the handshake ended either way). */
void admission_release(struct adm_source *src);
/* Put a new server session on its worker's quiet FIFO. */
void admission_hello_start(struct session *s, time_t now);
/* S's peer completed its ClientHello: off the FIFOs. */
void admission_hello_done(struct session *s);
/* S's handshake ended either way: give back everything admission holds. */
void admission_handshake_end(struct session *s);
/* S needs TLS state (its first record is here): take its per-source slot
 * and a handshake slot, making room by closing the oldest connection that
 * holds TLS state without a complete ClientHello. false if refused
 * (counted, logged). */
bool admission_tls_admit(struct session *s);
/* The same, the room already checked (a redirected connect). */
void admission_tls_take(struct session *s);
/* 1 when the peer's first TLS record is all here (or it will never be:
 * EOF, error, not TLS) and an SSL object is worth creating, 0 to wait. */
int admission_hello_ready(struct session *s);
/* Close the sessions whose hello-timeout has passed. */
void admission_check_timeouts(struct worker *w, time_t now);
/* Why a connection was refused, evicted or timed out, for the log. */
enum adm_reason { ADM_CAP, ADM_SESSION_CAP, ADM_SOURCE, ADM_EVICTED,
		  ADM_HELLO_TIMEOUT, ADM_HANDSHAKE_TIMEOUT, ADM_NOFILE,
		  ADM__COUNT };
/* An info line, at most one a second per REASON; the lines held back
 * are counted in the next one. */
void admission_log(enum adm_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* control.c */
/* Open the control socket ([ktlsd] control-socket) and watch it. */
int control_start(const struct ktlsd_config *cfg);
void control_stop(void);

/* forward.c */
int forward_start(struct session *s);
/* Move what can be moved both ways; returns 1 when the session is
 * finished, -1 on error (logged), 0 to wait for more events. */
int forward_pump(struct session *s);
void forward_free(struct session *s);

/* generation.c */
/* Make g_counters one page shared with every process forked afterwards. */
int counters_share(void);
struct generation *generation_build(const char *path, FILE *diag);
struct generation *generation_get(void);	/* takes a reference */
void generation_put(struct generation *gen);
void generation_install(struct generation *gen);	/* becomes current */

/* listener.c */
/* Bind and listen on ADDR. */
int listener_open(const struct cfg_addr *addr, char *why, size_t len);
/* Parent: make sure a socket listens on every address of CFG's own ports,
 * keeping the ones already open. On failure nothing changed and ERR names
 * the port, the address and the reason. */
int listeners_open_for(const struct ktlsd_config *cfg, char *err, size_t errlen);
/* Parent: close the sockets the last listeners_open_for did not list. */
void listeners_close_unwanted(void);
void listeners_close_all(void);
/* The table's socket for ADDR, or -1. */
int listeners_fd(const struct cfg_addr *addr);
/* Every socket of the table, for a network process to keep. */
int listeners_fds(int *out, int max);
/* Same address family, address and port (slots are kept across reloads). */
bool listener_same_addr(const struct cfg_addr *a, const struct cfg_addr *b);
/*
 * Sockets every worker accepts from (steering and redirect listeners): add
 * a slot per FDS[i] to SLOTS, reusing W's current slot for the same
 * address and PORT_INDEX, else a dup of FDS[i]. Returns how many.
 */
int listener_share(struct worker *w, struct listener_slot *slots,
		   const int *fds, const struct cfg_addr *addrs, int n,
		   int port_index);

/* worker.c */
int workers_start(int n);
void workers_stop(void);
/* Stop accepting; the sessions held run to their end. */
void workers_drain(void);
/* Established sessions (and, in *HANDSHAKES, handshakes) right now. */
unsigned int workers_count_sessions(unsigned int *handshakes);
/* Sign channel SLOT was replaced (a new key holder): its worker watches
 * the new one and resumes the handshakes that waited on the old. */
void workers_sign_channel_changed(unsigned int slot);

/* session.c */
/* Takes over FD; SRC is where it comes from. */
struct session *session_new(struct worker *w, int fd, struct generation *gen,
			    int port_index, const struct sockaddr *peer,
			    const struct adm_source *src);
/* Client side: APP_FD is an application's redirected connection; open TLS
 * to SERVER with the settings of GEN's connection CONN_INDEX. */
struct session *session_new_client(struct worker *w, int app_fd,
				   struct generation *gen, int conn_index,
				   const struct cfg_addr *server);
/*
 * End S: note END with a reason (printf FMT, may be NULL) unless an end was
 * noted before, log it at info (warning where the operator must act) when
 * it is not a clean close, write the access-log entry and free everything.
 */
void session_close(struct session *s, enum session_end end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Note how S is ending, for session_close; the first note wins. */
void session_note_end(struct session *s, enum session_end end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Free the sessions closed during the last epoll batch. */
void session_reap(struct worker *w);
void session_event(struct session *s, int which, uint32_t events);
/* signchan.c's ready callback: the signature OWNER's handshake waited for
 * is in (or failed); its handshake goes on. */
void session_signature_ready(void *owner);
void session_check_timeouts(struct worker *w, struct timespec *now);
/* Register the wanted epoll interest for both sockets (only on change). */
void session_set_interest(struct session *s, uint32_t cmask, uint32_t bmask);

#endif
