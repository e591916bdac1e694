// SPDX-License-Identifier: GPL-2.0
/* Privilege separation in the VM, where the sessions run on kTLS. */
#include "privsep_cases.h"

TEST_HARNESS_MAIN
