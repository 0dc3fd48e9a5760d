/* api.c - what a program calls on its connection: its ODBC work on an
 * offload thread (weft_db_run) and the helpers for parameterised
 * statements (weft_db_exec, weft_db_query). Each call is the task's own,
 * on its fiber; the ODBC calls run on an offload thread through
 * weft_offload while the worker runs other tasks. A task purged during a
 * statement is abended when the statement returns (the source's statement
 * timeout bounds the wait); its unit of work is then rolled back. */
#include "db/db.h"

void *weft_db_hdbc(weft_db_conn *c) {
  return c != NULL ? c->c_dbc : NULL;
}

const char *weft_db_error(const weft_db_conn *c, char *sqlstate) {
  if (c == NULL) {
    if (sqlstate != NULL)
      sqlstate[0] = '\0';
    return "";
  }
  if (sqlstate != NULL)
    memcpy(sqlstate, c->c_state, 6);
  return c->c_msg;
}

/* 0 when c is a connection t holds. Task. */
static int conn_check(weft_task *t, weft_db_conn *c) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (c == NULL || weft__dbtask_conn(t, c->c_src) != c)
    return WEFT_EINVAL;
  c->c_state[0] = c->c_msg[0] = '\0';
  return 0;
}

typedef struct run_job {
  weft_db_conn *c;
  int (*fn)(void *hdbc, void *arg);
  void *arg;
} run_job;

static int run_fn(void *arg) {
  run_job *j = arg;
  return j->fn(j->c->c_dbc, j->arg);
}

int weft_db_run(weft_task *t, weft_db_conn *c, int (*fn)(void *hdbc, void *arg), void *arg,
                int *result) {
  int rc = conn_check(t, c);
  if (rc != 0)
    return rc;
  if (fn == NULL)
    return WEFT_EINVAL;
  run_job j = {c, fn, arg};
  return weft_offload(t, run_fn, &j, result);
}

typedef struct exec_job {
  weft_db_conn *c;
  const char *sql;
  unsigned n;
  const char *const *params;
  long long *rows;
  char *out;
  size_t cap;
  size_t *len;
} exec_job;

static int exec_fn(void *arg) {
  exec_job *j = arg;
  return weft__odbc_exec(j->c, j->sql, j->n, j->params, j->rows, j->out, j->cap, j->len);
}

static int exec_run(weft_task *t, exec_job *j) {
  int rc = conn_check(t, j->c);
  if (rc != 0)
    return rc;
  if (j->sql == NULL || (j->n > 0 && j->params == NULL) || (j->out != NULL && j->cap == 0))
    return WEFT_EINVAL;
  int res = 0;
  rc = weft_offload(t, exec_fn, j, &res);
  return rc != 0 ? rc : res;
}

int weft_db_exec(weft_task *t, weft_db_conn *c, const char *sql, unsigned n,
                 const char *const *params, long long *rows) {
  exec_job j = {c, sql, n, params, rows, NULL, 0, NULL};
  return exec_run(t, &j);
}

int weft_db_query(weft_task *t, weft_db_conn *c, const char *sql, unsigned n,
                  const char *const *params, char *out, size_t cap, size_t *len) {
  if (out == NULL)
    return WEFT_EINVAL;
  exec_job j = {c, sql, n, params, NULL, out, cap, len};
  return exec_run(t, &j);
}
