/* test_file.c - keyed files: definitions, write/read/rewrite/delete, the
 * errors of each, browsing, record locks between units of work, and
 * backout at rollback and abend. No data_dir: everything lives in memory. */
#include "helpers.h"

TestSuite(file, .timeout = TH_TEST_TIMEOUT);

#define FILE_NAME "ACCTS"
#define FKEY_MAX 8
#define FREC_MAX 32

/* What a task saw, for the host to check. */
typedef struct file_ctx {
  int rc[64];             /* codes of the calls, by number */
  char got[32][80];       /* what reads and browses returned, by number */
  size_t len[32];         /* lengths reads reported */
  char dump[1024];        /* the DUMP task's view of the file */
  int dump_rc;
  /* Ordering between a changer, a reader and a probe (one worker). */
  weft_event *release;    /* the changer waits for it before it ends */
  atomic_int changed;     /* the changer has made its change */
  atomic_int chg_ending;  /* the changer is about to end (commit) */
  atomic_int rdr_started;
  atomic_int rdr_done;    /* the reader's call returned */
  atomic_int rdr_saw_ending; /* chg_ending when the reader's call returned */
  atomic_int probe_ran;
  atomic_int probe_saw_done; /* rdr_done when the probe ran */
  atomic_long after;      /* code past an abend ran */
} file_ctx;

static file_ctx g;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static void expect_rc(int i, int got, int want) {
  cr_assert_eq(got, want, "call %d returned %s, expected %s", i, weft_err_name(got),
               weft_err_name(want));
}

static void define_file(weft_region *r, const char *name, unsigned key_max, unsigned rec_max) {
  weft_file_def d = {name, key_max, rec_max};
  int rc = weft_file_define(r, &d);
  cr_assert_eq(rc, 0, "weft_file_define(%s): %s", name, weft_err_name(rc));
}

/* Start tranid with &g and wait until it has ended (normally or not). */
static void run(weft_region *r, const char *tranid, long idx) {
  uint64_t before = th_ended(r);
  th_start(r, tranid, &g, idx);
  th_wait_ended(r, before + 1);
}

/* In a task: key is a C string. */
static int put(weft_task *t, const char *key, const char *data) {
  return weft_file_write(t, FILE_NAME, key, strlen(key), data, strlen(data));
}
static int rewrite(weft_task *t, const char *key, const char *data) {
  return weft_file_rewrite(t, FILE_NAME, key, strlen(key), data, strlen(data));
}
static int del(weft_task *t, const char *key) {
  return weft_file_delete(t, FILE_NAME, key, strlen(key));
}
/* Read into out (a C string, "" on error). */
static int get(weft_task *t, const char *key, char out[80], int flags) {
  size_t len = 0;
  int rc = weft_file_read(t, FILE_NAME, key, strlen(key), out, 79, &len, flags);
  out[rc == 0 && len < 80 ? len : 0] = 0;
  return rc;
}

/* Browse file from key/klen with flags into out as "key=data;" for each
 * record (keys only, "key,", when keys_only). Returns the first code that
 * is neither 0 nor WEFT_EENDFILE (browse start included), else 0. */
static int browse_into(weft_task *t, const char *file, const void *key, size_t klen, int flags,
                       int keys_only, char *out, size_t cap) {
  out[0] = 0;
  weft_browse *b = NULL;
  int rc = weft_browse_start(t, file, key, klen, flags, &b);
  if (rc != 0)
    return rc;
  size_t used = 0;
  for (;;) {
    char k[WEFT_KEY_MAX + 1], d[256];
    size_t kl = 0, dl = 0;
    rc = weft_browse_next(b, k, sizeof k - 1, &kl, d, sizeof d - 1, &dl);
    if (rc != 0)
      break;
    k[kl < sizeof k ? kl : 0] = 0;
    d[dl < sizeof d ? dl : 0] = 0;
    int n = keys_only ? snprintf(out + used, cap - used, "%s,", k)
                      : snprintf(out + used, cap - used, "%s=%s;", k, d);
    if (n < 0 || (size_t)n >= cap - used) {
      rc = WEFT_ENOMEM;
      break;
    }
    used += (size_t)n;
  }
  weft_browse_end(b);
  return rc == WEFT_EENDFILE ? 0 : rc;
}

/* The whole file in key order, as this task sees it. */
static int dump_into(weft_task *t, char *out, size_t cap) {
  return browse_into(t, FILE_NAME, NULL, 0, 0, 0, out, cap);
}

static void dump_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->dump_rc = dump_into(t, c->dump, sizeof c->dump);
}

/* The file as a new task sees it. */
static const char *dump(weft_region *r) {
  g.dump_rc = -999;
  run(r, "DUMP", 0);
  cr_assert_eq(g.dump_rc, 0, "DUMP: %s", weft_err_name(g.dump_rc));
  return g.dump;
}

#define LOADED "A1=a1;A2=a2;B1=b1;B2=b2;C1=c1;"

static void load_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  static const char *const keys[] = {"B1", "A2", "C1", "A1", "B2"};
  for (int i = 0; i < 5; i++) {
    char d[8];
    snprintf(d, sizeof d, "%c%c", keys[i][0] + 32, keys[i][1]);
    int rc = put(t, keys[i], d);
    if (rc != 0)
      c->rc[63] = rc;
  }
}

/* A region with FILE_NAME defined, the DUMP and LOAD transactions, and
 * (if load) the five records of LOADED committed. */
static weft_region *file_region(unsigned workers, int load) {
  weft_region *r = th_region(workers, 64);
  define_file(r, FILE_NAME, FKEY_MAX, FREC_MAX);
  th_define(r, "DUMP", dump_task, 1);
  th_define(r, "LOAD", load_task, 1);
  if (load) {
    run(r, "LOAD", 0);
    expect_rc(63, g.rc[63], 0);
    cr_assert_str_eq(dump(r), LOADED);
  }
  return r;
}

/* ------------------------------------------------------------------------ */
/* Definitions                                                               */
/* ------------------------------------------------------------------------ */

static int def(weft_region *r, const char *name, unsigned key_max, unsigned rec_max) {
  weft_file_def d = {name, key_max, rec_max};
  return weft_file_define(r, &d);
}

Test(file, definition_errors) {
  weft_region *r = th_region(1, 16);
  expect_rc(0, weft_file_define(r, NULL), WEFT_EINVAL);
  expect_rc(15, def(r, NULL, 8, 16), WEFT_EINVAL); /* a NULL name */
  expect_rc(1, def(r, "", 8, 16), WEFT_EBADNAME);
  expect_rc(2, def(r, "NINECHARS", 8, 16), WEFT_EBADNAME);
  expect_rc(3, def(r, "A B", 8, 16), WEFT_EBADNAME);
  expect_rc(4, def(r, "F1", 0, 16), WEFT_ERANGE);
  expect_rc(5, def(r, "F1", WEFT_KEY_MAX + 1, 16), WEFT_ERANGE);
  expect_rc(6, def(r, "F1", 8, 0), WEFT_ERANGE);
  expect_rc(7, def(r, "F1", 8, WEFT_RECORD_MAX + 1), WEFT_ERANGE);
  /* Nothing was defined by the refused calls. */
  expect_rc(8, def(r, "F1", 8, 16), 0);
  expect_rc(9, def(r, "F1", 8, 16), WEFT_EEXIST);
  expect_rc(10, def(r, "F1", 16, 64), WEFT_EEXIST);
  /* The limits themselves are allowed; names are case-sensitive. */
  expect_rc(11, def(r, "BIG", WEFT_KEY_MAX, WEFT_RECORD_MAX), 0);
  expect_rc(12, def(r, "TINY", 1, 1), 0);
  expect_rc(13, def(r, "f1", 8, 16), 0);
  expect_rc(14, def(r, "EIGHTCHR", 8, 16), 0);
  th_finish(r);
}

/* The task calls refuse a NULL task with WEFT_EINVAL (a NULL argument). */
Test(file, calls_need_a_task) {
  weft_region *r = file_region(1, 0);
  char buf[8];
  size_t len = 0;
  int rc = weft_file_read(NULL, FILE_NAME, "K", 1, buf, sizeof buf, &len, 0);
  cr_assert_eq(rc, WEFT_EINVAL, "read: %s", weft_err_name(rc));
  rc = weft_file_write(NULL, FILE_NAME, "K", 1, "d", 1);
  cr_assert_eq(rc, WEFT_EINVAL, "write: %s", weft_err_name(rc));
  weft_browse *b = NULL;
  rc = weft_browse_start(NULL, FILE_NAME, NULL, 0, 0, &b);
  cr_assert_eq(rc, WEFT_EINVAL, "browse: %s", weft_err_name(rc));
  cr_assert_str_eq(dump(r), "");
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Write, read, duplicates, limits                                           */
/* ------------------------------------------------------------------------ */

static void write_read_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = put(t, "K1", "hello");
  c->rc[1] = get(t, "K1", c->got[1], 0);
  c->rc[2] = put(t, "K1", "again"); /* same UOW: duplicate */
  c->rc[3] = get(t, "K1", c->got[3], 0);
  /* A record exactly as long as the buffer. */
  char buf[5];
  c->len[4] = 0;
  c->rc[4] = weft_file_read(t, FILE_NAME, "K1", 2, buf, sizeof buf, &c->len[4], 0);
  memcpy(c->got[4], buf, 5);
  /* Binary keys: "K1" and "K1\0" are different keys. */
  c->rc[5] = weft_file_write(t, FILE_NAME, "K1\0", 3, "nul", 3);
  c->rc[6] = get(t, "K1", c->got[6], 0);
  /* Records may be empty. */
  c->rc[7] = weft_file_write(t, FILE_NAME, "E", 1, NULL, 0);
  c->len[7] = 99;
  c->rc[8] = weft_file_read(t, FILE_NAME, "E", 1, NULL, 0, &c->len[7], 0);
}

static void duplicate_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[10] = put(t, "K1", "other"); /* committed by the first task */
  c->rc[11] = get(t, "K1", c->got[11], 0);
}

Test(file, write_read_and_duplicate_key) {
  weft_region *r = file_region(2, 0);
  th_define(r, "WR", write_read_task, 1);
  th_define(r, "DUP", duplicate_task, 1);
  run(r, "WR", 0);
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], 0);
  cr_assert_str_eq(g.got[1], "hello");
  expect_rc(2, g.rc[2], WEFT_EEXIST);
  expect_rc(3, g.rc[3], 0);
  cr_assert_str_eq(g.got[3], "hello", "a refused duplicate changed the record");
  expect_rc(4, g.rc[4], 0);
  cr_assert_eq(g.len[4], 5);
  cr_assert_eq(memcmp(g.got[4], "hello", 5), 0);
  expect_rc(5, g.rc[5], 0);
  expect_rc(6, g.rc[6], 0);
  cr_assert_str_eq(g.got[6], "hello");
  expect_rc(7, g.rc[7], 0);
  expect_rc(8, g.rc[8], 0);
  cr_assert_eq(g.len[7], 0);
  run(r, "DUP", 0);
  expect_rc(10, g.rc[10], WEFT_EEXIST);
  expect_rc(11, g.rc[11], 0);
  cr_assert_str_eq(g.got[11], "hello");
  th_finish(r);
}

static void limits_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  char rec[FREC_MAX + 1];
  memset(rec, 'r', sizeof rec);
  char key[FKEY_MAX + 1];
  memset(key, 'k', sizeof key);
  char buf[80];
  size_t len = 0;
  c->rc[0] = weft_file_write(t, FILE_NAME, key, FKEY_MAX + 1, "d", 1);
  c->rc[1] = weft_file_write(t, FILE_NAME, "K", 1, rec, FREC_MAX + 1);
  c->rc[2] = weft_file_read(t, FILE_NAME, key, FKEY_MAX + 1, buf, sizeof buf, &len, 0);
  c->rc[3] = weft_file_read(t, FILE_NAME, "K", 1, buf, sizeof buf, &len, 0);
  c->rc[4] = dump_into(t, c->got[4], sizeof c->got[4]); /* nothing was stored */
  /* The limits themselves are allowed. */
  c->rc[5] = weft_file_write(t, FILE_NAME, key, FKEY_MAX, rec, FREC_MAX);
  len = 0;
  c->rc[6] = weft_file_read(t, FILE_NAME, key, FKEY_MAX, buf, sizeof buf, &len, 0);
  c->len[6] = len;
  /* A rewrite past rec_max is refused and changes nothing. */
  c->rc[7] = weft_file_read(t, FILE_NAME, key, FKEY_MAX, buf, sizeof buf, &len,
                            WEFT_READ_UPDATE);
  c->rc[8] = weft_file_rewrite(t, FILE_NAME, key, FKEY_MAX, rec, FREC_MAX + 1);
  len = 0;
  c->rc[9] = weft_file_read(t, FILE_NAME, key, FKEY_MAX, buf, sizeof buf, &len, 0);
  c->len[9] = len;
}

Test(file, overlong_key_or_record_is_refused) {
  weft_region *r = file_region(1, 0);
  th_define(r, "LIM", limits_task, 1);
  run(r, "LIM", 0);
  expect_rc(0, g.rc[0], WEFT_ERANGE);
  expect_rc(1, g.rc[1], WEFT_ERANGE);
  expect_rc(2, g.rc[2], WEFT_ERANGE);
  expect_rc(3, g.rc[3], WEFT_ENOTFOUND);
  expect_rc(4, g.rc[4], 0);
  cr_assert_str_eq(g.got[4], "", "a refused write stored something");
  expect_rc(5, g.rc[5], 0);
  expect_rc(6, g.rc[6], 0);
  cr_assert_eq(g.len[6], FREC_MAX);
  expect_rc(7, g.rc[7], 0);
  expect_rc(8, g.rc[8], WEFT_ERANGE);
  expect_rc(9, g.rc[9], 0);
  cr_assert_eq(g.len[9], FREC_MAX, "a refused rewrite changed the record");
  th_finish(r);
}

static void small_buffer_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = put(t, "K", "0123456789");
  char buf[16];
  memset(buf, 'Z', sizeof buf);
  size_t len = 0;
  c->rc[1] = weft_file_read(t, FILE_NAME, "K", 1, buf, 4, &len, 0);
  c->len[1] = len;
  memcpy(c->got[1], buf, sizeof buf);
  len = 0;
  c->rc[2] = weft_file_read(t, FILE_NAME, "K", 1, buf, 10, &len, 0);
  c->len[2] = len;
  memcpy(c->got[2], buf, sizeof buf);
}

Test(file, small_buffer_gets_the_size_and_nothing_copied) {
  weft_region *r = file_region(1, 0);
  th_define(r, "SMALL", small_buffer_task, 1);
  run(r, "SMALL", 0);
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], WEFT_ERANGE);
  cr_assert_eq(g.len[1], 10, "*len is %zu", g.len[1]);
  cr_assert_eq(memcmp(g.got[1], "ZZZZZZZZZZZZZZZZ", 16), 0, "the buffer was written");
  expect_rc(2, g.rc[2], 0);
  cr_assert_eq(g.len[2], 10);
  cr_assert_eq(memcmp(g.got[2], "0123456789ZZZZZZ", 16), 0);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Rewrite and delete                                                        */
/* ------------------------------------------------------------------------ */

static void rewrite_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = rewrite(t, "A1", "nolock");              /* never read */
  c->rc[1] = get(t, "A1", c->got[1], 0);
  c->rc[2] = rewrite(t, "A1", "nolock");              /* read, not for update */
  c->rc[3] = get(t, "A1", c->got[3], WEFT_READ_UPDATE);
  c->rc[4] = get(t, "A1", c->got[4], WEFT_READ_UPDATE); /* again: its own lock */
  c->rc[5] = rewrite(t, "A1", "a longer record");
  c->rc[6] = get(t, "A1", c->got[6], 0);
  c->rc[7] = rewrite(t, "A1", "s");                   /* still locked: shorter */
  c->rc[8] = get(t, "A1", c->got[8], 0);
  c->rc[9] = put(t, "N1", "new");
  c->rc[10] = rewrite(t, "N1", "new2");               /* a record it wrote */
  c->rc[11] = get(t, "N1", c->got[11], 0);
  c->rc[12] = rewrite(t, "B1", "nolock");             /* still no lock on B1 */
}

Test(file, rewrite_needs_the_update_lock) {
  weft_region *r = file_region(2, 1);
  th_define(r, "REW", rewrite_task, 1);
  run(r, "REW", 0);
  expect_rc(0, g.rc[0], WEFT_ESTATE);
  expect_rc(1, g.rc[1], 0);
  expect_rc(2, g.rc[2], WEFT_ESTATE);
  expect_rc(3, g.rc[3], 0);
  cr_assert_str_eq(g.got[3], "a1");
  expect_rc(4, g.rc[4], 0);
  expect_rc(5, g.rc[5], 0);
  expect_rc(6, g.rc[6], 0);
  cr_assert_str_eq(g.got[6], "a longer record");
  expect_rc(7, g.rc[7], 0);
  expect_rc(8, g.rc[8], 0);
  cr_assert_str_eq(g.got[8], "s");
  expect_rc(9, g.rc[9], 0);
  expect_rc(10, g.rc[10], 0);
  expect_rc(11, g.rc[11], 0);
  cr_assert_str_eq(g.got[11], "new2");
  expect_rc(12, g.rc[12], WEFT_ESTATE);
  cr_assert_str_eq(dump(r), "A1=s;A2=a2;B1=b1;B2=b2;C1=c1;N1=new2;");
  th_finish(r);
}

static void delete_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = del(t, "A2");
  c->rc[1] = get(t, "A2", c->got[1], 0);
  c->rc[2] = get(t, "A2", c->got[2], WEFT_READ_UPDATE);
  c->rc[3] = del(t, "A2");
  c->rc[4] = del(t, "ZZ");
  c->rc[5] = get(t, "B1", c->got[5], WEFT_READ_UPDATE);
  c->rc[6] = del(t, "B1"); /* read for update, then deleted */
}

Test(file, delete) {
  weft_region *r = file_region(2, 1);
  th_define(r, "DEL", delete_task, 1);
  run(r, "DEL", 0);
  static const int want[7] = {0, WEFT_ENOTFOUND, WEFT_ENOTFOUND, WEFT_ENOTFOUND,
                              WEFT_ENOTFOUND, 0, 0};
  for (int i = 0; i < 7; i++)
    expect_rc(i, g.rc[i], want[i]);
  cr_assert_str_eq(dump(r), "A1=a1;B2=b2;C1=c1;");
  th_finish(r);
}

static void delete_then_write_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = del(t, "A1");
  c->rc[1] = put(t, "A1", "reborn");
  c->rc[2] = get(t, "A1", c->got[2], 0);
}

/* A key deleted in a UOW can be written again in the same UOW. */
Test(file, delete_then_write_the_same_key) {
  weft_region *r = file_region(2, 1);
  th_define(r, "DELWR", delete_then_write_task, 1);
  run(r, "DELWR", 0);
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], 0);
  expect_rc(2, g.rc[2], 0);
  cr_assert_str_eq(g.got[2], "reborn");
  cr_assert_str_eq(dump(r), "A1=reborn;A2=a2;B1=b1;B2=b2;C1=c1;");
  th_finish(r);
}

static void notfound_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  char buf[16];
  size_t len = 0;
  weft_browse *b = NULL;
  c->rc[0] = weft_file_read(t, "NOFILE", "A1", 2, buf, sizeof buf, &len, 0);
  c->rc[1] = weft_file_write(t, "NOFILE", "A1", 2, "x", 1);
  c->rc[2] = weft_file_rewrite(t, "NOFILE", "A1", 2, "x", 1);
  c->rc[3] = weft_file_delete(t, "NOFILE", "A1", 2);
  c->rc[4] = weft_browse_start(t, "NOFILE", NULL, 0, 0, &b);
  c->rc[5] = get(t, "ZZ", c->got[5], 0);
  c->rc[6] = get(t, "ZZ", c->got[6], WEFT_READ_UPDATE);
  c->rc[7] = get(t, "A", c->got[7], 0);   /* a prefix of A1 is not A1 */
  c->rc[8] = get(t, "A11", c->got[8], 0); /* nor is a longer key */
  c->rc[9] = get(t, "a1", c->got[9], 0);  /* keys are case-sensitive bytes */
  c->rc[10] = get(t, "A1", c->got[10], 0);
}

Test(file, not_found) {
  weft_region *r = file_region(2, 1);
  th_define(r, "NOTF", notfound_task, 1);
  run(r, "NOTF", 0);
  for (int i = 0; i < 10; i++)
    expect_rc(i, g.rc[i], WEFT_ENOTFOUND);
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "a1");
  cr_assert_str_eq(dump(r), LOADED);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Browsing                                                                  */
/* ------------------------------------------------------------------------ */

/* One browse per entry: start key (NULL: klen 0), flags, what it must list
 * ("!" + an error name if the start may instead fail with ENOTFOUND). */
typedef struct browse_case {
  const char *key;
  int flags;
  const char *want;
} browse_case;

static const browse_case g_cases[] = {
    {NULL, 0, "A1,A2,B1,B2,C1,"},
    {NULL, WEFT_BROWSE_BACKWARD, "C1,B2,B1,A2,A1,"},
    {"B", 0, "B1,B2,C1,"},
    {"A2", 0, "A2,B1,B2,C1,"},     /* the key itself is included */
    {"A10", 0, "A2,B1,B2,C1,"},    /* first key >= A10 */
    {"C1", 0, "C1,"},
    {"C2", 0, ""},                 /* past the end */
    {"", 0, "A1,A2,B1,B2,C1,"},    /* an empty key is klen 0 */
    {"B1x", WEFT_BROWSE_BACKWARD, "B1,A2,A1,"}, /* last key <= B1x */
    {"B1", WEFT_BROWSE_BACKWARD, "B1,A2,A1,"},
    {"B", WEFT_BROWSE_BACKWARD, "A2,A1,"},      /* B sorts before B1 */
    {"A", WEFT_BROWSE_BACKWARD, ""},
    {"ZZ", WEFT_BROWSE_BACKWARD, "C1,B2,B1,A2,A1,"},
    {"B", WEFT_BROWSE_GENERIC, "B1,B2,"},
    {"A1", WEFT_BROWSE_GENERIC, "A1,"},
    {"A", WEFT_BROWSE_GENERIC, "A1,A2,"},
    {"D", WEFT_BROWSE_GENERIC, ""},
    {"B3", WEFT_BROWSE_GENERIC, ""},
};
#define NCASES ((int)(sizeof g_cases / sizeof g_cases[0]))

static void browse_cases_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  for (int i = 0; i < NCASES; i++) {
    const browse_case *bc = &g_cases[i];
    c->rc[i] = browse_into(t, FILE_NAME, bc->key, bc->key ? strlen(bc->key) : 0, bc->flags, 1,
                           c->got[i], sizeof c->got[i]);
  }
}

Test(file, browse_forward_backward_from_key_and_generic) {
  weft_region *r = file_region(2, 1);
  th_define(r, "BRW", browse_cases_task, 1);
  run(r, "BRW", 0);
  for (int i = 0; i < NCASES; i++) {
    const browse_case *bc = &g_cases[i];
    /* A browse that finds nothing may say so at its start. */
    if (bc->want[0] == 0 && g.rc[i] == WEFT_ENOTFOUND)
      continue;
    cr_assert_eq(g.rc[i], 0, "case %d (%s, flags %d): %s", i, bc->key ? bc->key : "klen 0",
                 bc->flags, weft_err_name(g.rc[i]));
    cr_assert_str_eq(g.got[i], bc->want, "case %d (%s, flags %d): got %s", i,
                     bc->key ? bc->key : "klen 0", bc->flags, g.got[i]);
  }
  th_finish(r);
}

/* Keys compare as unsigned bytes, a shorter prefix first. */
static void key_order_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  static const unsigned char keys[][3] = {{0x80, 0, 0}, {0xff, 0, 0}, {0x01, 0, 0},
                                          {0x80, 0x00, 0}, {0x7f, 0, 0}, {0x80, 0x01, 0}};
  static const size_t lens[] = {1, 1, 1, 2, 1, 2};
  for (int i = 0; i < 6; i++)
    c->rc[i] = weft_file_write(t, FILE_NAME, keys[i], lens[i], "x", 1);
  weft_browse *b = NULL;
  c->rc[6] = weft_browse_start(t, FILE_NAME, NULL, 0, 0, &b);
  if (c->rc[6] != 0)
    return;
  size_t used = 0;
  for (int i = 0; i < 10; i++) {
    unsigned char k[8];
    size_t kl = 0, dl = 0;
    int rc = weft_browse_next(b, k, sizeof k, &kl, NULL, 0, &dl);
    if (rc != 0) {
      c->rc[7] = rc;
      break;
    }
    for (size_t j = 0; j < kl && used + 3 < sizeof c->got[0]; j++)
      used += (size_t)snprintf(c->got[0] + used, sizeof c->got[0] - used, "%02x", k[j]);
    if (used + 2 < sizeof c->got[0])
      c->got[0][used++] = ',', c->got[0][used] = 0;
  }
  weft_browse_end(b);
}

Test(file, keys_order_as_unsigned_bytes_shorter_first) {
  weft_region *r = file_region(1, 0);
  th_define(r, "KORD", key_order_task, 1);
  run(r, "KORD", 0);
  for (int i = 0; i < 7; i++)
    expect_rc(i, g.rc[i], 0);
  expect_rc(7, g.rc[7], WEFT_EENDFILE);
  cr_assert_str_eq(g.got[0], "01,7f,80,8000,8001,ff,");
  th_finish(r);
}

static void browse_buffers_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  weft_browse *b = NULL;
  c->rc[0] = weft_browse_start(t, FILE_NAME, NULL, 0, 0, &b);
  if (c->rc[0] != 0)
    return;
  char d[4], k[4];
  memset(d, 'Z', sizeof d);
  size_t kl = 0, dl = 0;
  /* A1's data is 2 bytes: a 1-byte buffer is too small. */
  c->rc[1] = weft_browse_next(b, k, sizeof k, &kl, d, 1, &dl);
  c->len[1] = dl;
  c->got[1][0] = d[0];
  weft_browse_end(b);
  /* NULL buffers: just count the records. */
  c->rc[2] = weft_browse_start(t, FILE_NAME, NULL, 0, 0, &b);
  if (c->rc[2] != 0)
    return;
  int n = 0, rc;
  while ((rc = weft_browse_next(b, NULL, 0, &kl, NULL, 0, &dl)) == 0 && n < 100)
    n++;
  c->rc[3] = rc;
  c->len[3] = (size_t)n;
  c->rc[4] = weft_browse_next(b, NULL, 0, &kl, NULL, 0, &dl); /* still at the end */
  weft_browse_end(b);
}

Test(file, browse_buffers) {
  weft_region *r = file_region(1, 1);
  th_define(r, "BBUF", browse_buffers_task, 1);
  run(r, "BBUF", 0);
  expect_rc(0, g.rc[0], 0);
  expect_rc(1, g.rc[1], WEFT_ERANGE);
  cr_assert_eq(g.len[1], 2, "*len is %zu", g.len[1]);
  cr_assert_eq(g.got[1][0], 'Z', "the too-small buffer was written");
  expect_rc(2, g.rc[2], 0);
  expect_rc(3, g.rc[3], WEFT_EENDFILE);
  cr_assert_eq(g.len[3], 5, "%zu records browsed", g.len[3]);
  expect_rc(4, g.rc[4], WEFT_EENDFILE);
  th_finish(r);
}

static void browse_own_changes_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = put(t, "B0", "new");
  c->rc[1] = del(t, "A2");
  c->rc[2] = get(t, "B1", c->got[2], WEFT_READ_UPDATE);
  c->rc[3] = rewrite(t, "B1", "changed");
  c->rc[4] = put(t, "D9", "last");
  c->rc[5] = dump_into(t, c->got[5], sizeof c->got[5]);
  c->rc[6] = browse_into(t, FILE_NAME, NULL, 0, WEFT_BROWSE_BACKWARD, 1, c->got[6],
                         sizeof c->got[6]);
  c->rc[7] = browse_into(t, FILE_NAME, "A", 1, WEFT_BROWSE_GENERIC, 1, c->got[7],
                         sizeof c->got[7]);
  c->rc[8] = weft_rollback(t);
  c->rc[9] = dump_into(t, c->got[9], sizeof c->got[9]);
}

Test(file, browse_sees_own_uncommitted_changes) {
  weft_region *r = file_region(2, 1);
  th_define(r, "BOWN", browse_own_changes_task, 1);
  run(r, "BOWN", 0);
  for (int i = 0; i < 10; i++)
    if (i != 2)
      expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(g.got[5], "A1=a1;B0=new;B1=changed;B2=b2;C1=c1;D9=last;");
  cr_assert_str_eq(g.got[6], "D9,C1,B2,B1,B0,A1,");
  cr_assert_str_eq(g.got[7], "A1,");
  cr_assert_str_eq(g.got[9], LOADED, "after the rollback");
  cr_assert_str_eq(dump(r), LOADED);
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Another UOW's uncommitted change is waited for                            */
/*                                                                           */
/* One worker. CHANGER makes a change and waits for `release`; READER        */
/* (started next) tries to see the record; PROBE, started after READER at    */
/* the same priority, runs only once READER has suspended or ended, and      */
/* records whether READER's call had returned. The host posts `release`      */
/* only after PROBE ran; CHANGER sets chg_ending just before it ends.        */
/* ------------------------------------------------------------------------ */

enum chg_mode {
  CHG_REWRITE,          /* rewrite A1 to "new" */
  CHG_DELETE,           /* delete A1 */
  CHG_INSERT,           /* write A0 "ins" */
  CHG_UPDATE_ONLY,      /* read A1 for update, change nothing */
  CHG_REWRITE_ROLLBACK, /* rewrite A1, then roll back */
};

enum rdr_mode {
  RDR_READ_A1,
  RDR_READ_A0,
  RDR_BROWSE,
  RDR_UPDATE_A1,
  RDR_WRITE_A0,
};

static void changer(weft_task *t) {
  th_arg a = th_arg_of(t);
  file_ctx *c = a.ctx;
  char buf[80];
  switch ((enum chg_mode)a.idx) {
  case CHG_REWRITE:
  case CHG_REWRITE_ROLLBACK:
    c->rc[0] = get(t, "A1", buf, WEFT_READ_UPDATE);
    c->rc[1] = rewrite(t, "A1", "new");
    break;
  case CHG_DELETE: c->rc[0] = del(t, "A1"); break;
  case CHG_INSERT: c->rc[0] = put(t, "A0", "ins"); break;
  case CHG_UPDATE_ONLY: c->rc[0] = get(t, "A1", buf, WEFT_READ_UPDATE); break;
  }
  atomic_store(&c->changed, 1);
  c->rc[2] = weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  if (a.idx == CHG_REWRITE_ROLLBACK)
    c->rc[3] = weft_rollback(t);
  atomic_store(&c->chg_ending, 1);
}

static void reader(weft_task *t) {
  th_arg a = th_arg_of(t);
  file_ctx *c = a.ctx;
  atomic_store(&c->rdr_started, 1);
  switch ((enum rdr_mode)a.idx) {
  case RDR_READ_A1: c->rc[10] = get(t, "A1", c->got[10], 0); break;
  case RDR_READ_A0: c->rc[10] = get(t, "A0", c->got[10], 0); break;
  case RDR_BROWSE: c->rc[10] = dump_into(t, c->got[10], sizeof c->got[10]); break;
  case RDR_UPDATE_A1: c->rc[10] = get(t, "A1", c->got[10], WEFT_READ_UPDATE); break;
  case RDR_WRITE_A0: c->rc[10] = put(t, "A0", "mine"); break;
  }
  atomic_store(&c->rdr_saw_ending, atomic_load(&c->chg_ending));
  atomic_store(&c->rdr_done, 1);
}

static void probe(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  atomic_store(&c->probe_saw_done, atomic_load(&c->rdr_done));
  atomic_store(&c->probe_ran, 1);
}

/* Runs the three tasks; returns with all of them ended. */
static void run_changer_reader(enum chg_mode cm, enum rdr_mode rm) {
  weft_region *r = file_region(1, 1);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "CHG", changer, 1);
  th_define(r, "RDR", reader, 1);
  th_define(r, "PROBE", probe, 1);
  uint64_t before = th_ended(r);
  th_start(r, "CHG", &g, cm);
  th_wait_until(atomic_load(&g.changed));
  th_start(r, "RDR", &g, rm);
  th_start(r, "PROBE", &g, 0);
  th_wait_until(atomic_load(&g.probe_ran));
  cr_assert_eq(weft_event_post(g.release), 0);
  th_wait_ended(r, before + 3);
  expect_rc(0, g.rc[0], 0);
  if (cm == CHG_REWRITE || cm == CHG_REWRITE_ROLLBACK)
    expect_rc(1, g.rc[1], 0);
  expect_rc(2, g.rc[2], 0);
  if (cm == CHG_REWRITE_ROLLBACK)
    expect_rc(3, g.rc[3], 0);
  th_finish(r);
  weft_event_destroy(g.release);
}

static void expect_reader_waited(void) {
  cr_assert_eq(atomic_load(&g.probe_saw_done), 0,
               "the reader did not wait for the other UOW's uncommitted change");
  cr_assert_eq(atomic_load(&g.rdr_saw_ending), 1,
               "the reader's call returned before the changer ended");
}

Test(file, reader_waits_for_an_uncommitted_rewrite) {
  run_changer_reader(CHG_REWRITE, RDR_READ_A1);
  expect_reader_waited();
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "new");
}

Test(file, reader_waits_for_an_uncommitted_delete) {
  run_changer_reader(CHG_DELETE, RDR_READ_A1);
  expect_reader_waited();
  expect_rc(10, g.rc[10], WEFT_ENOTFOUND);
}

Test(file, reader_waits_for_an_uncommitted_insert) {
  run_changer_reader(CHG_INSERT, RDR_READ_A0);
  expect_reader_waited();
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "ins");
}

Test(file, browse_waits_for_an_uncommitted_rewrite) {
  run_changer_reader(CHG_REWRITE, RDR_BROWSE);
  expect_reader_waited();
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "A1=new;A2=a2;B1=b1;B2=b2;C1=c1;");
}

Test(file, browse_waits_for_an_uncommitted_delete) {
  run_changer_reader(CHG_DELETE, RDR_BROWSE);
  expect_reader_waited();
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "A2=a2;B1=b1;B2=b2;C1=c1;");
}

Test(file, reader_sees_the_before_image_after_the_other_rolls_back) {
  run_changer_reader(CHG_REWRITE_ROLLBACK, RDR_READ_A1);
  cr_assert_eq(atomic_load(&g.probe_saw_done), 0,
               "the reader did not wait for the other UOW's uncommitted change");
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "a1");
}

/* A record only read for update (not changed) does not stop plain readers. */
Test(file, read_for_update_alone_does_not_block_a_plain_reader) {
  run_changer_reader(CHG_UPDATE_ONLY, RDR_READ_A1);
  cr_assert_eq(atomic_load(&g.probe_saw_done), 1, "the plain reader waited");
  cr_assert_eq(atomic_load(&g.rdr_saw_ending), 0);
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "a1");
}

Test(file, read_for_update_waits_for_another_update_lock) {
  run_changer_reader(CHG_UPDATE_ONLY, RDR_UPDATE_A1);
  expect_reader_waited();
  expect_rc(10, g.rc[10], 0);
  cr_assert_str_eq(g.got[10], "a1");
}

/* A write of a key another UOW has just inserted waits for it: EEXIST
 * once it commits, success if it rolls back. */
Test(file, write_waits_for_an_uncommitted_insert_of_the_key) {
  run_changer_reader(CHG_INSERT, RDR_WRITE_A0);
  expect_reader_waited();
  expect_rc(10, g.rc[10], WEFT_EEXIST);
}

/* ------------------------------------------------------------------------ */
/* Commit and backout                                                        */
/* ------------------------------------------------------------------------ */

/* Rewrite A1, delete A2, write A3, and rewrite a record it wrote. */
static void change_three(weft_task *t, file_ctx *c, int base) {
  char buf[80];
  c->rc[base + 0] = get(t, "A1", buf, WEFT_READ_UPDATE);
  c->rc[base + 1] = rewrite(t, "A1", "changed");
  c->rc[base + 2] = del(t, "A2");
  c->rc[base + 3] = put(t, "A3", "added");
  c->rc[base + 4] = rewrite(t, "A3", "added2");
}

#define CHANGED "A1=changed;A3=added2;B1=b1;B2=b2;C1=c1;"

static void rollback_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  change_three(t, c, 0);
  c->rc[5] = dump_into(t, c->got[5], sizeof c->got[5]);
  c->rc[6] = weft_rollback(t);
  c->rc[7] = dump_into(t, c->got[7], sizeof c->got[7]);
  c->rc[8] = get(t, "A3", c->got[8], 0);
  /* The locks went with the rollback: a rewrite needs a new read. */
  c->rc[9] = rewrite(t, "A1", "late");
}

Test(file, rollback_restores_the_before_images) {
  weft_region *r = file_region(2, 1);
  th_define(r, "RBK", rollback_task, 1);
  run(r, "RBK", 0);
  for (int i = 0; i < 8; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(g.got[5], CHANGED);
  cr_assert_str_eq(g.got[7], LOADED);
  expect_rc(8, g.rc[8], WEFT_ENOTFOUND);
  expect_rc(9, g.rc[9], WEFT_ESTATE);
  cr_assert_str_eq(dump(r), LOADED);
  th_finish(r);
}

static void abend_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  change_three(t, c, 0);
  weft_abend(t, "UFIL");
  atomic_fetch_add(&c->after, 1);
}

Test(file, abend_backs_out) {
  weft_region *r = file_region(2, 1);
  th_define(r, "ABND", abend_task, 1);
  run(r, "ABND", 0);
  for (int i = 0; i < 5; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(dump(r), LOADED);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 1);
  cr_assert_eq(atomic_load(&g.after), 0);
}

static void commit_task(weft_task *t) {
  change_three(t, TH_CTX(t, file_ctx), 0);
}

Test(file, normal_end_commits) {
  weft_region *r = file_region(2, 1);
  th_define(r, "COMM", commit_task, 1);
  run(r, "COMM", 0);
  for (int i = 0; i < 5; i++)
    expect_rc(i, g.rc[i], 0);
  cr_assert_str_eq(dump(r), CHANGED);
  weft_region_stats s = th_finish(r);
  cr_assert_eq(s.tasks_abended, 0);
}

static void sync_then_rollback_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  char buf[80];
  c->rc[0] = get(t, "A1", buf, WEFT_READ_UPDATE);
  c->rc[1] = rewrite(t, "A1", "kept");
  c->rc[2] = put(t, "A5", "kept");
  c->rc[3] = weft_syncpoint(t);
  /* The syncpoint released the lock on A1. */
  c->rc[4] = rewrite(t, "A1", "nolock");
  c->rc[5] = get(t, "B1", buf, WEFT_READ_UPDATE);
  c->rc[6] = rewrite(t, "B1", "lost");
  c->rc[7] = del(t, "C1");
  c->rc[8] = del(t, "A5");
  c->rc[9] = put(t, "B5", "lost");
  c->rc[10] = weft_rollback(t);
  c->rc[11] = dump_into(t, c->got[11], sizeof c->got[11]);
}

Test(file, syncpoint_then_rollback_undoes_only_the_later_changes) {
  weft_region *r = file_region(2, 1);
  th_define(r, "SPRB", sync_then_rollback_task, 1);
  run(r, "SPRB", 0);
  for (int i = 0; i < 12; i++)
    expect_rc(i, g.rc[i], i == 4 ? WEFT_ESTATE : 0);
  cr_assert_str_eq(g.got[11], "A1=kept;A2=a2;A5=kept;B1=b1;B2=b2;C1=c1;");
  cr_assert_str_eq(dump(r), "A1=kept;A2=a2;A5=kept;B1=b1;B2=b2;C1=c1;");
  th_finish(r);
}

/* Two files are independent: the same key in each, backed out together. */
static void two_files_task(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[0] = weft_file_write(t, "OTHER", "A1", 2, "other", 5);
  c->rc[1] = get(t, "A1", c->got[1], 0);
  size_t len = 0;
  c->rc[2] = weft_file_read(t, "OTHER", "A1", 2, c->got[2], 79, &len, 0);
  c->got[2][len < 80 ? len : 0] = 0;
  c->rc[3] = del(t, "A1");
  c->rc[4] = weft_rollback(t);
  c->rc[5] = weft_file_read(t, "OTHER", "A1", 2, c->got[5], 79, &len, 0);
  c->rc[6] = get(t, "A1", c->got[6], 0);
}

Test(file, files_are_separate_and_back_out_together) {
  weft_region *r = file_region(2, 1);
  define_file(r, "OTHER", 4, 8);
  th_define(r, "TWOF", two_files_task, 1);
  run(r, "TWOF", 0);
  static const int want[7] = {0, 0, 0, 0, 0, WEFT_ENOTFOUND, 0};
  for (int i = 0; i < 7; i++)
    expect_rc(i, g.rc[i], want[i]);
  cr_assert_str_eq(g.got[1], "a1");
  cr_assert_str_eq(g.got[2], "other");
  cr_assert_str_eq(g.got[6], "a1");
  th_finish(r);
}

/* ------------------------------------------------------------------------ */
/* Record locks and user ENQs                                                */
/* ------------------------------------------------------------------------ */

/* A program's ENQ on the very bytes txn/ builds a record lock from ('F',
 * the packed file name, the key) names another resource: it never blocks
 * the record. */
static void record_lock_bytes(unsigned char out[11]) {
  out[0] = 'F';
  memset(out + 1, 0, 8);
  memcpy(out + 1, FILE_NAME, strlen(FILE_NAME));
  memcpy(out + 9, "A1", 2);
}

static void enq_holder(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  unsigned char res[11];
  record_lock_bytes(res);
  c->rc[0] = weft_enq(t, res, sizeof res, 0);
  atomic_store(&c->changed, 1);
  c->rc[1] = weft_event_wait(t, c->release, WEFT_WAIT_FOREVER);
  weft_deq(t, res, sizeof res);
}

static void record_reader(weft_task *t) {
  file_ctx *c = TH_CTX(t, file_ctx);
  c->rc[2] = get(t, "A1", c->got[2], WEFT_READ_UPDATE);
  atomic_store(&c->rdr_done, 1);
}

Test(file, user_enq_names_never_collide_with_record_locks) {
  weft_region_config cfg = th_config(1, 64);
  cfg.lock_timeout_ms = WEFT_OFF; /* a lock wait would fail at once */
  cfg.deadlock_action = WEFT_DEADLOCK_ERROR;
  weft_region *r = th_region_cfg(&cfg);
  define_file(r, FILE_NAME, FKEY_MAX, FREC_MAX);
  th_define(r, "DUMP", dump_task, 1);
  th_define(r, "LOAD", load_task, 1);
  run(r, "LOAD", 0);
  cr_assert_eq(weft_event_create(&g.release), 0);
  th_define(r, "HOLD", enq_holder, 1);
  th_define(r, "READ", record_reader, 1);
  th_start(r, "HOLD", &g, 0);
  th_wait_until(atomic_load(&g.changed) == 1);
  th_start(r, "READ", &g, 0);
  th_wait_until(atomic_load(&g.rdr_done) == 1);
  weft_event_post(g.release);
  th_finish(r);
  expect_rc(0, g.rc[0], 0);
  expect_rc(2, g.rc[2], 0);
  cr_assert_str_eq(g.got[2], "a1");
  weft_event_destroy(g.release);
}
