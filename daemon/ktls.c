// SPDX-License-Identifier: GPL-2.0
/*
 * The socket side of the key handoff: is there a tls ULP, attach it,
 * install the keys, read records with their type. Every failure becomes a
 * sentence for the log, because "setsockopt: No such file or directory"
 * tells an operator nothing about a missing kernel module.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "ktls.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static const char no_ulp[] =
	"kernel has no tls ULP (CONFIG_TLS not enabled or module not loaded)";

static const char *ulp_strerror(int err)
{
	switch (err) {
	case ENOENT:
		return no_ulp;
	case ENOPROTOOPT:
		return "kernel does not support TCP_ULP";
	case EEXIST:
		return "socket already has a ULP attached";
	case ENOTCONN:
		return "socket is not connected";
	default:
		return NULL;
	}
}

const char *ktls_strerror(int err)
{
	switch (err) {
	case EINVAL:
		return "kernel does not support this TLS version or cipher";
	case ENOENT:
		return "kernel crypto for this cipher is unavailable "
		       "(crypto module missing or modprobe not reachable)";
	case ENOPROTOOPT:
		return "kernel does not support SOL_TLS (no tls ULP on socket)";
	case EBUSY:
	case EEXIST:
		return "keys are already installed in this direction";
	case ENOMEM:
		return "kernel out of memory";
	case EOPNOTSUPP:
		return "kernel does not support this operation on the socket";
	default:
		return strerror(err);
	}
}

/* A connected loopback TCP pair; the listener is closed on return. */
static int loopback_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	int lfd, err = 0;

	*a = *b = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen)) {
		err = -errno;
		goto out;
	}
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		goto out;
	}
	*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*b < 0)
		err = -errno;
out:
	if (err) {
		if (*a >= 0)
			close(*a);
		*a = -1;
	}
	close(lfd);
	return err;
}

int ktls_probe(char *why, size_t len)
{
	/* A throwaway key on a throwaway socket that never carries data. */
	struct tls12_crypto_info_aes_gcm_128 probe = {
		.info.version = TLS_1_2_VERSION,
		.info.cipher_type = TLS_CIPHER_AES_GCM_128,
	};
	int a, b, err;

	err = loopback_pair(&a, &b);
	if (err) {
		snprintf(why, len, "cannot open a loopback TCP connection to "
			 "probe for kernel TLS: %s", strerror(-err));
		return err;
	}
	if (setsockopt(a, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		err = -errno;
		snprintf(why, len, "%s", ulp_strerror(errno) ?
			 ulp_strerror(errno) : strerror(errno));
	} else if (setsockopt(a, SOL_TLS, TLS_TX, &probe, sizeof(probe))) {
		err = -errno;
		snprintf(why, len, "kernel tls ULP cannot take AES-GCM keys: %s",
			 ktls_strerror(errno));
	} else {
		snprintf(why, len, "kernel TLS available");
	}
	close(a);
	close(b);
	return err;
}

static int set_keys(int fd, int dir, const struct ktls_keys *k, char *why,
		    size_t len)
{
	const char *name = dir == TLS_TX ? "TLS_TX" : "TLS_RX";

	if (!k->cipher || !k->len) {
		snprintf(why, len, "%s: no keys derived", name);
		return -EINVAL;
	}
	if (setsockopt(fd, SOL_TLS, dir, k->crypto.bytes, (socklen_t)k->len)) {
		int err = errno;

		snprintf(why, len, "%s %s %s: %s", name,
			 k->cipher->tls_version == TLS_1_3_VERSION ?
			 "TLS 1.3" : "TLS 1.2",
			 k->cipher->kernel_name, ktls_strerror(err));
		return -err;
	}
	return 0;
}

int ktls_install(int fd, struct ktls_keys *tx, struct ktls_keys *rx,
		 char *why, size_t len)
{
	int err;

	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		err = -errno;
		snprintf(why, len, "TCP_ULP tls: %s", ulp_strerror(errno) ?
			 ulp_strerror(errno) : strerror(errno));
		goto out;
	}
	/*
	 * The kernel validates version and cipher before touching any state,
	 * so a TX failure leaves a socket that still passes bytes through
	 * unchanged (the ULP alone does nothing) and userspace TLS can go on.
	 */
	err = set_keys(fd, TLS_TX, tx, why, len);
	if (err)
		goto out;
	err = set_keys(fd, TLS_RX, rx, why, len);
	if (err) {
		size_t used = strlen(why);

		snprintf(why + used, len - used,
			 "; TX is already in the kernel, connection must close");
		err = -ENOTRECOVERABLE;
	}
out:
	ktls_keys_wipe(tx);
	ktls_keys_wipe(rx);
	return err;
}

/* One buffer and room for one control message: a record's type byte. */
struct record_msg {
	char control[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov;
	struct msghdr msg;
};

static void record_msg_init(struct record_msg *m, void *buf, size_t len)
{
	memset(m->control, 0, sizeof(m->control));
	m->iov = (struct iovec){ .iov_base = buf, .iov_len = len };
	m->msg = (struct msghdr){
		.msg_iov = &m->iov, .msg_iovlen = 1,
		.msg_control = m->control, .msg_controllen = sizeof(m->control),
	};
}

ssize_t ktls_recv_record(int fd, void *buf, size_t len, int flags,
			 uint8_t *type)
{
	struct record_msg m;
	struct cmsghdr *cmsg;
	ssize_t n;

	record_msg_init(&m, buf, len);
	n = recvmsg(fd, &m.msg, flags);
	if (n < 0)
		return n;
	*type = KTLS_RECORD_APPLICATION_DATA;
	for (cmsg = CMSG_FIRSTHDR(&m.msg); cmsg; cmsg = CMSG_NXTHDR(&m.msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_TLS &&
		    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *(uint8_t *)CMSG_DATA(cmsg);
	}
	return n;
}

int ktls_send_close_notify(int fd)
{
	static const uint8_t alert[2] = { 1, 0 };	/* warning, close_notify */
	struct record_msg m;
	struct cmsghdr *cmsg;
	ssize_t n;

	record_msg_init(&m, (void *)alert, sizeof(alert));
	cmsg = CMSG_FIRSTHDR(&m.msg);
	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*(uint8_t *)CMSG_DATA(cmsg) = KTLS_RECORD_ALERT;
	n = sendmsg(fd, &m.msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(alert) ? 0 : -EIO;
}
