/* defs.c - program and transaction definitions.
 *
 * Definitions are immutable once installed and live as long as the region,
 * so readers on the hot path (weft_start, weft_link) look them up without a
 * lock; writers serialize on r_defs.df_lock. */
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

uint64_t weft__name_pack(const char *name) {
  uint64_t key = 0;
  size_t i;
  if (name == NULL)
    return 0;
  for (i = 0; name[i] != '\0'; i++) {
    unsigned char c = (unsigned char)name[i];
    if (i == WEFT_NAME_MAX || c <= 0x20 || c >= 0x7F)
      return 0;
    key |= (uint64_t)c << (8 * i);
  }
  return key;
}

/* ---- The lock-free-read table ------------------------------------------- */

static uint32_t key_hash(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return (uint32_t)key;
}

static weft__dtab_arr *arr_new(uint32_t cap) {
  weft__dtab_arr *a = calloc(1, sizeof *a + cap * sizeof a->da_e[0]);
  if (a != NULL)
    a->da_mask = cap - 1;
  return a;
}

/* Writers only (r_defs.df_lock held, or a private array). */
static void arr_put(weft__dtab_arr *a, uint64_t key, void *val) {
  uint32_t i = key_hash(key) & a->da_mask;
  while (atomic_load_explicit(&a->da_e[i].e_key, memory_order_relaxed) != 0)
    i = (i + 1) & a->da_mask;
  atomic_store_explicit(&a->da_e[i].e_val, val, memory_order_relaxed);
  atomic_store_explicit(&a->da_e[i].e_key, key, memory_order_release);
  a->da_count++;
}

int weft__dtab_init(weft__dtab *t) {
  weft__dtab_arr *a = arr_new(64);
  if (a == NULL)
    return WEFT_ENOMEM;
  atomic_store(&t->t_cur, a);
  return 0;
}

/* Any thread, no lock. */
void *weft__dtab_find(weft__dtab *t, uint64_t key) {
  weft__dtab_arr *a = atomic_load_explicit(&t->t_cur, memory_order_acquire);
  uint32_t i = key_hash(key) & a->da_mask;
  for (;;) {
    uint64_t k = atomic_load_explicit(&a->da_e[i].e_key, memory_order_acquire);
    if (k == key)
      return atomic_load_explicit(&a->da_e[i].e_val, memory_order_relaxed);
    if (k == 0)
      return NULL;
    i = (i + 1) & a->da_mask;
  }
}

/* Grow to twice the size: copy, publish, retire the old array. */
static int dtab_grow(weft__dtab *t) {
  weft__dtab_arr *old = atomic_load_explicit(&t->t_cur, memory_order_relaxed);
  weft__dtab_arr *a = arr_new((old->da_mask + 1) * 2);
  if (a == NULL)
    return WEFT_ENOMEM;
  for (uint32_t i = 0; i <= old->da_mask; i++) {
    uint64_t k = atomic_load_explicit(&old->da_e[i].e_key, memory_order_relaxed);
    if (k != 0)
      arr_put(a, k, atomic_load_explicit(&old->da_e[i].e_val, memory_order_relaxed));
  }
  a->da_retired = old;
  atomic_store_explicit(&t->t_cur, a, memory_order_release);
  return 0;
}

/* r_defs.df_lock held. The caller has checked the key is absent. */
int weft__dtab_insert(weft__dtab *t, uint64_t key, void *val) {
  weft__dtab_arr *a = atomic_load_explicit(&t->t_cur, memory_order_relaxed);
  if ((a->da_count + 1) * 2 > a->da_mask + 1) {
    int rc = dtab_grow(t);
    if (rc)
      return rc;
    a = atomic_load_explicit(&t->t_cur, memory_order_relaxed);
  }
  arr_put(a, key, val);
  return 0;
}

void weft__dtab_free(weft__dtab *t, void (*free_val)(void *)) {
  weft__dtab_arr *a = atomic_load(&t->t_cur);
  for (uint32_t i = 0; free_val != NULL && a != NULL && i <= a->da_mask; i++)
    if (atomic_load(&a->da_e[i].e_key) != 0)
      free_val(atomic_load(&a->da_e[i].e_val));
  while (a != NULL) {
    weft__dtab_arr *next = a->da_retired;
    free(a);
    a = next;
  }
  atomic_store(&t->t_cur, NULL);
}

/* ---- Programs and transactions ------------------------------------------ */

const weft__prog *weft__prog_find(weft_region *r, const char *name) {
  uint64_t key = weft__name_pack(name);
  return key ? weft__dtab_find(&r->r_defs.df_progs, key) : NULL;
}

const weft__tran *weft__tran_find(weft_region *r, const char *tranid) {
  uint64_t key = weft__name_pack(tranid);
  return key ? weft__dtab_find(&r->r_defs.df_trans, key) : NULL;
}

/* Insert val under key unless present (the caller frees val when
 * refused). Any thread. */
static int def_install(weft_region *r, weft__dtab *t, uint64_t key, void *val) {
  int rc;
  weft__lock_acquire(&r->r_defs.df_lock);
  rc = weft__dtab_find(t, key) ? WEFT_EEXIST : weft__dtab_insert(t, key, val);
  weft__lock_release(&r->r_defs.df_lock);
  return rc;
}

static void tran_free(void *p) {
  weft__tran *tr = p;
  weft__aligned_free(tr->tr_acct);
  free(tr);
}

/* Where p's code lives, unless that is where the runtime's own code lives
 * too: the monitor never interrupts the runtime (monitor.c). */
static void program_module(weft__prog *p) {
  uintptr_t lo, hi, self_lo, self_hi;
  if (weft__code_module((const void *)p->pg_fn, &lo, &hi) != 0 ||
      weft__code_module((const void *)weft_program_define, &self_lo, &self_hi) != 0 ||
      lo == self_lo)
    return;
  p->pg_code_lo = lo;
  p->pg_code_hi = hi;
}

int weft_program_define(weft_region *r, const char *name, weft_program_fn fn) {
  if (r == NULL || name == NULL || fn == NULL)
    return WEFT_EINVAL;
  uint64_t key = weft__name_pack(name);
  if (key == 0)
    return WEFT_EBADNAME;
  weft__prog *p = calloc(1, sizeof *p);
  if (p == NULL)
    return WEFT_ENOMEM;
  p->pg_key = key;
  memcpy(p->pg_name, &key, WEFT_NAME_MAX);
  p->pg_fn = fn;
  program_module(p);
  int rc = def_install(r, &r->r_defs.df_progs, key, p);
  if (rc != 0)
    free(p);
  return rc;
}

static int transaction_define(weft_region *r, const weft_transaction_def *def) {
  if (r == NULL || def == NULL || def->tranid == NULL || def->program == NULL)
    return WEFT_EINVAL;
  uint64_t key = weft__name_pack(def->tranid);
  if (key == 0)
    return WEFT_EBADNAME;
  if (def->priority < 0 || def->priority > WEFT_PRIORITY_MAX)
    return WEFT_ERANGE;
  const weft__prog *prog = weft__prog_find(r, def->program);
  if (prog == NULL)
    return WEFT_ENOPROG;
  weft__encl *e = def->enclave ? weft__encl_find(r, def->enclave) : r->r_encl.en_default;
  if (e == NULL)
    return WEFT_ENOTFOUND;
  weft__class *c = NULL;
  if (def->tclass != NULL && (c = weft__class_find(r, def->tclass)) == NULL)
    return WEFT_ENOTFOUND;
  weft__tran *tr = calloc(1, sizeof *tr);
  if (tr == NULL || (tr->tr_acct = weft__acct_new(r->r_nworkers)) == NULL) {
    free(tr);
    return WEFT_ENOMEM;
  }
  tr->tr_encl = e;
  tr->tr_class = c;
  tr->tr_key = key;
  memcpy(tr->tr_id, &key, WEFT_NAME_MAX);
  tr->tr_prog = prog;
  tr->tr_prio = (uint8_t)def->priority;
  tr->tr_runaway_ms = def->runaway_ms;
  int rc = def_install(r, &r->r_defs.df_trans, key, tr);
  if (rc == 0)
    weft__monitor_limit(r, def->runaway_ms);
  else
    tran_free(tr);
  return rc;
}

void weft__defs_free(weft_region *r) {
  weft__dtab_free(&r->r_defs.df_trans, tran_free);
  weft__dtab_free(&r->r_defs.df_progs, free);
}

/* ---- Enabling and disabling at run time ------------------------------------ */

int weft_program_set_enabled(weft_region *r, const char *name, int enabled) {
  if (r == NULL || name == NULL)
    return WEFT_EINVAL;
  weft__prog *p = (weft__prog *)weft__prog_find(r, name);
  if (p == NULL)
    return WEFT_ENOPROG;
  atomic_store(&p->pg_disabled, !enabled);
  return 0;
}

int weft_transaction_set_enabled(weft_region *r, const char *tranid, int enabled) {
  if (r == NULL || tranid == NULL)
    return WEFT_EINVAL;
  weft__tran *tr = (weft__tran *)weft__tran_find(r, tranid);
  if (tr == NULL)
    return WEFT_ENOTRAN;
  atomic_store(&tr->tr_disabled, !enabled);
  return 0;
}

int weft_program_is_enabled(weft_region *r, const char *name) {
  const weft__prog *p = r != NULL && name != NULL ? weft__prog_find(r, name) : NULL;
  return p == NULL ? WEFT_ENOPROG : !atomic_load(&p->pg_disabled);
}

int weft_transaction_is_enabled(weft_region *r, const char *tranid) {
  const weft__tran *tr = r != NULL && tranid != NULL ? weft__tran_find(r, tranid) : NULL;
  return tr == NULL ? WEFT_ENOTRAN : !atomic_load(&tr->tr_disabled);
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_transaction_define_(weft_region *r, const weft_transaction_def *def, size_t size) {
  weft_transaction_def buf;
  int rc;
  def = weft__abi_in(&buf, sizeof buf, def, size, sizeof buf, &rc);
  return rc != 0 ? rc : transaction_define(r, def);
}
