/*
** batch.c: (being written) sendmany and recvmany.
*/
#include "handle.h"
#include "kinds.h"

void ux_open_batch (lua_State *L) {
  (void)L;
}
