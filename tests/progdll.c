/* progdll.c - a program DLL for test_program: transaction programs exported
 * from a DLL that links weft.dll, as a region's program DLLs do. */
#include <stdatomic.h>
#include <string.h>

#include "weft.h"

/* The start data is the address of a counter: count, yield, count again. */
WEFT_PROGRAM void prog_count(weft_task *t) {
  const void *data;
  size_t len;
  atomic_long *counter;
  if (weft_retrieve(t, &data, &len) != 0 || len != sizeof counter)
    weft_abend(t, "UDAT");
  memcpy(&counter, data, sizeof counter);
  atomic_fetch_add(counter, 1);
  weft_yield(t);
  atomic_fetch_add(counter, 1);
}

/* A second program of the same DLL. */
WEFT_PROGRAM void prog_abend(weft_task *t) { weft_abend(t, "UDLL"); }

/* The loops of test_runaway (runaway_progs.h), from a DLL. */
#include "runaway_progs.h"
WEFT_PROGRAM void prog_spin(weft_task *t) { spin_tight(t); }
WEFT_PROGRAM void prog_spin_malloc(weft_task *t) { spin_malloc(t); }
