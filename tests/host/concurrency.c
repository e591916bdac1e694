// SPDX-License-Identifier: GPL-2.0
/* 10,000 concurrent sessions through ktlsd on the host (userspace mode). */
#define CONCURRENT_SESSIONS 10000
#define CONCURRENT_EXPECT_KTLS 0
#include "concurrency_cases.h"

TEST_HARNESS_MAIN
