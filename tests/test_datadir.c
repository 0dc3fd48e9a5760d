/* test_datadir.c - restart reads the whole data directory: a directory
 * with many generations (more than 256 files) is read whole, and what
 * restart replaces is removed, however many files that is. */
#include "helpers.h"

TestSuite(datadir, .timeout = TH_TEST_TIMEOUT);

/* ---- The region log ------------------------------------------------------- */

static char g_log[8192];
static size_t g_log_len;

/* Regions here are created and ended by the test thread alone. */
static void capture_log(void *ctx, char level, const char *msg) {
  (void)ctx;
  if (g_log_len + strlen(msg) + 8 < sizeof g_log)
    g_log_len += (size_t)snprintf(g_log + g_log_len, sizeof g_log - g_log_len, "[%c] %s\n", level,
                                  msg);
}

static int open_dir(const char *dir, weft_region **out) {
  g_log_len = 0;
  g_log[0] = 0;
  weft_region_config cfg = th_config(1, 16);
  cfg.data_dir = dir;
  cfg.log_fn = capture_log;
  *out = NULL;
  return weft_region_create(&cfg, out);
}

/* ---- Files ---------------------------------------------------------------- */

static void scratch(char *out, size_t cap, const char *name) {
  char exe[MAX_PATH];
  th_exe_dir(exe);
  snprintf(out, cap, "%s\\datadir-%s", exe, name);
  th_rm_tree(out);
  cr_assert(CreateDirectoryA(out, NULL), "CreateDirectory %s: %lu", out, GetLastError());
}

/* CRC-32C, as the file headers carry it. */
static uint32_t crc32c(const unsigned char *p, size_t n) {
  uint32_t crc = ~0u;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

/* An empty log of generation gen: just its 32-byte header. */
static void write_empty_log(const char *dir, uint64_t gen) {
  unsigned char h[32] = "WEFTLOG1";
  for (int i = 0; i < 8; i++)
    h[8 + i] = (unsigned char)(gen >> (8 * i));
  uint32_t crc = crc32c(h, 20);
  for (int i = 0; i < 4; i++)
    h[20 + i] = (unsigned char)(crc >> (8 * i));
  char path[MAX_PATH];
  snprintf(path, sizeof path, "%s\\weft.log.%016llx", dir, (unsigned long long)gen);
  HANDLE f = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL);
  cr_assert_neq(f, INVALID_HANDLE_VALUE, "create %s: %lu", path, GetLastError());
  DWORD n = 0;
  cr_assert(WriteFile(f, h, sizeof h, &n, NULL) && n == sizeof h);
  CloseHandle(f);
}

/* The Weft files in dir: how many of each kind, and the lowest and
 * highest generation of each. */
typedef struct dir_facts {
  int nlog, nckpt;
  uint64_t log_lo, log_hi, ckpt_lo, ckpt_hi;
} dir_facts;

static void note(int *n, uint64_t *lo, uint64_t *hi, uint64_t g) {
  *lo = (*n == 0 || g < *lo) ? g : *lo;
  *hi = (*n == 0 || g > *hi) ? g : *hi;
  (*n)++;
}

static dir_facts facts(const char *dir) {
  dir_facts f = {0};
  char pat[MAX_PATH];
  snprintf(pat, sizeof pat, "%s\\weft.*", dir);
  WIN32_FIND_DATAA fd;
  HANDLE h = FindFirstFileA(pat, &fd);
  cr_assert_neq(h, INVALID_HANDLE_VALUE, "no Weft files in %s", dir);
  do {
    unsigned long long g;
    char tail;
    if (sscanf(fd.cFileName, "weft.log.%16llx%c", &g, &tail) == 1)
      note(&f.nlog, &f.log_lo, &f.log_hi, g);
    else if (sscanf(fd.cFileName, "weft.ckpt.%16llx%c", &g, &tail) == 1)
      note(&f.nckpt, &f.ckpt_lo, &f.ckpt_hi, g);
  } while (FindNextFileA(h, &fd));
  FindClose(h);
  return f;
}

static void close_region(weft_region *r) {
  cr_assert_eq(weft_region_shutdown(r, WEFT_SHUTDOWN_NORMAL, TH_SHUTDOWN_MS), 0);
  weft_region_destroy(r);
}

/* ---- Tests ---------------------------------------------------------------- */

/* 300 generations after the checkpoint (checkpoints that failed leave
 * logs behind): restart reads all of them, starts the generation after the
 * last, and drops every older file. Before, the listing kept 256 of each
 * kind: restart refused a "missing" generation or started over one that
 * exists. */
Test(datadir, more_than_256_generations) {
  char dir[MAX_PATH];
  scratch(dir, sizeof dir, "many");
  weft_region *r = NULL;
  int rc = open_dir(dir, &r);
  cr_assert_eq(rc, 0, "first open: %s; log:\n%s", weft_err_name(rc), g_log);
  close_region(r);
  dir_facts f = facts(dir);
  cr_assert_eq(f.nckpt, 1);
  cr_assert_eq(f.nlog, 1);
  uint64_t base = f.ckpt_hi;
  cr_assert_eq(f.log_hi, base);
  for (uint64_t g = base + 1; g <= base + 300; g++)
    write_empty_log(dir, g);
  rc = open_dir(dir, &r);
  cr_assert_eq(rc, 0, "open with 301 logs: %s; log:\n%s", weft_err_name(rc), g_log);
  weft_recovery_info info;
  cr_assert_eq(weft_region_recovery_get(r, &info), 0);
  cr_assert_eq(info.checkpoint_gen, base, "%s", info.message);
  cr_assert_eq(info.fresh, 0, "%s", info.message);
  f = facts(dir);
  cr_assert_eq(f.nckpt, 1, "checkpoints %llu..%llu", (unsigned long long)f.ckpt_lo,
               (unsigned long long)f.ckpt_hi);
  cr_assert_eq(f.ckpt_hi, base + 301);
  cr_assert_eq(f.nlog, 1, "logs %llu..%llu", (unsigned long long)f.log_lo,
               (unsigned long long)f.log_hi);
  cr_assert_eq(f.log_hi, base + 301);
  close_region(r);
  th_rm_tree(dir);
}

