/* main.c - a minimal host application of Weft, built against the installed package.
 *
 * It creates a region with two workers, defines one program and one transaction, starts
 * a few tasks with some data, lets the region drain them and checks they all ran. */
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include <weft.h>

#if defined(WEFT_SHARED)
#define APP_LINKAGE "weft.dll (WEFT_SHARED, dllimport)"
#else
#define APP_LINKAGE "the static library weft_static"
#endif

#define APP_TASKS 4

static volatile LONG app_done; /* tasks that ran to their end */

/* The program of transaction HELO. Called on a task's fiber. */
static void hello_program(weft_task *t) {
  const void *data;
  size_t len;

  if (weft_retrieve(t, &data, &len) != 0)
    weft_abend(t, "ARET");
  weft_yield(t); /* let the other tasks run, just to show it */
  printf("task %llu (%s) on worker %u: %.*s\n", (unsigned long long)weft_task_number(t),
         weft_task_tranid(t), weft_task_worker(t), (int)len, (const char *)data);
  InterlockedIncrement(&app_done);
}

static int check(int rc, const char *what) {
  if (rc != 0)
    fprintf(stderr, "app: %s: %s (%s)\n", what, weft_strerror(rc), weft_err_name(rc));
  return rc;
}

int main(void) {
  weft_region_config cfg;
  weft_region *r;
  weft_transaction_def def = {"HELO", "HELLO", 10, 0, NULL};
  int i, rc;

  printf("app: linked against %s, weft.h %d.%d.%d\n", APP_LINKAGE, WEFT_VERSION_MAJOR,
         WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
  weft_region_config_init(&cfg);
  cfg.workers = 2;
  if (check(weft_region_create(&cfg, &r), "weft_region_create"))
    return 1;
  rc = check(weft_program_define(r, "HELLO", hello_program), "weft_program_define");
  if (rc == 0)
    rc = check(weft_transaction_define(r, &def), "weft_transaction_define");
  for (i = 0; rc == 0 && i < APP_TASKS; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "hello #%d", i);
    rc = check(weft_start(r, "HELO", msg, strlen(msg), NULL, NULL), "weft_start");
  }
  if (rc == 0)
    rc = check(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, 10000), "weft_region_shutdown");
  weft_region_destroy(r);
  if (rc != 0 || app_done != APP_TASKS) {
    fprintf(stderr, "app: FAILED (%ld of %d tasks ran)\n", (long)app_done, APP_TASKS);
    return 1;
  }
  printf("app: OK, %d tasks ran\n", APP_TASKS);
  return 0;
}
