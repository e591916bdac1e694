// SPDX-License-Identifier: GPL-2.0
/* Client-side redirection on the host kernel (userspace data path). */
#define REDIRECT_EXPECT_KTLS 0
#include "redirect_cases.h"

TEST_HARNESS_MAIN
