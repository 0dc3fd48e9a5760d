/* test_regiondef_db.c - DATASOURCE lines of region definition files
 * (tools/common/regiondef_db.c): what is accepted, and every refusal named
 * with its file and line. Installing them needs a database: tests/db/. */
#include "helpers.h"
#include "regiondef.h"
#include "weft/db.h"

static wdef_file *g_f;
static wdef_errors g_errs;

static int parse(const char *text) {
  wdef_free(g_f);
  g_f = NULL;
  wdef_errors_free(&g_errs);
  return wdef_parse_string(text, strlen(text), "db.wrd", NULL, WDEF_REGION_OPTIONAL, &g_f, &g_errs);
}

/* The errors joined, for messages and searches. */
static const char *errs(void) {
  static char all[4096];
  all[0] = '\0';
  for (size_t i = 0; i < g_errs.n; i++) {
    strncat(all, g_errs.v[i].text, sizeof all - strlen(all) - 2);
    strcat(all, "\n");
  }
  return all;
}

static void refused(const char *text, const char *want) {
  cr_assert_eq(parse(text), WEFT_EINVAL, "accepted: %s", text);
  cr_assert_not_null(strstr(errs(), want), "want \"%s\", got:\n%s", want, errs());
}

Test(regiondef_db, a_full_definition) {
  int rc = parse("REGION name=BANK\n"
                 "# the bank's database\n"
                 "DATASOURCE name=PG connect=\"Driver={PostgreSQL Unicode};Server=127.0.0.1;"
                 "Port=5432;Database=bank\" user=bank password_env=BANK_PW pool_min=2 "
                 "pool_max=6 connect_timeout=5 statement_timeout=none wait_timeout_ms=750 "
                 "two_phase=postgres\n"
                 "DATASOURCE name=AUDIT dsn=auditdb two_phase=none\n");
  cr_assert_eq(rc, 0, "%s", errs());
  cr_assert_eq(g_f->n_datasources, 2);
  const wdef_datasource *d = &g_f->datasources[0];
  cr_assert_eq(d->line, 3);
  cr_assert_str_eq(d->name, "PG");
  cr_assert_str_eq(d->connect,
                   "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=bank");
  cr_assert_str_eq(d->user, "bank");
  cr_assert_str_eq(d->password_env, "BANK_PW");
  cr_assert_eq(d->pool_min, 2);
  cr_assert_eq(d->pool_max, 6);
  cr_assert_eq(d->connect_timeout_s, 5);
  cr_assert_eq(d->statement_timeout_s, WEFT_OFF);
  cr_assert_eq(d->wait_timeout_ms, 750);
  cr_assert_eq(d->two_phase, WEFT_DB_2PC_POSTGRES);
  cr_assert_str_eq(g_f->datasources[1].connect, "DSN=auditdb");
  cr_assert_eq(g_f->datasources[1].two_phase, WEFT_DB_2PC_NONE);
}

Test(regiondef_db, bad_definitions_name_their_line) {
  refused("DATASOURCE name=PG\n", "db.wrd:1: DATASOURCE needs connect= or dsn=");
  refused("\nDATASOURCE connect=x\n", "db.wrd:2: DATASOURCE needs name=");
  refused("DATASOURCE name=A:B dsn=x\n", "db.wrd:1: DATASOURCE: bad name 'A:B'");
  refused("DATASOURCE name=PG dsn=x connect=y\n", "db.wrd:1: DATASOURCE: give one of connect=");
  refused("DATASOURCE name=PG dsn=x pool_min=5 pool_max=2\n",
          "db.wrd:1: DATASOURCE: pool_min=5 is above pool_max=2");
  refused("DATASOURCE name=PG dsn=x pool_max=0\n", "db.wrd:1: DATASOURCE: bad pool_max '0'");
  refused("DATASOURCE name=PG dsn=x statement_timeout=soon\n",
          "db.wrd:1: DATASOURCE: bad statement_timeout 'soon'");
  refused("DATASOURCE name=PG dsn=x two_phase=xa\n", "db.wrd:1: DATASOURCE: bad two_phase 'xa'");
  refused("DATASOURCE name=PG dsn=x password=secret\n",
          "db.wrd:1: DATASOURCE: no password= in a definition file");
  refused("DATASOURCE name=PG dsn=x password_env=A password_file=b\n",
          "db.wrd:1: DATASOURCE: give one of password_env=");
  refused("DATASOURCE name=PG dsn=x colour=red\n",
          "db.wrd:1: unknown attribute 'colour' for DATASOURCE");
  refused("DATASOURCE name=PG dsn=x\nDATASOURCE name=PG dsn=y\n",
          "db.wrd:2: duplicate DATASOURCE PG (first defined at line 1)");
}
