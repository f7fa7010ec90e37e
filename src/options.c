/*
** options.c: (being written) setoption and getoption.
*/
#include "handle.h"
#include "kinds.h"

void ux_open_options (lua_State *L) {
  (void)L;
}
