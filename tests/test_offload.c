/* test_offload.c - weft_offload: runs elsewhere, never blocks the worker,
 * returns the result, bounded pool, shutdown while offloaded. */
#include "helpers.h"

TestSuite(offload, .timeout = TH_TEST_TIMEOUT);

typedef struct off_ctx {
  atomic_long b_progress;   /* B's rounds while A is offloaded */
  atomic_int a_resumed;     /* A came back from weft_offload */
  int a_rc, a_result;       /* weft_offload's code and fn's return */
  DWORD worker_tid, fn_tid; /* where A ran and where fn ran */
  atomic_long done;
  atomic_long errors;
  atomic_int in_fn;         /* offloaded calls running now */
  atomic_int peak_in_fn;    /* most at once */
  atomic_int release;       /* lets blocked offloaded calls return */
  atomic_int offloaded;     /* offloaded calls that began */
  th_abends log;
  th_handler handler;
} off_ctx;

static off_ctx g_off;

/* ------------------------------------------------------------------------ */
/* The worker keeps running other tasks                                      */
/* ------------------------------------------------------------------------ */

/* Returns 42 once B has made 100 rounds of progress, -1 if it never does
 * (that is, if the offload blocked the only worker). */
static int wait_for_b(void *arg) {
  off_ctx *c = arg;
  c->fn_tid = GetCurrentThreadId();
  return th_sleep_until_ge(&c->b_progress, 100) ? 42 : -1;
}

static void task_a(weft_task *t) {
  off_ctx *c = TH_CTX(t, off_ctx);
  c->worker_tid = GetCurrentThreadId();
  c->a_rc = weft_offload(t, wait_for_b, c, &c->a_result);
  atomic_store(&c->a_resumed, 1);
  atomic_fetch_add(&c->done, 1);
}

/* Counts and yields until A is back. */
static void task_b(weft_task *t) {
  off_ctx *c = TH_CTX(t, off_ctx);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS + 5000;
  while (!atomic_load(&c->a_resumed) && GetTickCount64() < end) {
    atomic_fetch_add(&c->b_progress, 1);
    weft_yield(t);
  }
  atomic_fetch_add(&c->done, 1);
}

Test(offload, does_not_block_the_worker) {
  weft_region *r = th_region(1, 16);
  th_define(r, "A", task_a, 1);
  th_define(r, "B", task_b, 1);
  th_start(r, "A", &g_off, 0);
  th_start(r, "B", &g_off, 0);
  th_wait_count(&g_off.done, 2);
  th_finish(r);
  cr_assert_eq(g_off.a_rc, 0, "%s", weft_err_name(g_off.a_rc));
  cr_assert_eq(g_off.a_result, 42, "the offloaded call saw no progress of B");
  cr_assert_neq(g_off.fn_tid, g_off.worker_tid, "fn ran on the worker thread");
  cr_assert_neq(g_off.fn_tid, 0);
}

/* ------------------------------------------------------------------------ */
/* Results and bad input                                                     */
/* ------------------------------------------------------------------------ */

static int return_arg(void *arg) {
  return (int)(intptr_t)arg;
}

typedef struct result_ctx {
  int rc[8];
  int result[8];
  atomic_long done;
} result_ctx;

static result_ctx g_res;

static void results(weft_task *t) {
  result_ctx *c = TH_CTX(t, result_ctx);
  static const int values[] = {0, 1, -1, 12345, -99999, WEFT_EINVAL};
  for (int i = 0; i < 6; i++) {
    c->result[i] = 777;
    c->rc[i] = weft_offload(t, return_arg, (void *)(intptr_t)values[i], &c->result[i]);
  }
  c->rc[6] = weft_offload(t, return_arg, (void *)(intptr_t)5, NULL); /* result NULL */
  c->rc[7] = weft_offload(t, NULL, NULL, &c->result[7]);
  atomic_fetch_add(&c->done, 1);
}

Test(offload, returns_the_result) {
  weft_region *r = th_region(2, 16);
  th_define(r, "RESULTS", results, 1);
  th_start(r, "RESULTS", &g_res, 0);
  th_wait_count(&g_res.done, 1);
  th_finish(r);
  static const int values[] = {0, 1, -1, 12345, -99999, WEFT_EINVAL};
  for (int i = 0; i < 6; i++) {
    cr_assert_eq(g_res.rc[i], 0, "offload %d: %s", i, weft_err_name(g_res.rc[i]));
    cr_assert_eq(g_res.result[i], values[i], "offload %d: result %d", i, g_res.result[i]);
  }
  cr_assert_eq(g_res.rc[6], 0, "result NULL: %s", weft_err_name(g_res.rc[6]));
  cr_assert_eq(g_res.rc[7], WEFT_EINVAL, "fn NULL: %s", weft_err_name(g_res.rc[7]));
}

/* ------------------------------------------------------------------------ */
/* Many at once, bounded by offload_threads                                  */
/* ------------------------------------------------------------------------ */

#define POOL 3 /* offload_threads of many_tasks_bounded_pool */

/* Tracks concurrency; blocks until POOL calls have been in at once (so the
 * pool must run that many side by side; a deadline fails the call instead
 * of hanging), then returns idx * 2. */
static int blocking_double(void *arg) {
  intptr_t idx = (intptr_t)arg;
  int now = atomic_fetch_add(&g_off.in_fn, 1) + 1;
  int peak = atomic_load(&g_off.peak_in_fn);
  while (now > peak && !atomic_compare_exchange_weak(&g_off.peak_in_fn, &peak, now))
    ;
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (atomic_load(&g_off.peak_in_fn) < POOL && GetTickCount64() < end)
    Sleep(1);
  atomic_fetch_sub(&g_off.in_fn, 1);
  return atomic_load(&g_off.peak_in_fn) >= POOL ? (int)(idx * 2) : -1;
}

static void offload_double(weft_task *t) {
  th_arg a = th_arg_of(t);
  off_ctx *c = a.ctx;
  int result = -1;
  for (int k = 0; k < 3; k++) {
    if (weft_offload(t, blocking_double, (void *)(intptr_t)a.idx, &result) != 0 ||
        result != a.idx * 2)
      atomic_fetch_add(&c->errors, 1);
  }
  atomic_fetch_add(&c->done, 1);
}

Test(offload, many_tasks_bounded_pool) {
  enum { N = 40 };
  weft_region_config cfg = th_config(2, 64);
  cfg.offload_threads = POOL;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "DOUBLE", offload_double, 1);
  for (long i = 0; i < N; i++)
    th_start(r, "DOUBLE", &g_off, i);
  th_wait_count(&g_off.done, N);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_off.errors), 0);
  /* Exactly the pool's size ran at once: never more, and all of it. */
  cr_assert_eq(atomic_load(&g_off.peak_in_fn), POOL, "%d offloaded calls at once",
               atomic_load(&g_off.peak_in_fn));
}

/* ------------------------------------------------------------------------ */
/* Weft calls from an offloaded function ("any thread")                      */
/* ------------------------------------------------------------------------ */

typedef struct any_ctx {
  weft_region *r;
  weft_event *ev;
  int start_rc, post_rc;
  atomic_long done;
  atomic_int child_ran;
} any_ctx;

static any_ctx g_any;

static int start_and_post(void *arg) {
  any_ctx *c = arg;
  th_arg a = {c, 0};
  c->start_rc = weft_start(c->r, "CHILD", &a, sizeof a, NULL, NULL);
  c->post_rc = weft_event_post(c->ev);
  return 0;
}

static void child(weft_task *t) {
  any_ctx *c = TH_CTX(t, any_ctx);
  if (weft_event_wait(t, c->ev, WEFT_WAIT_FOREVER) == 0)
    atomic_store(&c->child_ran, 1);
  atomic_fetch_add(&c->done, 1);
}

static void offload_starter(weft_task *t) {
  any_ctx *c = TH_CTX(t, any_ctx);
  weft_offload(t, start_and_post, c, NULL);
  atomic_fetch_add(&c->done, 1);
}

Test(offload, offloaded_code_may_start_and_post) {
  weft_region *r = th_region(1, 16);
  g_any.r = r;
  cr_assert_eq(weft_event_create(&g_any.ev), 0);
  th_define(r, "CHILD", child, 1);
  th_define(r, "STARTER", offload_starter, 1);
  th_start(r, "STARTER", &g_any, 0);
  th_wait_count(&g_any.done, 2);
  th_finish(r);
  cr_assert_eq(g_any.start_rc, 0, "%s", weft_err_name(g_any.start_rc));
  cr_assert_eq(g_any.post_rc, 0, "%s", weft_err_name(g_any.post_rc));
  cr_assert_eq(atomic_load(&g_any.child_ran), 1);
  weft_event_destroy(g_any.ev);
}

/* ------------------------------------------------------------------------ */
/* Shutdown while a task is offloaded                                        */
/* ------------------------------------------------------------------------ */

/* Blocks until the test releases it. */
static int block_until_released(void *arg) {
  off_ctx *c = arg;
  atomic_fetch_add(&c->offloaded, 1);
  return th_spin_until_set(&c->release) ? 1 : -1;
}

static void offload_blocked(weft_task *t) {
  off_ctx *c = TH_CTX(t, off_ctx);
  weft_handle_abend(t, th_on_abend, &c->handler);
  int result = 0;
  weft_offload(t, block_until_released, c, &result);
  atomic_store(&c->a_resumed, 1); /* must not happen after an immediate purge */
  atomic_fetch_add(&c->done, 1);
}

typedef struct shutdown_call {
  weft_region *r;
  int mode;
  int rc;
} shutdown_call;

static DWORD WINAPI call_shutdown(void *arg) {
  shutdown_call *s = arg;
  s->rc = weft_region_shutdown(s->r, s->mode, TH_SHUTDOWN_MS);
  return 0;
}

static void noop(weft_task *t) {}

/* An immediate shutdown's purge has reached the (one) worker once this
 * task, waiting on an event nobody posts, has been abended. */
static th_abends g_waiter_log;
static th_handler g_waiter_handler = {.log = &g_waiter_log};
static weft_event *g_never;

static void wait_forever(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_waiter_handler);
  weft_event_wait(t, g_never, WEFT_WAIT_FOREVER);
}

/* Shut down (mode) on another thread while the task is offloaded, wait
 * until the shutdown has begun (weft_start says so) and, when immediate,
 * until its purge has reached the worker, then let the offloaded call
 * return. The blocked tasks hold every max_tasks slot, so the probing
 * starts only queue. Returns the abends of the offloaded task. */
static int shutdown_during_offload(int mode) {
  bool immediate = mode == WEFT_SHUTDOWN_IMMEDIATE;
  weft_region *r = th_region(1, immediate ? 2 : 1);
  g_off.handler.log = &g_off.log;
  th_define(r, "BLOCKED", offload_blocked, 1);
  th_define(r, "NOOP", noop, 1);
  th_define(r, "WAITER", wait_forever, 1);
  cr_assert_eq(weft_event_create(&g_never), 0);
  if (immediate)
    th_start(r, "WAITER", NULL, 0);
  th_start(r, "BLOCKED", &g_off, 0);
  th_wait_until(atomic_load(&g_off.offloaded) == 1);
  static shutdown_call call;
  call = (shutdown_call){r, mode, 1};
  HANDLE th = CreateThread(NULL, 0, call_shutdown, &call, 0, NULL);
  cr_assert_not_null(th);
  th_wait_until(weft_start(r, "NOOP", NULL, 0, NULL, NULL) == WEFT_ESHUTDOWN);
  if (immediate)
    th_wait_until(atomic_load(&g_waiter_log.n) == 1);
  atomic_store(&g_off.release, 1);
  cr_assert_eq(WaitForSingleObject(th, TH_DEADLINE_MS * 2), WAIT_OBJECT_0);
  CloseHandle(th);
  weft_region_stats s = th_stats(r);
  weft_region_destroy(r);
  cr_assert_eq(call.rc, 0, "shutdown: %s", weft_err_name(call.rc));
  weft_event_destroy(g_never);
  return (int)s.tasks_abended - (immediate ? 1 : 0);
}

Test(offload, immediate_shutdown_purges_when_the_call_returns) {
  int abended = shutdown_during_offload(WEFT_SHUTDOWN_IMMEDIATE);
  cr_assert_eq(abended, 1);
  cr_assert_eq(atomic_load(&g_off.a_resumed), 0, "the purged task went on");
  cr_assert_eq(atomic_load(&g_off.log.n), 1);
  cr_assert_str_eq(g_off.log.code[0], "AEXZ");
}

Test(offload, normal_shutdown_waits_for_the_call) {
  int abended = shutdown_during_offload(WEFT_SHUTDOWN_NORMAL);
  cr_assert_eq(abended, 0);
  cr_assert_eq(atomic_load(&g_off.a_resumed), 1);
  cr_assert_eq(atomic_load(&g_off.log.n), 0);
}
