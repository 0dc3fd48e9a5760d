/* enclaves.c - bench_enclaves: does goal mode keep an ONLINE enclave within
 * its response-time goal beside a BATCH enclave that saturates every
 * worker, and what does that cost BATCH, compared with FIFO and static
 * dispatch?
 *
 * Workload, on 2 workers (docs/performance.md, "Enclaves", has the numbers):
 * - ONLINE (importance 1, goal: 90% of responses within G ms): the host
 *   thread starts short transactions at a steady rate; each spins a fixed
 *   time (QueryPerformanceCounter) and ends.
 * - BATCH (importance 4, no goal): chains of CPU-heavy transactions; each
 *   spins many short slices with a weft_yield after every slice, then
 *   starts its successor, so BATCH always has ready work on both workers.
 *
 * Each run is a fresh region in one dispatch mode (FIFO, static, goal);
 * rounds run the three modes interleaved. A run warms up, then measures a
 * window: ONLINE response times come from the task records (task_record_fn)
 * of ONLINE tasks that ended inside the window, percentiles exact over those
 * samples; completions per second are counted by the programs themselves.
 * Every interval record of ONLINE and BATCH (interval_record_fn) goes into
 * the timeline file, with a gnuplot script that draws it. Each figure is
 * the median over the rounds.
 *
 * Usage: bench_enclaves [--rounds N] [--quick] [--json PATH] [tuning...]
 * (--help lists the tuning options).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include <mmsystem.h>

#include <weft.h>

#include "benchutil.h"

/* How long the host waits for the batch chains to end before it declares
 * the runtime stuck. */
#define STALL_MS 30000
#define TIMELINE_PATH "enclaves_timeline.dat"
#define PLOT_SCRIPT "enclaves.gp"
#define PLOT_BASENAME "enclaves"
/* Interval records of ONLINE and BATCH kept per run. */
#define TIMELINE_CAP 8192
/* Below this share of the workers' time spent in the programs' spins, a
 * run is reported as disturbed (on an idle machine it is 0.95-0.99). */
#define BUSY_SHARE 0.85

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

typedef struct params {
  unsigned rounds;
  unsigned workers;
  unsigned warmup_ms; /* before the window; not measured */
  unsigned window_ms; /* the measured window */
  unsigned goal_ms;   /* G: ONLINE's goal, goal_percent % within G ms */
  unsigned goal_percent;
  unsigned rate;        /* ONLINE starts per second */
  unsigned online_us;   /* ONLINE: CPU spin per transaction */
  unsigned chains;      /* BATCH: concurrent chains */
  unsigned slices;      /* BATCH: slices per transaction */
  unsigned slice_us;    /* BATCH: spin per slice, then weft_yield */
  unsigned interval_ms; /* policy_interval_ms */
  unsigned spin_us;     /* the pacer spins (does not Sleep) this close to a due start */
  unsigned online_importance, batch_importance;
  const char *json;
} params;

static params g_p = {
    .rounds = 3,
    .workers = 2,
    .warmup_ms = 500,
    .window_ms = 3000,
    .goal_ms = 5,
    .goal_percent = 90,
    .rate = 1000,
    .online_us = 150,
    .chains = 64,
    .slices = 40,
    .slice_us = 250,
    .interval_ms = 250,
    .spin_us = 250,
    .online_importance = 1,
    .batch_importance = 4,
    .json = "enclaves.json",
};

typedef struct mode_def {
  const char *name;
  int dispatch_mode;
} mode_def;

static const mode_def modes[] = {
    {"fifo", WEFT_DISPATCH_FIFO},
    {"static", WEFT_DISPATCH_STATIC},
    {"goal", WEFT_DISPATCH_GOAL},
};
#define MODE_COUNT (sizeof modes / sizeof modes[0])
enum { MODE_FIFO, MODE_STATIC, MODE_GOAL };

/* ------------------------------------------------------------------------ */
/* Failures                                                                  */
/* ------------------------------------------------------------------------ */


/* ------------------------------------------------------------------------ */
/* Run state                                                                 */
/* ------------------------------------------------------------------------ */

enum { PHASE_WARMUP, PHASE_WINDOW, PHASE_AFTER };

/* A fixed-size sample array written by several threads. */
typedef struct samples {
  uint64_t *v;
  size_t cap;
  atomic_size_t n; /* may exceed cap: the excess was dropped */
} samples;

static void samples_push(samples *s, uint64_t x) {
  size_t i = atomic_fetch_add_explicit(&s->n, 1, memory_order_relaxed);
  if (i < s->cap)
    s->v[i] = x;
}

static size_t samples_count(samples *s) {
  size_t n = atomic_load(&s->n);
  return n < s->cap ? n : s->cap;
}

/* One interval record as kept for the timeline. */
typedef struct tl_entry {
  double t_s;  /* when it arrived, seconds since the run began */
  int enclave; /* 0 ONLINE, 1 BATCH */
  double pi, p50_ms, p90_ms, p99_ms;
  uint64_t responses, start_ns, end_ns;
  int band;
} tl_entry;

typedef struct run_state {
  atomic_int phase;            /* PHASE_*: what the window counters count */
  atomic_int stop;             /* set by the host: chains end */
  atomic_uint chains_live;     /* chains not ended yet */
  atomic_ullong online_done;   /* ONLINE programs ended in the window */
  atomic_ullong batch_done;    /* BATCH transactions completed in the window */
  atomic_ullong batch_slices;  /* BATCH slices run in the window */
  atomic_ullong batch_recs;    /* BATCH task records in the window */
  atomic_ullong misclassified; /* records whose enclave is not their transaction's */
  atomic_ullong abended;       /* records with an abend code */
  samples resp;                /* ONLINE response_ns from task records, window */
  samples self;                /* ONLINE response measured by the bench, window */
  double t0;                   /* run start (QPC ns) */
  tl_entry tl[TIMELINE_CAP];
  atomic_size_t ntl;
} run_state;

static run_state g_run;


static void spin_ns(double ns) {
  double end = bench_now_ns() + ns;
  while (bench_now_ns() < end)
    YieldProcessor();
}

/* ------------------------------------------------------------------------ */
/* Programs                                                                  */
/* ------------------------------------------------------------------------ */

/* ONLINE: the data is the host's clock just before weft_start. */
static void online_prog(weft_task *t) {
  run_state *s = &g_run;
  const void *data;
  size_t len;
  double started;
  if (!bench_task_ok(weft_retrieve(t, &data, &len), "weft_retrieve"))
    return;
  if (len != sizeof started) {
    bench_task_ok(WEFT_EINVAL, "ONLINE data length");
    return;
  }
  memcpy(&started, data, sizeof started);
  spin_ns(g_p.online_us * 1e3);
  if (atomic_load_explicit(&s->phase, memory_order_relaxed) == PHASE_WINDOW) {
    samples_push(&s->self, (uint64_t)(bench_now_ns() - started));
    atomic_fetch_add_explicit(&s->online_done, 1, memory_order_relaxed);
  }
}

static void chain_ended(run_state *s) {
  if (atomic_fetch_sub(&s->chains_live, 1) == 1)
    bench_done_signal();
}

/* BATCH: slices of spin, each followed by a yield; then the successor.
 * The first transaction of a chain may bring data: the slices it skips, so
 * that the chains, which advance in step, do not all end together. */
static void batch_prog(weft_task *t) {
  run_state *s = &g_run;
  const void *data;
  size_t len;
  unsigned first = 0;
  if (!bench_task_ok(weft_retrieve(t, &data, &len), "weft_retrieve"))
    return;
  if (len == sizeof first)
    memcpy(&first, data, sizeof first);
  for (unsigned i = first; i < g_p.slices; i++) {
    if (atomic_load_explicit(&s->stop, memory_order_relaxed)) {
      chain_ended(s);
      return;
    }
    spin_ns(g_p.slice_us * 1e3);
    if (atomic_load_explicit(&s->phase, memory_order_relaxed) == PHASE_WINDOW)
      atomic_fetch_add_explicit(&s->batch_slices, 1, memory_order_relaxed);
    if (!bench_task_ok(weft_yield(t), "weft_yield"))
      return;
  }
  if (atomic_load_explicit(&s->phase, memory_order_relaxed) == PHASE_WINDOW)
    atomic_fetch_add_explicit(&s->batch_done, 1, memory_order_relaxed);
  if (atomic_load_explicit(&s->stop, memory_order_relaxed)) {
    chain_ended(s);
    return;
  }
  bench_task_ok(weft_start(weft_task_region(t), "BTCH", NULL, 0, NULL, NULL),
          "weft_start (BATCH successor)");
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

/* On a worker thread as each task ends. */
static void on_task_record(void *ctx, const weft_task_record *rec) {
  run_state *s = ctx;
  int online = strcmp(rec->tranid, "ONLN") == 0;
  int batch = strcmp(rec->tranid, "BTCH") == 0;
  if (rec->abcode[0] != '\0')
    atomic_fetch_add_explicit(&s->abended, 1, memory_order_relaxed);
  if ((online && strcmp(rec->enclave, "ONLINE") != 0) ||
      (batch && strcmp(rec->enclave, "BATCH") != 0))
    atomic_fetch_add_explicit(&s->misclassified, 1, memory_order_relaxed);
  if (atomic_load_explicit(&s->phase, memory_order_relaxed) != PHASE_WINDOW)
    return;
  if (online && rec->abcode[0] == '\0')
    samples_push(&s->resp, rec->response_ns);
  else if (batch && rec->abcode[0] == '\0')
    atomic_fetch_add_explicit(&s->batch_recs, 1, memory_order_relaxed);
}

/* On the monitor thread at each policy interval, one per enclave. */
static void on_interval_record(void *ctx, const weft_interval_record *rec) {
  run_state *s = ctx;
  int which;
  size_t i;
  if (strcmp(rec->s.name, "ONLINE") == 0)
    which = 0;
  else if (strcmp(rec->s.name, "BATCH") == 0)
    which = 1;
  else
    return;
  i = atomic_fetch_add(&s->ntl, 1);
  if (i >= TIMELINE_CAP)
    return;
  s->tl[i] = (tl_entry){
      .t_s = (bench_now_ns() - s->t0) / 1e9,
      .enclave = which,
      .pi = rec->s.pi,
      .p50_ms = rec->s.resp_p50_ms,
      .p90_ms = rec->s.resp_p90_ms,
      .p99_ms = rec->s.resp_p99_ms,
      .responses = rec->s.responses,
      .start_ns = rec->start_ns,
      .end_ns = rec->end_ns,
      .band = rec->s.dispatch_priority,
  };
}

/* ------------------------------------------------------------------------ */
/* One run                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct run_result {
  /* The figures of the JSON report. */
  double p50_ms, p90_ms, p99_ms, pi, online_tps, batch_tps;
  /* Checks and context. */
  double self_p90_ms; /* p90 of the bench's own ONLINE timing */
  double rt_pi;       /* ONLINE pi from weft_enclave_stats at the window's end */
  int rt_band, rt_batch_band;
  double late_p50_us, late_p99_us; /* pacer: start time minus due time */
  double arrival_rate;             /* ONLINE starts per second in the window */
  double batch_work_tps;           /* BATCH slices per second / slices per transaction */
  double work_share;               /* the programs' spin time / (window x workers): CPU they got */
  double worker_cpu; /* the workers' thread CPU time in the window / (window x workers) */
  unsigned ready[2]; /* ready tasks of workers 0 and 1 at the window's end */
  uint64_t online_n; /* ONLINE responses in the window */
  uint64_t batch_recs, batch_done;
  uint64_t misclassified, abended, dropped;
} run_result;

static run_result g_res[MODE_COUNT][64];

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values, in ms; NAN when empty. */
static double pct_ms(const uint64_t *sorted, size_t n, double p) {
  size_t rank;
  if (n == 0)
    return NAN;
  rank = (size_t)ceil(p / 100.0 * (double)n);
  if (rank < 1)
    rank = 1;
  return (double)sorted[rank - 1] / 1e6;
}

static double pct_of(double *v, size_t n, double p) {
  size_t rank;
  if (n == 0)
    return NAN;
  qsort(v, n, sizeof *v, compare_doubles);
  rank = (size_t)ceil(p / 100.0 * (double)n);
  return v[rank < 1 ? 0 : rank - 1];
}

static weft_region *region_open(int dispatch_mode) {
  weft_region_config cfg;
  weft_region *r;
  weft_enclave_def online = {.name = "ONLINE",
                             .importance = (int)g_p.online_importance,
                             .goal_type = WEFT_GOAL_PERCENTILE,
                             .goal_ms = g_p.goal_ms,
                             .goal_percent = g_p.goal_percent};
  weft_enclave_def batch = {
      .name = "BATCH", .importance = (int)g_p.batch_importance, .goal_type = WEFT_GOAL_NONE};
  weft_transaction_def onln = {"ONLN", "ONLNPGM", WEFT_PRIORITY_MAX / 2, 0, "ONLINE"};
  weft_transaction_def btch = {"BTCH", "BTCHPGM", WEFT_PRIORITY_MAX / 2, 0, "BATCH"};
  weft_region_config_init(&cfg);
  cfg.workers = g_p.workers;
  cfg.dispatch_mode = dispatch_mode;
  cfg.accounting = 1;
  cfg.policy_interval_ms = g_p.interval_ms;
  cfg.task_record_fn = on_task_record;
  cfg.interval_record_fn = on_interval_record;
  cfg.record_ctx = &g_run;
  bench_check(weft_region_create(&cfg, &r), "weft_region_create");
  bench_check(weft_enclave_define(r, &online), "weft_enclave_define ONLINE");
  bench_check(weft_enclave_define(r, &batch), "weft_enclave_define BATCH");
  bench_check(weft_program_define(r, "ONLNPGM", online_prog), "weft_program_define");
  bench_check(weft_program_define(r, "BTCHPGM", batch_prog), "weft_program_define");
  bench_check(weft_transaction_define(r, &onln), "weft_transaction_define ONLN");
  bench_check(weft_transaction_define(r, &btch), "weft_transaction_define BTCH");
  return r;
}

static void run_reset(void) {
  run_state *s = &g_run;
  size_t cap = (size_t)g_p.rate * (g_p.window_ms / 1000 + 2) * 2 + 1024;
  if (s->resp.v == NULL) {
    s->resp.v = malloc(cap * sizeof *s->resp.v);
    s->self.v = malloc(cap * sizeof *s->self.v);
    if (s->resp.v == NULL || s->self.v == NULL)
      bench_die("malloc", "out of memory");
    s->resp.cap = s->self.cap = cap;
  }
  atomic_store(&s->resp.n, 0);
  atomic_store(&s->self.n, 0);
  atomic_store(&s->phase, PHASE_WARMUP);
  atomic_store(&s->stop, 0);
  atomic_store(&s->chains_live, g_p.chains);
  atomic_store(&s->online_done, 0);
  atomic_store(&s->batch_done, 0);
  atomic_store(&s->batch_slices, 0);
  atomic_store(&s->batch_recs, 0);
  atomic_store(&s->misclassified, 0);
  atomic_store(&s->abended, 0);
  atomic_store(&s->ntl, 0);
  bench_done_arm();
}

/* The CPU time of all the region's worker threads (GetThreadTimes). */
static double workers_cpu_ns(weft_region *r, weft_region_stats *rs) {
  double sum = 0;
  bench_check(weft_region_stats_get(r, rs), "weft_region_stats");
  for (unsigned i = 0; i < rs->workers; i++)
    sum += (double)rs->worker[i].cpu_ns;
  return sum;
}


/* The pacer: start ONLINE transactions at g_p.rate per second from *due on
 * until `until` (QPC ns). Between starts it sleeps (Sleep(1)) while the
 * next one is more than spin_us away and spins closer than that, so it
 * costs the workers little CPU. The schedule is fixed: starts that fell
 * behind (the host thread was descheduled) are made at once, so the rate
 * holds. Lateness (start - due) of each start goes into late[] when late
 * is not NULL. */
static void pace(weft_region *r, double *due, double until, double *late, size_t *nlate,
                 size_t late_cap, uint64_t *started) {
  const double period = 1e9 / g_p.rate, spin = g_p.spin_us * 1e3;
  for (;;) {
    double now = bench_now_ns();
    if (now >= until)
      return;
    if (now >= *due) {
      if (late != NULL && *nlate < late_cap)
        late[(*nlate)++] = now - *due;
      bench_check(weft_start(r, "ONLN", &now, sizeof now, NULL, NULL), "weft_start ONLN");
      (*started)++;
      *due += period;
      continue;
    }
    if (*due - now > spin)
      Sleep(1);
    else
      YieldProcessor();
  }
}

static FILE *g_timeline;

/* Append the run's interval records to the timeline: one block per run. */
static void timeline_write(unsigned round, size_t mode) {
  run_state *s = &g_run;
  size_t n = atomic_load(&s->ntl);
  if (n > TIMELINE_CAP)
    n = TIMELINE_CAP;
  fprintf(g_timeline, "# mode %s, round %u (gnuplot index %u)\n", modes[mode].name, round + 1,
          round * (unsigned)MODE_COUNT + (unsigned)mode);
  for (size_t i = 0; i < n; i++) {
    const tl_entry *e = &s->tl[i];
    int batch_band = -1;
    if (e->enclave != 0)
      continue;
    for (size_t j = 0; j < n; j++)
      if (s->tl[j].enclave == 1 && s->tl[j].end_ns == e->end_ns)
        batch_band = s->tl[j].band;
    /* No response in the interval: NaN breaks the plotted line there. */
    if (e->responses == 0)
      fprintf(g_timeline, "%s %u %.3f NaN NaN NaN NaN 0 %d %d", modes[mode].name, round + 1, e->t_s,
              e->band, batch_band);
    else {
      char pi[32] = "NaN";
      if (e->pi > 0)
        snprintf(pi, sizeof pi, "%.4f", e->pi);
      fprintf(g_timeline, "%s %u %.3f %s %.4f %.4f %.4f %llu %d %d", modes[mode].name, round + 1,
              e->t_s, pi, e->p50_ms, e->p90_ms, e->p99_ms, (unsigned long long)e->responses,
              e->band, batch_band);
    }
    fprintf(g_timeline, " %.3f\n", (double)(e->end_ns - e->start_ns) / 1e6);
  }
  fprintf(g_timeline, "\n\n");
}

static run_result run_once(size_t mode) {
  run_state *s = &g_run;
  run_result res;
  weft_enclave_stats st, bst;
  weft_region *r;
  size_t late_cap = (size_t)g_p.rate * (g_p.window_ms / 1000 + 2), nlate = 0, n;
  double *late = malloc(late_cap * sizeof *late);
  double due, w0, w1, cpu0, cpu1;
  weft_region_stats rs;
  uint64_t started_warm = 0, started = 0;
  if (late == NULL)
    bench_die("malloc", "out of memory");
  memset(&res, 0, sizeof res);
  run_reset();
  r = region_open(modes[mode].dispatch_mode);
  s->t0 = bench_now_ns();
  for (unsigned i = 0; i < g_p.chains; i++) {
    unsigned skip = (unsigned)((uint64_t)g_p.slices * i / g_p.chains);
    bench_check(weft_start(r, "BTCH", &skip, sizeof skip, NULL, NULL), "weft_start BTCH");
  }
  due = bench_now_ns();
  pace(r, &due, s->t0 + g_p.warmup_ms * 1e6, NULL, NULL, 0, &started_warm);
  bench_tasks_check();

  cpu0 = workers_cpu_ns(r, &rs);
  atomic_store(&s->phase, PHASE_WINDOW);
  w0 = bench_now_ns();
  pace(r, &due, w0 + g_p.window_ms * 1e6, late, &nlate, late_cap, &started);
  atomic_store(&s->phase, PHASE_AFTER);
  w1 = bench_now_ns();
  cpu1 = workers_cpu_ns(r, &rs);
  for (unsigned i = 0; i < 2 && i < rs.workers; i++)
    res.ready[i] = rs.worker[i].ready;
  bench_tasks_check();
  bench_check(weft_enclave_stats_get(r, "ONLINE", &st), "weft_enclave_stats ONLINE");
  bench_check(weft_enclave_stats_get(r, "BATCH", &bst), "weft_enclave_stats BATCH");

  atomic_store(&s->stop, 1);
  bench_done_wait("ending the batch chains");
  bench_check(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, STALL_MS), "weft_region_shutdown");
  weft_region_destroy(r);

  n = samples_count(&s->resp);
  qsort(s->resp.v, n, sizeof *s->resp.v, compare_u64);
  res.p50_ms = pct_ms(s->resp.v, n, 50);
  res.p90_ms = pct_ms(s->resp.v, n, 90);
  res.p99_ms = pct_ms(s->resp.v, n, 99);
  res.pi = pct_ms(s->resp.v, n, g_p.goal_percent) / g_p.goal_ms;
  res.online_n = n;
  res.online_tps = (double)atomic_load(&s->online_done) * 1e9 / (w1 - w0);
  res.batch_done = atomic_load(&s->batch_done);
  res.batch_tps = (double)res.batch_done * 1e9 / (w1 - w0);
  res.batch_recs = atomic_load(&s->batch_recs);
  res.batch_work_tps = (double)atomic_load(&s->batch_slices) * 1e9 / (w1 - w0) / (double)g_p.slices;
  res.work_share = ((double)atomic_load(&s->batch_slices) * g_p.slice_us +
                    (double)atomic_load(&s->online_done) * g_p.online_us) *
                   1e3 / ((w1 - w0) * g_p.workers);
  res.worker_cpu = (cpu1 - cpu0) / ((w1 - w0) * g_p.workers);
  n = samples_count(&s->self);
  qsort(s->self.v, n, sizeof *s->self.v, compare_u64);
  res.self_p90_ms = pct_ms(s->self.v, n, 90);
  res.rt_pi = st.pi;
  res.rt_band = st.dispatch_priority;
  res.rt_batch_band = bst.dispatch_priority;
  res.arrival_rate = (double)started * 1e9 / (w1 - w0);
  res.late_p50_us = pct_of(late, nlate, 50) / 1e3;
  res.late_p99_us = pct_of(late, nlate, 99) / 1e3;
  res.misclassified = atomic_load(&s->misclassified);
  res.abended = atomic_load(&s->abended);
  res.dropped = (atomic_load(&s->resp.n) - samples_count(&s->resp)) +
                (atomic_load(&s->ntl) > TIMELINE_CAP ? atomic_load(&s->ntl) - TIMELINE_CAP : 0);
  free(late);
  return res;
}

/* ------------------------------------------------------------------------ */
/* Summaries                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct mode_summary {
  bench_summary p50, p90, p99, pi, online_tps, batch_tps, self_p90, rt_pi, late_p50, late_p99,
      arrival, batch_work, work_share, worker_cpu;
  bench_summary band, batch_band;
} mode_summary;

static mode_summary g_sum[MODE_COUNT];

/* Summarise field `off` (a double) of the rounds of one mode; NAN samples
 * (a run without ONLINE responses) are left out, and none at all gives NAN. */
static bench_summary summarize_field(size_t mode, size_t off) {
  double v[64];
  size_t n = 0;
  bench_summary s = {NAN, NAN, NAN};
  for (unsigned i = 0; i < g_p.rounds; i++) {
    double x = *(const double *)((const char *)&g_res[mode][i] + off);
    if (!isnan(x))
      v[n++] = x;
  }
  return n ? bench_summarize(v, n) : s;
}

static bench_summary summarize_int(size_t mode, int band) {
  double v[64];
  for (unsigned i = 0; i < g_p.rounds; i++)
    v[i] = band ? g_res[mode][i].rt_batch_band : g_res[mode][i].rt_band;
  return bench_summarize(v, g_p.rounds);
}

static void summarize(void) {
  for (size_t m = 0; m < MODE_COUNT; m++) {
    mode_summary *s = &g_sum[m];
#define F(field) summarize_field(m, offsetof(run_result, field))
    s->p50 = F(p50_ms);
    s->p90 = F(p90_ms);
    s->p99 = F(p99_ms);
    s->pi = F(pi);
    s->online_tps = F(online_tps);
    s->batch_tps = F(batch_tps);
    s->self_p90 = F(self_p90_ms);
    s->rt_pi = F(rt_pi);
    s->late_p50 = F(late_p50_us);
    s->late_p99 = F(late_p99_us);
    s->arrival = F(arrival_rate);
    s->batch_work = F(batch_work_tps);
    s->work_share = F(work_share);
    s->worker_cpu = F(worker_cpu);
#undef F
    s->band = summarize_int(m, 0);
    s->batch_band = summarize_int(m, 1);
  }
}

/* ------------------------------------------------------------------------ */
/* Report                                                                    */
/* ------------------------------------------------------------------------ */

static void print_table(const char *wine) {
  printf("bench_enclaves: %u rounds x %u modes, %u workers", g_p.rounds, (unsigned)MODE_COUNT,
         g_p.workers);
  if (wine)
    printf(", under Wine %s (Wine figures, not native Windows)", wine);
  printf("\n");
  printf("ONLINE: importance %u, goal %u%% <= %u ms; %u/s from a host thread, %u us of spin "
         "each\n",
         g_p.online_importance, g_p.goal_percent, g_p.goal_ms, g_p.rate, g_p.online_us);
  printf("BATCH:  importance %u, no goal; %u chains of %u x (%u us spin + weft_yield)\n",
         g_p.batch_importance, g_p.chains, g_p.slices, g_p.slice_us);
  printf("each run: a fresh region, %u ms warm-up, %u ms window; policy interval %u ms\n\n",
         g_p.warmup_ms, g_p.window_ms, g_p.interval_ms);
  printf("medians over the rounds (ONLINE response times from the task records of the window)\n");
  printf("%-7s %8s %8s %8s %7s %15s %10s %17s\n", "mode", "p50 ms", "p90 ms", "p99 ms", "PI",
         "PI min..max", "online/s", "batch/s min..max");
  for (size_t m = 0; m < MODE_COUNT; m++) {
    const mode_summary *s = &g_sum[m];
    printf("%-7s %8.3f %8.3f %8.3f %7.3f %7.3f..%-7.3f %10.1f %6.1f %4.1f..%-5.1f\n", modes[m].name,
           s->p50.median, s->p90.median, s->p99.median, s->pi.median, s->pi.min, s->pi.max,
           s->online_tps.median, s->batch_tps.median, s->batch_tps.min, s->batch_tps.max);
  }
  printf("\nchecks (medians): runtime = weft_enclave_stats at the window's end; self p90 =\n"
         "the bench's own QPC timing from before weft_start to the program's end; spin = the\n"
         "programs' spin time and cpu = the workers' thread CPU time (weft_worker_stats.cpu_ns),\n"
         "each / (window x workers); late = pacer start time - due time\n");
  printf("%-7s %10s %7s %7s %9s %9s %6s %6s %11s %9s %9s\n", "mode", "runtime pi", "ONLINE",
         "BATCH", "self p90", "batch/s", "spin", "cpu", "arrivals/s", "late p50", "late p99");
  printf("%-7s %10s %7s %7s %9s %9s %6s %6s %11s %9s %9s\n", "", "", "band", "band", "ms",
         "by work", "%", "%", "", "us", "us");
  for (size_t m = 0; m < MODE_COUNT; m++) {
    const mode_summary *s = &g_sum[m];
    printf("%-7s %10.3f %7.0f %7.0f %9.3f %9.1f %6.1f %6.1f %11.1f %9.1f %9.1f\n", modes[m].name,
           s->rt_pi.median, s->band.median, s->batch_band.median, s->self_p90.median,
           s->batch_work.median, s->work_share.median * 100, s->worker_cpu.median * 100,
           s->arrival.median, s->late_p50.median, s->late_p99.median);
  }
  printf("\n");
}

/* Oddities the figures depend on: said, never hidden. */
static void print_anomalies(void) {
  for (size_t m = 0; m < MODE_COUNT; m++)
    for (unsigned i = 0; i < g_p.rounds; i++) {
      const run_result *r = &g_res[m][i];
      if (r->misclassified)
        printf("WARNING %s round %u: %llu task records name the wrong enclave\n", modes[m].name,
               i + 1, (unsigned long long)r->misclassified);
      if (r->abended)
        printf("WARNING %s round %u: %llu tasks abended\n", modes[m].name, i + 1,
               (unsigned long long)r->abended);
      if (r->dropped)
        printf("WARNING %s round %u: %llu samples or interval records did not fit\n", modes[m].name,
               i + 1, (unsigned long long)r->dropped);
      if (r->work_share < BUSY_SHARE)
        printf("WARNING %s round %u: the programs got %.0f%% of the workers' time: something "
               "else used the CPUs\n",
               modes[m].name, i + 1, r->work_share * 100);
      if (r->online_n == 0)
        printf("WARNING %s round %u: no ONLINE task record in the window\n", modes[m].name, i + 1);
      /* Records and the programs' own count of BATCH completions differ by
       * the transactions that straddle the window's edges, a handful. */
      if (r->batch_recs + 8 + r->batch_done / 20 < r->batch_done ||
          r->batch_done + 8 + r->batch_done / 20 < r->batch_recs)
        printf("WARNING %s round %u: %llu BATCH task records but %llu completions counted\n",
               modes[m].name, i + 1, (unsigned long long)r->batch_recs,
               (unsigned long long)r->batch_done);
    }
}

static void json_number(FILE *f, double v) {
  if (isnan(v) || isinf(v))
    fputs("null", f);
  else
    fprintf(f, "%.4f", v);
}

static void write_json(const char *path, const char *wine) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    bench_die("writing the JSON report", path);
  fprintf(f, "{\"goal_ms\": %u, \"wine\": %s, \"modes\": {", g_p.goal_ms, wine ? "true" : "false");
  for (size_t m = 0; m < MODE_COUNT; m++) {
    const mode_summary *s = &g_sum[m];
    fprintf(f, "%s\n  \"%s\": {\"online_p50_ms\": ", m ? "," : "", modes[m].name);
    json_number(f, s->p50.median);
    fputs(", \"online_p90_ms\": ", f);
    json_number(f, s->p90.median);
    fputs(", \"online_p99_ms\": ", f);
    json_number(f, s->p99.median);
    fputs(", \"online_pi\": ", f);
    json_number(f, s->pi.median);
    fputs(", \"online_tps\": ", f);
    json_number(f, s->online_tps.median);
    fputs(", \"batch_tps\": ", f);
    json_number(f, s->batch_tps.median);
    fputs("}", f);
  }
  fprintf(f, "\n}}\n");
  if (fclose(f) != 0)
    bench_die("writing the JSON report", path);
  printf("JSON written to %s\n", path);
}

/* Print one PASS/FAIL line per target; returns how many were met. */
static unsigned check_targets(void) {
  const mode_summary *fifo = &g_sum[MODE_FIFO], *goal = &g_sum[MODE_GOAL];
  double share = goal->batch_tps.median / fifo->batch_tps.median;
  int ok[3];
  ok[0] = goal->pi.median <= 1.0;
  ok[1] = share >= 0.7;
  ok[2] = fifo->pi.median > 1.0;
  printf("%s  goal mode ONLINE PI <= 1 (measured %.3f)\n", ok[0] ? "PASS" : "FAIL",
         goal->pi.median);
  printf("%s  goal mode BATCH tps >= 70%% of FIFO BATCH tps (measured %.1f%%: %.1f vs %.1f/s)\n",
         ok[1] ? "PASS" : "FAIL", share * 100, goal->batch_tps.median, fifo->batch_tps.median);
  printf("%s  FIFO ONLINE PI > 1 (measured %.3f)\n", ok[2] ? "PASS" : "FAIL", fifo->pi.median);
  return (unsigned)(ok[0] + ok[1] + ok[2]);
}

/* The gnuplot script for the timeline: PI, p90 and ONLINE's dispatch
 * priority over each run's time, one colour per mode, every round drawn. */
static void write_plot_script(void) {
  FILE *f = fopen(PLOT_SCRIPT, "w");
  if (f == NULL)
    bench_die("writing the gnuplot script", PLOT_SCRIPT);
  fprintf(
      f,
      "# Written by bench_enclaves: draws %s into %s.png (or .svg).\n"
      "# Run it in this directory: gnuplot %s\n"
      "R = %u   # rounds; the block of mode m (0 fifo, 1 static, 2 goal), round r is "
      "index r*3+m\n"
      "G = %u   # goal, ms\n"
      "W0 = %.3f; W1 = %.3f   # the measured window, s\n"
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
      "  set terminal pngcairo size 1100,1000 font ',10'; set output '%s.png'\n"
      "} else { if (strstrt(GPVAL_TERMINALS, ' png ') > 0) {\n"
      "  set terminal png size 1100,1000; set output '%s.png'\n"
      "} else {\n"
      "  set terminal svg size 1100,1000; set output '%s.svg'\n"
      "} }\n"
      "set datafile missing 'NaN'\n"
      "set multiplot layout 3,1 title sprintf('bench\\_enclaves: ONLINE (goal %u%%%% <= %%g ms) "
      "beside saturating BATCH, %u workers, policy interval %u ms', G)\n"
      "set grid; set key top right opaque box; set xrange [0:W1]\n"
      "set object 1 rect from W0, graph 0 to W1, graph 1 behind fc rgb '#f0f0f0' fs solid "
      "noborder\n"
      "colour(m) = m == 0 ? '#d62728' : (m == 1 ? '#1f77b4' : '#2ca02c')\n"
      "name(m) = m == 0 ? 'fifo' : (m == 1 ? 'static' : 'goal')\n"
      "set ylabel 'ONLINE PI (p%u / goal)'; set logscale y\n"
      "plot for [m=0:2] for [r=0:R-1] '%s' index (r*3+m) using 3:4 with linespoints pt 7 "
      "ps 0.4 lc rgb colour(m) title (r == 0 ? name(m) : ''), 1 with lines dt 2 lc rgb "
      "'black' title 'PI = 1'\n"
      "set ylabel 'ONLINE p90, ms'\n"
      "plot for [m=0:2] for [r=0:R-1] '%s' index (r*3+m) using 3:6 with linespoints pt 7 "
      "ps 0.4 lc rgb colour(m) title (r == 0 ? name(m) : ''), G with lines dt 2 lc rgb "
      "'black' title 'goal'\n"
      "unset logscale y; set yrange [-0.5:7.5]; set xlabel 'seconds since the run began "
      "(shaded: measured window)'\n"
      "set ylabel 'dispatch priority band'\n"
      "plot for [m=0:2] for [r=0:R-1] '%s' index (r*3+m) using 3:9 with fsteps lc rgb "
      "colour(m) title (r == 0 ? 'ONLINE '.name(m) : ''), for [r=0:R-1] '%s' index (r*3+2) "
      "using 3:10 with fsteps dt 3 lc rgb colour(2) title (r == 0 ? 'BATCH goal' : '')\n"
      "unset multiplot\n",
      TIMELINE_PATH, PLOT_BASENAME, PLOT_SCRIPT, g_p.rounds, g_p.goal_ms, g_p.warmup_ms / 1e3,
      (g_p.warmup_ms + g_p.window_ms) / 1e3, PLOT_BASENAME, PLOT_BASENAME, PLOT_BASENAME,
      g_p.goal_percent, g_p.workers, g_p.interval_ms, g_p.goal_percent, TIMELINE_PATH,
      TIMELINE_PATH, TIMELINE_PATH, TIMELINE_PATH);
  if (fclose(f) != 0)
    bench_die("writing the gnuplot script", PLOT_SCRIPT);
}

/* Draw the plot where this process can run gnuplot: on Windows with
 * gnuplot.exe on the PATH. Under Wine a Windows program cannot wait for a
 * host program, so ./build.sh bench runs gnuplot after the benchmarks. */
static void draw_plot(const char *wine) {
  char found[MAX_PATH];
  printf("timeline written to %s, gnuplot script to %s\n", TIMELINE_PATH, PLOT_SCRIPT);
  if (wine) {
    printf("plot: under Wine, ./build.sh bench draws it (or run `gnuplot %s` here)\n", PLOT_SCRIPT);
    return;
  }
  if (SearchPathA(NULL, "gnuplot.exe", NULL, sizeof found, found, NULL) == 0) {
    printf("plot: gnuplot.exe is not on the PATH, no plot drawn\n");
    return;
  }
  fflush(stdout);
  if (system("gnuplot " PLOT_SCRIPT) != 0)
    printf("plot: gnuplot failed, no plot drawn\n");
  else
    printf("plot written to %s.png (or .svg)\n", PLOT_BASENAME);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */

static void usage(void) {
  fprintf(stderr,
          "usage: bench_enclaves [--rounds N] [--quick] [--json PATH] [tuning...]\n"
          "  --rounds N       rounds of the three modes (default 3, at most 64)\n"
          "  --quick          1 round, 300 ms warm-up, 1000 ms window: a smoke run\n"
          "  --json PATH      where to write the report (default enclaves.json)\n"
          "tuning (defaults in parentheses):\n"
          "  --goal-ms G      ONLINE goal: 90%% of responses within G ms (%u)\n"
          "  --rate N         ONLINE starts per second (%u)\n"
          "  --online-us US   ONLINE spin per transaction (%u)\n"
          "  --chains N       BATCH chains (%u)\n"
          "  --slices N       BATCH slices per transaction (%u)\n"
          "  --slice-us US    BATCH spin per slice (%u)\n"
          "  --warmup-ms MS   warm-up per run (%u)\n"
          "  --window-ms MS   measured window per run (%u)\n"
          "  --interval-ms MS policy_interval_ms (%u)\n"
          "  --workers N      workers (%u)\n"
          "  --spin-us US     the pacer spins instead of sleeping this close to a start (%u)\n"
          "  --online-importance N, --batch-importance N  (%u, %u)\n",
          g_p.goal_ms, g_p.rate, g_p.online_us, g_p.chains, g_p.slices, g_p.slice_us, g_p.warmup_ms,
          g_p.window_ms, g_p.interval_ms, g_p.workers, g_p.spin_us, g_p.online_importance,
          g_p.batch_importance);
  exit(2);
}

static void parse_args(int argc, char **argv) {
  static const struct {
    const char *opt;
    unsigned *dst;
  } nums[] = {
      {"--rounds", &g_p.rounds},
      {"--goal-ms", &g_p.goal_ms},
      {"--rate", &g_p.rate},
      {"--online-us", &g_p.online_us},
      {"--chains", &g_p.chains},
      {"--slices", &g_p.slices},
      {"--slice-us", &g_p.slice_us},
      {"--warmup-ms", &g_p.warmup_ms},
      {"--window-ms", &g_p.window_ms},
      {"--interval-ms", &g_p.interval_ms},
      {"--workers", &g_p.workers},
      {"--spin-us", &g_p.spin_us},
      {"--online-importance", &g_p.online_importance},
      {"--batch-importance", &g_p.batch_importance},
  };
  for (int i = 1; i < argc; i++) {
    size_t k;
    if (strcmp(argv[i], "--quick") == 0) {
      g_p.rounds = 1;
      g_p.warmup_ms = 300;
      g_p.window_ms = 1000;
      continue;
    }
    if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      g_p.json = argv[++i];
      continue;
    }
    for (k = 0; k < sizeof nums / sizeof nums[0]; k++)
      if (strcmp(argv[i], nums[k].opt) == 0 && i + 1 < argc) {
        *nums[k].dst = (unsigned)strtoul(argv[++i], NULL, 10);
        break;
      }
    if (k == sizeof nums / sizeof nums[0])
      usage();
  }
  if (g_p.rounds == 0 || g_p.rounds > 64 || g_p.goal_ms == 0 || g_p.rate == 0 ||
      g_p.window_ms == 0 || g_p.workers == 0 || g_p.chains == 0 || g_p.slices == 0 ||
      g_p.online_importance > WEFT_IMPORTANCE_DISCRETIONARY ||
      g_p.batch_importance > WEFT_IMPORTANCE_DISCRETIONARY)
    usage();
}

int main(int argc, char **argv) {
  bench_set_name("bench_enclaves");
  const char *wine = bench_wine_version();
  unsigned met;
  parse_args(argc, argv);
  /* Sleep(1) sleeps 1-2 ms instead of up to 15.6 on Windows (Wine: always). */
  timeBeginPeriod(1);
  bench_done_init();
  g_timeline = fopen(TIMELINE_PATH, "w");
  if (g_timeline == NULL)
    bench_die("opening the timeline", TIMELINE_PATH);
  fprintf(g_timeline,
          "# bench_enclaves timeline: the ONLINE enclave's interval records, one block per\n"
          "# run (two blank lines apart), in run order: round 1 fifo, static, goal, round 2...\n"
          "# t_s: when the record arrived, seconds since the run began (window %.3f..%.3f s)\n"
          "# pi, p50/p90/p99 (ms), responses: of the interval; NaN when it had no response\n"
          "# (pi alone is NaN with fewer than 5 responses: the runtime reports 0 then)\n"
          "# band: ONLINE's dispatch priority; batch_band: BATCH's in the same interval\n"
          "# len_ms: the record's end_ns - start_ns\n"
          "# mode round t_s pi p50_ms p90_ms p99_ms responses band batch_band len_ms\n",
          g_p.warmup_ms / 1e3, (g_p.warmup_ms + g_p.window_ms) / 1e3);
  for (unsigned round = 0; round < g_p.rounds; round++)
    for (size_t m = 0; m < MODE_COUNT; m++) {
      fprintf(stderr, "round %u/%u: %s\n", round + 1, g_p.rounds, modes[m].name);
      g_res[m][round] = run_once(m);
      {
        const run_result *x = &g_res[m][round];
        fprintf(stderr,
                "  p50 %.3f p90 %.3f p99 %.3f ms, PI %.3f, online %.1f/s, batch %.1f/s "
                "(by work %.1f/s), spin %.1f%%, cpu %.1f%%, ready at the end %u + %u\n",
                x->p50_ms, x->p90_ms, x->p99_ms, x->pi, x->online_tps, x->batch_tps,
                x->batch_work_tps, x->work_share * 100, x->worker_cpu * 100, x->ready[0],
                x->ready[1]);
      }
      timeline_write(round, m);
      fflush(g_timeline);
    }
  if (fclose(g_timeline) != 0)
    bench_die("writing the timeline", TIMELINE_PATH);
  summarize();
  print_table(wine);
  print_anomalies();
  met = check_targets();
  printf("%u of 3 targets met\n", met);
  write_json(g_p.json, wine);
  write_plot_script();
  draw_plot(wine);
  timeEndPeriod(1);
  return 0;
}
