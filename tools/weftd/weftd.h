/* weftd.h - the region server: what its parts share.
 *
 * Parts: main.c (start, console, shutdown), net.c (the network thread:
 * listening, reading and writing every session's socket), session.c (a
 * terminal session: the line protocol of docs/terminal.md, sign-on,
 * starting transactions, the weft_terminal callbacks), oper.c (operator
 * commands, for the console and the WEFT transaction).
 *
 * Threads: the main thread; the network thread, which accepts, polls and
 * reads every socket, closes them and runs the session state machines; the
 * console thread; weft's workers, which run the terminal callbacks (under
 * the terminal's lock) and the WEFT program, and send a session's output
 * themselves when its task asks for input or ends (one send of the reply
 * and the prompt, no wake-up of the network thread: README.md, "The
 * network thread"); weft's offload threads, which run operator commands
 * for WEFT.
 */
#ifndef WEFTD_H
#define WEFTD_H

#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "regiondef.h"
#include "weft.h"

/* ---- The server -------------------------------------------------------- */

/* Output of an operator command or a message: one line (no line end). */
typedef void (*wd_out_fn)(void *ctx, const char *line);

typedef struct wd_server {
  weft_region *region;
  wdef_file *def;    /* the start file (region settings, users) */
  wdef_file **extra; /* files installed at run time (under def_lock) */
  size_t n_extra;
  SRWLOCK def_lock;
  _Atomic int shutdown_mode;        /* -1 none; WEFT_SHUTDOWN_NORMAL / _IMMEDIATE */
  _Atomic int stopping;             /* 1: new transactions are refused */
  HANDLE shutdown_event;            /* set when a shutdown is requested */
  _Atomic(weft_region *) region_up; /* region, once the server runs (main thread sets) */
  _Atomic int log_failed;           /* 1: the region's log failed; it stopped (exit 4) */
} wd_server;

extern wd_server wd;

/* Ask for a shutdown (operator, Ctrl-C, console close). Any thread. */
void wd_request_shutdown(int mode);

/* printf to stderr with a time stamp and level. Any thread. */
void wd_log(char level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The definitions of a transaction: the start file's or an installed one's
 * (NULL: unknown to the server). def_lock taken inside. */
const wdef_transaction *wd_find_transaction(const char *tranid);

/* ---- Network (net.c) --------------------------------------------------- */

typedef struct wd_session wd_session;

int wd_net_start(void); /* listen and start the network thread */
/* Any thread: the network thread looks again (a loopback datagram only
 * when it sleeps in WSAPoll; while it is awake a flag does). */
void wd_net_wake(void);
void wd_net_close_all(const char *why); /* after the region drained */
void wd_net_stop(void);                 /* join the network thread */

/* The Winsock calls weftd makes, counted to report them per transaction
 * (docs/performance.md, "The terminal path"): logged at shutdown. Relaxed
 * atomic counters: any thread adds, wd_net_stop reads. */
typedef struct wd_net_counts {
  _Atomic unsigned long long polls;        /* WSAPoll */
  _Atomic unsigned long long recvs;        /* recv of a session's socket */
  _Atomic unsigned long long sends_net;    /* send of output by the network thread */
  _Atomic unsigned long long sends_worker; /* send of output by a worker (callbacks) */
  _Atomic unsigned long long wake_sends;   /* sendto of the wake datagram */
  _Atomic unsigned long long wake_recvs;   /* recv of the wake datagram */
  _Atomic unsigned long long txns;         /* transactions started from terminals */
} wd_net_counts;

extern wd_net_counts wd_nc;

static inline void wd_count(_Atomic unsigned long long *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- HTTP (http.c, metrics.c; docs/http.md) ---------------------------- */

struct MHD_Connection;
/* Listen when the file has an HTTP line (main thread, after the region is
 * up): 0 or -1. Stop after the region drained (main thread). */
int wd_http_start(void);
void wd_http_stop(void);
int64_t wd_http_connections(void);
void wd_http_counts(int64_t *requests, int64_t responses[6]); /* [k]: kxx answers */
/* Queue a response (MHD thread, in the handler); an MHD_Result. */
int wd_http_reply(struct MHD_Connection *c, int status, const char *ctype, const char *body,
                  size_t len);
/* wd_http_reply with extra header pairs (NULL-terminated; NULL: none). */
int wd_http_reply_headers(struct MHD_Connection *c, int status, const char *ctype,
                          const char *body, size_t len, const char *const *extra);
/* The region's task records: response-time histograms and abends by code
 * for /metrics (a worker; never blocks). */
void wd_metrics_task_record(void *ctx, const weft_task_record *rec);
/* GET /health and GET /metrics (metrics.c; MHD thread). */
int wd_http_health(struct MHD_Connection *c);
int wd_http_metrics(struct MHD_Connection *c);

/* ---- Sockets both network threads set up (sock.c) ---------------------- */

struct sockaddr_in;
void wd_sock_nonblocking(SOCKET s);
/* The loopback datagram pair that wakes a thread sleeping in WSAPoll: rx
 * bound to an ephemeral loopback port (its address in *addr), non-blocking.
 * 0, or -1 (the caller closes what was opened). */
int wd_wake_open(SOCKET *rx, SOCKET *tx, struct sockaddr_in *addr);
/* A non-blocking, exclusive listening socket on addr:port, or
 * INVALID_SOCKET after logging why (key: the definition keyword, for a bad
 * address; what: " for TN3270" or "" in "cannot listen... on"). */
SOCKET wd_listen_open(const char *addr, unsigned port, const char *key, const char *what);

/* ---- Sessions (session.c) ---------------------------------------------- */

/* The pseudo-conversation a terminal session keeps between tasks: the next
 * transaction a program named at its end (RETURN TRANSID) and a copy of its
 * COMMAREA. Owned by its session (line or 3270) and used under its lock; ca
 * is malloc'd and freed by wd_pseudo_clear or by whoever wd_pseudo_take gave
 * it to. */
typedef struct wd_pseudo {
  char tran[WEFT_NAME_MAX + 1]; /* "" when none */
  void *ca;
  size_t ca_len;
} wd_pseudo;

/* Forget the pseudo-conversation (frees its COMMAREA). */
void wd_pseudo_clear(wd_pseudo *p);
/* Keep end's next transaction and a copy of its COMMAREA (p must be clear).
 * False when there is no storage for the copy: p stays clear. */
bool wd_pseudo_keep(wd_pseudo *p, const weft_task_end *end);
/* Copy the next transaction into tran and hand over the COMMAREA (the caller
 * frees *ca), before the next task starts: that task's end may keep the
 * following one. */
void wd_pseudo_take(wd_pseudo *p, char tran[WEFT_NAME_MAX + 1], void **ca, size_t *ca_len);

/* A new session on a connected socket from the IPv4 address addr (network
 * order) (network thread). NULL on failure. */
wd_session *wd_session_new(SOCKET s, unsigned long long no, uint32_t addr);
/* Bytes arrived (network thread). Telnet commands in them are answered
 * and dropped. */
void wd_session_input(wd_session *ss, const char *data, size_t len);
/* The client closed its side (recv returned 0): its partial line is
 * dropped, its complete lines are still run and answered; then %BYE
 * (network thread). */
void wd_session_eof(wd_session *ss);
/* The peer closed or the socket failed: release everything (network
 * thread). The session is freed; its socket closed. */
void wd_session_gone(wd_session *ss, bool peer_closed);
/* Work to do after a wake-up: deliver queued input; the end of input, the
 * sign-on and idle timeouts (network thread). */
void wd_session_tick(wd_session *ss, uint64_t now_ms);
/* Send what output the socket takes now (network thread): 1 if some is
 * left, 0 if none (or it is held back, see below), -1 if the socket
 * failed. */
int wd_session_flush(wd_session *ss);
/* Output to poll for writing: there is some, and it is not held back.
 * Output a running task sends is held back (sent with its prompt, in one
 * send, by the worker) until the task asks for input or ends, has
 * WD_HOLD_BYTES waiting, or WD_HOLD_MS passed; *hold_ms gets the time
 * left when it is held back (network thread). */
bool wd_session_has_output(wd_session *ss, uint64_t now_ms, uint64_t *hold_ms);
#define WD_HOLD_MS 50u
#define WD_HOLD_BYTES 16384u
bool wd_session_wants_input(wd_session *ss); /* poll for reading */
bool wd_session_closing(wd_session *ss);     /* close once output is sent */
/* Must the session be closed now (network thread, after a flush; blocked:
 * output is left)? Yes once its output is sent if it is closing; at once if
 * its unsent output passed the limit; when its output has stood still for
 * CLOSE_MS while it is closing or its input ended. The log says why. */
bool wd_session_done(wd_session *ss, bool blocked, uint64_t now_ms);
SOCKET wd_session_socket(wd_session *ss);
uint32_t wd_session_addr(wd_session *ss); /* the client's, network order */
/* Say goodbye (network thread). */
void wd_session_bye(wd_session *ss, const char *why);

/* For INQ TERMINALS: one line per session (any thread). */
void wd_sessions_describe(wd_out_fn out, void *ctx);
int wd_sessions_count(void);

/* ---- Sign-on (signon.c) ------------------------------------------------ */

#define WD_PASSWORD_MAX 256 /* password characters SIGNON takes */

/* A SIGNON being checked (opaque; signon.c says who owns it when). */
typedef struct wd_signon wd_signon;

enum { WD_SIGNON_PENDING, WD_SIGNON_OK, WD_SIGNON_FAILED, WD_SIGNON_LOCKED };

/* Start the sign-on threads and warn about weak hashes (main thread, before
 * the network starts); 0 or -1. Stop them after the network has stopped. */
int wd_signon_start(void);
void wd_signon_stop(void);
/* Warn (log) about f's users whose hashes are old or below the recommended
 * iteration count. Any thread. */
void wd_signon_check_file(const wdef_file *f);
/* The user of that name in the start file or an installed one (NULL: none).
 * def_lock taken inside. Any thread. */
const wdef_user *wd_find_user(const char *name);
/* Check name's password on a sign-on thread, after the user's delay
 * (network thread). conn_fails: the session's failed sign-ons in a row.
 * NULL if out of memory. The answer comes after the delays; wd_net_wake
 * says when. */
wd_signon *wd_signon_submit(const char *termid, const char *name, const char *password,
                            unsigned conn_fails);
/* WD_SIGNON_PENDING, or the answer (then j is freed and *user is the
 * user's definition, NULL if unknown). Network thread. */
int wd_signon_take(wd_signon *j, const wdef_user **user);
/* The session is gone: nobody takes j's answer (network thread). */
void wd_signon_cancel(wd_signon *j);
/* UNLOCK USER name: clear its lock and failures (console or offload thread). */
void wd_signon_unlock(const char *name, wd_out_fn out, void *ctx);

/* weftd --hash-password [--iterations N] [PASSWORD]: print a USER line's
 * hash= value; argv holds the words after --hash-password. Exit status. */
int wd_hash_password_main(int argc, char **argv);

/* ---- Operator commands (oper.c) ---------------------------------------- */

#define WD_OPER_LINE_MAX 1023 /* characters of an operator command at most */

/* Run one operator command line (words as oper.c says; a longer line, too
 * few or too many words are refused with a message, nothing run); output
 * through out. Not on a worker
 * thread (the console thread, or an offload thread for WEFT). */
void wd_oper_run(const char *line, wd_out_fn out, void *ctx);
/* The WEFT transaction's program. */
void wd_oper_program(weft_task *t);

/* ---- The web console (console.c; docs/console.md) ------------------------ */

/* A request under /console (not the sign-on): the page's files and the
 * JSON API (MHD thread, in the handler); an MHD_Result. */
int wd_console_handle(struct MHD_Connection *c, const char *method, const char *path);
/* POST /console/api/session after http.c checked u's password: a session
 * for an operator, 403 for anyone else (MHD thread). */
int wd_console_signon(struct MHD_Connection *c, const wdef_user *u);
/* Start the console's thread (chart samples and the task list, every 2 s)
 * after the listener started; stop it before the listener stops (main
 * thread, from wd_http_start / wd_http_stop). 0 or -1. */
int wd_console_start(void);
void wd_console_stop(void);

#endif /* WEFTD_H */
