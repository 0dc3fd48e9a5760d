/* timer.h - per-worker timers: a min-heap of the tasks with a wait timeout
 * or a delayed start, owned by the worker (timer.c). */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include "runtime/types.h"

/* ---- Timers (per worker, owner only) ------------------------------------- */

typedef struct weft__timer {
  uint64_t tm_due_ns;  /* never fire before weft__clock_ns() >= this */
  uint64_t tm_due_tsc; /* cheap early gate: check the clock from this TSC on */
  int32_t tm_index;    /* position in the owner's heap, -1 when not armed */
} weft__timer;

typedef struct weft__timer_heap {
  struct weft_task **th_items; /* min-heap by tm_due_ns */
  uint32_t th_count, th_cap;
} weft__timer_heap;


void weft__timer_arm(weft__worker *w, weft_task *t, uint64_t due_ns, uint64_t now_ns); /* owner */
void weft__timer_cancel(weft__worker *w, weft_task *t);                                /* owner */
void weft__timers_fire(weft__worker *w);                                               /* owner */
unsigned weft__timers_sleep_ms(weft__worker *w);                                       /* owner */
void weft__timers_cancel_delayed(weft__worker *w); /* owner */
void weft__timers_free(weft__worker *w);

#endif /* WEFT_TIMER_H */
