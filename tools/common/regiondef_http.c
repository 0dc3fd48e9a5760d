/* regiondef_http.c - the HTTP and ROUTE lines of a region definition file
 * (regiondef_http.h). Their values are bare words (no quotes, no blanks),
 * so this file splits them itself; the rest of the file's grammar (blank
 * lines, # comments, kinds in any case) is regiondef.c's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regiondef_http.h"
#include "regiondef_int.h"

#define ATTRS_MAX 16

typedef struct attr {
  char key[32];
  char val[WDEF_ROUTE_PATH_MAX + 2];
} attr;

static int ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
      return 0;
  return *a == *b;
}

/* The kind word of text and where its attributes start. */
static const char *kind_of(const char *text, char *kind, size_t cap) {
  const char *s = text + strspn(text, " \t");
  size_t n = strcspn(s, " \t#");
  snprintf(kind, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
  return s + n;
}

/* Split "key=value ..." (until a # comment) into a; count or -1. */
static int split_attrs(const char *s, attr *a, const char *file, int line, wdef_errors *errs) {
  int n = 0;
  for (;;) {
    s += strspn(s, " \t\r\n");
    if (*s == '\0' || *s == '#')
      return n;
    size_t len = strcspn(s, " \t\r\n");
    const char *eq = memchr(s, '=', len);
    if (eq == NULL || eq == s) {
      wdef__err(errs, file, line, "expected key=value, found '%.*s'", (int)len, s);
      return -1;
    }
    if (n == ATTRS_MAX || (size_t)(eq - s) >= sizeof a[n].key ||
        len - (size_t)(eq - s) - 1 >= sizeof a[n].val) {
      wdef__err(errs, file, line, "attribute '%.*s' is too long (or too many attributes)",
                (int)(len > 40 ? 40 : len), s);
      return -1;
    }
    snprintf(a[n].key, sizeof a[n].key, "%.*s", (int)(eq - s), s);
    snprintf(a[n].val, sizeof a[n].val, "%.*s", (int)(len - (size_t)(eq - s) - 1), eq + 1);
    n++;
    s += len;
  }
}

static int uint_in(const char *v, unsigned lo, unsigned hi, unsigned *out) {
  char *end;
  if (!isdigit((unsigned char)*v))
    return -1;
  unsigned long long u = strtoull(v, &end, 10);
  if (*end != '\0' || u < lo || u > hi)
    return -1;
  *out = (unsigned)u;
  return 0;
}

static int addr_ok(const char *s) {
  unsigned parts = 0;
  while (parts < 4) {
    if (!isdigit((unsigned char)*s))
      return 0;
    unsigned v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s) && digits < 4)
      v = v * 10 + (unsigned)(*s++ - '0'), digits++;
    if (v > 255 || digits > 3)
      return 0;
    parts++;
    if (parts < 4 && *s++ != '.')
      return 0;
  }
  return *s == '\0';
}

static int set_listen(wdef_http *h, const char *v) {
  const char *colon = strrchr(v, ':');
  unsigned port;
  if (colon == NULL || (size_t)(colon - v) >= sizeof h->listen_addr ||
      uint_in(colon + 1, 1, 65535, &port) != 0)
    return -1;
  char host[WDEF_ADDR_SIZE];
  snprintf(host, sizeof host, "%.*s", (int)(colon - v), v);
  if (strcmp(host, "*") == 0)
    strcpy(host, "0.0.0.0");
  else if (ieq(host, "localhost"))
    strcpy(host, "127.0.0.1");
  else if (!addr_ok(host))
    return -1;
  strcpy(h->listen_addr, host);
  h->listen_port = port;
  return 0;
}

/* One HTTP attribute; 0 or -1 (reported). */
static int http_attr(wdef_http *h, const attr *a, const char *file, int line, wdef_errors *errs) {
  struct {
    const char *key;
    unsigned *field, lo, hi;
  } nums[] = {
      {"max_connections", &h->max_connections, 1, 10000},
      {"header_max", &h->header_max, 1024, 1048576},
      {"body_max", &h->body_max, 0, 16777216},
      {"request_timeout_s", &h->request_timeout_s, 1, 3600},
      {"keepalive_s", &h->keepalive_s, 1, 3600},
  };
  if (ieq(a->key, "listen")) {
    if (set_listen(h, a->val) == 0)
      return 0;
    wdef__err(errs, file, line,
              "bad listen '%s': expected ADDRESS:PORT (an IPv4 address, * or localhost, and a "
              "port 1..65535), e.g. 127.0.0.1:8080",
              a->val);
    return -1;
  }
  if (ieq(a->key, "auth")) {
    h->auth_given = 1;
    if (ieq(a->val, "basic") || ieq(a->val, "none")) {
      h->auth = ieq(a->val, "basic");
      return 0;
    }
    wdef__err(errs, file, line, "bad value for auth: '%s' (expected basic or none)", a->val);
    return -1;
  }
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    if (!ieq(a->key, nums[i].key))
      continue;
    if (uint_in(a->val, nums[i].lo, nums[i].hi, nums[i].field) == 0)
      return 0;
    wdef__err(errs, file, line, "%s=%s is not a number in %u..%u", nums[i].key, a->val, nums[i].lo,
              nums[i].hi);
    return -1;
  }
  wdef__err(errs, file, line, "unknown attribute '%s' for HTTP", a->key);
  return -1;
}

static int http_line(wdef_file *f, int line, attr *a, int n, wdef_errors *errs) {
  wdef_http *h = f->http;
  if (h->line != 0) {
    wdef__err(errs, f->path, line, "duplicate HTTP (first defined at line %d)", h->line);
    return 1;
  }
  h->line = line;
  for (int i = 0; i < n; i++)
    http_attr(h, &a[i], f->path, line, errs);
  return 1;
}

/* A path pattern: starts with '/', segments of URL characters or {name}. */
static int pattern_ok(const char *p) {
  if (p[0] != '/')
    return 0;
  unsigned segs = 0;
  for (const char *s = p + 1; *s != '\0';) {
    size_t n = strcspn(s, "/");
    if (n == 0 && s[n] == '/')
      return 0; /* an empty segment */
    if (++segs > WDEF_ROUTE_SEGMENTS_MAX)
      return 0;
    if (n > 0 && s[0] == '{') {
      if (n < 3 || s[n - 1] != '}')
        return 0;
      for (size_t i = 1; i + 1 < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
          return 0;
    } else {
      for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("-._~", s[i]) == NULL)
          return 0;
    }
    s += n + (s[n] == '/');
  }
  return 1;
}

static int route_attr(wdef_route *r, const attr *a, unsigned *given, const char *file, int line,
                      wdef_errors *errs) {
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
  if (ieq(a->key, "method")) {
    for (int i = 0; methods[i] != NULL; i++)
      if (ieq(a->val, methods[i])) {
        strcpy(r->method, methods[i]);
        *given |= 1;
        return 0;
      }
    wdef__err(errs, file, line, "bad method '%s' (GET, POST, PUT, PATCH or DELETE)", a->val);
  } else if (ieq(a->key, "path")) {
    if (strlen(a->val) <= WDEF_ROUTE_PATH_MAX && pattern_ok(a->val)) {
      strcpy(r->path, a->val);
      *given |= 2;
      return 0;
    }
    wdef__err(errs, file, line,
              "bad path '%.60s': /segment/{param}/... (letters, digits, - . _ ~; at most %d "
              "segments, %d characters)",
              a->val, WDEF_ROUTE_SEGMENTS_MAX, WDEF_ROUTE_PATH_MAX);
  } else if (ieq(a->key, "tranid") || ieq(a->key, "enclave")) {
    int is_tran = ieq(a->key, "tranid");
    if (wdef__name_ok(a->val, WEFT_NAME_MAX, 1)) {
      strcpy(is_tran ? r->tranid : r->enclave, a->val);
      *given |= is_tran ? 4 : 8;
      return 0;
    }
    wdef__err(errs, file, line, "bad %s '%s': 1-%d printable characters without spaces", a->key,
              a->val, WEFT_NAME_MAX);
  } else {
    wdef__err(errs, file, line, "unknown attribute '%s' for ROUTE", a->key);
  }
  return -1;
}

static int route_line(wdef_file *f, int line, attr *a, int n, wdef_errors *errs) {
  wdef_http *h = f->http;
  wdef_route *nr = realloc(h->routes, (h->n_routes + 1) * sizeof *nr);
  if (nr == NULL)
    return -1;
  h->routes = nr;
  wdef_route *r = &nr[h->n_routes];
  memset(r, 0, sizeof *r);
  r->line = line;
  unsigned given = 0;
  int ok = 1;
  for (int i = 0; i < n; i++)
    ok &= route_attr(r, &a[i], &given, f->path, line, errs) == 0;
  if (ok && (given & 7) != 7) {
    wdef__err(errs, f->path, line, "ROUTE needs method=, path= and tranid=");
    ok = 0;
  }
  for (size_t i = 0; ok && i < h->n_routes; i++) {
    if (strcmp(h->routes[i].method, r->method) == 0 && strcmp(h->routes[i].path, r->path) == 0) {
      wdef__err(errs, f->path, line, "duplicate ROUTE %s %s (first defined at line %d)", r->method,
                r->path, h->routes[i].line);
      ok = 0;
    }
  }
  if (ok)
    h->n_routes++;
  return 1;
}

int wdef__http_line(wdef_file *f, int flags, int line, const char *text, wdef_errors *errs) {
  char kind[16];
  const char *rest = kind_of(text, kind, sizeof kind);
  int is_http = ieq(kind, "HTTP"), is_route = ieq(kind, "ROUTE");
  if (!is_http && !is_route)
    return 0;
  if ((flags & WDEF_REGION_MODE) == WDEF_REGION_FORBIDDEN) {
    wdef__err(errs, f->path, line,
              "%s is only allowed in the file a region starts from (not in an installed file)",
              is_http ? "HTTP" : "ROUTE");
    return 1;
  }
  if (f->http == NULL && (f->http = calloc(1, sizeof *f->http)) == NULL)
    return -1;
  wdef_http *h = f->http;
  if (h->listen_port == 0) { /* the defaults */
    strcpy(h->listen_addr, "127.0.0.1");
    h->listen_port = 8080;
    h->max_connections = 256;
    h->header_max = 8192;
    h->body_max = 65536;
    h->request_timeout_s = 30;
    h->keepalive_s = 15;
  }
  attr a[ATTRS_MAX];
  int n = split_attrs(rest, a, f->path, line, errs);
  if (n < 0)
    return 1;
  return is_http ? http_line(f, line, a, n, errs) : route_line(f, line, a, n, errs);
}

void wdef__http_check(wdef_file *f, int flags, wdef_errors *errs) {
  wdef_http *h = f->http;
  if (h == NULL)
    return;
  if (!h->auth_given)
    h->auth = f->region.signon;
  for (size_t i = 0; i < h->n_routes; i++) {
    const wdef_route *r = &h->routes[i];
    if (h->line == 0)
      wdef__err(errs, f->path, r->line, "ROUTE needs an HTTP line (the listener) in the file");
    if (!(flags & WDEF_EXTERNAL_REFS) && wdef_find_transaction(f, r->tranid) == NULL)
      wdef__err(errs, f->path, r->line, "ROUTE names transaction %s, which is not defined",
                r->tranid);
    if (r->enclave[0] != '\0' && !(flags & WDEF_EXTERNAL_REFS) &&
        strcmp(r->enclave, "DEFAULT") != 0 && wdef_find_enclave(f, r->enclave) == NULL)
      wdef__err(errs, f->path, r->line, "ROUTE names enclave %s, which is not defined", r->enclave);
  }
}

void wdef__http_free(wdef_http *h) {
  if (h == NULL)
    return;
  free(h->routes);
  free(h);
}

/* ---- Matching ------------------------------------------------------------------- */

/* Does pattern match path (segment by segment)? */
static int path_match(const char *pat, const char *path) {
  for (;;) {
    if (*pat != '/' || *path != '/')
      return *pat == '\0' && (*path == '\0' || (path[0] == '/' && path[1] == '\0'));
    pat++, path++;
    size_t pn = strcspn(pat, "/"), sn = strcspn(path, "/");
    if (pn == 0 && sn == 0)
      return pat[0] == '\0' && path[0] == '\0';
    if (pat[0] == '{') {
      if (sn == 0)
        return 0;
    } else if (pn != sn || memcmp(pat, path, pn) != 0) {
      return 0;
    }
    pat += pn, path += sn;
  }
}

const wdef_route *wdef_route_match(const wdef_http *h, const char *method, const char *path,
                                   int *path_matched) {
  *path_matched = 0;
  if (h == NULL)
    return NULL;
  for (size_t i = 0; i < h->n_routes; i++) {
    if (!path_match(h->routes[i].path, path))
      continue;
    *path_matched = 1;
    if (strcmp(h->routes[i].method, method) == 0)
      return &h->routes[i];
  }
  return NULL;
}

void wdef_route_params(const wdef_route *r, const char *path,
                       void (*fn)(void *ctx, const char *name, const char *value), void *ctx) {
  const char *pat = r->path;
  while (*pat == '/' && *path == '/') {
    pat++, path++;
    size_t pn = strcspn(pat, "/"), sn = strcspn(path, "/");
    if (pat[0] == '{' && pn >= 3) {
      char name[WDEF_ROUTE_PATH_MAX + 1], value[WDEF_ROUTE_PATH_MAX + 1];
      snprintf(name, sizeof name, "%.*s", (int)(pn - 2), pat + 1);
      snprintf(value, sizeof value, "%.*s", (int)(sn < sizeof value ? sn : sizeof value - 1), path);
      fn(ctx, name, value);
    }
    pat += pn, path += sn;
  }
}
