/* timer.c - per-worker timers: delays, wait timeouts and delayed starts.
 *
 * Each worker owns a binary min-heap of tasks ordered by due time
 * (weft__clock_ns, ~80 ns under Wine). While a timer is armed the
 * dispatcher gates the check with the TSC (tm_due_tsc, set slightly early),
 * then confirms with the clock, so a timer never fires before its due time.
 * Owner only. */
#include <stdlib.h>

#include "runtime/internal.h"

#define TSC_EARLY 0.98 /* gate 2% early: the clock has the last word */

static uint64_t gate_tsc(weft__worker *w, uint64_t due_ns, uint64_t now_ns) {
  uint64_t now_tsc = weft__tsc();
  if (due_ns <= now_ns)
    return now_tsc;
  return now_tsc + (uint64_t)((double)(due_ns - now_ns) * w->wk_region->r_tsc_per_ns * TSC_EARLY);
}

static void heap_set(weft__timer_heap *h, uint32_t i, weft_task *t) {
  h->th_items[i] = t;
  t->tk_timer.tm_index = (int32_t)i;
}

static void sift_up(weft__timer_heap *h, uint32_t i) {
  weft_task *t = h->th_items[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (h->th_items[parent]->tk_timer.tm_due_ns <= t->tk_timer.tm_due_ns)
      break;
    heap_set(h, i, h->th_items[parent]);
    i = parent;
  }
  heap_set(h, i, t);
}

static void sift_down(weft__timer_heap *h, uint32_t i) {
  weft_task *t = h->th_items[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= h->th_count)
      break;
    if (c + 1 < h->th_count &&
        h->th_items[c + 1]->tk_timer.tm_due_ns < h->th_items[c]->tk_timer.tm_due_ns)
      c++;
    if (t->tk_timer.tm_due_ns <= h->th_items[c]->tk_timer.tm_due_ns)
      break;
    heap_set(h, i, h->th_items[c]);
    i = c;
  }
  heap_set(h, i, t);
}

/* Remove the entry at index i. */
static void heap_remove(weft__timer_heap *h, uint32_t i) {
  weft_task *gone = h->th_items[i];
  weft_task *last = h->th_items[--h->th_count];
  gone->tk_timer.tm_index = -1;
  if (i == h->th_count)
    return;
  heap_set(h, i, last);
  sift_down(h, i);
  sift_up(h, (uint32_t)last->tk_timer.tm_index);
}

void weft__timer_arm(weft__worker *w, weft_task *t, uint64_t due_ns, uint64_t now_ns) {
  weft__assert_owner(w);
  weft__timer_heap *h = &w->wk_timers;
  weft_assert_internal(t->tk_timer.tm_index < 0);
  if (h->th_count == h->th_cap) {
    uint32_t cap = h->th_cap ? h->th_cap * 2 : 64;
    weft_task **items = realloc(h->th_items, cap * sizeof *items);
    if (items == NULL) { /* cannot happen in practice; never fire early */
      weft__log(w->wk_region, 'E', "timer heap exhausted");
      abort();
    }
    h->th_items = items;
    h->th_cap = cap;
  }
  t->tk_timer.tm_due_ns = due_ns;
  t->tk_timer.tm_due_tsc = gate_tsc(w, due_ns, now_ns);
  h->th_items[h->th_count] = t;
  sift_up(h, h->th_count++);
}

void weft__timer_cancel(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  if (t->tk_timer.tm_index >= 0)
    heap_remove(&w->wk_timers, (uint32_t)t->tk_timer.tm_index);
}

/* A timer came due: a delayed start, or a waiting task's timeout. */
static void timer_expired(weft__worker *w, weft_task *t) {
  if (t->tk_flags & WEFT__TF_DELAYED) {
    weft__start_delayed_fire(w, t);
  } else if (weft__task_claim(t)) {
    weft__wait_end(w, t);
    t->tk_wait_result = WEFT_ETIMEDOUT;
    weft__ready_push(w, t);
  } /* else a waker claimed it first; its wake-up is in the inbox */
}

/* Fire every timer due by the clock. */
void weft__timers_fire(weft__worker *w) {
  weft__assert_owner(w);
  weft__timer_heap *h = &w->wk_timers;
  uint64_t now = weft__clock_ns();
  while (h->th_count > 0) {
    weft_task *t = h->th_items[0];
    if (t->tk_timer.tm_due_ns > now) {
      t->tk_timer.tm_due_tsc = gate_tsc(w, t->tk_timer.tm_due_ns, now);
      break;
    }
    heap_remove(h, 0);
    timer_expired(w, t);
  }
}

/* How long the idle worker may sleep: 0 when a timer is due now,
 * WEFT_WAIT_FOREVER when none is armed. Rounded up: never early. */
unsigned weft__timers_sleep_ms(weft__worker *w) {
  weft__timer_heap *h = &w->wk_timers;
  if (h->th_count == 0)
    return WEFT_WAIT_FOREVER;
  uint64_t now = weft__clock_ns(), due = h->th_items[0]->tk_timer.tm_due_ns;
  if (due <= now)
    return 0;
  uint64_t ms = (due - now + 999999) / 1000000;
  return ms >= WEFT_WAIT_FOREVER ? WEFT_WAIT_FOREVER - 1 : (unsigned)ms;
}

/* Shutdown began: drop every delayed start armed here. Filters the heap
 * in place and rebuilds it (cold path). */
void weft__timers_cancel_delayed(weft__worker *w) {
  weft__timer_heap *h = &w->wk_timers;
  weft_task *gone = NULL;
  uint32_t n = 0;
  for (uint32_t i = 0; i < h->th_count; i++) {
    weft_task *t = h->th_items[i];
    if (t->tk_flags & WEFT__TF_DELAYED) {
      t->tk_timer.tm_index = -1;
      t->tk_rnext = gone;
      gone = t;
    } else {
      heap_set(h, n++, t);
    }
  }
  h->th_count = n;
  for (uint32_t i = n / 2; i-- > 0;)
    sift_down(h, i);
  while (gone != NULL) {
    weft_task *t = gone;
    gone = t->tk_rnext;
    weft__start_cancel(t, w);
  }
}

void weft__timers_free(weft__worker *w) {
  free(w->wk_timers.th_items);
  w->wk_timers.th_items = NULL;
  w->wk_timers.th_count = w->wk_timers.th_cap = 0;
}
