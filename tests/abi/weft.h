/* weft.h - the public API of Weft, a transaction-processing runtime for Windows.
 *
 * Every transaction runs as a task on a Win32 fiber, dispatched cooperatively
 * over a few worker threads of a *region*. See docs/api.md for a guided tour.
 *
 * Conventions:
 * - Functions that can fail return int: 0 on success or a negative WEFT_E*
 *   code; weft_strerror() and weft_err_name() describe every code.
 * - Each function says where it may be called from:
 *     "any thread"   a host thread, an offload function, or a task;
 *     "host thread"  a thread that is not running a task of the region
 *                    (calling it from a task returns WEFT_ESTATE);
 *     "task"         only from the task itself, on its own fiber; anywhere
 *                    else it returns WEFT_ESTATE.
 * - Names of programs and transactions are 1-8 printable ASCII characters
 *   without spaces; they are case-sensitive.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Export macro: CMake defines WEFT_BUILDING_DLL when building weft.dll, and
 * gives users of the shared library WEFT_SHARED (an INTERFACE definition, like
 * libuv's USING_UV_SHARED). The static library needs neither. */
#if defined(_WIN32) && defined(WEFT_BUILDING_DLL)
#define WEFT_API __declspec(dllexport)
#elif defined(_WIN32) && defined(WEFT_SHARED)
#define WEFT_API __declspec(dllimport)
#else
#define WEFT_API
#endif

#if defined(__GNUC__)
#define WEFT_NORETURN __attribute__((noreturn))
#elif defined(_MSC_VER)
#define WEFT_NORETURN __declspec(noreturn)
#else
#define WEFT_NORETURN
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* X(name, value, message): the one table behind the codes, weft_strerror()
 * and weft_err_name(). */
#define WEFT_ERRNO_MAP(X)                                                     \
  X(EINVAL, -1, "invalid argument")                                           \
  X(ENOMEM, -2, "out of memory")                                              \
  X(ESTATE, -3, "call not allowed in this context or state")                  \
  X(EBADNAME, -4, "name is empty, longer than 8 characters or not printable") \
  X(EEXIST, -5, "a definition with this name already exists")                 \
  X(ENOPROG, -6, "no such program")                                           \
  X(ENOTRAN, -7, "no such transaction")                                       \
  X(ENOTFOUND, -8, "no such resource")                                        \
  X(ERANGE, -9, "value out of range")                                         \
  X(EBUSY, -10, "resource busy or queue full")                                \
  X(ETIMEDOUT, -11, "timed out")                                              \
  X(ESHUTDOWN, -12, "region is shutting down")                                \
  X(ELIMIT, -13, "a configured limit was reached")                            \
  X(ESYS, -14, "operating system call failed")                                \
  X(ENOTSUP, -15, "not supported")                                            \
  X(EDEADLOCK, -16, "deadlock detected")                                      \
  X(ECORRUPT, -17, "data is corrupt")                                        \
  X(EEMPTY, -18, "queue is empty")                                            \
  X(EENDFILE, -19, "no more records")                                         \
  X(EROLLEDBACK, -20, "the unit of work was rolled back")                     \
  X(EDISABLED, -21, "the program or transaction is disabled")

enum {
  WEFT_OK = 0,
#define WEFT__ERR_ENUM(name, value, msg) WEFT_##name = (value),
  WEFT_ERRNO_MAP(WEFT__ERR_ENUM)
#undef WEFT__ERR_ENUM
};

/* A sentence for the code ("invalid argument"); "unknown error" otherwise.
 * Any thread. */
WEFT_API const char *weft_strerror(int err);
/* The code's name ("WEFT_EINVAL", "WEFT_OK"); "WEFT_E?" otherwise. Any thread. */
WEFT_API const char *weft_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct weft_region weft_region;   /* one dispatcher instance */
typedef struct weft_task weft_task;       /* one running transaction */
typedef struct weft_event weft_event;     /* a postable event (ECB-like) */
typedef struct weft_enclave weft_enclave; /* a transient enclave (see below) */
typedef struct weft_task_record weft_task_record;
typedef struct weft_interval_record weft_interval_record;

/* A program: the entry point of a transaction or of a LINK. */
typedef void (*weft_program_fn)(weft_task *t);
/* An abend handler: runs on the abending task's fiber, newest first. */
typedef void (*weft_abend_fn)(weft_task *t, const char *code, void *arg);
/* A region message (runaway reports, shutdown progress). level: 'I','W','E'. */
typedef void (*weft_log_fn)(void *ctx, char level, const char *msg);
/* Monitoring records (see "Accounting and records"). Called on a worker
 * thread as each task ends, or on the region's monitor thread at each
 * policy interval: keep them short and never block. */
typedef void (*weft_task_record_fn)(void *ctx, const weft_task_record *rec);
typedef void (*weft_interval_record_fn)(void *ctx, const weft_interval_record *rec);

#define WEFT_NAME_MAX 8          /* longest program / transaction name */
#define WEFT_PRIORITY_MAX 255    /* priorities are 0 (lowest) .. 255 */
#define WEFT_PRIORITY_DEFAULT -1 /* in weft_start_opts: use the tranid's */
#define WEFT_MAX_WORKERS 64
#define WEFT_WAIT_FOREVER 0xFFFFFFFFu /* a timeout that never expires */
#define WEFT_MAX_LINK_DEPTH 32        /* nested weft_link levels per task */

/* ------------------------------------------------------------------------ */
/* Region                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct weft_region_config {
  unsigned workers;         /* worker threads (1..64); default: CPU count */
  unsigned max_tasks;       /* live tasks at most (MXT); default 1024 */
  unsigned max_queued;      /* starts waiting for admission at most; past it
                             weft_start returns WEFT_EBUSY; default 65536 */
  size_t stack_size;        /* fiber stack reserve in bytes; default 256 KiB */
  size_t stack_commit;      /* fiber stack initially committed; default 16 KiB */
  unsigned fiber_cache;     /* idle fibers kept for reuse, region-wide;
                             0 disables pooling; default 256 */
  unsigned runaway_ms;      /* a task running this long without suspending is
                             reported and abended AICA; 0 = off; default 5000 */
  unsigned offload_threads; /* offload pool size at most; default 8 */
  weft_log_fn log_fn;       /* region messages; default: stderr */
  void *log_ctx;            /* passed to log_fn */
  /* Enclaves and accounting (see docs/enclaves.md). */
  int dispatch_mode;                          /* WEFT_DISPATCH_GOAL (default), _STATIC or _FIFO */
  int accounting;                             /* 1 (default): time every dispatch and wait, keep
                             enclave and transaction figures and records;
                             0: none of that (the goal policy has no data) */
  unsigned policy_interval_ms;                /* goal policy and interval records; default 250 */
  unsigned aging_ms;                          /* a ready task waiting this long rises one level;
                             0 = no aging; default 100 */
  weft_task_record_fn task_record_fn;         /* one record per ended task */
  weft_interval_record_fn interval_record_fn; /* one per enclave per interval */
  void *record_ctx;                           /* passed to both */
  const char *record_path; /* append both as JSON Lines to this file; NULL: no file */
  /* Units of work and recoverable resources (see docs/recovery.md). */
  const char *data_dir;      /* log and checkpoints of the recoverable
                             resources; created if missing; opening it
                             runs restart recovery. NULL: resources live
                             in memory only and commits never wait for a
                             disk */
  uint64_t checkpoint_bytes; /* take a checkpoint (and drop the old log)
                             when the log grows past this; default 64 MiB */
  unsigned lock_timeout_ms;  /* a record-lock wait gives up after this;
                             WEFT_WAIT_FOREVER never; default 30000 */
  int deadlock_action;       /* WEFT_DEADLOCK_ABEND (default) or _ERROR */
} weft_region_config;

/* What happens to the victim of a deadlock (and to a task whose record-lock
 * wait times out). */
#define WEFT_DEADLOCK_ABEND 0 /* it abends AKCS (its unit of work is backed out) */
#define WEFT_DEADLOCK_ERROR 1 /* the waiting call returns WEFT_EDEADLOCK
                                 (WEFT_ETIMEDOUT); the program decides */

#define WEFT_DISPATCH_GOAL 0   /* importance, then goal-driven dispatch priority */
#define WEFT_DISPATCH_STATIC 1 /* importance only */
#define WEFT_DISPATCH_FIFO 2   /* one queue: no importance, no task priority */

/* Fill cfg with the defaults above. Any thread. */
WEFT_API void weft_region_config_init(weft_region_config *cfg);

/* Create a region and start its workers. cfg NULL means the defaults.
 * Returns WEFT_EINVAL / WEFT_ERANGE for a bad configuration. With a
 * data_dir it first runs restart recovery (see weft_region_recovery): a
 * checksum failure before the log's tail returns WEFT_ECORRUPT (the region
 * log names the file and offset, and nothing on disk is changed); WEFT_ESYS
 * when the directory cannot be used. Host thread. */
WEFT_API int weft_region_create(const weft_region_config *cfg, weft_region **out);

#define WEFT_SHUTDOWN_NORMAL 0    /* drain running and queued tasks */
#define WEFT_SHUTDOWN_IMMEDIATE 1 /* purge every task with abend AEXZ */

/* Shut the region down. From the call on, weft_start returns WEFT_ESHUTDOWN
 * and pending delayed starts are cancelled. NORMAL lets running and queued
 * tasks finish; if they have not after timeout_ms, it escalates to IMMEDIATE
 * and returns WEFT_ETIMEDOUT once the purge is done. IMMEDIATE abends every
 * task AEXZ at its next suspension point (a task inside weft_offload is purged
 * when its offloaded call returns; a task that never suspends cannot be
 * purged, see runaway_ms). Returns WEFT_ETIMEDOUT if tasks remain after the
 * purge had timeout_ms to work. Stops the workers when no task is left.
 * Calling it again returns WEFT_ESTATE. Host thread. */
WEFT_API int weft_region_shutdown(weft_region *r, int mode, unsigned timeout_ms);

/* Free the region and everything it owns. If it was not shut down, does an
 * immediate shutdown first, waiting as long as it takes. Host thread (from
 * a task it is refused with a logged error). */
WEFT_API void weft_region_destroy(weft_region *r);

/* ------------------------------------------------------------------------ */
/* Definitions                                                               */
/* ------------------------------------------------------------------------ */

/* Define program `name` as the C function fn. Errors: WEFT_EBADNAME,
 * WEFT_EINVAL (fn NULL), WEFT_EEXIST. Any thread. */
WEFT_API int weft_program_define(weft_region *r, const char *name, weft_program_fn fn);

/* Define program `name` as the function `symbol` exported by the DLL at
 * path `dll` (LoadLibrary search rules), loaded once per region however
 * many programs it provides and unloaded when the region is destroyed. The
 * function must have the weft_program_fn signature. Errors: WEFT_EINVAL,
 * WEFT_EBADNAME, WEFT_EEXIST, WEFT_ENOTFOUND (the DLL, a DLL it needs, or
 * the symbol is missing; the region log names which), WEFT_ESYS. Nothing is
 * defined or kept loaded on an error. Any thread. */
WEFT_API int weft_program_load(weft_region *r, const char *name, const char *dll,
                               const char *symbol);

typedef struct weft_transaction_def {
  const char *tranid;  /* 1-8 characters */
  const char *program; /* an already defined program */
  int priority;        /* 0..255; higher runs first */
  unsigned runaway_ms; /* 0: the region's runaway_ms */
  const char *enclave; /* its enclave; NULL: WEFT_DEFAULT_ENCLAVE */
  const char *tclass;  /* its transaction class; NULL: none */
} weft_transaction_def;

/* Define a transaction. Errors: WEFT_EBADNAME (tranid), WEFT_ENOPROG,
 * WEFT_ERANGE (priority), WEFT_EEXIST, WEFT_ENOTFOUND (enclave or class).
 * Any thread. */
WEFT_API int weft_transaction_define(weft_region *r, const weft_transaction_def *def);

/* Transaction classes (CICS TRANCLASS): a cap on the tasks of its
 * transactions that are active at once. A start past the cap waits in the
 * class's queue (in start order); past purge_threshold queued starts,
 * weft_start returns WEFT_EBUSY (a terminal shows abend AKCC). */
typedef struct weft_class_def {
  const char *name;         /* 1-8 characters */
  unsigned max_active;      /* 1..1000000 */
  unsigned purge_threshold; /* queued starts at most; 0: max_queued */
} weft_class_def;
/* Errors: WEFT_EINVAL, WEFT_EBADNAME, WEFT_ERANGE, WEFT_EEXIST. Any thread. */
WEFT_API int weft_class_define(weft_region *r, const weft_class_def *def);
/* Change a class's max_active at run time (queued starts are admitted at
 * once if it grows). Errors: WEFT_ENOTFOUND, WEFT_ERANGE. Any thread. */
WEFT_API int weft_class_set_max(weft_region *r, const char *name, unsigned max_active);
struct weft_class_stats {
  char name[WEFT_NAME_MAX + 1];
  unsigned max_active, purge_threshold;
  uint32_t active, queued; /* now */
  uint64_t rejected;       /* starts refused past the purge threshold */
};
WEFT_API int weft_class_stats(weft_region *r, const char *name, struct weft_class_stats *out);

/* Disable (enabled 0) or enable a program at run time (CEMT SET PROGRAM).
 * A task whose transaction's program is disabled abends APCT at its first
 * dispatch, before any of its code runs; weft_link and weft_xctl to it
 * return WEFT_EDISABLED. Errors: WEFT_ENOPROG. Any thread. */
WEFT_API int weft_program_set_enabled(weft_region *r, const char *name, int enabled);
/* Disable or enable a transaction: weft_start of a disabled one returns
 * WEFT_EDISABLED (tasks already started run on). Errors: WEFT_ENOTRAN.
 * Any thread. */
WEFT_API int weft_transaction_set_enabled(weft_region *r, const char *tranid, int enabled);
/* 1 enabled, 0 disabled, or WEFT_ENOPROG / WEFT_ENOTRAN. Any thread. */
WEFT_API int weft_program_is_enabled(weft_region *r, const char *name);
WEFT_API int weft_transaction_is_enabled(weft_region *r, const char *tranid);

/* ------------------------------------------------------------------------ */
/* Starting work                                                             */
/* ------------------------------------------------------------------------ */

typedef struct weft_start_opts {
  unsigned delay_ms;       /* start no earlier than this from now; 0 = now */
  int priority;            /* 0..255, or WEFT_PRIORITY_DEFAULT */
  int membership;          /* WEFT_MEMBER_CLASSIFY (default), _JOIN or _NEW */
  const char *enclave;     /* override the tranid's enclave (CLASSIFY, NEW) */
  weft_enclave *transient; /* join this transient enclave (overrides all) */
  struct weft_terminal *terminal; /* attach the task to this terminal (its
                                     one task at a time: WEFT_EBUSY) */
  const void *commarea;   /* a COMMAREA for the top level (copied) */
  size_t commarea_len;
  const char *userid;     /* the signed-on user, 1-8 characters, or NULL */
} weft_start_opts;

/* Which enclave a started task belongs to. */
#define WEFT_MEMBER_CLASSIFY 0 /* opts->enclave, else the tranid's enclave */
#define WEFT_MEMBER_JOIN \
  1 /* the starting task's enclave (from a task;
                                  from a host thread it classifies) */
#define WEFT_MEMBER_NEW \
  2 /* a new transient enclave of the classified
                                  enclave's class, deleted when its last
                                  task ends */

/* Fill opts with "now, the transaction's priority". Any thread. */
WEFT_API void weft_start_opts_init(weft_start_opts *opts);

/* Start a task of transaction `tranid` with a copy of data (len bytes; data
 * may be NULL when len is 0). opts may be NULL. On success *task_no (if not
 * NULL) receives the task number. A start that finds max_tasks live tasks
 * waits in the admission queue in priority order; past max_queued it fails
 * with WEFT_EBUSY. A start into an enclave at its max_active waits on the
 * enclave. Errors: WEFT_EINVAL (also a bad membership), WEFT_ENOTRAN,
 * WEFT_EBADNAME, WEFT_ERANGE, WEFT_ENOTFOUND (opts->enclave unknown; it is
 * checked even when JOIN does not use it), WEFT_EBUSY, WEFT_ESHUTDOWN,
 * WEFT_ENOMEM. Any thread. */
WEFT_API int weft_start(weft_region *r, const char *tranid, const void *data, size_t len,
                        const weft_start_opts *opts, uint64_t *task_no);

/* ------------------------------------------------------------------------ */
/* Inside a task (all: "task" context)                                       */
/* ------------------------------------------------------------------------ */

/* The data passed to weft_start (NULL, 0 when none). It stays valid until
 * the task ends. */
WEFT_API int weft_retrieve(weft_task *t, const void **data, size_t *len);

/* The COMMAREA of the current LINK level; at the top level, the one the
 * start passed (weft_start_opts.commarea: a pseudo-conversation's) or
 * NULL, 0. */
WEFT_API int weft_commarea(weft_task *t, void **data, size_t *len);

/* Facts about the task. Any thread may read them while the task lives. */
WEFT_API uint64_t weft_task_number(const weft_task *t);
WEFT_API const char *weft_task_tranid(const weft_task *t);
WEFT_API weft_region *weft_task_region(const weft_task *t);
/* The worker (0-based) the task runs on now; it may change at any
 * suspension point. */
WEFT_API unsigned weft_task_worker(const weft_task *t);

/* Let other ready tasks of equal or higher priority run. */
WEFT_API int weft_yield(weft_task *t);

/* Suspend the task for at least ms milliseconds (never less). */
WEFT_API int weft_delay(weft_task *t, unsigned ms);

/* Call program `program` in this task, passing commarea (may be NULL) by
 * reference; returns when it returns. Errors: WEFT_ENOPROG, WEFT_ELIMIT
 * (deeper than WEFT_MAX_LINK_DEPTH). */
WEFT_API int weft_link(weft_task *t, const char *program, void *commarea, size_t len);

/* Named resources (ENQ/DEQ). The resource is len bytes at res (1..255), or
 * the address res itself when len is 0. An ENQ held by the task is nested
 * (each ENQ needs a DEQ); all are released when the task ends. timeout_ms 0
 * never waits (WEFT_EBUSY), WEFT_WAIT_FOREVER never times out; otherwise
 * WEFT_ETIMEDOUT. weft_deq of a resource not held: WEFT_ENOTFOUND. */
WEFT_API int weft_enq(weft_task *t, const void *res, size_t len, unsigned timeout_ms);
/* weft_enq with a lifetime: WEFT_ENQ_TASK (weft_enq's: until DEQ or the
 * task ends) or WEFT_ENQ_UOW (also released, however nested, at the next
 * syncpoint or rollback). Every ENQ wait takes part in deadlock detection
 * (see WEFT_EDEADLOCK and deadlock_action). */
#define WEFT_ENQ_TASK 0
#define WEFT_ENQ_UOW 1
WEFT_API int weft_enq_ex(weft_task *t, const void *res, size_t len, unsigned timeout_ms,
                         int lifetime);
WEFT_API int weft_deq(weft_task *t, const void *res, size_t len);

/* Run fn(arg) on an offload thread while this task waits; the worker runs
 * other tasks meanwhile. *result (if not NULL) receives fn's return. Use it
 * for blocking calls (file or network I/O, Sleep, foreign locks). */
WEFT_API int weft_offload(weft_task *t, int (*fn)(void *arg), void *arg, int *result);

/* Transfer control to `program` at the current LINK level (CICS XCTL): the
 * calling program is left for good and `program` runs in its place with a
 * copy of commarea (len bytes; NULL, 0 for none); when it returns, control
 * goes to whoever LINKed to the caller (or the task ends). The caller's
 * abend handlers are dropped. Returns only on error: WEFT_ENOPROG,
 * WEFT_EDISABLED, WEFT_EINVAL, WEFT_ENOMEM. */
WEFT_API int weft_xctl(weft_task *t, const char *program, const void *commarea, size_t len);

/* End the task normally from any LINK level (CICS RETURN): the unit of
 * work is committed as at a normal end. With a tranid, the next
 * transaction of a pseudo-conversation is named with a copy of commarea:
 * a task attached to a terminal hands both to the terminal, which starts
 * that transaction with its next input; any other task starts tranid at
 * once with commarea as its start data (weft_retrieve). tranid NULL: just
 * end. Returns only on error: WEFT_ENOTRAN, WEFT_EBADNAME, WEFT_EINVAL. */
WEFT_API int weft_return(weft_task *t, const char *tranid, const void *commarea, size_t len);

/* size bytes of zeroed task storage, 16-byte aligned, freed when the task
 * ends (normally or by abend). NULL if t is not the calling task or on
 * exhaustion. */
WEFT_API void *weft_getmain(weft_task *t, size_t size);
/* Free storage from weft_getmain early. WEFT_ENOTFOUND if p is not the
 * task's. */
WEFT_API int weft_freemain(weft_task *t, void *p);

/* End the task abnormally with a 1-4 character code: the abend handlers run
 * (newest first), the task's storage and ENQs are released and the task
 * counts as abended. Called from the wrong context, returns nothing and
 * ends nothing: it logs an error and aborts the process (misuse). */
WEFT_NORETURN WEFT_API void weft_abend(weft_task *t, const char *code);

/* Register fn(t, code, arg) to run if the task abends while the current
 * LINK level is active (CICS HANDLE ABEND). fn NULL cancels the handlers of
 * the current level. Handlers of a level are dropped when it returns. */
WEFT_API int weft_handle_abend(weft_task *t, weft_abend_fn fn, void *arg);

/* Events: posted from any thread, waited on by tasks. An event stays posted
 * until reset (like a CICS ECB). */
WEFT_API int weft_event_create(weft_event **out);        /* any thread */
WEFT_API void weft_event_destroy(weft_event *ev);        /* no waiters left */
WEFT_API int weft_event_post(weft_event *ev);            /* any thread */
WEFT_API int weft_event_reset(weft_event *ev);           /* any thread */
WEFT_API int weft_event_is_posted(const weft_event *ev); /* any thread */
/* Wait until ev is posted: 0, or WEFT_ETIMEDOUT (timeout_ms 0 polls). */
WEFT_API int weft_event_wait(weft_task *t, weft_event *ev, unsigned timeout_ms);

/* ------------------------------------------------------------------------ */
/* Terminals                                                                 */
/* ------------------------------------------------------------------------ */

/* A terminal is a host's connection (weftd: a TCP line-mode session) that
 * tasks talk to with weft_send / weft_receive. The host creates one per
 * session, starts tasks attached to it (weft_start_opts.terminal), hands
 * it input lines and learns through its callbacks what the tasks send and
 * how they end. */
typedef struct weft_terminal weft_terminal;

/* How a task attached to a terminal ended. */
typedef struct weft_task_end {
  uint64_t task_no;
  const char *tranid;
  const char *abcode;      /* "" when it ended normally */
  const char *next_tranid; /* weft_return named one (pseudo-conversation), or NULL */
  const void *commarea;    /* ... with this COMMAREA (valid during the call) */
  size_t commarea_len;
} weft_task_end;

typedef struct weft_terminal_ops {
  /* Output of weft_send, on the task's worker: queue it and return; never
   * block. Non-zero: the terminal is gone (the task abends ATNI). */
  int (*send)(void *ctx, const void *data, size_t len);
  /* A task began to wait in weft_receive (the host may prompt). May be NULL. */
  void (*receiving)(void *ctx);
  /* The attached task ended, after its unit of work was committed or
   * backed out. Not called once the terminal was released. */
  void (*ended)(void *ctx, const weft_task_end *end);
} weft_terminal_ops;

/* Make a terminal named termid (1-8 characters). ops is copied. Any thread. */
WEFT_API int weft_terminal_create(weft_region *r, const char *termid,
                                  const weft_terminal_ops *ops, void *ctx,
                                  weft_terminal **out);
/* Hand one input line to the terminal: to its task waiting in
 * weft_receive, or kept for its next receive. WEFT_EBUSY when a line is
 * already kept; WEFT_ESTATE after release. Any thread. */
WEFT_API int weft_terminal_input(weft_terminal *term, const void *data, size_t len);
/* The session is over (disconnect, timeout): an attached task is abended
 * ATNI (at once if it waits in weft_receive, else at its next suspension
 * point or terminal call) and backed out. No callback runs after this
 * returns; the terminal is freed when its task has ended. Any thread. */
WEFT_API void weft_terminal_release(weft_terminal *term);
WEFT_API const char *weft_terminal_id(const weft_terminal *term);
/* A weft_receive on this terminal with WEFT_WAIT_FOREVER waits at most ms
 * (0: really forever, the default) and then returns WEFT_ETIMEDOUT. The
 * host's session setting (weftd: receive_timeout). Any thread. */
WEFT_API void weft_terminal_set_receive_timeout(weft_terminal *term, unsigned ms);

/* Task. Send data (text; a line end is added when missing) to the task's
 * terminal. WEFT_ESTATE without one. A gone terminal abends the task ATNI. */
WEFT_API int weft_send(weft_task *t, const void *data, size_t len);
/* Task. weft_send of a printf-formatted text (at most 4096 bytes). */
WEFT_API int weft_sendf(weft_task *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Task. Wait for the next input line (conversational): 0 and the line in
 * buf (cap bytes, *len its length; a longer line: WEFT_ERANGE with *len,
 * and the line is dropped), WEFT_ETIMEDOUT after timeout_ms
 * (WEFT_WAIT_FOREVER: the terminal's receive timeout, if it has one, else
 * never), WEFT_ESTATE without a terminal. A terminal
 * gone meanwhile abends the task ATNI. */
WEFT_API int weft_receive(weft_task *t, void *buf, size_t cap, size_t *len, unsigned timeout_ms);
/* The task's terminal id and user ("" when none). Any thread while the
 * task lives. */
WEFT_API const char *weft_task_termid(const weft_task *t);
WEFT_API const char *weft_task_userid(const weft_task *t);

/* ---- Inquiring about and purging tasks ---------------------------------- */

#define WEFT_TASK_READY 0   /* waiting for a worker */
#define WEFT_TASK_RUNNING 1 /* on a worker now */
#define WEFT_TASK_WAITING 2 /* suspended; wait_reason says for what */

typedef struct weft_task_info {
  uint64_t task_no;
  char tranid[WEFT_NAME_MAX + 1];
  char enclave[WEFT_NAME_MAX + 1];
  char termid[WEFT_NAME_MAX + 1];
  char userid[WEFT_NAME_MAX + 1];
  int state;        /* WEFT_TASK_* */
  int wait_reason;  /* WEFT_WAIT_* while WAITING */
  int priority;
  unsigned worker;
  uint64_t age_ms;  /* since it was admitted */
} weft_task_info;

/* A snapshot of the live tasks (each worker reports its own; a task
 * moving between workers at that moment may be missed). Up to cap into
 * out; *count gets how many there were. Not on a worker thread: a host
 * thread, or a task through weft_offload (WEFT_ESTATE otherwise). */
WEFT_API int weft_task_list(weft_region *r, weft_task_info *out, size_t cap, size_t *count);
/* Abend task task_no AEXY (purged by the operator) at its next
 * suspension point, at once if it waits (not inside weft_offload or a
 * commit's flush). WEFT_ENOTFOUND if no such task lives. Same context as
 * weft_task_list. */
WEFT_API int weft_task_purge(weft_region *r, uint64_t task_no);

/* ------------------------------------------------------------------------ */
/* Enclaves                                                                  */
/* ------------------------------------------------------------------------ */

/* An enclave groups tasks into one unit of accounting and priority (a z/OS
 * WLM enclave). Defined enclaves are service classes that live as long as
 * the region; transient enclaves are made at run time for one business
 * transaction. Every region has WEFT_DEFAULT_ENCLAVE (importance 3, no
 * goal), where unclassified work goes. See docs/enclaves.md. */
#define WEFT_DEFAULT_ENCLAVE "DEFAULT"
#define WEFT_IMPORTANCE_SYSTEM 0        /* always dispatched first */
#define WEFT_IMPORTANCE_DISCRETIONARY 6 /* only when nothing else is ready */

#define WEFT_GOAL_NONE 0       /* no goal */
#define WEFT_GOAL_AVERAGE 1    /* average response time <= goal_ms */
#define WEFT_GOAL_PERCENTILE 2 /* goal_percent % of responses <= goal_ms */

typedef struct weft_enclave_def {
  const char *name;      /* 1-8 characters */
  int importance;        /* 1 (highest) .. 5, or _SYSTEM / _DISCRETIONARY */
  int goal_type;         /* WEFT_GOAL_* */
  unsigned goal_ms;      /* response-time goal (1..3600000) with a goal */
  unsigned goal_percent; /* 1..99 for WEFT_GOAL_PERCENTILE */
  unsigned max_active;   /* its tasks running at once at most; 0 = no cap */
} weft_enclave_def;

/* Define an enclave. Errors: WEFT_EINVAL, WEFT_EBADNAME, WEFT_EEXIST,
 * WEFT_ERANGE (importance, goal). Any thread. */
WEFT_API int weft_enclave_define(weft_region *r, const weft_enclave_def *def);

/* Make a transient enclave of the class of defined enclave `base` (its
 * importance, goal and cap), accounted on its own. The caller holds one
 * reference and each task started into it (weft_start_opts.transient)
 * holds one while it lives; when the last is dropped the enclave is deleted
 * and its final interval record is emitted. Errors: WEFT_ENOTFOUND.
 * Any thread. */
WEFT_API int weft_enclave_create(weft_region *r, const char *base, weft_enclave **out);
/* Drop the caller's reference. Any thread. */
WEFT_API void weft_enclave_release(weft_enclave *e);
/* The enclave the task belongs to now. Task. */
WEFT_API weft_enclave *weft_task_enclave(weft_task *t);

/* Why a task waited; indexes wait_ns[]. */
enum {
  WEFT_WAIT_READY = 0, /* ready, waiting for a worker */
  WEFT_WAIT_DELAY,     /* weft_delay */
  WEFT_WAIT_EVENT,     /* weft_event_wait */
  WEFT_WAIT_ENQ,       /* weft_enq */
  WEFT_WAIT_OFFLOAD,   /* weft_offload */
  WEFT_WAIT_TERMINAL,  /* terminal I/O */
  WEFT_WAIT_LOG,       /* its commit record being flushed to disk */
  WEFT_WAIT_REASONS
};

/* ------------------------------------------------------------------------ */
/* Accounting and records                                                    */
/* ------------------------------------------------------------------------ */

/* One ended task. Times in nanoseconds, measured with the TSC at every
 * switch (accounting on). cpu_ns is always 0: a per-dispatch CPU clock
 * costs a system call per switch on Windows and QueryThreadCycleTime
 * returns 0 under Wine; CPU time is reported per worker thread instead
 * (weft_worker_stats.cpu_ns). */
struct weft_task_record {
  uint64_t task_no;
  char tranid[WEFT_NAME_MAX + 1];
  char enclave[WEFT_NAME_MAX + 1]; /* class name (transient: its base) */
  uint64_t enclave_id;             /* 0 for a defined enclave */
  char abcode[5];                  /* "" when it completed normally */
  uint64_t response_ns;            /* weft_start (or due time) to end */
  uint64_t first_dispatch_ns;      /* admission to first dispatch */
  uint64_t dispatch_ns;            /* time on a worker */
  uint64_t cpu_ns;
  uint64_t wait_ns[WEFT_WAIT_REASONS];
  uint32_t dispatches;
};

/* Live or interval figures of an enclave or a transaction. */
struct weft_enclave_stats {
  char name[WEFT_NAME_MAX + 1];
  uint64_t enclave_id; /* transient enclaves only */
  int importance, goal_type;
  unsigned goal_ms, goal_percent;
  int dispatch_priority; /* its band now: 0 (discretionary) .. 7 (system) */
  double pi;             /* performance index of the last window; 0: no goal or no data */
  uint64_t tasks_started, tasks_completed, tasks_abended;
  uint32_t active; /* its tasks that have run and not ended */
  uint64_t dispatches, dispatch_ns, cpu_ns, first_dispatch_ns;
  uint64_t wait_ns[WEFT_WAIT_REASONS];
  uint64_t responses; /* ended tasks with a response time */
  double resp_avg_ms, resp_p50_ms, resp_p90_ms, resp_p99_ms, resp_max_ms;
};

/* One enclave over one policy interval (or a transient's final record). */
struct weft_interval_record {
  struct weft_enclave_stats s; /* counts and percentiles of the interval */
  uint64_t start_ns, end_ns;   /* weft clock */
  int final;                   /* 1: a transient enclave's last record */
};

/* Live figures since the region started: of a defined enclave (its
 * transient enclaves are accounted apart), of a transient enclave, and of
 * a transaction (all its tasks, whatever their enclave). pi and
 * dispatch_priority are the policy's latest. Errors: WEFT_ENOTFOUND.
 * Any thread. */
WEFT_API int weft_enclave_stats(weft_region *r, const char *enclave,
                                struct weft_enclave_stats *out);
WEFT_API int weft_enclave_stats_of(weft_enclave *e, struct weft_enclave_stats *out);
WEFT_API int weft_transaction_stats(weft_region *r, const char *tranid,
                                    struct weft_enclave_stats *out);

/* ------------------------------------------------------------------------ */
/* Units of work and recoverable resources (see docs/recovery.md)          */
/* ------------------------------------------------------------------------ */

/* A task's changes to recoverable resources (keyed files, recoverable TS
 * and TD queues, enlisted resource managers) form its unit of work (UOW).
 * weft_syncpoint commits them and starts a new UOW; weft_rollback backs
 * them out. A task that ends normally (or by weft_return) takes an implicit
 * syncpoint; a task that abends is backed out. A commit returns once its
 * log record is on disk (with a data_dir); tasks committing together share
 * one flush, done off the workers. Record locks and WEFT_ENQ_UOW ENQs are
 * released at every syncpoint and rollback. */

/* Commit the UOW. 0; WEFT_EROLLEDBACK when a resource manager voted no in
 * phase one (everything was backed out); WEFT_ESYS when the log could not
 * be written (the outcome is then decided by restart recovery, and the
 * region refuses further commits). Task. */
WEFT_API int weft_syncpoint(weft_task *t);
/* Back the UOW out. Task. */
WEFT_API int weft_rollback(weft_task *t);
/* The current UOW's id: unique across restarts of the data directory.
 * Task (0 from elsewhere). */
WEFT_API uint64_t weft_task_uow(weft_task *t);

/* Resource managers: a host's own resource (a database, a queue) taking
 * part in Weft units of work. Callbacks run on the committing task's
 * fiber (t), except recover, which runs inside weft_rm_register; they may
 * call weft_offload through t for blocking work. */
typedef struct weft_rm weft_rm;
typedef struct weft_rm_ops {
  /* Phase one: make the UOW's changes durable-but-undecided. 0 votes yes;
   * anything else votes no and the UOW is rolled back everywhere. */
  int (*prepare)(void *ctx, weft_task *t, uint64_t uow);
  /* Phase two, after the commit decision is on disk. */
  void (*commit)(void *ctx, weft_task *t, uint64_t uow);
  /* Back out (also for a UOW that was never prepared). */
  void (*rollback)(void *ctx, weft_task *t, uint64_t uow);
  /* One-phase commit, used when this RM is the only participant (no
   * Weft resource changed): 0 committed, else rolled back. NULL: Weft runs
   * prepare then commit. */
  int (*commit_one_phase)(void *ctx, weft_task *t, uint64_t uow);
  /* Restart: a UOW this RM prepared and Weft committed, whose phase two
   * the RM may have missed (Weft crashed first); the RM must commit it if
   * it still holds it. Any other UOW the RM holds prepared must be rolled
   * back (presumed abort). May be NULL. */
  void (*recover)(void *ctx, uint64_t uow);
} weft_rm_ops;

/* Register resource manager `name` (1-8 characters). Before it returns,
 * ops->recover is called for every committed UOW the RM has not
 * acknowledged (from the log). Errors: WEFT_EINVAL, WEFT_EBADNAME,
 * WEFT_EEXIST. Host thread. */
WEFT_API int weft_rm_register(weft_region *r, const char *name, const weft_rm_ops *ops,
                              void *ctx, weft_rm **out);
/* rm takes part in the task's current UOW (again: no effect). Task. */
WEFT_API int weft_rm_enlist(weft_task *t, weft_rm *rm);

/* ---- Keyed files (KSDS-like) --------------------------------------------- */

#define WEFT_KEY_MAX 240            /* longest key any file allows */
#define WEFT_RECORD_MAX (1u << 20) /* longest record any file allows */

typedef struct weft_file_def {
  const char *name; /* 1-8 characters */
  unsigned key_max; /* longest key in bytes, 1..WEFT_KEY_MAX */
  unsigned rec_max; /* longest record in bytes, 1..WEFT_RECORD_MAX */
} weft_file_def;

/* Define a keyed file: records with unique keys (byte strings compared as
 * unsigned bytes, a shorter prefix first), always recoverable. Its records
 * survive restarts when the region has a data_dir (defining a file that
 * recovery found just makes it usable again). Errors: WEFT_EINVAL,
 * WEFT_EBADNAME, WEFT_ERANGE, WEFT_EEXIST. Any thread. */
WEFT_API int weft_file_define(weft_region *r, const weft_file_def *def);

/* The calls below are "task" context and share these errors:
 * WEFT_ENOTFOUND (no such file, or no such record), WEFT_ERANGE (a key or
 * record longer than the file allows: refused, never truncated; or a
 * buffer too small for the record: *len gets the size, nothing is copied),
 * WEFT_EDEADLOCK / WEFT_ETIMEDOUT (a record-lock wait, with
 * deadlock_action ERROR; with ABEND the task abends AKCS instead).
 * A record another UOW has changed and not yet committed is waited for,
 * never seen. */

#define WEFT_READ_UPDATE 1 /* lock the record until syncpoint (for rewrite) */

/* Read the record with this key into buf (cap bytes); *len gets its size. */
WEFT_API int weft_file_read(weft_task *t, const char *file, const void *key, size_t klen,
                            void *buf, size_t cap, size_t *len, int flags);
/* Add a record; WEFT_EEXIST if the key exists. The record is locked until
 * syncpoint. */
WEFT_API int weft_file_write(weft_task *t, const char *file, const void *key, size_t klen,
                             const void *data, size_t len);
/* Replace a record this UOW read for update (or wrote); WEFT_ESTATE if it
 * holds no lock on it. */
WEFT_API int weft_file_rewrite(weft_task *t, const char *file, const void *key, size_t klen,
                               const void *data, size_t len);
/* Delete the record with this key (locking it until syncpoint). */
WEFT_API int weft_file_delete(weft_task *t, const char *file, const void *key, size_t klen);

/* Browse in key order. From the first key >= key (forward) or the last key
 * <= key (backward); klen 0 starts at the file's first (last) record.
 * WEFT_BROWSE_GENERIC returns only keys that begin with key. The browse
 * sees the UOW's own changes; it ends with weft_browse_end or the task. */
#define WEFT_BROWSE_BACKWARD 1
#define WEFT_BROWSE_GENERIC 2
typedef struct weft_browse weft_browse;
WEFT_API int weft_browse_start(weft_task *t, const char *file, const void *key, size_t klen,
                               int flags, weft_browse **out);
/* The next record: its key into kbuf (kcap bytes, *klen its size) and data
 * into buf (cap, *len). WEFT_EENDFILE when there are no more. kbuf may be
 * NULL (kcap 0) and buf may be NULL (cap 0) to skip them. */
WEFT_API int weft_browse_next(weft_browse *b, void *kbuf, size_t kcap, size_t *klen, void *buf,
                              size_t cap, size_t *len);
WEFT_API void weft_browse_end(weft_browse *b);

/* ---- Temporary storage queues --------------------------------------------- */

#define WEFT_QNAME_MAX 16 /* queue names: 1-16 printable characters */
#define WEFT_ITEM_MAX 32767u

/* Make queues named `name` recoverable (changes belong to the UOW and are
 * logged), or, with a name ending in '*', every queue whose name starts
 * with what precedes it. Queues matching no definition are not
 * recoverable: changes apply at once and are lost at restart. Errors:
 * WEFT_EINVAL, WEFT_EBADNAME, WEFT_EEXIST. Any thread. */
WEFT_API int weft_tsq_define(weft_region *r, const char *name, int recoverable);

/* Task. A queue is created by its first write; items are numbered from 1.
 * Errors: WEFT_ENOTFOUND (no such queue or item), WEFT_ERANGE (an item
 * over WEFT_ITEM_MAX, or buf too small: *len gets the size), WEFT_ELIMIT
 * (32767 items). A recoverable queue changed by another UOW is waited for. */
WEFT_API int weft_ts_write(weft_task *t, const char *queue, const void *data, size_t len,
                           unsigned *item);
/* Read item `item`, or with item 0 the item after the queue's read
 * cursor (WEFT_EENDFILE past the end); *item_out (may be NULL) gets its
 * number. Either moves the cursor to it. */
WEFT_API int weft_ts_read(weft_task *t, const char *queue, unsigned item, void *buf, size_t cap,
                          size_t *len, unsigned *item_out);
WEFT_API int weft_ts_rewrite(weft_task *t, const char *queue, unsigned item, const void *data,
                             size_t len);
WEFT_API int weft_ts_delete(weft_task *t, const char *queue);
/* Items in the queue as this task sees it (0 and WEFT_ENOTFOUND if none). */
WEFT_API int weft_ts_count(weft_task *t, const char *queue, unsigned *count);

/* ---- Transient data queues ------------------------------------------------ */

typedef struct weft_tdq_def {
  const char *name;       /* 1-16 characters */
  int recoverable;        /* 1: writes appear and reads are final at syncpoint */
  unsigned trigger_level; /* 0: none; else start `tranid` when this many
                             committed items wait and no task it triggered
                             is still running (ATI) */
  const char *tranid;     /* with a trigger level; its start data is the
                             queue name */
} weft_tdq_def;

/* Errors: WEFT_EINVAL, WEFT_EBADNAME, WEFT_EEXIST, WEFT_ENOTRAN. Any
 * thread. */
WEFT_API int weft_tdq_define(weft_region *r, const weft_tdq_def *def);
/* Task. Append an item (1..WEFT_ITEM_MAX bytes). */
WEFT_API int weft_td_write(weft_task *t, const char *queue, const void *data, size_t len);
/* Task. Take the oldest item (destructive read); WEFT_EEMPTY when none.
 * A recoverable queue's read end is locked by the reading UOW until
 * syncpoint; a rollback puts the items back in order. */
WEFT_API int weft_td_read(weft_task *t, const char *queue, void *buf, size_t cap, size_t *len);
/* Committed items waiting in the queue. Any thread. */
WEFT_API int weft_td_depth(weft_region *r, const char *queue, uint64_t *depth);

/* ---- Log, checkpoints, restart ------------------------------------------- */

/* Take a checkpoint now: the committed state is written to a new
 * checkpoint file and the log before it is dropped. WEFT_ENOTSUP without a
 * data_dir. Any thread that is not a task. */
WEFT_API int weft_checkpoint(weft_region *r);

/* What restart recovery found and did when the region opened its data
 * directory. */
typedef struct weft_recovery_info {
  int data_dir;               /* 1 if the region has a data directory */
  int clean;                  /* the last run shut down cleanly: nothing to do */
  int fresh;                  /* the directory held no data yet */
  uint64_t checkpoint_gen;    /* the checkpoint it started from (0: none) */
  uint64_t records_read;      /* log records read after the checkpoint */
  uint64_t uows_redone;       /* committed units of work replayed */
  uint64_t uows_undone;       /* units of work with changes but no commit record: discarded */
  uint64_t torn_bytes;        /* bytes of a torn last record cut from the log */
  uint64_t rm_pending;        /* committed UOWs a resource manager must still be told of */
  char message[512];          /* the same, as sentences (also in the region log) */
} weft_recovery_info;
WEFT_API int weft_region_recovery(weft_region *r, weft_recovery_info *out);

struct weft_log_stats {
  uint64_t commits;     /* commit records written */
  uint64_t flushes;     /* FlushFileBuffers calls */
  uint64_t bytes;       /* log bytes written */
  uint64_t durable_lsn; /* log position known to be on disk */
  uint64_t checkpoints; /* checkpoints taken since the region opened */
  uint64_t rollbacks;   /* units of work with changes backed out */
  uint64_t deadlocks;   /* deadlocks detected (victims chosen) */
  uint64_t lock_timeouts;
};
/* Figures since the region opened. Any thread. */
WEFT_API int weft_log_stats(weft_region *r, struct weft_log_stats *out);

/* ------------------------------------------------------------------------ */
/* Observing                                                                 */
/* ------------------------------------------------------------------------ */

struct weft_worker_stats {
  uint64_t dispatches; /* task dispatches (switches into a task) */
  uint64_t busy_ns;    /* time spent running tasks */
  uint64_t idle_ns;    /* time spent asleep with nothing to run */
  uint64_t cpu_ns;     /* CPU time of the worker thread (GetThreadTimes) */
  uint64_t steals;     /* ready tasks this worker took from others */
  uint32_t ready;      /* tasks in its ready queues now */
};

/* The struct keeps its tag only: the function below has the same name. */
struct weft_region_stats {
  uint64_t tasks_started;    /* tasks that began to run */
  uint64_t tasks_completed;  /* ended normally */
  uint64_t tasks_abended;    /* ended by an abend (purges included) */
  uint64_t starts_rejected;  /* weft_start refused (EBUSY, ESHUTDOWN) */
  uint64_t starts_cancelled; /* delayed or queued starts dropped at shutdown */
  uint32_t active;           /* live tasks (admitted, not ended) */
  uint32_t queued;           /* starts waiting for admission */
  uint32_t delayed;          /* delayed starts not yet due */
  uint32_t peak_active;      /* highest `active` seen */
  uint32_t fibers_idle;      /* pooled fibers ready for reuse */
  uint32_t workers;          /* entries used in worker[] */
  struct weft_worker_stats worker[WEFT_MAX_WORKERS];
};

/* A snapshot of the region's counters (each is exact; the set is not taken
 * atomically). Any thread. */
WEFT_API int weft_region_stats(weft_region *r, struct weft_region_stats *out);

/* Process-wide counters, for leak checks: fibers and threads Weft has
 * created and not yet deleted, regions alive, and task structs allocated
 * (pooled ones included). Any thread. */
typedef struct weft_runtime_counters {
  int64_t fibers;
  int64_t threads;
  int64_t regions;
  int64_t tasks;
} weft_runtime_counters;
WEFT_API void weft_runtime_counters_get(weft_runtime_counters *out);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
