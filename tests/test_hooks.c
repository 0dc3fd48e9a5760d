/* test_hooks.c - the shipped library has no crash or fault points: a
 * region of weft_static (which this test links; weft.dll is built from the
 * same sources and flags) ignores WEFT_CRASH. Only the weft_test library
 * has them (tests/test_recovery.c, tests/test_logfail.c). */
#include <stdlib.h>

#include "helpers.h"

TestSuite(hooks, .timeout = TH_TEST_TIMEOUT);

static atomic_int g_done;
static int g_rc;

/* Write a record and commit: passes log-append, pre-flush, post-flush and
 * log-error in a library that has them. */
static void commit_program(weft_task *t) {
  int rc = weft_file_write(t, "F", "k", 1, "v", 1);
  g_rc = rc != 0 ? rc : weft_syncpoint(t);
  atomic_store(&g_done, 1);
}

/* Open a data directory with WEFT_CRASH=crash, commit once, and return the
 * commit's code (the process would end at a crash point). */
static int commit_with(const char *name, const char *crash) {
  char dir[MAX_PATH], env[64];
  th_exe_dir(dir);
  snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "\\hooks-%s", name);
  th_rm_tree(dir);
  snprintf(env, sizeof env, "WEFT_CRASH=%s", crash);
  _putenv(env);
  weft_region_config cfg = th_config(1, 8);
  cfg.data_dir = dir;
  weft_region *r = th_region_cfg(&cfg);
  _putenv("WEFT_CRASH=");
  weft_file_def fd = {"F", 8, 8};
  cr_assert_eq(weft_file_define(r, &fd), 0);
  th_define(r, "COMMIT", commit_program, 1);
  atomic_store(&g_done, 0);
  th_start(r, "COMMIT", NULL, 0);
  th_wait_until(atomic_load(&g_done));
  cr_assert_eq(weft_log_failed(r), 0);
  th_finish(r);
  th_rm_tree(dir);
  return g_rc;
}

/* The crash point log-append would end the process (exit 86). */
Test(hooks, crash_point_is_ignored) {
  cr_assert_eq(commit_with("crash", "log-append"), 0);
}

/* The fault point log-error would fail the commit's log write. */
Test(hooks, fault_point_is_ignored) {
  cr_assert_eq(commit_with("fault", "log-error"), 0);
}
