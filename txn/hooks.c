/* hooks.c - fault injection for the recovery tests: the crash points
 * (the process ends abruptly) and the fault points (an operating-system
 * call is made to fail) of docs/recovery.md, armed by the environment
 * variable WEFT_CRASH=<point>[:<n>] when a region is created.
 *
 * Only the weft_test library (built with WEFT_TEST_HOOKS, linked by the
 * tests that need it) compiles this file: the shipped weft.dll and
 * weft_static have no crash points, and WEFT_CRASH means nothing to them.
 *
 * Ownership: x_crash is written once at region create (host thread) and
 * only read after; x_crash_left counts the passes atomically. */
#include <stdio.h>
#include <stdlib.h>

#include "txn/txn.h"

#ifndef WEFT_TEST_HOOKS
#error "txn/hooks.c belongs to the weft_test library only (WEFT_TEST_HOOKS)"
#endif

void weft__hooks_config(weft__txn *x) {
  const char *v = getenv("WEFT_CRASH");
  if (v == NULL || *v == '\0')
    return;
  long n = 1;
  const char *colon = strchr(v, ':');
  size_t len = colon ? (size_t)(colon - v) : strlen(v);
  if (colon != NULL)
    n = strtol(colon + 1, NULL, 10);
  if (len >= sizeof x->x_crash || n < 1)
    return;
  memcpy(x->x_crash, v, len);
  x->x_crash[len] = '\0';
  atomic_store(&x->x_crash_left, n);
}

bool weft__fault_point(weft_region *r, const char *name) {
  weft__txn *x = weft__txn_of(r);
  if (weft__likely(x->x_crash[0] == '\0') || strcmp(x->x_crash, name) != 0)
    return false;
  return atomic_fetch_sub(&x->x_crash_left, 1) == 1;
}

void weft__crash_point(weft_region *r, const char *name) {
  if (!weft__fault_point(r, name))
    return;
  weft__write_stderr("weft: crash point reached: ");
  weft__write_stderr(name);
  weft__write_stderr("\n");
  weft__process_kill(WEFT__CRASH_EXIT);
}
