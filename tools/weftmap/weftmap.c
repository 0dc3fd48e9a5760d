/* weftmap - the map compiler: turns a map set source (docs/maps.md) into
 * a C header with its symbolic and physical maps.
 *
 *   weftmap SOURCE.map OUTPUT.h
 *
 * Every error names SOURCE:line; then nothing is written and the exit
 * status is 1 (2 for a file that cannot be read or written). */
#include <stdio.h>
#include <stdlib.h>

#include "mapc.h"

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (nb == NULL) {
        free(buf);
        buf = NULL;
      } else {
        buf = nb;
      }
    }
  }
  fclose(f);
  if (buf != NULL)
    buf[n] = '\0';
  return buf;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: weftmap SOURCE.map OUTPUT.h\n");
    return 2;
  }
  char *text = read_all(argv[1]);
  if (text == NULL) {
    fprintf(stderr, "weftmap: cannot read %s\n", argv[1]);
    return 2;
  }
  mapc_set set;
  int rc = mapc_parse(argv[1], text, &set);
  free(text);
  if (rc != 0) {
    for (size_t i = 0; i < set.n_errors && i < MAPC_ERRORS_MAX; i++)
      fprintf(stderr, "%s\n", set.errors[i]);
    if (rc < 0)
      fprintf(stderr, "weftmap: out of memory\n");
    else if (set.n_errors > MAPC_ERRORS_MAX)
      fprintf(stderr, "weftmap: %u more errors\n", (unsigned)(set.n_errors - MAPC_ERRORS_MAX));
    mapc_free(&set);
    return 1;
  }
  FILE *out = fopen(argv[2], "w");
  if (out == NULL || mapc_emit(&set, argv[1], out) != 0 || fclose(out) != 0) {
    fprintf(stderr, "weftmap: cannot write %s\n", argv[2]);
    mapc_free(&set);
    return 2;
  }
  mapc_free(&set);
  return 0;
}
