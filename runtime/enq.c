/* enq.c - ENQ/DEQ: named resources held by one task at a time.
 *
 * Ownership: r_enq.eq_lock guards the whole table, every entry, each task's
 * tk_enqs list and the wait-queue fields of tasks waiting here. A releaser
 * hands the resource straight to the first waiter it can claim, so a
 * resource is never free while a task still waits for it.
 *
 * Deadlocks: every ENQ is exclusive, so each waiting task waits for exactly
 * one holder, and the wait-for graph is a set of chains. A task about to
 * wait follows the chain from the holder (tk_enq_wait, under r_enq.eq_lock);
 * if it leads back to itself the wait would close a cycle, and one task of
 * the cycle is chosen as the victim: the lowest priority, then the
 * youngest. Record locks (txn/) are ENQs too, with UOW lifetime. */
#include <stdlib.h>

#include "runtime/internal.h"

#define ENQ_BUCKETS 1024
#define ENQ_KEY_MAX 255

struct weft__enq {
  weft__enq *e_next;     /* hash chain */
  weft__enq *e_tnext;    /* owner's list of held ENQs */
  weft_task *e_owner;    /* holder, or NULL */
  uint32_t e_count;      /* nesting depth of the holder */
  bool e_uow;            /* released at the holder's syncpoint / rollback */
  weft__waitq e_waiters; /* FIFO */
  uint32_t e_hash;
  uint16_t e_len;        /* key length in bytes */
  uint8_t e_ns;          /* ENQ_NS_*: names of different kinds never meet */
  unsigned char e_key[]; /* the name, or the address (len 0 ENQs) */
};

int weft__enq_init(weft_region *r) {
  r->r_enq.eq_buckets = calloc(ENQ_BUCKETS, sizeof *r->r_enq.eq_buckets);
  r->r_enq.eq_mask = ENQ_BUCKETS - 1;
  weft__lock_init(&r->r_enq.eq_lock);
  return r->r_enq.eq_buckets ? 0 : WEFT_ENOMEM;
}

void weft__enq_free(weft_region *r) {
  for (uint32_t i = 0; r->r_enq.eq_buckets != NULL && i <= r->r_enq.eq_mask; i++) {
    while (r->r_enq.eq_buckets[i] != NULL) {
      weft__enq *e = r->r_enq.eq_buckets[i];
      r->r_enq.eq_buckets[i] = e->e_next;
      free(e);
    }
  }
  free(r->r_enq.eq_buckets);
  r->r_enq.eq_buckets = NULL;
}

/* What an ENQ names: a program's bytes, a program's address, or one of
 * txn/'s record and queue locks. */
enum { ENQ_NS_NAME, ENQ_NS_ADDRESS, ENQ_NS_LOCK };

/* The key of an ENQ request: len bytes at res, or the address itself. */
typedef struct enq_key {
  const void *k_bytes;
  uint16_t k_len;
  uint8_t k_ns;
  uint32_t k_hash;
} enq_key;

static int key_make_ns(enq_key *k, const void *const *res, size_t len, int ns) {
  if (*res == NULL)
    return WEFT_EINVAL;
  if (len > ENQ_KEY_MAX)
    return WEFT_ERANGE;
  k->k_bytes = len ? *res : (const void *)res;
  k->k_len = (uint16_t)(len ? len : sizeof(void *));
  k->k_ns = (uint8_t)(len ? ns : ENQ_NS_ADDRESS);
  uint32_t h = 2166136261u ^ k->k_ns; /* FNV-1a */
  for (uint16_t i = 0; i < k->k_len; i++)
    h = (h ^ ((const unsigned char *)k->k_bytes)[i]) * 16777619u;
  k->k_hash = h;
  return 0;
}

static int key_make(enq_key *k, const void *const *res, size_t len) {
  return key_make_ns(k, res, len, ENQ_NS_NAME);
}

static weft__enq **lookup(weft_region *r, const enq_key *k) {
  weft__enq **pp = &r->r_enq.eq_buckets[k->k_hash & r->r_enq.eq_mask];
  while (*pp != NULL && ((*pp)->e_hash != k->k_hash || (*pp)->e_len != k->k_len ||
                         (*pp)->e_ns != k->k_ns ||
                         memcmp((*pp)->e_key, k->k_bytes, k->k_len) != 0))
    pp = &(*pp)->e_next;
  return pp;
}

static weft__enq *entry_new(const enq_key *k) {
  weft__enq *e = calloc(1, sizeof *e + k->k_len);
  if (e == NULL)
    return NULL;
  e->e_hash = k->k_hash;
  e->e_len = k->k_len;
  e->e_ns = k->k_ns;
  memcpy(e->e_key, k->k_bytes, k->k_len);
  return e;
}

/* Delete e if nobody holds or wants it. */
static void entry_gc(weft_region *r, weft__enq *e) {
  if (e->e_owner != NULL || e->e_waiters.wq_head != NULL)
    return;
  weft__enq **pp = &r->r_enq.eq_buckets[e->e_hash & r->r_enq.eq_mask];
  while (*pp != e)
    pp = &(*pp)->e_next;
  *pp = e->e_next;
  free(e);
}

static void grant(weft__enq *e, weft_task *t, bool uow) {
  e->e_owner = t;
  e->e_count = 1;
  e->e_uow = uow;
  e->e_tnext = t->tk_enqs;
  t->tk_enqs = e;
}

/* The holder lets go entirely: pass e to the first claimable waiter. */
static void release(weft_region *r, weft__enq *e) {
  weft_task *owner = e->e_owner;
  weft__enq **pp = &owner->tk_enqs;
  while (*pp != e)
    pp = &(*pp)->e_tnext;
  *pp = e->e_tnext;
  e->e_owner = NULL;
  weft_task *w;
  while ((w = weft__waitq_pop(&e->e_waiters)) != NULL) {
    w->tk_enq_wait = NULL;
    if (weft__task_claim(w)) {
      grant(e, w, w->tk_enq_uow);
      weft__task_wake(w, 0);
      return;
    }
  }
  entry_gc(r, e);
}

/* After a timeout or purge: leave the waiter queue if still on it. Task. */
void weft__enq_detach(weft_task *t) {
  weft_region *r = t->tk_region;
  weft__enq *e = t->tk_wait_obj;
  weft__lock_acquire(&r->r_enq.eq_lock);
  t->tk_enq_wait = NULL;
  if (t->tk_wlinked) {
    weft__waitq_remove(&e->e_waiters, t);
    entry_gc(r, e);
  }
  weft__lock_release(&r->r_enq.eq_lock);
}

/* Is a worse deadlock victim than b: lower priority, then younger. */
static bool worse_victim(const weft_task *a, const weft_task *b) {
  return a->tk_prio != b->tk_prio ? a->tk_prio < b->tk_prio : a->tk_no > b->tk_no;
}

/* r_enq.eq_lock held. If t waiting for e would close a cycle, its victim;
 * else NULL. Chains are short; the bound only guards against a cycle that
 * a victim is still leaving. */
static weft_task *deadlock_victim(weft_task *t, weft__enq *e) {
  weft_assert_internal(weft__lock_held(&t->tk_region->r_enq.eq_lock));
  weft_task *victim = t;
  weft_task *u = e->e_owner;
  for (int steps = 0; u != NULL && steps < 4096; steps++) {
    if (u == t)
      return victim;
    if (worse_victim(u, victim))
      victim = u;
    if (u->tk_enq_wait == NULL)
      return NULL;
    u = u->tk_enq_wait->e_owner;
  }
  return NULL;
}

/* r_enq.eq_lock held: take victim v (another waiting task) off its ENQ and
 * wake it with WEFT_EDEADLOCK, if it can still be claimed. */
static void victim_wake(weft__enq *e_unused, weft_task *v) {
  weft_assert_internal(weft__lock_held(&v->tk_region->r_enq.eq_lock));
  (void)e_unused;
  if (!weft__task_claim(v))
    return; /* already being woken (timeout, purge): the cycle breaks anyway */
  weft__waitq_remove(&v->tk_enq_wait->e_waiters, v);
  v->tk_enq_wait = NULL;
  weft__task_wake(v, WEFT_EDEADLOCK);
}

/* r_enq.eq_lock held by the caller; released here. Task. */
static int enq_wait(weft_task *t, weft__enq *e, unsigned timeout_ms, bool uow) {
  weft_assert_internal(weft__lock_held(&t->tk_region->r_enq.eq_lock));
  weft_region *r = t->tk_region;
  weft_task *victim = deadlock_victim(t, e);
  if (victim != NULL) {
    atomic_fetch_add_explicit(&r->r_enq.eq_deadlocks, 1, memory_order_relaxed);
    weft__log(r, 'W', "deadlock: task %llu (%s) chosen as victim",
              (unsigned long long)victim->tk_no, victim->tk_tran->tr_id);
    if (victim == t) {
      weft__lock_release(&r->r_enq.eq_lock);
      return WEFT_EDEADLOCK;
    }
    victim_wake(e, victim);
  }
  atomic_store_explicit(&t->tk_wait, WEFT__W_WAIT, memory_order_relaxed);
  weft__waitq_push(&e->e_waiters, t);
  t->tk_wait_obj = e;
  t->tk_enq_wait = e;
  t->tk_enq_uow = uow;
  t->tk_detach = weft__enq_detach;
  weft__lock_release(&r->r_enq.eq_lock);
  return weft__task_wait(t, timeout_ms, WEFT_WAIT_ENQ);
}

/* The checks ENQ and DEQ share: the caller is the task; the key is valid. */
static int enq_args(weft_task *t, const void *const *res, size_t len, enq_key *k) {
  int rc = weft__task_check(t);
  return rc != 0 ? rc : key_make(k, res, len);
}

/* Take the ENQ for t: 0, WEFT_EBUSY (timeout 0), WEFT_ETIMEDOUT,
 * WEFT_EDEADLOCK, WEFT_ENOMEM. Task. */
static int enq_acquire(weft_task *t, const enq_key *k, unsigned timeout_ms, bool uow) {
  weft_region *r = t->tk_region;
  int rc = 0;
  weft__lock_acquire(&r->r_enq.eq_lock);
  weft__enq **pp = lookup(r, k), *e = *pp;
  if (e == NULL && (e = *pp = entry_new(k)) == NULL)
    rc = WEFT_ENOMEM;
  else if (e->e_owner == NULL)
    grant(e, t, uow);
  else if (e->e_owner == t) {
    e->e_count++;
    e->e_uow |= uow;
  } else if (timeout_ms == 0)
    rc = WEFT_EBUSY;
  else
    return enq_wait(t, e, timeout_ms, uow);
  weft__lock_release(&r->r_enq.eq_lock);
  return rc;
}

/* A deadlock victim in ABEND mode abends AKCS here, on its own fiber. */
static int enq_outcome(weft_task *t, int rc) {
  if (rc == WEFT_EDEADLOCK && t->tk_region->r_cfg.deadlock_action == WEFT_DEADLOCK_ABEND)
    weft__task_abend(t, "AKCS");
  return rc;
}

int weft_enq_ex(weft_task *t, const void *res, size_t len, unsigned timeout_ms, int lifetime) {
  enq_key k;
  int rc = enq_args(t, &res, len, &k);
  if (rc != 0)
    return rc;
  if (lifetime != WEFT_ENQ_TASK && lifetime != WEFT_ENQ_UOW)
    return WEFT_EINVAL;
  return enq_outcome(t, enq_acquire(t, &k, timeout_ms, lifetime == WEFT_ENQ_UOW));
}

int weft_enq(weft_task *t, const void *res, size_t len, unsigned timeout_ms) {
  return weft_enq_ex(t, res, len, timeout_ms, WEFT_ENQ_TASK);
}

int weft_deq(weft_task *t, const void *res, size_t len) {
  enq_key k;
  int rc = enq_args(t, &res, len, &k);
  if (rc != 0)
    return rc;
  weft_region *r = t->tk_region;
  weft__lock_acquire(&r->r_enq.eq_lock);
  weft__enq *e = *lookup(r, &k);
  if (e == NULL || e->e_owner != t)
    rc = WEFT_ENOTFOUND;
  else if (--e->e_count == 0)
    release(r, e);
  weft__lock_release(&r->r_enq.eq_lock);
  return rc;
}

/* At task end: let go of everything still held. Task. */
void weft__enq_release_all(weft_task *t) {
  if (t->tk_enqs == NULL)
    return;
  weft_region *r = t->tk_region;
  weft__lock_acquire(&r->r_enq.eq_lock);
  while (t->tk_enqs != NULL)
    release(r, t->tk_enqs);
  weft__lock_release(&r->r_enq.eq_lock);
}

/* At syncpoint or rollback: let go of every UOW-lifetime ENQ. Task. */
void weft__enq_release_uow(weft_task *t) {
  weft_region *r = t->tk_region;
  if (t->tk_enqs == NULL)
    return;
  weft__lock_acquire(&r->r_enq.eq_lock);
  weft__enq **pp = &t->tk_enqs;
  while (*pp != NULL) {
    weft__enq *e = *pp;
    if (e->e_uow)
      release(r, e); /* unlinks e from *pp */
    else
      pp = &e->e_tnext;
  }
  weft__lock_release(&r->r_enq.eq_lock);
}

/* ---- Record locks (txn/): ENQs with UOW lifetime ----------------------- */

int weft__lock_uow(weft_task *t, const void *res, size_t len, unsigned timeout_ms) {
  enq_key k;
  int rc = key_make_ns(&k, &res, len, ENQ_NS_LOCK);
  return rc != 0 ? rc : enq_acquire(t, &k, timeout_ms, true);
}

bool weft__lock_uow_held(weft_task *t, const void *res, size_t len) {
  enq_key k;
  if (key_make_ns(&k, &res, len, ENQ_NS_LOCK) != 0)
    return false;
  weft_region *r = t->tk_region;
  weft__lock_acquire(&r->r_enq.eq_lock);
  weft__enq *e = *lookup(r, &k);
  bool held = e != NULL && e->e_owner == t;
  weft__lock_release(&r->r_enq.eq_lock);
  return held;
}

int weft__lock_wait_free(weft_task *t, const void *res, size_t len, unsigned timeout_ms) {
  if (weft__lock_uow_held(t, res, len))
    return 0;
  enq_key k;
  int rc = key_make_ns(&k, &res, len, ENQ_NS_LOCK);
  if (rc == 0 && (rc = enq_acquire(t, &k, timeout_ms, false)) == 0) {
    weft_region *r = t->tk_region;
    weft__lock_acquire(&r->r_enq.eq_lock);
    weft__enq *e = *lookup(r, &k);
    if (--e->e_count == 0)
      release(r, e);
    weft__lock_release(&r->r_enq.eq_lock);
  }
  return rc;
}

int weft__lock_outcome(weft_task *t, int rc) {
  weft_region *r = t->tk_region;
  if (rc == WEFT_EBUSY) /* lock_timeout_ms 0: the wait timed out at once */
    rc = WEFT_ETIMEDOUT;
  if (rc == WEFT_ETIMEDOUT)
    atomic_fetch_add_explicit(&r->r_enq.eq_lock_timeouts, 1, memory_order_relaxed);
  if ((rc == WEFT_EDEADLOCK || rc == WEFT_ETIMEDOUT) &&
      r->r_cfg.deadlock_action == WEFT_DEADLOCK_ABEND)
    weft__task_abend(t, "AKCS");
  return rc;
}

void weft__lock_figures(weft_region *r, uint64_t *deadlocks, uint64_t *lock_timeouts) {
  *deadlocks = atomic_load(&r->r_enq.eq_deadlocks);
  *lock_timeouts = atomic_load(&r->r_enq.eq_lock_timeouts);
}
