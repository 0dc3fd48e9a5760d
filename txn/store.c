/* store.c - the in-memory store of recoverable resources: keyed files
 * (skip lists in key order), TS queues (a hash of item arrays) and TD
 * queues (FIFO lists); redo of log records at restart and the snapshot a
 * checkpoint writes.
 *
 * Ownership: x_data guards everything here. Callers hold it (shared to
 * read, exclusive to change); no function here takes it. */
#include <stdlib.h>

#include "txn/txn.h"

weft__sval *weft__sval_new(const void *p, size_t n) {
  weft__sval *v = malloc(sizeof *v + n);
  if (v != NULL) {
    v->v_len = (uint32_t)n;
    if (n)
      memcpy(v->v_data, p, n);
  }
  return v;
}

int weft__sval_copy_out(const weft__sval *v, void *buf, size_t cap, size_t *len) {
  if (len != NULL)
    *len = v->v_len;
  if (v->v_len > cap)
    return WEFT_ERANGE;
  if (v->v_len)
    memcpy(buf, v->v_data, v->v_len);
  return 0;
}

/* ---- Keyed files: skip lists ----------------------------------------------- */

int weft__key_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c != 0)
    return c;
  return alen < blen ? -1 : alen > blen;
}

static weft__srec *node_new(int level, const void *k, size_t klen) {
  weft__srec *n = calloc(1, sizeof *n + (size_t)level * sizeof(weft__srec *) + klen);
  if (n == NULL)
    return NULL;
  n->sr_level = (uint8_t)level;
  n->sr_klen = (uint16_t)klen;
  n->sr_key = (unsigned char *)&n->sr_next[level];
  memcpy(n->sr_key, k, klen);
  return n;
}

weft__sfile *weft__sfile_find(weft_region *r, const char *name) {
  uint64_t key = weft__name_pack(name);
  for (weft__sfile *f = weft__txn_of(r)->x_files; f != NULL; f = f->sf_next)
    if (f->sf_key == key)
      return f;
  return NULL;
}

weft__sfile *weft__sfile_get(weft_region *r, const char *name) {
  weft__sfile *f = weft__sfile_find(r, name);
  if (f != NULL)
    return f;
  uint64_t key = weft__name_pack(name);
  if (key == 0 || (f = calloc(1, sizeof *f)) == NULL)
    return NULL;
  if ((f->sf_head = node_new(WEFT__SL_LEVELS, "", 0)) == NULL) {
    free(f);
    return NULL;
  }
  strcpy(f->sf_name, name);
  f->sf_key = key;
  f->sf_rng = 0x9E3779B9u ^ (uint32_t)key;
  f->sf_levels = 1;
  f->sf_key_max = WEFT_KEY_MAX;
  f->sf_rec_max = WEFT_RECORD_MAX;
  weft__txn *x = weft__txn_of(r);
  f->sf_next = x->x_files;
  x->x_files = f;
  return f;
}

/* For each level, the last node before the first key >= k (or > k). */
static weft__srec *sl_path(weft__sfile *f, const void *k, size_t klen, bool gt,
                           weft__srec **update) {
  weft__srec *x = f->sf_head;
  for (int i = f->sf_levels - 1; i >= 0; i--) {
    for (weft__srec *n = x->sr_next[i]; n != NULL; n = x->sr_next[i]) {
      int c = weft__key_cmp(n->sr_key, n->sr_klen, k, klen);
      if (c < 0 || (gt && c == 0))
        x = n;
      else
        break;
    }
    if (update != NULL)
      update[i] = x;
  }
  return x->sr_next[0];
}

weft__srec *weft__sl_seek(weft__sfile *f, const void *k, size_t klen, bool gt) {
  return sl_path(f, k, klen, gt, NULL);
}

weft__srec *weft__sl_find(weft__sfile *f, const void *k, size_t klen) {
  weft__srec *n = sl_path(f, k, klen, false, NULL);
  return n != NULL && weft__key_cmp(n->sr_key, n->sr_klen, k, klen) == 0 ? n : NULL;
}

static int random_level(weft__sfile *f) {
  uint32_t x = f->sf_rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  f->sf_rng = x;
  int level = 1;
  while (level < WEFT__SL_LEVELS && (x & 3) == 0) { /* p = 1/4 */
    level++;
    x >>= 2;
  }
  return level;
}

weft__srec *weft__sl_insert(weft__sfile *f, const void *k, size_t klen) {
  weft__srec *update[WEFT__SL_LEVELS];
  sl_path(f, k, klen, false, update);
  int level = random_level(f);
  weft__srec *n = node_new(level, k, klen);
  if (n == NULL)
    return NULL;
  for (int i = f->sf_levels; i < level; i++)
    update[i] = f->sf_head;
  if (level > f->sf_levels)
    f->sf_levels = level;
  for (int i = 0; i < level; i++) {
    n->sr_next[i] = update[i]->sr_next[i];
    update[i]->sr_next[i] = n;
  }
  n->sr_prev = update[0] == f->sf_head ? NULL : update[0];
  if (n->sr_next[0] != NULL)
    n->sr_next[0]->sr_prev = n;
  else
    f->sf_tail = n;
  f->sf_count++;
  return n;
}

void weft__sl_remove(weft__sfile *f, weft__srec *n) {
  weft__srec *update[WEFT__SL_LEVELS];
  sl_path(f, n->sr_key, n->sr_klen, false, update);
  for (int i = 0; i < n->sr_level; i++)
    if (update[i]->sr_next[i] == n)
      update[i]->sr_next[i] = n->sr_next[i];
  if (n->sr_next[0] != NULL)
    n->sr_next[0]->sr_prev = n->sr_prev;
  else
    f->sf_tail = n->sr_prev;
  while (f->sf_levels > 1 && f->sf_head->sr_next[f->sf_levels - 1] == NULL)
    f->sf_levels--;
  f->sf_count--;
  free(n->sr_val);
  if (n->sr_before != n->sr_val)
    free(n->sr_before);
  free(n);
}

static void sfile_free(weft__sfile *f) {
  weft__srec *n = f->sf_head->sr_next[0];
  while (n != NULL) {
    weft__srec *next = n->sr_next[0];
    if (n->sr_before != n->sr_val)
      free(n->sr_before);
    free(n->sr_val);
    free(n);
    n = next;
  }
  free(f->sf_head);
  free(f);
}

/* ---- TS queues ------------------------------------------------------------- */

static uint32_t qhash(const char *name) {
  uint32_t h = 2166136261u;
  for (; *name; name++)
    h = (h ^ (unsigned char)*name) * 16777619u;
  return h & (WEFT__TSQ_BUCKETS - 1);
}

weft__tsq *weft__tsq_find(weft_region *r, const char *name) {
  for (weft__tsq *q = weft__txn_of(r)->x_tsq[qhash(name)]; q != NULL; q = q->q_next)
    if (strcmp(q->q_name, name) == 0)
      return q;
  return NULL;
}

bool weft__tsq_recoverable(weft_region *r, const char *name) {
  for (weft__tsmodel *m = weft__txn_of(r)->x_models; m != NULL; m = m->m_next) {
    size_t n = strlen(m->m_name);
    if (m->m_prefix ? strncmp(name, m->m_name, n) == 0 : strcmp(name, m->m_name) == 0)
      return m->m_recoverable;
  }
  return false;
}

weft__tsq *weft__tsq_get(weft_region *r, const char *name) {
  weft__tsq *q = weft__tsq_find(r, name);
  if (q != NULL || (q = calloc(1, sizeof *q)) == NULL)
    return q;
  strcpy(q->q_name, name);
  q->q_recoverable = weft__tsq_recoverable(r, name);
  weft__tsq **b = &weft__txn_of(r)->x_tsq[qhash(name)];
  q->q_next = *b;
  *b = q;
  return q;
}

void weft__tsq_clear(weft__tsq *q) {
  for (uint32_t i = 0; i < q->q_n; i++)
    free(q->q_items[i]);
  q->q_n = 0;
  q->q_cursor = 0;
}

void weft__tsq_remove(weft_region *r, weft__tsq *q) {
  weft__tsq **pp = &weft__txn_of(r)->x_tsq[qhash(q->q_name)];
  while (*pp != q)
    pp = &(*pp)->q_next;
  *pp = q->q_next;
  weft__tsq_clear(q);
  for (uint32_t j = 0; j < q->q_nbefore; j++)
    free(q->q_before[j]);
  free(q->q_before);
  free(q->q_items);
  free(q);
}

/* ---- TD queues ------------------------------------------------------------- */

weft__tdq *weft__tdq_find(weft_region *r, const char *name) {
  for (weft__tdq *d = weft__txn_of(r)->x_tdqs; d != NULL; d = d->d_next)
    if (strcmp(d->d_name, name) == 0)
      return d;
  return NULL;
}

weft__tdq *weft__tdq_get(weft_region *r, const char *name) {
  weft__tdq *d = weft__tdq_find(r, name);
  if (d != NULL || (d = calloc(1, sizeof *d)) == NULL)
    return d;
  strcpy(d->d_name, name);
  d->d_recoverable = true; /* only recoverable queues are in the log */
  weft__txn *x = weft__txn_of(r);
  d->d_next = x->x_tdqs;
  x->x_tdqs = d;
  return d;
}

void weft__tdq_push(weft__tdq *d, weft__tditem *it) {
  it->i_next = NULL;
  if (d->d_tail != NULL)
    d->d_tail->i_next = it;
  else
    d->d_head = it;
  d->d_tail = it;
  d->d_depth++;
}

void weft__tdq_push_front(weft__tdq *d, weft__tditem *it) {
  it->i_next = d->d_head;
  d->d_head = it;
  if (d->d_tail == NULL)
    d->d_tail = it;
  d->d_depth++;
}

weft__tditem *weft__tdq_pop(weft__tdq *d) {
  weft__tditem *it = d->d_head;
  if (it != NULL) {
    if ((d->d_head = it->i_next) == NULL)
      d->d_tail = NULL;
    d->d_depth--;
  }
  return it;
}

/* ---- Redo (restart) -------------------------------------------------------- */

/* A name field of width bytes as a C string (NUL-padded, maybe full). */
static void field_name(char *out, const unsigned char *p, size_t width) {
  memcpy(out, p, width);
  out[width] = '\0';
}

static int redo_file(weft_region *r, const weft__rec *rec) {
  size_t need = 8 + 2 + (rec->type == WEFT__LR_FPUT ? 4 : 0);
  if (rec->len < need)
    return WEFT_ECORRUPT;
  char name[WEFT_NAME_MAX + 1];
  field_name(name, rec->p, 8);
  uint16_t klen;
  memcpy(&klen, rec->p + 8, 2);
  uint32_t dlen = rec->type == WEFT__LR_FPUT ? weft__get32(rec->p + 10) : 0;
  if (klen == 0 || klen > WEFT_KEY_MAX || rec->len != need + klen + dlen)
    return WEFT_ECORRUPT;
  const unsigned char *key = rec->p + need;
  weft__sfile *f = weft__sfile_get(r, name);
  if (f == NULL)
    return WEFT_ENOMEM;
  weft__srec *n = weft__sl_find(f, key, klen);
  if (rec->type == WEFT__LR_FDEL) {
    if (n != NULL)
      weft__sl_remove(f, n);
    return 0;
  }
  weft__sval *v = weft__sval_new(key + klen, dlen);
  if (v == NULL || (n == NULL && (n = weft__sl_insert(f, key, klen)) == NULL)) {
    free(v);
    return WEFT_ENOMEM;
  }
  free(n->sr_val);
  n->sr_val = v;
  return 0;
}

static int redo_tsq(weft_region *r, const weft__rec *rec) {
  if (rec->len < WEFT_QNAME_MAX)
    return WEFT_ECORRUPT;
  char name[WEFT_QNAME_MAX + 1];
  field_name(name, rec->p, WEFT_QNAME_MAX);
  weft__tsq *q = weft__tsq_find(r, name);
  if (rec->type == WEFT__LR_TSDEL) {
    if (q != NULL)
      weft__tsq_remove(r, q);
    return 0;
  }
  if (rec->len < WEFT_QNAME_MAX + 4)
    return WEFT_ECORRUPT;
  if ((q = weft__tsq_get(r, name)) == NULL)
    return WEFT_ENOMEM;
  weft__tsq_clear(q);
  q->q_recoverable = true;
  uint32_t n = weft__get32(rec->p + WEFT_QNAME_MAX);
  const unsigned char *p = rec->p + WEFT_QNAME_MAX + 4, *end = rec->p + rec->len;
  if (n > WEFT_ITEM_MAX ||
      (q->q_cap < n && (q->q_items = realloc(q->q_items, n * sizeof(void *))) == NULL))
    return n > WEFT_ITEM_MAX ? WEFT_ECORRUPT : WEFT_ENOMEM;
  if (q->q_cap < n)
    q->q_cap = n;
  for (uint32_t i = 0; i < n; i++) {
    if (end - p < 4 || (size_t)(end - p - 4) < weft__get32(p))
      return WEFT_ECORRUPT;
    uint32_t len = weft__get32(p);
    if ((q->q_items[i] = weft__sval_new(p + 4, len)) == NULL)
      return WEFT_ENOMEM;
    q->q_n = i + 1;
    p += 4 + len;
  }
  return p == end ? 0 : WEFT_ECORRUPT;
}

static int redo_tdq(weft_region *r, const weft__rec *rec) {
  if (rec->len < WEFT_QNAME_MAX + 4)
    return WEFT_ECORRUPT;
  char name[WEFT_QNAME_MAX + 1];
  field_name(name, rec->p, WEFT_QNAME_MAX);
  uint32_t n = weft__get32(rec->p + WEFT_QNAME_MAX);
  weft__tdq *d = weft__tdq_get(r, name);
  if (d == NULL)
    return WEFT_ENOMEM;
  if (rec->type == WEFT__LR_TDPOP) {
    while (n-- > 0) {
      weft__tditem *it = weft__tdq_pop(d);
      if (it == NULL)
        return WEFT_ECORRUPT;
      free(it->i_val);
      free(it);
    }
    return 0;
  }
  if (rec->len != WEFT_QNAME_MAX + 4 + n)
    return WEFT_ECORRUPT;
  weft__tditem *it = malloc(sizeof *it);
  if (it == NULL || (it->i_val = weft__sval_new(rec->p + WEFT_QNAME_MAX + 4, n)) == NULL) {
    free(it);
    return WEFT_ENOMEM;
  }
  weft__tdq_push(d, it);
  return 0;
}

int weft__store_redo(weft_region *r, const weft__rec *rec) {
  switch (rec->type) {
    case WEFT__LR_FPUT:
    case WEFT__LR_FDEL:
      return redo_file(r, rec);
    case WEFT__LR_TSQ:
    case WEFT__LR_TSDEL:
      return redo_tsq(r, rec);
    case WEFT__LR_TDPUT:
    case WEFT__LR_TDPOP:
      return redo_tdq(r, rec);
    default:
      return WEFT_ECORRUPT;
  }
}

/* ---- Snapshot (checkpoint) ------------------------------------------------- */

static void put_fput(weft__buf *b, const weft__sfile *f, const weft__srec *n, const weft__sval *v) {
  size_t off = weft__rec_begin(b, WEFT__LR_FPUT, 0);
  unsigned char h[14];
  weft__name_field(h, 8, f->sf_name);
  memcpy(h + 8, &n->sr_klen, 2);
  weft__put32(h + 10, v->v_len);
  weft__buf_put(b, h, sizeof h);
  weft__buf_put(b, n->sr_key, n->sr_klen);
  weft__buf_put(b, v->v_data, v->v_len);
  weft__rec_end(b, off);
}

static uint64_t snap_files(weft_region *r, weft__buf *b) {
  uint64_t count = 0;
  for (weft__sfile *f = weft__txn_of(r)->x_files; f != NULL; f = f->sf_next) {
    for (weft__srec *n = f->sf_head->sr_next[0]; n != NULL; n = n->sr_next[0]) {
      /* The committed image: an owner's change is not committed. */
      const weft__sval *v = n->sr_owner != NULL ? (n->sr_existed ? n->sr_before : NULL) : n->sr_val;
      if (v != NULL) {
        put_fput(b, f, n, v);
        count++;
      }
    }
  }
  return count;
}

void weft__tsq_image(weft__buf *b, const char *name, weft__sval *const *items, uint32_t n,
                     uint64_t uow) {
  size_t off = weft__rec_begin(b, WEFT__LR_TSQ, uow);
  unsigned char h[WEFT_QNAME_MAX + 4];
  weft__name_field(h, WEFT_QNAME_MAX, name);
  weft__put32(h + WEFT_QNAME_MAX, n);
  weft__buf_put(b, h, sizeof h);
  for (uint32_t i = 0; i < n; i++) {
    unsigned char l[4];
    weft__put32(l, items[i]->v_len);
    weft__buf_put(b, l, 4);
    weft__buf_put(b, items[i]->v_data, items[i]->v_len);
  }
  weft__rec_end(b, off);
}

static uint64_t snap_tsqs(weft_region *r, weft__buf *b) {
  uint64_t count = 0;
  weft__txn *x = weft__txn_of(r);
  for (int i = 0; i < WEFT__TSQ_BUCKETS; i++) {
    for (weft__tsq *q = x->x_tsq[i]; q != NULL; q = q->q_next) {
      if (!q->q_recoverable)
        continue;
      if (q->q_owner != NULL) {
        if (q->q_existed) {
          weft__tsq_image(b, q->q_name, q->q_before, q->q_nbefore, 0);
          count++;
        }
      } else if (!q->q_gone) {
        weft__tsq_image(b, q->q_name, q->q_items, q->q_n, 0);
        count++;
      }
    }
  }
  return count;
}

void weft__td_record(weft__buf *b, int type, const char *name, const void *data, uint32_t n,
                     uint64_t uow) {
  size_t off = weft__rec_begin(b, type, uow);
  unsigned char h[WEFT_QNAME_MAX + 4];
  weft__name_field(h, WEFT_QNAME_MAX, name);
  weft__put32(h + WEFT_QNAME_MAX, n);
  weft__buf_put(b, h, sizeof h);
  if (type == WEFT__LR_TDPUT)
    weft__buf_put(b, data, n);
  weft__rec_end(b, off);
}

static uint64_t snap_tdqs(weft_region *r, weft__buf *b) {
  uint64_t count = 0;
  for (weft__tdq *d = weft__txn_of(r)->x_tdqs; d != NULL; d = d->d_next) {
    if (!d->d_recoverable)
      continue;
    for (weft__tditem *it = d->d_head; it != NULL; it = it->i_next, count++)
      weft__td_record(b, WEFT__LR_TDPUT, d->d_name, it->i_val->v_data, it->i_val->v_len, 0);
  }
  return count;
}

uint64_t weft__store_snapshot(weft_region *r, weft__buf *b, uint64_t *pending_out) {
  weft_assert_internal(weft__lock_held(&weft__txn_of(r)->x_data) &&
                       weft__lock_held(&weft__txn_of(r)->x_log));
  weft__txn *x = weft__txn_of(r);
  uint64_t count = snap_files(r, b) + snap_tsqs(r, b) + snap_tdqs(r, b);
  for (uint32_t i = 0; i < x->x_npending; i++, count++) {
    size_t off = weft__rec_begin(b, WEFT__LR_PENDING, x->x_pending[i].p_uow);
    unsigned char name[8];
    weft__name_field(name, 8, x->x_pending[i].p_rm);
    weft__buf_put(b, name, 8);
    weft__rec_end(b, off);
  }
  *pending_out = x->x_npending;
  size_t off = weft__rec_begin(b, WEFT__LR_END, 0);
  weft__buf_put(b, &count, 8);
  weft__rec_end(b, off);
  return count;
}

void weft__store_free(weft_region *r) {
  weft__txn *x = weft__txn_of(r);
  while (x->x_files != NULL) {
    weft__sfile *f = x->x_files;
    x->x_files = f->sf_next;
    sfile_free(f);
  }
  for (int i = 0; i < WEFT__TSQ_BUCKETS; i++)
    while (x->x_tsq[i] != NULL)
      weft__tsq_remove(r, x->x_tsq[i]);
  while (x->x_tdqs != NULL) {
    weft__tdq *d = x->x_tdqs;
    x->x_tdqs = d->d_next;
    weft__tditem *it;
    while ((it = weft__tdq_pop(d)) != NULL) {
      free(it->i_val);
      free(it);
    }
    free(d);
  }
  while (x->x_models != NULL) {
    weft__tsmodel *m = x->x_models;
    x->x_models = m->m_next;
    free(m);
  }
}
