/* hist.c - the log-linear latency histogram: bounds, merging and reading.
 *
 * Recording lives in hist.h (static inline, the owner's hot path); what is
 * here runs at read time, on copies. See hist.h for the layout. */
#include <string.h>

#include "runtime/hist.h"

uint64_t weft__hist_lower(unsigned b) {
  unsigned group = b / WEFT__HIST_SUB; /* 0: the linear group, else e - 9 */
  uint64_t sub = b % WEFT__HIST_SUB;
  if (group == 0)
    return sub << (WEFT__HIST_LINEAR_BITS - WEFT__HIST_SUB_BITS);
  return (WEFT__HIST_SUB + sub) << (group + WEFT__HIST_LINEAR_BITS - 1 - WEFT__HIST_SUB_BITS);
}

uint64_t weft__hist_upper(unsigned b) {
  return weft__hist_lower(b + 1) - 1;
}

void weft__hist_clear(weft__hist *h) {
  memset(h, 0, sizeof *h);
}

void weft__hist_merge(weft__hist *dst, const weft__hist *src) {
  for (unsigned i = 0; i < WEFT__HIST_BUCKETS; i++)
    dst->h_b[i] += src->h_b[i];
  dst->h_count += src->h_count;
  dst->h_sum_ns += src->h_sum_ns;
  dst->h_max_ns = src->h_max_ns > dst->h_max_ns ? src->h_max_ns : dst->h_max_ns;
}

/* The highest non-empty bucket's upper bound, clamped to cap; 0 if empty. */
static uint64_t top_bound(const weft__hist *h, uint64_t cap) {
  for (unsigned i = WEFT__HIST_BUCKETS; i-- > 0;)
    if (h->h_b[i] != 0) {
      uint64_t up = weft__hist_upper(i);
      return up < cap ? up : cap;
    }
  return 0;
}

void weft__hist_sub(weft__hist *dst, const weft__hist *a, const weft__hist *b) {
  uint64_t cap = a->h_max_ns; /* read before dst (maybe a) is written */
  uint64_t count = a->h_count - b->h_count, sum = a->h_sum_ns - b->h_sum_ns;
  for (unsigned i = 0; i < WEFT__HIST_BUCKETS; i++)
    dst->h_b[i] = a->h_b[i] - b->h_b[i]; /* modulo 2^32: exact across a wrap */
  dst->h_count = count;
  dst->h_sum_ns = sum;
  dst->h_max_ns = top_bound(dst, cap);
}

/* The rank (1-based) of the p-th percentile among total values. */
static uint64_t percentile_rank(double p, uint64_t total) {
  if (!(p > 0.0))
    return 1;
  if (p >= 100.0)
    return total;
  double x = p / 100.0 * (double)total;
  uint64_t rank = (uint64_t)x;
  if (x - (double)rank > x * 1e-12) /* round up, forgiving p's binary fraction */
    rank++;
  return rank < 1 ? 1 : rank > total ? total : rank;
}

uint64_t weft__hist_percentile(const weft__hist *h, double p) {
  uint64_t total = 0;
  for (unsigned i = 0; i < WEFT__HIST_BUCKETS; i++)
    total += h->h_b[i];
  if (total == 0)
    return 0;
  uint64_t rank = percentile_rank(p, total), seen = 0;
  unsigned i = 0;
  while ((seen += h->h_b[i]) < rank)
    i++;
  uint64_t up = weft__hist_upper(i);
  return up < h->h_max_ns ? up : h->h_max_ns;
}

uint64_t weft__hist_mean(const weft__hist *h) {
  return h->h_count == 0 ? 0 : h->h_sum_ns / h->h_count;
}
