/*
** fdpass.c: (being written) descriptors and credentials in messages.
*/
#include "handle.h"
#include "kinds.h"

static const luaL_Reg fdpass_methods[] = {
  {NULL, NULL}
};

const luaL_Reg ux_fdpass_functions[] = {
  {NULL, NULL}
};

void ux_open_fdpass (lua_State *L) {
  ux_addmethods(L, UX_CONNECTED | UX_K(UX_DATAGRAM), fdpass_methods);
}
