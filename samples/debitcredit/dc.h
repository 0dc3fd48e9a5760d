/* dc.h - the DebitCredit (TPC-B-like) workload on Weft keyed files, shared
 * by bench/debitcredit and the recovery tests.
 *
 * Files (keys are big-endian so key order is numeric order):
 *   DCBRANCH  key u32 branch id    -> dc_row
 *   DCTELLER  key u32 teller id    -> dc_row
 *   DCACCT    key u32 account id   -> dc_row
 *   DCHIST    key u64 client, u64 seq -> dc_hist
 * Ids are 0-based: teller t belongs to branch t / DC_TELLERS_PER_BRANCH,
 * account a to branch a / accounts_per_branch.
 * One transaction (tranid DCTX, program DCTX) adds delta to an account, its
 * teller and its branch (read for update + rewrite, in the order account,
 * teller, branch like pgbench) and writes one history record, all in one
 * unit of work; it commits with weft_syncpoint before it reports to the
 * submitting thread. The teller of account a is
 * branch * DC_TELLERS_PER_BRANCH + a % DC_TELLERS_PER_BRANCH (with random
 * accounts, a uniformly random teller of the account's branch).
 */
#ifndef WEFT_DC_H
#define WEFT_DC_H

#include <stdbool.h>
#include <stdint.h>

#include "weft.h"

#define DC_TELLERS_PER_BRANCH 10

typedef struct dc_config {
  unsigned branches;            /* scale, like pgbench -s */
  unsigned accounts_per_branch; /* 100000 in TPC-B and pgbench */
} dc_config;

typedef struct dc_row {
  int64_t balance;
  char filler[84]; /* pgbench-sized rows */
} dc_row;

typedef struct dc_hist {
  uint32_t aid, tid, bid;
  int32_t delta;
  uint64_t client, seq;
} dc_hist;

/* Define the four files, the programs and the transactions DCTX, DCSEED and
 * DCCHECK in r. Host thread. */
int dc_define(weft_region *r);

/* Fill the files for cfg unless DCBRANCH already holds records (then it
 * only checks the scale matches: WEFT_EINVAL if not). Runs DCSEED tasks
 * that commit in batches; waits for them. Host thread. */
int dc_seed(weft_region *r, const dc_config *cfg);

/* Run one DebitCredit transaction and wait for its end: 0 once it has
 * committed (durably, with a data_dir), a WEFT_E* code otherwise (an
 * abend gives WEFT_EROLLEDBACK). (client, seq) must be unique: they key
 * the history record. Host thread; any number of threads at once. */
int dc_submit(weft_region *r, uint64_t client, uint64_t seq, uint32_t aid, int32_t delta);

/* Pick a random account with a caller-owned xorshift state. */
uint32_t dc_random_account(const dc_config *cfg, uint64_t *state);

typedef struct dc_totals {
  int64_t accounts, tellers, branches; /* sums of balances */
  int64_t history_delta;               /* sum of history deltas */
  uint64_t history;                    /* history records */
  uint64_t naccounts, ntellers, nbranches;
  bool ok; /* accounts == tellers == branches == history_delta */
} dc_totals;

/* Browse every file in one task and total them. Host thread. */
int dc_check(weft_region *r, dc_totals *out);

/* Whether history record (client, seq) exists: 1 yes, 0 no, or WEFT_E*.
 * Host thread. */
int dc_history_has(weft_region *r, uint64_t client, uint64_t seq);

#endif /* WEFT_DC_H */
