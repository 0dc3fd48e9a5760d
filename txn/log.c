/* log.c - the write-ahead log: appends, the log writer thread (group
 * commit: every commit appended while a flush runs shares the next one),
 * commit waits, checkpoints, and what happens when the log fails.
 *
 * Ownership: x_log guards the append buffer, x_lsn_end, the waiter list
 * and the writer's flags. The writer thread alone touches x_file, x_gen
 * and x_file_off (and checkpoints run on it, or on a host thread while the
 * writer is stopped). LSNs count bytes appended since the region opened;
 * they never go back, across log generations too. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/abi.h"
#include "txn/txn.h"

/* ---- Paths ------------------------------------------------------------------- */

void weft__data_path(weft_region *r, char *out, size_t cap, const char *kind, uint64_t gen,
                     const char *suffix) {
  char name[64];
  snprintf(name, sizeof name, "weft.%s.%016llx%s", kind, (unsigned long long)gen, suffix);
  weft__path_join(out, cap, weft__txn_of(r)->x_dir, name);
}

int weft__log_file_new(weft_region *r, uint64_t gen, weft__file *out) {
  char path[1024];
  weft__data_path(r, path, sizeof path, "log", gen, "");
  unsigned char h[WEFT__FHDR_SIZE];
  weft__fhdr_make(h, WEFT__LOG_MAGIC, gen, 0);
  weft__file f;
  int rc = weft__file_open(path, WEFT__F_WRITE | WEFT__F_CREATE | WEFT__F_TRUNC, &f);
  if (rc != 0)
    return rc;
  if ((rc = weft__file_write_at(f, 0, h, sizeof h)) != 0 || (rc = weft__file_flush(f)) != 0) {
    weft__file_close(f);
    return rc;
  }
  *out = f;
  return 0;
}

typedef struct drop_ctx {
  weft_region *r;
  uint64_t gen;
  char names[64][40];
  int n;
} drop_ctx;

const char *weft__data_name_parse(const char *name, char kind[8], uint64_t *gen) {
  unsigned long long g;
  int used = 0;
  if (sscanf(name, "weft.%4[a-z].%16llx%n", kind, &g, &used) != 2 ||
      (strcmp(kind, "log") != 0 && strcmp(kind, "ckpt") != 0))
    return NULL;
  *gen = g;
  return name + used;
}

static int drop_collect(void *arg, const char *name) {
  drop_ctx *c = arg;
  uint64_t g;
  char kind[8];
  if (weft__data_name_parse(name, kind, &g) != NULL && g < c->gen && c->n < 64 &&
      strlen(name) < sizeof c->names[0])
    strcpy(c->names[c->n++], name);
  return 0;
}

/* Collects up to 64 names a pass, so it lists again while passes fill up
 * and remove something. A failure leaves old files behind (recovery skips
 * them) and says so in the region log. */
void weft__data_drop_before(weft_region *r, uint64_t gen) {
  const char *dir = weft__txn_of(r)->x_dir;
  drop_ctx c;
  int rc, removed;
  do {
    c = (drop_ctx){.r = r, .gen = gen};
    rc = weft__dir_list(dir, drop_collect, &c);
    removed = 0;
    for (int i = 0; i < c.n; i++) {
      char path[1024];
      weft__path_join(path, sizeof path, dir, c.names[i]);
      removed += weft__file_remove(path) == 0;
    }
  } while (rc == 0 && c.n == 64 && removed > 0);
  if (rc != 0 || removed < c.n)
    weft__log(r, 'W', "data directory %s: files older than generation %llu not removed: %s", dir,
              (unsigned long long)gen, weft_err_name(rc != 0 ? rc : WEFT_ESYS));
}

/* ---- Appending ------------------------------------------------------------------ */

uint64_t weft__log_append_locked(weft_region *r, const weft__buf *b) {
  weft_assert_internal(weft__lock_held(&weft__txn_of(r)->x_log));
  weft__txn *x = weft__txn_of(r);
  if (x->x_dir == NULL)
    return 0;
  weft__buf_put(&x->x_buf, b->b, b->len);
  if (x->x_buf.oom) {
    atomic_store(&x->x_failed, 1);
    return x->x_lsn_end;
  }
  x->x_lsn_end += b->len;
  if (x->x_writer_idle)
    weft__cond_signal(&x->x_log_cond);
  return x->x_lsn_end;
}

/* Wake the commits the flush up to durable covered (x_log held). */
static void waiters_wake(weft__txn *x, uint64_t durable, int result) {
  weft_assert_internal(weft__lock_held(&x->x_log));
  while (x->x_wait_head != NULL && (result != 0 || x->x_wait_head->lw_lsn <= durable)) {
    weft__logwait *w = x->x_wait_head;
    if ((x->x_wait_head = w->lw_next) == NULL)
      x->x_wait_tail = NULL;
    weft_task *t = w->lw_task; /* w lives on t's stack: read it first */
    weft__task_hard_wake(t, result);
  }
}

int weft__log_wait(weft_task *t, uint64_t lsn) {
  weft__txn *x = weft__txn_of(weft__task_region(t));
  weft__logwait w = {t, lsn, NULL};
  weft__lock_acquire(&x->x_log);
  if (atomic_load(&x->x_lsn_durable) >= lsn || atomic_load(&x->x_failed)) {
    weft__lock_release(&x->x_log);
    return atomic_load(&x->x_failed) ? WEFT_ESYS : 0;
  }
  weft__task_hard_wait_begin(t);
  if (x->x_wait_tail != NULL)
    x->x_wait_tail->lw_next = &w;
  else
    x->x_wait_head = &w;
  x->x_wait_tail = &w;
  weft__lock_release(&x->x_log);
  /* No purge or runaway abend may end this wait: the UOW is committed. */
  return weft__task_wait_raw(t, WEFT_WAIT_FOREVER, WEFT_WAIT_LOG);
}

/* ---- The writer thread -------------------------------------------------------- */

/* Write and flush one batch; its own thread. The fault point log-error
 * (tests) fails the write before any byte of it is written. */
static int write_batch(weft_region *r, const weft__buf *b) {
  weft__txn *x = weft__txn_of(r);
  int rc = weft__fault_point(r, "log-error")
               ? WEFT_ESYS
               : weft__file_write_at(x->x_file, x->x_file_off, b->b, b->len);
  if (rc == 0) {
    x->x_file_off += b->len;
    weft__crash_point(r, "pre-flush");
    rc = weft__file_flush(x->x_file);
    atomic_fetch_add_explicit(&x->x_flushes, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&x->x_bytes, b->len, memory_order_relaxed);
  }
  if (rc == 0)
    weft__crash_point(r, "post-flush");
  return rc;
}

/* A write or flush of the log failed: memory may now hold commits that
 * never become durable (applied before their flush). Close the store at
 * once, so that no reader sees them, and stop the region: every task is
 * purged and no new one starts. Only restart recovery, which rebuilds
 * memory from what is on disk, brings it back (docs/recovery.md). The
 * writer thread, or the host thread of a checkpoint without it. */
static void writer_fail(weft_region *r, int rc) {
  weft__txn *x = weft__txn_of(r);
  if (atomic_exchange(&x->x_failed, 1) != 0)
    return;
  weft__log(r, 'E',
            "log write to %s failed (%s): the region has stopped serving: its recoverable "
            "resources are closed, every task is purged and no new one starts; commits not yet "
            "on disk may be lost. Shut it down and restart it: restart recovery brings back "
            "what the log holds",
            x->x_dir, weft_err_name(rc));
  weft__region_fail(r);
}

int weft_log_failed(weft_region *r) {
  if (r == NULL)
    return WEFT_EINVAL;
  return weft__txn_of(r)->x_dir != NULL ? weft__store_check(r) : 0;
}

static int checkpoint_now(weft_region *r, bool clean);

static void writer_main(void *arg) {
  weft_region *r = arg;
  weft__txn *x = weft__txn_of(r);
  weft__buf spare = {0};
  weft__lock_acquire(&x->x_log);
  for (;;) {
    if (x->x_buf.len == 0 && !x->x_ckpt_req) {
      if (x->x_stop)
        break;
      x->x_writer_idle = true;
      weft__cond_wait(&x->x_log_cond, &x->x_log, WEFT_WAIT_FOREVER);
      x->x_writer_idle = false;
      continue;
    }
    if (x->x_buf.len > 0) {
      weft__buf batch = x->x_buf;
      x->x_buf = spare;
      x->x_buf.len = 0;
      uint64_t end = x->x_lsn_end;
      weft__lock_release(&x->x_log);
      int rc = atomic_load(&x->x_failed) ? WEFT_ESYS : write_batch(r, &batch);
      if (rc != 0)
        writer_fail(r, rc);
      spare = batch;
      weft__lock_acquire(&x->x_log);
      if (rc == 0)
        atomic_store(&x->x_lsn_durable, end);
      waiters_wake(x, end, rc == 0 ? 0 : WEFT_ESYS);
    }
    bool due = weft__region_config(r)->checkpoint_bytes && x->x_file_off > weft__region_config(r)->checkpoint_bytes;
    if ((x->x_ckpt_req || due) && !atomic_load(&x->x_failed)) {
      bool req = x->x_ckpt_req;
      x->x_ckpt_req = false;
      weft__lock_release(&x->x_log);
      int rc = checkpoint_now(r, false);
      weft__lock_acquire(&x->x_log);
      if (req) {
        x->x_ckpt_rc = rc;
        x->x_ckpt_done++;
        weft__cond_broadcast(&x->x_log_cond);
      }
    } else if (x->x_ckpt_req) {
      x->x_ckpt_req = false;
      x->x_ckpt_rc = WEFT_ESYS;
      x->x_ckpt_done++;
      weft__cond_broadcast(&x->x_log_cond);
    }
  }
  weft__lock_release(&x->x_log);
  weft__buf_free(&spare);
}

int weft__log_start(weft_region *r) {
  weft__txn *x = weft__txn_of(r);
  if (x->x_dir == NULL)
    return 0;
  weft__cond_init(&x->x_log_cond);
  int rc = weft__thread_create(writer_main, r, &x->x_writer);
  if (rc == 0)
    x->x_writer_up = true;
  return rc;
}

void weft__log_stop(weft_region *r) {
  weft__txn *x = weft__txn_of(r);
  if (!x->x_writer_up)
    return;
  weft__lock_acquire(&x->x_log);
  x->x_stop = true;
  weft__cond_broadcast(&x->x_log_cond);
  weft__lock_release(&x->x_log);
  weft__thread_join(x->x_writer);
  x->x_writer_up = false;
}

/* ---- Checkpoints ---------------------------------------------------------------- */

int weft__ckpt_write(weft_region *r, uint64_t gen, const weft__buf *snap, bool clean) {
  char tmp[1024], path[1024];
  weft__data_path(r, tmp, sizeof tmp, "ckpt", gen, ".tmp");
  weft__data_path(r, path, sizeof path, "ckpt", gen, "");
  unsigned char h[WEFT__FHDR_SIZE];
  weft__fhdr_make(h, WEFT__CKPT_MAGIC, gen, clean ? WEFT__FH_CLEAN : 0);
  weft__file f;
  int rc = weft__file_open(tmp, WEFT__F_WRITE | WEFT__F_CREATE | WEFT__F_TRUNC, &f);
  if (rc != 0)
    return rc;
  rc = weft__file_write_at(f, 0, h, sizeof h);
  size_t half = snap->len / 2;
  if (rc == 0)
    rc = weft__file_write_at(f, sizeof h, snap->b, half);
  if (rc == 0) {
    weft__file_flush(f);
    weft__crash_point(r, "checkpoint");
    rc = weft__file_write_at(f, sizeof h + half, snap->b + half, snap->len - half);
  }
  if (rc == 0)
    rc = weft__file_flush(f);
  weft__file_close(f);
  if (rc == 0)
    rc = weft__file_rename(tmp, path);
  if (rc != 0) {
    weft__file_remove(tmp);
    return rc;
  }
  weft__data_drop_before(r, gen);
  return 0;
}

/* Snapshot the committed state at a log boundary, switch the log to a new
 * generation, write the snapshot and drop what it replaces. The writer
 * thread (or a host thread when the writer is not running). */
static int checkpoint_now(weft_region *r, bool clean) {
  weft__txn *x = weft__txn_of(r);
  weft__buf snap = {0}, tail = {0};
  uint64_t pending;
  weft__lock_acquire(&x->x_data);
  weft__lock_acquire(&x->x_log);
  weft__store_snapshot(r, &snap, &pending);
  tail = x->x_buf; /* the old generation's last appends */
  x->x_buf = (weft__buf){0};
  uint64_t end = x->x_lsn_end;
  weft__lock_release(&x->x_log);
  weft__lock_release(&x->x_data);
  /* The tail belongs to the old generation whatever becomes of the
   * snapshot: write it, and tell its commits how that went. */
  int wrc = tail.len > 0 ? write_batch(r, &tail) : 0;
  if (wrc != 0)
    writer_fail(r, wrc);
  weft__lock_acquire(&x->x_log);
  if (wrc == 0)
    atomic_store(&x->x_lsn_durable, end);
  waiters_wake(x, end, wrc == 0 ? 0 : WEFT_ESYS);
  weft__lock_release(&x->x_log);
  int rc = wrc != 0 ? wrc : snap.oom ? WEFT_ENOMEM : 0;
  weft__file nf = NULL;
  if (rc == 0)
    rc = weft__log_file_new(r, x->x_gen + 1, &nf);
  if (rc == 0) {
    weft__file_close(x->x_file);
    x->x_file = nf;
    x->x_gen++;
    x->x_file_off = WEFT__FHDR_SIZE;
    rc = weft__ckpt_write(r, x->x_gen, &snap, clean);
  }
  if (rc == 0)
    atomic_fetch_add(&x->x_ckpts, 1);
  else
    weft__log(r, 'E', "checkpoint failed: %s", weft_err_name(rc));
  weft__buf_free(&snap);
  weft__buf_free(&tail);
  return rc;
}

int weft__log_checkpoint(weft_region *r, bool clean) {
  weft__txn *x = weft__txn_of(r);
  if (x->x_dir == NULL)
    return WEFT_ENOTSUP;
  if (!x->x_writer_up)
    return atomic_load(&x->x_failed) ? WEFT_ESYS : checkpoint_now(r, clean);
  weft__lock_acquire(&x->x_log);
  uint64_t want = x->x_ckpt_done + 1;
  x->x_ckpt_req = true;
  weft__cond_broadcast(&x->x_log_cond);
  while (x->x_ckpt_done < want)
    weft__cond_wait(&x->x_log_cond, &x->x_log, WEFT_WAIT_FOREVER);
  int rc = x->x_ckpt_rc;
  weft__lock_release(&x->x_log);
  return rc;
}

int weft_checkpoint(weft_region *r) {
  if (r == NULL)
    return WEFT_EINVAL;
  if (weft__on_worker())
    return WEFT_ESTATE;
  return weft__log_checkpoint(r, false);
}

static int log_stats(weft_region *r, weft_log_stats *out) {
  if (r == NULL || out == NULL)
    return WEFT_EINVAL;
  weft__txn *x = weft__txn_of(r);
  *out = (weft_log_stats){
      .commits = atomic_load(&x->x_commits),
      .flushes = atomic_load(&x->x_flushes),
      .bytes = atomic_load(&x->x_bytes),
      .durable_lsn = atomic_load(&x->x_lsn_durable),
      .checkpoints = atomic_load(&x->x_ckpts),
      .rollbacks = atomic_load(&x->x_rollbacks),
  };
  weft__lock_figures(r, &out->deadlocks, &out->lock_timeouts);
  return 0;
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_log_stats_get_(weft_region *r, weft_log_stats *out, size_t size) {
  weft_log_stats buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = log_stats(r, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}
