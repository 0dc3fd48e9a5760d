/* bms.c - screen maps: weft_send_map, weft_receive_map, weft_send_text,
 * weft_last_aid (include/weft_bms.h). A map becomes one outbound 3270
 * record built with bms/ds3270.h and goes to the terminal through the
 * runtime's record calls (runtime/taskapi.h); input comes back the same
 * way and is decoded into the program's symbolic map.
 *
 * Ownership: a map (weft_map) is the program's, immutable; the symbolic
 * map is the calling task's. The per-task state (bms_task) is the task's
 * own, made at its first receive and freed at its end (ss_task_end). All
 * calls run on the task's own fiber. */
#include <stdlib.h>
#include <string.h>

#include "bms/bms.h"
#include "bms/ds3270.h"
#include "runtime/types.h"

/* The last input of a task. */
typedef struct bms_task {
  int bt_aid;              /* WEFT_AID_* */
  unsigned bt_row, bt_col; /* the cursor, 0-based */
} bms_task;

static void bms_task_end(weft_task *t, void *state) {
  (void)state;
  void **slot = weft__task_slot(t, &weft__bms_subsys);
  free(*slot);
  *slot = NULL;
}

const weft__subsys weft__bms_subsys = {
    .ss_name = "bms",
    .ss_task_end = bms_task_end,
};

/* ---- Geometry ---------------------------------------------------------------- */

/* The screen a map is shown on: 24x80 when it fits, else the terminal's
 * alternate size. 0, WEFT_ERANGE (it does not fit), WEFT_ENOTSUP (a line
 * terminal) or the device call's error. */
static int screen_of(weft_task *t, const weft_map *map, weft_terminal_device *dev, unsigned *rows,
                     unsigned *cols) {
  int rc = weft_task_device(t, dev);
  if (rc != 0)
    return rc;
  if (dev->kind != WEFT_DEVICE_3270)
    return WEFT_ENOTSUP;
  unsigned r = (unsigned)map->line - 1 + map->rows, c = (unsigned)map->column - 1 + map->cols;
  if (map->line == 0 || map->column == 0)
    return WEFT_EINVAL;
  if (r <= 24 && c <= 80) {
    *rows = 24;
    *cols = 80;
    return 0;
  }
  if (r > dev->rows || c > dev->cols)
    return WEFT_ERANGE;
  *rows = dev->rows;
  *cols = dev->cols;
  return 0;
}

/* A field's attribute byte position on the screen (0-based row, col). */
static void field_pos(const weft_map *map, const weft_map_field *f, unsigned *row, unsigned *col) {
  *row = (unsigned)map->line - 1 + f->row - 1;
  *col = (unsigned)map->column - 1 + f->col - 1;
}

static weft_map_sym *sym_of(void *sym, const weft_map_field *f) {
  return sym != NULL && f->name != NULL ? (weft_map_sym *)((char *)sym + f->sym) : NULL;
}

static char *data_of(weft_map_sym *s) {
  return (char *)(s + 1);
}

/* WEFT_ATTR_* into 3270 field attribute bits. */
static unsigned fa_bits(unsigned attr) {
  unsigned fa = 0;
  if (attr & WEFT_ATTR_ASKIP)
    fa |= DS_FA_PROT | DS_FA_NUM;
  else if (attr & WEFT_ATTR_PROT)
    fa |= DS_FA_PROT | ((attr & WEFT_ATTR_NUM) ? DS_FA_NUM : 0);
  else if (attr & WEFT_ATTR_NUM)
    fa |= DS_FA_NUM;
  if (attr & WEFT_ATTR_DRK)
    fa |= DS_FA_DRK;
  else if (attr & WEFT_ATTR_BRT)
    fa |= DS_FA_BRT;
  if (attr & WEFT_ATTR_FSET)
    fa |= DS_FA_MDT;
  return fa;
}

/* ---- Send ------------------------------------------------------------------------ */

/* Is there a field whose attribute byte is at (row, col)? */
static bool attr_at(const weft_map *map, unsigned row, unsigned col) {
  for (unsigned i = 0; i < map->n_fields; i++) {
    unsigned r, c;
    field_pos(map, &map->fields[i], &r, &c);
    if (r == row && c == col)
      return true;
  }
  return false;
}

/* The field's data to write: from sym (n bytes at most, to its NUL),
 * right-justified when the map says so. */
static size_t field_data(const weft_map_field *f, const char *src, char *out) {
  size_t n = strnlen(src, f->length);
  if (f->justify != WEFT_JUST_RIGHT || n == f->length) {
    memcpy(out, src, n);
    return n;
  }
  size_t pad = f->length - n;
  memset(out, f->fill ? f->fill : ' ', pad);
  memcpy(out + pad, src, n);
  return f->length;
}

/* One field into the stream b. */
static void send_field(ds_buf *b, const weft_map *map, const weft_map_field *f, void *sym,
                       unsigned flags, bool extended, char *tmp) {
  weft_map_sym *s = sym_of(sym, f);
  bool has_data = s != NULL && !(flags & WEFT_MAP_MAPONLY) && data_of(s)[0] != '\0';
  bool override = s != NULL && (s->attr & WEFT_ATTR_SET);
  if ((flags & WEFT_MAP_DATAONLY) && !has_data && !override)
    return; /* left as the screen shows it */
  unsigned row, col;
  field_pos(map, f, &row, &col);
  unsigned attr = override ? (s->attr & 0x7Fu) : f->attr;
  uint8_t color = s != NULL && s->color ? s->color : f->color;
  uint8_t hilight = s != NULL && s->hilight ? s->hilight : f->hilight;
  ds_sba(b, row, col);
  if (extended && (color != 0 || hilight != 0))
    ds_sfe(b, fa_bits(attr), color, hilight);
  else
    ds_sf(b, fa_bits(attr));
  size_t n = 0;
  if (has_data)
    n = field_data(f, data_of(s), tmp);
  else if (!(flags & WEFT_MAP_DATAONLY) && f->initial != NULL)
    memcpy(tmp, f->initial, n = strnlen(f->initial, f->length));
  ds_text(b, tmp, n);
  if ((flags & WEFT_MAP_DATAONLY) && !(attr & (WEFT_ATTR_ASKIP | WEFT_ATTR_PROT)))
    for (size_t i = n; i < f->length; i++)
      ds_byte(b, 0x00); /* clear what an earlier input left */
}

/* The cursor's address: the argument, the symbolic cursor, the first IC
 * field; -1 for none. */
static long cursor_of(const weft_map *map, void *sym, unsigned flags, int cursor, unsigned cols) {
  if (flags & WEFT_MAP_CURSOR)
    return cursor;
  for (int pass = 0; pass < 2; pass++)
    for (unsigned i = 0; i < map->n_fields; i++) {
      const weft_map_field *f = &map->fields[i];
      weft_map_sym *s = sym_of(sym, f);
      if ((pass == 0 && s != NULL && s->len == -1) || (pass == 1 && (f->attr & WEFT_ATTR_IC))) {
        unsigned r, c;
        field_pos(map, f, &r, &c);
        return (long)(r * cols + c + 1);
      }
    }
  return -1;
}

int weft_send_map(weft_task *t, const weft_map *map, const void *sym, unsigned flags, int cursor) {
  weft_terminal_device dev;
  unsigned rows, cols;
  if (map == NULL)
    return WEFT_EINVAL;
  int rc = screen_of(t, map, &dev, &rows, &cols);
  if (rc != 0)
    return rc;
  if ((flags & WEFT_MAP_CURSOR) && (cursor < 0 || (unsigned)cursor >= rows * cols))
    return WEFT_ERANGE;
  unsigned wcc = ((flags & WEFT_MAP_FREEKB) ? DS_WCC_RESTORE : 0) |
                 ((flags & WEFT_MAP_ALARM) ? DS_WCC_ALARM : 0) |
                 ((flags & WEFT_MAP_FRSET) ? DS_WCC_RESETMDT : 0);
  unsigned char cmd = DS_CMD_W;
  if (flags & WEFT_MAP_ERASE) {
    cmd = rows == 24 && cols == 80 ? DS_CMD_EW : DS_CMD_EWA;
    wcc |= DS_WCC_RESET;
  }
  ds_buf b;
  ds_buf_init(&b, cols, 0);
  ds_cmd(&b, cmd, wcc);
  char tmp[4096];
  for (unsigned i = 0; i < map->n_fields; i++) {
    const weft_map_field *f = &map->fields[i];
    if (f->length > sizeof tmp)
      continue;
    send_field(&b, map, f, (void *)sym, flags, dev.extended, tmp);
    unsigned r, c;
    field_pos(map, f, &r, &c);
    unsigned end = r * cols + c + 1 + f->length; /* the byte after the field */
    if (!(flags & WEFT_MAP_DATAONLY) && !(f->attr & (WEFT_ATTR_ASKIP | WEFT_ATTR_PROT)) &&
        end < rows * cols && !attr_at(map, end / cols, end % cols)) {
      ds_sba(&b, end / cols, end % cols); /* a stopper: the input field ends here */
      ds_sf(&b, DS_FA_PROT | DS_FA_NUM);
    }
  }
  long cur = cursor_of(map, (void *)sym, flags, cursor, cols);
  if (cur >= 0) {
    ds_sba(&b, (unsigned)cur / cols, (unsigned)cur % cols);
    ds_ic(&b);
  }
  rc = b.failed ? WEFT_ENOMEM : weft__term_send_record(t, b.b, b.len);
  ds_buf_free(&b);
  return rc;
}

int weft_send_text(weft_task *t, const char *text, size_t len, unsigned flags) {
  weft_terminal_device dev;
  int rc = weft_task_device(t, &dev);
  if (rc != 0)
    return rc;
  if (dev.kind == WEFT_DEVICE_3270 && (flags & WEFT_MAP_ERASE)) {
    unsigned char clear[2] = {DS_CMD_EWA, ds_code6(DS_WCC_RESET)};
    if ((rc = weft__term_send_record(t, clear, sizeof clear)) != 0)
      return rc;
  }
  return weft_send(t, text, len);
}

/* ---- Receive ---------------------------------------------------------------------- */

/* The task's last-input state, made at its first receive (NULL: no storage). */
static bms_task *task_state(weft_task *t) {
  void **slot = weft__task_slot(t, &weft__bms_subsys);
  if (*slot == NULL)
    *slot = calloc(1, sizeof(bms_task));
  return *slot;
}

/* Put one received field into its symbolic map entry. */
static void take_field(const weft_map_field *f, weft_map_sym *s, const ds_in_field *in) {
  char *d = data_of(s);
  size_t n = 0;
  for (size_t i = 0; i < in->len && n < f->length; i++)
    if (in->data[i] != 0x00)
      d[n++] = (char)ds_e2a[in->data[i]];
  while (n > 0 && d[n - 1] == ' ')
    n--;
  s->len = (int16_t)n;
  s->flag = 1;
  if (f->justify == WEFT_JUST_RIGHT && n > 0 && n < f->length) {
    memmove(d + f->length - n, d, n);
    memset(d, f->fill ? f->fill : ' ', f->length - n);
  } else {
    memset(d + n, ' ', f->length - n);
  }
}

/* Fill sym from the parsed input. */
static void fill_sym(const weft_map *map, void *sym, const ds_input *in, unsigned cols) {
  for (unsigned i = 0; i < map->n_fields; i++) {
    const weft_map_field *f = &map->fields[i];
    weft_map_sym *s = sym_of(sym, f);
    if (s == NULL)
      continue;
    memset(s, 0, sizeof *s);
    memset(data_of(s), 0, f->length);
    unsigned r, c;
    field_pos(map, f, &r, &c);
    unsigned addr = r * cols + c + 1;
    for (size_t k = 0; k < in->n_fields; k++)
      if (in->fields[k].addr == addr)
        take_field(f, s, &in->fields[k]);
  }
}

int weft_receive_map(weft_task *t, const weft_map *map, void *sym, int *aid, unsigned timeout_ms) {
  weft_terminal_device dev;
  unsigned rows, cols;
  if (map == NULL || sym == NULL)
    return WEFT_EINVAL;
  int rc = screen_of(t, map, &dev, &rows, &cols);
  if (rc != 0)
    return rc;
  size_t cap = 4u * rows * cols + 64, len = 0;
  unsigned char *rec = malloc(cap);
  ds_input *in = malloc(sizeof *in);
  bms_task *bt = task_state(t);
  if (rec == NULL || in == NULL || bt == NULL) {
    rc = WEFT_ENOMEM;
  } else if ((rc = weft__term_receive_record(t, rec, cap, &len, timeout_ms)) == 0) {
    if (ds_parse_input(rec, len, rows * cols, in) != DS_OK) {
      rc = WEFT_ECORRUPT;
    } else {
      fill_sym(map, sym, in, cols);
      bt->bt_aid = in->aid;
      bt->bt_row = in->cursor / cols;
      bt->bt_col = in->cursor % cols;
      if (aid != NULL)
        *aid = in->aid;
    }
  }
  free(rec);
  free(in);
  return rc;
}

int weft_last_aid(weft_task *t, int *aid, int *row, int *col) {
  int rc = weft__task_check(t);
  if (rc != 0)
    return rc;
  bms_task *bt = *weft__task_slot(t, &weft__bms_subsys);
  if (bt == NULL || bt->bt_aid == 0)
    return WEFT_ENOTFOUND;
  if (aid != NULL)
    *aid = bt->bt_aid;
  if (row != NULL)
    *row = (int)bt->bt_row;
  if (col != NULL)
    *col = (int)bt->bt_col;
  return 0;
}
