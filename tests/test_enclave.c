/* test_enclave.c - enclaves: definitions and refusals, classification
 * (CLASSIFY, JOIN, NEW, transient enclaves), accounting invariants, task and
 * interval records, the records file, importance-ordered dispatch (SYSTEM,
 * discretionary, FIFO mode), aging, max_active and the goal policy loop.
 *
 * Every region here collects its task and interval records into g_log (the
 * callbacks run on workers and on the monitor thread and only copy); the
 * host thread asserts on them, mostly after weft_region_shutdown, when no
 * callback can run any more. */
#include "helpers.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

TestSuite(enclave, .timeout = TH_TEST_TIMEOUT);

#define MS_NS 1000000ull

/* ------------------------------------------------------------------------ */
/* Record collection                                                         */
/* ------------------------------------------------------------------------ */

#define MAX_TREC 4096
#define MAX_IREC 8192

typedef struct rec_log {
  atomic_int t_claimed; /* task records: slots taken */
  atomic_int t_done;    /* task records: slots filled */
  weft_task_record trec[MAX_TREC];
  atomic_int i_claimed; /* interval records */
  atomic_int i_done;
  weft_interval_record irec[MAX_IREC];
  /* Read as each interval record arrives (when set before the region is
   * created): how many tasks had ended, whether the creator had released. */
  atomic_long *probe_ended;
  atomic_int *probe_released;
  long ended_at[MAX_IREC];
  int released_at[MAX_IREC];
} rec_log;

static rec_log g_log;

static void on_task_record(void *ctx, const weft_task_record *rec) {
  rec_log *l = ctx;
  int i = atomic_fetch_add(&l->t_claimed, 1);
  if (i < MAX_TREC)
    l->trec[i] = *rec;
  atomic_fetch_add(&l->t_done, 1);
}

static void on_interval_record(void *ctx, const weft_interval_record *rec) {
  rec_log *l = ctx;
  int i = atomic_fetch_add(&l->i_claimed, 1);
  if (i < MAX_IREC) {
    l->irec[i] = *rec;
    l->ended_at[i] = l->probe_ended != NULL ? atomic_load(l->probe_ended) : -1;
    l->released_at[i] = l->probe_released != NULL ? atomic_load(l->probe_released) : -1;
  }
  atomic_fetch_add(&l->i_done, 1);
}

static int n_trecs(void) {
  int n = atomic_load(&g_log.t_done);
  return n < MAX_TREC ? n : MAX_TREC;
}

static int n_irecs(void) {
  int n = atomic_load(&g_log.i_done);
  return n < MAX_IREC ? n : MAX_IREC;
}

/* The task record of task number no, or NULL. */
static const weft_task_record *trec_of(uint64_t no) {
  for (int i = 0; i < n_trecs(); i++)
    if (g_log.trec[i].task_no == no)
      return &g_log.trec[i];
  return NULL;
}

/* Interval records of transient enclave id: how many were final, and the sum
 * of tasks_completed / tasks_started over all of them (a transient may also
 * get ordinary interval records while it lives). *final_idx: the index of the
 * (last) final one, -1 if none. */
typedef struct transient_sum {
  int finals;
  int final_idx;
  uint64_t completed, started;
} transient_sum;

static transient_sum transient_records(uint64_t id) {
  transient_sum s = {0, -1, 0, 0};
  for (int i = 0; i < n_irecs(); i++) {
    const weft_interval_record *ir = &g_log.irec[i];
    if (ir->s.enclave_id != id)
      continue;
    s.completed += ir->s.tasks_completed;
    s.started += ir->s.tasks_started;
    if (ir->final) {
      s.finals++;
      s.final_idx = i;
    }
  }
  return s;
}

static int final_seen(uint64_t id) {
  return transient_records(id).finals > 0;
}

/* Every interval record so far is a sane interval: end >= start, shorter
 * than any test runs, and the records of one enclave (name and id) do not
 * overlap. Host thread, after shutdown. */
static int cmp_irec_end(const void *a, const void *b) {
  const weft_interval_record *x = *(const weft_interval_record *const *)a;
  const weft_interval_record *y = *(const weft_interval_record *const *)b;
  int c = strcmp(x->s.name, y->s.name);
  if (c != 0)
    return c;
  if (x->s.enclave_id != y->s.enclave_id)
    return x->s.enclave_id < y->s.enclave_id ? -1 : 1;
  return x->end_ns < y->end_ns ? -1 : x->end_ns > y->end_ns;
}

static void expect_sane_intervals(void) {
  static const weft_interval_record *sorted[MAX_IREC];
  int n = n_irecs();
  for (int i = 0; i < n; i++) {
    const weft_interval_record *ir = &g_log.irec[i];
    sorted[i] = ir;
    cr_assert_geq(ir->end_ns, ir->start_ns, "%s/%llu: interval ends before it starts", ir->s.name,
                  (unsigned long long)ir->s.enclave_id);
    cr_assert_lt(ir->end_ns - ir->start_ns, 60000 * MS_NS,
                 "%s/%llu%s: an interval of %.3f s (start_ns %llu, end_ns %llu)", ir->s.name,
                 (unsigned long long)ir->s.enclave_id, ir->final ? " (final)" : "",
                 (ir->end_ns - ir->start_ns) / 1e9, (unsigned long long)ir->start_ns,
                 (unsigned long long)ir->end_ns);
  }
  qsort(sorted, (size_t)n, sizeof sorted[0], cmp_irec_end);
  for (int i = 1; i < n; i++) {
    const weft_interval_record *a = sorted[i - 1], *b = sorted[i];
    if (strcmp(a->s.name, b->s.name) != 0 || a->s.enclave_id != b->s.enclave_id)
      continue;
    cr_assert_geq(b->start_ns, a->end_ns, "%s/%llu: intervals overlap", b->s.name,
                  (unsigned long long)b->s.enclave_id);
  }
}

/* ------------------------------------------------------------------------ */
/* Regions, definitions, starts                                              */
/* ------------------------------------------------------------------------ */

/* workers, dispatch mode, no runaway limit (tasks spin), records to g_log. */
static weft_region_config ecfg(unsigned workers, int mode) {
  weft_region_config cfg = th_config(workers, 1024);
  cfg.dispatch_mode = mode;
  cfg.runaway_ms = WEFT_OFF;
  cfg.task_record_fn = on_task_record;
  cfg.interval_record_fn = on_interval_record;
  cfg.record_ctx = &g_log;
  return cfg;
}

static void def_enclave(weft_region *r, const char *name, int importance, int goal_type,
                        unsigned goal_ms, unsigned goal_percent, unsigned max_active) {
  weft_enclave_def d = {name, importance, goal_type, goal_ms, goal_percent, max_active};
  int rc = weft_enclave_define(r, &d);
  cr_assert_eq(rc, 0, "weft_enclave_define(%s): %s", name, weft_err_name(rc));
}

/* Program `tranid` (fn) and transaction `tranid` in enclave (NULL: default). */
static void def_tx(weft_region *r, const char *tranid, weft_program_fn fn, int priority,
                   const char *enclave) {
  th_program(r, tranid, fn);
  weft_transaction_def d = {.tranid = tranid,
                            .program = tranid,
                            .priority = priority,
                            .runaway_ms = 0,
                            .enclave = enclave};
  int rc = weft_transaction_define(r, &d);
  cr_assert_eq(rc, 0, "weft_transaction_define(%s in %s): %s", tranid, enclave ? enclave : "(null)",
               weft_err_name(rc));
}

static int try_start_in(weft_region *r, const char *tranid, void *ctx, long idx, int priority,
                        int membership, const char *enclave, weft_enclave *transient,
                        uint64_t *no) {
  th_arg a = {ctx, idx};
  weft_start_opts o;
  weft_start_opts_init(&o);
  if (priority != WEFT_PRIORITY_DEFAULT) {
    o.flags = WEFT_START_PRIORITY;
    o.priority = priority;
  }
  o.membership = membership;
  o.enclave = enclave;
  o.transient = transient;
  return weft_start(r, tranid, &a, sizeof a, &o, no);
}

static uint64_t start_in(weft_region *r, const char *tranid, void *ctx, long idx, int priority,
                         int membership, const char *enclave, weft_enclave *transient) {
  uint64_t no = 0;
  int rc = try_start_in(r, tranid, ctx, idx, priority, membership, enclave, transient, &no);
  cr_assert_eq(rc, 0, "weft_start(%s #%ld): %s", tranid, idx, weft_err_name(rc));
  return no;
}

static weft_enclave_stats est(weft_region *r, const char *name) {
  weft_enclave_stats s;
  memset(&s, 0, sizeof s);
  int rc = weft_enclave_stats_get(r, name, &s);
  cr_assert_eq(rc, 0, "weft_enclave_stats_get(%s): %s", name, weft_err_name(rc));
  return s;
}

static weft_enclave_stats est_of(weft_enclave *e) {
  weft_enclave_stats s;
  memset(&s, 0, sizeof s);
  int rc = weft_transient_stats_get(e, &s);
  cr_assert_eq(rc, 0, "weft_transient_stats_get: %s", weft_err_name(rc));
  return s;
}

static weft_enclave_stats tx_stats(weft_region *r, const char *tranid) {
  weft_enclave_stats s;
  memset(&s, 0, sizeof s);
  int rc = weft_transaction_stats_get(r, tranid, &s);
  cr_assert_eq(rc, 0, "weft_transaction_stats_get(%s): %s", tranid, weft_err_name(rc));
  return s;
}

/* Shut down normally (the region stays readable until destroy). */
static void shut(weft_region *r) {
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "weft_region_shutdown: %s", weft_err_name(rc));
}

static void spin_us(long us) {
  int64_t end = th_now_us() + us;
  while (th_now_us() < end)
    YieldProcessor();
}

static uint64_t absdiff(uint64_t a, uint64_t b) {
  return a > b ? a - b : b - a;
}

/* ------------------------------------------------------------------------ */
/* Definitions                                                               */
/* ------------------------------------------------------------------------ */

static void noop(weft_task *t) {
  (void)t;
}

Test(enclave, define_and_read_back) {
  weft_region *r = th_region(1, 16);
  def_enclave(r, "ONLINE", 2, WEFT_GOAL_PERCENTILE, 50, 90, 0);
  def_enclave(r, "BATCH", 5, WEFT_GOAL_AVERAGE, 2000, 0, 4);
  def_enclave(r, "SYS", WEFT_IMPORTANCE_SYSTEM, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "DISC", WEFT_IMPORTANCE_DISCRETIONARY, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "EIGHTCHR", 1, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "online", 4, WEFT_GOAL_NONE, 0, 0, 0); /* names are case-sensitive */
  def_enclave(r, "EDGE1", 3, WEFT_GOAL_PERCENTILE, 1, 1, 0);
  def_enclave(r, "EDGE2", 3, WEFT_GOAL_PERCENTILE, 3600000, 99, 0);

  weft_enclave_stats s = est(r, "ONLINE");
  cr_assert_str_eq(s.name, "ONLINE");
  cr_assert_eq(s.importance, 2);
  cr_assert_eq(s.goal_type, WEFT_GOAL_PERCENTILE);
  cr_assert_eq(s.goal_ms, 50);
  cr_assert_eq(s.goal_percent, 90);
  cr_assert_eq(s.enclave_id, 0, "a defined enclave has id 0");
  cr_assert_eq(s.tasks_started, 0);
  cr_assert_eq(s.tasks_completed, 0);
  cr_assert_eq(s.dispatches, 0);
  cr_assert_eq(s.dispatch_ns, 0);
  cr_assert_eq(s.active, 0);
  cr_assert_eq(s.responses, 0);

  s = est(r, "BATCH");
  cr_assert_eq(s.importance, 5);
  cr_assert_eq(s.goal_type, WEFT_GOAL_AVERAGE);
  cr_assert_eq(s.goal_ms, 2000);
  cr_assert_eq(est(r, "online").importance, 4);
  cr_assert_str_eq(est(r, "EIGHTCHR").name, "EIGHTCHR");

  s = est(r, WEFT_DEFAULT_ENCLAVE);
  cr_assert_str_eq(s.name, "DEFAULT");
  cr_assert_eq(s.importance, 3);
  cr_assert_eq(s.goal_type, WEFT_GOAL_NONE);

  /* Bands: 7 for SYSTEM, 0 for discretionary, importance in between. */
  int sys = est(r, "SYS").dispatch_priority;
  int disc = est(r, "DISC").dispatch_priority;
  int imp1 = est(r, "EIGHTCHR").dispatch_priority;
  int imp2 = est(r, "ONLINE").dispatch_priority;
  int imp3 = est(r, WEFT_DEFAULT_ENCLAVE).dispatch_priority;
  int imp5 = est(r, "BATCH").dispatch_priority;
  cr_assert_eq(sys, 7, "SYSTEM band %d", sys);
  cr_assert_eq(disc, 0, "discretionary band %d", disc);
  cr_assert(sys > imp1 && imp1 > imp2 && imp2 > imp3 && imp3 > imp5 && imp5 > disc,
            "bands by importance: sys %d imp1 %d imp2 %d imp3 %d imp5 %d disc %d", sys, imp1, imp2,
            imp3, imp5, disc);

  /* Lookups that fail. */
  cr_assert_eq(weft_enclave_stats_get(r, "NOPE", &s), WEFT_ENOTFOUND);
  cr_assert_eq(weft_enclave_stats_get(r, "Online", &s), WEFT_ENOTFOUND);
  cr_assert_eq(weft_enclave_stats_get(r, NULL, &s), WEFT_EINVAL);
  cr_assert_eq(weft_enclave_stats_get(NULL, "ONLINE", &s), WEFT_EINVAL);
  cr_assert_eq(weft_enclave_stats_get(r, "ONLINE", NULL), WEFT_EINVAL);
  cr_assert_eq(weft_transaction_stats_get(r, "NOTRAN", &s), WEFT_ENOTFOUND);
  th_finish(r);
}

/* Asserts def is refused with want and that nothing named def->name exists. */
static void expect_refused(weft_region *r, weft_enclave_def d, int want, const char *what) {
  int rc = weft_enclave_define(r, &d);
  cr_assert_eq(rc, want, "%s: got %s, expected %s", what, weft_err_name(rc), weft_err_name(want));
  weft_enclave_stats s;
  if (d.name != NULL && want != WEFT_EEXIST && want != WEFT_EBADNAME)
    cr_assert_eq(weft_enclave_stats_get(r, d.name, &s), WEFT_ENOTFOUND, "%s: it was defined", what);
}

Test(enclave, define_refusals) {
  weft_region *r = th_region(1, 16);
  def_enclave(r, "GOOD", 3, WEFT_GOAL_AVERAGE, 100, 0, 0);
  weft_enclave_def ok = {"X", 3, WEFT_GOAL_NONE, 0, 0, 0};
  weft_enclave_def d;

  d = ok, d.name = "GOOD";
  expect_refused(r, d, WEFT_EEXIST, "duplicate");
  d = ok, d.name = WEFT_DEFAULT_ENCLAVE;
  expect_refused(r, d, WEFT_EEXIST, "redefining DEFAULT");

  static const char *const bad_names[] = {"", "NINECHARS", "A B", "TAB\t", "DEL\x7f", "\xe9t\xe9"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    d = ok, d.name = bad_names[i];
    expect_refused(r, d, WEFT_EBADNAME, bad_names[i]);
  }

  cr_assert_eq(weft_enclave_define(r, NULL), WEFT_EINVAL);
  cr_assert_eq(weft_enclave_define(NULL, &ok), WEFT_EINVAL);
  d = ok, d.name = NULL;
  expect_refused(r, d, WEFT_EINVAL, "NULL name");

  d = ok, d.name = "IMP7", d.importance = 7;
  expect_refused(r, d, WEFT_ERANGE, "importance 7");
  d = ok, d.name = "IMPM1", d.importance = -1;
  expect_refused(r, d, WEFT_ERANGE, "importance -1");
  d = ok, d.name = "IMP100", d.importance = 100;
  expect_refused(r, d, WEFT_ERANGE, "importance 100");

  d = ok, d.name = "GT3", d.goal_type = 3, d.goal_ms = 10;
  expect_refused(r, d, WEFT_ERANGE, "goal type 3");
  d = ok, d.name = "GTM1", d.goal_type = -1, d.goal_ms = 10;
  expect_refused(r, d, WEFT_ERANGE, "goal type -1");
  d = ok, d.name = "AVG0", d.goal_type = WEFT_GOAL_AVERAGE, d.goal_ms = 0;
  expect_refused(r, d, WEFT_ERANGE, "average goal of 0 ms");
  d = ok, d.name = "AVGBIG", d.goal_type = WEFT_GOAL_AVERAGE, d.goal_ms = 3600001;
  expect_refused(r, d, WEFT_ERANGE, "average goal of 3600001 ms");
  d = ok, d.name = "PCT0MS", d.goal_type = WEFT_GOAL_PERCENTILE, d.goal_ms = 0, d.goal_percent = 90;
  expect_refused(r, d, WEFT_ERANGE, "percentile goal of 0 ms");
  d = ok, d.name = "PCT0", d.goal_type = WEFT_GOAL_PERCENTILE, d.goal_ms = 10, d.goal_percent = 0;
  expect_refused(r, d, WEFT_ERANGE, "percentile 0");
  d = ok, d.name = "PCT100", d.goal_type = WEFT_GOAL_PERCENTILE, d.goal_ms = 10,
  d.goal_percent = 100;
  expect_refused(r, d, WEFT_ERANGE, "percentile 100");
  d = ok, d.name = "PCT101", d.goal_type = WEFT_GOAL_PERCENTILE, d.goal_ms = 10,
  d.goal_percent = 101;
  expect_refused(r, d, WEFT_ERANGE, "percentile 101");

  /* A transaction naming an enclave that does not exist (or was refused). */
  th_program(r, "PROG", noop);
  weft_transaction_def td = {.tranid = "T1", .program = "PROG", .priority = 1, .enclave = "NOPE"};
  cr_assert_eq(weft_transaction_define(r, &td), WEFT_ENOTFOUND);
  td.enclave = "IMP7";
  cr_assert_eq(weft_transaction_define(r, &td), WEFT_ENOTFOUND);
  td.enclave = "good"; /* case-sensitive */
  cr_assert_eq(weft_transaction_define(r, &td), WEFT_ENOTFOUND);
  cr_assert_eq(weft_start(r, "T1", NULL, 0, NULL, NULL), WEFT_ENOTRAN, "T1 was defined");
  td.enclave = "GOOD";
  cr_assert_eq(weft_transaction_define(r, &td), 0);

  /* Transient enclaves of a class that does not exist. */
  weft_enclave *e = NULL;
  cr_assert_eq(weft_enclave_create(r, "NOPE", &e), WEFT_ENOTFOUND);

  /* A start overriding the enclave with one that does not exist. */
  weft_start_opts o;
  weft_start_opts_init(&o);
  cr_assert_eq(o.membership, WEFT_MEMBER_CLASSIFY);
  cr_assert_null(o.enclave);
  cr_assert_null(o.transient);
  o.enclave = "NOPE";
  int rc = weft_start(r, "T1", NULL, 0, &o, NULL);
  cr_assert_lt(rc, 0, "a start into enclave NOPE was accepted");
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_started, 0);
}

Test(enclave, bad_dispatch_mode_refused) {
  static const int modes[] = {3, -1, 100};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    weft_region_config cfg = th_config(1, 16);
    cfg.dispatch_mode = modes[i];
    weft_region *r = NULL;
    int rc = weft_region_create(&cfg, &r);
    cr_assert_eq(rc, WEFT_EINVAL, "dispatch_mode %d: %s", modes[i], weft_err_name(rc));
  }
  weft_region_config cfg;
  memset(&cfg, 0x5a, sizeof cfg);
  weft_region_config_init(&cfg);
  cr_assert_eq(cfg.dispatch_mode, WEFT_DISPATCH_GOAL);
  cr_assert_eq(cfg.accounting, 1);
  cr_assert_eq(cfg.policy_interval_ms, 250);
  cr_assert_eq(cfg.aging_ms, 100);
  cr_assert_null(cfg.task_record_fn);
  cr_assert_null(cfg.interval_record_fn);
  cr_assert_null(cfg.record_path);
}

/* ------------------------------------------------------------------------ */
/* Classification                                                            */
/* ------------------------------------------------------------------------ */

#define CLS_MAX 32

typedef struct cls_ctx {
  uint64_t no[CLS_MAX];                  /* the task number it saw */
  weft_enclave *enc[CLS_MAX];            /* weft_task_enclave */
  char name[CLS_MAX][WEFT_NAME_MAX + 1]; /* weft_transient_stats_get(...).name */
  uint64_t id[CLS_MAX];                  /* weft_transient_stats_get(...).enclave_id */
  int noted[CLS_MAX];
  weft_event *go;     /* JWAIT tasks wait for it */
  atomic_int waiting; /* JWAIT tasks about to wait */
  atomic_long ended;  /* tasks about to return */
  atomic_long bad;    /* failed calls inside tasks */
} cls_ctx;

static cls_ctx g_cls;

/* Record what task idx sees of its enclave. */
static void note_enclave(weft_task *t, cls_ctx *c, long idx) {
  if (idx < 0 || idx >= CLS_MAX) {
    atomic_fetch_add(&c->bad, 1);
    return;
  }
  c->no[idx] = weft_task_number(t);
  weft_enclave *e = weft_task_enclave(t);
  c->enc[idx] = e;
  weft_enclave_stats s;
  memset(&s, 0, sizeof s);
  if (e == NULL || weft_transient_stats_get(e, &s) != 0)
    atomic_fetch_add(&c->bad, 1);
  memcpy(c->name[idx], s.name, sizeof c->name[idx]);
  c->id[idx] = s.enclave_id;
  c->noted[idx] = 1;
}

static void note_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  cls_ctx *c = a.ctx;
  note_enclave(t, c, a.idx);
  atomic_fetch_add(&c->ended, 1);
}

Test(enclave, classification_by_transaction_and_override) {
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "EA", 2, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "EB", 4, WEFT_GOAL_AVERAGE, 1000, 0, 0);
  def_enclave(r, "EC", 1, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TA", note_task, 10, "EA");
  def_tx(r, "TN", note_task, 10, NULL);
  /* idx: 0-2 TA; 3-4 TN; 5-8 TA into EB; 9 TN into EC; 10 TA into DEFAULT. */
  for (long i = 0; i <= 2; i++)
    start_in(r, "TA", &g_cls, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  for (long i = 3; i <= 4; i++)
    start_in(r, "TN", &g_cls, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  for (long i = 5; i <= 8; i++)
    start_in(r, "TA", &g_cls, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, "EB", NULL);
  start_in(r, "TN", &g_cls, 9, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, "EC", NULL);
  start_in(r, "TA", &g_cls, 10, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, WEFT_DEFAULT_ENCLAVE,
           NULL);
  th_wait_count(&g_cls.ended, 11);
  th_wait_until(atomic_load(&g_log.t_done) >= 11);
  shut(r);

  cr_assert_eq(atomic_load(&g_cls.bad), 0);
  static const char *const want[] = {"EA", "EA", "EA", "DEFAULT", "DEFAULT", "EB",
                                     "EB", "EB", "EB", "EC",      "DEFAULT"};
  static const char *const tranid[] = {"TA", "TA", "TA", "TN", "TN", "TA",
                                       "TA", "TA", "TA", "TN", "TA"};
  for (int i = 0; i <= 10; i++) {
    cr_assert_str_eq(g_cls.name[i], want[i], "task #%d is in %s, expected %s", i, g_cls.name[i],
                     want[i]);
    cr_assert_eq(g_cls.id[i], 0, "task #%d: enclave id %llu", i, (unsigned long long)g_cls.id[i]);
    const weft_task_record *rec = trec_of(g_cls.no[i]);
    cr_assert_not_null(rec, "no task record for task #%d", i);
    cr_assert_str_eq(rec->enclave, want[i], "record of task #%d: enclave %s", i, rec->enclave);
    cr_assert_eq(rec->enclave_id, 0);
    cr_assert_str_eq(rec->tranid, tranid[i]);
    cr_assert_str_eq(rec->abcode, "");
  }
  /* The same enclave object for the same class, different ones otherwise. */
  cr_assert(g_cls.enc[0] == g_cls.enc[1] && g_cls.enc[1] == g_cls.enc[2]);
  cr_assert(g_cls.enc[3] == g_cls.enc[4] && g_cls.enc[4] == g_cls.enc[10]);
  cr_assert(g_cls.enc[5] == g_cls.enc[8]);
  cr_assert(g_cls.enc[0] != g_cls.enc[3] && g_cls.enc[0] != g_cls.enc[5] &&
            g_cls.enc[3] != g_cls.enc[5] && g_cls.enc[9] != g_cls.enc[0]);

  weft_enclave_stats s = est(r, "EA");
  cr_assert_eq(s.tasks_started, 3, "EA started %llu", (unsigned long long)s.tasks_started);
  cr_assert_eq(s.tasks_completed, 3);
  cr_assert_eq(s.active, 0);
  s = est(r, "EB");
  cr_assert_eq(s.tasks_started, 4, "EB started %llu", (unsigned long long)s.tasks_started);
  cr_assert_eq(s.tasks_completed, 4);
  cr_assert_eq(s.responses, 4);
  s = est(r, "EC");
  cr_assert_eq(s.tasks_completed, 1);
  s = est(r, WEFT_DEFAULT_ENCLAVE);
  cr_assert_eq(s.tasks_started, 3, "DEFAULT started %llu", (unsigned long long)s.tasks_started);
  cr_assert_eq(s.tasks_completed, 3);
  /* Transaction figures cover all its tasks, whatever their enclave. */
  s = tx_stats(r, "TA");
  cr_assert_eq(s.tasks_started, 8, "TA started %llu", (unsigned long long)s.tasks_started);
  cr_assert_eq(s.tasks_completed, 8);
  s = tx_stats(r, "TN");
  cr_assert_eq(s.tasks_completed, 3);
  weft_region_destroy(r);
}

/* The parent (TP, in EA) starts TC (in EB) with every membership. */
static void parent_starts_members(weft_task *t) {
  th_arg a = th_arg_of(t);
  cls_ctx *c = a.ctx;
  note_enclave(t, c, 0);
  static const struct {
    int membership;
    const char *enclave;
  } how[] = {
      {0, NULL},
      {WEFT_MEMBER_JOIN, NULL},     /* 1: EA, the parent's */
      {WEFT_MEMBER_CLASSIFY, NULL}, /* 2: EB, the tranid's */
      {WEFT_MEMBER_NEW, NULL},      /* 3: a new transient of class EB */
      {WEFT_MEMBER_CLASSIFY, "EC"}, /* 4: EC */
      {WEFT_MEMBER_JOIN, "EC"},     /* 5: EA: JOIN ignores the override */
      {WEFT_MEMBER_NEW, "EC"},      /* 6: a new transient of class EC */
  };
  for (long i = 1; i <= 6; i++) {
    th_arg ca = {c, i};
    weft_start_opts o;
    weft_start_opts_init(&o);
    o.membership = how[i].membership;
    o.enclave = how[i].enclave;
    if (weft_start(weft_task_region(t), "TC", &ca, sizeof ca, &o, NULL) != 0)
      atomic_fetch_add(&c->bad, 1);
  }
  atomic_fetch_add(&c->ended, 1);
}

Test(enclave, membership_join_classify_new_from_a_task) {
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "EA", 2, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "EB", 4, WEFT_GOAL_AVERAGE, 1000, 0, 0);
  def_enclave(r, "EC", 1, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TP", parent_starts_members, 10, "EA");
  def_tx(r, "TC", note_task, 10, "EB");
  start_in(r, "TP", &g_cls, 0, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  th_wait_count(&g_cls.ended, 7);
  /* JOIN from a host thread classifies. */
  start_in(r, "TC", &g_cls, 7, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_JOIN, NULL, NULL);
  th_wait_count(&g_cls.ended, 8);
  th_wait_until(atomic_load(&g_log.t_done) >= 8);
  cr_assert_eq(atomic_load(&g_cls.bad), 0);
  cr_assert_neq(g_cls.id[3], 0, "MEMBER_NEW: enclave id 0");
  cr_assert_neq(g_cls.id[6], 0, "MEMBER_NEW: enclave id 0");
  cr_assert_neq(g_cls.id[3], g_cls.id[6]);
  uint64_t id3 = g_cls.id[3], id6 = g_cls.id[6];
  /* The final records of the two transients come once their task ended. */
  th_wait_until(final_seen(id3) && final_seen(id6));
  shut(r);

  weft_enclave *ea = g_cls.enc[0];
  cr_assert_eq(g_cls.enc[1], ea, "JOIN: child not in the parent's enclave");
  cr_assert_eq(g_cls.enc[5], ea, "JOIN with an enclave override: not the parent's");
  cr_assert_neq(g_cls.enc[2], ea);
  cr_assert_neq(g_cls.enc[3], ea);
  cr_assert_neq(g_cls.enc[3], g_cls.enc[2], "NEW: the class itself, not a new enclave");
  cr_assert_neq(g_cls.enc[6], g_cls.enc[4]);
  cr_assert_eq(g_cls.enc[7], g_cls.enc[2], "JOIN from a host thread did not classify");

  static const char *const want[] = {"EA", "EA", "EB", "EB", "EC", "EA", "EC", "EB"};
  static const int transient[] = {0, 0, 0, 1, 0, 0, 1, 0};
  for (int i = 0; i <= 7; i++) {
    const weft_task_record *rec = trec_of(g_cls.no[i]);
    cr_assert_not_null(rec, "no task record for task #%d", i);
    cr_assert_str_eq(rec->enclave, want[i], "task #%d: record enclave %s, expected %s", i,
                     rec->enclave, want[i]);
    cr_assert_eq(rec->enclave_id, transient[i] ? g_cls.id[i] : 0,
                 "task #%d: record enclave_id %llu", i, (unsigned long long)rec->enclave_id);
    if (!transient[i]) {
      cr_assert_str_eq(g_cls.name[i], want[i], "task #%d: stats_of name %s", i, g_cls.name[i]);
      cr_assert_eq(g_cls.id[i], 0);
    }
  }
  for (int k = 0; k < 2; k++) {
    uint64_t id = k ? id6 : id3;
    transient_sum ts = transient_records(id);
    cr_assert_eq(ts.finals, 1, "transient %llu: %d final records", (unsigned long long)id,
                 ts.finals);
    cr_assert_eq(ts.completed, 1, "transient %llu: %llu completions in its records",
                 (unsigned long long)id, (unsigned long long)ts.completed);
  }
  /* Defined enclaves count their own members; transients are apart. */
  weft_enclave_stats s = est(r, "EA");
  cr_assert_eq(s.tasks_completed, 3, "EA: %llu", (unsigned long long)s.tasks_completed);
  s = est(r, "EB");
  cr_assert_eq(s.tasks_completed, 2, "EB: %llu", (unsigned long long)s.tasks_completed);
  s = est(r, "EC");
  cr_assert_eq(s.tasks_completed, 1, "EC: %llu", (unsigned long long)s.tasks_completed);
  s = tx_stats(r, "TC");
  cr_assert_eq(s.tasks_completed, 7, "TC: %llu", (unsigned long long)s.tasks_completed);
  expect_sane_intervals();
  weft_region_destroy(r);
}

/* ------------------------------------------------------------------------ */
/* Transient enclaves                                                        */
/* ------------------------------------------------------------------------ */

/* Note the enclave, wait for the event, end. */
static void note_then_wait(weft_task *t) {
  th_arg a = th_arg_of(t);
  cls_ctx *c = a.ctx;
  note_enclave(t, c, a.idx);
  atomic_fetch_add(&c->waiting, 1);
  if (weft_event_wait(t, c->go, WEFT_WAIT_FOREVER) != 0)
    atomic_fetch_add(&c->bad, 1);
  weft_yield(t);
  atomic_fetch_add(&c->ended, 1);
}

/* Started with MEMBER_NEW: starts 4 JWAIT children that JOIN, and ends. */
static void new_parent(weft_task *t) {
  th_arg a = th_arg_of(t);
  cls_ctx *c = a.ctx;
  note_enclave(t, c, 0);
  for (long i = 1; i <= 4; i++) {
    th_arg ca = {c, i};
    weft_start_opts o;
    weft_start_opts_init(&o);
    o.membership = WEFT_MEMBER_JOIN;
    if (weft_start(weft_task_region(t), "JWAIT", &ca, sizeof ca, &o, NULL) != 0)
      atomic_fetch_add(&c->bad, 1);
  }
  atomic_fetch_add(&c->ended, 1);
}

static atomic_int g_released;

Test(enclave, member_new_transient_lives_until_its_last_task) {
  g_log.probe_ended = &g_cls.ended;
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_cls.go), 0);
  def_enclave(r, "EB", 4, WEFT_GOAL_AVERAGE, 1000, 0, 0);
  def_tx(r, "NEWP", new_parent, 10, "EB");
  def_tx(r, "JWAIT", note_then_wait, 10, NULL);
  start_in(r, "NEWP", &g_cls, 0, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_NEW, NULL, NULL);
  th_wait_until(atomic_load(&g_cls.waiting) == 4 && atomic_load(&g_cls.ended) == 1);
  th_wait_until(atomic_load(&g_log.t_done) >= 1); /* the parent has ended */
  uint64_t id = g_cls.id[0];
  cr_assert_neq(id, 0, "MEMBER_NEW from a host thread: enclave id 0");
  /* Its children hold the enclave: no final record yet. */
  cr_assert_eq(transient_records(id).finals, 0, "final record while 4 members live");
  cr_assert_eq(weft_event_post(g_cls.go), 0);
  th_wait_until(final_seen(id));
  th_wait_count(&g_cls.ended, 5);
  shut(r);

  cr_assert_eq(atomic_load(&g_cls.bad), 0);
  for (int i = 1; i <= 4; i++)
    cr_assert_eq(g_cls.enc[i], g_cls.enc[0], "child %d did not join the parent's transient", i);
  transient_sum ts = transient_records(id);
  cr_assert_eq(ts.finals, 1, "%d final records", ts.finals);
  cr_assert_eq(g_log.ended_at[ts.final_idx], 5, "final record when %ld of 5 tasks had ended",
               g_log.ended_at[ts.final_idx]);
  cr_assert_eq(ts.completed, 5, "%llu completions in its records",
               (unsigned long long)ts.completed);
  cr_assert_eq(g_log.irec[ts.final_idx].s.enclave_id, id);
  for (int i = 0; i <= 4; i++) {
    const weft_task_record *rec = trec_of(g_cls.no[i]);
    cr_assert_not_null(rec);
    cr_assert_eq(rec->enclave_id, id);
    cr_assert_str_eq(rec->enclave, "EB");
  }
  cr_assert_eq(est(r, "EB").tasks_started, 0, "a transient's tasks counted in its class");
  expect_sane_intervals();
  weft_region_destroy(r);
  weft_event_destroy(g_cls.go);
}

Test(enclave, transient_released_before_its_tasks_end) {
  enum { N = 6 };
  g_log.probe_ended = &g_cls.ended;
  g_log.probe_released = &g_released;
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_cls.go), 0);
  def_enclave(r, "BASE", 2, WEFT_GOAL_PERCENTILE, 500, 80, 0);
  def_tx(r, "TT", note_then_wait, 10, NULL);
  weft_enclave *e = NULL;
  cr_assert_eq(weft_enclave_create(r, "BASE", &e), 0);
  cr_assert_not_null(e);
  weft_enclave_stats s = est_of(e);
  uint64_t id = s.enclave_id;
  cr_assert_neq(id, 0, "a transient enclave has id 0");
  cr_assert_eq(s.importance, 2);
  cr_assert_eq(s.goal_type, WEFT_GOAL_PERCENTILE);
  cr_assert_eq(s.goal_ms, 500);
  cr_assert_eq(s.goal_percent, 80);
  for (long i = 0; i < N; i++)
    start_in(r, "TT", &g_cls, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, e);
  th_wait_until(atomic_load(&g_cls.waiting) == N);
  s = est_of(e);
  weft_enclave_stats live = s; /* asserted last: the lifecycle matters more */
  atomic_store(&g_released, 1);
  weft_enclave_release(e);
  cr_assert_eq(transient_records(id).finals, 0, "final record while %d members live", N);
  cr_assert_eq(weft_event_post(g_cls.go), 0);
  th_wait_until(final_seen(id));
  th_wait_count(&g_cls.ended, N);
  shut(r);

  cr_assert_eq(atomic_load(&g_cls.bad), 0);
  transient_sum ts = transient_records(id);
  cr_assert_eq(ts.finals, 1, "%d final records", ts.finals);
  cr_assert_eq(g_log.ended_at[ts.final_idx], N, "final record when %ld of %d tasks had ended",
               g_log.ended_at[ts.final_idx], N);
  cr_assert_eq(ts.completed, N, "%llu completions in its records",
               (unsigned long long)ts.completed);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(g_cls.enc[i], e, "task %d: weft_task_enclave is not the transient", i);
    cr_assert_eq(g_cls.id[i], id);
    const weft_task_record *rec = trec_of(g_cls.no[i]);
    cr_assert_not_null(rec);
    cr_assert_eq(rec->enclave_id, id);
    cr_assert_str_eq(rec->enclave, "BASE");
  }
  cr_assert_eq(est(r, "BASE").tasks_started, 0, "a transient's tasks counted in its class");
  cr_assert_eq(est(r, WEFT_DEFAULT_ENCLAVE).tasks_started, 0,
               "opts.transient did not override the tranid's enclave");
  expect_sane_intervals();
  weft_region_destroy(r);
  weft_event_destroy(g_cls.go);
  cr_assert_eq(live.active, N, "transient with %d members waiting: active %u", N, live.active);
}

Test(enclave, transient_outlives_its_tasks_until_released) {
  enum { N = 5 };
  g_log.probe_ended = &g_cls.ended;
  g_log.probe_released = &g_released;
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  cfg.policy_interval_ms = 20; /* interval records come and go meanwhile */
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "BASE", 3, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TT", note_task, 10, "BASE");
  weft_enclave *e = NULL;
  cr_assert_eq(weft_enclave_create(r, "BASE", &e), 0);
  uint64_t id = est_of(e).enclave_id;
  cr_assert_neq(id, 0);
  for (long i = 0; i < N; i++)
    start_in(r, "TT", &g_cls, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, e);
  th_wait_until(atomic_load(&g_log.t_done) >= N);
  th_wait_until(est_of(e).tasks_completed == N);
  /* Let a few policy intervals pass while the creator still holds it. */
  int seen = n_irecs();
  th_wait_until(n_irecs() >= seen + 5);
  weft_enclave_stats s = est_of(e);
  cr_assert_eq(s.active, 0);
  cr_assert_eq(s.tasks_started, N);
  cr_assert_eq(transient_records(id).finals, 0, "final record before the creator released it");
  atomic_store(&g_released, 1);
  weft_enclave_release(e);
  th_wait_until(final_seen(id));
  shut(r);

  transient_sum ts = transient_records(id);
  cr_assert_eq(ts.finals, 1, "%d final records", ts.finals);
  cr_assert_eq(g_log.released_at[ts.final_idx], 1);
  cr_assert_eq(ts.completed, N, "%llu completions in its records",
               (unsigned long long)ts.completed);
  cr_assert_eq(ts.started, N, "%llu starts in its records", (unsigned long long)ts.started);
  cr_assert_eq(est(r, "BASE").tasks_started, 0);
  expect_sane_intervals();
  weft_region_destroy(r);
}

Test(enclave, transient_without_tasks_ends_at_release) {
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "BASE", 3, WEFT_GOAL_NONE, 0, 0, 0);
  weft_enclave *a = NULL, *b = NULL;
  cr_assert_eq(weft_enclave_create(r, "BASE", &a), 0);
  cr_assert_eq(weft_enclave_create(r, WEFT_DEFAULT_ENCLAVE, &b), 0);
  uint64_t ida = est_of(a).enclave_id, idb = est_of(b).enclave_id;
  cr_assert_neq(ida, 0);
  cr_assert_neq(idb, 0);
  cr_assert_neq(ida, idb);
  weft_enclave_release(a);
  th_wait_until(final_seen(ida));
  cr_assert_eq(transient_records(idb).finals, 0, "releasing one transient ended another");
  weft_enclave_release(b);
  th_wait_until(final_seen(idb));
  shut(r);
  transient_sum ts = transient_records(ida);
  cr_assert_eq(ts.finals, 1);
  cr_assert_eq(ts.completed, 0);
  cr_assert_eq(transient_records(idb).finals, 1);
  expect_sane_intervals();
  weft_region_destroy(r);
}

/* ------------------------------------------------------------------------ */
/* Accounting invariants                                                     */
/* ------------------------------------------------------------------------ */

typedef struct load_ctx {
  atomic_long ended;
  atomic_long moved; /* yields after which the task ran on another worker */
  atomic_long bad;
  int rounds;   /* spin+yield rounds (0: by index, see below) */
  long spin_us; /* per round */
} load_ctx;

static load_ctx g_load;

/* rounds x (spin spin_us, yield); rounds 0 means: even idx 40, odd idx 2. */
static void spin_yield(weft_task *t) {
  th_arg a = th_arg_of(t);
  load_ctx *c = a.ctx;
  int rounds = c->rounds ? c->rounds : (a.idx % 2 == 0 ? 40 : 2);
  for (int i = 0; i < rounds; i++) {
    long us = c->spin_us ? c->spin_us : 1000 + 1000 * (i % 2); /* 0: 1 and 2 ms by turns */
    spin_us(us);
    unsigned w = weft_task_worker(t);
    if (weft_yield(t) != 0)
      atomic_fetch_add(&c->bad, 1);
    if (weft_task_worker(t) != w)
      atomic_fetch_add(&c->moved, 1);
  }
  atomic_fetch_add(&c->ended, 1);
}

/* Sums over the collected task records of enclave `name` (NULL: all). */
typedef struct rec_sums {
  int n;
  uint64_t dispatches, dispatch_ns, cpu_ns, response_ns;
  uint64_t wait_ns[WEFT_WAIT_REASONS];
} rec_sums;

static rec_sums sum_records(const char *name) {
  rec_sums s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < n_trecs(); i++) {
    const weft_task_record *rec = &g_log.trec[i];
    if (name != NULL && strcmp(rec->enclave, name) != 0)
      continue;
    s.n++;
    s.dispatches += rec->dispatches;
    s.dispatch_ns += rec->dispatch_ns;
    s.cpu_ns += rec->cpu_ns;
    s.response_ns += rec->response_ns;
    for (int k = 0; k < WEFT_WAIT_REASONS; k++)
      s.wait_ns[k] += rec->wait_ns[k];
  }
  return s;
}

/* Asserts the enclave's figures are the sums of its n task records. */
static void expect_sums_match(const weft_enclave_stats *s, const rec_sums *rs, int n) {
  cr_assert_eq(rs->n, n, "%d task records of %s, expected %d", rs->n, s->name, n);
  cr_assert_eq(s->tasks_started, (uint64_t)n, "%s: started %llu", s->name,
               (unsigned long long)s->tasks_started);
  cr_assert_eq(s->tasks_completed, (uint64_t)n, "%s: completed %llu", s->name,
               (unsigned long long)s->tasks_completed);
  cr_assert_eq(s->responses, (uint64_t)n);
  cr_assert_eq(s->dispatches, rs->dispatches, "%s: %llu dispatches, its records sum to %llu",
               s->name, (unsigned long long)s->dispatches, (unsigned long long)rs->dispatches);
  cr_assert_leq(absdiff(s->dispatch_ns, rs->dispatch_ns), (uint64_t)n,
                "%s: dispatch_ns %llu, its records sum to %llu", s->name,
                (unsigned long long)s->dispatch_ns, (unsigned long long)rs->dispatch_ns);
  cr_assert_leq(absdiff(s->cpu_ns, rs->cpu_ns), (uint64_t)n, "%s: cpu_ns %llu vs %llu", s->name,
                (unsigned long long)s->cpu_ns, (unsigned long long)rs->cpu_ns);
  for (int k = 0; k < WEFT_WAIT_REASONS; k++)
    cr_assert_leq(absdiff(s->wait_ns[k], rs->wait_ns[k]), (uint64_t)n,
                  "%s: wait_ns[%d] %llu, its records sum to %llu", s->name, k,
                  (unsigned long long)s->wait_ns[k], (unsigned long long)rs->wait_ns[k]);
}

/* Start n tasks of tranid with g_load (indexes 0..n-1), wait until they and
 * their records have ended, shut down, and check no task saw a failure. */
static void run_load(weft_region *r, const char *tranid, long n) {
  for (long i = 0; i < n; i++)
    start_in(r, tranid, &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  th_wait_count(&g_load.ended, n);
  th_wait_until(atomic_load(&g_log.t_done) >= n);
  shut(r);
  cr_assert_eq(atomic_load(&g_load.bad), 0);
}

Test(enclave, task_records_sum_to_enclave_figures) {
  enum { N = 40, ROUNDS = 8 };
  g_load.rounds = ROUNDS;
  g_load.spin_us = 1000;
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "W", 3, WEFT_GOAL_AVERAGE, 5000, 0, 0);
  def_tx(r, "TW", spin_yield, 10, "W");
  run_load(r, "TW", N);

  weft_enclave_stats s = est(r, "W");
  rec_sums rs = sum_records("W");
  expect_sums_match(&s, &rs, N);
  /* The transaction's figures are the same tasks. */
  weft_enclave_stats tx = tx_stats(r, "TW");
  cr_assert_eq(tx.dispatches, s.dispatches);
  cr_assert_leq(absdiff(tx.dispatch_ns, s.dispatch_ns), (uint64_t)N);
  /* Each record is plausible: ROUNDS ms of spinning, ROUNDS + 1 dispatches
   * at most, and no part longer than the whole. */
  for (int i = 0; i < n_trecs(); i++) {
    const weft_task_record *rec = &g_log.trec[i];
    cr_assert_str_eq(rec->tranid, "TW");
    cr_assert_str_eq(rec->abcode, "");
    cr_assert_eq(rec->enclave_id, 0);
    cr_assert(rec->dispatches >= 1 && rec->dispatches <= ROUNDS + 1, "task %llu: %u dispatches",
              (unsigned long long)rec->task_no, rec->dispatches);
    cr_assert_geq(rec->dispatch_ns, ROUNDS * MS_NS * 95 / 100, "task %llu: dispatch_ns %llu",
                  (unsigned long long)rec->task_no, (unsigned long long)rec->dispatch_ns);
    uint64_t parts = rec->dispatch_ns;
    for (int k = 0; k < WEFT_WAIT_REASONS; k++)
      parts += rec->wait_ns[k];
    cr_assert_leq(parts, rec->response_ns + MS_NS,
                  "task %llu: dispatch + waits %llu ns > response %llu ns",
                  (unsigned long long)rec->task_no, (unsigned long long)parts,
                  (unsigned long long)rec->response_ns);
  }
  double mean_ms = (double)rs.response_ns / N / 1e6;
  cr_assert(s.resp_avg_ms > mean_ms * 0.99 - 0.01 && s.resp_avg_ms < mean_ms * 1.01 + 0.01,
            "resp_avg_ms %.3f, mean of the records %.3f", s.resp_avg_ms, mean_ms);
  weft_region_destroy(r);
}

Test(enclave, enclave_dispatch_time_matches_worker_busy_time) {
  enum { PER = 10 };
  g_load.rounds = 20;
  g_load.spin_us = 0; /* 1 and 2 ms by turns */
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "E1", 2, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "E2", 4, WEFT_GOAL_PERCENTILE, 2000, 90, 0);
  def_tx(r, "T1", spin_yield, 10, "E1");
  def_tx(r, "T2", spin_yield, 10, "E2");
  def_tx(r, "T3", spin_yield, 10, NULL);
  for (long i = 0; i < PER; i++) {
    start_in(r, "T1", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
    start_in(r, "T2", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
    start_in(r, "T3", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  }
  th_wait_count(&g_load.ended, 3 * PER);
  th_wait_until(atomic_load(&g_log.t_done) >= 3 * PER);
  shut(r);
  cr_assert_eq(atomic_load(&g_load.bad), 0);
  weft_region_stats rs = th_stats(r);
  uint64_t busy = 0, wdisp = 0;
  for (unsigned w = 0; w < rs.workers; w++) {
    busy += rs.worker[w].busy_ns;
    wdisp += rs.worker[w].dispatches;
  }
  weft_enclave_stats e1 = est(r, "E1"), e2 = est(r, "E2"), d = est(r, WEFT_DEFAULT_ENCLAVE);
  uint64_t enc = e1.dispatch_ns + e2.dispatch_ns + d.dispatch_ns;
  cr_log_info("enclaves %.3f ms (E1 %.3f, E2 %.3f, DEFAULT %.3f), workers busy %.3f ms", enc / 1e6,
              e1.dispatch_ns / 1e6, e2.dispatch_ns / 1e6, d.dispatch_ns / 1e6, busy / 1e6);
  /* 30 tasks x 20 rounds x 1.5 ms = 900 ms of spinning. */
  cr_assert_geq(enc, 900 * MS_NS * 95 / 100, "only %.3f ms in the enclaves", enc / 1e6);
  cr_assert_leq(absdiff(enc, busy), busy / 20,
                "enclaves %.3f ms vs workers busy %.3f ms: off by more than 5%%", enc / 1e6,
                busy / 1e6);
  cr_assert_eq(e1.dispatches + e2.dispatches + d.dispatches, wdisp,
               "enclave dispatches %llu, worker dispatches %llu",
               (unsigned long long)(e1.dispatches + e2.dispatches + d.dispatches),
               (unsigned long long)wdisp);
  weft_region_destroy(r);
}

/* Two workers; even tasks yield 40 times, odd ones twice, so the worker
 * with the odd ones runs dry and steals: tasks migrate. Nothing may be
 * counted twice (or lost) on the way. */
Test(enclave, migrating_tasks_are_accounted_once) {
  enum { N = 100 };
  g_load.rounds = 0; /* by index */
  g_load.spin_us = 100;
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "W", 3, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TW", spin_yield, 10, "W");
  run_load(r, "TW", N);
  weft_region_stats st = th_stats(r);
  uint64_t steals = 0, wdisp = 0;
  for (unsigned w = 0; w < st.workers; w++) {
    steals += st.worker[w].steals;
    wdisp += st.worker[w].dispatches;
  }
  cr_log_info("steals %llu, migrations seen by tasks %ld", (unsigned long long)steals,
              atomic_load(&g_load.moved));
  cr_assert_gt(steals, 0, "no steal: the test did not make tasks migrate");
  weft_enclave_stats s = est(r, "W");
  rec_sums rs = sum_records("W");
  expect_sums_match(&s, &rs, N);
  cr_assert_eq(rs.dispatches, wdisp, "records: %llu dispatches, workers: %llu",
               (unsigned long long)rs.dispatches, (unsigned long long)wdisp);
  weft_region_destroy(r);
}

/* ------------------------------------------------------------------------ */
/* Wait reasons                                                              */
/* ------------------------------------------------------------------------ */

typedef struct wait_ctx {
  weft_event *ev;
  atomic_int waiter_ready; /* EVW is about to wait */
  atomic_int enq_trying;   /* ENQW tasks about to ENQ */
  atomic_long ended;
  atomic_long bad;
  uint64_t no_evw, no_evp, no_dly, no_off, no_enq[2];
} wait_ctx;

static wait_ctx g_wait;

static void ev_waiter(weft_task *t) {
  wait_ctx *c = TH_CTX(t, wait_ctx);
  atomic_store(&c->waiter_ready, 1);
  if (weft_event_wait(t, c->ev, WEFT_WAIT_FOREVER) != 0)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

/* One worker: when the poster sees waiter_ready, the waiter is suspended
 * in weft_event_wait (nothing else runs between the two). */
static void ev_poster(weft_task *t) {
  wait_ctx *c = TH_CTX(t, wait_ctx);
  for (int i = 0; !atomic_load(&c->waiter_ready); i++)
    if (i > 30000 || weft_delay(t, 1) != 0) {
      atomic_fetch_add(&c->bad, 1);
      break;
    }
  weft_delay(t, 5);
  if (weft_event_post(c->ev) != 0)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

/* Two of these on one worker: the first holds the ENQ until the second is
 * waiting for it, then 5 ms more. */
static void enq_holder(weft_task *t) {
  wait_ctx *c = TH_CTX(t, wait_ctx);
  atomic_fetch_add(&c->enq_trying, 1);
  if (weft_enq(t, "RES", 3, WEFT_WAIT_FOREVER) != 0)
    atomic_fetch_add(&c->bad, 1);
  for (int i = 0; atomic_load(&c->enq_trying) < 2; i++)
    if (i > 30000 || weft_delay(t, 1) != 0) {
      atomic_fetch_add(&c->bad, 1);
      break;
    }
  weft_delay(t, 5);
  if (weft_deq(t, "RES", 3) != 0)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

static void delayer(weft_task *t) {
  wait_ctx *c = TH_CTX(t, wait_ctx);
  if (weft_delay(t, 20) != 0)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

static int sleep_10(void *arg) {
  (void)arg;
  Sleep(10);
  return 7;
}

static void offloader(weft_task *t) {
  wait_ctx *c = TH_CTX(t, wait_ctx);
  int res = 0;
  if (weft_offload(t, sleep_10, NULL, &res) != 0 || res != 7)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

static const weft_task_record *need_rec(uint64_t no, const char *what) {
  const weft_task_record *rec = trec_of(no);
  cr_assert_not_null(rec, "no task record for %s", what);
  return rec;
}

Test(enclave, wait_reasons_in_task_records) {
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_wait.ev), 0);
  def_enclave(r, "WT", 3, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "EVW", ev_waiter, 10, "WT");
  def_tx(r, "EVP", ev_poster, 10, "WT");
  def_tx(r, "ENQW", enq_holder, 10, "WT");
  def_tx(r, "DLY", delayer, 10, "WT");
  def_tx(r, "OFF", offloader, 10, "WT");
  g_wait.no_evw = th_start(r, "EVW", &g_wait, 0);
  g_wait.no_evp = th_start(r, "EVP", &g_wait, 0);
  g_wait.no_enq[0] = th_start(r, "ENQW", &g_wait, 0);
  g_wait.no_enq[1] = th_start(r, "ENQW", &g_wait, 1);
  g_wait.no_dly = th_start(r, "DLY", &g_wait, 0);
  g_wait.no_off = th_start(r, "OFF", &g_wait, 0);
  th_wait_count(&g_wait.ended, 6);
  th_wait_until(atomic_load(&g_log.t_done) >= 6);
  shut(r);
  cr_assert_eq(atomic_load(&g_wait.bad), 0);

  const weft_task_record *dly = need_rec(g_wait.no_dly, "DLY");
  cr_assert_geq(dly->wait_ns[WEFT_WAIT_DELAY], 20 * MS_NS, "DLY: delay wait %llu ns",
                (unsigned long long)dly->wait_ns[WEFT_WAIT_DELAY]);
  cr_assert_eq(dly->wait_ns[WEFT_WAIT_EVENT], 0);
  cr_assert_eq(dly->wait_ns[WEFT_WAIT_ENQ], 0);
  cr_assert_eq(dly->wait_ns[WEFT_WAIT_OFFLOAD], 0);

  const weft_task_record *evw = need_rec(g_wait.no_evw, "EVW");
  cr_assert_gt(evw->wait_ns[WEFT_WAIT_EVENT], 0, "EVW: no event wait");
  cr_assert_geq(evw->wait_ns[WEFT_WAIT_EVENT], 4 * MS_NS, "EVW: event wait %llu ns",
                (unsigned long long)evw->wait_ns[WEFT_WAIT_EVENT]);
  cr_assert_eq(evw->wait_ns[WEFT_WAIT_DELAY], 0);
  cr_assert_eq(evw->wait_ns[WEFT_WAIT_OFFLOAD], 0);

  const weft_task_record *evp = need_rec(g_wait.no_evp, "EVP");
  cr_assert_geq(evp->wait_ns[WEFT_WAIT_DELAY], 5 * MS_NS);
  cr_assert_eq(evp->wait_ns[WEFT_WAIT_EVENT], 0);

  const weft_task_record *e0 = need_rec(g_wait.no_enq[0], "ENQW 0");
  const weft_task_record *e1 = need_rec(g_wait.no_enq[1], "ENQW 1");
  uint64_t enq_max = e0->wait_ns[WEFT_WAIT_ENQ] > e1->wait_ns[WEFT_WAIT_ENQ]
                         ? e0->wait_ns[WEFT_WAIT_ENQ]
                         : e1->wait_ns[WEFT_WAIT_ENQ];
  cr_assert_geq(enq_max, 4 * MS_NS, "ENQ waits %llu and %llu ns",
                (unsigned long long)e0->wait_ns[WEFT_WAIT_ENQ],
                (unsigned long long)e1->wait_ns[WEFT_WAIT_ENQ]);
  cr_assert_geq(e0->wait_ns[WEFT_WAIT_DELAY], 5 * MS_NS);
  cr_assert_geq(e1->wait_ns[WEFT_WAIT_DELAY], 5 * MS_NS);

  const weft_task_record *off = need_rec(g_wait.no_off, "OFF");
  cr_assert_geq(off->wait_ns[WEFT_WAIT_OFFLOAD], 5 * MS_NS, "OFF: offload wait %llu ns",
                (unsigned long long)off->wait_ns[WEFT_WAIT_OFFLOAD]);
  cr_assert_eq(off->wait_ns[WEFT_WAIT_DELAY], 0);
  cr_assert_eq(off->wait_ns[WEFT_WAIT_EVENT], 0);

  /* Nothing counted twice: a task's parts do not exceed its response. */
  for (int i = 0; i < n_trecs(); i++) {
    const weft_task_record *rec = &g_log.trec[i];
    cr_assert_eq(rec->wait_ns[WEFT_WAIT_TERMINAL], 0);
    uint64_t parts = rec->dispatch_ns;
    for (int k = 0; k < WEFT_WAIT_REASONS; k++)
      parts += rec->wait_ns[k];
    cr_assert_leq(parts, rec->response_ns + MS_NS,
                  "%s: dispatch + waits %llu ns > response %llu ns", rec->tranid,
                  (unsigned long long)parts, (unsigned long long)rec->response_ns);
  }
  weft_enclave_stats s = est(r, "WT");
  rec_sums rs = sum_records("WT");
  expect_sums_match(&s, &rs, 6);
  cr_assert_geq(s.wait_ns[WEFT_WAIT_DELAY], 20 * MS_NS);
  weft_region_destroy(r);
  weft_event_destroy(g_wait.ev);
}

/* ------------------------------------------------------------------------ */
/* Responses and abends                                                      */
/* ------------------------------------------------------------------------ */

static void delay_by_index(weft_task *t) {
  th_arg a = th_arg_of(t);
  load_ctx *c = a.ctx;
  if (weft_delay(t, a.idx < 10 ? 10 : 40) != 0)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

Test(enclave, response_times_and_percentiles) {
  enum { N = 20 };
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "EP", 3, WEFT_GOAL_PERCENTILE, 1000, 90, 0);
  def_tx(r, "TP", delay_by_index, 10, "EP");
  run_load(r, "TP", N);
  weft_enclave_stats s = est(r, "EP");
  uint64_t max_ns = 0, sum_ns = 0;
  for (int i = 0; i < n_trecs(); i++) {
    const weft_task_record *rec = &g_log.trec[i];
    cr_assert_geq(rec->response_ns, 10 * MS_NS);
    cr_assert_leq(rec->first_dispatch_ns, rec->response_ns);
    sum_ns += rec->response_ns;
    if (rec->response_ns > max_ns)
      max_ns = rec->response_ns;
  }
  cr_log_info("avg %.3f p50 %.3f p90 %.3f p99 %.3f max %.3f ms", s.resp_avg_ms, s.resp_p50_ms,
              s.resp_p90_ms, s.resp_p99_ms, s.resp_max_ms);
  cr_assert_eq(s.responses, N);
  cr_assert_geq(s.resp_p50_ms, 10.0);
  cr_assert_geq(s.resp_p90_ms, 40.0);
  cr_assert_leq(s.resp_p50_ms, s.resp_p90_ms);
  cr_assert_leq(s.resp_p90_ms, s.resp_p99_ms);
  cr_assert_leq(s.resp_p99_ms, s.resp_max_ms * 1.125 + 0.001);
  double max_ms = max_ns / 1e6, avg_ms = sum_ns / 1e6 / N;
  cr_assert(fabs(s.resp_max_ms - max_ms) <= max_ms * 0.01, "resp_max_ms %.3f, records %.3f",
            s.resp_max_ms, max_ms);
  cr_assert(fabs(s.resp_avg_ms - avg_ms) <= avg_ms * 0.01, "resp_avg_ms %.3f, records %.3f",
            s.resp_avg_ms, avg_ms);
  cr_assert_eq(tx_stats(r, "TP").responses, N);
  weft_region_destroy(r);
}

static void abend_task(weft_task *t) {
  th_arg a = th_arg_of(t);
  load_ctx *c = a.ctx;
  atomic_fetch_add(&c->ended, 1);
  weft_yield(t);
  if (a.idx % 2 == 1)
    weft_abend(t, "UABC");
}

Test(enclave, abended_tasks_are_counted) {
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "EA", 3, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TAB", abend_task, 10, "EA");
  uint64_t no[5];
  for (long i = 0; i < 5; i++)
    no[i] = start_in(r, "TAB", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  th_wait_ended(r, 5);
  th_wait_until(atomic_load(&g_log.t_done) >= 5);
  shut(r);
  weft_enclave_stats s = est(r, "EA");
  cr_assert_eq(s.tasks_started, 5);
  cr_assert_eq(s.tasks_completed, 3);
  cr_assert_eq(s.tasks_abended, 2);
  cr_assert_eq(s.active, 0);
  for (int i = 0; i < 5; i++) {
    const weft_task_record *rec = need_rec(no[i], "TAB");
    cr_assert_str_eq(rec->abcode, i % 2 ? "UABC" : "", "task %d: abcode '%s'", i, rec->abcode);
  }
  weft_region_destroy(r);
}

/* Members that are still running: they spin 50 x 1 ms (yielding between)
 * and then wait for the event. */
typedef struct live_ctx {
  weft_event *go;
  atomic_int spun; /* members done spinning, about to wait */
  atomic_long ended;
  atomic_long bad;
} live_ctx;

static live_ctx g_live;

static void spin_then_wait(weft_task *t) {
  live_ctx *c = TH_CTX(t, live_ctx);
  for (int i = 0; i < 50; i++) {
    th_spin_ms(1);
    weft_yield(t);
  }
  atomic_fetch_add(&c->spun, 1);
  if (weft_event_wait(t, c->go, WEFT_WAIT_FOREVER) != 0)
    atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->ended, 1);
}

/* Start N members of EA, wait until all spun; *live: EA's and the
 * transaction's figures then. Lets them end and shuts down. */
static weft_region *run_live_members(int n, weft_enclave_stats *live,
                                     weft_enclave_stats *tx_live) {
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_live.go), 0);
  def_enclave(r, "EA", 3, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TLIVE", spin_then_wait, 10, "EA");
  for (long i = 0; i < n; i++)
    th_start(r, "TLIVE", &g_live, i);
  th_wait_until(atomic_load(&g_live.spun) == n);
  *live = est(r, "EA");
  *tx_live = tx_stats(r, "TLIVE");
  cr_assert_eq(weft_event_post(g_live.go), 0);
  th_wait_count(&g_live.ended, n);
  shut(r);
  cr_assert_eq(atomic_load(&g_live.bad), 0);
  return r;
}

/* `active`: "its tasks alive now". */
Test(enclave, active_counts_live_members) {
  enum { N = 3 };
  weft_enclave_stats live, tx;
  weft_region *r = run_live_members(N, &live, &tx);
  weft_enclave_stats fin = est(r, "EA");
  weft_region_destroy(r);
  weft_event_destroy(g_live.go);
  cr_assert_eq(live.active, N, "EA: active %u with %d members alive", live.active, N);
  cr_assert_eq(fin.active, 0, "EA: active %u after they ended", fin.active);
}

/* "Live figures since the region started": tasks that began to run and the
 * dispatches they finished count while the tasks still live (as in
 * weft_region_stats), for the enclave and for the transaction. */
Test(enclave, live_figures_include_running_members) {
  enum { N = 3 };
  weft_enclave_stats s, tx;
  weft_region *r = run_live_members(N, &s, &tx);
  weft_enclave_stats fin = est(r, "EA");
  weft_region_destroy(r);
  weft_event_destroy(g_live.go);
  cr_assert_eq(fin.tasks_started, N);
  cr_assert_geq(fin.dispatches, N * 51);
  int enclave_ok =
      s.tasks_started == N && s.dispatches >= N * 50 && s.dispatch_ns >= N * 45 * MS_NS;
  int tx_ok = tx.tasks_started == N && tx.dispatches >= N * 50 && tx.dispatch_ns >= N * 45 * MS_NS;
  cr_assert(enclave_ok && tx_ok,
            "with %d members alive after 50 x 1 ms dispatches each: enclave started %llu, "
            "dispatches %llu, dispatch %.1f ms; transaction started %llu, dispatches %llu, "
            "dispatch %.1f ms",
            N, (unsigned long long)s.tasks_started, (unsigned long long)s.dispatches,
            s.dispatch_ns / 1e6, (unsigned long long)tx.tasks_started,
            (unsigned long long)tx.dispatches, tx.dispatch_ns / 1e6);
}

Test(enclave, accounting_off_keeps_no_times) {
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  cfg.accounting = WEFT_ACCOUNTING_OFF;
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "EA", 3, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TAC", delay_by_index, 10, "EA");
  for (long i = 0; i < 3; i++)
    start_in(r, "TAC", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  th_wait_count(&g_load.ended, 3);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_completed, 3);
  cr_assert_eq(atomic_load(&g_load.bad), 0);
  for (int i = 0; i < n_trecs(); i++) {
    cr_assert_eq(g_log.trec[i].dispatch_ns, 0);
    for (int k = 0; k < WEFT_WAIT_REASONS; k++)
      cr_assert_eq(g_log.trec[i].wait_ns[k], 0);
  }
}

/* ------------------------------------------------------------------------ */
/* Interval records and the records file                                     */
/* ------------------------------------------------------------------------ */

static void short_work(weft_task *t) {
  load_ctx *c = TH_CTX(t, load_ctx);
  spin_us(200);
  weft_yield(t);
  spin_us(200);
  atomic_fetch_add(&c->ended, 1);
}

typedef struct irec_sums {
  int n;
  uint64_t started, completed, dispatches, dispatch_ns, responses;
} irec_sums;

static irec_sums sum_intervals(const char *name) {
  irec_sums s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < n_irecs(); i++) {
    const weft_interval_record *ir = &g_log.irec[i];
    if (ir->s.enclave_id != 0 || strcmp(ir->s.name, name) != 0)
      continue;
    s.n++;
    s.started += ir->s.tasks_started;
    s.completed += ir->s.tasks_completed;
    s.dispatches += ir->s.dispatches;
    s.dispatch_ns += ir->s.dispatch_ns;
    s.responses += ir->s.responses;
  }
  return s;
}

Test(enclave, interval_records_partition_the_figures) {
  enum { N = 100 };
  weft_region_config cfg = ecfg(2, WEFT_DISPATCH_GOAL);
  cfg.policy_interval_ms = 50;
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "EI", 2, WEFT_GOAL_AVERAGE, 100, 0, 0);
  def_tx(r, "TI", short_work, 10, "EI");
  for (long i = 0; i < N; i++) {
    start_in(r, "TI", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
    Sleep(3);
  }
  th_wait_count(&g_load.ended, N);
  /* The intervals catch up with every completion... */
  th_wait_until(sum_intervals("EI").completed >= N);
  /* ...and further intervals add nothing. */
  int seen = sum_intervals("EI").n;
  th_wait_until(sum_intervals("EI").n >= seen + 3);
  shut(r);
  weft_enclave_stats s = est(r, "EI");
  irec_sums is = sum_intervals("EI");
  cr_log_info("%d interval records of EI", is.n);
  cr_assert_geq(is.n, 4, "only %d interval records over the run", is.n);
  cr_assert_eq(is.completed, N, "interval records count %llu completions",
               (unsigned long long)is.completed);
  cr_assert_eq(is.started, N, "interval records count %llu starts", (unsigned long long)is.started);
  cr_assert_eq(is.responses, N);
  cr_assert_eq(is.dispatches, s.dispatches, "intervals %llu dispatches, enclave %llu",
               (unsigned long long)is.dispatches, (unsigned long long)s.dispatches);
  cr_assert_leq(absdiff(is.dispatch_ns, s.dispatch_ns), (uint64_t)N,
                "intervals %llu dispatch ns, enclave %llu", (unsigned long long)is.dispatch_ns,
                (unsigned long long)s.dispatch_ns);
  /* Intervals of one enclave follow each other without overlapping. */
  uint64_t prev_end = 0;
  for (int i = 0; i < n_irecs(); i++) {
    const weft_interval_record *ir = &g_log.irec[i];
    if (ir->s.enclave_id != 0 || strcmp(ir->s.name, "EI") != 0)
      continue;
    cr_assert_eq(ir->final, 0);
    cr_assert_lt(ir->start_ns, ir->end_ns, "interval %d: %llu..%llu", i,
                 (unsigned long long)ir->start_ns, (unsigned long long)ir->end_ns);
    cr_assert_geq(ir->start_ns, prev_end, "interval %d starts before the last one ended", i);
    prev_end = ir->end_ns;
    cr_assert_eq(ir->s.importance, 2);
    cr_assert_eq(ir->s.goal_type, WEFT_GOAL_AVERAGE);
  }
  expect_sane_intervals();
  weft_region_destroy(r);
}

Test(enclave, records_file_holds_json_lines) {
  enum { N = 5 };
  static char path[MAX_PATH + 64];
  char dir[MAX_PATH];
  cr_assert_neq(GetTempPathA(sizeof dir, dir), 0);
  snprintf(path, sizeof path, "%sweft_records_%lu.jsonl", dir, GetCurrentProcessId());
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  fputs("{\"pre\":1}\n", f); /* the region appends */
  fclose(f);

  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  cfg.policy_interval_ms = 50;
  cfg.record_path = path;
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "FILEENC", 3, WEFT_GOAL_AVERAGE, 100, 0, 0);
  def_tx(r, "FILETX", short_work, 10, "FILEENC");
  for (long i = 0; i < N; i++)
    start_in(r, "FILETX", &g_load, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  th_wait_count(&g_load.ended, N);
  th_wait_until(atomic_load(&g_log.t_done) >= N);
  th_wait_until(sum_intervals("FILEENC").completed >= N);
  th_finish(r);

  f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot read %s", path);
  static char line[1 << 16];
  int lines = 0, task_lines = 0, interval_lines = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    size_t len = strlen(line);
    cr_assert(len > 0 && line[len - 1] == '\n', "line %d is not terminated (or too long)",
              lines + 1);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (lines == 0)
      cr_assert_str_eq(line, "{\"pre\":1}", "the file was not appended to");
    cr_assert(len >= 2 && line[0] == '{' && line[len - 1] == '}', "line %d: %s", lines + 1, line);
    if (strstr(line, "FILETX") != NULL)
      task_lines++;
    else if (strstr(line, "FILEENC") != NULL)
      interval_lines++;
    lines++;
  }
  fclose(f);
  DeleteFileA(path);
  cr_log_info("%d lines: %d task records, %d interval records of FILEENC", lines, task_lines,
              interval_lines);
  cr_assert_eq(task_lines, N, "%d lines name FILETX, expected %d task records", task_lines, N);
  cr_assert_geq(interval_lines, 1, "no interval record of FILEENC in the file");
}

/* ------------------------------------------------------------------------ */
/* Dispatch order on one worker                                              */
/* ------------------------------------------------------------------------ */

static order_ctx g_order;

/* One worker, no aging (ready tasks wait behind the gate), enclaves SYS
 * (SYSTEM), HI (1), LO (5), DSC (discretionary); transactions with task
 * priorities that contradict importance. */
static weft_region *order_region(int mode) {
  weft_region_config cfg = ecfg(1, mode);
  cfg.aging_ms = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "GATE", gate, 1);
  def_enclave(r, "SYS", WEFT_IMPORTANCE_SYSTEM, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "HI", 1, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "LO", 5, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "DSC", WEFT_IMPORTANCE_DISCRETIONARY, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TSYS", record_once, 0, "SYS");
  def_tx(r, "THI", record_once, 10, "HI");
  def_tx(r, "TMID", record_once, 200, NULL);
  def_tx(r, "TLO", record_once, 255, "LO");
  def_tx(r, "TDSC", record_once, 255, "DSC");
  def_tx(r, "YSYS", record_and_yield, 0, "SYS");
  def_tx(r, "YLO", record_and_yield, 255, "LO");
  return r;
}

static void close_gate(weft_region *r) {
  th_start(r, "GATE", &g_order, 0);
  th_wait_until(atomic_load(&g_order.gate_running));
}

static void expect_order(const long *expected, int n) {
  cr_assert_eq(atomic_load(&g_order.gate_gave_up), 0);
  char got[512] = "", want[512] = "";
  int have = atomic_load(&g_order.n);
  for (int i = 0; i < have && i < 256; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), " %ld", g_order.order[i]);
  for (int i = 0; i < n; i++)
    snprintf(want + strlen(want), sizeof want - strlen(want), " %ld", expected[i]);
  cr_assert_str_eq(got, want, "run order");
}

static void importance_order(int mode) {
  weft_region *r = order_region(mode);
  close_gate(r);
  th_start(r, "TLO", &g_order, 0);
  th_start(r, "TDSC", &g_order, 1);
  th_start(r, "TMID", &g_order, 2);
  th_start(r, "THI", &g_order, 3); /* priority 10 */
  th_start(r, "TSYS", &g_order, 4);
  th_start(r, "TLO", &g_order, 5);
  th_start(r, "TSYS", &g_order, 6);
  th_start_prio(r, "THI", &g_order, 7, 100);
  atomic_store(&g_order.gate_open, 1);
  th_wait_ended(r, 9);
  /* SYSTEM first, then by importance; task priority only within a band;
   * discretionary last. */
  static const long expected[] = {4, 6, 7, 3, 2, 0, 5, 1};
  expect_order(expected, 8);
  th_finish(r);
}

Test(enclave, system_first_then_importance_goal_mode) {
  importance_order(WEFT_DISPATCH_GOAL);
}

Test(enclave, system_first_then_importance_static_mode) {
  importance_order(WEFT_DISPATCH_STATIC);
}

Test(enclave, yield_does_not_cross_importance) {
  weft_region *r = order_region(WEFT_DISPATCH_STATIC);
  close_gate(r);
  th_start(r, "YLO", &g_order, 13);  /* 10 11 12, priority 255 */
  th_start(r, "YSYS", &g_order, 23); /* 20 21 22, priority 0 */
  atomic_store(&g_order.gate_open, 1);
  th_wait_ended(r, 3);
  static const long expected[] = {20, 21, 22, 10, 11, 12};
  expect_order(expected, 6);
  th_finish(r);
}

Test(enclave, fifo_mode_ignores_importance_and_priority) {
  weft_region *r = order_region(WEFT_DISPATCH_FIFO);
  close_gate(r);
  th_start(r, "TLO", &g_order, 0);
  th_start(r, "TMID", &g_order, 1);
  th_start(r, "THI", &g_order, 2);
  th_start(r, "TSYS", &g_order, 3);
  th_start_prio(r, "THI", &g_order, 4, 100);
  th_start_prio(r, "TLO", &g_order, 5, 0);
  th_start(r, "YLO", &g_order, 63);  /* 60 61 62 */
  th_start(r, "YSYS", &g_order, 73); /* 70 71 72 */
  atomic_store(&g_order.gate_open, 1);
  th_wait_ended(r, 9);
  static const long expected[] = {0, 1, 2, 3, 4, 5, 60, 70, 61, 71, 62, 72};
  expect_order(expected, 12);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Discretionary work                                                        */
/* ------------------------------------------------------------------------ */

typedef struct disc_ctx {
  atomic_long seq;        /* steps taken, all tasks */
  atomic_long max_normal; /* the last step of a normal task */
  atomic_long min_disc;   /* the first step of a discretionary task */
  atomic_int normal_done, disc_done;
  int spin_ms; /* per normal step */
} disc_ctx;

static disc_ctx g_disc;

static void atomic_max(atomic_long *a, long v) {
  long cur = atomic_load(a);
  while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
    ;
}

static void atomic_min(atomic_long *a, long v) {
  long cur = atomic_load(a);
  while (v < cur && !atomic_compare_exchange_weak(a, &cur, v))
    ;
}

static void normal_steps(weft_task *t) {
  disc_ctx *c = TH_CTX(t, disc_ctx);
  for (int i = 0; i < 30; i++) {
    atomic_max(&c->max_normal, atomic_fetch_add(&c->seq, 1));
    if (c->spin_ms)
      th_spin_ms(c->spin_ms);
    weft_yield(t);
  }
  atomic_max(&c->max_normal, atomic_fetch_add(&c->seq, 1));
  atomic_fetch_add(&c->normal_done, 1);
}

static void disc_steps(weft_task *t) {
  disc_ctx *c = TH_CTX(t, disc_ctx);
  atomic_min(&c->min_disc, atomic_fetch_add(&c->seq, 1));
  weft_yield(t);
  atomic_fetch_add(&c->seq, 1);
  atomic_fetch_add(&c->disc_done, 1);
}

static void discretionary_waits(int mode, unsigned aging_ms, int spin_ms) {
  atomic_store(&g_disc.max_normal, -1);
  atomic_store(&g_disc.min_disc, LONG_MAX);
  g_disc.spin_ms = spin_ms;
  weft_region_config cfg = ecfg(1, mode);
  cfg.aging_ms = aging_ms;
  weft_region *r = th_region_cfg(&cfg);
  th_define(r, "GATE", gate, 1);
  def_enclave(r, "LO", 5, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "DSC", WEFT_IMPORTANCE_DISCRETIONARY, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "NRM", normal_steps, 0, "LO");
  def_tx(r, "DSCT", disc_steps, 255, "DSC");
  close_gate(r);
  for (long i = 0; i < 3; i++)
    th_start(r, "DSCT", &g_disc, i);
  for (long i = 0; i < 4; i++)
    th_start(r, "NRM", &g_disc, i);
  atomic_store(&g_order.gate_open, 1);
  th_wait_until(atomic_load(&g_disc.normal_done) == 4 && atomic_load(&g_disc.disc_done) == 3);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_order.gate_gave_up), 0);
  long last_normal = atomic_load(&g_disc.max_normal);
  long first_disc = atomic_load(&g_disc.min_disc);
  cr_assert_gt(first_disc, last_normal,
               "a discretionary task ran at step %ld while normal work was ready (its last "
               "step was %ld)",
               first_disc, last_normal);
}

Test(enclave, discretionary_runs_only_when_nothing_else_is_ready_goal) {
  discretionary_waits(WEFT_DISPATCH_GOAL, WEFT_OFF, 0);
}

Test(enclave, discretionary_runs_only_when_nothing_else_is_ready_static) {
  discretionary_waits(WEFT_DISPATCH_STATIC, WEFT_OFF, 0);
}

/* 120 ms of normal work with aging every 10 ms: discretionary work must not
 * age into it. */
Test(enclave, discretionary_is_never_aged) {
  discretionary_waits(WEFT_DISPATCH_GOAL, 10, 1);
}

/* ------------------------------------------------------------------------ */
/* Aging                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct starve_ctx {
  atomic_int stop;
  atomic_long high_yields;
  atomic_int high_alive;
  atomic_int high_gave_up;
  atomic_int low_ran;
  int low_saw_stop;
  int low_saw_alive;
  long low_saw_yields;
} starve_ctx;

static starve_ctx g_starve;

static void high_loop(weft_task *t) {
  starve_ctx *c = TH_CTX(t, starve_ctx);
  atomic_fetch_add(&c->high_alive, 1);
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (!atomic_load(&c->stop)) {
    atomic_fetch_add(&c->high_yields, 1);
    weft_yield(t);
    if (GetTickCount64() > end) {
      atomic_store(&c->high_gave_up, 1);
      break;
    }
  }
  atomic_fetch_sub(&c->high_alive, 1);
}

static void low_once(weft_task *t) {
  starve_ctx *c = TH_CTX(t, starve_ctx);
  c->low_saw_stop = atomic_load(&c->stop);
  c->low_saw_alive = atomic_load(&c->high_alive);
  c->low_saw_yields = atomic_load(&c->high_yields);
  atomic_store(&c->low_ran, 1);
}

/* One worker: three importance-1 tasks yield until stopped; one
 * importance-5 task, same task priority, wants to run once. */
static weft_region *starve_region(int mode, unsigned aging_ms) {
  weft_region_config cfg = ecfg(1, mode);
  cfg.aging_ms = aging_ms;
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "HI", 1, WEFT_GOAL_NONE, 0, 0, 0);
  def_enclave(r, "LO", 5, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "HIGH", high_loop, 50, "HI");
  def_tx(r, "LOW", low_once, 50, "LO");
  for (long i = 0; i < 3; i++)
    th_start(r, "HIGH", &g_starve, i);
  th_wait_until(atomic_load(&g_starve.high_yields) > 0);
  th_start(r, "LOW", &g_starve, 0);
  return r;
}

static void aging_lets_low_run(int mode) {
  weft_region *r = starve_region(mode, 20);
  th_wait_until(atomic_load(&g_starve.low_ran));
  /* The high tasks were still running when it ran, and still are. */
  th_wait_until(atomic_load(&g_starve.high_yields) > g_starve.low_saw_yields + 1000);
  atomic_store(&g_starve.stop, 1);
  th_wait_ended(r, 4);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_starve.high_gave_up), 0);
  cr_assert_eq(g_starve.low_saw_stop, 0, "the low task ran only after the high ones stopped");
  cr_assert_geq(g_starve.low_saw_alive, 1);
  cr_log_info("the low task ran after %ld high yields, %d high tasks alive",
              g_starve.low_saw_yields, g_starve.low_saw_alive);
}

Test(enclave, aging_prevents_starvation_static) {
  aging_lets_low_run(WEFT_DISPATCH_STATIC);
}

Test(enclave, aging_prevents_starvation_goal) {
  aging_lets_low_run(WEFT_DISPATCH_GOAL);
}

static void no_aging_starves_low(int mode) {
  enum { YIELDS = 200000 };
  weft_region *r = starve_region(mode, WEFT_OFF);
  /* A window over twice what the default aging (100 ms a level, 4 levels)
   * would need to lift the low task, and at least YIELDS high yields. */
  ULONGLONG window_end = GetTickCount64() + 1000;
  th_wait_until((atomic_load(&g_starve.high_yields) >= YIELDS && GetTickCount64() >= window_end) ||
                atomic_load(&g_starve.low_ran));
  int ran_early = atomic_load(&g_starve.low_ran);
  long at = g_starve.low_saw_yields;
  atomic_store(&g_starve.stop, 1);
  th_wait_until(atomic_load(&g_starve.low_ran));
  th_wait_ended(r, 4);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_starve.high_gave_up), 0);
  cr_assert_eq(ran_early, 0,
               "without aging the importance-5 task ran after %ld yields of importance-1 work", at);
  cr_assert_eq(g_starve.low_saw_stop, 1);
  cr_assert_eq(g_starve.low_saw_alive, 0);
}

Test(enclave, no_aging_no_promotion_static) {
  no_aging_starves_low(WEFT_DISPATCH_STATIC);
}

Test(enclave, no_aging_no_promotion_goal) {
  no_aging_starves_low(WEFT_DISPATCH_GOAL);
}

/* ------------------------------------------------------------------------ */
/* max_active                                                                */
/* ------------------------------------------------------------------------ */

typedef struct cap_ctx {
  atomic_int running; /* capped tasks on a worker now */
  atomic_int peak;
  atomic_long ended;
} cap_ctx;

static cap_ctx g_cap;

static void capped_task(weft_task *t) {
  cap_ctx *c = TH_CTX(t, cap_ctx);
  for (int i = 0; i < 5; i++) {
    int now = atomic_fetch_add(&c->running, 1) + 1;
    int peak = atomic_load(&c->peak);
    while (now > peak && !atomic_compare_exchange_weak(&c->peak, &peak, now))
      ;
    th_spin_ms(1);
    atomic_fetch_sub(&c->running, 1);
    if (i % 2)
      weft_yield(t);
    else
      weft_delay(t, 1);
  }
  atomic_fetch_add(&c->ended, 1);
}

Test(enclave, max_active_caps_running_members) {
  enum { N = 12 };
  weft_region_config cfg = ecfg(4, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "CAP", 3, WEFT_GOAL_NONE, 0, 0, 2);
  def_tx(r, "TCAP", capped_task, 10, "CAP");
  for (long i = 0; i < N; i++)
    th_start(r, "TCAP", &g_cap, i);
  th_wait_count(&g_cap.ended, N);
  shut(r);
  int peak = atomic_load(&g_cap.peak);
  cr_log_info("peak %d capped tasks on workers at once", peak);
  cr_assert_leq(peak, 2, "%d tasks of an enclave with max_active 2 ran at once", peak);
  cr_assert_eq(est(r, "CAP").tasks_completed, N);
  weft_region_destroy(r);
}

/* ------------------------------------------------------------------------ */
/* The goal policy                                                           */
/* ------------------------------------------------------------------------ */

typedef struct pol_ctx {
  atomic_int stop;
  atomic_long hog_ended, short_ended, bad;
} pol_ctx;

static pol_ctx g_pol;

/* Three 2 ms slices, then a replacement, until stopped: a constant backlog. */
static void hog_task(weft_task *t) {
  pol_ctx *c = TH_CTX(t, pol_ctx);
  for (int i = 0; i < 3; i++) {
    spin_us(2000);
    weft_yield(t);
  }
  if (!atomic_load(&c->stop)) {
    th_arg a = {c, 0};
    if (weft_start(weft_task_region(t), weft_task_tranid(t), &a, sizeof a, NULL, NULL) != 0)
      atomic_fetch_add(&c->bad, 1);
  }
  atomic_fetch_add(&c->hog_ended, 1);
}

static void short_task(weft_task *t) {
  pol_ctx *c = TH_CTX(t, pol_ctx);
  spin_us(300);
  atomic_fetch_add(&c->short_ended, 1);
}

/* Stop the hogs and wait for the region to empty. */
static void stop_load(weft_region *r) {
  atomic_store(&g_pol.stop, 1);
  th_wait_until(th_stats(r).active == 0);
}

/* One worker. MISS (importance 3, 90% within 10 ms) gets a short task every
 * ~5 ms; HOG (importance 3, average within 10 s: easily overachieved) keeps
 * HOGS 3x2 ms tasks ready. Sharing a band, MISS waits behind the HOG
 * backlog (~15 ms) and misses; above HOG it waits for one slice at most
 * (~2.3 ms response, a wide margin against outside noise). The policy must
 * put MISS above HOG. */
#define HOGS 8
static weft_region *miss_hog_region(void) {
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  cfg.policy_interval_ms = 50;
  cfg.aging_ms = WEFT_OFF;
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "MISS", 3, WEFT_GOAL_PERCENTILE, 10, 90, 0);
  def_enclave(r, "HOG", 3, WEFT_GOAL_AVERAGE, 10000, 0, 0);
  def_tx(r, "TMISS", short_task, 50, "MISS");
  def_tx(r, "THOG", hog_task, 50, "HOG");
  return r;
}

/* MISS and HOG bands as the host samples them, every ~5 ms. */
typedef struct band_pair {
  int m, h;
  double m_pi;
} band_pair;

/* Interval records of enclave name (the enclave itself, not its final
 * record) so far: the policy's own clock, one per policy interval. */
static int intervals_of(const char *name) {
  int k = 0;
  for (int i = 0; i < n_irecs(); i++) {
    const weft_interval_record *ir = &g_log.irec[i];
    k += ir->s.enclave_id == 0 && !ir->final && strcmp(ir->s.name, name) == 0;
  }
  return k;
}

/* Whether the policy has closed `target` intervals of name; fails the test
 * if that takes more than TH_DEADLINE_MS from `began` (GetTickCount64). */
static bool intervals_reached(const char *name, int target, ULONGLONG began) {
  if (intervals_of(name) >= target)
    return true;
  cr_assert(GetTickCount64() - began < TH_DEADLINE_MS, "%s: %d of %d policy intervals after %u ms",
            name, intervals_of(name), target, TH_DEADLINE_MS);
  return false;
}

/* One step of the load: a MISS start, ~5 ms, a sample. */
static band_pair miss_hog_step(weft_region *r) {
  th_start(r, "TMISS", &g_pol, 0);
  Sleep(5);
  weft_enclave_stats m = est(r, "MISS"), h = est(r, "HOG");
  band_pair b = {m.dispatch_priority, h.dispatch_priority, m.pi};
  return b;
}

/* Start the hogs and run the load until MISS is above HOG (the policy
 * helped) or 8 s passed. Returns 1 when helped; *max_pi: MISS's worst PI
 * seen before. */
static int run_until_helped(weft_region *r, band_pair *at, double *max_pi) {
  weft_enclave_stats m = est(r, "MISS"), h = est(r, "HOG");
  cr_assert_eq(m.dispatch_priority, h.dispatch_priority,
               "same importance, different bands at the start: %d and %d", m.dispatch_priority,
               h.dispatch_priority);
  for (long i = 0; i < HOGS; i++)
    th_start(r, "THOG", &g_pol, i);
  *max_pi = 0;
  ULONGLONG end = GetTickCount64() + 8000;
  while (GetTickCount64() < end) {
    *at = miss_hog_step(r);
    if (at->m_pi > *max_pi)
      *max_pi = at->m_pi;
    if (at->m > at->h)
      return 1;
  }
  return 0;
}

/* The interval records of MISS from index `from` on, as text: the ones
 * where its band moved or it missed (#k: its k-th interval). */
static void miss_history(int from, char *buf, size_t size) {
  buf[0] = '\0';
  int k = 0, band = -1;
  for (int i = from; i < n_irecs() && strlen(buf) + 48 < size; i++) {
    const weft_interval_record *ir = &g_log.irec[i];
    if (strcmp(ir->s.name, "MISS") != 0)
      continue;
    if (ir->s.dispatch_priority != band || ir->s.pi > 1.0)
      snprintf(buf + strlen(buf), size - strlen(buf), " [#%d band %d pi %.2f p90 %.1fms]", k,
               ir->s.dispatch_priority, ir->s.pi, ir->s.resp_p90_ms);
    band = ir->s.dispatch_priority;
    k++;
  }
}

Test(enclave, policy_helps_an_enclave_missing_its_goal) {
  weft_region *r = miss_hog_region();
  int b0 = est(r, "MISS").dispatch_priority;
  band_pair b;
  double max_pi;
  if (!run_until_helped(r, &b, &max_pi)) {
    stop_load(r);
    th_finish(r);
    cr_assert_fail("MISS never rose above HOG: bands %d / %d (started %d), MISS pi up to %.2f", b.m,
                   b.h, b0, max_pi);
  }
  cr_log_info("helped: MISS band %d -> %d, HOG band %d -> %d; MISS pi was up to %.2f", b0, b.m, b0,
              b.h, max_pi);
  /* HOG never gets above MISS again, and the help shows: most intervals
   * from the second after the rise on meet the goal. Counted in MISS's
   * policy intervals (20 of them), not in wall-clock time. */
  int violations = 0, from = -1;
  band_pair worst = b;
  int rise = intervals_of("MISS");
  ULONGLONG began = GetTickCount64();
  while (!intervals_reached("MISS", rise + 20, began)) {
    b = miss_hog_step(r);
    if (from < 0 && intervals_of("MISS") >= rise + 2)
      from = n_irecs();
    if (b.h > b.m) {
      violations++;
      worst = b;
    }
  }
  int to = n_irecs();
  stop_load(r);
  th_finish(r);
  int met = 0, intervals = 0;
  for (int i = from < 0 ? to : from; i < to; i++)
    if (strcmp(g_log.irec[i].s.name, "MISS") == 0) {
      intervals++;
      met += g_log.irec[i].s.pi > 0 && g_log.irec[i].s.pi <= 1.0;
    }
  static char hist[4096];
  miss_history(from < 0 ? to : from, hist, sizeof hist);
  cr_assert_eq(atomic_load(&g_pol.bad), 0);
  cr_assert_gt(max_pi, 1.0, "MISS never showed a missed goal (pi up to %.2f)", max_pi);
  cr_assert_eq(violations, 0, "%d samples with HOG (band %d) above MISS (band %d)", violations,
               worst.h, worst.m);
  cr_assert_geq(met * 2, intervals, "MISS met its goal in %d of %d intervals after the help:%s",
                met, intervals, hist);
}

/* Once the policy has found the band at which MISS meets its goal, the load
 * does not change, so neither should the bands. A policy that hands the
 * help back once MISS overachieves makes it miss again and oscillates; the
 * window is 100 intervals (5 s) so that a hold-off of a couple of seconds
 * before drifting back does not hide the oscillation. */
#define SETTLE_INTERVALS 100

Test(enclave, policy_settles_once_the_goal_is_met) {
  weft_region *r = miss_hog_region();
  band_pair b;
  double max_pi;
  if (!run_until_helped(r, &b, &max_pi)) {
    stop_load(r);
    th_finish(r);
    cr_assert_fail("MISS never rose above HOG (MISS pi up to %.2f)", max_pi);
  }
  /* Let the policy finish what it is doing: 10 intervals (of MISS, as the
   * policy counts them; so is the window). */
  int warm = intervals_of("MISS") + 10;
  ULONGLONG began = GetTickCount64();
  while (!intervals_reached("MISS", warm, began))
    b = miss_hog_step(r);
  int from = n_irecs();
  int changes = 0, prev_m = b.m, prev_h = b.h;
  began = GetTickCount64();
  while (!intervals_reached("MISS", warm + SETTLE_INTERVALS, began)) {
    b = miss_hog_step(r);
    changes += (b.m != prev_m) + (b.h != prev_h);
    prev_m = b.m;
    prev_h = b.h;
  }
  int to = n_irecs();
  stop_load(r);
  th_finish(r);
  int misses = 0, intervals = 0;
  for (int i = from; i < to; i++)
    if (strcmp(g_log.irec[i].s.name, "MISS") == 0) {
      intervals++;
      misses += g_log.irec[i].s.pi > 1.0;
    }
  static char hist[4096];
  miss_history(from, hist, sizeof hist);
  cr_log_info("%d band changes; MISS missed in %d of %d intervals:%s", changes, misses, intervals,
              hist);
  cr_assert_eq(atomic_load(&g_pol.bad), 0);
  /* Two changes of slack: on a shared machine an odd interval can miss
   * from outside noise (a descheduled worker) and make the policy move. */
  cr_assert_leq(changes, 2,
                "%d band changes over %d intervals of a steady load; MISS missed in %d of %d "
                "intervals:%s",
                changes, SETTLE_INTERVALS, misses, intervals, hist);
}

/* A steady load that meets every goal: after a warm-up, bands stay put. */
typedef struct steady_sample {
  int band[4];
} steady_sample;

Test(enclave, policy_is_stable_when_goals_are_met) {
  static const char *const names[] = {"SA", "SB", "SC", WEFT_DEFAULT_ENCLAVE};
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  cfg.policy_interval_ms = 50;
  weft_region *r = th_region_cfg(&cfg);
  def_enclave(r, "SA", 2, WEFT_GOAL_AVERAGE, 200, 0, 0);
  def_enclave(r, "SB", 3, WEFT_GOAL_PERCENTILE, 300, 90, 0);
  def_enclave(r, "SC", 4, WEFT_GOAL_NONE, 0, 0, 0);
  def_tx(r, "TSA", short_task, 50, "SA");
  def_tx(r, "TSB", short_task, 50, "SB");
  def_tx(r, "TSC", hog_task, 50, "SC");
  for (long i = 0; i < 2; i++)
    th_start(r, "TSC", &g_pol, i);
  /* Warm-up: 10 intervals (of SA, as the policy counts them). */
  int warm = intervals_of("SA") + 10;
  ULONGLONG began = GetTickCount64();
  while (!intervals_reached("SA", warm, began)) {
    th_start(r, "TSA", &g_pol, 0);
    th_start(r, "TSB", &g_pol, 0);
    Sleep(5);
  }
  /* Then 20 intervals, sampled about twice per interval. */
  static steady_sample samples[400];
  int ns = 0, changes = 0;
  ULONGLONG next_sample = 0;
  began = GetTickCount64();
  while (!intervals_reached("SA", warm + 20, began)) {
    th_start(r, "TSA", &g_pol, 0);
    th_start(r, "TSB", &g_pol, 0);
    Sleep(5);
    if (GetTickCount64() >= next_sample && ns < 400) {
      next_sample = GetTickCount64() + 25;
      for (int k = 0; k < 4; k++)
        samples[ns].band[k] = est(r, names[k]).dispatch_priority;
      if (ns > 0)
        for (int k = 0; k < 4; k++)
          changes += samples[ns].band[k] != samples[ns - 1].band[k];
      ns++;
    }
  }
  weft_enclave_stats sa = est(r, "SA"), sb = est(r, "SB");
  stop_load(r);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_pol.bad), 0);
  cr_log_info("%d samples, %d band changes; SA pi %.2f avg %.2f ms, SB pi %.2f p90 %.2f ms", ns,
              changes, sa.pi, sa.resp_avg_ms, sb.pi, sb.resp_p90_ms);
  /* The load did meet the goals (else the test proves nothing). */
  cr_assert(sa.pi > 0 && sa.pi <= 1.0, "SA pi %.2f", sa.pi);
  cr_assert(sb.pi > 0 && sb.pi <= 1.0, "SB pi %.2f", sb.pi);
  cr_assert_geq(ns, 10);
  if (changes > 1) {
    char buf[2048] = "";
    for (int i = 0; i < ns && strlen(buf) < sizeof buf - 32; i++)
      snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " %d%d%d%d", samples[i].band[0],
               samples[i].band[1], samples[i].band[2], samples[i].band[3]);
    cr_assert_fail("%d band changes under a steady load that meets its goals (SA SB SC "
                   "DEFAULT):%s",
                   changes, buf);
  }
}

/* ------------------------------------------------------------------------ */
/* Immediate shutdown with starts waiting on a capped transient enclave     */
/* ------------------------------------------------------------------------ */

static atomic_int g_cap_running; /* members holding the cap slot */
static weft_event *g_cap_never;  /* never posted: members wait until purged */

static void wait_for_purge(weft_task *t) {
  atomic_fetch_add(&g_cap_running, 1);
  weft_event_wait(t, g_cap_never, WEFT_WAIT_FOREVER);
}

/* One member holds the only cap slot, two wait on the cap: an immediate
 * shutdown purges the first, cancels the others (they never run) and emits
 * the transient's final record once. */
Test(enclave, immediate_shutdown_cancels_capped_transient_starts) {
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_cap_never), 0);
  def_enclave(r, "CAP1", 3, WEFT_GOAL_NONE, 0, 0, 1);
  def_tx(r, "TCAP", wait_for_purge, 10, "CAP1");
  weft_enclave *e = NULL;
  cr_assert_eq(weft_enclave_create(r, "CAP1", &e), 0);
  for (long i = 0; i < 3; i++)
    start_in(r, "TCAP", NULL, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, e);
  weft_enclave_release(e);
  th_wait_until(atomic_load(&g_cap_running) == 1);
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, TH_SHUTDOWN_MS), 0);
  weft_region_stats s = th_stats(r);
  weft_region_destroy(r);
  weft_event_destroy(g_cap_never);
  cr_assert_eq(atomic_load(&g_cap_running), 1, "a capped start ran");
  cr_assert_eq(s.tasks_abended, 1);
  cr_assert_eq(s.starts_cancelled, 2);
  int finals = 0;
  for (int i = 0; i < n_irecs(); i++)
    finals += g_log.irec[i].final;
  cr_assert_eq(finals, 1, "final records: %d", finals);
}

/* Starts waiting on an enclave cap are bounded by max_queued like the
 * admission queue: past it weft_start refuses with WEFT_EBUSY; the queued
 * ones all run once the slot holder ends. */
static weft_event *g_capq_go;
static atomic_long g_capq_ran;

static void capq_member(weft_task *t) {
  weft_event_wait(t, g_capq_go, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&g_capq_ran, 1);
}

Test(enclave, cap_waiters_bounded_by_max_queued) {
  weft_region_config cfg = ecfg(1, WEFT_DISPATCH_GOAL);
  cfg.max_queued = 2;
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_event_create(&g_capq_go), 0);
  def_enclave(r, "CAPQ", 3, WEFT_GOAL_NONE, 0, 0, 1);
  def_tx(r, "TCQ", capq_member, 10, "CAPQ");
  for (long i = 0; i < 3; i++) /* one holds the slot, two wait on the cap */
    start_in(r, "TCQ", NULL, i, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL, NULL);
  int rc = try_start_in(r, "TCQ", NULL, 3, WEFT_PRIORITY_DEFAULT, WEFT_MEMBER_CLASSIFY, NULL,
                        NULL, NULL);
  cr_assert_eq(rc, WEFT_EBUSY, "a third cap waiter: %s", weft_err_name(rc));
  cr_assert_eq(weft_event_post(g_capq_go), 0);
  th_wait_count(&g_capq_ran, 3);
  shut(r);
  weft_region_stats s = th_stats(r);
  weft_region_destroy(r);
  weft_event_destroy(g_capq_go);
  cr_assert_eq(s.tasks_completed, 3);
  cr_assert_eq(s.starts_rejected, 1);
}
