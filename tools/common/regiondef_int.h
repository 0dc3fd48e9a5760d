/* regiondef_int.h - helpers shared by the regiondef*.c files (not an API). */
#ifndef WEFT_TOOLS_REGIONDEF_INT_H
#define WEFT_TOOLS_REGIONDEF_INT_H

#include <stdarg.h>

#include "regiondef.h"

/* Append "file:line: <fmt>" (or "file: <fmt>" when line is 0) to e.
 * Returns 0 or WEFT_ENOMEM (the message is lost). */
int wdef__err(wdef_errors *e, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int wdef__verr(wdef_errors *e, const char *file, int line, const char *fmt, va_list ap);

/* A copy of s (malloc), NULL on exhaustion. */
char *wdef__strdup(const char *s);

/* Lowercase hex of n bytes into out (2n+1 bytes with the NUL). */
void wdef__hex(const unsigned char *p, size_t n, char *out);

/* 1 if name is 1..max printable ASCII characters without spaces (and,
 * with no_comma, without commas). */
int wdef__name_ok(const char *name, size_t max, int no_comma);

/* regiondef_db.c: DATASOURCE lines. _line parses one (its n attributes
 * as keys and values) into a new entry of f->datasources, reporting errors
 * at path:line; -1 only on exhaustion. _dups reports duplicate names, _free
 * releases them, _apply defines them in r (after the other kinds). */
int wdef__datasource_line(wdef_file *f, wdef_errors *errs, int line, const char *const *keys,
                          const char *const *vals, int n);
void wdef__datasource_dups(const wdef_file *f, wdef_errors *errs);
void wdef__datasource_free(wdef_file *f);
int wdef__datasource_apply(const wdef_file *f, weft_region *r, wdef_errors *errs);

#endif /* WEFT_TOOLS_REGIONDEF_INT_H */
