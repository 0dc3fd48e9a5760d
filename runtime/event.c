/* event.c - events: posted from any thread, waited on by tasks (like a CICS
 * ECB: an event stays posted until reset).
 *
 * Ownership: ev_lock guards the waiter queue and the wait-queue fields of
 * the tasks on it. ev_posted is also read without the lock. */
#include <stdlib.h>

#include "runtime/internal.h"

struct weft_event {
  weft__lock ev_lock;
  _Atomic int ev_posted;  /* 1 once posted, until reset */
  weft__waitq ev_waiters; /* waiting tasks, FIFO (ev_lock) */
};

int weft_event_create(weft_event **out) {
  if (out == NULL)
    return WEFT_EINVAL;
  weft_event *ev = calloc(1, sizeof *ev);
  if (ev == NULL)
    return WEFT_ENOMEM;
  weft__lock_init(&ev->ev_lock);
  *out = ev;
  return 0;
}

void weft_event_destroy(weft_event *ev) {
  if (ev == NULL)
    return;
  weft_assert(ev->ev_waiters.wq_head == NULL);
  free(ev);
}

/* Any thread. Wakes every waiter. */
int weft_event_post(weft_event *ev) {
  if (ev == NULL)
    return WEFT_EINVAL;
  weft__lock_acquire(&ev->ev_lock);
  atomic_store_explicit(&ev->ev_posted, 1, memory_order_release);
  weft_task *t;
  while ((t = weft__waitq_pop(&ev->ev_waiters)) != NULL)
    if (weft__task_claim(t))
      weft__task_wake(t, 0);
  weft__lock_release(&ev->ev_lock);
  return 0;
}

int weft_event_reset(weft_event *ev) {
  if (ev == NULL)
    return WEFT_EINVAL;
  atomic_store_explicit(&ev->ev_posted, 0, memory_order_release);
  return 0;
}

int weft_event_is_posted(const weft_event *ev) {
  return ev != NULL && atomic_load_explicit(&ev->ev_posted, memory_order_acquire);
}

/* After a timeout or purge: leave the waiter queue if still on it. Task. */
void weft__event_detach(weft_task *t) {
  weft_event *ev = t->tk_wait_obj;
  weft__lock_acquire(&ev->ev_lock);
  if (t->tk_wlinked)
    weft__waitq_remove(&ev->ev_waiters, t);
  weft__lock_release(&ev->ev_lock);
}

int weft_event_wait(weft_task *t, weft_event *ev, unsigned timeout_ms) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (ev == NULL)
    return WEFT_EINVAL;
  if (weft_event_is_posted(ev))
    return 0;
  if (timeout_ms == 0)
    return WEFT_ETIMEDOUT;
  weft__lock_acquire(&ev->ev_lock);
  if (atomic_load_explicit(&ev->ev_posted, memory_order_relaxed)) {
    weft__lock_release(&ev->ev_lock);
    return 0;
  }
  atomic_store_explicit(&t->tk_wait, WEFT__W_WAIT, memory_order_relaxed);
  weft__waitq_push(&ev->ev_waiters, t);
  t->tk_wait_obj = ev;
  t->tk_detach = weft__event_detach;
  weft__lock_release(&ev->ev_lock);
  return weft__task_wait(t, timeout_ms, WEFT_WAIT_EVENT);
}
