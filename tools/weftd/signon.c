/* signon.c - passwords and sign-on for weftd: the --hash-password command
 * that makes a USER line's hash (docs/region-config.md). */
#include <stdio.h>
#include <stdlib.h>

#include "weftd.h"

/* ---- weftd --hash-password ----------------------------------------------------- */

/* Can SIGNON carry pw? 1 to WD_PASSWORD_MAX printable characters, no blank. */
static bool password_ok(const char *pw) {
  size_t n = strlen(pw);
  if (n == 0 || n > WD_PASSWORD_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (pw[i] <= 0x20 || pw[i] > 0x7E)
      return false;
  return true;
}

/* One line from stdin into buf (no echo on a console). false at EOF. */
static bool read_password(char *buf, size_t cap) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  DWORD mode = 0;
  bool console = GetConsoleMode(in, &mode) != 0;
  if (console) {
    fprintf(stderr, "password: ");
    SetConsoleMode(in, mode & ~(DWORD)ENABLE_ECHO_INPUT);
  }
  bool got = fgets(buf, (int)cap, stdin) != NULL;
  if (console) {
    SetConsoleMode(in, mode);
    fprintf(stderr, "\n");
  }
  if (got)
    buf[strcspn(buf, "\r\n")] = '\0';
  return got;
}

int wd_hash_password_main(int argc, char **argv) {
  unsigned long iterations = WDEF_ITERATIONS_RECOMMENDED;
  int i = 0;
  if (i + 1 < argc && strcmp(argv[i], "--iterations") == 0) {
    char *end;
    iterations = strtoul(argv[i + 1], &end, 10);
    if (*argv[i + 1] == '\0' || *end != '\0' || iterations < 1 ||
        iterations > WDEF_ITERATIONS_MAX) {
      fprintf(stderr, "weftd: --iterations takes 1..%u (recommended: %u)\n", WDEF_ITERATIONS_MAX,
              WDEF_ITERATIONS_RECOMMENDED);
      return 1;
    }
    i += 2;
  }
  char line[WD_PASSWORD_MAX + 2];
  const char *pw = line;
  if (i + 1 == argc)
    pw = argv[i];
  else if (i != argc || !read_password(line, sizeof line)) {
    fprintf(stderr, "usage: weftd --hash-password [--iterations N] [PASSWORD]\n"
                    "  (without PASSWORD it is read from the standard input)\n");
    return 1;
  }
  if (!password_ok(pw)) {
    fprintf(stderr,
            "weftd: a password is 1 to %d printable ASCII characters without blanks "
            "(SIGNON's words are separated by blanks)\n",
            WD_PASSWORD_MAX);
    return 1;
  }
  char hash[WDEF_HASH_TEXT_SIZE];
  if (wdef_make_hash(pw, (unsigned)iterations, NULL, NULL, hash) != 0) {
    fprintf(stderr, "weftd: bcrypt.dll cannot make the hash (no random source or PBKDF2)\n");
    return 2;
  }
  if (iterations < WDEF_ITERATIONS_RECOMMENDED)
    fprintf(stderr,
            "weftd: %lu iterations is below the recommended %u: fine for tests and "
            "demonstrations, not for real passwords\n",
            iterations, WDEF_ITERATIONS_RECOMMENDED);
  printf("hash=%s\n", hash);
  return 0;
}
