/* badabi.c - a program DLL that records an ABI version this weft.dll does
 * not run (BAD_ABI: a newer one, or 0); weft_program_load must refuse it
 * before calling it (test_program). */
#define WEFT_NO_ABI_MARK /* its own weft_abi_version below */
#include <weft.h>        /* today's (include/), not the ABI 1 copy next to this file */

__declspec(dllexport) const unsigned weft_abi_version = BAD_ABI;

/* Never called: abends the task if it were. */
WEFT_PROGRAM void bad_prog(weft_task *t) {
  weft_abend(t, "UBAD");
}
