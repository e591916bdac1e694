// SPDX-License-Identifier: GPL-2.0
/* Session edge cases on the host kernel (userspace mode). */
#define SESSION_EXPECT_KTLS 0
#include "session_cases.h"

TEST_HARNESS_MAIN
