/* test_errors.c - weft_strerror() and weft_err_name() cover every code. */
#include <limits.h>

#include "helpers.h"

TestSuite(errors, .timeout = TH_TEST_TIMEOUT);

/* Every code of the table maps to its own message and name. */
Test(errors, every_code_has_its_message_and_name) {
  int seen = 0;
#define CHECK_CODE(name, value, msg)                                           \
  cr_assert_eq(WEFT_##name, (value));                                          \
  cr_assert_str_eq(weft_strerror(value), msg, "strerror(%d)", (value));        \
  cr_assert_str_eq(weft_err_name(value), "WEFT_" #name, "err_name(%d)", (value)); \
  seen++;
  WEFT_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
  cr_assert_eq(seen, 22, "the table has %d codes", seen);
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
  static const int unknown[] = {-23, -100, 1, 42, INT_MIN, INT_MAX, -0x7FFF};
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
