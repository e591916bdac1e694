// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the daemon's control-request decoder, which is all
 * that reads bytes a control client sent. Any input must decode or be
 * refused with a negative errno, without reading outside the input, and a
 * decoded request must carry a known type and terminated strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request req;
	char err[128];
	int rc = ctl_request_decode(data, size, &req, err, sizeof(err));

	if (rc > 0)
		abort();
	if (rc < 0 && !err[0])
		abort();	/* every refusal says why */
	if (rc == 0 && (req.type < CTL_MSG_STATUS || req.type >= CTL_MSG_ERROR ||
			strnlen(req.filter_port, sizeof(req.filter_port)) ==
			sizeof(req.filter_port) ||
			strnlen(req.filter_peer, sizeof(req.filter_peer)) ==
			sizeof(req.filter_peer) ||
			strnlen(req.name, sizeof(req.name)) == sizeof(req.name)))
		abort();
	return 0;
}
