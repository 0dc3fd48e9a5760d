/* regiondef.c - the region definition parser: lines, attributes, checks.
 *
 * Parsing takes three passes over what the text holds:
 *   1. each line is split into its kind and attributes (lex_line) and the
 *      attributes are converted into the kind's struct through the kind's
 *      attribute table (set_attr), then the line's own rules are checked
 *      (the kind's check function);
 *   2. duplicate names within each kind (check_dups);
 *   3. references between definitions (check_refs), unless the caller
 *      allows references outside the file.
 * Every problem is appended to the caller's error list; the parse fails if
 * any was found, and the errors it added are sorted by line at the end.
 *
 * Ownership: the parser owns the wdef_file it builds until it hands it to
 * the caller (or frees it on failure). Nothing here is shared between
 * calls, so parses may run on any number of threads at once. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "regiondef_http.h"
#include "regiondef_int.h"

#define LINE_ATTRS_MAX 32 /* attributes on one line at most */

/* ---- Errors and small helpers -------------------------------------------- */

int wdef__verr(wdef_errors *e, const char *file, int line, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t need = strlen(file) + strlen(msg) + 32;
  char *text = malloc(need);
  if (text == NULL)
    return WEFT_ENOMEM;
  if (line > 0)
    snprintf(text, need, "%s:%d: %s", file, line, msg);
  else
    snprintf(text, need, "%s: %s", file, msg);
  if (e->n == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 16;
    wdef_error *v = realloc(e->v, cap * sizeof *v);
    if (v == NULL) {
      free(text);
      return WEFT_ENOMEM;
    }
    e->v = v;
    e->cap = cap;
  }
  e->v[e->n].line = line;
  e->v[e->n].text = text;
  e->n++;
  return 0;
}

int wdef__err(wdef_errors *e, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = wdef__verr(e, file, line, fmt, ap);
  va_end(ap);
  return rc;
}

void wdef_errors_free(wdef_errors *e) {
  if (e == NULL)
    return;
  for (size_t i = 0; i < e->n; i++)
    free(e->v[i].text);
  free(e->v);
  e->v = NULL;
  e->n = e->cap = 0;
}

void wdef_errors_print(const wdef_errors *e, FILE *to) {
  for (size_t i = 0; e != NULL && i < e->n; i++)
    fprintf(to, "%s\n", e->v[i].text);
}

char *wdef__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int wdef__name_ok(const char *name, size_t max, int no_comma) {
  size_t n = strlen(name);
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c <= 0x20 || c >= 0x7F || (no_comma && c == ','))
      return 0;
  }
  return 1;
}

static int ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
      return 0;
  return *a == *b;
}

static int printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
      return 0;
  return 1;
}

/* Room for one more element at the end of *arr (n elements of size elem),
 * zeroed; NULL on exhaustion. Capacity doubles at each power of two. */
static void *push(void *arr_p, size_t *n, size_t elem) {
  void **arr = arr_p;
  if (*n == 0 || (*n & (*n - 1)) == 0) {
    size_t cap = *n < 4 ? 4 : *n * 2;
    void *v = realloc(*arr, cap * elem);
    if (v == NULL)
      return NULL;
    *arr = v;
  }
  char *slot = (char *)*arr + (*n)++ * elem;
  memset(slot, 0, elem);
  return slot;
}

/* ---- Paths --------------------------------------------------------------- */

static int path_absolute(const char *p) {
  return p[0] == '/' || p[0] == '\\' || (isalpha((unsigned char)p[0]) && p[1] == ':');
}

/* rel made absolute against dir (malloc), NULL on exhaustion. */
static char *resolve(const char *dir, const char *rel) {
  char *joined;
  if (path_absolute(rel) || dir == NULL) {
    joined = wdef__strdup(rel);
  } else {
    size_t n = strlen(dir) + strlen(rel) + 2;
    joined = malloc(n);
    if (joined != NULL)
      snprintf(joined, n, "%s\\%s", dir, rel);
  }
  if (joined == NULL)
    return NULL;
  char *full = _fullpath(NULL, joined, 0);
  if (full == NULL)
    return joined; /* too long for _fullpath: keep it as written */
  free(joined);
  return full;
}

/* The directory part of path, made absolute (malloc). */
static char *dir_of(const char *path) {
  const char *slash = NULL;
  for (const char *p = path; *p; p++)
    if (*p == '/' || *p == '\\')
      slash = p;
  if (slash == NULL)
    return resolve(NULL, ".");
  size_t n = (size_t)(slash - path) + (slash == path);
  char *d = malloc(n + 1);
  if (d == NULL)
    return NULL;
  memcpy(d, path, n);
  d[n] = '\0';
  char *full = resolve(NULL, d);
  free(d);
  return full;
}

/* ---- The parser's state ------------------------------------------------- */

typedef struct parser {
  wdef_file *f;
  wdef_errors *errs;
  int flags;
  int line;         /* the line being parsed */
  int defs;         /* definitions seen so far */
  int region_tried; /* a line that starts with REGION failed to lex */
  size_t err_start; /* errs->n when the parse began */
  int nomem;
} parser;

static void perr(parser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void perr(parser *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (wdef__verr(p->errs, p->f->path, p->line, fmt, ap) != 0)
    p->nomem = 1;
  va_end(ap);
}

static void perr_at(parser *p, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void perr_at(parser *p, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (wdef__verr(p->errs, p->f->path, line, fmt, ap) != 0)
    p->nomem = 1;
  va_end(ap);
}

static int parse_failed(const parser *p) {
  return p->nomem || p->errs->n > p->err_start;
}

/* What wdef_check_conflicts works with. */
typedef struct applier_ctx {
  const wdef_file *f, *earlier;
  wdef_errors *errs;
  int nomem;
} applier_ctx;

/* ---- Lexing one line ---------------------------------------------------- */

typedef struct attr {
  const char *key;
  const char *val;
} attr;

typedef struct tokens {
  const char *kind;
  attr a[LINE_ATTRS_MAX];
  int n;
} tokens;

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}
static int is_word(char c) {
  return isalnum((unsigned char)c) || c == '_';
}

static const char *skip_blanks(const char *s) {
  while (is_blank(*s))
    s++;
  return s;
}

/* A word (kind or attribute name) at *sp copied to *op. 0, or -1 if there
 * is none. */
static int lex_word(const char **sp, char **op) {
  const char *s = *sp;
  char *o = *op;
  if (!is_word(*s))
    return -1;
  while (is_word(*s))
    *o++ = *s++;
  *o++ = '\0';
  *sp = s;
  *op = o;
  return 0;
}

/* A double-quoted value: \" and \\ are the only escapes. */
static int lex_quoted(parser *p, const char **sp, char **op, const char *key) {
  const char *s = *sp + 1;
  char *o = *op;
  for (;;) {
    if (*s == '\0') {
      perr(p, "unterminated quoted value of %s", key);
      return -1;
    }
    if (*s == '"')
      break;
    if (*s == '\\') {
      s++;
      if (*s != '"' && *s != '\\') {
        perr(p, "bad escape in the value of %s: only \\\" and \\\\ are allowed", key);
        return -1;
      }
    }
    *o++ = *s++;
  }
  s++;
  if (*s != '\0' && !is_blank(*s) && *s != '#') {
    perr(p, "text right after the closing quote of %s", key);
    return -1;
  }
  *o++ = '\0';
  *sp = s;
  *op = o;
  return 0;
}

/* A bare value: up to a blank, '#' or the end of the line. */
static int lex_bare(parser *p, const char **sp, char **op, const char *key) {
  const char *s = *sp;
  char *o = *op;
  while (*s != '\0' && !is_blank(*s) && *s != '#') {
    if (*s == '"') {
      perr(p, "a quote inside the unquoted value of %s", key);
      return -1;
    }
    *o++ = *s++;
  }
  *o++ = '\0';
  *sp = s;
  *op = o;
  return 0;
}

/* One attr=value at *sp (the first non-blank). */
static int lex_attr(parser *p, const char **sp, char **op, tokens *t) {
  const char *s = *sp;
  char *key = *op;
  if (lex_word(&s, op) != 0) {
    perr(p, "expected an attribute name (attr=value), found '%c'", *s);
    return -1;
  }
  s = skip_blanks(s);
  if (*s != '=') {
    perr(p, "expected '=' after attribute %s", key);
    return -1;
  }
  s = skip_blanks(s + 1);
  if (t->n == LINE_ATTRS_MAX) {
    perr(p, "more than %d attributes on one line", LINE_ATTRS_MAX);
    return -1;
  }
  t->a[t->n].key = key;
  t->a[t->n].val = *op;
  t->n++;
  int rc = *s == '"' ? lex_quoted(p, &s, op, key) : lex_bare(p, &s, op, key);
  *sp = s;
  return rc;
}

/* Split line (NUL-terminated) into t; strings are copied into out, which
 * has room for twice the line. Returns 1 for a definition, 0 for a blank or
 * comment line, -1 after reporting an error. */
static int lex_line(parser *p, const char *line, char *out, tokens *t) {
  const char *s = skip_blanks(line);
  t->n = 0;
  if (*s == '\0' || *s == '#')
    return 0;
  t->kind = out;
  if (lex_word(&s, &out) != 0 || (*s != '\0' && !is_blank(*s) && *s != '#')) {
    perr(p, "a definition must start with its kind (REGION, ENCLAVE, CLASS, PROGRAM, "
            "TRANSACTION, FILE, TSQUEUE, TDQUEUE, USER or STARTUP)");
    return -1;
  }
  for (;;) {
    s = skip_blanks(s);
    if (*s == '\0' || *s == '#')
      return 1;
    if (lex_attr(p, &s, &out, t) != 0)
      return -1;
  }
}

/* ---- Attribute tables --------------------------------------------------- */

enum {
  T_NAME,   /* char[WDEF_NAME_SIZE]: 1-8 characters */
  T_QNAME,  /* char[WDEF_QNAME_SIZE]: 1-WEFT_QNAME_MAX characters */
  T_TSNAME, /* char[WDEF_TSNAME_SIZE]: 1-16 characters, maybe and a '*' */
  T_UINT,   /* unsigned, min..max */
  T_WORD,   /* unsigned (or int): a keyword, or a number min..max if max > 0 */
  T_TEXT,   /* char *: printable text */
  T_PATH,   /* char *: a path, resolved by the kind's check */
  T_GROUPS, /* wdef_groups */
  T_LISTEN, /* an address (char[WDEF_ADDR_SIZE]) and its port (unsigned at offset min) */
  T_SALT,   /* wdef_user's salt and salt_len */
  T_HASH,   /* wdef_user's hash */
  T_DATA,   /* wdef_startup's data and data_len */
};

typedef struct keyword {
  const char *word;
  unsigned value;
} keyword;

typedef struct attr_spec {
  const char *name;
  int type;
  size_t off; /* of the field in the kind's struct */
  int required;
  unsigned min, max;
  const keyword *kw;  /* T_WORD */
  const char *expect; /* T_WORD: the accepted values, for messages */
} attr_spec;

/* clang-format off */
static const keyword kw_bool[] = {{"yes", 1}, {"no", 0}, {NULL, 0}};
static const keyword kw_importance[] = {
    {"system", WEFT_IMPORTANCE_SYSTEM}, {"discretionary", WEFT_IMPORTANCE_DISCRETIONARY}, {NULL, 0}};
static const keyword kw_goal[] = {{"none", WEFT_GOAL_NONE},
                                  {"average", WEFT_GOAL_AVERAGE},
                                  {"percentile", WEFT_GOAL_PERCENTILE},
                                  {NULL, 0}};
static const keyword kw_deadlock[] = {
    {"abend", WEFT_DEADLOCK_ABEND}, {"error", WEFT_DEADLOCK_ERROR}, {NULL, 0}};
static const keyword kw_dispatch[] = {{"goal", WEFT_DISPATCH_GOAL},
                                      {"static", WEFT_DISPATCH_STATIC},
                                      {"fifo", WEFT_DISPATCH_FIFO},
                                      {NULL, 0}};
static const keyword kw_forever[] = {{"forever", WEFT_WAIT_FOREVER}, {NULL, 0}};

#define A(st, nm, ty, field, req, lo, hi) {nm, ty, offsetof(st, field), req, lo, hi, NULL, NULL}
#define W(st, nm, field, lo, hi, kw, ex) {nm, T_WORD, offsetof(st, field), 0, lo, hi, kw, ex}
#define YESNO(st, nm, field) W(st, nm, field, 0, 0, kw_bool, "yes or no")
#define END {NULL, 0, 0, 0, 0, 0, NULL, NULL}

static const attr_spec region_attrs[] = {
    A(wdef_region, "name", T_NAME, name, 1, 0, 0),
    A(wdef_region, "workers", T_UINT, workers, 0, 1, WEFT_MAX_WORKERS),
    A(wdef_region, "max_tasks", T_UINT, max_tasks, 0, 1, WEFT_MAX_TASKS_MAX),
    A(wdef_region, "data_dir", T_PATH, data_dir, 0, 0, 0),
    A(wdef_region, "listen", T_LISTEN, listen_addr, 0, offsetof(wdef_region, listen_port), 0),
    A(wdef_region, "tn3270_listen", T_LISTEN, tn3270_addr, 0, offsetof(wdef_region, tn3270_port),
      0),
    A(wdef_region, "tn3270_devices", T_TEXT, tn3270_devices, 0, 0, 0),
    A(wdef_region, "tn3270_max_record", T_UINT, tn3270_max_record, 0, 256, 65536),
    A(wdef_region, "max_terminals", T_UINT, max_terminals, 0, 1, 100000),
    A(wdef_region, "max_per_address", T_UINT, max_per_address, 0, 0, 100000),
    A(wdef_region, "max_line", T_UINT, max_line, 0, 16, 65536),
    A(wdef_region, "idle_timeout", T_UINT, idle_timeout_s, 0, 0, 86400),
    A(wdef_region, "receive_timeout", T_UINT, receive_timeout_s, 0, 0, 86400),
    YESNO(wdef_region, "signon", signon),
    A(wdef_region, "signon_delay_ms", T_UINT, signon_delay_ms, 0, 0, 60000),
    A(wdef_region, "signon_lockout", T_UINT, signon_lockout, 0, 0, 1000),
    A(wdef_region, "signon_timeout", T_UINT, signon_timeout_s, 0, 0, 86400),
    A(wdef_region, "operator_group", T_NAME, operator_group, 0, 0, 0),
    A(wdef_region, "checkpoint_mb", T_UINT, checkpoint_mb, 0, 0, 1048576),
    W(wdef_region, "lock_timeout_ms", lock_timeout_ms, 0, 86400000, kw_forever,
      "0..86400000 or forever"),
    W(wdef_region, "deadlock", deadlock_action, 0, 0, kw_deadlock, "abend or error"),
    W(wdef_region, "dispatch", dispatch_mode, 0, 0, kw_dispatch, "goal, static or fifo"),
    A(wdef_region, "greeting", T_TEXT, greeting, 0, 0, 0),
    END};

static const attr_spec enclave_attrs[] = {
    A(wdef_enclave, "name", T_NAME, name, 1, 0, 0),
    W(wdef_enclave, "importance", importance, 1, 5, kw_importance,
      "1..5, system or discretionary"),
    W(wdef_enclave, "goal", goal_type, 0, 0, kw_goal, "none, average or percentile"),
    A(wdef_enclave, "goal_ms", T_UINT, goal_ms, 0, 1, WEFT_GOAL_MS_MAX),
    A(wdef_enclave, "goal_percent", T_UINT, goal_percent, 0, 1, 99),
    A(wdef_enclave, "max_active", T_UINT, max_active, 0, 0, WEFT_ENCLAVE_MAX_ACTIVE_MAX),
    END};

static const attr_spec class_attrs[] = {
    A(wdef_class, "name", T_NAME, name, 1, 0, 0),
    A(wdef_class, "max_active", T_UINT, max_active, 1, 1, WEFT_CLASS_MAX_ACTIVE_MAX),
    A(wdef_class, "purge_threshold", T_UINT, purge_threshold, 0, 0, 1000000000),
    END};

static const attr_spec program_attrs[] = {
    A(wdef_program, "name", T_NAME, name, 1, 0, 0),
    A(wdef_program, "dll", T_PATH, dll, 0, 0, 0),
    A(wdef_program, "symbol", T_TEXT, symbol, 0, 0, 0),
    YESNO(wdef_program, "builtin", builtin),
    END};

static const attr_spec transaction_attrs[] = {
    A(wdef_transaction, "tranid", T_NAME, tranid, 1, 0, 0),
    A(wdef_transaction, "program", T_NAME, program, 1, 0, 0),
    A(wdef_transaction, "enclave", T_NAME, enclave, 0, 0, 0),
    A(wdef_transaction, "class", T_NAME, tclass, 0, 0, 0),
    A(wdef_transaction, "priority", T_UINT, priority, 0, 0, WEFT_PRIORITY_MAX),
    A(wdef_transaction, "groups", T_GROUPS, groups, 0, 0, 0),
    A(wdef_transaction, "runaway_ms", T_UINT, runaway_ms, 0, 0, 86400000),
    END};

static const attr_spec file_attrs[] = {
    A(wdef_kfile, "name", T_NAME, name, 1, 0, 0),
    A(wdef_kfile, "key_max", T_UINT, key_max, 1, 1, WEFT_KEY_MAX),
    A(wdef_kfile, "rec_max", T_UINT, rec_max, 1, 1, WEFT_RECORD_MAX),
    END};

static const attr_spec tsqueue_attrs[] = {
    A(wdef_tsqueue, "name", T_TSNAME, name, 1, 0, 0),
    YESNO(wdef_tsqueue, "recoverable", recoverable),
    END};

static const attr_spec tdqueue_attrs[] = {
    A(wdef_tdqueue, "name", T_QNAME, name, 1, 0, 0),
    YESNO(wdef_tdqueue, "recoverable", recoverable),
    A(wdef_tdqueue, "trigger", T_UINT, trigger, 0, 0, WEFT_TD_TRIGGER_MAX),
    A(wdef_tdqueue, "tranid", T_NAME, tranid, 0, 0, 0),
    END};

static const attr_spec user_attrs[] = {
    A(wdef_user, "name", T_NAME, name, 1, 0, 0),
    A(wdef_user, "salt", T_SALT, salt, 0, 0, 0), /* the old SHA-256 scheme only */
    A(wdef_user, "hash", T_HASH, hash, 1, 0, 0),
    A(wdef_user, "groups", T_GROUPS, groups, 0, 0, 0),
    END};

static const attr_spec startup_attrs[] = {
    A(wdef_startup, "tranid", T_NAME, tranid, 1, 0, 0),
    A(wdef_startup, "data", T_DATA, data, 0, 0, 0),
    END};
/* clang-format on */

/* ---- Converting values -------------------------------------------------- */

/* A decimal number without sign; 0 or -1 (not a number or too big). */
static int to_uint(const char *s, unsigned *out) {
  uint64_t v = 0;
  if (*s == '\0')
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    v = v * 10 + (unsigned)(*s - '0');
    if (v > UINT_MAX)
      return -1;
  }
  *out = (unsigned)v;
  return 0;
}

static void put_u(void *def, const attr_spec *a, unsigned v) {
  memcpy((char *)def + a->off, &v, sizeof v);
}

static int set_name(parser *p, const attr_spec *a, char *field, const char *v) {
  size_t max = a->type == T_NAME ? WEFT_NAME_MAX : WEFT_QNAME_MAX;
  size_t n = strlen(v);
  size_t base = n - (a->type == T_TSNAME && n > 0 && v[n - 1] == '*'); /* without the '*' */
  int ok = base <= max && n > 0;
  for (size_t i = 0; ok && i < base; i++)
    ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7F;
  if (!ok) {
    perr(p, "bad %s '%s': 1-%u printable characters without spaces%s", a->name, v, (unsigned)max,
         a->type == T_TSNAME ? ", maybe followed by '*'" : "");
    return -1;
  }
  strcpy(field, v);
  return 0;
}

static int set_uint(parser *p, const attr_spec *a, void *def, const char *v) {
  unsigned u;
  if (to_uint(v, &u) != 0) {
    perr(p, "bad number for %s: '%s'", a->name, v);
    return -1;
  }
  if (u < a->min || u > a->max) {
    perr(p, "%s=%u is out of range (%u..%u)", a->name, u, a->min, a->max);
    return -1;
  }
  put_u(def, a, u);
  return 0;
}

static int set_word(parser *p, const attr_spec *a, void *def, const char *v) {
  for (const keyword *k = a->kw; k->word != NULL; k++) {
    if (ieq(v, k->word)) {
      put_u(def, a, k->value);
      return 0;
    }
  }
  unsigned u;
  if (a->max > 0 && to_uint(v, &u) == 0) {
    if (u >= a->min && u <= a->max) {
      put_u(def, a, u);
      return 0;
    }
    perr(p, "%s=%u is out of range (expected %s)", a->name, u, a->expect);
    return -1;
  }
  perr(p, "bad value for %s: '%s' (expected %s)", a->name, v, a->expect);
  return -1;
}

static int set_text(parser *p, const attr_spec *a, char **field, const char *v) {
  if (a->type == T_TEXT && !printable(v)) {
    perr(p, "%s must be printable ASCII text", a->name);
    return -1;
  }
  if (a->type == T_PATH && *v == '\0') {
    perr(p, "%s is empty", a->name);
    return -1;
  }
  free(*field);
  *field = wdef__strdup(v);
  if (*field == NULL)
    p->nomem = 1;
  return 0;
}

static int set_groups(parser *p, const attr_spec *a, wdef_groups *g, const char *v) {
  g->n = 0;
  for (;;) {
    const char *comma = strchr(v, ',');
    size_t n = comma != NULL ? (size_t)(comma - v) : strlen(v);
    char name[WDEF_NAME_SIZE] = "";
    if (n <= WEFT_NAME_MAX)
      memcpy(name, v, n), name[n] = '\0';
    if (n > WEFT_NAME_MAX || !wdef__name_ok(name, WEFT_NAME_MAX, 1)) {
      perr(p, "bad group name '%.*s' in %s: 1-8 printable characters without spaces or commas",
           (int)n, v, a->name);
      return -1;
    }
    if (g->n == WDEF_GROUPS_MAX) {
      perr(p, "more than %d groups in %s", WDEF_GROUPS_MAX, a->name);
      return -1;
    }
    strcpy(g->name[g->n++], name);
    if (comma == NULL)
      return 0;
    v = comma + 1;
  }
}

/* An IPv4 dotted quad; 0 or -1. */
static int ipv4_ok(const char *s) {
  for (int part = 0; part < 4; part++) {
    unsigned v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4)
      v = v * 10 + (unsigned)(*s++ - '0'), digits++;
    if (digits == 0 || digits > 3 || v > 255)
      return -1;
    if (part < 3 && *s++ != '.')
      return -1;
  }
  return *s == '\0' ? 0 : -1;
}

static int set_listen(parser *p, const attr_spec *a, void *def, const char *v) {
  const char *colon = strrchr(v, ':');
  char host[WDEF_ADDR_SIZE];
  unsigned port;
  if (colon == NULL || (size_t)(colon - v) >= sizeof host || to_uint(colon + 1, &port) != 0 ||
      port < 1 || port > 65535)
    goto bad;
  snprintf(host, sizeof host, "%.*s", (int)(colon - v), v);
  if (strcmp(host, "*") == 0)
    strcpy(host, "0.0.0.0");
  else if (ieq(host, "localhost"))
    strcpy(host, "127.0.0.1");
  else if (ipv4_ok(host) != 0)
    goto bad;
  strcpy((char *)def + a->off, host);
  *(unsigned *)((char *)def + a->min) = port;
  return 0;
bad:
  perr(p,
       "bad %s '%s': expected ADDRESS:PORT (an IPv4 address, * or localhost, and a "
       "port 1..65535), e.g. 127.0.0.1:3270",
       a->name, v);
  return -1;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)tolower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Hex text of 2*min..2*max digits into out; the byte count, or -1. */
static int from_hex(const char *v, unsigned char *out, size_t min, size_t max) {
  size_t n = strlen(v);
  if (n % 2 != 0 || n < 2 * min || n > 2 * max)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_digit(v[2 * i]), lo = hex_digit(v[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return (int)(n / 2);
}

static int set_salt(parser *p, const attr_spec *a, wdef_user *u, const char *v) {
  int n = from_hex(v, u->salt, WDEF_SALT_MIN, WDEF_SALT_MAX);
  if (n < 0) {
    perr(p, "bad salt: %d..%d hex digits (an even number) expected", 2 * WDEF_SALT_MIN,
         2 * WDEF_SALT_MAX);
    return -1;
  }
  u->salt_len = (size_t)n;
  return 0;
}

#define PBKDF2_PREFIX "pbkdf2-sha256$"

/* "ITERATIONS$SALT$KEY" (after the prefix) into u. 0 or -1. */
static int pbkdf2_parse(const char *v, wdef_user *u) {
  char buf[WDEF_HASH_TEXT_SIZE];
  if (strlen(v) >= sizeof buf)
    return -1;
  strcpy(buf, v);
  char *salt = strchr(buf, '$'), *key = salt != NULL ? strchr(salt + 1, '$') : NULL;
  if (key == NULL)
    return -1;
  *salt++ = '\0';
  *key++ = '\0';
  unsigned n;
  int len = from_hex(salt, u->salt, WDEF_SALT_MIN, WDEF_SALT_MAX);
  if (to_uint(buf, &n) != 0 || n < 1 || n > WDEF_ITERATIONS_MAX || len < 0 ||
      from_hex(key, u->hash, WDEF_HASH_SIZE, WDEF_HASH_SIZE) < 0)
    return -1;
  u->iterations = n;
  u->salt_len = (size_t)len;
  return 0;
}

static int set_hash(parser *p, const attr_spec *a, wdef_user *u, const char *v) {
  size_t pl = strlen(PBKDF2_PREFIX);
  if (strncmp(v, PBKDF2_PREFIX, pl) == 0 && pbkdf2_parse(v + pl, u) == 0) {
    u->scheme = WDEF_SCHEME_PBKDF2;
    return 0;
  }
  if (strchr(v, '$') == NULL && from_hex(v, u->hash, WDEF_HASH_SIZE, WDEF_HASH_SIZE) >= 0) {
    u->scheme = WDEF_SCHEME_SHA256;
    return 0;
  }
  perr(p,
       "bad hash: expected pbkdf2-sha256$ITERATIONS$SALT$KEY (iterations 1..%u, a salt of "
       "%d..%d and a key of %d hex digits; weftd --hash-password makes one), or an old "
       "SHA-256 hash: 64 hex digits with salt=",
       WDEF_ITERATIONS_MAX, 2 * WDEF_SALT_MIN, 2 * WDEF_SALT_MAX, 2 * WDEF_HASH_SIZE);
  return -1;
}

static int set_data(parser *p, wdef_startup *s, const char *v) {
  if (!printable(v)) {
    perr(p, "data must be printable ASCII text");
    return -1;
  }
  free(s->data);
  s->data = wdef__strdup(v);
  if (s->data == NULL)
    p->nomem = 1;
  s->data_len = strlen(v);
  return 0;
}

/* Convert value v of attribute a into def. 0, or -1 after reporting. */
static int set_attr(parser *p, const attr_spec *a, void *def, const char *v) {
  void *field = (char *)def + a->off;
  switch (a->type) {
    case T_NAME:
    case T_QNAME:
    case T_TSNAME:
      return set_name(p, a, field, v);
    case T_UINT:
      return set_uint(p, a, def, v);
    case T_WORD:
      return set_word(p, a, def, v);
    case T_TEXT:
    case T_PATH:
      return set_text(p, a, field, v);
    case T_GROUPS:
      return set_groups(p, a, field, v);
    case T_LISTEN:
      return set_listen(p, a, def, v);
    case T_SALT:
      return set_salt(p, a, def, v);
    case T_HASH:
      return set_hash(p, a, def, v);
    default:
      return set_data(p, def, v);
  }
}

/* ---- Kinds: a new entry with defaults, and the line's own rules --------- */

typedef struct kind_spec {
  const char *name;
  const attr_spec *attrs;
  void *(*add)(parser *p);
  void (*check)(parser *p, void *def, unsigned given);
} kind_spec;

/* Bit of attribute `name` in the given mask of a kind's table. */
static unsigned bit_of(const attr_spec *attrs, const char *name) {
  for (unsigned i = 0; attrs[i].name != NULL; i++)
    if (strcmp(attrs[i].name, name) == 0)
      return 1u << i;
  return 0;
}

static void region_defaults(wdef_region *r) {
  strcpy(r->name, "WEFT");
  r->max_tasks = 1024;
  strcpy(r->listen_addr, "127.0.0.1");
  r->listen_port = 3270;
  strcpy(r->tn3270_addr, "127.0.0.1");
  r->tn3270_max_record = 16384;
  r->max_terminals = 256;
  r->max_line = 1024;
  r->idle_timeout_s = 600;
  r->receive_timeout_s = 300;
  r->signon_delay_ms = 1000;
  r->signon_lockout = 10;
  r->signon_timeout_s = 60;
  strcpy(r->operator_group, "OPERATOR");
  r->checkpoint_mb = 64;
  r->lock_timeout_ms = 30000;
  r->deadlock_action = WEFT_DEADLOCK_ABEND;
  r->dispatch_mode = WEFT_DISPATCH_GOAL;
}

static void *add_region(parser *p) {
  wdef_region *r = &p->f->region;
  r->line = p->line;
  r->name[0] = '\0'; /* required on the line */
  return r;
}

static void check_region(parser *p, void *def, unsigned given) {
  wdef_region *r = def;
  if (r->data_dir != NULL) {
    char *full = resolve(p->f->dir, r->data_dir);
    if (full == NULL)
      p->nomem = 1;
    free(r->data_dir);
    r->data_dir = full;
  }
}

static void *add_enclave(parser *p) {
  wdef_enclave *e = push(&p->f->enclaves, &p->f->n_enclaves, sizeof *e);
  if (e != NULL)
    e->importance = 3;
  return e;
}

static void check_enclave(parser *p, void *def, unsigned given) {
  wdef_enclave *e = def;
  unsigned ms = bit_of(enclave_attrs, "goal_ms"), pct = bit_of(enclave_attrs, "goal_percent");
  if (strcmp(e->name, WEFT_DEFAULT_ENCLAVE) == 0)
    perr(p, "enclave %s is predefined (importance 3, no goal): choose another name",
         WEFT_DEFAULT_ENCLAVE);
  if (e->goal_type == WEFT_GOAL_NONE && (given & (ms | pct)))
    perr(p, "ENCLAVE %s: goal_ms and goal_percent need goal=average or goal=percentile", e->name);
  if (e->goal_type != WEFT_GOAL_NONE && !(given & ms))
    perr(p, "ENCLAVE %s: goal=%s needs goal_ms=", e->name,
         e->goal_type == WEFT_GOAL_AVERAGE ? "average" : "percentile");
  if (e->goal_type == WEFT_GOAL_PERCENTILE && !(given & pct))
    perr(p, "ENCLAVE %s: goal=percentile needs goal_percent=", e->name);
  if (e->goal_type == WEFT_GOAL_AVERAGE && (given & pct))
    perr(p, "ENCLAVE %s: goal_percent needs goal=percentile", e->name);
}

static void *add_class(parser *p) {
  return push(&p->f->classes, &p->f->n_classes, sizeof(wdef_class));
}

static void check_none(parser *p, void *def, unsigned given) {
}

static void *add_program(parser *p) {
  return push(&p->f->programs, &p->f->n_programs, sizeof(wdef_program));
}

static void check_program(parser *p, void *def, unsigned given) {
  wdef_program *g = def;
  if (g->builtin && g->dll != NULL)
    perr(p, "PROGRAM %s: dll= and builtin=yes exclude each other", g->name);
  else if (!g->builtin && g->dll == NULL)
    perr(p, "PROGRAM %s needs dll= (or builtin=yes)", g->name);
  if (g->symbol != NULL && !wdef__name_ok(g->symbol, 255, 0))
    perr(p, "PROGRAM %s: bad symbol '%s' (1-255 printable characters without spaces)", g->name,
         g->symbol);
  if (g->symbol == NULL && (g->symbol = wdef__strdup(g->name)) == NULL)
    p->nomem = 1;
  if (g->dll != NULL) {
    char *full = resolve(p->f->dir, g->dll);
    if (full == NULL)
      p->nomem = 1;
    free(g->dll);
    g->dll = full;
  }
}

static void *add_transaction(parser *p) {
  wdef_transaction *t = push(&p->f->transactions, &p->f->n_transactions, sizeof *t);
  if (t != NULL) {
    strcpy(t->enclave, WEFT_DEFAULT_ENCLAVE);
    t->priority = 100;
  }
  return t;
}

static void *add_file(parser *p) {
  return push(&p->f->files, &p->f->n_files, sizeof(wdef_kfile));
}

static void *add_tsqueue(parser *p) {
  return push(&p->f->tsqueues, &p->f->n_tsqueues, sizeof(wdef_tsqueue));
}

static void *add_tdqueue(parser *p) {
  wdef_tdqueue *q = push(&p->f->tdqueues, &p->f->n_tdqueues, sizeof *q);
  if (q != NULL)
    q->recoverable = 1;
  return q;
}

static void check_tdqueue(parser *p, void *def, unsigned given) {
  wdef_tdqueue *q = def;
  if (q->trigger > 0 && q->tranid[0] == '\0')
    perr(p, "TDQUEUE %s: trigger=%u needs tranid=", q->name, q->trigger);
  if (q->trigger == 0 && q->tranid[0] != '\0')
    perr(p, "TDQUEUE %s: tranid= needs a trigger level (trigger= above 0)", q->name);
}

static void *add_user(parser *p) {
  return push(&p->f->users, &p->f->n_users, sizeof(wdef_user));
}

/* salt= goes with the old SHA-256 hash only: a PBKDF2 hash carries its own. */
static void check_user(parser *p, void *def, unsigned given) {
  wdef_user *u = def;
  int salt = (given & bit_of(user_attrs, "salt")) != 0;
  if (u->scheme == WDEF_SCHEME_SHA256 && !salt)
    perr(p, "USER needs salt= with an old SHA-256 hash (a pbkdf2-sha256 hash carries its own)");
  if (u->scheme == WDEF_SCHEME_PBKDF2 && salt)
    perr(p, "salt= goes with an old SHA-256 hash only: a pbkdf2-sha256 hash carries its own");
}

static void *add_startup(parser *p) {
  return push(&p->f->startups, &p->f->n_startups, sizeof(wdef_startup));
}

static void check_startup(parser *p, void *def, unsigned given) {
  wdef_startup *s = def;
  if (s->data == NULL && (s->data = wdef__strdup("")) == NULL)
    p->nomem = 1;
}

/* clang-format off */
static const kind_spec kinds[] = {
    {"REGION", region_attrs, add_region, check_region},
    {"ENCLAVE", enclave_attrs, add_enclave, check_enclave},
    {"CLASS", class_attrs, add_class, check_none},
    {"PROGRAM", program_attrs, add_program, check_program},
    {"TRANSACTION", transaction_attrs, add_transaction, check_none},
    {"FILE", file_attrs, add_file, check_none},
    {"TSQUEUE", tsqueue_attrs, add_tsqueue, check_none},
    {"TDQUEUE", tdqueue_attrs, add_tdqueue, check_tdqueue},
    {"USER", user_attrs, add_user, check_user},
    {"STARTUP", startup_attrs, add_startup, check_startup},
    {NULL, NULL, NULL, NULL}};
/* clang-format on */

/* ---- One line ------------------------------------------------------------ */

static const kind_spec *kind_find(const char *word) {
  for (const kind_spec *k = kinds; k->name != NULL; k++)
    if (ieq(word, k->name))
      return k;
  return NULL;
}

static const attr_spec *attr_find(const kind_spec *k, const char *key, unsigned *bit) {
  for (unsigned i = 0; k->attrs[i].name != NULL; i++) {
    if (ieq(key, k->attrs[i].name)) {
      *bit = 1u << i;
      return &k->attrs[i];
    }
  }
  return NULL;
}

/* Does line start with the kind REGION (any case), whatever follows? */
static int starts_with_region(const char *line) {
  const char *s = skip_blanks(line);
  for (const char *k = "REGION"; *k != '\0'; k++, s++)
    if (toupper((unsigned char)*s) != *k)
      return 0;
  return *s == '\0' || is_blank(*s);
}

/* Is a REGION line allowed here? Reports why not. */
static int region_allowed(parser *p) {
  if ((p->flags & WDEF_REGION_MODE) == WDEF_REGION_FORBIDDEN) {
    perr(p, "REGION is not allowed in a file installed into a running region");
    return 0;
  }
  if (p->f->region.line > 0) {
    perr(p, "duplicate REGION (first defined at line %d)", p->f->region.line);
    return 0;
  }
  if (p->defs > 0) {
    perr(p, "REGION must be the first definition of the file");
    return 0;
  }
  return 1;
}

/* Convert every attribute of t into def; then the missing required ones. */
static int fill(parser *p, const kind_spec *k, const tokens *t, void *def, unsigned *given) {
  int ok = 1;
  *given = 0;
  for (int i = 0; i < t->n; i++) {
    unsigned bit = 0;
    const attr_spec *a = attr_find(k, t->a[i].key, &bit);
    if (a == NULL) {
      perr(p, "unknown attribute '%s' for %s", t->a[i].key, k->name);
      ok = 0;
    } else if (*given & bit) {
      perr(p, "attribute %s given twice", a->name);
      ok = 0;
    } else {
      *given |= bit;
      ok &= set_attr(p, a, def, t->a[i].val) == 0;
    }
  }
  for (unsigned i = 0; k->attrs[i].name != NULL; i++) {
    if (k->attrs[i].required && !(*given & (1u << i))) {
      perr(p, "%s needs %s=", k->name, k->attrs[i].name);
      ok = 0;
    }
  }
  return ok;
}

static void parse_line(parser *p, const char *line, char *scratch) {
  tokens t;
  int lexed = lex_line(p, line, scratch, &t);
  if (lexed < 0 && starts_with_region(line))
    p->region_tried = 1; /* its own error says what is wrong: no "no REGION" too */
  if (lexed <= 0)
    return;
  const kind_spec *k = kind_find(t.kind);
  if (k == NULL && ieq(t.kind, "DATASOURCE")) { /* regiondef_db.c */
    const char *keys[LINE_ATTRS_MAX], *vals[LINE_ATTRS_MAX];
    for (int i = 0; i < t.n; i++)
      keys[i] = t.a[i].key, vals[i] = t.a[i].val;
    p->defs++;
    if (wdef__datasource_line(p->f, p->errs, p->line, keys, vals, t.n) != 0)
      p->nomem = 1;
    return;
  }
  int ext = k == NULL ? wdef__http_line(p->f, p->flags, p->line, line, p->errs) : 0;
  if (ext != 0) { /* HTTP or ROUTE: regiondef_http.c */
    p->defs++;
    p->nomem |= ext < 0;
    return;
  }
  if (k == NULL) {
    perr(p,
         "unknown definition kind '%s' (expected REGION, ENCLAVE, CLASS, PROGRAM, "
         "TRANSACTION, FILE, TSQUEUE, TDQUEUE, USER, STARTUP, DATASOURCE, HTTP or ROUTE)",
         t.kind);
    return;
  }
  int allowed = k->add != add_region || region_allowed(p);
  p->defs++;
  if (!allowed)
    return;
  void *def = k->add(p);
  if (def == NULL) {
    p->nomem = 1;
    return;
  }
  *(int *)def = p->line; /* every struct starts with its line */
  unsigned given;
  if (fill(p, k, &t, def, &given))
    k->check(p, def, given);
}

/* ---- Whole-file checks -------------------------------------------------- */

/* The name of element i of an array of structs that start with int line
 * and then the name. */
#define NAME_AT(arr, i, size) ((const char *)((const char *)(arr) + (i) * (size) + sizeof(int)))
#define LINE_AT(arr, i, size) (*(const int *)((const char *)(arr) + (i) * (size)))
#define LAYOUT_OK(type, field)                                                      \
  _Static_assert(offsetof(type, line) == 0 && offsetof(type, field) == sizeof(int), \
                 #type " must start with int line and then its name")
LAYOUT_OK(wdef_region, name);
LAYOUT_OK(wdef_enclave, name);
LAYOUT_OK(wdef_class, name);
LAYOUT_OK(wdef_program, name);
LAYOUT_OK(wdef_transaction, tranid);
LAYOUT_OK(wdef_kfile, name);
LAYOUT_OK(wdef_tsqueue, name);
LAYOUT_OK(wdef_tdqueue, name);
LAYOUT_OK(wdef_user, name);
LAYOUT_OK(wdef_startup, tranid);

static void dups(parser *p, const char *kind, const void *arr, size_t n, size_t size) {
  for (size_t i = 1; i < n; i++) {
    const char *name = NAME_AT(arr, i, size);
    if (name[0] == '\0')
      continue;
    for (size_t j = 0; j < i; j++) {
      if (strcmp(name, NAME_AT(arr, j, size)) == 0) {
        perr_at(p, LINE_AT(arr, i, size), "duplicate %s %s (first defined at line %d)", kind, name,
                LINE_AT(arr, j, size));
        break;
      }
    }
  }
}

static void check_dups(parser *p) {
  const wdef_file *f = p->f;
  dups(p, "ENCLAVE", f->enclaves, f->n_enclaves, sizeof *f->enclaves);
  dups(p, "CLASS", f->classes, f->n_classes, sizeof *f->classes);
  dups(p, "PROGRAM", f->programs, f->n_programs, sizeof *f->programs);
  dups(p, "TRANSACTION", f->transactions, f->n_transactions, sizeof *f->transactions);
  dups(p, "FILE", f->files, f->n_files, sizeof *f->files);
  dups(p, "TSQUEUE", f->tsqueues, f->n_tsqueues, sizeof *f->tsqueues);
  dups(p, "TDQUEUE", f->tdqueues, f->n_tdqueues, sizeof *f->tdqueues);
  dups(p, "USER", f->users, f->n_users, sizeof *f->users);
}

static void ref(parser *p, int line, int found, const char *who, const char *what,
                const char *name) {
  if (!found && name[0] != '\0')
    perr_at(p, line, "%s: %s %s is not defined in this file", who, what, name);
}

static void check_refs(parser *p) {
  const wdef_file *f = p->f;
  char who[64];
  for (size_t i = 0; i < f->n_transactions; i++) {
    const wdef_transaction *t = &f->transactions[i];
    snprintf(who, sizeof who, "TRANSACTION %s", t->tranid);
    ref(p, t->line, wdef_find_program(f, t->program) != NULL, who, "program", t->program);
    ref(p, t->line,
        strcmp(t->enclave, WEFT_DEFAULT_ENCLAVE) == 0 || wdef_find_enclave(f, t->enclave) != NULL,
        who, "enclave", t->enclave);
    ref(p, t->line, wdef_find_class(f, t->tclass) != NULL, who, "class", t->tclass);
  }
  for (size_t i = 0; i < f->n_tdqueues; i++) {
    const wdef_tdqueue *q = &f->tdqueues[i];
    snprintf(who, sizeof who, "TDQUEUE %s", q->name);
    ref(p, q->line, wdef_find_transaction(f, q->tranid) != NULL, who, "trigger transaction",
        q->tranid);
  }
  for (size_t i = 0; i < f->n_startups; i++) {
    const wdef_startup *s = &f->startups[i];
    ref(p, s->line, wdef_find_transaction(f, s->tranid) != NULL, "STARTUP", "transaction",
        s->tranid);
  }
}

/* ---- Against another file ----------------------------------------------- */

static void conflicts(applier_ctx *c, const char *kind, const void *arr, size_t n, const void *earr,
                      size_t en, size_t size) {
  for (size_t i = 0; i < n; i++) {
    const char *name = NAME_AT(arr, i, size);
    for (size_t j = 0; j < en; j++) {
      if (strcmp(name, NAME_AT(earr, j, size)) == 0) {
        if (wdef__err(c->errs, c->f->path, LINE_AT(arr, i, size),
                      "%s %s is already defined at %s:%d", kind, name, c->earlier->path,
                      LINE_AT(earr, j, size)) != 0)
          c->nomem = 1;
        break;
      }
    }
  }
}

int wdef_check_conflicts(const wdef_file *f, const wdef_file *earlier, wdef_errors *errs) {
  if (f == NULL || earlier == NULL || errs == NULL)
    return WEFT_EINVAL;
  applier_ctx c = {f, earlier, errs, 0};
  size_t start = errs->n;
#define CONFLICTS(kind, field, count) \
  conflicts(&c, kind, f->field, f->count, earlier->field, earlier->count, sizeof *f->field)
  CONFLICTS("ENCLAVE", enclaves, n_enclaves);
  CONFLICTS("CLASS", classes, n_classes);
  CONFLICTS("PROGRAM", programs, n_programs);
  CONFLICTS("TRANSACTION", transactions, n_transactions);
  CONFLICTS("FILE", files, n_files);
  CONFLICTS("TSQUEUE", tsqueues, n_tsqueues);
  CONFLICTS("TDQUEUE", tdqueues, n_tdqueues);
  CONFLICTS("USER", users, n_users);
#undef CONFLICTS
  if (c.nomem)
    return WEFT_ENOMEM;
  return errs->n > start ? WEFT_EINVAL : 0;
}

/* The errors this parse added, in line order (stable: insertion sort). */
static void sort_errors(parser *p) {
  wdef_error *v = p->errs->v + p->err_start;
  size_t n = p->errs->n - p->err_start;
  for (size_t i = 1; i < n; i++) {
    wdef_error e = v[i];
    size_t j = i;
    while (j > 0 && v[j - 1].line > e.line) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = e;
  }
}

/* ---- The parse ---------------------------------------------------------- */

/* Each line of text (len bytes) through parse_line. */
static void parse_lines(parser *p, const char *text, size_t len) {
  char *line = malloc(len + 1), *scratch = malloc(2 * len + 2);
  if (line == NULL || scratch == NULL) {
    p->nomem = 1;
  } else {
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 BOM */
      text += 3, len -= 3;
    size_t pos = 0;
    for (p->line = 1; pos < len; p->line++) {
      const char *nl = memchr(text + pos, '\n', len - pos);
      size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
      memcpy(line, text + pos, n);
      pos += n + 1;
      if (n > 0 && line[n - 1] == '\r')
        n--;
      line[n] = '\0';
      if (memchr(line, '\0', n) != NULL)
        perr(p, "the line holds a NUL byte");
      else
        parse_line(p, line, scratch);
    }
  }
  free(line);
  free(scratch);
}

static wdef_file *file_new(const char *name, const char *dir) {
  wdef_file *f = calloc(1, sizeof *f);
  if (f == NULL)
    return NULL;
  f->path = wdef__strdup(name);
  f->dir = dir != NULL ? wdef__strdup(dir) : resolve(NULL, ".");
  region_defaults(&f->region);
  if (f->path == NULL || f->dir == NULL) {
    wdef_free(f);
    return NULL;
  }
  return f;
}

/* Parse text into a new file named name whose relative paths resolve
 * against dir (absolute). */
static int parse(const char *text, size_t len, const char *name, const char *dir, int flags,
                 wdef_file **out, wdef_errors *errs) {
  parser p = {.flags = flags, .errs = errs, .err_start = errs->n};
  *out = NULL;
  p.f = file_new(name, dir);
  if (p.f == NULL)
    return WEFT_ENOMEM;
  parse_lines(&p, text, len);
  if ((flags & WDEF_REGION_MODE) == WDEF_REGION_REQUIRED && p.f->region.line == 0 &&
      !p.region_tried)
    perr_at(&p, 1, "no REGION definition: a region's file must start with REGION name=...");
  check_dups(&p);
  wdef__datasource_dups(p.f, p.errs);
  if (!(flags & WDEF_EXTERNAL_REFS))
    check_refs(&p);
  wdef__http_check(p.f, flags, errs);
  sort_errors(&p);
  if (parse_failed(&p)) {
    wdef_free(p.f);
    return p.nomem ? WEFT_ENOMEM : WEFT_EINVAL;
  }
  *out = p.f;
  return 0;
}

int wdef_parse_string(const char *text, size_t len, const char *name, const char *base_dir,
                      int flags, wdef_file **out, wdef_errors *errs) {
  if (out == NULL || errs == NULL || (text == NULL && len > 0) || name == NULL ||
      (flags & WDEF_REGION_MODE) == WDEF_REGION_MODE)
    return WEFT_EINVAL;
  char *dir = resolve(NULL, base_dir != NULL ? base_dir : ".");
  if (dir == NULL)
    return WEFT_ENOMEM;
  int rc = parse(text != NULL ? text : "", len, name, dir, flags, out, errs);
  free(dir);
  return rc;
}

/* The whole file into *text (malloc); 0 or an errno value. */
static int read_all(const char *path, char **text, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return errno ? errno : ENOENT;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  int err = buf == NULL ? ENOMEM : 0;
  while (err == 0) {
    n += fread(buf + n, 1, cap - n, fp);
    if (n < cap)
      break;
    char *bigger = realloc(buf, cap * 2);
    if (bigger == NULL)
      err = ENOMEM;
    else
      buf = bigger, cap *= 2;
  }
  if (err == 0 && ferror(fp))
    err = EIO;
  fclose(fp);
  if (err != 0) {
    free(buf);
    return err;
  }
  *text = buf;
  *len = n;
  return 0;
}

int wdef_parse_file(const char *path, int flags, wdef_file **out, wdef_errors *errs) {
  if (out == NULL || errs == NULL || path == NULL || (flags & WDEF_REGION_MODE) == WDEF_REGION_MODE)
    return WEFT_EINVAL;
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  struct stat st;
  int err = strlen(path) >= WDEF_PATH_MAX                 ? ENAMETOOLONG
            : stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? EISDIR
                                                          : read_all(path, &text, &len);
  if (err == ENOMEM)
    return WEFT_ENOMEM;
  if (err == ENAMETOOLONG || err == EISDIR) {
    if (wdef__err(errs, path, 0, "cannot read the file: %s",
                  err == EISDIR ? "it is a directory, not a definition file"
                                : "the path is longer than Windows allows (259 characters)") != 0)
      return WEFT_ENOMEM;
    return WEFT_ESYS;
  }
  if (err != 0) {
    if (wdef__err(errs, path, 0, "cannot read the file: %s", strerror(err)) != 0)
      return WEFT_ENOMEM;
    return WEFT_ESYS;
  }
  char *dir = dir_of(path);
  int rc = dir == NULL ? WEFT_ENOMEM : parse(text, len, path, dir, flags, out, errs);
  free(dir);
  free(text);
  return rc;
}

void wdef_free(wdef_file *f) {
  if (f == NULL)
    return;
  wdef__http_free(f->http);
  for (size_t i = 0; i < f->n_programs; i++) {
    free(f->programs[i].dll);
    free(f->programs[i].symbol);
  }
  for (size_t i = 0; i < f->n_startups; i++)
    free(f->startups[i].data);
  free(f->region.data_dir);
  free(f->region.greeting);
  free(f->region.tn3270_devices);
  free(f->enclaves);
  free(f->classes);
  free(f->programs);
  free(f->transactions);
  free(f->files);
  free(f->tsqueues);
  free(f->tdqueues);
  free(f->users);
  free(f->startups);
  wdef__datasource_free(f);
  free(f->path);
  free(f->dir);
  free(f);
}
