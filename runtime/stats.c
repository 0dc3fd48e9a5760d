/* stats.c - region statistics and process-wide counters. */
#include "runtime/internal.h"

_Atomic int64_t weft__count_fibers, weft__count_threads, weft__count_regions,
    weft__count_tasks;

static void worker_stats(weft__worker *w, struct weft_worker_stats *out) {
  double per_ns = w->wk_region->r_tsc_per_ns;
  out->dispatches = WEFT__LOAD(w->wk_dispatches);
  out->busy_ns = (uint64_t)((double)WEFT__LOAD(w->wk_busy_ticks) / per_ns);
  out->idle_ns = WEFT__LOAD(w->wk_idle_ns);
  out->steals = WEFT__LOAD(w->wk_steals);
  out->ready = WEFT__LOAD(w->wk_nready);
}

int weft_region_stats(weft_region *r, struct weft_region_stats *out) {
  if (r == NULL || out == NULL)
    return WEFT_EINVAL;
  memset(out, 0, sizeof *out);
  out->workers = r->r_nworkers;
  for (unsigned i = 0; r->r_workers != NULL && i < r->r_nworkers; i++) {
    weft__worker *w = r->r_workers[i];
    worker_stats(w, &out->worker[i]);
    out->tasks_started += WEFT__LOAD(w->wk_started);
    out->tasks_completed += WEFT__LOAD(w->wk_completed);
    out->tasks_abended += WEFT__LOAD(w->wk_abended);
    out->fibers_idle += WEFT__LOAD(w->wk_nidle_fibers);
  }
  out->starts_rejected = WEFT__LOAD(r->r_rejected);
  out->starts_cancelled = WEFT__LOAD(r->r_cancelled);
  out->active = WEFT__LOAD(r->r_live);
  out->queued = WEFT__LOAD(r->r_nqueued);
  out->delayed = WEFT__LOAD(r->r_delayed);
  out->peak_active = WEFT__LOAD(r->r_peak);
  return 0;
}

void weft_runtime_counters_get(weft_runtime_counters *out) {
  if (out == NULL)
    return;
  out->fibers = atomic_load(&weft__count_fibers);
  out->threads = atomic_load(&weft__count_threads);
  out->regions = atomic_load(&weft__count_regions);
  out->tasks = atomic_load(&weft__count_tasks);
}
