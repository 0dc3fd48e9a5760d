/* errors.c - error names and messages, the assertion failure routine and
 * region messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/internal.h"

const char *weft_strerror(int err) {
  switch (err) {
    case WEFT_OK:
      return "success";
#define WEFT__ERR_MSG(name, value, msg) \
  case WEFT_##name:                     \
    return msg;
      WEFT_ERRNO_MAP(WEFT__ERR_MSG)
#undef WEFT__ERR_MSG
    default:
      return "unknown error";
  }
}

const char *weft_err_name(int err) {
  switch (err) {
    case WEFT_OK:
      return "WEFT_OK";
#define WEFT__ERR_NAME(name, value, msg) \
  case WEFT_##name:                      \
    return "WEFT_" #name;
      WEFT_ERRNO_MAP(WEFT__ERR_NAME)
#undef WEFT__ERR_NAME
    default:
      return "WEFT_E?";
  }
}

/* Formats into a stack buffer by hand: no allocation, no stdio. */
static char *put_str(char *p, char *end, const char *s) {
  while (*s && p < end)
    *p++ = *s++;
  return p;
}

static char *put_int(char *p, char *end, int v) {
  char tmp[16];
  int n = 0;
  unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
  do
    tmp[n++] = (char)('0' + u % 10);
  while ((u /= 10) && n < 15);
  if (v < 0 && p < end)
    *p++ = '-';
  while (n && p < end)
    *p++ = tmp[--n];
  return p;
}

void weft__assert_fail(const char *expr, const char *file, int line) {
  char buf[512], *p = buf, *end = buf + sizeof buf - 2;
  p = put_str(p, end, "weft: assertion failed: ");
  p = put_str(p, end, expr);
  p = put_str(p, end, " (");
  p = put_str(p, end, file);
  p = put_str(p, end, ":");
  p = put_int(p, end, line);
  p = put_str(p, end, ")\n");
  *p = '\0';
  weft__write_stderr(buf);
  abort();
}

static void log_default(void *ctx, char level, const char *msg) {
  fprintf(stderr, "weft %c %s\n", level, msg);
  fflush(stderr);
}

void weft__log(weft_region *r, char level, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  weft_log_fn fn = r && r->r_cfg.log_fn ? r->r_cfg.log_fn : log_default;
  fn(r ? r->r_cfg.log_ctx : NULL, level, msg);
}
