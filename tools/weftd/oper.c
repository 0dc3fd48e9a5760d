/* oper.c - operator commands (CEMT-like), the same on the server's console
 * and in the WEFT transaction (operators only):
 *
 *   INQ TASKS | ENCLAVES | TRANS | PROGS | CLASSES | TERMINALS
 *   SET CLASS <name> MAXACTIVE <n>
 *   SET TRAN <tranid> ENABLED | DISABLED
 *   SET PROG <name> ENABLED | DISABLED
 *   PURGE TASK <number>
 *   INSTALL <definition file>         (a path with blanks in double quotes)
 *   UNLOCK USER <name>
 *   SHUTDOWN [IMMEDIATE]
 *   HELP
 *
 * A command is at most WD_OPER_LINE_MAX characters, split into words at
 * blanks; a word in double quotes ("C:\my defs\new.wrd") may hold blanks.
 * A command with too few or too many words, or a bad number, is refused
 * with what is wrong and its usage: nothing runs on a guess.
 *
 * Commands run on the console thread or, for WEFT, on an offload thread:
 * never on a worker (weft_task_list and weft_task_purge wait for the
 * workers; INSTALL loads DLLs). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "tn3270.h"
#include "weftd.h"

static void outf(wd_out_fn out, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void outf(wd_out_fn out, void *ctx, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  out(ctx, line);
}

static const char *const wait_names[] = {"ready",   "delay",    "event", "enq",
                                         "offload", "terminal", "log"};
static const char *const state_names[] = {"READY", "RUNNING", "WAITING"};

/* ---- INQ ------------------------------------------------------------------------ */

static void inq_tasks(wd_out_fn out, void *ctx) {
  size_t n = 0, cap = 1024;
  uint64_t missing = 0;
  weft_task_info *v = malloc(cap * sizeof *v);
  int rc = v != NULL ? weft_task_list_ex(wd.region, v, cap, &n, &missing) : WEFT_ENOMEM;
  if (rc != 0 && rc != WEFT_ETIMEDOUT) {
    outf(out, ctx, "INQ TASKS failed: %s", weft_strerror(rc));
    free(v);
    return;
  }
  for (size_t i = 0; i < n && i < cap; i++) {
    const weft_task_info *t = &v[i];
    outf(out, ctx,
         "TASK %-8llu TRAN %-8s ENCLAVE %-8s TERM %-8s USER %-8s %-7s %-8s PRIO %3d AGE %llums",
         (unsigned long long)t->task_no, t->tranid, t->enclave, t->termid[0] ? t->termid : "-",
         t->userid[0] ? t->userid : "-", state_names[t->state],
         t->state == WEFT_TASK_WAITING ? wait_names[t->wait_reason] : "-", t->priority,
         (unsigned long long)t->age_ms);
  }
  outf(out, ctx, "%llu task(s)", (unsigned long long)n);
  for (unsigned i = 0; i < WEFT_MAX_WORKERS; i++)
    if (missing & (1ull << i))
      outf(out, ctx,
           "WORKER %u did not answer (a task may be running without suspending): its "
           "tasks are not listed",
           i);
  free(v);
}

static void enclave_line(wd_out_fn out, void *ctx, const char *name) {
  weft_enclave_stats s;
  if (weft_enclave_stats_get(wd.region, name, &s) != 0)
    return;
  char goal[48] = "none";
  if (s.goal_type == WEFT_GOAL_AVERAGE)
    snprintf(goal, sizeof goal, "avg<=%ums", s.goal_ms);
  else if (s.goal_type == WEFT_GOAL_PERCENTILE)
    snprintf(goal, sizeof goal, "%u%%<=%ums", s.goal_percent, s.goal_ms);
  outf(out, ctx,
       "ENCLAVE %-8s IMP %d GOAL %-12s PI %5.2f BAND %d ACTIVE %u DONE %llu ABENDS %llu "
       "P50 %.2fms P90 %.2fms P99 %.2fms",
       s.name, s.importance, goal, s.pi, s.dispatch_priority, s.active,
       (unsigned long long)s.tasks_completed, (unsigned long long)s.tasks_abended, s.resp_p50_ms,
       s.resp_p90_ms, s.resp_p99_ms);
}

/* Call fn for every definition file the server knows (def_lock held). */
static void each_file(void (*fn)(const wdef_file *f, wd_out_fn out, void *ctx), wd_out_fn out,
                      void *ctx) {
  AcquireSRWLockShared(&wd.def_lock);
  fn(wd.def, out, ctx);
  for (size_t i = 0; i < wd.n_extra; i++)
    fn(wd.extra[i], out, ctx);
  ReleaseSRWLockShared(&wd.def_lock);
}

static void file_enclaves(const wdef_file *f, wd_out_fn out, void *ctx) {
  for (size_t i = 0; i < f->n_enclaves; i++)
    enclave_line(out, ctx, f->enclaves[i].name);
}

static void file_trans(const wdef_file *f, wd_out_fn out, void *ctx) {
  for (size_t i = 0; i < f->n_transactions; i++) {
    const wdef_transaction *t = &f->transactions[i];
    weft_enclave_stats s = {0};
    weft_transaction_stats_get(wd.region, t->tranid, &s);
    int en = weft_transaction_is_enabled(wd.region, t->tranid);
    outf(out, ctx,
         "TRAN %-8s PROG %-8s ENCLAVE %-8s CLASS %-8s PRIO %3d %-8s DONE %llu ABENDS %llu P90 "
         "%.2fms",
         t->tranid, t->program, t->enclave, t->tclass[0] ? t->tclass : "-", t->priority,
         en == 1   ? "ENABLED"
         : en == 0 ? "DISABLED"
                   : "UNKNOWN",
         (unsigned long long)s.tasks_completed, (unsigned long long)s.tasks_abended, s.resp_p90_ms);
  }
}

static void file_progs(const wdef_file *f, wd_out_fn out, void *ctx) {
  for (size_t i = 0; i < f->n_programs; i++) {
    const wdef_program *p = &f->programs[i];
    int en = weft_program_is_enabled(wd.region, p->name);
    outf(out, ctx, "PROG %-8s %-8s %s %s", p->name,
         en == 1   ? "ENABLED"
         : en == 0 ? "DISABLED"
                   : "UNKNOWN",
         p->builtin ? "builtin" : p->dll, p->symbol);
  }
}

static void file_classes(const wdef_file *f, wd_out_fn out, void *ctx) {
  for (size_t i = 0; i < f->n_classes; i++) {
    weft_class_stats s;
    if (weft_class_stats_get(wd.region, f->classes[i].name, &s) == 0)
      outf(out, ctx, "CLASS %-8s MAXACTIVE %u ACTIVE %u QUEUED %u PURGETHRESH %u REJECTED %llu",
           s.name, s.max_active, s.active, s.queued, s.purge_threshold,
           (unsigned long long)s.rejected);
  }
}

static void inq(const char *what, wd_out_fn out, void *ctx) {
  if (_stricmp(what, "TASKS") == 0 || _stricmp(what, "TASK") == 0)
    inq_tasks(out, ctx);
  else if (_stricmp(what, "ENCLAVES") == 0 || _stricmp(what, "ENCLAVE") == 0) {
    enclave_line(out, ctx, WEFT_DEFAULT_ENCLAVE);
    each_file(file_enclaves, out, ctx);
  } else if (_stricmp(what, "TRANS") == 0 || _stricmp(what, "TRAN") == 0)
    each_file(file_trans, out, ctx);
  else if (_stricmp(what, "PROGS") == 0 || _stricmp(what, "PROG") == 0)
    each_file(file_progs, out, ctx);
  else if (_stricmp(what, "CLASSES") == 0 || _stricmp(what, "CLASS") == 0)
    each_file(file_classes, out, ctx);
  else if (_stricmp(what, "TERMINALS") == 0 || _stricmp(what, "TERM") == 0) {
    wd_sessions_describe(out, ctx);
    wd_t3_describe(out, ctx);
    outf(out, ctx, "%d terminal(s)", wd_sessions_count() + wd_t3_count());
  } else
    outf(out, ctx, "INQ what? TASKS, ENCLAVES, TRANS, PROGS, CLASSES or TERMINALS");
}

/* ---- SET, PURGE, INSTALL, SHUTDOWN ------------------------------------------------ */

#define SET_WHAT                                                                     \
  "SET what? CLASS <name> MAXACTIVE <n> | TRAN <id> ENABLED|DISABLED | PROG <name> " \
  "ENABLED|DISABLED"

static void set(const char *kind, const char *name, const char *attr, const char *value,
                wd_out_fn out, void *ctx) {
  int rc;
  if (_stricmp(kind, "CLASS") == 0 && _stricmp(attr, "MAXACTIVE") == 0) {
    char *end;
    unsigned long n = strtoul(value, &end, 10);
    bool digits = *value >= '0' && *value <= '9' && !*end && n <= UINT_MAX;
    rc = digits ? weft_class_set_max(wd.region, name, (unsigned)n) : WEFT_EINVAL;
  } else if ((_stricmp(kind, "TRAN") == 0 || _stricmp(kind, "PROG") == 0) &&
             (_stricmp(attr, "ENABLED") == 0 || _stricmp(attr, "DISABLED") == 0) && !*value) {
    int en = _stricmp(attr, "ENABLED") == 0;
    rc = _stricmp(kind, "TRAN") == 0 ? weft_transaction_set_enabled(wd.region, name, en)
                                     : weft_program_set_enabled(wd.region, name, en);
  } else {
    out(ctx, SET_WHAT);
    return;
  }
  if (rc == 0)
    outf(out, ctx, "SET %s %s %s%s%s: done", kind, name, attr, *value ? " " : "", value);
  else
    outf(out, ctx, "SET %s %s failed: %s", kind, name, weft_strerror(rc));
  if (rc == 0)
    wd_log('I', "operator: SET %s %s %s %s", kind, name, attr, value);
}

/* PURGE TASK <number>: the number is decimal digits only (no sign). */
static void purge(const char *arg, wd_out_fn out, void *ctx) {
  char *end;
  errno = 0;
  unsigned long long no = strtoull(arg, &end, 10);
  if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || no == 0 || errno == ERANGE) {
    outf(out, ctx, "PURGE TASK %s failed: '%s' is not a task number (INQ TASKS lists them)", arg,
         arg);
    return;
  }
  int rc = weft_task_purge(wd.region, no);
  if (rc == 0) {
    outf(out, ctx, "PURGE TASK %llu: it abends AEXY", no);
    wd_log('I', "operator: PURGE TASK %llu", no);
  } else {
    outf(out, ctx, "PURGE TASK %llu failed: %s", no,
         rc == WEFT_ENOTFOUND ? "no such task (INQ TASKS lists them)" : weft_strerror(rc));
  }
}

static void install(const char *path, wd_out_fn out, void *ctx) {
  wdef_file *f = NULL;
  wdef_errors errs = {0};
  int rc = wdef_parse_file(path, WDEF_INSTALL, &f, &errs);
  if (rc == 0) {
    AcquireSRWLockShared(&wd.def_lock);
    rc = wdef_check_conflicts(f, wd.def, &errs);
    for (size_t i = 0; rc == 0 && i < wd.n_extra; i++)
      rc = wdef_check_conflicts(f, wd.extra[i], &errs);
    ReleaseSRWLockShared(&wd.def_lock);
  }
  if (rc == 0)
    rc = wdef_check_region(f, wd.region, &errs);
  bool applied = rc == 0;
  if (applied)
    rc = wdef_apply(f, wd.region, NULL, NULL, &errs);
  if (rc == 0)
    rc = wdef_run_startup(f, wd.region, &errs); /* its STARTUP lines, once */
  for (size_t i = 0; i < errs.n; i++)
    out(ctx, errs.v[i].text);
  if (applied)
    wd_signon_check_file(f); /* its users' weak hashes */
  if (applied) {             /* kept even after errors: what was installed stays */
    AcquireSRWLockExclusive(&wd.def_lock);
    wdef_file **n = realloc(wd.extra, (wd.n_extra + 1) * sizeof *n);
    if (n != NULL) {
      wd.extra = n;
      wd.extra[wd.n_extra++] = f;
      f = NULL;
    }
    ReleaseSRWLockExclusive(&wd.def_lock);
  }
  wdef_free(f);
  outf(out, ctx, "INSTALL %s: %s", path, rc == 0 ? "installed" : "errors (see above)");
  wd_log(rc == 0 ? 'I' : 'W', "operator: INSTALL %s: %s", path, rc == 0 ? "installed" : "errors");
  wdef_errors_free(&errs);
}

static void help(wd_out_fn out, void *ctx) {
  static const char *const lines[] = {
      "INQ TASKS | ENCLAVES | TRANS | PROGS | CLASSES | TERMINALS",
      "SET CLASS <name> MAXACTIVE <n>",
      "SET TRAN <tranid> ENABLED|DISABLED",
      "SET PROG <name> ENABLED|DISABLED",
      "PURGE TASK <number>",
      "INSTALL <definition file>   (a path with blanks in quotes: INSTALL \"C:\\my "
      "defs\\new.wrd\")",
      "UNLOCK USER <name>",
      "SHUTDOWN [IMMEDIATE]",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    out(ctx, lines[i]);
}

/* ---- Words and dispatch ----------------------------------------------------------- */

#define OPER_WORDS 6 /* words of the longest command (SET CLASS <n> MAXACTIVE <n>) + 1 */

/* A command line split into words. Ownership: the caller's (on its stack);
 * w[i] point into buf. */
typedef struct oper_words {
  char buf[WD_OPER_LINE_MAX + 1];
  const char *w[OPER_WORDS];
  int n;
} oper_words;

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Split line into ow's words: blanks separate them; a word that starts with
 * a double quote runs to the next one and may hold blanks (no escapes:
 * Windows paths hold no quote). NULL, or why the line cannot be split. */
static const char *split(const char *line, oper_words *ow) {
  if (strlen(line) > WD_OPER_LINE_MAX)
    return "the command is too long";
  char *o = ow->buf;
  ow->n = 0;
  for (const char *s = line;;) {
    while (is_blank(*s))
      s++;
    if (*s == '\0')
      return NULL;
    if (ow->n == OPER_WORDS)
      return "too many words";
    ow->w[ow->n++] = o;
    if (*s == '"') {
      const char *q = strchr(s + 1, '"');
      if (q == NULL)
        return "a quote is not closed";
      if (q[1] != '\0' && !is_blank(q[1]))
        return "text right after a closing quote";
      memcpy(o, s + 1, (size_t)(q - s - 1));
      o += q - s - 1;
      s = q + 1;
    } else {
      while (*s != '\0' && !is_blank(*s)) {
        if (*s == '"')
          return "a quote inside a word (quote the whole word)";
        *o++ = *s++;
      }
    }
    *o++ = '\0';
  }
}

/* A command: its name, how many words may follow, its usage, and what to
 * say when words are missing. */
typedef struct oper_cmd {
  const char *name;
  int min, max;
  const char *usage;
  const char *few;
} oper_cmd;

static const oper_cmd cmds[] = {
    {"INQ", 1, 1, "INQ TASKS | ENCLAVES | TRANS | PROGS | CLASSES | TERMINALS",
     "INQ what? TASKS, ENCLAVES, TRANS, PROGS, CLASSES or TERMINALS"},
    {"INQUIRE", 1, 1, "INQUIRE TASKS | ENCLAVES | TRANS | PROGS | CLASSES | TERMINALS",
     "INQUIRE what? TASKS, ENCLAVES, TRANS, PROGS, CLASSES or TERMINALS"},
    {"SET", 3, 4,
     "SET CLASS <name> MAXACTIVE <n> | TRAN <id> ENABLED|DISABLED | PROG <name> ENABLED|DISABLED",
     SET_WHAT},
    {"PURGE", 2, 2, "PURGE TASK <number>",
     "PURGE what? PURGE TASK <number> (INQ TASKS lists the numbers)"},
    {"INSTALL", 1, 1,
     "INSTALL <definition file> (quote a path with blanks: INSTALL \"C:\\my defs\\new.wrd\")",
     "INSTALL needs a definition file: INSTALL <file> (quote a path with blanks: "
     "INSTALL \"C:\\my defs\\new.wrd\")"},
    {"UNLOCK", 2, 2, "UNLOCK USER <name>", "UNLOCK what? UNLOCK USER <name>"},
    {"SHUTDOWN", 0, 1, "SHUTDOWN [IMMEDIATE]", ""},
    {"PERFORM", 1, 2, "PERFORM SHUTDOWN [IMMEDIATE]", "PERFORM what? PERFORM SHUTDOWN [IMMEDIATE]"},
    {"HELP", 0, 0, "HELP", ""},
};

static const oper_cmd *find_cmd(const char *name) {
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (_stricmp(name, cmds[i].name) == 0)
      return &cmds[i];
  return NULL;
}

/* SHUTDOWN [IMMEDIATE] (words after SHUTDOWN: n, w). */
static void shutdown_cmd(int n, const char *const *w, wd_out_fn out, void *ctx) {
  if (n == 1 && _stricmp(w[0], "IMMEDIATE") != 0) {
    outf(out, ctx, "SHUTDOWN %s? nothing done; usage: SHUTDOWN [IMMEDIATE]", w[0]);
    return;
  }
  int mode = n == 1 ? WEFT_SHUTDOWN_IMMEDIATE : WEFT_SHUTDOWN_NORMAL;
  outf(out, ctx, "SHUTDOWN %s requested", mode == WEFT_SHUTDOWN_NORMAL ? "NORMAL" : "IMMEDIATE");
  wd_request_shutdown(mode);
}

/* Run the command c whose words after the name are w[0..n-1] (counted). */
static void dispatch(const oper_cmd *c, int n, const char *const *w, wd_out_fn out, void *ctx) {
  const char *name = c->name;
  if (strcmp(name, "HELP") == 0)
    help(out, ctx);
  else if (strcmp(name, "INQ") == 0 || strcmp(name, "INQUIRE") == 0)
    inq(w[0], out, ctx);
  else if (strcmp(name, "SET") == 0)
    set(w[0], w[1], w[2], n == 4 ? w[3] : "", out, ctx);
  else if (strcmp(name, "PURGE") == 0 && _stricmp(w[0], "TASK") == 0)
    purge(w[1], out, ctx);
  else if (strcmp(name, "INSTALL") == 0)
    install(w[0], out, ctx);
  else if (strcmp(name, "UNLOCK") == 0 && _stricmp(w[0], "USER") == 0)
    wd_signon_unlock(w[1], out, ctx);
  else if (strcmp(name, "SHUTDOWN") == 0)
    shutdown_cmd(n, w, out, ctx);
  else if (strcmp(name, "PERFORM") == 0 && _stricmp(w[0], "SHUTDOWN") == 0)
    shutdown_cmd(n - 1, w + 1, out, ctx);
  else
    out(ctx, c->few); /* PURGE, UNLOCK, PERFORM of something else */
}

void wd_oper_run(const char *line, wd_out_fn out, void *ctx) {
  oper_words ow;
  const char *why = split(line, &ow);
  if (why != NULL) {
    outf(out, ctx, "command refused: %s (HELP lists the commands)", why);
    return;
  }
  if (ow.n == 0) {
    help(out, ctx);
    return;
  }
  const oper_cmd *c = find_cmd(ow.w[0]);
  int args = ow.n - 1;
  if (c == NULL)
    outf(out, ctx, "unknown command '%s' (HELP lists them)", ow.w[0]);
  else if (args < c->min)
    out(ctx, c->few);
  else if (args > c->max)
    outf(out, ctx, "%s: too many words (%d after %s); usage: %s", c->name, args, c->name, c->usage);
  else
    dispatch(c, args, ow.w + 1, out, ctx);
}

/* ---- The WEFT transaction --------------------------------------------------------- */

typedef struct oper_job {
  const char *cmd;
  char *text; /* output lines, '\n' separated */
  size_t len, cap;
} oper_job;

static void job_out(void *ctx, const char *line) {
  oper_job *j = ctx;
  size_t n = strlen(line);
  if (j->len + n + 2 > j->cap) {
    size_t cap = j->cap ? 2 * j->cap : 4096;
    while (cap < j->len + n + 2)
      cap *= 2;
    char *p = realloc(j->text, cap);
    if (p == NULL)
      return;
    j->text = p;
    j->cap = cap;
  }
  memcpy(j->text + j->len, line, n);
  j->len += n;
  j->text[j->len++] = '\n';
}

static int job_run(void *arg) {
  oper_job *j = arg;
  wd_oper_run(j->cmd, job_out, j);
  return 0;
}

void wd_oper_program(weft_task *t) {
  const void *data;
  size_t len;
  weft_retrieve(t, &data, &len);
  char cmd[WD_OPER_LINE_MAX + 1];
  if (len > WD_OPER_LINE_MAX) { /* refused whole: never a cut command */
    weft_sendf(t, "command refused: longer than %d characters", WD_OPER_LINE_MAX);
    return;
  }
  memcpy(cmd, data, len);
  cmd[len] = '\0';
  oper_job j = {.cmd = cmd};
  weft_offload(t, job_run, &j, NULL); /* commands must not run on a worker */
  if (j.len > 0)
    weft_send(t, j.text, j.len);
  free(j.text);
}
