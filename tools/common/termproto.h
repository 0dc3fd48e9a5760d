/* The client side of the Weft terminal protocol (docs/terminal.md), shared
 * by weftterm, weftload and the tests that drive weftd
 * (tests/weftd_helpers.h): Winsock connection, a buffered line reader and
 * the classification of the server's control lines.
 *
 * Calling context: any thread; a socket and its wp_reader belong to one
 * thread at a time (nothing here locks). */
#ifndef WEFT_TERMPROTO_H
#define WEFT_TERMPROTO_H

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stddef.h>

/* What a line from the server is. */
typedef enum {
  WP_TEXT,     /* program output (already unescaped: "%%x" -> "%x") */
  WP_GREETING, /* %WEFT <region> TERMINAL <termid> */
  WP_READY,    /* %READY */
  WP_NEXT,     /* %NEXT <tranid> */
  WP_INPUT,    /* %INPUT */
  WP_ERROR,    /* %ERROR <CODE> <text> */
  WP_SIGNED,   /* %SIGNED ON <user> / %SIGNED OFF */
  WP_BYE,      /* %BYE <text> */
  WP_BUSY,     /* %BUSY <text> */
  WP_CONTROL   /* any other control line */
} wp_kind;

/* Classifies a line; *text points past the control word and its blanks
 * (for WP_TEXT: the line with one '%' stripped from "%%"). */
wp_kind wp_classify(const char *line, const char **text);
/* True for the three prompts that end a screen. */
int wp_is_prompt(wp_kind k);

/* Starts Winsock (once). Returns 0 or -1. */
int wp_net_init(void);
/* Connects to host:port (TCP_NODELAY set; the socket is not inherited by
 * child processes started later, so that closing it closes the
 * connection). On failure returns INVALID_SOCKET, writes a message into err
 * and leaves the Winsock error in WSAGetLastError(). */
SOCKET wp_connect(const char *host, const char *port, char *err, size_t errlen);
/* Sends text and LF. Returns 0 or -1. */
int wp_send_line(SOCKET s, const char *text);
/* Sends len bytes as they are: no line end is added, and the bytes may hold
 * several lines, part of one, or NULs (the tests send malformed input this
 * way). Returns 0 or -1 (then WSAGetLastError() says why). */
int wp_send(SOCKET s, const void *data, size_t len);

/* A buffered reader of CRLF- or LF-ended lines from a socket. */
typedef struct {
  SOCKET s;
  char buf[16384];
  size_t start, end; /* unread bytes: buf[start..end) */
  char *line;        /* the last line read, NUL-terminated, without its end */
  size_t len, cap;   /* of line; len also holds a partial line between calls */
  int partial;       /* line holds the start of a line not yet complete */
} wp_reader;

enum { WP_LINE = 1, WP_EOF = 0, WP_ERR = -1, WP_TIMEOUT = -2 };

void wp_reader_init(wp_reader *r, SOCKET s);
void wp_reader_free(wp_reader *r);
/* Sets SO_RCVTIMEO on the reader's socket: wp_read_line(r, WP_SOCKTIMEO)
 * then waits at most ms for each receive with a single recv call, cheaper
 * than select + recv (under Wine each is a wineserver round trip). After
 * such a timeout the connection must be closed. Returns 0 or -1. */
int wp_set_recv_timeout(wp_reader *r, int ms);
#define WP_SOCKTIMEO (-3)

/* Reads one line into r->line. timeout_ms -1: wait forever. Returns
 * WP_LINE, WP_EOF (closed; a partial last line is dropped), WP_ERR or
 * WP_TIMEOUT (nothing is lost: call again). */
int wp_read_line(wp_reader *r, int timeout_ms);
/* Text of the last Winsock error. */
const char *wp_strerror(int code);

/* Monotonic clock in seconds (QueryPerformanceCounter). */
double wp_now(void);

#endif
