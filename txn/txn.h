/* txn.h - units of work, the store of recoverable resources and the log:
 * the private structures shared by the txn/ sources.
 *
 * The model (docs/recovery.md): recoverable resources live in memory (the
 * store) and are made durable by a redo-only write-ahead log plus periodic
 * checkpoints (snapshots of the committed state). A unit of work changes
 * the store in place, keeping the committed image of everything it touched
 * (sr_before, q_before) and owning it (sr_owner) until it ends; nobody else
 * reads an owned object, they wait for its record lock. At commit the UOW's
 * after-images and a commit record are appended to the log and applied in
 * memory in one step under the store lock; its locks are released at once
 * and the task waits until the log writer has flushed its commit record.
 * Uncommitted work never reaches the log, so restart only redoes.
 *
 * Locks, in the order they may nest: x_data (the store), then x_log (the
 * log buffers and waiters). r_enq.eq_lock (record locks) is never taken while
 * either is held.
 */
#ifndef WEFT_TXN_H
#define WEFT_TXN_H

#include "runtime/taskapi.h"
#include "runtime/types.h"

/* ---- Byte buffers and the record codec (codec.c) -------------------------- */

typedef struct weft__buf {
  unsigned char *b;
  size_t len, cap;
  bool oom; /* an append failed: the content is incomplete */
} weft__buf;

void weft__buf_put(weft__buf *b, const void *p, size_t n);
void weft__buf_free(weft__buf *b);

uint32_t weft__crc32c(uint32_t crc, const void *p, size_t n);

/* File layout: a 32-byte header, then records. */
#define WEFT__FHDR_SIZE 32
#define WEFT__LOG_MAGIC "WEFTLOG1"
#define WEFT__CKPT_MAGIC "WEFTCKP1"
/* Record header: u32 magic, u32 payload length, u64 uow, u8 type, u8 flags,
 * u16 0, u32 crc32c of bytes 4..19 and the payload. */
#define WEFT__RHDR_SIZE 24
#define WEFT__REC_MAGIC 0x3152574Cu /* "LWR1" */
#define WEFT__REC_MAX (64u << 20)   /* longest payload accepted */

enum weft__rtype {
  WEFT__LR_FPUT = 1, /* file[8] u16 klen u32 dlen key data: record is this */
  WEFT__LR_FDEL,     /* file[8] u16 klen key: record deleted */
  WEFT__LR_TSQ,      /* name[16] u32 n, n x (u32 len, bytes): queue is this */
  WEFT__LR_TSDEL,    /* name[16]: queue deleted */
  WEFT__LR_TDPUT,    /* name[16] u32 len bytes: item appended */
  WEFT__LR_TDPOP,    /* name[16] u32 count: items taken from the front */
  WEFT__LR_COMMIT,   /* u32 n, n x rm[8]: the UOW committed (and these RMs) */
  WEFT__LR_FORGET,   /* rm[8]: the RM finished phase two of the UOW */
  WEFT__LR_PENDING,  /* checkpoint: rm[8]: phase two of the UOW is owed */
  WEFT__LR_END,      /* checkpoint: u64 records before it */
};

/* Start a record of type for uow in b; returns its offset for rec_end. */
size_t weft__rec_begin(weft__buf *b, int type, uint64_t uow);
/* Fill in the length and checksum of the record begun at off. */
void weft__rec_end(weft__buf *b, size_t off);

typedef struct weft__rec {
  int type;
  uint64_t uow;
  const unsigned char *p; /* payload */
  uint32_t len;           /* payload bytes */
  size_t size;            /* header + payload */
} weft__rec;

/* Parse the record at p (avail bytes): 1 and *out, 0 when it runs past
 * avail (torn), -1 when the magic or checksum is wrong. */
int weft__rec_parse(const unsigned char *p, size_t avail, weft__rec *out);

/* A file header: magic, then u64 generation, u32 flags, u32 crc. */
#define WEFT__FH_CLEAN 0x1u /* checkpoint of a clean shutdown */
void weft__fhdr_make(unsigned char out[WEFT__FHDR_SIZE], const char *magic, uint64_t gen,
                     uint32_t flags);
/* 0 and gen, flags; or -1. */
int weft__fhdr_check(const unsigned char *p, size_t avail, const char *magic, uint64_t *gen,
                     uint32_t *flags);

/* Little-endian field helpers. */
static inline void weft__put32(unsigned char *p, uint32_t v) {
  memcpy(p, &v, 4);
}
static inline uint32_t weft__get32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline uint64_t weft__get64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* ---- The store (store.c) -------------------------------------------------- */

typedef struct weft__uow weft__uow;
typedef struct weft__txn weft__txn; /* below, with the log */

/* A value: immutable once made. */
typedef struct weft__sval {
  uint32_t v_len;
  unsigned char v_data[];
} weft__sval;

weft__sval *weft__sval_new(const void *p, size_t n);
/* Copy v into buf (cap bytes); *len (if not NULL) gets its size. A buf too
 * small: WEFT_ERANGE and nothing copied. */
int weft__sval_copy_out(const weft__sval *v, void *buf, size_t cap, size_t *len);

#define WEFT__SL_LEVELS 24

/* A record of a keyed file: a skip-list node. x_data guards every field. */
typedef struct weft__srec {
  weft__uow *sr_owner;       /* UOW with an uncommitted change, or NULL */
  weft__sval *sr_val;        /* current value; NULL: deleted by sr_owner */
  weft__sval *sr_before;     /* committed value while owned */
  bool sr_existed;           /* while owned: a committed record existed */
  uint8_t sr_level;          /* skip-list levels */
  uint16_t sr_klen;
  uint64_t sr_lsn;           /* log position of its last committed change */
  struct weft__srec *sr_prev; /* level-0 back link (NULL: first) */
  unsigned char *sr_key;     /* points into the node */
  struct weft__srec *sr_next[];
} weft__srec;

typedef struct weft__sfile {
  char sf_name[WEFT_NAME_MAX + 1];
  uint64_t sf_key;              /* packed name */
  bool sf_defined;              /* weft_file_define ran (else: only recovered) */
  unsigned sf_key_max, sf_rec_max;
  uint64_t sf_count;            /* nodes, tombstones included */
  uint32_t sf_rng;
  int sf_levels;                /* levels in use */
  weft__srec *sf_tail;          /* last node */
  weft__srec *sf_head;          /* sentinel with WEFT__SL_LEVELS links */
  struct weft__sfile *sf_next;
} weft__sfile;

/* A TS queue. x_data guards it. */
typedef struct weft__tsq {
  char q_name[WEFT_QNAME_MAX + 1];
  bool q_recoverable;
  bool q_gone;                  /* deleted by q_owner (a tombstone until commit) */
  weft__sval **q_items;
  uint32_t q_n, q_cap;
  uint32_t q_cursor;            /* last item read (0: none) */
  weft__uow *q_owner;           /* recoverable: UOW with an uncommitted change */
  weft__sval **q_before;        /* committed items while owned */
  uint32_t q_nbefore;
  bool q_existed;               /* while owned: the queue existed committed */
  uint64_t q_lsn;
  struct weft__tsq *q_next;     /* hash chain */
} weft__tsq;

/* A TD queue item. */
typedef struct weft__tditem {
  struct weft__tditem *i_next;
  weft__sval *i_val;
} weft__tditem;

/* A TD queue. x_data guards it. */
typedef struct weft__tdq {
  char d_name[WEFT_QNAME_MAX + 1];
  bool d_defined, d_recoverable;
  unsigned d_trigger;
  char d_tranid[WEFT_NAME_MAX + 1];
  weft__tditem *d_head, *d_tail;
  uint64_t d_depth;
  uint64_t d_trig_task;         /* task it triggered and that still runs; 0 none */
  uint64_t d_lsn;
  struct weft__tdq *d_next;
} weft__tdq;

typedef struct weft__tsmodel {
  char m_name[WEFT_QNAME_MAX + 1]; /* without the '*' */
  bool m_prefix, m_recoverable;
  struct weft__tsmodel *m_next;
} weft__tsmodel;

#define WEFT__TSQ_BUCKETS 1024

/* Find a file by name (x_data held). */
weft__sfile *weft__sfile_find(weft_region *r, const char *name);
weft__sfile *weft__sfile_get(weft_region *r, const char *name); /* find or make */
/* First node with key >= k (gt: > k), or NULL. */
weft__srec *weft__sl_seek(weft__sfile *f, const void *k, size_t klen, bool gt);
/* The node with exactly this key, or NULL. */
weft__srec *weft__sl_find(weft__sfile *f, const void *k, size_t klen);
/* Insert a node for key k (not present); NULL on exhaustion. */
weft__srec *weft__sl_insert(weft__sfile *f, const void *k, size_t klen);
void weft__sl_remove(weft__sfile *f, weft__srec *n);
int weft__key_cmp(const void *a, size_t alen, const void *b, size_t blen);

weft__tsq *weft__tsq_find(weft_region *r, const char *name);
weft__tsq *weft__tsq_get(weft_region *r, const char *name); /* find or make */
void weft__tsq_remove(weft_region *r, weft__tsq *q);
void weft__tsq_clear(weft__tsq *q);
weft__tdq *weft__tdq_find(weft_region *r, const char *name);
weft__tdq *weft__tdq_get(weft_region *r, const char *name);
void weft__tdq_push(weft__tdq *d, weft__tditem *it);     /* at the back */
weft__tditem *weft__tdq_pop(weft__tdq *d);               /* the front */
void weft__tdq_push_front(weft__tdq *d, weft__tditem *it);
bool weft__tsq_recoverable(weft_region *r, const char *name);

/* Redo one change record (recovery). 0, or WEFT_ECORRUPT (malformed). */
int weft__store_redo(weft_region *r, const weft__rec *rec);
/* Append the committed state as checkpoint records to b; returns the
 * number of records. x_data and x_log held. */
uint64_t weft__store_snapshot(weft_region *r, weft__buf *b, uint64_t *pending_out);
void weft__store_free(weft_region *r);

/* Encode a TS queue image / a TD record (TDPUT: data, n bytes; TDPOP: n
 * items) into b. */
void weft__tsq_image(weft__buf *b, const char *name, weft__sval *const *items, uint32_t n,
                     uint64_t uow);
void weft__td_record(weft__buf *b, int type, const char *name, const void *data, uint32_t n,
                     uint64_t uow);

/* A queue or resource name padded into a fixed field. */
void weft__name_field(unsigned char *out, size_t width, const char *name);

/* ---- Units of work (uow.c) ----------------------------------------------- */

enum { WEFT__T_REC = 1, WEFT__T_TSQ };

typedef struct weft__touch {
  int tc_kind;
  void *tc_obj;          /* weft__srec or weft__tsq */
  weft__sfile *tc_file;  /* of a record */
} weft__touch;

#define WEFT__UOW_RMS 16

struct weft_rm {
  char rm_name[WEFT_NAME_MAX + 1];
  weft_rm_ops rm_ops;
  void *rm_ctx;
  struct weft_rm *rm_next;
};

/* A task's unit of work: owned by the task (its fiber only). */
struct weft__uow {
  uint64_t u_id;
  weft_task *u_task;
  weft__touch *u_touch; /* records and TS queues it owns, in order */
  uint32_t u_ntouch, u_cap;
  weft__tditem *u_td_put; /* recoverable TD writes, appended at commit */
  weft__tdq **u_td_putq;  /* ... and their queues (same order) */
  uint32_t u_nput, u_putcap;
  weft__tditem *u_td_got; /* recoverable TD reads, newest first */
  weft__tdq **u_td_gotq;
  uint32_t u_ngot, u_gotcap;
  weft_rm *u_rms[WEFT__UOW_RMS];
  int u_nrm;
  uint64_t u_read_lsn; /* newest commit it read (ELR: wait for it) */
  bool u_phase2;       /* committed: RMs are being told; never roll them back */
  weft__buf u_log;     /* redo records built at commit */
};

/* The task's UOW, made on first use (NULL on exhaustion). Task. */
weft__uow *weft__uow_get(weft_task *t);
int weft__uow_touch(weft__uow *u, int kind, void *obj, weft__sfile *f); /* x_data held */
int weft__uow_td_put(weft__uow *u, weft__tdq *d, weft__tditem *it);
int weft__uow_td_got(weft__uow *u, weft__tdq *d, weft__tditem *it);
/* At task end: commit (normal end) or back out (abend). Task. */
void weft__uow_task_end(weft_task *t, weft__txn *x);
void weft__uow_note_read(weft__uow *u, uint64_t lsn);
/* Start the transactions of TD queues that reached their trigger level. */
void weft__td_triggers(weft_region *r);

/* ---- The log (log.c) ----------------------------------------------------- */

typedef struct weft__logwait {
  weft_task *lw_task;
  uint64_t lw_lsn;
  struct weft__logwait *lw_next;
} weft__logwait;

/* Region-wide txn state: r_txn. */
typedef struct weft__txn {
  char *x_dir; /* data_dir, or NULL */
  weft__file x_dir_lock; /* its weft.lock, held from recovery to free */
  /* -- The store: under x_data ---------------------------------------- */
  weft__lock x_data;
  weft__sfile *x_files;
  weft__tsq *x_tsq[WEFT__TSQ_BUCKETS];
  weft__tdq *x_tdqs;
  weft__tsmodel *x_models;
  _Atomic uint32_t x_trig_running; /* tasks started by TD triggers, running */
  /* -- Resource managers: under x_data -------------------------------- */
  weft_rm *x_rms;
  struct weft__pending {
    uint64_t p_uow;
    char p_rm[WEFT_NAME_MAX + 1];
  } *x_pending; /* committed UOWs whose RM phase two is owed */
  uint32_t x_npending, x_pendcap;
  /* -- UOW ids --------------------------------------------------------- */
  uint64_t x_epoch; /* high 32 bits of every UOW id this run */
  _Atomic uint64_t x_next_uow;
  /* -- The log: under x_log --------------------------------------------- */
  weft__lock x_log;
  weft__cond x_log_cond;      /* the writer waits for work */
  weft__buf x_buf;            /* appended, not yet written */
  uint64_t x_lsn_end;         /* log position after the last append */
  _Atomic uint64_t x_lsn_durable; /* flushed up to here */
  weft__logwait *x_wait_head, *x_wait_tail; /* commits waiting, in LSN order */
  bool x_writer_idle, x_stop, x_ckpt_req;
  int x_ckpt_rc;              /* result of the last requested checkpoint */
  uint64_t x_ckpt_done;       /* checkpoints finished (requests wait on it) */
  _Atomic int x_failed;       /* a write or flush failed: the store is closed */
  weft__thread x_writer;
  bool x_writer_up;
  /* -- The writer thread's own --------------------------------------- */
  weft__file x_file; /* current log file */
  uint64_t x_gen;    /* its generation */
  uint64_t x_file_off;
#ifdef WEFT_TEST_HOOKS
  /* -- Fault injection (txn/hooks.c): set at create, then atomics ------- */
  char x_crash[32];
  _Atomic long x_crash_left;
#endif
  /* -- Figures ----------------------------------------------------------- */
  _Atomic uint64_t x_commits, x_flushes, x_bytes, x_ckpts, x_rollbacks;
  weft_recovery_info x_info;
} weft__txn;

/* ---- Test hooks (txn/hooks.c, only in the weft_test library) ------------
 * Crash and fault points, armed by WEFT_CRASH=<point>[:<n>] when the
 * region is created (docs/recovery.md). They exist only where
 * WEFT_TEST_HOOKS is defined: in weft.dll and weft_static the calls below
 * compile to nothing, and WEFT_CRASH means nothing. */

#define WEFT__CRASH_EXIT 86

#ifdef WEFT_TEST_HOOKS
/* Read WEFT_CRASH into x (region create, host thread). */
void weft__hooks_config(weft__txn *x);
/* End the process if crash point `name` is armed and due. Any thread. */
void weft__crash_point(weft_region *r, const char *name);
/* True once, at the armed pass of fault point `name`: the caller then
 * fails as the operating system would have. Any thread. */
bool weft__fault_point(weft_region *r, const char *name);
#else
static inline void weft__hooks_config(weft__txn *x) {
  (void)x;
}
static inline void weft__crash_point(weft_region *r, const char *name) {
  (void)r;
  (void)name;
}
static inline bool weft__fault_point(weft_region *r, const char *name) {
  (void)r;
  (void)name;
  return false;
}
#endif

int weft__log_start(weft_region *r); /* after recovery: start the writer */
void weft__log_stop(weft_region *r); /* flush everything, join the writer */
/* Append b's records (x_log held by the caller); returns the LSN after them. */
uint64_t weft__log_append_locked(weft_region *r, const weft__buf *b);
/* Wait (task, suspended) until the log is durable up to lsn: 0 or WEFT_ESYS. */
int weft__log_wait(weft_task *t, uint64_t lsn);
/* Take a checkpoint (host or writer thread). */
int weft__log_checkpoint(weft_region *r, bool clean);
/* Write a checkpoint of generation gen to the data directory from an
 * already built snapshot, then drop older files. Writer / host thread. */
int weft__ckpt_write(weft_region *r, uint64_t gen, const weft__buf *snap, bool clean);
/* Path of a data-directory file. */
void weft__data_path(weft_region *r, char *out, size_t cap, const char *kind, uint64_t gen,
                     const char *suffix);
/* The inverse of weft__data_path: for a data-directory file name, its
 * kind ("log" or "ckpt") and generation, and returns what follows them
 * ("" or ".tmp"); NULL for a name that is none of these. */
const char *weft__data_name_parse(const char *name, char kind[8], uint64_t *gen);
/* Remove checkpoint and log files of generations < gen. */
void weft__data_drop_before(weft_region *r, uint64_t gen);
/* Open a fresh log file of generation gen (header written and flushed). */
int weft__log_file_new(weft_region *r, uint64_t gen, weft__file *out);

/* recover.c: open the data directory, restore the store, report. Host. */
int weft__recover(weft_region *r);

/* txn.c: txn/'s row in the region's lifecycle table (runtime/subsys.h):
 * create sets up the store, restart recovery and the log writer; quiesce
 * writes the clean-shutdown checkpoint; free releases it all; each task's
 * end commits or backs out its unit of work (weft__uow_task_end). Listed in
 * lib/subsystems.c. */
extern const weft__subsys weft__txn_subsys;

/* The region's txn state (set from the start of txn/'s create). Any thread. */
static inline weft__txn *weft__txn_of(weft_region *r) {
  return weft__subsys_state(r, &weft__txn_subsys);
}

/* The task's unit of work, or NULL; set it. Task. */
static inline weft__uow *weft__uow_of(weft_task *t) {
  return *weft__task_slot(t, &weft__txn_subsys);
}
static inline void weft__uow_set(weft_task *t, weft__uow *u) {
  *weft__task_slot(t, &weft__txn_subsys) = u;
}

/* The store is closed once the log has failed: WEFT_ESYS, else 0. Every
 * file and queue call (file_args, q_args, weft_browse_next,
 * weft_td_depth) checks it first, so that no reader sees a commit that
 * may never become durable (its after-images were applied in memory
 * before the flush that failed). Any thread. */
static inline int weft__store_check(weft_region *r) {
  return atomic_load_explicit(&weft__txn_of(r)->x_failed, memory_order_acquire) ? WEFT_ESYS : 0;
}

#endif /* WEFT_TXN_H */
