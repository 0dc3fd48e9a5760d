/* test_direct.c - direct switches: a task that yields, waits or ends
 * switches straight to the next ready task, and the dispatcher still serves
 * its inbox, its timers and other workers' steals while tasks pass the
 * worker among themselves (docs/performance.md, "Direct switches"). Every
 * test asserts what happened, never how long it took: loops that could
 * starve something give up only after TH_DEADLINE_MS and say so. */
#include <xmmintrin.h>

#include "helpers.h"

TestSuite(direct, .timeout = TH_TEST_TIMEOUT);

/* ------------------------------------------------------------------------ */
/* Spinners: tasks that yield in a loop until told to stop                   */
/* ------------------------------------------------------------------------ */

typedef struct spin_ctx {
  atomic_int stop;       /* set by what the spinners must not starve */
  atomic_long spinning;  /* spinners that have started */
  atomic_long yields;    /* yields done by all spinners */
  atomic_int gave_up;    /* a spinner reached the deadline first */
  atomic_int bad;        /* a Weft call failed */
  atomic_int home;       /* 1 + the worker the spinners were started on */
  atomic_int moved;      /* a spinner ran on another worker than home */
  atomic_long done;      /* tasks of the test that ended */
  atomic_int result;     /* what a waiting task's wait returned */
  atomic_int waited;     /* the waiting task's wait has returned */
  weft_event *ev;        /* an event nobody posts */
} spin_ctx;

static spin_ctx g_spin;

static void spin_reset(void) {
  memset(&g_spin, 0, sizeof g_spin);
}

/* Yield until stop is set (or until the deadline: gave_up). A spinner
 * that finds itself on a worker other than home sets moved and stop. */
static void spinner(weft_task *t) {
  spin_ctx *c = TH_CTX(t, spin_ctx);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  atomic_fetch_add(&c->spinning, 1);
  while (!atomic_load(&c->stop)) {
    if (GetTickCount64() > end) {
      atomic_store(&c->gave_up, 1);
      break;
    }
    if (weft_yield(t) != 0)
      atomic_store(&c->bad, 1);
    atomic_fetch_add(&c->yields, 1);
    int home = atomic_load(&c->home);
    if (home != 0 && weft_task_worker(t) != (unsigned)home - 1) {
      atomic_store(&c->moved, 1);
      atomic_store(&c->stop, 1);
    }
  }
  atomic_fetch_add(&c->done, 1);
}

/* Sets stop: it ran. */
static void stopper(weft_task *t) {
  spin_ctx *c = TH_CTX(t, spin_ctx);
  atomic_store(&c->stop, 1);
  atomic_fetch_add(&c->done, 1);
}

/* A region of `workers` with the spinner and stopper transactions. */
static weft_region *spin_region(unsigned workers) {
  spin_reset();
  weft_region *r = th_region(workers, 64);
  th_define(r, "SPIN", spinner, 1);
  th_define(r, "STOP", stopper, 1);
  return r;
}

/* Start n spinners from the host and wait until all of them run. */
static void start_spinners(weft_region *r, int n) {
  for (int i = 0; i < n; i++)
    th_start(r, "SPIN", &g_spin, i);
  th_wait_until(atomic_load(&g_spin.spinning) >= n);
}

/* ------------------------------------------------------------------------ */
/* The inbox                                                                 */
/* ------------------------------------------------------------------------ */

/* Two tasks yield to each other on the only worker, so every suspension
 * is a direct switch; a start posted from the host (the worker's inbox)
 * still runs, and the spinners see what it did. */
Test(direct, yield_loop_does_not_starve_the_inbox) {
  weft_region *r = spin_region(1);
  start_spinners(r, 2);
  long before = atomic_load(&g_spin.yields);
  th_start(r, "STOP", &g_spin, 0);
  th_wait_count(&g_spin.done, 3);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(atomic_load(&g_spin.gave_up), 0, "the host's start never ran");
  cr_assert_eq(atomic_load(&g_spin.bad), 0);
  cr_assert_gt(atomic_load(&g_spin.yields), before);
  cr_assert_eq(s.tasks_completed, 3);
  cr_assert_eq(s.tasks_abended, 0);
}

/* An event posted from the host wakes a task that waits for it while two
 * others yield to each other: the wake comes through the inbox. */
static void event_waiter(weft_task *t) {
  spin_ctx *c = TH_CTX(t, spin_ctx);
  atomic_store(&c->result, weft_event_wait(t, c->ev, WEFT_WAIT_FOREVER));
  atomic_store(&c->waited, 1);
  atomic_store(&c->stop, 1);
  atomic_fetch_add(&c->done, 1);
}

Test(direct, yield_loop_does_not_starve_a_wake) {
  weft_region *r = spin_region(1);
  th_define(r, "EVWAIT", event_waiter, 1);
  cr_assert_eq(weft_event_create(&g_spin.ev), 0);
  th_start(r, "EVWAIT", &g_spin, 0);
  start_spinners(r, 2);
  cr_assert_eq(atomic_load(&g_spin.waited), 0, "the wait returned before the post");
  cr_assert_eq(weft_event_post(g_spin.ev), 0);
  th_wait_count(&g_spin.done, 3);
  th_finish(r);
  weft_event_destroy(g_spin.ev);
  cr_assert_eq(atomic_load(&g_spin.gave_up), 0, "the woken task never ran");
  cr_assert_eq(atomic_load(&g_spin.result), 0, "%s", weft_err_name(atomic_load(&g_spin.result)));
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

/* A delay and a timed wait that nothing ends but its timeout. */
static void timed_waiter(weft_task *t) {
  spin_ctx *c = TH_CTX(t, spin_ctx);
  int rc = weft_delay(t, 20);
  if (rc == 0)
    rc = weft_event_wait(t, c->ev, 20);
  atomic_store(&c->result, rc);
  atomic_store(&c->waited, 1);
  atomic_store(&c->stop, 1);
  atomic_fetch_add(&c->done, 1);
}

Test(direct, yield_loop_does_not_starve_timers) {
  weft_region *r = spin_region(1);
  th_define(r, "TIMED", timed_waiter, 1);
  cr_assert_eq(weft_event_create(&g_spin.ev), 0);
  start_spinners(r, 2);
  th_start(r, "TIMED", &g_spin, 0);
  th_wait_count(&g_spin.done, 3);
  th_finish(r);
  weft_event_destroy(g_spin.ev);
  cr_assert_eq(atomic_load(&g_spin.gave_up), 0, "the timed waits never completed");
  cr_assert_eq(atomic_load(&g_spin.result), WEFT_ETIMEDOUT, "the timed wait returned %s",
               weft_err_name(atomic_load(&g_spin.result)));
}

/* ------------------------------------------------------------------------ */
/* Steals                                                                    */
/* ------------------------------------------------------------------------ */

/* Starts two spinners on its own worker (a start from a task stays on its
 * worker), then ends. */
static void spin_parent(weft_task *t) {
  spin_ctx *c = TH_CTX(t, spin_ctx);
  atomic_store(&c->home, (int)weft_task_worker(t) + 1);
  for (long i = 0; i < 2; i++) {
    th_arg a = {c, i};
    if (weft_start(weft_task_region(t), "SPIN", &a, sizeof a, NULL, NULL) != 0)
      atomic_store(&c->bad, 1);
  }
  atomic_fetch_add(&c->done, 1);
}

/* Does nothing; started from the host to wake the other worker, which then
 * asks the busy one for work when it is idle again. */
static void noop(weft_task *t) {
  (void)t;
}

Test(direct, yield_loop_does_not_starve_a_steal) {
  weft_region *r = spin_region(2);
  th_define(r, "PARENT", spin_parent, 1);
  th_define(r, "NOOP", noop, 1);
  th_start(r, "PARENT", &g_spin, 0);
  th_wait_until(atomic_load(&g_spin.spinning) >= 2);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (!atomic_load(&g_spin.stop) && GetTickCount64() < end) {
    th_start(r, "NOOP", NULL, 0);
    Sleep(1);
  }
  th_wait_count(&g_spin.done, 3);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(atomic_load(&g_spin.bad), 0);
  cr_assert_eq(atomic_load(&g_spin.gave_up), 0, "no spinner was stolen");
  cr_assert_eq(atomic_load(&g_spin.moved), 1);
  cr_assert_geq(s.worker[0].steals + s.worker[1].steals, 1);
}

/* ------------------------------------------------------------------------ */
/* Task end: the next task runs on the ended task's fiber                    */
/* ------------------------------------------------------------------------ */

#define CHAIN 1000
#define MXCSR_CONTROL 0xFFC0u /* masks, rounding, DAZ, FTZ; not the flags */

typedef struct chain_ctx {
  unsigned base_mxcsr; /* MXCSR control bits of a fresh task */
  atomic_long ran;     /* links that ran */
  atomic_long leaks;   /* links that found another link's FP modes */
  atomic_long bad;
} chain_ctx;

static chain_ctx g_chain;

/* Link idx checks that it got the fresh FP modes, changes them, starts
 * link idx + 1 and ends: every 7th by abend, every 5th holding task
 * storage. */
static void chain_link(weft_task *t) {
  th_arg a = th_arg_of(t);
  chain_ctx *c = a.ctx;
  if ((_mm_getcsr() & MXCSR_CONTROL) != c->base_mxcsr)
    atomic_fetch_add(&c->leaks, 1);
  _MM_SET_ROUNDING_MODE(a.idx % 2 ? _MM_ROUND_UP : _MM_ROUND_TOWARD_ZERO);
  atomic_fetch_add(&c->ran, 1);
  if (a.idx % 5 == 0 && weft_getmain(t, 100) == NULL)
    atomic_fetch_add(&c->bad, 1);
  if (a.idx + 1 < CHAIN) {
    th_arg next = {c, a.idx + 1};
    if (weft_start(weft_task_region(t), "LINK", &next, sizeof next, NULL, NULL) != 0)
      atomic_fetch_add(&c->bad, 1);
  }
  if (a.idx % 7 == 0)
    weft_abend(t, "U007");
}

Test(direct, chain_of_ending_tasks_keeps_counts_and_fp_state) {
  memset(&g_chain, 0, sizeof g_chain);
  g_chain.base_mxcsr = _mm_getcsr() & MXCSR_CONTROL;
  weft_region *r = th_region(1, 16);
  th_define(r, "LINK", chain_link, 1);
  th_start(r, "LINK", &g_chain, 0);
  th_wait_ended(r, CHAIN);
  weft_region_stats s = th_finish(r);
  long abended = (CHAIN + 6) / 7;
  cr_assert_eq(atomic_load(&g_chain.ran), CHAIN);
  cr_assert_eq(atomic_load(&g_chain.bad), 0);
  cr_assert_eq(atomic_load(&g_chain.leaks), 0, "%ld links inherited FP modes",
               atomic_load(&g_chain.leaks));
  cr_assert_eq(s.tasks_started, CHAIN);
  cr_assert_eq(s.tasks_abended, abended);
  cr_assert_eq(s.tasks_completed, CHAIN - abended);
}

/* The same chain with the fiber pool off: every task gets a new fiber and
 * the old one is deleted (by the dispatcher: a fiber cannot delete
 * itself); none is left over. */
Test(direct, chain_without_fiber_pool_deletes_every_fiber) {
  memset(&g_chain, 0, sizeof g_chain);
  g_chain.base_mxcsr = _mm_getcsr() & MXCSR_CONTROL;
  weft_runtime_counters before, after;
  cr_assert_eq(weft_runtime_counters_get(&before), 0);
  weft_region_config cfg = th_config(1, 16);
  cfg.fiber_cache = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "LINK", chain_link, 1);
  th_start(r, "LINK", &g_chain, 0);
  th_wait_ended(r, CHAIN);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(weft_runtime_counters_get(&after), 0);
  cr_assert_eq(atomic_load(&g_chain.ran), CHAIN);
  cr_assert_eq(atomic_load(&g_chain.leaks), 0);
  cr_assert_eq(s.tasks_started, CHAIN);
  cr_assert_eq(after.fibers, before.fibers, "fibers: %lld before, %lld after",
               (long long)before.fibers, (long long)after.fibers);
}

/* ------------------------------------------------------------------------ */
/* Runaways                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct run_ctx {
  th_abends log;
  th_handler h;
  atomic_int after; /* the runaway went on past its yield */
} run_ctx;

static run_ctx g_run;

/* Holds the worker for 3x its runaway limit, then yields to a ready
 * spinner: the monitor's finding is checked at that direct switch. */
static void runaway_task(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_run.h);
  th_spin_ms(300);
  weft_yield(t);
  atomic_store(&g_run.after, 1);
}

Test(direct, runaway_found_at_a_direct_switch) {
  memset(&g_run, 0, sizeof g_run);
  g_run.h = (th_handler){&g_run.log, 1};
  spin_reset();
  weft_region_config cfg = th_config(1, 16);
  cfg.runaway_ms = 100;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "SPIN", spinner, 1);
  th_define(r, "STOP", stopper, 1);
  th_define(r, "RUNAWAY", runaway_task, 1);
  th_start(r, "RUNAWAY", &g_run, 0);
  th_start(r, "SPIN", &g_spin, 0);
  th_wait_until(atomic_load(&g_run.log.n) >= 1);
  th_start(r, "STOP", &g_spin, 0);
  th_wait_ended(r, 3);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(atomic_load(&g_run.log.n), 1);
  cr_assert_str_eq(g_run.log.code[0], "AICA");
  cr_assert_eq(atomic_load(&g_run.after), 0, "the runaway went on");
  cr_assert_eq(s.tasks_abended, 1);
  cr_assert_eq(s.tasks_completed, 2);
}
