/* hello.c - a small Weft host: one region, two workers, four transactions.
 *
 *   HYLD  program YIELDER  yields a few times, saying which worker it runs on
 *   HDLY  program DELAYER  suspends itself for 50 ms with weft_delay
 *   HABN  program ABENDER  registers an abend handler, then abends with USR1
 *   HLNK  program LINKER   links to program UPPER, passing a commarea
 *
 * The host starts three tasks of each, shuts the region down normally,
 * prints the region statistics and exits 0 if everything behaved as
 * expected, 1 otherwise.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include <weft.h>

#define TASKS_EACH 3 /* tasks started per transaction */
#define DELAY_MS 50  /* what DELAYER asks weft_delay for */

/* What the programs saw; checked by the host after shutdown. */
static atomic_int g_yielders_done; /* YIELDER tasks that yielded them all */
static atomic_int g_delays_ok;     /* DELAYER tasks that slept long enough */
static atomic_int g_handlers_run;  /* abend handlers called with USR1 */
static atomic_int g_links_ok;      /* LINKER tasks that got UPPER's answer */
static atomic_int g_failures;      /* unexpected results, host or task */

/* Print one line prefixed with the task's tranid and number; the line is
 * built first so that lines from the two workers never mix. */
static void say(weft_task *t, const char *fmt, ...) {
  char line[256];
  int n = snprintf(line, sizeof line, "  [%s #%llu] ", weft_task_tranid(t),
                   (unsigned long long)weft_task_number(t));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  puts(line);
}

/* Count an unexpected result and say what it was (rc: the call's result,
 * or 0 when the call succeeded but its outcome was wrong). */
static void unexpected(const char *what, int rc) {
  atomic_fetch_add(&g_failures, 1);
  if (rc != 0)
    printf("UNEXPECTED: %s: %s (%s)\n", what, weft_err_name(rc), weft_strerror(rc));
  else
    printf("UNEXPECTED: %s\n", what);
}

/* ------------------------------------------------------------------------ */
/* Programs                                                                  */
/* ------------------------------------------------------------------------ */

/* YIELDER: the number of yields comes with the start data. */
static void yielder(weft_task *t) {
  const void *data;
  size_t len;
  unsigned yields;
  int rc = weft_retrieve(t, &data, &len);
  if (rc != 0 || len != sizeof yields) {
    unexpected("YIELDER: weft_retrieve", rc);
    return;
  }
  memcpy(&yields, data, sizeof yields);
  for (unsigned i = 1; i <= yields; i++) {
    say(t, "yield %u of %u on worker %u", i, yields, weft_task_worker(t));
    if ((rc = weft_yield(t)) != 0) {
      unexpected("YIELDER: weft_yield", rc);
      return;
    }
  }
  atomic_fetch_add(&g_yielders_done, 1);
}

static double now_ms(void) {
  LARGE_INTEGER count, freq;
  QueryPerformanceCounter(&count);
  QueryPerformanceFrequency(&freq);
  return (double)count.QuadPart * 1000.0 / (double)freq.QuadPart;
}

/* DELAYER: the worker is free for other tasks while this one waits. */
static void delayer(weft_task *t) {
  double t0 = now_ms(), slept;
  unsigned before = weft_task_worker(t);
  int rc = weft_delay(t, DELAY_MS);
  if (rc != 0) {
    unexpected("DELAYER: weft_delay", rc);
    return;
  }
  slept = now_ms() - t0;
  say(t, "delayed %.1f ms (asked %d), worker %u then %u", slept, DELAY_MS, before,
      weft_task_worker(t));
  /* 1 ms of slack for the runtime's clock being coarser than QPC. */
  if (slept >= DELAY_MS - 1)
    atomic_fetch_add(&g_delays_ok, 1);
  else
    unexpected("DELAYER: weft_delay returned early", WEFT_OK);
}

static void on_abend(weft_task *t, const char *code, void *arg) {
  say(t, "abend handler: code %s, %s", code, (const char *)arg);
  if (strcmp(code, "USR1") == 0)
    atomic_fetch_add(&g_handlers_run, 1);
}

/* ABENDER: ends abnormally; its handler runs on the way out. */
static void abender(weft_task *t) {
  int rc = weft_handle_abend(t, on_abend, "releasing the order lock");
  if (rc != 0) {
    unexpected("ABENDER: weft_handle_abend", rc);
    return;
  }
  say(t, "abending with USR1");
  weft_abend(t, "USR1");
}

/* The commarea LINKER passes to UPPER. */
typedef struct greeting {
  char text[32]; /* upper-cased by UPPER */
  int calls;     /* incremented by UPPER */
} greeting;

/* UPPER: upper-cases the greeting in the caller's commarea. */
static void upper(weft_task *t) {
  void *data;
  size_t len;
  int rc = weft_commarea(t, &data, &len);
  if (rc != 0 || len != sizeof(greeting)) {
    unexpected("UPPER: weft_commarea", rc);
    return;
  }
  greeting *g = data;
  for (char *c = g->text; *c; c++)
    *c = (char)toupper((unsigned char)*c);
  g->calls++;
}

/* LINKER: calls UPPER in the same task and checks what came back. */
static void linker(weft_task *t) {
  greeting g = {"hello, weft", 0};
  int rc = weft_link(t, "UPPER", &g, sizeof g);
  if (rc != 0) {
    unexpected("LINKER: weft_link", rc);
    return;
  }
  say(t, "LINK UPPER returned \"%s\"", g.text);
  if (strcmp(g.text, "HELLO, WEFT") == 0 && g.calls == 1)
    atomic_fetch_add(&g_links_ok, 1);
  else
    unexpected("LINKER: commarea not updated", WEFT_OK);
}

/* ------------------------------------------------------------------------ */
/* Host                                                                      */
/* ------------------------------------------------------------------------ */

static int define(weft_region *r) {
  static const struct {
    const char *program;
    weft_program_fn fn;
    const char *tranid; /* NULL: a LINK target only */
  } defs[] = {
      {"YIELDER", yielder, "HYLD"}, {"DELAYER", delayer, "HDLY"}, {"ABENDER", abender, "HABN"},
      {"LINKER", linker, "HLNK"},   {"UPPER", upper, NULL},
  };
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
    weft_transaction_def def = {defs[i].tranid, defs[i].program, 100, 0, NULL};
    int rc = weft_program_define(r, defs[i].program, defs[i].fn);
    if (rc == 0 && def.tranid != NULL)
      rc = weft_transaction_define(r, &def);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Start TASKS_EACH tasks of every transaction, interleaved. Every task gets
 * a yield count as start data; only YIELDER reads it. */
static int start_all(weft_region *r) {
  static const char *const tranids[] = {"HYLD", "HDLY", "HABN", "HLNK"};
  for (unsigned i = 0; i < TASKS_EACH; i++) {
    for (size_t j = 0; j < sizeof tranids / sizeof tranids[0]; j++) {
      unsigned yields = 3 + i;
      int rc = weft_start(r, tranids[j], &yields, sizeof yields, NULL, NULL);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

static void print_stats(const weft_region_stats *s) {
  printf("\nregion statistics\n");
  printf("  tasks started   %6llu\n", (unsigned long long)s->tasks_started);
  printf("  completed       %6llu\n", (unsigned long long)s->tasks_completed);
  printf("  abended         %6llu\n", (unsigned long long)s->tasks_abended);
  printf("  starts rejected %6llu\n", (unsigned long long)s->starts_rejected);
  printf("  peak active     %6u\n", s->peak_active);
  printf("\n  worker  dispatches   busy ms   idle ms  steals\n");
  for (unsigned w = 0; w < s->workers && w < WEFT_MAX_WORKERS; w++) {
    const weft_worker_stats *ws = &s->worker[w];
    printf("  %6u  %10llu  %8.2f  %8.2f  %6llu\n", w, (unsigned long long)ws->dispatches,
           ws->busy_ns / 1e6, ws->idle_ns / 1e6, (unsigned long long)ws->steals);
  }
  printf("\n");
}

/* Check that got == want (or got >= want when at_least); prints the line
 * and counts a failure if it does not hold. */
static void expect_cmp(const char *what, unsigned long long got, unsigned long long want,
                       int at_least) {
  int ok = at_least ? got >= want : got == want;
  printf("  %-22s %6llu  (want %s%llu)  %s\n", what, got, at_least ? ">= " : "", want,
         ok ? "ok" : "UNEXPECTED");
  if (!ok)
    atomic_fetch_add(&g_failures, 1);
}

static void expect(const char *what, unsigned long long got, unsigned long long want) {
  expect_cmp(what, got, want, 0);
}

static void check_results(const weft_region_stats *s) {
  unsigned long long dispatches = 0;
  for (unsigned w = 0; w < s->workers && w < WEFT_MAX_WORKERS; w++)
    dispatches += s->worker[w].dispatches;
  printf("expectations\n");
  expect("tasks started", s->tasks_started, 4 * TASKS_EACH);
  expect("tasks completed", s->tasks_completed, 3 * TASKS_EACH);
  expect("tasks abended", s->tasks_abended, TASKS_EACH);
  expect("workers", s->workers, 2);
  expect_cmp("dispatches", dispatches, s->tasks_started, 1);
  expect("yielders done", (unsigned)atomic_load(&g_yielders_done), TASKS_EACH);
  expect("delays long enough", (unsigned)atomic_load(&g_delays_ok), TASKS_EACH);
  expect("abend handlers run", (unsigned)atomic_load(&g_handlers_run), TASKS_EACH);
  expect("links answered", (unsigned)atomic_load(&g_links_ok), TASKS_EACH);
}

/* After weft_region_destroy nothing Weft created may be left. */
static void check_leaks(void) {
  weft_runtime_counters c;
  weft_runtime_counters_get(&c);
  expect("fibers left", (unsigned long long)c.fibers, 0);
  expect("threads left", (unsigned long long)c.threads, 0);
  expect("regions left", (unsigned long long)c.regions, 0);
  expect("tasks left", (unsigned long long)c.tasks, 0);
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "hello: %s failed: %s (%s)\n", what, weft_err_name(rc), weft_strerror(rc));
  return 1;
}

int main(void) {
  weft_region_config cfg;
  weft_region *r;
  weft_region_stats stats;
  int rc;
  weft_region_config_init(&cfg);
  cfg.workers = 2;
  if ((rc = weft_region_create(&cfg, &r)) != 0)
    return fail("weft_region_create", rc);
  if ((rc = define(r)) != 0)
    return fail("defining programs and transactions", rc);
  printf("hello: region up with %u workers; starting %d tasks\n", cfg.workers, 4 * TASKS_EACH);
  if ((rc = start_all(r)) != 0)
    return fail("weft_start", rc);
  if ((rc = weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 10000)) != 0)
    return fail("weft_region_shutdown", rc);
  if ((rc = weft_region_stats_get(r, &stats)) != 0)
    return fail("weft_region_stats", rc);
  print_stats(&stats);
  check_results(&stats);
  weft_region_destroy(r);
  check_leaks();
  rc = atomic_load(&g_failures);
  printf("hello: %s\n", rc == 0 ? "everything behaved as expected" : "UNEXPECTED results");
  return rc == 0 ? 0 : 1;
}
