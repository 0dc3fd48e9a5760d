/* test_logfail.c - what a region does when its log cannot be written: the
 * fault point log-error (WEFT_CRASH, weft_test library) fails a write of
 * the log writer as a full disk would. The commit in that write returns
 * WEFT_ESYS, no reader sees its change, the region stops serving (tasks
 * purged, starts refused), a normal shutdown writes no clean checkpoint,
 * and restart shows exactly what was durable. Also what restart says
 * about an empty log. In-process, one data directory per test. */
#include <stdlib.h>

#include "helpers.h"

TestSuite(logfail, .timeout = TH_TEST_TIMEOUT);

#define FILE_NAME "ACCTS"
#define KEY "K1"

/* ---- The region log ---------------------------------------------------- */

static SRWLOCK g_log_lock = SRWLOCK_INIT;
static char g_log[16384];
static size_t g_log_len;

static void capture_log(void *ctx, char level, const char *msg) {
  (void)ctx;
  AcquireSRWLockExclusive(&g_log_lock);
  int n = snprintf(g_log + g_log_len, sizeof g_log - g_log_len, "[%c] %s\n", level, msg);
  if (n > 0 && g_log_len + (size_t)n < sizeof g_log)
    g_log_len += (size_t)n;
  ReleaseSRWLockExclusive(&g_log_lock);
}

/* Is there a line at level that contains text? Host thread. */
static int log_has(char level, const char *text) {
  AcquireSRWLockShared(&g_log_lock);
  int found = 0;
  char tag[5] = {'[', level, ']', ' ', 0};
  for (const char *l = g_log; *l != '\0' && !found;) {
    const char *end = strchr(l, '\n');
    size_t n = end ? (size_t)(end - l) : strlen(l);
    const char *hit = strstr(l, text);
    found = strncmp(l, tag, 4) == 0 && hit != NULL && hit < l + n;
    l += n + (end != NULL);
  }
  ReleaseSRWLockShared(&g_log_lock);
  return found;
}

/* ---- Programs ------------------------------------------------------------ */

/* What the tasks did, for the host to check. */
typedef struct lf_ctx {
  char value[16];       /* WRITER writes this into KEY */
  atomic_int written;   /* WRITER: its syncpoint returned */
  int write_rc;         /* ... with this */
  atomic_int reader_up; /* READER runs and spins */
  atomic_int go;        /* the host lets READER read */
  atomic_int read_done;
  int read_rc;
  char got[32];         /* what READER read ("" if nothing) */
  atomic_int waiter_up; /* WAITER is about to wait */
  weft_event *never;    /* never posted */
} lf_ctx;

static void writer_program(weft_task *t) {
  lf_ctx *c = TH_CTX(t, lf_ctx);
  int rc = weft_file_write(t, FILE_NAME, KEY, 2, c->value, strlen(c->value));
  if (rc == WEFT_EEXIST)
    rc = weft_file_rewrite(t, FILE_NAME, KEY, 2, c->value, strlen(c->value));
  if (rc == 0)
    rc = weft_syncpoint(t);
  c->write_rc = rc;
  atomic_store(&c->written, 1);
}

/* Holds its worker without suspending until the host says go, then reads
 * KEY: the reader that was running when the log failed. */
static void reader_program(weft_task *t) {
  lf_ctx *c = TH_CTX(t, lf_ctx);
  atomic_store(&c->reader_up, 1);
  th_spin_until_set(&c->go);
  size_t len = 0;
  c->read_rc = weft_file_read(t, FILE_NAME, KEY, 2, c->got, sizeof c->got - 1, &len, 0);
  c->got[c->read_rc == 0 ? len : 0] = '\0';
  atomic_store(&c->read_done, 1);
}

/* Waits for an event that is never posted. */
static void waiter_program(weft_task *t) {
  lf_ctx *c = TH_CTX(t, lf_ctx);
  atomic_store(&c->waiter_up, 1);
  weft_event_wait(t, c->never, WEFT_WAIT_FOREVER);
}

/* ---- Fixture ------------------------------------------------------------- */

static char g_dir[MAX_PATH];
static th_records g_recs;

/* Open g_dir (WEFT_CRASH=crash, or unset when NULL) with ACCTS and the
 * three transactions. */
static weft_region *open_region(const char *crash) {
  char env[64];
  snprintf(env, sizeof env, "WEFT_CRASH=%s", crash ? crash : "");
  _putenv(env);
  AcquireSRWLockExclusive(&g_log_lock);
  g_log_len = 0;
  g_log[0] = '\0';
  ReleaseSRWLockExclusive(&g_log_lock);
  weft_region_config cfg = th_config(2, 64);
  cfg.data_dir = g_dir;
  cfg.log_fn = capture_log;
  cfg.task_record_fn = th_on_record;
  cfg.record_ctx = &g_recs;
  weft_region *r = th_region_cfg(&cfg);
  _putenv("WEFT_CRASH=");
  weft_file_def fd = {FILE_NAME, 8, 32};
  cr_assert_eq(weft_file_define(r, &fd), 0);
  th_define(r, "WRITER", writer_program, 1);
  th_define(r, "READER", reader_program, 1);
  th_define(r, "WAITER", waiter_program, 1);
  return r;
}

static void dir_init(const char *name) {
  char exe[MAX_PATH];
  th_exe_dir(exe);
  snprintf(g_dir, sizeof g_dir, "%s\\logfail-%s", exe, name);
  th_rm_tree(g_dir);
}

/* Run WRITER with value; its syncpoint's code. */
static int write_value(weft_region *r, lf_ctx *c, const char *value) {
  snprintf(c->value, sizeof c->value, "%s", value);
  atomic_store(&c->written, 0);
  th_start(r, "WRITER", c, 0);
  th_wait_until(atomic_load(&c->written));
  return c->write_rc;
}

/* A region on a fresh directory where KEY is "old" (durable), WAITER
 * waits and READER runs; then the commit of "new" fails in the log writer
 * (log-error at its second batch: the first was "old"'s). Host starts go
 * to the two workers in turn, so WRITER runs on the worker READER does
 * not hold. */
static weft_region *fail_a_commit(const char *name, lf_ctx *c, uint64_t *waiter_no,
                                  bool checkpoint) {
  dir_init(name);
  memset(&g_recs, 0, sizeof g_recs);
  weft_region *r = open_region("log-error:2");
  cr_assert_eq(weft_event_create(&c->never), 0);
  cr_assert_eq(write_value(r, c, "old"), 0, "the first commit failed");
  if (checkpoint) /* "old" goes into a checkpoint; the new generation's log is empty */
    cr_assert_eq(weft_checkpoint(r), 0);
  *waiter_no = th_start(r, "WAITER", c, 0);
  th_wait_until(atomic_load(&c->waiter_up));
  th_start(r, "READER", c, 0);
  th_wait_until(atomic_load(&c->reader_up));
  cr_assert_eq(weft_log_failed(r), 0);
  int rc = write_value(r, c, "new");
  cr_assert_eq(rc, WEFT_ESYS, "the commit of \"new\" returned %s, not ESYS", weft_err_name(rc));
  return r;
}

/* Let READER read, wait for the region to drain and destroy it. */
static void finish(weft_region *r, lf_ctx *c) {
  atomic_store(&c->go, 1);
  th_wait_until(atomic_load(&c->read_done));
  weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  weft_region_destroy(r);
  weft_event_destroy(c->never);
}

/* ---- Tests --------------------------------------------------------------- */

/* The reader that runs when the log fails does not see the failed commit's
 * change: the store is closed (before: it read "new", which restart then
 * lost). */
Test(logfail, reader_does_not_see_the_failed_commit) {
  static lf_ctx c;
  uint64_t waiter;
  weft_region *r = fail_a_commit("reader", &c, &waiter, false);
  atomic_store(&c.go, 1);
  th_wait_until(atomic_load(&c.read_done));
  cr_assert_eq(c.read_rc, WEFT_ESYS, "the reader got %s and \"%s\"", weft_err_name(c.read_rc),
               c.got);
  finish(r, &c);
  th_rm_tree(g_dir);
}

/* The region stops serving: weft_log_failed says so, the log says so at
 * level E, a waiting task is purged (AEXZ) and a new start is refused. */
Test(logfail, region_stops_serving) {
  static lf_ctx c;
  uint64_t waiter;
  weft_region *r = fail_a_commit("stops", &c, &waiter, false);
  cr_assert_eq(weft_log_failed(r), WEFT_ESYS);
  cr_assert(log_has('E', "the region has stopped serving"), "region log:\n%s", g_log);
  const char *code = th_abcode_of(&g_recs, waiter);
  cr_assert_str_eq(code, "AEXZ", "the waiting task ended with \"%s\"", code);
  uint64_t no = 0;
  int rc = th_try_start(r, "READER", &c, 0, WEFT_PRIORITY_DEFAULT, &no);
  cr_assert_eq(rc, WEFT_ESHUTDOWN, "a start after the failure: %s", weft_err_name(rc));
  finish(r, &c);
  th_rm_tree(g_dir);
}

/* A normal shutdown after the failure writes no clean checkpoint and says
 * so; restart runs recovery and shows exactly the durable state: "old". */
Test(logfail, restart_shows_the_durable_state) {
  static lf_ctx c;
  uint64_t waiter;
  weft_region *r = fail_a_commit("restart", &c, &waiter, false);
  finish(r, &c);
  cr_assert(log_has('W', "no clean checkpoint written"), "region log:\n%s", g_log);
  cr_assert_not(log_has('I', "clean shutdown"), "region log:\n%s", g_log);

  r = open_region(NULL);
  weft_recovery_info info;
  cr_assert_eq(weft_region_recovery_get(r, &info), 0);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_eq(weft_log_failed(r), 0);
  static lf_ctx c2;
  th_start(r, "READER", &c2, 0);
  atomic_store(&c2.go, 1);
  th_wait_until(atomic_load(&c2.read_done));
  cr_assert_eq(c2.read_rc, 0, "%s", weft_err_name(c2.read_rc));
  cr_assert_str_eq(c2.got, "old");
  th_finish(r);
  th_rm_tree(g_dir);
}

/* A checkpoint after "old", then the failed write: the generation's log
 * has its header only, and the restart report says that it holds no
 * records. */
Test(logfail, header_only_log_is_reported) {
  static lf_ctx c;
  uint64_t waiter;
  weft_region *r = fail_a_commit("hdronly", &c, &waiter, true);
  finish(r, &c);
  r = open_region(NULL);
  weft_recovery_info info;
  cr_assert_eq(weft_region_recovery_get(r, &info), 0);
  cr_assert(strstr(info.message, "holds no records") != NULL, "%s", info.message);
  th_finish(r);
  th_rm_tree(g_dir);
}

/* A zero-length last log (its header never written) is reported at level
 * W, naming the file. */
Test(logfail, empty_log_is_reported) {
  static lf_ctx c;
  dir_init("empty");
  weft_region *r = open_region(NULL);
  cr_assert_eq(write_value(r, &c, "old"), 0);
  th_finish(r); /* a clean checkpoint and a header-only log of generation 2 */
  char log[MAX_PATH];
  snprintf(log, sizeof log, "%s\\weft.log.%016llx", g_dir, 2ull);
  HANDLE h = CreateFileA(log, GENERIC_WRITE, 0, NULL, TRUNCATE_EXISTING, 0, NULL);
  cr_assert_neq(h, INVALID_HANDLE_VALUE, "truncate %s: %lu", log, GetLastError());
  CloseHandle(h);
  r = open_region(NULL);
  cr_assert(log_has('W', "weft.log.0000000000000002 is empty (0 bytes"), "region log:\n%s", g_log);
  th_finish(r);
  th_rm_tree(g_dir);
}
