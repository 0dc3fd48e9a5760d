/* weftterm: the terminal client of weftd (docs/terminal.md, "Clients").
 *
 * Interactive mode: a reader thread prints what the server sends and shows
 * its prompts; the main thread reads the console in cooked line-input mode
 * (the console's own editing and up-arrow history) and sends the lines, with
 * a history of its own (!!, !n, history).
 *
 * Script mode (--script FILE, --script - or a stdin that is not a console):
 * one thread; every script line is sent and the screen up to the next prompt
 * is printed. */
#include "termproto.h"

#include <errno.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_OK 0
#define EXIT_CONN 1
#define EXIT_ERRORS 2
#define EXIT_USAGE 3

typedef struct {
  const char *host, *port, *script;
  int quiet, raw, fail_on_error;
  int timeout_ms; /* script mode: longest wait for a screen; -1: none */
} options;

static options opt = {"127.0.0.1", "3270", NULL, 0, 0, 0, 60000};

/* Session state, written by whichever thread reads the socket. */
static char termid[16];
static char region[16];
static volatile LONG errors_seen;
static wp_kind last_prompt = WP_READY;
static char last_prompt_arg[64];
static int at_prompt; /* a prompt was printed without its line end */

static void usage(FILE *f) {
  fprintf(f, "usage: weftterm [--host H] [--port P] [--script FILE|-] [--quiet] [--raw]\n"
             "                [--fail-on-error] [--timeout S]\n"
             "\n"
             "Connects to a weftd region (default 127.0.0.1:3270).\n"
             "\n"
             "Interactive (stdin is a console): type transactions at the prompt. The\n"
             "console's line editing and up-arrow history work; besides:\n"
             "  history   list the lines entered      !!   enter the last line again\n"
             "  !n        enter line n again           !-n  the n-th last line\n"
             "  QUIT      end the session\n"
             "\n"
             "Script mode (--script FILE, --script - or stdin not a console): each line\n"
             "of the script is sent at the next prompt and the screen it gets is printed.\n"
             "Lines starting with # are comments; \"!wait MS\" pauses MS milliseconds\n"
             "(printing anything the server sends meanwhile); an empty line is sent as an\n"
             "empty input (Enter at a %%NEXT prompt).\n"
             "\n"
             "  --quiet          print only program output and errors (no banner,\n"
             "                   prompts or echo)\n"
             "  --raw            print the protocol lines exactly as received, inputs\n"
             "                   as \"> line\" (script mode)\n"
             "  --fail-on-error  exit 2 if the server sent any %%ERROR\n"
             "  --timeout S      script mode: give up when a screen takes longer than\n"
             "                   S seconds (default 60, 0: wait forever)\n"
             "\n"
             "At the end of the input weftterm sends CANCEL (at a %%NEXT prompt) and QUIT;\n"
             "at an %%INPUT prompt it can only close the connection (exit status 1).\n"
             "\n"
             "Exit status: 0 the session ended normally (%%BYE), 1 connection failure\n"
             "(refused, %%BUSY, closed without %%BYE, timeout), 2 %%ERROR seen with\n"
             "--fail-on-error, 3 usage or script file error.\n");
}

/* ---- rendering ------------------------------------------------------ */

static void end_prompt_line(void) {
  if (at_prompt) {
    fputc('\n', stdout);
    at_prompt = 0;
  }
}

static void print_prompt(void) {
  const char *name = last_prompt == WP_NEXT    ? last_prompt_arg
                     : last_prompt == WP_INPUT ? "INPUT"
                                               : "READY";
  if (termid[0])
    printf("%s %s> ", termid, name);
  else
    printf("%s> ", name);
  at_prompt = 1;
  fflush(stdout);
}

/* Prints one line from the server; returns its kind. */
static wp_kind show(const char *line) {
  const char *text;
  wp_kind k = wp_classify(line, &text);
  if (k == WP_ERROR)
    InterlockedIncrement(&errors_seen);
  if (k == WP_GREETING) {
    /* <region> TERMINAL <termid> */
    char reg[64] = "", word[64] = "", tid[64] = "";
    if (sscanf(text, "%63s %63s %63s", reg, word, tid) == 3) {
      snprintf(region, sizeof region, "%s", reg);
      snprintf(termid, sizeof termid, "%s", tid);
    }
  }
  if (wp_is_prompt(k)) {
    last_prompt = k;
    snprintf(last_prompt_arg, sizeof last_prompt_arg, "%s", k == WP_NEXT && *text ? text : "NEXT");
  }
  if (opt.raw) {
    end_prompt_line();
    printf("%s\n", line);
    return k;
  }
  switch (k) {
    case WP_TEXT:
      end_prompt_line();
      printf("%s\n", text);
      break;
    case WP_ERROR:
      end_prompt_line();
      printf("** ERROR %s\n", text);
      break;
    case WP_BUSY:
      end_prompt_line();
      printf("** BUSY %s\n", text);
      break;
    case WP_GREETING:
      if (!opt.quiet) {
        end_prompt_line();
        if (termid[0])
          printf("-- connected to region %s as terminal %s\n", region, termid);
        else
          printf("-- %s\n", line + 1);
      }
      break;
    case WP_READY:
    case WP_NEXT:
    case WP_INPUT:
      if (!opt.quiet || !opt.script) {
        end_prompt_line();
        print_prompt();
      }
      break;
    case WP_SIGNED:
    case WP_BYE:
    case WP_CONTROL:
      if (!opt.quiet) {
        end_prompt_line();
        printf("-- %s\n", line + 1);
      }
      break;
  }
  return k;
}

static void echo_input(const char *in) {
  if (opt.quiet)
    return;
  if (opt.raw)
    printf("> %s\n", in);
  else if (at_prompt)
    printf("%s\n", in);
  else
    printf("> %s\n", in);
  at_prompt = 0;
}

/* ---- script mode ---------------------------------------------------- */

enum {
  SCREEN_PROMPT,  /* a prompt: the session goes on */
  SCREEN_END,     /* %BYE */
  SCREEN_CLOSED,  /* closed without %BYE, or %BUSY */
  SCREEN_TIMEOUT, /* no prompt in time */
  SCREEN_FAIL,    /* a socket error */
  SCREEN_LEFT,    /* the input ended at an %INPUT prompt: we close */
  SCREEN_NOQUIT   /* the server answered QUIT with prompts */
};

/* Reads and prints lines until a prompt or the end of the session. */
static int read_screen(wp_reader *r, int timeout_ms) {
  for (;;) {
    int rc = wp_read_line(r, timeout_ms);
    if (rc == WP_TIMEOUT)
      return SCREEN_TIMEOUT;
    if (rc == WP_EOF)
      return SCREEN_CLOSED;
    if (rc == WP_ERR)
      return SCREEN_FAIL;
    wp_kind k = show(r->line);
    if (wp_is_prompt(k))
      return SCREEN_PROMPT;
    if (k == WP_BYE)
      return SCREEN_END;
    if (k == WP_BUSY)
      return SCREEN_CLOSED;
  }
}

/* Makes room for need bytes in the line *s of capacity *cap (doubling
 * it). Returns 0, or -1 after freeing *s when memory runs out. */
static int grow_line(char **s, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  char *t = realloc(*s, *cap * 2);
  if (!t) {
    free(*s);
    return -1;
  }
  *s = t;
  *cap *= 2;
  return 0;
}

/* Reads a whole line of any length from f; NULL at the end. */
static char *read_file_line(FILE *f) {
  size_t cap = 256, n = 0;
  char *s = malloc(cap);
  int c;
  if (!s)
    return NULL;
  while ((c = fgetc(f)) != EOF) {
    if (c == '\n')
      break;
    if (grow_line(&s, &cap, n + 2) != 0)
      return NULL;
    s[n++] = (char)c;
  }
  if (c == EOF && n == 0) {
    free(s);
    return NULL;
  }
  if (n > 0 && s[n - 1] == '\r')
    n--;
  s[n] = '\0';
  return s;
}

/* What a finished session's outcome means for the exit status. */
static int outcome(int screen) {
  end_prompt_line();
  fflush(stdout);
  if (screen == SCREEN_END) {
    if (opt.fail_on_error && errors_seen > 0)
      return EXIT_ERRORS;
    return EXIT_OK;
  }
  if (screen == SCREEN_TIMEOUT)
    fprintf(stderr, "weftterm: no prompt from the server within %d s\n", opt.timeout_ms / 1000);
  else if (screen == SCREEN_CLOSED)
    fprintf(stderr, "weftterm: the server closed the connection\n");
  else if (screen == SCREEN_LEFT)
    fprintf(stderr, "weftterm: the input ended while a task waited at %%INPUT: "
                    "closing the connection\n");
  else if (screen == SCREEN_NOQUIT)
    fprintf(stderr, "weftterm: the server did not end the session at QUIT\n");
  else
    fprintf(stderr, "weftterm: connection error: %s\n", wp_strerror(WSAGetLastError()));
  return EXIT_CONN;
}

/* Is p (a script line without its leading blanks) a "!wait MS" directive?
 * 1 with *ms set, 0 if it is not one, -1 if it is malformed. */
static int parse_wait(const char *p, long *ms) {
  if (strncmp(p, "!wait", 5) != 0 || (p[5] != ' ' && p[5] != '\t' && p[5] != '\0'))
    return 0;
  char *end;
  errno = 0;
  *ms = strtol(p + 5, &end, 10);
  while (*end == ' ' || *end == '\t')
    end++;
  return errno || *ms < 0 || *end ? -1 : 1;
}

/* !wait: waits ms milliseconds, but shows whatever arrives meanwhile (%BYE
 * idle timeout...). Returns SCREEN_PROMPT while the session goes on. */
static int script_wait(wp_reader *r, long ms) {
  fflush(stdout);
  double until = wp_now() + ms / 1000.0;
  for (;;) {
    double left = until - wp_now();
    if (left <= 0)
      return SCREEN_PROMPT;
    int rc = wp_read_line(r, (int)(left * 1000 + 0.5));
    if (rc == WP_TIMEOUT)
      return SCREEN_PROMPT;
    if (rc == WP_EOF)
      return SCREEN_CLOSED;
    if (rc == WP_ERR)
      return SCREEN_FAIL;
    wp_kind k = show(r->line);
    if (k == WP_BYE)
      return SCREEN_END;
    if (k == WP_BUSY)
      return SCREEN_CLOSED;
  }
}

/* The session ended early: say so if the script had anything left to send
 * (comments do not count). */
static void report_unsent(FILE *f) {
  char *rest;
  while ((rest = read_file_line(f)) != NULL) {
    const char *q = rest;
    while (*q == ' ' || *q == '\t')
      q++;
    int real = *q != '#';
    free(rest);
    if (real) {
      end_prompt_line();
      fflush(stdout);
      fprintf(stderr, "weftterm: the session ended before the end of the script\n");
      return;
    }
  }
}

/* Ends a session that is still at a prompt (st): CANCEL a
 * pseudo-conversation first (at %NEXT a QUIT would be its input), then
 * QUIT. A task waiting at %INPUT cannot be left politely: the connection is
 * closed (the task abends ATNI). Returns the final state. */
static int end_session(SOCKET s, wp_reader *r, int st) {
  for (int tries = 0; st == SCREEN_PROMPT && tries < 4; tries++) {
    if (last_prompt == WP_INPUT)
      return SCREEN_LEFT;
    const char *cmd = last_prompt == WP_NEXT ? "CANCEL" : "QUIT";
    echo_input(cmd);
    if (wp_send_line(s, cmd) != 0)
      st = SCREEN_CLOSED;
    else
      st = read_screen(r, opt.timeout_ms);
  }
  return st == SCREEN_PROMPT ? SCREEN_NOQUIT : st;
}

/* Script mode: sends every line of f at the next prompt and prints the
 * screens. Returns the exit status. */
static int run_script(SOCKET s, FILE *f) {
  wp_reader r;
  wp_reader_init(&r, s);
  int st = read_screen(&r, opt.timeout_ms);
  char *line;
  while (st == SCREEN_PROMPT && (line = read_file_line(f)) != NULL) {
    const char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    long ms;
    int wait = *p == '#' ? 0 : parse_wait(p, &ms);
    if (wait < 0) {
      end_prompt_line();
      fprintf(stderr, "weftterm: bad directive: %s\n", line);
      free(line);
      fclose(f);
      return EXIT_USAGE;
    }
    if (wait > 0)
      st = script_wait(&r, ms);
    else if (*p != '#') {
      echo_input(line);
      if (wp_send_line(s, line) != 0)
        st = SCREEN_CLOSED;
      else
        st = read_screen(&r, opt.timeout_ms);
      fflush(stdout);
    }
    free(line);
  }
  if (st != SCREEN_PROMPT && !feof(f) && !ferror(f))
    report_unsent(f);
  if (f != stdin)
    fclose(f);
  int rc = outcome(end_session(s, &r, st));
  fflush(stdout);
  wp_reader_free(&r);
  return rc;
}

/* ---- interactive mode ----------------------------------------------- */

static HANDLE prompt_event; /* set when a prompt has arrived */
static SOCKET sock = INVALID_SOCKET;

static unsigned __stdcall reader_main(void *arg) {
  wp_reader r;
  wp_reader_init(&r, sock);
  int st;
  for (;;) {
    int rc = wp_read_line(&r, -1);
    if (rc == WP_EOF) {
      st = SCREEN_CLOSED;
      break;
    }
    if (rc == WP_ERR) {
      st = SCREEN_FAIL;
      break;
    }
    wp_kind k = show(r.line);
    if (wp_is_prompt(k))
      SetEvent(prompt_event);
    if (k == WP_BYE) {
      st = SCREEN_END;
      break;
    }
    if (k == WP_BUSY) {
      st = SCREEN_CLOSED;
      break;
    }
  }
  int code = outcome(st);
  fflush(stdout);
  fflush(stderr);
  /* The main thread sits in a console read: end the process from here. */
  ExitProcess((UINT)code);
  return 0;
}

/* In-program history. */
static char **hist;
static int nhist, caphist;

static void hist_add(const char *s) {
  if (nhist == caphist) {
    int cap = caphist ? caphist * 2 : 64;
    char **h = realloc(hist, (size_t)cap * sizeof *h);
    if (!h)
      return;
    hist = h;
    caphist = cap;
  }
  hist[nhist] = _strdup(s);
  if (hist[nhist])
    nhist++;
}

/* Reads one console line (cooked mode: the console edits it). NULL at the
 * end of input. */
static char *read_console_line(HANDLE in, int is_console) {
  if (!is_console)
    return read_file_line(stdin);
  size_t cap = 1024, n = 0;
  char *s = malloc(cap);
  if (!s)
    return NULL;
  for (;;) {
    if (grow_line(&s, &cap, n + 512) != 0)
      return NULL;
    DWORD got = 0;
    if (!ReadConsoleA(in, s + n, 511, &got, NULL) || got == 0) {
      if (n == 0) {
        free(s);
        return NULL;
      }
      break;
    }
    n += got;
    if (s[n - 1] == '\n')
      break;
    /* Ctrl-Z at the start of a line: end of input. */
    if (n == 1 && s[0] == 0x1a) {
      free(s);
      return NULL;
    }
  }
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  s[n] = '\0';
  if (n >= 1 && s[0] == 0x1a) {
    free(s);
    return NULL;
  }
  return s;
}

/* The end of the console input: leave politely (CANCEL a
 * pseudo-conversation first); the reader thread th exits on %BYE. A task
 * waiting at %INPUT cannot be left politely: close. Returns the exit
 * status, unless the reader thread ends the process first. */
static int leave_at_eof(SOCKET s, HANDLE th) {
  at_prompt = 0;
  if (last_prompt == WP_INPUT) {
    fprintf(stderr, "weftterm: the input ended while a task waited at %%INPUT: "
                    "closing the connection\n");
    closesocket(s);
    WaitForSingleObject(th, 10000);
    return EXIT_CONN;
  }
  if (last_prompt == WP_NEXT) {
    printf("CANCEL\n");
    wp_send_line(s, "CANCEL");
  }
  printf("QUIT\n");
  fflush(stdout);
  wp_send_line(s, "QUIT");
  WaitForSingleObject(th, 10000);
  return EXIT_CONN;
}

/* Is p (a console line without its leading blanks) a history reference
 * (!!, !n, !-n)? */
static int is_history_ref(const char *p) {
  return p[0] == '!' && (p[1] == '!' || (p[1] >= '0' && p[1] <= '9') ||
                         (p[1] == '-' && p[2] >= '1' && p[2] <= '9'));
}

/* The history entry that reference p names, or -1. */
static int history_index(const char *p) {
  if (p[1] == '!')
    return p[2] == '\0' ? nhist - 1 : -1;
  char *end = NULL;
  long v = strtol(p + 1, &end, 10);
  if (*end == '\0' && v >= 1 && v <= nhist)
    return (int)v - 1;
  if (*end == '\0' && v < 0 && -v <= nhist)
    return nhist + (int)v;
  return -1;
}

/* Interprets a console line (taking it): "history" lists the history and a
 * bad reference is refused, both at a new prompt (NULL: nothing to send); a
 * good reference is replaced by its entry (shown). Returns the line to
 * send. */
static char *console_command(char *line) {
  const char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strcmp(p, "history") == 0) {
    for (int i = 0; i < nhist; i++)
      printf("%5d  %s\n", i + 1, hist[i]);
    print_prompt();
    free(line);
    return NULL;
  }
  if (!is_history_ref(p))
    return line;
  int idx = history_index(p);
  if (idx < 0 || idx >= nhist) {
    printf("** no such history entry: %s\n", p);
    print_prompt();
    free(line);
    return NULL;
  }
  free(line);
  line = _strdup(hist[idx]);
  if (line)
    printf("%s\n", line); /* show what is sent */
  return line;
}

/* Interactive mode: a reader thread shows what the server sends; this
 * (main) thread sends the console's lines, one per prompt. Returns the exit
 * status (or the reader thread ends the process). */
static int run_interactive(SOCKET s) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  DWORD mode;
  int is_console = GetConsoleMode(in, &mode) != 0;
  if (is_console) {
    /* Cooked mode: the console edits the line and keeps an up-arrow
     * history of its own (its size is the console's setting; Wine has no
     * SetConsoleHistoryInfo, so it is left alone). */
    SetConsoleMode(in, mode | ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_PROCESSED_INPUT);
  }
  prompt_event = CreateEventA(NULL, FALSE, FALSE, NULL);
  sock = s;
  HANDLE th = (HANDLE)_beginthreadex(NULL, 0, reader_main, NULL, 0, NULL);
  if (!th) {
    fprintf(stderr, "weftterm: cannot start the reader thread\n");
    return EXIT_CONN;
  }
  for (;;) {
    WaitForSingleObject(prompt_event, INFINITE);
    for (;;) {
      char *line = read_console_line(in, is_console);
      if (!line)
        return leave_at_eof(s, th);
      at_prompt = 0;
      line = console_command(line);
      if (!line)
        continue;
      if (line[0])
        hist_add(line);
      int rc = wp_send_line(s, line);
      free(line);
      if (rc != 0) {
        WaitForSingleObject(th, 10000);
        return EXIT_CONN;
      }
      break;
    }
  }
}

/* ---- main ----------------------------------------------------------- */

/* Reads the command line into opt. Returns -1 to go on, or the exit
 * status: EXIT_OK after --help, EXIT_USAGE for a bad option. */
static int parse_options(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--host") && v)
      opt.host = v, i++;
    else if (!strcmp(a, "--port") && v)
      opt.port = v, i++;
    else if (!strcmp(a, "--script") && v)
      opt.script = v, i++;
    else if (!strcmp(a, "--timeout") && v) {
      char *end;
      double t = strtod(v, &end);
      if (*end || t < 0) {
        fprintf(stderr, "weftterm: bad --timeout %s\n", v);
        return EXIT_USAGE;
      }
      opt.timeout_ms = t == 0 ? -1 : (int)(t * 1000);
      i++;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q"))
      opt.quiet = 1;
    else if (!strcmp(a, "--raw"))
      opt.raw = 1;
    else if (!strcmp(a, "--fail-on-error"))
      opt.fail_on_error = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return EXIT_OK;
    } else {
      fprintf(stderr, "weftterm: unknown or incomplete option %s\n", a);
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  return -1;
}

/* The script to run (script mode also when stdin is not a console), or
 * NULL for interactive mode; *failed when the script cannot be opened. */
static FILE *open_script(int *failed) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  DWORD mode;
  *failed = 0;
  if (!opt.script && !GetConsoleMode(in, &mode))
    opt.script = "-";
  if (!opt.script)
    return NULL;
  if (!strcmp(opt.script, "-"))
    return stdin;
  FILE *f = fopen(opt.script, "r");
  if (!f) {
    fprintf(stderr, "weftterm: cannot open %s: %s\n", opt.script, strerror(errno));
    *failed = 1;
  }
  return f;
}

int main(int argc, char **argv) {
  int rc = parse_options(argc, argv);
  if (rc >= 0)
    return rc;
  int failed;
  FILE *f = open_script(&failed);
  if (failed)
    return EXIT_USAGE;
  wp_now();
  if (wp_net_init() != 0) {
    fprintf(stderr, "weftterm: cannot start Winsock\n");
    return EXIT_CONN;
  }
  char err[512];
  SOCKET s = wp_connect(opt.host, opt.port, err, sizeof err);
  if (s == INVALID_SOCKET) {
    fprintf(stderr, "weftterm: %s\n", err);
    return EXIT_CONN;
  }
  rc = f ? run_script(s, f) : run_interactive(s);
  closesocket(s);
  WSACleanup();
  return rc;
}
