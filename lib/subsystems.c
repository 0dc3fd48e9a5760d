/* subsystems.c - what weft.dll is made of: the library's subsystems, in
 * the order they take their place in every region's lifecycle table
 * (runtime/subsys.h says what a subsystem is, runtime/region.c where these
 * go among the runtime's own rows). A new subsystem (3270 terminals,
 * database resource managers, the HTTP front door) adds its descriptor
 * here; runtime/ never names one. */
#include "runtime/subsys.h"
#include "bms/bms.h"
#include "db/db.h"
#include "txn/txn.h"
#include "web/web.h"

const weft__subsys *const weft__library_subsys[] = {
    &weft__web_gate_subsys,  /* HTTP: a gone client's task is backed out */
    &weft__txn_subsys,       /* units of work, recoverable resources, the log */
    &weft__web_reply_subsys, /* HTTP: the response, once the UOW is settled */
    &weft__db_subsys,        /* ODBC data sources as resource managers (after txn/) */
    &weft__bms_subsys,       /* screen maps for 3270 terminals */
    NULL,
};
