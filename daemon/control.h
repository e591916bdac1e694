/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket's internals, split so the request decoder can be
 * fuzzed on its own: control_decode.c (bytes -> struct ctl_request, no
 * daemon state), control_reply.c (request -> reply packets, reads the
 * daemon state), control.c (socket, peers, non-blocking I/O).
 */
#ifndef KTLSD_CONTROL_H
#define KTLSD_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <ktlsd/ctl.h>

struct nl_msg;

struct ctl_request {
	uint16_t type;			/* CTL_MSG_* */
	uint32_t seq;
	char filter_port[96];		/* SESSIONS; "" = any */
	char filter_peer[64];
	char name[128];			/* EXPLAIN; "" = all */
};

/* control_decode.c */
/*
 * Decode one received packet of LEN bytes. 0 on success; otherwise a
 * negative errno (-EBADMSG malformed or truncated, -EMSGSIZE oversized,
 * -EPROTO wrong protocol version, -EOPNOTSUPP unknown type) with a
 * sentence in ERR. Never reads outside BUF.
 */
int ctl_request_decode(const void *buf, size_t len, struct ctl_request *req,
		       char *err, size_t errlen);

/* control_reply.c */
/* Reply packets waiting to be sent, in order, with a cap on their total. */
struct ctl_packet {
	struct ctl_packet *next;
	size_t len;
	unsigned char data[];
};

struct ctl_outq {
	struct ctl_packet *head, *tail;
	size_t bytes;
	bool truncated;		/* something was dropped at the cap */
};

#define CTL_OUTQ_CAP (8u << 20)

void ctl_outq_free(struct ctl_outq *q);
/* Queue a CTL_MSG_ERROR reply (ERR a positive errno). */
void ctl_reply_error(struct ctl_outq *q, uint32_t seq, int err,
		     const char *text);
/* Queue a packet built elsewhere (a network process's reply). */
void ctl_outq_push_raw(struct ctl_outq *q, const void *data, size_t len);
/* This process's sessions matching REQ's filters, one packet each. */
void ctl_reply_sessions_local(const struct ctl_request *req, struct ctl_outq *q);
/* Run REQ and queue its whole reply, NLMSG_DONE included. */
void ctl_reply(const struct ctl_request *req, struct ctl_outq *q);
/* A reply message of REQ's type (NLM_F_MULTI) with room for
 * CTL_REPLY_MAX bytes, or NULL. */
struct nl_msg *ctl_part_new(const struct ctl_request *req);
/* Queue MSG and free it; NULL marks the reply truncated. FORCE queues it
 * past CTL_OUTQ_CAP (the reply's last message). */
void ctl_outq_push(struct ctl_outq *q, struct nl_msg *msg, bool force);

/* control_stats.c */
/* Queue the STATS reply's messages (not NLMSG_DONE). */
void ctl_reply_stats(const struct ctl_request *req, struct ctl_outq *q);

#endif
