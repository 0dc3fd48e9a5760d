/* bms.h - screen maps (weft_bms.h's calls): the subsystem's place in the
 * region's lifecycle (lib/subsystems.c). Its only per-task state is the
 * AID and cursor of the last input weft_receive_map took (weft_last_aid),
 * kept in the task's subsystem slot and freed at the task's end. */
#ifndef WEFT_BMS_INT_H
#define WEFT_BMS_INT_H

#include "runtime/taskapi.h"

extern const weft__subsys weft__bms_subsys;

#endif /* WEFT_BMS_INT_H */
