/* weft.h - the public API of Weft, a transaction-processing runtime for Windows.
 *
 * Every transaction runs as a task on a Win32 fiber, dispatched cooperatively
 * over a few worker threads of a *region*. See docs/api.md for a guided tour.
 *
 * Conventions:
 * - Functions that can fail return int: 0 on success or a negative WEFT_E*
 *   code; weft_strerror() and weft_err_name() describe every code.
 * - Each function says where it may be called from:
 *     "any thread"     a host thread, an offload thread, or a task;
 *     "host thread"    a thread that is not running a task of the region
 *                      (calling it from a task returns WEFT_ESTATE);
 *     "offload thread" a function that weft_offload runs for a task, on
 *                      one of the region's offload threads: it may make
 *                      blocking calls and "any thread" calls, and it is
 *                      not the task ("task" calls from it return
 *                      WEFT_ESTATE);
 *     "task"           only from the task itself, on its own fiber;
 *                      anywhere else it returns WEFT_ESTATE.
 * - Names of programs, transactions, enclaves, classes, files, terminals,
 *   users and resource managers are 1-WEFT_NAME_MAX (8) printable ASCII
 *   characters without spaces; queue names 1-WEFT_QNAME_MAX (16). They are
 *   case-sensitive.
 * - Which code a bad argument gets:
 *     WEFT_EINVAL    a NULL pointer where one is needed (a NULL task or
 *                    region, a NULL name or definition), or a choice that
 *                    is none of its named values (a mode, an action, a
 *                    lifetime);
 *     WEFT_ESTATE    a real task, region or object used from the wrong
 *                    context or state (another task's fiber, a host-thread
 *                    call made from a task);
 *     WEFT_EBADNAME  a name that is not NULL but is not a valid name;
 *     WEFT_ERANGE    a number (a count, a length, a time) outside its range.
 *   WEFT_EABI is a struct size or program DLL built for an ABI this
 *   weft.dll does not run.
 * - Zero means "the default" in every field of a struct the caller fills
 *   in (weft_region_config, weft_start_opts, the *_def structs), so that
 *   `weft_start_opts o = {0}` asks for nothing special. Where zero used to
 *   mean "off" or "none", WEFT_OFF says it now. Each field says its zero.
 * - The ABI: see "ABI and versions" below and docs/api.md.
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
/* ABI and versions (see docs/api.md, "ABI stability")                       */
/* ------------------------------------------------------------------------ */

/* The ABI this header describes. Version 1 was the first published header
 * (structs without sizes); version 2 passes each struct's size with the
 * call that takes it. weft.dll runs program DLLs and hosts built for any
 * version from WEFT_ABI_VERSION_MIN to its own WEFT_ABI_VERSION. */
#define WEFT_ABI_VERSION 2
#define WEFT_ABI_VERSION_MIN 1

/* The ABI version of the module (program DLL or host executable) that
 * includes this header: an exported constant, one per module however many
 * of its files include weft.h (selectany). weft_program_load reads it from
 * a program DLL before it resolves any program; a DLL that exports none
 * was built before versions were recorded and is taken as version 1.
 * Define WEFT_NO_ABI_MARK to leave it out (weft.dll itself does). */
#if defined(_WIN32) && !defined(WEFT_BUILDING_LIB) && !defined(WEFT_NO_ABI_MARK)
#ifdef __cplusplus
extern /* a const has internal linkage in C++ without it */
#endif
    __declspec(dllexport) __declspec(selectany) const unsigned weft_abi_version =
        WEFT_ABI_VERSION;
#endif

/* Put WEFT_PROGRAM before the definition of each program a DLL exports for
 * weft_program_load: `WEFT_PROGRAM void PAYROLL(weft_task *t) { ... }`. */
#ifdef __cplusplus
#define WEFT_PROGRAM extern "C" __declspec(dllexport)
#else
#define WEFT_PROGRAM __declspec(dllexport)
#endif

/* "Zero means default": WEFT_OFF in a field turns off what zero would give
 * the default of (for example runaway_ms = WEFT_OFF: no runaway check). */
#define WEFT_OFF 0xFFFFFFFEu

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* X(name, value, message): the one table behind the codes, weft_strerror()
 * and weft_err_name(). */
#define WEFT_ERRNO_MAP(X)                                                     \
  X(EINVAL, -1, "invalid argument")                                           \
  X(ENOMEM, -2, "out of memory")                                              \
  X(ESTATE, -3, "call not allowed in this context or state")                  \
  X(EBADNAME, -4, "name is empty, too long or not printable")                 \
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
  X(EDISABLED, -21, "the program or transaction is disabled")               \
  X(EABI, -22, "built for a Weft ABI version this weft.dll does not support") \
  X(EINUSE, -23, "in use by another region")                                  \
  X(EDB, -24, "the database reported an error (see weft_db_error)")

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

/* Limits. The runtime checks and the region definition files use these. */
#define WEFT_NAME_MAX 8         /* longest name (program, transaction, ...) */
#define WEFT_QNAME_MAX 16       /* longest TS or TD queue name */
#define WEFT_PRIORITY_MAX 255   /* priorities are 0 (lowest) .. 255 */
#define WEFT_MAX_WORKERS 64     /* weft_region_config.workers at most */
#define WEFT_MAX_TASKS_MAX 1000000u /* weft_region_config.max_tasks at most */
#define WEFT_POLICY_INTERVAL_MS_MIN 10u
#define WEFT_POLICY_INTERVAL_MS_MAX 3600000u /* one hour */
#define WEFT_GOAL_MS_MAX 3600000u            /* an enclave's goal: one hour at most */
#define WEFT_ENCLAVE_MAX_ACTIVE_MAX 1000000u /* weft_enclave_def.max_active */
#define WEFT_CLASS_MAX_ACTIVE_MAX 1000000u   /* weft_class_def.max_active */
#define WEFT_TD_TRIGGER_MAX 1000000u         /* weft_td_def.trigger_level */
#define WEFT_WAIT_FOREVER 0xFFFFFFFFu /* a timeout that never expires */
#define WEFT_MAX_LINK_DEPTH 32        /* nested weft_link levels per task */
/* In weft_start_opts.priority: the transaction's priority. Deprecated: 0
 * without WEFT_START_PRIORITY says the same. */
#define WEFT_PRIORITY_DEFAULT -1

/* ------------------------------------------------------------------------ */
/* Region                                                                    */
/* ------------------------------------------------------------------------ */

/* Each field's zero is its default; WEFT_OFF turns off what can be off. */
typedef struct weft_region_config {
  unsigned workers;         /* worker threads, 1..WEFT_MAX_WORKERS; 0: the CPU
                               count (at most WEFT_MAX_WORKERS) */
  unsigned max_tasks;       /* live tasks at most (MXT), 1..WEFT_MAX_TASKS_MAX;
                               0: 1024 */
  unsigned max_queued;      /* starts waiting for admission at most; past it
                               weft_start returns WEFT_EBUSY; 0: 65536;
                               WEFT_OFF: none may wait */
  size_t stack_size;        /* fiber stack reserve in bytes, 64 KiB at
                               least; 0: 256 KiB */
  size_t stack_commit;      /* fiber stack initially committed, at most
                               stack_size; 0: 16 KiB */
  unsigned fiber_cache;     /* idle fibers kept for reuse, region-wide;
                               0: 256; WEFT_OFF: no pooling */
  unsigned runaway_ms;      /* a task running this long without suspending is
                               reported and abended AICA; 0: 5000;
                               WEFT_OFF: never */
  unsigned offload_threads; /* offload pool size at most; 0: 8 */
  weft_log_fn log_fn;       /* region messages; NULL: stderr */
  void *log_ctx;            /* passed to log_fn */
  /* Enclaves and accounting (see docs/enclaves.md). */
  int dispatch_mode;        /* WEFT_DISPATCH_GOAL (0, the default), _STATIC
                               or _FIFO */
  int accounting;           /* 0 or WEFT_ACCOUNTING_ON (the default): time
                               every dispatch and wait, keep enclave and
                               transaction figures and records;
                               WEFT_ACCOUNTING_OFF: none of that (the goal
                               policy has no data) */
  unsigned policy_interval_ms; /* goal policy and interval records,
                                  WEFT_POLICY_INTERVAL_MS_MIN.._MAX; 0: 250 */
  unsigned aging_ms;           /* a ready task waiting this long rises one
                                  level; 0: 100; WEFT_OFF: no aging */
  weft_task_record_fn task_record_fn;         /* one record per ended task; NULL: none */
  weft_interval_record_fn interval_record_fn; /* one per enclave per interval; NULL: none */
  void *record_ctx;                           /* passed to both */
  const char *record_path; /* append both as JSON Lines to this file; NULL: no file */
  /* Units of work and recoverable resources (see docs/recovery.md). */
  const char *data_dir;      /* log and checkpoints of the recoverable
                                resources; created if missing; opening it
                                runs restart recovery. NULL: resources live
                                in memory only and commits never wait for a
                                disk */
  uint64_t checkpoint_bytes; /* take a checkpoint (and drop the old log)
                                when the log grows past this; 0: 64 MiB;
                                WEFT_OFF: only weft_checkpoint takes one */
  unsigned lock_timeout_ms;  /* a record-lock wait gives up after this;
                                0: 30000; WEFT_WAIT_FOREVER: never;
                                WEFT_OFF: at once (no wait) */
  int deadlock_action;       /* WEFT_DEADLOCK_ABEND (0, the default) or _ERROR */
} weft_region_config;

#define WEFT_ACCOUNTING_ON 1
#define WEFT_ACCOUNTING_OFF -1

/* What happens to the victim of a deadlock (and to a task whose record-lock
 * wait times out). */
#define WEFT_DEADLOCK_ABEND 0 /* it abends AKCS (its unit of work is backed out) */
#define WEFT_DEADLOCK_ERROR 1 /* the waiting call returns WEFT_EDEADLOCK
                                 (WEFT_ETIMEDOUT); the program decides */

#define WEFT_DISPATCH_GOAL 0   /* importance, then goal-driven dispatch priority */
#define WEFT_DISPATCH_STATIC 1 /* importance only */
#define WEFT_DISPATCH_FIFO 2   /* one queue: no importance, no task priority */

/* Fill cfg with the defaults, spelt out (the values zero stands for).
 * Any thread. */
#define weft_region_config_init(cfg) weft_region_config_init_((cfg), sizeof(weft_region_config))
WEFT_API void weft_region_config_init_(weft_region_config *cfg, size_t size);

/* Create a region and start its workers. cfg NULL means the defaults.
 * Returns WEFT_EINVAL (out NULL, or a dispatch_mode or deadlock_action
 * that is none of its values), WEFT_ERANGE (a number out of range:
 * workers, max_tasks, stacks, offload_threads, policy_interval_ms) or
 * WEFT_EABI (a struct size this weft.dll does not know: a caller built
 * for a newer ABI). With a
 * data_dir it first runs restart recovery (see weft_region_recovery): a
 * checksum failure before the log's tail returns WEFT_ECORRUPT (the region
 * log names the file and offset, and nothing on disk is changed);
 * WEFT_EINUSE when another region (in this or another process) has the
 * data directory open, before anything in it is read or changed; WEFT_ESYS
 * when the directory cannot be made or listed, WEFT_ERANGE when its path
 * is too long to list (the region log names the directory; it is never
 * taken for a new one). Host thread. */
#define weft_region_create(cfg, out) \
  weft_region_create_((cfg), sizeof(weft_region_config), (out))
WEFT_API int weft_region_create_(const weft_region_config *cfg, size_t size, weft_region **out);

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
 * Calling it again returns WEFT_ESTATE; a mode that is neither NORMAL nor
 * IMMEDIATE returns WEFT_EINVAL. Host thread. */
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
 * function must have the weft_program_fn signature (define it with
 * WEFT_PROGRAM). The DLL's ABI version (weft_abi_version, see above; 1
 * when it exports none) is checked before the symbol is resolved: outside
 * WEFT_ABI_VERSION_MIN..WEFT_ABI_VERSION it returns WEFT_EABI and no code
 * of the DLL but its DllMain has run. Errors: WEFT_EINVAL, WEFT_EBADNAME,
 * WEFT_EEXIST, WEFT_ENOTFOUND (the DLL, a DLL it needs, or the symbol is
 * missing; the region log names which), WEFT_EABI (the log names both
 * versions), WEFT_ESYS. Nothing is defined or kept loaded on an error.
 * Any thread. */
WEFT_API int weft_program_load(weft_region *r, const char *name, const char *dll,
                               const char *symbol);

typedef struct weft_transaction_def {
  const char *tranid;  /* 1-8 characters, required */
  const char *program; /* an already defined program, required */
  int priority;        /* 0..WEFT_PRIORITY_MAX; higher runs first; 0 (the
                          default) is the lowest */
  unsigned runaway_ms; /* 0: the region's runaway_ms */
  const char *enclave; /* its enclave; NULL: WEFT_DEFAULT_ENCLAVE */
  const char *tclass;  /* its transaction class; NULL: none */
} weft_transaction_def;

/* Define a transaction. Errors: WEFT_EBADNAME (tranid), WEFT_ENOPROG,
 * WEFT_ERANGE (priority), WEFT_EEXIST, WEFT_ENOTFOUND (enclave or class).
 * Any thread. */
#define weft_transaction_define(r, def) \
  weft_transaction_define_((r), (def), sizeof(weft_transaction_def))
WEFT_API int weft_transaction_define_(weft_region *r, const weft_transaction_def *def, size_t size);

/* Transaction classes (CICS TRANCLASS): a cap on the tasks of its
 * transactions that are active at once. A start past the cap waits in the
 * class's queue (in start order); past purge_threshold queued starts,
 * weft_start returns WEFT_EBUSY (a terminal shows abend AKCC). */
typedef struct weft_class_def {
  const char *name;         /* 1-8 characters, required */
  unsigned max_active;      /* 1..WEFT_CLASS_MAX_ACTIVE_MAX, required */
  unsigned purge_threshold; /* queued starts at most; 0: max_queued */
} weft_class_def;
/* Errors: WEFT_EINVAL, WEFT_EBADNAME, WEFT_ERANGE, WEFT_EEXIST. Any thread. */
#define weft_class_define(r, def) weft_class_define_((r), (def), sizeof(weft_class_def))
WEFT_API int weft_class_define_(weft_region *r, const weft_class_def *def, size_t size);
/* Change a class's max_active at run time (queued starts are admitted at
 * once if it grows). Errors: WEFT_ENOTFOUND, WEFT_ERANGE. Any thread. */
WEFT_API int weft_class_set_max(weft_region *r, const char *name, unsigned max_active);
typedef struct weft_class_stats {
  char name[WEFT_NAME_MAX + 1];
  unsigned max_active, purge_threshold;
  uint32_t active, queued; /* now */
  uint64_t rejected;       /* starts refused past the purge threshold */
} weft_class_stats;
/* A class's figures. Errors: WEFT_ENOTFOUND. Any thread. */
#define weft_class_stats_get(r, name, out) \
  weft_class_stats_get_((r), (name), (out), sizeof(weft_class_stats))
WEFT_API int weft_class_stats_get_(weft_region *r, const char *name, weft_class_stats *out,
                                   size_t size);

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

/* Each field's zero is its default: `weft_start_opts o = {0}` starts now,
 * at the transaction's priority, classified, with no terminal. */
typedef struct weft_start_opts {
  unsigned delay_ms;       /* start no earlier than this from now; 0: now */
  int priority;            /* with WEFT_START_PRIORITY in flags: 0..255;
                              without it: 0 (or the deprecated
                              WEFT_PRIORITY_DEFAULT) for the transaction's,
                              anything else is WEFT_EINVAL */
  int membership;          /* WEFT_MEMBER_CLASSIFY (0, the default), _JOIN or _NEW */
  const char *enclave;     /* override the tranid's enclave (CLASSIFY, NEW);
                              NULL: none */
  weft_enclave *transient; /* join this transient enclave (overrides all);
                              NULL: none */
  struct weft_terminal *terminal; /* attach the task to this terminal (its
                                     one task at a time: WEFT_EBUSY); NULL:
                                     none */
  const void *commarea;   /* a COMMAREA for the top level (copied); NULL: none */
  size_t commarea_len;
  const char *userid;     /* the signed-on user, 1-8 characters; NULL: none */
  unsigned flags;         /* WEFT_START_*; 0: none (ABI 2) */
} weft_start_opts;

/* weft_start_opts.flags */
#define WEFT_START_PRIORITY 1u /* priority holds the task's priority */

/* Which enclave a started task belongs to. */
#define WEFT_MEMBER_CLASSIFY 0 /* opts->enclave, else the tranid's enclave */
#define WEFT_MEMBER_JOIN \
  1 /* the starting task's enclave (from a task;
                                  from a host thread it classifies) */
#define WEFT_MEMBER_NEW \
  2 /* a new transient enclave of the classified
                                  enclave's class, deleted when its last
                                  task ends */

/* Fill opts with zeros: "now, the transaction's priority". Any thread. */
#define weft_start_opts_init(opts) weft_start_opts_init_((opts), sizeof(weft_start_opts))
WEFT_API void weft_start_opts_init_(weft_start_opts *opts, size_t size);

/* Start a task of transaction `tranid` with a copy of data (len bytes; data
 * may be NULL when len is 0). opts may be NULL. On success *task_no (if not
 * NULL) receives the task number. A start that finds max_tasks live tasks
 * waits in the admission queue in priority order; past max_queued it fails
 * with WEFT_EBUSY. A start into an enclave at its max_active waits on the
 * enclave. Errors: WEFT_EINVAL (also a bad membership, unknown flags, or a
 * priority without WEFT_START_PRIORITY), WEFT_ENOTRAN, WEFT_EBADNAME,
 * WEFT_ERANGE, WEFT_ENOTFOUND (opts->enclave unknown; it is checked even
 * when JOIN does not use it), WEFT_EBUSY, WEFT_ESHUTDOWN, WEFT_ENOMEM,
 * WEFT_EABI. Any thread. */
#define weft_start(r, tranid, data, len, opts, task_no) \
  weft_start_((r), (tranid), (data), (len), (opts), sizeof(weft_start_opts), (task_no))
WEFT_API int weft_start_(weft_region *r, const char *tranid, const void *data, size_t len,
                         const weft_start_opts *opts, size_t size, uint64_t *task_no);

/* ------------------------------------------------------------------------ */
/* Inside a task ("task" context unless a call says otherwise)             */
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
 * WEFT_ETIMEDOUT. weft_deq of a resource not held: WEFT_ENOTFOUND. A NULL
 * res is WEFT_EINVAL, a len over 255 WEFT_ERANGE. */
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
 * (newest first), the unit of work is backed out, the task's storage and
 * ENQs are released and the task counts as abended. Never returns. Task
 * only, and unlike the other calls it cannot return WEFT_ESTATE: called
 * from anywhere else it writes "weft_abend called outside its task" to
 * stderr and aborts the process (a programming error). */
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
  /* A 3270 terminal's output of weft_send_map and the other screen calls:
   * one outbound 3270 data stream record (command, WCC, orders, EBCDIC
   * data), on the task's worker; queue it and return. Non-zero: the
   * terminal is gone. Required for a WEFT_DEVICE_3270 terminal; NULL (and
   * absent in hosts built before it) for a line terminal. */
  int (*send_record)(void *ctx, const void *data, size_t len);
} weft_terminal_ops;

/* What kind of device a terminal is (weft_terminal_set_device). */
#define WEFT_DEVICE_LINE 0 /* a line-mode terminal (weftd's line protocol): the default */
#define WEFT_DEVICE_3270 1 /* an IBM 3270 display (weftd's TN3270 server) */

typedef struct weft_terminal_device {
  int kind;         /* WEFT_DEVICE_* */
  int model;        /* 3270: 2, 3, 4 or 5; 0 for a line terminal */
  unsigned rows;    /* 3270: the model's (alternate) size: 24x80, 32x80, 43x80, 27x132 */
  unsigned cols;
  int extended;     /* 3270: colour, highlighting and SFE are supported (an -E type) */
  char type[24];    /* 3270: the terminal type, e.g. "IBM-3278-2-E"; "" for a line terminal */
} weft_terminal_device;

/* Make a terminal named termid (1-8 characters). ops is copied (send and
 * ended are required, receiving may be NULL). Any thread. */
#define weft_terminal_create(r, termid, ops, ctx, out) \
  weft_terminal_create_((r), (termid), (ops), sizeof(weft_terminal_ops), (ctx), (out))
WEFT_API int weft_terminal_create_(weft_region *r, const char *termid,
                                   const weft_terminal_ops *ops, size_t size, void *ctx,
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
/* Every weft_receive on this terminal waits at most ms (0: no bound, the
 * default) and then returns WEFT_ETIMEDOUT: the smaller of ms and the
 * receive's own timeout wins (as CICS RTIMOUT bounds a conversational
 * receive). The host's session setting (weftd: receive_timeout). Any
 * thread. */
WEFT_API void weft_terminal_set_receive_timeout(weft_terminal *term, unsigned ms);
/* Say what device the terminal is (the default: WEFT_DEVICE_LINE). Before
 * the first task is started on it; WEFT_EINVAL for an unknown kind, a 3270
 * model outside 2-5 or a 3270 terminal whose ops have no send_record. Any
 * thread. */
WEFT_API int weft_terminal_set_device(weft_terminal *term, const weft_terminal_device *dev);
/* Hand a 3270's inbound record to the terminal (its task waiting in a
 * receive, or kept for its next one, as weft_terminal_input): rec is the
 * record as the terminal sent it (AID, cursor, fields; EBCDIC), which
 * weft_receive_map decodes, and text the host's rendering of it for
 * weft_receive (docs/tn3270.md says which). WEFT_EBUSY when input is
 * already kept; WEFT_ESTATE after release. Any thread. */
WEFT_API int weft_terminal_input_record(weft_terminal *term, const void *rec, size_t len,
                                        const char *text, size_t text_len);
/* Drop input kept for the next receive (the host could not start the task
 * it was for). Any thread. */
WEFT_API void weft_terminal_discard_input(weft_terminal *term);
/* Task. The device of the task's terminal: 0, or WEFT_ESTATE without a
 * terminal. A program that may run on both kinds checks kind. */
WEFT_API int weft_task_device(weft_task *t, weft_terminal_device *out);

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
 * and the line is dropped), WEFT_ETIMEDOUT after timeout_ms or the
 * terminal's receive timeout, whichever is shorter (WEFT_WAIT_FOREVER and
 * no terminal timeout: never), WEFT_ESTATE without a terminal. A terminal
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
 * out; *count gets how many there were. A worker answers from its
 * dispatcher, so one whose task runs without suspending cannot: after 5 s
 * the call returns WEFT_ETIMEDOUT with the tasks of the workers that
 * answered (in out and *count, as above) and names the others in the
 * region log. Not on a worker thread: a host thread, or a task through
 * weft_offload (WEFT_ESTATE otherwise). */
#define weft_task_list(r, out, cap, count) \
  weft_task_list_((r), (out), sizeof(weft_task_info), (cap), (count))
WEFT_API int weft_task_list_(weft_region *r, weft_task_info *out, size_t size, size_t cap,
                             size_t *count);
/* weft_task_list that also says which workers did not answer: bit i of
 * *missing (when missing is not NULL) is set for worker i, and the call
 * returns WEFT_ETIMEDOUT when any is. */
#define weft_task_list_ex(r, out, cap, count, missing) \
  weft_task_list_ex_((r), (out), sizeof(weft_task_info), (cap), (count), (missing))
WEFT_API int weft_task_list_ex_(weft_region *r, weft_task_info *out, size_t size, size_t cap,
                                size_t *count, uint64_t *missing);
/* Abend task task_no AEXY (purged by the operator) at its next
 * suspension point, at once if it waits (not inside weft_offload or a
 * commit's flush). WEFT_ENOTFOUND if no such task lives. When a worker
 * did not answer the listing (see weft_task_list) the request stands for
 * 60 s in case the task is on it, and the call returns 0. Same context as
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
  const char *name;      /* 1-8 characters, required */
  int importance;        /* 1 (highest) .. 5, or _SYSTEM / _DISCRETIONARY;
                            required: 0 is WEFT_IMPORTANCE_SYSTEM */
  int goal_type;         /* WEFT_GOAL_* ; 0: WEFT_GOAL_NONE */
  unsigned goal_ms;      /* response-time goal, 1..WEFT_GOAL_MS_MAX, with a goal */
  unsigned goal_percent; /* 1..99 for WEFT_GOAL_PERCENTILE */
  unsigned max_active;   /* its tasks running at once at most,
                            ..WEFT_ENCLAVE_MAX_ACTIVE_MAX; 0: no cap */
} weft_enclave_def;

/* Define an enclave. Errors: WEFT_EINVAL, WEFT_EBADNAME, WEFT_EEXIST,
 * WEFT_ERANGE (importance, goal, max_active). Any thread. */
#define weft_enclave_define(r, def) weft_enclave_define_((r), (def), sizeof(weft_enclave_def))
WEFT_API int weft_enclave_define_(weft_region *r, const weft_enclave_def *def, size_t size);

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
/* Records reach callbacks: a later ABI only appends fields to them, so a
 * callback built against an older header reads a prefix it knows. */
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

/* Live or interval figures of an enclave or a transaction. Embedded at the
 * start of weft_interval_record, so its layout is frozen: later figures go
 * to the end of weft_interval_record (and to a new call for live ones). */
typedef struct weft_enclave_stats {
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
} weft_enclave_stats;

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
#define weft_enclave_stats_get(r, enclave, out) \
  weft_enclave_stats_get_((r), (enclave), (out), sizeof(weft_enclave_stats))
WEFT_API int weft_enclave_stats_get_(weft_region *r, const char *enclave,
                                     weft_enclave_stats *out, size_t size);
#define weft_transient_stats_get(e, out) \
  weft_transient_stats_get_((e), (out), sizeof(weft_enclave_stats))
WEFT_API int weft_transient_stats_get_(weft_enclave *e, weft_enclave_stats *out, size_t size);
#define weft_transaction_stats_get(r, tranid, out) \
  weft_transaction_stats_get_((r), (tranid), (out), sizeof(weft_enclave_stats))
WEFT_API int weft_transaction_stats_get_(weft_region *r, const char *tranid,
                                         weft_enclave_stats *out, size_t size);

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
 * be written: the outcome is then decided by restart recovery, and the
 * region stops serving (see weft_log_failed). Task. */
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
  /* Phase two that can fail (used instead of commit when set): 0 when the
   * RM finished it; anything else when it could not (its server is
   * unreachable): the UOW then stays owed to the RM, which gets a recover
   * call for it at the next restart (and may finish it sooner itself). */
  int (*commit_checked)(void *ctx, weft_task *t, uint64_t uow);
} weft_rm_ops;

/* Register resource manager `name` (1-8 characters). Before it returns,
 * ops->recover is called for every committed UOW the RM has not
 * acknowledged (from the log). Errors: WEFT_EINVAL (also a NULL name),
 * WEFT_EBADNAME, WEFT_EEXIST. Host thread. */
#define weft_rm_register(r, name, ops, ctx, out) \
  weft_rm_register_((r), (name), (ops), sizeof(weft_rm_ops), (ctx), (out))
WEFT_API int weft_rm_register_(weft_region *r, const char *name, const weft_rm_ops *ops,
                               size_t size, void *ctx, weft_rm **out);
/* rm takes part in the task's current UOW (again: no effect). Task. */
WEFT_API int weft_rm_enlist(weft_task *t, weft_rm *rm);

/* ---- Keyed files (KSDS-like) --------------------------------------------- */

#define WEFT_KEY_MAX 240            /* longest key any file allows */
#define WEFT_RECORD_MAX (1u << 20) /* longest record any file allows */

typedef struct weft_file_def {
  const char *name; /* 1-8 characters, required */
  unsigned key_max; /* longest key in bytes, 1..WEFT_KEY_MAX, required */
  unsigned rec_max; /* longest record in bytes, 1..WEFT_RECORD_MAX, required */
} weft_file_def;

/* Define a keyed file: records with unique keys (byte strings compared as
 * unsigned bytes, a shorter prefix first), always recoverable. Its records
 * survive restarts when the region has a data_dir (defining a file that
 * recovery found just makes it usable again). If stored records no longer
 * fit the definition (a key longer than key_max, a record longer than
 * rec_max), the region log gets a warning (level W) naming the file, how
 * many and the longest; they are kept. Errors: WEFT_EINVAL, WEFT_EBADNAME,
 * WEFT_ERANGE, WEFT_EEXIST. Any thread. */
#define weft_file_define(r, def) weft_file_define_((r), (def), sizeof(weft_file_def))
WEFT_API int weft_file_define_(weft_region *r, const weft_file_def *def, size_t size);
/* Once the definitions are installed after a restart: a warning (level W)
 * in the region log for each keyed file that holds records restored by
 * recovery but that no weft_file_define has defined (dropped from the
 * definitions), naming it and its record count. The records are kept.
 * Returns how many such files there are, or WEFT_EINVAL. Any thread. */
WEFT_API int weft_file_check_defined(weft_region *r);

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

#define WEFT_ITEM_MAX 32767u

/* Make queues named `name` recoverable (changes belong to the UOW and are
 * logged), or, with a name ending in '*', every queue whose name starts
 * with what precedes it. Queues matching no definition are not
 * recoverable: changes apply at once and are lost at restart. Errors:
 * WEFT_EINVAL, WEFT_EBADNAME, WEFT_EEXIST. Any thread. */
WEFT_API int weft_ts_define(weft_region *r, const char *name, int recoverable);

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

typedef struct weft_td_def {
  const char *name;       /* 1-WEFT_QNAME_MAX characters, required */
  int recoverable;        /* 1: writes appear and reads are final at
                             syncpoint; 0: at once */
  unsigned trigger_level; /* 0: none; else (..WEFT_TD_TRIGGER_MAX) start `tranid` when this many
                             committed items wait and no task it triggered
                             is still running (ATI) */
  const char *tranid;     /* with a trigger level; its start data is the
                             queue name */
} weft_td_def;

/* Errors: WEFT_EINVAL (also a trigger level without a tranid),
 * WEFT_EBADNAME, WEFT_EEXIST, WEFT_ENOTRAN, WEFT_ERANGE (trigger_level).
 * Any thread. */
#define weft_td_define(r, def) weft_td_define_((r), (def), sizeof(weft_td_def))
WEFT_API int weft_td_define_(weft_region *r, const weft_td_def *def, size_t size);
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
/* Any thread. */
#define weft_region_recovery_get(r, out) \
  weft_region_recovery_get_((r), (out), sizeof(weft_recovery_info))
WEFT_API int weft_region_recovery_get_(weft_region *r, weft_recovery_info *out, size_t size);

typedef struct weft_log_stats {
  uint64_t commits;     /* commit records written */
  uint64_t flushes;     /* FlushFileBuffers calls */
  uint64_t bytes;       /* log bytes written */
  uint64_t durable_lsn; /* log position known to be on disk */
  uint64_t checkpoints; /* checkpoints taken since the region opened */
  uint64_t rollbacks;   /* units of work with changes backed out */
  uint64_t deadlocks;   /* deadlocks detected (victims chosen) */
  uint64_t lock_timeouts;
} weft_log_stats;
/* Figures since the region opened. Any thread. */
#define weft_log_stats_get(r, out) weft_log_stats_get_((r), (out), sizeof(weft_log_stats))
WEFT_API int weft_log_stats_get_(weft_region *r, weft_log_stats *out, size_t size);

/* 0 while the log works (or the region has no data_dir); WEFT_ESYS once a
 * write or flush of the log has failed. From that moment the region has
 * stopped serving: calls on files and TS/TD queues return WEFT_ESYS
 * (memory may hold commits that never reached the disk), every
 * task is purged (abend AEXZ) and weft_start returns WEFT_ESHUTDOWN. The
 * failure is also reported on the region log (level E). Shut the region
 * down and create it again: restart recovery rebuilds the resources from
 * what the log holds. A normal shutdown then writes no clean checkpoint.
 * WEFT_EINVAL for a NULL region. Any thread. */
WEFT_API int weft_log_failed(weft_region *r);

/* ------------------------------------------------------------------------ */
/* Observing                                                                 */
/* ------------------------------------------------------------------------ */

/* Embedded as an array in weft_region_stats, so its layout is frozen:
 * later per-worker figures will come with a call of their own. */
typedef struct weft_worker_stats {
  uint64_t dispatches; /* task dispatches (switches into a task) */
  uint64_t busy_ns;    /* time spent running tasks */
  uint64_t idle_ns;    /* time spent asleep with nothing to run */
  uint64_t cpu_ns;     /* CPU time of the worker thread (GetThreadTimes) */
  uint64_t steals;     /* ready tasks this worker took from others */
  uint32_t ready;      /* tasks in its ready queues now */
} weft_worker_stats;

typedef struct weft_region_stats {
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
  weft_worker_stats worker[WEFT_MAX_WORKERS];
} weft_region_stats;

/* A snapshot of the region's counters (each is exact; the set is not taken
 * atomically). Any thread. */
#define weft_region_stats_get(r, out) \
  weft_region_stats_get_((r), (out), sizeof(weft_region_stats))
WEFT_API int weft_region_stats_get_(weft_region *r, weft_region_stats *out, size_t size);

/* Process-wide counters, for leak checks: fibers and threads Weft has
 * created and not yet deleted, regions alive, and task structs allocated
 * (pooled ones included). Any thread. */
typedef struct weft_runtime_counters {
  int64_t fibers;
  int64_t threads;
  int64_t regions;
  int64_t tasks;
} weft_runtime_counters;
#define weft_runtime_counters_get(out) \
  weft_runtime_counters_get_((out), sizeof(weft_runtime_counters))
WEFT_API int weft_runtime_counters_get_(weft_runtime_counters *out, size_t size);

/* ------------------------------------------------------------------------ */
/* Names of ABI 1                                                            */
/* ------------------------------------------------------------------------ */

/* The old type names, for source that still uses them. weft.dll also
 * still exports every ABI 1 function under its old name (weft_tsq_define,
 * weft_tdq_define, weft_region_stats, weft_log_stats, weft_class_stats,
 * weft_enclave_stats, weft_enclave_stats_of, weft_transaction_stats,
 * weft_region_recovery, and the unsized weft_start, weft_region_create,
 * ... with ABI 1's struct layouts and meanings), so that program DLLs and
 * hosts built against ABI 1 keep linking and running; this header no
 * longer declares them. */
typedef weft_td_def weft_tdq_def;
#define weft_tsq_define weft_ts_define
#define weft_tdq_define weft_td_define

/* Screen maps for 3270 terminals: weft_send_map, weft_receive_map, AIDs. */
#include "weft_bms.h"

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
