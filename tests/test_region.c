/* test_region.c - region lifecycle: configuration, statistics, shutdown in
 * both modes, destroy, and leaks over create/destroy loops. */
#include "helpers.h"

TestSuite(region, .timeout = TH_TEST_TIMEOUT);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

static unsigned cpu_count(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  unsigned n = si.dwNumberOfProcessors;
  return n < 1 ? 1 : n > WEFT_MAX_WORKERS ? WEFT_MAX_WORKERS : n;
}

Test(region, config_init_defaults) {
  weft_region_config cfg;
  memset(&cfg, 0xa5, sizeof cfg);
  weft_region_config_init(&cfg);
  cr_assert_eq(cfg.workers, cpu_count());
  cr_assert_eq(cfg.max_tasks, 1024);
  cr_assert_eq(cfg.max_queued, 65536);
  cr_assert_eq(cfg.stack_size, 256 * 1024);
  cr_assert_eq(cfg.stack_commit, 16 * 1024);
  cr_assert_eq(cfg.fiber_cache, 256);
  cr_assert_eq(cfg.runaway_ms, 5000);
  cr_assert_eq(cfg.offload_threads, 8);
  cr_assert_null(cfg.log_ctx);
}

Test(region, create_with_defaults) {
  weft_region *r = NULL;
  cr_assert_eq(weft_region_create(NULL, &r), 0);
  cr_assert_not_null(r);
  cr_assert_eq(th_stats(r).workers, cpu_count());
  th_finish(r);
}

Test(region, create_with_worker_counts) {
  static const unsigned counts[] = {1, 2, 3, WEFT_MAX_WORKERS};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    weft_region *r = th_region(counts[i], 16);
    weft_region_stats s = th_stats(r);
    cr_assert_eq(s.workers, counts[i]);
    cr_assert_eq(s.active, 0);
    cr_assert_eq(s.tasks_started, 0);
    th_finish(r);
  }
}

/* Asserts that cfg is refused with WEFT_ERANGE (every case here is a number
 * out of range) and nothing is created. */
static void expect_bad_config(const weft_region_config *cfg, const char *what) {
  weft_region *r = NULL;
  weft_runtime_counters before, after;
  weft_runtime_counters_get(&before);
  int rc = weft_region_create(cfg, &r);
  cr_assert_eq(rc, WEFT_ERANGE, "%s: got %s", what, weft_err_name(rc));
  weft_runtime_counters_get(&after);
  cr_assert_eq(after.regions, before.regions, "%s left a region", what);
  cr_assert_eq(after.threads, before.threads, "%s left threads", what);
}

Test(region, create_bad_config) {
  weft_region_config cfg = th_config(WEFT_MAX_WORKERS + 1, 16);
  expect_bad_config(&cfg, "workers 65");
  cfg = th_config(1000, 16);
  expect_bad_config(&cfg, "workers 1000");
  cfg = th_config(2, WEFT_MAX_TASKS_MAX + 1);
  expect_bad_config(&cfg, "max_tasks past WEFT_MAX_TASKS_MAX");
}

/* A zeroed configuration is the default one: workers 0 is the CPU count
 * and max_tasks 0 is 1024 (no longer refused). */
Test(region, zero_config_means_defaults) {
  weft_region_config cfg = {0};
  weft_region *r = NULL;
  cr_assert_eq(weft_region_create(&cfg, &r), 0);
  cr_assert_eq(th_stats(r).workers, cpu_count());
  th_finish(r);
}

Test(region, create_null_out) {
  weft_region_config cfg = th_config(1, 16);
  cr_assert_eq(weft_region_create(&cfg, NULL), WEFT_EINVAL);
  cr_assert_eq(weft_region_create(NULL, NULL), WEFT_EINVAL);
  weft_runtime_counters c;
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 0);
}

Test(region, stats_null_arguments) {
  weft_region *r = th_region(1, 4);
  weft_region_stats s;
  cr_assert_eq(weft_region_stats_get(r, NULL), WEFT_EINVAL);
  cr_assert_eq(weft_region_stats_get(NULL, &s), WEFT_EINVAL);
  th_finish(r);
}

Test(region, two_regions_at_once) {
  weft_region *a = th_region(1, 4);
  weft_region *b = th_region(2, 4);
  weft_runtime_counters c;
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 2);
  th_finish(a);
  th_finish(b);
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 0);
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                                */
/* ------------------------------------------------------------------------ */

typedef struct count_ctx {
  atomic_long runs;
} count_ctx;

static void yield_then_count(weft_task *t) {
  count_ctx *c = TH_CTX(t, count_ctx);
  for (int i = 0; i < 3; i++)
    weft_yield(t);
  atomic_fetch_add(&c->runs, 1);
}

static void yield_then_abend(weft_task *t) {
  count_ctx *c = TH_CTX(t, count_ctx);
  weft_yield(t);
  atomic_fetch_add(&c->runs, 1);
  weft_abend(t, "U001");
}

static count_ctx g_count;

Test(region, stats_count_started_completed_abended) {
  weft_region *r = th_region(2, 64);
  th_define(r, "GOOD", yield_then_count, 1);
  th_define(r, "BAD", yield_then_abend, 1);
  for (int i = 0; i < 5; i++)
    th_start(r, "GOOD", &g_count, i);
  for (int i = 0; i < 3; i++)
    th_start(r, "BAD", &g_count, i);
  th_wait_ended(r, 8);
  th_wait_until(th_stats(r).active == 0);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.tasks_started, 8);
  cr_assert_eq(s.tasks_completed, 5);
  cr_assert_eq(s.tasks_abended, 3);
  cr_assert_eq(s.starts_rejected, 0);
  cr_assert_eq(s.queued, 0);
  cr_assert_geq(s.peak_active, 1);
  cr_assert_leq(s.peak_active, 8);
  cr_assert_eq(s.workers, 2);
  uint64_t dispatches = 0;
  for (unsigned w = 0; w < s.workers; w++)
    dispatches += s.worker[w].dispatches;
  /* Each task is dispatched at least once. */
  cr_assert_geq(dispatches, 8, "only %llu dispatches",
                (unsigned long long)dispatches);
  cr_assert_eq(atomic_load(&g_count.runs), 8);
  weft_region_stats fin = th_finish(r);
  s = fin;
  cr_assert_eq(s.tasks_completed, 5);
  cr_assert_eq(s.tasks_abended, 3);
}

/* With fiber_cache WEFT_OFF nothing is pooled, and tasks still run. */
Test(region, fiber_cache_off_disables_pooling) {
  weft_region_config cfg = th_config(2, 16);
  cfg.fiber_cache = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "GOOD", yield_then_count, 1);
  for (int i = 0; i < 40; i++)
    th_start(r, "GOOD", &g_count, i);
  th_wait_ended(r, 40);
  cr_assert_eq(th_stats(r).fibers_idle, 0);
  cr_assert_eq(atomic_load(&g_count.runs), 40);
  th_finish(r);
}

/* Pooled fibers never exceed fiber_cache. */
Test(region, fiber_cache_bounds_the_pool) {
  weft_region_config cfg = th_config(2, 64);
  cfg.fiber_cache = 4;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "GOOD", yield_then_count, 1);
  for (int i = 0; i < 64; i++)
    th_start(r, "GOOD", &g_count, i);
  th_wait_ended(r, 64);
  cr_assert_leq(th_stats(r).fibers_idle, 4);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_count.runs), 64);
}

/* ------------------------------------------------------------------------ */
/* Normal shutdown                                                           */
/* ------------------------------------------------------------------------ */

/* A task that delays and yields a little, so some are running and some are
 * queued when the shutdown comes. */
static void slow_count(weft_task *t) {
  count_ctx *c = TH_CTX(t, count_ctx);
  weft_delay(t, 5);
  weft_yield(t);
  atomic_fetch_add(&c->runs, 1);
}

Test(region, normal_shutdown_drains_running_and_queued) {
  weft_region *r = th_region(1, 2);
  th_define(r, "SLOW", slow_count, 1);
  for (int i = 0; i < 30; i++)
    th_start(r, "SLOW", &g_count, i);
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  cr_assert_eq(atomic_load(&g_count.runs), 30);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.tasks_completed, 30);
  cr_assert_eq(s.tasks_abended, 0);
  cr_assert_eq(s.starts_cancelled, 0);
  cr_assert_eq(s.active, 0);
  cr_assert_eq(s.queued, 0);
  weft_region_destroy(r);
}

Test(region, start_after_shutdown_is_refused) {
  weft_region *r = th_region(1, 2);
  th_define(r, "SLOW", slow_count, 1);
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS), 0);
  cr_assert_eq(weft_start(r, "SLOW", NULL, 0, NULL, NULL), WEFT_ESHUTDOWN);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.starts_rejected, 1);
  cr_assert_eq(s.tasks_started, 0);
  weft_region_destroy(r);
}

/* A running task keeps starting work until weft_start says the shutdown
 * has begun; the shutdown waits for it and everything it started. */
typedef struct restart_ctx {
  atomic_long started;   /* NOOP starts that succeeded */
  atomic_long noop_runs; /* NOOP tasks that ran */
  atomic_int last_rc;    /* the code that ended the loop */
  atomic_int looping;    /* the loop has begun */
} restart_ctx;

static restart_ctx g_restart;

static void noop_count(weft_task *t) {
  atomic_fetch_add(&TH_CTX(t, restart_ctx)->noop_runs, 1);
}

static void restarter(weft_task *t) {
  restart_ctx *c = TH_CTX(t, restart_ctx);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  th_arg a = {c, 0};
  atomic_store(&c->looping, 1);
  for (;;) {
    int rc = weft_start(weft_task_region(t), "NOOP", &a, sizeof a, NULL, NULL);
    if (rc != 0 || GetTickCount64() > end) {
      atomic_store(&c->last_rc, rc);
      return;
    }
    atomic_fetch_add(&c->started, 1);
    weft_delay(t, 1);
  }
}

Test(region, start_from_task_during_normal_shutdown) {
  weft_region *r = th_region(2, 16);
  th_define(r, "NOOP", noop_count, 1);
  th_define(r, "RESTART", restarter, 1);
  th_start(r, "RESTART", &g_restart, 0);
  th_wait_until(atomic_load(&g_restart.looping));
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  cr_assert_eq(atomic_load(&g_restart.last_rc), WEFT_ESHUTDOWN, "loop ended with %s",
               weft_err_name(atomic_load(&g_restart.last_rc)));
  cr_assert_eq(atomic_load(&g_restart.noop_runs), atomic_load(&g_restart.started));
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.tasks_completed, (uint64_t)atomic_load(&g_restart.started) + 1);
  cr_assert_geq(s.starts_rejected, 1);
  weft_region_destroy(r);
}

Test(region, shutdown_twice_is_estate) {
  weft_region *r = th_region(1, 2);
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS), 0);
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS), WEFT_ESTATE);
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, TH_SHUTDOWN_MS), WEFT_ESTATE);
  weft_region_destroy(r);
}

Test(region, shutdown_bad_arguments) {
  weft_region *r = th_region(1, 2);
  cr_assert_eq(weft_region_shutdown(NULL, WEFT_SHUTDOWN_NORMAL, 10), WEFT_EINVAL);
  int rc = weft_region_shutdown(r, 7, 10);
  cr_assert_eq(rc, WEFT_EINVAL, "mode 7: %s", weft_err_name(rc));
  /* The bad calls did not shut the region down. */
  cr_assert_eq(weft_start(r, "NOSUCH", NULL, 0, NULL, NULL), WEFT_ENOTRAN);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Immediate shutdown and escalation                                         */
/* ------------------------------------------------------------------------ */

typedef struct purge_ctx {
  weft_event *never;      /* an event nobody posts */
  atomic_long waiting;    /* tasks about to suspend */
  atomic_long resumed;    /* tasks that went past their suspension */
  atomic_long queued_ran; /* queued tasks that ran (must stay 0) */
  char enq_name[8];
  th_abends log;
  th_handler handler;
} purge_ctx;

static purge_ctx g_purge;

/* Register the recording handler and announce the coming suspension. */
static purge_ctx *purge_prologue(weft_task *t) {
  purge_ctx *c = TH_CTX(t, purge_ctx);
  weft_handle_abend(t, th_on_abend, &c->handler);
  atomic_fetch_add(&c->waiting, 1);
  return c;
}

static void wait_forever(weft_task *t) {
  purge_ctx *c = purge_prologue(t);
  weft_event_wait(t, c->never, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->resumed, 1);
}

static void delay_long(weft_task *t) {
  purge_ctx *c = purge_prologue(t);
  weft_delay(t, 600000);
  atomic_fetch_add(&c->resumed, 1);
}

static void yield_forever(weft_task *t) {
  purge_ctx *c = purge_prologue(t);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS * 2;
  while (GetTickCount64() < end)
    weft_yield(t);
  atomic_fetch_add(&c->resumed, 1);
}

/* Holds the ENQ and waits forever; the next ENQ waiter blocks on it. */
static void enq_then_wait(weft_task *t) {
  purge_ctx *c = TH_CTX(t, purge_ctx);
  weft_handle_abend(t, th_on_abend, &c->handler);
  weft_enq(t, c->enq_name, strlen(c->enq_name), WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->waiting, 1);
  weft_event_wait(t, c->never, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->resumed, 1);
}

static void enq_blocked(weft_task *t) {
  purge_ctx *c = purge_prologue(t);
  weft_enq(t, c->enq_name, strlen(c->enq_name), WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->resumed, 1);
}

static void queued_never_runs(weft_task *t) {
  atomic_fetch_add(&TH_CTX(t, purge_ctx)->queued_ran, 1);
}

static weft_region *purge_region(unsigned max_tasks) {
  weft_region *r = th_region(2, max_tasks);
  th_define(r, "WAITEV", wait_forever, 1);
  th_define(r, "DELAY", delay_long, 1);
  th_define(r, "YIELD", yield_forever, 1);
  th_define(r, "ENQHOLD", enq_then_wait, 1);
  th_define(r, "ENQWAIT", enq_blocked, 1);
  th_define(r, "QUEUED", queued_never_runs, 1);
  cr_assert_eq(weft_event_create(&g_purge.never), 0);
  strcpy(g_purge.enq_name, "PURGE");
  g_purge.handler.log = &g_purge.log;
  return r;
}

/* Start n suspended tasks of every kind; returns how many. */
static long start_suspended_tasks(weft_region *r, int n) {
  long total = 0;
  th_start(r, "ENQHOLD", &g_purge, total++);
  th_wait_count(&g_purge.waiting, 1);
  for (int i = 0; i < n; i++) {
    th_start(r, "WAITEV", &g_purge, total++);
    th_start(r, "DELAY", &g_purge, total++);
    th_start(r, "YIELD", &g_purge, total++);
    th_start(r, "ENQWAIT", &g_purge, total++);
  }
  th_wait_count(&g_purge.waiting, total);
  return total;
}

/* Asserts that every one of n tasks was abended AEXZ with its handler run. */
static void expect_all_purged(weft_region *r, long n) {
  int runs = atomic_load(&g_purge.log.n);
  cr_assert_eq(runs, n, "%d handlers ran for %ld tasks", runs, n);
  for (int i = 0; i < runs && i < TH_MAX_ABENDS; i++)
    cr_assert_str_eq(g_purge.log.code[i], "AEXZ", "handler %d saw %s", i, g_purge.log.code[i]);
  cr_assert_eq(atomic_load(&g_purge.resumed), 0, "a purged task went on running");
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.tasks_abended, (uint64_t)n);
  cr_assert_eq(s.tasks_completed, 0);
  cr_assert_eq(s.active, 0);
}

Test(region, immediate_shutdown_purges_with_aexz) {
  weft_region *r = purge_region(64);
  long n = start_suspended_tasks(r, 3);
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  expect_all_purged(r, n);
  cr_assert_eq(weft_start(r, "WAITEV", NULL, 0, NULL, NULL), WEFT_ESHUTDOWN);
  weft_region_destroy(r);
  weft_event_destroy(g_purge.never);
}

/* Starts still waiting for admission are dropped, never run. */
Test(region, immediate_shutdown_cancels_queued_and_delayed_starts) {
  weft_region *r = purge_region(13);
  long n = start_suspended_tasks(r, 3); /* 13 tasks: the region is full */
  cr_assert_eq(n, 13);
  for (int i = 0; i < 5; i++)
    th_start(r, "QUEUED", &g_purge, i);
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.delay_ms = 600000;
  cr_assert_eq(weft_start(r, "QUEUED", NULL, 0, &o, NULL), 0);
  weft_region_stats before = th_stats(r);
  cr_assert_eq(before.queued, 5);
  cr_assert_eq(before.delayed, 1);
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  expect_all_purged(r, n);
  cr_assert_eq(atomic_load(&g_purge.queued_ran), 0);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.starts_cancelled, 6);
  cr_assert_eq(s.queued, 0);
  cr_assert_eq(s.delayed, 0);
  weft_region_destroy(r);
  weft_event_destroy(g_purge.never);
}

/* A normal shutdown that cannot drain escalates and says so. */
Test(region, normal_shutdown_times_out_and_purges) {
  weft_region *r = purge_region(64);
  th_start(r, "WAITEV", &g_purge, 0);
  th_wait_count(&g_purge.waiting, 1);
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 100);
  cr_assert_eq(rc, WEFT_ETIMEDOUT, "%s", weft_err_name(rc));
  expect_all_purged(r, 1);
  weft_region_destroy(r);
  weft_event_destroy(g_purge.never);
}

/* Destroy without a shutdown purges first. */
Test(region, destroy_without_shutdown_purges) {
  weft_region *r = purge_region(64);
  long n = start_suspended_tasks(r, 2);
  weft_region_destroy(r);
  int runs = atomic_load(&g_purge.log.n);
  cr_assert_eq(runs, n, "%d handlers ran for %ld tasks", runs, n);
  for (int i = 0; i < runs && i < TH_MAX_ABENDS; i++)
    cr_assert_str_eq(g_purge.log.code[i], "AEXZ");
  cr_assert_eq(atomic_load(&g_purge.resumed), 0);
  weft_runtime_counters c;
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 0);
  cr_assert_eq(c.tasks, 0);
  cr_assert_eq(c.fibers, 0);
  cr_assert_eq(c.threads, 0);
  weft_event_destroy(g_purge.never);
}

/* ------------------------------------------------------------------------ */
/* Leaks                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct leak_ctx {
  weft_event *never;
  atomic_long runs;
  atomic_long waiting;
} leak_ctx;

static leak_ctx g_leak;

static void leak_yield(weft_task *t) {
  leak_ctx *c = TH_CTX(t, leak_ctx);
  weft_yield(t);
  weft_delay(t, 1);
  atomic_fetch_add(&c->runs, 1);
}

static int leak_offloaded(void *arg) {
  return 7;
}

static void leak_offload(weft_task *t) {
  leak_ctx *c = TH_CTX(t, leak_ctx);
  int res = 0;
  if (weft_offload(t, leak_offloaded, NULL, &res) == 0 && res == 7)
    atomic_fetch_add(&c->runs, 1);
}

static void leak_wait(weft_task *t) {
  leak_ctx *c = TH_CTX(t, leak_ctx);
  void *p = weft_getmain(t, 4096);
  (void)p;
  atomic_fetch_add(&c->waiting, 1);
  weft_event_wait(t, c->never, WEFT_WAIT_FOREVER);
}

/* One region's life: tasks that end, one offload and one task purged. Odd
 * rounds destroy without an explicit shutdown. */
static void leak_round(int round) {
  weft_region *r = th_region(2, 16);
  th_define(r, "LYIELD", leak_yield, 1);
  th_define(r, "LOFF", leak_offload, 1);
  th_define(r, "LWAIT", leak_wait, 1);
  long runs0 = atomic_load(&g_leak.runs), wait0 = atomic_load(&g_leak.waiting);
  for (int i = 0; i < 8; i++)
    th_start(r, "LYIELD", &g_leak, i);
  th_start(r, "LOFF", &g_leak, 0);
  th_start(r, "LWAIT", &g_leak, 0);
  th_wait_count(&g_leak.runs, runs0 + 9);
  th_wait_count(&g_leak.waiting, wait0 + 1);
  if (round % 2 == 0) {
    int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, TH_SHUTDOWN_MS);
    cr_assert_eq(rc, 0, "round %d: %s", round, weft_err_name(rc));
  }
  weft_region_destroy(r);
}

static int counters_equal(const weft_runtime_counters *a, const weft_runtime_counters *b) {
  return a->fibers == b->fibers && a->threads == b->threads && a->regions == b->regions &&
         a->tasks == b->tasks;
}

Test(region, create_destroy_loop_leaks_nothing) {
  cr_assert_eq(weft_event_create(&g_leak.never), 0);
  weft_runtime_counters start, now;
  weft_runtime_counters_get(&start);
  cr_assert_eq(start.regions, 0);
  cr_assert_eq(start.fibers, 0);
  cr_assert_eq(start.threads, 0);
  cr_assert_eq(start.tasks, 0);
  leak_round(0); /* warm-up: lets Wine and the CRT make their own threads */
  weft_runtime_counters_get(&now);
  cr_assert(counters_equal(&start, &now), "after warm-up: fibers %lld threads %lld "
            "regions %lld tasks %lld", (long long)now.fibers, (long long)now.threads,
            (long long)now.regions, (long long)now.tasks);
  int threads0 = th_thread_count();
  cr_assert_gt(threads0, 0);
  for (int round = 1; round <= 50; round++) {
    leak_round(round);
    weft_runtime_counters_get(&now);
    cr_assert(counters_equal(&start, &now), "round %d: fibers %lld threads %lld regions "
              "%lld tasks %lld", round, (long long)now.fibers, (long long)now.threads,
              (long long)now.regions, (long long)now.tasks);
  }
  /* Exited threads may take a moment to leave the snapshot. */
  th_wait_until(th_thread_count() <= threads0);
  weft_event_destroy(g_leak.never);
}

/* While a region lives its counters are visible, and they drop back. */
Test(region, runtime_counters_track_a_region) {
  weft_runtime_counters c;
  weft_region *r = th_region(3, 16);
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 1);
  cr_assert_geq(c.threads, 3, "3 workers but %lld threads", (long long)c.threads);
  cr_assert_eq(weft_event_create(&g_leak.never), 0);
  th_define(r, "LWAIT", leak_wait, 1);
  for (int i = 0; i < 5; i++)
    th_start(r, "LWAIT", &g_leak, i);
  th_wait_count(&g_leak.waiting, 5);
  weft_runtime_counters_get(&c);
  cr_assert_geq(c.tasks, 5); /* task structs, pooled ones included */
  cr_assert_geq(c.fibers, 5);
  weft_event_post(g_leak.never);
  th_finish(r);
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 0);
  cr_assert_eq(c.threads, 0);
  cr_assert_eq(c.fibers, 0);
  cr_assert_eq(c.tasks, 0);
  weft_event_destroy(g_leak.never);
}

/* ------------------------------------------------------------------------ */
/* A task that never suspends cannot be purged                               */
/* ------------------------------------------------------------------------ */

typedef struct spin_ctx {
  atomic_int running;
  atomic_int release;
  atomic_int gave_up;
} spin_ctx;

static spin_ctx g_spin;

static void spin_until_released(weft_task *t) {
  spin_ctx *c = TH_CTX(t, spin_ctx);
  atomic_store(&c->running, 1);
  if (!th_spin_until_set(&c->release))
    atomic_store(&c->gave_up, 1);
}

Test(region, immediate_shutdown_times_out_on_a_task_that_never_suspends) {
  weft_region_config cfg = th_config(1, 4);
  cfg.runaway_ms = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "SPIN", spin_until_released, 1);
  th_start(r, "SPIN", &g_spin, 0);
  th_wait_until(atomic_load(&g_spin.running));
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, 100);
  cr_assert_eq(rc, WEFT_ETIMEDOUT, "%s", weft_err_name(rc));
  cr_assert_eq(th_stats(r).active, 1);
  atomic_store(&g_spin.release, 1);
  weft_region_destroy(r); /* waits as long as it takes */
  cr_assert_eq(atomic_load(&g_spin.gave_up), 0);
  weft_runtime_counters c;
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.regions, 0);
  cr_assert_eq(c.threads, 0);
}
