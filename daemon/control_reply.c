// SPDX-License-Identifier: GPL-2.0
/*
 * Control replies: run one decoded request against the daemon state and
 * queue the reply packets (libnl messages, NLM_F_MULTI, then NLMSG_DONE).
 * Only what an operator may see leaves the daemon: names, addresses,
 * counters and configuration text, never key material.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "ktlsd.h"
#include "control.h"
#include "netproc.h"

void ctl_outq_free(struct ctl_outq *q)
{
	while (q->head) {
		struct ctl_packet *p = q->head;

		q->head = p->next;
		free(p);
	}
	memset(q, 0, sizeof(*q));
}

void ctl_outq_push_raw(struct ctl_outq *q, const void *data, size_t len)
{
	struct ctl_packet *p;

	if (q->bytes + len > CTL_OUTQ_CAP || !(p = malloc(sizeof(*p) + len))) {
		q->truncated = true;
		return;
	}
	p->next = NULL;
	p->len = len;
	memcpy(p->data, data, len);
	if (q->tail)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	q->bytes += len;
}

/* Copy MSG into the queue and free it. Past the cap the packet is
 * dropped and the reply marked truncated (said in NLMSG_DONE). */
void ctl_outq_push(struct ctl_outq *q, struct nl_msg *msg, bool force)
{
	struct nlmsghdr *h;
	struct ctl_packet *p;

	if (!msg) {
		q->truncated = true;
		return;
	}
	h = nlmsg_hdr(msg);
	if (!force && q->bytes + h->nlmsg_len > CTL_OUTQ_CAP) {
		q->truncated = true;
		nlmsg_free(msg);
		return;
	}
	p = malloc(sizeof(*p) + h->nlmsg_len);
	if (!p) {
		q->truncated = true;
		nlmsg_free(msg);
		return;
	}
	p->next = NULL;
	p->len = h->nlmsg_len;
	memcpy(p->data, h, h->nlmsg_len);
	if (q->tail)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	q->bytes += p->len;
	nlmsg_free(msg);
}

struct nl_msg *ctl_part_new(const struct ctl_request *req)
{
	struct nl_msg *msg = nlmsg_alloc_size(CTL_REPLY_MAX);

	if (msg && !nlmsg_put(msg, NL_AUTO_PORT, req->seq, req->type, 0, NLM_F_MULTI)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static void put_done(const struct ctl_request *req, struct ctl_outq *q)
{
	struct nl_msg *msg = nlmsg_alloc_size(256);

	if (msg && !nlmsg_put(msg, NL_AUTO_PORT, req->seq, NLMSG_DONE, 0, NLM_F_MULTI)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	if (msg && q->truncated)
		nla_put_u8(msg, CTL_A_TRUNCATED, 1);
	ctl_outq_push(q, msg, true);
}

void ctl_reply_error(struct ctl_outq *q, uint32_t seq, int err,
		     const char *text)
{
	struct nl_msg *msg = nlmsg_alloc_simple(CTL_MSG_ERROR, 0);

	if (!msg)
		return;
	nlmsg_hdr(msg)->nlmsg_seq = seq;
	if (nla_put_u32(msg, CTL_A_ERRNO, (uint32_t)err) < 0 ||
	    nla_put_string(msg, CTL_A_ERROR, text) < 0) {
		nlmsg_free(msg);
		return;
	}
	ctl_outq_push(q, msg, true);
}

/* A string from a session record another thread may be writing: bounded,
 * always terminated. */
static int put_field(struct nl_msg *msg, int attr, const char *field, size_t size)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%.*s", (int)strnlen(field, size), field);
	return nla_put_string(msg, attr, tmp);
}

struct session_counts {
	unsigned int sessions, handshakes;
};

/* The sessions live in the network processes (netproc.c). */
static struct session_counts count_sessions(void)
{
	struct session_counts c = { 0, 0 };

	c.sessions = netproc_active() ? netproc_count(&c.handshakes) :
		     workers_count_sessions(&c.handshakes);
	return c;
}

static void reply_status(const struct ctl_request *req, struct ctl_outq *q)
{
	struct nl_msg *msg = ctl_part_new(req);
	struct generation *gen = generation_get();
	struct session_counts c = count_sessions();
	int err = 0;

	if (!msg) {
		generation_put(gen);
		return;
	}
	err |= nla_put_u32(msg, CTL_A_PROTO_VERSION, CTL_PROTO_VERSION);
	err |= nla_put_string(msg, CTL_A_DAEMON_VERSION, KTLSD_VERSION);
	err |= nla_put_u64(msg, CTL_A_STARTED, (uint64_t)g_daemon.started_at);
	err |= nla_put_u64(msg, CTL_A_NOW, (uint64_t)time(NULL));
	err |= nla_put_u8(msg, CTL_A_KTLS_AVAILABLE, g_daemon.ktls_available);
	if (!g_daemon.ktls_available)
		err |= put_field(msg, CTL_A_KTLS_WHY, g_daemon.ktls_why,
				 sizeof(g_daemon.ktls_why));
	err |= nla_put_string(msg, CTL_A_CONFIG_PATH,
			      g_daemon.config_path ? g_daemon.config_path : "");
	if (gen) {
		err |= nla_put_u64(msg, CTL_A_CONFIG_LOADED, (uint64_t)gen->loaded_at);
		err |= nla_put_u32(msg, CTL_A_N_PORTS, (uint32_t)gen->cfg->n_ports);
	}
	err |= nla_put_u32(msg, CTL_A_WORKERS, (uint32_t)g_daemon.workers_per_process);
	err |= nla_put_u32(msg, CTL_A_N_SESSIONS, c.sessions);
	err |= nla_put_u32(msg, CTL_A_N_HANDSHAKES, c.handshakes);
	generation_put(gen);
	if (err) {
		nlmsg_free(msg);
		msg = NULL;
	}
	ctl_outq_push(q, msg, false);
}

/* --port matches a port name or an application name; --peer an address,
 * with or without its port. */
static bool session_matches(const struct ctl_request *req,
			    const struct session_record *rec)
{
	if (req->filter_port[0] &&
	    strncmp(req->filter_port, rec->port, sizeof(rec->port)) &&
	    strncmp(req->filter_port, rec->application, sizeof(rec->application)))
		return false;
	if (req->filter_peer[0]) {
		size_t n = strlen(req->filter_peer);
		const char *peer = rec->peer;
		/* "[::1]:4433" matches "::1", "[::1]" and the full text */
		if (peer[0] == '[' && req->filter_peer[0] != '[')
			peer++;
		if (strncmp(peer, req->filter_peer, n) ||
		    (peer[n] && peer[n] != ':' && peer[n] != ']'))
			return false;
	}
	return true;
}

static void reply_one_session(const struct ctl_request *req, struct ctl_outq *q,
			      const struct session_record *rec)
{
	struct nl_msg *msg = ctl_part_new(req);
	int err = 0;

	if (!msg) {
		q->truncated = true;
		return;
	}
#define FIELD(attr, f) put_field(msg, attr, rec->f, sizeof(rec->f))
	err |= FIELD(CTL_A_S_PEER, peer);
	err |= FIELD(CTL_A_S_PORT, port);
	err |= FIELD(CTL_A_S_APPLICATION, application);
	err |= FIELD(CTL_A_S_TLS_VERSION, version);
	err |= FIELD(CTL_A_S_CIPHER, cipher);
	err |= FIELD(CTL_A_S_MODE_WHY, mode_why);
	err |= FIELD(CTL_A_S_PEER_SUBJECT, peer_subject);
#undef FIELD
	err |= nla_put_u8(msg, CTL_A_S_MODE, rec->mode == MODE_KTLS ? CTL_MODE_KTLS :
			  rec->mode == MODE_USERSPACE ? CTL_MODE_USERSPACE :
			  CTL_MODE_HANDSHAKE);
	err |= nla_put_u64(msg, CTL_A_S_BYTES_IN, atomic_load(&rec->bytes_in));
	err |= nla_put_u64(msg, CTL_A_S_BYTES_OUT, atomic_load(&rec->bytes_out));
	err |= nla_put_u64(msg, CTL_A_S_STARTED, (uint64_t)rec->started);
	if (err) {
		nlmsg_free(msg);
		msg = NULL;
	}
	ctl_outq_push(q, msg, false);
}

static void reply_sessions(const struct ctl_request *req, struct ctl_outq *q)
{
	if (netproc_active())
		netproc_sessions(req, q);
	else
		ctl_reply_sessions_local(req, q);
}

void ctl_reply_sessions_local(const struct ctl_request *req, struct ctl_outq *q)
{
	for (int i = 0; i < g_daemon.n_workers && !q->truncated; i++) {
		struct worker *w = g_daemon.workers[i];

		if (!w)
			continue;
		/* The list lock keeps each session alive while it is copied;
		 * the copy is bounded, so the worker waits microseconds. */
		pthread_mutex_lock(&w->lock);
		for (struct session *s = w->sessions; s && !q->truncated; s = s->next)
			if (session_matches(req, &s->rec))
				reply_one_session(req, q, &s->rec);
		pthread_mutex_unlock(&w->lock);
	}
}

/* TEXT in CTL_TEXT_CHUNK pieces, then the result. */
static void reply_text(const struct ctl_request *req, struct ctl_outq *q,
		       const char *text, size_t len, uint32_t result)
{
	char piece[CTL_TEXT_CHUNK + 1];
	struct nl_msg *msg;

	for (size_t off = 0; off < len && !q->truncated; off += CTL_TEXT_CHUNK) {
		size_t n = len - off < CTL_TEXT_CHUNK ? len - off : CTL_TEXT_CHUNK;

		memcpy(piece, text + off, n);
		piece[n] = '\0';
		msg = ctl_part_new(req);
		if (msg && nla_put_string(msg, CTL_A_TEXT, piece) < 0) {
			nlmsg_free(msg);
			msg = NULL;
		}
		ctl_outq_push(q, msg, false);
	}
	msg = ctl_part_new(req);
	if (msg && nla_put_u32(msg, CTL_A_RESULT, result) < 0) {
		nlmsg_free(msg);
		msg = NULL;
	}
	ctl_outq_push(q, msg, true);
}

static void reply_reload(const struct ctl_request *req, struct ctl_outq *q)
{
	char *text = NULL;
	size_t len = 0;
	FILE *diag = open_memstream(&text, &len);
	int rc;

	if (!diag) {
		ctl_reply_error(q, req->seq, ENOMEM, "out of memory");
		return;
	}
	rc = daemon_reload(diag);
	if (rc < 0)
		fprintf(diag, "reload refused: the running configuration stays in force\n");
	fclose(diag);
	reply_text(req, q, text ? text : "", text ? len : 0, rc < 0 ? 1 : 0);
	free(text);
}

static void reply_explain(const struct ctl_request *req, struct ctl_outq *q)
{
	struct generation *gen = generation_get();
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int rc = -1;

	if (!gen) {
		ctl_reply_error(q, req->seq, ENOENT, "no configuration loaded");
		return;
	}
	out = open_memstream(&text, &len);
	if (!out) {
		generation_put(gen);
		ctl_reply_error(q, req->seq, ENOMEM, "out of memory");
		return;
	}
	/* policy_explain() itself says when no port or connection matches. */
	rc = policy_explain(gen->cfg, req->name[0] ? req->name : NULL, out);
	fclose(out);
	generation_put(gen);
	reply_text(req, q, text ? text : "", text ? len : 0, rc < 0 ? 1 : 0);
	free(text);
}

void ctl_reply(const struct ctl_request *req, struct ctl_outq *q)
{
	switch (req->type) {
	case CTL_MSG_STATUS:
		reply_status(req, q);
		break;
	case CTL_MSG_SESSIONS:
		reply_sessions(req, q);
		break;
	case CTL_MSG_STATS:
		ctl_reply_stats(req, q);
		break;
	case CTL_MSG_RELOAD:
		reply_reload(req, q);
		break;
	case CTL_MSG_EXPLAIN:
		reply_explain(req, q);
		break;
	default:
		ctl_reply_error(q, req->seq, EOPNOTSUPP, "unknown request type");
		return;
	}
	put_done(req, q);
}
