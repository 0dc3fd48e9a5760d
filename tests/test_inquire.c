/* test_inquire.c - weft_task_list when a worker cannot answer: a task
 * running without suspending (runaway detection off) keeps its worker from
 * its dispatcher; the listing answers after its deadline with the other
 * workers' tasks and names the silent worker. */
#include "helpers.h"

TestSuite(inquire, .timeout = TH_TEST_TIMEOUT);

typedef struct inq_ctx {
  weft_event *release;  /* ends the waiter */
  atomic_int waiting;   /* the waiter is about to wait */
  atomic_int spinning;  /* the spinner has started */
  atomic_int stop;      /* set by the test: the spinner returns */
} inq_ctx;

static inq_ctx g;

static void waiter(weft_task *t) {
  inq_ctx *c = TH_CTX(t, inq_ctx);
  atomic_store(&c->waiting, 1);
  weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
}

/* Runs without suspending until the test says stop. */
static void spinner(weft_task *t) {
  inq_ctx *c = TH_CTX(t, inq_ctx);
  atomic_store(&c->spinning, 1);
  while (!atomic_load(&c->stop))
    YieldProcessor();
}

/* The state of the only live task, task no, in a listing; *out its entry. */
static int only_task_state(weft_region *r, uint64_t no, weft_task_info *out) {
  size_t n = 0;
  cr_assert_eq(weft_task_list(r, out, 1, &n), 0);
  cr_assert_eq(n, 1, "%zu tasks", n);
  cr_assert_eq(out->task_no, no);
  return out->state;
}

Test(inquire, silent_worker_is_named) {
  weft_region_config cfg = th_config(2, 16);
  cfg.runaway_ms = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "WAITER", waiter, 1);
  th_define(r, "SPIN", spinner, 1);
  cr_assert_eq(weft_event_create(&g.release), 0);
  /* Starts from a host thread go to the workers round robin: the waiter
   * on one, the spinner on the other. */
  uint64_t w_no = th_start(r, "WAITER", &g, 0);
  th_wait_until(atomic_load(&g.waiting));
  weft_task_info wi;
  th_wait_until(only_task_state(r, w_no, &wi) == WEFT_TASK_WAITING);
  th_start(r, "SPIN", &g, 1);
  th_wait_until(atomic_load(&g.spinning));

  weft_task_info v[8];
  size_t n = 99;
  uint64_t missing = 0;
  int rc = weft_task_list_ex(r, v, 8, &n, &missing);
  cr_assert_eq(rc, WEFT_ETIMEDOUT, "weft_task_list_ex: %s", weft_err_name(rc));
  cr_assert_eq(missing, 1ull << (1 - wi.worker), "missing %#llx, the waiter on worker %u",
               (unsigned long long)missing, wi.worker);
  cr_assert_eq(n, 1, "%zu tasks listed", n);
  cr_assert_eq(v[0].task_no, w_no);
  cr_assert_eq(v[0].state, WEFT_TASK_WAITING);
  /* Without the mask: the same code and the same tasks. */
  n = 99;
  cr_assert_eq(weft_task_list(r, v, 8, &n), WEFT_ETIMEDOUT);
  cr_assert_eq(n, 1);

  atomic_store(&g.stop, 1);
  cr_assert_eq(weft_event_post(g.release), 0);
  th_wait_ended(r, 2);
  n = 99;
  missing = 99;
  cr_assert_eq(weft_task_list_ex(r, v, 8, &n, &missing), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(missing, 0);
  th_finish(r);
  weft_event_destroy(g.release);
}
