/* mapc.c - the map compiler (mapc.h). The source is line based, in the
 * style of the region definition file: a keyword (MAPSET, MAP, FIELD)
 * then name=value attributes; values may be quoted ("..." with \" and \\);
 * '#' starts a comment outside quotes. docs/maps.md has the format. */
#include "mapc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

typedef struct parser {
  const char *file;
  int line;
  mapc_set *set;
  int nomem;
} parser;

static void perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(parser *p, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mapc_set *s = p->set;
  if (s->n_errors < MAPC_ERRORS_MAX) {
    size_t n = strlen(p->file) + strlen(msg) + 32;
    char *e = malloc(n);
    if (e == NULL) {
      p->nomem = 1;
      return;
    }
    snprintf(e, n, "%s:%d: %s", p->file, p->line, msg);
    s->errors[s->n_errors] = e;
  }
  s->n_errors++;
}

/* ---- Words -------------------------------------------------------------------- */

/* The next attribute of the line at *s: name into k, value into v
 * (unquoted). 1, 0 at the end, -1 after an error. */
static int next_attr(parser *p, const char **s, char *k, size_t kcap, char *v, size_t vcap) {
  const char *q = *s + strspn(*s, " \t");
  if (*q == '\0' || *q == '#')
    return 0;
  size_t kn = strcspn(q, "= \t");
  if (q[kn] != '=' || kn == 0 || kn >= kcap) {
    perr(p, "expected name=value, found '%.*s'", (int)strcspn(q, " \t"), q);
    return -1;
  }
  snprintf(k, kcap, "%.*s", (int)kn, q);
  q += kn + 1;
  size_t vn = 0;
  if (*q == '"') {
    for (q++; *q != '"'; q++) {
      if (*q == '\0') {
        perr(p, "the quoted value of %s does not end", k);
        return -1;
      }
      if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
        q++;
      if (vn + 1 < vcap)
        v[vn++] = *q;
    }
    q++;
  } else {
    while (*q != '\0' && *q != ' ' && *q != '\t' && *q != '#')
      if (vn + 1 < vcap)
        v[vn++] = *q++;
      else
        q++;
  }
  v[vn] = '\0';
  *s = q;
  return 1;
}

static int to_uint(const char *v, unsigned *out) {
  if (*v == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 6)
    return -1;
  *out = (unsigned)atoi(v);
  return 0;
}

/* "A,B" as two numbers. */
static int pair(const char *v, unsigned *a, unsigned *b) {
  char x[16], y[16];
  const char *c = strchr(v, ',');
  if (c == NULL || (size_t)(c - v) >= sizeof x || strlen(c + 1) >= sizeof y)
    return -1;
  snprintf(x, sizeof x, "%.*s", (int)(c - v), v);
  snprintf(y, sizeof y, "%s", c + 1);
  return to_uint(x, a) == 0 && to_uint(y, b) == 0 ? 0 : -1;
}

/* A C identifier of 1-7 characters, stored upper case. */
static int name_ok(parser *p, const char *what, const char *v, char out[MAPC_NAME_MAX + 1]) {
  size_t n = strlen(v);
  bool ok = n >= 1 && n <= MAPC_NAME_MAX && isalpha((unsigned char)v[0]);
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)v[i]) || v[i] == '_';
  if (!ok) {
    perr(p, "bad %s name '%s': 1-7 letters, digits or _, starting with a letter", what, v);
    return -1;
  }
  for (size_t i = 0; i <= n; i++)
    out[i] = (char)toupper((unsigned char)v[i]);
  return 0;
}

typedef struct word {
  const char *w;
  unsigned v;
} word;

static const word colors[] = {{"default", 0},
                              {"blue", WEFT_COLOR_BLUE},
                              {"red", WEFT_COLOR_RED},
                              {"pink", WEFT_COLOR_PINK},
                              {"green", WEFT_COLOR_GREEN},
                              {"turquoise", WEFT_COLOR_TURQUOISE},
                              {"yellow", WEFT_COLOR_YELLOW},
                              {"neutral", WEFT_COLOR_NEUTRAL},
                              {"white", WEFT_COLOR_NEUTRAL},
                              {NULL, 0}};
static const word hilights[] = {{"off", 0},
                                {"blink", WEFT_HILIGHT_BLINK},
                                {"reverse", WEFT_HILIGHT_REVERSE},
                                {"underline", WEFT_HILIGHT_UNDERLINE},
                                {NULL, 0}};
static const word attrs[] = {{"unprot", WEFT_ATTR_UNPROT}, {"askip", WEFT_ATTR_ASKIP},
                             {"prot", WEFT_ATTR_PROT},     {"num", WEFT_ATTR_NUM},
                             {"brt", WEFT_ATTR_BRT},       {"norm", WEFT_ATTR_NORM},
                             {"drk", WEFT_ATTR_DRK},       {"ic", WEFT_ATTR_IC},
                             {"fset", WEFT_ATTR_FSET},     {NULL, 0}};

static int lookup(const word *ws, const char *v, unsigned *out) {
  for (size_t i = 0; ws[i].w != NULL; i++)
    if (strcmp(ws[i].w, v) == 0) {
      *out = ws[i].v;
      return 0;
    }
  return -1;
}

/* attr=a,b,c: one protection, one intensity at most. */
static int attr_list(parser *p, const char *v, unsigned *out) {
  unsigned a = 0, prot = 0, intens = 0;
  char w[32];
  for (const char *s = v;;) {
    size_t n = strcspn(s, ",");
    snprintf(w, sizeof w, "%.*s", (int)(n < sizeof w ? n : sizeof w - 1), s);
    unsigned bit;
    if (lookup(attrs, w, &bit) != 0) {
      perr(p, "bad attr '%s': unprot, askip, prot, num, brt, norm, drk, ic, fset", w);
      return -1;
    }
    prot += strcmp(w, "unprot") == 0 || strcmp(w, "askip") == 0 || strcmp(w, "prot") == 0;
    intens += strcmp(w, "brt") == 0 || strcmp(w, "norm") == 0 || strcmp(w, "drk") == 0;
    a |= bit;
    if (s[n] == '\0')
      break;
    s += n + 1;
  }
  if (prot > 1 || intens > 1) {
    perr(p, "attr '%s' names two protections or two intensities", v);
    return -1;
  }
  *out = a;
  return 0;
}

/* ---- Lines ------------------------------------------------------------------------- */

static int mapset_line(parser *p, const char *s) {
  char k[32], v[256];
  int r, named = 0;
  while ((r = next_attr(p, &s, k, sizeof k, v, sizeof v)) == 1) {
    if (strcmp(k, "name") == 0)
      named = name_ok(p, "map set", v, p->set->name) == 0;
    else
      perr(p, "MAPSET has no attribute %s (name)", k);
  }
  if (r == 0 && !named && p->set->name[0] == '\0')
    perr(p, "MAPSET needs name=");
  return 0;
}

static int map_line(parser *p, const char *s) {
  mapc_set *set = p->set;
  mapc_map *nm = realloc(set->maps, (set->n_maps + 1) * sizeof *nm);
  if (nm == NULL)
    return p->nomem = 1, -1;
  set->maps = nm;
  mapc_map *m = &set->maps[set->n_maps++];
  memset(m, 0, sizeof *m);
  m->line = p->line;
  m->rows = 24;
  m->cols = 80;
  m->at_line = m->at_column = 1;
  char k[32], v[256];
  int r;
  while ((r = next_attr(p, &s, k, sizeof k, v, sizeof v)) == 1) {
    if (strcmp(k, "name") == 0)
      name_ok(p, "map", v, m->name);
    else if (strcmp(k, "size") == 0) {
      if (pair(v, &m->rows, &m->cols) != 0 || m->rows < 1 || m->rows > 43 || m->cols < 1 ||
          m->cols > 132)
        perr(p, "bad size '%s': ROWS,COLUMNS (1-43, 1-132)", v);
    } else if (strcmp(k, "line") == 0) {
      if (to_uint(v, &m->at_line) != 0 || m->at_line < 1 || m->at_line > 43)
        perr(p, "bad line '%s': 1-43", v);
    } else if (strcmp(k, "column") == 0) {
      if (to_uint(v, &m->at_column) != 0 || m->at_column < 1 || m->at_column > 132)
        perr(p, "bad column '%s': 1-132", v);
    } else
      perr(p, "MAP has no attribute %s (name, size, line, column)", k);
  }
  if (m->name[0] == '\0')
    perr(p, "MAP needs name=");
  for (size_t i = 0; i + 1 < set->n_maps; i++)
    if (m->name[0] && strcmp(set->maps[i].name, m->name) == 0)
      perr(p, "map %s is already defined at line %d", m->name, set->maps[i].line);
  return 0;
}

static void field_attr(parser *p, mapc_field *f, const char *k, const char *v) {
  if (strcmp(k, "name") == 0)
    name_ok(p, "field", v, f->name);
  else if (strcmp(k, "pos") == 0) {
    if (pair(v, &f->row, &f->col) != 0 || f->row < 1 || f->col < 1)
      perr(p, "bad pos '%s': ROW,COLUMN, 1-based", v);
  } else if (strcmp(k, "length") == 0) {
    if (to_uint(v, &f->length) != 0 || f->length > 131)
      perr(p, "bad length '%s': 0-131", v);
  } else if (strcmp(k, "attr") == 0)
    attr_list(p, v, &f->attr);
  else if (strcmp(k, "color") == 0) {
    if (lookup(colors, v, &f->color) != 0)
      perr(p, "bad color '%s': blue, red, pink, green, turquoise, yellow, neutral, default", v);
  } else if (strcmp(k, "hilight") == 0) {
    if (lookup(hilights, v, &f->hilight) != 0)
      perr(p, "bad hilight '%s': off, blink, reverse, underline", v);
  } else if (strcmp(k, "justify") == 0) {
    if (strcmp(v, "right") != 0 && strcmp(v, "left") != 0)
      perr(p, "bad justify '%s': left or right", v);
    f->justify_right = strcmp(v, "right") == 0;
  } else if (strcmp(k, "fill") == 0) {
    if (strcmp(v, "zero") != 0 && strcmp(v, "blank") != 0)
      perr(p, "bad fill '%s': zero or blank", v);
    f->fill = strcmp(v, "zero") == 0 ? '0' : ' ';
  } else if (strcmp(k, "initial") == 0) {
    free(f->initial);
    if ((f->initial = malloc(strlen(v) + 1)) == NULL)
      p->nomem = 1;
    else
      strcpy(f->initial, v);
  } else
    perr(p,
         "FIELD has no attribute %s (name, pos, length, attr, color, hilight, justify, fill, "
         "initial)",
         k);
}

/* A field's rules against its map and the fields before it. */
static void field_check(parser *p, const mapc_map *m, mapc_field *f, bool has_pos, bool has_len) {
  if (!has_len && f->initial != NULL) /* a label: as long as its text */
    f->length = (unsigned)strlen(f->initial), has_len = true;
  if (!has_pos || !has_len) {
    perr(p, "FIELD needs pos= and length= (or initial=)");
    return;
  }
  if (f->row > m->rows || f->col + f->length > m->cols)
    perr(p, "field at %u,%u with length %u does not fit map %s (%ux%u)", f->row, f->col, f->length,
         m->name, m->rows, m->cols);
  if (f->initial != NULL && strlen(f->initial) > f->length)
    perr(p, "the initial value is longer than the field (%u > %u)", (unsigned)strlen(f->initial),
         f->length);
  for (const char *c = f->initial; c != NULL && *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7F)
      perr(p, "the initial value has a control character");
  for (size_t i = 0; i + 1 < m->n_fields; i++) {
    const mapc_field *o = &m->fields[i];
    if (o->row == f->row && f->col <= o->col + o->length && o->col <= f->col + f->length)
      perr(p, "the field overlaps the one at line %d (%u,%u length %u)", o->line, o->row, o->col,
           o->length);
    if (f->name[0] && strcmp(o->name, f->name) == 0)
      perr(p, "field %s is already defined at line %d", f->name, o->line);
  }
  if (f->justify_right && !(f->attr & WEFT_ATTR_NUM))
    perr(p, "justify=right is for numeric fields (attr=...,num)");
}

static int field_line(parser *p, const char *s) {
  mapc_set *set = p->set;
  if (set->n_maps == 0) {
    perr(p, "FIELD before any MAP");
    return 0;
  }
  mapc_map *m = &set->maps[set->n_maps - 1];
  mapc_field *nf = realloc(m->fields, (m->n_fields + 1) * sizeof *nf);
  if (nf == NULL)
    return p->nomem = 1, -1;
  m->fields = nf;
  mapc_field *f = &m->fields[m->n_fields++];
  memset(f, 0, sizeof *f);
  f->line = p->line;
  f->attr = WEFT_ATTR_ASKIP;
  f->fill = ' ';
  char k[32], v[256];
  int r;
  bool has_pos = false, has_len = false;
  while ((r = next_attr(p, &s, k, sizeof k, v, sizeof v)) == 1) {
    has_pos |= strcmp(k, "pos") == 0;
    has_len |= strcmp(k, "length") == 0;
    field_attr(p, f, k, v);
  }
  if (r == 0)
    field_check(p, m, f, has_pos, has_len);
  return 0;
}

int mapc_parse(const char *file, const char *text, mapc_set *set) {
  memset(set, 0, sizeof *set);
  parser p = {.file = file, .set = set};
  for (const char *s = text; *s != '\0' && !p.nomem;) {
    size_t n = strcspn(s, "\n");
    char line[1024];
    p.line++;
    if (n >= sizeof line) {
      perr(&p, "the line is longer than %u characters", (unsigned)(sizeof line - 1));
    } else {
      snprintf(line, sizeof line, "%.*s", (int)n, s);
      if (n > 0 && line[n - 1] == '\r')
        line[n - 1] = '\0';
      const char *q = line + strspn(line, " \t");
      size_t kn = strcspn(q, " \t");
      if (*q == '\0' || *q == '#')
        ;
      else if (kn == 6 && strncmp(q, "MAPSET", 6) == 0)
        mapset_line(&p, q + 6);
      else if (kn == 3 && strncmp(q, "MAP", 3) == 0)
        map_line(&p, q + 3);
      else if (kn == 5 && strncmp(q, "FIELD", 5) == 0)
        field_line(&p, q + 5);
      else
        perr(&p, "unknown line '%.*s': MAPSET, MAP or FIELD", (int)kn, q);
    }
    s += n;
    if (*s == '\n')
      s++;
  }
  if (p.nomem)
    return -1;
  if (set->name[0] == '\0' && set->n_errors == 0) {
    p.line = 1;
    perr(&p, "no MAPSET line");
  }
  if (set->n_maps == 0 && set->n_errors == 0) {
    p.line = 1;
    perr(&p, "no MAP line");
  }
  return (int)set->n_errors;
}

/* ---- Output ------------------------------------------------------------------------ */

static void c_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static void emit_map(const mapc_set *set, const mapc_map *m, FILE *out) {
  fprintf(out, "\n/* Map %s (line %d): %ux%u at line %u, column %u. */\n", m->name, m->line,
          m->rows, m->cols, m->at_line, m->at_column);
  fprintf(out, "typedef struct %s_%s {\n", set->name, m->name);
  size_t named = 0;
  for (size_t i = 0; i < m->n_fields; i++)
    if (m->fields[i].name[0]) {
      fprintf(out, "  WEFT_MAP_FIELD(%u) %s;\n", m->fields[i].length ? m->fields[i].length : 1,
              m->fields[i].name);
      named++;
    }
  if (named == 0)
    fprintf(out, "  weft_map_sym none_; /* no named field */\n");
  fprintf(out, "} %s_%s;\n", set->name, m->name);
  fprintf(out, "static const weft_map_field %s_%s_fields[] = {\n", set->name, m->name);
  for (size_t i = 0; i < m->n_fields; i++) {
    const mapc_field *f = &m->fields[i];
    fprintf(out, "    {");
    if (f->name[0])
      c_string(out, f->name);
    else
      fputs("NULL", out);
    fprintf(out, ", %u, %u, %u, 0x%02X, 0x%02X, 0x%02X, %d, '%c', ", f->row, f->col, f->length,
            f->attr, f->color, f->hilight, f->justify_right, f->fill);
    if (f->initial != NULL)
      c_string(out, f->initial);
    else
      fputs("NULL", out);
    if (f->name[0])
      fprintf(out, ", offsetof(%s_%s, %s)},\n", set->name, m->name, f->name);
    else
      fputs(", 0},\n", out);
  }
  fprintf(out, "};\n");
  fprintf(out,
          "static const weft_map %s_%s_map = {\"%s\", \"%s\", %u, %u, %u, %u, %u, "
          "%s_%s_fields, sizeof(%s_%s)};\n",
          set->name, m->name, set->name, m->name, m->rows, m->cols, m->at_line, m->at_column,
          (unsigned)m->n_fields, set->name, m->name, set->name, m->name);
}

int mapc_emit(const mapc_set *set, const char *source, FILE *out) {
  fprintf(out, "/* %s.h - map set %s, generated by weftmap from %s: do not edit. */\n", set->name,
          set->name, source);
  fprintf(out, "#ifndef WEFTMAP_%s_H\n#define WEFTMAP_%s_H\n\n", set->name, set->name);
  fprintf(out, "#include <stddef.h>\n\n#include <weft.h>\n");
  for (size_t i = 0; i < set->n_maps; i++)
    emit_map(set, &set->maps[i], out);
  fprintf(out, "\n#endif /* WEFTMAP_%s_H */\n", set->name);
  return ferror(out) ? -1 : 0;
}

void mapc_free(mapc_set *set) {
  for (size_t i = 0; i < set->n_maps; i++) {
    for (size_t k = 0; k < set->maps[i].n_fields; k++)
      free(set->maps[i].fields[k].initial);
    free(set->maps[i].fields);
  }
  free(set->maps);
  for (size_t i = 0; i < set->n_errors && i < MAPC_ERRORS_MAX; i++)
    free(set->errors[i]);
  memset(set, 0, sizeof *set);
}
