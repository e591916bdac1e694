// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's own view of kTLS sessions, the way ss -tie shows it: a
 * NETLINK_SOCK_DIAG dump of TCP sockets through libnl, keeping the
 * INET_DIAG_ULP_INFO of those with the "tls" upper layer. The kernel only
 * reports ULP details to CAP_NET_ADMIN; without it the list stays empty.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <ktlsd/addr_text.h>	/* the daemon's own peer format */

#include "ktlsctl.h"

struct dump {
	struct kernel_ulp *v;
	size_t n, cap;
};

static const char *tls_version_name(uint16_t v)
{
	switch (v) {
	case TLS_1_2_VERSION:
		return "1.2";
	case TLS_1_3_VERSION:
		return "1.3";
	}
	return NULL;
}

static const char *tls_cipher_name(uint16_t c)
{
	switch (c) {
	case TLS_CIPHER_AES_GCM_128:
		return "aes-gcm-128";
	case TLS_CIPHER_AES_GCM_256:
		return "aes-gcm-256";
	case TLS_CIPHER_AES_CCM_128:
		return "aes-ccm-128";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "chacha20-poly1305";
	}
	return NULL;
}

static const char *tls_conf_name(uint16_t c)
{
	switch (c) {
	case TLS_CONF_BASE:
		return "none";
	case TLS_CONF_SW:
		return "sw";
	case TLS_CONF_HW:
		return "hw";
	case TLS_CONF_HW_RECORD:
		return "hw-record";
	}
	return NULL;
}

static uint16_t get_u16(struct nlattr **tb, int attr)
{
	return tb[attr] && nla_len(tb[attr]) >= 2 ? nla_get_u16(tb[attr]) : 0;
}

static void describe_tls(struct nlattr *ulp_tls, char *text, size_t len)
{
	struct nlattr *tb[TLS_INFO_MAX + 1];

	if (nla_parse_nested(tb, TLS_INFO_MAX, ulp_tls, NULL) < 0) {
		snprintf(text, len, "tcp-ulp-tls");
		return;
	}
	{
		/* Values this build does not know print as ss(8) does. */
		static const int attrs[4] = { TLS_INFO_VERSION, TLS_INFO_CIPHER,
					      TLS_INFO_RXCONF, TLS_INFO_TXCONF };
		char words[4][20];

		for (int i = 0; i < 4; i++) {
			uint16_t v = get_u16(tb, attrs[i]);
			const char *w = i == 0 ? tls_version_name(v) :
					i == 1 ? tls_cipher_name(v) : tls_conf_name(v);

			if (w)
				snprintf(words[i], sizeof(words[i]), "%s", w);
			else
				snprintf(words[i], sizeof(words[i]), "unknown(%u)", v);
		}
		snprintf(text, len, "tcp-ulp-tls version: %s cipher: %s rxconf: %s txconf: %s",
			 words[0], words[1], words[2], words[3]);
	}
}

static int on_socket(struct nl_msg *msg, void *arg)
{
	struct dump *d = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[INET_DIAG_MAX + 1], *ulp[INET_ULP_INFO_MAX + 1];
	const struct inet_diag_msg *m;
	struct sockaddr_storage ss = { 0 };
	struct kernel_ulp *k;

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    nlmsg_parse(h, sizeof(*m), tb, INET_DIAG_MAX, NULL) < 0 ||
	    !tb[INET_DIAG_ULP_INFO] ||
	    nla_parse_nested(ulp, INET_ULP_INFO_MAX, tb[INET_DIAG_ULP_INFO], NULL) < 0 ||
	    !ulp[INET_ULP_INFO_TLS])
		return NL_OK;
	m = nlmsg_data(h);
	if (m->idiag_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = m->id.idiag_dport;
		memcpy(&in->sin_addr, m->id.idiag_dst, sizeof(in->sin_addr));
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = m->id.idiag_dport;
		memcpy(&in6->sin6_addr, m->id.idiag_dst, sizeof(in6->sin6_addr));
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct kernel_ulp *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return NL_STOP;
		d->v = v;
		d->cap = cap;
	}
	k = &d->v[d->n++];
	sockaddr_text((struct sockaddr *)&ss, k->peer, sizeof(k->peer));
	describe_tls(ulp[INET_ULP_INFO_TLS], k->text, sizeof(k->text));
	return NL_OK;
}

static int dump_family(struct nl_sock *sk, int family, struct dump *d)
{
	struct inet_diag_req_v2 req = {
		.sdiag_family = (uint8_t)family,
		.sdiag_protocol = IPPROTO_TCP,
		.idiag_states = 1u << 1,	/* TCP_ESTABLISHED */
		/* The kernel adds INET_DIAG_ULP_INFO only to replies that
		 * carry INET_DIAG_INFO (as for ss -i). */
		.idiag_ext = 1u << (INET_DIAG_INFO - 1),
	};

	if (nl_send_simple(sk, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, &req, sizeof(req)) < 0)
		return -1;
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_socket, d);
	return nl_recvmsgs_default(sk) < 0 ? -1 : 0;
}

int kernel_ulp_dump(struct kernel_ulp **out, size_t *n)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct dump d = { 0 };
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (!sk)
		return -1;
	if (nl_connect(sk, NETLINK_SOCK_DIAG) == 0 &&
	    dump_family(sk, AF_INET, &d) == 0 && dump_family(sk, AF_INET6, &d) == 0)
		rc = 0;
	nl_socket_free(sk);
	if (rc < 0) {
		free(d.v);
		return -1;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

const char *kernel_ulp_find(const struct kernel_ulp *v, size_t n, const char *peer)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].peer, peer))
			return v[i].text;
	return NULL;
}
