/* db.h - data sources over ODBC as resource managers of Weft units of work:
 * the private structures shared by the db/ sources (docs/odbc.md).
 *
 * A data source (weft__dbsrc) holds a pool of ODBC connections
 * (weft_db_conn). A task takes one per data source for its unit of work
 * (its task slot, weft__dbtask, lists them), enlists the source's resource
 * manager, and gives the connection back when the unit of work ends: at
 * commit or rollback (the resource manager's callbacks, rm.c) or at task
 * end (this subsystem's ss_task_end, which runs after txn/'s). Every ODBC
 * call runs on an offload thread (weft_offload, or weft__offload_raw when
 * the task may be unwinding an abend): never on a worker. Connections are
 * opened with autocommit off; Weft ends their transactions: SQLEndTran for
 * one phase, PREPARE TRANSACTION then COMMIT PREPARED or ROLLBACK PREPARED
 * (with autocommit on for that statement) for two.
 *
 * Layers: db/ sits above txn/ (lib/subsystems.c lists it after txn/). It
 * includes include/weft.h, include/weft/db.h, runtime/types.h,
 * runtime/taskapi.h, runtime/abi.h, txn/txn.h (crash points only) and the
 * ODBC headers <sql.h>/<sqlext.h> (only db/odbc.c and db/api.c); nothing
 * else of runtime/ (scripts/check-layers.sh).
 */
#ifndef WEFT_DB_DB_H
#define WEFT_DB_DB_H

#include "include/weft/db.h"
#include "runtime/taskapi.h"
#include "runtime/types.h"

#define WEFT__DB_MSG 512    /* an error message kept with a connection */
#define WEFT__DB_TASK_MAX 8 /* data sources one unit of work may use */

typedef struct weft__dbsrc weft__dbsrc;
typedef struct weft__dbtask weft__dbtask;

/* One ODBC connection. Ownership: while in the pool (c_next on s_free) the
 * source's s_lock guards it; while a task holds it, that task (and the
 * offload thread running its call, one at a time) owns every field. */
struct weft_db_conn {
  void *c_env;                 /* SQLHENV (one per connection: no shared ODBC state) */
  void *c_dbc;                 /* SQLHDBC */
  weft__dbsrc *c_src;          /* immutable */
  bool c_broken;               /* saw SQLSTATE 08xxx or 57P0x: discarded at release */
  bool c_prepared;             /* PREPARE TRANSACTION done in this unit of work */
  uint64_t c_uow;              /* ... for this UOW */
  uint64_t c_epoch;            /* the source's s_epoch when it was last given back */
  char c_state[6];             /* SQLSTATE of the last error, "" none */
  char c_msg[WEFT__DB_MSG];    /* its message */
  struct weft_db_conn *c_next; /* in s_free */
};

/* A task waiting for a connection: on the task's stack, linked on the
 * source's queue; s_lock guards w_next and w_conn. The releaser that hands
 * it a connection sets w_conn, unlinks it and posts w_ev. */
typedef struct weft__dbwaiter {
  weft_event *w_ev;
  weft__dbsrc *w_src;
  weft_db_conn *w_conn; /* handed a connection */
  bool w_slot;          /* handed the right to open one (counted in s_open) */
  bool w_done;          /* handed something: off the queue */
  struct weft__dbwaiter *w_next;
} weft__dbwaiter;

/* wait_for's "the pool changed meanwhile: look again" (never returned). */
#define WEFT_EAGAIN_INTERNAL 1

/* A data source. The settings are immutable after define; the pool fields
 * are under s_lock (never held across an ODBC call or a wait). */
struct weft__dbsrc {
  char s_name[WEFT_NAME_MAX + 1];
  char s_region[WEFT_NAME_MAX + 1];
  char *s_connect; /* the full connection string (credentials included) */
  unsigned s_min, s_max, s_connect_s, s_stmt_s, s_wait_ms;
  int s_2pc;
  weft_rm *s_rm;
  weft_region *s_r;
  weft_db_conn *s_setup; /* the connection recover uses during define */
  weft__lock s_lock;
  weft_db_conn *s_free; /* idle connections */
  unsigned s_open;      /* open or being opened */
  unsigned s_idle;
  uint64_t s_epoch; /* +1 each time a broken connection is seen:
                                     idle ones older than it are checked
                                     before use (the server may have gone) */
  weft__dbwaiter *s_wait_head, *s_wait_tail;
  unsigned s_nwait;
  uint64_t *s_owed; /* UOWs whose COMMIT PREPARED is owed */
  unsigned s_nowed, s_owedcap;
  weft_db_source_stats s_st; /* figures (open/idle/waiters filled on read) */
  weft__dbsrc *s_next;       /* in the region's list */
};

/* Region-wide state (the subsystem's slot): the list of sources, guarded
 * by d_lock (appended at define by the host; read by tasks). */
typedef struct weft__db {
  weft__lock d_lock;
  weft__dbsrc *d_srcs;
} weft__db;

/* A task's connections (its task slot), in the order taken. Owned by the
 * task. */
struct weft__dbtask {
  weft_db_conn *dt_conn[WEFT__DB_TASK_MAX];
  int dt_n;
  weft__dbwaiter *dt_waiting; /* set while waiting in the pool's queue: an
                                 abend there leaves it for task end */
};

extern const weft__subsys weft__db_subsys;

static inline weft__db *weft__db_of(weft_region *r) {
  return weft__subsys_state(r, &weft__db_subsys);
}

/* ---- source.c: definitions and the pool -------------------------------- */

weft__dbsrc *weft__db_find(weft_region *r, const char *name);
/* Take a connection for the task (task; may wait). */
int weft__pool_take(weft_task *t, weft__dbsrc *s, weft__dbtask *dt, weft_db_conn **out);
/* The task's slot (NULL when it never took a connection); its connection
 * to s (NULL: none). Task. */
weft__dbtask *weft__dbtask_of(weft_task *t);
weft_db_conn *weft__dbtask_conn(weft_task *t, const weft__dbsrc *s);
/* Give c back (or discard it when broken): any thread that owns c. */
void weft__pool_give(weft__dbsrc *s, weft_db_conn *c);
/* Take c out of the task's list and give it back to its pool. Task. */
void weft__dbtask_release(weft_task *t, weft_db_conn *c);
/* Remember / forget an owed phase two (s_lock taken inside). */
void weft__owed_add(weft__dbsrc *s, uint64_t uow);

/* ---- odbc.c: the ODBC calls (offload threads or the host thread) ---------- */

/* Open a connection of s (autocommit off, statement_timeout set): 0 or
 * WEFT_EDB with the driver's message in err (cap bytes). */
int weft__odbc_open(weft__dbsrc *s, weft_db_conn **out, char *err, size_t cap);
void weft__odbc_close(weft_db_conn *c);
/* Execute sql (UTF-8) with n text parameters; *rows, and the first
 * column of the first row into out when out != NULL (see weft_db_query).
 * Returns 0, WEFT_EDB (c's error set), WEFT_ENOTFOUND, WEFT_EEMPTY,
 * WEFT_ERANGE. */
int weft__odbc_exec(weft_db_conn *c, const char *sql, unsigned n, const char *const *params,
                    long long *rows, char *out, size_t cap, size_t *len);
/* SQLEndTran(commit or rollback) on c: 0 or WEFT_EDB. */
int weft__odbc_end(weft_db_conn *c, bool commit);
/* Run sql with autocommit on (COMMIT PREPARED, ROLLBACK PREPARED): 0 or
 * WEFT_EDB. */
int weft__odbc_autocommit_exec(weft_db_conn *c, const char *sql);
/* The gids in pg_prepared_xacts starting with prefix: a malloc'd array of
 * malloc'd strings in *out (count *n). 0 or WEFT_EDB / WEFT_ENOMEM. */
int weft__odbc_prepared(weft_db_conn *c, const char *prefix, char ***out, size_t *n);
/* Record c's error from the diagnostics of handle; mark broken. */
int weft__odbc_diag(weft_db_conn *c, int type, void *handle);

/* ---- rm.c: the resource manager ------------------------------------------ */

/* Register s's resource manager and resolve what an earlier run left
 * prepared, on connection c (host thread). */
int weft__rm_setup(weft__dbsrc *s, weft_db_conn *c);
/* The global transaction id of uow on s ("weft:REGION:SOURCE:%016llx"). */
void weft__gid(const weft__dbsrc *s, uint64_t uow, char *out, size_t cap);

#endif /* WEFT_DB_DB_H */
