/* file.c - keyed files: read, read for update, write, rewrite, delete and
 * browse, with record locks held until syncpoint.
 *
 * A record lock is an ENQ with UOW lifetime on 'F' + the packed file name
 * + the key (runtime/enq.c, which also detects deadlocks). A task changes a
 * record only while holding its lock; a reader that meets a record owned by
 * another UOW (sr_owner) waits for that lock and looks again. Task context
 * throughout. */
#include <stdlib.h>

#include "txn/txn.h"

#define LOCKKEY_MAX (1 + 8 + WEFT_KEY_MAX)

static size_t lock_key(unsigned char *out, const weft__sfile *f, const void *key, size_t klen) {
  out[0] = 'F';
  memcpy(out + 1, &f->sf_key, 8);
  memcpy(out + 9, key, klen);
  return 9 + klen;
}

/* Checks every call makes: the task, the store (closed after a log
 * failure), the file, the key. On success
 * *f is the file (found under x_data, which files are never removed
 * from, so the pointer stays valid). */
static int file_args(weft_task *t, const char *file, const void *key, size_t klen,
                     weft__sfile **f) {
  int rc = weft__task_check(t);
  if (rc == 0)
    rc = weft__store_check(weft__task_region(t));
  if (rc != 0)
    return rc;
  if (file == NULL || (key == NULL && klen != 0))
    return WEFT_EINVAL;
  weft__txn *x = weft__txn_of(weft__task_region(t));
  weft__lock_acquire_shared(&x->x_data);
  *f = weft__sfile_find(weft__task_region(t), file);
  if (*f != NULL && !(*f)->sf_defined)
    *f = NULL;
  weft__lock_release_shared(&x->x_data);
  if (*f == NULL)
    return WEFT_ENOTFOUND;
  return klen > (*f)->sf_key_max ? WEFT_ERANGE : 0;
}

static int lock_record(weft_task *t, weft__sfile *f, const void *key, size_t klen) {
  unsigned char lk[LOCKKEY_MAX];
  size_t n = lock_key(lk, f, key, klen);
  int rc = weft__lock_uow(t, lk, n, weft__region_config(weft__task_region(t))->lock_timeout_ms);
  return rc == 0 ? 0 : weft__lock_outcome(t, rc);
}

/* Wait until the UOW that owns the record with this key has ended. */
static int wait_owner(weft_task *t, weft__sfile *f, const void *key, size_t klen) {
  unsigned char lk[LOCKKEY_MAX];
  size_t n = lock_key(lk, f, key, klen);
  int rc = weft__lock_wait_free(t, lk, n, weft__region_config(weft__task_region(t))->lock_timeout_ms);
  return rc == 0 ? 0 : weft__lock_outcome(t, rc);
}

static bool foreign(const weft__srec *n, const weft__uow *mine) {
  return n->sr_owner != NULL && n->sr_owner != mine;
}

int weft_file_read(weft_task *t, const char *file, const void *key, size_t klen, void *buf,
                   size_t cap, size_t *len, int flags) {
  weft__sfile *f;
  int rc = file_args(t, file, key, klen, &f);
  if (rc != 0)
    return rc;
  if (klen == 0 || (buf == NULL && cap != 0) || (flags & ~WEFT_READ_UPDATE))
    return WEFT_EINVAL;
  if ((flags & WEFT_READ_UPDATE) && (rc = lock_record(t, f, key, klen)) != 0)
    return rc;
  weft__txn *x = weft__txn_of(weft__task_region(t));
  weft__uow *u = weft__uow_get(t);
  if (u == NULL)
    return WEFT_ENOMEM;
  for (;;) {
    weft__lock_acquire_shared(&x->x_data);
    weft__srec *n = weft__sl_find(f, key, klen);
    if (n != NULL && foreign(n, u)) {
      weft__lock_release_shared(&x->x_data);
      if ((rc = wait_owner(t, f, key, klen)) != 0)
        return rc;
      continue;
    }
    if (n == NULL || n->sr_val == NULL)
      rc = WEFT_ENOTFOUND;
    else {
      rc = weft__sval_copy_out(n->sr_val, buf, cap, len);
      weft__uow_note_read(u, n->sr_lsn);
    }
    weft__lock_release_shared(&x->x_data);
    return rc;
  }
}

/* Make u the owner of n (its first change in u): keep the committed
 * image. x_data held exclusively. */
static int take(weft__uow *u, weft__sfile *f, weft__srec *n, bool existed) {
  weft_assert_internal(weft__lock_held(&weft__txn_of(weft__task_region(u->u_task))->x_data));
  if (n->sr_owner == u)
    return 0;
  int rc = weft__uow_touch(u, WEFT__T_REC, n, f);
  if (rc != 0)
    return rc;
  n->sr_owner = u;
  n->sr_existed = existed;
  n->sr_before = existed ? n->sr_val : NULL;
  return 0;
}

/* Replace n's current value by v (NULL: delete); the committed image
 * stays in sr_before. */
static void set_value(weft__srec *n, weft__sval *v) {
  if (n->sr_val != n->sr_before)
    free(n->sr_val);
  n->sr_val = v;
}

static int change_args(weft_task *t, const char *file, const void *key, size_t klen,
                       const void *data, size_t len, weft__sfile **f) {
  int rc = file_args(t, file, key, klen, f);
  if (rc != 0)
    return rc;
  if (klen == 0 || (data == NULL && len != 0))
    return WEFT_EINVAL;
  return len > (*f)->sf_rec_max ? WEFT_ERANGE : 0;
}

int weft_file_write(weft_task *t, const char *file, const void *key, size_t klen, const void *data,
                    size_t len) {
  weft__sfile *f;
  int rc = change_args(t, file, key, klen, data, len, &f);
  if (rc != 0 || (rc = lock_record(t, f, key, klen)) != 0)
    return rc;
  weft__uow *u = weft__uow_get(t);
  weft__sval *v = weft__sval_new(data, len);
  if (u == NULL || v == NULL) {
    free(v);
    return WEFT_ENOMEM;
  }
  weft__txn *x = weft__txn_of(weft__task_region(t));
  weft__lock_acquire(&x->x_data);
  weft__srec *n = weft__sl_find(f, key, klen);
  bool fresh = n == NULL;
  if (n != NULL && n->sr_val != NULL)
    rc = WEFT_EEXIST;
  else if (fresh && (n = weft__sl_insert(f, key, klen)) == NULL)
    rc = WEFT_ENOMEM;
  else if ((rc = take(u, f, n, false)) != 0 && fresh)
    weft__sl_remove(f, n);
  if (rc == 0)
    set_value(n, v);
  weft__lock_release(&x->x_data);
  if (rc != 0)
    free(v);
  return rc;
}

/* Rewrite (v non-NULL) or delete (v NULL) an existing record. */
static int modify(weft_task *t, weft__sfile *f, const void *key, size_t klen, weft__sval *v) {
  weft__uow *u = weft__uow_get(t);
  if (u == NULL)
    return WEFT_ENOMEM;
  weft__txn *x = weft__txn_of(weft__task_region(t));
  int rc;
  weft__lock_acquire(&x->x_data);
  weft__srec *n = weft__sl_find(f, key, klen);
  if (n == NULL || n->sr_val == NULL)
    rc = WEFT_ENOTFOUND;
  else if ((rc = take(u, f, n, true)) == 0)
    set_value(n, v);
  weft__lock_release(&x->x_data);
  return rc;
}

int weft_file_rewrite(weft_task *t, const char *file, const void *key, size_t klen,
                      const void *data, size_t len) {
  weft__sfile *f;
  int rc = change_args(t, file, key, klen, data, len, &f);
  if (rc != 0)
    return rc;
  unsigned char lk[LOCKKEY_MAX];
  if (!weft__lock_uow_held(t, lk, lock_key(lk, f, key, klen)))
    return WEFT_ESTATE;
  weft__sval *v = weft__sval_new(data, len);
  if (v == NULL)
    return WEFT_ENOMEM;
  if ((rc = modify(t, f, key, klen, v)) != 0)
    free(v);
  return rc;
}

int weft_file_delete(weft_task *t, const char *file, const void *key, size_t klen) {
  weft__sfile *f;
  int rc = file_args(t, file, key, klen, &f);
  if (rc != 0)
    return rc;
  if (klen == 0)
    return WEFT_EINVAL;
  if ((rc = lock_record(t, f, key, klen)) != 0)
    return rc;
  return modify(t, f, key, klen, NULL);
}

/* ---- Browse ------------------------------------------------------------------ */

struct weft_browse {
  weft_task *b_task;
  weft__sfile *b_file;
  int b_flags;
  bool b_started; /* b_key is the last key returned (else: the start key) */
  size_t b_plen;  /* GENERIC: prefix length */
  unsigned char b_prefix[WEFT_KEY_MAX];
  size_t b_klen;
  unsigned char b_key[WEFT_KEY_MAX];
};

int weft_browse_start(weft_task *t, const char *file, const void *key, size_t klen, int flags,
                      weft_browse **out) {
  weft__sfile *f;
  int rc = file_args(t, file, key, klen, &f);
  if (rc != 0)
    return rc;
  if (out == NULL || (flags & ~(WEFT_BROWSE_BACKWARD | WEFT_BROWSE_GENERIC)))
    return WEFT_EINVAL;
  weft_browse *b = weft_getmain(t, sizeof *b);
  if (b == NULL)
    return WEFT_ENOMEM;
  b->b_task = t;
  b->b_file = f;
  b->b_flags = flags;
  b->b_klen = klen;
  if (klen)
    memcpy(b->b_key, key, klen);
  if (flags & WEFT_BROWSE_GENERIC) {
    b->b_plen = klen;
    if (klen)
      memcpy(b->b_prefix, key, klen);
  }
  *out = b;
  return 0;
}

/* The candidate after the browse position (x_data held). */
static weft__srec *browse_pos(weft_browse *b) {
  weft__sfile *f = b->b_file;
  bool back = b->b_flags & WEFT_BROWSE_BACKWARD;
  if (b->b_klen == 0 && !b->b_started)
    return back ? f->sf_tail : f->sf_head->sr_next[0];
  if (!back)
    return weft__sl_seek(f, b->b_key, b->b_klen, b->b_started);
  /* backward: the last key < position (<= at the start) */
  weft__srec *n = weft__sl_seek(f, b->b_key, b->b_klen, !b->b_started);
  return n != NULL ? n->sr_prev : f->sf_tail;
}

static bool browse_in_range(const weft_browse *b, const weft__srec *n) {
  if (!(b->b_flags & WEFT_BROWSE_GENERIC) || b->b_plen == 0)
    return true;
  return n->sr_klen >= b->b_plen && memcmp(n->sr_key, b->b_prefix, b->b_plen) == 0;
}

/* Move the position to n (returned or skipped). */
static void browse_at(weft_browse *b, const weft__srec *n) {
  memcpy(b->b_key, n->sr_key, n->sr_klen);
  b->b_klen = n->sr_klen;
  b->b_started = true;
}

int weft_browse_next(weft_browse *b, void *kbuf, size_t kcap, size_t *klen, void *buf, size_t cap,
                     size_t *len) {
  if (b == NULL)
    return WEFT_EINVAL;
  weft_task *t = b->b_task;
  int rc = weft__task_check(t);
  if (rc == 0)
    rc = weft__store_check(weft__task_region(t));
  if (rc != 0)
    return rc;
  weft__uow *u = weft__uow_get(t);
  if (u == NULL)
    return WEFT_ENOMEM;
  weft__txn *x = weft__txn_of(weft__task_region(t));
  bool back = b->b_flags & WEFT_BROWSE_BACKWARD;
  for (;;) {
    weft__lock_acquire_shared(&x->x_data);
    weft__srec *n = browse_pos(b);
    while (n != NULL && !foreign(n, u) && n->sr_val == NULL && browse_in_range(b, n)) {
      browse_at(b, n); /* its own delete: skip */
      n = back ? n->sr_prev : n->sr_next[0];
    }
    if (n == NULL || !browse_in_range(b, n)) {
      weft__lock_release_shared(&x->x_data);
      return WEFT_EENDFILE;
    }
    if (foreign(n, u)) {
      unsigned char key[WEFT_KEY_MAX];
      size_t kl = n->sr_klen;
      memcpy(key, n->sr_key, kl);
      weft__lock_release_shared(&x->x_data);
      if ((rc = wait_owner(t, b->b_file, key, kl)) != 0)
        return rc;
      continue; /* look again from the same position */
    }
    if (klen != NULL)
      *klen = n->sr_klen;
    if (kbuf != NULL && n->sr_klen > kcap)
      rc = WEFT_ERANGE;
    else if (buf != NULL)
      rc = weft__sval_copy_out(n->sr_val, buf, cap, len);
    else if (len != NULL)
      *len = n->sr_val->v_len;
    if (rc == 0) {
      if (kbuf != NULL)
        memcpy(kbuf, n->sr_key, n->sr_klen);
      weft__uow_note_read(u, n->sr_lsn);
      browse_at(b, n);
    }
    weft__lock_release_shared(&x->x_data);
    return rc;
  }
}

void weft_browse_end(weft_browse *b) {
  if (b != NULL && weft__task_check(b->b_task) == 0)
    weft_freemain(b->b_task, b);
}
