/* encl.c - enclaves: definitions, classification, transient enclaves, the
 * max_active cap, accounting and the goal-driven dispatch policy.
 *
 * Ownership: defined enclaves live as long as the region and are found
 * without a lock (r_encl.en_table); the list of all enclaves, transients included,
 * is under r_encl.en_lock. A transient is freed by whoever drops its last
 * reference, after its final record. Accounting is split per worker
 * (weft__acct): each worker writes its own share, readers add them up. The
 * policy fields are the monitor thread's; it publishes ec_band and
 * ec_pi_milli, which workers and readers load relaxed. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

#define PI_MISS 1.0     /* above this a goal is missed */
#define PI_EASY 0.5     /* below this a goal is overachieved */
#define MISS_STREAK 2   /* missed intervals in a row before the policy helps */
#define MIN_RESPONSES 5 /* fewer in an interval: no evidence either way */

/* ---- Definitions --------------------------------------------------------- */

static int band_of(int importance) {
  if (importance == WEFT_IMPORTANCE_SYSTEM)
    return WEFT__BAND_SYSTEM;
  if (importance == WEFT_IMPORTANCE_DISCRETIONARY)
    return 0;
  return WEFT__BAND_SYSTEM - importance; /* 1 -> 6 .. 5 -> 2 */
}

static int def_check(const weft_enclave_def *d) {
  if (d->importance < WEFT_IMPORTANCE_SYSTEM || d->importance > WEFT_IMPORTANCE_DISCRETIONARY ||
      d->max_active > WEFT_ENCLAVE_MAX_ACTIVE_MAX)
    return WEFT_ERANGE;
  switch (d->goal_type) {
    case WEFT_GOAL_NONE:
      return 0;
    case WEFT_GOAL_AVERAGE:
      return d->goal_ms >= 1 && d->goal_ms <= WEFT_GOAL_MS_MAX ? 0 : WEFT_ERANGE;
    case WEFT_GOAL_PERCENTILE:
      return d->goal_ms >= 1 && d->goal_ms <= WEFT_GOAL_MS_MAX && d->goal_percent >= 1 &&
                     d->goal_percent <= 99
                 ? 0
                 : WEFT_ERANGE;
    default:
      return WEFT_ERANGE;
  }
}

static weft__encl *encl_alloc(weft_region *r) {
  size_t size = sizeof(weft__encl) + r->r_nworkers * sizeof(weft__acct);
  weft__encl *e = weft__aligned_alloc(size, WEFT__CACHELINE);
  if (e != NULL) {
    memset(e, 0, size);
    e->ec_region = r;
    e->ec_prev_end = weft__clock_ns(); /* its first interval starts now */
    weft__lock_init(&e->ec_cap_lock);
  }
  return e;
}

static void encl_fill(weft__encl *e, const weft_enclave_def *d, uint64_t key) {
  e->ec_key = key;
  memcpy(e->ec_name, &key, WEFT_NAME_MAX);
  e->ec_class = e;
  e->ec_importance = d->importance;
  e->ec_goal_type = d->goal_type;
  e->ec_goal_ms = d->goal_type ? d->goal_ms : 0;
  e->ec_goal_pct = d->goal_type == WEFT_GOAL_PERCENTILE ? d->goal_percent : 0;
  e->ec_max_active = d->max_active;
  e->ec_static_band = band_of(d->importance);
  atomic_store(&e->ec_band, e->ec_static_band);
}

static void list_add(weft_region *r, weft__encl *e) {
  weft__lock_acquire(&r->r_encl.en_lock);
  weft__encl **pp = &r->r_encl.en_list;
  while (*pp != NULL && (*pp)->ec_id == 0 && e->ec_id != 0)
    pp = &(*pp)->ec_next; /* classes stay ahead of transients */
  e->ec_next = *pp;
  *pp = e;
  weft__lock_release(&r->r_encl.en_lock);
}

static int enclave_define(weft_region *r, const weft_enclave_def *def) {
  if (r == NULL || def == NULL || def->name == NULL)
    return WEFT_EINVAL;
  uint64_t key = weft__name_pack(def->name);
  if (key == 0)
    return WEFT_EBADNAME;
  int rc = def_check(def);
  if (rc != 0)
    return rc;
  weft__encl *e = encl_alloc(r);
  if (e == NULL)
    return WEFT_ENOMEM;
  encl_fill(e, def, key);
  weft__lock_acquire(&r->r_defs.df_lock);
  rc = weft__dtab_find(&r->r_encl.en_table, key) ? WEFT_EEXIST : weft__dtab_insert(&r->r_encl.en_table, key, e);
  weft__lock_release(&r->r_defs.df_lock);
  if (rc != 0) {
    weft__aligned_free(e);
    return rc;
  }
  list_add(r, e);
  return 0;
}

weft__encl *weft__encl_find(weft_region *r, const char *name) {
  uint64_t key = weft__name_pack(name);
  return key ? weft__dtab_find(&r->r_encl.en_table, key) : NULL;
}

int weft__encl_init(weft_region *r) {
  weft__lock_init(&r->r_encl.en_lock);
  weft__mpsc_init(&r->r_encl.en_recq);
  int rc = weft__dtab_init(&r->r_encl.en_table);
  if (rc != 0)
    return rc;
  weft_enclave_def d = {WEFT_DEFAULT_ENCLAVE, 3, WEFT_GOAL_NONE, 0, 0, 0};
  if ((rc = enclave_define(r, &d)) != 0)
    return rc;
  r->r_encl.en_default = weft__encl_find(r, WEFT_DEFAULT_ENCLAVE);
  return 0;
}

static void encl_free_one(void *p) {
  (void)p; /* freed from the list */
}

void weft__encl_free(weft_region *r) {
  while (r->r_encl.en_list != NULL) {
    weft__encl *e = r->r_encl.en_list;
    r->r_encl.en_list = e->ec_next;
    weft__aligned_free(e);
  }
  weft__dtab_free(&r->r_encl.en_table, encl_free_one);
}

/* ---- Transient enclaves ---------------------------------------------------- */

static weft__encl *transient_new(weft_region *r, weft__encl *base) {
  weft__encl *e = encl_alloc(r);
  if (e == NULL)
    return NULL;
  weft_enclave_def d = {base->ec_name,    base->ec_importance, base->ec_goal_type,
                        base->ec_goal_ms, base->ec_goal_pct,   base->ec_max_active};
  encl_fill(e, &d, base->ec_key);
  e->ec_class = base;
  e->ec_id = atomic_fetch_add(&r->r_encl.en_next_id, 1) + 1;
  atomic_store(&e->ec_band, atomic_load(&base->ec_band));
  atomic_store(&e->ec_refs, 1);
  list_add(r, e);
  return e;
}

int weft_enclave_create(weft_region *r, const char *base, weft_enclave **out) {
  if (r == NULL || base == NULL || out == NULL)
    return WEFT_EINVAL;
  weft__encl *b = weft__encl_find(r, base);
  if (b == NULL)
    return WEFT_ENOTFOUND;
  weft__encl *e = transient_new(r, b);
  if (e == NULL)
    return WEFT_ENOMEM;
  *out = (weft_enclave *)e;
  return 0;
}

/* Drop one reference of a transient; the last emits its final record and
 * frees it. Any thread. */
void weft__encl_put(weft__encl *e, weft_region *r) {
  if (e->ec_id == 0 || atomic_fetch_sub(&e->ec_refs, 1) != 1)
    return;
  uint64_t now = weft__clock_ns();
  weft__lock_acquire(&r->r_encl.en_lock);
  weft__encl **pp = &r->r_encl.en_list;
  while (*pp != e)
    pp = &(*pp)->ec_next;
  *pp = e->ec_next;
  weft__encl_interval(r, e, e->ec_prev_end, now, 1);
  weft__lock_release(&r->r_encl.en_lock);
  weft__aligned_free(e);
}

void weft_enclave_release(weft_enclave *e) {
  weft__encl *ec = (weft__encl *)e;
  if (ec == NULL || ec->ec_id == 0)
    return;
  weft__encl_put(ec, ec->ec_region);
}

weft_enclave *weft_task_enclave(weft_task *t) {
  return weft__task_check(t) == 0 ? (weft_enclave *)t->tk_encl : NULL;
}

/* ---- Classification ---------------------------------------------------------- */

/* The task running on this thread, if it is a task of r. */
static weft_task *calling_task(weft_region *r) {
  weft__worker *w = weft__worker_self();
  return w != NULL && w->wk_region == r ? w->wk_current : NULL;
}

/* Give t its enclave (and a reference on a transient). Errors:
 * WEFT_ENOTFOUND (opts->enclave), WEFT_EINVAL (membership), WEFT_ENOMEM. */
int weft__encl_classify(weft_region *r, weft_task *t, const weft_start_opts *o) {
  weft__encl *e = t->tk_tran->tr_encl;
  int member = o != NULL ? o->membership : WEFT_MEMBER_CLASSIFY;
  if (o != NULL && o->transient != NULL) {
    e = (weft__encl *)o->transient;
    if (e->ec_region != r)
      return WEFT_EINVAL;
    atomic_fetch_add(&e->ec_refs, 1);
    t->tk_encl = e;
    return 0;
  }
  if (member < WEFT_MEMBER_CLASSIFY || member > WEFT_MEMBER_NEW)
    return WEFT_EINVAL;
  if (o != NULL && o->enclave != NULL && (e = weft__encl_find(r, o->enclave)) == NULL)
    return WEFT_ENOTFOUND;
  weft_task *parent = member == WEFT_MEMBER_JOIN ? calling_task(r) : NULL;
  if (parent != NULL) {
    e = parent->tk_encl;
    if (e->ec_id != 0)
      atomic_fetch_add(&e->ec_refs, 1);
  } else if (member == WEFT_MEMBER_NEW && (e = transient_new(r, e->ec_class)) == NULL) {
    return WEFT_ENOMEM;
  }
  t->tk_encl = e;
  return 0;
}

/* ---- The max_active cap ---------------------------------------------------------- */

/* Take a cap slot for t (0), or queue t on the enclave (1); bounded: past
 * max_queued starts waiting on caps, refuse (WEFT_EBUSY). Any thread. */
int weft__cap_take(weft__encl *e, weft_task *t, bool bounded) {
  int rc = 0;
  weft__lock_acquire(&e->ec_cap_lock);
  if (e->ec_active < e->ec_max_active) {
    e->ec_active++;
  } else if (bounded && atomic_load(&e->ec_region->r_encl.en_capq) >= e->ec_region->r_cfg.max_queued) {
    rc = WEFT_EBUSY;
  } else {
    rc = 1;
    t->tk_rnext = NULL;
    if (e->ec_capq_tail != NULL)
      e->ec_capq_tail->tk_rnext = t;
    else
      e->ec_capq_head = t;
    e->ec_capq_tail = t;
    atomic_fetch_add(&e->ec_region->r_encl.en_capq, 1);
  }
  weft__lock_release(&e->ec_cap_lock);
  return rc;
}

/* A task of e ended: its slot passes to the first queued start (returned,
 * for the caller to admit) or is freed. Any thread. */
weft_task *weft__cap_release(weft__encl *e) {
  weft__lock_acquire(&e->ec_cap_lock);
  weft_task *t = e->ec_capq_head;
  if (t != NULL) {
    if ((e->ec_capq_head = t->tk_rnext) == NULL)
      e->ec_capq_tail = NULL;
    atomic_fetch_sub(&e->ec_region->r_encl.en_capq, 1);
  } else {
    e->ec_active--;
  }
  weft__lock_release(&e->ec_cap_lock);
  return t;
}

/* Immediate shutdown: drop the starts waiting on every cap. They are
 * cancelled after r_encl.en_lock is released, since cancelling a start drops
 * a reference on a transient enclave, and dropping the last one takes that
 * lock (today a running member always holds one then, but the order must
 * not depend on it). Host thread. */
void weft__cap_cancel_all(weft_region *r) {
  weft_task *all = NULL;
  weft__lock_acquire(&r->r_encl.en_lock);
  for (weft__encl *e = r->r_encl.en_list; e != NULL; e = e->ec_next) {
    weft__lock_acquire(&e->ec_cap_lock);
    if (e->ec_capq_head != NULL) {
      e->ec_capq_tail->tk_rnext = all;
      all = e->ec_capq_head;
      e->ec_capq_head = e->ec_capq_tail = NULL;
    }
    weft__lock_release(&e->ec_cap_lock);
  }
  weft__lock_release(&r->r_encl.en_lock);
  while (all != NULL) {
    weft_task *next = all->tk_rnext;
    atomic_fetch_sub(&r->r_encl.en_capq, 1);
    weft__start_cancel(all, NULL);
    all = next;
  }
}

/* ---- Accounting ------------------------------------------------------------------ */

weft__acct *weft__acct_new(unsigned workers) {
  weft__acct *a = weft__aligned_alloc(workers * sizeof *a, WEFT__CACHELINE);
  if (a != NULL)
    memset(a, 0, workers * sizeof *a);
  return a;
}

/* Add an ended task to one worker's share (that worker's thread). Its
 * dispatches, dispatch time, start and waits ended by a wake-up were added
 * live (worker.c); its ready wait and what only the end knows are added
 * here. A task that never ran counts as started here. */
void weft__acct_fold(weft__acct *a, const weft_task *t, uint64_t response_ns) {
  if (t->tk_ndisp == 0)
    WEFT__STAT_ADD(a->ac_started, 1);
  WEFT__STAT_ADD(a->ac_wait_ticks[WEFT_WAIT_READY], t->tk_wait_ticks[WEFT_WAIT_READY]);
  if (t->tk_flags & WEFT__TF_ABENDED)
    WEFT__STAT_ADD(a->ac_abended, 1);
  else
    WEFT__STAT_ADD(a->ac_completed, 1);
  WEFT__STAT_ADD(a->ac_first_ticks, t->tk_first_ticks);
  weft__hist_record(&a->ac_resp, response_ns);
}

/* Hot path (every ended task's response time): a multiply, no division. */
uint64_t weft__ticks_to_ns(weft_region *r, uint64_t ticks) {
  return weft__ticks_fx_ns(ticks, r->r_ticks_fx);
}

static double ns_ms(uint64_t ns) {
  return (double)ns / 1e6;
}

/* Sum the per-worker shares a[0..workers) into out (counts and times);
 * resp gets the merged response histogram. */
void weft__stats_fill(weft_region *r, const weft__acct *a, struct weft_enclave_stats *out,
                      weft__hist *resp) {
  uint64_t disp = 0, first = 0, wait[WEFT_WAIT_REASONS] = {0};
  weft__hist_clear(resp);
  for (unsigned i = 0; i < r->r_nworkers; i++) {
    out->tasks_started += WEFT__LOAD(a[i].ac_started);
    out->tasks_completed += WEFT__LOAD(a[i].ac_completed);
    out->tasks_abended += WEFT__LOAD(a[i].ac_abended);
    out->dispatches += WEFT__LOAD(a[i].ac_dispatches);
    disp += WEFT__LOAD(a[i].ac_disp_ticks);
    first += WEFT__LOAD(a[i].ac_first_ticks);
    for (int k = 0; k < WEFT_WAIT_REASONS; k++)
      wait[k] += WEFT__LOAD(a[i].ac_wait_ticks[k]);
    weft__hist hcopy = a[i].ac_resp;
    weft__hist_merge(resp, &hcopy);
  }
  uint64_t ended = out->tasks_completed + out->tasks_abended;
  out->active = out->tasks_started > ended ? (uint32_t)(out->tasks_started - ended) : 0;
  out->dispatch_ns = weft__ticks_to_ns(r, disp);
  out->first_dispatch_ns = weft__ticks_to_ns(r, first);
  for (int k = 0; k < WEFT_WAIT_REASONS; k++)
    out->wait_ns[k] = weft__ticks_to_ns(r, wait[k]);
}

/* Response figures of a histogram into out. */
static void stats_resp(weft_enclave_stats *out, const weft__hist *h) {
  out->responses = h->h_count;
  out->resp_avg_ms = ns_ms(weft__hist_mean(h));
  out->resp_p50_ms = ns_ms(weft__hist_percentile(h, 50));
  out->resp_p90_ms = ns_ms(weft__hist_percentile(h, 90));
  out->resp_p99_ms = ns_ms(weft__hist_percentile(h, 99));
  out->resp_max_ms = ns_ms(h->h_max_ns);
}

static void stats_ident(const weft__encl *e, weft_enclave_stats *out) {
  memcpy(out->name, e->ec_name, sizeof out->name);
  out->enclave_id = e->ec_id;
  out->importance = e->ec_importance;
  out->goal_type = e->ec_goal_type;
  out->goal_ms = e->ec_goal_ms;
  out->goal_percent = e->ec_goal_pct;
  out->dispatch_priority = atomic_load_explicit(&e->ec_band, memory_order_relaxed);
  out->pi = (double)atomic_load_explicit(&e->ec_pi_milli, memory_order_relaxed) / 1000.0;
}

/* Cumulative figures of e. tasks_started counts its tasks that ran. */
static void encl_cumulative(weft__encl *e, weft_enclave_stats *out, weft__hist *resp) {
  memset(out, 0, sizeof *out);
  stats_ident(e, out);
  weft__stats_fill(e->ec_region, e->ec_acct, out, resp);
  stats_resp(out, resp);
}

static int transient_stats(weft_enclave *e, weft_enclave_stats *out) {
  weft__encl *ec = (weft__encl *)e;
  weft__hist h;
  if (ec == NULL || out == NULL)
    return WEFT_EINVAL;
  encl_cumulative(ec, out, &h);
  return 0;
}

static int enclave_stats(weft_region *r, const char *enclave, weft_enclave_stats *out) {
  if (r == NULL || enclave == NULL || out == NULL)
    return WEFT_EINVAL;
  weft__encl *e = weft__encl_find(r, enclave);
  return e != NULL ? transient_stats((weft_enclave *)e, out) : WEFT_ENOTFOUND;
}

static int transaction_stats(weft_region *r, const char *tranid, weft_enclave_stats *out) {
  if (r == NULL || tranid == NULL || out == NULL)
    return WEFT_EINVAL;
  const weft__tran *tr = weft__tran_find(r, tranid);
  if (tr == NULL)
    return WEFT_ENOTFOUND;
  weft__hist h;
  memset(out, 0, sizeof *out);
  memcpy(out->name, tr->tr_id, sizeof out->name);
  weft__stats_fill(r, tr->tr_acct, out, &h);
  stats_resp(out, &h);
  return 0;
}

/* ---- Performance index and policy (monitor thread) ---------------------------- */

/* achieved / goal over an interval's responses; < 0 when unknown. */
static double perf_index(const weft__encl *e, const weft__hist *h) {
  if (e->ec_goal_type == WEFT_GOAL_NONE || h->h_count < MIN_RESPONSES)
    return -1.0;
  uint64_t achieved = e->ec_goal_type == WEFT_GOAL_AVERAGE
                          ? weft__hist_mean(h)
                          : weft__hist_percentile(h, (double)e->ec_goal_pct);
  return (double)achieved / ((double)e->ec_goal_ms * 1e6);
}

/* Subtract the previous snapshot's counts and times from cur. */
static void stats_minus(weft_enclave_stats *cur, const weft_enclave_stats *prev) {
  cur->tasks_started -= prev->tasks_started;
  cur->tasks_completed -= prev->tasks_completed;
  cur->tasks_abended -= prev->tasks_abended;
  cur->dispatches -= prev->dispatches;
  cur->dispatch_ns -= prev->dispatch_ns;
  cur->first_dispatch_ns -= prev->first_dispatch_ns;
  for (int k = 0; k < WEFT_WAIT_REASONS; k++)
    cur->wait_ns[k] -= prev->wait_ns[k];
}

/* Emit e's figures since its last interval, update its snapshot and PI.
 * r_encl.en_lock held, or e is no longer on the list. */
void weft__encl_interval(weft_region *r, weft__encl *e, uint64_t start_ns, uint64_t end_ns,
                         int final) {
  weft_interval_record rec;
  weft__hist cur, delta;
  weft_enclave_stats now;
  encl_cumulative(e, &now, &cur);
  weft__hist_sub(&delta, &cur, &e->ec_prev_resp);
  rec.s = now;
  stats_minus(&rec.s, &e->ec_prev);
  stats_resp(&rec.s, &delta);
  double pi = perf_index(e, &delta);
  if (pi >= 0) {
    atomic_store(&e->ec_pi_milli, (uint64_t)(pi * 1000.0 + 0.5));
    e->ec_misses = pi > PI_MISS ? e->ec_misses + 1 : 0;
  }
  rec.s.pi = pi >= 0 ? pi : 0;
  rec.start_ns = start_ns;
  rec.end_ns = end_ns;
  rec.final = final;
  e->ec_prev = now;
  e->ec_prev_resp = cur;
  e->ec_prev_end = end_ns;
  weft__record_interval(r, &rec);
}

static bool managed(const weft__encl *e) {
  return e->ec_importance != WEFT_IMPORTANCE_SYSTEM &&
         e->ec_importance != WEFT_IMPORTANCE_DISCRETIONARY;
}

static double pi_of(const weft__encl *e) {
  return (double)atomic_load_explicit(&e->ec_pi_milli, memory_order_relaxed) / 1000.0;
}

/* The most important managed enclave that has missed its goal MISS_STREAK
 * intervals in a row (ties: the worst PI). */
static weft__encl *receiver_pick(weft_region *r) {
  weft__encl *best = NULL;
  for (weft__encl *e = r->r_encl.en_list; e != NULL; e = e->ec_next) {
    if (!managed(e) || e->ec_goal_type == WEFT_GOAL_NONE || e->ec_misses < MISS_STREAK)
      continue;
    if (best == NULL || e->ec_importance < best->ec_importance ||
        (e->ec_importance == best->ec_importance && pi_of(e) > pi_of(best)))
      best = e;
  }
  return best;
}

/* Who gives way to rc: a managed enclave that matters less or overachieves
 * its goal, at rc's band or above, the highest band first. */
static weft__encl *donor_pick(weft_region *r, const weft__encl *rc) {
  weft__encl *best = NULL;
  int rb = atomic_load(&rc->ec_band);
  for (weft__encl *e = r->r_encl.en_list; e != NULL; e = e->ec_next) {
    int b = atomic_load(&e->ec_band);
    bool gives = e->ec_importance > rc->ec_importance ||
                 (e->ec_goal_type != WEFT_GOAL_NONE && pi_of(e) < PI_EASY);
    if (e == rc || !managed(e) || !gives || b < rb || b <= 1)
      continue;
    if (best == NULL || b > atomic_load(&best->ec_band))
      best = e;
  }
  return best;
}

/* One policy step (WLM-like): when an enclave keeps missing its goal, raise
 * the most important one a band, or, at the top band already, lower a donor
 * a band. When every goal is met nothing moves, so a steady load settles;
 * the miss streak is the hysteresis. r_encl.en_lock held. */
static void policy_step(weft_region *r) {
  weft_assert_internal(weft__lock_held(&r->r_encl.en_lock));
  weft__encl *rc = receiver_pick(r);
  if (rc == NULL)
    return;
  rc->ec_misses = 0; /* judge the move by fresh intervals */
  int b = atomic_load(&rc->ec_band);
  if (b < WEFT__BAND_TOP) {
    atomic_store(&rc->ec_band, b + 1);
    return;
  }
  weft__encl *d = donor_pick(r, rc);
  if (d != NULL)
    atomic_store(&d->ec_band, atomic_load(&d->ec_band) - 1);
}

/* Every policy interval, on the monitor thread: interval records and PIs
 * of every enclave, then (goal mode) one policy step. */
void weft__policy_run(weft_region *r, uint64_t now_ns) {
  weft__lock_acquire(&r->r_encl.en_lock);
  for (weft__encl *e = r->r_encl.en_list; e != NULL; e = e->ec_next)
    weft__encl_interval(r, e, e->ec_prev_end, now_ns, 0);
  if (r->r_cfg.dispatch_mode == WEFT_DISPATCH_GOAL)
    policy_step(r);
  weft__lock_release(&r->r_encl.en_lock);
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_enclave_define_(weft_region *r, const weft_enclave_def *def, size_t size) {
  weft_enclave_def buf;
  int rc;
  def = weft__abi_in(&buf, sizeof buf, def, size, sizeof buf, &rc);
  return rc != 0 ? rc : enclave_define(r, def);
}

int weft_transient_stats_get_(weft_enclave *e, weft_enclave_stats *out, size_t size) {
  weft_enclave_stats buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = transient_stats(e, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}

int weft_enclave_stats_get_(weft_region *r, const char *enclave, weft_enclave_stats *out,
                            size_t size) {
  weft_enclave_stats buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = enclave_stats(r, enclave, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}

int weft_transaction_stats_get_(weft_region *r, const char *tranid, weft_enclave_stats *out,
                                size_t size) {
  weft_enclave_stats buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = transaction_stats(r, tranid, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}
