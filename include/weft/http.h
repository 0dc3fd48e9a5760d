/* weft/http.h - transactions over HTTP: the request a task serves and the
 * response it writes (docs/http.md).
 *
 * A host (weftd's HTTP listener) turns each HTTP request it routes to a
 * transaction into an exchange: it fills in the request, starts the task
 * with weft_http_start and is called back once with the response when the
 * task has ended and its unit of work is settled. The program reads the
 * request and writes the response with the task calls below; it never
 * touches the network, so a slow client never holds a worker.
 *
 * A task started by weft_http_start has an opaque token as its start data
 * (weft_retrieve): read the body with weft_http_body. */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The program's side (task context: t is the calling task)                 */
/* ------------------------------------------------------------------------ */

/* 1 when t serves an HTTP request, else 0. Task. */
WEFT_API int weft_http_is_request(weft_task *t);
/* The request's method ("GET", "POST", ...) and path (without the query),
 * or NULL when t serves no HTTP request. Valid until the task ends. Task. */
WEFT_API const char *weft_http_method(weft_task *t);
WEFT_API const char *weft_http_path(weft_task *t);
/* A path parameter of the route ("acct" of /accounts/{acct}), a query
 * argument (?page=2) or a request header (any case), or NULL when absent.
 * Valid until the task ends. Task. */
WEFT_API const char *weft_http_param(weft_task *t, const char *name);
WEFT_API const char *weft_http_query(weft_task *t, const char *name);
WEFT_API const char *weft_http_header(weft_task *t, const char *name);
/* The request body (*data NUL-terminated after len bytes; "" when none).
 * WEFT_ESTATE when t serves no HTTP request. Task. */
WEFT_API int weft_http_body(weft_task *t, const void **data, size_t *len);

/* The response status (100..599; 200 unless set). WEFT_EINVAL out of
 * range, WEFT_ESTATE without a request. Task. */
WEFT_API int weft_http_set_status(weft_task *t, int status);
/* Set a response header (replacing one of the same name; at most 32).
 * Content-Type is "application/json" unless set. Names are tokens, values
 * printable text without CR or LF: else WEFT_EINVAL. Task. */
WEFT_API int weft_http_set_header(weft_task *t, const char *name, const char *value);
/* Append len bytes to the response body (at most 16 MiB: WEFT_ERANGE). Task. */
WEFT_API int weft_http_write(weft_task *t, const void *data, size_t len);
/* weft_http_write of a printf-formatted text. Task. */
WEFT_API int weft_http_printf(weft_task *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Drop what was written so far (status, headers and body). Task. */
WEFT_API int weft_http_reset(weft_task *t);

/* ------------------------------------------------------------------------ */
/* The host's side                                                           */
/* ------------------------------------------------------------------------ */

/* One request on its way to a task and its response back. */
typedef struct weft_http_exchange weft_http_exchange;

/* A response header. */
typedef struct weft_http_field {
  const char *name, *value;
} weft_http_field;

/* What the host is handed at the task's end. Everything in it is valid
 * during the callback only. */
typedef struct weft_http_response {
  uint64_t task_no;
  const char *tranid;
  const char *abcode; /* "" when the task ended normally; else the status
                         is 500 and the body says the abend */
  int status;
  const weft_http_field *headers; /* Content-Type first */
  size_t n_headers;
  const void *body;
  size_t body_len;
} weft_http_response;

/* Called once per started exchange, on the task's worker after the task's
 * unit of work is settled (committed, or backed out after an abend),
 * unless the host released the exchange first. Must not block: copy what
 * is needed and hand it to the network. Runs under the exchange's lock: it
 * must not call weft_http_exchange_release. */
typedef void (*weft_http_done_fn)(void *ctx, const weft_http_response *rsp);

/* Kinds of request fields for weft_http_exchange_add. */
#define WEFT_HTTP_PARAM 1  /* a path parameter */
#define WEFT_HTTP_QUERY 2  /* a query argument */
#define WEFT_HTTP_HEADER 3 /* a request header */

/* A new exchange for method and path (copied). Any thread. Errors:
 * WEFT_EINVAL, WEFT_ENOMEM. */
WEFT_API int weft_http_exchange_create(weft_region *r, const char *method, const char *path,
                                       weft_http_done_fn done, void *ctx, weft_http_exchange **out);
/* Add a request field (name and value copied) or set the body (copied),
 * before weft_http_start. The host's thread. */
WEFT_API int weft_http_exchange_add(weft_http_exchange *x, int kind, const char *name,
                                    const char *value);
WEFT_API int weft_http_exchange_body(weft_http_exchange *x, const void *data, size_t len);
/* Start tranid to serve the exchange (opts as for weft_start; its data
 * fields are ignored). On success done will be called once (unless the
 * exchange is released first); on failure (weft_start's errors) it will
 * not, and the exchange may be started again or released. Host thread. */
WEFT_API int weft_http_start(weft_region *r, const char *tranid, weft_http_exchange *x,
                             const weft_start_opts *opts, uint64_t *task_no);
/* The host lets go of the exchange. If its task has not answered yet (the
 * client went away), the task is abended ATNI at once or at its end, so
 * its unit of work is backed out, and done is not called; returns 1 then,
 * else 0. No done callback runs after this returns. Any thread but a
 * worker's done callback. */
WEFT_API int weft_http_exchange_release(weft_http_exchange *x);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HTTP_H */
