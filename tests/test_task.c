/* test_task.c - inside a task: weft_retrieve, weft_getmain/freemain,
 * weft_link and COMMAREAs, task facts, and calls from the wrong context. */
#include <stdlib.h>

#include "helpers.h"

TestSuite(task, .timeout = TH_TEST_TIMEOUT);

/* ------------------------------------------------------------------------ */
/* weft_retrieve                                                             */
/* ------------------------------------------------------------------------ */

#define BIG (64 * 1024)

typedef struct retr_ctx {
  weft_event *go;          /* the task retrieves after this is posted */
  const void *host_buf;    /* the caller's buffer */
  char seen[32];           /* what the task found */
  size_t seen_len;
  int same_pointer;        /* the task got the caller's own buffer */
  int rc[4];
  int stable;              /* data and pointer unchanged over suspensions */
  int big_ok;              /* the 64 KiB pattern arrived intact */
  const void *none_data;   /* retrieve of a start without data */
  size_t none_len;
  atomic_long done;
} retr_ctx;

static retr_ctx g_retr;

/* Data: "hello" (not a th_arg). Waits for go, then retrieves. */
static void retrieve_copy(weft_task *t) {
  retr_ctx *c = &g_retr;
  weft_event_wait(t, c->go, WEFT_WAIT_FOREVER);
  const void *data = NULL;
  size_t len = 0;
  c->rc[0] = weft_retrieve(t, &data, &len);
  c->seen_len = len;
  if (data != NULL && len < sizeof c->seen)
    memcpy(c->seen, data, len);
  c->same_pointer = data == c->host_buf;
  /* It stays valid and the same until the task ends. */
  weft_yield(t);
  weft_delay(t, 2);
  const void *again = NULL;
  size_t len2 = 0;
  c->rc[1] = weft_retrieve(t, &again, &len2);
  c->stable = again == data && len2 == len && memcmp(again, "hello", 5) == 0;
  atomic_fetch_add(&c->done, 1);
}

Test(task, retrieve_returns_a_copy) {
  weft_region *r = th_region(1, 16);
  cr_assert_eq(weft_event_create(&g_retr.go), 0);
  th_define(r, "RETR", retrieve_copy, 1);
  static char buf[8] = "hello";
  g_retr.host_buf = buf;
  cr_assert_eq(weft_start(r, "RETR", buf, 5, NULL, NULL), 0);
  memcpy(buf, "XXXXX", 5); /* after the start: the task must not see it */
  cr_assert_eq(weft_event_post(g_retr.go), 0);
  th_wait_count(&g_retr.done, 1);
  th_finish(r);
  cr_assert_eq(g_retr.rc[0], 0);
  cr_assert_eq(g_retr.seen_len, 5);
  cr_assert_arr_eq(g_retr.seen, "hello", 5, "the task saw \"%.5s\"", g_retr.seen);
  cr_assert_eq(g_retr.same_pointer, 0, "the task got the caller's buffer");
  cr_assert_eq(g_retr.rc[1], 0);
  cr_assert_eq(g_retr.stable, 1);
  weft_event_destroy(g_retr.go);
}

static void retrieve_none(weft_task *t) {
  g_retr.none_data = (const void *)1;
  g_retr.none_len = 99;
  g_retr.rc[0] = weft_retrieve(t, &g_retr.none_data, &g_retr.none_len);
  atomic_fetch_add(&g_retr.done, 1);
}

Test(task, retrieve_without_data) {
  weft_region *r = th_region(1, 16);
  th_define(r, "NONE", retrieve_none, 1);
  cr_assert_eq(weft_start(r, "NONE", NULL, 0, NULL, NULL), 0);
  th_wait_count(&g_retr.done, 1);
  th_finish(r);
  cr_assert_eq(g_retr.rc[0], 0);
  cr_assert_null(g_retr.none_data);
  cr_assert_eq(g_retr.none_len, 0);
}

static void retrieve_big(weft_task *t) {
  const unsigned char *data = NULL;
  size_t len = 0;
  g_retr.rc[0] = weft_retrieve(t, (const void **)&data, &len);
  int ok = data != NULL && len == BIG;
  for (size_t i = 0; ok && i < len; i++)
    ok = data[i] == (unsigned char)(i * 7 + 3);
  g_retr.big_ok = ok;
  g_retr.rc[1] = weft_retrieve(t, NULL, &len);
  g_retr.rc[2] = weft_retrieve(t, (const void **)&data, NULL);
  atomic_fetch_add(&g_retr.done, 1);
}

Test(task, retrieve_large_data_and_null_arguments) {
  weft_region *r = th_region(1, 16);
  th_define(r, "BIGDATA", retrieve_big, 1);
  unsigned char *buf = malloc(BIG);
  cr_assert_not_null(buf);
  for (size_t i = 0; i < BIG; i++)
    buf[i] = (unsigned char)(i * 7 + 3);
  cr_assert_eq(weft_start(r, "BIGDATA", buf, BIG, NULL, NULL), 0);
  memset(buf, 0, BIG);
  free(buf);
  th_wait_count(&g_retr.done, 1);
  th_finish(r);
  cr_assert_eq(g_retr.rc[0], 0);
  cr_assert_eq(g_retr.big_ok, 1);
  cr_assert_eq(g_retr.rc[1], WEFT_EINVAL);
  cr_assert_eq(g_retr.rc[2], WEFT_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* weft_getmain / weft_freemain                                              */
/* ------------------------------------------------------------------------ */

typedef struct getmain_ctx {
  size_t bad_size;       /* a size whose block was wrong (0: none) */
  const char *what;      /* what was wrong */
  int rc[8];
  void *kept;            /* a block left for the task end to free */
  atomic_long done;
} getmain_ctx;

static getmain_ctx g_gm;

/* A block of size from getmain: non-NULL, 16-byte aligned, zeroed. */
static const char *check_block(const unsigned char *p, size_t size) {
  if (p == NULL)
    return "NULL";
  if ((uintptr_t)p % 16 != 0)
    return "not 16-byte aligned";
  for (size_t i = 0; i < size; i++)
    if (p[i] != 0)
      return "not zeroed";
  return NULL;
}

static void getmain_sizes(weft_task *t) {
  getmain_ctx *c = TH_CTX(t, getmain_ctx);
  static const size_t sizes[] = {1, 7, 15, 16, 17, 100, 4096, 65536, 1 << 20};
  for (int round = 0; round < 3 && c->what == NULL; round++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      unsigned char *p = weft_getmain(t, sizes[i]);
      c->what = check_block(p, sizes[i]);
      if (c->what != NULL) {
        c->bad_size = sizes[i];
        break;
      }
      memset(p, 0xFF, sizes[i]); /* dirty it: a reuse must be zeroed again */
      if (round < 2 && weft_freemain(t, p) != 0) {
        c->what = "freemain failed";
        c->bad_size = sizes[i];
        break;
      }
      weft_yield(t);
    }
  }
  atomic_fetch_add(&c->done, 1);
}

Test(task, getmain_is_zeroed_and_aligned) {
  weft_region *r = th_region(2, 16);
  th_define(r, "GETMAIN", getmain_sizes, 1);
  for (int i = 0; i < 4; i++)
    th_start(r, "GETMAIN", &g_gm, i);
  th_wait_count(&g_gm.done, 4);
  th_finish(r);
  cr_assert_null(g_gm.what, "getmain(%zu): %s", g_gm.bad_size, g_gm.what);
}

static void freemain_errors(weft_task *t) {
  getmain_ctx *c = TH_CTX(t, getmain_ctx);
  int local = 0;
  void *p = weft_getmain(t, 64);
  c->rc[0] = weft_freemain(t, p);
  c->rc[1] = weft_freemain(t, p);          /* twice */
  c->rc[2] = weft_freemain(t, &local);     /* not from getmain */
  void *q = weft_getmain(t, 64);
  c->rc[3] = weft_freemain(t, (char *)q + 16); /* inside a block */
  c->rc[4] = weft_freemain(t, q);
  c->kept = weft_getmain(t, 128);          /* freed at task end */
  atomic_fetch_add(&c->done, 1);
}

Test(task, freemain_errors) {
  weft_region *r = th_region(1, 16);
  th_define(r, "FREEMAIN", freemain_errors, 1);
  th_start(r, "FREEMAIN", &g_gm, 0);
  th_wait_count(&g_gm.done, 1);
  th_finish(r);
  static const int want[5] = {0, WEFT_ENOTFOUND, WEFT_ENOTFOUND, WEFT_ENOTFOUND, 0};
  for (int i = 0; i < 5; i++)
    cr_assert_eq(g_gm.rc[i], want[i], "call %d: %s, expected %s", i, weft_err_name(g_gm.rc[i]),
                 weft_err_name(want[i]));
  cr_assert_not_null(g_gm.kept);
}

/* Another task's block is not this task's. */
typedef struct two_ctx {
  weft_event *go;        /* the owner waits on it while the other tries */
  void *block;           /* the owner's block */
  weft_task *owner;      /* the owner's task pointer */
  atomic_int ready;
  int rc[4];
  void *other_getmain;   /* getmain(owner) called by the other task */
  atomic_long done;
} two_ctx;

static two_ctx g_two;

static void block_owner(weft_task *t) {
  two_ctx *c = TH_CTX(t, two_ctx);
  c->block = weft_getmain(t, 256);
  c->owner = t;
  atomic_store(&c->ready, 1);
  weft_event_wait(t, c->go, WEFT_WAIT_FOREVER);
  c->rc[1] = weft_freemain(t, c->block);
  atomic_fetch_add(&c->done, 1);
}

static void block_thief(weft_task *t) {
  two_ctx *c = TH_CTX(t, two_ctx);
  c->rc[0] = weft_freemain(t, c->block);
  c->other_getmain = weft_getmain(c->owner, 16);
  c->rc[2] = weft_yield(c->owner);
  c->rc[3] = weft_delay(c->owner, 1);
  weft_event_post(c->go);
  atomic_fetch_add(&c->done, 1);
}

Test(task, another_tasks_storage_and_pointer) {
  weft_region *r = th_region(2, 16);
  cr_assert_eq(weft_event_create(&g_two.go), 0);
  th_define(r, "OWNER", block_owner, 1);
  th_define(r, "THIEF", block_thief, 1);
  th_start(r, "OWNER", &g_two, 0);
  th_wait_until(atomic_load(&g_two.ready));
  th_start(r, "THIEF", &g_two, 0);
  th_wait_count(&g_two.done, 2);
  th_finish(r);
  cr_assert_eq(g_two.rc[0], WEFT_ENOTFOUND, "%s", weft_err_name(g_two.rc[0]));
  cr_assert_eq(g_two.rc[1], 0, "%s", weft_err_name(g_two.rc[1]));
  cr_assert_null(g_two.other_getmain, "getmain for another task");
  cr_assert_eq(g_two.rc[2], WEFT_ESTATE, "yield(other): %s", weft_err_name(g_two.rc[2]));
  cr_assert_eq(g_two.rc[3], WEFT_ESTATE, "delay(other): %s", weft_err_name(g_two.rc[3]));
  weft_event_destroy(g_two.go);
}

/* ------------------------------------------------------------------------ */
/* weft_link and COMMAREAs                                                   */
/* ------------------------------------------------------------------------ */

typedef struct comm {
  int in, out;
  int levels;            /* LINK levels entered */
  int depth_rc;          /* the code that stopped the recursion */
  uint64_t task_no;      /* the linked program's task number */
  void *seen_ptr;        /* what weft_commarea said */
  size_t seen_len;
  char retrieved[8];     /* the start data, seen from a linked program */
} comm;

typedef struct link_ctx {
  comm area;
  int rc[8];
  void *top_ptr;         /* weft_commarea at the top level */
  size_t top_len;
  void *null_ptr;        /* weft_commarea in a LINK without a COMMAREA */
  size_t null_len;
  void *after_ptr;       /* SUB's COMMAREA after its own nested LINK */
  uint64_t top_no;
  atomic_long done;
} link_ctx;

static link_ctx g_link;

/* Doubles in into out and records what it sees. */
static void sub_program(weft_task *t) {
  void *p = NULL;
  size_t len = 0;
  weft_commarea(t, &p, &len);
  comm *c = p;
  if (c == NULL) {
    g_link.null_ptr = (void *)1;
    g_link.null_len = 99;
    weft_commarea(t, &g_link.null_ptr, &g_link.null_len);
    return;
  }
  c->seen_ptr = p;
  c->seen_len = len;
  c->out = c->in * 2;
  c->task_no = weft_task_number(t);
  const void *data = NULL;
  size_t dlen = 0;
  if (weft_retrieve(t, &data, &dlen) == 0 && dlen == 5)
    memcpy(c->retrieved, data, 5);
  /* A nested LINK with another COMMAREA, then ours is back. */
  int inner = 0;
  weft_link(t, "INNER", &inner, sizeof inner);
  weft_commarea(t, &g_link.after_ptr, &len);
}

static void inner_program(weft_task *t) {
  int *p = NULL;
  size_t len = 0;
  if (weft_commarea(t, (void **)&p, &len) == 0 && p != NULL && len == sizeof *p)
    *p = 1;
}

/* Data: "hello". */
static void link_top(weft_task *t) {
  link_ctx *c = &g_link;
  c->top_no = weft_task_number(t);
  c->rc[0] = weft_commarea(t, &c->top_ptr, &c->top_len);
  c->area.in = 21;
  c->rc[1] = weft_link(t, "SUB", &c->area, sizeof c->area);
  c->rc[2] = weft_link(t, "SUB", NULL, 0);
  c->rc[3] = weft_link(t, "NOSUCH", &c->area, sizeof c->area);
  c->rc[4] = weft_link(t, NULL, NULL, 0);
  c->rc[5] = weft_link(t, "sub", NULL, 0); /* case-sensitive */
  atomic_fetch_add(&c->done, 1);
}

Test(task, link_runs_a_program_with_a_commarea) {
  weft_region *r = th_region(1, 16);
  th_program(r, "SUB", sub_program);
  th_program(r, "INNER", inner_program);
  th_define(r, "LINKTOP", link_top, 1);
  g_link.top_ptr = (void *)1;
  g_link.top_len = 99;
  cr_assert_eq(weft_start(r, "LINKTOP", "hello", 5, NULL, NULL), 0);
  th_wait_count(&g_link.done, 1);
  th_finish(r);
  cr_assert_eq(g_link.rc[0], 0);
  cr_assert_null(g_link.top_ptr, "COMMAREA at the top level");
  cr_assert_eq(g_link.top_len, 0);
  cr_assert_eq(g_link.rc[1], 0, "%s", weft_err_name(g_link.rc[1]));
  cr_assert_eq(g_link.area.out, 42, "the linked program did not update the COMMAREA");
  cr_assert_eq(g_link.area.seen_ptr, &g_link.area, "the COMMAREA was not passed by reference");
  cr_assert_eq(g_link.area.seen_len, sizeof g_link.area);
  cr_assert_eq(g_link.area.task_no, g_link.top_no, "LINK ran in another task");
  cr_assert_arr_eq(g_link.area.retrieved, "hello", 5);
  cr_assert_eq(g_link.after_ptr, &g_link.area, "the COMMAREA after a nested LINK");
  cr_assert_eq(g_link.rc[2], 0);
  cr_assert_null(g_link.null_ptr);
  cr_assert_eq(g_link.null_len, 0);
  cr_assert_eq(g_link.rc[3], WEFT_ENOPROG, "%s", weft_err_name(g_link.rc[3]));
  cr_assert_eq(g_link.rc[4], WEFT_EINVAL, "%s", weft_err_name(g_link.rc[4]));
  cr_assert_eq(g_link.rc[5], WEFT_ENOPROG, "%s", weft_err_name(g_link.rc[5]));
}

/* Links to itself until refused. */
static void deep(weft_task *t) {
  comm *c = NULL;
  size_t len = 0;
  weft_commarea(t, (void **)&c, &len);
  c->levels++;
  int rc = weft_link(t, "DEEP", c, sizeof *c);
  if (rc != 0 && c->depth_rc == 0)
    c->depth_rc = rc;
}

static void deep_top(weft_task *t) {
  g_link.rc[0] = weft_link(t, "DEEP", &g_link.area, sizeof g_link.area);
  /* The limit is per nesting, not per task: it works again. */
  g_link.area.out = g_link.area.levels;
  g_link.area.levels = 0;
  g_link.area.depth_rc = 0;
  g_link.rc[1] = weft_link(t, "DEEP", &g_link.area, sizeof g_link.area);
  atomic_fetch_add(&g_link.done, 1);
}

Test(task, link_depth_is_limited) {
  weft_region *r = th_region(1, 16);
  th_program(r, "DEEP", deep);
  th_define(r, "DEEPTOP", deep_top, 1);
  th_start(r, "DEEPTOP", NULL, 0);
  th_wait_count(&g_link.done, 1);
  th_finish(r);
  cr_assert_eq(g_link.rc[0], 0);
  cr_assert_eq(g_link.area.out, WEFT_MAX_LINK_DEPTH, "%d nested LINK levels ran",
               g_link.area.out);
  cr_assert_eq(g_link.rc[1], 0);
  cr_assert_eq(g_link.area.levels, WEFT_MAX_LINK_DEPTH);
  cr_assert_eq(g_link.area.depth_rc, WEFT_ELIMIT, "%s", weft_err_name(g_link.area.depth_rc));
}

/* ------------------------------------------------------------------------ */
/* Wrong context                                                             */
/* ------------------------------------------------------------------------ */

typedef struct ctx_ctx {
  weft_event *go;
  weft_event *other;     /* an event for weft_event_wait calls */
  weft_task *task;       /* the blocked task */
  uint64_t task_no;      /* the number it saw */
  weft_region *r;
  atomic_int ready;
  int rc[4];             /* host-only calls made from the task */
  weft_region *created;  /* what weft_region_create gave a task */
  atomic_long done;
} ctx_ctx;

static ctx_ctx g_cx;

/* Publishes its pointer and blocks until the host is done with it. */
static void blocked_task(weft_task *t) {
  ctx_ctx *c = TH_CTX(t, ctx_ctx);
  c->task = t;
  c->task_no = weft_task_number(t);
  atomic_store(&c->ready, 1);
  weft_event_wait(t, c->go, WEFT_WAIT_FOREVER);
  atomic_fetch_add(&c->done, 1);
}

static int ret_zero(void *arg) {
  return 0;
}

static void dummy_handler(weft_task *t, const char *code, void *arg) {}

Test(task, task_calls_from_the_host_are_estate) {
  weft_region *r = th_region(1, 16);
  cr_assert_eq(weft_event_create(&g_cx.go), 0);
  cr_assert_eq(weft_event_create(&g_cx.other), 0);
  weft_event_post(g_cx.other);
  th_define(r, "BLOCKED", blocked_task, 1);
  uint64_t no = th_start(r, "BLOCKED", &g_cx, 0);
  th_wait_until(atomic_load(&g_cx.ready));
  weft_task *t = g_cx.task;
  const void *data;
  size_t len;
  void *p;
  int res = 0, comm = 0;
  cr_assert_eq(weft_retrieve(t, &data, &len), WEFT_ESTATE);
  cr_assert_eq(weft_commarea(t, &p, &len), WEFT_ESTATE);
  cr_assert_eq(weft_yield(t), WEFT_ESTATE);
  cr_assert_eq(weft_delay(t, 1), WEFT_ESTATE);
  cr_assert_eq(weft_link(t, "BLOCKED", &comm, sizeof comm), WEFT_ESTATE);
  cr_assert_eq(weft_link(t, "NOSUCH", NULL, 0), WEFT_ESTATE);
  cr_assert_eq(weft_enq(t, "RES", 3, 0), WEFT_ESTATE);
  cr_assert_eq(weft_deq(t, "RES", 3), WEFT_ESTATE);
  cr_assert_eq(weft_offload(t, ret_zero, NULL, &res), WEFT_ESTATE);
  cr_assert_null(weft_getmain(t, 16));
  cr_assert_eq(weft_freemain(t, &res), WEFT_ESTATE);
  cr_assert_eq(weft_handle_abend(t, dummy_handler, NULL), WEFT_ESTATE);
  cr_assert_eq(weft_event_wait(t, g_cx.other, 0), WEFT_ESTATE);
  cr_assert_eq(weft_event_wait(t, g_cx.other, WEFT_WAIT_FOREVER), WEFT_ESTATE);
  /* Facts may be read from any thread while the task lives. */
  cr_assert_eq(weft_task_number(t), no);
  cr_assert_eq(g_cx.task_no, no);
  cr_assert_str_eq(weft_task_tranid(t), "BLOCKED");
  cr_assert_eq(weft_task_region(t), r);
  cr_assert_lt(weft_task_worker(t), 1);
  /* None of that disturbed the task. */
  cr_assert_eq(atomic_load(&g_cx.done), 0);
  cr_assert_eq(weft_event_post(g_cx.go), 0);
  th_wait_count(&g_cx.done, 1);
  th_finish(r);
  weft_event_destroy(g_cx.go);
  weft_event_destroy(g_cx.other);
}

/* NULL task pointers are refused. */
Test(task, null_task_pointers) {
  const void *data;
  size_t len;
  void *p;
  int rc[] = {
      weft_retrieve(NULL, &data, &len), weft_commarea(NULL, &p, &len),
      weft_yield(NULL),                 weft_delay(NULL, 1),
      weft_link(NULL, "X", NULL, 0),    weft_enq(NULL, "R", 1, 0),
      weft_deq(NULL, "R", 1),           weft_offload(NULL, ret_zero, NULL, NULL),
      weft_freemain(NULL, &len),        weft_handle_abend(NULL, dummy_handler, NULL),
      weft_event_wait(NULL, NULL, 0),
  };
  for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++)
    cr_assert_eq(rc[i], WEFT_EINVAL, "call %zu: %s", i, weft_err_name(rc[i]));
  cr_assert_null(weft_getmain(NULL, 16));
}

/* Host-thread calls made from a task. */
static void host_calls_from_task(weft_task *t) {
  ctx_ctx *c = TH_CTX(t, ctx_ctx);
  weft_region_config cfg = th_config(1, 4);
  c->created = NULL;
  c->rc[0] = weft_region_create(&cfg, &c->created);
  c->rc[1] = weft_region_shutdown(weft_task_region(t), WEFT_SHUTDOWN_NORMAL, 1000);
  c->rc[2] = weft_region_shutdown(weft_task_region(t), WEFT_SHUTDOWN_IMMEDIATE, 1000);
  /* The region is not shutting down: starts still work. */
  c->rc[3] = weft_start(weft_task_region(t), "NOSUCH", NULL, 0, NULL, NULL);
  atomic_fetch_add(&c->done, 1);
}

Test(task, host_calls_from_a_task_are_estate) {
  weft_region *r = th_region(2, 16);
  th_define(r, "HOSTCALL", host_calls_from_task, 1);
  th_start(r, "HOSTCALL", &g_cx, 0);
  th_wait_count(&g_cx.done, 1);
  cr_assert_eq(g_cx.rc[0], WEFT_ESTATE, "create: %s", weft_err_name(g_cx.rc[0]));
  cr_assert_null(g_cx.created);
  cr_assert_eq(g_cx.rc[1], WEFT_ESTATE, "shutdown: %s", weft_err_name(g_cx.rc[1]));
  cr_assert_eq(g_cx.rc[2], WEFT_ESTATE, "shutdown: %s", weft_err_name(g_cx.rc[2]));
  cr_assert_eq(g_cx.rc[3], WEFT_ENOTRAN, "%s", weft_err_name(g_cx.rc[3]));
  th_finish(r); /* the region's own shutdown still works */
}
