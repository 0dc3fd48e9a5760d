/* regiondef_db.c - DATASOURCE lines of region definition files: ODBC data
 * sources (weft/db.h, docs/odbc.md, docs/region-config.md).
 *
 *   DATASOURCE name=PG connect="Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=bank"
 *              user=bank password_env=BANK_DB_PASSWORD pool_min=2 pool_max=8
 *              connect_timeout=10 statement_timeout=30 wait_timeout_ms=5000 two_phase=postgres
 *
 * Exactly one of connect= (an ODBC connection string) and dsn= (a DSN
 * name). Credentials: user=, and the password from the environment
 * (password_env=VARIABLE) or from the first line of a file
 * (password_file=PATH, relative to the definition file), never in the
 * definition file itself. Both are read when the file is applied, so a
 * missing variable or file is reported then, at its line.
 *
 * Parsing only (no weft call: weftload links this without weft.dll);
 * installing is regiondef_db_apply.c. Ownership: the wdef_datasource
 * entries belong to their wdef_file (freed by wdef__datasource_free from
 * wdef_free). Nothing here keeps state. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regiondef_int.h"
#include "weft/db.h"

static int ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
      return 0;
  return *a == *b;
}

static int uint_of(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  unsigned long long v = 0;
  if (*s == '\0')
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || (v = v * 10 + (unsigned)(*s - '0')) > UINT_MAX)
      return -1;
  }
  if (v < lo || v > hi)
    return -1;
  *out = (unsigned)v;
  return 0;
}

/* A name for a data source: 1-8 printable characters without ' or :. */
static int ds_name_ok(const char *v) {
  return wdef__name_ok(v, WEFT_NAME_MAX, 0) && strchr(v, '\'') == NULL && strchr(v, ':') == NULL;
}

/* An absolute copy of path (relative ones against dir). */
static char *abs_path(const char *dir, const char *path) {
  int absolute = path[0] == '\\' || path[0] == '/' || (path[0] != '\0' && path[1] == ':');
  if (absolute || dir == NULL)
    return wdef__strdup(path);
  size_t n = strlen(dir) + strlen(path) + 2;
  char *s = malloc(n);
  if (s != NULL)
    snprintf(s, n, "%s\\%s", dir, path);
  return s;
}

typedef struct ds_ctx {
  wdef_file *f;
  wdef_errors *errs;
  int line;
  int nomem;
  int bad;
} ds_ctx;

#define DERR(c, ...)                                                     \
  do {                                                                   \
    if (wdef__err((c)->errs, (c)->f->path, (c)->line, __VA_ARGS__) != 0) \
      (c)->nomem = 1;                                                    \
    (c)->bad = 1;                                                        \
  } while (0)

static void set_str(ds_ctx *c, char **field, const char *v) {
  free(*field);
  if ((*field = wdef__strdup(v)) == NULL)
    c->nomem = 1;
}

/* One uint attribute; 1 when key was one of them. */
static int set_uint(ds_ctx *c, wdef_datasource *d, const char *key, const char *v) {
  static const struct {
    const char *key;
    size_t off;
    unsigned lo, hi;
  } u[] = {
      {"pool_min", offsetof(wdef_datasource, pool_min), 0, WEFT_DB_POOL_MAX},
      {"pool_max", offsetof(wdef_datasource, pool_max), 1, WEFT_DB_POOL_MAX},
      {"connect_timeout", offsetof(wdef_datasource, connect_timeout_s), 1, 3600},
      {"statement_timeout", offsetof(wdef_datasource, statement_timeout_s), 1, 86400},
      {"wait_timeout_ms", offsetof(wdef_datasource, wait_timeout_ms), 1, 3600000},
  };
  for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
    if (!ieq(key, u[i].key))
      continue;
    unsigned *field = (unsigned *)((char *)d + u[i].off);
    if (strcmp(u[i].key, "statement_timeout") == 0 && ieq(v, "none"))
      *field = WEFT_OFF;
    else if (uint_of(v, u[i].lo, u[i].hi, field) != 0)
      DERR(c, "DATASOURCE: bad %s '%s' (expected %u..%u%s)", u[i].key, v, u[i].lo, u[i].hi,
           strcmp(u[i].key, "statement_timeout") == 0 ? " or none" : "");
    return 1;
  }
  return 0;
}

static void set_attr(ds_ctx *c, wdef_datasource *d, const char *key, const char *v, int *has_conn) {
  if (ieq(key, "name")) {
    if (!ds_name_ok(v))
      DERR(c, "DATASOURCE: bad name '%s': 1-8 printable characters without spaces, ' or :", v);
    else
      strcpy(d->name, v);
  } else if (ieq(key, "connect") || ieq(key, "dsn")) {
    if (*has_conn)
      DERR(c, "DATASOURCE: give one of connect= and dsn=");
    *has_conn = 1;
    if (*v == '\0') {
      DERR(c, "DATASOURCE: %s= is empty", key);
    } else if (ieq(key, "dsn")) {
      char buf[300];
      snprintf(buf, sizeof buf, "DSN=%s", v);
      set_str(c, &d->connect, buf);
    } else {
      set_str(c, &d->connect, v);
    }
  } else if (ieq(key, "user")) {
    set_str(c, &d->user, v);
  } else if (ieq(key, "password_env")) {
    set_str(c, &d->password_env, v);
  } else if (ieq(key, "password_file")) {
    free(d->password_file);
    if ((d->password_file = abs_path(c->f->dir, v)) == NULL)
      c->nomem = 1;
  } else if (ieq(key, "password")) {
    DERR(c, "DATASOURCE: no password= in a definition file: use password_env= or "
            "password_file=");
  } else if (ieq(key, "two_phase")) {
    if (ieq(v, "postgres"))
      d->two_phase = WEFT_DB_2PC_POSTGRES;
    else if (ieq(v, "none"))
      d->two_phase = WEFT_DB_2PC_NONE;
    else
      DERR(c, "DATASOURCE: bad two_phase '%s' (expected postgres or none)", v);
  } else if (!set_uint(c, d, key, v)) {
    DERR(c, "unknown attribute '%s' for DATASOURCE", key);
  }
}

static void ds_release(wdef_datasource *d) {
  free(d->connect);
  free(d->user);
  free(d->password_env);
  free(d->password_file);
}

int wdef__datasource_line(wdef_file *f, wdef_errors *errs, int line, const char *const *keys,
                          const char *const *vals, int n) {
  ds_ctx c = {f, errs, line, 0, 0};
  wdef_datasource d;
  memset(&d, 0, sizeof d);
  d.line = line;
  int has_conn = 0;
  for (int i = 0; i < n; i++)
    set_attr(&c, &d, keys[i], vals[i], &has_conn);
  if (d.name[0] == '\0' && !c.bad)
    DERR(&c, "DATASOURCE needs name=");
  if (!has_conn)
    DERR(&c, "DATASOURCE needs connect= or dsn=");
  if (d.password_env != NULL && d.password_file != NULL)
    DERR(&c, "DATASOURCE: give one of password_env= and password_file=");
  if (d.pool_max > 0 && d.pool_min > d.pool_max)
    DERR(&c, "DATASOURCE: pool_min=%u is above pool_max=%u", d.pool_min, d.pool_max);
  if (d.pool_max == 0 && d.pool_min > 8)
    DERR(&c, "DATASOURCE: pool_min=%u is above the default pool_max (8)", d.pool_min);
  wdef_datasource *na =
      c.nomem ? NULL : realloc(f->datasources, (f->n_datasources + 1) * sizeof *na);
  if (na == NULL) {
    ds_release(&d);
    return -1;
  }
  f->datasources = na;
  f->datasources[f->n_datasources++] = d;
  return 0;
}

void wdef__datasource_dups(const wdef_file *f, wdef_errors *errs) {
  for (size_t i = 1; i < f->n_datasources; i++) {
    for (size_t j = 0; j < i; j++) {
      if (f->datasources[i].name[0] != '\0' &&
          strcmp(f->datasources[i].name, f->datasources[j].name) == 0) {
        wdef__err(errs, f->path, f->datasources[i].line,
                  "duplicate DATASOURCE %s (first defined at line %d)", f->datasources[i].name,
                  f->datasources[j].line);
        break;
      }
    }
  }
}

void wdef__datasource_free(wdef_file *f) {
  for (size_t i = 0; i < f->n_datasources; i++)
    ds_release(&f->datasources[i]);
  free(f->datasources);
  f->datasources = NULL;
  f->n_datasources = 0;
}
