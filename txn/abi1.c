/* abi1.c - the txn layer's ABI 1 entry points: the names and struct
 * layouts of the first published weft.h, which program DLLs and hosts
 * built against it still call (docs/api.md, "ABI stability"). */
#include "runtime/abi.h"
#include "txn/txn.h"

#undef weft_file_define
#undef weft_tsq_define
#undef weft_tdq_define
#undef weft_rm_register

WEFT_API int weft__abi1_weft_log_stats(weft_region *r, weft_log_stats *out)
    WEFT__ABI1(weft_log_stats);
int weft__abi1_weft_log_stats(weft_region *r, weft_log_stats *out) {
  return weft_log_stats_get_(r, out, sizeof *out);
}

WEFT_API int weft_region_recovery(weft_region *r, weft_recovery_info *out) {
  return weft_region_recovery_get_(r, out, sizeof *out);
}

WEFT_API int weft_file_define(weft_region *r, const weft_file_def *def) {
  return weft_file_define_(r, def, sizeof *def);
}

WEFT_API int weft_tsq_define(weft_region *r, const char *name, int recoverable) {
  return weft_ts_define(r, name, recoverable);
}

WEFT_API int weft_tdq_define(weft_region *r, const weft_td_def *def) {
  return weft_td_define_(r, def, sizeof *def);
}

WEFT_API int weft_rm_register(weft_region *r, const char *name, const weft_rm_ops *ops, void *ctx,
                              weft_rm **out) {
  /* ABI 1's weft_rm_ops ended with recover. */
  return weft_rm_register_(r, name, ops, offsetof(weft_rm_ops, commit_checked), ctx, out);
}
