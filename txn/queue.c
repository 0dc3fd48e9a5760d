/* queue.c - temporary-storage queues (items by number, recoverable or not)
 * and transient-data queues (FIFO, destructive reads, trigger levels).
 *
 * A recoverable TS queue is locked ('T' + name) by the UOW that changes it;
 * others wait to read it. A recoverable TD queue's writes are kept in the
 * UOW and appended at commit; its reads take the read-end lock ('D' + name)
 * and are put back in order by a rollback. Task context throughout. */
#include <stdlib.h>

#include "txn/txn.h"

int weft__qname_check(const char *name);

#define QLOCK_MAX (1 + WEFT_QNAME_MAX)

static size_t qlock_key(unsigned char *out, char kind, const char *name) {
  out[0] = (unsigned char)kind;
  weft__name_field(out + 1, WEFT_QNAME_MAX, name);
  return QLOCK_MAX;
}

static int qlock(weft_task *t, char kind, const char *name) {
  unsigned char lk[QLOCK_MAX];
  int rc = weft__lock_uow(t, lk, qlock_key(lk, kind, name), weft__region_config(weft__task_region(t))->lock_timeout_ms);
  return rc == 0 ? 0 : weft__lock_outcome(t, rc);
}

static int qwait(weft_task *t, const char *name) {
  unsigned char lk[QLOCK_MAX];
  int rc =
      weft__lock_wait_free(t, lk, qlock_key(lk, 'T', name), weft__region_config(weft__task_region(t))->lock_timeout_ms);
  return rc == 0 ? 0 : weft__lock_outcome(t, rc);
}

/* Checks every queue call makes: the task, the store (closed after a
 * log failure), the name. */
static int q_args(weft_task *t, const char *queue) {
  int rc = weft__task_check(t);
  if (rc == 0)
    rc = weft__store_check(weft__task_region(t));
  return rc != 0 ? rc : weft__qname_check(queue);
}

static int item_args(const void *data, size_t len) {
  if (data == NULL && len != 0)
    return WEFT_EINVAL;
  return len == 0 || len > WEFT_ITEM_MAX ? WEFT_ERANGE : 0;
}

/* ---- TS queues -------------------------------------------------------------- */

/* Is the queue recoverable (as it exists, or as it would be created)? */
static bool ts_recoverable(weft_region *r, const char *queue) {
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire_shared(&x->x_data);
  weft__tsq *q = weft__tsq_find(r, queue);
  bool rec = q != NULL ? q->q_recoverable : weft__tsq_recoverable(r, queue);
  weft__lock_release_shared(&x->x_data);
  return rec;
}

/* u's first change of a recoverable queue: keep a copy of its items.
 * x_data held exclusively. */
static int ts_take(weft__uow *u, weft__tsq *q, bool existed) {
  weft_assert_internal(weft__lock_held(&weft__txn_of(weft__task_region(u->u_task))->x_data));
  if (!q->q_recoverable || q->q_owner == u)
    return 0;
  weft__sval **before = NULL;
  if (q->q_n > 0 && (before = calloc(q->q_n, sizeof *before)) == NULL)
    return WEFT_ENOMEM;
  for (uint32_t i = 0; i < q->q_n; i++) {
    if ((before[i] = weft__sval_new(q->q_items[i]->v_data, q->q_items[i]->v_len)) == NULL) {
      while (i-- > 0)
        free(before[i]);
      free(before);
      return WEFT_ENOMEM;
    }
  }
  if (weft__uow_touch(u, WEFT__T_TSQ, q, NULL) != 0) {
    for (uint32_t i = 0; i < q->q_n; i++)
      free(before[i]);
    free(before);
    return WEFT_ENOMEM;
  }
  q->q_before = before;
  q->q_nbefore = q->q_n;
  q->q_existed = existed;
  q->q_owner = u;
  return 0;
}

/* The checks of a write or rewrite, the queue's lock if it is
 * recoverable, and the new item's value (*v, freed by the caller on a
 * later error). */
static int ts_change_begin(weft_task *t, const char *queue, const void *data, size_t len,
                           weft__uow **u, weft__sval **v) {
  int rc = q_args(t, queue);
  if (rc != 0 || (rc = item_args(data, len)) != 0)
    return rc;
  if ((*u = weft__uow_get(t)) == NULL)
    return WEFT_ENOMEM;
  if (ts_recoverable(weft__task_region(t), queue) && (rc = qlock(t, 'T', queue)) != 0)
    return rc;
  return (*v = weft__sval_new(data, len)) != NULL ? 0 : WEFT_ENOMEM;
}

int weft_ts_write(weft_task *t, const char *queue, const void *data, size_t len, unsigned *item) {
  weft__uow *u;
  weft__sval *v;
  int rc = ts_change_begin(t, queue, data, len, &u, &v);
  if (rc != 0)
    return rc;
  weft_region *r = weft__task_region(t);
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  bool fresh = weft__tsq_find(r, queue) == NULL;
  weft__tsq *q = weft__tsq_get(r, queue);
  if (q == NULL)
    rc = WEFT_ENOMEM;
  else if ((rc = ts_take(u, q, !fresh)) != 0) {
    if (fresh)
      weft__tsq_remove(r, q);
  } else if (q->q_gone) {
    q->q_gone = false; /* written again after its delete in this UOW */
  }
  if (rc == 0 && q->q_n == WEFT_ITEM_MAX)
    rc = WEFT_ELIMIT;
  if (rc == 0 && q->q_n == q->q_cap) {
    uint32_t cap = q->q_cap ? q->q_cap * 2 : 8;
    void *p = realloc(q->q_items, cap * sizeof *q->q_items);
    if (p == NULL)
      rc = WEFT_ENOMEM;
    else {
      q->q_items = p;
      q->q_cap = cap;
    }
  }
  if (rc == 0) {
    q->q_items[q->q_n++] = v;
    if (item != NULL)
      *item = q->q_n;
  }
  weft__lock_release(&x->x_data);
  if (rc != 0)
    free(v);
  return rc;
}

/* The task's UOW and the queue for reading, waiting out another UOW's
 * change. Returns with x_data held exclusively (0) or not held (error). */
static int ts_open_read(weft_task *t, const char *queue, weft__uow **uout, weft__tsq **out) {
  weft__txn *x = weft__txn_of(weft__task_region(t));
  weft__uow *u = *uout = weft__uow_get(t);
  if (u == NULL)
    return WEFT_ENOMEM;
  for (;;) {
    weft__lock_acquire(&x->x_data);
    weft__tsq *q = weft__tsq_find(weft__task_region(t), queue);
    if (q != NULL && q->q_owner != NULL && q->q_owner != u) {
      weft__lock_release(&x->x_data);
      int rc = qwait(t, queue);
      if (rc != 0)
        return rc;
      continue;
    }
    if (q == NULL || q->q_gone) {
      weft__lock_release(&x->x_data);
      return WEFT_ENOTFOUND;
    }
    *out = q;
    return 0;
  }
}

int weft_ts_read(weft_task *t, const char *queue, unsigned item, void *buf, size_t cap, size_t *len,
                 unsigned *item_out) {
  int rc = q_args(t, queue);
  if (rc != 0)
    return rc;
  if (buf == NULL && cap != 0)
    return WEFT_EINVAL;
  weft__uow *u;
  weft__tsq *q;
  if ((rc = ts_open_read(t, queue, &u, &q)) != 0)
    return rc;
  unsigned want = item ? item : q->q_cursor + 1;
  if (want > q->q_n)
    rc = item ? WEFT_ENOTFOUND : WEFT_EENDFILE;
  else if ((rc = weft__sval_copy_out(q->q_items[want - 1], buf, cap, len)) == 0) {
    q->q_cursor = want;
    if (item_out != NULL)
      *item_out = want;
    weft__uow_note_read(u, q->q_lsn);
  }
  weft__lock_release(&weft__txn_of(weft__task_region(t))->x_data);
  return rc;
}

int weft_ts_count(weft_task *t, const char *queue, unsigned *count) {
  int rc = q_args(t, queue);
  if (rc != 0)
    return rc;
  if (count == NULL)
    return WEFT_EINVAL;
  *count = 0;
  weft__uow *u;
  weft__tsq *q;
  if ((rc = ts_open_read(t, queue, &u, &q)) != 0)
    return rc;
  *count = q->q_n;
  weft__lock_release(&weft__txn_of(weft__task_region(t))->x_data);
  return 0;
}

int weft_ts_rewrite(weft_task *t, const char *queue, unsigned item, const void *data, size_t len) {
  weft__uow *u;
  weft__sval *v;
  int rc = ts_change_begin(t, queue, data, len, &u, &v);
  if (rc != 0)
    return rc;
  weft__txn *x = weft__txn_of(weft__task_region(t));
  weft__lock_acquire(&x->x_data);
  weft__tsq *q = weft__tsq_find(weft__task_region(t), queue);
  if (q == NULL || q->q_gone || item == 0 || item > q->q_n)
    rc = WEFT_ENOTFOUND;
  else if ((rc = ts_take(u, q, true)) == 0) {
    free(q->q_items[item - 1]);
    q->q_items[item - 1] = v;
  }
  weft__lock_release(&x->x_data);
  if (rc != 0)
    free(v);
  return rc;
}

int weft_ts_delete(weft_task *t, const char *queue) {
  int rc = q_args(t, queue);
  weft__uow *u = weft__uow_get(t);
  if (rc != 0)
    return rc;
  if (u == NULL)
    return WEFT_ENOMEM;
  if (ts_recoverable(weft__task_region(t), queue) && (rc = qlock(t, 'T', queue)) != 0)
    return rc;
  weft_region *r = weft__task_region(t);
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  weft__tsq *q = weft__tsq_find(r, queue);
  if (q == NULL || q->q_gone)
    rc = WEFT_ENOTFOUND;
  else if (!q->q_recoverable)
    weft__tsq_remove(r, q);
  else if ((rc = ts_take(u, q, true)) == 0) {
    weft__tsq_clear(q);
    q->q_gone = true;
  }
  weft__lock_release(&x->x_data);
  return rc;
}

/* ---- TD queues ---------------------------------------------------------------- */

/* The defined queue (x_data need not be held: queues are never removed). */
static weft__tdq *td_find(weft_region *r, const char *queue) {
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire_shared(&x->x_data);
  weft__tdq *d = weft__tdq_find(r, queue);
  if (d != NULL && !d->d_defined)
    d = NULL;
  weft__lock_release_shared(&x->x_data);
  return d;
}

int weft_td_write(weft_task *t, const char *queue, const void *data, size_t len) {
  int rc = q_args(t, queue);
  if (rc != 0 || (rc = item_args(data, len)) != 0)
    return rc;
  weft_region *r = weft__task_region(t);
  weft__tdq *d = td_find(r, queue);
  if (d == NULL)
    return WEFT_ENOTFOUND;
  weft__tditem *it = malloc(sizeof *it);
  if (it == NULL || (it->i_val = weft__sval_new(data, len)) == NULL) {
    free(it);
    return WEFT_ENOMEM;
  }
  if (d->d_recoverable) {
    weft__uow *u = weft__uow_get(t);
    if (u == NULL || weft__uow_td_put(u, d, it) != 0) {
      free(it->i_val);
      free(it);
      return WEFT_ENOMEM;
    }
    return 0;
  }
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  weft__tdq_push(d, it);
  weft__lock_release(&x->x_data);
  if (d->d_trigger)
    weft__td_triggers(r);
  return 0;
}

int weft_td_read(weft_task *t, const char *queue, void *buf, size_t cap, size_t *len) {
  int rc = q_args(t, queue);
  if (rc != 0)
    return rc;
  if (buf == NULL && cap != 0)
    return WEFT_EINVAL;
  weft_region *r = weft__task_region(t);
  weft__tdq *d = td_find(r, queue);
  if (d == NULL)
    return WEFT_ENOTFOUND;
  weft__uow *u = weft__uow_get(t);
  if (u == NULL)
    return WEFT_ENOMEM;
  if (d->d_recoverable && (rc = qlock(t, 'D', queue)) != 0)
    return rc;
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  weft__tditem *it = weft__tdq_pop(d);
  if (it == NULL)
    rc = WEFT_EEMPTY;
  else {
    if ((rc = weft__sval_copy_out(it->i_val, buf, cap, len)) != 0) {
      weft__tdq_push_front(d, it); /* too small a buffer: the item stays */
    } else {
      weft__uow_note_read(u, d->d_lsn);
      if (!d->d_recoverable) {
        free(it->i_val);
        free(it);
      } else if (weft__uow_td_got(u, d, it) != 0) {
        weft__tdq_push_front(d, it);
        rc = WEFT_ENOMEM;
      }
    }
  }
  weft__lock_release(&x->x_data);
  return rc;
}
