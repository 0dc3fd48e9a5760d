/* tnneg.h - the telnet side of a TN3270 server connection as a pure state
 * machine over byte buffers: TN3270E negotiation (RFC 2355: DEVICE-TYPE
 * with an optional requested device name, CONNECT, FUNCTIONS "none"),
 * the fallback to plain TN3270 (RFC 1576: TERMINAL-TYPE, BINARY,
 * END-OF-RECORD) when the client refuses TN3270E, then the records of the
 * session: IAC EOR ends one, IAC IAC is a data byte 0xFF, TN3270E's
 * 5-byte header is checked and taken off.
 *
 * The caller (weftd's tn3270.c, tests/test_ds3270.c) feeds it the bytes
 * it reads and sends what it appends to an output ds_buf; no socket, no
 * clock, no allocation but the caller's buffers.
 *
 * Ownership: a tn_conn belongs to its caller, who alone calls these on it
 * (weftd: the TN3270 network thread). */
#ifndef WEFT_TNNEG_H
#define WEFT_TNNEG_H

#include <stdbool.h>
#include <stddef.h>

#include "bms/ds3270.h"

#define TN_TYPE_MAX 40 /* terminal type characters kept */
#define TN_NAME_MAX 8  /* a device name: the terminal id, 1-8 characters */
#define TN_SUB_MAX 128 /* a subnegotiation longer than this is refused */

/* Telnet bytes. */
enum {
  TN_IAC = 255,
  TN_DONT = 254,
  TN_DO = 253,
  TN_WONT = 252,
  TN_WILL = 251,
  TN_SB = 250,
  TN_SE = 240,
  TN_EOR = 239,
  TN_NOP = 241
};
/* Options. */
enum { TN_OPT_BINARY = 0, TN_OPT_TTYPE = 24, TN_OPT_EOR = 25, TN_OPT_TN3270E = 40 };

/* Where the negotiation is. */
enum {
  TN_NEG_E,        /* DO TN3270E sent: waiting for WILL / WONT */
  TN_NEG_E_TYPE,   /* SEND DEVICE-TYPE sent: waiting for DEVICE-TYPE REQUEST */
  TN_NEG_E_NAME,   /* type known: the caller must tn_assign a device name */
  TN_NEG_E_FUNCS,  /* DEVICE-TYPE IS sent: waiting for FUNCTIONS REQUEST */
  TN_NEG_TTYPE,    /* DO TERMINAL-TYPE sent: waiting for WILL / WONT */
  TN_NEG_TTYPE_IS, /* SB SEND sent: waiting for the type */
  TN_NEG_NAME,     /* TN3270: the caller must tn_assign a device name */
  TN_NEG_OPTS,     /* DO/WILL EOR and BINARY sent: waiting for the 4 answers */
  TN_NEG_UP,       /* records flow */
  TN_NEG_FAILED,   /* refused or broken: close the connection */
};

/* What tn_feed stopped for. */
enum {
  TN_EV_NONE,   /* every byte used, nothing to report */
  TN_EV_NAME,   /* a device name is needed: call tn_assign (type and requested name set) */
  TN_EV_UP,     /* the negotiation is done: records may be sent */
  TN_EV_RECORD, /* an inbound record is in rec / rec_len (valid until the next feed) */
  TN_EV_ERROR,  /* the connection is broken (error says why): close it */
};

typedef struct tn_conn {
  int state;                      /* TN_NEG_* */
  bool tn3270e;                   /* TN3270E (else plain TN3270) */
  char type[TN_TYPE_MAX + 1];     /* the terminal type, e.g. IBM-3278-2-E */
  char req_name[TN_NAME_MAX + 1]; /* TN3270E: the device name the client asked for ("") */
  char name[TN_NAME_MAX + 1];     /* the device name assigned */
  ds_model model;                 /* from type */
  unsigned opts;                  /* TN3270: the option answers seen (bits) */
  /* The byte parser. */
  int ps;            /* where it is inside a telnet command */
  unsigned char cmd; /* WILL..DONT being read */
  unsigned char sub[TN_SUB_MAX];
  size_t sub_len;
  unsigned char *rec; /* the record being assembled (caller's buffer) */
  size_t rec_len, rec_max;
  bool rec_over;             /* the record passed rec_max: it is refused */
  const unsigned char *data; /* TN_EV_RECORD: the 3270 data (header taken off) */
  size_t data_len;
  unsigned short seq;       /* TN3270E: the next outbound sequence number */
  const char *error;        /* why TN_EV_ERROR (static text) */
  unsigned records_ignored; /* TN3270E records that are not 3270-DATA */
} tn_conn;

/* Start a connection: rec (rec_max bytes, the caller's) assembles inbound
 * records; out gets IAC DO TN3270E. */
void tn_init(tn_conn *c, unsigned char *rec, size_t rec_max, ds_buf *out);
/* Use bytes in[0..len): stops at the first event, *used says how many
 * were consumed (feed the rest again). Replies go to out. */
int tn_feed(tn_conn *c, const unsigned char *in, size_t len, size_t *used, ds_buf *out);
/* Answer TN_EV_NAME: name (1-8 characters) is the device's; NULL refuses
 * the connection (no device free). Replies go to out. */
void tn_assign(tn_conn *c, const char *name, ds_buf *out);
/* Frame one outbound 3270 record (command onward): the TN3270E header
 * when in use, FF doubled, IAC EOR. Appended to out. */
void tn_frame(tn_conn *c, const unsigned char *data, size_t len, ds_buf *out);

#endif /* WEFT_TNNEG_H */
