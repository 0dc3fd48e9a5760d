/* signon.c - sign-on for weftd: checking passwords off the network thread
 * and off the workers, the growing delay after failures (per connection and
 * per user), lockout and UNLOCK, the rate-limited log of refusals, the
 * start-up warnings about weak hashes, and the --hash-password command.
 * See docs/terminal.md (Signing on) and docs/region-config.md.
 *
 * Threads: the network thread submits a SIGNON (wd_signon_submit) and
 * collects its answer (wd_signon_take) or cancels it (wd_signon_cancel);
 * SIGNON_THREADS sign-on threads of this file do the PBKDF2 work and keep
 * the delays; the console or an offload thread runs UNLOCK.
 *
 * Ownership: g_lock guards every job's phase and result, the job list, the
 * user table and the log counters. A job's request fields are written
 * before it is listed and only read after. A job belongs to this file until
 * its phase is DONE and wd_signon_take hands its answer over (and frees
 * it); a cancelled job is freed by whoever sees it next outside HASHING. */
#include <stdio.h>
#include <stdlib.h>

#include "weftd.h"

#define SIGNON_THREADS 2     /* PBKDF2 runs on at most this many threads */
#define DELAY_MAX_MS 30000u  /* the growing delay's ceiling */
#define LOG_WINDOW_MS 10000u /* one refusal logged, the rest counted, per window */
#define LOG_NAME_MAX 32      /* characters of a user name a log line shows */

/* A job's phases. P_HELD: not yet counted as an attempt, because the
 * checks of the same user in flight could lock it (fails + pending at the
 * lockout limit); it waits for them instead of being refused, so that at
 * most `signon_lockout` guesses are ever in flight for a user, and many
 * right sign-ons of one user at once all succeed. */
enum { P_HELD, P_WAIT, P_QUEUED, P_HASHING, P_DELAY, P_DONE };

struct wd_signon {
  /* -- The request: written before the job is listed, then read-only ---- */
  char termid[WEFT_NAME_MAX + 1];
  char name[LOG_NAME_MAX + 1]; /* as typed, cut for the log */
  char *password;              /* wiped and freed with the job */
  const wdef_user *user;       /* NULL: no such user (a dummy hash is checked) */
  unsigned conn_fails;         /* the session's failures in a row before this one */
  /* -- Under g_lock ----------------------------------------------------------- */
  int phase;       /* P_* */
  uint64_t due_ms; /* P_WAIT: hash from then on; P_DELAY: answer then */
  int result;      /* WD_SIGNON_* once hashed */
  bool cancelled;  /* the session is gone */
  wd_signon *next; /* g_jobs */
};

/* What the region remembers of a user who has failed (g_lock). */
typedef struct ustate {
  const wdef_user *user;
  unsigned fails;   /* failed sign-ons in a row */
  unsigned pending; /* sign-ons of this user being checked */
  bool locked;
  uint64_t next_ms; /* no password of this user is checked before then */
} ustate;

static SRWLOCK g_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_cv = CONDITION_VARIABLE_INIT;
static wd_signon *g_jobs;
static ustate *g_users;
static size_t g_n_users, g_cap_users;
static bool g_stop;
static HANDLE g_threads[SIGNON_THREADS];
static wdef_user g_dummy; /* checked for unknown users: the same cost */

static struct {
  uint64_t window_ms; /* when the current window began; 0: none */
  unsigned counted;   /* refusals not logged in it */
  char termid[WEFT_NAME_MAX + 1], name[LOG_NAME_MAX + 1]; /* the last one */
} g_log;

static uint64_t now_ms(void) {
  return GetTickCount64();
}

/* ---- Users ------------------------------------------------------------------------ */

const wdef_user *wd_find_user(const char *name) {
  if (strlen(name) > WEFT_NAME_MAX)
    return NULL;
  AcquireSRWLockShared(&wd.def_lock);
  const wdef_user *u = wdef_find_user(wd.def, name);
  for (size_t i = 0; u == NULL && i < wd.n_extra; i++)
    u = wdef_find_user(wd.extra[i], name);
  ReleaseSRWLockShared(&wd.def_lock);
  return u;
}

/* u's entry (g_lock held); with create, made if missing (NULL: no memory). */
static ustate *ustate_of(const wdef_user *u, bool create) {
  for (size_t i = 0; i < g_n_users; i++)
    if (g_users[i].user == u)
      return &g_users[i];
  if (!create)
    return NULL;
  if (g_n_users == g_cap_users) {
    size_t cap = g_cap_users ? 2 * g_cap_users : 16;
    ustate *n = realloc(g_users, cap * sizeof *n);
    if (n == NULL)
      return NULL;
    g_users = n;
    g_cap_users = cap;
  }
  g_users[g_n_users] = (ustate){.user = u};
  return &g_users[g_n_users++];
}

/* The delay after the n-th failure in a row: signon_delay_ms doubled
 * n - 1 times, at most DELAY_MAX_MS (or signon_delay_ms if larger). */
static uint64_t delay_for(unsigned n) {
  uint64_t base = wd.def->region.signon_delay_ms, d = base;
  if (n == 0 || base == 0)
    return 0;
  for (unsigned i = 1; i < n && d < DELAY_MAX_MS; i++)
    d *= 2;
  uint64_t cap = base > DELAY_MAX_MS ? base : DELAY_MAX_MS;
  return d < cap ? d : cap;
}

/* Would the sign-ons of st being checked lock it if they all failed?
 * (g_lock) */
static bool lockout_reached(const ustate *st) {
  unsigned n = wd.def->region.signon_lockout;
  return st != NULL && n != 0 && st->fails + st->pending >= n;
}

/* ---- The log (g_lock held) ----------------------------------------------------------- */

/* Say how many refusals the window counted, and close it. */
static void log_flush(void) {
  if (g_log.counted > 0)
    wd_log('W', "sign-on refused %u more time(s) in %u s (the last: terminal %s, user '%s')",
           g_log.counted, LOG_WINDOW_MS / 1000u, g_log.termid, g_log.name);
  g_log.counted = 0;
  g_log.window_ms = 0;
}

/* One refusal: logged when no window is open (which opens one), else counted. */
static void log_refusal(const wd_signon *j, uint64_t now) {
  if (g_log.window_ms != 0 && now - g_log.window_ms < LOG_WINDOW_MS) {
    g_log.counted++;
    strcpy(g_log.termid, j->termid);
    strcpy(g_log.name, j->name);
    return;
  }
  log_flush();
  g_log.window_ms = now;
  wd_log('W',
         "terminal %s: sign-on refused for user '%s' (more refusals in the next %u s are "
         "counted, not logged one by one)",
         j->termid, j->name, LOG_WINDOW_MS / 1000u);
}

/* ---- Jobs (g_lock held) ---------------------------------------------------------------- */

static void job_free(wd_signon *j) {
  if (j->password != NULL) {
    SecureZeroMemory(j->password, strlen(j->password));
    free(j->password);
  }
  free(j);
}

static void job_unlist(wd_signon *j) {
  for (wd_signon **p = &g_jobs; *p != NULL; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      return;
    }
}

/* The answer is known: give it at due_ms (after the delay), or now. */
static void job_answer(wd_signon *j, int result, uint64_t due) {
  j->result = result;
  j->due_ms = due;
  j->phase = P_DELAY;
  if (due <= now_ms()) {
    j->phase = P_DONE;
    wd_net_wake();
  }
}

/* A failed check (or a locked user): count it, lock the user at the
 * limit, log, and answer after the longer of the two delays. */
static void job_failed(wd_signon *j, ustate *st, int result, uint64_t now) {
  unsigned n = j->conn_fails + 1;
  if (st != NULL && result == WD_SIGNON_FAILED) {
    st->fails++;
    st->next_ms = now + delay_for(st->fails);
    unsigned limit = wd.def->region.signon_lockout;
    if (limit != 0 && st->fails >= limit && !st->locked) {
      st->locked = true;
      wd_log('W',
             "user %s is locked after %u failed sign-ons in a row (the last on terminal "
             "%s): the operator's UNLOCK USER %s lets it sign on again",
             st->user->name, st->fails, j->termid, st->user->name);
    }
  }
  if (st != NULL && st->fails > n)
    n = st->fails;
  log_refusal(j, now);
  job_answer(j, result, now + delay_for(n));
}

/* The check of j ended with ok. */
static void job_checked(wd_signon *j, bool ok, uint64_t now) {
  ustate *st = j->user != NULL ? ustate_of(j->user, false) : NULL;
  if (st != NULL && st->pending > 0)
    st->pending--;
  if (st != NULL && st->locked) /* locked while it was checked */
    job_failed(j, st, WD_SIGNON_LOCKED, now);
  else if (ok) {
    if (st != NULL)
      st->fails = 0, st->next_ms = 0;
    job_answer(j, WD_SIGNON_OK, now);
  } else
    job_failed(j, st, WD_SIGNON_FAILED, now);
  if (j->cancelled) { /* counted, but nobody waits for the answer */
    job_unlist(j);
    job_free(j);
  }
}

/* A held job j (P_HELD) of user st: refused when st is locked (no password
 * of a locked user is checked), counted as an attempt and queued (P_WAIT
 * or P_QUEUED) when the checks in flight can no longer lock st, else left
 * held. */
static void job_release(wd_signon *j, uint64_t now) {
  ustate *st = j->user != NULL ? ustate_of(j->user, false) : NULL;
  if (st != NULL && st->locked) {
    job_failed(j, st, WD_SIGNON_LOCKED, now);
    return;
  }
  if (lockout_reached(st))
    return;
  if (st != NULL)
    st->pending++;
  j->due_ms = st != NULL && st->next_ms > now ? st->next_ms : now;
  j->phase = j->due_ms > now ? P_WAIT : P_QUEUED;
}

/* The next job to check, now due (made HASHING), or NULL; answers whose
 * delay is over become DONE, cancelled jobs are freed, and *next is the
 * earliest time something else falls due. */
static wd_signon *job_due(uint64_t now, uint64_t *next) {
  wd_signon *pick = NULL;
  for (wd_signon **p = &g_jobs; *p != NULL;) {
    wd_signon *j = *p;
    if (j->cancelled && j->phase != P_HASHING) {
      *p = j->next;
      job_free(j);
      continue;
    }
    if (j->phase == P_HELD)
      job_release(j, now);
    if (j->phase == P_DELAY && j->due_ms <= now) {
      j->phase = P_DONE;
      wd_net_wake();
    } else if (j->phase == P_WAIT && j->due_ms <= now) {
      j->phase = P_QUEUED;
    }
    if (pick == NULL && j->phase == P_QUEUED)
      pick = j;
    else if ((j->phase == P_WAIT || j->phase == P_DELAY) && j->due_ms < *next)
      *next = j->due_ms;
    p = &j->next;
  }
  if (pick != NULL)
    pick->phase = P_HASHING;
  for (wd_signon *j = pick != NULL ? pick->next : NULL; j != NULL; j = j->next)
    if (j->phase == P_QUEUED) { /* more work: another sign-on thread may take it */
      WakeConditionVariable(&g_cv);
      break;
    }
  return pick;
}

/* ---- The sign-on threads ------------------------------------------------------------------ */

static DWORD WINAPI signon_main(void *arg) {
  (void)arg;
  AcquireSRWLockExclusive(&g_lock);
  while (!g_stop) {
    uint64_t now = now_ms(), next = UINT64_MAX;
    wd_signon *j = job_due(now, &next);
    if (g_log.window_ms != 0 && now - g_log.window_ms >= LOG_WINDOW_MS)
      log_flush();
    else if (g_log.window_ms != 0 && g_log.counted > 0 && g_log.window_ms + LOG_WINDOW_MS < next)
      next = g_log.window_ms + LOG_WINDOW_MS;
    if (j == NULL) {
      DWORD ms = next == UINT64_MAX ? INFINITE : (DWORD)(next - now);
      SleepConditionVariableSRW(&g_cv, &g_lock, ms, 0);
      continue;
    }
    ReleaseSRWLockExclusive(&g_lock);
    /* An unknown user costs a check of the dummy, as a known one would. */
    bool ok =
        wdef_password_ok(j->user != NULL ? j->user : &g_dummy, j->password) && j->user != NULL;
    SecureZeroMemory(j->password, strlen(j->password));
    AcquireSRWLockExclusive(&g_lock);
    job_checked(j, ok, now_ms());
  }
  ReleaseSRWLockExclusive(&g_lock);
  return 0;
}

wd_signon *wd_signon_submit(const char *termid, const char *name, const char *password,
                            unsigned conn_fails) {
  wd_signon *j = calloc(1, sizeof *j);
  if (j == NULL || (j->password = _strdup(password)) == NULL) {
    free(j);
    return NULL;
  }
  snprintf(j->termid, sizeof j->termid, "%s", termid);
  snprintf(j->name, sizeof j->name, "%s", name);
  j->user = wd_find_user(name);
  j->conn_fails = conn_fails;
  AcquireSRWLockExclusive(&g_lock);
  uint64_t now = now_ms();
  if (j->user != NULL)
    (void)ustate_of(j->user, true); /* its entry (none without memory: not counted) */
  wd_signon **tail = &g_jobs; /* in arrival order: the oldest is checked first */
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = j;
  j->phase = P_HELD;
  job_release(j, now);
  WakeAllConditionVariable(&g_cv);
  ReleaseSRWLockExclusive(&g_lock);
  return j;
}

int wd_signon_take(wd_signon *j, const wdef_user **user) {
  AcquireSRWLockExclusive(&g_lock);
  int r = j->phase == P_DONE ? j->result : WD_SIGNON_PENDING;
  if (r != WD_SIGNON_PENDING)
    job_unlist(j);
  ReleaseSRWLockExclusive(&g_lock);
  if (r != WD_SIGNON_PENDING) {
    *user = j->user;
    job_free(j);
  }
  return r;
}

void wd_signon_cancel(wd_signon *j) {
  AcquireSRWLockExclusive(&g_lock);
  bool own = j->phase != P_HASHING;
  if (j->phase == P_WAIT || j->phase == P_QUEUED) { /* never checked: not an attempt */
    ustate *st = j->user != NULL ? ustate_of(j->user, false) : NULL;
    if (st != NULL && st->pending > 0)
      st->pending--;
  }
  if (own)
    job_unlist(j);
  else
    j->cancelled = true; /* freed by job_checked */
  ReleaseSRWLockExclusive(&g_lock);
  if (own)
    job_free(j);
}

/* ---- UNLOCK USER ---------------------------------------------------------------------------- */

void wd_signon_unlock(const char *name, wd_out_fn out, void *ctx) {
  char line[200];
  const wdef_user *u = wd_find_user(name);
  if (u == NULL) {
    snprintf(line, sizeof line, "UNLOCK USER %.32s: no such user", name);
    out(ctx, line);
    return;
  }
  AcquireSRWLockExclusive(&g_lock);
  ustate *st = ustate_of(u, false);
  bool was = st != NULL && st->locked;
  unsigned fails = st != NULL ? st->fails : 0;
  if (st != NULL)
    st->locked = false, st->fails = 0, st->next_ms = 0;
  ReleaseSRWLockExclusive(&g_lock);
  if (was)
    snprintf(line, sizeof line, "UNLOCK USER %s: unlocked (%u failed sign-ons cleared)", u->name,
             fails);
  else
    snprintf(line, sizeof line, "UNLOCK USER %s: not locked (%u failed sign-ons cleared)", u->name,
             fails);
  out(ctx, line);
  wd_log('I', "operator: UNLOCK USER %s: %s", u->name, was ? "unlocked" : "was not locked");
}

/* ---- Start and stop -------------------------------------------------------------------------- */

#define WARN_MAX 20 /* warnings about weak hashes per file; then a count */

void wd_signon_check_file(const wdef_file *f) {
  unsigned shown = 0, more = 0;
  for (size_t i = 0; i < f->n_users; i++) {
    const wdef_user *u = &f->users[i];
    bool old = u->scheme == WDEF_SCHEME_SHA256;
    if (!old && u->iterations >= WDEF_ITERATIONS_RECOMMENDED)
      continue;
    if (shown++ >= WARN_MAX) {
      more++;
      continue;
    }
    if (old)
      wd_log('W',
             "USER %s (%s:%d) has an old SHA-256 hash, which a GPU tries billions of times "
             "a second: it still works, but make a PBKDF2 one with weftd --hash-password",
             u->name, f->path, u->line);
    else
      wd_log('W',
             "USER %s (%s:%d): its hash has %u PBKDF2 iterations, below the recommended "
             "%u (guessing it costs less): fine for tests and demonstrations; make a new "
             "one with weftd --hash-password",
             u->name, f->path, u->line, u->iterations, WDEF_ITERATIONS_RECOMMENDED);
  }
  if (more > 0)
    wd_log('W', "%s: %u more users have weak hashes", f->path, more);
}

/* The dummy checked for unknown users costs what the first user's does. */
static void dummy_init(void) {
  g_dummy.scheme = WDEF_SCHEME_PBKDF2;
  g_dummy.iterations = WDEF_ITERATIONS_RECOMMENDED;
  for (size_t i = 0; i < wd.def->n_users; i++)
    if (wd.def->users[i].scheme == WDEF_SCHEME_PBKDF2) {
      g_dummy.iterations = wd.def->users[i].iterations;
      break;
    }
  g_dummy.salt_len = WDEF_SALT_NEW;
  wdef_random_os(NULL, g_dummy.salt, g_dummy.salt_len);
  wdef_random_os(NULL, g_dummy.hash, sizeof g_dummy.hash);
}

int wd_signon_start(void) {
  if (!wd.def->region.signon)
    return 0;
  wd_signon_check_file(wd.def);
  dummy_init();
  for (int i = 0; i < SIGNON_THREADS; i++)
    if ((g_threads[i] = CreateThread(NULL, 0, signon_main, NULL, 0, NULL)) == NULL) {
      wd_log('E', "cannot start a sign-on thread (error %lu)", GetLastError());
      return -1;
    }
  return 0;
}

void wd_signon_stop(void) {
  AcquireSRWLockExclusive(&g_lock);
  g_stop = true;
  WakeAllConditionVariable(&g_cv);
  ReleaseSRWLockExclusive(&g_lock);
  for (int i = 0; i < SIGNON_THREADS; i++)
    if (g_threads[i] != NULL) {
      WaitForSingleObject(g_threads[i], INFINITE);
      CloseHandle(g_threads[i]);
      g_threads[i] = NULL;
    }
  AcquireSRWLockExclusive(&g_lock);
  log_flush();
  while (g_jobs != NULL) {
    wd_signon *j = g_jobs;
    g_jobs = j->next;
    job_free(j);
  }
  ReleaseSRWLockExclusive(&g_lock);
}

/* ---- weftd --hash-password ----------------------------------------------------- */

/* Can SIGNON carry pw? 1 to WD_PASSWORD_MAX printable characters, no blank. */
static bool password_ok(const char *pw) {
  size_t n = strlen(pw);
  if (n == 0 || n > WD_PASSWORD_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (pw[i] <= 0x20 || pw[i] > 0x7E)
      return false;
  return true;
}

/* One line from stdin into buf (no echo on a console). false at EOF. */
static bool read_password(char *buf, size_t cap) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  DWORD mode = 0;
  bool console = GetConsoleMode(in, &mode) != 0;
  if (console) {
    fprintf(stderr, "password: ");
    SetConsoleMode(in, mode & ~(DWORD)ENABLE_ECHO_INPUT);
  }
  bool got = fgets(buf, (int)cap, stdin) != NULL;
  if (console) {
    SetConsoleMode(in, mode);
    fprintf(stderr, "\n");
  }
  if (got)
    buf[strcspn(buf, "\r\n")] = '\0';
  return got;
}

int wd_hash_password_main(int argc, char **argv) {
  unsigned long iterations = WDEF_ITERATIONS_RECOMMENDED;
  int i = 0;
  if (i + 1 < argc && strcmp(argv[i], "--iterations") == 0) {
    char *end;
    iterations = strtoul(argv[i + 1], &end, 10);
    if (*argv[i + 1] == '\0' || *end != '\0' || iterations < 1 ||
        iterations > WDEF_ITERATIONS_MAX) {
      fprintf(stderr, "weftd: --iterations takes 1..%u (recommended: %u)\n", WDEF_ITERATIONS_MAX,
              WDEF_ITERATIONS_RECOMMENDED);
      return 1;
    }
    i += 2;
  }
  char line[WD_PASSWORD_MAX + 2];
  const char *pw = line;
  if (i + 1 == argc)
    pw = argv[i];
  else if (i != argc || !read_password(line, sizeof line)) {
    fprintf(stderr, "usage: weftd --hash-password [--iterations N] [PASSWORD]\n"
                    "  (without PASSWORD it is read from the standard input)\n");
    return 1;
  }
  if (!password_ok(pw)) {
    fprintf(stderr,
            "weftd: a password is 1 to %d printable ASCII characters without blanks "
            "(SIGNON's words are separated by blanks)\n",
            WD_PASSWORD_MAX);
    return 1;
  }
  char hash[WDEF_HASH_TEXT_SIZE];
  if (wdef_make_hash(pw, (unsigned)iterations, NULL, NULL, hash) != 0) {
    fprintf(stderr, "weftd: bcrypt.dll cannot make the hash (no random source or PBKDF2)\n");
    return 2;
  }
  if (iterations < WDEF_ITERATIONS_RECOMMENDED)
    fprintf(stderr,
            "weftd: %lu iterations is below the recommended %u: fine for tests and "
            "demonstrations, not for real passwords\n",
            iterations, WDEF_ITERATIONS_RECOMMENDED);
  printf("hash=%s\n", hash);
  return 0;
}
