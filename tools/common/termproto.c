/* The client side of the Weft terminal protocol: see termproto.h. */
#include "termproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Matches control word w at the start of s (after the '%'): the word must
 * end at a blank or at the end of the line. */
static int ctl_word(const char *s, const char *w, const char **rest) {
  size_t n = strlen(w);
  if (strncmp(s, w, n) != 0)
    return 0;
  if (s[n] != '\0' && s[n] != ' ' && s[n] != '\t')
    return 0;
  s += n;
  while (*s == ' ' || *s == '\t')
    s++;
  *rest = s;
  return 1;
}

wp_kind wp_classify(const char *line, const char **text) {
  const char *rest;
  if (line[0] != '%') {
    *text = line;
    return WP_TEXT;
  }
  if (line[1] == '%') {
    *text = line + 1;
    return WP_TEXT;
  }
  const char *c = line + 1;
  if (ctl_word(c, "READY", &rest)) {
    *text = rest;
    return WP_READY;
  }
  if (ctl_word(c, "NEXT", &rest)) {
    *text = rest;
    return WP_NEXT;
  }
  if (ctl_word(c, "INPUT", &rest)) {
    *text = rest;
    return WP_INPUT;
  }
  if (ctl_word(c, "ERROR", &rest)) {
    *text = rest;
    return WP_ERROR;
  }
  if (ctl_word(c, "SIGNED", &rest)) {
    *text = rest;
    return WP_SIGNED;
  }
  if (ctl_word(c, "BYE", &rest)) {
    *text = rest;
    return WP_BYE;
  }
  if (ctl_word(c, "BUSY", &rest)) {
    *text = rest;
    return WP_BUSY;
  }
  if (ctl_word(c, "WEFT", &rest)) {
    *text = rest;
    return WP_GREETING;
  }
  *text = c;
  return WP_CONTROL;
}

int wp_is_prompt(wp_kind k) {
  return k == WP_READY || k == WP_NEXT || k == WP_INPUT;
}

int wp_net_init(void) {
  static int done;
  if (done)
    return 0;
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
    return -1;
  done = 1;
  return 0;
}

const char *wp_strerror(int code) {
  static __thread char buf[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)code, 0, buf, sizeof buf, NULL);
  while (n > 0 &&
         (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '.'))
    buf[--n] = '\0';
  if (n == 0)
    snprintf(buf, sizeof buf, "error %d", code);
  else
    snprintf(buf + n, sizeof buf - n, " (%d)", code);
  return buf;
}

SOCKET wp_connect(const char *host, const char *port, char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL, *ai;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", host, wp_strerror(rc));
    WSASetLastError(rc);
    return INVALID_SOCKET;
  }
  SOCKET s = INVALID_SOCKET;
  int last = 0;
  for (ai = res; ai; ai = ai->ai_next) {
    s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (s == INVALID_SOCKET) {
      last = WSAGetLastError();
      continue;
    }
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) == 0)
      break;
    last = WSAGetLastError();
    closesocket(s);
    s = INVALID_SOCKET;
  }
  freeaddrinfo(res);
  if (s == INVALID_SOCKET) {
    snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, wp_strerror(last));
    WSASetLastError(last);
    return INVALID_SOCKET;
  }
  BOOL one = TRUE;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  return s;
}

int wp_send(SOCKET s, const void *data, size_t len) {
  const char *p = data;
  size_t off = 0;
  while (off < len) {
    int k = send(s, p + off, (int)(len - off), 0);
    if (k == SOCKET_ERROR)
      return -1;
    off += (size_t)k;
  }
  return 0;
}

/* The text and its LF go out in one send (one segment with TCP_NODELAY). */
int wp_send_line(SOCKET s, const char *text) {
  size_t n = strlen(text);
  char small[1024];
  char *p = n + 1 <= sizeof small ? small : malloc(n + 1);
  if (!p)
    return -1;
  memcpy(p, text, n);
  p[n] = '\n';
  int rc = wp_send(s, p, n + 1);
  if (p != small)
    free(p);
  return rc;
}

void wp_reader_init(wp_reader *r, SOCKET s) {
  r->s = s;
  r->start = r->end = 0;
  r->len = 0;
  r->partial = 0;
  r->cap = 256;
  r->line = malloc(r->cap);
  if (r->line)
    r->line[0] = '\0';
}

void wp_reader_free(wp_reader *r) {
  free(r->line);
  r->line = NULL;
  r->cap = r->len = 0;
}

static int append(wp_reader *r, const char *p, size_t n) {
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 256;
    while (r->len + n + 1 > cap)
      cap *= 2;
    char *q = realloc(r->line, cap);
    if (!q)
      return -1;
    r->line = q;
    r->cap = cap;
  }
  memcpy(r->line + r->len, p, n);
  r->len += n;
  r->line[r->len] = '\0';
  return 0;
}

int wp_read_line(wp_reader *r, int timeout_ms) {
  ULONGLONG deadline = timeout_ms > 0 ? GetTickCount64() + (ULONGLONG)timeout_ms : GetTickCount64();
  if (!r->line)
    return WP_ERR;
  if (!r->partial) {
    r->len = 0;
    r->line[0] = '\0';
  }
  for (;;) {
    if (r->start < r->end) {
      char *b = r->buf + r->start;
      size_t avail = r->end - r->start;
      char *nl = memchr(b, '\n', avail);
      size_t take = nl ? (size_t)(nl - b) : avail;
      if (append(r, b, take) != 0)
        return WP_ERR;
      r->start += take + (nl ? 1 : 0);
      if (nl) {
        if (r->len > 0 && r->line[r->len - 1] == '\r')
          r->line[--r->len] = '\0';
        r->partial = 0;
        return WP_LINE;
      }
      r->partial = 1;
    }
    r->start = r->end = 0;
    if (timeout_ms >= 0 && timeout_ms != WP_SOCKTIMEO) {
      ULONGLONG now = GetTickCount64();
      long left = now >= deadline ? 0 : (long)(deadline - now);
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(r->s, &rd);
      struct timeval tv = {left / 1000, (left % 1000) * 1000};
      int k = select(0, &rd, NULL, NULL, &tv);
      if (k == SOCKET_ERROR)
        return WP_ERR;
      if (k == 0)
        return WP_TIMEOUT;
    }
    int k = recv(r->s, r->buf, (int)sizeof r->buf, 0);
    if (k == 0) {
      r->partial = 0; /* a partial last line is dropped */
      return WP_EOF;
    }
    if (k == SOCKET_ERROR) {
      int e = WSAGetLastError();
      if (e == WSAETIMEDOUT && timeout_ms == WP_SOCKTIMEO)
        return WP_TIMEOUT;
      if (e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAESHUTDOWN) {
        r->partial = 0;
        return WP_EOF;
      }
      return WP_ERR;
    }
    r->end = (size_t)k;
  }
}

int wp_set_recv_timeout(wp_reader *r, int ms) {
  DWORD v = (DWORD)ms;
  return setsockopt(r->s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&v, sizeof v) == 0 ? 0 : -1;
}

double wp_now(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER c;
  if (freq.QuadPart == 0)
    QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&c);
  return (double)c.QuadPart / (double)freq.QuadPart;
}
