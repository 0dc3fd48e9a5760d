/* test_weftd_net.c - the region server against clients that hold it or
 * speak it oddly (docs/terminal.md, Clients that misbehave): a client that
 * never reads its output; a slowloris that trickles bytes of a line that
 * never ends; a session that never signs on; many connections from one
 * address; a half-closed client (nc -N); a telnet client's option
 * negotiation. (Output to a client that reads late is not tested here:
 * under Wine a small SO_RCVBUF is not applied, so no test here could fail
 * without the writable-socket wake; see docs/terminal.md.)
 *
 * weftd.exe runs as a child process as in test_weftd.c (weftd_helpers.h),
 * on tests/data/weftd/bank.wrd.in with the test's REGION attributes. Its
 * users (1,000 PBKDF2 iterations): alice/teller1 (TELLER), op/operator1
 * (OPERATOR). Every wait is for a line, a log line or a closed connection,
 * with a deadline. */
#include "weftd_helpers.h"

TestSuite(net, .timeout = 240.0);

/* The test's bank.wrd: bank.wrd.in with o's values and attrs added to its
 * REGION line. */
static void write_net_region(const region_opts *o, const char *attrs) {
  char *t = region_text(o);
  const char *key = "REGION name=TBANK";
  char *at = strstr(t, key);
  cr_assert_not_null(at, "no '%s' in bank.wrd.in", key);
  size_t off = (size_t)(at - t) + strlen(key);
  size_t len = strlen(t) + strlen(attrs) + 2;
  char *n = malloc(len);
  cr_assert_not_null(n);
  snprintf(n, len, "%.*s %s%s", (int)off, t, attrs, t + off);
  write_file(g_wrd, n);
  free(n);
  free(t);
}

/* Connect t from the local address from (NULL: any), with a receive buffer
 * of rcvbuf bytes (0: the default), and read the greeting screen; it must
 * end as want. */
static void t_connect_from(term *t, const char *from, int rcvbuf, int want) {
  memset(t, 0, sizeof *t);
  t->s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  cr_assert_neq(t->s, INVALID_SOCKET, "socket: %d", WSAGetLastError());
  SetHandleInformation((HANDLE)t->s, HANDLE_FLAG_INHERIT, 0);
  if (rcvbuf > 0)
    cr_assert_eq(setsockopt(t->s, SOL_SOCKET, SO_RCVBUF, (const char *)&rcvbuf, sizeof rcvbuf), 0,
                 "SO_RCVBUF: %d", WSAGetLastError());
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  if (from != NULL) {
    cr_assert_eq(inet_pton(AF_INET, from, &a.sin_addr), 1);
    cr_assert_eq(bind(t->s, (struct sockaddr *)&a, sizeof a), 0, "bind %s: %d", from,
                 WSAGetLastError());
  }
  a.sin_port = htons((u_short)g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(t->s, (struct sockaddr *)&a, sizeof a), 0, "connect: %d", WSAGetLastError());
  wp_reader_init(&t->r, t->s);
  int e = term_screen(t, WAIT_MS);
  cr_assert_eq(e, want, "the greeting ended %s, not %s:\n%s", end_names[e], end_names[want],
               t->scr);
}

/* Wait until the server has closed t's connection, reading (and dropping)
 * whatever it still sends; fail after ms. A reset counts as closed. */
static void wait_closed_within(term *t, DWORD ms) {
  ULONGLONG end = GetTickCount64() + ms;
  for (;;) {
    ULONGLONG now = GetTickCount64();
    cr_assert(now < end, "%s: the server did not close the connection within %lu ms", t->termid,
              ms);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(t->s, &rd);
    struct timeval tv = {0, 100000};
    if (select(0, &rd, NULL, NULL, &tv) <= 0)
      continue;
    char buf[4096];
    int n = recv(t->s, buf, sizeof buf, 0);
    if (n <= 0)
      return;
  }
}

/* ------------------------------------------------------------------------ */
/* A client that never reads                                                 */
/* ------------------------------------------------------------------------ */

/* A client with a tiny receive buffer sends lines and never reads their
 * answers. Once its unsent output passes the 1 MiB limit, weftd stops
 * reading its input and closes it at once (it logs so); meanwhile and
 * after, another terminal is served. Before the fix the session stayed
 * open, reading input and running lines, until the client left. */
Test(net, never_reading_client_is_closed) {
  static server s;
  paths_init("noread");
  write_net_region(NULL, "");
  server_start(&s);
  term *a = t_user("alice", "teller1");
  term *h = calloc(1, sizeof *h);
  cr_assert_not_null(h);
  t_connect_from(h, NULL, 2048, E_READY);
  char want[128];
  snprintf(want, sizeof want, "terminal %s does not read its output", h->termid);
  u_long on = 1;
  ioctlsocket(h->s, FIONBIO, &on);
  static char flood[8192];
  for (size_t i = 0; i + 1 < sizeof flood; i += 2)
    memcpy(flood + i, "X\n", 2); /* each answered %ERROR UNKNOWN_TRAN, %READY */
  ULONGLONG end = GetTickCount64() + 90000;
  unsigned long long sent = 0;
  while (strstr(server_err(&s), want) == NULL) {
    cr_assert(GetTickCount64() < end,
              "weftd did not close the client that does not read (%llu bytes sent); stderr:\n%s",
              sent, server_err(&s));
    int n = send(h->s, flood, sizeof flood, 0);
    if (n > 0) {
      sent += (unsigned long long)n;
      continue;
    }
    int e = WSAGetLastError();
    if (e != WSAEWOULDBLOCK)
      break; /* closed (reset) already: the log line follows */
    Sleep(20);
    expect_in(t_do(a, "MENU"), "WEFT SAMPLE BANK");
  }
  server_wait_err(&s, want, WAIT_MS);
  cr_log_info("%llu bytes sent before weftd gave up on the client", sent);
  on = 0;
  ioctlsocket(h->s, FIONBIO, &on);
  wait_closed_within(h, WAIT_MS);
  /* Gone from the region, and the other terminal is served. */
  term *op = t_user("op", "operator1");
  expect_not_in(t_do(op, "WEFT INQ TERMINALS"), h->termid);
  expect_in(t_do(a, "MENU"), "WEFT SAMPLE BANK");
  t_free(h);
  t_free(a);
  t_free(op);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Slowloris                                                                 */
/* ------------------------------------------------------------------------ */

/* idle_timeout=2: a client that sends one byte of a line every 300 ms is
 * idle all the same (only a complete line counts) and gets %BYE idle
 * timeout; before the fix every byte reset the clock and the session
 * stayed as long as the bytes came (8 s here). */
Test(net, idle_timeout_counts_complete_lines_only) {
  static server s;
  paths_init("slowloris");
  region_opts o = {.idle_timeout = 2};
  write_net_region(&o, "");
  server_start(&s);
  term *t = t_open(g_port);
  ULONGLONG t0 = GetTickCount64(), end = t0 + 8000;
  int e = E_TIMEOUT;
  while (e == E_TIMEOUT && GetTickCount64() < end) {
    cr_assert_eq(term_send(t, "I", 1), 0, "send: %d", WSAGetLastError());
    e = term_screen(t, 300);
  }
  ULONGLONG took = GetTickCount64() - t0;
  cr_assert_eq(e, E_BYE, "no %%BYE while bytes trickled for %llu ms (ended %s):\n%s", took,
               end_names[e], t->scr);
  cr_expect_str_eq(t->last, "%BYE idle timeout");
  cr_expect_geq(took, 1500, "closed after %llu ms", took);
  t_wait_closed(t);
  server_wait_err(&s, "idle for 2 s: closed", WAIT_MS);
  t_free(t);
  server_stop(&s);
  paths_done();
}

/* signon_timeout=2: a session that has not signed on 2 s after it
 * connected gets %BYE sign-on timeout; one that signed on stays, and one
 * that signs off has 2 s again. */
Test(net, signon_timeout_closes_sessions_not_signed_on) {
  static server s;
  paths_init("signontimeout");
  write_net_region(NULL, "signon_timeout=2");
  server_start(&s);
  term *a = t_open(g_port);
  ULONGLONG t0 = GetTickCount64();
  term *b = t_user("alice", "teller1");
  cr_assert_eq(term_screen(a, WAIT_MS), E_BYE, "no %%BYE for a session not signed on:\n%s", a->scr);
  cr_expect_str_eq(a->last, "%BYE sign-on timeout");
  cr_expect_geq(GetTickCount64() - t0, 1500, "closed after %llu ms", GetTickCount64() - t0);
  t_wait_closed(a);
  char want[96];
  snprintf(want, sizeof want, "terminal %s: not signed on within 2 s: closed", a->termid);
  server_wait_err(&s, want, WAIT_MS);
  /* b connected before a's timeout and is served after it. */
  expect_in(t_do(b, "MENU"), "WEFT SAMPLE BANK");
  /* Signed off, b has 2 s to sign on again. */
  expect_in(t_do(b, "SIGNOFF"), "%SIGNED OFF");
  t0 = GetTickCount64();
  cr_assert_eq(term_screen(b, WAIT_MS), E_BYE, "no %%BYE after SIGNOFF:\n%s", b->scr);
  cr_expect_str_eq(b->last, "%BYE sign-on timeout");
  cr_expect_geq(GetTickCount64() - t0, 1500, "closed after %llu ms", GetTickCount64() - t0);
  t_free(a);
  t_free(b);
  server_stop(&s);
  paths_done();
}

/* max_per_address=2: a third session from 127.0.0.1 gets %BUSY, while one
 * from 127.0.0.2 gets in; once one leaves, 127.0.0.1 gets in again. */
Test(net, connections_per_address_are_capped) {
  static server s;
  paths_init("peraddr");
  write_net_region(NULL, "max_per_address=2");
  server_start(&s);
  static term a, b, c, d, e;
  t_connect_from(&a, "127.0.0.1", 0, E_READY);
  t_connect_from(&b, "127.0.0.1", 0, E_READY);
  t_connect_from(&c, "127.0.0.1", 0, E_BUSY);
  cr_expect_str_eq(c.last, "%BUSY too many terminals from your address, try again later");
  t_wait_closed(&c);
  term_close(&c);
  t_connect_from(&d, "127.0.0.2", 0, E_READY);
  t_signon(&d, "alice", "teller1");
  expect_in(t_do(&d, "MENU"), "WEFT SAMPLE BANK");
  /* a leaves: its place is free once weftd has seen it go. */
  t_do_end(&a, "QUIT", E_BYE);
  t_wait_closed(&a);
  term_close(&a);
  ULONGLONG end = GetTickCount64() + WAIT_MS;
  for (;;) {
    memset(&e, 0, sizeof e);
    cr_assert_eq(term_connect(&e, g_port), 0);
    int r = term_screen(&e, WAIT_MS);
    if (r == E_READY)
      break;
    cr_assert_eq(r, E_BUSY, "%s", e.scr);
    term_close(&e);
    cr_assert(GetTickCount64() < end, "still BUSY after a terminal of the address quit");
    Sleep(50);
  }
  t_signon(&e, "alice", "teller1");
  term_close(&b);
  term_close(&d);
  term_close(&e);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* A half-closed client                                                      */
/* ------------------------------------------------------------------------ */

/* As nc -N does: the lines, then shutdown(SD_SEND). The complete lines are
 * run and answered, the trailing partial line ("INQ 7" without a line end)
 * is dropped, then %BYE end of input and the close. Before the fix only the
 * greeting came back and the deposit never ran. */
Test(net, half_closed_client_gets_its_complete_lines_answered) {
  static server s;
  paths_init("halfclose");
  write_net_region(NULL, "");
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  long long before = balance_in(t_do(a, "INQ 7"));
  cr_assert_geq(before, 0, "%s", a->scr);
  term *h = calloc(1, sizeof *h);
  cr_assert_not_null(h);
  t_connect_from(h, NULL, 0, E_READY);
  static const char in[] = "SIGNON alice teller1\nDEP 7 1.00\nINQ 7";
  cr_assert_eq(term_send(h, in, sizeof in - 1), 0);
  cr_assert_eq(shutdown(h->s, SD_SEND), 0, "shutdown: %d", WSAGetLastError());
  cr_assert_eq(term_screen(h, WAIT_MS), E_READY, "%s", h->scr);
  cr_expect_str_eq(h->scr, "%SIGNED ON alice\n%READY\n");
  cr_assert_eq(term_screen(h, WAIT_MS), E_READY, "%s", h->scr);
  expect_in(h->scr, "NEW BALANCE");
  cr_expect_eq(balance_in(h->scr), before + 100, "%s", h->scr);
  cr_assert_eq(term_screen(h, WAIT_MS), E_BYE, "after the deposit:\n%s", h->scr);
  cr_expect_str_eq(h->scr, "%BYE end of input\n");
  t_wait_closed(h);
  cr_expect_eq(balance_in(t_do(a, "INQ 7")), before + 100, "%s", a->scr);
  t_free(h);
  t_free(a);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Telnet                                                                    */
/* ------------------------------------------------------------------------ */

/* What PuTTY sends first in telnet mode (WILL NAWS, WILL TSPEED, WILL TTYPE,
 * WILL NEW-ENVIRON, DO ECHO, WILL SGA, DO SGA), then a window-size
 * subnegotiation (NAWS 80x24) split over two sends, with the first line
 * right behind it. weftd refuses each option (DONT for WILL, WONT for DO),
 * drops the subnegotiation, and the line is a clean SIGNON. Before the fix
 * the bytes were part of the line: %ERROR BAD_INPUT. */
Test(net, telnet_negotiation_is_refused_not_taken_as_input) {
  static server s;
  paths_init("telnet");
  write_net_region(NULL, "");
  server_start(&s);
  term *t = t_open(g_port);
  static const char putty[] = "\xFF\xFB\x1F\xFF\xFB\x20\xFF\xFB\x18\xFF\xFB\x27"
                              "\xFF\xFD\x01\xFF\xFB\x03\xFF\xFD\x03"
                              "\xFF\xFA\x1F\x00\x50";
  static const char rest[] = "\x00\x18\xFF\xF0SIGNON alice teller1\r\n";
  cr_assert_eq(term_send(t, putty, sizeof putty - 1), 0);
  cr_assert_eq(term_send(t, rest, sizeof rest - 1), 0);
  cr_assert_eq(term_screen(t, WAIT_MS), E_READY, "%s", t->scr);
  cr_expect_str_eq(t->scr, "\xFF\xFE\x1F\xFF\xFE\x20\xFF\xFE\x18\xFF\xFE\x27"
                           "\xFF\xFC\x01\xFF\xFE\x03\xFF\xFC\x03%SIGNED ON alice\n%READY\n");
  /* IAC IAC is a data byte 0xFF: not printable, the line is refused. */
  expect_in(t_do(t, "MENU \xFF\xFF"), "%ERROR BAD_INPUT");
  /* A command (IAC NOP) inside a line is dropped from it. */
  expect_in(t_do(t, "ME\xFF\xF1NU"), "WEFT SAMPLE BANK");
  t_free(t);
  server_stop(&s);
  paths_done();
}
