/* test_abi.c - a host built against ABI 1 (tests/abi/weft.h, the header
 * as first published) runs an ABI 1 program DLL (v1prog.c) in today's
 * weft.dll: ABI 1's names, struct layouts and meanings still work. It
 * cannot use tests/helpers.h, which includes today's weft.h. */
#include <criterion/criterion.h>
#include <windows.h>

#include "weft.h"
#include "v1shared.h"

#define V1DLL "test_abi_v1prog.dll"

TestSuite(abi, .timeout = 120);

/* Poll until cond holds, at most 30 s (then fail). */
#define WAIT_UNTIL(cond, what)                                       \
  do {                                                               \
    ULONGLONG until_ = GetTickCount64() + 30000;                     \
    while (!(cond)) {                                                \
      cr_assert_lt(GetTickCount64(), until_, "timed out: %s", what); \
      Sleep(1);                                                      \
    }                                                                \
  } while (0)

/* The live task of tranid that waits, or NULL in *found. */
static int waiting_task(weft_region *r, const char *tranid, weft_task_info *found) {
  weft_task_info all[8];
  size_t n = 0;
  cr_assert_eq(weft_task_list(r, all, 8, &n), 0);
  for (size_t i = 0; i < n && i < 8; i++)
    if (strcmp(all[i].tranid, tranid) == 0 && all[i].state == WEFT_TASK_WAITING) {
      *found = all[i];
      return 1;
    }
  return 0;
}

Test(abi, v1_host_and_program_dll_run_in_todays_weft_dll) {
  weft_runtime_counters before, after;
  weft_runtime_counters_get(&before);
  weft_region_config cfg;
  weft_region_config_init(&cfg);
  cfg.workers = 2;
  cfg.fiber_cache = 0; /* ABI 1: no pooling (ABI 2 says WEFT_OFF) */
  weft_region *r = NULL;
  cr_assert_eq(weft_region_create(&cfg, &r), 0);

  cr_assert_eq(weft_program_load(r, "V1MAIN", V1DLL, "v1_main"), 0);
  cr_assert_eq(weft_program_load(r, "V1CHILD", V1DLL, "v1_child"), 0);
  weft_transaction_def d = {"V1MAIN", "V1MAIN", 5, 0, NULL};
  cr_assert_eq(weft_transaction_define(r, &d), 0);
  weft_transaction_def c = {"V1CHILD", "V1CHILD", 9, 0, NULL};
  cr_assert_eq(weft_transaction_define(r, &c), 0);
  cr_assert_eq(weft_tsq_define(r, "V1Q", 0), 0);
  weft_tdq_def q = {"V1TDQ", 1, 0, NULL};
  cr_assert_eq(weft_tdq_define(r, &q), 0);
  weft_class_def cl = {"V1CLS", 3, 0};
  cr_assert_eq(weft_class_define(r, &cl), 0);
  struct weft_class_stats cs;
  cr_assert_eq(weft_class_stats(r, "V1CLS", &cs), 0);
  cr_assert_eq(cs.max_active, 3);
  weft_enclave_def e = {"V1ENC", 2, WEFT_GOAL_NONE, 0, 0, 0};
  cr_assert_eq(weft_enclave_define(r, &e), 0);
  struct weft_enclave_stats es;
  cr_assert_eq(weft_enclave_stats(r, "V1ENC", &es), 0);
  cr_assert_eq(es.importance, 2);

  weft_file_def f = {"V1FILE", 8, 16};
  cr_assert_eq(weft_file_define(r, &f), 0);
  weft_recovery_info ri;
  cr_assert_eq(weft_region_recovery(r, &ri), 0);
  cr_assert_eq(ri.data_dir, 0);

  v1_shared sh = {0};
  v1_shared *p = &sh;
  cr_assert_eq(weft_event_create(&sh.gate), 0);
  cr_assert_eq(weft_start(r, "V1MAIN", &p, sizeof p, NULL, NULL), 0);
  weft_task_info child;
  WAIT_UNTIL(waiting_task(r, "V1CHILD", &child), "V1CHILD waits on its gate");
  cr_assert_eq(sh.main_ran, 1);
  cr_assert_eq(sh.child_rc, 0);
  cr_assert_eq(sh.workers, 2);
  cr_assert_eq(sh.ts_ok, 1);
  cr_assert_eq(child.priority, 0, "ABI 1's priority 0 is priority 0, not the transaction's");
  weft_event_post(sh.gate);

  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 30000), 0);
  struct weft_region_stats s;
  cr_assert_eq(weft_region_stats(r, &s), 0);
  cr_assert_eq(s.tasks_completed, 2);
  cr_assert_eq(s.tasks_abended, 0);
  cr_assert_eq(s.fibers_idle, 0, "ABI 1's fiber_cache 0 turns pooling off");
  struct weft_enclave_stats ts;
  cr_assert_eq(weft_transaction_stats(r, "V1MAIN", &ts), 0);
  cr_assert_eq(ts.tasks_completed, 1);
  struct weft_log_stats ls;
  cr_assert_eq(weft_log_stats(r, &ls), 0);
  cr_assert_eq(ls.rollbacks, 0);
  cr_assert_eq(sh.child_ran, 1);
  weft_region_destroy(r);
  weft_event_destroy(sh.gate);
  weft_runtime_counters_get(&after);
  cr_assert_eq(after.regions, before.regions);
}
