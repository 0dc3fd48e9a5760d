/* hist.h - a mergeable log-linear latency histogram for nanosecond values.
 *
 * Layout (WEFT__HIST_BUCKETS = 264 buckets of 32-bit counts):
 * - Buckets 0..7: values below 1024 ns, eight linear buckets 128 ns wide
 *   (bucket = value >> 7). Latencies this short are below the clock's
 *   resolution under Wine (~80 ns), so they need no finer split.
 * - Buckets 8..263: for each power of two 2^e, e = 10..41, eight linear
 *   sub-buckets 2^(e-3) wide (the three bits after the leading one). A
 *   bucket's width is under 1/8 of its lower bound, so reporting its upper
 *   bound overstates a value >= 1024 ns by less than 12.5%.
 * - Values above WEFT__HIST_MAX_NS (2^42 - 1 ns, about 73 minutes) are
 *   recorded as WEFT__HIST_MAX_NS: such a latency is a stuck task or a
 *   clock step, and clamping it keeps the sum and the mean from overflowing.
 *
 * Ownership: a histogram has one writer (its worker), which records without
 * atomics or locks. Other threads read it by copying the struct while the
 * owner may be recording; every field is an aligned word, so no field is
 * torn, but the copy may be slightly inconsistent (h_count, h_sum_ns and the
 * buckets need not agree). Every reader below tolerates that: ranks come
 * from the bucket counts, never from h_count. Copies of several workers are
 * merged at read time (weft__hist_merge); intervals of a cumulative
 * histogram are taken as differences of two copies (weft__hist_sub).
 *
 * Bucket counts are 32-bit and wrap after 2^32 values in one bucket;
 * weft__hist_sub stays exact across a wrap as long as the interval itself
 * holds fewer. The sum wraps only after 2^64 ns (584 years) in total.
 */
#ifndef WEFT_HIST_H
#define WEFT_HIST_H

#include <stdint.h>

#define WEFT__HIST_LINEAR_BITS 10 /* values below 2^10 ns share the linear group */
#define WEFT__HIST_SUB_BITS 3     /* linear sub-buckets per power of two: 2^3 */
#define WEFT__HIST_TOP_BITS 42    /* values from 2^42 ns on clamp */
#define WEFT__HIST_SUB (1u << WEFT__HIST_SUB_BITS)
/* 8 linear buckets, then 8 for each of the 32 powers of two 2^10..2^41. */
#define WEFT__HIST_BUCKETS (WEFT__HIST_SUB * (1u + WEFT__HIST_TOP_BITS - WEFT__HIST_LINEAR_BITS))
/* The largest value kept; larger ones are recorded as this. */
#define WEFT__HIST_MAX_NS ((UINT64_C(1) << WEFT__HIST_TOP_BITS) - 1)

typedef struct weft__hist {
  uint64_t h_count;                 /* values recorded */
  uint64_t h_sum_ns;                /* their sum (each clamped to WEFT__HIST_MAX_NS) */
  uint64_t h_max_ns;                /* the largest (clamped), 0 when empty */
  uint32_t h_b[WEFT__HIST_BUCKETS]; /* values per bucket; see weft__hist_bucket */
} weft__hist;

/* The bucket ns falls in, 0..WEFT__HIST_BUCKETS-1; values above
 * WEFT__HIST_MAX_NS fall in the last. Branch-free: with e the leading bit
 * of ns (at least 10), the bucket is 8 * (e - 10) plus the top four bits of
 * ns (leading one included), which are 8..15 from 1024 ns on and the value
 * >> 7 below. */
static inline unsigned weft__hist_bucket(uint64_t ns) {
  ns = ns < WEFT__HIST_MAX_NS ? ns : WEFT__HIST_MAX_NS;
  unsigned e = 63u - (unsigned)__builtin_clzll(ns | (UINT64_C(1) << WEFT__HIST_LINEAR_BITS));
  return WEFT__HIST_SUB * (e - WEFT__HIST_LINEAR_BITS) +
         (unsigned)(ns >> (e - WEFT__HIST_SUB_BITS));
}

/* The smallest value of bucket b (b <= WEFT__HIST_BUCKETS; the value for
 * WEFT__HIST_BUCKETS is WEFT__HIST_MAX_NS + 1, one past the last bucket). */
uint64_t weft__hist_lower(unsigned b);
/* The largest value of bucket b (b < WEFT__HIST_BUCKETS), inclusive. Bounds
 * are contiguous: weft__hist_upper(b) + 1 == weft__hist_lower(b + 1). */
uint64_t weft__hist_upper(unsigned b);

/* Empty h: no values, every count zero. */
void weft__hist_clear(weft__hist *h);

/* Record one value of ns nanoseconds (clamped to WEFT__HIST_MAX_NS). The
 * owner only: no atomics, no branches besides the compiler's cmovs. */
static inline void weft__hist_record(weft__hist *h, uint64_t ns) {
  ns = ns < WEFT__HIST_MAX_NS ? ns : WEFT__HIST_MAX_NS;
  h->h_b[weft__hist_bucket(ns)]++;
  h->h_count++;
  h->h_sum_ns += ns;
  h->h_max_ns = ns > h->h_max_ns ? ns : h->h_max_ns;
}

/* dst += src: counts and sums add, the max is the larger. dst may be src
 * (which doubles it). src may be a copy taken while its owner recorded. */
void weft__hist_merge(weft__hist *dst, const weft__hist *src);

/* dst = a - b, the values recorded between two copies b (earlier) and a
 * (later) of the same cumulative histogram. Counts and sums subtract; the
 * delta's max cannot be known, so it is the upper bound of its highest
 * non-empty bucket, clamped to a->h_max_ns (0 when the delta is empty).
 * dst may be a or b. */
void weft__hist_sub(weft__hist *dst, const weft__hist *a, const weft__hist *b);

/* The p-th percentile, p in (0, 100]: the smallest bucket upper bound with
 * at least p% of the values at or below it, but never more than h_max_ns
 * (so p = 100 gives the exact max, and a value >= 1024 ns is overstated by
 * less than 12.5%). 0 for an empty histogram. The rank counts the buckets,
 * not h_count, so a copy taken mid-record still gives a sane answer. p above
 * 100 acts as 100; p at or below 0 (or NaN) as the smallest value. */
uint64_t weft__hist_percentile(const weft__hist *h, double p);

/* The mean in ns, rounded down; 0 for an empty histogram. Exact (sum over
 * count) as long as no value was clamped. */
uint64_t weft__hist_mean(const weft__hist *h);

#endif /* WEFT_HIST_H */
