/* test_web.c - the HTTP subsystem of weft.dll (web/, include/weft/http.h)
 * without a network: exchanges started on a region, the program's view of
 * the request, the response handed to the host after the unit of work,
 * abends as 500, a released exchange (the client gone) abending its task
 * ATNI and backing out its record; and the HTTP and ROUTE lines of region
 * definition files (tools/common/regiondef_http.h): defaults, errors,
 * matching and path parameters. */
#include "helpers.h"

#include "regiondef.h"
#include "regiondef_http.h"
#include "weft/http.h"

TestSuite(web, .timeout = TH_TEST_TIMEOUT);

/* What the done callback got (host side). */
typedef struct answer {
  atomic_int done;
  int status;
  char abcode[5];
  char ctype[64], extra[64];
  char body[512];
} answer;

static void on_done(void *ctx, const weft_http_response *rsp) {
  answer *a = ctx;
  a->status = rsp->status;
  snprintf(a->abcode, sizeof a->abcode, "%s", rsp->abcode);
  snprintf(a->ctype, sizeof a->ctype, "%s", rsp->headers[0].value);
  for (size_t i = 1; i < rsp->n_headers; i++)
    if (strcmp(rsp->headers[i].name, "X-Extra") == 0)
      snprintf(a->extra, sizeof a->extra, "%s", rsp->headers[i].value);
  snprintf(a->body, sizeof a->body, "%.*s", (int)rsp->body_len, (const char *)rsp->body);
  atomic_store(&a->done, 1);
}

/* Echo what the API reads. */
static void echo(weft_task *t) {
  const void *body;
  size_t len = 0;
  if (weft_http_body(t, &body, &len) != 0)
    body = "(no body)";
  weft_http_set_status(t, 201);
  weft_http_set_header(t, "X-Extra", "e1");
  weft_http_set_header(t, "Content-Type", "text/plain");
  weft_http_printf(t, "%s %s id=%s q=%s h=%s body=%.*s(%u) req=%d", weft_http_method(t),
                   weft_http_path(t), weft_http_param(t, "id"), weft_http_query(t, "q"),
                   weft_http_header(t, "x-test"), (int)len, (const char *)body, (unsigned)len,
                   weft_http_is_request(t));
}

static void abender(weft_task *t) {
  weft_http_printf(t, "partial");
  weft_abend(t, "TABN");
}

static atomic_int g_waiting;

/* Write a record, then wait until purged (the client went away). */
static void writer(weft_task *t) {
  const char *key = weft_http_param(t, "key");
  weft_file_write(t, "F", key, strlen(key), "v", 1);
  atomic_store(&g_waiting, 1);
  weft_delay(t, 60000);
  weft_http_printf(t, "late");
}

static void reader(weft_task *t) {
  char buf[4];
  size_t len;
  const char *key = weft_http_param(t, "key");
  int rc = weft_file_read(t, "F", key, strlen(key), buf, sizeof buf, &len, 0);
  weft_http_set_status(t, rc == 0 ? 200 : 404);
}

/* A task with no exchange sees none. */
static atomic_int g_plain_rc = 1;
static void plain(weft_task *t) {
  atomic_store(&g_plain_rc, weft_http_is_request(t) == 0 && weft_http_path(t) == NULL &&
                                    weft_http_set_status(t, 200) == WEFT_ESTATE
                                ? 0
                                : -1);
}

static weft_region *web_region(void) {
  weft_region *r = th_region(2, 64);
  th_define(r, "ECHO", echo, 10);
  th_define(r, "ABND", abender, 10);
  th_define(r, "WRIT", writer, 10);
  th_define(r, "READ", reader, 10);
  th_define(r, "PLAIN", plain, 10);
  weft_file_def f = {"F", 16, 8};
  cr_assert_eq(weft_file_define(r, &f), 0);
  return r;
}

static weft_http_exchange *exchange(weft_region *r, const char *method, const char *path,
                                    answer *a) {
  weft_http_exchange *x;
  cr_assert_eq(weft_http_exchange_create(r, method, path, on_done, a, &x), 0);
  return x;
}

Test(web, request_and_response) {
  weft_region *r = web_region();
  answer a = {0};
  weft_http_exchange *x = exchange(r, "POST", "/echo/7", &a);
  weft_http_exchange_add(x, WEFT_HTTP_PARAM, "id", "7");
  weft_http_exchange_add(x, WEFT_HTTP_QUERY, "q", "two words");
  weft_http_exchange_add(x, WEFT_HTTP_HEADER, "X-Test", "h1");
  weft_http_exchange_body(x, "{\"a\":1}", 7);
  uint64_t no = 0;
  cr_assert_eq(weft_http_start(r, "ECHO", x, NULL, &no), 0);
  cr_assert_gt(no, 0);
  th_wait_until(atomic_load(&a.done));
  cr_expect_eq(weft_http_exchange_release(x), 0, "answered: nothing to abend");
  cr_expect_eq(a.status, 201);
  cr_expect_str_eq(a.abcode, "");
  cr_expect_str_eq(a.ctype, "text/plain");
  cr_expect_str_eq(a.extra, "e1");
  cr_expect_str_eq(a.body, "POST /echo/7 id=7 q=two words h=h1 body={\"a\":1}(7) req=1");
  th_start(r, "PLAIN", NULL, 0);
  th_wait_ended(r, 2);
  cr_expect_eq(atomic_load(&g_plain_rc), 0, "a task without an exchange sees none");
  th_finish(r);
}

Test(web, abend_is_500_with_its_code) {
  weft_region *r = web_region();
  answer a = {0};
  weft_http_exchange *x = exchange(r, "GET", "/abend", &a);
  cr_assert_eq(weft_http_start(r, "ABND", x, NULL, NULL), 0);
  th_wait_until(atomic_load(&a.done));
  weft_http_exchange_release(x);
  cr_expect_eq(a.status, 500);
  cr_expect_str_eq(a.abcode, "TABN");
  cr_expect_str_eq(a.ctype, "application/json");
  cr_expect(strstr(a.body, "\"abcode\":\"TABN\"") != NULL, "body %s", a.body);
  cr_expect(strstr(a.body, "partial") == NULL, "what the task wrote is dropped");
  th_finish(r);
}

Test(web, start_failure_calls_nothing) {
  weft_region *r = web_region();
  answer a = {0};
  weft_http_exchange *x = exchange(r, "GET", "/x", &a);
  cr_expect_eq(weft_http_start(r, "NOSUCH", x, NULL, NULL), WEFT_ENOTRAN);
  cr_expect_eq(weft_http_exchange_release(x), 0);
  th_finish(r);
  cr_expect_eq(atomic_load(&a.done), 0);
}

Test(web, released_exchange_abends_and_backs_out) {
  weft_region *r = web_region();
  answer a = {0}, b = {0};
  atomic_store(&g_waiting, 0);
  weft_http_exchange *x = exchange(r, "POST", "/w/k1", &a);
  weft_http_exchange_add(x, WEFT_HTTP_PARAM, "key", "k1");
  uint64_t no = 0;
  cr_assert_eq(weft_http_start(r, "WRIT", x, NULL, &no), 0);
  th_wait_until(atomic_load(&g_waiting));
  cr_expect_eq(weft_http_exchange_release(x), 1, "the task had not answered");
  th_wait_ended(r, 1);
  weft_http_exchange *y = exchange(r, "GET", "/w/k1", &b);
  weft_http_exchange_add(y, WEFT_HTTP_PARAM, "key", "k1");
  cr_assert_eq(weft_http_start(r, "READ", y, NULL, NULL), 0);
  th_wait_until(atomic_load(&b.done));
  weft_http_exchange_release(y);
  cr_expect_eq(b.status, 404, "the released task's record was backed out");
  weft_region_stats s = th_finish(r);
  cr_expect_eq(s.tasks_abended, 1);
  cr_expect_eq(atomic_load(&a.done), 0, "no callback after release");
}

/* ---- HTTP and ROUTE lines --------------------------------------------------------- */

#define FILE_OK                                                                  \
  "REGION name=T\nPROGRAM name=P builtin=yes\nTRANSACTION tranid=T1 program=P\n" \
  "ENCLAVE name=E\n"

static wdef_file *parse(const char *text, int flags, wdef_errors *e) {
  wdef_file *f = NULL;
  wdef_parse_string(text, strlen(text), "t.wrd", ".", flags, &f, e);
  return f;
}

static int has(const wdef_errors *e, const char *needle) {
  for (size_t i = 0; i < e->n; i++)
    if (strstr(e->v[i].text, needle) != NULL)
      return 1;
  return 0;
}

Test(web, definitions_and_matching) {
  wdef_errors e = {0};
  wdef_file *f = parse(FILE_OK "HTTP listen=*:9090 body_max=10\n"
                               "ROUTE method=get path=/a/{id}/b tranid=T1 enclave=E\n"
                               "ROUTE method=POST path=/a tranid=T1\n",
                       WDEF_REGION_REQUIRED, &e);
  cr_assert_not_null(f, "errors: %s", e.n ? e.v[0].text : "");
  const wdef_http *h = f->http;
  cr_expect_str_eq(h->listen_addr, "0.0.0.0");
  cr_expect_eq(h->listen_port, 9090);
  cr_expect_eq(h->body_max, 10);
  cr_expect_eq(h->header_max, 8192, "defaults");
  cr_expect_eq(h->max_connections, 256);
  cr_expect_eq(h->auth, 0, "auth follows the REGION's signon (no)");
  int known;
  const wdef_route *rt = wdef_route_match(h, "GET", "/a/42/b", &known);
  cr_assert_not_null(rt);
  cr_expect_str_eq(rt->method, "GET");
  cr_expect_str_eq(rt->enclave, "E");
  cr_expect_null(wdef_route_match(h, "DELETE", "/a/42/b", &known));
  cr_expect_eq(known, 1, "the path has a route with another method: 405");
  cr_expect_null(wdef_route_match(h, "GET", "/a//b", &known));
  cr_expect_eq(known, 0, "an empty segment matches no parameter");
  cr_expect_null(wdef_route_match(h, "GET", "/a/42/b/c", &known));
  cr_expect_not_null(wdef_route_match(h, "POST", "/a/", &known), "a trailing slash");
  wdef_free(f);
}

Test(web, definition_errors) {
  static const struct {
    const char *text, *needle;
  } cases[] = {
      {FILE_OK "HTTP listen=1.2.3:80\n", "bad listen"},
      {FILE_OK "HTTP keepalive_s=0\n", "keepalive_s=0 is not a number in 1..3600"},
      {FILE_OK "HTTP auth=maybe\n", "expected basic or none"},
      {FILE_OK "HTTP nosuch=1\n", "unknown attribute 'nosuch' for HTTP"},
      {FILE_OK "HTTP\nHTTP\n", "duplicate HTTP"},
      {FILE_OK "ROUTE method=GET path=/a tranid=T1\n", "ROUTE needs an HTTP line"},
      {FILE_OK "HTTP\nROUTE method=GET path=/a tranid=NOPE\n", "transaction NOPE"},
      {FILE_OK "HTTP\nROUTE method=GET path=/a tranid=T1 enclave=NOPE\n", "enclave NOPE"},
      {FILE_OK "HTTP\nROUTE method=GET path=a tranid=T1\n", "bad path"},
      {FILE_OK "HTTP\nROUTE method=GET path=/{x tranid=T1\n", "bad path"},
      {FILE_OK "HTTP\nROUTE method=TRACE path=/a tranid=T1\n", "bad method"},
      {FILE_OK "HTTP\nROUTE method=GET path=/a\n", "ROUTE needs method=, path= and tranid="},
      {FILE_OK "HTTP\nROUTE method=GET path=/a tranid=T1\nROUTE method=GET path=/a tranid=T1\n",
       "duplicate ROUTE GET /a"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wdef_errors e = {0};
    wdef_file *f = parse(cases[i].text, WDEF_REGION_REQUIRED, &e);
    cr_expect_null(f, "case %zu parsed", i);
    cr_expect(has(&e, cases[i].needle), "case %zu: no error with '%s' (first: %s)", i,
              cases[i].needle, e.n ? e.v[0].text : "none");
    wdef_free(f);
    wdef_errors_free(&e);
  }
  wdef_errors e = {0};
  cr_expect_null(parse("HTTP\n", WDEF_INSTALL, &e));
  cr_expect(has(&e, "only allowed in the file a region starts from"));
  wdef_errors_free(&e);
}
