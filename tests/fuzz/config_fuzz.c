// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the configuration parser: each input is written to a
 * memfd and loaded with config_load(), which must never crash, leak or read
 * out of bounds whatever the bytes; when the input loads, --explain output
 * is produced too so policy.c walks the result.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct ktlsd_config *cfg = NULL;
	char path[64];
	int fd;

	if (!sink)
		sink = fopen("/dev/null", "w");
	fd = memfd_create("ktlsd.conf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (config_load(path, &cfg, sink) == 0) {
			policy_explain(cfg, NULL, sink);
			config_free(cfg);
		}
	}
	close(fd);
	return 0;
}
