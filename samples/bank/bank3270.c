/* bank3270.c - the sample bank on a 3270: the BANK transaction, a
 * pseudo-conversation over screen maps (bank.map, compiled by weftmap into
 * bankmaps.h): the menu, account inquiry, deposit and withdrawal. Each
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

enum { B3_MENU = 1, B3_INQ, B3_POST };

/* The COMMAREA: the screen shown (and for POST, deposit or withdrawal). */
typedef struct b3_ca {
  char magic[4]; /* "B3CA" */
  int32_t screen;
  int32_t sign; /* B3_POST: 1 deposit, -1 withdrawal */
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
static void in_error(weft_map_sym *h) {
  h->attr = WEFT_ATTR_SET | WEFT_ATTR_BRT | WEFT_ATTR_NUM | WEFT_ATTR_FSET;
  h->color = WEFT_COLOR_RED;
  h->hilight = WEFT_HILIGHT_REVERSE;
  h->len = -1;
}

static void next_step(weft_task *t, int screen, int sign) {
  b3_ca ca = {{'B', '3', 'C', 'A'}, screen, sign};
  weft_return(t, B3_TRAN, &ca, sizeof ca);
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
    menu_show(t, "Choose an option: 1, 2 or 3", 1);
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

/* ---- The transaction ---------------------------------------------------------------- */

static const char *const pa_refused = "PA keys do nothing here: use Enter, PF3 or Clear";

/* One step on screen ca->screen: receive it, then act on the key. */
static void step(weft_task *t, const b3_ca *ca) {
  union {
    BANKM_MENU menu;
    BANKM_INQ inq;
    BANKM_POST post;
  } m;
  const weft_map *map = ca->screen == B3_MENU  ? &BANKM_MENU_map
                        : ca->screen == B3_INQ ? &BANKM_INQ_map
                                               : &BANKM_POST_map;
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
  const char *refused = aid == WEFT_AID_PA1 || aid == WEFT_AID_PA2 || aid == WEFT_AID_PA3
                            ? pa_refused
                            : "That key does nothing here: use Enter, PF3 or Clear";
  if (ca->screen == B3_MENU)
    return enter ? menu_enter(t, &m.menu) : menu_show(t, refused, 0);
  if (ca->screen == B3_INQ) {
    if (enter)
      return inq_enter(t, &m.inq);
    PUT(m.inq.MSG, refused);
    return inq_show(t, &m.inq, 0);
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
    if (ca.screen >= B3_MENU && ca.screen <= B3_POST)
      return step(t, &ca);
  }
  menu_show(t, NULL, 0);
}
