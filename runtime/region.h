/* region.h - the region: configuration, admission, lifecycle, offload,
 * the monitor thread and the state of each runtime component (region.c,
 * start.c, offload.c, monitor.c, stats.c). */
#ifndef WEFT_REGION_H
#define WEFT_REGION_H

#include "runtime/defs.h"
#include "runtime/encl.h"
#include "runtime/mpsc.h"
#include "runtime/types.h"

/* ---- Region --------------------------------------------------------------- */

enum { WEFT__R_RUNNING = 0, WEFT__R_DRAINING, WEFT__R_PURGING, WEFT__R_DOWN };

struct weft_region {
  weft_region_config r_cfg; /* immutable after create */
  unsigned r_nworkers;
  weft__worker **r_workers;
  weft__dtab r_progs, r_trans; /* definitions (lock-free readers) */
  weft__lock r_def_lock;       /* writers of r_progs / r_trans, r_dlls */
  struct weft__dll_ref *r_dlls; /* program DLL references (txn/program.c) */

  /* Admission: r_live counts admitted tasks plus the slots workers hold in
   * reserve (wk_credits, at most r_credit_keep each); the queue is
   * under r_adm_lock. */
  _Atomic uint32_t r_live WEFT__ALIGNED;
  _Atomic uint32_t r_nqueued;
  _Atomic uint32_t r_peak;
  _Atomic uint64_t r_next_no WEFT__ALIGNED; /* task numbers */
  _Atomic uint64_t r_seq;                   /* admission order */
  _Atomic uint32_t r_rr;                    /* round robin for host starts */
  uint32_t r_credit_batch;                  /* slots a worker reserves at once */
  uint32_t r_credit_keep;                   /* most it keeps after tasks end (0: none) */
  weft__lock r_adm_lock;
  weft_task **r_adm; /* heap by (priority desc, seq asc) */
  uint32_t r_adm_cap;

  /* Lifecycle: r_state changes under r_life_lock; read by any thread. */
  _Atomic int r_state WEFT__ALIGNED; /* WEFT__R_* */
  weft__lock r_life_lock;
  weft__cond r_life_cond; /* signalled when the region drains */
  bool r_shutdown_called;
  _Atomic uint32_t r_delayed; /* delayed starts not yet due */
  _Atomic uint64_t r_rejected, r_cancelled;

  /* ENQ table: under r_enq_lock. */
  weft__lock r_enq_lock;
  weft__enq **r_enq_buckets;
  uint32_t r_enq_mask;

  /* Offload pool: under r_off_lock. */
  weft__lock r_off_lock;
  weft__cond r_off_cond;
  weft_task *r_off_head, *r_off_tail; /* jobs waiting for a thread */
  unsigned r_off_threads, r_off_idle;
  bool r_off_stop;
  weft__thread *r_off_handles;

  double r_tsc_per_ns;

  /* Enclaves: the list (classes first, then transients) under r_encl_lock;
   * classes are also in r_encls for lookups without a lock. */
  weft__dtab r_encls;
  weft__lock r_encl_lock;
  weft__encl *r_encl_list;
  weft__encl *r_default; /* WEFT_DEFAULT_ENCLAVE */
  _Atomic uint64_t r_next_encl_id;
  _Atomic uint32_t r_capq; /* starts waiting for an enclave cap slot */
  /* Records for the JSON Lines file, written by the monitor thread. */
  weft__mpsc r_recq;
  void *r_recfile; /* FILE *, monitor thread only */

  /* Transaction classes: r_classes for lookups, the list under r_def_lock. */
  weft__dtab r_classes;
  weft__class *r_class_list;

  /* Purges of single tasks (weft_task_purge, terminal release): requests
   * under r_purge_lock, found by the owning worker (runtime/inquire.c). */
  weft__lock r_purge_lock;
  struct weft__purge_req *r_purges;
  uint32_t r_purge_cap;
  _Atomic uint32_t r_npurge;
  /* Task inquiries: one at a time under r_inq_lock. */
  weft__lock r_inq_lock;
  struct weft__inq *_Atomic r_inq;

  /* Units of work, recoverable resources and the log (txn/txn.h). */
  struct weft__txn *r_txn;
  _Atomic uint64_t r_deadlocks, r_lock_timeouts;

  /* Monitor thread: runaway detection and reports (r_mon_lock). */
  weft__lock r_mon_lock;
  weft__cond r_mon_cond;
  bool r_mon_stop;
  weft__thread r_mon_thread;
  _Atomic uint32_t r_mon_period_ms; /* sampling period */
};

#define WEFT__RUNWORD_MS_BITS 20
#define WEFT__RUNWORD_MS_MAX ((1u << WEFT__RUNWORD_MS_BITS) - 1)

/* start.c */
void weft__admit_pump(weft_region *r, weft__worker *w);     /* after live-- */
void weft__slot_release(weft_region *r, weft__worker *w);   /* owner: a task ended */
void weft__credits_return(weft_region *r, weft__worker *w); /* owner: all back */
uint64_t weft__task_no_next(weft_region *r, weft__worker *w);
void weft__start_delayed_arm(weft__worker *w, weft_task *t);  /* owner */
void weft__start_delayed_fire(weft__worker *w, weft_task *t); /* owner */
void weft__start_cancel(weft_task *t, weft__worker *w);       /* owner */
void weft__region_check_drained(weft_region *r);
/* The region can no longer keep its promises (its log failed): it stops
 * serving, as an immediate shutdown would: starts refused, queued and
 * delayed ones dropped, every task purged (region.c). Any thread. */
void weft__region_fail(weft_region *r);
void weft__adm_cancel_all(weft_region *r);
void weft__admit_capped(weft_region *r, weft__worker *w, weft_task *t); /* got a cap slot */
int weft__admit_slot(weft_region *r, weft__worker *w, weft_task *t, bool bounded);
/* start.c: a start that got its class slot continues its admission. */
void weft__admit_classed(weft_region *r, weft__worker *w, weft_task *t);

int weft__purge_request(weft_region *r, uint64_t task_no, const char *code);

/* monitor.c */
int weft__monitor_start(weft_region *r);
void weft__monitor_stop(weft_region *r);
void weft__monitor_limit(weft_region *r, unsigned runaway_ms); /* a limit exists */

/* offload.c */
void weft__offload_stop(weft_region *r);

#endif /* WEFT_REGION_H */
