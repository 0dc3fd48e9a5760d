/* test_db_pg.c - db/ against a real PostgreSQL through ODBC (docs/odbc.md).
 *
 * Run by tests/db/pgtest.sh, which starts a throwaway cluster and passes
 * WEFT_PG_CONN, WEFT_PG_USER, WEFT_PG_PASSWORD and WEFT_PG_CTL. The tests
 * check the database itself through a separate ODBC connection of the
 * host thread (pg_*), not through Weft. */
#include "helpers.h" /* windows.h first: the ODBC headers need it */
#include "regiondef.h"

#include <sql.h>
#include <sqlext.h>
#include <stdlib.h>

#include "weft/db.h"

#include "pgutil.h"

/* ---- Programs ----------------------------------------------------------------- */

typedef struct shared {
  atomic_int rc[16];       /* what the programs' calls returned */
  char text[256];          /* a query's answer */
  char state[8];           /* an SQLSTATE seen */
  atomic_int a_in_sql;     /* worker test: task A is in its statement */
  atomic_int a_done;       /* ... and out of it */
  atomic_int b_saw_a_done; /* task B finished: had A's statement returned? */
  atomic_int b_done;
  weft_event *ev; /* a task holds its connection until posted */
  atomic_int holding;
} shared;

static shared g;

static void p_roundtrip(weft_task *t) {
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  if (rc == 0) {
    const char *p[] = {"h\xc3\xa9llo \xe2\x82\xac"};
    rc = weft_db_query(t, c, "SELECT ?::text || '!'", 1, p, g.text, sizeof g.text, NULL);
    if (rc != 0)
      weft_db_error(c, g.state);
  }
  atomic_store(&g.rc[0], rc);
}

/* Raw ODBC inside weft_db_run: runs on an offload thread. */
static int raw_count(void *hdbc, void *arg) {
  weft_db_conn *c = arg;
  SQLHSTMT st;
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, hdbc, &st)))
    return weft_db_note(c, SQL_HANDLE_DBC, hdbc);
  SQLWCHAR sql[] = L"SELECT count(*) FROM generate_series(1, 42)";
  SQLBIGINT v = -1;
  SQLLEN ind;
  int rc = 0;
  if (!SQL_SUCCEEDED(SQLExecDirectW(st, sql, SQL_NTS)) || !SQL_SUCCEEDED(SQLFetch(st)) ||
      !SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SBIGINT, &v, 0, &ind)))
    rc = weft_db_note(c, SQL_HANDLE_STMT, st);
  SQLFreeHandle(SQL_HANDLE_STMT, st);
  return rc != 0 ? rc : (int)v;
}

static void p_raw(weft_task *t) {
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c), res = -1;
  if (rc == 0)
    rc = weft_db_run(t, c, raw_count, c, &res);
  atomic_store(&g.rc[0], rc);
  atomic_store(&g.rc[1], res);
}

/* Insert row k (idx) with v, then end as told: 0 commit, 1 rollback, 2 abend. */
static void p_insert(weft_task *t) {
  th_arg a = th_arg_of(t);
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  char k[16];
  snprintf(k, sizeof k, "%ld", a.idx % 1000);
  const char *p[] = {k, "v"};
  if (rc == 0)
    rc = weft_db_exec(t, c, "INSERT INTO t(k, v) VALUES (?::int, ?)", 2, p, NULL);
  atomic_store(&g.rc[0], rc);
  long how = a.idx / 1000;
  if (how == 1)
    atomic_store(&g.rc[1], weft_rollback(t));
  else if (how == 2)
    weft_abend(t, "TDBA");
}

/* Insert and write a recoverable TD item in one unit of work: 2PC. */
static void p_insert_td(weft_task *t) {
  th_arg a = th_arg_of(t);
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  char k[16];
  snprintf(k, sizeof k, "%ld", a.idx);
  const char *p[] = {k, "td"};
  if (rc == 0)
    rc = weft_db_exec(t, c, "INSERT INTO t(k, v) VALUES (?::int, ?)", 2, p, NULL);
  if (rc == 0)
    rc = weft_td_write(t, "AUDIT", k, strlen(k));
  atomic_store(&g.rc[0], rc);
  atomic_store(&g.rc[1], weft_syncpoint(t));
}

static void p_sleep_a(weft_task *t) {
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  atomic_store(&g.a_in_sql, 1);
  if (rc == 0)
    rc = weft_db_exec(t, c, "SELECT pg_sleep(1)", 0, NULL, NULL);
  atomic_store(&g.a_done, 1);
  atomic_store(&g.rc[0], rc);
}

static void p_busy_b(weft_task *t) {
  while (!atomic_load(&g.a_in_sql))
    weft_yield(t);
  for (int i = 0; i < 10; i++)
    weft_yield(t);
  atomic_store(&g.b_saw_a_done, atomic_load(&g.a_done));
  atomic_store(&g.b_done, 1);
}

/* Take a connection and hold it until g.ev is posted. */
static void p_hold(weft_task *t) {
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  atomic_store(&g.rc[2], rc);
  atomic_store(&g.holding, 1);
  weft_event_wait(t, g.ev, WEFT_WAIT_FOREVER);
}

/* Ask for a connection; record the outcome in rc[idx]. */
static void p_take(weft_task *t) {
  th_arg a = th_arg_of(t);
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  if (rc == 0)
    rc = weft_db_query(t, c, "SELECT 1", 0, NULL, g.text, sizeof g.text, NULL);
  atomic_store(&g.rc[a.idx], rc);
}

/* ---- Fixtures ------------------------------------------------------------------ */

static char g_log[16384];
static SRWLOCK g_log_lock = SRWLOCK_INIT;

static void log_fn(void *ctx, char level, const char *msg) {
  AcquireSRWLockExclusive(&g_log_lock);
  size_t n = strlen(g_log);
  snprintf(g_log + n, sizeof g_log - n, "%c %s\n", level, msg);
  ReleaseSRWLockExclusive(&g_log_lock);
}

static weft_region *region(unsigned workers) {
  weft_region_config cfg = th_config(workers, 64);
  cfg.log_fn = log_fn;
  return th_region_cfg(&cfg);
}

static weft_db_source_def source(void) {
  weft_db_source_def d = {0};
  d.name = "PG";
  d.connect = getenv("WEFT_PG_CONN");
  d.user = getenv("WEFT_PG_USER");
  d.password = getenv("WEFT_PG_PASSWORD");
  d.region = "TEST";
  cr_assert_not_null(d.connect, "WEFT_PG_CONN is not set: run through tests/db/pgtest.sh");
  return d;
}

static void define_pg(weft_region *r, weft_db_source_def *d) {
  int rc = weft_db_source_define(r, d);
  cr_assert_eq(rc, 0, "weft_db_source_define: %s\n%s", weft_err_name(rc), g_log);
}

static void setup_table(void) {
  pg_connect();
  pg_exec("DROP TABLE IF EXISTS t");
  pg_exec("CREATE TABLE t(k int PRIMARY KEY, v text)");
  pg_exec("GRANT ALL ON t TO weft");
}

TestSuite(db, .timeout = 120.0);

/* ---- ODBC round trip --------------------------------------------------------- */

Test(db, round_trip_utf8) {
  weft_region *r = region(2);
  weft_db_source_def d = source();
  define_pg(r, &d);
  th_define(r, "RT", p_roundtrip, 10);
  th_start(r, "RT", NULL, 0);
  th_wait_ended(r, 1);
  cr_assert_eq(atomic_load(&g.rc[0]), 0, "%s %s", weft_err_name(g.rc[0]), g.state);
  cr_assert_str_eq(g.text, "h\xc3\xa9llo \xe2\x82\xac!");
  weft_db_source_stats st;
  cr_assert_eq(weft_db_source_stats_get(r, "PG", &st), 0);
  cr_assert_eq(st.commits_1pc, 1, "a read-only unit of work commits in one phase");
  cr_assert_eq(st.open, 1);
  cr_assert_eq(st.idle, 1);
  th_finish(r);
}

/* The raw SQLHDBC, through weft_db_run. */
Test(db, raw_odbc_in_weft_db_run) {
  weft_region *r = region(1);
  weft_db_source_def d = source();
  define_pg(r, &d);
  th_define(r, "RAW", p_raw, 10);
  th_start(r, "RAW", NULL, 0);
  th_wait_ended(r, 1);
  cr_assert_eq(g.rc[0], 0, "%s", weft_err_name(g.rc[0]));
  cr_assert_eq(g.rc[1], 42);
  th_finish(r);
}

/* ---- Commit, rollback, abend ---------------------------------------------------- */

Test(db, commit_rollback_abend_in_the_database) {
  setup_table();
  weft_region *r = region(2);
  weft_db_source_def d = source();
  define_pg(r, &d);
  th_define(r, "INS", p_insert, 10);
  th_start(r, "INS", NULL, 1); /* k 1, committed at task end */
  th_wait_ended(r, 1);
  cr_assert_eq(g.rc[0], 0);
  th_start(r, "INS", NULL, 1002); /* k 2, rolled back */
  th_wait_ended(r, 2);
  cr_assert_eq(g.rc[0], 0);
  cr_assert_eq(g.rc[1], 0);
  th_start(r, "INS", NULL, 2003); /* k 3, abended */
  th_wait_ended(r, 3);
  cr_assert_eq(g.rc[0], 0);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 1, "only the committed row");
  cr_assert_eq(pg_scalar("SELECT k FROM t"), 1);
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_eq(st.commits_1pc, 1);
  cr_assert_eq(st.rollbacks, 2);
  cr_assert_eq(st.commits_2pc, 0);
  cr_assert_eq(st.idle, st.open, "every connection is back in the pool");
  th_finish(r);
}

/* ---- Two-phase commit with a recoverable TD queue ------------------------------- */

Test(db, two_phase_with_a_td_queue) {
  setup_table();
  weft_region *r = region(2);
  weft_td_def td = {.name = "AUDIT", .recoverable = 1};
  cr_assert_eq(weft_td_define(r, &td), 0);
  weft_db_source_def d = source();
  define_pg(r, &d);
  th_define(r, "ITD", p_insert_td, 10);
  th_start(r, "ITD", NULL, 7);
  th_wait_ended(r, 1);
  cr_assert_eq(g.rc[0], 0);
  cr_assert_eq(g.rc[1], 0, "syncpoint: %s\n%s", weft_err_name(g.rc[1]), g_log);
  uint64_t depth = 0;
  weft_td_depth(r, "AUDIT", &depth);
  cr_assert_eq(depth, 1);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t WHERE k = 7"), 1);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 0);
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_eq(st.commits_2pc, 1);
  cr_assert_eq(st.commits_1pc, 0);
  th_finish(r);
}

/* A source without a two-phase protocol cannot join a unit of work that
 * changed something else: the syncpoint rolls both back. */
Test(db, no_two_phase_protocol_rolls_back) {
  setup_table();
  weft_region *r = region(2);
  weft_td_def td = {.name = "AUDIT", .recoverable = 1};
  cr_assert_eq(weft_td_define(r, &td), 0);
  weft_db_source_def d = source();
  d.two_phase = WEFT_DB_2PC_NONE;
  define_pg(r, &d);
  th_define(r, "ITD", p_insert_td, 10);
  th_start(r, "ITD", NULL, 8);
  th_wait_ended(r, 1);
  cr_assert_eq(g.rc[1], WEFT_EROLLEDBACK, "%s", weft_err_name(g.rc[1]));
  uint64_t depth = 9;
  weft_td_depth(r, "AUDIT", &depth);
  cr_assert_eq(depth, 0);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 0);
  th_finish(r);
}

/* ---- A worker is never blocked ---------------------------------------------------- */

Test(db, a_statement_does_not_block_the_worker) {
  weft_region *r = region(1); /* one worker: B runs only if A left it */
  weft_db_source_def d = source();
  define_pg(r, &d);
  th_define(r, "SLPA", p_sleep_a, 10);
  th_define(r, "BUSB", p_busy_b, 10);
  th_start(r, "SLPA", NULL, 0);
  th_start(r, "BUSB", NULL, 0);
  th_wait_ended(r, 2);
  cr_assert_eq(g.rc[0], 0, "%s", weft_err_name(g.rc[0]));
  cr_assert_eq(g.b_done, 1);
  cr_assert_eq(g.b_saw_a_done, 0, "B ran while A sat in pg_sleep(1)");
  th_finish(r);
}

/* ---- The pool ---------------------------------------------------------------------- */

Test(db, pool_exhaustion_times_out_then_recovers) {
  weft_region *r = region(2);
  weft_db_source_def d = source();
  d.pool_min = 1;
  d.pool_max = 1;
  d.wait_timeout_ms = 200;
  define_pg(r, &d);
  cr_assert_eq(weft_event_create(&g.ev), 0);
  th_define(r, "HOLD", p_hold, 10);
  th_define(r, "TAKE", p_take, 10);
  th_start(r, "HOLD", NULL, 0);
  th_wait_until(atomic_load(&g.holding));
  cr_assert_eq(g.rc[2], 0);
  th_start(r, "TAKE", NULL, 3);
  th_wait_ended(r, 1);
  cr_assert_eq(g.rc[3], WEFT_ETIMEDOUT, "%s", weft_err_name(g.rc[3]));
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_eq(st.wait_timeouts, 1);
  cr_assert_eq(st.open, 1);
  /* A waiter gets the connection the holder gives back. */
  g.rc[4] = 99;
  th_start(r, "TAKE", NULL, 4);
  th_wait_until(weft_db_source_stats_get(r, "PG", &st) == 0 && st.waiters == 1);
  weft_event_post(g.ev);
  th_wait_ended(r, 3);
  cr_assert_eq(g.rc[4], 0, "%s", weft_err_name(g.rc[4]));
  th_finish(r);
  weft_event_destroy(g.ev);
}

/* ---- Bad definitions ----------------------------------------------------------------- */

Test(db, bad_definitions_are_refused) {
  weft_region *r = region(1);
  weft_db_source_def d = source();
  d.pool_min = 5;
  d.pool_max = 2;
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EINVAL);
  cr_assert_not_null(strstr(g_log, "pool_min 5 above pool_max 2"), "%s", g_log);
  d = source();
  d.two_phase = 7;
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EINVAL);
  d = source();
  d.connect = "";
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EINVAL);
  d = source();
  d.name = "BAD:NAME";
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EBADNAME);
  d = source();
  d.pool_max = WEFT_DB_POOL_MAX + 1;
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EINVAL);
  d = source();
  define_pg(r, &d);
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EEXIST);
  weft_db_source_stats st;
  cr_assert_eq(weft_db_source_stats_get(r, "NONE", &st), WEFT_ENOTFOUND);
  th_finish(r);
}

Test(db, a_missing_dsn_is_a_clear_error) {
  weft_region *r = region(1);
  weft_db_source_def d = source();
  d.connect = "DSN=weft_no_such_dsn";
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EDB);
  cr_assert_not_null(strstr(g_log, "IM002"), "%s", g_log);
  th_finish(r);
}

Test(db, refused_credentials_are_a_clear_error) {
  weft_region *r = region(1);
  weft_db_source_def d = source();
  d.password = "wrong";
  cr_assert_eq(weft_db_source_define(r, &d), WEFT_EDB);
  cr_assert_not_null(strstr(g_log, "password authentication failed"), "%s", g_log);
  th_finish(r);
}

/* ---- Crash points and restart ------------------------------------------------------- */

/* Remove directory dir and the files in it (one level: a data directory). */
static void rm_dir(const char *dir) {
  char pat[MAX_PATH], f[MAX_PATH];
  snprintf(pat, sizeof pat, "%s\\*", dir);
  WIN32_FIND_DATAA fd;
  HANDLE h = FindFirstFileA(pat, &fd);
  if (h != INVALID_HANDLE_VALUE) {
    do {
      if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
        snprintf(f, sizeof f, "%s\\%s", dir, fd.cFileName);
        DeleteFileA(f);
      }
    } while (FindNextFileA(h, &fd));
    FindClose(h);
  }
  RemoveDirectoryA(dir);
}

/* Run dbchild.exe DIR MODE with WEFT_CRASH=crash; its exit code. */
static DWORD run_child(const char *dir, const char *mode, const char *crash) {
  char exe[MAX_PATH], cmd[1024];
  GetModuleFileNameA(NULL, exe, sizeof exe);
  char *slash = strrchr(exe, '\\');
  cr_assert_not_null(slash);
  strcpy(slash + 1, "dbchild.exe");
  snprintf(cmd, sizeof cmd, "\"%s\" \"%s\" %s", exe, dir, mode);
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  PROCESS_INFORMATION pi;
  SetEnvironmentVariableA("WEFT_CRASH", crash);
  BOOL ok = FALSE;
  for (int attempt = 0; attempt < 5 && !ok; attempt++) { /* Wine under load */
    if (attempt)
      Sleep(200);
    ok = CreateProcessA(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi);
  }
  SetEnvironmentVariableA("WEFT_CRASH", NULL);
  cr_assert(ok, "CreateProcess(%s): %lu", cmd, GetLastError());
  cr_assert_eq(WaitForSingleObject(pi.hProcess, 120000), WAIT_OBJECT_0, "the child hangs");
  DWORD code = 0;
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hProcess);
  CloseHandle(pi.hThread);
  return code;
}

/* Restart on dir: the region recovers, the sources resolve what the crash
 * left prepared. */
static weft_region *restart(const char *dir) {
  weft_region_config cfg = th_config(1, 16);
  cfg.log_fn = log_fn;
  cfg.data_dir = dir;
  weft_region *r = th_region_cfg(&cfg);
  weft_td_def td = {.name = "AUDIT", .recoverable = 1};
  weft_td_define(r, &td);
  weft_db_source_def d = source();
  define_pg(r, &d);
  d.name = "PG2";
  define_pg(r, &d);
  return r;
}

static void crash_setup(char *dir, size_t cap, const char *tag) {
  setup_table();
  pg_exec("DROP TABLE IF EXISTS t2");
  pg_exec("CREATE TABLE t2(k int PRIMARY KEY, v text)");
  snprintf(dir, cap, "dbcrash-%s-%lu", tag, GetCurrentProcessId());
  rm_dir(dir);
}

/* Prepared, no decision: restart rolls the database back (presumed abort);
 * the TD item was never committed either. */
Test(db, crash_after_prepare_rolls_back) {
  char dir[MAX_PATH];
  crash_setup(dir, sizeof dir, "prep");
  cr_assert_eq(run_child(dir, "td", "db-prepare"), 86);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 1, "left prepared");
  weft_region *r = restart(dir);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 0, "%s", g_log);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 0);
  uint64_t depth = 9;
  weft_td_depth(r, "AUDIT", &depth);
  cr_assert_eq(depth, 0);
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_eq(st.recovered_rollbacks, 1);
  cr_assert_eq(st.recovered_commits, 0);
  cr_assert_not_null(strstr(g_log, "presumed abort"), "%s", g_log);
  th_finish(r);
  rm_dir(dir);
}

/* The decision is in the log, COMMIT PREPARED never ran: restart commits. */
Test(db, crash_after_decision_commits) {
  char dir[MAX_PATH];
  crash_setup(dir, sizeof dir, "dec");
  cr_assert_eq(run_child(dir, "td", "db-commit"), 86);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 1);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 0, "not visible before COMMIT PREPARED");
  weft_region *r = restart(dir);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 0, "%s", g_log);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t WHERE k = 1"), 1);
  uint64_t depth = 0;
  weft_td_depth(r, "AUDIT", &depth);
  cr_assert_eq(depth, 1);
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_eq(st.recovered_commits, 1);
  cr_assert_eq(st.recovered_rollbacks, 0);
  th_finish(r);
  rm_dir(dir);
}

/* Two data sources; the crash comes after the first COMMIT PREPARED: the
 * second is committed at restart. */
Test(db, crash_between_participants_commits_the_rest) {
  char dir[MAX_PATH];
  crash_setup(dir, sizeof dir, "mid");
  cr_assert_eq(run_child(dir, "two", "db-committed"), 86);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 1);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 1, "the first participant committed");
  weft_region *r = restart(dir);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 0, "%s", g_log);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t2 WHERE k = 1"), 1);
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG2", &st);
  cr_assert_eq(st.recovered_commits, 1);
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_eq(st.recovered_commits, 0, "PG finished its phase two before the crash");
  th_finish(r);
  rm_dir(dir);
}

/* Two data sources, a crash after the first prepared: both roll back. */
Test(db, crash_between_prepares_rolls_back_both) {
  char dir[MAX_PATH];
  crash_setup(dir, sizeof dir, "pp");
  cr_assert_eq(run_child(dir, "two", "db-prepare"), 86);
  weft_region *r = restart(dir);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 0, "%s", g_log);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 0);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t2"), 0);
  th_finish(r);
  rm_dir(dir);
}

/* Without a crash the child commits both sources and leaves nothing. */
Test(db, two_sources_commit_in_two_phases) {
  char dir[MAX_PATH];
  crash_setup(dir, sizeof dir, "ok");
  cr_assert_eq(run_child(dir, "two", ""), 0);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM pg_prepared_xacts"), 0);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), 1);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t2"), 1);
  rm_dir(dir);
}

/* ---- The server stops and comes back under load ------------------------------------ */

#define LOAD_N 40

static atomic_int g_load_rc[3 * LOAD_N];

/* Insert row idx and commit; record the syncpoint's outcome. */
static void p_load(weft_task *t) {
  th_arg a = th_arg_of(t);
  weft_db_conn *c;
  char k[16];
  snprintf(k, sizeof k, "%ld", a.idx);
  const char *p[] = {k, "load"};
  int rc = weft_db_connection(t, "PG", &c);
  if (rc == 0)
    rc = weft_db_exec(t, c, "INSERT INTO t(k, v) VALUES (?::int, ?)", 2, p, NULL);
  if (rc == 0)
    rc = weft_syncpoint(t);
  atomic_store(&g_load_rc[a.idx], rc == 0 ? 1 : 2);
}

/* In a statement when the server stops. */
static void p_inflight(weft_task *t) {
  weft_db_conn *c;
  int rc = weft_db_connection(t, "PG", &c);
  atomic_store(&g.a_in_sql, 1);
  if (rc == 0)
    rc = weft_db_exec(t, c, "SELECT pg_sleep(60)", 0, NULL, NULL);
  if (rc != 0)
    weft_db_error(c, g.state);
  atomic_store(&g.rc[5], rc);
  atomic_store(&g.a_done, 1);
}

Test(db, server_restart_under_load) {
  setup_table();
  weft_region *r = region(2);
  weft_db_source_def d = source();
  d.pool_min = 4;
  d.pool_max = 4;
  define_pg(r, &d);
  th_define(r, "LOAD", p_load, 10);
  th_define(r, "INFL", p_inflight, 10);
  /* Before: everything commits. */
  for (long i = 0; i < LOAD_N; i++)
    th_start(r, "LOAD", NULL, i);
  th_wait_ended(r, LOAD_N);
  /* A task in a statement when the server stops gets an error. */
  th_start(r, "INFL", NULL, 0);
  th_wait_until(atomic_load(&g.a_in_sql));
  Sleep(200); /* let the statement reach the server (either way it fails) */
  pg_disconnect();
  pg_server("stop");
  th_wait_until(atomic_load(&g.a_done));
  cr_assert_eq(g.rc[5], WEFT_EDB, "%s", weft_err_name(g.rc[5]));
  /* While it is down: errors, the region goes on. */
  for (long i = LOAD_N; i < 2 * LOAD_N; i++)
    th_start(r, "LOAD", NULL, i);
  th_wait_ended(r, 2 * LOAD_N + 1);
  pg_server("start");
  /* After: every task succeeds (dead idle connections are replaced). */
  for (long i = 2 * LOAD_N; i < 3 * LOAD_N; i++)
    th_start(r, "LOAD", NULL, i);
  th_wait_ended(r, 3 * LOAD_N + 1);
  long committed = 0;
  for (long i = 0; i < 3 * LOAD_N; i++) {
    int v = atomic_load(&g_load_rc[i]);
    cr_assert(v == 1 || v == 2, "task %ld did not finish", i);
    if (i < LOAD_N || i >= 2 * LOAD_N)
      cr_assert_eq(v, 1, "task %ld failed\n%s", i, g_log);
    else
      cr_assert_eq(v, 2, "task %ld succeeded with the server down", i);
    committed += v == 1;
  }
  /* Nothing acknowledged is lost, nothing else is there. */
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE k < %d OR k >= %d", LOAD_N, 2 * LOAD_N);
  cr_assert_eq(pg_scalar("SELECT count(*) FROM t"), committed);
  cr_assert_eq(pg_scalar(sql), committed);
  weft_db_source_stats st;
  weft_db_source_stats_get(r, "PG", &st);
  cr_assert_geq(st.broken, 1);
  th_finish(r);
}

/* ---- Definition files --------------------------------------------------------------- */

/* DATASOURCE lines applied to a region: the password comes from the
 * environment; errors name the file and line. */
Test(db, definition_file_datasources) {
  char text[1024];
  snprintf(text, sizeof text,
           "REGION name=DEFS\n"
           "DATASOURCE name=PG connect=\"%s\" user=%s password_env=WEFT_PG_PASSWORD pool_min=2\n"
           "DATASOURCE name=NOPW connect=\"%s\" user=%s password_env=WEFT_TEST_UNSET_VAR\n"
           "DATASOURCE name=BADPW connect=\"%s\" user=%s password_env=WEFT_TEST_BAD_PW\n",
           getenv("WEFT_PG_CONN"), getenv("WEFT_PG_USER"), getenv("WEFT_PG_CONN"),
           getenv("WEFT_PG_USER"), getenv("WEFT_PG_CONN"), getenv("WEFT_PG_USER"));
  _putenv("WEFT_TEST_BAD_PW=nope");
  wdef_file *f = NULL;
  wdef_errors errs = {0};
  cr_assert_eq(
      wdef_parse_string(text, strlen(text), "pg.wrd", NULL, WDEF_REGION_REQUIRED, &f, &errs), 0);
  weft_region *r = region(1);
  cr_assert_eq(wdef_apply(f, r, NULL, NULL, &errs), WEFT_EINVAL);
  cr_assert_eq(errs.n, 2, "two refusals");
  cr_assert_not_null(strstr(errs.v[0].text, "pg.wrd:3: DATASOURCE NOPW: the variable "
                                            "WEFT_TEST_UNSET_VAR (password_env=) is not set"),
                     "%s", errs.v[0].text);
  cr_assert_not_null(strstr(errs.v[1].text, "pg.wrd:4: DATASOURCE BADPW: cannot define it"), "%s",
                     errs.v[1].text);
  cr_assert_not_null(strstr(g_log, "password authentication failed"), "%s", g_log);
  weft_db_source_stats st;
  cr_assert_eq(weft_db_source_stats_get(r, "PG", &st), 0, "the good one is defined");
  cr_assert_eq(st.open, 2);
  cr_assert_not_null(strstr(g_log, "two-phase postgres"));
  th_finish(r);
  wdef_free(f);
  wdef_errors_free(&errs);
}
