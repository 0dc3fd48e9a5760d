/* test_weftd_console.c - the region server's operator commands as the
 * operator types them (docs/operator.md) and its clearer errors (issue 10):
 * INSTALL of a path with blanks (quoted) or too long for Windows, never of
 * a different file; a console line longer than 1,023 characters refused
 * whole, its tail never run as a command of its own (nor a cut WEFT
 * command); commands with missing words or a bad task number answered with
 * what is wrong; a second weftd on the same data directory told that the
 * directory is in use; a directory given as a definition file;
 * receive_timeout bounding a program's own longer receive; and FILE
 * definitions changed between restarts warned about at start.
 *
 * weftd.exe runs as a child process as in test_weftd.c (weftd_helpers.h),
 * on tests/data/weftd/bank.wrd.in. Users: alice/teller1 (TELLER),
 * op/operator1 (OPERATOR). Every wait is for a line, a screen or a process
 * end, with a deadline. */
#include "weftd_helpers.h"

TestSuite(weftd_console, .timeout = 240.0);

/* The test's bank.wrd with `from` replaced by `to` on its REGION line
 * (e.g. "max_line=200" by "max_line=4000 receive_timeout=2"). */
static void write_region_with(const char *from, const char *to) {
  char *t = region_text(NULL);
  char *at = strstr(t, from);
  cr_assert_not_null(at, "no \"%s\" in bank.wrd.in", from);
  size_t off = (size_t)(at - t), fl = strlen(from), tl = strlen(to), len = strlen(t);
  char *n = malloc(len - fl + tl + 1);
  cr_assert_not_null(n);
  memcpy(n, t, off);
  memcpy(n + off, to, tl);
  memcpy(n + off + tl, at + fl, len - off - fl + 1);
  write_file(g_wrd, n);
  free(n);
  free(t);
}

/* A console line of any length (server_console holds 1,023 characters):
 * text and CRLF, in one write. */
static void console_raw(server *s, const char *text) {
  size_t n = strlen(text);
  char *line = malloc(n + 3);
  cr_assert_not_null(line);
  memcpy(line, text, n);
  memcpy(line + n, "\r\n", 3);
  DWORD put = 0;
  cr_assert(WriteFile(s->in_wr, line, (DWORD)(n + 2), &put, NULL) && put == (DWORD)(n + 2),
            "writing to weftd's console: %lu", GetLastError());
  free(line);
}

/* A console command, then its answer (a line holding want) on the console. */
static void console_expect(server *s, const char *cmd, const char *want) {
  server_console(s, cmd);
  server_wait_out(s, want);
}

/* ------------------------------------------------------------------------ */
/* INSTALL paths                                                             */
/* ------------------------------------------------------------------------ */

/* `INSTALL <dir>\my defs.wrd` installed <dir>\my (the words were split at
 * blanks). Now the unquoted path is refused with its usage and nothing is
 * installed; quoted, on the console and in WEFT, it is installed. */
Test(weftd_console, install_a_path_with_blanks) {
  static server s;
  paths_init("cinstall");
  write_region(NULL);
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  term *op = t_user("op", "operator1");
  char path[MAX_PATH], decoy[MAX_PATH], cmd[2 * MAX_PATH], want[2 * MAX_PATH];
  snprintf(path, sizeof path, "%s\\my defs.wrd", g_root);
  snprintf(decoy, sizeof decoy, "%s\\my", g_root);
  write_file(path, "TRANSACTION tranid=BALQ program=INQ groups=TELLER\n");
  write_file(decoy, "TRANSACTION tranid=DECOY program=INQ groups=TELLER\n");

  /* Unquoted: refused, and neither file is installed. */
  snprintf(cmd, sizeof cmd, "INSTALL %s", path);
  console_expect(&s, cmd, "INSTALL: too many words (2 after INSTALL); usage: INSTALL <definition "
                          "file> (quote a path with blanks: INSTALL \"C:\\my defs\\new.wrd\")");
  snprintf(cmd, sizeof cmd, "WEFT INSTALL %s", path);
  const char *scr = t_do(op, cmd);
  expect_in(scr, "INSTALL: too many words (2 after INSTALL)");
  expect_not_in(scr, "installed");
  scr = t_do(op, "WEFT INQ TRANS");
  expect_not_in(scr, "TRAN DECOY");
  expect_not_in(scr, "TRAN BALQ");
  expect_not_in(server_out(&s), "installed");

  /* Quoted on the console: that file. */
  snprintf(cmd, sizeof cmd, "INSTALL \"%s\"", path);
  snprintf(want, sizeof want, "INSTALL %s: installed", path);
  console_expect(&s, cmd, want);
  expect_in(t_do(a, "BALQ 3"), "ACCOUNT 3 ");
  expect_in(t_do(a, "DECOY 3"), "%ERROR UNKNOWN_TRAN");

  /* Quoted in WEFT (from a terminal). */
  snprintf(path, sizeof path, "%s\\more defs.wrd", g_root);
  write_file(path, "TRANSACTION tranid=BALR program=INQ groups=TELLER\n");
  snprintf(cmd, sizeof cmd, "WEFT INSTALL \"%s\"", path);
  snprintf(want, sizeof want, "INSTALL %s: installed\n", path);
  expect_in(t_do(op, cmd), want);
  expect_in(t_do(a, "BALR 4"), "ACCOUNT 4 ");

  /* Quotes that do not close, or text glued to them: refused. */
  snprintf(cmd, sizeof cmd, "WEFT INSTALL \"%s", path);
  expect_in(t_do(op, cmd), "command refused: a quote is not closed");
  snprintf(cmd, sizeof cmd, "WEFT INSTALL \"%s\"x", path);
  expect_in(t_do(op, cmd), "command refused: text right after a closing quote");

  /* A directory where a definition file is expected: said so. */
  snprintf(cmd, sizeof cmd, "WEFT INSTALL \"%s\"", g_root);
  scr = t_do(op, cmd);
  expect_in(scr, "cannot read the file: it is a directory, not a definition file");
  expect_not_in(scr, "Permission denied");
  t_free(a);
  t_free(op);
  server_stop(&s);
  paths_done();
}

/* A path longer than Windows allows was cut at 259 characters, which could
 * name another file: that file was installed. Now the path is refused as
 * too long. */
Test(weftd_console, install_a_path_too_long_installs_nothing) {
  static server s;
  paths_init("clong");
  write_region(NULL);
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  /* cut: a file whose path is exactly 259 characters; the command names
   * it with four more characters. */
  char cut[MAX_PATH + 8], cmd[MAX_PATH + 64];
  int n = snprintf(cut, sizeof cut, "%s\\", g_root);
  cr_assert_lt(n, 200, "the scratch directory's path is too long for this test: %s", g_root);
  memset(cut + n, 'c', (size_t)(259 - n));
  cut[259] = '\0';
  write_file(cut, "TRANSACTION tranid=CUT program=INQ groups=TELLER\n");
  snprintf(cmd, sizeof cmd, "INSTALL %sdddd", cut);
  console_expect(&s, cmd, "the path is longer than Windows allows (259 characters)");
  server_wait_out(&s, "dddd: errors (see above)");
  expect_not_in(server_out(&s), "installed");
  expect_in(t_do(a, "CUT 3"), "%ERROR UNKNOWN_TRAN");
  t_free(a);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Overlong lines                                                            */
/* ------------------------------------------------------------------------ */

/* A console line longer than 1,023 characters ran its tail as a second
 * command (INSTALL + 1,015 x + SET TRAN INQ DISABLED disabled INQ). Now it
 * is refused whole; a line of exactly 1,023 characters still runs. WEFT
 * (on a region whose max_line lets it) refuses a command of more than
 * 1,023 characters instead of running it cut. */
Test(weftd_console, overlong_lines_are_refused_whole) {
  static server s;
  paths_init("coverlong");
  write_region_with("max_line=200", "max_line=4000");
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  term *op = t_user("op", "operator1");

  static char line[2048];
  int n = snprintf(line, sizeof line, "INSTALL ");
  memset(line + n, 'x', 1015);
  snprintf(line + n + 1015, sizeof line - (size_t)n - 1015, "SET TRAN INQ DISABLED");
  console_raw(&s, line);
  server_wait_out(&s, "command refused: the console line is longer than 1023 characters "
                      "(nothing of it was run)");
  /* The console runs one command after another: once the next one has
   * answered, nothing of the long line can still run. */
  console_expect(&s, "SET CLASS STMTS MAXACTIVE 3", "SET CLASS STMTS MAXACTIVE 3: done");
  const char *out = server_out(&s);
  expect_not_in(out, "SET TRAN INQ DISABLED");
  expect_not_in(out, "INSTALL xxx");
  expect_in(t_do(a, "INQ 1"), "ACCOUNT 1 ");
  server_wait_err(&s, "a console line longer than 1023 characters was refused", WAIT_MS);

  /* Exactly 1,023 characters (blanks, then the command): it runs. */
  memset(line, ' ', 1023);
  memcpy(line + 1023 - 30, "SET CLASS STMTS MAXACTIVE 5   ", 30);
  line[1023] = '\0';
  console_raw(&s, line);
  server_wait_out(&s, "SET CLASS STMTS MAXACTIVE 5: done");
  /* 1,024: refused. */
  memset(line, ' ', 1024);
  memcpy(line + 1024 - 27, "SET CLASS STMTS MAXACTIVE 6", 27);
  line[1024] = '\0';
  console_raw(&s, line);
  console_expect(&s, "SET CLASS STMTS MAXACTIVE 7", "SET CLASS STMTS MAXACTIVE 7: done");
  expect_not_in(server_out(&s), "MAXACTIVE 6");

  /* WEFT with a command of 1,024 characters: refused, not cut. */
  memcpy(line, "WEFT ", 5);
  n = 5 + snprintf(line + 5, sizeof line - 5, "SET CLASS STMTS MAXACTIVE 8");
  memset(line + n, ' ', 1029 - (size_t)n - 1);
  line[1028] = 'z'; /* the command is line + 5: 1,024 characters */
  line[1029] = '\0';
  const char *scr = t_do(op, line);
  expect_in(scr, "command refused: longer than 1023 characters");
  expect_not_in(scr, "done");
  expect_in(t_do(op, "WEFT INQ CLASSES"), "CLASS STMTS    MAXACTIVE 7 ");
  t_free(a);
  t_free(op);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Missing words and bad numbers                                             */
/* ------------------------------------------------------------------------ */

/* INSTALL and PURGE without their words answered "unknown command";
 * PURGE TASK -1 answered "no such resource". Now each says what is wrong
 * and how the command goes. */
Test(weftd_console, missing_words_and_bad_numbers_say_what_is_wrong) {
  static server s;
  paths_init("cusage");
  write_region(NULL);
  server_start(&s);
  term *op = t_user("op", "operator1");

  const char *scr = t_do(op, "WEFT INSTALL");
  expect_in(scr, "INSTALL needs a definition file: INSTALL <file>");
  expect_not_in(scr, "unknown command");
  scr = t_do(op, "WEFT PURGE");
  expect_in(scr, "PURGE what? PURGE TASK <number>");
  expect_not_in(scr, "unknown command");
  expect_in(t_do(op, "WEFT PURGE TASK"), "PURGE what? PURGE TASK <number>");
  expect_in(t_do(op, "WEFT PURGE JOB 3"), "PURGE what? PURGE TASK <number>");
  scr = t_do(op, "WEFT PURGE TASK -1");
  expect_in(scr, "PURGE TASK -1 failed: '-1' is not a task number (INQ TASKS lists them)");
  expect_not_in(scr, "no such resource");
  expect_in(t_do(op, "WEFT PURGE TASK 12x"), "'12x' is not a task number");
  expect_in(t_do(op, "WEFT PURGE TASK 99999999999999999999999"), "is not a task number");
  expect_in(t_do(op, "WEFT PURGE TASK 999999"),
            "PURGE TASK 999999 failed: no such task (INQ TASKS lists them)");
  expect_in(t_do(op, "WEFT PURGE TASK 1 2"), "PURGE: too many words (3 after PURGE)");
  expect_in(t_do(op, "WEFT SET CLASS STMTS MAXACTIVE -1"), "SET CLASS STMTS failed");
  expect_in(t_do(op, "WEFT SET TRAN INQ ENABLED NOW"), "SET what?");
  expect_in(t_do(op, "WEFT UNLOCK USER"), "UNLOCK what? UNLOCK USER <name>");
  expect_in(t_do(op, "WEFT INQ"), "INQ what?");
  expect_in(t_do(op, "WEFT INQ TASKS NOW"), "INQ: too many words (2 after INQ)");
  /* A SHUTDOWN with a word it does not know does nothing. */
  expect_in(t_do(op, "WEFT SHUTDOWN NOW"), "SHUTDOWN NOW? nothing done; usage: SHUTDOWN [IMMEDIATE]");
  expect_in(t_do(op, "WEFT INQ TASKS"), "task(s)"); /* still up */

  /* The console says the same. */
  console_expect(&s, "PURGE TASK -1", "PURGE TASK -1 failed: '-1' is not a task number");
  console_expect(&s, "INSTALL", "INSTALL needs a definition file");
  expect_not_in(server_out(&s), "unknown command");
  t_free(op);
  server_stop(&s);
  paths_done();
}

/* ------------------------------------------------------------------------ */
/* Clearer errors at start                                                   */
/* ------------------------------------------------------------------------ */

/* A second weftd on the data directory of a running one: "operating system
 * call failed" before; now the directory is said to be in use (exit 2),
 * and the first region serves on. */
Test(weftd_console, second_weftd_on_the_same_data_dir) {
  static server s, second;
  paths_init("cinuse");
  write_region(NULL);
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  char args[MAX_PATH + 8];
  snprintf(args, sizeof args, "\"%s\"", g_wrd);
  server_spawn(&second, args);
  DWORD code = server_wait(&second, START_MS);
  const char *err = server_err(&second);
  cr_assert_eq(code, 2, "the second weftd exited %lu; stderr:\n%s", code, err);
  char want[MAX_PATH + 64];
  snprintf(want, sizeof want, "its data directory %s is in use by another region", g_data);
  expect_in(err, want);
  expect_not_in(err, "operating system call failed");
  expect_in(t_do(a, "DEP 1 1.00"), "NEW BALANCE");
  t_free(a);
  server_stop(&s);
  paths_done();
}

/* weftd given a directory instead of a definition file: said so, exit 1. */
Test(weftd_console, a_directory_is_not_a_definition_file) {
  static server s;
  paths_init("cdir");
  char args[MAX_PATH + 8];
  snprintf(args, sizeof args, "\"%s\"", g_root);
  server_spawn(&s, args);
  DWORD code = server_wait(&s, START_MS);
  const char *err = server_err(&s);
  cr_assert_eq(code, 1, "weftd exited %lu; stderr:\n%s", code, err);
  expect_in(err, "cannot read the file: it is a directory, not a definition file");
  expect_not_in(err, "Permission denied");
  paths_done();
}

/* receive_timeout=2 bounds the bank's OPEN, which asks for 60 s: it ends
 * with its "no answer" message well before (it waited its own 60 s). */
Test(weftd_console, receive_timeout_bounds_a_longer_program_timeout) {
  static server s;
  paths_init("crecv");
  write_region_with("max_line=200", "max_line=200 receive_timeout=2");
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  t_do_end(a, "OPEN", E_INPUT);
  cr_assert_eq(term_screen(a, 20000), E_READY, "OPEN after receive_timeout=2:\n%s", a->scr);
  expect_in(a->scr, "NO ANSWER IN TIME: OPEN CANCELLED");
  t_free(a);
  server_stop(&s);
  paths_done();
}

/* A FILE definition changed between restarts was accepted silently. Now
 * the start warns, naming the file and what no longer fits: ACCOUNTS with a
 * rec_max below its stored records, BANKCTL with a key_max below its
 * stored keys, HISTORY dropped while it holds records. The records are
 * kept: with the old definitions back, the balance is there. */
Test(weftd_console, changed_file_definitions_are_warned_about) {
  static server s;
  paths_init("cfiles");
  write_region(NULL);
  server_start(&s);
  term *a = t_user("alice", "teller1");
  wait_seeded(a, SEED);
  long long before = balance_in(t_do(a, "DEP 7 1.00"));
  cr_assert_gt(before, 0, "%s", a->scr);
  t_free(a);
  server_stop(&s);
  expect_not_in(server_err(&s), "no longer");

  char *t = region_text(NULL);
  char *acc = strstr(t, "FILE name=ACCOUNTS key_max=8  rec_max=64\n");
  char *his = strstr(t, "FILE name=HISTORY  key_max=16 rec_max=64\n");
  char *ctl = strstr(t, "FILE name=BANKCTL  key_max=8  rec_max=32\n");
  cr_assert(acc && his && ctl, "bank.wrd.in's FILE lines changed:\n%s", t);
  memcpy(acc, "FILE name=ACCOUNTS key_max=8  rec_max=8 ", 40); /* same length */
  memcpy(his, "#", 1);                                         /* dropped */
  memcpy(ctl, "FILE name=BANKCTL  key_max=1  rec_max=32\n", 41);
  /* The port of region_text is new: wait for the region on it. */
  write_file(g_wrd, t);
  free(t);
  server_start(&s);
  const char *err = server_err(&s);
  char want[160];
  snprintf(want, sizeof want, "FILE ACCOUNTS: %u of its %u stored records are longer than rec_max=8",
           SEED, SEED);
  expect_in(err, want);
  expect_in(err, "FILE BANKCTL: 1 of its 1 stored records have keys longer than key_max=1");
  expect_in(err, "FILE HISTORY holds ");
  expect_in(err, " stored records but is not defined: no program can reach them");
  expect_not_in(err, "FILE ACCOUNTS holds"); /* defined: no such warning */
  server_stop(&s);

  /* The old definitions: nothing to warn about, and the records are there. */
  write_region(NULL);
  server_start(&s);
  expect_not_in(server_err(&s), "FILE ");
  a = t_user("alice", "teller1");
  cr_expect_eq(balance_in(t_do(a, "INQ 7")), before, "%s", a->scr);
  t_free(a);
  server_stop(&s);
  paths_done();
}
