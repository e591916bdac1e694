// SPDX-License-Identifier: GPL-2.0
/*
 * The children's seccomp filters (daemon/sandbox.c), call by call: each
 * case forks a process, installs a profile, makes one call and reports how
 * it ended. An allowed call exits 0; a forbidden one is killed by SIGSYS.
 *
 * What matters most under the packaged unit, where the network process runs
 * as the same user as the parent: it can make no local socket that could
 * connect to the control socket (SOCK_SEQPACKET) and cannot fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/bpf.h>

#include "kselftest_harness.h"
#include "sandbox.h"

enum outcome { ALLOWED, KILLED, FAILED_OTHERWISE };

typedef int (*call_fn)(void);

/* Run CALL in a fresh process confined by PROFILE. */
static enum outcome confined(enum sandbox_profile profile, call_fn call)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return FAILED_OTHERWISE;
	if (pid == 0) {
		if (sandbox_seccomp(profile) < 0)
			_exit(2);
		_exit(call() < 0 ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return FAILED_OTHERWISE;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return KILLED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return ALLOWED;
	return FAILED_OTHERWISE;
}

static int make_socket(int domain, int type)
{
	int fd = socket(domain, type | SOCK_CLOEXEC, 0);

	return fd < 0 ? -1 : close(fd);
}

static int tcp4(void) { return make_socket(AF_INET, SOCK_STREAM); }
static int tcp6(void) { return make_socket(AF_INET6, SOCK_STREAM); }
static int unix_dgram(void) { return make_socket(AF_UNIX, SOCK_DGRAM); }
static int unix_seqpacket(void) { return make_socket(AF_UNIX, SOCK_SEQPACKET); }
static int unix_stream(void) { return make_socket(AF_UNIX, SOCK_STREAM); }
static int netlink(void) { return make_socket(AF_NETLINK, SOCK_RAW); }

static void *thread_body(void *arg)
{
	return arg;
}

static int start_thread(void)
{
	pthread_t t;
	void *ret = NULL;

	if (pthread_create(&t, NULL, thread_body, &ret) != 0 ||
	    pthread_join(t, &ret) != 0)
		return -1;
	return ret ? 0 : -1;
}

static int start_process(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return pid < 0 ? -1 : 0;
}

static int signal_parent(void)
{
	return kill(getppid(), 0);
}

static int create_file(void)
{
	int fd = open("/tmp/ktlsd-sandbox-filter-test", O_WRONLY | O_CREAT, 0600);

	return fd < 0 ? -1 : close(fd);
}

/* bpf(CMD) on a descriptor that is no map: reaching the kernel at all
 * (EBADF, or EPERM where unprivileged bpf() is disabled) counts as allowed. */
static int bpf_cmd(int cmd)
{
	union bpf_attr attr = { .map_fd = (__u32)-1 };

	if (syscall(__NR_bpf, cmd, &attr, sizeof(attr)) == 0)
		return -1;	/* no such map: cannot succeed */
	return errno == EBADF || errno == EPERM || errno == EINVAL ? 0 : -1;
}

static int bpf_lookup_and_delete(void) { return bpf_cmd(BPF_MAP_LOOKUP_AND_DELETE_ELEM); }
static int bpf_update(void) { return bpf_cmd(BPF_MAP_UPDATE_ELEM); }
static int bpf_lookup(void) { return bpf_cmd(BPF_MAP_LOOKUP_ELEM); }
static int bpf_map_create(void) { return bpf_cmd(BPF_MAP_CREATE); }
static int bpf_load_prog(void) { return bpf_cmd(BPF_PROG_LOAD); }

TEST(network_makes_tcp_sockets)
{
	EXPECT_EQ(ALLOWED, confined(SANDBOX_NETWORK, tcp4));
	EXPECT_EQ(ALLOWED, confined(SANDBOX_NETWORK, tcp6));
}

TEST(network_makes_the_journals_datagram_socket)
{
	EXPECT_EQ(ALLOWED, confined(SANDBOX_NETWORK, unix_dgram));
}

TEST(network_cannot_make_a_socket_that_reaches_the_control_socket)
{
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, unix_seqpacket));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, unix_stream));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, netlink));
}

TEST(network_starts_threads_but_no_process)
{
	EXPECT_EQ(ALLOWED, confined(SANDBOX_NETWORK, start_thread));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, start_process));
}

TEST(network_signals_no_process)
{
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, signal_parent));
	EXPECT_EQ(KILLED, confined(SANDBOX_KEYHOLDER, signal_parent));
}

TEST(network_creates_no_file)
{
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, create_file));
}

/* The redirect's one map command (consuming an original destination);
 * nothing that writes a map or makes a map or program. */
TEST(network_bpf_consumes_map_entries_only)
{
	EXPECT_EQ(ALLOWED, confined(SANDBOX_NETWORK, bpf_lookup_and_delete));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, bpf_update));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, bpf_lookup));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, bpf_map_create));
	EXPECT_EQ(KILLED, confined(SANDBOX_NETWORK, bpf_load_prog));
}

TEST(key_holder_makes_no_socket_and_no_process)
{
	EXPECT_EQ(KILLED, confined(SANDBOX_KEYHOLDER, tcp4));
	EXPECT_EQ(KILLED, confined(SANDBOX_KEYHOLDER, unix_dgram));
	EXPECT_EQ(KILLED, confined(SANDBOX_KEYHOLDER, start_process));
}

TEST_HARNESS_MAIN
