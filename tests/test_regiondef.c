/* test_regiondef.c - region definition files (tools/common/regiondef.h):
 * parsing and defaults, every kind of error with its file:line, apply into
 * a real region, run-time install, passwords, and the cryptography of
 * bcrypt.dll (PBKDF2-HMAC-SHA256 and SHA-256 against published vectors).
 *
 * Linked with weft.dll (not the static library): apply loads
 * test_progdll.dll, whose programs call weft.dll. The tests run in the
 * build's bin directory, where test_progdll.dll is. */
#include <ctype.h>

#include "helpers.h"

#include "pbkdf2.h"
#include "regiondef.h"

TestSuite(regiondef, .timeout = TH_TEST_TIMEOUT);

#define NAME "t.wrd"       /* the file name in messages of in-memory files */
#define R "REGION name=T\n" /* a first line for files that need one */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Every error of e, one a line (for failure messages). */
static const char *all_errors(const wdef_errors *e) {
  static char buf[8192];
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < e->n && n < sizeof buf - 1; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "  %s\n", e->v[i].text);
  return e->n ? buf : "  (none)\n";
}

/* Is there an error "file:line: ...needle..." (with its line field)? */
static int has_error(const wdef_errors *e, const char *file, int line, const char *needle) {
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
  size_t n = strlen(prefix);
  for (size_t i = 0; i < e->n; i++)
    if (e->v[i].line == line && strncmp(e->v[i].text, prefix, n) == 0 &&
        strstr(e->v[i].text + n, needle) != NULL)
      return 1;
  return 0;
}

#define expect_error(e, line, needle)                                                           \
  cr_expect(has_error((e), NAME, (line), (needle)), "expected %s:%d: ...%s...; got:\n%s", NAME, \
            (line), (needle), all_errors(e))

/* Parse text (in memory, relative paths against the current directory),
 * which must be valid. */
static wdef_file *good(const char *text, int flags) {
  wdef_file *f = NULL;
  wdef_errors e = {0};
  int rc = wdef_parse_string(text, strlen(text), NAME, ".", flags, &f, &e);
  cr_assert_eq(rc, 0, "parse failed (%s):\n%s", weft_err_name(rc), all_errors(&e));
  cr_assert_not_null(f);
  cr_assert_eq(e.n, 0);
  wdef_errors_free(&e);
  return f;
}

/* Parse text, which must be invalid: no file, WEFT_EINVAL, errors. */
static wdef_errors bad(const char *text, int flags) {
  wdef_file *f = (wdef_file *)&f;
  wdef_errors e = {0};
  int rc = wdef_parse_string(text, strlen(text), NAME, ".", flags, &f, &e);
  cr_assert_eq(rc, WEFT_EINVAL, "parse returned %s; errors:\n%s", weft_err_name(rc),
               all_errors(&e));
  cr_assert_null(f, "an invalid file yields no definitions");
  cr_assert_gt(e.n, 0);
  return e;
}

/* One error only, at line, naming needle. */
static void bad_one(const char *text, int line, const char *needle) {
  wdef_errors e = bad(text, WDEF_REGION_REQUIRED);
  expect_error(&e, line, needle);
  cr_expect_eq(e.n, 1, "expected one error; got:\n%s", all_errors(&e));
  wdef_errors_free(&e);
}

/* The directory of this source file, to find tests/data. */
static void source_dir(char *out, size_t cap) {
  snprintf(out, cap, "%s", __FILE__);
  char *slash = strrchr(out, '/');
  char *bslash = strrchr(out, '\\');
  if (bslash > slash)
    slash = bslash;
  if (slash != NULL)
    *slash = '\0';
  else
    snprintf(out, cap, ".");
}

static int ends_with(const char *s, const char *tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && strcmp(s + a - b, tail) == 0;
}

/* ---- Built-in programs and what they saw ------------------------------- */

static atomic_long g_runs; /* builtin program runs */
static struct {
  uint64_t task_no;
  char data[64];
} g_seen[4]; /* the first runs: task number and start data */

static void bi_record(weft_task *t) {
  const void *data = NULL;
  size_t len = 0;
  weft_retrieve(t, &data, &len);
  long i = atomic_fetch_add(&g_runs, 1);
  if (i < 4 && len < sizeof g_seen[0].data && data != NULL) {
    g_seen[i].task_no = weft_task_number(t);
    memcpy(g_seen[i].data, data, len);
  }
}

static weft_program_fn builtins(void *ctx, const char *symbol) {
  return strcmp(symbol, "record") == 0 ? bi_record : NULL;
}

/* ------------------------------------------------------------------------ */
/* SHA-256 and PBKDF2-HMAC-SHA256 (bcrypt.dll)                              */
/* ------------------------------------------------------------------------ */

static const char *hex_of(const unsigned char *d, size_t n) {
  static char got[2 * 128 + 1];
  for (size_t i = 0; i < n && i < 128; i++)
    snprintf(got + 2 * i, 3, "%02x", d[i]);
  return got;
}

static void expect_sha(const char *msg, size_t len, const char *hex) {
  unsigned char d[WDEF_SHA256_SIZE];
  cr_assert_eq(wdef_sha256(msg, len, d), 0);
  cr_expect_str_eq(hex_of(d, sizeof d), hex, "SHA-256 of \"%.20s\" (%u bytes)", msg, (unsigned)len);
}

Test(regiondef, sha256_vectors) {
  expect_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  expect_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  expect_sha(m448, strlen(m448),
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(regiondef, sha256_million_a) {
  static char msg[1000000];
  memset(msg, 'a', sizeof msg);
  expect_sha(msg, sizeof msg, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void expect_pbkdf2(const char *pw, size_t pw_len, const char *salt, size_t salt_len,
                          unsigned c, size_t dk_len, const char *hex) {
  unsigned char dk[64];
  cr_assert_eq(wdef_pbkdf2_sha256(pw, pw_len, salt, salt_len, c, dk, dk_len), 0);
  cr_expect_str_eq(hex_of(dk, dk_len), hex, "PBKDF2-HMAC-SHA256(\"%s\", \"%s\", %u, %u)", pw, salt,
                   c, (unsigned)dk_len);
}

/* RFC 7914 section 11 (PBKDF2-HMAC-SHA256), and the RFC 6070 inputs with
 * HMAC-SHA256 (values agreed by OpenSSL, Python's hashlib and others). */
Test(regiondef, pbkdf2_sha256_vectors) {
  expect_pbkdf2("passwd", 6, "salt", 4, 1, 64,
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
  expect_pbkdf2("Password", 8, "NaCl", 4, 80000, 64,
                "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
  expect_pbkdf2("password", 8, "salt", 4, 1, 32,
                "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  expect_pbkdf2("password", 8, "salt", 4, 2, 32,
                "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
  expect_pbkdf2("password", 8, "salt", 4, 4096, 32,
                "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  expect_pbkdf2("passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096,
                40,
                "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9");
  expect_pbkdf2("pass\0word", 9, "sa\0lt", 5, 4096, 16, "89b69d0516f829893c696226650a8687");
  unsigned char dk[32];
  cr_expect_eq(wdef_pbkdf2_sha256("p", 1, "salt", 4, 0, dk, sizeof dk), WEFT_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Valid files                                                               */
/* ------------------------------------------------------------------------ */

Test(regiondef, every_kind_parses_to_its_values) {
  const char *text =
      "# a comment line\n"
      "REGION name=BANK workers=3 max_tasks=77 data_dir=dd listen=10.1.2.3:4000 "
      "max_terminals=9 max_per_address=3 max_line=200 idle_timeout=0 receive_timeout=12 "
      "signon=yes signon_timeout=0 "
      "operator_group=OPS checkpoint_mb=5 lock_timeout_ms=forever deadlock=error "
      "dispatch=static greeting=\"Hello, # not a comment \\\"quoted\\\" \\\\ end\"\n"
      "\n"
      "ENCLAVE name=ONLINE importance=1 goal=percentile goal_ms=5 goal_percent=90 max_active=7\n"
      "ENCLAVE name=AVG importance=system goal=average goal_ms=200\n"
      "ENCLAVE name=BG importance=discretionary\n"
      "CLASS name=CL max_active=3 purge_threshold=10\n"
      "PROGRAM name=P1 dll=progs.dll symbol=entry\n"
      "PROGRAM name=P2 builtin=yes   # symbol defaults to the name\n"
      "TRANSACTION tranid=T1 program=P1 enclave=ONLINE class=CL priority=200 "
      "groups=A,B runaway_ms=900\n"
      "TRANSACTION tranid=T2 program=P2\n"
      "FILE name=ACCT key_max=8 rec_max=100\n"
      "TSQUEUE name=SCR* recoverable=yes\n"
      "TSQUEUE name=PLAIN\n"
      "TDQUEUE name=LOGQ\n"
      "TDQUEUE name=TRIGQ recoverable=no trigger=5 tranid=T1\n"
      "USER name=alice salt=000102030405060708090a0b0c0d0e0f "
      "hash=8247f68170eeb9b29fd13a960045aa15daf37ac7b5854616e3fcf4ba21da6f95 groups=A\n"
      "STARTUP tranid=T2 data=\"go now\"\n"
      "STARTUP tranid=T1\n";
  wdef_file *f = good(text, WDEF_REGION_REQUIRED);

  const wdef_region *g = &f->region;
  cr_expect_eq(g->line, 2);
  cr_expect_str_eq(g->name, "BANK");
  cr_expect_eq(g->workers, 3);
  cr_expect_eq(g->max_tasks, 77);
  cr_assert_not_null(g->data_dir);
  cr_expect(ends_with(g->data_dir, "\\dd"), "data_dir %s", g->data_dir);
  cr_expect_str_eq(g->listen_addr, "10.1.2.3");
  cr_expect_eq(g->listen_port, 4000);
  cr_expect_eq(g->max_terminals, 9);
  cr_expect_eq(g->max_per_address, 3);
  cr_expect_eq(g->signon_timeout_s, 0);
  cr_expect_eq(g->max_line, 200);
  cr_expect_eq(g->idle_timeout_s, 0);
  cr_expect_eq(g->receive_timeout_s, 12);
  cr_expect_eq(g->signon, 1);
  cr_expect_str_eq(g->operator_group, "OPS");
  cr_expect_eq(g->checkpoint_mb, 5);
  cr_expect_eq(g->lock_timeout_ms, WEFT_WAIT_FOREVER);
  cr_expect_eq(g->deadlock_action, WEFT_DEADLOCK_ERROR);
  cr_expect_eq(g->dispatch_mode, WEFT_DISPATCH_STATIC);
  cr_expect_str_eq(g->greeting, "Hello, # not a comment \"quoted\" \\ end");

  cr_assert_eq(f->n_enclaves, 3);
  cr_expect_eq(f->enclaves[0].line, 4);
  cr_expect_str_eq(f->enclaves[0].name, "ONLINE");
  cr_expect_eq(f->enclaves[0].importance, 1);
  cr_expect_eq(f->enclaves[0].goal_type, WEFT_GOAL_PERCENTILE);
  cr_expect_eq(f->enclaves[0].goal_ms, 5);
  cr_expect_eq(f->enclaves[0].goal_percent, 90);
  cr_expect_eq(f->enclaves[0].max_active, 7);
  cr_expect_eq(f->enclaves[1].importance, WEFT_IMPORTANCE_SYSTEM);
  cr_expect_eq(f->enclaves[1].goal_type, WEFT_GOAL_AVERAGE);
  cr_expect_eq(f->enclaves[1].goal_ms, 200);
  cr_expect_eq(f->enclaves[2].importance, WEFT_IMPORTANCE_DISCRETIONARY);
  cr_expect_eq(f->enclaves[2].goal_type, WEFT_GOAL_NONE);

  cr_assert_eq(f->n_classes, 1);
  cr_expect_str_eq(f->classes[0].name, "CL");
  cr_expect_eq(f->classes[0].max_active, 3);
  cr_expect_eq(f->classes[0].purge_threshold, 10);

  cr_assert_eq(f->n_programs, 2);
  cr_expect_eq(f->programs[0].builtin, 0);
  cr_expect(ends_with(f->programs[0].dll, "\\progs.dll"), "dll %s", f->programs[0].dll);
  cr_expect_str_eq(f->programs[0].symbol, "entry");
  cr_expect_eq(f->programs[1].builtin, 1);
  cr_expect_null(f->programs[1].dll);
  cr_expect_str_eq(f->programs[1].symbol, "P2");

  cr_assert_eq(f->n_transactions, 2);
  const wdef_transaction *t = &f->transactions[0];
  cr_expect_eq(t->line, 10);
  cr_expect_str_eq(t->tranid, "T1");
  cr_expect_str_eq(t->program, "P1");
  cr_expect_str_eq(t->enclave, "ONLINE");
  cr_expect_str_eq(t->tclass, "CL");
  cr_expect_eq(t->priority, 200);
  cr_expect_eq(t->runaway_ms, 900);
  cr_assert_eq(t->groups.n, 2);
  cr_expect_str_eq(t->groups.name[0], "A");
  cr_expect_str_eq(t->groups.name[1], "B");
  t = &f->transactions[1];
  cr_expect_str_eq(t->enclave, WEFT_DEFAULT_ENCLAVE);
  cr_expect_str_eq(t->tclass, "");
  cr_expect_eq(t->priority, 100);
  cr_expect_eq(t->runaway_ms, 0);
  cr_expect_eq(t->groups.n, 0);

  cr_assert_eq(f->n_files, 1);
  cr_expect_eq(f->files[0].key_max, 8);
  cr_expect_eq(f->files[0].rec_max, 100);
  cr_assert_eq(f->n_tsqueues, 2);
  cr_expect_str_eq(f->tsqueues[0].name, "SCR*");
  cr_expect_eq(f->tsqueues[0].recoverable, 1);
  cr_expect_eq(f->tsqueues[1].recoverable, 0);
  cr_assert_eq(f->n_tdqueues, 2);
  cr_expect_eq(f->tdqueues[0].recoverable, 1);
  cr_expect_eq(f->tdqueues[0].trigger, 0);
  cr_expect_str_eq(f->tdqueues[0].tranid, "");
  cr_expect_eq(f->tdqueues[1].recoverable, 0);
  cr_expect_eq(f->tdqueues[1].trigger, 5);
  cr_expect_str_eq(f->tdqueues[1].tranid, "T1");

  cr_assert_eq(f->n_users, 1);
  cr_expect_eq(f->users[0].salt_len, 16);
  cr_expect_eq(f->users[0].salt[15], 0x0f);
  cr_expect_eq(f->users[0].hash[0], 0x82);
  cr_assert_eq(f->n_startups, 2);
  cr_expect_str_eq(f->startups[0].tranid, "T2");
  cr_expect_str_eq(f->startups[0].data, "go now");
  cr_expect_eq(f->startups[0].data_len, 6);
  cr_expect_str_eq(f->startups[1].data, "");
  cr_expect_eq(f->startups[1].data_len, 0);
  wdef_free(f);
}

Test(regiondef, defaults) {
  wdef_file *f = good("REGION name=R\n", WDEF_REGION_REQUIRED);
  const wdef_region *g = &f->region;
  cr_expect_eq(g->workers, 0); /* the CPU count */
  cr_expect_eq(g->max_tasks, 1024);
  cr_expect_null(g->data_dir);
  cr_expect_str_eq(g->listen_addr, "127.0.0.1");
  cr_expect_eq(g->listen_port, 3270);
  cr_expect_eq(g->max_terminals, 256);
  cr_expect_eq(g->max_per_address, 0);
  cr_expect_eq(g->signon_timeout_s, 60);
  cr_expect_eq(g->max_line, 1024);
  cr_expect_eq(g->idle_timeout_s, 600);
  cr_expect_eq(g->receive_timeout_s, 300);
  cr_expect_eq(g->signon, 0);
  cr_expect_str_eq(g->operator_group, "OPERATOR");
  cr_expect_eq(g->checkpoint_mb, 64);
  cr_expect_eq(g->lock_timeout_ms, 30000);
  cr_expect_eq(g->deadlock_action, WEFT_DEADLOCK_ABEND);
  cr_expect_eq(g->dispatch_mode, WEFT_DISPATCH_GOAL);
  cr_expect_null(g->greeting);
  cr_expect_eq(f->n_enclaves + f->n_programs + f->n_transactions + f->n_startups, 0);
  wdef_free(f);

  /* An enclave with nothing but its name. */
  f = good(R "ENCLAVE name=E\n", WDEF_REGION_REQUIRED);
  cr_expect_eq(f->enclaves[0].importance, 3);
  cr_expect_eq(f->enclaves[0].goal_type, WEFT_GOAL_NONE);
  cr_expect_eq(f->enclaves[0].max_active, 0);
  wdef_free(f);
}

Test(regiondef, case_rules_quotes_and_comments) {
  /* Kinds, attribute names and keywords in any case; names keep theirs. */
  wdef_file *f = good("region NAME=r signon=YES\r\n"
                      "Program Name=pay Builtin=Yes\r\n"
                      "program name=PAY builtin=yes\n"
                      "TRANSACTION  tranid = pay   program = pay\n"
                      "transaction tranid=PAY program=PAY # trailing comment\n"
                      "  \t# an indented comment\n"
                      "ENCLAVE name=\"Q\" goal=AVERAGE goal_ms=\"10\"\n"
                      "TSQUEUE name=*\n",
                      WDEF_REGION_REQUIRED);
  cr_expect_str_eq(f->region.name, "r");
  cr_expect_eq(f->region.signon, 1);
  cr_assert_eq(f->n_programs, 2);
  cr_assert_eq(f->n_transactions, 2);
  cr_expect_str_eq(f->transactions[0].tranid, "pay");
  cr_expect_str_eq(f->transactions[1].tranid, "PAY");
  cr_expect_eq(f->transactions[1].line, 5);
  cr_expect_str_eq(f->enclaves[0].name, "Q");
  cr_expect_eq(f->enclaves[0].goal_ms, 10);
  cr_expect_str_eq(f->tsqueues[0].name, "*");
  wdef_free(f);
}

Test(regiondef, region_line_modes) {
  /* Optional: absent gives the defaults; present is used. */
  wdef_file *f = good("ENCLAVE name=E\n", WDEF_REGION_OPTIONAL);
  cr_expect_eq(f->region.line, 0);
  cr_expect_eq(f->region.max_tasks, 1024);
  wdef_free(f);
  f = good("REGION name=X max_tasks=5\n", WDEF_REGION_OPTIONAL);
  cr_expect_eq(f->region.max_tasks, 5);
  wdef_free(f);

  /* Required but missing: reported at line 1. */
  wdef_errors e = bad("ENCLAVE name=E\n", WDEF_REGION_REQUIRED);
  expect_error(&e, 1, "no REGION");
  wdef_errors_free(&e);

  /* Forbidden (run-time install). */
  e = bad("ENCLAVE name=E\nREGION name=X\n", WDEF_INSTALL);
  expect_error(&e, 2, "REGION is not allowed");
  wdef_errors_free(&e);

  /* Not first; twice. */
  e = bad("# hello\nENCLAVE name=E\nREGION name=X\n", WDEF_REGION_OPTIONAL);
  expect_error(&e, 3, "REGION must be the first definition");
  wdef_errors_free(&e);
  e = bad("REGION name=X\nREGION name=Y\n", WDEF_REGION_REQUIRED);
  expect_error(&e, 2, "duplicate REGION (first defined at line 1)");
  wdef_errors_free(&e);
}

Test(regiondef, external_references_for_install) {
  /* Names the file does not define are left to the region (apply). */
  wdef_file *f = good("TRANSACTION tranid=NEW program=OLDPROG enclave=ONLINE class=CL\n"
                      "TDQUEUE name=Q trigger=1 tranid=OLDTRAN\n"
                      "STARTUP tranid=OLDTRAN\n",
                      WDEF_INSTALL);
  cr_expect_eq(f->n_transactions, 1);
  wdef_free(f);
}

Test(regiondef, lookups_and_groups) {
  wdef_file *f = good(R "ENCLAVE name=ON\n"
                        "PROGRAM name=P builtin=yes\n"
                        "TRANSACTION tranid=A program=P enclave=ON groups=TELLER,AUDIT\n"
                        "TRANSACTION tranid=B program=P\n"
                        "USER name=u salt=00000000000000000000 "
                        "hash=0000000000000000000000000000000000000000000000000000000000000000 "
                        "groups=AUDIT\n"
                        "USER name=v salt=0000000000000000 "
                        "hash=0000000000000000000000000000000000000000000000000000000000000000\n",
                      WDEF_REGION_REQUIRED);
  cr_expect_str_eq(wdef_transaction_enclave(f, "A"), "ON");
  cr_expect_str_eq(wdef_transaction_enclave(f, "B"), WEFT_DEFAULT_ENCLAVE);
  cr_expect_null(wdef_transaction_enclave(f, "C"));
  cr_expect_null(wdef_transaction_enclave(f, "a")); /* case-sensitive */
  cr_expect_not_null(wdef_find_enclave(f, "ON"));
  cr_expect_not_null(wdef_find_program(f, "P"));
  cr_expect_null(wdef_find_class(f, "ON"));
  const wdef_user *u = wdef_find_user(f, "u"), *v = wdef_find_user(f, "v");
  cr_assert_not_null(u);
  cr_assert_not_null(v);
  cr_expect_eq(u->salt_len, 10);
  cr_expect(wdef_user_in_group(u, "AUDIT"));
  cr_expect(!wdef_user_in_group(u, "TELLER"));
  cr_expect(!wdef_user_in_group(v, "AUDIT"));
  const wdef_transaction *a = wdef_find_transaction(f, "A"), *b = wdef_find_transaction(f, "B");
  cr_expect(wdef_may_run(u, a));
  cr_expect(!wdef_may_run(v, a));
  cr_expect(!wdef_may_run(NULL, a));
  cr_expect(wdef_may_run(v, b));
  cr_expect(wdef_may_run(NULL, b));
  wdef_free(f);
}

/* ------------------------------------------------------------------------ */
/* Errors, one kind at a time                                               */
/* ------------------------------------------------------------------------ */

Test(regiondef, error_unknown_kind) {
  bad_one(R "\nENCLAV name=X\n", 3, "unknown definition kind 'ENCLAV'");
}

Test(regiondef, error_unknown_attribute) {
  bad_one(R "ENCLAVE name=X goal_mss=5\n", 2, "unknown attribute 'goal_mss' for ENCLAVE");
}

Test(regiondef, error_missing_required_attribute) {
  bad_one(R "CLASS name=C\n", 2, "CLASS needs max_active=");
  bad_one(R "PROGRAM name=P builtin=yes\nTRANSACTION tranid=T\n", 3, "TRANSACTION needs program=");
  bad_one(R "FILE name=F key_max=4\n", 2, "FILE needs rec_max=");
  bad_one(R "USER name=u hash=0000000000000000000000000000000000000000000000000000000000000000\n",
          2, "USER needs salt=");
  bad_one("REGION workers=2\n", 1, "REGION needs name=");
}

Test(regiondef, error_bad_number) {
  bad_one(R "ENCLAVE name=E max_active=ten\n", 2, "bad number for max_active: 'ten'");
  bad_one(R "ENCLAVE name=E max_active=-1\n", 2, "bad number for max_active: '-1'");
  bad_one(R "ENCLAVE name=E max_active=99999999999\n", 2, "bad number for max_active");
  bad_one(R "ENCLAVE name=E max_active=\n", 2, "bad number for max_active: ''");
}

Test(regiondef, error_out_of_range) {
  bad_one(R "PROGRAM name=P builtin=yes\nTRANSACTION tranid=T program=P priority=256\n", 3,
          "priority=256 is out of range (0..255)");
  bad_one("REGION name=R workers=65\n", 1, "workers=65 is out of range (1..64)");
  bad_one("REGION name=R workers=0\n", 1, "workers=0 is out of range");
  bad_one("REGION name=R max_per_address=100001\n", 1,
          "max_per_address=100001 is out of range (0..100000)");
  bad_one("REGION name=R signon_timeout=86401\n", 1,
          "signon_timeout=86401 is out of range (0..86400)");
  bad_one(R "ENCLAVE name=E importance=6\n", 2,
          "importance=6 is out of range (expected 1..5, system or discretionary)");
  bad_one(R "ENCLAVE name=E goal=percentile goal_ms=5 goal_percent=100\n", 2,
          "goal_percent=100 is out of range (1..99)");
  bad_one(R "FILE name=F key_max=241 rec_max=1\n", 2, "key_max=241 is out of range (1..240)");
  bad_one("REGION name=R lock_timeout_ms=never\n", 1,
          "bad value for lock_timeout_ms: 'never' (expected 0..86400000 or forever)");
}

Test(regiondef, error_bad_keyword) {
  bad_one(R "ENCLAVE name=E goal=fast\n", 2,
          "bad value for goal: 'fast' (expected none, average or percentile)");
  bad_one("REGION name=R signon=maybe\n", 1, "bad value for signon: 'maybe' (expected yes or no)");
  bad_one("REGION name=R dispatch=rr\n", 1, "bad value for dispatch");
  bad_one("REGION name=R listen=3270\n", 1, "bad listen '3270'");
  bad_one("REGION name=R listen=1.2.3.256:80\n", 1, "bad listen");
  bad_one("REGION name=R listen=1.2.3.4:0\n", 1, "bad listen");
}

Test(regiondef, error_bad_names) {
  bad_one(R "ENCLAVE name=TOOLONGXX\n", 2, "bad name 'TOOLONGXX'");
  bad_one(R "PROGRAM name=\"A B\" builtin=yes\n", 2, "bad name 'A B'");
  bad_one(R "TDQUEUE name=ABCDEFGHIJKLMNOPQ\n", 2, "bad name 'ABCDEFGHIJKLMNOPQ'");
  bad_one(R "TSQUEUE name=\n", 2, "bad name ''");
  bad_one(R "USER name=u salt=0000000000000000 "
            "hash=0000000000000000000000000000000000000000000000000000000000000000 groups=A,,B\n",
          2, "bad group name '' in groups");
  bad_one(R "ENCLAVE name=DEFAULT\n", 2, "enclave DEFAULT is predefined");
}

Test(regiondef, error_duplicate_definition) {
  bad_one(R "ENCLAVE name=E\n"
            "CLASS name=E max_active=1\n" /* another kind: fine */
            "ENCLAVE name=E importance=2\n",
          4, "duplicate ENCLAVE E (first defined at line 2)");
  bad_one(R "PROGRAM name=P builtin=yes\n"
            "TRANSACTION tranid=T program=P\n"
            "TRANSACTION tranid=t program=P\n" /* case-sensitive: fine */
            "TRANSACTION tranid=T program=P\n",
          5, "duplicate TRANSACTION T (first defined at line 3)");
  bad_one(R "ENCLAVE name=E goal=none goal=none\n", 2, "attribute goal given twice");
}

Test(regiondef, error_undefined_references) {
  wdef_errors e = bad(R "PROGRAM name=P builtin=yes\n"
                        "TRANSACTION tranid=T1 program=NOPROG\n"
                        "TRANSACTION tranid=T2 program=P enclave=NOENC\n"
                        "TRANSACTION tranid=T3 program=P class=NOCLASS\n"
                        "TDQUEUE name=Q trigger=2 tranid=NOTRAN\n"
                        "STARTUP tranid=NOSTART\n"
                        "TRANSACTION tranid=T4 program=P groups=NOBODY\n", /* fine */
                      WDEF_REGION_REQUIRED);
  expect_error(&e, 3, "TRANSACTION T1: program NOPROG is not defined");
  expect_error(&e, 4, "TRANSACTION T2: enclave NOENC is not defined");
  expect_error(&e, 5, "TRANSACTION T3: class NOCLASS is not defined");
  expect_error(&e, 6, "TDQUEUE Q: trigger transaction NOTRAN is not defined");
  expect_error(&e, 7, "STARTUP: transaction NOSTART is not defined");
  cr_expect_eq(e.n, 5, "got:\n%s", all_errors(&e));
  wdef_errors_free(&e);
}

Test(regiondef, error_rules_between_attributes) {
  bad_one(R "ENCLAVE name=E goal_ms=5\n", 2, "goal_ms and goal_percent need goal=");
  bad_one(R "ENCLAVE name=E goal=average\n", 2, "goal=average needs goal_ms=");
  bad_one(R "ENCLAVE name=E goal=percentile goal_ms=3\n", 2, "goal=percentile needs goal_percent=");
  bad_one(R "PROGRAM name=P\n", 2, "PROGRAM P needs dll= (or builtin=yes)");
  bad_one(R "PROGRAM name=P dll=x.dll builtin=yes\n", 2, "dll= and builtin=yes exclude");
  bad_one(R "PROGRAM name=P builtin=yes\nTRANSACTION tranid=T program=P\n"
            "TDQUEUE name=Q trigger=3\n",
          4, "TDQUEUE Q: trigger=3 needs tranid=");
  bad_one(R "PROGRAM name=P builtin=yes\nTRANSACTION tranid=T program=P\n"
            "TDQUEUE name=Q tranid=T\n",
          4, "tranid= needs a trigger level");
}

Test(regiondef, error_lexical) {
  bad_one(R "REGION2 name=x\n", 2, "unknown definition kind 'REGION2'");
  bad_one(R "ENCLAVE name=\"E\n", 2, "unterminated quoted value of name");
  bad_one(R "ENCLAVE name=\"E\"x\n", 2, "text right after the closing quote of name");
  bad_one(R "ENCLAVE name=E\"x\n", 2, "a quote inside the unquoted value of name");
  bad_one(R "ENCLAVE name=\"\\n\"\n", 2, "bad escape in the value of name");
  bad_one(R "ENCLAVE name E\n", 2, "expected '=' after attribute name");
  bad_one(R "ENCLAVE =E\n", 2, "expected an attribute name");
  bad_one(R "=ENCLAVE\n", 2, "a definition must start with its kind");
  bad_one("REGION name=R greeting=\"tab\there\"\n", 1, "greeting must be printable ASCII");
  /* A REGION line that cannot be read reports its own error only, not also
   * "no REGION definition" (issue 10). */
  bad_one("REGION name=R greeting=\"a\\qb\"\n", 1, "bad escape in the value of greeting");
  bad_one("# first a comment\nregion name=R greeting=\"a\n", 2,
          "unterminated quoted value of greeting");
}

Test(regiondef, error_user_salt_and_hash) {
  const char *h = "hash=0000000000000000000000000000000000000000000000000000000000000000";
  char text[512];
  snprintf(text, sizeof text, R "USER name=u salt=0011223344 %s\n", h);
  bad_one(text, 2, "bad salt"); /* 10 hex digits: too short */
  snprintf(text, sizeof text, R "USER name=u salt=00112233445566778 %s\n", h);
  bad_one(text, 2, "bad salt"); /* odd */
  snprintf(text, sizeof text, R "USER name=u salt=001122334455667g %s\n", h);
  bad_one(text, 2, "bad salt"); /* not hex */
  bad_one(R "USER name=u salt=0011223344556677 hash=abcd\n", 2, "bad hash: expected pbkdf2-sha256");
}

Test(regiondef, many_errors_all_reported_in_line_order) {
  const char *text = "REGION name=R workers=100\n"               /* 1: range */
                     "ENCLAVE name=E importance=9\n"             /* 2: range */
                     "BOGUS x=1\n"                               /* 3: kind */
                     "CLASS name=C max_active=abc\n"             /* 4: number */
                     "PROGRAM name=P builtin=yes colour=red\n"   /* 5: attribute */
                     "TRANSACTION tranid=T program=Q\n"          /* 6: reference */
                     "ENCLAVE name=E\n"                          /* 7: duplicate */
                     "FILE name=F key_max=1\n"                   /* 8: missing */
                     "TRANSACTION tranid=NINECHARS program=P\n"; /* 9: name */
  wdef_errors e = bad(text, WDEF_REGION_REQUIRED);
  expect_error(&e, 1, "workers=100 is out of range");
  expect_error(&e, 2, "importance=9 is out of range");
  expect_error(&e, 3, "unknown definition kind 'BOGUS'");
  expect_error(&e, 4, "bad number for max_active: 'abc'");
  expect_error(&e, 5, "unknown attribute 'colour' for PROGRAM");
  expect_error(&e, 6, "program Q is not defined");
  expect_error(&e, 7, "duplicate ENCLAVE E (first defined at line 2)");
  expect_error(&e, 8, "FILE needs rec_max=");
  expect_error(&e, 9, "bad tranid 'NINECHARS'");
  cr_expect_eq(e.n, 9, "got:\n%s", all_errors(&e));
  for (size_t i = 1; i < e.n; i++)
    cr_expect_leq(e.v[i - 1].line, e.v[i].line, "errors in line order:\n%s", all_errors(&e));
  wdef_errors_free(&e);
}

/* ------------------------------------------------------------------------ */
/* Files on disk                                                             */
/* ------------------------------------------------------------------------ */

Test(regiondef, sample_file_and_relative_paths) {
  char dir[MAX_PATH], path[MAX_PATH];
  source_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/data/regiondef/bank.wrd", dir);
  wdef_file *f = NULL;
  wdef_errors e = {0};
  int rc = wdef_parse_file(path, WDEF_REGION_REQUIRED, &f, &e);
  cr_assert_eq(rc, 0, "%s: %s\n%s", path, weft_err_name(rc), all_errors(&e));
  cr_expect_str_eq(f->path, path);
  cr_expect_str_eq(f->region.name, "BANK");
  cr_expect_eq(f->region.signon, 1);
  cr_expect(ends_with(f->region.data_dir, "\\data\\regiondef\\bankdata"), "data_dir %s",
            f->region.data_dir);
  cr_expect(ends_with(f->dir, "\\data\\regiondef"), "dir %s", f->dir);
  const wdef_program *p = wdef_find_program(f, "INQ");
  cr_assert_not_null(p);
  cr_expect(ends_with(p->dll, "\\data\\regiondef\\bank.dll"), "dll %s", p->dll);
  cr_expect_eq(f->n_enclaves, 2);
  cr_expect_eq(f->n_programs, 5);
  cr_expect_eq(f->n_transactions, 5);
  cr_expect_eq(f->n_users, 2);
  cr_expect_str_eq(wdef_transaction_enclave(f, "STMT"), "BATCH");
  /* The passwords the comments give. */
  cr_expect(wdef_password_ok(wdef_find_user(f, "alice"), "teller"));
  cr_expect(wdef_password_ok(wdef_find_user(f, "op"), "operator"));
  cr_expect(!wdef_password_ok(wdef_find_user(f, "op"), "teller"));
  cr_expect(wdef_user_in_group(wdef_find_user(f, "op"), f->region.operator_group));
  cr_expect(!wdef_may_run(wdef_find_user(f, "alice"), wdef_find_transaction(f, "WEFT")));
  wdef_free(f);
}

Test(regiondef, errors_name_the_file_path) {
  char dir[MAX_PATH], path[MAX_PATH];
  GetTempPathA(sizeof dir, dir);
  snprintf(path, sizeof path, "%swdef_errors_%lu.wrd", dir, GetCurrentProcessId());
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  fputs("REGION name=R\nENCLAVE name=E importance=0\n", fp);
  fclose(fp);
  wdef_file *f = NULL;
  wdef_errors e = {0};
  cr_expect_eq(wdef_parse_file(path, WDEF_REGION_REQUIRED, &f, &e), WEFT_EINVAL);
  cr_expect_null(f);
  cr_expect(has_error(&e, path, 2, "importance=0 is out of range"), "got:\n%s", all_errors(&e));
  wdef_errors_free(&e);
  DeleteFileA(path);

  /* A file that cannot be read: one error naming it. */
  cr_expect_eq(wdef_parse_file(path, WDEF_REGION_REQUIRED, &f, &e), WEFT_ESYS);
  cr_assert_eq(e.n, 1);
  cr_expect_eq(e.v[0].line, 0);
  cr_expect(strncmp(e.v[0].text, path, strlen(path)) == 0 &&
                strstr(e.v[0].text, "cannot read the file") != NULL,
            "%s", e.v[0].text);
  wdef_errors_free(&e);

  /* A directory: said so, not "Permission denied" (issue 10). */
  cr_expect_eq(wdef_parse_file(dir, WDEF_REGION_REQUIRED, &f, &e), WEFT_ESYS);
  cr_assert_eq(e.n, 1, "got:\n%s", all_errors(&e));
  cr_expect(strstr(e.v[0].text, "cannot read the file: it is a directory, not a definition file") !=
                NULL,
            "%s", e.v[0].text);
  wdef_errors_free(&e);

  /* A path too long for Windows is refused as such, never cut to a
   * shorter one that might name another file. */
  char longp[WDEF_PATH_MAX + 40];
  snprintf(longp, sizeof longp, "%s", path);
  for (size_t n = strlen(longp); n < sizeof longp - 1; n++)
    longp[n] = 'x';
  longp[sizeof longp - 1] = '\0';
  cr_expect_eq(wdef_parse_file(longp, WDEF_REGION_REQUIRED, &f, &e), WEFT_ESYS);
  cr_assert_eq(e.n, 1, "got:\n%s", all_errors(&e));
  cr_expect(strstr(e.v[0].text, "the path is longer than Windows allows (259 characters)") != NULL,
            "%s", e.v[0].text);
  wdef_errors_free(&e);
}

Test(regiondef, path_resolution) {
  wdef_file *f = NULL;
  wdef_errors e = {0};
  const char *text = "REGION name=R data_dir=..\\data\n"
                     "PROGRAM name=A dll=sub/a.dll\n"
                     "PROGRAM name=B dll=D:\\abs\\b.dll\n";
  cr_assert_eq(
      wdef_parse_string(text, strlen(text), NAME, "C:\\defs\\x", WDEF_REGION_REQUIRED, &f, &e), 0,
      "%s", all_errors(&e));
  cr_expect_str_eq(f->region.data_dir, "C:\\defs\\data");
  cr_expect_str_eq(f->programs[0].dll, "C:\\defs\\x\\sub\\a.dll");
  cr_expect_str_eq(f->programs[1].dll, "D:\\abs\\b.dll");
  wdef_free(f);
}

/* ------------------------------------------------------------------------ */
/* Applying to a region                                                     */
/* ------------------------------------------------------------------------ */

Test(regiondef, region_config_from_the_region_line) {
  wdef_file *f = good("REGION name=R workers=2 max_tasks=33 checkpoint_mb=3 "
                      "lock_timeout_ms=1500 deadlock=error dispatch=fifo data_dir=x\n",
                      WDEF_REGION_REQUIRED);
  weft_region_config cfg;
  wdef_region_config(f, &cfg);
  cr_expect_eq(cfg.workers, 2);
  cr_expect_eq(cfg.max_tasks, 33);
  cr_expect_eq(cfg.checkpoint_bytes, 3u << 20);
  cr_expect_eq(cfg.lock_timeout_ms, 1500);
  cr_expect_eq(cfg.deadlock_action, WEFT_DEADLOCK_ERROR);
  cr_expect_eq(cfg.dispatch_mode, WEFT_DISPATCH_FIFO);
  cr_expect_eq(cfg.data_dir, f->region.data_dir);
  wdef_free(f);

  /* The defaults make a region weft accepts. */
  f = good("REGION name=R workers=1\n", WDEF_REGION_REQUIRED);
  wdef_region_config(f, &cfg);
  cr_expect_null(cfg.data_dir);
  cr_expect_eq(cfg.max_queued, 65536); /* weft's own default kept */
  weft_region *r = th_region_cfg(&cfg);
  th_finish(r);
  wdef_free(f);
}

Test(regiondef, apply_installs_definitions_that_work) {
  const char *text = R "ENCLAVE name=ONLINE importance=2 goal=average goal_ms=100\n"
                       "CLASS name=CLS max_active=3 purge_threshold=50\n"
                       "PROGRAM name=REC builtin=yes symbol=record\n"
                       "PROGRAM name=PABEND dll=test_progdll.dll symbol=prog_abend\n"
                       "TRANSACTION tranid=RECT program=REC enclave=ONLINE class=CLS\n"
                       "TRANSACTION tranid=ABND program=PABEND\n"
                       "FILE name=ACCT key_max=8 rec_max=64\n"
                       "TSQUEUE name=SCR* recoverable=yes\n"
                       "TDQUEUE name=TQ trigger=1 tranid=RECT\n"
                       "STARTUP tranid=RECT data=first\n"
                       "STARTUP tranid=RECT data=\"second one\"\n";
  wdef_file *f = good(text, WDEF_REGION_REQUIRED);
  weft_region *r = th_region(2, 64);
  wdef_errors e = {0};
  int rc = wdef_apply(f, r, builtins, NULL, &e);
  cr_assert_eq(rc, 0, "apply: %s\n%s", weft_err_name(rc), all_errors(&e));

  weft_enclave_stats es;
  cr_assert_eq(weft_enclave_stats_get(r, "ONLINE", &es), 0);
  cr_expect_eq(es.importance, 2);
  cr_expect_eq(es.goal_type, WEFT_GOAL_AVERAGE);
  cr_expect_eq(es.goal_ms, 100);
  weft_class_stats cs;
  cr_assert_eq(weft_class_stats_get(r, "CLS", &cs), 0);
  cr_expect_eq(cs.max_active, 3);
  cr_expect_eq(cs.purge_threshold, 50);
  cr_expect_eq(weft_transaction_is_enabled(r, "RECT"), 1);
  cr_expect_eq(weft_program_is_enabled(r, "PABEND"), 1);
  uint64_t depth = 99;
  cr_expect_eq(weft_td_depth(r, "TQ", &depth), 0);
  cr_expect_eq(depth, 0);

  /* STARTUP lines start once each, in order, with their data. */
  rc = wdef_run_startup(f, r, &e);
  cr_assert_eq(rc, 0, "%s", all_errors(&e));
  th_wait_ended(r, 2);
  cr_assert_eq(atomic_load(&g_runs), 2);
  int first = g_seen[0].task_no < g_seen[1].task_no ? 0 : 1; /* started first */
  cr_expect_str_eq(g_seen[first].data, "first");
  cr_expect_str_eq(g_seen[1 - first].data, "second one");

  /* The DLL program runs (and abends as it should). */
  cr_assert_eq(weft_start(r, "ABND", NULL, 0, NULL, NULL), 0);
  th_wait_ended(r, 3);
  cr_assert_eq(weft_transaction_stats_get(r, "RECT", &es), 0);
  cr_expect_eq(es.tasks_completed, 2);
  cr_assert_eq(weft_transaction_stats_get(r, "ABND", &es), 0);
  cr_expect_eq(es.tasks_abended, 1);
  cr_assert_eq(weft_enclave_stats_get(r, "ONLINE", &es), 0);
  cr_expect_eq(es.tasks_completed, 2);
  th_finish(r);
  wdef_free(f);
}

Test(regiondef, apply_reports_missing_dll_symbol_and_builtin_by_line) {
  const char *text = R "PROGRAM name=OK builtin=yes symbol=record\n"
                       "PROGRAM name=NODLL dll=no_such_weft_program.dll\n"
                       "PROGRAM name=NOSYM dll=test_progdll.dll symbol=no_such_symbol\n"
                       "PROGRAM name=NOBI builtin=yes\n"
                       "TRANSACTION tranid=T1 program=NODLL\n"
                       "TRANSACTION tranid=T2 program=OK\n";
  wdef_file *f = good(text, WDEF_REGION_REQUIRED);
  weft_region *r = th_region(1, 16);
  wdef_errors e = {0};
  cr_expect_eq(wdef_apply(f, r, builtins, NULL, &e), WEFT_EINVAL);
  expect_error(&e, 3, "PROGRAM NODLL: DLL ");
  expect_error(&e, 3, "no_such_weft_program.dll not found");
  expect_error(&e, 4, "PROGRAM NOSYM: DLL ");
  expect_error(&e, 4, "does not export no_such_symbol");
  expect_error(&e, 5, "PROGRAM NOBI: no built-in program 'NOBI'");
  expect_error(&e, 6, "TRANSACTION T1: program NODLL is not defined");
  cr_expect_eq(e.n, 4, "got:\n%s", all_errors(&e));
  /* The rest was still installed. */
  cr_expect_eq(weft_transaction_is_enabled(r, "T2"), 1);
  wdef_errors_free(&e);

  /* Without a builtin lookup every builtin program is an error. */
  wdef_free(f);
  f = good(R "PROGRAM name=B builtin=yes\n", WDEF_REGION_REQUIRED);
  cr_expect_eq(wdef_apply(f, r, NULL, NULL, &e), WEFT_EINVAL);
  expect_error(&e, 2, "PROGRAM B: no built-in program 'B'");
  wdef_errors_free(&e);
  th_finish(r);
  wdef_free(f);
}

Test(regiondef, runtime_install_adds_and_refuses_existing_names) {
  weft_region *r = th_region(1, 16);
  wdef_file *base = good(R "ENCLAVE name=ONLINE\n"
                           "PROGRAM name=REC builtin=yes symbol=record\n"
                           "TRANSACTION tranid=RECT program=REC enclave=ONLINE\n",
                         WDEF_REGION_REQUIRED);
  wdef_errors e = {0};
  cr_assert_eq(wdef_apply(base, r, builtins, NULL, &e), 0, "%s", all_errors(&e));

  /* A new transaction using the region's program and enclave. */
  wdef_file *add = good("# installed at run time\n"
                        "TRANSACTION tranid=NEWT program=REC enclave=ONLINE priority=7\n"
                        "TDQUEUE name=NQ trigger=2 tranid=RECT\n",
                        WDEF_INSTALL);
  cr_assert_eq(wdef_apply(add, r, builtins, NULL, &e), 0, "%s", all_errors(&e));
  cr_expect_eq(weft_transaction_is_enabled(r, "NEWT"), 1);
  cr_assert_eq(weft_start(r, "NEWT", "x", 1, NULL, NULL), 0);
  th_wait_until(atomic_load(&g_runs) >= 1);

  /* Names the region has: every one reported, nothing installed. */
  wdef_file *again = good("ENCLAVE name=FRESH\n"
                          "ENCLAVE name=ONLINE\n"
                          "PROGRAM name=REC builtin=yes symbol=record\n"
                          "TRANSACTION tranid=NEWT program=REC\n"
                          "TDQUEUE name=NQ\n",
                          WDEF_INSTALL);
  cr_expect_eq(wdef_apply(again, r, builtins, NULL, &e), WEFT_EINVAL);
  expect_error(&e, 2, "ENCLAVE ONLINE already exists in the region");
  expect_error(&e, 3, "PROGRAM REC already exists in the region");
  expect_error(&e, 4, "TRANSACTION NEWT already exists in the region");
  expect_error(&e, 5, "TDQUEUE NQ already exists in the region");
  cr_expect_eq(e.n, 4, "got:\n%s", all_errors(&e));
  weft_enclave_stats es;
  cr_expect_eq(weft_enclave_stats_get(r, "FRESH", &es), WEFT_ENOTFOUND);
  wdef_errors_free(&e);

  /* A reference the region cannot satisfy is reported at apply. */
  wdef_file *dangling = good("TRANSACTION tranid=DT program=NOPE\n"
                             "TRANSACTION tranid=DE program=REC enclave=NOENC\n"
                             "TRANSACTION tranid=DC program=REC class=NOCLS\n",
                             WDEF_INSTALL);
  cr_expect_eq(wdef_apply(dangling, r, builtins, NULL, &e), WEFT_EINVAL);
  expect_error(&e, 1, "TRANSACTION DT: program NOPE is not defined");
  expect_error(&e, 2, "TRANSACTION DE: enclave NOENC is not defined");
  expect_error(&e, 3, "TRANSACTION DC: class NOCLS is not defined");
  wdef_errors_free(&e);

  th_finish(r);
  wdef_free(base);
  wdef_free(add);
  wdef_free(again);
  wdef_free(dangling);
}

Test(regiondef, conflicts_with_an_installed_file) {
#define USR(n)                             \
  "USER name=" n " salt=0000000000000000 " \
  "hash=0000000000000000000000000000000000000000000000000000000000000000\n"
  wdef_file *first = good(R "FILE name=ACCT key_max=4 rec_max=8\n" USR("alice") "TSQUEUE name=S*\n",
                          WDEF_REGION_REQUIRED);
  wdef_file *next = good(USR("bob") USR("alice") "FILE name=ACCT key_max=4 rec_max=8\n"
                                                 "TSQUEUE name=S\n", /* not S*: no conflict */
                         WDEF_INSTALL);
  wdef_errors e = {0};
  cr_expect_eq(wdef_check_conflicts(next, first, &e), WEFT_EINVAL);
  expect_error(&e, 2, "USER alice is already defined at t.wrd:3");
  expect_error(&e, 3, "FILE ACCT is already defined at t.wrd:2");
  cr_expect_eq(e.n, 2, "got:\n%s", all_errors(&e));
  wdef_errors_free(&e);
  cr_expect_eq(wdef_check_conflicts(first, first, &e), WEFT_EINVAL); /* everything */
  cr_expect_eq(e.n, 3, "got:\n%s", all_errors(&e));
  wdef_errors_free(&e);
  wdef_free(first);
  wdef_free(next);
#undef USR
}

/* ------------------------------------------------------------------------ */
/* Passwords                                                                 */
/* ------------------------------------------------------------------------ */

/* A deterministic "random" source: 0, 1, 2, ... */
static int counting(void *ctx, void *buf, size_t len) {
  unsigned char *p = buf;
  for (size_t i = 0; i < len; i++)
    p[i] = (unsigned char)i;
  return 0;
}

static int failing(void *ctx, void *buf, size_t len) {
  return -1;
}

#define PW1000                                           \
  "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$" \
  "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88"

static void expect_checks(const wdef_user *u) {
  cr_assert_not_null(u);
  cr_expect(wdef_password_ok(u, "secret1"));
  cr_expect(!wdef_password_ok(u, "secret2"));
  cr_expect(!wdef_password_ok(u, "Secret1"));
  cr_expect(!wdef_password_ok(u, "secret"));
  cr_expect(!wdef_password_ok(u, "secret1 "));
  cr_expect(!wdef_password_ok(u, ""));
  cr_expect(!wdef_password_ok(u, NULL));
}

Test(regiondef, password_hash_and_check) {
  char hash[WDEF_HASH_TEXT_SIZE];
  cr_assert_eq(wdef_make_hash("secret1", 1000, counting, NULL, hash), 0);
  /* PBKDF2-HMAC-SHA256("secret1", bytes 00..0f, 1000), computed by Python. */
  cr_expect_str_eq(hash, PW1000);

  char text[512];
  snprintf(text, sizeof text, R "USER name=alice hash=%s\n", hash);
  wdef_file *f = good(text, WDEF_REGION_REQUIRED);
  const wdef_user *u = wdef_find_user(f, "alice");
  expect_checks(u);
  cr_expect_eq(u->scheme, WDEF_SCHEME_PBKDF2);
  cr_expect_eq(u->iterations, 1000);
  cr_expect_eq(u->salt_len, 16);
  cr_expect(!wdef_password_ok(NULL, "secret1"));
  wdef_free(f);

  /* Upper-case hex is accepted as well. */
  for (char *c = strrchr(hash, '$'); *c; c++)
    *c = (char)toupper((unsigned char)*c);
  snprintf(text, sizeof text, R "USER name=alice hash=%s\n", hash);
  f = good(text, WDEF_REGION_REQUIRED);
  cr_expect(wdef_password_ok(wdef_find_user(f, "alice"), "secret1"));
  wdef_free(f);

  /* The iteration count is part of the hash: another count, another key. */
  cr_assert_eq(wdef_make_hash("secret1", 1001, counting, NULL, hash), 0);
  cr_expect_str_neq(strrchr(hash, '$'), strrchr(PW1000, '$'));

  cr_expect_eq(wdef_make_hash("x", 1000, failing, NULL, hash), WEFT_ESYS);
  cr_expect_eq(wdef_make_hash(NULL, 1000, counting, NULL, hash), WEFT_EINVAL);
  cr_expect_eq(wdef_make_hash("x", WDEF_ITERATIONS_MAX + 1, counting, NULL, hash), WEFT_EINVAL);
}

/* Without a count, the recommended one (600,000: about 2 s under Wine). */
Test(regiondef, password_hash_default_iterations) {
  char hash[WDEF_HASH_TEXT_SIZE];
  cr_assert_eq(wdef_make_hash("pw", 0, counting, NULL, hash), 0);
  cr_expect(strncmp(hash, "pbkdf2-sha256$600000$000102030405060708090a0b0c0d0e0f$", 54) == 0, "%s",
            hash);
  cr_expect_eq(strlen(hash), 54 + 64, "%s", hash);
}

/* Files written before PBKDF2: salt= and a SHA-256 of salt || password
 * still verify (docs/region-config.md; weftd warns about them). */
Test(regiondef, old_sha256_hashes_still_verify) {
  wdef_file *f = good(R "USER name=alice salt=000102030405060708090a0b0c0d0e0f "
                        "hash=8247f68170eeb9b29fd13a960045aa15daf37ac7b5854616e3fcf4ba21da6f95\n",
                      WDEF_REGION_REQUIRED);
  const wdef_user *u = wdef_find_user(f, "alice");
  expect_checks(u);
  cr_expect_eq(u->scheme, WDEF_SCHEME_SHA256);
  cr_expect_eq(u->iterations, 0);
  wdef_free(f);
}

Test(regiondef, error_user_pbkdf2_hash) {
  static const char *const bad_hashes[] = {
      "pbkdf2-sha256$0$000102030405060708090a0b0c0d0e0f$" /* no rounds */
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88",
      "pbkdf2-sha256$100000001$000102030405060708090a0b0c0d0e0f$" /* too many */
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88",
      "pbkdf2-sha256$x$000102030405060708090a0b0c0d0e0f$"
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88",
      "pbkdf2-sha256$1000$0001020304$" /* salt too short */
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88",
      "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$" /* key too short */
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c",
      "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f", /* no key */
      "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88$00", /* a part more */
      "pbkdf2-sha1$1000$000102030405060708090a0b0c0d0e0f$"                   /* another scheme */
      "6f8926ce4ca5c25a52786dd2e12bc46e17bd289c4e073a8f6d047e7efc748c88",
  };
  char text[512];
  for (size_t i = 0; i < sizeof bad_hashes / sizeof bad_hashes[0]; i++) {
    snprintf(text, sizeof text, R "USER name=u hash=%s\n", bad_hashes[i]);
    bad_one(text, 2, "bad hash: expected pbkdf2-sha256$ITERATIONS$SALT$KEY");
  }
  /* A PBKDF2 hash carries its salt: salt= beside it is an error. */
  bad_one(R "USER name=u salt=000102030405060708090a0b0c0d0e0f hash=" PW1000 "\n", 2,
          "salt= goes with an old SHA-256 hash only");
}

Test(regiondef, os_random_salts_differ_and_verify) {
  char h1[WDEF_HASH_TEXT_SIZE], h2[WDEF_HASH_TEXT_SIZE];
  cr_assert_eq(wdef_make_hash("pw", 1000, NULL, NULL, h1), 0);
  cr_assert_eq(wdef_make_hash("pw", 1000, wdef_random_os, NULL, h2), 0);
  cr_expect_str_neq(h1, h2);
  char text[512];
  snprintf(text, sizeof text, R "USER name=u hash=%s\n", h1);
  wdef_file *f = good(text, WDEF_REGION_REQUIRED);
  cr_expect(wdef_password_ok(&f->users[0], "pw"));
  cr_expect(!wdef_password_ok(&f->users[0], "pw "));
  wdef_free(f);
}
