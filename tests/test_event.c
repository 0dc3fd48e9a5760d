/* test_event.c - events: posted from any thread, waited on by tasks, posted
 * until reset, timeouts and polling. */
#include "helpers.h"

TestSuite(event, .timeout = TH_TEST_TIMEOUT);

typedef struct ev_ctx {
  weft_event *ev[2];
  atomic_int waiting;      /* tasks about to wait */
  atomic_long done;        /* tasks finished */
  atomic_long errors;      /* unexpected return codes */
  int rc[8];               /* return codes, in call order */
  int posted_at_wake;      /* ev[1] was posted when the wait returned */
  atomic_long rounds;      /* ping-pong rounds done */
} ev_ctx;

static ev_ctx g_ev;

static void make_events(void) {
  for (int i = 0; i < 2; i++)
    cr_assert_eq(weft_event_create(&g_ev.ev[i]), 0);
}

static void free_events(void) {
  for (int i = 0; i < 2; i++)
    weft_event_destroy(g_ev.ev[i]);
}

/* ------------------------------------------------------------------------ */
/* From the host                                                             */
/* ------------------------------------------------------------------------ */

Test(event, null_arguments) {
  cr_assert_eq(weft_event_create(NULL), WEFT_EINVAL);
  cr_assert_eq(weft_event_post(NULL), WEFT_EINVAL);
  cr_assert_eq(weft_event_reset(NULL), WEFT_EINVAL);
}

Test(event, posted_until_reset_on_the_host) {
  weft_event *ev = NULL;
  cr_assert_eq(weft_event_create(&ev), 0);
  cr_assert_not_null(ev);
  cr_assert_eq(weft_event_is_posted(ev), 0);
  cr_assert_eq(weft_event_post(ev), 0);
  cr_assert_eq(weft_event_is_posted(ev), 1);
  cr_assert_eq(weft_event_post(ev), 0); /* posting twice is fine */
  cr_assert_eq(weft_event_is_posted(ev), 1);
  cr_assert_eq(weft_event_reset(ev), 0);
  cr_assert_eq(weft_event_is_posted(ev), 0);
  cr_assert_eq(weft_event_reset(ev), 0); /* and so is resetting twice */
  cr_assert_eq(weft_event_is_posted(ev), 0);
  weft_event_destroy(ev);
}

Test(event, many_events) {
  enum { N = 1000 };
  static weft_event *evs[N];
  for (int i = 0; i < N; i++)
    cr_assert_eq(weft_event_create(&evs[i]), 0);
  for (int i = 0; i < N; i += 2)
    cr_assert_eq(weft_event_post(evs[i]), 0);
  for (int i = 0; i < N; i++)
    cr_assert_eq(weft_event_is_posted(evs[i]), i % 2 == 0);
  for (int i = 0; i < N; i++)
    weft_event_destroy(evs[i]);
}

/* ------------------------------------------------------------------------ */
/* A foreign thread wakes a waiting task                                     */
/* ------------------------------------------------------------------------ */

static void wait_on_ev0(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  atomic_fetch_add(&c->waiting, 1);
  if (weft_event_wait(t, c->ev[0], WEFT_WAIT_FOREVER) != 0)
    atomic_fetch_add(&c->errors, 1);
  atomic_fetch_add(&c->done, 1);
}

static DWORD WINAPI post_ev0(void *arg) { return (DWORD)weft_event_post(g_ev.ev[0]); }

/* Tasks of r suspended in weft_event_wait now (from weft_task_list). */
static size_t event_waiters(weft_region *r) {
  weft_task_info v[64];
  size_t n = 0, waiting = 0;
  cr_assert_eq(weft_task_list(r, v, 64, &n), 0);
  for (size_t i = 0; i < n && i < 64; i++)
    waiting += v[i].state == WEFT_TASK_WAITING && v[i].wait_reason == WEFT_WAIT_EVENT;
  return waiting;
}

/* Post from a thread that is neither the host nor a worker; returns the
 * post's code. */
static int post_from_foreign_thread(void) {
  HANDLE th = CreateThread(NULL, 0, post_ev0, NULL, 0, NULL);
  cr_assert_not_null(th);
  cr_assert_eq(WaitForSingleObject(th, TH_DEADLINE_MS), WAIT_OBJECT_0);
  DWORD code = 1;
  GetExitCodeThread(th, &code);
  CloseHandle(th);
  return (int)code;
}

Test(event, post_from_foreign_thread_wakes_waiter) {
  weft_region *r = th_region(1, 16);
  make_events();
  th_define(r, "WAITER", wait_on_ev0, 1);
  th_start(r, "WAITER", &g_ev, 0);
  /* The post must find the waiter suspended (the path under test), not
   * about to wait. */
  th_wait_until(event_waiters(r) == 1);
  cr_assert_eq(atomic_load(&g_ev.done), 0, "the wait returned before the post");
  cr_assert_eq(post_from_foreign_thread(), 0);
  th_wait_count(&g_ev.done, 1);
  cr_assert_eq(atomic_load(&g_ev.errors), 0);
  th_finish(r);
  free_events();
}

Test(event, one_post_wakes_every_waiter) {
  enum { N = 40 };
  weft_region *r = th_region(2, 64);
  make_events();
  th_define(r, "WAITER", wait_on_ev0, 1);
  for (int i = 0; i < N; i++)
    th_start(r, "WAITER", &g_ev, i);
  th_wait_until(event_waiters(r) == N);
  cr_assert_eq(atomic_load(&g_ev.done), 0, "a wait returned before the post");
  cr_assert_eq(post_from_foreign_thread(), 0);
  th_wait_count(&g_ev.done, N);
  cr_assert_eq(atomic_load(&g_ev.errors), 0);
  cr_assert_eq(weft_event_is_posted(g_ev.ev[0]), 1);
  th_finish(r);
  free_events();
}

/* ------------------------------------------------------------------------ */
/* Timeouts, polling, staying posted                                         */
/* ------------------------------------------------------------------------ */

static void timeouts_and_polls(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  weft_event *ev = c->ev[0];
  c->rc[0] = weft_event_wait(t, ev, 30);  /* never posted: times out */
  c->rc[1] = weft_event_wait(t, ev, 0);   /* polls: not posted */
  c->rc[2] = weft_event_post(ev);         /* a task may post too */
  c->rc[3] = weft_event_wait(t, ev, 0);   /* polls: posted */
  c->rc[4] = weft_event_wait(t, ev, 30);  /* still posted */
  c->rc[5] = weft_event_wait(t, ev, WEFT_WAIT_FOREVER);
  c->rc[6] = weft_event_reset(ev);
  c->rc[7] = weft_event_wait(t, ev, 0);   /* reset: not posted */
  atomic_fetch_add(&c->done, 1);
}

Test(event, timeout_poll_and_stay_posted) {
  weft_region *r = th_region(1, 16);
  make_events();
  th_define(r, "TIMEOUTS", timeouts_and_polls, 1);
  th_start(r, "TIMEOUTS", &g_ev, 0);
  th_wait_count(&g_ev.done, 1);
  th_finish(r);
  static const int expected[8] = {WEFT_ETIMEDOUT, WEFT_ETIMEDOUT, 0, 0, 0, 0, 0,
                                  WEFT_ETIMEDOUT};
  for (int i = 0; i < 8; i++)
    cr_assert_eq(g_ev.rc[i], expected[i], "call %d returned %s, expected %s", i,
                 weft_err_name(g_ev.rc[i]), weft_err_name(expected[i]));
  cr_assert_eq(weft_event_is_posted(g_ev.ev[0]), 0);
  free_events();
}

/* Posted by the host before the task starts: every wait returns at once. */
static void wait_three_times(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  for (int i = 0; i < 3; i++)
    c->rc[i] = weft_event_wait(t, c->ev[0], i == 0 ? WEFT_WAIT_FOREVER : (unsigned)i - 1);
  atomic_fetch_add(&c->done, 1);
}

Test(event, posted_before_the_wait) {
  weft_region *r = th_region(1, 16);
  make_events();
  cr_assert_eq(weft_event_post(g_ev.ev[0]), 0);
  th_define(r, "WAIT3", wait_three_times, 1);
  th_start(r, "WAIT3", &g_ev, 0);
  th_wait_count(&g_ev.done, 1);
  th_finish(r);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(g_ev.rc[i], 0, "wait %d: %s", i, weft_err_name(g_ev.rc[i]));
  free_events();
}

/* A wait that was woken by a post leaves no timer behind that could cut a
 * later wait short. */
#define STALE_MS 2000 /* the first wait's timeout (the post comes long before) */

static void woken_then_wait_again(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  atomic_store(&c->waiting, 1);
  c->rc[0] = weft_event_wait(t, c->ev[0], STALE_MS);
  atomic_store(&c->waiting, 2);
  c->rc[1] = weft_event_wait(t, c->ev[1], WEFT_WAIT_FOREVER);
  c->posted_at_wake = weft_event_is_posted(c->ev[1]);
  atomic_fetch_add(&c->done, 1);
}

/* A timer on the same worker that ends after the first wait's would have. */
static void delay_past_stale(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  weft_delay(t, STALE_MS);
  atomic_fetch_add(&c->rounds, 1);
}

Test(event, no_stale_timeout_after_a_post) {
  weft_region *r = th_region(1, 16);
  make_events();
  th_define(r, "STALE", woken_then_wait_again, 1);
  th_define(r, "LATER", delay_past_stale, 1);
  th_start(r, "STALE", &g_ev, 0);
  th_wait_until(event_waiters(r) == 1);
  cr_assert_eq(weft_event_post(g_ev.ev[0]), 0);
  th_wait_until(atomic_load(&g_ev.waiting) == 2 && event_waiters(r) == 1);
  /* The one worker's timers run in deadline order: once LATER's delay,
   * started after the first wait, has ended, that wait's timeout is past
   * too. The second wait must still be waiting. */
  th_start(r, "LATER", &g_ev, 1);
  th_wait_count(&g_ev.rounds, 1);
  cr_assert_eq(atomic_load(&g_ev.done), 0, "the second wait returned without a post");
  cr_assert_eq(event_waiters(r), 1);
  cr_assert_eq(weft_event_post(g_ev.ev[1]), 0);
  th_wait_count(&g_ev.done, 1);
  th_finish(r);
  cr_assert_eq(g_ev.rc[0], 0, "%s", weft_err_name(g_ev.rc[0]));
  cr_assert_eq(g_ev.rc[1], 0, "%s", weft_err_name(g_ev.rc[1]));
  cr_assert_eq(g_ev.posted_at_wake, 1);
  free_events();
}

/* ------------------------------------------------------------------------ */
/* Ping-pong: no lost wakeups                                                */
/* ------------------------------------------------------------------------ */

#define ROUNDS 2000

/* Posts ev[0], waits for ev[1], resets it; ROUNDS times. */
static void pinger(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  for (int i = 0; i < ROUNDS; i++) {
    if (weft_event_post(c->ev[0]) != 0 ||
        weft_event_wait(t, c->ev[1], WEFT_WAIT_FOREVER) != 0 ||
        weft_event_reset(c->ev[1]) != 0)
      atomic_fetch_add(&c->errors, 1);
    atomic_fetch_add(&c->rounds, 1);
  }
  atomic_fetch_add(&c->done, 1);
}

/* Waits for ev[0], resets it, posts ev[1]; ROUNDS times. */
static void ponger(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  for (int i = 0; i < ROUNDS; i++)
    if (weft_event_wait(t, c->ev[0], WEFT_WAIT_FOREVER) != 0 ||
        weft_event_reset(c->ev[0]) != 0 || weft_event_post(c->ev[1]) != 0)
      atomic_fetch_add(&c->errors, 1);
  atomic_fetch_add(&c->done, 1);
}

Test(event, ping_pong_between_tasks_on_two_workers) {
  weft_region *r = th_region(2, 16);
  make_events();
  th_define(r, "PING", pinger, 1);
  th_define(r, "PONG", ponger, 1);
  th_start(r, "PONG", &g_ev, 0);
  th_start(r, "PING", &g_ev, 0);
  th_wait_count(&g_ev.done, 2);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ev.errors), 0);
  cr_assert_eq(atomic_load(&g_ev.rounds), ROUNDS);
  free_events();
}

/* The host pings (posts ev[0]) and polls for the task's pong (ev[1]). */
static void host_ponger(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  for (int i = 0; i < 200; i++) {
    if (weft_event_wait(t, c->ev[0], WEFT_WAIT_FOREVER) != 0 ||
        weft_event_reset(c->ev[0]) != 0 || weft_event_post(c->ev[1]) != 0)
      atomic_fetch_add(&c->errors, 1);
  }
  atomic_fetch_add(&c->done, 1);
}

Test(event, ping_pong_with_the_host) {
  weft_region *r = th_region(2, 16);
  make_events();
  th_define(r, "HPONG", host_ponger, 1);
  th_start(r, "HPONG", &g_ev, 0);
  for (int i = 0; i < 200; i++) {
    cr_assert_eq(weft_event_post(g_ev.ev[0]), 0);
    th_wait_until(weft_event_is_posted(g_ev.ev[1]));
    cr_assert_eq(weft_event_reset(g_ev.ev[1]), 0);
  }
  th_wait_count(&g_ev.done, 1);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ev.errors), 0);
  free_events();
}

/* weft_event_wait with a NULL event, from a task. */
static void wait_null(weft_task *t) {
  ev_ctx *c = TH_CTX(t, ev_ctx);
  c->rc[0] = weft_event_wait(t, NULL, 0);
  c->rc[1] = weft_event_wait(t, NULL, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->done, 1);
}

Test(event, wait_null_event) {
  weft_region *r = th_region(1, 16);
  th_define(r, "WNULL", wait_null, 1);
  th_start(r, "WNULL", &g_ev, 0);
  th_wait_count(&g_ev.done, 1);
  th_finish(r);
  cr_assert_eq(g_ev.rc[0], WEFT_EINVAL, "%s", weft_err_name(g_ev.rc[0]));
  cr_assert_eq(g_ev.rc[1], WEFT_EINVAL, "%s", weft_err_name(g_ev.rc[1]));
}
