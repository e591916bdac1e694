// SPDX-License-Identifier: GPL-2.0
/*
 * The STATS reply: the daemon's counters, the kernel's kTLS statistics
 * (/proc/net/tls_stat, read here rather than by ktlsctl so that a client in
 * a container with another /proc sees the daemon's network namespace) and
 * the per-port counters of the eBPF port takeover.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <ktlsd/steer.h>

#include "ktlsd.h"
#include "control.h"
#include "redirect.h"
#include "steer.h"

/* /proc/net is a link to self/net; the unit's ProcSubset=pid hides the
 * link but not the process's own directory. */
#define TLS_STAT_PATH "/proc/self/net/tls_stat"
/* Bounds that keep the first message under CTL_REPLY_MAX: 6.12 has 14
 * lines with names under 24 characters. */
#define KSTAT_MAX_LINES 48
#define KSTAT_NAME_MAX 48
/* Steered ports per message: 36 bytes each, well under CTL_REPLY_MAX. */
#define STEER_PORTS_PER_MSG 128

/* A counter name goes into JSON keys and Prometheus label values as is:
 * accept the kernel's alphabet only. */
static bool kstat_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* CTL_A_KSTATS with every well-formed line of the file, or
 * CTL_A_KSTATS_WHY saying why there is none. */
static int put_kernel_tls_stat(struct nl_msg *msg)
{
	FILE *f = fopen(TLS_STAT_PATH, "re");
	char line[256], name[KSTAT_NAME_MAX + 1];
	unsigned long long value;
	struct nlattr *list, *one;
	int n = 0;

	if (!f)
		/* Without the tls module the file does not exist. */
		return nla_put_string(msg, CTL_A_KSTATS_WHY, errno == ENOENT ?
				      "no tls module" : strerror(errno));
	list = nla_nest_start(msg, CTL_A_KSTATS);
	if (!list) {
		fclose(f);
		return -1;
	}
	while (n < KSTAT_MAX_LINES && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%48s %llu", name, &value) != 2 || !kstat_name_ok(name))
			continue;
		one = nla_nest_start(msg, CTL_A_KSTAT);
		if (!one || nla_put_string(msg, CTL_A_KSTAT_NAME, name) < 0 ||
		    nla_put_u64(msg, CTL_A_KSTAT_VALUE, value) < 0) {
			fclose(f);
			return -1;
		}
		nla_nest_end(msg, one);
		n++;
	}
	fclose(f);
	nla_nest_end(msg, list);
	return 0;
}

static int put_daemon_counters(struct nl_msg *msg)
{
	const atomic_ulong *c[CTL_C__COUNT] = {
		[CTL_C_ACCEPTED] = &g_counters.accepted,
		[CTL_C_HANDSHAKES_OK] = &g_counters.handshakes_ok,
		[CTL_C_HANDSHAKES_FAILED] = &g_counters.handshakes_failed,
		[CTL_C_HANDSHAKE_TIMEOUTS] = &g_counters.handshake_timeouts,
		[CTL_C_REFUSED_HANDSHAKE_CAP] = &g_counters.refused_handshake_cap,
		[CTL_C_REFUSED_SESSION_CAP] = &g_counters.refused_session_cap,
		[CTL_C_BACKEND_FAILED] = &g_counters.backend_failed,
		[CTL_C_SESSIONS_KTLS] = &g_counters.sessions_ktls,
		[CTL_C_SESSIONS_USERSPACE] = &g_counters.sessions_userspace,
		[CTL_C_BYTES_TO_BACKEND] = &g_counters.bytes_to_backend,
		[CTL_C_BYTES_TO_CLIENT] = &g_counters.bytes_to_client,
		[CTL_C_KEYUPDATE_CLOSED] = &g_counters.keyupdate_closed,
		[CTL_C_RESET_BEFORE_BACKEND] = &g_counters.reset_before_backend,
		[CTL_C_REFUSED_PER_SOURCE] = &g_counters.refused_per_source,
		[CTL_C_EVICTED_NO_HELLO] = &g_counters.evicted_no_hello,
		[CTL_C_HELLO_TIMEOUTS] = &g_counters.hello_timeouts,
	};
	int err = 0;

	for (int i = 0; i < CTL_C__COUNT; i++)
		err |= nla_put_u64(msg, CTL_A_C_FIRST + i, atomic_load(c[i]));
	err |= nla_put_u64(msg, CTL_A_STARTED, (uint64_t)g_daemon.started_at);
	err |= nla_put_u64(msg, CTL_A_NOW, (uint64_t)time(NULL));
	err |= nla_put_u8(msg, CTL_A_KTLS_AVAILABLE, g_daemon.ktls_available);
	return err;
}

/* One entry of a CTL_A_STEER_PORTS list. */
static int put_entry(struct nl_msg *msg, int type, const char *addr, uint16_t port,
		     uint64_t taken, uint64_t refused)
{
	struct nlattr *one = nla_nest_start(msg, type);
	int err = one ? 0 : -1;

	if (!one)
		return -1;
	if (port)
		err |= nla_put_u16(msg, CTL_A_SP_PORT, port);
	err |= nla_put_string(msg, CTL_A_SP_ADDR, addr);
	err |= nla_put_u64(msg, CTL_A_SP_STEERED, taken);
	err |= nla_put_u64(msg, CTL_A_SP_DROPPED, refused);
	nla_nest_end(msg, one);
	return err;
}

/* One message with PORTS[0..N) and DSTS[0..M). */
static void reply_steer_entries(const struct ctl_request *req, struct ctl_outq *q,
				const struct steer_port_counters *ports, int n,
				const struct redirect_counters *dsts, int m)
{
	struct nl_msg *msg = ctl_part_new(req);
	struct nlattr *list = msg ? nla_nest_start(msg, CTL_A_STEER_PORTS) : NULL;
	int err = list ? 0 : -1;

	for (int i = 0; i < n && !err; i++)
		err |= put_entry(msg, CTL_A_STEER_PORT, ports[i].addr, ports[i].port,
				 ports[i].steered, ports[i].dropped);
	for (int i = 0; i < m && !err; i++) {
		char addr[64];

		sockaddr_text((const struct sockaddr *)&dsts[i].dst.ss, addr, sizeof(addr));
		err |= put_entry(msg, CTL_A_REDIRECT_DST, addr, 0, dsts[i].redirected,
				 dsts[i].refused);
	}
	if (err) {
		nlmsg_free(msg);
		msg = NULL;
	} else {
		nla_nest_end(msg, list);
	}
	ctl_outq_push(q, msg, false);
}

void ctl_reply_stats(const struct ctl_request *req, struct ctl_outq *q)
{
	struct steer_port_counters *ports = calloc(KTLSD_MAX_PORTS, sizeof(*ports));
	struct redirect_counters *dsts = calloc(KTLSD_MAX_DSTS, sizeof(*dsts));
	struct nl_msg *msg = ctl_part_new(req);
	int n_ports = ports ? steer_read_counters(ports, KTLSD_MAX_PORTS) : -1;
	int n_dsts = dsts ? redirect_read_counters(dsts, KTLSD_MAX_DSTS) : -1;
	int err;

	if (!msg) {
		free(ports);
		free(dsts);
		ctl_outq_push(q, NULL, false);
		return;
	}
	err = put_daemon_counters(msg);
	err |= put_kernel_tls_stat(msg);
	/* Out of memory, say nothing rather than "not active". */
	if (ports && dsts)
		err |= nla_put_u8(msg, CTL_A_STEER_ACTIVE, n_ports >= 0 || n_dsts >= 0);
	if (err) {
		nlmsg_free(msg);
		msg = NULL;
	}
	ctl_outq_push(q, msg, false);
	for (int i = 0; i < n_ports && !q->truncated; i += STEER_PORTS_PER_MSG)
		reply_steer_entries(req, q, ports + i, n_ports - i < STEER_PORTS_PER_MSG ?
				    n_ports - i : STEER_PORTS_PER_MSG, NULL, 0);
	for (int i = 0; i < n_dsts && !q->truncated; i += STEER_PORTS_PER_MSG)
		reply_steer_entries(req, q, NULL, 0, dsts + i, n_dsts - i < STEER_PORTS_PER_MSG ?
				    n_dsts - i : STEER_PORTS_PER_MSG);
	free(ports);
	free(dsts);
}
