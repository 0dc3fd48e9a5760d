/* metrics.c - GET /metrics (the Prometheus text exposition format, version
 * 0.0.4) and GET /health of weftd's HTTP listener (docs/http.md).
 *
 * Response-time histograms: weftd takes the region's task records
 * (weft_region_config.task_record_fn) and counts each ended task's response
 * time into fixed buckets per enclave and per tranid, and its abend code
 * into a table; everything else comes from weft's statistics calls at
 * scrape time.
 *
 * Ownership: g_series is appended under g_lock (exclusive) and never
 * shrinks; a series' counters are atomics written by the workers (the
 * record callback, under g_lock shared) and read by the scrape. */
#include <stdio.h>
#include <stdlib.h>

#include "weftd.h"

#include <microhttpd.h>

#define SERIES_MAX 256
#define ABCODES_MAX 64

/* Upper bounds of the buckets, in seconds (+Inf is implied). */
static const double g_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                  0.2,   0.5,   1,     2,    5,    10};
#define NB (sizeof g_bounds / sizeof g_bounds[0])

typedef struct series {
  bool by_tran; /* else by enclave */
  char name[WEFT_NAME_MAX + 1];
  _Atomic uint64_t bucket[NB + 1]; /* not cumulative; [NB]: above the last */
  _Atomic uint64_t count, sum_ns;
} series;

typedef struct abcount {
  char code[5];
  _Atomic uint64_t n;
} abcount;

static SRWLOCK g_lock = SRWLOCK_INIT;
static series g_series[SERIES_MAX];
static size_t g_n_series;
static abcount g_ab[ABCODES_MAX];
static size_t g_n_ab;

/* ---- The record callback (a worker; short, never blocks for long) ---------- */

static series *series_find(bool by_tran, const char *name) {
  for (size_t i = 0; i < g_n_series; i++)
    if (g_series[i].by_tran == by_tran && strcmp(g_series[i].name, name) == 0)
      return &g_series[i];
  return NULL;
}

static series *series_get(bool by_tran, const char *name) {
  AcquireSRWLockShared(&g_lock);
  series *s = series_find(by_tran, name);
  ReleaseSRWLockShared(&g_lock);
  if (s != NULL)
    return s;
  AcquireSRWLockExclusive(&g_lock);
  if ((s = series_find(by_tran, name)) == NULL && g_n_series < SERIES_MAX) {
    s = &g_series[g_n_series];
    s->by_tran = by_tran;
    snprintf(s->name, sizeof s->name, "%s", name);
    g_n_series++;
  }
  ReleaseSRWLockExclusive(&g_lock);
  return s;
}

static void series_add(series *s, uint64_t ns) {
  if (s == NULL)
    return;
  double sec = (double)ns / 1e9;
  size_t b = 0;
  while (b < NB && sec > g_bounds[b])
    b++;
  atomic_fetch_add(&s->bucket[b], 1);
  atomic_fetch_add(&s->count, 1);
  atomic_fetch_add(&s->sum_ns, ns);
}

static void abend_add(const char *code) {
  AcquireSRWLockExclusive(&g_lock);
  size_t i = 0;
  while (i < g_n_ab && strcmp(g_ab[i].code, code) != 0)
    i++;
  if (i == g_n_ab && g_n_ab < ABCODES_MAX)
    snprintf(g_ab[g_n_ab++].code, 5, "%s", code);
  if (i < g_n_ab)
    atomic_fetch_add(&g_ab[i].n, 1);
  ReleaseSRWLockExclusive(&g_lock);
}

void wd_metrics_task_record(void *ctx, const weft_task_record *rec) {
  (void)ctx;
  series_add(series_get(false, rec->enclave), rec->response_ns);
  series_add(series_get(true, rec->tranid), rec->response_ns);
  if (rec->abcode[0] != '\0')
    abend_add(rec->abcode);
}

/* ---- The text ------------------------------------------------------------------- */

typedef struct out {
  char *p;
  size_t len, cap;
  bool oom;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
  for (int tries = 0; tries < 2 && !o->oom; tries++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->oom = true;
      return;
    }
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    size_t cap = o->cap * 2 + (size_t)n;
    char *np = realloc(o->p, cap);
    if (np == NULL)
      o->oom = true;
    else
      o->p = np, o->cap = cap;
  }
}

static void help(out *o, const char *name, const char *type, const char *text) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void region_metrics(out *o) {
  weft_region_stats st;
  if (weft_region_stats_get(wd.region, &st) != 0)
    return;
  help(o, "weft_tasks_started_total", "counter", "Tasks that began to run.");
  put(o, "weft_tasks_started_total %llu\n", (unsigned long long)st.tasks_started);
  help(o, "weft_tasks_completed_total", "counter", "Tasks that ended normally.");
  put(o, "weft_tasks_completed_total %llu\n", (unsigned long long)st.tasks_completed);
  help(o, "weft_tasks_abended_total", "counter", "Tasks that ended in an abend.");
  put(o, "weft_tasks_abended_total %llu\n", (unsigned long long)st.tasks_abended);
  help(o, "weft_starts_rejected_total", "counter", "Starts refused (region full, shutdown).");
  put(o, "weft_starts_rejected_total %llu\n", (unsigned long long)st.starts_rejected);
  help(o, "weft_tasks_active", "gauge", "Live tasks (admitted, not ended).");
  put(o, "weft_tasks_active %u\n", st.active);
  help(o, "weft_tasks_queued", "gauge", "Starts waiting for admission.");
  put(o, "weft_tasks_queued %u\n", st.queued);
  help(o, "weft_worker_busy_seconds_total", "counter", "Time each worker spent running tasks.");
  for (uint32_t i = 0; i < st.workers; i++)
    put(o, "weft_worker_busy_seconds_total{worker=\"%u\"} %.6f\n", i,
        (double)st.worker[i].busy_ns / 1e9);
  help(o, "weft_worker_dispatches_total", "counter", "Task dispatches of each worker.");
  for (uint32_t i = 0; i < st.workers; i++)
    put(o, "weft_worker_dispatches_total{worker=\"%u\"} %llu\n", i,
        (unsigned long long)st.worker[i].dispatches);
}

/* The enclaves the region knows by name: the file's and the two built in. */
static size_t enclave_names(const char **names, size_t cap) {
  size_t n = 0;
  names[n++] = WEFT_DEFAULT_ENCLAVE;
  names[n++] = "WEFTSYS";
  for (size_t i = 0; i < wd.def->n_enclaves && n < cap; i++)
    if (strcmp(wd.def->enclaves[i].name, WEFT_DEFAULT_ENCLAVE) != 0 &&
        strcmp(wd.def->enclaves[i].name, "WEFTSYS") != 0)
      names[n++] = wd.def->enclaves[i].name;
  return n;
}

static void enclave_metrics(out *o) {
  const char *names[SERIES_MAX];
  size_t n = enclave_names(names, SERIES_MAX);
  weft_enclave_stats es[SERIES_MAX];
  bool ok[SERIES_MAX];
  for (size_t i = 0; i < n; i++)
    ok[i] = weft_enclave_stats_get(wd.region, names[i], &es[i]) == 0;
  help(o, "weft_enclave_tasks_completed_total", "counter", "Tasks of the enclave ended normally.");
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      put(o, "weft_enclave_tasks_completed_total{enclave=\"%s\"} %llu\n", names[i],
          (unsigned long long)es[i].tasks_completed);
  help(o, "weft_enclave_tasks_abended_total", "counter", "Tasks of the enclave abended.");
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      put(o, "weft_enclave_tasks_abended_total{enclave=\"%s\"} %llu\n", names[i],
          (unsigned long long)es[i].tasks_abended);
  help(o, "weft_enclave_tasks_active", "gauge",
       "Tasks of the enclave that have run and not ended.");
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      put(o, "weft_enclave_tasks_active{enclave=\"%s\"} %u\n", names[i], es[i].active);
  help(o, "weft_enclave_performance_index", "gauge",
       "Performance index of the last policy window (1: on goal; 0: no goal or no data).");
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      put(o, "weft_enclave_performance_index{enclave=\"%s\"} %.4f\n", names[i], es[i].pi);
  help(o, "weft_enclave_goal_seconds", "gauge", "The enclave's response-time goal (0: none).");
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      put(o, "weft_enclave_goal_seconds{enclave=\"%s\"} %.3f\n", names[i], es[i].goal_ms / 1e3);
  help(o, "weft_enclave_dispatch_priority", "gauge", "The enclave's dispatch band (0..7).");
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      put(o, "weft_enclave_dispatch_priority{enclave=\"%s\"} %d\n", names[i],
          es[i].dispatch_priority);
}

static void histograms(out *o, bool by_tran) {
  const char *metric =
      by_tran ? "weft_transaction_response_seconds" : "weft_enclave_response_seconds";
  const char *label = by_tran ? "tranid" : "enclave";
  help(o, metric, "histogram",
       by_tran ? "Response time of ended tasks, by transaction."
               : "Response time of ended tasks, by enclave.");
  AcquireSRWLockShared(&g_lock);
  size_t n = g_n_series;
  ReleaseSRWLockShared(&g_lock);
  for (size_t i = 0; i < n; i++) {
    series *s = &g_series[i];
    if (s->by_tran != by_tran)
      continue;
    uint64_t cum = 0;
    for (size_t b = 0; b < NB; b++) {
      cum += atomic_load(&s->bucket[b]);
      put(o, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", metric, label, s->name, g_bounds[b],
          (unsigned long long)cum);
    }
    cum += atomic_load(&s->bucket[NB]);
    put(o, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", metric, label, s->name,
        (unsigned long long)cum);
    put(o, "%s_sum{%s=\"%s\"} %.6f\n", metric, label, s->name,
        (double)atomic_load(&s->sum_ns) / 1e9);
    put(o, "%s_count{%s=\"%s\"} %llu\n", metric, label, s->name, (unsigned long long)cum);
  }
}

static void class_metrics(out *o) {
  help(o, "weft_class_active", "gauge", "Active tasks of the transaction class.");
  weft_class_stats cs[64];
  size_t n = 0;
  for (size_t i = 0; i < wd.def->n_classes && n < 64; i++)
    if (weft_class_stats_get(wd.region, wd.def->classes[i].name, &cs[n]) == 0)
      n++;
  for (size_t i = 0; i < n; i++)
    put(o, "weft_class_active{class=\"%s\"} %u\n", cs[i].name, cs[i].active);
  help(o, "weft_class_max_active", "gauge", "The class's max_active.");
  for (size_t i = 0; i < n; i++)
    put(o, "weft_class_max_active{class=\"%s\"} %u\n", cs[i].name, cs[i].max_active);
  help(o, "weft_class_queued", "gauge", "Starts waiting for the class.");
  for (size_t i = 0; i < n; i++)
    put(o, "weft_class_queued{class=\"%s\"} %u\n", cs[i].name, cs[i].queued);
  help(o, "weft_class_rejected_total", "counter", "Starts refused past the purge threshold.");
  for (size_t i = 0; i < n; i++)
    put(o, "weft_class_rejected_total{class=\"%s\"} %llu\n", cs[i].name,
        (unsigned long long)cs[i].rejected);
}

static void other_metrics(out *o) {
  help(o, "weft_abends_total", "counter", "Abended tasks by abend code.");
  AcquireSRWLockShared(&g_lock);
  for (size_t i = 0; i < g_n_ab; i++)
    put(o, "weft_abends_total{code=\"%s\"} %llu\n", g_ab[i].code,
        (unsigned long long)atomic_load(&g_ab[i].n));
  ReleaseSRWLockShared(&g_lock);
  weft_log_stats ls;
  if (weft_log_stats_get(wd.region, &ls) == 0) {
    help(o, "weft_log_commits_total", "counter", "Commit records written to the log.");
    put(o, "weft_log_commits_total %llu\n", (unsigned long long)ls.commits);
    help(o, "weft_log_flushes_total", "counter", "Log flushes (group commits).");
    put(o, "weft_log_flushes_total %llu\n", (unsigned long long)ls.flushes);
    help(o, "weft_log_bytes_total", "counter", "Bytes written to the log.");
    put(o, "weft_log_bytes_total %llu\n", (unsigned long long)ls.bytes);
    help(o, "weft_rollbacks_total", "counter", "Units of work backed out.");
    put(o, "weft_rollbacks_total %llu\n", (unsigned long long)ls.rollbacks);
  }
  help(o, "weft_terminals", "gauge", "Connected terminal sessions.");
  put(o, "weft_terminals %d\n", wd_sessions_count());
  help(o, "weft_http_connections", "gauge", "Open HTTP connections.");
  put(o, "weft_http_connections %lld\n", (long long)wd_http_connections());
  int64_t req, rsp[6];
  wd_http_counts(&req, rsp);
  help(o, "weft_http_requests_total", "counter", "HTTP requests received.");
  put(o, "weft_http_requests_total %lld\n", (long long)req);
  help(o, "weft_http_responses_total", "counter", "HTTP responses sent, by status class.");
  for (int k = 1; k <= 5; k++)
    put(o, "weft_http_responses_total{code=\"%dxx\"} %lld\n", k, (long long)rsp[k]);
}

int wd_http_metrics(struct MHD_Connection *c) {
  out o = {.cap = 16384};
  if ((o.p = malloc(o.cap)) == NULL)
    return wd_http_reply(c, 500, "text/plain", "out of memory\n", 14);
  region_metrics(&o);
  enclave_metrics(&o);
  histograms(&o, false);
  histograms(&o, true);
  class_metrics(&o);
  other_metrics(&o);
  int rc = o.oom ? wd_http_reply(c, 500, "text/plain", "out of memory\n", 14)
                 : wd_http_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", o.p, o.len);
  free(o.p);
  return rc;
}

int wd_http_health(struct MHD_Connection *c) {
  static const char ready[] = "{\"status\":\"ready\"}\n",
                    draining[] = "{\"status\":\"draining\"}\n", down[] = "{\"status\":\"down\"}\n";
  if (atomic_load(&wd.log_failed))
    return wd_http_reply(c, 503, "application/json", down, sizeof down - 1);
  if (atomic_load(&wd.stopping))
    return wd_http_reply(c, 503, "application/json", draining, sizeof draining - 1);
  return wd_http_reply(c, 200, "application/json", ready, sizeof ready - 1);
}
