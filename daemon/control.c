// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket: ktlsctl's way into the running daemon.
 *
 * An AF_UNIX SOCK_SEQPACKET socket at [ktlsd] control-socket, mode 0660,
 * group [ktlsd] control-group. Each peer is checked with SO_PEERCRED: root,
 * or a member of the control group; anyone else gets an error and is
 * closed. Everything runs in the main thread's epoll loop on non-blocking
 * sockets: a request is answered into a bounded queue that drains as the
 * client reads, so a slow or stuck client never holds up the daemon.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ktlsd.h"
#include "control.h"
#include "instance.h"
#include "log.h"

#define MAX_CLIENTS 32

struct ctl_client {
	struct main_source src;		/* first: the callback gets this */
	struct ctl_outq q;
	uint32_t events;		/* epoll interest registered */
	bool close_after_send;		/* error about the request or peer */
	uid_t uid;
	pid_t pid;
};

static struct {
	struct main_source src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int lock_fd;			/* flock on lock_path: one daemon per socket */
	bool have_group;
	gid_t gid;
	struct ctl_client *clients[MAX_CLIENTS];
} ctl = { .src = { .fd = -1 }, .lock_fd = -1 };

static void client_close(struct ctl_client *c)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (ctl.clients[i] == c)
			ctl.clients[i] = NULL;
	mainloop_del(&c->src);
	close(c->src.fd);
	ctl_outq_free(&c->q);
	free(c);
}

static void client_set_events(struct ctl_client *c, uint32_t events)
{
	if (events == c->events)
		return;
	/* main.c offers add and delete; a change is the two in a row. */
	mainloop_del(&c->src);
	c->events = events;
	if (mainloop_add(&c->src, events) < 0)
		log_warn("control: epoll: %s", strerror(errno));
}

/* Send what the client can take now. false when the client is gone. */
static bool client_flush(struct ctl_client *c)
{
	while (c->q.head) {
		struct ctl_packet *p = c->q.head;
		ssize_t n = send(c->src.fd, p->data, p->len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			client_set_events(c, EPOLLOUT);
			return true;
		}
		if (n < 0) {
			client_close(c);
			return false;
		}
		c->q.head = p->next;
		if (!c->q.head)
			c->q.tail = NULL;
		c->q.bytes -= p->len;
		free(p);
	}
	c->q.truncated = false;
	if (c->close_after_send) {
		client_close(c);
		return false;
	}
	client_set_events(c, EPOLLIN);
	return true;
}

static void client_read(struct ctl_client *c)
{
	/* One byte more than a request may have: a longer packet shows up
	 * as MSG_TRUNC and is refused as oversized, not half-read. */
	unsigned char buf[CTL_REQUEST_MAX + 1];
	struct ctl_request req;
	char err[128];
	ssize_t n = recv(c->src.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	rc = ctl_request_decode(buf, n > (ssize_t)sizeof(buf) ? sizeof(buf) : (size_t)n,
				&req, err, sizeof(err));
	if (rc == 0 && n > CTL_REQUEST_MAX)
		rc = -EMSGSIZE;
	if (rc < 0) {
		log_warn("control: bad request from pid %d uid %u: %s; closing",
			 (int)c->pid, (unsigned int)c->uid, err);
		ctl_reply_error(&c->q, req.seq, -rc, err);
		c->close_after_send = true;
	} else {
		log_debug("control: request %u from pid %d uid %u", req.type,
			  (int)c->pid, (unsigned int)c->uid);
		ctl_reply(&req, &c->q);
	}
	client_flush(c);
}

static void on_client(struct main_source *src, uint32_t events)
{
	struct ctl_client *c = (struct ctl_client *)src;

	if (c->q.head) {
		/* A request is being answered: finish that first. */
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			client_flush(c);
		return;
	}
	if (events & EPOLLIN)
		client_read(c);
	else if (events & (EPOLLERR | EPOLLHUP))
		client_close(c);
}

static bool in_group(uid_t uid, gid_t pgid, gid_t want)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = 256;

	if (pgid == want)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

/*
 * Root, the daemon's own user (ExecReload= runs ktlsctl as the unit's
 * User=) and control-group members. The children run as that same user
 * under the packaged unit, but cannot get here: the network process's
 * filter allows no AF_UNIX socket but datagrams (which cannot connect to
 * this SOCK_SEQPACKET socket) and no fork, the key holder's no socket()
 * at all (sandbox.c).
 */
static bool authorised(const struct ucred *cred)
{
	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	return ctl.have_group && in_group(cred->uid, cred->gid, ctl.gid);
}

/* Tell a refused peer why, without waiting for it to read. */
static void refuse(int fd, const char *why)
{
	struct ctl_outq q = { 0 };

	ctl_reply_error(&q, CTL_SEQ_CONNECTION, EACCES, why);
	if (q.head)
		(void)send(fd, q.head->data, q.head->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	ctl_outq_free(&q);
	close(fd);
}

static void on_listen(struct main_source *src, uint32_t events)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_client *c;
	int slot = -1;
	int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("control: SO_PEERCRED: %s; closing", strerror(errno));
		close(fd);
		return;
	}
	if (!authorised(&cred)) {
		log_warn("control: refused pid %d uid %u gid %u: not root%s",
			 (int)cred.pid, (unsigned int)cred.uid, (unsigned int)cred.gid,
			 ctl.have_group ? " nor in the control group" : " (no control-group set)");
		refuse(fd, "permission denied: root or the control group only");
		return;
	}
	for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
		if (!ctl.clients[i])
			slot = i;
	c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		log_warn("control: too many control clients; refusing pid %d", (int)cred.pid);
		close(fd);
		return;
	}
	c->src.cb = on_client;
	c->src.fd = fd;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->events = EPOLLIN;
	if (mainloop_add(&c->src, EPOLLIN) < 0) {
		close(fd);
		free(c);
		return;
	}
	ctl.clients[slot] = c;
}

/* mkdir -p for the socket's directory (usually /run/ktlsd). */
static int make_parent(const char *path)
{
	char dir[sizeof(ctl.path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * A socket file already at SUN's path: 0 when it is stale (no one
 * listens: a daemon that died) and was removed, -1 when a daemon answers
 * on it (connect succeeds, or its backlog is full) or it cannot be told.
 * The lock file (instance.c) catches every ktlsd of this version; this
 * also catches one that predates the lock.
 */
static int replace_stale_socket(const struct sockaddr_un *sun)
{
	const char *path = sun->sun_path;
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	struct stat sb;
	int fd, rc, err;

	if (lstat(path, &sb) < 0 || !S_ISSOCK(sb.st_mode))
		return 0;	/* nothing there; bind() reports anything else */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("control-socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	err = errno;
	if (rc == 0)
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	close(fd);
	if (rc == 0 || err == EAGAIN) {
		instance_log_refusal("control-socket", path, cred.pid);
		return -1;
	}
	if (err != ECONNREFUSED) {
		log_err("control-socket %s: cannot tell whether a daemon answers "
			"on it: %s; not starting", path, strerror(err));
		return -1;
	}
	log_info("control-socket %s: left by a daemon that is gone; replacing it",
		 path);
	unlink(path);
	return 0;
}

/*
 * bind() with the control group as effective group: the socket file is
 * then created in that group. That needs CAP_SETGID (root started by
 * hand); chown() to a group root is not in would need CAP_CHOWN. The
 * packaged unit runs as ktlsd with neither: setegid() is refused and
 * control_start() falls back to chown(), which needs no capability for a
 * group the user is a member of (SupplementaryGroups=). Runs before any
 * other thread exists, so the switch affects no one else.
 */
static int bind_in_group(int fd, const struct sockaddr_un *sun)
{
	gid_t saved = getegid();
	bool switched = ctl.have_group && saved != ctl.gid && setegid(ctl.gid) == 0;
	int rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int err = errno;

	if (switched && setegid(saved) < 0) {
		log_err("control-socket: cannot restore the effective group: %s",
			strerror(errno));
		return -1;
	}
	errno = err;
	return rc;
}

int control_start(const struct ktlsd_config *cfg)
{
	const char *path = cfg->daemon.control_socket ? cfg->daemon.control_socket :
			   CTL_DEFAULT_SOCKET;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	pid_t holder;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control-socket %s: path too long", path);
		return -1;
	}
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (cfg->daemon.control_group) {
		struct group gr, *res = NULL;
		char buf[4096];

		if (getgrnam_r(cfg->daemon.control_group, &gr, buf, sizeof(buf), &res) != 0 ||
		    !res) {
			log_err("control-group %s: no such group", cfg->daemon.control_group);
			return -1;
		}
		ctl.gid = gr.gr_gid;
		ctl.have_group = true;
	}
	if (make_parent(path) < 0) {
		log_err("control-socket %s: cannot create its directory: %s", path,
			strerror(errno));
		return -1;
	}
	snprintf(ctl.lock_path, sizeof(ctl.lock_path), "%s.lock", path);
	ctl.lock_fd = instance_lock(ctl.lock_path, false, &holder);
	if (ctl.lock_fd < 0) {
		if (errno == EWOULDBLOCK)
			instance_log_refusal("control-socket", path, holder);
		else
			log_err("control-socket %s: cannot lock %s: %s", path,
				ctl.lock_path, strerror(errno));
		return -1;
	}
	if (replace_stale_socket(&sun) < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind_in_group(fd, &sun) < 0) {
		log_err("control-socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	/* From here on the file is ours: control_stop() removes it. */
	ctl.src.cb = on_listen;
	ctl.src.fd = fd;
	if (chmod(path, 0660) < 0 || listen(fd, 16) < 0) {
		log_err("control-socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (ctl.have_group && lstat(path, &st) == 0 && st.st_gid != ctl.gid &&
	    chown(path, (uid_t)-1, ctl.gid) < 0) {
		/* Not root: chown() to a group needs membership of it. */
		log_err("control-socket %s: cannot give it to control-group %s: %s%s",
			path, cfg->daemon.control_group, strerror(errno),
			geteuid() ? "; the daemon's user must be a member of that "
				    "group (systemd: SupplementaryGroups= in a "
				    "drop-in, 'systemctl edit ktlsd')" : "");
		return -1;
	}
	if (mainloop_add(&ctl.src, EPOLLIN) < 0) {
		log_err("control-socket %s: epoll: %s", path, strerror(errno));
		return -1;
	}
	log_info("control socket at %s", path);
	return 0;
fail:
	instance_unlock(ctl.lock_fd, ctl.lock_path);
	ctl.lock_fd = -1;
	return -1;
}

/* Safe after a control_start() that failed at any step, or never ran. */
void control_stop(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (ctl.clients[i])
			client_close(ctl.clients[i]);
	if (ctl.src.fd >= 0) {
		mainloop_del(&ctl.src);	/* harmless if never added */
		close(ctl.src.fd);
		ctl.src.fd = -1;
		unlink(ctl.path);
	}
	instance_unlock(ctl.lock_fd, ctl.lock_path);
	ctl.lock_fd = -1;
}
