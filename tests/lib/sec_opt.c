// SPDX-License-Identifier: GPL-2.0
/* One security option set as a configuration file would; see sec_opt.h. */
#include "sec_opt.h"

void tl_set_sec_opt(struct cfg_security *sec, enum sec_option opt,
		    const char *value, const char *file)
{
	sec->opt[opt].value = (char *)value;
	sec->opt[opt].level = LEVEL_PORT;
	sec->opt[opt].file = file;
	sec->opt[opt].line = 10 + opt;
}
