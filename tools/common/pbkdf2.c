/* pbkdf2.c - PBKDF2-HMAC-SHA256, SHA-256 and random bytes through
 * bcrypt.dll. See pbkdf2.h. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <bcrypt.h>
#include <limits.h>

#include "pbkdf2.h"
#include "weft.h"

#define NT_OK(st) ((NTSTATUS)(st) >= 0)

int wdef_pbkdf2_sha256(const void *password, size_t password_len, const void *salt, size_t salt_len,
                       unsigned iterations, void *out, size_t out_len) {
  if (iterations == 0 || out == NULL || (password == NULL && password_len > 0) ||
      (salt == NULL && salt_len > 0) || password_len > ULONG_MAX || salt_len > ULONG_MAX ||
      out_len > ULONG_MAX)
    return WEFT_EINVAL;
  BCRYPT_ALG_HANDLE alg;
  if (!NT_OK(BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL,
                                         BCRYPT_ALG_HANDLE_HMAC_FLAG)))
    return WEFT_ESYS;
  /* bcrypt takes non-const buffers but only reads the password and salt. */
  NTSTATUS st = BCryptDeriveKeyPBKDF2(alg, (PUCHAR)password, (ULONG)password_len, (PUCHAR)salt,
                                      (ULONG)salt_len, iterations, out, (ULONG)out_len, 0);
  BCryptCloseAlgorithmProvider(alg, 0);
  return NT_OK(st) ? 0 : WEFT_ESYS;
}

int wdef_sha256(const void *data, size_t len, unsigned char out[WDEF_SHA256_SIZE]) {
  if (len > ULONG_MAX || (data == NULL && len > 0))
    return WEFT_EINVAL;
  BCRYPT_ALG_HANDLE alg;
  BCRYPT_HASH_HANDLE h = NULL;
  if (!NT_OK(BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL, 0)))
    return WEFT_ESYS;
  NTSTATUS st = BCryptCreateHash(alg, &h, NULL, 0, NULL, 0, 0);
  if (NT_OK(st))
    st = BCryptHashData(h, (PUCHAR)data, (ULONG)len, 0);
  if (NT_OK(st))
    st = BCryptFinishHash(h, out, WDEF_SHA256_SIZE, 0);
  if (h != NULL)
    BCryptDestroyHash(h);
  BCryptCloseAlgorithmProvider(alg, 0);
  return NT_OK(st) ? 0 : WEFT_ESYS;
}

int wdef_random_bytes(void *buf, size_t len) {
  if (len > ULONG_MAX || buf == NULL)
    return WEFT_EINVAL;
  NTSTATUS st = BCryptGenRandom(NULL, buf, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  return NT_OK(st) ? 0 : WEFT_ESYS;
}
