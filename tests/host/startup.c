// SPDX-License-Identifier: GPL-2.0
/*
 * Start-up that cannot complete, and a second daemon beside a running one.
 *
 * A start that fails once the configuration has loaded (a port in use,
 * steering the kernel refuses, a control socket that cannot be made) must
 * say why, exit 3 and leave nothing behind: no control socket, no lock
 * file, no pins it created. A second ktlsd on the control socket or the
 * pin directory of a running one must refuse to start, name that daemon's
 * pid and leave it serving; a socket left by a dead daemon is replaced.
 *
 * Every test runs in private network namespaces (netns.h), so ports and
 * steering never touch the machine's own.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "netns.h"
#include "pki.h"
#include "testlib.h"

FIXTURE(startup) {
	struct tl_hosts hosts;
	char *dir;
	char conf[512], log[512], sock[512], out[512], payload[512];
	char conf2[512], log2[512], sock2[512];	/* a second daemon's */
	char pin_base[128], pin_base2[128];
	struct tl_proc daemon, backend;
};

FIXTURE_SETUP(startup)
{
	ASSERT_NE(NULL, pki_dir());
	ASSERT_EQ(0, tl_two_hosts(&self->hosts, NULL));
	self->dir = tl_daemon_dir(self->conf, self->log);
	ASSERT_NE(NULL, self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/control", self->dir);
	snprintf(self->out, sizeof(self->out), "%s/out", self->dir);
	snprintf(self->payload, sizeof(self->payload), "%s/payload", self->dir);
	snprintf(self->conf2, sizeof(self->conf2), "%s/second.conf", self->dir);
	snprintf(self->log2, sizeof(self->log2), "%s/second.log", self->dir);
	snprintf(self->sock2, sizeof(self->sock2), "%s/control2", self->dir);
	snprintf(self->pin_base, sizeof(self->pin_base),
		 "/sys/fs/bpf/ktlsd-startup-%d", (int)getpid());
	snprintf(self->pin_base2, sizeof(self->pin_base2),
		 "/sys/fs/bpf/ktlsd-startup-%d-b", (int)getpid());
}

FIXTURE_TEARDOWN(startup)
{
	char bin[PATH_MAX];
	const char *unload[] = { bin, "--unload", "-c", NULL, NULL };

	if (self->daemon.pid > 0)
		tl_stop(&self->daemon);
	if (self->backend.pid > 0)
		tl_stop(&self->backend);
	/* Whatever a failing test left pinned. */
	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	unload[3] = self->conf;
	if (access(self->pin_base, F_OK) == 0)
		tl_run(unload, NULL, NULL, NULL, 20000);
	unload[3] = self->conf2;
	if (access(self->pin_base2, F_OK) == 0)
		tl_run(unload, NULL, NULL, NULL, 20000);
	rmdir(self->pin_base);
	rmdir(self->pin_base2);
	tl_rmtree(self->dir);
	free(self->dir);
}

/*
 * A configuration: control socket SOCK, pins under PIN_BASE, a port on
 * 127.0.0.1:PLAIN (0: none) and a steered port 127.0.0.1:STEERED in front
 * of a service on that port (0: none), with the backend BACKEND.
 */
static int write_conf(const char *path, const char *sock, const char *pin_base,
		      int plain, int steered, int backend)
{
	char ports[512] = "";
	int n = 0;

	if (plain)
		n += snprintf(ports + n, sizeof(ports) - n,
			      "[port Echo:secure]\nlisten = 127.0.0.1:%d\n"
			      "backend = 127.0.0.1:%d\ntransport = tls=1\n",
			      plain, backend);
	if (steered)
		snprintf(ports + n, sizeof(ports) - n,
			 "[port Echo:steered]\nlisten = 127.0.0.1:%d\n"
			 "backend = 127.0.0.1:%d\ntransport = tls=1\nsteer = yes\n",
			 steered, steered);
	return tl_write_file(path,
		"[ktlsd]\nworkers = 2\ncontrol-socket = %s\nbpf-pin-dir = %s\n\n"
		"[security]\ncertificate = %s\ncertificate-key = %s\ntrusted-ca = %s\n\n"
		"[application Echo]\n%s",
		sock, pin_base, pki_file("server-chain.pem"), pki_file("server.key"),
		pki_file("root.crt"), ports);
}

/* Run ktlsd -c CONF to its end (it must not start); its exit status. */
static int run_daemon(const char *conf, const char *log)
{
	char bin[PATH_MAX];
	const char *argv[] = { bin, "-c", conf, "-v", NULL };

	snprintf(bin, sizeof(bin), "%s/ktlsd", tl_build_dir());
	return tl_run(argv, NULL, NULL, log, 30000);
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static void expect_nothing_left(struct __test_metadata *_metadata,
				FIXTURE_DATA(startup) *self)
{
	char lock[600];

	snprintf(lock, sizeof(lock), "%s.lock", self->sock);
	EXPECT_FALSE(exists(self->sock)) {
		TH_LOG("the control socket %s was left behind", self->sock);
	}
	EXPECT_FALSE(exists(lock));
	EXPECT_EQ(1, tl_file_contains(self->log, "not started"));
}

TEST_F(startup, port_in_use_exits_3_and_leaves_nothing)
{
	int port = pki_free_port();
	int fd = tl_occupy_port(port);
	char want[128];

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, write_conf(self->conf, self->sock, self->pin_base, port, 0, 7));
	EXPECT_EQ(3, run_daemon(self->conf, self->log));
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: bind: "
		 "Address already in use", port);
	EXPECT_EQ(1, tl_file_contains(self->log, want));
	expect_nothing_left(_metadata, self);
	close(fd);
}

TEST_F(startup, steering_refused_exits_3_and_leaves_nothing)
{
	char pins[600];

	/* Pins only live on bpffs: a directory elsewhere is refused. */
	snprintf(pins, sizeof(pins), "%s/pins", self->dir);
	ASSERT_EQ(0, write_conf(self->conf, self->sock, pins, 0,
				pki_free_port(), 0));
	EXPECT_EQ(3, run_daemon(self->conf, self->log));
	EXPECT_EQ(1, tl_file_contains(self->log, "is not on a bpf file system"));
	expect_nothing_left(_metadata, self);
}

TEST_F(startup, control_socket_not_creatable_exits_3)
{
	char file[400];

	/* Its directory would have to be made inside a regular file. */
	snprintf(file, sizeof(file), "%s/file", self->dir);
	ASSERT_EQ(0, tl_write_file(file, "x\n"));
	snprintf(self->sock, sizeof(self->sock), "%s/control", file);
	ASSERT_EQ(0, write_conf(self->conf, self->sock, self->pin_base,
				pki_free_port(), 0, 7));
	EXPECT_EQ(3, run_daemon(self->conf, self->log));
	EXPECT_EQ(1, tl_file_contains(self->log, "Not a directory"));
	EXPECT_EQ(1, tl_file_contains(self->log, "not started"));
}

/* Steering started (pins made) before a worker failed: the pins and the
 * directory this start made are removed again. */
TEST_F(startup, failed_start_removes_the_pins_it_made)
{
	int port = pki_free_port();
	int fd = tl_occupy_port(port);

	ASSERT_LE(0, fd);
	ASSERT_FALSE(exists(self->pin_base));
	ASSERT_EQ(0, write_conf(self->conf, self->sock, self->pin_base, port,
				pki_free_port(), 7));
	EXPECT_EQ(3, run_daemon(self->conf, self->log));
	EXPECT_EQ(1, tl_file_contains(self->log, "sk_lookup program pinned"));
	EXPECT_EQ(1, tl_file_contains(self->log, "removed the pins this start made"));
	EXPECT_FALSE(exists(self->pin_base)) {
		TH_LOG("%s is still there after a failed start", self->pin_base);
	}
	expect_nothing_left(_metadata, self);
	close(fd);
}

TEST_F(startup, stale_control_socket_is_replaced)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char bin[PATH_MAX];
	const char *status[] = { bin, "-s", self->sock, "status", NULL };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	/* What a daemon killed with SIGKILL leaves: a socket no one holds. */
	ASSERT_LE(0, fd);
	ASSERT_GT(sizeof(sun.sun_path), strlen(self->sock));
	memcpy(sun.sun_path, self->sock, strlen(self->sock) + 1);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sun, sizeof(sun)));
	close(fd);
	ASSERT_TRUE(exists(self->sock));
	ASSERT_EQ(0, write_conf(self->conf, self->sock, self->pin_base,
				pki_free_port(), 0, 7));
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
	EXPECT_EQ(1, tl_file_contains(self->log, "replacing it"));
	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	EXPECT_EQ(0, tl_run(status, NULL, self->out, NULL, 20000));
	EXPECT_EQ(0, tl_stop(&self->daemon));
	EXPECT_FALSE(exists(self->sock));
}

/* ---- a second daemon beside a running one ------------------------------ */

/* What the second daemon shares with the first. */
enum shared { SAME_SOCKET, SAME_PIN_DIR, LIVE_SOCKET_WITHOUT_LOCK };

/* TLS to the steered port PORT reaches the service, decrypted. */
static void expect_steered_port_serves(struct __test_metadata *_metadata,
				       FIXTURE_DATA(startup) *self, int port)
{
	char connect[64], line[256];
	const char *argv[] = { "openssl", "s_client", "-connect", connect,
			       "-CAfile", pki_file("root.crt"),
			       "-verify_return_error", "-quiet", "-no_ign_eof",
			       NULL };

	snprintf(connect, sizeof(connect), "127.0.0.1:%d", port);
	EXPECT_EQ(0, tl_run(argv, self->payload, self->out, NULL, 20000));
	ASSERT_EQ(0, tl_wait_line(&self->backend, "", line, sizeof(line), 20000));
	EXPECT_EQ(0, strncmp(line, "sink 14 ", 8)) {
		TH_LOG("the service saw \"%s\"", line);
	}
}

/*
 * A first daemon steers the port of a "check" service; a second one that
 * shares SHARED with it must exit 3 naming the first's pid, leave nothing
 * of its own, and leave the first reachable and serving its port.
 */
static void second_instance(struct __test_metadata *_metadata,
			    FIXTURE_DATA(startup) *self, enum shared shared)
{
	char bin[PATH_MAX], lock[600], want[64];
	const char *status[] = { bin, "-s", self->sock, "status", NULL };
	int port;

	ASSERT_EQ(0, tl_write_file(self->payload, "through-ktlsd\n"));
	ASSERT_EQ(0, tl_backend_start(&self->backend, "check", 0, &port));
	ASSERT_EQ(0, write_conf(self->conf, self->sock, self->pin_base, 0, port, 0));
	ASSERT_EQ(0, tl_daemon_start(&self->daemon, self->conf, self->log));
	expect_steered_port_serves(_metadata, self, port);

	snprintf(lock, sizeof(lock), "%s.lock", self->sock);
	if (shared == LIVE_SOCKET_WITHOUT_LOCK) {
		/* A daemon from before the lock, or whose file was deleted,
		 * is still found: it answers on its socket. */
		ASSERT_EQ(0, unlink(lock));
	}
	ASSERT_EQ(0, shared == SAME_PIN_DIR ?
		  write_conf(self->conf2, self->sock2, self->pin_base, 0, port, 0) :
		  write_conf(self->conf2, self->sock, self->pin_base2, 0, port, 0));

	EXPECT_EQ(3, run_daemon(self->conf2, self->log2));
	snprintf(want, sizeof(want), "(pid %d)", (int)self->daemon.pid);
	EXPECT_EQ(1, tl_file_contains(self->log2, want)) {
		TH_LOG("the refusal does not name pid %d", (int)self->daemon.pid);
	}
	EXPECT_EQ(1, tl_file_contains(self->log2, "is in use by another ktlsd"));
	/* It made nothing of its own that outlives it. */
	EXPECT_FALSE(exists(self->sock2));
	EXPECT_FALSE(exists(self->pin_base2));

	/* The first daemon: still reachable, its port still served. */
	EXPECT_TRUE(exists(self->sock));
	snprintf(bin, sizeof(bin), "%s/ktlsctl", tl_build_dir());
	EXPECT_EQ(0, tl_run(status, NULL, self->out, NULL, 20000));
	expect_steered_port_serves(_metadata, self, port);
	EXPECT_EQ(0, tl_stop(&self->daemon));
	EXPECT_FALSE(exists(self->sock));
}

TEST_F(startup, second_instance_on_the_same_control_socket_is_refused)
{
	second_instance(_metadata, self, SAME_SOCKET);
}

TEST_F(startup, second_instance_on_the_same_pin_dir_is_refused)
{
	second_instance(_metadata, self, SAME_PIN_DIR);
}

TEST_F(startup, second_instance_finds_a_live_socket_without_lock_file)
{
	second_instance(_metadata, self, LIVE_SOCKET_WITHOUT_LOCK);
}

TEST_HARNESS_MAIN
