// SPDX-License-Identifier: GPL-2.0
/* 1,000 concurrent sessions through ktlsd in the VM, all in kTLS mode. */
#define CONCURRENT_SESSIONS 1000
#define CONCURRENT_EXPECT_KTLS 1
#include "concurrency_cases.h"

TEST_HARNESS_MAIN
