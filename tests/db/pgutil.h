/* pgutil.h - the tests' own view of the database: a host-thread ODBC
 * connection (autocommit on) to check what db/ did, and the requests to
 * tests/db/pgtest.sh to stop or start the server. Test code only: it
 * blocks and asserts. */
#ifndef WEFT_TESTS_PGUTIL_H
#define WEFT_TESTS_PGUTIL_H

#include <sql.h>
#include <sqlext.h>
#include <stdlib.h>

static SQLHENV pg_env;
static SQLHDBC pg_dbc;

static inline void pg_fail(SQLSMALLINT type, SQLHANDLE h, const char *what) {
  SQLWCHAR st[6] = {0}, msg[512] = {0};
  SQLINTEGER native;
  SQLSMALLINT len;
  SQLGetDiagRecW(type, h, 1, st, &native, msg, 512, &len);
  char s[8], m[512];
  WideCharToMultiByte(CP_UTF8, 0, st, -1, s, sizeof s, NULL, NULL);
  WideCharToMultiByte(CP_UTF8, 0, msg, -1, m, sizeof m, NULL, NULL);
  cr_assert_fail("%s: SQLSTATE %s: %s", what, s, m);
}

static inline SQLWCHAR *pg_w(const char *s) {
  static SQLWCHAR buf[4][1024];
  static int k;
  SQLWCHAR *w = buf[k++ & 3];
  MultiByteToWideChar(CP_UTF8, 0, s, -1, w, 1024);
  return w;
}

/* Connect the test's own connection (once). */
static inline void pg_connect(void) {
  if (pg_dbc != NULL)
    return;
  const char *conn = getenv("WEFT_PG_CONN");
  cr_assert_not_null(conn, "WEFT_PG_CONN is not set: run through tests/db/pgtest.sh");
  char full[1024];
  snprintf(full, sizeof full, "%s;UID=%s;PWD=%s", conn, getenv("WEFT_PG_USER"),
           getenv("WEFT_PG_PASSWORD"));
  SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &pg_env);
  SQLSetEnvAttr(pg_env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
  SQLAllocHandle(SQL_HANDLE_DBC, pg_env, &pg_dbc);
  SQLRETURN rc =
      SQLDriverConnectW(pg_dbc, NULL, pg_w(full), SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
  if (!SQL_SUCCEEDED(rc))
    pg_fail(SQL_HANDLE_DBC, pg_dbc, "test connection");
}

/* Drop the test's connection (after the server restarted). */
static inline void pg_disconnect(void) {
  if (pg_dbc == NULL)
    return;
  SQLDisconnect(pg_dbc);
  SQLFreeHandle(SQL_HANDLE_DBC, pg_dbc);
  SQLFreeHandle(SQL_HANDLE_ENV, pg_env);
  pg_dbc = NULL;
}

static inline void pg_exec(const char *sql) {
  pg_connect();
  SQLHSTMT st;
  SQLAllocHandle(SQL_HANDLE_STMT, pg_dbc, &st);
  SQLRETURN rc = SQLExecDirectW(st, pg_w(sql), SQL_NTS);
  if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA)
    pg_fail(SQL_HANDLE_STMT, st, sql);
  SQLFreeHandle(SQL_HANDLE_STMT, st);
}

/* The first column of the first row as an integer. */
static inline long long pg_scalar(const char *sql) {
  pg_connect();
  SQLHSTMT st;
  SQLAllocHandle(SQL_HANDLE_STMT, pg_dbc, &st);
  SQLRETURN rc = SQLExecDirectW(st, pg_w(sql), SQL_NTS);
  if (!SQL_SUCCEEDED(rc))
    pg_fail(SQL_HANDLE_STMT, st, sql);
  if (!SQL_SUCCEEDED(SQLFetch(st)))
    pg_fail(SQL_HANDLE_STMT, st, sql);
  SQLBIGINT v = 0;
  SQLLEN ind = 0;
  if (!SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SBIGINT, &v, 0, &ind)))
    pg_fail(SQL_HANDLE_STMT, st, sql);
  SQLFreeHandle(SQL_HANDLE_STMT, st);
  return (long long)v;
}

/* Ask pgtest.sh to "stop" or "start" the server, and wait until done. */
static inline void pg_server(const char *cmd) {
  const char *dir = getenv("WEFT_PG_CTL");
  cr_assert_not_null(dir, "WEFT_PG_CTL is not set");
  char req[MAX_PATH], ack[MAX_PATH];
  snprintf(req, sizeof req, "%s\\%s.req", dir, cmd);
  snprintf(ack, sizeof ack, "%s\\%s.ack", dir, cmd);
  DeleteFileA(ack);
  FILE *f = fopen(req, "w");
  cr_assert_not_null(f, "cannot write %s", req);
  fclose(f);
  for (int i = 0; i < 60000 && GetFileAttributesA(ack) == INVALID_FILE_ATTRIBUTES; i += 50)
    Sleep(50);
  cr_assert_neq(GetFileAttributesA(ack), INVALID_FILE_ATTRIBUTES, "server %s: no answer", cmd);
  DeleteFileA(ack);
}

#endif /* WEFT_TESTS_PGUTIL_H */
