// SPDX-License-Identifier: GPL-2.0
/*
 * Control requests: from the bytes of one SOCK_SEQPACKET packet to a
 * struct ctl_request. This is the only code that reads what a client sent,
 * so it checks every length before libnl looks at the attributes, and the
 * attribute policy makes libnl check each type, size and NUL terminator.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "control.h"

static struct nla_policy request_policy[CTL_A_MAX + 1] = {
	[CTL_A_PROTO_VERSION] = { .type = NLA_U32 },
	[CTL_A_FILTER_PORT] = { .type = NLA_STRING, .maxlen = 96 },
	[CTL_A_FILTER_PEER] = { .type = NLA_STRING, .maxlen = 64 },
	[CTL_A_NAME] = { .type = NLA_STRING, .maxlen = 128 },
};

static int fail(char *err, size_t errlen, int code, const char *text)
{
	snprintf(err, errlen, "%s", text);
	return code;
}

static void copy_string(char *dst, size_t size, const struct nlattr *a)
{
	if (!a) {
		dst[0] = '\0';
		return;
	}
	/* The policy guarantees a NUL within the attribute; bound it anyway. */
	snprintf(dst, size, "%.*s", nla_len(a), (const char *)nla_data(a));
}

int ctl_request_decode(const void *buf, size_t len, struct ctl_request *req,
		       char *err, size_t errlen)
{
	/* An aligned private copy: the receive buffer is the caller's, and
	 * nlmsghdr/nlattr accesses need natural alignment. */
	union {
		struct nlmsghdr h;
		unsigned char bytes[CTL_REQUEST_MAX];
	} copy;
	struct nlattr *tb[CTL_A_MAX + 1];
	struct nlmsghdr *h = &copy.h;

	memset(req, 0, sizeof(*req));
	if (len > CTL_REQUEST_MAX)
		return fail(err, errlen, -EMSGSIZE, "request larger than the protocol allows");
	if (len < NLMSG_HDRLEN)
		return fail(err, errlen, -EBADMSG, "request shorter than a message header");
	memcpy(copy.bytes, buf, len);
	if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len != len)
		return fail(err, errlen, -EBADMSG,
			    "message length does not match the packet (truncated or trailing bytes)");
	req->seq = h->nlmsg_seq;
	if (!(h->nlmsg_flags & NLM_F_REQUEST))
		return fail(err, errlen, -EBADMSG, "not a request (NLM_F_REQUEST missing)");
	if (h->nlmsg_type < CTL_MSG_STATUS || h->nlmsg_type >= CTL_MSG_ERROR)
		return fail(err, errlen, -EOPNOTSUPP, "unknown request type");
	if (nlmsg_parse(h, 0, tb, CTL_A_MAX, request_policy) < 0)
		return fail(err, errlen, -EBADMSG, "malformed attributes");
	if (!tb[CTL_A_PROTO_VERSION])
		return fail(err, errlen, -EPROTO, "protocol version attribute missing");
	if (nla_get_u32(tb[CTL_A_PROTO_VERSION]) != CTL_PROTO_VERSION)
		return fail(err, errlen, -EPROTO, "unsupported protocol version");
	req->type = h->nlmsg_type;
	copy_string(req->filter_port, sizeof(req->filter_port), tb[CTL_A_FILTER_PORT]);
	copy_string(req->filter_peer, sizeof(req->filter_peer), tb[CTL_A_FILTER_PEER]);
	copy_string(req->name, sizeof(req->name), tb[CTL_A_NAME]);
	return 0;
}
