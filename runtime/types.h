/* types.h - what every runtime and txn source shares: the public header,
 * the platform contract, assertions, counters, names, the internal types'
 * forward declarations and the region log. Nothing here names a component's
 * state; each component's header (mpsc.h, defs.h, timer.h, enq.h, encl.h,
 * task.h, worker.h, region.h) holds its own. */
#ifndef WEFT_TYPES_H
#define WEFT_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "include/weft.h"
#include "runtime/prim.h"

/* ---- Assertions (mimalloc style) ----------------------------------------
 * WEFT_DEBUG 0: none; 1: weft_assert (cheap, always worth it); 2: adds
 * weft_assert_internal; 3: adds weft_assert_expensive. The failure routine
 * never allocates: it may run on a small fiber stack. */
#ifndef WEFT_DEBUG
#define WEFT_DEBUG 1
#endif
/* weft__assert_fail: prim.h (the platform layer asserts too). */
#define weft__assert_do(e) ((e) ? (void)0 : weft__assert_fail(#e, __FILE__, __LINE__))
#if WEFT_DEBUG >= 1
#define weft_assert(e) weft__assert_do(e)
#else
#define weft_assert(e) ((void)0)
#endif
#if WEFT_DEBUG >= 2
#define weft_assert_internal(e) weft__assert_do(e)
#else
#define weft_assert_internal(e) ((void)0)
#endif
#if WEFT_DEBUG >= 3
#define weft_assert_expensive(e) weft__assert_do(e)
#else
#define weft_assert_expensive(e) ((void)0)
#endif
/* Defensive checks (SQLite style): true in release, asserted in debug. */
#define ALWAYS(x) (weft__likely(x) ? 1 : (weft_assert_internal(0), 0))
#define NEVER(x) (weft__unlikely(x) ? (weft_assert_internal(0), 1) : 0)

#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)
#define WEFT__CACHELINE 64
#define WEFT__ALIGNED __attribute__((aligned(WEFT__CACHELINE)))

/* Relaxed counters written by one thread, read by any (plain moves). */
#define WEFT__STAT_ADD(field, n)                                                              \
  atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
                        memory_order_relaxed)
#define WEFT__LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

/* Process-wide counters behind weft_runtime_counters_get. */
extern _Atomic int64_t weft__count_regions, weft__count_tasks;
/* weft__count_fibers, weft__count_threads: prim.h (runtime/win/ counts them). */

/* ---- Names --------------------------------------------------------------- */

/* Names of 1-8 printable characters are packed into a uint64 (little endian,
 * zero padded) so tables compare integers. Returns 0 for a bad name. */
uint64_t weft__name_pack(const char *name);

/* ---- Internal types, declared here, defined by their component ----------- */

typedef struct weft__node weft__node;       /* mpsc.h */
typedef struct weft__prog weft__prog;       /* defs.h */
typedef struct weft__tran weft__tran;       /* defs.h */
typedef struct weft__class weft__class;     /* defs.h */
typedef struct weft__encl weft__encl;       /* encl.h */
typedef struct weft__acct weft__acct;       /* encl.h */
typedef struct weft__enq weft__enq;         /* enq.c */
typedef struct weft__fctx weft__fctx;       /* task.h */
typedef struct weft__worker weft__worker;   /* worker.h */
typedef struct weft__subsys weft__subsys;   /* region.h */

/* ---- The region log (errors.c) ------------------------------------------- */

/* Format a line and hand it to the region's log_fn (stderr by default); r
 * may be NULL. Any thread. */
void weft__log(weft_region *r, char level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* WEFT_TYPES_H */
