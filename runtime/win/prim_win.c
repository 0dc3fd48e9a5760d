/* prim_win.c - the Win32 side of runtime/prim.h: fibers, threads, locks,
 * address waits, clocks, TLS, errors. The only file (with fault_win.c) that
 * includes <windows.h>. */
/* GCC 12 misreads MinGW's __readgsqword (NtCurrentTeb, GetCurrentFiber) as
 * an out-of-bounds access: a known false positive. */
#pragma GCC diagnostic ignored "-Warray-bounds"
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <malloc.h>
#include <stdio.h>

#include "include/weft.h"
#include "runtime/prim.h"

/* ---- Errors --------------------------------------------------------------- */

/* The one place Win32 error codes become WEFT_E* codes. */
static int err_from_win32(DWORD e) {
  switch (e) {
    case ERROR_SUCCESS:
      return 0;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
      return WEFT_ENOMEM;
    case ERROR_INVALID_PARAMETER:
      return WEFT_EINVAL;
    case ERROR_TIMEOUT:
      return WEFT_ETIMEDOUT;
    case ERROR_MOD_NOT_FOUND:
    case ERROR_PROC_NOT_FOUND:
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
      return WEFT_ENOTFOUND;
    case ERROR_FILENAME_EXCED_RANGE:
      return WEFT_ERANGE; /* a path too long */
    case ERROR_NOT_SUPPORTED:
    case ERROR_CALL_NOT_IMPLEMENTED:
      return WEFT_ENOTSUP;
    case ERROR_ALREADY_FIBER:
    case ERROR_ALREADY_THREAD:
      return WEFT_ESTATE;
    default:
      return WEFT_ESYS;
  }
}

int weft__err_from_sys(void) {
  int e = err_from_win32(GetLastError());
  return e ? e : WEFT_ESYS;
}

void weft__write_stderr(const char *msg) {
  HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
  DWORD n;
  if (h != NULL && h != INVALID_HANDLE_VALUE)
    WriteFile(h, msg, (DWORD)strlen(msg), &n, NULL);
}

int weft__is_wine(void) {
  HMODULE nt = GetModuleHandleA("ntdll.dll");
  return nt != NULL && GetProcAddress(nt, "wine_get_version") != NULL;
}

/* ---- Fibers --------------------------------------------------------------- */

int weft__fiber_convert_thread(weft__fiber *out) {
  void *f = ConvertThreadToFiberEx(NULL, FIBER_FLAG_FLOAT_SWITCH);
  if (f == NULL)
    return weft__err_from_sys();
  *out = f;
  return 0;
}

void weft__fiber_unconvert_thread(void) {
  ConvertFiberToThread();
}

int weft__fiber_create(size_t commit, size_t reserve, weft__fiber_fn fn, void *arg,
                       weft__fiber *out) {
  void *f = CreateFiberEx(commit, reserve, FIBER_FLAG_FLOAT_SWITCH, (LPFIBER_START_ROUTINE)fn, arg);
  if (f == NULL)
    return weft__err_from_sys();
  atomic_fetch_add_explicit(&weft__count_fibers, 1, memory_order_relaxed);
  *out = f;
  return 0;
}

void weft__fiber_delete(weft__fiber f) {
  DeleteFiber(f);
  atomic_fetch_sub_explicit(&weft__count_fibers, 1, memory_order_relaxed);
}

void weft__fiber_switch(weft__fiber to) {
  SwitchToFiber(to);
}

weft__fiber weft__fiber_current(void) {
  return GetCurrentFiber();
}

/* ---- Threads -------------------------------------------------------------- */

struct thread_start {
  void (*fn)(void *);
  void *arg;
};

static DWORD WINAPI thread_main(LPVOID p) {
  struct thread_start s = *(struct thread_start *)p;
  free(p);
  s.fn(s.arg);
  return 0;
}

int weft__thread_create(void (*fn)(void *arg), void *arg, weft__thread *out) {
  struct thread_start *s = malloc(sizeof *s);
  if (s == NULL)
    return WEFT_ENOMEM;
  s->fn = fn;
  s->arg = arg;
  HANDLE h = CreateThread(NULL, 0, thread_main, s, 0, NULL);
  if (h == NULL) {
    int e = weft__err_from_sys();
    free(s);
    return e;
  }
  atomic_fetch_add_explicit(&weft__count_threads, 1, memory_order_relaxed);
  *out = h;
  return 0;
}

void weft__thread_join(weft__thread th) {
  WaitForSingleObject(th, INFINITE);
  CloseHandle(th);
  atomic_fetch_sub_explicit(&weft__count_threads, 1, memory_order_relaxed);
}

static uint64_t thread_cpu(HANDLE h) {
  FILETIME created, exited, kernel, user;
  if (!GetThreadTimes(h, &created, &exited, &kernel, &user))
    return 0;
  uint64_t k = (uint64_t)kernel.dwHighDateTime << 32 | kernel.dwLowDateTime;
  uint64_t u = (uint64_t)user.dwHighDateTime << 32 | user.dwLowDateTime;
  return (k + u) * 100u;
}

uint64_t weft__thread_cpu_ns(weft__thread th) {
  return thread_cpu(th);
}
uint64_t weft__thread_cpu_self_ns(void) {
  return thread_cpu(GetCurrentThread());
}

unsigned weft__cpu_count(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwNumberOfProcessors ? si.dwNumberOfProcessors : 1;
}

void weft__sleep_ms(unsigned ms) {
  Sleep(ms);
}

/* ---- TLS ------------------------------------------------------------------ */

static DWORD tls_slot = TLS_OUT_OF_INDEXES;
static INIT_ONCE tls_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK tls_init(PINIT_ONCE once, PVOID p, PVOID *ctx) {
  tls_slot = TlsAlloc();
  return tls_slot != TLS_OUT_OF_INDEXES;
}

void *weft__tls_get(void) {
  return tls_slot == TLS_OUT_OF_INDEXES ? NULL : TlsGetValue(tls_slot);
}

void weft__tls_set(void *p) {
  InitOnceExecuteOnce(&tls_once, tls_init, NULL, NULL);
  TlsSetValue(tls_slot, p);
}

/* ---- Program DLLs ----------------------------------------------------------- */

int weft__dll_open(const char *path, weft__dll *out) {
  /* No "cannot find" dialog box for a missing DLL: a clear error instead. */
  UINT old = SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX);
  HMODULE m = LoadLibraryA(path);
  int rc = m != NULL ? 0 : weft__err_from_sys();
  SetErrorMode(old);
  *out = m;
  return rc;
}

void *weft__dll_symbol(weft__dll dll, const char *symbol) {
  return (void *)GetProcAddress((HMODULE)dll, symbol);
}

void weft__dll_close(weft__dll dll) { FreeLibrary((HMODULE)dll); }

/* The image's size comes from its own PE header (no psapi needed). */
int weft__code_module(const void *addr, uintptr_t *lo, uintptr_t *hi) {
  HMODULE m;
  if (!GetModuleHandleExA(
          GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
          (LPCSTR)addr, &m))
    return WEFT_ENOTFOUND;
  const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)m;
  const IMAGE_NT_HEADERS *nt = (const IMAGE_NT_HEADERS *)((const char *)m + dos->e_lfanew);
  *lo = (uintptr_t)m;
  *hi = (uintptr_t)m + nt->OptionalHeader.SizeOfImage;
  return 0;
}

/* ---- Locks ---------------------------------------------------------------- */

_Static_assert(sizeof(((weft__lock *)0)->l_opaque) == sizeof(SRWLOCK),
               "weft__lock holds an SRWLOCK");
_Static_assert(sizeof(weft__cond) == sizeof(CONDITION_VARIABLE), "weft__cond is a CV");
#define SRW(l) ((PSRWLOCK) & (l)->l_opaque)

/* Debug builds: the exclusive holder's thread id (ids are never 0). */
#if WEFT_DEBUG >= 2
static inline void owner_set(weft__lock *l) {
  atomic_store_explicit(&l->l_owner, GetCurrentThreadId(), memory_order_relaxed);
}
static inline void owner_clear(weft__lock *l) {
  if (atomic_load_explicit(&l->l_owner, memory_order_relaxed) != GetCurrentThreadId())
    weft__assert_fail("weft__lock_held(l) at release", __FILE__, __LINE__);
  atomic_store_explicit(&l->l_owner, 0, memory_order_relaxed);
}
#else
static inline void owner_set(weft__lock *l) {}
static inline void owner_clear(weft__lock *l) {}
#endif

void weft__lock_init(weft__lock *l) {
  InitializeSRWLock(SRW(l));
#if WEFT_DEBUG >= 2
  atomic_init(&l->l_owner, 0);
#endif
}
void weft__lock_acquire(weft__lock *l) {
  AcquireSRWLockExclusive(SRW(l));
  owner_set(l);
}
void weft__lock_release(weft__lock *l) {
  owner_clear(l);
  ReleaseSRWLockExclusive(SRW(l));
}
void weft__lock_acquire_shared(weft__lock *l) {
  AcquireSRWLockShared(SRW(l));
}
void weft__lock_release_shared(weft__lock *l) {
  ReleaseSRWLockShared(SRW(l));
}
bool weft__lock_held(const weft__lock *l) {
#if WEFT_DEBUG >= 2
  return atomic_load_explicit(&l->l_owner, memory_order_relaxed) == GetCurrentThreadId();
#else
  return true;
#endif
}

void weft__cond_init(weft__cond *c) {
  InitializeConditionVariable((PCONDITION_VARIABLE)c);
}

int weft__cond_wait(weft__cond *c, weft__lock *l, unsigned ms) {
  owner_clear(l);
  BOOL ok = SleepConditionVariableSRW((PCONDITION_VARIABLE)c, SRW(l), ms, 0);
  DWORD err = ok ? 0 : GetLastError();
  owner_set(l);
  if (ok)
    return 0;
  SetLastError(err);
  return err == ERROR_TIMEOUT ? WEFT_ETIMEDOUT : weft__err_from_sys();
}

void weft__cond_signal(weft__cond *c) {
  WakeConditionVariable((PCONDITION_VARIABLE)c);
}
void weft__cond_broadcast(weft__cond *c) {
  WakeAllConditionVariable((PCONDITION_VARIABLE)c);
}

void weft__addr_wait(volatile void *addr, const void *expected, size_t size, unsigned ms) {
  WaitOnAddress(addr, (PVOID)expected, size, ms);
}
void weft__addr_wake_one(void *addr) {
  WakeByAddressSingle(addr);
}
void weft__addr_wake_all(void *addr) {
  WakeByAddressAll(addr);
}

/* ---- Clocks --------------------------------------------------------------- */

static uint64_t qpc_freq;
static double qpc_ns_per_tick;
static double tsc_per_ns;
static INIT_ONCE clock_once = INIT_ONCE_STATIC_INIT;

static uint64_t qpc_now(void) {
  LARGE_INTEGER c;
  QueryPerformanceCounter(&c);
  return (uint64_t)c.QuadPart;
}

/* Calibrate the TSC against QPC over ~2 ms, once per process. */
static BOOL CALLBACK clock_init(PINIT_ONCE once, PVOID p, PVOID *ctx) {
  LARGE_INTEGER f;
  QueryPerformanceFrequency(&f);
  qpc_freq = (uint64_t)f.QuadPart;
  qpc_ns_per_tick = 1e9 / (double)f.QuadPart;
  uint64_t q0 = qpc_now(), t0 = __rdtsc(), q1, t1;
  do {
    q1 = qpc_now();
    t1 = __rdtsc();
  } while ((double)(q1 - q0) * qpc_ns_per_tick < 2e6);
  tsc_per_ns = (double)(t1 - t0) / ((double)(q1 - q0) * qpc_ns_per_tick);
  if (!(tsc_per_ns > 0.01))
    tsc_per_ns = 1.0; /* no usable TSC: runaway limits become approximate */
  return TRUE;
}

uint64_t weft__clock_ns(void) {
  InitOnceExecuteOnce(&clock_once, clock_init, NULL, NULL);
  uint64_t c = qpc_now();
  return c / qpc_freq * 1000000000u + c % qpc_freq * 1000000000u / qpc_freq;
}

double weft__tsc_per_ns(void) {
  InitOnceExecuteOnce(&clock_once, clock_init, NULL, NULL);
  return tsc_per_ns;
}

/* ---- Memory --------------------------------------------------------------- */

void *weft__aligned_alloc(size_t size, size_t align) {
  return _aligned_malloc(size, align);
}

void weft__aligned_free(void *p) {
  _aligned_free(p);
}
