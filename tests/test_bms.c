/* test_bms.c - screen maps in weft.dll (include/weft_bms.h) on a region
 * with a host terminal of each device kind: the record weft_send_map
 * builds (command, WCC, fields, attributes, colour, the stopper after an
 * input field, the cursor), weft_receive_map filling a symbolic map from
 * an inbound record, weft_last_aid, a line-mode receive on a 3270 getting
 * the host's text, and the clear errors on a line terminal. */
#include <criterion/criterion.h>

#include "bms/ds3270.h"
#include "helpers.h"

/* A map: a label, an 8-byte numeric input field (IC), a message line. */
typedef struct TMAP {
  WEFT_MAP_FIELD(8) ACCT;
  WEFT_MAP_FIELD(20) MSG;
} TMAP;
static const weft_map_field tmap_fields[] = {
    {NULL, 2, 1, 7, WEFT_ATTR_ASKIP, 0, 0, 0, ' ', "Acct:", 0},
    {"ACCT", 2, 10, 8, WEFT_ATTR_UNPROT | WEFT_ATTR_NUM | WEFT_ATTR_IC, 0, WEFT_HILIGHT_UNDERLINE,
     0, ' ', NULL, offsetof(TMAP, ACCT)},
    {"MSG", 5, 1, 20, WEFT_ATTR_ASKIP | WEFT_ATTR_BRT, WEFT_COLOR_RED, 0, 0, ' ', NULL,
     offsetof(TMAP, MSG)},
};
static const weft_map tmap = {"TSET", "TMAP", 24, 80, 1, 1, 3, tmap_fields, sizeof(TMAP)};

/* The host's terminal: what the task sent, how it ended. */
typedef struct host {
  SRWLOCK lock;
  unsigned char rec[4096];
  size_t rec_len;
  char text[512];
  atomic_int ended;
} host;

static int h_send(void *ctx, const void *data, size_t len) {
  host *h = ctx;
  AcquireSRWLockExclusive(&h->lock);
  snprintf(h->text, sizeof h->text, "%.*s", (int)len, (const char *)data);
  ReleaseSRWLockExclusive(&h->lock);
  return 0;
}

static int h_record(void *ctx, const void *data, size_t len) {
  host *h = ctx;
  AcquireSRWLockExclusive(&h->lock);
  h->rec_len = len < sizeof h->rec ? len : sizeof h->rec;
  memcpy(h->rec, data, h->rec_len);
  ReleaseSRWLockExclusive(&h->lock);
  return 0;
}

static void h_ended(void *ctx, const weft_task_end *end) {
  atomic_store(&((host *)ctx)->ended, 1);
}

static const weft_terminal_ops ops_3270 = {
    .send = h_send, .ended = h_ended, .send_record = h_record};

/* What the task saw. */
static int g_rc, g_rc2, g_aid, g_row, g_col;
static TMAP g_sym;
static char g_line[64];

static weft_region *g_r;
static host g_h;
static weft_terminal *g_t;

static void open_term(int kind, int extended) {
  g_r = th_region(1, 16);
  memset(&g_h, 0, sizeof g_h);
  InitializeSRWLock(&g_h.lock);
  cr_assert_eq(weft_terminal_create(g_r, "TC0001", &ops_3270, &g_h, &g_t), 0);
  weft_terminal_device dev = {
      .kind = kind, .model = kind ? 2 : 0, .rows = 24, .cols = 80, .extended = extended};
  cr_assert_eq(weft_terminal_set_device(g_t, &dev), 0);
}

static void run(const char *tranid, weft_program_fn fn) {
  th_define(g_r, tranid, fn, 10);
  weft_start_opts o;
  weft_start_opts_init(&o);
  o.terminal = g_t;
  cr_assert_eq(weft_start(g_r, tranid, NULL, 0, &o, NULL), 0);
  th_wait_until(atomic_load(&g_h.ended));
}

/* The record the host got equals want (else both are printed). */
static void rec_is(const unsigned char *want, size_t n) {
  char got[1024] = "", exp[1024] = "";
  for (size_t i = 0; i < g_h.rec_len && i < 300; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%02X ", g_h.rec[i]);
  for (size_t i = 0; i < n && i < 300; i++)
    snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%02X ", want[i]);
  cr_assert(g_h.rec_len == n && memcmp(g_h.rec, want, n) == 0, "record\n got  %s\n want %s", got,
            exp);
}

static void close_term(void) {
  weft_terminal_release(g_t);
  th_finish(g_r);
}

static void p_send(weft_task *t) {
  TMAP m;
  memset(&m, 0, sizeof m);
  strcpy(m.MSG.data, "HI [X]");
  g_rc = weft_send_map(t, &tmap, &m, WEFT_MAP_ERASE | WEFT_MAP_FREEKB, 0);
}

Test(bms, send_map_record) {
  open_term(WEFT_DEVICE_3270, 1);
  run("SEND", p_send);
  cr_assert_eq(g_rc, 0);
  static const unsigned char want[] = {
      0xF5, 0xC2,                                           /* EW, WCC reset + restore */
      0x11, 0xC1, 0x50, 0x1D, 0xF0,                         /* SBA(1,0) = 80 = 1:16, SF(autoskip) */
      0xC1, 0x83, 0x83, 0xA3, 0x7A,                         /* "Acct:" */
      0x11, 0xC1, 0xD9, 0x29, 0x02, 0xC0, 0x50, 0x41, 0xF4, /* SBA(1,9) SFE(num, underline) */
      0x11, 0xC1, 0xE2, 0x1D, 0xF0,                         /* stopper at (1,18) */
      0x11, 0xC5, 0x40, 0x29, 0x02, 0xC0, 0xF8, 0x42, 0xF2, /* SBA(4,0) SFE(askip brt, red) */
      0xC8, 0xC9, 0x40, 0xBA, 0xE7, 0xBB,                   /* "HI [X]" in CP037 */
      0x11, 0xC1, 0x5A, 0x13,                               /* cursor: the IC field's data (1,10) */
  };
  rec_is(want, sizeof want);
  close_term();
}

static void p_cursor(weft_task *t) {
  TMAP m;
  memset(&m, 0, sizeof m);
  m.MSG.h.len = -1;                              /* symbolic cursor */
  m.ACCT.h.attr = WEFT_ATTR_SET | WEFT_ATTR_BRT; /* override: bright */
  strcpy(m.ACCT.data, "12");
  g_rc = weft_send_map(t, &tmap, &m, WEFT_MAP_DATAONLY | WEFT_MAP_ALARM, 0);
}

Test(bms, dataonly_override_symbolic_cursor) {
  open_term(WEFT_DEVICE_3270, 0);
  run("CURS", p_cursor);
  cr_assert_eq(g_rc, 0);
  static const unsigned char want[] = {
      0xF1, 0xC4,                   /* Write, WCC alarm */
      0x11, 0xC1, 0xD9, 0x1D, 0xC8, /* ACCT: SF(unprot bright), no SFE on a plain terminal */
      0xF1, 0xF2, 0,    0,    0,    0, 0, 0, /* "12" and nulls to its length */
      0x11, 0xC5, 0xC1, 0x13,                /* cursor: MSG's data (4,1) */
  };
  rec_is(want, sizeof want);
  close_term();
}

static void p_receive(weft_task *t) {
  g_rc = weft_receive_map(t, &tmap, &g_sym, &g_aid, 1000);
  g_rc2 = weft_last_aid(t, NULL, &g_row, &g_col);
}

Test(bms, receive_map_fills_the_symbolic_map) {
  open_term(WEFT_DEVICE_3270, 0);
  /* PF5, cursor (1,12), ACCT's data (1,10) "42". */
  static const unsigned char in[] = {0xF5, 0xC1, 0x5C, 0x11, 0xC1, 0x5A, 0xF4, 0xF2};
  cr_assert_eq(weft_terminal_input_record(g_t, in, sizeof in, "42", 2), 0);
  memset(&g_sym, 0x55, sizeof g_sym);
  run("RECV", p_receive);
  cr_assert_eq(g_rc, 0, "%s", weft_err_name(g_rc));
  cr_assert_eq(g_aid, WEFT_AID_PF5);
  cr_assert_eq(g_sym.ACCT.h.len, 2);
  cr_assert_eq(g_sym.ACCT.h.flag, 1);
  cr_assert_arr_eq(g_sym.ACCT.data, "42      ", 8);
  cr_assert_eq(g_sym.MSG.h.len, 0);
  cr_assert_eq(g_sym.MSG.h.flag, 0);
  cr_assert_eq(g_rc2, 0);
  cr_assert_eq(g_row, 1);
  cr_assert_eq(g_col, 12);
  close_term();
}

static void p_line(weft_task *t) {
  size_t len = 0;
  g_rc = weft_receive(t, g_line, sizeof g_line - 1, &len, 1000);
  g_line[len] = 0;
}

Test(bms, line_receive_on_a_3270_gets_the_text) {
  open_term(WEFT_DEVICE_3270, 0);
  static const unsigned char in[] = {0x7D, 0xC1, 0x5C, 0x11, 0xC1, 0x5A, 0xF4, 0xF2};
  cr_assert_eq(weft_terminal_input_record(g_t, in, sizeof in, "42", 2), 0);
  run("LINE", p_line);
  cr_assert_eq(g_rc, 0);
  cr_assert_str_eq(g_line, "42");
  close_term();
}

static void p_on_line(weft_task *t) {
  TMAP m;
  memset(&m, 0, sizeof m);
  g_rc = weft_send_map(t, &tmap, &m, WEFT_MAP_ERASE, 0);
  g_rc2 = weft_receive_map(t, &tmap, &m, NULL, 0);
  weft_terminal_device d;
  weft_task_device(t, &d);
  g_aid = d.kind;
}

Test(bms, maps_on_a_line_terminal_are_refused) {
  open_term(WEFT_DEVICE_LINE, 0);
  run("LMAP", p_on_line);
  cr_assert_eq(g_rc, WEFT_ENOTSUP);
  cr_assert_eq(g_rc2, WEFT_ENOTSUP);
  cr_assert_eq(g_aid, WEFT_DEVICE_LINE);
  cr_assert_eq(weft_terminal_input_record(g_t, "x", 1, "x", 1), WEFT_ENOTSUP);
  close_term();
}

Test(bms, device_checks) {
  weft_region *r = th_region(1, 4);
  weft_terminal *t;
  static const weft_terminal_ops line_ops = {.send = h_send, .ended = h_ended};
  cr_assert_eq(weft_terminal_create(r, "L1", &line_ops, NULL, &t), 0);
  weft_terminal_device d = {.kind = WEFT_DEVICE_3270, .model = 2, .rows = 24, .cols = 80};
  cr_assert_eq(weft_terminal_set_device(t, &d), WEFT_EINVAL); /* no send_record */
  weft_terminal_release(t);
  cr_assert_eq(weft_terminal_create(r, "T1", &ops_3270, NULL, &t), 0);
  d.model = 6;
  cr_assert_eq(weft_terminal_set_device(t, &d), WEFT_EINVAL);
  d.model = 2;
  d.kind = 7;
  cr_assert_eq(weft_terminal_set_device(t, &d), WEFT_EINVAL);
  d.kind = WEFT_DEVICE_3270;
  cr_assert_eq(weft_terminal_set_device(t, &d), 0);
  weft_terminal_release(t);
  th_finish(r);
}
