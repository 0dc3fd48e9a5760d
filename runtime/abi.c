/* abi.c - structs across ABI versions, and the runtime's ABI 1 entry points:
 * the names and struct layouts of the first published weft.h, which
 * program DLLs and hosts built against it still call (docs/api.md, "ABI
 * stability"). Each converts and calls its ABI 2 counterpart. */
#include <stddef.h>
#include <string.h>

#include "runtime/abi.h"
#include "runtime/internal.h"

const void *weft__abi_in(void *buf, size_t full, const void *in, size_t size, size_t v1, int *rc) {
  *rc = 0;
  if (in == NULL)
    return NULL;
  if ((*rc = weft__abi_out_check(size, full, v1)) != 0)
    return NULL;
  memset(buf, 0, full);
  memcpy(buf, in, size);
  return buf;
}

int weft__abi_out_check(size_t size, size_t full, size_t v1) {
  return size < v1 || size > full ? WEFT_EABI : 0;
}

/* ---- ABI 1 ------------------------------------------------------------------ */

/* The macros of weft.h name the ABI 2 calls; these are the old symbols. */
#undef weft_region_config_init
#undef weft_region_create
#undef weft_transaction_define
#undef weft_class_define
#undef weft_start_opts_init
#undef weft_start
#undef weft_terminal_create
#undef weft_task_list
#undef weft_enclave_define
#undef weft_runtime_counters_get

WEFT_API void weft_region_config_init(weft_region_config *cfg) {
  weft_region_config_init_(cfg, sizeof *cfg);
}

/* ABI 1's zeros: fiber_cache, runaway_ms, aging_ms, accounting,
 * checkpoint_bytes, lock_timeout_ms and max_queued 0 turn things off. */
WEFT_API int weft_region_create(const weft_region_config *cfg, weft_region **out) {
  return weft__region_create(cfg, 1, out);
}

WEFT_API int weft_transaction_define(weft_region *r, const weft_transaction_def *def) {
  return weft_transaction_define_(r, def, sizeof *def);
}

WEFT_API int weft_class_define(weft_region *r, const weft_class_def *def) {
  return weft_class_define_(r, def, sizeof *def);
}

WEFT_API int weft__abi1_weft_class_stats(weft_region *r, const char *name, weft_class_stats *out)
    WEFT__ABI1(weft_class_stats);
int weft__abi1_weft_class_stats(weft_region *r, const char *name, weft_class_stats *out) {
  return weft_class_stats_get_(r, name, out, sizeof *out);
}

/* ABI 1's weft_start_opts had no flags: priority -1 was the default. */
WEFT_API void weft_start_opts_init(weft_start_opts *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, WEFT__START_OPTS_V1);
  opts->priority = WEFT_PRIORITY_DEFAULT;
}

WEFT_API int weft_start(weft_region *r, const char *tranid, const void *data, size_t len,
                        const weft_start_opts *opts, uint64_t *task_no) {
  weft_start_opts o;
  if (opts != NULL) {
    memset(&o, 0, sizeof o);
    memcpy(&o, opts, WEFT__START_OPTS_V1);
    if (o.priority != WEFT_PRIORITY_DEFAULT)
      o.flags = WEFT_START_PRIORITY;
  }
  return weft__start(r, tranid, data, len, opts != NULL ? &o : NULL, task_no);
}

WEFT_API int weft_terminal_create(weft_region *r, const char *termid, const weft_terminal_ops *ops,
                                  void *ctx, weft_terminal **out) {
  return weft_terminal_create_(r, termid, ops, offsetof(weft_terminal_ops, send_record), ctx, out);
}

WEFT_API int weft_task_list(weft_region *r, weft_task_info *out, size_t cap, size_t *count) {
  return weft_task_list_(r, out, sizeof *out, cap, count);
}

WEFT_API int weft_enclave_define(weft_region *r, const weft_enclave_def *def) {
  return weft_enclave_define_(r, def, sizeof *def);
}

WEFT_API int weft__abi1_weft_enclave_stats(weft_region *r, const char *enclave,
                                           weft_enclave_stats *out) WEFT__ABI1(weft_enclave_stats);
int weft__abi1_weft_enclave_stats(weft_region *r, const char *enclave, weft_enclave_stats *out) {
  return weft_enclave_stats_get_(r, enclave, out, sizeof *out);
}

WEFT_API int weft_enclave_stats_of(weft_enclave *e, weft_enclave_stats *out) {
  return weft_transient_stats_get_(e, out, sizeof *out);
}

WEFT_API int weft_transaction_stats(weft_region *r, const char *tranid, weft_enclave_stats *out) {
  return weft_transaction_stats_get_(r, tranid, out, sizeof *out);
}

WEFT_API int weft__abi1_weft_region_stats(weft_region *r, weft_region_stats *out)
    WEFT__ABI1(weft_region_stats);
int weft__abi1_weft_region_stats(weft_region *r, weft_region_stats *out) {
  return weft_region_stats_get_(r, out, sizeof *out);
}

WEFT_API void weft_runtime_counters_get(weft_runtime_counters *out) {
  weft_runtime_counters_get_(out, sizeof *out);
}
