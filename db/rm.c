/* rm.c - a data source as a resource manager of Weft units of work
 * (include/weft.h, weft_rm_ops; docs/odbc.md "Two-phase commit").
 *
 * txn/ decides: with the data source as the only participant it calls
 * commit_one_phase (SQLEndTran COMMIT); with other participants (Weft's
 * recoverable resources, other data sources) it calls prepare on each
 * (PREPARE TRANSACTION 'weft:REGION:SOURCE:UOW'), writes and flushes its
 * commit record naming them, then commit_checked on each (COMMIT PREPARED);
 * a rollback or an abend calls rollback (SQLEndTran ROLLBACK, or ROLLBACK
 * PREPARED once prepared). The callbacks run on the task's fiber and do
 * their ODBC calls through weft__offload_raw: they must finish even for a
 * task that is being purged or unwinding an abend. Each gives the task's
 * connection back to the pool when its part of the unit of work is over.
 *
 * Restart: weft_rm_register calls recover for every unit of work that
 * committed with this source but whose phase two the log does not show as
 * done: COMMIT PREPARED. Then every transaction this region and source
 * still hold prepared in the database is rolled back (presumed abort: no
 * commit record, no commit). Both are reported in the region log and in
 * the source's figures.
 *
 * Crash points (test build, docs/recovery.md): db-prepare (a participant
 * prepared, the decision not yet written), db-commit (the decision written
 * and flushed, before a COMMIT PREPARED), db-committed (after a
 * participant's COMMIT PREPARED, before the next one's). */
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "txn/txn.h" /* crash points */

void weft__gid(const weft__dbsrc *s, uint64_t uow, char *out, size_t cap) {
  snprintf(out, cap, "weft:%s:%s:%016llx", s->s_region, s->s_name, (unsigned long long)uow);
}

/* ---- ODBC work on an offload thread ------------------------------------------ */

enum { J_SQL, J_END_COMMIT, J_END_ROLLBACK, J_AUTOCOMMIT, J_FRESH };

typedef struct rm_job {
  int kind;
  weft_db_conn *c;
  const char *sql;
  char err[WEFT__DB_MSG]; /* J_FRESH: why it failed */
} rm_job;

/* J_FRESH: sql with autocommit on a new connection of the source (the
 * task's own broke). */
static int fresh_exec(rm_job *j) {
  weft_db_conn *n;
  int rc = weft__odbc_open(j->c->c_src, &n, j->err, sizeof j->err);
  if (rc != 0)
    return rc;
  rc = weft__odbc_autocommit_exec(n, j->sql);
  if (rc != 0)
    snprintf(j->err, sizeof j->err, "SQLSTATE %s: %s", n->c_state, n->c_msg);
  weft__odbc_close(n);
  return rc;
}

static int job_fn(void *arg) {
  rm_job *j = arg;
  switch (j->kind) {
    case J_SQL:
      return weft__odbc_exec(j->c, j->sql, 0, NULL, NULL, NULL, 0, NULL);
    case J_END_COMMIT:
      return weft__odbc_end(j->c, true);
    case J_END_ROLLBACK:
      return weft__odbc_end(j->c, false);
    case J_AUTOCOMMIT:
      return weft__odbc_autocommit_exec(j->c, j->sql);
    default:
      return fresh_exec(j);
  }
}

static int run(weft_task *t, rm_job *j) {
  int res = 0;
  int rc = weft__offload_raw(t, job_fn, j, &res);
  return rc != 0 ? rc : res;
}

static void count(weft__dbsrc *s, uint64_t *field) {
  weft__lock_acquire(&s->s_lock);
  (*field)++;
  weft__lock_release(&s->s_lock);
}

/* ---- The callbacks (the committing task's fiber) -------------------------------- */

static int rm_prepare(void *ctx, weft_task *t, uint64_t uow) {
  weft__dbsrc *s = ctx;
  weft_db_conn *c = weft__dbtask_conn(t, s);
  if (c == NULL)
    return 0; /* enlisted, but it got no connection: nothing to prepare */
  if (s->s_2pc == WEFT_DB_2PC_NONE) {
    weft__log(s->s_r, 'E',
              "task %llu: data source %s has no two-phase protocol, and the unit of "
              "work changed another participant too: rolled back",
              (unsigned long long)weft__task_no(t), s->s_name);
    return 1;
  }
  char gid[96], sql[128];
  weft__gid(s, uow, gid, sizeof gid);
  snprintf(sql, sizeof sql, "PREPARE TRANSACTION '%s'", gid);
  rm_job j = {.kind = J_SQL, .c = c, .sql = sql};
  if (run(t, &j) != 0) {
    weft__log(s->s_r, 'W',
              "task %llu: data source %s: PREPARE TRANSACTION failed (SQLSTATE %s: "
              "%s): it votes no",
              (unsigned long long)weft__task_no(t), s->s_name, c->c_state, c->c_msg);
    return 1;
  }
  c->c_prepared = true;
  c->c_uow = uow;
  weft__crash_point(s->s_r, "db-prepare");
  return 0;
}

static int rm_commit(void *ctx, weft_task *t, uint64_t uow) {
  weft__dbsrc *s = ctx;
  weft_db_conn *c = weft__dbtask_conn(t, s);
  if (c == NULL)
    return 0;
  weft__crash_point(s->s_r, "db-commit");
  char gid[96], sql[128];
  weft__gid(s, uow, gid, sizeof gid);
  snprintf(sql, sizeof sql, "COMMIT PREPARED '%s'", gid);
  rm_job j = {.kind = J_AUTOCOMMIT, .c = c, .sql = sql};
  int rc = run(t, &j);
  if (rc != 0 && c->c_broken) { /* once more, on a new connection */
    rm_job f = {.kind = J_FRESH, .c = c, .sql = sql};
    rc = run(t, &f);
  }
  c->c_prepared = false;
  if (rc != 0) {
    weft__log(s->s_r, 'E',
              "task %llu: data source %s: COMMIT PREPARED '%s' failed (SQLSTATE %s: "
              "%s): owed; retried by the next task that takes a connection, and at restart",
              (unsigned long long)weft__task_no(t), s->s_name, gid, c->c_state, c->c_msg);
    weft__owed_add(s, uow);
    weft__dbtask_release(t, c);
    return 1;
  }
  count(s, &s->s_st.commits_2pc);
  weft__dbtask_release(t, c);
  weft__crash_point(s->s_r, "db-committed");
  return 0;
}

static void rm_rollback(void *ctx, weft_task *t, uint64_t uow) {
  weft__dbsrc *s = ctx;
  weft_db_conn *c = weft__dbtask_conn(t, s);
  if (c == NULL)
    return;
  char gid[96], sql[128];
  weft__gid(s, uow, gid, sizeof gid);
  snprintf(sql, sizeof sql, "ROLLBACK PREPARED '%s'", gid);
  rm_job j = {.kind = c->c_prepared ? J_AUTOCOMMIT : J_END_ROLLBACK, .c = c, .sql = sql};
  if (run(t, &j) != 0) {
    /* Unprepared: the server rolls back what a lost connection held.
     * Prepared: restart's presumed abort removes it. */
    weft__log(s->s_r, 'W', "task %llu: data source %s: rollback failed (SQLSTATE %s: %s)%s",
              (unsigned long long)weft__task_no(t), s->s_name, c->c_state, c->c_msg,
              c->c_prepared ? ": the prepared transaction is rolled back at the next restart" : "");
    c->c_broken = true;
  }
  c->c_prepared = false;
  count(s, &s->s_st.rollbacks);
  weft__dbtask_release(t, c);
}

static int rm_commit_one_phase(void *ctx, weft_task *t, uint64_t uow) {
  weft__dbsrc *s = ctx;
  weft_db_conn *c = weft__dbtask_conn(t, s);
  if (c == NULL)
    return 0;
  rm_job j = {.kind = J_END_COMMIT, .c = c};
  int rc = run(t, &j);
  if (rc != 0) {
    weft__log(s->s_r, 'W',
              "task %llu: data source %s: COMMIT failed (SQLSTATE %s: %s): rolled back",
              (unsigned long long)weft__task_no(t), s->s_name, c->c_state, c->c_msg);
    c->c_broken = c->c_broken || rc != WEFT_EDB;
  }
  count(s, rc == 0 ? &s->s_st.commits_1pc : &s->s_st.rollbacks);
  weft__dbtask_release(t, c);
  return rc != 0;
}

/* ---- Restart -------------------------------------------------------------------- */

/* Inside weft_rm_register (host thread): uow committed, its phase two may
 * be owed. s->s_setup is the connection to use. */
static void rm_recover(void *ctx, uint64_t uow) {
  weft__dbsrc *s = ctx;
  weft_db_conn *c = s->s_setup;
  char gid[96], sql[128];
  weft__gid(s, uow, gid, sizeof gid);
  snprintf(sql, sizeof sql, "COMMIT PREPARED '%s'", gid);
  int rc = weft__odbc_autocommit_exec(c, sql);
  if (rc == 0) {
    s->s_st.recovered_commits++;
    weft__log(s->s_r, 'I',
              "data source %s: restart: committed prepared transaction '%s' (its "
              "unit of work committed before the region stopped)",
              s->s_name, gid);
  } else if (strcmp(c->c_state, "42704") != 0) { /* 42704: not prepared (done already) */
    weft__log(s->s_r, 'E',
              "data source %s: restart: COMMIT PREPARED '%s' failed (SQLSTATE %s: "
              "%s): owed, retried when a task next takes a connection",
              s->s_name, gid, c->c_state, c->c_msg);
    weft__owed_add(s, uow);
  }
}

static bool owed(weft__dbsrc *s, uint64_t uow) {
  for (unsigned i = 0; i < s->s_nowed; i++)
    if (s->s_owed[i] == uow)
      return true;
  return false;
}

/* Roll back what this region and source hold prepared without a commit
 * decision (presumed abort). Host thread. */
static void presumed_abort(weft__dbsrc *s, weft_db_conn *c) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "weft:%s:%s:", s->s_region, s->s_name);
  char **gids;
  size_t n;
  if (weft__odbc_prepared(c, prefix, &gids, &n) != 0) {
    weft__log(s->s_r, 'E',
              "data source %s: restart: cannot list prepared transactions (SQLSTATE "
              "%s: %s)",
              s->s_name, c->c_state, c->c_msg);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t uow = strtoull(gids[i] + strlen(prefix), NULL, 16);
    if (!owed(s, uow)) {
      char sql[320];
      snprintf(sql, sizeof sql, "ROLLBACK PREPARED '%s'", gids[i]);
      if (weft__odbc_autocommit_exec(c, sql) == 0) {
        s->s_st.recovered_rollbacks++;
        weft__log(s->s_r, 'W',
                  "data source %s: restart: rolled back prepared transaction '%s' "
                  "(no commit decision in the log: presumed abort)",
                  s->s_name, gids[i]);
      } else {
        weft__log(s->s_r, 'E',
                  "data source %s: restart: ROLLBACK PREPARED '%s' failed (SQLSTATE "
                  "%s: %s)",
                  s->s_name, gids[i], c->c_state, c->c_msg);
      }
    }
    free(gids[i]);
  }
  free(gids);
}

int weft__rm_setup(weft__dbsrc *s, weft_db_conn *c) {
  static const weft_rm_ops ops = {
      .prepare = rm_prepare,
      .rollback = rm_rollback,
      .commit_one_phase = rm_commit_one_phase,
      .recover = rm_recover,
      .commit_checked = rm_commit,
  };
  s->s_setup = c;
  int rc = weft_rm_register(s->s_r, s->s_name, &ops, s, &s->s_rm);
  if (rc != 0) {
    weft__log(s->s_r, 'E', "data source %s: its resource manager cannot be registered: %s",
              s->s_name, weft_err_name(rc));
  } else {
    presumed_abort(s, c);
  }
  s->s_setup = NULL;
  return rc;
}
