/* v1prog.c - a program DLL built against ABI 1: tests/abi/weft.h is the
 * header as first published (no struct sizes, no weft_abi_version), and
 * `#include "weft.h"` finds it first because it sits next to this file.
 * test_abi loads it into today's weft.dll. */
#include <string.h>

#include "weft.h"
#include "v1shared.h"

static v1_shared *shared(weft_task *t) {
  const void *data;
  size_t len;
  v1_shared *sh;
  if (weft_retrieve(t, &data, &len) != 0 || len != sizeof sh)
    weft_abend(t, "UDAT");
  memcpy(&sh, data, sizeof sh);
  return sh;
}

/* Calls of ABI 1 from a task: region stats (the old name and struct), a TS
 * queue, and a start with ABI 1's weft_start_opts at priority 0 (in ABI 1
 * an explicit priority; WEFT_PRIORITY_DEFAULT was the default). */
__declspec(dllexport) void v1_main(weft_task *t) {
  v1_shared *sh = shared(t);
  struct weft_region_stats s;
  if (weft_region_stats(weft_task_region(t), &s) == 0)
    sh->workers = s.workers;
  char buf[16];
  size_t len = 0;
  unsigned item = 0;
  sh->ts_ok = weft_ts_write(t, "V1Q", "hello", 5, &item) == 0 &&
              weft_ts_read(t, "V1Q", item, buf, sizeof buf, &len, NULL) == 0 && len == 5 &&
              memcmp(buf, "hello", 5) == 0;
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.priority = 0;
  sh->child_rc = weft_start(weft_task_region(t), "V1CHILD", &sh, sizeof sh, &o, NULL);
  sh->main_ran = 1;
}

/* Waits for the host's gate. */
__declspec(dllexport) void v1_child(weft_task *t) {
  v1_shared *sh = shared(t);
  weft_event_wait(t, sh->gate, WEFT_WAIT_FOREVER);
  sh->child_ran = 1;
}
