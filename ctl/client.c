// SPDX-License-Identifier: GPL-2.0
/*
 * The client side of the control protocol (include/ktlsd/ctl.h): one
 * request, then reply messages until NLMSG_DONE or an error message.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ktlsctl.h"

/* A reload loads every certificate again: give it time. */
#define REPLY_TIMEOUT_MS 60000

static struct nla_policy reply_policy[CTL_A_MAX + 1] = {
	[CTL_A_PROTO_VERSION] = { .type = NLA_U32 },
	[CTL_A_ERRNO] = { .type = NLA_U32 },
	[CTL_A_ERROR] = { .type = NLA_STRING },
	[CTL_A_DAEMON_VERSION] = { .type = NLA_STRING },
	[CTL_A_STARTED] = { .type = NLA_U64 },
	[CTL_A_NOW] = { .type = NLA_U64 },
	[CTL_A_KTLS_AVAILABLE] = { .type = NLA_U8 },
	[CTL_A_KTLS_WHY] = { .type = NLA_STRING },
	[CTL_A_CONFIG_PATH] = { .type = NLA_STRING },
	[CTL_A_CONFIG_LOADED] = { .type = NLA_U64 },
	[CTL_A_WORKERS] = { .type = NLA_U32 },
	[CTL_A_N_SESSIONS] = { .type = NLA_U32 },
	[CTL_A_N_HANDSHAKES] = { .type = NLA_U32 },
	[CTL_A_N_PORTS] = { .type = NLA_U32 },
	[CTL_A_S_PEER] = { .type = NLA_STRING },
	[CTL_A_S_PORT] = { .type = NLA_STRING },
	[CTL_A_S_APPLICATION] = { .type = NLA_STRING },
	[CTL_A_S_TLS_VERSION] = { .type = NLA_STRING },
	[CTL_A_S_CIPHER] = { .type = NLA_STRING },
	[CTL_A_S_MODE] = { .type = NLA_U8 },
	[CTL_A_S_MODE_WHY] = { .type = NLA_STRING },
	[CTL_A_S_PEER_SUBJECT] = { .type = NLA_STRING },
	[CTL_A_S_BYTES_IN] = { .type = NLA_U64 },
	[CTL_A_S_BYTES_OUT] = { .type = NLA_U64 },
	[CTL_A_S_STARTED] = { .type = NLA_U64 },
	[CTL_A_TEXT] = { .type = NLA_STRING },
	[CTL_A_RESULT] = { .type = NLA_U32 },
	[CTL_A_TRUNCATED] = { .type = NLA_U8 },
	[CTL_A_KSTATS] = { .type = NLA_NESTED },
	[CTL_A_KSTATS_WHY] = { .type = NLA_STRING },
	[CTL_A_KSTAT] = { .type = NLA_NESTED },
	[CTL_A_KSTAT_NAME] = { .type = NLA_STRING },
	[CTL_A_KSTAT_VALUE] = { .type = NLA_U64 },
	[CTL_A_STEER_ACTIVE] = { .type = NLA_U8 },
	[CTL_A_STEER_PORTS] = { .type = NLA_NESTED },
	[CTL_A_STEER_PORT] = { .type = NLA_NESTED },
	[CTL_A_SP_PORT] = { .type = NLA_U16 },
	[CTL_A_SP_STEERED] = { .type = NLA_U64 },
	[CTL_A_SP_DROPPED] = { .type = NLA_U64 },
	[CTL_A_SP_ADDR] = { .type = NLA_NUL_STRING, .maxlen = 64 },
	[CTL_A_REDIRECT_DST] = { .type = NLA_NESTED },
};

/* The counters are numbered, not named, in the policy. */
static void init_policy(void)
{
	for (int i = 0; i < CTL_C__COUNT; i++)
		reply_policy[CTL_A_C_FIRST + i].type = NLA_U64;
}

const char *ctl_attr_str(struct nlattr **tb, int attr)
{
	return tb[attr] ? nla_get_string(tb[attr]) : "";
}

uint64_t ctl_attr_u64(struct nlattr **tb, int attr)
{
	struct nlattr *a = tb[attr];

	if (!a)
		return 0;
	switch (nla_len(a)) {
	case 1:
		return nla_get_u8(a);
	case 2:
		return nla_get_u16(a);
	case 4:
		return nla_get_u32(a);
	case 8:
		return nla_get_u64(a);
	}
	return 0;
}

int ctl_parse_nested(struct nlattr **tb, struct nlattr *nest)
{
	return nla_parse_nested(tb, CTL_A_MAX, nest, reply_policy);
}

static int connect_daemon(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ktlsctl: %s: socket path too long\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "ktlsctl: cannot reach ktlsd at %s: %s%s\n", path,
			strerror(errno), errno == ENOENT || errno == ECONNREFUSED ?
			" (is ktlsd running? see -s)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The error reply's text, and its exit code. */
static int error_reply(struct nlattr **tb)
{
	uint64_t err = ctl_attr_u64(tb, CTL_A_ERRNO);

	fprintf(stderr, "ktlsctl: ktlsd: %s\n", tb[CTL_A_ERROR] ?
		nla_get_string(tb[CTL_A_ERROR]) : strerror((int)err));
	return err == EACCES ? EXIT_UNREACHABLE : EXIT_FAILED;
}

/* Receive until NLMSG_DONE or an error. Returns an EXIT_* code. */
static int receive(int fd, uint32_t seq, ctl_reply_fn fn, void *arg, bool *truncated)
{
	static union {
		struct nlmsghdr h;
		unsigned char b[CTL_REPLY_MAX];
	} buf;
	bool reset_seen = false;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct nlattr *tb[CTL_A_MAX + 1];
		struct nlmsghdr *h = &buf.h;
		ssize_t n;
		int rc = poll(&pfd, 1, REPLY_TIMEOUT_MS);

		if (rc == 0) {
			fprintf(stderr, "ktlsctl: no reply from ktlsd within %d s\n",
				REPLY_TIMEOUT_MS / 1000);
			return EXIT_UNREACHABLE;
		}
		n = rc < 0 ? -1 : recv(fd, buf.b, sizeof(buf.b), MSG_TRUNC);
		/* Closed before reading our request: the reset is reported
		 * first, the daemon's reason may still be queued behind it. */
		if (n < 0 && errno == ECONNRESET && !reset_seen) {
			reset_seen = true;
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "ktlsctl: ktlsd closed the connection%s%s\n",
				n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return EXIT_UNREACHABLE;
		}
		if ((size_t)n < NLMSG_HDRLEN || (size_t)n > sizeof(buf.b) ||
		    h->nlmsg_len != (size_t)n) {
			fprintf(stderr, "ktlsctl: malformed reply from ktlsd\n");
			return EXIT_FAILED;
		}
		/* Replies echo our sequence number; a refusal at connect
		 * time comes before the daemon read it (CTL_SEQ_CONNECTION). */
		if (h->nlmsg_seq != seq &&
		    !(h->nlmsg_seq == CTL_SEQ_CONNECTION && h->nlmsg_type == CTL_MSG_ERROR))
			continue;
		if (nlmsg_parse(h, 0, tb, CTL_A_MAX, reply_policy) < 0) {
			fprintf(stderr, "ktlsctl: malformed reply attributes from ktlsd\n");
			return EXIT_FAILED;
		}
		if (h->nlmsg_type == CTL_MSG_ERROR)
			return error_reply(tb);
		if (h->nlmsg_type == NLMSG_DONE) {
			if (truncated)
				*truncated = tb[CTL_A_TRUNCATED] != NULL;
			return EXIT_OK;
		}
		fn(tb, arg);
	}
}

int ctl_call(const char *socket_path, int type,
	     int (*extra)(struct nl_msg *msg, const struct ctl_opts *o),
	     const struct ctl_opts *o, ctl_reply_fn fn, void *arg,
	     bool *truncated)
{
	struct nl_msg *msg = nlmsg_alloc_simple(type, NLM_F_REQUEST);
	uint32_t seq = (uint32_t)getpid();	/* never CTL_SEQ_CONNECTION */
	struct nlmsghdr *h;
	int fd, rc;

	init_policy();
	if (!msg || nla_put_u32(msg, CTL_A_PROTO_VERSION, CTL_PROTO_VERSION) < 0 ||
	    (extra && extra(msg, o) < 0)) {
		fprintf(stderr, "ktlsctl: request too large\n");
		nlmsg_free(msg);
		return EXIT_USAGE;
	}
	h = nlmsg_hdr(msg);
	h->nlmsg_seq = seq;
	fd = connect_daemon(socket_path);
	if (fd < 0) {
		nlmsg_free(msg);
		return EXIT_UNREACHABLE;
	}
	/* A refused peer is closed at once: the send may fail, but the
	 * daemon's reason is still waiting to be read. */
	if (send(fd, h, h->nlmsg_len, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET) {
		fprintf(stderr, "ktlsctl: send: %s\n", strerror(errno));
		rc = EXIT_UNREACHABLE;
	} else {
		rc = receive(fd, seq, fn, arg, truncated);
	}
	nlmsg_free(msg);
	close(fd);
	return rc;
}
