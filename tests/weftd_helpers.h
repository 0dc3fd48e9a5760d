/* weftd_helpers.h - what the tests that drive weftd.exe share (test_weftd.c,
 * test_signon.c): each test's scratch directory, its region definition
 * written from tests/data/weftd/bank.wrd.in, child processes (weftd,
 * weftterm, weftload), weftd's console and stderr, and terminals over TCP
 * (docs/terminal.md; tools/common/termproto.h, the protocol client of
 * weftterm and weftload) with assertions on their screens.
 *
 * Each test works in a fresh directory <exe dir>\weftdtmp\<test>-<pid>:
 * the region definition bank.wrd is written there from
 * tests/data/weftd/bank.wrd.in (a free TCP port, the absolute path of
 * bank.dll, the test's limits), its data directory is "data" beside it,
 * and weftd's stderr goes to weftd-<n>.err. The directory is removed when
 * the test passes. Nothing sleeps and hopes: every wait is for a line, a
 * prompt or a process, with a deadline.
 *
 * Everything here is static and for the test's host thread (Criterion
 * assertions), except term_* (no assertions: any thread). A test file uses
 * some of it, so unused functions are not warned about. */
#ifndef WEFT_TESTS_WEFTD_HELPERS_H
#define WEFT_TESTS_WEFTD_HELPERS_H

#include "helpers.h"

#include "termproto.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

/* How long weftd may take to start listening (Wine starts a process in
 * about a second; the dry run loads bank.dll twice). */
#define START_MS 60000u
/* How long a screen, a line or a process end may take. */
#define WAIT_MS 30000u
/* How long a normal shutdown may take (weftd drains for 30 s at most). */
#define STOP_MS 60000u
/* Accounts the STARTUP seed makes (BSED), unless a test says otherwise. */
#define SEED 200u

/* ------------------------------------------------------------------------ */
/* Paths and files                                                           */
/* ------------------------------------------------------------------------ */

static char g_bin[MAX_PATH];  /* where test_weftd.exe, weftd.exe and bank.dll are */
static char g_weftd_dir[MAX_PATH]; /* where the weftd.exe to run is (g_bin unless set) */
static char g_root[MAX_PATH]; /* this test's scratch directory */
static char g_wrd[MAX_PATH];  /* its region definition */
static char g_data[MAX_PATH]; /* its data directory */

static void paths_init(const char *name) {
  th_exe_dir(g_bin);
  char tmp[MAX_PATH];
  snprintf(tmp, sizeof tmp, "%s\\weftdtmp", g_bin);
  CreateDirectoryA(tmp, NULL);
  snprintf(g_root, sizeof g_root, "%s\\%s-%lu", tmp, name, GetCurrentProcessId());
  snprintf(g_wrd, sizeof g_wrd, "%s\\bank.wrd", g_root);
  snprintf(g_data, sizeof g_data, "%s\\data", g_root);
  cr_assert(CreateDirectoryA(g_root, NULL) || GetLastError() == ERROR_ALREADY_EXISTS,
            "CreateDirectory(%s): %lu", g_root, GetLastError());
  cr_assert_eq(wp_net_init(), 0, "WSAStartup");
}


/* The test passed: remove its scratch directory. */
static void paths_done(void) {
  th_rm_tree(g_root);
  char tmp[MAX_PATH];
  snprintf(tmp, sizeof tmp, "%s\\weftdtmp", g_bin);
  RemoveDirectoryA(tmp); /* when no other test's directory is left */
}

/* A whole file, NUL-terminated (NULL if it cannot be read). Shared for
 * reading while another process appends. */
static char *read_whole(const char *path, size_t *size) {
  HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return NULL;
  LARGE_INTEGER sz;
  GetFileSizeEx(h, &sz);
  char *buf = malloc((size_t)sz.QuadPart + 1);
  DWORD got = 0, total = 0;
  while (buf && total < (DWORD)sz.QuadPart &&
         ReadFile(h, buf + total, (DWORD)sz.QuadPart - total, &got, NULL) && got > 0)
    total += got;
  CloseHandle(h);
  if (buf)
    buf[total] = 0;
  if (size)
    *size = total;
  return buf;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot write %s", path);
  fputs(text, f);
  cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

/* A file of text as read_whole, without its CRs (a Windows program's
 * stdout in a file has CRLF line ends). */
static char *read_text(const char *path) {
  char *t = read_whole(path, NULL);
  if (t != NULL) {
    size_t j = 0;
    for (size_t i = 0; t[i]; i++)
      if (t[i] != '\r')
        t[j++] = t[i];
    t[j] = 0;
  }
  return t;
}

/* tests/data/weftd/<name>: read from the source tree (__FILE__). */
static char *data_file(const char *name) {
  char path[MAX_PATH];
  snprintf(path, sizeof path, "%s", __FILE__);
  char *s = strrchr(path, '/');
  char *b = strrchr(path, '\\');
  if (b > s)
    s = b;
  cr_assert_not_null(s, "no directory in %s", __FILE__);
  snprintf(s + 1, sizeof path - (size_t)(s + 1 - path), "data/weftd/%s", name);
  char *text = read_whole(path, NULL);
  cr_assert_not_null(text, "cannot read %s", path);
  return text;
}

/* Copy tests/data/weftd/<name> into the scratch directory; its path. */
static const char *data_copy(const char *name) {
  static char path[MAX_PATH];
  char *text = data_file(name);
  snprintf(path, sizeof path, "%s\\%s", g_root, name);
  write_file(path, text);
  free(text);
  return path;
}

static int file_exists(const char *path) {
  return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

/* Replace every @key@ in text (a malloc'ed string) by value. */
static char *subst(char *text, const char *key, const char *value) {
  char pat[64];
  snprintf(pat, sizeof pat, "@%s@", key);
  size_t pl = strlen(pat), vl = strlen(value);
  for (char *at = strstr(text, pat); at != NULL; at = strstr(text, pat)) {
    size_t off = (size_t)(at - text), len = strlen(text);
    char *n = malloc(len - pl + vl + 1);
    cr_assert_not_null(n);
    memcpy(n, text, off);
    memcpy(n + off, value, vl);
    memcpy(n + off + vl, at + pl, len - off - pl + 1);
    free(text);
    text = n;
  }
  return text;
}

/* The line number (from 1) of the first line of text that starts with
 * prefix, or 0. */
static int line_of(const char *text, const char *prefix) {
  int line = 1;
  for (const char *p = text; *p; line++) {
    if (strncmp(p, prefix, strlen(prefix)) == 0)
      return line;
    const char *nl = strchr(p, '\n');
    if (!nl)
      break;
    p = nl + 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The region definition                                                     */
/* ------------------------------------------------------------------------ */

typedef struct region_opts {
  unsigned max_terminals; /* 0: 64 */
  unsigned idle_timeout;  /* 0: 600 */
  unsigned seed;          /* 0: SEED */
  const char *dll;        /* NULL: <exe dir>\bank.dll */
} region_opts;

static int g_port;

/* A port nobody listens on now. */
static int free_port(void) {
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  cr_assert_neq(s, INVALID_SOCKET, "socket: %d", WSAGetLastError());
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof a;
  cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0, "bind: %d", WSAGetLastError());
  cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  closesocket(s);
  return ntohs(a.sin_port);
}

/* The text of bank.wrd.in with o's values (a new port each call). */
static char *region_text(const region_opts *o) {
  char *t = data_file("bank.wrd.in");
  char v[MAX_PATH * 2];
  g_port = free_port();
  snprintf(v, sizeof v, "127.0.0.1:%d", g_port);
  t = subst(t, "LISTEN", v);
  snprintf(v, sizeof v, "%u", o && o->max_terminals ? o->max_terminals : 64);
  t = subst(t, "MAX_TERMINALS", v);
  snprintf(v, sizeof v, "%u", o && o->idle_timeout ? o->idle_timeout : 600);
  t = subst(t, "IDLE_TIMEOUT", v);
  snprintf(v, sizeof v, "%u", o && o->seed ? o->seed : SEED);
  t = subst(t, "SEED", v);
  char dll[MAX_PATH];
  if (o && o->dll)
    snprintf(dll, sizeof dll, "%s", o->dll);
  else
    snprintf(dll, sizeof dll, "%s\\bank.dll", g_bin);
  size_t j = 0; /* inside a quoted value a backslash is written \\ */
  for (size_t i = 0; dll[i] && j + 3 < sizeof v; i++) {
    if (dll[i] == '\\')
      v[j++] = '\\';
    v[j++] = dll[i];
  }
  v[j] = 0;
  return subst(t, "DLL", v);
}

/* Write the test's bank.wrd. */
static void write_region(const region_opts *o) {
  char *t = region_text(o);
  write_file(g_wrd, t);
  free(t);
}

/* ------------------------------------------------------------------------ */
/* Child processes                                                           */
/* ------------------------------------------------------------------------ */

static HANDLE g_job; /* every child: killed when the test process ends */

static void job_add(HANDLE proc) {
  if (!g_job) {
    g_job = CreateJobObjectA(NULL, NULL);
    if (g_job) {
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
      memset(&li, 0, sizeof li);
      li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
      SetInformationJobObject(g_job, JobObjectExtendedLimitInformation, &li, sizeof li);
    }
  }
  if (g_job)
    AssignProcessToJobObject(g_job, proc);
}

/* Start cmd in the scratch directory with the given standard handles
 * (NULL: none). Returns the process handle. */
static HANDLE spawn(const char *cmd, HANDLE in, HANDLE out, HANDLE err) {
  char line[4096];
  snprintf(line, sizeof line, "%s", cmd);
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = in;
  si.hStdOutput = out;
  si.hStdError = err;
  PROCESS_INFORMATION pi;
  BOOL ok = CreateProcessA(NULL, line, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, g_root, &si, &pi);
  cr_assert(ok, "CreateProcess(%s): %lu", cmd, GetLastError());
  job_add(pi.hProcess);
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  return pi.hProcess;
}

/* An inheritable file handle for a child's output. */
static HANDLE out_file(const char *path) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE h = CreateFileA(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         &sa, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  cr_assert_neq(h, INVALID_HANDLE_VALUE, "CreateFile(%s): %lu", path, GetLastError());
  return h;
}

/* Run cmd to its end, stdout and stderr into out_path; its exit code. */
static DWORD run(const char *cmd, const char *out_path, DWORD timeout_ms) {
  HANDLE out = out_file(out_path);
  HANDLE p = spawn(cmd, NULL, out, out);
  CloseHandle(out);
  if (WaitForSingleObject(p, timeout_ms) != WAIT_OBJECT_0) {
    TerminateProcess(p, 1);
    WaitForSingleObject(p, 10000);
    char *o = read_whole(out_path, NULL);
    cr_assert_fail("%s did not end within %lu ms; its output:\n%s", cmd, timeout_ms, o ? o : "");
  }
  DWORD code = 0;
  GetExitCodeProcess(p, &code);
  CloseHandle(p);
  return code;
}

/* ------------------------------------------------------------------------ */
/* weftd                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct server {
  HANDLE proc, in_wr, out_rd, reader;
  char err_path[MAX_PATH];
  SRWLOCK lock;   /* guards out, out_len */
  char out[1 << 16]; /* its console output (stdout) */
  size_t out_len;
  DWORD exit_code;
} server;

static int g_server_no; /* servers started (names weftd-<n>.err) */

static DWORD WINAPI server_reader(void *arg) {
  server *s = arg;
  char buf[4096];
  DWORD got;
  while (ReadFile(s->out_rd, buf, sizeof buf, &got, NULL) && got > 0) {
    AcquireSRWLockExclusive(&s->lock);
    for (DWORD i = 0; i < got; i++)
      if (buf[i] != '\r' && s->out_len + 1 < sizeof s->out)
        s->out[s->out_len++] = buf[i];
    s->out[s->out_len] = 0;
    ReleaseSRWLockExclusive(&s->lock);
  }
  return 0;
}

/* weftd's stderr so far (a static buffer). */
static const char *server_err(server *s) {
  static char *last;
  free(last);
  last = read_whole(s->err_path, NULL);
  return last ? last : "";
}

/* Its console output so far (a copy, in a static buffer). */
static const char *server_out(server *s) {
  static char copy[sizeof ((server *)0)->out];
  AcquireSRWLockShared(&s->lock);
  memcpy(copy, s->out, s->out_len + 1);
  ReleaseSRWLockShared(&s->lock);
  return copy;
}

/* Start weftd.exe with args (e.g. the definition file); console on pipes,
 * stderr into weftd-<n>.err. */
static void server_spawn(server *s, const char *args) {
  memset(s, 0, sizeof *s);
  InitializeSRWLock(&s->lock);
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE in_rd, out_wr;
  cr_assert(CreatePipe(&in_rd, &s->in_wr, &sa, 0), "CreatePipe: %lu", GetLastError());
  cr_assert(CreatePipe(&s->out_rd, &out_wr, &sa, 1 << 16), "CreatePipe: %lu", GetLastError());
  SetHandleInformation(s->in_wr, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(s->out_rd, HANDLE_FLAG_INHERIT, 0);
  snprintf(s->err_path, sizeof s->err_path, "%s\\weftd-%d.err", g_root, ++g_server_no);
  HANDLE err = out_file(s->err_path);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "\"%s\\weftd.exe\" %s", g_weftd_dir[0] ? g_weftd_dir : g_bin, args);
  s->proc = spawn(cmd, in_rd, out_wr, err);
  CloseHandle(in_rd);
  CloseHandle(out_wr);
  CloseHandle(err);
  s->reader = CreateThread(NULL, 0, server_reader, s, 0, NULL);
  cr_assert_not_null(s->reader);
}

/* Has the process ended? (Then its exit code is in s->exit_code.) */
static int server_ended(server *s) {
  if (s->proc == NULL)
    return 1;
  if (WaitForSingleObject(s->proc, 0) != WAIT_OBJECT_0)
    return 0;
  GetExitCodeProcess(s->proc, &s->exit_code);
  return 1;
}

/* Wait until stderr holds text; fail if weftd ends first or the deadline
 * passes. */
static void server_wait_err(server *s, const char *text, DWORD ms) {
  ULONGLONG end = GetTickCount64() + ms;
  for (;;) {
    if (strstr(server_err(s), text) != NULL)
      return;
    if (server_ended(s) && strstr(server_err(s), text) == NULL)
      cr_assert_fail("weftd ended (exit %lu) before it logged \"%s\"; stderr:\n%s", s->exit_code,
                     text, server_err(s));
    if (GetTickCount64() > end)
      cr_assert_fail("weftd did not log \"%s\" within %lu ms; stderr:\n%s", text, ms,
                     server_err(s));
    Sleep(20);
  }
}

/* Wait until the console output holds text. */
static void server_wait_out(server *s, const char *text) {
  ULONGLONG end = GetTickCount64() + WAIT_MS;
  while (strstr(server_out(s), text) == NULL) {
    if (GetTickCount64() > end)
      cr_assert_fail("weftd's console did not show \"%s\" within %u ms; it shows:\n%s\nstderr:\n%s",
                     text, WAIT_MS, server_out(s), server_err(s));
    Sleep(10);
  }
}

/* Start weftd on the test's bank.wrd and wait until it listens. */
static void server_start(server *s) {
  char args[MAX_PATH + 8];
  snprintf(args, sizeof args, "\"%s\"", g_wrd);
  server_spawn(s, args);
  server_wait_err(s, "ready: listening on", START_MS);
}

/* A command on weftd's console (stdin). */
static void server_console(server *s, const char *cmd) {
  char line[1024];
  int n = snprintf(line, sizeof line, "%s\r\n", cmd);
  DWORD put = 0;
  cr_assert(WriteFile(s->in_wr, line, (DWORD)n, &put, NULL) && put == (DWORD)n,
            "writing to weftd's console: %lu", GetLastError());
}

/* Wait for weftd's end; its exit code. */
static DWORD server_wait(server *s, DWORD ms) {
  if (WaitForSingleObject(s->proc, ms) != WAIT_OBJECT_0) {
    TerminateProcess(s->proc, 1);
    WaitForSingleObject(s->proc, 10000);
    cr_assert_fail("weftd did not end within %lu ms; stderr:\n%s", ms, server_err(s));
  }
  GetExitCodeProcess(s->proc, &s->exit_code);
  WaitForSingleObject(s->reader, 10000);
  CloseHandle(s->reader);
  CloseHandle(s->proc);
  CloseHandle(s->out_rd);
  CloseHandle(s->in_wr);
  s->proc = s->reader = s->out_rd = s->in_wr = NULL;
  return s->exit_code;
}

/* SHUTDOWN on the console; weftd must exit 0. */
static void server_stop(server *s) {
  server_console(s, "SHUTDOWN");
  DWORD code = server_wait(s, STOP_MS);
  cr_assert_eq(code, 0, "weftd exited %lu after SHUTDOWN; stderr:\n%s", code, server_err(s));
  const char *err = server_err(s);
  cr_expect(strstr(err, "is down") != NULL, "no 'is down' in stderr:\n%s", err);
}

/* Kill weftd as a crash would. */
static void server_kill(server *s) {
  TerminateProcess(s->proc, 99);
  server_wait(s, WAIT_MS);
}

/* ------------------------------------------------------------------------ */
/* Terminals                                                                 */
/* ------------------------------------------------------------------------ */

/* How a screen ended. */
enum { E_READY, E_NEXT, E_INPUT, E_BYE, E_BUSY, E_CLOSED, E_TIMEOUT };
static const char *const end_names[] = {"READY", "NEXT", "INPUT", "BYE", "BUSY", "CLOSED", "TIMEOUT"};

/* A terminal: a connection to weftd read through the protocol client that
 * weftterm and weftload use (tools/common/termproto.h). It belongs to the
 * thread that opened it. */
typedef struct term {
  SOCKET s;          /* the connection (INVALID_SOCKET once closed); r reads it */
  wp_reader r;       /* its lines as they arrive */
  char scr[1 << 16]; /* the last screen: its lines, '\n' ended, protocol as is */
  size_t scr_len;
  char last[1024]; /* its last line (the prompt, %BYE ...) */
  int end;         /* E_* */
  char termid[16];
} term;

/* Connect once: 0, or the Winsock error. The socket is not inherited by the
 * children started later (weftterm, weftload, a restarted weftd), so that
 * closing it really closes the connection (wp_connect sees to that). */
static int term_connect(term *t, int port) {
  memset(t, 0, sizeof *t);
  char svc[16], err[256];
  snprintf(svc, sizeof svc, "%d", port);
  t->s = wp_connect("127.0.0.1", svc, err, sizeof err);
  if (t->s == INVALID_SOCKET) {
    int e = WSAGetLastError();
    return e != 0 ? e : -1;
  }
  wp_reader_init(&t->r, t->s);
  return 0;
}

/* Send len bytes as they are (no line end is added). 0 or -1. */
static int term_send(term *t, const void *data, size_t len) {
  return wp_send(t->s, data, len);
}

/* The next line (without CRLF) in t->r.line: WP_LINE, WP_TIMEOUT at the
 * deadline (a line already received is still returned), or WP_EOF when
 * the connection closed or failed. */
static int term_read(term *t, ULONGLONG deadline) {
  ULONGLONG now = GetTickCount64();
  ULONGLONG left = now >= deadline ? 0 : deadline - now;
  int rc = wp_read_line(&t->r, left > INT_MAX ? INT_MAX : (int)left);
  return rc == WP_ERR ? WP_EOF : rc;
}

/* One line (without CRLF, cut to cap) into line: 1, 0 when the connection
 * closed, -1 at the deadline. */
static int term_line(term *t, char *line, size_t cap, ULONGLONG deadline) {
  int rc = term_read(t, deadline);
  if (rc == WP_LINE)
    snprintf(line, cap, "%s", t->r.line);
  return rc == WP_LINE ? 1 : rc == WP_TIMEOUT ? -1 : 0;
}

/* How line ends the screen (E_*), or -1 if the screen goes on. The prompts
 * must be exactly as docs/terminal.md writes them ("%READY", "%INPUT",
 * "%NEXT <tranid>"); the greeting gives the terminal its termid. */
static int term_line_end(term *t, const char *line) {
  const char *rest;
  switch (wp_classify(line, &rest)) {
    case WP_READY:
      return *rest ? -1 : E_READY;
    case WP_INPUT:
      return *rest ? -1 : E_INPUT;
    case WP_NEXT:
      return *rest ? E_NEXT : -1;
    case WP_BYE:
      return E_BYE;
    case WP_BUSY:
      return E_BUSY;
    case WP_GREETING:
      sscanf(rest, "%*s TERMINAL %15s", t->termid);
      return -1;
    default:
      return -1;
  }
}

/* Add line to the screen (as long as there is room). */
static void term_scr_add(term *t, const char *line) {
  size_t n = strlen(line);
  if (t->scr_len + n + 2 < sizeof t->scr) {
    memcpy(t->scr + t->scr_len, line, n);
    t->scr_len += n;
    t->scr[t->scr_len++] = '\n';
    t->scr[t->scr_len] = 0;
  }
  snprintf(t->last, sizeof t->last, "%s", line);
}

/* Read the next screen: every line up to a prompt, %BYE or %BUSY, or until
 * the connection closes or the deadline passes. Returns t->end. */
static int term_screen(term *t, DWORD ms) {
  ULONGLONG deadline = GetTickCount64() + ms;
  t->scr_len = 0;
  t->scr[0] = 0;
  t->last[0] = 0;
  for (;;) {
    int rc = term_read(t, deadline);
    if (rc != WP_LINE)
      return t->end = rc == WP_TIMEOUT ? E_TIMEOUT : E_CLOSED;
    term_scr_add(t, t->r.line);
    int e = term_line_end(t, t->r.line);
    if (e >= 0)
      return t->end = e;
  }
}

/* Connect (retrying while refused) and read the greeting screen. */
static int term_open_try(term *t, int port, DWORD ms) {
  ULONGLONG end = GetTickCount64() + ms;
  int rc;
  while ((rc = term_connect(t, port)) != 0 && GetTickCount64() < end)
    Sleep(50);
  if (rc != 0)
    return -1;
  return term_screen(t, ms);
}

static void term_close(term *t) {
  if (t->s != INVALID_SOCKET)
    closesocket(t->s);
  t->s = INVALID_SOCKET;
  wp_reader_free(&t->r);
}

/* ---- The same, failing the test (host thread only) ------------------------ */

static term *t_open(int port) {
  term *t = calloc(1, sizeof *t);
  cr_assert_not_null(t);
  int e = term_open_try(t, port, WAIT_MS);
  cr_assert_eq(e, E_READY, "connecting to port %d: the greeting ended %s (%s):\n%s", port,
               e < 0 ? "with no connection" : end_names[e], t->last, t->scr);
  cr_assert(strncmp(t->scr, "%WEFT TBANK TERMINAL T", 22) == 0, "greeting:\n%s", t->scr);
  return t;
}

static void t_free(term *t) {
  term_close(t);
  free(t);
}

/* Send line and read the screen it gets; it must end as want. */
static const char *t_do_end(term *t, const char *line, int want) {
  char buf[2048];
  int n = snprintf(buf, sizeof buf, "%s\n", line);
  cr_assert_eq(term_send(t, buf, (size_t)n), 0, "%s: send failed: %d", t->termid, WSAGetLastError());
  int e = term_screen(t, WAIT_MS);
  cr_assert_eq(e, want, "%s: \"%s\" got a screen that ended %s, not %s:\n%s", t->termid, line,
               end_names[e], end_names[want], t->scr);
  return t->scr;
}

static const char *t_do(term *t, const char *line) {
  return t_do_end(t, line, E_READY);
}

#define expect_in(scr, text)                                                         \
  cr_assert(strstr((scr), (text)) != NULL, "expected \"%s\" in the screen:\n%s", (text), (scr))
#define expect_not_in(scr, text)                                                     \
  cr_assert(strstr((scr), (text)) == NULL, "did not expect \"%s\" in the screen:\n%s", (text), \
            (scr))

/* The line of scr that contains key (a static copy; "" if none). */
static const char *row_of(const char *scr, const char *key) {
  static char row[1024];
  row[0] = 0;
  const char *p = strstr(scr, key);
  if (p == NULL)
    return row;
  while (p > scr && p[-1] != '\n')
    p--;
  size_t n = strcspn(p, "\n");
  snprintf(row, sizeof row, "%.*s", (int)n, p);
  return row;
}

/* The row of scr with key must hold text. */
#define expect_row(scr, key, text)                                                   \
  cr_assert(strstr(row_of((scr), (key)), (text)) != NULL,                             \
            "expected \"%s\" in the row of \"%s\" in:\n%s", (text), (key), (scr))

static void t_signon(term *t, const char *user, const char *pw) {
  char cmd[128], want[64];
  snprintf(cmd, sizeof cmd, "SIGNON %s %s", user, pw);
  snprintf(want, sizeof want, "%%SIGNED ON %s\n", user);
  expect_in(t_do(t, cmd), want);
}

static term *t_user(const char *user, const char *pw) {
  term *t = t_open(g_port);
  t_signon(t, user, pw);
  return t;
}

/* Wait until the seed has made account n (INQ n answers). */
static void wait_seeded(term *t, unsigned n) {
  char cmd[32], want[32];
  snprintf(cmd, sizeof cmd, "INQ %u", n);
  snprintf(want, sizeof want, "ACCOUNT %u ", n);
  ULONGLONG end = GetTickCount64() + WAIT_MS;
  while (strstr(t_do(t, cmd), want) == NULL) {
    cr_assert(GetTickCount64() < end, "the seed did not make account %u:\n%s", n, t->scr);
    Sleep(50);
  }
}

/* Wait until the server closes the connection (after %BYE). */
static void t_wait_closed(term *t) {
  char line[1024];
  ULONGLONG end = GetTickCount64() + WAIT_MS;
  int r;
  while ((r = term_line(t, line, sizeof line, end)) == 1) {
  }
  cr_assert_eq(r, 0, "%s: the server did not close the connection", t->termid);
}

/* Money as the bank shows it ("-1,234.56") in cents. */
static long long money(const char *s) {
  while (*s == ' ')
    s++;
  int neg = *s == '-';
  if (neg)
    s++;
  long long v = 0;
  int frac = -1;
  for (; *s; s++) {
    if (*s == ',')
      continue;
    if (*s == '.' && frac < 0) {
      frac = 0;
      continue;
    }
    if (!isdigit((unsigned char)*s) || frac == 2)
      break;
    v = v * 10 + (*s - '0');
    if (frac >= 0)
      frac++;
  }
  while (frac < 2) {
    v *= 10;
    frac = frac < 0 ? 1 : frac + 1;
  }
  return neg ? -v : v;
}

/* The balance in an INQ or DEP screen ("BALANCE x"), in cents; -1 if none. */
static long long balance_in(const char *scr) {
  const char *p = strstr(scr, "BALANCE ");
  return p ? money(p + 8) : -1;
}

/* The task number of a task of tranid on termid, from WEFT INQ TASKS (op's
 * terminal); waits until it is listed. */
static unsigned long long task_of(term *op, const char *tranid, const char *termid) {
  ULONGLONG end = GetTickCount64() + WAIT_MS;
  for (;;) {
    const char *scr = t_do(op, "WEFT INQ TASKS");
    for (const char *p = scr; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
      unsigned long long no;
      char tran[16], term_id[16];
      if (sscanf(p, "TASK %llu TRAN %15s ENCLAVE %*s TERM %15s", &no, tran, term_id) == 3 &&
          !strcmp(tran, tranid) && !strcmp(term_id, termid))
        return no;
    }
    cr_assert(GetTickCount64() < end, "no task %s on %s in:\n%s", tranid, termid, scr);
    Sleep(20);
  }
}

#pragma GCC diagnostic pop
#endif /* WEFT_TESTS_WEFTD_HELPERS_H */
