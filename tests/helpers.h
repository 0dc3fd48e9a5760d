/* helpers.h - fixtures and helpers shared by the Weft Criterion tests.
 *
 * Rules the tests follow:
 * - Criterion assertions run on the test's own (host) thread only. Tasks,
 *   handlers and offloaded functions record what they see in shared structs
 *   (C11 atomics for anything more than one thread writes) and the host
 *   asserts on it afterwards.
 * - Waiting is done with th_wait_until(): it polls a condition every
 *   millisecond and fails the test after TH_DEADLINE_MS. The deadline is
 *   generous on purpose; only a hang or a lost task reaches it. No test
 *   asserts that something happened *within* a short time.
 * - Criterion runs every test in its own process, so a test's static state
 *   starts zeroed. Shared structs are static (not on the host stack), so a
 *   failed assertion cannot leave a worker writing into a dead frame.
 */
#ifndef WEFT_TESTS_HELPERS_H
#define WEFT_TESTS_HELPERS_H

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <tlhelp32.h>

#include <criterion/criterion.h>

#include "weft.h"

/* How long any wait may take before the test fails. */
#define TH_DEADLINE_MS 30000u
/* How long a normal shutdown may drain before it escalates. */
#define TH_SHUTDOWN_MS 30000u
/* Criterion's own per-test limit, a last resort behind the deadlines. */
#define TH_TEST_TIMEOUT 60.0

/* ------------------------------------------------------------------------ */
/* Clock                                                                     */
/* ------------------------------------------------------------------------ */

/* Microseconds from an arbitrary origin, from QueryPerformanceCounter. */
static inline int64_t th_now_us(void) {
  LARGE_INTEGER f, c;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return c.QuadPart / f.QuadPart * 1000000 + c.QuadPart % f.QuadPart * 1000000 / f.QuadPart;
}

/* Busy-wait for ms milliseconds without any call into Weft. */
static inline void th_spin_ms(unsigned ms) {
  int64_t end = th_now_us() + (int64_t)ms * 1000;
  while (th_now_us() < end)
    YieldProcessor();
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                   */
/* ------------------------------------------------------------------------ */

/* Poll cond every millisecond; fail the test if it is still false after
 * TH_DEADLINE_MS. Host thread only (it may call cr_assert_fail). */
#define th_wait_until(cond)                                                    \
  do {                                                                         \
    ULONGLONG th_end_ = GetTickCount64() + TH_DEADLINE_MS;                     \
    while (!(cond)) {                                                          \
      if (GetTickCount64() > th_end_)                                          \
        cr_assert_fail("gave up after %u ms waiting for: %s", TH_DEADLINE_MS,  \
                       #cond);                                                 \
      Sleep(1);                                                                \
    }                                                                          \
  } while (0)

/* Wait until the atomic counter *c reaches at least target. */
static inline void th_wait_count(atomic_long *c, long target) {
  th_wait_until(atomic_load(c) >= target);
}

/* A spin that gives up after TH_DEADLINE_MS; for tasks and offloaded code,
 * which must not call Criterion. Returns 1 when flag became nonzero. */
static inline int th_spin_until_set(atomic_int *flag) {
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (!atomic_load(flag)) {
    if (GetTickCount64() > end)
      return 0;
    YieldProcessor();
  }
  return 1;
}

/* Like th_spin_until_set but sleeps between looks (for offload threads). */
static inline int th_sleep_until_ge(atomic_long *c, long target) {
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (atomic_load(c) < target) {
    if (GetTickCount64() > end)
      return 0;
    Sleep(1);
  }
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Regions and definitions                                                   */
/* ------------------------------------------------------------------------ */

/* A configuration with the defaults, workers and max_tasks. */
static inline weft_region_config th_config(unsigned workers, unsigned max_tasks) {
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = workers;
  cfg.max_tasks = max_tasks;
  return cfg;
}

/* Create a region from cfg or fail the test. */
static inline weft_region *th_region_cfg(const weft_region_config *cfg) {
  weft_region *r = NULL;
  int rc = weft_region_create(cfg, &r);
  cr_assert_eq(rc, 0, "weft_region_create: %s", weft_err_name(rc));
  cr_assert_not_null(r);
  return r;
}

/* Create a region with workers and max_tasks, the rest default. */
static inline weft_region *th_region(unsigned workers, unsigned max_tasks) {
  weft_region_config cfg = th_config(workers, max_tasks);
  return th_region_cfg(&cfg);
}

/* Define program `name` (fn) and transaction `name` running it. */
static inline void th_define(weft_region *r, const char *name, weft_program_fn fn,
                             int priority) {
  int rc = weft_program_define(r, name, fn);
  cr_assert_eq(rc, 0, "weft_program_define(%s): %s", name, weft_err_name(rc));
  weft_transaction_def def = {name, name, priority, 0, NULL};
  rc = weft_transaction_define(r, &def);
  cr_assert_eq(rc, 0, "weft_transaction_define(%s): %s", name, weft_err_name(rc));
}

/* Define program `name` only (a LINK target). */
static inline void th_program(weft_region *r, const char *name, weft_program_fn fn) {
  int rc = weft_program_define(r, name, fn);
  cr_assert_eq(rc, 0, "weft_program_define(%s): %s", name, weft_err_name(rc));
}

/* A stats snapshot or fail the test. */
static inline weft_region_stats th_stats(weft_region *r) {
  weft_region_stats s;
  memset(&s, 0, sizeof s);
  int rc = weft_region_stats_get(r, &s);
  cr_assert_eq(rc, 0, "weft_region_stats: %s", weft_err_name(rc));
  return s;
}

/* Shut down normally (waiting for the drain), destroy, and return the
 * final statistics (taken between the two). */
static inline weft_region_stats th_finish(weft_region *r) {
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "weft_region_shutdown: %s", weft_err_name(rc));
  weft_region_stats s = th_stats(r);
  weft_region_destroy(r);
  return s;
}

/* Tasks that have ended, normally or by abend. */
static inline uint64_t th_ended(weft_region *r) {
  weft_region_stats s = th_stats(r);
  return s.tasks_completed + s.tasks_abended;
}

/* Wait until n tasks of the region have ended. */
static inline void th_wait_ended(weft_region *r, uint64_t n) {
  th_wait_until(th_ended(r) >= n);
}

/* ------------------------------------------------------------------------ */
/* Task data: a pointer to a shared struct plus an index, copied by start    */
/* ------------------------------------------------------------------------ */

typedef struct th_arg {
  void *ctx; /* the test's shared struct */
  long idx;  /* which task this is, as the test numbers them */
} th_arg;

/* Start tranid with {ctx, idx} and priority (WEFT_PRIORITY_DEFAULT for the
 * transaction's); returns the weft_start code. */
static inline int th_try_start(weft_region *r, const char *tranid, void *ctx, long idx,
                               int priority, uint64_t *task_no) {
  th_arg a = {ctx, idx};
  weft_start_opts o;
  weft_start_opts_init(&o);
  if (priority != WEFT_PRIORITY_DEFAULT) {
    o.flags = WEFT_START_PRIORITY;
    o.priority = priority;
  }
  return weft_start(r, tranid, &a, sizeof a, &o, task_no);
}

/* Start or fail the test; returns the task number. */
static inline uint64_t th_start(weft_region *r, const char *tranid, void *ctx, long idx) {
  uint64_t no = 0;
  int rc = th_try_start(r, tranid, ctx, idx, WEFT_PRIORITY_DEFAULT, &no);
  cr_assert_eq(rc, 0, "weft_start(%s): %s", tranid, weft_err_name(rc));
  return no;
}

/* Start with a priority or fail the test. */
static inline uint64_t th_start_prio(weft_region *r, const char *tranid, void *ctx, long idx,
                                     int priority) {
  uint64_t no = 0;
  int rc = th_try_start(r, tranid, ctx, idx, priority, &no);
  cr_assert_eq(rc, 0, "weft_start(%s, prio %d): %s", tranid, priority, weft_err_name(rc));
  return no;
}

/* Inside a task: the th_arg it was started with ({NULL, -1} if the data is
 * missing or has the wrong size). */
static inline th_arg th_arg_of(weft_task *t) {
  th_arg a = {NULL, -1};
  const void *data = NULL;
  size_t len = 0;
  if (weft_retrieve(t, &data, &len) == 0 && data != NULL && len == sizeof a)
    memcpy(&a, data, sizeof a);
  return a;
}

/* Inside a task: its shared struct, cast to type. */
#define TH_CTX(t, type) ((type *)th_arg_of(t).ctx)

/* ------------------------------------------------------------------------ */
/* Abend recording                                                           */
/* ------------------------------------------------------------------------ */

#define TH_MAX_ABENDS 64

/* What abend handlers saw, in the order they ran. Lives in static storage:
 * a handler's arg must outlive the abending task's stack. */
typedef struct th_abends {
  atomic_int n;                     /* handler runs recorded */
  char code[TH_MAX_ABENDS][8];      /* the code each run saw */
  int tag[TH_MAX_ABENDS];           /* which handler ran */
  uint64_t task_no[TH_MAX_ABENDS];  /* the task it ran for */
} th_abends;

/* One registration: where to record and under which tag. */
typedef struct th_handler {
  th_abends *log;
  int tag;
} th_handler;

/* An abend handler that records into ((th_handler *)arg)->log. */
static inline void th_on_abend(weft_task *t, const char *code, void *arg) {
  th_handler *h = arg;
  int i = atomic_fetch_add(&h->log->n, 1);
  if (i >= TH_MAX_ABENDS)
    return;
  snprintf(h->log->code[i], sizeof h->log->code[i], "%s", code ? code : "(null)");
  h->log->tag[i] = h->tag;
  h->log->task_no[i] = weft_task_number(t);
}

/* ------------------------------------------------------------------------ */
/* Task records                                                              */
/* ------------------------------------------------------------------------ */

/* Task number and abend code of each ended task, from a region's
 * task_record_fn (th_on_record, record_ctx = the log). Records may come
 * from several workers at once: a slot is reserved, filled, then marked
 * done. */
#define TH_MAX_RECS 64
typedef struct th_records {
  atomic_int reserved;
  atomic_int done[TH_MAX_RECS];
  uint64_t task_no[TH_MAX_RECS];
  char abcode[TH_MAX_RECS][5];
} th_records;

static inline void th_on_record(void *ctx, const weft_task_record *rec) {
  th_records *l = ctx;
  int i = atomic_fetch_add(&l->reserved, 1);
  if (i >= TH_MAX_RECS)
    return;
  l->task_no[i] = rec->task_no;
  memcpy(l->abcode[i], rec->abcode, sizeof l->abcode[i]);
  atomic_store(&l->done[i], 1);
}

/* The abend code recorded for task no ("" if it ended normally), or NULL
 * if its record has not come yet. */
static inline const char *th_record_find(th_records *l, uint64_t no) {
  int n = atomic_load(&l->reserved);
  for (int i = 0; i < n && i < TH_MAX_RECS; i++)
    if (atomic_load(&l->done[i]) && l->task_no[i] == no)
      return l->abcode[i];
  return NULL;
}

/* The same, waiting for the record. Host thread. */
static inline const char *th_abcode_of(th_records *l, uint64_t no) {
  th_wait_until(th_record_find(l, no) != NULL);
  return th_record_find(l, no);
}

/* ------------------------------------------------------------------------ */
/* Scratch directories                                                       */
/* ------------------------------------------------------------------------ */

/* The directory of the running test executable (build/bin: weft.dll, the
 * tools and the sample DLLs are there too). Host thread. */
static inline void th_exe_dir(char out[MAX_PATH]) {
  DWORD n = GetModuleFileNameA(NULL, out, MAX_PATH);
  cr_assert(n > 0 && n < MAX_PATH, "GetModuleFileName: %lu", GetLastError());
  char *slash = strrchr(out, '\\');
  if (!slash)
    slash = strrchr(out, '/');
  cr_assert_not_null(slash, "no directory in %s", out);
  *slash = 0;
}

/* Delete dir and everything under it (tests that keep data directories). */
static inline void th_rm_tree(const char *dir) {
  char pat[MAX_PATH];
  snprintf(pat, sizeof pat, "%s\\*", dir);
  WIN32_FIND_DATAA fd;
  HANDLE h = FindFirstFileA(pat, &fd);
  if (h != INVALID_HANDLE_VALUE) {
    do {
      if (!strcmp(fd.cFileName, ".") || !strcmp(fd.cFileName, ".."))
        continue;
      char p[MAX_PATH];
      snprintf(p, sizeof p, "%s\\%s", dir, fd.cFileName);
      if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        th_rm_tree(p);
      else
        DeleteFileA(p);
    } while (FindNextFileA(h, &fd));
    FindClose(h);
  }
  RemoveDirectoryA(dir);
}

/* ------------------------------------------------------------------------ */
/* Process facts                                                             */
/* ------------------------------------------------------------------------ */

/* Threads of this process now, from a toolhelp snapshot (-1 on error). */
static inline int th_thread_count(void) {
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  if (snap == INVALID_HANDLE_VALUE)
    return -1;
  THREADENTRY32 te;
  te.dwSize = sizeof te;
  int n = 0;
  DWORD me = GetCurrentProcessId();
  for (BOOL ok = Thread32First(snap, &te); ok; ok = Thread32Next(snap, &te))
    if (te.th32OwnerProcessID == me)
      n++;
  CloseHandle(snap);
  return n;
}

/* ------------------------------------------------------------------------ */
/* Dispatch order: a gate task holds a worker while the host queues tasks   */
/* that record what ran, in order (each test keeps its own order_ctx).      */
/* ------------------------------------------------------------------------ */

typedef struct order_ctx {
  atomic_int gate_running; /* the gate task occupies the worker */
  atomic_int gate_open;    /* the host lets it end */
  atomic_int gate_gave_up; /* the gate hit its deadline */
  atomic_int n;            /* entries in order[] */
  long order[256];         /* what ran, in order */
} order_ctx;


/* Occupies its worker, without suspending, until the host opens the gate. */
static inline void gate(weft_task *t) {
  order_ctx *c = TH_CTX(t, order_ctx);
  atomic_store(&c->gate_running, 1);
  if (!th_spin_until_set(&c->gate_open))
    atomic_store(&c->gate_gave_up, 1);
}

static inline void order_push(order_ctx *c, long what) {
  int i = atomic_fetch_add(&c->n, 1);
  if (i < 256)
    c->order[i] = what;
}

/* Records its index once. */
static inline void record_once(weft_task *t) {
  th_arg a = th_arg_of(t);
  order_push(a.ctx, a.idx);
}

/* Records idx * 10 + round for `rounds` rounds (idx % 10), yielding after
 * each. */
static inline void record_and_yield(weft_task *t) {
  th_arg a = th_arg_of(t);
  long rounds = a.idx % 10;
  for (long i = 0; i < rounds; i++) {
    order_push(a.ctx, a.idx / 10 * 10 + i);
    weft_yield(t);
  }
}

#endif /* WEFT_TESTS_HELPERS_H */
