/* fault_win.c - program checks inside tasks become abends of that task, and
 * the monitor can make a runaway task abend the same way.
 *
 * A vectored exception handler sees an access violation, a stack overflow or
 * an arithmetic fault first. When it happened on a task fiber of a Weft
 * worker, the handler redirects the faulting context to
 * weft__task_fault_entry(task, kind) on a fresh frame near the top of the
 * task's own stack: the faulting frames are abandoned, the task's abend
 * handlers run, its resources are released and its fiber is discarded.
 * Everything else (host threads, the dispatcher, other exception codes such
 * as C++ exceptions or debug output) is passed on untouched.
 *
 * Consequence documented for users: a program's own SEH __try/__except does
 * not see these codes inside a task, since vectored handlers run first.
 *
 * weft__thread_preempt makes the same redirection from the monitor thread:
 * it suspends a worker thread whose task has run past its runaway limit,
 * and when the runtime's check agrees (the thread runs the task's own
 * program code on the task's fiber), sets its context to the same entry. */
/* GCC 12 misreads MinGW's __readgsqword (NtCurrentTeb, GetCurrentFiber) as
 * an out-of-bounds access: a known false positive. */
#pragma GCC diagnostic ignored "-Warray-bounds"
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <string.h>

#include "include/weft.h"
#include "runtime/prim.h"

static PVOID veh_handle;
static LONG veh_refs;
static SRWLOCK veh_lock = SRWLOCK_INIT;

/* WEFT__FAULT_ASRA (program check), WEFT__FAULT_ASRS (stack overflow) or
 * 0 (not ours). */
static int fault_kind(DWORD code) {
  switch (code) {
    case EXCEPTION_STACK_OVERFLOW:
      return WEFT__FAULT_ASRS;
    case EXCEPTION_ACCESS_VIOLATION:
    case EXCEPTION_INT_DIVIDE_BY_ZERO:
    case EXCEPTION_INT_OVERFLOW:
    case EXCEPTION_ILLEGAL_INSTRUCTION:
    case EXCEPTION_PRIV_INSTRUCTION:
    case EXCEPTION_ARRAY_BOUNDS_EXCEEDED:
    case EXCEPTION_DATATYPE_MISALIGNMENT:
    case EXCEPTION_IN_PAGE_ERROR:
    case EXCEPTION_FLT_DIVIDE_BY_ZERO:
    case EXCEPTION_FLT_INVALID_OPERATION:
    case EXCEPTION_FLT_OVERFLOW:
    case EXCEPTION_FLT_UNDERFLOW:
    case EXCEPTION_FLT_INEXACT_RESULT:
    case EXCEPTION_FLT_DENORMAL_OPERAND:
    case EXCEPTION_FLT_STACK_CHECK:
      return WEFT__FAULT_ASRA;
    default:
      return 0;
  }
}

/* Make context c call weft__task_fault_entry(t, kind) on a fresh frame
 * inside the pad the fiber body reserves below its own frames
 * (WEFT__FAULT_PAD) of the stack whose base is top: always above the
 * abandoned frames (and the exception dispatcher's), so nothing live is
 * overwritten. As if called: 16-byte aligned before the (fake, zero)
 * return address. */
static void redirect(CONTEXT *c, ULONG_PTR top, weft_task *t, int kind) {
  ULONG_PTR sp = ((top - WEFT__FAULT_FRAME) & ~(ULONG_PTR)15) - 8;
  *(ULONG_PTR *)sp = 0;
  c->Rsp = sp;
  c->Rip = (DWORD64)(ULONG_PTR)weft__task_fault_entry;
  c->Rcx = (DWORD64)(ULONG_PTR)t;
  c->Rdx = (DWORD64)kind;
  /* Clear the direction flag and trap flag the abandoned code may have set. */
  c->EFlags &= ~(DWORD)0x500;
}

/* Called on the faulting thread, possibly with very little stack left: it
 * only edits the context. */
static LONG CALLBACK task_fault_handler(PEXCEPTION_POINTERS ep) {
  int kind = fault_kind(ep->ExceptionRecord->ExceptionCode);
  if (kind == 0)
    return EXCEPTION_CONTINUE_SEARCH;
  weft_task *t = weft__fault_task();
  if (t == NULL)
    return EXCEPTION_CONTINUE_SEARCH;
  redirect(ep->ContextRecord, (ULONG_PTR)((NT_TIB *)NtCurrentTeb())->StackBase, t, kind);
  return EXCEPTION_CONTINUE_EXECUTION;
}

/* ---- Preempting a runaway task (the monitor thread) ---------------------- */

/* THREAD_BASIC_INFORMATION, of which only the TEB address is used. */
typedef struct basic_info {
  LONG bi_status;
  PVOID bi_teb;
  PVOID bi_pid, bi_tid;
  ULONG_PTR bi_affinity;
  LONG bi_prio, bi_base_prio;
} basic_info;
typedef LONG(NTAPI *query_thread_fn)(HANDLE, int, PVOID, ULONG, PULONG);

static INIT_ONCE query_once = INIT_ONCE_STATIC_INIT;
static query_thread_fn query_thread;

static BOOL CALLBACK query_init(PINIT_ONCE once, PVOID param, PVOID *ctx) {
  (void)once, (void)param, (void)ctx;
  HMODULE nt = GetModuleHandleA("ntdll.dll");
  if (nt != NULL)
    query_thread = (query_thread_fn)(void (*)(void))GetProcAddress(nt, "NtQueryInformationThread");
  return TRUE;
}

/* The thread's own record (its TEB) of the fiber it runs and that fiber's
 * stack: SwitchToFiber keeps them current. NULL when it cannot be read. */
static NT_TIB *thread_tib(HANDLE th) {
  InitOnceExecuteOnce(&query_once, query_init, NULL, NULL);
  basic_info bi;
  ULONG len;
  if (query_thread == NULL || query_thread(th, 0 /* ThreadBasicInformation */, &bi, sizeof bi,
                                           &len) != 0)
    return NULL;
  return bi.bi_teb;
}

/* The unwind entry of the function holding pc in the image at base, from
 * the image's own exception directory (sorted by address): no loader call,
 * so no lock. NULL for a leaf function, which has none. */
static const RUNTIME_FUNCTION *image_function(ULONG_PTR base, ULONG_PTR pc) {
  const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)base;
  const IMAGE_NT_HEADERS *nt = (const IMAGE_NT_HEADERS *)(base + (ULONG_PTR)dos->e_lfanew);
  if (pc < base || pc - base >= nt->OptionalHeader.SizeOfImage)
    return NULL; /* another module's */
  const IMAGE_DATA_DIRECTORY *d =
      &nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXCEPTION];
  const RUNTIME_FUNCTION *f = (const RUNTIME_FUNCTION *)(base + d->VirtualAddress);
  size_t lo = 0, hi = d->VirtualAddress != 0 ? d->Size / sizeof *f : 0;
  DWORD rva = (DWORD)(pc - base);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rva < f[mid].BeginAddress)
      hi = mid;
    else if (rva >= f[mid].EndAddress)
      lo = mid + 1;
    else
      return &f[mid];
  }
  return NULL;
}

/* An 8-byte slot at sp inside the stack [limit, base). */
static bool on_stack(const weft__preempt_view *v, DWORD64 sp) {
  return sp >= v->pv_stack_limit && sp + 8 <= v->pv_stack_base && (sp & 7) == 0;
}

bool weft__preempt_called_from(const weft__preempt_view *v, uintptr_t lo, uintptr_t hi,
                               uintptr_t caller, uintptr_t caller_base) {
  CONTEXT c = *(const CONTEXT *)v->pv_regs;
  for (int depth = 0; depth < 256; depth++) {
    if (c.Rip < lo || c.Rip >= hi) {
      /* A return address: the call is just before it. */
      const RUNTIME_FUNCTION *f = image_function(caller_base, (ULONG_PTR)c.Rip - 1);
      return depth > 0 && f != NULL && caller_base + f->BeginAddress == caller;
    }
    const RUNTIME_FUNCTION *f = image_function(lo, (ULONG_PTR)c.Rip);
    if (f == NULL) { /* a leaf: the return address is at the stack pointer */
      if (!on_stack(v, c.Rsp))
        return false;
      c.Rip = *(const DWORD64 *)(ULONG_PTR)c.Rsp;
      c.Rsp += 8;
    } else {
      PVOID data;
      DWORD64 frame;
      RtlVirtualUnwind(UNW_FLAG_NHANDLER, lo, c.Rip, (PRUNTIME_FUNCTION)f, &c, &data, &frame,
                       NULL);
    }
    if (!on_stack(v, c.Rsp))
      return false;
  }
  return false;
}

/* GetThreadContext also waits until the suspension has taken effect (on
 * Windows SuspendThread only asks for it). The thread is resumed whatever
 * happens. */
int weft__thread_preempt(weft__thread th, weft__preempt_check check, void *ctx) {
  NT_TIB *tib = thread_tib(th);
  if (tib == NULL)
    return WEFT_ESYS;
  if (SuspendThread(th) == (DWORD)-1)
    return weft__err_from_sys();
  int rc = 0;
  CONTEXT c;
  memset(&c, 0, sizeof c);
  c.ContextFlags = CONTEXT_CONTROL | CONTEXT_INTEGER;
  if (!GetThreadContext(th, &c)) {
    rc = weft__err_from_sys();
  } else {
    weft__preempt_view v = {(uintptr_t)c.Rip,       (uintptr_t)c.Rsp,
                            tib->FiberData,          (uintptr_t)tib->StackBase,
                            (uintptr_t)tib->StackLimit, &c};
    weft_task *t = check(ctx, &v);
    if (t != NULL) {
      redirect(&c, (ULONG_PTR)v.pv_stack_base, t, WEFT__FAULT_RUNAWAY);
      c.ContextFlags = CONTEXT_CONTROL | CONTEXT_INTEGER;
      rc = SetThreadContext(th, &c) ? 1 : weft__err_from_sys();
    }
  }
  ResumeThread(th);
  return rc;
}

/* ---- The handler's lifetime ----------------------------------------------- */

int weft__fault_install(void) {
  int rc = 0;
  AcquireSRWLockExclusive(&veh_lock);
  if (veh_refs == 0) {
    veh_handle = AddVectoredExceptionHandler(1, task_fault_handler);
    if (veh_handle == NULL)
      rc = weft__err_from_sys();
  }
  if (rc == 0)
    veh_refs++;
  ReleaseSRWLockExclusive(&veh_lock);
  return rc;
}

void weft__fault_remove(void) {
  AcquireSRWLockExclusive(&veh_lock);
  if (--veh_refs == 0) {
    RemoveVectoredExceptionHandler(veh_handle);
    veh_handle = NULL;
  }
  ReleaseSRWLockExclusive(&veh_lock);
}
