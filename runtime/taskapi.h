/* taskapi.h - the runtime as the library's subsystems (txn/) see it: the
 * narrow task interface, the region's configuration, record locks and the
 * lifecycle table. A subsystem includes this and runtime/types.h, never
 * the runtime's component headers: weft_task and weft_region stay opaque
 * to it. Each function states its calling context; "task" means on the
 * task's own fiber, where t is the calling task. */
#ifndef WEFT_TASKAPI_H
#define WEFT_TASKAPI_H

#include "runtime/subsys.h"
#include "runtime/types.h"

/* ---- The calling task ------------------------------------------------------ */

/* 0 when t is the calling task; WEFT_EINVAL (NULL or not a task) or
 * WEFT_ESTATE (not on t's fiber) otherwise. Any thread. */
int weft__task_check(weft_task *t);
/* Abend t with code (4 characters): runs its handlers, never returns. Task. */
WEFT_NORETURN void weft__task_abend(weft_task *t, const char *code);
/* Its region, task number and transaction id (immutable while it lives). */
weft_region *weft__task_region(const weft_task *t);
uint64_t weft__task_no(const weft_task *t);
const char *weft__task_tranid(const weft_task *t);
/* True when the task ends in an abend (ss_task_end: roll back). Task. */
bool weft__task_abended(const weft_task *t);
/* At its end, make a task that ended normally count as abended with code
 * (its end record and terminal say so); it does not unwind. Task, from an
 * ss_task_end hook. */
void weft__task_mark_abended(weft_task *t, const char *code);
/* Its abend code ("" while it has not abended). Task. */
const char *weft__task_abcode(const weft_task *t);
/* The task's slot for library subsystem ss: NULL until the subsystem sets
 * it; the subsystem clears what it keeps at its ss_task_end. Task. */
void **weft__task_slot(weft_task *t, const weft__subsys *ss);
/* Non-zero when the calling thread is one of a region's workers (a task or
 * a dispatcher), where host-only calls must refuse. Any thread. */
bool weft__on_worker(void);

/* ---- 3270 terminals (runtime/term.c) ------------------------------------------ */

/* Send one outbound 3270 data stream record to the task's terminal:
 * 0, WEFT_ESTATE without a terminal, WEFT_ENOTSUP on a line terminal; a
 * gone terminal abends the task ATNI. Task. */
int weft__term_send_record(weft_task *t, const void *data, size_t len);
/* Wait for the terminal's next inbound record (as weft_receive waits):
 * 0 and the record in buf (*len its length), WEFT_ERANGE (dropped, *len
 * its length), WEFT_ETIMEDOUT, WEFT_ESTATE, WEFT_ENOTSUP on a line
 * terminal. Task. */
int weft__term_receive_record(weft_task *t, void *buf, size_t cap, size_t *len,
                              unsigned timeout_ms);

/* ---- Hard waits --------------------------------------------------------------
 * A wait that only one party may end: no timer, purge or runaway check
 * claims it (an offloaded call may still use the task's stack; a committed
 * unit of work must learn how its flush went). The task calls _begin, then
 * publishes itself where its waker will find it (under the waker's lock),
 * then waits; the waker calls weft__task_hard_wake exactly once. */

/* Mark t as hard-waiting. Task, before publishing it. */
void weft__task_hard_wait_begin(weft_task *t);
/* Undo _begin when the task could not be published. Task. */
void weft__task_hard_wait_cancel(weft_task *t);
/* Hand t back to its owner with result (the wait's return value). The one
 * waker, any thread. */
void weft__task_hard_wake(weft_task *t, int result);
/* Suspend until woken, with no purge or runaway abend after it; reason is
 * the WEFT_WAIT_* it is accounted as. Returns the waker's result. Task. */
int weft__task_wait_raw(weft_task *t, unsigned timeout_ms, int reason);

/* weft_offload without the purge and runaway checks after the call: for
 * blocking work that must run to its end even for a task that is being
 * purged or is already unwinding an abend (a resource manager backing out
 * or committing at task end). Same results as weft_offload. Task. */
int weft__offload_raw(weft_task *t, int (*fn)(void *arg), void *arg, int *result);

/* ---- The region --------------------------------------------------------------- */

/* The region's configuration as created (immutable; the caller's strings
 * data_dir and record_path are not kept: NULL). Any thread. */
const weft_region_config *weft__region_config(weft_region *r);
/* The transaction defined as tranid, or NULL (opaque). Any thread. */
const weft__tran *weft__tran_find(weft_region *r, const char *tranid);
/* The region can no longer keep its promises (txn/: its log failed): it
 * stops serving, as an immediate shutdown would: starts refused, queued
 * and delayed ones dropped, every task purged (runtime/region.c). The
 * host still shuts it down and destroys it. Any thread. */
void weft__region_fail(weft_region *r);
/* Abend task task_no with code (4 characters) at its next suspension
 * point, at once if it waits (runtime/inquire.c; web/: a client gone).
 * WEFT_ENOTFOUND when no such task lives. Any thread. */
int weft__purge_request(weft_region *r, uint64_t task_no, const char *code);

/* ---- Record locks (runtime/enq.c) ---------------------------------------------
 * ENQs with unit-of-work lifetime on len bytes at res, in their own
 * namespace (a program's ENQ on the same bytes does not block them). */

/* Take the lock: 0, WEFT_ETIMEDOUT, WEFT_EDEADLOCK, WEFT_ENOMEM. Task. */
int weft__lock_uow(weft_task *t, const void *res, size_t len, unsigned timeout_ms);
/* True when t holds it. Task. */
bool weft__lock_uow_held(weft_task *t, const void *res, size_t len);
/* Wait until no other task holds res; holds nothing after. Task. */
int weft__lock_wait_free(weft_task *t, const void *res, size_t len, unsigned timeout_ms);
/* Release t's UOW-lifetime locks (syncpoint, rollback). Task. */
void weft__enq_release_uow(weft_task *t);
/* After a record-lock wait failed with rc: count a timeout, abend AKCS in
 * WEFT_DEADLOCK_ABEND mode, else return rc (WEFT_EBUSY reads as
 * WEFT_ETIMEDOUT). Task. */
int weft__lock_outcome(weft_task *t, int rc);
/* The region's deadlocks and lock timeouts so far. Any thread. */
void weft__lock_figures(weft_region *r, uint64_t *deadlocks, uint64_t *lock_timeouts);

#endif /* WEFT_TASKAPI_H */
