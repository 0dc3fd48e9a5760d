/* regiondef.h - region definition files: parse, validate, install.
 *
 * A region definition file describes a Weft region as text, one definition
 * a line (the format is documented in docs/region-config.md):
 *
 *     REGION      name=BANK listen=127.0.0.1:3270 signon=yes
 *     ENCLAVE     name=ONLINE importance=1 goal=percentile goal_ms=5 goal_percent=90
 *     PROGRAM     name=INQ dll=bank.dll symbol=bank_inq
 *     TRANSACTION tranid=INQ program=INQ enclave=ONLINE groups=TELLER
 *
 * The flow for a region server:
 *
 *     wdef_file *f; wdef_errors errs = {0};
 *     if (wdef_parse_file(path, WDEF_REGION_REQUIRED, &f, &errs) != 0) {
 *       wdef_errors_print(&errs, stderr);      every error, "FILE:LINE: ..."
 *       ... refuse to start ...
 *     }
 *     weft_region_config cfg;
 *     wdef_region_config(f, &cfg);              then set log_fn etc.
 *     weft_region_create(&cfg, &r);
 *     if (wdef_apply(f, r, builtin_lookup, ctx, &errs) != 0) ... refuse ...
 *     ... listen on f->region.listen_addr:listen_port ...
 *     wdef_run_startup(f, r, &errs);            the STARTUP lines
 *     ... keep f while the region runs (users, groups, settings), then:
 *     wdef_free(f); wdef_errors_free(&errs);
 *
 * Installing another file into the running region (operator command):
 *
 *     wdef_parse_file(path2, WDEF_INSTALL, &g, &errs)     no REGION line
 *     wdef_check_conflicts(g, f, &errs) for f and every file installed before
 *     wdef_apply(g, r, builtin_lookup, ctx, &errs)        checks the region first
 *     wdef_run_startup(g, r, &errs)                        its STARTUP lines
 *     ... keep g (its USER lines) as long as f ...
 *
 * Ownership: a wdef_file owns every string and array it points to; they
 * live until wdef_free. A parsed file is never changed by this library, so
 * any number of threads may read it (and call the lookup functions) at
 * once. Nothing here keeps global state; no function blocks except the
 * file read in wdef_parse_file and what weft itself does in wdef_apply.
 *
 * Names: tranids, programs, enclaves, classes, files, users, groups and the
 * region name are 1-8 printable ASCII characters without spaces
 * (WEFT_NAME_MAX), case-sensitive as in weft.h; a group name also has no
 * comma. Queue names are 1-16 such characters (WEFT_QNAME_MAX); a TSQUEUE
 * name may end in '*' (a prefix model). Kinds, attribute names and keyword
 * values (yes, percentile, ...) are case-insensitive.
 */
#ifndef WEFT_TOOLS_REGIONDEF_H
#define WEFT_TOOLS_REGIONDEF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WDEF_NAME_SIZE (WEFT_NAME_MAX + 1)    /* a name and its NUL */
#define WDEF_QNAME_SIZE (WEFT_QNAME_MAX + 1)  /* a queue name and its NUL */
#define WDEF_TSNAME_SIZE (WEFT_QNAME_MAX + 2) /* ... and a trailing '*' */
#define WDEF_GROUPS_MAX 16                    /* groups= entries at most */
#define WDEF_SALT_MIN 8                       /* salt bytes (16 hex digits) at least */
#define WDEF_SALT_MAX 64                      /* salt bytes (128 hex digits) at most */
#define WDEF_SALT_NEW 16                      /* salt bytes wdef_make_hash makes */
#define WDEF_HASH_SIZE 32                     /* key bytes (PBKDF2) or digest bytes (SHA-256) */
#define WDEF_ITERATIONS_RECOMMENDED 600000u   /* PBKDF2-HMAC-SHA256 rounds (OWASP, 2023) */
#define WDEF_ITERATIONS_MAX 100000000u        /* rounds a hash may ask for */
#define WDEF_HASH_TEXT_SIZE 256               /* a hash= value and its NUL */
#define WDEF_ADDR_SIZE 64                     /* listen address text and its NUL */
#define WDEF_PATH_MAX 260 /* a definition file's path and its NUL (Windows' MAX_PATH) */

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* One problem. text is the whole message, "FILE:LINE: message" (or
 * "FILE: message" when line is 0, e.g. the file cannot be read). */
typedef struct wdef_error {
  int line;   /* 1-based line of the file; 0 when not tied to a line */
  char *text; /* owned by the list */
} wdef_error;

/* A list of errors, in the order found (file order within each pass).
 * Start it zeroed ({0}); functions append to it and never clear it, so one
 * list may collect the errors of several calls. Free it with
 * wdef_errors_free. Not thread-safe: one list per caller. */
typedef struct wdef_errors {
  wdef_error *v;
  size_t n;   /* entries in v */
  size_t cap; /* private */
} wdef_errors;

void wdef_errors_free(wdef_errors *e);                  /* empties it; reusable */
void wdef_errors_print(const wdef_errors *e, FILE *to); /* one line each */

/* ------------------------------------------------------------------------ */
/* Definitions: one struct per line, with its line number                   */
/* ------------------------------------------------------------------------ */

/* A comma list of group names (groups=A,B). n 0: no list. */
typedef struct wdef_groups {
  unsigned n;
  char name[WDEF_GROUPS_MAX][WDEF_NAME_SIZE];
} wdef_groups;

/* REGION: the region's configuration and the server's settings. When the
 * file has no REGION line (allowed by the parse flags), line is 0 and
 * every field holds its default. */
typedef struct wdef_region {
  int line;
  char name[WDEF_NAME_SIZE];           /* required on a REGION line; "WEFT" without one */
  unsigned workers;                    /* 1..64; 0: the CPU count (weft's default) */
  unsigned max_tasks;                  /* 1..WEFT_MAX_TASKS_MAX; default 1024 */
  char *data_dir;                      /* absolute path, resolved against the file's
                                     directory; NULL: none (memory only) */
  char listen_addr[WDEF_ADDR_SIZE];    /* IPv4 dotted quad; default "127.0.0.1"
                                     ("*" in the file gives "0.0.0.0") */
  unsigned listen_port;                /* 1..65535; default 3270 */
  char tn3270_addr[WDEF_ADDR_SIZE];    /* tn3270_listen=ADDR:PORT: the TN3270 server's
                                     address; default "127.0.0.1" */
  unsigned tn3270_port;                /* its port; 0 (default): no TN3270 server */
  char *tn3270_devices;                /* 3270 device names: a pattern with #s for
                                     digits (TC####) or a comma list; NULL: TC#### */
  unsigned tn3270_max_record;          /* 256..65536: an inbound 3270 record's bytes
                                     at most; default 16384 */
  unsigned max_terminals;              /* 1..100000; default 256 */
  unsigned max_per_address;            /* 0..100000: sessions at once from one client
                                     address; 0: no cap; default 0 */
  unsigned max_line;                   /* 16..65536 bytes; default 1024 */
  unsigned idle_timeout_s;             /* 0..86400; 0: never; default 600 */
  unsigned receive_timeout_s;          /* 0..86400; 0: never; default 300 */
  int signon;                          /* 1: SIGNON enabled and required; default 0 */
  unsigned signon_delay_ms;            /* 0..60000: delay after a first failed SIGNON,
                                     doubled each further one; 0: none; default 1000 */
  unsigned signon_lockout;             /* 0..1000: failed SIGNONs in a row that lock a
                                     user; 0: never; default 10 */
  unsigned signon_timeout_s;           /* 0..86400: a session not signed on this long is
                                     closed (with signon); 0: never; default 60 */
  char operator_group[WDEF_NAME_SIZE]; /* default "OPERATOR" */
  unsigned checkpoint_mb;              /* 0..1048576; 0: no automatic checkpoint;
                                     default 64 */
  unsigned lock_timeout_ms;            /* 0..86400000 or WEFT_WAIT_FOREVER; default 30000 */
  int deadlock_action;                 /* WEFT_DEADLOCK_ABEND (default) or _ERROR */
  int dispatch_mode;                   /* WEFT_DISPATCH_GOAL (default), _STATIC, _FIFO */
  char *greeting;                      /* printable text; NULL: none */
} wdef_region;

/* ENCLAVE: maps onto weft_enclave_def. */
typedef struct wdef_enclave {
  int line;
  char name[WDEF_NAME_SIZE];
  int importance;        /* 1..5 (default 3), WEFT_IMPORTANCE_SYSTEM or _DISCRETIONARY */
  int goal_type;         /* WEFT_GOAL_* (default NONE) */
  unsigned goal_ms;      /* 1..WEFT_GOAL_MS_MAX with a goal (required then), else 0 */
  unsigned goal_percent; /* 1..99 with a percentile goal (required then), else 0 */
  unsigned max_active;   /* 0 (default): no cap */
} wdef_enclave;

/* CLASS: maps onto weft_class_def. */
typedef struct wdef_class {
  int line;
  char name[WDEF_NAME_SIZE];
  unsigned max_active;      /* 1..WEFT_CLASS_MAX_ACTIVE_MAX, required */
  unsigned purge_threshold; /* 0 (default): the region's max_queued */
} wdef_class;

/* PROGRAM: from a DLL (weft_program_load) or built into the host. */
typedef struct wdef_program {
  int line;
  char name[WDEF_NAME_SIZE];
  int builtin;  /* 1: the host provides it (see wdef_builtin_fn) */
  char *dll;    /* absolute path (resolved against the file's directory);
                   NULL when builtin */
  char *symbol; /* the exported function (or the builtin's key); default:
                   the program name */
} wdef_program;

/* TRANSACTION: maps onto weft_transaction_def, plus who may run it. */
typedef struct wdef_transaction {
  int line;
  char tranid[WDEF_NAME_SIZE];
  char program[WDEF_NAME_SIZE];
  char enclave[WDEF_NAME_SIZE]; /* default WEFT_DEFAULT_ENCLAVE */
  char tclass[WDEF_NAME_SIZE];  /* "" (default): no class */
  int priority;                 /* 0..255; default 100 */
  unsigned runaway_ms;          /* 0..86400000; 0 (default): the region's */
  wdef_groups groups;           /* n 0 (default): everyone may run it */
} wdef_transaction;

/* FILE: maps onto weft_file_def. */
typedef struct wdef_kfile {
  int line;
  char name[WDEF_NAME_SIZE];
  unsigned key_max; /* 1..WEFT_KEY_MAX, required */
  unsigned rec_max; /* 1..WEFT_RECORD_MAX, required */
} wdef_kfile;

/* TSQUEUE: weft_ts_define(name, recoverable). */
typedef struct wdef_tsqueue {
  int line;
  char name[WDEF_TSNAME_SIZE]; /* may end in '*'; "*" alone matches every queue */
  int recoverable;             /* default 0 */
} wdef_tsqueue;

/* TDQUEUE: maps onto weft_td_def. */
typedef struct wdef_tdqueue {
  int line;
  char name[WDEF_QNAME_SIZE];
  int recoverable;             /* default 1 */
  unsigned trigger;            /* 0 (default): no trigger; else 1..WEFT_TD_TRIGGER_MAX */
  char tranid[WDEF_NAME_SIZE]; /* required with a trigger, else "" */
} wdef_tdqueue;

/* How a USER's password is stored. */
enum {
  WDEF_SCHEME_PBKDF2 = 1, /* hash=pbkdf2-sha256$ITERATIONS$SALT$KEY: PBKDF2-HMAC-SHA256 */
  WDEF_SCHEME_SHA256 = 2, /* old: salt=SALT hash=DIGEST, DIGEST = SHA-256(salt || password) */
};

/* USER: a user who may sign on; see wdef_password_ok. */
typedef struct wdef_user {
  int line;
  char name[WDEF_NAME_SIZE];
  int scheme;          /* WDEF_SCHEME_* */
  unsigned iterations; /* PBKDF2 rounds, 1..WDEF_ITERATIONS_MAX; 0 for SHA256 */
  unsigned char salt[WDEF_SALT_MAX];
  size_t salt_len; /* WDEF_SALT_MIN..WDEF_SALT_MAX bytes */
  unsigned char hash[WDEF_HASH_SIZE];
  wdef_groups groups; /* may be empty */
} wdef_user;

/* STARTUP: a transaction started once after the region starts. */
typedef struct wdef_startup {
  int line;
  char tranid[WDEF_NAME_SIZE];
  char *data; /* its start data (never NULL; "" by default) */
  size_t data_len;
} wdef_startup;

/* DATASOURCE: an ODBC data source (weft_db_source_define, docs/odbc.md);
 * parsed and installed by regiondef_db.c. */
typedef struct wdef_datasource {
  int line;
  char name[WDEF_NAME_SIZE];
  char *connect;       /* the connection string (connect=, or "DSN=" dsn=) */
  char *user;          /* user=; NULL: the string's own */
  char *password_env;  /* password_env=: read from this variable at apply */
  char *password_file; /* password_file=: the first line of this file at
                          apply (absolute, resolved against the file's dir) */
  unsigned pool_min, pool_max, connect_timeout_s, statement_timeout_s, wait_timeout_ms;
  int two_phase;       /* WEFT_DB_2PC_POSTGRES (default) or _NONE */
} wdef_datasource;

/* A parsed file. Each array holds its kind's definitions in file order. */
typedef struct wdef_file {
  char *path;         /* as given to the parser (or the name given for a string) */
  char *dir;          /* absolute directory relative paths were resolved against */
  wdef_region region; /* region.line 0: the file has no REGION line */
  wdef_enclave *enclaves;
  size_t n_enclaves;
  wdef_class *classes;
  size_t n_classes;
  wdef_program *programs;
  size_t n_programs;
  wdef_transaction *transactions;
  size_t n_transactions;
  wdef_kfile *files;
  size_t n_files;
  wdef_tsqueue *tsqueues;
  size_t n_tsqueues;
  wdef_tdqueue *tdqueues;
  size_t n_tdqueues;
  wdef_user *users;
  size_t n_users;
  wdef_startup *startups;
  size_t n_startups;
  struct wdef_http *http; /* HTTP and ROUTE lines (regiondef_http.h); NULL: none */
  wdef_datasource *datasources;
  size_t n_datasources;
} wdef_file;

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/* Flags of the parsers: one REGION mode, optionally ORed with
 * WDEF_EXTERNAL_REFS. */
#define WDEF_REGION_REQUIRED \
  0                            /* exactly one REGION line, the first definition
                                   (the file a server starts from) */
#define WDEF_REGION_OPTIONAL 1 /* at most one, first if present */
#define WDEF_REGION_FORBIDDEN \
  2                        /* a REGION line is an error (a file installed
                                   into a running region) */
#define WDEF_REGION_MODE 3 /* the mask of the three above */
/* A reference (a transaction's program, enclave or class, a trigger's or
 * STARTUP's tranid) to a name the file does not define is accepted: it must
 * exist in the region when the file is applied. Without the flag such a
 * reference is an error ("DEFAULT" is always defined). */
#define WDEF_EXTERNAL_REFS 4
/* What a run-time install ("install a new definition file") uses. */
#define WDEF_INSTALL (WDEF_REGION_FORBIDDEN | WDEF_EXTERNAL_REFS)

/* Parse and validate the file at path (relative paths in it resolve
 * against its directory). Returns 0 and a new *out (free it with
 * wdef_free), or a negative WEFT_E* code and *out NULL: WEFT_EINVAL (the
 * file has errors: every one of them is appended to errs), WEFT_ESYS (the
 * file cannot be read: one error in errs names it and why, such as "it is
 * a directory, not a definition file" or a path of WDEF_PATH_MAX or more
 * characters, which is refused, never cut), WEFT_ENOMEM.
 * An invalid file yields no definitions at all. Any thread. */
int wdef_parse_file(const char *path, int flags, wdef_file **out, wdef_errors *errs);

/* The same for text held in memory (len bytes; it need not end with a NUL).
 * name is used in messages as the file name; base_dir is the directory
 * relative paths resolve against (NULL: the current directory). */
int wdef_parse_string(const char *text, size_t len, const char *name, const char *base_dir,
                      int flags, wdef_file **out, wdef_errors *errs);

/* Free a parsed file (NULL is fine). */
void wdef_free(wdef_file *f);

/* ------------------------------------------------------------------------ */
/* Lookups (any thread; NULL when the file has no such definition)          */
/* ------------------------------------------------------------------------ */

const wdef_enclave *wdef_find_enclave(const wdef_file *f, const char *name);
const wdef_class *wdef_find_class(const wdef_file *f, const char *name);
const wdef_program *wdef_find_program(const wdef_file *f, const char *name);
const wdef_transaction *wdef_find_transaction(const wdef_file *f, const char *tranid);
const wdef_user *wdef_find_user(const wdef_file *f, const char *name);

/* The enclave tranid runs in ("DEFAULT" unless its line names one), or
 * NULL when the file does not define tranid. For load drivers that account
 * per enclave. */
const char *wdef_transaction_enclave(const wdef_file *f, const char *tranid);

/* 1 if u is in group, else 0 (u NULL: 0). */
int wdef_user_in_group(const wdef_user *u, const char *group);

/* May u run t? 1 when t has no groups (everyone may), or when u is in one
 * of t's groups; else 0. u NULL means nobody signed on: 1 only for a
 * transaction without groups. (The operator transaction's check against
 * region.operator_group is wdef_user_in_group.) */
int wdef_may_run(const wdef_user *u, const wdef_transaction *t);

/* ------------------------------------------------------------------------ */
/* Installing into a region                                                  */
/* ------------------------------------------------------------------------ */

/* Fill cfg from the REGION line: weft_region_config_init, then workers
 * (unless 0), max_tasks, data_dir (f->region.data_dir: owned by f, so keep
 * f alive until weft_region_create has returned), checkpoint_bytes,
 * lock_timeout_ms, deadlock_action and dispatch_mode. Without a REGION line
 * that is the REGION defaults. The caller sets the rest (log_fn, records).
 * Any thread. */
void wdef_region_config(const wdef_file *f, weft_region_config *cfg);

/* The function of a built-in program (PROGRAM builtin=yes): called with the
 * program's symbol (its name unless symbol= says otherwise); returns NULL
 * when the host has no such program. */
typedef weft_program_fn (*wdef_builtin_fn)(void *ctx, const char *symbol);

/* Install the definitions of f into r, in dependency order: enclaves,
 * classes, programs (weft_program_load; builtin ones through
 * builtin(ctx, symbol) and weft_program_define), transactions, files, TS
 * queue models, TD queues. USER and STARTUP lines install nothing (the host
 * uses them; see wdef_run_startup).
 *
 * First every definition is checked against the region: one whose name
 * the region already has (an enclave, class, program, transaction or TD
 * queue) is an error reported with its line, and then nothing at all is
 * installed. Then each definition is installed; one that fails (a DLL or
 * symbol missing, an unknown builtin, a name defined meanwhile, a file or
 * TS model the region already had, a reference to a name the region lacks)
 * is reported with its line and the rest are still tried, so every error
 * is seen at once. What was installed stays installed (weft cannot remove
 * a definition): a server that gets errors at start refuses to start; at
 * run time the operator fixes the file and installs the rest.
 *
 * Returns 0, or WEFT_EINVAL when errors were appended to errs (messages
 * "FILE:LINE: ..."), WEFT_ENOMEM. builtin may be NULL (then every builtin
 * program is an error). Host thread (weft's define calls may be made from
 * any thread, but a DLL load is slow and may not run on a worker). */
int wdef_apply(const wdef_file *f, weft_region *r, wdef_builtin_fn builtin, void *ctx,
               wdef_errors *errs);

/* The check wdef_apply makes first, on its own: appends an error for every
 * definition of f whose name r already has; returns 0 or WEFT_EINVAL.
 * Files and TS models cannot be inquired and are not checked. Any thread. */
int wdef_check_region(const wdef_file *f, weft_region *r, wdef_errors *errs);

/* For a run-time install: append an error for every definition of f
 * (of any kind, USER, FILE and TSQUEUE included, which the region cannot
 * be asked about) whose name `earlier` (a file already installed) defines
 * too: "FILE:LINE: USER alice is already defined at OTHER:LINE". Call it
 * for each file installed before, then wdef_apply. Returns 0 or
 * WEFT_EINVAL (errors appended), WEFT_ENOMEM. Any thread. */
int wdef_check_conflicts(const wdef_file *f, const wdef_file *earlier, wdef_errors *errs);

/* Start every STARTUP transaction once, in file order, with its data. A
 * start that fails is reported with its line and the rest are still
 * started. Returns 0 or WEFT_EINVAL (errors appended). Any thread. */
int wdef_run_startup(const wdef_file *f, weft_region *r, wdef_errors *errs);

/* ------------------------------------------------------------------------ */
/* Passwords                                                                 */
/* ------------------------------------------------------------------------ */

/* 1 if password is u's, else 0 (u or password NULL: 0). The key (or the
 * old scheme's digest) is compared in constant time. A PBKDF2 check costs
 * u->iterations rounds (about 2 s for 600,000 under Wine): call it where a
 * thread may block, never on a weft worker nor a network loop. Any thread. */
int wdef_password_ok(const wdef_user *u, const char *password);

/* A source of random bytes: fill buf with len bytes; 0 or non-zero on
 * failure. */
typedef int (*wdef_random_fn)(void *ctx, void *buf, size_t len);

/* The operating system's random source (bcrypt.dll's BCryptGenRandom);
 * ctx unused. */
int wdef_random_os(void *ctx, void *buf, size_t len);

/* Make the hash= value of a USER line for password, as text into out:
 * "pbkdf2-sha256$ITERATIONS$SALT$KEY" with a salt of WDEF_SALT_NEW bytes
 * from rnd(ctx, ...) (rnd NULL: wdef_random_os), SALT and KEY in
 * lowercase hex. iterations 0: WDEF_ITERATIONS_RECOMMENDED. Returns 0,
 * WEFT_EINVAL (a NULL argument, iterations over WDEF_ITERATIONS_MAX) or
 * WEFT_ESYS (rnd or bcrypt.dll failed). Slow as wdef_password_ok. */
int wdef_make_hash(const char *password, unsigned iterations, wdef_random_fn rnd, void *ctx,
                   char out[WDEF_HASH_TEXT_SIZE]);

/* The hash= text for a given salt (salt_len bytes), iteration count and
 * password. 0, WEFT_EINVAL or WEFT_ESYS. Any thread. */
int wdef_hash_text(const unsigned char *salt, size_t salt_len, unsigned iterations,
                   const char *password, char out[WDEF_HASH_TEXT_SIZE]);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TOOLS_REGIONDEF_H */
