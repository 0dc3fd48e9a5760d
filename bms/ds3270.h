/* ds3270.h - the 3270 data stream as pure functions over byte buffers:
 * EBCDIC code page 037, buffer addresses (12- and 14-bit), field
 * attributes, an outbound stream builder and the Read Modified parser.
 *
 * Nothing here allocates but ds_buf (which grows its own storage, up to
 * a bound), touches a region or calls the platform: weft.dll's screen maps
 * (bms/) and weftd's TN3270 server (tools/weftd/tn3270.c) both use it, and
 * tests/test_ds3270.c tests it on its own. Every function is safe on any
 * thread for distinct buffers. */
#ifndef WEFT_DS3270_H
#define WEFT_DS3270_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- EBCDIC, code page 037 ----------------------------------------------
 * Exactly IBM code page 037 (USA/Canada), ISO-8859-1 <-> CP037, both
 * directions one to one over all 256 byte values. "[" is 0xBA and "]" 0xBB
 * (the "bracket" page of some emulators puts them at 0xAD 0xBD). */
extern const unsigned char ds_a2e[256]; /* Latin-1 -> CP037 */
extern const unsigned char ds_e2a[256]; /* CP037 -> Latin-1 */

/* ---- Commands, WCC, orders, AIDs --------------------------------------- */
enum {
  DS_CMD_W = 0xF1,   /* Write */
  DS_CMD_EW = 0xF5,  /* Erase/Write (default size, 24x80) */
  DS_CMD_EWA = 0x7E, /* Erase/Write Alternate (the model's size) */
  DS_CMD_RB = 0xF2,  /* Read Buffer */
  DS_CMD_RM = 0xF6,  /* Read Modified */
  DS_CMD_RMA = 0x6E, /* Read Modified All */
  DS_CMD_EAU = 0x6F, /* Erase All Unprotected */
  DS_CMD_WSF = 0xF3, /* Write Structured Field */
};
/* WCC bits (before the 6-bit encoding). */
#define DS_WCC_RESET 0x40    /* reset */
#define DS_WCC_ALARM 0x04    /* sound the alarm */
#define DS_WCC_RESTORE 0x02  /* keyboard restore (unlock) */
#define DS_WCC_RESETMDT 0x01 /* reset every field's MDT */
enum {
  DS_ORD_SF = 0x1D,
  DS_ORD_SFE = 0x29,
  DS_ORD_SBA = 0x11,
  DS_ORD_SA = 0x28,
  DS_ORD_MF = 0x2C,
  DS_ORD_IC = 0x13,
  DS_ORD_PT = 0x05,
  DS_ORD_RA = 0x3C,
  DS_ORD_EUA = 0x12,
  DS_ORD_GE = 0x08,
};
/* Field attribute bits (before the 6-bit encoding). */
#define DS_FA_PROT 0x20 /* protected */
#define DS_FA_NUM 0x10  /* numeric (with PROT: autoskip) */
#define DS_FA_DET 0x04  /* normal, light-pen detectable */
#define DS_FA_BRT 0x08  /* intensified */
#define DS_FA_DRK 0x0C  /* non-display */
#define DS_FA_DISPMASK 0x0C
#define DS_FA_MDT 0x01 /* modified data tag */
/* Extended attribute types (SFE, SA) and values. */
#define DS_XA_HILIGHT 0x41 /* F0 default, F1 blink, F2 reverse, F4 underscore */
#define DS_XA_COLOR 0x42   /* F1 blue F2 red F3 pink F4 green F5 turquoise F6 yellow F7 white */
#define DS_XA_3270 0xC0    /* the basic field attribute */

/* AIDs. */
enum {
  DS_AID_NONE = 0x60,
  DS_AID_ENTER = 0x7D,
  DS_AID_CLEAR = 0x6D,
  DS_AID_PA1 = 0x6C,
  DS_AID_PA2 = 0x6E,
  DS_AID_PA3 = 0x6B,
  DS_AID_SYSREQ = 0xF0,
  DS_AID_SF = 0x88,
};
/* PF1-PF24's AID (n 1-24), or 0 for another n. */
unsigned char ds_aid_pf(int n);
/* The PF number of an AID (1-24), 0 if it is not a PF key. */
int ds_aid_pf_number(unsigned char aid);
/* Is aid one a terminal sends (Enter, Clear, PA1-3, PF1-24)? */
bool ds_aid_known(unsigned char aid);
/* A short read: the AID alone (Clear, PA keys), no cursor nor fields. */
bool ds_aid_short(unsigned char aid);

/* ---- Addresses ------------------------------------------------------------ */
/* The byte that carries the 6-bit value v (0-63): addresses, WCC, attributes. */
unsigned char ds_code6(unsigned v);
/* Encode buffer address addr: the 12-bit form when addr < 4096, else
 * 14-bit. -1 when addr >= 16384. */
int ds_addr_encode(unsigned addr, unsigned char out[2]);
/* Decode a 12- or 14-bit address (either form). */
unsigned ds_addr_decode(const unsigned char b[2]);

/* ---- Screen sizes ------------------------------------------------------------ */
/* A 3270's model: 2 (24x80), 3 (32x80), 4 (43x80), 5 (27x132). */
typedef struct ds_model {
  int model;           /* 2-5 */
  unsigned rows, cols; /* the alternate (model) size; the default is 24x80 */
  bool extended;       /* the terminal type ends in -E: colour, highlighting, SFE */
} ds_model;
/* Parse a terminal type such as IBM-3278-2, IBM-3279-4-E, IBM-3278-5-E:
 * 0 and *m, or -1 when it is not a 3278/3279 model 2-5. */
int ds_model_parse(const char *type, ds_model *m);

/* ---- The outbound builder ------------------------------------------------------
 * Ownership: the caller owns a ds_buf and its storage (ds_buf_free). A
 * failed append (over max, or out of memory) sets failed and every later
 * append does nothing: check failed once at the end. */
typedef struct ds_buf {
  unsigned char *b; /* the bytes (malloc'd) */
  size_t len, cap;
  size_t max;    /* bound on len (0: 1 MiB) */
  bool failed;   /* an append did not fit */
  unsigned cols; /* columns of the screen being written (for ds_sba) */
} ds_buf;

void ds_buf_init(ds_buf *b, unsigned cols, size_t max);
void ds_buf_free(ds_buf *b);
void ds_put(ds_buf *b, const void *p, size_t n);
void ds_byte(ds_buf *b, unsigned char c);
/* Command and WCC (WCC as DS_WCC_* bits). */
void ds_cmd(ds_buf *b, unsigned char cmd, unsigned wcc);
/* SBA to row, col (0-based). */
void ds_sba(ds_buf *b, unsigned row, unsigned col);
/* SF with attribute bits DS_FA_*. */
void ds_sf(ds_buf *b, unsigned fa);
/* SFE with attribute bits and colour / highlighting (0: none). */
void ds_sfe(ds_buf *b, unsigned fa, unsigned char color, unsigned char hilight);
void ds_ic(ds_buf *b);
/* Text in Latin-1, written as CP037; control characters become blanks. */
void ds_text(ds_buf *b, const char *s, size_t n);

/* ---- Inbound (Read Modified) ------------------------------------------------ */
#define DS_IN_FIELDS_MAX 256

typedef struct ds_in_field {
  unsigned addr;             /* the field's first data byte */
  const unsigned char *data; /* EBCDIC, in the record */
  size_t len;
} ds_in_field;

/* A parsed inbound record; points into the record it came from. */
typedef struct ds_input {
  unsigned char aid;
  unsigned cursor; /* 0 for a short read */
  bool short_read; /* the AID alone */
  size_t n_fields; /* formatted: the modified fields */
  ds_in_field fields[DS_IN_FIELDS_MAX];
  const unsigned char *text; /* unformatted: what was typed (EBCDIC) */
  size_t text_len;
} ds_input;

/* Errors of ds_parse_input. */
enum {
  DS_OK = 0,
  DS_EEMPTY = -1,
  DS_EAID = -2,
  DS_ESHORT = -3,
  DS_EADDR = -4,
  DS_EORDER = -5,
  DS_EFIELDS = -6
};
/* Parse one inbound record (after the TN3270E header): AID, cursor and
 * the modified fields (SBA + address + data), addresses checked against
 * size (rows x cols). An unformatted screen's record has data without SBA:
 * it goes to text. Returns DS_OK or a DS_E* code (and a message). */
int ds_parse_input(const unsigned char *rec, size_t len, unsigned size, ds_input *in);
const char *ds_strerror(int rc);
/* The record in Latin-1 text, for a line-mode receive on a 3270 (into out,
 * cap bytes with its NUL; returns the length): an unformatted screen's
 * typed text; a formatted one's modified fields, in screen order, each
 * with trailing blanks cut, separated by one blank. */
size_t ds_input_text(const ds_input *in, char *out, size_t cap);

#endif /* WEFT_DS3270_H */
