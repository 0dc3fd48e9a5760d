/* defs.h - definitions: programs, transactions, transaction classes and
 * the lock-free tables that hold them (defs.c, tclass.c, program.c). */
#ifndef WEFT_DEFS_H
#define WEFT_DEFS_H

#include "runtime/taskapi.h"
#include "runtime/types.h"


typedef struct weft__prog {
  uint64_t pg_key; /* packed name */
  char pg_name[WEFT_NAME_MAX + 1];
  weft_program_fn pg_fn; /* entry point; immutable */
  /* The code module that holds pg_fn (its DLL, or the host executable),
   * [lo, hi): where the monitor may interrupt a runaway task running this
   * program. 0, 0 when it is the module of the runtime itself (a host that
   * links the static library). Immutable. */
  uintptr_t pg_code_lo, pg_code_hi;
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
  struct weft__class *cl_next; /* r_defs.df_class_list (r_defs.df_lock) */
} weft__class;

/* An open-addressing table of immutable definitions. Readers (any thread)
 * need no lock: they load t_cur with acquire and probe; writers hold
 * r_defs.df_lock and publish entries key-last. A full table is replaced by a
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

/* The region's definitions (weft_region.r_defs). Readers of the tables
 * need no lock; writers hold df_lock, which also guards the class list
 * and the DLL references. */
typedef struct weft__defs_state {
  weft__dtab df_progs, df_trans; /* programs, transactions (lock-free readers) */
  weft__dtab df_classes;         /* transaction classes, for lookups */
  weft__lock df_lock;            /* writers of the tables, df_class_list, df_dlls */
  weft__class *df_class_list;    /* every class (df_lock) */
  struct weft__dll_ref *df_dlls; /* program DLL references (program.c) */
} weft__defs_state;

int weft__dtab_init(weft__dtab *t);
void weft__dtab_free(weft__dtab *t, void (*free_val)(void *)); /* free_val may be NULL */
void *weft__dtab_find(weft__dtab *t, uint64_t key);            /* any thread */
int weft__dtab_insert(weft__dtab *t, uint64_t key, void *val); /* r_defs.df_lock held */


/* defs.c */
const weft__prog *weft__prog_find(weft_region *r, const char *name);
void weft__defs_free(weft_region *r);

/* program.c: release the program DLLs. Host thread, workers stopped. */
void weft__programs_unload(weft_region *r);

/* tclass.c */
int weft__class_take(weft__class *c, weft_task *t, bool bounded); /* 0, 1 queued, EBUSY */
weft_task *weft__class_release(weft__class *c);                  /* a queued start to admit */
void weft__class_cancel_all(weft_region *r);
void weft__classes_free(weft_region *r);
weft__class *weft__class_find(weft_region *r, const char *name);

#endif /* WEFT_DEFS_H */
