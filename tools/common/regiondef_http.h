/* regiondef_http.h - the HTTP definitions of a region definition file: the
 * HTTP line (the listener and its limits) and ROUTE lines (method and path
 * pattern -> tranid). docs/http.md describes them.
 *
 *   HTTP listen=127.0.0.1:8080 max_connections=256 header_max=8192
 *        body_max=65536 request_timeout_s=30 keepalive_s=15 auth=basic
 *   ROUTE method=GET path=/accounts/{acct} tranid=HINQ enclave=ONLINE
 *
 * Ownership: a wdef_http belongs to its wdef_file (freed by wdef_free) and
 * is read-only after the parse. */
#ifndef WEFT_TOOLS_REGIONDEF_HTTP_H
#define WEFT_TOOLS_REGIONDEF_HTTP_H

#include "regiondef.h"

#define WDEF_ROUTE_PATH_MAX 255 /* characters of a path pattern */
#define WDEF_ROUTE_SEGMENTS_MAX 16
#define WDEF_METHOD_SIZE 8 /* GET, POST, PUT, PATCH, DELETE and the NUL */

/* ROUTE: requests of method whose path matches path start tranid. A path
 * segment {name} matches any one non-empty segment and is handed to the
 * program as the path parameter name. */
typedef struct wdef_route {
  int line;
  char method[WDEF_METHOD_SIZE];
  char path[WDEF_ROUTE_PATH_MAX + 1];
  char tranid[WDEF_NAME_SIZE];
  char enclave[WDEF_NAME_SIZE]; /* "" (default): the transaction's */
} wdef_route;

/* The HTTP line (line 0: none; then there is no listener) and the routes. */
typedef struct wdef_http {
  int line;
  char listen_addr[WDEF_ADDR_SIZE]; /* default 127.0.0.1 */
  unsigned listen_port;             /* default 8080 */
  unsigned max_connections;         /* 1..10000; default 256 */
  unsigned header_max;              /* 1024..1048576 bytes of request line and
                                       headers; default 8192 */
  unsigned body_max;                /* 0..16777216 bytes; default 65536 */
  unsigned request_timeout_s;       /* 1..3600: a request's line, headers and
                                       body must arrive within it; default 30 */
  unsigned keepalive_s;             /* 1..3600: an idle connection is closed
                                       after it; default 15 */
  int auth;                         /* 1: HTTP Basic against the USERs (default
                                       when the REGION has signon=yes); 0: none */
  int auth_given;                   /* auth= was on the line */
  wdef_route *routes;
  size_t n_routes;
} wdef_http;

/* The parser's hook (regiondef.c): a definition line whose kind is HTTP or
 * ROUTE. Returns 1 when it was one (errors, if any, appended to errs), 0
 * when the kind is another, -1 when memory ran out. */
int wdef__http_line(wdef_file *f, int flags, int line, const char *text, wdef_errors *errs);
/* After the whole file: cross-checks (routes need an HTTP line, tranids
 * defined in the file unless external references are allowed). */
void wdef__http_check(wdef_file *f, int flags, wdef_errors *errs);
void wdef__http_free(wdef_http *h);

/* The route for method and path (NULL: none). *path_matched: some route's
 * pattern matches the path (with another method). Any thread. */
const wdef_route *wdef_route_match(const wdef_http *h, const char *method, const char *path,
                                   int *path_matched);
/* The path parameters of a matched route: for each {name} segment, calls
 * fn with the name and the segment (decoded in place is the caller's
 * business: segments are as in the request). Any thread. */
void wdef_route_params(const wdef_route *r, const char *path,
                       void (*fn)(void *ctx, const char *name, const char *value), void *ctx);

#endif /* WEFT_TOOLS_REGIONDEF_HTTP_H */
