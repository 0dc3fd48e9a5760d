/* http.c - weftd's HTTP listener (docs/http.md): routes requests to
 * transactions (include/weft/http.h), answers errors as JSON, checks HTTP
 * Basic credentials against the region's users, and serves /metrics and
 * /health (metrics.c).
 *
 * Library: GNU libmicrohttpd (built for MinGW by scripts/build-mhd-mingw.sh),
 * with its internal polling thread (WSAPoll). A request whose task runs, or
 * whose password is being checked, is suspended (MHD_suspend_connection):
 * it holds no thread, and the worker that ends its task only copies the
 * response and resumes it. Network I/O never runs on a worker.
 *
 * Threads: MHD's polling thread runs the handler and the completion
 * callback; weft's workers run the exchange's done callback (done_cb); the
 * watcher thread of this file collects sign-on answers, notices clients
 * that close while their task runs, and enforces request_timeout_s (it
 * shuts down the socket of a request that takes longer to arrive; MHD's own
 * timeout, keepalive_s, closes connections that stay idle).
 *
 * Ownership: a request (hq) is made by the handler and freed when both the
 * completion callback and any watcher that holds a reference have let go
 * (q_refs, under g_lock). g_lock guards every q_state, q_x, q_refs, the
 * list of suspended requests, the connection list (made and freed by MHD's
 * thread) and the credential cache. Exactly one resume
 * follows each suspend: whoever moves a suspended request out of its
 * waiting state under g_lock resumes it. Lock order: an exchange's lock,
 * then g_lock (done_cb); weft_http_exchange_release is never called with
 * g_lock held. */
#include <stdio.h>
#include <stdlib.h>

#include "weftd.h"

#include <microhttpd.h>

#include "pbkdf2.h"
#include "regiondef_http.h"
#include "weft/http.h"

#define WATCH_MS 20u        /* the watcher's tick */
#define CACHE_SLOTS 64      /* credentials remembered after a sign-on */
#define CACHE_TTL_MS 60000u /* ... for this long */
#define RETRY_AFTER_S "1"   /* Retry-After of a 503 */

enum {
  HQ_BODY,     /* the request is arriving */
  HQ_SIGNON,   /* suspended: its credentials are being checked */
  HQ_SIGNED,   /* resumed: the sign-on answered (q_signon_rc) */
  HQ_STARTING, /* weft_http_start is being called (the handler) */
  HQ_RUNNING,  /* suspended: its task runs */
  HQ_ANSWER,   /* resumed: q_rsp holds the response */
  HQ_GONE,     /* resumed: the client went away; close */
};

typedef struct hq_rsp {
  int status;
  char *headers; /* "Name\0Value\0" pairs */
  size_t headers_len;
  char *body;
  size_t body_len;
  char abcode[5];
} hq_rsp;

typedef struct hq {
  struct MHD_Connection *q_conn;
  char q_method[8];
  char *q_path;
  char *q_body;
  size_t q_body_len, q_body_cap;
  bool q_too_big;
  uint64_t q_task;
  /* -- Under g_lock ---------------------------------------------------------- */
  int q_state;
  int q_refs;                             /* the handler's (until completion) + watchers' */
  bool q_watch;                           /* look for the client closing while it runs */
  weft_http_exchange *q_x;                /* until released */
  wd_signon *q_job;                       /* HQ_SIGNON */
  int q_signon_rc;                        /* WD_SIGNON_* */
  const wdef_user *q_user;                /* signed on (NULL: none) */
  unsigned char q_cred[WDEF_SHA256_SIZE]; /* the cache key of its credentials */
  hq_rsp q_rsp;                           /* HQ_ANSWER */
  uint64_t q_since_ms;                    /* suspended since */
  struct hq *q_prev, *q_next;             /* g_list: suspended requests */
  bool q_listed;
} hq;

/* One TCP connection, for request_timeout_s (g_lock). */
typedef struct hconn {
  SOCKET c_sock;
  struct sockaddr_in c_peer; /* its client, checked before a shutdown */
  uint64_t c_since_ms;       /* its request began (accepted, or the last one answered) */
  bool c_busy;               /* a whole request arrived: no deadline until answered */
  bool c_cut;                /* shut down for taking too long */
  struct hconn *c_prev, *c_next;
} hconn;

typedef struct cred {
  unsigned char key[WDEF_SHA256_SIZE];
  const wdef_user *user;
  uint64_t until_ms;
} cred;

static struct MHD_Daemon *g_daemon;
static const wdef_http *g_cfg;
static SRWLOCK g_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_cv = CONDITION_VARIABLE_INIT;
static hq *g_list;
static hconn *g_conns;
static bool g_stop;
static HANDLE g_watcher;
static cred g_cache[CACHE_SLOTS];
static unsigned char g_secret[32]; /* keys the credential cache */
static _Atomic int64_t g_connections, g_requests, g_responses[6];

static uint64_t now_ms(void) {
  return GetTickCount64();
}

/* ---- Responses ------------------------------------------------------------------- */

/* s as a JSON string's content (quotes and control characters escaped),
 * cut to fit cap. */
static void json_esc(char *out, size_t cap, const char *s) {
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      out[o++] = '\\', out[o++] = (char)c;
    else if (c < 0x20 || c >= 0x7f)
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    else
      out[o++] = (char)c;
  }
  out[o] = '\0';
}

static void count_status(int status) {
  int k = status / 100;
  if (k >= 1 && k <= 5)
    atomic_fetch_add(&g_responses[k], 1);
}

/* Queue status with body; extra header pairs (NULL-terminated). */
static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype,
                             const void *body, size_t len, const char *const *extra) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  for (; extra != NULL && extra[0] != NULL; extra += 2)
    MHD_add_response_header(r, extra[0], extra[1]);
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  count_status(status);
  return rc;
}

/* A JSON error: {"error": code, "message": text}. */
static enum MHD_Result reply_error(struct MHD_Connection *c, int status, const char *code,
                                   const char *text, const char *const *extra) {
  char esc[600], body[800];
  json_esc(esc, sizeof esc, text);
  int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, esc);
  return reply(c, status, "application/json", body, (size_t)n, extra);
}

static enum MHD_Result reply_unavailable(struct MHD_Connection *c, const char *code,
                                         const char *text) {
  static const char *const retry[] = {"Retry-After", RETRY_AFTER_S, NULL};
  return reply_error(c, 503, code, text, retry);
}

static enum MHD_Result reply_rsp(struct MHD_Connection *c, const hq_rsp *p) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(p->body_len, p->body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  for (size_t o = 0; o < p->headers_len;) {
    const char *name = p->headers + o;
    const char *value = name + strlen(name) + 1;
    MHD_add_response_header(r, name, value);
    o += strlen(name) + strlen(value) + 2;
  }
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)p->status, r);
  MHD_destroy_response(r);
  count_status(p->status);
  return rc;
}

/* ---- Requests --------------------------------------------------------------------- */

static void rsp_free(hq_rsp *p) {
  free(p->headers);
  free(p->body);
  memset(p, 0, sizeof *p);
}

static void hq_free(hq *q) {
  rsp_free(&q->q_rsp);
  free(q->q_path);
  free(q->q_body);
  free(q);
}

/* g_lock held. */
static void hq_list(hq *q) {
  q->q_next = g_list;
  q->q_prev = NULL;
  if (g_list != NULL)
    g_list->q_prev = q;
  g_list = q;
  q->q_listed = true;
  q->q_since_ms = now_ms();
}

static void hq_unlist(hq *q) {
  if (!q->q_listed)
    return;
  if (q->q_prev != NULL)
    q->q_prev->q_next = q->q_next;
  else
    g_list = q->q_next;
  if (q->q_next != NULL)
    q->q_next->q_prev = q->q_prev;
  q->q_listed = false;
}

/* Drop a reference (g_lock held); true when q is to be freed. */
static bool hq_unref(hq *q) {
  return --q->q_refs == 0;
}

/* Suspend q in state (MHD thread, in the handler). */
static void hq_suspend(hq *q, int state) {
  MHD_suspend_connection(q->q_conn);
  AcquireSRWLockExclusive(&g_lock);
  q->q_state = state;
  hq_list(q);
  ReleaseSRWLockExclusive(&g_lock);
}

/* Move q from waiting state `from` to `to` and resume it; false when it
 * was no longer waiting there (g_lock held). */
static bool hq_wake(hq *q, int from, int to) {
  if (q->q_state != from)
    return false;
  q->q_state = to;
  hq_unlist(q);
  MHD_resume_connection(q->q_conn);
  return true;
}

/* ---- The exchange's answer (a weft worker; never blocks) -------------------------- */

static void done_cb(void *ctx, const weft_http_response *rsp) {
  hq *q = ctx;
  hq_rsp p = {.status = rsp->status};
  size_t hl = 0;
  for (size_t i = 0; i < rsp->n_headers; i++)
    hl += strlen(rsp->headers[i].name) + strlen(rsp->headers[i].value) + 2;
  p.headers = malloc(hl ? hl : 1);
  p.body = malloc(rsp->body_len ? rsp->body_len : 1);
  if (p.headers == NULL || p.body == NULL) {
    rsp_free(&p);
    p.status = 500;
  } else {
    for (size_t i = 0; i < rsp->n_headers; i++) {
      size_t a = strlen(rsp->headers[i].name) + 1, b = strlen(rsp->headers[i].value) + 1;
      memcpy(p.headers + p.headers_len, rsp->headers[i].name, a);
      memcpy(p.headers + p.headers_len + a, rsp->headers[i].value, b);
      p.headers_len += a + b;
    }
    memcpy(p.body, rsp->body, rsp->body_len);
    p.body_len = rsp->body_len;
  }
  snprintf(p.abcode, sizeof p.abcode, "%s", rsp->abcode);
  AcquireSRWLockExclusive(&g_lock);
  q->q_rsp = p;
  if (q->q_state == HQ_STARTING) /* before the handler suspended it: it answers */
    q->q_state = HQ_ANSWER;
  else
    hq_wake(q, HQ_RUNNING, HQ_ANSWER);
  ReleaseSRWLockExclusive(&g_lock);
}

/* ---- Credentials ------------------------------------------------------------------ */

static void cred_key(const char *user, const char *pass, unsigned char out[WDEF_SHA256_SIZE]) {
  size_t ul = strlen(user), pl = strlen(pass);
  char *buf = malloc(sizeof g_secret + ul + 1 + pl);
  if (buf == NULL) {
    memset(out, 0, WDEF_SHA256_SIZE);
    return;
  }
  memcpy(buf, g_secret, sizeof g_secret);
  memcpy(buf + sizeof g_secret, user, ul + 1);
  memcpy(buf + sizeof g_secret + ul + 1, pass, pl);
  wdef_sha256(buf, sizeof g_secret + ul + 1 + pl, out);
  SecureZeroMemory(buf, sizeof g_secret + ul + 1 + pl);
  free(buf);
}

/* The cached user of these credentials, or NULL (g_lock held). */
static const wdef_user *cache_find(const unsigned char key[WDEF_SHA256_SIZE]) {
  uint64_t now = now_ms();
  for (int i = 0; i < CACHE_SLOTS; i++)
    if (g_cache[i].user != NULL && g_cache[i].until_ms > now &&
        memcmp(g_cache[i].key, key, WDEF_SHA256_SIZE) == 0)
      return g_cache[i].user;
  return NULL;
}

static void cache_put(const unsigned char key[WDEF_SHA256_SIZE], const wdef_user *u) {
  int slot = 0;
  for (int i = 1; i < CACHE_SLOTS; i++)
    if (g_cache[i].until_ms < g_cache[slot].until_ms)
      slot = i;
  memcpy(g_cache[slot].key, key, WDEF_SHA256_SIZE);
  g_cache[slot].user = u;
  g_cache[slot].until_ms = now_ms() + CACHE_TTL_MS;
}

/* Check the request's Basic credentials: 1 signed on (q_user), 0 refused
 * (answered), 2 suspended while a sign-on thread checks the password. MHD
 * thread. */
static int authenticate(hq *q, enum MHD_Result *mr) {
  char *pass = NULL;
  char *user = MHD_basic_auth_get_username_password(q->q_conn, &pass);
  static const char *const challenge[] = {"WWW-Authenticate", "Basic realm=\"weft\"", NULL};
  if (user == NULL || pass == NULL) {
    MHD_free(user);
    MHD_free(pass);
    *mr = reply_error(q->q_conn, 401, "unauthorized",
                      "sign on with HTTP Basic authentication (a user of the region)", challenge);
    return 0;
  }
  cred_key(user, pass, q->q_cred);
  AcquireSRWLockExclusive(&g_lock);
  q->q_user = cache_find(q->q_cred);
  ReleaseSRWLockExclusive(&g_lock);
  int rc = 1;
  if (q->q_user == NULL) {
    if (strlen(pass) > WD_PASSWORD_MAX ||
        (q->q_job = wd_signon_submit("HTTP", user, pass, 0)) == NULL) {
      *mr = reply_error(q->q_conn, 401, "unauthorized", "wrong user or password", challenge);
      rc = 0;
    } else {
      hq_suspend(q, HQ_SIGNON);
      *mr = MHD_YES;
      rc = 2;
    }
  }
  SecureZeroMemory(pass, strlen(pass));
  MHD_free(user);
  MHD_free(pass);
  return rc;
}

/* ---- Starting the task ------------------------------------------------------------ */

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  weft_http_exchange *x = cls;
  if (key == NULL)
    return MHD_YES;
  if (kind == MHD_HEADER_KIND) {
    if (_stricmp(key, "Authorization") != 0 && _stricmp(key, "Cookie") != 0)
      weft_http_exchange_add(x, WEFT_HTTP_HEADER, key, value != NULL ? value : "");
  } else {
    weft_http_exchange_add(x, WEFT_HTTP_QUERY, key, value != NULL ? value : "");
  }
  return MHD_YES;
}

static void add_param(void *ctx, const char *name, const char *value) {
  weft_http_exchange_add(ctx, WEFT_HTTP_PARAM, name, value);
}

static enum MHD_Result start_error(hq *q, int rc, const char *tranid) {
  char text[160];
  switch (rc) {
    case WEFT_EBUSY:
      snprintf(text, sizeof text,
               "transaction %s: the region or its class is full (purge threshold): try again",
               tranid);
      return reply_unavailable(q->q_conn, "busy", text);
    case WEFT_ESHUTDOWN:
      return reply_unavailable(q->q_conn, "shutting_down", "the region is shutting down");
    case WEFT_EDISABLED:
      snprintf(text, sizeof text, "transaction %s is disabled", tranid);
      return reply_unavailable(q->q_conn, "disabled", text);
    default:
      snprintf(text, sizeof text, "transaction %s cannot start: %s", tranid, weft_strerror(rc));
      return reply_error(q->q_conn, 500, "start_failed", text, NULL);
  }
}

static enum MHD_Result start_task(hq *q, const wdef_route *rt) {
  weft_http_exchange *x;
  if (weft_http_exchange_create(wd.region, q->q_method, q->q_path, done_cb, q, &x) != 0)
    return reply_error(q->q_conn, 500, "no_storage", "out of memory", NULL);
  wdef_route_params(rt, q->q_path, add_param, x);
  MHD_get_connection_values(q->q_conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, add_field, x);
  weft_http_exchange_body(x, q->q_body, q->q_body_len);
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.userid = q->q_user != NULL ? q->q_user->name : NULL;
  o.enclave = rt->enclave[0] != '\0' ? rt->enclave : NULL;
  AcquireSRWLockExclusive(&g_lock);
  q->q_x = x;
  q->q_watch = true;
  q->q_state = HQ_STARTING;
  ReleaseSRWLockExclusive(&g_lock);
  int rc = weft_http_start(wd.region, rt->tranid, x, &o, &q->q_task);
  AcquireSRWLockExclusive(&g_lock);
  int state = q->q_state;
  if (rc != 0) {
    q->q_x = NULL;
    q->q_state = HQ_BODY;
  } else if (state == HQ_STARTING) { /* wait for the answer without a thread */
    MHD_suspend_connection(q->q_conn);
    q->q_state = HQ_RUNNING;
    hq_list(q);
  }
  ReleaseSRWLockExclusive(&g_lock);
  if (rc != 0) {
    weft_http_exchange_release(x);
    return start_error(q, rc, rt->tranid);
  }
  return state == HQ_ANSWER ? reply_rsp(q->q_conn, &q->q_rsp) : MHD_YES;
}

/* ---- The handler --------------------------------------------------------------------- */

/* The web console (console.c): its sign-on checks the password here, as
 * for a route (suspended on a sign-on thread), whatever the HTTP line's
 * auth says; the rest is console.c's. */
static enum MHD_Result console_route(hq *q) {
  if (strcmp(q->q_method, "POST") != 0 || strcmp(q->q_path, "/console/api/session") != 0)
    return (enum MHD_Result)wd_console_handle(q->q_conn, q->q_method, q->q_path);
  if (q->q_state != HQ_SIGNED) {
    enum MHD_Result mr;
    if (authenticate(q, &mr) != 1)
      return mr;
  } else if (q->q_signon_rc != WD_SIGNON_OK) {
    return reply_error(q->q_conn, 401, "unauthorized",
                       q->q_signon_rc == WD_SIGNON_LOCKED ? "the user is locked"
                                                          : "wrong user or password",
                       NULL);
  }
  return (enum MHD_Result)wd_console_signon(q->q_conn, q->q_user);
}

static enum MHD_Result route(hq *q) {
  struct MHD_Connection *c = q->q_conn;
  if (q->q_too_big) {
    char text[96];
    snprintf(text, sizeof text, "the body is longer than %u bytes", g_cfg->body_max);
    return reply_error(c, 413, "too_large", text, NULL);
  }
  if (strcmp(q->q_method, "GET") == 0 && strcmp(q->q_path, "/health") == 0)
    return wd_http_health(c);
  if (strcmp(q->q_method, "GET") == 0 && strcmp(q->q_path, "/metrics") == 0)
    return wd_http_metrics(c);
  if (strncmp(q->q_path, "/console", 8) == 0 && (q->q_path[8] == '\0' || q->q_path[8] == '/'))
    return console_route(q);
  if (atomic_load(&wd.stopping))
    return reply_unavailable(c, "shutting_down", "the region is shutting down");
  int path_known;
  const wdef_route *rt = wdef_route_match(g_cfg, q->q_method, q->q_path, &path_known);
  if (rt == NULL) {
    char esc[300], text[400];
    json_esc(esc, sizeof esc, q->q_path);
    snprintf(text, sizeof text, "no route for %s %s", q->q_method, esc);
    return reply_error(c, path_known ? 405 : 404, path_known ? "method_not_allowed" : "no_route",
                       text, NULL);
  }
  if (g_cfg->auth && q->q_state != HQ_SIGNED) {
    enum MHD_Result mr;
    if (authenticate(q, &mr) != 1)
      return mr;
  }
  if (q->q_state == HQ_SIGNED && q->q_signon_rc != WD_SIGNON_OK) {
    static const char *const challenge[] = {"WWW-Authenticate", "Basic realm=\"weft\"", NULL};
    return reply_error(c, 401, "unauthorized",
                       q->q_signon_rc == WD_SIGNON_LOCKED ? "the user is locked"
                                                          : "wrong user or password",
                       challenge);
  }
  const wdef_transaction *t = wd_find_transaction(rt->tranid);
  if (strcmp(rt->tranid, "WEFT") == 0) /* operator commands: never over HTTP */
    return reply_error(c, 403, "forbidden", "the operator transaction WEFT is not served over HTTP",
                       NULL);
  if (g_cfg->auth && t != NULL && !wdef_may_run(q->q_user, t)) {
    char text[96];
    snprintf(text, sizeof text, "user %s may not run transaction %s", q->q_user->name, rt->tranid);
    return reply_error(c, 403, "forbidden", text, NULL);
  }
  return start_task(q, rt);
}

/* The first call of a request: make its state; refuse a body announced
 * too long before it is read. */
static hq *hq_new(struct MHD_Connection *c, const char *url, const char *method) {
  hq *q = calloc(1, sizeof *q);
  if (q == NULL || (q->q_path = _strdup(url)) == NULL) {
    free(q);
    return NULL;
  }
  q->q_conn = c;
  q->q_refs = 1;
  snprintf(q->q_method, sizeof q->q_method, "%s", method);
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (cl != NULL && strtoull(cl, NULL, 10) > g_cfg->body_max)
    q->q_too_big = true;
  atomic_fetch_add(&g_requests, 1);
  return q;
}

static bool body_add(hq *q, const char *data, size_t n) {
  if (q->q_too_big || q->q_body_len + n > g_cfg->body_max) {
    q->q_too_big = true;
    return true;
  }
  if (q->q_body_len + n > q->q_body_cap) {
    size_t cap = q->q_body_cap ? q->q_body_cap * 2 : 1024;
    while (cap < q->q_body_len + n)
      cap *= 2;
    char *nb = realloc(q->q_body, cap);
    if (nb == NULL)
      return false;
    q->q_body = nb;
    q->q_body_cap = cap;
  }
  memcpy(q->q_body + q->q_body_len, data, n);
  q->q_body_len += n;
  return true;
}

static void conn_mark(struct MHD_Connection *c, bool busy);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
  hq *q = *con_cls;
  if (q == NULL) {
    if ((*con_cls = q = hq_new(c, url, method)) == NULL)
      return MHD_NO;
    if (q->q_too_big) /* answered before the body is read; MHD closes after */
      return route(q);
    return MHD_YES;
  }
  if (*upload_size > 0) {
    bool ok = body_add(q, upload_data, *upload_size);
    *upload_size = 0;
    return ok ? MHD_YES : MHD_NO;
  }
  AcquireSRWLockShared(&g_lock);
  int state = q->q_state;
  ReleaseSRWLockShared(&g_lock);
  switch (state) {
    case HQ_ANSWER:
      return reply_rsp(c, &q->q_rsp);
    case HQ_GONE:
      return MHD_NO;
    case HQ_SIGNON:
    case HQ_STARTING:
    case HQ_RUNNING:
      return MHD_YES; /* still waiting (a spurious call) */
    default:
      conn_mark(c, true);
      return route(q);
  }
}

/* MHD thread: the request is over (answered, failed or its connection
 * closed). An exchange still held is released: if its task still runs, it
 * is abended and backed out. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  conn_mark(c, false); /* its next request's deadline starts now */
  hq *q = *con_cls;
  if (q == NULL)
    return;
  *con_cls = NULL;
  AcquireSRWLockExclusive(&g_lock);
  weft_http_exchange *x = q->q_x;
  q->q_x = NULL;
  wd_signon *job = q->q_job;
  q->q_job = NULL;
  hq_unlist(q);
  bool last = hq_unref(q);
  ReleaseSRWLockExclusive(&g_lock);
  if (x != NULL)
    weft_http_exchange_release(x);
  if (job != NULL)
    wd_signon_cancel(job);
  if (last)
    hq_free(q);
}

/* MHD thread: a connection opened or closed. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  hconn *hc = *socket_context;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    atomic_fetch_add(&g_connections, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL || (hc = calloc(1, sizeof *hc)) == NULL)
      return;
    hc->c_sock = ci->connect_fd;
    int plen = sizeof hc->c_peer;
    getpeername(hc->c_sock, (struct sockaddr *)&hc->c_peer, &plen);
    hc->c_since_ms = now_ms();
    AcquireSRWLockExclusive(&g_lock);
    hc->c_next = g_conns;
    if (g_conns != NULL)
      g_conns->c_prev = hc;
    g_conns = hc;
    ReleaseSRWLockExclusive(&g_lock);
    *socket_context = hc;
    return;
  }
  atomic_fetch_sub(&g_connections, 1);
  if (hc == NULL)
    return;
  AcquireSRWLockExclusive(&g_lock);
  if (hc->c_prev != NULL)
    hc->c_prev->c_next = hc->c_next;
  else
    g_conns = hc->c_next;
  if (hc->c_next != NULL)
    hc->c_next->c_prev = hc->c_prev;
  ReleaseSRWLockExclusive(&g_lock);
  free(hc);
  *socket_context = NULL;
}

/* The request of connection c has arrived whole (busy) or been answered
 * (its next one begins). MHD thread. */
static void conn_mark(struct MHD_Connection *c, bool busy) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  hconn *hc = ci != NULL ? ci->socket_context : NULL;
  if (hc == NULL)
    return;
  AcquireSRWLockExclusive(&g_lock);
  hc->c_busy = busy;
  hc->c_since_ms = now_ms();
  ReleaseSRWLockExclusive(&g_lock);
}

/* Watcher: shut down the connections whose request has taken longer than
 * request_timeout_s to arrive (a header or body that drips); MHD then
 * closes them. */
static void watch_deadlines(void) {
  uint64_t now = now_ms(), limit = (uint64_t)g_cfg->request_timeout_s * 1000u;
  AcquireSRWLockExclusive(&g_lock);
  for (hconn *hc = g_conns; hc != NULL; hc = hc->c_next) {
    if (hc->c_busy || hc->c_cut || now - hc->c_since_ms <= limit)
      continue;
    hc->c_cut = true;
    struct sockaddr_in peer;
    int plen = sizeof peer;
    if (getpeername(hc->c_sock, (struct sockaddr *)&peer, &plen) != 0 ||
        peer.sin_port != hc->c_peer.sin_port || peer.sin_addr.s_addr != hc->c_peer.sin_addr.s_addr)
      continue; /* defensive: not the connection it was (MHD closes after telling us) */
    shutdown(hc->c_sock, SD_BOTH);
    wd_log('W', "http: a request took more than %u s to arrive: its connection is closed",
           g_cfg->request_timeout_s);
  }
  ReleaseSRWLockExclusive(&g_lock);
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  msg[strcspn(msg, "\r\n")] = '\0';
  wd_log('W', "http: %s", msg);
}

/* ---- The watcher thread ---------------------------------------------------------- */

/* The client of a running request closed: release its exchange (its task
 * is abended ATNI and backed out) and let MHD close the connection. */
static void client_gone(hq *q) {
  AcquireSRWLockExclusive(&g_lock);
  weft_http_exchange *x = q->q_state == HQ_RUNNING ? q->q_x : NULL;
  q->q_x = NULL;
  ReleaseSRWLockExclusive(&g_lock);
  if (x == NULL)
    return;
  int gone = weft_http_exchange_release(x);
  if (gone)
    wd_log('W', "http: the client of task %llu (%s %s) disconnected: it is abended ATNI",
           (unsigned long long)q->q_task, q->q_method, q->q_path);
  AcquireSRWLockExclusive(&g_lock);
  hq_wake(q, HQ_RUNNING, HQ_GONE); /* unless done_cb answered first */
  ReleaseSRWLockExclusive(&g_lock);
}

/* Poll the sockets of running requests once; close the gone ones. */
static void watch_sockets(void) {
  enum { N = 256 };
  WSAPOLLFD pfd[N];
  hq *qs[N];
  ULONG n = 0;
  AcquireSRWLockExclusive(&g_lock);
  for (hq *q = g_list; q != NULL && n < N; q = q->q_next) {
    if (q->q_state != HQ_RUNNING || !q->q_watch)
      continue;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(q->q_conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
      continue;
    pfd[n] = (WSAPOLLFD){.fd = ci->connect_fd, .events = POLLRDNORM};
    qs[n++] = q;
    q->q_refs++;
  }
  ReleaseSRWLockExclusive(&g_lock);
  if (n > 0 && WSAPoll(pfd, n, (INT)WATCH_MS) > 0) {
    for (ULONG i = 0; i < n; i++) {
      if (pfd[i].revents == 0)
        continue;
      char b;
      int r = recv(pfd[i].fd, &b, 1, MSG_PEEK);
      if (r == 0 || (r < 0 && WSAGetLastError() != WSAEWOULDBLOCK))
        client_gone(qs[i]);
      else if (r > 0) { /* a pipelined request: no longer watched */
        AcquireSRWLockExclusive(&g_lock);
        qs[i]->q_watch = false;
        ReleaseSRWLockExclusive(&g_lock);
      }
    }
  }
  for (ULONG i = 0; i < n; i++) {
    AcquireSRWLockExclusive(&g_lock);
    bool last = hq_unref(qs[i]);
    ReleaseSRWLockExclusive(&g_lock);
    if (last)
      hq_free(qs[i]);
  }
  if (n == 0) {
    AcquireSRWLockExclusive(&g_lock);
    if (!g_stop)
      SleepConditionVariableSRW(&g_cv, &g_lock, WATCH_MS, 0);
    ReleaseSRWLockExclusive(&g_lock);
  }
}

/* Collect sign-on answers and resume their requests. */
static void watch_signons(void) {
  AcquireSRWLockExclusive(&g_lock);
  for (hq *q = g_list, *next; q != NULL; q = next) {
    next = q->q_next;
    if (q->q_state != HQ_SIGNON)
      continue;
    const wdef_user *u = NULL;
    int r = g_stop ? WD_SIGNON_FAILED : wd_signon_take(q->q_job, &u);
    if (r == WD_SIGNON_PENDING)
      continue;
    if (g_stop)
      wd_signon_cancel(q->q_job);
    q->q_job = NULL;
    q->q_signon_rc = r;
    q->q_user = r == WD_SIGNON_OK ? u : NULL;
    if (r == WD_SIGNON_OK)
      cache_put(q->q_cred, u);
    hq_wake(q, HQ_SIGNON, HQ_SIGNED);
  }
  ReleaseSRWLockExclusive(&g_lock);
}

static DWORD WINAPI watcher_main(void *arg) {
  for (;;) {
    AcquireSRWLockShared(&g_lock);
    bool stop = g_stop;
    ReleaseSRWLockShared(&g_lock);
    if (stop)
      break;
    watch_sockets();
    watch_signons();
    watch_deadlines();
  }
  watch_signons(); /* the last ones are answered 401 */
  return 0;
}

/* ---- Start and stop ------------------------------------------------------------------ */

int wd_http_start(void) {
  g_cfg = wd.def->http;
  if (g_cfg == NULL || g_cfg->line == 0)
    return 0;
  wdef_random_bytes(g_secret, sizeof g_secret);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((u_short)g_cfg->listen_port)};
  sin.sin_addr.s_addr = inet_addr(g_cfg->listen_addr);
  unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  g_daemon = MHD_start_daemon(
      flags, (uint16_t)g_cfg->listen_port, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
      on_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)g_cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)g_cfg->keepalive_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)g_cfg->header_max * 2,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
      NULL, MHD_OPTION_END);
  if (g_daemon == NULL) {
    wd_log('E', "http: cannot listen on %s:%u (in use, or not an address of this machine)",
           g_cfg->listen_addr, g_cfg->listen_port);
    return -1;
  }
  g_watcher = CreateThread(NULL, 0, watcher_main, NULL, 0, NULL);
  if (g_watcher == NULL || wd_console_start() != 0) {
    if (g_watcher != NULL) {
      AcquireSRWLockExclusive(&g_lock);
      g_stop = true;
      WakeAllConditionVariable(&g_cv);
      ReleaseSRWLockExclusive(&g_lock);
      WaitForSingleObject(g_watcher, INFINITE);
      CloseHandle(g_watcher);
    }
    MHD_stop_daemon(g_daemon);
    g_daemon = NULL;
    return -1;
  }
  wd_log('I', "http: listening on %s:%u (%u routes)", g_cfg->listen_addr, g_cfg->listen_port,
         (unsigned)g_cfg->n_routes);
  return 0;
}

/* After the region has drained: every task's answer has come (the region's
 * flush answered starts that never ran). Stop the watcher, then MHD. */
void wd_http_stop(void) {
  if (g_daemon == NULL)
    return;
  wd_console_stop();
  AcquireSRWLockExclusive(&g_lock);
  g_stop = true;
  WakeAllConditionVariable(&g_cv);
  ReleaseSRWLockExclusive(&g_lock);
  WaitForSingleObject(g_watcher, INFINITE);
  CloseHandle(g_watcher);
  /* Anything still suspended (a task that did not end in time) is closed. */
  for (;;) {
    AcquireSRWLockExclusive(&g_lock);
    hq *q = g_list;
    if (q != NULL && q->q_state == HQ_RUNNING) {
      weft_http_exchange *x = q->q_x;
      q->q_x = NULL;
      ReleaseSRWLockExclusive(&g_lock);
      if (x != NULL)
        weft_http_exchange_release(x);
      AcquireSRWLockExclusive(&g_lock);
      hq_wake(q, HQ_RUNNING, HQ_GONE);
    } else if (q != NULL) {
      hq_unlist(q);
    }
    ReleaseSRWLockExclusive(&g_lock);
    if (q == NULL)
      break;
  }
  MHD_stop_daemon(g_daemon);
  g_daemon = NULL;
}

int64_t wd_http_connections(void) {
  return atomic_load(&g_connections);
}

void wd_http_counts(int64_t *requests, int64_t responses[6]) {
  *requests = atomic_load(&g_requests);
  for (int i = 0; i < 6; i++)
    responses[i] = atomic_load(&g_responses[i]);
}

int wd_http_reply(struct MHD_Connection *c, int status, const char *ctype, const char *body,
                  size_t len) {
  return reply(c, status, ctype, body, len, NULL);
}

int wd_http_reply_headers(struct MHD_Connection *c, int status, const char *ctype,
                          const char *body, size_t len, const char *const *extra) {
  return reply(c, status, ctype, body, len, extra);
}
