// SPDX-License-Identifier: GPL-2.0
/* Privilege separation on the host kernel (userspace data path). */
#include <sys/wait.h>

#include "privsep_cases.h"

/*
 * A network process that keeps dying (here: killed six times in a row, as
 * a crash at every start would) is not replaced forever: the daemon gives
 * up and exits 3 so that the service manager sees the failure. Host only:
 * in the emulated VM six restarts may take longer than the 10 s window.
 */
TEST_F(privsep, a_crash_loop_stops_the_daemon_with_exit_3)
{
	pid_t net = 0, done = 0;
	int st = -1;

	start(_metadata, self, NULL);
	/* Kill each new network process until the daemon gives up (a kill
	 * that lands while one starts counts too, so it may take fewer). */
	for (int i = 0; i < 12 && !done; i++) {
		net = wait_child(self->daemon.pid, "ktlsd: network", net);
		if (net > 0)
			kill(net, SIGKILL);
		done = waitpid(self->daemon.pid, &st, net > 0 ? WNOHANG : 0);
	}
	if (!done)
		done = waitpid(self->daemon.pid, &st, 0);
	ASSERT_EQ(self->daemon.pid, done);
	self->daemon.pid = 0;
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(3, WEXITSTATUS(st));
	EXPECT_EQ(1, tl_file_contains(self->log, "giving up"));
}

TEST_HARNESS_MAIN
