/* switch.c - bench_switch: what a task switch, a transaction start and a
 * thread handoff cost, each compared with a raw SwitchToFiber round trip
 * measured in the same run.
 *
 * Every benchmark runs once per round, in the same order, for --rounds rounds
 * (default 7); each figure is the median, minimum and maximum over the
 * rounds. QueryPerformanceCounter surrounds the hot loop only: process start,
 * region creation and fiber creation are never inside a timed section.
 * docs/performance.md says what each figure measures.
 *
 * Usage: bench_switch [--rounds N] [--quick] [--json PATH] [--only NAME]
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include <weft.h>

#include "benchutil.h"

/* How long the host waits for a benchmark's tasks before it declares the
 * runtime stuck. */
#define STALL_MS 30000
/* The work of a --quick round is the full work divided by this. */
#define QUICK_DIVISOR 10

/* ------------------------------------------------------------------------ */
/* Benchmark table                                                           */
/* ------------------------------------------------------------------------ */

typedef enum bench_unit {
  UNIT_NS,     /* nanoseconds per operation */
  UNIT_PER_SEC /* transactions per second */
} bench_unit;

typedef struct bench_def {
  const char *name;
  double (*run)(const struct bench_def *b);
  bench_unit unit;
  unsigned arg;   /* tasks, workers or pooling: per benchmark */
  unsigned iters; /* operations per round (the window in ms for throughput) */
  const char *direct; /* how direct switches changed what it measures, or NULL */
} bench_def;

/* In a yield benchmark's arg: run with accounting off (the default
 * configuration has enclaves and accounting on). */
#define ARG_NOACCT 0x10000u
#define ARG_TASKS(arg) ((arg) & 0xFFFFu)

static double run_stf(const bench_def *b);
static double run_stf_2t(const bench_def *b);
static double run_yield(const bench_def *b);
static double run_chain(const bench_def *b);
static double run_thread(const bench_def *b);
static double run_handoff_cv(const bench_def *b);
static double run_handoff_woa(const bench_def *b);
static double run_throughput(const bench_def *b);

/* What a yield and a pooled transaction are since direct switches (the
 * JSON's "direct" note on the figures whose meaning changed). */
#define DIRECT_YIELD "one fiber switch per yield, task to task (was two, through the dispatcher)"
#define DIRECT_TXN                                                                       \
  "the next transaction runs on the ended one's fiber, without a fiber switch (was two, " \
  "through the dispatcher)"

static const bench_def benches[] = {
    {"stf_round_trip", run_stf, UNIT_NS, 0, 1000000, NULL},
    {"stf_round_trip_2t", run_stf_2t, UNIT_NS, 0, 1000000, NULL},
    {"yield_round_trip_k2", run_yield, UNIT_NS, 2, 1000000, DIRECT_YIELD},
    {"yield_round_trip_k64", run_yield, UNIT_NS, 64, 1000000, DIRECT_YIELD},
    {"yield_round_trip_k64_noacct", run_yield, UNIT_NS, 64 | ARG_NOACCT, 1000000, DIRECT_YIELD},
    {"yield_round_trip_k1024", run_yield, UNIT_NS, 1024, 1024000, DIRECT_YIELD},
    {"txn_pooled", run_chain, UNIT_NS, 1, 200000, DIRECT_TXN},
    {"txn_unpooled_fiber", run_chain, UNIT_NS, 0, 2000, NULL},
    {"txn_thread", run_thread, UNIT_NS, 0, 100, NULL},
    {"handoff_srw_cv", run_handoff_cv, UNIT_NS, 0, 10000, NULL},
    {"handoff_waitonaddress", run_handoff_woa, UNIT_NS, 0, 20000, NULL},
    {"txn_throughput_1w", run_throughput, UNIT_PER_SEC, 1, 1000, DIRECT_TXN},
    {"txn_throughput_2w", run_throughput, UNIT_PER_SEC, 2, 1000, DIRECT_TXN},
};
#define BENCH_COUNT (sizeof benches / sizeof benches[0])

/* Targets: median(subject) compared with factor x median(base). */
typedef struct bench_target {
  const char *subject;
  const char *base;
  double factor;
  int at_most; /* 1: subject <= factor x base; 0: subject >= factor x base */
  int scaling; /* 1: judged only when two raw threads scale (SCALING_MIN) */
} bench_target;

/* The two-worker target applies only when two threads of raw round trips
 * run at least this many times the rate of one (stf_round_trip_2t): on a
 * host whose vCPUs slow each other down no runtime can scale. */
#define SCALING_MIN 1.8

static const bench_target targets[] = {
    {"yield_round_trip_k64", "stf_round_trip", 1.0, 1, 0},
    {"yield_round_trip_k64", "yield_round_trip_k64_noacct", 1.2, 1, 0},
    {"yield_round_trip_k1024", "stf_round_trip", 1.5, 1, 0},
    {"txn_pooled", "stf_round_trip", 2.5, 1, 0},
    {"txn_thread", "txn_pooled", 5000, 0, 0},
    {"txn_throughput_2w", "txn_throughput_1w", 1.6, 0, 1},
};

/* The work divisor: 1, or QUICK_DIVISOR for a smoke run. */
static unsigned g_divisor = 1;

/* --only: the one benchmark to run (with stf_round_trip), for profiling. */
static const char *g_only;

static int selected(const bench_def *b) {
  return g_only == NULL || strcmp(b->name, g_only) == 0 || b->run == run_stf;
}

static unsigned scaled(unsigned n) {
  return n / g_divisor > 0 ? n / g_divisor : 1;
}

/* ------------------------------------------------------------------------ */
/* Failures                                                                  */
/* ------------------------------------------------------------------------ */


/* ------------------------------------------------------------------------ */
/* Regions                                                                   */
/* ------------------------------------------------------------------------ */

/* Create a region from cfg with program and transaction `name` running fn. */
static weft_region *region_open(const weft_region_config *cfg, const char *name,
                                weft_program_fn fn) {
  weft_region *r;
  weft_transaction_def def = {name, name, WEFT_PRIORITY_MAX / 2, 0, NULL};
  bench_check(weft_region_create(cfg, &r), "weft_region_create");
  bench_check(weft_program_define(r, name, fn), "weft_program_define");
  bench_check(weft_transaction_define(r, &def), "weft_transaction_define");
  return r;
}

static void region_close(weft_region *r) {
  bench_check(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, STALL_MS), "weft_region_shutdown");
  weft_region_destroy(r);
}

/* ------------------------------------------------------------------------ */
/* stf_round_trip: main fiber -> partner fiber -> main fiber                 */
/* ------------------------------------------------------------------------ */

#define STF_WARMUP 10000

/* arg points at the thread's main fiber. */
static void WINAPI stf_partner(void *arg) {
  void *const *main_fiber = arg;
  for (;;)
    SwitchToFiber(*main_fiber);
}

/* On the calling thread: n timed round trips to a partner fiber, after a
 * warm-up and, when barrier is not NULL, after `parties` threads arrived at
 * it. Returns ns per round trip; the thread is a thread again on return. */
static double stf_time(unsigned n, atomic_uint *barrier, unsigned parties) {
  void *main_fiber = ConvertThreadToFiber(NULL);
  void *partner;
  double t0, t1;
  bench_check_win32(main_fiber != NULL, "ConvertThreadToFiber");
  partner = CreateFiberEx(0, 64 * 1024, 0, stf_partner, &main_fiber);
  bench_check_win32(partner != NULL, "CreateFiberEx");
  for (unsigned i = 0; i < STF_WARMUP; i++)
    SwitchToFiber(partner);
  if (barrier != NULL) {
    atomic_fetch_add(barrier, 1);
    while (atomic_load(barrier) < parties)
      YieldProcessor();
  }
  t0 = bench_now_ns();
  for (unsigned i = 0; i < n; i++)
    SwitchToFiber(partner);
  t1 = bench_now_ns();
  DeleteFiber(partner);
  bench_check_win32(ConvertFiberToThread(), "ConvertFiberToThread");
  return (t1 - t0) / n;
}

static double run_stf(const bench_def *b) {
  return stf_time(scaled(b->iters), NULL, 0);
}

/* stf_round_trip_2t: the same loop on two threads at once, a control for the
 * machine: with two CPUs that do not slow each other down it equals
 * stf_round_trip, and 2 x stf_round_trip / stf_round_trip_2t is how far two
 * workers can scale at best. */

typedef struct stf_thread_arg {
  unsigned n;           /* round trips to time */
  atomic_uint *barrier; /* both threads start timing together */
  double ns;            /* result: ns per round trip */
} stf_thread_arg;

static DWORD WINAPI stf_thread(void *arg) {
  stf_thread_arg *a = arg;
  a->ns = stf_time(a->n, a->barrier, 2);
  return 0;
}

static double run_stf_2t(const bench_def *b) {
  atomic_uint barrier = 0;
  stf_thread_arg args[2];
  HANDLE th[2];
  for (int i = 0; i < 2; i++) {
    args[i] = (stf_thread_arg){scaled(b->iters), &barrier, 0};
    th[i] = CreateThread(NULL, 0, stf_thread, &args[i], 0, NULL);
    bench_check_win32(th[i] != NULL, "CreateThread");
  }
  WaitForMultipleObjects(2, th, TRUE, INFINITE);
  CloseHandle(th[0]);
  CloseHandle(th[1]);
  return (args[0].ns + args[1].ns) / 2;
}

/* ------------------------------------------------------------------------ */
/* yield_round_trip_kK: K tasks on one worker, each yielding N times         */
/* ------------------------------------------------------------------------ */

typedef struct yield_state {
  unsigned tasks;       /* K */
  unsigned yields;      /* N, per task */
  atomic_uint arrived;  /* tasks that reached the rendezvous */
  atomic_uint passed;   /* tasks that left it; the first sets t0 */
  atomic_uint finished; /* tasks done yielding; the last sets t1 */
  double t0, t1;
} yield_state;

static yield_state g_yield;

/* Wait (yielding) until every task has arrived, then yield N times. */
static void yield_prog(weft_task *t) {
  yield_state *y = &g_yield;
  atomic_fetch_add(&y->arrived, 1);
  while (atomic_load(&y->arrived) < y->tasks)
    if (!bench_task_ok(weft_yield(t), "weft_yield"))
      return;
  if (atomic_fetch_add(&y->passed, 1) == 0)
    y->t0 = bench_now_ns();
  for (unsigned i = 0; i < y->yields; i++)
    if (!bench_task_ok(weft_yield(t), "weft_yield"))
      return;
  if (atomic_fetch_add(&y->finished, 1) + 1 == y->tasks) {
    y->t1 = bench_now_ns();
    bench_done_signal();
  }
}

static double run_yield(const bench_def *b) {
  yield_state *y = &g_yield;
  weft_region_config cfg;
  weft_region *r;
  weft_region_config_init(&cfg);
  cfg.workers = 1;
  cfg.max_tasks = ARG_TASKS(b->arg) + 16;
  cfg.accounting = b->arg & ARG_NOACCT ? WEFT_ACCOUNTING_OFF : WEFT_ACCOUNTING_ON;
  r = region_open(&cfg, "YIELD", yield_prog);
  y->tasks = ARG_TASKS(b->arg);
  y->yields = scaled(b->iters) / y->tasks;
  atomic_store(&y->arrived, 0);
  atomic_store(&y->passed, 0);
  atomic_store(&y->finished, 0);
  bench_done_arm();
  for (unsigned i = 0; i < y->tasks; i++)
    bench_check(weft_start(r, "YIELD", NULL, 0, NULL, NULL), "weft_start");
  bench_done_wait("yield tasks");
  region_close(r);
  return (y->t1 - y->t0) / ((double)y->tasks * y->yields);
}

/* ------------------------------------------------------------------------ */
/* txn_pooled / txn_unpooled_fiber: a chain of empty transactions           */
/* ------------------------------------------------------------------------ */

typedef struct chain_state {
  unsigned total;  /* transactions in the chain */
  atomic_uint ran; /* transactions that have run */
  double t0, t1;   /* set by the first and the last */
} chain_state;

static chain_state g_chain;

/* An empty transaction that starts its successor until the chain is done. */
static void chain_prog(weft_task *t) {
  chain_state *c = &g_chain;
  unsigned n = atomic_fetch_add_explicit(&c->ran, 1, memory_order_relaxed) + 1;
  if (n == 1)
    c->t0 = bench_now_ns();
  if (n < c->total) {
    bench_task_ok(weft_start(weft_task_region(t), "CHAIN", NULL, 0, NULL, NULL),
            "weft_start (in a task)");
    return;
  }
  c->t1 = bench_now_ns();
  bench_done_signal();
}

/* Run one chain of total transactions; ns per transaction, measured from the
 * first one's body to the last one's. */
static double chain_once(weft_region *r, unsigned total) {
  chain_state *c = &g_chain;
  c->total = total;
  atomic_store(&c->ran, 0);
  bench_done_arm();
  bench_check(weft_start(r, "CHAIN", NULL, 0, NULL, NULL), "weft_start");
  bench_done_wait("transaction chain");
  return (c->t1 - c->t0) / (total - 1);
}

/* arg 1: the default fiber cache; arg 0: fiber_cache = WEFT_OFF (no pooling). */
static double run_chain(const bench_def *b) {
  weft_region_config cfg;
  weft_region *r;
  double ns;
  weft_region_config_init(&cfg);
  cfg.workers = 1;
  if (b->arg == 0)
    cfg.fiber_cache = WEFT_OFF;
  r = region_open(&cfg, "CHAIN", chain_prog);
  chain_once(r, scaled(b->iters) / 10 + 2);
  ns = chain_once(r, scaled(b->iters) + 1);
  region_close(r);
  return ns;
}

/* ------------------------------------------------------------------------ */
/* txn_thread: a thread per transaction                                      */
/* ------------------------------------------------------------------------ */

static DWORD WINAPI empty_thread(void *arg) {
  return 0;
}

static void thread_txn(void) {
  HANDLE h = CreateThread(NULL, 0, empty_thread, NULL, 0, NULL);
  bench_check_win32(h != NULL, "CreateThread");
  WaitForSingleObject(h, INFINITE);
  CloseHandle(h);
}

static double run_thread(const bench_def *b) {
  unsigned n = scaled(b->iters);
  double t0, t1;
  thread_txn();
  t0 = bench_now_ns();
  for (unsigned i = 0; i < n; i++)
    thread_txn();
  t1 = bench_now_ns();
  return (t1 - t0) / n;
}

/* ------------------------------------------------------------------------ */
/* handoff_*: a token passed between two threads pinned to one CPU           */
/* ------------------------------------------------------------------------ */

enum { TURN_PINGER, TURN_PONGER, TURN_STOP };
#define HANDOFF_WARMUP 100

typedef struct handoff {
  SRWLOCK lock;          /* guards turn (SRW + CV flavour) */
  CONDITION_VARIABLE cv; /* signalled when turn changes (SRW + CV flavour) */
  volatile LONG turn;    /* TURN_*: whose move it is */
  unsigned round_trips;  /* timed round trips (two handoffs each) */
  double t0, t1;         /* set by the pinger around the timed ones */
  void (*give)(struct handoff *h, LONG turn);
  LONG (*await)(struct handoff *h, LONG mine); /* returns mine or TURN_STOP */
} handoff;

static void cv_give(handoff *h, LONG turn) {
  AcquireSRWLockExclusive(&h->lock);
  h->turn = turn;
  ReleaseSRWLockExclusive(&h->lock);
  WakeConditionVariable(&h->cv);
}

static LONG cv_await(handoff *h, LONG mine) {
  LONG turn;
  AcquireSRWLockExclusive(&h->lock);
  while (h->turn != mine && h->turn != TURN_STOP)
    SleepConditionVariableSRW(&h->cv, &h->lock, INFINITE, 0);
  turn = h->turn;
  ReleaseSRWLockExclusive(&h->lock);
  return turn;
}

static void woa_give(handoff *h, LONG turn) {
  InterlockedExchange(&h->turn, turn);
  WakeByAddressSingle((void *)&h->turn);
}

static LONG woa_await(handoff *h, LONG mine) {
  LONG seen;
  while ((seen = h->turn) != mine && seen != TURN_STOP)
    WaitOnAddress(&h->turn, &seen, sizeof seen, INFINITE);
  return seen;
}

static void ping(handoff *h) {
  h->give(h, TURN_PONGER);
  h->await(h, TURN_PINGER);
}

static DWORD WINAPI pinger(void *arg) {
  handoff *h = arg;
  for (unsigned i = 0; i < HANDOFF_WARMUP; i++)
    ping(h);
  h->t0 = bench_now_ns();
  for (unsigned i = 0; i < h->round_trips; i++)
    ping(h);
  h->t1 = bench_now_ns();
  h->give(h, TURN_STOP);
  return 0;
}

static DWORD WINAPI ponger(void *arg) {
  handoff *h = arg;
  while (h->await(h, TURN_PONGER) != TURN_STOP)
    h->give(h, TURN_PINGER);
  return 0;
}

/* A suspended thread running fn(h), pinned to CPU 0. */
static HANDLE pinned_thread(LPTHREAD_START_ROUTINE fn, handoff *h) {
  HANDLE th = CreateThread(NULL, 0, fn, h, CREATE_SUSPENDED, NULL);
  bench_check_win32(th != NULL, "CreateThread");
  bench_check_win32(SetThreadAffinityMask(th, 1) != 0, "SetThreadAffinityMask");
  return th;
}

/* ns per handoff (one direction) of the flavour given by h's functions. */
static double run_handoff(handoff *h, unsigned handoffs) {
  HANDLE th[2];
  InitializeSRWLock(&h->lock);
  InitializeConditionVariable(&h->cv);
  h->turn = TURN_PINGER;
  h->round_trips = handoffs / 2 > 0 ? handoffs / 2 : 1;
  th[0] = pinned_thread(ponger, h);
  th[1] = pinned_thread(pinger, h);
  ResumeThread(th[0]);
  ResumeThread(th[1]);
  WaitForMultipleObjects(2, th, TRUE, INFINITE);
  CloseHandle(th[0]);
  CloseHandle(th[1]);
  return (h->t1 - h->t0) / (2.0 * h->round_trips);
}

static double run_handoff_cv(const bench_def *b) {
  handoff h = {.give = cv_give, .await = cv_await};
  return run_handoff(&h, scaled(b->iters));
}

static double run_handoff_woa(const bench_def *b) {
  handoff h = {.give = woa_give, .await = woa_await};
  return run_handoff(&h, scaled(b->iters));
}

/* ------------------------------------------------------------------------ */
/* txn_throughput_Nw: self-sustaining chains over N workers                  */
/* ------------------------------------------------------------------------ */

#define CHAINS_PER_WORKER 4

typedef struct padded_count {
  _Alignas(64) atomic_ullong n; /* one cache line per worker */
} padded_count;

typedef struct throughput_state {
  atomic_int stop;                     /* set by the host: chains end */
  atomic_uint live;                    /* chains not ended yet */
  padded_count done[WEFT_MAX_WORKERS]; /* transactions run, per worker */
} throughput_state;

static throughput_state g_tp;

/* Start the successor, then count this transaction on its worker. */
static void throughput_prog(weft_task *t) {
  if (atomic_load_explicit(&g_tp.stop, memory_order_relaxed)) {
    if (atomic_fetch_sub(&g_tp.live, 1) == 1)
      bench_done_signal();
    return;
  }
  if (!bench_task_ok(weft_start(weft_task_region(t), "THRU", NULL, 0, NULL, NULL),
               "weft_start (in a task)"))
    return;
  atomic_fetch_add_explicit(&g_tp.done[weft_task_worker(t) % WEFT_MAX_WORKERS].n, 1,
                            memory_order_relaxed);
}

static void throughput_reset(unsigned chains) {
  atomic_store(&g_tp.stop, 0);
  atomic_store(&g_tp.live, chains);
  for (unsigned w = 0; w < WEFT_MAX_WORKERS; w++)
    atomic_store(&g_tp.done[w].n, 0);
}

static uint64_t throughput_count(void) {
  uint64_t sum = 0;
  for (unsigned w = 0; w < WEFT_MAX_WORKERS; w++)
    sum += atomic_load_explicit(&g_tp.done[w].n, memory_order_relaxed);
  return sum;
}

/* arg: workers; iters: the measured window in ms. Transactions per second. */
static double run_throughput(const bench_def *b) {
  unsigned chains = CHAINS_PER_WORKER * b->arg;
  weft_region_config cfg;
  weft_region *r;
  uint64_t c0, c1;
  double t0, t1;
  weft_region_config_init(&cfg);
  cfg.workers = b->arg;
  r = region_open(&cfg, "THRU", throughput_prog);
  throughput_reset(chains);
  bench_done_arm();
  for (unsigned i = 0; i < chains; i++)
    bench_check(weft_start(r, "THRU", NULL, 0, NULL, NULL), "weft_start");
  Sleep(scaled(200));
  c0 = throughput_count();
  t0 = bench_now_ns();
  Sleep(scaled(b->iters));
  c1 = throughput_count();
  t1 = bench_now_ns();
  atomic_store(&g_tp.stop, 1);
  bench_done_wait("throughput chains");
  region_close(r);
  return (double)(c1 - c0) * 1e9 / (t1 - t0);
}

/* ------------------------------------------------------------------------ */
/* Report                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct bench_result {
  bench_summary s;  /* over the rounds, in the benchmark's unit */
  double median_ns; /* per operation (per transaction for throughput) */
} bench_result;

static bench_result g_results[BENCH_COUNT];

static const bench_result *result_named(const char *name) {
  for (size_t i = 0; i < BENCH_COUNT; i++)
    if (strcmp(benches[i].name, name) == 0)
      return &g_results[i];
  return NULL;
}

static double stf_ratio(const bench_result *res) {
  return res->median_ns / result_named("stf_round_trip")->median_ns;
}

static void format_value(char *buf, size_t size, double v, bench_unit unit) {
  if (unit == UNIT_NS)
    snprintf(buf, size, "%.1f ns", v);
  else
    snprintf(buf, size, "%.0f/s", v);
}

static void print_table(unsigned rounds, const char *wine) {
  char med[32], lo[32], hi[32];
  printf("bench_switch: %u rounds", rounds);
  if (wine)
    printf(", under Wine %s (Wine figures, not native Windows)", wine);
  printf("%s\n\n", g_divisor > 1 ? ", --quick" : "");
  printf("%-27s %11s %14s %14s %12s\n", "benchmark", "median", "min", "max", "ratio_stf_rt");
  for (size_t i = 0; i < BENCH_COUNT; i++) {
    const bench_result *res = &g_results[i];
    if (!selected(&benches[i]))
      continue;
    format_value(med, sizeof med, res->s.median, benches[i].unit);
    format_value(lo, sizeof lo, res->s.min, benches[i].unit);
    format_value(hi, sizeof hi, res->s.max, benches[i].unit);
    printf("%-27s %11s %14s %14s %12.2f\n", benches[i].name, med, lo, hi, stf_ratio(res));
  }
  printf("\n");
}

static void write_result(FILE *f, size_t i) {
  const bench_result *res = &g_results[i];
  const char *unit = benches[i].unit == UNIT_NS ? "ns" : "per_sec";
  fprintf(f, "    {\"name\": \"%s\", \"median_%s\": %.3f, \"min_%s\": %.3f, \"max_%s\": %.3f, ",
          benches[i].name, unit, res->s.median, unit, res->s.min, unit, res->s.max);
  if (benches[i].unit == UNIT_PER_SEC)
    fprintf(f, "\"ns_per_txn\": %.3f, ", res->median_ns);
  if (benches[i].direct != NULL)
    fprintf(f, "\"direct\": \"%s\", ", benches[i].direct);
  fprintf(f, "\"ratio_stf_rt\": %.4f}%s\n", stf_ratio(res), i + 1 < BENCH_COUNT ? "," : "");
}

static void write_json(const char *path, unsigned rounds, const char *wine) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    bench_die("writing the JSON report", path);
  fprintf(f, "{\"wine\": %s, \"wine_version\": ", wine ? "true" : "false");
  bench_json_string(f, wine ? wine : "");
  fprintf(f, ", \"rounds\": %u, \"results\": [\n", rounds);
  for (size_t i = 0; i < BENCH_COUNT; i++)
    write_result(f, i);
  fprintf(f, "]}\n");
  if (fclose(f) != 0)
    bench_die("writing the JSON report", path);
  printf("JSON written to %s\n", path);
}

/* What this machine allows two workers at best: the rate of two threads of
 * raw round trips relative to one. */
static double machine_scaling(void) {
  return 2 * result_named("stf_round_trip")->s.median /
         result_named("stf_round_trip_2t")->s.median;
}

/* Print one PASS/FAIL (or SKIP) line per target; returns how many were
 * met, and how many were judged in *judged. */
static unsigned check_targets(unsigned *judged) {
  unsigned met = 0;
  *judged = 0;
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    const bench_target *tg = &targets[i];
    double ratio = result_named(tg->subject)->s.median / result_named(tg->base)->s.median;
    int ok = tg->at_most ? ratio <= tg->factor : ratio >= tg->factor;
    int skip = tg->scaling && machine_scaling() < SCALING_MIN;
    printf("%s  %s %s %gx %s (measured %.2fx)%s\n", skip ? "SKIP" : ok ? "PASS" : "FAIL",
           tg->subject, tg->at_most ? "<=" : ">=", tg->factor, tg->base, ratio,
           skip ? ": the machine did not scale (see the note)" : "");
    met += ok && !skip;
    *judged += !skip;
  }
  return met;
}

static void print_scaling_note(void) {
  printf("note: two threads of raw SwitchToFiber round trips run at %.2fx the rate of one\n"
         "      here (stf_round_trip_2t): the ceiling for txn_throughput_2w / _1w; its\n"
         "      target is judged only from %.1fx\n",
         machine_scaling(), SCALING_MIN);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct options {
  unsigned rounds;
  const char *json;
} options;

static void usage(void) {
  fprintf(stderr, "usage: bench_switch [--rounds N] [--quick] [--json PATH] [--only NAME]\n"
                  "  --rounds N   rounds to run (default 7)\n"
                  "  --quick      a tenth of the work per round: a smoke run\n"
                  "  --json PATH  where to write the report (default switch.json)\n"
                  "  --only NAME  run one benchmark (and stf_round_trip), for profiling:\n"
                  "               no targets, no JSON\n");
  exit(2);
}

static options parse_args(int argc, char **argv) {
  options o = {7, "switch.json"};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      g_divisor = QUICK_DIVISOR;
    else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      o.rounds = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      o.json = argv[++i];
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      g_only = argv[++i];
    else
      usage();
  }
  if (o.rounds == 0)
    usage();
  for (size_t i = 0; g_only != NULL && i < BENCH_COUNT; i++)
    if (strcmp(benches[i].name, g_only) == 0)
      return o;
  if (g_only != NULL)
    usage();
  return o;
}

/* Run every benchmark once per round; samples[b * rounds + round]. */
static void run_rounds(double *samples, unsigned rounds) {
  for (unsigned round = 0; round < rounds; round++) {
    fprintf(stderr, "round %u/%u\n", round + 1, rounds);
    for (size_t i = 0; i < BENCH_COUNT; i++)
      if (selected(&benches[i]))
        samples[i * rounds + round] = benches[i].run(&benches[i]);
  }
}

static void summarize(const double *samples, unsigned rounds) {
  for (size_t i = 0; i < BENCH_COUNT; i++) {
    bench_result *res = &g_results[i];
    res->s = bench_summarize(samples + i * rounds, rounds);
    res->median_ns = benches[i].unit == UNIT_NS ? res->s.median : 1e9 / res->s.median;
  }
}

int main(int argc, char **argv) {
  bench_set_name("bench_switch");
  options o = parse_args(argc, argv);
  const char *wine = bench_wine_version();
  double *samples = calloc(BENCH_COUNT * o.rounds, sizeof *samples);
  unsigned met;
  if (samples == NULL)
    bench_die("calloc", "out of memory");
  bench_done_init();
  run_rounds(samples, o.rounds);
  summarize(samples, o.rounds);
  print_table(o.rounds, wine);
  if (g_only != NULL) {
    free(samples);
    return 0;
  }
  unsigned judged;
  met = check_targets(&judged);
  print_scaling_note();
  printf("%u of %u targets met (%u judged)\n", met, (unsigned)(sizeof targets / sizeof targets[0]),
         judged);
  write_json(o.json, o.rounds, wine);
  free(samples);
  return 0;
}
