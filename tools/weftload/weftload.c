/* weftload: a terminal load simulator for weftd (docs/terminal.md,
 * "Clients").
 *
 * N terminals, one thread each, connect to the region (staggered), sign on
 * if asked, and run a weighted mix of transactions with think times until
 * the warm-up plus the measured duration is over; then they QUIT. Every
 * input -> prompt round is one response, timed with QueryPerformanceCounter
 * and attributed to its mix entry's tranid (and through the region
 * definition to an enclave). Responses that complete inside the measured
 * window are counted. */
#include "termproto.h"
#include "regiondef.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <mmsystem.h>
#include <process.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMINALS 1024
#define MAX_LOGGED_ERRORS 20

/* ---- options -------------------------------------------------------- */

typedef enum { THINK_EXP, THINK_UNIFORM } think_dist;

static struct {
  const char *host, *port, *mix, *json, *def, *user, *password, *plot;
  const char *raw; /* --raw LINE: the baseline servers' request (no protocol) */
  int terminals;
  double duration, warmup, think_ms, timeout_s;
  think_dist dist;
  uint64_t seed;
  long acct_lo, acct_hi;
  char **allow; /* --allow: codes allowed for every entry */
  int nallow;
  int quiet;
  int seed_given; /* --seed: else the seed comes from the clock */
} opt = {"127.0.0.1", "3270", NULL, NULL,      NULL, NULL, NULL, NULL, NULL, 1, 10,
         2,           0,      30,   THINK_EXP, 0,    1,    1000, NULL, 0, 0};

static void usage(FILE *f) {
  fprintf(f,
          "usage: weftload --mix FILE [--host H] [--port P] [--terminals N] [--duration S]\n"
          "                [--warmup S] [--think-ms T] [--think-dist exp|uniform]\n"
          "                [--user U --password P] [--seed X] [--accounts LO-HI]\n"
          "                [--def REGIONFILE] [--allow CODE[,CODE...]] [--timeout S]\n"
          "                [--json FILE] [--plot FILE.png] [--quiet]\n"
          "       weftload --raw LINE [--host H] [--port P] [--terminals N] [--duration S]\n"
          "                [--warmup S] [--think-ms T] [--timeout S] [--json FILE] [--quiet]\n"
          "\n"
          "Simulates N terminals (one thread each) running a weighted mix of\n"
          "transactions against weftd (default 127.0.0.1:3270) and reports throughput\n"
          "and response-time percentiles per tranid and per enclave.\n"
          "\n"
          "  --terminals N    concurrent terminals, 1..%d (default 1); they connect\n"
          "                   staggered over at most 1 s\n"
          "  --duration S     measured seconds (default 10), after the warm-up\n"
          "  --warmup S       seconds run but not measured first (default 2)\n"
          "  --think-ms T     mean think time before every input, ms (default 0)\n"
          "  --think-dist D   exp: exponential with mean T, cut at 10 T (default);\n"
          "                   uniform: uniform in [T/2, 3T/2] (T +-50%%)\n"
          "  --user U --password P   each terminal signs on first (SIGNON U P)\n"
          "  --seed X         random seed (default: from the clock; printed)\n"
          "  --accounts LO-HI range of {acct} and {acct2} (default 1-1000)\n"
          "  --def FILE       region definition: maps tranids to enclaves (from its\n"
          "                   TRANSACTION lines) for the per-enclave table\n"
          "  --allow CODES    %%ERROR codes allowed for every entry (see below)\n"
          "  --timeout S      a response slower than S seconds is an error and the\n"
          "                   terminal reconnects (default 30)\n"
          "  --json FILE      write the results as JSON\n"
          "  --plot FILE.png  write FILE.dat and FILE.gp, a gnuplot script drawing the\n"
          "                   latencies over time and their distribution into\n"
          "                   FILE.png. weftload does not run gnuplot (a Windows\n"
          "                   program under Wine cannot run the Linux one): run\n"
          "                   `gnuplot FILE.gp` yourself.\n"
          "  --quiet          no progress lines\n"
          "  --raw LINE       no terminal protocol: each terminal connects, then sends\n"
          "                   LINE and reads one reply line, again and again (tranid\n"
          "                   RAW); for the baseline servers of bench/netbase.c\n"
          "\n"
          "Mix file: one entry a line, '#' starts a comment line:\n"
          "  WEIGHT INPUT [| FOLLOWUP]... [!allow CODE[,CODE...]]\n"
          "e.g.\n"
          "  50 INQ {acct}\n"
          "  20 XFER {acct} {acct2} {amount} !allow ABEND:AINS\n"
          "   5 STMT {acct} | | Q\n"
          "The tranid of an entry is the first word of its INPUT. FOLLOWUPs answer the\n"
          "%%NEXT and %%INPUT prompts in turn (an empty one is an empty line); at a\n"
          "%%NEXT with none left weftload sends CANCEL, at an %%INPUT an empty line.\n"
          "Placeholders: {acct} {acct2} (another account) {amount} (1..500) {name};\n"
          "an entry's values stay the same across its follow-ups. Write \\| for a\n"
          "literal '|'.\n"
          "!allow: these %%ERROR codes are expected, not errors: a code (BUSY,\n"
          "NOT_AUTHORIZED...), ABEND (any abend), ABEND:XXXX (abend XXXX only), or *.\n"
          "\n"
          "Every input -> prompt round is one response of the entry's tranid; think\n"
          "time precedes every input. Only responses ending inside the measured\n"
          "window count; tps = responses / duration.\n"
          "Exit status: 0 no unexpected error, 1 unexpected errors (an %%ERROR not\n"
          "allowed, refused or lost connections, %%BUSY, timeouts), 2 usage error.\n",
          MAX_TERMINALS);
}

/* ---- small helpers -------------------------------------------------- */

/* "weftload: <fmt ...>" and a line end on stderr. */
static void say_v(const char *fmt, va_list ap) {
  fprintf(stderr, "weftload: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

/* Says what is wrong (printf-style) and exits 2: bad usage or input, or no
 * memory. Any thread. */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say_v(fmt, ap);
  va_end(ap);
  exit(2);
}

/* Says what is wrong with the command line, then the usage; returns 2 (the
 * exit status). */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say_v(fmt, ap);
  va_end(ap);
  usage(stderr);
  return 2;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (!p)
    die("out of memory");
  memcpy(p, s, n);
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p)
    die("out of memory");
  return p;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    s[--n] = '\0';
  return s;
}

/* Reads a line of any length; NULL at the end. */
static char *read_line(FILE *f) {
  size_t cap = 256, n = 0;
  char *s = xrealloc(NULL, cap);
  int c;
  while ((c = fgetc(f)) != EOF && c != '\n') {
    if (n + 2 > cap)
      s = xrealloc(s, cap *= 2);
    s[n++] = (char)c;
  }
  if (c == EOF && n == 0) {
    free(s);
    return NULL;
  }
  s[n] = '\0';
  return s;
}

/* splitmix64 */
static uint64_t rnd(uint64_t *st) {
  uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rnd01(uint64_t *st) {
  return (double)(rnd(st) >> 11) * (1.0 / 9007199254740992.0);
}
static long rnd_range(uint64_t *st, long lo, long hi) {
  return lo + (long)(rnd(st) % (uint64_t)(hi - lo + 1));
}

/* Splits a comma-separated list of codes. */
static void add_codes(char ***list, int *n, const char *codes, const char *where) {
  char *copy = xstrdup(codes), *save = NULL;
  for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
    c = trim(c);
    if (!*c)
      continue;
    for (char *p = c; *p; p++)
      if (*p == ' ' || *p == '\t')
        die("%s: bad !allow code list: %s", where, codes);
    *list = xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[(*n)++] = xstrdup(c);
  }
  free(copy);
}

/* ---- tranids and enclaves ------------------------------------------- */

typedef struct {
  char name[16];
  char enclave[16]; /* "" until mapped */
} tran_info;

static tran_info *trans;
static int ntrans;

static int tran_index(const char *name) {
  for (int i = 0; i < ntrans; i++)
    if (!strcmp(trans[i].name, name))
      return i;
  trans = xrealloc(trans, (size_t)(ntrans + 1) * sizeof *trans);
  memset(&trans[ntrans], 0, sizeof *trans);
  snprintf(trans[ntrans].name, sizeof trans[ntrans].name, "%s", name);
  return ntrans++;
}

/* The region definition (tools/common's parser): only its TRANSACTION
 * lines matter here, for the tranid -> enclave map. A REGION line is
 * optional and references to names it does not define are accepted, so a
 * server's file and a file of transactions alone both do. */
static wdef_file *def;

static void load_def(const char *path) {
  wdef_errors errs = {0};
  if (wdef_parse_file(path, WDEF_REGION_OPTIONAL | WDEF_EXTERNAL_REFS, &def, &errs) != 0) {
    wdef_errors_print(&errs, stderr);
    wdef_errors_free(&errs);
    die("cannot use the region definition %s", path);
  }
  wdef_errors_free(&errs);
  if (def->n_transactions == 0)
    fprintf(stderr, "weftload: warning: no TRANSACTION lines in %s\n", path);
  /* Think times past the idle timeout end sessions (%BYE idle timeout). */
  double longest = opt.dist == THINK_EXP ? 10 * opt.think_ms : 1.5 * opt.think_ms;
  if (def->region.line && def->region.idle_timeout_s > 0 &&
      longest >= def->region.idle_timeout_s * 1000.0)
    fprintf(stderr,
            "weftload: warning: think times reach %.0f ms, past the region's idle_timeout "
            "(%u s): sessions will be closed\n",
            longest, def->region.idle_timeout_s);
}

/* Maps every tranid to its enclave: "-" for those the definition lacks
 * (built-ins such as SIGNON). */
static void map_enclaves(void) {
  for (int i = 0; i < ntrans; i++) {
    const char *e = def ? wdef_transaction_enclave(def, trans[i].name) : NULL;
    snprintf(trans[i].enclave, sizeof trans[i].enclave, "%s", e ? e : "-");
  }
}

/* ---- the mix -------------------------------------------------------- */

typedef struct {
  long weight;
  int tran;      /* index in trans */
  char **inputs; /* [0] the input at %READY, then the follow-ups */
  int ninputs;
  char **allow;
  int nallow;
  int lineno;
} mix_entry;

static mix_entry *mix;
static int nmix;
static long total_weight;

static const char *const names[] = {"Smith",    "Jones",   "Taylor", "Brown",    "Williams",
                                    "Wilson",   "Johnson", "Davies", "Robinson", "Wright",
                                    "Thompson", "Evans",   "Walker", "White",    "Roberts",
                                    "Green",    "Hall",    "Wood",   "Jackson",  "Clarke"};

static const char *const placeholders[] = {"{acct}", "{acct2}", "{amount}", "{name}"};

/* Checks the placeholders of a template. */
static void check_template(const char *t, const char *where) {
  for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{')) {
    int ok = 0;
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++)
      if (!strncmp(p, placeholders[i], strlen(placeholders[i])))
        ok = 1;
    if (!ok)
      die("%s: unknown placeholder at \"%s\" (known: {acct} {acct2} {amount} {name})", where, p);
  }
}

static void load_mix(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    die("cannot open %s: %s", path, strerror(errno));
  char *raw;
  int lineno = 0;
  while ((raw = read_line(f)) != NULL) {
    lineno++;
    char where[512];
    snprintf(where, sizeof where, "%s:%d", path, lineno);
    char *line = trim(raw);
    if (!*line || *line == '#') {
      free(raw);
      continue;
    }
    mix_entry e;
    memset(&e, 0, sizeof e);
    e.lineno = lineno;
    /* A trailing "!allow CODES". */
    for (char *a = strstr(line, "!allow"); a; a = strstr(a + 1, "!allow")) {
      if (a > line && (a[-1] == ' ' || a[-1] == '\t') &&
          (a[6] == ' ' || a[6] == '\t' || a[6] == '\0')) {
        add_codes(&e.allow, &e.nallow, a + 6, where);
        if (e.nallow == 0)
          die("%s: !allow without codes", where);
        *a = '\0';
        line = trim(line);
        break;
      }
    }
    char *end;
    errno = 0;
    e.weight = strtol(line, &end, 10);
    if (end == line || errno || e.weight < 0 || (*end != ' ' && *end != '\t'))
      die("%s: expected WEIGHT INPUT [| FOLLOWUP]... [!allow CODES]", where);
    line = trim(end);
    /* Split at unescaped '|'; "\|" is a literal '|'. */
    char *part = xrealloc(NULL, strlen(line) + 1);
    size_t n = 0;
    for (char *p = line;; p++) {
      if (*p == '\\' && p[1] == '|') {
        part[n++] = '|';
        p++;
        continue;
      }
      if (*p == '|' || *p == '\0') {
        part[n] = '\0';
        char *t = trim(part);
        check_template(t, where);
        e.inputs = xrealloc(e.inputs, (size_t)(e.ninputs + 1) * sizeof *e.inputs);
        e.inputs[e.ninputs++] = xstrdup(t);
        n = 0;
        if (*p == '\0')
          break;
        continue;
      }
      part[n++] = *p;
    }
    free(part);
    char tranid[16];
    size_t k = strcspn(e.inputs[0], " \t");
    if (k == 0)
      die("%s: the entry has no input", where);
    if (k > 8)
      die("%s: the tranid is longer than 8 characters", where);
    memcpy(tranid, e.inputs[0], k);
    tranid[k] = '\0';
    if (strchr(tranid, '{'))
      die("%s: the tranid cannot be a placeholder", where);
    e.tran = tran_index(tranid);
    free(raw);
    if (e.weight == 0)
      continue;
    mix = xrealloc(mix, (size_t)(nmix + 1) * sizeof *mix);
    mix[nmix++] = e;
    total_weight += e.weight;
  }
  fclose(f);
  if (nmix == 0 || total_weight <= 0)
    die("%s: no entry with a weight above 0", path);
}

/* The values of one run of an entry. */
typedef struct {
  long acct, acct2, amount;
  const char *name;
} values;

static char *expand(const char *t, const values *v) {
  size_t cap = strlen(t) + 64, n = 0;
  char *out = xrealloc(NULL, cap);
  for (const char *p = t; *p;) {
    char num[32];
    const char *rep = NULL;
    size_t skip = 0;
    if (*p == '{') {
      if (!strncmp(p, "{acct}", 6))
        snprintf(num, sizeof num, "%ld", v->acct), rep = num, skip = 6;
      else if (!strncmp(p, "{acct2}", 7))
        snprintf(num, sizeof num, "%ld", v->acct2), rep = num, skip = 7;
      else if (!strncmp(p, "{amount}", 8))
        snprintf(num, sizeof num, "%ld", v->amount), rep = num, skip = 8;
      else if (!strncmp(p, "{name}", 6))
        rep = v->name, skip = 6;
    }
    size_t add = rep ? strlen(rep) : 1;
    if (n + add + 1 > cap)
      out = xrealloc(out, cap = (n + add + 1) * 2);
    if (rep) {
      memcpy(out + n, rep, add);
      p += skip;
    } else
      out[n] = *p++;
    n += add;
  }
  out[n] = '\0';
  return out;
}

/* ---- statistics ----------------------------------------------------- */

typedef struct {
  float t;  /* completion, seconds since the start */
  float ms; /* response time */
} sample;

typedef struct {
  sample *s;
  size_t n, cap;
  long errors;     /* unexpected, in the measured window */
  long allowed;    /* %ERROR allowed by the entry, in the measured window */
  long errors_all; /* unexpected, warm-up and wind-down too */
} tstats;

static void stats_add(tstats *st, double t, double ms) {
  if (st->n == st->cap) {
    st->cap = st->cap ? st->cap * 2 : 1024;
    st->s = xrealloc(st->s, st->cap * sizeof *st->s);
  }
  st->s[st->n].t = (float)t;
  st->s[st->n].ms = (float)ms;
  st->n++;
}

/* ---- the run -------------------------------------------------------- */

static double t_start, t_warm, t_end; /* wp_now() seconds */
static volatile LONG stop_flag;
static HANDLE stop_event; /* set on Ctrl-C: ends think times at once */
static volatile LONG live_responses, live_errors, logged_errors;
static CRITICAL_SECTION log_lock;
static int tran_signon = -1;

typedef struct {
  int idx;
  uint64_t rng;
  SOCKET s;
  wp_reader rd;
  int connected;
  char termid[16];
  tstats *st; /* [ntrans] */
  long connect_errors;
  HANDLE thread;
} term;

static int running(void) {
  return !stop_flag && wp_now() < t_end;
}

static void log_error(term *tm, const char *input, const char *what) {
  LONG k = InterlockedIncrement(&logged_errors);
  if (k > MAX_LOGGED_ERRORS)
    return;
  EnterCriticalSection(&log_lock);
  char name[32];
  if (tm->termid[0])
    snprintf(name, sizeof name, "%s", tm->termid);
  else
    snprintf(name, sizeof name, "terminal %d", tm->idx + 1);
  fprintf(stderr, "weftload: %s: %s%s%s%s\n", name, input ? "\"" : "", input ? input : "",
          input ? "\": " : "", what);
  if (k == MAX_LOGGED_ERRORS)
    fprintf(stderr, "weftload: (further errors are not shown)\n");
  LeaveCriticalSection(&log_lock);
}

/* Waits ms milliseconds, or until Ctrl-C. */
static void pause_ms(double ms) {
  if (ms <= 0)
    return;
  WaitForSingleObject(stop_event, (DWORD)(ms + 0.5));
}

static double think_time(term *tm) {
  if (opt.think_ms <= 0)
    return 0;
  double u = rnd01(&tm->rng);
  if (opt.dist == THINK_UNIFORM)
    return opt.think_ms * (0.5 + u);
  double t = -opt.think_ms * log(1.0 - u);
  return t > 10 * opt.think_ms ? 10 * opt.think_ms : t;
}

enum { SC_PROMPT, SC_BYE, SC_BUSY, SC_CLOSED, SC_TIMEOUT, SC_NETERR };

typedef struct {
  int end;         /* SC_* */
  wp_kind prompt;  /* with SC_PROMPT */
  int unexpected;  /* %ERROR lines not allowed */
  int allowed;     /* %ERROR lines allowed */
  char first[200]; /* the first unexpected %ERROR line, or the BYE/BUSY text */
} screen;

static int code_allowed(const char *err, char **allow, int nallow) {
  /* err: "<CODE> <text>"; for ABEND: "ABEND <abcode> ..." */
  char code[64] = "", abcode[64] = "";
  sscanf(err, "%63s %63s", code, abcode);
  for (int pass = 0; pass < 2; pass++) {
    char **list = pass ? opt.allow : allow;
    int n = pass ? opt.nallow : nallow;
    for (int i = 0; i < n; i++) {
      const char *a = list[i];
      if (!strcmp(a, "*"))
        return 1;
      const char *colon = strchr(a, ':');
      if (colon) {
        size_t k = (size_t)(colon - a);
        if (strlen(code) == k && !_strnicmp(a, code, k) && !_stricmp(colon + 1, abcode))
          return 1;
      } else if (!_stricmp(a, code))
        return 1;
    }
  }
  return 0;
}

/* Reads until a prompt or the end of the session. */
static void read_screen(term *tm, char **allow, int nallow, screen *sc) {
  memset(sc, 0, sizeof *sc);
  for (;;) {
    /* The socket's SO_RCVTIMEO is the timeout: one recv per read. */
    int rc = wp_read_line(&tm->rd, WP_SOCKTIMEO);
    if (rc == WP_TIMEOUT) {
      sc->end = SC_TIMEOUT;
      snprintf(sc->first, sizeof sc->first, "no prompt within %g s", opt.timeout_s);
      return;
    }
    if (rc == WP_EOF || rc == WP_ERR) {
      sc->end = rc == WP_EOF ? SC_CLOSED : SC_NETERR;
      snprintf(sc->first, sizeof sc->first, "%s",
               rc == WP_EOF ? "the server closed the connection" : wp_strerror(WSAGetLastError()));
      return;
    }
    const char *text;
    wp_kind k = wp_classify(tm->rd.line, &text);
    switch (k) {
      case WP_ERROR:
        if (code_allowed(text, allow, nallow))
          sc->allowed++;
        else if (sc->unexpected++ == 0)
          snprintf(sc->first, sizeof sc->first, "%s", tm->rd.line);
        break;
      case WP_GREETING: {
        char reg[64], word[64], tid[64];
        if (sscanf(text, "%63s %63s %63s", reg, word, tid) == 3)
          snprintf(tm->termid, sizeof tm->termid, "%s", tid);
        break;
      }
      case WP_READY:
      case WP_NEXT:
      case WP_INPUT:
        sc->end = SC_PROMPT;
        sc->prompt = k;
        return;
      case WP_BYE:
      case WP_BUSY:
        sc->end = k == WP_BYE ? SC_BYE : SC_BUSY;
        snprintf(sc->first, sizeof sc->first, "%s", tm->rd.line);
        return;
      default:
        break;
    }
  }
}

static void disconnect(term *tm) {
  if (tm->connected) {
    closesocket(tm->s);
    wp_reader_free(&tm->rd);
    tm->connected = 0;
  }
}

/* Counts an unexpected error of tranid tran outside a timed response. */
static void count_error(term *tm, int tran) {
  double now = wp_now();
  if (now >= t_warm && now <= t_end)
    tm->st[tran].errors++;
  tm->st[tran].errors_all++;
}

/* Counts a failure outside a response (connecting, greeting). */
static void connect_failed(term *tm, const char *what) {
  tm->connect_errors++;
  InterlockedIncrement(&live_errors);
  log_error(tm, NULL, what);
  disconnect(tm);
}

/* One input -> prompt round; records it. Returns 0 if the session goes
 * on (sc says at which prompt), -1 if it is lost. */
static int round_trip(term *tm, int tran, const char *input, char **allow, int nallow, screen *sc) {
  double t0 = wp_now();
  if (wp_send_line(tm->s, input) != 0) {
    memset(sc, 0, sizeof *sc);
    sc->end = SC_NETERR;
    snprintf(sc->first, sizeof sc->first, "send: %s", wp_strerror(WSAGetLastError()));
  } else
    read_screen(tm, allow, nallow, sc);
  double t1 = wp_now();
  int lost = sc->end != SC_PROMPT;
  int unexpected = sc->unexpected > 0 || lost;
  tstats *st = &tm->st[tran];
  /* A round that got no prompt (timeout, lost connection) has no
   * response time: it is only counted as an error. */
  if (!lost && t1 >= t_warm && t1 <= t_end) {
    stats_add(st, t1 - t_start, (t1 - t0) * 1000.0);
    if (sc->allowed)
      st->allowed++;
  }
  InterlockedIncrement(&live_responses);
  /* Unexpected errors count wherever they happen. */
  if (unexpected) {
    if (t1 >= t_warm && t1 <= t_end)
      st->errors++;
    st->errors_all++;
    InterlockedIncrement(&live_errors);
    log_error(tm, input, sc->first);
  }
  if (lost)
    disconnect(tm);
  return lost ? -1 : 0;
}

/* Connects, reads the greeting and signs on. Returns 0 when at %READY. */
static int start_session(term *tm) {
  char err[512];
  tm->s = wp_connect(opt.host, opt.port, err, sizeof err);
  if (tm->s == INVALID_SOCKET) {
    tm->connect_errors++;
    InterlockedIncrement(&live_errors);
    log_error(tm, NULL, err);
    return -1;
  }
  wp_reader_init(&tm->rd, tm->s);
  tm->connected = 1;
  wp_set_recv_timeout(&tm->rd, (int)(opt.timeout_s * 1000));
  screen sc;
  read_screen(tm, NULL, 0, &sc);
  if (sc.end != SC_PROMPT || sc.prompt != WP_READY || sc.unexpected) {
    connect_failed(tm, sc.end == SC_PROMPT ? "the greeting did not end at %READY" : sc.first);
    return -1;
  }
  if (opt.user) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "SIGNON %s %s", opt.user, opt.password ? opt.password : "");
    if (round_trip(tm, tran_signon, cmd, NULL, 0, &sc) != 0)
      return -1;
    if (sc.unexpected || sc.prompt != WP_READY) {
      if (!sc.unexpected)
        log_error(tm, "SIGNON", "did not end at %READY");
      disconnect(tm);
      return -1;
    }
  }
  return 0;
}

/* Runs one mix entry from %READY back to %READY. Returns -1 when the
 * session was lost. */
static int run_entry(term *tm, const mix_entry *e) {
  values v;
  v.acct = rnd_range(&tm->rng, opt.acct_lo, opt.acct_hi);
  v.acct2 = v.acct;
  if (opt.acct_hi > opt.acct_lo)
    while (v.acct2 == v.acct)
      v.acct2 = rnd_range(&tm->rng, opt.acct_lo, opt.acct_hi);
  v.amount = rnd_range(&tm->rng, 1, 500);
  v.name = names[rnd(&tm->rng) % (sizeof names / sizeof *names)];
  int next = 0;          /* the next input of the entry */
  int cancelled = 0;     /* CANCEL was sent at %NEXT */
  int extra_inputs = 0;  /* empty lines sent at %INPUT past the follow-ups */
  wp_kind at = WP_READY; /* the prompt we answer */
  for (;;) {
    char *input;
    if (next < e->ninputs)
      input = expand(e->inputs[next++], &v);
    else if (at == WP_NEXT) {
      if (cancelled) {
        log_error(tm, "CANCEL", "the pseudo-conversation went on after CANCEL");
        count_error(tm, e->tran);
        InterlockedIncrement(&live_errors);
        disconnect(tm);
        return -1;
      }
      input = xstrdup("CANCEL");
      cancelled = 1;
    } else {
      if (++extra_inputs > 3) {
        log_error(tm, e->inputs[0], "the task keeps asking for %INPUT");
        count_error(tm, e->tran);
        InterlockedIncrement(&live_errors);
        disconnect(tm);
        return -1;
      }
      input = xstrdup("");
    }
    /* Think before the input; past the end, finish the conversation
     * quickly (CANCEL at %NEXT). */
    if (running()) {
      double th = think_time(tm), left = (t_end - wp_now()) * 1000.0;
      pause_ms(th < left ? th : left);
      if (at == WP_READY && !running()) {
        free(input);
        return 0;
      }
    }
    if (!running() && at == WP_NEXT && strcmp(input, "CANCEL") != 0 && !cancelled) {
      free(input);
      input = xstrdup("CANCEL");
      cancelled = 1;
    }
    screen sc;
    int rc = round_trip(tm, e->tran, input, e->allow, e->nallow, &sc);
    free(input);
    if (rc != 0)
      return -1;
    if (sc.prompt == WP_READY)
      return 0;
    at = sc.prompt;
  }
}

/* --raw: one request line -> one reply line round; records it under
 * tranid 0 (RAW). Returns 0, or -1 when the connection is lost. */
static int raw_round(term *tm) {
  double t0 = wp_now();
  int rc = wp_send_line(tm->s, opt.raw) == 0 ? wp_read_line(&tm->rd, WP_SOCKTIMEO) : WP_ERR;
  double t1 = wp_now();
  InterlockedIncrement(&live_responses);
  if (rc == WP_LINE) {
    if (t1 >= t_warm && t1 <= t_end)
      stats_add(&tm->st[0], t1 - t_start, (t1 - t0) * 1000.0);
    return 0;
  }
  count_error(tm, 0);
  InterlockedIncrement(&live_errors);
  log_error(tm, opt.raw,
            rc == WP_TIMEOUT ? "no reply in time"
            : rc == WP_EOF   ? "the server closed the connection"
                             : wp_strerror(WSAGetLastError()));
  disconnect(tm);
  return -1;
}

/* --raw: connect, then rounds until the end (reconnecting after a loss). */
static void raw_main(term *tm) {
  char err[512];
  while (running()) {
    tm->s = wp_connect(opt.host, opt.port, err, sizeof err);
    if (tm->s == INVALID_SOCKET) {
      tm->connect_errors++;
      InterlockedIncrement(&live_errors);
      log_error(tm, NULL, err);
      double left = (t_end - wp_now()) * 1000.0;
      pause_ms(left < 1000 ? left : 1000);
      continue;
    }
    wp_reader_init(&tm->rd, tm->s);
    tm->connected = 1;
    wp_set_recv_timeout(&tm->rd, (int)(opt.timeout_s * 1000));
    while (running()) {
      pause_ms(think_time(tm));
      if (raw_round(tm) != 0)
        break;
    }
    disconnect(tm);
  }
}

static unsigned __stdcall terminal_main(void *arg) {
  term *tm = arg;
  /* Stagger the connections over at most a second. */
  double stagger = opt.terminals > 1 ? (tm->idx * (1000.0 / opt.terminals)) : 0;
  if (stagger > 20.0 * tm->idx)
    stagger = 20.0 * tm->idx;
  pause_ms(stagger);
  if (opt.raw) {
    raw_main(tm);
    return 0;
  }
  while (running()) {
    if (start_session(tm) != 0) {
      /* Retry a second later. */
      double left = (t_end - wp_now()) * 1000.0;
      pause_ms(left < 1000 ? left : 1000);
      continue;
    }
    while (running()) {
      long r = (long)(rnd(&tm->rng) % (uint64_t)total_weight);
      int i = 0;
      while (r >= mix[i].weight)
        r -= mix[i++].weight;
      if (run_entry(tm, &mix[i]) != 0)
        break;
    }
    if (tm->connected) {
      /* The end: QUIT and wait for %BYE. */
      if (wp_send_line(tm->s, "QUIT") == 0) {
        for (;;) {
          int rc = wp_read_line(&tm->rd, 5000);
          if (rc != WP_LINE)
            break;
          const char *text;
          wp_kind k = wp_classify(tm->rd.line, &text);
          if (k == WP_BYE || k == WP_BUSY)
            break;
          if (wp_is_prompt(k)) {
            log_error(tm, "QUIT", "answered by a prompt, not %BYE");
            break;
          }
        }
      }
      disconnect(tm);
    } else if (running()) {
      double left = (t_end - wp_now()) * 1000.0;
      pause_ms(left < 200 ? left : 200);
    }
  }
  return 0;
}

static BOOL WINAPI on_ctrl(DWORD type) {
  if (type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT) {
    InterlockedExchange(&stop_flag, 1);
    SetEvent(stop_event);
    return TRUE;
  }
  return FALSE;
}

/* ---- reporting ------------------------------------------------------ */

typedef struct {
  char name[16];
  float *ms; /* sorted */
  size_t n;
  double max;
  long errors, allowed, errors_all;
  double p50, p90, p99, mean;
} row;

static double pct(const float *a, size_t n, double p) {
  if (n == 0)
    return 0;
  size_t k = (size_t)ceil(p / 100.0 * (double)n);
  if (k < 1)
    k = 1;
  if (k > n)
    k = n;
  return a[k - 1];
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

static void finish_row(row *r) {
  qsort(r->ms, r->n, sizeof *r->ms, cmp_float);
  r->p50 = pct(r->ms, r->n, 50);
  r->p90 = pct(r->ms, r->n, 90);
  r->p99 = pct(r->ms, r->n, 99);
  r->max = r->n ? r->ms[r->n - 1] : 0;
  double sum = 0;
  for (size_t i = 0; i < r->n; i++)
    sum += r->ms[i];
  r->mean = r->n ? sum / (double)r->n : 0;
}

static void row_add(row *r, const tstats *st) {
  r->ms = xrealloc(r->ms, (r->n + st->n) * sizeof *r->ms);
  for (size_t i = 0; i < st->n; i++)
    r->ms[r->n + i] = st->s[i].ms;
  r->n += st->n;
  r->errors += st->errors;
  r->errors_all += st->errors_all;
  r->allowed += st->allowed;
}

static void print_header(const char *first) {
  printf("%-9s %9s %9s %9s %9s %9s %9s %7s %7s\n", first, "count", "tps", "p50 ms", "p90 ms",
         "p99 ms", "max ms", "errors", "allowed");
}

static void print_row(const row *r, double dur) {
  printf("%-9s %9zu %9.1f %9.2f %9.2f %9.2f %9.2f %7ld %7ld\n", r->name, r->n,
         dur > 0 ? (double)r->n / dur : 0, r->p50, r->p90, r->p99, r->max, r->errors, r->allowed);
}

/* A name as a JSON string body (names are printable ASCII). */
static const char *json_name(const char *s) {
  static char buf[64];
  size_t n = 0;
  for (; *s && n + 3 < sizeof buf; s++) {
    if (*s == '"' || *s == '\\')
      buf[n++] = '\\';
    buf[n++] = *s;
  }
  buf[n] = '\0';
  return buf;
}

static void json_row(FILE *f, const row *r, double dur, int last) {
  fprintf(f,
          "    \"%s\": {\"count\": %zu, \"tps\": %.3f, \"mean_ms\": %.3f, \"p50_ms\": %.3f, "
          "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %ld, "
          "\"allowed_errors\": %ld}%s\n",
          json_name(r->name), r->n, dur > 0 ? (double)r->n / dur : 0, r->mean, r->p50, r->p90,
          r->p99, r->max, r->errors, r->allowed, last ? "" : ",");
}

static const char *think_name(void) {
  return opt.dist == THINK_EXP ? "exp" : "uniform";
}

/* gnuplot data and script: latencies over time, and their distribution. */
static void write_plot(term *terms, const row *tr, int ntr) {
  char base[1024], dat[1100], gp[1100], png[1100];
  snprintf(base, sizeof base, "%s", opt.plot);
  size_t n = strlen(base);
  if (n > 4 && !_stricmp(base + n - 4, ".png"))
    base[n - 4] = '\0';
  snprintf(dat, sizeof dat, "%s.dat", base);
  snprintf(gp, sizeof gp, "%s.gp", base);
  snprintf(png, sizeof png, "%s.png", base);
  FILE *f = fopen(dat, "w");
  if (!f) {
    fprintf(stderr, "weftload: cannot write %s: %s\n", dat, strerror(errno));
    return;
  }
  /* Blocks 0..ntr-1: "t ms" samples of tranid i (at most 20000 each);
   * blocks ntr..2ntr-1: "ms percent" of its distribution. */
  for (int i = 0; i < ntr; i++) {
    fprintf(f, "# %s: seconds since start, response ms\n", tr[i].name);
    size_t total = tr[i].n, stride = total > 20000 ? (total + 19999) / 20000 : 1, k = 0;
    for (int t = 0; t < opt.terminals; t++) {
      const tstats *st = &terms[t].st[i];
      for (size_t j = 0; j < st->n; j++, k++)
        if (k % stride == 0)
          fprintf(f, "%.4f %.4f\n", st->s[j].t, st->s[j].ms);
    }
    if (total == 0)
      fprintf(f, "NaN NaN\n");
    fprintf(f, "\n\n");
  }
  for (int i = 0; i < ntr; i++) {
    fprintf(f, "# %s: response ms, percent of responses at most that\n", tr[i].name);
    size_t total = tr[i].n, stride = total > 2000 ? total / 2000 : 1;
    for (size_t j = 0; j < total; j += stride)
      fprintf(f, "%.4f %.4f\n", tr[i].ms[j], 100.0 * (double)(j + 1) / (double)total);
    if (total)
      fprintf(f, "%.4f 100\n", tr[i].ms[total - 1]);
    else
      fprintf(f, "NaN NaN\n");
    fprintf(f, "\n\n");
  }
  fclose(f);
  f = fopen(gp, "w");
  if (!f) {
    fprintf(stderr, "weftload: cannot write %s: %s\n", gp, strerror(errno));
    return;
  }
  /* gnuplot runs on the host: give it the file names relative to the
   * script's directory. */
  const char *dslash = strrchr(dat, '/'), *dback = strrchr(dat, '\\');
  const char *dname = dback > dslash ? dback + 1 : dslash ? dslash + 1 : dat;
  const char *pslash = strrchr(png, '/'), *pback = strrchr(png, '\\');
  const char *pname = pback > pslash ? pback + 1 : pslash ? pslash + 1 : png;
  fprintf(f, "# Written by weftload: draws %s into %s.\n", dname, pname);
  fprintf(f, "# Run it in its directory: gnuplot %s\n",
          strrchr(gp, '/') ? strrchr(gp, '/') + 1 : gp);
  fprintf(f, "N = %d\nnames = \"", ntr);
  for (int i = 0; i < ntr; i++)
    fprintf(f, "%s%s", i ? " " : "", tr[i].name);
  fprintf(f, "\"\nW0 = %.3f; W1 = %.3f   # the measured window, s\n", t_warm - t_start,
          t_end - t_start);
  fprintf(f,
          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size 1100,900 font ',10'\n"
          "} else {\n"
          "  set terminal png size 1100,900\n"
          "}\n"
          "set output '%s'\n"
          "set datafile missing 'NaN'\n"
          "set multiplot layout 2,1 title 'weftload: %d terminals, think %g ms (%s), %g s "
          "measured'\n"
          "set grid; set key top right opaque box; set xrange [0:W1]\n"
          "set xlabel 'seconds since the start (measured window shaded)'\n"
          "set ylabel 'response time, ms'; set logscale y\n"
          "set object 1 rect from W0, graph 0 to W1, graph 1 behind fc rgb '#f0f0f0' fs solid "
          "noborder\n"
          "plot for [i=0:N-1] '%s' index i using 1:2 with points pt 7 ps 0.3 title word(names, "
          "i+1)\n"
          "unset object 1; unset logscale y; set logscale x; set autoscale x\n"
          "set xlabel 'response time, ms'; set ylabel 'percent of responses'; set yrange [0:100]\n"
          "set key bottom right\n"
          "plot for [i=0:N-1] '%s' index (N+i) using 1:2 with lines lw 2 title word(names, i+1)\n"
          "unset multiplot\n",
          pname, opt.terminals, opt.think_ms, think_name(), opt.duration, dname, dname);
  fclose(f);
  printf("plot: wrote %s and %s; run `gnuplot %s` in that directory to draw %s\n", dat, gp,
         strrchr(gp, '/') ? strrchr(gp, '/') + 1 : gp, pname);
}

/* ---- options ------------------------------------------------------- */

static double num_arg(const char *name, const char *v, double lo, double hi) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (errno || end == v || *end || x < lo || x > hi)
    die("bad %s %s", name, v);
  return x;
}

/* --accounts LO-HI. */
static void accounts_arg(const char *v) {
  char *end, *end2;
  opt.acct_lo = strtol(v, &end, 10);
  if (end == v || *end != '-')
    die("bad --accounts %s (LO-HI)", v);
  opt.acct_hi = strtol(end + 1, &end2, 10);
  if (end2 == end + 1 || *end2 || opt.acct_hi < opt.acct_lo)
    die("bad --accounts %s (LO-HI)", v);
}

/* The options that take a string, and those that take a number in a
 * range (--terminals, an int, is apart). */
static const struct {
  const char *name;
  const char **field;
} str_opts[] = {{"--host", &opt.host}, {"--port", &opt.port},        {"--mix", &opt.mix},
                {"--json", &opt.json}, {"--def", &opt.def},          {"--user", &opt.user},
                {"--plot", &opt.plot}, {"--password", &opt.password},
                {"--raw", &opt.raw}};
static const struct {
  const char *name;
  double *field, lo, hi;
} num_opts[] = {{"--duration", &opt.duration, 0.001, 1e7},
                {"--warmup", &opt.warmup, 0, 1e7},
                {"--think-ms", &opt.think_ms, 0, 1e9},
                {"--timeout", &opt.timeout_s, 0.001, 1e6}};

/* Sets option a to value v (a bad value dies). Returns 0 for an unknown
 * option. */
static int set_option(const char *a, const char *v) {
  for (size_t i = 0; i < sizeof str_opts / sizeof *str_opts; i++)
    if (!strcmp(a, str_opts[i].name)) {
      *str_opts[i].field = v;
      return 1;
    }
  for (size_t i = 0; i < sizeof num_opts / sizeof *num_opts; i++)
    if (!strcmp(a, num_opts[i].name)) {
      *num_opts[i].field = num_arg(a, v, num_opts[i].lo, num_opts[i].hi);
      return 1;
    }
  if (!strcmp(a, "--terminals"))
    opt.terminals = (int)num_arg(a, v, 1, MAX_TERMINALS);
  else if (!strcmp(a, "--allow"))
    add_codes(&opt.allow, &opt.nallow, v, "--allow");
  else if (!strcmp(a, "--think-dist")) {
    if (!strcmp(v, "exp") || !strcmp(v, "exponential"))
      opt.dist = THINK_EXP;
    else if (!strcmp(v, "uniform"))
      opt.dist = THINK_UNIFORM;
    else
      die("bad --think-dist %s (exp or uniform)", v);
  } else if (!strcmp(a, "--seed")) {
    char *end;
    opt.seed = strtoull(v, &end, 0);
    if (*end || end == v)
      die("bad --seed %s", v);
    opt.seed_given = 1;
  } else if (!strcmp(a, "--accounts"))
    accounts_arg(v);
  else
    return 0;
  return 1;
}

/* Reads the command line into opt (a bad value dies with status 2).
 * Returns -1 to go on and run, or the exit status: 0 after --help, 2 for
 * an unknown or incomplete option. */
static int parse_options(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--quiet")) {
      opt.quiet = 1;
      continue;
    }
    if (i + 1 >= argc || strncmp(a, "--", 2) != 0)
      return usage_error("unknown or incomplete option %s", a);
    if (!set_option(a, argv[++i]))
      return usage_error("unknown option %s", a);
  }
  if (!opt.mix && !opt.raw)
    return usage_error("--mix FILE (or --raw LINE) is required");
  if (opt.mix && opt.raw)
    return usage_error("--mix and --raw exclude each other");
  if (opt.password && !opt.user)
    die("--password without --user");
  return -1;
}

/* Reads the mix and the region definition, maps tranids to enclaves and
 * picks the seed when none was given. */
static void prepare(void) {
  if (opt.raw)
    tran_index("RAW");
  else
    load_mix(opt.mix);
  if (opt.user)
    tran_signon = tran_index("SIGNON");
  if (opt.def)
    load_def(opt.def);
  map_enclaves();
  if (!opt.seed_given) {
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    opt.seed = (uint64_t)c.QuadPart ^ ((uint64_t)GetCurrentProcessId() << 32);
  }
}

/* ---- the run, from the main thread ---------------------------------- */

/* Winsock, 1 ms timers, the log's lock and Ctrl-C. */
static void start_services(void) {
  if (wp_net_init() != 0)
    die("cannot start Winsock");
  timeBeginPeriod(1);
  InitializeCriticalSection(&log_lock);
  stop_event = CreateEventA(NULL, TRUE, FALSE, NULL);
  SetConsoleCtrlHandler(on_ctrl, TRUE);
}

/* The terminals, each with its random generator and statistics. */
static term *new_terminals(void) {
  term *terms = calloc((size_t)opt.terminals, sizeof *terms);
  if (!terms)
    die("out of memory");
  uint64_t sm = opt.seed;
  for (int i = 0; i < opt.terminals; i++) {
    terms[i].idx = i;
    terms[i].rng = rnd(&sm);
    terms[i].st = calloc((size_t)ntrans, sizeof *terms[i].st);
    if (!terms[i].st)
      die("out of memory");
  }
  return terms;
}

/* Starts a thread per terminal; returns how many started (on a failure the
 * run stops). */
static int start_terminals(term *terms) {
  for (int i = 0; i < opt.terminals; i++) {
    /* Small stacks: hundreds of terminals. */
    terms[i].thread = (HANDLE)_beginthreadex(NULL, 256 * 1024, terminal_main, &terms[i],
                                             STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (!terms[i].thread) {
      fprintf(stderr, "weftload: cannot start terminal thread %d\n", i + 1);
      InterlockedExchange(&stop_flag, 1);
      SetEvent(stop_event);
      return i;
    }
  }
  return opt.terminals;
}

/* Until the run ends (or Ctrl-C): a progress line every 5 s (stderr). */
static void show_progress(void) {
  LONG last = 0;
  double next_report = t_start + 5;
  while (!stop_flag && wp_now() < t_end) {
    double now = wp_now();
    double wait = (next_report < t_end ? next_report : t_end) - now;
    if (wait > 0)
      WaitForSingleObject(stop_event, (DWORD)(wait * 1000 + 1));
    now = wp_now();
    if (now >= next_report && now < t_end) {
      LONG r = live_responses;
      if (!opt.quiet)
        fprintf(stderr, "weftload: %5.0f s  %s  %8.1f tps  %ld errors\n", now - t_start,
                now < t_warm ? "warm-up " : "measured", (double)(r - last) / 5.0,
                (long)live_errors);
      last = r;
      next_report += 5;
    }
  }
}

/* Runs the terminals through the warm-up and the measured window and waits
 * for them; returns the seconds measured (less after Ctrl-C). */
static double run(term *terms) {
  if (!opt.quiet)
    fprintf(stderr,
            "weftload: %d terminals on %s:%s, %g s warm-up + %g s, think %g ms (%s), seed "
            "%llu\n",
            opt.terminals, opt.host, opt.port, opt.warmup, opt.duration, opt.think_ms, think_name(),
            (unsigned long long)opt.seed);
  t_start = wp_now();
  t_warm = t_start + opt.warmup;
  t_end = t_warm + opt.duration;
  int started = start_terminals(terms);
  show_progress();
  double t_stop = wp_now();
  if (t_stop > t_end)
    t_stop = t_end;
  for (int i = 0; i < started; i++) {
    WaitForSingleObject(terms[i].thread, INFINITE);
    CloseHandle(terms[i].thread);
  }
  timeEndPeriod(1);
  double dur = t_stop - t_warm;
  if (dur < 0)
    dur = 0;
  if (stop_flag && !opt.quiet)
    fprintf(stderr, "weftload: interrupted: %.1f s measured\n", dur);
  return dur;
}

/* ---- the results ---------------------------------------------------- */

/* What a run measured, per tranid, per enclave and in all. Built by
 * collect() on the main thread after the terminals' threads ended. */
typedef struct {
  double dur; /* measured seconds */
  row *tr;    /* [ntrans]: per tranid */
  row *er;    /* [nencl]: per enclave */
  int nencl;
  row total;
  int hide_signon;     /* SIGNON is shown only when it has something to show */
  long connect_errors; /* failed connections and sign-ons */
  long errors;         /* unexpected errors in all (the exit status) */
} results;

static int shown_tran(const results *res, int i) {
  return !(res->hide_signon && i == tran_signon);
}

/* The enclave row of each tranid (-1: not shown); fills res->er. */
static int *group_enclaves(results *res) {
  char(*encl)[16] = calloc((size_t)ntrans + 1, sizeof *encl);
  int *tr_encl = calloc((size_t)ntrans + 1, sizeof *tr_encl);
  if (!encl || !tr_encl)
    die("out of memory");
  int nencl = 0;
  for (int i = 0; i < ntrans; i++) {
    if (!shown_tran(res, i)) {
      tr_encl[i] = -1;
      continue;
    }
    int e;
    for (e = 0; e < nencl; e++)
      if (!strcmp(encl[e], trans[i].enclave))
        break;
    if (e == nencl)
      snprintf(encl[nencl++], sizeof encl[0], "%s", trans[i].enclave);
    tr_encl[i] = e;
  }
  res->er = calloc((size_t)(nencl ? nencl : 1), sizeof *res->er);
  if (!res->er)
    die("out of memory");
  for (int e = 0; e < nencl; e++)
    snprintf(res->er[e].name, sizeof res->er[e].name, "%s", encl[e]);
  res->nencl = nencl;
  free(encl);
  return tr_encl;
}

/* Adds up the terminals' statistics into res. */
static void collect(const term *terms, double dur, results *res) {
  memset(res, 0, sizeof *res);
  res->dur = dur;
  snprintf(res->total.name, sizeof res->total.name, "TOTAL");
  for (int t = 0; t < opt.terminals; t++)
    res->connect_errors += terms[t].connect_errors;
  res->tr = calloc((size_t)ntrans + 1, sizeof *res->tr);
  if (!res->tr)
    die("out of memory");
  for (int i = 0; i < ntrans; i++) {
    snprintf(res->tr[i].name, sizeof res->tr[i].name, "%s", trans[i].name);
    for (int t = 0; t < opt.terminals; t++)
      row_add(&res->tr[i], &terms[t].st[i]);
  }
  res->hide_signon =
      tran_signon >= 0 && res->tr[tran_signon].n == 0 && res->tr[tran_signon].errors_all == 0;
  int *tr_encl = group_enclaves(res);
  for (int i = 0; i < ntrans; i++)
    for (int t = 0; t < opt.terminals; t++) {
      if (tr_encl[i] >= 0)
        row_add(&res->er[tr_encl[i]], &terms[t].st[i]);
      row_add(&res->total, &terms[t].st[i]);
    }
  free(tr_encl);
  for (int i = 0; i < ntrans; i++)
    finish_row(&res->tr[i]);
  for (int e = 0; e < res->nencl; e++)
    finish_row(&res->er[e]);
  finish_row(&res->total);
  res->errors = res->total.errors_all + res->connect_errors;
}

/* The tables on stdout. */
static void print_report(const results *res) {
  double dur = res->dur;
  printf("weftload: %d terminals, %.1f s measured after %.1f s warm-up, think %g ms (%s), "
         "seed %llu\n",
         opt.terminals, dur, opt.warmup, opt.think_ms, think_name(), (unsigned long long)opt.seed);
  print_header("TRANID");
  for (int i = 0; i < ntrans; i++)
    if (shown_tran(res, i))
      print_row(&res->tr[i], dur);
  print_row(&res->total, dur);
  if (opt.def) {
    printf("\n");
    print_header("ENCLAVE");
    for (int e = 0; e < res->nencl; e++)
      print_row(&res->er[e], dur);
  }
  printf("\n%zu responses, %.1f tps; unexpected errors: %ld in all (%ld in responses, %ld "
         "of them measured; %ld connecting); %ld allowed\n",
         res->total.n, dur > 0 ? (double)res->total.n / dur : 0, res->errors, res->total.errors_all,
         res->total.errors, res->connect_errors, res->total.allowed);
}

/* The results as JSON into opt.json (a file that cannot be written is
 * reported, not fatal). */
static void write_json(const results *res) {
  FILE *f = fopen(opt.json, "w");
  if (!f) {
    fprintf(stderr, "weftload: cannot write %s: %s\n", opt.json, strerror(errno));
    return;
  }
  const row *total = &res->total;
  double dur = res->dur;
  fprintf(f,
          "{\n  \"terminals\": %d,\n  \"duration_s\": %.3f,\n  \"warmup_s\": %.3f,\n"
          "  \"think_ms\": %g,\n  \"think_dist\": \"%s\",\n  \"seed\": %llu,\n"
          "  \"count\": %zu,\n  \"tps\": %.3f,\n  \"mean_ms\": %.3f,\n  \"p50_ms\": %.3f,\n"
          "  \"p90_ms\": %.3f,\n  \"p99_ms\": %.3f,\n  \"max_ms\": %.3f,\n"
          "  \"errors\": %ld,\n  \"response_errors\": %ld,\n  \"measured_errors\": %ld,\n"
          "  \"connect_errors\": %ld,\n"
          "  \"allowed_errors\": %ld,\n  \"per_tranid\": {\n",
          opt.terminals, dur, opt.warmup, opt.think_ms, think_name(), (unsigned long long)opt.seed,
          total->n, dur > 0 ? (double)total->n / dur : 0, total->mean, total->p50, total->p90,
          total->p99, total->max, res->errors, total->errors_all, total->errors,
          res->connect_errors, total->allowed);
  int shown = 0, nshow = 0;
  for (int i = 0; i < ntrans; i++)
    nshow += shown_tran(res, i);
  for (int i = 0; i < ntrans; i++)
    if (shown_tran(res, i))
      json_row(f, &res->tr[i], dur, ++shown == nshow);
  fprintf(f, "  },\n  \"per_enclave\": {\n");
  if (opt.def)
    for (int e = 0; e < res->nencl; e++)
      json_row(f, &res->er[e], dur, e == res->nencl - 1);
  fprintf(f, "  }\n}\n");
  fclose(f);
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv) {
  int rc = parse_options(argc, argv);
  if (rc >= 0)
    return rc;
  prepare();
  start_services();
  term *terms = new_terminals();
  results res;
  collect(terms, run(terms), &res);
  print_report(&res);
  if (opt.json)
    write_json(&res);
  if (opt.plot)
    write_plot(terms, res.tr, ntrans);
  fflush(stdout);
  return res.errors > 0 ? 1 : 0;
}
