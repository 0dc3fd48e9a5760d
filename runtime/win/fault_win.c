/* fault_win.c - program checks inside tasks become abends of that task.
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
 * not see these codes inside a task, since vectored handlers run first. */
/* GCC 12 misreads MinGW's __readgsqword (NtCurrentTeb, GetCurrentFiber) as
 * an out-of-bounds access: a known false positive. */
#pragma GCC diagnostic ignored "-Warray-bounds"
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "include/weft.h"
#include "runtime/prim.h"

static PVOID veh_handle;
static LONG veh_refs;
static SRWLOCK veh_lock = SRWLOCK_INIT;

/* 1 for ASRA (program check), 2 for ASRS (stack overflow), 0 otherwise. */
static int fault_kind(DWORD code) {
  switch (code) {
    case EXCEPTION_STACK_OVERFLOW:
      return 2;
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
      return 1;
    default:
      return 0;
  }
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
  /* A fresh frame inside the pad the fiber body reserves below its own
   * frames (WEFT__FAULT_PAD): always above the faulting frames and the
   * exception dispatcher's, so nothing live is overwritten. As if called:
   * 16-byte aligned before the (fake, zero) return address. */
  ULONG_PTR top = (ULONG_PTR)((NT_TIB *)NtCurrentTeb())->StackBase;
  ULONG_PTR sp = ((top - WEFT__FAULT_FRAME) & ~(ULONG_PTR)15) - 8;
  *(ULONG_PTR *)sp = 0;
  CONTEXT *c = ep->ContextRecord;
  c->Rsp = sp;
  c->Rip = (DWORD64)(ULONG_PTR)weft__task_fault_entry;
  c->Rcx = (DWORD64)(ULONG_PTR)t;
  c->Rdx = (DWORD64)kind;
  /* Clear the direction flag and trap flag the faulting code may have set. */
  c->EFlags &= ~(DWORD)0x500;
  return EXCEPTION_CONTINUE_EXECUTION;
}

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
