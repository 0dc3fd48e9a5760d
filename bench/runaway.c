/* runaway.c - bench_runaway: how long after its runaway limit is a task
 * that never suspends interrupted (abend AICA)?
 *
 * Two loops, defined by the host (this executable links weft.dll, so its
 * programs are in a module of their own and can be interrupted):
 * - tight: for (;;) x++ with x volatile, always in its own code;
 * - malloc: malloc and free of 16-1039 bytes in a loop, mostly inside the
 *   C runtime's heap, where the monitor must not interrupt it.
 * Each round starts one task of each kind (interleaved) on a one-worker
 * region with runaway_ms = LIMIT_MS; the loop notes when it begins, the
 * task record (task_record_fn, on the worker as the task ends) when it
 * ended. The figure is that time minus the limit: the delay the monitor
 * adds (its sampling is a quarter of the limit, so up to about two samples,
 * 50 ms here, is the design's own lag). Median, min and max over the
 * rounds; docs/api.md ("Runaway tasks") cites them.
 *
 * Usage: bench_runaway [--rounds N] [--json PATH]
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include <weft.h>

#include "benchutil.h"

#define LIMIT_MS 100u
#define KINDS 2

static const char *const kind_name[KINDS] = {"tight", "malloc"};

static double g_began_ns;       /* the loop began (set by the task) */
static double g_ended_ns;       /* its task record came */
static char g_abcode[5];        /* the record's abend code */
static HANDLE g_ended;          /* set by the record */

static void note_begin(void) {
  g_began_ns = bench_now_ns();
}

static void loop_tight(weft_task *t) {
  note_begin();
  volatile unsigned long x = 0;
  while (x != (unsigned long)-1)
    x++;
}

static void loop_malloc(weft_task *t) {
  note_begin();
  volatile unsigned long x = 0;
  while (x != (unsigned long)-1) {
    char *volatile p = malloc(16 + (x++ & 1023));
    if (p != NULL)
      p[0] = 1;
    free(p);
  }
}

static void on_record(void *ctx, const weft_task_record *rec) {
  g_ended_ns = bench_now_ns();
  memcpy(g_abcode, rec->abcode, sizeof g_abcode);
  SetEvent(g_ended);
}

/* Quiet: the abend messages are expected, one per round. */
static void quiet_log(void *ctx, char level, const char *msg) {}

/* One interrupted loop: ms past the limit. */
static double one_round(int kind) {
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = 1;
  cfg.runaway_ms = LIMIT_MS;
  cfg.task_record_fn = on_record;
  cfg.log_fn = quiet_log;
  weft_region *r = NULL;
  bench_check(weft_region_create(&cfg, &r), "weft_region_create");
  bench_check(weft_program_define(r, "LOOP", kind == 0 ? loop_tight : loop_malloc),
              "weft_program_define");
  weft_transaction_def d = {"LOOP", "LOOP", 10, 0, NULL};
  bench_check(weft_transaction_define(r, &d), "weft_transaction_define");
  ResetEvent(g_ended);
  bench_check(weft_start(r, "LOOP", NULL, 0, NULL, NULL), "weft_start");
  if (WaitForSingleObject(g_ended, 30000) != WAIT_OBJECT_0)
    bench_die("waiting for the loop's abend", "not interrupted within 30 s");
  if (strcmp(g_abcode, "AICA") != 0)
    bench_die("the loop's abend", g_abcode[0] ? g_abcode : "it ended normally");
  bench_check(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 30000), "weft_region_shutdown");
  weft_region_destroy(r);
  return (g_ended_ns - g_began_ns) / 1e6 - LIMIT_MS;
}

int main(int argc, char **argv) {
  unsigned rounds = 15;
  const char *json = "runaway.json";
  bench_set_name("bench_runaway");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      json = argv[++i];
    else {
      fprintf(stderr, "usage: bench_runaway [--rounds N] [--json PATH]\n");
      return 2;
    }
  }
  if (rounds == 0)
    rounds = 1;
  g_ended = CreateEventA(NULL, FALSE, FALSE, NULL);
  bench_check_win32(g_ended != NULL, "CreateEvent");
  double *ms[KINDS];
  for (int k = 0; k < KINDS; k++)
    if ((ms[k] = calloc(rounds, sizeof *ms[k])) == NULL)
      bench_die("calloc", "out of memory");
  for (unsigned i = 0; i < rounds; i++) /* interleaved, each kind first in turn */
    for (unsigned j = 0; j < KINDS; j++) {
      int kind = (int)((i + j) % KINDS);
      ms[kind][i] = one_round(kind);
    }
  const char *wine = bench_wine_version();
  printf("bench_runaway: ms from the runaway limit (%u ms) to the AICA, %u rounds%s%s\n",
         LIMIT_MS, rounds, wine ? ", under Wine " : "", wine ? wine : "");
  printf("%-8s %10s %10s %10s\n", "loop", "median", "min", "max");
  FILE *f = fopen(json, "w");
  if (f == NULL)
    bench_die("fopen", json);
  fprintf(f, "{\"bench\": \"runaway\", \"limit_ms\": %u, \"rounds\": %u, \"wine\": ", LIMIT_MS,
          rounds);
  if (wine)
    bench_json_string(f, wine);
  else
    fputs("null", f);
  for (int k = 0; k < KINDS; k++) {
    bench_summary s = bench_summarize(ms[k], rounds);
    printf("%-8s %10.1f %10.1f %10.1f\n", kind_name[k], s.median, s.min, s.max);
    fprintf(f, ", \"%s_past_limit_ms\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f}",
            kind_name[k], s.median, s.min, s.max);
  }
  fputs("}\n", f);
  fclose(f);
  return 0;
}
