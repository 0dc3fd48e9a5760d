/* console.c - the web console (docs/console.md): weftd serves a page for
 * operators under /console/ and the JSON API it uses under /console/api/.
 *
 *   GET    /console/                          the page (index.html, console.css, console.js:
 *                                             embedded into weftd at build time, console_files.c)
 *   POST   /console/api/session               sign on: HTTP Basic (http.c checks the password
 *                                             on a sign-on thread); the user must be in the
 *                                             operator group. Sets the cookies weft_session
 *                                             (HttpOnly) and weft_csrf, SameSite=Strict.
 *   DELETE /console/api/session               sign off
 *   GET    /console/api/state                 enclaves, chart samples, transactions, programs,
 *                                             classes, terminals, tasks
 *   POST   /console/api/tran/<id>/enable|disable
 *   POST   /console/api/prog/<name>/enable|disable
 *   POST   /console/api/class/<name>/maxactive/<n>
 *   POST   /console/api/task/<number>/purge
 *
 * Every API call but the sign-on needs the session cookie; every POST and
 * DELETE also needs the header X-Weft-CSRF equal to the session's token
 * (the weft_csrf cookie, which only the console's own pages can read).
 * Each action, and each refusal of one, is written to the region's log
 * (wd_log) with the operator's name.
 *
 * Threads: MHD's polling thread runs every handler here (the sessions
 * table is touched by it alone). The console's own thread (wd_console_start)
 * takes the chart's samples and the task list every SAMPLE_MS: listing the
 * tasks waits for the workers (up to 5 s when one runs a task that does not
 * suspend), so it is never done on MHD's thread nor on a worker; MHD's
 * thread reads both under g_samples_lock. A purge (weft_task_purge, same
 * wait) runs on MHD's thread: an operator's rare action. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "weftd.h"

#include <microhttpd.h>

#include "pbkdf2.h"
#include "tn3270.h"

#define SESSIONS 32                  /* console sessions at once */
#define SESSION_IDLE_MS (30u * 60000u) /* a session unused this long ends */
#define SAMPLE_MS 2000u              /* chart: one sample every ... */
#define SAMPLES 150                  /* ... for 5 minutes */
#define SAMPLE_ENCLAVES 16           /* enclaves charted */
#define TASKS_MAX 512                /* tasks listed */

/* A signed-on operator. Owned by the table (MHD thread only); the user is
 * the definition file's (lives as long as the server). */
typedef struct csession {
  char id[65];   /* the weft_session cookie (hex); "" = free slot */
  char csrf[65]; /* the X-Weft-CSRF value */
  const wdef_user *user;
  uint64_t used_ms;
} csession;

/* One chart sample: per enclave, its p90 and completed count. */
typedef struct csample {
  uint64_t t_ms;
  double p90[SAMPLE_ENCLAVES];
  uint64_t done[SAMPLE_ENCLAVES];
} csample;

static csession g_sessions[SESSIONS];
static SRWLOCK g_samples_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_cv = CONDITION_VARIABLE_INIT;
static HANDLE g_thread;
/* Under g_samples_lock: the ring, its enclave names (fixed at the first
 * sample), the count and next slot; the last task list (owned here, freed
 * when replaced or at stop) and its count; g_stop. */
static csample g_samples[SAMPLES];
static char g_snames[SAMPLE_ENCLAVES][WEFT_NAME_MAX + 1];
static size_t g_n_snames, g_n_samples, g_next_sample;
static weft_task_info *g_tasks;
static size_t g_n_tasks;
static bool g_stop;

/* The page's files (console_files.c, generated from tools/weftd/console/). */
typedef struct wd_console_file {
  const char *name, *ctype;
  const unsigned char *data;
  size_t len;
} wd_console_file;
extern const wd_console_file wd_console_files[];
extern const size_t wd_console_n_files;

static uint64_t now_ms(void) {
  return GetTickCount64();
}

/* ---- JSON output: a growing buffer (MHD thread) ----------------------------------- */

typedef struct jbuf {
  char *p;
  size_t len, cap;
  bool oom;
} jbuf;

static void put(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(jbuf *b, const char *fmt, ...) {
  for (;;) {
    if (b->oom)
      return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
    char *np = realloc(b->p, cap);
    if (np == NULL) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
}

/* s as a JSON string, quotes included. */
static void put_str(jbuf *b, const char *s) {
  put(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      put(b, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      put(b, "\\u%04x", c);
    else
      put(b, "%c", c);
  }
  put(b, "\"");
}

/* A JSON number, finite (NaN and infinities as 0). */
static double fin(double v) {
  return v == v && v < 1e300 && v > -1e300 ? v : 0.0;
}

static int send_json(struct MHD_Connection *c, int status, jbuf *b, const char *const *extra) {
  static const char *const nostore[] = {"Cache-Control", "no-store", NULL};
  int rc = b->oom ? wd_http_reply(c, 500, "application/json",
                                  "{\"error\":\"no_storage\",\"message\":\"out of memory\"}\n", 47)
                  : wd_http_reply_headers(c, status, "application/json", b->p, b->len,
                                          extra != NULL ? extra : nostore);
  free(b->p);
  return rc;
}

static int send_error(struct MHD_Connection *c, int status, const char *code, const char *text) {
  jbuf b = {.cap = 256, .p = malloc(256)};
  b.oom = b.p == NULL;
  put(&b, "{\"error\":");
  put_str(&b, code);
  put(&b, ",\"message\":");
  put_str(&b, text);
  put(&b, "}\n");
  return send_json(c, status, &b, NULL);
}

/* ---- Sessions ------------------------------------------------------------------------ */

static void hex_random(char out[65]) {
  unsigned char r[32];
  wdef_random_bytes(r, sizeof r);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", r[i]);
  SecureZeroMemory(r, sizeof r);
}

/* Constant-time comparison of two tokens. */
static bool token_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned d = la != lb;
  for (size_t i = 0; i < la && i < lb; i++)
    d |= (unsigned)(a[i] ^ b[i]);
  return d == 0 && la == 64;
}

/* The request's session (its cookie), or NULL; it counts as used. */
static csession *session_of(struct MHD_Connection *c) {
  const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "weft_session");
  if (id == NULL)
    return NULL;
  uint64_t now = now_ms();
  for (int i = 0; i < SESSIONS; i++) {
    csession *s = &g_sessions[i];
    if (s->id[0] == '\0' || !token_eq(s->id, id))
      continue;
    if (now - s->used_ms > SESSION_IDLE_MS) {
      memset(s, 0, sizeof *s);
      return NULL;
    }
    s->used_ms = now;
    return s;
  }
  return NULL;
}

/* A free (or the least recently used) slot. */
static csession *session_slot(void) {
  csession *best = &g_sessions[0];
  for (int i = 0; i < SESSIONS; i++) {
    if (g_sessions[i].id[0] == '\0')
      return &g_sessions[i];
    if (g_sessions[i].used_ms < best->used_ms)
      best = &g_sessions[i];
  }
  return best;
}

int wd_console_signon(struct MHD_Connection *c, const wdef_user *u) {
  if (!wdef_user_in_group(u, wd.def->region.operator_group)) {
    wd_log('W', "console: user %s refused: not in the operator group %s", u->name,
           wd.def->region.operator_group);
    char text[160];
    snprintf(text, sizeof text, "user %s is not an operator (group %s)", u->name,
             wd.def->region.operator_group);
    return send_error(c, 403, "forbidden", text);
  }
  csession *s = session_slot();
  memset(s, 0, sizeof *s);
  hex_random(s->id);
  hex_random(s->csrf);
  s->user = u;
  s->used_ms = now_ms();
  char ck1[160], ck2[160];
  snprintf(ck1, sizeof ck1, "weft_session=%s; Path=/console; HttpOnly; SameSite=Strict", s->id);
  snprintf(ck2, sizeof ck2, "weft_csrf=%s; Path=/console; SameSite=Strict", s->csrf);
  const char *const extra[] = {"Set-Cookie", ck1, "Set-Cookie", ck2,
                               "Cache-Control", "no-store", NULL};
  jbuf b = {.cap = 256, .p = malloc(256)};
  b.oom = b.p == NULL;
  put(&b, "{\"user\":");
  put_str(&b, u->name);
  put(&b, ",\"csrf\":\"%s\"}\n", s->csrf);
  wd_log('I', "console: operator %s signed on", u->name);
  return send_json(c, 200, &b, extra);
}

/* ---- The chart's samples and the task list (the console's thread) ------------------ */

/* The enclaves charted: DEFAULT and the start file's (first call). */
static void sample_names(void) {
  snprintf(g_snames[g_n_snames++], WEFT_NAME_MAX + 1, "%s", WEFT_DEFAULT_ENCLAVE);
  for (size_t i = 0; i < wd.def->n_enclaves && g_n_snames < SAMPLE_ENCLAVES; i++)
    snprintf(g_snames[g_n_snames++], WEFT_NAME_MAX + 1, "%s", wd.def->enclaves[i].name);
}

static void take_sample(void) {
  csample s = {.t_ms = now_ms()};
  AcquireSRWLockExclusive(&g_samples_lock);
  if (g_n_snames == 0)
    sample_names();
  size_t n = g_n_snames;
  ReleaseSRWLockExclusive(&g_samples_lock);
  for (size_t i = 0; i < n; i++) {
    weft_enclave_stats es;
    if (weft_enclave_stats_get(wd.region, g_snames[i], &es) == 0) {
      s.p90[i] = es.resp_p90_ms;
      s.done[i] = es.tasks_completed + es.tasks_abended;
    }
  }
  AcquireSRWLockExclusive(&g_samples_lock);
  g_samples[g_next_sample] = s;
  g_next_sample = (g_next_sample + 1) % SAMPLES;
  if (g_n_samples < SAMPLES)
    g_n_samples++;
  ReleaseSRWLockExclusive(&g_samples_lock);
}

/* List the tasks (waits for the workers) and keep the list. */
static void take_tasks(void) {
  size_t n = 0;
  uint64_t missing = 0;
  weft_task_info *v = malloc(TASKS_MAX * sizeof *v);
  int rc = v != NULL ? weft_task_list_ex(wd.region, v, TASKS_MAX, &n, &missing) : WEFT_ENOMEM;
  if (rc != 0 && rc != WEFT_ETIMEDOUT) {
    free(v);
    return;
  }
  AcquireSRWLockExclusive(&g_samples_lock);
  weft_task_info *old = g_tasks;
  g_tasks = v;
  g_n_tasks = n;
  ReleaseSRWLockExclusive(&g_samples_lock);
  free(old);
}

static DWORD WINAPI console_main(void *arg) {
  AcquireSRWLockExclusive(&g_samples_lock);
  while (!g_stop) {
    ReleaseSRWLockExclusive(&g_samples_lock);
    take_sample();
    take_tasks();
    AcquireSRWLockExclusive(&g_samples_lock);
    if (!g_stop)
      SleepConditionVariableSRW(&g_cv, &g_samples_lock, SAMPLE_MS, 0);
  }
  ReleaseSRWLockExclusive(&g_samples_lock);
  return 0;
}

int wd_console_start(void) {
  g_thread = CreateThread(NULL, 0, console_main, NULL, 0, NULL);
  return g_thread != NULL ? 0 : -1;
}

void wd_console_stop(void) {
  if (g_thread == NULL)
    return;
  AcquireSRWLockExclusive(&g_samples_lock);
  g_stop = true;
  WakeAllConditionVariable(&g_cv);
  ReleaseSRWLockExclusive(&g_samples_lock);
  WaitForSingleObject(g_thread, INFINITE);
  CloseHandle(g_thread);
  g_thread = NULL;
  free(g_tasks);
  g_tasks = NULL;
  g_n_tasks = 0;
}

/* "chart": {"enclaves": [...], "samples": [{"t": s, "p90": [...], "tps": [...]}]},
 * oldest first; tps over the interval before the sample. */
static void put_chart(jbuf *b) {
  AcquireSRWLockShared(&g_samples_lock);
  put(b, "\"chart\":{\"interval_s\":%u,\"enclaves\":[", SAMPLE_MS / 1000u);
  for (size_t i = 0; i < g_n_snames; i++) {
    put(b, i ? "," : "");
    put_str(b, g_snames[i]);
  }
  put(b, "],\"samples\":[");
  size_t first = (g_next_sample + SAMPLES - g_n_samples) % SAMPLES;
  uint64_t now = now_ms();
  for (size_t k = 1; k < g_n_samples; k++) {
    const csample *p = &g_samples[(first + k - 1) % SAMPLES], *s = &g_samples[(first + k) % SAMPLES];
    double dt = (double)(s->t_ms - p->t_ms) / 1000.0;
    put(b, "%s{\"age_s\":%.1f,\"p90\":[", k > 1 ? "," : "", (double)(now - s->t_ms) / 1000.0);
    for (size_t i = 0; i < g_n_snames; i++)
      put(b, "%s%.3f", i ? "," : "", fin(s->p90[i]));
    put(b, "],\"tps\":[");
    for (size_t i = 0; i < g_n_snames; i++)
      put(b, "%s%.2f", i ? "," : "", dt > 0 ? fin((double)(s->done[i] - p->done[i]) / dt) : 0.0);
    put(b, "]}");
  }
  put(b, "]}");
  ReleaseSRWLockShared(&g_samples_lock);
}

/* ---- GET /console/api/state ---------------------------------------------------------- */

/* Throughput of an enclave: tasks ended per second over the last chart
 * interval (0 before two samples). */
static double enclave_tps(const char *name) {
  double tps = 0;
  AcquireSRWLockShared(&g_samples_lock);
  if (g_n_samples >= 2) {
    const csample *s = &g_samples[(g_next_sample + SAMPLES - 1) % SAMPLES];
    const csample *p = &g_samples[(g_next_sample + SAMPLES - 2) % SAMPLES];
    double dt = (double)(s->t_ms - p->t_ms) / 1000.0;
    for (size_t i = 0; i < g_n_snames; i++)
      if (strcmp(g_snames[i], name) == 0 && dt > 0)
        tps = (double)(s->done[i] - p->done[i]) / dt;
  }
  ReleaseSRWLockShared(&g_samples_lock);
  return fin(tps);
}

static void put_enclave(jbuf *b, const char *name, bool *first) {
  weft_enclave_stats s;
  if (weft_enclave_stats_get(wd.region, name, &s) != 0)
    return;
  char goal[48] = "none";
  if (s.goal_type == WEFT_GOAL_AVERAGE)
    snprintf(goal, sizeof goal, "avg <= %u ms", s.goal_ms);
  else if (s.goal_type == WEFT_GOAL_PERCENTILE)
    snprintf(goal, sizeof goal, "%u%% <= %u ms", s.goal_percent, s.goal_ms);
  put(b, *first ? "" : ",");
  *first = false;
  put(b, "{\"name\":");
  put_str(b, s.name);
  put(b,
      ",\"importance\":%d,\"goal\":\"%s\",\"pi\":%.3f,\"band\":%d,\"active\":%u,"
      "\"completed\":%llu,\"abended\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
      "\"tps\":%.2f}",
      s.importance, goal, fin(s.pi), s.dispatch_priority, s.active,
      (unsigned long long)s.tasks_completed, (unsigned long long)s.tasks_abended,
      fin(s.resp_p50_ms), fin(s.resp_p90_ms), fin(s.resp_p99_ms), enclave_tps(s.name));
}

static const char *enabled_word(int en) {
  return en == 1 ? "enabled" : en == 0 ? "disabled" : "unknown";
}

/* One definition file's enclaves, transactions, programs or classes (def_lock held). */
static void file_enclaves(jbuf *b, const wdef_file *f, bool *first) {
  for (size_t i = 0; i < f->n_enclaves; i++)
    put_enclave(b, f->enclaves[i].name, first);
}

static void file_trans(jbuf *b, const wdef_file *f, bool *first) {
  for (size_t i = 0; i < f->n_transactions; i++) {
    const wdef_transaction *t = &f->transactions[i];
    weft_enclave_stats s = {0};
    weft_transaction_stats_get(wd.region, t->tranid, &s);
    put(b, *first ? "" : ",");
    *first = false;
    put(b, "{\"tranid\":");
    put_str(b, t->tranid);
    put(b, ",\"program\":");
    put_str(b, t->program);
    put(b, ",\"enclave\":");
    put_str(b, t->enclave);
    put(b, ",\"class\":");
    put_str(b, t->tclass);
    put(b, ",\"status\":\"%s\",\"completed\":%llu,\"abended\":%llu,\"p90_ms\":%.3f}",
        enabled_word(weft_transaction_is_enabled(wd.region, t->tranid)),
        (unsigned long long)s.tasks_completed, (unsigned long long)s.tasks_abended,
        fin(s.resp_p90_ms));
  }
}

static void file_progs(jbuf *b, const wdef_file *f, bool *first) {
  for (size_t i = 0; i < f->n_programs; i++) {
    const wdef_program *p = &f->programs[i];
    put(b, *first ? "" : ",");
    *first = false;
    put(b, "{\"name\":");
    put_str(b, p->name);
    put(b, ",\"module\":");
    put_str(b, p->builtin ? "builtin" : p->dll);
    put(b, ",\"symbol\":");
    put_str(b, p->symbol);
    put(b, ",\"status\":\"%s\"}", enabled_word(weft_program_is_enabled(wd.region, p->name)));
  }
}

static void file_classes(jbuf *b, const wdef_file *f, bool *first) {
  for (size_t i = 0; i < f->n_classes; i++) {
    weft_class_stats s;
    if (weft_class_stats_get(wd.region, f->classes[i].name, &s) != 0)
      continue;
    put(b, *first ? "" : ",");
    *first = false;
    put(b, "{\"name\":");
    put_str(b, s.name);
    put(b, ",\"max_active\":%u,\"active\":%u,\"queued\":%u,\"purge_threshold\":%u,\"rejected\":%llu}",
        s.max_active, s.active, s.queued, s.purge_threshold, (unsigned long long)s.rejected);
  }
}

/* "key":[...] over every definition file the server knows. */
static void put_files(jbuf *b, const char *key,
                      void (*fn)(jbuf *b, const wdef_file *f, bool *first)) {
  bool first = true;
  put(b, ",\"%s\":[", key);
  AcquireSRWLockShared(&wd.def_lock);
  fn(b, wd.def, &first);
  for (size_t i = 0; i < wd.n_extra; i++)
    fn(b, wd.extra[i], &first);
  ReleaseSRWLockShared(&wd.def_lock);
  put(b, "]");
}

typedef struct lines_ctx {
  jbuf *b;
  bool first;
} lines_ctx;

static void put_line(void *ctx, const char *line) {
  lines_ctx *lc = ctx;
  put(lc->b, lc->first ? "" : ",");
  lc->first = false;
  put_str(lc->b, line);
}

/* The last task list (at most SAMPLE_MS old). */
static void put_tasks(jbuf *b) {
  static const char *const states[] = {"ready", "running", "waiting"};
  static const char *const waits[] = {"ready",   "delay",    "event", "enq",
                                      "offload", "terminal", "log"};
  AcquireSRWLockShared(&g_samples_lock);
  const weft_task_info *v = g_tasks;
  size_t n = g_n_tasks;
  put(b, ",\"tasks\":[");
  for (size_t i = 0; v != NULL && i < n && i < TASKS_MAX; i++) {
    const weft_task_info *t = &v[i];
    put(b, "%s{\"task\":%llu,\"tranid\":", i ? "," : "", (unsigned long long)t->task_no);
    put_str(b, t->tranid);
    put(b, ",\"enclave\":");
    put_str(b, t->enclave);
    put(b, ",\"terminal\":");
    put_str(b, t->termid);
    put(b, ",\"user\":");
    put_str(b, t->userid);
    put(b, ",\"state\":\"%s\",\"wait\":\"%s\",\"priority\":%d,\"age_ms\":%llu}",
        states[t->state], t->state == WEFT_TASK_WAITING ? waits[t->wait_reason] : "", t->priority,
        (unsigned long long)t->age_ms);
  }
  put(b, "],\"tasks_total\":%llu", (unsigned long long)n);
  ReleaseSRWLockShared(&g_samples_lock);
}

static int api_state(struct MHD_Connection *c, const csession *s) {
  jbuf b = {.cap = 16384, .p = malloc(16384)};
  b.oom = b.p == NULL;
  put(&b, "{\"user\":");
  put_str(&b, s->user->name);
  put(&b, ",\"region\":");
  put_str(&b, wd.def->path);
  put(&b, ",\"stopping\":%s,", atomic_load(&wd.stopping) ? "true" : "false");
  put_chart(&b);
  bool first = true;
  put(&b, ",\"enclaves\":[");
  put_enclave(&b, WEFT_DEFAULT_ENCLAVE, &first);
  AcquireSRWLockShared(&wd.def_lock);
  file_enclaves(&b, wd.def, &first);
  for (size_t i = 0; i < wd.n_extra; i++)
    file_enclaves(&b, wd.extra[i], &first);
  ReleaseSRWLockShared(&wd.def_lock);
  put(&b, "]");
  put_files(&b, "transactions", file_trans);
  put_files(&b, "programs", file_progs);
  put_files(&b, "classes", file_classes);
  lines_ctx lc = {.b = &b, .first = true};
  put(&b, ",\"terminals\":[");
  wd_sessions_describe(put_line, &lc);
  wd_t3_describe(put_line, &lc);
  put(&b, "]");
  put_tasks(&b);
  put(&b, "}\n");
  return send_json(c, 200, &b, NULL);
}

/* ---- Actions -------------------------------------------------------------------------- */

/* The answer to an action that ran with rc; logged with its operator. */
static int action_done(struct MHD_Connection *c, const csession *s, int rc, const char *what) {
  if (rc == 0) {
    wd_log('I', "console: operator %s: %s", s->user->name, what);
    jbuf b = {.cap = 256, .p = malloc(256)};
    b.oom = b.p == NULL;
    put(&b, "{\"done\":true,\"action\":");
    put_str(&b, what);
    put(&b, "}\n");
    return send_json(c, 200, &b, NULL);
  }
  wd_log('W', "console: operator %s: %s failed: %s", s->user->name, what, weft_strerror(rc));
  char text[200];
  snprintf(text, sizeof text, "%s failed: %s", what, weft_strerror(rc));
  bool unknown = rc == WEFT_ENOTFOUND || rc == WEFT_ENOTRAN || rc == WEFT_ENOPROG;
  bool bad = rc == WEFT_EINVAL || rc == WEFT_ERANGE || rc == WEFT_EBADNAME;
  return send_error(c, unknown ? 404 : bad ? 400 : 409,
                    unknown ? "not_found" : "refused", text);
}

/* A decimal number (digits only) in [1, max]; false otherwise. */
static bool number(const char *s, unsigned long long max, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE || v > max)
    return false;
  *out = v;
  return true;
}

/* POST /console/api/<kind>/<name>/<verb>[/<arg>]: w holds those words. */
static int api_action(struct MHD_Connection *c, const csession *s, int n, char **w) {
  char what[160];
  unsigned long long v;
  if (n == 3 && (strcmp(w[0], "tran") == 0 || strcmp(w[0], "prog") == 0) &&
      (strcmp(w[2], "enable") == 0 || strcmp(w[2], "disable") == 0)) {
    bool tran = strcmp(w[0], "tran") == 0, en = strcmp(w[2], "enable") == 0;
    snprintf(what, sizeof what, "SET %s %s %s", tran ? "TRAN" : "PROG", w[1],
             en ? "ENABLED" : "DISABLED");
    int rc = tran ? weft_transaction_set_enabled(wd.region, w[1], en)
                  : weft_program_set_enabled(wd.region, w[1], en);
    return action_done(c, s, rc, what);
  }
  if (n == 4 && strcmp(w[0], "class") == 0 && strcmp(w[2], "maxactive") == 0) {
    if (!number(w[3], UINT_MAX, &v))
      return send_error(c, 400, "bad_number", "max active must be a number of tasks (digits)");
    snprintf(what, sizeof what, "SET CLASS %s MAXACTIVE %llu", w[1], v);
    return action_done(c, s, weft_class_set_max(wd.region, w[1], (unsigned)v), what);
  }
  if (n == 3 && strcmp(w[0], "task") == 0 && strcmp(w[2], "purge") == 0) {
    if (!number(w[1], ULLONG_MAX, &v) || v == 0)
      return send_error(c, 400, "bad_number", "a task number is digits (the task list shows them)");
    snprintf(what, sizeof what, "PURGE TASK %llu", v);
    return action_done(c, s, weft_task_purge(wd.region, v), what);
  }
  return send_error(c, 404, "no_route", "no such console action");
}

/* ---- Dispatch -------------------------------------------------------------------------- */

static int serve_file(struct MHD_Connection *c, const char *name) {
  static const char *const headers[] = {
      "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'",
      "X-Content-Type-Options", "nosniff", "Cache-Control", "no-cache", NULL};
  for (size_t i = 0; i < wd_console_n_files; i++)
    if (strcmp(wd_console_files[i].name, name) == 0)
      return wd_http_reply_headers(c, 200, wd_console_files[i].ctype,
                                   (const char *)wd_console_files[i].data,
                                   wd_console_files[i].len, headers);
  return send_error(c, 404, "no_route", "no such console file");
}

/* Split path (after /console/api/) at '/' into at most 5 words (in buf). */
static int split_path(const char *path, char *buf, size_t cap, char **w) {
  snprintf(buf, cap, "%s", path);
  int n = 0;
  for (char *p = buf; n < 5;) {
    w[n++] = p;
    p = strchr(p, '/');
    if (p == NULL)
      break;
    *p++ = '\0';
  }
  return n;
}

static bool csrf_ok(struct MHD_Connection *c, const csession *s) {
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Weft-CSRF");
  return h != NULL && token_eq(s->csrf, h);
}

int wd_console_handle(struct MHD_Connection *c, const char *method, const char *path) {
  static const char *const to_page[] = {"Location", "/console/", NULL};
  if (strcmp(path, "/console") == 0)
    return wd_http_reply_headers(c, 302, "text/plain", "see /console/\n", 14, to_page);
  if (strncmp(path, "/console/api/", 13) != 0) {
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
      return send_error(c, 405, "method_not_allowed", "the console's files are read with GET");
    return serve_file(c, path[9] == '\0' ? "index.html" : path + 9);
  }
  csession *s = session_of(c);
  if (s == NULL)
    return send_error(c, 401, "signon_required", "sign on to the console first");
  bool get = strcmp(method, "GET") == 0;
  if (!get && !csrf_ok(c, s)) {
    wd_log('W', "console: operator %s: %s %s refused: no valid CSRF token", s->user->name, method,
           path);
    return send_error(c, 403, "csrf", "the request lacks the session's X-Weft-CSRF token");
  }
  const char *rest = path + 13;
  if (strcmp(rest, "session") == 0 && strcmp(method, "DELETE") == 0) {
    static const char *const clear[] = {
        "Set-Cookie", "weft_session=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        "Set-Cookie", "weft_csrf=; Path=/console; SameSite=Strict; Max-Age=0", NULL};
    wd_log('I', "console: operator %s signed off", s->user->name);
    memset(s, 0, sizeof *s);
    return wd_http_reply_headers(c, 200, "application/json", "{\"done\":true}\n", 14, clear);
  }
  if (strcmp(rest, "state") == 0 && get)
    return api_state(c, s);
  if (strcmp(method, "POST") != 0)
    return send_error(c, 405, "method_not_allowed", "console actions are POST requests");
  char buf[256], *w[5];
  if (strlen(rest) >= sizeof buf)
    return send_error(c, 404, "no_route", "no such console action");
  int n = split_path(rest, buf, sizeof buf, w);
  return api_action(c, s, n, w);
}
