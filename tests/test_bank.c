/* test_bank.c - the sample bank (samples/bank, bank.dll) driven through
 * terminals, without the region server: the test loads the programs with
 * weft_program_load, defines the files and transactions itself and plays
 * the server's part of docs/terminal.md: it starts each transaction on a
 * weft_terminal, feeds weft_receive with weft_terminal_input, and continues
 * a pseudo-conversation with the next tranid and COMMAREA its ended
 * callback reported. Assertions are on the screens (the lines sent).
 *
 * bank.dll links weft.dll, so this test does too (WEFT_TEST_LIB_bank). */
#include "helpers.h"

#include <stdlib.h>

TestSuite(bank, .timeout = TH_TEST_TIMEOUT);

#define BANKDLL "bank.dll"
#define SEEDED 1000 /* accounts BSED makes by default */
#define OUT_MAX 65536
#define CA_MAX 256
#define TERMS 9

/* ------------------------------------------------------------------------ */
/* A capturing terminal                                                      */
/* ------------------------------------------------------------------------ */

typedef struct term {
  weft_terminal *wt;
  SRWLOCK lock;      /* guards out, len and the end fields */
  char out[OUT_MAX]; /* the lines sent since the last start, '\n' ended */
  size_t len;
  atomic_int overflow;          /* output did not fit */
  atomic_int receiving;         /* receiving callbacks since the last start */
  atomic_int ended;             /* ended callbacks since the last start */
  char abcode[8];               /* of the last ended task */
  char next[WEFT_NAME_MAX + 1]; /* its next tranid ("" none) */
  unsigned char ca[CA_MAX];     /* ... and COMMAREA */
  size_t ca_len;
  long abends; /* tasks that ended with an abend (driver use) */
} term;

static term g_term[TERMS];
static weft_region *g_region;

static int cb_send(void *ctx, const void *data, size_t len) {
  term *tm = ctx;
  AcquireSRWLockExclusive(&tm->lock);
  if (tm->len + len + 2 > sizeof tm->out) {
    atomic_store(&tm->overflow, 1);
  } else {
    memcpy(tm->out + tm->len, data, len);
    tm->len += len;
    if (len == 0 || ((const char *)data)[len - 1] != '\n')
      tm->out[tm->len++] = '\n';
    tm->out[tm->len] = 0;
  }
  ReleaseSRWLockExclusive(&tm->lock);
  return 0;
}

static void cb_receiving(void *ctx) {
  term *tm = ctx;
  atomic_fetch_add(&tm->receiving, 1);
}

static void cb_ended(void *ctx, const weft_task_end *e) {
  term *tm = ctx;
  AcquireSRWLockExclusive(&tm->lock);
  snprintf(tm->abcode, sizeof tm->abcode, "%s", e->abcode ? e->abcode : "?");
  snprintf(tm->next, sizeof tm->next, "%s", e->next_tranid ? e->next_tranid : "");
  /* The COMMAREA goes with a next tranid only. */
  tm->ca_len = e->next_tranid && e->commarea_len <= CA_MAX ? e->commarea_len : 0;
  if (tm->ca_len)
    memcpy(tm->ca, e->commarea, tm->ca_len);
  if (e->abcode && e->abcode[0])
    tm->abends++;
  ReleaseSRWLockExclusive(&tm->lock);
  atomic_fetch_add(&tm->ended, 1);
}

static const weft_terminal_ops g_ops = {cb_send, cb_receiving, cb_ended};

/* Terminal i of the region, "T000<i>". */
static term *term_open(int i) {
  term *tm = &g_term[i];
  char id[16];
  snprintf(id, sizeof id, "T%04d", i);
  InitializeSRWLock(&tm->lock);
  int rc = weft_terminal_create(g_region, id, &g_ops, tm, &tm->wt);
  cr_assert_eq(rc, 0, "weft_terminal_create: %s", weft_err_name(rc));
  return tm;
}

/* Clear the screen and the end facts before a start. */
static void term_reset(term *tm) {
  AcquireSRWLockExclusive(&tm->lock);
  tm->len = 0;
  tm->out[0] = 0;
  tm->abcode[0] = 0;
  ReleaseSRWLockExclusive(&tm->lock);
  atomic_store(&tm->receiving, 0);
  atomic_store(&tm->ended, 0);
}

/* Start tranid on the terminal with input as its start data and
 * (for a pseudo-conversation) a COMMAREA, signed on as user. Returns the
 * weft_start code. */
static int term_start(term *tm, const char *tranid, const void *input, size_t len, const void *ca,
                      size_t ca_len, const char *user) {
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.terminal = tm->wt;
  o.commarea = ca;
  o.commarea_len = ca_len;
  o.userid = user;
  term_reset(tm);
  return weft_start(g_region, tranid, input, len, &o, NULL);
}

/* Run one transaction to its end and return its screen. */
static const char *run_as(term *tm, const char *user, const char *tranid, const char *input) {
  int rc = term_start(tm, tranid, input, strlen(input), NULL, 0, user);
  cr_assert_eq(rc, 0, "weft_start(%s %s): %s", tranid, input, weft_err_name(rc));
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "", "%s %s abended %s:\n%s", tranid, input, tm->abcode, tm->out);
  cr_assert_eq(atomic_load(&tm->overflow), 0);
  return tm->out;
}

static const char *run(term *tm, const char *tranid, const char *input) {
  return run_as(tm, "alice", tranid, input);
}

/* Continue a pseudo-conversation: the next tranid the last task named,
 * with this input line and the saved COMMAREA. */
static const char *run_next(term *tm, const char *input) {
  char tranid[WEFT_NAME_MAX + 1];
  unsigned char ca[CA_MAX];
  size_t ca_len = tm->ca_len;
  cr_assert_neq(tm->next[0], 0, "no pseudo-conversation to continue:\n%s", tm->out);
  snprintf(tranid, sizeof tranid, "%s", tm->next);
  memcpy(ca, tm->ca, ca_len);
  int rc = term_start(tm, tranid, input, strlen(input), ca, ca_len, "alice");
  cr_assert_eq(rc, 0, "weft_start(%s): %s", tranid, weft_err_name(rc));
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "", "%s abended %s:\n%s", tranid, tm->abcode, tm->out);
  return tm->out;
}

/* Whether the screen so far holds text (while a task may still send). */
static int term_has(term *tm, const char *text) {
  AcquireSRWLockShared(&tm->lock);
  int has = strstr(tm->out, text) != NULL;
  ReleaseSRWLockShared(&tm->lock);
  return has;
}

/* Hand a conversational task its next line. */
static void term_line(term *tm, const char *line) {
  int rc = weft_terminal_input(tm->wt, line, strlen(line));
  cr_assert_eq(rc, 0, "weft_terminal_input(%s): %s", line, weft_err_name(rc));
}

#define assert_has(out, text) \
  cr_assert_not_null(strstr((out), (text)), "expected \"%s\" in:\n%s", (text), (out))
#define assert_lacks(out, text) \
  cr_assert_null(strstr((out), (text)), "did not expect \"%s\" in:\n%s", (text), (out))

/* ------------------------------------------------------------------------ */
/* The region                                                                */
/* ------------------------------------------------------------------------ */

static const struct {
  const char *tranid, *program, *symbol;
} g_trans[] = {
    {"MENU", "BANKMENU", "bank_menu"}, {"INQ", "BANKINQ", "bank_inq"},
    {"DEP", "BANKDEP", "bank_dep"},    {"WDR", "BANKWDR", "bank_wdr"},
    {"XFER", "BANKXFER", "bank_xfer"}, {"STMT", "BANKSTMT", "bank_stmt"},
    {"OPEN", "BANKOPEN", "bank_open"}, {"AUDT", "BANKAUDT", "bank_audt"},
    {"BSED", "BANKSEED", "bank_seed"},
};

/* Define the bank's programs (from bank.dll), files and transactions on r,
 * as bank.wrd does for weftd. */
static void bank_define(weft_region *r) {
  for (size_t i = 0; i < sizeof g_trans / sizeof g_trans[0]; i++) {
    int rc = weft_program_load(r, g_trans[i].program, BANKDLL, g_trans[i].symbol);
    cr_assert_eq(rc, 0, "weft_program_load(%s): %s", g_trans[i].symbol, weft_err_name(rc));
    weft_transaction_def d = {g_trans[i].tranid, g_trans[i].program, 10, 0, NULL, NULL};
    rc = weft_transaction_define(r, &d);
    cr_assert_eq(rc, 0, "weft_transaction_define(%s): %s", d.tranid, weft_err_name(rc));
  }
  weft_file_def files[] = {{"ACCOUNTS", 8, 64}, {"HISTORY", 16, 64}, {"BANKCTL", 8, 64}};
  for (size_t i = 0; i < 3; i++) {
    int rc = weft_file_define(r, &files[i]);
    cr_assert_eq(rc, 0, "weft_file_define(%s): %s", files[i].name, weft_err_name(rc));
  }
}

/* A region with the bank defined (data_dir NULL: in memory) and the
 * terminals open. */
static void bank_up(const char *data_dir) {
  weft_region_config cfg = th_config(2, 256);
  cfg.data_dir = data_dir;
  g_region = th_region_cfg(&cfg);
  bank_define(g_region);
  for (int i = 0; i < TERMS; i++)
    term_open(i);
}

static void bank_down(void) {
  for (int i = 0; i < TERMS; i++)
    weft_terminal_release(g_term[i].wt);
  th_finish(g_region);
  g_region = NULL;
}

/* The region, seeded with the default 1000 accounts. */
static void bank_seeded(void) {
  bank_up(NULL);
  const char *out = run_as(&g_term[0], "op", "BSED", "");
  assert_has(out, "BANK SEEDED: 1000 ACCOUNTS");
}

/* Set how long OPEN waits for an answer (an export of bank.dll that is not
 * a program). */
static void bank_receive_timeout(unsigned ms) {
  HMODULE dll = GetModuleHandleA(BANKDLL);
  cr_assert_not_null(dll, "bank.dll is not loaded");
  void (*set)(unsigned) =
      (void (*)(unsigned))(void (*)(void))GetProcAddress(dll, "bank_set_receive_timeout");
  cr_assert_not_null(set);
  set(ms);
}

/* ------------------------------------------------------------------------ */
/* Reading screens                                                           */
/* ------------------------------------------------------------------------ */

/* The money amount after `label` in out ("1,234.56" -> 123456 cents). */
static int64_t money_after(const char *out, const char *label) {
  const char *p = strstr(out, label);
  cr_assert_not_null(p, "no \"%s\" in:\n%s", label, out);
  p += strlen(label);
  while (*p == ' ' || *p == '=')
    p++;
  int neg = *p == '-';
  if (neg)
    p++;
  int64_t v = 0;
  for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
    if (*p != ',')
      v = v * 10 + (*p - '0');
  cr_assert_eq(*p, '.', "no amount after \"%s\" in:\n%s", label, out);
  cr_assert(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9');
  v = v * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  return neg ? -v : v;
}

/* The balance INQ shows for account no. */
static int64_t balance(term *tm, unsigned no) {
  char in[16];
  snprintf(in, sizeof in, "%u", no);
  const char *out = run(tm, "INQ", in);
  return money_after(out, "BALANCE");
}

/* Run AUDT (as bob) and assert it is OK; returns the total. */
static int64_t audit_ok(term *tm, unsigned accounts) {
  const char *out = run_as(tm, "bob", "AUDT", "");
  char want[64];
  snprintf(want, sizeof want, "AUDIT OK accounts=%u total=", accounts);
  assert_has(out, want);
  return money_after(out, "total=");
}

/* The entry numbers on a statement screen, in order; returns their count. */
static int entries_shown(const char *out, unsigned *seq, int max) {
  int n = 0;
  for (const char *line = out; *line && n < max;) {
    unsigned s;
    char c;
    if (line[0] == ' ' && sscanf(line, " %u %c", &s, &c) == 2)
      seq[n++] = s;
    const char *nl = strchr(line, '\n');
    if (!nl)
      break;
    line = nl + 1;
  }
  return n;
}

/* Assert the screen shows exactly entries first..last. */
static void assert_entries(const char *out, unsigned first, unsigned last) {
  unsigned seq[32];
  int n = entries_shown(out, seq, 32);
  cr_assert_eq(n, (int)(last - first + 1), "expected entries %u..%u in:\n%s", first, last, out);
  for (int i = 0; i < n; i++)
    cr_assert_eq(seq[i], first + (unsigned)i, "expected entries %u..%u in:\n%s", first, last, out);
}

/* ------------------------------------------------------------------------ */
/* Scratch directories                                                       */
/* ------------------------------------------------------------------------ */

static char g_dir[MAX_PATH];

/* <exe dir>\banktmp-<name>-<pid>, fresh. */
static const char *scratch_dir(const char *name) {
  char exe[MAX_PATH];
  th_exe_dir(exe);
  snprintf(g_dir, sizeof g_dir, "%s\\banktmp-%s-%lu", exe, name, GetCurrentProcessId());
  return g_dir;
}


/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

Test(bank, menu_lists_every_transaction) {
  bank_up(NULL);
  const char *out = run(&g_term[0], "MENU", "");
  const char *want[] = {"INQ  acct",
                        "DEP  acct amount",
                        "WDR  acct amount",
                        "XFER from to amount",
                        "STMT acct",
                        "OPEN",
                        "AUDT"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_has(out, want[i]);
  bank_down();
}

/* BSED makes 1000 accounts once; a second run (and one after a restart on
 * the same data directory) changes nothing. */
Test(bank, seed_is_idempotent_across_restarts) {
  const char *dir = scratch_dir("seed");
  th_rm_tree(dir);
  bank_up(dir);
  const char *out = run_as(&g_term[0], "op", "BSED", "");
  assert_has(out, "BANK SEEDED: 1000 ACCOUNTS");
  int64_t opening = money_after(out, "OPENING TOTAL");
  out = run_as(&g_term[0], "op", "BSED", "");
  assert_has(out, "BANK ALREADY SEEDED: 1000 ACCOUNTS");
  cr_assert_eq(audit_ok(&g_term[1], SEEDED), opening);
  int64_t b7 = balance(&g_term[0], 7);
  bank_down();

  bank_up(dir);
  out = run_as(&g_term[0], "op", "BSED", "");
  assert_has(out, "BANK ALREADY SEEDED: 1000 ACCOUNTS");
  cr_assert_eq(money_after(out, "OPENING TOTAL"), opening);
  cr_assert_eq(balance(&g_term[0], 7), b7);
  cr_assert_eq(audit_ok(&g_term[1], SEEDED), opening);
  bank_down();
  th_rm_tree(dir);
}

/* A seed size from the start data. */
Test(bank, seed_takes_its_size_from_the_start_data) {
  bank_up(NULL);
  const char *out = run_as(&g_term[0], "op", "BSED", "450");
  assert_has(out, "BANK SEEDED: 450 ACCOUNTS");
  audit_ok(&g_term[1], 450);
  out = run(&g_term[0], "INQ", "451");
  assert_has(out, "ERROR: account 451 not found");
  bank_down();
}

Test(bank, inq_shows_holder_and_balance) {
  bank_seeded();
  const char *out = run(&g_term[0], "INQ", "1");
  assert_has(out, "ACCOUNT 1  ");
  assert_has(out, "BALANCE");
  cr_assert_gt(money_after(out, "BALANCE"), 0);
  out = run(&g_term[0], "INQ", "00001000"); /* leading zeros are fine */
  assert_has(out, "ACCOUNT 1000  ");
  bank_down();
}

Test(bank, deposit_and_withdraw) {
  bank_seeded();
  term *tm = &g_term[0];
  int64_t b = balance(tm, 5);
  const char *out = run(tm, "DEP", "5 25.50");
  assert_has(out, "DEPOSITED 25.50 TO ACCOUNT 5");
  cr_assert_eq(money_after(out, "NEW BALANCE"), b + 2550);
  cr_assert_eq(balance(tm, 5), b + 2550);
  out = run(tm, "WDR", "5 10");
  assert_has(out, "WITHDRAWN 10.00 FROM ACCOUNT 5");
  cr_assert_eq(balance(tm, 5), b + 1550);
  out = run(tm, "DEP", "5 .5");
  assert_has(out, "DEPOSITED 0.50");
  cr_assert_eq(balance(tm, 5), b + 1600);
  bank_down();
}

/* An overdraft is refused with a clear message and changes nothing;
 * withdrawing the exact balance is allowed. */
Test(bank, overdraft_is_refused) {
  bank_seeded();
  term *tm = &g_term[0];
  int64_t b = balance(tm, 9);
  char in[64];
  snprintf(in, sizeof in, "9 %lld.%02lld", (long long)(b + 1) / 100, (long long)(b + 1) % 100);
  const char *out = run(tm, "WDR", in);
  assert_has(out, "REFUSED: insufficient funds in account 9");
  cr_assert_eq(balance(tm, 9), b);
  snprintf(in, sizeof in, "9 %lld.%02lld", (long long)b / 100, (long long)b % 100);
  out = run(tm, "WDR", in);
  assert_has(out, "WITHDRAWN");
  cr_assert_eq(balance(tm, 9), 0);
  out = run(tm, "WDR", "9 0.01");
  assert_has(out, "REFUSED: insufficient funds");
  cr_assert_eq(balance(tm, 9), 0);
  bank_down();
}

Test(bank, transfer_moves_money_between_two_accounts) {
  bank_seeded();
  term *tm = &g_term[0];
  int64_t b1 = balance(tm, 11), b2 = balance(tm, 12);
  const char *out = run(tm, "XFER", "12 11 7.25");
  assert_has(out, "TRANSFERRED 7.25 FROM ACCOUNT 12 TO ACCOUNT 11");
  cr_assert_eq(balance(tm, 11), b1 + 725);
  cr_assert_eq(balance(tm, 12), b2 - 725);
  out = run(tm, "XFER", "11 12 1.00");
  assert_has(out, "TRANSFERRED 1.00 FROM ACCOUNT 11 TO ACCOUNT 12");
  cr_assert_eq(balance(tm, 11), b1 + 625);
  cr_assert_eq(balance(tm, 12), b2 - 625);
  audit_ok(tm, SEEDED);
  bank_down();
}

/* Same account, not enough money, unknown account: refused, nothing moves. */
Test(bank, bad_transfers_are_refused) {
  bank_seeded();
  term *tm = &g_term[0];
  int64_t b1 = balance(tm, 21), b2 = balance(tm, 22);
  const char *out = run(tm, "XFER", "21 21 1");
  assert_has(out, "REFUSED: cannot transfer from account 21 to itself");
  out = run(tm, "XFER", "21 22 99999999");
  assert_has(out, "REFUSED: insufficient funds in account 21");
  out = run(tm, "XFER", "21 5000 1");
  assert_has(out, "ERROR: account 5000 not found");
  out = run(tm, "XFER", "5000 21 1");
  assert_has(out, "ERROR: account 5000 not found");
  cr_assert_eq(balance(tm, 21), b1);
  cr_assert_eq(balance(tm, 22), b2);
  audit_ok(tm, SEEDED);
  bank_down();
}

/* STMT pages through 13 entries 5 at a time, forward and backward, in a
 * pseudo-conversation: each screen ends with weft_return(STMT, COMMAREA)
 * and the terminal starts STMT again with the next input. */
Test(bank, statement_pages_forward_and_backward) {
  bank_seeded();
  term *tm = &g_term[0];
  for (int i = 1; i <= 12; i++) {
    char in[32];
    snprintf(in, sizeof in, "3 %d", i);
    run(tm, "DEP", in);
  }
  const char *out = run(tm, "STMT", "3");
  assert_has(out, "STATEMENT ACCOUNT 3");
  assert_has(out, "PAGE 1");
  assert_has(out, "OPENING BALANCE");
  assert_entries(out, 1, 5);
  cr_assert_str_eq(tm->next, "STMT", "no pseudo-conversation:\n%s", out);

  out = run_next(tm, "");
  assert_has(out, "PAGE 2");
  assert_entries(out, 6, 10);
  cr_assert_str_eq(tm->next, "STMT");

  out = run_next(tm, "B");
  assert_has(out, "PAGE 1");
  assert_entries(out, 1, 5);

  out = run_next(tm, "b");
  assert_has(out, "ALREADY AT THE FIRST PAGE");
  assert_entries(out, 1, 5);

  out = run_next(tm, "");
  assert_entries(out, 6, 10);
  out = run_next(tm, "");
  assert_has(out, "PAGE 3");
  assert_entries(out, 11, 13);
  assert_has(out, "END OF STATEMENT");
  cr_assert_str_eq(tm->next, "", "the statement did not end:\n%s", out);
  bank_down();
}

Test(bank, statement_quits_and_rejects_bad_input) {
  bank_seeded();
  term *tm = &g_term[0];
  for (int i = 0; i < 6; i++)
    run(tm, "XFER", "4 5 1");
  const char *out = run(tm, "STMT", "4");
  assert_has(out, "TRANSFER TO 5");
  assert_entries(out, 1, 5);
  out = run_next(tm, "X");
  assert_has(out, "ERROR: enter nothing for the next page");
  assert_entries(out, 1, 5);
  cr_assert_str_eq(tm->next, "STMT");
  out = run_next(tm, "q");
  assert_has(out, "STATEMENT ENDED");
  cr_assert_str_eq(tm->next, "");

  /* A short history fits one screen: no pseudo-conversation. */
  out = run(tm, "STMT", "6");
  assert_entries(out, 1, 1);
  assert_has(out, "END OF STATEMENT");
  cr_assert_str_eq(tm->next, "");

  /* A damaged COMMAREA is reported, not trusted. */
  char junk[20] = "not a statement";
  cr_assert_eq(term_start(tm, "STMT", "", 0, junk, sizeof junk, "alice"), 0);
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "ERROR: the statement's saved state is damaged");
  bank_down();
}

/* OPEN asks for the name and the first deposit (weft_receive), re-asks on
 * a bad answer, and makes account 1001 with the next number. */
Test(bank, open_is_a_conversation) {
  bank_seeded();
  term *tm = &g_term[0];
  cr_assert_eq(term_start(tm, "OPEN", "", 0, NULL, 0, "alice"), 0);
  th_wait_until(atomic_load(&tm->receiving) >= 1);
  assert_has(tm->out, "HOLDER NAME?");
  term_line(tm, "  Carol Tester ");
  th_wait_until(atomic_load(&tm->receiving) >= 2);
  assert_has(tm->out, "INITIAL DEPOSIT?");
  term_line(tm, "12.345");
  th_wait_until(atomic_load(&tm->receiving) >= 3);
  assert_has(tm->out, "ERROR: bad amount '12.345'");
  term_line(tm, "100");
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "ACCOUNT 1001 OPENED FOR Carol Tester  BALANCE 100.00");

  const char *out = run(tm, "INQ", "1001");
  assert_has(out, "Carol Tester");
  cr_assert_eq(money_after(out, "BALANCE"), 10000);
  out = run(tm, "STMT", "1001");
  assert_has(out, "ACCOUNT OPENED");
  audit_ok(tm, SEEDED + 1);

  /* The next one gets 1002; the answers may be typed ahead. */
  cr_assert_eq(term_start(tm, "OPEN", "", 0, NULL, 0, "alice"), 0);
  term_line(tm, "Dan");
  th_wait_until(term_has(tm, "INITIAL DEPOSIT?"));
  term_line(tm, "0");
  th_wait_until(atomic_load(&tm->ended) > 0);
  assert_has(tm->out, "ACCOUNT 1002 OPENED FOR Dan  BALANCE 0.00");
  audit_ok(tm, SEEDED + 2);
  bank_down();
}

/* No answer in time, CANCEL, or three bad names: OPEN ends, no account. */
Test(bank, open_times_out_or_is_cancelled) {
  bank_seeded();
  term *tm = &g_term[0];
  bank_receive_timeout(300);
  cr_assert_eq(term_start(tm, "OPEN", "", 0, NULL, 0, "alice"), 0);
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "NO ANSWER IN TIME: OPEN CANCELLED");

  /* The terminal's receive timeout caps OPEN's own longer one (issue 10:
   * weftd's receive_timeout=3 did not bound OPEN's 60 s wait). */
  bank_receive_timeout(60000);
  weft_terminal_set_receive_timeout(tm->wt, 300);
  cr_assert_eq(term_start(tm, "OPEN", "", 0, NULL, 0, "alice"), 0);
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "NO ANSWER IN TIME: OPEN CANCELLED");
  weft_terminal_set_receive_timeout(tm->wt, 0);

  cr_assert_eq(term_start(tm, "OPEN", "", 0, NULL, 0, "alice"), 0);
  th_wait_until(atomic_load(&tm->receiving) >= 1);
  term_line(tm, "Eve");
  th_wait_until(atomic_load(&tm->receiving) >= 2);
  term_line(tm, "CANCEL");
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "OPEN CANCELLED, NOTHING WAS CHANGED");

  cr_assert_eq(term_start(tm, "OPEN", "", 0, NULL, 0, "alice"), 0);
  for (int i = 1; i <= 3; i++) {
    th_wait_until(atomic_load(&tm->receiving) >= i);
    term_line(tm, i == 2 ? "" : "A name far too long to be a holder's name at all");
  }
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "TOO MANY BAD ANSWERS");

  const char *out = run(tm, "INQ", "1001");
  assert_has(out, "ERROR: account 1001 not found");
  audit_ok(tm, SEEDED);
  bank_down();
}

/* Every kind of bad input gets a message; nothing abends or changes. */
Test(bank, bad_input_gets_a_message_not_an_abend) {
  bank_seeded();
  term *tm = &g_term[0];
  int64_t total = audit_ok(tm, SEEDED);
  int64_t b1 = balance(tm, 1);
  static const struct {
    const char *tranid, *input, *says;
  } cases[] = {
      {"INQ", "", "ERROR: usage: INQ acct"},
      {"INQ", "abc", "ERROR: bad account number 'abc'"},
      {"INQ", "0", "ERROR: bad account number '0'"},
      {"INQ", "-1", "ERROR: bad account number"},
      {"INQ", "123456789", "ERROR: bad account number"},
      {"INQ", "1 2", "ERROR: usage: INQ acct"},
      {"INQ", "99999999", "ERROR: account 99999999 not found"},
      {"DEP", "", "ERROR: usage: DEP acct amount"},
      {"DEP", "1", "ERROR: usage: DEP acct amount"},
      {"DEP", "1 -5", "ERROR: bad amount '-5'"},
      {"DEP", "1 1.234", "ERROR: bad amount '1.234'"},
      {"DEP", "1 1.", "ERROR: bad amount '1.'"},
      {"DEP", "1 .", "ERROR: bad amount '.'"},
      {"DEP", "1 1e5", "ERROR: bad amount '1e5'"},
      {"DEP", "1 1,000", "ERROR: bad amount '1,000'"},
      {"DEP", "1 0", "ERROR: the amount must be more than 0.00"},
      {"DEP", "1 0.00", "ERROR: the amount must be more than 0.00"},
      {"DEP", "1 99999999999999999999999", "ERROR: amount too large"},
      {"DEP", "1 1000000000.01", "ERROR: amount too large"},
      {"DEP", "1 5 6", "ERROR: usage: DEP acct amount"},
      {"DEP", "99999998 5", "ERROR: account 99999998 not found"},
      {"WDR", "x 5", "ERROR: bad account number 'x'"},
      {"WDR", "1 abc", "ERROR: bad amount 'abc'"},
      {"XFER", "1 2", "ERROR: usage: XFER from to amount"},
      {"XFER", "1 2 abc", "ERROR: bad amount 'abc'"},
      {"XFER", "a 2 1", "ERROR: bad account number 'a'"},
      {"XFER", "1 b 1", "ERROR: bad account number 'b'"},
      {"STMT", "", "ERROR: usage: STMT acct"},
      {"STMT", "abc", "ERROR: bad account number 'abc'"},
      {"STMT", "77777777", "ERROR: account 77777777 not found"},
      {"BSED", "abc", "ERROR: usage: BSED"},
      {"BSED", "0", "ERROR: usage: BSED"},
      {"BSED", "2000000", "ERROR: usage: BSED"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *out = run(tm, cases[i].tranid, cases[i].input);
    cr_assert_not_null(strstr(out, cases[i].says), "%s %s: expected \"%s\" in:\n%s",
                       cases[i].tranid, cases[i].input, cases[i].says, out);
  }
  /* An overlong line and bytes that are not text. */
  char longin[400];
  memset(longin, '1', sizeof longin - 1);
  longin[sizeof longin - 1] = 0;
  assert_has(run(tm, "DEP", longin), "ERROR: input longer than");
  const char bin[] = {'1', ' ', 0, 1, (char)0xff, '5'};
  cr_assert_eq(term_start(tm, "DEP", bin, sizeof bin, NULL, 0, "alice"), 0);
  th_wait_until(atomic_load(&tm->ended) > 0);
  cr_assert_str_eq(tm->abcode, "");
  assert_has(tm->out, "ERROR: bad amount '???5'");
  /* Nothing changed. */
  cr_assert_eq(balance(tm, 1), b1);
  cr_assert_eq(audit_ok(tm, SEEDED), total);
  bank_down();
}

/* A fixed mix of deposits, withdrawals (some refused), transfers and an
 * opened account keeps the audit OK, and the total moves by exactly the
 * deposits minus the withdrawals. */
Test(bank, audit_is_ok_after_a_mix) {
  bank_seeded();
  term *tm = &g_term[0];
  int64_t total = audit_ok(tm, SEEDED);
  uint64_t x = 12345;
  for (int i = 0; i < 150; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    unsigned a = (unsigned)(x >> 33) % SEEDED + 1, b = (unsigned)(x >> 13) % SEEDED + 1;
    unsigned cents = (unsigned)(x >> 40) % 500000 + 1;
    char in[64];
    const char *out;
    switch (i % 3) {
      case 0:
        snprintf(in, sizeof in, "%u %u.%02u", a, cents / 100, cents % 100);
        out = run(tm, "DEP", in);
        assert_has(out, "DEPOSITED");
        total += cents;
        break;
      case 1:
        snprintf(in, sizeof in, "%u %u.%02u", a, cents / 100, cents % 100);
        out = run(tm, "WDR", in);
        if (strstr(out, "WITHDRAWN"))
          total -= cents;
        else
          assert_has(out, "REFUSED: insufficient funds");
        break;
      default:
        snprintf(in, sizeof in, "%u %u %u.%02u", a, b, cents / 100, cents % 100);
        out = run(tm, "XFER", in);
        cr_assert(strstr(out, "TRANSFERRED") || strstr(out, "REFUSED"), "%s", out);
    }
  }
  cr_assert_eq(audit_ok(tm, SEEDED), total);
  bank_down();
}

/* ---- Concurrency ----------------------------------------------------------- */

/* Keep `n` terminals busy running tranid with their own inputs, `rounds`
 * times each, restarting each one as soon as its task has ended. */
static void drive(int n, const char *const *tranids, const char *const *inputs, int rounds) {
  int left[TERMS];
  for (int i = 0; i < n; i++) {
    left[i] = rounds - 1;
    g_term[i].abends = 0;
    cr_assert_eq(term_start(&g_term[i], tranids[i], inputs[i], strlen(inputs[i]), NULL, 0,
                            i == 0 ? "bob" : "alice"),
                 0);
  }
  ULONGLONG end = GetTickCount64() + 4 * TH_DEADLINE_MS;
  for (int busy = n; busy > 0;) {
    busy = 0;
    for (int i = 0; i < n; i++) {
      term *tm = &g_term[i];
      if (atomic_load(&tm->ended) == 0) {
        busy++;
        continue;
      }
      cr_assert_str_eq(tm->abcode, "", "%s %s abended %s:\n%s", tranids[i], inputs[i], tm->abcode,
                       tm->out);
      assert_lacks(tm->out, "ERROR");
      if (strcmp(tranids[i], "AUDT") == 0)
        assert_has(tm->out, "AUDIT OK");
      if (left[i] > 0) {
        left[i]--;
        busy++;
        cr_assert_eq(term_start(tm, tranids[i], inputs[i], strlen(inputs[i]), NULL, 0,
                                i == 0 ? "bob" : "alice"),
                     0);
      }
    }
    cr_assert(GetTickCount64() < end, "the transfers did not finish");
    Sleep(1);
  }
}

/* Transfers in opposite directions between the same two accounts, from
 * eight terminals at once (with a data directory, so commits suspend for
 * the log and tasks interleave), while AUDT runs over and over: the locks
 * are always taken in key order, so nothing deadlocks, times out or
 * abends, and the money is all there. */
Test(bank, opposite_transfers_do_not_deadlock, .timeout = 180.0) {
  const char *dir = scratch_dir("xfer");
  th_rm_tree(dir);
  bank_up(dir);
  const char *out = run_as(&g_term[0], "op", "BSED", "");
  assert_has(out, "BANK SEEDED");
  int64_t total = audit_ok(&g_term[0], SEEDED);
  int64_t b1 = balance(&g_term[0], 1), b2 = balance(&g_term[0], 2);
  const char *tranids[TERMS] = {"AUDT", "XFER", "XFER", "XFER", "XFER",
                                "XFER", "XFER", "XFER", "XFER"};
  const char *inputs[TERMS] = {"",         "1 2 1.00", "2 1 1.00", "1 2 1.00", "2 1 1.00",
                               "1 2 1.00", "2 1 1.00", "1 2 1.00", "2 1 1.00"};
  drive(TERMS, tranids, inputs, 100);
  weft_log_stats ls;
  cr_assert_eq(weft_log_stats_get(g_region, &ls), 0);
  cr_assert_eq(ls.deadlocks, 0, "%llu deadlocks", (unsigned long long)ls.deadlocks);
  cr_assert_eq(ls.lock_timeouts, 0);
  cr_assert_eq(balance(&g_term[0], 1), b1);
  cr_assert_eq(balance(&g_term[0], 2), b2);
  cr_assert_eq(audit_ok(&g_term[0], SEEDED), total);
  out = run(&g_term[0], "STMT", "1");
  assert_has(out, "TRANSFER");
  /* The transfers did contend: they waited for each other's locks. */
  weft_enclave_stats xs;
  cr_assert_eq(weft_transaction_stats_get(g_region, "XFER", &xs), 0);
  cr_assert_gt(xs.wait_ns[WEFT_WAIT_ENQ], 0, "the transfers never waited for a lock");
  weft_region_stats s = th_stats(g_region);
  cr_assert_eq(s.tasks_abended, 0);
  bank_down();
  th_rm_tree(dir);
}
