// SPDX-License-Identifier: GPL-2.0
/*
 * The data-path matrix on the host kernel, which has no kTLS: every session
 * must run in userspace mode, say why, and still be byte-exact.
 */
#define DATAPATH_EXPECT_KTLS 0
#include "datapath_cases.h"

TEST_HARNESS_MAIN
