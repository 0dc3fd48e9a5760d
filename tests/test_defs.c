/* test_defs.c - program and transaction definitions, and bad input to them
 * and to weft_start. */
#include "helpers.h"

TestSuite(defs, .timeout = TH_TEST_TIMEOUT);

static void noop(weft_task *t) {}

/* Names that are not 1-8 printable characters without spaces. */
static const char *const bad_names[] = {
    "",          /* empty */
    "ABCDEFGHI", /* 9 characters */
    "AB CD",     /* a space */
    " ABC",      /* a leading space */
    "ABC ",      /* a trailing space */
    "AB\tC",     /* a control character */
    "\x01",      /* not printable */
    "AB\x7f",    /* DEL */
    "ABCDEFGHIJKLMNOP",
};
#define N_BAD_NAMES (sizeof bad_names / sizeof bad_names[0])

static weft_transaction_def tdef(const char *tranid, const char *program, int priority) {
  weft_transaction_def d = {tranid, program, priority, 0, NULL};
  return d;
}

/* ------------------------------------------------------------------------ */
/* Programs                                                                  */
/* ------------------------------------------------------------------------ */

Test(defs, program_define_ok_and_duplicate) {
  weft_region *r = th_region(1, 8);
  cr_assert_eq(weft_program_define(r, "P", noop), 0);        /* 1 character */
  cr_assert_eq(weft_program_define(r, "ABCDEFGH", noop), 0); /* 8 characters */
  cr_assert_eq(weft_program_define(r, "a-b_c.1$", noop), 0); /* punctuation */
  cr_assert_eq(weft_program_define(r, "P", noop), WEFT_EEXIST);
  cr_assert_eq(weft_program_define(r, "ABCDEFGH", noop), WEFT_EEXIST);
  th_finish(r);
}

Test(defs, program_names_are_case_sensitive) {
  weft_region *r = th_region(1, 8);
  cr_assert_eq(weft_program_define(r, "prog", noop), 0);
  cr_assert_eq(weft_program_define(r, "PROG", noop), 0);
  cr_assert_eq(weft_program_define(r, "Prog", noop), 0);
  cr_assert_eq(weft_program_define(r, "prog", noop), WEFT_EEXIST);
  th_finish(r);
}

Test(defs, program_define_bad_names) {
  weft_region *r = th_region(1, 8);
  for (size_t i = 0; i < N_BAD_NAMES; i++) {
    int rc = weft_program_define(r, bad_names[i], noop);
    cr_assert_eq(rc, WEFT_EBADNAME, "name #%zu \"%s\": %s", i, bad_names[i], weft_err_name(rc));
  }
  th_finish(r);
}

Test(defs, program_define_null_arguments) {
  weft_region *r = th_region(1, 8);
  cr_assert_eq(weft_program_define(NULL, "P", noop), WEFT_EINVAL);
  cr_assert_eq(weft_program_define(r, NULL, noop), WEFT_EINVAL);
  cr_assert_eq(weft_program_define(r, "P", NULL), WEFT_EINVAL);
  /* A failed definition defines nothing. */
  cr_assert_eq(weft_program_define(r, "P", noop), 0);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */
/* ------------------------------------------------------------------------ */

Test(defs, transaction_define_ok_and_duplicate) {
  weft_region *r = th_region(1, 8);
  th_program(r, "PROG", noop);
  weft_transaction_def d = tdef("T", "PROG", 0);
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  d = tdef("ABCDEFGH", "PROG", 255);
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  d = tdef("T", "PROG", 10);
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_EEXIST);
  /* Case matters for tranids too. */
  d = tdef("t", "PROG", 10);
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  th_finish(r);
}

/* A program and a transaction may share a name (separate kinds). */
Test(defs, program_and_transaction_share_a_name) {
  weft_region *r = th_region(1, 8);
  th_program(r, "SAME", noop);
  weft_transaction_def d = tdef("SAME", "SAME", 1);
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  th_finish(r);
}

Test(defs, transaction_define_bad_tranids) {
  weft_region *r = th_region(1, 8);
  th_program(r, "PROG", noop);
  for (size_t i = 0; i < N_BAD_NAMES; i++) {
    weft_transaction_def d = tdef(bad_names[i], "PROG", 1);
    int rc = weft_transaction_define(r, &d);
    cr_assert_eq(rc, WEFT_EBADNAME, "tranid #%zu \"%s\": %s", i, bad_names[i],
                 weft_err_name(rc));
  }
  th_finish(r);
}

Test(defs, transaction_define_unknown_program) {
  weft_region *r = th_region(1, 8);
  th_program(r, "PROG", noop);
  weft_transaction_def d = tdef("T1", "NOSUCH", 1);
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_ENOPROG);
  d = tdef("T1", "prog", 1); /* names are case-sensitive */
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_ENOPROG);
  /* Nothing was defined by the failures. */
  d = tdef("T1", "PROG", 1);
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  th_finish(r);
}

Test(defs, transaction_define_priority_range) {
  weft_region *r = th_region(1, 8);
  th_program(r, "PROG", noop);
  static const int bad[] = {256, -2, -1, 1000, -1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    weft_transaction_def d = tdef("T", "PROG", bad[i]);
    int rc = weft_transaction_define(r, &d);
    cr_assert_eq(rc, WEFT_ERANGE, "priority %d: %s", bad[i], weft_err_name(rc));
  }
  weft_transaction_def lo = tdef("LO", "PROG", 0);
  weft_transaction_def hi = tdef("HI", "PROG", 255);
  cr_assert_eq(weft_transaction_define(r, &lo), 0);
  cr_assert_eq(weft_transaction_define(r, &hi), 0);
  th_finish(r);
}

Test(defs, transaction_define_null_arguments) {
  weft_region *r = th_region(1, 8);
  th_program(r, "PROG", noop);
  weft_transaction_def d = tdef("T", "PROG", 1);
  cr_assert_eq(weft_transaction_define(NULL, &d), WEFT_EINVAL);
  cr_assert_eq(weft_transaction_define(r, NULL), WEFT_EINVAL);
  d = tdef(NULL, "PROG", 1);
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_EINVAL);
  d = tdef("T", NULL, 1);
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_EINVAL);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* weft_start bad input                                                      */
/* ------------------------------------------------------------------------ */

Test(defs, start_unknown_tranid) {
  weft_region *r = th_region(1, 8);
  th_define(r, "TRAN", noop, 1);
  cr_assert_eq(weft_start(r, "NOSUCH", NULL, 0, NULL, NULL), WEFT_ENOTRAN);
  cr_assert_eq(weft_start(r, "tran", NULL, 0, NULL, NULL), WEFT_ENOTRAN);
  /* A program name is not a tranid. */
  th_program(r, "ONLYPROG", noop);
  cr_assert_eq(weft_start(r, "ONLYPROG", NULL, 0, NULL, NULL), WEFT_ENOTRAN);
  weft_region_stats s = th_stats(r);
  cr_assert_eq(s.tasks_started, 0);
  weft_region_stats fin = th_finish(r);
  s = fin;
  cr_assert_eq(s.tasks_started, 0, "a failed start ran a task");
}

Test(defs, start_null_arguments) {
  weft_region *r = th_region(1, 8);
  th_define(r, "TRAN", noop, 1);
  cr_assert_eq(weft_start(NULL, "TRAN", NULL, 0, NULL, NULL), WEFT_EINVAL);
  cr_assert_eq(weft_start(r, NULL, NULL, 0, NULL, NULL), WEFT_EINVAL);
  cr_assert_eq(weft_start(r, "TRAN", NULL, 16, NULL, NULL), WEFT_EINVAL);
  /* data may be NULL when len is 0, and opts and task_no may be NULL. */
  cr_assert_eq(weft_start(r, "TRAN", NULL, 0, NULL, NULL), 0);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_completed, 1);
}

/* A task that waits on the event its start data points to. */
static void wait_gate(weft_task *t) {
  th_arg a = th_arg_of(t);
  weft_event_wait(t, a.ctx, WEFT_WAIT_FOREVER);
}

/* The priority of the one live task, asked of weft_task_list once it waits. */
static int waiting_priority(weft_region *r) {
  weft_task_info info;
  size_t n = 0;
  for (;;) { /* until it has reached its wait */
    cr_assert_eq(weft_task_list(r, &info, 1, &n), 0);
    if (n == 1 && info.state == WEFT_TASK_WAITING)
      return info.priority;
    Sleep(1);
  }
}

/* Zeroed start options mean the defaults: the transaction's priority (7),
 * not priority 0. A priority is given with WEFT_START_PRIORITY; one
 * without it is refused, never silently ignored. */
Test(defs, zero_start_opts_take_the_transaction_priority) {
  weft_region *r = th_region(1, 8);
  th_define(r, "GATE", wait_gate, 7);
  weft_event *ev;
  cr_assert_eq(weft_event_create(&ev), 0);
  th_arg a = {ev, 0};
  weft_start_opts o = {0};
  cr_assert_eq(weft_start(r, "GATE", &a, sizeof a, &o, NULL), 0);
  cr_assert_eq(waiting_priority(r), 7);
  weft_event_post(ev);
  th_wait_ended(r, 1);
  weft_event_reset(ev);
  o.priority = 5;
  cr_assert_eq(weft_start(r, "GATE", &a, sizeof a, &o, NULL), WEFT_EINVAL);
  o.flags = WEFT_START_PRIORITY;
  cr_assert_eq(weft_start(r, "GATE", &a, sizeof a, &o, NULL), 0);
  cr_assert_eq(waiting_priority(r), 5);
  weft_event_post(ev);
  o.flags = 2; /* no such flag */
  cr_assert_eq(weft_start(r, "GATE", &a, sizeof a, &o, NULL), WEFT_EINVAL);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_completed, 2);
  weft_event_destroy(ev);
}

/* A struct size outside ABI 1's .. this library's is refused (WEFT_EABI)
 * and nothing is done. */
Test(defs, struct_sizes_outside_the_abi_are_refused) {
  weft_region *r = th_region(1, 8);
  th_define(r, "TRAN", noop, 1);
  weft_start_opts o = {0};
  cr_assert_eq(weft_start_(r, "TRAN", NULL, 0, &o, offsetof(weft_start_opts, flags) - 1, NULL),
               WEFT_EABI);
  cr_assert_eq(weft_start_(r, "TRAN", NULL, 0, &o, sizeof o + 8, NULL), WEFT_EABI);
  weft_transaction_def d = {"T2", "TRAN", 1, 0, NULL};
  cr_assert_eq(weft_transaction_define_(r, &d, sizeof d + 8), WEFT_EABI);
  cr_assert_eq(weft_transaction_is_enabled(r, "T2"), WEFT_ENOTRAN);
  weft_region_stats s;
  cr_assert_eq(weft_region_stats_get_(r, &s, sizeof s + 8), WEFT_EABI);
  /* ABI 1's smaller weft_start_opts: the fields it had, the rest zero. */
  cr_assert_eq(weft_start_(r, "TRAN", NULL, 0, &o, offsetof(weft_start_opts, flags), NULL), 0);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_completed, 1);
}

Test(defs, start_priority_range) {
  weft_region *r = th_region(1, 8);
  th_define(r, "TRAN", noop, 1);
  static const int bad[] = {256, -2, 1000, -1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = th_try_start(r, "TRAN", NULL, 0, bad[i], NULL);
    cr_assert_eq(rc, WEFT_ERANGE, "priority %d: %s", bad[i], weft_err_name(rc));
  }
  cr_assert_eq(th_try_start(r, "TRAN", NULL, 0, 0, NULL), 0);
  cr_assert_eq(th_try_start(r, "TRAN", NULL, 0, 255, NULL), 0);
  cr_assert_eq(th_try_start(r, "TRAN", NULL, 0, WEFT_PRIORITY_DEFAULT, NULL), 0);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_completed, 3);
}

Test(defs, start_opts_init) {
  weft_start_opts o;
  memset(&o, 0x5a, sizeof o);
  weft_start_opts_init(&o);
  const unsigned char *b = (const unsigned char *)&o;
  for (size_t i = 0; i < sizeof o; i++)
    cr_assert_eq(b[i], 0, "byte %zu of weft_start_opts is %#x, not 0", i, b[i]);
}

/* Task numbers are distinct and returned through task_no. */
Test(defs, start_returns_distinct_task_numbers) {
  weft_region *r = th_region(2, 64);
  th_define(r, "TRAN", noop, 1);
  uint64_t no[50];
  for (int i = 0; i < 50; i++) {
    no[i] = 0;
    cr_assert_eq(weft_start(r, "TRAN", NULL, 0, NULL, &no[i]), 0);
    for (int j = 0; j < i; j++)
      cr_assert_neq(no[i], no[j], "task numbers %d and %d are both %llu", i, j,
                    (unsigned long long)no[i]);
  }
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Definitions from a task ("any thread")                                    */
/* ------------------------------------------------------------------------ */

typedef struct define_ctx {
  int define_prog_rc, define_tran_rc, link_rc, start_rc;
  atomic_int linked, child_ran;
} define_ctx;

static define_ctx g_define;

static void defined_late(weft_task *t) {
  void *ca = NULL;
  size_t len = 0;
  if (weft_commarea(t, &ca, &len) == 0 && ca != NULL)
    atomic_store(&g_define.linked, 1);
  else
    atomic_store(&g_define.child_ran, 1);
}

static void definer(weft_task *t) {
  define_ctx *c = TH_CTX(t, define_ctx);
  weft_region *r = weft_task_region(t);
  c->define_prog_rc = weft_program_define(r, "LATE", defined_late);
  weft_transaction_def d = {"LATET", "LATE", 7, 0, NULL};
  c->define_tran_rc = weft_transaction_define(r, &d);
  int dummy = 1;
  c->link_rc = weft_link(t, "LATE", &dummy, sizeof dummy);
  c->start_rc = weft_start(r, "LATET", NULL, 0, NULL, NULL);
}

Test(defs, define_from_a_task) {
  weft_region *r = th_region(2, 8);
  th_define(r, "DEFINER", definer, 1);
  th_start(r, "DEFINER", &g_define, 0);
  th_wait_ended(r, 2);
  cr_assert_eq(g_define.define_prog_rc, 0, "%s", weft_err_name(g_define.define_prog_rc));
  cr_assert_eq(g_define.define_tran_rc, 0, "%s", weft_err_name(g_define.define_tran_rc));
  cr_assert_eq(g_define.link_rc, 0, "%s", weft_err_name(g_define.link_rc));
  cr_assert_eq(g_define.start_rc, 0, "%s", weft_err_name(g_define.start_rc));
  cr_assert_eq(atomic_load(&g_define.linked), 1);
  cr_assert_eq(atomic_load(&g_define.child_ran), 1);
  th_finish(r);
}
