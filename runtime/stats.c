/* stats.c - region statistics and process-wide counters. */
#include "runtime/abi.h"
#include "runtime/internal.h"

_Atomic int64_t weft__count_fibers, weft__count_threads, weft__count_regions, weft__count_tasks;

/* busy_ns: the worker thread's life so far minus its idle sleeps. */
static void worker_stats(weft__worker *w, weft_worker_stats *out) {
  uint64_t end = w->wk_stop_ns ? w->wk_stop_ns : weft__clock_ns();
  uint64_t life = w->wk_start_ns && end > w->wk_start_ns ? end - w->wk_start_ns : 0;
  out->dispatches = WEFT__LOAD(w->wk_dispatches);
  out->idle_ns = WEFT__LOAD(w->wk_idle_ns);
  out->busy_ns = life > out->idle_ns ? life - out->idle_ns : 0;
  weft__thread th = w->wk_thread;
  out->cpu_ns = w->wk_stop_ns || th == NULL ? w->wk_cpu_ns : weft__thread_cpu_ns(th);
  out->steals = WEFT__LOAD(w->wk_steals);
  out->ready = WEFT__LOAD(w->wk_nready);
}

static int region_stats(weft_region *r, weft_region_stats *out) {
  if (r == NULL || out == NULL)
    return WEFT_EINVAL;
  memset(out, 0, sizeof *out);
  out->workers = r->r_nworkers;
  uint32_t reserved = 0;
  for (unsigned i = 0; r->r_workers != NULL && i < r->r_nworkers; i++) {
    weft__worker *w = r->r_workers[i];
    worker_stats(w, &out->worker[i]);
    out->tasks_started += WEFT__LOAD(w->wk_started);
    out->tasks_completed += WEFT__LOAD(w->wk_completed);
    out->tasks_abended += WEFT__LOAD(w->wk_abended);
    out->fibers_idle += WEFT__LOAD(w->wk_nidle_fibers);
    reserved += WEFT__LOAD(w->wk_credits);
  }
  out->starts_rejected = WEFT__LOAD(r->r_rejected);
  out->starts_cancelled = WEFT__LOAD(r->r_cancelled);
  uint32_t live = WEFT__LOAD(r->r_live);
  out->active = live > reserved ? live - reserved : 0;
  out->queued = WEFT__LOAD(r->r_nqueued);
  out->delayed = WEFT__LOAD(r->r_delayed);
  out->peak_active = WEFT__LOAD(r->r_peak);
  return 0;
}

int weft_runtime_counters_get_(weft_runtime_counters *out, size_t size) {
  weft_runtime_counters buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc != 0 || out == NULL)
    return rc != 0 ? rc : WEFT_EINVAL;
  buf.fibers = atomic_load(&weft__count_fibers);
  buf.threads = atomic_load(&weft__count_threads);
  buf.regions = atomic_load(&weft__count_regions);
  buf.tasks = atomic_load(&weft__count_tasks);
  memcpy(out, &buf, size);
  return 0;
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_region_stats_get_(weft_region *r, weft_region_stats *out, size_t size) {
  weft_region_stats buf;
  int rc = weft__abi_out_check(size, sizeof buf, sizeof buf);
  if (rc == 0 && (rc = region_stats(r, out != NULL ? &buf : NULL)) == 0)
    memcpy(out, &buf, size);
  return rc;
}
