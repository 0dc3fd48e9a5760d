/* weft/db.h - databases through ODBC as resource managers of Weft units of
 * work (docs/odbc.md).
 *
 * A region names its data sources (weft_db_source_define): an ODBC
 * connection string or DSN, a pool of connections, timeouts, and the
 * two-phase protocol the database speaks. A task asks for its connection
 * to a data source (weft_db_connection); it keeps that connection until its
 * unit of work ends, and the connection's transaction is part of that unit
 * of work: weft_syncpoint commits it (in one phase when it is the only
 * participant with changes, else in two: PREPARE TRANSACTION, the decision
 * in Weft's log, COMMIT PREPARED), weft_rollback and abends roll it back.
 *
 * ODBC calls block. No ODBC call may run on a worker: a program makes its
 * calls inside weft_db_run (which runs them on an offload thread while the
 * task waits and its worker runs other tasks), or uses the helpers
 * weft_db_exec and weft_db_query, which do the same. What a program may do
 * with the raw SQLHDBC inside weft_db_run: allocate statements, prepare,
 * bind, execute, fetch, free its statements, read diagnostics. What it must
 * not do (undefined: Weft does not intercept ODBC): set SQL_ATTR_AUTOCOMMIT,
 * call SQLEndTran or SQLTransact, run COMMIT, ROLLBACK, BEGIN or PREPARE
 * TRANSACTION as SQL, SQLDisconnect or free the connection, or keep the
 * handle after its unit of work ends. Under Wine 8 the A-suffixed ODBC
 * functions (SQLExecDirectA, ...) are unimplemented and end the process:
 * use the W functions (or the plain names).
 */
#ifndef WEFT_DB_H
#define WEFT_DB_H

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_DB_2PC_POSTGRES 0 /* PostgreSQL's PREPARE TRANSACTION / COMMIT PREPARED */
#define WEFT_DB_2PC_NONE 1     /* no two-phase commit: only ever a sole participant */

#define WEFT_DB_POOL_MAX 1024 /* connections per data source at most */

/* A data source. Each field's zero is its default. */
typedef struct weft_db_source_def {
  const char *name;             /* 1-8 characters without ' or :, required; also the
                             name of its resource manager in Weft's log */
  const char *connect;          /* ODBC connection string ("Driver=...;Server=...",
                             or "DSN=name"), required */
  const char *user;             /* appended as UID=; NULL: the string's own */
  const char *password;         /* appended as PWD=; NULL: the string's own */
  const char *region;           /* names this region in global transaction ids
                             (1-8 characters without ' or :); regions that
                             share a database need different names; NULL:
                             "WEFT" */
  unsigned pool_min;            /* connections opened at define, 0..pool_max; 0: 1 */
  unsigned pool_max;            /* connections at most, 1..WEFT_DB_POOL_MAX; 0: 8 */
  unsigned connect_timeout_s;   /* login timeout, 1..3600; 0: 10 */
  unsigned statement_timeout_s; /* server-side statement_timeout, 1..86400;
                                   0: 30; WEFT_OFF: none */
  unsigned wait_timeout_ms;     /* a task waits this long for a connection
                                 when the pool is exhausted, then
                                 WEFT_ETIMEDOUT; 0: 5000; WEFT_OFF: no wait */
  int two_phase;                /* WEFT_DB_2PC_POSTGRES (0, the default) or
                                 WEFT_DB_2PC_NONE (a unit of work that also
                                 changes another participant is then refused
                                 at syncpoint and rolled back) */
} weft_db_source_def;

/* Define data source def->name in region r: checks the definition, opens
 * pool_min connections (at least one, to check the database), registers
 * its resource manager and resolves what an earlier run of this region
 * left prepared in that database (committed units of work are committed,
 * the others rolled back: presumed abort), reporting each in the region
 * log. Errors: WEFT_EINVAL (a bad field; the region log says which),
 * WEFT_EBADNAME, WEFT_EEXIST, WEFT_EDB (the database refused or could not be
 * reached: the region log has the SQLSTATE and the driver's message),
 * WEFT_ENOMEM. Host thread (not a worker). */
#define weft_db_source_define(r, def) weft_db_source_define_((r), (def), sizeof(weft_db_source_def))
WEFT_API int weft_db_source_define_(weft_region *r, const weft_db_source_def *def, size_t size);

/* A task's connection to one data source for its unit of work (opaque). */
typedef struct weft_db_conn weft_db_conn;

/* The task's connection to data source `source` for its current unit of
 * work: the one it already holds, or one from the pool (waiting, suspended,
 * up to the source's wait_timeout_ms when all are in use: WEFT_ETIMEDOUT;
 * a new connection is opened on an offload thread when the pool may grow).
 * Errors: WEFT_ENOTFOUND (no such source), WEFT_ETIMEDOUT, WEFT_EDB (a new
 * connection failed), WEFT_ELIMIT (the unit of work has too many resource
 * managers). Valid until the unit of work ends (syncpoint, rollback, task
 * end). Task. */
WEFT_API int weft_db_connection(weft_task *t, const char *source, weft_db_conn **out);

/* The connection's SQLHDBC (as void *; cast it), for use inside weft_db_run
 * only. Any thread. */
WEFT_API void *weft_db_hdbc(weft_db_conn *c);

/* Run fn(hdbc, arg) on an offload thread while the task waits; *result (if
 * not NULL) gets fn's return. fn makes the program's ODBC calls on hdbc.
 * If fn returns WEFT_EDB after an ODBC error, call weft_db_note (on the
 * offload thread, inside fn) with the failing handle so that a broken
 * connection is noticed. Task. */
WEFT_API int weft_db_run(weft_task *t, weft_db_conn *c, int (*fn)(void *hdbc, void *arg), void *arg,
                         int *result);

/* Inside fn of weft_db_run: read the diagnostics of handle (type an ODBC
 * SQL_HANDLE_* value) after a failed call into c's last error, and mark c
 * broken when its SQLSTATE is of class 08 (connection) or 57P (server
 * shutting down). Returns WEFT_EDB. Offload thread. */
WEFT_API int weft_db_note(weft_db_conn *c, int handle_type, void *handle);

/* Execute sql (UTF-8; n text parameters for its '?' markers; a NULL entry
 * is SQL NULL) on c. *rows (if not NULL) gets the rows it changed (-1 when
 * unknown). 0 or WEFT_EDB (weft_db_error says why). Task. */
WEFT_API int weft_db_exec(weft_task *t, weft_db_conn *c, const char *sql, unsigned n,
                          const char *const *params, long long *rows);

/* Run query sql like weft_db_exec and copy the first column of its first
 * row as UTF-8 text into out (cap bytes, NUL-terminated); *len (if not
 * NULL) gets its length. No row: WEFT_ENOTFOUND; SQL NULL: "" with *len 0
 * and WEFT_EEMPTY; a value too long for out: WEFT_ERANGE. Task. */
WEFT_API int weft_db_query(weft_task *t, weft_db_conn *c, const char *sql, unsigned n,
                           const char *const *params, char *out, size_t cap, size_t *len);

/* The last error on c: its message ("" when none); sqlstate (if not NULL,
 * 6 bytes) gets the 5-character SQLSTATE. Task. */
WEFT_API const char *weft_db_error(const weft_db_conn *c, char *sqlstate);

/* Figures of one data source. */
typedef struct weft_db_source_stats {
  unsigned open;          /* connections open (in use or idle) */
  unsigned idle;          /* open and in the pool */
  unsigned waiters;       /* tasks waiting for a connection now */
  uint64_t waits;         /* waits for a connection so far */
  uint64_t wait_timeouts; /* ... that timed out */
  uint64_t broken;        /* connections discarded as broken */
  uint64_t commits_1pc, commits_2pc, rollbacks;
  uint64_t recovered_commits, recovered_rollbacks; /* at define: prepared
                                                      transactions resolved */
  uint64_t owed; /* phase two still to be finished (server down) */
} weft_db_source_stats;

/* Figures of data source `source` (WEFT_ENOTFOUND). Any thread. */
#define weft_db_source_stats_get(r, source, out) \
  weft_db_source_stats_get_((r), (source), (out), sizeof(weft_db_source_stats))
WEFT_API int weft_db_source_stats_get_(weft_region *r, const char *source,
                                       weft_db_source_stats *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_DB_H */
