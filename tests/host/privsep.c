// SPDX-License-Identifier: GPL-2.0
/* Privilege separation on the host kernel (userspace data path). */
#include "privsep_cases.h"

TEST_HARNESS_MAIN
