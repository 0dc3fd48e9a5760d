/* sha256.h - SHA-256 (FIPS 180-4), small and self-contained.
 *
 * Written for Weft's password hashes; public domain in spirit: use it as you
 * like. Not constant-time with respect to the data length, which is fine for
 * hashing a salt and a password. A context belongs to one caller at a
 * time; nothing is global. */
#ifndef WEFT_TOOLS_SHA256_H
#define WEFT_TOOLS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WDEF_SHA256_SIZE 32 /* digest bytes */

typedef struct wdef_sha256_ctx {
  uint32_t h[8];         /* chaining state */
  uint64_t bytes;        /* message bytes so far */
  unsigned char buf[64]; /* a partial block */
  size_t used;           /* bytes in buf */
} wdef_sha256_ctx;

void wdef_sha256_init(wdef_sha256_ctx *c);
void wdef_sha256_update(wdef_sha256_ctx *c, const void *data, size_t len);
/* Write the digest to out; c must be initialised again before reuse. */
void wdef_sha256_final(wdef_sha256_ctx *c, unsigned char out[WDEF_SHA256_SIZE]);
/* The digest of len bytes at data in one call. */
void wdef_sha256(const void *data, size_t len, unsigned char out[WDEF_SHA256_SIZE]);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TOOLS_SHA256_H */
