/* test_weftdlog.c - weftd when its region's log cannot be written
 * (docs/operator.md): it says so, tells its terminals, writes no clean
 * checkpoint and exits with status 4; started again, it recovers.
 *
 * weftd.exe runs as a child process (weftd_helpers.h) from build/hooked,
 * next to the test build of weft.dll (weft_hooked), whose fault point
 * log-error (WEFT_CRASH) fails a write of the log writer as a full disk
 * would. The shipped weft.dll has no such point. */
#include "weftd_helpers.h"

TestSuite(weftdlog, .timeout = 240.0);

/* weftd from build/hooked (set after paths_init). */
static void use_hooked_weftd(void) {
  snprintf(g_weftd_dir, sizeof g_weftd_dir, "%s\\..\\hooked", g_bin);
}

/* Send line, then read screens until the server says %BYE or closes the
 * connection; everything it sent. */
static const char *do_until_bye(term *t, const char *line) {
  static char all[16384];
  char buf[256];
  int n = snprintf(buf, sizeof buf, "%s\n", line);
  cr_assert_eq(term_send(t, buf, (size_t)n), 0, "send failed: %d", WSAGetLastError());
  all[0] = 0;
  for (;;) {
    int e = term_screen(t, WAIT_MS);
    strncat(all, t->scr, sizeof all - strlen(all) - 1);
    cr_assert_neq(e, E_TIMEOUT, "no %%BYE within %u ms; the terminal got:\n%s", WAIT_MS, all);
    if (e == E_BYE || e == E_CLOSED)
      return all;
  }
}

/* The first run seeds the bank and shuts down cleanly; the second fails
 * its first log write (a deposit): weftd stops with status 4; the third
 * recovers and serves again. */
Test(weftdlog, log_failure_stops_weftd_with_status_4) {
  static server s;
  paths_init("logfail");
  use_hooked_weftd();
  write_region(NULL);
  server_start(&s);
  term *t = t_user("alice", "teller1");
  wait_seeded(t, SEED);
  t_free(t);
  server_stop(&s);

  /* The seed is done: the deposit makes the log writer's first write. */
  SetEnvironmentVariableA("WEFT_CRASH", "log-error:1");
  server_start(&s);
  SetEnvironmentVariableA("WEFT_CRASH", NULL);
  t = t_user("alice", "teller1");
  const char *all = do_until_bye(t, "DEP 7 1.00");
  expect_in(all, "%BYE the region has stopped: its log could not be written");
  t_free(t);
  DWORD code = server_wait(&s, STOP_MS);
  const char *err = server_err(&s);
  cr_assert_eq(code, 4, "weftd exited %lu after the log failure; stderr:\n%s", code, err);
  cr_assert(strstr(err, "the region has stopped serving") != NULL, "stderr:\n%s", err);
  cr_assert(strstr(err, "no clean checkpoint written") != NULL, "stderr:\n%s", err);

  server_start(&s);
  cr_assert(strstr(server_err(&s), "restart recovery from checkpoint") != NULL, "stderr:\n%s",
            server_err(&s));
  t = t_user("alice", "teller1");
  expect_in(t_do(t, "INQ 7"), "ACCOUNT 7 ");
  t_free(t);
  server_stop(&s);
  paths_done();
}
