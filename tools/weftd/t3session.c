/* t3session.c - one TN3270 session: its negotiation (tools/common/tnneg.h),
 * its device name and weft_terminal, the host's own screens (sign-on and
 * the text screen on which tranids are typed and line-mode output shows),
 * starting transactions and pseudo-conversations, and the terminal's
 * callbacks. docs/tn3270.md describes what a user sees.
 *
 * Ownership: the TN3270 thread owns a session's socket, its tn_conn (but
 * tn.seq, see below), its inbound record buffer and pending record, and
 * alone frees it. ss->lock guards what the terminal callbacks (weft
 * workers, under the terminal's lock) share with it: the output buffer,
 * the screen (text lines, status, size), the state, the
 * pseudo-conversation and tn.seq (every record is framed under the lock).
 * Lock order: terminal lock, then ss->lock; the TN3270 thread never calls
 * weft_terminal_* while holding ss->lock.
 *
 * Bad input stays local: a broken telnet command or subnegotiation,
 * garbage before the negotiation, an oversized record close this session
 * only (the log says why); a malformed 3270 record or an unknown AID gets
 * an error on the status line; a client that never reads is closed when
 * its unsent output passes OUT_MAX; one that never ends its negotiation
 * is closed after NEG_MS; idle and sign-on timeouts apply as for line
 * terminals. */
#include <stdio.h>
#include <stdlib.h>

#include "tn3270.h"
#include "tnneg.h"

#define OUT_MAX (256u * 1024u) /* output a slow client may leave unread */
#define CLOSE_MS 10000u        /* a closing session's output may stand still this long */
#define NEG_MS 30000u          /* the negotiation must end within this */
#define TEXT_COLS_MAX 132
#define TEXT_ROWS_MAX 43
#define PW_MAX 32 /* the sign-on screen's password field */

enum { T3_NEG, T3_SIGNON, T3_IDLE, T3_NEXT, T3_RUNNING };
enum { SCR_NONE, SCR_TEXT, SCR_MAP, SCR_SIGNON };

struct t3_session {
  SOCKET sock;
  uint32_t addr;
  char termid[WEFT_NAME_MAX + 1]; /* the device name ("" until assigned) */
  weft_terminal *term;            /* from the device name on */
  /* -- TN3270 thread ----------------------------------------------------------- */
  tn_conn tn;
  unsigned char *rec; /* inbound record assembly (tn3270_max_record bytes) */
  bool failed;        /* the protocol broke: close at once */
  bool input_ended;   /* the client closed its side */
  uint64_t start_ms;  /* connected */
  uint64_t last_ms;   /* the last inbound record */
  uint64_t signed_off_ms;
  wd_signon *signon; /* a sign-on being checked */
  unsigned signon_fails;
  unsigned char *pending; /* a record that came while the task was not receiving */
  size_t pending_len;
  unsigned char *held; /* bytes read after it (or during a sign-on check), not yet fed */
  size_t held_len;
  /* -- Under lock ----------------------------------------------------------------- */
  SRWLOCK lock;
  ds_buf out; /* framed bytes for the socket */
  size_t out_off;
  bool out_failed, closing;
  bool kb_open;   /* the last record sent unlocked the keyboard, and no input
                            (which locks it) came since */
  bool typeahead; /* an input waits (pending): the keyboard stays locked for it */
  uint64_t out_moved_ms;
  int state; /* T3_* */
  bool receiving;
  int screen;          /* SCR_*: what the terminal shows */
  unsigned rows, cols; /* its size now (Erase/Write: 24x80; Erase/Write Alternate: the model's) */
  bool text_dirty;     /* the text screen must be redrawn */
  char lines[TEXT_ROWS_MAX][TEXT_COLS_MAX + 1];
  unsigned n_lines;
  char status[TEXT_COLS_MAX + 1];
  char signon_msg[80];
  wd_pseudo pseudo; /* the next transaction and its COMMAREA */
  char user[WEFT_NAME_MAX + 1];
  const wdef_user *userdef;
  char cur_tran[WEFT_NAME_MAX + 1];
  uint64_t cur_task;
  uint64_t prompt_ms;
  /* -- The list (g_lock) ------------------------------------------------------------- */
  t3_session *prev, *next;
};

static SRWLOCK g_lock = SRWLOCK_INIT;
static t3_session *g_list;
static int g_count;

static uint64_t now_ms(void) {
  return GetTickCount64();
}

/* ---- Output (ss->lock held) ------------------------------------------------------ */

/* Frame one 3270 record into the output; false when the client does not
 * read (over OUT_MAX) or storage ran out. */
static bool out_record(t3_session *ss, const unsigned char *p, size_t n) {
  if (ss->out_failed)
    return false;
  if (ss->out_off > 0 && ss->out_off == ss->out.len)
    ss->out_off = ss->out.len = 0;
  if (ss->out.len == ss->out_off)
    ss->out_moved_ms = now_ms();
  tn_frame(&ss->tn, p, n, &ss->out);
  if (n >= 2 && p[0] != DS_CMD_WSF) /* command and WCC: does it unlock? */
    ss->kb_open = (p[1] & DS_WCC_RESTORE) != 0;
  if (ss->out.failed)
    ss->out_failed = true;
  return !ss->out_failed;
}

static void out_raw(t3_session *ss, const ds_buf *b) {
  if (ss->out.len == ss->out_off)
    ss->out_moved_ms = now_ms();
  ds_put(&ss->out, b->b, b->len);
  if (ss->out.failed)
    ss->out_failed = true;
}

/* May the keyboard be unlocked: nobody runs, or the task waits for input. */
static bool kb_free(t3_session *ss) {
  return !ss->typeahead && (ss->state != T3_RUNNING || ss->receiving);
}

static void set_status(t3_session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_status(t3_session *ss, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ss->status, sizeof ss->status, fmt, ap);
  va_end(ap);
  ss->text_dirty = true;
}

/* The status for the state the session is in. */
static void status_prompt(t3_session *ss) {
  if (ss->state == T3_NEXT)
    set_status(ss, "NEXT %s: type its input (CANCEL ends it)", ss->pseudo.tran);
  else if (ss->state == T3_IDLE)
    set_status(ss, "READY");
  else if (ss->receiving)
    set_status(ss, "INPUT");
}

/* Draw the text screen: output lines, the status line, the input line. */
static void text_draw(t3_session *ss) {
  ds_buf b;
  unsigned rows = ss->tn.model.rows, cols = ss->tn.model.cols;
  ds_buf_init(&b, cols, 0);
  unsigned wcc = DS_WCC_RESET | DS_WCC_RESETMDT | (kb_free(ss) ? DS_WCC_RESTORE : 0);
  ds_cmd(&b, DS_CMD_EWA, wcc);
  for (unsigned i = 0; i < rows - 2 && (i == 0 || i < ss->n_lines); i++) {
    ds_sba(&b, i, 0);
    ds_sf(&b, DS_FA_PROT);
    if (i < ss->n_lines)
      ds_text(&b, ss->lines[i], strnlen(ss->lines[i], cols - 1));
  }
  ds_sba(&b, rows - 2, 0);
  ds_sf(&b, DS_FA_PROT | DS_FA_BRT);
  ds_text(&b, ss->status, strnlen(ss->status, cols - 1));
  ds_sba(&b, rows - 1, 0);
  ds_sf(&b, DS_FA_PROT | DS_FA_BRT);
  ds_text(&b, "==>", 3);
  ds_sf(&b, 0); /* the input field, to the end of the screen */
  ds_ic(&b);
  if (!b.failed)
    out_record(ss, b.b, b.len);
  ds_buf_free(&b);
  ss->screen = SCR_TEXT;
  ss->rows = rows;
  ss->cols = cols;
  ss->text_dirty = false;
}

static void text_clear(t3_session *ss) {
  ss->n_lines = 0;
  ss->status[0] = '\0';
  ss->text_dirty = true;
}

/* Add program output to the text screen; the oldest lines scroll off. */
static void text_add(t3_session *ss, const char *p, size_t n) {
  unsigned max = ss->tn.model.rows - 2;
  if (ss->screen != SCR_TEXT && !ss->text_dirty)
    ss->n_lines = 0;
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) : n, body = len;
    if (body > 0 && p[body - 1] == '\r')
      body--;
    if (ss->n_lines == max) {
      memmove(ss->lines[0], ss->lines[1], (max - 1) * sizeof ss->lines[0]);
      ss->n_lines--;
    }
    snprintf(ss->lines[ss->n_lines++], sizeof ss->lines[0], "%.*s",
             (int)(body < TEXT_COLS_MAX ? body : TEXT_COLS_MAX), p);
    p += nl ? len + 1 : len;
    n -= nl ? len + 1 : len;
  }
  ss->text_dirty = true;
}

/* Unlock the keyboard of a screen the program drew (Write, WCC restore),
 * unless its last record did: a second unlock could arrive after the
 * operator pressed the next key and unlock the keyboard too early. */
static void kb_restore(t3_session *ss) {
  unsigned char w[2] = {DS_CMD_W, ds_code6(DS_WCC_RESTORE)};
  if (!ss->kb_open && !ss->typeahead) /* an input waiting gets its own answer */
    out_record(ss, w, 2);
}

/* ---- The sign-on screen (24x80) -------------------------------------------------- */

#define SO_USER_ROW 5
#define SO_PW_ROW 7
#define SO_COL 20 /* the attribute byte; data from SO_COL + 1 */

static void signon_draw(t3_session *ss) {
  ds_buf b;
  char line[100];
  ds_buf_init(&b, 80, 0);
  ds_cmd(&b, DS_CMD_EW, DS_WCC_RESET | DS_WCC_RESTORE | DS_WCC_RESETMDT);
  ds_sba(&b, 0, 0);
  ds_sf(&b, DS_FA_PROT | DS_FA_BRT);
  snprintf(line, sizeof line, "WEFT REGION %s - SIGN ON", wd.def->region.name);
  ds_text(&b, line, strlen(line));
  ds_sba(&b, 2, 0);
  ds_sf(&b, DS_FA_PROT);
  snprintf(line, sizeof line, "Terminal %s  Type %s", ss->termid, ss->tn.type);
  ds_text(&b, line, strlen(line));
  ds_sba(&b, SO_USER_ROW, 1);
  ds_sf(&b, DS_FA_PROT);
  ds_text(&b, "User . . . . . .", 16);
  ds_sba(&b, SO_USER_ROW, SO_COL);
  ds_sf(&b, DS_FA_BRT);
  ds_ic(&b);
  ds_sba(&b, SO_USER_ROW, SO_COL + 1 + WEFT_NAME_MAX);
  ds_sf(&b, DS_FA_PROT | DS_FA_NUM); /* autoskip: ends the field */
  ds_sba(&b, SO_PW_ROW, 1);
  ds_sf(&b, DS_FA_PROT);
  ds_text(&b, "Password . . . .", 16);
  ds_sba(&b, SO_PW_ROW, SO_COL);
  ds_sf(&b, DS_FA_DRK); /* non-display */
  ds_sba(&b, SO_PW_ROW, SO_COL + 1 + PW_MAX);
  ds_sf(&b, DS_FA_PROT | DS_FA_NUM);
  ds_sba(&b, 22, 0);
  ds_sf(&b, DS_FA_PROT | DS_FA_BRT);
  ds_text(&b, ss->signon_msg, strlen(ss->signon_msg));
  ds_sba(&b, 23, 0);
  ds_sf(&b, DS_FA_PROT);
  ds_text(&b, "Enter: sign on", 14);
  if (!b.failed)
    out_record(ss, b.b, b.len);
  ds_buf_free(&b);
  ss->screen = SCR_SIGNON;
  ss->rows = 24;
  ss->cols = 80;
  ss->text_dirty = false;
}

/* ---- Terminal callbacks (weft workers, under the terminal's lock) ----------------- */

static int cb_send(void *ctx, const void *data, size_t len) {
  t3_session *ss = ctx;
  AcquireSRWLockExclusive(&ss->lock);
  text_add(ss, data, len);
  bool ok = !ss->out_failed;
  ReleaseSRWLockExclusive(&ss->lock);
  wd_t3_wake();
  return ok ? 0 : WEFT_ESTATE;
}

static int cb_send_record(void *ctx, const void *data, size_t len) {
  t3_session *ss = ctx;
  const unsigned char *p = data;
  AcquireSRWLockExclusive(&ss->lock);
  if (len > 0 && (p[0] == DS_CMD_EW || p[0] == DS_CMD_EWA)) {
    ss->rows = p[0] == DS_CMD_EW ? 24 : ss->tn.model.rows;
    ss->cols = p[0] == DS_CMD_EW ? 80 : ss->tn.model.cols;
    ss->screen = SCR_MAP;
    ss->n_lines = 0;
    ss->text_dirty = false; /* text sent before a full screen: replaced by it */
  } else if (ss->text_dirty) {
    text_draw(ss); /* a Write over the text screen: draw that first */
    ss->screen = SCR_MAP;
  } else {
    ss->screen = SCR_MAP;
  }
  bool ok = out_record(ss, p, len);
  ReleaseSRWLockExclusive(&ss->lock);
  wd_t3_wake();
  return ok ? 0 : WEFT_ESTATE;
}

static void cb_receiving(void *ctx) {
  t3_session *ss = ctx;
  AcquireSRWLockExclusive(&ss->lock);
  ss->receiving = true;
  if (ss->screen == SCR_MAP && !ss->text_dirty)
    kb_restore(ss);
  else
    set_status(ss, "INPUT");
  ReleaseSRWLockExclusive(&ss->lock);
  wd_t3_wake();
}

static void cb_ended(void *ctx, const weft_task_end *end) {
  t3_session *ss = ctx;
  AcquireSRWLockExclusive(&ss->lock);
  ss->receiving = false;
  ss->cur_tran[0] = '\0';
  ss->cur_task = 0;
  wd_pseudo_clear(&ss->pseudo);
  ss->state = T3_IDLE;
  ss->prompt_ms = now_ms();
  if (end->abcode[0] != '\0') {
    if (ss->screen == SCR_MAP)
      ss->n_lines = 0;
    set_status(ss, "ABEND %s task %llu (%s)", end->abcode, (unsigned long long)end->task_no,
               end->tranid);
  } else if (end->next_tranid != NULL) {
    if (wd_pseudo_keep(&ss->pseudo, end))
      ss->state = T3_NEXT;
    else
      set_status(ss, "ABEND ASP1 no storage for the COMMAREA");
  }
  if (ss->screen == SCR_MAP && !ss->text_dirty)
    kb_restore(ss); /* the program's screen stays */
  else if (ss->status[0] == '\0' || strncmp(ss->status, "ABEND", 5) != 0)
    status_prompt(ss);
  ReleaseSRWLockExclusive(&ss->lock);
  wd_t3_wake();
}

static const weft_terminal_ops term_ops = {
    .send = cb_send, .receiving = cb_receiving, .ended = cb_ended, .send_record = cb_send_record};

/* ---- Life ---------------------------------------------------------------------------- */

t3_session *t3_new(SOCKET s, uint32_t addr) {
  t3_session *ss = calloc(1, sizeof *ss);
  if (ss == NULL || (ss->rec = malloc(wd.def->region.tn3270_max_record)) == NULL) {
    free(ss);
    return NULL;
  }
  ss->sock = s;
  ss->addr = addr;
  InitializeSRWLock(&ss->lock);
  ds_buf_init(&ss->out, 80, OUT_MAX);
  ss->start_ms = ss->last_ms = ss->signed_off_ms = now_ms();
  ds_buf hello;
  ds_buf_init(&hello, 80, 0);
  tn_init(&ss->tn, ss->rec, wd.def->region.tn3270_max_record, &hello);
  AcquireSRWLockExclusive(&ss->lock);
  out_raw(ss, &hello);
  ReleaseSRWLockExclusive(&ss->lock);
  ds_buf_free(&hello);
  AcquireSRWLockExclusive(&g_lock);
  ss->next = g_list;
  if (g_list != NULL)
    g_list->prev = ss;
  g_list = ss;
  g_count++;
  ReleaseSRWLockExclusive(&g_lock);
  return ss;
}

/* Who the log names: the device, or the client's address before it has one. */
static const char *who(t3_session *ss, char *buf, size_t n) {
  if (ss->termid[0] != '\0')
    snprintf(buf, n, "3270 terminal %s", ss->termid);
  else
    snprintf(buf, n, "TN3270 connection from %u.%u.%u.%u", ss->addr & 255u, (ss->addr >> 8) & 255u,
             (ss->addr >> 16) & 255u, ss->addr >> 24);
  return buf;
}

void t3_gone(t3_session *ss) {
  AcquireSRWLockExclusive(&g_lock);
  if (ss->prev != NULL)
    ss->prev->next = ss->next;
  else
    g_list = ss->next;
  if (ss->next != NULL)
    ss->next->prev = ss->prev;
  g_count--;
  ReleaseSRWLockExclusive(&g_lock);
  if (ss->state == T3_RUNNING && (ss->input_ended || ss->failed))
    wd_log('W', "3270 terminal %s disconnected while task %llu (%s) ran: it is abended ATNI",
           ss->termid, (unsigned long long)ss->cur_task, ss->cur_tran);
  if (ss->term != NULL)
    weft_terminal_release(ss->term); /* no callback runs after this */
  if (ss->termid[0] != '\0')
    wd_t3_name_give(ss->termid);
  if (ss->signon != NULL)
    wd_signon_cancel(ss->signon);
  closesocket(ss->sock);
  wd_pseudo_clear(&ss->pseudo);
  ds_buf_free(&ss->out);
  free(ss->pending);
  free(ss->held);
  free(ss->rec);
  free(ss);
}

SOCKET t3_socket(t3_session *ss) {
  return ss->sock;
}

void t3_bye(t3_session *ss, const char *why) {
  AcquireSRWLockExclusive(&ss->lock);
  if (!ss->closing && ss->tn.state == TN_NEG_UP) {
    text_clear(ss);
    set_status(ss, "BYE %s", why);
    ss->state = T3_IDLE;
    text_draw(ss);
  }
  ss->closing = true;
  ReleaseSRWLockExclusive(&ss->lock);
}

bool t3_has_output(t3_session *ss) {
  AcquireSRWLockShared(&ss->lock);
  bool has = ss->out.len > ss->out_off;
  ReleaseSRWLockShared(&ss->lock);
  return has;
}

int t3_flush(t3_session *ss) {
  int rc = 0;
  AcquireSRWLockExclusive(&ss->lock);
  while (ss->out.len > ss->out_off) {
    int n =
        send(ss->sock, (const char *)ss->out.b + ss->out_off, (int)(ss->out.len - ss->out_off), 0);
    if (n > 0) {
      ss->out_off += (size_t)n;
      ss->out_moved_ms = now_ms();
      continue;
    }
    rc = WSAGetLastError() == WSAEWOULDBLOCK ? 1 : -1;
    break;
  }
  if (ss->out_off == ss->out.len)
    ss->out_off = ss->out.len = 0;
  ReleaseSRWLockExclusive(&ss->lock);
  return rc;
}

bool t3_wants_input(t3_session *ss) {
  if (ss->failed || ss->input_ended || ss->pending != NULL || ss->signon != NULL ||
      ss->held != NULL)
    return false;
  AcquireSRWLockShared(&ss->lock);
  bool closing = ss->closing || ss->out_failed;
  ReleaseSRWLockShared(&ss->lock);
  return !closing;
}

bool t3_done(t3_session *ss, bool blocked, uint64_t now) {
  char w[64];
  AcquireSRWLockShared(&ss->lock);
  bool failed = ss->out_failed, closing = ss->closing;
  uint64_t moved = ss->out_moved_ms;
  unsigned long long unsent = ss->out.len - ss->out_off;
  ReleaseSRWLockShared(&ss->lock);
  if (ss->failed)
    return true; /* logged where it broke */
  if (failed) {
    wd_log('W', "%s does not read its output (%llu bytes unsent, over the %u KiB limit): closed",
           who(ss, w, sizeof w), unsent, OUT_MAX / 1024u);
    return true;
  }
  if (ss->input_ended) {
    wd_log('I', "%s: the client closed the connection", who(ss, w, sizeof w));
    return true;
  }
  if (ss->tn.state != TN_NEG_UP && now - ss->start_ms > NEG_MS) {
    wd_log('W', "%s did not end its negotiation within %u s: closed", who(ss, w, sizeof w),
           NEG_MS / 1000u);
    return true;
  }
  if (!blocked)
    return closing;
  if (closing && now > moved && now - moved > CLOSE_MS) {
    wd_log('W', "%s has not read its output for %u s after closing: closed", who(ss, w, sizeof w),
           CLOSE_MS / 1000u);
    return true;
  }
  return false;
}

void t3_eof(t3_session *ss) {
  ss->input_ended = true;
}

/* ---- Starting transactions (TN3270 thread) ----------------------------------------- */

/* May this session run tranid? NULL, or the refusal. (The same rules as
 * line terminals, session.c.) */
static const char *authorize(t3_session *ss, const char *tranid) {
  const wdef_region *reg = &wd.def->region;
  if (strcmp(tranid, "WEFT") == 0)
    return wdef_user_in_group(ss->userdef, reg->operator_group)
               ? NULL
               : "NOT_AUTHORIZED operator commands need a user of the operator group";
  if (reg->signon && ss->userdef == NULL)
    return "SIGNON_REQUIRED sign on first";
  const wdef_transaction *t = wd_find_transaction(tranid);
  return t == NULL || wdef_may_run(ss->userdef, t) ? NULL
                                                   : "NOT_AUTHORIZED you may not run this "
                                                     "transaction";
}

static const char *start_error(int rc) {
  switch (rc) {
    case WEFT_ENOTRAN:
    case WEFT_EBADNAME:
      return "UNKNOWN_TRAN no such transaction";
    case WEFT_EDISABLED:
      return "DISABLED the transaction is disabled";
    case WEFT_EBUSY:
      return "BUSY the region or the transaction's class is full";
    case WEFT_ESHUTDOWN:
      return "SHUTDOWN the region is shutting down";
    default:
      return "BUSY the transaction could not start";
  }
}

/* Start tranid with data (and a COMMAREA); rec, when not NULL, is kept as
 * the terminal's input (the next step of a pseudo-conversation receives
 * the screen that started it). On failure: the status line says why. */
static void start_tran(t3_session *ss, const char *tranid, const char *data, size_t len,
                       const void *ca, size_t ca_len, const unsigned char *rec, size_t rec_len) {
  const char *err = NULL;
  if (atomic_load(&wd.stopping))
    err = "SHUTDOWN the region is shutting down";
  else if (weft_transaction_is_enabled(wd.region, tranid) == WEFT_ENOTRAN)
    err = "UNKNOWN_TRAN no such transaction";
  else
    err = authorize(ss, tranid);
  AcquireSRWLockExclusive(&ss->lock);
  int was = ss->state;
  if (err == NULL) {
    ss->state = T3_RUNNING;
    ss->receiving = false;
    strcpy(ss->cur_tran, tranid);
    if (ss->screen != SCR_MAP) {
      text_clear(ss);
      ss->text_dirty = false; /* drawn when the task shows something */
    }
  }
  ReleaseSRWLockExclusive(&ss->lock);
  uint64_t no = 0;
  if (err == NULL) {
    if (rec != NULL)
      weft_terminal_input_record(ss->term, rec, rec_len, data, len);
    weft_start_opts o;
    weft_start_opts_init(&o);
    o.terminal = ss->term;
    o.userid = ss->user[0] ? ss->user : NULL;
    o.commarea = ca;
    o.commarea_len = ca_len;
    int rc = weft_start(wd.region, tranid, data, len, &o, &no);
    if (rc != 0) {
      err = start_error(rc);
      weft_terminal_discard_input(ss->term);
    }
  }
  AcquireSRWLockExclusive(&ss->lock);
  if (err != NULL) {
    if (ss->state == T3_RUNNING)
      ss->state = was == T3_RUNNING ? T3_IDLE : was;
    if (ss->state == T3_NEXT) {
      wd_pseudo_clear(&ss->pseudo);
      ss->state = T3_IDLE;
    }
    ss->cur_tran[0] = '\0';
    text_clear(ss);
    set_status(ss, "ERROR %s", err);
  } else if (ss->state == T3_RUNNING && ss->cur_task == 0) {
    ss->cur_task = no;
  }
  ReleaseSRWLockExclusive(&ss->lock);
}

/* ---- Sign-on ------------------------------------------------------------------------- */

static void signon_screen(t3_session *ss, const char *msg) {
  AcquireSRWLockExclusive(&ss->lock);
  snprintf(ss->signon_msg, sizeof ss->signon_msg, "%s", msg);
  ss->state = T3_SIGNON;
  signon_draw(ss);
  ReleaseSRWLockExclusive(&ss->lock);
}

/* A field's text (Latin-1, trailing blanks cut) into out. */
static void field_text(const ds_in_field *f, char *out, size_t cap) {
  ds_input one = {.aid = DS_AID_ENTER, .n_fields = 1};
  one.fields[0] = *f;
  ds_input_text(&one, out, cap);
}

static void signon_input(t3_session *ss, const ds_input *in) {
  if (in->aid != DS_AID_ENTER) {
    signon_screen(ss, "Type your user and password and press Enter");
    return;
  }
  char user[WEFT_NAME_MAX + 8] = "", pw[PW_MAX + 1] = "";
  for (size_t i = 0; i < in->n_fields; i++) {
    unsigned a = in->fields[i].addr;
    if (a == SO_USER_ROW * 80 + SO_COL + 1)
      field_text(&in->fields[i], user, sizeof user);
    else if (a == SO_PW_ROW * 80 + SO_COL + 1)
      field_text(&in->fields[i], pw, sizeof pw);
  }
  if (user[0] == '\0' || pw[0] == '\0') {
    signon_screen(ss, "Type your user and password and press Enter");
  } else if ((ss->signon = wd_signon_submit(ss->termid, user, pw, ss->signon_fails)) == NULL) {
    signon_screen(ss, "No storage to check the password: try again");
  }
  SecureZeroMemory(pw, sizeof pw);
}

/* Is the sign-on being checked answered? Then show the outcome. */
static void signon_poll(t3_session *ss) {
  const wdef_user *u;
  int r = wd_signon_take(ss->signon, &u);
  if (r == WD_SIGNON_PENDING)
    return;
  ss->signon = NULL;
  ss->signon_fails = r == WD_SIGNON_OK ? 0 : ss->signon_fails + 1;
  if (r != WD_SIGNON_OK) {
    signon_screen(ss, "Wrong user or password, or the user is locked");
    return;
  }
  AcquireSRWLockExclusive(&ss->lock);
  strcpy(ss->user, u->name);
  ss->userdef = u;
  ss->state = T3_IDLE;
  text_clear(ss);
  text_add(ss, "SIGNED ON ", 10);
  snprintf(ss->lines[0] + 10, sizeof ss->lines[0] - 10, "%s", u->name);
  set_status(ss, "READY");
  ReleaseSRWLockExclusive(&ss->lock);
}

/* ---- Inbound records ------------------------------------------------------------------- */

/* A command typed on the text screen (or a screen left by a program). */
static void command(t3_session *ss, const char *line) {
  const char *w = line + strspn(line, " ");
  size_t wn = strcspn(w, " ");
  const char *rest = w + wn;
  rest += strspn(rest, " ");
  if (wn == 0) {
    AcquireSRWLockExclusive(&ss->lock);
    status_prompt(ss);
    ReleaseSRWLockExclusive(&ss->lock);
  } else if ((wn == 4 && _strnicmp(w, "QUIT", 4) == 0) ||
             (wn == 6 && _strnicmp(w, "LOGOFF", 6) == 0)) {
    t3_bye(ss, "goodbye");
  } else if (wd.def->region.signon && ((wn == 7 && _strnicmp(w, "SIGNOFF", 7) == 0) ||
                                       (wn == 6 && _strnicmp(w, "SIGNON", 6) == 0))) {
    AcquireSRWLockExclusive(&ss->lock);
    ss->user[0] = '\0';
    ss->userdef = NULL;
    ReleaseSRWLockExclusive(&ss->lock);
    ss->signed_off_ms = now_ms();
    signon_screen(ss, "Signed off");
  } else if (wn > WEFT_NAME_MAX) {
    AcquireSRWLockExclusive(&ss->lock);
    set_status(ss, "ERROR UNKNOWN_TRAN no such transaction");
    ReleaseSRWLockExclusive(&ss->lock);
  } else {
    char tran[WEFT_NAME_MAX + 1];
    snprintf(tran, sizeof tran, "%.*s", (int)wn, w);
    for (char *p = tran; *p; p++)
      if (*p >= 'a' && *p <= 'z')
        *p = (char)(*p - 'a' + 'A');
    start_tran(ss, tran, rest, strlen(rest), NULL, 0, NULL, 0);
  }
}

/* Input at the ready screen: Enter runs a command, Clear clears, other
 * keys are refused politely. */
static void idle_input(t3_session *ss, const ds_input *in, const char *text) {
  if (in->aid == DS_AID_ENTER) {
    command(ss, text);
    return;
  }
  AcquireSRWLockExclusive(&ss->lock);
  if (in->aid == DS_AID_CLEAR) {
    text_clear(ss);
    set_status(ss, "READY");
  } else {
    set_status(ss, "That key does nothing here: type a transaction id and press Enter");
  }
  ReleaseSRWLockExclusive(&ss->lock);
}

static void next_input(t3_session *ss, const unsigned char *rec, size_t len, const char *text) {
  if (_stricmp(text, "CANCEL") == 0) {
    AcquireSRWLockExclusive(&ss->lock);
    wd_pseudo_clear(&ss->pseudo);
    ss->state = T3_IDLE;
    text_clear(ss);
    set_status(ss, "READY");
    ReleaseSRWLockExclusive(&ss->lock);
    return;
  }
  char tran[WEFT_NAME_MAX + 1];
  AcquireSRWLockExclusive(&ss->lock);
  void *ca;
  size_t ca_len;
  wd_pseudo_take(&ss->pseudo, tran, &ca, &ca_len);
  ReleaseSRWLockExclusive(&ss->lock);
  start_tran(ss, tran, text, strlen(text), ca, ca_len, rec, len);
  free(ca);
}

/* One inbound 3270 record (header off). */
static void record(t3_session *ss, const unsigned char *rec, size_t len) {
  char w[64];
  ss->last_ms = now_ms();
  AcquireSRWLockExclusive(&ss->lock);
  ss->kb_open = false; /* an AID locks the keyboard */
  int state = ss->state;
  bool receiving = ss->receiving;
  unsigned size = ss->rows * ss->cols;
  ReleaseSRWLockExclusive(&ss->lock);
  ds_input in;
  int rc = ds_parse_input(rec, len, size ? size : 1920, &in);
  if (rc != DS_OK) {
    wd_log('W', "%s sent a bad 3270 record (%s): refused", who(ss, w, sizeof w), ds_strerror(rc));
    AcquireSRWLockExclusive(&ss->lock);
    if (ss->screen == SCR_SIGNON) {
      snprintf(ss->signon_msg, sizeof ss->signon_msg, "ERROR BAD_INPUT %s", ds_strerror(rc));
      signon_draw(ss);
    } else {
      set_status(ss, "ERROR BAD_INPUT %s", ds_strerror(rc));
      if (ss->screen == SCR_MAP)
        ss->n_lines = 0;
    }
    ReleaseSRWLockExclusive(&ss->lock);
    return;
  }
  char text[4096];
  ds_input_text(&in, text, sizeof text);
  if (state == T3_SIGNON) {
    signon_input(ss, &in);
  } else if (state == T3_IDLE) {
    idle_input(ss, &in, text);
  } else if (state == T3_NEXT) {
    next_input(ss, rec, len, text);
  } else if (receiving) {
    AcquireSRWLockExclusive(&ss->lock);
    ss->receiving = false;
    ReleaseSRWLockExclusive(&ss->lock);
    weft_terminal_input_record(ss->term, rec, len, text, strlen(text));
  } else if ((ss->pending = malloc(len)) != NULL) { /* type-ahead: kept, reading stops */
    memcpy(ss->pending, rec, len);
    ss->pending_len = len;
    AcquireSRWLockExclusive(&ss->lock);
    ss->typeahead = true;
    ReleaseSRWLockExclusive(&ss->lock);
  }
}

/* The negotiation named the terminal type: take a device name, make the
 * terminal. */
static void assign_name(t3_session *ss, ds_buf *reply) {
  char name[WEFT_NAME_MAX + 1], w[64];
  if (wd_t3_name_take(ss->tn.req_name, name) != 0) {
    wd_log('W', "%s: %s", who(ss, w, sizeof w),
           ss->tn.req_name[0] ? "the device name it asked for is not free or not ours"
                              : "no device name is free (tn3270_devices)");
    tn_assign(&ss->tn, NULL, reply);
    return;
  }
  weft_terminal_device dev = {.kind = WEFT_DEVICE_3270,
                              .model = ss->tn.model.model,
                              .rows = ss->tn.model.rows,
                              .cols = ss->tn.model.cols,
                              .extended = ss->tn.model.extended};
  snprintf(dev.type, sizeof dev.type, "%s", ss->tn.type);
  if (weft_terminal_create(wd.region, name, &term_ops, ss, &ss->term) != 0 ||
      weft_terminal_set_device(ss->term, &dev) != 0) {
    wd_t3_name_give(name);
    tn_assign(&ss->tn, NULL, reply);
    return;
  }
  strcpy(ss->termid, name);
  weft_terminal_set_receive_timeout(ss->term, wd.def->region.receive_timeout_s * 1000u);
  tn_assign(&ss->tn, name, reply);
}

/* The negotiation is done: the first screen. */
static void session_up(t3_session *ss) {
  wd_log('I', "3270 terminal %s connected (%s, %s)", ss->termid, ss->tn.type,
         ss->tn.tn3270e ? "TN3270E" : "TN3270");
  ss->last_ms = now_ms();
  if (wd.def->region.signon) {
    signon_screen(ss, "");
    return;
  }
  AcquireSRWLockExclusive(&ss->lock);
  ss->state = T3_IDLE;
  char line[120];
  snprintf(line, sizeof line, "WEFT %s TERMINAL %s", wd.def->region.name, ss->termid);
  text_add(ss, line, strlen(line));
  if (wd.def->region.greeting != NULL)
    text_add(ss, wd.def->region.greeting, strlen(wd.def->region.greeting));
  set_status(ss, "READY");
  ReleaseSRWLockExclusive(&ss->lock);
}

void t3_input(t3_session *ss, const unsigned char *data, size_t len) {
  char w[64];
  while (len > 0 && !ss->failed && ss->pending == NULL && ss->signon == NULL) {
    ds_buf reply;
    ds_buf_init(&reply, 80, 0);
    size_t used;
    int ev = tn_feed(&ss->tn, data, len, &used, &reply);
    data += used;
    len -= used;
    if (ev == TN_EV_NAME)
      assign_name(ss, &reply);
    if (reply.len > 0) {
      AcquireSRWLockExclusive(&ss->lock);
      out_raw(ss, &reply);
      ReleaseSRWLockExclusive(&ss->lock);
    }
    ds_buf_free(&reply);
    if (ss->tn.state == TN_NEG_FAILED) {
      wd_log('W', "%s: %s: closed", who(ss, w, sizeof w), ss->tn.error);
      ss->failed = true;
    } else if (ev == TN_EV_UP) {
      session_up(ss);
    } else if (ev == TN_EV_RECORD) {
      record(ss, ss->tn.data, ss->tn.data_len);
    }
  }
  if (len > 0 && !ss->failed) { /* stopped for a kept record or a sign-on: keep the rest */
    if ((ss->held = malloc(len)) == NULL) {
      wd_log('E', "%s: no storage for its input: closed", who(ss, w, sizeof w));
      ss->failed = true;
      return;
    }
    memcpy(ss->held, data, len);
    ss->held_len = len;
  }
}

/* Feed the bytes held back, once nothing holds them (TN3270 thread). */
static void held_run(t3_session *ss) {
  if (ss->held == NULL || ss->pending != NULL || ss->signon != NULL)
    return;
  unsigned char *p = ss->held;
  size_t n = ss->held_len;
  ss->held = NULL;
  ss->held_len = 0;
  t3_input(ss, p, n);
  free(p);
}

/* ---- Ticks (TN3270 thread) --------------------------------------------------------------- */

static void timeouts(t3_session *ss, uint64_t now) {
  const wdef_region *reg = &wd.def->region;
  char w[64];
  AcquireSRWLockShared(&ss->lock);
  bool at_prompt = ss->state != T3_RUNNING;
  uint64_t since = ss->prompt_ms > ss->last_ms ? ss->prompt_ms : ss->last_ms;
  ReleaseSRWLockShared(&ss->lock);
  uint64_t signon_ms = (uint64_t)reg->signon_timeout_s * 1000u;
  if (ss->tn.state != TN_NEG_UP)
    return;
  if (reg->signon && signon_ms != 0 && ss->userdef == NULL && ss->signon == NULL &&
      now > ss->signed_off_ms && now - ss->signed_off_ms > signon_ms) {
    wd_log('I', "%s: not signed on within %u s: closed", who(ss, w, sizeof w),
           reg->signon_timeout_s);
    t3_bye(ss, "sign-on timeout");
  } else if (at_prompt && reg->idle_timeout_s != 0 && now > since &&
             now - since > (uint64_t)reg->idle_timeout_s * 1000u) {
    wd_log('I', "%s: idle for %u s: closed", who(ss, w, sizeof w), reg->idle_timeout_s);
    t3_bye(ss, "idle timeout");
  }
}

void t3_tick(t3_session *ss, uint64_t now) {
  if (ss->failed)
    return;
  if (ss->signon != NULL)
    signon_poll(ss);
  if (ss->pending != NULL) { /* type-ahead: to the task once it receives */
    AcquireSRWLockShared(&ss->lock);
    bool take = ss->state != T3_RUNNING || ss->receiving;
    ReleaseSRWLockShared(&ss->lock);
    if (take) {
      unsigned char *p = ss->pending;
      ss->pending = NULL;
      AcquireSRWLockExclusive(&ss->lock);
      ss->typeahead = false;
      ReleaseSRWLockExclusive(&ss->lock);
      record(ss, p, ss->pending_len);
      free(p);
    }
  }
  held_run(ss);
  AcquireSRWLockExclusive(&ss->lock);
  if (ss->text_dirty && !ss->closing)
    text_draw(ss);
  bool closing = ss->closing;
  ReleaseSRWLockExclusive(&ss->lock);
  if (!closing)
    timeouts(ss, now);
}

/* ---- Inquiries ------------------------------------------------------------------------ */

void wd_t3_describe(wd_out_fn out, void *ctx) {
  static const char *const names[] = {"NEGOT", "SIGNON", "READY", "NEXT", "RUNNING"};
  uint64_t now = now_ms();
  AcquireSRWLockShared(&g_lock);
  for (t3_session *ss = g_list; ss != NULL; ss = ss->next) {
    char line[200];
    AcquireSRWLockShared(&ss->lock);
    snprintf(line, sizeof line,
             "TERMINAL %-8s USER %-8s %-7s %-8s TASK %-8llu IDLE %llus DEVICE 3270-%d %s",
             ss->termid[0] ? ss->termid : "-", ss->user[0] ? ss->user : "-", names[ss->state],
             ss->state == T3_NEXT ? ss->pseudo.tran
             : ss->cur_tran[0]    ? ss->cur_tran
                                  : "-",
             (unsigned long long)ss->cur_task, (unsigned long long)((now - ss->last_ms) / 1000u),
             ss->tn.model.model, ss->tn.type[0] ? ss->tn.type : "-");
    ReleaseSRWLockShared(&ss->lock);
    out(ctx, line);
  }
  ReleaseSRWLockShared(&g_lock);
}

int wd_t3_count(void) {
  AcquireSRWLockShared(&g_lock);
  int n = g_count;
  ReleaseSRWLockShared(&g_lock);
  return n;
}
