/* task.c - tasks: their fibers, suspension and wake-up, abends and the calls
 * a program makes about itself (retrieve, yield, delay, link, getmain).
 *
 * Life of a task: weft_start allocates it (start.c); a worker adopts it and
 * gives it a pooled fiber at its first dispatch (or the fiber of the task
 * that just ended, which then runs it without a switch); the fiber body
 * runs the transaction's program; at the end (normal or abend) the task
 * releases its ENQs and storage, is accounted and freed on its own fiber,
 * and the fiber goes on to the next task (worker.c, weft__dispatch_end).
 * Only a fiber that cannot be kept is deleted by the dispatcher. */
#include <stdlib.h>

#include "runtime/internal.h"

#define TASK_FREE_MAX 256 /* recycled task structs kept per worker */

/* ---- Allocation ------------------------------------------------------------ */

/* A fresh task struct; w is the calling worker (its free list) or NULL. */
weft_task *weft__task_alloc(weft__worker *w) {
  weft_task *t;
  if (w != NULL && w->wk_free != NULL) {
    t = w->wk_free;
    w->wk_free = t->tk_rnext;
    w->wk_nfree--;
  } else {
    t = malloc(sizeof *t);
    if (t == NULL)
      return NULL;
    atomic_fetch_add_explicit(&weft__count_tasks, 1, memory_order_relaxed);
  }
  t->tk_magic = WEFT__TASK_MAGIC;
  t->tk_fc = NULL;
  t->tk_fiber = NULL;
  t->tk_flags = 0;
  t->tk_abcode[0] = '\0';
  t->tk_depth = 0;
  t->tk_prog = NULL;
  t->tk_nhandlers = 0;
  t->tk_link[0].l_ca = NULL;
  t->tk_link[0].l_len = 0;
  t->tk_storage.s_next = t->tk_storage.s_prev = &t->tk_storage;
  t->tk_enqs = NULL;
  t->tk_enq_wait = NULL;
  for (int i = 0; i < WEFT__SS_TASK_SLOTS; i++)
    t->tk_ss[i] = NULL;
  t->tk_term = NULL;
  t->tk_userid[0] = '\0';
  t->tk_start_ca = NULL;
  t->tk_class = NULL;
  t->tk_purge_code[0] = '\0';
  t->tk_ret_tran = NULL;
  t->tk_ret_ca = NULL;
  t->tk_ret_len = 0;
  t->tk_timer.tm_index = -1;
  atomic_store_explicit(&t->tk_wait, WEFT__W_NONE, memory_order_relaxed);
  t->tk_wait_obj = NULL;
  t->tk_detach = NULL;
  t->tk_wlinked = false;
  t->tk_data = t->tk_inline;
  t->tk_len = 0;
  t->tk_boost = 0;
  t->tk_ndisp = 0;
  t->tk_disp_ticks = t->tk_first_ticks = 0;
  memset(t->tk_wait_ticks, 0, sizeof t->tk_wait_ticks);
  return t;
}

/* Owner (or the starter, before the task was handed over). */
void weft__task_free(weft__worker *w, weft_task *t) {
  weft_assert_internal(w == NULL || weft__worker_self() == w);
  if (t->tk_data != t->tk_inline)
    free(t->tk_data);
  free(t->tk_start_ca);
  if (t->tk_term != NULL) /* a start that never ran */
    weft__term_detach(t->tk_term);
  t->tk_magic = 0;
  if (w != NULL && w->wk_nfree < TASK_FREE_MAX) {
    t->tk_rnext = w->wk_free;
    w->wk_free = t;
    w->wk_nfree++;
    return;
  }
  free(t);
  atomic_fetch_sub_explicit(&weft__count_tasks, 1, memory_order_relaxed);
}

/* 0 when t is the task running on the calling fiber. Hot path. */
int weft__task_check(weft_task *t) {
  if (weft__unlikely(t == NULL || t->tk_magic != WEFT__TASK_MAGIC))
    return WEFT_EINVAL;
  if (weft__unlikely(t->tk_fiber == NULL || t->tk_fiber != weft__fiber_current()))
    return WEFT_ESTATE;
  return 0;
}

/* ---- Switching ------------------------------------------------------------- */

/* Load the task's FP control state on the thread it resumes on, each word
 * only when it differs from what the thread has now (wk_*_now: what the
 * task that switched out last saved, or what the dispatcher saw after
 * Win32 waits; the runtime's own code never changes them). MXCSR is
 * compared whole, status flags included, so a task gets its own flags
 * back. */
static inline void fp_restore(weft_task *t, weft__worker *w) {
  if (weft__unlikely(t->tk_mxcsr != w->wk_mxcsr_now)) {
    weft__fp_set_mxcsr(t->tk_mxcsr);
    w->wk_mxcsr_now = t->tk_mxcsr;
  }
  if (weft__unlikely(t->tk_x87cw != w->wk_x87cw_now)) {
    weft__fp_set_x87cw(t->tk_x87cw);
    w->wk_x87cw_now = t->tk_x87cw;
  }
}

/* Suspend the running task for req (yield or wait): the next task or the
 * dispatcher runs (worker.c); returns when t is dispatched again (perhaps
 * on another worker). Keeps the task's own FP control state, which Wine
 * does not switch. Task context, hot path. */
void weft__task_switch_out(weft_task *t, int req) {
  weft_assert_internal(weft__task_check(t) == 0); /* on its own fiber */
  weft__worker *w = t->tk_worker;
  t->tk_req = (uint8_t)req;
  t->tk_mxcsr = w->wk_mxcsr_now = weft__fp_get_mxcsr();
  t->tk_x87cw = w->wk_x87cw_now = weft__fp_get_x87cw();
  weft__dispatch_suspend(w, t);
  fp_restore(t, t->tk_worker);
}

/* At every suspension point, after resuming: purge and runaway abends. */
void weft__task_resume_checks(weft_task *t) {
  if (weft__likely(!(t->tk_flags & (WEFT__TF_PURGE | WEFT__TF_RUNAWAY))))
    return;
  if (t->tk_flags & WEFT__TF_PURGE)
    weft__task_abend(t, t->tk_purge_code[0] ? t->tk_purge_code : "AEXZ");
  t->tk_flags &= ~WEFT__TF_RUNAWAY;
  weft__task_abend(t, "AICA");
}

/* Any thread: take the right to wake a task waiting in WEFT__W_WAIT. */
bool weft__task_claim(weft_task *t) {
  int expect = WEFT__W_WAIT;
  return atomic_compare_exchange_strong_explicit(&t->tk_wait, &expect, WEFT__W_WOKEN,
                                                 memory_order_acq_rel, memory_order_relaxed);
}

/* The claimer: hand the task back to its owner with a result. */
void weft__task_wake(weft_task *t, int result) {
  t->tk_wait_result = result;
  weft__worker_post(t->tk_worker, &t->tk_node, WEFT__N_WAKE);
}

/* Suspend until woken (0 or the waker's result) or until timeout_ms pass
 * (WEFT_ETIMEDOUT). The caller has set tk_wait (and published the task on
 * the awaited object, with tk_detach to unlink it); reason (WEFT_WAIT_*)
 * is what the wait is accounted as. Task context. */
int weft__task_wait(weft_task *t, unsigned timeout_ms, int reason) {
  int rc = weft__task_wait_raw(t, timeout_ms, reason);
  weft__task_resume_checks(t);
  return rc;
}

/* weft__task_wait without the purge and runaway checks after it: for
 * waits that must not end in an abend (a commit waiting for its flush). */
int weft__task_wait_raw(weft_task *t, unsigned timeout_ms, int reason) {
  weft_assert_internal(weft__task_check(t) == 0); /* on its own fiber */
  t->tk_wreason = (uint8_t)reason;
  if (timeout_ms != WEFT_WAIT_FOREVER) {
    uint64_t now = weft__clock_ns();
    weft__timer_arm(t->tk_worker, t, now + (uint64_t)timeout_ms * 1000000u, now);
  }
  weft__task_switch_out(t, WEFT__REQ_WAIT);
  int rc = t->tk_wait_result;
  atomic_store_explicit(&t->tk_wait, WEFT__W_NONE, memory_order_relaxed);
  if (rc != 0 && t->tk_detach != NULL)
    t->tk_detach(t);
  t->tk_detach = NULL;
  t->tk_wait_obj = NULL;
  return rc;
}

void **weft__task_slot(weft_task *t, const weft__subsys *ss) {
  unsigned i = 0;
  while (weft__library_subsys[i] != ss && weft__library_subsys[i] != NULL)
    i++;
  weft_assert(weft__library_subsys[i] == ss && i < WEFT__SS_TASK_SLOTS);
  return &t->tk_ss[i];
}

/* ---- Hard waits (taskapi.h) ------------------------------------------------- */

void weft__task_hard_wait_begin(weft_task *t) {
  weft_assert_internal(weft__task_check(t) == 0); /* on its own fiber */
  atomic_store_explicit(&t->tk_wait, WEFT__W_HARD, memory_order_relaxed);
}

void weft__task_hard_wait_cancel(weft_task *t) {
  atomic_store_explicit(&t->tk_wait, WEFT__W_NONE, memory_order_relaxed);
}

void weft__task_hard_wake(weft_task *t, int result) {
  int expect = WEFT__W_HARD;
  atomic_compare_exchange_strong(&t->tk_wait, &expect, WEFT__W_WOKEN);
  weft_assert(expect == WEFT__W_HARD);
  weft__task_wake(t, result);
}

/* ---- What a subsystem may know of a task (taskapi.h) -------------------------- */

weft_region *weft__task_region(const weft_task *t) {
  return t->tk_region;
}

uint64_t weft__task_no(const weft_task *t) {
  return t->tk_no;
}

const char *weft__task_tranid(const weft_task *t) {
  return t->tk_tran->tr_id;
}

bool weft__task_abended(const weft_task *t) {
  return (t->tk_flags & WEFT__TF_ABENDED) != 0;
}

const char *weft__task_abcode(const weft_task *t) {
  return t->tk_abcode;
}

void weft__task_mark_abended(weft_task *t, const char *code) {
  memcpy(t->tk_abcode, code, 4);
  t->tk_abcode[4] = '\0';
  t->tk_flags |= WEFT__TF_ABENDED;
}

/* ---- Wait queues (under the owning object's lock) ---------------------------- */

void weft__waitq_push(weft__waitq *q, weft_task *t) {
  t->tk_wnext = NULL;
  t->tk_wlinked = true;
  if (q->wq_tail != NULL)
    q->wq_tail->tk_wnext = t;
  else
    q->wq_head = t;
  q->wq_tail = t;
}

weft_task *weft__waitq_pop(weft__waitq *q) {
  weft_task *t = q->wq_head;
  if (t == NULL)
    return NULL;
  if ((q->wq_head = t->tk_wnext) == NULL)
    q->wq_tail = NULL;
  t->tk_wlinked = false;
  return t;
}

void weft__waitq_remove(weft__waitq *q, weft_task *t) {
  weft_task **pp = &q->wq_head, *prev = NULL;
  while (*pp != t) {
    prev = *pp;
    pp = &prev->tk_wnext;
  }
  *pp = t->tk_wnext;
  if (q->wq_tail == t)
    q->wq_tail = prev;
  t->tk_wlinked = false;
}

/* ---- Fibers -------------------------------------------------------------------- */

static void fiber_body(void *arg);

/* Give t a fiber from w's pool, or a new one (only the dispatcher may make
 * one: a Win32 call with a deep stack). On failure t is marked abended
 * AFIB and 1 is returned: the caller ends it. Owner. */
int weft__fiber_assign(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  weft__fctx *fc = w->wk_fibers;
  if (fc != NULL) {
    w->wk_fibers = fc->fc_next;
    w->wk_nfibers--;
    WEFT__STAT_ADD(w->wk_nidle_fibers, -1);
  } else {
    weft_region_config *cfg = &t->tk_region->r_cfg;
    fc = malloc(sizeof *fc);
    if (fc == NULL || weft__fiber_create(cfg->stack_commit, cfg->stack_size, fiber_body, fc,
                                         &fc->fc_fiber) != 0) {
      free(fc);
      weft__log(t->tk_region, 'E', "task %llu (%s): no fiber could be created: abend AFIB",
                (unsigned long long)t->tk_no, t->tk_tran->tr_id);
      memcpy(t->tk_abcode, "AFIB", 5);
      t->tk_flags |= WEFT__TF_ABENDED;
      t->tk_req = WEFT__REQ_END;
      WEFT__STAT_ADD(w->wk_started, 1);
      return 1;
    }
  }
  weft__fiber_give(w, t, fc);
  return 0;
}

/* fc, idle or the fiber of a task that just ended on it, runs t next. */
void weft__fiber_give(weft__worker *w, weft_task *t, weft__fctx *fc) {
  fc->fc_task = t;
  t->tk_fc = fc;
  t->tk_fiber = fc->fc_fiber;
  WEFT__STAT_ADD(w->wk_started, 1);
}

/* Keep an ended task's fiber in w's pool: 0, or 1 when the pool is full
 * (the caller has it deleted). Owner; fc may be the running fiber, which
 * must then switch away before anything else can take it. */
int weft__fiber_pool_put(weft__worker *w, weft__fctx *fc) {
  if (w->wk_nfibers >= w->wk_fiber_cap)
    return 1;
  fc->fc_next = w->wk_fibers;
  w->wk_fibers = fc;
  w->wk_nfibers++;
  WEFT__STAT_ADD(w->wk_nidle_fibers, 1);
  return 0;
}

/* Delete a fiber no thread runs. */
void weft__fiber_drop(weft__fctx *fc) {
  weft__fiber_delete(fc->fc_fiber);
  free(fc);
}

/* Free the idle fibers of a stopping worker. Its own thread. */
void weft__fibers_free(weft__worker *w) {
  while (w->wk_fibers != NULL) {
    weft__fctx *fc = w->wk_fibers;
    w->wk_fibers = fc->fc_next;
    weft__fiber_delete(fc->fc_fiber);
    free(fc);
  }
  w->wk_nfibers = 0;
  atomic_store(&w->wk_nidle_fibers, 0);
}

/* weft_return named a next transaction: start it with the COMMAREA. */
static void task_next_start(weft_task *t) {
  const weft__tran *next = t->tk_ret_tran;
  if (next != NULL && !(t->tk_flags & WEFT__TF_ABENDED)) {
    int rc = weft_start(t->tk_region, next->tr_id, t->tk_ret_ca, t->tk_ret_len, NULL, NULL);
    if (rc != 0)
      weft__log(t->tk_region, 'W', "task %llu: RETURN TRANSID(%s) not started: %s",
                (unsigned long long)t->tk_no, next->tr_id, weft_err_name(rc));
  }
  free(t->tk_ret_ca);
  t->tk_ret_ca = NULL;
  t->tk_ret_len = 0;
  t->tk_ret_tran = NULL;
}

/* Release what the task holds: the subsystems' task ends first (txn/
 * commits its unit of work at a normal end or backs it out after an abend,
 * then its terminal is told), then its ENQs and its task storage. Task
 * context. */
static void task_release(weft_task *t) {
  t->tk_flags |= WEFT__TF_RELEASING; /* the monitor interrupts no more */
  weft__subsys_task_end(t); /* txn/: commit or back out; the terminal */
  task_next_start(t);
  weft__enq_release_all(t);
  while (t->tk_storage.s_next != &t->tk_storage) {
    weft__storage *s = t->tk_storage.s_next;
    t->tk_storage.s_next = s->s_next;
    free(s);
  }
  t->tk_storage.s_prev = &t->tk_storage;
}

/* Leave the ended task for good: it is accounted and freed, and when the
 * fiber is reused this returns into the fiber body for the next task (so
 * it must not touch t again, nor restore FP state from it). */
static void task_leave(weft_task *t) {
  t->tk_req = WEFT__REQ_END;
  weft__dispatch_end(t->tk_worker, t);
}

/* End a task whose fiber is discarded (program check). Task context. */
static WEFT_NORETURN void task_finish_faulted(weft_task *t) {
  task_release(t);
  task_leave(t);
  weft__assert_fail("a faulted fiber was resumed", __FILE__, __LINE__);
}

/* Run program p at the current LINK level, then whatever XCTL transfers
 * to. XCTL and RETURN unwind to this level's jump buffer. */
static void __attribute__((noinline)) run_level(weft_task *t, const weft__prog *p) {
  weft__link *volatile l = &t->tk_link[t->tk_depth];
  l->l_next = p;
  l->l_xca = NULL;
  while (l->l_next != NULL) {
    const weft__prog *run = l->l_next;
    l->l_next = NULL;
    if (__builtin_setjmp(l->l_jmp) == 0) {
      t->tk_prog = run;
      run->pg_fn(t);
    }
  }
  if (l->l_xca != NULL)
    weft_freemain(t, l->l_xca);
}

/* run_level's address: the monitor interrupts only code whose frames lead
 * back to run_level without leaving the program's module (monitor.c). */
uintptr_t weft__task_program_caller(void) {
  return (uintptr_t)run_level;
}

/* One task on this fiber: program, then end. Returns when the fiber is
 * reused. An abend lands at the setjmp with the handlers already run. */
static void __attribute__((noinline)) run_one(weft__fctx *fc) {
  weft__fctx *volatile vfc = fc;
  weft_task *t = fc->fc_task;
  t->tk_mxcsr = t->tk_worker->wk_mxcsr;
  t->tk_x87cw = t->tk_worker->wk_x87cw;
  fp_restore(t, t->tk_worker);
  if (__builtin_setjmp(fc->fc_jmp) == 0) {
    if (t->tk_flags & WEFT__TF_PURGE)
      weft__task_abend(t, t->tk_purge_code[0] ? t->tk_purge_code : "AEXZ");
    if (atomic_load_explicit(&t->tk_tran->tr_prog->pg_disabled, memory_order_relaxed)) {
      weft__log(t->tk_region, 'E', "task %llu (%s): program %s is disabled: abend APCT",
                (unsigned long long)t->tk_no, t->tk_tran->tr_id, t->tk_tran->tr_prog->pg_name);
      weft__task_abend(t, "APCT");
    }
    run_level(t, t->tk_tran->tr_prog);
  }
  t = vfc->fc_task;
  task_release(t);
  task_leave(t);
}

/* Stack colours: each new fiber's frames start a different number of cache
 * lines (0 .. FIBER_COLOURS - 1) below its pad. Every fiber stack is a
 * 64 KiB-aligned allocation, so without this the hot frames of the yield
 * path of every task fall into the same few cache sets and evict each
 * other at each switch. */
#define FIBER_COLOURS 64
static _Atomic unsigned g_fiber_colour; /* fibers started, any worker */

/* The body of every pooled fiber. The pad keeps room below the base frames
 * for the fault handler's restart frame (see fault_win.c); the colour only
 * makes it larger. */
static void fiber_body(void *arg) {
  weft__fctx *fc = arg;
  unsigned colour =
      atomic_fetch_add_explicit(&g_fiber_colour, 1, memory_order_relaxed) % FIBER_COLOURS;
  void *pad = __builtin_alloca(WEFT__FAULT_PAD + colour * 64);
  __asm__ __volatile__("" : : "r"(pad) : "memory");
  for (;;)
    run_one(fc);
}

/* Fold an ended task into its enclave's and its transaction's shares of
 * this worker, and emit its record. Owner. */
static void task_account(weft__worker *w, weft_task *t) {
  weft_region *r = w->wk_region;
  if (!w->wk_acct)
    return;
  uint64_t now = w->wk_now,
           response = weft__ticks_to_ns(r, now > t->tk_t_start ? now - t->tk_t_start : 0);
  weft__acct_fold(&t->tk_encl->ec_acct[w->wk_id], t, response);
  weft__acct_fold(&t->tk_tran->tr_acct[w->wk_id], t, response);
  if (r->r_cfg.task_record_fn != NULL || r->r_encl.en_recfile != NULL)
    weft__record_task(r, w, t, response);
}

/* End a task that never ran (no fiber could be made). Dispatcher. */
void weft__task_end_dispatch(weft__worker *w, weft_task *t) {
  weft_assert_internal(t->tk_fc == NULL);
  weft__task_finish(w, t);
}

/* A task of w ended: count and account it, free its struct and its
 * admission slot, admit what waited for them. Everything but its fiber:
 * owner, on the ended task's own fiber (weft__dispatch_end) or the
 * dispatcher. t is gone on return. */
void weft__task_finish(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  weft_region *r = t->tk_region;
  if (t->tk_flags & WEFT__TF_ABENDED)
    WEFT__STAT_ADD(w->wk_abended, 1);
  else
    WEFT__STAT_ADD(w->wk_completed, 1);
  task_account(w, t);
  weft__purge_forget(r, t->tk_no);
  weft__encl *e = t->tk_encl;
  weft_task *capped = e->ec_max_active ? weft__cap_release(e) : NULL;
  weft__class *c = (t->tk_flags & WEFT__TF_CLASSED) ? t->tk_class : NULL;
  weft_task *classed = c != NULL ? weft__class_release(c) : NULL;
  weft__task_free(w, t);
  weft__encl_put(e, r);
  weft__slot_release(r, w);
  if (capped != NULL)
    weft__admit_capped(r, w, capped);
  if (classed != NULL)
    weft__admit_classed(r, w, classed);
  if (weft__unlikely(atomic_load_explicit(&r->r_state, memory_order_relaxed) != WEFT__R_RUNNING))
    weft__region_check_drained(r);
}

/* ---- Abends ------------------------------------------------------------------- */

/* Copy a 1-4 character code; anything else becomes "AINV". */
static void set_code(weft_task *t, const char *code) {
  size_t n = 0;
  while (code != NULL && n < 5 && code[n] > 0x20 && code[n] < 0x7F)
    n++;
  if (n == 0 || n > 4 || code[n] != '\0') {
    memcpy(t->tk_abcode, "AINV", 5);
    return;
  }
  memcpy(t->tk_abcode, code, n);
  t->tk_abcode[n] = '\0';
}

/* Run the abend handlers newest first, once. Task context. */
static void run_handlers(weft_task *t, const char *code) {
  t->tk_flags |= WEFT__TF_ABENDING | WEFT__TF_ABENDED;
  set_code(t, code);
  while (t->tk_nhandlers > 0) {
    weft__handler h = t->tk_handlers[--t->tk_nhandlers];
    h.h_fn(t, t->tk_abcode, h.h_arg);
  }
}

/* End the running task abnormally: handlers, then back to the fiber body.
 * An abend inside a handler skips the remaining handlers. Task context. */
void weft__task_abend(weft_task *t, const char *code) {
  if (!(t->tk_flags & WEFT__TF_ABENDING))
    run_handlers(t, code);
  __builtin_longjmp(t->tk_fc->fc_jmp, 1);
}

/* The abend code and the log's words for a WEFT__FAULT_* kind. */
static const char *fault_code(int kind, const char **why) {
  switch (kind) {
    case WEFT__FAULT_ASRS:
      *why = "stack overflow";
      return "ASRS";
    case WEFT__FAULT_RUNAWAY:
      *why = "runaway: interrupted by the monitor after its runaway limit without suspending";
      return "AICA";
    default:
      *why = "program check";
      return "ASRA";
  }
}

/* Where a program check (fault_win.c), or the monitor interrupting a
 * runaway (weft__thread_preempt), restarts the task: on a new frame of the
 * same fiber, whose old frames are abandoned. The fiber is deleted
 * afterwards. kind: WEFT__FAULT_*. */
void weft__task_fault_entry(weft_task *t, int kind) {
  const char *why, *code = fault_code(kind, &why);
  t->tk_flags |= WEFT__TF_FAULTED;
  t->tk_mxcsr = t->tk_worker->wk_mxcsr;
  t->tk_x87cw = t->tk_worker->wk_x87cw;
  weft__fp_set_x87cw(t->tk_x87cw); /* the fault may have left anything */
  weft__fp_set_mxcsr(t->tk_mxcsr);
  weft__fp_resync(t->tk_worker);
  weft__log(t->tk_region, 'E', "task %llu (%s) abended %s: %s", (unsigned long long)t->tk_no,
            t->tk_tran->tr_id, code, why);
  if (!(t->tk_flags & WEFT__TF_ABENDING))
    run_handlers(t, code);
  task_finish_faulted(t);
}

/* The task running on this thread's current fiber, if the thread is a
 * worker and the fiber a task's; NULL otherwise. Exception handler. */
weft_task *weft__fault_task(void) {
  weft__worker *w = weft__worker_self();
  weft_task *t = w != NULL ? w->wk_current : NULL;
  if (t == NULL || t->tk_fiber == NULL || t->tk_fiber != weft__fiber_current())
    return NULL;
  return t;
}

void weft_abend(weft_task *t, const char *code) {
  if (weft__task_check(t) != 0) {
    weft__write_stderr("weft: weft_abend called outside its task\n");
    abort();
  }
  weft__task_abend(t, code);
}

int weft_handle_abend(weft_task *t, weft_abend_fn fn, void *arg) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (fn == NULL) {
    weft__handlers_drop(t, t->tk_depth);
    return 0;
  }
  if (t->tk_nhandlers == WEFT__MAX_HANDLERS)
    return WEFT_ELIMIT;
  t->tk_handlers[t->tk_nhandlers++] = (weft__handler){fn, arg, t->tk_depth};
  return 0;
}

/* Forget the handlers registered at LINK level `depth` or deeper. */
void weft__handlers_drop(weft_task *t, int depth) {
  while (t->tk_nhandlers > 0 && t->tk_handlers[t->tk_nhandlers - 1].h_depth >= depth)
    t->tk_nhandlers--;
}

/* ---- Calls a program makes about itself ------------------------------------ */

int weft_retrieve(weft_task *t, const void **data, size_t *len) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (data == NULL || len == NULL)
    return WEFT_EINVAL;
  *data = t->tk_len ? t->tk_data : NULL;
  *len = t->tk_len;
  return 0;
}

int weft_commarea(weft_task *t, void **data, size_t *len) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (data == NULL || len == NULL)
    return WEFT_EINVAL;
  *data = t->tk_link[t->tk_depth].l_ca;
  *len = t->tk_link[t->tk_depth].l_len;
  return 0;
}

uint64_t weft_task_number(const weft_task *t) {
  return t != NULL ? t->tk_no : 0;
}
const char *weft_task_tranid(const weft_task *t) {
  return t != NULL ? t->tk_tran->tr_id : NULL;
}
weft_region *weft_task_region(const weft_task *t) {
  return t != NULL ? t->tk_region : NULL;
}
unsigned weft_task_worker(const weft_task *t) {
  return t != NULL ? t->tk_worker->wk_id : 0;
}

int weft_yield(weft_task *t) {
  int rc = weft__task_check(t);
  if (weft__unlikely(rc != 0))
    return rc;
  weft__task_switch_out(t, WEFT__REQ_YIELD);
  weft__task_resume_checks(t);
  return 0;
}

int weft_delay(weft_task *t, unsigned ms) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (ms == 0)
    return weft_yield(t);
  if (ms == WEFT_WAIT_FOREVER)
    return WEFT_ERANGE;
  atomic_store_explicit(&t->tk_wait, WEFT__W_WAIT, memory_order_relaxed);
  rc = weft__task_wait(t, ms, WEFT_WAIT_DELAY);
  return rc == WEFT_ETIMEDOUT ? 0 : rc;
}

/* The checks LINK and XCTL share: the caller, the arguments, an enabled
 * program (*p). */
static int transfer_args(weft_task *t, const char *program, const void *commarea, size_t len,
                         const weft__prog **p) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (program == NULL || (commarea == NULL && len != 0))
    return WEFT_EINVAL;
  if ((*p = weft__prog_find(t->tk_region, program)) == NULL)
    return WEFT_ENOPROG;
  return atomic_load_explicit(&(*p)->pg_disabled, memory_order_relaxed) ? WEFT_EDISABLED : 0;
}

int weft_link(weft_task *t, const char *program, void *commarea, size_t len) {
  const weft__prog *p;
  int rc = transfer_args(t, program, commarea, len, &p);
  if (rc != 0)
    return rc;
  if (t->tk_depth == WEFT_MAX_LINK_DEPTH)
    return WEFT_ELIMIT;
  const weft__prog *caller = t->tk_prog;
  int depth = ++t->tk_depth;
  t->tk_link[depth].l_ca = commarea;
  t->tk_link[depth].l_len = len;
  run_level(t, p);
  weft__handlers_drop(t, depth);
  t->tk_depth = depth - 1;
  t->tk_prog = caller;
  return 0;
}

int weft_xctl(weft_task *t, const char *program, const void *commarea, size_t len) {
  const weft__prog *p;
  int rc = transfer_args(t, program, commarea, len, &p);
  if (rc != 0)
    return rc;
  weft__link *l = &t->tk_link[t->tk_depth];
  void *copy = NULL;
  if (len > 0) {
    if ((copy = weft_getmain(t, len)) == NULL)
      return WEFT_ENOMEM;
    memcpy(copy, commarea, len);
  }
  if (l->l_xca != NULL)
    weft_freemain(t, l->l_xca);
  l->l_xca = copy;
  l->l_ca = copy;
  l->l_len = len;
  l->l_next = p;
  weft__handlers_drop(t, t->tk_depth);
  __builtin_longjmp(l->l_jmp, 1);
}

int weft_return(weft_task *t, const char *tranid, const void *commarea, size_t len) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (commarea == NULL && len != 0)
    return WEFT_EINVAL;
  const weft__tran *next = NULL;
  if (tranid != NULL) {
    if (weft__name_pack(tranid) == 0)
      return WEFT_EBADNAME;
    if ((next = weft__tran_find(t->tk_region, tranid)) == NULL)
      return WEFT_ENOTRAN;
    void *copy = len ? malloc(len) : NULL;
    if (len && copy == NULL)
      return WEFT_ENOMEM;
    if (len)
      memcpy(copy, commarea, len);
    free(t->tk_ret_ca);
    t->tk_ret_ca = copy;
    t->tk_ret_len = len;
  }
  t->tk_ret_tran = next;
  /* Leave every LINK level: unwind to the top level's loop, which ends. */
  weft__handlers_drop(t, 1);
  for (int d = t->tk_depth; d > 0; d--)
    if (t->tk_link[d].l_xca != NULL)
      weft_freemain(t, t->tk_link[d].l_xca);
  t->tk_depth = 0;
  t->tk_link[0].l_next = NULL;
  __builtin_longjmp(t->tk_link[0].l_jmp, 1);
}

void *weft_getmain(weft_task *t, size_t size) {
  if (weft__task_check(t) != 0 || size > SIZE_MAX - sizeof(weft__storage))
    return NULL;
  weft__storage *s = calloc(1, sizeof *s + size);
  if (s == NULL)
    return NULL;
  s->s_next = t->tk_storage.s_next;
  s->s_prev = &t->tk_storage;
  s->s_next->s_prev = s;
  t->tk_storage.s_next = s;
  return s + 1;
}

int weft_freemain(weft_task *t, void *p) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (p == NULL)
    return WEFT_EINVAL;
  for (weft__storage *s = t->tk_storage.s_next; s != &t->tk_storage; s = s->s_next) {
    if (s + 1 == p) {
      s->s_prev->s_next = s->s_next;
      s->s_next->s_prev = s->s_prev;
      free(s);
      return 0;
    }
  }
  return WEFT_ENOTFOUND;
}
