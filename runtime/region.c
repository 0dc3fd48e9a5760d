/* region.c - region lifecycle: configuration, create, shutdown, destroy. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/internal.h"

#define MIN_STACK (64u * 1024u) /* room for the fault pad and a program */

void weft_region_config_init(weft_region_config *cfg) {
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  unsigned cpus = weft__cpu_count();
  cfg->workers = cpus > WEFT_MAX_WORKERS ? WEFT_MAX_WORKERS : cpus;
  cfg->max_tasks = 1024;
  cfg->max_queued = 65536;
  cfg->stack_size = 256u * 1024u;
  cfg->stack_commit = 16u * 1024u;
  cfg->fiber_cache = 256;
  cfg->runaway_ms = 5000;
  cfg->offload_threads = 8;
  cfg->dispatch_mode = WEFT_DISPATCH_GOAL;
  cfg->accounting = 1;
  cfg->policy_interval_ms = 250;
  cfg->aging_ms = 100;
  cfg->checkpoint_bytes = 64u << 20;
  cfg->lock_timeout_ms = 30000;
  cfg->deadlock_action = WEFT_DEADLOCK_ABEND;
}

/* WEFT_EINVAL for a choice that is none of its named values (dispatch_mode,
 * deadlock_action), WEFT_ERANGE for a number outside its range. */
static int config_check(const weft_region_config *c) {
  if (c->dispatch_mode < WEFT_DISPATCH_GOAL || c->dispatch_mode > WEFT_DISPATCH_FIFO ||
      (c->deadlock_action != WEFT_DEADLOCK_ABEND && c->deadlock_action != WEFT_DEADLOCK_ERROR))
    return WEFT_EINVAL;
  if (c->workers < 1 || c->workers > WEFT_MAX_WORKERS || c->max_tasks < 1 ||
      c->stack_size < MIN_STACK || c->stack_commit > c->stack_size || c->offload_threads < 1 ||
      c->policy_interval_ms < 10 || c->policy_interval_ms > 3600000)
    return WEFT_ERANGE;
  return 0;
}

static void region_free(weft_region *r) {
  weft__monitor_stop(r);
  weft__workers_free(r);
  weft__offload_stop(r);
  weft__records_flush(r);
  if (r->r_recfile != NULL)
    fclose(r->r_recfile);
  weft__defs_free(r);
  weft__programs_unload(r); /* after the workers: no program runs any more */
  weft__encl_free(r);
  weft__txn_free(r); /* after the programs: no task can touch the store */
  weft__enq_free(r);
  weft__classes_free(r);
  free(r->r_purges);
  free(r->r_adm);
  _aligned_free(r);
  atomic_fetch_sub(&weft__count_regions, 1);
}

static weft_region *region_alloc(const weft_region_config *cfg) {
  weft_region *r = _aligned_malloc(sizeof *r, WEFT__CACHELINE);
  if (r == NULL)
    return NULL;
  memset(r, 0, sizeof *r);
  atomic_fetch_add(&weft__count_regions, 1);
  r->r_cfg = *cfg;
  r->r_nworkers = cfg->workers;
  r->r_credit_batch = cfg->max_tasks / (8 * cfg->workers);
  r->r_credit_batch = r->r_credit_batch < 1 ? 1 : r->r_credit_batch > 16 ? 16 : r->r_credit_batch;
  r->r_credit_keep = r->r_credit_batch > 1 ? 2 * r->r_credit_batch : 0;
  r->r_tsc_per_ns = weft__tsc_per_ns();
  weft__lock_init(&r->r_def_lock);
  weft__lock_init(&r->r_adm_lock);
  weft__lock_init(&r->r_life_lock);
  weft__cond_init(&r->r_life_cond);
  weft__lock_init(&r->r_off_lock);
  weft__cond_init(&r->r_off_cond);
  weft__lock_init(&r->r_purge_lock);
  weft__lock_init(&r->r_inq_lock);
  return r;
}

/* The JSON Lines file, opened for appending; its path is not kept. */
static int records_open(weft_region *r) {
  const char *path = r->r_cfg.record_path;
  r->r_cfg.record_path = NULL;
  if (path == NULL)
    return 0;
  r->r_recfile = fopen(path, "ab");
  if (r->r_recfile == NULL) {
    weft__log(r, 'E', "cannot open the record file %s", path);
    return WEFT_ENOTFOUND;
  }
  return 0;
}

int weft_region_create(const weft_region_config *cfg, weft_region **out) {
  weft_region_config defaults;
  int rc;
  if (out == NULL)
    return WEFT_EINVAL;
  *out = NULL;
  if (weft__worker_self() != NULL)
    return WEFT_ESTATE; /* regions are made and ended by host threads */
  if (cfg == NULL) {
    weft_region_config_init(&defaults);
    cfg = &defaults;
  }
  if ((rc = config_check(cfg)) != 0)
    return rc;
  weft_region *r = region_alloc(cfg);
  if (r == NULL)
    return WEFT_ENOMEM;
  if ((rc = weft__dtab_init(&r->r_progs)) != 0 || (rc = weft__dtab_init(&r->r_trans)) != 0 ||
      (rc = weft__dtab_init(&r->r_classes)) != 0 ||
      (rc = weft__enq_init(r)) != 0 || (rc = weft__encl_init(r)) != 0 ||
      (rc = records_open(r)) != 0 || (rc = weft__txn_init(r)) != 0 ||
      (rc = weft__fault_install()) != 0) {
    region_free(r);
    return rc;
  }
  if ((rc = weft__workers_start(r)) != 0 || (rc = weft__monitor_start(r)) != 0) {
    region_free(r);
    weft__fault_remove();
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- Shutdown ---------------------------------------------------------------- */

static bool drained(weft_region *r) {
  return atomic_load(&r->r_live) == 0 && atomic_load(&r->r_nqueued) == 0 &&
         atomic_load(&r->r_delayed) == 0 && atomic_load(&r->r_capq) == 0;
}

/* Wait until no task, queued start or delayed start is left. */
static int wait_drained(weft_region *r, unsigned timeout_ms) {
  uint64_t deadline = weft__clock_ns() + (uint64_t)timeout_ms * 1000000u;
  int rc = 0;
  weft__lock_acquire(&r->r_life_lock);
  while (!drained(r)) {
    unsigned ms = WEFT_WAIT_FOREVER;
    if (timeout_ms != WEFT_WAIT_FOREVER) {
      uint64_t now = weft__clock_ns();
      if (now >= deadline) {
        rc = WEFT_ETIMEDOUT;
        break;
      }
      ms = (unsigned)((deadline - now + 999999) / 1000000);
    }
    weft__cond_wait(&r->r_life_cond, &r->r_life_lock, ms);
  }
  weft__lock_release(&r->r_life_lock);
  return rc;
}

static void ctl_all(weft_region *r, uint32_t bits) {
  for (unsigned i = 0; i < r->r_nworkers; i++)
    weft__worker_ctl(r->r_workers[i], bits);
}

static void begin_purge(weft_region *r) {
  weft__log(r, 'I', "purging every task (abend AEXZ)");
  atomic_store(&r->r_state, WEFT__R_PURGING);
  weft__cap_cancel_all(r);
  weft__class_cancel_all(r);
  weft__adm_cancel_all(r);
  ctl_all(r, WEFT__CTL_PURGE);
}

void weft__region_fail(weft_region *r) {
  weft__lock_acquire(&r->r_life_lock);
  int st = atomic_load(&r->r_state);
  bool go = st == WEFT__R_RUNNING || st == WEFT__R_DRAINING;
  if (go)
    atomic_store(&r->r_state, WEFT__R_PURGING);
  weft__lock_release(&r->r_life_lock);
  if (go)
    begin_purge(r);
}

/* Stop the workers and offload threads of a drained region. */
static void region_down(weft_region *r) {
  weft__monitor_stop(r);
  weft__workers_join(r);
  weft__offload_stop(r);
  weft__txn_close(r); /* no task is left: a clean checkpoint */
  atomic_store(&r->r_state, WEFT__R_DOWN);
}

int weft_region_shutdown(weft_region *r, int mode, unsigned timeout_ms) {
  if (r == NULL || (mode != WEFT_SHUTDOWN_NORMAL && mode != WEFT_SHUTDOWN_IMMEDIATE))
    return WEFT_EINVAL;
  if (weft__worker_self() != NULL)
    return WEFT_ESTATE; /* a task cannot wait for itself to end */
  weft__lock_acquire(&r->r_life_lock);
  bool again = r->r_shutdown_called;
  r->r_shutdown_called = true;
  if (!again && atomic_load(&r->r_state) == WEFT__R_RUNNING) /* not after a failure */
    atomic_store(&r->r_state, WEFT__R_DRAINING);
  weft__lock_release(&r->r_life_lock);
  if (again)
    return WEFT_ESTATE;
  ctl_all(r, WEFT__CTL_DRAIN);
  if (mode == WEFT_SHUTDOWN_IMMEDIATE)
    begin_purge(r);
  int rc = wait_drained(r, timeout_ms);
  if (rc == WEFT_ETIMEDOUT && mode == WEFT_SHUTDOWN_NORMAL) {
    weft__log(r, 'W', "normal shutdown timed out after %u ms: escalating", timeout_ms);
    begin_purge(r);
    if (wait_drained(r, timeout_ms) != 0)
      return WEFT_ETIMEDOUT;
  }
  if (drained(r))
    region_down(r);
  return rc;
}

void weft_region_destroy(weft_region *r) {
  if (r == NULL)
    return;
  if (weft__worker_self() != NULL) {
    weft__log(r, 'E', "weft_region_destroy called from a task: ignored");
    return;
  }
  if (!r->r_shutdown_called) {
    weft_region_shutdown(r, WEFT_SHUTDOWN_IMMEDIATE, WEFT_WAIT_FOREVER);
  } else if (atomic_load(&r->r_state) != WEFT__R_DOWN) {
    wait_drained(r, WEFT_WAIT_FOREVER);
    region_down(r);
  }
  region_free(r);
  weft__fault_remove();
}
