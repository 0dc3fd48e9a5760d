/* region.c - region lifecycle: configuration, create, shutdown, destroy. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

#define MIN_STACK (64u * 1024u) /* room for the fault pad and a program */

void weft_region_config_init_(weft_region_config *cfg, size_t size) {
  if (cfg == NULL || weft__abi_out_check(size, sizeof *cfg, sizeof *cfg) != 0)
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

/* ABI 2's zeros (the defaults) and WEFT_OFF, in the internal form, where
 * 0 means off as it did in ABI 1. */
static void config_defaults(weft_region_config *c) {
  weft_region_config d;
  weft_region_config_init(&d);
#define WEFT__DEFAULT(f) c->f = c->f == 0 ? d.f : c->f
#define WEFT__DEFAULT_OFF(f) c->f = c->f == 0 ? d.f : c->f == WEFT_OFF ? 0 : c->f
  WEFT__DEFAULT(workers);
  WEFT__DEFAULT(max_tasks);
  WEFT__DEFAULT_OFF(max_queued);
  WEFT__DEFAULT(stack_size);
  WEFT__DEFAULT(stack_commit);
  WEFT__DEFAULT_OFF(fiber_cache);
  WEFT__DEFAULT_OFF(runaway_ms);
  WEFT__DEFAULT(offload_threads);
  WEFT__DEFAULT(policy_interval_ms);
  WEFT__DEFAULT_OFF(aging_ms);
  WEFT__DEFAULT_OFF(checkpoint_bytes);
  WEFT__DEFAULT_OFF(lock_timeout_ms);
#undef WEFT__DEFAULT
#undef WEFT__DEFAULT_OFF
  c->accounting = c->accounting != WEFT_ACCOUNTING_OFF; /* 0 and 1: on */
}

/* WEFT_EINVAL for a choice that is none of its named values (dispatch_mode,
 * deadlock_action), WEFT_ERANGE for a number outside its range. */
static int config_check(const weft_region_config *c) {
  if (c->dispatch_mode < WEFT_DISPATCH_GOAL || c->dispatch_mode > WEFT_DISPATCH_FIFO ||
      (c->deadlock_action != WEFT_DEADLOCK_ABEND && c->deadlock_action != WEFT_DEADLOCK_ERROR))
    return WEFT_EINVAL;
  if (c->workers < 1 || c->workers > WEFT_MAX_WORKERS || c->max_tasks < 1 ||
      c->max_tasks > WEFT_MAX_TASKS_MAX || c->stack_size < MIN_STACK ||
      c->stack_commit > c->stack_size || c->offload_threads < 1 ||
      c->policy_interval_ms < WEFT_POLICY_INTERVAL_MS_MIN ||
      c->policy_interval_ms > WEFT_POLICY_INTERVAL_MS_MAX)
    return WEFT_ERANGE;
  return 0;
}

/* ---- The lifecycle table ------------------------------------------------------
 * The runtime's components as rows of subsys.h's table. Each wrapper says
 * what its component does at that point; the order is the table's. */

static int classes_create(weft_region *r, const weft_region_config *cfg, void **st) {
  return weft__dtab_init(&r->r_defs.df_classes);
}
static void classes_free(weft_region *r, void *st) {
  weft__classes_free(r);
}
static const weft__subsys ss_classes = {"classes", classes_create, NULL, classes_free, NULL};

static int enq_create(weft_region *r, const weft_region_config *cfg, void **st) {
  return weft__enq_init(r);
}
static void enq_free(weft_region *r, void *st) {
  weft__enq_free(r);
}
static const weft__subsys ss_enq = {"enq", enq_create, NULL, enq_free, NULL};

/* A terminal learns of its task's end (RETURN TRANSID goes there) after
 * the library's subsystems have settled the task's unit of work. */
static void term_task_end(weft_task *t, void *st) {
  weft__term_task_end(t);
}
static const weft__subsys ss_term = {"terminals", NULL, NULL, NULL, term_task_end};

static int encl_create(weft_region *r, const weft_region_config *cfg, void **st) {
  return weft__encl_init(r);
}
static void encl_free(weft_region *r, void *st) {
  weft__encl_free(r);
}
static const weft__subsys ss_encl = {"enclaves", encl_create, NULL, encl_free, NULL};

/* Program DLLs are released after the definitions that point into them. */
static void programs_free(weft_region *r, void *st) {
  weft__programs_unload(r);
}
static const weft__subsys ss_programs = {"programs", NULL, NULL, programs_free, NULL};

static int defs_create(weft_region *r, const weft_region_config *cfg, void **st) {
  int rc = weft__dtab_init(&r->r_defs.df_progs);
  return rc != 0 ? rc : weft__dtab_init(&r->r_defs.df_trans);
}
static void defs_free(weft_region *r, void *st) {
  weft__defs_free(r);
}
static const weft__subsys ss_defs = {"definitions", defs_create, NULL, defs_free, NULL};

/* The JSON Lines file, opened for appending; its path is not kept. */
static int records_create(weft_region *r, const weft_region_config *cfg, void **st) {
  const char *path = cfg->record_path;
  if (path == NULL)
    return 0;
  r->r_encl.en_recfile = fopen(path, "ab");
  if (r->r_encl.en_recfile == NULL) {
    weft__log(r, 'E', "cannot open the record file %s", path);
    return WEFT_ENOTFOUND;
  }
  return 0;
}
static void records_free(weft_region *r, void *st) {
  weft__records_flush(r);
  if (r->r_encl.en_recfile != NULL)
    fclose(r->r_encl.en_recfile);
  r->r_encl.en_recfile = NULL;
}
static const weft__subsys ss_records = {"records", records_create, NULL, records_free, NULL};

static int fault_create(weft_region *r, const weft_region_config *cfg, void **st) {
  int rc = weft__fault_install();
  r->r_fault_installed = rc == 0;
  return rc;
}
static void fault_free(weft_region *r, void *st) {
  if (r->r_fault_installed)
    weft__fault_remove();
  r->r_fault_installed = false;
}
static const weft__subsys ss_fault = {"program checks", fault_create, NULL, fault_free, NULL};

static void offload_stop(weft_region *r, void *st) {
  weft__offload_stop(r);
}
static const weft__subsys ss_offload = {"offload", NULL, offload_stop, offload_stop, NULL};

static int workers_create(weft_region *r, const weft_region_config *cfg, void **st) {
  return weft__workers_start(r);
}
static void workers_quiesce(weft_region *r, void *st) {
  weft__workers_join(r);
}
static void workers_free(weft_region *r, void *st) {
  weft__workers_free(r);
}
static const weft__subsys ss_workers = {"workers", workers_create, workers_quiesce, workers_free,
                                        NULL};

static int monitor_create(weft_region *r, const weft_region_config *cfg, void **st) {
  return weft__monitor_start(r);
}
static void monitor_stop(weft_region *r, void *st) {
  weft__monitor_stop(r);
}
static const weft__subsys ss_monitor = {"monitor", monitor_create, monitor_stop, monitor_stop,
                                        NULL};

/* Where the library's subsystems (weft__library_subsys) take their place. */
static const weft__subsys ss_library_mark = {"(library)", NULL, NULL, NULL, NULL};

/* The region's lifecycle, one row per subsystem. weft_region_create runs
 * the rows' ss_create top-down; a shutdown that drains runs ss_quiesce
 * bottom-up; weft_region_destroy (or a failed create) runs ss_free
 * bottom-up; each task's end runs ss_task_end top-down. So: the library's
 * subsystems (txn/: restart recovery and the log writer) are set up before
 * the definitions, records and workers and torn down after them; their
 * quiesce (txn/: the clean checkpoint) runs once the workers and offload
 * threads have stopped. */
static const weft__subsys *const lifecycle[] = {
    &ss_classes,      /* transaction classes' table */
    &ss_enq,          /* ENQ table, record locks */
    &ss_library_mark, /* the library's subsystems: txn/ */
    &ss_term,         /* terminals: told of a task's end after txn/ */
    &ss_encl,         /* enclaves and accounting */
    &ss_programs,     /* program DLLs (freed after the definitions) */
    &ss_defs,         /* program and transaction tables */
    &ss_records,      /* the JSON Lines record file */
    &ss_fault,        /* the program-check handler */
    &ss_offload,      /* offload threads (started on demand) */
    &ss_workers,      /* worker threads */
    &ss_monitor,      /* runaway detection, policy, aging */
};

static void table_add(weft_region *r, const weft__subsys *ss) {
  weft_assert(r->r_nss < WEFT__SS_MAX);
  r->r_ss[r->r_nss++].sr_ss = ss;
  if (ss->ss_task_end != NULL)
    r->r_ss_end[r->r_nss_end++].se_fn = ss->ss_task_end;
}

/* The region's rows: the runtime's, with the library's in their place. */
static void table_build(weft_region *r) {
  for (size_t i = 0; i < sizeof lifecycle / sizeof lifecycle[0]; i++) {
    if (lifecycle[i] != &ss_library_mark) {
      table_add(r, lifecycle[i]);
      continue;
    }
    for (const weft__subsys *const *l = weft__library_subsys; *l != NULL; l++) {
      /* A task's per-subsystem slot is indexed by the row (weft__task_slot). */
      weft_assert(l - weft__library_subsys < WEFT__SS_TASK_SLOTS);
      table_add(r, *l);
    }
  }
}

/* Run the rows' ss_create in order; stops at the first failure. Host. */
static int table_create(weft_region *r, const weft_region_config *cfg) {
  unsigned e = 0;
  for (unsigned i = 0; i < r->r_nss; i++) {
    const weft__subsys *ss = r->r_ss[i].sr_ss;
    r->r_created = i + 1;
    int rc = ss->ss_create ? ss->ss_create(r, cfg, &r->r_ss[i].sr_state) : 0;
    if (ss->ss_task_end != NULL)
      r->r_ss_end[e++].se_state = r->r_ss[i].sr_state;
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Host thread, no task left. */
static void table_quiesce(weft_region *r) {
  for (unsigned i = r->r_created; i-- > 0;)
    if (r->r_ss[i].sr_ss->ss_quiesce != NULL)
      r->r_ss[i].sr_ss->ss_quiesce(r, r->r_ss[i].sr_state);
}

const weft_region_config *weft__region_config(weft_region *r) {
  return &r->r_cfg;
}

void *weft__subsys_state(weft_region *r, const weft__subsys *ss) {
  for (unsigned i = 0; i < r->r_nss; i++)
    if (r->r_ss[i].sr_ss == ss)
      return r->r_ss[i].sr_state;
  return NULL;
}

void weft__subsys_task_end(weft_task *t) {
  weft_region *r = t->tk_region;
  for (unsigned i = 0; i < r->r_nss_end; i++)
    r->r_ss_end[i].se_fn(t, r->r_ss_end[i].se_state);
}

static void region_free(weft_region *r) {
  for (unsigned i = r->r_created; i-- > 0;)
    if (r->r_ss[i].sr_ss->ss_free != NULL)
      r->r_ss[i].sr_ss->ss_free(r, r->r_ss[i].sr_state);
  free(r->r_inq.iq_purges);
  free(r->r_adm);
  weft__aligned_free(r);
  atomic_fetch_sub(&weft__count_regions, 1);
}

static weft_region *region_alloc(const weft_region_config *cfg) {
  weft_region *r = weft__aligned_alloc(sizeof *r, WEFT__CACHELINE);
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
  r->r_ticks_fx = weft__ticks_fx(r->r_tsc_per_ns);
  weft__lock_init(&r->r_defs.df_lock);
  weft__lock_init(&r->r_adm_lock);
  weft__lock_init(&r->r_life_lock);
  weft__cond_init(&r->r_life_cond);
  weft__lock_init(&r->r_off.of_lock);
  weft__cond_init(&r->r_off.of_cond);
  weft__lock_init(&r->r_inq.iq_purge_lock);
  weft__lock_init(&r->r_inq.iq_lock);
  /* The caller's strings are not kept: subsystems copy what they need. */
  r->r_cfg.record_path = NULL;
  r->r_cfg.data_dir = NULL;
  table_build(r);
  return r;
}

int weft_region_create_(const weft_region_config *cfg, size_t size, weft_region **out) {
  weft_region_config buf;
  int rc;
  cfg = weft__abi_in(&buf, sizeof buf, cfg, size, sizeof buf, &rc);
  if (rc != 0)
    return rc;
  return weft__region_create(cfg, 2, out);
}

int weft__region_create(const weft_region_config *in, int abi, weft_region **out) {
  weft_region_config c;
  int rc;
  if (out == NULL)
    return WEFT_EINVAL;
  *out = NULL;
  if (weft__worker_self() != NULL)
    return WEFT_ESTATE; /* regions are made and ended by host threads */
  if (in != NULL)
    c = *in;
  else
    memset(&c, 0, sizeof c);
  if (in == NULL || abi >= 2)
    config_defaults(&c);
  const weft_region_config *cfg = &c;
  if ((rc = config_check(cfg)) != 0)
    return rc;
  weft_region *r = region_alloc(cfg);
  if (r == NULL)
    return WEFT_ENOMEM;
  if ((rc = table_create(r, cfg)) != 0) {
    region_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- Shutdown ---------------------------------------------------------------- */

static bool drained(weft_region *r) {
  return atomic_load(&r->r_live) == 0 && atomic_load(&r->r_nqueued) == 0 &&
         atomic_load(&r->r_delayed) == 0 && atomic_load(&r->r_encl.en_capq) == 0;
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
  table_quiesce(r); /* monitor, workers, offload, then txn/'s clean checkpoint */
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
}
