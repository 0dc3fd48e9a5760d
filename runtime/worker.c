/* worker.c - workers: the dispatch loop, ready queues, inboxes, idle sleep,
 * work stealing and direct switches.
 *
 * A worker is an OS thread converted to a fiber; that fiber, the dispatcher,
 * owns the loop below and the cold work (the inbox, timers, control
 * requests, idle sleep). A task that yields, waits or ends does not go
 * through it as a rule: it finishes its own dispatch, picks the next task
 * with the same function the dispatcher uses (pick_next: one place decides)
 * and switches straight to it (weft__dispatch_suspend, weft__dispatch_end,
 * as DragonFly's lwkt_switch and marl's Worker::suspend do). It switches to
 * the dispatcher only when nothing is ready, when cold work waits, or after
 * WEFT__DIRECT_MAX direct switches in a row (see cold_due). */
#include <stdlib.h>

#include "runtime/internal.h"

/* ---- The inbox: Vyukov's intrusive MPSC queue ---------------------------- */

void weft__mpsc_init(weft__mpsc *q) {
  atomic_store(&q->q_stub.n_next, NULL);
  atomic_store(&q->q_head, &q->q_stub);
  q->q_tail = &q->q_stub;
}

/* Any thread. The exchange is the linearization point. */
void weft__mpsc_push(weft__mpsc *q, weft__node *n) {
  atomic_store_explicit(&n->n_next, NULL, memory_order_relaxed);
  weft__node *prev = atomic_exchange_explicit(&q->q_head, n, memory_order_seq_cst);
  atomic_store_explicit(&prev->n_next, n, memory_order_release);
}

/* Consumer only. */
weft__node *weft__mpsc_pop(weft__mpsc *q) {
  weft__node *tail = q->q_tail;
  weft__node *next = atomic_load_explicit(&tail->n_next, memory_order_acquire);
  if (tail == &q->q_stub) {
    if (next == NULL)
      return NULL;
    q->q_tail = tail = next;
    next = atomic_load_explicit(&next->n_next, memory_order_acquire);
  }
  if (next != NULL) {
    q->q_tail = next;
    return tail;
  }
  if (tail != atomic_load_explicit(&q->q_head, memory_order_acquire))
    return NULL; /* a producer is between its exchange and its link */
  weft__mpsc_push(q, &q->q_stub);
  next = atomic_load_explicit(&tail->n_next, memory_order_acquire);
  if (next == NULL)
    return NULL;
  q->q_tail = next;
  return tail;
}

/* ---- Handing work to a worker (any thread) ------------------------------ */

static void worker_kick(weft__worker *w) {
  if (atomic_load_explicit(&w->wk_sleeping, memory_order_seq_cst)) {
    atomic_fetch_add_explicit(&w->wk_wake_seq, 1, memory_order_seq_cst);
    weft__addr_wake_one((void *)&w->wk_wake_seq);
  }
}

void weft__worker_post(weft__worker *w, weft__node *n, int kind) {
  n->n_kind = kind;
  weft__mpsc_push(&w->wk_inbox, n);
  worker_kick(w);
}

/* Ask w for something (WEFT__CTL_*); its control node is queued at most once. */
void weft__worker_ctl(weft__worker *w, uint32_t bits) {
  if (atomic_fetch_or_explicit(&w->wk_ctl, bits, memory_order_acq_rel) == 0)
    weft__worker_post(w, &w->wk_ctl_node, WEFT__N_CTL);
  else
    worker_kick(w);
}

weft__worker *weft__worker_self(void) {
  return weft__tls_get();
}

/* ---- Ready queues (owner only) ------------------------------------------ */

/* Where t queues: its enclave's band, then its priority; aging adds a band
 * per step (to the top level of band 6 at most) for every band but the
 * discretionary and system ones. FIFO mode: one level for all. */
static inline unsigned task_level(weft__worker *w, weft_task *t) {
  if (w->wk_fifo)
    return 0;
  unsigned band = (unsigned)atomic_load_explicit(&t->tk_encl->ec_band, memory_order_relaxed);
  unsigned level = band * 256u + t->tk_prio;
  if (weft__unlikely(t->tk_boost != 0) && band != 0 && band != WEFT__BAND_SYSTEM) {
    level += t->tk_boost * 256u;
    if (level > WEFT__BAND_TOP * 256u + 255u)
      level = WEFT__BAND_TOP * 256u + 255u;
  }
  return level;
}

static void level_append(weft__worker *w, weft_task *t, unsigned level) {
  t->tk_level = (uint16_t)level;
  t->tk_rnext = NULL;
  if (w->wk_rq_head[level] == NULL) {
    w->wk_rq_head[level] = t;
    w->wk_rq_bits[level >> 6] |= 1ull << (level & 63);
    w->wk_rq_bands |= 1u << (level >> 8);
  } else {
    w->wk_rq_tail[level]->tk_rnext = t;
  }
  w->wk_rq_tail[level] = t;
}

static inline void ready_push(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  t->tk_age_gen = w->wk_age_gen;
  level_append(w, t, task_level(w, t));
  WEFT__STAT_ADD(w->wk_nready, 1);
}

void weft__ready_push(weft__worker *w, weft_task *t) {
  ready_push(w, t);
}

/* Forget that band b has work if none of its four words has a bit. */
static void band_check(weft__worker *w, unsigned b) {
  const uint64_t *bits = &w->wk_rq_bits[b * 4];
  if ((bits[0] | bits[1] | bits[2] | bits[3]) == 0)
    w->wk_rq_bands &= ~(1u << b);
}

/* The first task of the highest non-empty level, or NULL. Hot path. */
static inline weft_task *ready_pop(weft__worker *w) {
  if (w->wk_rq_bands == 0)
    return NULL;
  unsigned b = 31 - (unsigned)__builtin_clz(w->wk_rq_bands);
  for (int i = (int)b * 4 + 3;; i--) {
    uint64_t bits = w->wk_rq_bits[i];
    if (bits == 0)
      continue;
    unsigned level = (unsigned)i * 64 + 63 - (unsigned)__builtin_clzll(bits);
    weft_task *t = w->wk_rq_head[level];
    if ((w->wk_rq_head[level] = t->tk_rnext) == NULL) {
      w->wk_rq_bits[i] &= ~(1ull << (level & 63));
      band_check(w, b);
    }
    WEFT__STAT_ADD(w->wk_nready, -1);
    return t;
  }
}

/* An aging tick (CTL_AGE): every task of bands 1-6 that has been ready
 * since before the previous tick rises one band. Levels are walked from the
 * top down, so a task rises at most once per tick. Cold path. */
static void age_ready(weft__worker *w) {
  uint32_t gen = ++w->wk_age_gen;
  for (unsigned level = WEFT__BAND_TOP * 256u + 255u; level >= 256u; level--) {
    weft_task *t = w->wk_rq_head[level];
    if (t == NULL)
      continue;
    w->wk_rq_head[level] = NULL;
    w->wk_rq_bits[level >> 6] &= ~(1ull << (level & 63));
    band_check(w, level >> 8);
    while (t != NULL) {
      weft_task *next = t->tk_rnext;
      if (t->tk_age_gen + 1 < gen && t->tk_boost < WEFT__BAND_TOP)
        t->tk_boost++;
      level_append(w, t, task_level(w, t));
      t = next;
    }
  }
}

/* ---- Accounting (owner; only with accounting on) -----------------------------
 * Out of line on purpose: inlined, these grew the dispatch loop enough to
 * cost 5-15 ns per yield (measured with bench_switch), accounting on or off. */

static inline uint64_t ticks_since(uint64_t now, uint64_t then) {
  return now > then ? now - then : 0;
}

/* Add `ticks` of wait `reason` to the task and, live, to this worker's
 * shares of its enclave and transaction. */
static __attribute__((noinline)) void acct_wait(weft__worker *w, weft_task *t, int reason,
                                                uint64_t ticks) {
  t->tk_wait_ticks[reason] += ticks;
  WEFT__STAT_ADD(t->tk_encl->ec_acct[w->wk_id].ac_wait_ticks[reason], ticks);
  WEFT__STAT_ADD(t->tk_tran->tr_acct[w->wk_id].ac_wait_ticks[reason], ticks);
}

/* A waiting task of w becomes ready: its wait ends now. */
void weft__wait_end(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  if (!w->wk_acct)
    return;
  uint64_t now = weft__tsc();
  acct_wait(w, t, t->tk_wreason, ticks_since(now, t->tk_t_mark));
  t->tk_t_mark = now;
  if (now > w->wk_now)
    w->wk_now = now;
}

/* A dispatch begins at now: the ready wait (and first-dispatch delay) end;
 * a first dispatch counts the task as started in its shares. The ready
 * wait stays with the task until it ends (it is on the yield path). */
static __attribute__((noinline)) void acct_dispatch_begin(weft__worker *w, weft_task *t,
                                                          uint64_t now) {
  t->tk_wait_ticks[WEFT_WAIT_READY] += ticks_since(now, t->tk_t_mark);
  if (t->tk_ndisp == 0) {
    t->tk_first_ticks = ticks_since(now, t->tk_t_admit);
    WEFT__STAT_ADD(t->tk_encl->ec_acct[w->wk_id].ac_started, 1);
    WEFT__STAT_ADD(t->tk_tran->tr_acct[w->wk_id].ac_started, 1);
  }
}

/* The dispatch that began at `now` ended: time on the worker, added to the
 * task and, live, to this worker's shares. */
static __attribute__((noinline)) void acct_dispatch_end(weft__worker *w, weft_task *t,
                                                        uint64_t now) {
  uint64_t end = weft__tsc(), ran = ticks_since(end, now);
  weft__acct *ea = &t->tk_encl->ec_acct[w->wk_id], *ta = &t->tk_tran->tr_acct[w->wk_id];
  t->tk_disp_ticks += ran;
  t->tk_ndisp++;
  t->tk_t_mark = end;
  WEFT__STAT_ADD(ea->ac_disp_ticks, ran);
  WEFT__STAT_ADD(ea->ac_dispatches, 1);
  WEFT__STAT_ADD(ta->ac_disp_ticks, ran);
  WEFT__STAT_ADD(ta->ac_dispatches, 1);
  w->wk_now = end;
}

/* Take t into w's list of owned tasks and make it ready. */
void weft__adopt(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  t->tk_worker = w;
  t->tk_oprev = NULL;
  t->tk_onext = w->wk_tasks;
  if (w->wk_tasks != NULL)
    w->wk_tasks->tk_oprev = t;
  w->wk_tasks = t;
  if (w->wk_purging)
    t->tk_flags |= WEFT__TF_PURGE;
  weft__purge_adopted(w, t);
  weft__ready_push(w, t);
}

/* Remove t from w's owned list (it ended or moves to another worker). */
static void disown(weft__worker *w, weft_task *t) {
  if (t->tk_oprev != NULL)
    t->tk_oprev->tk_onext = t->tk_onext;
  else
    w->wk_tasks = t->tk_onext;
  if (t->tk_onext != NULL)
    t->tk_onext->tk_oprev = t->tk_oprev;
}

/* ---- Control requests ---------------------------------------------------- */

/* Give about half the ready tasks to the worker that asked (CTL_STEAL). */
static void give_to_thief(weft__worker *w) {
  uint32_t id = atomic_exchange(&w->wk_thief, 0);
  uint32_t n = (WEFT__LOAD(w->wk_nready) + 1) / 2;
  if (id == 0 || id - 1 == w->wk_id)
    return;
  weft__worker *thief = w->wk_region->r_workers[id - 1];
  while (n-- > 0) {
    weft_task *t = ready_pop(w);
    if (t == NULL)
      break;
    disown(w, t);
    WEFT__STAT_ADD(thief->wk_steals, 1);
    weft__worker_post(thief, &t->tk_node, WEFT__N_ADOPT);
  }
}

/* Flag every owned task for abend AEXZ and wake those that wait. */
static void purge_owned(weft__worker *w) {
  w->wk_purging = true;
  for (weft_task *t = w->wk_tasks; t != NULL; t = t->tk_onext) {
    t->tk_flags |= WEFT__TF_PURGE;
    if (weft__task_claim(t)) {
      weft__timer_cancel(w, t);
      weft__wait_end(w, t);
      t->tk_wait_result = WEFT_ESHUTDOWN;
      weft__ready_push(w, t);
    }
  }
}

static void handle_ctl(weft__worker *w) {
  uint32_t bits = atomic_exchange_explicit(&w->wk_ctl, 0, memory_order_acq_rel);
  if (bits & WEFT__CTL_STEAL)
    give_to_thief(w);
  if (bits & WEFT__CTL_DRAIN)
    w->wk_draining = true;
  if (bits & (WEFT__CTL_DRAIN | WEFT__CTL_PURGE))
    weft__timers_cancel_delayed(w);
  if (bits & WEFT__CTL_PURGE)
    purge_owned(w);
  if (bits & WEFT__CTL_STOP)
    w->wk_stop = true;
  if (bits & WEFT__CTL_AGE)
    age_ready(w);
  if (bits & WEFT__CTL_PURGE1)
    weft__purge_scan(w);
  if (bits & WEFT__CTL_INQ)
    weft__inq_serve(w);
}

/* ---- The dispatch loop ---------------------------------------------------- */

/* Everything other threads handed over since the last look. */
static void drain_inbox(weft__worker *w) {
  weft__node *n;
  while ((n = weft__mpsc_pop(&w->wk_inbox)) != NULL) {
    if (n->n_kind == WEFT__N_CTL) {
      handle_ctl(w);
      continue;
    }
    weft_task *t = (weft_task *)((char *)n - offsetof(weft_task, tk_node));
    switch (n->n_kind) {
      case WEFT__N_ADOPT:
        weft__adopt(w, t);
        break;
      case WEFT__N_WAKE:
        weft__timer_cancel(w, t);
        weft__wait_end(w, t);
        weft__ready_push(w, t);
        break;
      case WEFT__N_DELAYED:
        weft__start_delayed_arm(w, t);
        break;
      default:
        weft_assert(!"bad inbox node");
    }
  }
}

/* Has dispatch number `disp` of t lasted longer than its runaway limit, as
 * the monitor saw it? One relaxed load; the monitor only ever lags. */
static bool ran_away(weft__worker *w, weft_task *t, uint64_t disp) {
  uint64_t rw = atomic_load_explicit(&w->wk_runword, memory_order_relaxed);
  return weft__unlikely(t->tk_runaway_ms != 0) &&
         (rw >> WEFT__RUNWORD_MS_BITS) == (disp & (UINT64_MAX >> WEFT__RUNWORD_MS_BITS)) &&
         (rw & WEFT__RUNWORD_MS_MAX) >= t->tk_runaway_ms;
}

/* Flag a runaway; a waiting one is resumed so that it abends now. */
static void runaway(weft__worker *w, weft_task *t) {
  t->tk_flags |= WEFT__TF_RUNAWAY;
  if (t->tk_req == WEFT__REQ_WAIT && weft__task_claim(t)) {
    weft__timer_cancel(w, t);
    weft__wait_end(w, t);
    t->tk_wait_result = WEFT_ETIMEDOUT;
    weft__ready_push(w, t);
  }
}

/* A task's first dispatch: give it a fiber, or, when none can be made, end
 * it abended AFIB without running (1). Dispatcher; out of line: the
 * dispatch loop stays small (see the accounting note above). */
static __attribute__((noinline)) int first_fiber(weft__worker *w, weft_task *t) {
  if (weft__fiber_assign(w, t) == 0)
    return 0;
  disown(w, t);
  weft__task_end_dispatch(w, t);
  return 1;
}

/* ---- Dispatches: where they begin and end ---------------------------------- */

/* A dispatch of t begins: on the dispatcher, or on the fiber of the task
 * that switches straight to t. Hot path: with accounting on, no clock read
 * (the last dispatch's end, wk_now, is this one's start); with it off, no
 * clock at all. */
static inline void dispatch_begin(weft__worker *w, weft_task *t) {
  uint64_t disp = WEFT__LOAD(w->wk_dispatches) + 1;
  atomic_store_explicit(&w->wk_dispatches, disp, memory_order_relaxed);
  atomic_store_explicit(&w->wk_run_no, t->tk_no, memory_order_relaxed);
  t->tk_boost = 0;
  if (w->wk_acct)
    acct_dispatch_begin(w, t, w->wk_now);
  w->wk_current = t;
}

/* The running task t's dispatch ends, on its own fiber (tk_req says why):
 * its time (one TSC read with accounting on) and a runaway the monitor saw.
 * A runaway is flagged; a waiting one is made ready at once so that it
 * abends now. Hot path. */
static inline void dispatch_end(weft__worker *w, weft_task *t) {
  w->wk_current = NULL;
  if (w->wk_acct)
    acct_dispatch_end(w, t, w->wk_now);
  if (ran_away(w, t, WEFT__LOAD(w->wk_dispatches)) && t->tk_req != WEFT__REQ_END)
    runaway(w, t);
}

/* What runs next on w: the highest-priority ready task, or NULL. The one
 * place that decides, for the dispatcher and for direct switches alike. */
static inline weft_task *pick_next(weft__worker *w) {
  return ready_pop(w);
}

/* Must the dispatcher run before the next task? When other threads handed
 * work over (the inbox, which also carries every control request: steals,
 * aging ticks, purges, inquiries, stop), when a timer may be due (the
 * TSC gate; with accounting on, the TSC the dispatch end just read), and
 * in any case after WEFT__DIRECT_MAX direct switches in a row: the bound
 * on how long a worker's tasks can pass it among themselves. Hot path:
 * one shared load (the inbox head), no clock read. */
static inline bool cold_due(weft__worker *w) {
  if (weft__unlikely(++w->wk_direct >= WEFT__DIRECT_MAX))
    return true;
  if (weft__mpsc_maybe_nonempty(&w->wk_inbox))
    return true;
  if (weft__likely(w->wk_timers.th_count == 0))
    return false;
  uint64_t now = w->wk_acct ? w->wk_now : weft__tsc();
  return w->wk_timers.th_items[0]->tk_timer.tm_due_tsc <= now;
}

/* The next task for a direct switch, with its fiber, or NULL when the
 * dispatcher must run: cold work is due, nothing is ready, or the task
 * picked needs a fiber made (a Win32 call: not on a task's stack; it
 * waits in wk_next and runs first). A task that has no fiber yet gets one
 * from the pool. Hot path. */
static weft_task *pick_direct(weft__worker *w) {
  if (cold_due(w))
    return NULL;
  weft_task *t = pick_next(w);
  if (weft__likely(t == NULL || t->tk_fiber != NULL))
    return t;
  if (w->wk_fibers == NULL) {
    w->wk_next = t;
    return NULL;
  }
  weft__fiber_assign(w, t); /* from the pool: cannot fail */
  return t;
}

/* Switch from the running task's fiber to next's, or to the dispatcher's
 * when next is NULL. */
static inline void switch_to(weft__worker *w, weft_task *next) {
  if (next == NULL) {
    weft__fiber_switch(w->wk_fiber);
    return;
  }
  dispatch_begin(w, next);
  weft__fiber_switch(next->tk_fiber);
}

/* t, running, yields or waits (tk_req) and has saved its FP state: end
 * its dispatch and switch straight to the next task, or to the dispatcher.
 * Returns when t is dispatched again, perhaps on another worker (then the
 * caller's w is stale). t's own fiber; hot path. */
void weft__dispatch_suspend(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  dispatch_end(w, t);
  if (t->tk_req == WEFT__REQ_YIELD)
    ready_push(w, t);
  weft_task *next = pick_direct(w);
  if (next == t) { /* it was the only one ready: go on, without a switch */
    dispatch_begin(w, t);
    return;
  }
  switch_to(w, next);
}

/* t ended (normally or abended) and released what it held, on its own
 * fiber: end its dispatch, account and free it (everything but its fiber),
 * then run what comes next. A next task without a fiber gets this one: the
 * call returns and the fiber body runs that task. Otherwise the fiber goes
 * back to the pool and the call returns when the pool hands it to a new
 * task; or, when it cannot be kept (a program check ended the task, the
 * pool is full or off), the dispatcher deletes it and the call never
 * returns. Either way t is gone when this returns. t's fiber. */
void weft__dispatch_end(weft__worker *w, weft_task *t) {
  weft__assert_owner(w);
  weft__fctx *fc = t->tk_fc;
  bool keep = !(t->tk_flags & WEFT__TF_FAULTED) && w->wk_fiber_cap != 0;
  dispatch_end(w, t);
  disown(w, t);
  weft__task_finish(w, t); /* t is freed */
  weft__fp_resync(w);      /* the end ran host code (records, callbacks) */
  weft_task *next = keep && !cold_due(w) ? pick_next(w) : NULL;
  if (next != NULL && next->tk_fiber == NULL) {
    weft__fiber_give(w, next, fc);
    dispatch_begin(w, next);
    return;
  }
  if (keep && weft__fiber_pool_put(w, fc) == 0) {
    switch_to(w, next);
    return;
  }
  w->wk_dead = fc; /* the dispatcher deletes it; next waits for it there */
  w->wk_next = next;
  weft__fiber_switch(w->wk_fiber);
  weft_assert(!"a deleted fiber was resumed");
}

/* Run t from the dispatcher until some task switches back to it (t itself
 * or one that t, or its successors, switched to directly). Each of them
 * finished its own dispatch; what is left here is a fiber to delete. */
static void run_task(weft__worker *w, weft_task *t) {
  if (weft__unlikely(t->tk_fiber == NULL) && first_fiber(w, t) != 0)
    return;
  dispatch_begin(w, t);
  weft__fiber_switch(t->tk_fiber);
  if (weft__unlikely(w->wk_dead != NULL)) {
    weft__fiber_drop(w->wk_dead);
    w->wk_dead = NULL;
  }
}

/* Ask the busiest other worker for ready tasks. */
static void request_steal(weft__worker *w) {
  weft_region *r = w->wk_region;
  weft__worker *victim = NULL;
  uint32_t most = 0;
  for (unsigned i = 0; i < r->r_nworkers; i++) {
    uint32_t n = WEFT__LOAD(r->r_workers[i]->wk_nready);
    if (i != w->wk_id && n > most) {
      most = n;
      victim = r->r_workers[i];
    }
  }
  if (victim == NULL)
    return;
  uint32_t none = 0;
  if (atomic_compare_exchange_strong(&victim->wk_thief, &none, w->wk_id + 1))
    weft__worker_ctl(victim, WEFT__CTL_STEAL);
}

/* Nothing ready: ask for work, then sleep until the inbox or a timer needs
 * attention. Cold path. */
static void worker_idle(weft__worker *w) {
  weft_region *r = w->wk_region;
  if (WEFT__LOAD(w->wk_credits) != 0) { /* reserved slots go back while idle */
    weft__credits_return(r, w);
    weft__region_check_drained(r);
    if (WEFT__LOAD(w->wk_nready) != 0)
      return;
  }
  if (r->r_nworkers > 1 && !w->wk_stop)
    request_steal(w);
  uint32_t seen = atomic_load_explicit(&w->wk_wake_seq, memory_order_seq_cst);
  atomic_store_explicit(&w->wk_sleeping, 1, memory_order_seq_cst);
  if (!weft__mpsc_maybe_nonempty(&w->wk_inbox) && !w->wk_stop) {
    unsigned ms = weft__timers_sleep_ms(w);
    if (ms == 0) {
      weft__timers_fire(w); /* due by the clock, not yet by the TSC gate */
    } else {
      uint64_t t0 = weft__clock_ns();
      weft__addr_wait(&w->wk_wake_seq, &seen, sizeof seen, ms);
      WEFT__STAT_ADD(w->wk_idle_ns, weft__clock_ns() - t0);
    }
  }
  atomic_store_explicit(&w->wk_sleeping, 0, memory_order_relaxed);
  if (w->wk_acct)
    w->wk_now = weft__tsc(); /* idle time is no one's dispatch */
  weft__fp_resync(w);        /* after Win32 waits: what the thread has now */
}

/* The loop, on the dispatcher fiber. Sections: inbox, timers, pick, idle. */
static void dispatch_loop(weft__worker *w) {
  for (;;) {
    w->wk_direct = 0;
    /* A task picked by a suspending task that could not switch to it. */
    weft_task *t = w->wk_next;
    if (weft__unlikely(t != NULL)) {
      w->wk_next = NULL;
      run_task(w, t);
      continue;
    }
    /* Work handed over by other threads. */
    if (weft__mpsc_maybe_nonempty(&w->wk_inbox))
      drain_inbox(w);
    /* Delays, wait timeouts and delayed starts that are due. */
    if (weft__unlikely(weft__timers_due(w)))
      weft__timers_fire(w);
    /* The highest-priority ready task. */
    t = pick_next(w);
    if (weft__likely(t != NULL)) {
      run_task(w, t);
      continue;
    }
    if (w->wk_stop && w->wk_tasks == NULL)
      return;
    worker_idle(w);
  }
}

/* ---- Worker threads -------------------------------------------------------- */

static void worker_main(void *arg) {
  weft__worker *w = arg;
  weft__tls_set(w);
  w->wk_mxcsr = weft__fp_get_mxcsr();
  w->wk_x87cw = w->wk_x87cw_now = weft__fp_get_x87cw();
  w->wk_start_ns = weft__clock_ns();
  w->wk_now = weft__tsc();
  if (weft__fiber_convert_thread(&w->wk_fiber) != 0) {
    weft__log(w->wk_region, 'E', "worker %u: cannot become a fiber", w->wk_id);
    abort();
  }
  dispatch_loop(w);
  w->wk_cpu_ns = weft__thread_cpu_self_ns();
  w->wk_stop_ns = weft__clock_ns();
  weft__fibers_free(w);
  weft__timers_free(w);
  while (w->wk_free != NULL) {
    weft_task *t = w->wk_free;
    w->wk_free = t->tk_rnext;
    free(t);
    atomic_fetch_sub_explicit(&weft__count_tasks, 1, memory_order_relaxed);
  }
  weft__fiber_unconvert_thread();
  weft__tls_set(NULL);
}

static weft__worker *worker_new(weft_region *r, unsigned id) {
  weft__worker *w = weft__aligned_alloc(sizeof *w, WEFT__CACHELINE);
  if (w == NULL)
    return NULL;
  memset(w, 0, sizeof *w);
  w->wk_region = r;
  w->wk_id = id;
  weft__mpsc_init(&w->wk_inbox);
  w->wk_fifo = r->r_cfg.dispatch_mode == WEFT_DISPATCH_FIFO;
  w->wk_acct = r->r_cfg.accounting != 0;
  unsigned cache = r->r_cfg.fiber_cache;
  w->wk_fiber_cap = cache ? (cache + r->r_nworkers - 1) / r->r_nworkers : 0;
  return w;
}

int weft__workers_start(weft_region *r) {
  r->r_workers = calloc(r->r_nworkers, sizeof *r->r_workers);
  if (r->r_workers == NULL)
    return WEFT_ENOMEM;
  for (unsigned i = 0; i < r->r_nworkers; i++)
    if ((r->r_workers[i] = worker_new(r, i)) == NULL)
      return WEFT_ENOMEM;
  for (unsigned i = 0; i < r->r_nworkers; i++) {
    weft__worker *w = r->r_workers[i];
    int rc = weft__thread_create(worker_main, w, &w->wk_thread);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Stop every worker (the region has no tasks left) and join its thread.
 * The structs stay (statistics remain readable) until weft__workers_free.
 * Safe on a partly started set and when called twice. */
void weft__workers_join(weft_region *r) {
  for (unsigned i = 0; r->r_workers != NULL && i < r->r_nworkers; i++)
    if (r->r_workers[i] != NULL && r->r_workers[i]->wk_thread != NULL)
      weft__worker_ctl(r->r_workers[i], WEFT__CTL_STOP);
  for (unsigned i = 0; r->r_workers != NULL && i < r->r_nworkers; i++) {
    weft__worker *w = r->r_workers[i];
    if (w != NULL && w->wk_thread != NULL) {
      weft__thread_join(w->wk_thread);
      w->wk_thread = NULL;
    }
  }
}

void weft__workers_free(weft_region *r) {
  weft__workers_join(r);
  for (unsigned i = 0; r->r_workers != NULL && i < r->r_nworkers; i++)
    weft__aligned_free(r->r_workers[i]);
  free(r->r_workers);
  r->r_workers = NULL;
}

bool weft__on_worker(void) {
  return weft__worker_self() != NULL;
}
