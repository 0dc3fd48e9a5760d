/* source.c - data sources: their definition, their pool of connections,
 * the tasks' connections, and db/'s row in the region's lifecycle table.
 *
 * Ownership (db.h): a source's settings are immutable after define; its
 * pool (free list, counts, waiters, owed list, figures) is under s_lock,
 * which is never held across an ODBC call or a wait. The region's list of
 * sources is under d_lock. A task's slot (weft__dbtask) is its own. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "runtime/abi.h"

/* ---- The region's sources ---------------------------------------------------- */

weft__dbsrc *weft__db_find(weft_region *r, const char *name) {
  weft__db *d = weft__db_of(r);
  if (d == NULL || name == NULL)
    return NULL;
  weft__lock_acquire(&d->d_lock);
  weft__dbsrc *s = d->d_srcs;
  while (s != NULL && strcmp(s->s_name, name) != 0)
    s = s->s_next;
  weft__lock_release(&d->d_lock);
  return s;
}

/* ---- The pool ---------------------------------------------------------------- */

/* s_lock held: hand c (or, c NULL, the right to open one: a slot) to the
 * first waiter. False when nobody waits. */
static bool handoff(weft__dbsrc *s, weft_db_conn *c) {
  weft__dbwaiter *w = s->s_wait_head;
  if (w == NULL)
    return false;
  if ((s->s_wait_head = w->w_next) == NULL)
    s->s_wait_tail = NULL;
  s->s_nwait--;
  w->w_conn = c;
  w->w_slot = c == NULL;
  w->w_done = true;
  weft_event_post(w->w_ev);
  return true;
}

/* s_lock held: take w off the queue (it timed out or its task abended). */
static void unlink_waiter(weft__dbsrc *s, weft__dbwaiter *w) {
  weft__dbwaiter **pp = &s->s_wait_head, *prev = NULL;
  while (*pp != NULL && *pp != w) {
    prev = *pp;
    pp = &(*pp)->w_next;
  }
  if (*pp == NULL)
    return;
  *pp = w->w_next;
  if (s->s_wait_tail == w)
    s->s_wait_tail = prev;
  s->s_nwait--;
}

void weft__pool_give(weft__dbsrc *s, weft_db_conn *c) {
  c->c_prepared = false;
  c->c_state[0] = c->c_msg[0] = '\0';
  weft__lock_acquire(&s->s_lock);
  c->c_epoch = s->s_epoch;
  if (!handoff(s, c)) {
    c->c_next = s->s_free;
    s->s_free = c;
    s->s_idle++;
  }
  weft__lock_release(&s->s_lock);
}

/* A broken connection was closed: its slot goes to a waiter or is freed. */
static void slot_free(weft__dbsrc *s) {
  weft__lock_acquire(&s->s_lock);
  s->s_st.broken++;
  s->s_epoch++;
  if (!handoff(s, NULL))
    s->s_open--;
  weft__lock_release(&s->s_lock);
}

typedef struct open_job {
  weft__dbsrc *s;
  weft_db_conn *c;
  char err[WEFT__DB_MSG];
} open_job;

static int open_fn(void *arg) {
  open_job *j = arg;
  return weft__odbc_open(j->s, &j->c, j->err, sizeof j->err);
}

static int close_fn(void *arg) {
  weft__odbc_close(arg);
  return 0;
}

/* Whether an idle connection still works: SELECT 1, then end that
 * transaction. 0 or WEFT_EDB. */
static int ping_fn(void *arg) {
  weft_db_conn *c = arg;
  int rc = weft__odbc_exec(c, "SELECT 1", 0, NULL, NULL, NULL, 0, NULL);
  return rc != 0 ? rc : weft__odbc_end(c, false);
}

/* An idle connection taken after a connection broke: check it; a dead one
 * is closed and its slot freed. True when c may be used. Task. */
static bool still_good(weft_task *t, weft__dbsrc *s, weft_db_conn *c, bool stale) {
  if (!stale)
    return true;
  int res = 0;
  if (weft__offload_raw(t, ping_fn, c, &res) == 0 && res == 0)
    return true;
  weft__log(s->s_r, 'W', "data source %s: an idle connection is dead (SQLSTATE %s): replaced",
            s->s_name, c->c_state);
  weft__offload_raw(t, close_fn, c, NULL);
  slot_free(s);
  return false;
}

/* Open a connection in a slot already counted in s_open (offload). */
static int open_in_slot(weft_task *t, weft__dbsrc *s, weft_db_conn **out) {
  open_job j = {.s = s};
  int res = 0;
  int rc = weft__offload_raw(t, open_fn, &j, &res);
  if (rc == 0 && res == 0) {
    *out = j.c;
    return 0;
  }
  weft__log(s->s_r, 'E', "data source %s: a new connection failed: %s", s->s_name,
            rc != 0 ? weft_err_name(rc) : j.err);
  weft__lock_acquire(&s->s_lock);
  if (!handoff(s, NULL))
    s->s_open--;
  weft__lock_release(&s->s_lock);
  return rc != 0 ? rc : res;
}

/* Wait in the queue for a connection or a slot. The waiter is on the heap
 * and named in the task's slot: an abend inside the wait leaves it to the
 * task's end (waiter_drop). */
static int wait_for(weft_task *t, weft__dbsrc *s, weft__dbtask *dt, weft_db_conn **out) {
  weft__dbwaiter *w = calloc(1, sizeof *w);
  if (w == NULL || weft_event_create(&w->w_ev) != 0) {
    free(w);
    return WEFT_ENOMEM;
  }
  w->w_src = s;
  weft__lock_acquire(&s->s_lock);
  /* Given back meanwhile? */
  if (s->s_free != NULL || s->s_open < s->s_max) {
    weft__lock_release(&s->s_lock);
    weft_event_destroy(w->w_ev);
    free(w);
    return WEFT_EAGAIN_INTERNAL;
  }
  if (s->s_wait_tail != NULL)
    s->s_wait_tail->w_next = w;
  else
    s->s_wait_head = w;
  s->s_wait_tail = w;
  s->s_nwait++;
  s->s_st.waits++;
  weft__lock_release(&s->s_lock);
  dt->dt_waiting = w;
  weft_event_wait(t, w->w_ev, s->s_wait_ms);
  dt->dt_waiting = NULL;
  weft__lock_acquire(&s->s_lock);
  bool done = w->w_done;
  if (!done) {
    unlink_waiter(s, w);
    s->s_st.wait_timeouts++;
  }
  weft__lock_release(&s->s_lock);
  weft_db_conn *c = w->w_conn;
  bool slot = w->w_slot;
  weft_event_destroy(w->w_ev);
  free(w);
  if (!done) {
    weft__log(s->s_r, 'W', "task %llu: data source %s: no connection free within %u ms",
              (unsigned long long)weft__task_no(t), s->s_name, s->s_wait_ms);
    return WEFT_ETIMEDOUT;
  }
  if (slot)
    return open_in_slot(t, s, out);
  *out = c;
  return 0;
}

/* Task end after an abend inside wait_for: the waiter leaves the queue; a
 * connection or slot it was given goes back. */
static void waiter_drop(weft_task *t, weft__dbwaiter *w) {
  weft__dbsrc *s = w->w_src;
  weft__lock_acquire(&s->s_lock);
  bool done = w->w_done;
  if (!done)
    unlink_waiter(s, w);
  weft__lock_release(&s->s_lock);
  if (done && w->w_conn != NULL)
    weft__pool_give(s, w->w_conn);
  else if (done && w->w_slot) {
    weft__lock_acquire(&s->s_lock);
    if (!handoff(s, NULL))
      s->s_open--;
    weft__lock_release(&s->s_lock);
  }
  weft_event_destroy(w->w_ev);
  free(w);
}

/* Commit what earlier tasks could not (the server was down), on c. */
static int owed_fn(void *arg) {
  weft_db_conn *c = arg;
  weft__dbsrc *s = c->c_src;
  for (;;) {
    weft__lock_acquire(&s->s_lock);
    if (s->s_nowed == 0) {
      weft__lock_release(&s->s_lock);
      return 0;
    }
    uint64_t uow = s->s_owed[--s->s_nowed];
    s->s_st.owed = s->s_nowed;
    weft__lock_release(&s->s_lock);
    char gid[96], sql[160];
    weft__gid(s, uow, gid, sizeof gid);
    snprintf(sql, sizeof sql, "COMMIT PREPARED '%s'", gid);
    int rc = weft__odbc_autocommit_exec(c, sql);
    if (rc != 0 && strcmp(c->c_state, "42704") != 0) { /* 42704: already resolved */
      weft__owed_add(s, uow);
      return rc;
    }
    weft__log(s->s_r, 'I', "data source %s: owed COMMIT PREPARED '%s' done", s->s_name, gid);
  }
}

void weft__owed_add(weft__dbsrc *s, uint64_t uow) {
  weft__lock_acquire(&s->s_lock);
  if (s->s_nowed == s->s_owedcap) {
    unsigned nc = s->s_owedcap ? s->s_owedcap * 2 : 8;
    uint64_t *na = realloc(s->s_owed, nc * sizeof *na);
    if (na == NULL) {
      weft__lock_release(&s->s_lock);
      weft__log(s->s_r, 'E',
                "data source %s: out of memory: the phase two of UOW %llx is left "
                "to the next restart",
                s->s_name, (unsigned long long)uow);
      return;
    }
    s->s_owed = na;
    s->s_owedcap = nc;
  }
  s->s_owed[s->s_nowed++] = uow;
  s->s_st.owed = s->s_nowed;
  weft__lock_release(&s->s_lock);
}

int weft__pool_take(weft_task *t, weft__dbsrc *s, weft__dbtask *dt, weft_db_conn **out) {
  for (;;) {
    weft__lock_acquire(&s->s_lock);
    weft_db_conn *c = s->s_free;
    if (c != NULL) {
      s->s_free = c->c_next;
      s->s_idle--;
      bool stale = c->c_epoch != s->s_epoch;
      weft__lock_release(&s->s_lock);
      if (!still_good(t, s, c, stale))
        continue;
      weft__lock_acquire(&s->s_lock);
    } else if (s->s_open < s->s_max) {
      s->s_open++;
      weft__lock_release(&s->s_lock);
      int rc = open_in_slot(t, s, &c);
      if (rc != 0)
        return rc;
      weft__lock_acquire(&s->s_lock);
    } else if (s->s_wait_ms == WEFT_OFF) {
      s->s_st.waits++;
      s->s_st.wait_timeouts++;
      weft__lock_release(&s->s_lock);
      return WEFT_ETIMEDOUT;
    } else {
      weft__lock_release(&s->s_lock);
      int rc = wait_for(t, s, dt, &c);
      if (rc == WEFT_EAGAIN_INTERNAL)
        continue;
      if (rc != 0)
        return rc;
      weft__lock_acquire(&s->s_lock);
    }
    bool owed = s->s_nowed > 0;
    weft__lock_release(&s->s_lock);
    c->c_next = NULL;
    if (owed) /* failures stay owed; this task goes on */
      weft_offload(t, owed_fn, c, NULL);
    *out = c;
    return 0;
  }
}

/* ---- The task's connections ------------------------------------------------------ */

static weft__dbtask *dbtask_get(weft_task *t) {
  void **slot = weft__task_slot(t, &weft__db_subsys);
  if (*slot == NULL)
    *slot = calloc(1, sizeof(weft__dbtask));
  return *slot;
}

weft__dbtask *weft__dbtask_of(weft_task *t) {
  return *weft__task_slot(t, &weft__db_subsys);
}

weft_db_conn *weft__dbtask_conn(weft_task *t, const weft__dbsrc *s) {
  weft__dbtask *dt = weft__dbtask_of(t);
  for (int i = 0; dt != NULL && i < dt->dt_n; i++)
    if (dt->dt_conn[i]->c_src == s)
      return dt->dt_conn[i];
  return NULL;
}

void weft__dbtask_release(weft_task *t, weft_db_conn *c) {
  weft__dbtask *dt = weft__dbtask_of(t);
  for (int i = 0; dt != NULL && i < dt->dt_n; i++) {
    if (dt->dt_conn[i] == c) {
      dt->dt_conn[i] = dt->dt_conn[--dt->dt_n];
      break;
    }
  }
  weft__dbsrc *s = c->c_src;
  if (c->c_broken) {
    weft__log(s->s_r, 'W', "data source %s: a broken connection is discarded (SQLSTATE %s)",
              s->s_name, c->c_state);
    weft__offload_raw(t, close_fn, c, NULL);
    slot_free(s);
    return;
  }
  weft__pool_give(s, c);
}

int weft_db_connection(weft_task *t, const char *source, weft_db_conn **out) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (source == NULL || out == NULL)
    return WEFT_EINVAL;
  *out = NULL;
  weft__dbsrc *s = weft__db_find(weft__task_region(t), source);
  if (s == NULL)
    return WEFT_ENOTFOUND;
  weft_db_conn *c = weft__dbtask_conn(t, s);
  if (c != NULL) {
    *out = c;
    return 0;
  }
  weft__dbtask *dt = dbtask_get(t);
  if (dt == NULL)
    return WEFT_ENOMEM;
  if (dt->dt_n == WEFT__DB_TASK_MAX)
    return WEFT_ELIMIT;
  if ((rc = weft_rm_enlist(t, s->s_rm)) != 0)
    return rc;
  if ((rc = weft__pool_take(t, s, dt, &c)) != 0)
    return rc;
  dt->dt_conn[dt->dt_n++] = c;
  *out = c;
  return 0;
}

/* ---- Definition ---------------------------------------------------------------------- */

/* A name for a data source or a region in a global transaction id. */
static bool gid_name_ok(const char *n) {
  return n != NULL && weft__name_pack(n) != 0 && strchr(n, '\'') == NULL && strchr(n, ':') == NULL;
}

/* Log "data source NAME: <fmt>" as an error; returns WEFT_EINVAL. */
static int bad(weft_region *r, const char *name, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  weft__log(r, 'E', "data source %s: %s", name, msg);
  return WEFT_EINVAL;
}

/* Defaults into d; WEFT_EINVAL (logged) for a bad field. */
static int def_check(weft_region *r, weft_db_source_def *d) {
  const char *n = d->name;
  if (d->region == NULL)
    d->region = "WEFT";
  if (!gid_name_ok(d->region))
    return bad(r, n, "region name \"%s\": 1-8 printable characters without ' or :", d->region);
  if (d->connect == NULL || d->connect[0] == '\0')
    return bad(r, n, "no connection string or DSN");
  if (d->pool_max == 0)
    d->pool_max = 8;
  if (d->pool_min == 0)
    d->pool_min = 1;
  if (d->pool_max > WEFT_DB_POOL_MAX)
    return bad(r, n, "pool_max %u: 1..%u", d->pool_max, WEFT_DB_POOL_MAX);
  if (d->pool_min > d->pool_max)
    return bad(r, n, "pool_min %u above pool_max %u", d->pool_min, d->pool_max);
  if (d->connect_timeout_s == 0)
    d->connect_timeout_s = 10;
  if (d->connect_timeout_s > 3600)
    return bad(r, n, "connect_timeout_s %u: 1..3600", d->connect_timeout_s);
  if (d->statement_timeout_s == 0)
    d->statement_timeout_s = 30;
  if (d->statement_timeout_s != WEFT_OFF && d->statement_timeout_s > 86400)
    return bad(r, n, "statement_timeout_s %u: 1..86400", d->statement_timeout_s);
  if (d->wait_timeout_ms == 0)
    d->wait_timeout_ms = 5000;
  if (d->two_phase != WEFT_DB_2PC_POSTGRES && d->two_phase != WEFT_DB_2PC_NONE)
    return bad(r, n, "two_phase %d: WEFT_DB_2PC_POSTGRES or WEFT_DB_2PC_NONE", d->two_phase);
  return 0;
}

/* Append ;KEY=value, or ;KEY={value} when the value holds ';' or starts
 * with '{' (ODBC's quoting; psqlODBC reads a plain value only, so braces
 * are used only when needed). */
static int put_attr(char **s, size_t *len, const char *key, const char *v) {
  if (v == NULL)
    return 0;
  if (strchr(v, '}') != NULL)
    return WEFT_EINVAL;
  size_t add = strlen(key) + strlen(v) + 5;
  char *n = realloc(*s, *len + add);
  if (n == NULL)
    return WEFT_ENOMEM;
  bool brace = strchr(v, ';') != NULL || v[0] == '{';
  *len += (size_t)snprintf(n + *len, add, brace ? ";%s={%s}" : ";%s=%s", key, v);
  *s = n;
  return 0;
}

static char *connect_string(const weft_db_source_def *d, int *rc) {
  size_t len = strlen(d->connect);
  char *s = malloc(len + 1);
  if (s == NULL) {
    *rc = WEFT_ENOMEM;
    return NULL;
  }
  memcpy(s, d->connect, len + 1);
  while (len > 0 && s[len - 1] == ';')
    s[--len] = '\0';
  if ((*rc = put_attr(&s, &len, "UID", d->user)) == 0)
    *rc = put_attr(&s, &len, "PWD", d->password);
  if (*rc != 0) {
    free(s);
    return NULL;
  }
  return s;
}

static void src_free(weft__dbsrc *s) {
  while (s->s_free != NULL) {
    weft_db_conn *c = s->s_free;
    s->s_free = c->c_next;
    weft__odbc_close(c);
  }
  if (s->s_connect != NULL) /* the password may be in it */
    memset(s->s_connect, 0, strlen(s->s_connect));
  free(s->s_connect);
  free(s->s_owed);
  free(s);
}

static weft__dbsrc *src_new(weft_region *r, const weft_db_source_def *d, int *rc) {
  weft__dbsrc *s = calloc(1, sizeof *s);
  if (s == NULL) {
    *rc = WEFT_ENOMEM;
    return NULL;
  }
  strcpy(s->s_name, d->name);
  strcpy(s->s_region, d->region);
  s->s_r = r;
  s->s_min = d->pool_min;
  s->s_max = d->pool_max;
  s->s_connect_s = d->connect_timeout_s;
  s->s_stmt_s = d->statement_timeout_s;
  s->s_wait_ms = d->wait_timeout_ms;
  s->s_2pc = d->two_phase;
  weft__lock_init(&s->s_lock);
  if ((s->s_connect = connect_string(d, rc)) == NULL) {
    if (*rc == WEFT_EINVAL)
      weft__log(r, 'E', "data source %s: a user or password holds '}'", d->name);
    free(s);
    return NULL;
  }
  return s;
}

/* Open connections up to the pool's minimum (host thread). */
static int fill_min(weft__dbsrc *s) {
  while (s->s_open < s->s_min) {
    weft_db_conn *c;
    char err[WEFT__DB_MSG];
    int rc = weft__odbc_open(s, &c, err, sizeof err);
    if (rc != 0) {
      weft__log(s->s_r, 'E', "data source %s: cannot connect: %s", s->s_name, err);
      return rc;
    }
    s->s_open++;
    weft__pool_give(s, c);
  }
  return 0;
}

static int source_define(weft_region *r, const weft_db_source_def *in) {
  if (r == NULL || in == NULL)
    return WEFT_EINVAL;
  if (weft__on_worker())
    return WEFT_ESTATE;
  weft_db_source_def d = *in;
  if (d.name == NULL)
    return WEFT_EINVAL;
  if (!gid_name_ok(d.name)) {
    weft__log(r, 'E', "data source name \"%s\": 1-8 printable characters without ' or :", d.name);
    return WEFT_EBADNAME;
  }
  int rc = def_check(r, &d);
  if (rc != 0)
    return rc;
  weft__db *db = weft__db_of(r);
  if (weft__db_find(r, d.name) != NULL)
    return WEFT_EEXIST;
  weft__dbsrc *s = src_new(r, &d, &rc);
  if (s == NULL)
    return rc;
  /* One connection to check the database and resolve what a crash left. */
  weft_db_conn *c = NULL;
  char err[WEFT__DB_MSG];
  if ((rc = weft__odbc_open(s, &c, err, sizeof err)) != 0) {
    weft__log(r, 'E', "data source %s: cannot connect: %s", s->s_name, err);
  } else {
    s->s_open = 1;
    rc = fill_min(s);
    if (rc == 0)
      rc = weft__rm_setup(s, c); /* the last step that can fail */
    weft__pool_give(s, c);
  }
  if (rc != 0) {
    src_free(s);
    return rc;
  }
  weft__lock_acquire(&db->d_lock);
  s->s_next = db->d_srcs;
  db->d_srcs = s;
  weft__lock_release(&db->d_lock);
  weft__log(r, 'I', "data source %s: %u connection(s) open (pool %u..%u), two-phase %s", s->s_name,
            s->s_open, s->s_min, s->s_max, s->s_2pc == WEFT_DB_2PC_POSTGRES ? "postgres" : "none");
  return 0;
}

int weft_db_source_define_(weft_region *r, const weft_db_source_def *def, size_t size) {
  weft_db_source_def buf;
  int rc;
  def = weft__abi_in(&buf, sizeof buf, def, size, sizeof buf, &rc);
  if (def == NULL)
    return rc != 0 ? rc : WEFT_EINVAL;
  return source_define(r, def);
}

int weft_db_source_stats_get_(weft_region *r, const char *source, weft_db_source_stats *out,
                              size_t size) {
  int rc = weft__abi_out_check(size, sizeof *out, sizeof *out);
  if (rc != 0)
    return rc;
  if (r == NULL || out == NULL)
    return WEFT_EINVAL;
  weft__dbsrc *s = weft__db_find(r, source);
  if (s == NULL)
    return WEFT_ENOTFOUND;
  weft__lock_acquire(&s->s_lock);
  weft_db_source_stats st = s->s_st;
  st.open = s->s_open;
  st.idle = s->s_idle;
  st.waiters = s->s_nwait;
  weft__lock_release(&s->s_lock);
  memcpy(out, &st, size);
  return 0;
}

/* ---- The lifecycle row --------------------------------------------------------------- */

static int db_create(weft_region *r, const weft_region_config *cfg, void **state) {
  weft__db *d = calloc(1, sizeof *d);
  if (d == NULL)
    return WEFT_ENOMEM;
  weft__lock_init(&d->d_lock);
  *state = d;
  return 0;
}

static void db_free(weft_region *r, void *state) {
  weft__db *d = state;
  if (d == NULL)
    return;
  while (d->d_srcs != NULL) {
    weft__dbsrc *s = d->d_srcs;
    d->d_srcs = s->s_next;
    src_free(s);
  }
  free(d);
}

static int rollback_fn(void *arg) {
  weft_db_conn *c = arg;
  return c->c_prepared ? 0 : weft__odbc_end(c, false);
}

/* After txn/'s task end (which ended the unit of work through the
 * resource manager): whatever is still held goes back. */
static void db_task_end(weft_task *t, void *state) {
  weft__dbtask *dt = weft__dbtask_of(t);
  if (dt == NULL)
    return;
  if (dt->dt_waiting != NULL)
    waiter_drop(t, dt->dt_waiting);
  while (dt->dt_n > 0) {
    weft_db_conn *c = dt->dt_conn[dt->dt_n - 1];
    if (c->c_prepared) {
      /* Only an abend during phase two leaves a prepared connection: the
       * decision (commit) is in the log; finish it later. */
      weft__owed_add(c->c_src, c->c_uow);
    } else {
      int res = 0;
      if (weft__offload_raw(t, rollback_fn, c, &res) != 0 || res != 0)
        c->c_broken = true;
    }
    weft__dbtask_release(t, c);
  }
  *weft__task_slot(t, &weft__db_subsys) = NULL;
  free(dt);
}

const weft__subsys weft__db_subsys = {"db", db_create, NULL, db_free, db_task_end};
