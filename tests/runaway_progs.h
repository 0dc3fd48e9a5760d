/* runaway_progs.h - the looping programs of test_runaway, compiled twice:
 * into test_progdll.dll (programs of a DLL) and into test_runaway.exe
 * (programs the host defines with a function pointer), so the same loop
 * runs from either module. They never suspend once the loop begins. */
#ifndef WEFT_TESTS_RUNAWAY_PROGS_H
#define WEFT_TESTS_RUNAWAY_PROGS_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

/* What a looping task does first; its start data is this struct's address
 * (the test keeps it in static storage). */
typedef struct spin_spec {
  atomic_int running;   /* the loop has begun */
  atomic_int setup_rc;  /* the first failing call's code (0: all went well) */
  const char *queue;    /* a recoverable TS queue to write an item to, or NULL */
  const char *resource; /* a resource to ENQ, or NULL */
  atomic_int after;     /* the loop ended (it must not) */
} spin_spec;

/* The start data as a spin_spec, after the writes and ENQ it asks for. */
static inline spin_spec *spin_setup(weft_task *t) {
  const void *data;
  size_t len;
  spin_spec *s;
  if (weft_retrieve(t, &data, &len) != 0 || len != sizeof s)
    weft_abend(t, "UDAT");
  memcpy(&s, data, sizeof s);
  int rc = 0;
  if (s->queue != NULL)
    rc = weft_ts_write(t, s->queue, "before the loop", 15, NULL);
  if (rc == 0 && s->resource != NULL)
    rc = weft_enq(t, s->resource, strlen(s->resource), 0);
  if (rc == 0 && weft_getmain(t, 4096) == NULL)
    rc = WEFT_ENOMEM;
  atomic_store(&s->setup_rc, rc);
  atomic_store(&s->running, 1);
  return s;
}

/* for (;;) x++ with x volatile: never calls anything. */
static inline void spin_tight(weft_task *t) {
  spin_spec *s = spin_setup(t);
  volatile unsigned long x = 0;
  while (x != (unsigned long)-1)
    x++;
  atomic_store(&s->after, 1);
}

/* Allocates and frees continuously: most of its time is inside the C
 * runtime's heap, holding the heap's lock. */
static inline void spin_malloc(weft_task *t) {
  spin_spec *s = spin_setup(t);
  volatile unsigned long x = 0;
  while (x != (unsigned long)-1) {
    char *volatile p = malloc(16 + (x++ & 1023));
    if (p != NULL)
      p[0] = 1;
    free(p);
  }
  atomic_store(&s->after, 1);
}

#endif /* WEFT_TESTS_RUNAWAY_PROGS_H */
