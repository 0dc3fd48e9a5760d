/* offload.c - run blocking calls on a pool of offload threads while the
 * calling task waits and its worker runs other tasks.
 *
 * Ownership: r_off.of_lock guards the job queue (tasks linked by tk_rnext: a
 * waiting task is on no ready queue) and the pool counters. An offload
 * thread that finished a job is the only one that may wake its task
 * (tk_wait is WEFT__W_HARD: neither timers nor a purge can claim it, since
 * the offloaded call may still use the task's stack). Threads start on
 * demand up to offload_threads and stay until the region stops. */
#include <stdlib.h>

#include "runtime/internal.h"

static weft_task *job_pop(weft_region *r) {
  weft_task *t = r->r_off.of_head;
  if (t != NULL && (r->r_off.of_head = t->tk_rnext) == NULL)
    r->r_off.of_tail = NULL;
  return t;
}

static void job_done(weft_task *t, int result) {
  t->tk_off_result = result;
  weft__task_hard_wake(t, 0);
}

static void offload_main(void *arg) {
  weft_region *r = arg;
  weft__lock_acquire(&r->r_off.of_lock);
  for (;;) {
    weft_task *t = job_pop(r);
    if (t == NULL) {
      if (r->r_off.of_stop)
        break;
      r->r_off.of_idle++;
      weft__cond_wait(&r->r_off.of_cond, &r->r_off.of_lock, WEFT_WAIT_FOREVER);
      r->r_off.of_idle--;
      continue;
    }
    weft__lock_release(&r->r_off.of_lock);
    job_done(t, t->tk_off_fn(t->tk_off_arg));
    weft__lock_acquire(&r->r_off.of_lock);
  }
  weft__lock_release(&r->r_off.of_lock);
}

/* r_off.of_lock held. A new thread when none is idle and the pool may grow;
 * fails only when the pool is empty and no thread can be made. */
static int pool_grow(weft_region *r) {
  if (r->r_off.of_idle > 0 || r->r_off.of_threads == r->r_cfg.offload_threads)
    return 0;
  if (r->r_off.of_handles == NULL &&
      (r->r_off.of_handles = calloc(r->r_cfg.offload_threads, sizeof *r->r_off.of_handles)) == NULL)
    return r->r_off.of_threads ? 0 : WEFT_ENOMEM;
  int rc = weft__thread_create(offload_main, r, &r->r_off.of_handles[r->r_off.of_threads]);
  if (rc == 0)
    r->r_off.of_threads++;
  return r->r_off.of_threads ? 0 : rc;
}

/* Queue fn(arg) for the pool and wait for it; raw: without the purge and
 * runaway checks after the wait. Task. */
static int offload_run(weft_task *t, int (*fn)(void *arg), void *arg, int *result, bool raw) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (fn == NULL)
    return WEFT_EINVAL;
  weft_region *r = t->tk_region;
  t->tk_off_fn = fn;
  t->tk_off_arg = arg;
  t->tk_rnext = NULL;
  weft__task_hard_wait_begin(t);
  weft__lock_acquire(&r->r_off.of_lock);
  if ((rc = pool_grow(r)) == 0) {
    if (r->r_off.of_tail != NULL)
      r->r_off.of_tail->tk_rnext = t;
    else
      r->r_off.of_head = t;
    r->r_off.of_tail = t;
    weft__cond_signal(&r->r_off.of_cond);
  }
  weft__lock_release(&r->r_off.of_lock);
  if (rc != 0) {
    weft__task_hard_wait_cancel(t);
    return rc;
  }
  if (raw)
    weft__task_wait_raw(t, WEFT_WAIT_FOREVER, WEFT_WAIT_OFFLOAD);
  else
    weft__task_wait(t, WEFT_WAIT_FOREVER, WEFT_WAIT_OFFLOAD);
  if (result != NULL)
    *result = t->tk_off_result;
  return 0;
}

int weft_offload(weft_task *t, int (*fn)(void *arg), void *arg, int *result) {
  return offload_run(t, fn, arg, result, false);
}

int weft__offload_raw(weft_task *t, int (*fn)(void *arg), void *arg, int *result) {
  return offload_run(t, fn, arg, result, true);
}

/* The region is down: let the threads finish and join them. Host thread. */
void weft__offload_stop(weft_region *r) {
  weft__lock_acquire(&r->r_off.of_lock);
  r->r_off.of_stop = true;
  weft__cond_broadcast(&r->r_off.of_cond);
  weft__lock_release(&r->r_off.of_lock);
  for (unsigned i = 0; i < r->r_off.of_threads; i++)
    weft__thread_join(r->r_off.of_handles[i]);
  free(r->r_off.of_handles);
  r->r_off.of_handles = NULL;
  r->r_off.of_threads = 0;
}
