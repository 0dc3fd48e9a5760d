/* net.c - the network thread: it listens, accepts sessions (refusing
 * those past max_terminals, or past max_per_address from one client
 * address), reads their sockets, closes them and writes the output the
 * workers left, all non-blocking under one WSAPoll loop: a socket with
 * output left is polled for writing, so that it moves as soon as the client
 * reads.
 *
 * Few Winsock calls per transaction (under Wine each is a wineserver round
 * trip of 100-400 us; README.md, "The network thread", says why this
 * design): one recv per readiness report (never a second one to see
 * WSAEWOULDBLOCK); the task's reply and prompt go out in one send, made by
 * the worker that runs the callback (session.c); the loopback datagram that
 * wakes this thread is sent only when it sleeps in WSAPoll (g_wake), and
 * read with one recv.
 *
 * Ownership: g_sess, accepting, reading and closing sockets belong to the
 * network thread; a session's output (and sending it) to whoever holds its
 * lock (session.c). */
#include <ws2tcpip.h>

#include <stdio.h>
#include <stdlib.h>

#include "tn3270.h"
#include "weftd.h"

#define POLL_MS 250

static SOCKET g_listen = INVALID_SOCKET, g_wake_rx = INVALID_SOCKET, g_wake_tx = INVALID_SOCKET;
static struct sockaddr_in g_wake_addr;
/* The network thread's state for wd_net_wake: AWAKE (it looks at every
 * session before it sleeps again), SLEEPING (in or going into WSAPoll: a
 * datagram is needed), NOTIFIED (told since it last looked). */
enum { NET_AWAKE, NET_SLEEPING, NET_NOTIFIED };
static _Atomic int g_wake = NET_AWAKE, g_stop;
static HANDLE g_thread;
static wd_session **g_sess; /* network thread only */
static size_t g_n, g_cap;
static size_t *g_polled; /* the session of each polled socket (after two) */
static unsigned long long g_next_no;
static char g_stop_why[128];

wd_net_counts wd_nc;

void wd_net_wake(void) {
  if (atomic_exchange(&g_wake, NET_NOTIFIED) == NET_SLEEPING) {
    wd_count(&wd_nc.wake_sends);
    sendto(g_wake_tx, "w", 1, 0, (struct sockaddr *)&g_wake_addr, sizeof g_wake_addr);
  }
}

static int wake_open(void) {
  return wd_wake_open(&g_wake_rx, &g_wake_tx, &g_wake_addr);
}

static int listen_open(void) {
  const wdef_region *reg = &wd.def->region;
  g_listen = wd_listen_open(reg->listen_addr, reg->listen_port, "listen", "");
  return g_listen == INVALID_SOCKET ? -1 : 0;
}

/* ---- Sessions ------------------------------------------------------------------- */

static void sess_add(wd_session *ss) {
  if (g_n == g_cap) {
    size_t cap = g_cap ? 2 * g_cap : 64;
    wd_session **n = realloc(g_sess, cap * sizeof *n);
    if (n == NULL) {
      wd_session_gone(ss, false);
      return;
    }
    g_sess = n;
    g_cap = cap;
  }
  g_sess[g_n++] = ss;
}

static void sess_drop(size_t i, bool peer_closed) {
  wd_session_gone(g_sess[i], peer_closed);
  g_sess[i] = g_sess[--g_n];
}

static void refuse(SOCKET s, const char *busy) {
  send(s, busy, (int)strlen(busy), 0);
  shutdown(s, SD_SEND);
  closesocket(s);
}

/* Sessions from the client address addr. */
static unsigned count_from(uint32_t addr) {
  unsigned n = 0;
  for (size_t i = 0; i < g_n; i++)
    n += wd_session_addr(g_sess[i]) == addr;
  return n;
}

static void accept_all(void) {
  static const char busy[] = "%BUSY too many terminals, try again later\r\n";
  static const char busy_addr[] = "%BUSY too many terminals from your address, try again later\r\n";
  const wdef_region *reg = &wd.def->region;
  for (;;) {
    struct sockaddr_in peer = {0};
    int len = sizeof peer;
    SOCKET s = accept(g_listen, (struct sockaddr *)&peer, &len);
    if (s == INVALID_SOCKET)
      return;
    uint32_t addr = peer.sin_addr.s_addr;
    if (atomic_load(&wd.stopping) || g_n + (size_t)wd_t3_count() >= reg->max_terminals) {
      refuse(s, busy);
      continue;
    }
    if (reg->max_per_address != 0 && count_from(addr) >= reg->max_per_address) {
      refuse(s, busy_addr);
      continue;
    }
    wd_sock_nonblocking(s);
    BOOL nodelay = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, sizeof nodelay);
    wd_session *ss = wd_session_new(s, ++g_next_no, addr);
    if (ss == NULL) {
      refuse(s, busy);
      continue;
    }
    sess_add(ss);
  }
}

/* Read what session i has sent, with one recv: what is left is reported
 * by the next WSAPoll (a terminal sends one line and waits, so a second
 * recv would only say WSAEWOULDBLOCK). False when the session is gone.
 * When the client has closed its side, the session stays until its lines
 * are answered. */
static bool sess_read(size_t i) {
  char buf[4096];
  wd_count(&wd_nc.recvs);
  int n = recv(wd_session_socket(g_sess[i]), buf, sizeof buf, 0);
  if (n > 0) {
    wd_session_input(g_sess[i], buf, (size_t)n);
    return true;
  }
  if (n == 0) {
    wd_session_eof(g_sess[i]);
    return true;
  }
  if (WSAGetLastError() == WSAEWOULDBLOCK)
    return true;
  sess_drop(i, true); /* reset or failed */
  return false;
}

/* ---- The loop -------------------------------------------------------------------- */

/* The pollfd set: listener, wake socket, then every session that waits
 * for input or has output left to send (g_polled says which). A session
 * that waits for neither is left out: its half-closed socket would make
 * WSAPoll return at once (POLLHUP) again and again. *timeout: the poll's,
 * shorter when some output is held back (WD_HOLD_MS). NULL if out of
 * memory. */
static WSAPOLLFD *poll_set(size_t *n, int *timeout) {
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
  uint64_t now = GetTickCount64(), wait = POLL_MS;
  for (size_t i = 0; i < g_n; i++) {
    short ev = wd_session_wants_input(g_sess[i]) ? POLLRDNORM : 0;
    if (wd_session_has_output(g_sess[i], now, &wait))
      ev |= POLLWRNORM;
    if (ev == 0)
      continue;
    g_polled[k - 2] = i;
    fds[k++] = (WSAPOLLFD){.fd = wd_session_socket(g_sess[i]), .events = ev};
  }
  *n = k;
  *timeout = (int)wait;
  return fds;
}

/* Input, timeouts, then output and closes, for every session. */
static void sessions_serve(WSAPOLLFD *fds, size_t nfds) {
  for (size_t k = nfds; k-- > 2;) { /* backwards: drops move the last one */
    size_t i = g_polled[k - 2];
    if (i < g_n && (fds[k].revents & (POLLRDNORM | POLLHUP | POLLERR)) &&
        wd_session_wants_input(g_sess[i]))
      sess_read(i);
  }
  uint64_t now = GetTickCount64();
  for (size_t i = g_n; i-- > 0;) {
    wd_session *ss = g_sess[i];
    wd_session_tick(ss, now);
    int f = wd_session_flush(ss);
    if (f < 0 || wd_session_done(ss, f > 0, now))
      sess_drop(i, f < 0);
  }
}

static void close_all(void) {
  for (size_t i = g_n; i-- > 0;) {
    wd_session_bye(g_sess[i], g_stop_why);
    for (int tries = 0; tries < 20 && wd_session_flush(g_sess[i]) > 0; tries++)
      Sleep(5);
    sess_drop(i, false);
  }
}

/* One WSAPoll: it sleeps (up to timeout ms) only when nobody woke this
 * thread since it last looked at every session; else it only takes the
 * sockets' readiness (timeout 0), and no datagram is needed. */
static int net_poll(WSAPOLLFD *fds, size_t n, int timeout) {
  if (atomic_exchange(&g_wake, NET_SLEEPING) == NET_NOTIFIED)
    timeout = 0;
  wd_count(&wd_nc.polls);
  int rc = WSAPoll(fds, (ULONG)n, timeout);
  /* From here on every session is looked at again: wakes need no datagram. */
  atomic_store(&g_wake, NET_AWAKE);
  if (rc > 0 && (fds[1].revents & POLLRDNORM)) {
    char b[64]; /* one datagram per sleep at most; one more is seen next time */
    wd_count(&wd_nc.wake_recvs);
    recv(g_wake_rx, b, sizeof b, 0);
  }
  return rc;
}

static DWORD WINAPI net_main(void *arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    size_t n;
    int timeout;
    WSAPOLLFD *fds = poll_set(&n, &timeout);
    if (fds == NULL) {
      wd_log('E', "no storage for the network thread's poll set");
      Sleep(POLL_MS);
      continue;
    }
    if (net_poll(fds, n, timeout) < 0) {
      wd_log('E', "WSAPoll failed (error %d)", WSAGetLastError());
      Sleep(POLL_MS);
      continue;
    }
    if (fds[0].revents & POLLRDNORM)
      accept_all();
    sessions_serve(fds, n);
  }
  close_all();
  return 0;
}

/* The Winsock calls per transaction, into the log (at the stop). */
static void log_counts(void) {
  unsigned long long t = atomic_load(&wd_nc.txns);
  double d = t ? (double)t : 1.0;
  wd_log('I',
         "network: %llu transactions from terminals; Winsock calls per transaction: WSAPoll "
         "%.2f, recv %.2f, send %.2f (network thread %.2f, workers %.2f), wake sendto %.2f, "
         "wake recv %.2f",
         t, (double)atomic_load(&wd_nc.polls) / d, (double)atomic_load(&wd_nc.recvs) / d,
         (double)(atomic_load(&wd_nc.sends_net) + atomic_load(&wd_nc.sends_worker)) / d,
         (double)atomic_load(&wd_nc.sends_net) / d, (double)atomic_load(&wd_nc.sends_worker) / d,
         (double)atomic_load(&wd_nc.wake_sends) / d, (double)atomic_load(&wd_nc.wake_recvs) / d);
}

int wd_net_start(void) {
  WSADATA d;
  if (WSAStartup(MAKEWORD(2, 2), &d) != 0 || wake_open() != 0 || listen_open() != 0)
    return -1;
  g_thread = CreateThread(NULL, 0, net_main, NULL, 0, NULL);
  return g_thread != NULL ? 0 : -1;
}

void wd_net_close_all(const char *why) {
  snprintf(g_stop_why, sizeof g_stop_why, "%s", why);
  atomic_store(&g_stop, 1);
  wd_net_wake();
}

void wd_net_stop(void) {
  if (g_thread != NULL) {
    WaitForSingleObject(g_thread, INFINITE);
    CloseHandle(g_thread);
    g_thread = NULL;
    log_counts();
  }
  closesocket(g_listen);
  closesocket(g_wake_rx);
  closesocket(g_wake_tx);
  free(g_sess);
  free(g_polled);
  g_sess = NULL;
  g_polled = NULL;
  g_n = g_cap = 0;
  WSACleanup();
}
