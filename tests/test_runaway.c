/* test_runaway.c - a task that runs past its runaway limit without ever
 * suspending is interrupted by the monitor and abends AICA: a loop in a
 * program DLL and in a program the host defines, a loop that lives in the
 * C runtime's heap, and while the region shuts down or is inquired.
 *
 * This executable links weft.dll (not the static library), so the host's
 * own programs are in a module apart from the runtime's and can be
 * interrupted (docs/api.md, "Runaway tasks"). The loops never suspend, so
 * an AICA can only come from the monitor interrupting them. */
#include "helpers.h"
#include "runaway_progs.h"

#define PROGDLL "test_progdll.dll"
#define LIMIT_MS 200u /* the region's runaway limit */

TestSuite(runaway, .timeout = TH_TEST_TIMEOUT);

static th_abends g_abends;
static th_handler g_handler = {&g_abends, 1};

/* The same loops as the DLL's, defined by the host; the tight one with an
 * abend handler, which must run. */
static void host_spin(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_handler);
  spin_tight(t);
}

/* LINKs to the DLL's loop: the program running is the linked one. */
static void host_link(weft_task *t) {
  weft_handle_abend(t, th_on_abend, &g_handler);
  weft_link(t, "DSPIN", NULL, 0);
}
static void host_spin_malloc(weft_task *t) {
  spin_malloc(t);
}

static th_records g_recs;
static spin_spec g_spec;

/* What a task that runs after the loop (on the same worker) finds. */
typedef struct after_ctx {
  atomic_int done;
  atomic_int ts_rc;    /* weft_ts_count of the loop's queue */
  atomic_int enq_rc;   /* a no-wait ENQ of the loop's resource */
  atomic_int heap_ok;  /* malloc and free went on working */
} after_ctx;
static after_ctx g_after;

static void after_loop(weft_task *t) {
  unsigned n = 0;
  atomic_store(&g_after.ts_rc, weft_ts_count(t, "RUNQ", &n));
  atomic_store(&g_after.enq_rc, weft_enq(t, "RES", 3, 0));
  int ok = 1;
  for (int i = 0; i < 10000 && ok; i++) {
    char *volatile p = malloc(16 + (size_t)(i & 1023));
    ok = p != NULL;
    free(p);
  }
  atomic_store(&g_after.heap_ok, ok);
  atomic_store(&g_after.done, 1);
}

/* Runaway reports seen (the monitor logs one when it could not interrupt
 * the task at the sample that found it past the limit). */
static atomic_int g_reports;
static void count_reports(void *ctx, char level, const char *msg) {
  if (level == 'W' && strstr(msg, "without suspending") != NULL)
    atomic_fetch_add(&g_reports, 1);
  fprintf(stderr, "weft %c %s\n", level, msg);
}

/* One worker, so that what runs after the loop runs on its worker. */
static weft_region *spin_region(unsigned workers) {
  weft_region_config cfg = th_config(workers, 16);
  cfg.runaway_ms = LIMIT_MS;
  cfg.task_record_fn = th_on_record;
  cfg.record_ctx = &g_recs;
  cfg.log_fn = count_reports;
  weft_region *r = th_region_cfg(&cfg);
  cr_assert_eq(weft_ts_define(r, "RUNQ", 1), 0);
  cr_assert_eq(weft_program_load(r, "DSPIN", PROGDLL, "prog_spin"), 0);
  cr_assert_eq(weft_program_load(r, "DMALLOC", PROGDLL, "prog_spin_malloc"), 0);
  th_program(r, "HSPIN", host_spin);
  th_program(r, "HMALLOC", host_spin_malloc);
  th_program(r, "HLINK", host_link);
  static const char *const progs[] = {"DSPIN", "DMALLOC", "HSPIN", "HMALLOC", "HLINK"};
  for (int i = 0; i < 5; i++) {
    weft_transaction_def d = {progs[i], progs[i], 10, 0, NULL};
    cr_assert_eq(weft_transaction_define(r, &d), 0);
  }
  th_define(r, "AFTER", after_loop, 10);
  return r;
}

/* Start tranid's loop (a TS write, an ENQ and storage first) and wait
 * until it loops; returns its task number. */
static uint64_t start_loop(weft_region *r, const char *tranid) {
  g_spec.queue = "RUNQ";
  g_spec.resource = "RES";
  spin_spec *p = &g_spec;
  uint64_t no = 0;
  int rc = weft_start(r, tranid, &p, sizeof p, NULL, &no);
  cr_assert_eq(rc, 0, "weft_start(%s): %s", tranid, weft_err_name(rc));
  th_wait_until(atomic_load(&g_spec.running));
  cr_assert_eq(atomic_load(&g_spec.setup_rc), 0, "the loop's setup failed: %s",
               weft_err_name(atomic_load(&g_spec.setup_rc)));
  return no;
}

/* The loop abends AICA; a task queued behind it on its worker then runs
 * and finds the loop's TS write backed out, its ENQ released and the heap
 * working. */
static void expect_interrupted(const char *tranid) {
  weft_region *r = spin_region(1);
  uint64_t no = start_loop(r, tranid);
  th_start(r, "AFTER", NULL, 0);
  cr_assert_str_eq(th_abcode_of(&g_recs, no), "AICA");
  th_wait_until(atomic_load(&g_after.done));
  cr_assert_eq(atomic_load(&g_spec.after), 0, "the loop ended by itself");
  cr_assert_eq(atomic_load(&g_after.ts_rc), WEFT_ENOTFOUND,
               "the loop's TS write survived its abend: %s",
               weft_err_name(atomic_load(&g_after.ts_rc)));
  cr_assert_eq(atomic_load(&g_after.enq_rc), 0, "the loop's ENQ is still held: %s",
               weft_err_name(atomic_load(&g_after.enq_rc)));
  cr_assert_eq(atomic_load(&g_after.heap_ok), 1);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 1);
  cr_assert_eq(s.tasks_completed, 1);
  weft_runtime_counters c;
  weft_runtime_counters_get(&c);
  cr_assert_eq(c.fibers, 0, "a fiber was left behind");
  cr_assert_eq(c.tasks, 0, "a task struct was left behind");
}

/* The host's own loops ran their abend handler, with AICA. */
static void expect_handler_ran(void) {
  cr_assert_eq(atomic_load(&g_abends.n), 1);
  cr_assert_str_eq(g_abends.code[0], "AICA");
}

Test(runaway, loop_in_a_program_dll_abends_aica) {
  expect_interrupted("DSPIN");
}

Test(runaway, loop_in_a_host_defined_program_abends_aica) {
  expect_interrupted("HSPIN");
  expect_handler_ran();
}

/* The running program is the one at the current LINK level (a DLL's,
 * linked from the host's program). */
Test(runaway, loop_in_a_linked_program_abends_aica) {
  expect_interrupted("HLINK");
  expect_handler_ran();
}

/* The loop spends most of its time inside malloc and free, holding the
 * heap's lock: it is interrupted only between those calls, so the heap
 * stays usable (after_loop and the host allocate afterwards). */
Test(runaway, loop_around_malloc_abends_without_deadlocking_the_heap) {
  expect_interrupted("DMALLOC");
  void *p = malloc(100);
  cr_assert_not_null(p);
  free(p);
}

Test(runaway, host_defined_loop_around_malloc_abends) {
  expect_interrupted("HMALLOC");
}

/* Shutting down waits for the loop's abend, not forever. */
static void expect_shutdown_finishes(int mode) {
  weft_region *r = spin_region(2);
  uint64_t no = start_loop(r, "DSPIN");
  int rc = weft_region_shutdown(r, mode, TH_SHUTDOWN_MS);
  cr_assert_eq(rc, 0, "weft_region_shutdown: %s", weft_err_name(rc));
  cr_assert_str_eq(th_abcode_of(&g_recs, no), "AICA");
  weft_region_stats s = th_stats(r);
  weft_region_destroy(r);
  cr_assert_eq(s.tasks_abended, 1);
}

Test(runaway, normal_shutdown_finishes_while_a_loop_runs) {
  expect_shutdown_finishes(WEFT_SHUTDOWN_NORMAL);
}

Test(runaway, immediate_shutdown_finishes_while_a_loop_runs) {
  expect_shutdown_finishes(WEFT_SHUTDOWN_IMMEDIATE);
}

/* INQ TASKS asks every worker; the looping one answers once the loop is
 * interrupted, well inside the inquiry's 5 s, so no worker is missing. */
Test(runaway, inquire_tasks_answers_while_a_loop_runs) {
  weft_region *r = spin_region(2);
  uint64_t no = start_loop(r, "HSPIN");
  weft_task_info info[16];
  size_t count = 0;
  uint64_t missing = ~0ull;
  int rc = weft_task_list_ex(r, info, 16, &count, &missing);
  cr_assert_eq(rc, 0, "weft_task_list_ex: %s", weft_err_name(rc));
  cr_assert_eq(missing, 0);
  cr_assert_str_eq(th_abcode_of(&g_recs, no), "AICA");
  th_finish(r);
}

/* A loop in the program's own code that the C runtime called back (a
 * qsort comparison) is not interrupted: qsort's frame is below it. It is
 * reported; once back in its own program's frames it is interrupted. */
static atomic_int g_cmp_release, g_left_qsort;
static int spin_compare(const void *a, const void *b) {
  while (!atomic_load(&g_cmp_release))
    ;
  return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void qsort_loop(weft_task *t) {
  spin_spec *s = spin_setup(t);
  int v[2] = {2, 1};
  qsort(v, 2, sizeof v[0], spin_compare);
  atomic_store(&g_left_qsort, 1);
  volatile unsigned long x = 0;
  while (x != (unsigned long)-1)
    x++;
  atomic_store(&s->after, 1);
}

Test(runaway, loop_called_back_by_the_c_runtime_is_only_reported) {
  weft_region *r = spin_region(1);
  th_define(r, "QSORT", qsort_loop, 10);
  uint64_t no = start_loop(r, "QSORT");
  th_wait_until(atomic_load(&g_reports) >= 1); /* a sample found it and let it be */
  cr_assert_null(th_record_find(&g_recs, no), "interrupted inside qsort");
  atomic_store(&g_cmp_release, 1);
  cr_assert_str_eq(th_abcode_of(&g_recs, no), "AICA");
  cr_assert_eq(atomic_load(&g_left_qsort), 1, "qsort did not return");
  cr_assert_eq(atomic_load(&g_spec.after), 0);
  th_finish(r);
}
