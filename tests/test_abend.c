/* test_abend.c - abends: program checks turned into task abends, abend
 * handlers and their LINK levels, runaway detection, FP state isolation. */
#include <limits.h>
#include <xmmintrin.h>

#include "helpers.h"

TestSuite(abend, .timeout = TH_TEST_TIMEOUT);

typedef struct abend_ctx {
  th_abends log;          /* what the handlers saw */
  th_handler h[8];        /* registrations: h[i] records tag i */
  atomic_long after;      /* code past the abend point ran (must stay 0) */
  atomic_long ok_done;    /* well-behaved tasks that finished */
  atomic_long log_calls;  /* region warnings and errors */
  atomic_int log_level;   /* the last message's level */
  uint64_t task_no[8];    /* task numbers from weft_start */
} abend_ctx;

static abend_ctx g_ab;

static void init_handlers(void) {
  for (int i = 0; i < 8; i++)
    g_ab.h[i] = (th_handler){&g_ab.log, i};
}

static void ok_task(weft_task *t) {
  weft_yield(t);
  atomic_fetch_add(&TH_CTX(t, abend_ctx)->ok_done, 1);
}

/* Asserts that handler runs i..i+n-1 saw code with tags[]. */
static void expect_handlers(int first, const int *tags, int n, const char *code) {
  for (int k = 0; k < n; k++) {
    int i = first + k;
    cr_assert_str_eq(g_ab.log.code[i], code, "handler run %d saw %s", i, g_ab.log.code[i]);
    cr_assert_eq(g_ab.log.tag[i], tags[k], "handler run %d was tag %d, expected %d", i,
                 g_ab.log.tag[i], tags[k]);
  }
}

/* Start n OK tasks and wait for them: the region still works. */
static void expect_region_still_works(weft_region *r, int n) {
  long before = atomic_load(&g_ab.ok_done);
  for (int i = 0; i < n; i++)
    th_start(r, "OK", &g_ab, i);
  th_wait_count(&g_ab.ok_done, before + n);
}

/* ------------------------------------------------------------------------ */
/* Program checks                                                            */
/* ------------------------------------------------------------------------ */

enum fault_kind { FAULT_ACCESS, FAULT_DIVIDE, FAULT_STACK };

static volatile int g_sink;
static volatile int g_depth_limit = INT_MAX;

/* Both the pointer and the pointee are volatile: otherwise GCC may drop
 * the store as dead. */
static void write_through_null(void) {
  volatile int *volatile p = NULL;
  *p = 42;
}

static void divide_by_zero(void) {
  volatile int num = 1, den = 0;
  g_sink = num / den;
}

/* Unbounded in practice (g_depth_limit is INT_MAX); the frame is used after
 * the call so it cannot become a loop. */
__attribute__((noinline)) static int recurse(int depth) {
  volatile char pad[512];
  pad[0] = (char)depth;
  pad[511] = (char)(depth >> 8);
  if (depth >= g_depth_limit)
    return pad[0];
  return recurse(depth + 1) + pad[depth % 512];
}

static void overflow_the_stack(void) {
  g_sink = recurse(0);
}

static void fault(enum fault_kind kind) {
  switch (kind) {
  case FAULT_ACCESS: write_through_null(); break;
  case FAULT_DIVIDE: divide_by_zero(); break;
  case FAULT_STACK: overflow_the_stack(); break;
  }
}

/* Registers handler tag 0 and faults with kind idx. */
static void faulter(weft_task *t) {
  th_arg a = th_arg_of(t);
  abend_ctx *c = a.ctx;
  weft_handle_abend(t, th_on_abend, &c->h[0]);
  weft_yield(t);
  fault((enum fault_kind)a.idx);
  atomic_fetch_add(&c->after, 1);
}

/* Faults without any handler. */
static void bare_faulter(weft_task *t) {
  th_arg a = th_arg_of(t);
  fault((enum fault_kind)a.idx);
  atomic_fetch_add(&TH_CTX(t, abend_ctx)->after, 1);
}

static weft_region *abend_region(unsigned workers) {
  weft_region *r = th_region(workers, 64);
  init_handlers();
  th_define(r, "OK", ok_task, 1);
  th_define(r, "FAULT", faulter, 1);
  th_define(r, "BARE", bare_faulter, 1);
  return r;
}

/* times faults of kind, one after another, each abending code; the
 * region goes on running other tasks. */
static void run_faults(unsigned workers, enum fault_kind kind, const char *code, int times) {
  weft_region *r = abend_region(workers);
  for (int i = 0; i < times; i++) {
    g_ab.task_no[0] = th_start(r, "FAULT", &g_ab, kind);
    th_wait_until(atomic_load(&g_ab.log.n) == i + 1);
    cr_assert_str_eq(g_ab.log.code[i], code, "fault %d: abend %s", i, g_ab.log.code[i]);
    cr_assert_eq(g_ab.log.task_no[i], g_ab.task_no[0]);
    expect_region_still_works(r, 5);
  }
  weft_region_stats s = th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.after), 0, "code after the fault ran");
  cr_assert_eq(s.tasks_abended, (uint64_t)times);
  cr_assert_eq(s.tasks_completed, (uint64_t)times * 5);
}

Test(abend, access_violation_is_asra) {
  run_faults(2, FAULT_ACCESS, "ASRA", 1);
}

Test(abend, divide_by_zero_is_asra) {
  run_faults(2, FAULT_DIVIDE, "ASRA", 1);
}

Test(abend, stack_overflow_is_asrs) {
  run_faults(2, FAULT_STACK, "ASRS", 1);
}

/* The same worker survives repeated faults (fibers are reused; a stack's
 * guard page must be back after an overflow). */
Test(abend, repeated_faults_on_one_worker) {
  run_faults(1, FAULT_ACCESS, "ASRA", 3);
}

Test(abend, repeated_stack_overflows_on_one_worker) {
  run_faults(1, FAULT_STACK, "ASRS", 4);
}

Test(abend, every_fault_kind_in_a_row) {
  weft_region *r = abend_region(2);
  static const char *const codes[] = {"ASRA", "ASRA", "ASRS"};
  for (int k = 0; k < 3; k++) {
    th_start(r, "FAULT", &g_ab, k);
    th_wait_until(atomic_load(&g_ab.log.n) == k + 1);
    cr_assert_str_eq(g_ab.log.code[k], codes[k]);
  }
  expect_region_still_works(r, 20);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_abended, 3);
}

/* Faults in tasks without handlers abend just the same. */
Test(abend, faults_without_handlers) {
  weft_region *r = abend_region(2);
  for (int k = 0; k < 3; k++)
    th_start(r, "BARE", &g_ab, k);
  th_wait_until(th_stats(r).tasks_abended == 3);
  expect_region_still_works(r, 10);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.after), 0);
  weft_region_stats s = fin;
  cr_assert_eq(s.tasks_abended, 3);
  cr_assert_eq(s.tasks_completed, 10);
}

/* ------------------------------------------------------------------------ */
/* Handlers and user codes                                                   */
/* ------------------------------------------------------------------------ */

/* Registers tags 1, 2, 3 and abends U001. */
static void three_handlers(weft_task *t) {
  abend_ctx *c = TH_CTX(t, abend_ctx);
  for (int i = 1; i <= 3; i++)
    weft_handle_abend(t, th_on_abend, &c->h[i]);
  weft_yield(t);
  weft_abend(t, "U001");
}

Test(abend, handlers_run_newest_first_with_the_user_code) {
  weft_region *r = abend_region(2);
  th_define(r, "THREE", three_handlers, 1);
  uint64_t no = th_start(r, "THREE", &g_ab, 0);
  th_wait_ended(r, 1);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.log.n), 3);
  static const int tags[] = {3, 2, 1};
  expect_handlers(0, tags, 3, "U001");
  for (int i = 0; i < 3; i++)
    cr_assert_eq(g_ab.log.task_no[i], no);
  cr_assert_eq(fin.tasks_abended, 1);
}

/* Abends with the code of length idx (1..4), handler tag idx. */
static void abend_with_code(weft_task *t) {
  th_arg a = th_arg_of(t);
  static const char *const codes[] = {"", "X", "AB", "ABC", "U999"};
  weft_handle_abend(t, th_on_abend, &((abend_ctx *)a.ctx)->h[a.idx]);
  weft_abend(t, codes[a.idx]);
}

Test(abend, user_codes_of_one_to_four_characters) {
  weft_region *r = abend_region(2);
  th_define(r, "CODE", abend_with_code, 1);
  for (long i = 1; i <= 4; i++)
    th_start(r, "CODE", &g_ab, i);
  th_wait_ended(r, 4);
  weft_region_stats fin = th_finish(r);
  static const char *const codes[] = {"", "X", "AB", "ABC", "U999"};
  cr_assert_eq(atomic_load(&g_ab.log.n), 4);
  for (int i = 0; i < 4; i++) {
    int tag = g_ab.log.tag[i];
    cr_assert(tag >= 1 && tag <= 4);
    cr_assert_str_eq(g_ab.log.code[i], codes[tag]);
  }
  cr_assert_eq(fin.tasks_abended, 4);
}

/* Registers tag 1 and 2, cancels them, abends. */
static void cancel_all(weft_task *t) {
  abend_ctx *c = TH_CTX(t, abend_ctx);
  weft_handle_abend(t, th_on_abend, &c->h[1]);
  weft_handle_abend(t, th_on_abend, &c->h[2]);
  weft_handle_abend(t, NULL, NULL);
  weft_abend(t, "U004");
}

Test(abend, null_handler_cancels) {
  weft_region *r = abend_region(1);
  th_define(r, "CANCEL", cancel_all, 1);
  th_start(r, "CANCEL", &g_ab, 0);
  th_wait_ended(r, 1);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.log.n), 0, "a cancelled handler ran");
  cr_assert_eq(fin.tasks_abended, 1);
}

/* LINK levels. SUBREG registers tag 2 and returns; SUBAB registers tag 2
 * and abends U003; SUBCAN registers tag 2, cancels, registers tag 3 and
 * abends U005. */
static void sub_registers(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_ab.h[2]);
}

static void sub_abends(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_ab.h[2]);
  weft_abend(t, "U003");
}

static void sub_cancels(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_ab.h[2]);
  weft_handle_abend(t, NULL, NULL);
  weft_handle_abend(t, th_on_abend, &g_ab.h[3]);
  weft_abend(t, "U005");
}

/* Registers tag 1, links to program idx-th of SUBREG/SUBAB/SUBCAN, then
 * abends U002 (if the link returned). */
static void top_links(weft_task *t) {
  th_arg a = th_arg_of(t);
  abend_ctx *c = a.ctx;
  static const char *const subs[] = {"SUBREG", "SUBAB", "SUBCAN"};
  weft_handle_abend(t, th_on_abend, &c->h[1]);
  int rc = weft_link(t, subs[a.idx], NULL, 0);
  if (a.idx != 0 || rc != 0)
    atomic_fetch_add(&c->after, 1);
  weft_abend(t, "U002");
}

static weft_region *link_region(void) {
  weft_region *r = abend_region(1);
  th_program(r, "SUBREG", sub_registers);
  th_program(r, "SUBAB", sub_abends);
  th_program(r, "SUBCAN", sub_cancels);
  th_define(r, "TOP", top_links, 1);
  return r;
}

Test(abend, handlers_of_a_link_level_dropped_when_it_returns) {
  weft_region *r = link_region();
  th_start(r, "TOP", &g_ab, 0);
  th_wait_ended(r, 1);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.after), 0);
  cr_assert_eq(atomic_load(&g_ab.log.n), 1);
  static const int tags[] = {1};
  expect_handlers(0, tags, 1, "U002");
}

Test(abend, abend_in_a_link_runs_every_level_newest_first) {
  weft_region *r = link_region();
  th_start(r, "TOP", &g_ab, 1);
  th_wait_ended(r, 1);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.after), 0, "the LINK returned after an abend");
  cr_assert_eq(atomic_load(&g_ab.log.n), 2);
  static const int tags[] = {2, 1};
  expect_handlers(0, tags, 2, "U003");
}

Test(abend, null_handler_cancels_only_its_level) {
  weft_region *r = link_region();
  th_start(r, "TOP", &g_ab, 2);
  th_wait_ended(r, 1);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.after), 0);
  cr_assert_eq(atomic_load(&g_ab.log.n), 2);
  static const int tags[] = {3, 1};
  expect_handlers(0, tags, 2, "U005");
}

/* A fault inside a LINKed program runs both levels' handlers. */
static void sub_faults(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_ab.h[2]);
  write_through_null();
}

static void top_links_to_fault(weft_task *t) {
  abend_ctx *c = TH_CTX(t, abend_ctx);
  weft_handle_abend(t, th_on_abend, &c->h[1]);
  weft_link(t, "SUBFAULT", NULL, 0);
  atomic_fetch_add(&c->after, 1);
}

Test(abend, fault_in_a_link) {
  weft_region *r = abend_region(1);
  th_program(r, "SUBFAULT", sub_faults);
  th_define(r, "TOPF", top_links_to_fault, 1);
  th_start(r, "TOPF", &g_ab, 0);
  th_wait_ended(r, 1);
  expect_region_still_works(r, 3);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.after), 0);
  cr_assert_eq(atomic_load(&g_ab.log.n), 2);
  static const int tags[] = {2, 1};
  expect_handlers(0, tags, 2, "ASRA");
}

/* ------------------------------------------------------------------------ */
/* Runaway                                                                   */
/* ------------------------------------------------------------------------ */

/* Counts warnings and errors (a runaway is reported as one of them). */
static void count_log(void *ctx, char level, const char *msg) {
  abend_ctx *c = ctx;
  if (level == 'W' || level == 'E')
    atomic_fetch_add(&c->log_calls, 1);
  atomic_store(&c->log_level, level);
}

/* Spins 3x the runaway limit of 100 ms without suspending, then yields. */
static void runaway(weft_task *t) {
  abend_ctx *c = TH_CTX(t, abend_ctx);
  weft_handle_abend(t, th_on_abend, &c->h[0]);
  th_spin_ms(300);
  weft_yield(t);
  atomic_fetch_add(&c->after, 1);
}

static weft_region *runaway_region(unsigned runaway_ms) {
  weft_region_config cfg = th_config(2, 16);
  cfg.runaway_ms = runaway_ms;
  cfg.log_fn = count_log;
  cfg.log_ctx = &g_ab;
  weft_region *r = th_region_cfg(&cfg);
  init_handlers();
  th_define(r, "OK", ok_task, 1);
  return r;
}

static void define_runaway(weft_region *r, const char *tranid, unsigned runaway_ms) {
  int rc = weft_program_define(r, tranid, runaway);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
  weft_transaction_def d = {tranid, tranid, 1, runaway_ms, NULL};
  rc = weft_transaction_define(r, &d);
  cr_assert_eq(rc, 0, "%s", weft_err_name(rc));
}

Test(abend, runaway_is_aica) {
  weft_region *r = runaway_region(100);
  define_runaway(r, "RUNAWAY", 0);
  th_start(r, "RUNAWAY", &g_ab, 0);
  th_wait_ended(r, 1);
  cr_assert_geq(atomic_load(&g_ab.log_calls), 1, "the runaway was not reported");
  expect_region_still_works(r, 5);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.log.n), 1);
  cr_assert_str_eq(g_ab.log.code[0], "AICA");
  cr_assert_eq(atomic_load(&g_ab.after), 0, "the runaway task went on");
  weft_region_stats s = fin;
  cr_assert_eq(s.tasks_abended, 1);
  cr_assert_eq(s.tasks_completed, 5);
}

/* A transaction's own, longer runaway_ms wins over the region's. */
Test(abend, transaction_runaway_overrides_the_region) {
  weft_region *r = runaway_region(100);
  define_runaway(r, "PATIENT", 20000);
  th_start(r, "PATIENT", &g_ab, 0);
  th_wait_ended(r, 1);
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.log.n), 0, "abended %s", g_ab.log.code[0]);
  cr_assert_eq(atomic_load(&g_ab.after), 1);
  cr_assert_eq(fin.tasks_completed, 1);
}

/* With the region's detection off, a transaction's own limit still holds. */
Test(abend, transaction_runaway_when_region_is_off) {
  weft_region *r = runaway_region(WEFT_OFF);
  define_runaway(r, "STRICT", 100);
  define_runaway(r, "FREE", 0);
  th_start(r, "STRICT", &g_ab, 0);
  th_start(r, "FREE", &g_ab, 0);
  th_wait_ended(r, 2);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_ab.log.n), 1);
  cr_assert_str_eq(g_ab.log.code[0], "AICA");
  cr_assert_eq(atomic_load(&g_ab.after), 1, "FREE should have finished");
}

/* ------------------------------------------------------------------------ */
/* Floating-point state                                                      */
/* ------------------------------------------------------------------------ */

#define MXCSR_CONTROL 0xFFC0u /* masks, rounding, DAZ, FTZ; not the flags */
#define MXCSR_DEFAULT 0x1F80u
#define X87_CONTROL 0x0F3Fu   /* masks, precision, rounding */

static unsigned get_x87(void) {
  uint16_t cw;
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  return cw;
}

static void set_x87(unsigned cw) {
  uint16_t v = (uint16_t)cw;
  __asm__ volatile("fldcw %0" : : "m"(v));
}

typedef struct fp_ctx {
  unsigned base_x87;          /* a fresh task's x87 control word */
  unsigned base_mxcsr;        /* and its MXCSR */
  unsigned a_mxcsr, a_x87;    /* what A set */
  unsigned a_mxcsr_after, a_x87_after; /* what A had after B ran */
  unsigned b_mxcsr, b_x87;    /* what B found */
  atomic_int b_done;
  atomic_int a_gave_up;
  atomic_long done;
} fp_ctx;

static fp_ctx g_fp;

static void fp_baseline(weft_task *t) {
  fp_ctx *c = TH_CTX(t, fp_ctx);
  c->base_mxcsr = _mm_getcsr();
  c->base_x87 = get_x87();
  atomic_fetch_add(&c->done, 1);
}

/* A: round toward zero, flush to zero, x87 chop and 24-bit precision;
 * then yields until B has looked. */
static void fp_a(weft_task *t) {
  fp_ctx *c = TH_CTX(t, fp_ctx);
  _MM_SET_ROUNDING_MODE(_MM_ROUND_TOWARD_ZERO);
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  set_x87((get_x87() & ~0x0F00u) | 0x0C00u);
  c->a_mxcsr = _mm_getcsr();
  c->a_x87 = get_x87();
  ULONGLONG end = GetTickCount64() + TH_DEADLINE_MS;
  while (!atomic_load(&c->b_done) && GetTickCount64() < end)
    weft_yield(t);
  if (!atomic_load(&c->b_done))
    atomic_store(&c->a_gave_up, 1);
  c->a_mxcsr_after = _mm_getcsr();
  c->a_x87_after = get_x87();
  atomic_fetch_add(&c->done, 1);
}

/* B: looks, then sets modes of its own (round down) that A must not see. */
static void fp_b(weft_task *t) {
  fp_ctx *c = TH_CTX(t, fp_ctx);
  c->b_mxcsr = _mm_getcsr();
  c->b_x87 = get_x87();
  _MM_SET_ROUNDING_MODE(_MM_ROUND_DOWN);
  set_x87((get_x87() & ~0x0C00u) | 0x0400u);
  atomic_store(&c->b_done, 1);
  weft_yield(t);
  atomic_fetch_add(&c->done, 1);
}

static weft_region *fp_region(void) {
  weft_region *r = th_region(1, 16);
  th_define(r, "FPBASE", fp_baseline, 1);
  th_define(r, "FPA", fp_a, 1);
  th_define(r, "FPB", fp_b, 1);
  th_start(r, "FPBASE", &g_fp, 0);
  th_wait_count(&g_fp.done, 1);
  cr_assert_eq(g_fp.base_mxcsr & MXCSR_CONTROL, MXCSR_DEFAULT, "a fresh task has MXCSR %#x",
               g_fp.base_mxcsr);
  return r;
}

Test(abend, fp_state_does_not_leak_between_tasks) {
  weft_region *r = fp_region();
  th_start(r, "FPA", &g_fp, 0);
  th_start(r, "FPB", &g_fp, 0);
  th_wait_count(&g_fp.done, 3);
  th_finish(r);
  cr_assert_eq(atomic_load(&g_fp.a_gave_up), 0);
  cr_assert_neq(g_fp.a_mxcsr & MXCSR_CONTROL, MXCSR_DEFAULT, "A could not change MXCSR");
  cr_assert_eq(g_fp.b_mxcsr & MXCSR_CONTROL, MXCSR_DEFAULT, "B inherited MXCSR %#x",
               g_fp.b_mxcsr);
  cr_assert_eq(g_fp.b_x87 & X87_CONTROL, g_fp.base_x87 & X87_CONTROL,
               "B inherited x87 control word %#x (fresh: %#x)", g_fp.b_x87, g_fp.base_x87);
  cr_assert_eq(g_fp.a_mxcsr_after & MXCSR_CONTROL, g_fp.a_mxcsr & MXCSR_CONTROL,
               "A lost its MXCSR: %#x, set %#x", g_fp.a_mxcsr_after, g_fp.a_mxcsr);
  cr_assert_eq(g_fp.a_x87_after & X87_CONTROL, g_fp.a_x87 & X87_CONTROL,
               "A lost its x87 control word: %#x, set %#x", g_fp.a_x87_after, g_fp.a_x87);
}

/* A task that changes the modes and abends does not leave them behind. */
static void fp_set_and_abend(weft_task *t) {
  th_arg a = th_arg_of(t);
  _MM_SET_ROUNDING_MODE(_MM_ROUND_UP);
  set_x87((get_x87() & ~0x0C00u) | 0x0800u);
  if (a.idx == 0)
    weft_abend(t, "U001");
  write_through_null();
}

Test(abend, fp_state_does_not_leak_from_an_abended_task) {
  weft_region *r = fp_region();
  th_define(r, "FPABEND", fp_set_and_abend, 1);
  for (long kind = 0; kind < 2; kind++) {
    th_start(r, "FPABEND", &g_fp, kind);
    th_start(r, "FPB", &g_fp, 0);
    th_wait_count(&g_fp.done, 2 + kind);
    cr_assert_eq(g_fp.b_mxcsr & MXCSR_CONTROL, MXCSR_DEFAULT, "after abend %ld: MXCSR %#x",
                 kind, g_fp.b_mxcsr);
    cr_assert_eq(g_fp.b_x87 & X87_CONTROL, g_fp.base_x87 & X87_CONTROL,
                 "after abend %ld: x87 %#x", kind, g_fp.b_x87);
  }
  weft_region_stats fin = th_finish(r);
  cr_assert_eq(fin.tasks_abended, 2);
}

/* ------------------------------------------------------------------------ */
/* Misuse                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct misuse_ctx {
  weft_task *task;
  weft_event *go;
  atomic_int ready;
} misuse_ctx;

static misuse_ctx g_misuse;

static void publish_and_wait(weft_task *t) {
  misuse_ctx *c = TH_CTX(t, misuse_ctx);
  c->task = t;
  atomic_store(&c->ready, 1);
  weft_event_wait(t, c->go, WEFT_WAIT_FOREVER);
}

/* weft_abend from the host thread aborts the process (exit code 3 is what
 * abort() gives on Windows). */
Test(abend, abend_from_the_host_aborts, .exit_code = 3) {
  weft_region *r = th_region(1, 4);
  cr_assert_eq(weft_event_create(&g_misuse.go), 0);
  th_define(r, "PUBLISH", publish_and_wait, 1);
  th_start(r, "PUBLISH", &g_misuse, 0);
  th_wait_until(atomic_load(&g_misuse.ready));
  weft_abend(g_misuse.task, "U001");
}
