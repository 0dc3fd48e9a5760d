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

#endif /* BANK_INT_H */
