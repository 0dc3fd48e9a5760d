/* monitor.c - the region monitor: a thread that samples every worker a few
 * times per runaway limit, reports a task that keeps its worker too long and
 * publishes how long the current dispatch has lasted (wk_runword), which the
 * dispatcher checks when the task switches back. The dispatch path itself
 * reads no clock.
 *
 * The age is measured from the first sample that saw a dispatch, so it only
 * ever underestimates: a task is never abended before its limit, and at most
 * one sampling period after it. */
#include <stdlib.h>

#include "runtime/internal.h"

#define PERIOD_MAX_MS 250u
#define PERIOD_MIN_MS 2u

typedef struct mon_seen {
  uint64_t ms_disp;  /* dispatch number last seen */
  uint64_t ms_since; /* when it was first seen (ms) */
  bool ms_reported;  /* runaway message written for it */
} mon_seen;

static void sample_worker(weft_region *r, weft__worker *w, mon_seen *s, uint64_t now) {
  uint64_t disp = WEFT__LOAD(w->wk_dispatches);
  uint64_t mask = UINT64_MAX >> WEFT__RUNWORD_MS_BITS;
  if (atomic_load(&w->wk_sleeping) || disp != s->ms_disp) {
    s->ms_disp = disp;
    s->ms_since = now;
    s->ms_reported = false;
    return;
  }
  uint64_t age = now - s->ms_since;
  uint64_t ms = age > WEFT__RUNWORD_MS_MAX ? WEFT__RUNWORD_MS_MAX : age;
  atomic_store_explicit(&w->wk_runword, (disp & mask) << WEFT__RUNWORD_MS_BITS | ms,
                        memory_order_relaxed);
  unsigned limit = r->r_cfg.runaway_ms;
  if (limit != 0 && age >= limit && !s->ms_reported) {
    s->ms_reported = true;
    weft__log(r, 'W',
              "task %llu has run %llu ms on worker %u without suspending (runaway limit "
              "%u ms): it abends AICA at its next suspension point",
              (unsigned long long)WEFT__LOAD(w->wk_run_no), (unsigned long long)age, w->wk_id,
              limit);
  }
}

/* The next deadline of a period after now_ms, on the period's own grid
 * (so the monitor's wake-ups never stretch it). */
static uint64_t next_tick(uint64_t deadline, unsigned period, uint64_t now_ms) {
  while (deadline <= now_ms)
    deadline += period;
  return deadline;
}

/* What is due at now_ms: the policy interval (records, PI, bands) and an
 * aging tick for every worker. Returns the ms until the next of them. */
static uint64_t periodic(weft_region *r, uint64_t now_ms, uint64_t *next_policy,
                         uint64_t *next_age) {
  bool aging = r->r_cfg.aging_ms != 0 && r->r_cfg.dispatch_mode != WEFT_DISPATCH_FIFO;
  if (now_ms >= *next_policy) {
    weft__policy_run(r, now_ms * 1000000u);
    *next_policy = next_tick(*next_policy, r->r_cfg.policy_interval_ms, now_ms);
  }
  if (aging && now_ms >= *next_age) {
    for (unsigned i = 0; i < r->r_nworkers; i++)
      weft__worker_ctl(r->r_workers[i], WEFT__CTL_AGE);
    *next_age = next_tick(*next_age, r->r_cfg.aging_ms, now_ms);
  }
  weft__records_flush(r);
  uint64_t wait = *next_policy - now_ms;
  return aging && *next_age - now_ms < wait ? *next_age - now_ms : wait;
}

static void monitor_main(void *arg) {
  weft_region *r = arg;
  mon_seen *seen = calloc(r->r_nworkers, sizeof *seen);
  for (unsigned i = 0; seen != NULL && i < r->r_nworkers; i++)
    seen[i].ms_disp = UINT64_MAX; /* matches no dispatch: the first sample starts the clock */
  uint64_t start = weft__clock_ns() / 1000000u;
  uint64_t next_policy = start + r->r_cfg.policy_interval_ms, next_age = start + r->r_cfg.aging_ms;
  weft__lock_acquire(&r->r_mon.mn_lock);
  while (!r->r_mon.mn_stop) {
    weft__lock_release(&r->r_mon.mn_lock);
    uint64_t now = weft__clock_ns() / 1000000u;
    for (unsigned i = 0; seen != NULL && i < r->r_nworkers; i++)
      sample_worker(r, r->r_workers[i], &seen[i], now);
    uint64_t due = periodic(r, now, &next_policy, &next_age);
    unsigned ms = atomic_load(&r->r_mon.mn_period_ms);
    weft__lock_acquire(&r->r_mon.mn_lock);
    if (!r->r_mon.mn_stop)
      weft__cond_wait(&r->r_mon.mn_cond, &r->r_mon.mn_lock, due < ms ? (unsigned)due : ms);
  }
  weft__lock_release(&r->r_mon.mn_lock);
  free(seen);
}

/* A runaway limit of ms exists (region or transaction): sample often enough
 * for it, a quarter of the limit. Any thread. */
void weft__monitor_limit(weft_region *r, unsigned runaway_ms) {
  if (runaway_ms == 0)
    return;
  unsigned want = runaway_ms / 4;
  want = want < PERIOD_MIN_MS ? PERIOD_MIN_MS : want;
  unsigned cur = atomic_load(&r->r_mon.mn_period_ms);
  while (want < cur && !atomic_compare_exchange_weak(&r->r_mon.mn_period_ms, &cur, want))
    ;
}

/* Host thread, after the workers exist. */
int weft__monitor_start(weft_region *r) {
  weft__lock_init(&r->r_mon.mn_lock);
  weft__cond_init(&r->r_mon.mn_cond);
  atomic_store(&r->r_mon.mn_period_ms, PERIOD_MAX_MS);
  weft__monitor_limit(r, r->r_cfg.runaway_ms); /* policy and aging: see periodic() */
  return weft__thread_create(monitor_main, r, &r->r_mon.mn_thread);
}

/* Host thread; safe when it never started. */
void weft__monitor_stop(weft_region *r) {
  if (r->r_mon.mn_thread == NULL)
    return;
  weft__lock_acquire(&r->r_mon.mn_lock);
  r->r_mon.mn_stop = true;
  weft__cond_signal(&r->r_mon.mn_cond);
  weft__lock_release(&r->r_mon.mn_lock);
  weft__thread_join(r->r_mon.mn_thread);
  r->r_mon.mn_thread = NULL;
}
