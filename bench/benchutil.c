/* benchutil.c - timing, statistics and environment helpers for the
 * benchmarks (see benchutil.h). */
#include "benchutil.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "weft.h"

double bench_now_ns(void) {
  LARGE_INTEGER count, freq;
  QueryPerformanceCounter(&count);
  QueryPerformanceFrequency(&freq);
  return (double)count.QuadPart * 1e9 / (double)freq.QuadPart;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

bench_summary bench_summarize(const double *samples, size_t n) {
  bench_summary s = {0, 0, 0};
  double *sorted = malloc(n * sizeof *sorted);
  if (sorted == NULL || n == 0) {
    free(sorted);
    return s;
  }
  memcpy(sorted, samples, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, compare_doubles);
  s.min = sorted[0];
  s.max = sorted[n - 1];
  s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  free(sorted);
  return s;
}

const char *bench_wine_version(void) {
  typedef const char *(__cdecl * wine_get_version_fn)(void);
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  if (ntdll == NULL)
    return NULL;
  /* The detour through void (*)(void) keeps -Wcast-function-type quiet. */
  void (*proc)(void) = (void (*)(void))GetProcAddress(ntdll, "wine_get_version");
  if (proc == NULL)
    return NULL;
  return ((wine_get_version_fn)proc)();
}

void bench_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* ---- Failures ------------------------------------------------------------- */

static const char *g_bench_name = "bench";

void bench_set_name(const char *name) { g_bench_name = name; }

void bench_die(const char *what, const char *why) {
  fprintf(stderr, "%s: %s failed: %s\n", g_bench_name, what, why);
  fflush(stdout);
  exit(1);
}

void bench_check(int rc, const char *what) {
  if (rc != 0)
    bench_die(what, weft_err_name(rc));
}

void bench_check_win32(int ok, const char *what) {
  char why[32];
  if (ok)
    return;
  snprintf(why, sizeof why, "Win32 error %lu", GetLastError());
  bench_die(what, why);
}

/* ---- Task completion ---------------------------------------------------------- */

#define DONE_STALL_MS 30000

static HANDLE g_done;
static atomic_int g_task_rc;     /* the first failure of a task, 0 if none */
static const char *g_task_what;  /* the call that failed */

void bench_done_init(void) {
  g_done = CreateEventA(NULL, FALSE, FALSE, NULL);
  bench_check_win32(g_done != NULL, "CreateEvent");
}

void bench_done_arm(void) {
  atomic_store(&g_task_rc, 0);
  ResetEvent(g_done);
}

void bench_done_signal(void) { SetEvent(g_done); }

/* Called on a task whose call returned rc != 0: records the first failure,
 * wakes the host and returns 0. */
int bench_task_failed(int rc, const char *what) {
  int none = 0;
  if (atomic_compare_exchange_strong(&g_task_rc, &none, rc))
    g_task_what = what;
  SetEvent(g_done);
  return 0;
}

void bench_tasks_check(void) {
  if (atomic_load(&g_task_rc) != 0)
    bench_die(g_task_what, weft_err_name(atomic_load(&g_task_rc)));
}

void bench_done_wait(const char *what) {
  if (WaitForSingleObject(g_done, DONE_STALL_MS) != WAIT_OBJECT_0)
    bench_die(what, "no completion within 30 s (runtime stuck?)");
  bench_tasks_check();
}
