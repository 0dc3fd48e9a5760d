/* web.h - the HTTP subsystem's rows of the lifecycle table (web.c). The
 * API is include/weft/http.h. */
#ifndef WEFT_WEB_H
#define WEFT_WEB_H

#include "runtime/subsys.h"

/* Before txn/: binds a task to its exchange at its end and marks a task
 * whose client went away abended (ATNI), so its work is backed out. */
extern const weft__subsys weft__web_gate_subsys;
/* After txn/: hands the response to the host once the unit of work is
 * settled. */
extern const weft__subsys weft__web_reply_subsys;

#endif /* WEFT_WEB_H */
