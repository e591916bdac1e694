// SPDX-License-Identifier: GPL-2.0
/* Client-side redirection in the VM: ktlsd's client sockets run kTLS. */
#define REDIRECT_EXPECT_KTLS 1
#include "redirect_cases.h"

TEST_HARNESS_MAIN
