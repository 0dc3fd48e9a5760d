/* regiondef_apply.c - installing a parsed definition file into a region.
 *
 * Calling context: a host thread (weft's define calls may be made from any
 * thread, but loading a DLL is slow and must not hold up a worker). The
 * wdef_file is only read; the region owns what is defined in it. Errors go
 * to the caller's list as "FILE:LINE: message". */
#include <io.h>
#include <stdio.h>
#include <string.h>

#include "regiondef_int.h"

typedef struct applier {
  const wdef_file *f;
  weft_region *r;
  wdef_errors *errs;
  size_t err_start; /* errs->n when the call began */
  int nomem;
} applier;

static void aerr(applier *a, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void aerr(applier *a, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (wdef__verr(a->errs, a->f->path, line, fmt, ap) != 0)
    a->nomem = 1;
  va_end(ap);
}

static int outcome(const applier *a) {
  if (a->nomem)
    return WEFT_ENOMEM;
  return a->errs->n > a->err_start ? WEFT_EINVAL : 0;
}

/* The message for a define call's failure rc not handled more precisely. */
static void define_failed(applier *a, int line, const char *kind, const char *name, int rc) {
  if (rc == WEFT_EEXIST)
    aerr(a, line, "%s %s already exists in the region", kind, name);
  else
    aerr(a, line, "%s %s: %s (%s)", kind, name, weft_strerror(rc), weft_err_name(rc));
}

/* ---- The region configuration ------------------------------------------- */

void wdef_region_config(const wdef_file *f, weft_region_config *cfg) {
  const wdef_region *g = &f->region;
  weft_region_config_init(cfg);
  if (g->workers > 0)
    cfg->workers = g->workers;
  cfg->max_tasks = g->max_tasks;
  cfg->data_dir = g->data_dir;
  /* The file's 0s mean "off"; the struct's mean "default". */
  cfg->checkpoint_bytes = g->checkpoint_mb ? (uint64_t)g->checkpoint_mb << 20 : WEFT_OFF;
  cfg->lock_timeout_ms = g->lock_timeout_ms ? g->lock_timeout_ms : WEFT_OFF;
  cfg->deadlock_action = g->deadlock_action;
  cfg->dispatch_mode = g->dispatch_mode;
}

/* ---- What the region has already ---------------------------------------- */

static void exists(applier *a, int line, const char *kind, const char *name) {
  aerr(a, line, "%s %s already exists in the region", kind, name);
}

static void check_existing(applier *a) {
  const wdef_file *f = a->f;
  weft_enclave_stats es;
  weft_class_stats cs;
  uint64_t depth;
  for (size_t i = 0; i < f->n_enclaves; i++)
    if (weft_enclave_stats_get(a->r, f->enclaves[i].name, &es) == 0)
      exists(a, f->enclaves[i].line, "ENCLAVE", f->enclaves[i].name);
  for (size_t i = 0; i < f->n_classes; i++)
    if (weft_class_stats_get(a->r, f->classes[i].name, &cs) == 0)
      exists(a, f->classes[i].line, "CLASS", f->classes[i].name);
  for (size_t i = 0; i < f->n_programs; i++)
    if (weft_program_is_enabled(a->r, f->programs[i].name) >= 0)
      exists(a, f->programs[i].line, "PROGRAM", f->programs[i].name);
  for (size_t i = 0; i < f->n_transactions; i++)
    if (weft_transaction_is_enabled(a->r, f->transactions[i].tranid) >= 0)
      exists(a, f->transactions[i].line, "TRANSACTION", f->transactions[i].tranid);
  for (size_t i = 0; i < f->n_tdqueues; i++)
    if (weft_td_depth(a->r, f->tdqueues[i].name, &depth) == 0)
      exists(a, f->tdqueues[i].line, "TDQUEUE", f->tdqueues[i].name);
}

int wdef_check_region(const wdef_file *f, weft_region *r, wdef_errors *errs) {
  if (f == NULL || r == NULL || errs == NULL)
    return WEFT_EINVAL;
  applier a = {f, r, errs, errs->n, 0};
  check_existing(&a);
  return outcome(&a);
}

/* ---- Installing, one kind at a time ------------------------------------- */

static void install_enclave(applier *a, const wdef_enclave *e) {
  weft_enclave_def d = {e->name,    e->importance,   e->goal_type,
                        e->goal_ms, e->goal_percent, e->max_active};
  int rc = weft_enclave_define(a->r, &d);
  if (rc != 0)
    define_failed(a, e->line, "ENCLAVE", e->name, rc);
}

static void install_class(applier *a, const wdef_class *c) {
  weft_class_def d = {c->name, c->max_active, c->purge_threshold};
  int rc = weft_class_define(a->r, &d);
  if (rc != 0)
    define_failed(a, c->line, "CLASS", c->name, rc);
}

static void install_builtin(applier *a, const wdef_program *g, wdef_builtin_fn builtin, void *ctx) {
  weft_program_fn fn = builtin != NULL ? builtin(ctx, g->symbol) : NULL;
  if (fn == NULL) {
    aerr(a, g->line, "PROGRAM %s: no built-in program '%s' in this server", g->name, g->symbol);
    return;
  }
  int rc = weft_program_define(a->r, g->name, fn);
  if (rc != 0)
    define_failed(a, g->line, "PROGRAM", g->name, rc);
}

static void install_dll(applier *a, const wdef_program *g) {
  int rc = weft_program_load(a->r, g->name, g->dll, g->symbol);
  if (rc == WEFT_ENOTFOUND && _access(g->dll, 0) != 0)
    aerr(a, g->line, "PROGRAM %s: DLL %s not found", g->name, g->dll);
  else if (rc == WEFT_ENOTFOUND)
    aerr(a, g->line,
         "PROGRAM %s: DLL %s does not export %s, or a DLL it needs is missing (the region "
         "log says which)",
         g->name, g->dll, g->symbol);
  else if (rc != 0)
    define_failed(a, g->line, "PROGRAM", g->name, rc);
}

static void install_transaction(applier *a, const wdef_transaction *t) {
  weft_transaction_def d = {t->tranid,     t->program, t->priority,
                            t->runaway_ms, t->enclave, t->tclass[0] != '\0' ? t->tclass : NULL};
  weft_enclave_stats es;
  int rc = weft_transaction_define(a->r, &d);
  if (rc == WEFT_ENOPROG)
    aerr(a, t->line, "TRANSACTION %s: program %s is not defined", t->tranid, t->program);
  else if (rc == WEFT_ENOTFOUND && weft_enclave_stats_get(a->r, t->enclave, &es) != 0)
    aerr(a, t->line, "TRANSACTION %s: enclave %s is not defined", t->tranid, t->enclave);
  else if (rc == WEFT_ENOTFOUND)
    aerr(a, t->line, "TRANSACTION %s: class %s is not defined", t->tranid, t->tclass);
  else if (rc != 0)
    define_failed(a, t->line, "TRANSACTION", t->tranid, rc);
}

static void install_file(applier *a, const wdef_kfile *k) {
  weft_file_def d = {k->name, k->key_max, k->rec_max};
  int rc = weft_file_define(a->r, &d);
  if (rc != 0)
    define_failed(a, k->line, "FILE", k->name, rc);
}

static void install_tsqueue(applier *a, const wdef_tsqueue *q) {
  int rc = weft_ts_define(a->r, q->name, q->recoverable);
  if (rc != 0)
    define_failed(a, q->line, "TSQUEUE", q->name, rc);
}

static void install_tdqueue(applier *a, const wdef_tdqueue *q) {
  weft_td_def d = {q->name, q->recoverable, q->trigger, q->trigger > 0 ? q->tranid : NULL};
  int rc = weft_td_define(a->r, &d);
  if (rc == WEFT_ENOTRAN)
    aerr(a, q->line, "TDQUEUE %s: trigger transaction %s is not defined", q->name, q->tranid);
  else if (rc != 0)
    define_failed(a, q->line, "TDQUEUE", q->name, rc);
}

int wdef_apply(const wdef_file *f, weft_region *r, wdef_builtin_fn builtin, void *ctx,
               wdef_errors *errs) {
  if (f == NULL || r == NULL || errs == NULL)
    return WEFT_EINVAL;
  applier a = {f, r, errs, errs->n, 0};
  check_existing(&a);
  if (outcome(&a) != 0)
    return outcome(&a); /* install nothing */
  for (size_t i = 0; i < f->n_enclaves; i++)
    install_enclave(&a, &f->enclaves[i]);
  for (size_t i = 0; i < f->n_classes; i++)
    install_class(&a, &f->classes[i]);
  for (size_t i = 0; i < f->n_programs; i++) {
    if (f->programs[i].builtin)
      install_builtin(&a, &f->programs[i], builtin, ctx);
    else
      install_dll(&a, &f->programs[i]);
  }
  for (size_t i = 0; i < f->n_transactions; i++)
    install_transaction(&a, &f->transactions[i]);
  for (size_t i = 0; i < f->n_files; i++)
    install_file(&a, &f->files[i]);
  for (size_t i = 0; i < f->n_tsqueues; i++)
    install_tsqueue(&a, &f->tsqueues[i]);
  for (size_t i = 0; i < f->n_tdqueues; i++)
    install_tdqueue(&a, &f->tdqueues[i]);
  if (outcome(&a) == 0 && wdef__datasource_apply(f, r, errs) == WEFT_ENOMEM)
    a.nomem = 1;
  return outcome(&a);
}

/* ---- STARTUP ---------------------------------------------------------------- */

int wdef_run_startup(const wdef_file *f, weft_region *r, wdef_errors *errs) {
  if (f == NULL || r == NULL || errs == NULL)
    return WEFT_EINVAL;
  applier a = {f, r, errs, errs->n, 0};
  for (size_t i = 0; i < f->n_startups; i++) {
    const wdef_startup *s = &f->startups[i];
    int rc = weft_start(r, s->tranid, s->data, s->data_len, NULL, NULL);
    if (rc != 0)
      aerr(&a, s->line, "STARTUP %s: cannot start it: %s (%s)", s->tranid, weft_strerror(rc),
           weft_err_name(rc));
  }
  return outcome(&a);
}
