/* inquire.c - looking at and purging single tasks from outside: the
 * operator's "inquire tasks" and "purge task", and a terminal's release.
 *
 * Tasks belong to their workers (internal.h), so neither is done by
 * touching tasks from the calling thread. A request is published in the
 * region and every worker is asked (WEFT__CTL_*) to serve it for the tasks
 * it owns, from its dispatcher:
 * - purges: r_purges under r_purge_lock; a worker that owns the named task
 *   flags it, wakes it if it waits, and removes the request; a task that
 *   moves to another worker meanwhile is caught when adopted; a request
 *   dies with its task (weft__purge_forget) or after PURGE_TTL_NS;
 * - inquiries: one at a time (r_inq_lock); each worker appends its tasks
 *   to the caller's array and counts down; the caller waits for zero. */
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

#define PURGE_TTL_NS (60ull * 1000000000ull)
#define INQ_TIMEOUT_MS 5000

typedef struct weft__purge_req {
  uint64_t p_task;
  uint64_t p_when_ns;
  char p_code[5];
} weft__purge_req;

typedef struct weft__inq {
  weft_task_info *q_out;
  size_t q_cap;
  _Atomic size_t q_n;         /* tasks seen (may exceed q_cap) */
  _Atomic uint32_t q_pending; /* workers still to answer */
  uint64_t q_now_ns;
} weft__inq;

static void ctl_all(weft_region *r, uint32_t bits) {
  for (unsigned i = 0; i < r->r_nworkers; i++)
    weft__worker_ctl(r->r_workers[i], bits);
}

/* ---- Purges --------------------------------------------------------------------- */

int weft__purge_request(weft_region *r, uint64_t task_no, const char *code) {
  int rc = 0;
  weft__lock_acquire(&r->r_purge_lock);
  uint32_t n = atomic_load(&r->r_npurge);
  if (n == r->r_purge_cap) {
    uint32_t cap = n ? 2 * n : 16;
    weft__purge_req *p = realloc(r->r_purges, cap * sizeof *p);
    if (p == NULL)
      rc = WEFT_ENOMEM;
    else {
      r->r_purges = p;
      r->r_purge_cap = cap;
    }
  }
  if (rc == 0) {
    weft__purge_req *q = &r->r_purges[n];
    q->p_task = task_no;
    q->p_when_ns = weft__clock_ns();
    strncpy(q->p_code, code, 4);
    q->p_code[4] = '\0';
    atomic_store(&r->r_npurge, n + 1);
  }
  weft__lock_release(&r->r_purge_lock);
  if (rc == 0)
    ctl_all(r, WEFT__CTL_PURGE1);
  return rc;
}

/* r_purge_lock held: drop request i. */
static void req_drop(weft_region *r, uint32_t i) {
  uint32_t n = atomic_load(&r->r_npurge) - 1;
  r->r_purges[i] = r->r_purges[n];
  atomic_store(&r->r_npurge, n);
}

/* Owner: flag t for an abend with code, and wake it if it waits. */
static void purge_one(weft__worker *w, weft_task *t, const char *code) {
  t->tk_flags |= WEFT__TF_PURGE;
  memcpy(t->tk_purge_code, code, 5);
  if ((t->tk_flags & WEFT__TF_DELAYED) == 0 && weft__task_claim(t)) {
    weft__timer_cancel(w, t);
    weft__wait_end(w, t);
    t->tk_wait_result = WEFT_ESHUTDOWN;
    weft__ready_push(w, t);
  }
}

/* Owner: does a request name t? Apply it. */
static void purge_match(weft__worker *w, weft_task *t, uint64_t now) {
  weft_region *r = w->wk_region;
  for (uint32_t i = 0; i < atomic_load(&r->r_npurge);) {
    weft__purge_req *q = &r->r_purges[i];
    if (q->p_task == t->tk_no) {
      purge_one(w, t, q->p_code);
      req_drop(r, i);
    } else if (now - q->p_when_ns > PURGE_TTL_NS) {
      req_drop(r, i);
    } else {
      i++;
    }
  }
}

void weft__purge_scan(weft__worker *w) {
  weft_region *r = w->wk_region;
  if (atomic_load(&r->r_npurge) == 0)
    return;
  uint64_t now = weft__clock_ns();
  weft__lock_acquire(&r->r_purge_lock);
  for (weft_task *t = w->wk_tasks; t != NULL && atomic_load(&r->r_npurge) != 0; t = t->tk_onext)
    purge_match(w, t, now);
  weft__lock_release(&r->r_purge_lock);
}

void weft__purge_adopted(weft__worker *w, weft_task *t) {
  weft_region *r = w->wk_region;
  if (weft__likely(atomic_load_explicit(&r->r_npurge, memory_order_relaxed) == 0))
    return;
  weft__lock_acquire(&r->r_purge_lock);
  purge_match(w, t, weft__clock_ns());
  weft__lock_release(&r->r_purge_lock);
}

void weft__purge_forget(weft_region *r, uint64_t task_no) {
  if (weft__likely(atomic_load_explicit(&r->r_npurge, memory_order_relaxed) == 0))
    return;
  weft__lock_acquire(&r->r_purge_lock);
  for (uint32_t i = 0; i < atomic_load(&r->r_npurge); i++) {
    if (r->r_purges[i].p_task == task_no) {
      req_drop(r, i);
      break;
    }
  }
  weft__lock_release(&r->r_purge_lock);
}

/* ---- Inquiries ------------------------------------------------------------------- */

static void info_fill(weft__worker *w, weft_task *t, weft_task_info *out, uint64_t now_ns) {
  memset(out, 0, sizeof *out);
  out->task_no = t->tk_no;
  strcpy(out->tranid, t->tk_tran->tr_id);
  strcpy(out->enclave, t->tk_encl->ec_name);
  strcpy(out->termid, weft_task_termid(t));
  strcpy(out->userid, t->tk_userid);
  int wait = atomic_load_explicit(&t->tk_wait, memory_order_relaxed);
  out->state = t == w->wk_current ? WEFT_TASK_RUNNING
               : wait != WEFT__W_NONE ? WEFT_TASK_WAITING
                                      : WEFT_TASK_READY;
  out->wait_reason = out->state == WEFT_TASK_WAITING ? t->tk_wreason : 0;
  out->priority = t->tk_prio;
  out->worker = w->wk_id;
  if (t->tk_t_admit != 0) {
    uint64_t now = weft__tsc();
    out->age_ms = now > t->tk_t_admit ? weft__ticks_to_ns(w->wk_region, now - t->tk_t_admit) / 1000000u : 0;
  }
  (void)now_ns;
}

void weft__inq_serve(weft__worker *w) {
  weft__inq *q = atomic_load(&w->wk_region->r_inq);
  if (q == NULL)
    return;
  for (weft_task *t = w->wk_tasks; t != NULL; t = t->tk_onext) {
    if (t->tk_flags & WEFT__TF_DELAYED)
      continue;
    size_t i = atomic_fetch_add(&q->q_n, 1);
    if (i < q->q_cap)
      info_fill(w, t, &q->q_out[i], q->q_now_ns);
  }
  if (atomic_fetch_sub(&q->q_pending, 1) == 1)
    weft__addr_wake_all((void *)&q->q_pending);
}

/* The calling thread may wait for the workers: not one of them. */
static int caller_ok(weft_region *r) {
  if (r == NULL)
    return WEFT_EINVAL;
  if (weft__worker_self() != NULL)
    return WEFT_ESTATE;
  return atomic_load(&r->r_state) == WEFT__R_DOWN ? WEFT_ESHUTDOWN : 0;
}

static int task_list(weft_region *r, weft_task_info *out, size_t cap, size_t *count) {
  int rc = caller_ok(r);
  if (rc != 0)
    return rc;
  if ((out == NULL && cap != 0) || count == NULL)
    return WEFT_EINVAL;
  weft__inq q = {.q_out = out, .q_cap = cap, .q_now_ns = weft__clock_ns()};
  atomic_store(&q.q_pending, r->r_nworkers);
  weft__lock_acquire(&r->r_inq_lock);
  atomic_store(&r->r_inq, &q);
  ctl_all(r, WEFT__CTL_INQ);
  uint64_t deadline = weft__clock_ns() + (uint64_t)INQ_TIMEOUT_MS * 1000000u;
  uint32_t pending;
  while ((pending = atomic_load(&q.q_pending)) != 0 && weft__clock_ns() < deadline)
    weft__addr_wait(&q.q_pending, &pending, sizeof pending, 100);
  atomic_store(&r->r_inq, NULL);
  weft__lock_release(&r->r_inq_lock);
  if (pending != 0) {
    /* A worker that did not answer may still write: wait it out. */
    while (atomic_load(&q.q_pending) != 0)
      weft__sleep_ms(1);
  }
  size_t n = atomic_load(&q.q_n);
  *count = n;
  return 0;
}

/* size is the caller's weft_task_info: one of an older ABI gets a prefix
 * of each entry. */
int weft_task_list_(weft_region *r, weft_task_info *out, size_t size, size_t cap, size_t *count) {
  int rc = weft__abi_out_check(size, sizeof *out, sizeof *out);
  if (rc != 0 || size == sizeof *out || out == NULL)
    return rc != 0 ? rc : task_list(r, out, cap, count);
  weft_task_info *all = malloc(cap * sizeof *all);
  if (all == NULL)
    return WEFT_ENOMEM;
  if ((rc = task_list(r, all, cap, count)) == 0)
    for (size_t i = 0; i < *count && i < cap; i++)
      memcpy((char *)out + i * size, &all[i], size);
  free(all);
  return rc;
}

int weft_task_purge(weft_region *r, uint64_t task_no) {
  int rc = caller_ok(r);
  if (rc != 0)
    return rc;
  size_t n = 0, cap = 256;
  weft_task_info *all = NULL;
  for (;;) { /* list the tasks to know task_no lives */
    free(all);
    if ((all = malloc(cap * sizeof *all)) == NULL)
      return WEFT_ENOMEM;
    if ((rc = weft_task_list(r, all, cap, &n)) != 0 || n <= cap)
      break;
    cap = n + 64;
  }
  bool found = false;
  for (size_t i = 0; rc == 0 && i < n && !found; i++)
    found = all[i].task_no == task_no;
  free(all);
  if (rc != 0)
    return rc;
  return found ? weft__purge_request(r, task_no, "AEXY") : WEFT_ENOTFOUND;
}
