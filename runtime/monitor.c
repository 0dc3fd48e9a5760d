/* monitor.c - the region monitor: a thread that samples every worker a few
 * times per runaway limit, reports a task that keeps its worker too long and
 * publishes how long the current dispatch has lasted (wk_runword), which the
 * dispatcher checks when the task switches back. The dispatch path itself
 * reads no clock.
 *
 * The age is measured from the first sample that saw a dispatch, so it only
 * ever underestimates: a task is never abended before its limit, and at most
 * one sampling period after it.
 *
 * Preemption. A task past its limit that does not suspend is interrupted:
 * the monitor holds its worker thread suspended (weft__thread_preempt) and
 * redirects it to the abend path a program check takes, so the task abends
 * AICA on its own fiber (handlers, backout, ENQs and storage released) and
 * the worker goes on. It does so only when the thread is running the code
 * of the task's running program: on the task's own fiber, its instruction
 * pointer inside the module (DLL or executable) that holds that program's
 * entry point, which is never the runtime's own module, and every frame up
 * to run_level's call of the program in that module too; and the task is
 * not already releasing what it holds. Anywhere else (the runtime, a Win32
 * call, the C runtime, or program code one of them called back - any of
 * which may hold a lock), it is resumed untouched and looked at again, a
 * few times per sample. preempt_check decides; it runs while the worker is
 * suspended, so it only reads memory. docs/api.md ("Runaway tasks") states
 * the rule for users. */
#include <stdlib.h>

#include "runtime/internal.h"

#define PERIOD_MAX_MS 250u
#define PERIOD_MIN_MS 2u
/* Looks per sample at a runaway task that is not in its own code: a loop
 * around a C-runtime call is in its own code only a small share of the
 * time (about 1 % for malloc/free under Wine), and each look finds it at
 * a new place. A look costs the worker and the monitor a few system calls. */
#define PREEMPT_TRIES 32

typedef struct mon_seen {
  uint64_t ms_disp;  /* dispatch number last seen */
  uint64_t ms_since; /* when it was first seen (ms) */
  bool ms_reported;  /* runaway message written for it */
} mon_seen;

/* The dispatch the monitor means to interrupt, and how long it has run. */
typedef struct mon_target {
  weft_region *mt_r;
  weft__worker *mt_w;
  uint64_t mt_disp;
  uint64_t mt_age;
  bool mt_elsewhere; /* set by preempt_check: due, but not in its own code now */
} mon_target;

/* With the worker suspended: the task to abend, or NULL to leave it. Reads
 * memory only (weft__preempt_check). Every field read here is stable while
 * the worker is suspended: the worker itself is their only writer. */
static weft_task *preempt_check(void *ctx, const weft__preempt_view *v) {
  mon_target *mt = ctx;
  weft__worker *w = mt->mt_w;
  if (WEFT__LOAD(w->wk_dispatches) != mt->mt_disp)
    return NULL; /* that dispatch ended meanwhile */
  weft_task *t = *(weft_task *volatile *)&w->wk_current;
  if (t == NULL || t->tk_fiber == NULL || t->tk_fiber != v->pv_fiber)
    return NULL; /* the thread is not on the task's fiber (a switch, the dispatcher) */
  if (t->tk_runaway_ms == 0 || mt->mt_age < t->tk_runaway_ms ||
      (t->tk_flags & WEFT__TF_RELEASING))
    return NULL;
  if (v->pv_sp >= v->pv_stack_base || v->pv_sp < v->pv_stack_limit ||
      v->pv_stack_base - v->pv_sp < WEFT__FAULT_PAD)
    return NULL; /* not below the fault pad of that fiber's stack */
  const weft__prog *p = t->tk_prog;
  if (p == NULL || p->pg_code_hi == 0)
    return NULL; /* its program is in the runtime's module: never */
  mt->mt_elsewhere = true;
  if (v->pv_pc < p->pg_code_lo || v->pv_pc >= p->pg_code_hi)
    return NULL; /* not in its program's own code */
  /* Nor called back by code that may hold a lock (the C runtime's qsort,
   * the runtime itself): every frame up to the call of the program. */
  weft_region *r = mt->mt_r;
  if (!weft__preempt_called_from(v, p->pg_code_lo, p->pg_code_hi, r->r_mon.mn_caller,
                                 r->r_mon.mn_caller_base))
    return NULL;
  mt->mt_elsewhere = false;
  return t;
}

/* The same dispatch has lasted age ms, past the smallest limit in use:
 * interrupt it if it is in its own code now. */
static bool try_preempt(weft_region *r, weft__worker *w, uint64_t disp, uint64_t age) {
  mon_target mt = {r, w, disp, age, false};
  if (w->wk_thread == NULL || r->r_mon.mn_caller_base == 0)
    return false;
  int rc, tries = 0;
  do {
    mt.mt_elsewhere = false;
    rc = weft__thread_preempt(w->wk_thread, preempt_check, &mt);
  } while (rc == 0 && mt.mt_elsewhere && ++tries < PREEMPT_TRIES);
  if (rc < 0)
    weft__log(r, 'E', "worker %u: cannot interrupt its runaway task: %s", w->wk_id,
              weft_err_name(rc));
  return rc == 1;
}

/* The region's runaway limit has passed for the dispatch s saw: say so,
 * once. */
static void report(weft_region *r, weft__worker *w, mon_seen *s, uint64_t age) {
  unsigned limit = r->r_cfg.runaway_ms;
  if (limit != 0 && age >= limit && !s->ms_reported) {
    s->ms_reported = true;
    weft__log(r, 'W',
              "task %llu has run %llu ms on worker %u without suspending (runaway limit "
              "%u ms): it abends AICA when it next runs its own program's code or "
              "suspends",
              (unsigned long long)WEFT__LOAD(w->wk_run_no), (unsigned long long)age, w->wk_id,
              limit);
  }
}

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
  /* Interrupted at once: the task's abend message says so. Otherwise the
   * region's limit is reported once, then the age published (so a task
   * that abends at its next suspension was reported first), and the
   * interruption tried again at the next sample. */
  if (age >= atomic_load_explicit(&r->r_mon.mn_limit_ms, memory_order_relaxed) &&
      try_preempt(r, w, disp, age))
    return;
  report(r, w, s, age);
  atomic_store_explicit(&w->wk_runword, (disp & mask) << WEFT__RUNWORD_MS_BITS | ms,
                        memory_order_relaxed);
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
  unsigned least = atomic_load(&r->r_mon.mn_limit_ms);
  while (runaway_ms < least &&
         !atomic_compare_exchange_weak(&r->r_mon.mn_limit_ms, &least, runaway_ms))
    ;
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
  atomic_store(&r->r_mon.mn_limit_ms, UINT32_MAX); /* none yet */
  uintptr_t hi;
  r->r_mon.mn_caller = weft__task_program_caller();
  if (weft__code_module((const void *)r->r_mon.mn_caller, &r->r_mon.mn_caller_base, &hi) != 0)
    r->r_mon.mn_caller_base = 0; /* no interruption (never seen) */
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
