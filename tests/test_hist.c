/* test_hist.c - the latency histogram: bucket bounds, percentiles, mean and
 * max, merge and interval deltas, empty and clamped values. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "runtime/hist.h"

/* Pure computation: no region, so no need for helpers.h or weft.h. */
TestSuite(hist, .timeout = 60.0);

#define LAST (WEFT__HIST_BUCKETS - 1)
#define US 1000u
#define MS 1000000u

/* Histograms live in static storage: each is over a kilobyte. */
static weft__hist g_a, g_b, g_all, g_snap, g_delta;

/* A deterministic value spread over 1 ns .. 2^bits ns (log-uniform). */
static uint64_t lcg_value(uint64_t *state, unsigned bits) {
  *state = *state * 6364136223846793005u + 1442695040888963407u;
  unsigned shift = 64 - 1 - (unsigned)(*state >> 58) % bits; /* keep 1..bits bits */
  return (*state >> shift) | 1;
}

/* Record n values from the generator seeded with seed into each of h1, h2
 * (either may be NULL); returns the largest value. */
static uint64_t record_lcg(weft__hist *h1, weft__hist *h2, uint64_t seed, int n) {
  uint64_t max = 0;
  for (int i = 0; i < n; i++) {
    uint64_t v = lcg_value(&seed, 34); /* up to ~17 s */
    if (h1)
      weft__hist_record(h1, v);
    if (h2)
      weft__hist_record(h2, v);
    max = v > max ? v : max;
  }
  return max;
}

static void assert_same(const weft__hist *x, const weft__hist *y) {
  for (unsigned i = 0; i < WEFT__HIST_BUCKETS; i++)
    cr_assert_eq(x->h_b[i], y->h_b[i], "bucket %u: %u != %u", i, x->h_b[i], y->h_b[i]);
  cr_assert_eq(x->h_count, y->h_count);
  cr_assert_eq(x->h_sum_ns, y->h_sum_ns);
  cr_assert_eq(x->h_max_ns, y->h_max_ns);
}

Test(hist, layout_fits) {
  cr_assert_eq(WEFT__HIST_BUCKETS, 264u);
  cr_assert_leq(sizeof(weft__hist), 1536u, "sizeof %u", (unsigned)sizeof(weft__hist));
  cr_assert_eq(weft__hist_lower(0), 0u);
  cr_assert_eq(weft__hist_lower(8), 1024u);
  cr_assert_eq(weft__hist_upper(7), 1023u);
  cr_assert_eq(weft__hist_upper(LAST), WEFT__HIST_MAX_NS);
  cr_assert_eq(WEFT__HIST_MAX_NS, (UINT64_C(1) << 42) - 1);
}

/* Every bucket: contiguous with the next, contains its own bounds, and is
 * less than 12.5% wide from 1024 ns on. */
Test(hist, bounds_monotonic_and_tight) {
  for (unsigned b = 0; b < WEFT__HIST_BUCKETS; b++) {
    uint64_t lo = weft__hist_lower(b), up = weft__hist_upper(b);
    cr_assert_leq(lo, up, "bucket %u", b);
    cr_assert_eq(weft__hist_bucket(lo), b, "bucket of lower(%u)", b);
    cr_assert_eq(weft__hist_bucket(up), b, "bucket of upper(%u)", b);
    if (b + 1 < WEFT__HIST_BUCKETS)
      cr_assert_eq(up + 1, weft__hist_lower(b + 1), "gap after bucket %u", b);
    if (lo >= 1024)
      cr_assert_leq((double)up / (double)lo, 1.125, "bucket %u: %llu..%llu", b,
                    (unsigned long long)lo, (unsigned long long)up);
  }
}

/* Many values across the range: lower <= v <= upper, and the upper bound
 * overstates v by at most 12.5% from 1024 ns on. */
Test(hist, values_in_their_buckets) {
  uint64_t seed = 42;
  for (int i = 0; i < 200000; i++) {
    uint64_t v = i < 4096 ? (uint64_t)i : lcg_value(&seed, 42);
    unsigned b = weft__hist_bucket(v);
    cr_assert_lt(b, WEFT__HIST_BUCKETS);
    uint64_t lo = weft__hist_lower(b), up = weft__hist_upper(b);
    cr_assert(lo <= v && v <= up, "v %llu in bucket %u: %llu..%llu", (unsigned long long)v, b,
              (unsigned long long)lo, (unsigned long long)up);
    if (v >= 1024)
      cr_assert_leq((double)up / (double)v, 1.125, "v %llu", (unsigned long long)v);
  }
}

/* Uniform 1..100000 µs: percentiles are upper bounds within 12.5%. */
Test(hist, percentiles_uniform) {
  weft__hist_clear(&g_a);
  for (uint64_t i = 1; i <= 100000; i++)
    weft__hist_record(&g_a, i * US);
  static const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9};
  for (unsigned k = 0; k < sizeof ps / sizeof ps[0]; k++) {
    double exact = ps[k] * 1000.0 * US; /* the value with rank p% of 100000 */
    uint64_t got = weft__hist_percentile(&g_a, ps[k]);
    cr_assert_geq((double)got, exact, "p%g: %llu", ps[k], (unsigned long long)got);
    cr_assert_leq((double)got, exact * 1.125, "p%g: %llu", ps[k], (unsigned long long)got);
  }
  cr_assert_eq(weft__hist_percentile(&g_a, 100), 100000u * US);
  cr_assert_eq(weft__hist_percentile(&g_a, 150), 100000u * US);
  cr_assert_leq(weft__hist_percentile(&g_a, 0), weft__hist_upper(weft__hist_bucket(US)));
  cr_assert_eq(g_a.h_max_ns, 100000u * US);
  cr_assert_eq(weft__hist_mean(&g_a), 50000500u); /* (1 + 100000) / 2 µs */
}

/* A single value: every percentile is that value exactly (clamped to max). */
Test(hist, single_value_exact) {
  weft__hist_clear(&g_a);
  weft__hist_record(&g_a, 123456789);
  cr_assert_eq(weft__hist_percentile(&g_a, 0.001), 123456789u);
  cr_assert_eq(weft__hist_percentile(&g_a, 50), 123456789u);
  cr_assert_eq(weft__hist_percentile(&g_a, 100), 123456789u);
}

Test(hist, max_and_mean_exact) {
  weft__hist_clear(&g_a);
  static const uint64_t v[] = {0, 10, 20, 30, 1000000, 7 * MS, 2};
  uint64_t sum = 0;
  for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
    weft__hist_record(&g_a, v[i]);
    sum += v[i];
  }
  cr_assert_eq(g_a.h_count, 7u);
  cr_assert_eq(g_a.h_sum_ns, sum);
  cr_assert_eq(g_a.h_max_ns, 7 * MS);
  cr_assert_eq(weft__hist_mean(&g_a), sum / 7);
  cr_assert_eq(sum % 7, 0u, "the test wants an integral mean");
}

/* Merging two histograms equals recording both sets into one. */
Test(hist, merge_equals_recording_both) {
  weft__hist_clear(&g_a);
  weft__hist_clear(&g_b);
  weft__hist_clear(&g_all);
  record_lcg(&g_a, &g_all, 1, 30000);
  uint64_t max_b = record_lcg(&g_b, &g_all, 2, 50000);
  weft__hist_record(&g_b, 40 * MS); /* a max in b only */
  weft__hist_record(&g_all, 40 * MS);
  weft__hist_merge(&g_a, &g_b);
  assert_same(&g_a, &g_all);
  cr_assert_geq(g_a.h_max_ns, max_b);

  weft__hist_clear(&g_snap); /* merging into an empty one copies */
  weft__hist_merge(&g_snap, &g_all);
  assert_same(&g_snap, &g_all);
}

/* The delta of two snapshots of a cumulative histogram is what was recorded
 * between them. */
Test(hist, sub_gives_interval_delta) {
  weft__hist_clear(&g_a);
  weft__hist_clear(&g_b);
  record_lcg(&g_a, NULL, 3, 40000);
  weft__hist_record(&g_a, UINT64_C(60000) * MS); /* a max before the interval */
  g_snap = g_a;
  uint64_t max_b = record_lcg(&g_a, &g_b, 4, 20000);
  weft__hist_sub(&g_delta, &g_a, &g_snap);
  for (unsigned i = 0; i < WEFT__HIST_BUCKETS; i++)
    cr_assert_eq(g_delta.h_b[i], g_b.h_b[i], "bucket %u", i);
  cr_assert_eq(g_delta.h_count, 20000u);
  cr_assert_eq(g_delta.h_sum_ns, g_b.h_sum_ns);
  uint64_t top = weft__hist_upper(weft__hist_bucket(max_b));
  cr_assert_eq(g_delta.h_max_ns, top, "delta max %llu, want %llu",
               (unsigned long long)g_delta.h_max_ns, (unsigned long long)top);
  cr_assert_eq(weft__hist_percentile(&g_delta, 50), weft__hist_percentile(&g_b, 50));

  weft__hist_sub(&g_a, &g_a, &g_a); /* nothing between a copy and itself */
  cr_assert_eq(g_a.h_count, 0u);
  cr_assert_eq(g_a.h_max_ns, 0u);
  cr_assert_eq(weft__hist_percentile(&g_a, 99), 0u);
}

/* The delta's max never exceeds the later snapshot's max. */
Test(hist, sub_max_clamped_to_a) {
  weft__hist_clear(&g_a);
  weft__hist_record(&g_a, 1000 * US);
  g_snap = g_a;
  weft__hist_record(&g_a, 1001 * US); /* same bucket, upper bound above it */
  weft__hist_sub(&g_delta, &g_a, &g_snap);
  cr_assert_eq(g_delta.h_count, 1u);
  cr_assert_eq(g_delta.h_max_ns, 1001u * US);
  cr_assert_eq(weft__hist_percentile(&g_delta, 100), 1001u * US);
}

/* Bucket counts wrap at 2^32; a delta across the wrap is still exact. */
Test(hist, sub_across_wrap) {
  weft__hist_clear(&g_snap);
  g_snap.h_b[100] = UINT32_MAX - 2;
  g_snap.h_count = UINT32_MAX - 2;
  g_a = g_snap;
  for (int i = 0; i < 5; i++)
    weft__hist_record(&g_a, weft__hist_lower(100));
  cr_assert_eq(g_a.h_b[100], 2u);
  weft__hist_sub(&g_delta, &g_a, &g_snap);
  cr_assert_eq(g_delta.h_b[100], 5u);
  cr_assert_eq(g_delta.h_count, 5u);
}

Test(hist, empty_gives_zero) {
  weft__hist_clear(&g_a);
  cr_assert_eq(weft__hist_percentile(&g_a, 50), 0u);
  cr_assert_eq(weft__hist_percentile(&g_a, 100), 0u);
  cr_assert_eq(weft__hist_mean(&g_a), 0u);
  cr_assert_eq(g_a.h_max_ns, 0u);
  cr_assert_eq(g_a.h_count, 0u);
}

/* A copy whose h_count disagrees with its buckets (taken mid-record) still
 * gives percentiles within the recorded range. */
Test(hist, inconsistent_copy_is_sane) {
  weft__hist_clear(&g_a);
  for (uint64_t i = 1; i <= 1000; i++)
    weft__hist_record(&g_a, i * US);
  g_snap = g_a;
  g_snap.h_count += 7; /* counted, buckets not yet bumped */
  cr_assert_eq(weft__hist_percentile(&g_snap, 100), 1000u * US);
  g_snap.h_count -= 20; /* buckets bumped, not yet counted */
  cr_assert_eq(weft__hist_percentile(&g_snap, 100), 1000u * US);
  cr_assert_eq(weft__hist_percentile(&g_snap, 50), weft__hist_percentile(&g_a, 50));
  g_snap.h_max_ns = 0; /* a first value whose max is not yet stored */
  cr_assert_eq(weft__hist_percentile(&g_snap, 50), 0u);
}

/* Values past WEFT__HIST_MAX_NS land in the last bucket as MAX_NS: the sum,
 * max and mean stay finite. */
Test(hist, huge_values_clamp) {
  cr_assert_eq(weft__hist_bucket(UINT64_MAX), LAST);
  cr_assert_eq(weft__hist_bucket(UINT64_C(1) << 42), LAST);
  cr_assert_eq(weft__hist_bucket(UINT64_C(1) << 63), LAST);
  cr_assert_eq(weft__hist_bucket(WEFT__HIST_MAX_NS), LAST);
  cr_assert_eq(weft__hist_bucket(WEFT__HIST_MAX_NS - weft__hist_lower(LAST) / 16), LAST);
  weft__hist_clear(&g_a);
  for (int i = 0; i < 1000; i++)
    weft__hist_record(&g_a, UINT64_MAX - (uint64_t)i);
  weft__hist_record(&g_a, UINT64_C(1) << 50);
  cr_assert_eq(g_a.h_b[LAST], 1001u);
  cr_assert_eq(g_a.h_count, 1001u);
  cr_assert_eq(g_a.h_max_ns, WEFT__HIST_MAX_NS);
  cr_assert_eq(g_a.h_sum_ns, 1001u * WEFT__HIST_MAX_NS);
  cr_assert_eq(weft__hist_mean(&g_a), WEFT__HIST_MAX_NS);
  cr_assert_eq(weft__hist_percentile(&g_a, 50), WEFT__HIST_MAX_NS);
  cr_assert_eq(weft__hist_percentile(&g_a, 100), WEFT__HIST_MAX_NS);
}
