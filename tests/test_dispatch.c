/* test_dispatch.c - dispatching: many tasks, starts from several threads,
 * priority order, yield semantics, max_tasks and the admission queue. */
#include "helpers.h"

TestSuite(dispatch, .timeout = TH_TEST_TIMEOUT);

/* ------------------------------------------------------------------------ */
/* Every task runs exactly once                                              */
/* ------------------------------------------------------------------------ */

#define MANY 20000

typedef struct many_ctx {
  atomic_int runs[MANY];      /* times task idx ran */
  uint64_t start_no[MANY];    /* task number weft_start returned */
  uint64_t seen_no[MANY];     /* task number the task saw */
  atomic_long done;           /* tasks that finished */
  atomic_long bad;            /* bad data, failed yields, bad worker index */
  unsigned workers;           /* the region's worker count */
} many_ctx;

static many_ctx g_many;

static void yield_four_times(weft_task *t) {
  th_arg a = th_arg_of(t);
  many_ctx *c = a.ctx;
  if (c == NULL || a.idx < 0 || a.idx >= MANY) {
    atomic_fetch_add(&g_many.bad, 1);
    return;
  }
  atomic_fetch_add(&c->runs[a.idx], 1);
  for (int i = 0; i < 4; i++) {
    if (weft_yield(t) != 0)
      atomic_fetch_add(&c->bad, 1);
    if (weft_task_worker(t) >= c->workers)
      atomic_fetch_add(&c->bad, 1);
  }
  c->seen_no[a.idx] = weft_task_number(t);
  atomic_fetch_add(&c->done, 1);
}

/* Start task idx, retrying while the admission queue is full. */
static int start_retrying(weft_region *r, const char *tranid, void *ctx, long idx,
                          uint64_t *no) {
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  for (;;) {
    int rc = th_try_start(r, tranid, ctx, idx, WEFT_PRIORITY_DEFAULT, no);
    if (rc != WEFT_EBUSY || GetTickCount64() > end)
      return rc;
    Sleep(1);
  }
}

/* Asserts every one of n tasks ran exactly once with its own number. */
static void expect_each_ran_once(long n) {
  cr_assert_eq(atomic_load(&g_many.bad), 0);
  for (long i = 0; i < n; i++) {
    int runs = atomic_load(&g_many.runs[i]);
    cr_assert_eq(runs, 1, "task %ld ran %d times", i, runs);
    cr_assert_eq(g_many.seen_no[i], g_many.start_no[i],
                 "task %ld saw number %llu, weft_start said %llu", i,
                 (unsigned long long)g_many.seen_no[i],
                 (unsigned long long)g_many.start_no[i]);
  }
}

Test(dispatch, twenty_thousand_tasks_on_two_workers) {
  weft_region_config cfg = th_config(2, 1024);
  cfg.max_queued = 32768;
  weft_region *r = th_region_cfg(&cfg);
  g_many.workers = 2;
  th_define(r, "MANY", yield_four_times, 1);
  for (long i = 0; i < MANY; i++) {
    int rc = start_retrying(r, "MANY", &g_many, i, &g_many.start_no[i]);
    cr_assert_eq(rc, 0, "start %ld: %s", i, weft_err_name(rc));
  }
  th_wait_count(&g_many.done, MANY);
  weft_region_stats fin = th_finish(r);
  expect_each_ran_once(MANY);
  weft_region_stats s = fin;
  cr_assert_eq(s.tasks_started, MANY);
  cr_assert_eq(s.tasks_completed, MANY);
  cr_assert_eq(s.tasks_abended, 0);
  cr_assert_leq(s.peak_active, 1024);
}

/* Four host threads start tasks at the same moment. */
#define HOSTS 4
#define PER_HOST 2500

typedef struct host_arg {
  weft_region *r;
  long first;           /* first task index of this thread */
  atomic_int *go;       /* all threads wait for it */
  int failures;         /* starts that failed */
} host_arg;

static DWORD WINAPI host_starter(void *p) {
  host_arg *h = p;
  while (!atomic_load(h->go))
    YieldProcessor();
  for (long i = h->first; i < h->first + PER_HOST; i++)
    if (start_retrying(h->r, "MANY", &g_many, i, &g_many.start_no[i]) != 0)
      h->failures++;
  return 0;
}

Test(dispatch, starts_from_four_host_threads) {
  weft_region *r = th_region(2, 256);
  g_many.workers = 2;
  th_define(r, "MANY", yield_four_times, 1);
  static atomic_int go;
  static host_arg args[HOSTS];
  HANDLE th[HOSTS];
  for (int k = 0; k < HOSTS; k++) {
    args[k] = (host_arg){r, (long)k * PER_HOST, &go, 0};
    th[k] = CreateThread(NULL, 0, host_starter, &args[k], 0, NULL);
    cr_assert_not_null(th[k]);
  }
  atomic_store(&go, 1);
  cr_assert_eq(WaitForMultipleObjects(HOSTS, th, TRUE, TH_DEADLINE_MS), WAIT_OBJECT_0);
  for (int k = 0; k < HOSTS; k++) {
    CloseHandle(th[k]);
    cr_assert_eq(args[k].failures, 0, "host thread %d: %d starts failed", k, args[k].failures);
  }
  th_wait_count(&g_many.done, HOSTS * PER_HOST);
  weft_region_stats fin = th_finish(r);
  expect_each_ran_once(HOSTS * PER_HOST);
  cr_assert_eq(fin.tasks_completed, HOSTS * PER_HOST);
}

/* A task may start tasks (weft_start from any thread). */
#define CHILDREN 500

static void parent_starts_children(weft_task *t) {
  many_ctx *c = TH_CTX(t, many_ctx);
  for (long i = 0; i < CHILDREN; i++) {
    th_arg a = {c, i};
    uint64_t no = 0;
    if (weft_start(weft_task_region(t), "MANY", &a, sizeof a, NULL, &no) != 0)
      atomic_fetch_add(&c->bad, 1);
    c->start_no[i] = no;
    if (i % 50 == 0)
      weft_yield(t);
  }
}

Test(dispatch, tasks_start_tasks) {
  weft_region *r = th_region(2, 64);
  g_many.workers = 2;
  th_define(r, "MANY", yield_four_times, 1);
  th_define(r, "PARENT", parent_starts_children, 1);
  th_start(r, "PARENT", &g_many, 0);
  th_wait_count(&g_many.done, CHILDREN);
  weft_region_stats fin = th_finish(r);
  expect_each_ran_once(CHILDREN);
  cr_assert_eq(fin.tasks_completed, CHILDREN + 1);
}

/* ------------------------------------------------------------------------ */
/* Priority and yield on one worker                                          */
/* ------------------------------------------------------------------------ */

static order_ctx g_order;

/* One worker, no runaway detection (the gate spins), tranids GATE, REC
 * (priority 50) and RECY. */
static weft_region *order_region(unsigned max_tasks, unsigned max_queued) {
  weft_region_config cfg = th_config(1, max_tasks);
  cfg.max_queued = max_queued;
  cfg.runaway_ms = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "GATE", gate, 1);
  th_define(r, "REC", record_once, 50);
  th_define(r, "RECY", record_and_yield, 50);
  return r;
}

/* Start the gate and wait until it occupies the worker. */
static void close_gate(weft_region *r) {
  th_start(r, "GATE", &g_order, 0);
  th_wait_until(atomic_load(&g_order.gate_running));
}

static void open_gate(void) {
  atomic_store(&g_order.gate_open, 1);
}

/* Asserts order[] is exactly expected[0..n). */
static void expect_order(const long *expected, int n) {
  cr_assert_eq(atomic_load(&g_order.gate_gave_up), 0);
  cr_assert_eq(atomic_load(&g_order.n), n, "%d entries, expected %d",
               atomic_load(&g_order.n), n);
  char got[512] = "", want[512] = "";
  for (int i = 0; i < n; i++) {
    snprintf(got + strlen(got), sizeof got - strlen(got), " %ld", g_order.order[i]);
    snprintf(want + strlen(want), sizeof want - strlen(want), " %ld", expected[i]);
  }
  cr_assert_str_eq(got, want, "run order");
}

Test(dispatch, ready_tasks_run_by_priority_fifo_within_equal) {
  weft_region *r = order_region(64, 1024);
  close_gate(r);
  static const int prio[] = {10, 200, 10, 100, 200, 0, WEFT_PRIORITY_DEFAULT, 255, 100};
  for (long i = 0; i < 9; i++)
    th_start_prio(r, "REC", &g_order, i, prio[i]);
  open_gate();
  th_wait_ended(r, 10);
  static const long expected[] = {7, 1, 4, 3, 8, 6, 0, 2, 5};
  expect_order(expected, 9);
  th_finish(r);
}

/* A yield lets equal priorities take turns and lower ones wait. */
Test(dispatch, yield_round_robin_within_a_priority) {
  weft_region *r = order_region(64, 1024);
  close_gate(r);
  th_start_prio(r, "RECY", &g_order, 15, 200); /* H: 5 rounds, priority 200 */
  th_start_prio(r, "REC", &g_order, 40, 10);   /* L: once, priority 10 */
  th_start_prio(r, "RECY", &g_order, 23, 50);  /* A: 3 rounds */
  th_start_prio(r, "RECY", &g_order, 33, 50);  /* B: 3 rounds */
  open_gate();
  th_wait_ended(r, 5);
  static const long expected[] = {10, 11, 12, 13, 14, 20, 30, 21, 31, 22, 32, 40};
  expect_order(expected, 12);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* max_tasks and the admission queue                                         */
/* ------------------------------------------------------------------------ */

typedef struct live_ctx {
  weft_event *go;     /* posted once every start is queued */
  atomic_int live;    /* tasks inside their body now */
  atomic_int peak;    /* highest live seen */
  atomic_long done;
  atomic_long errors;
} live_ctx;

static live_ctx g_live;

static void live_task(weft_task *t) {
  live_ctx *c = TH_CTX(t, live_ctx);
  int now = atomic_fetch_add(&c->live, 1) + 1;
  int peak = atomic_load(&c->peak);
  while (now > peak && !atomic_compare_exchange_weak(&c->peak, &peak, now))
    ;
  if (weft_event_wait(t, c->go, WEFT_WAIT_FOREVER) != 0)
    atomic_fetch_add(&c->errors, 1);
  weft_yield(t);
  weft_delay(t, 1);
  weft_yield(t);
  atomic_fetch_sub(&c->live, 1);
  atomic_fetch_add(&c->done, 1);
}

Test(dispatch, live_tasks_never_exceed_max_tasks) {
  enum { MAXT = 8, N = 200 };
  weft_region *r = th_region(2, MAXT);
  cr_assert_eq(weft_event_create(&g_live.go), 0);
  th_define(r, "LIVE", live_task, 1);
  for (long i = 0; i < N; i++)
    th_start(r, "LIVE", &g_live, i);
  /* Nothing can end before the event is posted: exactly MAXT are live. */
  th_wait_until(atomic_load(&g_live.live) == MAXT);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.active, MAXT);
  cr_assert_eq(s.queued, N - MAXT);
  cr_assert_eq(weft_event_post(g_live.go), 0);
  th_wait_count(&g_live.done, N);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(atomic_load(&g_live.errors), 0);
  cr_assert_leq(atomic_load(&g_live.peak), MAXT, "peak %d", atomic_load(&g_live.peak));
  s = fin;
  cr_assert_leq(s.peak_active, MAXT, "peak_active %u", s.peak_active);
  cr_assert_eq(s.peak_active, MAXT);
  cr_assert_eq(s.tasks_completed, N);
  cr_assert_eq(s.starts_rejected, 0);
  weft_event_destroy(g_live.go);
}

Test(dispatch, admission_queue_bound_gives_ebusy) {
  weft_region *r = order_region(1, 3);
  close_gate(r); /* the only live task */
  th_start_prio(r, "REC", &g_order, 0, 10);
  th_start_prio(r, "REC", &g_order, 1, 200);
  th_start_prio(r, "REC", &g_order, 2, 100);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.active, 1);
  cr_assert_eq(s.queued, 3);
  cr_assert_eq(th_try_start(r, "REC", &g_order, 3, 255, NULL), WEFT_EBUSY);
  cr_assert_eq(th_try_start(r, "REC", &g_order, 4, 0, NULL), WEFT_EBUSY);
  s = th_stats(r);
  cr_assert_eq(s.queued, 3);
  cr_assert_eq(s.starts_rejected, 2);
  open_gate();
  th_wait_ended(r, 4);
  weft_region_stats fin = th_finish(r);
  static const long expected[] = {1, 2, 0};
  expect_order(expected, 3);
  s = fin;
  cr_assert_eq(s.tasks_started, 4);
  cr_assert_eq(s.peak_active, 1);
}

Test(dispatch, queued_starts_admitted_in_priority_order) {
  weft_region *r = order_region(1, 1024);
  close_gate(r);
  static const int prio[] = {5, 5, 90, WEFT_PRIORITY_DEFAULT, 90, 255, 0, 5, 50};
  for (long i = 0; i < 9; i++)
    th_start_prio(r, "REC", &g_order, i, prio[i]);
  cr_assert_eq(th_stats(r).queued, 9);
  open_gate();
  th_wait_ended(r, 10);
  th_finish(r);
  /* 50 and the default (REC's 50) are equal: FIFO between them. */
  static const long expected[] = {5, 2, 4, 3, 8, 0, 1, 7, 6};
  expect_order(expected, 9);
}

/* A start is admitted whenever fewer than max_tasks tasks are live, also
 * while a worker that started tasks itself is busy. The gate starts one
 * child from inside its task, then occupies the only worker; the host then
 * fills the remaining max_tasks - 2 slots and none of its starts may queue. */
static void gate_with_child(weft_task *t) {
  th_arg child = {&g_live, 0};
  if (weft_start(weft_task_region(t), "LIVE", &child, sizeof child, NULL, NULL) != 0)
    atomic_fetch_add(&g_live.errors, 1);
  gate(t);
}

Test(dispatch, every_slot_is_usable_while_a_worker_is_busy) {
  enum { MAXT = 16 };
  weft_region_config cfg = th_config(1, MAXT);
  cfg.runaway_ms = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_live.go), 0);
  th_define(r, "LIVE", live_task, 1);
  th_define(r, "GCHILD", gate_with_child, 1);
  th_start(r, "GCHILD", &g_order, 0);
  th_wait_until(atomic_load(&g_order.gate_running));
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.active, 2, "the gate and its child, but %u active", s.active);
  for (long i = 0; i < MAXT - 2; i++)
    th_start(r, "LIVE", &g_live, i);
  s = th_stats(r);
  cr_assert_eq(s.queued, 0, "%u of %d starts queued with %u tasks live", s.queued, MAXT - 2,
               s.active);
  cr_assert_eq(s.active, MAXT);
  th_start(r, "LIVE", &g_live, MAXT);
  cr_assert_eq(th_stats(r).queued, 1, "the start past max_tasks queues");
  open_gate();
  cr_assert_eq(weft_event_post(g_live.go), 0);
  th_wait_count(&g_live.done, MAXT);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_live.errors), 0);
  weft_event_destroy(g_live.go);
}

/* ------------------------------------------------------------------------ */
/* Facts about a task                                                        */
/* ------------------------------------------------------------------------ */

typedef struct facts_ctx {
  weft_region *r;
  atomic_long wrong;
  atomic_long done;
} facts_ctx;

static facts_ctx g_facts;

static void check_facts(weft_task *t) {
  facts_ctx *c = TH_CTX(t, facts_ctx);
  for (int i = 0; i < 3; i++) {
    if (weft_task_worker(t) >= 4)
      atomic_fetch_add(&c->wrong, 1);
    if (weft_task_region(t) != c->r || strcmp(weft_task_tranid(t), "FACTS") != 0)
      atomic_fetch_add(&c->wrong, 1);
    weft_delay(t, 1);
  }
  atomic_fetch_add(&c->done, 1);
}

Test(dispatch, task_facts_and_worker_index) {
  weft_region *r = th_region(4, 64);
  g_facts.r = r;
  th_define(r, "FACTS", check_facts, 1);
  for (long i = 0; i < 100; i++)
    th_start(r, "FACTS", &g_facts, i);
  th_wait_count(&g_facts.done, 100);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_facts.wrong), 0);
}
