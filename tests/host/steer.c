// SPDX-License-Identifier: GPL-2.0
/* sk_lookup port takeover on the host kernel (userspace data path). */
#include "steer_cases.h"

TEST_HARNESS_MAIN
