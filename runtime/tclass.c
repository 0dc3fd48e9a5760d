/* tclass.c - transaction classes (CICS TRANCLASS): a cap on the active
 * tasks of the transactions in a class, with a queue for the starts past
 * it and a purge threshold past which starts are refused.
 *
 * Ownership: a class lives as long as its region (r_defs.df_classes for lock-free
 * lookups, r_defs.df_class_list under r_defs.df_lock); cl_lock guards its counts and
 * queue. A queued start is a task struct not yet admitted, linked by
 * tk_rnext, counted in r_encl.en_capq like the starts waiting on enclave caps. */
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

weft__class *weft__class_find(weft_region *r, const char *name) {
  uint64_t key = weft__name_pack(name);
  return key ? weft__dtab_find(&r->r_defs.df_classes, key) : NULL;
}

static int class_define(weft_region *r, const weft_class_def *def) {
  if (r == NULL || def == NULL || def->name == NULL)
    return WEFT_EINVAL;
  uint64_t key = weft__name_pack(def->name);
  if (key == 0)
    return WEFT_EBADNAME;
  if (def->max_active < 1 || def->max_active > WEFT_CLASS_MAX_ACTIVE_MAX)
    return WEFT_ERANGE;
  weft__class *c = calloc(1, sizeof *c);
  if (c == NULL)
    return WEFT_ENOMEM;
  c->cl_key = key;
  strcpy(c->cl_name, def->name);
  c->cl_max = def->max_active;
  c->cl_purge = def->purge_threshold;
  weft__lock_init(&c->cl_lock);
  int rc = 0;
  weft__lock_acquire(&r->r_defs.df_lock);
  if (weft__dtab_find(&r->r_defs.df_classes, key) != NULL)
    rc = WEFT_EEXIST;
  else if ((rc = weft__dtab_insert(&r->r_defs.df_classes, key, c)) == 0) {
    c->cl_next = r->r_defs.df_class_list;
    r->r_defs.df_class_list = c;
  }
  weft__lock_release(&r->r_defs.df_lock);
  if (rc != 0)
    free(c);
  return rc;
}

/* Take a slot for t (0) or queue it (1); bounded: past the purge
 * threshold (or max_queued) refuse with WEFT_EBUSY. Any thread. */
int weft__class_take(weft__class *c, weft_task *t, bool bounded) {
  weft_region *r = t->tk_region;
  unsigned limit = c->cl_purge ? c->cl_purge : r->r_cfg.max_queued;
  int rc = 0;
  weft__lock_acquire(&c->cl_lock);
  if (c->cl_active < c->cl_max) {
    c->cl_active++;
  } else if (bounded && c->cl_queued >= limit) {
    atomic_fetch_add(&c->cl_rejected, 1);
    rc = WEFT_EBUSY;
  } else {
    rc = 1;
    t->tk_rnext = NULL;
    if (c->cl_q_tail != NULL)
      c->cl_q_tail->tk_rnext = t;
    else
      c->cl_q_head = t;
    c->cl_q_tail = t;
    c->cl_queued++;
    atomic_fetch_add(&r->r_encl.en_capq, 1);
  }
  weft__lock_release(&c->cl_lock);
  if (rc == 0)
    t->tk_flags |= WEFT__TF_CLASSED;
  return rc;
}

/* cl_lock held: the first queued start, which takes the slot, or NULL. */
static weft_task *queue_pop(weft__class *c) {
  weft_task *t = c->cl_q_head;
  if (t != NULL) {
    if ((c->cl_q_head = t->tk_rnext) == NULL)
      c->cl_q_tail = NULL;
    c->cl_queued--;
    atomic_fetch_sub(&t->tk_region->r_encl.en_capq, 1);
    t->tk_flags |= WEFT__TF_CLASSED;
  }
  return t;
}

weft_task *weft__class_release(weft__class *c) {
  weft__lock_acquire(&c->cl_lock);
  weft_task *t = c->cl_active <= c->cl_max ? queue_pop(c) : NULL;
  if (t == NULL)
    c->cl_active--;
  weft__lock_release(&c->cl_lock);
  return t;
}

int weft_class_set_max(weft_region *r, const char *name, unsigned max_active) {
  if (r == NULL || name == NULL)
    return WEFT_EINVAL;
  weft__class *c = weft__class_find(r, name);
  if (c == NULL)
    return WEFT_ENOTFOUND;
  if (max_active < 1 || max_active > WEFT_CLASS_MAX_ACTIVE_MAX)
    return WEFT_ERANGE;
  weft_task *admit = NULL, **tail = &admit;
  weft__lock_acquire(&c->cl_lock);
  c->cl_max = max_active;
  while (c->cl_active < c->cl_max && c->cl_q_head != NULL) {
    weft_task *t = queue_pop(c);
    c->cl_active++;
    *tail = t;
    tail = &t->tk_rnext;
    t->tk_rnext = NULL;
  }
  weft__lock_release(&c->cl_lock);
  weft__worker *w = weft__worker_self();
  if (w != NULL && w->wk_region != r)
    w = NULL;
  while (admit != NULL) {
    weft_task *next = admit->tk_rnext;
    weft__admit_classed(r, w, admit);
    admit = next;
  }
  return 0;
}

static int class_stats(weft_region *r, const char *name, weft_class_stats *out) {
  if (r == NULL || name == NULL || out == NULL)
    return WEFT_EINVAL;
  weft__class *c = weft__class_find(r, name);
  if (c == NULL)
    return WEFT_ENOTFOUND;
  memset(out, 0, sizeof *out);
  strcpy(out->name, c->cl_name);
  weft__lock_acquire(&c->cl_lock);
  out->max_active = c->cl_max;
  out->active = c->cl_active;
  out->queued = c->cl_queued;
  weft__lock_release(&c->cl_lock);
  out->purge_threshold = c->cl_purge;
  out->rejected = atomic_load(&c->cl_rejected);
  return 0;
}

/* Immediate shutdown: drop the starts queued on every class. Host. */
void weft__class_cancel_all(weft_region *r) {
  weft_task *all = NULL;
  weft__lock_acquire(&r->r_defs.df_lock);
  for (weft__class *c = r->r_defs.df_class_list; c != NULL; c = c->cl_next) {
    weft__lock_acquire(&c->cl_lock);
    if (c->cl_q_head != NULL) {
      c->cl_q_tail->tk_rnext = all;
      all = c->cl_q_head;
      c->cl_q_head = c->cl_q_tail = NULL;
      c->cl_queued = 0;
    }
    weft__lock_release(&c->cl_lock);
  }
  weft__lock_release(&r->r_defs.df_lock);
  while (all != NULL) {
    weft_task *next = all->tk_rnext;
    atomic_fetch_sub(&r->r_encl.en_capq, 1);
    weft__start_cancel(all, NULL);
    all = next;
  }
}

void weft__classes_free(weft_region *r) {
  while (r->r_defs.df_class_list != NULL) {
    weft__class *c = r->r_defs.df_class_list;
    r->r_defs.df_class_list = c->cl_next;
    free(c);
  }
  weft__dtab_free(&r->r_defs.df_classes, NULL);
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_class_define_(weft_region *r, const weft_class_def *def, size_t size) {
  weft_class_def buf;
  int rc;
  def = weft__abi_in(&buf, sizeof buf, def, size, sizeof buf, &rc);
  return rc != 0 ? rc : class_define(r, def);
}

int weft_class_stats_get_(weft_region *r, const char *name, weft_class_stats *out, size_t size) {
  weft_class_stats buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = class_stats(r, name, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}
