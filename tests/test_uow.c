/* test_uow.c - units of work: syncpoint and rollback, UOW ids, ENQs with a
 * UOW lifetime, resource managers (two-phase commit, the one-phase
 * optimisation, a "no" vote, backout at abend), XCTL, RETURN, and
 * enabling or disabling programs and transactions. No data_dir. */
#include "helpers.h"

TestSuite(uow, .timeout = TH_TEST_TIMEOUT);

#define UFILE "UF"

typedef struct uow_ctx {
  int rc[64];
  uint64_t uow[16];
  uint64_t task_no[16];
  char got[16][64];
  size_t len[16];
  weft_event *ev1, *ev2;
  atomic_int held;
  atomic_int tried;
  atomic_int got_it;
  atomic_int holder_ending;
  atomic_int saw_holder_ending;
  atomic_long ran;      /* program bodies that ran */
  atomic_long after;    /* code that must never run */
  atomic_long linked_back;
  th_abends log;
  th_handler h[4];
} uow_ctx;

static uow_ctx g;

static th_records g_rec;

/* The abend code of task no ("" if it ended normally); waits for it. */
static const char *abcode_of(uint64_t no) {
  return th_abcode_of(&g_rec, no);
}

static void expect_rc(int i, int got, int want) {
  cr_assert_eq(got, want, "call %d returned %s, expected %s", i, weft_err_name(got),
               weft_err_name(want));
}

/* One worker unless told: records on, the file defined. */
static weft_region *uow_region(unsigned workers) {
  weft_region_config cfg = th_config(workers, 64);
  cfg.task_record_fn = th_on_record;
  cfg.record_ctx = &g_rec;
  weft_region *r = th_region_cfg(&cfg);
  weft_file_def d = {UFILE, 8, 32};
  cr_assert_eq(weft_file_define(r, &d), 0);
  for (int i = 0; i < 4; i++)
    g.h[i] = (th_handler){&g.log, i};
  return r;
}

/* Start tranid and wait for its record; returns its task number. */
static uint64_t run(weft_region *r, const char *tranid, long idx) {
  uint64_t no = th_start(r, tranid, &g, idx);
  abcode_of(no);
  return no;
}

static int put(weft_task *t, const char *key, const char *data) {
  return weft_file_write(t, UFILE, key, strlen(key), data, strlen(data));
}
static int get(weft_task *t, const char *key, char out[64]) {
  size_t len = 0;
  int rc = weft_file_read(t, UFILE, key, strlen(key), out, 63, &len, 0);
  out[rc == 0 && len < 64 ? len : 0] = 0;
  return rc;
}

/* Reads key K into got[idx] (the check transaction). */
static void peek_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  uow_ctx *c = a.ctx;
  c->rc[40 + a.idx] = get(t, "K", c->got[a.idx]);
}

/* ------------------------------------------------------------------------ */
/* Syncpoint, rollback, UOW ids                                              */
/* ------------------------------------------------------------------------ */

static void basics_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->uow[0] = weft_task_uow(t);
  c->rc[0] = put(t, "K", "one");
  c->uow[1] = weft_task_uow(t);
  c->rc[1] = weft_syncpoint(t);
  c->uow[2] = weft_task_uow(t);
  c->rc[2] = put(t, "K2", "two");
  c->uow[3] = weft_task_uow(t);
  c->rc[3] = weft_rollback(t);
  c->uow[4] = weft_task_uow(t);
  c->rc[4] = weft_syncpoint(t); /* nothing to commit */
  c->rc[5] = weft_rollback(t);  /* nothing to back out */
  c->rc[6] = get(t, "K", c->got[6]);
  c->rc[7] = get(t, "K2", c->got[7]);
  c->rc[8] = weft_enq_ex(t, "R", 1, 0, 7); /* no such lifetime */
  c->task_no[0] = weft_task_number(t);
}

static void other_uow_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->uow[5] = weft_task_uow(t);
}

Test(uow, syncpoint_rollback_and_uow_ids) {
  weft_region *r = uow_region(2);
  th_define(r, "BASIC", basics_task, 1);
  th_define(r, "OTHER", other_uow_task, 1);
  run(r, "BASIC", 0);
  run(r, "OTHER", 0);
  for (int i = 0; i < 7; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(g.got[6], "one");
  expect_rc(7, g.rc[7], WEFT_ENOTFOUND);
  cr_assert_eq(g.rc[8], WEFT_EINVAL, "lifetime 7: %s", weft_err_name(g.rc[8]));
  cr_assert_neq(g.uow[0], 0, "no UOW id in a task");
  cr_assert_eq(g.uow[1], g.uow[0], "a change started another UOW");
  cr_assert_neq(g.uow[2], g.uow[1], "the syncpoint did not start a new UOW");
  cr_assert_eq(g.uow[3], g.uow[2]);
  cr_assert(g.uow[4] != g.uow[3] && g.uow[4] != 0, "the rollback did not start a new UOW");
  cr_assert_neq(g.uow[5], 0);
  cr_assert(g.uow[5] != g.uow[0] && g.uow[5] != g.uow[2], "another task reused a UOW id");
  /* Not from a host thread. */
  cr_assert_eq(weft_task_uow(NULL), 0);
  int rc = weft_syncpoint(NULL);
  cr_assert_eq(rc, WEFT_EINVAL, "syncpoint(NULL): %s", weft_err_name(rc));
  rc = weft_rollback(NULL);
  cr_assert_eq(rc, WEFT_EINVAL, "rollback(NULL): %s", weft_err_name(rc));
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* ENQ lifetimes                                                             */
/* ------------------------------------------------------------------------ */

static const char ERES[] = "UOWRES";
#define ERES_LEN (sizeof ERES - 1)

/* idx 0: UOW ENQ (twice), released by a syncpoint; 1: by a rollback;
 * 2: a TASK ENQ, which a syncpoint leaves held. */
static void enq_holder(weft_task *t) {
  th_arg a = th_arg_of(t);
  uow_ctx *c = a.ctx;
  int life = a.idx == 2 ? WEFT_ENQ_TASK : WEFT_ENQ_UOW;
  c->rc[0] = weft_enq_ex(t, ERES, ERES_LEN, 0, life);
  c->rc[1] = weft_enq_ex(t, ERES, ERES_LEN, 0, life);
  c->rc[2] = put(t, "K", "held"); /* something in the UOW */
  atomic_store(&c->held, 1);
  c->rc[3] = weft_event_wait(t, c->ev1, WEFT_WAIT_FOREVER);
  c->rc[4] = a.idx == 1 ? weft_rollback(t) : weft_syncpoint(t);
  atomic_store(&c->held, 2);
  c->rc[5] = weft_event_wait(t, c->ev2, WEFT_WAIT_FOREVER);
  c->rc[6] = weft_deq(t, ERES, ERES_LEN);
  atomic_store(&c->holder_ending, 1);
}

static void enq_waiter(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->rc[10] = weft_enq(t, ERES, ERES_LEN, 0);
  atomic_store(&c->tried, 1);
  c->rc[11] = weft_enq(t, ERES, ERES_LEN, WEFT_WAIT_FOREVER);
  atomic_store(&c->saw_holder_ending, atomic_load(&c->holder_ending));
  atomic_store(&c->got_it, 1);
  c->rc[12] = weft_deq(t, ERES, ERES_LEN);
}

static weft_region *enq_region(void) {
  weft_region *r = uow_region(2);
  cr_assert_eq(weft_event_create(&g.ev1), 0);
  cr_assert_eq(weft_event_create(&g.ev2), 0);
  th_define(r, "HOLD", enq_holder, 1);
  th_define(r, "WAIT", enq_waiter, 1);
  return r;
}

static void enq_uow_case(long how) {
  weft_region *r = enq_region();
  th_start(r, "HOLD", &g, how);
  th_wait_until(atomic_load(&g.held) == 1);
  th_start(r, "WAIT", &g, 0);
  th_wait_until(atomic_load(&g.tried));
  cr_assert_eq(weft_event_post(g.ev1), 0);
  th_wait_until(atomic_load(&g.got_it)); /* while the holder still lives */
  cr_assert_eq(weft_event_post(g.ev2), 0);
  th_wait_ended(r, 2);
  th_finish(r);
  weft_event_destroy(g.ev1);
  weft_event_destroy(g.ev2);
  for (int i = 0; i < 6; i++)
    expect_rc(i, g.rc[i], 0);
  expect_rc(6, g.rc[6], WEFT_ENOTFOUND); /* nothing left to DEQ */
  expect_rc(10, g.rc[10], WEFT_EBUSY);
  expect_rc(11, g.rc[11], 0);
  expect_rc(12, g.rc[12], 0);
  cr_assert_eq(atomic_load(&g.saw_holder_ending), 0, "the ENQ was released only at task end");
}

Test(uow, enq_uow_released_at_syncpoint) {
  enq_uow_case(0);
}

Test(uow, enq_uow_released_at_rollback) {
  enq_uow_case(1);
}

/* A TASK ENQ outlives the syncpoint: the waiter gets it only at the DEQs. */
static void task_enq_holder(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->rc[0] = weft_enq_ex(t, ERES, ERES_LEN, 0, WEFT_ENQ_TASK);
  c->rc[1] = put(t, "K", "held");
  c->rc[2] = weft_syncpoint(t);
  c->rc[3] = weft_rollback(t);
  atomic_store(&c->held, 1);
  c->rc[4] = weft_event_wait(t, c->ev1, WEFT_WAIT_FOREVER);
  atomic_store(&c->holder_ending, 1);
  c->rc[5] = weft_deq(t, ERES, ERES_LEN);
}

Test(uow, enq_task_lifetime_survives_syncpoint) {
  weft_region *r = enq_region();
  th_define(r, "THOLD", task_enq_holder, 1);
  th_start(r, "THOLD", &g, 0);
  th_wait_until(atomic_load(&g.held) == 1);
  th_start(r, "WAIT", &g, 0);
  th_wait_until(atomic_load(&g.tried));
  cr_assert_eq(weft_event_post(g.ev1), 0);
  th_wait_ended(r, 2);
  th_finish(r);
  weft_event_destroy(g.ev1);
  weft_event_destroy(g.ev2);
  for (int i = 0; i < 6; i++)
    expect_rc(i, g.rc[i], 0);
  expect_rc(10, g.rc[10], WEFT_EBUSY);
  expect_rc(11, g.rc[11], 0);
  cr_assert_eq(atomic_load(&g.saw_holder_ending), 1, "the waiter got a TASK ENQ early");
}

/* ------------------------------------------------------------------------ */
/* Resource managers                                                         */
/* ------------------------------------------------------------------------ */

#define MAX_RM_EVENTS 64

/* Every callback, in order: "A.p" prepare, "A.c" commit, "A.r" rollback,
 * "A.1" one-phase commit; with the UOW and task it was given. */
typedef struct rm_log {
  atomic_int n;
  char ev[MAX_RM_EVENTS][8];
  uint64_t uow[MAX_RM_EVENTS];
  uint64_t task_no[MAX_RM_EVENTS];
  atomic_int recovers;
} rm_log;

static rm_log g_rm;

typedef struct rm_ctx {
  char tag;            /* the letter in the log */
  int vote;            /* prepare's return */
  int one_phase_rc;    /* commit_one_phase's return */
} rm_ctx;

static rm_ctx g_rma = {'A', 0, 0}, g_rmb = {'B', 0, 0};

static void rm_push(rm_ctx *rm, char what, weft_task *t, uint64_t uow) {
  int i = atomic_fetch_add(&g_rm.n, 1);
  if (i >= MAX_RM_EVENTS)
    return;
  g_rm.ev[i][0] = rm->tag;
  g_rm.ev[i][1] = '.';
  g_rm.ev[i][2] = what;
  g_rm.ev[i][3] = 0;
  g_rm.uow[i] = uow;
  g_rm.task_no[i] = weft_task_number(t);
}

static int rm_prepare(void *ctx, weft_task *t, uint64_t uow) {
  rm_push(ctx, 'p', t, uow);
  return ((rm_ctx *)ctx)->vote;
}
static void rm_commit(void *ctx, weft_task *t, uint64_t uow) {
  rm_push(ctx, 'c', t, uow);
}
static void rm_rollback(void *ctx, weft_task *t, uint64_t uow) {
  rm_push(ctx, 'r', t, uow);
}
static int rm_one_phase(void *ctx, weft_task *t, uint64_t uow) {
  rm_push(ctx, '1', t, uow);
  return ((rm_ctx *)ctx)->one_phase_rc;
}
static void rm_recover(void *ctx, uint64_t uow) {
  atomic_fetch_add(&g_rm.recovers, 1);
}

static const weft_rm_ops g_ops_1pc = {rm_prepare, rm_commit, rm_rollback, rm_one_phase,
                                      rm_recover};
static const weft_rm_ops g_ops_2pc = {rm_prepare, rm_commit, rm_rollback, NULL, NULL};

static weft_rm *g_a, *g_b;

static weft_region *rm_region(const weft_rm_ops *ops_a, const weft_rm_ops *ops_b) {
  weft_region *r = uow_region(2);
  int rc = weft_rm_register(r, "RMA", ops_a, &g_rma, &g_a);
  cr_assert_eq(rc, 0, "weft_rm_register(RMA): %s", weft_err_name(rc));
  cr_assert_not_null(g_a);
  rc = weft_rm_register(r, "RMB", ops_b, &g_rmb, &g_b);
  cr_assert_eq(rc, 0, "weft_rm_register(RMB): %s", weft_err_name(rc));
  cr_assert_not_null(g_b);
  cr_assert_eq(atomic_load(&g_rm.recovers), 0, "recover called without a log");
  return r;
}

/* The events as one string: "A.p B.p A.c B.c ". */
static const char *rm_events(void) {
  static char s[MAX_RM_EVENTS * 4 + 1];
  s[0] = 0;
  int n = atomic_load(&g_rm.n);
  for (int i = 0; i < n && i < MAX_RM_EVENTS; i++) {
    strcat(s, g_rm.ev[i]);
    strcat(s, " ");
  }
  return s;
}

static int rm_count(char tag, char what) {
  int n = 0;
  for (int i = 0; i < atomic_load(&g_rm.n) && i < MAX_RM_EVENTS; i++)
    if (g_rm.ev[i][0] == tag && g_rm.ev[i][2] == what)
      n++;
  return n;
}

/* Every event was for this UOW and task. */
static void expect_rm_events_for(uint64_t uow, uint64_t task_no) {
  for (int i = 0; i < atomic_load(&g_rm.n) && i < MAX_RM_EVENTS; i++) {
    cr_assert_eq(g_rm.uow[i], uow, "event %d (%s) for UOW %llu, not %llu", i, g_rm.ev[i],
                 (unsigned long long)g_rm.uow[i], (unsigned long long)uow);
    cr_assert_eq(g_rm.task_no[i], task_no, "event %d (%s) on task %llu", i, g_rm.ev[i],
                 (unsigned long long)g_rm.task_no[i]);
  }
}

/* idx bits: 1 enlist A, 2 enlist B, 4 write a file record, 8 abend before
 * the syncpoint, 16 roll back instead. Then syncpoint, and a second, empty
 * syncpoint. */
static void rm_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  uow_ctx *c = a.ctx;
  c->task_no[0] = weft_task_number(t);
  c->uow[0] = weft_task_uow(t);
  if (a.idx & 1) {
    c->rc[0] = weft_rm_enlist(t, g_a);
    c->rc[1] = weft_rm_enlist(t, g_a); /* again: no effect */
  }
  if (a.idx & 2)
    c->rc[2] = weft_rm_enlist(t, g_b);
  if (a.idx & 4)
    c->rc[3] = put(t, "K", "v");
  c->uow[1] = weft_task_uow(t);
  if (a.idx & 8)
    weft_abend(t, "URM1");
  c->rc[4] = (a.idx & 16) ? weft_rollback(t) : weft_syncpoint(t);
  c->rc[5] = atomic_load(&g_rm.n);
  c->rc[6] = get(t, "K", c->got[6]);
  c->rc[7] = weft_syncpoint(t);
  c->rc[8] = atomic_load(&g_rm.n);
}

/* Check what rm_task saw for a successful syncpoint. */
static void expect_rm_task_ok(long idx) {
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], 0);
  expect_rc(2, g.rc[2], 0);
  expect_rc(3, g.rc[3], 0);
  expect_rc(4, g.rc[4], 0);
  expect_rc(7, g.rc[7], 0);
  cr_assert_eq(g.rc[8], g.rc[5], "the next (empty) UOW called the RMs: %s", rm_events());
  expect_rm_events_for(g.uow[1], g.task_no[0]);
  if (idx & 4) {
    expect_rc(6, g.rc[6], 0);
    cr_assert_str_eq(g.got[6], "v");
  }
}

/* Two RMs: both prepared before either commits; no one-phase commit. */
Test(uow, two_phase_commit_prepares_all_before_any_commit) {
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMT", rm_task, 1);
  run(r, "RMT", 1 | 2);
  expect_rm_task_ok(1 | 2);
  const char *ev = rm_events();
  cr_assert_eq(atomic_load(&g_rm.n), 4, "events: %s", ev);
  cr_assert(strcmp(ev, "A.p B.p A.c B.c ") == 0 || strcmp(ev, "A.p B.p B.c A.c ") == 0 ||
                strcmp(ev, "B.p A.p A.c B.c ") == 0 || strcmp(ev, "B.p A.p B.c A.c ") == 0,
            "events: %s", ev);
  th_finish(r);
}

/* One RM plus a change to a Weft file: two-phase too. */
Test(uow, rm_with_a_file_change_uses_two_phases) {
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMT", rm_task, 1);
  th_define(r, "PEEK", peek_task, 1);
  run(r, "RMT", 1 | 4);
  expect_rm_task_ok(1 | 4);
  cr_assert_str_eq(rm_events(), "A.p A.c ");
  run(r, "PEEK", 0);
  expect_rc(40, g.rc[40], 0);
  cr_assert_str_eq(g.got[0], "v");
  th_finish(r);
}

/* The only participant: one-phase commit. */
Test(uow, single_rm_gets_one_phase_commit) {
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMT", rm_task, 1);
  run(r, "RMT", 1);
  expect_rm_task_ok(1);
  cr_assert_str_eq(rm_events(), "A.1 ");
  th_finish(r);
}

/* Without commit_one_phase: prepare, then commit. */
Test(uow, single_rm_without_one_phase_gets_prepare_and_commit) {
  weft_region *r = rm_region(&g_ops_2pc, &g_ops_2pc);
  th_define(r, "RMT", rm_task, 1);
  run(r, "RMT", 2);
  expect_rm_task_ok(2);
  cr_assert_str_eq(rm_events(), "B.p B.c ");
  th_finish(r);
}

static void rm_end_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->task_no[0] = weft_task_number(t);
  c->rc[0] = weft_rm_enlist(t, g_a);
  c->uow[0] = weft_task_uow(t);
}

/* A normal end is a syncpoint. */
Test(uow, task_end_commits_the_rm) {
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMEND", rm_end_task, 1);
  run(r, "RMEND", 0);
  expect_rc(0, g.rc[0], 0);
  cr_assert_str_eq(rm_events(), "A.1 ");
  expect_rm_events_for(g.uow[0], g.task_no[0]);
  th_finish(r);
}

/* B votes no: the syncpoint fails with EROLLEDBACK, the file write is
 * backed out, A is rolled back and nobody commits. */
Test(uow, no_vote_rolls_everything_back) {
  g_rmb.vote = 1;
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMT", rm_task, 1);
  th_define(r, "PEEK", peek_task, 1);
  run(r, "RMT", 1 | 2 | 4);
  const char *ev = rm_events();
  expect_rc(4, g.rc[4], WEFT_EROLLEDBACK);
  expect_rc(6, g.rc[6], WEFT_ENOTFOUND);
  expect_rc(7, g.rc[7], 0);
  cr_assert_eq(g.rc[8], g.rc[5], "the next UOW called the RMs: %s", ev);
  cr_assert_eq(rm_count('A', 'c') + rm_count('B', 'c'), 0, "a commit after a no vote: %s", ev);
  cr_assert_eq(rm_count('A', '1') + rm_count('B', '1'), 0, "events: %s", ev);
  cr_assert_eq(rm_count('B', 'p'), 1, "events: %s", ev);
  cr_assert_eq(rm_count('A', 'r'), 1, "A was not rolled back: %s", ev);
  cr_assert_leq(rm_count('B', 'r'), 1, "events: %s", ev);
  expect_rm_events_for(g.uow[1], g.task_no[0]);
  run(r, "PEEK", 0);
  expect_rc(40, g.rc[40], WEFT_ENOTFOUND);
  th_finish(r);
}

/* The only participant's one-phase commit fails: EROLLEDBACK. */
Test(uow, failed_one_phase_commit_is_rolledback) {
  g_rma.one_phase_rc = 1;
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMT", rm_task, 1);
  run(r, "RMT", 1);
  expect_rc(4, g.rc[4], WEFT_EROLLEDBACK);
  cr_assert_eq(rm_count('A', '1'), 1, "events: %s", rm_events());
  cr_assert_eq(rm_count('A', 'c'), 0, "events: %s", rm_events());
  expect_rc(7, g.rc[7], 0);
  th_finish(r);
}

Test(uow, abend_rolls_the_rms_back) {
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_2pc);
  th_define(r, "RMT", rm_task, 1);
  th_define(r, "PEEK", peek_task, 1);
  uint64_t no = run(r, "RMT", 1 | 2 | 4 | 8);
  cr_assert_str_eq(abcode_of(no), "URM1");
  const char *ev = rm_events();
  cr_assert_eq(atomic_load(&g_rm.n), 2, "events: %s", ev);
  cr_assert_eq(rm_count('A', 'r'), 1, "events: %s", ev);
  cr_assert_eq(rm_count('B', 'r'), 1, "events: %s", ev);
  expect_rm_events_for(g.uow[1], g.task_no[0]);
  run(r, "PEEK", 0);
  expect_rc(40, g.rc[40], WEFT_ENOTFOUND);
  th_finish(r);
}

Test(uow, rollback_rolls_the_rm_back) {
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_2pc);
  th_define(r, "RMT", rm_task, 1);
  run(r, "RMT", 1 | 4 | 16);
  expect_rc(4, g.rc[4], 0);
  cr_assert_str_eq(rm_events(), "A.r ");
  expect_rc(6, g.rc[6], WEFT_ENOTFOUND);
  expect_rc(7, g.rc[7], 0);
  cr_assert_eq(g.rc[8], g.rc[5]);
  expect_rm_events_for(g.uow[1], g.task_no[0]);
  th_finish(r);
}

/* The implicit syncpoint at a normal end (or at weft_return) fails when
 * an RM votes no: the task abends ASP1 and its changes are backed out; a
 * RETURN's next transaction is not started. */
static void next_task(weft_task *t); /* RETURN's next transaction, below */

static void rm_end_vote_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  uow_ctx *c = a.ctx;
  c->rc[0] = weft_rm_enlist(t, g_a);
  c->rc[1] = weft_rm_enlist(t, g_b);
  c->rc[2] = put(t, "K", "lost");
  if (a.idx == 1)
    c->rc[3] = weft_return(t, "NEXT", "hello", 5);
}

static void end_vote_case(long idx) {
  g_rmb.vote = 1;
  weft_region *r = rm_region(&g_ops_1pc, &g_ops_1pc);
  th_define(r, "RMV", rm_end_vote_task, 1);
  th_define(r, "PEEK", peek_task, 1);
  th_define(r, "NEXT", next_task, 1);
  uint64_t no = run(r, "RMV", idx);
  cr_assert_str_eq(abcode_of(no), "ASP1");
  for (int i = 0; i < 3; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_eq(rm_count('A', 'c') + rm_count('B', 'c'), 0, "events: %s", rm_events());
  cr_assert_eq(rm_count('A', 'r'), 1, "events: %s", rm_events());
  run(r, "PEEK", 0);
  expect_rc(40, g.rc[40], WEFT_ENOTFOUND);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(atomic_load(&g.ran), 0, "RETURN's next transaction ran after a failed commit");
  cr_assert_eq(s.tasks_abended, 1);
}

Test(uow, failed_implicit_syncpoint_abends_asp1) {
  end_vote_case(0);
}

Test(uow, failed_syncpoint_at_return_abends_asp1) {
  end_vote_case(1);
}

static void rm_register_from_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  weft_rm *rm = NULL;
  c->rc[0] = weft_rm_register(weft_task_region(t), "RMT", &g_ops_2pc, NULL, &rm);
  c->rc[1] = weft_rm_enlist(t, NULL);
}

Test(uow, rm_register_errors) {
  weft_region *r = uow_region(1);
  weft_rm *rm = NULL;
  expect_rc(0, weft_rm_register(r, "RM1", NULL, NULL, &rm), WEFT_EINVAL);
  int rc = weft_rm_register(r, NULL, &g_ops_2pc, NULL, &rm);
  cr_assert_eq(rc, WEFT_EINVAL, "NULL name: %s", weft_err_name(rc));
  expect_rc(1, weft_rm_register(r, "", &g_ops_2pc, NULL, &rm), WEFT_EBADNAME);
  expect_rc(2, weft_rm_register(r, "NINECHARS", &g_ops_2pc, NULL, &rm), WEFT_EBADNAME);
  expect_rc(3, weft_rm_register(r, "A B", &g_ops_2pc, NULL, &rm), WEFT_EBADNAME);
  expect_rc(4, weft_rm_register(r, "RM1", &g_ops_2pc, NULL, &rm), 0);
  cr_assert_not_null(rm);
  weft_rm *again = NULL;
  expect_rc(5, weft_rm_register(r, "RM1", &g_ops_1pc, NULL, &again), WEFT_EEXIST);
  expect_rc(6, weft_rm_register(r, "RM2", &g_ops_1pc, NULL, &again), 0);
  cr_assert_not_null(again);
  cr_assert_neq(again, rm);
  rc = weft_rm_enlist(NULL, rm);
  cr_assert_eq(rc, WEFT_EINVAL, "enlist with a NULL task: %s", weft_err_name(rc));
  th_define(r, "REG", rm_register_from_task, 1);
  run(r, "REG", 0);
  expect_rc(10, g.rc[0], WEFT_ESTATE);
  expect_rc(11, g.rc[1], WEFT_EINVAL);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* XCTL                                                                      */
/* ------------------------------------------------------------------------ */

static char g_ca[16] = "commarea-data";

/* XA: XCTL to XB with g_ca; never comes back. */
static void xa(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  atomic_fetch_add(&c->ran, 1);
  c->rc[0] = weft_xctl(t, "XB", g_ca, sizeof g_ca);
  atomic_fetch_add(&c->after, 1);
}

/* XB: records its commarea and changes its copy. */
static void xb(weft_task *t) {
  uow_ctx *c = &g;
  atomic_fetch_add(&c->ran, 10);
  void *ca = NULL;
  size_t len = 0;
  c->rc[1] = weft_commarea(t, &ca, &len);
  c->len[1] = len;
  if (ca != NULL && len <= sizeof c->got[1])
    memcpy(c->got[1], ca, len);
  c->rc[2] = ca == (void *)g_ca; /* 1: not a copy */
  if (ca != NULL && len > 0)
    ((char *)ca)[0] = 'Z';
}

Test(uow, xctl_never_returns_and_copies_the_commarea) {
  weft_region *r = uow_region(1);
  th_define(r, "XA", xa, 1);
  th_program(r, "XB", xb);
  uint64_t no = run(r, "XA", 0);
  cr_assert_str_eq(abcode_of(no), "");
  cr_assert_eq(atomic_load(&g.ran), 11, "ran %ld", atomic_load(&g.ran));
  cr_assert_eq(atomic_load(&g.after), 0, "the XCTL returned (%s)", weft_err_name(g.rc[0]));
  expect_rc(1, g.rc[1], 0);
  cr_assert_eq(g.len[1], sizeof g_ca);
  cr_assert_eq(memcmp(g.got[1], "commarea-data", 14), 0);
  cr_assert_eq(g.rc[2], 0, "XB was given the caller's buffer, not a copy");
  cr_assert_str_eq(g_ca, "commarea-data", "XB's change reached the caller's buffer");
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_completed, 1);
  cr_assert_eq(s.tasks_abended, 0);
}

/* LINKER links to MID, MID XCTLs to LEAF: when LEAF returns, LINKER goes on. */
static void linker(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  char ca[8] = "linkca";
  c->rc[10] = weft_link(t, "MID", ca, sizeof ca);
  atomic_fetch_add(&c->linked_back, 1);
  c->rc[11] = put(t, "K", "linker"); /* still the same task, still working */
}

static void mid(weft_task *t) {
  uow_ctx *c = &g;
  atomic_fetch_add(&c->ran, 1);
  c->rc[12] = weft_xctl(t, "LEAF", "leafca", 7);
  atomic_fetch_add(&c->after, 1);
}

static void leaf(weft_task *t) {
  uow_ctx *c = &g;
  atomic_fetch_add(&c->ran, 10);
  void *ca = NULL;
  size_t len = 0;
  c->rc[13] = weft_commarea(t, &ca, &len);
  c->len[13] = len;
  if (ca != NULL && len <= sizeof c->got[13])
    memcpy(c->got[13], ca, len);
}

Test(uow, link_returns_to_the_linker_after_the_xctled_program) {
  weft_region *r = uow_region(1);
  th_define(r, "LINKER", linker, 1);
  th_program(r, "MID", mid);
  th_program(r, "LEAF", leaf);
  uint64_t no = run(r, "LINKER", 0);
  cr_assert_str_eq(abcode_of(no), "");
  expect_rc(10, g.rc[10], 0);
  cr_assert_eq(atomic_load(&g.linked_back), 1);
  expect_rc(11, g.rc[11], 0);
  cr_assert_eq(atomic_load(&g.ran), 11);
  cr_assert_eq(atomic_load(&g.after), 0, "MID resumed after its XCTL");
  expect_rc(13, g.rc[13], 0);
  cr_assert_eq(g.len[13], 7);
  cr_assert_str_eq(g.got[13], "leafca");
  th_finish(r);
}

static void xctl_errors_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->rc[0] = weft_xctl(t, "NOPROG", NULL, 0);
  c->rc[1] = weft_xctl(t, "OFF", NULL, 0);
  c->rc[2] = weft_xctl(t, "LEAF", NULL, 4);
  c->rc[3] = weft_xctl(t, NULL, NULL, 0);
  atomic_fetch_add(&c->linked_back, 1); /* still here */
}

Test(uow, xctl_errors_return_to_the_caller) {
  weft_region *r = uow_region(1);
  th_define(r, "XERR", xctl_errors_task, 1);
  th_program(r, "OFF", leaf);
  th_program(r, "LEAF", leaf);
  cr_assert_eq(weft_program_set_enabled(r, "OFF", 0), 0);
  uint64_t no = run(r, "XERR", 0);
  cr_assert_str_eq(abcode_of(no), "");
  expect_rc(0, g.rc[0], WEFT_ENOPROG);
  expect_rc(1, g.rc[1], WEFT_EDISABLED);
  expect_rc(2, g.rc[2], WEFT_EINVAL);
  expect_rc(3, g.rc[3], WEFT_EINVAL);
  cr_assert_eq(atomic_load(&g.linked_back), 1);
  cr_assert_eq(atomic_load(&g.ran), 0, "a refused XCTL ran the program");
  th_finish(r);
}

/* The caller's abend handlers are dropped by the XCTL; the new program's
 * own handler runs. */
static void xctl_handler_a(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  weft_handle_abend(t, th_on_abend, &c->h[1]);
  c->rc[0] = weft_xctl(t, "XABEND", NULL, 0);
  atomic_fetch_add(&c->after, 1);
}

static void xctl_abender(weft_task *t) {
  uow_ctx *c = &g;
  weft_handle_abend(t, th_on_abend, &c->h[2]);
  weft_abend(t, "UXB1");
}

Test(uow, xctl_drops_the_callers_abend_handlers) {
  weft_region *r = uow_region(1);
  th_define(r, "XH", xctl_handler_a, 1);
  th_program(r, "XABEND", xctl_abender);
  uint64_t no = run(r, "XH", 0);
  cr_assert_str_eq(abcode_of(no), "UXB1");
  cr_assert_eq(atomic_load(&g.after), 0);
  cr_assert_eq(atomic_load(&g.log.n), 1, "%d handlers ran", atomic_load(&g.log.n));
  cr_assert_eq(g.log.tag[0], 2, "handler %d ran", g.log.tag[0]);
  cr_assert_str_eq(g.log.code[0], "UXB1");
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* RETURN                                                                    */
/* ------------------------------------------------------------------------ */

/* Writes K, RETURNs naming NEXT with "hello"; never comes back. */
static void ret_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->rc[0] = put(t, "K", "before-return");
  c->rc[1] = weft_return(t, "NEXT", "hello", 5);
  atomic_fetch_add(&c->after, 1);
}

/* NEXT: its start data, and the record the first task committed. */
static void next_task(weft_task *t) {
  uow_ctx *c = &g;
  const void *data = NULL;
  size_t len = 0;
  c->rc[2] = weft_retrieve(t, &data, &len);
  c->len[2] = len;
  if (data != NULL && len < sizeof c->got[2])
    memcpy(c->got[2], data, len);
  c->rc[3] = get(t, "K", c->got[3]);
  c->task_no[3] = weft_task_number(t);
  atomic_fetch_add(&c->ran, 1);
}

Test(uow, return_ends_the_task_and_starts_the_next_transaction) {
  weft_region *r = uow_region(2);
  th_define(r, "RET", ret_task, 1);
  th_define(r, "NEXT", next_task, 1);
  uint64_t no = run(r, "RET", 0);
  cr_assert_str_eq(abcode_of(no), "");
  th_wait_until(atomic_load(&g.ran) == 1);
  th_wait_ended(r, 2);
  cr_assert_eq(atomic_load(&g.after), 0, "weft_return returned %s", weft_err_name(g.rc[1]));
  expect_rc(0, g.rc[0], 0);
  expect_rc(2, g.rc[2], 0);
  cr_assert_eq(g.len[2], 5);
  cr_assert_str_eq(g.got[2], "hello");
  expect_rc(3, g.rc[3], 0);
  cr_assert_str_eq(g.got[3], "before-return", "the RETURN did not commit");
  cr_assert_neq(g.task_no[3], no);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_completed, 2);
  cr_assert_eq(s.tasks_abended, 0);
}

/* RETURN from a LINK level ends the whole task (and commits). */
static void ret_linker(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->rc[10] = weft_link(t, "SUBRET", NULL, 0);
  atomic_fetch_add(&c->after, 1);
}

static void sub_return(weft_task *t) {
  uow_ctx *c = &g;
  c->rc[11] = put(t, "K", "from-sub");
  atomic_fetch_add(&c->ran, 1);
  c->rc[12] = weft_return(t, NULL, NULL, 0);
  atomic_fetch_add(&c->after, 10);
}

Test(uow, return_from_a_link_level_ends_the_task) {
  weft_region *r = uow_region(1);
  th_define(r, "RETL", ret_linker, 1);
  th_program(r, "SUBRET", sub_return);
  th_define(r, "PEEK", peek_task, 1);
  uint64_t no = run(r, "RETL", 0);
  cr_assert_str_eq(abcode_of(no), "");
  cr_assert_eq(atomic_load(&g.ran), 1);
  cr_assert_eq(atomic_load(&g.after), 0, "code after the RETURN ran (%ld)",
               atomic_load(&g.after));
  expect_rc(11, g.rc[11], 0);
  run(r, "PEEK", 0);
  expect_rc(40, g.rc[40], 0);
  cr_assert_str_eq(g.got[0], "from-sub");
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_completed, 2, "RETURN NULL started something or abended");
  cr_assert_eq(s.tasks_abended, 0);
}

static void return_errors_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  c->rc[0] = weft_return(t, "NOSUCH", "x", 1);
  c->rc[1] = weft_return(t, "NINECHARS", "x", 1);
  c->rc[2] = weft_return(t, "NEXT", NULL, 5);
  atomic_fetch_add(&c->linked_back, 1); /* still here */
}

Test(uow, return_errors_return_to_the_caller) {
  weft_region *r = uow_region(1);
  th_define(r, "RETE", return_errors_task, 1);
  th_define(r, "NEXT", next_task, 1);
  uint64_t no = run(r, "RETE", 0);
  cr_assert_str_eq(abcode_of(no), "");
  expect_rc(0, g.rc[0], WEFT_ENOTRAN);
  expect_rc(1, g.rc[1], WEFT_EBADNAME);
  expect_rc(2, g.rc[2], WEFT_EINVAL);
  cr_assert_eq(atomic_load(&g.linked_back), 1);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_completed, 1, "a refused RETURN started a task");
  cr_assert_eq(atomic_load(&g.ran), 0);
}

/* ------------------------------------------------------------------------ */
/* Enabling and disabling                                                    */
/* ------------------------------------------------------------------------ */

static void counted(weft_task *t) {
  atomic_fetch_add(&g.ran, 1);
}

static void link_to_prog(weft_task *t) {
  th_arg a = th_arg_of(t);
  uow_ctx *c = a.ctx;
  c->rc[20 + a.idx] = weft_link(t, "PROG", NULL, 0);
}

Test(uow, disabled_program_abends_apct_and_refuses_link) {
  weft_region *r = uow_region(2);
  th_program(r, "PROG", counted);
  weft_transaction_def d = {.tranid = "TPROG", .program = "PROG", .priority = 1};
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  th_define(r, "LINKP", link_to_prog, 1);
  expect_rc(0, weft_program_set_enabled(r, "PROG", 0), 0);
  expect_rc(1, weft_program_set_enabled(r, "PROG", 0), 0); /* already disabled */
  expect_rc(2, weft_program_set_enabled(r, "NOPROG", 0), WEFT_ENOPROG);
  expect_rc(3, weft_program_set_enabled(r, "NOPROG", 1), WEFT_ENOPROG);
  uint64_t no = run(r, "TPROG", 0);
  cr_assert_str_eq(abcode_of(no), "APCT");
  run(r, "LINKP", 0);
  expect_rc(20, g.rc[20], WEFT_EDISABLED);
  cr_assert_eq(atomic_load(&g.ran), 0, "the disabled program ran");
  /* Enabled again. */
  expect_rc(4, weft_program_set_enabled(r, "PROG", 1), 0);
  no = run(r, "TPROG", 0);
  cr_assert_str_eq(abcode_of(no), "");
  run(r, "LINKP", 1);
  expect_rc(21, g.rc[21], 0);
  cr_assert_eq(atomic_load(&g.ran), 2);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 1);
}

/* Waits for ev1 (a task already started when its transaction is disabled). */
static void waits_ev1(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  atomic_store(&c->held, 1);
  c->rc[30] = weft_event_wait(t, c->ev1, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->ran, 1);
}

static void start_from_task(weft_task *t) {
  uow_ctx *c = TH_CTX(t, uow_ctx);
  th_arg a = {c, 0};
  c->rc[31] = weft_start(weft_task_region(t), "TWAIT", &a, sizeof a, NULL, NULL);
}

Test(uow, disabled_transaction_refuses_starts) {
  weft_region *r = uow_region(2);
  cr_assert_eq(weft_event_create(&g.ev1), 0);
  th_define(r, "TWAIT", waits_ev1, 1);
  weft_transaction_def d = {.tranid = "TWAIT2", .program = "TWAIT", .priority = 1}; /* same program */
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  th_define(r, "STARTER", start_from_task, 1);
  uint64_t running = th_start(r, "TWAIT", &g, 0);
  th_wait_until(atomic_load(&g.held));
  expect_rc(0, weft_transaction_set_enabled(r, "TWAIT", 0), 0);
  expect_rc(1, weft_transaction_set_enabled(r, "NOTRAN", 0), WEFT_ENOTRAN);
  expect_rc(2, th_try_start(r, "TWAIT", &g, 1, WEFT_PRIORITY_DEFAULT, NULL), WEFT_EDISABLED);
  run(r, "STARTER", 0);
  expect_rc(31, g.rc[31], WEFT_EDISABLED);
  /* The running one runs on; another transaction of the program starts. */
  cr_assert_eq(weft_event_post(g.ev1), 0);
  cr_assert_str_eq(abcode_of(running), "");
  uint64_t other = th_start(r, "TWAIT2", &g, 0);
  cr_assert_str_eq(abcode_of(other), "");
  cr_assert_eq(atomic_load(&g.ran), 2);
  /* Enabled again. */
  expect_rc(3, weft_transaction_set_enabled(r, "TWAIT", 1), 0);
  uint64_t again = th_start(r, "TWAIT", &g, 0);
  cr_assert_str_eq(abcode_of(again), "");
  cr_assert_eq(atomic_load(&g.ran), 3);
  th_finish(r);
  weft_event_destroy(g.ev1);
}
