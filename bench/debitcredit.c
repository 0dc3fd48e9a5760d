/* debitcredit.c - bench_debitcredit: the DebitCredit (TPC-B-like)
 * transaction on Weft keyed files with a durable log, against PostgreSQL's
 * pgbench running the same transaction at the same scale, clients and
 * durability (every commit flushed before it is acknowledged).
 *
 * The Weft side: a fresh data directory (wiped first) is seeded with the
 * scale's branches, tellers and accounts (samples/debitcredit). Then, for
 * --rounds rounds, one timed run with 1 worker and one with 2 (the order
 * alternates from round to round), each on a fresh region opened on the
 * same directory: --clients host threads call dc_submit in a loop with
 * random accounts and deltas in [-5000, 5000], as pgbench does. After a
 * 1 s warm-up the host reads the log statistics, sleeps --seconds, reads
 * them again and stops the clients. Every dc_submit is timed with
 * QueryPerformanceCounter; the transactions that completed inside the
 * window give tps and the latency percentiles (nearest rank), the log
 * statistics flushes per second and transactions per flush. After each run
 * dc_check verifies the invariant: sum of account = teller = branch
 * balances = sum of history deltas, and one history record per
 * acknowledged commit of all runs so far.
 *
 * The PostgreSQL side is a Linux program and cannot be run from here under
 * Wine: scripts/pgbench.sh runs it (./build.sh bench runs the script just
 * before this program) and writes pgbench.json, which this program reads
 * (--pgbench-json) for the table, the ratio and the invariant.
 *
 * Writes debitcredit.json (--json) in the working directory:
 *   {"weft": [{"workers", "clients", "tps", "p50_ms", "p99_ms",
 *              "flushes_per_sec", "txn_per_flush"}, ...],
 *    "pgbench": {"clients", "tps", "p50_ms", "p99_ms"} or null,
 *    "ratio": best Weft tps / pgbench tps, or null,
 *    "invariant_ok": bool}
 * Weft figures are medians over the rounds.
 *
 * Usage: bench_debitcredit [--scale N] [--seconds S] [--clients C]
 *          [--rounds R] [--quick] [--data DIR] [--pgbench-json PATH]
 *          [--json PATH]
 * Exit code 0 when every figure was measured and the invariant held
 * (whether or not the ratio target was met), 1 otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include <weft.h>

#include "benchutil.h"
#include "dc.h"

#define MAX_CLIENTS 256
#define MAX_ROUNDS 32
#define WARMUP_MS 1000
#define RATIO_TARGET 2.0

typedef struct options {
  unsigned scale, seconds, clients, rounds;
  const char *data_dir, *pgbench_json, *json;
} options;

static options g_opt = {1, 10, 8, 3, "dcdata", "pgbench.json", "debitcredit.json"};
static dc_config g_dc;

/* ------------------------------------------------------------------------ */
/* Data directory                                                            */
/* ------------------------------------------------------------------------ */

/* Delete path and everything under it (no error if it is missing). */
static void remove_tree(const char *path) {
  char pattern[MAX_PATH];
  WIN32_FIND_DATAA fd;
  snprintf(pattern, sizeof pattern, "%s\\*", path);
  HANDLE h = FindFirstFileA(pattern, &fd);
  if (h != INVALID_HANDLE_VALUE) {
    do {
      if (strcmp(fd.cFileName, ".") == 0 || strcmp(fd.cFileName, "..") == 0)
        continue;
      char child[MAX_PATH];
      snprintf(child, sizeof child, "%s\\%s", path, fd.cFileName);
      if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        remove_tree(child);
      else
        bench_check_win32(DeleteFileA(child), "DeleteFile (wiping the data directory)");
    } while (FindNextFileA(h, &fd));
    FindClose(h);
  }
  if (GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES)
    bench_check_win32(RemoveDirectoryA(path), "RemoveDirectory (wiping the data directory)");
}

static void on_region_log(void *ctx, char level, const char *msg) {
  (void)ctx;
  if (level != 'I')
    fprintf(stderr, "  [region %c] %s\n", level, msg);
}

static weft_region *region_open(unsigned workers) {
  weft_region_config cfg;
  weft_region *r;
  weft_region_config_init(&cfg);
  cfg.workers = workers;
  cfg.data_dir = g_opt.data_dir;
  cfg.log_fn = on_region_log;
  bench_check(weft_region_create(&cfg, &r), "weft_region_create");
  bench_check(dc_define(r), "dc_define");
  /* On a seeded directory this only checks the scale. */
  bench_check(dc_seed(r, &g_dc), "dc_seed");
  return r;
}

static void region_close(weft_region *r) {
  bench_check(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 60000), "weft_region_shutdown");
  weft_region_destroy(r);
}

/* ------------------------------------------------------------------------ */
/* One timed run                                                             */
/* ------------------------------------------------------------------------ */

typedef struct sample {
  double end_ns;     /* when dc_submit returned */
  double latency_ns; /* how long it took */
} sample;

typedef struct client {
  HANDLE thread;
  weft_region *r;
  uint64_t id;
  sample *samples;
  size_t n, cap;
  uint64_t acked, failed;
  int first_error;
} client;

static volatile LONG g_stop;
static uint64_t g_acked_total; /* acknowledged commits of every run so far */

static DWORD WINAPI client_main(void *arg) {
  client *c = arg;
  uint64_t state = 0x9E3779B97F4A7C15ull * (c->id + 1) ^ (uint64_t)GetTickCount64();
  uint64_t seq = 0;
  while (!InterlockedCompareExchange(&g_stop, 0, 0)) {
    uint32_t aid = dc_random_account(&g_dc, &state);
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    int32_t delta = (int32_t)(state % 10001) - 5000;
    double t0 = bench_now_ns();
    int rc = dc_submit(c->r, c->id, ++seq, aid, delta);
    double t1 = bench_now_ns();
    if (rc != 0) {
      if (c->failed++ == 0)
        c->first_error = rc;
      continue;
    }
    c->acked++;
    if (c->n == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 65536;
      sample *s = realloc(c->samples, cap * sizeof *s);
      if (s == NULL)
        bench_die("realloc", "out of memory");
      c->samples = s;
      c->cap = cap;
    }
    c->samples[c->n++] = (sample){t1, t1 - t0};
  }
  return 0;
}

typedef struct run_result {
  double tps, p50_ms, p99_ms, flushes_per_sec, txn_per_flush;
  uint64_t txns;     /* completed in the window */
  uint64_t failures; /* dc_submit errors over the whole run */
  int invariant_ok;
} run_result;

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted[0..n). */
static double percentile(const double *sorted, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t rank = (size_t)ceil(p * (double)n);
  if (rank < 1)
    rank = 1;
  return sorted[rank - 1];
}

static run_result run_round(unsigned round, unsigned workers) {
  run_result res;
  memset(&res, 0, sizeof res);
  weft_region *r = region_open(workers);
  client *clients = calloc(g_opt.clients, sizeof *clients);
  if (clients == NULL)
    bench_die("calloc", "out of memory");

  InterlockedExchange(&g_stop, 0);
  for (unsigned i = 0; i < g_opt.clients; i++) {
    clients[i].r = r;
    /* (client, seq) keys the history record: unique over every run. */
    clients[i].id = (uint64_t)(round * 2 + (workers - 1)) * 1000 + i;
    clients[i].thread = CreateThread(NULL, 0, client_main, &clients[i], 0, NULL);
    bench_check_win32(clients[i].thread != NULL, "CreateThread");
  }
  Sleep(WARMUP_MS);
  weft_log_stats l0, l1;
  bench_check(weft_log_stats_get(r, &l0), "weft_log_stats");
  double t0 = bench_now_ns();
  Sleep(g_opt.seconds * 1000);
  double t1 = bench_now_ns();
  bench_check(weft_log_stats_get(r, &l1), "weft_log_stats");
  InterlockedExchange(&g_stop, 1);
  for (unsigned i = 0; i < g_opt.clients; i++) {
    WaitForSingleObject(clients[i].thread, INFINITE);
    CloseHandle(clients[i].thread);
  }

  /* Transactions that completed inside [t0, t1]. */
  size_t total = 0;
  uint64_t acked = 0;
  for (unsigned i = 0; i < g_opt.clients; i++) {
    total += clients[i].n;
    acked += clients[i].acked;
    res.failures += clients[i].failed;
    if (clients[i].failed)
      fprintf(stderr, "  client %llu: %llu failed submits, the first %s\n",
              (unsigned long long)clients[i].id, (unsigned long long)clients[i].failed,
              weft_err_name(clients[i].first_error));
  }
  double *lat = malloc((total ? total : 1) * sizeof *lat);
  if (lat == NULL)
    bench_die("malloc", "out of memory");
  size_t n = 0;
  for (unsigned i = 0; i < g_opt.clients; i++) {
    for (size_t k = 0; k < clients[i].n; k++)
      if (clients[i].samples[k].end_ns >= t0 && clients[i].samples[k].end_ns <= t1)
        lat[n++] = clients[i].samples[k].latency_ns;
    free(clients[i].samples);
  }
  qsort(lat, n, sizeof *lat, compare_doubles);
  double secs = (t1 - t0) / 1e9;
  res.txns = n;
  res.tps = (double)n / secs;
  res.p50_ms = percentile(lat, n, 0.50) / 1e6;
  res.p99_ms = percentile(lat, n, 0.99) / 1e6;
  uint64_t flushes = l1.flushes - l0.flushes, commits = l1.commits - l0.commits;
  res.flushes_per_sec = (double)flushes / secs;
  res.txn_per_flush = flushes ? (double)commits / (double)flushes : 0;
  free(lat);
  free(clients);

  /* The invariant, outside the timed window. */
  g_acked_total += acked;
  dc_totals tot;
  bench_check(dc_check(r, &tot), "dc_check");
  res.invariant_ok = tot.ok && tot.history == g_acked_total && res.failures == 0 &&
                     tot.naccounts == (uint64_t)g_dc.branches * g_dc.accounts_per_branch &&
                     tot.ntellers == (uint64_t)g_dc.branches * DC_TELLERS_PER_BRANCH &&
                     tot.nbranches == g_dc.branches;
  if (!res.invariant_ok)
    fprintf(stderr,
            "  INVARIANT FAILED: accounts %lld tellers %lld branches %lld history deltas %lld; "
            "%llu history records for %llu acknowledged commits; %llu failed submits; "
            "rows %llu/%llu/%llu\n",
            (long long)tot.accounts, (long long)tot.tellers, (long long)tot.branches,
            (long long)tot.history_delta, (unsigned long long)tot.history,
            (unsigned long long)g_acked_total, (unsigned long long)res.failures,
            (unsigned long long)tot.naccounts, (unsigned long long)tot.ntellers,
            (unsigned long long)tot.nbranches);
  region_close(r);
  printf("  round %u, %u worker%s: %8.0f tps  p50 %6.3f ms  p99 %6.3f ms  %7.0f flushes/s  "
         "%5.2f txn/flush  (%llu commits, %.0f log bytes/commit, %llu checkpoints; "
         "%llu history records)%s\n",
         round + 1, workers, workers > 1 ? "s" : " ", res.tps, res.p50_ms, res.p99_ms,
         res.flushes_per_sec, res.txn_per_flush, (unsigned long long)commits,
         commits ? (double)(l1.bytes - l0.bytes) / (double)commits : 0.0,
         (unsigned long long)(l1.checkpoints - l0.checkpoints), (unsigned long long)tot.history,
         res.invariant_ok ? "" : "  INVARIANT FAILED");
  fflush(stdout);
  return res;
}

/* ------------------------------------------------------------------------ */
/* pgbench.json                                                              */
/* ------------------------------------------------------------------------ */

typedef struct pg_result {
  int present;
  double clients, scale, seconds, rounds, tps, tps_min, tps_max;
  double p50_ms, p50_min, p50_max, p99_ms, p99_min, p99_max;
  int invariant_ok;
  int sync_commit_on; /* equal durability: every commit flushed */
  char version[128];
} pg_result;

/* The number after "key": in text, or NaN. */
static double json_number(const char *text, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(text, pat);
  if (p == NULL)
    return NAN;
  p += strlen(pat);
  char *end;
  double v = strtod(p, &end);
  return end == p ? NAN : v;
}

static pg_result read_pgbench(const char *path) {
  pg_result pg;
  memset(&pg, 0, sizeof pg);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return pg;
  char text[8192];
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[len] = 0;
  pg.clients = json_number(text, "clients");
  pg.scale = json_number(text, "scale");
  pg.seconds = json_number(text, "seconds");
  pg.rounds = json_number(text, "rounds");
  pg.tps = json_number(text, "tps");
  pg.tps_min = json_number(text, "tps_min");
  pg.tps_max = json_number(text, "tps_max");
  pg.p50_ms = json_number(text, "p50_ms");
  pg.p50_min = json_number(text, "p50_ms_min");
  pg.p50_max = json_number(text, "p50_ms_max");
  pg.p99_ms = json_number(text, "p99_ms");
  pg.p99_min = json_number(text, "p99_ms_min");
  pg.p99_max = json_number(text, "p99_ms_max");
  pg.sync_commit_on = strstr(text, "\"synchronous_commit\": \"on\"") != NULL;
  pg.invariant_ok = strstr(text, "\"invariant_ok\": true") != NULL ||
                    strstr(text, "\"invariant_ok\":true") != NULL;
  const char *v = strstr(text, "\"postgresql_version\": \"");
  if (v != NULL) {
    v += strlen("\"postgresql_version\": \"");
    size_t k = 0;
    while (v[k] && v[k] != '"' && k + 1 < sizeof pg.version) {
      pg.version[k] = v[k];
      k++;
    }
  }
  pg.present = !isnan(pg.tps) && !isnan(pg.clients) && !isnan(pg.p50_ms) && !isnan(pg.p99_ms);
  return pg;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct config_summary {
  unsigned workers;
  bench_summary tps, p50, p99, fps, tpf;
} config_summary;

static void write_json(const config_summary *w, unsigned nw, const pg_result *pg, double ratio,
                       int invariant_ok) {
  FILE *f = fopen(g_opt.json, "w");
  bench_check_win32(f != NULL, "fopen (JSON report)");
  fprintf(f, "{\n  \"weft\": [\n");
  for (unsigned i = 0; i < nw; i++)
    fprintf(f,
            "    {\"workers\": %u, \"clients\": %u, \"tps\": %.1f, \"p50_ms\": %.3f, "
            "\"p99_ms\": %.3f, \"flushes_per_sec\": %.1f, \"txn_per_flush\": %.2f}%s\n",
            w[i].workers, g_opt.clients, w[i].tps.median, w[i].p50.median, w[i].p99.median,
            w[i].fps.median, w[i].tpf.median, i + 1 < nw ? "," : "");
  fprintf(f, "  ],\n");
  if (pg->present)
    fprintf(f,
            "  \"pgbench\": {\"clients\": %.0f, \"tps\": %.1f, \"p50_ms\": %.3f, "
            "\"p99_ms\": %.3f},\n",
            pg->clients, pg->tps, pg->p50_ms, pg->p99_ms);
  else
    fprintf(f, "  \"pgbench\": null,\n");
  if (pg->present && pg->tps > 0)
    fprintf(f, "  \"ratio\": %.2f,\n", ratio);
  else
    fprintf(f, "  \"ratio\": null,\n");
  fprintf(f, "  \"invariant_ok\": %s\n}\n", invariant_ok ? "true" : "false");
  fclose(f);
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_debitcredit [--scale N] [--seconds S] [--clients C] [--rounds R]\n"
          "         [--quick] [--data DIR] [--pgbench-json PATH] [--json PATH]\n"
          "  --scale N          branches (100000 accounts each), like pgbench -s (default 1)\n"
          "  --seconds S        timed window of each run (default 10)\n"
          "  --clients C        host threads calling dc_submit (default 8)\n"
          "  --rounds R         rounds of (1 worker, 2 workers) runs (default 3)\n"
          "  --quick            1 round of 2 s: a smoke run\n"
          "  --data DIR         data directory, wiped first (default dcdata)\n"
          "  --pgbench-json P   scripts/pgbench.sh's report (default pgbench.json)\n"
          "  --json PATH        where to write the report (default debitcredit.json)\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (strcmp(a, "--quick") == 0) {
      g_opt.rounds = 1;
      g_opt.seconds = 2;
    } else if (strcmp(a, "--scale") == 0 && more)
      g_opt.scale = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(a, "--seconds") == 0 && more)
      g_opt.seconds = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(a, "--clients") == 0 && more)
      g_opt.clients = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(a, "--rounds") == 0 && more)
      g_opt.rounds = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(a, "--data") == 0 && more)
      g_opt.data_dir = argv[++i];
    else if (strcmp(a, "--pgbench-json") == 0 && more)
      g_opt.pgbench_json = argv[++i];
    else if (strcmp(a, "--json") == 0 && more)
      g_opt.json = argv[++i];
    else
      usage();
  }
  if (g_opt.scale < 1 || g_opt.scale > 1000 || g_opt.seconds < 1 || g_opt.clients < 1 ||
      g_opt.clients > MAX_CLIENTS || g_opt.rounds < 1 || g_opt.rounds > MAX_ROUNDS)
    usage();
}

int main(int argc, char **argv) {
  bench_set_name("bench_debitcredit");
  parse_args(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  g_dc.branches = g_opt.scale;
  g_dc.accounts_per_branch = 100000;
  const char *wine = bench_wine_version();

  printf("DebitCredit: scale %u (%u branches, %u tellers, %u accounts), %u clients, "
         "%u s per run, %u rounds; Weft on %s\n",
         g_opt.scale, g_opt.scale, g_opt.scale * DC_TELLERS_PER_BRANCH, g_opt.scale * 100000,
         g_opt.clients, g_opt.seconds, g_opt.rounds,
         wine ? "Wine (figures taken under Wine, not native Windows)" : "Windows");

  /* Seed a fresh directory. */
  remove_tree(g_opt.data_dir);
  double s0 = bench_now_ns();
  weft_region *r = region_open(2);
  double s1 = bench_now_ns();
  dc_totals tot;
  bench_check(dc_check(r, &tot), "dc_check");
  region_close(r);
  int invariant_ok = tot.ok && tot.history == 0 &&
                     tot.naccounts == (uint64_t)g_dc.branches * g_dc.accounts_per_branch;
  printf("  seeded %s in %.2f s (%llu accounts, %llu tellers, %llu branches)%s\n",
         g_opt.data_dir, (s1 - s0) / 1e9, (unsigned long long)tot.naccounts,
         (unsigned long long)tot.ntellers, (unsigned long long)tot.nbranches,
         invariant_ok ? "" : "  SEED CHECK FAILED");

  /* Interleaved rounds: 1 then 2 workers, then 2 then 1, ... */
  static run_result results[2][MAX_ROUNDS];
  for (unsigned round = 0; round < g_opt.rounds; round++)
    for (unsigned k = 0; k < 2; k++) {
      unsigned workers = (round % 2 == 0) ? k + 1 : 2 - k;
      results[workers - 1][round] = run_round(round, workers);
      invariant_ok &= results[workers - 1][round].invariant_ok;
    }

  config_summary w[2];
  double buf[5][MAX_ROUNDS];
  for (unsigned k = 0; k < 2; k++) {
    for (unsigned i = 0; i < g_opt.rounds; i++) {
      buf[0][i] = results[k][i].tps;
      buf[1][i] = results[k][i].p50_ms;
      buf[2][i] = results[k][i].p99_ms;
      buf[3][i] = results[k][i].flushes_per_sec;
      buf[4][i] = results[k][i].txn_per_flush;
    }
    w[k].workers = k + 1;
    w[k].tps = bench_summarize(buf[0], g_opt.rounds);
    w[k].p50 = bench_summarize(buf[1], g_opt.rounds);
    w[k].p99 = bench_summarize(buf[2], g_opt.rounds);
    w[k].fps = bench_summarize(buf[3], g_opt.rounds);
    w[k].tpf = bench_summarize(buf[4], g_opt.rounds);
  }

  pg_result pg = read_pgbench(g_opt.pgbench_json);
  if (pg.present && !pg.invariant_ok)
    fprintf(stderr, "  pgbench: the invariant failed (see scripts/pgbench.sh's output)\n");
  if (pg.present && ((unsigned)pg.clients != g_opt.clients || (unsigned)pg.scale != g_opt.scale))
    fprintf(stderr,
            "  warning: %s was taken with %.0f clients at scale %.0f, this run with %u at %u\n",
            g_opt.pgbench_json, pg.clients, pg.scale, g_opt.clients, g_opt.scale);
  if (pg.present && !pg.sync_commit_on)
    fprintf(stderr, "  warning: %s was not taken with synchronous_commit=on: the durability "
                    "differs, the ratio means little\n", g_opt.pgbench_json);
  if (pg.present)
    invariant_ok &= pg.invariant_ok;
  double best = w[0].tps.median > w[1].tps.median ? w[0].tps.median : w[1].tps.median;
  double ratio = pg.present && pg.tps > 0 ? best / pg.tps : 0;

  printf("\nDebitCredit, %u clients, scale %u: medians over %u rounds [min .. max]%s\n",
         g_opt.clients, g_opt.scale, g_opt.rounds,
         wine ? " -- Weft figures taken under Wine" : "");
  printf("%-18s %24s %24s %24s %22s %18s\n", "system", "tps", "p50 ms", "p99 ms", "flushes/s",
         "txn/flush");
  for (unsigned k = 0; k < 2; k++)
    printf("Weft %u worker%s     %8.0f [%6.0f .. %6.0f] %6.3f [%6.3f .. %6.3f] "
           "%6.3f [%6.3f .. %6.3f] %6.0f [%5.0f .. %5.0f] %5.2f [%4.2f .. %4.2f]\n",
           k + 1, k ? "s" : " ", w[k].tps.median, w[k].tps.min, w[k].tps.max, w[k].p50.median,
           w[k].p50.min, w[k].p50.max, w[k].p99.median, w[k].p99.min, w[k].p99.max,
           w[k].fps.median, w[k].fps.min, w[k].fps.max, w[k].tpf.median, w[k].tpf.min,
           w[k].tpf.max);
  if (pg.present)
    printf("pgbench            %8.0f [%6.0f .. %6.0f] %6.3f [%6.3f .. %6.3f] "
           "%6.3f [%6.3f .. %6.3f]   (PostgreSQL %s, native Linux, %.0f rounds of %.0f s)\n",
           pg.tps, pg.tps_min, pg.tps_max, pg.p50_ms, pg.p50_min, pg.p50_max, pg.p99_ms,
           pg.p99_min, pg.p99_max, pg.version, pg.rounds, pg.seconds);
  else
    printf("pgbench            (no figures: %s missing or unreadable; run scripts/pgbench.sh)\n",
           g_opt.pgbench_json);
  printf("durability: Weft acknowledges a commit after FlushFileBuffers of its log; "
         "PostgreSQL fsync=on, synchronous_commit=on\n");
  if (pg.present)
    printf("%s ratio best Weft tps / pgbench tps = %.2f (target >= %.1f)\n",
           ratio >= RATIO_TARGET ? "PASS" : "FAIL", ratio, RATIO_TARGET);
  printf("%s invariant (Weft after every run%s)\n", invariant_ok ? "PASS" : "FAIL",
         pg.present ? ", pgbench after every run" : "");

  write_json(w, 2, &pg, ratio, invariant_ok);
  printf("wrote %s\n", g_opt.json);
  return invariant_ok ? 0 : 1;
}
