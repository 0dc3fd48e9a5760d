/* task.h - a task: its state, its fiber, its waits, abends and end
 * (task.c, event.c, term.c).
 *
 * Ownership (after DragonFly's LWKT): a ready, running or waiting task
 * belongs to exactly one worker, its owner, which touches it without locks.
 * Other threads (host threads, offload threads, other workers) hand a task to
 * its owner through the owner's inbox, a lock-free MPSC queue, and never edit
 * a worker's queues. A waiting task may be claimed by exactly one waker, which
 * wins the CAS on tk_wait; only the winner may touch it, and only to hand it
 * back to its owner. Each struct's comment states the rule for its fields.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "runtime/mpsc.h"
#include "runtime/taskapi.h"
#include "runtime/timer.h"
#include "runtime/types.h"

/* ---- Tasks ---------------------------------------------------------------- */

/* tk_req: why a task's dispatch ended (worker.c, dispatch_end). */
enum { WEFT__REQ_YIELD = 1, WEFT__REQ_WAIT, WEFT__REQ_END };

/* tk_wait: claimed across threads by CAS. */
enum {
  WEFT__W_NONE = 0,  /* not waiting */
  WEFT__W_WAIT = 1,  /* waiting; timer, purge or the awaited object may wake */
  WEFT__W_HARD = 2,  /* waiting for an offloaded call; only its end wakes */
  WEFT__W_WOKEN = 3, /* claimed by a waker, on its way back to the owner */
};

/* tk_flags (owner-only word). */
#define WEFT__TF_ABENDING 0x0001u /* abend handlers ran / are running */
#define WEFT__TF_PURGE 0x0002u    /* abend AEXZ at the next suspension point */
#define WEFT__TF_RUNAWAY 0x0004u  /* abend AICA at the next suspension point */
#define WEFT__TF_FAULTED 0x0008u  /* ended by a program check: drop the fiber */
#define WEFT__TF_ABENDED 0x0010u  /* counts as abended */
#define WEFT__TF_DELAYED 0x0020u  /* a delayed start, not yet admitted */
#define WEFT__TF_CLASSED 0x0040u  /* holds a slot of its transaction class */
#define WEFT__TF_RELEASING 0x0080u /* releasing what it holds: no preemption */

/* WEFT__FAULT_PAD, WEFT__FAULT_FRAME: prim.h (the fault handler uses them). */

#define WEFT__SS_TASK_SLOTS 8 /* library subsystems (weft__library_subsys rows) */
#define WEFT__INLINE_DATA 64 /* start data up to this size lives in the task */
#define WEFT__MAX_HANDLERS 16

typedef struct weft__handler {
  weft_abend_fn h_fn;
  void *h_arg;
  int h_depth; /* the LINK level that registered it */
} weft__handler;

typedef struct weft__link {
  void *l_ca; /* COMMAREA of this level */
  size_t l_len;
  const weft__prog *l_next; /* program XCTL transfers to (task) */
  void *l_xca;              /* the XCTL copy of the COMMAREA (task storage) */
  void *l_jmp[5];           /* where XCTL and RETURN unwind this level to */
} weft__link;

typedef struct weft__storage {
  struct weft__storage *s_next, *s_prev; /* the task's getmain list */
} weft__storage;

struct weft_task {
  /* -- Hot: what a yield touches, in the first cache line ----------------- */
  uint32_t tk_magic;          /* WEFT__TASK_MAGIC while allocated (immutable) */
  uint8_t tk_prio;            /* dispatch priority 0..255 (immutable) */
  uint8_t tk_req;             /* WEFT__REQ_* when switching out (task) */
  unsigned short tk_x87cw;    /* saved FP state while switched out (owner) */
  uint32_t tk_flags;          /* WEFT__TF_* (owner) */
  unsigned tk_mxcsr;          /* saved FP state while switched out (owner) */
  weft__worker *tk_worker;    /* owner; changes only while ready (steal) */
  weft__fiber tk_fiber;       /* tk_fc->fc_fiber, NULL before the first dispatch */
  struct weft_task *tk_rnext; /* ready queue / free-list / offload link (owner) */
  uint32_t tk_runaway_ms;     /* 0 = no limit (immutable) */
  uint64_t tk_no;             /* task number (immutable) */
  weft__encl *tk_encl;        /* its enclave (immutable) */
  uint16_t tk_level;          /* ready-queue level while queued (owner) */
  uint8_t tk_boost;           /* aging steps since its last dispatch (owner) */
  uint8_t tk_wreason;         /* WEFT_WAIT_* of the current wait (task) */
  uint32_t tk_age_gen;        /* owner's aging generation when queued */
  uint64_t tk_t_mark;         /* TSC: start of the current wait or ready wait */
  uint64_t tk_disp_ticks;     /* accounting a dispatch touches, kept close */
  uint32_t tk_ndisp;
  uint64_t tk_wait_ticks[WEFT_WAIT_REASONS];

  /* -- Identity: set at start, immutable while the task lives ------------ */
  weft_region *tk_region;
  const weft__tran *tk_tran;

  /* -- Owner-only: the owning worker, or the task itself while running -- */
  weft__fctx *tk_fc;                     /* its fiber, NULL before the first dispatch */
  struct weft_task *tk_onext, *tk_oprev; /* owner's list of its tasks */
  char tk_abcode[5];                     /* abend code, NUL-terminated */
  uint64_t tk_seq;                       /* admission order (FIFO within priority) */
  void *tk_data;                         /* start data (tk_inline or heap) */
  size_t tk_len;
  int tk_depth; /* current LINK level, 0 = top */
  /* The program running at the current level, or NULL: what the monitor
   * reads (with the worker suspended) to tell its code (monitor.c). */
  const weft__prog *tk_prog;
  int tk_nhandlers;
  weft__storage tk_storage; /* getmain list head (circular) */
  weft__enq *tk_enqs;       /* ENQs held (under the ENQ lock) */
  weft__enq *tk_enq_wait;   /* the ENQ it waits for (under the ENQ lock) */
  bool tk_enq_uow;          /* that wait is for a UOW-lifetime ENQ */
  void *tk_ss[WEFT__SS_TASK_SLOTS]; /* library subsystems' per-task state (weft__task_slot) */
  struct weft_terminal *tk_term; /* its terminal, or NULL (immutable) */
  char tk_userid[WEFT_NAME_MAX + 1]; /* signed-on user, "" (immutable) */
  void *tk_start_ca;             /* the start's COMMAREA copy (malloc) */
  weft__class *tk_class;         /* its class, or NULL (immutable) */
  char tk_purge_code[5];         /* abend code of a purge ("" = AEXZ) (owner) */
  const weft__tran *tk_ret_tran; /* weft_return: the next transaction */
  void *tk_ret_ca;               /* ... and its COMMAREA (malloc) */
  size_t tk_ret_len;
  weft__timer tk_timer;     /* wait timeout or delayed start */

  /* -- Waiting: tk_wait is claimed by CAS; the winner sets the result ---- */
  _Atomic int tk_wait;             /* WEFT__W_* */
  int tk_wait_result;              /* 0 or WEFT_E*, written by the claimer */
  void *tk_wait_obj;               /* event or ENQ waited on (owner) */
  void (*tk_detach)(weft_task *t); /* unlinks it from tk_wait_obj after a timeout */
  struct weft_task *tk_wnext;      /* waiter list link (under the object's lock) */
  bool tk_wlinked;                 /* on the object's list (under its lock) */
  int (*tk_off_fn)(void *);        /* offload job (task, then offload thread) */
  void *tk_off_arg;
  int tk_off_result;

  /* -- Accounting (owner; accounting on) --------------------------------- */
  uint64_t tk_t_start; /* TSC at weft_start (or when a delay came due) */
  uint64_t tk_t_admit; /* TSC when admitted */
  uint64_t tk_first_ticks;

  weft__node tk_node; /* inbox link */
  char tk_inline[WEFT__INLINE_DATA];
  weft__handler tk_handlers[WEFT__MAX_HANDLERS];
  weft__link tk_link[WEFT_MAX_LINK_DEPTH + 1];
};
#define WEFT__TASK_MAGIC 0x5446454Bu /* "KEFT" */

/* A pooled fiber and the state it needs to run tasks one after another. */
struct weft__fctx {
  weft__fiber fc_fiber;
  weft_task *fc_task;  /* task to run / running (owner worker) */
  weft__fctx *fc_next; /* pool link */
  void *fc_jmp[5];     /* __builtin_setjmp buffer: where abends land */
};

/* ---- Wait queues ------------------------------------------------------------ */

/* A FIFO of waiting tasks, guarded by the lock of the object it belongs to
 * (event, ENQ), which also guards the tasks' tk_wnext and tk_wlinked. */
typedef struct weft__waitq {
  weft_task *wq_head, *wq_tail;
} weft__waitq;

void weft__waitq_push(weft__waitq *q, weft_task *t);
weft_task *weft__waitq_pop(weft__waitq *q);            /* NULL when empty */
void weft__waitq_remove(weft__waitq *q, weft_task *t); /* t must be linked */

/* task.c */
weft_task *weft__task_alloc(weft__worker *w);                       /* w NULL on a host thread */
void weft__task_free(weft__worker *w, weft_task *t);                /* owner */
void weft__task_switch_out(weft_task *t, int req);                  /* task */
int weft__task_wait(weft_task *t, unsigned timeout_ms, int reason); /* task; tk_wait set */
bool weft__task_claim(weft_task *t);                                /* any thread: win the wake */
void weft__task_wake(weft_task *t, int result);                     /* the claimer */
uintptr_t weft__task_program_caller(void); /* where programs are called */
void weft__task_resume_checks(weft_task *t);                        /* task: purge, runaway */
void weft__task_run(weft__fctx *fc);                                /* the fiber body */
void weft__task_end_dispatch(weft__worker *w, weft_task *t); /* dispatcher */
void weft__task_finish(weft__worker *w, weft_task *t);       /* owner: all but the fiber */
int weft__fiber_assign(weft__worker *w, weft_task *t);       /* owner */
void weft__fiber_give(weft__worker *w, weft_task *t, weft__fctx *fc); /* owner */
int weft__fiber_pool_put(weft__worker *w, weft__fctx *fc);   /* owner: 0, or 1 when full */
void weft__fiber_drop(weft__fctx *fc);                       /* not running: delete it */
void weft__fibers_free(weft__worker *w);
void weft__handlers_drop(weft_task *t, int depth);


/* event.c */
void weft__event_detach(weft_task *t);

/* term.c */
int weft__term_attach(struct weft_terminal *term, weft_task *t); /* at start */
void weft__term_detach(struct weft_terminal *term);              /* start refused */
void weft__term_task_end(weft_task *t);                          /* task: end */

#endif /* WEFT_TASK_H */
