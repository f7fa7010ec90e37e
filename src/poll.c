/*
** poll.c: (being written) uxsock.poll and uxsock.poller.
*/
#include "handle.h"
#include "kinds.h"

const luaL_Reg ux_poll_functions[] = {
  {NULL, NULL}
};

void ux_open_poll (lua_State *L) {
  (void)L;
}
