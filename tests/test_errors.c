/* test_errors.c - what weft_strerror() and weft_err_name() tell a user of
 * real failures, and how they treat every code and unknown ones. */
#include <limits.h>

#include "helpers.h"

TestSuite(errors, .timeout = TH_TEST_TIMEOUT);

/* What a user sees for real failures: the code, its name and its
 * sentence, written out here (not taken from the table). */
static void expect_error(int rc, int code, const char *name, const char *text, const char *what) {
  cr_assert_eq(rc, code, "%s: %s", what, weft_err_name(rc));
  cr_assert_str_eq(weft_err_name(rc), name, "%s", what);
  cr_assert_str_eq(weft_strerror(rc), text, "%s", what);
}

static void nothing(weft_task *t) {}

Test(errors, real_failures_say_what_went_wrong) {
  weft_region_config cfg = th_config(1, 16);
  expect_error(weft_region_create(&cfg, NULL), -1, "WEFT_EINVAL", "invalid argument",
               "create without an out pointer");
  cfg.workers = WEFT_MAX_WORKERS + 1;
  weft_region *bad = NULL;
  expect_error(weft_region_create(&cfg, &bad), -9, "WEFT_ERANGE", "value out of range",
               "too many workers");
  weft_region *r = th_region(1, 16);
  th_define(r, "NOP", nothing, 1);
  expect_error(weft_program_define(r, "NOP", nothing), -5, "WEFT_EEXIST",
               "a definition with this name already exists", "a second NOP");
  expect_error(weft_start(r, "NOSUCH", NULL, 0, NULL, NULL), -7, "WEFT_ENOTRAN",
               "no such transaction", "start NOSUCH");
  weft_transaction_def d = {"T2", "NOPROG", 1, 0, NULL};
  expect_error(weft_transaction_define(r, &d), -6, "WEFT_ENOPROG", "no such program",
               "a transaction of a missing program");
  weft_start_opts o = {0};
  expect_error(weft_start_(r, "NOP", NULL, 0, &o, sizeof o + 8, NULL), -22, "WEFT_EABI",
               "built for a Weft ABI version this weft.dll does not support",
               "start options larger than this library knows");
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS), 0);
  expect_error(weft_start(r, "NOP", NULL, 0, NULL, NULL), -12, "WEFT_ESHUTDOWN",
               "region is shutting down", "start after shutdown");
  expect_error(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS), -3, "WEFT_ESTATE",
               "call not allowed in this context or state", "a second shutdown");
  weft_region_destroy(r);
}

/* The codes are negative and distinct (-1 .. -N with no gaps). */
Test(errors, codes_are_negative_and_distinct) {
  static const int codes[] = {
#define CODE_VALUE(name, value, msg) (value),
      WEFT_ERRNO_MAP(CODE_VALUE)
#undef CODE_VALUE
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    cr_assert_lt(codes[i], 0);
    for (size_t j = i + 1; j < n; j++)
      cr_assert_neq(codes[i], codes[j], "codes %zu and %zu share %d", i, j, codes[i]);
  }
  int mask[32] = {0};
  for (size_t i = 0; i < n; i++) {
    cr_assert_leq(-codes[i], (int)n, "code %d leaves a gap", codes[i]);
    mask[-codes[i]] = 1;
  }
  for (size_t v = 1; v <= n; v++)
    cr_assert(mask[v], "no code is -%zu", v);
}

/* Success has a name and a message of its own. */
Test(errors, ok_has_a_name) {
  cr_assert_str_eq(weft_err_name(WEFT_OK), "WEFT_OK");
  cr_assert_not_null(weft_strerror(WEFT_OK));
  cr_assert_str_neq(weft_strerror(WEFT_OK), "");
}

/* Codes outside the table are "unknown error" / "WEFT_E?". */
Test(errors, unknown_codes) {
  static const int unknown[] = {-25, -100, 1, 42, INT_MIN, INT_MAX, -0x7FFF};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    cr_assert_str_eq(weft_strerror(unknown[i]), "unknown error", "strerror(%d)", unknown[i]);
    cr_assert_str_eq(weft_err_name(unknown[i]), "WEFT_E?", "err_name(%d)", unknown[i]);
  }
}

/* Messages and names are distinct from one another. */
Test(errors, messages_are_distinct) {
  static const int codes[] = {
#define CODE_VALUE(name, value, msg) (value),
      WEFT_ERRNO_MAP(CODE_VALUE)
#undef CODE_VALUE
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      cr_assert_str_neq(weft_strerror(codes[i]), weft_strerror(codes[j]));
      cr_assert_str_neq(weft_err_name(codes[i]), weft_err_name(codes[j]));
    }
}

/* Both functions may be called from any thread, at the same time. */
static atomic_int g_mismatches;

static DWORD WINAPI hammer_names(void *arg) {
  for (int round = 0; round < 2000; round++) {
#define CHECK_ON_THREAD(name, value, msg)                                      \
  if (strcmp(weft_err_name(value), "WEFT_" #name) != 0 ||                      \
      strcmp(weft_strerror(value), msg) != 0)                                  \
    atomic_fetch_add(&g_mismatches, 1);
    WEFT_ERRNO_MAP(CHECK_ON_THREAD)
#undef CHECK_ON_THREAD
  }
  return 0;
}

Test(errors, any_thread) {
  HANDLE th[4];
  for (int i = 0; i < 4; i++) {
    th[i] = CreateThread(NULL, 0, hammer_names, NULL, 0, NULL);
    cr_assert_not_null(th[i]);
  }
  cr_assert_eq(WaitForMultipleObjects(4, th, TRUE, TH_DEADLINE_MS), WAIT_OBJECT_0);
  for (int i = 0; i < 4; i++)
    CloseHandle(th[i]);
  cr_assert_eq(atomic_load(&g_mismatches), 0);
}
