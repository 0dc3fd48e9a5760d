/* txn.c - the region's txn state: set-up (restart recovery, the log
 * writer), the clean-shutdown checkpoint, teardown, and the definitions of
 * recoverable resources (files, TS models, TD queues). */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/abi.h"
#include "txn/txn.h"

/* At region create, before the workers start (host thread): the store, and
 * with a data_dir (copied: the caller's string is not kept) restart
 * recovery and the log writer. */
static int txn_create(weft_region *r, const weft_region_config *cfg, void **state) {
  weft__txn *x = calloc(1, sizeof *x);
  if (x == NULL)
    return WEFT_ENOMEM;
  *state = x;
  weft__lock_init(&x->x_data);
  weft__lock_init(&x->x_log);
  weft__cond_init(&x->x_log_cond);
  weft__hooks_config(x);
  if (cfg->data_dir == NULL)
    return 0;
  if ((x->x_dir = strdup(cfg->data_dir)) == NULL)
    return WEFT_ENOMEM;
  int rc = weft__recover(r);
  return rc != 0 ? rc : weft__log_start(r);
}

/* After the last task, the workers stopped (host thread): stop the writer
 * and write the clean-shutdown checkpoint. */
static void txn_quiesce(weft_region *r, void *state) {
  weft__txn *x = state;
  if (NEVER(x == NULL) || x->x_dir == NULL || x->x_file == NULL)
    return;
  weft__log_stop(r);
  if (atomic_load(&x->x_failed))
    weft__log(r, 'W',
              "shutdown after a log failure: no clean checkpoint written; the next "
              "start runs restart recovery from what %s holds",
              x->x_dir);
  else if (weft__log_checkpoint(r, true) == 0)
    weft__log(r, 'I', "clean shutdown: checkpoint %llu written, nothing to recover",
              (unsigned long long)x->x_gen);
}

/* Host thread, no task left (also after a failed create). */
static void txn_free(weft_region *r, void *state) {
  weft__txn *x = state;
  if (x == NULL)
    return;
  weft__log_stop(r);
  weft__file_close(x->x_file);
  weft__store_free(r);
  while (x->x_rms != NULL) {
    weft_rm *rm = x->x_rms;
    x->x_rms = rm->rm_next;
    free(rm);
  }
  free(x->x_pending);
  weft__buf_free(&x->x_buf);
  weft__file_close(x->x_dir_lock); /* last: another region may use it now */
  free(x->x_dir);
  free(x);
}

static void txn_task_end(weft_task *t, void *state) {
  weft__uow_task_end(t, state);
}

const weft__subsys weft__txn_subsys = {"txn", txn_create, txn_quiesce, txn_free, txn_task_end};

static int region_recovery(weft_region *r, weft_recovery_info *out) {
  if (r == NULL || out == NULL)
    return WEFT_EINVAL;
  *out = weft__txn_of(r)->x_info;
  return 0;
}

/* ---- Definitions ------------------------------------------------------------ */

/* 1..WEFT_QNAME_MAX printable characters without spaces. */
int weft__qname_check(const char *name) {
  if (name == NULL)
    return WEFT_EINVAL;
  size_t n = strlen(name);
  if (n == 0 || n > WEFT_QNAME_MAX)
    return WEFT_EBADNAME;
  for (size_t i = 0; i < n; i++)
    if (name[i] <= ' ' || name[i] > '~')
      return WEFT_EBADNAME;
  return 0;
}

/* What of a file's committed records no longer fits its definition. */
typedef struct file_misfit {
  uint64_t records;        /* committed records */
  uint64_t long_keys;      /* keys longer than key_max */
  uint64_t long_recs;      /* records longer than rec_max */
  unsigned key_top, rec_top; /* the longest key and record stored */
} file_misfit;

/* Count f's committed records and those longer than key_max or rec_max
 * (x_data held). */
static file_misfit file_fit(const weft__sfile *f, unsigned key_max, unsigned rec_max) {
  file_misfit m = {0};
  for (const weft__srec *n = f->sf_head->sr_next[0]; n != NULL; n = n->sr_next[0]) {
    const weft__sval *v = n->sr_owner != NULL ? n->sr_before : n->sr_val;
    if (v == NULL)
      continue; /* a tombstone, or a record not yet committed */
    m.records++;
    m.long_keys += n->sr_klen > key_max;
    m.long_recs += v->v_len > rec_max;
    m.key_top = n->sr_klen > m.key_top ? n->sr_klen : m.key_top;
    m.rec_top = v->v_len > m.rec_top ? v->v_len : m.rec_top;
  }
  return m;
}

/* Warn about the records of file `name` (restored by recovery) that its
 * new definition no longer fits. Any thread, no lock held. */
static void warn_misfits(weft_region *r, const char *name, const weft_file_def *def,
                         const file_misfit *m) {
  if (m->long_recs > 0)
    weft__log(r, 'W',
              "FILE %s: %llu of its %llu stored records are longer than rec_max=%u (the longest "
              "has %u bytes): they can still be read and deleted, not rewritten at that length",
              name, (unsigned long long)m->long_recs, (unsigned long long)m->records,
              def->rec_max, m->rec_top);
  if (m->long_keys > 0)
    weft__log(r, 'W',
              "FILE %s: %llu of its %llu stored records have keys longer than key_max=%u (the "
              "longest has %u bytes): no call can name them by key",
              name, (unsigned long long)m->long_keys, (unsigned long long)m->records,
              def->key_max, m->key_top);
}

int weft_file_check_defined(weft_region *r) {
  if (r == NULL)
    return WEFT_EINVAL;
  weft__txn *x = weft__txn_of(r);
  int n = 0;
  weft__lock_acquire_shared(&x->x_data);
  for (const weft__sfile *f = x->x_files; f != NULL; f = f->sf_next) {
    if (f->sf_defined)
      continue;
    file_misfit m = file_fit(f, WEFT_KEY_MAX, WEFT_RECORD_MAX);
    if (m.records == 0)
      continue;
    n++;
    weft__log(r, 'W',
              "FILE %s holds %llu stored records but is not defined: no program can reach them "
              "(they stay in the data directory; define the file again to use them)",
              f->sf_name, (unsigned long long)m.records);
  }
  weft__lock_release_shared(&x->x_data);
  return n;
}

static int file_define(weft_region *r, const weft_file_def *def) {
  if (r == NULL || def == NULL || def->name == NULL)
    return WEFT_EINVAL;
  if (weft__name_pack(def->name) == 0)
    return WEFT_EBADNAME;
  if (def->key_max < 1 || def->key_max > WEFT_KEY_MAX || def->rec_max < 1 ||
      def->rec_max > WEFT_RECORD_MAX)
    return WEFT_ERANGE;
  weft__txn *x = weft__txn_of(r);
  int rc = 0;
  file_misfit m = {0};
  weft__lock_acquire(&x->x_data);
  weft__sfile *f = weft__sfile_get(r, def->name);
  if (f == NULL)
    rc = WEFT_ENOMEM;
  else if (f->sf_defined)
    rc = WEFT_EEXIST;
  else {
    f->sf_key_max = def->key_max;
    f->sf_rec_max = def->rec_max;
    f->sf_defined = true;
    m = file_fit(f, def->key_max, def->rec_max); /* records restored by recovery */
  }
  weft__lock_release(&x->x_data);
  if (rc == 0)
    warn_misfits(r, def->name, def, &m);
  return rc;
}

int weft_ts_define(weft_region *r, const char *name, int recoverable) {
  if (r == NULL || name == NULL)
    return WEFT_EINVAL;
  size_t n = strlen(name);
  bool prefix = n > 0 && name[n - 1] == '*';
  char base[WEFT_QNAME_MAX + 1];
  if (n - prefix > WEFT_QNAME_MAX || (n - prefix == 0 && !prefix))
    return WEFT_EBADNAME;
  memcpy(base, name, n - prefix);
  base[n - prefix] = '\0';
  if (n - prefix > 0 && weft__qname_check(base) != 0)
    return WEFT_EBADNAME;
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  for (weft__tsmodel *m = x->x_models; m != NULL; m = m->m_next) {
    if (m->m_prefix == prefix && strcmp(m->m_name, base) == 0) {
      weft__lock_release(&x->x_data);
      return WEFT_EEXIST;
    }
  }
  weft__tsmodel *m = calloc(1, sizeof *m);
  if (m == NULL) {
    weft__lock_release(&x->x_data);
    return WEFT_ENOMEM;
  }
  strcpy(m->m_name, base);
  m->m_prefix = prefix;
  m->m_recoverable = recoverable != 0;
  /* Exact names first, then longer prefixes: the most specific wins. */
  weft__tsmodel **pp = &x->x_models;
  while (*pp != NULL && (!(*pp)->m_prefix || (prefix && strlen((*pp)->m_name) > strlen(base))))
    pp = &(*pp)->m_next;
  m->m_next = *pp;
  *pp = m;
  /* Queues that exist already (recovered ones) keep what they are. */
  weft__lock_release(&x->x_data);
  return 0;
}

static int td_define(weft_region *r, const weft_td_def *def) {
  if (r == NULL || def == NULL)
    return WEFT_EINVAL;
  int rc = weft__qname_check(def->name);
  if (rc != 0)
    return rc;
  if (def->trigger_level > WEFT_TD_TRIGGER_MAX)
    return WEFT_ERANGE;
  if (def->trigger_level > 0) {
    if (def->tranid == NULL)
      return WEFT_EINVAL;
    if (weft__name_pack(def->tranid) == 0)
      return WEFT_EBADNAME;
    if (weft__tran_find(r, def->tranid) == NULL)
      return WEFT_ENOTRAN;
  }
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire(&x->x_data);
  weft__tdq *d = weft__tdq_get(r, def->name);
  if (d == NULL)
    rc = WEFT_ENOMEM;
  else if (d->d_defined)
    rc = WEFT_EEXIST;
  else {
    d->d_defined = true;
    d->d_recoverable = def->recoverable != 0;
    d->d_trigger = def->trigger_level;
    if (def->trigger_level > 0)
      strcpy(d->d_tranid, def->tranid);
  }
  weft__lock_release(&x->x_data);
  if (rc == 0)
    weft__td_triggers(r); /* recovered items may already reach the level */
  return rc;
}

int weft_td_depth(weft_region *r, const char *queue, uint64_t *depth) {
  if (r == NULL || depth == NULL)
    return WEFT_EINVAL;
  int rc = weft__store_check(r);
  if (rc == 0)
    rc = weft__qname_check(queue);
  if (rc != 0)
    return rc;
  weft__txn *x = weft__txn_of(r);
  weft__lock_acquire_shared(&x->x_data);
  weft__tdq *d = weft__tdq_find(r, queue);
  if (d == NULL || !d->d_defined)
    rc = WEFT_ENOTFOUND;
  else
    *depth = d->d_depth;
  weft__lock_release_shared(&x->x_data);
  return rc;
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_region_recovery_get_(weft_region *r, weft_recovery_info *out, size_t size) {
  weft_recovery_info buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = region_recovery(r, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}

int weft_file_define_(weft_region *r, const weft_file_def *def, size_t size) {
  weft_file_def buf;
  int rc;
  def = weft__abi_in(&buf, sizeof buf, def, size, sizeof buf, &rc);
  return rc != 0 ? rc : file_define(r, def);
}

int weft_td_define_(weft_region *r, const weft_td_def *def, size_t size) {
  weft_td_def buf;
  int rc;
  def = weft__abi_in(&buf, sizeof buf, def, size, sizeof buf, &rc);
  return rc != 0 ? rc : td_define(r, def);
}
