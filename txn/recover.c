/* recover.c - restart: open a region's data directory, load the newest
 * checkpoint, redo the committed units of work of the logs after it, cut a
 * torn last record, then start a new generation with a fresh checkpoint.
 *
 * Nothing on disk changes until every file has been read and checked: a
 * checksum failure before the tail returns WEFT_ECORRUPT and leaves the
 * directory as it was. Host thread, inside weft_region_create. */
#include <stdio.h>
#include <stdlib.h>

#include "txn/txn.h"

/* Generation numbers of one kind of file, grown as the listing finds them
 * (a directory may hold any number). Owned by the scan that fills it. */
typedef struct gens {
  uint64_t *g;
  int n, cap;
} gens;

static int gens_add(gens *v, uint64_t g) {
  if (v->n == v->cap) {
    int cap = v->cap ? 2 * v->cap : 64;
    uint64_t *p = realloc(v->g, (size_t)cap * sizeof *p);
    if (p == NULL)
      return WEFT_ENOMEM;
    v->g = p;
    v->cap = cap;
  }
  v->g[v->n++] = g;
  return 0;
}

/* What the data directory holds: checkpoints, logs and the .tmp files a
 * crash left (removed once recovery succeeds). Recovery's own. */
typedef struct scan {
  gens ckpt, log, tmp_ckpt, tmp_log;
} scan;

static void scan_free(scan *s) {
  free(s->ckpt.g);
  free(s->log.g);
  free(s->tmp_ckpt.g);
  free(s->tmp_log.g);
}

/* weft__dir_list's callback: files that are not Weft's are left alone.
 * WEFT_ENOMEM stops the listing. */
static int scan_file(void *arg, const char *name) {
  scan *s = arg;
  uint64_t g;
  char kind[8];
  const char *rest = weft__data_name_parse(name, kind, &g);
  if (rest == NULL)
    return 0;
  bool ckpt = strcmp(kind, "ckpt") == 0;
  if (strcmp(rest, ".tmp") == 0)
    return gens_add(ckpt ? &s->tmp_ckpt : &s->tmp_log, g);
  if (*rest == '\0')
    return gens_add(ckpt ? &s->ckpt : &s->log, g);
  return 0;
}

/* Remove the .tmp files of kind listed in v. */
static void tmp_remove(weft_region *r, const char *kind, const gens *v) {
  for (int i = 0; i < v->n; i++) {
    char path[1024];
    weft__data_path(r, path, sizeof path, kind, v->g[i], ".tmp");
    weft__file_remove(path);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Read a whole file into memory. */
static int slurp(const char *path, unsigned char **out, size_t *len) {
  weft__file f;
  uint64_t size;
  int rc = weft__file_open(path, WEFT__F_READ, &f);
  if (rc != 0)
    return rc;
  if ((rc = weft__file_size(f, &size)) == 0) {
    *out = malloc(size ? size : 1);
    if (*out == NULL)
      rc = WEFT_ENOMEM;
    else if ((rc = weft__file_read_at(f, 0, *out, size, len)) != 0)
      free(*out);
  }
  weft__file_close(f);
  return rc;
}

static int corrupt(weft_region *r, const char *path, uint64_t off, const char *why) {
  weft_recovery_info *info = &weft__txn_of(r)->x_info;
  snprintf(info->message, sizeof info->message,
           "restart refused: %s is corrupt at offset %llu (%s); nothing was changed", path,
           (unsigned long long)off, why);
  weft__log(r, 'E', "%s", info->message);
  return WEFT_ECORRUPT;
}

/* ---- The checkpoint ------------------------------------------------------------ */

static int pending_note(weft__txn *x, uint64_t uow, const unsigned char *name8) {
  if (x->x_npending == x->x_pendcap) {
    uint32_t cap = x->x_pendcap ? x->x_pendcap * 2 : 16;
    void *p = realloc(x->x_pending, cap * sizeof *x->x_pending);
    if (p == NULL)
      return WEFT_ENOMEM;
    x->x_pending = p;
    x->x_pendcap = cap;
  }
  x->x_pending[x->x_npending].p_uow = uow;
  memcpy(x->x_pending[x->x_npending].p_rm, name8, 8);
  x->x_pending[x->x_npending++].p_rm[8] = '\0';
  return 0;
}

static void pending_forget(weft__txn *x, uint64_t uow, const unsigned char *name8) {
  char name[9];
  memcpy(name, name8, 8);
  name[8] = '\0';
  for (uint32_t i = 0; i < x->x_npending; i++) {
    if (x->x_pending[i].p_uow == uow && strcmp(x->x_pending[i].p_rm, name) == 0) {
      x->x_pending[i] = x->x_pending[--x->x_npending];
      return;
    }
  }
}

/* Read the kind ("log", "ckpt") file of generation gen: its path into path. */
static int slurp_gen(weft_region *r, const char *kind, uint64_t gen, char path[1024],
                     unsigned char **buf, size_t *len) {
  weft__data_path(r, path, 1024, kind, gen, "");
  return slurp(path, buf, len);
}

static int load_ckpt(weft_region *r, uint64_t gen, bool *clean) {
  char path[1024];
  unsigned char *buf;
  size_t len;
  int rc = slurp_gen(r, "ckpt", gen, path, &buf, &len);
  if (rc != 0)
    return rc;
  uint64_t g;
  uint32_t flags;
  if (weft__fhdr_check(buf, len, WEFT__CKPT_MAGIC, &g, &flags) != 0 || g != gen) {
    free(buf);
    return corrupt(r, path, 0, "bad file header");
  }
  *clean = flags & WEFT__FH_CLEAN;
  size_t off = WEFT__FHDR_SIZE;
  uint64_t count = 0;
  weft__rec rec;
  for (;;) {
    int pr = weft__rec_parse(buf + off, len - off, &rec);
    if (pr != 1) {
      free(buf);
      return corrupt(r, path, off, pr == 0 ? "truncated record" : "checksum mismatch");
    }
    if (rec.type == WEFT__LR_END)
      break;
    if (rec.type == WEFT__LR_PENDING)
      rc = rec.len == 8 ? pending_note(weft__txn_of(r), rec.uow, rec.p) : WEFT_ECORRUPT;
    else
      rc = weft__store_redo(r, &rec);
    if (rc != 0) {
      free(buf);
      return rc == WEFT_ECORRUPT ? corrupt(r, path, off, "malformed record") : rc;
    }
    count++;
    off += rec.size;
  }
  bool count_ok = rec.len == 8 && weft__get64(rec.p) == count;
  free(buf);
  return count_ok ? 0 : corrupt(r, path, off, "record count mismatch");
}

/* ---- The logs -------------------------------------------------------------------- */

typedef struct replay {
  weft__rec *recs; /* change records of the UOW being read */
  uint32_t n, cap;
  uint64_t uow;
  uint64_t redone, undone, read;
  uint64_t torn_off, torn_bytes; /* in the last file */
  uint64_t torn_uow;             /* the UOW of the torn record (0: unknown) */
  int torn_type;                 /* its type (0: unknown) */
  const char *torn_why;          /* what is wrong with it */
  uint64_t empty_gen;            /* the last log holds no records: its generation */
} replay;

static int replay_add(replay *rp, const weft__rec *rec) {
  if (rp->n > 0 && rp->uow != rec->uow) {
    rp->undone++; /* a UOW's records without its commit record */
    rp->n = 0;
  }
  if (rp->n == rp->cap) {
    uint32_t cap = rp->cap ? rp->cap * 2 : 64;
    void *p = realloc(rp->recs, cap * sizeof *rp->recs);
    if (p == NULL)
      return WEFT_ENOMEM;
    rp->recs = p;
    rp->cap = cap;
  }
  rp->uow = rec->uow;
  rp->recs[rp->n++] = *rec;
  return 0;
}

static int replay_commit(weft_region *r, replay *rp, const weft__rec *rec) {
  if (rp->n > 0 && rp->uow != rec->uow) {
    rp->undone++;
    rp->n = 0;
  }
  if (rec->len < 4 || rec->len != 4 + 8 * (uint64_t)weft__get32(rec->p))
    return WEFT_ECORRUPT;
  if (rp->redone == 1)
    weft__crash_point(r, "apply");
  for (uint32_t i = 0; i < rp->n; i++) {
    int rc = weft__store_redo(r, &rp->recs[i]);
    if (rc != 0)
      return rc;
  }
  for (uint32_t i = 0; i < weft__get32(rec->p); i++) {
    int rc = pending_note(weft__txn_of(r), rec->uow, rec->p + 4 + 8 * i);
    if (rc != 0)
      return rc;
  }
  rp->n = 0;
  rp->redone++;
  return 0;
}

/* Note the torn last record at p (avail bytes): its header's UOW and type
 * when its header is there, else the UOW whose records precede it (the
 * torn record is the rest of that UOW's append). */
static void torn_note(replay *rp, const unsigned char *p, size_t avail, const char *why) {
  rp->torn_why = why;
  rp->torn_type = 0;
  rp->torn_uow = 0;
  if (avail >= 16 && weft__get32(p) == WEFT__REC_MAGIC) {
    rp->torn_uow = weft__get64(p + 8);
    rp->torn_type = avail > 16 ? p[16] : 0;
  } else if (rp->n > 0) {
    rp->torn_uow = rp->uow;
  }
}

/* Is there a valid record anywhere in [off, len)? Then a bad record
 * before it is not a torn tail. */
static bool valid_after(const unsigned char *buf, size_t off, size_t len) {
  weft__rec rec;
  for (size_t o = off; o + WEFT__RHDR_SIZE <= len; o++)
    if (weft__get32(buf + o) == WEFT__REC_MAGIC && weft__rec_parse(buf + o, len - o, &rec) == 1)
      return true;
  return false;
}

static int replay_file(weft_region *r, replay *rp, uint64_t gen, bool last, bool *empty) {
  char path[1024];
  unsigned char *buf;
  size_t len;
  int rc = slurp_gen(r, "log", gen, path, &buf, &len);
  if (rc != 0)
    return rc;
  uint64_t g;
  uint32_t flags;
  *empty = true;
  if (weft__fhdr_check(buf, len, WEFT__LOG_MAGIC, &g, &flags) != 0 || g != gen) {
    bool torn_header = last && len < WEFT__FHDR_SIZE;
    free(buf);
    if (!torn_header)
      return corrupt(r, path, 0, "bad file header");
    if (len == 0)
      weft__log(r, 'W', "%s is empty (0 bytes, not even its header): nothing in it to redo", path);
    else
      weft__log(r, 'W',
                "%s: its file header is incomplete (%llu of %u bytes): cut; it held no "
                "record",
                path, (unsigned long long)len, (unsigned)WEFT__FHDR_SIZE);
    rp->torn_off = 0;
    rp->torn_bytes = len;
    rp->empty_gen = gen;
    return 0;
  }
  size_t off = WEFT__FHDR_SIZE;
  while (rc == 0 && off < len) {
    weft__rec rec;
    int pr = weft__rec_parse(buf + off, len - off, &rec);
    if (pr != 1) {
      if (!last || valid_after(buf, off + 1, len)) {
        free(buf);
        return corrupt(r, path, off, pr == 0 ? "truncated record" : "checksum mismatch");
      }
      rp->torn_off = off;
      rp->torn_bytes = len - off;
      torn_note(rp, buf + off, len - off,
                pr == 0 ? "it runs past the end of the file" : "its checksum does not match");
      break;
    }
    *empty = false;
    rp->read++;
    if (rec.type == WEFT__LR_COMMIT)
      rc = replay_commit(r, rp, &rec);
    else if (rec.type == WEFT__LR_FORGET)
      rc = rec.len == 8 ? (pending_forget(weft__txn_of(r), rec.uow, rec.p), 0) : WEFT_ECORRUPT;
    else if (rec.type >= WEFT__LR_FPUT && rec.type <= WEFT__LR_TDPOP)
      rc = replay_add(rp, &rec);
    else
      rc = WEFT_ECORRUPT;
    if (rc == WEFT_ECORRUPT)
      rc = corrupt(r, path, off, "malformed record");
    off += rec.size;
  }
  if (rc == 0 && last && *empty)
    rp->empty_gen = gen;
  /* Records of a UOW never span files: the writer switches generations
   * between appends. */
  if (rc == 0 && rp->n > 0) {
    rp->undone++;
    rp->n = 0;
  }
  free(buf);
  return rc;
}

static int cut_torn(weft_region *r, uint64_t gen, uint64_t off) {
  char path[1024];
  weft__data_path(r, path, sizeof path, "log", gen, "");
  weft__file f;
  int rc = weft__file_open(path, WEFT__F_WRITE, &f);
  if (rc == 0) {
    rc = weft__file_truncate(f, off);
    weft__file_close(f);
  }
  return rc;
}

/* A torn last record was cut: warn, naming its unit of work. A commit is
 * acknowledged only after the flush of its commit record returned, and a
 * record the flush covered cannot be torn unless the disk lost a write it
 * had confirmed: so the UOW was normally never acknowledged, and the
 * operator can check that against what its client was told. */
static void torn_warn(weft_region *r, uint64_t gen, const replay *rp) {
  char path[1024], whose[64];
  weft__data_path(r, path, sizeof path, "log", gen, "");
  if (rp->torn_uow != 0)
    snprintf(whose, sizeof whose, "unit of work %llx", (unsigned long long)rp->torn_uow);
  else
    snprintf(whose, sizeof whose, "a unit of work its header no longer names");
  if (rp->torn_type == WEFT__LR_FORGET)
    weft__log(r, 'W',
              "%s: the last record (offset %llu, %llu bytes), a FORGET of %s, is torn (%s) "
              "and was cut: its resource manager is asked to recover that unit of work again",
              path, (unsigned long long)rp->torn_off, (unsigned long long)rp->torn_bytes, whose,
              rp->torn_why);
  else
    weft__log(r, 'W',
              "%s: the last record (offset %llu, %llu bytes), of %s, is torn (%s) and "
              "was cut: that unit of work is not redone. It was acknowledged only if the flush "
              "of its commit record returned, which a torn record rules out unless the disk lost "
              "a write it had confirmed",
              path, (unsigned long long)rp->torn_off, (unsigned long long)rp->torn_bytes, whose,
              rp->torn_why);
}

/* ---- Report ---------------------------------------------------------------------- */

static void report(weft_region *r, const replay *rp) {
  weft_recovery_info *in = &weft__txn_of(r)->x_info;
  char *m = in->message;
  size_t cap = sizeof in->message;
  int n;
  if (in->fresh)
    n = snprintf(m, cap, "data directory %s is new: nothing to recover.", weft__txn_of(r)->x_dir);
  else if (in->clean)
    n = snprintf(m, cap, "clean restart from checkpoint %llu: nothing to recover.",
                 (unsigned long long)in->checkpoint_gen);
  else
    n = snprintf(m, cap,
                 "restart recovery from checkpoint %llu: %llu log records read, %llu units of "
                 "work redone, %llu without a commit record discarded.",
                 (unsigned long long)in->checkpoint_gen, (unsigned long long)in->records_read,
                 (unsigned long long)in->uows_redone, (unsigned long long)in->uows_undone);
  if (n > 0 && (size_t)n < cap && !in->fresh && !in->clean && rp->empty_gen != 0)
    n += snprintf(m + n, cap - n, " The last log (generation %llu) holds no records.",
                  (unsigned long long)rp->empty_gen);
  if (n > 0 && (size_t)n < cap && in->torn_bytes && rp->torn_uow != 0)
    n += snprintf(m + n, cap - n,
                  " A torn last record (%llu bytes, unit of work %llx) was cut from the log.",
                  (unsigned long long)in->torn_bytes, (unsigned long long)rp->torn_uow);
  else if (n > 0 && (size_t)n < cap && in->torn_bytes)
    n += snprintf(m + n, cap - n, " A torn last record (%llu bytes) was cut from the log.",
                  (unsigned long long)in->torn_bytes);
  if (n > 0 && (size_t)n < cap && in->rm_pending)
    snprintf(m + n, cap - n, " %llu committed units of work await their resource managers.",
             (unsigned long long)in->rm_pending);
  weft__log(r, 'I', "%s", m);
}

/* ---- Entry ---------------------------------------------------------------------- */

int weft__recover(weft_region *r) {
  weft__txn *x = weft__txn_of(r);
  weft_recovery_info *in = &x->x_info;
  in->data_dir = 1;
  int rc = weft__dir_create(x->x_dir);
  if (rc != 0) {
    weft__log(r, 'E', "data directory %s cannot be used: %s", x->x_dir, weft_err_name(rc));
    return rc;
  }
  if ((rc = weft__dir_lock(x->x_dir, &x->x_dir_lock)) != 0) {
    weft__log(r, 'E', "data directory %s cannot be used: %s%s", x->x_dir, weft_err_name(rc),
              rc == WEFT_EINUSE ? " (another region has it open; nothing in it was touched)" : "");
    return rc;
  }
  scan s = {0}, *sp = &s;
  rc = weft__dir_list(x->x_dir, scan_file, sp);
  if (rc != 0) {
    /* Never take a directory that could not be read for a new one. */
    weft__log(r, 'E', "data directory %s cannot be listed: %s", x->x_dir, weft_err_name(rc));
    scan_free(sp);
    return rc;
  }
  qsort(sp->ckpt.g, sp->ckpt.n, sizeof(uint64_t), cmp_u64);
  qsort(sp->log.g, sp->log.n, sizeof(uint64_t), cmp_u64);
  uint64_t base = sp->ckpt.n ? sp->ckpt.g[sp->ckpt.n - 1] : 0, top = base;
  bool clean = false, all_empty = true;
  in->fresh = sp->ckpt.n == 0 && sp->log.n == 0;
  in->checkpoint_gen = base;
  if (sp->ckpt.n)
    rc = load_ckpt(r, base, &clean);
  replay rp = {0};
  uint64_t prev = base - 1; /* a checkpoint's own log generation must be there */
  bool first = true;
  if (rc == 0 && sp->ckpt.n == 0 && sp->log.n > 0) {
    char path[1024];
    weft__data_path(r, path, sizeof path, "ckpt", sp->log.g[0], "");
    rc = corrupt(r, path, 0, "the checkpoint the logs start from is missing");
  }
  for (int i = 0; rc == 0 && i < sp->log.n; i++) {
    uint64_t g = sp->log.g[i];
    if (g < base)
      continue; /* older than the checkpoint: left by a crash before its drop */
    if (g != prev + 1) {
      char path[1024];
      weft__data_path(r, path, sizeof path, "log", prev + 1, "");
      rc = corrupt(r, path, 0, "log generation missing");
      break;
    }
    bool empty = true;
    rc = replay_file(r, &rp, g, i == sp->log.n - 1, &empty);
    all_empty &= empty;
    first = false;
    prev = top = g;
  }
  if (rc == 0 && sp->ckpt.n > 0 && first) {
    char path[1024];
    weft__data_path(r, path, sizeof path, "log", base, "");
    rc = corrupt(r, path, 0, "the log of the newest checkpoint is missing");
  }
  if (rc == 0 && rp.torn_bytes && (rc = cut_torn(r, top, rp.torn_off)) == 0 && rp.torn_off != 0)
    torn_warn(r, top, &rp);
  free(rp.recs);
  if (rc == 0) {
    in->clean = clean && all_empty && !rp.torn_bytes;
    in->records_read = rp.read;
    in->uows_redone = rp.redone;
    in->uows_undone = rp.undone;
    in->torn_bytes = rp.torn_bytes;
    in->rm_pending = x->x_npending;
    tmp_remove(r, "ckpt", &sp->tmp_ckpt);
    tmp_remove(r, "log", &sp->tmp_log);
    /* A new generation: its log, then a checkpoint of what was restored. */
    uint64_t gen = top + 1;
    weft__buf snap = {0};
    uint64_t pending;
    /* No other thread runs yet; the locks are what the snapshot's rule asks. */
    weft__lock_acquire(&x->x_data);
    weft__lock_acquire(&x->x_log);
    weft__store_snapshot(r, &snap, &pending);
    weft__lock_release(&x->x_log);
    weft__lock_release(&x->x_data);
    rc = snap.oom ? WEFT_ENOMEM : weft__log_file_new(r, gen, &x->x_file);
    if (rc == 0 && (rc = weft__ckpt_write(r, gen, &snap, false)) != 0) {
      weft__file_close(x->x_file);
      x->x_file = NULL;
    }
    weft__buf_free(&snap);
    x->x_gen = gen;
    x->x_epoch = gen;
    x->x_file_off = WEFT__FHDR_SIZE;
    if (rc != 0)
      weft__log(r, 'E', "data directory %s: the restart checkpoint failed: %s", x->x_dir,
                weft_err_name(rc));
    else
      report(r, &rp);
  }
  scan_free(sp);
  return rc;
}
