/* codec.c - byte buffers, CRC-32C and the record format shared by the log
 * and checkpoint files (layout in txn.h and docs/recovery.md). */
#include <stdlib.h>

#include "txn/txn.h"

/* ---- Buffers ---------------------------------------------------------------- */

void weft__buf_put(weft__buf *b, const void *p, size_t n) {
  if (b->oom)
    return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    unsigned char *nb = realloc(b->b, cap);
    if (nb == NULL) {
      b->oom = true;
      return;
    }
    b->b = nb;
    b->cap = cap;
  }
  if (n)
    memcpy(b->b + b->len, p, n);
  b->len += n;
}

void weft__buf_free(weft__buf *b) {
  free(b->b);
  *b = (weft__buf){0};
}

/* ---- CRC-32C (Castagnoli): SSE4.2 when the CPU has it, else a table ------- */

static uint32_t crc_table[256];

static void crc_table_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    crc_table[i] = c;
  }
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t n) {
  while (n--)
    crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                          size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  uint32_t c32 = (uint32_t)c;
  while (n--)
    c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

uint32_t weft__crc32c(uint32_t crc, const void *p, size_t n) {
  static _Atomic int mode; /* 0 unknown, 1 hardware, 2 table */
  int m = atomic_load_explicit(&mode, memory_order_acquire);
  if (m == 0) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
      m = 1;
    else {
      crc_table_init();
      m = 2;
    }
    atomic_store_explicit(&mode, m, memory_order_release);
  }
  crc = ~crc;
  crc = m == 1 ? crc_hw(crc, p, n) : crc_soft(crc, p, n);
  return ~crc;
}

/* ---- Records ------------------------------------------------------------------ */

size_t weft__rec_begin(weft__buf *b, int type, uint64_t uow) {
  unsigned char h[WEFT__RHDR_SIZE] = {0};
  weft__put32(h, WEFT__REC_MAGIC);
  memcpy(h + 8, &uow, 8);
  h[16] = (unsigned char)type;
  size_t off = b->len;
  weft__buf_put(b, h, sizeof h);
  return off;
}

void weft__rec_end(weft__buf *b, size_t off) {
  if (b->oom)
    return;
  unsigned char *h = b->b + off;
  uint32_t len = (uint32_t)(b->len - off - WEFT__RHDR_SIZE);
  weft__put32(h + 4, len);
  uint32_t crc = weft__crc32c(0, h + 4, 16);
  weft__put32(h + 20, weft__crc32c(crc, h + WEFT__RHDR_SIZE, len));
}

int weft__rec_parse(const unsigned char *p, size_t avail, weft__rec *out) {
  if (avail < WEFT__RHDR_SIZE)
    return 0;
  if (weft__get32(p) != WEFT__REC_MAGIC)
    return -1;
  uint32_t len = weft__get32(p + 4);
  if (len > WEFT__REC_MAX)
    return -1;
  if (avail - WEFT__RHDR_SIZE < len)
    return 0;
  uint32_t crc = weft__crc32c(0, p + 4, 16);
  if (weft__crc32c(crc, p + WEFT__RHDR_SIZE, len) != weft__get32(p + 20))
    return -1;
  out->type = p[16];
  out->uow = weft__get64(p + 8);
  out->p = p + WEFT__RHDR_SIZE;
  out->len = len;
  out->size = WEFT__RHDR_SIZE + (size_t)len;
  return 1;
}

void weft__fhdr_make(unsigned char out[WEFT__FHDR_SIZE], const char *magic, uint64_t gen,
                     uint32_t flags) {
  memset(out, 0, WEFT__FHDR_SIZE);
  memcpy(out, magic, 8);
  memcpy(out + 8, &gen, 8);
  weft__put32(out + 16, flags);
  weft__put32(out + 20, weft__crc32c(0, out, 20));
}

int weft__fhdr_check(const unsigned char *p, size_t avail, const char *magic, uint64_t *gen,
                     uint32_t *flags) {
  if (avail < WEFT__FHDR_SIZE || memcmp(p, magic, 8) != 0 ||
      weft__get32(p + 20) != weft__crc32c(0, p, 20))
    return -1;
  *gen = weft__get64(p + 8);
  *flags = weft__get32(p + 16);
  return 0;
}

void weft__name_field(unsigned char *out, size_t width, const char *name) {
  memset(out, 0, width);
  size_t n = strlen(name);
  memcpy(out, name, n < width ? n : width);
}
