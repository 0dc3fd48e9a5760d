/* records.c - monitoring records: one per ended task, one per enclave per
 * policy interval, and a transient enclave's final one.
 *
 * Each goes to the registered callback at once (on the thread that made
 * it) and, when record_path is set, into r_encl.en_recq, from which the monitor
 * thread appends JSON Lines to the file: workers never do file I/O. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/internal.h"

enum { REC_TASK = 1, REC_INTERVAL };

typedef struct rec_node {
  weft__node rn_node; /* r_encl.en_recq link; n_kind: REC_* */
  union {
    weft_task_record rn_task;
    weft_interval_record rn_interval;
  };
} rec_node;

static void rec_queue(weft_region *r, const void *rec, size_t size, int kind) {
  rec_node *n = malloc(sizeof *n);
  if (n == NULL)
    return; /* a record lost to memory exhaustion; the callback had it */
  memcpy(&n->rn_task, rec, size);
  n->rn_node.n_kind = kind;
  weft__mpsc_push(&r->r_encl.en_recq, &n->rn_node);
}

/* An ended task's record. Its worker, at the end of the task. */
void weft__record_task(weft_region *r, weft__worker *w, weft_task *t, uint64_t response_ns) {
  weft_task_record rec;
  memset(&rec, 0, sizeof rec);
  rec.task_no = t->tk_no;
  memcpy(rec.tranid, t->tk_tran->tr_id, sizeof rec.tranid);
  memcpy(rec.enclave, t->tk_encl->ec_name, sizeof rec.enclave);
  rec.enclave_id = t->tk_encl->ec_id;
  if (t->tk_flags & WEFT__TF_ABENDED)
    memcpy(rec.abcode, t->tk_abcode, sizeof rec.abcode);
  rec.response_ns = response_ns;
  rec.first_dispatch_ns = weft__ticks_to_ns(r, t->tk_first_ticks);
  rec.dispatch_ns = weft__ticks_to_ns(r, t->tk_disp_ticks);
  for (int k = 0; k < WEFT_WAIT_REASONS; k++)
    rec.wait_ns[k] = weft__ticks_to_ns(r, t->tk_wait_ticks[k]);
  rec.dispatches = t->tk_ndisp;
  if (r->r_cfg.task_record_fn != NULL)
    r->r_cfg.task_record_fn(r->r_cfg.record_ctx, &rec);
  if (r->r_encl.en_recfile != NULL)
    rec_queue(r, &rec, sizeof rec, REC_TASK);
}

void weft__record_interval(weft_region *r, const weft_interval_record *rec) {
  if (r->r_cfg.interval_record_fn != NULL)
    r->r_cfg.interval_record_fn(r->r_cfg.record_ctx, rec);
  if (r->r_encl.en_recfile != NULL)
    rec_queue(r, rec, sizeof *rec, REC_INTERVAL);
}

/* ---- JSON Lines (monitor thread) ----------------------------------------------- */

static const char *const wait_names[WEFT_WAIT_REASONS] = {
    "ready", "delay", "event", "enq", "offload", "terminal", "log"};
_Static_assert(WEFT_WAIT_LOG == 6 && WEFT_WAIT_REASONS == 7, "wait_names matches the reasons");

static void json_waits(FILE *f, const uint64_t *wait_ns) {
  fputs("\"wait_ns\":{", f);
  for (int k = 0; k < WEFT_WAIT_REASONS; k++)
    fprintf(f, "%s\"%s\":%llu", k ? "," : "", wait_names[k], (unsigned long long)wait_ns[k]);
  fputc('}', f);
}

static void json_task(FILE *f, const weft_task_record *t) {
  fprintf(f,
          "{\"type\":\"task\",\"task_no\":%llu,\"tranid\":\"%s\",\"enclave\":\"%s\","
          "\"enclave_id\":%llu,\"abcode\":\"%s\",\"response_ns\":%llu,"
          "\"first_dispatch_ns\":%llu,\"dispatch_ns\":%llu,\"cpu_ns\":%llu,\"dispatches\":%u,",
          (unsigned long long)t->task_no, t->tranid, t->enclave, (unsigned long long)t->enclave_id,
          t->abcode, (unsigned long long)t->response_ns, (unsigned long long)t->first_dispatch_ns,
          (unsigned long long)t->dispatch_ns, (unsigned long long)t->cpu_ns, t->dispatches);
  json_waits(f, t->wait_ns);
  fputs("}\n", f);
}

static void json_interval(FILE *f, const weft_interval_record *i) {
  const struct weft_enclave_stats *s = &i->s;
  fprintf(f,
          "{\"type\":\"%s\",\"enclave\":\"%s\",\"enclave_id\":%llu,\"start_ns\":%llu,"
          "\"end_ns\":%llu,\"importance\":%d,\"goal_type\":%d,\"goal_ms\":%u,"
          "\"goal_percent\":%u,\"dispatch_priority\":%d,\"pi\":%.3f,\"completed\":%llu,"
          "\"abended\":%llu,\"dispatches\":%llu,\"dispatch_ns\":%llu,\"responses\":%llu,"
          "\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,",
          i->final ? "final" : "interval", s->name, (unsigned long long)s->enclave_id,
          (unsigned long long)i->start_ns, (unsigned long long)i->end_ns, s->importance,
          s->goal_type, s->goal_ms, s->goal_percent, s->dispatch_priority, s->pi,
          (unsigned long long)s->tasks_completed, (unsigned long long)s->tasks_abended,
          (unsigned long long)s->dispatches, (unsigned long long)s->dispatch_ns,
          (unsigned long long)s->responses, s->resp_avg_ms, s->resp_p50_ms, s->resp_p90_ms,
          s->resp_p99_ms, s->resp_max_ms);
  json_waits(f, s->wait_ns);
  fputs("}\n", f);
}

/* Write out every queued record. Monitor thread (or the host at the end). */
void weft__records_flush(weft_region *r) {
  FILE *f = r->r_encl.en_recfile;
  weft__node *n;
  while ((n = weft__mpsc_pop(&r->r_encl.en_recq)) != NULL) {
    rec_node *rn = (rec_node *)n;
    if (f != NULL && n->n_kind == REC_TASK)
      json_task(f, &rn->rn_task);
    else if (f != NULL)
      json_interval(f, &rn->rn_interval);
    free(rn);
  }
  if (f != NULL)
    fflush(f);
}
