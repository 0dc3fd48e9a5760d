/* bank_int.h - the bank's business steps that its line-mode transactions
 * (bank.c) and its 3270 screens (bank3270.c) share. Each says what it did,
 * or why not, through a bank_msg: NULL sends the line to the terminal
 * (line mode), else the text is kept for a screen's message line.
 * Not exported from bank.dll. All are called on the task's own fiber. */
#ifndef BANK_INT_H
#define BANK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "weft.h"

/* A message for a screen's message line (the last one said). */
typedef struct bank_msg {
  char text[160];
} bank_msg;

/* "-1,234.56" (commas 1) or "-1234.56" (commas 0) into buf. */
const char *bank_fmt_money(char *buf, size_t cap, int64_t cents, int commas);
/* An account number: 1-8 digits, not 0. 0 or -1. */
int bank_parse_acct(const char *s, uint32_t *out);
/* An amount ("25", "25.50"): 0, or -1 after saying what is wrong. */
int bank_parse_amount(weft_task *t, bank_msg *m, const char *s, int zero_ok, int64_t *out);
/* The holder and balance of account no: 0, or -1 after saying why not. */
int bank_inquire(weft_task *t, bank_msg *m, uint32_t no, char *holder, size_t cap,
                 int64_t *balance);
/* Deposit (sign 1) or withdraw (-1) amount in one unit of work, committed:
 * 0 and the confirmation said, or -1 (refused or failed: backed out). */
int bank_post(weft_task *t, bank_msg *m, uint32_t no, int64_t amount, int sign);


/* What a step that fails names as the field in error (bank_transfer). */
enum { BANK_BAD_FROM = 1, BANK_BAD_TO, BANK_BAD_AMOUNT };

/* Transfer amount from -> to in one unit of work, committed: 0 and the
 * confirmation said; BANK_BAD_FROM, _TO or _AMOUNT when refused because of
 * that field; -1 when it failed otherwise (backed out either way). */
int bank_transfer(weft_task *t, bank_msg *m, uint32_t from, uint32_t to, int64_t amount);

#define BANK_LINE 80      /* a report line, with its NUL */
#define BANK_STMT_PAGE 5  /* history entries per statement page */
#define BANK_AUDIT_LINES 8 /* the most lines an audit report has */
/* The column headings of a statement page's lines. */
#define BANK_STMT_HEADER "  ENTRY  WHAT                          AMOUNT          BALANCE  BY"

/* One statement line: its entry number and its text (owned by the caller). */
typedef struct bank_entry {
  uint32_t seq;
  char line[BANK_LINE];
} bank_entry;

/* Up to BANK_STMT_PAGE history entries of account acct from entry seq
 * (backward: seq and the ones before it), in time order, into out; *n the
 * count, *more whether entries follow the last one. 0, or -1 after saying
 * why not. */
int bank_history(weft_task *t, bank_msg *m, uint32_t acct, uint32_t seq, int backward,
                 bank_entry *out, int *n, int *more);

/* A holder name (1-30 printable characters): 0, or -1 after saying why not. */
int bank_check_holder(weft_task *t, bank_msg *m, const char *name);
/* Open an account for name with a first deposit (0 allowed) in one unit of
 * work, committed: 0, *opened its number and the confirmation said, or -1. */
int bank_open_account(weft_task *t, bank_msg *m, const char *name, int64_t amount,
                      uint32_t *opened);

/* The audit (AUDT): changes nothing. The report's lines into lines and *ok
 * whether the books agree: the line count, or -1 after saying why not. */
int bank_audit(weft_task *t, bank_msg *m, char lines[BANK_AUDIT_LINES][BANK_LINE], int *ok);

#endif /* BANK_INT_H */
