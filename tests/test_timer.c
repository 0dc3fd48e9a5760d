/* test_timer.c - weft_delay and delayed starts: never early, do not block
 * the worker, cancelled at shutdown. */
#include "helpers.h"

TestSuite(timer, .timeout = TH_TEST_TIMEOUT);

#define MAX_SAMPLES 1024

typedef struct delay_ctx {
  unsigned ms[MAX_SAMPLES];         /* the delay sample i asked for */
  int64_t elapsed_us[MAX_SAMPLES];  /* what it measured */
  int rc[MAX_SAMPLES];              /* what weft_delay returned */
  int64_t started_us[MAX_SAMPLES];  /* when a delayed start began running */
  atomic_int n;                     /* samples taken */
  atomic_long done;                 /* tasks finished */
} delay_ctx;

static delay_ctx g_delay;

/* Take one sample of weft_delay(ms), measured with QPC around the call. */
static void sample_delay(weft_task *t, delay_ctx *c, unsigned ms) {
  int i = atomic_fetch_add(&c->n, 1);
  if (i >= MAX_SAMPLES)
    return;
  c->ms[i] = ms;
  int64_t t0 = th_now_us();
  c->rc[i] = weft_delay(t, ms);
  c->elapsed_us[i] = th_now_us() - t0;
}

/* Delays idx % 1000 ms, three times. */
static void delay_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  delay_ctx *c = a.ctx;
  for (int k = 0; k < 3; k++)
    sample_delay(t, c, (unsigned)(a.idx % 1000));
  atomic_fetch_add(&c->done, 1);
}

/* Asserts every sample returned 0 and lasted at least what it asked. */
static void expect_never_early(void) {
  int n = atomic_load(&g_delay.n);
  cr_assert_leq(n, MAX_SAMPLES);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(g_delay.rc[i], 0, "weft_delay(%u): %s", g_delay.ms[i],
                 weft_err_name(g_delay.rc[i]));
    cr_assert_geq(g_delay.elapsed_us[i], (int64_t)g_delay.ms[i] * 1000,
                  "weft_delay(%u) returned after %lld us", g_delay.ms[i],
                  (long long)g_delay.elapsed_us[i]);
  }
}

Test(timer, delay_is_never_early) {
  static const unsigned ms[] = {1, 2, 3, 5, 7, 10, 15, 16, 20, 33, 50, 100};
  enum { N_MS = sizeof ms / sizeof ms[0], COPIES = 3 };
  weft_region *r = th_region(2, 256);
  th_define(r, "DELAY", delay_task, 1);
  for (int i = 0; i < N_MS; i++)
    for (int k = 0; k < COPIES; k++)
      th_start(r, "DELAY", &g_delay, ms[i]);
  th_wait_count(&g_delay.done, N_MS * COPIES);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_delay.n), N_MS * COPIES * 3);
  expect_never_early();
}

/* Many tasks with mixed delays at once, several per worker. */
Test(timer, many_concurrent_delays_never_early) {
  enum { N = 300 };
  weft_region *r = th_region(2, 512);
  th_define(r, "DELAY", delay_task, 1);
  unsigned seed = 12345;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    th_start(r, "DELAY", &g_delay, 1 + (long)((seed >> 16) % 40));
  }
  th_wait_count(&g_delay.done, N);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_delay.n), N * 3);
  expect_never_early();
}

/* A delay of 0 returns 0 (it only lets others run). */
Test(timer, delay_zero) {
  weft_region *r = th_region(1, 16);
  th_define(r, "DELAY", delay_task, 1);
  th_start(r, "DELAY", &g_delay, 0);
  th_wait_count(&g_delay.done, 1);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_delay.n), 3);
  expect_never_early();
}

/* ------------------------------------------------------------------------ */
/* A delay suspends the task, not the worker                                 */
/* ------------------------------------------------------------------------ */

typedef struct block_ctx {
  atomic_int other_ran;   /* the second task ran */
  atomic_int saw_other;   /* the delaying task saw it before it gave up */
  atomic_long done;
} block_ctx;

static block_ctx g_block;

/* Delays 1 ms at a time until the other task has run; if weft_delay
 * blocked the only worker, the other task could never run. */
static void delay_until_other_ran(weft_task *t) {
  block_ctx *c = TH_CTX(t, block_ctx);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (!atomic_load(&c->other_ran) && GetTickCount64() < end)
    weft_delay(t, 1);
  atomic_store(&c->saw_other, atomic_load(&c->other_ran));
  atomic_fetch_add(&c->done, 1);
}

static void mark_other(weft_task *t) {
  block_ctx *c = TH_CTX(t, block_ctx);
  atomic_store(&c->other_ran, 1);
  atomic_fetch_add(&c->done, 1);
}

Test(timer, delay_does_not_block_the_worker) {
  weft_region *r = th_region(1, 16);
  th_define(r, "DELAYER", delay_until_other_ran, 1);
  th_define(r, "OTHER", mark_other, 1);
  th_start(r, "DELAYER", &g_block, 0);
  th_start(r, "OTHER", &g_block, 0);
  th_wait_count(&g_block.done, 2);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_block.saw_other), 1);
}

/* ------------------------------------------------------------------------ */
/* Delayed starts                                                            */
/* ------------------------------------------------------------------------ */

/* Records when it began, against the time the host stored in started_us. */
static void note_start_time(weft_task *t) {
  th_arg a = th_arg_of(t);
  delay_ctx *c = a.ctx;
  c->elapsed_us[a.idx] = th_now_us() - c->started_us[a.idx];
  atomic_fetch_add(&c->done, 1);
}

Test(timer, delayed_start_is_never_early) {
  static const unsigned ms[] = {1, 5, 10, 16, 25, 50, 120};
  enum { N = sizeof ms / sizeof ms[0] };
  weft_region *r = th_region(2, 64);
  th_define(r, "NOTE", note_start_time, 1);
  for (long i = 0; i < N; i++) {
    th_arg a = {&g_delay, i};
    weft_start_opts o;
    weft_start_opts_init(&o);
    o.delay_ms = ms[i];
    g_delay.ms[i] = ms[i];
    g_delay.started_us[i] = th_now_us();
    int rc = weft_start(r, "NOTE", &a, sizeof a, &o, NULL);
    cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  }
  th_wait_count(&g_delay.done, N);
  th_finish(r);
  for (int i = 0; i < N; i++)
    cr_assert_geq(g_delay.elapsed_us[i], (int64_t)ms[i] * 1000,
                  "start delayed %u ms ran after %lld us", ms[i],
                  (long long)g_delay.elapsed_us[i]);
}

static void must_not_run(weft_task *t) {
  atomic_fetch_add(&TH_CTX(t, delay_ctx)->done, 1);
}

Test(timer, delayed_start_cancelled_at_normal_shutdown) {
  weft_region *r = th_region(1, 16);
  th_define(r, "NEVER", must_not_run, 1);
  th_arg a = {&g_delay, 0};
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.delay_ms = 600000;
  cr_assert_eq(weft_start(r, "NEVER", &a, sizeof a, &o, NULL), 0);
  cr_assert_eq(weft_start(r, "NEVER", &a, sizeof a, &o, NULL), 0);
  weft_region_stats before = th_stats(r);
  cr_assert_eq(before.delayed, 2);
  cr_assert_eq(before.queued, 0);
  cr_assert_eq(before.active, 0);
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  cr_assert_eq(atomic_load(&g_delay.done), 0);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.starts_cancelled, 2);
  cr_assert_eq(s.tasks_started, 0);
  cr_assert_eq(s.delayed, 0);
  weft_region_destroy(r);
}

/* A delayed start does not hold a max_tasks slot while it waits. */
Test(timer, delayed_start_does_not_hold_a_slot) {
  weft_region *r = th_region(1, 1);
  th_define(r, "NOTE", note_start_time, 1);
  th_arg a = {&g_delay, 1};
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.delay_ms = 600000;
  cr_assert_eq(weft_start(r, "NOTE", &a, sizeof a, &o, NULL), 0);
  g_delay.started_us[0] = th_now_us();
  th_start(r, "NOTE", &g_delay, 0);
  th_wait_count(&g_delay.done, 1);
  weft_region_stats now = th_stats(r);
  cr_assert_eq(now.queued, 0);
  cr_assert_eq(now.delayed, 1);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.starts_cancelled, 1);
}
