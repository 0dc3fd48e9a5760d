/* v1shared.h - what test_abi's host and its ABI 1 program DLL share: the
 * start data of V1MAIN and V1CHILD points to one of these. */
#ifndef V1SHARED_H
#define V1SHARED_H

#include <stdint.h>

typedef struct v1_shared {
  weft_event *gate; /* V1CHILD waits for it */
  unsigned workers; /* weft_region_stats().workers, seen by V1MAIN */
  int ts_ok;        /* V1MAIN read back what it wrote to TS queue V1Q */
  int child_rc;     /* V1MAIN's weft_start of V1CHILD */
  volatile int main_ran, child_ran;
} v1_shared;

#endif
