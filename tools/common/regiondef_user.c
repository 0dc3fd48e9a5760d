/* regiondef_user.c - lookups in a parsed file, groups, and password hashes.
 *
 * Everything here only reads the wdef_file, so any thread may call it at
 * any time while the file lives. The cryptography is bcrypt.dll's
 * (pbkdf2.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbkdf2.h"
#include "regiondef_int.h"

/* ---- Lookups ------------------------------------------------------------- */

#define FIND(arr, n, field, key)                       \
  do {                                                 \
    for (size_t i_ = 0; key != NULL && i_ < (n); i_++) \
      if (strcmp((arr)[i_].field, key) == 0)           \
        return &(arr)[i_];                             \
    return NULL;                                       \
  } while (0)

const wdef_enclave *wdef_find_enclave(const wdef_file *f, const char *name) {
  FIND(f->enclaves, f->n_enclaves, name, name);
}

const wdef_class *wdef_find_class(const wdef_file *f, const char *name) {
  FIND(f->classes, f->n_classes, name, name);
}

const wdef_program *wdef_find_program(const wdef_file *f, const char *name) {
  FIND(f->programs, f->n_programs, name, name);
}

const wdef_transaction *wdef_find_transaction(const wdef_file *f, const char *tranid) {
  FIND(f->transactions, f->n_transactions, tranid, tranid);
}

const wdef_user *wdef_find_user(const wdef_file *f, const char *name) {
  FIND(f->users, f->n_users, name, name);
}

const char *wdef_transaction_enclave(const wdef_file *f, const char *tranid) {
  const wdef_transaction *t = wdef_find_transaction(f, tranid);
  return t != NULL ? t->enclave : NULL;
}

/* ---- Groups ------------------------------------------------------------- */

int wdef_user_in_group(const wdef_user *u, const char *group) {
  for (unsigned i = 0; u != NULL && group != NULL && i < u->groups.n; i++)
    if (strcmp(u->groups.name[i], group) == 0)
      return 1;
  return 0;
}

int wdef_may_run(const wdef_user *u, const wdef_transaction *t) {
  if (t == NULL)
    return 0;
  if (t->groups.n == 0)
    return 1;
  for (unsigned i = 0; i < t->groups.n; i++)
    if (wdef_user_in_group(u, t->groups.name[i]))
      return 1;
  return 0;
}

/* ---- Passwords ---------------------------------------------------------- */

void wdef__hex(const unsigned char *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

/* u's key (or old digest) for password into out; 0 or a WEFT_E* code. */
static int derive(const wdef_user *u, const char *password, unsigned char out[WDEF_HASH_SIZE]) {
  size_t len = strlen(password);
  if (u->scheme == WDEF_SCHEME_PBKDF2)
    return wdef_pbkdf2_sha256(password, len, u->salt, u->salt_len, u->iterations, out,
                              WDEF_HASH_SIZE);
  /* The old scheme: SHA-256(salt || password), kept so that old files go on
   * working until their hashes are made again (docs/region-config.md). */
  unsigned char *buf = malloc(u->salt_len + len + 1);
  if (buf == NULL)
    return WEFT_ENOMEM;
  memcpy(buf, u->salt, u->salt_len);
  memcpy(buf + u->salt_len, password, len);
  int rc = wdef_sha256(buf, u->salt_len + len, out);
  for (volatile unsigned char *v = buf; v < buf + u->salt_len + len; v++)
    *v = 0; /* no copy of the password left in the heap */
  free(buf);
  return rc;
}

int wdef_password_ok(const wdef_user *u, const char *password) {
  unsigned char h[WDEF_HASH_SIZE];
  if (u == NULL || password == NULL || derive(u, password, h) != 0)
    return 0;
  unsigned diff = 0; /* every byte compared: no early exit */
  for (size_t i = 0; i < sizeof h; i++)
    diff |= (unsigned)(h[i] ^ u->hash[i]);
  return diff == 0;
}

int wdef_random_os(void *ctx, void *buf, size_t len) {
  return wdef_random_bytes(buf, len) == 0 ? 0 : -1;
}

int wdef_hash_text(const unsigned char *salt, size_t salt_len, unsigned iterations,
                   const char *password, char out[WDEF_HASH_TEXT_SIZE]) {
  if (salt == NULL || password == NULL || out == NULL || salt_len < WDEF_SALT_MIN ||
      salt_len > WDEF_SALT_MAX || iterations == 0 || iterations > WDEF_ITERATIONS_MAX)
    return WEFT_EINVAL;
  unsigned char key[WDEF_HASH_SIZE];
  int rc =
      wdef_pbkdf2_sha256(password, strlen(password), salt, salt_len, iterations, key, sizeof key);
  if (rc != 0)
    return rc;
  char salt_hex[2 * WDEF_SALT_MAX + 1], key_hex[2 * WDEF_HASH_SIZE + 1];
  wdef__hex(salt, salt_len, salt_hex);
  wdef__hex(key, sizeof key, key_hex);
  snprintf(out, WDEF_HASH_TEXT_SIZE, "pbkdf2-sha256$%u$%s$%s", iterations, salt_hex, key_hex);
  return 0;
}

int wdef_make_hash(const char *password, unsigned iterations, wdef_random_fn rnd, void *ctx,
                   char out[WDEF_HASH_TEXT_SIZE]) {
  unsigned char salt[WDEF_SALT_NEW];
  if (password == NULL || out == NULL || iterations > WDEF_ITERATIONS_MAX)
    return WEFT_EINVAL;
  if ((rnd != NULL ? rnd : wdef_random_os)(ctx, salt, sizeof salt) != 0)
    return WEFT_ESYS;
  return wdef_hash_text(salt, sizeof salt, iterations ? iterations : WDEF_ITERATIONS_RECOMMENDED,
                        password, out);
}
