/* file_win.c - the Win32 side of runtime/prim.h's files and directories:
 * what the log, checkpoints and restart recovery need (txn/). Handles are
 * synchronous; writes and reads take explicit offsets. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>

#include "include/weft.h"
#include "runtime/prim.h"

int weft__file_open(const char *path, int mode, weft__file *out) {
  DWORD access = GENERIC_READ | ((mode & WEFT__F_WRITE) ? GENERIC_WRITE : 0);
  DWORD disp = (mode & WEFT__F_CREATE) ? ((mode & WEFT__F_TRUNC) ? CREATE_ALWAYS : OPEN_ALWAYS)
                                       : OPEN_EXISTING;
  HANDLE h = CreateFileA(path, access, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, disp,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return weft__err_from_sys();
  *out = h;
  return 0;
}

void weft__file_close(weft__file f) {
  if (f != NULL)
    CloseHandle(f);
}

/* OVERLAPPED carries the offset; the handle is synchronous. */
static OVERLAPPED at(uint64_t off) {
  OVERLAPPED ov = {0};
  ov.Offset = (DWORD)off;
  ov.OffsetHigh = (DWORD)(off >> 32);
  return ov;
}

int weft__file_write_at(weft__file f, uint64_t off, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    DWORD chunk = len > (1u << 30) ? (1u << 30) : (DWORD)len, n = 0;
    OVERLAPPED ov = at(off);
    if (!WriteFile(f, p, chunk, &n, &ov))
      return weft__err_from_sys();
    if (n == 0)
      return WEFT_ESYS;
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

int weft__file_read_at(weft__file f, uint64_t off, void *buf, size_t len, size_t *got) {
  char *p = buf;
  size_t total = 0;
  while (total < len) {
    DWORD chunk = len - total > (1u << 30) ? (1u << 30) : (DWORD)(len - total), n = 0;
    OVERLAPPED ov = at(off + total);
    if (!ReadFile(f, p + total, chunk, &n, &ov)) {
      if (GetLastError() == ERROR_HANDLE_EOF)
        break;
      return weft__err_from_sys();
    }
    if (n == 0)
      break;
    total += n;
  }
  *got = total;
  return 0;
}

int weft__file_flush(weft__file f) {
  return FlushFileBuffers(f) ? 0 : weft__err_from_sys();
}

int weft__file_size(weft__file f, uint64_t *size) {
  LARGE_INTEGER li;
  if (!GetFileSizeEx(f, &li))
    return weft__err_from_sys();
  *size = (uint64_t)li.QuadPart;
  return 0;
}

int weft__file_truncate(weft__file f, uint64_t size) {
  FILE_END_OF_FILE_INFO info;
  info.EndOfFile.QuadPart = (LONGLONG)size;
  if (!SetFileInformationByHandle(f, FileEndOfFileInfo, &info, sizeof info))
    return weft__err_from_sys();
  return weft__file_flush(f);
}

int weft__file_rename(const char *from, const char *to) {
  return MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)
             ? 0
             : weft__err_from_sys();
}

int weft__file_remove(const char *path) {
  return DeleteFileA(path) ? 0 : weft__err_from_sys();
}

int weft__dir_create(const char *path) {
  if (CreateDirectoryA(path, NULL) || GetLastError() == ERROR_ALREADY_EXISTS) {
    DWORD a = GetFileAttributesA(path);
    return (a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY)) ? 0 : WEFT_ESYS;
  }
  return weft__err_from_sys();
}

int weft__dir_list(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx) {
  char pattern[MAX_PATH + 4];
  if (snprintf(pattern, sizeof pattern, "%s\\*", dir) >= (int)sizeof pattern)
    return WEFT_ERANGE;
  WIN32_FIND_DATAA fd;
  HANDLE h = FindFirstFileA(pattern, &fd);
  if (h == INVALID_HANDLE_VALUE)
    return GetLastError() == ERROR_FILE_NOT_FOUND ? 0 : weft__err_from_sys();
  int rc = 0;
  do {
    if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
      rc = fn(ctx, fd.cFileName);
  } while (rc == 0 && FindNextFileA(h, &fd));
  if (rc == 0 && GetLastError() != ERROR_NO_MORE_FILES)
    rc = weft__err_from_sys(); /* the listing stopped before its end */
  FindClose(h);
  return rc;
}

void weft__process_kill(unsigned code) {
  TerminateProcess(GetCurrentProcess(), code);
  ExitProcess(code); /* not reached */
}

int weft__path_join(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s\\%s", dir, name);
  return n >= 0 && (size_t)n < cap ? 0 : WEFT_ERANGE;
}
