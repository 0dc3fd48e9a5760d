/* sock.c - the socket set-up weftd's network threads share: net.c (line
 * terminals) and tn3270.c (3270 terminals) each listen on their own
 * address, poll their own sockets and are woken by their own loopback
 * datagram; what they set up the same way is here.
 *
 * Calling context: the main thread at start (wd_listen_open,
 * wd_wake_open) or the network thread that owns the socket
 * (wd_sock_nonblocking). */
#include <ws2tcpip.h>

#include <string.h>

#include "weftd.h"

void wd_sock_nonblocking(SOCKET s) {
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
}

int wd_wake_open(SOCKET *rx, SOCKET *tx, struct sockaddr_in *addr) {
  *rx = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  *tx = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  if (*rx == INVALID_SOCKET || *tx == INVALID_SOCKET)
    return -1;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof *addr;
  if (bind(*rx, (struct sockaddr *)addr, sizeof *addr) != 0 ||
      getsockname(*rx, (struct sockaddr *)addr, &len) != 0)
    return -1;
  wd_sock_nonblocking(*rx);
  return 0;
}

SOCKET wd_listen_open(const char *addr, unsigned port, const char *key, const char *what) {
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((u_short)port);
  if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
    wd_log('E', "%s address %s is not an IPv4 address", key, addr);
    return INVALID_SOCKET;
  }
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  BOOL excl = TRUE;
  if (s == INVALID_SOCKET ||
      setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&excl, sizeof excl) != 0 ||
      bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, SOMAXCONN) != 0) {
    int err = WSAGetLastError();
    wd_log('E', "cannot listen%s on %s:%u (error %d)", what, addr, port, err);
    if (s != INVALID_SOCKET)
      closesocket(s);
    return INVALID_SOCKET;
  }
  wd_sock_nonblocking(s);
  return s;
}
