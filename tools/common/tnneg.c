/* tnneg.c - TN3270E / TN3270 negotiation and record framing (tnneg.h). */
#include "tnneg.h"

#include <string.h>

/* TN3270E sub-commands and DEVICE-TYPE reasons (RFC 2355). */
enum {
  E_CONNECT = 1,
  E_DEVICE_TYPE = 2,
  E_FUNCTIONS = 3,
  E_IS = 4,
  E_REASON = 5,
  E_REJECT = 6,
  E_REQUEST = 7,
  E_SEND = 8
};
enum { E_DEVICE_IN_USE = 1, E_INV_DEVICE_TYPE = 4 };
/* The byte parser's states. */
enum { PS_DATA, PS_IAC, PS_OPT, PS_SB, PS_SB_IAC };
/* TN3270: the four option answers. */
#define OPT_WILL_EOR 1u
#define OPT_DO_EOR 2u
#define OPT_WILL_BIN 4u
#define OPT_DO_BIN 8u
#define TN3270E_HDR 5

static void put3(ds_buf *out, unsigned char a, unsigned char b, unsigned char c) {
  unsigned char x[3] = {a, b, c};
  ds_put(out, x, 3);
}

static void sub_begin(ds_buf *out, unsigned char opt) {
  ds_byte(out, TN_IAC);
  ds_byte(out, TN_SB);
  ds_byte(out, opt);
}

static void sub_end(ds_buf *out) {
  ds_byte(out, TN_IAC);
  ds_byte(out, TN_SE);
}

static int fail(tn_conn *c, const char *why) {
  c->state = TN_NEG_FAILED;
  c->error = why;
  return TN_EV_ERROR;
}

void tn_init(tn_conn *c, unsigned char *rec, size_t rec_max, ds_buf *out) {
  memset(c, 0, sizeof *c);
  c->rec = rec;
  c->rec_max = rec_max;
  c->state = TN_NEG_E;
  put3(out, TN_IAC, TN_DO, TN_OPT_TN3270E);
}

/* ---- Options ------------------------------------------------------------------ */

/* The client refused TN3270E: plain TN3270 from TERMINAL-TYPE on. */
static void fallback(tn_conn *c, ds_buf *out) {
  c->tn3270e = false;
  c->state = TN_NEG_TTYPE;
  put3(out, TN_IAC, TN_DO, TN_OPT_TTYPE);
}

/* TN3270: the option answers; UP when all four came. */
static int opts_answer(tn_conn *c, unsigned char cmd, unsigned char opt) {
  if (opt != TN_OPT_EOR && opt != TN_OPT_BINARY)
    return TN_EV_NONE;
  if (cmd == TN_WONT || cmd == TN_DONT)
    return fail(c, "the client refused BINARY or END-OF-RECORD");
  bool eor = opt == TN_OPT_EOR;
  c->opts |= cmd == TN_WILL ? (eor ? OPT_WILL_EOR : OPT_WILL_BIN) : (eor ? OPT_DO_EOR : OPT_DO_BIN);
  if (c->opts != (OPT_WILL_EOR | OPT_DO_EOR | OPT_WILL_BIN | OPT_DO_BIN))
    return TN_EV_NONE;
  c->state = TN_NEG_UP;
  return TN_EV_UP;
}

/* WILL/WONT/DO/DONT opt, in the negotiation's state. */
static int option(tn_conn *c, unsigned char cmd, unsigned char opt, ds_buf *out) {
  if (c->state == TN_NEG_E && opt == TN_OPT_TN3270E) {
    if (cmd == TN_WILL) {
      c->tn3270e = true;
      c->state = TN_NEG_E_TYPE;
      sub_begin(out, TN_OPT_TN3270E);
      ds_byte(out, E_SEND);
      ds_byte(out, E_DEVICE_TYPE);
      sub_end(out);
    } else if (cmd == TN_WONT) {
      fallback(c, out);
    }
    return TN_EV_NONE;
  }
  if (c->state == TN_NEG_TTYPE && opt == TN_OPT_TTYPE) {
    if (cmd == TN_WONT)
      return fail(c, "the client refused TERMINAL-TYPE: not a 3270 emulator");
    if (cmd == TN_WILL) {
      c->state = TN_NEG_TTYPE_IS;
      sub_begin(out, TN_OPT_TTYPE);
      ds_byte(out, 1); /* SEND */
      sub_end(out);
    }
    return TN_EV_NONE;
  }
  if (c->state == TN_NEG_OPTS)
    return opts_answer(c, cmd, opt);
  bool ours =
      opt == TN_OPT_BINARY || opt == TN_OPT_EOR || opt == TN_OPT_TTYPE || opt == TN_OPT_TN3270E;
  if (!ours && (cmd == TN_WILL || cmd == TN_DO)) /* refused; WONT/DONT need no answer */
    put3(out, TN_IAC, cmd == TN_WILL ? TN_DONT : TN_WONT, opt);
  return TN_EV_NONE;
}

/* ---- Subnegotiations --------------------------------------------------------------- */

/* Take a terminal type from p[0..n) (printable, bounded) into c->type. */
static bool type_take(tn_conn *c, const unsigned char *p, size_t n) {
  if (n == 0 || n > TN_TYPE_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7E)
      return false;
  memcpy(c->type, p, n);
  c->type[n] = '\0';
  return ds_model_parse(c->type, &c->model) == 0;
}

/* TN3270E DEVICE-TYPE REQUEST <type> [CONNECT <name>]. */
static int e_device_type(tn_conn *c, const unsigned char *p, size_t n, ds_buf *out) {
  const unsigned char *conn = memchr(p, E_CONNECT, n);
  size_t tn = conn ? (size_t)(conn - p) : n;
  if (!type_take(c, p, tn)) {
    sub_begin(out, TN_OPT_TN3270E);
    unsigned char r[4] = {E_DEVICE_TYPE, E_REJECT, E_REASON, E_INV_DEVICE_TYPE};
    ds_put(out, r, 4);
    sub_end(out);
    return fail(c, "the terminal type is not a 3278/3279 model 2-5");
  }
  if (conn != NULL) {
    size_t nn = n - tn - 1;
    if (nn > TN_NAME_MAX)
      nn = 0; /* no such device: one is assigned */
    memcpy(c->req_name, conn + 1, nn);
    c->req_name[nn] = '\0';
  }
  c->state = TN_NEG_E_NAME;
  return TN_EV_NAME;
}

static int sub_tn3270e(tn_conn *c, const unsigned char *p, size_t n, ds_buf *out) {
  if (n >= 2 && p[0] == E_DEVICE_TYPE && p[1] == E_REQUEST && c->state == TN_NEG_E_TYPE)
    return e_device_type(c, p + 2, n - 2, out);
  if (n >= 2 && p[0] == E_FUNCTIONS && p[1] == E_REQUEST &&
      (c->state == TN_NEG_E_FUNCS || c->state == TN_NEG_UP)) {
    sub_begin(out, TN_OPT_TN3270E); /* FUNCTIONS IS: none */
    ds_byte(out, E_FUNCTIONS);
    ds_byte(out, E_IS);
    sub_end(out);
    if (c->state == TN_NEG_UP)
      return TN_EV_NONE;
    c->state = TN_NEG_UP;
    return TN_EV_UP;
  }
  if (c->state == TN_NEG_E_TYPE || c->state == TN_NEG_E_FUNCS)
    return fail(c, "unexpected TN3270E subnegotiation");
  return TN_EV_NONE;
}

/* A complete subnegotiation: c->sub holds option and parameters. */
static int subneg(tn_conn *c, ds_buf *out) {
  const unsigned char *p = c->sub;
  size_t n = c->sub_len;
  if (n == 0)
    return fail(c, "empty subnegotiation");
  if (p[0] == TN_OPT_TN3270E)
    return sub_tn3270e(c, p + 1, n - 1, out);
  if (p[0] == TN_OPT_TTYPE && c->state == TN_NEG_TTYPE_IS) {
    if (n < 2 || p[1] != 0 || !type_take(c, p + 2, n - 2))
      return fail(c, "the terminal type is not a 3278/3279 model 2-5");
    c->state = TN_NEG_NAME;
    return TN_EV_NAME;
  }
  return TN_EV_NONE; /* another option's: ignored */
}

void tn_assign(tn_conn *c, const char *name, ds_buf *out) {
  if (name == NULL) {
    if (c->tn3270e) {
      sub_begin(out, TN_OPT_TN3270E);
      unsigned char r[4] = {E_DEVICE_TYPE, E_REJECT, E_REASON, E_DEVICE_IN_USE};
      ds_put(out, r, 4);
      sub_end(out);
    }
    fail(c, "no device name is free");
    return;
  }
  strncpy(c->name, name, TN_NAME_MAX);
  c->name[TN_NAME_MAX] = '\0';
  if (c->tn3270e) {
    sub_begin(out, TN_OPT_TN3270E);
    ds_byte(out, E_DEVICE_TYPE);
    ds_byte(out, E_IS);
    ds_put(out, c->type, strlen(c->type));
    ds_byte(out, E_CONNECT);
    ds_put(out, c->name, strlen(c->name));
    sub_end(out);
    c->state = TN_NEG_E_FUNCS;
  } else {
    put3(out, TN_IAC, TN_DO, TN_OPT_EOR);
    put3(out, TN_IAC, TN_WILL, TN_OPT_EOR);
    put3(out, TN_IAC, TN_DO, TN_OPT_BINARY);
    put3(out, TN_IAC, TN_WILL, TN_OPT_BINARY);
    c->state = TN_NEG_OPTS;
  }
}

/* ---- Records --------------------------------------------------------------------------- */

static int record_end(tn_conn *c) {
  if (c->state != TN_NEG_UP)
    return fail(c, "END-OF-RECORD before the negotiation ended");
  if (c->rec_over)
    return fail(c, "an inbound record is longer than the limit");
  size_t n = c->rec_len, off = 0;
  c->rec_len = 0;
  if (c->tn3270e) {
    if (n < TN3270E_HDR)
      return fail(c, "a record is shorter than the TN3270E header");
    if (c->rec[0] != 0) { /* not 3270-DATA (responses, SSCP-LU ...): ignored */
      c->records_ignored++;
      return TN_EV_NONE;
    }
    off = TN3270E_HDR;
  }
  c->data = c->rec + off;
  c->data_len = n - off;
  return TN_EV_RECORD;
}

static int data_byte(tn_conn *c, unsigned char b) {
  if (c->state != TN_NEG_UP)
    return fail(c, "data before the negotiation ended");
  if (c->rec_len == c->rec_max)
    c->rec_over = true;
  else
    c->rec[c->rec_len++] = b;
  return TN_EV_NONE;
}

/* One byte through the telnet parser. */
static int feed_byte(tn_conn *c, unsigned char b, ds_buf *out) {
  switch (c->ps) {
    case PS_DATA:
      if (b == TN_IAC) {
        c->ps = PS_IAC;
        return TN_EV_NONE;
      }
      return data_byte(c, b);
    case PS_IAC:
      c->ps = PS_DATA;
      if (b == TN_IAC)
        return data_byte(c, b);
      if (b == TN_EOR)
        return record_end(c);
      if (b >= TN_WILL && b <= TN_DONT) {
        c->cmd = b;
        c->ps = PS_OPT;
        return TN_EV_NONE;
      }
      if (b == TN_SB) {
        c->sub_len = 0;
        c->ps = PS_SB;
        return TN_EV_NONE;
      }
      if (b >= TN_NOP && b < TN_SB)
        return TN_EV_NONE; /* NOP, DM, BRK, IP, AO, AYT, EC, EL, GA: ignored */
      return fail(c, "a broken telnet command (IAC followed by a data byte)");
    case PS_OPT:
      c->ps = PS_DATA;
      return option(c, c->cmd, b, out);
    case PS_SB:
      if (b == TN_IAC) {
        c->ps = PS_SB_IAC;
        return TN_EV_NONE;
      }
      if (c->sub_len == TN_SUB_MAX)
        return fail(c, "a subnegotiation longer than the limit");
      c->sub[c->sub_len++] = b;
      return TN_EV_NONE;
    default: /* PS_SB_IAC */
      if (b == TN_IAC) {
        c->ps = PS_SB;
        if (c->sub_len == TN_SUB_MAX)
          return fail(c, "a subnegotiation longer than the limit");
        c->sub[c->sub_len++] = b;
        return TN_EV_NONE;
      }
      if (b != TN_SE)
        return fail(c, "a broken subnegotiation (IAC not followed by SE)");
      c->ps = PS_DATA;
      return subneg(c, out);
  }
}

int tn_feed(tn_conn *c, const unsigned char *in, size_t len, size_t *used, ds_buf *out) {
  size_t i = 0;
  int ev = TN_EV_NONE;
  if (c->state == TN_NEG_FAILED) {
    *used = len;
    return TN_EV_ERROR;
  }
  while (i < len && ev == TN_EV_NONE) {
    if (c->state == TN_NEG_E_NAME || c->state == TN_NEG_NAME)
      break; /* waiting for tn_assign */
    ev = feed_byte(c, in[i++], out);
  }
  *used = i;
  return ev;
}

void tn_frame(tn_conn *c, const unsigned char *data, size_t len, ds_buf *out) {
  if (c->tn3270e) {
    unsigned char h[TN3270E_HDR] = {0, 0, 0, (unsigned char)(c->seq >> 8), (unsigned char)c->seq};
    c->seq++;
    for (int i = 0; i < TN3270E_HDR; i++) { /* the sequence number may hold FF */
      ds_byte(out, h[i]);
      if (h[i] == TN_IAC)
        ds_byte(out, TN_IAC);
    }
  }
  size_t from = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == TN_IAC) {
      ds_put(out, data + from, i + 1 - from);
      ds_byte(out, TN_IAC);
      from = i + 1;
    }
  }
  ds_put(out, data + from, len - from);
  ds_byte(out, TN_IAC);
  ds_byte(out, TN_EOR);
}
