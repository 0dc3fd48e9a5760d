/* netbase.c - baseline request/reply servers for the terminal path
 * (issue 11): what the Winsock calls alone cost, with no region behind
 * them. Each answers every request line ("...\n") with one fixed reply line
 * of REPLY_LEN bytes; weftload --raw drives it (scripts/bench-netbase.sh
 * runs every mode at 10, 50 and 200 connections and writes
 * build/bench/netbase.json).
 *
 *   bench_netbase --mode MODE --port P [--threads N] [--max-seconds S]
 *
 * Modes (docs/performance.md, "The terminal path"):
 *   poll     one thread, one WSAPoll over the listener and every socket; a
 *            readable socket is read until WSAEWOULDBLOCK (weftd's design
 *            before issue 11: the baseline of bench-region.sh)
 *   poll1    the same with one recv per readiness report
 *   threads  N threads (default 2), each polling the listener and the
 *            sockets it accepted, one recv per readiness report
 *   iocp     an I/O completion port, N threads (default 1) in
 *            GetQueuedCompletionStatus, overlapped WSARecv/WSASend, with
 *            FILE_SKIP_COMPLETION_PORT_ON_SUCCESS (an operation that
 *            completes at once is handled inline, no completion packet)
 *
 * A connection that sends the line "STOP" ends the process (exit 0): that is
 * how the script stops it; --max-seconds (default 900) ends it anyway.
 * On exit it prints the Winsock calls it made per reply to stdout.
 *
 * Ownership: in the poll modes a connection belongs to the thread that
 * accepted it; in iocp mode to whichever thread holds its one outstanding
 * operation (there is never more than one per connection). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <mswsock.h>
#include <windows.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_LEN 100
#define MAX_CONN 4096
#define MAX_THREADS 16

static char g_reply[REPLY_LEN];
static SOCKET g_listen;
static HANDLE g_port;
static int g_threads = 0;
static enum { M_POLL, M_POLL1, M_THREADS, M_IOCP } g_mode;
/* Calls counted per kind, summed at exit (atomic: several threads). */
static _Atomic long long n_poll, n_recv, n_send, n_gqcs, n_replies;

static void die(const char *what) {
  fprintf(stderr, "bench_netbase: %s failed (error %d)\n", what, WSAGetLastError());
  exit(1);
}

static void finish(void) {
  long long r = n_replies ? n_replies : 1;
  printf("replies %lld; per reply: WSAPoll %.3f recv %.3f send %.3f GQCS %.3f\n", n_replies,
         (double)n_poll / r, (double)n_recv / r, (double)n_send / r, (double)n_gqcs / r);
  fflush(stdout);
  ExitProcess(0);
}

/* Request lines in data[0..n): how many replies are owed; a "STOP" line
 * ends the process (the script sends it in one piece). */
static int requests(const char *data, int n) {
  int lines = 0;
  for (int i = 0; i < n; i++)
    if (data[i] == '\n') {
      lines++;
      if (i >= 4 && memcmp(data + i - 4, "STOP", 4) == 0)
        finish();
    }
  return lines;
}

/* ---- The poll modes ----------------------------------------------------------- */

/* One connection of a poll thread: its unsent output. */
typedef struct pconn {
  SOCKET s;
  char out[8 * REPLY_LEN];
  int out_len;
} pconn;

typedef struct pthr {
  pconn *c[MAX_CONN];
  int n;
  WSAPOLLFD fds[MAX_CONN + 1];
} pthr;

static void nonblocking(SOCKET s) {
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
}

static void pconn_close(pthr *t, int i) {
  closesocket(t->c[i]->s);
  free(t->c[i]);
  t->c[i] = t->c[--t->n];
}

/* Queue `lines` replies and send what the socket takes; false: failed. */
static bool pconn_answer(pconn *c, int lines) {
  for (; lines > 0 && c->out_len + REPLY_LEN <= (int)sizeof c->out; lines--) {
    memcpy(c->out + c->out_len, g_reply, REPLY_LEN);
    c->out_len += REPLY_LEN;
    n_replies++;
  }
  if (c->out_len == 0)
    return true;
  n_send++;
  int k = send(c->s, c->out, c->out_len, 0);
  if (k < 0)
    return WSAGetLastError() == WSAEWOULDBLOCK;
  memmove(c->out, c->out + k, (size_t)(c->out_len - k));
  c->out_len -= k;
  return true;
}

/* Read connection i (once, or until WSAEWOULDBLOCK); false: closed. */
static bool pconn_read(pthr *t, int i, bool until_block) {
  char buf[4096];
  int lines = 0;
  for (;;) {
    n_recv++;
    int k = recv(t->c[i]->s, buf, sizeof buf, 0);
    if (k == 0 || (k < 0 && WSAGetLastError() != WSAEWOULDBLOCK))
      return false;
    if (k > 0)
      lines += requests(buf, k);
    if (k < 0 || !until_block)
      break;
  }
  return pconn_answer(t->c[i], lines);
}

static void poll_accept(pthr *t) {
  for (;;) {
    SOCKET s = accept(g_listen, NULL, NULL);
    if (s == INVALID_SOCKET)
      return;
    pconn *c = calloc(1, sizeof *c);
    if (c == NULL || t->n == MAX_CONN) {
      free(c);
      closesocket(s);
      continue;
    }
    nonblocking(s);
    BOOL on = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on);
    c->s = s;
    t->c[t->n++] = c;
  }
}

static DWORD WINAPI poll_main(void *arg) {
  pthr *t = arg;
  WSAPOLLFD *fds = t->fds;
  for (;;) {
    fds[0] = (WSAPOLLFD){.fd = g_listen, .events = POLLRDNORM};
    for (int i = 0; i < t->n; i++)
      fds[i + 1] = (WSAPOLLFD){.fd = t->c[i]->s,
                               .events = (short)(POLLRDNORM | (t->c[i]->out_len ? POLLWRNORM : 0))};
    int n = t->n;
    n_poll++;
    if (WSAPoll(fds, (ULONG)n + 1, 1000) < 0)
      die("WSAPoll");
    for (int i = n; i-- > 0;) { /* backwards: a close moves the last one */
      short re = fds[i + 1].revents;
      bool ok = true;
      if (re & (POLLRDNORM | POLLHUP | POLLERR))
        ok = pconn_read(t, i, g_mode == M_POLL);
      else if (re & POLLWRNORM)
        ok = pconn_answer(t->c[i], 0);
      if (!ok)
        pconn_close(t, i);
    }
    if (fds[0].revents & POLLRDNORM)
      poll_accept(t);
  }
  return 0;
}

/* ---- The completion port mode --------------------------------------------------- */

typedef struct iconn {
  OVERLAPPED ov;
  SOCKET s;
  bool sending;
  WSABUF wb;
  char buf[4096];
  char out[8 * REPLY_LEN];
} iconn;

static void iconn_close(iconn *c) {
  closesocket(c->s);
  free(c);
}

/* Start the next operation of c and handle those that complete at once
 * (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: no packet then). n: the bytes
 * the operation that just completed moved. */
static void iconn_step(iconn *c, DWORD n) {
  for (;;) {
    DWORD flags = 0, got = 0;
    int rc;
    if (!c->sending) { /* a receive completed with n bytes */
      if (n == 0) {
        iconn_close(c);
        return;
      }
      int lines = requests(c->buf, (int)n);
      if (lines > 8)
        lines = 8;
      if (lines > 0) {
        for (int i = 0; i < lines; i++)
          memcpy(c->out + i * REPLY_LEN, g_reply, REPLY_LEN);
        n_replies += lines;
        c->sending = true;
        c->wb = (WSABUF){(ULONG)(lines * REPLY_LEN), c->out};
        memset(&c->ov, 0, sizeof c->ov);
        n_send++;
        rc = WSASend(c->s, &c->wb, 1, &got, 0, &c->ov, NULL);
      } else {
        goto receive;
      }
    } else { /* a send completed: receive again */
      c->sending = false;
    receive:
      c->wb = (WSABUF){sizeof c->buf, c->buf};
      memset(&c->ov, 0, sizeof c->ov);
      n_recv++;
      rc = WSARecv(c->s, &c->wb, 1, &got, &flags, &c->ov, NULL);
    }
    if (rc == 0) {
      n = got; /* done at once: no completion packet */
      continue;
    }
    if (WSAGetLastError() == WSA_IO_PENDING)
      return;
    iconn_close(c);
    return;
  }
}

static DWORD WINAPI iocp_main(void *arg) {
  (void)arg;
  for (;;) {
    DWORD n;
    ULONG_PTR key;
    OVERLAPPED *ov;
    n_gqcs++;
    BOOL ok = GetQueuedCompletionStatus(g_port, &n, &key, &ov, INFINITE);
    if (ov == NULL)
      die("GetQueuedCompletionStatus");
    iconn *c = (iconn *)ov;
    if (!ok) {
      iconn_close(c);
      continue;
    }
    iconn_step(c, n);
  }
  return 0;
}

/* Blocking accepts on their own thread: each connection joins the port
 * and posts its first receive. */
static DWORD WINAPI iocp_accept(void *arg) {
  (void)arg;
  for (;;) {
    SOCKET s = accept(g_listen, NULL, NULL);
    if (s == INVALID_SOCKET)
      continue;
    BOOL on = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on);
    iconn *c = calloc(1, sizeof *c);
    if (c == NULL || CreateIoCompletionPort((HANDLE)s, g_port, 0, 0) == NULL) {
      free(c);
      closesocket(s);
      continue;
    }
    SetFileCompletionNotificationModes((HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
    c->s = s;
    c->sending = true; /* "a send completed": the step posts the receive */
    iconn_step(c, 0);
  }
  return 0;
}

/* ---- Start ------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr, "usage: bench_netbase --mode poll|poll1|threads|iocp --port P [--threads N] "
                  "[--max-seconds S]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *mode = NULL;
  int port = 0, max_s = 900;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mode"))
      mode = argv[i + 1];
    else if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      g_threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-seconds"))
      max_s = atoi(argv[i + 1]);
    else
      usage();
  }
  if (mode == NULL || port <= 0 || port > 65535 || g_threads < 0 || g_threads > MAX_THREADS)
    usage();
  if (!strcmp(mode, "poll"))
    g_mode = M_POLL;
  else if (!strcmp(mode, "poll1"))
    g_mode = M_POLL1;
  else if (!strcmp(mode, "threads"))
    g_mode = M_THREADS;
  else if (!strcmp(mode, "iocp"))
    g_mode = M_IOCP;
  else
    usage();
  if (g_threads == 0)
    g_threads = g_mode == M_THREADS ? 2 : 1;
  if (g_mode == M_POLL || g_mode == M_POLL1)
    g_threads = 1;
  memset(g_reply, 'x', REPLY_LEN);
  memcpy(g_reply, "OK reply of the baseline server ", 32);
  g_reply[REPLY_LEN - 2] = '\r';
  g_reply[REPLY_LEN - 1] = '\n';

  WSADATA d;
  if (WSAStartup(MAKEWORD(2, 2), &d) != 0)
    die("WSAStartup");
  g_listen = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((u_short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (g_listen == INVALID_SOCKET || bind(g_listen, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(g_listen, SOMAXCONN) != 0)
    die("listen");
  if (g_mode == M_IOCP) {
    g_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, (DWORD)g_threads);
    if (g_port == NULL)
      die("CreateIoCompletionPort");
    for (int i = 0; i < g_threads; i++)
      if (CreateThread(NULL, 0, iocp_main, NULL, 0, NULL) == NULL)
        die("CreateThread");
    if (CreateThread(NULL, 0, iocp_accept, NULL, 0, NULL) == NULL)
      die("CreateThread");
  } else {
    nonblocking(g_listen);
    for (int i = 0; i < g_threads; i++) {
      pthr *t = calloc(1, sizeof *t);
      if (t == NULL || CreateThread(NULL, 0, poll_main, t, 0, NULL) == NULL)
        die("CreateThread");
    }
  }
  printf("listening on 127.0.0.1:%d, mode %s, %d thread(s)\n", port, mode, g_threads);
  fflush(stdout);
  Sleep((DWORD)max_s * 1000u);
  fprintf(stderr, "bench_netbase: --max-seconds %d passed\n", max_s);
  finish();
  return 0;
}
