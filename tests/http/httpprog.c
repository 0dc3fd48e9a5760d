/* httpprog.c - programs for the HTTP tests (tests/http/test_http.py), in
 * httpprog.dll: the request API echoed back, an abend, and a task that
 * writes a record and waits (for a client that disconnects, or a full
 * class). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "weft/http.h"

/* Write s as a JSON string (the tests send printable ASCII). */
static void jstr(weft_task *t, const char *s) {
  weft_http_write(t, "\"", 1);
  for (; s != NULL && *s; s++) {
    if (*s == '"' || *s == '\\')
      weft_http_write(t, "\\", 1);
    weft_http_write(t, s, 1);
  }
  weft_http_write(t, "\"", 1);
}

/* ANY /echo/{id}: what the API reads, as JSON; ?status=N sets the status
 * and X-Echo a response header. */
WEFT_PROGRAM void http_echo(weft_task *t) {
  const void *body;
  size_t len;
  weft_http_body(t, &body, &len);
  const char *st = weft_http_query(t, "status");
  if (st != NULL)
    weft_http_set_status(t, atoi(st));
  weft_http_set_header(t, "X-Echo", "yes");
  weft_http_printf(t, "{\"method\":");
  jstr(t, weft_http_method(t));
  weft_http_printf(t, ",\"path\":");
  jstr(t, weft_http_path(t));
  weft_http_printf(t, ",\"id\":");
  jstr(t, weft_http_param(t, "id"));
  weft_http_printf(t, ",\"q\":");
  jstr(t, weft_http_query(t, "q"));
  weft_http_printf(t, ",\"x_test\":");
  jstr(t, weft_http_header(t, "x-test"));
  weft_http_printf(t, ",\"authorization\":");
  jstr(t, weft_http_header(t, "Authorization"));
  weft_http_printf(t, ",\"user\":");
  jstr(t, weft_task_userid(t));
  weft_http_printf(t, ",\"body\":");
  jstr(t, body);
  weft_http_printf(t, ",\"body_len\":%u}\n", (unsigned)len);
}

/* GET /abend: abends TABN (the answer is a 500 naming it). */
WEFT_PROGRAM void http_abend(weft_task *t) {
  weft_http_printf(t, "{\"never\":\"sent\"}");
  weft_abend(t, "TABN");
}

/* POST /slow/{key}?ms=N: write record key in SLOWF (uncommitted), wait N
 * ms, then commit (at the end). A purge (the client went away) abends it
 * and the record is backed out. */
WEFT_PROGRAM void http_slow(weft_task *t) {
  const char *key = weft_http_param(t, "key");
  const char *ms = weft_http_query(t, "ms");
  int rc = weft_file_write(t, "SLOWF", key, strlen(key), "v", 1);
  if (rc != 0) {
    weft_http_set_status(t, 409);
    weft_http_printf(t, "{\"error\":\"%s\"}\n", weft_err_name(rc));
    return;
  }
  weft_delay(t, ms != NULL ? (unsigned)atoi(ms) : 0);
  weft_http_printf(t, "{\"written\":");
  jstr(t, key);
  weft_http_printf(t, "}\n");
}

/* GET /slow/{key}: 200 when the record is there, 404 when not. */
WEFT_PROGRAM void http_slowget(weft_task *t) {
  const char *key = weft_http_param(t, "key");
  char rec[8];
  size_t len = 0;
  int rc = weft_file_read(t, "SLOWF", key, strlen(key), rec, sizeof rec, &len, 0);
  weft_http_set_status(t, rc == 0 ? 200 : 404);
  weft_http_printf(t, "{\"found\":%s}\n", rc == 0 ? "true" : "false");
}
