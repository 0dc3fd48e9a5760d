/* mpsc.h - the lock-free multi-producer, single-consumer queue that hands
 * work to a worker (its inbox) and records to the monitor thread. */
#ifndef WEFT_MPSC_H
#define WEFT_MPSC_H

#include "runtime/types.h"

/* ---- Lock-free MPSC queue (Vyukov, intrusive) ---------------------------- */

enum weft__node_kind {
  WEFT__N_ADOPT = 1, /* a task this worker now owns (new, stolen) */
  WEFT__N_WAKE,      /* a waiting task of this worker was woken */
  WEFT__N_DELAYED,   /* a start to run after a delay: arm its timer */
  WEFT__N_CTL,       /* control requests: see wk_ctl */
};

typedef struct weft__node {
  struct weft__node *_Atomic n_next; /* next in the queue (producers, consumer) */
  int n_kind;                        /* enum weft__node_kind, set by the pusher */
} weft__node;

typedef struct weft__mpsc {
  weft__node *_Atomic q_head WEFT__ALIGNED; /* newest; producers exchange it */
  weft__node *q_tail WEFT__ALIGNED;         /* oldest; consumer only */
  weft__node q_stub;                        /* keeps the queue non-empty */
} weft__mpsc;

void weft__mpsc_init(weft__mpsc *q);
/* Any thread. */
void weft__mpsc_push(weft__mpsc *q, weft__node *n);
/* Consumer only. NULL when empty or when a producer is mid-push. */
weft__node *weft__mpsc_pop(weft__mpsc *q);
/* Consumer only: false when certainly empty. */
static inline bool weft__mpsc_maybe_nonempty(weft__mpsc *q) {
  return q->q_tail != &q->q_stub ||
         atomic_load_explicit(&q->q_head, memory_order_acquire) != &q->q_stub;
}

#endif /* WEFT_MPSC_H */
