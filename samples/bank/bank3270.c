/* bank3270.c - the sample bank on a 3270: the BANK transaction, a
 * pseudo-conversation over screen maps (bank.map, compiled by weftmap into
 * bankmaps.h): the menu, account inquiry, deposit and withdrawal,
 * transfer, the statement browse, opening an account and the audit. Each
 * step receives the screen the terminal sent, acts through the business
 * steps it shares with the line-mode transactions (bank_int.h), sends the
 * next screen and returns naming BANK again with a COMMAREA that says
 * which screen is shown. PF3 ends (or goes back to the menu), Clear
 * returns to the menu, PA keys are refused politely; a field in error is
 * shown red and reversed with the cursor on it and a message. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bank_int.h"
#include "bankmaps.h"

#define B3_TRAN "BANK"
#define B3_AUDIT_TRAN "BKAU" /* the audit screen's steps: AUDITOR users only */

enum { B3_MENU = 1, B3_INQ, B3_POST, B3_XFER, B3_STMT, B3_OPEN, B3_AUDIT };

/* The COMMAREA: the screen shown (and for POST, deposit or withdrawal;
 * for STMT, the page shown, as line-mode STMT keeps it). A copy travels
 * with weft_return; the region owns it between the steps. */
typedef struct b3_ca {
  char magic[4]; /* "B3CA" */
  int32_t screen;
  int32_t sign;       /* B3_POST: 1 deposit, -1 withdrawal */
  uint32_t acct;      /* B3_STMT: the account shown, 0 none yet */
  uint32_t first_seq; /* ... the entry numbers of the page shown */
  uint32_t last_seq;
  uint32_t page; /* ... its number, from 1 */
} b3_ca;

/* Put text into a field's data (cut to its size; the rest NUL). */
static void put(char *data, size_t cap, const char *text) {
  size_t n = strlen(text);
  memset(data, 0, cap);
  memcpy(data, text, n < cap ? n : cap);
}
#define PUT(f, text) put((f).data, sizeof(f).data, (text))

/* A field's received text without leading and trailing blanks (into out). */
static char *got(const char *data, size_t cap, char *out, size_t outcap) {
  size_t b = 0, e = strnlen(data, cap);
  while (b < e && data[b] == ' ')
    b++;
  while (e > b && data[e - 1] == ' ')
    e--;
  snprintf(out, outcap, "%.*s", (int)(e - b), data + b);
  return out;
}
#define GOT(f, out) got((f).data, sizeof(f).data, (out), sizeof(out))

/* Show a field in error: red, reversed, the cursor on it (and sent back
 * with the next input, FSET, as the form fields are). */
static void in_error_attr(weft_map_sym *h, unsigned num) {
  h->attr = (uint8_t)(WEFT_ATTR_SET | WEFT_ATTR_BRT | num | WEFT_ATTR_FSET);
  h->color = WEFT_COLOR_RED;
  h->hilight = WEFT_HILIGHT_REVERSE;
  h->len = -1;
}

static void in_error(weft_map_sym *h) {
  in_error_attr(h, WEFT_ATTR_NUM);
}

/* A text (not numeric) field in error. */
static void in_error_text(weft_map_sym *h) {
  in_error_attr(h, 0);
}

/* Return naming the next step: BANK, or BKAU when the audit screen is
 * shown (the region lets only the auditors run its next step). */
static void next_step_ca(weft_task *t, b3_ca *ca) {
  memcpy(ca->magic, "B3CA", 4);
  weft_return(t, ca->screen == B3_AUDIT ? B3_AUDIT_TRAN : B3_TRAN, ca, sizeof *ca);
}

static void next_step(weft_task *t, int screen, int sign) {
  b3_ca ca = {{'B', '3', 'C', 'A'}, screen, sign, 0, 0, 0, 0};
  next_step_ca(t, &ca);
}

static unsigned send_flags(int error) {
  return WEFT_MAP_ERASE | WEFT_MAP_FREEKB | (error ? WEFT_MAP_ALARM : 0);
}

/* ---- The menu ------------------------------------------------------------------- */

static void menu_show(weft_task *t, const char *msg, int error) {
  BANKM_MENU m;
  char who[40];
  memset(&m, 0, sizeof m);
  snprintf(who, sizeof who, "%s at %s", weft_task_userid(t)[0] ? weft_task_userid(t) : "-",
           weft_task_termid(t));
  PUT(m.USER, who);
  PUT(m.MSG, msg != NULL ? msg : "");
  if (error)
    in_error(&m.OPTION.h);
  weft_send_map(t, &BANKM_MENU_map, &m, send_flags(error), 0);
  next_step(t, B3_MENU, 0);
}

static void inq_show(weft_task *t, BANKM_INQ *m, int error) {
  if (error)
    in_error(&m->ACCT.h);
  weft_send_map(t, &BANKM_INQ_map, m, send_flags(error), 0);
  next_step(t, B3_INQ, 0);
}

static void post_show(weft_task *t, BANKM_POST *m, int sign, weft_map_sym *bad) {
  PUT(m->TITLE, sign > 0 ? "WEFT SAMPLE BANK - DEPOSIT" : "WEFT SAMPLE BANK - WITHDRAWAL");
  if (bad != NULL)
    in_error(bad);
  weft_send_map(t, &BANKM_POST_map, m, send_flags(bad != NULL), 0);
  next_step(t, B3_POST, sign);
}

static void xfer_show(weft_task *t, BANKM_XFER *m, weft_map_sym *bad);
static void stmt_show(weft_task *t, BANKM_STMT *m, b3_ca *ca, int error);
static void open_show(weft_task *t, BANKM_OPEN *m, weft_map_sym *bad);
static void audit_run(weft_task *t);
static void audit_first(weft_task *t);

/* Options 4 to 7 of the menu: their first screen. */
static void menu_start(weft_task *t, const char *opt) {
  union {
    BANKM_XFER xfer;
    BANKM_STMT stmt;
    BANKM_OPEN open;
  } q;
  b3_ca ca = {{'B', '3', 'C', 'A'}, B3_STMT, 0, 0, 0, 0, 0};
  memset(&q, 0, sizeof q);
  if (strcmp(opt, "4") == 0)
    xfer_show(t, &q.xfer, NULL);
  else if (strcmp(opt, "5") == 0)
    stmt_show(t, &q.stmt, &ca, 0);
  else if (strcmp(opt, "6") == 0)
    open_show(t, &q.open, NULL);
  else if (strcmp(opt, "7") == 0)
    audit_first(t);
  else
    menu_show(t, "Choose an option: 1 to 7", 1);
}

/* Enter on the menu: the option chosen. */
static void menu_enter(weft_task *t, BANKM_MENU *m) {
  char opt[4];
  GOT(m->OPTION, opt);
  if (strcmp(opt, "1") == 0) {
    BANKM_INQ q;
    memset(&q, 0, sizeof q);
    inq_show(t, &q, 0);
  } else if (strcmp(opt, "2") == 0 || strcmp(opt, "3") == 0) {
    BANKM_POST q;
    memset(&q, 0, sizeof q);
    post_show(t, &q, opt[0] == '2' ? 1 : -1, NULL);
  } else {
    menu_start(t, opt);
  }
}

/* ---- Inquiry -------------------------------------------------------------------- */

/* Enter on the inquiry screen: look the account up. */
static void inq_enter(weft_task *t, BANKM_INQ *m) {
  char acct[12], holder[40], bal[32];
  uint32_t no;
  int64_t balance;
  bank_msg msg = {""};
  GOT(m->ACCT, acct);
  memset(m, 0, sizeof *m);
  PUT(m->ACCT, acct);
  if (bank_parse_acct(acct, &no) != 0) {
    PUT(m->MSG, "ERROR: an account number is 1 to 8 digits");
    return inq_show(t, m, 1);
  }
  if (bank_inquire(t, &msg, no, holder, sizeof holder, &balance) != 0) {
    PUT(m->MSG, msg.text);
    return inq_show(t, m, 1);
  }
  PUT(m->HOLDER, holder);
  PUT(m->BAL, bank_fmt_money(bal, sizeof bal, balance, 1));
  inq_show(t, m, 0);
}

/* ---- Deposit and withdrawal --------------------------------------------------------- */

/* Enter on the deposit or withdrawal screen: post it. */
static void post_enter(weft_task *t, BANKM_POST *m, int sign) {
  char acct[12], amount[20];
  uint32_t no;
  int64_t cents;
  bank_msg msg = {""};
  GOT(m->ACCT, acct);
  GOT(m->AMOUNT, amount);
  memset(m, 0, sizeof *m);
  PUT(m->ACCT, acct);
  PUT(m->AMOUNT, amount);
  if (bank_parse_acct(acct, &no) != 0) {
    PUT(m->MSG, "ERROR: an account number is 1 to 8 digits");
    return post_show(t, m, sign, &m->ACCT.h);
  }
  if (bank_parse_amount(t, &msg, amount, 0, &cents) != 0) {
    PUT(m->MSG, msg.text);
    return post_show(t, m, sign, &m->AMOUNT.h);
  }
  int rc = bank_post(t, &msg, no, cents, sign);
  PUT(m->MSG, msg.text);
  if (rc != 0)
    return post_show(t, m, sign, strstr(msg.text, "not found") ? &m->ACCT.h : &m->AMOUNT.h);
  memset(m->AMOUNT.data, 0, sizeof m->AMOUNT.data); /* done: ready for the next one */
  post_show(t, m, sign, NULL);
}

/* ---- Transfer ------------------------------------------------------------------------- */

static void xfer_show(weft_task *t, BANKM_XFER *m, weft_map_sym *bad) {
  if (bad != NULL)
    bad == &m->AMOUNT.h ? in_error_text(bad) : in_error(bad);
  weft_send_map(t, &BANKM_XFER_map, m, send_flags(bad != NULL), 0);
  next_step(t, B3_XFER, 0);
}

/* Enter on the transfer screen: check the three fields, then transfer. */
static void xfer_enter(weft_task *t, BANKM_XFER *m) {
  char from_s[12], to_s[12], amount[20];
  uint32_t from, to;
  int64_t cents;
  bank_msg msg = {""};
  GOT(m->FROM, from_s);
  GOT(m->TO, to_s);
  GOT(m->AMOUNT, amount);
  memset(m, 0, sizeof *m);
  PUT(m->FROM, from_s);
  PUT(m->TO, to_s);
  PUT(m->AMOUNT, amount);
  if (bank_parse_acct(from_s, &from) != 0) {
    PUT(m->MSG, "ERROR: the account to transfer from is 1 to 8 digits");
    return xfer_show(t, m, &m->FROM.h);
  }
  if (bank_parse_acct(to_s, &to) != 0) {
    PUT(m->MSG, "ERROR: the account to transfer to is 1 to 8 digits");
    return xfer_show(t, m, &m->TO.h);
  }
  if (bank_parse_amount(t, &msg, amount, 0, &cents) != 0) {
    PUT(m->MSG, msg.text);
    return xfer_show(t, m, &m->AMOUNT.h);
  }
  int rc = bank_transfer(t, &msg, from, to, cents);
  PUT(m->MSG, msg.text);
  if (rc != 0)
    return xfer_show(t, m,
                     rc == BANK_BAD_FROM ? &m->FROM.h
                     : rc == BANK_BAD_TO ? &m->TO.h
                                         : &m->AMOUNT.h);
  memset(m->AMOUNT.data, 0, sizeof m->AMOUNT.data); /* done: ready for the next one */
  xfer_show(t, m, NULL);
}

/* ---- Statement browse ------------------------------------------------------------------ */

/* Show the statement screen; the page's state goes in the COMMAREA. */
static void stmt_show(weft_task *t, BANKM_STMT *m, b3_ca *ca, int error) {
  if (error)
    in_error(&m->ACCT.h);
  ca->screen = B3_STMT;
  weft_send_map(t, &BANKM_STMT_map, m, send_flags(error), 0);
  next_step_ca(t, ca);
}

/* Read the page from seq (backward: ending at seq) of ca->acct into m.
 * Returns the entries shown (0: none there, the page is unchanged), or -1
 * after putting why not in m's message line. */
static int stmt_fill(weft_task *t, BANKM_STMT *m, b3_ca *ca, uint32_t seq, int backward) {
  bank_entry e[BANK_STMT_PAGE];
  bank_msg msg = {""};
  int n = 0, more = 0;
  if (bank_history(t, &msg, ca->acct, seq, backward, e, &n, &more) != 0) {
    PUT(m->MSG, msg.text);
    return -1;
  }
  if (n == 0)
    return 0;
  char *lines[BANK_STMT_PAGE] = {m->L1.data, m->L2.data, m->L3.data, m->L4.data, m->L5.data};
  for (int i = 0; i < n; i++)
    put(lines[i], sizeof m->L1.data, e[i].line);
  ca->first_seq = e[0].seq;
  ca->last_seq = e[n - 1].seq;
  PUT(m->MSG, more ? "PF8: more entries follow" : "END OF STATEMENT");
  return n;
}

/* The account's first page (Enter), or the next or previous one (PF8,
 * PF7) of the account in the COMMAREA. */
static void stmt_key(weft_task *t, BANKM_STMT *m, b3_ca *ca, int aid) {
  char acct[12], holder[40], page[16];
  int64_t balance;
  bank_msg msg = {""};
  GOT(m->ACCT, acct);
  memset(m, 0, sizeof *m);
  if (aid == WEFT_AID_ENTER) {
    PUT(m->ACCT, acct);
    ca->acct = ca->page = 0;
    if (bank_parse_acct(acct, &ca->acct) != 0) {
      PUT(m->MSG, "ERROR: an account number is 1 to 8 digits");
      return stmt_show(t, m, ca, 1);
    }
  } else if (ca->acct == 0) {
    PUT(m->MSG, "ERROR: enter an account number first");
    return stmt_show(t, m, ca, 1);
  }
  snprintf(acct, sizeof acct, "%lu", (unsigned long)ca->acct);
  PUT(m->ACCT, acct);
  if (bank_inquire(t, &msg, ca->acct, holder, sizeof holder, &balance) != 0) {
    PUT(m->MSG, msg.text);
    ca->acct = 0;
    return stmt_show(t, m, ca, 1);
  }
  PUT(m->HOLDER, holder);
  int n;
  if (aid == WEFT_AID_ENTER)
    n = stmt_fill(t, m, ca, 0, 0);
  else if (aid == WEFT_AID_PF8)
    n = stmt_fill(t, m, ca, ca->last_seq + 1, 0);
  else
    n = ca->first_seq > 1 ? stmt_fill(t, m, ca, ca->first_seq - 1, 1) : 0;
  if (n > 0)
    ca->page = aid == WEFT_AID_ENTER ? 1 : aid == WEFT_AID_PF8 ? ca->page + 1 : ca->page - 1;
  else if (n == 0 && ca->page > 0) { /* nothing that way: the same page again */
    stmt_fill(t, m, ca, ca->first_seq, 0);
    PUT(m->MSG, aid == WEFT_AID_PF8 ? "END OF STATEMENT: no more entries"
                                    : "ALREADY AT THE FIRST PAGE");
  } else if (n == 0)
    PUT(m->MSG, "NO ENTRIES");
  if (ca->page > 0) {
    snprintf(page, sizeof page, "PAGE %lu", (unsigned long)ca->page);
    PUT(m->PAGENO, page);
  }
  stmt_show(t, m, ca, 0);
}

/* ---- Opening an account --------------------------------------------------------------- */

static void open_show(weft_task *t, BANKM_OPEN *m, weft_map_sym *bad) {
  if (bad != NULL)
    in_error_text(bad);
  weft_send_map(t, &BANKM_OPEN_map, m, send_flags(bad != NULL), 0);
  next_step(t, B3_OPEN, 0);
}

/* Enter on the open screen: check the holder and the deposit, then open. */
static void open_enter(weft_task *t, BANKM_OPEN *m) {
  char holder[40], amount[20], no_s[12];
  int64_t cents;
  uint32_t no;
  bank_msg msg = {""};
  GOT(m->HOLDER, holder);
  GOT(m->AMOUNT, amount);
  memset(m, 0, sizeof *m);
  PUT(m->HOLDER, holder);
  PUT(m->AMOUNT, amount);
  if (bank_check_holder(t, &msg, holder) != 0) {
    PUT(m->MSG, msg.text);
    return open_show(t, m, &m->HOLDER.h);
  }
  if (bank_parse_amount(t, &msg, amount[0] ? amount : "0", 1, &cents) != 0) {
    PUT(m->MSG, msg.text);
    return open_show(t, m, &m->AMOUNT.h);
  }
  int rc = bank_open_account(t, &msg, holder, cents, &no);
  PUT(m->MSG, msg.text);
  if (rc != 0)
    return open_show(t, m, NULL);
  snprintf(no_s, sizeof no_s, "%lu", (unsigned long)no);
  memset(m->HOLDER.data, 0, sizeof m->HOLDER.data); /* done: ready for the next one */
  memset(m->AMOUNT.data, 0, sizeof m->AMOUNT.data);
  PUT(m->ACCT, no_s);
  open_show(t, m, NULL);
}

/* ---- The audit -------------------------------------------------------------------------- */

/* The audit screen, empty: Enter runs it (as BKAU, for auditors only). */
static void audit_first(weft_task *t) {
  BANKM_AUDIT m;
  memset(&m, 0, sizeof m);
  PUT(m.MSG, "Enter: run the audit (it needs a user of the AUDITOR group, as AUDT)");
  weft_send_map(t, &BANKM_AUDIT_map, &m, send_flags(0), 0);
  next_step(t, B3_AUDIT, 0);
}

/* Run the audit and show its report: the verdict green, or red if the
 * books disagree. */
static void audit_run(weft_task *t) {
  BANKM_AUDIT m;
  char lines[BANK_AUDIT_LINES][BANK_LINE];
  bank_msg msg = {""};
  int ok = 0;
  memset(&m, 0, sizeof m);
  int n = bank_audit(t, &msg, lines, &ok);
  char *out[BANK_AUDIT_LINES] = {m.L1.data, m.L2.data, m.L3.data, m.L4.data,
                                 m.L5.data, m.L6.data, m.L7.data, m.L8.data};
  for (int i = 0; i < n; i++)
    put(out[i], sizeof m.L1.data, lines[i]);
  if (n < 0)
    PUT(m.MSG, msg.text);
  else
    m.L1.h.color = ok ? WEFT_COLOR_GREEN : WEFT_COLOR_RED;
  weft_send_map(t, &BANKM_AUDIT_map, &m, send_flags(n < 0 || !ok), 0);
  next_step(t, B3_AUDIT, 0);
}

/* ---- The transaction ---------------------------------------------------------------- */

static const char *const pa_refused = "PA keys do nothing here: use Enter, PF3 or Clear";

/* A key the screen does not use on a screen whose output the terminal does
 * not send back (the statement's and the audit's lines): only the message
 * line changes (DATAONLY over the screen shown), the rest stays. */
static void keep_screen(weft_task *t, const weft_map *map, void *sym, char *msg, size_t cap,
                        const char *text, b3_ca *ca) {
  put(msg, cap, text);
  weft_send_map(t, map, sym, WEFT_MAP_DATAONLY | WEFT_MAP_FREEKB, 0);
  next_step_ca(t, ca);
}

/* One step on screen ca->screen: receive it, then act on the key. */
static void step(weft_task *t, const b3_ca *ca) {
  union {
    BANKM_MENU menu;
    BANKM_INQ inq;
    BANKM_POST post;
    BANKM_XFER xfer;
    BANKM_STMT stmt;
    BANKM_OPEN open;
    BANKM_AUDIT audit;
  } m;
  static const weft_map *const maps[] = {NULL,           &BANKM_MENU_map, &BANKM_INQ_map,
                                         &BANKM_POST_map, &BANKM_XFER_map, &BANKM_STMT_map,
                                         &BANKM_OPEN_map, &BANKM_AUDIT_map};
  const weft_map *map = maps[ca->screen];
  b3_ca next = *ca;
  int aid;
  if (weft_receive_map(t, map, &m, &aid, 0) != 0)
    return menu_show(t, "The screen could not be read: try again", 1);
  if (aid == WEFT_AID_PF3 && ca->screen == B3_MENU) {
    static const char bye[] = "WEFT SAMPLE BANK: session ended. Type BANK to start again.";
    weft_send_text(t, bye, sizeof bye - 1, WEFT_MAP_ERASE);
    return;
  }
  if (aid == WEFT_AID_PF3 || aid == WEFT_AID_CLEAR)
    return menu_show(t, NULL, 0);
  bool enter = aid == WEFT_AID_ENTER;
  bool pa = aid == WEFT_AID_PA1 || aid == WEFT_AID_PA2 || aid == WEFT_AID_PA3;
  const char *refused = pa ? pa_refused : "That key does nothing here: use Enter, PF3 or Clear";
  if (ca->screen == B3_MENU)
    return enter ? menu_enter(t, &m.menu) : menu_show(t, refused, 0);
  if (ca->screen == B3_INQ) {
    if (enter)
      return inq_enter(t, &m.inq);
    PUT(m.inq.MSG, refused);
    return inq_show(t, &m.inq, 0);
  }
  if (ca->screen == B3_XFER) {
    if (enter)
      return xfer_enter(t, &m.xfer);
    PUT(m.xfer.MSG, refused);
    return xfer_show(t, &m.xfer, NULL);
  }
  if (ca->screen == B3_STMT) {
    if (enter || aid == WEFT_AID_PF7 || aid == WEFT_AID_PF8)
      return stmt_key(t, &m.stmt, &next, aid);
    return keep_screen(t, map, &m, m.stmt.MSG.data, sizeof m.stmt.MSG.data,
                       pa ? pa_refused : "That key does nothing here: use Enter, PF7, PF8 or PF3",
                       &next);
  }
  if (ca->screen == B3_OPEN) {
    if (enter)
      return open_enter(t, &m.open);
    PUT(m.open.MSG, refused);
    return open_show(t, &m.open, NULL);
  }
  if (ca->screen == B3_AUDIT) {
    if (enter)
      return audit_run(t);
    return keep_screen(t, map, &m, m.audit.MSG.data, sizeof m.audit.MSG.data, refused, &next);
  }
  if (enter)
    return post_enter(t, &m.post, ca->sign);
  PUT(m.post.MSG, refused);
  post_show(t, &m.post, ca->sign, NULL);
}

/* BANK: the bank's 3270 screens (a line terminal is told to use MENU). */
WEFT_PROGRAM void bank_3270(weft_task *t) {
  weft_terminal_device dev;
  if (weft_task_device(t, &dev) != 0 || dev.kind != WEFT_DEVICE_3270) {
    weft_sendf(t, "BANK shows 3270 screens; on this terminal use MENU");
    return;
  }
  void *p;
  size_t len;
  if (weft_commarea(t, &p, &len) == 0 && len == sizeof(b3_ca) && memcmp(p, "B3CA", 4) == 0) {
    b3_ca ca;
    memcpy(&ca, p, sizeof ca);
    if (ca.screen >= B3_MENU && ca.screen <= B3_AUDIT)
      return step(t, &ca);
  }
  menu_show(t, NULL, 0);
}
