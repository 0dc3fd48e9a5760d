/* dc.c - the DebitCredit (TPC-B-like) workload on Weft keyed files (see
 * dc.h).
 *
 * Host threads talk to the tasks through a small heap object, dc_sync: the
 * host starts one or more tasks with a pointer to it in their start data
 * and sleeps on its condition variable until every task has reported. Each
 * task reports exactly once: from its normal path after its explicit
 * syncpoint has returned (so a report of success means "durably
 * committed"), or from its abend handler (the UOW is then backed out, and
 * the report is WEFT_EROLLEDBACK). The normal path cancels the abend
 * handler before it reports, so no code of the task touches the object
 * after its report. The object is reference-counted (the host and each
 * task hold one reference) and freed by the last one out, so a host that
 * gives up waiting (DC_WAIT_MS) never leaves a task writing freed memory.
 *
 * Records: the balance is the first field of dc_row; the filler of an
 * account and of a teller starts with its branch id (little-endian u32),
 * as TPC-B's rows carry their Branch_ID. The teller of a transaction is
 * branch * DC_TELLERS_PER_BRANCH + aid % DC_TELLERS_PER_BRANCH: with random
 * accounts, a uniformly random teller of the account's branch, and a pure
 * function of the account, so a transaction needs nothing but (aid, delta)
 * and the files.
 *
 * Seeding writes every account (in DC_SEED_TASKS tasks at once, committing
 * every DC_SEED_BATCH records), then the tellers and branches in one last
 * unit of work: DCBRANCH holding records means the seed was complete. A
 * seed cut short by a crash is finished by the next dc_seed (records that
 * exist already are skipped).
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "dc.h"

#include <stdlib.h>
#include <string.h>

#define DC_FILE_BRANCH "DCBRANCH"
#define DC_FILE_TELLER "DCTELLER"
#define DC_FILE_ACCOUNT "DCACCT"
#define DC_FILE_HISTORY "DCHIST"

#define DC_SEED_BATCH 1000 /* records per syncpoint while seeding */
#define DC_SEED_TASKS 4    /* account ranges seeded at once */
/* How long a host waits for its tasks before it returns WEFT_ETIMEDOUT:
 * far past the region's lock timeout (30 s by default), so it fires only
 * when a task was never run (cancelled by a shutdown). */
#define DC_WAIT_MS 300000u

/* ------------------------------------------------------------------------ */
/* Host <-> task completion                                                  */
/* ------------------------------------------------------------------------ */

typedef struct dc_sync {
  SRWLOCK lock;
  CONDITION_VARIABLE cv;
  LONG refs;    /* the host's and each task's; freed at 0 */
  LONG pending; /* tasks that have not reported (under lock) */
  int rc;       /* the first failure reported, 0 if none (under lock) */
  /* Results of single-task operations (written before the report). */
  dc_totals totals;
  uint64_t count_branches, count_accounts;
  int found;
} dc_sync;

static dc_sync *sync_new(LONG tasks) {
  dc_sync *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  InitializeSRWLock(&s->lock);
  InitializeConditionVariable(&s->cv);
  s->refs = tasks + 1;
  s->pending = tasks;
  return s;
}

static void sync_release(dc_sync *s) {
  if (InterlockedDecrement(&s->refs) == 0)
    free(s);
}

/* A task (or the host, for a task that could not be started) reports rc
 * and drops its reference: s must not be touched afterwards. */
static void sync_report(dc_sync *s, int rc) {
  AcquireSRWLockExclusive(&s->lock);
  if (rc != 0 && s->rc == 0)
    s->rc = rc;
  s->pending--;
  int last = s->pending == 0;
  ReleaseSRWLockExclusive(&s->lock);
  if (last)
    WakeAllConditionVariable(&s->cv);
  sync_release(s);
}

/* Host: wait for every report; the first failure, or WEFT_ETIMEDOUT. */
static int sync_wait(dc_sync *s) {
  ULONGLONG deadline = GetTickCount64() + DC_WAIT_MS;
  int rc;
  AcquireSRWLockExclusive(&s->lock);
  for (;;) {
    if (s->pending == 0) {
      rc = s->rc;
      break;
    }
    ULONGLONG now = GetTickCount64();
    if (now >= deadline) {
      rc = WEFT_ETIMEDOUT;
      break;
    }
    SleepConditionVariableSRW(&s->cv, &s->lock, (DWORD)(deadline - now), 0);
  }
  ReleaseSRWLockExclusive(&s->lock);
  return rc;
}

/* Abend handler of every DC task: the UOW is backed out by the runtime. */
static void dc_on_abend(weft_task *t, const char *code, void *arg) {
  (void)t;
  (void)code;
  sync_report((dc_sync *)arg, WEFT_EROLLEDBACK);
}

/* The normal end of a DC task: commit what is left, then report. The abend
 * handler goes first, so an abend after the report cannot report again. */
static void dc_finish(weft_task *t, dc_sync *s, int rc) {
  if (rc == 0)
    rc = weft_syncpoint(t);
  else
    weft_rollback(t);
  weft_handle_abend(t, NULL, NULL);
  sync_report(s, rc);
}

/* ------------------------------------------------------------------------ */
/* Records and keys                                                          */
/* ------------------------------------------------------------------------ */

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static void put_be64(unsigned char *p, uint64_t v) {
  put_be32(p, (uint32_t)(v >> 32));
  put_be32(p + 4, (uint32_t)v);
}

static void row_init(dc_row *row, uint32_t owner_branch) {
  memset(row, 0, sizeof *row);
  row->balance = 0;
  memcpy(row->filler, &owner_branch, sizeof owner_branch);
  /* The rest of the filler: a fixed pattern, so rows are pgbench-sized
   * on disk whatever the log does with zeros. */
  for (size_t i = sizeof owner_branch; i < sizeof row->filler; i++)
    row->filler[i] = (char)('a' + i % 26);
}

static uint32_t row_branch(const dc_row *row) {
  uint32_t b;
  memcpy(&b, row->filler, sizeof b);
  return b;
}

/* Read one dc_row for update; WEFT_ECORRUPT if it is not one. */
static int row_read_update(weft_task *t, const char *file, const unsigned char key[4],
                           dc_row *row) {
  size_t len = 0;
  int rc = weft_file_read(t, file, key, 4, row, sizeof *row, &len, WEFT_READ_UPDATE);
  if (rc == 0 && len != sizeof *row)
    rc = WEFT_ECORRUPT;
  return rc;
}

/* Add delta to the balance of one row (read for update + rewrite). */
static int row_add(weft_task *t, const char *file, uint32_t id, int32_t delta, dc_row *row) {
  unsigned char key[4];
  put_be32(key, id);
  int rc = row_read_update(t, file, key, row);
  if (rc != 0)
    return rc;
  row->balance += delta;
  return weft_file_rewrite(t, file, key, 4, row, sizeof *row);
}

/* ------------------------------------------------------------------------ */
/* DCTX: one DebitCredit transaction                                         */
/* ------------------------------------------------------------------------ */

typedef struct dc_tx_input {
  dc_sync *sync;
  uint64_t client, seq;
  uint32_t aid;
  int32_t delta;
} dc_tx_input;

static int dc_tx_body(weft_task *t, const dc_tx_input *in) {
  dc_row row;
  /* Account, teller, branch: pgbench's order, so no two transactions ever
   * wait for each other in a cycle. */
  int rc = row_add(t, DC_FILE_ACCOUNT, in->aid, in->delta, &row);
  if (rc != 0)
    return rc;
  uint32_t bid = row_branch(&row);
  uint32_t tid = bid * DC_TELLERS_PER_BRANCH + in->aid % DC_TELLERS_PER_BRANCH;
  rc = row_add(t, DC_FILE_TELLER, tid, in->delta, &row);
  if (rc != 0)
    return rc;
  rc = row_add(t, DC_FILE_BRANCH, bid, in->delta, &row);
  if (rc != 0)
    return rc;
  dc_hist h;
  memset(&h, 0, sizeof h);
  h.aid = in->aid;
  h.tid = tid;
  h.bid = bid;
  h.delta = in->delta;
  h.client = in->client;
  h.seq = in->seq;
  unsigned char key[16];
  put_be64(key, in->client);
  put_be64(key + 8, in->seq);
  return weft_file_write(t, DC_FILE_HISTORY, key, sizeof key, &h, sizeof h);
}

/* Copy the task's start data, an input struct of size bytes, into in; a
 * task started with anything else abends DCIN (nobody to report to). */
static void dc_input(weft_task *t, void *in, size_t size) {
  const void *data = NULL;
  size_t len = 0;
  if (weft_retrieve(t, &data, &len) != 0 || len != size)
    weft_abend(t, "DCIN");
  memcpy(in, data, size);
}

static void dc_tx_program(weft_task *t) {
  dc_tx_input in;
  dc_input(t, &in, sizeof in);
  weft_handle_abend(t, dc_on_abend, in.sync);
  dc_finish(t, in.sync, dc_tx_body(t, &in));
}

int dc_submit(weft_region *r, uint64_t client, uint64_t seq, uint32_t aid, int32_t delta) {
  if (r == NULL)
    return WEFT_EINVAL;
  dc_sync *s = sync_new(1);
  if (s == NULL)
    return WEFT_ENOMEM;
  dc_tx_input in = {s, client, seq, aid, delta};
  int rc = weft_start(r, "DCTX", &in, sizeof in, NULL, NULL);
  if (rc != 0)
    sync_report(s, rc); /* the task's part: it never ran */
  rc = sync_wait(s);
  sync_release(s);
  return rc;
}

uint32_t dc_random_account(const dc_config *cfg, uint64_t *state) {
  uint64_t x = *state;
  if (x == 0)
    x = 0x2545F4914F6CDD1Dull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  uint64_t n = (uint64_t)cfg->branches * cfg->accounts_per_branch;
  if (n == 0)
    return 0;
  return (uint32_t)((x * 0x2545F4914F6CDD1Dull >> 11) % n);
}

/* ------------------------------------------------------------------------ */
/* DCSEED                                                                    */
/* ------------------------------------------------------------------------ */

enum { SEED_PROBE, SEED_ACCOUNTS, SEED_TOP };

typedef struct dc_seed_input {
  dc_sync *sync;
  int op;
  dc_config cfg;
  uint32_t first, end; /* SEED_ACCOUNTS: accounts [first, end) */
} dc_seed_input;

/* Write a row unless its key exists (a seed finished after a crash). */
static int seed_row(weft_task *t, const char *file, uint32_t id, uint32_t owner) {
  unsigned char key[4];
  dc_row row;
  put_be32(key, id);
  row_init(&row, owner);
  int rc = weft_file_write(t, file, key, sizeof key, &row, sizeof row);
  return rc == WEFT_EEXIST ? 0 : rc;
}

/* Records in a file (0 when it is empty). */
static int count_file(weft_task *t, const char *file, uint64_t *count) {
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, file, NULL, 0, 0, &b);
  *count = 0;
  if (rc == WEFT_EENDFILE || rc == WEFT_ENOTFOUND) /* empty */
    return 0;
  if (rc != 0)
    return rc;
  size_t klen, len;
  while ((rc = weft_browse_next(b, NULL, 0, &klen, NULL, 0, &len)) == 0 || rc == WEFT_ERANGE)
    (*count)++;
  weft_browse_end(b);
  return rc == WEFT_EENDFILE ? 0 : rc;
}

static int dc_seed_body(weft_task *t, dc_seed_input *in) {
  int rc = 0;
  unsigned n = 0;
  switch (in->op) {
    case SEED_PROBE:
      rc = count_file(t, DC_FILE_BRANCH, &in->sync->count_branches);
      if (rc == 0)
        rc = count_file(t, DC_FILE_ACCOUNT, &in->sync->count_accounts);
      return rc;
    case SEED_ACCOUNTS:
      for (uint32_t a = in->first; a < in->end && rc == 0; a++) {
        rc = seed_row(t, DC_FILE_ACCOUNT, a, a / in->cfg.accounts_per_branch);
        if (rc == 0 && ++n % DC_SEED_BATCH == 0)
          rc = weft_syncpoint(t);
      }
      return rc;
    case SEED_TOP:
      for (uint32_t b = 0; b < in->cfg.branches && rc == 0; b++)
        for (uint32_t i = 0; i < DC_TELLERS_PER_BRANCH && rc == 0; i++) {
          rc = seed_row(t, DC_FILE_TELLER, b * DC_TELLERS_PER_BRANCH + i, b);
          if (rc == 0 && ++n % DC_SEED_BATCH == 0)
            rc = weft_syncpoint(t);
        }
      /* The branches last, in the final unit of work. */
      for (uint32_t b = 0; b < in->cfg.branches && rc == 0; b++)
        rc = seed_row(t, DC_FILE_BRANCH, b, b);
      return rc;
    default:
      return WEFT_EINVAL;
  }
}

static void dc_seed_program(weft_task *t) {
  dc_seed_input in;
  dc_input(t, &in, sizeof in);
  weft_handle_abend(t, dc_on_abend, in.sync);
  dc_finish(t, in.sync, dc_seed_body(t, &in));
}

/* Start `count` DCSEED tasks of inputs[] sharing one dc_sync, and wait. */
static int seed_run(weft_region *r, dc_seed_input *inputs, unsigned count, dc_sync **keep) {
  dc_sync *s = sync_new((LONG)count);
  if (s == NULL)
    return WEFT_ENOMEM;
  for (unsigned i = 0; i < count; i++) {
    inputs[i].sync = s;
    int rc = weft_start(r, "DCSEED", &inputs[i], sizeof inputs[i], NULL, NULL);
    if (rc != 0)
      sync_report(s, rc);
  }
  int rc = sync_wait(s);
  if (keep != NULL && rc == 0)
    *keep = s; /* the caller reads the results, then releases */
  else
    sync_release(s);
  return rc;
}

int dc_seed(weft_region *r, const dc_config *cfg) {
  if (r == NULL || cfg == NULL || cfg->branches == 0 || cfg->accounts_per_branch == 0)
    return WEFT_EINVAL;
  uint64_t total = (uint64_t)cfg->branches * cfg->accounts_per_branch;
  if (total > UINT32_MAX || (uint64_t)cfg->branches * DC_TELLERS_PER_BRANCH > UINT32_MAX)
    return WEFT_ERANGE;

  dc_seed_input probe;
  memset(&probe, 0, sizeof probe);
  probe.op = SEED_PROBE;
  probe.cfg = *cfg;
  dc_sync *res = NULL;
  int rc = seed_run(r, &probe, 1, &res);
  if (rc != 0)
    return rc;
  uint64_t nbranches = res->count_branches, naccounts = res->count_accounts;
  sync_release(res);
  if (nbranches != 0)
    return nbranches == cfg->branches && naccounts == total ? 0 : WEFT_EINVAL;

  dc_seed_input parts[DC_SEED_TASKS];
  unsigned nparts = 0;
  uint64_t per = (total + DC_SEED_TASKS - 1) / DC_SEED_TASKS;
  for (uint64_t first = 0; first < total; first += per) {
    dc_seed_input *p = &parts[nparts++];
    memset(p, 0, sizeof *p);
    p->op = SEED_ACCOUNTS;
    p->cfg = *cfg;
    p->first = (uint32_t)first;
    p->end = (uint32_t)(first + per < total ? first + per : total);
  }
  rc = seed_run(r, parts, nparts, NULL);
  if (rc != 0)
    return rc;
  dc_seed_input top;
  memset(&top, 0, sizeof top);
  top.op = SEED_TOP;
  top.cfg = *cfg;
  return seed_run(r, &top, 1, NULL);
}

/* ------------------------------------------------------------------------ */
/* DCCHECK                                                                   */
/* ------------------------------------------------------------------------ */

enum { CHECK_TOTALS, CHECK_HISTORY_HAS };

typedef struct dc_check_input {
  dc_sync *sync;
  int op;
  uint64_t client, seq;
} dc_check_input;

static int sum_rows(weft_task *t, const char *file, int64_t *sum, uint64_t *count) {
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, file, NULL, 0, 0, &b);
  if (rc == WEFT_EENDFILE || rc == WEFT_ENOTFOUND) /* empty */
    return 0;
  if (rc != 0)
    return rc;
  dc_row row;
  unsigned char key[4];
  size_t klen = 0, len = 0;
  while ((rc = weft_browse_next(b, key, sizeof key, &klen, &row, sizeof row, &len)) == 0) {
    if (len != sizeof row || klen != sizeof key) {
      rc = WEFT_ECORRUPT;
      break;
    }
    *sum += row.balance;
    (*count)++;
  }
  weft_browse_end(b);
  return rc == WEFT_EENDFILE ? 0 : rc;
}

static int sum_history(weft_task *t, dc_totals *out) {
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, DC_FILE_HISTORY, NULL, 0, 0, &b);
  if (rc == WEFT_EENDFILE || rc == WEFT_ENOTFOUND) /* empty */
    return 0;
  if (rc != 0)
    return rc;
  dc_hist h;
  unsigned char key[16];
  size_t klen = 0, len = 0;
  while ((rc = weft_browse_next(b, key, sizeof key, &klen, &h, sizeof h, &len)) == 0) {
    if (len != sizeof h || klen != sizeof key) {
      rc = WEFT_ECORRUPT;
      break;
    }
    out->history_delta += h.delta;
    out->history++;
  }
  weft_browse_end(b);
  return rc == WEFT_EENDFILE ? 0 : rc;
}

static int dc_check_body(weft_task *t, const dc_check_input *in) {
  dc_sync *s = in->sync;
  if (in->op == CHECK_HISTORY_HAS) {
    unsigned char key[16];
    dc_hist h;
    size_t len = 0;
    put_be64(key, in->client);
    put_be64(key + 8, in->seq);
    int rc = weft_file_read(t, DC_FILE_HISTORY, key, sizeof key, &h, sizeof h, &len, 0);
    if (rc == WEFT_ENOTFOUND) {
      s->found = 0;
      return 0;
    }
    s->found = rc == 0;
    return rc;
  }
  dc_totals *out = &s->totals;
  memset(out, 0, sizeof *out);
  int rc = sum_rows(t, DC_FILE_ACCOUNT, &out->accounts, &out->naccounts);
  if (rc == 0)
    rc = sum_rows(t, DC_FILE_TELLER, &out->tellers, &out->ntellers);
  if (rc == 0)
    rc = sum_rows(t, DC_FILE_BRANCH, &out->branches, &out->nbranches);
  if (rc == 0)
    rc = sum_history(t, out);
  out->ok = rc == 0 && out->accounts == out->tellers && out->tellers == out->branches &&
            out->branches == out->history_delta;
  return rc;
}

static void dc_check_program(weft_task *t) {
  dc_check_input in;
  dc_input(t, &in, sizeof in);
  weft_handle_abend(t, dc_on_abend, in.sync);
  dc_finish(t, in.sync, dc_check_body(t, &in));
}

static int check_run(weft_region *r, dc_check_input *in, dc_sync **out) {
  dc_sync *s = sync_new(1);
  if (s == NULL)
    return WEFT_ENOMEM;
  in->sync = s;
  int rc = weft_start(r, "DCCHECK", in, sizeof *in, NULL, NULL);
  if (rc != 0)
    sync_report(s, rc);
  rc = sync_wait(s);
  if (rc == 0) {
    *out = s;
    return 0;
  }
  sync_release(s);
  return rc;
}

int dc_check(weft_region *r, dc_totals *out) {
  if (r == NULL || out == NULL)
    return WEFT_EINVAL;
  dc_check_input in;
  memset(&in, 0, sizeof in);
  in.op = CHECK_TOTALS;
  dc_sync *s = NULL;
  int rc = check_run(r, &in, &s);
  if (rc != 0)
    return rc;
  *out = s->totals;
  sync_release(s);
  return 0;
}

int dc_history_has(weft_region *r, uint64_t client, uint64_t seq) {
  if (r == NULL)
    return WEFT_EINVAL;
  dc_check_input in;
  memset(&in, 0, sizeof in);
  in.op = CHECK_HISTORY_HAS;
  in.client = client;
  in.seq = seq;
  dc_sync *s = NULL;
  int rc = check_run(r, &in, &s);
  if (rc != 0)
    return rc;
  int found = s->found;
  sync_release(s);
  return found;
}

/* ------------------------------------------------------------------------ */
/* Definitions                                                               */
/* ------------------------------------------------------------------------ */

int dc_define(weft_region *r) {
  if (r == NULL)
    return WEFT_EINVAL;
  static const weft_file_def files[] = {
      {DC_FILE_BRANCH, 4, sizeof(dc_row)},
      {DC_FILE_TELLER, 4, sizeof(dc_row)},
      {DC_FILE_ACCOUNT, 4, sizeof(dc_row)},
      {DC_FILE_HISTORY, 16, sizeof(dc_hist)},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    int rc = weft_file_define(r, &files[i]);
    if (rc != 0)
      return rc;
  }
  static const struct {
    const char *name;
    weft_program_fn fn;
  } progs[] = {
      {"DCTX", dc_tx_program},
      {"DCSEED", dc_seed_program},
      {"DCCHECK", dc_check_program},
  };
  for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
    int rc = weft_program_define(r, progs[i].name, progs[i].fn);
    if (rc != 0)
      return rc;
    weft_transaction_def def = {progs[i].name, progs[i].name, 100, 0, NULL};
    rc = weft_transaction_define(r, &def);
    if (rc != 0)
      return rc;
  }
  return 0;
}
