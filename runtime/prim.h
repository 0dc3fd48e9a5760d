/* prim.h - the small contract between the portable runtime and the platform.
 *
 * Everything that talks to Win32 (fibers, threads, locks, address waits,
 * clocks, thread-local storage, exception handling) is implemented in
 * runtime/win/ behind these declarations. Functions that can fail return 0
 * or a negative WEFT_E* code (Win32 errors are translated in one place,
 * weft__err_from_sys). Preconditions are stated per function; breaking one
 * is a bug in the caller, checked by weft_assert where cheap.
 *
 * This header is the whole contract: it compiles alone (scripts/
 * check-layers.sh checks it), runtime/win/ includes nothing else of the
 * runtime, and the last section declares the few calls runtime/win/ makes
 * up into the runtime (the fault handler's). Error codes are weft.h's.
 */
#ifndef WEFT_PRIM_H
#define WEFT_PRIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <x86intrin.h>

/* The assertion level (types.h says what each level checks); the build
 * sets it for every source of the library alike. */
#ifndef WEFT_DEBUG
#define WEFT_DEBUG 1
#endif

/* ---- Fibers ------------------------------------------------------------- */

typedef void *weft__fiber;                 /* an OS fiber */
typedef void (*weft__fiber_fn)(void *arg); /* must never return */

/* Turn the calling thread into a fiber; *out is its fiber. Thread must not
 * be a fiber yet. */
int weft__fiber_convert_thread(weft__fiber *out);
/* Undo weft__fiber_convert_thread on the same thread. */
void weft__fiber_unconvert_thread(void);
/* A new fiber with `reserve` bytes of stack (`commit` committed up front). */
int weft__fiber_create(size_t commit, size_t reserve, weft__fiber_fn fn, void *arg,
                       weft__fiber *out);
/* Delete a fiber that is not running on any thread. */
void weft__fiber_delete(weft__fiber f);
/* Switch the calling thread (which is a fiber) to fiber `to`. Hot path. */
void weft__fiber_switch(weft__fiber to);
/* The fiber the calling thread runs now; garbage (but never a fiber of
 * ours) on a thread that is not a fiber. */
weft__fiber weft__fiber_current(void);

/* ---- Threads ------------------------------------------------------------ */

typedef void *weft__thread; /* a joinable thread */

int weft__thread_create(void (*fn)(void *arg), void *arg, weft__thread *out);
/* Wait for the thread to end and release it. */
void weft__thread_join(weft__thread th);
unsigned weft__cpu_count(void);
/* CPU time (user + kernel, ns) of a thread, or of the calling one; 0 where
 * the platform does not say. GetThreadTimes: 100 ns units. */
uint64_t weft__thread_cpu_ns(weft__thread th);
uint64_t weft__thread_cpu_self_ns(void);
void weft__sleep_ms(unsigned ms);

/* One slot of thread-local storage for the runtime: the worker the calling
 * thread is, or NULL. Cheap (a TEB read). */
void *weft__tls_get(void);
void weft__tls_set(void *p);

/* ---- Memory --------------------------------------------------------------- */

/* size bytes aligned to align (a power of two), or NULL. Any thread. */
void *weft__aligned_alloc(size_t size, size_t align);
/* Release what weft__aligned_alloc returned; NULL is ignored. */
void weft__aligned_free(void *p);

/* ---- Locks, condition variables, address waits ------------------------- */

/* A slim reader/writer lock (SRWLOCK): user mode when uncontended. With
 * WEFT_DEBUG >= 2 it records the thread that holds it exclusively, so a
 * function that needs it can assert weft__lock_held (SQLite style). */
typedef struct weft__lock {
  void *l_opaque;
#if WEFT_DEBUG >= 2
  _Atomic unsigned long l_owner; /* thread id of the exclusive holder, 0 none */
#endif
} weft__lock;
#define WEFT__LOCK_INIT \
  { 0 }
void weft__lock_init(weft__lock *l);
void weft__lock_acquire(weft__lock *l);
void weft__lock_release(weft__lock *l);
void weft__lock_acquire_shared(weft__lock *l);
void weft__lock_release_shared(weft__lock *l);
/* True when the calling thread holds l exclusively. Always true unless
 * WEFT_DEBUG >= 2: for assertions only (weft_assert_internal). */
bool weft__lock_held(const weft__lock *l);

typedef struct weft__cond {
  void *c_opaque;
} weft__cond;
void weft__cond_init(weft__cond *c);
/* Wait on c with l held (exclusive); 0, or WEFT_ETIMEDOUT after ms
 * (0xFFFFFFFF = forever). May wake spuriously. */
int weft__cond_wait(weft__cond *c, weft__lock *l, unsigned ms);
void weft__cond_signal(weft__cond *c);
void weft__cond_broadcast(weft__cond *c);

/* Sleep while *addr == *expected (size 1, 2, 4 or 8), at most ms
 * (0xFFFFFFFF = forever). May wake spuriously. */
void weft__addr_wait(volatile void *addr, const void *expected, size_t size, unsigned ms);
void weft__addr_wake_one(void *addr);
void weft__addr_wake_all(void *addr);

/* ---- Clocks ------------------------------------------------------------- */

/* Monotonic nanoseconds (QueryPerformanceCounter). ~80 ns under Wine:
 * keep it off hot paths. */
uint64_t weft__clock_ns(void);

/* The time-stamp counter: cheap (~10 ns), monotonic on invariant-TSC
 * machines, used for accounting and runaway detection only. */
static inline uint64_t weft__tsc(void) {
  return __rdtsc();
}
/* Calibrated once per process against weft__clock_ns. Any thread. */
double weft__tsc_per_ns(void);

/* TSC ticks to ns without a division: ns = ticks * fx >> WEFT__TICKS_FX_SHIFT,
 * fx = 2^shift / tsc_per_ns rounded up (weft__ticks_fx, once per region), so
 * the product never falls short: the result is the truncated quotient, or
 * one more when the quotient is within ticks / 2^48 of the next integer, and
 * is off from the real quotient by less than 1 ns while ticks < 2^47 (hours
 * at any TSC rate above 0.01 tick/ns). A 64 x 64 -> 128-bit multiply. */
#define WEFT__TICKS_FX_SHIFT 48
static inline uint64_t weft__ticks_fx(double tsc_per_ns) {
  return (uint64_t)((long double)(UINT64_C(1) << WEFT__TICKS_FX_SHIFT) / tsc_per_ns) + 1;
}
static inline uint64_t weft__ticks_fx_ns(uint64_t ticks, uint64_t fx) {
  __extension__ typedef unsigned __int128 u128;
  return (uint64_t)(((u128)ticks * fx) >> WEFT__TICKS_FX_SHIFT);
}

/* ---- Floating-point control state --------------------------------------- */

/* Wine ignores FIBER_FLAG_FLOAT_SWITCH, so the dispatcher keeps MXCSR and
 * the x87 control word per task itself. */
static inline unsigned weft__fp_get_mxcsr(void) {
  return _mm_getcsr();
}
static inline void weft__fp_set_mxcsr(unsigned v) {
  _mm_setcsr(v);
}
static inline unsigned short weft__fp_get_x87cw(void) {
  unsigned short cw;
  __asm__ __volatile__("fnstcw %0" : "=m"(cw));
  return cw;
}
static inline void weft__fp_set_x87cw(unsigned short cw) {
  __asm__ __volatile__("fldcw %0" : : "m"(cw));
}

static inline void weft__cpu_relax(void) {
  _mm_pause();
}

/* ---- Program DLLs -------------------------------------------------------- */

typedef void *weft__dll; /* a loaded module */
/* Load a DLL (LoadLibrary): 0, WEFT_ENOTFOUND when it or a DLL it needs is
 * missing, or another WEFT_E* code. Any thread. */
int weft__dll_open(const char *path, weft__dll *out);
/* The exported symbol's address, or NULL. */
void *weft__dll_symbol(weft__dll dll, const char *symbol);
void weft__dll_close(weft__dll dll);

/* ---- Files and directories (the log, checkpoints: txn/) ---------------- */

typedef void *weft__file; /* an open file */
#define WEFT__F_READ 0x0   /* read only; the file must exist */
#define WEFT__F_WRITE 0x1  /* read and write */
#define WEFT__F_CREATE 0x2 /* create it if missing */
#define WEFT__F_TRUNC 0x4  /* with CREATE: start empty */
/* Open path (0, WEFT_ENOTFOUND, WEFT_ESYS...). Any thread. */
int weft__file_open(const char *path, int mode, weft__file *out);
void weft__file_close(weft__file f);
/* Write all len bytes at offset off (the file grows as needed). */
int weft__file_write_at(weft__file f, uint64_t off, const void *buf, size_t len);
/* Read up to len bytes at off; *got is short only at end of file. */
int weft__file_read_at(weft__file f, uint64_t off, void *buf, size_t len, size_t *got);
/* FlushFileBuffers: the data written so far is on disk when it returns 0. */
int weft__file_flush(weft__file f);
int weft__file_size(weft__file f, uint64_t *size);
/* Cut the file to size bytes and flush. */
int weft__file_truncate(weft__file f, uint64_t size);
/* Atomically replace `to` with `from` (MoveFileEx, write-through). */
int weft__file_rename(const char *from, const char *to);
int weft__file_remove(const char *path);
/* out = dir, the platform's separator, name: 0, or WEFT_ERANGE when it
 * does not fit in cap bytes (out then holds as much as fits). Any thread. */
int weft__path_join(char *out, size_t cap, const char *dir, const char *name);
/* Create a directory; 0 if it already exists as one. */
int weft__dir_create(const char *path);
/* Lock the data directory dir for this region: create and hold open
 * dir\weft.lock, shared with nobody and deleted when closed (also when the
 * process dies). WEFT_EINUSE if another region holds it. Close it with
 * weft__file_close. Any thread. */
int weft__dir_lock(const char *dir, weft__file *out);
/* Call fn(ctx, name) for every file (not directory) in dir; stops at the
 * first non-zero return and returns it. WEFT_ERANGE when dir is too long
 * to list (MAX_PATH), WEFT_ESYS when the listing fails. */
int weft__dir_list(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx);
/* End the process at once (TerminateProcess): nothing is flushed or run.
 * For fault injection only. */
_Noreturn void weft__process_kill(unsigned code);

/* ---- Program checks ----------------------------------------------------- */

/* Install (first call) or count (later calls) the process-wide vectored
 * exception handler that turns a program check inside a task fiber into an
 * abend of that task. Host thread. */
int weft__fault_install(void);
/* Drop one reference; the last removes the handler. Host thread. */
void weft__fault_remove(void);

/* ---- Preempting a runaway task ------------------------------------------------ */

/* The code module (DLL or executable image) that holds addr: its address
 * range [*lo, *hi). WEFT_ENOTFOUND when addr is in no module. Any thread;
 * it may take the loader lock, so never while another thread is held
 * suspended. */
int weft__code_module(const void *addr, uintptr_t *lo, uintptr_t *hi);

/* What a suspended thread was doing: its instruction and stack pointers and
 * the fiber it was running (the thread's own record of it), with that
 * fiber's stack bounds [pv_stack_limit, pv_stack_base); pv_regs is the
 * platform's register record, for weft__preempt_called_from. */
typedef struct weft__preempt_view {
  uintptr_t pv_pc, pv_sp;
  weft__fiber pv_fiber;
  uintptr_t pv_stack_base, pv_stack_limit;
  const void *pv_regs;
} weft__preempt_view;

/* Inside a weft__preempt_check: walk the suspended thread's frames up from
 * the interrupted one while they are in the module [lo, hi), with that
 * module's own unwind data (memory reads only: no loader call, no lock).
 * True when the first frame outside it is a call made inside the function
 * that starts at `caller`, of the module at caller_base; false when it is
 * anything else or the walk fails (a frame off the stack, too deep). */
bool weft__preempt_called_from(const weft__preempt_view *v, uintptr_t lo, uintptr_t hi,
                               uintptr_t caller, uintptr_t caller_base);

struct weft_task;
/* Called while the target thread is held suspended: returns the task to
 * abend by redirecting the thread, or NULL to leave it alone. It may only
 * read memory: no lock, allocation or log (the suspended thread may hold
 * the heap's or any other lock). */
typedef struct weft_task *(*weft__preempt_check)(void *ctx, const weft__preempt_view *v);

/* Suspend thread th, read where it is and ask check. When check names a
 * task, redirect the thread, on a fresh frame near the top of the stack it
 * was running on (inside WEFT__FAULT_PAD, as a program check does), to
 * weft__task_fault_entry(task, WEFT__FAULT_RUNAWAY); then resume it.
 * 1: redirected; 0: left alone; a negative WEFT_E* code when the thread
 * could not be suspended or read (it is resumed). The monitor thread. */
int weft__thread_preempt(weft__thread th, weft__preempt_check check, void *ctx);

/* ---- Upcalls: what runtime/win/ calls in the runtime ------------------------ */

/* Report a failed assertion and abort; never allocates (errors.c). Any
 * thread, any stack. */
_Noreturn void weft__assert_fail(const char *expr, const char *file, int line);

/* Every task fiber reserves WEFT__FAULT_PAD bytes under its base frames
 * before running programs; a program check restarts the fiber at
 * WEFT__FAULT_FRAME below the stack base, inside that pad. */
#define WEFT__FAULT_PAD 8192
#define WEFT__FAULT_FRAME 4096
/* The task whose fiber the calling thread runs, or NULL (the vectored
 * handler, on the faulting thread; reads only thread-local state). */
struct weft_task *weft__fault_task(void);
#define WEFT__FAULT_ASRA 1    /* a program check */
#define WEFT__FAULT_ASRS 2    /* a stack overflow */
#define WEFT__FAULT_RUNAWAY 3 /* interrupted by the monitor: AICA */
/* Where the fault handler (and weft__thread_preempt) restarts a task's
 * fiber: abends the task (kind: WEFT__FAULT_*); never returns. The task's
 * fiber, on the fault frame. */
_Noreturn void weft__task_fault_entry(struct weft_task *t, int kind);
/* Process-wide figures the platform layer keeps (weft_runtime_counters_get). */
extern _Atomic int64_t weft__count_fibers, weft__count_threads;

/* ---- Errors and environment --------------------------------------------- */

/* The calling thread's last Win32 error as a WEFT_E* code. */
int weft__err_from_sys(void);
/* Write a message to the standard error handle without allocating. */
void weft__write_stderr(const char *msg);
/* Non-zero when running under Wine. */
int weft__is_wine(void);

#endif /* WEFT_PRIM_H */
