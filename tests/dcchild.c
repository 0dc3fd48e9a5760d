/* dcchild.c - the DebitCredit workload as a child process of the recovery
 * tests (tests/test_recovery.c), which crash it (WEFT_CRASH) or kill it.
 *
 * Usage: dcchild <data_dir> <clients> <count-per-client> [options]
 *   --run R      client ids are R * 1000 + 0 .. clients - 1 (default 0), so
 *                (client, seq) stay unique over runs on one directory
 *   --ckpt N     checkpoint_bytes N (default: the region's default)
 *   --rm         register resource manager DCRM, which logs its calls to
 *                <data_dir>/../rm.log (outside the data directory), and
 *                run RMTX instead of DebitCredit: each UOW enlists DCRM and
 *                writes record (client, seq) into file DCRMF
 *   --accounts N accounts per branch when seeding (default 1000; 1 branch)
 *
 * Output on stdout, one line per write (each line is one WriteFile call):
 *   RECOVERY clean=.. fresh=.. ckpt=.. read=.. redone=.. undone=.. torn=.. rm_pending=..
 *   READY                       (seeded; the clients start)
 *   TRY <client> <seq>          (before each submit)
 *   ACK <client> <seq>          (the submit returned 0: durably committed)
 *   FAIL <client> <seq> <code>  (the submit returned an error)
 *   STATS commits=.. flushes=.. bytes=.. checkpoints=..
 *   DONE                        (after a clean shutdown)
 * Exit codes: 0 done, 2 usage, 3 region create, 4 define/seed, 5 shutdown,
 * 6 a submit failed (the others carry on first).
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc.h"
#include "weft.h"

static HANDLE g_out;
static CRITICAL_SECTION g_out_lock;
static weft_region *g_region;
static dc_config g_dc = {1, 1000};
static unsigned g_clients, g_run;
static unsigned long g_count;
static int g_rm_mode;
static volatile LONG g_failures;

/* One line to stdout in one WriteFile (pipes keep it whole). */
static void out(const char *fmt, ...) {
  char buf[600];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (n > (int)sizeof buf - 2)
    n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  EnterCriticalSection(&g_out_lock);
  DWORD done = 0;
  WriteFile(g_out, buf, (DWORD)n, &done, NULL);
  LeaveCriticalSection(&g_out_lock);
}

static void on_log(void *ctx, char level, const char *msg) {
  (void)ctx;
  fprintf(stderr, "[%c] %s\n", level, msg);
  fflush(stderr);
}

/* ------------------------------------------------------------------------ */
/* The resource manager (--rm)                                               */
/* ------------------------------------------------------------------------ */

static HANDLE g_rm_log = INVALID_HANDLE_VALUE;
static CRITICAL_SECTION g_rm_lock;
static weft_rm *g_rm;

/* The start data of an RMTX task. */
typedef struct rmtx_req {
  uint64_t client, seq;
  HANDLE done; /* set when the task has its result */
  int rc;      /* weft_syncpoint's code, or an earlier error */
} rmtx_req;

/* One line to rm.log, written through to the file before returning (the
 * process may be terminated right after). */
static void rm_log(const char *what, uint64_t uow, weft_task *t) {
  unsigned long long client = 0, seq = 0;
  if (t) {
    const void *data = NULL;
    size_t len = 0;
    if (weft_retrieve(t, &data, &len) == 0 && data && len == sizeof(rmtx_req *)) {
      rmtx_req *q;
      memcpy(&q, data, sizeof q);
      client = q->client;
      seq = q->seq;
    }
  }
  char buf[160];
  int n = snprintf(buf, sizeof buf, "%s %llu %llu %llu\n", what, (unsigned long long)uow,
                   client, seq);
  EnterCriticalSection(&g_rm_lock);
  DWORD done = 0;
  WriteFile(g_rm_log, buf, (DWORD)n, &done, NULL);
  LeaveCriticalSection(&g_rm_lock);
}

static int rm_prepare(void *ctx, weft_task *t, uint64_t uow) {
  rm_log("PREPARE", uow, t);
  return 0;
}
static void rm_commit(void *ctx, weft_task *t, uint64_t uow) { rm_log("COMMIT", uow, t); }
static void rm_rollback(void *ctx, weft_task *t, uint64_t uow) { rm_log("ROLLBACK", uow, t); }
static void rm_recover(void *ctx, uint64_t uow) { rm_log("RECOVER", uow, NULL); }

static const weft_rm_ops g_rm_ops = {rm_prepare, rm_commit, rm_rollback, NULL, rm_recover};

static void put_be64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (unsigned char)v;
    v >>= 8;
  }
}

/* RMTX: enlist DCRM, write (client, seq) into DCRMF, commit. */
static void rmtx_program(weft_task *t) {
  const void *data = NULL;
  size_t len = 0;
  rmtx_req *q = NULL;
  if (weft_retrieve(t, &data, &len) != 0 || len != sizeof q)
    return;
  memcpy(&q, data, sizeof q);
  unsigned char key[16], rec[16];
  put_be64(key, q->client);
  put_be64(key + 8, q->seq);
  memcpy(rec, key, sizeof rec);
  int rc = weft_rm_enlist(t, g_rm);
  if (rc == 0)
    rc = weft_file_write(t, "DCRMF", key, sizeof key, rec, sizeof rec);
  if (rc == 0)
    rc = weft_syncpoint(t);
  else
    weft_rollback(t);
  q->rc = rc;
  SetEvent(q->done);
}

static int rm_setup(weft_region *r, const char *data_dir) {
  char path[MAX_PATH + 32];
  snprintf(path, sizeof path, "%s\\..\\rm.log", data_dir);
  g_rm_log = CreateFileA(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                         OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_WRITE_THROUGH, NULL);
  if (g_rm_log == INVALID_HANDLE_VALUE) {
    out("ERROR cannot open %s: %lu", path, GetLastError());
    return -1;
  }
  weft_file_def fd = {"DCRMF", 16, 16};
  int rc = weft_file_define(r, &fd);
  if (rc == 0)
    rc = weft_program_define(r, "RMTX", rmtx_program);
  if (rc == 0) {
    weft_transaction_def td = {"RMTX", "RMTX", 1, 0, NULL};
    rc = weft_transaction_define(r, &td);
  }
  if (rc == 0)
    rc = weft_rm_register(r, "DCRM", &g_rm_ops, NULL, &g_rm);
  if (rc != 0)
    out("ERROR rm setup: %s", weft_err_name(rc));
  return rc;
}

static int rmtx_submit(uint64_t client, uint64_t seq) {
  rmtx_req q = {client, seq, CreateEventA(NULL, TRUE, FALSE, NULL), WEFT_ESTATE};
  if (!q.done)
    return WEFT_ESYS;
  rmtx_req *p = &q;
  int rc = weft_start(g_region, "RMTX", &p, sizeof p, NULL, NULL);
  if (rc == 0) {
    WaitForSingleObject(q.done, INFINITE);
    rc = q.rc;
  }
  CloseHandle(q.done);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                   */
/* ------------------------------------------------------------------------ */

static DWORD WINAPI client_main(void *arg) {
  unsigned idx = (unsigned)(uintptr_t)arg;
  uint64_t client = (uint64_t)g_run * 1000 + idx;
  uint64_t state = 0x9E3779B97F4A7C15ull ^ (client * 0x100000001B3ull) ^ GetTickCount64();
  if (state == 0)
    state = 1;
  for (unsigned long seq = 1; seq <= g_count; seq++) {
    uint32_t aid = dc_random_account(&g_dc, &state);
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    int32_t delta = (int32_t)(state % 19999) - 9999;
    out("TRY %llu %lu", (unsigned long long)client, seq);
    int rc = g_rm_mode ? rmtx_submit(client, seq) : dc_submit(g_region, client, seq, aid, delta);
    if (rc == 0) {
      out("ACK %llu %lu", (unsigned long long)client, seq);
    } else {
      out("FAIL %llu %lu %s", (unsigned long long)client, seq, weft_err_name(rc));
      InterlockedIncrement(&g_failures);
      if (rc != WEFT_EROLLEDBACK)
        break;
    }
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: dcchild <data_dir> <clients> <count-per-client> [--run R] "
                  "[--ckpt BYTES] [--rm] [--accounts N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  g_out = GetStdHandle(STD_OUTPUT_HANDLE);
  InitializeCriticalSection(&g_out_lock);
  InitializeCriticalSection(&g_rm_lock);
  if (argc < 4)
    usage();
  const char *data_dir = argv[1];
  g_clients = (unsigned)strtoul(argv[2], NULL, 10);
  g_count = strtoul(argv[3], NULL, 10);
  uint64_t ckpt = 0;
  for (int i = 4; i < argc; i++) {
    if (strcmp(argv[i], "--run") == 0 && i + 1 < argc)
      g_run = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--ckpt") == 0 && i + 1 < argc)
      ckpt = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc)
      g_dc.accounts_per_branch = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--rm") == 0)
      g_rm_mode = 1;
    else
      usage();
  }
  if (g_clients < 1 || g_clients > 64)
    usage();

  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = 2;
  cfg.data_dir = data_dir;
  cfg.log_fn = on_log;
  if (ckpt)
    cfg.checkpoint_bytes = ckpt;
  int rc = weft_region_create(&cfg, &g_region);
  if (rc != 0) {
    out("ERROR weft_region_create: %s", weft_err_name(rc));
    return 3;
  }
  weft_recovery_info info;
  memset(&info, 0, sizeof info);
  rc = weft_region_recovery_get(g_region, &info);
  if (rc != 0) {
    out("ERROR weft_region_recovery: %s", weft_err_name(rc));
    return 3;
  }
  out("RECOVERY clean=%d fresh=%d ckpt=%llu read=%llu redone=%llu undone=%llu torn=%llu "
      "rm_pending=%llu",
      info.clean, info.fresh, (unsigned long long)info.checkpoint_gen,
      (unsigned long long)info.records_read, (unsigned long long)info.uows_redone,
      (unsigned long long)info.uows_undone, (unsigned long long)info.torn_bytes,
      (unsigned long long)info.rm_pending);

  rc = dc_define(g_region);
  if (rc != 0) {
    out("ERROR dc_define: %s", weft_err_name(rc));
    return 4;
  }
  if (g_rm_mode && rm_setup(g_region, data_dir) != 0)
    return 4;
  rc = dc_seed(g_region, &g_dc);
  if (rc != 0) {
    out("ERROR dc_seed: %s", weft_err_name(rc));
    return 4;
  }
  out("READY");

  HANDLE th[64];
  for (unsigned i = 0; i < g_clients; i++) {
    th[i] = CreateThread(NULL, 0, client_main, (void *)(uintptr_t)i, 0, NULL);
    if (!th[i]) {
      out("ERROR CreateThread: %lu", GetLastError());
      return 4;
    }
  }
  for (unsigned i = 0; i < g_clients; i++) {
    WaitForSingleObject(th[i], INFINITE);
    CloseHandle(th[i]);
  }

  weft_log_stats ls;
  memset(&ls, 0, sizeof ls);
  weft_log_stats_get(g_region, &ls);
  out("STATS commits=%llu flushes=%llu bytes=%llu checkpoints=%llu",
      (unsigned long long)ls.commits, (unsigned long long)ls.flushes,
      (unsigned long long)ls.bytes, (unsigned long long)ls.checkpoints);
  rc = weft_region_shutdown(g_region, WEFT_SHUTDOWN_NORMAL, 60000);
  if (rc != 0) {
    out("ERROR weft_region_shutdown: %s", weft_err_name(rc));
    return 5;
  }
  weft_region_destroy(g_region);
  out("DONE");
  return g_failures ? 6 : 0;
}
