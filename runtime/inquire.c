/* inquire.c - looking at and purging single tasks from outside: the
 * operator's "inquire tasks" and "purge task", and a terminal's release.
 *
 * Tasks belong to their workers (internal.h), so neither is done by
 * touching tasks from the calling thread. A request is published in the
 * region and every worker is asked (WEFT__CTL_*) to serve it for the tasks
 * it owns, from its dispatcher:
 * - purges: r_inq.iq_purges under r_inq.iq_purge_lock; a worker that owns the named task
 *   flags it, wakes it if it waits, and removes the request; a task that
 *   moves to another worker meanwhile is caught when adopted; a request
 *   dies with its task (weft__purge_forget) or after PURGE_TTL_NS;
 * - inquiries: one at a time (r_inq.iq_req names it, under r_inq.iq_lock); each
 *   worker takes the inquiry, lists its own tasks into its own slot and
 *   marks itself answered; the caller waits up to INQ_TIMEOUT_MS for all,
 *   then copies the answered slots out. A worker that has not answered by
 *   then (a task looping on it) is reported missing and cannot write into
 *   the caller's memory: the inquiry is freed by whichever of the caller
 *   and the late workers lets go of it last. */
#include <stdio.h>
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

enum { INQ_ASKED, INQ_TAKEN, INQ_ANSWERED, INQ_MISSED };

/* One inquiry. Fields under r_inq.iq_lock, except q_list[i] and q_n[i]:
 * written by worker i alone between taking the inquiry and answering,
 * read by the caller only after it has answered. */
typedef struct weft__inq {
  int q_state[WEFT_MAX_WORKERS]; /* INQ_*, per worker */
  weft_task_info *q_list[WEFT_MAX_WORKERS];
  size_t q_n[WEFT_MAX_WORKERS];
  _Atomic uint32_t q_answered; /* workers that answered (waited on) */
  unsigned q_refs;             /* the caller and the workers serving it */
} weft__inq;

static void ctl_all(weft_region *r, uint32_t bits) {
  for (unsigned i = 0; i < r->r_nworkers; i++)
    weft__worker_ctl(r->r_workers[i], bits);
}

/* ---- Purges --------------------------------------------------------------------- */

int weft__purge_request(weft_region *r, uint64_t task_no, const char *code) {
  int rc = 0;
  weft__lock_acquire(&r->r_inq.iq_purge_lock);
  uint32_t n = atomic_load(&r->r_inq.iq_npurge);
  if (n == r->r_inq.iq_purge_cap) {
    uint32_t cap = n ? 2 * n : 16;
    weft__purge_req *p = realloc(r->r_inq.iq_purges, cap * sizeof *p);
    if (p == NULL)
      rc = WEFT_ENOMEM;
    else {
      r->r_inq.iq_purges = p;
      r->r_inq.iq_purge_cap = cap;
    }
  }
  if (rc == 0) {
    weft__purge_req *q = &r->r_inq.iq_purges[n];
    q->p_task = task_no;
    q->p_when_ns = weft__clock_ns();
    strncpy(q->p_code, code, 4);
    q->p_code[4] = '\0';
    atomic_store(&r->r_inq.iq_npurge, n + 1);
  }
  weft__lock_release(&r->r_inq.iq_purge_lock);
  if (rc == 0)
    ctl_all(r, WEFT__CTL_PURGE1);
  return rc;
}

/* r_inq.iq_purge_lock held: drop request i. */
static void req_drop(weft_region *r, uint32_t i) {
  uint32_t n = atomic_load(&r->r_inq.iq_npurge) - 1;
  r->r_inq.iq_purges[i] = r->r_inq.iq_purges[n];
  atomic_store(&r->r_inq.iq_npurge, n);
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
  for (uint32_t i = 0; i < atomic_load(&r->r_inq.iq_npurge);) {
    weft__purge_req *q = &r->r_inq.iq_purges[i];
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
  weft__assert_owner(w);
  weft_region *r = w->wk_region;
  if (atomic_load(&r->r_inq.iq_npurge) == 0)
    return;
  uint64_t now = weft__clock_ns();
  weft__lock_acquire(&r->r_inq.iq_purge_lock);
  for (weft_task *t = w->wk_tasks; t != NULL && atomic_load(&r->r_inq.iq_npurge) != 0; t = t->tk_onext)
    purge_match(w, t, now);
  weft__lock_release(&r->r_inq.iq_purge_lock);
}

void weft__purge_adopted(weft__worker *w, weft_task *t) {
  weft_region *r = w->wk_region;
  if (weft__likely(atomic_load_explicit(&r->r_inq.iq_npurge, memory_order_relaxed) == 0))
    return;
  weft__lock_acquire(&r->r_inq.iq_purge_lock);
  purge_match(w, t, weft__clock_ns());
  weft__lock_release(&r->r_inq.iq_purge_lock);
}

void weft__purge_forget(weft_region *r, uint64_t task_no) {
  if (weft__likely(atomic_load_explicit(&r->r_inq.iq_npurge, memory_order_relaxed) == 0))
    return;
  weft__lock_acquire(&r->r_inq.iq_purge_lock);
  for (uint32_t i = 0; i < atomic_load(&r->r_inq.iq_npurge); i++) {
    if (r->r_inq.iq_purges[i].p_task == task_no) {
      req_drop(r, i);
      break;
    }
  }
  weft__lock_release(&r->r_inq.iq_purge_lock);
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

static void inq_free(weft__inq *q) {
  for (unsigned i = 0; i < WEFT_MAX_WORKERS; i++)
    free(q->q_list[i]);
  free(q);
}

/* r_inq.iq_lock held: let go of q; true when it is the last holder. */
static bool inq_drop(weft__inq *q) { return --q->q_refs == 0; }

/* Owner: list w's tasks into its slot of q (none if memory runs out; the
 * count still says how many there were). */
static void inq_collect(weft__worker *w, weft__inq *q) {
  size_t n = 0;
  for (weft_task *t = w->wk_tasks; t != NULL; t = t->tk_onext)
    n += (t->tk_flags & WEFT__TF_DELAYED) == 0;
  weft_task_info *v = n ? malloc(n * sizeof *v) : NULL;
  size_t i = 0;
  for (weft_task *t = w->wk_tasks; v != NULL && t != NULL; t = t->tk_onext)
    if ((t->tk_flags & WEFT__TF_DELAYED) == 0)
      info_fill(w, t, &v[i++], 0);
  q->q_list[w->wk_id] = v;
  q->q_n[w->wk_id] = v != NULL ? i : n;
}

void weft__inq_serve(weft__worker *w) {
  weft__assert_owner(w);
  weft_region *r = w->wk_region;
  weft__lock_acquire(&r->r_inq.iq_lock);
  weft__inq *q = atomic_load(&r->r_inq.iq_req);
  if (q != NULL && q->q_state[w->wk_id] == INQ_ASKED) {
    q->q_state[w->wk_id] = INQ_TAKEN;
    q->q_refs++;
  } else {
    q = NULL;
  }
  weft__lock_release(&r->r_inq.iq_lock);
  if (q == NULL)
    return;
  inq_collect(w, q);
  weft__lock_acquire(&r->r_inq.iq_lock);
  q->q_state[w->wk_id] = INQ_ANSWERED;
  atomic_fetch_add(&q->q_answered, 1);
  weft__addr_wake_all((void *)&q->q_answered);
  bool last = inq_drop(q);
  weft__lock_release(&r->r_inq.iq_lock);
  if (last)
    inq_free(q);
}

/* The calling thread may wait for the workers: not one of them. */
static int caller_ok(weft_region *r) {
  if (r == NULL)
    return WEFT_EINVAL;
  if (weft__worker_self() != NULL)
    return WEFT_ESTATE;
  return atomic_load(&r->r_state) == WEFT__R_DOWN ? WEFT_ESHUTDOWN : 0;
}

/* Publish q as the region's inquiry once no other is running. */
static void inq_publish(weft_region *r, weft__inq *q) {
  for (;;) {
    weft__lock_acquire(&r->r_inq.iq_lock);
    if (atomic_load(&r->r_inq.iq_req) == NULL) {
      atomic_store(&r->r_inq.iq_req, q);
      weft__lock_release(&r->r_inq.iq_lock);
      return;
    }
    weft__lock_release(&r->r_inq.iq_lock);
    weft__sleep_ms(1);
  }
}

/* r_inq.iq_lock held, q withdrawn: copy the answered slots into out (up to
 * cap), count their tasks, mark the rest missing. */
static void inq_gather(weft_region *r, weft__inq *q, weft_task_info *out, size_t cap,
                       size_t *count, uint64_t *missing) {
  size_t n = 0;
  for (unsigned i = 0; i < r->r_nworkers; i++) {
    if (q->q_state[i] != INQ_ANSWERED) {
      q->q_state[i] = q->q_state[i] == INQ_ASKED ? INQ_MISSED : q->q_state[i];
      *missing |= 1ull << i;
      continue;
    }
    for (size_t k = 0; k < q->q_n[i]; k++, n++)
      if (n < cap && q->q_list[i] != NULL)
        out[n] = q->q_list[i][k];
  }
  *count = n;
}

static void log_missing(weft_region *r, uint64_t missing) {
  char list[WEFT_MAX_WORKERS * 4] = "";
  size_t len = 0;
  for (unsigned i = 0; i < r->r_nworkers && len + 8 < sizeof list; i++)
    if (missing & (1ull << i))
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%u", len ? ", " : "", i);
  weft__log(r, 'W',
            "task inquiry: worker(s) %s did not answer within %d ms (a task may be running "
            "without suspending there); their tasks are not listed",
            list, INQ_TIMEOUT_MS);
}

static int task_list_ex(weft_region *r, weft_task_info *out, size_t cap, size_t *count,
                        uint64_t *missing) {
  int rc = caller_ok(r);
  if (rc != 0)
    return rc;
  if ((out == NULL && cap != 0) || count == NULL)
    return WEFT_EINVAL;
  uint64_t miss = 0;
  weft__inq *q = calloc(1, sizeof *q);
  if (q == NULL)
    return WEFT_ENOMEM;
  q->q_refs = 1;
  inq_publish(r, q);
  ctl_all(r, WEFT__CTL_INQ);
  uint64_t deadline = weft__clock_ns() + (uint64_t)INQ_TIMEOUT_MS * 1000000u;
  uint32_t answered;
  while ((answered = atomic_load(&q->q_answered)) < r->r_nworkers &&
         weft__clock_ns() < deadline)
    weft__addr_wait(&q->q_answered, &answered, sizeof answered, 100);
  weft__lock_acquire(&r->r_inq.iq_lock);
  atomic_store(&r->r_inq.iq_req, NULL);
  inq_gather(r, q, out, cap, count, &miss);
  bool last = inq_drop(q);
  weft__lock_release(&r->r_inq.iq_lock);
  if (last)
    inq_free(q);
  if (missing != NULL)
    *missing = miss;
  if (miss == 0)
    return 0;
  log_missing(r, miss);
  return WEFT_ETIMEDOUT;
}

/* size is the caller's weft_task_info: one of an older ABI gets a prefix
 * of each entry. */
int weft_task_list_ex_(weft_region *r, weft_task_info *out, size_t size, size_t cap,
                       size_t *count, uint64_t *missing) {
  int rc = weft__abi_out_check(size, sizeof *out, sizeof *out);
  if (rc != 0 || size == sizeof *out || out == NULL)
    return rc != 0 ? rc : task_list_ex(r, out, cap, count, missing);
  weft_task_info *all = malloc(cap * sizeof *all);
  if (all == NULL)
    return WEFT_ENOMEM;
  rc = task_list_ex(r, all, cap, count, missing);
  if (rc == 0 || rc == WEFT_ETIMEDOUT)
    for (size_t i = 0; i < *count && i < cap; i++)
      memcpy((char *)out + i * size, &all[i], size);
  free(all);
  return rc;
}

int weft_task_list_(weft_region *r, weft_task_info *out, size_t size, size_t cap, size_t *count) {
  return weft_task_list_ex_(r, out, size, cap, count, NULL);
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
    rc = weft_task_list(r, all, cap, &n);
    if ((rc != 0 && rc != WEFT_ETIMEDOUT) || n <= cap)
      break;
    cap = n + 64;
  }
  bool found = false;
  for (size_t i = 0; i < n && i < cap && !found; i++)
    found = all[i].task_no == task_no;
  free(all);
  if (rc != 0 && rc != WEFT_ETIMEDOUT)
    return rc;
  /* A worker that did not answer may own it: the request stands. */
  return found || rc == WEFT_ETIMEDOUT ? weft__purge_request(r, task_no, "AEXY") : WEFT_ENOTFOUND;
}
