// SPDX-License-Identifier: GPL-2.0
/*
 * The data-path matrix in the VM, whose kernel has kTLS: every session must
 * be offloaded (the kernel's TlsTxSw/TlsRxSw counters prove it) and every
 * transfer byte-exact against OpenSSL and GnuTLS peers.
 */
#define DATAPATH_EXPECT_KTLS 1
#include "datapath_cases.h"

TEST_HARNESS_MAIN
