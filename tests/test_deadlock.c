/* test_deadlock.c - deadlocks between record locks and ENQs (the victim:
 * lowest priority, then youngest), WEFT_DEADLOCK_ERROR and _ABEND, a
 * three-task cycle, record-lock timeouts, and the weft_log_stats counters.
 * No data_dir. */
#include "helpers.h"

TestSuite(deadlock, .timeout = TH_TEST_TIMEOUT);

#define DFILE "DLF"
#define MAXT 3

typedef struct dl_ctx {
  /* The plan: each task locks first[i], waits for `go`, locks second[i].
   * A lock is "R:key" (read for update and rewrite the record to "T<i>"),
   * "P:key" (a plain read) or "E:name" (weft_enq, WEFT_WAIT_FOREVER). */
  const char *first[MAXT];
  const char *second[MAXT];
  int n;
  weft_event *go;
  weft_event *go_each[MAXT]; /* if set: task i waits for its own event */
  atomic_int have_first;
  int rc_first[MAXT];
  int rc_second[MAXT];
  int rc_after[MAXT];    /* the rollback / DEQ of a victim, or the commit work */
  atomic_int passed[MAXT]; /* reached the end of its program */
  uint64_t task_no[MAXT];
  char dump[256];
  int dump_rc;
  /* Timeouts. */
  weft_event *release;
  atomic_int held;
  atomic_int started;
  atomic_int reported;
  atomic_int probe_ran;
  atomic_int probe_saw_reported;
  int rc[8];
} dl_ctx;

static dl_ctx g;

static th_records g_rec;

/* The abend code of task no ("" if it ended normally); waits for it. */
static const char *abcode_of(uint64_t no) {
  return th_abcode_of(&g_rec, no);
}

static void expect_rc(const char *what, int got, int want) {
  cr_assert_eq(got, want, "%s returned %s, expected %s", what, weft_err_name(got),
               weft_err_name(want));
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

static int lock(weft_task *t, const char *spec, long idx) {
  const char *name = spec + 2;
  if (spec[0] == 'E')
    return weft_enq(t, name, strlen(name), WEFT_WAIT_FOREVER);
  char buf[32];
  size_t len = 0;
  if (spec[0] == 'P') /* a plain read (waits only for a changed record) */
    return weft_file_read(t, DFILE, name, strlen(name), buf, sizeof buf, &len, 0);
  int rc = weft_file_read(t, DFILE, name, strlen(name), buf, sizeof buf, &len,
                          WEFT_READ_UPDATE);
  if (rc != 0)
    return rc;
  char tag[4] = {'T', (char)('0' + idx), 0, 0};
  return weft_file_rewrite(t, DFILE, name, strlen(name), tag, 2);
}

static int unlock_enqs(weft_task *t, const char *spec) {
  return spec[0] == 'E' ? weft_deq(t, spec + 2, strlen(spec + 2)) : 0;
}

static void locker(weft_task *t) {
  th_arg a = th_arg_of(t);
  dl_ctx *c = a.ctx;
  long i = a.idx;
  c->rc_first[i] = lock(t, c->first[i], i);
  atomic_fetch_add(&c->have_first, 1);
  weft_event_wait(t, c->go_each[i] != NULL ? c->go_each[i] : c->go, WEFT_WAIT_FOREVER);
  c->rc_second[i] = lock(t, c->second[i], i);
  if (c->rc_second[i] == 0) {
    int rc = unlock_enqs(t, c->second[i]);
    if (rc == 0)
      rc = unlock_enqs(t, c->first[i]);
    c->rc_after[i] = rc;
  } else {
    /* The victim (ERROR mode) gives its locks up. */
    int rc = weft_rollback(t);
    if (rc == 0)
      rc = unlock_enqs(t, c->first[i]);
    c->rc_after[i] = rc;
  }
  atomic_store(&c->passed[i], 1);
}

static void dump_task(weft_task *t) {
  dl_ctx *c = TH_CTX(t, dl_ctx);
  c->dump[0] = 0;
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, DFILE, NULL, 0, 0, &b);
  size_t used = 0;
  while (rc == 0) {
    char k[16], d[32];
    size_t kl = 0, dl = 0;
    rc = weft_browse_next(b, k, sizeof k - 1, &kl, d, sizeof d - 1, &dl);
    if (rc != 0)
      break;
    k[kl] = 0;
    d[dl] = 0;
    used += (size_t)snprintf(c->dump + used, sizeof c->dump - used, "%s=%s;", k, d);
  }
  if (b != NULL)
    weft_browse_end(b);
  c->dump_rc = rc == WEFT_EENDFILE ? 0 : rc;
}

static void load_task(weft_task *t) {
  dl_ctx *c = TH_CTX(t, dl_ctx);
  static const char *const keys[] = {"R1", "R2", "R3"};
  for (int i = 0; i < 3; i++) {
    int rc = weft_file_write(t, DFILE, keys[i], 2, "init", 4);
    if (rc != 0)
      c->dump_rc = rc;
  }
}

/* ------------------------------------------------------------------------ */
/* Regions                                                                   */
/* ------------------------------------------------------------------------ */

static weft_region *dl_region(unsigned workers, int action, unsigned lock_timeout_ms) {
  weft_region_config cfg = th_config(workers, 64);
  cfg.deadlock_action = action;
  cfg.aging_ms = WEFT_OFF; /* priorities order the tasks on one worker */
  if (lock_timeout_ms != 0)
    cfg.lock_timeout_ms = lock_timeout_ms;
  cfg.task_record_fn = th_on_record;
  cfg.record_ctx = &g_rec;
  weft_region *r = th_region_cfg(&cfg);
  weft_file_def d = {DFILE, 8, 16};
  cr_assert_eq(weft_file_define(r, &d), 0);
  th_define(r, "LOCK", locker, 5);
  th_define(r, "DUMP", dump_task, 5);
  th_define(r, "LOAD", load_task, 5);
  uint64_t no = th_start(r, "LOAD", &g, 0);
  cr_assert_str_eq(abcode_of(no), "");
  cr_assert_eq(g.dump_rc, 0, "load: %s", weft_err_name(g.dump_rc));
  return r;
}

static const char *dump(weft_region *r) {
  g.dump_rc = -999;
  uint64_t no = th_start(r, "DUMP", &g, 0);
  cr_assert_str_eq(abcode_of(no), "");
  cr_assert_eq(g.dump_rc, 0, "dump: %s", weft_err_name(g.dump_rc));
  return g.dump;
}

static weft_log_stats log_stats(weft_region *r) {
  weft_log_stats s;
  memset(&s, 0xff, sizeof s);
  int rc = weft_log_stats_get(r, &s);
  cr_assert_eq(rc, 0, "weft_log_stats: %s", weft_err_name(rc));
  return s;
}

/* Start the n tasks of the plan with these priorities, let them take their
 * first locks, then let them all go for their second. Returns when every
 * one has ended. */
static void run_plan(weft_region *r, int n, const int *prio) {
  g.n = n;
  cr_assert_eq(weft_event_create(&g.go), 0);
  for (int i = 0; i < n; i++)
    g.task_no[i] = th_start_prio(r, "LOCK", &g, i, prio[i]);
  th_wait_until(atomic_load(&g.have_first) == n);
  for (int i = 0; i < n; i++)
    expect_rc("the first lock", g.rc_first[i], 0);
  cr_assert_eq(weft_event_post(g.go), 0);
  for (int i = 0; i < n; i++)
    abcode_of(g.task_no[i]);
}

/* ERROR mode: exactly `victim` got WEFT_EDEADLOCK; everyone else got its
 * second lock and ended normally. */
static void expect_error_victim(int victim) {
  for (int i = 0; i < g.n; i++) {
    cr_assert_str_eq(abcode_of(g.task_no[i]), "", "task %d abended", i);
    cr_assert_eq(atomic_load(&g.passed[i]), 1);
    if (i == victim)
      cr_assert_eq(g.rc_second[i], WEFT_EDEADLOCK, "task %d (the victim) got %s", i,
                   weft_err_name(g.rc_second[i]));
    else
      cr_assert_eq(g.rc_second[i], 0, "task %d (not the victim) got %s", i,
                   weft_err_name(g.rc_second[i]));
    expect_rc("the victim's rollback or the winner's DEQs", g.rc_after[i], 0);
  }
}

/* ABEND mode: `victim` abended AKCS at its second lock; the others ended
 * normally with both locks. */
static void expect_abend_victim(int victim) {
  for (int i = 0; i < g.n; i++) {
    if (i == victim) {
      cr_assert_str_eq(abcode_of(g.task_no[i]), "AKCS", "the victim (task %d)", i);
      cr_assert_eq(atomic_load(&g.passed[i]), 0, "the victim went on");
    } else {
      cr_assert_str_eq(abcode_of(g.task_no[i]), "", "task %d", i);
      cr_assert_eq(g.rc_second[i], 0, "task %d got %s", i, weft_err_name(g.rc_second[i]));
      cr_assert_eq(atomic_load(&g.passed[i]), 1);
    }
  }
}

static void expect_deadlocks(weft_region *r, uint64_t n) {
  weft_log_stats s = log_stats(r);
  cr_assert_eq(s.deadlocks, n, "deadlocks %llu, expected %llu", (unsigned long long)s.deadlocks,
               (unsigned long long)n);
  cr_assert_eq(s.lock_timeouts, 0);
  if (n > 0)
    cr_assert_geq(s.rollbacks, 1, "the victim's UOW was not counted as backed out");
}

static void finish(weft_region *r) {
  th_finish(r);
  weft_event_destroy(g.go);
}

/* ------------------------------------------------------------------------ */
/* Record-lock cycles                                                        */
/* ------------------------------------------------------------------------ */

static void two_records(void) {
  g.first[0] = "R:R1", g.second[0] = "R:R2";
  g.first[1] = "R:R2", g.second[1] = "R:R1";
}

/* The older task has the lower priority: priority decides, not age. */
Test(deadlock, error_mode_lower_priority_is_the_victim) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  cr_assert_eq(log_stats(r).deadlocks, 0);
  two_records();
  run_plan(r, 2, (const int[]){3, 9});
  expect_error_victim(0);
  cr_assert_str_eq(dump(r), "R1=T1;R2=T1;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* The same with the priorities the other way round. */
Test(deadlock, error_mode_lower_priority_younger_is_the_victim) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  two_records();
  run_plan(r, 2, (const int[]){9, 3});
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

Test(deadlock, error_mode_equal_priority_younger_is_the_victim) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  two_records();
  run_plan(r, 2, (const int[]){5, 5});
  cr_assert_gt(g.task_no[1], g.task_no[0]);
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* One worker: the same outcome whichever order the waits form in. */
Test(deadlock, error_mode_on_one_worker) {
  weft_region *r = dl_region(1, WEFT_DEADLOCK_ERROR, 0);
  two_records();
  run_plan(r, 2, (const int[]){5, 5});
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* ABEND (the default): the victim abends AKCS and its rewrite is backed out;
 * the other commits both records. */
Test(deadlock, abend_mode_victim_abends_akcs_and_is_backed_out) {
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cr_assert_eq(cfg.deadlock_action, WEFT_DEADLOCK_ABEND, "not the default");
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ABEND, 0);
  two_records();
  run_plan(r, 2, (const int[]){5, 5});
  expect_abend_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=init;");
  expect_deadlocks(r, 1);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 1);
  weft_event_destroy(g.go);
}

Test(deadlock, abend_mode_lower_priority_is_the_victim) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ABEND, 0);
  two_records();
  run_plan(r, 2, (const int[]){2, 8});
  expect_abend_victim(0);
  cr_assert_str_eq(dump(r), "R1=T1;R2=T1;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* Three tasks: 0 holds R1 wants R2, 1 holds R2 wants R3, 2 holds R3 wants R1. */
static void three_records(void) {
  g.first[0] = "R:R1", g.second[0] = "R:R2";
  g.first[1] = "R:R2", g.second[1] = "R:R3";
  g.first[2] = "R:R3", g.second[2] = "R:R1";
}

Test(deadlock, three_task_cycle_lowest_priority_is_the_victim) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  three_records();
  run_plan(r, 3, (const int[]){7, 3, 5});
  expect_error_victim(1);
  /* 1 backs out; 0 gets R2 and commits; then 2 gets R1. */
  cr_assert_str_eq(dump(r), "R1=T2;R2=T0;R3=T2;");
  expect_deadlocks(r, 1);
  finish(r);
}

Test(deadlock, three_task_cycle_equal_priority_youngest_is_the_victim) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ABEND, 0);
  three_records();
  run_plan(r, 3, (const int[]){5, 5, 5});
  expect_abend_victim(2);
  /* 2 backs out; 1 gets R3 and commits; then 0 gets R2. */
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=T1;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* Which task closes the cycle, on one worker: `waiter` goes first and is
 * left waiting for its second lock (a probe task, queued behind it, runs
 * only once it has suspended), then `closer` goes and closes the cycle. */
static void probe_task(weft_task *t) {
  dl_ctx *c = TH_CTX(t, dl_ctx);
  atomic_store(&c->probe_ran, 1);
}

static void run_ordered(weft_region *r, int waiter, int closer, const int *prio) {
  g.n = 2;
  th_define(r, "PROBE", probe_task, 0);
  cr_assert_eq(weft_event_create(&g.go), 0);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(weft_event_create(&g.go_each[i]), 0);
  for (int i = 0; i < 2; i++)
    g.task_no[i] = th_start_prio(r, "LOCK", &g, i, prio[i]);
  th_wait_until(atomic_load(&g.have_first) == 2);
  cr_assert_eq(weft_event_post(g.go_each[waiter]), 0);
  th_start(r, "PROBE", &g, 0); /* priority 0: runs when nothing else can */
  th_wait_until(atomic_load(&g.probe_ran));
  cr_assert_eq(atomic_load(&g.passed[waiter]), 0);
  cr_assert_eq(weft_event_post(g.go_each[closer]), 0);
  for (int i = 0; i < 2; i++)
    abcode_of(g.task_no[i]);
}

static void ordered_finish(weft_region *r) {
  th_finish(r);
  weft_event_destroy(g.go);
  for (int i = 0; i < 2; i++)
    weft_event_destroy(g.go_each[i]);
}

/* The victim is the task already waiting, woken by the closer's check. */
Test(deadlock, error_mode_victim_already_waiting) {
  weft_region *r = dl_region(1, WEFT_DEADLOCK_ERROR, 0);
  two_records();
  run_ordered(r, 1, 0, (const int[]){5, 5});
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=init;");
  expect_deadlocks(r, 1);
  ordered_finish(r);
}

/* The victim is the task whose wait would close the cycle. */
Test(deadlock, error_mode_victim_closes_the_cycle) {
  weft_region *r = dl_region(1, WEFT_DEADLOCK_ERROR, 0);
  two_records();
  run_ordered(r, 0, 1, (const int[]){5, 5});
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=T0;R3=init;");
  expect_deadlocks(r, 1);
  ordered_finish(r);
}

Test(deadlock, abend_mode_victim_already_waiting) {
  weft_region *r = dl_region(1, WEFT_DEADLOCK_ABEND, 0);
  two_records();
  run_ordered(r, 0, 1, (const int[]){3, 9});
  expect_abend_victim(0);
  cr_assert_str_eq(dump(r), "R1=T1;R2=T1;R3=init;");
  expect_deadlocks(r, 1);
  ordered_finish(r);
}

Test(deadlock, abend_mode_victim_closes_the_cycle) {
  weft_region *r = dl_region(1, WEFT_DEADLOCK_ABEND, 0);
  two_records();
  run_ordered(r, 1, 0, (const int[]){3, 9});
  expect_abend_victim(0);
  cr_assert_str_eq(dump(r), "R1=T1;R2=T1;R3=init;");
  expect_deadlocks(r, 1);
  ordered_finish(r);
}

/* ------------------------------------------------------------------------ */
/* ENQ cycles                                                                */
/* ------------------------------------------------------------------------ */

Test(deadlock, enq_cycle_error_mode) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  g.first[0] = "E:RESA", g.second[0] = "E:RESB";
  g.first[1] = "E:RESB", g.second[1] = "E:RESA";
  run_plan(r, 2, (const int[]){4, 6});
  expect_error_victim(0);
  weft_log_stats s = log_stats(r);
  cr_assert_eq(s.deadlocks, 1);
  cr_assert_eq(s.lock_timeouts, 0);
  finish(r);
}

Test(deadlock, enq_cycle_abend_mode) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ABEND, 0);
  g.first[0] = "E:RESA", g.second[0] = "E:RESB";
  g.first[1] = "E:RESB", g.second[1] = "E:RESA";
  run_plan(r, 2, (const int[]){5, 5});
  expect_abend_victim(1);
  weft_log_stats s = log_stats(r);
  cr_assert_eq(s.deadlocks, 1);
  finish(r);
}

/* A cycle through an ENQ and a record lock. */
Test(deadlock, mixed_enq_and_record_lock_cycle) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  g.first[0] = "E:RESA", g.second[0] = "R:R1";
  g.first[1] = "R:R1", g.second[1] = "E:RESA";
  run_plan(r, 2, (const int[]){5, 5});
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=init;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* Plain reads wait for changed records, so they can close a cycle too. */
Test(deadlock, plain_reads_of_changed_records_cycle) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 0);
  g.first[0] = "R:R1", g.second[0] = "P:R2";
  g.first[1] = "R:R2", g.second[1] = "P:R1";
  run_plan(r, 2, (const int[]){5, 5});
  expect_error_victim(1);
  cr_assert_str_eq(dump(r), "R1=T0;R2=init;R3=init;");
  expect_deadlocks(r, 1);
  finish(r);
}

/* ------------------------------------------------------------------------ */
/* No cycle, timeouts                                                        */
/* ------------------------------------------------------------------------ */

/* idx 0: lock R1 (idx 2: rewrite it too), wait for `release`, end.
 * idx 1: read R1 for update; idx 3: plain read of R1. */
static void timed(weft_task *t) {
  th_arg a = th_arg_of(t);
  dl_ctx *c = a.ctx;
  char buf[32];
  size_t len = 0;
  if (a.idx == 0 || a.idx == 2) {
    c->rc[0] = a.idx == 2 ? lock(t, "R:R1", 0)
                          : weft_file_read(t, DFILE, "R1", 2, buf, sizeof buf, &len,
                                           WEFT_READ_UPDATE);
    atomic_store(&c->held, 1);
    c->rc[1] = weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
    return;
  }
  atomic_store(&c->started, 1);
  c->rc[2] = weft_file_read(t, DFILE, "R1", 2, buf, sizeof buf, &len,
                            a.idx == 1 ? WEFT_READ_UPDATE : 0);
  atomic_store(&c->reported, 1);
}

static void timed_probe(weft_task *t) {
  dl_ctx *c = TH_CTX(t, dl_ctx);
  atomic_store(&c->probe_saw_reported, atomic_load(&c->reported));
  atomic_store(&c->probe_ran, 1);
}

/* A plain wait (no cycle) is no deadlock: the waiter gets the lock when
 * the holder ends. One worker, so the probe runs while the waiter waits. */
Test(deadlock, wait_without_a_cycle_is_not_a_deadlock) {
  weft_region *r = dl_region(1, WEFT_DEADLOCK_ERROR, 0);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "TIMED", timed, 5);
  th_define(r, "PROBE", timed_probe, 5);
  uint64_t holder = th_start(r, "TIMED", &g, 0);
  th_wait_until(atomic_load(&g.held));
  uint64_t waiter = th_start(r, "TIMED", &g, 1);
  th_start(r, "PROBE", &g, 0);
  th_wait_until(atomic_load(&g.probe_ran));
  cr_assert_eq(atomic_load(&g.probe_saw_reported), 0, "the waiter did not wait");
  cr_assert_eq(weft_event_post(g.release), 0);
  cr_assert_str_eq(abcode_of(holder), "");
  cr_assert_str_eq(abcode_of(waiter), "");
  expect_rc("the holder's read", g.rc[0], 0);
  expect_rc("the waiter's read", g.rc[2], 0);
  expect_deadlocks(r, 0);
  th_finish(r);
  weft_event_destroy(g.release);
}

/* ERROR mode, lock_timeout_ms 50: the waiter gets WEFT_ETIMEDOUT; the holder
 * is released only after the waiter reported. */
static void timeout_case(long holder_idx, long waiter_idx) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ERROR, 50);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "TIMED", timed, 5);
  uint64_t holder = th_start(r, "TIMED", &g, holder_idx);
  th_wait_until(atomic_load(&g.held));
  uint64_t waiter = th_start(r, "TIMED", &g, waiter_idx);
  th_wait_until(atomic_load(&g.reported));
  cr_assert_eq(weft_event_post(g.release), 0);
  cr_assert_str_eq(abcode_of(holder), "");
  cr_assert_str_eq(abcode_of(waiter), "");
  expect_rc("the holder's lock", g.rc[0], 0);
  expect_rc("the waiter's read", g.rc[2], WEFT_ETIMEDOUT);
  weft_log_stats s = log_stats(r);
  cr_assert_eq(s.lock_timeouts, 1, "lock_timeouts %llu", (unsigned long long)s.lock_timeouts);
  cr_assert_eq(s.deadlocks, 0);
  th_finish(r);
  weft_event_destroy(g.release);
}

Test(deadlock, update_lock_wait_times_out_in_error_mode) {
  timeout_case(0, 1);
}

Test(deadlock, read_of_a_changed_record_times_out_in_error_mode) {
  timeout_case(2, 3);
}

/* ABEND mode: the waiter abends AKCS; the holder commits. */
Test(deadlock, lock_timeout_abends_akcs_in_abend_mode) {
  weft_region *r = dl_region(2, WEFT_DEADLOCK_ABEND, 50);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "TIMED", timed, 5);
  uint64_t holder = th_start(r, "TIMED", &g, 2);
  th_wait_until(atomic_load(&g.held));
  uint64_t waiter = th_start(r, "TIMED", &g, 1);
  cr_assert_str_eq(abcode_of(waiter), "AKCS");
  cr_assert_eq(atomic_load(&g.reported), 0, "the waiter went on after its timeout");
  cr_assert_eq(weft_event_post(g.release), 0);
  cr_assert_str_eq(abcode_of(holder), "");
  cr_assert_str_eq(dump(r), "R1=T0;R2=init;R3=init;");
  weft_log_stats s = log_stats(r);
  cr_assert_eq(s.lock_timeouts, 1);
  cr_assert_eq(s.deadlocks, 0);
  th_finish(r);
  weft_event_destroy(g.release);
}

/* lock_timeout_ms WEFT_OFF (0 in ABI 1; 0 is now the default, 30000): a
 * record-lock wait gives up at once, as a timeout (WEFT_ETIMEDOUT with
 * deadlock_action ERROR). */
Test(deadlock, lock_timeout_off_gives_up_at_once) {
  weft_region_config cfg = th_config(2, 64);
  cfg.deadlock_action = WEFT_DEADLOCK_ERROR;
  cfg.lock_timeout_ms = WEFT_OFF;
  cfg.task_record_fn = th_on_record;
  cfg.record_ctx = &g_rec;
  weft_region *r = NULL;
  int rc = weft_region_create(&cfg, &r);
  cr_assert_eq(rc, 0, "lock_timeout_ms WEFT_OFF: %s", weft_err_name(rc));
  weft_file_def d = {DFILE, 8, 16};
  cr_assert_eq(weft_file_define(r, &d), 0);
  th_define(r, "LOAD", load_task, 5);
  th_define(r, "TIMED", timed, 5);
  cr_assert_str_eq(abcode_of(th_start(r, "LOAD", &g, 0)), "");
  cr_assert_eq(weft_event_create(&g.release), 0);
  uint64_t holder = th_start(r, "TIMED", &g, 2);
  th_wait_until(atomic_load(&g.held));
  uint64_t waiter = th_start(r, "TIMED", &g, 1);
  th_wait_until(atomic_load(&g.reported));
  cr_assert_eq(weft_event_post(g.release), 0);
  cr_assert_str_eq(abcode_of(holder), "");
  cr_assert_str_eq(abcode_of(waiter), "");
  expect_rc("the waiter's read for update", g.rc[2], WEFT_ETIMEDOUT);
  cr_assert_eq(log_stats(r).lock_timeouts, 1);
  th_finish(r);
  weft_event_destroy(g.release);
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

Test(deadlock, config_defaults_and_bad_action) {
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cr_assert_eq(cfg.deadlock_action, WEFT_DEADLOCK_ABEND);
  cr_assert_eq(cfg.lock_timeout_ms, 30000);
  cr_assert_null(cfg.data_dir);
  cr_assert_eq(cfg.checkpoint_bytes, (uint64_t)64 << 20);
  cfg.workers = 1;
  cfg.deadlock_action = 7;
  weft_region *r = NULL;
  int rc = weft_region_create(&cfg, &r);
  cr_assert_eq(rc, WEFT_EINVAL, "deadlock_action 7: %s", weft_err_name(rc));
  cr_assert_null(r);
  /* Counters start at zero. */
  r = th_region(1, 8);
  weft_log_stats s = log_stats(r);
  cr_assert_eq(s.deadlocks, 0);
  cr_assert_eq(s.lock_timeouts, 0);
  cr_assert_eq(s.rollbacks, 0);
  cr_assert_eq(s.checkpoints, 0);
  th_finish(r);
}
