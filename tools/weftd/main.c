/* main.c - weftd, the Weft region server: reads a region definition file,
 * opens the region (running restart recovery when its data directory needs
 * it), installs the definitions, serves terminals (net.c, session.c), takes
 * operator commands on its console (oper.c) and shuts down on SHUTDOWN,
 * Ctrl-C or console close.
 *
 *   weftd REGION.wrd            run the region
 *   weftd --check REGION.wrd    check the file and the DLLs it names; exit
 *   weftd --hash-password [--iterations N] [PW]
 *                               print the hash= of a USER line (signon.c)
 *
 * Exit status: 0 after a clean shutdown, 1 for a bad definition file, 2 if
 * the region could not open (a corrupt log, the data directory), 3 if it
 * could not listen, 4 if it stopped because its log could not be written
 * (restart it: restart recovery brings back what the log holds). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tn3270.h"
#include "weftd.h"

#define DRAIN_MS 30000 /* normal shutdown: how long tasks may take to end */

wd_server wd = {.shutdown_mode = -1, .def_lock = SRWLOCK_INIT};

/* ---- Messages -------------------------------------------------------------------- */

void wd_log(char level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  SYSTEMTIME st;
  GetLocalTime(&st);
  fprintf(stderr, "%02u:%02u:%02u.%03u weftd %c %s\n", st.wHour, st.wMinute, st.wSecond,
          st.wMilliseconds, level, msg);
  fflush(stderr);
}

/* The region's log lines. One at level E may be its log failing: then the
 * region has stopped serving, and weftd stops too (immediate shutdown,
 * exit 4). Any thread (the log writer's for that one). */
static void region_log(void *ctx, char level, const char *msg) {
  (void)ctx;
  wd_log(level, "%s", msg);
  weft_region *r = atomic_load(&wd.region_up);
  if (level == 'E' && r != NULL && weft_log_failed(r) == WEFT_ESYS &&
      atomic_exchange(&wd.log_failed, 1) == 0) {
    wd_log('E',
           "region %s: its log failed: weftd stops (immediate shutdown) and exits with "
           "status 4; start it again to run restart recovery",
           wd.def->region.name);
    wd_request_shutdown(WEFT_SHUTDOWN_IMMEDIATE);
  }
}

static void print_errors(const wdef_errors *errs) {
  for (size_t i = 0; i < errs->n; i++)
    fprintf(stderr, "%s\n", errs->v[i].text);
  fflush(stderr);
}

const wdef_transaction *wd_find_transaction(const char *tranid) {
  AcquireSRWLockShared(&wd.def_lock);
  const wdef_transaction *t = wdef_find_transaction(wd.def, tranid);
  for (size_t i = 0; t == NULL && i < wd.n_extra; i++)
    t = wdef_find_transaction(wd.extra[i], tranid);
  ReleaseSRWLockShared(&wd.def_lock);
  return t;
}

/* ---- Shutdown requests ---------------------------------------------------------- */

void wd_request_shutdown(int mode) {
  int none = -1;
  if (!atomic_compare_exchange_strong(&wd.shutdown_mode, &none, mode) &&
      mode == WEFT_SHUTDOWN_IMMEDIATE)
    atomic_store(&wd.shutdown_mode, mode); /* IMMEDIATE overrides NORMAL */
  atomic_store(&wd.stopping, 1);
  SetEvent(wd.shutdown_event);
}

static HANDLE g_done; /* set when main has finished shutting down */

static BOOL WINAPI on_console_event(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
      wd_log('I', "Ctrl-C: normal shutdown");
      wd_request_shutdown(WEFT_SHUTDOWN_NORMAL);
      return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      wd_log('I', "console closing: immediate shutdown");
      wd_request_shutdown(WEFT_SHUTDOWN_IMMEDIATE);
      WaitForSingleObject(g_done, 4500); /* Windows allows about 5 s */
      return TRUE;
    default:
      return FALSE;
  }
}

/* ---- The console ---------------------------------------------------------------- */

static void console_out(void *ctx, const char *line) {
  (void)ctx;
  printf("%s\n", line);
  fflush(stdout);
}

/* Read the rest of an overlong console line, up to its newline, and drop
 * it. */
static void console_skip_line(void) {
  int c;
  while ((c = getchar()) != EOF && c != '\n') {
  }
}

/* The console thread: one operator command a line. A line longer than
 * WD_OPER_LINE_MAX characters is refused whole, its rest up to the newline
 * discarded, so that no part of it runs as a command of its own. */
static DWORD WINAPI console_main(void *arg) {
  (void)arg;
  char line[WD_OPER_LINE_MAX + 3]; /* the command, CR, LF and the NUL */
  while (fgets(line, sizeof line, stdin) != NULL) {
    bool whole = strchr(line, '\n') != NULL || feof(stdin);
    if (!whole)
      console_skip_line();
    line[strcspn(line, "\r\n")] = '\0';
    if (!whole || strlen(line) > WD_OPER_LINE_MAX) {
      char msg[128];
      snprintf(msg, sizeof msg,
               "command refused: the console line is longer than %d characters (nothing of it "
               "was run)",
               WD_OPER_LINE_MAX);
      console_out(NULL, msg);
      wd_log('W', "operator: a console line longer than %d characters was refused",
             WD_OPER_LINE_MAX);
    } else if (line[0] != '\0') {
      wd_oper_run(line, console_out, NULL);
    }
  }
  return 0; /* no console input (EOF): the server runs on */
}

/* ---- Definitions ---------------------------------------------------------------- */

static weft_program_fn builtin(void *ctx, const char *symbol) {
  (void)ctx;
  return strcmp(symbol, "WEFTOPER") == 0 ? wd_oper_program : NULL;
}

/* The operator transaction WEFT (program WEFTOPER, SYSTEM importance),
 * unless the file defines them. */
static int define_operator(weft_region *r) {
  weft_enclave_def e = {.name = "WEFTSYS", .importance = WEFT_IMPORTANCE_SYSTEM};
  weft_enclave_stats s;
  int rc = 0;
  if (weft_enclave_stats_get(r, "WEFTSYS", &s) != 0)
    rc = weft_enclave_define(r, &e);
  if (rc == 0 && weft_program_is_enabled(r, "WEFTOPER") == WEFT_ENOPROG)
    rc = weft_program_define(r, "WEFTOPER", wd_oper_program);
  weft_transaction_def t = {
      .tranid = "WEFT", .program = "WEFTOPER", .priority = 255, .enclave = "WEFTSYS"};
  if (rc == 0 && weft_transaction_is_enabled(r, "WEFT") == WEFT_ENOTRAN)
    rc = weft_transaction_define(r, &t);
  return rc;
}

/* Install the definitions into r; errors printed. */
static int install(weft_region *r) {
  wdef_errors errs = {0};
  int rc = wdef_apply(wd.def, r, builtin, NULL, &errs);
  if (rc == 0 && (rc = define_operator(r)) != 0)
    fprintf(stderr, "%s: the operator transaction WEFT: %s\n", wd.def->path, weft_strerror(rc));
  print_errors(&errs);
  wdef_errors_free(&errs);
  return rc;
}

/* Apply the file to a scratch region without a data directory first, so a
 * file whose DLLs or symbols are missing changes nothing on disk. */
static int dry_run(void) {
  weft_region_config cfg;
  wdef_region_config(wd.def, &cfg);
  cfg.data_dir = NULL;
  cfg.workers = 1;
  cfg.log_fn = region_log;
  weft_region *r;
  int rc = weft_region_create(&cfg, &r);
  if (rc != 0)
    return rc;
  rc = install(r);
  weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, DRAIN_MS);
  weft_region_destroy(r);
  return rc;
}

static int load_file(const char *path, int flags) {
  wdef_errors errs = {0};
  int rc = wdef_parse_file(path, flags, &wd.def, &errs);
  print_errors(&errs);
  wdef_errors_free(&errs);
  return rc;
}

/* ---- Commands -------------------------------------------------------------------- */

static int check(const char *path) {
  if (load_file(path, WDEF_REGION_REQUIRED) != 0 || dry_run() != 0) {
    fprintf(stderr, "%s: not valid\n", path);
    return 1;
  }
  printf("%s: valid\n", path);
  return 0;
}

static void shutdown_region(void) {
  int mode = atomic_load(&wd.shutdown_mode);
  wd_log('I', "%s shutdown: %s", mode == WEFT_SHUTDOWN_NORMAL ? "normal" : "immediate",
         mode == WEFT_SHUTDOWN_NORMAL ? "letting tasks finish" : "purging tasks (backed out)");
  int rc = weft_region_shutdown(wd.region, mode, DRAIN_MS);
  if (rc == WEFT_ETIMEDOUT)
    wd_log('W', "tasks did not end in time");
  if (weft_log_failed(wd.region) == WEFT_ESYS) /* also when the last flush failed */
    atomic_store(&wd.log_failed, 1);
  bool failed = atomic_load(&wd.log_failed);
  wd_http_stop(); /* every HTTP task has answered (or was released) */
  wd_net_close_all(failed ? "the region has stopped: its log could not be written"
                          : "the region has shut down");
  wd_t3_close_all(failed ? "the region has stopped" : "the region has shut down");
  wd_net_stop();
  wd_t3_stop();
  wd_signon_stop();
  weft_region_destroy(wd.region);
  if (failed)
    wd_log('E', "region %s is down after a log failure: no clean checkpoint; exit status 4",
           wd.def->region.name);
  else
    wd_log('I', "region %s is down", wd.def->region.name);
}

static int serve(const char *path) {
  if (load_file(path, WDEF_REGION_REQUIRED) != 0) {
    fprintf(stderr, "weftd: %s has errors: the region is not started\n", path);
    return 1;
  }
  if (dry_run() != 0) {
    fprintf(stderr, "weftd: %s cannot be installed: the region is not started\n", path);
    return 1;
  }
  weft_region_config cfg;
  wdef_region_config(wd.def, &cfg);
  cfg.log_fn = region_log;
  cfg.task_record_fn = wd_metrics_task_record; /* /metrics' histograms */
  int rc = weft_region_create(&cfg, &wd.region);
  if (rc == WEFT_EINUSE) {
    wd_log('E',
           "region %s cannot open: its data directory %s is in use by another region (is "
           "another weftd running on it?)",
           wd.def->region.name, cfg.data_dir);
    return 2;
  }
  if (rc != 0) {
    wd_log('E', "region %s cannot open: %s", wd.def->region.name, weft_strerror(rc));
    return 2;
  }
  if (install(wd.region) != 0) {
    weft_region_destroy(wd.region);
    return 1;
  }
  weft_file_check_defined(wd.region); /* warns of restored files no longer defined */
  wd.shutdown_event = CreateEventA(NULL, TRUE, FALSE, NULL);
  g_done = CreateEventA(NULL, TRUE, FALSE, NULL);
  atomic_store(&wd.region_up, wd.region); /* region_log may act on it now */
  if (wd_signon_start() != 0 || wd_net_start() != 0 || wd_t3_start() != 0 ||
      wd_http_start() != 0) {
    weft_region_destroy(wd.region);
    return 3;
  }
  SetConsoleCtrlHandler(on_console_event, TRUE);
  wdef_errors errs = {0};
  wdef_run_startup(wd.def, wd.region, &errs);
  print_errors(&errs);
  wdef_errors_free(&errs);
  wd_log('I', "region %s ready: listening on %s:%u", wd.def->region.name,
         wd.def->region.listen_addr, wd.def->region.listen_port);
  HANDLE console = CreateThread(NULL, 0, console_main, NULL, 0, NULL);
  WaitForSingleObject(wd.shutdown_event, INFINITE);
  shutdown_region();
  SetEvent(g_done);
  if (console != NULL)
    CloseHandle(console); /* it may sit in fgets: the process exit ends it */
  return atomic_load(&wd.log_failed) ? 4 : 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp(argv[1], "--hash-password") == 0)
    return wd_hash_password_main(argc - 2, argv + 2);
  if (argc == 3 && strcmp(argv[1], "--check") == 0)
    return check(argv[2]);
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr,
            "usage: weftd REGION.wrd | --check REGION.wrd | --hash-password [--iterations N] "
            "[PASSWORD]\n"
            "  (docs/region-config.md describes the file, docs/terminal.md the protocol)\n");
    return 1;
  }
  int rc = serve(argv[1]);
  wdef_free(wd.def);
  fflush(stdout);
  ExitProcess((UINT)rc); /* also ends the console thread blocked in fgets */
}
