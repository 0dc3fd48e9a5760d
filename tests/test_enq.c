/* test_enq.c - ENQ/DEQ: mutual exclusion, timeouts, polling, nesting,
 * release at task end, resource naming. */
#include "helpers.h"

TestSuite(enq, .timeout = TH_TEST_TIMEOUT);

/* ------------------------------------------------------------------------ */
/* Mutual exclusion                                                          */
/* ------------------------------------------------------------------------ */

#define EXCL_TASKS 50
#define EXCL_ROUNDS 20

typedef struct excl_ctx {
  volatile long counter; /* updated read-yield-write */
  int use_enq;           /* 0: the same pattern without ENQ */
  atomic_long errors;
  atomic_long done;
} excl_ctx;

static excl_ctx g_excl;

/* counter = counter + 1 with a yield between the read and the write. */
static void read_yield_write(weft_task *t) {
  excl_ctx *c = TH_CTX(t, excl_ctx);
  static const char name[] = "COUNTER";
  for (int i = 0; i < EXCL_ROUNDS; i++) {
    if (c->use_enq && weft_enq(t, name, sizeof name - 1, WEFT_WAIT_FOREVER) != 0)
      atomic_fetch_add(&c->errors, 1);
    long v = c->counter;
    weft_yield(t);
    c->counter = v + 1;
    if (c->use_enq && weft_deq(t, name, sizeof name - 1) != 0)
      atomic_fetch_add(&c->errors, 1);
  }
  atomic_fetch_add(&c->done, 1);
}

static void run_counter(unsigned workers, int use_enq) {
  weft_region *r = th_region(workers, 128);
  g_excl.use_enq = use_enq;
  th_define(r, "COUNT", read_yield_write, 1);
  for (int i = 0; i < EXCL_TASKS; i++)
    th_start(r, "COUNT", &g_excl, i);
  th_wait_count(&g_excl.done, EXCL_TASKS);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_excl.errors), 0);
}

Test(enq, excludes_on_two_workers) {
  run_counter(2, 1);
  cr_assert_eq(g_excl.counter, EXCL_TASKS * EXCL_ROUNDS, "counter %ld", g_excl.counter);
}

Test(enq, excludes_on_one_worker) {
  run_counter(1, 1);
  cr_assert_eq(g_excl.counter, EXCL_TASKS * EXCL_ROUNDS, "counter %ld", g_excl.counter);
}

/* The control: on one worker, without ENQ, the yields interleave the
 * updates and most are lost. It shows the test above can fail. */
Test(enq, without_enq_updates_are_lost) {
  run_counter(1, 0);
  cr_assert_lt(g_excl.counter, EXCL_TASKS * EXCL_ROUNDS, "counter %ld", g_excl.counter);
}

/* ------------------------------------------------------------------------ */
/* Holding, waiting, polling                                                 */
/* ------------------------------------------------------------------------ */

typedef struct hold_ctx {
  weft_event *release;   /* the holder waits for it, then ends */
  atomic_int held;       /* the holder has the ENQ */
  atomic_int step;       /* the prober's progress */
  int rc[16];            /* the prober's codes */
  int holder_rc[8];      /* the holder's codes */
  atomic_long done;
  int deq_at_end;        /* the holder DEQs before ending */
  int nest;              /* times the holder ENQs */
} hold_ctx;

static hold_ctx g_hold;
static const char RES[] = "ACCOUNT1";
#define RES_LEN (sizeof RES - 1)

/* ENQs RES nest times, says so, waits for release, maybe DEQs, ends. */
static void holder(weft_task *t) {
  hold_ctx *c = TH_CTX(t, hold_ctx);
  for (int i = 0; i < c->nest; i++)
    c->holder_rc[i] = weft_enq(t, RES, RES_LEN, 0);
  atomic_store(&c->held, 1);
  weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  if (c->deq_at_end)
    for (int i = 0; i < c->nest; i++)
      weft_deq(t, RES, RES_LEN);
  atomic_fetch_add(&c->done, 1);
}

/* Probes RES while the holder has it. */
static void prober(weft_task *t) {
  hold_ctx *c = TH_CTX(t, hold_ctx);
  char copy[16];
  memcpy(copy, RES, sizeof RES); /* same name, another buffer */
  c->rc[0] = weft_enq(t, copy, RES_LEN, 0);
  c->rc[1] = weft_enq(t, copy, RES_LEN, 50);
  c->rc[2] = weft_deq(t, copy, RES_LEN); /* held by the other task */
  c->rc[3] = weft_enq(t, "ACCOUNT2", 8, 0); /* another resource */
  c->rc[4] = weft_deq(t, "ACCOUNT2", 8);
  c->rc[5] = weft_enq(t, copy, RES_LEN - 1, 0); /* a prefix is another name */
  c->rc[6] = weft_deq(t, copy, RES_LEN - 1);
  atomic_store(&c->step, 1);
  c->rc[7] = weft_enq(t, copy, RES_LEN, WEFT_WAIT_FOREVER); /* waits for the holder */
  c->rc[8] = weft_deq(t, copy, RES_LEN);
  atomic_fetch_add(&c->done, 1);
}

static weft_region *hold_region(void) {
  weft_region *r = th_region(2, 16);
  cr_assert_eq(weft_event_create(&g_hold.release), 0);
  th_define(r, "HOLDER", holder, 1);
  th_define(r, "PROBER", prober, 1);
  if (g_hold.nest == 0)
    g_hold.nest = 1;
  return r;
}

static void expect_rc(int i, int got, int want) {
  cr_assert_eq(got, want, "call %d returned %s, expected %s", i, weft_err_name(got),
               weft_err_name(want));
}

/* A region where HOLDER holds the ENQ and PROBER has made its first try
 * (step 1) while it is held. */
static weft_region *hold_and_probe(void) {
  weft_region *r = hold_region();
  th_start(r, "HOLDER", &g_hold, 0);
  th_wait_until(atomic_load(&g_hold.held));
  th_start(r, "PROBER", &g_hold, 0);
  th_wait_until(atomic_load(&g_hold.step) == 1);
  return r;
}

/* The prober's codes 0..6, taken while the holder has RES. */
static void expect_probe_while_held(void) {
  expect_rc(0, g_hold.rc[0], WEFT_EBUSY);
  expect_rc(1, g_hold.rc[1], WEFT_ETIMEDOUT);
  expect_rc(2, g_hold.rc[2], WEFT_ENOTFOUND);
  expect_rc(3, g_hold.rc[3], 0);
  expect_rc(4, g_hold.rc[4], 0);
  expect_rc(5, g_hold.rc[5], 0);
  expect_rc(6, g_hold.rc[6], 0);
}

Test(enq, busy_timeout_and_wait_while_held) {
  g_hold.deq_at_end = 1;
  weft_region *r = hold_and_probe();
  cr_assert_eq(atomic_load(&g_hold.done), 0, "the prober got a held ENQ");
  cr_assert_eq(weft_event_post(g_hold.release), 0);
  th_wait_count(&g_hold.done, 2);
  th_finish(r);
  expect_rc(100, g_hold.holder_rc[0], 0);
  expect_probe_while_held();
  expect_rc(7, g_hold.rc[7], 0);
  expect_rc(8, g_hold.rc[8], 0);
  weft_event_destroy(g_hold.release);
}

/* A task that ends holding an ENQ (never DEQs) lets the waiter proceed. */
Test(enq, released_when_the_holder_ends) {
  g_hold.deq_at_end = 0;
  weft_region *r = hold_and_probe();
  cr_assert_eq(weft_event_post(g_hold.release), 0);
  th_wait_count(&g_hold.done, 2);
  th_finish(r);
  expect_probe_while_held();
  expect_rc(7, g_hold.rc[7], 0);
  expect_rc(8, g_hold.rc[8], 0);
  weft_event_destroy(g_hold.release);
}

/* Nested twice, the holder ends without DEQ: both levels are released. */
Test(enq, nested_enqs_released_when_the_holder_ends) {
  g_hold.deq_at_end = 0;
  g_hold.nest = 2;
  weft_region *r = hold_and_probe();
  cr_assert_eq(weft_event_post(g_hold.release), 0);
  th_wait_count(&g_hold.done, 2);
  th_finish(r);
  expect_rc(100, g_hold.holder_rc[0], 0);
  expect_rc(101, g_hold.holder_rc[1], 0);
  expect_probe_while_held();
  expect_rc(7, g_hold.rc[7], 0);
  weft_event_destroy(g_hold.release);
}

/* ------------------------------------------------------------------------ */
/* Released by an abend                                                      */
/* ------------------------------------------------------------------------ */

static void enq_and_abend(weft_task *t) {
  hold_ctx *c = TH_CTX(t, hold_ctx);
  c->holder_rc[0] = weft_enq(t, RES, RES_LEN, 0);
  c->holder_rc[1] = weft_enq(t, RES, RES_LEN, 0);
  atomic_store(&c->held, 1);
  weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  weft_abend(t, "U001");
}

Test(enq, released_when_the_holder_abends) {
  weft_region *r = hold_region();
  th_define(r, "ABENDER", enq_and_abend, 1);
  th_start(r, "ABENDER", &g_hold, 0);
  th_wait_until(atomic_load(&g_hold.held));
  th_start(r, "PROBER", &g_hold, 0);
  th_wait_until(atomic_load(&g_hold.step) == 1);
  cr_assert_eq(weft_event_post(g_hold.release), 0);
  th_wait_count(&g_hold.done, 1);
  weft_region_stats fin = th_finish(r);
  expect_probe_while_held();
  expect_rc(7, g_hold.rc[7], 0);
  expect_rc(8, g_hold.rc[8], 0);
  cr_assert_eq(fin.tasks_abended, 1);
  weft_event_destroy(g_hold.release);
}

/* ------------------------------------------------------------------------ */
/* Nesting within one task, DEQ errors, address resources, bad input         */
/* ------------------------------------------------------------------------ */

typedef struct nest_ctx {
  int rc[16];
  atomic_int probe_rc;   /* what the last probe task got */
  atomic_int probes;     /* probes that ran */
  atomic_long done;
} nest_ctx;

static nest_ctx g_nest;

/* Tries RES without waiting and records the code. */
static void probe_once(weft_task *t) {
  nest_ctx *c = TH_CTX(t, nest_ctx);
  int rc = weft_enq(t, RES, RES_LEN, 0);
  if (rc == 0)
    weft_deq(t, RES, RES_LEN);
  atomic_store(&c->probe_rc, rc);
  atomic_fetch_add(&c->probes, 1);
}

/* Starts a probe task and waits (suspending) until it has run. */
static int probe_from(weft_task *t, nest_ctx *c) {
  int before = atomic_load(&c->probes);
  th_arg a = {c, 0};
  if (weft_start(weft_task_region(t), "PROBE", &a, sizeof a, NULL, NULL) != 0)
    return 1000;
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (atomic_load(&c->probes) == before && GetTickCount64() < end)
    weft_delay(t, 1);
  if (atomic_load(&c->probes) == before)
    return 2000; /* the probe never ran */
  return atomic_load(&c->probe_rc);
}

static void nester(weft_task *t) {
  nest_ctx *c = TH_CTX(t, nest_ctx);
  c->rc[0] = weft_deq(t, RES, RES_LEN);       /* never held */
  c->rc[1] = weft_enq(t, RES, RES_LEN, 0);
  c->rc[2] = weft_enq(t, RES, RES_LEN, 0);     /* nested: no deadlock with itself */
  c->rc[3] = weft_enq(t, RES, RES_LEN, 50);
  c->rc[4] = weft_deq(t, RES, RES_LEN);
  c->rc[5] = probe_from(t, c);                 /* still held twice */
  c->rc[6] = weft_deq(t, RES, RES_LEN);
  c->rc[7] = probe_from(t, c);                 /* still held once */
  c->rc[8] = weft_deq(t, RES, RES_LEN);
  c->rc[9] = probe_from(t, c);                 /* free */
  c->rc[10] = weft_deq(t, RES, RES_LEN);       /* one DEQ too many */
  atomic_fetch_add(&c->done, 1);
}

Test(enq, nested_enq_needs_matching_deqs) {
  weft_region *r = th_region(2, 16);
  th_define(r, "NESTER", nester, 1);
  th_define(r, "PROBE", probe_once, 1);
  th_start(r, "NESTER", &g_nest, 0);
  th_wait_count(&g_nest.done, 1);
  th_finish(r);
  static const int want[11] = {WEFT_ENOTFOUND, 0, 0, 0, 0, WEFT_EBUSY, 0, WEFT_EBUSY, 0, 0,
                               WEFT_ENOTFOUND};
  for (int i = 0; i < 11; i++)
    expect_rc(i, g_nest.rc[i], want[i]);
}

/* With len 0 the resource is the address itself. */
static int g_addr_a, g_addr_b;

static void addr_holder(weft_task *t) {
  hold_ctx *c = TH_CTX(t, hold_ctx);
  c->holder_rc[0] = weft_enq(t, &g_addr_a, 0, 0);
  atomic_store(&c->held, 1);
  weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->done, 1);
}

static void addr_prober(weft_task *t) {
  hold_ctx *c = TH_CTX(t, hold_ctx);
  c->rc[0] = weft_enq(t, &g_addr_a, 0, 0);
  c->rc[1] = weft_enq(t, &g_addr_b, 0, 0);
  c->rc[2] = weft_deq(t, &g_addr_b, 0);
  c->rc[3] = weft_deq(t, &g_addr_a, 0);
  atomic_store(&c->step, 1);
  c->rc[4] = weft_enq(t, &g_addr_a, 0, WEFT_WAIT_FOREVER);
  c->rc[5] = weft_deq(t, &g_addr_a, 0);
  atomic_fetch_add(&c->done, 1);
}

Test(enq, address_resources) {
  weft_region *r = hold_region();
  th_define(r, "AHOLD", addr_holder, 1);
  th_define(r, "APROBE", addr_prober, 1);
  th_start(r, "AHOLD", &g_hold, 0);
  th_wait_until(atomic_load(&g_hold.held));
  th_start(r, "APROBE", &g_hold, 0);
  th_wait_until(atomic_load(&g_hold.step) == 1);
  cr_assert_eq(weft_event_post(g_hold.release), 0);
  th_wait_count(&g_hold.done, 2);
  th_finish(r);
  expect_rc(100, g_hold.holder_rc[0], 0);
  static const int want[6] = {WEFT_EBUSY, 0, 0, WEFT_ENOTFOUND, 0, 0};
  for (int i = 0; i < 6; i++)
    expect_rc(i, g_hold.rc[i], want[i]);
  weft_event_destroy(g_hold.release);
}

/* Bad input from a task. */
static void enq_bad_input(weft_task *t) {
  nest_ctx *c = TH_CTX(t, nest_ctx);
  char big[256];
  memset(big, 'x', sizeof big);
  c->rc[0] = weft_enq(t, NULL, 4, 0);
  c->rc[1] = weft_enq(t, NULL, 0, 0);
  c->rc[2] = weft_deq(t, NULL, 4);
  c->rc[3] = weft_enq(t, big, 256, 0);   /* longer than 255 */
  c->rc[4] = weft_enq(t, big, 255, 0);   /* the longest name */
  c->rc[5] = weft_deq(t, big, 255);
  c->rc[6] = weft_enq(NULL, big, 1, 0);
  atomic_fetch_add(&c->done, 1);
}

Test(enq, bad_input) {
  weft_region *r = th_region(1, 16);
  th_define(r, "BADENQ", enq_bad_input, 1);
  th_start(r, "BADENQ", &g_nest, 0);
  th_wait_count(&g_nest.done, 1);
  th_finish(r);
  expect_rc(0, g_nest.rc[0], WEFT_EINVAL);
  expect_rc(1, g_nest.rc[1], WEFT_EINVAL);
  expect_rc(2, g_nest.rc[2], WEFT_EINVAL);
  expect_rc(3, g_nest.rc[3], WEFT_ERANGE);
  expect_rc(4, g_nest.rc[4], 0);
  expect_rc(5, g_nest.rc[5], 0);
  expect_rc(6, g_nest.rc[6], WEFT_EINVAL); /* a NULL task */
}

/* Many tasks wait FOREVER on one resource held briefly by each in turn,
 * on two workers: every waiter gets it once and in the end it is free. */
typedef struct queue_ctx {
  atomic_int inside;     /* holders now (must never pass 1) */
  atomic_int overlap;    /* times two were inside */
  atomic_long done;
  atomic_long errors;
} queue_ctx;

static queue_ctx g_queue;

static void take_turn(weft_task *t) {
  queue_ctx *c = TH_CTX(t, queue_ctx);
  if (weft_enq(t, "TURN", 4, WEFT_WAIT_FOREVER) != 0) {
    atomic_fetch_add(&c->errors, 1);
    return;
  }
  if (atomic_fetch_add(&c->inside, 1) != 0)
    atomic_fetch_add(&c->overlap, 1);
  weft_delay(t, 1);
  atomic_fetch_sub(&c->inside, 1);
  if (weft_deq(t, "TURN", 4) != 0)
    atomic_fetch_add(&c->errors, 1);
  atomic_fetch_add(&c->done, 1);
}

Test(enq, many_waiters_take_turns) {
  enum { N = 60 };
  weft_region *r = th_region(2, 128);
  th_define(r, "TURN", take_turn, 1);
  for (int i = 0; i < N; i++)
    th_start(r, "TURN", &g_queue, i);
  th_wait_count(&g_queue.done, N);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_queue.errors), 0);
  cr_assert_eq(atomic_load(&g_queue.overlap), 0);
}
