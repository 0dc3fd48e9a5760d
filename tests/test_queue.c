/* test_queue.c - temporary storage (TS) and transient data (TD) queues:
 * item numbers, cursors, limits, recoverable and non-recoverable queues
 * under rollback and abend, and TD trigger levels (ATI). No data_dir. */
#include "helpers.h"

TestSuite(queue, .timeout = TH_TEST_TIMEOUT);

typedef struct q_ctx {
  int rc[64];
  char got[32][64];
  size_t len[32];
  unsigned item[32];
  uint64_t depth[16];
  weft_event *release;
  atomic_int changed;
  atomic_int chg_ending;
  atomic_int rdr_done;
  atomic_int rdr_saw_ending;
  atomic_int probe_ran;
  atomic_int probe_saw_done;
  atomic_long after;
  /* ATI */
  weft_event *trig_gate;      /* triggered tasks wait for it before reading */
  atomic_int trig_started;
  atomic_int trig_running;
  atomic_int trig_max_running;
  atomic_int trig_done;
  atomic_int trig_bad_data;   /* start data was not the queue name */
  atomic_int trig_read_rc;    /* last non-zero read code */
  char trig_data[32];
  atomic_int writer_waiting;
} q_ctx;

static q_ctx g;

static void expect_rc(int i, int got, int want) {
  cr_assert_eq(got, want, "call %d returned %s, expected %s", i, weft_err_name(got),
               weft_err_name(want));
}

static void run(weft_region *r, const char *tranid, long idx) {
  uint64_t before = th_ended(r);
  th_start(r, tranid, &g, idx);
  th_wait_ended(r, before + 1);
}

/* TS helpers for tasks (data is a C string). */
static int tsw(weft_task *t, const char *q, const char *data, unsigned *item) {
  return weft_ts_write(t, q, data, strlen(data), item);
}
static int tsr(weft_task *t, const char *q, unsigned item, char out[64], unsigned *item_out) {
  size_t len = 0;
  int rc = weft_ts_read(t, q, item, out, 63, &len, item_out);
  out[rc == 0 && len < 64 ? len : 0] = 0;
  return rc;
}
/* All items of q in order as "a,b,c," (from item 1); "" if none. */
static int ts_list(weft_task *t, const char *q, char *out, size_t cap) {
  out[0] = 0;
  unsigned n = 0;
  int rc = weft_ts_count(t, q, &n);
  if (rc != 0)
    return rc;
  size_t used = 0;
  for (unsigned i = 1; i <= n; i++) {
    char d[64];
    rc = tsr(t, q, i, d, NULL);
    if (rc != 0)
      return rc;
    int k = snprintf(out + used, cap - used, "%s,", d);
    if (k < 0 || (size_t)k >= cap - used)
      return WEFT_ENOMEM;
    used += (size_t)k;
  }
  return 0;
}

/* TD helpers. */
static int tdw(weft_task *t, const char *q, const char *data) {
  return weft_td_write(t, q, data, strlen(data));
}
static int tdr(weft_task *t, const char *q, char out[64]) {
  size_t len = 0;
  int rc = weft_td_read(t, q, out, 63, &len);
  out[rc == 0 && len < 64 ? len : 0] = 0;
  return rc;
}
/* Read q until empty into out as "a,b,"; returns the final code (EEMPTY). */
static int td_drain(weft_task *t, const char *q, char *out, size_t cap) {
  out[0] = 0;
  size_t used = 0;
  for (int i = 0; i < 100; i++) {
    char d[64];
    int rc = tdr(t, q, d);
    if (rc != 0)
      return rc;
    int k = snprintf(out + used, cap - used, "%s,", d);
    if (k < 0 || (size_t)k >= cap - used)
      return WEFT_ENOMEM;
    used += (size_t)k;
  }
  return WEFT_ELIMIT;
}

static uint64_t depth_of(weft_region *r, const char *q) {
  uint64_t d = 12345;
  int rc = weft_td_depth(r, q, &d);
  cr_assert_eq(rc, 0, "weft_td_depth(%s): %s", q, weft_err_name(rc));
  return d;
}

static void tdq(weft_region *r, const char *name, int recoverable, unsigned level,
                const char *tranid) {
  weft_td_def d = {name, recoverable, level, tranid};
  int rc = weft_td_define(r, &d);
  cr_assert_eq(rc, 0, "weft_td_define(%s): %s", name, weft_err_name(rc));
}

/* ------------------------------------------------------------------------ */
/* TS basics                                                                 */
/* ------------------------------------------------------------------------ */

static void ts_basic_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tsw(t, "TSQ", "one", &c->item[0]);
  c->rc[1] = tsw(t, "TSQ", "two", &c->item[1]);
  c->rc[2] = tsw(t, "TSQ", "three", &c->item[2]);
  c->rc[3] = weft_ts_count(t, "TSQ", &c->item[3]);
  /* By item number. */
  c->rc[4] = tsr(t, "TSQ", 2, c->got[4], &c->item[4]);
  /* Next: the item after the cursor (now at 2). */
  c->rc[5] = tsr(t, "TSQ", 0, c->got[5], &c->item[5]);
  c->rc[6] = tsr(t, "TSQ", 0, c->got[6], &c->item[6]); /* past the end */
  /* Back to item 1, then next again. */
  c->rc[7] = tsr(t, "TSQ", 1, c->got[7], &c->item[7]);
  c->rc[8] = tsr(t, "TSQ", 0, c->got[8], NULL);
  /* Rewrite item 2 (longer), read it back. */
  c->rc[9] = weft_ts_rewrite(t, "TSQ", 2, "TWO!!", 5);
  c->rc[10] = tsr(t, "TSQ", 2, c->got[10], NULL);
  c->rc[11] = weft_ts_count(t, "TSQ", &c->item[11]); /* a rewrite adds nothing */
  /* Another queue is separate. */
  c->rc[12] = tsw(t, "TSQ2", "x", &c->item[12]);
}

Test(queue, ts_items_numbered_read_by_item_and_next_rewrite) {
  weft_region *r = th_region(1, 16);
  th_define(r, "TSB", ts_basic_task, 1);
  run(r, "TSB", 0);
  for (int i = 0; i < 13; i++)
    expect_rc(i, g.rc[i], i == 6 ? WEFT_EENDFILE : 0);
  cr_assert_eq(g.item[0], 1);
  cr_assert_eq(g.item[1], 2);
  cr_assert_eq(g.item[2], 3);
  cr_assert_eq(g.item[3], 3, "count %u", g.item[3]);
  cr_assert_str_eq(g.got[4], "two");
  cr_assert_eq(g.item[4], 2);
  cr_assert_str_eq(g.got[5], "three");
  cr_assert_eq(g.item[5], 3);
  cr_assert_str_eq(g.got[7], "one");
  cr_assert_eq(g.item[7], 1);
  cr_assert_str_eq(g.got[8], "two");
  cr_assert_str_eq(g.got[10], "TWO!!");
  cr_assert_eq(g.item[11], 3);
  cr_assert_eq(g.item[12], 1, "a new queue starts at item 1");
  th_finish(r);
}

static void ts_next_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tsw(t, "NQ", "a", NULL);
  c->rc[1] = tsw(t, "NQ", "b", NULL);
  for (int i = 0; i < 3; i++)
    c->rc[2 + i] = tsr(t, "NQ", 0, c->got[2 + i], &c->item[2 + i]);
  c->rc[5] = tsr(t, "NQ", 0, c->got[5], NULL); /* again past the end */
  /* A write after the end: the next read gets it. */
  c->rc[6] = tsw(t, "NQ", "c", &c->item[6]);
  c->rc[7] = tsr(t, "NQ", 0, c->got[7], &c->item[7]);
}

Test(queue, ts_read_next_until_the_end) {
  weft_region *r = th_region(1, 16);
  th_define(r, "TSN", ts_next_task, 1);
  run(r, "TSN", 0);
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], 0);
  expect_rc(2, g.rc[2], 0);
  expect_rc(3, g.rc[3], 0);
  expect_rc(4, g.rc[4], WEFT_EENDFILE);
  expect_rc(5, g.rc[5], WEFT_EENDFILE);
  cr_assert_str_eq(g.got[2], "a");
  cr_assert_eq(g.item[2], 1);
  cr_assert_str_eq(g.got[3], "b");
  cr_assert_eq(g.item[3], 2);
  expect_rc(6, g.rc[6], 0);
  cr_assert_eq(g.item[6], 3);
  expect_rc(7, g.rc[7], 0);
  cr_assert_str_eq(g.got[7], "c");
  cr_assert_eq(g.item[7], 3);
  th_finish(r);
}

static void ts_errors_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  static char big[WEFT_ITEM_MAX + 1];
  memset(big, 'b', sizeof big);
  unsigned n = 99;
  c->rc[0] = tsr(t, "NOQ", 1, c->got[0], NULL);
  c->rc[1] = tsr(t, "NOQ", 0, c->got[1], NULL);
  c->rc[2] = weft_ts_count(t, "NOQ", &n);
  c->item[2] = n;
  c->rc[3] = weft_ts_rewrite(t, "NOQ", 1, "x", 1);
  c->rc[4] = weft_ts_delete(t, "NOQ");
  c->rc[5] = tsw(t, "EQ", "12345678", NULL);
  c->rc[6] = tsr(t, "EQ", 2, c->got[6], NULL);      /* no item 2 */
  c->rc[7] = weft_ts_rewrite(t, "EQ", 2, "x", 1);
  /* Too long an item, and the longest one. */
  c->rc[8] = weft_ts_write(t, "EQ", big, WEFT_ITEM_MAX + 1, NULL);
  c->rc[9] = weft_ts_count(t, "EQ", &c->item[9]);
  c->rc[10] = weft_ts_write(t, "EQ", big, WEFT_ITEM_MAX, &c->item[10]);
  c->rc[11] = weft_ts_rewrite(t, "EQ", 1, big, WEFT_ITEM_MAX + 1);
  /* A buffer too small: the size, nothing copied. */
  char buf[8];
  memset(buf, 'Z', sizeof buf);
  size_t len = 0;
  c->rc[12] = weft_ts_read(t, "EQ", 1, buf, 4, &len, NULL);
  c->len[12] = len;
  memcpy(c->got[12], buf, sizeof buf);
  /* Names: 16 characters at most. */
  c->rc[13] = tsw(t, "ABCDEFGHIJKLMNOPQ", "x", NULL);
  c->rc[14] = tsw(t, "", "x", NULL);
  c->rc[15] = tsw(t, "ABCDEFGHIJKLMNOP", "x", NULL);
  c->rc[16] = tsr(t, "EQ", 1, c->got[16], NULL); /* unchanged by the refusals */
}

Test(queue, ts_not_found_and_range_errors) {
  weft_region *r = th_region(1, 16);
  th_define(r, "TSE", ts_errors_task, 1);
  run(r, "TSE", 0);
  for (int i = 0; i < 5; i++)
    expect_rc(i, g.rc[i], WEFT_ENOTFOUND);
  cr_assert_eq(g.item[2], 0, "count of a missing queue: %u", g.item[2]);
  expect_rc(5, g.rc[5], 0);
  expect_rc(6, g.rc[6], WEFT_ENOTFOUND);
  expect_rc(7, g.rc[7], WEFT_ENOTFOUND);
  expect_rc(8, g.rc[8], WEFT_ERANGE);
  expect_rc(9, g.rc[9], 0);
  cr_assert_eq(g.item[9], 1, "a refused write added an item");
  expect_rc(10, g.rc[10], 0);
  cr_assert_eq(g.item[10], 2);
  expect_rc(11, g.rc[11], WEFT_ERANGE);
  expect_rc(12, g.rc[12], WEFT_ERANGE);
  cr_assert_eq(g.len[12], 8, "*len %zu", g.len[12]);
  cr_assert_eq(memcmp(g.got[12], "ZZZZZZZZ", 8), 0, "the small buffer was written");
  expect_rc(13, g.rc[13], WEFT_EBADNAME);
  expect_rc(14, g.rc[14], WEFT_EBADNAME);
  expect_rc(15, g.rc[15], 0);
  expect_rc(16, g.rc[16], 0);
  cr_assert_str_eq(g.got[16], "12345678");
  th_finish(r);
}

static void ts_delete_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tsw(t, "DQ", "a", NULL);
  c->rc[1] = tsw(t, "DQ", "b", NULL);
  c->rc[2] = weft_ts_delete(t, "DQ");
  unsigned n = 99;
  c->rc[3] = weft_ts_count(t, "DQ", &n);
  c->item[3] = n;
  c->rc[4] = tsr(t, "DQ", 1, c->got[4], NULL);
  c->rc[5] = weft_ts_delete(t, "DQ");
  /* Written again, it starts from item 1. */
  c->rc[6] = tsw(t, "DQ", "c", &c->item[6]);
  c->rc[7] = tsr(t, "DQ", 0, c->got[7], &c->item[7]);
}

Test(queue, ts_delete_queue) {
  weft_region *r = th_region(1, 16);
  th_define(r, "TSD", ts_delete_task, 1);
  run(r, "TSD", 0);
  static const int want[8] = {0, 0, 0, WEFT_ENOTFOUND, WEFT_ENOTFOUND, WEFT_ENOTFOUND, 0, 0};
  for (int i = 0; i < 8; i++)
    expect_rc(i, g.rc[i], want[i]);
  cr_assert_eq(g.item[3], 0);
  cr_assert_eq(g.item[6], 1);
  cr_assert_str_eq(g.got[7], "c");
  cr_assert_eq(g.item[7], 1);
  th_finish(r);
}

static void ts_limit_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  unsigned item = 0;
  for (unsigned i = 0; i < WEFT_ITEM_MAX; i++) {
    int rc = weft_ts_write(t, "BIGQ", &i, sizeof i, &item);
    if (rc != 0) {
      c->rc[0] = rc;
      c->item[0] = i;
      return;
    }
  }
  c->item[1] = item;
  c->rc[2] = weft_ts_write(t, "BIGQ", "x", 1, &item);
  c->rc[3] = weft_ts_count(t, "BIGQ", &c->item[3]);
  unsigned v = 0;
  size_t len = 0;
  c->rc[4] = weft_ts_read(t, "BIGQ", WEFT_ITEM_MAX, &v, sizeof v, &len, NULL);
  c->item[4] = v;
}

Test(queue, ts_item_limit) {
  weft_region *r = th_region(1, 16);
  th_define(r, "TSL", ts_limit_task, 1);
  run(r, "TSL", 0);
  cr_assert_eq(g.rc[0], 0, "write %u failed: %s", g.item[0], weft_err_name(g.rc[0]));
  cr_assert_eq(g.item[1], WEFT_ITEM_MAX);
  expect_rc(2, g.rc[2], WEFT_ELIMIT);
  expect_rc(3, g.rc[3], 0);
  cr_assert_eq(g.item[3], WEFT_ITEM_MAX);
  expect_rc(4, g.rc[4], 0);
  cr_assert_eq(g.item[4], WEFT_ITEM_MAX - 1);
  th_finish(r);
}

Test(queue, tsq_define_errors) {
  weft_region *r = th_region(1, 16);
  expect_rc(0, weft_ts_define(r, NULL, 1), WEFT_EINVAL);
  expect_rc(1, weft_ts_define(r, "", 1), WEFT_EBADNAME);
  expect_rc(2, weft_ts_define(r, "ABCDEFGHIJKLMNOPQ", 1), WEFT_EBADNAME);
  expect_rc(3, weft_ts_define(r, "RQ", 1), 0);
  expect_rc(4, weft_ts_define(r, "RQ", 1), WEFT_EEXIST);
  expect_rc(5, weft_ts_define(r, "RQ", 0), WEFT_EEXIST);
  expect_rc(6, weft_ts_define(r, "PFX*", 1), 0);
  expect_rc(7, weft_ts_define(r, "PFX*", 1), WEFT_EEXIST);
  expect_rc(8, weft_ts_define(r, "ABCDEFGHIJKLMNOP", 1), 0);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Recoverable and non-recoverable TS                                        */
/* ------------------------------------------------------------------------ */

/* Puts "a,b," in q and commits. */
static void ts_load_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  static const char *const qs[] = {"RQ", "PFXONE", "PLAIN"};
  for (int i = 0; i < 3; i++) {
    int rc = tsw(t, qs[i], "a", NULL);
    if (rc == 0)
      rc = tsw(t, qs[i], "b", NULL);
    if (rc != 0)
      c->rc[63] = rc;
  }
}

/* On each queue: write c, rewrite 1 to A; then (idx) 0: roll back,
 * 1: abend, 2: syncpoint then delete RQ and roll back. */
static void ts_change_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  q_ctx *c = a.ctx;
  static const char *const qs[] = {"RQ", "PFXONE", "PLAIN"};
  for (int i = 0; i < 3; i++) {
    c->rc[i * 3 + 0] = tsw(t, qs[i], "c", &c->item[i]);
    c->rc[i * 3 + 1] = weft_ts_rewrite(t, qs[i], 1, "A", 1);
    c->rc[i * 3 + 2] = ts_list(t, qs[i], c->got[i], sizeof c->got[i]);
  }
  c->rc[9] = tsw(t, "RQNEW", "n", NULL); /* not recoverable: no definition */
  c->rc[10] = tsw(t, "PFXNEW", "n", NULL); /* recoverable, created in the UOW */
  if (a.idx == 0) {
    c->rc[11] = weft_rollback(t);
  } else if (a.idx == 1) {
    weft_abend(t, "UTSQ");
  } else {
    c->rc[11] = weft_syncpoint(t);
    c->rc[12] = weft_ts_delete(t, "RQ");
    c->rc[13] = weft_ts_delete(t, "PLAIN");
    c->rc[14] = weft_rollback(t);
  }
}

static void ts_check_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  static const char *const qs[] = {"RQ", "PFXONE", "PLAIN", "RQNEW", "PFXNEW"};
  for (int i = 0; i < 5; i++)
    c->rc[20 + i] = ts_list(t, qs[i], c->got[20 + i], sizeof c->got[20 + i]);
}

static weft_region *ts_recov_region(void) {
  weft_region *r = th_region(2, 16);
  cr_assert_eq(weft_ts_define(r, "RQ", 1), 0);
  cr_assert_eq(weft_ts_define(r, "PFX*", 1), 0);
  cr_assert_eq(weft_ts_define(r, "PLAIN", 0), 0);
  th_define(r, "TSLD", ts_load_task, 1);
  th_define(r, "TSCH", ts_change_task, 1);
  th_define(r, "TSCK", ts_check_task, 1);
  run(r, "TSLD", 0);
  expect_rc(63, g.rc[63], 0);
  return r;
}

static void expect_ts_changes_seen(void) {
  for (int i = 0; i < 11; i++)
    expect_rc(i, g.rc[i], 0);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(g.item[i], 3);
    cr_assert_str_eq(g.got[i], "A,b,c,", "queue %d in the UOW: %s", i, g.got[i]);
  }
}

Test(queue, ts_recoverable_changes_undone_by_rollback) {
  weft_region *r = ts_recov_region();
  run(r, "TSCH", 0);
  expect_ts_changes_seen();
  expect_rc(11, g.rc[11], 0);
  run(r, "TSCK", 0);
  expect_rc(20, g.rc[20], 0);
  cr_assert_str_eq(g.got[20], "a,b,", "RQ: %s", g.got[20]);
  expect_rc(21, g.rc[21], 0);
  cr_assert_str_eq(g.got[21], "a,b,", "PFXONE (model PFX*): %s", g.got[21]);
  expect_rc(22, g.rc[22], 0);
  cr_assert_str_eq(g.got[22], "A,b,c,", "PLAIN is not recoverable: %s", g.got[22]);
  expect_rc(23, g.rc[23], 0);
  cr_assert_str_eq(g.got[23], "n,", "RQNEW matches no definition: %s", g.got[23]);
  expect_rc(24, g.rc[24], WEFT_ENOTFOUND); /* created in the UOW, rolled back */
  th_finish(r);
}

Test(queue, ts_recoverable_changes_undone_by_abend) {
  weft_region *r = ts_recov_region();
  run(r, "TSCH", 1);
  expect_ts_changes_seen();
  run(r, "TSCK", 0);
  cr_assert_str_eq(g.got[20], "a,b,", "RQ: %s", g.got[20]);
  cr_assert_str_eq(g.got[21], "a,b,", "PFXONE (model PFX*): %s", g.got[21]);
  cr_assert_str_eq(g.got[22], "A,b,c,", "PLAIN is not recoverable: %s", g.got[22]);
  cr_assert_str_eq(g.got[23], "n,");
  expect_rc(24, g.rc[24], WEFT_ENOTFOUND);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 1);
}

Test(queue, ts_rollback_after_syncpoint_restores_a_deleted_queue) {
  weft_region *r = ts_recov_region();
  run(r, "TSCH", 2);
  expect_ts_changes_seen();
  for (int i = 11; i < 15; i++)
    expect_rc(i, g.rc[i], 0);
  run(r, "TSCK", 0);
  expect_rc(20, g.rc[20], 0);
  cr_assert_str_eq(g.got[20], "A,b,c,", "RQ: %s", g.got[20]);
  cr_assert_str_eq(g.got[21], "A,b,c,");
  expect_rc(22, g.rc[22], WEFT_ENOTFOUND); /* PLAIN's delete was final */
  cr_assert_str_eq(g.got[23], "n,");
  expect_rc(24, g.rc[24], 0);
  cr_assert_str_eq(g.got[24], "n,");
  th_finish(r);
}

/* A recoverable TS queue changed by another UOW is waited for (one worker:
 * see the changer/reader/probe scheme of test_file.c). */
static void ts_changer(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tsw(t, "RQ", "c", NULL);
  atomic_store(&c->changed, 1);
  c->rc[1] = weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  atomic_store(&c->chg_ending, 1);
}

static void ts_reader(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[10] = ts_list(t, "RQ", c->got[10], sizeof c->got[10]);
  atomic_store(&c->rdr_saw_ending, atomic_load(&c->chg_ending));
  atomic_store(&c->rdr_done, 1);
}

static void q_probe(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  atomic_store(&c->probe_saw_done, atomic_load(&c->rdr_done));
  atomic_store(&c->probe_ran, 1);
}

Test(queue, ts_recoverable_change_of_another_uow_is_waited_for) {
  weft_region *r = th_region(1, 16);
  cr_assert_eq(weft_ts_define(r, "RQ", 1), 0);
  cr_assert_eq(weft_ts_define(r, "PFX*", 1), 0);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "TSLD", ts_load_task, 1);
  th_define(r, "CHG", ts_changer, 1);
  th_define(r, "RDR", ts_reader, 1);
  th_define(r, "PROBE", q_probe, 1);
  run(r, "TSLD", 0);
  th_start(r, "CHG", &g, 0);
  th_wait_until(atomic_load(&g.changed));
  th_start(r, "RDR", &g, 0);
  th_start(r, "PROBE", &g, 0);
  th_wait_until(atomic_load(&g.probe_ran));
  cr_assert_eq(weft_event_post(g.release), 0);
  th_wait_ended(r, 4);
  th_finish(r);
  weft_event_destroy(g.release);
  expect_rc(0, g.rc[0], 0);
  cr_assert_eq(atomic_load(&g.probe_saw_done), 0, "the reader did not wait");
  cr_assert_eq(atomic_load(&g.rdr_saw_ending), 1);
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "a,b,c,");
}

/* ------------------------------------------------------------------------ */
/* TD basics                                                                 */
/* ------------------------------------------------------------------------ */

Test(queue, tdq_define_errors) {
  weft_region *r = th_region(1, 16);
  th_define(r, "TRIG", q_probe, 1);
  weft_td_def d = {"TDQ", 0, 0, NULL};
  expect_rc(0, weft_td_define(r, NULL), WEFT_EINVAL);
  d.name = "";
  expect_rc(1, weft_td_define(r, &d), WEFT_EBADNAME);
  d.name = "ABCDEFGHIJKLMNOPQ";
  expect_rc(2, weft_td_define(r, &d), WEFT_EBADNAME);
  d.name = "TDQ";
  expect_rc(3, weft_td_define(r, &d), 0);
  expect_rc(4, weft_td_define(r, &d), WEFT_EEXIST);
  d = (weft_td_def){"ATI1", 0, 2, "NOTRAN"};
  expect_rc(5, weft_td_define(r, &d), WEFT_ENOTRAN);
  d = (weft_td_def){"ATI1", 0, 2, NULL};
  int rc = weft_td_define(r, &d);
  cr_assert_eq(rc, WEFT_EINVAL, "a trigger level without a tranid: %s", weft_err_name(rc));
  d = (weft_td_def){"ATI1", 1, 2, "TRIG"};
  expect_rc(6, weft_td_define(r, &d), 0);
  d = (weft_td_def){"ABCDEFGHIJKLMNOP", 1, 0, NULL};
  expect_rc(7, weft_td_define(r, &d), 0);
  uint64_t depth = 99;
  expect_rc(8, weft_td_depth(r, "NOQ", &depth), WEFT_ENOTFOUND);
  expect_rc(9, weft_td_depth(r, "TDQ", &depth), 0);
  cr_assert_eq(depth, 0);
  th_finish(r);
}

static void td_fifo_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  weft_region *r = weft_task_region(t);
  c->rc[0] = tdr(t, "TDQ", c->got[0]); /* empty */
  c->rc[1] = tdw(t, "TDQ", "one");
  c->rc[2] = tdw(t, "TDQ", "two");
  c->rc[3] = tdw(t, "TDQ", "three");
  c->rc[4] = weft_td_depth(r, "TDQ", &c->depth[4]); /* not recoverable: at once */
  c->rc[5] = tdr(t, "TDQ", c->got[5]);
  c->rc[6] = weft_td_depth(r, "TDQ", &c->depth[6]);
  c->rc[7] = td_drain(t, "TDQ", c->got[7], sizeof c->got[7]);
  c->rc[8] = weft_td_depth(r, "TDQ", &c->depth[8]);
  c->rc[9] = tdw(t, "NOQ", "x");
  c->rc[10] = tdr(t, "NOQ", c->got[10]);
  static char big[WEFT_ITEM_MAX + 1];
  c->rc[11] = weft_td_write(t, "TDQ", big, WEFT_ITEM_MAX + 1);
  c->rc[12] = weft_td_write(t, "TDQ", big, WEFT_ITEM_MAX);
  char small[4];
  size_t len = 0;
  c->rc[13] = weft_td_read(t, "TDQ", small, sizeof small, &len);
  c->len[13] = len;
}

Test(queue, td_fifo_empty_depth_and_errors) {
  weft_region *r = th_region(1, 16);
  tdq(r, "TDQ", 0, 0, NULL);
  th_define(r, "TDF", td_fifo_task, 1);
  run(r, "TDF", 0);
  expect_rc(0, g.rc[0], WEFT_EEMPTY);
  for (int i = 1; i < 7; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_eq(g.depth[4], 3);
  cr_assert_str_eq(g.got[5], "one");
  cr_assert_eq(g.depth[6], 2);
  expect_rc(7, g.rc[7], WEFT_EEMPTY);
  cr_assert_str_eq(g.got[7], "two,three,");
  expect_rc(8, g.rc[8], 0);
  cr_assert_eq(g.depth[8], 0);
  expect_rc(9, g.rc[9], WEFT_ENOTFOUND);
  expect_rc(10, g.rc[10], WEFT_ENOTFOUND);
  expect_rc(11, g.rc[11], WEFT_ERANGE);
  expect_rc(12, g.rc[12], 0);
  expect_rc(13, g.rc[13], WEFT_ERANGE);
  cr_assert_eq(g.len[13], WEFT_ITEM_MAX);
  cr_assert_eq(depth_of(r, "TDQ"), 1, "the too-small read took the item");
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Recoverable TD                                                            */
/* ------------------------------------------------------------------------ */

static void td_recov_write_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  weft_region *r = weft_task_region(t);
  c->rc[0] = tdw(t, "RTD", "one");
  c->rc[1] = tdw(t, "RTD", "two");
  c->rc[2] = weft_td_depth(r, "RTD", &c->depth[2]);
  c->rc[3] = tdw(t, "PTD", "p1");
  c->rc[4] = weft_td_depth(r, "PTD", &c->depth[4]);
  atomic_store(&c->changed, 1);
  c->rc[5] = weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  c->rc[6] = weft_syncpoint(t);
  c->rc[7] = weft_td_depth(r, "RTD", &c->depth[7]);
  c->rc[8] = tdw(t, "RTD", "lost");
  c->rc[9] = tdw(t, "PTD", "p2");
  c->rc[10] = weft_rollback(t);
  c->rc[11] = weft_td_depth(r, "RTD", &c->depth[11]);
  c->rc[12] = weft_td_depth(r, "PTD", &c->depth[12]);
}

Test(queue, td_recoverable_writes_appear_at_commit) {
  weft_region *r = th_region(2, 16);
  tdq(r, "RTD", 1, 0, NULL);
  tdq(r, "PTD", 0, 0, NULL);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "TDRW", td_recov_write_task, 1);
  th_start(r, "TDRW", &g, 0);
  th_wait_until(atomic_load(&g.changed));
  cr_assert_eq(depth_of(r, "RTD"), 0, "uncommitted writes are counted");
  cr_assert_eq(depth_of(r, "PTD"), 1);
  cr_assert_eq(weft_event_post(g.release), 0);
  th_wait_ended(r, 1);
  for (int i = 0; i < 13; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_eq(g.depth[2], 0);
  cr_assert_eq(g.depth[4], 1);
  cr_assert_eq(g.depth[7], 2);
  cr_assert_eq(g.depth[11], 2, "a rolled-back write stayed");
  cr_assert_eq(g.depth[12], 2, "a non-recoverable write was undone");
  cr_assert_eq(depth_of(r, "RTD"), 2);
  th_finish(r);
  weft_event_destroy(g.release);
}

/* Writes one, two, three to RTD and PTD and commits. */
static void td_load_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  static const char *const items[] = {"one", "two", "three"};
  for (int i = 0; i < 3; i++) {
    int rc = tdw(t, "RTD", items[i]);
    if (rc == 0)
      rc = tdw(t, "PTD", items[i]);
    if (rc != 0)
      c->rc[63] = rc;
  }
}

/* Reads two items of each queue, then idx 0: rollback, 1: abend. */
static void td_read_back_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  q_ctx *c = a.ctx;
  c->rc[0] = tdr(t, "RTD", c->got[0]);
  c->rc[1] = tdr(t, "RTD", c->got[1]);
  c->rc[2] = tdr(t, "PTD", c->got[2]);
  c->rc[3] = tdr(t, "PTD", c->got[3]);
  if (a.idx == 1)
    weft_abend(t, "UTDQ");
  c->rc[4] = weft_rollback(t);
  c->rc[5] = td_drain(t, "RTD", c->got[5], sizeof c->got[5]);
  c->rc[6] = td_drain(t, "PTD", c->got[6], sizeof c->got[6]);
  c->rc[7] = weft_rollback(t); /* the drain goes back too */
}

static void td_check_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[10] = td_drain(t, "RTD", c->got[10], sizeof c->got[10]);
  c->rc[11] = td_drain(t, "PTD", c->got[11], sizeof c->got[11]);
}

static weft_region *td_read_region(void) {
  weft_region *r = th_region(2, 16);
  tdq(r, "RTD", 1, 0, NULL);
  tdq(r, "PTD", 0, 0, NULL);
  th_define(r, "TDLD", td_load_task, 1);
  th_define(r, "TDRB", td_read_back_task, 1);
  th_define(r, "TDCK", td_check_task, 1);
  run(r, "TDLD", 0);
  expect_rc(63, g.rc[63], 0);
  cr_assert_eq(depth_of(r, "RTD"), 3);
  cr_assert_eq(depth_of(r, "PTD"), 3);
  return r;
}

Test(queue, td_recoverable_reads_go_back_in_order_at_rollback) {
  weft_region *r = td_read_region();
  run(r, "TDRB", 0);
  for (int i = 0; i < 5; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(g.got[0], "one");
  cr_assert_str_eq(g.got[1], "two");
  cr_assert_str_eq(g.got[2], "one");
  cr_assert_str_eq(g.got[3], "two");
  expect_rc(5, g.rc[5], WEFT_EEMPTY);
  cr_assert_str_eq(g.got[5], "one,two,three,", "RTD after the rollback: %s", g.got[5]);
  expect_rc(6, g.rc[6], WEFT_EEMPTY);
  cr_assert_str_eq(g.got[6], "three,", "PTD reads are final: %s", g.got[6]);
  expect_rc(7, g.rc[7], 0);
  cr_assert_eq(depth_of(r, "RTD"), 3);
  cr_assert_eq(depth_of(r, "PTD"), 0);
  run(r, "TDCK", 0);
  cr_assert_str_eq(g.got[10], "one,two,three,");
  cr_assert_str_eq(g.got[11], "");
  th_finish(r);
}

Test(queue, td_recoverable_reads_go_back_at_abend) {
  weft_region *r = td_read_region();
  run(r, "TDRB", 1);
  for (int i = 0; i < 4; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_eq(depth_of(r, "RTD"), 3);
  cr_assert_eq(depth_of(r, "PTD"), 1);
  run(r, "TDCK", 0);
  cr_assert_str_eq(g.got[10], "one,two,three,");
  cr_assert_str_eq(g.got[11], "three,");
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 1);
}

static void td_commit_reads_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tdr(t, "RTD", c->got[0]);
  c->rc[1] = weft_syncpoint(t);
  c->rc[2] = tdr(t, "RTD", c->got[2]);
  c->rc[3] = weft_rollback(t);
}

/* A committed read is final; only the later one goes back. */
Test(queue, td_recoverable_reads_are_final_at_syncpoint) {
  weft_region *r = td_read_region();
  th_define(r, "TDCR", td_commit_reads_task, 1);
  run(r, "TDCR", 0);
  for (int i = 0; i < 4; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(g.got[0], "one");
  cr_assert_str_eq(g.got[2], "two");
  cr_assert_eq(depth_of(r, "RTD"), 2);
  run(r, "TDCK", 0);
  cr_assert_str_eq(g.got[10], "two,three,");
  th_finish(r);
}

static void td_write_abend_task(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tdw(t, "RTD", "lost");
  c->rc[1] = tdw(t, "PTD", "kept");
  weft_abend(t, "UTDW");
}

Test(queue, td_recoverable_writes_dropped_at_abend) {
  weft_region *r = td_read_region();
  th_define(r, "TDWA", td_write_abend_task, 1);
  run(r, "TDWA", 0);
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], 0);
  cr_assert_eq(depth_of(r, "RTD"), 3);
  cr_assert_eq(depth_of(r, "PTD"), 4);
  run(r, "TDCK", 0);
  cr_assert_str_eq(g.got[10], "one,two,three,");
  cr_assert_str_eq(g.got[11], "one,two,three,kept,");
  th_finish(r);
}

/* A recoverable queue's read end is held by the reading UOW: another
 * reader waits for its syncpoint, then gets the next item (one worker; the
 * changer/reader/probe scheme of test_file.c). */
static void td_holder(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[0] = tdr(t, "RTD", c->got[0]);
  atomic_store(&c->changed, 1);
  c->rc[1] = weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  atomic_store(&c->chg_ending, 1);
}

static void td_reader(weft_task *t) {
  q_ctx *c = TH_CTX(t, q_ctx);
  c->rc[10] = tdr(t, "RTD", c->got[10]);
  atomic_store(&c->rdr_saw_ending, atomic_load(&c->chg_ending));
  atomic_store(&c->rdr_done, 1);
}

Test(queue, td_recoverable_read_end_is_held_until_syncpoint) {
  weft_region *r = th_region(1, 16);
  tdq(r, "RTD", 1, 0, NULL);
  tdq(r, "PTD", 0, 0, NULL);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "TDLD", td_load_task, 1);
  th_define(r, "HOLD", td_holder, 1);
  th_define(r, "RDR", td_reader, 1);
  th_define(r, "PROBE", q_probe, 1);
  run(r, "TDLD", 0);
  th_start(r, "HOLD", &g, 0);
  th_wait_until(atomic_load(&g.changed));
  th_start(r, "RDR", &g, 0);
  th_start(r, "PROBE", &g, 0);
  th_wait_until(atomic_load(&g.probe_ran));
  cr_assert_eq(weft_event_post(g.release), 0);
  th_wait_ended(r, 4);
  th_finish(r);
  weft_event_destroy(g.release);
  expect_rc(0, g.rc[0], 0);
  cr_assert_str_eq(g.got[0], "one");
  cr_assert_eq(atomic_load(&g.probe_saw_done), 0, "the second reader did not wait");
  cr_assert_eq(atomic_load(&g.rdr_saw_ending), 1);
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "two");
}

/* ------------------------------------------------------------------------ */
/* ATI                                                                       */
/* ------------------------------------------------------------------------ */

/* The triggered transaction: checks its start data, waits at the gate,
 * reads one item (idx unused) and ends. */
static void triggered(weft_task *t) {
  q_ctx *c = &g; /* its start data is the queue name, not a th_arg */
  int now = atomic_fetch_add(&c->trig_running, 1) + 1;
  int max = atomic_load(&c->trig_max_running);
  while (now > max && !atomic_compare_exchange_weak(&c->trig_max_running, &max, now))
    ;
  atomic_fetch_add(&c->trig_started, 1);
  const void *data = NULL;
  size_t len = 0;
  int rc = weft_retrieve(t, &data, &len);
  const char *qn = "ATIQ";
  size_t qlen = strlen(qn);
  int ok = rc == 0 && data != NULL &&
           (len == qlen || (len == qlen + 1 && ((const char *)data)[qlen] == 0)) &&
           memcmp(data, qn, qlen) == 0;
  if (!ok) {
    atomic_fetch_add(&c->trig_bad_data, 1);
    if (rc == 0 && data != NULL)
      memcpy(c->trig_data, data, len < sizeof c->trig_data - 1 ? len : sizeof c->trig_data - 1);
  }
  weft_event_wait(t, c->trig_gate, WEFT_WAIT_FOREVER);
  char buf[64];
  rc = tdr(t, qn, buf);
  if (rc != 0)
    atomic_store(&c->trig_read_rc, rc);
  atomic_fetch_sub(&c->trig_running, 1);
  atomic_fetch_add(&c->trig_done, 1);
}

/* Writes idx items to ATIQ; with recoverable queues waits for `release`
 * before ending (the commit). */
static void ati_writer(weft_task *t) {
  th_arg a = th_arg_of(t);
  q_ctx *c = a.ctx;
  for (long i = 0; i < a.idx; i++) {
    int rc = tdw(t, "ATIQ", "item");
    if (rc != 0)
      c->rc[30] = rc;
  }
  if (c->release != NULL) {
    atomic_store(&c->writer_waiting, 1);
    weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  }
}

static weft_region *ati_region(int recoverable) {
  weft_region *r = th_region(2, 16);
  cr_assert_eq(weft_event_create(&g.trig_gate), 0);
  th_define(r, "TRIG", triggered, 1);
  th_define(r, "WRITER", ati_writer, 1);
  tdq(r, "ATIQ", recoverable, 2, "TRIG");
  return r;
}

/* Live tasks (admitted or waiting for admission). */
static uint32_t live(weft_region *r) {
  weft_region_stats s = th_stats(r);
  return s.active + s.queued + s.delayed;
}

static void ati_finish(weft_region *r) {
  th_finish(r);
  weft_event_destroy(g.trig_gate);
  if (g.release != NULL)
    weft_event_destroy(g.release);
  cr_assert_eq(atomic_load(&g.trig_bad_data), 0, "start data was \"%s\", not the queue name",
               g.trig_data);
  cr_assert_eq(atomic_load(&g.trig_read_rc), 0, "a triggered task read %s",
               weft_err_name(atomic_load(&g.trig_read_rc)));
  cr_assert_eq(atomic_load(&g.trig_max_running), 1, "%d triggered tasks ran at once",
               atomic_load(&g.trig_max_running));
}

/* Level 2: one item starts nothing; the second starts TRIG once; more items
 * while it runs start nothing more; each time it ends with depth >= 2 it is
 * started again. */
Test(queue, td_trigger_level_starts_one_task_at_a_time) {
  weft_region *r = ati_region(0);
  run(r, "WRITER", 1);
  cr_assert_eq(live(r), 0, "one item below the trigger level started a task");
  cr_assert_eq(atomic_load(&g.trig_started), 0);
  th_start(r, "WRITER", &g, 2); /* depth 3 */
  th_wait_until(atomic_load(&g.trig_started) >= 1);
  th_wait_ended(r, 2);          /* both writers */
  run(r, "WRITER", 1);          /* depth 4 while TRIG #1 runs */
  expect_rc(30, g.rc[30], 0);
  cr_assert_eq(live(r), 1, "a second task was triggered while the first ran");
  cr_assert_eq(atomic_load(&g.trig_started), 1);
  cr_assert_eq(depth_of(r, "ATIQ"), 4);
  /* Each run reads one item: 4 -> 3, 2 (retriggered twice), then 1 < 2. */
  cr_assert_eq(weft_event_post(g.trig_gate), 0);
  th_wait_until(atomic_load(&g.trig_done) == 3);
  th_wait_until(live(r) == 0);
  cr_assert_eq(depth_of(r, "ATIQ"), 1);
  cr_assert_eq(atomic_load(&g.trig_started), 3);
  /* Reaching the level again starts it again. */
  run(r, "WRITER", 1);
  th_wait_until(atomic_load(&g.trig_done) == 4);
  th_wait_until(live(r) == 0);
  cr_assert_eq(depth_of(r, "ATIQ"), 1);
  cr_assert_eq(atomic_load(&g.trig_started), 4);
  ati_finish(r);
}

/* A recoverable queue counts only committed items: no trigger before the
 * writer's commit. */
Test(queue, td_trigger_waits_for_the_commit) {
  weft_region *r = ati_region(1);
  cr_assert_eq(weft_event_create(&g.release), 0);
  cr_assert_eq(weft_event_post(g.trig_gate), 0);
  th_start(r, "WRITER", &g, 3);
  th_wait_until(atomic_load(&g.writer_waiting));
  cr_assert_eq(live(r), 1, "uncommitted items triggered a task");
  cr_assert_eq(atomic_load(&g.trig_started), 0);
  cr_assert_eq(depth_of(r, "ATIQ"), 0);
  cr_assert_eq(weft_event_post(g.release), 0);
  /* 3 -> 2 (retrigger) -> 1. */
  th_wait_until(atomic_load(&g.trig_done) == 2);
  th_wait_until(live(r) == 0);
  expect_rc(30, g.rc[30], 0);
  cr_assert_eq(atomic_load(&g.trig_started), 2);
  cr_assert_eq(depth_of(r, "ATIQ"), 1);
  ati_finish(r);
}
