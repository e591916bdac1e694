// SPDX-License-Identifier: GPL-2.0
/* Session edge cases in the VM (kTLS mode). */
#define SESSION_EXPECT_KTLS 1
#include "session_cases.h"

TEST_HARNESS_MAIN
