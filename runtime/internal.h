/* internal.h - the runtime's private structures, shared by the runtime sources.
 *
 * Ownership (after DragonFly's LWKT): a ready, running or waiting task
 * belongs to exactly one worker, its owner, which touches it without locks.
 * Other threads (host threads, offload threads, other workers) hand a task to
 * its owner through the owner's inbox, a lock-free MPSC queue, and never edit
 * a worker's queues. A waiting task may be claimed by exactly one waker, which
 * wins the CAS on tk_wait; only the winner may touch it, and only to hand it
 * back to its owner. Each struct's comment states the rule for its fields.
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "include/weft.h"
#include "runtime/hist.h"
#include "runtime/prim.h"

/* ---- Assertions (mimalloc style) ----------------------------------------
 * WEFT_DEBUG 0: none; 1: weft_assert (cheap, always worth it); 2: adds
 * weft_assert_internal; 3: adds weft_assert_expensive. The failure routine
 * never allocates: it may run on a small fiber stack. */
#ifndef WEFT_DEBUG
#define WEFT_DEBUG 1
#endif
WEFT_NORETURN void weft__assert_fail(const char *expr, const char *file, int line);
#define weft__assert_do(e) ((e) ? (void)0 : weft__assert_fail(#e, __FILE__, __LINE__))
#if WEFT_DEBUG >= 1
#define weft_assert(e) weft__assert_do(e)
#else
#define weft_assert(e) ((void)0)
#endif
#if WEFT_DEBUG >= 2
#define weft_assert_internal(e) weft__assert_do(e)
#else
#define weft_assert_internal(e) ((void)0)
#endif
#if WEFT_DEBUG >= 3
#define weft_assert_expensive(e) weft__assert_do(e)
#else
#define weft_assert_expensive(e) ((void)0)
#endif
/* Defensive checks (SQLite style): true in release, asserted in debug. */
#define ALWAYS(x) (weft__likely(x) ? 1 : (weft_assert_internal(0), 0))
#define NEVER(x) (weft__unlikely(x) ? (weft_assert_internal(0), 1) : 0)

#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)
#define WEFT__CACHELINE 64
#define WEFT__ALIGNED __attribute__((aligned(WEFT__CACHELINE)))

/* Relaxed counters written by one thread, read by any (plain moves). */
#define WEFT__STAT_ADD(field, n)                                                              \
  atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
                        memory_order_relaxed)
#define WEFT__LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

/* Process-wide counters behind weft_runtime_counters_get. */
extern _Atomic int64_t weft__count_fibers, weft__count_threads, weft__count_regions,
    weft__count_tasks;

/* ---- Names --------------------------------------------------------------- */

/* Names of 1-8 printable characters are packed into a uint64 (little endian,
 * zero padded) so tables compare integers. Returns 0 for a bad name. */
uint64_t weft__name_pack(const char *name);

/* ---- Lock-free MPSC queue (Vyukov, intrusive) ---------------------------- */

enum weft__node_kind {
  WEFT__N_ADOPT = 1, /* a task this worker now owns (new, stolen) */
  WEFT__N_WAKE,      /* a waiting task of this worker was woken */
  WEFT__N_DELAYED,   /* a start to run after a delay: arm its timer */
  WEFT__N_CTL,       /* control requests: see wk_ctl */
};

typedef struct weft__node {
  struct weft__node *_Atomic n_next; /* next in the queue (producers, consumer) */
  int n_kind;                        /* enum weft__node_kind, set by the pusher */
} weft__node;

typedef struct weft__mpsc {
  weft__node *_Atomic q_head WEFT__ALIGNED; /* newest; producers exchange it */
  weft__node *q_tail WEFT__ALIGNED;         /* oldest; consumer only */
  weft__node q_stub;                        /* keeps the queue non-empty */
} weft__mpsc;

void weft__mpsc_init(weft__mpsc *q);
/* Any thread. */
void weft__mpsc_push(weft__mpsc *q, weft__node *n);
/* Consumer only. NULL when empty or when a producer is mid-push. */
weft__node *weft__mpsc_pop(weft__mpsc *q);
/* Consumer only: false when certainly empty. */
static inline bool weft__mpsc_maybe_nonempty(weft__mpsc *q) {
  return q->q_tail != &q->q_stub ||
         atomic_load_explicit(&q->q_head, memory_order_acquire) != &q->q_stub;
}

/* ---- Timers (per worker, owner only) ------------------------------------- */

typedef struct weft__timer {
  uint64_t tm_due_ns;  /* never fire before weft__clock_ns() >= this */
  uint64_t tm_due_tsc; /* cheap early gate: check the clock from this TSC on */
  int32_t tm_index;    /* position in the owner's heap, -1 when not armed */
} weft__timer;

typedef struct weft__timer_heap {
  struct weft_task **th_items; /* min-heap by tm_due_ns */
  uint32_t th_count, th_cap;
} weft__timer_heap;

/* ---- Definitions ---------------------------------------------------------- */

typedef struct weft__encl weft__encl; /* below, with accounting */
typedef struct weft__acct weft__acct;

typedef struct weft__prog {
  uint64_t pg_key; /* packed name */
  char pg_name[WEFT_NAME_MAX + 1];
  weft_program_fn pg_fn; /* entry point; immutable */
  _Atomic int pg_disabled; /* weft_program_set_enabled */
} weft__prog;

typedef struct weft__tran {
  uint64_t tr_key; /* packed tranid */
  char tr_id[WEFT_NAME_MAX + 1];
  const weft__prog *tr_prog; /* immutable once defined */
  uint8_t tr_prio;
  unsigned tr_runaway_ms; /* 0: region default */
  weft__encl *tr_encl;    /* its enclave */
  weft__acct *tr_acct;    /* one per worker */
  _Atomic int tr_disabled; /* weft_transaction_set_enabled */
  struct weft__class *tr_class; /* its transaction class, or NULL */
} weft__tran;

/* A transaction class (TRANCLASS): a cap like an enclave's max_active.
 * Immutable but for the fields under cl_lock. */
typedef struct weft__class {
  uint64_t cl_key; /* packed name */
  char cl_name[WEFT_NAME_MAX + 1];
  unsigned cl_purge;           /* queued starts at most (0: max_queued) */
  weft__lock cl_lock;
  unsigned cl_max;             /* max_active (under cl_lock) */
  uint32_t cl_active, cl_queued;
  weft_task *cl_q_head, *cl_q_tail; /* starts waiting for a slot */
  _Atomic uint64_t cl_rejected;
  struct weft__class *cl_next; /* r_class_list (r_def_lock) */
} weft__class;

/* An open-addressing table of immutable definitions. Readers (any thread)
 * need no lock: they load t_cur with acquire and probe; writers hold
 * r_def_lock and publish entries key-last. A full table is replaced by a
 * bigger copy; retired tables are freed with the region. */
typedef struct weft__dtab_arr {
  uint32_t da_mask;                  /* capacity - 1 */
  uint32_t da_count;                 /* entries used (writers only) */
  struct weft__dtab_arr *da_retired; /* older arrays to free at destroy */
  struct {
    _Atomic uint64_t e_key; /* 0 = empty slot */
    void *_Atomic e_val;
  } da_e[];
} weft__dtab_arr;

typedef struct weft__dtab {
  weft__dtab_arr *_Atomic t_cur;
} weft__dtab;

int weft__dtab_init(weft__dtab *t);
void weft__dtab_free(weft__dtab *t, void (*free_val)(void *)); /* free_val may be NULL */
void *weft__dtab_find(weft__dtab *t, uint64_t key);            /* any thread */
int weft__dtab_insert(weft__dtab *t, uint64_t key, void *val); /* r_def_lock held */

/* ---- Enclaves and accounting ---------------------------------------------- */

/* Ready-queue levels: band (0 discretionary .. 7 system) * 256 + priority. */
#define WEFT__BANDS 8
#define WEFT__LEVELS (WEFT__BANDS * 256)
#define WEFT__BAND_SYSTEM 7
#define WEFT__BAND_TOP 6 /* highest band the policy and aging reach */

/* One worker's share of an enclave's or a transaction's accounting: written
 * by that worker only (relaxed stores), summed by readers. Ticks are TSC. */
struct weft__acct {
  _Atomic uint64_t ac_started, ac_completed, ac_abended;
  _Atomic uint64_t ac_dispatches, ac_disp_ticks, ac_first_ticks;
  _Atomic uint64_t ac_wait_ticks[WEFT_WAIT_REASONS];
  weft__hist ac_resp; /* response times (ns) of ended tasks */
};

struct weft__encl {
  /* -- Immutable after definition / creation ---------------------------- */
  char ec_name[WEFT_NAME_MAX + 1]; /* class name (a transient: its base's) */
  uint64_t ec_key;                 /* packed name */
  uint64_t ec_id;                  /* 0 for a defined enclave */
  weft__encl *ec_class;            /* itself, or the base of a transient */
  weft_region *ec_region;
  int ec_importance, ec_goal_type;
  unsigned ec_goal_ms, ec_goal_pct, ec_max_active;
  int ec_static_band; /* band from importance alone */
  /* -- Shared --------------------------------------------------------------- */
  _Atomic int ec_band;          /* dispatch band now (the policy writes) */
  _Atomic uint64_t ec_pi_milli; /* PI * 1000 of the last window (policy) */
  _Atomic int64_t ec_refs;      /* a transient's references */
  weft__encl *ec_next;          /* region list (r_encl_lock) */
  /* -- max_active cap: under ec_cap_lock --------------------------------- */
  weft__lock ec_cap_lock;
  uint32_t ec_active;                     /* tasks holding a cap slot */
  weft_task *ec_capq_head, *ec_capq_tail; /* starts waiting for a slot */
  /* -- Policy (monitor thread only) ------------------------------------- */
  struct weft_enclave_stats ec_prev; /* cumulative figures at the last interval */
  uint64_t ec_prev_end;              /* when the last interval ended (ns) */
  weft__hist ec_prev_resp;
  int ec_misses;        /* intervals in a row it missed its goal */
  weft__acct ec_acct[]; /* one per worker */
};

/* ---- Tasks ---------------------------------------------------------------- */

/* tk_req: what a task asked its dispatcher when it switched out. */
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

/* Every task fiber reserves WEFT__FAULT_PAD bytes under its base frames
 * before running programs; a program check restarts the fiber at
 * WEFT__FAULT_FRAME below the stack base, inside that pad. */
#define WEFT__FAULT_PAD 8192
#define WEFT__FAULT_FRAME 4096

#define WEFT__INLINE_DATA 64 /* start data up to this size lives in the task */
#define WEFT__MAX_HANDLERS 16

typedef struct weft__fctx weft__fctx;
typedef struct weft__worker weft__worker;
typedef struct weft__enq weft__enq;

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
  uint8_t tk_req;             /* WEFT__REQ_* when switching out (owner) */
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
  int tk_nhandlers;
  weft__storage tk_storage; /* getmain list head (circular) */
  weft__enq *tk_enqs;       /* ENQs held (under the ENQ lock) */
  weft__enq *tk_enq_wait;   /* the ENQ it waits for (under the ENQ lock) */
  bool tk_enq_uow;          /* that wait is for a UOW-lifetime ENQ */
  void *tk_uow;             /* its unit of work (txn/), NULL until used */
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

/* ---- Workers -------------------------------------------------------------- */

/* wk_ctl bits: requests from other threads, delivered through wk_ctl_node. */
#define WEFT__CTL_STEAL 0x1u /* hand ready tasks to the worker in wk_thief */
#define WEFT__CTL_DRAIN 0x2u /* shutdown began: cancel delayed starts */
#define WEFT__CTL_PURGE 0x4u /* abend every owned task AEXZ */
#define WEFT__CTL_STOP 0x8u  /* leave the dispatch loop (no tasks left) */
#define WEFT__CTL_AGE 0x10u  /* an aging tick: raise tasks ready since the last */
#define WEFT__CTL_PURGE1 0x20u /* purge the tasks named in r_purges */
#define WEFT__CTL_INQ 0x40u    /* describe the owned tasks into r_inq */

struct weft__worker {
  /* -- Owner-only (the worker's thread, dispatcher or task fiber) -------- */
  weft_region *wk_region;
  unsigned wk_id;
  weft__fiber wk_fiber;                /* the dispatcher fiber */
  weft_task *wk_current;               /* task running now, or NULL */
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

/* ---- Wait queues ------------------------------------------------------------ */

/* A FIFO of waiting tasks, guarded by the lock of the object it belongs to
 * (event, ENQ), which also guards the tasks' tk_wnext and tk_wlinked. */
typedef struct weft__waitq {
  weft_task *wq_head, *wq_tail;
} weft__waitq;

void weft__waitq_push(weft__waitq *q, weft_task *t);
weft_task *weft__waitq_pop(weft__waitq *q);            /* NULL when empty */
void weft__waitq_remove(weft__waitq *q, weft_task *t); /* t must be linked */

/* ---- Cross-file internal functions --------------------------------------- */

/* errors.c */
void weft__log(weft_region *r, char level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/* task.c */
weft_task *weft__task_alloc(weft__worker *w);                       /* w NULL on a host thread */
void weft__task_free(weft__worker *w, weft_task *t);                /* owner */
int weft__task_check(weft_task *t);                                 /* 0 if t is the caller */
void weft__task_switch_out(weft_task *t, int req);                  /* task */
int weft__task_wait(weft_task *t, unsigned timeout_ms, int reason); /* task; tk_wait set */
int weft__task_wait_raw(weft_task *t, unsigned timeout_ms, int reason); /* no abend after */
bool weft__task_claim(weft_task *t);                                /* any thread: win the wake */
void weft__task_wake(weft_task *t, int result);                     /* the claimer */
void weft__task_resume_checks(weft_task *t);                        /* task: purge, runaway */
void weft__task_run(weft__fctx *fc);                                /* the fiber body */
WEFT_NORETURN void weft__task_abend(weft_task *t, const char *code);
WEFT_NORETURN void weft__task_fault_entry(weft_task *t, int kind);
weft_task *weft__fault_task(void);                           /* VEH: task of this fiber */
void weft__task_end_dispatch(weft__worker *w, weft_task *t); /* dispatcher */
int weft__fiber_assign(weft__worker *w, weft_task *t);       /* dispatcher */
void weft__fibers_free(weft__worker *w);
void weft__handlers_drop(weft_task *t, int depth);

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
 * serving, as an immediate shutdown would (region.c). Any thread. */
void weft__region_fail(weft_region *r);
void weft__adm_cancel_all(weft_region *r);
void weft__admit_capped(weft_region *r, weft__worker *w, weft_task *t); /* got a cap slot */
int weft__admit_slot(weft_region *r, weft__worker *w, weft_task *t, bool bounded);

/* timer.c */
void weft__timer_arm(weft__worker *w, weft_task *t, uint64_t due_ns, uint64_t now_ns); /* owner */
void weft__timer_cancel(weft__worker *w, weft_task *t);                                /* owner */
void weft__timers_fire(weft__worker *w);                                               /* owner */
unsigned weft__timers_sleep_ms(weft__worker *w);                                       /* owner */
/* Any timer armed whose cheap TSC gate has passed? Reads the TSC only when
 * a timer is armed. */
static inline bool weft__timers_due(weft__worker *w) {
  return w->wk_timers.th_count && w->wk_timers.th_items[0]->tk_timer.tm_due_tsc <= weft__tsc();
}
void weft__timers_cancel_delayed(weft__worker *w); /* owner */
void weft__timers_free(weft__worker *w);

/* enq.c */
int weft__enq_init(weft_region *r);
void weft__enq_release_all(weft_task *t);
void weft__enq_free(weft_region *r);
void weft__enq_detach(weft_task *t);
void weft__enq_release_uow(weft_task *t); /* task: syncpoint, rollback */
/* Record locks (txn/): an ENQ with UOW lifetime on len bytes at res. 0,
 * WEFT_ETIMEDOUT, WEFT_EDEADLOCK, WEFT_ENOMEM. Task. */
int weft__lock_uow(weft_task *t, const void *res, size_t len, unsigned timeout_ms);
bool weft__lock_held(weft_task *t, const void *res, size_t len);
/* Wait until no other task holds res; holds nothing after. Task. */
int weft__lock_wait_free(weft_task *t, const void *res, size_t len, unsigned timeout_ms);

/* event.c */
void weft__event_detach(weft_task *t);

/* encl.c */
int weft__encl_init(weft_region *r);
void weft__encl_free(weft_region *r);
weft__encl *weft__encl_find(weft_region *r, const char *name);
int weft__encl_classify(weft_region *r, weft_task *t, const weft_start_opts *o);
void weft__encl_put(weft__encl *e, weft_region *r);            /* drop a transient reference */
int weft__cap_take(weft__encl *e, weft_task *t, bool bounded); /* 0, 1 queued, EBUSY */
weft_task *weft__cap_release(weft__encl *e);                   /* a queued start to admit */
void weft__cap_cancel_all(weft_region *r);
weft__acct *weft__acct_new(unsigned workers);
void weft__acct_fold(weft__acct *a, const weft_task *t, uint64_t response_ns);
void weft__stats_fill(weft_region *r, const weft__acct *a, struct weft_enclave_stats *out,
                      weft__hist *resp);
void weft__policy_run(weft_region *r, uint64_t now_ns);
void weft__record_task(weft_region *r, weft__worker *w, weft_task *t, uint64_t response_ns);
void weft__record_interval(weft_region *r, const weft_interval_record *rec);
void weft__records_flush(weft_region *r);
void weft__encl_interval(weft_region *r, weft__encl *e, uint64_t start_ns, uint64_t end_ns,
                         int final);

/* tclass.c */
int weft__class_take(weft__class *c, weft_task *t, bool bounded); /* 0, 1 queued, EBUSY */
weft_task *weft__class_release(weft__class *c);                  /* a queued start to admit */
void weft__class_cancel_all(weft_region *r);
void weft__classes_free(weft_region *r);
weft__class *weft__class_find(weft_region *r, const char *name);

/* start.c: a start that got its class slot continues its admission. */
void weft__admit_classed(weft_region *r, weft__worker *w, weft_task *t);

/* term.c */
int weft__term_attach(struct weft_terminal *term, weft_task *t); /* at start */
void weft__term_detach(struct weft_terminal *term);              /* start refused */
void weft__term_task_end(weft_task *t);                          /* task: end */

/* inquire.c */
void weft__purge_scan(weft__worker *w); /* owner: apply purge requests */
void weft__purge_adopted(weft__worker *w, weft_task *t); /* owner */
void weft__purge_forget(weft_region *r, uint64_t task_no); /* the task ended */
void weft__inq_serve(weft__worker *w); /* owner: answer r_inq */
int weft__purge_request(weft_region *r, uint64_t task_no, const char *code);

/* txn/program.c */
void weft__programs_unload(weft_region *r);
/* txn/ hooks (txn/txn.h has the rest) */
int weft__txn_init(weft_region *r);
void weft__txn_close(weft_region *r);
void weft__txn_free(weft_region *r);
void weft__uow_task_end(weft_task *t);

/* monitor.c */
int weft__monitor_start(weft_region *r);
void weft__monitor_stop(weft_region *r);
void weft__monitor_limit(weft_region *r, unsigned runaway_ms); /* a limit exists */

/* offload.c */
void weft__offload_stop(weft_region *r);

/* defs.c */
const weft__tran *weft__tran_find(weft_region *r, const char *tranid);
const weft__prog *weft__prog_find(weft_region *r, const char *name);
void weft__defs_free(weft_region *r);

#endif /* WEFT_INTERNAL_H */
