/* tn3270.c - weftd's TN3270 network thread and its pool of device names.
 *
 * The thread listens on tn3270_listen, accepts 3270 sessions (refusing
 * those past max_terminals, counting line terminals too, or past
 * max_per_address), reads their sockets and writes their output, all
 * non-blocking under one WSAPoll loop: the same design as net.c's line
 * terminals, on a thread of its own so that neither kind of terminal
 * waits for the other's sockets. Workers never touch a socket: a task's
 * output is queued by its terminal callback, which wakes this thread
 * through a loopback UDP datagram.
 *
 * Ownership: g_sess and every socket belong to the TN3270 thread; the
 * device name pool is guarded by g_names_lock (any thread). */
#include <ws2tcpip.h>

#include <stdio.h>
#include <stdlib.h>

#include "tn3270.h"

#define POLL_MS 250
#define PATTERN_DIGITS_MAX 5 /* #s in a device name pattern */

static SOCKET g_listen = INVALID_SOCKET, g_wake_rx = INVALID_SOCKET, g_wake_tx = INVALID_SOCKET;
static struct sockaddr_in g_wake_addr;
static _Atomic int g_wake_flag, g_stop;
static HANDLE g_thread;
static t3_session **g_sess; /* TN3270 thread only */
static uint32_t *g_addr;    /* each session's client address */
static size_t g_n, g_cap;
static char g_stop_why[128];

/* ---- Device names ------------------------------------------------------------------ */

/* The pool: a pattern (prefix + #s) or a list. Set once at start. */
static SRWLOCK g_names_lock = SRWLOCK_INIT;
static char g_prefix[WEFT_NAME_MAX + 1];
static unsigned g_digits; /* pattern: the #s (0: a list) */
static char (*g_list)[WEFT_NAME_MAX + 1];
static size_t g_list_n;
static unsigned char *g_used; /* one byte per name: in use */
static size_t g_names_n;

static bool name_chars_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',')
      return false;
  return true;
}

const char *wd_t3_devices_check(const char *spec) {
  if (spec == NULL)
    return NULL;
  const char *hash = strchr(spec, '#');
  if (hash != NULL) {
    size_t pre = (size_t)(hash - spec), k = strspn(hash, "#");
    if (hash[k] != '\0' || k > PATTERN_DIGITS_MAX || pre + k > WEFT_NAME_MAX ||
        !name_chars_ok(spec, pre))
      return "a pattern is a prefix and 1-5 #s at the end, 8 characters at most (TC####)";
    return NULL;
  }
  for (const char *p = spec;;) {
    size_t n = strcspn(p, ",");
    if (n == 0 || n > WEFT_NAME_MAX || !name_chars_ok(p, n))
      return "a list is device names of 1-8 printable characters separated by commas";
    if (p[n] == '\0')
      return NULL;
    p += n + 1;
  }
}

/* Build the pool from spec (checked). 0 or -1 (no storage). */
static int names_init(const char *spec) {
  if (spec == NULL)
    spec = "TC####";
  const char *hash = strchr(spec, '#');
  if (hash != NULL) {
    snprintf(g_prefix, sizeof g_prefix, "%.*s", (int)(hash - spec), spec);
    g_digits = (unsigned)strlen(hash);
    g_names_n = 1;
    for (unsigned i = 0; i < g_digits; i++)
      g_names_n *= 10;
    g_names_n--; /* 0 is not used: TC0001 is the first */
  } else {
    g_list_n = 1;
    for (const char *p = spec; *p; p++)
      g_list_n += *p == ',';
    g_list = calloc(g_list_n, sizeof *g_list);
    if (g_list == NULL)
      return -1;
    const char *p = spec;
    for (size_t i = 0; i < g_list_n; i++) {
      size_t n = strcspn(p, ",");
      snprintf(g_list[i], sizeof g_list[i], "%.*s", (int)n, p);
      p += n + 1;
    }
    g_names_n = g_list_n;
  }
  g_used = calloc(g_names_n ? g_names_n : 1, 1);
  return g_used != NULL ? 0 : -1;
}

static void name_of(size_t i, char *out) {
  if (g_digits != 0)
    snprintf(out, WEFT_NAME_MAX + 1, "%s%0*zu", g_prefix, (int)g_digits, i + 1);
  else
    strcpy(out, g_list[i]);
}

/* The index of name in the pool, or -1. */
static long name_index(const char *name) {
  if (g_digits == 0) {
    for (size_t i = 0; i < g_list_n; i++)
      if (_stricmp(g_list[i], name) == 0)
        return (long)i;
    return -1;
  }
  size_t pre = strlen(g_prefix);
  if (_strnicmp(name, g_prefix, pre) != 0 || strlen(name + pre) != g_digits ||
      strspn(name + pre, "0123456789") != g_digits)
    return -1;
  long v = atol(name + pre);
  return v >= 1 ? v - 1 : -1;
}

int wd_t3_name_take(const char *req, char *out) {
  int rc = -1;
  AcquireSRWLockExclusive(&g_names_lock);
  if (req[0] != '\0') {
    long i = name_index(req);
    if (i >= 0 && !g_used[i]) {
      g_used[i] = 1;
      name_of((size_t)i, out);
      rc = 0;
    }
  } else {
    for (size_t i = 0; i < g_names_n && rc != 0; i++)
      if (!g_used[i]) {
        g_used[i] = 1;
        name_of(i, out);
        rc = 0;
      }
  }
  ReleaseSRWLockExclusive(&g_names_lock);
  return rc;
}

void wd_t3_name_give(const char *name) {
  AcquireSRWLockExclusive(&g_names_lock);
  long i = name_index(name);
  if (i >= 0)
    g_used[i] = 0;
  ReleaseSRWLockExclusive(&g_names_lock);
}

/* ---- Sockets ------------------------------------------------------------------------ */

void wd_t3_wake(void) {
  if (g_wake_tx != INVALID_SOCKET && atomic_exchange(&g_wake_flag, 1) == 0)
    sendto(g_wake_tx, "w", 1, 0, (struct sockaddr *)&g_wake_addr, sizeof g_wake_addr);
}

static int wake_open(void) {
  return wd_wake_open(&g_wake_rx, &g_wake_tx, &g_wake_addr);
}

static int listen_open(void) {
  const wdef_region *reg = &wd.def->region;
  g_listen = wd_listen_open(reg->tn3270_addr, reg->tn3270_port, "tn3270_listen", " for TN3270");
  return g_listen == INVALID_SOCKET ? -1 : 0;
}

/* ---- Sessions ---------------------------------------------------------------------- */

static bool sess_add(t3_session *ss, uint32_t addr) {
  if (g_n == g_cap) {
    size_t cap = g_cap ? 2 * g_cap : 64;
    t3_session **n = realloc(g_sess, cap * sizeof *n);
    if (n != NULL)
      g_sess = n;
    uint32_t *a = realloc(g_addr, cap * sizeof *a);
    if (a != NULL)
      g_addr = a;
    if (n == NULL || a == NULL)
      return false;
    g_cap = cap;
  }
  g_addr[g_n] = addr;
  g_sess[g_n++] = ss;
  return true;
}

static void sess_drop(size_t i) {
  t3_gone(g_sess[i]);
  g_sess[i] = g_sess[--g_n];
  g_addr[i] = g_addr[g_n];
}

static unsigned count_from(uint32_t addr) {
  unsigned n = 0;
  for (size_t i = 0; i < g_n; i++)
    n += g_addr[i] == addr;
  return n;
}

/* A refused connection is closed at once: a 3270 has no line to read a
 * message on before its negotiation. */
static void refuse(SOCKET s, const char *why) {
  wd_log('W', "TN3270 connection refused: %s", why);
  closesocket(s);
}

static void accept_all(void) {
  const wdef_region *reg = &wd.def->region;
  for (;;) {
    struct sockaddr_in peer = {0};
    int len = sizeof peer;
    SOCKET s = accept(g_listen, (struct sockaddr *)&peer, &len);
    if (s == INVALID_SOCKET)
      return;
    uint32_t addr = peer.sin_addr.s_addr;
    if (atomic_load(&wd.stopping)) {
      refuse(s, "the region is shutting down");
      continue;
    }
    if ((unsigned)wd_sessions_count() + g_n >= reg->max_terminals) {
      refuse(s, "max_terminals reached");
      continue;
    }
    if (reg->max_per_address != 0 && count_from(addr) >= reg->max_per_address) {
      refuse(s, "max_per_address reached");
      continue;
    }
    wd_sock_nonblocking(s);
    BOOL nodelay = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, sizeof nodelay);
    t3_session *ss = t3_new(s, addr);
    if (ss == NULL) {
      refuse(s, "no storage for a session");
      continue;
    }
    if (!sess_add(ss, addr))
      t3_gone(ss);
  }
}

/* Read what session i has sent; false when it is gone. */
static bool sess_read(size_t i) {
  unsigned char buf[4096];
  for (;;) {
    int n = recv(t3_socket(g_sess[i]), (char *)buf, sizeof buf, 0);
    if (n > 0) {
      t3_input(g_sess[i], buf, (size_t)n);
      if (!t3_wants_input(g_sess[i]))
        return true;
      continue;
    }
    if (n == 0) {
      t3_eof(g_sess[i]);
      return true;
    }
    if (WSAGetLastError() == WSAEWOULDBLOCK)
      return true;
    t3_eof(g_sess[i]);
    sess_drop(i); /* reset or failed */
    return false;
  }
}

/* ---- The loop ------------------------------------------------------------------------ */

static size_t *g_polled;

static WSAPOLLFD *poll_set(size_t *n) {
  static WSAPOLLFD *fds;
  static size_t cap;
  if (cap < g_n + 2) {
    size_t c = g_n + 64;
    WSAPOLLFD *f = realloc(fds, c * sizeof *f);
    size_t *p = realloc(g_polled, c * sizeof *p);
    if (f != NULL)
      fds = f;
    if (p != NULL)
      g_polled = p;
    if (f == NULL || p == NULL)
      return NULL;
    cap = c;
  }
  fds[0] = (WSAPOLLFD){.fd = g_listen, .events = POLLRDNORM};
  fds[1] = (WSAPOLLFD){.fd = g_wake_rx, .events = POLLRDNORM};
  size_t k = 2;
  for (size_t i = 0; i < g_n; i++) {
    short ev = t3_wants_input(g_sess[i]) ? POLLRDNORM : 0;
    if (t3_has_output(g_sess[i]))
      ev |= POLLWRNORM;
    if (ev == 0)
      continue;
    g_polled[k - 2] = i;
    fds[k++] = (WSAPOLLFD){.fd = t3_socket(g_sess[i]), .events = ev};
  }
  *n = k;
  return fds;
}

static void sessions_serve(WSAPOLLFD *fds, size_t nfds) {
  for (size_t k = nfds; k-- > 2;) {
    size_t i = g_polled[k - 2];
    if (i < g_n && (fds[k].revents & (POLLRDNORM | POLLHUP | POLLERR)) && t3_wants_input(g_sess[i]))
      sess_read(i);
  }
  uint64_t now = GetTickCount64();
  for (size_t i = g_n; i-- > 0;) {
    t3_session *ss = g_sess[i];
    t3_tick(ss, now);
    int f = t3_flush(ss);
    if (f < 0 || t3_done(ss, f > 0, now))
      sess_drop(i);
  }
}

static void close_all(void) {
  for (size_t i = g_n; i-- > 0;) {
    t3_bye(g_sess[i], g_stop_why);
    for (int tries = 0; tries < 20 && t3_flush(g_sess[i]) > 0; tries++)
      Sleep(5);
    sess_drop(i);
  }
}

static DWORD WINAPI t3_main(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    size_t n;
    WSAPOLLFD *fds = poll_set(&n);
    if (fds == NULL) {
      wd_log('E', "no storage for the TN3270 thread's poll set");
      Sleep(POLL_MS);
      continue;
    }
    if (WSAPoll(fds, (ULONG)n, POLL_MS) < 0) {
      wd_log('E', "WSAPoll failed (error %d)", WSAGetLastError());
      Sleep(POLL_MS);
      continue;
    }
    if (fds[1].revents & POLLRDNORM) {
      char b[64];
      while (recv(g_wake_rx, b, sizeof b, 0) > 0) {
      }
      atomic_store(&g_wake_flag, 0); /* after the drain, as in net.c */
    }
    if (fds[0].revents & POLLRDNORM)
      accept_all();
    sessions_serve(fds, n);
  }
  close_all();
  return 0;
}

int wd_t3_start(void) {
  const wdef_region *reg = &wd.def->region;
  if (reg->tn3270_port == 0)
    return 0;
  const char *bad = wd_t3_devices_check(reg->tn3270_devices);
  if (bad != NULL) {
    wd_log('E', "%s:%d: bad tn3270_devices '%s': %s", wd.def->path, reg->line, reg->tn3270_devices,
           bad);
    return -1;
  }
  WSADATA d;
  if (WSAStartup(MAKEWORD(2, 2), &d) != 0)
    return -1;
  if (names_init(reg->tn3270_devices) != 0 || wake_open() != 0 || listen_open() != 0)
    return -1;
  g_thread = CreateThread(NULL, 0, t3_main, NULL, 0, NULL);
  if (g_thread == NULL)
    return -1;
  wd_log('I', "region %s: TN3270 on %s:%u, devices %s", reg->name, reg->tn3270_addr,
         reg->tn3270_port, reg->tn3270_devices ? reg->tn3270_devices : "TC####");
  return 0;
}

void wd_t3_close_all(const char *why) {
  snprintf(g_stop_why, sizeof g_stop_why, "%s", why);
  atomic_store(&g_stop, 1);
  wd_t3_wake();
}

void wd_t3_stop(void) {
  if (g_thread != NULL) {
    WaitForSingleObject(g_thread, INFINITE);
    CloseHandle(g_thread);
    g_thread = NULL;
  }
  if (g_wake_rx == INVALID_SOCKET && g_listen == INVALID_SOCKET)
    return;
  closesocket(g_listen);
  closesocket(g_wake_rx);
  closesocket(g_wake_tx);
  g_listen = g_wake_rx = g_wake_tx = INVALID_SOCKET;
  free(g_sess);
  free(g_addr);
  free(g_polled);
  free(g_list);
  free(g_used);
  g_sess = NULL;
  g_n = g_cap = 0;
  WSACleanup();
}
