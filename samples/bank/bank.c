/* bank.c - the Weft sample bank: transaction programs in a DLL (bank.dll).
 *
 * Every exported bank_* function with the weft_program_fn signature is a
 * program; a region defines it with weft_program_load (weftd: a PROGRAM
 * line of bank.wrd). The programs talk to their terminal with weft_send and
 * keep their data in three keyed files:
 *
 *   ACCOUNTS  key: the account number, 8 digits zero-padded ("00001007"),
 *             so key order is numeric order. Record: acct_rec.
 *   HISTORY   key: the account's key then its entry number, 8 digits
 *             zero-padded ("0000100700000003"): a browse from the account's
 *             key gives its entries in the order they were made. The entry
 *             number comes from the account record (next_seq), which only
 *             the holder of the account's lock changes. Record: hist_rec.
 *   BANKCTL   one record, key "CONTROL": the opening total of the seed, the
 *             next account number and whether the seed is done (ctl_rec).
 *
 * Amounts are int64 cents. Lock order, which every program follows so no
 * two of them can deadlock: the control record first, then accounts in key
 * order (lower account number first). History records are new keys written
 * under the lock of their account.
 *
 * User errors never abend: each program answers with an "ERROR: ..." line
 * and changes nothing. Unexpected file errors are reported the same way,
 * after the unit of work is rolled back.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"
#include "weft/http.h"

#include "bank_int.h"

/* Exports that are not programs (the programs use WEFT_PROGRAM). */
#define BANK_API __declspec(dllexport)

/* ------------------------------------------------------------------------ */
/* Files, records and limits                                                 */
/* ------------------------------------------------------------------------ */

#define F_ACCT "ACCOUNTS"
#define F_HIST "HISTORY"
#define F_CTL "BANKCTL"
#define CTL_KEY "CONTROL"

#define ACCT_KEY_LEN 8              /* "%08u" */
#define HIST_KEY_LEN 16             /* account key + "%08u" entry number */
#define ACCT_MAX 99999999u          /* the largest account number */
#define HOLDER_MAX 30               /* longest holder name */
#define AMOUNT_MAX 100000000000LL   /* 1,000,000,000.00: largest amount */
#define BALANCE_MAX 1000000000000LL /* 10,000,000,000.00: largest balance */
#define INPUT_MAX 256               /* longest start data accepted */
#define SEED_DEFAULT 1000u          /* accounts the seed makes by default */
#define SEED_LIMIT 1000000u         /* ... and at most */
#define SEED_BATCH 200u             /* accounts per seed unit of work */
#define OPEN_TRIES 3                /* bad answers before OPEN gives up */
#define AUDIT_YIELD_EVERY 1000u     /* records between yields in AUDT */

/* One account. The fields are fixed-size so the record is the same bytes
 * for every build of this DLL. */
typedef struct acct_rec {
  char magic[4];               /* "ACT1" */
  uint32_t next_seq;           /* number of its next history entry (from 1) */
  int64_t balance;             /* cents, never negative */
  char holder[HOLDER_MAX + 2]; /* NUL-terminated, NUL-padded */
} acct_rec;

/* History entry types. */
#define HT_SEED 'S' /* opening balance written by the seed (BSED) */
#define HT_OPEN 'O' /* initial deposit of an account opened by OPEN */
#define HT_DEP 'D'  /* deposit */
#define HT_WDR 'W'  /* withdrawal */
#define HT_XFER 'T' /* transfer: amount < 0 out of, > 0 into the account */

/* One history entry of one account. */
typedef struct hist_rec {
  char magic[4];                /* "HST1" */
  char type;                    /* HT_* */
  char user[WEFT_NAME_MAX + 1]; /* the signed-on user ("" when none) */
  char pad[2];
  uint32_t counterparty; /* the other account of a transfer, else 0 */
  uint32_t pad2;
  int64_t amount;  /* signed cents: credit > 0, debit < 0 */
  int64_t balance; /* the account's balance after it */
  uint64_t uow;    /* the unit of work that made it */
} hist_rec;

/* The control record. */
typedef struct ctl_rec {
  char magic[4];         /* "CTL1" */
  uint32_t seeded;       /* 1 once the seed has made all its accounts */
  uint32_t next_acct;    /* the number the next new account gets */
  uint32_t seed_target;  /* accounts the seed makes (fixed by the first BSED) */
  int64_t opening_total; /* sum of the seed's opening balances */
} ctl_rec;

_Static_assert(sizeof(acct_rec) == 48, "acct_rec layout");
_Static_assert(sizeof(hist_rec) == 48, "hist_rec layout");
_Static_assert(sizeof(ctl_rec) == 24, "ctl_rec layout");

/* How long OPEN waits for each answer (bank_set_receive_timeout). */
static volatile unsigned g_receive_ms = 60000;

/* Let a host change how long OPEN waits for an answer (tests use a short
 * one). Not a program. */
BANK_API void bank_set_receive_timeout(unsigned ms) {
  g_receive_ms = ms ? ms : 1;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

/* Say one line to where a shared step's messages go: the terminal when m
 * is NULL (line mode), else m's text (a 3270 screen's message line; the
 * last one said wins). Without a terminal (a STARTUP task) a line goes
 * nowhere: weft_send's WEFT_ESTATE is ignored on purpose. */
static void tell(weft_task *t, bank_msg *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void tell(weft_task *t, bank_msg *m, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (m != NULL) {
    snprintf(m->text, sizeof m->text, "%s", line);
    return;
  }
  weft_send(t, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Send one line to the terminal. */
#define say(t, ...) tell((t), NULL, __VA_ARGS__)

/* Write s as a JSON string (HTTP). */
static void json_str(weft_task *t, const char *s) {
  char buf[2 * 256 + 64];
  size_t o = 0;
  buf[o++] = '"';
  for (; *s && o + 8 < sizeof buf; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      buf[o++] = '\\', buf[o++] = (char)c;
    else if (c < 0x20 || c >= 0x7f)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "\\u%04x", c);
    else
      buf[o++] = (char)c;
  }
  buf[o++] = '"';
  weft_http_write(t, buf, o);
}

/* A refusal line (it starts "ERROR: " or "REFUSED: "): m's text when m is
 * not NULL (a 3270 screen's message line); else the line for a terminal,
 * or, for an HTTP request (docs/http.md), the status and a JSON error
 * whose message is the line without its prefix (a later refusal replaces
 * an earlier one). */
static void refuse_line(weft_task *t, bank_msg *m, int status, const char *line) {
  if (m != NULL || !weft_http_is_request(t)) {
    tell(t, m, "%s", line);
    return;
  }
  const char *msg = line + strcspn(line, ":");
  msg += *msg == ':' ? 1 + strspn(msg + 1, " ") : 0;
  const char *code = status == 404   ? "not_found"
                     : status == 409 ? "refused"
                     : status == 503 ? "busy"
                     : status == 500 ? "failed"
                                     : "bad_request";
  weft_http_reset(t);
  weft_http_set_status(t, status);
  if (status == 503)
    weft_http_set_header(t, "Retry-After", "1");
  weft_http_printf(t, "{\"error\":\"%s\",\"message\":", code);
  json_str(t, msg);
  weft_http_write(t, "}\n", 2);
}

/* refuse_line with a printf format, to m (3270) or the terminal/HTTP. */
static void refuse_m(weft_task *t, bank_msg *m, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void refuse_m(weft_task *t, bank_msg *m, int status, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n >= 0)
    refuse_line(t, m, status, line);
}

/* refuse_m to the terminal or the HTTP request (line-mode-only steps). */
#define refuse(t, status, ...) refuse_m((t), NULL, (status), __VA_ARGS__)

/* Format cents as "-1,234.56" (commas 1) or "-1234.56" (commas 0). */
const char *bank_fmt_money(char *buf, size_t cap, int64_t cents, int commas) {
  uint64_t v = cents < 0 ? 0 - (uint64_t)cents : (uint64_t)cents;
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)(v / 100));
  char out[48];
  size_t o = 0;
  if (cents < 0)
    out[o++] = '-';
  for (int i = 0; i < n; i++) {
    if (commas && i > 0 && (n - i) % 3 == 0)
      out[o++] = ',';
    out[o++] = digits[i];
  }
  snprintf(out + o, sizeof out - o, ".%02u", (unsigned)(v % 100));
  snprintf(buf, cap, "%s", out);
  return buf;
}

/* Money as a value, for use inside one printf-like call: M(x).s. */
typedef struct money {
  char s[48];
} money;
static money M(int64_t cents) {
  money m;
  bank_fmt_money(m.s, sizeof m.s, cents, 1);
  return m;
}

/* Report an unexpected runtime error after rolling the UOW back. */
static void fail_m(weft_task *t, bank_msg *m, const char *what, int rc) {
  weft_rollback(t);
  if (rc == WEFT_EDEADLOCK || rc == WEFT_ETIMEDOUT)
    refuse_m(t, m, 503, "ERROR: %s: the records are busy, nothing was changed; try again (%s)",
             what, weft_err_name(rc));
  else
    refuse_m(t, m, 500, "ERROR: %s failed, nothing was changed (%s: %s)", what, weft_err_name(rc),
             weft_strerror(rc));
}

static void fail(weft_task *t, const char *what, int rc) {
  fail_m(t, NULL, what, rc);
}

/* ------------------------------------------------------------------------ */
/* Input                                                                     */
/* ------------------------------------------------------------------------ */

/* Copy len bytes of user input into buf (cap > 0) as a C string, every byte
 * that is not printable ASCII turned into '?', so an input can be echoed
 * safely. Returns 0, or -1 when it does not fit. */
static int copy_text(char *buf, size_t cap, const void *data, size_t len) {
  if (len >= cap) {
    buf[0] = 0;
    return -1;
  }
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    buf[i] = (p[i] == '\t') ? ' ' : (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
  buf[len] = 0;
  return 0;
}

/* The task's start data as a C string. Returns 0, or -1 (and says so) when
 * it is longer than INPUT_MAX. */
static int start_text(weft_task *t, char *buf, size_t cap) {
  const void *data = NULL;
  size_t len = 0;
  buf[0] = 0;
  if (weft_retrieve(t, &data, &len) != 0 || data == NULL)
    return 0;
  if (copy_text(buf, cap, data, len) != 0) {
    refuse(t, 400, "ERROR: input longer than %u characters", (unsigned)(cap - 1));
    return -1;
  }
  return 0;
}

/* Split s in place into at most max blank-separated words. Returns the
 * number of words, or max + 1 when there are more. */
static int split(char *s, char **words, int max) {
  int n = 0;
  for (;;) {
    while (*s == ' ')
      s++;
    if (*s == 0)
      return n;
    if (n == max)
      return max + 1;
    words[n++] = s;
    while (*s != 0 && *s != ' ')
      s++;
    if (*s != 0)
      *s++ = 0;
  }
}

/* Trim blanks at both ends, in place. */
static char *trim(char *s) {
  while (*s == ' ')
    s++;
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == ' ')
    s[--n] = 0;
  return s;
}

/* An account number: 1-8 digits, not 0. Returns 0 or -1. */
int bank_parse_acct(const char *s, uint32_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 8)
    return -1;
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint32_t)(s[i] - '0');
  }
  if (v == 0)
    return -1;
  *out = v;
  return 0;
}

/* Parse an amount: digits with an optional '.' and 1-2 decimals ("25",
 * "25.5", "25.50", "0.01"). zero_ok allows 0. Says what is wrong and
 * returns -1 on bad input. */
int bank_parse_amount(weft_task *t, bank_msg *m, const char *s, int zero_ok, int64_t *out) {
  int64_t units = 0, frac = 0;
  int idigits = 0, fdigits = 0, dot = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++, idigits++) {
    units = units * 10 + (*p - '0');
    if (units > AMOUNT_MAX / 100) {
      refuse_m(t, m, 400, "ERROR: amount too large (at most %s)", M(AMOUNT_MAX).s);
      return -1;
    }
  }
  if (*p == '.') {
    dot = 1;
    for (p++; *p >= '0' && *p <= '9'; p++, fdigits++)
      if (fdigits < 2)
        frac = frac * 10 + (*p - '0');
    if (fdigits == 1)
      frac *= 10;
  }
  if (*p != 0 || (idigits == 0 && fdigits == 0) || fdigits > 2 || (dot && fdigits == 0)) {
    refuse_m(t, m, 400,
             "ERROR: bad amount '%.20s': use digits with up to 2 decimals, e.g. 25 or 25.50", s);
    return -1;
  }
  int64_t cents = units * 100 + frac;
  if (cents > AMOUNT_MAX) {
    refuse_m(t, m, 400, "ERROR: amount too large (at most %s)", M(AMOUNT_MAX).s);
    return -1;
  }
  if (cents == 0 && !zero_ok) {
    refuse_m(t, m, 400, "ERROR: the amount must be more than 0.00");
    return -1;
  }
  *out = cents;
  return 0;
}

static int parse_amount(weft_task *t, const char *s, int zero_ok, int64_t *out) {
  return bank_parse_amount(t, NULL, s, zero_ok, out);
}

/* ------------------------------------------------------------------------ */
/* Keys and records                                                          */
/* ------------------------------------------------------------------------ */

static void acct_key(char key[ACCT_KEY_LEN + 1], uint32_t no) {
  snprintf(key, ACCT_KEY_LEN + 1, "%08lu", (unsigned long)no);
}

static void hist_key(char key[HIST_KEY_LEN + 1], uint32_t no, uint32_t seq) {
  snprintf(key, HIST_KEY_LEN + 1, "%08lu%08lu", (unsigned long)no, (unsigned long)seq);
}

/* The number in the first 8 characters of a key; 0 if they are not digits. */
static uint32_t key_number(const char *key, size_t klen) {
  if (klen < ACCT_KEY_LEN)
    return 0;
  uint32_t v = 0;
  for (int i = 0; i < ACCT_KEY_LEN; i++) {
    if (key[i] < '0' || key[i] > '9')
      return 0;
    v = v * 10 + (uint32_t)(key[i] - '0');
  }
  return v;
}

/* Read account `no` (for update when update is set). WEFT_ENOTFOUND when
 * there is none; WEFT_ECORRUPT when the record is not an acct_rec. */
static int bank_acct_read(weft_task *t, uint32_t no, acct_rec *a, int update) {
  char key[ACCT_KEY_LEN + 1];
  size_t len = 0;
  acct_key(key, no);
  int rc = weft_file_read(t, F_ACCT, key, ACCT_KEY_LEN, a, sizeof *a, &len,
                          update ? WEFT_READ_UPDATE : 0);
  if (rc == 0 && (len != sizeof *a || memcmp(a->magic, "ACT1", 4) != 0))
    rc = WEFT_ECORRUPT;
  if (rc == 0)
    a->holder[HOLDER_MAX + 1] = 0;
  return rc;
}

/* Replace account `no` (read for update before). */
static int acct_rewrite(weft_task *t, uint32_t no, const acct_rec *a) {
  char key[ACCT_KEY_LEN + 1];
  acct_key(key, no);
  return weft_file_rewrite(t, F_ACCT, key, ACCT_KEY_LEN, a, sizeof *a);
}

/* Add a new account record `no` (WEFT_EEXIST if it exists). */
static int acct_write(weft_task *t, uint32_t no, const acct_rec *a) {
  char key[ACCT_KEY_LEN + 1];
  acct_key(key, no);
  return weft_file_write(t, F_ACCT, key, ACCT_KEY_LEN, a, sizeof *a);
}

/* A fresh account record. */
static void acct_init(acct_rec *a, const char *holder, int64_t balance) {
  memset(a, 0, sizeof *a);
  memcpy(a->magic, "ACT1", 4);
  a->next_seq = 1;
  a->balance = balance;
  snprintf(a->holder, sizeof a->holder, "%s", holder);
}

/* Append a history entry to account `no`, whose record *a this UOW holds
 * locked: the entry gets a->next_seq, which is advanced (the caller
 * rewrites or writes *a afterwards). */
static int hist_add(weft_task *t, uint32_t no, acct_rec *a, char type, int64_t amount,
                    uint32_t counterparty) {
  hist_rec h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, "HST1", 4);
  h.type = type;
  snprintf(h.user, sizeof h.user, "%s", weft_task_userid(t));
  h.counterparty = counterparty;
  h.amount = amount;
  h.balance = a->balance;
  h.uow = weft_task_uow(t);
  char key[HIST_KEY_LEN + 1];
  hist_key(key, no, a->next_seq);
  int rc = weft_file_write(t, F_HIST, key, HIST_KEY_LEN, &h, sizeof h);
  if (rc == 0)
    a->next_seq++;
  return rc;
}

/* Read the control record (for update when update is set). WEFT_ENOTFOUND
 * when the bank was never seeded. */
static int ctl_read(weft_task *t, ctl_rec *c, int update) {
  size_t len = 0;
  int rc = weft_file_read(t, F_CTL, CTL_KEY, strlen(CTL_KEY), c, sizeof *c, &len,
                          update ? WEFT_READ_UPDATE : 0);
  if (rc == 0 && (len != sizeof *c || memcmp(c->magic, "CTL1", 4) != 0))
    rc = WEFT_ECORRUPT;
  return rc;
}

static int ctl_rewrite(weft_task *t, const ctl_rec *c) {
  return weft_file_rewrite(t, F_CTL, CTL_KEY, strlen(CTL_KEY), c, sizeof *c);
}

/* Read account `no` for a transaction; says what is wrong and returns
 * non-zero when it cannot (the UOW is rolled back then). */
static int acct_get_m(weft_task *t, bank_msg *m, uint32_t no, acct_rec *a, int update) {
  int rc = bank_acct_read(t, no, a, update);
  if (rc == WEFT_ENOTFOUND) {
    weft_rollback(t);
    refuse_m(t, m, 404, "ERROR: account %lu not found", (unsigned long)no);
  } else if (rc != 0) {
    fail_m(t, m, "reading the account", rc);
  }
  return rc;
}

static int acct_get(weft_task *t, uint32_t no, acct_rec *a, int update) {
  return acct_get_m(t, NULL, no, a, update);
}

/* Commit, then confirm: a confirmation is only shown for a committed UOW.
 * Returns 0 when committed (else says so). */
static int commit_m(weft_task *t, bank_msg *m) {
  int rc = weft_syncpoint(t);
  if (rc == WEFT_ESYS) /* the log failed: restart recovery decides (docs/recovery.md) */
    refuse_m(t, m, 500,
             "ERROR: the region's log failed: whether the change was committed is known after "
             "the region restarts");
  else if (rc != 0)
    refuse_m(t, m, 500, "ERROR: the change could not be committed and was backed out (%s)",
             weft_err_name(rc));
  return rc;
}

/* ------------------------------------------------------------------------ */
/* MENU                                                                      */
/* ------------------------------------------------------------------------ */

/* MENU: the transactions and their input. */
WEFT_PROGRAM void bank_menu(weft_task *t) {
  say(t, "WEFT SAMPLE BANK - TRANSACTIONS");
  say(t, "  MENU                   this list");
  say(t, "  INQ  acct              holder and balance of an account");
  say(t, "  DEP  acct amount       deposit (amount: 25 or 25.50)");
  say(t, "  WDR  acct amount       withdraw (no overdrafts)");
  say(t, "  XFER from to amount    transfer between two accounts");
  say(t, "  STMT acct              statement, %d entries a page", BANK_STMT_PAGE);
  say(t, "                         (then Enter: next page, B: back, Q: quit)");
  say(t, "  OPEN                   open an account (asks for name and deposit)");
  say(t, "  AUDT                   audit every account (auditors)");
}

/* ------------------------------------------------------------------------ */
/* INQ                                                                       */
/* ------------------------------------------------------------------------ */

/* The value of key in a flat JSON object (a string without escapes other
 * than \" and \\, a number, true, false) into out as text: 0, -1 when
 * the key is absent, -2 when the body is not such an object or the value
 * does not fit. A small reader for the bank's request bodies, not a
 * general JSON parser. */
static int json_field(const char *body, const char *key, char *out, size_t cap) {
  const char *p = body + strspn(body, " \t\r\n");
  if (*p != '{')
    return *p == '\0' ? -1 : -2;
  for (p++;;) {
    p += strspn(p, " \t\r\n,");
    if (*p == '}')
      return -1;
    if (*p != '"')
      return -2;
    const char *k = ++p;
    while (*p && *p != '"')
      p++;
    if (*p != '"')
      return -2;
    size_t klen = (size_t)(p - k);
    p++;
    p += strspn(p, " \t\r\n");
    if (*p++ != ':')
      return -2;
    p += strspn(p, " \t\r\n");
    size_t o = 0;
    if (*p == '"') {
      for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
          p++;
        else if (*p == '\\')
          return -2;
        if (o + 1 >= cap)
          return -2;
        out[o++] = *p;
      }
      if (*p++ != '"')
        return -2;
    } else {
      while (*p && strchr(",} \t\r\n", *p) == NULL) {
        if (o + 1 >= cap)
          return -2;
        out[o++] = *p++;
      }
      if (o == 0)
        return -2;
    }
    out[o] = '\0';
    if (klen == strlen(key) && memcmp(k, key, klen) == 0)
      return 0;
  }
}

/* An HTTP request's input as the words a terminal would type: each name
 * of the usage after the first ("DEP acct amount": acct, amount) from the
 * route's path parameters, the query or the JSON body, in that order. */
static int http_words(weft_task *t, char *buf, size_t cap, char **w, int n, const char *usage) {
  const void *body = "";
  weft_http_body(t, &body, NULL);
  const char *u = usage + strcspn(usage, " ");
  size_t used = 0;
  for (int i = 0; i < n; i++) {
    char name[32], val[INPUT_MAX + 1];
    u += strspn(u, " ");
    size_t nl = strcspn(u, " ");
    snprintf(name, sizeof name, "%.*s", (int)(nl < sizeof name ? nl : sizeof name - 1), u);
    u += nl;
    const char *v = weft_http_param(t, name);
    if (v == NULL)
      v = weft_http_query(t, name);
    int rc = v != NULL ? 0 : json_field(body, name, val, sizeof val);
    if (rc == -2) {
      refuse(t, 400, "ERROR: the body is not a JSON object of %s", usage + strcspn(usage, " ") + 1);
      return -1;
    }
    if (rc == -1) {
      refuse(t, 400, "ERROR: %s is missing (give %s)", name, usage + strcspn(usage, " ") + 1);
      return -1;
    }
    if (v == NULL)
      v = val;
    if (copy_text(buf + used, cap - used, v, strlen(v)) != 0) {
      refuse(t, 400, "ERROR: %s is too long", name);
      return -1;
    }
    w[i] = buf + used;
    used += strlen(v) + 1;
  }
  return n;
}

/* Parse the start data as exactly `n` words (account numbers and amounts),
 * or say the usage. Returns the words' count or -1. An HTTP request's
 * words come from its fields (http_words). */
static int get_words(weft_task *t, char *buf, size_t cap, char **w, int n, const char *usage) {
  if (weft_http_is_request(t))
    return http_words(t, buf, cap, w, n, usage);
  if (start_text(t, buf, cap) != 0)
    return -1;
  if (split(buf, w, n) != n) {
    refuse(t, 400, "ERROR: usage: %s", usage);
    return -1;
  }
  return n;
}

/* An account number word, or says it is bad. */
static int get_acct(weft_task *t, const char *word, uint32_t *no) {
  if (bank_parse_acct(word, no) != 0) {
    refuse(t, 400, "ERROR: bad account number '%.20s' (1 to 8 digits)", word);
    return -1;
  }
  return 0;
}

int bank_inquire(weft_task *t, bank_msg *m, uint32_t no, char *holder, size_t cap,
                 int64_t *balance) {
  acct_rec a;
  if (acct_get_m(t, m, no, &a, 0) != 0)
    return -1;
  snprintf(holder, cap, "%s", a.holder);
  *balance = a.balance;
  return 0;
}

/* An account as JSON (HTTP): {"account":7,"holder":"...","balance":"12.50"}. */
static void json_account(weft_task *t, uint32_t no, const char *holder, int64_t balance) {
  char bal[48];
  weft_http_printf(t, "{\"account\":%lu,\"holder\":", (unsigned long)no);
  json_str(t, holder);
  weft_http_printf(t, ",\"balance\":\"%s\"}", bank_fmt_money(bal, sizeof bal, balance, 0));
}

/* INQ acct: the account's holder and balance. */
WEFT_PROGRAM void bank_inq(weft_task *t) {
  char buf[INPUT_MAX + 1], *w[1], holder[HOLDER_MAX + 1];
  uint32_t no;
  int64_t balance;
  if (get_words(t, buf, sizeof buf, w, 1, "INQ acct") < 0 || get_acct(t, w[0], &no) != 0)
    return;
  if (bank_inquire(t, NULL, no, holder, sizeof holder, &balance) != 0)
    return;
  if (weft_http_is_request(t)) {
    json_account(t, no, holder, balance);
    weft_http_write(t, "\n", 1);
  } else
    say(t, "ACCOUNT %lu  %-30s  BALANCE %16s", (unsigned long)no, holder, M(balance).s);
}

/* ------------------------------------------------------------------------ */
/* DEP and WDR                                                               */
/* ------------------------------------------------------------------------ */

/* Apply a deposit (sign 1) or withdrawal (sign -1) of `amount` to account
 * `no` in one UOW and confirm it. */
int bank_post(weft_task *t, bank_msg *m, uint32_t no, int64_t amount, int sign) {
  acct_rec a;
  if (acct_get_m(t, m, no, &a, 1) != 0)
    return -1;
  if (sign < 0 && a.balance < amount) {
    weft_rollback(t);
    refuse_m(t, m, 409, "REFUSED: insufficient funds in account %lu: balance %s, withdrawal %s",
             (unsigned long)no, M(a.balance).s, M(amount).s);
    return -1;
  }
  if (sign > 0 && a.balance > BALANCE_MAX - amount) {
    weft_rollback(t);
    refuse_m(t, m, 409, "REFUSED: the balance of account %lu would pass %s", (unsigned long)no,
             M(BALANCE_MAX).s);
    return -1;
  }
  a.balance += sign * amount;
  int rc = hist_add(t, no, &a, sign > 0 ? HT_DEP : HT_WDR, sign * amount, 0);
  if (rc == 0)
    rc = acct_rewrite(t, no, &a);
  if (rc != 0) {
    fail_m(t, m, sign > 0 ? "the deposit" : "the withdrawal", rc);
    return -1;
  }
  if (commit_m(t, m) != 0)
    return -1;
  if (m == NULL && weft_http_is_request(t)) {
    json_account(t, no, a.holder, a.balance);
    weft_http_write(t, "\n", 1);
    return 0;
  }
  tell(t, m, "%s %s %s ACCOUNT %lu  NEW BALANCE %s", sign > 0 ? "DEPOSITED" : "WITHDRAWN",
       M(amount).s, sign > 0 ? "TO" : "FROM", (unsigned long)no, M(a.balance).s);
  return 0;
}

/* DEP and WDR: parse "acct amount" and post it. */
static void deposit_or_withdraw(weft_task *t, int sign) {
  char buf[INPUT_MAX + 1], *w[2];
  uint32_t no;
  int64_t amount;
  const char *usage = sign > 0 ? "DEP acct amount" : "WDR acct amount";
  if (get_words(t, buf, sizeof buf, w, 2, usage) < 0 || get_acct(t, w[0], &no) != 0 ||
      parse_amount(t, w[1], 0, &amount) != 0)
    return;
  bank_post(t, NULL, no, amount, sign);
}

/* DEP acct amount: deposit. */
WEFT_PROGRAM void bank_dep(weft_task *t) {
  deposit_or_withdraw(t, 1);
}

/* WDR acct amount: withdraw; an overdraft is refused. */
WEFT_PROGRAM void bank_wdr(weft_task *t) {
  deposit_or_withdraw(t, -1);
}

/* ------------------------------------------------------------------------ */
/* XFER                                                                      */
/* ------------------------------------------------------------------------ */

/* Lock both accounts, lower number first (the bank's lock order). On
 * failure (said to m) *bad is the account that failed: BANK_BAD_FROM or
 * BANK_BAD_TO. */
static int lock_pair(weft_task *t, bank_msg *m, uint32_t from, uint32_t to, acct_rec *af,
                     acct_rec *at, int *bad) {
  int low_is_from = from < to;
  uint32_t low = low_is_from ? from : to, high = low_is_from ? to : from;
  acct_rec *al = low_is_from ? af : at, *ah = low_is_from ? at : af;
  *bad = low_is_from ? BANK_BAD_FROM : BANK_BAD_TO;
  int rc = acct_get_m(t, m, low, al, 1);
  if (rc != 0)
    return rc;
  *bad = low_is_from ? BANK_BAD_TO : BANK_BAD_FROM;
  return acct_get_m(t, m, high, ah, 1);
}

/* Move amount from -> to: both rewrites and both history entries. */
static int xfer_apply(weft_task *t, uint32_t from, uint32_t to, acct_rec *af, acct_rec *at,
                      int64_t amount) {
  af->balance -= amount;
  at->balance += amount;
  int rc = hist_add(t, from, af, HT_XFER, -amount, to);
  if (rc == 0)
    rc = hist_add(t, to, at, HT_XFER, amount, from);
  if (rc == 0)
    rc = acct_rewrite(t, from, af);
  if (rc == 0)
    rc = acct_rewrite(t, to, at);
  return rc;
}

/* Transfer amount from -> to in one unit of work and confirm it (XFER,
 * POST /transfers and the 3270 transfer screen). */
int bank_transfer(weft_task *t, bank_msg *m, uint32_t from, uint32_t to, int64_t amount) {
  acct_rec af, at;
  int bad = 0;
  if (from == to) {
    refuse_m(t, m, 409, "REFUSED: cannot transfer from account %lu to itself",
             (unsigned long)from);
    return BANK_BAD_TO;
  }
  int rc = lock_pair(t, m, from, to, &af, &at, &bad);
  if (rc != 0) /* an unknown account is that field's fault; busy records are not */
    return rc == WEFT_ENOTFOUND ? bad : -1;
  if (af.balance < amount) {
    weft_rollback(t);
    refuse_m(t, m, 409, "REFUSED: insufficient funds in account %lu: balance %s, transfer %s",
             (unsigned long)from, M(af.balance).s, M(amount).s);
    return BANK_BAD_AMOUNT;
  }
  if (at.balance > BALANCE_MAX - amount) {
    weft_rollback(t);
    refuse_m(t, m, 409, "REFUSED: the balance of account %lu would pass %s", (unsigned long)to,
             M(BALANCE_MAX).s);
    return BANK_BAD_AMOUNT;
  }
  rc = xfer_apply(t, from, to, &af, &at, amount);
  if (rc != 0) {
    fail_m(t, m, "the transfer", rc);
    return -1;
  }
  if (commit_m(t, m) != 0)
    return -1;
  if (m != NULL) {
    tell(t, m, "TRANSFERRED %s FROM %lu (NOW %s) TO %lu (NOW %s)", M(amount).s,
         (unsigned long)from, M(af.balance).s, (unsigned long)to, M(at.balance).s);
    return 0;
  }
  if (weft_http_is_request(t)) {
    char amt[48];
    weft_http_printf(t, "{\"amount\":\"%s\",\"from\":", bank_fmt_money(amt, sizeof amt, amount, 0));
    json_account(t, from, af.holder, af.balance);
    weft_http_write(t, ",\"to\":", 6);
    json_account(t, to, at.holder, at.balance);
    weft_http_write(t, "}\n", 2);
    return 0;
  }
  say(t, "TRANSFERRED %s FROM ACCOUNT %lu TO ACCOUNT %lu", M(amount).s, (unsigned long)from,
      (unsigned long)to);
  say(t, "ACCOUNT %lu  NEW BALANCE %s", (unsigned long)from, M(af.balance).s);
  say(t, "ACCOUNT %lu  NEW BALANCE %s", (unsigned long)to, M(at.balance).s);
  return 0;
}

/* XFER from to amount: one unit of work over both accounts. */
WEFT_PROGRAM void bank_xfer(weft_task *t) {
  char buf[INPUT_MAX + 1], *w[3];
  uint32_t from, to;
  int64_t amount;
  if (get_words(t, buf, sizeof buf, w, 3, "XFER from to amount") < 0 ||
      get_acct(t, w[0], &from) != 0 || get_acct(t, w[1], &to) != 0 ||
      parse_amount(t, w[2], 0, &amount) != 0)
    return;
  bank_transfer(t, NULL, from, to, amount);
}

/* ------------------------------------------------------------------------ */
/* STMT: a pseudo-conversational statement                                   */
/* ------------------------------------------------------------------------ */

/* What STMT keeps between its screens (the COMMAREA of weft_return). */
typedef struct stmt_ca {
  char magic[4]; /* "STM1" */
  uint32_t acct;
  uint32_t first_seq; /* entry numbers of the page on the screen */
  uint32_t last_seq;
  uint32_t page; /* its page number, from 1 */
} stmt_ca;

/* One history entry with its number. */
typedef struct stmt_line {
  uint32_t seq;
  hist_rec h;
} stmt_line;

/* Read up to `max` entries of account `acct` starting at entry `seq`,
 * forward or backward, into out[] (always in ascending order). *n gets the
 * count. */
static int hist_page(weft_task *t, uint32_t acct, uint32_t seq, int backward, stmt_line *out,
                     int max, int *n) {
  char key[HIST_KEY_LEN + 1], got[WEFT_KEY_MAX];
  weft_browse *b = NULL;
  *n = 0;
  hist_key(key, acct, seq);
  int rc = weft_browse_start(t, F_HIST, key, HIST_KEY_LEN, backward ? WEFT_BROWSE_BACKWARD : 0, &b);
  if (rc == WEFT_ENOTFOUND || rc == WEFT_EENDFILE)
    return 0;
  while (rc == 0 && *n < max) {
    stmt_line l;
    size_t klen = 0, len = 0;
    rc = weft_browse_next(b, got, sizeof got, &klen, &l.h, sizeof l.h, &len);
    if (rc != 0)
      break; /* WEFT_ERANGE: a record longer than an entry, see below */
    if (klen != HIST_KEY_LEN || memcmp(got, key, ACCT_KEY_LEN) != 0)
      break; /* another account's entries: this one's are done */
    if (len != sizeof l.h || memcmp(l.h.magic, "HST1", 4) != 0) {
      rc = WEFT_ECORRUPT;
      break;
    }
    l.seq = key_number(got + ACCT_KEY_LEN, ACCT_KEY_LEN);
    out[(*n)++] = l;
  }
  weft_browse_end(b);
  if (rc == WEFT_EENDFILE)
    rc = 0;
  else if (rc == WEFT_ERANGE)
    rc = WEFT_ECORRUPT; /* not a history entry */
  if (backward)         /* put the entries back in time order */
    for (int i = 0; i < *n / 2; i++) {
      stmt_line x = out[i];
      out[i] = out[*n - 1 - i];
      out[*n - 1 - i] = x;
    }
  return rc;
}

/* A history entry as words. */
static const char *hist_text(const hist_rec *h, char *buf, size_t cap) {
  switch (h->type) {
    case HT_SEED:
      return "OPENING BALANCE";
    case HT_OPEN:
      return "ACCOUNT OPENED";
    case HT_DEP:
      return "DEPOSIT";
    case HT_WDR:
      return "WITHDRAWAL";
    case HT_XFER:
      snprintf(buf, cap, "%s %lu", h->amount < 0 ? "TRANSFER TO" : "TRANSFER FROM",
               (unsigned long)h->counterparty);
      return buf;
    default:
      return "?";
  }
}

/* One statement line (the line-mode page and the 3270 screen). */
static void stmt_format(const stmt_line *l, char *buf, size_t cap) {
  char what[32], amt[48];
  amt[0] = l->h.amount > 0 ? '+' : ' ';
  bank_fmt_money(amt + 1, sizeof amt - 1, l->h.amount, 1);
  snprintf(buf, cap, "  %5lu  %-22s %15s %16s  %s", (unsigned long)l->seq,
           hist_text(&l->h, what, sizeof what), amt[1] == '-' ? amt + 1 : amt,
           M(l->h.balance).s, l->h.user[0] ? l->h.user : "-");
}

/* Show one page of entries. */
static void stmt_show(weft_task *t, const stmt_ca *ca, const char *holder, const stmt_line *l,
                      int n) {
  say(t, "STATEMENT ACCOUNT %lu  %s  PAGE %lu", (unsigned long)ca->acct, holder,
      (unsigned long)ca->page);
  say(t, "%s", BANK_STMT_HEADER);
  for (int i = 0; i < n; i++) {
    char line[BANK_LINE];
    stmt_format(&l[i], line, sizeof line);
    say(t, "%s", line);
  }
}

/* Whether account acct has an entry after `seq`. */
static int stmt_more(weft_task *t, uint32_t acct, uint32_t seq, int *more) {
  stmt_line l;
  int n = 0;
  int rc = hist_page(t, acct, seq + 1, 0, &l, 1, &n);
  *more = n > 0;
  return rc;
}

/* Show the page in l[0..n) and either continue the pseudo-conversation
 * (weft_return to STMT: the next input comes back to this program) or end
 * it when there is nothing after the page. */
static void stmt_screen(weft_task *t, stmt_ca *ca, const char *holder, const stmt_line *l, int n) {
  int more = 0;
  ca->first_seq = l[0].seq;
  ca->last_seq = l[n - 1].seq;
  stmt_show(t, ca, holder, l, n);
  int rc = stmt_more(t, ca->acct, ca->last_seq, &more);
  if (rc != 0) {
    fail(t, "reading the history", rc);
    return;
  }
  if (!more) {
    say(t, "END OF STATEMENT");
    return;
  }
  if (weft_task_termid(t)[0] == 0) {
    say(t, "MORE ENTRIES FOLLOW (a terminal pages through them)");
    return;
  }
  say(t, "ENTER: NEXT PAGE   B: PREVIOUS PAGE   Q: QUIT");
  rc = weft_return(t, "STMT", ca, sizeof *ca); /* returns only on error */
  say(t, "ERROR: the statement cannot continue (%s)", weft_err_name(rc));
}

int bank_history(weft_task *t, bank_msg *m, uint32_t acct, uint32_t seq, int backward,
                 bank_entry *out, int *n, int *more) {
  stmt_line l[BANK_STMT_PAGE];
  *n = 0;
  *more = 0;
  int rc = hist_page(t, acct, seq, backward, l, BANK_STMT_PAGE, n);
  if (rc == 0 && *n > 0)
    rc = stmt_more(t, acct, l[*n - 1].seq, more);
  if (rc != 0) {
    *n = 0;
    fail_m(t, m, "reading the history", rc);
    return -1;
  }
  for (int i = 0; i < *n; i++) {
    out[i].seq = l[i].seq;
    stmt_format(&l[i], out[i].line, sizeof out[i].line);
  }
  return 0;
}

/* The first screen: STMT acct. */
static void stmt_first(weft_task *t) {
  char buf[INPUT_MAX + 1], *w[1];
  stmt_ca ca = {{'S', 'T', 'M', '1'}, 0, 0, 0, 1};
  stmt_line l[BANK_STMT_PAGE];
  acct_rec a;
  int n = 0;
  if (get_words(t, buf, sizeof buf, w, 1, "STMT acct") < 0 || get_acct(t, w[0], &ca.acct) != 0)
    return;
  if (acct_get(t, ca.acct, &a, 0) != 0)
    return;
  int rc = hist_page(t, ca.acct, 0, 0, l, BANK_STMT_PAGE, &n);
  if (rc != 0) {
    fail(t, "reading the history", rc);
    return;
  }
  if (n == 0) {
    say(t, "STATEMENT ACCOUNT %lu  %s: NO ENTRIES", (unsigned long)ca.acct, a.holder);
    return;
  }
  stmt_screen(t, &ca, a.holder, l, n);
}

/* A following screen: the input is "", "B" or "Q". */
static void stmt_next(weft_task *t, stmt_ca *ca) {
  char buf[INPUT_MAX + 1];
  stmt_line l[BANK_STMT_PAGE];
  acct_rec a;
  int n = 0, rc;
  if (start_text(t, buf, sizeof buf) != 0)
    buf[0] = '?';
  char *in = trim(buf);
  if (strcmp(in, "Q") == 0 || strcmp(in, "q") == 0) {
    say(t, "STATEMENT ENDED");
    return;
  }
  if (acct_get(t, ca->acct, &a, 0) != 0)
    return;
  if (in[0] == 0) { /* the next page */
    if ((rc = hist_page(t, ca->acct, ca->last_seq + 1, 0, l, BANK_STMT_PAGE, &n)) == 0 && n > 0)
      ca->page++;
  } else if (strcmp(in, "B") == 0 || strcmp(in, "b") == 0) {
    rc = ca->first_seq > 1 ? hist_page(t, ca->acct, ca->first_seq - 1, 1, l, BANK_STMT_PAGE, &n) : 0;
    if (rc == 0 && n > 0 && ca->page > 1)
      ca->page--;
    if (rc == 0 && n == 0) {
      say(t, "ALREADY AT THE FIRST PAGE");
      rc = hist_page(t, ca->acct, ca->first_seq, 0, l, BANK_STMT_PAGE, &n);
    }
  } else {
    say(t, "ERROR: enter nothing for the next page, B for the previous one or Q to quit");
    rc = hist_page(t, ca->acct, ca->first_seq, 0, l, BANK_STMT_PAGE, &n);
  }
  if (rc != 0) {
    fail(t, "reading the history", rc);
    return;
  }
  if (n == 0) {
    say(t, "END OF STATEMENT");
    return;
  }
  stmt_screen(t, ca, a.holder, l, n);
}

/* STMT acct: the account's history, BANK_STMT_PAGE entries a screen. The first
 * screen is started with "acct"; each later one by the terminal with the
 * next input line and the COMMAREA the previous screen returned with. */
/* A statement page for HTTP: GET /accounts/{acct}/statement?page=N (from
 * 1, BANK_STMT_PAGE entries a page, oldest first; entries are numbered from 1
 * without gaps), with "more" when entries follow. */
static void stmt_http(weft_task *t) {
  char buf[INPUT_MAX + 1], *w[1];
  uint32_t acct, page = 1;
  acct_rec a;
  stmt_line l[BANK_STMT_PAGE];
  int n = 0, more = 0;
  const char *pg = weft_http_query(t, "page");
  if (get_words(t, buf, sizeof buf, w, 1, "STMT acct") < 0 || get_acct(t, w[0], &acct) != 0)
    return;
  if (pg != NULL && (bank_parse_acct(pg, &page) != 0 || page > 10000000u)) {
    refuse(t, 400, "ERROR: bad page '%.20s' (1 to 10000000)", pg);
    return;
  }
  if (acct_get(t, acct, &a, 0) != 0)
    return;
  uint32_t first = (page - 1) * BANK_STMT_PAGE + 1;
  int rc = hist_page(t, acct, first, 0, l, BANK_STMT_PAGE, &n);
  if (rc == 0 && n > 0)
    rc = stmt_more(t, acct, l[n - 1].seq, &more);
  if (rc != 0) {
    fail(t, "reading the history", rc);
    return;
  }
  weft_http_printf(t, "{\"account\":%lu,\"holder\":", (unsigned long)acct);
  json_str(t, a.holder);
  weft_http_printf(t, ",\"page\":%lu,\"entries\":[", (unsigned long)page);
  for (int i = 0; i < n; i++) {
    char what[32], amt[48], bal[48];
    weft_http_printf(
        t, "%s{\"entry\":%lu,\"what\":\"%s\",\"amount\":\"%s\",\"balance\":\"%s\",\"by\":",
        i ? "," : "", (unsigned long)l[i].seq, hist_text(&l[i].h, what, sizeof what),
        bank_fmt_money(amt, sizeof amt, l[i].h.amount, 0),
        bank_fmt_money(bal, sizeof bal, l[i].h.balance, 0));
    json_str(t, l[i].h.user);
    weft_http_write(t, "}", 1);
  }
  weft_http_printf(t, "],\"more\":%s}\n", more ? "true" : "false");
}

WEFT_PROGRAM void bank_stmt(weft_task *t) {
  void *data = NULL;
  size_t len = 0;
  stmt_ca ca;
  if (weft_http_is_request(t)) {
    stmt_http(t);
    return;
  }
  if (weft_commarea(t, &data, &len) != 0 || data == NULL || len == 0) {
    stmt_first(t);
    return;
  }
  if (len != sizeof ca) {
    say(t, "ERROR: the statement's saved state is damaged; start again with STMT acct");
    return;
  }
  memcpy(&ca, data, sizeof ca);
  if (memcmp(ca.magic, "STM1", 4) != 0 || ca.acct == 0 || ca.page == 0) {
    say(t, "ERROR: the statement's saved state is damaged; start again with STMT acct");
    return;
  }
  stmt_next(t, &ca);
}

/* ------------------------------------------------------------------------ */
/* OPEN: a conversational transaction                                        */
/* ------------------------------------------------------------------------ */

/* Ask a question and wait for the answer. Returns 0 with the trimmed
 * answer in buf, or -1 when the conversation is over (timeout, CANCEL, no
 * terminal), having said why. */
static int ask(weft_task *t, const char *question, char *buf, size_t cap, char **answer) {
  for (;;) {
    char line[INPUT_MAX + 1];
    size_t len = 0;
    say(t, "%s", question);
    int rc = weft_receive(t, line, sizeof line - 1, &len, g_receive_ms);
    if (rc == WEFT_ERANGE) {
      say(t, "ERROR: that line is too long (at most %u characters)", (unsigned)(sizeof line - 1));
      continue;
    }
    if (rc == WEFT_ETIMEDOUT) {
      say(t, "NO ANSWER IN TIME: OPEN CANCELLED, NOTHING WAS CHANGED");
      return -1;
    }
    if (rc != 0) {
      say(t, "ERROR: OPEN needs a terminal (%s)", weft_err_name(rc));
      return -1;
    }
    copy_text(buf, cap, line, len < cap ? len : cap - 1);
    *answer = trim(buf);
    if (strcmp(*answer, "CANCEL") == 0 || strcmp(*answer, "cancel") == 0) {
      say(t, "OPEN CANCELLED, NOTHING WAS CHANGED");
      return -1;
    }
    return 0;
  }
}

/* Ask for the holder's name until it is valid (OPEN_TRIES at most). */
static int ask_name(weft_task *t, char name[HOLDER_MAX + 1]) {
  for (int i = 0; i < OPEN_TRIES; i++) {
    char buf[INPUT_MAX + 1], *ans;
    if (ask(t, "HOLDER NAME? (1 to 30 characters, CANCEL to stop)", buf, sizeof buf, &ans) != 0)
      return -1;
    if (bank_check_holder(t, NULL, ans) == 0) {
      memcpy(name, ans, strlen(ans) + 1);
      return 0;
    }
  }
  say(t, "TOO MANY BAD ANSWERS: OPEN CANCELLED, NOTHING WAS CHANGED");
  return -1;
}

/* Ask for the initial deposit until it is valid (0 allowed). */
static int ask_deposit(weft_task *t, int64_t *amount) {
  for (int i = 0; i < OPEN_TRIES; i++) {
    char buf[INPUT_MAX + 1], *ans;
    if (ask(t, "INITIAL DEPOSIT? (e.g. 100 or 100.00)", buf, sizeof buf, &ans) != 0)
      return -1;
    if (parse_amount(t, ans, 1, amount) == 0)
      return 0;
  }
  say(t, "TOO MANY BAD ANSWERS: OPEN CANCELLED, NOTHING WAS CHANGED");
  return -1;
}

int bank_check_holder(weft_task *t, bank_msg *m, const char *name) {
  size_t n = strlen(name);
  if (n >= 1 && n <= HOLDER_MAX && strchr(name, '?') == NULL)
    return 0;
  refuse_m(t, m, 400, "ERROR: a name is 1 to %d printable characters", HOLDER_MAX);
  return -1;
}

/* Create the account in one UOW: the next number from the control record,
 * the account, its first history entry and the control record. */
int bank_open_account(weft_task *t, bank_msg *m, const char *name, int64_t amount,
                      uint32_t *opened) {
  ctl_rec c;
  acct_rec a;
  int rc = ctl_read(t, &c, 1);
  if (rc == WEFT_ENOTFOUND || (rc == 0 && !c.seeded)) {
    weft_rollback(t);
    refuse_m(t, m, 503, "ERROR: the bank is not set up yet (its seed, BSED, has not finished)");
    return -1;
  }
  if (rc == 0 && c.next_acct > ACCT_MAX)
    rc = WEFT_ELIMIT;
  uint32_t no = rc == 0 ? c.next_acct++ : 0;
  acct_init(&a, name, amount);
  if (rc == 0)
    rc = hist_add(t, no, &a, HT_OPEN, amount, 0);
  if (rc == 0)
    rc = acct_write(t, no, &a);
  if (rc == 0)
    rc = ctl_rewrite(t, &c);
  if (rc != 0) {
    fail_m(t, m, "opening the account", rc);
    return -1;
  }
  if (commit_m(t, m) != 0)
    return -1;
  *opened = no;
  if (m == NULL && weft_http_is_request(t)) {
    weft_http_set_status(t, 201);
    char loc[32];
    snprintf(loc, sizeof loc, "/accounts/%lu", (unsigned long)no);
    weft_http_set_header(t, "Location", loc);
    json_account(t, no, a.holder, a.balance);
    weft_http_write(t, "\n", 1);
    return 0;
  }
  tell(t, m, "ACCOUNT %lu OPENED FOR %s  BALANCE %s", (unsigned long)no, name, M(amount).s);
  return 0;
}

/* OPEN: ask for the holder's name and the initial deposit (weft_receive),
 * then create the account. */
WEFT_PROGRAM void bank_open(weft_task *t) {
  char name[HOLDER_MAX + 1];
  int64_t amount = 0;
  uint32_t no;
  if (weft_http_is_request(t)) { /* POST /accounts {"holder": ..., "deposit": ...} */
    char buf[INPUT_MAX + 1], *w[2];
    if (get_words(t, buf, sizeof buf, w, 2, "OPEN holder deposit") < 0 ||
        parse_amount(t, w[1], 1, &amount) != 0)
      return;
    if (bank_check_holder(t, NULL, w[0]) != 0)
      return;
    bank_open_account(t, NULL, w[0], amount, &no);
    return;
  }
  say(t, "OPEN AN ACCOUNT");
  if (ask_name(t, name) != 0 || ask_deposit(t, &amount) != 0)
    return;
  bank_open_account(t, NULL, name, amount, &no);
}

/* ------------------------------------------------------------------------ */
/* AUDT: the audit                                                           */
/* ------------------------------------------------------------------------ */

/* Per account: its balance and what its history adds up to. */
typedef struct audit_acct {
  int64_t balance;
  int64_t history;
  int seen;
} audit_acct;

typedef struct audit {
  ctl_rec ctl;
  uint32_t cap; /* entries in acct[] (accounts 1..cap) */
  audit_acct *acct;
  uint32_t accounts; /* account records found */
  uint32_t strays;   /* records that are not accounts 1..cap */
  int64_t total;     /* sum of the balances */
  int64_t seeds, deposits, withdrawals, xfer_in, xfer_out;
  uint64_t entries;      /* history entries */
  uint32_t bad_accounts; /* balance != its history */
  uint32_t first_bad;
} audit;

/* Lock every account in key order (read for update) and sum balances. */
static int audit_accounts(weft_task *t, audit *au) {
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, F_ACCT, NULL, 0, 0, &b);
  if (rc == WEFT_ENOTFOUND || rc == WEFT_EENDFILE)
    return 0;
  while (rc == 0) {
    char key[WEFT_KEY_MAX];
    size_t klen = 0;
    acct_rec a;
    rc = weft_browse_next(b, key, sizeof key, &klen, NULL, 0, NULL);
    if (rc != 0)
      break;
    uint32_t no = klen == ACCT_KEY_LEN ? key_number(key, klen) : 0;
    if (no == 0 || no > au->cap) {
      au->strays++;
      continue;
    }
    if ((rc = bank_acct_read(t, no, &a, 1)) != 0) /* the lock: nobody changes it now */
      break;
    au->acct[no - 1].balance = a.balance;
    au->acct[no - 1].seen = 1;
    au->accounts++;
    au->total += a.balance;
    if (au->accounts % AUDIT_YIELD_EVERY == 0)
      weft_yield(t); /* a long audit must not look like a runaway task */
  }
  weft_browse_end(b);
  return rc == WEFT_EENDFILE ? 0 : rc;
}

/* Add one history entry to the figures. */
static void audit_entry(audit *au, uint32_t no, const hist_rec *h) {
  au->entries++;
  if (no >= 1 && no <= au->cap)
    au->acct[no - 1].history += h->amount;
  else
    au->strays++;
  switch (h->type) {
    case HT_SEED:
      au->seeds += h->amount;
      break;
    case HT_OPEN:
    case HT_DEP:
      au->deposits += h->amount;
      break;
    case HT_WDR:
      au->withdrawals -= h->amount;
      break;
    case HT_XFER:
      if (h->amount > 0)
        au->xfer_in += h->amount;
      else
        au->xfer_out -= h->amount;
      break;
    default:
      au->strays++;
  }
}

/* Browse the whole history and sum it, per type and per account. */
static int audit_history(weft_task *t, audit *au) {
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, F_HIST, NULL, 0, 0, &b);
  if (rc == WEFT_ENOTFOUND || rc == WEFT_EENDFILE)
    return 0;
  while (rc == 0) {
    char key[WEFT_KEY_MAX];
    size_t klen = 0, len = 0;
    hist_rec h;
    /* A record longer than an entry is WEFT_ERANGE: the audit fails on it
     * (the browse does not move past a record it could not return). */
    rc = weft_browse_next(b, key, sizeof key, &klen, &h, sizeof h, &len);
    if (rc != 0)
      break;
    if (len != sizeof h || memcmp(h.magic, "HST1", 4) != 0 || klen != HIST_KEY_LEN) {
      au->strays++;
      continue;
    }
    audit_entry(au, key_number(key, klen), &h);
    if (au->entries % AUDIT_YIELD_EVERY == 0)
      weft_yield(t);
  }
  weft_browse_end(b);
  return rc == WEFT_EENDFILE ? 0 : rc;
}

/* Compare every account's balance with its history. */
static void audit_compare(audit *au) {
  for (uint32_t i = 0; i < au->cap; i++) {
    const audit_acct *a = &au->acct[i];
    if (a->seen ? a->balance != a->history : a->history != 0) {
      if (au->bad_accounts++ == 0)
        au->first_bad = i + 1;
    }
  }
}

/* The verdict and the figures as text lines (the terminal's report and the
 * 3270 audit screen). Returns how many. */
static int audit_lines(const audit *au, int ok, const char *total, const char *exp,
                       char lines[BANK_AUDIT_LINES][BANK_LINE]) {
  int n = 0;
  if (ok)
    snprintf(lines[n++], BANK_LINE, "AUDIT OK accounts=%lu total=%s", (unsigned long)au->accounts,
             total);
  else
    snprintf(lines[n++], BANK_LINE, "AUDIT FAILED accounts=%lu (expected %lu) total=%s expected=%s",
             (unsigned long)au->accounts, (unsigned long)(au->ctl.next_acct - 1), total, exp);
  snprintf(lines[n++], BANK_LINE, "  opening total %s (seed entries %s)",
           M(au->ctl.opening_total).s, M(au->seeds).s);
  snprintf(lines[n++], BANK_LINE, "  deposits %s  withdrawals %s", M(au->deposits).s,
           M(au->withdrawals).s);
  snprintf(lines[n++], BANK_LINE, "  transfers in %s  out %s", M(au->xfer_in).s,
           M(au->xfer_out).s);
  snprintf(lines[n++], BANK_LINE, "  history entries %llu", (unsigned long long)au->entries);
  if (au->bad_accounts != 0)
    snprintf(lines[n++], BANK_LINE, "  %lu accounts disagree with their history (the first: %lu)",
             (unsigned long)au->bad_accounts, (unsigned long)au->first_bad);
  if (au->strays != 0)
    snprintf(lines[n++], BANK_LINE, "  %lu records are not the bank's", (unsigned long)au->strays);
  return n;
}

/* Whether the audit's figures agree. */
static int audit_ok(const audit *au) {
  int64_t expected = au->ctl.opening_total + au->deposits - au->withdrawals;
  return au->total == expected && au->xfer_in == au->xfer_out &&
         au->seeds == au->ctl.opening_total && au->bad_accounts == 0 && au->strays == 0 &&
         au->accounts == au->ctl.next_acct - 1;
}

/* Print the verdict and the figures. */
static void audit_report(weft_task *t, const audit *au) {
  int64_t expected = au->ctl.opening_total + au->deposits - au->withdrawals;
  uint32_t want_accounts = au->ctl.next_acct - 1;
  int ok = audit_ok(au);
  char total[48], exp[48];
  bank_fmt_money(total, sizeof total, au->total, 0);
  bank_fmt_money(exp, sizeof exp, expected, 0);
  if (weft_http_is_request(t)) {
    char a[5][48];
    weft_http_printf(
        t,
        "{\"ok\":%s,\"accounts\":%lu,\"expected_accounts\":%lu,\"total\":\"%s\","
        "\"expected_total\":\"%s\",\"opening_total\":\"%s\",\"deposits\":\"%s\","
        "\"withdrawals\":\"%s\",\"transfers_in\":\"%s\",\"transfers_out\":\"%s\","
        "\"history_entries\":%llu,\"bad_accounts\":%lu,\"stray_records\":%lu}\n",
        ok ? "true" : "false", (unsigned long)au->accounts, (unsigned long)want_accounts, total,
        exp, bank_fmt_money(a[0], 48, au->ctl.opening_total, 0),
        bank_fmt_money(a[1], 48, au->deposits, 0), bank_fmt_money(a[2], 48, au->withdrawals, 0),
        bank_fmt_money(a[3], 48, au->xfer_in, 0), bank_fmt_money(a[4], 48, au->xfer_out, 0),
        (unsigned long long)au->entries, (unsigned long)au->bad_accounts,
        (unsigned long)au->strays);
    return;
  }
  char lines[BANK_AUDIT_LINES][BANK_LINE];
  int n = audit_lines(au, ok, total, exp, lines);
  for (int i = 0; i < n; i++)
    say(t, "%s", lines[i]);
}

/* AUDT: with the control record and every account locked (so no
 * transaction can change a balance or open an account meanwhile), check
 * that the balances add up to the opening total plus deposits minus
 * withdrawals, that transfers net to zero and that every account agrees
 * with its own history. Changes nothing: the UOW is rolled back.
 * audit_run does the work for AUDT and the 3270 audit screen: 0, or -1
 * after saying why not (to m). */
static int audit_run(weft_task *t, bank_msg *m, audit *au) {
  memset(au, 0, sizeof *au);
  int rc = ctl_read(t, &au->ctl, 1);
  if (rc == WEFT_ENOTFOUND) {
    refuse_m(t, m, 503, "AUDIT FAILED: the bank has no control record (run BSED)");
    return -1;
  }
  if (rc != 0) {
    fail_m(t, m, "reading the control record", rc);
    return -1;
  }
  au->cap = au->ctl.next_acct > 0 ? au->ctl.next_acct - 1 : 0;
  au->acct = au->cap ? weft_getmain(t, (size_t)au->cap * sizeof *au->acct) : NULL;
  if (au->cap && au->acct == NULL) {
    fail_m(t, m, "the audit", WEFT_ENOMEM);
    return -1;
  }
  if ((rc = audit_accounts(t, au)) == 0)
    rc = audit_history(t, au);
  if (rc != 0) {
    fail_m(t, m, "the audit", rc);
    return -1;
  }
  audit_compare(au);
  weft_rollback(t); /* changes nothing, releases every lock */
  return 0;
}

/* AUDT: the audit, its report to the terminal or HTTP. */
WEFT_PROGRAM void bank_audt(weft_task *t) {
  audit au;
  if (audit_run(t, NULL, &au) == 0)
    audit_report(t, &au);
}

int bank_audit(weft_task *t, bank_msg *m, char lines[BANK_AUDIT_LINES][BANK_LINE], int *ok) {
  audit au;
  char total[48], exp[48];
  if (audit_run(t, m, &au) != 0)
    return -1;
  *ok = audit_ok(&au);
  bank_fmt_money(total, sizeof total, au.total, 0);
  bank_fmt_money(exp, sizeof exp,
                 au.ctl.opening_total + au.deposits - au.withdrawals, 0);
  int n = audit_lines(&au, *ok, total, exp, lines);
  if (au.acct != NULL)
    weft_freemain(t, au.acct);
  return n;
}

/* ------------------------------------------------------------------------ */
/* BSED: the seed                                                            */
/* ------------------------------------------------------------------------ */

/* A pseudo-random number from the account number (splitmix64), so a seed
 * resumed after a restart makes the same accounts. */
static uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/* A seeded account's holder and opening balance (100.00 .. 10,000.00). */
static void seed_account(uint32_t no, char *name, size_t cap, int64_t *balance) {
  static const char *first[] = {"Alice", "Bruno", "Chiara", "Dmitri", "Elena", "Farid",
                                "Greta", "Hiro",  "Ines",   "Jonas",  "Kofi",  "Lena",
                                "Mateo", "Nora",  "Omar",   "Priya"};
  static const char *last[] = {"Andersen", "Barros", "Chen",    "Dubois", "Eriksen",  "Fischer",
                               "Garcia",   "Haddad", "Ivanova", "Jensen", "Kowalski", "Lambert",
                               "Moreau",   "Novak",  "Okafor",  "Petrov"};
  uint64_t r = mix(no);
  snprintf(name, cap, "%s %s", first[r % 16], last[(r >> 8) % 16]);
  *balance = 10000 + (int64_t)((r >> 16) % 990001);
}

/* Make accounts c->next_acct .. up to SEED_BATCH of them, each with its
 * opening history entry. */
static int seed_batch(weft_task *t, ctl_rec *c) {
  for (uint32_t i = 0; i < SEED_BATCH && c->next_acct <= c->seed_target; i++) {
    char name[HOLDER_MAX + 1];
    int64_t bal;
    acct_rec a;
    uint32_t no = c->next_acct;
    seed_account(no, name, sizeof name, &bal);
    acct_init(&a, name, bal);
    int rc = hist_add(t, no, &a, HT_SEED, bal, 0);
    if (rc == 0)
      rc = acct_write(t, no, &a);
    if (rc != 0)
      return rc;
    c->opening_total += bal;
    c->next_acct++;
  }
  if (c->next_acct > c->seed_target)
    c->seeded = 1;
  return ctl_rewrite(t, c);
}

/* Lock the control record, creating it (for a seed of `target` accounts)
 * when there is none. */
static int seed_control(weft_task *t, ctl_rec *c, uint32_t target) {
  int rc = ctl_read(t, c, 1);
  if (rc != WEFT_ENOTFOUND)
    return rc;
  memset(c, 0, sizeof *c);
  memcpy(c->magic, "CTL1", 4);
  c->next_acct = 1;
  c->seed_target = target;
  rc = weft_file_write(t, F_CTL, CTL_KEY, strlen(CTL_KEY), c, sizeof *c);
  if (rc == WEFT_EEXIST) /* another seed made it meanwhile: use that one */
    rc = ctl_read(t, c, 1);
  return rc;
}

/* The seed's account count: the start data, else SEED_DEFAULT. */
static int seed_target(weft_task *t, uint32_t *target) {
  char buf[INPUT_MAX + 1], *w[1];
  *target = SEED_DEFAULT;
  if (start_text(t, buf, sizeof buf) != 0)
    return -1;
  int n = split(buf, w, 1);
  if (n == 0)
    return 0;
  if (n > 1 || bank_parse_acct(w[0], target) != 0 || *target > SEED_LIMIT) {
    refuse(t, 400, "ERROR: usage: BSED [accounts] (1 to %lu accounts)", (unsigned long)SEED_LIMIT);
    return -1;
  }
  return 0;
}

/* BSED [accounts]: the STARTUP seed. If the control record says the bank
 * is not seeded, make the accounts (default 1000) with pseudo-random
 * holders and opening balances, SEED_BATCH per unit of work, keeping the
 * progress in the control record: a seed cut short by a crash is resumed
 * by the next BSED, and a seeded bank is left alone. */
WEFT_PROGRAM void bank_seed(weft_task *t) {
  uint32_t target;
  ctl_rec c;
  if (seed_target(t, &target) != 0)
    return;
  for (;;) {
    int rc = seed_control(t, &c, target);
    if (rc == 0 && c.seeded) {
      weft_rollback(t);
      say(t, "BANK ALREADY SEEDED: %lu ACCOUNTS, OPENING TOTAL %s", (unsigned long)c.seed_target,
          M(c.opening_total).s);
      return;
    }
    if (rc == 0)
      rc = seed_batch(t, &c);
    if (rc == 0)
      rc = weft_syncpoint(t);
    if (rc != 0) {
      fail(t, "the seed", rc);
      return;
    }
    if (c.seeded)
      break;
    weft_yield(t); /* let the region breathe between batches */
  }
  say(t, "BANK SEEDED: %lu ACCOUNTS, OPENING TOTAL %s", (unsigned long)c.seed_target,
      M(c.opening_total).s);
}
