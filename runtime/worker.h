/* worker.h - a worker: one thread with its dispatcher fiber, ready queues,
 * timers, fiber pool and inbox (worker.c, inquire.c). */
#ifndef WEFT_WORKER_H
#define WEFT_WORKER_H

#include "runtime/encl.h"
#include "runtime/mpsc.h"
#include "runtime/task.h"
#include "runtime/timer.h"
#include "runtime/types.h"

/* ---- Workers -------------------------------------------------------------- */

/* wk_ctl bits: requests from other threads, delivered through wk_ctl_node. */
#define WEFT__CTL_STEAL 0x1u /* hand ready tasks to the worker in wk_thief */
#define WEFT__CTL_DRAIN 0x2u /* shutdown began: cancel delayed starts */
#define WEFT__CTL_PURGE 0x4u /* abend every owned task AEXZ */
#define WEFT__CTL_STOP 0x8u  /* leave the dispatch loop (no tasks left) */
#define WEFT__CTL_AGE 0x10u  /* an aging tick: raise tasks ready since the last */
#define WEFT__CTL_PURGE1 0x20u /* purge the tasks named in r_inq.iq_purges */
#define WEFT__CTL_INQ 0x40u    /* describe the owned tasks into r_inq.iq_req */

/* Purges of single tasks (weft_task_purge, terminal release) and task
 * inquiries (weft_region.r_inq, inquire.c): requests under iq_purge_lock,
 * found by the owning worker; inquiries one at a time: iq_req, the one
 * running, is set and cleared by its caller and read by the workers, all
 * under iq_lock, which also guards the inquiry's states and references. */
typedef struct weft__inq_state {
  weft__lock iq_purge_lock;
  struct weft__purge_req *iq_purges;
  uint32_t iq_purge_cap;
  _Atomic uint32_t iq_npurge;
  weft__lock iq_lock;
  struct weft__inq *_Atomic iq_req;
} weft__inq_state;

/* Direct switches in a row after which a suspending task goes through the
 * dispatcher even when nothing else asks for it (worker.c, cold_due): the
 * fairness bound. Inbox work and due timers are seen at the next switch
 * whatever this is; this bounds everything else the dispatcher does.
 * Costs one extra switch per this many. */
#define WEFT__DIRECT_MAX 64

/* Owner-only functions check that they run on w's own thread (its
 * dispatcher or one of its tasks), in debug builds (WEFT_DEBUG >= 2). */
#define weft__assert_owner(w) weft_assert_internal(weft__worker_self() == (w))

struct weft__worker {
  /* -- Owner-only (the worker's thread, dispatcher or task fiber) -------- */
  weft_region *wk_region;
  unsigned wk_id;
  weft__fiber wk_fiber;                /* the dispatcher fiber */
  weft_task *wk_current;               /* task running now, or NULL */
  weft_task *wk_next;                  /* picked by a task, to run first (dispatcher) */
  weft__fctx *wk_dead;                 /* an ended task's fiber to delete (dispatcher) */
  uint32_t wk_direct;                  /* direct switches since the dispatcher ran */
  weft_task *wk_rq_head[WEFT__LEVELS]; /* ready queues, one FIFO per level */
  weft_task *wk_rq_tail[WEFT__LEVELS];
  uint64_t wk_rq_bits[WEFT__LEVELS / 64]; /* non-empty levels */
  uint32_t wk_rq_bands;                   /* bands with a non-empty level */
  uint32_t wk_age_gen;                    /* aging ticks seen */
  bool wk_fifo, wk_acct;                  /* the region's dispatch mode, accounting */
  uint64_t wk_now;                        /* TSC: end of the last dispatch (accounting) */
  weft_task *wk_tasks;                    /* every task this worker owns */
  weft__fctx *wk_fibers;                  /* idle fiber pool */
  uint32_t wk_nfibers, wk_fiber_cap;
  weft_task *wk_free; /* recycled task structs */
  uint32_t wk_nfree;
  weft__timer_heap wk_timers;
  bool wk_purging;  /* PURGE seen: flag every task adopted */
  bool wk_draining; /* DRAIN seen: cancel delayed starts */
  bool wk_stop;
  uint64_t wk_no_next, wk_no_end; /* block of task numbers to hand out */
  unsigned wk_mxcsr;              /* FP defaults for new tasks */
  unsigned short wk_x87cw;
  unsigned short wk_x87cw_now; /* x87 control word this thread has now */
  unsigned wk_mxcsr_now;       /* MXCSR this thread has now */
  weft__thread wk_thread;

  /* -- Statistics: written by the owner, read by any thread -------------- */
  _Atomic uint64_t wk_dispatches; /* bumped as each dispatch begins */
  _Atomic uint64_t wk_run_no;     /* task number of that dispatch */
  _Atomic uint64_t wk_idle_ns, wk_steals;
  uint64_t wk_start_ns, wk_stop_ns; /* thread life, for busy time */
  uint64_t wk_cpu_ns;               /* thread CPU time when it stopped */
  _Atomic uint64_t wk_started, wk_completed, wk_abended;
  _Atomic uint32_t wk_nready; /* also read by thieves */
  _Atomic uint32_t wk_nidle_fibers;
  _Atomic uint32_t wk_credits;    /* admission slots reserved, not yet used */

  /* -- Cross-thread ----------------------------------------------------- */
  weft__mpsc wk_inbox;                   /* work handed to this worker */
  _Atomic uint32_t wk_ctl WEFT__ALIGNED; /* WEFT__CTL_* pending */
  _Atomic uint32_t wk_thief;             /* 1 + id of the worker asking to steal */
  weft__node wk_ctl_node;                /* pushed when wk_ctl goes from 0 */
  /* Written by the region monitor: (dispatch number << 20) | how many ms
   * that dispatch has lasted so far, as the monitor saw it (never more). */
  _Atomic uint64_t wk_runword;
  _Atomic uint32_t wk_sleeping WEFT__ALIGNED; /* 1 while it may sleep */
  _Atomic uint32_t wk_wake_seq;               /* the address it sleeps on */
};


/* worker.c */
int weft__workers_start(weft_region *r);
void weft__workers_join(weft_region *r);
void weft__workers_free(weft_region *r);
weft__worker *weft__worker_self(void); /* the worker this thread is, or NULL */
void weft__worker_post(weft__worker *w, weft__node *n, int kind); /* any thread */
void weft__worker_ctl(weft__worker *w, uint32_t bits);            /* any thread */
void weft__ready_push(weft__worker *w, weft_task *t);             /* owner */
void weft__adopt(weft__worker *w, weft_task *t);                  /* owner */
uint64_t weft__ticks_to_ns(weft_region *r, uint64_t ticks);
void weft__wait_end(weft__worker *w, weft_task *t); /* owner */
void weft__dispatch_suspend(weft__worker *w, weft_task *t); /* t's fiber: yield, wait */
void weft__dispatch_end(weft__worker *w, weft_task *t);     /* t's fiber: t ended */

/* The FP control state the thread has now becomes what the next task is
 * compared with (after anything not a task's own code may have run). */
static inline void weft__fp_resync(weft__worker *w) {
  w->wk_mxcsr_now = weft__fp_get_mxcsr();
  w->wk_x87cw_now = weft__fp_get_x87cw();
}

/* Any timer armed whose cheap TSC gate has passed? Reads the TSC only when
 * a timer is armed. */
static inline bool weft__timers_due(weft__worker *w) {
  return w->wk_timers.th_count && w->wk_timers.th_items[0]->tk_timer.tm_due_tsc <= weft__tsc();
}

/* inquire.c */
void weft__purge_scan(weft__worker *w); /* owner: apply purge requests */
void weft__purge_adopted(weft__worker *w, weft_task *t); /* owner */
void weft__purge_forget(weft_region *r, uint64_t task_no); /* the task ended */
void weft__inq_serve(weft__worker *w); /* owner: answer r_inq.iq_req */

#endif /* WEFT_WORKER_H */
