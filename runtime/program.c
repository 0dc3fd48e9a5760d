/* program.c - transaction programs loaded from DLLs.
 *
 * weft_program_load resolves the symbol once, at definition time, and
 * defines an ordinary program with it, so dispatch is the same for built-in
 * and loaded programs. Each successful load keeps one LoadLibrary reference
 * (the system loads a DLL once and shares it); the region releases them
 * when it is destroyed, after its workers have stopped running programs.
 * Ownership: the list of references is under r_defs.df_lock. */
#include <stdlib.h>

#include "runtime/internal.h"

typedef struct weft__dll_ref {
  struct weft__dll_ref *dr_next;
  weft__dll dr_dll;
} weft__dll_ref;

static void dll_keep(weft_region *r, weft__dll_ref *ref) {
  weft__lock_acquire(&r->r_defs.df_lock);
  ref->dr_next = r->r_defs.df_dlls;
  r->r_defs.df_dlls = ref;
  weft__lock_release(&r->r_defs.df_lock);
}

/* Host thread, the region's workers stopped. */
void weft__programs_unload(weft_region *r) {
  while (r->r_defs.df_dlls != NULL) {
    weft__dll_ref *ref = r->r_defs.df_dlls;
    r->r_defs.df_dlls = ref->dr_next;
    weft__dll_close(ref->dr_dll);
    free(ref);
  }
}

/* Whether the DLL was built for an ABI this library runs: its exported
 * weft_abi_version (weft.h emits it in every module that includes it), or
 * 1 when it exports none (built before versions were recorded). 0, or
 * WEFT_EABI (logged) before any of its programs is called. */
static int abi_check(weft_region *r, const char *name, weft__dll dll, const char *path) {
  const unsigned *v = weft__dll_symbol(dll, "weft_abi_version");
  unsigned abi = v != NULL ? *v : 1;
  if (abi >= WEFT_ABI_VERSION_MIN && abi <= WEFT_ABI_VERSION)
    return 0;
  weft__log(r, 'E', "program %s: %s was built for Weft ABI %u; this weft.dll runs ABI %u..%u", name,
            path, abi, WEFT_ABI_VERSION_MIN, WEFT_ABI_VERSION);
  return WEFT_EABI;
}

/* The function `symbol` of the loaded DLL, or WEFT_ENOTFOUND (logged). */
static int resolve(weft_region *r, const char *name, weft__dll dll, const char *path,
                   const char *symbol, weft_program_fn *fn) {
  void *p = weft__dll_symbol(dll, symbol);
  if (p == NULL) {
    weft__log(r, 'E', "program %s: %s exports no %s", name, path, symbol);
    return WEFT_ENOTFOUND;
  }
  *fn = (weft_program_fn)p;
  return 0;
}

int weft_program_load(weft_region *r, const char *name, const char *dll, const char *symbol) {
  weft__dll handle;
  weft_program_fn fn;
  if (r == NULL || name == NULL || dll == NULL || symbol == NULL || *dll == '\0' || *symbol == '\0')
    return WEFT_EINVAL;
  if (weft__name_pack(name) == 0)
    return WEFT_EBADNAME;
  weft__dll_ref *ref = malloc(sizeof *ref);
  if (ref == NULL)
    return WEFT_ENOMEM;
  int rc = weft__dll_open(dll, &handle);
  if (rc != 0) {
    weft__log(r, 'E', "program %s: cannot load %s: %s", name, dll, weft_strerror(rc));
    free(ref);
    return rc;
  }
  if ((rc = abi_check(r, name, handle, dll)) != 0 ||
      (rc = resolve(r, name, handle, dll, symbol, &fn)) != 0 ||
      (rc = weft_program_define(r, name, fn)) != 0) {
    weft__dll_close(handle);
    free(ref);
    return rc;
  }
  ref->dr_dll = handle;
  dll_keep(r, ref);
  return 0;
}
