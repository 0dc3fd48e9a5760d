/* test_termproto.c - the client side of the terminal protocol
 * (tools/common/termproto.h), which weftterm, weftload and the weftd tests
 * share: classifying the server's lines, reading lines from a socket
 * (line ends, lines split across packets, timeouts, the end of the
 * connection), sending, and connecting.
 *
 * Every test talks to itself over loopback: a listening socket of its own
 * plays the server. Nothing waits on time except the reader's timeouts,
 * which are asserted only where nothing can arrive. */
#include "termproto.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A connection to ourselves: c is the client end (from wp_connect), srv
 * the server end (accepted). */
typedef struct pair {
  SOCKET c, srv;
  wp_reader r; /* reads c */
} pair;

/* A listening socket on a free loopback port; its port as text. */
static SOCKET listen_any(char *port, size_t len) {
  SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  cr_assert_neq(l, INVALID_SOCKET, "socket: %d", WSAGetLastError());
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int alen = sizeof a;
  cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0, "bind: %d", WSAGetLastError());
  cr_assert_eq(listen(l, 1), 0, "listen: %d", WSAGetLastError());
  cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &alen), 0);
  snprintf(port, len, "%d", ntohs(a.sin_port));
  return l;
}

static void pair_open(pair *p) {
  cr_assert_eq(wp_net_init(), 0, "WSAStartup");
  char port[16], err[256];
  SOCKET l = listen_any(port, sizeof port);
  p->c = wp_connect("127.0.0.1", port, err, sizeof err);
  cr_assert_neq(p->c, INVALID_SOCKET, "%s", err);
  p->srv = accept(l, NULL, NULL);
  cr_assert_neq(p->srv, INVALID_SOCKET, "accept: %d", WSAGetLastError());
  closesocket(l);
  wp_reader_init(&p->r, p->c);
  cr_assert_not_null(p->r.line);
}

static void pair_close(pair *p) {
  wp_reader_free(&p->r);
  closesocket(p->c);
  closesocket(p->srv);
}

/* The server sends text as it is. */
static void srv_send(pair *p, const char *text) {
  cr_assert_eq(wp_send(p->srv, text, strlen(text)), 0, "send: %d", WSAGetLastError());
}

/* The next line must be want. */
static void expect_line(pair *p, const char *want) {
  int rc = wp_read_line(&p->r, 30000);
  cr_assert_eq(rc, WP_LINE, "expected the line \"%s\", got %d", want, rc);
  cr_assert_str_eq(p->r.line, want);
}

/* ---- classifying lines -------------------------------------------------- */

Test(termproto, classify_names_each_kind_and_its_text) {
  static const struct {
    const char *line;
    wp_kind kind;
    const char *text;
  } cases[] = {
      {"ACCOUNT 1", WP_TEXT, "ACCOUNT 1"},
      {"%%READY", WP_TEXT, "%READY"},
      {"%WEFT TBANK TERMINAL T0001", WP_GREETING, "TBANK TERMINAL T0001"},
      {"%READY", WP_READY, ""},
      {"%NEXT STMT", WP_NEXT, "STMT"},
      {"%INPUT", WP_INPUT, ""},
      {"%ERROR BAD_INPUT no such transaction", WP_ERROR, "BAD_INPUT no such transaction"},
      {"%SIGNED ON alice", WP_SIGNED, "ON alice"},
      {"%BYE idle timeout", WP_BYE, "idle timeout"},
      {"%BUSY too many terminals", WP_BUSY, "too many terminals"},
      {"%READYX", WP_CONTROL, "READYX"},
      {"%NEXT \t STMT", WP_NEXT, "STMT"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *text = NULL;
    wp_kind k = wp_classify(cases[i].line, &text);
    cr_expect_eq(k, cases[i].kind, "\"%s\": kind %d, not %d", cases[i].line, k, cases[i].kind);
    cr_expect_str_eq(text, cases[i].text, "\"%s\"", cases[i].line);
  }
  cr_expect(wp_is_prompt(WP_READY) && wp_is_prompt(WP_NEXT) && wp_is_prompt(WP_INPUT));
  cr_expect(!wp_is_prompt(WP_BYE) && !wp_is_prompt(WP_BUSY) && !wp_is_prompt(WP_TEXT));
}

/* ---- reading lines ------------------------------------------------------ */

Test(termproto, reads_lf_and_crlf_lines_from_one_packet) {
  static pair p;
  pair_open(&p);
  srv_send(&p, "one\r\ntwo\n\r\nthree\n");
  expect_line(&p, "one");
  expect_line(&p, "two");
  expect_line(&p, "");
  expect_line(&p, "three");
  pair_close(&p);
}

/* A line that has not ended yet times out and is kept: the rest completes
 * it. */
Test(termproto, a_partial_line_survives_a_timeout) {
  static pair p;
  pair_open(&p);
  srv_send(&p, "BALANCE 1");
  cr_assert_eq(wp_read_line(&p.r, 50), WP_TIMEOUT);
  cr_assert_eq(wp_read_line(&p.r, 0), WP_TIMEOUT);
  srv_send(&p, "2.50\r\n%READY\n");
  expect_line(&p, "BALANCE 12.50");
  expect_line(&p, "%READY");
  pair_close(&p);
}

/* A line longer than the reader's buffer arrives whole. */
Test(termproto, reads_a_line_longer_than_its_buffer) {
  static pair p;
  static char big[2 * sizeof p.r.buf + 2];
  pair_open(&p);
  memset(big, 'x', sizeof big - 2);
  big[sizeof big - 2] = '\n';
  big[sizeof big - 1] = 0;
  srv_send(&p, big);
  srv_send(&p, "after\n");
  cr_assert_eq(wp_read_line(&p.r, 30000), WP_LINE);
  cr_assert_eq(strlen(p.r.line), sizeof big - 2);
  cr_assert_eq(strspn(p.r.line, "x"), sizeof big - 2);
  expect_line(&p, "after");
  pair_close(&p);
}

/* The server closes: the lines it sent are read, then WP_EOF; a last line
 * without its end is dropped. */
Test(termproto, end_of_connection_after_the_lines) {
  static pair p;
  pair_open(&p);
  srv_send(&p, "%BYE goodbye\nunended");
  closesocket(p.srv);
  p.srv = INVALID_SOCKET;
  expect_line(&p, "%BYE goodbye");
  cr_assert_eq(wp_read_line(&p.r, 30000), WP_EOF);
  pair_close(&p);
}

/* ---- sending ------------------------------------------------------------ */

/* wp_send sends its bytes as they are (a NUL, no line end added);
 * wp_send_line adds one LF. */
Test(termproto, send_is_raw_and_send_line_adds_lf) {
  static pair p;
  pair_open(&p);
  static const char raw[] = "A\0B\nC";
  cr_assert_eq(wp_send(p.c, raw, sizeof raw - 1), 0);
  cr_assert_eq(wp_send_line(p.c, "INQ 1"), 0);
  static const char want[] = "A\0B\nCINQ 1\n";
  char got[sizeof want];
  size_t n = 0;
  while (n < sizeof want - 1) {
    int k = recv(p.srv, got + n, (int)(sizeof want - 1 - n), 0);
    cr_assert_gt(k, 0, "recv: %d", WSAGetLastError());
    n += (size_t)k;
  }
  cr_assert_eq(memcmp(got, want, sizeof want - 1), 0);
  pair_close(&p);
}

/* ---- connecting --------------------------------------------------------- */

/* A connection's socket is not inherited by child processes (so that
 * closing it closes the connection while children run). */
Test(termproto, the_socket_is_not_inherited) {
  static pair p;
  pair_open(&p);
  DWORD flags = 0;
  cr_assert(GetHandleInformation((HANDLE)p.c, &flags), "GetHandleInformation: %lu", GetLastError());
  cr_assert_eq(flags & HANDLE_FLAG_INHERIT, 0);
  pair_close(&p);
}

/* Nobody listens: INVALID_SOCKET, a message that names the address, and
 * the Winsock error in WSAGetLastError. */
Test(termproto, a_refused_connection_says_why) {
  cr_assert_eq(wp_net_init(), 0, "WSAStartup");
  char port[16], err[256], want[64];
  SOCKET l = listen_any(port, sizeof port);
  closesocket(l); /* the port is free again, and nobody listens */
  SOCKET s = wp_connect("127.0.0.1", port, err, sizeof err);
  int e = WSAGetLastError();
  cr_assert_eq(s, INVALID_SOCKET);
  cr_assert_eq(e, WSAECONNREFUSED, "WSAGetLastError %d: %s", e, err);
  snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%s: ", port);
  cr_assert(strncmp(err, want, strlen(want)) == 0, "%s", err);
}
