/* odbc.c - the ODBC calls of db/: connect, execute, end a transaction,
 * diagnostics, and UTF-8 <-> UTF-16 text.
 *
 * Every function here blocks: it runs on an offload thread for a task
 * (db/api.c, db/rm.c, db/source.c route it through weft_offload or
 * weft__offload_raw) or on the host thread at define and free; never on a
 * worker. Only the W (UTF-16) functions and the plain names without a
 * string are called: Wine 8.0's odbc32.dll implements the A-suffixed ones
 * as stubs that end the process (docs/odbc.md).
 *
 * Ownership: a connection is used by one thread at a time, its owner's
 * (see db.h); nothing here is shared. */
#include <stdio.h>
#include <stdlib.h>

/* The ODBC headers need the Win32 base types (only these, not windows.h). */
#include <windef.h>

#include <sql.h>
#include <sqlext.h>

#include <libloaderapi.h>
#include <synchapi.h>

#include "db/db.h"

/* ---- odbc32.dll, loaded when the first connection opens ---------------------- */

/* db/ does not import odbc32.dll: it loads it when a data source first
 * connects, so that a process with no data source (most hosts, every test
 * of the rest of Weft) never loads ODBC (under Wine, odbc32.dll loads
 * unixODBC into the process). The calls below go through these pointers
 * (each name is #defined to its pointer after the table). Written once
 * under g_odbc_once, read-only after. */
#define ODBC_FUNCS(X)                                                                              \
  X(SQLAllocHandle)                                                                                \
  X(SQLFreeHandle) X(SQLSetEnvAttr) X(SQLSetConnectAttrW) X(SQLDriverConnectW) X(SQLDisconnect)    \
      X(SQLExecDirectW) X(SQLPrepareW) X(SQLExecute) X(SQLBindParameter) X(SQLFetch) X(SQLGetData) \
          X(SQLRowCount) X(SQLEndTran) X(SQLGetDiagRecW)
#define ODBC_PTR(f) static __typeof__(f) *p_##f;
ODBC_FUNCS(ODBC_PTR)
static INIT_ONCE g_odbc_once = INIT_ONCE_STATIC_INIT;
static bool g_odbc_ok;

/* INIT_ONCE callback: load odbc32.dll and resolve every function. */
static BOOL CALLBACK odbc_load(INIT_ONCE *once, void *arg, void **ctx) {
  (void)once, (void)arg, (void)ctx;
  HMODULE m = LoadLibraryW(L"odbc32.dll");
  bool ok = m != NULL;
#define ODBC_RESOLVE(f) ok = ok && (p_##f = (__typeof__(f) *)(void (*)(void))GetProcAddress(m, #f));
  ODBC_FUNCS(ODBC_RESOLVE)
  g_odbc_ok = ok;
  return TRUE;
}

/* Whether odbc32.dll is loaded with every function db/ calls. Any thread. */
static bool odbc_ready(void) {
  InitOnceExecuteOnce(&g_odbc_once, odbc_load, NULL, NULL);
  return g_odbc_ok;
}

#define SQLAllocHandle (*p_SQLAllocHandle)
#define SQLFreeHandle (*p_SQLFreeHandle)
#define SQLSetEnvAttr (*p_SQLSetEnvAttr)
#define SQLSetConnectAttrW (*p_SQLSetConnectAttrW)
#define SQLDriverConnectW (*p_SQLDriverConnectW)
#define SQLDisconnect (*p_SQLDisconnect)
#define SQLExecDirectW (*p_SQLExecDirectW)
#define SQLPrepareW (*p_SQLPrepareW)
#define SQLExecute (*p_SQLExecute)
#define SQLBindParameter (*p_SQLBindParameter)
#define SQLFetch (*p_SQLFetch)
#define SQLGetData (*p_SQLGetData)
#define SQLRowCount (*p_SQLRowCount)
#define SQLEndTran (*p_SQLEndTran)
#define SQLGetDiagRecW (*p_SQLGetDiagRecW)

/* ---- Text ------------------------------------------------------------------ */

/* UTF-8 s into UTF-16 (malloc'd, NUL-terminated; *units without it), or
 * NULL on exhaustion. Invalid bytes become U+FFFD. */
static SQLWCHAR *to_w(const char *s, size_t *units) {
  size_t n = strlen(s);
  SQLWCHAR *w = malloc((n + 1) * 2 * sizeof *w);
  if (w == NULL)
    return NULL;
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  size_t k = 0;
  while (p < e) {
    uint32_t cp = 0xFFFD;
    int extra = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
    if (extra < 0 || p + extra >= e + (extra ? 0 : 1)) {
      p++;
    } else {
      cp = extra == 0 ? *p : (*p & (0x3F >> extra));
      p++;
      for (int i = 0; i < extra; i++) {
        if ((*p & 0xC0) != 0x80) {
          cp = 0xFFFD;
          break;
        }
        cp = cp << 6 | (*p++ & 0x3F);
      }
    }
    if (cp >= 0x10000 && cp <= 0x10FFFF) {
      cp -= 0x10000;
      w[k++] = (SQLWCHAR)(0xD800 | cp >> 10);
      w[k++] = (SQLWCHAR)(0xDC00 | (cp & 0x3FF));
    } else {
      w[k++] = (SQLWCHAR)(cp > 0x10FFFF ? 0xFFFD : cp);
    }
  }
  w[k] = 0;
  if (units != NULL)
    *units = k;
  return w;
}

/* UTF-16 w (n units) into UTF-8 out (cap bytes, NUL-terminated). Returns
 * the bytes needed without the NUL (more than cap - 1: cut short). */
static size_t from_w(const SQLWCHAR *w, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = w[i];
    if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < n && w[i + 1] >= 0xDC00 && w[i + 1] < 0xE000)
      cp = 0x10000 + ((cp - 0xD800) << 10) + (w[++i] - 0xDC00);
    unsigned char b[4];
    int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (len == 1) {
      b[0] = (unsigned char)cp;
    } else {
      for (int j = len - 1; j > 0; j--, cp >>= 6)
        b[j] = (unsigned char)(0x80 | (cp & 0x3F));
      b[0] = (unsigned char)((0xF00 >> len) | cp);
    }
    for (int j = 0; j < len; j++, k++)
      if (k + 1 < cap)
        out[k] = (char)b[j];
  }
  if (cap > 0)
    out[k < cap ? k : cap - 1] = '\0';
  return k;
}

/* ---- Diagnostics ------------------------------------------------------------ */

/* Whether SQLSTATE state (and message) says the connection is gone. */
static bool state_broken(const char *state, const char *msg) {
  if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
    return true;
  /* psqlODBC reports some losses of the server as general errors. */
  return strcmp(state, "HY000") == 0 && (strstr(msg, "server closed the connection") != NULL ||
                                         strstr(msg, "no connection to the server") != NULL ||
                                         strstr(msg, "could not send data") != NULL ||
                                         strstr(msg, "connection is not open") != NULL ||
                                         strstr(msg, "terminating connection") != NULL);
}

/* The first diagnostic record of handle into state and msg. */
static void diag_read(SQLSMALLINT type, SQLHANDLE h, char state[6], char *msg, size_t cap) {
  SQLWCHAR ws[6] = {0}, wm[WEFT__DB_MSG];
  SQLINTEGER native = 0;
  SQLSMALLINT len = 0;
  SQLRETURN rc = SQLGetDiagRecW(type, h, 1, ws, &native, wm, WEFT__DB_MSG, &len);
  if (!SQL_SUCCEEDED(rc)) {
    strcpy(state, "HY000");
    snprintf(msg, cap, "the driver gave no diagnostics (SQLGetDiagRec returned %d)", (int)rc);
    return;
  }
  from_w(ws, 5, state, 6);
  if (len < 0)
    len = 0;
  from_w(wm, (size_t)(len < WEFT__DB_MSG ? len : WEFT__DB_MSG - 1), msg, cap);
}

int weft__odbc_diag(weft_db_conn *c, int type, void *handle) {
  diag_read((SQLSMALLINT)type, handle, c->c_state, c->c_msg, sizeof c->c_msg);
  if (state_broken(c->c_state, c->c_msg))
    c->c_broken = true;
  return WEFT_EDB;
}

/* ---- Connections --------------------------------------------------------------- */

void weft__odbc_close(weft_db_conn *c) {
  if (c == NULL)
    return;
  if (c->c_dbc != NULL) {
    SQLDisconnect(c->c_dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, c->c_dbc);
  }
  if (c->c_env != NULL)
    SQLFreeHandle(SQL_HANDLE_ENV, c->c_env);
  free(c);
}

/* Run sql directly (no parameters, no result). */
static int exec_plain(weft_db_conn *c, const char *sql) {
  return weft__odbc_exec(c, sql, 0, NULL, NULL, NULL, 0, NULL);
}

static int set_autocommit(weft_db_conn *c, bool on) {
  SQLRETURN rc = SQLSetConnectAttrW(
      c->c_dbc, SQL_ATTR_AUTOCOMMIT,
      (SQLPOINTER)(uintptr_t)(on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF), SQL_IS_UINTEGER);
  return SQL_SUCCEEDED(rc) ? 0 : weft__odbc_diag(c, SQL_HANDLE_DBC, c->c_dbc);
}

/* Connect c with s's string; the session gets s's statement timeout and
 * autocommit off. */
static int connect_session(weft__dbsrc *s, weft_db_conn *c) {
  SQLSetConnectAttrW(c->c_dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)s->s_connect_s,
                     SQL_IS_UINTEGER);
  SQLWCHAR *w = to_w(s->s_connect, NULL);
  if (w == NULL)
    return WEFT_ENOMEM;
  SQLSMALLINT outlen = 0;
  SQLRETURN rc =
      SQLDriverConnectW(c->c_dbc, NULL, w, SQL_NTS, NULL, 0, &outlen, SQL_DRIVER_NOPROMPT);
  free(w);
  if (!SQL_SUCCEEDED(rc))
    return weft__odbc_diag(c, SQL_HANDLE_DBC, c->c_dbc);
  char set[64];
  snprintf(set, sizeof set, "SET statement_timeout = %u",
           s->s_stmt_s == WEFT_OFF ? 0u : s->s_stmt_s * 1000u);
  int r = exec_plain(c, set);
  return r != 0 ? r : set_autocommit(c, false);
}

int weft__odbc_open(weft__dbsrc *s, weft_db_conn **out, char *err, size_t cap) {
  *out = NULL;
  weft_db_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return WEFT_ENOMEM;
  c->c_src = s;
  int rc = WEFT_EDB;
  if (!odbc_ready() || !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &c->c_env))) {
    c->c_env = NULL;
    snprintf(c->c_msg, sizeof c->c_msg, "no ODBC environment (is odbc32.dll / unixODBC there?)");
    strcpy(c->c_state, "IM004");
  } else if (!SQL_SUCCEEDED(SQLSetEnvAttr(c->c_env, SQL_ATTR_ODBC_VERSION,
                                          (SQLPOINTER)(uintptr_t)SQL_OV_ODBC3, 0))) {
    weft__odbc_diag(c, SQL_HANDLE_ENV, c->c_env);
  } else if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, c->c_env, &c->c_dbc))) {
    c->c_dbc = NULL;
    weft__odbc_diag(c, SQL_HANDLE_ENV, c->c_env);
  } else {
    rc = connect_session(s, c);
  }
  if (rc != 0) {
    snprintf(err, cap, "SQLSTATE %s: %s", c->c_state, c->c_msg);
    weft__odbc_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* ---- Statements ---------------------------------------------------------------- */

/* Bind n text parameters; bufs gets the UTF-16 copies (freed by the
 * caller), ind their lengths. */
static int bind_params(weft_db_conn *c, SQLHSTMT st, unsigned n, const char *const *params,
                       SQLWCHAR **bufs, SQLLEN *ind) {
  for (unsigned i = 0; i < n; i++) {
    size_t units = 0;
    if (params[i] == NULL) {
      ind[i] = SQL_NULL_DATA;
    } else if ((bufs[i] = to_w(params[i], &units)) == NULL) {
      return WEFT_ENOMEM;
    } else {
      ind[i] = (SQLLEN)(units * sizeof(SQLWCHAR));
    }
    SQLRETURN rc =
        SQLBindParameter(st, (SQLUSMALLINT)(i + 1), SQL_PARAM_INPUT, SQL_C_WCHAR, SQL_WVARCHAR,
                         units ? units : 1, 0, bufs[i], ind[i] > 0 ? ind[i] : 0, &ind[i]);
    if (!SQL_SUCCEEDED(rc))
      return weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  }
  return 0;
}

/* The first column of the current result's first row as UTF-8. */
static int fetch_first(weft_db_conn *c, SQLHSTMT st, char *out, size_t cap, size_t *len) {
  SQLRETURN rc = SQLFetch(st);
  if (rc == SQL_NO_DATA)
    return WEFT_ENOTFOUND;
  if (!SQL_SUCCEEDED(rc))
    return weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  size_t wcap = cap * 2 + 2;
  SQLWCHAR *w = malloc(wcap * sizeof *w);
  if (w == NULL)
    return WEFT_ENOMEM;
  SQLLEN ind = 0;
  rc = SQLGetData(st, 1, SQL_C_WCHAR, w, (SQLLEN)(wcap * sizeof *w), &ind);
  int r = 0;
  if (!SQL_SUCCEEDED(rc)) {
    r = weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  } else if (ind == SQL_NULL_DATA) {
    if (cap > 0)
      out[0] = '\0';
    if (len != NULL)
      *len = 0;
    r = WEFT_EEMPTY;
  } else if (rc == SQL_SUCCESS_WITH_INFO || ind == SQL_NO_TOTAL ||
             (size_t)ind >= wcap * sizeof *w) {
    r = WEFT_ERANGE;
  } else {
    size_t need = from_w(w, (size_t)ind / sizeof *w, out, cap);
    if (len != NULL)
      *len = need;
    r = need + 1 > cap ? WEFT_ERANGE : 0;
  }
  free(w);
  return r;
}

int weft__odbc_exec(weft_db_conn *c, const char *sql, unsigned n, const char *const *params,
                    long long *rows, char *out, size_t cap, size_t *len) {
  SQLHSTMT st = SQL_NULL_HSTMT;
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, c->c_dbc, &st)))
    return weft__odbc_diag(c, SQL_HANDLE_DBC, c->c_dbc);
  SQLWCHAR *bufs[64] = {0};
  SQLLEN ind[64];
  SQLWCHAR *w = NULL;
  int r = 0;
  if (n > 64) {
    strcpy(c->c_state, "07001");
    snprintf(c->c_msg, sizeof c->c_msg, "more than 64 parameters");
    r = WEFT_EDB;
  } else if ((w = to_w(sql, NULL)) == NULL) {
    r = WEFT_ENOMEM;
  } else if (n == 0) {
    SQLRETURN rc = SQLExecDirectW(st, w, SQL_NTS);
    if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA)
      r = weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  } else if (!SQL_SUCCEEDED(SQLPrepareW(st, w, SQL_NTS))) {
    r = weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  } else if ((r = bind_params(c, st, n, params, bufs, ind)) == 0) {
    SQLRETURN rc = SQLExecute(st);
    if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA)
      r = weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  }
  if (r == 0 && rows != NULL) {
    SQLLEN rc_rows = -1;
    SQLRowCount(st, &rc_rows);
    *rows = rc_rows;
  }
  if (r == 0 && out != NULL)
    r = fetch_first(c, st, out, cap, len);
  SQLFreeHandle(SQL_HANDLE_STMT, st);
  free(w);
  for (unsigned i = 0; i < n && i < 64; i++)
    free(bufs[i]);
  return r;
}

int weft__odbc_end(weft_db_conn *c, bool commit) {
  SQLRETURN rc = SQLEndTran(SQL_HANDLE_DBC, c->c_dbc, commit ? SQL_COMMIT : SQL_ROLLBACK);
  return SQL_SUCCEEDED(rc) ? 0 : weft__odbc_diag(c, SQL_HANDLE_DBC, c->c_dbc);
}

int weft__odbc_autocommit_exec(weft_db_conn *c, const char *sql) {
  int r = set_autocommit(c, true);
  if (r == 0)
    r = exec_plain(c, sql);
  int r2 = set_autocommit(c, false);
  return r != 0 ? r : r2;
}

int weft__odbc_prepared(weft_db_conn *c, const char *prefix, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  SQLHSTMT st = SQL_NULL_HSTMT;
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, c->c_dbc, &st)))
    return weft__odbc_diag(c, SQL_HANDLE_DBC, c->c_dbc);
  char sql[256];
  /* prefix holds no quote (names refuse it). */
  snprintf(sql, sizeof sql,
           "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
           "AND left(gid, %zu) = '%s' ORDER BY gid",
           strlen(prefix), prefix);
  int r = 0;
  SQLWCHAR *w = to_w(sql, NULL);
  if (w == NULL || !SQL_SUCCEEDED(SQLExecDirectW(st, w, SQL_NTS)))
    r = w == NULL ? WEFT_ENOMEM : weft__odbc_diag(c, SQL_HANDLE_STMT, st);
  free(w);
  size_t cap = 0;
  SQLRETURN rc;
  while (r == 0 && SQL_SUCCEEDED(rc = SQLFetch(st))) {
    SQLWCHAR g[256];
    SQLLEN ind = 0;
    if (!SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_WCHAR, g, sizeof g, &ind)) || ind < 0) {
      r = weft__odbc_diag(c, SQL_HANDLE_STMT, st);
      break;
    }
    char *s = malloc(512);
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      char **na = realloc(*out, cap * sizeof *na);
      if (na == NULL) {
        free(s);
        r = WEFT_ENOMEM;
        break;
      }
      *out = na;
    }
    if (s == NULL) {
      r = WEFT_ENOMEM;
      break;
    }
    from_w(g, (size_t)ind / sizeof(SQLWCHAR), s, 512);
    (*out)[(*n)++] = s;
  }
  SQLFreeHandle(SQL_HANDLE_STMT, st);
  if (r == 0)
    r = weft__odbc_end(c, true); /* the SELECT opened a transaction */
  return r;
}

/* ---- The program's view ---------------------------------------------------- */

int weft_db_note(weft_db_conn *c, int handle_type, void *handle) {
  if (c == NULL || handle == NULL)
    return WEFT_EINVAL;
  return weft__odbc_diag(c, handle_type, handle);
}
