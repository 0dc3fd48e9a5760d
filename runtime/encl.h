/* encl.h - enclaves (service classes with goals), per-worker accounting,
 * the goal policy and the JSON Lines records (encl.c, records.c). */
#ifndef WEFT_ENCL_H
#define WEFT_ENCL_H

#include "runtime/hist.h"
#include "runtime/mpsc.h"
#include "runtime/defs.h"
#include "runtime/types.h"

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
  weft__encl *ec_next;          /* region list (r_encl.en_lock) */
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


/* encl.c */
/* The region's enclaves (weft_region.r_encl): the list (classes first,
 * then transients) under en_lock; classes are also in en_table for
 * lookups without a lock. */
typedef struct weft__encl_state {
  weft__dtab en_table;
  weft__lock en_lock;
  weft__encl *en_list;
  weft__encl *en_default; /* WEFT_DEFAULT_ENCLAVE */
  _Atomic uint64_t en_next_id;
  _Atomic uint32_t en_capq; /* starts waiting for an enclave cap slot */
  /* Records for the JSON Lines file, written by the monitor thread. */
  weft__mpsc en_recq;
  void *en_recfile; /* FILE *, monitor thread only */
} weft__encl_state;

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

#endif /* WEFT_ENCL_H */
