/* internal.h - the whole runtime, for the runtime's own sources: an
 * umbrella over the component headers. Each component's state and functions
 * live in its own header:
 *   types.h   shared basics (assertions, counters, names, forward types)
 *   mpsc.h    the lock-free inbox queue
 *   defs.h    programs, transactions, transaction classes
 *   timer.h   per-worker timers
 *   enq.h     ENQ/DEQ and record locks
 *   encl.h    enclaves, accounting, policy, records
 *   task.h    tasks, fibers, waits, abends
 *   worker.h  workers and their dispatchers
 *   region.h  the region, admission, lifecycle, offload, monitor
 *   subsys.h  the lifecycle table's rows (subsystems)
 * txn/ does not include this: it sees runtime/taskapi.h only. */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "runtime/defs.h"
#include "runtime/encl.h"
#include "runtime/enq.h"
#include "runtime/mpsc.h"
#include "runtime/region.h"
#include "runtime/subsys.h"
#include "runtime/task.h"
#include "runtime/timer.h"
#include "runtime/types.h"
#include "runtime/worker.h"

#endif /* WEFT_INTERNAL_H */
