/* benchutil.h - timing, statistics and environment helpers for the
 * benchmarks. Every figure is taken with QueryPerformanceCounter around the
 * hot loop only; rounds are summarised by their median, minimum and maximum.
 */
#ifndef WEFT_BENCHUTIL_H
#define WEFT_BENCHUTIL_H

#include <stddef.h>
#include <stdio.h>

/* Nanoseconds since an arbitrary origin, from QueryPerformanceCounter.
 * Any thread; only differences are meaningful. */
double bench_now_ns(void);

/* The median, minimum and maximum of a set of samples. */
typedef struct bench_summary {
  double median;
  double min;
  double max;
} bench_summary;

/* Summarise n samples (n >= 1); the samples are left untouched. */
bench_summary bench_summarize(const double *samples, size_t n);

/* The Wine version ("8.0") when running under Wine, NULL on Windows. */
const char *bench_wine_version(void);

/* Write s to f as a JSON string literal, quotes included. */
void bench_json_string(FILE *f, const char *s);

/* Failures end the benchmark with exit code 1 and a message naming the
 * program (set once with bench_set_name) and the failed call. */
void bench_set_name(const char *name);
void bench_die(const char *what, const char *why);
/* rc: a weft_* result; ok: a Win32 BOOL-like result (GetLastError on 0). */
void bench_check(int rc, const char *what);
void bench_check_win32(int ok, const char *what);

/* Tasks tell the host a benchmark is done (or failed) through one
 * auto-reset event. bench_done_init once; bench_done_arm before each run;
 * tasks call bench_done_signal when the last one ends and bench_task_ok on
 * every call they make (a failure is recorded and wakes the host); the host
 * calls bench_done_wait, which dies on a failure or after 30 s. */
void bench_done_init(void);
void bench_done_arm(void);
void bench_done_signal(void);
int bench_task_failed(int rc, const char *what);
/* Inline: it wraps every call of a measured loop (a weft_yield per yield),
 * so the success path must cost nothing. */
static inline int bench_task_ok(int rc, const char *what) {
  return rc == 0 ? 1 : bench_task_failed(rc, what);
}
void bench_done_wait(const char *what);
/* Die if a task recorded a failure. */
void bench_tasks_check(void);

#endif /* WEFT_BENCHUTIL_H */
