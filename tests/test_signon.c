/* test_signon.c - sign-on on the region server (docs/terminal.md, Signing
 * on): a failed or malformed SIGNON signs the terminal off; the growing
 * delay per connection and per user; lockout and UNLOCK USER; refusals
 * counted in the log instead of a line each; passwords checked off the
 * network thread; the start-up warnings about weak and old hashes (which
 * still work); weftd --hash-password; users of an installed file.
 *
 * weftd.exe runs as a child process as in test_weftd.c (weftd_helpers.h),
 * on tests/data/weftd/bank.wrd.in with the test's REGION attributes and
 * extra lines. Its users (1,000 PBKDF2 iterations): alice/teller1 (TELLER),
 * bob/auditor1, op/operator1 (OPERATOR), carol/clerk1. Lower bounds on
 * delays are asserted (a delay is never shorter than asked); nothing
 * asserts that something is quick. */
#include "weftd_helpers.h"

TestSuite(signon, .timeout = 240.0);

/* A user whose hash takes seconds to check (3,000,000 iterations), and one
 * with an old SHA-256 hash (password old1), computed with Python's hashlib. */
#define SLOW_USER                                                               \
  "USER name=slow hash=pbkdf2-sha256$3000000$5105510551055105a0a1a2a3a4a5a6a7$" \
  "6dbb5daf46fb3864ca7ea4b4d59f6f9e720b283fc55f120aa263bb3d79cda733 groups=TELLER\n"
#define OLD_USER                                             \
  "USER name=olduser salt=01d01d01d01d01d0aabbccddeeff0011 " \
  "hash=4dea90443d795a977ba211b8808e211d956b27c10a71e681a20cbe4aa2123244 groups=TELLER\n"

/* Remove "key=value" (key ends at '=') from the first line of t. */
static void drop_attr(char *t, const char *key, size_t key_len) {
  char *eol = strchr(t, '\n');
  for (char *p = strstr(t, " "); p != NULL && (eol == NULL || p < eol); p = strchr(p + 1, ' '))
    if (strncmp(p + 1, key, key_len) == 0) {
      size_t n = 1 + strcspn(p + 1, " \n");
      memmove(p, p + n, strlen(p + n) + 1);
      return;
    }
}

/* The test's bank.wrd: bank.wrd.in with attrs (replacing those it has)
 * on its REGION line and lines appended. */
static void write_signon_region(const char *attrs, const char *lines) {
  char *t = region_text(NULL);
  for (const char *a = attrs; *a != '\0'; a += strcspn(a, " "), a += strspn(a, " "))
    drop_attr(strstr(t, "REGION "), a, strcspn(a, "=") + 1);
  const char *key = "REGION name=TBANK";
  char *at = strstr(t, key);
  cr_assert_not_null(at, "no '%s' in bank.wrd.in", key);
  size_t off = (size_t)(at - t) + strlen(key);
  size_t len = strlen(t) + strlen(attrs) + strlen(lines) + 2;
  char *n = malloc(len);
  cr_assert_not_null(n);
  snprintf(n, len, "%.*s %s%s%s", (int)off, t, attrs, t + off, lines);
  write_file(g_wrd, n);
  free(n);
  free(t);
}

/* Send line and return how long its screen took, in ms (it must end at
 * %READY). */
static ULONGLONG timed_do(term *t, const char *line) {
  ULONGLONG t0 = GetTickCount64();
  t_do(t, line);
  return GetTickCount64() - t0;
}

/* How often text occurs in s. */
static int count_of(const char *s, const char *text) {
  int n = 0;
  for (const char *p = strstr(s, text); p != NULL; p = strstr(p + 1, text))
    n++;
  return n;
}

/* ------------------------------------------------------------------------ */
/* SIGNON's words and the signed-on user                                     */
/* ------------------------------------------------------------------------ */

Test(signon, failed_or_malformed_signon_signs_off_first) {
  static server s;
  paths_init("signoff");
  write_signon_region("signon_delay_ms=0 max_line=1024", "");
  server_start(&s);
  term *t = t_user("alice", "teller1");
  expect_in(t_do(t, "MENU"), "WEFT SAMPLE BANK");
  /* A wrong password: alice is no longer signed on. */
  expect_in(t_do(t, "SIGNON alice wrong"), "%ERROR SIGNON_FAILED");
  expect_in(t_do(t, "MENU"), "%ERROR SIGNON_REQUIRED");
  /* A word too many is refused, and signs off too. */
  t_signon(t, "alice", "teller1");
  expect_in(t_do(t, "SIGNON alice teller1 extra"),
            "%ERROR SIGNON_FAILED usage: SIGNON <user> <password>");
  expect_in(t_do(t, "MENU"), "%ERROR SIGNON_REQUIRED");
  expect_in(t_do(t, "SIGNON alice"), "%ERROR SIGNON_FAILED usage:");
  /* Blanks around the words are not part of them. */
  expect_in(t_do(t, "SIGNON  alice\tteller1  "), "%SIGNED ON alice\n");
  /* A password longer than any hash can be made for. */
  char line[400];
  snprintf(line, sizeof line, "SIGNON alice %0300d", 7);
  expect_in(t_do(t, line), "%ERROR SIGNON_FAILED the password is longer than 256");
  expect_in(t_do(t, "MENU"), "%ERROR SIGNON_REQUIRED");
  t_free(t);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Delays, lockout, the log                                                  */
/* ------------------------------------------------------------------------ */

/* signon_delay_ms=200: the n-th failure in a row is answered after
 * 200 * 2^(n-1) ms at least, counted per connection and per user. */
Test(signon, delay_grows_per_connection_and_per_user) {
  static server s;
  paths_init("delay");
  write_signon_region("signon_delay_ms=200 signon_lockout=0", "");
  server_start(&s);
  term *a = t_open(g_port);
  ULONGLONG d1 = timed_do(a, "SIGNON alice wrong1");
  ULONGLONG d2 = timed_do(a, "SIGNON alice wrong2");
  ULONGLONG d3 = timed_do(a, "SIGNON alice wrong3");
  cr_expect_geq(d1, 200, "first failure answered after %llu ms", d1);
  cr_expect_geq(d2, 400, "second failure answered after %llu ms", d2);
  cr_expect_geq(d3, 800, "third failure answered after %llu ms", d3);
  /* Per connection: other names (unknown ones) do not start it afresh. */
  term *b = t_open(g_port);
  ULONGLONG e1 = timed_do(b, "SIGNON nobody1 x");
  ULONGLONG e2 = timed_do(b, "SIGNON nobody2 x");
  cr_expect_geq(e1, 200, "%llu ms", e1);
  cr_expect_geq(e2, 400, "%llu ms", e2);
  /* Per user: a new connection for alice waits as her fourth failure. */
  term *c = t_open(g_port);
  ULONGLONG f4 = timed_do(c, "SIGNON alice wrong4");
  cr_expect_geq(f4, 1600, "alice's fourth failure, on a new connection, after %llu ms", f4);
  /* The right password still signs on (lockout=0), and ends the series. */
  expect_in(t_do(c, "SIGNON alice teller1"), "%SIGNED ON alice\n");
  ULONGLONG g1 = timed_do(a, "SIGNON alice wrong5");
  cr_expect_geq(g1, 1600, "a's fourth failure in a row: %llu ms", g1);
  t_free(a);
  t_free(b);
  t_free(c);
  server_stop(&s);
  paths_done();
}

Test(signon, lockout_and_unlock) {
  static server s;
  paths_init("lockout");
  write_signon_region("signon_delay_ms=1 signon_lockout=3", "");
  server_start(&s);
  term *t = t_open(g_port);
  for (int i = 0; i < 3; i++)
    expect_in(t_do(t, "SIGNON alice wrong"), "%ERROR SIGNON_FAILED");
  server_wait_err(&s, "user alice is locked after 3 failed sign-ons in a row", WAIT_MS);
  /* Locked: the right password is refused, with the same answer, on any
   * connection. */
  expect_in(t_do(t, "SIGNON alice teller1"),
            "%ERROR SIGNON_FAILED wrong user or password, or the user is locked\n");
  term *u = t_open(g_port);
  expect_in(t_do(u, "SIGNON alice teller1"), "%ERROR SIGNON_FAILED");
  /* Other users are not locked. */
  t_signon(u, "op", "operator1");
  expect_in(t_do(u, "WEFT UNLOCK USER bob"), "UNLOCK USER bob: not locked (0 failed sign-ons");
  expect_in(t_do(u, "WEFT UNLOCK USER nosuch"), "UNLOCK USER nosuch: no such user");
  expect_in(t_do(u, "WEFT UNLOCK alice"), "UNLOCK what? UNLOCK USER <name>");
  /* The operator unlocks alice on the console. */
  server_console(&s, "UNLOCK USER alice");
  server_wait_out(&s, "UNLOCK USER alice: unlocked (3 failed sign-ons cleared)");
  t_signon(t, "alice", "teller1");
  expect_in(t_do(t, "MENU"), "WEFT SAMPLE BANK");
  t_free(t);
  t_free(u);
  server_stop(&s);
  paths_done();
}

/* Send line on each of the n terminals before reading any answer, then
 * read every one's screen into scr[i] (each must end at %READY). */
static void all_at_once(term **ts, int n, const char *line) {
  char buf[128];
  int len = snprintf(buf, sizeof buf, "%s\n", line);
  for (int i = 0; i < n; i++)
    cr_assert_eq(term_send(ts[i], buf, (size_t)len), 0);
  for (int i = 0; i < n; i++) {
    int e = term_screen(ts[i], WAIT_MS);
    cr_assert_eq(e, E_READY, "terminal %d: the screen ended %s:\n%s", i, end_names[e],
                 ts[i]->scr);
  }
}

/* Many sign-ons of one user at once: the checks in flight count toward
 * the lockout (so that no more than signon_lockout guesses are ever
 * checked for a user at a time), but a sign-on beyond them waits for
 * them instead of being refused. With a limit of 2: four right sign-ons of
 * the slow user (each check takes seconds, so the last two arrive while
 * two are in flight) all succeed, and six wrong ones of bob lock him
 * after exactly 2 failures. */
#define AT_ONCE 6
#define AT_ONCE_SLOW 4
Test(signon, many_signons_of_one_user_at_once) {
  static server s;
  paths_init("at_once");
  write_signon_region("signon_delay_ms=1 signon_lockout=2", SLOW_USER);
  server_start(&s);
  term *ts[AT_ONCE];
  for (int i = 0; i < AT_ONCE; i++)
    ts[i] = t_open(g_port);
  all_at_once(ts, AT_ONCE_SLOW, "SIGNON slow slow1");
  for (int i = 0; i < AT_ONCE_SLOW; i++)
    expect_in(ts[i]->scr, "%SIGNED ON slow\n");
  all_at_once(ts, AT_ONCE, "SIGNON bob wrong");
  for (int i = 0; i < AT_ONCE; i++)
    expect_in(ts[i]->scr, "%ERROR SIGNON_FAILED");
  server_wait_err(&s, "user bob is locked after 2 failed sign-ons in a row", WAIT_MS);
  for (int i = 0; i < AT_ONCE; i++)
    t_free(ts[i]);
  server_stop(&s);
  cr_assert_eq(count_of(server_err(&s), "user bob is locked after"), 1, "%s", server_err(&s));
  paths_done();
}

/* The first refusal is logged; the others in the next 10 s are counted,
 * and the count is logged when the window ends (here: at shutdown). */
Test(signon, refusals_are_counted_not_logged_each) {
  static server s;
  paths_init("logcount");
  write_signon_region("signon_delay_ms=0 signon_lockout=0", "");
  server_start(&s);
  term *t = t_open(g_port);
  for (int i = 0; i < 8; i++)
    expect_in(t_do(t, i % 2 ? "SIGNON mallory x" : "SIGNON alice x"), "%ERROR SIGNON_FAILED");
  t_free(t);
  server_stop(&s);
  const char *err = server_err(&s);
  cr_expect_eq(count_of(err, "sign-on refused for user"), 1, "stderr:\n%s", err);
  cr_expect(strstr(err, "sign-on refused 7 more time(s) in 10 s (the last: terminal ") != NULL,
            "stderr:\n%s", err);
  cr_expect(strstr(err, "user 'mallory')") != NULL, "stderr:\n%s", err);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Where passwords are checked                                               */
/* ------------------------------------------------------------------------ */

/* slow's hash takes seconds; meanwhile another terminal is served, and the
 * slow terminal has no answer yet. */
Test(signon, checking_a_password_does_not_hold_the_network) {
  static server s;
  paths_init("offload");
  write_signon_region("", SLOW_USER);
  server_start(&s);
  term *a = t_user("alice", "teller1");
  term *slow = t_open(g_port);
  cr_assert_eq(term_send(slow, "SIGNON slow slow1\n", 18), 0);
  for (int i = 0; i < 5; i++)
    expect_in(t_do(a, "MENU"), "WEFT SAMPLE BANK");
  term *b = t_user("bob", "auditor1"); /* a sign-on beside it */
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(slow->s, &rd);
  struct timeval zero = {0, 0};
  cr_expect_eq(select(0, &rd, NULL, NULL, &zero), 0,
               "the slow sign-on was answered before the other terminals");
  cr_assert_eq(term_screen(slow, WAIT_MS), E_READY, "%s", slow->scr);
  expect_in(slow->scr, "%SIGNED ON slow\n");
  t_free(a);
  t_free(b);
  t_free(slow);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Hashes                                                                    */
/* ------------------------------------------------------------------------ */

Test(signon, start_warns_about_weak_and_old_hashes_which_still_work) {
  static server s;
  paths_init("warn");
  write_signon_region("", OLD_USER);
  server_start(&s);
  const char *err = server_err(&s);
  cr_expect(strstr(err, "USER alice (") != NULL &&
                strstr(err, "its hash has 1000 PBKDF2 iterations, below the recommended 600000") !=
                    NULL,
            "stderr:\n%s", err);
  cr_expect(strstr(err, "USER olduser (") != NULL && strstr(err, "has an old SHA-256 hash") != NULL,
            "stderr:\n%s", err);
  term *t = t_user("olduser", "old1");
  expect_in(t_do(t, "SIGNON olduser old2"), "%ERROR SIGNON_FAILED");
  t_free(t);
  server_stop(&s);
  paths_done();
}

/* The hash= of weftd --hash-password's output (fails the test if none). */
static const char *hash_of(server *s) {
  static char hash[300];
  const char *out = server_out(s);
  char salt[100] = "", key[100] = "";
  unsigned n = 0;
  cr_assert_eq(sscanf(out, "hash=pbkdf2-sha256$%u$%99[0-9a-f]$%99[0-9a-f]", &n, salt, key), 3,
               "output:\n%s", out);
  cr_expect_eq(strlen(salt), 32, "%s", out);
  cr_expect_eq(strlen(key), 64, "%s", out);
  snprintf(hash, sizeof hash, "pbkdf2-sha256$%u$%s$%s", n, salt, key);
  return hash;
}

/* --hash-password makes hashes (the password as an argument or on stdin);
 * a user installed at run time with one signs on. */
Test(signon, hash_password_and_installed_users) {
  static server s;
  paths_init("hashpw");
  server_spawn(&s, "--hash-password --iterations 1000 new1");
  cr_assert_eq(server_wait(&s, START_MS), 0, "stderr:\n%s", server_err(&s));
  char hash1[300];
  snprintf(hash1, sizeof hash1, "%s", hash_of(&s));
  cr_expect(strncmp(hash1, "pbkdf2-sha256$1000$", 19) == 0, "%s", hash1);
  expect_in(server_err(&s), "1000 iterations is below the recommended 600000");
  /* From stdin. */
  server_spawn(&s, "--hash-password --iterations 1000");
  server_console(&s, "new2");
  cr_assert_eq(server_wait(&s, START_MS), 0, "stderr:\n%s", server_err(&s));
  char hash2[300];
  snprintf(hash2, sizeof hash2, "%s", hash_of(&s));
  /* Refused: a blank in the password, a bad count. */
  server_spawn(&s, "--hash-password \"a b\"");
  cr_expect_eq(server_wait(&s, START_MS), 1);
  expect_in(server_err(&s), "without blanks");
  server_spawn(&s, "--hash-password --iterations 0 x");
  cr_expect_eq(server_wait(&s, START_MS), 1);
  expect_in(server_err(&s), "--iterations takes 1..100000000");

  /* Both hashes in a file installed into the running region. */
  write_signon_region("signon_delay_ms=0", "");
  server_start(&s);
  char path[MAX_PATH], text[1024], cmd[MAX_PATH + 16];
  snprintf(path, sizeof path, "%s\\users.wrd", g_root);
  snprintf(text, sizeof text, "USER name=newbie hash=%s groups=TELLER\nUSER name=newer hash=%s\n",
           hash1, hash2);
  write_file(path, text);
  term *t = t_open(g_port);
  expect_in(t_do(t, "SIGNON newbie new1"), "%ERROR SIGNON_FAILED"); /* not yet */
  snprintf(cmd, sizeof cmd, "INSTALL %s", path);
  server_console(&s, cmd);
  server_wait_out(&s, "users.wrd: installed");
  server_wait_err(&s, "USER newbie (", WAIT_MS); /* its weak hash */
  t_signon(t, "newbie", "new1");
  expect_in(t_do(t, "MENU"), "WEFT SAMPLE BANK");
  t_signon(t, "newer", "new2");
  expect_in(t_do(t, "SIGNON newer new1"), "%ERROR SIGNON_FAILED");
  t_free(t);
  server_stop(&s);
  paths_done();
}
