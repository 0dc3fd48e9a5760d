/* uow.c - units of work: syncpoint, rollback, the resource-manager
 * interface (two-phase commit, one-phase when alone) and the end of a task
 * (implicit syncpoint or dynamic backout).
 *
 * Ownership: a weft__uow belongs to its task and is used on its fiber only.
 * The objects it owns in the store (sr_owner, q_owner) are changed under
 * x_data. Commit order (txn.h): build the redo records; under x_data and
 * x_log append them with the commit record and apply the UOW in memory;
 * release the locks (early lock release); wait for the flush; then phase
 * two of the resource managers. */
#include <stdlib.h>

#include "runtime/abi.h"
#include "txn/txn.h"

static uint64_t uow_id_new(weft__txn *x) {
  return (x->x_epoch << 32) | (atomic_fetch_add(&x->x_next_uow, 1) + 1);
}

weft__uow *weft__uow_get(weft_task *t) {
  if (weft__uow_of(t) != NULL)
    return weft__uow_of(t);
  weft__uow *u = calloc(1, sizeof *u);
  if (u == NULL)
    return NULL;
  u->u_task = t;
  u->u_id = uow_id_new(weft__txn_of(weft__task_region(t)));
  weft__uow_set(t, u);
  return u;
}

/* Grow an array of elem-sized entries to hold one more. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t elem) {
  if (n < *cap)
    return 0;
  uint32_t nc = *cap ? *cap * 2 : 16;
  void *na = realloc(*arr, nc * elem);
  if (na == NULL)
    return WEFT_ENOMEM;
  *arr = na;
  *cap = nc;
  return 0;
}

int weft__uow_touch(weft__uow *u, int kind, void *obj, weft__sfile *f) {
  if (grow((void **)&u->u_touch, &u->u_cap, u->u_ntouch, sizeof *u->u_touch) != 0)
    return WEFT_ENOMEM;
  u->u_touch[u->u_ntouch++] = (weft__touch){kind, obj, f};
  return 0;
}

int weft__uow_td_put(weft__uow *u, weft__tdq *d, weft__tditem *it) {
  if (grow((void **)&u->u_td_putq, &u->u_putcap, u->u_nput, sizeof *u->u_td_putq) != 0)
    return WEFT_ENOMEM;
  u->u_td_putq[u->u_nput++] = d;
  /* items in order: keep a tail pointer via the list's end */
  it->i_next = NULL;
  weft__tditem **pp = &u->u_td_put;
  while (*pp != NULL)
    pp = &(*pp)->i_next;
  *pp = it;
  return 0;
}

int weft__uow_td_got(weft__uow *u, weft__tdq *d, weft__tditem *it) {
  if (grow((void **)&u->u_td_gotq, &u->u_gotcap, u->u_ngot, sizeof *u->u_td_gotq) != 0)
    return WEFT_ENOMEM;
  u->u_td_gotq[u->u_ngot++] = d; /* oldest first; the list is newest first */
  it->i_next = u->u_td_got;
  u->u_td_got = it;
  return 0;
}

void weft__uow_note_read(weft__uow *u, uint64_t lsn) {
  if (u != NULL && lsn > u->u_read_lsn)
    u->u_read_lsn = lsn;
}

static bool uow_local(const weft__uow *u) {
  return u->u_ntouch || u->u_nput || u->u_ngot;
}

/* ---- Redo records ---------------------------------------------------------- */

static void encode_rec(weft__buf *b, uint64_t id, const weft__touch *tc) {
  const weft__srec *n = tc->tc_obj;
  if (n->sr_val == NULL && !n->sr_existed)
    return; /* written and deleted in this UOW: nothing happened */
  int type = n->sr_val != NULL ? WEFT__LR_FPUT : WEFT__LR_FDEL;
  size_t off = weft__rec_begin(b, type, id);
  unsigned char h[14];
  weft__name_field(h, 8, tc->tc_file->sf_name);
  memcpy(h + 8, &n->sr_klen, 2);
  size_t hl = 10;
  if (type == WEFT__LR_FPUT) {
    weft__put32(h + 10, n->sr_val->v_len);
    hl = 14;
  }
  weft__buf_put(b, h, hl);
  weft__buf_put(b, n->sr_key, n->sr_klen);
  if (type == WEFT__LR_FPUT)
    weft__buf_put(b, n->sr_val->v_data, n->sr_val->v_len);
  weft__rec_end(b, off);
}

static void encode_tsq(weft__buf *b, uint64_t id, const weft__tsq *q) {
  if (q->q_gone) {
    if (!q->q_existed)
      return;
    size_t off = weft__rec_begin(b, WEFT__LR_TSDEL, id);
    unsigned char h[WEFT_QNAME_MAX];
    weft__name_field(h, sizeof h, q->q_name);
    weft__buf_put(b, h, sizeof h);
    weft__rec_end(b, off);
    return;
  }
  weft__tsq_image(b, q->q_name, q->q_items, q->q_n, id);
}

/* The UOW's redo records and its commit record, into u->u_log. */
static int encode(weft__uow *u) {
  weft__buf *b = &u->u_log;
  b->len = 0;
  for (uint32_t i = 0; i < u->u_ntouch; i++) {
    if (u->u_touch[i].tc_kind == WEFT__T_REC)
      encode_rec(b, u->u_id, &u->u_touch[i]);
    else
      encode_tsq(b, u->u_id, u->u_touch[i].tc_obj);
  }
  uint32_t k = 0;
  for (const weft__tditem *it = u->u_td_put; it != NULL; it = it->i_next, k++)
    weft__td_record(b, WEFT__LR_TDPUT, u->u_td_putq[k]->d_name, it->i_val->v_data,
                    it->i_val->v_len, u->u_id);
  for (uint32_t i = 0; i < u->u_ngot; i++)
    weft__td_record(b, WEFT__LR_TDPOP, u->u_td_gotq[i]->d_name, NULL, 1, u->u_id);
  size_t off = weft__rec_begin(b, WEFT__LR_COMMIT, u->u_id);
  uint32_t n = (uint32_t)u->u_nrm;
  weft__buf_put(b, &n, 4);
  for (int i = 0; i < u->u_nrm; i++) {
    unsigned char name[8];
    weft__name_field(name, 8, u->u_rms[i]->rm_name);
    weft__buf_put(b, name, 8);
  }
  weft__rec_end(b, off);
  return b->oom ? WEFT_ENOMEM : 0;
}

/* ---- Applying the outcome in memory (x_data held exclusively) ------------- */

static void rec_commit(weft__sfile *f, weft__srec *n, uint64_t lsn) {
  if (n->sr_before != n->sr_val)
    free(n->sr_before);
  n->sr_before = NULL;
  n->sr_owner = NULL;
  n->sr_lsn = lsn;
  if (n->sr_val == NULL)
    weft__sl_remove(f, n);
}

static void rec_backout(weft__sfile *f, weft__srec *n) {
  if (!n->sr_existed) {
    n->sr_owner = NULL;
    weft__sl_remove(f, n);
    return;
  }
  if (n->sr_val != n->sr_before)
    free(n->sr_val);
  n->sr_val = n->sr_before;
  n->sr_before = NULL;
  n->sr_owner = NULL;
}

static void tsq_before_free(weft__tsq *q) {
  for (uint32_t j = 0; j < q->q_nbefore; j++)
    free(q->q_before[j]);
  free(q->q_before);
  q->q_before = NULL;
  q->q_nbefore = 0;
}

static void tsq_commit(weft_region *r, weft__tsq *q, uint64_t lsn) {
  tsq_before_free(q);
  q->q_owner = NULL;
  q->q_lsn = lsn;
  if (q->q_gone)
    weft__tsq_remove(r, q);
}

static void tsq_backout(weft_region *r, weft__tsq *q) {
  weft__tsq_clear(q);
  free(q->q_items);
  q->q_items = q->q_before;
  q->q_n = q->q_cap = q->q_nbefore;
  q->q_before = NULL;
  q->q_nbefore = 0;
  q->q_owner = NULL;
  q->q_gone = false;
  if (!q->q_existed)
    weft__tsq_remove(r, q);
}

static void apply_commit(weft_region *r, weft__uow *u, uint64_t lsn) {
  for (uint32_t i = 0; i < u->u_ntouch; i++) {
    weft__touch *tc = &u->u_touch[i];
    if (tc->tc_kind == WEFT__T_REC)
      rec_commit(tc->tc_file, tc->tc_obj, lsn);
    else
      tsq_commit(r, tc->tc_obj, lsn);
  }
  uint32_t k = 0;
  for (weft__tditem *it = u->u_td_put, *next; it != NULL; it = next, k++) {
    next = it->i_next;
    u->u_td_putq[k]->d_lsn = lsn;
    weft__tdq_push(u->u_td_putq[k], it);
  }
  for (weft__tditem *it = u->u_td_got, *next; it != NULL; it = next) {
    next = it->i_next;
    free(it->i_val);
    free(it);
  }
}

static void apply_backout(weft_region *r, weft__uow *u) {
  for (uint32_t i = u->u_ntouch; i-- > 0;) {
    weft__touch *tc = &u->u_touch[i];
    if (tc->tc_kind == WEFT__T_REC)
      rec_backout(tc->tc_file, tc->tc_obj);
    else
      tsq_backout(r, tc->tc_obj);
  }
  for (weft__tditem *it = u->u_td_put, *next; it != NULL; it = next) {
    next = it->i_next;
    free(it->i_val);
    free(it);
  }
  uint32_t k = u->u_ngot;
  for (weft__tditem *it = u->u_td_got, *next; it != NULL; it = next) {
    next = it->i_next;
    weft__tdq_push_front(u->u_td_gotq[--k], it);
  }
}

/* A fresh UOW in the same struct. */
static void uow_reset(weft__txn *x, weft__uow *u) {
  u->u_ntouch = u->u_nput = u->u_ngot = 0;
  u->u_td_put = u->u_td_got = NULL;
  u->u_nrm = 0;
  u->u_phase2 = false;
  u->u_read_lsn = 0;
  u->u_log.len = 0;
  u->u_id = uow_id_new(x);
}

/* ---- Pending phase two (x_data held) -------------------------------------- */

static void pending_add(weft__txn *x, uint64_t uow, const char *rm) {
  if (grow((void **)&x->x_pending, &x->x_pendcap, x->x_npending, sizeof *x->x_pending) != 0)
    return; /* only costs the RM a recover call it would not miss */
  x->x_pending[x->x_npending].p_uow = uow;
  strcpy(x->x_pending[x->x_npending++].p_rm, rm);
}

static void pending_drop(weft__txn *x, uint64_t uow, const char *rm) {
  for (uint32_t i = 0; i < x->x_npending; i++) {
    if (x->x_pending[i].p_uow == uow && strcmp(x->x_pending[i].p_rm, rm) == 0) {
      x->x_pending[i] = x->x_pending[--x->x_npending];
      return;
    }
  }
}

/* Log that rm finished phase two of uow (no flush: losing it only repeats
 * a recover call) and forget it. */
static void forget(weft_region *r, uint64_t uow, const char *rm) {
  weft__txn *x = weft__txn_of(r);
  weft__buf b = {0};
  size_t off = weft__rec_begin(&b, WEFT__LR_FORGET, uow);
  unsigned char name[8];
  weft__name_field(name, 8, rm);
  weft__buf_put(&b, name, 8);
  weft__rec_end(&b, off);
  weft__lock_acquire(&x->x_data);
  weft__lock_acquire(&x->x_log);
  if (!b.oom)
    weft__log_append_locked(r, &b);
  pending_drop(x, uow, rm);
  weft__lock_release(&x->x_log);
  weft__lock_release(&x->x_data);
  weft__buf_free(&b);
}

/* ---- Commit and backout ---------------------------------------------------- */

/* Back everything out: store, resource managers, locks. Task. */
static void uow_backout(weft_task *t, weft__uow *u) {
  weft_region *r = weft__task_region(t);
  weft__txn *x = weft__txn_of(r);
  bool local = uow_local(u);
  if (local || u->u_nrm > 0) /* an empty UOW has nothing to back out */
    atomic_fetch_add_explicit(&x->x_rollbacks, 1, memory_order_relaxed);
  if (local) {
    weft__lock_acquire(&x->x_data);
    apply_backout(r, u);
    weft__lock_release(&x->x_data);
  }
  for (int i = 0; i < u->u_nrm && !u->u_phase2; i++)
    if (u->u_rms[i]->rm_ops.rollback != NULL)
      u->u_rms[i]->rm_ops.rollback(u->u_rms[i]->rm_ctx, t, u->u_id);
  if (u->u_phase2)
    weft__log(r, 'W', "task %llu: abend during phase two of committed UOW %llx: its resource "
              "managers are told at the next restart", (unsigned long long)weft__task_no(t),
              (unsigned long long)u->u_id);
  weft__enq_release_uow(t);
  uow_reset(x, u);
  weft__td_triggers(r);
}

/* Phase one for two or more participants: 0 when every RM voted yes. */
static int prepare_all(weft_task *t, weft__uow *u) {
  for (int i = 0; i < u->u_nrm; i++) {
    weft_rm *rm = u->u_rms[i];
    if (rm->rm_ops.prepare != NULL && rm->rm_ops.prepare(rm->rm_ctx, t, u->u_id) != 0) {
      weft__log(weft__task_region(t), 'W', "task %llu: resource manager %s voted no: rolled back",
                (unsigned long long)weft__task_no(t), rm->rm_name);
      return WEFT_EROLLEDBACK;
    }
  }
  return 0;
}

/* Log and apply the commit; returns the LSN to wait for. Task. */
static uint64_t commit_point(weft_region *r, weft__uow *u) {
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  weft__lock_acquire(&x->x_log);
  uint64_t lsn = weft__log_append_locked(r, &u->u_log);
  weft__crash_point(r, "log-append");
  apply_commit(r, u, lsn);
  for (int i = 0; i < u->u_nrm; i++)
    pending_add(x, u->u_id, u->u_rms[i]->rm_name);
  weft__lock_release(&x->x_log);
  weft__lock_release(&x->x_data);
  atomic_fetch_add_explicit(&x->x_commits, 1, memory_order_relaxed);
  return lsn;
}

static void phase_two(weft_task *t, weft__uow *u) {
  weft__crash_point(weft__task_region(t), "phase2");
  for (int i = 0; i < u->u_nrm; i++) {
    weft_rm *rm = u->u_rms[i];
    if (rm->rm_ops.commit_checked != NULL) {
      if (rm->rm_ops.commit_checked(rm->rm_ctx, t, u->u_id) != 0)
        continue; /* still owed: recover at the next restart */
    } else if (rm->rm_ops.commit != NULL) {
      rm->rm_ops.commit(rm->rm_ctx, t, u->u_id);
    }
    forget(weft__task_region(t), u->u_id, rm->rm_name);
  }
}

static int uow_commit(weft_task *t, weft__uow *u) {
  weft_region *r = weft__task_region(t);
  weft__txn *x = weft__txn_of(r);
  bool local = uow_local(u), had_puts = u->u_nput > 0;
  if ((local || u->u_nrm) && atomic_load(&x->x_failed)) {
    uow_backout(t, u);
    return WEFT_ESYS;
  }
  if (!local && u->u_nrm == 1 && u->u_rms[0]->rm_ops.commit_one_phase != NULL) {
    weft_rm *rm = u->u_rms[0];
    int rc = rm->rm_ops.commit_one_phase(rm->rm_ctx, t, u->u_id) == 0 ? 0 : WEFT_EROLLEDBACK;
    weft__enq_release_uow(t);
    uow_reset(x, u);
    return rc;
  }
  int rc = prepare_all(t, u);
  if (rc == 0 && (local || u->u_nrm))
    rc = encode(u);
  if (rc != 0) {
    uow_backout(t, u);
    return rc;
  }
  uint64_t lsn = local || u->u_nrm ? commit_point(r, u) : 0;
  /* Committed: nothing below may back it out (apply_commit consumed the
   * lists; an abend from here on only skips what is left of phase two). */
  u->u_ntouch = u->u_nput = u->u_ngot = 0;
  u->u_td_put = u->u_td_got = NULL;
  u->u_phase2 = u->u_nrm > 0;
  weft__enq_release_uow(t);
  if (had_puts)
    weft__td_triggers(r);
  uint64_t wait = lsn > u->u_read_lsn ? lsn : u->u_read_lsn;
  if (x->x_dir != NULL && wait > atomic_load(&x->x_lsn_durable))
    rc = weft__log_wait(t, wait);
  if (rc == 0 && u->u_nrm)
    phase_two(t, u);
  uow_reset(x, u);
  return rc;
}

int weft_syncpoint(weft_task *t) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  weft__uow *u = weft__uow_of(t);
  if (u == NULL) {
    weft__enq_release_uow(t);
    return 0;
  }
  return uow_commit(t, u);
}

int weft_rollback(weft_task *t) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (weft__uow_of(t) != NULL)
    uow_backout(t, weft__uow_of(t));
  else
    weft__enq_release_uow(t);
  return 0;
}

uint64_t weft_task_uow(weft_task *t) {
  if (weft__task_check(t) != 0)
    return 0;
  weft__uow *u = weft__uow_get(t);
  return u != NULL ? u->u_id : 0;
}

static void uow_free(weft__uow *u) {
  free(u->u_touch);
  free(u->u_td_putq);
  free(u->u_td_gotq);
  weft__buf_free(&u->u_log);
  free(u);
}

/* The task ended (normally or by abend); its own fiber. */
void weft__uow_task_end(weft_task *t, weft__txn *x) {
  weft__uow *u = weft__uow_of(t);
  weft_region *r = weft__task_region(t);
  if (u != NULL) {
    if (weft__task_abended(t)) {
      uow_backout(t, u);
    } else {
      int rc = uow_commit(t, u);
      if (rc != 0) {
        weft__log(r, 'E', "task %llu (%s): syncpoint at task end failed (%s): abend ASP1",
                  (unsigned long long)weft__task_no(t), weft__task_tranid(t), weft_err_name(rc));
        weft__task_mark_abended(t, "ASP1");
      }
    }
    weft__uow_set(t, NULL);
    uow_free(u);
  }
  if (atomic_load_explicit(&x->x_trig_running, memory_order_relaxed) == 0)
    return;
  bool was_trigger = false;
  weft__lock_acquire(&x->x_data);
  for (weft__tdq *d = x->x_tdqs; d != NULL; d = d->d_next) {
    if (d->d_trig_task == weft__task_no(t)) {
      d->d_trig_task = 0;
      atomic_fetch_sub(&x->x_trig_running, 1);
      was_trigger = true;
    }
  }
  weft__lock_release(&x->x_data);
  if (was_trigger)
    weft__td_triggers(r);
}

/* ---- TD triggers (ATI) ----------------------------------------------------- */

void weft__td_triggers(weft_region *r) {
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  for (weft__tdq *d = x->x_tdqs; d != NULL; d = d->d_next) {
    if (d->d_trigger == 0 || d->d_trig_task != 0 || d->d_depth < d->d_trigger)
      continue;
    uint64_t no = 0;
    int rc = weft_start(r, d->d_tranid, d->d_name, strlen(d->d_name), NULL, &no);
    if (rc != 0) {
      weft__log(r, 'W', "TD queue %s: trigger transaction %s not started: %s", d->d_name,
                d->d_tranid, weft_err_name(rc));
      continue;
    }
    d->d_trig_task = no;
    atomic_fetch_add(&x->x_trig_running, 1);
  }
  weft__lock_release(&x->x_data);
}

/* ---- Resource managers ------------------------------------------------------ */

static int rm_register(weft_region *r, const char *name, const weft_rm_ops *ops, void *ctx,
                       weft_rm **out) {
  if (r == NULL || name == NULL || ops == NULL || out == NULL)
    return WEFT_EINVAL;
  if (weft__name_pack(name) == 0)
    return WEFT_EBADNAME;
  if (weft__on_worker())
    return WEFT_ESTATE;
  weft__txn *x = weft__txn_of(r);
  weft_rm *rm = calloc(1, sizeof *rm);
  if (rm == NULL)
    return WEFT_ENOMEM;
  strcpy(rm->rm_name, name);
  rm->rm_ops = *ops;
  rm->rm_ctx = ctx;
  weft__lock_acquire(&x->x_data);
  for (weft_rm *o = x->x_rms; o != NULL; o = o->rm_next) {
    if (strcmp(o->rm_name, name) == 0) {
      weft__lock_release(&x->x_data);
      free(rm);
      return WEFT_EEXIST;
    }
  }
  rm->rm_next = x->x_rms;
  x->x_rms = rm;
  uint64_t owed[64];
  uint32_t nowed;
  do { /* in batches, without the lock while the RM works */
    nowed = 0;
    for (uint32_t i = 0; i < x->x_npending && nowed < 64; i++)
      if (strcmp(x->x_pending[i].p_rm, name) == 0)
        owed[nowed++] = x->x_pending[i].p_uow;
    weft__lock_release(&x->x_data);
    for (uint32_t i = 0; i < nowed; i++) {
      if (ops->recover != NULL)
        ops->recover(ctx, owed[i]);
      forget(r, owed[i], name);
    }
    weft__lock_acquire(&x->x_data);
  } while (nowed == 64);
  weft__lock_release(&x->x_data);
  *out = rm;
  return 0;
}

int weft_rm_enlist(weft_task *t, weft_rm *rm) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if (rm == NULL)
    return WEFT_EINVAL;
  weft__uow *u = weft__uow_get(t);
  if (u == NULL)
    return WEFT_ENOMEM;
  for (int i = 0; i < u->u_nrm; i++)
    if (u->u_rms[i] == rm)
      return 0;
  if (u->u_nrm == WEFT__UOW_RMS)
    return WEFT_ELIMIT;
  u->u_rms[u->u_nrm++] = rm;
  return 0;
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_rm_register_(weft_region *r, const char *name, const weft_rm_ops *ops, size_t size,
                      void *ctx, weft_rm **out) {
  weft_rm_ops buf;
  int rc;
  /* ABI 1 and 2 before commit_checked: the struct ended with recover. */
  ops = weft__abi_in(&buf, sizeof buf, ops, size, offsetof(weft_rm_ops, commit_checked), &rc);
  return rc != 0 ? rc : rm_register(r, name, ops, ctx, out);
}
