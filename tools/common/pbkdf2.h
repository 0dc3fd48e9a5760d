/* pbkdf2.h - the cryptography Weft's tools use, all of it from Windows'
 * own bcrypt.dll (Cryptography API: Next Generation): PBKDF2-HMAC-SHA256
 * for password hashes (RFC 8018), plain SHA-256 (old hashes), and the
 * system's random generator (salts).
 *
 * Why bcrypt.dll: it ships with every Windows since Vista, is maintained
 * and FIPS-validated by Microsoft, Wine implements it (on GnuTLS), and it
 * adds no library to build or ship. Wine 8's BCryptDeriveKeyPBKDF2 gives
 * the RFC 7914 test vectors (tests/test_regiondef.c) at about 3 us an
 * iteration, so 600,000 iterations take about 2 s there.
 *
 * Nothing here keeps state: every call opens and closes its own algorithm
 * handle, so any thread may call any function at any time. */
#ifndef WEFT_TOOLS_PBKDF2_H
#define WEFT_TOOLS_PBKDF2_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WDEF_SHA256_SIZE 32 /* digest bytes */

/* PBKDF2 with HMAC-SHA256 (RFC 8018, section 5.2): out_len bytes of key
 * from the password and salt bytes after iterations rounds (1 or more).
 * Returns 0, or WEFT_EINVAL (iterations 0, a NULL buffer) or WEFT_ESYS
 * (bcrypt.dll failed). CPU-bound for as long as the iterations take: call
 * it where blocking is allowed (not on a weft worker nor a network loop). */
int wdef_pbkdf2_sha256(const void *password, size_t password_len, const void *salt, size_t salt_len,
                       unsigned iterations, void *out, size_t out_len);

/* SHA-256 of len bytes at data. Returns 0 or WEFT_ESYS. */
int wdef_sha256(const void *data, size_t len, unsigned char out[WDEF_SHA256_SIZE]);

/* len random bytes from the system's preferred generator. 0 or WEFT_ESYS. */
int wdef_random_bytes(void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TOOLS_PBKDF2_H */
