/* db.c - bench_db: what a database call costs through Weft (db/, on an
 * offload thread) over the same ODBC calls made directly, and what a unit
 * of work costs in one phase and in two (docs/odbc.md).
 *
 * Run it against a database with tests/db/pgtest.sh (a throwaway
 * PostgreSQL cluster), which sets WEFT_PG_CONN, WEFT_PG_USER and
 * WEFT_PG_PASSWORD:
 *
 *   tests/db/pgtest.sh wine build/bin/bench_db.exe [rounds] [calls]
 *
 * Modes, interleaved in every round:
 *   direct   SELECT 1 (allocate a statement, execute, fetch, get the value,
 *            free) on a host thread's own ODBC connection
 *   run      the same calls inside weft_db_run from a task (one offload
 *            hand-off per call)
 *   query    weft_db_query("SELECT 1") from a task (the helper layer)
 *   uow_1pc  a task's unit of work: INSERT a row, syncpoint (one phase)
 *   uow_2pc  the same plus a recoverable TD write (two phases: PREPARE
 *            TRANSACTION, Weft's commit record, COMMIT PREPARED)
 * Prints medians with min and max per call (microseconds, under Wine when
 * it is Wine) and writes db.json. The region has no data directory: the
 * two-phase figure has no log flush in it. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <sql.h>
#include <sqlext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "weft.h"
#include "weft/db.h"

enum { M_DIRECT, M_RUN, M_QUERY, M_1PC, M_2PC, M_N };
static const char *const mode_name[M_N] = {"direct", "run", "query", "uow_1pc", "uow_2pc"};

static unsigned g_calls = 1000;
static double g_ns; /* the last task's elapsed time */
static long g_key;

/* One SELECT 1 round trip on dbc: 0 or -1. */
static int select_one(SQLHDBC dbc) {
  SQLHSTMT st;
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st)))
    return -1;
  SQLWCHAR sql[] = L"SELECT 1";
  SQLINTEGER v = 0;
  SQLLEN ind;
  int ok = SQL_SUCCEEDED(SQLExecDirectW(st, sql, SQL_NTS)) && SQL_SUCCEEDED(SQLFetch(st)) &&
           SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SLONG, &v, 0, &ind)) && v == 1;
  SQLFreeHandle(SQL_HANDLE_STMT, st);
  return ok ? 0 : -1;
}

static int run_fn(void *hdbc, void *arg) {
  return select_one(hdbc);
}

static void p_calls(weft_task *t) {
  const void *d;
  size_t len;
  weft_retrieve(t, &d, &len);
  int mode = *(const int *)d;
  weft_db_conn *c;
  if (!bench_task_ok(weft_db_connection(t, "PG", &c), "weft_db_connection")) {
    bench_done_signal();
    return;
  }
  char out[16];
  double t0 = bench_now_ns();
  for (unsigned i = 0; i < g_calls; i++) {
    int res = 0;
    if (mode == M_RUN) {
      if (!bench_task_ok(weft_db_run(t, c, run_fn, NULL, &res), "weft_db_run") ||
          !bench_task_ok(res == 0 ? 0 : WEFT_EDB, "SELECT 1 in weft_db_run"))
        break;
    } else if (!bench_task_ok(weft_db_query(t, c, "SELECT 1", 0, NULL, out, sizeof out, NULL),
                              "weft_db_query")) {
      break;
    }
  }
  g_ns = bench_now_ns() - t0;
  bench_done_signal();
}

static void p_uows(weft_task *t) {
  const void *d;
  size_t len;
  weft_retrieve(t, &d, &len);
  int mode = *(const int *)d;
  double t0 = bench_now_ns();
  for (unsigned i = 0; i < g_calls; i++) {
    weft_db_conn *c;
    char k[24];
    snprintf(k, sizeof k, "%ld", ++g_key);
    const char *p[] = {k};
    if (!bench_task_ok(weft_db_connection(t, "PG", &c), "weft_db_connection") ||
        !bench_task_ok(weft_db_exec(t, c, "INSERT INTO bench_db(k) VALUES (?::bigint)", 1, p, NULL),
                       "INSERT") ||
        (mode == M_2PC && !bench_task_ok(weft_td_write(t, "AUDIT", k, strlen(k)), "td_write")) ||
        !bench_task_ok(weft_syncpoint(t), "weft_syncpoint"))
      break;
  }
  g_ns = bench_now_ns() - t0;
  bench_done_signal();
}

static SQLHDBC direct_connect(const char *conn) {
  SQLHENV env;
  SQLHDBC dbc;
  SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
  SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
  SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
  SQLWCHAR w[1024];
  MultiByteToWideChar(CP_UTF8, 0, conn, -1, w, 1024);
  if (!SQL_SUCCEEDED(SQLDriverConnectW(dbc, NULL, w, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT)))
    bench_die("SQLDriverConnectW", conn);
  return dbc;
}

static void direct_exec(SQLHDBC dbc, const char *sql) {
  SQLHSTMT st;
  SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
  SQLWCHAR w[512];
  MultiByteToWideChar(CP_UTF8, 0, sql, -1, w, 512);
  if (!SQL_SUCCEEDED(SQLExecDirectW(st, w, SQL_NTS)))
    bench_die("setup", sql);
  SQLFreeHandle(SQL_HANDLE_STMT, st);
}

/* One measurement of mode: ns per call. */
static double measure(weft_region *r, SQLHDBC dbc, int mode) {
  if (mode == M_DIRECT) {
    double t0 = bench_now_ns();
    for (unsigned i = 0; i < g_calls; i++)
      if (select_one(dbc) != 0)
        bench_die("SELECT 1", "direct");
    return (bench_now_ns() - t0) / g_calls;
  }
  bench_done_arm();
  const char *tran = mode == M_RUN || mode == M_QUERY ? "CALLS" : "UOWS";
  bench_check(weft_start(r, tran, &mode, sizeof mode, NULL, NULL), "weft_start");
  bench_done_wait(mode_name[mode]);
  bench_tasks_check();
  return g_ns / g_calls;
}

int main(int argc, char **argv) {
  bench_set_name("bench_db");
  unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 7;
  if (argc > 2)
    g_calls = (unsigned)atoi(argv[2]);
  const char *conn = getenv("WEFT_PG_CONN");
  if (conn == NULL || rounds < 1 || g_calls < 1)
    bench_die("WEFT_PG_CONN", "run it through tests/db/pgtest.sh (see bench/db.c)");
  char full[1024];
  snprintf(full, sizeof full, "%s;UID=%s;PWD=%s", conn, getenv("WEFT_PG_USER"),
           getenv("WEFT_PG_PASSWORD"));
  SQLHDBC dbc = direct_connect(full);
  direct_exec(dbc, "DROP TABLE IF EXISTS bench_db");
  direct_exec(dbc, "CREATE TABLE bench_db(k bigint PRIMARY KEY)");

  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = 2;
  weft_region *r;
  bench_check(weft_region_create(&cfg, &r), "weft_region_create");
  weft_td_def td = {.name = "AUDIT", .recoverable = 1};
  bench_check(weft_td_define(r, &td), "weft_td_define");
  weft_db_source_def d = {0};
  d.name = "PG";
  d.connect = conn;
  d.user = getenv("WEFT_PG_USER");
  d.password = getenv("WEFT_PG_PASSWORD");
  d.region = "BENCH";
  bench_check(weft_db_source_define(r, &d), "weft_db_source_define");
  bench_check(weft_program_define(r, "CALLS", p_calls), "program");
  bench_check(weft_program_define(r, "UOWS", p_uows), "program");
  weft_transaction_def t1 = {.tranid = "CALLS", .program = "CALLS", .priority = 10};
  weft_transaction_def t2 = {.tranid = "UOWS", .program = "UOWS", .priority = 10};
  bench_check(weft_transaction_define(r, &t1), "transaction");
  bench_check(weft_transaction_define(r, &t2), "transaction");
  bench_done_init();

  double *s[M_N];
  for (int m = 0; m < M_N; m++)
    s[m] = calloc(rounds, sizeof *s[m]);
  for (int m = 0; m < M_N; m++) /* warm-up */
    measure(r, dbc, m);
  for (unsigned i = 0; i < rounds; i++)
    for (int m = 0; m < M_N; m++)
      s[m][i] = measure(r, dbc, m);

  const char *wine = bench_wine_version();
  printf("bench_db: %u rounds x %u calls, interleaved; PostgreSQL on loopback%s%s\n", rounds,
         g_calls, wine ? ", under Wine " : "", wine ? wine : "");
  printf("%-10s %12s %12s %12s %10s\n", "mode", "median us", "min us", "max us", "x direct");
  bench_summary sum[M_N];
  for (int m = 0; m < M_N; m++)
    sum[m] = bench_summarize(s[m], rounds);
  FILE *j = fopen("db.json", "w");
  if (j != NULL)
    fprintf(j, "{\"rounds\": %u, \"calls\": %u, \"wine\": %s, \"modes\": [", rounds, g_calls,
            wine ? "true" : "false");
  for (int m = 0; m < M_N; m++) {
    printf("%-10s %12.1f %12.1f %12.1f %10.2f\n", mode_name[m], sum[m].median / 1000,
           sum[m].min / 1000, sum[m].max / 1000, sum[m].median / sum[M_DIRECT].median);
    if (j != NULL)
      fprintf(j, "%s{\"mode\": \"%s\", \"median_us\": %.2f, \"min_us\": %.2f, \"max_us\": %.2f}",
              m ? ", " : "", mode_name[m], sum[m].median / 1000, sum[m].min / 1000,
              sum[m].max / 1000);
  }
  if (j != NULL) {
    fprintf(j, "]}\n");
    fclose(j);
  }
  weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 30000);
  weft_region_destroy(r);
  return 0;
}
