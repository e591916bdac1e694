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
	pid_t net = 0;
	int st = -1;

	start(_metadata, self, NULL);
	for (int i = 0; i < 6; i++) {
		net = wait_child(self->daemon.pid, "ktlsd: network", net);
		ASSERT_LT(0, net);
		ASSERT_EQ(0, kill(net, SIGKILL));
	}
	ASSERT_EQ(self->daemon.pid, waitpid(self->daemon.pid, &st, 0));
	self->daemon.pid = 0;
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(3, WEXITSTATUS(st));
	EXPECT_EQ(1, tl_file_contains(self->log, "giving up"));
}

TEST_HARNESS_MAIN
