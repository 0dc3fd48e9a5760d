/* tn3270.h - weftd's TN3270 server (tn3270.c: its network thread;
 * t3session.c: one 3270 session). docs/tn3270.md describes it.
 *
 * Threads: the TN3270 network thread alone touches its sockets and runs
 * the sessions' state machines; weft's workers run the terminal callbacks
 * (under the terminal's lock, then the session's lock). */
#ifndef WEFTD_TN3270_H
#define WEFTD_TN3270_H

#include "weftd.h"

typedef struct t3_session t3_session;

/* ---- The network thread (tn3270.c) -------------------------------------- */

/* Listen on tn3270_listen when the file sets it and start the thread
 * (main thread): 0, or -1 after logging why. 0 and nothing when unset. */
int wd_t3_start(void);
void wd_t3_wake(void);                 /* any thread: the thread looks again */
void wd_t3_close_all(const char *why); /* after the region drained */
void wd_t3_stop(void);                 /* join the thread */

/* ---- Device names (tn3270.c) ------------------------------------------------- */

/* Check the tn3270_devices value: NULL, or what is wrong. */
const char *wd_t3_devices_check(const char *spec);
/* Take a device name (into out, 9 bytes): the one asked for (req, "" for
 * any) when it is one of the pool's and free, else the first free one. 0,
 * or -1 (none free, or req not the pool's or in use). Any thread. */
int wd_t3_name_take(const char *req, char *out);
void wd_t3_name_give(const char *name); /* any thread */

/* ---- Sessions (t3session.c) ----------------------------------------------- */

t3_session *t3_new(SOCKET s, uint32_t addr); /* NULL on failure */
void t3_input(t3_session *ss, const unsigned char *data, size_t len);
void t3_eof(t3_session *ss);
void t3_gone(t3_session *ss); /* release and free; the socket closed */
void t3_tick(t3_session *ss, uint64_t now_ms);
int t3_flush(t3_session *ss); /* 1 output left, 0 none, -1 failed */
bool t3_has_output(t3_session *ss);
bool t3_wants_input(t3_session *ss);
bool t3_done(t3_session *ss, bool blocked, uint64_t now_ms); /* close it now? */
void t3_bye(t3_session *ss, const char *why);
SOCKET t3_socket(t3_session *ss);

/* For INQ TERMINALS: one line per 3270 session (any thread). */
void wd_t3_describe(wd_out_fn out, void *ctx);
int wd_t3_count(void);

#endif /* WEFTD_TN3270_H */
