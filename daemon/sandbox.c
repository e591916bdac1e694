// SPDX-License-Identifier: GPL-2.0
/*
 * Confining ktlsd's children; see sandbox.h.
 *
 * Order matters: the bounding set is dropped while we still have
 * CAP_SETPCAP, groups and gids before the uid (afterwards we may no longer
 * change them), then the capability sets are cleared explicitly (a uid
 * change clears effective and permitted but not inheritable), and the
 * seccomp filter comes last, once nothing needs a call it forbids.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

static char *title_area;
static size_t title_len;

void sandbox_save_argv(int argc, char **argv)
{
	/* argv strings are contiguous: the area runs to the end of the last. */
	if (argc < 1 || !argv[0])
		return;
	title_area = argv[0];
	title_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
}

void sandbox_set_title(const char *role)
{
	char comm[16];

	snprintf(comm, sizeof(comm), "ktlsd-%s", role);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	if (title_area && title_len > 1) {
		memset(title_area, 0, title_len);
		snprintf(title_area, title_len, "ktlsd: %s", role);
	}
}

int sandbox_lookup_user(const char *name, uid_t *uid, gid_t *gid, char *err,
			size_t errlen)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		snprintf(err, errlen,
			 "user '%s' does not exist: create it (the package does, "
			 "through systemd-sysusers) or set [ktlsd] user = to an "
			 "unprivileged user", name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen,
			 "user '%s' is root: the processes that parse the network "
			 "and hold the keys must not run as root", name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

void sandbox_not_dumpable(void)
{
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int sandbox_drop_privileges(uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct none[2] = { { 0 } };

	sandbox_not_dumpable();
	/* Without CAP_SETPCAP (a unit that does not grant it) the bounding
	 * set stays; every other set is still emptied below. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			break;
	/* Started as root: become UID. Started as that user already (a unit
	 * with User= and AmbientCapabilities=): keep it; the capabilities
	 * still go below. */
	if (getuid() == 0 &&
	    (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	     setresuid(uid, uid, uid) < 0))
		return -1;
	if (syscall(SYS_capset, &hdr, none) < 0)
		return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* A uid change resets dumpability to the sysctl's value: again. */
	sandbox_not_dumpable();
	/* Proof, not hope: going back must fail. */
	if (setresuid(0, 0, 0) == 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* The calls every confined process makes: memory, exit, time, randomness,
 * its own sockets, logging to stderr. */
static const char *const common_calls[] = {
	"read", "write", "writev",	/* sockets, pipes, stderr logging */
	"recvmsg", "sendmsg", "recvfrom", "sendto",	/* message sockets */
	"close",
	"brk", "mmap", "munmap", "mremap", "madvise",	/* malloc */
	"mprotect",			/* glibc's malloc arenas; PROT_EXEC is
					 * refused by the kernel under
					 * MemoryDenyWriteExecute in the unit */
	"futex",			/* locks (OpenSSL, stdio) */
	"clock_gettime", "clock_nanosleep", "gettimeofday",
	"getrandom",			/* OpenSSL's DRBG: nonces, PSS salts */
	"getpid", "gettid",		/* OpenSSL's fork detection */
	"fstat", "newfstatat", "lseek",	/* stdio, reading a handed key fd */
	"rt_sigreturn", "rt_sigprocmask",
	"rt_sigaction",			/* glibc and OpenSSL set handlers */
	"sigaltstack",			/* a thread's signal stack (sanitizers) */
	"exit", "exit_group",
	"restart_syscall",
};

/* The key holder also waits on its two sockets and reads key files it is
 * handed as descriptors (it never opens a path). */
static const char *const keyholder_calls[] = {
	"poll", "ppoll",
};

/* The network process: epoll loops, accept, the backend connect, kTLS
 * setsockopt, splice through pipes, timers, threads. No open of a path
 * for writing, no exec, no ptrace, no bind of a new port. */
static const char *const network_calls[] = {
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"poll", "ppoll",
	"accept4", "accept",		/* the listeners the parent bound */
	"connect",			/* the backend and TLS client side;
					 * socket() is filtered below */
	"bind",				/* IP_BIND_ADDRESS_NO_PORT source */
	"getsockname", "getpeername",
	"setsockopt", "getsockopt",	/* TCP_ULP tls, TLS_TX/RX, timeouts */
	"shutdown",
	"splice", "pipe2", "fcntl",	/* kTLS mode: plaintext via pipes */
	"ioctl",			/* FIONREAD on pipes */
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	"eventfd2",			/* waking workers */
	"signalfd4",
	"set_robust_list", "rseq",	/* worker threads; clone() below */
	"sched_yield", "sched_getaffinity",
	"dup", "dup3",
	"getrlimit", "prlimit64",
	"sysinfo",
	"uname",			/* OpenSSL and glibc probes */
};

#ifdef __SANITIZE_THREAD__
/* ThreadSanitizer's runtime (make SAN=thread): its background thread sleeps
 * between checks of the process's memory. Test builds only. */
static const char *const tsan_calls[] = {
	"nanosleep",
};
#endif

static void add_calls(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);

		/* A name this architecture lacks (e.g. no "poll" on arm64). */
		if (nr != __NR_SCMP_ERROR)
			seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[96];
	int len = snprintf(msg, sizeof(msg),
			   "ktlsd: error: seccomp: forbidden system call %d\n",
			   si->si_syscall);

	if (write(2, msg, (size_t)len) < 0)
		_exit(128 + SIGSYS);
	_exit(128 + SIGSYS);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* The type bits of socket()'s second argument, without SOCK_NONBLOCK and
 * SOCK_CLOEXEC. */
#define SOCK_TYPE_MASK 0xf
#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE)

int sandbox_seccomp(enum sandbox_profile profile)
{
	const char *mode = getenv("KTLSD_SECCOMP");
	bool trap = mode && !strcmp(mode, "trap");
	scmp_filter_ctx ctx;
	int rc;

	ctx = seccomp_init(trap ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -1;
	add_calls(ctx, common_calls, N(common_calls));
#ifdef __SANITIZE_THREAD__
	add_calls(ctx, tsan_calls, N(tsan_calls));
#endif
	if (profile == SANDBOX_KEYHOLDER) {
		add_calls(ctx, keyholder_calls, N(keyholder_calls));
	} else {
		add_calls(ctx, network_calls, N(network_calls));
		/* Reading /proc (kTLS counters for the control side): open
		 * read-only only, never create, write or truncate a file. */
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				 SCMP_A2(SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0));
		/* The same through open(2), which the sanitizers' runtime
		 * calls directly. */
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
				 SCMP_A1(SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0));
	}
	if (profile == SANDBOX_NETWORK) {
		/* Threads, never a new process: clone() with CLONE_THREAD
		 * only. clone3() passes its flags in memory, which a filter
		 * cannot read: ENOSYS, and glibc falls back to clone(). */
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				 SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
		seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
		/* TCP to clients and services over IPv4 and IPv6; of local
		 * sockets only datagrams, the journal's (the access log).
		 * Under the packaged unit the parent runs as the same user,
		 * and its control socket (SOCK_SEQPACKET) must stay out of
		 * reach: a datagram socket cannot connect to it. */
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				 SCMP_A0(SCMP_CMP_EQ, AF_INET));
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				 SCMP_A0(SCMP_CMP_EQ, AF_INET6));
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
				 SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
				 SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_MASK, SOCK_DGRAM));
		/* bpf() for one command: consuming a redirected connection's
		 * original destination in the map the parent handed over
		 * (Linux 6.5+; before, the kernel refuses it and the parent
		 * does it, redirect_broker.c). Never a new map or program,
		 * never a write: ktlsd's own connects are recognised by uid. */
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bpf), 1,
				 SCMP_A0(SCMP_CMP_EQ, BPF_MAP_LOOKUP_AND_DELETE_ELEM));
	}
	/* prctl(PR_SET_NAME) only: the title says "draining" (sandbox_set_title). */
	seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			 SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (trap) {
		struct sigaction sa = { .sa_sigaction = on_sigsys,
					.sa_flags = SA_SIGINFO };

		sigaction(SIGSYS, &sa, NULL);
	}
	/* Every thread of the process, should there be any yet. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/*
 * KTLSD_SECCOMP_SELFTEST=network or keyholder: the first such process makes
 * a system call its filter forbids once it is confined, so an operator (or
 * a test) sees the filter kill it and the parent start a new one. Taken in
 * the parent before the fork, once per role.
 */
bool sandbox_take_selftest(const char *role)
{
	static bool taken_network, taken_keyholder;
	const char *want = getenv("KTLSD_SECCOMP_SELFTEST");
	bool *taken = !strcmp(role, "network") ? &taken_network : &taken_keyholder;

	if (!want || strcmp(want, role) || *taken)
		return false;
	*taken = true;
	return true;
}

void sandbox_selftest_violate(void)
{
	log_warn("seccomp self-test: making a forbidden system call (ptrace)");
	syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
}

/*
 * The parent keeps only these capabilities, each for a reason:
 *   CAP_NET_BIND_SERVICE  a reload may add a listen port below 1024
 *   CAP_NET_ADMIN         attaching the eBPF programs to a network namespace
 *                         and to cgroups, sockmaps, the steering's source
 *                         address on lo
 *   CAP_BPF               loading, pinning and updating the eBPF programs
 *                         and maps
 *   CAP_PERFMON           the verifier's full view of pointers: without
 *                         it Linux 6.12's verifier refuses the steering
 *                         program (6.18's accepts it)
 *   CAP_DAC_READ_SEARCH   reading rotated certificates and keys owned by
 *                         another user (opening only; the bytes of a key
 *                         file are read by the key holder)
 * Started as root (by hand), also:
 *   CAP_SETUID, CAP_SETGID, CAP_SETPCAP  starting a child as the
 *                         unprivileged user with an empty bounding set
 *   CAP_KILL              stopping children that run as that user
 *   CAP_CHOWN             the control socket's group
 * The packaged unit runs the parent as that user already (User=ktlsd, the
 * first five as ambient capabilities): its children keep the uid, and the
 * last five are not granted at all. Everything else (modules, ptrace, raw
 * I/O, mount, time, reboot, CAP_SYS_ADMIN...) leaves the effective,
 * permitted and bounding sets at start, where the bounding set may be cut.
 */
static const int parent_caps[] = {
	CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON,
	CAP_DAC_READ_SEARCH, CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_KILL,
	CAP_CHOWN,
};

int sandbox_limit_parent(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct cur[2], want[2] = { { 0 } };

	if (syscall(SYS_capget, &hdr, cur) < 0)
		return -1;
	for (size_t i = 0; i < N(parent_caps); i++) {
		int c = parent_caps[i];

		want[c / 32].permitted |= 1U << (c % 32);
	}
	for (int i = 0; i < 2; i++) {
		want[i].permitted &= cur[i].permitted;
		want[i].effective = want[i].permitted;
	}
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		bool keep = false;

		for (size_t i = 0; i < N(parent_caps); i++)
			keep |= parent_caps[i] == cap;
		if (!keep && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
		    errno != EINVAL && errno != EPERM)
			return -1;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return syscall(SYS_capset, &hdr, want) < 0 ? -1 : 0;
}
