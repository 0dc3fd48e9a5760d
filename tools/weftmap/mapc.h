/* mapc.h - the map compiler behind weftmap: parse a map set source
 * (docs/maps.md) and write the C header with its physical and symbolic
 * maps. Pure C and stdio; tests/test_weftmap.c drives it on strings.
 *
 * Ownership: a mapc_set and everything in it belong to the caller, who
 * frees it with mapc_free. */
#ifndef WEFT_MAPC_H
#define WEFT_MAPC_H

#include <stddef.h>
#include <stdio.h>

#define MAPC_NAME_MAX 7    /* map set, map and field names (as BMS: 7) */
#define MAPC_ERRORS_MAX 50 /* errors kept (each names file:line) */

typedef struct mapc_field {
  int line;                     /* in the source */
  char name[MAPC_NAME_MAX + 1]; /* "" for a constant */
  unsigned row, col, length;    /* pos=ROW,COL (1-based); length= */
  unsigned attr;                /* WEFT_ATTR_* bits */
  unsigned color, hilight;      /* WEFT_COLOR_*, WEFT_HILIGHT_* */
  int justify_right;            /* justify=right */
  char fill;                    /* fill=zero|blank: '0' or ' ' */
  char *initial;                /* initial="...", or NULL */
} mapc_field;

typedef struct mapc_map {
  int line;
  char name[MAPC_NAME_MAX + 1];
  unsigned rows, cols, at_line, at_column;
  mapc_field *fields;
  size_t n_fields;
} mapc_map;

typedef struct mapc_set {
  char name[MAPC_NAME_MAX + 1];
  mapc_map *maps;
  size_t n_maps;
  char *errors[MAPC_ERRORS_MAX]; /* "file:line: message" */
  size_t n_errors;               /* all errors, even past MAPC_ERRORS_MAX */
} mapc_set;

/* Parse the source text (file names it in errors). Returns 0, or the
 * number of errors (set->errors says which); -1 when out of memory. */
int mapc_parse(const char *file, const char *text, mapc_set *set);
/* Write the header for a set that parsed without errors. 0 or -1. */
int mapc_emit(const mapc_set *set, const char *source, FILE *out);
void mapc_free(mapc_set *set);

#endif /* WEFT_MAPC_H */
