/* test_recovery.c - crashes and restart recovery of the log and checkpoints,
 * driven through a child process (dcchild.exe, the DebitCredit workload)
 * that is crashed at the WEFT_CRASH points or killed with TerminateProcess;
 * the test then opens the same data directory in-process and checks that
 * every acknowledged commit is there and that the DebitCredit invariant
 * holds (see dcchild.c for the child's output).
 *
 * Each test works in a fresh directory <exe dir>\rectmp\<test>-<pid>-<ms>: the
 * data directory is its "data" subdirectory; the child's stderr goes to
 * child-<n>.err and its resource manager log (--rm) to rm.log beside it.
 * The directory is removed when the test passes. */
#include "helpers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>

#include "dc.h"

#define REC_TIMEOUT 180.0
TestSuite(recovery, .timeout = REC_TIMEOUT);

/* How long a child that should end by itself may take. */
#define CHILD_DEADLINE_MS 120000u
/* The exit code of a WEFT_CRASH point. */
#define CRASH_EXIT 86u
/* The exit code the kill test terminates the child with. */
#define KILL_EXIT 99u
/* The scale every test seeds. */
#define ACCOUNTS 1000u

/* ------------------------------------------------------------------------ */
/* Paths                                                                     */
/* ------------------------------------------------------------------------ */

static char g_exe_dir[MAX_PATH]; /* where test_recovery.exe and dcchild.exe are */
static char g_root[MAX_PATH];    /* this test's scratch directory */
static char g_data[MAX_PATH];    /* its data directory */
static int g_child_no;           /* children started (names child-<n>.err) */


static void paths_init(const char *name) {
  th_exe_dir(g_exe_dir);
  char tmp[MAX_PATH];
  snprintf(tmp, sizeof tmp, "%s\\rectmp", g_exe_dir);
  CreateDirectoryA(tmp, NULL);
  snprintf(g_root, sizeof g_root, "%s\\%s-%lu-%llu", tmp, name, GetCurrentProcessId(),
           (unsigned long long)(GetTickCount64() % 1000000));
  snprintf(g_data, sizeof g_data, "%s\\data", g_root);
  /* A failed run may have left one with the same name (Wine reuses
   * process ids): start empty. */
  th_rm_tree(g_root);
  cr_assert(CreateDirectoryA(g_root, NULL), "CreateDirectory(%s): %lu", g_root, GetLastError());
}

/* The test passed: remove its scratch directory. */
static void paths_done(void) {
  th_rm_tree(g_root);
  char tmp[MAX_PATH];
  snprintf(tmp, sizeof tmp, "%s\\rectmp", g_exe_dir);
  RemoveDirectoryA(tmp); /* when no other test's directory is left */
}

/* ------------------------------------------------------------------------ */
/* Files of the data directory                                               */
/* ------------------------------------------------------------------------ */

#define MAX_DENTS 64

typedef struct dent {
  char name[MAX_PATH];
  uint64_t size;
  unsigned char *data; /* with list_dir(..., 1) */
} dent;

typedef struct dir_list {
  int n;
  dent e[MAX_DENTS];
} dir_list;

static unsigned char *read_whole(const char *path, uint64_t *size) {
  HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return NULL;
  LARGE_INTEGER sz;
  GetFileSizeEx(h, &sz);
  unsigned char *buf = malloc((size_t)sz.QuadPart + 1);
  DWORD got = 0, total = 0;
  while (buf && total < (DWORD)sz.QuadPart &&
         ReadFile(h, buf + total, (DWORD)sz.QuadPart - total, &got, NULL) && got > 0)
    total += got;
  CloseHandle(h);
  if (buf)
    buf[total] = 0;
  *size = total;
  return buf;
}

static int dent_cmp(const void *a, const void *b) {
  return strcmp(((const dent *)a)->name, ((const dent *)b)->name);
}

/* The regular files of dir, sorted by name; with data, their contents. */
static void list_dir(const char *dir, dir_list *out, int with_data) {
  memset(out, 0, sizeof *out);
  char pat[MAX_PATH];
  snprintf(pat, sizeof pat, "%s\\*", dir);
  WIN32_FIND_DATAA fd;
  HANDLE h = FindFirstFileA(pat, &fd);
  if (h == INVALID_HANDLE_VALUE)
    return;
  do {
    if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
      continue;
    if (out->n == MAX_DENTS)
      break;
    dent *e = &out->e[out->n++];
    snprintf(e->name, sizeof e->name, "%s", fd.cFileName);
    e->size = ((uint64_t)fd.nFileSizeHigh << 32) | fd.nFileSizeLow;
    if (with_data) {
      char p[MAX_PATH];
      snprintf(p, sizeof p, "%s\\%s", dir, fd.cFileName);
      e->data = read_whole(p, &e->size);
    }
  } while (FindNextFileA(h, &fd));
  FindClose(h);
  qsort(out->e, (size_t)out->n, sizeof out->e[0], dent_cmp);
}

static void free_dir(dir_list *d) {
  for (int i = 0; i < d->n; i++)
    free(d->e[i].data);
  d->n = 0;
}

static void dir_names(const dir_list *d, char *buf, size_t cap) {
  size_t at = 0;
  buf[0] = 0;
  for (int i = 0; i < d->n && at + 1 < cap; i++)
    at += (size_t)snprintf(buf + at, cap - at, "%s(%llu) ", d->e[i].name,
                           (unsigned long long)d->e[i].size);
}

/* A refused open left the directory as it was: the same files, each of the
 * same size and bytes (both listed with data). */
static void assert_dir_unchanged(const dir_list *before, const dir_list *after) {
  char names[2048];
  dir_names(after, names, sizeof names);
  cr_assert_eq(after->n, before->n, "files added or removed by the refused open: %s", names);
  for (int i = 0; i < before->n; i++) {
    cr_assert_str_eq(after->e[i].name, before->e[i].name);
    cr_assert_eq(after->e[i].size, before->e[i].size, "%s changed size", before->e[i].name);
    cr_assert(!memcmp(after->e[i].data, before->e[i].data, (size_t)before->e[i].size),
              "%s changed", before->e[i].name);
  }
}

/* "weft.<kind>.<16 hex>" (kind "log" or "ckpt"): 1 and its generation. */
static int weft_file_gen(const char *name, const char *kind, uint64_t *gen) {
  char prefix[16];
  snprintf(prefix, sizeof prefix, "weft.%s.", kind);
  size_t pl = strlen(prefix);
  if (strncmp(name, prefix, pl) != 0 || strlen(name) != pl + 16)
    return 0;
  for (size_t i = pl; i < pl + 16; i++)
    if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i]))
      return 0;
  *gen = strtoull(name + pl, NULL, 16);
  return 1;
}

typedef struct dir_summary {
  int logs, ckpts, tmps;
  uint64_t log_bytes;
  uint64_t newest_log_gen, newest_ckpt_gen;
  char newest_log[MAX_PATH];
} dir_summary;

static dir_summary summarize(void) {
  dir_list d;
  list_dir(g_data, &d, 0);
  dir_summary s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < d.n; i++) {
    uint64_t gen;
    const char *nm = d.e[i].name;
    size_t len = strlen(nm);
    if (len > 4 && !strcmp(nm + len - 4, ".tmp"))
      s.tmps++;
    else if (weft_file_gen(nm, "log", &gen)) {
      s.logs++;
      s.log_bytes += d.e[i].size;
      if (gen >= s.newest_log_gen) {
        s.newest_log_gen = gen;
        snprintf(s.newest_log, sizeof s.newest_log, "%s", nm);
      }
    } else if (weft_file_gen(nm, "ckpt", &gen)) {
      s.ckpts++;
      if (gen > s.newest_ckpt_gen)
        s.newest_ckpt_gen = gen;
    }
  }
  return s;
}

/* ------------------------------------------------------------------------ */
/* Acknowledged commits                                                      */
/* ------------------------------------------------------------------------ */

typedef struct pairs {
  uint64_t (*v)[2];
  size_t n, cap;
} pairs;

static void pairs_add(pairs *p, uint64_t a, uint64_t b) {
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 1024;
    p->v = realloc(p->v, p->cap * sizeof p->v[0]);
    if (!p->v)
      abort();
  }
  p->v[p->n][0] = a;
  p->v[p->n][1] = b;
  p->n++;
}

/* Over every child run of the test on its directory. */
static pairs g_acks;      /* DebitCredit commits acknowledged */
static uint64_t g_tries;  /* DebitCredit submits attempted */
static pairs g_rm_acks;   /* RMTX commits acknowledged (--rm) */

/* ------------------------------------------------------------------------ */
/* Children                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct child {
  HANDLE proc, rd, reader;
  char err_path[MAX_PATH];
  int rm_mode;
  /* Written by the reader thread until it ends, then read by the host. */
  char line[1024];
  size_t line_len;
  pairs acks;
  atomic_long nacks;   /* acks.n, for the host while the child runs */
  atomic_int started;  /* READY seen */
  uint64_t tries, fails;
  uint64_t last_try[2]; /* the last TRY (client, seq) */
  int done;
  long long checkpoints; /* from STATS; -1 if none */
  char recovery[600];
  char misc[8192]; /* every other line (errors, FAIL), truncated */
  size_t misc_len;
  DWORD exit_code;
} child;

static void child_line(child *c, char *ln) {
  unsigned long long a, b;
  if (sscanf(ln, "ACK %llu %llu", &a, &b) == 2) {
    pairs_add(&c->acks, a, b);
    atomic_store(&c->nacks, (long)c->acks.n);
    return;
  }
  if (sscanf(ln, "TRY %llu %llu", &a, &b) == 2) {
    c->tries++;
    c->last_try[0] = a;
    c->last_try[1] = b;
    return;
  }
  if (!strncmp(ln, "FAIL ", 5))
    c->fails++;
  if (!strncmp(ln, "RECOVERY ", 9))
    snprintf(c->recovery, sizeof c->recovery, "%s", ln);
  if (!strcmp(ln, "READY"))
    atomic_store(&c->started, 1);
  if (!strcmp(ln, "DONE"))
    c->done = 1;
  const char *ck = strstr(ln, "checkpoints=");
  if (!strncmp(ln, "STATS ", 6) && ck)
    c->checkpoints = strtoll(ck + 12, NULL, 10);
  if (c->misc_len + strlen(ln) + 2 < sizeof c->misc)
    c->misc_len += (size_t)snprintf(c->misc + c->misc_len, sizeof c->misc - c->misc_len, "%s\n", ln);
}

static DWORD WINAPI child_reader(void *arg) {
  child *c = arg;
  char buf[4096];
  DWORD got;
  while (ReadFile(c->rd, buf, sizeof buf, &got, NULL) && got > 0) {
    for (DWORD i = 0; i < got; i++) {
      char ch = buf[i];
      if (ch == '\r')
        continue;
      if (ch == '\n') {
        c->line[c->line_len] = 0;
        child_line(c, c->line);
        c->line_len = 0;
      } else if (c->line_len + 1 < sizeof c->line) {
        c->line[c->line_len++] = ch;
      }
    }
  }
  /* A last line without its newline (the child died writing it) is not
   * taken: the child writes each line with one WriteFile. */
  return 0;
}

static HANDLE g_job;

/* Start dcchild.exe on g_data with args (after the data dir), WEFT_CRASH
 * set to crash (NULL: unset). */
static void child_start(child *c, const char *crash, const char *fmt, ...) {
  memset(c, 0, sizeof *c);
  c->checkpoints = -1;
  char args[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  c->rm_mode = strstr(args, "--rm") != NULL;

  if (!g_job) {
    g_job = CreateJobObjectA(NULL, NULL);
    if (g_job) {
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
      memset(&li, 0, sizeof li);
      li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
      SetInformationJobObject(g_job, JobObjectExtendedLimitInformation, &li, sizeof li);
    }
  }

  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE wr;
  cr_assert(CreatePipe(&c->rd, &wr, &sa, 1 << 16), "CreatePipe: %lu", GetLastError());
  SetHandleInformation(c->rd, HANDLE_FLAG_INHERIT, 0);
  snprintf(c->err_path, sizeof c->err_path, "%s\\child-%d.err", g_root, ++g_child_no);
  HANDLE err = CreateFileA(c->err_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                           CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  cr_assert_neq(err, INVALID_HANDLE_VALUE, "CreateFile(%s): %lu", c->err_path, GetLastError());

  char exe[MAX_PATH], cmd[1024];
  snprintf(exe, sizeof exe, "%s\\dcchild.exe", g_exe_dir);
  snprintf(cmd, sizeof cmd, "\"%s\" \"%s\" %s", exe, g_data, args);
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = NULL;
  si.hStdOutput = wr;
  si.hStdError = err;
  PROCESS_INFORMATION pi;
  SetEnvironmentVariableA("WEFT_CRASH", crash);
  /* Wine's CreateProcess now and then fails under load (seen:
   * ERROR_INTERNAL_ERROR); try again a few times. */
  BOOL ok = FALSE;
  DWORD gle = 0;
  for (int attempt = 0; attempt < 5 && !ok; attempt++) {
    if (attempt)
      Sleep(200);
    ok = CreateProcessA(exe, cmd, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &si, &pi);
    gle = GetLastError();
    if (!ok)
      cr_log_warn("CreateProcess(%s) failed: %lu", cmd, gle);
  }
  SetEnvironmentVariableA("WEFT_CRASH", NULL);
  CloseHandle(wr);
  CloseHandle(err);
  cr_assert(ok, "CreateProcess(%s): %lu", cmd, gle);
  if (g_job)
    AssignProcessToJobObject(g_job, pi.hProcess);
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  c->proc = pi.hProcess;
  c->reader = CreateThread(NULL, 0, child_reader, c, 0, NULL);
  cr_assert_not_null(c->reader, "CreateThread: %lu", GetLastError());
}

/* The tail of the child's stderr, for failure messages. */
static const char *child_err(child *c) {
  static char tail[4096];
  uint64_t size = 0;
  unsigned char *all = read_whole(c->err_path, &size);
  tail[0] = 0;
  if (all) {
    size_t from = size > sizeof tail - 1 ? (size_t)size - (sizeof tail - 1) : 0;
    snprintf(tail, sizeof tail, "%s", (char *)all + from);
    free(all);
  }
  return tail;
}

/* Wait for the child's end (killing it after timeout_ms and failing the
 * test), then for its output. */
static void child_wait(child *c, DWORD timeout_ms) {
  DWORD w = WaitForSingleObject(c->proc, timeout_ms);
  if (w != WAIT_OBJECT_0) {
    TerminateProcess(c->proc, 1);
    WaitForSingleObject(c->proc, 10000);
    WaitForSingleObject(c->reader, 10000);
    cr_assert_fail("the child did not end within %lu ms; its output:\n%s\nstderr:\n%s",
                   timeout_ms, c->misc, child_err(c));
  }
  cr_assert_eq(WaitForSingleObject(c->reader, 30000), WAIT_OBJECT_0,
               "the child's stdout did not reach EOF");
  GetExitCodeProcess(c->proc, &c->exit_code);
  CloseHandle(c->reader);
  CloseHandle(c->proc);
  CloseHandle(c->rd);
  c->reader = c->proc = c->rd = NULL;
}

/* Add the run's acknowledgements to the test's totals. */
static void child_account(child *c) {
  for (size_t i = 0; i < c->acks.n; i++)
    pairs_add(c->rm_mode ? &g_rm_acks : &g_acks, c->acks.v[i][0], c->acks.v[i][1]);
  if (!c->rm_mode)
    g_tries += c->tries;
  free(c->acks.v);
  c->acks.v = NULL;
}

/* Run the child to its end; expect exit code `want`. */
static void child_run(child *c, DWORD want, const char *crash, const char *fmt, ...) {
  char args[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  int64_t t0 = th_now_us();
  child_start(c, crash, "%s", args);
  child_wait(c, CHILD_DEADLINE_MS);
  cr_log_info("dcchild %s (WEFT_CRASH=%s): exit %lu, %llu acks, %llu tries in %.2f s; %s", args,
              crash ? crash : "", c->exit_code, c->acks.n, (unsigned long long)c->tries,
              (double)(th_now_us() - t0) / 1e6, c->recovery);
  cr_assert_eq(c->exit_code, want,
               "dcchild %s (WEFT_CRASH=%s) exited %lu, expected %lu; output:\n%s\nstderr:\n%s",
               args, crash ? crash : "", c->exit_code, want, c->misc, child_err(c));
  if (want == 0)
    cr_assert(c->done, "no DONE; output:\n%s", c->misc);
  if (want == CRASH_EXIT)
    cr_assert(!c->done, "the child finished its work before the crash point: output:\n%s",
              c->misc);
  cr_assert_eq(c->fails, 0, "submits failed; output:\n%s", c->misc);
  child_account(c);
}

/* ------------------------------------------------------------------------ */
/* The region in this process                                                */
/* ------------------------------------------------------------------------ */

static CRITICAL_SECTION g_log_lock;
static char g_log[65536]; /* the region log of the current open */
static size_t g_log_len;

static void capture_log(void *ctx, char level, const char *msg) {
  EnterCriticalSection(&g_log_lock);
  if (g_log_len + strlen(msg) + 8 < sizeof g_log)
    g_log_len += (size_t)snprintf(g_log + g_log_len, sizeof g_log - g_log_len, "[%c] %s\n", level,
                                  msg);
  LeaveCriticalSection(&g_log_lock);
}

static void log_reset(void) {
  static int init;
  if (!init) {
    InitializeCriticalSection(&g_log_lock);
    init = 1;
  }
  EnterCriticalSection(&g_log_lock);
  g_log_len = 0;
  g_log[0] = 0;
  LeaveCriticalSection(&g_log_lock);
}

/* weft_region_create on g_data: its code, *out the region (or NULL). */
static int try_open(weft_region **out) {
  log_reset();
  weft_region_config cfg = th_config(2, 256);
  cfg.data_dir = g_data;
  cfg.log_fn = capture_log;
  *out = NULL;
  return weft_region_create(&cfg, out);
}

/* Open g_data (running restart recovery), define DebitCredit, and return
 * the recovery facts in *info. */
static weft_region *open_dc(weft_recovery_info *info) {
  weft_region *r = NULL;
  int64_t t0 = th_now_us();
  int rc = try_open(&r);
  double ms = (double)(th_now_us() - t0) / 1e3;
  cr_assert_eq(rc, 0, "weft_region_create(%s): %s; region log:\n%s", g_data, weft_err_name(rc),
               g_log);
  cr_assert_not_null(r);
  memset(info, 0, sizeof *info);
  rc = weft_region_recovery_get(r, info);
  cr_assert_eq(rc, 0, "weft_region_recovery: %s", weft_err_name(rc));
  cr_log_info("open in %.1f ms: clean=%d fresh=%d ckpt=%llu read=%llu redone=%llu undone=%llu "
              "torn=%llu rm_pending=%llu: %s",
              ms, info->clean, info->fresh, (unsigned long long)info->checkpoint_gen,
              (unsigned long long)info->records_read, (unsigned long long)info->uows_redone,
              (unsigned long long)info->uows_undone, (unsigned long long)info->torn_bytes,
              (unsigned long long)info->rm_pending, info->message);
  cr_assert_eq(info->data_dir, 1);
  rc = dc_define(r);
  cr_assert_eq(rc, 0, "dc_define: %s", weft_err_name(rc));
  return r;
}

static void close_region(weft_region *r) {
  int rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "weft_region_shutdown: %s", weft_err_name(rc));
  weft_region_destroy(r);
}

/* Every acknowledged commit from index `from` on is in the history, and
 * the DebitCredit invariant holds with acked <= history <= attempted.
 * exact: no commit was in flight at a crash (history == acked). */
static dc_totals verify_dc(weft_region *r, size_t from, int exact) {
  size_t missing = 0;
  char first[256] = "";
  size_t at = 0;
  for (size_t i = from; i < g_acks.n; i++) {
    int rc = dc_history_has(r, g_acks.v[i][0], g_acks.v[i][1]);
    if (rc != 1) {
      if (missing < 8 && at + 40 < sizeof first)
        at += (size_t)snprintf(first + at, sizeof first - at, " (%llu,%llu)=%d",
                               (unsigned long long)g_acks.v[i][0],
                               (unsigned long long)g_acks.v[i][1], rc);
      missing++;
    }
  }
  cr_assert_eq(missing, 0, "%llu of %llu acknowledged commits missing from the history:%s",
               missing, g_acks.n - from, first);
  dc_totals t;
  memset(&t, 0, sizeof t);
  int rc = dc_check(r, &t);
  cr_assert_eq(rc, 0, "dc_check: %s", weft_err_name(rc));
  cr_assert(t.ok,
            "DebitCredit invariant broken: accounts %lld tellers %lld branches %lld history "
            "delta %lld (%llu history records)",
            (long long)t.accounts, (long long)t.tellers, (long long)t.branches,
            (long long)t.history_delta, (unsigned long long)t.history);
  cr_assert_eq(t.naccounts, ACCOUNTS);
  cr_assert_eq(t.ntellers, DC_TELLERS_PER_BRANCH);
  cr_assert_eq(t.nbranches, 1);
  cr_assert_geq(t.history, g_acks.n, "history %llu < %llu acknowledged",
                (unsigned long long)t.history, g_acks.n);
  cr_assert_leq(t.history, g_tries, "history %llu > %llu attempted",
                (unsigned long long)t.history, (unsigned long long)g_tries);
  if (exact)
    cr_assert_eq(t.history, g_acks.n, "history %llu != %llu acknowledged (no crash)",
                 (unsigned long long)t.history, g_acks.n);
  return t;
}

/* A fresh data directory, seeded with the DebitCredit files and shut down
 * cleanly. Returns the newest checkpoint generation it left. */
static uint64_t seed_dir(void) {
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.fresh, 1, "a new directory is not reported fresh: %s", info.message);
  cr_assert_eq(info.uows_redone, 0);
  cr_assert_eq(info.torn_bytes, 0);
  dc_config cfg = {1, ACCOUNTS};
  int rc = dc_seed(r, &cfg);
  cr_assert_eq(rc, 0, "dc_seed: %s", weft_err_name(rc));
  dc_totals t = verify_dc(r, 0, 1);
  cr_assert_eq(t.history, 0);
  close_region(r);
  dir_summary s = summarize();
  cr_assert_geq(s.ckpts, 1, "no checkpoint after a clean shutdown");
  return s.newest_ckpt_gen;
}

/* ------------------------------------------------------------------------ */
/* Clean shutdown                                                            */
/* ------------------------------------------------------------------------ */

Test(recovery, clean_shutdown_replays_nothing) {
  paths_init("clean");
  seed_dir();
  static child c;
  child_run(&c, 0, NULL, "2 40 --run 1");
  cr_assert_eq(g_acks.n, 80);
  cr_assert(strstr(c.recovery, "clean=1") != NULL,
            "the child did not find a clean directory: %s", c.recovery);
  cr_assert(strstr(c.recovery, "redone=0 ") != NULL, "%s", c.recovery);

  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  cr_assert_eq(info.fresh, 0, "%s", info.message);
  cr_assert_eq(info.uows_redone, 0, "%s", info.message);
  cr_assert_eq(info.uows_undone, 0, "%s", info.message);
  cr_assert_eq(info.torn_bytes, 0, "%s", info.message);
  cr_assert_eq(info.rm_pending, 0, "%s", info.message);
  cr_assert_gt(info.checkpoint_gen, 0, "%s", info.message);
  cr_assert_neq(info.message[0], 0);
  verify_dc(r, 0, 1);

  /* Commits made in-process survive a clean shutdown as well. */
  for (uint64_t s = 1; s <= 10; s++) {
    int rc = dc_submit(r, 999999, s, (uint32_t)(s * 37 % ACCOUNTS), (int32_t)s * 11);
    cr_assert_eq(rc, 0, "dc_submit: %s", weft_err_name(rc));
    pairs_add(&g_acks, 999999, s);
    g_tries++;
  }
  weft_log_stats ls;
  cr_assert_eq(weft_log_stats_get(r, &ls), 0);
  cr_assert_geq(ls.commits, 10);
  cr_assert_geq(ls.flushes, 1);
  uint64_t ckpts = ls.checkpoints;
  uint64_t gen_before = summarize().newest_ckpt_gen;
  int rc = weft_checkpoint(r);
  cr_assert_eq(rc, 0, "weft_checkpoint: %s", weft_err_name(rc));
  cr_assert_eq(weft_log_stats_get(r, &ls), 0);
  cr_assert_eq(ls.checkpoints, ckpts + 1);
  dir_summary ds = summarize();
  cr_assert_gt(ds.newest_ckpt_gen, gen_before);
  cr_assert_eq(ds.ckpts, 1, "the older checkpoint was not dropped");
  cr_assert_eq(ds.logs, 1, "the older log was not dropped");
  close_region(r);

  /* Without a data directory there is nothing to checkpoint. */
  weft_region *mem = th_region(1, 16);
  cr_assert_eq(weft_checkpoint(mem), WEFT_ENOTSUP);
  cr_assert_eq(weft_region_recovery_get(mem, &info), 0);
  cr_assert_eq(info.data_dir, 0);
  th_finish(mem);

  r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  cr_assert_eq(info.uows_redone, 0, "%s", info.message);
  verify_dc(r, 0, 1);
  close_region(r);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Crash points                                                              */
/* ------------------------------------------------------------------------ */

/* Seed, run the child into crash point `crash` with clients x count
 * submits, then restart in-process and check. Returns the run's acks. */
static size_t crash_case(const char *name, const char *crash, unsigned clients, unsigned count) {
  paths_init(name);
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, crash, "%u %u --run 1", clients, count);
  size_t acks = g_acks.n;
  cr_assert_gt(acks, 0, "the crash came before any commit was acknowledged; output:\n%s", c.misc);

  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "a crashed directory reported clean: %s", info.message);
  cr_assert_eq(info.fresh, 0, "%s", info.message);
  cr_assert_geq(info.uows_redone, acks, "redone %llu < %llu acknowledged since the checkpoint: %s",
                (unsigned long long)info.uows_redone, acks, info.message);
  cr_assert_geq(info.records_read, info.uows_redone, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);

  /* The restart left a clean directory. */
  r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  cr_assert_eq(info.uows_redone, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  return acks;
}

Test(recovery, crash_log_append) {
  crash_case("log_append", "log-append:40", 2, 1000);
  /* The 40th commit's records never left the buffer: at most 39 made it. */
  cr_assert_leq(g_acks.n, 39);
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  dc_totals t = verify_dc(r, 0, 0);
  cr_assert_leq(t.history, 39, "history %llu: a commit past the crash point is there",
                (unsigned long long)t.history);
  close_region(r);
  paths_done();
}

Test(recovery, crash_pre_flush) {
  crash_case("pre_flush", "pre-flush:20", 2, 1000);
  paths_done();
}

Test(recovery, crash_post_flush) {
  crash_case("post_flush", "post-flush:20", 2, 1000);
  paths_done();
}

Test(recovery, crash_post_flush_many_clients) {
  crash_case("post_flush8", "post-flush:15", 8, 1000);
  paths_done();
}

/* Crash during restart recovery (twice), then restart for real. */
Test(recovery, crash_during_apply) {
  paths_init("apply");
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, "post-flush:80", "2 1000 --run 1");
  size_t acks = g_acks.n;
  cr_assert_gt(acks, 0);
  for (int i = 0; i < 2; i++) {
    child_run(&c, CRASH_EXIT, "apply", "1 0 --run 2");
    cr_assert_eq(atomic_load(&c.started), 0, "the child got past recovery: %s", c.misc);
  }
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_gt(info.uows_redone, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);

  /* And the child works on the recovered directory. */
  child_run(&c, 0, NULL, "2 20 --run 3");
  r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  paths_done();
}

/* A crash half way through writing a checkpoint: the previous one (and its
 * log) still hold everything. */
Test(recovery, crash_in_checkpoint) {
  paths_init("checkpoint");
  uint64_t seed_gen = seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, "checkpoint:3", "2 5000 --run 1 --ckpt 32768");
  cr_assert_gt(g_acks.n, 0, "the crash came before any commit; output:\n%s", c.misc);
  dir_summary s = summarize();
  if (s.tmps == 0)
    cr_log_warn("no *.tmp checkpoint left by the checkpoint crash point");

  /* The restart's own checkpoint crashes half written too. */
  child_run(&c, CRASH_EXIT, "checkpoint:1", "1 0 --run 2");
  cr_assert_eq(atomic_load(&c.started), 0, "the child got past recovery: %s", c.misc);

  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_gt(info.checkpoint_gen, 0, "%s", info.message);
  cr_assert_geq(info.checkpoint_gen, seed_gen, "%s", info.message);
  cr_assert_gt(info.uows_redone, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  s = summarize();
  if (s.tmps != 0)
    cr_log_warn("%d *.tmp checkpoint file(s) left after restart", s.tmps);

  r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Checkpoints bound the log                                                 */
/* ------------------------------------------------------------------------ */

#define SMALL_CKPT 16384u

Test(recovery, checkpoints_bound_the_log) {
  paths_init("bound");
  uint64_t seed_gen = seed_dir();
  static child c;
  child_run(&c, 0, NULL, "2 300 --run 1 --ckpt %u", SMALL_CKPT);
  cr_assert_eq(g_acks.n, 600);
  cr_assert_geq(c.checkpoints, 2, "only %lld checkpoints with checkpoint_bytes %u over 600 commits",
                c.checkpoints, SMALL_CKPT);
  dir_summary s = summarize();
  dir_list d;
  char names[2048];
  list_dir(g_data, &d, 0);
  dir_names(&d, names, sizeof names);
  cr_assert_leq(s.logs, 2, "old log files kept: %s", names);
  cr_assert_leq(s.ckpts, 2, "old checkpoints kept: %s", names);
  cr_assert_eq(s.tmps, 0, "temporary checkpoint left: %s", names);
  cr_assert_gt(s.newest_ckpt_gen, seed_gen, "%s", names);

  /* Crash with checkpoints going on: the log stays short and restart
   * starts from a checkpoint taken during the run. */
  uint64_t gen_before = s.newest_ckpt_gen;
  size_t acks_before = g_acks.n;
  child_run(&c, CRASH_EXIT, "post-flush:400", "2 100000 --run 2 --ckpt %u", SMALL_CKPT);
  size_t run_acks = g_acks.n - acks_before;
  cr_assert_gt(run_acks, 100, "%llu acks", run_acks);
  s = summarize();
  list_dir(g_data, &d, 0);
  dir_names(&d, names, sizeof names);
  cr_log_info("after the crash: %s", names);
  cr_assert_leq(s.logs, 3, "old log files kept: %s", names);
  cr_assert_lt(s.log_bytes, 16ull * SMALL_CKPT, "log not bounded by checkpoints: %s", names);
  cr_assert_gt(s.newest_ckpt_gen, gen_before, "no checkpoint during the run: %s", names);

  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_gt(info.checkpoint_gen, gen_before, "restart did not start from a checkpoint of the "
               "crashed run: %s", info.message);
  cr_assert_lt(info.uows_redone, run_acks, "restart replayed the whole run (%llu of %llu): %s",
               (unsigned long long)info.uows_redone, run_acks, info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  s = summarize();
  cr_assert_leq(s.logs, 1, "after restart and a clean shutdown");
  cr_assert_leq(s.ckpts, 2, "after restart and a clean shutdown");
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Torn tail and corruption                                                  */
/* ------------------------------------------------------------------------ */

#define LOG_FILE_HDR 32u
#define LOG_REC_HDR 24u

static void append_bytes(const char *path, const void *p, size_t n) {
  HANDLE h = CreateFileA(path, FILE_APPEND_DATA, 0, NULL, OPEN_EXISTING, 0, NULL);
  cr_assert_neq(h, INVALID_HANDLE_VALUE, "open %s: %lu", path, GetLastError());
  DWORD done = 0;
  cr_assert(WriteFile(h, p, (DWORD)n, &done, NULL) && done == n, "append to %s", path);
  CloseHandle(h);
}

static void write_byte(const char *path, uint64_t off, unsigned char b) {
  HANDLE h = CreateFileA(path, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  cr_assert_neq(h, INVALID_HANDLE_VALUE, "open %s: %lu", path, GetLastError());
  LARGE_INTEGER li;
  li.QuadPart = (LONGLONG)off;
  SetFilePointerEx(h, li, NULL, FILE_BEGIN);
  DWORD done = 0;
  cr_assert(WriteFile(h, &b, 1, &done, NULL) && done == 1);
  CloseHandle(h);
}

static uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walk the records of a log image assuming the 24-byte header begins with
 * a 32-bit magic and a 32-bit payload length (little-endian). Fills off[]
 * and len[] (up to max) and returns the count, or -1 if the walk does not
 * end exactly at the end of the file (the layout guess is wrong). */
static int walk_log(const unsigned char *img, uint64_t size, uint64_t *off, uint32_t *len, int max) {
  if (size < LOG_FILE_HDR + LOG_REC_HDR)
    return -1;
  uint32_t magic = get_le32(img + LOG_FILE_HDR);
  uint64_t at = LOG_FILE_HDR;
  int n = 0;
  while (at < size) {
    if (at + LOG_REC_HDR > size || get_le32(img + at) != magic)
      return -1;
    uint32_t l = get_le32(img + at + 4);
    if (at + LOG_REC_HDR + l > size)
      return -1;
    if (n < max) {
      off[n] = at;
      len[n] = l;
    }
    n++;
    at += LOG_REC_HDR + l;
  }
  return n;
}

/* Crash a child after some commits; returns the newest log's path. */
static void crash_for_log(const char *name, const char *crash, char *log_path) {
  paths_init(name);
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, crash, "2 1000 --run 1");
  cr_assert_gt(g_acks.n, 0);
  dir_summary s = summarize();
  cr_assert_gt(s.logs, 0, "no log file after the crash");
  snprintf(log_path, MAX_PATH, "%s\\%s", g_data, s.newest_log);
}

/* Is there a line of the region log at level that contains text? */
static int log_has(char level, const char *text) {
  EnterCriticalSection(&g_log_lock);
  int found = 0;
  for (const char *l = g_log; *l != '\0' && !found;) {
    const char *end = strchr(l, '\n');
    size_t n = end ? (size_t)(end - l) : strlen(l);
    const char *hit = strstr(l, text);
    found = l[0] == '[' && l[1] == level && hit != NULL && hit < l + n;
    l += n + (end != NULL);
  }
  LeaveCriticalSection(&g_log_lock);
  return found;
}

/* Restart after `appended` bytes were added to the log: they are cut as a
 * torn tail, with a warning that names the torn record's unit of work
 * (`uow`, or 0 when its header does not name one). */
static void torn_restart(uint64_t appended, uint64_t uow) {
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  char whose[64] = "is torn";
  if (uow != 0)
    snprintf(whose, sizeof whose, "of unit of work %llx, is torn", (unsigned long long)uow);
  cr_assert(log_has('W', whose), "no warning with \"%s\"; region log:\n%s", whose, g_log);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_geq(info.torn_bytes, appended, "torn_bytes %llu, appended %llu: %s",
                (unsigned long long)info.torn_bytes, (unsigned long long)appended, info.message);
  if (info.torn_bytes != appended)
    cr_log_warn("torn_bytes %llu, appended %llu", (unsigned long long)info.torn_bytes,
                (unsigned long long)appended);
  char lower[sizeof info.message];
  for (size_t i = 0; i < sizeof lower; i++)
    lower[i] = (char)tolower((unsigned char)info.message[i]);
  cr_assert(strstr(lower, "torn") != NULL, "the recovery message does not mention the torn "
            "tail: %s", info.message);
  cr_assert_gt(info.uows_redone, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);

  r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  cr_assert_eq(info.torn_bytes, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
}

/* Garbage shorter than a record header at the end of the log. */
Test(recovery, torn_tail_garbage) {
  char log[MAX_PATH];
  crash_for_log("torn_garbage", "post-flush:15", log);
  static const unsigned char junk[11] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7};
  append_bytes(log, junk, sizeof junk);
  torn_restart(sizeof junk, 0);
  paths_done();
}

/* A record cut short: a copy of the log's first record header plus part of
 * its payload (or, if the layout guess fails, 40 bytes of it). */
Test(recovery, torn_tail_partial_record) {
  char log[MAX_PATH];
  crash_for_log("torn_partial", "post-flush:15", log);
  uint64_t size = 0;
  unsigned char *img = read_whole(log, &size);
  cr_assert_not_null(img);
  uint64_t off[4];
  uint32_t len[4];
  int n = walk_log(img, size, off, len, 4);
  size_t cut;
  if (n > 0 && len[0] >= 2) {
    cut = LOG_REC_HDR + len[0] / 2;
  } else {
    cr_log_warn("log layout not as guessed (walk %d): appending 40 bytes of the first record", n);
    cut = 40;
  }
  cr_assert_geq(size, LOG_FILE_HDR + cut);
  append_bytes(log, img + LOG_FILE_HDR, cut);
  uint64_t uow = 0; /* the UOW id is at bytes 8..15 of a record header */
  memcpy(&uow, img + LOG_FILE_HDR + 8, sizeof uow);
  free(img);
  torn_restart(cut, uow);
  paths_done();
}

/* A bad checksum before the tail: refused, directory untouched. */
Test(recovery, corruption_before_tail_is_refused) {
  char log[MAX_PATH];
  crash_for_log("corrupt", "post-flush:30", log);
  uint64_t size = 0;
  unsigned char *img = read_whole(log, &size);
  cr_assert_not_null(img);
  uint64_t off[64];
  uint32_t len[64];
  int n = walk_log(img, size, off, len, 64);
  uint64_t rec_off = 0, flip = 0;
  if (n >= 4) {
    for (int i = 0; i < n && i < 64 && i < n / 2; i++)
      if (len[i] >= 4) {
        rec_off = off[i];
        flip = off[i] + LOG_REC_HDR + len[i] / 2;
        break;
      }
  }
  if (!flip) {
    cr_log_warn("log layout not as guessed (walk %d): flipping a byte a quarter in", n);
    cr_assert_gt(size, 1024, "the log is too short: %llu bytes", (unsigned long long)size);
    flip = LOG_FILE_HDR + (size - LOG_FILE_HDR) / 4;
  }
  cr_log_info("%s: %llu bytes, %d records; flipping byte %llu (record at %llu)", log,
              (unsigned long long)size, n, (unsigned long long)flip,
              (unsigned long long)rec_off);
  unsigned char orig = img[flip];
  free(img);
  write_byte(log, flip, (unsigned char)(orig ^ 0x5a));

  dir_list before, after;
  list_dir(g_data, &before, 1);
  for (int attempt = 0; attempt < 2; attempt++) {
    weft_region *r = NULL;
    int rc = try_open(&r);
    cr_assert_eq(rc, WEFT_ECORRUPT, "weft_region_create: %s, expected WEFT_ECORRUPT; log:\n%s",
                 weft_err_name(rc), g_log);
    /* The message names the file and an offset. */
    const char *fname = strrchr(log, '\\') + 1;
    cr_assert(strstr(g_log, fname) != NULL, "the region log does not name %s:\n%s", fname, g_log);
    char nums[4][32];
    snprintf(nums[0], 32, "%llu", (unsigned long long)rec_off);
    snprintf(nums[1], 32, "%llu", (unsigned long long)flip);
    snprintf(nums[2], 32, "%llx", (unsigned long long)rec_off);
    snprintf(nums[3], 32, "%llx", (unsigned long long)flip);
    int named = 0;
    for (int i = 0; i < 4; i++)
      if ((i % 2 || rec_off) && strstr(g_log, nums[i]))
        named = 1;
    cr_assert(named, "the region log names no offset (%s or %s):\n%s", nums[0], nums[1], g_log);
    cr_log_info("ECORRUPT: %s", g_log);

    list_dir(g_data, &after, 1);
    assert_dir_unchanged(&before, &after);
    free_dir(&after);
  }
  free_dir(&before);

  /* Repaired, the directory recovers with everything. */
  write_byte(log, flip, orig);
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_eq(info.torn_bytes, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Phase two missed: the resource manager is told at restart                 */
/* ------------------------------------------------------------------------ */

#define MAX_RECOVERED 256
static uint64_t g_recovered[MAX_RECOVERED];
static int g_nrecovered;

static int trm_prepare(void *ctx, weft_task *t, uint64_t uow) { return 0; }
static void trm_commit(void *ctx, weft_task *t, uint64_t uow) {}
static void trm_rollback(void *ctx, weft_task *t, uint64_t uow) {}
static void trm_recover(void *ctx, uint64_t uow) {
  if (g_nrecovered < MAX_RECOVERED)
    g_recovered[g_nrecovered] = uow;
  g_nrecovered++;
}
static const weft_rm_ops g_trm_ops = {trm_prepare, trm_commit, trm_rollback, NULL, trm_recover};

/* Reading DCRMF from the host: a task reads one key. */
typedef struct rmchk_req {
  unsigned char key[16];
  HANDLE done;
  int rc;
} rmchk_req;

static void rmchk_program(weft_task *t) {
  rmchk_req *q = *(rmchk_req **)th_arg_of(t).ctx;
  unsigned char buf[16];
  size_t len = 0;
  q->rc = weft_file_read(t, "DCRMF", q->key, sizeof q->key, buf, sizeof buf, &len, 0);
  if (q->rc == 0 && (len != 16 || memcmp(buf, q->key, 16)))
    q->rc = WEFT_ECORRUPT;
  SetEvent(q->done);
}

static int rmf_has(weft_region *r, uint64_t client, uint64_t seq) {
  static rmchk_req q;
  static rmchk_req *qp = &q;
  for (int i = 0; i < 8; i++) {
    q.key[i] = (unsigned char)(client >> (56 - 8 * i));
    q.key[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
  }
  q.rc = WEFT_ESTATE;
  if (!q.done)
    q.done = CreateEventA(NULL, FALSE, FALSE, NULL);
  th_start(r, "RMCHK", &qp, 0);
  cr_assert_eq(WaitForSingleObject(q.done, TH_DEADLINE_MS), WAIT_OBJECT_0);
  return q.rc == 0 ? 1 : q.rc == WEFT_ENOTFOUND ? 0 : q.rc;
}

/* Open with DCRMF, RMCHK and the resource manager DCRM registered. */
static weft_region *open_rm(weft_recovery_info *info) {
  weft_region *r = open_dc(info);
  weft_file_def fd = {"DCRMF", 16, 16};
  cr_assert_eq(weft_file_define(r, &fd), 0);
  th_define(r, "RMCHK", rmchk_program, 1);
  g_nrecovered = 0;
  weft_rm *rm = NULL;
  int rc = weft_rm_register(r, "DCRM", &g_trm_ops, NULL, &rm);
  cr_assert_eq(rc, 0, "weft_rm_register: %s", weft_err_name(rc));
  return r;
}

typedef struct rm_event {
  char what[16];
  uint64_t uow, client, seq;
} rm_event;

#define MAX_RM_EVENTS 8192
static rm_event g_ev[MAX_RM_EVENTS];
static int g_nev;

/* Read rm.log (written by the children's DCRM) into g_ev. */
static void rm_log_read(void) {
  char path[MAX_PATH];
  snprintf(path, sizeof path, "%s\\rm.log", g_root);
  uint64_t size = 0;
  char *text = (char *)read_whole(path, &size);
  cr_assert_not_null(text, "no %s", path);
  g_nev = 0;
  for (char *ln = strtok(text, "\n"); ln && g_nev < MAX_RM_EVENTS; ln = strtok(NULL, "\n")) {
    unsigned long long u, cl, sq;
    char what[16];
    if (sscanf(ln, "%15s %llu %llu %llu", what, &u, &cl, &sq) == 4) {
      snprintf(g_ev[g_nev].what, sizeof g_ev[g_nev].what, "%s", what);
      g_ev[g_nev].uow = u;
      g_ev[g_nev].client = cl;
      g_ev[g_nev].seq = sq;
      g_nev++;
    }
  }
  free(text);
}

/* DCRM's outcome of uow in rm.log: 'C' commit, 'R' rollback, 0 none. */
static char rm_outcome(uint64_t uow) {
  char o = 0;
  for (int j = 0; j < g_nev; j++)
    if (g_ev[j].uow == uow && !strcmp(g_ev[j].what, "COMMIT"))
      o = 'C';
    else if (g_ev[j].uow == uow && !strcmp(g_ev[j].what, "ROLLBACK") && o != 'C')
      o = 'R';
  return o;
}

static int was_recovered(uint64_t uow) {
  for (int i = 0; i < g_nrecovered && i < MAX_RECOVERED; i++)
    if (g_recovered[i] == uow)
      return 1;
  return 0;
}

/* After open_rm: for every UOW DCRM prepared, all or nothing: its record is
 * in DCRMF exactly when it committed, and a committed UOW DCRM was not told
 * of was passed to recover; an uncommitted one was not (presumed abort).
 * Every recover call is for a UOW DCRM prepared. Returns the UOWs in doubt
 * (prepared, no outcome in rm.log). */
static int check_rm_outcomes(weft_region *r) {
  int in_doubt = 0;
  for (int i = 0; i < g_nrecovered && i < MAX_RECOVERED; i++) {
    int prepared = 0;
    for (int j = 0; j < g_nev; j++)
      if (!strcmp(g_ev[j].what, "PREPARE") && g_ev[j].uow == g_recovered[i])
        prepared = 1;
    cr_assert(prepared, "recover(%llu): a UOW DCRM never prepared",
              (unsigned long long)g_recovered[i]);
  }
  for (int i = 0; i < g_nev; i++) {
    const rm_event *e = &g_ev[i];
    if (strcmp(e->what, "PREPARE"))
      continue;
    char o = rm_outcome(e->uow);
    int has = rmf_has(r, e->client, e->seq);
    cr_assert(has == 0 || has == 1, "reading DCRMF: %s", weft_err_name(has));
    if (o == 'C')
      cr_assert_eq(has, 1, "UOW %llu (%llu,%llu): DCRM committed it, its record is missing",
                   (unsigned long long)e->uow, (unsigned long long)e->client,
                   (unsigned long long)e->seq);
    else if (o == 'R')
      cr_assert_eq(has, 0, "UOW %llu (%llu,%llu): rolled back, its record is there",
                   (unsigned long long)e->uow, (unsigned long long)e->client,
                   (unsigned long long)e->seq);
    else {
      in_doubt++;
      cr_assert_eq(was_recovered(e->uow), has,
                   "UOW %llu (%llu,%llu) in doubt at the crash: record %s, recover %s",
                   (unsigned long long)e->uow, (unsigned long long)e->client,
                   (unsigned long long)e->seq, has ? "present" : "absent",
                   was_recovered(e->uow) ? "called" : "not called");
    }
  }
  for (size_t i = 0; i < g_rm_acks.n; i++)
    cr_assert_eq(rmf_has(r, g_rm_acks.v[i][0], g_rm_acks.v[i][1]), 1,
                 "acknowledged RMTX (%llu,%llu) missing", (unsigned long long)g_rm_acks.v[i][0],
                 (unsigned long long)g_rm_acks.v[i][1]);
  return in_doubt;
}

Test(recovery, crash_in_phase2_recovers_the_rm) {
  paths_init("phase2");
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, "phase2:5", "1 100 --run 1 --rm");
  cr_assert_gt(g_rm_acks.n, 0, "no RMTX commit before the crash; output:\n%s", c.misc);
  uint64_t limbo_client = c.last_try[0], limbo_seq = c.last_try[1];
  cr_assert_eq(limbo_seq, g_rm_acks.n + 1, "the last TRY is not the one after the last ACK");

  /* rm.log: the one UOW prepared and never told its outcome is the one
   * whose phase two the crash cut off. */
  rm_log_read();
  uint64_t limbo = 0;
  int nlimbo = 0, nprepared = 0;
  for (int i = 0; i < g_nev; i++) {
    if (strcmp(g_ev[i].what, "PREPARE"))
      continue;
    nprepared++;
    if (!rm_outcome(g_ev[i].uow)) {
      nlimbo++;
      limbo = g_ev[i].uow;
      cr_assert_eq(g_ev[i].client, limbo_client);
      cr_assert_eq(g_ev[i].seq, limbo_seq);
    }
  }
  cr_assert_eq(nprepared, (int)g_rm_acks.n + 1, "%d prepares for %llu acks + 1", nprepared,
               g_rm_acks.n);
  cr_assert_eq(nlimbo, 1, "%d prepared UOWs without an outcome, expected 1", nlimbo);
  cr_assert_neq(limbo, 0);

  /* A restart without DCRM keeps the debt (through its checkpoint). */
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_eq(info.rm_pending, 1, "%s", info.message);
  verify_dc(r, 0, 1);
  close_region(r);

  /* DCRM registers: recover is called for the UOW in doubt, whose Weft
   * changes are committed. */
  r = open_rm(&info);
  cr_assert_eq(info.rm_pending, 1, "%s", info.message);
  cr_assert(was_recovered(limbo), "recover was not called for UOW %llu, whose phase two was "
            "missed (%d recover calls)", (unsigned long long)limbo, g_nrecovered);
  cr_assert_eq(rmf_has(r, limbo_client, limbo_seq), 1, "the in-doubt UOW's record is missing");
  cr_assert_eq(check_rm_outcomes(r), 1);
  verify_dc(r, 0, 1);
  close_region(r);

  /* Told once: the next open has nothing pending for DCRM. */
  r = open_rm(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  cr_assert_eq(info.rm_pending, 0, "%s", info.message);
  cr_assert_eq(g_nrecovered, 0, "recover called again after it was told");
  close_region(r);

  /* UOW ids stay unique across restarts of the directory. */
  child_run(&c, 0, NULL, "1 5 --run 2 --rm");
  rm_log_read();
  for (int i = 0; i < g_nev; i++)
    for (int j = i + 1; j < g_nev; j++)
      if (!strcmp(g_ev[i].what, "PREPARE") && !strcmp(g_ev[j].what, "PREPARE"))
        cr_assert_neq(g_ev[i].uow, g_ev[j].uow, "UOW id %llu used twice: (%llu,%llu), (%llu,%llu)",
                      (unsigned long long)g_ev[i].uow, (unsigned long long)g_ev[i].client,
                      (unsigned long long)g_ev[i].seq, (unsigned long long)g_ev[j].client,
                      (unsigned long long)g_ev[j].seq);
  paths_done();
}

/* Several clients: UOWs in every state at the crash (prepared, durable,
 * told). Each prepared UOW is all or nothing and recover matches. */
static void rm_many(const char *name, const char *crash) {
  paths_init(name);
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, crash, "4 1000 --run 1 --rm");
  cr_assert_gt(g_rm_acks.n, 0, "no RMTX commit before the crash; output:\n%s", c.misc);
  rm_log_read();
  weft_recovery_info info;
  weft_region *r = open_rm(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  int in_doubt = check_rm_outcomes(r);
  cr_log_info("%s: %llu acks, %d rm.log events, %d in doubt, %d recover calls, rm_pending %llu",
              crash, g_rm_acks.n, g_nev, in_doubt, g_nrecovered,
              (unsigned long long)info.rm_pending);
  cr_assert_geq(info.rm_pending, (uint64_t)g_nrecovered > 0 ? 1 : 0);
  verify_dc(r, 0, 1);
  close_region(r);
  r = open_rm(&info);
  cr_assert_eq(g_nrecovered, 0, "recover called again after it was told");
  close_region(r);
  paths_done();
}

Test(recovery, crash_in_phase2_many_clients) { rm_many("phase2m", "phase2:20"); }

/* Flushed but nobody told: DCRM never heard of phase two. */
Test(recovery, crash_post_flush_with_rm) { rm_many("postflushrm", "post-flush:20"); }

/* Corrupt checkpoint: refused like a corrupt log, nothing changed. */
Test(recovery, corrupt_checkpoint_is_refused) {
  paths_init("corruptckpt");
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, "post-flush:10", "2 1000 --run 1");
  dir_summary s = summarize();
  char ck[MAX_PATH];
  snprintf(ck, sizeof ck, "%s\\weft.ckpt.%016llx", g_data, (unsigned long long)s.newest_ckpt_gen);
  uint64_t size = 0;
  unsigned char *img = read_whole(ck, &size);
  cr_assert_not_null(img, "no %s", ck);
  cr_assert_gt(size, 4096);
  uint64_t flip = size / 2;
  unsigned char orig = img[flip];
  free(img);
  write_byte(ck, flip, (unsigned char)(orig ^ 0x01));
  dir_list before, after;
  list_dir(g_data, &before, 1);
  weft_region *r = NULL;
  int rc = try_open(&r);
  cr_assert_eq(rc, WEFT_ECORRUPT, "weft_region_create: %s, expected WEFT_ECORRUPT; log:\n%s",
               weft_err_name(rc), g_log);
  cr_assert(strstr(g_log, strrchr(ck, '\\') + 1) != NULL, "the region log does not name %s:\n%s",
            ck, g_log);
  list_dir(g_data, &after, 1);
  assert_dir_unchanged(&before, &after);
  free_dir(&before);
  free_dir(&after);
  write_byte(ck, flip, orig);
  weft_recovery_info info;
  r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Kill at random                                                            */
/* ------------------------------------------------------------------------ */

#define KILL_ROUNDS 20

static uint64_t g_rand;
static uint32_t rnd(uint32_t n) {
  g_rand ^= g_rand << 13;
  g_rand ^= g_rand >> 7;
  g_rand ^= g_rand << 17;
  return (uint32_t)(g_rand % n);
}

Test(recovery, kill_at_random, .timeout = 600) {
  paths_init("kill");
  seed_dir();
  g_rand = GetTickCount64() * 0x9E3779B97F4A7C15ull ^ GetCurrentProcessId();
  if (!g_rand)
    g_rand = 1;
  cr_log_info("kill test seed %llu", (unsigned long long)g_rand);
  size_t verified = 0; /* acks checked so far */
  int killed_before_ready = 0;
  int64_t t0 = th_now_us();
  for (int round = 1; round <= KILL_ROUNDS; round++) {
    static child c;
    unsigned clients = 1 + rnd(4);
    const char *ckpt = round % 3 == 0 ? " --ckpt 65536" : "";
    child_start(&c, NULL, "%u 1000000 --run %d%s", clients, round, ckpt);
    ULONGLONG start = GetTickCount64();
    DWORD delay;
    if (round % 4 == 3) {
      /* Anywhere from startup on. */
      delay = 100 + rnd(1401);
      WaitForSingleObject(c.proc, delay);
    } else if (round % 4 == 2) {
      /* Early: during restart recovery, its checkpoint or the first
       * commits (the previous round left a crashed directory). */
      delay = rnd(120);
      WaitForSingleObject(c.proc, delay);
    } else {
      /* Some acks, then a little more. */
      while (atomic_load(&c.nacks) < 5 && GetTickCount64() - start < CHILD_DEADLINE_MS &&
             WaitForSingleObject(c.proc, 5) == WAIT_TIMEOUT)
        ;
      delay = rnd(1001);
      WaitForSingleObject(c.proc, delay);
    }
    int was_ready = atomic_load(&c.started);
    TerminateProcess(c.proc, KILL_EXIT);
    child_wait(&c, 30000);
    cr_log_info("round %d: %u clients%s, killed after %llu ms, %llu acks, %llu tries, exit %lu; %s",
                round, clients, ckpt, (unsigned long long)(GetTickCount64() - start), c.acks.n,
                (unsigned long long)c.tries, c.exit_code, c.recovery);
    if (c.exit_code != KILL_EXIT) {
      cr_assert_fail("round %d: the child ended by itself with exit %lu; output:\n%s\nstderr:\n%s",
                     round, c.exit_code, c.misc, child_err(&c));
    }
    if (!was_ready)
      killed_before_ready++;
    cr_assert_eq(c.fails, 0, "round %d: submits failed; output:\n%s", round, c.misc);
    child_account(&c);

    /* Every other round (and the last) restart here and check; in the
     * others the next child does the restart recovery. */
    if (round % 2 == 0 || round == KILL_ROUNDS) {
      weft_recovery_info info;
      weft_region *r = open_dc(&info);
      cr_assert_eq(info.fresh, 0, "%s", info.message);
      verify_dc(r, verified, 0);
      verified = g_acks.n;
      close_region(r);
    }
  }
  /* All of them, once more, after all the restarts. */
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 1, "%s", info.message);
  dc_totals t = verify_dc(r, 0, 0);
  close_region(r);
  cr_log_info("kill test: %d rounds in %.1f s, %llu acks, %llu tries, %llu history records, %d "
              "killed before READY",
              KILL_ROUNDS, (double)(th_now_us() - t0) / 1e6, g_acks.n,
              (unsigned long long)g_tries, (unsigned long long)t.history, killed_before_ready);
  cr_assert_gt(g_acks.n, 0);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Damaged directories                                                       */
/* ------------------------------------------------------------------------ */

/* The next log generation was created but its header never completed (a
 * kill inside the generation switch): a torn tail. */
Test(recovery, torn_log_header) {
  paths_init("tornhdr");
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, "post-flush:10", "2 1000 --run 1");
  dir_summary s = summarize();
  char src[MAX_PATH], dst[MAX_PATH];
  snprintf(src, sizeof src, "%s\\%s", g_data, s.newest_log);
  snprintf(dst, sizeof dst, "%s\\weft.log.%016llx", g_data,
           (unsigned long long)(s.newest_log_gen + 1));
  uint64_t size = 0;
  unsigned char *img = read_whole(src, &size);
  cr_assert_not_null(img);
  HANDLE h = CreateFileA(dst, GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL);
  cr_assert_neq(h, INVALID_HANDLE_VALUE);
  CloseHandle(h);
  append_bytes(dst, img, 10); /* a third of a file header */
  free(img);
  weft_recovery_info info;
  weft_region *r = open_dc(&info);
  cr_assert_eq(info.clean, 0, "%s", info.message);
  cr_assert_gt(info.uows_redone, 0, "%s", info.message);
  verify_dc(r, 0, 0);
  close_region(r);
  paths_done();
}

/* The log of the newest checkpoint's generation is gone (it always exists:
 * a generation's log is created before its checkpoint): the acknowledged
 * commits in it would be lost, so the open is refused and nothing changes. */
Test(recovery, missing_log_is_refused) {
  paths_init("nolog");
  seed_dir();
  static child c;
  child_run(&c, CRASH_EXIT, "post-flush:10", "2 1000 --run 1");
  dir_summary s = summarize();
  cr_assert_eq(s.newest_log_gen, s.newest_ckpt_gen);
  char log[MAX_PATH], aside[MAX_PATH];
  snprintf(log, sizeof log, "%s\\%s", g_data, s.newest_log);
  snprintf(aside, sizeof aside, "%s\\%s.aside", g_root, s.newest_log);
  cr_assert(MoveFileA(log, aside), "MoveFile: %lu", GetLastError());
  dir_list before, after;
  list_dir(g_data, &before, 1);
  weft_region *r = NULL;
  int rc = try_open(&r);
  list_dir(g_data, &after, 1);
  char names[2048];
  dir_names(&after, names, sizeof names);
  if (rc == 0) {
    weft_recovery_info info;
    weft_region_recovery_get(r, &info);
    weft_region_destroy(r);
    cr_assert_fail("weft_region_create succeeded without %s (%llu acknowledged commits are in "
                   "it): %s; directory now: %s",
                   s.newest_log, g_acks.n, info.message, names);
  }
  cr_assert_eq(rc, WEFT_ECORRUPT, "weft_region_create: %s; log:\n%s", weft_err_name(rc), g_log);
  assert_dir_unchanged(&before, &after);
  free_dir(&before);
  free_dir(&after);
  cr_assert(MoveFileA(aside, log), "MoveFile back: %lu", GetLastError());
  weft_recovery_info info;
  r = open_dc(&info);
  verify_dc(r, 0, 0);
  close_region(r);
  paths_done();
}

/* A second region on a data directory that a region has open is refused
 * with WEFT_EINUSE before it reads or changes anything (it used to fail
 * with WEFT_ESYS somewhere in recovery); once the first is gone, it opens. */
Test(recovery, data_dir_in_use_is_refused) {
  paths_init("inuse");
  weft_region *first = NULL, *second = NULL;
  int rc = try_open(&first);
  cr_assert_eq(rc, 0, "weft_region_create: %s; log:\n%s", weft_err_name(rc), g_log);
  dir_list before, after;
  list_dir(g_data, &before, 1);
  rc = try_open(&second);
  list_dir(g_data, &after, 1);
  if (rc == 0)
    weft_region_destroy(second);
  cr_assert_eq(rc, WEFT_EINUSE, "the second weft_region_create: %s; log:\n%s", weft_err_name(rc),
               g_log);
  cr_expect(strstr(g_log, "another region has it open") != NULL, "region log:\n%s", g_log);
  assert_dir_unchanged(&before, &after);
  free_dir(&before);
  free_dir(&after);
  close_region(first);
  rc = try_open(&second);
  cr_assert_eq(rc, 0, "after the first closed: %s; log:\n%s", weft_err_name(rc), g_log);
  close_region(second);
  paths_done();
}
