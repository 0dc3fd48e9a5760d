/* subsys.h - the region's lifecycle table: what a subsystem is.
 *
 * A subsystem is a part of the library with its own region state and a say
 * at four points of a region's life: create, quiesce (the last task has
 * ended and the workers have stopped: a clean shutdown), free, and each
 * task's end. The region runs one table of them (runtime/region.c,
 * `lifecycle`): create top-down, quiesce and free bottom-up, task ends
 * top-down. The runtime's own components are rows of that table; the
 * library's other subsystems (txn/ today; the 3270, database and HTTP
 * subsystems later) take their place in it from weft__library_subsys, a
 * list that the layer composing weft.dll defines (lib/subsystems.c). The
 * runtime calls them only through these pointers and never names them.
 *
 * Ownership: a descriptor is immutable (static const). A region's table of
 * rows and their states is written at create, on the creating host thread,
 * and is read-only from then on until free.
 */
#ifndef WEFT_SUBSYS_H
#define WEFT_SUBSYS_H

#include "runtime/types.h"

struct weft__subsys {
  const char *ss_name; /* for messages */
  /* At weft_region_create, before the workers start (host thread). cfg is
   * the caller's configuration, valid only during the call: copy what is
   * kept. *state is this subsystem's per-region slot, readable through
   * weft__subsys_state as soon as it is set (even while create runs).
   * Returns 0 or a WEFT_E* code that fails the create; ss_free runs in
   * either case, so a failing create leaves what ss_free can release. NULL:
   * nothing to do. */
  int (*ss_create)(weft_region *r, const weft_region_config *cfg, void **state);
  /* After the last task has ended and the workers and offload threads have
   * stopped, at a shutdown that drained (host thread). NULL: nothing. */
  void (*ss_quiesce)(weft_region *r, void *state);
  /* Release everything (host thread, no task left, workers stopped): at
   * weft_region_destroy, or after a failed create for every row whose
   * ss_create was called. NULL: nothing. */
  void (*ss_free)(weft_region *r, void *state);
  /* At each task's end, normal or abend, on the task's own fiber, before
   * its ENQs and storage are released. NULL: nothing. */
  void (*ss_task_end)(weft_task *t, void *state);
};

/* The library's subsystems in the order they take their place in the
 * lifecycle, NULL-terminated. Defined above runtime/ (lib/subsystems.c). */
extern const weft__subsys *const weft__library_subsys[];

/* The state subsystem ss stored at create in region r (NULL before).
 * Any thread. */
void *weft__subsys_state(weft_region *r, const weft__subsys *ss);

#endif /* WEFT_SUBSYS_H */
