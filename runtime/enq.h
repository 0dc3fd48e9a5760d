/* enq.h - ENQ/DEQ resources and the record locks built on them (enq.c). */
#ifndef WEFT_ENQ_H
#define WEFT_ENQ_H

#include "runtime/taskapi.h"
#include "runtime/types.h"

/* enq.c */
/* The region's ENQ table (weft_region.r_enq): buckets under eq_lock. */
typedef struct weft__enq_state {
  weft__lock eq_lock;
  weft__enq **eq_buckets;
  uint32_t eq_mask;
  _Atomic uint64_t eq_deadlocks, eq_lock_timeouts; /* record-lock figures (any thread) */
} weft__enq_state;

int weft__enq_init(weft_region *r);
void weft__enq_release_all(weft_task *t);
void weft__enq_free(weft_region *r);
void weft__enq_detach(weft_task *t);
/* Record locks: taskapi.h. */

#endif /* WEFT_ENQ_H */
