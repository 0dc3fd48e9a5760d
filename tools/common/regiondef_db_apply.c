/* regiondef_db_apply.c - installing the DATASOURCE lines of a parsed
 * region definition file (regiondef_db.c parses them): the password from
 * the environment or a file, then weft_db_source_define (docs/odbc.md).
 * Called by wdef_apply after the other kinds. Nothing here keeps state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regiondef_int.h"
#include "weft/db.h"

/* The password of d into buf (cap bytes): 0, or -1 after reporting. */
static int password_of(const wdef_file *f, const wdef_datasource *d, char *buf, size_t cap,
                       wdef_errors *errs) {
  if (d->password_env != NULL) {
    const char *v = getenv(d->password_env);
    if (v == NULL) {
      wdef__err(errs, f->path, d->line, "DATASOURCE %s: the variable %s (password_env=) is not set",
                d->name, d->password_env);
      return -1;
    }
    snprintf(buf, cap, "%s", v);
    return 0;
  }
  FILE *in = fopen(d->password_file, "r");
  if (in == NULL) {
    wdef__err(errs, f->path, d->line, "DATASOURCE %s: cannot read password_file %s", d->name,
              d->password_file);
    return -1;
  }
  if (fgets(buf, (int)cap, in) == NULL)
    buf[0] = '\0';
  fclose(in);
  buf[strcspn(buf, "\r\n")] = '\0';
  return 0;
}

int wdef__datasource_apply(const wdef_file *f, weft_region *r, wdef_errors *errs) {
  int worst = 0;
  for (size_t i = 0; i < f->n_datasources; i++) {
    const wdef_datasource *d = &f->datasources[i];
    char pw[512] = "";
    int has_pw = d->password_env != NULL || d->password_file != NULL;
    if (has_pw && password_of(f, d, pw, sizeof pw, errs) != 0) {
      worst = WEFT_EINVAL;
      continue;
    }
    weft_db_source_def def = {0};
    def.name = d->name;
    def.connect = d->connect;
    def.user = d->user;
    def.password = has_pw ? pw : NULL;
    def.region = f->region.name[0] != '\0' ? f->region.name : NULL;
    def.pool_min = d->pool_min;
    def.pool_max = d->pool_max;
    def.connect_timeout_s = d->connect_timeout_s;
    def.statement_timeout_s = d->statement_timeout_s;
    def.wait_timeout_ms = d->wait_timeout_ms;
    def.two_phase = d->two_phase;
    int rc = weft_db_source_define(r, &def);
    memset(pw, 0, sizeof pw);
    if (rc != 0) {
      wdef__err(errs, f->path, d->line, "DATASOURCE %s: cannot define it: %s (%s)%s", d->name,
                weft_strerror(rc), weft_err_name(rc),
                rc == WEFT_EDB ? "; the region log has the driver's message" : "");
      worst = rc == WEFT_ENOMEM ? rc : WEFT_EINVAL;
    }
  }
  return worst;
}
