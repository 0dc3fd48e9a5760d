/* subsystems.c - what weft.dll is made of: the library's subsystems, in
 * the order they take their place in every region's lifecycle table
 * (runtime/subsys.h says what a subsystem is, runtime/region.c where these
 * go among the runtime's own rows). A new subsystem (3270 terminals,
 * database resource managers, the HTTP front door) adds its descriptor
 * here; runtime/ never names one. */
#include "runtime/subsys.h"
#include "db/db.h"
#include "txn/txn.h"

const weft__subsys *const weft__library_subsys[] = {
    &weft__txn_subsys, /* units of work, recoverable resources, the log */
    &weft__db_subsys,  /* ODBC data sources as resource managers (after txn/) */
    NULL,
};
