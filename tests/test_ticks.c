/* test_ticks.c - TSC ticks to ns by a fixed-point multiply (prim.h,
 * weft__ticks_fx): agrees with the exact division within 1 ns (the truncated
 * quotient or one more). */
#include <math.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "runtime/prim.h"

/* Pure computation: no region, so no need for helpers.h or weft.h. */
TestSuite(ticks, .timeout = 60.0);

/* A deterministic value of 1 .. 2^bits ticks (log-uniform). */
static uint64_t lcg_ticks(uint64_t *state, unsigned bits) {
  *state = *state * 6364136223846793005u + 1442695040888963407u;
  unsigned keep = 1 + (unsigned)(*state >> 58) % bits;
  return (*state >> (64 - keep)) | 1;
}

/* |fixed-point - ticks / rate| < 1 ns for n spread values up to 2^bits
 * ticks, the reference in long double (64-bit mantissa on x86). */
static void check_rate(double rate, unsigned bits, int n) {
  uint64_t fx = weft__ticks_fx(rate), state = (uint64_t)(rate * 1e6);
  long double worst = 0;
  for (int i = 0; i < n; i++) {
    uint64_t ticks = i < 64 ? (uint64_t)i : lcg_ticks(&state, bits);
    long double exact = (long double)ticks / (long double)rate;
    uint64_t ns = weft__ticks_fx_ns(ticks, fx), truncated = (uint64_t)exact;
    cr_assert(ns == truncated || ns == truncated + 1, "rate %.6f: %llu ticks gave %llu ns, not %llu",
              rate, (unsigned long long)ticks, (unsigned long long)ns,
              (unsigned long long)truncated);
    long double err = fabsl((long double)ns - exact);
    if (err > worst)
      worst = err;
  }
  cr_assert_lt((double)worst, 1.0, "rate %.6f tick/ns: worst error %.3f ns", rate,
               (double)worst);
}

Test(ticks, agrees_with_division_at_common_tsc_rates) {
  static const double rates[] = {1.0, 1.999, 2.0, 2.5, 2.918734, 3.3, 3.792, 4.6, 5.2};
  for (unsigned k = 0; k < sizeof rates / sizeof rates[0]; k++)
    check_rate(rates[k], 46, 200000);
}

Test(ticks, agrees_with_division_at_slow_counters) {
  /* The calibration's floor (0.01) and QPC-like rates. */
  check_rate(0.01, 40, 100000);
  check_rate(0.0100001, 40, 100000);
  check_rate(0.1, 42, 100000);
  check_rate(0.3579545, 44, 100000);
}

Test(ticks, exact_values) {
  uint64_t fx = weft__ticks_fx(2.5);
  cr_assert_eq(weft__ticks_fx_ns(0, fx), 0);
  cr_assert_eq(weft__ticks_fx_ns(2500000000u, fx), 1000000000u);
  cr_assert_eq(weft__ticks_fx_ns(UINT64_C(1) << 40, weft__ticks_fx(1.0)), UINT64_C(1) << 40);
}
