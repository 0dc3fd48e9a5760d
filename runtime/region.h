/* region.h - the region: configuration, admission, lifecycle, offload,
 * the monitor thread and the state of each runtime component (region.c,
 * start.c, offload.c, monitor.c, stats.c). */
#ifndef WEFT_REGION_H
#define WEFT_REGION_H

#include "runtime/defs.h"
#include "runtime/encl.h"
#include "runtime/enq.h"
#include "runtime/mpsc.h"
#include "runtime/subsys.h"
#include "runtime/types.h"
#include "runtime/worker.h"

/* ---- Region --------------------------------------------------------------- */

#define WEFT__SS_MAX 24 /* rows of a region's lifecycle table */

enum { WEFT__R_RUNNING = 0, WEFT__R_DRAINING, WEFT__R_PURGING, WEFT__R_DOWN };

/* The offload pool (weft_region.r_off, offload.c): under of_lock. */
typedef struct weft__offload_state {
  weft__lock of_lock;
  weft__cond of_cond;
  weft_task *of_head, *of_tail; /* jobs waiting for a thread */
  unsigned of_threads, of_idle;
  bool of_stop;
  weft__thread *of_handles;
} weft__offload_state;

/* The monitor thread (weft_region.r_mon, monitor.c): runaway detection,
 * the policy, aging and reports; under mn_lock. */
typedef struct weft__monitor_state {
  weft__lock mn_lock;
  weft__cond mn_cond;
  bool mn_stop;
  weft__thread mn_thread;
  _Atomic uint32_t mn_period_ms; /* sampling period */
  _Atomic uint32_t mn_limit_ms;  /* the smallest runaway limit in use (UINT32_MAX: none) */
  uintptr_t mn_caller;           /* weft__task_program_caller(), where programs are called */
  uintptr_t mn_caller_base;      /* the base of the runtime's module, which holds it */
} weft__monitor_state;

/* A region. Each component keeps its state in its own embedded struct,
 * whose comment states its rule; the fields here are the region's own. */
struct weft_region {
  weft_region_config r_cfg; /* immutable after create */
  unsigned r_nworkers;
  weft__worker **r_workers;
  weft__defs_state r_defs; /* programs, transactions, classes (defs.h) */

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

  weft__enq_state r_enq;     /* ENQ table, record-lock figures (enq.h) */
  weft__offload_state r_off; /* offload pool */
  double r_tsc_per_ns;
  uint64_t r_ticks_fx; /* weft__ticks_fx(r_tsc_per_ns): weft__ticks_to_ns */
  weft__encl_state r_encl; /* enclaves, records (encl.h) */
  weft__inq_state r_inq;   /* purges of single tasks, inquiries (worker.h) */

  /* The lifecycle table (subsys.h): written at create, then read-only. */
  struct weft__ss_row {
    const weft__subsys *sr_ss;
    void *sr_state; /* what its ss_create stored */
  } r_ss[WEFT__SS_MAX];
  unsigned r_nss;     /* rows */
  unsigned r_created; /* rows whose ss_create was called */
  struct weft__ss_end {
    void (*se_fn)(weft_task *t, void *state);
    void *se_state;
  } r_ss_end[WEFT__SS_MAX]; /* the rows' ss_task_end, in table order */
  unsigned r_nss_end;
  bool r_fault_installed; /* the fault row's create succeeded */

  weft__monitor_state r_mon; /* the monitor thread */
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
void weft__adm_cancel_all(weft_region *r);
void weft__admit_capped(weft_region *r, weft__worker *w, weft_task *t); /* got a cap slot */
int weft__admit_slot(weft_region *r, weft__worker *w, weft_task *t, bool bounded);
/* start.c: a start that got its class slot continues its admission. */
void weft__admit_classed(weft_region *r, weft__worker *w, weft_task *t);

int weft__purge_request(weft_region *r, uint64_t task_no, const char *code);

/* region.c: run every row's ss_task_end for task t ending. Task. */
void weft__subsys_task_end(weft_task *t);

/* monitor.c */
int weft__monitor_start(weft_region *r);
void weft__monitor_stop(weft_region *r);
void weft__monitor_limit(weft_region *r, unsigned runaway_ms); /* a limit exists */

/* offload.c */
void weft__offload_stop(weft_region *r);

#endif /* WEFT_REGION_H */
