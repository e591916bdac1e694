// SPDX-License-Identifier: GPL-2.0
/* sk_lookup port takeover in the VM, where the sessions run on kTLS. */
#include "steer_cases.h"

TEST_HARNESS_MAIN
