/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The key holder: the only ktlsd process with private keys in memory.
 *
 * The privileged parent opens each key file (it never reads one) and hands
 * the descriptor to the key holder, which decodes the key and answers with
 * its public half. Handshakes sign through keyproxy.c, an OpenSSL provider
 * whose keys are those public halves: the signature operation hashes the
 * data where the handshake runs and sends only the digest to the key holder,
 * which checks the request and signs it.
 *
 * Its channels (the peer's death seen as EOF on each):
 *   load channel  a SOCK_SEQPACKET socketpair (one message per request,
 *                 descriptors attached), parent -> key holder: KH_LOAD
 *                 (with an fd), KH_UNLOAD, KH_ADD_SIGNER (with the key
 *                 holder's ends of a new sign channel: one per thread that
 *                 makes handshakes, up to KP_MAX_CHANNELS per process)
 *   sign channels two pipes, requests one way and answers the other:
 *                 handshakes -> key holder: KH_SIGN only (signchan.c is
 *                 the signer's side). A pipe costs the kernel less than an
 *                 AF_UNIX socket, which is the larger part of a round
 *                 trip's cost on one CPU. Every end is non-blocking. A
 *                 request has a fixed size; a worker sends the requests of
 *                 one event batch in one write and the key holder answers
 *                 what one read brought in one write, each at most
 *                 PIPE_BUF (so never split). Each answer echoes its
 *                 request's seq: answers are matched to requests by it,
 *                 and one its signer gave up on (KP_ANSWER_TIMEOUT_MS) is
 *                 dropped.
 * A request on the wrong channel is refused, so a compromised network
 * process can ask for signatures but cannot load or probe files.
 *
 * The messages are fixed-layout structs of fixed-width fields: both ends are
 * the same binary (the key holder is forked, never exec'd), and every
 * length is checked before use.
 */
#ifndef KTLSD_KEYHOLDER_H
#define KTLSD_KEYHOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/evp.h>

enum kh_msg_type {
	KH_LOAD = 1,		/* id, fd attached, payload: file name (text) */
	KH_UNLOAD,		/* id */
	KH_SIGN,		/* id, payload: struct kh_sign_req */
	KH_ADD_SIGNER,		/* fd attached: a new sign channel */
	KH_OK = 100,		/* payload: LOAD: SubjectPublicKeyInfo DER;
				 *          SIGN: the signature */
	KH_NOKEY,		/* LOAD: the file held no private key */
	KH_ERROR,		/* payload: a sentence (text) */
};

struct kh_hdr {
	uint32_t type;
	uint32_t id;		/* key id, chosen by the parent */
	uint32_t seq;		/* KH_SIGN: the signer's request number, echoed
				 * in the answer; 0 on the load channel */
	uint32_t len;		/* payload bytes after this header */
};

#define KH_MAX_DIGEST	64	/* SHA-512 */
#define KH_MAX_PAYLOAD	4096	/* DER public keys, RSA-8192 signatures */

struct kh_sign_req {
	char digest_name[16];	/* "SHA256", NUL-terminated */
	int32_t rsa_padding;	/* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
	int32_t pss_saltlen;	/* RSA_PSS_SALTLEN_DIGEST or a length */
	uint32_t tbs_len;	/* digest length */
	uint8_t tbs[KH_MAX_DIGEST];
};

/* A sign channel, as its signer holds it: -1 in both when there is none. */
struct kh_signer {
	int req;	/* write end of the request pipe */
	int ans;	/* read end of the answer pipe */
};

/* keyholder.c */
/*
 * Fork the key holder. It drops to UID/GID (no capabilities, no_new_privs,
 * not dumpable, seccomp) and serves LOAD_FD (from the parent) and the sign
 * channels added through it; every other descriptor is closed in it.
 * Returns its pid, or -1 with errno.
 */
pid_t keyholder_spawn(int load_fd, uid_t uid, gid_t gid);
/* Parent side: a new sign channel; its signer's ends in *OUT. 0 or -1. */
int keyholder_add_signer(int load_fd, struct kh_signer *out);
/*
 * Parent side: hand FD (a key file opened read-only; PATH names it in
 * messages) to the key holder as key ID. Returns the public half on success;
 * NULL with *no_key set when the file held no private key, or NULL with a
 * sentence in ERR.
 */
EVP_PKEY *keyholder_load(int load_fd, uint32_t id, int fd, const char *path,
			 bool *no_key, char *err, size_t errlen);
/* Parent side: forget key ID (its generation is gone). */
void keyholder_unload(int load_fd, uint32_t id);

/* keyproxy.c: the OpenSSL provider of keys held by the key holder */
/* Register the provider and make the default provider the preferred one
 * for everything else. Once per process, before any SSL_CTX is built. */
int keyproxy_init(void);
/* A key of the keyproxy provider: PUB's public half, signing through key
 * ID of the key holder. NULL on failure. */
EVP_PKEY *keyproxy_key(EVP_PKEY *pub, uint32_t id);
/*
 * The sign channels one process may use: one per worker thread up to this
 * many (more workers share them). The key holder serves at most this many
 * per network process (keyholder.c).
 */
#define KP_MAX_CHANNELS	16
/* A key holder that hangs must not hang a handshake for long. */
#define KP_ANSWER_TIMEOUT_MS	5000
/* Called with a key's id when OpenSSL frees the last reference to it. */
void keyproxy_set_release_hook(void (*hook)(uint32_t id));

/* signchan.c: the signer's side of the sign channels */
/* Where signing requests of the threads that use channel SLOT go from now
 * on (a sign channel; -1s: nowhere, a signature then fails and so does the
 * handshake that needs it). Waits for a signature in flight on it; the
 * batched ones still waiting fail (the worker resumes them when it next
 * calls signchan_batch_service). Returns the channel's previous
 * descriptors, for the caller to close (keyproxy_close_signer). */
struct kh_signer keyproxy_set_channel(unsigned int slot, struct kh_signer ch);
/* Close what CH holds. */
void keyproxy_close_signer(struct kh_signer ch);
/* In a child just forked: forget the parent's channels (closed in it
 * already) without closing anything. */
void keyproxy_forget_channels(void);
/* The calling thread signs on channel SLOT (modulo KP_MAX_CHANNELS), or on
 * channel 0 while SLOT has none. Threads that never call it use 0. */
void keyproxy_use_channel(unsigned int slot);
/* How long a signer waits for the key holder's answer (default
 * KP_ANSWER_TIMEOUT_MS); tests shorten it. Set before signing starts. */
void keyproxy_set_answer_timeout(int ms);
/* keyproxy.c's signature: the digest in BODY with key REQ->id, into SIG
 * (SIGSIZE bytes). Batched when the calling thread began batching and runs
 * an async job, a blocking round trip otherwise. 1, or 0 on failure. */
int signchan_sign(struct kh_hdr *req, const struct kh_sign_req *body,
		  unsigned char *sig, size_t *siglen, size_t sigsize);
/*
 * Batched signing, for a worker thread whose channel is its own (its slot
 * below KP_MAX_CHANNELS). From now on a signature asked for in an OpenSSL
 * async job of this thread is queued and the job paused; the SSL call
 * returns SSL_ERROR_WANT_ASYNC. READY(owner) is called, on this thread,
 * when the handshake can go on: resuming its SSL call finishes the
 * signature (made, or failed). OWNER is what signchan_set_owner() named
 * when the signature was asked for.
 */
void signchan_batch_begin(void (*ready)(void *owner));
/* Handshakes a worker keeps paused at once; more sign one at a time. A
 * batch of the key holder's holds PIPE_BUF / 108 = 37 of them. */
#define SC_MAX_JOBS	64
/* The handshake the calling worker's next SSL call runs for. */
void signchan_set_owner(void *owner);
/* The answer pipe to watch for input (-1: none now); *EPOCH changes with
 * the channel, and the worker then watches the new one. */
int signchan_batch_fd(unsigned int *epoch);
/* Before the worker waits for events: fail the waits past their time,
 * send the queued requests in one write, resume what is done. Returns the
 * channel's epoch (signchan_batch_fd). */
unsigned int signchan_batch_service(void);
/* The answer pipe has input: read the answers and resume their
 * handshakes. -1 when the key holder has gone (stop watching the pipe:
 * its end of file stays readable), else 0. */
int signchan_batch_collect(void);
/* The worker stops: every signature it waits for fails, its handshakes
 * are resumed (and end). */
void signchan_batch_abandon(void);

#endif
