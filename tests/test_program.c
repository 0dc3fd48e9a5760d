/* test_program.c - programs loaded from DLLs (weft_program_load). */
#include "helpers.h"

#define PROGDLL "test_progdll.dll"

static atomic_long g_count;

/* Start `n` tasks of tranid, each given the address of g_count. */
static void start_counting(weft_region *r, const char *tranid, int n) {
  atomic_long *p = &g_count;
  for (int i = 0; i < n; i++) {
    int rc = weft_start(r, tranid, &p, sizeof p, NULL, NULL);
    cr_assert_eq(rc, 0, "weft_start: %s", weft_err_name(rc));
  }
}

static void define_tx(weft_region *r, const char *tranid, const char *program) {
  weft_transaction_def d = {tranid, program, 10, 0, NULL};
  int rc = weft_transaction_define(r, &d);
  cr_assert_eq(rc, 0, "weft_transaction_define(%s): %s", tranid, weft_err_name(rc));
}

/* A loaded program runs as an ordinary task: it retrieves its data and
 * yields through the same weft.dll as the host. */
Test(program, loaded_program_runs_in_tasks) {
  weft_region *r = th_region(2, 64);
  cr_assert_eq(weft_program_load(r, "COUNT", PROGDLL, "prog_count"), 0);
  define_tx(r, "CNT", "COUNT");
  start_counting(r, "CNT", 20);
  th_wait_ended(r, 20);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_completed, 20);
  cr_assert_eq(atomic_load(&g_count), 40);
}

/* Two programs of one DLL share it; destroying the region unloads it. */
Test(program, dll_shared_and_unloaded_with_the_region) {
  weft_region *r = th_region(1, 64);
  cr_assert_eq(weft_program_load(r, "COUNT", PROGDLL, "prog_count"), 0);
  cr_assert_eq(weft_program_load(r, "ABEND", PROGDLL, "prog_abend"), 0);
  cr_assert_not_null(GetModuleHandleA(PROGDLL));
  define_tx(r, "CNT", "COUNT");
  define_tx(r, "ABD", "ABEND");
  start_counting(r, "CNT", 1);
  cr_assert_eq(weft_start(r, "ABD", NULL, 0, NULL, NULL), 0);
  th_wait_ended(r, 2);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_completed, 1);
  cr_assert_eq(s.tasks_abended, 1);
  cr_assert_null(GetModuleHandleA(PROGDLL), "the DLL is still loaded after destroy");
}

/* A missing DLL or symbol is a clear error at definition time, and
 * nothing is defined or left loaded. */
Test(program, missing_dll_or_symbol_is_refused) {
  weft_region *r = th_region(1, 64);
  cr_assert_eq(weft_program_load(r, "GONE", "no_such_weft_program.dll", "f"), WEFT_ENOTFOUND);
  cr_assert_eq(weft_program_load(r, "NOSYM", PROGDLL, "no_such_symbol"), WEFT_ENOTFOUND);
  cr_assert_null(GetModuleHandleA(PROGDLL), "a refused load kept the DLL loaded");
  weft_transaction_def d = {"T1", "GONE", 10, 0, NULL};
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_ENOPROG);
  d.program = "NOSYM";
  cr_assert_eq(weft_transaction_define(r, &d), WEFT_ENOPROG);
  th_finish(r);
}

/* The region log's last error line, for the ABI test below. */
static char g_last_error[512];
static void keep_error(void *ctx, char level, const char *msg) {
  if (level == 'E')
    snprintf(g_last_error, sizeof g_last_error, "%s", msg);
}

/* A DLL that records an ABI this weft.dll does not run (newer than
 * WEFT_ABI_VERSION, or 0) is refused with WEFT_EABI before any of its
 * programs is resolved; the log names both versions and nothing stays
 * defined or loaded. */
Test(program, incompatible_abi_is_refused) {
  static const struct {
    const char *dll;
    unsigned abi;
  } bad[] = {{"test_abi_newer.dll", WEFT_ABI_VERSION + 1}, {"test_abi_zero.dll", 0}};
  weft_region_config cfg = th_config(1, 16);
  cfg.log_fn = keep_error;
  weft_region *r = th_region_cfg(&cfg);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    g_last_error[0] = '\0';
    cr_assert_eq(weft_program_load(r, "BAD", bad[i].dll, "bad_prog"), WEFT_EABI, "%s", bad[i].dll);
    char want[128];
    snprintf(want, sizeof want, "was built for Weft ABI %u; this weft.dll runs ABI %u..%u",
             bad[i].abi, WEFT_ABI_VERSION_MIN, WEFT_ABI_VERSION);
    cr_assert_not_null(strstr(g_last_error, want), "log: %s", g_last_error);
    cr_assert_null(GetModuleHandleA(bad[i].dll), "a refused DLL stayed loaded");
    cr_assert_eq(weft_program_is_enabled(r, "BAD"), WEFT_ENOPROG);
  }
  th_finish(r);
}

/* A DLL built with today's header records today's ABI. */
Test(program, dll_records_the_abi_version) {
  HMODULE m = LoadLibraryA(PROGDLL);
  cr_assert_not_null(m);
  const unsigned *v = (const unsigned *)(void *)GetProcAddress(m, "weft_abi_version");
  cr_assert_not_null(v);
  cr_assert_eq(*v, WEFT_ABI_VERSION);
  FreeLibrary(m);
}

Test(program, bad_arguments_are_refused) {
  weft_region *r = th_region(1, 64);
  cr_assert_eq(weft_program_load(NULL, "P", PROGDLL, "prog_count"), WEFT_EINVAL);
  cr_assert_eq(weft_program_load(r, NULL, PROGDLL, "prog_count"), WEFT_EINVAL);
  cr_assert_eq(weft_program_load(r, "P", NULL, "prog_count"), WEFT_EINVAL);
  cr_assert_eq(weft_program_load(r, "P", PROGDLL, NULL), WEFT_EINVAL);
  cr_assert_eq(weft_program_load(r, "P", "", "prog_count"), WEFT_EINVAL);
  cr_assert_eq(weft_program_load(r, "NINECHARS", PROGDLL, "prog_count"), WEFT_EBADNAME);
  cr_assert_eq(weft_program_load(r, "P", PROGDLL, "prog_count"), 0);
  cr_assert_eq(weft_program_load(r, "P", PROGDLL, "prog_abend"), WEFT_EEXIST);
  th_finish(r);
}
