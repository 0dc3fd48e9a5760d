/* regiondef_user.c - lookups in a parsed file, groups, and password hashes.
 *
 * Everything here only reads the wdef_file, so any thread may call it at
 * any time while the file lives. The one Win32 dependency is rand_s (the
 * CRT's wrapper of RtlGenRandom) in wdef_random_os. */
#define _CRT_RAND_S /* before any CRT header: declares rand_s */
#include <stdlib.h>
#include <string.h>

#include "regiondef_int.h"
#include "sha256.h"

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

static void digest(const unsigned char *salt, size_t salt_len, const char *password,
                   unsigned char out[WDEF_HASH_SIZE]) {
  wdef_sha256_ctx c;
  wdef_sha256_init(&c);
  wdef_sha256_update(&c, salt, salt_len);
  wdef_sha256_update(&c, password, strlen(password));
  wdef_sha256_final(&c, out);
}

void wdef_hash_hex(const unsigned char *salt, size_t salt_len, const char *password,
                   char hash_hex[2 * WDEF_HASH_SIZE + 1]) {
  unsigned char h[WDEF_HASH_SIZE];
  digest(salt, salt_len, password, h);
  wdef__hex(h, sizeof h, hash_hex);
}

int wdef_password_ok(const wdef_user *u, const char *password) {
  if (u == NULL || password == NULL)
    return 0;
  unsigned char h[WDEF_HASH_SIZE];
  digest(u->salt, u->salt_len, password, h);
  unsigned diff = 0; /* every byte compared: no early exit */
  for (size_t i = 0; i < sizeof h; i++)
    diff |= (unsigned)(h[i] ^ u->hash[i]);
  return diff == 0;
}

int wdef_random_os(void *ctx, void *buf, size_t len) {
  unsigned char *p = buf;
  while (len > 0) {
    unsigned int v;
    if (rand_s(&v) != 0)
      return -1;
    size_t take = len < sizeof v ? len : sizeof v;
    memcpy(p, &v, take);
    p += take;
    len -= take;
  }
  return 0;
}

int wdef_make_hash(const char *password, wdef_random_fn rnd, void *ctx,
                   char salt_hex[2 * WDEF_SALT_NEW + 1], char hash_hex[2 * WDEF_HASH_SIZE + 1]) {
  unsigned char salt[WDEF_SALT_NEW];
  if (password == NULL || salt_hex == NULL || hash_hex == NULL)
    return WEFT_EINVAL;
  if ((rnd != NULL ? rnd : wdef_random_os)(ctx, salt, sizeof salt) != 0)
    return WEFT_ESYS;
  wdef__hex(salt, sizeof salt, salt_hex);
  wdef_hash_hex(salt, sizeof salt, password, hash_hex);
  return 0;
}
