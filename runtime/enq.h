/* enq.h - ENQ/DEQ resources and the record locks built on them (enq.c). */
#ifndef WEFT_ENQ_H
#define WEFT_ENQ_H

#include "runtime/types.h"

/* enq.c */
int weft__enq_init(weft_region *r);
void weft__enq_release_all(weft_task *t);
void weft__enq_free(weft_region *r);
void weft__enq_detach(weft_task *t);
void weft__enq_release_uow(weft_task *t); /* task: syncpoint, rollback */
/* Record locks (txn/): an ENQ with UOW lifetime on len bytes at res. 0,
 * WEFT_ETIMEDOUT, WEFT_EDEADLOCK, WEFT_ENOMEM. Task. */
int weft__lock_uow(weft_task *t, const void *res, size_t len, unsigned timeout_ms);
bool weft__lock_held(weft_task *t, const void *res, size_t len);
/* Wait until no other task holds res; holds nothing after. Task. */
int weft__lock_wait_free(weft_task *t, const void *res, size_t len, unsigned timeout_ms);

#endif /* WEFT_ENQ_H */
