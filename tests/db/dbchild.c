/* dbchild.c - the child process of the db/ crash tests (test_db_pg.c).
 *
 * Usage: dbchild DATA_DIR MODE
 *   td   one unit of work: INSERT INTO t (k 1) and a recoverable TD item on
 *        AUDIT, then syncpoint (two-phase: the database and Weft's queue)
 *   two  one unit of work over two data sources on the same database: PG
 *        inserts into t (k 1), PG2 into t2 (k 1), then syncpoint
 * Built on the test library (weft_test), so WEFT_CRASH=<point> ends it at
 * that crash point (exit 86). Exits 0 when the unit of work committed, 1
 * otherwise; messages go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "weft/db.h"

static int g_rc = -100;
static const char *g_mode;

static void log_fn(void *ctx, char level, const char *msg) {
  fprintf(stderr, "%c %s\n", level, msg);
}

static void prog(weft_task *t) {
  weft_db_conn *c, *c2;
  const char *p[] = {"1", "x"};
  int rc = weft_db_connection(t, "PG", &c);
  if (rc == 0)
    rc = weft_db_exec(t, c, "INSERT INTO t(k, v) VALUES (?::int, ?)", 2, p, NULL);
  if (rc == 0 && strcmp(g_mode, "two") == 0) {
    rc = weft_db_connection(t, "PG2", &c2);
    if (rc == 0)
      rc = weft_db_exec(t, c2, "INSERT INTO t2(k, v) VALUES (?::int, ?)", 2, p, NULL);
  } else if (rc == 0) {
    rc = weft_td_write(t, "AUDIT", "1", 1);
  }
  if (rc == 0)
    rc = weft_syncpoint(t);
  g_rc = rc;
}

static int define_source(weft_region *r, const char *name) {
  weft_db_source_def d = {0};
  d.name = name;
  d.connect = getenv("WEFT_PG_CONN");
  d.user = getenv("WEFT_PG_USER");
  d.password = getenv("WEFT_PG_PASSWORD");
  d.region = "TEST";
  return weft_db_source_define(r, &d);
}

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  g_mode = argv[2];
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = 1;
  cfg.data_dir = argv[1];
  cfg.log_fn = log_fn;
  weft_region *r;
  int rc = weft_region_create(&cfg, &r);
  if (rc != 0) {
    fprintf(stderr, "create: %s\n", weft_err_name(rc));
    return 1;
  }
  weft_td_def td = {.name = "AUDIT", .recoverable = 1};
  weft_td_define(r, &td);
  if ((rc = define_source(r, "PG")) != 0 || (rc = define_source(r, "PG2")) != 0) {
    fprintf(stderr, "define: %s\n", weft_err_name(rc));
    return 1;
  }
  weft_program_define(r, "PROG", prog);
  weft_transaction_def tx = {.tranid = "PROG", .program = "PROG", .priority = 10};
  weft_transaction_define(r, &tx);
  weft_start(r, "PROG", NULL, 0, NULL, NULL);
  weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 30000);
  weft_region_destroy(r);
  fprintf(stderr, "unit of work: %s\n", weft_err_name(g_rc));
  return g_rc == 0 ? 0 : 1;
}
