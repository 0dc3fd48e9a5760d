/* session.c - one terminal session: the line protocol of docs/terminal.md,
 * sign-on and authorization, starting transactions on the session's
 * weft_terminal, and that terminal's callbacks.
 *
 * Ownership: the network thread owns a session's socket, its input
 * assembly and its queue of complete lines, and alone frees it. ss->lock
 * guards what the terminal callbacks (weft workers, under the terminal's
 * lock) share with it: the output buffer and the state (S_*, receiving,
 * the pseudo-conversation). Lock order: terminal lock, then ss->lock; the
 * network thread never calls weft_terminal_* while holding ss->lock.
 * Sending output (out_send) is done under ss->lock by the network thread
 * or by the worker in a callback; accepting, reading and closing the
 * socket by the network thread only (weft_terminal_release, before the
 * socket is closed, guarantees that no callback runs any more).
 *
 * Output path (README.md, "The network thread"): cb_send only queues
 * (the output is held back while the task runs, WD_HOLD_*); when the task
 * asks for input or ends, the worker sends the output and the prompt in
 * one send, and wakes the network thread only when it must look at the
 * session (output left over, lines typed ahead, the end of input, a
 * failure).
 *
 * Clients that misbehave (docs/terminal.md): a session whose unsent output
 * passes OUT_MAX reads no more input and is closed at once; one that is
 * closing (after %BYE) or whose client half-closed is closed when its
 * output has not moved for CLOSE_MS; the idle clock counts complete lines
 * only; sign-on has signon_timeout; telnet negotiation is refused and
 * never reaches a line. */
#include <stdio.h>
#include <stdlib.h>

#include "weftd.h"

#define OUT_MAX (1u << 20) /* output a slow client may leave unread */
#define QUEUE_MAX 64       /* complete lines waiting for the task */
#define CLOSE_MS 10000u    /* a closing session's output may stand still this long */

/* Telnet (RFC 854): the bytes of its commands, and the filter's states. */
enum { TN_SE = 240, TN_SB = 250, TN_WILL = 251, TN_WONT, TN_DO, TN_DONT, TN_IAC };
enum { TN_DATA, TN_CMD, TN_OPT, TN_SUB, TN_SUB_IAC };

enum { S_IDLE, S_NEXT, S_RUNNING };

typedef struct qline {
  struct qline *next;
  size_t len;
  char text[];
} qline;

struct wd_session {
  SOCKET sock;
  char termid[WEFT_NAME_MAX + 1];
  weft_terminal *term;
  uint32_t addr;    /* the client's IPv4 address, network order */
  uint64_t last_ms; /* the last complete input line (network thread) */
  /* -- Input assembly and queue: network thread -------------------------- */
  char *line;
  size_t line_len;
  bool overlong;
  bool input_ended;       /* the client closed its side: no more input */
  unsigned char tn_state; /* TN_*: where the telnet filter is */
  unsigned char tn_cmd;   /* TN_WILL..TN_DONT: the command of an option */
  uint64_t signed_off_ms; /* since when nobody is signed on */
  qline *q_head, *q_tail;
  unsigned q_n;
  /* Written by the network thread before it takes ss->lock to look at the
   * state, read by the callbacks after they drop it: the network thread
   * must look at the session when the task ends or asks for input. */
  _Atomic bool net_look;
  wd_signon *signon;     /* a SIGNON being checked: input waits (signon.c) */
  unsigned signon_fails; /* failed SIGNONs in a row on this connection */
  /* -- Under lock ---------------------------------------------------------- */
  SRWLOCK lock;
  char *out;
  size_t out_len, out_off, out_cap;
  bool out_failed;       /* over OUT_MAX: the client does not read */
  bool closing;          /* close once the output is sent */
  uint64_t out_moved_ms; /* output last sent, or queued when none was left */
  int state;             /* S_* */
  bool receiving;        /* the task waits in weft_receive */
  wd_pseudo pseudo;      /* the next transaction and its COMMAREA */
  char user[WEFT_NAME_MAX + 1];
  const wdef_user *userdef;
  char cur_tran[WEFT_NAME_MAX + 1];
  uint64_t cur_task;
  uint64_t prompt_ms; /* when the last task ended (idle time counts from it) */
  /* -- The server's list (g_lock) -------------------------------------------- */
  wd_session *prev, *next;
};

static SRWLOCK g_lock = SRWLOCK_INIT;
static wd_session *g_list;
static int g_count;

static uint64_t now_ms(void) {
  return GetTickCount64();
}

/* ---- Output (ss->lock held) ----------------------------------------------- */

static bool out_put(wd_session *ss, const char *p, size_t n) {
  if (ss->out_failed)
    return false;
  if (ss->out_off > 0 && ss->out_off == ss->out_len)
    ss->out_off = ss->out_len = 0;
  if (ss->out_len == 0)
    ss->out_moved_ms = now_ms();
  if (ss->out_len + n > ss->out_cap) {
    if (ss->out_len - ss->out_off + n > OUT_MAX) {
      ss->out_failed = true;
      return false;
    }
    size_t cap = ss->out_cap ? ss->out_cap : 4096;
    while (cap < ss->out_len + n)
      cap *= 2;
    char *nb = realloc(ss->out, cap);
    if (nb == NULL) {
      ss->out_failed = true;
      return false;
    }
    ss->out = nb;
    ss->out_cap = cap;
  }
  memcpy(ss->out + ss->out_len, p, n);
  ss->out_len += n;
  return true;
}

/* Send what the socket takes now (by whoever holds ss->lock): 1 if some is
 * left, 0 if none, -1 if the socket failed. One send for all of it unless
 * the socket takes less. */
static int out_send(wd_session *ss, _Atomic unsigned long long *counter) {
  int rc = 0;
  while (ss->out_len > ss->out_off) {
    wd_count(counter);
    int n = send(ss->sock, ss->out + ss->out_off, (int)(ss->out_len - ss->out_off), 0);
    if (n > 0) {
      ss->out_off += (size_t)n;
      ss->out_moved_ms = now_ms();
      continue;
    }
    rc = WSAGetLastError() == WSAEWOULDBLOCK ? 1 : -1;
    break;
  }
  if (ss->out_off == ss->out_len)
    ss->out_off = ss->out_len = 0;
  return rc;
}

/* Is the output held back (ss->lock held)? While a task runs and does not
 * wait for input, its output waits for the prompt, so that both go out in
 * one send: up to WD_HOLD_BYTES or WD_HOLD_MS after it was queued. */
static bool out_held(const wd_session *ss, uint64_t now) {
  return ss->state == S_RUNNING && !ss->receiving && !ss->closing && !ss->out_failed &&
         ss->out_len - ss->out_off < WD_HOLD_BYTES && now >= ss->out_moved_ms &&
         now - ss->out_moved_ms < WD_HOLD_MS;
}

/* A control line: "%" + text + CRLF. */
static void out_ctl(wd_session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_ctl(wd_session *ss, const char *fmt, ...) {
  char buf[600];
  buf[0] = '%';
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + 1, sizeof buf - 3, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t len = 1 + ((size_t)n < sizeof buf - 3 ? (size_t)n : sizeof buf - 4);
  memcpy(buf + len, "\r\n", 2);
  out_put(ss, buf, len + 2);
}

/* Program output: every line ends CRLF; a leading '%' is doubled. */
static bool out_text(wd_session *ss, const char *p, size_t n) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) : n;
    size_t body = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
    if ((body > 0 && p[0] == '%' && !out_put(ss, "%", 1)) || !out_put(ss, p, body) ||
        !out_put(ss, "\r\n", 2))
      return false;
    p += nl ? len + 1 : len;
    n -= nl ? len + 1 : len;
  }
  return true;
}

/* The prompt for the state the session is in (ss->lock held). */
static void prompt(wd_session *ss) {
  if (ss->state == S_NEXT)
    out_ctl(ss, "NEXT %s", ss->pseudo.tran);
  else if (ss->state == S_IDLE)
    out_ctl(ss, "READY");
  else if (ss->receiving) /* a refused line at %INPUT: ask again */
    out_ctl(ss, "INPUT");
}

/* Must the network thread look at ss when its task ends or asks for
 * input? Yes with lines waiting or its input ended (network thread, after
 * every change of either, before it next takes ss->lock). */
static void look_update(wd_session *ss) {
  atomic_store(&ss->net_look, ss->q_head != NULL || ss->input_ended);
}

/* ---- Pseudo-conversations (line and 3270 sessions, under their lock) ------ */

void wd_pseudo_clear(wd_pseudo *p) {
  free(p->ca);
  p->ca = NULL;
  p->ca_len = 0;
  p->tran[0] = '\0';
}

bool wd_pseudo_keep(wd_pseudo *p, const weft_task_end *end) {
  void *ca = end->commarea_len ? malloc(end->commarea_len) : NULL;
  if (end->commarea_len != 0 && ca == NULL)
    return false;
  if (ca != NULL)
    memcpy(ca, end->commarea, end->commarea_len);
  p->ca = ca;
  p->ca_len = end->commarea_len;
  strcpy(p->tran, end->next_tranid);
  return true;
}

void wd_pseudo_take(wd_pseudo *p, char tran[WEFT_NAME_MAX + 1], void **ca, size_t *ca_len) {
  strcpy(tran, p->tran);
  *ca = p->ca;
  *ca_len = p->ca_len;
  p->ca = NULL;
  p->ca_len = 0;
}

/* ---- Terminal callbacks (weft workers, under the terminal's lock) ---------- */

/* The prompt is queued (ss->lock held, released here): send the output
 * from this worker, and wake the network thread only when it has to look
 * at the session (output left over or failed, lines waiting, input
 * ended). */
static void cb_flush_unlock(wd_session *ss) {
  int f = ss->out_failed ? -1 : out_send(ss, &wd_nc.sends_worker);
  bool closing = ss->closing;
  ReleaseSRWLockExclusive(&ss->lock);
  if (f != 0 || closing || atomic_load(&ss->net_look))
    wd_net_wake();
}

static int cb_send(void *ctx, const void *data, size_t len) {
  wd_session *ss = ctx;
  AcquireSRWLockExclusive(&ss->lock);
  bool ok = out_text(ss, data, len);
  /* Held back (out_held) until the prompt; a lot of it goes out now. */
  if (!ok || ss->out_len - ss->out_off >= WD_HOLD_BYTES) {
    cb_flush_unlock(ss);
  } else {
    ReleaseSRWLockExclusive(&ss->lock);
  }
  return ok ? 0 : WEFT_ESTATE;
}

static void cb_receiving(void *ctx) {
  wd_session *ss = ctx;
  AcquireSRWLockExclusive(&ss->lock);
  ss->receiving = true;
  out_ctl(ss, "INPUT");
  cb_flush_unlock(ss);
}

static void cb_ended(void *ctx, const weft_task_end *end) {
  wd_session *ss = ctx;
  AcquireSRWLockExclusive(&ss->lock);
  ss->receiving = false;
  ss->cur_tran[0] = '\0';
  ss->cur_task = 0;
  wd_pseudo_clear(&ss->pseudo);
  ss->state = S_IDLE;
  ss->prompt_ms = now_ms();
  if (end->abcode[0] != '\0') {
    out_ctl(ss, "ERROR ABEND %s task %llu (%s)", end->abcode, (unsigned long long)end->task_no,
            end->tranid);
  } else if (end->next_tranid != NULL) {
    if (wd_pseudo_keep(&ss->pseudo, end))
      ss->state = S_NEXT;
    else
      out_ctl(ss, "ERROR ABEND ASP1 no storage for the COMMAREA");
  }
  prompt(ss);
  cb_flush_unlock(ss);
}

static const weft_terminal_ops term_ops = {cb_send, cb_receiving, cb_ended};

/* ---- Life ------------------------------------------------------------------ */

wd_session *wd_session_new(SOCKET s, unsigned long long no, uint32_t addr) {
  wd_session *ss = calloc(1, sizeof *ss);
  if (ss == NULL || (ss->line = malloc(wd.def->region.max_line + 1)) == NULL) {
    free(ss);
    return NULL;
  }
  ss->sock = s;
  ss->addr = addr;
  InitializeSRWLock(&ss->lock);
  snprintf(ss->termid, sizeof ss->termid, "T%04llu", no % 10000000ull);
  if (weft_terminal_create(wd.region, ss->termid, &term_ops, ss, &ss->term) != 0) {
    free(ss->line);
    free(ss);
    return NULL;
  }
  weft_terminal_set_receive_timeout(ss->term, wd.def->region.receive_timeout_s * 1000u);
  ss->last_ms = ss->signed_off_ms = now_ms();
  AcquireSRWLockExclusive(&ss->lock);
  out_ctl(ss, "WEFT %s TERMINAL %s", wd.def->region.name, ss->termid);
  if (wd.def->region.greeting != NULL)
    out_text(ss, wd.def->region.greeting, strlen(wd.def->region.greeting));
  prompt(ss);
  ReleaseSRWLockExclusive(&ss->lock);
  AcquireSRWLockExclusive(&g_lock);
  ss->next = g_list;
  if (g_list != NULL)
    g_list->prev = ss;
  g_list = ss;
  g_count++;
  ReleaseSRWLockExclusive(&g_lock);
  return ss;
}

void wd_session_gone(wd_session *ss, bool peer_closed) {
  AcquireSRWLockExclusive(&g_lock);
  if (ss->prev != NULL)
    ss->prev->next = ss->next;
  else
    g_list = ss->next;
  if (ss->next != NULL)
    ss->next->prev = ss->prev;
  g_count--;
  ReleaseSRWLockExclusive(&g_lock);
  if ((peer_closed || ss->input_ended) && ss->state == S_RUNNING)
    wd_log('W', "terminal %s disconnected while task %llu (%s) ran: it is abended ATNI", ss->termid,
           (unsigned long long)ss->cur_task, ss->cur_tran);
  weft_terminal_release(ss->term); /* no callback runs after this */
  if (ss->signon != NULL)
    wd_signon_cancel(ss->signon);
  closesocket(ss->sock);
  while (ss->q_head != NULL) {
    qline *q = ss->q_head;
    ss->q_head = q->next;
    free(q);
  }
  wd_pseudo_clear(&ss->pseudo);
  free(ss->out);
  free(ss->line);
  free(ss);
}

SOCKET wd_session_socket(wd_session *ss) {
  return ss->sock;
}

uint32_t wd_session_addr(wd_session *ss) {
  return ss->addr;
}

void wd_session_bye(wd_session *ss, const char *why) {
  AcquireSRWLockExclusive(&ss->lock);
  if (!ss->closing)
    out_ctl(ss, "BYE %s", why);
  ss->closing = true;
  ReleaseSRWLockExclusive(&ss->lock);
}

bool wd_session_closing(wd_session *ss) {
  AcquireSRWLockShared(&ss->lock);
  bool c = ss->closing || ss->out_failed;
  ReleaseSRWLockShared(&ss->lock);
  return c;
}

bool wd_session_has_output(wd_session *ss, uint64_t now, uint64_t *hold_ms) {
  AcquireSRWLockShared(&ss->lock);
  bool has = ss->out_len > ss->out_off, held = has && out_held(ss, now);
  uint64_t left = held ? WD_HOLD_MS - (now - ss->out_moved_ms) : 0;
  ReleaseSRWLockShared(&ss->lock);
  if (held && left < *hold_ms)
    *hold_ms = left;
  return has && !held;
}

int wd_session_flush(wd_session *ss) {
  AcquireSRWLockExclusive(&ss->lock);
  int rc = out_held(ss, now_ms()) ? 0 : out_send(ss, &wd_nc.sends_net);
  ReleaseSRWLockExclusive(&ss->lock);
  return rc;
}

bool wd_session_wants_input(wd_session *ss) {
  return ss->q_n < QUEUE_MAX && !ss->input_ended && !wd_session_closing(ss);
}

bool wd_session_done(wd_session *ss, bool blocked, uint64_t now) {
  AcquireSRWLockShared(&ss->lock);
  bool failed = ss->out_failed, closing = ss->closing;
  uint64_t moved = ss->out_moved_ms;
  unsigned long long unsent = ss->out_len - ss->out_off;
  ReleaseSRWLockShared(&ss->lock);
  if (failed) {
    wd_log('W',
           "terminal %s does not read its output (%llu bytes unsent, over the %u KiB limit): "
           "its input is no longer read and it is closed",
           ss->termid, unsent, OUT_MAX / 1024u);
    return true;
  }
  if (!blocked)
    return closing;
  if ((closing || ss->input_ended) && now > moved && now - moved > CLOSE_MS) {
    wd_log('W', "terminal %s has not read its output for %u s after %s: closed", ss->termid,
           CLOSE_MS / 1000u, closing ? "%BYE" : "the end of its input");
    return true;
  }
  return false;
}

/* ---- Starting transactions (network thread) ---------------------------------- */

static const char *start_error(int rc, const char **text) {
  switch (rc) {
    case WEFT_ENOTRAN:
    case WEFT_EBADNAME:
      *text = "no such transaction";
      return "UNKNOWN_TRAN";
    case WEFT_EDISABLED:
      *text = "the transaction is disabled";
      return "DISABLED";
    case WEFT_EBUSY:
      *text = "the region or the transaction's class is full: abend AKCC";
      return "BUSY";
    case WEFT_ESHUTDOWN:
      *text = "the region is shutting down";
      return "SHUTDOWN";
    default:
      *text = weft_strerror(rc);
      return "BUSY";
  }
}

/* May this session run tranid? NULL, or the refusal's code (and text). */
static const char *authorize(wd_session *ss, const char *tranid, const char **text) {
  const wdef_region *reg = &wd.def->region;
  if (strcmp(tranid, "WEFT") == 0) {
    *text = "operator commands need a user of the operator group";
    return wdef_user_in_group(ss->userdef, reg->operator_group) ? NULL : "NOT_AUTHORIZED";
  }
  if (reg->signon && ss->userdef == NULL) {
    *text = "sign on first: SIGNON <user> <password>";
    return "SIGNON_REQUIRED";
  }
  const wdef_transaction *t = wd_find_transaction(tranid);
  *text = "you may not run this transaction";
  return t == NULL || wdef_may_run(ss->userdef, t) ? NULL : "NOT_AUTHORIZED";
}

/* Start tranid with data (and a COMMAREA); on failure say why and prompt. */
static void start_tran(wd_session *ss, const char *tranid, const char *data, size_t len,
                       const void *ca, size_t ca_len) {
  const char *code = NULL, *text = NULL;
  if (atomic_load(&wd.stopping)) {
    code = "SHUTDOWN";
    text = "the region is shutting down";
  } else if (weft_transaction_is_enabled(wd.region, tranid) == WEFT_ENOTRAN) {
    code = "UNKNOWN_TRAN";
    text = "no such transaction";
  } else {
    code = authorize(ss, tranid, &text);
  }
  int rc = 0;
  uint64_t no = 0;
  AcquireSRWLockExclusive(&ss->lock);
  int was = ss->state;
  if (code == NULL) {
    ss->state = S_RUNNING;
    ss->receiving = false;
    strcpy(ss->cur_tran, tranid);
  }
  ReleaseSRWLockExclusive(&ss->lock);
  if (code == NULL) {
    weft_start_opts o;
    weft_start_opts_init(&o);
    o.terminal = ss->term;
    o.userid = ss->user[0] ? ss->user : NULL;
    o.commarea = ca;
    o.commarea_len = ca_len;
    rc = weft_start(wd.region, tranid, data, len, &o, &no);
    if (rc != 0)
      code = start_error(rc, &text);
    else
      wd_count(&wd_nc.txns);
  }
  AcquireSRWLockExclusive(&ss->lock);
  if (code != NULL) {
    if (ss->state == S_RUNNING)
      ss->state = was == S_RUNNING ? S_IDLE : was;
    if (ss->state == S_NEXT) { /* a failed continuation ends the conversation */
      wd_pseudo_clear(&ss->pseudo);
      ss->state = S_IDLE;
    }
    ss->cur_tran[0] = '\0';
    out_ctl(ss, "ERROR %s %s", code, text);
    prompt(ss);
  } else if (ss->state == S_RUNNING && ss->cur_task == 0) {
    ss->cur_task = no;
  }
  ReleaseSRWLockExclusive(&ss->lock);
}

/* ---- Built-in commands ------------------------------------------------------ */

static bool word_is(const char *w, size_t n, const char *kw) {
  return n == strlen(kw) && _strnicmp(w, kw, n) == 0;
}

/* The next blank-separated word of *p (at most cap - 1 characters) into
 * out; its length (cap or more: too long), 0 at the end. */
static size_t next_word(const char **p, char *out, size_t cap) {
  const char *s = *p + strspn(*p, " \t");
  size_t n = strcspn(s, " \t");
  snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
  *p = s + n;
  return n;
}

/* SIGNON <user> <password>: whoever was signed on is signed off first;
 * the password is checked on a sign-on thread (signon_done answers). */
static void signon(wd_session *ss, const char *args) {
  char user[64], pass[WD_PASSWORD_MAX + 1], extra[2];
  size_t un = next_word(&args, user, sizeof user), pn = next_word(&args, pass, sizeof pass);
  bool usage = un == 0 || pn == 0 || next_word(&args, extra, sizeof extra) != 0;
  if (ss->userdef != NULL)
    ss->signed_off_ms = now_ms();
  AcquireSRWLockExclusive(&ss->lock);
  ss->user[0] = '\0';
  ss->userdef = NULL;
  ReleaseSRWLockExclusive(&ss->lock);
  const char *refusal = NULL;
  if (usage)
    refusal = "usage: SIGNON <user> <password> (two words)";
  else if (pn > WD_PASSWORD_MAX)
    refusal = "the password is longer than 256 characters";
  else if ((ss->signon = wd_signon_submit(ss->termid, user, pass, ss->signon_fails)) == NULL)
    refusal = "no storage to check the password: try again";
  SecureZeroMemory(pass, sizeof pass);
  if (refusal != NULL) {
    AcquireSRWLockExclusive(&ss->lock);
    out_ctl(ss, "ERROR SIGNON_FAILED %s", refusal);
    prompt(ss);
    ReleaseSRWLockExclusive(&ss->lock);
  }
}

/* Is the SIGNON being checked answered? Then say so and prompt. */
static bool signon_done(wd_session *ss) {
  const wdef_user *u;
  int r = wd_signon_take(ss->signon, &u);
  if (r == WD_SIGNON_PENDING)
    return false;
  ss->signon = NULL;
  ss->signon_fails = r == WD_SIGNON_OK ? 0 : ss->signon_fails + 1;
  AcquireSRWLockExclusive(&ss->lock);
  if (r == WD_SIGNON_OK) {
    strcpy(ss->user, u->name);
    ss->userdef = u;
    out_ctl(ss, "SIGNED ON %s", u->name);
  } else {
    out_ctl(ss, "ERROR SIGNON_FAILED wrong user or password, or the user is locked");
  }
  prompt(ss);
  ReleaseSRWLockExclusive(&ss->lock);
  return true;
}

static void signoff(wd_session *ss) {
  if (ss->userdef != NULL)
    ss->signed_off_ms = now_ms();
  AcquireSRWLockExclusive(&ss->lock);
  ss->user[0] = '\0';
  ss->userdef = NULL;
  out_ctl(ss, "SIGNED OFF");
  prompt(ss);
  ReleaseSRWLockExclusive(&ss->lock);
}

/* A complete, valid line at a prompt (not while a task runs). */
static void do_line(wd_session *ss, const char *line, size_t len) {
  AcquireSRWLockShared(&ss->lock);
  int state = ss->state;
  ReleaseSRWLockShared(&ss->lock);
  if (state == S_NEXT) {
    if (len == 6 && _strnicmp(line, "CANCEL", 6) == 0) {
      AcquireSRWLockExclusive(&ss->lock);
      wd_pseudo_clear(&ss->pseudo);
      ss->state = S_IDLE;
      prompt(ss);
      ReleaseSRWLockExclusive(&ss->lock);
      return;
    }
    /* Take the saved COMMAREA out first: the new task's end may save the
     * next one before start_tran returns. */
    char tran[WEFT_NAME_MAX + 1];
    AcquireSRWLockExclusive(&ss->lock);
    void *ca;
    size_t ca_len;
    wd_pseudo_take(&ss->pseudo, tran, &ca, &ca_len);
    ReleaseSRWLockExclusive(&ss->lock);
    start_tran(ss, tran, line, len, ca, ca_len);
    free(ca);
    return;
  }
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  const char *w = line + i;
  size_t wn = 0;
  while (i + wn < len && w[wn] != ' ' && w[wn] != '\t')
    wn++;
  const char *rest = w + wn;
  while (rest < line + len && (*rest == ' ' || *rest == '\t'))
    rest++;
  if (wn == 0) {
    AcquireSRWLockExclusive(&ss->lock);
    prompt(ss);
    ReleaseSRWLockExclusive(&ss->lock);
  } else if (word_is(w, wn, "QUIT")) {
    wd_session_bye(ss, "goodbye");
  } else if (wd.def->region.signon && word_is(w, wn, "SIGNON")) {
    signon(ss, rest);
  } else if (wd.def->region.signon && word_is(w, wn, "SIGNOFF")) {
    signoff(ss);
  } else if (word_is(w, wn, "SIGNON") || word_is(w, wn, "SIGNOFF")) {
    AcquireSRWLockExclusive(&ss->lock); /* and no transaction of that name */
    out_ctl(ss, "ERROR UNKNOWN_TRAN sign-on is not enabled in this region");
    prompt(ss);
    ReleaseSRWLockExclusive(&ss->lock);
  } else if (wn > WEFT_NAME_MAX) {
    AcquireSRWLockExclusive(&ss->lock);
    out_ctl(ss, "ERROR UNKNOWN_TRAN no such transaction");
    prompt(ss);
    ReleaseSRWLockExclusive(&ss->lock);
  } else {
    char tran[WEFT_NAME_MAX + 1];
    memcpy(tran, w, wn);
    tran[wn] = '\0';
    start_tran(ss, tran, rest, (size_t)(line + len - rest), NULL, 0);
  }
}

/* ---- Input (network thread) ------------------------------------------------------ */

static bool line_valid(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if ((c < 0x20 && c != '\t') || c > 0x7E)
      return false;
  }
  return true;
}

static void refuse_line(wd_session *ss, const char *code, const char *text) {
  AcquireSRWLockExclusive(&ss->lock);
  out_ctl(ss, "ERROR %s %s", code, text);
  prompt(ss);
  ReleaseSRWLockExclusive(&ss->lock);
}

/* A line ended (its LF seen): check it and queue it. */
static void line_end(wd_session *ss) {
  size_t n = ss->line_len;
  if (n > 0 && ss->line[n - 1] == '\r')
    n--;
  if (ss->overlong) {
    refuse_line(ss, "LINE_TOO_LONG", "the line is longer than the region's max_line");
  } else if (!line_valid(ss->line, n)) {
    refuse_line(ss, "BAD_INPUT", "only printable characters are accepted");
  } else {
    qline *q = malloc(sizeof *q + n + 1);
    if (q != NULL) {
      q->next = NULL;
      q->len = n;
      memcpy(q->text, ss->line, n);
      q->text[n] = '\0';
      if (ss->q_tail != NULL)
        ss->q_tail->next = q;
      else
        ss->q_head = q;
      ss->q_tail = q;
      ss->q_n++;
    }
  }
  ss->line_len = 0;
  ss->overlong = false;
  ss->last_ms = now_ms();
}

/* Answer a telnet option request: refuse it (DONT for WILL, WONT for DO);
 * WONT and DONT need no answer, so no negotiation loops. */
static void telnet_refuse(wd_session *ss, unsigned char cmd, unsigned char opt) {
  if (cmd != TN_WILL && cmd != TN_DO)
    return;
  unsigned char r[3] = {TN_IAC, cmd == TN_WILL ? TN_DONT : TN_WONT, opt};
  AcquireSRWLockExclusive(&ss->lock);
  out_put(ss, (const char *)r, sizeof r);
  ReleaseSRWLockExclusive(&ss->lock);
}

/* The telnet filter: is byte c input data (true), or part of a telnet
 * command (IAC ...; false)? IAC IAC is the data byte 0xFF. */
static bool telnet_data(wd_session *ss, unsigned char c) {
  switch (ss->tn_state) {
    case TN_DATA:
      if (c != TN_IAC)
        return true;
      ss->tn_state = TN_CMD;
      return false;
    case TN_CMD:
      ss->tn_state = TN_DATA;
      if (c == TN_IAC)
        return true;
      if (c >= TN_WILL && c <= TN_DONT) {
        ss->tn_cmd = c;
        ss->tn_state = TN_OPT;
      } else if (c == TN_SB) {
        ss->tn_state = TN_SUB;
      }
      return false; /* any other command (NOP, AYT, ...) is dropped */
    case TN_OPT:
      telnet_refuse(ss, ss->tn_cmd, c);
      ss->tn_state = TN_DATA;
      return false;
    case TN_SUB:
      if (c == TN_IAC)
        ss->tn_state = TN_SUB_IAC;
      return false;
    default: /* TN_SUB_IAC: IAC SE ends it, IAC IAC is its data */
      ss->tn_state = c == TN_SE ? TN_DATA : TN_SUB;
      return false;
  }
}

void wd_session_input(wd_session *ss, const char *data, size_t len) {
  unsigned max = wd.def->region.max_line;
  for (size_t i = 0; i < len; i++) {
    if ((ss->tn_state != TN_DATA || (unsigned char)data[i] == TN_IAC) &&
        !telnet_data(ss, (unsigned char)data[i]))
      continue;
    if (data[i] == '\n') {
      line_end(ss);
    } else if (ss->line_len < max + 1) { /* + 1: room for a CR before the LF */
      ss->line[ss->line_len++] = data[i];
    } else {
      ss->overlong = true;
    }
  }
  look_update(ss);
}

void wd_session_eof(wd_session *ss) {
  ss->input_ended = true;
  ss->line_len = 0; /* a partial line is dropped */
  ss->overlong = false;
  look_update(ss);
}

static qline *queue_pop(wd_session *ss) {
  qline *q = ss->q_head;
  if (q != NULL) {
    if ((ss->q_head = q->next) == NULL)
      ss->q_tail = NULL;
    ss->q_n--;
    look_update(ss);
  }
  return q;
}

/* Hand queued lines on: to the prompt, or to a task waiting to receive. */
static void queue_run(wd_session *ss) {
  if (wd_session_closing(ss))
    return;
  while (ss->signon == NULL || signon_done(ss)) { /* a SIGNON holds what follows */
    if (ss->q_head == NULL)
      return;
    AcquireSRWLockExclusive(&ss->lock);
    int state = ss->state;
    bool receiving = ss->receiving;
    if (state == S_RUNNING && receiving)
      ss->receiving = false;
    ReleaseSRWLockExclusive(&ss->lock);
    if (state == S_RUNNING && !receiving)
      return; /* type-ahead: kept until the task asks */
    qline *q = queue_pop(ss);
    if (state == S_RUNNING)
      weft_terminal_input(ss->term, q->text, q->len);
    else
      do_line(ss, q->text, q->len);
    free(q);
    if (wd_session_closing(ss))
      return;
  }
}

/* The end of input, or a timeout: then %BYE, and the log says why
 * (network thread). */
static void timeouts(wd_session *ss, uint64_t now) {
  const wdef_region *reg = &wd.def->region;
  AcquireSRWLockShared(&ss->lock);
  bool at_prompt = ss->state != S_RUNNING, waits = at_prompt || ss->receiving;
  uint64_t since = ss->prompt_ms > ss->last_ms ? ss->prompt_ms : ss->last_ms;
  ReleaseSRWLockShared(&ss->lock);
  uint64_t signon_ms = (uint64_t)reg->signon_timeout_s * 1000u;
  if (ss->input_ended && ss->q_head == NULL && ss->signon == NULL && waits) {
    wd_session_bye(ss, "end of input"); /* nothing more can come */
  } else if (reg->signon && signon_ms != 0 && ss->userdef == NULL && now > ss->signed_off_ms &&
             now - ss->signed_off_ms > signon_ms) {
    wd_log('I', "terminal %s: not signed on within %u s: closed", ss->termid,
           reg->signon_timeout_s);
    wd_session_bye(ss, "sign-on timeout");
  } else if (at_prompt && reg->idle_timeout_s != 0 && now > since &&
             now - since > (uint64_t)reg->idle_timeout_s * 1000u) {
    wd_log('I', "terminal %s: idle for %u s: closed", ss->termid, reg->idle_timeout_s);
    wd_session_bye(ss, "idle timeout");
  }
}

void wd_session_tick(wd_session *ss, uint64_t now) {
  queue_run(ss);
  if (!wd_session_closing(ss))
    timeouts(ss, now);
}

/* ---- Inquiries ------------------------------------------------------------------ */

void wd_sessions_describe(wd_out_fn out, void *ctx) {
  static const char *const names[] = {"READY", "NEXT", "RUNNING"};
  uint64_t now = now_ms();
  AcquireSRWLockShared(&g_lock);
  for (wd_session *ss = g_list; ss != NULL; ss = ss->next) {
    char line[200];
    AcquireSRWLockShared(&ss->lock);
    snprintf(line, sizeof line, "TERMINAL %-8s USER %-8s %-7s %-8s TASK %-8llu IDLE %llus",
             ss->termid, ss->user[0] ? ss->user : "-", names[ss->state],
             ss->state == S_NEXT ? ss->pseudo.tran
             : ss->cur_tran[0]   ? ss->cur_tran
                                 : "-",
             (unsigned long long)ss->cur_task, (unsigned long long)((now - ss->last_ms) / 1000u));
    ReleaseSRWLockShared(&ss->lock);
    out(ctx, line);
  }
  ReleaseSRWLockShared(&g_lock);
}

int wd_sessions_count(void) {
  AcquireSRWLockShared(&g_lock);
  int n = g_count;
  ReleaseSRWLockShared(&g_lock);
  return n;
}
