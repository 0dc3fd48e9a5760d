/* web.c - transactions over HTTP: exchanges between a host's HTTP listener
 * and the tasks that serve them (include/weft/http.h, docs/http.md).
 *
 * How a task finds its exchange: weft_http_start starts the task with a
 * 16-byte token as its start data (a magic and the exchange's id) and lists
 * the exchange in the region's pending list. The first weft_http_* call of
 * the task, or its end, reads the token, takes the exchange off the list and
 * keeps it in the task's slot of the gate subsystem. An id is never reused,
 * and only a listed exchange is found, so start data typed by a terminal
 * user cannot reach another's request.
 *
 * Two rows of the lifecycle table: the gate (before txn/) binds the
 * exchange at the task's end and, when the client has gone, makes a task
 * that ended normally count as abended ATNI so that txn/ backs its unit of
 * work out; the reply (after txn/) hands the response to the host once the
 * unit of work is settled.
 *
 * Ownership: an exchange's request fields are written by the host before
 * weft_http_start and read-only after. Its response fields belong to the
 * task that bound it. x_lock guards x_released and x_answered, and the done
 * callback runs under it. x_refs: the host's until release, the task's from
 * a successful start to the reply at its end (or the region's flush of a
 * start that never ran). The region state's w_lock guards the pending list
 * and the id counter. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/taskapi.h"
#include "runtime/types.h"
#include "web/web.h"
#include "weft/http.h"

#define TOKEN_MAGIC "\0WEFTHX\0" /* 8 bytes: no text line starts like this */
#define TOKEN_LEN 16
#define RSP_HEADERS_MAX 32
#define RSP_BODY_MAX (16u << 20)

typedef struct kv {
  char *name, *value;
} kv;

typedef struct kvlist {
  kv *v;
  size_t n, cap;
} kvlist;

struct weft_http_exchange {
  weft_region *x_region;
  uint64_t x_id;
  weft_http_done_fn x_done;
  void *x_ctx;
  _Atomic int x_refs;
  /* -- The request: the host's until started, then read-only ------------- */
  char *x_method, *x_path;
  kvlist x_params, x_query, x_headers;
  char *x_body; /* NUL-terminated */
  size_t x_body_len;
  /* -- Under x_lock ---------------------------------------------------------- */
  weft__lock x_lock;
  bool x_released; /* the host let go (the client is gone if unanswered) */
  bool x_answered; /* done was called */
  uint64_t x_task; /* the serving task, once started */
  /* -- The response: the bound task's ---------------------------------------- */
  int x_status;
  kvlist x_rsp;
  char *x_out;
  size_t x_out_len, x_out_cap;
  /* -- The pending list: under the region state's w_lock ---------------------- */
  weft_http_exchange *x_prev, *x_next;
  bool x_listed;
};

/* Per region. */
typedef struct web_state {
  weft__lock w_lock;
  weft_http_exchange *w_pending; /* started, not yet bound to their task */
  uint64_t w_next_id;
  _Atomic size_t w_n_pending;
} web_state;

/* ---- Field lists ---------------------------------------------------------------- */

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

static int kv_add(kvlist *l, const char *name, const char *value) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    kv *nv = realloc(l->v, cap * sizeof *nv);
    if (nv == NULL)
      return WEFT_ENOMEM;
    l->v = nv;
    l->cap = cap;
  }
  kv *e = &l->v[l->n];
  e->name = dup_str(name);
  e->value = dup_str(value);
  if (e->name == NULL || e->value == NULL) {
    free(e->name);
    free(e->value);
    return WEFT_ENOMEM;
  }
  l->n++;
  return 0;
}

static kv *kv_find(const kvlist *l, const char *name, bool nocase) {
  for (size_t i = 0; i < l->n; i++) {
    const char *a = l->v[i].name, *b = name;
    if (nocase) {
      while (*a && *b && (*a | 0x20) == (*b | 0x20))
        a++, b++;
      if (*a == '\0' && *b == '\0')
        return &l->v[i];
    } else if (strcmp(a, b) == 0) {
      return &l->v[i];
    }
  }
  return NULL;
}

static void kv_free(kvlist *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].value);
  }
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

/* ---- Exchanges -------------------------------------------------------------------- */

static void x_unref(weft_http_exchange *x) {
  if (atomic_fetch_sub(&x->x_refs, 1) != 1)
    return;
  free(x->x_method);
  free(x->x_path);
  kv_free(&x->x_params);
  kv_free(&x->x_query);
  kv_free(&x->x_headers);
  kv_free(&x->x_rsp);
  free(x->x_body);
  free(x->x_out);
  free(x);
}

int weft_http_exchange_create(weft_region *r, const char *method, const char *path,
                              weft_http_done_fn done, void *ctx, weft_http_exchange **out) {
  if (r == NULL || method == NULL || path == NULL || done == NULL || out == NULL)
    return WEFT_EINVAL;
  weft_http_exchange *x = calloc(1, sizeof *x);
  if (x == NULL)
    return WEFT_ENOMEM;
  x->x_region = r;
  x->x_done = done;
  x->x_ctx = ctx;
  x->x_refs = 1;
  x->x_status = 200;
  weft__lock_init(&x->x_lock);
  x->x_method = dup_str(method);
  x->x_path = dup_str(path);
  x->x_body = dup_str("");
  if (x->x_method == NULL || x->x_path == NULL || x->x_body == NULL) {
    x_unref(x);
    return WEFT_ENOMEM;
  }
  *out = x;
  return 0;
}

int weft_http_exchange_add(weft_http_exchange *x, int kind, const char *name, const char *value) {
  if (x == NULL || name == NULL || value == NULL)
    return WEFT_EINVAL;
  switch (kind) {
    case WEFT_HTTP_PARAM:
      return kv_add(&x->x_params, name, value);
    case WEFT_HTTP_QUERY:
      return kv_add(&x->x_query, name, value);
    case WEFT_HTTP_HEADER:
      return kv_add(&x->x_headers, name, value);
    default:
      return WEFT_EINVAL;
  }
}

int weft_http_exchange_body(weft_http_exchange *x, const void *data, size_t len) {
  if (x == NULL || (data == NULL && len != 0))
    return WEFT_EINVAL;
  char *b = malloc(len + 1);
  if (b == NULL)
    return WEFT_ENOMEM;
  if (len)
    memcpy(b, data, len);
  b[len] = '\0';
  free(x->x_body);
  x->x_body = b;
  x->x_body_len = len;
  return 0;
}

static web_state *state_of(weft_region *r) {
  return weft__subsys_state(r, &weft__web_gate_subsys);
}

static void unlist(web_state *ws, weft_http_exchange *x) {
  if (!x->x_listed)
    return;
  if (x->x_prev != NULL)
    x->x_prev->x_next = x->x_next;
  else
    ws->w_pending = x->x_next;
  if (x->x_next != NULL)
    x->x_next->x_prev = x->x_prev;
  x->x_listed = false;
  atomic_fetch_sub(&ws->w_n_pending, 1);
}

int weft_http_start(weft_region *r, const char *tranid, weft_http_exchange *x,
                    const weft_start_opts *opts, uint64_t *task_no) {
  web_state *ws = r != NULL ? state_of(r) : NULL;
  if (ws == NULL || x == NULL || x->x_region != r || x->x_listed || x->x_task != 0)
    return WEFT_EINVAL;
  unsigned char token[TOKEN_LEN];
  weft__lock_acquire(&ws->w_lock);
  x->x_id = ++ws->w_next_id;
  x->x_next = ws->w_pending;
  x->x_prev = NULL;
  if (ws->w_pending != NULL)
    ws->w_pending->x_prev = x;
  ws->w_pending = x;
  x->x_listed = true;
  atomic_fetch_add(&ws->w_n_pending, 1);
  atomic_fetch_add(&x->x_refs, 1); /* the task's */
  weft__lock_release(&ws->w_lock);
  memcpy(token, TOKEN_MAGIC, 8);
  memcpy(token + 8, &x->x_id, 8);
  weft_start_opts o;
  weft_start_opts_init(&o);
  if (opts != NULL)
    o = *opts;
  o.commarea = NULL;
  o.commarea_len = 0;
  o.terminal = NULL;
  uint64_t no = 0;
  int rc = weft_start(r, tranid, token, sizeof token, &o, &no);
  if (rc != 0) {
    weft__lock_acquire(&ws->w_lock);
    unlist(ws, x);
    weft__lock_release(&ws->w_lock);
    atomic_fetch_sub(&x->x_refs, 1); /* the host still holds one */
    return rc;
  }
  weft__lock_acquire(&x->x_lock);
  x->x_task = no;
  weft__lock_release(&x->x_lock);
  if (task_no != NULL)
    *task_no = no;
  return 0;
}

int weft_http_exchange_release(weft_http_exchange *x) {
  if (x == NULL)
    return 0;
  weft__lock_acquire(&x->x_lock);
  bool gone = !x->x_answered && x->x_task != 0;
  uint64_t task = x->x_task;
  x->x_released = true;
  weft__lock_release(&x->x_lock);
  if (gone)
    weft__purge_request(x->x_region, task, "ATNI");
  x_unref(x);
  return gone;
}

/* ---- Binding a task to its exchange (task) ------------------------------------------ */

/* The exchange the token in t's start data names, taken off the pending
 * list; NULL when t serves none. */
static weft_http_exchange *bind_token(weft_task *t) {
  const void *data;
  size_t len;
  if (weft_retrieve(t, &data, &len) != 0 || len != TOKEN_LEN || memcmp(data, TOKEN_MAGIC, 8) != 0)
    return NULL;
  web_state *ws = state_of(weft__task_region(t));
  uint64_t id;
  memcpy(&id, (const char *)data + 8, 8);
  weft__lock_acquire(&ws->w_lock);
  weft_http_exchange *x = ws->w_pending;
  while (x != NULL && x->x_id != id)
    x = x->x_next;
  if (x != NULL)
    unlist(ws, x);
  weft__lock_release(&ws->w_lock);
  return x;
}

/* t's exchange, bound at its first call. */
static weft_http_exchange *exchange_of(weft_task *t) {
  void **slot = weft__task_slot(t, &weft__web_gate_subsys);
  if (*slot == NULL && atomic_load(&state_of(weft__task_region(t))->w_n_pending) > 0)
    *slot = bind_token(t);
  return *slot;
}

static bool released(weft_http_exchange *x) {
  weft__lock_acquire(&x->x_lock);
  bool r = x->x_released;
  weft__lock_release(&x->x_lock);
  return r;
}

/* The calling task's exchange for a task call, or NULL (and *rc). A
 * released one (the client is gone) abends the task ATNI. */
static weft_http_exchange *call_exchange(weft_task *t, int *rc) {
  if ((*rc = weft__task_check(t)) != 0)
    return NULL;
  weft_http_exchange *x = exchange_of(t);
  if (x == NULL) {
    *rc = WEFT_ESTATE;
    return NULL;
  }
  if (released(x))
    weft__task_abend(t, "ATNI");
  return x;
}

/* ---- The program's calls ---------------------------------------------------------- */

int weft_http_is_request(weft_task *t) {
  int rc;
  return call_exchange(t, &rc) != NULL;
}

const char *weft_http_method(weft_task *t) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  return x != NULL ? x->x_method : NULL;
}

const char *weft_http_path(weft_task *t) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  return x != NULL ? x->x_path : NULL;
}

static const char *field(weft_task *t, int kind, const char *name) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  if (x == NULL || name == NULL)
    return NULL;
  kv *e = kind == WEFT_HTTP_PARAM   ? kv_find(&x->x_params, name, false)
          : kind == WEFT_HTTP_QUERY ? kv_find(&x->x_query, name, false)
                                    : kv_find(&x->x_headers, name, true);
  return e != NULL ? e->value : NULL;
}

const char *weft_http_param(weft_task *t, const char *name) {
  return field(t, WEFT_HTTP_PARAM, name);
}

const char *weft_http_query(weft_task *t, const char *name) {
  return field(t, WEFT_HTTP_QUERY, name);
}

const char *weft_http_header(weft_task *t, const char *name) {
  return field(t, WEFT_HTTP_HEADER, name);
}

int weft_http_body(weft_task *t, const void **data, size_t *len) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  if (x == NULL)
    return rc;
  if (data != NULL)
    *data = x->x_body;
  if (len != NULL)
    *len = x->x_body_len;
  return 0;
}

int weft_http_set_status(weft_task *t, int status) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  if (x == NULL)
    return rc;
  if (status < 100 || status > 599)
    return WEFT_EINVAL;
  x->x_status = status;
  return 0;
}

static bool is_token(const char *s) {
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s) != NULL)
      return false;
  return true;
}

static bool is_value(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return false;
  return true;
}

int weft_http_set_header(weft_task *t, const char *name, const char *value) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  if (x == NULL)
    return rc;
  if (name == NULL || value == NULL || !is_token(name) || !is_value(value))
    return WEFT_EINVAL;
  kv *e = kv_find(&x->x_rsp, name, true);
  if (e != NULL) {
    char *v = dup_str(value);
    if (v == NULL)
      return WEFT_ENOMEM;
    free(e->value);
    e->value = v;
    return 0;
  }
  if (x->x_rsp.n >= RSP_HEADERS_MAX)
    return WEFT_ERANGE;
  return kv_add(&x->x_rsp, name, value);
}

int weft_http_write(weft_task *t, const void *data, size_t len) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  if (x == NULL)
    return rc;
  if (data == NULL && len != 0)
    return WEFT_EINVAL;
  if (len > RSP_BODY_MAX - x->x_out_len)
    return WEFT_ERANGE;
  if (x->x_out_len + len > x->x_out_cap) {
    size_t cap = x->x_out_cap ? x->x_out_cap : 1024;
    while (cap < x->x_out_len + len)
      cap *= 2;
    char *nb = realloc(x->x_out, cap);
    if (nb == NULL)
      return WEFT_ENOMEM;
    x->x_out = nb;
    x->x_out_cap = cap;
  }
  if (len)
    memcpy(x->x_out + x->x_out_len, data, len);
  x->x_out_len += len;
  return 0;
}

int weft_http_printf(weft_task *t, const char *fmt, ...) {
  char small[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return WEFT_EINVAL;
  if ((size_t)n < sizeof small)
    return weft_http_write(t, small, (size_t)n);
  char *big = malloc((size_t)n + 1);
  if (big == NULL)
    return WEFT_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rc = weft_http_write(t, big, (size_t)n);
  free(big);
  return rc;
}

int weft_http_reset(weft_task *t) {
  int rc;
  weft_http_exchange *x = call_exchange(t, &rc);
  if (x == NULL)
    return rc;
  x->x_status = 200;
  kv_free(&x->x_rsp);
  x->x_out_len = 0;
  return 0;
}

/* ---- Task end and the response ------------------------------------------------------ */

/* Gate (before txn/): bind, and a task whose client went away counts as
 * abended ATNI so its unit of work is backed out. Task, at its end. */
static void gate_task_end(weft_task *t, void *state) {
  web_state *ws = state;
  void **slot = weft__task_slot(t, &weft__web_gate_subsys);
  if (*slot == NULL && atomic_load(&ws->w_n_pending) > 0)
    *slot = bind_token(t);
  weft_http_exchange *x = *slot;
  if (x != NULL && released(x) && !weft__task_abended(t))
    weft__task_mark_abended(t, "ATNI");
}

/* Call done with what the task wrote, or with a 500 naming its abend
 * (x_lock held, not released). */
static void answer(weft_http_exchange *x, uint64_t task_no, const char *tranid,
                   const char *abcode) {
  weft_http_field h[RSP_HEADERS_MAX + 1];
  size_t n = 0;
  char body[160];
  weft_http_response rsp = {.task_no = task_no, .tranid = tranid, .abcode = abcode};
  if (abcode[0] != '\0') {
    int len = snprintf(body, sizeof body,
                       "{\"error\":\"abend\",\"abcode\":\"%s\",\"task\":%llu,\"tranid\":\"%s\"}",
                       abcode, (unsigned long long)task_no, tranid);
    h[n++] = (weft_http_field){"Content-Type", "application/json"};
    rsp.status = 500;
    rsp.body = body;
    rsp.body_len = (size_t)len;
  } else {
    kv *ct = kv_find(&x->x_rsp, "Content-Type", true);
    h[n++] = (weft_http_field){"Content-Type", ct != NULL ? ct->value : "application/json"};
    for (size_t i = 0; i < x->x_rsp.n; i++)
      if (&x->x_rsp.v[i] != ct)
        h[n++] = (weft_http_field){x->x_rsp.v[i].name, x->x_rsp.v[i].value};
    rsp.status = x->x_status;
    rsp.body = x->x_out != NULL ? x->x_out : "";
    rsp.body_len = x->x_out_len;
  }
  rsp.headers = h;
  rsp.n_headers = n;
  x->x_answered = true;
  x->x_done(x->x_ctx, &rsp);
}

/* Reply (after txn/): the unit of work is settled; answer the host. Task,
 * at its end. */
static void reply_task_end(weft_task *t, void *state) {
  (void)state;
  void **slot = weft__task_slot(t, &weft__web_gate_subsys);
  weft_http_exchange *x = *slot;
  if (x == NULL)
    return;
  *slot = NULL;
  weft__lock_acquire(&x->x_lock);
  if (!x->x_released)
    answer(x, weft__task_no(t), weft__task_tranid(t),
           weft__task_abended(t) ? weft__task_abcode(t) : "");
  weft__lock_release(&x->x_lock);
  x_unref(x);
}

/* ---- The region ----------------------------------------------------------------------- */

static int gate_create(weft_region *r, const weft_region_config *cfg, void **state) {
  web_state *ws = calloc(1, sizeof *ws);
  if (ws == NULL)
    return WEFT_ENOMEM;
  weft__lock_init(&ws->w_lock);
  *state = ws;
  return 0;
}

/* Exchanges whose task never ran (starts dropped at shutdown) are answered
 * 503 so no client waits for ever. Host thread, no task left. */
static void flush_pending(web_state *ws) {
  for (;;) {
    weft__lock_acquire(&ws->w_lock);
    weft_http_exchange *x = ws->w_pending;
    if (x != NULL)
      unlist(ws, x);
    weft__lock_release(&ws->w_lock);
    if (x == NULL)
      return;
    weft__lock_acquire(&x->x_lock);
    if (!x->x_released) {
      x->x_status = 503;
      kv_free(&x->x_rsp);
      x->x_out_len = 0;
      static const char msg[] = "{\"error\":\"shutdown\",\"message\":\"the region shut down "
                                "before the transaction ran\"}";
      free(x->x_out);
      x->x_out = dup_str(msg);
      x->x_out_len = x->x_out != NULL ? sizeof msg - 1 : 0;
      answer(x, x->x_task, "", "");
    }
    weft__lock_release(&x->x_lock);
    x_unref(x);
  }
}

static void gate_quiesce(weft_region *r, void *state) {
  flush_pending(state);
}

static void gate_free(weft_region *r, void *state) {
  if (state == NULL)
    return;
  flush_pending(state);
  free(state);
}

const weft__subsys weft__web_gate_subsys = {"web", gate_create, gate_quiesce, gate_free,
                                            gate_task_end};
const weft__subsys weft__web_reply_subsys = {"web reply", NULL, NULL, NULL, reply_task_end};
