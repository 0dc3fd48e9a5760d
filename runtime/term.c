/* term.c - terminals: the host's sessions that tasks talk to with
 * weft_send and weft_receive.
 *
 * Ownership: tm_lock guards every mutable field, and the host's callbacks
 * run under it, so none runs after weft_terminal_release returns (the host
 * must not hold, while calling weft_terminal_release or _input, a lock its
 * callbacks take). A terminal is freed when its last reference goes: the
 * host holds one until release, an attached task one until it ends. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

struct weft_terminal {
  weft_region *tm_region;
  char tm_id[WEFT_NAME_MAX + 1];
  weft_terminal_ops tm_ops;
  void *tm_ctx;
  _Atomic int64_t tm_refs;
  weft__lock tm_lock;
  bool tm_closed;        /* released by the host */
  bool tm_busy;          /* a task is attached */
  uint64_t tm_task_no;   /* ... this one */
  weft_task *tm_waiter;  /* the task waiting in weft_receive */
  bool tm_has_input;     /* a line kept for the next receive */
  void *tm_input;
  size_t tm_input_len;
  void *tm_record;       /* 3270: the inbound record of tm_input (tm_input is its text) */
  size_t tm_record_len;
  weft_terminal_device tm_device; /* set by the host before the first task */
  _Atomic unsigned tm_recv_ms; /* the "forever" of weft_receive; 0: forever */
};

static void term_unref(weft_terminal *term) {
  if (atomic_fetch_sub(&term->tm_refs, 1) == 1) {
    free(term->tm_record);
    free(term->tm_input);
    free(term);
  }
}

static int terminal_create(weft_region *r, const char *termid, const weft_terminal_ops *ops,
                           void *ctx, weft_terminal **out) {
  if (r == NULL || ops == NULL || ops->send == NULL || out == NULL)
    return WEFT_EINVAL;
  if (weft__name_pack(termid) == 0)
    return WEFT_EBADNAME;
  weft_terminal *term = calloc(1, sizeof *term);
  if (term == NULL)
    return WEFT_ENOMEM;
  term->tm_region = r;
  strcpy(term->tm_id, termid);
  term->tm_ops = *ops;
  term->tm_ctx = ctx;
  term->tm_refs = 1;
  weft__lock_init(&term->tm_lock);
  *out = term;
  return 0;
}

const char *weft_terminal_id(const weft_terminal *term) {
  return term != NULL ? term->tm_id : "";
}

void weft_terminal_set_receive_timeout(weft_terminal *term, unsigned ms) {
  if (term != NULL)
    atomic_store(&term->tm_recv_ms, ms);
}

/* Keep a copy of one line, and of a 3270's record when rec is not NULL
 * (tm_lock held). */
static int input_keep(weft_terminal *term, const void *data, size_t len, const void *rec,
                      size_t rec_len) {
  void *copy = malloc(len ? len : 1), *rcopy = rec != NULL ? malloc(rec_len ? rec_len : 1) : NULL;
  if (copy == NULL || (rec != NULL && rcopy == NULL)) {
    free(copy);
    free(rcopy);
    return WEFT_ENOMEM;
  }
  if (len)
    memcpy(copy, data, len);
  if (rec_len)
    memcpy(rcopy, rec, rec_len);
  term->tm_input = copy;
  term->tm_input_len = len;
  term->tm_record = rcopy;
  term->tm_record_len = rec_len;
  term->tm_has_input = true;
  return 0;
}

/* Drop the kept input (tm_lock held). */
static void input_drop(weft_terminal *term) {
  free(term->tm_input);
  free(term->tm_record);
  term->tm_input = term->tm_record = NULL;
  term->tm_input_len = term->tm_record_len = 0;
  term->tm_has_input = false;
}

static int terminal_input(weft_terminal *term, const void *data, size_t len, const void *rec,
                          size_t rec_len) {
  int rc;
  weft__lock_acquire(&term->tm_lock);
  if (term->tm_closed)
    rc = WEFT_ESTATE;
  else if (term->tm_has_input)
    rc = WEFT_EBUSY;
  else if ((rc = input_keep(term, data, len, rec, rec_len)) == 0 && term->tm_waiter != NULL) {
    weft_task *w = term->tm_waiter;
    if (weft__task_claim(w)) {
      term->tm_waiter = NULL;
      w->tk_wlinked = false;
      weft__task_wake(w, 0);
    }
  }
  weft__lock_release(&term->tm_lock);
  return rc;
}

int weft_terminal_input(weft_terminal *term, const void *data, size_t len) {
  if (term == NULL || (data == NULL && len != 0))
    return WEFT_EINVAL;
  return terminal_input(term, data, len, NULL, 0);
}

int weft_terminal_input_record(weft_terminal *term, const void *rec, size_t len,
                               const char *text, size_t text_len) {
  if (term == NULL || rec == NULL || (text == NULL && text_len != 0))
    return WEFT_EINVAL;
  if (term->tm_device.kind != WEFT_DEVICE_3270)
    return WEFT_ENOTSUP;
  return terminal_input(term, text, text_len, rec, len);
}

void weft_terminal_discard_input(weft_terminal *term) {
  if (term == NULL)
    return;
  weft__lock_acquire(&term->tm_lock);
  if (term->tm_has_input)
    input_drop(term);
  weft__lock_release(&term->tm_lock);
}

int weft_terminal_set_device(weft_terminal *term, const weft_terminal_device *dev) {
  if (term == NULL || dev == NULL)
    return WEFT_EINVAL;
  if (dev->kind == WEFT_DEVICE_3270 &&
      (dev->model < 2 || dev->model > 5 || term->tm_ops.send_record == NULL || dev->rows == 0 ||
       dev->cols == 0))
    return WEFT_EINVAL;
  if (dev->kind != WEFT_DEVICE_3270 && dev->kind != WEFT_DEVICE_LINE)
    return WEFT_EINVAL;
  weft__lock_acquire(&term->tm_lock);
  term->tm_device = *dev;
  term->tm_device.type[sizeof term->tm_device.type - 1] = '\0';
  weft__lock_release(&term->tm_lock);
  return 0;
}

void weft_terminal_release(weft_terminal *term) {
  if (term == NULL)
    return;
  uint64_t purge = 0;
  weft__lock_acquire(&term->tm_lock);
  term->tm_closed = true;
  if (term->tm_waiter != NULL && weft__task_claim(term->tm_waiter)) {
    weft_task *w = term->tm_waiter;
    term->tm_waiter = NULL;
    w->tk_wlinked = false;
    weft__task_wake(w, WEFT_ESHUTDOWN);
  } else if (term->tm_busy) {
    purge = term->tm_task_no; /* abend it wherever it waits or runs */
  }
  weft__lock_release(&term->tm_lock);
  if (purge != 0)
    weft__purge_request(term->tm_region, purge, "ATNI");
  term_unref(term);
}

/* ---- Attaching tasks --------------------------------------------------------- */

int weft__term_attach(weft_terminal *term, weft_task *t) {
  int rc = 0;
  weft__lock_acquire(&term->tm_lock);
  if (term->tm_closed)
    rc = WEFT_ESTATE;
  else if (term->tm_busy)
    rc = WEFT_EBUSY;
  else {
    term->tm_busy = true;
    term->tm_task_no = t->tk_no;
    atomic_fetch_add(&term->tm_refs, 1);
    t->tk_term = term;
  }
  weft__lock_release(&term->tm_lock);
  return rc;
}

void weft__term_detach(weft_terminal *term) {
  weft__lock_acquire(&term->tm_lock);
  term->tm_busy = false;
  weft__lock_release(&term->tm_lock);
  term_unref(term);
}

/* The attached task ended (its UOW is settled). Task context. */
void weft__term_task_end(weft_task *t) {
  weft_terminal *term = t->tk_term;
  if (term == NULL)
    return;
  bool next = t->tk_ret_tran != NULL && !(t->tk_flags & WEFT__TF_ABENDED);
  weft_task_end end = {
      .task_no = t->tk_no,
      .tranid = t->tk_tran->tr_id,
      .abcode = t->tk_abcode,
      .next_tranid = next ? t->tk_ret_tran->tr_id : NULL,
      .commarea = next ? t->tk_ret_ca : NULL,
      .commarea_len = next ? t->tk_ret_len : 0,
  };
  t->tk_term = NULL; /* first: a fault in the callback must not come back here */
  weft__lock_acquire(&term->tm_lock);
  term->tm_busy = false;
  term->tm_waiter = NULL;
  if (term->tm_has_input) /* type-ahead the task did not read: dropped */
    input_drop(term);
  if (!term->tm_closed && term->tm_ops.ended != NULL)
    term->tm_ops.ended(term->tm_ctx, &end);
  weft__lock_release(&term->tm_lock);
  t->tk_ret_tran = NULL; /* the terminal starts it, with its next input */
  term_unref(term);
}

/* ---- Task calls ------------------------------------------------------------------ */

static WEFT_NORETURN void term_gone(weft_task *t) {
  weft__task_abend(t, "ATNI");
}

/* The task and its terminal, or an error. */
static int term_of(weft_task *t, weft_terminal **term) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  if ((*term = t->tk_term) == NULL)
    return WEFT_ESTATE;
  return 0;
}

int weft_send(weft_task *t, const void *data, size_t len) {
  weft_terminal *term;
  int rc = term_of(t, &term);
  if (rc != 0)
    return rc;
  if (data == NULL && len != 0)
    return WEFT_EINVAL;
  bool add_nl = len == 0 || ((const char *)data)[len - 1] != '\n';
  char small[512];
  char *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
  if (buf == NULL)
    return WEFT_ENOMEM;
  if (len)
    memcpy(buf, data, len);
  if (add_nl)
    buf[len++] = '\n';
  weft__lock_acquire(&term->tm_lock);
  bool closed = term->tm_closed;
  if (!closed)
    closed = term->tm_ops.send(term->tm_ctx, buf, len) != 0;
  weft__lock_release(&term->tm_lock);
  if (buf != small)
    free(buf);
  if (closed)
    term_gone(t);
  return 0;
}

int weft_sendf(weft_task *t, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    return WEFT_EINVAL;
  return weft_send(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* After a receive timeout: stop being the waiter. Task. */
static void term_wait_detach(weft_task *t) {
  weft_terminal *term = t->tk_wait_obj;
  weft__lock_acquire(&term->tm_lock);
  if (term->tm_waiter == t)
    term->tm_waiter = NULL;
  t->tk_wlinked = false;
  weft__lock_release(&term->tm_lock);
}

/* Copy the kept line out (tm_lock held) and drop it. */
static int input_take(weft_terminal *term, void *buf, size_t cap, size_t *len) {
  int rc = 0;
  if (len != NULL)
    *len = term->tm_input_len;
  if (term->tm_input_len > cap)
    rc = WEFT_ERANGE;
  else if (term->tm_input_len)
    memcpy(buf, term->tm_input, term->tm_input_len);
  input_drop(term);
  return rc;
}

/* Wait until input is kept (tm_lock held on return, on success): 0 or
 * WEFT_ETIMEDOUT (not held); a gone terminal abends the task. Task. */
static int input_wait(weft_task *t, weft_terminal *term, unsigned timeout_ms) {
  int rc;
  unsigned limit = atomic_load(&term->tm_recv_ms);
  if (limit != 0 && timeout_ms > limit) /* the terminal's bound caps the program's */
    timeout_ms = limit;
  weft__lock_acquire(&term->tm_lock);
  if (term->tm_closed) {
    weft__lock_release(&term->tm_lock);
    term_gone(t);
  }
  if (!term->tm_has_input) {
    atomic_store_explicit(&t->tk_wait, WEFT__W_WAIT, memory_order_relaxed);
    term->tm_waiter = t;
    t->tk_wlinked = true;
    t->tk_wait_obj = term;
    t->tk_detach = term_wait_detach;
    if (term->tm_ops.receiving != NULL)
      term->tm_ops.receiving(term->tm_ctx);
    weft__lock_release(&term->tm_lock);
    rc = weft__task_wait(t, timeout_ms, WEFT_WAIT_TERMINAL);
    if (rc == WEFT_ETIMEDOUT)
      return rc;
    weft__lock_acquire(&term->tm_lock);
    if (term->tm_closed || !term->tm_has_input) {
      weft__lock_release(&term->tm_lock);
      term_gone(t);
    }
  }
  return 0;
}

int weft_receive(weft_task *t, void *buf, size_t cap, size_t *len, unsigned timeout_ms) {
  weft_terminal *term;
  int rc = term_of(t, &term);
  if (rc != 0)
    return rc;
  if (buf == NULL && cap != 0)
    return WEFT_EINVAL;
  if ((rc = input_wait(t, term, timeout_ms)) != 0)
    return rc;
  rc = input_take(term, buf, cap, len);
  weft__lock_release(&term->tm_lock);
  return rc;
}

int weft_task_device(weft_task *t, weft_terminal_device *out) {
  weft_terminal *term;
  int rc = term_of(t, &term);
  if (rc != 0)
    return rc;
  if (out == NULL)
    return WEFT_EINVAL;
  weft__lock_acquire(&term->tm_lock);
  *out = term->tm_device;
  weft__lock_release(&term->tm_lock);
  return 0;
}

/* ---- 3270 records (bms/ through runtime/taskapi.h) --------------------------- */

int weft__term_send_record(weft_task *t, const void *data, size_t len) {
  weft_terminal *term;
  int rc = term_of(t, &term);
  if (rc != 0)
    return rc;
  if (term->tm_device.kind != WEFT_DEVICE_3270)
    return WEFT_ENOTSUP;
  weft__lock_acquire(&term->tm_lock);
  bool closed = term->tm_closed;
  if (!closed)
    closed = term->tm_ops.send_record(term->tm_ctx, data, len) != 0;
  weft__lock_release(&term->tm_lock);
  if (closed)
    term_gone(t);
  return 0;
}

int weft__term_receive_record(weft_task *t, void *buf, size_t cap, size_t *len,
                              unsigned timeout_ms) {
  weft_terminal *term;
  int rc = term_of(t, &term);
  if (rc != 0)
    return rc;
  if (term->tm_device.kind != WEFT_DEVICE_3270)
    return WEFT_ENOTSUP;
  if ((rc = input_wait(t, term, timeout_ms)) != 0)
    return rc;
  *len = term->tm_record_len;
  if (term->tm_record == NULL)
    rc = WEFT_ENOTSUP; /* a line kept on a 3270: cannot happen from weftd */
  else if (term->tm_record_len > cap)
    rc = WEFT_ERANGE;
  else if (term->tm_record_len)
    memcpy(buf, term->tm_record, term->tm_record_len);
  input_drop(term);
  weft__lock_release(&term->tm_lock);
  return rc;
}

const char *weft_task_termid(const weft_task *t) {
  return t != NULL && t->tk_term != NULL ? t->tk_term->tm_id : "";
}

const char *weft_task_userid(const weft_task *t) {
  return t != NULL ? t->tk_userid : "";
}

/* ---- The ABI 2 entry points (sized structs; see runtime/abi.h) ---------- */

int weft_terminal_create_(weft_region *r, const char *termid, const weft_terminal_ops *ops,
                          size_t size, void *ctx, weft_terminal **out) {
  weft_terminal_ops buf;
  int rc;
  /* Hosts built before send_record pass the struct without it. */
  ops = weft__abi_in(&buf, sizeof buf, ops, size, offsetof(weft_terminal_ops, send_record), &rc);
  return rc != 0 ? rc : terminal_create(r, termid, ops, ctx, out);
}
