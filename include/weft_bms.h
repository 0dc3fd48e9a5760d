/* weft_bms.h - screen maps for 3270 terminals (BMS-style), part of weft.h.
 *
 * A map set's source (docs/maps.md) is compiled by weftmap into a C header
 * that holds, per map, the physical map (a const weft_map: where each
 * field is, its attributes and initial value) and the symbolic map (a
 * struct with, per named field, its length, flag, attribute override and
 * data). A program fills the symbolic map and sends it with
 * weft_send_map; weft_receive_map fills it from what the terminal sent.
 * On a line terminal the map calls return WEFT_ENOTSUP (weft_send_text
 * works on both kinds). The data stream uses EBCDIC code page 037.
 * docs/tn3270.md describes the whole. */
#ifndef WEFT_BMS_H
#define WEFT_BMS_H

#ifndef WEFT_H
#error "include weft.h, not weft_bms.h"
#endif

/* ---- AIDs: the key that sent the input -------------------------------- */
#define WEFT_AID_NONE 0x60
#define WEFT_AID_ENTER 0x7D
#define WEFT_AID_CLEAR 0x6D
#define WEFT_AID_PA1 0x6C
#define WEFT_AID_PA2 0x6E
#define WEFT_AID_PA3 0x6B
#define WEFT_AID_PF1 0xF1
#define WEFT_AID_PF2 0xF2
#define WEFT_AID_PF3 0xF3
#define WEFT_AID_PF4 0xF4
#define WEFT_AID_PF5 0xF5
#define WEFT_AID_PF6 0xF6
#define WEFT_AID_PF7 0xF7
#define WEFT_AID_PF8 0xF8
#define WEFT_AID_PF9 0xF9
#define WEFT_AID_PF10 0x7A
#define WEFT_AID_PF11 0x7B
#define WEFT_AID_PF12 0x7C
#define WEFT_AID_PF13 0xC1
#define WEFT_AID_PF14 0xC2
#define WEFT_AID_PF15 0xC3
#define WEFT_AID_PF16 0xC4
#define WEFT_AID_PF17 0xC5
#define WEFT_AID_PF18 0xC6
#define WEFT_AID_PF19 0xC7
#define WEFT_AID_PF20 0xC8
#define WEFT_AID_PF21 0xC9
#define WEFT_AID_PF22 0x4A
#define WEFT_AID_PF23 0x4B
#define WEFT_AID_PF24 0x4C

/* ---- Field attributes (ATTRB=) ------------------------------------------ */
#define WEFT_ATTR_UNPROT 0x00 /* the operator may type in it (the default) */
#define WEFT_ATTR_ASKIP 0x01  /* protected, the cursor skips it */
#define WEFT_ATTR_PROT 0x02   /* protected */
#define WEFT_ATTR_NUM 0x04    /* numeric input (with ASKIP/PROT: autoskip) */
#define WEFT_ATTR_BRT 0x08    /* bright (intensified) */
#define WEFT_ATTR_DRK 0x10    /* dark: not displayed (passwords) */
#define WEFT_ATTR_IC 0x20     /* the cursor goes to this field */
#define WEFT_ATTR_FSET 0x40   /* sent back even if not modified (MDT on) */
#define WEFT_ATTR_SET 0x80    /* in a symbolic map's attr: this override applies */
/* NORM is the absence of BRT and DRK. */
#define WEFT_ATTR_NORM 0x00

/* Colours and highlighting (COLOR=, HILIGHT=; shown on -E terminals only). */
#define WEFT_COLOR_DEFAULT 0
#define WEFT_COLOR_BLUE 0xF1
#define WEFT_COLOR_RED 0xF2
#define WEFT_COLOR_PINK 0xF3
#define WEFT_COLOR_GREEN 0xF4
#define WEFT_COLOR_TURQUOISE 0xF5
#define WEFT_COLOR_YELLOW 0xF6
#define WEFT_COLOR_NEUTRAL 0xF7
#define WEFT_HILIGHT_OFF 0
#define WEFT_HILIGHT_BLINK 0xF1
#define WEFT_HILIGHT_REVERSE 0xF2
#define WEFT_HILIGHT_UNDERLINE 0xF4

#define WEFT_JUST_LEFT 0
#define WEFT_JUST_RIGHT 1 /* numeric fields: right-justified, filled with fill */

/* One field of a physical map (weftmap writes these). */
typedef struct weft_map_field {
  const char *name;    /* NULL: a constant (a label) */
  uint16_t row, col;   /* 1-based, within the map: where the attribute byte goes */
  uint16_t length;     /* data bytes after the attribute byte */
  uint16_t attr;       /* WEFT_ATTR_* */
  uint8_t color;       /* WEFT_COLOR_* */
  uint8_t hilight;     /* WEFT_HILIGHT_* */
  uint8_t justify;     /* WEFT_JUST_* */
  char fill;           /* with WEFT_JUST_RIGHT: '0' or ' ' */
  const char *initial; /* the initial value (INITIAL=), or NULL */
  uint32_t sym;        /* named fields: the offset of its entry in the symbolic map */
} weft_map_field;

/* A physical map. */
typedef struct weft_map {
  const char *mapset, *name;
  uint16_t rows, cols;   /* SIZE=: the map's size */
  uint16_t line, column; /* 1-based: where the map's (1,1) goes on the screen */
  uint16_t n_fields;
  const weft_map_field *fields;
  uint32_t sym_size; /* the symbolic map's size */
} weft_map;

/* The head of each named field's entry in a symbolic map; its data (length
 * bytes) follows it. WEFT_MAP_FIELD(n) declares one entry. */
typedef struct weft_map_sym {
  int16_t len;     /* receive: the bytes the terminal sent (0: none). send: -1 puts
                       the cursor here (symbolic cursor) */
  uint8_t flag;    /* receive: 1 when the field was sent (modified) */
  uint8_t attr;    /* send: WEFT_ATTR_SET | WEFT_ATTR_* overrides the map's attributes */
  uint8_t color;   /* send: a colour override (0: the map's) */
  uint8_t hilight; /* send: a highlighting override (0: the map's) */
  uint8_t pad[2];
} weft_map_sym;
#define WEFT_MAP_FIELD(n) \
  struct {                \
    weft_map_sym h;       \
    char data[n];         \
  }

/* weft_send_map flags (a CICS SEND MAP's options). */
#define WEFT_MAP_ERASE 0x01    /* erase the screen first */
#define WEFT_MAP_MAPONLY 0x02  /* the map's constants and initial values only */
#define WEFT_MAP_DATAONLY 0x04 /* the symbolic map's data only, over the screen shown */
#define WEFT_MAP_ALARM 0x08    /* sound the alarm */
#define WEFT_MAP_FREEKB 0x10   /* unlock the keyboard */
#define WEFT_MAP_FRSET 0x20    /* reset every field's modified tag */
#define WEFT_MAP_CURSOR 0x40   /* put the cursor at the cursor argument (row*cols+col) */

/* Task. Send map with the data of sym (NULL: like MAPONLY). Data is
 * Latin-1 text; a field's data ends at its first NUL or its length; a
 * field whose data starts with NUL shows its initial value (ERASE) or is
 * left as it is. The cursor: at cursor with WEFT_MAP_CURSOR, else at the
 * first named field whose len is -1, else at the first IC field. The
 * screen is 24x80 when the map fits in it, else the terminal's alternate
 * size. 0; WEFT_ENOTSUP on a line terminal; WEFT_ERANGE when the map does
 * not fit the terminal; WEFT_ESTATE without a terminal. A gone terminal
 * abends the task ATNI. */
WEFT_API int weft_send_map(weft_task *t, const weft_map *map, const void *sym, unsigned flags,
                           int cursor);
/* Task. Wait for the terminal's input (the next step of a
 * pseudo-conversation already has it: the screen that started it) and
 * fill sym: each named field's data (Latin-1, blank-padded to its length;
 * right-justified numeric fields filled with their fill), len (bytes sent)
 * and flag; *aid (may be NULL) the key. A Clear or PA key sends no data:
 * every len is 0. 0; WEFT_ENOTSUP on a line terminal; WEFT_ETIMEDOUT;
 * WEFT_ESTATE without a terminal. */
WEFT_API int weft_receive_map(weft_task *t, const weft_map *map, void *sym, int *aid,
                              unsigned timeout_ms);
/* Task. Send text: on a 3270, an unformatted screen (ERASE) or lines
 * added to the text screen (docs/tn3270.md); on a line terminal, as
 * weft_send. flags: WEFT_MAP_ERASE, _ALARM, _FREEKB. */
WEFT_API int weft_send_text(weft_task *t, const char *text, size_t len, unsigned flags);
/* Task. The AID and cursor (0-based row and column) of the last input
 * weft_receive_map took in this task: 0, or WEFT_ENOTFOUND before one. */
WEFT_API int weft_last_aid(weft_task *t, int *aid, int *row, int *col);

#endif /* WEFT_BMS_H */
