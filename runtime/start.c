/* start.c - weft_start, admission (max_tasks, the priority-ordered admission
 * queue) and delayed starts.
 *
 * r_live counts admitted tasks. A start takes a slot with a CAS while
 * r_live < max_tasks; otherwise it joins the admission queue (a heap by
 * priority, then arrival) under r_adm_lock. An ending task gives its slot
 * back and, if starts are queued, admits the first. Both sides change their
 * own counter first and then look at the other's (seq_cst), so a queued
 * start is never stranded while a slot is free. */
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

/* ---- Admission --------------------------------------------------------------- */

#define TASK_NO_BLOCK 256 /* task numbers a worker takes at once */

static void peak_update(weft_region *r, uint32_t live) {
  uint32_t peak = atomic_load_explicit(&r->r_peak, memory_order_relaxed);
  while (live > peak && !atomic_compare_exchange_weak_explicit(
                            &r->r_peak, &peak, live, memory_order_relaxed, memory_order_relaxed))
    ;
}

/* Take up to want slots from r_live; how many were taken (0: full). */
static uint32_t live_reserve(weft_region *r, uint32_t want) {
  uint32_t cur = atomic_load_explicit(&r->r_live, memory_order_seq_cst);
  while (cur < r->r_cfg.max_tasks) {
    uint32_t take = r->r_cfg.max_tasks - cur < want ? r->r_cfg.max_tasks - cur : want;
    if (atomic_compare_exchange_weak_explicit(&r->r_live, &cur, cur + take, memory_order_seq_cst,
                                              memory_order_seq_cst)) {
      peak_update(r, cur + take);
      return take;
    }
  }
  return 0;
}

/* Take one slot from w's reserve. The owner and, when the region is full,
 * any starter may do so, hence the CAS. */
static bool credit_take(weft__worker *w) {
  uint32_t c = atomic_load_explicit(&w->wk_credits, memory_order_relaxed);
  while (c != 0)
    if (atomic_compare_exchange_weak_explicit(&w->wk_credits, &c, c - 1, memory_order_acq_rel,
                                              memory_order_relaxed))
      return true;
  return false;
}

/* The region looks full: a slot some worker holds in reserve is free. */
static bool credit_take_any(weft_region *r) {
  for (unsigned i = 0; i < r->r_nworkers; i++)
    if (credit_take(r->r_workers[i]))
      return true;
  return false;
}

/* One admission slot for a new task. A worker first uses its reserve and
 * refills it in batches, so most starts touch no shared cache line; when
 * the region is full, a slot still reserved by any worker is used, so a
 * start waits only when max_tasks tasks really live. */
static bool live_take(weft_region *r, weft__worker *w) {
  if (w != NULL && credit_take(w))
    return true;
  uint32_t got = live_reserve(r, w != NULL ? r->r_credit_batch : 1);
  if (got == 0)
    return credit_take_any(r);
  if (got > 1)
    atomic_fetch_add_explicit(&w->wk_credits, got - 1, memory_order_acq_rel);
  return true;
}

/* Give every reserved slot back, then admit queued starts. Owner. */
void weft__credits_return(weft_region *r, weft__worker *w) {
  uint32_t credits = atomic_exchange_explicit(&w->wk_credits, 0, memory_order_acq_rel);
  if (credits != 0)
    atomic_fetch_sub_explicit(&r->r_live, credits, memory_order_seq_cst);
  if (atomic_load_explicit(&r->r_nqueued, memory_order_seq_cst) != 0)
    weft__admit_pump(r, w);
}

/* A task of w ended: keep its slot in reserve unless starts are queued,
 * the reserve is large, or the region is shutting down. Owner. */
void weft__slot_release(weft_region *r, weft__worker *w) {
  uint32_t credits = atomic_fetch_add_explicit(&w->wk_credits, 1, memory_order_acq_rel) + 1;
  if (atomic_load_explicit(&r->r_nqueued, memory_order_seq_cst) != 0 ||
      credits > r->r_credit_keep ||
      atomic_load_explicit(&r->r_state, memory_order_relaxed) != WEFT__R_RUNNING)
    weft__credits_return(r, w);
}

/* A task number: from the worker's block, or straight from the region. */
uint64_t weft__task_no_next(weft_region *r, weft__worker *w) {
  if (w == NULL)
    return atomic_fetch_add_explicit(&r->r_next_no, 1, memory_order_relaxed) + 1;
  if (w->wk_no_next == w->wk_no_end) {
    w->wk_no_next =
        atomic_fetch_add_explicit(&r->r_next_no, TASK_NO_BLOCK, memory_order_relaxed) + 1;
    w->wk_no_end = w->wk_no_next + TASK_NO_BLOCK;
  }
  return w->wk_no_next++;
}

/* A start admitted later than it was made (queued, capped): its ready wait
 * and first-dispatch delay start now. */
static void admitted_now(weft_region *r, weft_task *t) {
  if (r->r_cfg.accounting)
    t->tk_t_admit = t->tk_t_mark = weft__tsc();
}

/* Hand an admitted task to a worker: the calling worker if there is one
 * (it owns its queues), otherwise the next worker round robin. */
static void dispatch_new(weft_region *r, weft__worker *w, weft_task *t) {
  if (w != NULL) {
    weft__adopt(w, t);
    return;
  }
  uint32_t i = atomic_fetch_add_explicit(&r->r_rr, 1, memory_order_relaxed) % r->r_nworkers;
  weft__worker_post(r->r_workers[i], &t->tk_node, WEFT__N_ADOPT);
}

/* Heap order: higher priority first, then earlier arrival. */
static bool adm_before(const weft_task *a, const weft_task *b) {
  return a->tk_prio != b->tk_prio ? a->tk_prio > b->tk_prio : a->tk_seq < b->tk_seq;
}

/* r_adm_lock held. */
static int adm_push(weft_region *r, weft_task *t) {
  uint32_t n = atomic_load_explicit(&r->r_nqueued, memory_order_relaxed);
  if (n == r->r_adm_cap) {
    uint32_t cap = r->r_adm_cap ? r->r_adm_cap * 2 : 64;
    weft_task **a = realloc(r->r_adm, cap * sizeof *a);
    if (a == NULL)
      return WEFT_ENOMEM;
    r->r_adm = a;
    r->r_adm_cap = cap;
  }
  uint32_t i = n;
  while (i > 0 && adm_before(t, r->r_adm[(i - 1) / 2])) {
    r->r_adm[i] = r->r_adm[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  r->r_adm[i] = t;
  atomic_fetch_add_explicit(&r->r_nqueued, 1, memory_order_seq_cst);
  return 0;
}

/* r_adm_lock held, queue not empty. */
static weft_task *adm_pop(weft_region *r) {
  uint32_t n = atomic_load_explicit(&r->r_nqueued, memory_order_relaxed) - 1;
  weft_task *top = r->r_adm[0], *last = r->r_adm[n];
  uint32_t i = 0;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && adm_before(r->r_adm[c + 1], r->r_adm[c]))
      c++;
    if (!adm_before(r->r_adm[c], last))
      break;
    r->r_adm[i] = r->r_adm[c];
    i = c;
  }
  r->r_adm[i] = last;
  atomic_store_explicit(&r->r_nqueued, n, memory_order_seq_cst);
  return top;
}

/* Admit queued starts while slots are free. w: the calling worker or NULL. */
void weft__admit_pump(weft_region *r, weft__worker *w) {
  while (atomic_load_explicit(&r->r_nqueued, memory_order_seq_cst) != 0) {
    weft_task *t = NULL;
    weft__lock_acquire(&r->r_adm_lock);
    if (atomic_load_explicit(&r->r_nqueued, memory_order_relaxed) != 0 && live_take(r, w))
      t = adm_pop(r);
    weft__lock_release(&r->r_adm_lock);
    if (t == NULL)
      return;
    admitted_now(r, t);
    dispatch_new(r, w, t);
  }
}

/* Admit t now or queue it. bounded: refuse with WEFT_EBUSY past max_queued.
 * A start of a capped enclave first needs a cap slot; without one it waits
 * on the enclave (and is admitted when a task of the enclave ends). */
static int admit_encl(weft_region *r, weft__worker *w, weft_task *t, bool bounded) {
  weft__encl *e = t->tk_encl;
  if (e->ec_max_active == 0)
    return weft__admit_slot(r, w, t, bounded);
  int rc = weft__cap_take(e, t, bounded);
  if (rc != 0)
    return rc == 1 ? 0 : rc;
  if ((rc = weft__admit_slot(r, w, t, bounded)) != 0) { /* refused: the slot goes on */
    weft_task *next = weft__cap_release(e);
    if (next != NULL)
      weft__admit_capped(r, w, next);
  }
  return rc;
}

/* Admit t or queue it: its transaction class's slot first (it may wait
 * on the class), then its enclave's, then an admission slot. */
static int admit(weft_region *r, weft__worker *w, weft_task *t, bool bounded) {
  weft__class *c = t->tk_class;
  if (c == NULL)
    return admit_encl(r, w, t, bounded);
  int rc = weft__class_take(c, t, bounded);
  if (rc != 0)
    return rc == 1 ? 0 : rc;
  if ((rc = admit_encl(r, w, t, bounded)) != 0) { /* refused: the slot goes on */
    t->tk_flags &= ~WEFT__TF_CLASSED;
    weft_task *next = weft__class_release(c);
    if (next != NULL)
      weft__admit_classed(r, w, next);
  }
  return rc;
}

/* A start that got its class slot when a task of its class ended. */
void weft__admit_classed(weft_region *r, weft__worker *w, weft_task *t) {
  admit_encl(r, w, t, false);
}

/* A start that got its cap slot when a task of its enclave ended. */
void weft__admit_capped(weft_region *r, weft__worker *w, weft_task *t) {
  admitted_now(r, t);
  weft__admit_slot(r, w, t, false);
}

/* Admit t (which has any cap slot it needs) now, or queue it. */
int weft__admit_slot(weft_region *r, weft__worker *w, weft_task *t, bool bounded) {
  if (live_take(r, w)) {
    dispatch_new(r, w, t);
    return 0;
  }
  weft__lock_acquire(&r->r_adm_lock);
  int rc = 0;
  if (bounded && atomic_load_explicit(&r->r_nqueued, memory_order_relaxed) >= r->r_cfg.max_queued)
    rc = WEFT_EBUSY;
  else {
    t->tk_seq = atomic_fetch_add_explicit(&r->r_seq, 1, memory_order_relaxed);
    rc = adm_push(r, t);
  }
  weft__lock_release(&r->r_adm_lock);
  if (rc == 0)
    weft__admit_pump(r, w);
  return rc;
}

/* Immediate shutdown: drop every queued start. */
void weft__adm_cancel_all(weft_region *r) {
  weft__lock_acquire(&r->r_adm_lock);
  while (atomic_load_explicit(&r->r_nqueued, memory_order_relaxed) != 0) {
    weft_task *t = adm_pop(r);
    weft__task_free(NULL, t);
    atomic_fetch_add_explicit(&r->r_cancelled, 1, memory_order_relaxed);
  }
  weft__lock_release(&r->r_adm_lock);
  weft__region_check_drained(r);
}

/* ---- Delayed starts ------------------------------------------------------------- */

/* A delayed start reached its worker: arm its timer. Owner. */
void weft__start_delayed_arm(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  if (w->wk_draining) {
    weft__start_cancel(t, w);
    return;
  }
  weft__timer_arm(w, t, t->tk_timer.tm_due_ns, weft__clock_ns());
}

/* Its time came: admit it (the queue bound does not apply: the start was
 * accepted long ago). Owner. */
void weft__start_delayed_fire(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  weft_region *r = t->tk_region;
  if (atomic_load(&r->r_state) != WEFT__R_RUNNING) {
    weft__start_cancel(t, w);
    return;
  }
  t->tk_flags &= ~WEFT__TF_DELAYED;
  if (r->r_cfg.accounting) /* its response time starts when it is due */
    t->tk_t_start = t->tk_t_admit = t->tk_t_mark = weft__tsc();
  admit(r, w, t, false); /* counted live or queued before no longer delayed */
  atomic_fetch_sub(&r->r_delayed, 1);
}

/* Drop a start that will never run (shutdown). Owner or host. */
void weft__start_cancel(weft_task *t, weft__worker *w) {
  weft_region *r = t->tk_region;
  weft__encl *e = t->tk_encl;
  if (t->tk_flags & WEFT__TF_DELAYED)
    atomic_fetch_sub(&r->r_delayed, 1);
  weft__task_free(w, t);
  weft__encl_put(e, r);
  atomic_fetch_add_explicit(&r->r_cancelled, 1, memory_order_relaxed);
  weft__region_check_drained(r);
}

static void start_delayed(weft_region *r, weft__worker *w, weft_task *t, unsigned ms) {
  t->tk_flags |= WEFT__TF_DELAYED;
  atomic_fetch_add(&r->r_delayed, 1);
  uint64_t now = weft__clock_ns();
  t->tk_timer.tm_due_ns = now + (uint64_t)ms * 1000000u;
  if (w != NULL) {
    weft__start_delayed_arm(w, t);
    return;
  }
  uint32_t i = atomic_fetch_add_explicit(&r->r_rr, 1, memory_order_relaxed) % r->r_nworkers;
  weft__worker_post(r->r_workers[i], &t->tk_node, WEFT__N_DELAYED);
}

/* ---- weft_start -------------------------------------------------------------------- */

/* Copy the start data into the task (inline when small). */
static int task_set_data(weft_task *t, const void *data, size_t len) {
  if (len > sizeof t->tk_inline) {
    void *p = malloc(len);
    if (p == NULL)
      return WEFT_ENOMEM;
    t->tk_data = p;
  }
  if (len != 0)
    memcpy(t->tk_data, data, len);
  t->tk_len = len;
  return 0;
}

/* The terminal, user and COMMAREA of a start (opts). */
static int start_facility(weft_task *t, const weft_start_opts *o) {
  if (o->userid != NULL) {
    if (weft__name_pack(o->userid) == 0)
      return WEFT_EBADNAME;
    strcpy(t->tk_userid, o->userid);
  }
  if (o->commarea_len > 0) {
    if (o->commarea == NULL)
      return WEFT_EINVAL;
    if ((t->tk_start_ca = malloc(o->commarea_len)) == NULL)
      return WEFT_ENOMEM;
    memcpy(t->tk_start_ca, o->commarea, o->commarea_len);
    t->tk_link[0].l_ca = t->tk_start_ca;
    t->tk_link[0].l_len = o->commarea_len;
  }
  return o->terminal != NULL ? weft__term_attach(o->terminal, t) : 0;
}

static int start_refused(weft_region *r, int rc) {
  atomic_fetch_add_explicit(&r->r_rejected, 1, memory_order_relaxed);
  return rc;
}

int weft_start_(weft_region *r, const char *tranid, const void *data, size_t len,
                const weft_start_opts *opts, size_t size, uint64_t *task_no) {
  weft_start_opts buf;
  int rc;
  opts = weft__abi_in(&buf, sizeof buf, opts, size, WEFT__START_OPTS_V1, &rc);
  if (rc != 0)
    return rc;
  return weft__start(r, tranid, data, len, opts, task_no);
}

/* The task's priority: the transaction's unless opts give one. */
static int start_priority(const weft__tran *tr, const weft_start_opts *o, int *prio) {
  *prio = tr->tr_prio;
  if (o == NULL)
    return 0;
  if ((o->flags & ~WEFT_START_PRIORITY) != 0)
    return WEFT_EINVAL;
  if (!(o->flags & WEFT_START_PRIORITY))
    return o->priority == 0 || o->priority == WEFT_PRIORITY_DEFAULT ? 0 : WEFT_EINVAL;
  if (o->priority < 0 || o->priority > WEFT_PRIORITY_MAX)
    return WEFT_ERANGE;
  *prio = o->priority;
  return 0;
}

int weft__start(weft_region *r, const char *tranid, const void *data, size_t len,
                const weft_start_opts *opts, uint64_t *task_no) {
  if (r == NULL || tranid == NULL || (data == NULL && len != 0))
    return WEFT_EINVAL;
  const weft__tran *tr = weft__tran_find(r, tranid);
  if (tr == NULL)
    return weft__name_pack(tranid) ? WEFT_ENOTRAN : WEFT_EBADNAME;
  int prio, rc;
  if ((rc = start_priority(tr, opts, &prio)) != 0)
    return rc;
  if (atomic_load_explicit(&tr->tr_disabled, memory_order_relaxed))
    return WEFT_EDISABLED;
  if (atomic_load_explicit(&r->r_state, memory_order_acquire) != WEFT__R_RUNNING)
    return start_refused(r, WEFT_ESHUTDOWN);
  weft__worker *w = weft__worker_self();
  if (w != NULL && w->wk_region != r)
    w = NULL; /* a task of another region starts here like a host thread */
  weft_task *t = weft__task_alloc(w);
  if (t == NULL)
    return WEFT_ENOMEM;
  rc = task_set_data(t, data, len);
  if (rc != 0) {
    weft__task_free(w, t);
    return rc;
  }
  t->tk_region = r;
  t->tk_tran = tr;
  t->tk_prio = (uint8_t)prio;
  if ((rc = weft__encl_classify(r, t, opts)) != 0) {
    weft__task_free(w, t);
    return rc;
  }
  t->tk_class = tr->tr_class;
  t->tk_no = weft__task_no_next(r, w);
  if (opts != NULL && (rc = start_facility(t, opts)) != 0) {
    weft__encl *e = t->tk_encl;
    weft__task_free(w, t);
    weft__encl_put(e, r);
    return rc;
  }
  if (r->r_cfg.accounting) /* admitted at once, as a rule */
    t->tk_t_start = t->tk_t_admit = t->tk_t_mark = weft__tsc();
  t->tk_runaway_ms = tr->tr_runaway_ms ? tr->tr_runaway_ms : r->r_cfg.runaway_ms;
  uint64_t no = t->tk_no; /* t may be gone once handed over */
  if (opts != NULL && opts->delay_ms != 0)
    start_delayed(r, w, t, opts->delay_ms);
  else if ((rc = admit(r, w, t, true)) != 0) {
    weft__encl *e = t->tk_encl;
    weft__task_free(w, t);
    weft__encl_put(e, r);
    return start_refused(r, rc);
  }
  if (task_no != NULL)
    *task_no = no;
  return 0;
}

void weft_start_opts_init_(weft_start_opts *opts, size_t size) {
  if (opts != NULL && weft__abi_out_check(size, sizeof *opts, WEFT__START_OPTS_V1) == 0)
    memset(opts, 0, size);
}

/* Wake a shutdown waiting for the region to drain. Any thread. */
void weft__region_check_drained(weft_region *r) {
  if (atomic_load(&r->r_state) == WEFT__R_RUNNING)
    return;
  weft__lock_acquire(&r->r_life_lock);
  weft__cond_broadcast(&r->r_life_cond);
  weft__lock_release(&r->r_life_lock);
}
