/* abi.h - structs across ABI versions: the caller's struct of the size its
 * header had, read into or written from the library's full-size one. See
 * docs/api.md, "ABI stability". */
#ifndef WEFT_RUNTIME_ABI_H
#define WEFT_RUNTIME_ABI_H

#include <stddef.h>

#include "include/weft.h"

/* The size of weft_start_opts in ABI 1 (it had no flags). Every other
 * struct has kept ABI 1's size so far. */
#define WEFT__START_OPTS_V1 offsetof(weft_start_opts, flags)

/* The caller's input struct `in` of `size` bytes, as a full-size copy in
 * buf (`full` bytes, zero past `size`: the defaults of fields its ABI did
 * not have). Returns NULL with *rc 0 when in is NULL; NULL with *rc
 * WEFT_EABI when size is below v1 (the first published size) or above
 * full. Any thread. */
const void *weft__abi_in(void *buf, size_t full, const void *in, size_t size, size_t v1, int *rc);

/* Whether an output struct of `size` bytes (the caller's room) is one this
 * library can fill: 0, or WEFT_EABI below v1 or above full. Any thread. */
int weft__abi_out_check(size_t size, size_t full, size_t v1);

/* Start a task with options already in ABI 2's form (opts may be NULL). */
int weft__start(weft_region *r, const char *tranid, const void *data, size_t len,
                const weft_start_opts *opts, uint64_t *task_no);

/* Create a region from a configuration of ABI `abi` (1: zero means what
 * ABI 1 said, for example fiber_cache 0 is no pooling). Host thread. */
int weft__region_create(const weft_region_config *cfg, int abi, weft_region **out);

/* An ABI 1 function whose old name is now a type name (weft_region_stats):
 * defined as weft__abi1_NAME and exported under NAME. */
#define WEFT__ABI1(name) __asm__(#name)

#endif /* WEFT_RUNTIME_ABI_H */
