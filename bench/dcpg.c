/* dcpg.c - bench_dcpg: the DebitCredit transaction as a Weft program on
 * PostgreSQL through ODBC (weft/db.h), the Weft side of the comparison
 * with pgbench that scripts/bench-dcpg.sh runs (docs/performance.md
 * "DebitCredit on PostgreSQL: Weft vs pgbench").
 *
 * The database is the pgbench schema (`pgbench -i -s SCALE`, made by the
 * script). --terminals tasks are started at once, each a simulated
 * terminal inside this process with zero think time: it runs the DebitCredit
 * transaction in a loop, one unit of work each, exactly as pgbench's
 * built-in tpcb-like script does it:
 *   UPDATE pgbench_accounts SET abalance = abalance + delta WHERE aid = ?
 *   SELECT abalance FROM pgbench_accounts WHERE aid = ?
 *   UPDATE pgbench_tellers  SET tbalance = tbalance + delta WHERE tid = ?
 *   UPDATE pgbench_branches SET bbalance = bbalance + delta WHERE bid = ?
 *   INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (...)
 *   weft_syncpoint (SQLEndTran COMMIT: one phase, the only participant)
 * with aid, tid, bid and delta drawn uniformly as pgbench draws them. Every
 * statement is a parameterised weft_db_exec / weft_db_query (one offload
 * hand-off each: no ODBC call runs on a worker). The data source's pool
 * holds --connections connections: with more terminals than connections
 * the terminals queue for one (suspended tasks), which is the TP monitor's
 * multiplexing.
 *
 * Timed mode (default): after --warmup seconds the host notes the time,
 * sleeps --seconds and stops the terminals; the transactions that ended
 * inside the window give tps and the latency percentiles (nearest rank;
 * latency from the request for a connection to the syncpoint's return).
 * Counted mode (--transactions N): each terminal runs exactly N transactions
 * (the smoke test: the script then checks the history has T x N rows).
 *
 * Writes --out (default dcpg.json):
 *   {"terminals", "connections", "tps", "p50_ms", "p99_ms", "window_txns",
 *    "committed", "failed"}
 * committed counts every syncpoint that returned 0 over the whole run (the
 * script compares it with count(*) of pgbench_history).
 *
 * Environment: WEFT_PG_CONN, the ODBC connection string (with its
 * credentials). Exit 0 when no transaction failed, 1 otherwise. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sql.h>
#include <sqlext.h>

#include "benchutil.h"
#include "weft.h"
#include "weft/db.h"

typedef struct options {
  unsigned terminals, connections, scale, seconds, warmup, transactions, workers;
  int batch; /* --calls run: the five statements in one weft_db_run */
  const char *out;
} options;

static options g_opt = {8, 8, 1, 10, 1, 0, 2, 0, "dcpg.json"};

typedef struct sample {
  double end_ns, latency_ns;
} sample;

/* One terminal's figures. Owned by its task while it runs, read by the host
 * after g_done is signalled. */
typedef struct terminal {
  unsigned id;
  sample *samples;
  size_t n, cap;
  uint64_t committed, failed;
  char first_error[300];
} terminal;

static terminal *g_terms;
static volatile LONG g_stop, g_running;
static HANDLE g_done; /* manual-reset: the last terminal ended */

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void note_failure(weft_task *t, terminal *tm, weft_db_conn *c, int rc, const char *what) {
  if (tm->failed++ == 0) {
    char state[6];
    const char *msg = c != NULL ? weft_db_error(c, state) : "";
    snprintf(tm->first_error, sizeof tm->first_error, "%s: %s %s%s%s", what, weft_err_name(rc),
             c != NULL ? state : "", c != NULL ? " " : "", msg);
  }
  weft_rollback(t);
}

/* The five statements' values, for dc_batch. */
typedef struct dc_args {
  SQLINTEGER aid, tid, bid, delta, abalance;
  weft_db_conn *c;
} dc_args;

/* Execute sql on st with the n integers of v bound to its markers. */
static int exec_ints(dc_args *a, SQLHSTMT st, const wchar_t *sql, unsigned n, SQLINTEGER *const *v) {
  for (unsigned i = 0; i < n; i++)
    if (!SQL_SUCCEEDED(SQLBindParameter(st, (SQLUSMALLINT)(i + 1), SQL_PARAM_INPUT, SQL_C_SLONG,
                                        SQL_INTEGER, 0, 0, v[i], 0, NULL)))
      return weft_db_note(a->c, SQL_HANDLE_STMT, st);
  SQLRETURN rc = SQLExecDirectW(st, (SQLWCHAR *)sql, SQL_NTS);
  if (!SQL_SUCCEEDED(rc))
    return weft_db_note(a->c, SQL_HANDLE_STMT, st);
  return 0;
}

/* --calls run: the transaction's five statements in one weft_db_run, on
 * the raw SQLHDBC with bound integer parameters. 0 or WEFT_EDB. Offload
 * thread. */
static int dc_batch(void *hdbc, void *arg) {
  dc_args *a = arg;
  SQLHSTMT st;
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, hdbc, &st)))
    return weft_db_note(a->c, SQL_HANDLE_DBC, hdbc);
  SQLINTEGER *acc[] = {&a->delta, &a->aid}, *sel[] = {&a->aid}, *tel[] = {&a->delta, &a->tid},
             *br[] = {&a->delta, &a->bid}, *his[] = {&a->tid, &a->bid, &a->aid, &a->delta};
  SQLLEN ind;
  int rc = exec_ints(a, st, L"UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?", 2,
                     acc);
  SQLFreeStmt(st, SQL_RESET_PARAMS);
  if (rc == 0)
    rc = exec_ints(a, st, L"SELECT abalance FROM pgbench_accounts WHERE aid = ?", 1, sel);
  if (rc == 0 && (!SQL_SUCCEEDED(SQLFetch(st)) ||
                  !SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SLONG, &a->abalance, 0, &ind))))
    rc = weft_db_note(a->c, SQL_HANDLE_STMT, st);
  SQLFreeStmt(st, SQL_CLOSE);
  SQLFreeStmt(st, SQL_RESET_PARAMS);
  if (rc == 0)
    rc = exec_ints(a, st, L"UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?", 2,
                   tel);
  SQLFreeStmt(st, SQL_RESET_PARAMS);
  if (rc == 0)
    rc = exec_ints(a, st, L"UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?", 2,
                   br);
  SQLFreeStmt(st, SQL_RESET_PARAMS);
  if (rc == 0)
    rc = exec_ints(a, st,
                   L"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                   L"VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)",
                   4, his);
  SQLFreeHandle(SQL_HANDLE_STMT, st);
  return rc;
}

/* One DebitCredit unit of work: 0, or the failing call's result (the unit
 * of work rolled back). Task. */
static int one_transaction(weft_task *t, terminal *tm, uint64_t *rs) {
  uint32_t accounts = 100000u * g_opt.scale;
  char aid[16], tid[16], bid[16], delta[16], bal[32];
  snprintf(aid, sizeof aid, "%u", (unsigned)(next_rand(rs) % accounts) + 1);
  snprintf(bid, sizeof bid, "%u", (unsigned)(next_rand(rs) % g_opt.scale) + 1);
  snprintf(tid, sizeof tid, "%u", (unsigned)(next_rand(rs) % (10u * g_opt.scale)) + 1);
  snprintf(delta, sizeof delta, "%d", (int)(next_rand(rs) % 10001) - 5000);
  weft_db_conn *c = NULL;
  int rc = weft_db_connection(t, "PG", &c);
  if (rc != 0) {
    note_failure(t, tm, NULL, rc, "weft_db_connection");
    return rc;
  }
  if (g_opt.batch) {
    dc_args a = {atoi(aid), atoi(tid), atoi(bid), atoi(delta), 0, c};
    int res = 0;
    rc = weft_db_run(t, c, dc_batch, &a, &res);
    if (rc != 0 || res != 0) {
      note_failure(t, tm, c, rc != 0 ? rc : res, "weft_db_run");
      return rc != 0 ? rc : res;
    }
    rc = weft_syncpoint(t);
    if (rc != 0)
      note_failure(t, tm, c, rc, "weft_syncpoint");
    return rc;
  }
  const char *p_acc[] = {delta, aid};
  const char *p_sel[] = {aid};
  const char *p_tel[] = {delta, tid};
  const char *p_br[] = {delta, bid};
  const char *p_his[] = {tid, bid, aid, delta};
  if ((rc = weft_db_exec(t, c,
                         "UPDATE pgbench_accounts SET abalance = abalance + ?::int "
                         "WHERE aid = ?::int",
                         2, p_acc, NULL)) != 0 ||
      (rc = weft_db_query(t, c, "SELECT abalance FROM pgbench_accounts WHERE aid = ?::int", 1,
                          p_sel, bal, sizeof bal, NULL)) != 0 ||
      (rc = weft_db_exec(t, c,
                         "UPDATE pgbench_tellers SET tbalance = tbalance + ?::int "
                         "WHERE tid = ?::int",
                         2, p_tel, NULL)) != 0 ||
      (rc = weft_db_exec(t, c,
                         "UPDATE pgbench_branches SET bbalance = bbalance + ?::int "
                         "WHERE bid = ?::int",
                         2, p_br, NULL)) != 0 ||
      (rc = weft_db_exec(t, c,
                         "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                         "VALUES (?::int, ?::int, ?::int, ?::int, CURRENT_TIMESTAMP)",
                         4, p_his, NULL)) != 0) {
    note_failure(t, tm, c, rc, "statement");
    return rc;
  }
  rc = weft_syncpoint(t);
  if (rc != 0) {
    note_failure(t, tm, c, rc, "weft_syncpoint");
    return rc;
  }
  return 0;
}

static void record(terminal *tm, double t0, double t1) {
  if (tm->n == tm->cap) {
    size_t cap = tm->cap ? tm->cap * 2 : 4096;
    sample *s = realloc(tm->samples, cap * sizeof *s);
    if (s == NULL)
      return; /* out of memory: the sample is lost, the count is not */
    tm->samples = s;
    tm->cap = cap;
  }
  tm->samples[tm->n++] = (sample){t1, t1 - t0};
}

/* Program DCPG: one terminal. Its start data is the terminal's index. */
static void p_terminal(weft_task *t) {
  const void *d;
  size_t len;
  weft_retrieve(t, &d, &len);
  terminal *tm = &g_terms[*(const unsigned *)d];
  uint64_t rs = 0x9E3779B97F4A7C15ull * (tm->id + 1) ^ (uint64_t)GetTickCount64();
  for (unsigned i = 0;; i++) {
    if (g_opt.transactions ? i >= g_opt.transactions : InterlockedCompareExchange(&g_stop, 0, 0))
      break;
    double t0 = bench_now_ns();
    if (one_transaction(t, tm, &rs) != 0) {
      if (tm->failed > 100)
        break; /* the database is gone: stop, the report says why */
      continue;
    }
    tm->committed++;
    record(tm, t0, bench_now_ns());
  }
  if (InterlockedDecrement(&g_running) == 0)
    SetEvent(g_done);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t rank = (size_t)ceil(p * (double)n);
  return sorted[(rank < 1 ? 1 : rank) - 1];
}

static void on_region_log(void *ctx, char level, const char *msg) {
  (void)ctx;
  if (level != 'I')
    fprintf(stderr, "  [region %c] %s\n", level, msg);
}

static weft_region *region_open(const char *conn) {
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = g_opt.workers;
  cfg.offload_threads = g_opt.connections + 2;
  cfg.log_fn = on_region_log;
  weft_region *r;
  bench_check(weft_region_create(&cfg, &r), "weft_region_create");
  weft_db_source_def d = {0};
  d.name = "PG";
  d.connect = conn;
  d.region = "DCPG";
  d.pool_min = d.pool_max = g_opt.connections;
  d.wait_timeout_ms = 120000; /* 200 terminals on 8 connections queue */
  d.two_phase = WEFT_DB_2PC_NONE;
  bench_check(weft_db_source_define(r, &d), "weft_db_source_define");
  bench_check(weft_program_define(r, "DCPG", p_terminal), "weft_program_define");
  weft_transaction_def td = {.tranid = "DCPG", .program = "DCPG", .priority = 10};
  bench_check(weft_transaction_define(r, &td), "weft_transaction_define");
  return r;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_dcpg [--terminals T] [--connections C] [--scale N] [--seconds S]\n"
          "         [--warmup S] [--transactions N] [--workers W] [--calls exec|run]\n"
          "         [--out PATH]\n"
          "  --calls exec: one weft_db_exec/weft_db_query per statement (default);\n"
          "  --calls run: the five statements in one weft_db_run\n"
          "  WEFT_PG_CONN: the ODBC connection string of the pgbench database\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      usage();
    const char *v = argv[++i];
    unsigned n = (unsigned)strtoul(v, NULL, 10);
    if (strcmp(a, "--terminals") == 0)
      g_opt.terminals = n;
    else if (strcmp(a, "--connections") == 0)
      g_opt.connections = n;
    else if (strcmp(a, "--scale") == 0)
      g_opt.scale = n;
    else if (strcmp(a, "--seconds") == 0)
      g_opt.seconds = n;
    else if (strcmp(a, "--warmup") == 0)
      g_opt.warmup = n;
    else if (strcmp(a, "--transactions") == 0)
      g_opt.transactions = n;
    else if (strcmp(a, "--workers") == 0)
      g_opt.workers = n;
    else if (strcmp(a, "--calls") == 0 && (strcmp(v, "run") == 0 || strcmp(v, "exec") == 0))
      g_opt.batch = strcmp(v, "run") == 0;
    else if (strcmp(a, "--out") == 0)
      g_opt.out = v;
    else
      usage();
  }
  if (g_opt.terminals < 1 || g_opt.terminals > 10000 || g_opt.connections < 1 ||
      g_opt.connections > WEFT_DB_POOL_MAX || g_opt.scale < 1 || g_opt.seconds < 1 ||
      g_opt.workers < 1)
    usage();
}

int main(int argc, char **argv) {
  bench_set_name("bench_dcpg");
  parse_args(argc, argv);
  const char *conn = getenv("WEFT_PG_CONN");
  if (conn == NULL || *conn == '\0')
    bench_die("WEFT_PG_CONN", "not set (scripts/bench-dcpg.sh runs this program)");
  weft_region *r = region_open(conn);
  g_terms = calloc(g_opt.terminals, sizeof *g_terms);
  unsigned *idx = calloc(g_opt.terminals, sizeof *idx);
  if (g_terms == NULL || idx == NULL)
    bench_die("calloc", "out of memory");
  g_done = CreateEventW(NULL, TRUE, FALSE, NULL);
  bench_check_win32(g_done != NULL, "CreateEvent");
  g_running = (LONG)g_opt.terminals;
  for (unsigned i = 0; i < g_opt.terminals; i++) {
    g_terms[i].id = i;
    idx[i] = i;
    bench_check(weft_start(r, "DCPG", &idx[i], sizeof idx[i], NULL, NULL), "weft_start");
  }
  double t0 = 0, t1 = 0;
  if (g_opt.transactions == 0) {
    Sleep(g_opt.warmup * 1000);
    t0 = bench_now_ns();
    Sleep(g_opt.seconds * 1000);
    t1 = bench_now_ns();
    InterlockedExchange(&g_stop, 1);
  }
  /* Every terminal ends within its transaction after g_stop (a statement
   * is bounded by the source's 30 s statement timeout, a wait for a
   * connection by 120 s): ten minutes means a terminal was lost. */
  if (WaitForSingleObject(g_done, 600000) != WAIT_OBJECT_0)
    bench_die("terminals", "not all ended within 10 minutes of the end of the run");

  size_t total = 0;
  uint64_t committed = 0, failed = 0;
  for (unsigned i = 0; i < g_opt.terminals; i++) {
    total += g_terms[i].n;
    committed += g_terms[i].committed;
    failed += g_terms[i].failed;
    if (g_terms[i].failed)
      fprintf(stderr, "  terminal %u: %llu failed transactions, the first: %s\n", i,
              (unsigned long long)g_terms[i].failed, g_terms[i].first_error);
  }
  double *lat = malloc((total ? total : 1) * sizeof *lat);
  if (lat == NULL)
    bench_die("malloc", "out of memory");
  size_t n = 0;
  for (unsigned i = 0; i < g_opt.terminals; i++)
    for (size_t k = 0; k < g_terms[i].n; k++)
      if (g_opt.transactions || (g_terms[i].samples[k].end_ns >= t0 &&
                                 g_terms[i].samples[k].end_ns <= t1))
        lat[n++] = g_terms[i].samples[k].latency_ns;
  qsort(lat, n, sizeof *lat, compare_doubles);
  double secs = g_opt.transactions ? 0 : (t1 - t0) / 1e9;
  double tps = secs > 0 ? (double)n / secs : 0;
  double p50 = percentile(lat, n, 0.50) / 1e6, p99 = percentile(lat, n, 0.99) / 1e6;
  bench_check(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 60000), "weft_region_shutdown");
  weft_region_destroy(r);

  const char *wine = bench_wine_version();
  printf("bench_dcpg (--calls %s): %u terminals on %u connections%s%s: %.0f tps  p50 %.2f ms  p99 %.2f ms  "
         "(%zu in the window, %llu committed, %llu failed)\n",
         g_opt.batch ? "run" : "exec", g_opt.terminals, g_opt.connections, wine ? ", under Wine " : "", wine ? wine : "", tps,
         p50, p99, n, (unsigned long long)committed, (unsigned long long)failed);
  FILE *f = fopen(g_opt.out, "w");
  bench_check_win32(f != NULL, "fopen (--out)");
  fprintf(f,
          "{\"terminals\": %u, \"connections\": %u, \"calls\": \"%s\", \"tps\": %.1f, \"p50_ms\": %.3f, "
          "\"p99_ms\": %.3f, \"window_txns\": %zu, \"committed\": %llu, \"failed\": %llu}\n",
          g_opt.terminals, g_opt.connections, g_opt.batch ? "run" : "exec", tps, p50, p99, n, (unsigned long long)committed,
          (unsigned long long)failed);
  fclose(f);
  return failed == 0 ? 0 : 1;
}
